/*
 * lightvmd: LightVM's split toolstack on KVM. Keeps a pool of VM shells
 * per flavor (prepared VM processes), hands one out per `create`, refills
 * in the background, and manages the VMs through their own sockets
 * (docs/protocol.md). Single-threaded: one request at a time, an event
 * loop over the control socket, the shells and the VM processes.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvmd.h"

#define MAX_PREPARING 2 /* shells preparing at once (the host has 2 cores) */


/* ---- shells ---- */

struct lvd_spawn_ctx lvd_spawn_ctx_of(const struct lvd_daemon *d)
{
    return (struct lvd_spawn_ctx){d->self_exe, d->rundir, d->console_cap, &d->limits};
}

static unsigned preparing(const struct lvd_daemon *d)
{
    unsigned n = 0;

    for (unsigned i = 0; i < d->pool.nflavors; i++)
        n += d->pool.fl[i].nshells - lvd_flavor_ready(&d->pool.fl[i]);
    return n;
}

/* A flavor whose shells fail (a host that cannot take another VM: a
 * bridge has at most 1024 ports, memory, KVM, fds) backs off, doubling
 * up to 30 s, instead of burning the CPU the running VMs need. */
static void flavor_backoff(struct lvd_flavor *f)
{
    f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : 100;
    if (f->backoff_ms > 30000)
        f->backoff_ms = 30000;
    f->retry_at_us = lvd_now_us() + f->backoff_ms * 1e3;
}

/* Starts shells until each flavor has (target) or MAX_PREPARING prepare. */
static void refill(struct lvd_daemon *d)
{
    struct lvd_spawn_ctx ctx = lvd_spawn_ctx_of(d);

    double now = lvd_now_us();

    for (unsigned i = 0; i < d->pool.nflavors; i++) {
        struct lvd_flavor *f = &d->pool.fl[i];
        if (now < f->retry_at_us)
            continue; /* its shells have been failing: wait */
        while (f->nshells < f->target && preparing(d) < MAX_PREPARING) {
            struct lv_err err = {""};
            struct lvd_shell *s;
            if (lvd_shell_spawn(&s, &ctx, f->mem_mb, f->nics, f->bridge, &err) < 0) {
                flavor_backoff(f);
                fprintf(stderr, "lightvmd: refill: %s (next try in %u ms)\n", err.msg,
                        f->backoff_ms);
                break;
            }
            f->shells[f->nshells++] = s;
        }
    }
}

/* Something arrived from shell (i) of (f): its ready message, its
 * failure, or, from a ready one, its death (EOF). */
static void shell_event(struct lvd_daemon *d, struct lvd_flavor *f, unsigned i)
{
    struct lvd_shell *s = f->shells[i];
    struct lv_err err = {""};

    if (s->ready) { /* a ready shell says nothing more: it died */
        fprintf(stderr, "lightvmd: ready shell %d died\n", (int)s->pid);
        lvd_shell_free(&f->shells[i], 1);
        f->shells[i] = f->shells[--f->nshells];
        return;
    }
    int rc = lvd_shell_on_ready(s, -1, &err);

    if (rc == 1) {
        /* Its taps are filtered from now on (every frame dropped until a
         * create adds its VM's rules): the costly part of the filter
         * (chains, hooks) is paid here, not on the create path. */
        double t0 = lvd_now_us();
        rc = lvd_guard_seal(d->nft, s, &err);
        if (!rc && json_is_object(s->prepare))
            json_object_set_new(s->prepare, "antispoof", json_real(lvd_now_us() - t0));
        rc = rc ? rc : 1;
    }
    if (rc == 1) {
        lvd_flavor_refill_done(f, s->ready_us - s->spawned_us);
        f->backoff_ms = 0;
    } else if (rc < 0) {
        flavor_backoff(f);
        fprintf(stderr, "lightvmd: shell %d (%u MiB, %u NICs%s%s): %s (next try in %u ms)\n",
                (int)s->pid, f->mem_mb, f->nics, f->bridge[0] ? ", bridge " : "", f->bridge,
                err.msg, f->backoff_ms);
        lvd_shell_free(&f->shells[i], 1);
        f->shells[i] = f->shells[--f->nshells];
    }
}

/* Milliseconds until the next timed event (a backed-off flavor may
 * refill, a relayed call times out, a stalled client is dropped, accept
 * is retried), or -1 (none). */
