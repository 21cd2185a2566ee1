/* lightvmd.h: the daemon's state, shared by main.c (the event loop) and
 * requests.c (the requests). */
#ifndef LIGHTVMD_LIGHTVMD_H
#define LIGHTVMD_LIGHTVMD_H

#include <limits.h>

#include "clients.h"
#include "lightvm/console.h"
#include "lightvm/net.h"
#include "lightvm/token.h"
#include "netguard.h"
#include "pool.h"
#include "vms.h"

#define LVD_MAX_BRIDGE_PATTERNS 32
#define LVD_BRIDGES_DEFAULT "lv*"

/* The bridges VMs may join: names or NAME* prefixes (--bridges; by
 * default the bridges of the --pool flavors). */
struct lvd_bridges {
    char pat[LVD_MAX_BRIDGE_PATTERNS][16];
    unsigned n;
};

/* A connection to the migration listener waiting for its hello
 * (mighello.c). */
#define LVD_MIG_WAITING 8
struct lvd_mig_hello {
    int fd;              /* owned; -1: a free slot */
    char from[32];       /* the peer (ADDR:PORT or "unix"), for the log */
    char *buf;           /* owned: the line so far */
    size_t len;
    double t0, deadline_us; /* accepted at, refused at (lvd_now_us) */
};

struct lvd_daemon {
    char rundir[PATH_MAX];
    char self_exe[PATH_MAX];
    int lock_fd;       /* -1 until this process holds the lock */
    int listen_fd;     /* -1 until this process has bound the socket */
    int sig_fd;
    double accept_retry_at_us; /* out of fds: no accept before this */
    unsigned max_vms;
    unsigned long long console_cap; /* --console-cap, bytes */
    struct lvd_limits limits;       /* --vm-overhead, the host's cgroups */
    struct lvd_pool pool;
    struct lvd_bridges bridges;
    struct lvd_vms vms;
    struct lv_nft *nft;  /* antispoof rules (netguard.c); NULL if it could not be opened */
    struct lv_nl *nl;    /* rtnetlink: the taps' bridges at exec, the duplicate-MAC
                          * check; owned */
    int mig_fd;          /* the migration listener (--migrate-listen), or -1; owned */
    char mig_path[108];  /* its path when it is a Unix socket (local), removed at the end */
    char mig_token[LV_TOKEN_MAX + 1]; /* what a migration in must present */
    const char *mig_listen, *mig_token_file; /* the options, until setup */
    struct lvd_mig_hello mig_in[LVD_MIG_WAITING];
    struct lvd_client clients[MAX_CLIENTS];
    int quit;
};

/* The reply to one request of client (c) (a new reference), or NULL when
 * the request was relayed to a VM process (c->call is pending: the loop
 * completes it with lvd_call_done). */
json_t *lvd_handle(struct lvd_daemon *d, struct lvd_client *c, json_t *req);
/* 0 if every key of (req) is "v" or one of (allowed) (NULL-ended); else
 * -1 and (*err_rep) an error reply naming the unknown key. */
int lvd_check_keys(json_t *req, const char *const *allowed, json_t **err_rep);
/* options.c: parses lightvmd's command line into (d) (set to its
 * defaults by the caller): -1 to go on, or the exit status (after --help
 * or a message). */
int lvd_options(struct lvd_daemon *d, int argc, char **argv);

/* migrate.c: "A.B.C.D:PORT" into (sa). */
struct sockaddr_in;
int lvd_mig_addr(const char *s, struct sockaddr_in *sa, struct lv_err *err);
/* The listener on (addr) and the token read from (token_file). */
int lvd_mig_listen(struct lvd_daemon *d, const char *addr, const char *token_file,
                   struct lv_err *err);
/* A peer of the listener may migrate in: a local (unix) one must run as
 * this daemon's user (SO_PEERCRED); a TCP one is judged by its token. */
