/*
 * kvm.h: the /dev/kvm handle, shared by every VM a process creates.
 */
#ifndef LIGHTVM_KVM_H
#define LIGHTVM_KVM_H

#include <linux/kvm.h>

#include "lightvm/err.h"

struct lv_kvm {
    int fd;                   /* /dev/kvm, owned, O_CLOEXEC */
    int vcpu_mmap_size;
    int tsc_deadline;         /* KVM_CAP_TSC_DEADLINE_TIMER */
    int get_tsc_khz;          /* KVM_CAP_GET_TSC_KHZ */
    int xsave, xcrs;          /* KVM_CAP_XSAVE, KVM_CAP_XCRS (snapshots; else the FPU) */
    int adjust_clock;         /* KVM_CAP_ADJUST_CLOCK: KVM_GET/SET_CLOCK (snapshots) */
    struct kvm_cpuid2 *cpuid; /* filtered supported CPUID, owned */
};

/* Opens /dev/kvm (or $LIGHTVM_KVM_DEVICE), checks the API version and the
 * capabilities lightvm relies on (user memory, in-kernel irqchip,
 * ioeventfd, irqfd, immediate exit, supported CPUID) and reads the CPUID
 * to give guests. -ENOENT when there is no KVM device. Release with
 * lv_kvm_close(). */
int lv_kvm_open(struct lv_kvm *kvm, struct lv_err *err);
void lv_kvm_close(struct lv_kvm *kvm);

#endif
