/*
 * bench_cgroup: what a VM process's cgroup costs lightvmd (root): N times
 * fork a child that waits, then time lv_cgroup_vm_create (make vm-PID in
 * each hierarchy, write its limits, move the child in: what lightvmd does
 * for every shell it spawns, before the shell execs) and, once the child
 * is reaped, lv_cgroup_vm_remove (what it does at every reap).
 *
 * usage: bench_cgroup [N] (default 200)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvm/cgroup.h"
#include "stats.h"

int main(int argc, char **argv)
{
    struct lv_cgroup_host h;
    struct lv_err err = {""};
    struct lv_cgroup_limits lim = {.mem_bytes = 40u << 20, .pids = 16, .cpu_weight = 100};
    int n = argc > 1 ? atoi(argv[1]) : 200;
    char desc[LV_CG_PATH_MAX + 64];

    if (n < 1 || n > 100000) {
        fprintf(stderr, "usage: bench_cgroup [N (1..100000)]\n");
        return 2;
    }
    if (lv_cgroup_probe(&h, LV_CG_WANT_ALL, &err) < 0 || !h.version) {
        fprintf(stderr, "bench_cgroup: no usable memory cgroup: %s\n", err.msg);
        return 1;
    }
    lv_cgroup_describe(&h, desc, sizeof(desc));
    printf("%s\n", desc);
    double *mk = calloc((size_t)n, sizeof(double)), *rm = calloc((size_t)n, sizeof(double));
    if (!mk || !rm)
        return 1;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            pause();
            _exit(0);
        }
        double t0 = bench_now_us();
        int rc = lv_cgroup_vm_create(&h, pid, &lim, &err);
        mk[i] = bench_now_us() - t0;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        t0 = bench_now_us();
        int rc2 = lv_cgroup_vm_remove(&h, pid);
        rm[i] = bench_now_us() - t0;
        if (rc || rc2) {
            fprintf(stderr, "bench_cgroup: %s (remove: %d)\n", rc ? err.msg : "", rc2);
            return 1;
        }
    }
    bench_report("cgroup_create_limits_move", mk, n);
    bench_report("cgroup_remove", rm, n);
    free(mk);
    free(rm);
    return 0;
}
