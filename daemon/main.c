/*
 * lightvmd: LightVM's split toolstack on KVM. Keeps a pool of VM shells
 * per flavor (prepared VM processes), hands one out per `create`, refills
 * in the background, and manages the VMs through their own sockets
 * (docs/protocol.md). Single-threaded: one request at a time, an event
 * loop over the control socket, the shells and the VM processes.
 */
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

#include "lightvm/net.h"
#include "pool.h"
#include "vms.h"

#define MAX_CLIENTS 64
#define MAX_PREPARING 2 /* shells preparing at once (the host has 2 cores) */

struct daemon {
    char rundir[PATH_MAX];
    char self_exe[PATH_MAX];
    int lock_fd, listen_fd, sig_fd;
    unsigned max_vms;
    struct lvd_pool pool;
    struct lvd_vms vms;
    struct lv_ctl_conn clients[MAX_CLIENTS];
    int quit;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lightvmd [--rundir DIR] [--pool MEM_MB,NICS,COUNT[,BRIDGE]]... [--max-vms N]\n\n"
            "The lightvm daemon: keeps COUNT prepared VM shells of each flavor (guest\n"
            "memory in MiB, number of NICs) ready, so `lightvm create` only does the\n"
            "VM-specific rest. Runs in the foreground; logs to stderr. VMs outlive it:\n"
            "a restarted lightvmd adopts the VMs it finds in DIR/vms.\n\n"
            "  -r, --rundir DIR    runtime directory (default $LIGHTVM_RUNDIR or %s)\n"
            "  -p, --pool M,N,C[,B] keep C shells of M MiB with N NICs (repeatable; without\n"
            "                      it every create prepares a VM on demand); with B their\n"
            "                      first NIC is already on bridge B (VMs whose first vif\n"
            "                      is on B take those first)\n"
            "      --max-vms N     refuse creates beyond N VMs (default 10000)\n"
            "  -h, --help          this text\n\n"
            "SIGTERM or SIGINT stops the daemon (its shells go with it, VMs stay).\n",
            LV_RUNDIR_DEFAULT);
}

/* ---- shells ---- */

static struct lvd_spawn_ctx spawn_ctx(const struct daemon *d)
{
    return (struct lvd_spawn_ctx){d->self_exe, d->rundir};
}

static unsigned preparing(const struct daemon *d)
{
    unsigned n = 0;

    for (unsigned i = 0; i < d->pool.nflavors; i++)
        n += d->pool.fl[i].nshells - lvd_flavor_ready(&d->pool.fl[i]);
    return n;
}

/* Starts shells until each flavor has (target) or MAX_PREPARING prepare. */
static void refill(struct daemon *d)
{
    struct lvd_spawn_ctx ctx = spawn_ctx(d);

    for (unsigned i = 0; i < d->pool.nflavors; i++) {
        struct lvd_flavor *f = &d->pool.fl[i];
        while (f->nshells < f->target && preparing(d) < MAX_PREPARING) {
            struct lv_err err = {""};
            struct lvd_shell *s;
            if (lvd_shell_spawn(&s, &ctx, f->mem_mb, f->nics, f->bridge, &err) < 0) {
                fprintf(stderr, "lightvmd: refill: %s\n", err.msg);
                return;
            }
            f->shells[f->nshells++] = s;
        }
    }
}

static void shell_event(struct daemon *d, struct lvd_flavor *f, unsigned i)
{
    struct lvd_shell *s = f->shells[i];
    struct lv_err err = {""};
    int rc = lvd_shell_on_ready(s, -1, &err);

    if (rc == 1) {
        lvd_flavor_refill_done(f, s->ready_us - s->spawned_us);
    } else if (rc < 0) {
        fprintf(stderr, "lightvmd: shell %d (%u MiB, %u NICs): %s\n", (int)s->pid, f->mem_mb,
                f->nics, err.msg);
        lvd_shell_free(&f->shells[i], 1);
        f->shells[i] = f->shells[--f->nshells];
    }
    (void)d;
}

/* ---- requests ---- */

static const char *req_name(json_t *req)
{
    return json_string_value(json_object_get(req, "name"));
}

static struct lvd_vm *find_vm(struct daemon *d, json_t *req, json_t **err_rep)
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

