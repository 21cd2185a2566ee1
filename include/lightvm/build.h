/*
 * build.h: the one way a VM is made from its configuration, shared by
 * `lightvm run` (the cold path: both halves at once), lightvmd's pool of
 * VM shells (prepare ahead of time, execute when a VM is asked for) and,
 * to come, a restore from a snapshot (prepare, then the identity and a
 * snapshot instead of an image):
 *
 *   spec    a struct lv_vm_spec (vmspec.h), its MACs chosen once with
 *           lv_vm_spec_choose_macs by whoever installs the taps' antispoof
 *           rules (they name the MACs), before any of the below;
 *   prepare lv_build_prepare: a VM of a shape (memory, taps, flags),
 *           without any identity, its first pages allocated;
 *   execute lv_build_execute: the spec's identity (lv_build_identity:
 *           NICs, command line, network-up probe), then the image; or
 *           lv_build_restore: the identity, then a snapshot.
 *
 * The taps, the console and the KVM handle stay the caller's (borrowed
 * until lv_vm_destroy); the VM made by prepare is the caller's.
 */
#ifndef LIGHTVM_BUILD_H
#define LIGHTVM_BUILD_H

#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/kvm.h"
#include "lightvm/vm.h"
#include "lightvm/vmspec.h"

struct lv_console;
struct lv_image;
struct lv_nl;

/* What a VM is prepared for: nothing that names it. */
struct lv_vm_shape {
    uint64_t mem_size;          /* bytes (lv_vm_config's rules) */
    unsigned nnics;             /* 0 .. LV_VM_MAX_NICS */
    const int *tap_fds;         /* (nnics) taps, borrowed until lv_vm_destroy */
    unsigned flags;             /* LV_VM_F_* */
    struct lv_console *console; /* borrowed; NULL: set later (lv_vm_set_console) */
    int populate;               /* allocate now the host pages every boot writes
                                 * (the image's first 256 KiB, the stack's top) */
};

/* The network-up probe a guest sends once its first NIC is up. */
struct lv_probe {
    uint32_t ip;    /* network byte order */
    uint16_t port;  /* network byte order; 0: no probe */
    int has_mac;    /* (mac) is the target's MAC on the first NIC's link */
    uint8_t mac[6];
};

/* "A.B.C.D:PORT" into (p) (no MAC). 0, or -EINVAL with (err) quoting (s). */
int lv_probe_parse(const char *s, struct lv_probe *p, struct lv_err *err);

/* The probe-MAC rule: when the probe's target is an address of (bridge),
 * the bridge of the VM's first vif, the guest is given the bridge's MAC
 * and sends the probe without an ARP round trip. 1 when (p) got it, 0
 * when not (not the bridge's address, no probe, or a lookup that failed:
 * then the guest asks by ARP). */
int lv_probe_find_mac(struct lv_nl *nl, const char *bridge, struct lv_probe *p);

/* A random locally administered MAC for every vif of (spec) without one
 * (has_mac set). 0, or -errno with (err) when no random bytes. */
int lv_vm_spec_choose_macs(struct lv_vm_spec *spec, struct lv_err *err);

/* Makes a VM of (shape) on (kvm), which must outlive it; *out is the
 * caller's (lv_vm_destroy), NULL on failure. */
int lv_build_prepare(struct lv_vm **out, struct lv_kvm *kvm, const struct lv_vm_shape *shape,
                     struct lv_err *err);

/* The VM-specific part, before the guest has run: (spec) must fit the
 * VM's shape (its memory and NIC count, else -EINVAL naming both) and
 * have every vif's MAC (lv_vm_spec_choose_macs); its NICs get the vifs'
 * identities, the guest its command line, and (probe) (NULL: none). */
int lv_build_identity(struct lv_vm *vm, const struct lv_vm_spec *spec,
                      const struct lv_probe *probe, struct lv_err *err);

/* lv_build_identity, then the image (open and checked for the VM's
 * memory; it stays the caller's) loaded: the VM is ready for
 * lv_vm_start. */
int lv_build_execute(struct lv_vm *vm, const struct lv_vm_spec *spec,
                     const struct lv_probe *probe, struct lv_image *im, struct lv_err *err);

/* The other execute: lv_build_identity (no probe: a restored guest is
 * past its boot), then the snapshot (s, borrowed) restored into the VM
 * (the spec's MACs and addresses win over the saved ones): its memory
 * file mapped copy-on-write (lv_vm_restore), or with (copy) read into
 * the VM's own RAM (lv_vm_restore_copy). The VM is ready for
 * lv_vm_start. */
struct lv_snap;
int lv_build_restore(struct lv_vm *vm, const struct lv_vm_spec *spec, const struct lv_snap *s,
                     int copy, struct lv_err *err);

#endif
