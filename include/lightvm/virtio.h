/*
 * virtio.h: the host side of virtio 1.x split virtqueues and of the
 * virtio-mmio (version 2) transport, shared by every device (net, blk).
 *
 * The guest is hostile. Every index, descriptor, address and length read
 * from guest memory is validated; each guest-shared index is read once
 * into a local. A malformed queue or an out-of-state register access
 * returns -EINVAL or -EFAULT with a message naming the bad value, and the
 * caller stops that VM. Nothing here exits, prints or aborts.
 *
 * Threads: one struct lv_vq is used by one thread at a time (the device's
 * thread); the guest runs concurrently, which the memory ordering here
 * accounts for. The calls on one struct lv_virtio_mmio are serialized by
 * the caller (the vCPU thread), except lv_virtio_mmio_set_interrupt(),
 * which may race with the guest's InterruptACK.
 */
#ifndef LIGHTVM_VIRTIO_H
#define LIGHTVM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/mem.h"

/* ---- Split virtqueue layout (virtio 1.x, 2.7), little-endian ---- */

#define LV_VQ_SIZE_MAX 32768u
#define LV_VQ_MAX_SEGS 64 /* segments per chain the host accepts */

#define LV_VIRTQ_DESC_F_NEXT 1u
#define LV_VIRTQ_DESC_F_WRITE 2u    /* device writes (device -> driver) */
#define LV_VIRTQ_DESC_F_INDIRECT 4u /* never negotiated: refused */
#define LV_VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define LV_VIRTQ_USED_F_NO_NOTIFY 1u