/* Writes spec.json (the spec plus the VM's id) into the VM's directory. */
static int write_spec(struct daemon *d, const char *name, json_t *spec, long id)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    json_t *o = json_deep_copy(spec);
    int rc;

    json_object_set_new(o, "id", json_integer(id));
    if (lvd_vm_path(path, sizeof(path), d->rundir, name, "spec.json") < 0) {
        json_decref(o);
        return -ENAMETOOLONG;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    rc = json_dump_file(o, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
    json_decref(o);
    return rc;
}

static json_t *do_create(struct daemon *d, json_t *req)
{
    static const char *const keys[] = {"op", "spec", "probe", "trace", NULL};
    double t0 = lvd_now_us();
    json_t *spec = json_object_get(req, "spec"), *probe = json_object_get(req, "probe");
    json_t *rep = NULL, *er = NULL;
    struct lv_vm_spec vs;
    struct lv_err err = {""};
    struct lvd_shell *s = NULL;
    struct lvd_flavor *f;
    char dir[PATH_MAX], *js;
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
    if (access(vs.kernel, R_OK) < 0)
        return lv_ctl_error("kernel: %.200s: %s", vs.kernel, strerror(errno));
    if (lvd_vms_find(&d->vms, vs.name))
        return lv_ctl_error("a VM named '%s' already exists", vs.name);
    if (d->vms.n >= d->max_vms)
        return lv_ctl_error("host full: %u VMs (lightvmd --max-vms)", d->max_vms);
    if (lvd_vm_path(dir, sizeof(dir), d->rundir, vs.name, NULL) < 0 || mkdir(dir, 0700) < 0)
        return lv_ctl_error(errno == EEXIST ? "a VM named '%s' already exists (%s)"
                                            : "cannot make the VM's directory for '%s': %s",
                            vs.name, errno == EEXIST ? dir : strerror(errno));
    double t_checked = lvd_now_us();
    id = d->vms.next_id > 0 ? d->vms.next_id : 1;
    d->vms.next_id = id + 1;
    /* MACs are chosen here, so spec.json is written once and final. */
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
    if (write_spec(d, vs.name, spec, id) < 0) {
        rep = lv_ctl_error("cannot write the spec of '%s' in %s", vs.name, dir);
        goto fail;
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
        struct lvd_spawn_ctx ctx = spawn_ctx(d);
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

fail:
    lvd_vm_dir_remove(d->rundir, vs.name);
    json_decref(spec);
    return rep;
}

/* Forwards (op) to the VM's own socket. */
static json_t *vm_call(struct daemon *d, struct lvd_vm *vm, json_t *req, int timeout_ms)
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

/* Waits (bounded) for a VM process that was told to end, then forgets it. */
static void reap_vm(struct daemon *d, struct lvd_vm *vm, int timeout_ms)
{
    if (vm->pidfd >= 0) {
        struct pollfd pf = {vm->pidfd, POLLIN, 0};
        if (poll(&pf, 1, timeout_ms) != 1 && vm->pid > 0)
            kill(vm->pid, SIGKILL); /* did not end: make sure */
        if (vm->is_child)
            waitpid(vm->pid, NULL, 0);
    }
    lvd_vm_dir_remove(d->rundir, vm->name);
    lvd_vms_remove(&d->vms, vm);
}

static json_t *do_vm_op(struct daemon *d, json_t *req, const char *op)
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
    if (!strcmp(op, "console")) {
        char path[PATH_MAX];
        static char buf[LVD_CONSOLE_TAIL + 1];
        lvd_vm_path(path, sizeof(path), d->rundir, vm->name, "console.log");
        FILE *f = fopen(path, "re");
        size_t n = 0;
        if (f) {
            if (fseek(f, -(long)LVD_CONSOLE_TAIL, SEEK_END) < 0)
                rewind(f);
            n = fread(buf, 1, LVD_CONSOLE_TAIL, f);
            fclose(f);
        }
        rep = lv_ctl_ok();
        json_object_set_new(rep, "console", json_stringn_nocheck(buf, n));
        if (!json_is_string(json_object_get(rep, "console"))) /* not UTF-8: escape nothing */
            json_object_set_new(rep, "console", json_string(""));
        return rep;
    }
    json_int_t to = json_integer_value(json_object_get(req, "timeout_ms"));
    /* shutdown: the VM process waits (timeout_ms) for the guest, then
     * destroys it; the client waits that + 5 s in all (docs/protocol.md). */
    int timeout = !strcmp(op, "shutdown") ? (int)(to > 0 ? to : 5000) + 1000 : LVD_CALL_TIMEOUT_MS;
    rep = vm_call(d, vm, req, timeout);
    if (!json_is_true(json_object_get(rep, "ok")))
        return rep;
    if (!strcmp(op, "pause") || !strcmp(op, "unpause"))
        json_object_set_new(vm->info, "state", json_string(op[0] == 'p' ? "paused" : "running"));
    else /* shutdown, destroy: the VM process replied and is ending */
        reap_vm(d, vm, 2000);
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

static json_t *handle(struct daemon *d, json_t *req)
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

/* ---- events ---- */

static void on_signal(struct daemon *d)
{
    struct signalfd_siginfo si;
    int st;
    pid_t pid;

    while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si))
        if (si.ssi_signo != SIGCHLD)
            d->quit = 1;
    /* Reap children: shells that died, VM processes that ended. */
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (unsigned i = 0; i < d->vms.n; i++) {
            struct lvd_vm *vm = d->vms.v[i];
            if (vm->pid != pid)
                continue;
            char why[128];
            if (WIFSIGNALED(st))
                snprintf(why, sizeof(why), "VM process killed by signal %d", WTERMSIG(st));
            else
                snprintf(why, sizeof(why), "VM process exited with status %d", WEXITSTATUS(st));
            lvd_vm_gone(&d->vms, vm, d->rundir, why);
            break;
        }
    }
}

