/*
 * shell.c: the two halves of a VM process's start (see vmproc.c). Prepare
 * does everything that does not depend on the VM and is paid before
 * anyone asks for one; execute does the VM-specific rest when lightvmd
 * hands the shell a VM: an image booted, or a snapshot restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "lightvm/build.h"
#include "lightvm/elf.h"
#include "lightvm/jail.h"
#include "lightvm/seccomp.h"
#include "lightvm/snapshot.h"
#include "vmproc.h"

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

/* The taps, up, NIC 0 on the flavor's bridge: the last netlink work a VM
 * process does (the daemon attaches taps to other bridges at exec). */
static int open_taps(struct vmproc *p, struct lv_vm_nic *nics, struct lv_err *err)
{
    struct lv_nl *nl = NULL;
    int rc = 0;

    if (p->nnics && (rc = lv_nl_open(&nl, err)) < 0)
        return rc;
    for (unsigned i = 0; !rc && i < p->nnics; i++) {
        /* Up but on no bridge: lightvmd attaches it at exec. */
        rc = lv_tap_open(NULL, &p->taps[i], err);
        if (!rc)
            rc = lv_link_set(nl, p->taps[i].name, NULL, 0, 1, err);
        if (!rc && i == 0 && p->bridge) /* the flavor's bridge: attached now */
            rc = lv_link_set_master(nl, p->taps[i].name, p->bridge, err);
        nics[i].tap_fd = p->taps[i].fd; /* MAC and addresses at execute */
    }
    if (!rc && p->bridge) {
        int n = lv_link_ipv4(nl, p->bridge, p->bridge_ips, LVD_BRIDGE_IPS, NULL);
        p->nbridge_ips = n > 0 ? n : 0;
    }
    lv_nl_close(&nl);
    return rc;
}

/* The VM's directory, made now under the shell's pid with its control
 * socket and console: lightvmd renames it to vms/NAME at exec, one
 * metadata operation where mkdir, a file creation and a socket rename
 * were (each 0.1-0.3 ms on this host's ext4). It belongs to the jail's
 * uid, which reaches it only through p->dir_fd. */
static int make_dir(struct vmproc *p, uid_t uid, gid_t gid, struct lv_err *err)
{
    char dir[4096], path[4200];
    int rc;

    if (lvd_shell_path(dir, sizeof(dir), p->rundir, p->pid, NULL) < 0)
        return lv_err_set(err, ENAMETOOLONG, "run directory path too long");
    if (mkdir(dir, 0700) < 0)
        return lv_err_set(err, errno, "%s: %s", dir, strerror(errno));
    p->have_shell_dir = 1;
    p->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p->dir_fd < 0)
        return lv_err_set(err, errno, "%s: %s", dir, strerror(errno));
    if (fchown(p->dir_fd, uid, gid) < 0)
        return lv_err_set(err, errno, "%s: chown: %s", dir, strerror(errno));
    /* The console: a log of at most console_cap bytes (console.h). */
    rc = lv_console_open_log(&p->console, dir, p->console_cap, err);
    if (rc)
        return rc;
    lv_vm_set_console(p->vm, p->console);
    snprintf(path, sizeof(path), "%s/ctl.sock", dir);
    p->ctl_fd = lv_ctl_listen(path, err);
    return p->ctl_fd < 0 ? p->ctl_fd : 0;
}

/* Everything the VM needs is open: from here on the process has no root,
 * no capabilities, no filesystem but its directory's fd (jail.h). */
static int enter_jail(struct vmproc *p, uid_t uid, gid_t gid, struct lv_err *err)
{
    struct lv_jail j = {
        .uid = uid, .gid = gid,
        .mount_at = p->rundir,
        /* the console's two files (each under the cap), spec.json, notes;
         * a save's memory file (the guest RAM) and state file (<= 1 MiB) */
        .fsize = p->console_cap + (2u << 20) + (p->mem_mb << 20),
        .nproc = LVD_JAIL_NPROC,
    };
    int rc = lv_jail_enter(&j, err);

    p->jailed = rc == 0;
    return rc;
}

