/*
 * dev_impl.h: a VM's devices, each behind an ops table; private to lib/.
 *
 * A device model (virtio-net: lib/virtio/net.c) defines one const struct
 * lv_dev_ops. Whoever decides that the VM has such a device (its NICs:
 * nic.c) creates the device object and registers it with the VM's table
 * (lv_devs_add), which owns it from then on. The generic layer
 * (devices.c) does what is the same for every device, by the device's
 * index i in the table, and never names a model:
 *   - device memory: its queues' areas, laid out at the top of guest RAM
 *     and handed to ops->preset (noxs), and its boot info entry (type,
 *     MMIO page i, kick address, features, vector GSI_BASE + i, queue
 *     areas; the entry's `data` bytes are written by the device's owner);
 *   - KVM wiring: each queue's kick eventfd (ops->kick_fd) bound to its
 *     QueueNotify address with KVM_IOEVENTFD, the interrupt eventfd
 *     (ops->irq_fd) to an MSI route with KVM_IRQFD;
 *   - the I/O thread's epoll set: ops->attach registers the device's fds
 *     with epoll data lv_dev_key(i, src), and the I/O thread hands each
 *     event to ops->event(priv, src): one indirect call, no allocation;
 *   - MMIO exits: an access in [LV_GPA_MMIO_BASE + i * page,
 *     + ops->mmio_len) goes to ops->mmio_read / mmio_write;
 *   - snapshots: ops->save writes all of a device's own state as a blob
 *     in the device's own versioned little-endian format, ops->check and
 *     ops->restore take a blob (hostile: it comes from a file) back into
 *     a device made by the same configuration, and ops->resume serves
 *     the device once on the I/O thread after a restore. lv_devices_save
 *     / _restore (vm_impl.h) frame the blobs of the whole table. The
 *     generic layer's own state (layout, KVM wiring, epoll set, boot info
 *     entries: a NIC's MAC and addresses there are its owner's, from the
 *     configuration) and a device's backend (a NIC's tap) follow from the
 *     configuration and are made anew.
 */
#ifndef LV_DEV_IMPL_H
#define LV_DEV_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "abi/lv_abi.h"
#include "lightvm/err.h"
#include "lightvm/virtio.h"

#define LV_DEVS_MAX LV_BOOTINFO_MAX_DEVICES
#define LV_DEV_MAX_QUEUES 2u /* struct lv_device's q[] */
#define LV_DEV_STATE_MAX 4096u /* bytes of one device's saved state, at most */

struct lv_dev_ops {
    const char *name;    /* for messages: "virtio-net" */
    uint32_t type;       /* LV_DEV_* of its boot info entry */
    uint64_t features;   /* what ops->preset negotiates (published in the boot info) */
    uint32_t mmio_len;   /* bytes of its register window, 1 .. LV_PAGE_SIZE */
    unsigned nqueues;    /* 1 .. LV_DEV_MAX_QUEUES, each with a kick eventfd */
    uint16_t queue_size; /* entries of each queue, a power of two */

    /* ---- prepare (controlling thread, before the I/O thread runs) ---- */
    /* noxs: negotiates (features) and makes its queues live at the areas
     * in (qa)[nqueues] (lv_virtio_mmio_preset). */
    int (*preset)(void *dev, const struct lv_virtio_mmio_qaddr *qa, struct lv_err *err);
    /* Borrowed eventfds: queue (q)'s kick (q < nqueues) and the interrupt. */
    int (*kick_fd)(const void *dev, unsigned q);
    int (*irq_fd)(const void *dev);
    /* Registers its fds with (epfd), each with epoll data (key | src) for
     * a source number src < 2^32 of its own; it may change its
     * registrations later (epfd stays borrowed). */
    int (*attach)(void *dev, int epfd, uint64_t key, struct lv_err *err);

