/*
 * test_limits: each VM process's memory limit (guest RAM + 1/64 for page
 * tables + lightvmd --vm-overhead, in a cgroup of its own), end to end on
 * real KVM, in a network and mount namespace of the test's own:
 *
 *   1. lightvmd --vm-overhead 0 finds the host's cgroups
 *   2. a daytime VM "nb" (64 MiB) answers; /proc/PID/cgroup names its own
 *      cgroup (lightvm/vm-PID) and the directories exist
 *   3. a memhog VM "hog" (64 MiB, touches all of its heap) is killed by
 *      the kernel: `lightvm info` and the daemon log say "over its memory
 *      limit (N MiB): killed"; its cgroup is gone
 *   4. nb is untouched: same pid, still running, still answers
 *   5. destroy: nb's cgroup directories are gone; a leftover cgroup of a
 *      process that no longer exists is removed by the next lightvmd
 *   6. lightvmd with the default overhead: the same memhog VM runs, has
 *      touched all of it and answers; destroy removes its cgroup
 *
 * and each VM process's CPU group (lightvmd keeps a pool of one shell):
 * a ready shell's group is idle (cpu.idle 1, or the lowest weight), the
 * VM it becomes on create runs at a VM's share (cpu.idle 0, weight 100 /
 * shares 1024), the next shell is idle again; with --vm-cpu-max 50 a VM's
 * group has the cap (cpu.max 50000 100000 / cpu.cfs_quota_us 50000).
 *
 * usage: test_limits LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM (skips without
 * it, fails under LIGHTVM_REQUIRE_KVM=1), root, and a memory cgroup
 * controller (v1 or v2).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lvtest.h"

#define BR "lvlim0"
#define HOST_IP "10.78.0.1"
#define MEM "64"
#define MAX_CG 4

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin;
static char rundir[64] = "/tmp/lvtest-limits-XXXXXX", cfgdir[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

/* A VM's cgroup directories (one per hierarchy that names vm-PID). */
struct cgdirs {
    int n;
    char d[MAX_CG][PATH_MAX];
};

static const char *config(const char *name, const char *app, int k)
{
    static char path[PATH_MAX + 64];
    char buf[1024];

    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"kernel\":\"%s/%s.elf\",\"memory\":" MEM ",\"vcpus\":1,"
             "\"vifs\":[{\"bridge\":\"" BR "\",\"ip\":\"10.78.0.%d/24\"}]}",
             name, gdir, app, k + 2);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

/* nc to port 13 of VM k: 1 if a line with (needle) came. */
static int answers(int k, const char *needle)
{
    char ip[24];

    snprintf(ip, sizeof(ip), "10.78.0.%d", k + 2);
    return lvt_daytime_answers(&tool, nc_bin, ip, "5") && strstr(tool.out, needle);
}

/* lightvmd with a pool of one 64 MiB shell with one NIC, and (opt, val)
 * if (opt). */
static int daemon_start(const char *opt, const char *val)
{
    const char *argv[] = {lightvmd, "--rundir", rundir, "--pool", MEM ",1,1", opt, val, NULL};

    if (lvt_bg_start(&daemon_bg, argv) < 0) {
        CHECK(0, "cannot start %s: %s", lightvmd, strerror(errno));
        return 0;
    }
    if (!lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir))
        return 0;
    const char *l = strstr(daemon_bg.err, "VM limits: ");
    CHECK(l && !strncmp(l, "VM limits: cgroup v", 19),
          "lightvmd found no usable memory cgroup: %s", daemon_bg.err);
    if (l)
        printf("%.*s\n", (int)strcspn(l, "\n"), l);
    return 1;
}

static long pid_in(const char *text)
{
    const char *p = strstr(text, "pid=");
    return p ? strtol(p + 4, NULL, 10) : -1;
}

#define vm_pid(name) lvt_vm_pid(&cli, lightvm, rundir, name)
#define pool_wait(want) lvt_pool_wait(&cli, lightvm, rundir, want)

/* (word) is one of the comma-separated words of (list). */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

/* The mount point of the v1 hierarchy of (ctrl), or of the v2 one (ctrl
 * ""): the last such mount (the test's own, over the others). */
