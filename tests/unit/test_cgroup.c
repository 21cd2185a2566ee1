/* test_cgroup.c: lib/sandbox/cgroup.c on this host's real cgroups (v1 or
 * v2, whichever lv_cgroup_probe finds), with forked children standing in
 * for VM processes: the limits written are the limits read back, the
 * child is in its cgroup, a child that touches more than its memory limit
 * is killed by the kernel and counted, bad limits and a process that does
 * not exist are refused with nothing left, the sweep removes a leftover
 * of a process that is gone and keeps one of a live process; a CPU group
 * starts idle and lv_cgroup_vm_activate gives it the normal share (a
 * spinning child in an idle group gets next to nothing beside one in an
 * activated group on the same CPU), the cap is written. Needs root
 * and a memory cgroup controller (skips without them unless
 * LIGHTVM_REQUIRE_KVM=1). No KVM. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvm/cgroup.h"
#include "lvtest.h"

#define MIB (1024u * 1024u)

static struct lv_cgroup_host h;

/* A child that waits until it is killed. */
static pid_t waiter(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid, int *status)
{
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
}

static int dir_exists(int which, pid_t pid)
{
    char d[LV_CG_PATH_MAX + 64];
    return lv_cgroup_vm_dir(&h, which, pid, d, sizeof(d)) == 0 && access(d, F_OK) == 0;
}

