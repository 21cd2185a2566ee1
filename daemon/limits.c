/*
 * limits.c: a VM process's memory, task and CPU limits. Each VM process
 * gets a cgroup of its own (lib/sandbox/cgroup.c) from the daemon right
 * after the fork, with an idle CPU share until it is told to run a VM;
 * where no memory cgroup is usable, rlimits set in the child before the
 * exec stand in for it (and the CPU is shared per thread).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "limits.h"

/* The rlimit fallback's address-space room beyond guest RAM + overhead:
 * thread stacks (8 MiB each) and mappings that are reserved, not used. */
#define AS_SLACK_MB 512

void lvd_limits_init(struct lvd_limits *l, unsigned overhead_mb)
{
    struct lv_err err = {""};
    char desc[LV_CG_PATH_MAX + 64];

    l->overhead_mb = overhead_mb;
    /* Memory, tasks and CPU. A shell's CPU group is idle while it
     * prepares and waits (a group at full weight would undo its
     * SCHED_IDLE: on the nested VM's one CPU, VMs then missed daytime
     * answers while the pool refilled, 199 of 200 in test_daemon); it gets
     * its share at exec (lvd_limits_activate). */
    lv_cgroup_probe(&l->cg, LV_CG_WANT_ALL, &err);
    lv_cgroup_describe(&l->cg, desc, sizeof(desc));
    if (!l->cg.version) {
        fprintf(stderr, "lightvmd: VM limits: rlimits (%s: %s)\n", desc, err.msg);
        return;
    }
    int n = lv_cgroup_sweep(&l->cg);
    char cap[48] = "";
    if (l->cpu_max_pct && l->cg.parent[LV_CG_CPU][0])
        snprintf(cap, sizeof(cap), ", at most %u%% of a CPU", l->cpu_max_pct);
    else if (l->cpu_max_pct)
        snprintf(cap, sizeof(cap), "; no CPU cgroup for --vm-cpu-max");
    fprintf(stderr, "lightvmd: VM limits: %s; guest RAM + 1/64 + %u MiB each%s%s\n", desc,
            overhead_mb, cap, n > 0 ? "; removed the cgroups of VM processes that are gone" : "");
}

int lvd_limits_apply(const struct lvd_limits *l, pid_t pid, unsigned mem_mb,
                     struct lv_err *err)
{
    struct lv_cgroup_limits lim = {
        .mem_bytes = ((uint64_t)mem_mb + lvd_vm_tables_mb(mem_mb) + l->overhead_mb) << 20,
        .pids = LVD_VM_TASKS,
        .cpu_weight = LVD_VM_CPU_WEIGHT,
        .cpu_max_pct = l->cpu_max_pct,
    };

    if (!l->cg.version)
        return 0; /* lvd_limits_child did it */
    return lv_cgroup_vm_create(&l->cg, pid, &lim, err);
}

void lvd_limits_activate(const struct lvd_limits *l, pid_t pid)
{
    struct lv_err err = {""};

    if (l->cg.version && lv_cgroup_vm_activate(&l->cg, pid, LVD_VM_CPU_WEIGHT, &err) < 0)
        fprintf(stderr, "lightvmd: VM process %d keeps an idle CPU share: %s\n", (int)pid,
                err.msg);
}

void lvd_limits_child(const struct lvd_limits *l, unsigned mem_mb)
{
    if (l->cg.version)
        return;
#ifndef __SANITIZE_ADDRESS__
    /* (ASan reserves terabytes of address space for its shadow: no
     * address-space limit in that build.) */
    rlim_t as = ((rlim_t)mem_mb + lvd_vm_tables_mb(mem_mb) + l->overhead_mb + AS_SLACK_MB) << 20;
    struct rlimit ras = {as, as};
    setrlimit(RLIMIT_AS, &ras);
#else
    (void)mem_mb;
#endif
    /* Counted per user: it bounds a VM process once it runs under a uid
     * of its own; root is not held to it. Set only by a root daemon (an
     * unprivileged one would count all of its user's processes). */
    struct rlimit rn = {LVD_VM_TASKS, LVD_VM_TASKS};
    if (geteuid() == 0)
        setrlimit(RLIMIT_NPROC, &rn);
}

int lvd_limits_end(const struct lvd_limits *l, pid_t pid, int sigkilled, char *why, size_t cap)
{
    uint64_t limit = 0;
    int oom = 0;

    if (!l->cg.version || pid <= 0)
        return 0;
    if (sigkilled && lv_cgroup_vm_oom_kills(&l->cg, pid) > 0) {
        oom = 1;
        if (why && cap) {
            if (lv_cgroup_vm_mem_limit(&l->cg, pid, &limit) == 0)
                snprintf(why, cap, "over its memory limit (%llu MiB): killed",
                         (unsigned long long)(limit >> 20));
            else
                snprintf(why, cap, "over its memory limit: killed");
        }
    }
    int rc = lv_cgroup_vm_remove(&l->cg, pid);
    if (rc < 0)
        fprintf(stderr, "lightvmd: the cgroup of process %d: %s (left; removed at the next "
                "start)\n", (int)pid, strerror(-rc));
    return oom;
}
