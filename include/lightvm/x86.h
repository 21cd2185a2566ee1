/*
 * x86.h: the x86-64 state lightvm gives a unikernel at its first
 * instruction (see include/abi/lv_abi.h for the layout it promises).
 * Pure functions over guest RAM and KVM structs: no ioctls here.
 */
#ifndef LIGHTVM_X86_H
#define LIGHTVM_X86_H

#include <linux/kvm.h>

#include "lightvm/err.h"
#include "lightvm/mem.h"

#define LV_MEM_ALIGN (2u << 20) /* RAM is mapped with 2 MiB pages */
#define LV_MEM_MIN (2u << 20)

/* Writes the GDT, TSS and identity page tables for (mem) (its size a
 * multiple of LV_MEM_ALIGN, at most LV_MEM_MAX). All entries carry the U
 * bit; page 0 is not present. */
int lv_x86_write_tables(struct lv_mem *mem, struct lv_err *err);

/* Fills (sregs) for 64-bit mode at CPL0 with the tables above: CR0, CR3,
 * CR4, EFER, GDT, TR and flat segments. Other fields are left as read
 * from KVM (the caller does KVM_GET_SREGS first). */
void lv_x86_set_sregs(struct kvm_sregs *sregs);

/* Hides from a CPUID table (as returned by KVM_GET_SUPPORTED_CPUID) what
 * KVM's instruction emulator cannot execute (XSAVE, AVX, CX16, POPCNT,
 * BMI, RDTSCP, ...), SMEP/SMAP/INVPCID/PCID, and advertises x2APIC and,
 * when (tsc_deadline), the TSC-deadline timer. */
void lv_x86_filter_cpuid(struct kvm_cpuid2 *cpuid, int tsc_deadline);

#endif
