/*
 * vm.h: one unikernel VM: create (the prepare work: VM, RAM, irqchip,
 * vCPU, boot tables), load an image (the execute work: copy the image,
 * write the boot info, set registers), run it on a vCPU thread, stop it.
 *
 * A VM object is used from one controlling thread; lv_vm_stop() may be
 * called from any thread. The vCPU thread is kicked with SIGUSR1: the
 * library installs a no-op handler for it on the first lv_vm_start().
 */
#ifndef LIGHTVM_VM_H
#define LIGHTVM_VM_H

#include <stddef.h>
#include <stdint.h>

#include "abi/lv_abi.h"
#include "lightvm/err.h"
#include "lightvm/kvm.h"

struct lv_image; /* lightvm/elf.h */

#define LV_VM_F_NO_PVM (1u << 0) /* do not register the PVM VIF; guest skips its probe */
/* The vCPU and I/O threads install their seccomp filters (seccomp.h) as
 * they start, before they touch the guest (meanwhile the caller may
 * install its own: LV_SECCOMP_VMM, after the threads are made);
 * lv_vm_threads_ready, lv_vm_start and lv_vm_warm fail if one could not. */
#define LV_VM_F_SECCOMP (1u << 1)

#define LV_VM_MAX_NICS LV_BOOTINFO_MAX_DEVICES /* the boot info page has room for that many */

/* One virtio-net NIC, backed by a tap the caller made (lv_tap_open). */
struct lv_vm_nic {
    int tap_fd;       /* borrowed; must stay open until lv_vm_destroy() */
    uint8_t mac[6];   /* the guest's MAC, unicast */
    uint16_t mtu;     /* 0: 1500 */
    uint32_t ip, netmask, gw; /* for the guest, network byte order; 0: none */
};

struct lv_vm_config {
    uint64_t mem_size;   /* bytes, multiple of 2 MiB, 2 MiB .. 4 GiB
                          * (.. LV_GPA_MMIO_BASE with NICs) */
    const char *cmdline; /* copied into the boot info page; may be NULL */
    unsigned flags;      /* LV_VM_F_* */
    int console_fd;      /* guest console goes here; borrowed, not closed; a failed
                          * write stops the VM. Ignored when (console) is set. */
    struct lv_console *console; /* or here (console.h); borrowed */
    unsigned nnics;      /* 0 .. LV_VM_MAX_NICS */
    const struct lv_vm_nic *nics; /* copied */
    uint32_t probe_ip;   /* network-up probe target, network byte order; */
    uint16_t probe_port; /* 0 = no probe */
};

/* Time of each phase, CLOCK_MONOTONIC ns; 0 = did not happen. */
enum lv_phase {
    LV_PH_CREATE_VM,   /* KVM_CREATE_VM .. irqchip */
    LV_PH_MEMORY,      /* memfd, mmap, memslot, boot tables */
    LV_PH_VCPU,        /* KVM_CREATE_VCPU .. registers, MSRs, CPUID */
    LV_PH_DEVICES,     /* virtio devices: queues, ioeventfds, irqfds, I/O thread set */
    LV_PH_LOAD_IMAGE,  /* validate + copy the ELF */
    LV_PH_BOOT_INFO,   /* boot info page, entry registers */
    LV_PH_START,       /* vCPU thread start .. first KVM_RUN */
    LV_PH_NPHASES
};

struct lv_span {
    uint64_t start_ns;
    uint64_t end_ns;
};

#define LV_MAX_MARKS 16

struct lv_vm_trace {
    struct lv_span phase[LV_PH_NPHASES];
    uint64_t first_run_ns;     /* first KVM_RUN entered */
    uint64_t guest_entry_ns;   /* guest's first instruction (from its TSC), 0 if unknown */
    uint64_t first_console_ns; /* first console host call seen */
    uint64_t exit_ns;          /* VM stopped */
    unsigned nmarks;
    struct {
        uint64_t id;
        uint64_t ns;
    } mark[LV_MAX_MARKS];
};

#define LV_EXIT_REASONS 64

struct lv_vm_stats {
    uint64_t exits;                        /* KVM_RUN returns with an exit */
    uint64_t by_reason[LV_EXIT_REASONS];   /* index: KVM_EXIT_* */
    uint64_t hc_console, hc_exit, hc_mark, doorbell;
    uint64_t mmio_dev;                     /* device register accesses (exits) */
};

