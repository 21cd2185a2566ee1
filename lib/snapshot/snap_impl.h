/*
 * snap_impl.h: a snapshot's state in memory, and the codec between it and
 * the state file (docs/snapshot.md); private to lib/snapshot.
 *
 * format.c encodes and decodes (no KVM); save.c fills a state from a
 * paused VM; restore.c puts one back. The kernel's structs are ABI (fixed
 * layout, little-endian on x86-64): they go into the file as they are,
 * with their sizes checked at build time and when read.
 */
#ifndef LV_SNAP_IMPL_H
#define LV_SNAP_IMPL_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/lv_abi.h"
#include "lightvm/err.h"
#include "lightvm/snapshot.h"

#define LV_SNAP_MAGIC "LVSNx64\0" /* 8 bytes: lightvm snapshot, x86-64 */
#define LV_SNAP_HDR_LEN 64u
#define LV_SNAP_SEC_HDR 8u        /* u32 type, u32 length */
#define LV_SNAP_ARCH_X86_64 1u
#define LV_SNAP_HOST_HW 1u        /* VMX or SVM */
#define LV_SNAP_HOST_PVM 2u
#define LV_SNAP_MAX_MSRS 32u
#define LV_SNAP_MAX_DEVS LV_BOOTINFO_MAX_DEVICES
#define LV_SNAP_DEV_MAX 4096u     /* bytes of one device's state (LV_DEV_STATE_MAX) */
#define LV_SNAP_NCHIPS 3u         /* PIC master, PIC slave, IOAPIC */
#define LV_SNAP_SPEC_MAX 65536u   /* bytes of the spec section (a config's bound) */

/* Section types (u32). Each appears once, DEVICE once per device. */
enum lv_snap_sec {
    LV_SEC_VM = 1,     /* struct lv_snap_vm below */
    LV_SEC_MP_STATE,   /* struct kvm_mp_state */
    LV_SEC_REGS,       /* struct kvm_regs */
    LV_SEC_SREGS,      /* struct kvm_sregs */
    LV_SEC_XSAVE,      /* struct kvm_xsave (4096 bytes) */
    LV_SEC_XCRS,       /* struct kvm_xcrs */
    LV_SEC_FPU,        /* struct kvm_fpu: hosts without KVM_CAP_XSAVE */
    LV_SEC_LAPIC,      /* struct kvm_lapic_state */
    LV_SEC_MSRS,       /* u32 count, u32 0, count x struct kvm_msr_entry */
    LV_SEC_EVENTS,     /* struct kvm_vcpu_events */
    LV_SEC_IRQCHIP,    /* 3 x struct kvm_irqchip, chip_id 0, 1, 2 */
    LV_SEC_CLOCK,      /* struct kvm_clock_data (optional) */
    LV_SEC_DEVICE,     /* u32 index, u32 type (LV_DEV_*), the device's bytes */
    LV_SEC_SPEC,       /* the VM's configuration, JSON text (optional) */
    LV_SEC_NTYPES
};

/* LV_SEC_VM, little-endian on disk (encoded field by field). */
struct lv_snap_vm {
    uint64_t clock_ns;    /* the guest's monotonic clock at the save */
    uint64_t save_tsc;    /* the guest's TSC at the save */
    uint64_t dev_mem_gpa; /* where the device queues start (the layout) */
    uint32_t flags;       /* LV_SNAP_VM_* */
    uint32_t ndevs;       /* DEVICE sections */
};
#define LV_SNAP_VM_LEN 32u
#define LV_SNAP_VM_F_NO_PVM 1u /* made with LV_VM_F_NO_PVM */

struct lv_snap_dev {
    uint32_t type;        /* LV_DEV_* */
    uint32_t len;
    const uint8_t *bytes; /* into lv_snap.buf (or the saver's buffers) */
};

