/*
 * create.c: lightvmd's create (docs/protocol.md): the spec checked, a
 * shell of its flavor taken from the pool (or prepared now: the cold
 * path), its taps filtered and attached, its directory named after the
 * VM, then the exec: the image's fd passed to the shell, which becomes
 * the VM's process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/build.h"
#include "lightvm/elf.h"
#include "lightvm/snapshot.h"
#include "lightvmd.h"

/* The shell's directory becomes the VM's: rename() refuses if a VM of
 * that name exists (the name is unique across daemons too). */
static int claim_dir(struct lvd_daemon *d, const struct lvd_shell *s, const char *name,
                     struct lv_err *err)
{
    char from[PATH_MAX], to[PATH_MAX];

    if (lvd_shell_path(from, sizeof(from), d->rundir, s->pid, NULL) < 0 ||
        lvd_vm_path(to, sizeof(to), d->rundir, name, NULL) < 0)
        return lv_err_set(err, ENAMETOOLONG, "run directory path too long");
    if (rename(from, to) == 0)
        return 0;
    if (errno == EEXIST || errno == ENOTEMPTY)
        return lv_err_set(err, EEXIST, "a VM named '%s' already exists (%s)", name, to);
    return lv_err_set(err, errno, "%s: %s", to, strerror(errno));
}

/* An incoming migration (copied or local): its connection goes to one
 * shell only, and its exec's reply comes once the VM has moved. */
static int is_migration(const struct lvd_source *src)
{
    return !strcmp(src->from, LVD_FROM_MIGRATION) || !strcmp(src->from, LVD_FROM_MIGRATION_LOCAL);
}

/* The exec of (spec) on shell (s): its taps attached, its directory named
 * after the VM, then the exec, with the source's fds. 0 and the shell's reply (*sr), or -errno
 * with err (the shell's own error, or why it did not answer). */
static int exec_shell(struct lvd_daemon *d, struct lvd_shell *s, const struct lv_vm_spec *vs,
                      json_t *spec, json_t *probe, const struct lvd_source *src, long id, json_t **sr,
                      struct lv_err *err)
{
    json_t *ex = json_pack("{s:s,s:O,s:I,s:i,s:s}", "op", "exec", "spec", spec, "id",
                           (json_int_t)id, "v", LV_VMP_VERSION, "from", src->from);
    int rc;

    *sr = NULL;
    if (!ex)
        return lv_err_set(err, ENOMEM, "out of memory");
    if (probe)
        json_object_set(ex, "probe", probe);
    if (src->copy)
        json_object_set_new(ex, "copy", json_true());
    rc = lvd_vmnet_attach(d, s, vs, ex, err);
    if (!rc)
        rc = claim_dir(d, s, vs->name, err);
    if (!rc)
        rc = lv_ctl_send_fds(&s->conn, ex, src->fds, src->nfds, LVD_CALL_TIMEOUT_MS, err);
    /* Its CPU group was idle while it prepared and waited: the normal
     * share now, once the exec is on its way (the writes overlap the
     * shell's work on it rather than delay the request), so that its
     * guest, started before the reply, runs at the share of a VM. */
    if (!rc)
        lvd_limits_activate(&d->limits, s->pid);
    if (!rc) /* (an incoming migration replies once the VM has moved) */
        rc = lv_ctl_recv(&s->conn, !is_migration(src) ? LVD_EXEC_TIMEOUT_MS
                                                                       : LVD_MIGRATE_TIMEOUT_MS,
                         sr, err);
    json_decref(ex);
    if (!rc && !json_is_true(json_object_get(*sr, "ok"))) {
        const char *e = json_string_value(json_object_get(*sr, "error"));
        rc = lv_err_set(err, EIO, "%s", e ? e : "failed");
        json_decref(*sr);
        *sr = NULL;
    }
    return rc;
}

/* A shell whose exec failed: killed (lvd_shell_free waits for its end),
 * its taps' antispoof chains removed.
 * One that died or timed out may have renamed its directory to vms/NAME
 * before: that directory, if it was not there before the exec, is removed
 * with it, so a failed create leaves nothing. */
static void drop_failed_shell(struct lvd_daemon *d, struct lvd_shell **s, const char *name,
                              int dir_existed)
{
    lvd_shell_free(s, 1);
    if (!dir_existed)
        lvd_vm_dir_remove(d->rundir, name);
}