enum lv_outcome {
    LV_VM_EXITED,  /* guest exited with (status) 0..255 */
    LV_VM_CRASHED, /* guest reported an unhandled exception (status = vector) */
    LV_VM_FAILED,  /* the VMM stopped it: triple fault, bad pointer, unknown exit, ... */
    LV_VM_STOPPED, /* lv_vm_stop() */
};

struct lv_vm_result {
    enum lv_outcome outcome;
    int status;
    char msg[LV_ERR_MAX];
    char regs[1024]; /* register dump for LV_VM_FAILED, else empty */
};

struct lv_vm;

/* Prepares a VM from (kvm), which must outlive it. On success *out is
 * owned by the caller and released with lv_vm_destroy(). */
int lv_vm_create(struct lv_vm **out, struct lv_kvm *kvm, const struct lv_vm_config *cfg,
                 struct lv_err *err);

/* ---- the VM's identity: set between lv_vm_create() and lv_vm_load_elf()
 * (a pooled shell is created without one and gets it at execute time;
 * the cold path passes it all in lv_vm_config) ---- */

/* NIC (i)'s guest-side identity: mac (unicast, not zero), mtu (0: 1500,
 * else 68..65535), ip/netmask/gw. (n->tap_fd) is ignored: the tap given
 * at create time stays. Also allowed after the load while the vCPU is
 * paused or not yet started (a restore, a clone): the device's config
 * space changes at once, the guest's boot info at lv_vm_resumed(), which
 * is what tells the guest. -EBUSY while the vCPU runs. */
int lv_vm_set_nic(struct lv_vm *vm, unsigned i, const struct lv_vm_nic *n, struct lv_err *err);
/* Copies (cmdline) (NULL: none), checked like lv_vm_config's. */
int lv_vm_set_cmdline(struct lv_vm *vm, const char *cmdline, struct lv_err *err);
void lv_vm_set_probe(struct lv_vm *vm, uint32_t ip, uint16_t port);
/* The probe target's MAC, when the caller knows it (see lv_abi.h). */
void lv_vm_set_probe_mac(struct lv_vm *vm, const uint8_t mac[6]);
/* The guest console goes to (c) (borrowed: it must outlive the VM's run)
 * from now on. */
struct lv_console;
void lv_vm_set_console(struct lv_vm *vm, struct lv_console *c);
/* Pre-allocates the host pages of guest RAM [gpa, gpa + len) (lv_mem_populate). */
int lv_vm_populate(struct lv_vm *vm, uint64_t gpa, uint64_t len, struct lv_err *err);

/* Validates and loads an ELF image, writes the boot info page and the
 * entry registers. Once per VM, before lv_vm_start(). */
int lv_vm_load_elf(struct lv_vm *vm, const uint8_t *img, size_t size, struct lv_err *err);
/* The same from an open image file (lv_image_open; checked here if it was
 * not yet checked for this VM's memory size). (im) stays the caller's. */
int lv_vm_load_image(struct lv_vm *vm, struct lv_image *im, struct lv_err *err);

/* Creates the vCPU and I/O threads ahead of time (a VM shell's prepare
 * work); the vCPU waits for lv_vm_start(). Optional: lv_vm_start()
 * creates them when they do not exist. */
int lv_vm_spawn_threads(struct lv_vm *vm, struct lv_err *err);

/* With LV_VM_F_SECCOMP: waits (5 s at most) until every thread made so
 * far has installed its filter; -errno with (err) if one could not (the
 * VM is then only good for lv_vm_destroy). 0 at once without the flag. */
int lv_vm_threads_ready(struct lv_vm *vm, struct lv_err *err);

/* A VM shell's warm-up (after lv_vm_spawn_threads, before an image): runs
 * a few bytes of guest code that touch every page a boot touches (the
 * boot info, the stack's top, the first (image_bytes) of the image area,
 * the device queues) and exit, then forgets that run: the first entry's
 * and the first touches' costs on KVM's side are paid now, not at boot.
 * The memory stays as it was (zero). */
int lv_vm_warm(struct lv_vm *vm, uint64_t image_bytes, struct lv_err *err);

/* Starts the vCPU (creating its thread unless lv_vm_spawn_threads did). */
int lv_vm_start(struct lv_vm *vm, struct lv_err *err);

/* An eventfd (borrowed) that becomes readable once the VM has stopped. */
int lv_vm_done_fd(const struct lv_vm *vm);

