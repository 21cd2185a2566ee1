/* mmio.c: the virtio-mmio (version 2) register interface as a pure state
 * machine: no KVM calls; the caller feeds it the guest's MMIO accesses. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lightvm/virtio.h"
#include "blob.h"

#define STATUS_VALID                                                                     \
    (LV_VIRTIO_STATUS_ACKNOWLEDGE | LV_VIRTIO_STATUS_DRIVER | LV_VIRTIO_STATUS_DRIVER_OK | \
     LV_VIRTIO_STATUS_FEATURES_OK | LV_VIRTIO_STATUS_FAILED)
#define INT_VALID (LV_VIRTIO_INT_VRING | LV_VIRTIO_INT_CONFIG)
#define REFUSED_FEATURES                                                                 \
    (LV_VIRTIO_F_INDIRECT_DESC | LV_VIRTIO_F_RING_PACKED | LV_VIRTIO_F_NOTIFICATION_DATA)

static void clear_state(struct lv_virtio_mmio *m)
{
    unsigned i;

    m->driver_features = 0;
    m->device_features_sel = m->driver_features_sel = 0;
    m->queue_sel = 0;
    __atomic_store_n(&m->status, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&m->interrupt_status, 0, __ATOMIC_RELAXED);
    for (i = 0; i < LV_VIRTIO_MMIO_MAX_QUEUES; i++) {
        uint16_t max = m->q[i].num_max;
        memset(&m->q[i], 0, sizeof(m->q[i]));
        m->q[i].num_max = max;
    }
}

int lv_virtio_mmio_init(struct lv_virtio_mmio *m, const struct lv_virtio_mmio_params *p,
                        struct lv_err *err)
{
    unsigned i;

    memset(m, 0, sizeof(*m));
    if (p->device_id == 0)
        return lv_err_set(err, EINVAL, "virtio-mmio device id 0 (reserved: no device)");
    if (p->nqueues == 0 || p->nqueues > LV_VIRTIO_MMIO_MAX_QUEUES)
        return lv_err_set(err, EINVAL, "virtio-mmio queue count %u is not in 1..%u", p->nqueues,
                          LV_VIRTIO_MMIO_MAX_QUEUES);
    if (p->queue_num_max == 0 || p->queue_num_max > LV_VQ_SIZE_MAX ||
        (p->queue_num_max & (p->queue_num_max - 1)))
        return lv_err_set(err, EINVAL, "virtio-mmio queue size %u is not a power of two in 1..%u",
                          p->queue_num_max, LV_VQ_SIZE_MAX);
    if (p->features & REFUSED_FEATURES)
        return lv_err_set(err, EINVAL,
                          "virtio-mmio device features 0x%" PRIx64 " include unsupported 0x%" PRIx64
                          " (indirect descriptors, packed ring, notification data)",
                          p->features, (uint64_t)(p->features & REFUSED_FEATURES));
    if (p->max_chain_len == 0 || !p->mem)
        return lv_err_set(err, EINVAL, "virtio-mmio needs guest RAM and a chain length limit");
    m->p = *p;
    m->device_features = p->features | LV_VIRTIO_F_VERSION_1;
    for (i = 0; i < p->nqueues; i++)
        m->q[i].num_max = p->queue_num_max;
    return 0;
}

/* The selected queue, or NULL (with a message) when it does not exist or
 * may not be set up now: only between FEATURES_OK and DRIVER_OK, and only
 * while it is not ready. */
static struct lv_virtio_mmio_queue *setup_queue(struct lv_virtio_mmio *m, uint64_t off,
                                                struct lv_err *err)
{
    struct lv_virtio_mmio_queue *q;

