/* ctl.h: what cli/'s lightvmd verbs share (cmd_ctl.c: the verb table,
 * options and calls; ctl_create.c: create and restore). Private to cli/. */
#ifndef LIGHTVM_CLI_CTL_H
#define LIGHTVM_CLI_CTL_H

#include <limits.h>
#include <time.h>

#include "cli.h"
#include "lightvm/ctl.h"
#include "lightvm/vmspec.h"

#define CALL_TIMEOUT_MS 15000
#define SHUTDOWN_SLACK_MS 5000  /* the shutdown call waits its --timeout and this */
#define PROBE_WAIT_MS 10000     /* --wait-net, after the reply */
#define SAVE_TIMEOUT_MS 65000   /* lightvmd gives a save 60 s */
#define MIGRATE_TIMEOUT_MS 40000 /* lightvmd gives a migration 35 s */
#define SHUTDOWN_TIMEOUT_MAX LV_SHUTDOWN_TIMEOUT_MAX_MS

/* The options a verb may take. */
enum {
    O_JSON = 1 << 0,
    O_TRACE = 1 << 1,
    O_NET = 1 << 2,     /* --wait-net, --probe */
    O_TIMEOUT = 1 << 3,
    O_VERBOSE = 1 << 4,
    O_RAW = 1 << 5,
    O_KEEP = 1 << 6,    /* save --keep */
    O_FROM = 1 << 7,    /* create --from SNAPSHOT */
    O_RESTORE = 1 << 8, /* restore --name, --net */
    O_TOKEN = 1 << 9,   /* migrate --token-file */
    O_COPY = 1 << 10,   /* create --from --copy, restore --copy */
};

struct ctl_opts {
    const char *verb;
    char sock[PATH_MAX];
    const char *arg;    /* NAME, CONFIG.json or FILE */
    const char *arg2;   /* save's FILE, migrate's ADDR:PORT */
    int json, trace, verbose, raw, keep, copy;
    const char *from;   /* create --from */
    const char *token_file; /* migrate --token-file */
    const char *name;   /* restore --name */
    const char *vifs[LV_VM_MAX_VIFS]; /* restore --net, in order */
    unsigned nvifs;
    long timeout_ms;
    struct lv_probe_opt net; /* --wait-net, --probe */
    uint64_t t0;        /* lv_now_ns() when the verb started */
    struct timespec t0_real;
};

/* Sends (req) (consumed; NULL means it could not be built) and waits for
 * the reply. 0 and (*reply), or the exit status after printing why. */
int ctl_call(const struct ctl_opts *o, json_t *req, int timeout_ms, json_t **reply);
/* A reply that lacks what its op promises is the daemon's fault: says so
 * and frees (reply). 0, or the exit status. */
int ctl_lacks(const struct ctl_opts *o, json_t *reply, const char *key);
/* (path) made absolute against the current directory (not resolved: the
 * file need not exist) into (out). 0, or the exit status after printing
 * why. */
int ctl_abs_path(const struct ctl_opts *o, const char *path, char out[PATH_MAX]);

/* ctl_create.c */
int ctl_create(struct ctl_opts *o);  /* create CONFIG.json [--from SNAPSHOT] */
int ctl_restore(struct ctl_opts *o); /* restore FILE [--name N] [--net VIF]... */

#endif