int lvd_mig_peer_ok(const struct lvd_daemon *d, int fd);
/* A whole hello (borrowed) from (fd) (owned: closed here), the
 * connection accepted at (t0): checked (version, token, spec), then the
 * VM brought in by a shell (synchronous, bounded), or the refusal
 * answered; logged either way. */
void lvd_mig_serve(struct lvd_daemon *d, int fd, const char *from, json_t *hello, double t0);

/* mighello.c: connections to the listener waiting for their hello, read
 * without blocking the loop; all slots free at first (lvd_mig_hello_init). */
void lvd_mig_hello_init(struct lvd_daemon *d);
/* Accepts one connection into a free slot (or refuses it at once: busy,
 * a local peer of another user). */
void lvd_mig_accept(struct lvd_daemon *d);
/* Reads what (h)'s peer sent; once its line is whole, lvd_mig_serve (or
 * a refusal); the slot is then free. */
void lvd_mig_hello_event(struct lvd_daemon *d, struct lvd_mig_hello *h);
/* Refuses and frees the slots past their deadline. */
void lvd_mig_hello_timers(struct lvd_daemon *d);
/* The earliest deadline of a slot (lvd_now_us), or -1 with none. */
double lvd_mig_hello_next(const struct lvd_daemon *d);
/* Frees every slot (closing its connection): at the end. */
void lvd_mig_hello_close_all(struct lvd_daemon *d);
/* A TCP connection to (to) "A.B.C.D:PORT" (the fd, blocking-free,
 * TCP_NODELAY) or -errno with err. */
int lvd_mig_connect(const char *to, struct lv_err *err);

/* create (create.c): the reply (a new reference). */
json_t *lvd_create(struct lvd_daemon *d, json_t *req);

/* What a VM starts from (LVD_FROM_*, daemon.h) and the fds that go with
 * the exec; borrowed. */
struct lvd_source {
    int fds[2];
    unsigned nfds;
    const char *from; /* LVD_FROM_* */
    int copy;         /* a snapshot: its memory read into the VM's RAM, not mapped */
};
/* The rest of a create once its source is open and (vs) parsed: the
 * checks against the daemon's state (name, bridges, MACs), the MACs a
 * vif lacks, a shell, its taps' rules and the exec, the VM recorded.
 * (req) gives "probe" and "trace" if any; (t0) when the request began.
 * The reply (a new reference). */
json_t *lvd_create_vm(struct lvd_daemon *d, json_t *req, struct lv_vm_spec *vs,
                      const struct lvd_source *src, double t0);

/* The reply to (c)'s relayed request: the VM process's reply (vm_rep,
 * borrowed) or NULL and why (err). Ends the call. */
json_t *lvd_call_done(struct lvd_daemon *d, struct lvd_client *c, json_t *vm_rep,
                      const struct lv_err *err);

/* vmnet.c: adds the comma-separated names or NAME* prefixes of (list). */
int lvd_bridges_add(struct lvd_bridges *b, const char *list, struct lv_err *err);
/* 1 if VMs may join (bridge). */
int lvd_bridge_allowed(const struct lvd_bridges *b, const char *bridge);
/* 0, or -EPERM naming the first vif of (vs) on a bridge not allowed. */
int lvd_bridges_check(const struct lvd_bridges *b, const struct lv_vm_spec *vs,
                      struct lv_err *err);
/* vmnet.c: before the exec of (vs) on shell (s): attaches the shell's
 * taps to the vifs' bridges (NIC 0 may be on its flavor's already) and,
 * when the exec message's "probe" address is the first bridge's own, adds
 * that bridge's MAC as "probe_mac" to (exec_msg). 0 or -errno with err. */
int lvd_vmnet_attach(struct lvd_daemon *d, const struct lvd_shell *s,
                     const struct lv_vm_spec *vs, json_t *exec_msg, struct lv_err *err);

/* How this daemon starts shells. */
struct lvd_spawn_ctx lvd_spawn_ctx_of(const struct lvd_daemon *d);

#endif