    if (m->queue_sel >= m->p.nqueues) {
        lv_err_set(err, EINVAL, "virtio-mmio write to 0x%03" PRIx64 " for queue %u: only %u",
                   off, m->queue_sel, m->p.nqueues);
        return NULL;
    }
    if ((m->status & (LV_VIRTIO_STATUS_FEATURES_OK | LV_VIRTIO_STATUS_DRIVER_OK)) !=
        LV_VIRTIO_STATUS_FEATURES_OK) {
        lv_err_set(err, EINVAL,
                   "virtio-mmio queue %u setup (register 0x%03" PRIx64 ") in status 0x%x: "
                   "allowed only after FEATURES_OK and before DRIVER_OK",
                   m->queue_sel, off, m->status);
        return NULL;
    }
    q = &m->q[m->queue_sel];
    if (q->ready) {
        lv_err_set(err, EINVAL,
                   "virtio-mmio queue %u setup (register 0x%03" PRIx64 ") while it is ready",
                   m->queue_sel, off);
        return NULL;
    }
    return q;
}

static void set_half(uint64_t *v, int high, uint32_t x)
{
    if (high)
        *v = (*v & 0xffffffffull) | (uint64_t)x << 32;
    else
        *v = (*v & ~0xffffffffull) | x;
}

static int queue_ready(struct lv_virtio_mmio *m, uint32_t v, struct lv_err *err)
{
    unsigned qi = m->queue_sel;
    struct lv_virtio_mmio_queue *q;
    int rc;

    if (v > 1)
        return lv_err_set(err, EINVAL, "virtio-mmio QueueReady value %u is not 0 or 1", v);
    if (v == 0) { /* the driver may disable a queue in any state */
        if (qi < m->p.nqueues && m->q[qi].ready) {
            m->q[qi].ready = false;
            m->q[qi].kick_pending = false;
            if (m->p.ops && m->p.ops->queue_ready)
                m->p.ops->queue_ready(m->p.dev, qi, NULL);
        }
        return 0;
    }
    q = setup_queue(m, LV_VIRTIO_MMIO_QUEUE_READY, err);
    if (!q)
        return -EINVAL;
    rc = lv_vq_init(&q->vq, m->p.mem, q->num, q->desc, q->driver, q->device,
                    (m->driver_features & LV_VIRTIO_F_EVENT_IDX) != 0, m->p.max_chain_len, err);
    if (rc)
        return rc;
    if (m->p.ops && m->p.ops->queue_ready) {
        rc = m->p.ops->queue_ready(m->p.dev, qi, &q->vq);
        if (rc)
            return rc;
    }
    q->ready = true;
    return 0;
}

static void reset(struct lv_virtio_mmio *m)
{
    if (m->p.ops && m->p.ops->reset)
        m->p.ops->reset(m->p.dev);
    clear_state(m);
}

static int write_status(struct lv_virtio_mmio *m, uint32_t v, struct lv_err *err)
{
    uint32_t old = m->status, added = v & ~old;
    uint64_t extra;
    unsigned i;

    if (v == 0) {
        reset(m);
        return 0;
    }
    if (v & ~STATUS_VALID)
        return lv_err_set(err, EINVAL, "virtio-mmio status 0x%x has bits 0x%x a driver may not set",
                          v, v & ~STATUS_VALID);
    if (old & ~v)
        return lv_err_set(err, EINVAL,
                          "virtio-mmio status 0x%x clears bits 0x%x of 0x%x (only 0 resets)", v,
                          old & ~v, old);
    if ((v & LV_VIRTIO_STATUS_DRIVER) && !(v & LV_VIRTIO_STATUS_ACKNOWLEDGE))
        return lv_err_set(err, EINVAL, "virtio-mmio status 0x%x: DRIVER without ACKNOWLEDGE", v);
    if ((v & LV_VIRTIO_STATUS_FEATURES_OK) && !(v & LV_VIRTIO_STATUS_DRIVER))
        return lv_err_set(err, EINVAL, "virtio-mmio status 0x%x: FEATURES_OK without DRIVER", v);
    if (added & LV_VIRTIO_STATUS_FEATURES_OK) {
        extra = m->driver_features & ~m->device_features;
        /* Not accepted: per spec FEATURES_OK stays clear and the driver,
         * reading Status back, gives up. Not a VMM error. */
        if (extra || !(m->driver_features & LV_VIRTIO_F_VERSION_1)) {
            v &= ~LV_VIRTIO_STATUS_FEATURES_OK;
            added &= ~LV_VIRTIO_STATUS_FEATURES_OK;
        }
    }
    if ((v & LV_VIRTIO_STATUS_DRIVER_OK) && !(v & LV_VIRTIO_STATUS_FEATURES_OK))
        return lv_err_set(err, EINVAL,
                          "virtio-mmio status 0x%x: DRIVER_OK without accepted FEATURES_OK "
                          "(driver features 0x%" PRIx64 ", device 0x%" PRIx64 ")",
                          v, m->driver_features, m->device_features);
    __atomic_store_n(&m->status, v, __ATOMIC_RELAXED); /* read by set_interrupt */
    if (added & LV_VIRTIO_STATUS_DRIVER_OK) {
        for (i = 0; i < m->p.nqueues; i++) {
            if (m->q[i].kick_pending && m->q[i].ready && m->p.ops && m->p.ops->notify)
                m->p.ops->notify(m->p.dev, i);
            m->q[i].kick_pending = false;
        }
    }
    return 0;
}

