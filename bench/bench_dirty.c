/*
 * bench_dirty.c: what dirty page tracking (lightvm/dirty.h) costs, through
 * the library in one process.
 *
 *   bench_dirty SLEEP_ELF [N [MEM_MIB]]
 *
 * guest/apps/sleep (asleep for an hour: an idle guest) runs in a VM of
 * MEM_MIB MiB (default 64); then N times (default 100):
 *   dirty_start:   lv_vm_dirty_start (KVM_SET_USER_MEMORY_REGION with
 *                  KVM_MEM_LOG_DIRTY_PAGES on the existing slot, the vCPU
 *                  running: on PVM a memslot change after the irqchip is
 *                  milliseconds, which is why a migration starts tracking
 *                  before its downtime);
 *   dirty_collect: lv_vm_dirty_collect right after (KVM_GET_DIRTY_LOG plus
 *                  the VMM's bitmap; the guest idle: almost nothing dirty);
 *   dirty_stop:    lv_vm_dirty_stop (the slot's flags back);
 * and the same start and stop with the vCPU paused. Needs /dev/kvm. The
 * figures count only from the PVM machine (docs/benchmarks.md, "Dirty
 * page tracking").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/dirty.h"
#include "lightvm/elf.h"
#include "lightvm/vm.h"
#include "stats.h"

#define MAX_N 10000

static struct lv_kvm kvm;

static int boot(struct lv_vm **vm, const char *elf, uint64_t mem)
{
    struct lv_err e = {""};
    struct lv_vm_config cfg = {.mem_size = mem, .console_fd = 2, .cmdline = "3600000"};
    struct lv_image im;
    int rc = lv_vm_create(vm, &kvm, &cfg, &e);

    if (!rc && !(rc = lv_image_open(elf, &im, &e))) {
        rc = lv_vm_load_image(*vm, &im, &e);
        lv_image_close(&im);
    }
    if (!rc)
        rc = lv_vm_start(*vm, &e);
    if (rc)
        fprintf(stderr, "bench_dirty: %s\n", e.msg);
    return rc;
}

/* N rounds of start, collect, stop; (paused): the vCPU paused meanwhile. */
static int rounds(struct lv_vm *vm, int n, int paused, uint64_t *bm)
{
    static double start_us[MAX_N], collect_us[MAX_N], stop_us[MAX_N];
    struct lv_err e = {""};
    long got = 0;

    if (paused && lv_vm_pause(vm, &e) < 0) {
        fprintf(stderr, "bench_dirty: pause: %s\n", e.msg);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        if (lv_vm_dirty_start(vm, &e) < 0) {
            fprintf(stderr, "bench_dirty: start: %s\n", e.msg);
            return -1;
        }
        double t1 = bench_now_us();
        long k = lv_vm_dirty_collect(vm, bm, &e);
        double t2 = bench_now_us();
        lv_vm_dirty_stop(vm);
        double t3 = bench_now_us();
        if (k < 0) {
            fprintf(stderr, "bench_dirty: collect: %s\n", e.msg);
            return -1;
        }
        got += k;
        start_us[i] = t1 - t0;
        collect_us[i] = t2 - t1;
        stop_us[i] = t3 - t2;
    }
    bench_report(paused ? "dirty_start (paused)" : "dirty_start", start_us, n);
    bench_report(paused ? "dirty_collect (paused)" : "dirty_collect", collect_us, n);
    bench_report(paused ? "dirty_stop (paused)" : "dirty_stop", stop_us, n);
    printf("pages reported over the rounds: %ld\n", got);
    return paused && lv_vm_unpause(vm, &e) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct lv_err e = {""};
    struct lv_vm *vm = NULL;
    int n = argc > 2 ? atoi(argv[2]) : 100;
    uint64_t mib = argc > 3 ? strtoull(argv[3], NULL, 10) : 64;
    uint64_t *bm;
    int rc;

    if (argc < 2 || n < 1 || n > MAX_N || mib < 2 || mib > 4096 || mib % 2) {
        fprintf(stderr, "usage: bench_dirty SLEEP_ELF [N (1..%d) [MEM_MIB (even, 2..4096)]]\n",
                MAX_N);
        return 2;
    }
    if (lv_kvm_open(&kvm, &e) < 0) {
        fprintf(stderr, "bench_dirty: %s\n", e.msg);
        return 1;
    }
    rc = boot(&vm, argv[1], mib << 20);
    bm = rc ? NULL : calloc(lv_vm_dirty_words(vm), sizeof(uint64_t));
    printf("bench_dirty: %d rounds, %llu MiB of guest RAM (%zu bitmap words)\n", n,
           (unsigned long long)mib, vm ? lv_vm_dirty_words(vm) : 0);
    if (!rc)
        rc = bm ? rounds(vm, n, 0, bm) : -1;
    if (!rc)
        rc = rounds(vm, n, 1, bm);
    free(bm);
    lv_vm_destroy(&vm);
    lv_kvm_close(&kvm);
    return rc ? 1 : 0;
}
