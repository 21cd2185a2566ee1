/*
 * test_faults.h: what test_faults.c (the table, the checks, main) and
 * faults_image.c (the rows about image files) share. The globals are
 * test_faults.c's, set once in main before any row runs.
 */
#ifndef TEST_FAULTS_H
#define TEST_FAULTS_H

#include <limits.h>
#include <stddef.h>

#include "lvtest.h"

#define BR "lvft0"          /* the pool's bridge, s0, s1 and the check VMs */
#define CON_CAP (64 << 10)      /* lightvmd --console-cap */
#define CON_SLACK (64 << 10)    /* a VM's other files (spec.json), vmm.log's lines */

extern const char *lightvm, *lightvmd, *gdir;   /* argv[1], argv[2], the guest dir */
extern char rundir[64], cfgdir[PATH_MAX];       /* lightvmd's run directory; configs, images */
extern struct lvt_bg daemon_bg;                 /* the running lightvmd */
extern struct lvt_proc cli;                     /* the last CLI call's output */

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

/* The name of the first steady VM (s0, s1) that does not answer daytime,
 * or NULL when all do. */
const char *steady_silent(void);

/* faults_console.c: a guest that floods its console. */
void f_console_flood(struct row *r);

/* faults_image.c: a kernel path that is a FIFO; an image truncated while
 * it loads. */
void f_fifo_kernel(struct row *r);
void f_truncated_image(struct row *r);

#endif