static int write_reg(struct lv_virtio_mmio *m, uint64_t off, uint32_t v, struct lv_err *err)
{
    struct lv_virtio_mmio_queue *q;

    switch (off) {
    case LV_VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        m->device_features_sel = v;
        return 0;
    case LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        m->driver_features_sel = v;
        return 0;
    case LV_VIRTIO_MMIO_DRIVER_FEATURES:
        if ((m->status & (LV_VIRTIO_STATUS_DRIVER | LV_VIRTIO_STATUS_FEATURES_OK)) !=
            LV_VIRTIO_STATUS_DRIVER)
            return lv_err_set(err, EINVAL,
                              "virtio-mmio DriverFeatures write 0x%x in status 0x%x: allowed "
                              "only after DRIVER and before FEATURES_OK",
                              v, m->status);
        if (m->driver_features_sel < 2)
            set_half(&m->driver_features, m->driver_features_sel == 1, v);
        else if (v)
            return lv_err_set(err, EINVAL,
                              "virtio-mmio DriverFeatures word %u = 0x%x: the device offers "
                              "only 64 feature bits",
                              m->driver_features_sel, v);
        return 0;
    case LV_VIRTIO_MMIO_QUEUE_SEL:
        m->queue_sel = v;
        return 0;
    case LV_VIRTIO_MMIO_QUEUE_NUM:
        q = setup_queue(m, off, err);
        if (!q)
            return -EINVAL;
        if (v == 0 || v > q->num_max || (v & (v - 1)))
            return lv_err_set(err, EINVAL,
                              "virtio-mmio QueueNum %u for queue %u is not a power of two in "
                              "1..%u",
                              v, m->queue_sel, q->num_max);
        q->num = (uint16_t)v;
        return 0;
    case LV_VIRTIO_MMIO_QUEUE_READY:
        return queue_ready(m, v, err);
    case LV_VIRTIO_MMIO_QUEUE_NOTIFY:
        if (v >= m->p.nqueues || !m->q[v].ready)
            return lv_err_set(err, EINVAL, "virtio-mmio QueueNotify for queue %u, which is %s", v,
                              v >= m->p.nqueues ? "not a queue" : "not ready");
        if (!(m->status & LV_VIRTIO_STATUS_DRIVER_OK))
            m->q[v].kick_pending = true;
        else if (m->p.ops && m->p.ops->notify)
            m->p.ops->notify(m->p.dev, v);
        return 0;
    case LV_VIRTIO_MMIO_INTERRUPT_ACK:
        if (v & ~INT_VALID)
            return lv_err_set(err, EINVAL, "virtio-mmio InterruptACK 0x%x has unknown bits", v);
        __atomic_fetch_and(&m->interrupt_status, ~v, __ATOMIC_ACQ_REL);
        return 0;
    case LV_VIRTIO_MMIO_STATUS:
        return write_status(m, v, err);
    case LV_VIRTIO_MMIO_QUEUE_DESC_LOW:
    case LV_VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case LV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case LV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        q = setup_queue(m, off, err);
        if (!q)
            return -EINVAL;
        set_half(off < LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW   ? &q->desc
                 : off < LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW ? &q->driver
                                                         : &q->device,
                 (off & 4) != 0, v);
        return 0;
    case LV_VIRTIO_MMIO_SHM_SEL: /* no shared memory regions: reads say so */
        return 0;
    }
    return lv_err_set(err, EINVAL, "virtio-mmio write 0x%x to register 0x%03" PRIx64
                      ", which is read-only, legacy or unknown", v, off);
}

