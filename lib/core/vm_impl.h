/* vm_impl.h: the VM object, private to lib/core (vm.c, vcpu.c, devices.c, nic.c, warm.c). */
#ifndef LV_VM_IMPL_H
#define LV_VM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "abi/lv_abi.h"
#include "lightvm/mem.h"
#include "lightvm/seccomp.h"
#include "lightvm/virtio_net.h"
#include "lightvm/vm.h"
#include "dev_impl.h"

struct lv_vm {
    struct lv_kvm *kvm; /* borrowed */
    int vm_fd;          /* owned */
    int vcpu_fd;        /* owned */
    struct kvm_run *run; /* owned mapping of kvm->vcpu_mmap_size bytes */
    struct lv_mem mem;  /* owned */
    int done_fd;        /* eventfd, owned */
    int console_fd;     /* borrowed; used when console is NULL */
    struct lv_console *console; /* borrowed */
    unsigned flags;
    char cmdline[LV_CMDLINE_MAX];
    int pvm;            /* the VIF was registered: PVM host */
    uint64_t tsc_khz;
    uint64_t tsc_ref, ns_ref; /* host TSC and CLOCK_MONOTONIC sampled together */
    int loaded;
    int started;
    pthread_t thread;
    atomic_int stop;
    /* Pause: the controlling thread sets pause_req and kicks; the vCPU
     * thread parks (paused = 1) until pause_req is cleared. */
    pthread_mutex_t run_lock;
    pthread_cond_t run_cond;
    atomic_int pause_req;
    int paused;         /* under run_lock */
    int go;             /* under run_lock: lv_vm_start was called */
    int vcpu_done;      /* under run_lock: the vCPU thread left its loop */
    int resume_irq;     /* lv_vm_resumed before the release: raise LV_VEC_CONTROL at it */
    struct lv_vm_stats stats;
    struct lv_vm_trace trace;
    struct lv_vm_result result;

    /* Devices (devices.c) and the NICs among them (nic.c). */
    struct lv_devs devs;                  /* owned */
    unsigned nnics;
    struct lv_vm_nic nic[LV_VM_MAX_NICS];
    unsigned nic_dev[LV_VM_MAX_NICS];     /* NIC i is devs.dev[nic_dev[i]] */
    uint64_t dev_mem_gpa;                 /* VMM-owned RAM from here to the end */
    uint32_t probe_ip;
    uint16_t probe_port;
    uint8_t probe_mac[6];
    int epfd;                             /* I/O thread's epoll, owned */
    int io_stop_fd;                       /* eventfd, owned: wakes the I/O thread for
                                           * the requests below (stop, park, resume) */
    int io_started;
    pthread_t io_thread;
    /* The I/O thread's requests and state (devices.c), under run_lock. */
    int io_stop_req;                      /* lv_devices_stop: end the loop */
    int io_park_req;                      /* lv_devices_quiesce: park between events */
    int io_parked;                        /* it is parked */
    int io_resume_req;                    /* lv_devices_resume: ops->resume, once */
    int io_resume_at_start;               /* lv_devices_resume_at_start before the
                                           * release: lv_vm_start asks for the pass */
    int io_done;                          /* it left its loop */
    /* LV_VM_F_SECCOMP: each thread made reports here once its filter is
     * in (lv_vm_thread_filter); filters_due counts the threads made, the
     * first failure is kept. Under run_lock. */
    int filters_due;
    int filters_in;
    int filter_rc;
    char filter_msg[LV_ERR_MAX];
    /* Dirty tracking (dirty.c), for the controlling thread. */
    int dirty_on;                         /* lv_vm_dirty_start .. stop */
    uint64_t *dirty_kvm;                  /* KVM_GET_DIRTY_LOG's buffer, owned */
    /* A device's failure, reported by the vCPU thread as the outcome. */
    pthread_mutex_t fail_lock;
    int dev_failed;
    char dev_msg[LV_ERR_MAX];
};

/* devices.c (dev_impl.h) */
/* The devices of (cfg) (its NICs, lv_nics_setup) with their queues,
 * eventfds and epoll set; no KVM call (a fuzz target drives the devices
 * without a VM).
 * lv_devices_create = lv_devices_setup + the KVM wiring (ioeventfds,
 * MSI routes, irqfds). */