    /* ---- hot paths: no allocation ---- */
    /* I/O thread: serves an event of source (src). 0, or -errno with a
     * message when the guest broke the device (the VM must stop). */
    int (*event)(void *dev, uint32_t src, struct lv_err *err);
    /* vCPU thread: a register access at (off) < mmio_len, 1..8 bytes. */
    int (*mmio_read)(void *dev, uint64_t off, void *data, uint32_t len, struct lv_err *err);
    int (*mmio_write)(void *dev, uint64_t off, const void *data, uint32_t len,
                      struct lv_err *err);

    /* ---- snapshots: the vCPU paused and the I/O thread parked
     * (lv_devices_quiesce), or neither running yet ---- */
    /* Writes its state into (buf) of (cap) bytes: a blob of at most
     * LV_DEV_STATE_MAX bytes with a version of its own; *len = the bytes
     * written, or needed (-ENOSPC). -EBUSY when it is mid-operation, -EIO
     * when it cannot be saved (a guest broke it). Changes nothing. */
    int (*save)(void *dev, uint8_t *buf, size_t cap, size_t *len, struct lv_err *err);
    /* Checks blob (buf, len) (hostile) exactly as restore would, with
     * guest RAM already holding the snapshot's memory; changes nothing.
     * 0, or -EINVAL/-EFAULT with one message naming the bad field. */
    int (*check)(void *dev, const uint8_t *buf, size_t len, struct lv_err *err);
    /* check, then replaces its state with the blob's; on failure the
     * device is unchanged. The device was made by the same configuration
     * (a fresh VM, or a pool shell that did ->preset); identity given by
     * that configuration wins over the blob's (see the model's header:
     * virtio-net keeps a MAC it was given). */
    int (*restore)(void *dev, const uint8_t *buf, size_t len, struct lv_err *err);
    /* I/O thread, once after a restore (lv_devices_resume): serves every
     * active queue as if kicked and interrupts the guest once, so that a
     * kick pending at save time is not lost. 0, or -errno as ->event. */
    int (*resume)(void *dev, struct lv_err *err);

    /* ---- any thread ---- */
    /* A consistent copy of its counters into (out): (size) must be the
     * size of the model's stats struct (-EINVAL otherwise). */
    int (*stats)(void *dev, void *out, size_t size);
    /* Frees (dev) and what it owns; its I/O thread must be stopped. */
    void (*destroy)(void *dev);
};

/* One registered device. */
struct lv_dev {
    const struct lv_dev_ops *ops;
    void *priv; /* owned: ops->destroy */
};

/* A VM's device table; index i is the device's boot info entry, MMIO
 * page, GSI and vector. */
struct lv_devs {
    unsigned n;
    struct lv_dev dev[LV_DEVS_MAX];
    struct lv_device info[LV_DEVS_MAX]; /* boot info entries (devices.c) */
};

/* The I/O thread's epoll data for source (src) of device (i); its
 * control eventfd's (stop, park, resume: vm->io_stop_fd) is
 * LV_DEV_KEY_STOP, which no device's can be. */
#define LV_DEV_KEY_STOP UINT64_MAX
static inline uint64_t lv_dev_key(unsigned i, uint32_t src)
{
    return ((uint64_t)i << 32) | src;
}

/* devices.c: registers (priv) as the next device, of model (ops). The
 * table owns (priv) from now on, also when this fails (-ENOSPC: table
 * full, -EINVAL: an ops table out of range; (priv) is destroyed at once).
 * *index = its index. */
int lv_devs_add(struct lv_devs *t, const struct lv_dev_ops *ops, void *priv, unsigned *index,
                struct lv_err *err);
/* Destroys every device (ops->destroy) and empties the table. */
void lv_devs_destroy(struct lv_devs *t);

/* The device models (each defines its table; priv is its object). */
extern const struct lv_dev_ops lv_vnet_dev_ops; /* lib/virtio/net.c: struct lv_vnet */

#endif
