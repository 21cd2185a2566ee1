/* lightvmd.h: the daemon's state, shared by main.c (the event loop) and
 * requests.c (the requests). */
#ifndef LIGHTVMD_LIGHTVMD_H
#define LIGHTVMD_LIGHTVMD_H

#include <limits.h>

#include "clients.h"
#include "lightvm/console.h"
#include "lightvm/net.h"
#include "netguard.h"
#include "pool.h"
#include "vms.h"

struct lvd_daemon {
    char rundir[PATH_MAX];
    char self_exe[PATH_MAX];
    int lock_fd;       /* -1 until this process holds the lock */
    int listen_fd;     /* -1 until this process has bound the socket */
    int sig_fd;
    double accept_retry_at_us; /* out of fds: no accept before this */
    unsigned max_vms;
    unsigned long long console_cap; /* --console-cap, bytes */
    struct lvd_pool pool;
    struct lvd_vms vms;
    struct lv_nft *nft;  /* antispoof rules (netguard.c); NULL if it could not be opened */
    struct lv_nl *nl;    /* the duplicate-MAC check; NULL likewise */
    struct lvd_client clients[MAX_CLIENTS];
    int quit;
};

/* The reply to one request of client (c) (a new reference), or NULL when
 * the request was relayed to a VM process (c->call is pending: the loop
 * completes it with lvd_call_done). */
json_t *lvd_handle(struct lvd_daemon *d, struct lvd_client *c, json_t *req);

/* The reply to (c)'s relayed request: the VM process's reply (vm_rep,
 * borrowed) or NULL and why (err). Ends the call. */
json_t *lvd_call_done(struct lvd_daemon *d, struct lvd_client *c, json_t *vm_rep,
                      const struct lv_err *err);

/* How this daemon starts shells. */
struct lvd_spawn_ctx lvd_spawn_ctx_of(const struct lvd_daemon *d);

#endif