struct lv_snap {
    /* header */
    uint16_t major, minor;
    uint32_t host;        /* LV_SNAP_HOST_* */
    uint32_t abi_version;
    uint64_t mem_size;
    uint32_t nnics;
    /* sections */
    struct lv_snap_vm vm;
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    int has_xsave;        /* XSAVE + XCRS, else FPU */
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_fpu fpu;
    struct kvm_lapic_state lapic;
    uint32_t nmsrs;
    struct kvm_msr_entry msrs[LV_SNAP_MAX_MSRS];
    struct kvm_vcpu_events events;
    struct kvm_irqchip chip[LV_SNAP_NCHIPS];
    int has_clock;
    struct kvm_clock_data clock;
    struct lv_snap_dev dev[LV_SNAP_MAX_DEVS]; /* vm.ndevs of them */
    const char *spec;     /* the spec section's text (no NUL inside, not terminated;
                           * into buf, or the saver's string), NULL if none */
    uint32_t spec_len;
    /* lv_snap_open's */
    uint8_t *buf;         /* owned copy of the state file; dev[].bytes point in */
    size_t len;
    int mem_fd;           /* owned dup, -1 for lv_snap_parse's */
};

/* format.c */
/* Encodes (s) into a new buffer (*out, malloc'd, the caller frees) of
 * (*len) bytes with its checksum. */
int lv_snap_encode(const struct lv_snap *s, uint8_t **out, size_t *len, struct lv_err *err);
/* Validates (buf, len) and fills (s) (its dev[].bytes point into buf). */
int lv_snap_decode(struct lv_snap *s, const uint8_t *buf, size_t len, struct lv_err *err);
/* 1 if (index) may be in a snapshot saved on host kind (host). */
int lv_snap_msr_allowed(uint32_t index, uint32_t host);
/* The MSRs a save reads on host kind (host): their indices into (idx)
 * (room for LV_SNAP_MAX_MSRS), the count returned. */
unsigned lv_snap_msr_list(uint32_t host, uint32_t *idx);

/* save.c */
/* Every check lv_vm_restore_state makes before it changes anything (the
 * VM's shape, each device's blob, which reads the device's rings in the
 * VM's RAM: the guest's memory must be in place): for a caller that must
 * know the state fits before it commits (lv_mig_recv_local). Writes
 * nothing. */
int lv_vm_restore_check(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err);

/* lv_vm_save_state with the devices already quiesced by the caller
 * (lv_devices_quiesce; they stay so): for a save or a migration that
 * must send the RAM that goes with the devices' state. */
int lv_snap_save_quiesced(struct lv_vm *vm, const char *spec, uint8_t **buf, size_t *len,
                          struct lv_err *err);
/* Sets map[p] = 1 (a byte per page, mem->size / 4096 of them, caller's)
 * for every page that holds the guest's memory: the memfd's data extents
 * (SEEK_DATA), plus, for a restored VM, the pages resident in its
 * private mapping (mincore). A page never touched is left 0. */
struct lv_mem;
int lv_snap_touched_pages(const struct lv_mem *mem, uint8_t *map, struct lv_err *err);
/* Sets map[p] = 1 for every page of (fd)'s data extents (SEEK_DATA and
 * SEEK_HOLE), pages below (size) only; (fd)'s offset moves. */
int lv_snap_data_pages(int fd, uint64_t size, uint8_t *map, struct lv_err *err);

/* crc32c.c: CRC-32C (Castagnoli, reflected, init and final xor ~0) of
 * (len) bytes; lv_crc32c_sw is the table-driven one, lv_crc32c uses the
 * SSE4.2 instruction where the CPU has it. */
uint32_t lv_crc32c(const void *buf, size_t len);
uint32_t lv_crc32c_sw(const void *buf, size_t len);

/* MSR numbers the snapshot code names. */
#define LV_MSR_TSC 0x10u
#define LV_MSR_APIC_BASE 0x1bu
#define LV_MSR_TSC_DEADLINE 0x6e0u

#endif