/* Asks the vCPU thread to stop; returns at once. Safe from any thread. */
void lv_vm_stop(struct lv_vm *vm);

/* Parks the vCPU outside KVM_RUN and returns once it is parked (the
 * guest's clock keeps running; its devices keep queueing frames).
 * -EINVAL if the VM is not running, -EALREADY if paused, -ETIMEDOUT if
 * the vCPU did not park within a second. Controlling thread only. */
int lv_vm_pause(struct lv_vm *vm, struct lv_err *err);
/* Lets a paused vCPU run again. -EINVAL if it is not paused. */
int lv_vm_unpause(struct lv_vm *vm, struct lv_err *err);
int lv_vm_is_paused(const struct lv_vm *vm);

/* Writes (request) (LV_CTL_SHUTDOWN, ...) into the boot info control
 * field and raises LV_VEC_CONTROL in the guest. The guest acknowledges by
 * writing it to control.ack and, for shutdown, exits; the caller decides
 * how long to wait (for lv_vm_done_fd) before lv_vm_stop(). */
int lv_vm_request(struct lv_vm *vm, uint32_t request, struct lv_err *err);

/* ---- a VM that runs on from a snapshot (ABI v4; see lv_abi.h) ----
 * The snapshot code restores memory and vCPU, then calls lv_vm_resumed
 * before the vCPU runs again. Both functions below need the vCPU out of
 * KVM_RUN (paused, or not yet started: -EBUSY otherwise) and a boot info
 * page of this host's ABI (magic, version, size; -EINVAL otherwise: the
 * page is guest memory). */

/* The guest's TSC now: KVM_GET_MSRS of the TSC on VMX/SVM, the host's
 * rdtsc on a PVM host (the same there). */
int lv_vm_guest_tsc(struct lv_vm *vm, uint64_t *tsc, struct lv_err *err);

/* The guest runtime's monotonic clock (lvrt_now_ns) at guest TSC
 * (guest_tsc), in *ns: clock_ns + (guest_tsc - clock_tsc) * 1e6 / tsc_khz
 * from the boot info, with the guest's entry TSC at 0 ns when clock_tsc
 * is 0 (a boot); 0 if the guest never ran. A TSC before the base gives
 * the base (the guest's clock never goes back). -ENOTSUP when the boot
 * info has no usable tsc_khz, -EOVERFLOW past 2^64 ns. A save records
 * this for the guest TSC it saved; the restore passes it on below. */
int lv_vm_guest_clock(struct lv_vm *vm, uint64_t guest_tsc, uint64_t *ns, struct lv_err *err);

/* Tells the guest it runs on from a snapshot: rewrites its boot info
 * (a fresh seed; tsc_khz of this host; clock_tsc = the guest's TSC now,
 * clock_ns = (clock_ns), so its clock continues from there; the wall
 * clock; each NIC's MAC, MTU and addresses as lv_vm_set_nic left them;
 * generation + 1, last) and requests LV_CTL_RESUMED: the control
 * interrupt is raised now if the vCPU was started, else right after
 * lv_vm_start releases it (so call this once the vCPU's state, LAPIC
 * included, is restored). The runtime also notices the new generation
 * without the interrupt. */
int lv_vm_resumed(struct lv_vm *vm, uint64_t clock_ns, struct lv_err *err);

/* Waits for the vCPU thread and fills (res). */
void lv_vm_wait(struct lv_vm *vm, struct lv_vm_result *res);

const struct lv_vm_stats *lv_vm_stats(const struct lv_vm *vm);

/* Counters of NIC (i), 0 .. nnics - 1; -EINVAL for another index. */
struct lv_vnet_stats;
int lv_vm_nic_stats(struct lv_vm *vm, unsigned i, struct lv_vnet_stats *out);
const struct lv_vm_trace *lv_vm_trace(const struct lv_vm *vm);
/* When the guest's first instruction ran (CLOCK_MONOTONIC ns, from the
 * TSC it wrote into the boot info), 0 if not yet or implausible. */
uint64_t lv_vm_guest_entry_ns(const struct lv_vm *vm);

/* Stops the vCPU if running, releases everything, sets *vm = NULL. */
void lv_vm_destroy(struct lv_vm **vm);

/* CLOCK_MONOTONIC in ns. */
uint64_t lv_now_ns(void);

/* Short name of a KVM_EXIT_* reason ("io", "mmio", "shutdown", ...). */
const char *lv_exit_name(unsigned reason);

#endif
