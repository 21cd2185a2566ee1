/*
 * pool.c: VM shells and the pool of them that lightvmd keeps per flavor
 * (memory, NICs). A shell is a VM process that has done the prepare work
 * and waits on its socketpair for an exec (vmproc.c).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lightvm/net.h"
#include "netguard.h"
#include "pool.h"

int lvd_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int lvd_shell_spawn(struct lvd_shell **out, const struct lvd_spawn_ctx *ctx, unsigned mem_mb,
                    unsigned nics, const char *bridge, struct lv_err *err)
{
    char mem[16], nn[16], ccap[24], logpath[4096];
    int sp[2], gate[2], rc;
    struct lvd_shell *s;
    pid_t pid;

    *out = NULL;
    snprintf(mem, sizeof(mem), "%u", mem_mb);
    snprintf(nn, sizeof(nn), "%u", nics);
    snprintf(ccap, sizeof(ccap), "%llu", ctx->console_cap);
    if (snprintf(logpath, sizeof(logpath), "%s/vmm.log", ctx->rundir) >= (int)sizeof(logpath))
        return lv_err_set(err, ENAMETOOLONG, "run directory path too long");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return lv_err_set(err, errno, "socketpair: %s", strerror(errno));
    /* The gate: the child execs only once it is in its cgroup (limits.c),
     * so that all it allocates is charged there. */
    if (pipe2(gate, O_CLOEXEC) < 0) {
        rc = lv_err_set(err, errno, "pipe: %s", strerror(errno));
        close(sp[0]);
        close(sp[1]);
        return rc;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        close(sp[0]);
        close(sp[1]);
        close(gate[0]);
        close(gate[1]);
        return lv_err_set(err, ENOMEM, "out of memory");
    }
    /* Like fork(), but the child is PID 1 of a PID namespace of its own:
     * it sees no other process (the jail, lightvm/jail.h, does the rest). */
    pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        rc = lv_err_set(err, errno, "fork: %s (host full?)", strerror(errno));
        close(sp[0]);
        close(sp[1]);
        close(gate[0]);
        close(gate[1]);
        free(s);
        return rc;
    }
    if (pid == 0) {
        /* Child: a shell dies with the daemon until it is executed. */
        const char *argv[] = {ctx->self_exe, "--vm-shell", "--memory", mem, "--nics", nn,
                              "--rundir", ctx->rundir, "--console-cap", ccap,
                              bridge && *bridge ? "--bridge" : NULL,
                              bridge, NULL};
        sigset_t none;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
        /* (The daemon dying before this line: the shell finds its socket
         * closed and ends; getppid() is 0 in a new PID namespace.) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setsid(); /* no signals from the daemon's terminal */
        /* Preparing is background work: a booting VM comes first. Under
         * SCHED_IDLE any runnable normal task preempts it (the shell goes
         * back to SCHED_OTHER when its prepare work is done). */
        struct sched_param idle = {0};
        sched_setscheduler(0, SCHED_IDLE, &idle);
        lvd_limits_child(ctx->limits, mem_mb); /* (only where no cgroup) */
        char go = 0;
        close(gate[1]);
        if (read(gate[0], &go, 1) != 1 || go != 'g') /* the daemon could not limit it */
            _exit(1);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (null < 0 || dup2(sp[1], LVD_SHELL_FD) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
            dup2(log >= 0 ? log : null, 2) < 0)
            _exit(1);
        /* Nothing the daemon inherited (or leaked) reaches a VM process:
         * only stdio and the socketpair. */
        if (close_range(LVD_SHELL_FD + 1, ~0U, 0) < 0)
            _exit(1);
        execv(ctx->self_exe, (char *const *)argv);
        _exit(127);
    }
    close(sp[1]);
    close(gate[0]);
    /* Its own cgroup before it execs; only the copy-on-write pages the
     * forked child touches first stay charged to the daemon's cgroup. */
    double t_lim = lvd_now_us();
    rc = lvd_limits_apply(ctx->limits, pid, mem_mb, err);
    s->limits_us = lvd_now_us() - t_lim;
    if (!rc && write(gate[1], "g", 1) != 1)
        rc = lv_err_set(err, EIO, "shell %d: cannot start it: %s", (int)pid, strerror(errno));
    close(gate[1]);
    if (rc) {
        kill(pid, SIGKILL); /* reaped by the daemon's SIGCHLD handler */
        close(sp[0]);
        free(s);
        return rc;
    }
    s->pid = pid;
    s->rundir = ctx->rundir;
    s->pidfd = lvd_pidfd_open(pid);
    s->mem_mb = mem_mb;
    s->nics = nics;
    snprintf(s->bridge, sizeof(s->bridge), "%s", bridge ? bridge : "");
    s->spawned_us = lvd_now_us();
    lv_ctl_conn_init(&s->conn, sp[0]);
    *out = s;
    return 0;
}

