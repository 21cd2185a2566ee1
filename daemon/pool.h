/* pool.h: VM shells and the per-flavor pool of them (pool.c). */
#ifndef LIGHTVMD_POOL_H
#define LIGHTVMD_POOL_H

#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"
#include "lightvm/vm.h"
#include "limits.h"

#define LVD_MAX_FLAVORS 8
#define LVD_MAX_POOL 256
#define LVD_REFILL_HIST 128

struct lv_nft;

struct lvd_shell {
    pid_t pid;
    char bridge[16];           /* NIC 0 attached to it at prepare, "" if none */
    const char *rundir;        /* borrowed */
    int pidfd;                 /* owned, -1 if pidfd_open failed */
    struct lv_ctl_conn conn;   /* the daemon's end of the socketpair, owned */
    unsigned mem_mb, nics;
    int ready;
    double spawned_us, ready_us;
    double limits_us;          /* its cgroup: create, limits, move (lvd_limits_apply) */
    json_t *prepare;           /* the shell's prepare trace, owned */
    char taps[LV_VM_MAX_NICS][16]; /* its taps' names, from its ready message */
    int tap_ifindex[LV_VM_MAX_NICS]; /* (antispoof: filtered before exec) */
    /* Its taps' antispoof chains (netguard.c), set while they have some:
     * lvd_shell_free removes them (borrowed; NULL once the VM owns them). */
    struct lv_nft *guard;
    uint64_t tap_slot[LV_VM_MAX_NICS]; /* sealed taps (lv_as_seal): where the
                                        * VM's rules go; 0: not sealed */
    uint32_t bridge_ips[LVD_BRIDGE_IPS]; /* (bridge)'s IPv4 addresses at its prepare */
    unsigned nbridge_ips;
};

struct lvd_spawn_ctx {
    const char *self_exe;      /* this program, for exec */
    const char *rundir;
    unsigned long long console_cap; /* bytes per VM console log (--console-cap) */
    const struct lvd_limits *limits; /* each VM process's limits (issue 10) */
};

/* Forks and execs a shell of (mem_mb, nics). The caller owns (*out)
 * (lvd_shell_free). The shell is not ready yet: see lvd_shell_on_ready. */
int lvd_shell_spawn(struct lvd_shell **out, const struct lvd_spawn_ctx *ctx, unsigned mem_mb,
                    unsigned nics, const char *bridge, struct lv_err *err);

/* Reads the shell's ready message: blocking up to (block_ms), or, with
 * (block_ms) < 0, only what is there. 1 when it became ready, 0 when
 * nothing complete arrived yet (non-blocking only), -errno when the shell
 * failed (its message in err). */
int lvd_shell_on_ready(struct lvd_shell *s, int block_ms, struct lv_err *err);

/* Closes the daemon's side (a waiting shell then exits); (kill_it) also
 * SIGKILLs it (and waits for its end). Removes its taps' antispoof chains
 * if it still has them (s->guard). Sets *s = NULL. */
void lvd_shell_free(struct lvd_shell **s, int kill_it);

int lvd_pidfd_open(pid_t pid);

struct lvd_flavor {
    unsigned mem_mb, nics, target;
    char bridge[16];   /* shells come with NIC 0 on it; "" = attached at execute */
    struct lvd_shell *shells[LVD_MAX_POOL]; /* ready and preparing, owned */
    unsigned nshells;
    uint64_t hits, misses, refills;
    double refill_us[LVD_REFILL_HIST];      /* spawn -> ready, a ring */
    double refill_us_last;
    unsigned backoff_ms;   /* after failed shells: 0, or 100 ms doubling up to 30 s */
    double retry_at_us;    /* no refill before this (lvd_now_us) */
};

struct lvd_pool {
    struct lvd_flavor fl[LVD_MAX_FLAVORS];
    unsigned nflavors;
};

/* The flavor a VM of (mem_mb, nics) whose first NIC is on (bridge) (NULL:
 * no NIC) takes its shell from: an exact bridge match first, else one
 * with no bridge; NULL if none. */
struct lvd_flavor *lvd_pool_find(struct lvd_pool *pl, unsigned mem_mb, unsigned nics,
                                 const char *bridge);
int lvd_pool_add_flavor(struct lvd_pool *pl, unsigned mem_mb, unsigned nics, unsigned target,
                        const char *bridge, struct lv_err *err);
unsigned lvd_flavor_ready(const struct lvd_flavor *f);
/* Removes and returns a ready shell (the caller owns it), or NULL. */
struct lvd_shell *lvd_flavor_take(struct lvd_flavor *f);
void lvd_flavor_refill_done(struct lvd_flavor *f, double us);
/* The "flavors" array of the pool reply (docs/protocol.md). */
json_t *lvd_pool_json(const struct lvd_pool *pl);

#endif
