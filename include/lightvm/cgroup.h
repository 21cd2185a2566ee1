/*
 * cgroup.h: per-VM resource limits through Linux control groups
 * (lib/sandbox/cgroup.c).
 *
 * lv_cgroup_probe() looks once at how this host mounts cgroups and picks
 * a parent directory named "lightvm" per controller: on a unified (v2)
 * hierarchy one directory for memory, pids and cpu; on a v1 (or hybrid)
 * host one per controller hierarchy. Each VM process then gets its own
 * cgroup "vm-PID" (PID: its pid as this process sees it) under each
 * parent, with a memory limit, a task limit, and a CPU group that starts
 * idle and gets its share (the same for every VM) once the process runs
 * a VM (lv_cgroup_vm_activate), with an optional hard cap.
 *
 *   v2: memory.max (+ memory.swap.max 0, memory.oom.group 1), pids.max,
 *       cpu.idle / cpu.weight, cpu.max; OOM kills counted in
 *       memory.events "oom_kill".
 *   v1: memory.limit_in_bytes (+ memory.memsw.limit_in_bytes, the same,
 *       where swap accounting exists), pids.max, cpu.idle / cpu.shares,
 *       cpu.cfs_quota_us + cpu.cfs_period_us; OOM kills counted in
 *       memory.oom_control "oom_kill".
 *
 * An idle CPU group (cpu.idle 1, kernel >= 5.15) is SCHED_IDLE as a
 * whole: any runnable task of a non-idle sibling group preempts it, as a
 * SCHED_IDLE thread yields to normal ones (which it does only to threads
 * of its own group). Where cpu.idle does not exist, the lowest weight
 * (v2 cpu.weight 1, v1 cpu.shares 2) stands in for it.
 *
 * The host description is plain data, owned by the caller; no function
 * keeps state between calls.
 */
#ifndef LIGHTVM_CGROUP_H
#define LIGHTVM_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "lightvm/err.h"

#define LV_CG_PATH_MAX 512

enum { LV_CG_MEM, LV_CG_PIDS, LV_CG_CPU, LV_CG_N };

struct lv_cgroup_host {
    int version;                        /* 2, 1, or 0: no memory controller usable */
    int swap;                           /* memory.memsw.* (v1) / memory.swap.max (v2) exists */
    int cpu_idle;                       /* the CPU parent has cpu.idle (kernel >= 5.15) */
    char parent[LV_CG_N][LV_CG_PATH_MAX]; /* .../lightvm per controller; "" if unusable */
};

struct lv_cgroup_limits {
    uint64_t mem_bytes;   /* > 0 */
    unsigned pids;        /* > 0: tasks (processes and threads) at most */
    unsigned cpu_weight;  /* 1..10000 (v2 cpu.weight; v1 shares = weight * 1024 / 100) */
    unsigned cpu_max_pct; /* 0: no cap; else 1..LV_CG_CPU_MAX_PCT, percent of one CPU */
};

#define LV_CG_CPU_MAX_PCT 10000 /* a cap of 100 CPUs */
#define LV_CG_CPU_PERIOD_US 100000 /* the cap's period (the kernel's default) */

#define LV_CG_WANT_ALL ((1u << LV_CG_N) - 1)

/* Reads /proc/self/mountinfo and /proc/self/cgroup and fills (*h), making
 * the "lightvm" parents (under this process's own cgroup where the
 * hierarchy allows it, else under the hierarchy's root) for the
 * controllers in (want) (bits 1 << LV_CG_*; memory is always used). 0 with
 * h->version 0 when no memory controller is usable (why in err, if
 * given); -errno only for a failure that is not "not available here". */
int lv_cgroup_probe(struct lv_cgroup_host *h, unsigned want, struct lv_err *err);

/* The short description of (h) for logs: "cgroup v1 (memory+swap, pids,
 * cpu)" or "no cgroup". Writes at most (cap) bytes to (buf). */
void lv_cgroup_describe(const struct lv_cgroup_host *h, char *buf, size_t cap);

/* Makes vm-PID under each usable parent, writes (lim) and moves process
 * (pid) in. Its CPU group starts idle (cpu.idle 1, else the lowest
 * weight; lim->cpu_weight is for lv_cgroup_vm_activate), with the cap
 * lim->cpu_max_pct if that is not 0. On failure removes what it made.
 * 0 or -errno. */
int lv_cgroup_vm_create(const struct lv_cgroup_host *h, pid_t pid,
                        const struct lv_cgroup_limits *lim, struct lv_err *err);

/* vm-PID's CPU group leaves idle: cpu.idle 0 (where it exists), then
 * (cpu_weight) (1..10000; v1 shares as above). 0 also where there is no
 * CPU group; -errno (ENOENT: no vm-PID) with one message in err. */
int lv_cgroup_vm_activate(const struct lv_cgroup_host *h, pid_t pid, unsigned cpu_weight,
                          struct lv_err *err);

/* The kernel's OOM kills inside vm-PID's memory cgroup (>= 0), or -errno
 * (no such cgroup, or the counter is not there). Read it before removing. */
int lv_cgroup_vm_oom_kills(const struct lv_cgroup_host *h, pid_t pid);

/* vm-PID's memory limit in bytes into (*bytes); 0 or -errno. */
int lv_cgroup_vm_mem_limit(const struct lv_cgroup_host *h, pid_t pid, uint64_t *bytes);

/* Removes vm-PID everywhere (rmdir: only once the process is gone).
 * 0 when nothing is left, else the first -errno (EBUSY: a task is still
 * in it). Missing directories are fine. */
int lv_cgroup_vm_remove(const struct lv_cgroup_host *h, pid_t pid);

/* Removes every vm-PID under the parents whose PID no longer exists
 * (left by a daemon that died). Returns how many it removed. */
int lv_cgroup_sweep(const struct lv_cgroup_host *h);

/* The directory of vm-PID for controller (which) into (buf); -ENOENT if
 * that controller is not usable, -ENAMETOOLONG. */
int lv_cgroup_vm_dir(const struct lv_cgroup_host *h, int which, pid_t pid, char *buf,
                     size_t cap);

#endif