static int mount_of(const char *ctrl, char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[1024], mp[512], fs[32], src[64], opts[512];
    int found = 0;

    while (f && fgets(line, sizeof(line), f)) {
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mp) != 1 ||
            sscanf(sep + 3, "%31s %63s %511s", fs, src, opts) != 3)
            continue;
        if (*ctrl ? !strcmp(fs, "cgroup") && has_word(opts, ctrl) : !strcmp(fs, "cgroup2")) {
            snprintf(out, cap, "%s", mp);
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* The directories of process (pid)'s cgroups named lightvm/vm-PID. */
static void cg_dirs(long pid, struct cgdirs *c)
{
    char path[64], line[1024], suffix[48], mp[512];
    FILE *f;

    c->n = 0;
    snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
    snprintf(suffix, sizeof(suffix), "/lightvm/vm-%ld", pid);
    f = fopen(path, "re");
    while (f && fgets(line, sizeof(line), f) && c->n < MAX_CG) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2++ = '\0';
        c2[strcspn(c2, "\n")] = '\0';
        size_t l = strlen(c2), sl = strlen(suffix);
        if (l < sl || strcmp(c2 + l - sl, suffix))
            continue;
        char *comma = strchr(c1 + 1, ',');
        if (comma)
            *comma = '\0'; /* "cpu,cpuacct": the first names the hierarchy */
        if (mount_of(c1 + 1, mp, sizeof(mp)))
            snprintf(c->d[c->n++], PATH_MAX, "%s%s", mp, c2);
    }
    if (f)
        fclose(f);
}

/* Reads DIR/NAME into (buf) without its newline; 0 or -1. */
static int cg_read(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[PATH_MAX + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%.*s/%s", PATH_MAX, dir, name);
    f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return f && n ? 0 : -1;
}

/* The CPU group among (c) (the one with a weight file; v2's single
 * directory has them all): 1 if it is idle (cpu.idle 1, or the lowest
 * weight where there is no cpu.idle), 0 if it has a VM's share (cpu.idle
 * 0 and weight 100 / shares 1024), -1 if neither or there is none.
 * (what) names it in the line printed. */
static int cg_cpu_idle(const struct cgdirs *c, const char *what)
{
    char idle[16] = "", w[32] = "";

    for (int i = 0; i < c->n; i++) {
        int v2 = cg_read(c->d[i], "cpu.weight", w, sizeof(w)) == 0;
        if (!v2 && cg_read(c->d[i], "cpu.shares", w, sizeof(w)) < 0)
            continue;
        int has_idle = cg_read(c->d[i], "cpu.idle", idle, sizeof(idle)) == 0;
        printf("%s's CPU group: cpu.idle %s, %s %s (%s)\n", what, has_idle ? idle : "(none)",
               v2 ? "cpu.weight" : "cpu.shares", w, c->d[i]);
        if (has_idle ? !strcmp(idle, "1") : !strcmp(w, v2 ? "1" : "2"))
            return 1;
        return (!has_idle || !strcmp(idle, "0")) && !strcmp(w, v2 ? "100" : "1024") ? 0 : -1;
    }
    printf("%s: no CPU group among its %d cgroup(s)\n", what, c->n);
    return -1;
}

/* The pid of a ready shell of the pool ($RUNDIR/shells/PID), other than
 * (not); -1 if none. */
static long ready_shell(long not)
{
    char path[PATH_MAX + 16];
    struct dirent *de;
    long pid = -1;
    DIR *d;

    pool_wait(1);
    snprintf(path, sizeof(path), "%s/shells", rundir);
    d = opendir(path);
    while (d && pid < 0 && (de = readdir(d))) {
        long p = strtol(de->d_name, NULL, 10);
        if (p > 0 && p != not)
            pid = p;
    }
    if (d)
        closedir(d);
    return pid;
}

/* (c) with vm-OLD replaced by vm-NEW: another VM's directories. */
static void cg_rename(const struct cgdirs *c, long pid, struct cgdirs *out)
{
    out->n = c->n;
    for (int i = 0; i < c->n; i++) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", c->d[i]);
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = '\0';
        snprintf(out->d[i], PATH_MAX, "%.*s/vm-%ld", PATH_MAX - 32, parent, pid);
    }
}

