/*
 * net.c: the guest's virtio-net driver (split virtqueues, virtio 1.x),
 * set up from the boot info device table instead of the register
 * handshake (LightVM's noxs): the VMM has laid out the queues, negotiated
 * the features and made the device ready, so opening a NIC is writing
 * descriptors into rings that are already in place.
 *
 * Cost model (PVM, shared PLATFORM.md): an MMIO kick served by an
 * ioeventfd is ~30 us, an interrupt plus its EOI (an MSR write) ~100 us,
 * the first touch of a page ~35 us. So kicks follow the device's
 * avail_event, interrupts are requested (used_event) only by
 * lvrt_net_wait, and the buffers are used lowest first so an idle NIC
 * touches few pages.
 *
 * The host is trusted for memory safety (it owns the guest), but its
 * ring entries are still range-checked: a bad one is counted and skipped.
 */
#include "rt.h"

/* virtio 1.x feature bits and descriptor flags (the spec's numbers) */
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)
#define VRING_DESC_F_WRITE 2u

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vring_used_elem {
    uint32_t id, len;
};

struct vq {
    volatile struct vring_desc *desc;
    volatile uint16_t *avail;        /* flags, idx, ring[size], used_event */
    volatile uint16_t *used_idx;     /* used ring: flags, idx, ... */
    volatile struct vring_used_elem *used; /* used ring entries */
    volatile uint16_t *used_event;   /* &avail ring[size]: interrupt threshold */
    volatile uint16_t *avail_event;  /* after the used entries: kick threshold */
    uint16_t size, avail_idx, used_seen;
};

struct nic {
    int open;
    int event_idx;
    volatile uint32_t *notify;
    uint32_t notify_data[2];
    struct vq rx, tx;
    uint8_t *rxbuf, *txbuf;
    uint16_t tx_free[LVRT_NET_TX_BUFS];
    unsigned ntx_free;
    int rx_held;                     /* a peeked frame awaits rx_done */
    struct lvrt_net_stats st;
};

static struct nic nics[LV_BOOTINFO_MAX_DEVICES];

static inline void mb(void)
{
    /* Orders our ring index store before the load of the other side's
     * event index (the one reordering x86 allows). */
    __asm__ volatile("mfence" ::: "memory");
}

static const struct lv_device *dev_entry(unsigned i)
{
    const struct lv_bootinfo *bi = rt_bi;

    if (i >= bi->ndevices || i >= LV_BOOTINFO_MAX_DEVICES ||
        bi->device_size < sizeof(struct lv_device) || !bi->devices_gpa)
        return NULL;
    return (const struct lv_device *)(uintptr_t)(bi->devices_gpa + (uint64_t)i * bi->device_size);
}

int lvrt_net_find(unsigned n)
{
    const struct lv_device *d;

    for (unsigned i = 0; (d = dev_entry(i)) != NULL; i++)
        if (d->type == LV_DEV_NET && n-- == 0)
            return (int)i;
    return -1;
}

/* The area [gpa, gpa + len) lies in the VMM's device memory. */
static int in_dev_mem(uint64_t gpa, uint64_t len)
{
    const struct lv_bootinfo *bi = rt_bi;

    return gpa >= bi->dev_mem_gpa && gpa <= bi->mem_size && len <= bi->mem_size - gpa;
}

static int vq_init(struct vq *q, const struct lv_dev_queue *dq, unsigned nbufs)
{
    uint16_t n = dq->size;

    if (!n || (n & (n - 1)) || n < nbufs || (dq->desc_gpa & 15) || (dq->avail_gpa & 1) ||
        (dq->used_gpa & 3) || !in_dev_mem(dq->desc_gpa, 16ull * n) ||
        !in_dev_mem(dq->avail_gpa, 6ull + 2ull * n) || !in_dev_mem(dq->used_gpa, 6ull + 8ull * n))
        return -1;
    q->desc = (volatile struct vring_desc *)(uintptr_t)dq->desc_gpa;
    q->avail = (volatile uint16_t *)(uintptr_t)dq->avail_gpa;
    q->used_idx = (volatile uint16_t *)(uintptr_t)dq->used_gpa + 1;
    q->used = (volatile struct vring_used_elem *)(uintptr_t)(dq->used_gpa + 4);
    q->used_event = q->avail + 2 + n;
    q->avail_event = (volatile uint16_t *)(uintptr_t)(dq->used_gpa + 4 + 8ull * n);
    q->size = n;
    q->avail_idx = q->avail[1];
    q->used_seen = *q->used_idx;
    return 0;
}

/* Makes the entries added since (old) visible and kicks if the device
 * wants a kick for them. */
static void vq_publish(struct nic *c, struct vq *q, unsigned qi, uint16_t old)
{
    rt_barrier(); /* descriptors and ring entries before the index (x86: stores stay ordered) */
    q->avail[1] = q->avail_idx;
    mb();
    uint16_t ev = *q->avail_event, nw = q->avail_idx;
    if (!c->event_idx || (uint16_t)(nw - ev - 1) < (uint16_t)(nw - old)) {
        *c->notify = c->notify_data[qi];
        c->st.kicks++;
    }
}