int vmp_prepare(struct vmproc *p, struct lv_err *err)
{
    struct lv_vm_nic nics[LV_VM_MAX_NICS];
    int tap_fds[LV_VM_MAX_NICS];
    struct lv_vm_shape shape;
    double t0 = lvd_now_us(), t_kvm, t_taps, t_vm, t_dir, t_jail;
    uid_t uid;
    gid_t gid;
    int rc;

    if ((rc = lv_jail_ids(p->pid, &uid, &gid, err)) < 0)
        return rc;
    rc = lv_kvm_open(&p->kvm, err);
    if (rc)
        return rc;
    t_kvm = lvd_now_us();
    memset(nics, 0, sizeof(nics));
    if ((rc = open_taps(p, nics, err)) < 0)
        return rc;
    t_taps = lvd_now_us();
    for (unsigned i = 0; i < p->nnics; i++)
        tap_fds[i] = nics[i].tap_fd;
    /* The host pages every boot writes are allocated now (populate): no
     * page faults for them at execute. */
    shape = (struct lv_vm_shape){
        .mem_size = p->mem_mb << 20, .nnics = p->nnics, .tap_fds = tap_fds,
        .flags = LV_VM_F_SECCOMP, /* sandbox (issue 10): the threads' filters */
        .populate = 1,
    };
    rc = lv_build_prepare(&p->vm, &p->kvm, &shape, err);
    if (rc)
        return rc;
    t_vm = lvd_now_us();
    rc = make_dir(p, uid, gid, err);
    t_dir = lvd_now_us();
    /* The heavy part ran under SCHED_IDLE (pool.c). Waiting costs no CPU
     * and an exec must be served at once: back to SCHED_OTHER before the
     * vCPU and I/O threads are made (they inherit it), and before the
     * jail (without CAP_SYS_NICE a process cannot leave SCHED_IDLE). */
    struct sched_param sp = {0};
    if (!rc && sched_setscheduler(0, SCHED_OTHER, &sp) < 0)
        rc = lv_err_set(err, errno, "leaving SCHED_IDLE: %s", strerror(errno));
    if (!rc)
        rc = enter_jail(p, uid, gid, err);
    if (rc)
        return rc;
    t_jail = lvd_now_us();
    rc = lv_vm_spawn_threads(p->vm, err);
    if (!rc && !getenv("LIGHTVM_NO_WARM")) /* (the knob is for measuring it) */
        rc = lv_vm_warm(p->vm, 256u << 10, err);
    if (rc)
        return rc;
    /* Sandbox (issue 10), last: this thread's seccomp allow-list, after
     * the threads are made (it allows no new one; seccomp.h), while the
     * new vCPU thread installs its own; then theirs must be in. */
    double t_sc = lvd_now_us();
    rc = lv_seccomp_install(LV_SECCOMP_VMM, err);
    if (!rc)
        rc = lv_vm_threads_ready(p->vm, err);
    if (rc)
        return rc;
    p->prepare_trace = json_object();
    json_object_set_new(p->prepare_trace, "populate_dir", json_real(t_dir - t_vm));
    json_object_set_new(p->prepare_trace, "jail", json_real(t_jail - t_dir));
    json_object_set_new(p->prepare_trace, "threads", json_real(t_sc - t_jail));
    json_object_set_new(p->prepare_trace, "seccomp", json_real(lvd_now_us() - t_sc));
    json_object_set_new(p->prepare_trace, "open_kvm", json_real(t_kvm - t0));
    json_object_set_new(p->prepare_trace, "taps", json_real(t_taps - t_kvm));
    add_phases(p->prepare_trace, lv_vm_trace(p->vm), LV_PH_CREATE_VM, LV_PH_DEVICES);
    json_object_set_new(p->prepare_trace, "total", json_real(lvd_now_us() - t0));
    return 0;
}

/* ---- execute ---- */

int vmp_start(struct vmproc *p, json_t **trace, struct lv_err *err)
{
    double t0 = lvd_now_us();
    struct timespec now;
    int rc;

    p->have_shell_dir = 0; /* lightvmd renamed it to vms/NAME */
    if ((rc = lv_vm_start(p->vm, err)) < 0)
        return rc;
    clock_gettime(CLOCK_REALTIME, &now);
    p->started_wall = now.tv_sec + now.tv_nsec / 1e9;
    *trace = json_object();
    json_object_set_new(*trace, "start_threads", json_real(lvd_now_us() - t0));
    return 0;
}

/* "probe": "A.B.C.D:PORT" and, when lightvmd found that address on the
 * first vif's bridge (lv_probe_find_mac), "probe_mac". */
static int get_probe(json_t *msg, struct lv_probe *pr, struct lv_err *err)
{
    const char *probe = json_string_value(json_object_get(msg, "probe"));
    const char *pmac = json_string_value(json_object_get(msg, "probe_mac"));
    int rc;

    memset(pr, 0, sizeof(*pr));
    if (!probe)
        return 0;
    if ((rc = lv_probe_parse(probe, pr, err)) < 0)
        return rc;
    if (pmac && (rc = lv_mac_parse(pmac, pr->mac, err)) < 0)
        return rc;
    pr->has_mac = pmac != NULL;
    return 0;
}

