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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "daemon.h"
#include "lightvm/elf.h"
#include "lightvm/net.h"
#include "lightvm/vm.h"

#define MAX_CONNS 8

struct vmproc {
    const char *rundir;
    uint64_t mem_mb;
    unsigned nnics;
    const char *bridge;          /* NIC 0 is attached to it at prepare (or NULL) */
    uint32_t bridge_ips[8];      /* its IPv4 addresses, read at prepare */
    int nbridge_ips;
    char shell_sock[4096];       /* ctl socket bound at prepare, renamed at execute */
    struct lv_kvm kvm;
    struct lv_tap taps[LV_VM_MAX_NICS];
    struct lv_nl *nl;            /* for attaching the taps at execute */
    struct lv_vm *vm;
    struct lv_ctl_conn daemon;   /* the shell socketpair, until executed */
    /* after execute */
    struct lv_vm_spec spec;
    long id;
    uint32_t probe_ip;
    int console_fd, ctl_fd, sig_fd;
    struct lv_ctl_conn conns[MAX_CONNS];
    double started_wall;         /* CLOCK_REALTIME seconds at start */
    double started_mono_us;
    double prepared_us;          /* lvd_now_us() when ready was sent */
    json_t *prepare_trace;
    int ending;                  /* destroy/shutdown asked: a normal end */
};

static void log_err(const char *what, const struct lv_err *err)
{
    fprintf(stderr, "lightvmd vm[%d]: %s: %s\n", (int)getpid(), what, err->msg);
}

static double span_us(const struct lv_span *s)
{
    return s->start_ns && s->end_ns >= s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e3 : 0;
}

static void add_phases(json_t *o, const struct lv_vm_trace *t, int first, int last)
{
    static const char *const names[LV_PH_NPHASES] = {
        [LV_PH_CREATE_VM] = "create_vm", [LV_PH_MEMORY] = "memory",
        [LV_PH_VCPU] = "vcpu",           [LV_PH_DEVICES] = "devices",
        [LV_PH_LOAD_IMAGE] = "load_image", [LV_PH_BOOT_INFO] = "boot_info",
        [LV_PH_START] = "start_vcpu",
    };
    for (int i = first; i <= last; i++)
        json_object_set_new(o, names[i], json_real(span_us(&t->phase[i])));
}

/* ---- prepare ---- */

static int prepare(struct vmproc *p, struct lv_err *err)
{
    struct lv_vm_nic nics[LV_VM_MAX_NICS];
    struct lv_vm_config cfg;
    double t0 = lvd_now_us(), t_kvm, t_taps;
    int rc;

    rc = lv_kvm_open(&p->kvm, err);
    if (rc)
        return rc;
    t_kvm = lvd_now_us();
    memset(nics, 0, sizeof(nics));
    if (p->nnics && (rc = lv_nl_open(&p->nl, err)) < 0)
        return rc;
    for (unsigned i = 0; i < p->nnics; i++) {
        /* Up but on no bridge: execute only attaches it. */
        rc = lv_tap_open(NULL, &p->taps[i], err);
        if (!rc)
            rc = lv_link_set(p->nl, p->taps[i].name, NULL, 0, 1, err);
        if (!rc && i == 0 && p->bridge) /* the flavor's bridge: attached now */
            rc = lv_link_set_master(p->nl, p->taps[i].name, p->bridge, err);
        if (rc)
            return rc;
        nics[i].tap_fd = p->taps[i].fd; /* MAC and addresses at execute */
    }
    t_taps = lvd_now_us();
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = p->mem_mb << 20;
    cfg.nnics = p->nnics;
    cfg.nics = nics;
    cfg.console_fd = -1;
    rc = lv_vm_create(&p->vm, &p->kvm, &cfg, err);
    if (rc)
        return rc;
    double t_vm = lvd_now_us();
    /* Host pages every boot writes: the image's first 256 KiB and the top
     * of the stack (no page faults for them at execute). */
    rc = lv_vm_populate(p->vm, LV_GPA_IMAGE_MIN, 256u << 10, err);
    if (!rc)
        rc = lv_vm_populate(p->vm, LV_GPA_STACK_TOP - (16u << 10), 16u << 10, err);
    if (rc)
        return rc;
    /* The control socket, under a temporary name until execute. */
    if (lvd_shell_sock_path(p->shell_sock, sizeof(p->shell_sock), p->rundir, getpid()) < 0)
        return lv_err_set(err, ENAMETOOLONG, "run directory path too long");
    p->ctl_fd = lv_ctl_listen(p->shell_sock, err);
    if (p->ctl_fd < 0) {
        p->shell_sock[0] = '\0';
        return p->ctl_fd;
    }
    if (p->bridge) {
        int n = lv_link_ipv4(p->nl, p->bridge, p->bridge_ips, 8, NULL);
        p->nbridge_ips = n > 0 ? n : 0;
    }
    /* The heavy part ran under SCHED_IDLE (pool.c). Waiting costs no CPU
     * and an exec must be served at once: back to SCHED_OTHER before the
     * vCPU and I/O threads are made (they inherit it). */
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_OTHER, &sp);
    rc = lv_vm_spawn_threads(p->vm, err);
    if (rc)
        return rc;
    p->prepare_trace = json_object();
    json_object_set_new(p->prepare_trace, "populate_ctl_threads", json_real(lvd_now_us() - t_vm));
    json_object_set_new(p->prepare_trace, "open_kvm", json_real(t_kvm - t0));
    json_object_set_new(p->prepare_trace, "taps", json_real(t_taps - t_kvm));
    add_phases(p->prepare_trace, lv_vm_trace(p->vm), LV_PH_CREATE_VM, LV_PH_DEVICES);
    json_object_set_new(p->prepare_trace, "total", json_real(lvd_now_us() - t0));
    return 0;
}