static int read_reg(struct lv_virtio_mmio *m, uint64_t off, uint32_t *v, struct lv_err *err)
{
    unsigned qi = m->queue_sel;

    switch (off) {
    case LV_VIRTIO_MMIO_MAGIC_VALUE:
        *v = LV_VIRTIO_MMIO_MAGIC;
        return 0;
    case LV_VIRTIO_MMIO_VERSION_REG:
        *v = LV_VIRTIO_MMIO_VERSION;
        return 0;
    case LV_VIRTIO_MMIO_DEVICE_ID:
        *v = m->p.device_id;
        return 0;
    case LV_VIRTIO_MMIO_VENDOR_ID:
        *v = m->p.vendor_id;
        return 0;
    case LV_VIRTIO_MMIO_DEVICE_FEATURES:
        *v = m->device_features_sel > 1
                 ? 0
                 : (uint32_t)(m->device_features >> (32 * m->device_features_sel));
        return 0;
    case LV_VIRTIO_MMIO_QUEUE_NUM_MAX:
        *v = qi < m->p.nqueues ? m->q[qi].num_max : 0;
        return 0;
    case LV_VIRTIO_MMIO_QUEUE_READY:
        *v = qi < m->p.nqueues ? m->q[qi].ready : 0;
        return 0;
    case LV_VIRTIO_MMIO_INTERRUPT_STATUS:
        *v = __atomic_load_n(&m->interrupt_status, __ATOMIC_ACQUIRE);
        return 0;
    case LV_VIRTIO_MMIO_STATUS:
        *v = m->status;
        return 0;
    case LV_VIRTIO_MMIO_SHM_LEN_LOW:
    case LV_VIRTIO_MMIO_SHM_LEN_HIGH:
    case LV_VIRTIO_MMIO_SHM_BASE_LOW:
    case LV_VIRTIO_MMIO_SHM_BASE_HIGH:
        *v = 0xffffffffu; /* all ones: no such region */
        return 0;
    case LV_VIRTIO_MMIO_CONFIG_GENERATION:
        *v = __atomic_load_n(&m->config_generation, __ATOMIC_ACQUIRE);
        return 0;
    }
    return lv_err_set(err, EINVAL,
                      "virtio-mmio read of register 0x%03" PRIx64
                      ", which is write-only, legacy or unknown",
                      off);
}

/* Checks the width, alignment and range of a config space access. */
static int config_check(const struct lv_virtio_mmio *m, uint64_t offset, uint32_t len,
                        const char *what, struct lv_err *err)
{
    uint64_t off = offset - LV_VIRTIO_MMIO_CONFIG;

    if ((len != 1 && len != 2 && len != 4 && len != 8) || off % len)
        return lv_err_set(err, EINVAL,
                          "virtio-mmio config %s at 0x%" PRIx64 " of %u bytes: width must be "
                          "1, 2, 4 or 8 and aligned",
                          what, offset, len);
    if (off >= m->p.config_len || len > m->p.config_len - off)
        return lv_err_set(err, EINVAL,
                          "virtio-mmio config %s at 0x%" PRIx64 "+%u is outside the %u-byte "
                          "config space",
                          what, offset, len, m->p.config_len);
    return 0;
}