static int cg_gone(const struct cgdirs *c)
{
    for (int i = 0; i < c->n; i++)
        if (access(c->d[i], F_OK) == 0)
            return 0;
    return 1;
}

/* Waits (bounded: 10 s) until none of (c) is there: a destroyed VM is
 * reaped, and its cgroup removed, just after destroy returns. */
static int cg_wait_gone(const struct cgdirs *c)
{
    for (int t = 0; t < 10000 && !cg_gone(c); t += 50)
        lvt_sleep_ms(50);
    return cg_gone(c);
}

/* Steps 1-5 on a daemon with --vm-overhead 0. Leaves, for step 6, the
 * cgroup directories of a process that is gone in (*stale). */
static void case_tight(struct cgdirs *stale)
{
    struct cgdirs nb_cg, hog_cg;

    stale->n = 0;
    if (!daemon_start("--vm-overhead", "0"))
        return;
    /* A ready shell waits in an idle CPU group ... */
    long shell = ready_shell(0);
    struct cgdirs sh_cg;
    cg_dirs(shell, &sh_cg);
    CHECK(shell > 0 && sh_cg.n > 0, "no ready shell (%ld) in a lightvm/vm-PID cgroup", shell);
    CHECK(cg_cpu_idle(&sh_cg, "the ready shell") == 1, "a ready shell's CPU group is not idle");
    CHECK(lv("create", config("nb", "daytime", 0), NULL) == 0, "create nb: %s", cli.err);
    long nb = pid_in(cli.out);
    CHECK(strstr(cli.out, "pool=hit"), "nb: no pool hit: %s",
          cli.out);
    CHECK(nb > 0 && answers(0, "\r\n"), "nb (pid %ld) does not answer: %s", nb, tool.err);
    cg_dirs(nb, &nb_cg);
    CHECK(nb_cg.n > 0, "/proc/%ld/cgroup names no lightvm/vm-%ld", nb, nb);
    for (int i = 0; i < nb_cg.n; i++) {
        printf("nb's cgroup: %s\n", nb_cg.d[i]);
        CHECK(access(nb_cg.d[i], F_OK) == 0, "%s: %s", nb_cg.d[i], strerror(errno));
    }
    /* ... and, the VM it became, runs at a VM's share; the next one
     * prepared is idle again. */
    CHECK(nb == shell, "nb (pid %ld) is not the ready shell %ld", nb, shell);
    CHECK(cg_cpu_idle(&nb_cg, "nb") == 0, "running nb's CPU group is idle or not at a VM's share");
    long next = ready_shell(shell);
    cg_dirs(next, &sh_cg);
    CHECK(next > 0 && cg_cpu_idle(&sh_cg, "the next ready shell") == 1,
          "the next ready shell (%ld)'s CPU group is not idle", next);

    CHECK(lv("create", config("hog", "memhog", 1), NULL) == 0, "create hog: %s", cli.err);
    long hog = pid_in(cli.out);
    cg_rename(&nb_cg, hog, &hog_cg);
    int crashed = 0;
    for (int t = 0; t < 30000 && !crashed; t += 100) {
        crashed = lv("info", "hog", NULL) == 0 && strstr(cli.out, "state: crashed");
        if (!crashed)
            lvt_sleep_ms(100);
    }
    const char *r = strstr(cli.out, "reason: ");
    printf("hog: %.*s\n", r ? (int)strcspn(r, "\n") : 0, r ? r : "");
    /* 64 MiB + 64/64 for page tables + 0 */
    CHECK(crashed && r && strstr(r, "over its memory limit (65 MiB): killed"),
          "hog (64 MiB, all touched, --vm-overhead 0) was not killed for its memory: %s",
          cli.out);
    char line[96];
    snprintf(line, sizeof(line), "VM hog (pid %ld) over its memory limit (", hog);
    /* (logged before the VM was marked crashed: already in the pipe) */
    CHECK(lvt_bg_wait(&daemon_bg, line, 5000), "the daemon log does not say '%s': %s", line,
          daemon_bg.err);
    CHECK(cg_gone(&hog_cg), "hog's cgroup is still there (%s)", hog_cg.d[0]);

    /* The neighbour: the same process, running, answering. */
    CHECK(vm_pid("nb") == nb && strstr(cli.out, "state: running") && kill((pid_t)nb, 0) == 0,
          "nb was touched (pid %ld before): %s", nb, cli.out);
    CHECK(answers(0, "\r\n"), "nb no longer answers: %s", tool.err);

    CHECK(lv("destroy", "hog", NULL) == 0, "destroy hog: %s", cli.err);
    CHECK(lv("destroy", "nb", NULL) == 0, "destroy nb: %s", cli.err);
    CHECK(cg_wait_gone(&nb_cg), "nb's cgroup is still there after destroy (%s)", nb_cg.d[0]);

    /* A cgroup left by a process that is gone (a daemon killed before it
     * reaped its VM): the next lightvmd removes it. */
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    cg_rename(&nb_cg, gone, stale);
    for (int i = 0; i < stale->n; i++)
        CHECK(mkdir(stale->d[i], 0755) == 0, "mkdir %s: %s", stale->d[i], strerror(errno));
    CHECK(lvt_daemon_term(&daemon_bg) == 0, "lightvmd --vm-overhead 0 did not stop cleanly");
}