/* ---- the VM's description ---- */

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
        json_array_append_new(vifs, json_pack("{s:s,s:s,s:s,s:s}", "bridge", v->bridge, "tap",
                                              p->taps[i].name, "mac", mac, "ip",
                                              v->ip ? ip : ""));
    }
    return json_pack("{s:s,s:I,s:s,s:i,s:I,s:i,s:s,s:f,s:f,s:o,s:o}", "name", p->spec.name, "id",
                     (json_int_t)p->id, "state", lv_vm_is_paused(p->vm) ? "paused" : "running",
                     "pid", (int)getpid(), "memory", (json_int_t)p->spec.memory_mb, "vcpus", 1,
                     "kernel", p->spec.kernel, "uptime_s",
                     now.tv_sec + now.tv_nsec / 1e9 - p->started_wall, "started", p->started_wall,
                     "vifs", vifs, "boot", boot);
}

/* ---- execute ---- */

static int attach_vifs(struct vmproc *p, struct lv_err *err)
{
    int rc = 0;

    for (unsigned i = 0; !rc && i < p->spec.nvifs; i++) {
        struct lv_vif_spec *v = &p->spec.vifs[i];
        struct lv_vm_nic n;

        if (!v->has_mac && (rc = lv_mac_random(v->mac, err)) < 0)
            break;
        memset(&n, 0, sizeof(n));
        memcpy(n.mac, v->mac, 6);
        n.ip = v->ip;
        n.netmask = v->netmask;
        n.gw = v->gw;
        rc = lv_vm_set_nic(p->vm, i, &n, err);
        if (!rc && !(i == 0 && p->bridge && !strcmp(p->bridge, v->bridge)))
            /* says so if the bridge does not exist or is not one */
            rc = lv_link_set_master(p->nl, p->taps[i].name, v->bridge, err);
    }
    return rc;
}

/* The probe target is the first bridge itself (lightvm create --wait-net
 * on the bridge's address): give the guest its MAC, saving an ARP round
 * trip before network up. */
static void set_probe_mac(struct vmproc *p)
{
    uint8_t mac[6];

    if (!p->probe_ip || !p->spec.nvifs)
        return;
    if (p->bridge && !strcmp(p->bridge, p->spec.vifs[0].bridge)) {
        struct lv_link l;
        /* Its addresses were read at prepare and its MAC pinned when the
         * tap joined (lv_link_set_master): one request for the MAC. */
        for (int i = 0; i < p->nbridge_ips; i++)
            if (p->bridge_ips[i] == p->probe_ip &&
                lv_link_get(p->nl, p->bridge, &l, NULL) == 0 && l.has_mac)
                lv_vm_set_probe_mac(p->vm, l.mac);
        return;
    }
    if (lv_bridge_owns_ip(p->nl, p->spec.vifs[0].bridge, p->probe_ip, mac, NULL) == 1)
        lv_vm_set_probe_mac(p->vm, mac);
}

