/* lightvmd.h: the daemon's state, shared by main.c (the event loop) and
 * requests.c (the requests). */
#ifndef LIGHTVMD_LIGHTVMD_H
#define LIGHTVMD_LIGHTVMD_H

#include <limits.h>

#include "lightvm/console.h"
#include "lightvm/net.h"
#include "pool.h"
#include "vms.h"

#define MAX_CLIENTS 64

struct lvd_daemon {
    char rundir[PATH_MAX];
    char self_exe[PATH_MAX];
    int lock_fd, listen_fd, sig_fd;
    unsigned max_vms;
    unsigned long long console_cap; /* --console-cap, bytes */
    struct lvd_pool pool;
    struct lvd_vms vms;
    struct lv_ctl_conn clients[MAX_CLIENTS];
    int quit;
};

/* The reply to one request (a new reference; never NULL). */
json_t *lvd_handle(struct lvd_daemon *d, json_t *req);

/* How this daemon starts shells. */
struct lvd_spawn_ctx lvd_spawn_ctx_of(const struct lvd_daemon *d);

#endif
