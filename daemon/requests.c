/*
 * requests.c: what lightvmd does for each request of docs/protocol.md:
 * create (a shell from the pool, or one prepared now, then exec), the
 * per-VM verbs (forwarded to the VM process's own socket), list, pool.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvm/build.h"
#include "lightvm/elf.h"
#include "lightvm/escape.h"
#include "lightvmd.h"

static const char *req_name(json_t *req)
{
    return json_string_value(json_object_get(req, "name"));
}

static struct lvd_vm *find_vm(struct lvd_daemon *d, json_t *req, json_t **err_rep)
{
    const char *name = req_name(req);
    struct lvd_vm *vm = name ? lvd_vms_find(&d->vms, name) : NULL;

    if (!name)
        *err_rep = lv_ctl_error("missing \"name\"");
    else if (!vm)
        *err_rep = lv_ctl_error("no VM named '%.64s'", name);
    return vm;
}

static int check_keys(json_t *req, const char *const *allowed, json_t **err_rep)
{
    const char *k;
    json_t *v;

    json_object_foreach(req, k, v) {
        int ok = !strcmp(k, "v"); /* any request's (lvd_handle checked it) */
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(k, *a);
        if (!ok) {
            *err_rep = lv_ctl_error("unknown key '%.40s' in a '%s' request", k,
                                    json_string_value(json_object_get(req, "op")));
            return -1;
        }
    }
    return 0;
}

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

/* The exec of (spec) on shell (s): its taps attached, its directory named
 * after the VM, then the exec, with the image's fd (borrowed). 0 and the shell's reply (*sr), or -errno
 * with err (the shell's own error, or why it did not answer). */
static int exec_shell(struct lvd_daemon *d, struct lvd_shell *s, const struct lv_vm_spec *vs,
                      json_t *spec, json_t *probe, int image_fd, long id, json_t **sr,
                      struct lv_err *err)
{
    json_t *ex = json_pack("{s:s,s:O,s:I,s:i}", "op", "exec", "spec", spec, "id", (json_int_t)id,
                           "v", LV_VMP_VERSION);
    int rc;

    *sr = NULL;
    if (!ex)
        return lv_err_set(err, ENOMEM, "out of memory");
    if (probe)
        json_object_set(ex, "probe", probe);
    rc = lvd_vmnet_attach(d, s, vs, ex, err);
    if (!rc)
        rc = claim_dir(d, s, vs->name, err);
    if (!rc)
        rc = lv_ctl_send_fd(&s->conn, ex, image_fd, LVD_CALL_TIMEOUT_MS, err);
    /* Its CPU group was idle while it prepared and waited: the normal
     * share now, once the exec is on its way (the writes overlap the
     * shell's work on it rather than delay the request), so that its
     * guest, started before the reply, runs at the share of a VM. */
    if (!rc)
        lvd_limits_activate(&d->limits, s->pid);
    if (!rc)
        rc = lv_ctl_recv(&s->conn, LVD_EXEC_TIMEOUT_MS, sr, err);
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
                        json_t *probe, int image_fd, long id, struct lvd_shell **out,
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
        rc = exec_shell(d, s, vs, spec, probe, image_fd, id, sr, err);
        if (!rc) {
            *out = s;
            return 0;
        }
        drop_failed_shell(d, &s, vs->name, dir_existed); /* (its chains with it) */
        if (rc == -EPIPE)
            fprintf(stderr, "lightvmd: create %s: a pool shell had died; taking another\n",
                    vs->name);
    }
    snprintf(why, sizeof(why), "%s", err->msg);
    return lv_err_set(err, -rc, "creating '%s': %s", vs->name, why);
}