static int read_in(int which, pid_t pid, const char *file, char *buf, size_t cap)
{
    char d[LV_CG_PATH_MAX + 64], path[LV_CG_PATH_MAX + 128];
    FILE *f;

    if (lv_cgroup_vm_dir(&h, which, pid, d, sizeof(d)) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", d, file);
    f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

/* 1: vm-PID's CPU group is idle (cpu.idle 1, or the lowest weight where
 * there is no cpu.idle); 0: it has weight 100 (v1 shares 1024) and is
 * not idle; -1: neither, or unreadable. */
static int cpu_is_idle(pid_t pid)
{
    char idle[16] = "", w[16] = "";
    const char *wf = h.version == 2 ? "cpu.weight" : "cpu.shares";

    if ((h.cpu_idle && read_in(LV_CG_CPU, pid, "cpu.idle", idle, sizeof(idle)) < 0) ||
        read_in(LV_CG_CPU, pid, wf, w, sizeof(w)) < 0)
        return -1;
    const char *is = h.cpu_idle ? idle : "(not used)\n";
    printf("vm-%d: cpu.idle %.*s, %s %.*s\n", (int)pid, (int)strcspn(is, "\n"), is, wf,
           (int)strcspn(w, "\n"), w);
    if (h.cpu_idle ? !strcmp(idle, "1\n")
                   : !strcmp(w, h.version == 2 ? "1\n" : "2\n"))
        return 1;
    if ((!h.cpu_idle || !strcmp(idle, "0\n")) && !strcmp(w, h.version == 2 ? "100\n" : "1024\n"))
        return 0;
    return -1;
}

/* Limits in, read back; the child listed in cgroup.procs; removed after. */
static void case_limits(void)
{
    struct lv_cgroup_limits lim = {.mem_bytes = 48u * MIB, .pids = 16, .cpu_weight = 100};
    struct lv_err err = {""};
    char buf[256], want[32];
    uint64_t bytes = 0;
    pid_t pid = waiter();

    CHECK(lv_cgroup_vm_create(&h, pid, &lim, &err) == 0, "create: %s", err.msg);
    CHECK(lv_cgroup_vm_mem_limit(&h, pid, &bytes) == 0 && bytes == 48u * MIB,
          "memory limit read back: %llu", (unsigned long long)bytes);
    snprintf(want, sizeof(want), "%d\n", (int)pid);
    CHECK(read_in(LV_CG_MEM, pid, "cgroup.procs", buf, sizeof(buf)) == 0 && !strcmp(buf, want),
          "cgroup.procs: '%s' (want %d)", buf, (int)pid);
    if (h.parent[LV_CG_PIDS][0])
        CHECK(read_in(LV_CG_PIDS, pid, "pids.max", buf, sizeof(buf)) == 0 && !strcmp(buf, "16\n"),
              "pids.max: '%s'", buf);
    if (h.parent[LV_CG_CPU][0])
        CHECK(cpu_is_idle(pid) == 1, "a new CPU group is not idle");
    CHECK(lv_cgroup_vm_oom_kills(&h, pid) == 0, "oom kills of a quiet child: %d",
          lv_cgroup_vm_oom_kills(&h, pid));
    CHECK(lv_cgroup_vm_remove(&h, pid) == -EBUSY, "remove while the child lives: not EBUSY");
    reap(pid, NULL);
    CHECK(lv_cgroup_vm_remove(&h, pid) == 0, "remove after the child is gone");
    for (int c = 0; c < LV_CG_N; c++)
        CHECK(!dir_exists(c, pid), "controller %d: vm-%d left", c, (int)pid);
    CHECK(lv_cgroup_vm_remove(&h, pid) == 0, "removing twice is fine");
}

/* A child that touches 64 MiB under a 16 MiB limit: killed, counted. */
static void case_oom(void)
{
    struct lv_cgroup_limits lim = {.mem_bytes = 16u * MIB, .pids = 16, .cpu_weight = 100};
    struct lv_err err = {""};
    int gate[2], st = 0;

    CHECK(pipe(gate) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        char go;
        close(gate[1]);
        if (read(gate[0], &go, 1) != 1)
            _exit(3);
        size_t len = 64u * MIB;
        volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(4);
        for (size_t off = 0; off < len; off += 4096)
            p[off] = 1;
        _exit(0); /* not killed: a failure below */
    }
    close(gate[0]);
    CHECK(lv_cgroup_vm_create(&h, pid, &lim, &err) == 0, "create: %s", err.msg);
    CHECK(write(gate[1], "g", 1) == 1, "gate");
    close(gate[1]);
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
          "a child over its 16 MiB limit was not SIGKILLed (status 0x%x)", st);
    CHECK(lv_cgroup_vm_oom_kills(&h, pid) >= 1, "oom kills counted: %d",
          lv_cgroup_vm_oom_kills(&h, pid));
    CHECK(lv_cgroup_vm_remove(&h, pid) == 0, "remove after the OOM kill");
}

/* Refusals leave nothing behind. */
static void case_refused(void)
{
    struct lv_cgroup_limits ok = {.mem_bytes = 16u * MIB, .pids = 16, .cpu_weight = 100};
    struct lv_cgroup_limits bad[] = {
        {0, 16, 100, 0}, {16u * MIB, 0, 100, 0}, {16u * MIB, 16, 0, 0}, {16u * MIB, 16, 10001, 0},
        {UINT64_MAX, 16, 100, 0}, {16u * MIB, 16, 100, LV_CG_CPU_MAX_PCT + 1},
    };
    struct lv_err err = {""};
    pid_t pid = waiter();

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        CHECK(lv_cgroup_vm_create(&h, pid, &bad[i], &err) == -EINVAL && strstr(err.msg, "bad limits"),
              "bad limits %zu: %s", i, err.msg);
        for (int c = 0; c < LV_CG_N; c++)
            CHECK(!dir_exists(c, pid), "bad limits %zu left vm-%d", i, (int)pid);
    }
    reap(pid, NULL);
    /* The reaped child's pid: no such process to move. */
    err.msg[0] = '\0';
    CHECK(lv_cgroup_vm_create(&h, pid, &ok, &err) < 0 && strstr(err.msg, "cgroup.procs"),
          "moving a process that is gone: %s", err.msg);
    for (int c = 0; c < LV_CG_N; c++)
        CHECK(!dir_exists(c, pid), "a failed move left vm-%d", (int)pid);
    CHECK(lv_cgroup_vm_create(&h, 0, &ok, &err) == -EINVAL, "pid 0 accepted");
}

