/*
 * vms.c: the daemon's table of VMs. The truth is in $RUNDIR/vms: a VM
 * process owns its directory and socket; the table caches what each said
 * about itself so that `list` costs no round trip per VM.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lightvm/console.h"
#include "netguard.h"
#include "pool.h"
#include "vms.h"

double lvd_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int lvd_vm_path(char *buf, size_t cap, const char *rundir, const char *name, const char *file)
{
    int n = file ? snprintf(buf, cap, "%s/vms/%s/%s", rundir, name, file)
                 : snprintf(buf, cap, "%s/vms/%s", rundir, name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int lvd_shell_path(char *buf, size_t cap, const char *rundir, pid_t pid, const char *file)
{
    int n = file ? snprintf(buf, cap, "%s/shells/%d/%s", rundir, (int)pid, file)
                 : snprintf(buf, cap, "%s/shells/%d", rundir, (int)pid);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void lvd_dir_empty(int dir_fd)
{
    static const char *const files[] = {"ctl.sock", LV_CONSOLE_LOG, LV_CONSOLE_OLD, "spec.json",
                                        "spec.json.tmp", "crashed"};

    for (size_t i = 0; dir_fd >= 0 && i < sizeof(files) / sizeof(files[0]); i++)
        unlinkat(dir_fd, files[i], 0);
}

/* Empties then removes the directory (path). */
static void dir_remove(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0) {
        lvd_dir_empty(fd);
        close(fd);
    }
    rmdir(path);
}

void lvd_shell_dir_remove(const char *rundir, pid_t pid)
{
    char path[4096];

    if (lvd_shell_path(path, sizeof(path), rundir, pid, NULL) == 0)
        dir_remove(path);
}

void lvd_vm_dir_remove(const char *rundir, const char *name)
{
    char path[4096];

    if (lvd_vm_path(path, sizeof(path), rundir, name, NULL) == 0)
        dir_remove(path);
}

struct lvd_vm *lvd_vms_find(struct lvd_vms *t, const char *name)
{
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->v[i]->name, name))
            return t->v[i];
    return NULL;
}

struct lvd_vm *lvd_vms_add(struct lvd_vms *t, const char *name, long id)
{
    struct lvd_vm *vm;

