/*
 * cgroup.c: per-VM cgroups, v2 or v1, found at run time (cgroup.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/cgroup.h"

#define PARENT_NAME "lightvm"
#define DIR_MAX (LV_CG_PATH_MAX + 32) /* a parent + "/vm-PID" */

static const char *const v1_names[LV_CG_N] = {"memory", "pids", "cpu"};

/* ---- small file helpers ---- */

static int join(char *buf, size_t cap, const char *a, const char *b)
{
    int n = snprintf(buf, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Writes (val) to DIR/NAME in one write(). 0 or -errno (message in err). */
static int put(const char *dir, const char *name, const char *val, struct lv_err *err)
{
    char path[DIR_MAX + 64];
    size_t len = strlen(val);
    int fd, e = 0;

    if (join(path, sizeof(path), dir, name) < 0)
        return lv_err_set(err, ENAMETOOLONG, "%s/%s: path too long", dir, name);
    fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    ssize_t n = write(fd, val, len);
    if (n < 0)
        e = errno;
    else if ((size_t)n != len)
        e = EIO;
    close(fd);
    return e ? lv_err_set(err, e, "%s: writing '%s': %s", path, val, strerror(e)) : 0;
}

/* Reads DIR/NAME (at most cap-1 bytes, NUL-terminated). 0 or -errno. */
static int get(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[DIR_MAX + 64];
    ssize_t n;
    int fd;

    if (join(path, sizeof(path), dir, name) < 0)
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -EIO;
    buf[n] = '\0';
    return 0;
}

static int exists(const char *dir, const char *name)
{
    char path[DIR_MAX + 64];
    return join(path, sizeof(path), dir, name) == 0 && access(path, F_OK) == 0;
}

/* (word) is one of the comma- or space-separated words of (list). */
static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += wl)
        if ((p == list || p[-1] == ',' || p[-1] == ' ') &&
            (p[wl] == '\0' || p[wl] == ',' || p[wl] == ' ' || p[wl] == '\n'))
            return 1;
    return 0;
}

/* ---- probing ---- */

struct mounts {
    char v2[LV_CG_PATH_MAX];          /* a cgroup2 mount point, "" if none */
    char v1[LV_CG_N][LV_CG_PATH_MAX]; /* the v1 hierarchy of each controller */
};

/* One mountinfo line: "ID PARENT M:N ROOT MOUNTPOINT OPTS [TAGS] - FS SRC SUPEROPTS".
 * Only mounts of a hierarchy's root ("/") are used. */
static void scan_mount(char *line, struct mounts *m)
{
    char *f[5], *save = NULL, *sep = strstr(line, " - ");
    int i = 0;

    if (!sep)
        return;
    *sep = '\0';
    for (char *t = strtok_r(line, " ", &save); t && i < 5; t = strtok_r(NULL, " ", &save))
        f[i++] = t;
    char fs[32], src[64], opts[512];
    if (i < 5 || strcmp(f[3], "/") || strlen(f[4]) >= LV_CG_PATH_MAX - 64 ||
        sscanf(sep + 3, "%31s %63s %511s", fs, src, opts) != 3)
        return;
    if (!strcmp(fs, "cgroup2") && !m->v2[0])
        snprintf(m->v2, sizeof(m->v2), "%s", f[4]);
    else if (!strcmp(fs, "cgroup"))
        for (int c = 0; c < LV_CG_N; c++)
            if (has_word(opts, v1_names[c]) && !m->v1[c][0])
                snprintf(m->v1[c], sizeof(m->v1[c]), "%s", f[4]);
}

static int read_mounts(struct mounts *m, struct lv_err *err)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[2048];

    memset(m, 0, sizeof(*m));
    if (!f)
        return lv_err_set(err, errno, "/proc/self/mountinfo: %s", strerror(errno));
    while (fgets(line, sizeof(line), f))
        scan_mount(line, m);
    fclose(f);
    return 0;
}

