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
#include <sys/wait.h>
#include <unistd.h>

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
        int ok = 0;
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

static json_t *do_create(struct lvd_daemon *d, json_t *req)
{
    static const char *const keys[] = {"op", "spec", "probe", "trace", NULL};
    double t0 = lvd_now_us();
    json_t *spec = json_object_get(req, "spec"), *probe = json_object_get(req, "probe");
    json_t *rep = NULL, *er = NULL;
    struct lv_vm_spec vs;
    struct lv_err err = {""};
    struct lvd_shell *s = NULL;
    struct lvd_flavor *f;
    char *js;
    int hit = 0, rc;
    long id;

    if (check_keys(req, keys, &er) < 0)
        return er;
    if (!json_is_object(spec))
        return lv_ctl_error("create: missing \"spec\" (the VM's configuration object)");
    if (probe && !json_is_string(probe))
        return lv_ctl_error("probe: want \"A.B.C.D:PORT\"");
    js = json_dumps(spec, JSON_COMPACT);
    rc = js ? lv_vm_spec_parse(js, strlen(js), &vs, &err) : -ENOMEM;
    free(js);
    if (rc)
        return lv_ctl_error("%s", err.msg);
    if (vs.kernel[0] != '/')
        return lv_ctl_error("kernel: '%.200s' must be an absolute path here (lightvm create "
                            "makes it one)", vs.kernel);
    /* A FIFO, a device or an empty file is refused here, without blocking
     * and before a shell is spent on it; the VM process checks again. */
    struct lv_image im;
    rc = lv_image_open(vs.kernel, &im, &err);
    lv_image_close(&im);
    if (rc)
        return lv_ctl_error("kernel: %s", err.msg);
    if (lvd_vms_find(&d->vms, vs.name))
        return lv_ctl_error("a VM named '%s' already exists", vs.name);
    if (d->vms.n >= d->max_vms)
        return lv_ctl_error("host full: %u VMs (lightvmd --max-vms)", d->max_vms);
    /* (The VM process makes $RUNDIR/vms/NAME by renaming its shell's
     * directory: that is where a name taken by a VM this daemon does not
     * know of is refused.) */
    double t_checked = lvd_now_us();
    id = d->vms.next_id > 0 ? d->vms.next_id : 1;
    d->vms.next_id = id + 1;
    /* MACs are chosen here: the VM process gets a complete spec (and keeps
     * it in spec.json). */
    spec = json_deep_copy(spec);
    json_t *sv = json_object_get(spec, "vifs");
    for (size_t i = 0; i < json_array_size(sv); i++) {
        json_t *v = json_array_get(sv, i);
        uint8_t mac[6];
        char ms[18];
        if (json_object_get(v, "mac"))
            continue;
        if (lv_mac_random(mac, &err) < 0) {
            rep = lv_ctl_error("%s", err.msg);
            goto fail;
        }
        lv_mac_format(mac, ms);
        json_object_set_new(v, "mac", json_string(ms));
    }
    double t_dir = lvd_now_us();
    /* A shell: from the pool, or prepared now (the cold path). */
    f = lvd_pool_find(&d->pool, (unsigned)vs.memory_mb, vs.nvifs,
                      vs.nvifs ? vs.vifs[0].bridge : NULL);
    s = f ? lvd_flavor_take(f) : NULL;
    hit = s != NULL;
    if (f)
        hit ? f->hits++ : f->misses++;
    if (!s) {
        struct lvd_spawn_ctx ctx = lvd_spawn_ctx_of(d);
        rc = lvd_shell_spawn(&s, &ctx, (unsigned)vs.memory_mb, vs.nvifs, NULL, &err);
        if (!rc && (rc = lvd_shell_on_ready(s, LVD_EXEC_TIMEOUT_MS, &err)) < 0)
            lvd_shell_free(&s, 1);
        if (rc < 0) {
            rep = lv_ctl_error("preparing a VM for '%s': %s", vs.name, err.msg);
            goto fail;
        }
    }
    double t_shell = lvd_now_us();
    json_t *ex = json_pack("{s:s,s:O,s:I}", "op", "exec", "spec", spec, "id", (json_int_t)id);
    if (probe)
        json_object_set(ex, "probe", probe);
    json_t *sr = NULL;
    rc = lv_ctl_send(&s->conn, ex, LVD_CALL_TIMEOUT_MS, &err);
    if (!rc)
        rc = lv_ctl_recv(&s->conn, LVD_EXEC_TIMEOUT_MS, &sr, &err);
    json_decref(ex);
    if (!rc && !json_is_true(json_object_get(sr, "ok"))) {
        const char *e = json_string_value(json_object_get(sr, "error"));
        rc = lv_err_set(&err, EIO, "%s", e ? e : "failed");
    }
    if (rc) {
        rep = lv_ctl_error("creating '%s': %s", vs.name, err.msg);
        json_decref(sr);
        lvd_shell_free(&s, 1);
        goto fail;
    }
    double t_exec = lvd_now_us();
    struct lvd_vm *vm = lvd_vms_add(&d->vms, vs.name, id);
    if (!vm) {
        json_decref(sr);
        lvd_shell_free(&s, 1);
        rep = lv_ctl_error("out of memory");
        goto fail;
    }
    vm->pid = s->pid;
    vm->is_child = 1;
    vm->pidfd = s->pidfd;
    s->pidfd = -1;
    s->pid = 0; /* now the VM's: not killed with the shell object */
    vm->info = json_incref(json_object_get(sr, "vm"));

    rep = lv_ctl_ok();
    json_object_set_new(rep, "vm", lvd_vm_json(vm));
    json_object_set_new(rep, "pool", json_string(hit ? "hit" : "miss"));
    if (json_is_true(json_object_get(req, "trace"))) {
        json_t *t = json_pack("{s:O?,s:O?,s:O?,s:f,s:{s:f,s:f,s:f,s:f,s:f}}", "prepare",
                              json_object_get(sr, "prepare"), "execute",
                              json_object_get(sr, "execute"), "prepared_us_ago",
                              json_object_get(sr, "prepared_us_ago"), "daemon_us",
                              lvd_now_us() - t0, "daemon", "check", t_checked - t0, "dir",
                              t_dir - t_checked, "shell", t_shell - t_dir, "exec", t_exec - t_shell,
                              "record", lvd_now_us() - t_exec);
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

/* Forwards (op) to the VM's own socket. */
static json_t *vm_call(struct lvd_daemon *d, struct lvd_vm *vm, json_t *req, int timeout_ms)
{
    char path[PATH_MAX];
    struct lv_err err = {""};
    json_t *rep = NULL;

    if (vm->crashed)
        return lv_ctl_error("VM '%s' has crashed (%s): only destroy removes it", vm->name,
                            vm->reason);
    lvd_vm_path(path, sizeof(path), d->rundir, vm->name, "ctl.sock");
    if (lv_ctl_call(path, req, timeout_ms, &rep, &err) < 0)
        return lv_ctl_error("%s: %s", vm->name, err.msg);
    return rep;
}

/* Forgets a VM whose process was told to end. (timeout_ms) > 0: wait that
 * long for the process and SIGKILL it if it is still there; 0: the VM
 * process confirmed (it has stopped its guest and freed the name), so it
 * is left to finish exiting on its own (SIGCHLD reaps a child). */
static void reap_vm(struct lvd_daemon *d, struct lvd_vm *vm, int timeout_ms)
{
    if (vm->pidfd >= 0 && timeout_ms > 0) {
        struct pollfd pf = {vm->pidfd, POLLIN, 0};
        if (poll(&pf, 1, timeout_ms) != 1 && vm->pid > 0)
            kill(vm->pid, SIGKILL); /* did not end: make sure */
        if (vm->is_child)
            waitpid(vm->pid, NULL, 0);
    }
    lvd_vm_dir_remove(d->rundir, vm->name);
    lvd_vms_remove(&d->vms, vm);
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

static json_t *do_vm_op(struct lvd_daemon *d, json_t *req, const char *op)
{
    static const char *const keys[] = {"op", "name", "timeout_ms", NULL};
    json_t *er = NULL, *rep;
    struct lvd_vm *vm;

    if (check_keys(req, keys, &er) < 0 || !(vm = find_vm(d, req, &er)))
        return er;
    if (!strcmp(op, "info")) {
        if (vm->crashed)
            goto describe;
        rep = vm_call(d, vm, req, LVD_CALL_TIMEOUT_MS);
        if (json_is_true(json_object_get(rep, "ok"))) {
            json_decref(vm->info);
            vm->info = json_incref(json_object_get(rep, "vm"));
        }
        json_decref(rep);
        goto describe;
    }
    if (!strcmp(op, "destroy") && vm->crashed) {
        reap_vm(d, vm, 0);
        return lv_ctl_ok();
    }
    if (!strcmp(op, "console"))
        return console_tail(d, vm);
    json_int_t to = json_integer_value(json_object_get(req, "timeout_ms"));
    /* shutdown: the VM process waits (timeout_ms) for the guest, then
     * destroys it; the client waits that + 5 s in all (docs/protocol.md). */
    int timeout = !strcmp(op, "shutdown") ? (int)(to > 0 ? to : 5000) + 1000 : LVD_CALL_TIMEOUT_MS;
    rep = vm_call(d, vm, req, timeout);
    if (!json_is_true(json_object_get(rep, "ok")))
        return rep;
    if (!strcmp(op, "pause") || !strcmp(op, "unpause"))
        json_object_set_new(vm->info, "state", json_string(op[0] == 'p' ? "paused" : "running"));
    else /* shutdown, destroy: the VM process stopped the guest and is exiting */
        reap_vm(d, vm, 0);
    return rep;

describe:
    rep = lv_ctl_ok();
    json_object_set_new(rep, "vm", lvd_vm_json(vm));
    return rep;
}

static int cmp_id(const void *a, const void *b)
{
    long x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    long y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return (x > y) - (x < y);
}

json_t *lvd_handle(struct lvd_daemon *d, json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));

    if (!op)
        return lv_ctl_error("request without \"op\"");
    if (!strcmp(op, "ping"))
        return json_pack("{s:b,s:i,s:s}", "ok", 1, "pid", (int)getpid(), "rundir", d->rundir);
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
        return do_vm_op(d, req, op);
    return lv_ctl_error("unknown op '%.40s'", op);
}

