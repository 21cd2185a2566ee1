/* limits.h: each VM process's resource limits, set by lightvmd when it
 * spawns the process and undone when it reaps it (limits.c). */
#ifndef LIGHTVMD_LIMITS_H
#define LIGHTVMD_LIMITS_H

#include <stddef.h>
#include <sys/types.h>

#include "lightvm/cgroup.h"

/* The memory limit is guest RAM + 1/64 of it (page tables, the host's
 * and KVM's: measured 8.5 MiB per GiB of touched guest RAM) + the
 * overhead (MiB): the VM process's own memory, measured 4.6-7 MiB in the
 * ASan build, less in the release build (docs/architecture.md). */
#define LVD_VM_OVERHEAD_MB_DEFAULT 32
#define LVD_VM_OVERHEAD_MB_MAX 65536
/* Tasks: the main thread, the vCPU, the I/O thread (and the warm-up
 * thread before the vCPU's), with room to spare. */
#define LVD_VM_TASKS 16
#define LVD_VM_CPU_WEIGHT 100 /* a running VM's, the same for every VM (cgroup v2's default) */

static inline unsigned lvd_vm_tables_mb(unsigned mem_mb)
{
    return (mem_mb + 63) / 64;
}

struct lvd_limits {
    struct lv_cgroup_host cg; /* version 0: rlimits instead */
    unsigned overhead_mb;
    unsigned cpu_max_pct; /* --vm-cpu-max: 0 none, else percent of one CPU */
};

/* Finds the host's cgroups and removes those left by VM processes that
 * are gone; one line about it on stderr. Never fails: without cgroups the
 * limits are rlimits. */
void lvd_limits_init(struct lvd_limits *l, unsigned overhead_mb);

/* In the parent, right after the fork of VM process (pid) of (mem_mb):
 * its own cgroup with its limits, before it can run a VM, its CPU group
 * idle (it prepares and waits in the background). 0 or -errno. */
int lvd_limits_apply(const struct lvd_limits *l, pid_t pid, unsigned mem_mb,
                     struct lv_err *err);

/* VM process (pid) was just told to exec a VM: its CPU group leaves
 * idle for the normal share. A failure is logged (the VM runs, on an
 * idle share); nothing to do without a CPU cgroup. */
void lvd_limits_activate(const struct lvd_limits *l, pid_t pid);

/* In the forked child before the exec, where there is no cgroup: the
 * rlimits that stand in for it (docs/architecture.md). */
void lvd_limits_child(const struct lvd_limits *l, unsigned mem_mb);

/* Process (pid) is gone (killed by SIGKILL if (sigkilled)): if the kernel
 * killed it for going over its memory limit, writes "over its memory
 * limit (N MiB): killed" to (why) (cap bytes; may be NULL) and returns 1;
 * then removes its cgroup. 0 otherwise. */
int lvd_limits_end(const struct lvd_limits *l, pid_t pid, int sigkilled, char *why, size_t cap);

#endif