/* This process's cgroup in the hierarchy holding (ctrl) ("" = the v2
 * line "0::"), from /proc/self/cgroup, into (out); -ENOENT if none. */
static int own_cgroup(const char *ctrl, char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024];
    int rc = -ENOENT;

    if (!f)
        return -errno;
    while (rc && fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        line[strcspn(line, "\n")] = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        int match = *ctrl ? has_word(c1 + 1, ctrl) : (c1[1] == '\0' && !strcmp(line, "0:"));
        if (match && c2[1] == '/' && strlen(c2 + 1) < cap) {
            snprintf(out, cap, "%s", c2 + 1);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* mkdir BASE/lightvm (it may exist) into (out). */
static int make_parent(const char *base, char *out, struct lv_err *err)
{
    if (join(out, LV_CG_PATH_MAX, base, PARENT_NAME) < 0)
        return lv_err_set(err, ENAMETOOLONG, "%s: path too long", base);
    if (mkdir(out, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        out[0] = '\0';
        return lv_err_set(err, e, "%s/%s: %s", base, PARENT_NAME, strerror(e));
    }
    return 0;
}

/* v2: the controllers enabled for BASE's children, then BASE/lightvm's.
 * Fails (EBUSY) where BASE holds processes and is not the root. */
static int v2_parent(const char *base, unsigned want, struct lv_cgroup_host *h,
                     struct lv_err *err)
{
    static const char *const plus[LV_CG_N] = {"+memory", "+pids", "+cpu"};
    char dir[LV_CG_PATH_MAX];
    int rc = put(base, "cgroup.subtree_control", plus[LV_CG_MEM], err);

    if (rc)
        return rc;
    rc = make_parent(base, dir, err);
    if (!rc)
        rc = put(dir, "cgroup.subtree_control", plus[LV_CG_MEM], err);
    if (rc)
        return rc;
    for (int c = 0; c < LV_CG_N; c++)
        if (c == LV_CG_MEM || ((want & (1u << c)) &&
                               put(base, "cgroup.subtree_control", plus[c], NULL) == 0 &&
                               put(dir, "cgroup.subtree_control", plus[c], NULL) == 0))
            snprintf(h->parent[c], sizeof(h->parent[c]), "%s", dir);
    h->swap = exists(base, "memory.swap.max") || exists(dir, "memory.swap.max");
    h->cpu_idle = h->parent[LV_CG_CPU][0] && exists(dir, "cpu.idle");
    h->version = 2;
    return 0;
}

static int probe_v2(const char *mnt, unsigned want, struct lv_cgroup_host *h,
                    struct lv_err *err)
{
    char ctl[256], own[LV_CG_PATH_MAX - 64], base[LV_CG_PATH_MAX];

    if (get(mnt, "cgroup.controllers", ctl, sizeof(ctl)) < 0 || !has_word(ctl, "memory"))
        return lv_err_set(err, ENOENT, "%s: no memory controller in cgroup v2", mnt);
    /* Under our own cgroup if that is allowed, else under the root. */
    if (own_cgroup("", own, sizeof(own)) == 0 && strcmp(own, "/") &&
        snprintf(base, sizeof(base), "%s%s", mnt, own) < (int)sizeof(base) &&
        v2_parent(base, want, h, NULL) == 0)
        return 0;
    return v2_parent(mnt, want, h, err);
}

static int probe_v1(const struct mounts *m, unsigned want, struct lv_cgroup_host *h,
                    struct lv_err *err)
{
    for (int c = 0; c < LV_CG_N; c++) {
        char own[LV_CG_PATH_MAX - 128], base[LV_CG_PATH_MAX - 64];
        if (!m->v1[c][0] || (c != LV_CG_MEM && !(want & (1u << c))) || own_cgroup(v1_names[c], own, sizeof(own)) < 0 ||
            snprintf(base, sizeof(base), "%s%s", m->v1[c], strcmp(own, "/") ? own : "") >=
                (int)sizeof(base) ||
            make_parent(base, h->parent[c], c == LV_CG_MEM ? err : NULL) < 0)
            h->parent[c][0] = '\0';
    }
    if (!h->parent[LV_CG_MEM][0] || !exists(h->parent[LV_CG_MEM], "memory.limit_in_bytes")) {
        memset(h, 0, sizeof(*h));
        return lv_err_set(err, ENOENT, "no usable v1 memory cgroup");
    }
    h->swap = exists(h->parent[LV_CG_MEM], "memory.memsw.limit_in_bytes");
    h->cpu_idle = h->parent[LV_CG_CPU][0] && exists(h->parent[LV_CG_CPU], "cpu.idle");
    h->version = 1;
    return 0;
}

int lv_cgroup_probe(struct lv_cgroup_host *h, unsigned want, struct lv_err *err)
{
    struct mounts m;
    int rc;

    memset(h, 0, sizeof(*h));
    rc = read_mounts(&m, err);
    if (rc)
        return rc;
    if (m.v2[0] && probe_v2(m.v2, want, h, NULL) == 0)
        return 0;
    memset(h, 0, sizeof(*h));
    if (m.v1[LV_CG_MEM][0])
        probe_v1(&m, want, h, err); /* h->version 0 and why in err when it fails */
    else
        lv_err_set(err, ENOENT, "no memory cgroup controller mounted (v1 or v2)");
    return 0;
}

void lv_cgroup_describe(const struct lv_cgroup_host *h, char *buf, size_t cap)
{
    if (!h->version) {
        snprintf(buf, cap, "no cgroup");
        return;
    }
    snprintf(buf, cap, "cgroup v%d (memory%s%s%s%s, under %s)", h->version,
             h->swap ? "+swap" : "", h->parent[LV_CG_PIDS][0] ? ", pids" : "",
             h->parent[LV_CG_CPU][0] ? ", cpu" : "",
             h->parent[LV_CG_CPU][0] ? (h->cpu_idle ? "+idle" : "+lowest weight") : "",
             h->parent[LV_CG_MEM]);
}

/* ---- one VM ---- */

int lv_cgroup_vm_dir(const struct lv_cgroup_host *h, int which, pid_t pid, char *buf,
                     size_t cap)
{
    if (which < 0 || which >= LV_CG_N || !h->version || !h->parent[which][0])
        return -ENOENT;
    int n = snprintf(buf, cap, "%s/vm-%d", h->parent[which], (int)pid);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Controller (c)'s directory is one an earlier controller already uses (v2). */
static int shared_dir(const struct lv_cgroup_host *h, int c)
{
    for (int k = 0; k < c; k++)
        if (h->parent[k][0] && !strcmp(h->parent[k], h->parent[c]))
            return 1;
    return 0;
}

/* (weight) (1..10000, cgroup v2's scale) into its file: v2 cpu.weight,
 * v1 cpu.shares (100 = 1024). */
static int put_weight(const struct lv_cgroup_host *h, const char *dir, unsigned weight,
                      struct lv_err *err)
{
    char v[16];

    snprintf(v, sizeof(v), "%u", h->version == 2 ? weight : weight * 1024u / 100u);
    return put(dir, h->version == 2 ? "cpu.weight" : "cpu.shares", v, err);
}

/* A new CPU group: the cap, if any, then idle (cpu.idle 1, else the
 * lowest weight). The weight is not written while cpu.idle is 1: the
 * kernel refuses it (EINVAL) then, and sets the default one itself when
 * the group leaves idle. */
static int set_cpu(const struct lv_cgroup_host *h, const char *dir,
                   const struct lv_cgroup_limits *lim, struct lv_err *err)
{
    char v[48];
    int rc = 0;

    if (lim->cpu_max_pct) {
        unsigned long quota = (unsigned long)lim->cpu_max_pct * (LV_CG_CPU_PERIOD_US / 100);
        if (h->version == 2) {
            snprintf(v, sizeof(v), "%lu %u", quota, LV_CG_CPU_PERIOD_US);
            rc = put(dir, "cpu.max", v, err);
        } else {
            snprintf(v, sizeof(v), "%u", LV_CG_CPU_PERIOD_US);
            rc = put(dir, "cpu.cfs_period_us", v, err);
            snprintf(v, sizeof(v), "%lu", quota);
            if (!rc)
                rc = put(dir, "cpu.cfs_quota_us", v, err);
        }
    }
    if (rc)
        return rc;
    if (h->cpu_idle)
        return put(dir, "cpu.idle", "1", err);
    return h->version == 2 ? put(dir, "cpu.weight", "1", err) : put(dir, "cpu.shares", "2", err);
}

static int set_limits(const struct lv_cgroup_host *h, pid_t pid,
                      const struct lv_cgroup_limits *lim, struct lv_err *err)
{
    char dir[DIR_MAX], v[32];
    int rc;

    lv_cgroup_vm_dir(h, LV_CG_MEM, pid, dir, sizeof(dir));
    snprintf(v, sizeof(v), "%" PRIu64, lim->mem_bytes);
    if (h->version == 2) {
        rc = put(dir, "memory.max", v, err);
        if (!rc && h->swap)
            rc = put(dir, "memory.swap.max", "0", err);
        if (!rc && exists(dir, "memory.oom.group"))
            rc = put(dir, "memory.oom.group", "1", err);
    } else {
        rc = put(dir, "memory.limit_in_bytes", v, err);
        if (!rc && h->swap) /* memory + swap: no more than memory alone */
            rc = put(dir, "memory.memsw.limit_in_bytes", v, err);
    }
    if (!rc && lv_cgroup_vm_dir(h, LV_CG_PIDS, pid, dir, sizeof(dir)) == 0) {
        snprintf(v, sizeof(v), "%u", lim->pids);
        rc = put(dir, "pids.max", v, err);
    }
    if (!rc && lv_cgroup_vm_dir(h, LV_CG_CPU, pid, dir, sizeof(dir)) == 0)
        rc = set_cpu(h, dir, lim, err);
    return rc;
}

int lv_cgroup_vm_create(const struct lv_cgroup_host *h, pid_t pid,
                        const struct lv_cgroup_limits *lim, struct lv_err *err)
{
    char dir[DIR_MAX], v[24];
    int rc = 0;

    if (!h->version)
        return lv_err_set(err, ENOTSUP, "no usable memory cgroup on this host");
    if (pid <= 0 || !lim->mem_bytes || lim->mem_bytes > INT64_MAX || !lim->pids ||
        !lim->cpu_weight || lim->cpu_weight > 10000 || lim->cpu_max_pct > LV_CG_CPU_MAX_PCT)
        return lv_err_set(err, EINVAL, "cgroup for pid %d: bad limits (%" PRIu64 " bytes, "
                          "%u tasks, weight %u, cap %u%%)", (int)pid, lim->mem_bytes, lim->pids,
                          lim->cpu_weight, lim->cpu_max_pct);
    for (int c = 0; !rc && c < LV_CG_N; c++) {
        if (shared_dir(h, c) || lv_cgroup_vm_dir(h, c, pid, dir, sizeof(dir)) == -ENOENT)
            continue;
        if (lv_cgroup_vm_dir(h, c, pid, dir, sizeof(dir)) < 0)
            rc = lv_err_set(err, ENAMETOOLONG, "%s: path too long", h->parent[c]);
        else if (mkdir(dir, 0755) < 0)
            rc = lv_err_set(err, errno, "%s: %s", dir, strerror(errno));
    }
    if (!rc)
        rc = set_limits(h, pid, lim, err);
    snprintf(v, sizeof(v), "%d", (int)pid);
    for (int c = 0; !rc && c < LV_CG_N; c++)
        if (!shared_dir(h, c) && lv_cgroup_vm_dir(h, c, pid, dir, sizeof(dir)) == 0)
            rc = put(dir, "cgroup.procs", v, err);
    if (rc)
        lv_cgroup_vm_remove(h, pid);
    return rc;
}

int lv_cgroup_vm_activate(const struct lv_cgroup_host *h, pid_t pid, unsigned cpu_weight,
                          struct lv_err *err)
{
    char dir[DIR_MAX];
    int rc;

    if (pid <= 0 || !cpu_weight || cpu_weight > 10000)
        return lv_err_set(err, EINVAL, "CPU share of pid %d: bad weight %u", (int)pid, cpu_weight);
    rc = lv_cgroup_vm_dir(h, LV_CG_CPU, pid, dir, sizeof(dir));
    if (rc == -ENOENT)
        return 0; /* no CPU group: nothing is idle */
    if (rc < 0)
        return lv_err_set(err, -rc, "%s: path too long", h->parent[LV_CG_CPU]);
    if (h->cpu_idle)
        rc = put(dir, "cpu.idle", "0", err);
    return rc ? rc : put_weight(h, dir, cpu_weight, err);
}

int lv_cgroup_vm_oom_kills(const struct lv_cgroup_host *h, pid_t pid)
{
    char dir[DIR_MAX], buf[1024];
    const char *p;
    int rc = lv_cgroup_vm_dir(h, LV_CG_MEM, pid, dir, sizeof(dir));

    if (!rc)
        rc = get(dir, h->version == 2 ? "memory.events" : "memory.oom_control", buf,
                 sizeof(buf));
    if (rc)
        return rc;
    for (p = buf; (p = strstr(p, "oom_kill ")); p++)
        if (p == buf || p[-1] == '\n') {
            char *end;
            unsigned long n = strtoul(p + 9, &end, 10);
            return end == p + 9 || n > INT32_MAX ? -EIO : (int)n;
        }
    return -ENOENT;
}

int lv_cgroup_vm_mem_limit(const struct lv_cgroup_host *h, pid_t pid, uint64_t *bytes)
{
    char dir[DIR_MAX], buf[32], *end;
    int rc = lv_cgroup_vm_dir(h, LV_CG_MEM, pid, dir, sizeof(dir));

    if (!rc)
        rc = get(dir, h->version == 2 ? "memory.max" : "memory.limit_in_bytes", buf, sizeof(buf));
    if (rc)
        return rc;
    errno = 0;
    *bytes = strtoull(buf, &end, 10);
    return end == buf || (*end && *end != '\n') || errno ? -EIO : 0; /* "max": EIO */
}

int lv_cgroup_vm_remove(const struct lv_cgroup_host *h, pid_t pid)
{
    char dir[DIR_MAX];
    int rc = 0;

    for (int c = 0; c < LV_CG_N; c++)
        if (!shared_dir(h, c) && lv_cgroup_vm_dir(h, c, pid, dir, sizeof(dir)) == 0 &&
            rmdir(dir) < 0 && errno != ENOENT && !rc)
            rc = -errno;
    return rc;
}

int lv_cgroup_sweep(const struct lv_cgroup_host *h)
{
    int removed = 0;

    for (int c = 0; h->version && c < LV_CG_N; c++) {
        DIR *d = h->parent[c][0] && !shared_dir(h, c) ? opendir(h->parent[c]) : NULL;
        for (struct dirent *de; d && (de = readdir(d));) {
            char *end = NULL, dir[DIR_MAX];
            long pid = strncmp(de->d_name, "vm-", 3) ? 0 : strtol(de->d_name + 3, &end, 10);
            if (pid <= 0 || pid > INT32_MAX || *end || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
                continue;
            if (lv_cgroup_vm_dir(h, c, (pid_t)pid, dir, sizeof(dir)) == 0 && rmdir(dir) == 0)
                removed++;
        }
        if (d)
            closedir(d);
    }
    return removed;
}