/* A child that spins on CPU (cpu) until it is killed. */
static pid_t spinner(int cpu)
{
    pid_t pid = fork();
    if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
            _exit(1);
        for (volatile unsigned long n = 0;; n++)
            ;
    }
    return pid;
}

/* Process (pid)'s CPU time so far (utime + stime, clock ticks); -1. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* then: state ppid ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

/* The CPU group: idle from the start, the normal share after
 * lv_cgroup_vm_activate; on one CPU a spinning child in an idle group
 * gets (next to) nothing beside one in an activated group. */
static void case_cpu(void)
{
    struct lv_cgroup_limits lim = {.mem_bytes = 16u * MIB, .pids = 16, .cpu_weight = 100};
    struct lv_err err = {""};
    int cpu = sched_getcpu();
    pid_t idle = spinner(cpu < 0 ? 0 : cpu), run = spinner(cpu < 0 ? 0 : cpu);

    CHECK(lv_cgroup_vm_create(&h, idle, &lim, &err) == 0, "create: %s", err.msg);
    CHECK(lv_cgroup_vm_create(&h, run, &lim, &err) == 0, "create: %s", err.msg);
    CHECK(cpu_is_idle(idle) == 1 && cpu_is_idle(run) == 1, "new CPU groups are not idle");
    CHECK(lv_cgroup_vm_activate(&h, run, 100, &err) == 0, "activate: %s", err.msg);
    CHECK(cpu_is_idle(run) == 0, "an activated CPU group is idle or has another weight");
    CHECK(cpu_is_idle(idle) == 1, "activating one group changed another");
    CHECK(lv_cgroup_vm_activate(&h, run, 100, &err) == 0, "activating twice: %s", err.msg);
    long i0 = cpu_ticks(idle), r0 = cpu_ticks(run);
    lvt_sleep_ms(1000);
    long di = cpu_ticks(idle) - i0, dr = cpu_ticks(run) - r0;
    printf("1 s on CPU %d: idle group %ld ticks, activated group %ld ticks\n", cpu, di, dr);
    /* (ratio, not time: idle weighs 3 against 1024; lowest weight 1/100) */
    CHECK(i0 >= 0 && r0 >= 0 && dr > 0 && di * 4 < dr,
          "the idle group's child got %ld ticks beside the activated one's %ld", di, dr);
    reap(idle, NULL);
    reap(run, NULL);
    CHECK(lv_cgroup_vm_remove(&h, idle) == 0 && lv_cgroup_vm_remove(&h, run) == 0, "remove");

    err.msg[0] = '\0';
    CHECK(lv_cgroup_vm_activate(&h, run, 100, &err) == -ENOENT && strstr(err.msg, "cpu"),
          "activating a removed group: %s", err.msg);
    CHECK(lv_cgroup_vm_activate(&h, run, 0, &err) == -EINVAL &&
              lv_cgroup_vm_activate(&h, run, 10001, &err) == -EINVAL &&
              lv_cgroup_vm_activate(&h, 0, 100, &err) == -EINVAL,
          "a bad weight or pid accepted");
}

/* A kernel without cpu.idle (before 5.15), as the library sees it: the
 * lowest weight while idle, the normal weight after activate. */
static void case_cpu_no_idle(void)
{
    struct lv_cgroup_limits lim = {.mem_bytes = 16u * MIB, .pids = 16, .cpu_weight = 100};
    struct lv_err err = {""};
    int had = h.cpu_idle;
    pid_t pid = waiter();

    h.cpu_idle = 0;
    CHECK(lv_cgroup_vm_create(&h, pid, &lim, &err) == 0, "create: %s", err.msg);
    CHECK(cpu_is_idle(pid) == 1, "without cpu.idle: not the lowest weight");
    CHECK(lv_cgroup_vm_activate(&h, pid, 100, &err) == 0, "activate: %s", err.msg);
    CHECK(cpu_is_idle(pid) == 0, "without cpu.idle: not the normal weight after activate");
    reap(pid, NULL);
    CHECK(lv_cgroup_vm_remove(&h, pid) == 0, "remove");
    h.cpu_idle = had;
}