static int execute(struct vmproc *p, json_t *msg, json_t **trace, struct lv_err *err)
{
    json_t *spec = json_object_get(msg, "spec");
    const char *probe = json_string_value(json_object_get(msg, "probe"));
    json_int_t id = json_integer_value(json_object_get(msg, "id"));
    char path[4096], *js;
    const uint8_t *img = NULL;
    size_t img_size = 0;
    struct lv_elf_info info;
    double t0 = lvd_now_us(), t_vifs, t_img;
    int rc;

    if (!json_is_object(spec) || id <= 0)
        return lv_err_set(err, EPROTO, "exec: no spec or id");
    js = json_dumps(spec, JSON_COMPACT);
    rc = js ? lv_vm_spec_parse(js, strlen(js), &p->spec, err) : -ENOMEM;
    free(js);
    if (rc)
        return rc;
    p->id = (long)id;
    if (p->spec.memory_mb != p->mem_mb || p->spec.nvifs != p->nnics)
        return lv_err_set(err, EINVAL, "exec: spec (%llu MiB, %u vifs) does not fit this shell "
                          "(%llu MiB, %u NICs)", (unsigned long long)p->spec.memory_mb,
                          p->spec.nvifs, (unsigned long long)p->mem_mb, p->nnics);
    if (probe) {
        uint32_t ip;
        char host[32];
        const char *colon = strrchr(probe, ':');
        char *end;
        unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (!colon || (size_t)(colon - probe) >= sizeof(host) || *end || !port || port > 65535)
            return lv_err_set(err, EINVAL, "probe '%s': want A.B.C.D:PORT", probe);
        memcpy(host, probe, (size_t)(colon - probe));
        host[colon - probe] = '\0';
        rc = lv_ipv4_parse(host, &ip, NULL, err);
        if (rc)
            return rc;
        lv_vm_set_probe(p->vm, ip, __builtin_bswap16((uint16_t)port));
        p->probe_ip = ip;
    }
    rc = attach_vifs(p, err);
    if (rc)
        return rc;
    double t_att = lvd_now_us();
    set_probe_mac(p);
    t_vifs = lvd_now_us();
    rc = lv_vm_set_cmdline(p->vm, p->spec.cmdline, err);
    if (!rc)
        rc = lv_image_map(p->spec.kernel, &img, &img_size, err);
    if (!rc && (rc = lv_elf_check(img, img_size, p->mem_mb << 20, &info, err)) < 0) {
        char why[LV_ERR_MAX];
        snprintf(why, sizeof(why), "%s", err ? err->msg : "");
        rc = lv_err_set(err, -rc, "%s: %s", p->spec.kernel, why);
    }
    if (rc) {
        lv_image_unmap(img, img_size);
        return rc;
    }
    t_img = lvd_now_us();
    double t_load = 0, t_ctl = 0;
    if (lvd_vm_path(path, sizeof(path), p->rundir, p->spec.name, "console.log") < 0)
        rc = lv_err_set(err, ENAMETOOLONG, "run directory path too long");
    if (!rc) {
        p->console_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (p->console_fd < 0)
            rc = lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    }
    if (!rc) {
        lv_vm_set_console(p->vm, p->console_fd);
        rc = lv_vm_load_elf(p->vm, img, img_size, err);
        t_load = lvd_now_us();
    }
    lv_image_unmap(img, img_size);
    if (!rc && lvd_vm_path(path, sizeof(path), p->rundir, p->spec.name, "ctl.sock") == 0) {
        /* The socket bound at prepare takes the VM's name. */
        if (rename(p->shell_sock, path) < 0)
            rc = lv_err_set(err, errno, "%s: %s", path, strerror(errno));
        else
            p->shell_sock[0] = '\0';
    }
    if (rc)
        return rc;
    t_ctl = lvd_now_us();
    rc = lv_vm_start(p->vm, err);
    if (rc)
        return rc;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    p->started_wall = now.tv_sec + now.tv_nsec / 1e9;
    p->started_mono_us = lvd_now_us();
    *trace = json_object();
    json_object_set_new(*trace, "vifs", json_real(t_att - t0));
    json_object_set_new(*trace, "probe_mac", json_real(t_vifs - t_att));
    json_object_set_new(*trace, "read_image", json_real(t_img - t_vifs));
    add_phases(*trace, lv_vm_trace(p->vm), LV_PH_LOAD_IMAGE, LV_PH_BOOT_INFO);
    json_object_set_new(*trace, "console_load", json_real(t_load - t_img));
    json_object_set_new(*trace, "ctl_socket", json_real(t_ctl - t_load));
    json_object_set_new(*trace, "start_threads", json_real(lvd_now_us() - t_ctl));
    json_object_set_new(*trace, "total", json_real(lvd_now_us() - t0));
    return 0;
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

static json_t *handle(struct vmproc *p, json_t *req, int *quit)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    struct lv_err err = {""};
    double t0 = lvd_now_us();

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
        json_int_t ms = json_is_integer(t) ? json_integer_value(t) : 5000;
        if (t && (!json_is_integer(t) || ms < 0 || ms > 600000))
            return lv_ctl_error("timeout_ms: want an integer 0..600000");
        int graceful = end_vm(p, op[0] == 's', (int)ms);
        *quit = 1;
        json_t *r = lv_ctl_ok();
        if (op[0] == 's')
            json_object_set_new(r, "graceful", json_boolean(graceful));
        return r;
    }
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
                json_t *rep = handle(p, req, &quit);
                json_decref(req);
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