static json_t *do_create(struct lvd_daemon *d, json_t *req)
{
    static const char *const keys[] = {"op", "spec", "probe", "trace", NULL};
    double t0 = lvd_now_us();
    json_t *spec = json_object_get(req, "spec"), *probe = json_object_get(req, "probe");
    json_t *rep = NULL, *er = NULL;
    struct lv_vm_spec vs;
    struct lv_err err = {""};
    struct lvd_shell *s = NULL;
    int hit = 0, rc;
    long id;

    if (check_keys(req, keys, &er) < 0)
        return er;
    if (!json_is_object(spec))
        return lv_ctl_error("create: missing \"spec\" (the VM's configuration object)");
    if (probe && !json_is_string(probe))
        return lv_ctl_error("probe: want \"A.B.C.D:PORT\"");
    if (lv_vm_spec_from_json(spec, &vs, &err) < 0)
        return lv_ctl_error("%s", err.msg);
    if (lvd_bridges_check(&d->bridges, &vs, &err) < 0)
        return lv_ctl_error("%s", err.msg);
    if (vs.kernel[0] != '/')
        return lv_ctl_error("kernel: '%.200s' must be an absolute path here (lightvm create "
                            "makes it one)", vs.kernel);
    if (lvd_vms_find(&d->vms, vs.name))
        return lv_ctl_error("a VM named '%s' already exists", vs.name);
    if (d->vms.n >= d->max_vms)
        return lv_ctl_error("host full: %u VMs (lightvmd --max-vms)", d->max_vms);
    if (lvd_guard_mac_check(d->nl, &d->vms, &vs, &err) < 0)
        return lv_ctl_error("%s", err.msg);
    /* A FIFO, a device or an empty file is refused here, without blocking
     * and before a shell is spent on it. The VM process, which sees no
     * filesystem, gets this fd with the exec and checks the file again. */
    struct lv_image im;
    rc = lv_image_open(vs.kernel, &im, &err);
    if (rc)
        return lv_ctl_error("kernel: %s", err.msg);
    /* (The shell's directory is renamed to $RUNDIR/vms/NAME at exec: that
     * is where a name taken by a VM this daemon does not know of is
     * refused.) */
    double t_checked = lvd_now_us();
    id = d->vms.next_id > 0 ? d->vms.next_id : 1;
    d->vms.next_id = id + 1;
    /* MACs are chosen here, once: the antispoof rules name them, and the
     * VM process gets a complete spec (and keeps it in spec.json). */
    if (lv_vm_spec_choose_macs(&vs, &err) < 0) {
        lv_image_close(&im);
        return lv_ctl_error("%s", err.msg);
    }
    spec = lv_vm_spec_json(&vs);
    if (!spec) {
        lv_image_close(&im);
        return lv_ctl_error("out of memory");
    }
    double t_dir = lvd_now_us();
    json_t *sr = NULL;
    double t_shell = t_dir, t_guard = t_dir;
    rc = get_and_exec(d, &vs, spec, probe, im.fd, id, &s, &sr, &hit, &t_shell, &t_guard,
                      &err);
    if (rc) {
        rep = lv_ctl_error("%s", err.msg);
        goto fail;
    }
    double t_exec = lvd_now_us();
    struct lvd_vm *vm = lvd_vms_add(&d->vms, vs.name, id);
    if (!vm) {
        json_decref(sr);
        drop_failed_shell(d, &s, vs.name, 0); /* (its chains with it) */
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
    vm->nifindex = vs.nvifs <= 8 ? vs.nvifs : 8;
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
    lv_image_close(&im);
    return rep; /* the loop refills the pool once the reply is out */

fail: /* the VM process removes what it made */
    json_decref(spec);
    lv_image_close(&im);
    return rep;
}

/* Relays (op) to the VM's own socket without waiting for the reply: the
 * loop completes it (lvd_call_done). NULL when the call is pending, else
 * the reply. */
static json_t *vm_call(struct lvd_daemon *d, struct lvd_client *c, struct lvd_vm *vm,
                       const char *op, json_int_t shutdown_ms)
{
    char path[PATH_MAX];
    struct lv_err err = {""};
    json_t *req;
    int timeout_ms = LVD_CALL_TIMEOUT_MS, rc;

    if (vm->crashed)
        return lv_ctl_error("VM '%s' has crashed (%s): only destroy removes it", vm->name,
                            vm->reason);
    if (!strcmp(op, "shutdown")) {
        /* The VM process waits (shutdown_ms) for the guest, then destroys
         * it: its reply comes within that and LVD_CALL_TIMEOUT_MS. */
        req = json_pack("{s:s,s:s,s:I,s:i}", "op", op, "name", vm->name, "timeout_ms",
                        shutdown_ms, "v", LV_VMP_VERSION);
        timeout_ms = (int)shutdown_ms + LVD_CALL_TIMEOUT_MS;
    } else {
        req = json_pack("{s:s,s:s,s:i}", "op", op, "name", vm->name, "v", LV_VMP_VERSION);
    }
    if (!req)
        return lv_ctl_error("out of memory");
    lvd_vm_path(path, sizeof(path), d->rundir, vm->name, "ctl.sock");
    rc = lvd_call_start(&c->call, path, req, timeout_ms, &err);
    json_decref(req);
    if (rc < 0)
        return lv_ctl_error("%s: %s", vm->name, err.msg);
    snprintf(c->call.name, sizeof(c->call.name), "%s", vm->name);
    snprintf(c->call.op, sizeof(c->call.op), "%s", op);
    c->call.id = vm->id;
    return NULL;
}

/* Forgets a VM whose process confirmed its end (it stopped its guest and
 * freed the name: it finishes exiting on its own; SIGCHLD reaps a child),
 * or a crashed one (destroy: the daemon removes what is left of it). */
static void forget_vm(struct lvd_daemon *d, struct lvd_vm *vm)
{
    lvd_vm_dir_remove(d->rundir, vm->name);
    lvd_vms_remove(&d->vms, vm);
}

/* destroy of a VM process that did not answer (stopped, hung): SIGKILL
 * through its pidfd (never a pid that may have been reused) and forget
 * it; its taps and memory go as the kernel ends it, a child's status is
 * reaped by the SIGCHLD handler. 0, or -errno when it cannot be killed. */
static int kill_vm(struct lvd_daemon *d, struct lvd_vm *vm)
{
    if (vm->pidfd < 0)
        return -ESRCH;
    if (syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        return -errno;
    fprintf(stderr, "lightvmd: %s: the VM process (pid %d) did not answer destroy: killed\n",
            vm->name, (int)vm->pid);
    forget_vm(d, vm);
    return 0;
}

/* The VM's description; a live VM's with its taps' drop counters. */
static json_t *describe(struct lvd_daemon *d, const struct lvd_vm *vm)
{
    json_t *rep = lv_ctl_ok(), *o = lvd_vm_json(vm);
    json_t *drops = vm->crashed ? NULL : lvd_guard_drops(d->nft, vm->ifindex, vm->nifindex);

    if (drops)
        json_object_set_new(o, "dropped", drops);
    json_object_set_new(rep, "vm", o);
    return rep;
}

/* The last LVD_CONSOLE_TAIL bytes of the VM's console log (either file
 * of its rotation), escaped (escape.h): any bytes, one JSON string that
 * lv_unescape() turns back into them. */
static json_t *console_tail(struct lvd_daemon *d, struct lvd_vm *vm)
{
    char dir[PATH_MAX];
    struct lv_err err = {""};
    uint8_t *raw = malloc(LVD_CONSOLE_TAIL);
    char *text = malloc(LV_ESC_MAX(LVD_CONSOLE_TAIL) + 1);
    size_t n = 0;
    json_t *rep = NULL;
    int rc = raw && text ? 0 : -ENOMEM;

    if (!rc && lvd_vm_path(dir, sizeof(dir), d->rundir, vm->name, NULL) < 0)
        rc = lv_err_set(&err, ENAMETOOLONG, "run directory path too long");
    if (!rc)
        rc = lv_console_tail(dir, raw, LVD_CONSOLE_TAIL, &n, &err);
    if (rc == -ENOENT) /* no directory (yet, or any more): nothing written */
        rc = 0;
    if (!rc) {
        size_t len = lv_escape(raw, n, text);
        rep = lv_ctl_ok();
        json_object_set_new(rep, "console", json_stringn(text, len));
    } else {
        rep = lv_ctl_error("console of '%s': %s", vm->name, rc == -ENOMEM ? "out of memory"
                                                                          : err.msg);
    }
    free(raw);
    free(text);
    return rep;
}

static json_t *do_vm_op(struct lvd_daemon *d, struct lvd_client *c, json_t *req, const char *op)
{
    static const char *const keys[] = {"op", "name", "timeout_ms", NULL};
    json_t *er = NULL, *t = json_object_get(req, "timeout_ms");
    json_int_t shutdown_ms = LVD_SHUTDOWN_DEFAULT_MS;
    struct lvd_vm *vm;

    if (check_keys(req, keys, &er) < 0 || !(vm = find_vm(d, req, &er)))
        return er;
    if (t) {
        if (!json_is_integer(t) || json_integer_value(t) < 0 ||
            json_integer_value(t) > LV_SHUTDOWN_TIMEOUT_MAX_MS)
            return lv_ctl_error("timeout_ms: want an integer 0..%d (milliseconds)",
                                LV_SHUTDOWN_TIMEOUT_MAX_MS);
        shutdown_ms = json_integer_value(t);
    }
    if (!strcmp(op, "info") && vm->crashed)
        return describe(d, vm);
    if (!strcmp(op, "destroy") && vm->crashed) {
        forget_vm(d, vm);
        return lv_ctl_ok();
    }
    if (!strcmp(op, "console"))
        return console_tail(d, vm);
    json_t *rep = vm_call(d, c, vm, op, shutdown_ms);
    if (rep && !strcmp(op, "info")) { /* could not ask: what is known */
        json_decref(rep);
        return describe(d, vm);
    }
    return rep;
}

json_t *lvd_call_done(struct lvd_daemon *d, struct lvd_client *c, json_t *vm_rep,
                      const struct lv_err *err)
{
    struct lvd_call *call = &c->call;
    struct lvd_vm *vm = lvd_vms_find(&d->vms, call->name);
    const char *op = call->op;
    json_t *rep;

    if (vm && vm->id != call->id)
        vm = NULL; /* destroyed meanwhile, and the name taken again */
    if (!strcmp(op, "info")) {
        if (vm && json_is_true(json_object_get(vm_rep, "ok"))) {
            json_decref(vm->info);
            vm->info = json_incref(json_object_get(vm_rep, "vm"));
        }
        rep = vm ? describe(d, vm) : lv_ctl_error("no VM named '%s' any more", call->name);
    } else if (!vm_rep && vm && !strcmp(op, "destroy") && kill_vm(d, vm) == 0) {
        rep = json_pack("{s:b,s:b}", "ok", 1, "killed", 1);
    } else if (!vm_rep) {
        rep = lv_ctl_error("%s: %s", call->name, err->msg);
    } else if (!json_is_true(json_object_get(vm_rep, "ok"))) {
        const char *e = json_string_value(json_object_get(vm_rep, "error"));
        rep = lv_ctl_error("%s: %s", call->name, e ? e : "request refused (no reason given)");
    } else {
        /* its "v" is the VM protocol's, not the client's: not relayed */
        rep = json_copy(vm_rep);
        json_object_del(rep, "v");
        if (vm && (!strcmp(op, "pause") || !strcmp(op, "unpause")))
            json_object_set_new(vm->info, "state",
                                json_string(op[0] == 'p' ? "paused" : "running"));
        else if (vm) /* shutdown, destroy: the guest is stopped, its process exiting */
            forget_vm(d, vm);
    }
    lvd_call_end(call);
    return rep;
}

static int cmp_id(const void *a, const void *b)
{
    long x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    long y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return (x > y) - (x < y);
}

json_t *lvd_handle(struct lvd_daemon *d, struct lvd_client *c, json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    struct lv_err err = {""};

    /* Never misread: a request of another version is refused whole. */
    if (lv_ctl_version_check(req, LV_CTL_VERSION, "lightvmd", &err) < 0)
        return lv_ctl_error("protocol: %s", err.msg);
    if (!op)
        return lv_ctl_error("request without \"op\"");
    if (!strcmp(op, "ping"))
        return json_pack("{s:b,s:i,s:s,s:i,s:i}", "ok", 1, "pid", (int)getpid(), "rundir",
                         d->rundir, "version", LV_CTL_VERSION, "vm_version", LV_VMP_VERSION);
    if (!strcmp(op, "create"))
        return do_create(d, req);
    if (!strcmp(op, "list")) {
        json_t **v = calloc(d->vms.n + 1, sizeof(*v)), *arr = json_array(), *rep = lv_ctl_ok();
        for (unsigned i = 0; v && i < d->vms.n; i++)
            v[i] = lvd_vm_json(d->vms.v[i]);
        if (v)
            qsort(v, d->vms.n, sizeof(*v), cmp_id);
        for (unsigned i = 0; v && i < d->vms.n; i++)
            json_array_append_new(arr, v[i]);
        free(v);
        json_object_set_new(rep, "vms", arr);
        return rep;
    }
    if (!strcmp(op, "pool")) {
        json_t *rep = lv_ctl_ok();
        json_object_set_new(rep, "flavors", lvd_pool_json(&d->pool));
        return rep;
    }
    if (!strcmp(op, "info") || !strcmp(op, "pause") || !strcmp(op, "unpause") ||
        !strcmp(op, "shutdown") || !strcmp(op, "destroy") || !strcmp(op, "console"))
        return do_vm_op(d, c, req, op);
    return lv_ctl_error("unknown op '%.40s'", op);
}

