/*
 * requests.c: what lightvmd does for each request of docs/protocol.md:
 * the per-VM verbs (forwarded to the VM process's own socket), list,
 * pool; create is create.c's.
 */
#include <errno.h>
#include <fcntl.h>
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

int lvd_check_keys(json_t *req, const char *const *allowed, json_t **err_rep)
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

/* The refusal of a request a crashed VM cannot serve. */
static json_t *crashed_error(const struct lvd_vm *vm)
{
    return lv_ctl_error("VM '%s' has crashed (%s): only destroy removes it", vm->name,
                        vm->reason);
}

/* Relays (req) (the caller's; "v" added) to the VM's own socket with
 * (nfds) fds (borrowed), without waiting for the reply: the loop
 * completes it (lvd_call_done), or fails it after (timeout_ms). NULL when
 * the call is pending, else the reply. */
static json_t *vm_call(struct lvd_daemon *d, struct lvd_client *c, struct lvd_vm *vm,
                       json_t *req, const int *fds, unsigned nfds, int timeout_ms)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    char path[PATH_MAX];
    struct lv_err err = {""};
    int rc;

    if (vm->crashed)
        return crashed_error(vm);
    json_object_set_new(req, "v", json_integer(LV_VMP_VERSION));
    lvd_vm_path(path, sizeof(path), d->rundir, vm->name, "ctl.sock");
    rc = lvd_call_start(&c->call, path, req, fds, nfds, timeout_ms, &err);
    if (rc < 0)
        return lv_ctl_error("%s: %s", vm->name, err.msg);
    snprintf(c->call.name, sizeof(c->call.name), "%s", vm->name);
    snprintf(c->call.op, sizeof(c->call.op), "%s", op);
    c->call.id = vm->id;
    return NULL;
}

/* A simple op relayed: (shutdown_ms) for a shutdown (the VM process
 * waits that long for the guest, then destroys it: its reply comes
 * within that and LVD_CALL_TIMEOUT_MS). */
static json_t *vm_op_call(struct lvd_daemon *d, struct lvd_client *c, struct lvd_vm *vm,
                          const char *op, json_int_t shutdown_ms)
{
    int shutdown = !strcmp(op, "shutdown");
    json_t *req = json_pack("{s:s,s:s}", "op", op, "name", vm->name), *rep;

    if (!req)
        return lv_ctl_error("out of memory");
    if (shutdown)
        json_object_set_new(req, "timeout_ms", json_integer(shutdown_ms));
    rep = vm_call(d, c, vm, req, NULL, 0,
                  LVD_CALL_TIMEOUT_MS + (shutdown ? (int)shutdown_ms : 0));
    json_decref(req);
    return rep;
}

/* A save's file at (path) (suffix appended), created new for writing
 * (never one that exists, never through a symlink). The fd or -1 with
 * (*rep) an error reply. */
static int create_file(const char *path, const char *suffix, json_t **rep)
{
    char p[PATH_MAX];
    int fd;

    snprintf(p, sizeof(p), "%s%s", path, suffix);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        *rep = lv_ctl_error("%s: %s", p, strerror(errno));
    return fd;
}

static void remove_save_files(const char *path)
{
    char p[PATH_MAX];

    unlink(path);
    snprintf(p, sizeof(p), "%s.mem", path);
    unlink(p);
}

/* save: the files made here (the VM process has no filesystem), passed to
 * the VM process with the request; removed again if the save fails. */