/* After the VM ended: a normal end (exit 0, shutdown, destroy) removes the
 * VM's directory; anything else leaves it with a "crashed" note. */
static int finish(struct vmproc *p)
{
    struct lv_vm_result res;
    char path[4096];
    int status = 0;

    lv_vm_wait(p->vm, &res);
    if (lvd_vm_path(path, sizeof(path), p->rundir, p->spec.name, "ctl.sock") == 0)
        unlink(path);
    if (p->ending || (res.outcome == LV_VM_EXITED && res.status == 0)) {
        lvd_vm_dir_remove(p->rundir, p->spec.name);
        return 0;
    }
    if (lvd_vm_path(path, sizeof(path), p->rundir, p->spec.name, "crashed") == 0) {
        FILE *f = fopen(path, "we");
        if (f) {
            if (res.outcome == LV_VM_EXITED)
                fprintf(f, "guest exited with status %d\n", res.status);
            else
                fprintf(f, "%s\n", res.msg);
            fclose(f);
        }
    }
    status = res.outcome == LV_VM_EXITED ? res.status : 125;
    return status;
}

static int vmproc_usage(void)
{
    fprintf(stderr, "usage: lightvmd --vm-shell --memory MB --nics N --rundir DIR "
                    "[--bridge BR] (started by lightvmd, with its socket on fd %d)\n",
            LVD_SHELL_FD);
    return 2;
}

int vmproc_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vm-shell", no_argument, NULL, 'S'}, {"memory", required_argument, NULL, 'm'},
        {"nics", required_argument, NULL, 'n'}, {"rundir", required_argument, NULL, 'r'},
        {"bridge", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0},
    };
    struct vmproc p;
    struct lv_err err = {""};
    json_t *msg = NULL, *rep, *trace = NULL;
    sigset_t sigs;
    int c, rc;

    memset(&p, 0, sizeof(p));
    p.kvm.fd = p.console_fd = p.ctl_fd = p.sig_fd = -1;
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
        default:
            return vmproc_usage();
        }
    }
    if (!p.rundir || optind != argc || fcntl(LVD_SHELL_FD, F_GETFD) < 0)
        return vmproc_usage();
    fcntl(LVD_SHELL_FD, F_SETFD, FD_CLOEXEC);
    lv_ctl_conn_init(&p.daemon, LVD_SHELL_FD);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* before any thread: they inherit it */
    p.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);

    rc = prepare(&p, &err);
    if (rc) {
        rep = lv_ctl_error("prepare: %s", err.msg);
        log_err("prepare", &err);
    } else {
        rep = json_pack("{s:b,s:b,s:O}", "ok", 1, "ready", 1, "prepare", p.prepare_trace);
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
    if (strcmp(json_string_value(json_object_get(msg, "op")) ?: "", "exec")) {
        rep = lv_ctl_error("a shell only takes \"exec\"");
        rc = 1;
    } else if ((rc = execute(&p, msg, &trace, &err)) < 0) {
        rep = lv_ctl_error("%s", err.msg);
        rc = 1;
    } else {
        rep = lv_ctl_ok();
        json_object_set_new(rep, "vm", vm_json(&p));
        json_object_set_new(rep, "execute", trace);
        json_object_set(rep, "prepare", p.prepare_trace);
        json_object_set_new(rep, "prepared_us_ago", json_real(lvd_now_us() - p.prepared_us));
    }
    json_decref(msg);
    /* Outlive the daemon from here on. */
    if (!rc)
        prctl(PR_SET_PDEATHSIG, 0);
    lv_ctl_send(&p.daemon, rep, 5000, NULL);
    json_decref(rep);
    lv_ctl_conn_close(&p.daemon);
    if (rc)
        goto out;
    serve(&p);
    rc = finish(&p);
out:
    lv_ctl_conn_close(&p.daemon);
    lv_vm_destroy(&p.vm);
    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++)
        lv_tap_close(&p.taps[i]);
    lv_nl_close(&p.nl);
    lv_kvm_close(&p.kvm);
    if (p.console_fd >= 0)
        close(p.console_fd);
    if (p.ctl_fd >= 0)
        close(p.ctl_fd);
    if (p.sig_fd >= 0)
        close(p.sig_fd);
    if (p.shell_sock[0])
        unlink(p.shell_sock);
    json_decref(p.prepare_trace);
    return rc;
}