/* Takes a shell for (vs) (from the pool, or prepared now: the cold path)
 * and execs (spec) on it. A pool shell that died while it waited (EPIPE)
 * is replaced by the next one, a few times. On success the shell (*out,
 * the caller's) has become the VM's process and (*sr) is its reply. */
static int get_and_exec(struct lvd_daemon *d, const struct lv_vm_spec *vs, json_t *spec,
                        json_t *probe, const struct lvd_source *src, long id, struct lvd_shell **out,
                        json_t **sr, int *hit, double *t_shell, double *t_guard,
                        struct lv_err *err)
{
    char why[LV_ERR_MAX];
    struct lvd_flavor *f = lvd_pool_find(&d->pool, (unsigned)vs->memory_mb, vs->nvifs,
                                         vs->nvifs ? vs->vifs[0].bridge : NULL);
    char dir[PATH_MAX];
    struct stat st;
    int rc = -EPIPE;

    *out = NULL;
    if (lvd_vm_path(dir, sizeof(dir), d->rundir, vs->name, NULL) < 0)
        return lv_err_set(err, ENAMETOOLONG, "run directory path too long");
    int dir_existed = stat(dir, &st) == 0;
    for (int attempt = 0; attempt < 4 && rc == -EPIPE; attempt++) {
        struct lvd_shell *s = f && attempt < 3 ? lvd_flavor_take(f) : NULL;
        *hit = s != NULL;
        if (f && attempt == 0)
            *hit ? f->hits++ : f->misses++;
        if (!s) {
            struct lvd_spawn_ctx ctx = lvd_spawn_ctx_of(d);
            rc = lvd_shell_spawn(&s, &ctx, (unsigned)vs->memory_mb, vs->nvifs, NULL, err);
            if (!rc && (rc = lvd_shell_on_ready(s, LVD_EXEC_TIMEOUT_MS, err)) < 0)
                lvd_shell_free(&s, 1);
            if (rc < 0) {
                snprintf(why, sizeof(why), "%s", err->msg);
                return lv_err_set(err, -rc, "preparing a VM for '%s': %s", vs->name, why);
            }
            attempt = 3; /* a fresh shell: no more retries */
        }
        *t_shell = lvd_now_us();
        /* The guest never runs unfiltered: its taps' rules come first. */
        rc = lvd_guard_install(d->nft, s, vs, err);
        if (rc) {
            drop_failed_shell(d, &s, vs->name, dir_existed);
            snprintf(why, sizeof(why), "%s", err->msg);
            return lv_err_set(err, -rc, "creating '%s': %s", vs->name, why);
        }
        *t_guard = lvd_now_us();
        rc = exec_shell(d, s, vs, spec, probe, src, id, sr, err);
        if (!rc) {
            *out = s;
            return 0;
        }
        drop_failed_shell(d, &s, vs->name, dir_existed); /* (its chains with it) */
        if (is_migration(src))
            break; /* its connection went with that shell: no other can take it */
        if (rc == -EPIPE)
            fprintf(stderr, "lightvmd: create %s: a pool shell had died; taking another\n",
                    vs->name);
    }
    snprintf(why, sizeof(why), "%s", err->msg);
    return lv_err_set(err, -rc, "creating '%s': %s", vs->name, why);
}

/* The snapshot at (path) and (path).mem opened into (src) and checked
 * whole (lv_snap_open: the VM process checks it again, but a bad one is
 * refused here before a shell is spent on it); (*vs) is its saved spec
 * with the keys of (over) (may be NULL) in place of its own. NULL, or an
 * error reply; on error nothing stays open. */
static json_t *open_snapshot(const char *path, json_t *over, struct lvd_source *src,
                             struct lv_vm_spec *vs)
{
    char mem[PATH_MAX];
    struct lv_err err = {""};
    struct lv_snap *snap = NULL;
    json_t *base = NULL, *rep = NULL;
    size_t len;