static void loop(struct daemon *d)
{
    enum { MAXFD = 4 + MAX_CLIENTS + LVD_MAX_FLAVORS * LVD_MAX_POOL + 12000 };
    static struct pollfd pf[MAXFD];
    static void *who[MAXFD];
    static int kind[MAXFD]; /* 0 listen, 1 signal, 2 client, 3 shell, 4 vm */

    while (!d->quit) {
        nfds_t n = 0;
#define ADD(fd_, k_, p_) (pf[n] = (struct pollfd){(fd_), POLLIN, 0}, kind[n] = (k_), who[n++] = (p_))
        ADD(d->listen_fd, 0, NULL);
        ADD(d->sig_fd, 1, NULL);
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (d->clients[i].fd >= 0)
                ADD(d->clients[i].fd, 2, &d->clients[i]);
        for (unsigned f = 0; f < d->pool.nflavors; f++)
            for (unsigned i = 0; i < d->pool.fl[f].nshells; i++)
                if (!d->pool.fl[f].shells[i]->ready)
                    ADD(d->pool.fl[f].shells[i]->conn.fd, 3, &d->pool.fl[f]);
        for (unsigned i = 0; i < d->vms.n && n < MAXFD; i++)
            if (d->vms.v[i]->pidfd >= 0 && !d->vms.v[i]->is_child)
                ADD(d->vms.v[i]->pidfd, 4, d->vms.v[i]);
#undef ADD
        if (poll(pf, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "lightvmd: poll: %s\n", strerror(errno));
            return;
        }
        for (nfds_t i = 0; i < n && !d->quit; i++) {
            if (!pf[i].revents)
                continue;
            if (kind[i] == 0) {
                int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                int slot = -1;
                for (int k = 0; fd >= 0 && k < MAX_CLIENTS && slot < 0; k++)
                    if (d->clients[k].fd < 0)
                        slot = k;
                if (slot >= 0)
                    lv_ctl_conn_init(&d->clients[slot], fd);
                else if (fd >= 0)
                    close(fd);
            } else if (kind[i] == 1) {
                on_signal(d);
                break; /* the tables may have changed */
            } else if (kind[i] == 2) {
                struct lv_ctl_conn *c = who[i];
                json_t *req = NULL;
                int rc;
                while ((rc = lv_ctl_poll_recv(c, &req, NULL)) == 1) {
                    json_t *rep = handle(d, req);
                    json_decref(req);
                    lv_ctl_send(c, rep, 2000, NULL);
                    json_decref(rep);
                }
                if (rc < 0)
                    lv_ctl_conn_close(c);
                refill(d); /* after the reply: a create took a shell */
                break; /* a request may have changed the tables */
            } else if (kind[i] == 3) {
                struct lvd_flavor *f = who[i];
                for (unsigned k = 0; k < f->nshells; k++)
                    if (f->shells[k]->conn.fd == pf[i].fd) {
                        shell_event(d, f, k);
                        break;
                    }
                refill(d);
                break;
            } else {
                lvd_vm_gone(&d->vms, who[i], d->rundir, "VM process died");
                break;
            }
        }
    }
}