static int next_timeout(const struct lvd_daemon *d)
{
    double now = lvd_now_us(), next = -1;
#define AT(t_) ((next) < 0 || (t_) < (next) ? (next) = (t_) : 0)

    for (unsigned i = 0; i < d->pool.nflavors; i++) {
        const struct lvd_flavor *f = &d->pool.fl[i];
        if (f->nshells < f->target && f->retry_at_us > now)
            AT(f->retry_at_us);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        const struct lvd_client *c = &d->clients[i];
        if (c->in.fd < 0)
            continue;
        if (lvd_call_pending(&c->call))
            AT(c->call.deadline_us);
        if (c->stalled_since_us)
            AT(c->stalled_since_us + LVD_CLIENT_STALL_MS * 1e3);
    }
    if (d->accept_retry_at_us > now)
        AT(d->accept_retry_at_us);
    if (lvd_mig_hello_next(d) >= 0)
        AT(lvd_mig_hello_next(d));
#undef AT
    return next < 0 ? -1 : next <= now ? 0 : (int)((next - now) / 1e3) + 1;
}

/* ---- events ---- */

static void on_signal(struct lvd_daemon *d)
{
    struct signalfd_siginfo si;
    int st;
    pid_t pid;

    while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si))
        if (si.ssi_signo != SIGCHLD)
            d->quit = 1;
    /* Reap children: shells that died, VM processes that ended. */
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        char why[128];
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) /* seccomp.h */
            snprintf(why, sizeof(why), "VM process killed by SIGSYS: a system call outside "
                     "its seccomp allow-list, see vmm.log");
        else if (WIFSIGNALED(st))
            snprintf(why, sizeof(why), "VM process killed by signal %d", WTERMSIG(st));
        else
            snprintf(why, sizeof(why), "VM process exited with status %d", WEXITSTATUS(st));
        /* its cgroup goes; the kernel's OOM kill in it is the reason */
        int oom = lvd_limits_end(&d->limits, pid, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                                 why, sizeof(why));
        struct lvd_vm *vm = NULL;
        for (unsigned i = 0; i < d->vms.n && !vm; i++)
            vm = d->vms.v[i]->pid == pid ? d->vms.v[i] : NULL;
        if (oom || (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS))
            fprintf(stderr, "lightvmd: %s %s (pid %d) %s\n", vm ? "VM" : "shell",
                    vm ? vm->name : "", (int)pid, why);
        if (vm)
            lvd_vm_gone(&d->vms, vm, d->rundir, why);
    }
}

static void lvd_clients_close(struct lvd_daemon *d)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        lvd_client_close(&d->clients[i]);
}

static void on_accept(struct lvd_daemon *d)
{
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The connection stays queued and the socket readable: do not
             * poll it (that would spin) until fds may have been freed. */
            d->accept_retry_at_us = lvd_now_us() + 100e3;
            fprintf(stderr, "lightvmd: accept: %s (retrying in 100 ms)\n", strerror(errno));
        }
        return;
    }
    for (int k = 0; k < MAX_CLIENTS; k++)
        if (d->clients[k].in.fd < 0) {
            lvd_client_init(&d->clients[k], fd);
            return;
        }
    close(fd); /* all slots taken: the client sees the connection close */
}

/* Handles (c)'s buffered and readable requests until it has a call
 * pending, a backlog of replies, or no complete request. */
static void serve_client(struct lvd_daemon *d, struct lvd_client *c)
{
    json_t *req = NULL;
    int rc = 0;

    while (lvd_client_readable(c) && (rc = lv_ctl_poll_recv(&c->in, &req, NULL)) == 1) {
        json_t *rep = lvd_handle(d, c, req);
        json_decref(req);
        rc = rep ? lvd_client_reply(c, rep) : 0;
        json_decref(rep);
        if (rc < 0) {
            lvd_client_close(c); /* cannot be answered */
            return;
        }
    }
    if (rc == -EPIPE)
        c->eof = 1; /* closed its side: answer what it asked, then close */
    else if (rc < 0)
        lvd_client_close(c); /* a protocol error */
    if (c->in.fd >= 0 && c->eof && !lvd_call_pending(&c->call) && !lvd_client_backlog(c))
        lvd_client_close(c);
}