static int reg_check(uint64_t offset, uint32_t len, const char *what, struct lv_err *err)
{
    if (len != 4 || offset % 4)
        return lv_err_set(err, EINVAL,
                          "virtio-mmio register %s at 0x%" PRIx64 " of %u bytes: must be 4 "
                          "bytes, aligned",
                          what, offset, len);
    return 0;
}

int lv_virtio_mmio_read(struct lv_virtio_mmio *m, uint64_t offset, void *data, uint32_t len,
                        struct lv_err *err)
{
    uint32_t v = 0;
    int rc;

    if (offset >= LV_VIRTIO_MMIO_CONFIG) {
        rc = config_check(m, offset, len, "read", err);
        if (rc)
            return rc;
        if (!m->p.ops || !m->p.ops->config_read)
            return lv_err_set(err, EINVAL, "virtio-mmio device has no readable config space");
        return m->p.ops->config_read(m->p.dev, (uint32_t)(offset - LV_VIRTIO_MMIO_CONFIG), data,
                                     len);
    }
    rc = reg_check(offset, len, "read", err);
    if (rc == 0)
        rc = read_reg(m, offset, &v, err);
    if (rc == 0)
        memcpy(data, &v, 4); /* x86 host: little-endian like the register */
    return rc;
}

int lv_virtio_mmio_write(struct lv_virtio_mmio *m, uint64_t offset, const void *data,
                         uint32_t len, struct lv_err *err)
{
    uint32_t v;
    int rc;

    if (offset >= LV_VIRTIO_MMIO_CONFIG) {
        rc = config_check(m, offset, len, "write", err);
        if (rc)
            return rc;
        if (!m->p.ops || !m->p.ops->config_write)
            return lv_err_set(err, EINVAL, "virtio-mmio device config space is read-only");
        return m->p.ops->config_write(m->p.dev, (uint32_t)(offset - LV_VIRTIO_MMIO_CONFIG), data,
                                      len);
    }
    rc = reg_check(offset, len, "write", err);
    if (rc)
        return rc;
    memcpy(&v, data, 4);
    return write_reg(m, offset, v, err);
}

int lv_virtio_mmio_preset(struct lv_virtio_mmio *m, uint64_t features,
                          const struct lv_virtio_mmio_qaddr *qa, unsigned nq, struct lv_err *err)
{
    const uint32_t st = LV_VIRTIO_STATUS_ACKNOWLEDGE | LV_VIRTIO_STATUS_DRIVER;
    unsigned i;
    int rc;

    if (nq != m->p.nqueues)
        return lv_err_set(err, EINVAL, "virtio-mmio preset of %u queues for a device with %u",
                          nq, m->p.nqueues);
    reset(m);
    /* The driver's handshake, through the same checks a guest gets. */
    rc = write_reg(m, LV_VIRTIO_MMIO_STATUS, st, err);
    for (i = 0; !rc && i < 2; i++) {
        rc = write_reg(m, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, i, err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> (32 * i)),
                          err);
    }
    if (!rc)
        rc = write_reg(m, LV_VIRTIO_MMIO_STATUS, st | LV_VIRTIO_STATUS_FEATURES_OK, err);
    if (!rc && !(m->status & LV_VIRTIO_STATUS_FEATURES_OK))
        rc = lv_err_set(err, EINVAL,
                        "virtio-mmio preset features 0x%" PRIx64 " not accepted (device offers "
                        "0x%" PRIx64 ", VERSION_1 required)",
                        features, m->device_features);
    for (i = 0; !rc && i < nq; i++) {
        rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_SEL, i, err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_NUM, qa[i].size, err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)qa[i].desc, err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(qa[i].desc >> 32), err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)qa[i].avail, err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(qa[i].avail >> 32), err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)qa[i].used, err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(qa[i].used >> 32), err);
        if (!rc)
            rc = write_reg(m, LV_VIRTIO_MMIO_QUEUE_READY, 1, err);
    }
    if (!rc)
        rc = write_reg(m, LV_VIRTIO_MMIO_STATUS,
                      st | LV_VIRTIO_STATUS_FEATURES_OK | LV_VIRTIO_STATUS_DRIVER_OK, err);
    m->queue_sel = 0;
    m->driver_features_sel = 0;
    if (rc)
        reset(m);
    return rc;
}

