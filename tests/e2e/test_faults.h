/*
 * test_faults.h: what test_faults.c (the table, the checks, main) and
 * the files of its rows (faults_*.c) share. The globals are
 * test_faults.c's, set once in main before any row runs.
 */
#ifndef TEST_FAULTS_H
#define TEST_FAULTS_H

#include <limits.h>
#include <stddef.h>

#include "lvtest.h"

#define BR "lvft0"          /* the pool's bridge, s0, s1 and the check VMs */
#define BR2 "lvft1"         /* the bridge that gets deleted */
#define RUNDIR_MB 16        /* the run directory's tmpfs */
#define CON_CAP_ARG "64K"   /* = CON_CAP */
#define CON_CAP (64 << 10)      /* lightvmd --console-cap */
#define CON_SLACK (64 << 10)    /* a VM's other files (spec.json), vmm.log's lines */

extern const char *lightvm, *lightvmd, *gdir;   /* argv[1], argv[2], the guest dir */
extern char rundir[64], cfgdir[PATH_MAX];       /* lightvmd's run directory; configs, images */
extern struct lvt_bg daemon_bg;                 /* the running lightvmd */
extern struct lvt_proc cli;                     /* the last CLI call's output */
extern const char *lightvmd_rel, *ip_bin, *nc_bin; /* argv[4]; ip and nc */
extern struct lvt_bg tool;                      /* the last ip/nc call's output */
extern int base_fds;                            /* the daemon's fds in the steady state */
extern size_t log_mark;                         /* daemon_bg.err offset where a fault began */

#define ipcmd(...) lvt_ip(&tool, ip_bin, __VA_ARGS__)
#define vm_pid(name) lvt_vm_pid(&cli, lightvm, rundir, name)

/* `lightvm ARGS... --rundir RUNDIR`: its exit status (-1: not run), output in cli. */
#define LV(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__, (const char *)NULL)

/* One fault of the table: inject puts what a user saw in saw (saw()). */
struct row {
    const char *name;
    void (*inject)(struct row *r);
    void (*after)(struct row *r);   /* undoes what had to outlive the checks (or NULL) */
    char saw[384];
    char why[512];                  /* what the checks found wrong */
    int recovered, clean;
};

/* r->saw = the formatted text on one line, the config dir shown as <cfg>. */
void saw(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes a config and returns its path (a static buffer): (kernel) a path,
 * or a name in the guest dir; with (bridge) one vif there with address (ip). */
const char *config(const char *name, const char *kernel, int mem_mb, const char *bridge,
                   const char *ip, const char *cmdline);
/* Waits (30 s at most) until taps, processes, run directory and the
 * daemon's fds are the steady state again: 1, or 0 with what differs in out. */
int wait_steady(char *out, size_t cap);

/* r->why: what the checks found wrong (one more clause). */
void why(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A config of the daytime guest on BR with address (ip): its path. */
const char *daytime_cfg(const char *name, const char *ip);
/* 1 if (ip) answers daytime (one retry). */
int answers(const char *ip);
/* The value after "KEY: " in the last CLI output (info), or "" in (buf). */
const char *info_field(const char *key, char *buf, size_t cap);

/* The daemon: running?; started from (bin) with a soft rlimit when
 * resource >= 0, waited for (bounded): 1 or 0; stopped with (sig) and
 * started again; (needle) in what it logged since the fault began,
 * waited for (ms): the line or NULL; a connection to its socket or -1. */
int daemon_up(void);
int daemon_start(const char *bin, int resource, unsigned long soft);
int daemon_restart(int sig, const char *bin, int resource, unsigned long soft);
const char *daemon_logged(const char *needle, int ms);
int raw_connect(void);
/* After a daemon (re)start: waits for the steady state and takes its fd
 * count (base_fds): 1, or 0 after a failed CHECK. */
int take_baseline(void);

/* The name of the first steady VM (s0, s1) that does not answer daytime,
 * or NULL when all do. */
const char *steady_silent(void);

/* faults_procs.c: processes killed or stopped. */
void f_shell_kill(struct row *r);
void f_daemon_kill(struct row *r);
void f_vm_kill(struct row *r);
void f_vm_stopped(struct row *r);

/* faults_host.c: host resources and the daemon's clients; restore_daemon
 * is the .after of the rows that start lightvmd under a limit. */
void f_rundir_full(struct row *r);
void f_fd_limit(struct row *r);
void restore_daemon(struct row *r);
void f_memory(struct row *r);
void f_bridge_deleted(struct row *r);
void f_deaf_guest(struct row *r);
void f_flood(struct row *r);
void f_flood_after(struct row *r);
void f_shutdown_max(struct row *r);

/* faults_console.c: a guest that floods its console. */
void f_console_flood(struct row *r);

/* faults_image.c: a kernel path that is a FIFO; an image truncated while
 * it loads. */
void f_fifo_kernel(struct row *r);
void f_truncated_image(struct row *r);

#endif
