/*
 * vmproc.c: a VM process. Started by lightvmd as a *shell*: it does the
 * prepare work (KVM VM, memory, irqchip, vCPU, virtio devices, taps)
 * before anyone asked for a VM, reports ready, and waits. On execute it
 * does only what depends on the VM: attach the taps to their bridges,
 * give the NICs their MACs and addresses, load the image, write the boot
 * info, start the vCPU. From then on it is that VM's process and serves
 * its own control socket, $RUNDIR/vms/NAME/ctl.sock, so it outlives the
 * daemon (docs/protocol.md).
 *
 * One thread here (plus the library's vCPU and I/O threads): requests are
 * served one at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "lightvm/jail.h"
#include "lightvm/snapshot.h"
#include "vmproc.h"

/* spec.json (the spec and the VM's id), read by lightvmd for `info` on a
 * crashed VM. Written by this process, after its exec reply (nobody
 * needs it sooner), and removed by it at the end: one writer, no race
 * with the directory's removal. */
static void write_spec(struct vmproc *p)
{
    json_t *o = json_deep_copy(p->spec_json);
    int fd = -1;

    if (o) {
        json_object_set_new(o, "id", json_integer(p->id));
        fd = openat(p->dir_fd, "spec.json.tmp",
                    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0 || json_dumpfd(o, fd, JSON_COMPACT) < 0 ||
        renameat(p->dir_fd, "spec.json.tmp", p->dir_fd, "spec.json") < 0) {
        fprintf(stderr, "lightvmd vm[%d]: cannot write %s's spec.json\n", (int)p->pid,
                p->spec.name);
        unlinkat(p->dir_fd, "spec.json.tmp", 0);
    }
    if (fd >= 0)
        close(fd);
    json_decref(o);
}

static void log_err(const struct vmproc *p, const char *what, const struct lv_err *err)
{
    fprintf(stderr, "lightvmd vm[%d]: %s: %s\n", (int)p->pid, what, err->msg);
}

/* ---- the VM's description ---- */

/* The console log's counters (console.h). */
static json_t *console_json(const struct vmproc *p)
{
    struct lv_console_stats s;

    if (!p->console)
        return json_object();
    lv_console_stats(p->console, &s);
    return json_pack("{s:I,s:I,s:I,s:I,s:s}", "cap", (json_int_t)s.cap, "bytes",
                     (json_int_t)s.bytes, "dropped", (json_int_t)s.dropped, "errors",
                     (json_int_t)s.errors, "last_error", s.last_errno ? strerror(s.last_errno)
                                                                       : "");
}

static json_t *vm_json(struct vmproc *p)
{
    struct timespec now;
    json_t *vifs = json_array();
    char mac[18], ip[24];

    clock_gettime(CLOCK_REALTIME, &now);
    const struct lv_vm_trace *t = lv_vm_trace(p->vm);
    uint64_t entry = lv_vm_guest_entry_ns(p->vm), go = t->phase[LV_PH_START].start_ns;
    json_t *boot = json_pack("{s:f,s:f}", "start_to_first_run_us",
                             t->first_run_ns > go ? (t->first_run_ns - go) / 1e3 : 0,
                             "start_to_guest_entry_us", entry > go ? (entry - go) / 1e3 : 0);
    for (unsigned i = 0; i < p->spec.nvifs; i++) {
        const struct lv_vif_spec *v = &p->spec.vifs[i];
        uint32_t m = __builtin_bswap32(v->netmask);
        uint8_t *a = (uint8_t *)&v->ip;
        lv_mac_format(v->mac, mac);
        snprintf(ip, sizeof(ip), "%u.%u.%u.%u/%d", a[0], a[1], a[2], a[3],
                 m ? 32 - __builtin_ctz(m) : 0);
        json_array_append_new(vifs, json_pack("{s:s,s:s,s:i,s:s,s:s}", "bridge", v->bridge,
                                              "tap", p->taps[i].name, "ifindex",
                                              p->taps[i].ifindex, "mac", mac, "ip",
                                              v->ip ? ip : ""));
    }
    return json_pack("{s:s,s:I,s:s,s:i,s:I,s:i,s:s,s:f,s:f,s:o,s:o,s:o}", "name", p->spec.name,
                     "id", (json_int_t)p->id, "state",
                     lv_vm_is_paused(p->vm) ? "paused" : "running",
                     "pid", (int)p->pid, "memory", (json_int_t)p->spec.memory_mb, "vcpus", 1,
                     "kernel", p->spec.kernel, "uptime_s",
                     now.tv_sec + now.tv_nsec / 1e9 - p->started_wall, "started", p->started_wall,
                     "vifs", vifs, "boot", boot, "console", console_json(p));
}

/* ---- serving ---- */

/* Stops the VM; waits up to (timeout_ms) for a graceful shutdown first
 * when (graceful). Returns 1 if the guest ended by itself in time. */
static int end_vm(struct vmproc *p, int graceful, int timeout_ms)
{
    struct lv_err err = {""};
    int clean = 0;

    p->ending = 1;
    if (graceful && lv_vm_request(p->vm, LV_CTL_SHUTDOWN, &err) == 0) {
        struct pollfd pf = {lv_vm_done_fd(p->vm), POLLIN, 0};
        if (lv_vm_is_paused(p->vm))
            lv_vm_unpause(p->vm, NULL);
        clean = poll(&pf, 1, timeout_ms) == 1;
    }
    lv_vm_stop(p->vm);
    return clean;
}

/* The VM's end after destroy, shutdown, a save without --keep or a
 * migration: the guest is stopped and its name free before the reply
 * (lv_vm_wait joins the vCPU; the kernel's teardown of the KVM VM, ~15 ms
 * here, happens after the reply, as the process exits). */
static void end_for_good(struct vmproc *p, int *quit)
{
    *quit = 1;
    lv_vm_wait(p->vm, NULL);
    lvd_dir_empty(p->dir_fd); /* lightvmd removes the directory as it relays the reply */
}

void vmp_end(struct vmproc *p, int *quit)
{
    end_vm(p, 0, 0);
    end_for_good(p, quit);
}

/* save, with the state and memory files' fds passed along (lightvmd made
 * them): the VM paused, saved with its spec, then stopped, or with
 * "keep" running on as it was. A failed save leaves it as it was too;
 * lightvmd removes the files. */
static json_t *do_save(struct vmproc *p, struct lv_ctl_conn *c, json_t *req, int *quit)
{
    int fds[LV_CTL_MAX_FDS], keep = json_is_true(json_object_get(req, "keep"));
    unsigned n = lv_ctl_take_fds(c, fds);
    int was_paused = lv_vm_is_paused(p->vm), rc = n == 2 ? 0 : -EBADF;
    struct lv_err err = {""};
    double t0 = lvd_now_us();
    char *spec = NULL;
    struct stat st = {0}, sm = {0};

    if (rc)
        lv_err_set(&err, EBADF, "want the state and memory files passed with the request");
    if (!rc && !(spec = json_dumps(p->spec_json, JSON_COMPACT)))
        rc = lv_err_set(&err, ENOMEM, "out of memory");
    if (!rc && !was_paused)
        rc = lv_vm_pause(p->vm, &err);
    if (!rc)
        rc = lv_vm_save(p->vm, fds[0], fds[1], spec, &err);
    double t_saved = lvd_now_us();
    if (!rc && (fstat(fds[0], &st) < 0 || fstat(fds[1], &sm) < 0))
        rc = lv_err_set(&err, errno, "fstat: %s", strerror(errno));
    for (unsigned i = 0; i < LV_CTL_MAX_FDS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(spec);
    if (!was_paused && (rc || keep))
        lv_vm_unpause(p->vm, NULL);
    if (rc)
        return lv_ctl_error("%s", err.msg); /* lightvmd names the VM */
    if (!keep)
        vmp_end(p, quit);
    return json_pack("{s:b,s:I,s:I,s:I,s:b,s:f}", "ok", 1, "state_bytes", (json_int_t)st.st_size,
                     "memory_bytes", (json_int_t)sm.st_blocks * 512, "memory_size",
                     (json_int_t)sm.st_size, "stopped", !keep, "save_us", t_saved - t0);
}

static json_t *handle(struct vmproc *p, struct lv_ctl_conn *c, json_t *req, int *quit)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    struct lv_err err = {""};
    double t0 = lvd_now_us();

    /* Never misread: a request of another version is refused whole; one
     * without "v" is taken as ours (scripts). */
    if (lv_ctl_version_check(req, LV_VMP_VERSION, "VM process", &err) < 0)
        return lv_ctl_error("protocol: %s", err.msg);
    if (!op)
        return lv_ctl_error("request without \"op\"");
    if (!strcmp(op, "info")) {
        json_t *r = lv_ctl_ok();
        json_object_set_new(r, "vm", vm_json(p));
        return r;
    }
    if (!strcmp(op, "pause") || !strcmp(op, "unpause")) {
        int rc = op[0] == 'p' ? lv_vm_pause(p->vm, &err) : lv_vm_unpause(p->vm, &err);
        if (rc)
            return lv_ctl_error("%s %s: %s", op, p->spec.name, err.msg);
        json_t *r = lv_ctl_ok();
        json_object_set_new(r, "latency_us", json_real(lvd_now_us() - t0));
        return r;
    }
    if (!strcmp(op, "shutdown") || !strcmp(op, "destroy")) {
        json_t *t = json_object_get(req, "timeout_ms");
        json_int_t ms = json_is_integer(t) ? json_integer_value(t) : LVD_SHUTDOWN_DEFAULT_MS;
        if (t && (!json_is_integer(t) || ms < 0 || ms > LV_SHUTDOWN_TIMEOUT_MAX_MS))
            return lv_ctl_error("timeout_ms: want an integer 0..%d (milliseconds)",
                                LV_SHUTDOWN_TIMEOUT_MAX_MS);
        int graceful = end_vm(p, op[0] == 's', (int)ms);
        end_for_good(p, quit);
        json_t *r = lv_ctl_ok();
        if (op[0] == 's')
            json_object_set_new(r, "graceful", json_boolean(graceful));
        return r;
    }
    if (!strcmp(op, "save"))
        return do_save(p, c, req, quit);
    if (!strcmp(op, "migrate"))
        return vmp_migrate_out(p, c, req, quit);
    return lv_ctl_error("unknown op '%.40s'", op);
}

static void accept_conn(struct vmproc *p)
{
    int fd = accept4(p->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0)
        return;
    for (int i = 0; i < MAX_CONNS; i++)
        if (p->conns[i].fd < 0) {
            lv_ctl_conn_init(&p->conns[i], fd);
            return;
        }
    close(fd); /* busy: the client sees the connection close */
}

/* Serves the control socket until the VM ends; returns once it has. */
static void serve(struct vmproc *p)
{
    struct pollfd pf[3 + MAX_CONNS];
    int quit = 0;

    for (int i = 0; i < MAX_CONNS; i++)
        lv_ctl_conn_init(&p->conns[i], -1);
    while (!quit) {
        int n = 0;
        pf[n++] = (struct pollfd){lv_vm_done_fd(p->vm), POLLIN, 0};
        pf[n++] = (struct pollfd){p->sig_fd, POLLIN, 0};
        pf[n++] = (struct pollfd){p->ctl_fd, POLLIN, 0};
        for (int i = 0; i < MAX_CONNS; i++)
            pf[n++] = (struct pollfd){p->conns[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[0].revents)
            break; /* the VM ended by itself */
        if (pf[1].revents) {
            struct signalfd_siginfo si;
            if (read(p->sig_fd, &si, sizeof(si)) > 0)
                end_vm(p, 0, 0); /* SIGTERM/SIGINT: destroy */
            break;
        }
        if (pf[2].revents)
            accept_conn(p);
        for (int i = 0; i < MAX_CONNS && !quit; i++) {
            struct lv_ctl_conn *c = &p->conns[i];
            json_t *req = NULL;
            struct lv_err err = {""};
            int rc;
            if (c->fd < 0 || !pf[3 + i].revents)
                continue;
            while ((rc = lv_ctl_poll_recv(c, &req, &err)) == 1) {
                json_t *rep = handle(p, c, req, &quit);
                json_decref(req);
                /* Every reply names our version: a daemon adopting us
                 * reads it in the reply to {"op":"info"} */
                json_object_set_new(rep, "v", json_integer(LV_VMP_VERSION));
                lv_ctl_send(c, rep, 1000, NULL);
                json_decref(rep);
                if (quit)
                    break;
            }
            if (rc < 0)
                lv_ctl_conn_close(c);
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        lv_ctl_conn_close(&p->conns[i]);
}

/* After the VM ended: a normal end (exit 0, shutdown, destroy) empties the
 * VM's directory; anything else leaves it with a "crashed" note. */
static int finish(struct vmproc *p)
{
    struct lv_vm_result res;
    int status = 0;

    lv_vm_wait(p->vm, &res);
    unlinkat(p->dir_fd, "ctl.sock", 0);
    if (p->ending || (res.outcome == LV_VM_EXITED && res.status == 0)) {
        lvd_dir_empty(p->dir_fd); /* an empty directory: lightvmd removes it */
        return 0;
    }
    char why[sizeof(res.msg) + 32];
    if (res.outcome == LV_VM_EXITED)
        snprintf(why, sizeof(why), "guest exited with status %d", res.status);
    else
        snprintf(why, sizeof(why), "%s", res.msg);
    lvd_note_write(p->dir_fd, "crashed", why);
    status = res.outcome == LV_VM_EXITED ? res.status : 125;
    return status;
}

static int vmproc_usage(void)
{
    fprintf(stderr, "usage: lightvmd --vm-shell --memory MB --nics N --rundir DIR "
                    "[--bridge BR] [--console-cap BYTES] (started by lightvmd, with its "
                    "socket on fd %d)\n",
            LVD_SHELL_FD);
    return 2;
}

int vmproc_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vm-shell", no_argument, NULL, 'S'}, {"memory", required_argument, NULL, 'm'},
        {"nics", required_argument, NULL, 'n'}, {"rundir", required_argument, NULL, 'r'},
        {"bridge", required_argument, NULL, 'b'}, {"console-cap", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    struct vmproc p;
    struct lv_err err = {""};
    json_t *msg = NULL, *rep, *trace = NULL;
    sigset_t sigs;
    int c, rc;

    memset(&p, 0, sizeof(p));
    p.kvm.fd = p.ctl_fd = p.sig_fd = p.dir_fd = -1;
    p.console_cap = LV_CONSOLE_CAP_DEFAULT;
    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++)
        p.taps[i].fd = -1;
    p.mem_mb = 8;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'S':
            break;
        case 'm':
            p.mem_mb = strtoull(optarg, &end, 10);
            if (*end || p.mem_mb < LV_VM_MEMORY_MIN || p.mem_mb > LV_VM_MEMORY_MAX)
                return vmproc_usage();
            break;
        case 'n':
            p.nnics = (unsigned)strtoul(optarg, &end, 10);
            if (*end || p.nnics > LV_VM_MAX_NICS)
                return vmproc_usage();
            break;
        case 'r':
            p.rundir = optarg;
            break;
        case 'b':
            p.bridge = optarg;
            break;
        case 'C':
            p.console_cap = strtoull(optarg, &end, 10);
            if (*end || p.console_cap < LV_CONSOLE_CAP_MIN || p.console_cap > LV_CONSOLE_CAP_MAX)
                return vmproc_usage();
            break;
        default:
            return vmproc_usage();
        }
    }
    if (!p.rundir || optind != argc || fcntl(LVD_SHELL_FD, F_GETFD) < 0)
        return vmproc_usage();
    fcntl(LVD_SHELL_FD, F_SETFD, FD_CLOEXEC);
    lv_ctl_conn_init(&p.daemon, LVD_SHELL_FD);
    /* A VM process needs a few dozen fds (KVM, memory, taps, eventfds,
     * its socket and clients) whatever the daemon's soft limit: up to the
     * hard one. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* over RLIMIT_FSIZE: the write fails, counted by the console */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* before any thread: they inherit it */
    p.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);

    p.pid = lv_jail_host_pid(&err);
    rc = p.pid < 0 ? (int)p.pid : vmp_prepare(&p, &err);
    if (rc) {
        rep = lv_ctl_error("prepare: %s", err.msg);
        log_err(&p, "prepare", &err);
    } else {
        /* its taps: the daemon attaches them to the VM's bridges and
         * filters them (antispoof) before it hands us a VM; the bridge's
         * addresses, for the daemon's probe-MAC lookup */
        json_t *taps = json_array();
        for (unsigned i = 0; i < p.nnics; i++)
            json_array_append_new(taps, json_pack("{s:s,s:i}", "name", p.taps[i].name,
                                                  "ifindex", p.taps[i].ifindex));
        json_t *ips = json_array();
        for (int i = 0; i < p.nbridge_ips; i++)
            json_array_append_new(ips, json_integer(p.bridge_ips[i]));
        rep = json_pack("{s:b,s:b,s:i,s:O,s:o,s:o}", "ok", 1, "ready", 1, "v", LV_VMP_VERSION,
                        "prepare", p.prepare_trace, "taps", taps, "bridge_ips", ips);
    }
    p.prepared_us = lvd_now_us();
    if (lv_ctl_send(&p.daemon, rep, 5000, NULL) < 0 || rc) {
        json_decref(rep);
        rc = 1;
        goto out;
    }
    json_decref(rep);
    /* A shell waits for its one exec; EOF means the daemon is gone (it
     * also dies of PDEATHSIG): nothing to clean up but our own fds. */
    rc = lv_ctl_recv(&p.daemon, -1, &msg, &err);
    if (rc) {
        rc = rc == -EPIPE ? 0 : 1;
        goto out;
    }
    /* Told to exec: from here on the VM comes up even if the daemon dies
     * now (a new daemon adopts it); killed half-way by PDEATHSIG, it
     * would leave a VM directory without a VM. */
    prctl(PR_SET_PDEATHSIG, 0);
    if (strcmp(json_string_value(json_object_get(msg, "op")) ?: "", "exec")) {
        rep = lv_ctl_error("a shell only takes \"exec\"");
        rc = 1;
    } else if (lv_ctl_version_check(msg, LV_VMP_VERSION, "VM process", &err) < 0) {
        rep = lv_ctl_error("protocol: %s", err.msg);
        rc = 1;
    } else if ((rc = vmp_execute(&p, msg, &trace, &err)) < 0) {
        rep = lv_ctl_error("%s", err.msg);
        rc = 1; /* lightvmd removes the directory it renamed to vms/NAME */
    } else {
        rep = lv_ctl_ok();
        json_object_set_new(rep, "vm", vm_json(&p));
        json_object_set_new(rep, "execute", trace);
        json_object_set(rep, "prepare", p.prepare_trace);
        json_object_set_new(rep, "prepared_us_ago", json_real(lvd_now_us() - p.prepared_us));
    }
    json_decref(msg);
    json_object_set_new(rep, "v", json_integer(LV_VMP_VERSION));
    lv_ctl_send(&p.daemon, rep, 5000, NULL);
    json_decref(rep);
    lv_ctl_conn_close(&p.daemon);
    if (rc)
        goto out;
    write_spec(&p);
    serve(&p);
    rc = finish(&p);
out:
    lv_ctl_conn_close(&p.daemon);
    lv_vm_destroy(&p.vm);
    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++)
        lv_tap_close(&p.taps[i]);
    lv_kvm_close(&p.kvm);
    lv_console_close(&p.console); /* after the VM, which wrote to it */
    if (p.ctl_fd >= 0)
        close(p.ctl_fd);
    if (p.sig_fd >= 0)
        close(p.sig_fd);
    if (p.have_shell_dir && !p.jailed) /* never executed */
        lvd_shell_dir_remove(p.rundir, p.pid);
    else if (p.have_shell_dir) /* lightvmd removes the empty directory */
        lvd_dir_empty(p.dir_fd);
    if (p.dir_fd >= 0)
        close(p.dir_fd);
    json_decref(p.prepare_trace);
    json_decref(p.spec_json);
    if (p.jailed) {
        /* Nothing at exit can work in the jail (LeakSanitizer's check
         * needs /proc and ptrace): end here. */
        fflush(NULL);
        _exit(rc);
    }
    return rc;
}