int lvrt_net_open(unsigned i, struct lv_dev_net *info)
{
    const struct lv_device *d = dev_entry(i);
    struct nic *c;

    if (!d || d->type != LV_DEV_NET) {
        lvrt_printf("lightvm: net: device %u is not a NIC\n", i);
        return -1;
    }
    c = &nics[i];
    if (c->open) {
        lvrt_printf("lightvm: net: NIC %u is already open\n", i);
        return -1;
    }
    if (d->nqueues < 2 || !(d->features & VIRTIO_F_VERSION_1) ||
        d->vector != LV_VEC_DEV_BASE + i || d->notify_gpa < LV_GPA_MMIO_BASE ||
        d->notify_gpa > LV_GPA_MMIO_BASE + LV_MMIO_WINDOW - 4 || (d->notify_gpa & 3) ||
        vq_init(&c->rx, &d->q[0], LVRT_NET_RX_BUFS) < 0 ||
        vq_init(&c->tx, &d->q[1], LVRT_NET_TX_BUFS) < 0) {
        lvrt_printf("lightvm: net: NIC %u: unusable device table entry (queues, vector %u, "
                    "features 0x%lx)\n", i, d->vector, d->features);
        return -1;
    }
    c->rxbuf = lvrt_malloc(LVRT_NET_RX_BUFS * LVRT_NET_BUF);
    c->txbuf = lvrt_malloc(LVRT_NET_TX_BUFS * LVRT_NET_BUF);
    if (!c->rxbuf || !c->txbuf) {
        lvrt_free(c->rxbuf);
        lvrt_free(c->txbuf);
        lvrt_printf("lightvm: net: NIC %u: out of memory for buffers\n", i);
        return -1;
    }
    memcpy(info, d->data, sizeof(*info));
    c->event_idx = (d->features & VIRTIO_F_EVENT_IDX) != 0;
    c->notify = (volatile uint32_t *)(uintptr_t)d->notify_gpa;
    c->notify_data[0] = d->q[0].notify_data;
    c->notify_data[1] = d->q[1].notify_data;
    /* Transmit completions are reclaimed when buffers are needed: no
     * interrupt for them (the threshold is half the index space away
     * and is moved along with every reclaim). */
    *c->tx.used_event = (uint16_t)(c->tx.used_seen + 0x8000u);
    for (unsigned k = 0; k < LVRT_NET_TX_BUFS; k++)
        c->tx_free[k] = (uint16_t)(LVRT_NET_TX_BUFS - 1 - k); /* buffer 0 first */
    c->ntx_free = LVRT_NET_TX_BUFS;
    rt_apic_init(); /* the device interrupt needs a software-enabled APIC */
    c->open = 1;

    uint16_t old = c->rx.avail_idx;
    *c->rx.used_event = c->rx.used_seen;
    for (unsigned k = 0; k < LVRT_NET_RX_BUFS; k++) {
        volatile struct vring_desc *ds = &c->rx.desc[k];
        ds->addr = (uint64_t)(uintptr_t)(c->rxbuf + k * LVRT_NET_BUF);
        ds->len = LVRT_NET_BUF;
        ds->flags = VRING_DESC_F_WRITE;
        ds->next = 0;
        c->rx.avail[2 + (c->rx.avail_idx & (c->rx.size - 1))] = (uint16_t)k;
        c->rx.avail_idx++;
    }
    vq_publish(c, &c->rx, 0, old);
    return 0;
}

static struct nic *nic_get(unsigned i)
{
    if (i >= LV_BOOTINFO_MAX_DEVICES || !nics[i].open)
        lvrt_panic("net: NIC %u is not open", i);
    return &nics[i];
}

int lvrt_net_rx_peek(unsigned i, const void **frame, size_t *len)
{
    struct nic *c = nic_get(i);
    struct vq *q = &c->rx;

    while (q->used_seen != *q->used_idx) {
        rt_barrier(); /* the index before the entry it covers */
        struct vring_used_elem e = q->used[q->used_seen & (q->size - 1)];
        if (e.id < LVRT_NET_RX_BUFS && e.len >= LV_NET_HDR_LEN && e.len <= LVRT_NET_BUF) {
            *frame = c->rxbuf + e.id * LVRT_NET_BUF + LV_NET_HDR_LEN;
            *len = e.len - LV_NET_HDR_LEN;
            c->rx_held = 1;
            return 1;
        }
        c->st.bad_entries++; /* skip it; a bad id cannot be re-posted */
        q->used_seen++;
    }
    return 0;
}