/* The taps a ready shell names (antispoof: the daemon filters them). */
/* Its taps, which lightvmd attaches to the VM's bridges and filters at
 * exec: names and ifindexes from its ready message. */
static int shell_taps(struct lvd_shell *s, json_t *taps, struct lv_err *err)
{
    if (json_array_size(taps) != s->nics || s->nics > LV_VM_MAX_NICS)
        return lv_err_set(err, EPROTO, "shell %d: ready without its %u taps", (int)s->pid,
                          s->nics);
    for (unsigned i = 0; i < s->nics; i++) {
        json_t *t = json_array_get(taps, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        json_int_t ix = json_integer_value(json_object_get(t, "ifindex"));
        if (!name || lv_ifname_check(name, NULL) < 0 || ix <= 0 || ix > 0x7fffffff)
            return lv_err_set(err, EPROTO, "shell %d: bad tap %u in its ready message",
                              (int)s->pid, i);
        snprintf(s->taps[i], sizeof(s->taps[i]), "%s", name);
        s->tap_ifindex[i] = (int)ix;
    }
    return 0;
}

int lvd_shell_on_ready(struct lvd_shell *s, int block_ms, struct lv_err *err)
{
    json_t *m = NULL;
    int rc;

    if (block_ms >= 0) {
        rc = lv_ctl_recv(&s->conn, block_ms, &m, err);
    } else {
        rc = lv_ctl_poll_recv(&s->conn, &m, err);
        if (rc == 0)
            return 0;
        rc = rc == 1 ? 0 : rc;
    }
    if (rc)
        return rc == -EPIPE ? lv_err_set(err, EPIPE, "the shell died while preparing") : rc;
    if (!json_is_true(json_object_get(m, "ready"))) {
        const char *e = json_string_value(json_object_get(m, "error"));
        rc = lv_err_set(err, EIO, "%s", e ? e : "shell not ready");
        json_decref(m);
        return rc;
    }
    /* The shell runs this daemon's binary as it was at the spawn: another
     * version (the file replaced since) is refused, never misread. */
    if (lv_ctl_version_check(m, LV_VMP_VERSION, "lightvmd", err) < 0) {
        char why[LV_ERR_MAX];
        snprintf(why, sizeof(why), "%s", err->msg);
        json_decref(m);
        return lv_err_set(err, EPROTO, "the shell's ready message: protocol: %s", why);
    }
    json_t *ips = json_object_get(m, "bridge_ips");
    for (size_t i = 0; i < json_array_size(ips) && i < LVD_BRIDGE_IPS; i++) {
        json_int_t v = json_integer_value(json_array_get(ips, i));
        if (v > 0 && v <= 0xffffffffLL)
            s->bridge_ips[s->nbridge_ips++] = (uint32_t)v;
    }
    s->prepare = json_incref(json_object_get(m, "prepare"));
    if (json_is_object(s->prepare)) /* the daemon's part of it: the shell's cgroup */
        json_object_set_new(s->prepare, "cgroup", json_real(s->limits_us));
    rc = shell_taps(s, json_object_get(m, "taps"), err);
    json_decref(m);
    if (rc)
        return rc;
    s->ready = 1;
    s->ready_us = lvd_now_us();
    return 1;
}

/* SIGKILLs the shell and waits (bounded) for its end: through its pidfd,
 * which still names it if it was reaped already (a plain kill() could hit
 * a new process that got its pid). 1 once it is known to be gone. */
static int kill_and_wait(struct lvd_shell *s)
{
    if (s->pidfd < 0) {
        kill(s->pid, SIGKILL); /* (no pidfd: fds ran out at its spawn) */
        return 0;
    }
    if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0) < 0 && errno == ESRCH)
        return 1;
    struct pollfd pf = {s->pidfd, POLLIN, 0};
    int n;
    do
        n = poll(&pf, 1, 5000); /* KVM teardown: ~15 ms */
    while (n < 0 && errno == EINTR);
    return n == 1;
}

