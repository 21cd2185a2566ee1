/*
 * virtio_net.h: a virtio-net device (virtio 1.x, over virtio-mmio) with a
 * tap backend.
 *
 * The device owns its transport (struct lv_virtio_mmio), one kick eventfd
 * per queue (the VMM binds them to the QueueNotify address with
 * KVM_IOEVENTFD, so a guest kick never leaves the kernel) and one
 * interrupt eventfd (bound to a GSI with KVM_IRQFD). Its frames move on an
 * I/O thread that owns an epoll set: lv_vnet_attach() registers the tap
 * and the kick eventfds there, and lv_vnet_event() serves what epoll
 * reported. Inside lightvm a VM's NICs reach these calls through the
 * device's ops table (lv_vnet_dev_ops, lib/core/dev_impl.h). Receive stops reading the tap while the guest has posted no
 * buffers and resumes at the guest's next kick, so a guest that does not
 * receive costs nothing.
 *
 * Threads: lv_vnet_event() runs on the I/O thread; lv_vnet_mmio_read /
 * write run on the vCPU thread (a driver that does its own handshake);
 * a mutex inside serializes them.
 *
 * A malformed queue (see lv_vq_pop) or a bad transmit header makes
 * lv_vnet_event() return -EINVAL/-EFAULT with a message: the caller stops
 * the VM. After that the device does nothing more.
 */
#ifndef LIGHTVM_VIRTIO_NET_H
#define LIGHTVM_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/mem.h"
#include "lightvm/virtio.h"

#define LV_VIRTIO_ID_NET 1u
#define LV_VIRTIO_NET_F_MTU (1ull << 3)
#define LV_VIRTIO_NET_F_MAC (1ull << 5)
#define LV_VNET_RXQ 0u
#define LV_VNET_TXQ 1u
#define LV_VNET_NQUEUES 2u
#define LV_VNET_QUEUE_SIZE 256u
/* The features a preset (noxs) device is negotiated with. */
#define LV_VNET_FEATURES (LV_VIRTIO_F_VERSION_1 | LV_VIRTIO_F_EVENT_IDX | LV_VIRTIO_NET_F_MAC | \
                          LV_VIRTIO_NET_F_MTU)
/* Largest frame either way: 64 KiB of IP plus Ethernet and VLAN headers. */
#define LV_VNET_MAX_FRAME (65535u + 18u)

struct lv_vnet_params {
    const struct lv_mem *mem; /* guest RAM, borrowed */
    int tap_fd;   /* borrowed: O_NONBLOCK, IFF_VNET_HDR with 12-byte headers */
    uint8_t mac[6];
    uint16_t mtu; /* 68..65535 */
};

struct lv_vnet_stats {
    uint64_t rx_frames, tx_frames;
    uint64_t rx_dropped;  /* no room in the guest's buffer: truncated by the tap */
    uint64_t tx_dropped;  /* the tap refused the frame */
    uint64_t kicks[LV_VNET_NQUEUES];
    uint64_t irqs;
};

struct lv_vnet;

/* Creates the device in the reset state with its eventfds. *out is owned
 * by the caller, released with lv_vnet_destroy(). */
int lv_vnet_create(struct lv_vnet **out, const struct lv_vnet_params *p, struct lv_err *err);

/* Closes the eventfds and frees the device; NULL-safe, sets *vn = NULL.
 * The tap stays open (borrowed). The I/O thread must be stopped. */
void lv_vnet_destroy(struct lv_vnet **vn);

/* Sets the MAC and MTU the device reports in its config space (before
 * the guest starts; a zero MAC is stored as is). */
void lv_vnet_set_identity(struct lv_vnet *vn, const uint8_t mac[6], uint16_t mtu);

/* LV_VNET_FEATURES. */
uint64_t lv_vnet_features(void);

/* noxs: negotiates lv_vnet_features() and makes both queues live at the
 * areas in (qa)[LV_VNET_NQUEUES] (see lv_virtio_mmio_preset). */
