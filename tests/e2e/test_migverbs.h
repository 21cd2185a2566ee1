/*
 * test_migverbs.h: what test_migverbs.c (the cases, main) and its other
 * files share: migverbs_sides.c (the two sides, A and B: their network
 * namespaces, lightvmd, and what the CLI and sysfs show of each),
 * migverbs_loop.c (the client loop: a thread asking c0 during a
 * migration) and migverbs_proxy.c (a proxy between the two lightvmd that
 * cuts or flips the stream). The scene is tests/migscene.c's.
 */
#ifndef TEST_MIGVERBS_H
#define TEST_MIGVERBS_H

#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>

#include "lvtest.h"
#include "migscene.h"

#define BR MIGSCENE_BR
#define HOST_IP MIGSCENE_HOST_IP
#define C0_IP MIGSCENE_NET "2"
#define CTL_A MIGSCENE_CTL_A
#define CTL_B MIGSCENE_CTL_B
#define MIG_PORT "7070"
#define POOL 2
#define POOL_ARG "16,1,2"

/* The client loop (case 2, 3). */
#define LOOP_WARMUP 20        /* requests answered before the migration starts */
#define LOOP_AFTER 50         /* requests once the source's VM process is gone */
#define LOOP_FIRST_MS 1000    /* a request unanswered this long is asked again ... */
#define LOOP_HOLD_MS 150000   /* ... once the migration is over, or after this */
#define LOOP_RETRY_MS 10000   /* the retry's answer, at most */
#define LOOP_MAX_MS 400000    /* the whole loop, at most */
#define LOOP_MAX_REQ 200000

/* test_migverbs.c's, set once in main */
extern const char *lightvm, *lightvmd, *ip_bin; /* argv[1], argv[2]; ip */
extern char cfgdir[PATH_MAX];                   /* configs and token files */
extern char tok_bad[PATH_MAX], tok_wrong[PATH_MAX]; /* tokens of mode 0640, of nobody */
extern struct lvt_bg tool;                      /* the last ip call's output */
extern struct lvt_proc cli;                     /* the last CLI call's output */

/* ---- the two sides (migverbs_sides.c) ---- */

/* One host: a network namespace with its lightvmd. */
struct side {
    const char *tag;     /* "A", "B" */
    int ix;              /* its namespace in (scene): 0 (A, the test's), 1 (B) */
    char *rundir;
    const char *sys;     /* a sysfs of its namespace */
    const char *listen;  /* its --migrate-listen */
    char token[PATH_MAX];/* its --migrate-token-file */
    struct lvt_bg d;     /* its lightvmd */
    int procs, taps;     /* in its namespace with its pool full and no VM */
};

extern struct migscene scene;
extern struct side side_a, side_b;
extern struct side *here;           /* where c0 runs */
extern char rundir_a[64], rundir_b[64], sysdir_b[64];

#define lv(s, ...) lvt_lv(&cli, lightvm, (s)->rundir, __VA_ARGS__)

struct side *other(const struct side *s);
struct sockaddr_in sock_addr(const char *ip, unsigned port);
/* Moves the calling thread into (s)'s network namespace; 0 or -1 (CHECKed). */
int ns_enter(const struct side *s);
/* Both namespaces (migscene_make) and a sysfs of B on sysdir_b; 0 or -1. */
int net_setup(void);
/* Each side's token file and tok_wrong, tok_bad in cfgdir; 0 or -1 (CHECKed). */
int write_tokens(void);
/* Tap devices in (s)'s namespace (its sysfs). */
int ns_taps(const struct side *s);
/* A counter of interface (ifname) in (s)'s namespace ("statistics/..."). */
unsigned long long ns_stat(const struct side *s, const char *ifname, const char *attr);
/* Process (pid) lives in (s)'s network namespace. */
int pid_in_ns(const struct side *s, long pid);
/* The names `lightvm list` shows at (s) (its second column), space-separated. */
void list_names(const struct side *s, char *out, size_t cap);
int listed(const struct side *s, const char *name);
/* $RUNDIR/vms/NAME exists at (s). */
int vm_dir(const struct side *s, const char *name);
/* Field (key) ("mac=", "ip=", "tap=") of vif0 in `lightvm info NAME` at
 * (s) into (out); "" if none. */
void info_vif(const struct side *s, const char *name, const char *key, char *out, size_t cap);
int pool_full(const struct side *s);
/* (s)'s processes and taps once its pool is full and they stay the same
 * half a second apart, into s->procs, s->taps (bounded: 60 s). */
void base_take(struct side *s);
/* (s) with (vms) one-vif VMs: its pool full, its base processes and taps
 * and one of each per VM (bounded wait: 60 s). */
void scene_check(const struct side *s, int vms, const char *what);
/* lightvmd in (s)'s namespace, taking migrations on s->listen: 1, or 0
 * (CHECKed). */
int daemon_start(struct side *s);
/* Waits (10 s at most) until process (pid) is gone. */
int pid_gone(long pid);
/* Since byte (log0) of (s)'s lightvmd log: its line about a migration of
 * c0 in, ending with (tail) (20 s at most). */
int log_says(struct side *s, size_t log0, const char *tail);
/* Where c0 is listed: CHECKs that it is on one side exactly (here); 0, or -1. */
int locate_c0(const char *after);

/* ---- the client loop (migverbs_loop.c) ---- */

struct loop {
    atomic_int over;           /* main: the migration is over (its VM gone from the source) */
    atomic_ulong answered;     /* requests answered so far */
    /* the thread's results, read after the join */
    unsigned long first, last; /* counts of the first and last answers */
    unsigned long gen0, gen1;  /* their generations */
    unsigned long retries;     /* requests asked twice */
    unsigned long uncounted;   /* of those, retried requests counted twice by c0 */
    unsigned long after;       /* requests answered once "over" was seen */
    char fail[256];
};

/* The thread (arg: a struct loop, last and gen1 set to c0's last answer):
 * asks c0 until LOOP_AFTER answers came once "over" was set, or a check
 * failed (fail). */
void *loop_main(void *arg);

/* ---- a proxy between the two lightvmd (migverbs_proxy.c; cases 5, 6) ---- */

struct proxy {
    int lfd;                /* listening on CTL_A, port in (addr) */
    char addr[32];          /* "CTL_A:PORT", for lightvm migrate */
    struct sockaddr_in to;  /* the destination's listener */
    size_t cut_at;          /* > 0: the source's first (cut_at) bytes, then both closed */
    size_t flip_at;         /* > 0: that byte after the handshake line flipped */
    atomic_int stop;        /* main: the migration is over (stop waiting for it) */
    /* the thread's results, read after the join */
    size_t from_src, from_dst, hello_len;
    int accepted, cut, flipped;
    char fail[160];
};

/* p->lfd listening, p->addr and p->to set for (to)'s listener; 0 or -1 (CHECKed). */
int proxy_open(struct proxy *p, const struct side *to);
/* The thread (arg: the struct proxy): one connection from the source,
 * forwarded to the destination, cut or flipped as asked. */
void *proxy_main(void *arg);

#endif