/* (c)'s relayed call: its reply arrived, or it failed or timed out. */
static void call_event(struct lvd_daemon *d, struct lvd_client *c)
{
    struct lv_err err = {""};
    json_t *vm_rep = NULL;
    int rc = lvd_call_poll(&c->call, &vm_rep, &err);

    if (rc == 0)
        return;
    json_t *rep = lvd_call_done(d, c, rc == 1 ? vm_rep : NULL, &err);
    json_decref(vm_rep);
    rc = lvd_client_reply(c, rep);
    json_decref(rep);
    if (rc < 0)
        lvd_client_close(c);
    else
        serve_client(d, c);
}

/* Timed events of the clients: relayed calls past their deadline,
 * clients whose replies have not moved for LVD_CLIENT_STALL_MS, clients
 * that closed and are fully answered. */
static void client_timers(struct lvd_daemon *d)
{
    double now = lvd_now_us();

    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct lvd_client *c = &d->clients[i];
        if (c->in.fd < 0)
            continue;
        if (lvd_call_pending(&c->call) && now >= c->call.deadline_us)
            call_event(d, c);
        if (c->in.fd >= 0 && c->stalled_since_us &&
            now >= c->stalled_since_us + LVD_CLIENT_STALL_MS * 1e3) {
            fprintf(stderr, "lightvmd: dropping a client that has not read its replies "
                            "(%zu bytes) for %d s\n", lvd_client_backlog(c),
                    LVD_CLIENT_STALL_MS / 1000);
            lvd_client_close(c);
        }
        if (c->in.fd >= 0 && !lvd_call_pending(&c->call) &&
            (c->hup || (c->eof && !lvd_client_backlog(c))))
            lvd_client_close(c);
    }
}

enum { EV_LISTEN, EV_SIGNAL, EV_CLIENT, EV_CALL, EV_SHELL, EV_VM, EV_MIGRATE, EV_MIG_HELLO };

static void loop(struct lvd_daemon *d)
{
    enum {
        MAXFD = 4 + LVD_MIG_WAITING + 2 * MAX_CLIENTS + LVD_MAX_FLAVORS * LVD_MAX_POOL + 12000
    };
    static struct pollfd pf[MAXFD];
    static void *who[MAXFD];
    static int kind[MAXFD];

    while (!d->quit) {
        nfds_t n = 0;
#define ADD(fd_, ev_, k_, p_) (pf[n] = (struct pollfd){(fd_), (ev_), 0}, kind[n] = (k_), who[n++] = (p_))
        if (lvd_now_us() >= d->accept_retry_at_us)
            ADD(d->listen_fd, POLLIN, EV_LISTEN, NULL);
        ADD(d->sig_fd, POLLIN, EV_SIGNAL, NULL);
        if (d->mig_fd >= 0)
            ADD(d->mig_fd, POLLIN, EV_MIGRATE, NULL);
        for (unsigned i = 0; i < LVD_MIG_WAITING; i++)
            if (d->mig_in[i].fd >= 0)
                ADD(d->mig_in[i].fd, POLLIN, EV_MIG_HELLO, &d->mig_in[i]);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct lvd_client *c = &d->clients[i];
            short ev = (short)((lvd_client_readable(c) ? POLLIN : 0) |
                               (lvd_client_backlog(c) ? POLLOUT : 0));
            if (c->in.fd >= 0 && !c->hup)
                ADD(c->in.fd, ev, EV_CLIENT, c);
            if (lvd_call_pending(&c->call))
                ADD(c->call.conn.fd, POLLIN, EV_CALL, c);
        }
        /* Every shell: a preparing one reports ready or fails; a ready one
         * only becomes readable when it dies. */
        for (unsigned f = 0; f < d->pool.nflavors; f++)
            for (unsigned i = 0; i < d->pool.fl[f].nshells; i++)
                ADD(d->pool.fl[f].shells[i]->conn.fd, POLLIN, EV_SHELL, &d->pool.fl[f]);
        for (unsigned i = 0; i < d->vms.n && n < MAXFD; i++)
            if (d->vms.v[i]->pidfd >= 0 && !d->vms.v[i]->is_child)
                ADD(d->vms.v[i]->pidfd, POLLIN, EV_VM, d->vms.v[i]);
#undef ADD
        int prc = poll(pf, n, next_timeout(d));
        if (prc < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "lightvmd: poll: %s\n", strerror(errno));
            return;
        }
        client_timers(d);
        lvd_mig_hello_timers(d);
        if (prc == 0) {
            refill(d); /* a backoff ran out */
            continue;
        }
        for (nfds_t i = 0; i < n && !d->quit; i++) {
            if (!pf[i].revents)
                continue;
            if (kind[i] == EV_LISTEN) {
                on_accept(d);
            } else if (kind[i] == EV_MIGRATE) {
                lvd_mig_accept(d);
            } else if (kind[i] == EV_MIG_HELLO) {
                struct lvd_mig_hello *h = who[i];
                if (h->fd == pf[i].fd)
                    lvd_mig_hello_event(d, h);
                refill(d); /* it may have taken a shell */
                break;
            } else if (kind[i] == EV_SIGNAL) {
                on_signal(d);
                break; /* the tables may have changed */
            } else if (kind[i] == EV_CLIENT) {
                struct lvd_client *c = who[i];
                if (c->in.fd != pf[i].fd)
                    continue; /* closed meanwhile */
                if ((pf[i].revents & POLLOUT) && lvd_client_flush(c) < 0) {
                    lvd_client_close(c);
                    continue;
                }
                if (pf[i].revents & (POLLERR | POLLNVAL)) {
                    lvd_client_close(c);
                    continue;
                }
                /* Hung up: what it sent is still done (replies to it then
                 * fail and close it), but its fd is not polled any more
                 * (POLLHUP would be reported on every poll). */
                if (pf[i].revents & POLLHUP)
                    c->hup = 1;
                serve_client(d, c); /* also after POLLOUT: reading may resume */
                refill(d); /* after the reply: a create took a shell */
                break; /* a request may have changed the tables */
            } else if (kind[i] == EV_CALL) {
                struct lvd_client *c = who[i];
                if (c->call.conn.fd == pf[i].fd)
                    call_event(d, c);
                break;
            } else if (kind[i] == EV_SHELL) {
                struct lvd_flavor *f = who[i];
                for (unsigned k = 0; k < f->nshells; k++)
                    if (f->shells[k]->conn.fd == pf[i].fd) {
                        shell_event(d, f, k);
                        break;
                    }
                refill(d);
                break;
            } else {
                struct lvd_vm *vm = who[i];
                char why[128] = "VM process died";
                if (lvd_limits_end(&d->limits, vm->pid, 1, why, sizeof(why)))
                    fprintf(stderr, "lightvmd: VM %s (pid %d) %s\n", vm->name, (int)vm->pid, why);
                lvd_vm_gone(&d->vms, vm, d->rundir, why);
                break;
            }
        }
    }
}