int lv_devices_setup(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err);
int lv_devices_create(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err);
/* The I/O thread's work: serves the events of one epoll_wait of up to
 * (timeout_ms). 0; 1 when lv_devices_stop asked it to end; -errno with
 * (err) when a device failed (the VM must stop). */
int lv_devices_poll(struct lv_vm *vm, int timeout_ms, struct lv_err *err);
int lv_devices_start(struct lv_vm *vm, struct lv_err *err); /* the I/O thread */
void lv_devices_stop(struct lv_vm *vm);                     /* joins it */
void lv_devices_destroy(struct lv_vm *vm);
/* Serves a KVM_EXIT_MMIO inside the device window: 1 if it was one (0 =
 * not a device address); -errno with (err) when the access is bad. */
int lv_devices_mmio(struct lv_vm *vm, struct kvm_run *run, struct lv_err *err);
/* Stops the VM because a device failed; the first message wins. */
void lv_vm_fail(struct lv_vm *vm, const char *msg);

/* ---- Snapshots of the devices (devices.c) ----
 * A save or a restore must see no device mid-operation. lv_vm_pause
 * parks only the vCPU; the I/O thread goes on serving taps and kicks.
 * lv_devices_quiesce parks it too, between two events (so every device
 * is between operations), and lv_devices_unquiesce lets it go on. The
 * order for a save: lv_vm_pause, lv_devices_quiesce, lv_devices_save
 * (and the rest of the VM's state), lv_devices_unquiesce, lv_vm_unpause.
 * For a restore into a fresh VM or a pool shell: lv_devices_quiesce
 * (the shell's I/O thread runs), guest RAM from the snapshot, the vCPU
 * state (LAPIC included), lv_devices_restore, lv_devices_resume,
 * lv_devices_unquiesce, then the vCPU runs (lv_vm_start, lv_vm_unpause).
 * All of these are for the controlling thread. */

/* Parks the I/O thread between events; returns once it is parked
 * (waiting at most a second: -ETIMEDOUT), or at once when it is not
 * running (it parks as it starts, until lv_devices_unquiesce; an
 * lv_devices_poll caller must unquiesce first). 0 with no devices.
 * -EALREADY if already quiesced, -EINVAL if the I/O thread has ended. */
int lv_devices_quiesce(struct lv_vm *vm, struct lv_err *err);
/* Lets it go on; a no-op when it is not quiesced. */
void lv_devices_unquiesce(struct lv_vm *vm);

/* Writes the state of every device into (buf) of (cap) bytes, *len = its
 * size: version (1), device count (u8), then per device its type (u32,
 * LV_DEV_*), the length of its blob (u32, at most LV_DEV_STATE_MAX) and
 * the blob (ops->save), all little-endian. -ENOSPC with *len = the bytes
 * needed when (cap) is too small (buf may be NULL then); -EBUSY unless
 * the vCPU is paused (or not running) and the I/O thread quiesced (or
 * not running); a device's -EBUSY/-EIO. Changes nothing. */
int lv_devices_save(struct lv_vm *vm, uint8_t *buf, size_t cap, size_t *len,
                    struct lv_err *err);

/* Puts a saved state (buf, len) (hostile: from a file) back into (vm)'s
 * devices, made by the same configuration (a fresh VM or a pool shell).
 * Guest RAM must already hold the snapshot's memory. Checks everything
 * before changing anything: the framing (version, a device count equal
 * to the VM's, each device's type, lengths, no trailing bytes), then
 * each device's blob (ops->check); then restores each (ops->restore).
 * -EINVAL/-EFAULT with one message naming the device and the field, and
 * every device as it was; -EBUSY as lv_devices_save. Identity the
 * configuration gives wins over the saved one (virtio_net.h). */
int lv_devices_restore(struct lv_vm *vm, const uint8_t *buf, size_t len, struct lv_err *err);