static json_t *do_save(struct lvd_daemon *d, struct lvd_client *c, json_t *req)
{
    static const char *const keys[] = {"op", "name", "path", "keep", NULL};
    const char *path = json_string_value(json_object_get(req, "path"));
    json_t *keep = json_object_get(req, "keep"), *er = NULL, *rep = NULL;
    struct lvd_vm *vm;
    int fds[2] = {-1, -1};

    if (lvd_check_keys(req, keys, &er) < 0 || !(vm = find_vm(d, req, &er)))
        return er;
    if (!path || path[0] != '/' || strlen(path) + sizeof(".mem") > PATH_MAX)
        return lv_ctl_error("save: \"path\" must be an absolute path (lightvm save makes it one)");
    if (keep && !json_is_boolean(keep))
        return lv_ctl_error("save: \"keep\" must be true or false");
    if (vm->crashed)
        return crashed_error(vm);
    if ((fds[0] = create_file(path, "", &rep)) < 0)
        return rep;
    if ((fds[1] = create_file(path, ".mem", &rep)) < 0) {
        close(fds[0]);
        unlink(path);
        return rep;
    }
    json_t *vr = json_pack("{s:s,s:s,s:b}", "op", "save", "name", vm->name, "keep",
                           json_is_true(keep));
    rep = vr ? vm_call(d, c, vm, vr, fds, 2, LVD_SAVE_TIMEOUT_MS)
             : lv_ctl_error("out of memory");
    json_decref(vr);
    close(fds[0]);
    close(fds[1]);
    if (!rep && !(c->call.save_path = strdup(path))) {
        /* cannot remember them: the save goes on, its files stay */
        fprintf(stderr, "lightvmd: save %s: out of memory\n", vm->name);
    }
    if (rep)
        remove_save_files(path);
    return rep;
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

/* migrate: the connection to the destination's lightvmd made here (the VM
 * process has no network of its own), passed to the VM process with the
 * token, which says hello on it and streams the VM (vmmigrate.c). */
static json_t *do_migrate(struct lvd_daemon *d, struct lvd_client *c, json_t *req)
{
    static const char *const keys[] = {"op", "name", "to", "token", NULL};
    const char *to = json_string_value(json_object_get(req, "to"));
    const char *token = json_string_value(json_object_get(req, "token"));
    json_t *er = NULL, *rep, *vr;
    struct lv_err err = {""};
    struct lvd_vm *vm;
    int fd;

    if (lvd_check_keys(req, keys, &er) < 0 || !(vm = find_vm(d, req, &er)))
        return er;
    if (!to || !token || strlen(token) < LV_TOKEN_MIN || strlen(token) > LV_TOKEN_MAX)
        return lv_ctl_error("migrate: want \"to\" (A.B.C.D:PORT or unix:PATH) and \"token\" "
                            "(%d..%d characters)", LV_TOKEN_MIN, LV_TOKEN_MAX);
    if (vm->crashed)
        return crashed_error(vm);
    if ((fd = lvd_mig_connect(to, &err)) < 0)
        return lv_ctl_error("migrate %s: %s", vm->name, err.msg);
    /* unix:PATH: a daemon of this host, to which the RAM itself can pass */
    vr = json_pack("{s:s,s:s,s:s,s:b}", "op", "migrate", "name", vm->name, "token", token,
                   "local", !strncmp(to, LVD_MIG_UNIX, strlen(LVD_MIG_UNIX)));
    rep = vr ? vm_call(d, c, vm, vr, &fd, 1, LVD_MIGRATE_TIMEOUT_MS + LVD_CALL_TIMEOUT_MS)
             : lv_ctl_error("out of memory");
    json_decref(vr);
    close(fd);
    return rep;
}

static json_t *do_vm_op(struct lvd_daemon *d, struct lvd_client *c, json_t *req, const char *op)
{
    static const char *const keys[] = {"op", "name", "timeout_ms", NULL};
    json_t *er = NULL, *t = json_object_get(req, "timeout_ms");
    json_int_t shutdown_ms = LVD_SHUTDOWN_DEFAULT_MS;
    struct lvd_vm *vm;

    if (lvd_check_keys(req, keys, &er) < 0 || !(vm = find_vm(d, req, &er)))
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
    json_t *rep = vm_op_call(d, c, vm, op, shutdown_ms);
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
    } else if (!strcmp(op, "migrate")) {
        rep = json_copy(vm_rep); /* it runs at the destination: not here any more */
        json_object_del(rep, "v");
        if (vm)
            forget_vm(d, vm);
    } else if (!strcmp(op, "save")) {
        rep = json_copy(vm_rep);
        json_object_del(rep, "v");
        if (vm && json_is_true(json_object_get(vm_rep, "stopped")))
            forget_vm(d, vm);
        free(call->save_path); /* saved: the files are the user's */
        call->save_path = NULL;
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
    if (call->save_path) /* the save failed */
        remove_save_files(call->save_path);
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
        return lvd_create(d, req);
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
    if (!strcmp(op, "save"))
        return do_save(d, c, req);
    if (!strcmp(op, "migrate"))
        return do_migrate(d, c, req);
    return lv_ctl_error("unknown op '%.40s'", op);
}