/* The antispoof rules (netguard.c): a netfilter handle, and the rules of
 * taps that are gone (their VM or `lightvm run` was killed) swept. Without
 * the handle (no CAP_NET_ADMIN) VMs with a NIC are refused. */
static void guard_setup(struct lvd_daemon *d)
{
    struct lv_err err = {""};
    unsigned removed = 0;

    if (lv_nft_open(&d->nft, &err) < 0) {
        fprintf(stderr, "lightvmd: %s (VMs with a NIC will be refused)\n", err.msg);
        return;
    }
    d->vms.nft = d->nft;
    if (lv_as_sweep(d->nft, &removed, &err) < 0)
        fprintf(stderr, "lightvmd: %s\n", err.msg);
    else if (removed)
        fprintf(stderr, "lightvmd: removed the antispoof rules of %u tap(s) that are gone\n",
                removed);
}

/* Everything setup() acquires is recorded in (d) as it is acquired, so
 * that teardown() undoes exactly that: a daemon refused by the lock of a
 * running one touches nothing of the running one's. */
static int setup(struct lvd_daemon *d, struct lv_err *err)
{
    char path[PATH_MAX + 32];
    sigset_t sigs;
    ssize_t n;
    int rc;

    n = readlink("/proc/self/exe", d->self_exe, sizeof(d->self_exe) - 1);
    if (n <= 0)
        return lv_err_set(err, errno, "readlink /proc/self/exe: %s", strerror(errno));
    d->self_exe[n] = '\0';
    if (mkdir(d->rundir, 0700) < 0 && errno != EEXIST)
        return lv_err_set(err, errno, "%s: %s", d->rundir, strerror(errno));
    rc = lvd_rundir_check(d->rundir, err);
    if (!rc)
        rc = lvd_rundir_lock(d->rundir, &d->lock_fd, err);
    if (rc)
        return rc;
    /* From here on the directory is this daemon's. */
    snprintf(path, sizeof(path), "%s/vms", d->rundir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/shells", d->rundir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    lvd_rundir_clean_shells(d->rundir);
    lvd_limits_init(&d->limits, d->limits.overhead_mb);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d->sig_fd < 0)
        return lv_err_set(err, errno, "signalfd: %s", strerror(errno));
    /* rtnetlink: the taps' bridges at exec (vmnet.c) */
    if ((rc = lv_nl_open(&d->nl, err)) < 0)
        return rc;
    int found = lvd_vms_adopt(&d->vms, d->rundir);
    if (found)
        fprintf(stderr, "lightvmd: found %d VM(s) in %s/vms\n", found, d->rundir);
    guard_setup(d);
    /* Holding the lock, the socket file is ours whatever answers on it:
     * an earlier daemon's, possibly still held open by a child of it that
     * was between fork and exec when it was killed (a connection then
     * still succeeds, for a moment). */
    snprintf(path, sizeof(path), "%s/" LV_DAEMON_SOCK, d->rundir);
    if (unlink(path) < 0 && errno != ENOENT)
        return lv_err_set(err, errno, "cannot remove the old %s: %s", path, strerror(errno));
    rc = lv_ctl_listen(path, err);
    if (rc < 0)
        return rc;
    d->listen_fd = rc; /* bound by us: teardown unlinks it */
    if (d->mig_listen && (rc = lvd_mig_listen(d, d->mig_listen, d->mig_token_file, err)) < 0)
        return rc;
    if (d->mig_listen)
        fprintf(stderr, "lightvmd: taking migrations on %s\n", d->mig_listen);
    return 0;
}