void lvrt_net_rx_done(unsigned i)
{
    struct nic *c = nic_get(i);
    struct vq *q = &c->rx;

    if (!c->rx_held)
        return;
    uint16_t id = (uint16_t)q->used[q->used_seen & (q->size - 1)].id;
    uint16_t old = q->avail_idx;
    c->rx_held = 0;
    q->used_seen++;
    c->st.rx_frames++;
    q->avail[2 + (q->avail_idx & (q->size - 1))] = id; /* same buffer, same descriptor */
    q->avail_idx++;
    vq_publish(c, q, 0, old);
}

static void tx_reclaim(struct nic *c)
{
    struct vq *q = &c->tx;

    while (q->used_seen != *q->used_idx) {
        rt_barrier();
        uint32_t id = q->used[q->used_seen & (q->size - 1)].id;
        q->used_seen++;
        if (id < LVRT_NET_TX_BUFS && c->ntx_free < LVRT_NET_TX_BUFS)
            c->tx_free[c->ntx_free++] = (uint16_t)id;
        else
            c->st.bad_entries++;
    }
    *q->used_event = (uint16_t)(q->used_seen + 0x8000u);
}

void *lvrt_net_tx_alloc(unsigned i, uint64_t timeout_ns)
{
    struct nic *c = nic_get(i);
    uint64_t deadline = 0;

    tx_reclaim(c);
    while (!c->ntx_free) {
        uint64_t now = lvrt_now_ns();
        if (!deadline)
            deadline = now + timeout_ns < now ? UINT64_MAX : now + timeout_ns;
        if (now >= deadline)
            return NULL;
        /* All in flight: ask for an interrupt at the next completion. */
        int was = lvrt_irq_disable();
        *c->tx.used_event = c->tx.used_seen;
        mb();
        if (c->tx.used_seen == *c->tx.used_idx) {
            rt_timer_arm_by_tsc(rt_ns_to_deadline_tsc(deadline));
            rt_halt_until_interrupt();
            lvrt_irq_disable();
        }
        lvrt_irq_restore(was);
        tx_reclaim(c);
    }
    uint16_t id = c->tx_free[c->ntx_free - 1];
    return c->txbuf + id * LVRT_NET_BUF + LV_NET_HDR_LEN;
}

void lvrt_net_tx_send(unsigned i, void *buf, size_t len)
{
    struct nic *c = nic_get(i);
    struct vq *q = &c->tx;
    uint8_t *b = (uint8_t *)buf - LV_NET_HDR_LEN;
    uint16_t id, old = q->avail_idx;

    if (!c->ntx_free || len > LVRT_NET_FRAME_MAX ||
        b != c->txbuf + c->tx_free[c->ntx_free - 1] * LVRT_NET_BUF)
        lvrt_panic("net: lvrt_net_tx_send without a matching lvrt_net_tx_alloc");
    id = c->tx_free[--c->ntx_free];
    memset(b, 0, LV_NET_HDR_LEN); /* no offloads */
    q->desc[id].addr = (uint64_t)(uintptr_t)b;
    q->desc[id].len = (uint32_t)(LV_NET_HDR_LEN + len);
    q->desc[id].flags = 0;
    q->desc[id].next = 0;
    q->avail[2 + (q->avail_idx & (q->size - 1))] = id;
    q->avail_idx++;
    c->st.tx_frames++;
    vq_publish(c, q, 1, old);
}

void lvrt_net_wait(uint64_t deadline_ns)
{
    int was = lvrt_irq_disable(), ready = 0;

    for (unsigned i = 0; i < LV_BOOTINFO_MAX_DEVICES; i++) {
        struct nic *c = &nics[i];
        if (!c->open)
            continue;
        *c->rx.used_event = c->rx.used_seen; /* interrupt at the next frame */
        mb();
        if (c->rx.used_seen != *c->rx.used_idx)
            ready = 1;
    }
    if (!ready) {
        if (deadline_ns != UINT64_MAX)
            rt_timer_arm_by_tsc(rt_ns_to_deadline_tsc(deadline_ns));
        rt_halt_until_interrupt(); /* unmasks atomically, wakes unmasked */
        lvrt_irq_disable();
    }
    lvrt_irq_restore(was);
}

int lvrt_net_info(unsigned i, struct lv_dev_net *info)
{
    const struct lv_device *d = dev_entry(i);

    if (!d || d->type != LV_DEV_NET)
        return -1;
    memcpy(info, d->data, sizeof(*info));
    return 0;
}

void lvrt_net_resume(unsigned i)
{
    struct nic *c = nic_get(i);

    tx_reclaim(c);
    for (unsigned q = 0; q < 2; q++) /* whatever avail_event says */
        *c->notify = c->notify_data[q];
    c->st.kicks += 2;
}

void rt_dev_irq(unsigned i)
{
    if (i < LV_BOOTINFO_MAX_DEVICES)
        nics[i].st.irqs++;
    rt_apic_eoi();
}

void lvrt_net_get_stats(unsigned i, struct lvrt_net_stats *out)
{
    *out = nic_get(i)->st;
}