int lv_vnet_preset(struct lv_vnet *vn, const struct lv_virtio_mmio_qaddr *qa, struct lv_err *err);

/* Kick eventfd of queue (q) and the interrupt eventfd (borrowed). */
int lv_vnet_kick_fd(const struct lv_vnet *vn, unsigned q);
int lv_vnet_irq_fd(const struct lv_vnet *vn);

/* Registers the tap and the kick eventfds with (epfd); each epoll event
 * carries data.u64 = (key) | a source number below 3 (key's low bits
 * zero). The device may change its own registrations later (it keeps
 * epfd, borrowed). */
int lv_vnet_attach(struct lv_vnet *vn, int epfd, uint64_t key, struct lv_err *err);

/* Serves one epoll event of source (src) (its data.u64 - key, from
 * lv_vnet_attach()): moves frames, raises the interrupt as the guest
 * asked. 0, or a negative errno with a message when the guest broke a
 * queue (stop the VM). */
int lv_vnet_event(struct lv_vnet *vn, uint32_t src, struct lv_err *err);

/* Guest register access (offset within the device's MMIO page). */
int lv_vnet_mmio_read(struct lv_vnet *vn, uint64_t off, void *data, uint32_t len,
                      struct lv_err *err);
int lv_vnet_mmio_write(struct lv_vnet *vn, uint64_t off, const void *data, uint32_t len,
                       struct lv_err *err);

/* ---- Saved state (snapshots) ----
 * The blob (lv_vnet_state_bytes bytes, little-endian): version (1), the
 * config space's MAC (6 bytes), MTU and status (u16 each), then the
 * transport's state (lv_virtio_mmio_save: registers, ring addresses,
 * queue progress). Not state: the counters, and the tap (the device is
 * made with the configuration's). A receive buffer the device took and
 * holds for the next frame is saved as not taken (lv_vq_save).
 * All four are called with the guest's vCPU paused and the I/O thread
 * parked or not running (lib/core: lv_devices_quiesce). */
size_t lv_vnet_state_bytes(const struct lv_vnet *vn);

/* Writes the state into (buf) of (cap) bytes, *len = its size; -ENOSPC
 * (with *len) if (cap) is too small, -EIO if a guest broke the device. */
int lv_vnet_save(struct lv_vnet *vn, uint8_t *buf, size_t cap, size_t *len, struct lv_err *err);

/* Checks a saved state (hostile) as lv_vnet_restore does; changes nothing. */
int lv_vnet_check_state(struct lv_vnet *vn, const uint8_t *buf, size_t len, struct lv_err *err);

/* Replaces the device's state with a saved one (hostile: every field is
 * checked first, see lv_virtio_mmio_check_state; on failure -EINVAL or
 * -EFAULT with a message naming the field and the device unchanged).
 * Guest RAM must already hold the snapshot's memory (the rings are
 * checked against it). The MAC: a device that was given one (a non-zero
 * MAC at create or by lv_vnet_set_identity, e.g. a clone's new MAC)
 * keeps it and its MTU, and if they differ from the saved ones the
 * guest sees a config change (ConfigGeneration + 1, the config bit in
 * InterruptStatus); a device without one takes the saved MAC and MTU.
 * A later lv_vnet_set_identity wins as well. */
int lv_vnet_restore(struct lv_vnet *vn, const uint8_t *buf, size_t len, struct lv_err *err);

/* After a restore, on the I/O thread: serves both queues once as if
 * kicked (transmit drained, receive refilled from the tap, avail_event
 * rewritten) and raises one interrupt, so a kick pending at save time is
 * not lost. 0, or an error as lv_vnet_event. */
int lv_vnet_resume(struct lv_vnet *vn, struct lv_err *err);

/* A consistent copy of the counters. */
void lv_vnet_get_stats(struct lv_vnet *vn, struct lv_vnet_stats *out);

#endif