static int setup(struct daemon *d, struct lv_err *err)
{
    char path[PATH_MAX + 32];
    sigset_t sigs;
    ssize_t n;

    n = readlink("/proc/self/exe", d->self_exe, sizeof(d->self_exe) - 1);
    if (n <= 0)
        return lv_err_set(err, errno, "readlink /proc/self/exe: %s", strerror(errno));
    d->self_exe[n] = '\0';
    if (mkdir(d->rundir, 0700) < 0 && errno != EEXIST)
        return lv_err_set(err, errno, "%s: %s", d->rundir, strerror(errno));
    chmod(d->rundir, 0700);
    snprintf(path, sizeof(path), "%s/vms", d->rundir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/lightvmd.lock", d->rundir);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return lv_err_set(err, EBUSY, "another lightvmd is running on %s", d->rundir);
    /* Shells of an earlier daemon died with it: their sockets are stale. */
    snprintf(path, sizeof(path), "%s/shells", d->rundir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    DIR *sd = opendir(path);
    for (struct dirent *de; sd && (de = readdir(sd));) {
        char f[PATH_MAX + 300];
        if (de->d_name[0] == '.')
            continue;
        snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
        unlink(f);
    }
    if (sd)
        closedir(sd);
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
    int found = lvd_vms_adopt(&d->vms, d->rundir);
    if (found)
        fprintf(stderr, "lightvmd: found %d VM(s) in %s/vms\n", found, d->rundir);
    snprintf(path, sizeof(path), "%s/" LV_DAEMON_SOCK, d->rundir);
    d->listen_fd = lv_ctl_listen(path, err);
    if (d->listen_fd < 0)
        return d->listen_fd;
    return 0;
}

static void teardown(struct daemon *d)
{
    char path[PATH_MAX + 32];

    if (d->listen_fd >= 0) {
        snprintf(path, sizeof(path), "%s/" LV_DAEMON_SOCK, d->rundir);
        unlink(path);
        close(d->listen_fd);
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        lv_ctl_conn_close(&d->clients[i]);
    for (unsigned f = 0; f < d->pool.nflavors; f++)
        for (unsigned i = 0; i < d->pool.fl[f].nshells; i++) {
            pid_t pid = d->pool.fl[f].shells[i]->pid;
            lvd_shell_free(&d->pool.fl[f].shells[i], 1);
            waitpid(pid, NULL, 0);
        }
    lvd_vms_free(&d->vms);
    if (d->sig_fd >= 0)
        close(d->sig_fd);
    snprintf(path, sizeof(path), "%s/shells", d->rundir);
    rmdir(path); /* empty once the shells are gone */
    if (d->lock_fd >= 0) {
        snprintf(path, sizeof(path), "%s/lightvmd.lock", d->rundir);
        unlink(path);
        close(d->lock_fd);
    }
}

/* --pool MEM_MB,NICS,COUNT[,BRIDGE] */
static int parse_pool(struct lvd_pool *pl, const char *arg)
{
    char buf[64], *f[5], *save = NULL, *end;
    unsigned long v[3];
    struct lv_err err = {""};
    int n = 0;

    snprintf(buf, sizeof(buf), "%s", arg);
    for (char *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
        f[n++] = t;
    for (int i = 0; i < 3 && i < n; i++) {
        v[i] = strtoul(f[i], &end, 10);
        if (*end || !*f[i])
            n = 0;
    }
    if ((n != 3 && n != 4) || strlen(arg) >= sizeof(buf) || v[0] < LV_VM_MEMORY_MIN ||
        v[0] > LV_VM_MEMORY_MAX || v[1] > LV_VM_MAX_VIFS) {
        fprintf(stderr, "lightvmd: --pool '%s': want MEM_MB,NICS,COUNT[,BRIDGE] (memory %d..%d, "
                        "NICs 0..%d)\n", arg, LV_VM_MEMORY_MIN, LV_VM_MEMORY_MAX, LV_VM_MAX_VIFS);
        return -1;
    }
    if (lvd_pool_add_flavor(pl, (unsigned)v[0], (unsigned)v[1],
                            v[2] > 100000 ? 100000 : (unsigned)v[2],
                            n == 4 ? f[3] : NULL, &err) < 0) {
        fprintf(stderr, "lightvmd: --pool '%s': %s\n", arg, err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rundir", required_argument, NULL, 'r'}, {"pool", required_argument, NULL, 'p'},
        {"max-vms", required_argument, NULL, 'M'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct daemon d;
    struct lv_err err = {""};
    int c;

    if (argc > 1 && !strcmp(argv[1], "--vm-shell"))
        return vmproc_main(argc, argv);
    d.lock_fd = d.listen_fd = d.sig_fd = -1;
    d.max_vms = 10000;
    for (int i = 0; i < MAX_CLIENTS; i++)
        lv_ctl_conn_init(&d.clients[i], -1);
    snprintf(d.rundir, sizeof(d.rundir), "%s", lv_rundir());
    opterr = 0;
    while ((c = getopt_long(argc, argv, "r:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (snprintf(d.rundir, sizeof(d.rundir), "%s", optarg) >= (int)sizeof(d.rundir) - 64) {
                fprintf(stderr, "lightvmd: --rundir: path too long\n");
                return 2;
            }
            break;
        case 'p':
            if (parse_pool(&d.pool, optarg) < 0)
                return 2;
            break;
        case 'M': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !v || v > 100000) {
                fprintf(stderr, "lightvmd: --max-vms '%s': want 1..100000\n", optarg);
                return 2;
            }
            d.max_vms = (unsigned)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "lightvmd: unknown option or missing value '%s' (try --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lightvmd: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
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