void lvd_shell_free(struct lvd_shell **ps, int kill_it)
{
    struct lvd_shell *s = *ps;

    if (!s)
        return;
    /* Dead, it cannot remove its own directory; only once it is dead is
     * that safe (a dying shell could still be making it). */
    if (kill_it && s->pid > 0 && kill_and_wait(s) && s->rundir)
        lvd_shell_dir_remove(s->rundir, s->pid);
    /* Its taps go with it, but not always their chains (a kernel newer
     * than 6.1 keeps a netdev chain whose device is gone). */
    if (s->guard)
        lvd_guard_remove(s->guard, s->tap_ifindex, s->nics <= LV_AS_MAX ? s->nics : LV_AS_MAX);
    lv_ctl_conn_close(&s->conn);
    if (s->pidfd >= 0)
        close(s->pidfd);
    json_decref(s->prepare);
    free(s);
    *ps = NULL;
}

/* ---- the pool ---- */

struct lvd_flavor *lvd_pool_find(struct lvd_pool *pl, unsigned mem_mb, unsigned nics,
                                 const char *bridge)
{
    struct lvd_flavor *any = NULL;

    for (unsigned i = 0; i < pl->nflavors; i++) {
        struct lvd_flavor *f = &pl->fl[i];
        if (f->mem_mb != mem_mb || f->nics != nics)
            continue;
        if (!f->bridge[0])
            any = any ? any : f;
        else if (bridge && !strcmp(f->bridge, bridge))
            return f;
    }
    return any;
}

int lvd_pool_add_flavor(struct lvd_pool *pl, unsigned mem_mb, unsigned nics, unsigned target,
                        const char *bridge, struct lv_err *err)
{
    struct lvd_flavor *f;

    for (unsigned i = 0; i < pl->nflavors; i++)
        if (pl->fl[i].mem_mb == mem_mb && pl->fl[i].nics == nics &&
            !strcmp(pl->fl[i].bridge, bridge ? bridge : ""))
            return lv_err_set(err, EEXIST, "--pool %u,%u%s%s given twice", mem_mb, nics,
                              bridge ? "," : "", bridge ? bridge : "");
    if (bridge && !nics)
        return lv_err_set(err, EINVAL, "--pool %u,0,..,%s: a bridge needs a NIC", mem_mb, bridge);
    if (bridge && lv_ifname_check(bridge, err) < 0)
        return -EINVAL;
    if (pl->nflavors == LVD_MAX_FLAVORS)
        return lv_err_set(err, E2BIG, "at most %u pool flavors", LVD_MAX_FLAVORS);
    if (target > LVD_MAX_POOL)
        return lv_err_set(err, E2BIG, "pool of %u shells: at most %u per flavor", target,
                          LVD_MAX_POOL);
    f = &pl->fl[pl->nflavors++];
    memset(f, 0, sizeof(*f));
    f->mem_mb = mem_mb;
    f->nics = nics;
    f->target = target;
    snprintf(f->bridge, sizeof(f->bridge), "%s", bridge ? bridge : "");
    return 0;
}

unsigned lvd_flavor_ready(const struct lvd_flavor *f)
{
    unsigned n = 0;

    for (unsigned i = 0; i < f->nshells; i++)
        n += f->shells[i]->ready;
    return n;
}

struct lvd_shell *lvd_flavor_take(struct lvd_flavor *f)
{
    for (unsigned i = 0; i < f->nshells; i++) {
        struct lvd_shell *s = f->shells[i];
        if (s->ready) {
            f->shells[i] = f->shells[--f->nshells];
            return s;
        }
    }
    return NULL;
}

void lvd_flavor_refill_done(struct lvd_flavor *f, double us)
{
    f->refill_us[f->refills % LVD_REFILL_HIST] = us;
    f->refills++;
    f->refill_us_last = us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

json_t *lvd_pool_json(const struct lvd_pool *pl)
{
    json_t *arr = json_array();

    for (unsigned i = 0; i < pl->nflavors; i++) {
        const struct lvd_flavor *f = &pl->fl[i];
        double h[LVD_REFILL_HIST], med = 0;
        unsigned n = f->refills < LVD_REFILL_HIST ? (unsigned)f->refills : LVD_REFILL_HIST;
        memcpy(h, f->refill_us, n * sizeof(double));
        qsort(h, n, sizeof(double), cmp_double);
        if (n)
            med = h[n / 2];
        unsigned ready = lvd_flavor_ready(f);
        json_array_append_new(arr, json_pack("{s:i,s:i,s:s,s:i,s:i,s:i,s:I,s:I,s:I,s:f,s:f}",
                                             "memory", f->mem_mb, "nics", f->nics, "bridge",
                                             f->bridge, "target",
                                             f->target, "ready", ready, "preparing",
                                             f->nshells - ready, "hits", (json_int_t)f->hits,
                                             "misses", (json_int_t)f->misses, "refills",
                                             (json_int_t)f->refills, "refill_us_last",
                                             f->refill_us_last, "refill_us_median", med));
    }
    return arr;
}