int lv_virtio_mmio_set_interrupt(struct lv_virtio_mmio *m, uint32_t bits)
{
    bits &= INT_VALID;
    if (!bits)
        return 0;
    __atomic_fetch_or(&m->interrupt_status, bits, __ATOMIC_ACQ_REL);
    return (__atomic_load_n(&m->status, __ATOMIC_RELAXED) & LV_VIRTIO_STATUS_DRIVER_OK) != 0;
}

int lv_virtio_mmio_config_changed(struct lv_virtio_mmio *m)
{
    __atomic_fetch_add(&m->config_generation, 1, __ATOMIC_ACQ_REL);
    return lv_virtio_mmio_set_interrupt(m, LV_VIRTIO_INT_CONFIG);
}

int lv_virtio_mmio_cmdline(char *buf, size_t n, uint64_t base, uint64_t size, unsigned irq)
{
    static const struct {
        uint64_t unit;
        char suffix;
    } units[] = {{1ull << 30, 'G'}, {1ull << 20, 'M'}, {1ull << 10, 'K'}};
    char sz[32];
    uint64_t end;
    unsigned i;
    int len;

    if (size == 0 || __builtin_add_overflow(base, size, &end))
        return -EINVAL;
    snprintf(sz, sizeof(sz), "0x%" PRIx64, size);
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (size % units[i].unit == 0) {
            snprintf(sz, sizeof(sz), "%" PRIu64 "%c", size / units[i].unit, units[i].suffix);
            break;
        }
    }
    len = snprintf(buf, n, "virtio_mmio.device=%s@0x%" PRIx64 ":%u", sz, base, irq);
    if (len < 0 || (size_t)len >= n)
        return -ENOSPC;
    return len;
}

/* ---- saved state ---- */

#define MMIO_STATE_VERSION 1u
#define STATE_HEAD 42u               /* version .. ConfigGeneration */
#define STATE_QUEUE (28u + LV_VQ_STATE_BYTES) /* one queue */

/* Prefixes (err)'s message with "(what) (i): " and returns (rc). */
static int prefixed(struct lv_err *err, int rc, const char *what, unsigned i)
{
    char why[LV_ERR_MAX];

    snprintf(why, sizeof(why), "%s", err ? err->msg : "");
    return lv_err_set(err, -rc, "%s %u: %.200s", what, i, why);
}

size_t lv_virtio_mmio_state_bytes(const struct lv_virtio_mmio *m)
{
    return STATE_HEAD + (size_t)m->p.nqueues * STATE_QUEUE;
}

static int save_queue(const struct lv_virtio_mmio_queue *q, unsigned held, struct lv_blob_w *w,
                      struct lv_err *err)
{
    int rc = 0;

    lv_blob_put(w, q->num, 2);
    lv_blob_put(w, q->ready, 1);
    lv_blob_put(w, q->kick_pending, 1);
    lv_blob_put(w, q->desc, 8);
    lv_blob_put(w, q->driver, 8);
    lv_blob_put(w, q->device, 8);
    if (q->ready)
        rc = lv_vq_save(&q->vq, held, w->p + w->n, err);
    else if (held)
        rc = lv_err_set(err, EINVAL, "%u chains held on a queue that is not ready", held);
    else
        memset(w->p + w->n, 0, LV_VQ_STATE_BYTES);
    w->n += LV_VQ_STATE_BYTES;
    return rc;
}