struct lv_virtq_desc { /* 16-byte aligned table of (size) entries */
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct lv_virtq_avail { /* driver area, 2-byte aligned, 6 + 2 * size bytes */
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* (size) entries, then uint16_t used_event */
};

struct lv_virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct lv_virtq_used { /* device area, 4-byte aligned, 6 + 8 * size bytes */
    uint16_t flags;
    uint16_t idx;
    struct lv_virtq_used_elem ring[]; /* (size) entries, then uint16_t avail_event */
};

/* Bytes of each area for a queue of (size) entries, event fields included. */
#define LV_VQ_DESC_BYTES(size) (16ull * (size))
#define LV_VQ_AVAIL_BYTES(size) (6ull + 2ull * (size))
#define LV_VQ_USED_BYTES(size) (6ull + 8ull * (size))

/* One virtqueue as the device sees it. Embedded by its owner (the
 * transport); the fields are readable for devices, tests and snapshots,
 * but only the lv_vq_* functions change them. */
struct lv_vq {
    const struct lv_mem *mem; /* borrowed guest RAM */
    uint32_t size;            /* entries, power of two, 1..32768 */
    uint32_t max_chain_len;   /* limit on a chain's total bytes */
    lv_gpa_t desc_gpa, avail_gpa, used_gpa;
    /* Host views of the three areas, checked by lv_mem_ptr() in
     * lv_vq_init(); valid until the RAM is closed. Guest-shared. */
    struct lv_virtq_desc *desc;
    struct lv_virtq_avail *avail;
    struct lv_virtq_used *used;
    uint16_t last_avail;     /* next avail ring entry to consume */
    uint16_t used_idx;       /* next used ring entry to fill (published) */
    uint16_t signalled_used; /* used_idx at the last interrupt decision */
    uint32_t inflight;       /* chains popped and not yet pushed */
    bool event_idx;          /* VIRTIO_F_EVENT_IDX negotiated */
    bool kicks_wanted;       /* see lv_vq_set_kick_suppress() */
};

struct lv_vq_seg {
    void *ptr; /* host address inside guest RAM (borrowed, guest-shared) */
    uint32_t len;
    lv_gpa_t gpa; /* where (ptr) is in the guest: lv_vq_push marks what was written */
};

/* A popped descriptor chain: seg[0 .. nread) are readable (driver ->
 * device), seg[nread .. nsegs) writable (device -> driver). The buffers
 * are guest-shared: copy a header out before validating it. */
struct lv_vq_chain {
    uint16_t head; /* descriptor id to hand back with lv_vq_push() */
    uint16_t nsegs;
    uint16_t nread;
    uint32_t rlen; /* total readable bytes */
    uint32_t wlen; /* total writable bytes */
    struct lv_vq_seg seg[LV_VQ_MAX_SEGS];
};

/* Sets up (vq) for a queue of (size) entries (a power of two, 1..32768)
 * whose areas the driver placed at (desc_gpa) (16-byte aligned),
 * (avail_gpa) (2-byte aligned) and (used_gpa) (4-byte aligned). Each area
 * must lie wholly inside (mem), which (vq) borrows. (max_chain_len) > 0
 * caps the total bytes of one chain (e.g. 65536 + a 12-byte net header).
 * (event_idx) says VIRTIO_F_EVENT_IDX was negotiated. Guest memory is not
 * written. Returns 0, -EINVAL (size, alignment) or -EFAULT (outside RAM). */
int lv_vq_init(struct lv_vq *vq, const struct lv_mem *mem, uint32_t size, lv_gpa_t desc_gpa,
               lv_gpa_t avail_gpa, lv_gpa_t used_gpa, bool event_idx, uint32_t max_chain_len,
               struct lv_err *err);

/* Takes the next available chain into (c). Returns 1 with a chain, 0 when
 * the driver has made nothing new available, or -EINVAL / -EFAULT when the
 * queue is malformed (avail idx more than (size) ahead, head or next index
 * >= size, a loop or a chain longer than the queue, an indirect
 * descriptor, a buffer outside RAM, a readable descriptor after a
 * writable one, more than LV_VQ_MAX_SEGS segments or more than
 * max_chain_len bytes). After an error the VM must be stopped. */
int lv_vq_pop(struct lv_vq *vq, struct lv_vq_chain *c, struct lv_err *err);

/* Returns chain (c) to the driver with (written_len) bytes written into
 * its writable part: fills the next used element, then publishes used idx
 * (release). Then marks for dirty tracking (lv_mem_mark_dirty) the first
 * (written_len) bytes of the writable part and the used ring entries it
 * wrote (a device that wrote more of a chain than it reports, or wrote a
 * chain it keeps, calls lv_vq_mark_written itself). Returns 0, or -EINVAL
 * when c->head >= size, written_len > c->wlen, or nothing is in flight.
 * Does not interrupt: see below. */
int lv_vq_push(struct lv_vq *vq, const struct lv_vq_chain *c, uint32_t written_len,
               struct lv_err *err);

/* Dirty tracking: the device wrote the first (len) bytes of the writable
 * part of (c) (lv_mem_mark_dirty on each segment's pages; beyond the
 * chain's writable bytes nothing). Any thread that owns (vq). */
void lv_vq_mark_written(const struct lv_vq *vq, const struct lv_vq_chain *c, uint32_t len);

/* After one or more pushes: returns 1 when the driver wants an interrupt
 * for the used entries published since the last call (event index rule
 * with used_event, or VIRTQ_AVAIL_F_NO_INTERRUPT without it), else 0. */
int lv_vq_need_interrupt(struct lv_vq *vq);

/* Number of chains the driver made available and we have not popped
 * (a value > size means the next lv_vq_pop() reports the queue broken). */
unsigned lv_vq_avail_count(const struct lv_vq *vq);

/* Kick (driver -> device notification) suppression. suppress=true while
 * the device is busy draining the queue: VIRTQ_USED_F_NO_NOTIFY without
 * event index, and avail_event stops advancing with it. suppress=false
 * before going idle: clears the flag or writes avail_event = last_avail,
 * then a full barrier, and returns lv_vq_avail_count(): when non-zero the
 * driver may have added chains without kicking, so keep popping. Queues
 * start with kicks wanted. Typical device loop:
 *
 *   for (;;) {
 *       lv_vq_set_kick_suppress(vq, true);
 *       while ((rc = lv_vq_pop(vq, &c, err)) > 0) { serve; lv_vq_push(...); }
 *       if (rc < 0) stop the VM;
 *       if (lv_vq_need_interrupt(vq)) raise the interrupt;
 *       if (!lv_vq_set_kick_suppress(vq, false)) break;
 *   }
 */
unsigned lv_vq_set_kick_suppress(struct lv_vq *vq, bool suppress);

/* With event index: writes avail_event = last_avail (the driver kicks
 * when it makes entry last_avail available). No-op without event index. */
void lv_vq_update_avail_event(struct lv_vq *vq);

/* ---- Saved state (snapshots) ----
 * A queue's device-side progress, in LV_VQ_STATE_BYTES little-endian
 * bytes: version (1), last_avail, used_idx, signalled_used (u16 each),
 * flags (bit 0 event_idx, bit 1 kicks_wanted). Where the rings are is
 * the transport's (lv_virtio_mmio_save); what is in them is guest RAM's.
 * No chain is in flight in a saved queue: the device hands back the
 * chains it popped and holds ((held) of them, the last ones popped,
 * e.g. a receive buffer waiting for a frame), which are saved as not
 * yet popped, so the restored device pops them again (the driver still
 * owns none of them until they are used). -EBUSY if more chains than
 * (held) are in flight (the device is mid-operation). */
#define LV_VQ_STATE_BYTES 8u
int lv_vq_save(const struct lv_vq *vq, unsigned held, uint8_t out[LV_VQ_STATE_BYTES],
               struct lv_err *err);

/* Puts saved progress (in) (hostile: from a file) back into (vq), which
 * lv_vq_init just set up at the saved ring addresses and features, with
 * guest RAM already holding the saved rings. Checks first, changes
 * nothing on failure (-EINVAL, a message naming the field): the version,
 * the flags (event_idx must match the negotiated features), no chain in
 * flight (last_avail == used_idx), signalled_used at most (size) behind
 * used_idx, and the rings agree: the used ring's idx is used_idx (the
 * device wrote it) and the avail ring's idx at most (size) ahead. */
int lv_vq_restore(struct lv_vq *vq, const uint8_t in[LV_VQ_STATE_BYTES], struct lv_err *err);

/* ---- virtio-mmio transport, version 2 (virtio 1.x, 4.2.2) ---- */

#define LV_VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define LV_VIRTIO_MMIO_VERSION 2u

enum {
    LV_VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    LV_VIRTIO_MMIO_VERSION_REG = 0x004,
    LV_VIRTIO_MMIO_DEVICE_ID = 0x008,
    LV_VIRTIO_MMIO_VENDOR_ID = 0x00c,
    LV_VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    LV_VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    LV_VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    LV_VIRTIO_MMIO_QUEUE_SEL = 0x030,
    LV_VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    LV_VIRTIO_MMIO_QUEUE_NUM = 0x038,
    LV_VIRTIO_MMIO_QUEUE_READY = 0x044,
    LV_VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    LV_VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    LV_VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    LV_VIRTIO_MMIO_STATUS = 0x070,
    LV_VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    LV_VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
    LV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
    LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
    LV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    LV_VIRTIO_MMIO_SHM_SEL = 0x0ac,
    LV_VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
    LV_VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
    LV_VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
    LV_VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
    LV_VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    LV_VIRTIO_MMIO_CONFIG = 0x100,
};

#define LV_VIRTIO_STATUS_ACKNOWLEDGE 1u
#define LV_VIRTIO_STATUS_DRIVER 2u
#define LV_VIRTIO_STATUS_DRIVER_OK 4u
#define LV_VIRTIO_STATUS_FEATURES_OK 8u
#define LV_VIRTIO_STATUS_NEEDS_RESET 64u
#define LV_VIRTIO_STATUS_FAILED 128u

#define LV_VIRTIO_INT_VRING 1u  /* used buffer notification */
#define LV_VIRTIO_INT_CONFIG 2u /* configuration change */

#define LV_VIRTIO_F_INDIRECT_DESC (1ull << 28) /* refused: not implemented */
#define LV_VIRTIO_F_EVENT_IDX (1ull << 29)
#define LV_VIRTIO_F_VERSION_1 (1ull << 32)
#define LV_VIRTIO_F_RING_PACKED (1ull << 34) /* refused: not implemented */
#define LV_VIRTIO_F_NOTIFICATION_DATA (1ull << 38) /* refused */

#define LV_VIRTIO_MMIO_MAX_QUEUES 16

/* What a device implements. Calls come from the transport on the thread
 * that calls lv_virtio_mmio_read/write. Any member may be NULL. */
struct lv_virtio_dev_ops {
    /* Config space access at (off) of (len) 1, 2, 4 or 8 bytes, already
     * checked to lie inside config_len. Return 0 or -errno. */
    int (*config_read)(void *dev, uint32_t off, void *buf, uint32_t len);
    int (*config_write)(void *dev, uint32_t off, const void *buf, uint32_t len);
    /* Queue (q) became ready: (vq) is initialized and stays valid (it is
     * inside the transport) until the queue is disabled or reset. Called
     * with vq == NULL when the driver disables the queue. A negative
     * return refuses QueueReady=1 and is passed to the caller. */
    int (*queue_ready)(void *dev, unsigned q, struct lv_vq *vq);
    /* The driver kicked ready queue (q); delivered only after DRIVER_OK
     * (kicks that came earlier are delivered at DRIVER_OK). */
    void (*notify)(void *dev, unsigned q);
    /* The driver wrote 0 to Status: drop every queue and all state. */
    void (*reset)(void *dev);
};

struct lv_virtio_mmio_queue {
    uint16_t num_max; /* 0: the queue does not exist */
    uint16_t num;
    bool ready;
    bool kick_pending; /* kicked before DRIVER_OK */
    uint64_t desc, driver, device;
    struct lv_vq vq; /* valid while ready */
};

struct lv_virtio_mmio_params {
    uint32_t device_id; /* non-zero, e.g. 1 net, 2 blk */
    uint32_t vendor_id;
    uint64_t features;      /* device features; VERSION_1 is added */
    unsigned nqueues;       /* 1..LV_VIRTIO_MMIO_MAX_QUEUES */
    uint16_t queue_num_max; /* power of two, 1..32768 */
    uint32_t max_chain_len; /* passed to lv_vq_init() */
    uint32_t config_len;    /* bytes of device config space */
    const struct lv_virtio_dev_ops *ops; /* borrowed */
    void *dev;                           /* borrowed, passed to ops */
    const struct lv_mem *mem;            /* borrowed guest RAM */
};

struct lv_virtio_mmio {
    struct lv_virtio_mmio_params p;
    uint64_t device_features;
    uint64_t driver_features; /* valid once Status has FEATURES_OK */
    uint32_t device_features_sel, driver_features_sel;
    uint32_t queue_sel;
    uint32_t status;
    uint32_t interrupt_status; /* atomic: device sets, driver acks */
    uint32_t config_generation;
    struct lv_virtio_mmio_queue q[LV_VIRTIO_MMIO_MAX_QUEUES];
};

/* Initializes (m) in the reset state from (p) (copied; the pointers in it
 * are borrowed). Refuses device features the transport cannot honour
 * (indirect descriptors, packed rings, notification data). Returns 0 or
 * -EINVAL. There is nothing to release. */
int lv_virtio_mmio_init(struct lv_virtio_mmio *m, const struct lv_virtio_mmio_params *p,
                        struct lv_err *err);

/* A guest access of (len) bytes at (offset) from the region's base, data
 * little-endian in (data) as KVM_EXIT_MMIO carries it. Registers take
 * 4-byte aligned accesses, config space (offset >= 0x100) 1, 2, 4 or 8
 * bytes, naturally aligned. Returns 0, or -EINVAL (bad width, unknown
 * register, write out of state, bad value) with a message, or the
 * device's error from its ops: the caller stops the VM. */
int lv_virtio_mmio_read(struct lv_virtio_mmio *m, uint64_t offset, void *data, uint32_t len,
                        struct lv_err *err);
int lv_virtio_mmio_write(struct lv_virtio_mmio *m, uint64_t offset, const void *data,
                         uint32_t len, struct lv_err *err);

/* Where the VMM laid out one queue for a preset device. */
struct lv_virtio_mmio_qaddr {
    uint64_t desc, avail, used;
    uint16_t size;
};

/* LightVM's noxs: performs the driver's side of the handshake on the
 * guest's behalf (reset, ACKNOWLEDGE, DRIVER, (features), FEATURES_OK,
 * every queue's size and areas from (qa), QueueReady, DRIVER_OK), through
 * the same checks a guest's register writes get, so the device is live
 * before the guest runs and the guest needs no register access. (nq) must
 * equal the device's queue count. A guest may still reset the device by
 * writing 0 to Status and negotiate itself. On failure the device is left
 * reset. Returns 0 or -EINVAL. */
int lv_virtio_mmio_preset(struct lv_virtio_mmio *m, uint64_t features,
                          const struct lv_virtio_mmio_qaddr *qa, unsigned nq, struct lv_err *err);

/* ---- Saved state of the transport (snapshots) ----
 * lv_virtio_mmio_state_bytes(m) little-endian bytes: version (1), queue
 * count (u8), Status, DeviceFeatures, DriverFeatures (u64 each), the
 * feature selects, QueueSel, InterruptStatus, ConfigGeneration (u32
 * each), then per queue: QueueNum (u16), QueueReady, kick pending (u8
 * each), the descriptor, driver and device area addresses (u64 each) and
 * the queue's lv_vq_save bytes (zeros while it is not ready). The
 * device's identity and limits (p) are configuration, not state.
 * The caller serializes these with the register accesses and the
 * device's queue work (the device's lock, its I/O thread quiesced). */
size_t lv_virtio_mmio_state_bytes(const struct lv_virtio_mmio *m);

/* Writes (m)'s state into (buf) of (cap) bytes, *len = the bytes
 * written; -ENOSPC with *len = the bytes needed when (cap) is too small.
 * (held)[q] (NULL: none) counts chains of queue q the device popped and
 * holds (lv_vq_save); -EBUSY if other chains are in flight. */
int lv_virtio_mmio_save(const struct lv_virtio_mmio *m, const unsigned *held, uint8_t *buf,
                        size_t cap, size_t *len, struct lv_err *err);

/* Checks saved state (buf, len) (hostile: from a file) against (m) (a
 * transport of the same device, made by the same configuration), with
 * guest RAM already holding the saved rings: the length and version, the
 * queue count, Status bits and their order (DRIVER needs ACKNOWLEDGE,
 * FEATURES_OK DRIVER, DRIVER_OK FEATURES_OK), the saved device features
 * a subset of what (m) offers and, once FEATURES_OK is set, the driver's
 * a subset of those with VERSION_1, InterruptStatus bits, each queue's
 * size (0 or a power of two up to its maximum), ready only with a size
 * and FEATURES_OK, a pending kick only on a ready queue before DRIVER_OK,
 * the ring areas inside guest RAM and aligned (lv_vq_init), and its
 * progress (lv_vq_restore). 0, or -EINVAL / -EFAULT with one message
 * naming the field. Changes nothing. */
int lv_virtio_mmio_check_state(const struct lv_virtio_mmio *m, const uint8_t *buf, size_t len,
                               struct lv_err *err);

/* lv_virtio_mmio_check_state, then replaces (m)'s state with the saved
 * one; on failure (m) is unchanged. The device's ops are not called: the
 * device takes its ready queues from m->q[q] (ready, &vq) itself. */
int lv_virtio_mmio_restore(struct lv_virtio_mmio *m, const uint8_t *buf, size_t len,
                           struct lv_err *err);

/* Device side: ORs (bits) (LV_VIRTIO_INT_*) into InterruptStatus. Returns
 * 1 when the caller should raise the interrupt line (DRIVER_OK is set and
 * bits is non-zero), else 0. */
int lv_virtio_mmio_set_interrupt(struct lv_virtio_mmio *m, uint32_t bits);

/* Device side: the config space changed. Bumps ConfigGeneration and
 * returns lv_virtio_mmio_set_interrupt(m, LV_VIRTIO_INT_CONFIG). */
int lv_virtio_mmio_config_changed(struct lv_virtio_mmio *m);

/* Writes the Linux kernel parameter for one device,
 * "virtio_mmio.device=<size>@<base>:<irq>" (size with a K/M/G suffix when
 * it divides evenly, else hex), NUL-terminated, into (buf) of (n) bytes.
 * Returns the length without the NUL, -EINVAL (size 0 or base + size
 * wraps) or -ENOSPC (buf too small). */
int lv_virtio_mmio_cmdline(char *buf, size_t n, uint64_t base, uint64_t size, unsigned irq);

#endif