/* The rest of an execute, with the image open and checked. */
static int execute(struct vmproc *p, json_t *msg, struct lv_image *im, double t0, double t_img,
                   json_t **trace, struct lv_err *err)
{
    struct lv_probe probe;
    double t_id, t_load;
    int rc;

    rc = get_probe(msg, &probe, err);
    if (!rc)
        rc = lv_build_identity(p->vm, &p->spec, &probe, err);
    t_id = lvd_now_us();
    if (rc)
        return rc;
    rc = lv_vm_load_image(p->vm, im, err);
    t_load = lvd_now_us();
    if (rc)
        return rc;
    if ((rc = vmp_start(p, trace, err)) < 0)
        return rc;
    json_object_set_new(*trace, "read_image", json_real(t_img - t0));
    json_object_set_new(*trace, "identity", json_real(t_id - t_img));
    add_phases(*trace, lv_vm_trace(p->vm), LV_PH_LOAD_IMAGE, LV_PH_BOOT_INFO);
    json_object_set_new(*trace, "load", json_real(t_load - t_id));
    json_object_set_new(*trace, "total", json_real(lvd_now_us() - t0));
    return 0;
}

/* The execute of a restore: the snapshot's two files (passed with the
 * exec, lightvmd opened them) validated, the spec's identity, the
 * snapshot restored over the shell's VM, then the vCPU goes. */
static int restore(struct vmproc *p, int copy, double t0, json_t **trace, struct lv_err *err)
{
    int fds[LV_CTL_MAX_FDS];
    unsigned n = lv_ctl_take_fds(&p->daemon, fds);
    struct lv_snap *snap = NULL;
    double t_open, t_restore;
    int rc = n == 2 ? lv_snap_open(&snap, fds[0], fds[1], err)
                    : lv_err_set(err, EBADF, "exec: want a snapshot's two files passed with it");

    for (unsigned i = 0; i < LV_CTL_MAX_FDS; i++)
        if (fds[i] >= 0)
            close(fds[i]); /* (the snapshot keeps its own memory file fd) */
    t_open = lvd_now_us();
    if (!rc)
        rc = lv_build_restore(p->vm, &p->spec, snap, copy, err);
    lv_snap_close(&snap);
    t_restore = lvd_now_us();
    if (rc)
        return rc;
    if ((rc = vmp_start(p, trace, err)) < 0)
        return rc;
    json_object_set_new(*trace, "read_snapshot", json_real(t_open - t0));
    json_object_set_new(*trace, "restore", json_real(t_restore - t_open));
    json_object_set_new(*trace, "total", json_real(lvd_now_us() - t0));
    return 0;
}

int vmp_execute(struct vmproc *p, json_t *msg, json_t **trace, struct lv_err *err)
{
    json_t *spec = json_object_get(msg, "spec");
    json_int_t id = json_integer_value(json_object_get(msg, "id"));
    struct lv_image im;
    double t0 = lvd_now_us(), t_img;
    int rc;

    if (!json_is_object(spec) || id <= 0)
        return lv_err_set(err, EPROTO, "exec: no spec or id");
    p->spec_json = json_incref(spec);
    if ((rc = lv_vm_spec_from_json(spec, &p->spec, err)) < 0)
        return rc;
    p->id = (long)id;
    const char *from = json_string_value(json_object_get(msg, "from"));
    if (from && !strcmp(from, LVD_FROM_SNAPSHOT))
        return restore(p, json_is_true(json_object_get(msg, "copy")), t0, trace, err);
    if (from && !strcmp(from, LVD_FROM_MIGRATION))
        return vmp_migrate_in(p, 0, t0, trace, err);
    if (from && !strcmp(from, LVD_FROM_MIGRATION_LOCAL))
        return vmp_migrate_in(p, 1, t0, trace, err);
    if (!from || strcmp(from, LVD_FROM_IMAGE))
        return lv_err_set(err, EPROTO, "exec: from what? (\"from\": image, snapshot or "
                          "migration)");
    /* The image first, before anything VM-specific is done: opened without
     * blocking (a FIFO is refused) and read, never mapped (a file cut short
     * meanwhile is a read error, not a SIGBUS), until the load. */
    /* lightvmd opened the image (the jail has no filesystem) and passed it
     * with the exec. */
    rc = lv_image_open_fd(lv_ctl_take_fd(&p->daemon), p->spec.kernel, &im, err);
    if (!rc)
        rc = lv_image_check(&im, p->mem_mb << 20, err);
    t_img = lvd_now_us();
    if (!rc)
        rc = execute(p, msg, &im, t0, t_img, trace, err);
    lv_image_close(&im);
    return rc;
}