/* Undoes what setup() and the loop acquired, and only that (see setup). */
static void teardown(struct lvd_daemon *d)
{
    char path[PATH_MAX + 32];

    if (d->listen_fd >= 0) {
        snprintf(path, sizeof(path), "%s/" LV_DAEMON_SOCK, d->rundir);
        unlink(path);
        close(d->listen_fd);
        d->listen_fd = -1;
    }
    lvd_mig_hello_close_all(d);
    if (d->mig_fd >= 0) {
        close(d->mig_fd);
        d->mig_fd = -1;
        if (d->mig_path[0]) /* bound by us */
            unlink(d->mig_path);
    }
    lvd_clients_close(d);
    for (unsigned f = 0; f < d->pool.nflavors; f++)
        for (unsigned i = 0; i < d->pool.fl[f].nshells; i++) {
            pid_t pid = d->pool.fl[f].shells[i]->pid;
            lvd_shell_free(&d->pool.fl[f].shells[i], 1);
            waitpid(pid, NULL, 0);
            lvd_limits_end(&d->limits, pid, 0, NULL, 0);
        }
    lvd_vms_free(&d->vms); /* (the VMs keep running, their rules with them) */
    lv_nft_close(&d->nft);
    lv_nl_close(&d->nl);
    if (d->sig_fd >= 0)
        close(d->sig_fd);
    if (d->lock_fd >= 0) {
        /* The shells directory is the lock holder's: empty once its shells
         * are gone (a shell told to exec just now renames or removes its
         * own; then rmdir fails, harmlessly). */
        snprintf(path, sizeof(path), "%s/shells", d->rundir);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/lightvmd.lock", d->rundir);
        unlink(path); /* while holding it: see lvd_rundir_lock */
        close(d->lock_fd);
        d->lock_fd = -1;
    }
}

int main(int argc, char **argv)
{
    static struct lvd_daemon d;
    struct lv_err err = {""};
    int c;

    if (argc > 1 && !strcmp(argv[1], "--vm-shell"))
        return vmproc_main(argc, argv);
    d.lock_fd = d.listen_fd = d.sig_fd = d.mig_fd = -1;
    lvd_mig_hello_init(&d);
    d.max_vms = 10000;
    d.console_cap = LV_CONSOLE_CAP_DEFAULT;
    d.limits.overhead_mb = LVD_VM_OVERHEAD_MB_DEFAULT;
    for (int i = 0; i < MAX_CLIENTS; i++)
        lvd_client_init(&d.clients[i], -1);
    snprintf(d.rundir, sizeof(d.rundir), "%s", lv_rundir());
    if ((c = lvd_options(&d, argc, argv)) >= 0)
        return c;
    if (setup(&d, &err) < 0) {
        fprintf(stderr, "lightvmd: %s\n", err.msg);
        teardown(&d);
        return 1;
    }
    fprintf(stderr, "lightvmd: listening on %s/" LV_DAEMON_SOCK "\n", d.rundir);
    refill(&d);
    loop(&d);
    teardown(&d);
    fprintf(stderr, "lightvmd: stopped (VMs keep running)\n");
    return 0;
}