/* After lv_devices_restore: asks the I/O thread to serve every device
 * once (ops->resume: every active queue as if kicked, one interrupt per
 * device). It does so when it next runs (after lv_devices_unquiesce, or
 * as it starts; without a thread, the next lv_devices_poll). Call it
 * after the vCPU state is in (an interrupt injected before KVM_SET_LAPIC
 * would be lost). 0 with no devices. */
int lv_devices_resume(struct lv_vm *vm, struct lv_err *err);
/* The same for a VM that may not run yet (a restore): asked before the
 * vCPU's release, the pass waits for lv_vm_start, so a VM restored and
 * not yet started sends nothing out of its NICs (a migration's
 * destination before the source's commit). */
int lv_devices_resume_at_start(struct lv_vm *vm, struct lv_err *err);

/* nic.c */
/* Checks (cfg)'s NICs and registers a virtio-net device for each with
 * vm->devs (laid out and wired by lv_devices_setup afterwards). */
int lv_nics_setup(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err);
/* -EINVAL unless every NIC has its identity (a MAC). */
int lv_nics_check_identity(const struct lv_vm *vm, struct lv_err *err);

/* vm.c: (re)sets the RAM memslot (LV_RAM_SLOT: all of vm->mem at GPA 0)
 * with (flags) (KVM_MEM_LOG_DIRTY_PAGES or 0). On an existing slot only
 * the flags change. -errno with (err) (may be NULL). */
#define LV_RAM_SLOT 0
int lv_vm_set_ram_slot(struct lv_vm *vm, uint32_t flags, struct lv_err *err);
/* vm.c: with LV_VM_F_SECCOMP, a vCPU or I/O thread installs (role)'s
 * filter first and reports; -errno if it failed (the thread must end).
 * 0 without the flag. */
int lv_vm_thread_filter(struct lv_vm *vm, enum lv_seccomp_role role);
/* The spawner of (n) such threads counts them (before they can report). */
void lv_vm_filters_due(struct lv_vm *vm, int n);
/* vm.c: the vCPU thread's life, for a run before the real one (warm.c).
 * 1 when the threads are made and wait for lv_vm_start (no image yet). */
int lv_vm_waiting(const struct lv_vm *vm);
/* 0 when the vCPU is out of KVM_RUN for now: not yet released, paused
 * (parked) or ended; else -EBUSY with (err) (a vCPU ioctl from another
 * thread would wait for the run to end). */
int lv_vm_vcpu_still(struct lv_vm *vm, struct lv_err *err);
/* Raises LV_VEC_CONTROL (KVM_SIGNAL_MSI to APIC 0): the guest looks at
 * its boot info's control field. */
int lv_vm_raise_control(struct lv_vm *vm, struct lv_err *err);
/* A restore's last step (lib/snapshot/restore.c): marks the VM loaded
 * and tells the guest (lv_vm_resumed with the guest clock at the save,
 * clock_ns); on failure the VM stays unloaded (lv_vm_start refuses it). */
int lv_vm_set_restored(struct lv_vm *vm, uint64_t clock_ns, struct lv_err *err);
/* Lets the waiting vCPU thread run (lv_vm_start's last step). */
void lv_vm_release_vcpu(struct lv_vm *vm);
/* Waits (timeout_ms at most) for the vCPU thread to end its run, joins it
 * and copies its outcome into (res). -ETIMEDOUT after stopping the VM,
 * without a message: the caller says what it waited for. */
int lv_vm_join_vcpu(struct lv_vm *vm, int timeout_ms, struct lv_vm_result *res);
/* After lv_vm_join_vcpu: forgets that run (its outcome, counters, trace
 * and pending kick) and makes a new vCPU thread waiting for lv_vm_start. */
int lv_vm_respawn_vcpu(struct lv_vm *vm, struct lv_err *err);

/* vcpu.c */
int lv_vcpu_init(struct lv_vm *vm, struct lv_err *err);
/* Kicks the vCPU thread out of KVM_RUN (immediate_exit + SIGUSR1). */
void lv_vcpu_kick(struct lv_vm *vm);
void *lv_vcpu_thread(void *arg);
/* Serves the exit in vm->run (guest memory, devices, host calls); 1 when
 * the VM must stop, its outcome in vm->result. */
int lv_vcpu_handle_exit(struct lv_vm *vm);

#endif