int lv_virtio_mmio_save(const struct lv_virtio_mmio *m, const unsigned *held, uint8_t *buf,
                        size_t cap, size_t *len, struct lv_err *err)
{
    struct lv_blob_w w = {buf, 0};
    size_t need = lv_virtio_mmio_state_bytes(m);
    int rc;

    *len = need;
    if (cap < need)
        return lv_err_set(err, ENOSPC, "virtio-mmio state needs %zu bytes, %zu given", need, cap);
    lv_blob_put(&w, MMIO_STATE_VERSION, 1);
    lv_blob_put(&w, m->p.nqueues, 1);
    lv_blob_put(&w, __atomic_load_n(&m->status, __ATOMIC_RELAXED), 4);
    lv_blob_put(&w, m->device_features, 8);
    lv_blob_put(&w, m->driver_features, 8);
    lv_blob_put(&w, m->device_features_sel, 4);
    lv_blob_put(&w, m->driver_features_sel, 4);
    lv_blob_put(&w, m->queue_sel, 4);
    lv_blob_put(&w, __atomic_load_n(&m->interrupt_status, __ATOMIC_ACQUIRE), 4);
    lv_blob_put(&w, __atomic_load_n(&m->config_generation, __ATOMIC_ACQUIRE), 4);
    for (unsigned i = 0; i < m->p.nqueues; i++) {
        rc = save_queue(&m->q[i], held ? held[i] : 0, &w, err);
        if (rc)
            return prefixed(err, rc, "virtio-mmio save: queue", i);
    }
    return 0;
}

/* Status as saved: only bits a driver may set, in the handshake's order. */
static int check_status(uint32_t st, struct lv_err *err)
{
    if (st & ~STATUS_VALID)
        return lv_err_set(err, EINVAL, "virtio-mmio state: Status 0x%x has unknown bits 0x%x", st,
                          st & ~STATUS_VALID);
    if (((st & LV_VIRTIO_STATUS_DRIVER) && !(st & LV_VIRTIO_STATUS_ACKNOWLEDGE)) ||
        ((st & LV_VIRTIO_STATUS_FEATURES_OK) && !(st & LV_VIRTIO_STATUS_DRIVER)) ||
        ((st & LV_VIRTIO_STATUS_DRIVER_OK) && !(st & LV_VIRTIO_STATUS_FEATURES_OK)))
        return lv_err_set(err, EINVAL,
                          "virtio-mmio state: Status 0x%x skips a step of the handshake", st);
    return 0;
}

static int check_features(const struct lv_virtio_mmio *m, uint32_t st, uint64_t dev,
                          uint64_t drv, struct lv_err *err)
{
    if (dev & ~m->device_features)
        return lv_err_set(err, EINVAL,
                          "virtio-mmio state: DeviceFeatures 0x%" PRIx64 " has bits 0x%" PRIx64
                          " this device does not offer",
                          dev, dev & ~m->device_features);
    if (!(st & LV_VIRTIO_STATUS_FEATURES_OK))
        return 0; /* a driver may write any bits before FEATURES_OK */
    if ((drv & ~dev) || !(drv & LV_VIRTIO_F_VERSION_1))
        return lv_err_set(err, EINVAL,
                          "virtio-mmio state: DriverFeatures 0x%" PRIx64 " accepted but not a "
                          "subset of DeviceFeatures 0x%" PRIx64 " with VERSION_1",
                          drv, dev);
    return 0;
}

/* Queue (i) from (r) into (q) of the staged transport (n). */
static int stage_queue(struct lv_virtio_mmio *n, unsigned i, struct lv_blob_r *r,
                       struct lv_err *err)
{
    struct lv_virtio_mmio_queue *q = &n->q[i];
    uint16_t num;
    unsigned ready, kick;
    const uint8_t *vs;
    int rc;