    snprintf(mem, sizeof(mem), "%s.mem", path);
    src->from = LVD_FROM_SNAPSHOT;
    src->fds[0] = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (src->fds[0] < 0)
        return lv_ctl_error("%s: %s", path, strerror(errno));
    src->nfds = 1;
    src->fds[1] = open(mem, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (src->fds[1] < 0)
        rep = lv_ctl_error("%s: %s (the snapshot's memory file)", mem, strerror(errno));
    else
        src->nfds = 2;
    if (!rep && lv_snap_open(&snap, src->fds[0], src->fds[1], &err) < 0)
        rep = lv_ctl_error("%s: %s", path, err.msg);
    const char *text = snap ? lv_snap_spec(snap, &len) : NULL;
    if (!rep && text)
        base = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!rep && !json_is_object(base))
        rep = lv_ctl_error("%s: the snapshot has no VM configuration lightvmd can read",
                           path);
    if (!rep && over)
        json_object_update(base, over);
    if (!rep && lv_vm_spec_from_json(base, vs, &err) < 0)
        rep = lv_ctl_error("%s", err.msg);
    if (!rep && (uint64_t)vs->memory_mb << 20 != lv_snap_mem_size(snap))
        rep = lv_ctl_error("memory: %llu MiB, but the snapshot's VM has %llu MiB",
                           (unsigned long long)vs->memory_mb,
                           (unsigned long long)(lv_snap_mem_size(snap) >> 20));
    if (!rep && vs->nvifs != lv_snap_nnics(snap))
        rep = lv_ctl_error("vifs: %u NICs, but the snapshot's VM has %u", vs->nvifs,
                           lv_snap_nnics(snap));
    lv_snap_close(&snap);
    json_decref(base);
    return rep;
}

/* The image named by (spec) opened into (src, im) (a FIFO, a device or an
 * empty file is refused here, without blocking and before a shell is
 * spent on it; the VM process, which sees no filesystem, gets the fd with
 * the exec and checks the file again), (*vs) the spec. NULL or an error
 * reply. */
static json_t *open_image(json_t *spec, struct lv_image *im, struct lvd_source *src,
                          struct lv_vm_spec *vs)
{
    struct lv_err err = {""};

    if (!json_is_object(spec))
        return lv_ctl_error("create: missing \"spec\" (the VM's configuration object)");
    if (lv_vm_spec_from_json(spec, vs, &err) < 0)
        return lv_ctl_error("%s", err.msg);
    if (vs->kernel[0] != '/')
        return lv_ctl_error("kernel: '%.200s' must be an absolute path here (lightvm create "
                            "makes it one)", vs->kernel);
    if (lv_image_open(vs->kernel, im, &err) < 0)
        return lv_ctl_error("kernel: %s", err.msg);
    src->fds[0] = im->fd;
    src->nfds = 1;
    src->from = LVD_FROM_IMAGE;
    return NULL;
}

json_t *lvd_create(struct lvd_daemon *d, json_t *req)
{
    static const char *const keys[] = {"op", "spec", "probe", "trace", "from", "copy", NULL};
    json_t *spec = json_object_get(req, "spec"), *probe = json_object_get(req, "probe");
    json_t *from = json_object_get(req, "from"), *copy = json_object_get(req, "copy");
    json_t *rep = NULL;
    struct lvd_source src = {{-1, -1}, 0, NULL, json_is_true(copy)};
    struct lv_image im = {.fd = -1};
    struct lv_vm_spec vs;
    double t0 = lvd_now_us();

    if (lvd_check_keys(req, keys, &rep) < 0)
        return rep;
    if (probe && !json_is_string(probe))
        return lv_ctl_error("probe: want \"A.B.C.D:PORT\"");
    if (from && (!json_is_string(from) || json_string_value(from)[0] != '/' ||
                 strlen(json_string_value(from)) + sizeof(".mem") > PATH_MAX))
        return lv_ctl_error("from: want the snapshot's absolute path (lightvm makes it one)");
    if (copy && (!json_is_boolean(copy) || !from))
        return lv_ctl_error("copy: want true or false, and only with \"from\" (a snapshot)");
    if (from && spec && !json_is_object(spec))
        return lv_ctl_error("create: \"spec\" must be an object (keys replacing the "
                            "snapshot's)");
    rep = from ? open_snapshot(json_string_value(from), spec, &src, &vs)
               : open_image(spec, &im, &src, &vs);
    if (!rep)
        rep = lvd_create_vm(d, req, &vs, &src, t0);
    if (from)
        for (unsigned i = 0; i < src.nfds; i++)
            close(src.fds[i]);
    else
        lv_image_close(&im);
    return rep;
}

