/*
 * bench_clone.h: what bench_clone.c (main, the timed phases: reply, save,
 * rate) and its other files share: clone_lvd.c (lightvmd and the
 * requests to it), clone_ask.c (the VMs' addresses, asking their
 * counters) and clone_mem.c (the memory phase). The globals are
 * bench_clone.c's, set in main before any phase runs.
 */
#ifndef LV_BENCH_CLONE_H
#define LV_BENCH_CLONE_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lightvm/ctl.h"

#define MEM_MB 16
#define MAXBR 8           /* lightvmd's flavors (LVD_MAX_FLAVORS): one per bridge */
#define CALL_MS 15000

/* (short paths: --snapdir is at most 200 bytes) */
extern char tmpdir[], rundir[64], sock[96], logpath[96];
extern char snap[240], kernel[PATH_MAX];  /* the clones' snapshot; the counter's image */
extern pid_t daemon_pid;
extern struct lv_ctl_conn conn;           /* our connection to lightvmd */
extern int nbr, pool_k;                   /* bridges; shells per bridge */
extern volatile sig_atomic_t interrupted; /* SIGINT, SIGTERM */

/* Says why on stderr with the end of lightvmd's log, cleans up, exits 1. */
void die(const char *why) __attribute__((noreturn));

/* ---- lightvmd (clone_lvd.c) ---- */

/* A VM process and its page faults. */
struct pf {
    pid_t pid;
    long minflt, majflt;
};

/* One request on our connection (req consumed): the reply (the caller's),
 * or NULL with the error in (why). */
json_t *call(json_t *req, int timeout_ms, char *why, size_t n);
/* Destroys VM (name); dies on a failure. */
void destroy(const char *name);
/* Destroys bulk VMs (prefix)0..n-1. */
void destroy_bulk(char prefix, int n);
/* Until every flavor is full (0), or (ms) passes (-1). */
int pool_wait_full(int ms);
/* A process's parent, state and faults from /proc/PID/stat: 0, or -1. */
int proc_stat(pid_t pid, pid_t *ppid, char *state, long *minflt, long *majflt);
/* The daemon's live children (its shells and VM processes) with their
 * faults, at most (cap); how many. */
int daemon_children(struct pf *v, int cap);
/* Until the pool is full and the daemon has no more children than its
 * shells and (live) VMs, bounded; then half a second of quiet. */
void settle(int live);
/* lightvmd on our run directory, a full pool of K shells per bridge
 * (stderr to the log). */
void daemon_start(const char *lightvmd, int max_vms);
/* What `lightvm create --from SNAP CONFIG` sends for {"name", "vifs"}
 * ((copy): with --copy, the memory read into the VM's own RAM), and what
 * `lightvm create CONFIG` sends for a counter VM: VM (b, j). */
json_t *clone_req(const char *name, int b, int j, int copy);
json_t *boot_req(const char *name, int b, int j);
/* A create's reply: the VM's pid; whether it was a pool hit. */
pid_t rep_pid(const json_t *rep);
int rep_hit(const json_t *rep);

/* ---- addresses and asks (clone_ask.c) ----
 * VM (b, j) is 10.(80+b).(j/250).(j%250+2) on bridge lvcl(b), MAC
 * 02:cb:00:(80+b):(j/250):(j%250+2). */

void vm_ip(int b, int j, char *buf, size_t n);
void vm_mac(int b, int j, char *buf, size_t n);
/* The bulk phases' VM k: round robin over the bridges. */
void place(int k, int *b, int *j);
/* A UDP socket for asks; dies without one. */
int ask_socket(void);
/* Asks the counter at (addr) (network order) once. */
void ask(int fd, uint32_t addr);
/* One datagram if there is one: its source in *from and its kernel
 * receive time (CLOCK_REALTIME us) in *at. 1, or 0 if none waits. */
int take_reply(int fd, uint32_t *from, double *at);
/* Asks bulk VMs 0..n-1 until each answered (5 rounds of 1 s at most);
 * ok[k] set for those that did. How many did. */
int ask_all(int n, char *ok);

/* ---- the memory phase (clone_mem.c) ---- */

/* N clones, N pool boots and N crun containers running: memory per one. */
void phase_memory(int n);
/* Deletes the crun containers phase_memory made (cleanup). */
void crun_delete_all(void);

#endif