    num = (uint16_t)lv_blob_get(r, 2);
    ready = (unsigned)lv_blob_get(r, 1);
    kick = (unsigned)lv_blob_get(r, 1);
    q->desc = lv_blob_get(r, 8);
    q->driver = lv_blob_get(r, 8);
    q->device = lv_blob_get(r, 8);
    vs = r->p + r->n; /* the queue's progress: lv_vq_restore */
    r->n += LV_VQ_STATE_BYTES;
    if (num > q->num_max || (num & (num - 1)))
        return lv_err_set(err, EINVAL, "QueueNum %u is not 0 or a power of two up to %u", num,
                          q->num_max);
    if (ready > 1 || kick > 1)
        return lv_err_set(err, EINVAL, "QueueReady %u, kick pending %u: not 0 or 1", ready,
                          kick);
    if (ready && (!num || !(n->status & LV_VIRTIO_STATUS_FEATURES_OK)))
        return lv_err_set(err, EINVAL, "ready with QueueNum %u in Status 0x%x", num, n->status);
    if (kick && (!ready || (n->status & LV_VIRTIO_STATUS_DRIVER_OK)))
        return lv_err_set(err, EINVAL, "a kick pending while %s",
                          ready ? "DRIVER_OK is set" : "the queue is not ready");
    q->num = num;
    q->ready = ready;
    q->kick_pending = kick;
    memset(&q->vq, 0, sizeof(q->vq));
    if (!ready) {
        for (unsigned k = 0; k < LV_VQ_STATE_BYTES; k++)
            if (vs[k])
                return lv_err_set(err, EINVAL, "progress saved for a queue that is not ready");
        return 0;
    }
    rc = lv_vq_init(&q->vq, n->p.mem, num, q->desc, q->driver, q->device,
                    (n->driver_features & LV_VIRTIO_F_EVENT_IDX) != 0, n->p.max_chain_len, err);
    return rc ? rc : lv_vq_restore(&q->vq, vs, err);
}

/* The saved state (buf, len) applied to (n), a copy of the transport. */
static int stage(struct lv_virtio_mmio *n, const uint8_t *buf, size_t len, struct lv_err *err)
{
    struct lv_blob_r r = {buf, 0};
    size_t need = lv_virtio_mmio_state_bytes(n);
    unsigned version, nq;
    uint64_t dev;
    int rc;

    if (len != need)
        return lv_err_set(err, EINVAL, "virtio-mmio state is %zu bytes, %zu expected", len, need);
    version = (unsigned)lv_blob_get(&r, 1);
    nq = (unsigned)lv_blob_get(&r, 1);
    if (version != MMIO_STATE_VERSION)
        return lv_err_set(err, EINVAL, "virtio-mmio state version %u (this lightvm reads %u)",
                          version, MMIO_STATE_VERSION);
    if (nq != n->p.nqueues)
        return lv_err_set(err, EINVAL, "virtio-mmio state of %u queues for a device with %u", nq,
                          n->p.nqueues);
    n->status = (uint32_t)lv_blob_get(&r, 4);
    dev = lv_blob_get(&r, 8);
    n->driver_features = lv_blob_get(&r, 8);
    n->device_features_sel = (uint32_t)lv_blob_get(&r, 4);
    n->driver_features_sel = (uint32_t)lv_blob_get(&r, 4);
    n->queue_sel = (uint32_t)lv_blob_get(&r, 4);
    n->interrupt_status = (uint32_t)lv_blob_get(&r, 4);
    n->config_generation = (uint32_t)lv_blob_get(&r, 4);
    rc = check_status(n->status, err);
    if (!rc)
        rc = check_features(n, n->status, dev, n->driver_features, err);
    if (!rc && (n->interrupt_status & ~INT_VALID))
        rc = lv_err_set(err, EINVAL, "virtio-mmio state: InterruptStatus 0x%x has unknown bits",
                        n->interrupt_status);
    for (unsigned i = 0; !rc && i < nq; i++) {
        rc = stage_queue(n, i, &r, err);
        if (rc)
            rc = prefixed(err, rc, "virtio-mmio state: queue", i);
    }
    return rc;
}

int lv_virtio_mmio_check_state(const struct lv_virtio_mmio *m, const uint8_t *buf, size_t len,
                               struct lv_err *err)
{
    struct lv_virtio_mmio n = *m;

    return stage(&n, buf, len, err);
}

int lv_virtio_mmio_restore(struct lv_virtio_mmio *m, const uint8_t *buf, size_t len,
                           struct lv_err *err)
{
    struct lv_virtio_mmio n = *m;
    int rc = stage(&n, buf, len, err);

    if (rc)
        return rc;
    *m = n;
    return 0;
}