json_t *lvd_create_vm(struct lvd_daemon *d, json_t *req, struct lv_vm_spec *vs,
                      const struct lvd_source *src, double t0)
{
    json_t *probe = json_object_get(req, "probe"), *rep = NULL, *spec;
    struct lv_err err = {""};
    struct lvd_shell *s = NULL;
    int hit = 0, rc;
    long id;

    if (lvd_bridges_check(&d->bridges, vs, &err) < 0)
        return lv_ctl_error("%s", err.msg);
    if (lvd_vms_find(&d->vms, vs->name))
        return lv_ctl_error("a VM named '%s' already exists", vs->name);
    if (d->vms.n >= d->max_vms)
        return lv_ctl_error("host full: %u VMs (lightvmd --max-vms)", d->max_vms);
    /* A VM migrating in keeps its MAC, which the bridge may have learnt
     * from its old place (two hosts' bridges joined): the VM table only. */
    if (lvd_guard_mac_check(!is_migration(src) ? d->nl : NULL, &d->vms, vs,
                            &err) < 0)
        return lv_ctl_error("%s", err.msg);
    /* (The shell's directory is renamed to $RUNDIR/vms/NAME at exec: that
     * is where a name taken by a VM this daemon does not know of is
     * refused.) */
    double t_checked = lvd_now_us();
    id = d->vms.next_id > 0 ? d->vms.next_id : 1;
    d->vms.next_id = id + 1;
    /* MACs are chosen here, once: the antispoof rules name them, and the
     * VM process gets a complete spec (and keeps it in spec.json). */
    if (lv_vm_spec_choose_macs(vs, &err) < 0)
        return lv_ctl_error("%s", err.msg);
    spec = lv_vm_spec_json(vs);
    if (!spec)
        return lv_ctl_error("out of memory");
    double t_dir = lvd_now_us();
    json_t *sr = NULL;
    double t_shell = t_dir, t_guard = t_dir;
    rc = get_and_exec(d, vs, spec, probe, src, id, &s, &sr, &hit, &t_shell, &t_guard,
                      &err);
    if (rc) {
        rep = lv_ctl_error("%s", err.msg);
        goto fail;
    }
    double t_exec = lvd_now_us();
    struct lvd_vm *vm = lvd_vms_add(&d->vms, vs->name, id);
    if (!vm) {
        json_decref(sr);
        drop_failed_shell(d, &s, vs->name, 0); /* (its chains with it) */
        rep = lv_ctl_error("out of memory");
        goto fail;
    }
    vm->pid = s->pid;
    vm->is_child = 1;
    vm->pidfd = s->pidfd;
    s->pidfd = -1;
    s->pid = 0; /* now the VM's: not killed with the shell object */
    s->guard = NULL; /* its taps' chains too (removed by lvd_vm_gone) */
    vm->info = json_incref(json_object_get(sr, "vm"));
    vm->nifindex = vs->nvifs <= 8 ? vs->nvifs : 8;
    memcpy(vm->ifindex, s->tap_ifindex, sizeof(vm->ifindex));

    rep = lv_ctl_ok();
    json_object_set_new(rep, "vm", lvd_vm_json(vm));
    json_object_set_new(rep, "pool", json_string(hit ? "hit" : "miss"));
    if (json_is_true(json_object_get(req, "trace"))) {
        json_t *t = json_pack("{s:O?,s:O?,s:O?,s:f,s:{s:f,s:f,s:f,s:f,s:f}}", "prepare",
                              json_object_get(sr, "prepare"), "execute",
                              json_object_get(sr, "execute"), "prepared_us_ago",
                              json_object_get(sr, "prepared_us_ago"), "daemon_us",
                              lvd_now_us() - t0, "daemon", "check", t_checked - t0, "dir",
                              t_dir - t_checked, "shell", t_shell - t_dir, "exec", t_exec - t_guard,
                              "record", lvd_now_us() - t_exec);
        json_object_set_new(json_object_get(t, "daemon"), "antispoof",
                            json_real(t_guard - t_shell));
        json_object_set_new(rep, "trace", t);
    }
    json_decref(sr);
    json_decref(spec);
    lvd_shell_free(&s, 0);
    return rep; /* the loop refills the pool once the reply is out */

fail: /* the VM process removes what it made */
    json_decref(spec);
    return rep;
}