/* Step 6 on a daemon with the default overhead. */
static void case_default(const struct cgdirs *stale)
{
    struct cgdirs cg;

    if (!daemon_start("--vm-cpu-max", "50"))
        return;
    CHECK(cg_gone(stale), "the leftover cgroup %s was not removed at start", stale->d[0]);
    CHECK(lv("create", config("hog2", "memhog", 2), NULL) == 0, "create hog2: %s", cli.err);
    long pid = pid_in(cli.out);
    cg_dirs(pid, &cg);
    CHECK(cg.n > 0, "/proc/%ld/cgroup names no lightvm/vm-%ld", pid, pid);
    CHECK(cg_cpu_idle(&cg, "hog2") == 0, "running hog2's CPU group is idle or not at a VM's share");
    /* --vm-cpu-max 50: half of one CPU per 100 ms */
    char max[64] = "", quota[32] = "";
    for (int i = 0; i < cg.n; i++) {
        cg_read(cg.d[i], "cpu.max", max, sizeof(max));
        cg_read(cg.d[i], "cpu.cfs_quota_us", quota, sizeof(quota));
    }
    printf("hog2: cpu.max '%s', cpu.cfs_quota_us '%s'\n", max, quota);
    CHECK(!strcmp(max, "50000 100000") || !strcmp(quota, "50000"),
          "--vm-cpu-max 50 is not hog2's cap: cpu.max '%s', cpu.cfs_quota_us '%s'", max, quota);
    CHECK(strstr(daemon_bg.err, "at most 50% of a CPU"), "the daemon does not log its cap: %s",
          daemon_bg.err);
    int ok = 0;
    for (int t = 0; t < 30 && !ok; t++) /* bounded: 30 tries of nc -w 5 */
        if (!(ok = answers(2, "memhog: touched")))
            lvt_sleep_ms(200);
    printf("hog2: %s", tool.out);
    CHECK(ok, "memhog with the default overhead does not answer: %s %s", tool.out, tool.err);
    CHECK(vm_pid("hog2") == pid && strstr(cli.out, "state: running"),
          "hog2 is not running with the default overhead: %s", cli.out);
    CHECK(lv("destroy", "hog2", NULL) == 0, "destroy hog2: %s", cli.err);
    CHECK(cg_wait_gone(&cg), "hog2's cgroup is still there after destroy (%s)", cg.d[0]);
    CHECK(lvt_daemon_term(&daemon_bg) == 0, "lightvmd did not stop cleanly");
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];
    struct cgdirs stale = {0};

    if (argc != 4) {
        fprintf(stderr, "usage: test_limits LIGHTVM LIGHTVMD GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    lvt_e2e_require("test_limits", "cgroups, network namespaces, taps");
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    if (lvt_e2e_bridge(&tool, ip_bin, BR, HOST_IP "/24") < 0)
        return 1;
    case_tight(&stale);
    case_default(&stale);
    lvt_e2e_stop(&daemon_bg, rundir);
    for (int i = 0; i < stale.n; i++)
        rmdir(stale.d[i]); /* (if the daemon did not) */
    lvt_check_netns_empty();
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_limits");
}