/* --vm-cpu-max: the cap written as the controller takes it. */
static void case_cpu_max(void)
{
    struct lv_cgroup_limits lim = {.mem_bytes = 16u * MIB, .pids = 16, .cpu_weight = 100,
                                   .cpu_max_pct = 50};
    struct lv_err err = {""};
    char buf[64];
    pid_t pid = waiter();

    CHECK(lv_cgroup_vm_create(&h, pid, &lim, &err) == 0, "create with a cap: %s", err.msg);
    if (h.version == 2)
        CHECK(read_in(LV_CG_CPU, pid, "cpu.max", buf, sizeof(buf)) == 0 &&
                  !strcmp(buf, "50000 100000\n"), "cpu.max: '%s'", buf);
    else
        CHECK(read_in(LV_CG_CPU, pid, "cpu.cfs_quota_us", buf, sizeof(buf)) == 0 &&
                  !strcmp(buf, "50000\n"), "cpu.cfs_quota_us: '%s'", buf);
    CHECK(cpu_is_idle(pid) == 1, "a capped new group is not idle");
    CHECK(lv_cgroup_vm_activate(&h, pid, 100, &err) == 0 && cpu_is_idle(pid) == 0,
          "activate a capped group: %s", err.msg);
    reap(pid, NULL);
    CHECK(lv_cgroup_vm_remove(&h, pid) == 0, "remove");
}

/* The sweep: a leftover of a process that is gone goes, a live one stays. */
static void case_sweep(void)
{
    struct lv_cgroup_limits lim = {.mem_bytes = 16u * MIB, .pids = 16, .cpu_weight = 100};
    struct lv_err err = {""};
    pid_t live = waiter(), gone = waiter();

    CHECK(lv_cgroup_vm_create(&h, live, &lim, &err) == 0, "create live: %s", err.msg);
    CHECK(lv_cgroup_vm_create(&h, gone, &lim, &err) == 0, "create gone: %s", err.msg);
    reap(gone, NULL); /* its cgroup is left, as by a daemon killed before it reaped */
    CHECK(dir_exists(LV_CG_MEM, gone), "the leftover is not there");
    CHECK(lv_cgroup_sweep(&h) >= 1, "the sweep removed nothing");
    for (int c = 0; c < LV_CG_N; c++)
        CHECK(!dir_exists(c, gone), "the sweep left vm-%d (controller %d)", (int)gone, c);
    CHECK(dir_exists(LV_CG_MEM, live), "the sweep removed a live process's cgroup");
    reap(live, NULL);
    CHECK(lv_cgroup_vm_remove(&h, live) == 0, "remove live");
}

int main(void)
{
    struct lv_err err = {""};
    char desc[LV_CG_PATH_MAX + 64];
    const char *req = getenv("LIGHTVM_REQUIRE_KVM");

    lvt_require_root("test_cgroup", "cgroups");
    CHECK(lv_cgroup_probe(&h, LV_CG_WANT_ALL, &err) == 0, "probe: %s", err.msg);
    if (!h.version) {
        fprintf(stderr, "%s: no usable memory cgroup: %s\n",
                req && !strcmp(req, "1") ? "FAIL" : "SKIP", err.msg);
        return req && !strcmp(req, "1") ? 1 : LVT_SKIP;
    }
    lv_cgroup_describe(&h, desc, sizeof(desc));
    printf("%s\n", desc);
    case_limits();
    case_oom();
    case_refused();
    case_sweep();
    if (h.parent[LV_CG_CPU][0]) {
        case_cpu();
        case_cpu_max();
        case_cpu_no_idle();
    } else {
        printf("no CPU controller here: the CPU cases are not run\n");
    }
    return lvt_done("test_cgroup");
}