    if (t->n == t->cap) {
        unsigned cap = t->cap ? t->cap * 2 : 64;
        struct lvd_vm **v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    vm = calloc(1, sizeof(*vm));
    if (!vm)
        return NULL;
    snprintf(vm->name, sizeof(vm->name), "%s", name);
    vm->id = id;
    vm->pidfd = -1;
    t->v[t->n++] = vm;
    if (id >= t->next_id)
        t->next_id = id + 1;
    return vm;
}

static void vm_free(struct lvd_vm *vm)
{
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    json_decref(vm->info);
    free(vm);
}

/* The VM's taps are gone or going: their antispoof rules go too. */
static void unguard(struct lvd_vms *t, struct lvd_vm *vm)
{
    lvd_guard_remove(t->nft, vm->ifindex, vm->nifindex);
    vm->nifindex = 0;
}

void lvd_vms_remove(struct lvd_vms *t, struct lvd_vm *vm)
{
    unguard(t, vm);
    for (unsigned i = 0; i < t->n; i++)
        if (t->v[i] == vm) {
            memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
            t->n--;
            vm_free(vm);
            return;
        }
}

void lvd_vms_free(struct lvd_vms *t)
{
    for (unsigned i = 0; i < t->n; i++)
        vm_free(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof(*t));
}

int lvd_note_write(int dir_fd, const char *path, const char *line)
{
    int fd = openat(dir_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t len = strlen(line);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        rc = -EIO;
    close(fd);
    return rc;
}

static int read_line(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *f = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "r") : NULL;

    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!fgets(buf, (int)cap, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

int lvd_vm_gone(struct lvd_vms *t, struct lvd_vm *vm, const char *rundir, const char *why)
{
    char path[4096];
    struct stat st;

    if (vm->pidfd >= 0) {
        close(vm->pidfd);
        vm->pidfd = -1;
    }
    /* Ended normally: the VM process emptied its directory (it cannot
     * remove it from its jail). */
    if (lvd_vm_path(path, sizeof(path), rundir, vm->name, NULL) < 0 || rmdir(path) == 0 ||
        stat(path, &st) < 0) {
        lvd_vms_remove(t, vm);
        return 1;
    }
    vm->crashed = 1;
    vm->pid = 0;
    unguard(t, vm);
    lvd_vm_path(path, sizeof(path), rundir, vm->name, "crashed");
    if (read_line(path, vm->reason, sizeof(vm->reason)) < 0 || !vm->reason[0]) {
        /* It could not say so itself (killed): say it for it. */
        snprintf(vm->reason, sizeof(vm->reason), "%s", why);
        lvd_note_write(AT_FDCWD, path, why);
    }
    /* Its host resources: the taps and memory went with the process; the
     * socket file is all that is left. */
    lvd_vm_path(path, sizeof(path), rundir, vm->name, "ctl.sock");
    unlink(path);
    return 0;
}

/* The JSON file (path), written by a VM process (so not trusted): a
 * regular file of at most LV_VM_SPEC_MAX + 64 bytes, not followed if a
 * symbolic link, never waited on. NULL otherwise. */
static json_t *load_small_json(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    json_t *j = NULL;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= LV_VM_SPEC_MAX + 64)
        j = json_loadfd(fd, JSON_REJECT_DUPLICATES, NULL);
    close(fd);
    return j;
}

/* A crashed VM's description from its spec.json. */
static json_t *info_from_spec(const char *rundir, const char *name, long *id)
{
    char path[4096];
    json_t *spec, *info;

    *id = 0;
    if (lvd_vm_path(path, sizeof(path), rundir, name, "spec.json") < 0)
        return NULL;
    spec = load_small_json(path);
    if (!json_is_object(spec)) {
        json_decref(spec);
        return json_pack("{s:s}", "name", name);
    }
    *id = (long)json_integer_value(json_object_get(spec, "id"));
    info = json_pack("{s:s,s:I,s:O?,s:O?,s:i,s:O?}", "name", name, "id", (json_int_t)*id,
                     "memory", json_object_get(spec, "memory"), "kernel",
                     json_object_get(spec, "kernel"), "vcpus", 1, "vifs",
                     json_object_get(spec, "vifs"));
    json_decref(spec);
    return info;
}

/* Asks the VM process listening on (path) for {"op":"info"} (without
 * "v": every version answers it, with its version in "v"). 0 and its
 * reply (*rep, ok or not: a new reference) and its pid as the kernel
 * knows it (*pid, SO_PEERCRED), or -errno when nothing answers. */
static int ask_info(const char *path, json_t **rep, pid_t *pid)
{
    json_t *req = json_pack("{s:s}", "op", "info");
    struct ucred cr;
    socklen_t len = sizeof(cr);
    struct lv_ctl_conn c;
    int fd = req ? lv_ctl_connect(path, NULL) : -ENOMEM, rc;

    *rep = NULL;
    *pid = 0;
    if (fd < 0) {
        json_decref(req);
        return fd;
    }
    lv_ctl_conn_init(&c, fd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
        *pid = cr.pid;
    rc = lv_ctl_send(&c, req, LVD_CALL_TIMEOUT_MS, NULL);
    if (!rc)
        rc = lv_ctl_recv(&c, LVD_CALL_TIMEOUT_MS, rep, NULL);
    lv_ctl_conn_close(&c);
    json_decref(req);
    return rc;
}

/* 1 if the VM process whose reply to info is (rep) speaks this daemon's
 * VM protocol (a reply without "v" comes from a VM process older than
 * versions, which speaks version 1); else 0, after one line saying that
 * it is left running and not managed: never misread, never killed. */
static int same_version(const char *name, pid_t pid, json_t *rep)
{
    json_int_t v;

    if (lv_ctl_version_get(rep, 1, &v, NULL) < 0) {
        fprintf(stderr, "lightvmd: VM '%s' (pid %d) names no VM protocol version (its \"v\" is "
                "not an integer), this lightvmd v%d: left running, not managed\n", name,
                (int)pid, LV_VMP_VERSION);
        return 0;
    }
    if (v == LV_VMP_VERSION)
        return 1;
    fprintf(stderr, "lightvmd: VM '%s' (pid %d) speaks VM protocol v%lld, this lightvmd v%d: "
            "left running, not managed\n", name, (int)pid, (long long)v, LV_VMP_VERSION);
    return 0;
}

int lvd_vms_adopt(struct lvd_vms *t, const char *rundir)
{
    char dir[4096], path[4096];
    struct dirent *de;
    DIR *d;
    int found = 0;

    snprintf(dir, sizeof(dir), "%s/vms", rundir);
    d = opendir(dir);
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        json_t *rep = NULL, *info;
        long id = 0;
        pid_t peer;
        if (de->d_name[0] == '.' || strlen(de->d_name) >= LV_NAME_MAX || lvd_vms_find(t, de->d_name))
            continue;
        found++;
        lvd_vm_path(path, sizeof(path), rundir, de->d_name, "ctl.sock");
        int answered = ask_info(path, &rep, &peer) == 0;
        if (answered && !same_version(de->d_name, peer, rep)) {
            json_decref(rep);
            continue;
        }
        if (answered && json_is_true(json_object_get(rep, "ok")) &&
            json_is_object(info = json_object_get(rep, "vm"))) {
            id = (long)json_integer_value(json_object_get(info, "id"));
            struct lvd_vm *vm = lvd_vms_add(t, de->d_name, id);
            if (vm) {
                vm->pid = (pid_t)json_integer_value(json_object_get(info, "pid"));
                vm->pidfd = vm->pid > 0 ? lvd_pidfd_open(vm->pid) : -1;
                vm->info = json_incref(info);
                vm->nifindex = lvd_guard_ifindexes(info, vm->ifindex, 8);
                if (vm->pidfd < 0) /* it died between the reply and now */
                    lvd_vm_gone(t, vm, rundir, "VM process died");
            }
        } else {
            info = info_from_spec(rundir, de->d_name, &id);
            struct lvd_vm *vm = lvd_vms_add(t, de->d_name, id);
            if (vm) {
                vm->info = info;
                info = NULL;
                lvd_vm_gone(t, vm, rundir, "VM process gone (found so when lightvmd started)");
            }
            json_decref(info);
        }
        json_decref(rep);
    }
    closedir(d);
    return found;
}

json_t *lvd_vm_json(const struct lvd_vm *vm)
{
    json_t *o = vm->info ? json_deep_copy(vm->info) : json_object();
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    json_object_set_new(o, "name", json_string(vm->name));
    json_object_set_new(o, "id", json_integer(vm->id));
    if (vm->crashed) {
        json_object_set_new(o, "state", json_string("crashed"));
        json_object_set_new(o, "reason", json_string(vm->reason));
        json_object_set_new(o, "pid", json_integer(0));
        json_object_set_new(o, "uptime_s", json_real(0));
    } else {
        double started = json_real_value(json_object_get(o, "started"));
        if (started > 0)
            json_object_set_new(o, "uptime_s",
                                json_real(now.tv_sec + now.tv_nsec / 1e9 - started));
    }
    return o;
}
