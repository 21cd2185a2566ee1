/* vm_impl.h: the VM object, private to lib/core (vm.c, vcpu.c). */
#ifndef LV_VM_IMPL_H
#define LV_VM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "lightvm/mem.h"
#include "lightvm/vm.h"

struct lv_vm {
    struct lv_kvm *kvm; /* borrowed */
    int vm_fd;          /* owned */
    int vcpu_fd;        /* owned */
    struct kvm_run *run; /* owned mapping of kvm->vcpu_mmap_size bytes */
    struct lv_mem mem;  /* owned */
    int done_fd;        /* eventfd, owned */
    int console_fd;     /* borrowed */
    unsigned flags;
    char cmdline[LV_CMDLINE_MAX];
    int pvm;            /* the VIF was registered: PVM host */
    uint64_t tsc_khz;
    uint64_t tsc_ref, ns_ref; /* host TSC and CLOCK_MONOTONIC sampled together */
    int loaded;
    int started;
    pthread_t thread;
    atomic_int stop;
    struct lv_vm_stats stats;
    struct lv_vm_trace trace;
    struct lv_vm_result result;
};

/* vcpu.c */
int lv_vcpu_init(struct lv_vm *vm, struct lv_err *err);
void *lv_vcpu_thread(void *arg);

#endif
