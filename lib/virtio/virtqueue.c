/* virtqueue.c: the device side of a virtio 1.x split virtqueue, with
 * every guest-written index, descriptor and length validated. */
#include <errno.h>
#include <string.h>

#include "lightvm/virtio.h"
#include "blob.h"

/* Guest-shared fields are read and written with __atomic so each is one
 * access of its full width that the compiler cannot repeat or tear. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static uint16_t *used_event_ptr(const struct lv_vq *vq)
{
    return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event_ptr(const struct lv_vq *vq)
{
    return (uint16_t *)(void *)&vq->used->ring[vq->size];
}

/* Dirty tracking: the VMM wrote (len) bytes at (off) of the device area. */
static void mark_used(const struct lv_vq *vq, uint64_t off, uint64_t len)
{
    lv_mem_mark_dirty(vq->mem, vq->used_gpa + off, len);
}

static void store_avail_event(struct lv_vq *vq)
{
    STORE_REL(avail_event_ptr(vq), vq->last_avail);
    mark_used(vq, 4 + 8ull * vq->size, 2);
}

void lv_vq_mark_written(const struct lv_vq *vq, const struct lv_vq_chain *c, uint32_t len)
{
    for (unsigned i = c->nread; i < c->nsegs && len; i++) {
        uint32_t n = c->seg[i].len < len ? c->seg[i].len : len;

        lv_mem_mark_dirty(vq->mem, c->seg[i].gpa, n);
        len -= n;
    }
}

static int map_area(const struct lv_mem *mem, const char *what, lv_gpa_t gpa, uint64_t align,
                    uint64_t len, void **out, struct lv_err *err)
{
    if (gpa % align)
        return lv_err_set(err, EINVAL, "virtqueue %s GPA 0x%llx is not %llu-byte aligned", what,
                          (unsigned long long)gpa, (unsigned long long)align);
    *out = lv_mem_ptr(mem, gpa, len);
    if (!*out)
        return lv_err_set(err, EFAULT,
                          "virtqueue %s 0x%llx+0x%llx is outside guest RAM (%llu bytes)", what,
                          (unsigned long long)gpa, (unsigned long long)len,
                          (unsigned long long)mem->size);
    return 0;
}

int lv_vq_init(struct lv_vq *vq, const struct lv_mem *mem, uint32_t size, lv_gpa_t desc_gpa,
               lv_gpa_t avail_gpa, lv_gpa_t used_gpa, bool event_idx, uint32_t max_chain_len,
               struct lv_err *err)
{
    void *d, *a, *u;
    int rc;

    memset(vq, 0, sizeof(*vq));
    if (size == 0 || size > LV_VQ_SIZE_MAX || (size & (size - 1)))
        return lv_err_set(err, EINVAL, "virtqueue size %u is not a power of two in 1..%u", size,
                          LV_VQ_SIZE_MAX);
    if (max_chain_len == 0)
        return lv_err_set(err, EINVAL, "virtqueue chain length limit is 0");
    rc = map_area(mem, "descriptor table", desc_gpa, 16, LV_VQ_DESC_BYTES(size), &d, err);
    if (rc == 0)
        rc = map_area(mem, "driver area", avail_gpa, 2, LV_VQ_AVAIL_BYTES(size), &a, err);
    if (rc == 0)
        rc = map_area(mem, "device area", used_gpa, 4, LV_VQ_USED_BYTES(size), &u, err);
    if (rc)
        return rc;
    vq->mem = mem;
    vq->size = size;
    vq->max_chain_len = max_chain_len;
    vq->desc_gpa = desc_gpa;
    vq->avail_gpa = avail_gpa;
    vq->used_gpa = used_gpa;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->event_idx = event_idx;
    vq->kicks_wanted = true;
    return 0;
}

unsigned lv_vq_avail_count(const struct lv_vq *vq)
{
    return (uint16_t)(LOAD_ACQ(&vq->avail->idx) - vq->last_avail);
}

/* Appends descriptor (id)'s buffer to (c), enforcing the chain rules. */
static int add_seg(struct lv_vq *vq, struct lv_vq_chain *c, uint16_t id, uint64_t addr,
                   uint32_t len, uint16_t flags, uint64_t *total, struct lv_err *err)
{
    void *p;

    if (flags & LV_VIRTQ_DESC_F_INDIRECT)
        return lv_err_set(err, EINVAL,
                          "virtqueue descriptor %u has flags 0x%x: VIRTQ_DESC_F_INDIRECT "
                          "was not negotiated",
                          id, flags);
    if (!(flags & LV_VIRTQ_DESC_F_WRITE) && c->nread != c->nsegs)
        return lv_err_set(err, EINVAL,
                          "virtqueue descriptor %u is readable but follows a writable one "
                          "in the chain at head %u",
                          id, c->head);
    if (c->nsegs == LV_VQ_MAX_SEGS)
        return lv_err_set(err, EINVAL,
                          "virtqueue chain at head %u has more than %d segments (descriptor %u)",
                          c->head, LV_VQ_MAX_SEGS, id);
    *total += len;
    if (*total > vq->max_chain_len)
        return lv_err_set(err, EINVAL,
                          "virtqueue chain at head %u is %llu bytes at descriptor %u "
                          "(len %u), over the limit of %u",
                          c->head, (unsigned long long)*total, id, len, vq->max_chain_len);
    p = lv_mem_ptr(vq->mem, addr, len);
    if (!p)
        return lv_err_set(err, EFAULT,
                          "virtqueue descriptor %u: buffer 0x%llx+0x%x is outside guest RAM "
                          "(%llu bytes)",
                          id, (unsigned long long)addr, len, (unsigned long long)vq->mem->size);
    c->seg[c->nsegs].ptr = p;
    c->seg[c->nsegs].len = len;
    c->seg[c->nsegs].gpa = addr;
    c->nsegs++;
    if (flags & LV_VIRTQ_DESC_F_WRITE) {
        c->wlen += len;
    } else {
        c->nread++;
        c->rlen += len;
    }
    return 0;
}

int lv_vq_pop(struct lv_vq *vq, struct lv_vq_chain *c, struct lv_err *err)
{
    uint16_t avail_idx, slot, id, flags, next;
    uint32_t n, len;
    uint64_t addr, total = 0;
    int rc;

    /* Acquire: the ring entries and descriptors the driver wrote before
     * publishing this index are visible below. */
    avail_idx = LOAD_ACQ(&vq->avail->idx);
    n = (uint16_t)(avail_idx - vq->last_avail);
    if (n == 0)
        return 0;
    if (n > vq->size)
        return lv_err_set(err, EINVAL,
                          "virtqueue avail idx %u is %u entries ahead of the last seen %u, "
                          "more than the queue size %u",
                          avail_idx, n, vq->last_avail, vq->size);
    slot = (uint16_t)(vq->last_avail & (vq->size - 1));
    id = LOAD(&vq->avail->ring[slot]);
    if (id >= vq->size)
        return lv_err_set(err, EINVAL,
                          "virtqueue avail ring entry %u holds head %u, not below the queue "
                          "size %u",
                          slot, id, vq->size);
    memset(c, 0, offsetof(struct lv_vq_chain, seg));
    c->head = id;
    for (n = 0;; n++) {
        struct lv_virtq_desc *d = &vq->desc[id];

        if (n == vq->size)
            return lv_err_set(err, EINVAL,
                              "virtqueue chain at head %u is longer than the queue size %u "
                              "(descriptor loop through %u)",
                              c->head, vq->size, id);
        addr = LOAD(&d->addr);
        len = LOAD(&d->len);
        flags = LOAD(&d->flags);
        next = LOAD(&d->next);
        rc = add_seg(vq, c, id, addr, len, flags, &total, err);
        if (rc)
            return rc;
        if (!(flags & LV_VIRTQ_DESC_F_NEXT))
            break;
        if (next >= vq->size)
            return lv_err_set(err, EINVAL,
                              "virtqueue descriptor %u: next index %u is not below the queue "
                              "size %u",
                              id, next, vq->size);
        id = next;
    }
    vq->last_avail++;
    vq->inflight++;
    if (vq->event_idx && vq->kicks_wanted)
        store_avail_event(vq);
    return 1;
}

int lv_vq_push(struct lv_vq *vq, const struct lv_vq_chain *c, uint32_t written_len,
               struct lv_err *err)
{
    struct lv_virtq_used_elem *e;
    uint32_t slot;

    if (c->head >= vq->size)
        return lv_err_set(err, EINVAL, "virtqueue push of head %u, not below the queue size %u",
                          c->head, vq->size);
    if (written_len > c->wlen)
        return lv_err_set(err, EINVAL,
                          "virtqueue push of head %u: %u bytes written but the chain has "
                          "only %u writable",
                          c->head, written_len, c->wlen);
    if (vq->inflight == 0)
        return lv_err_set(err, EINVAL,
                          "virtqueue push of head %u with no chain in flight", c->head);
    slot = vq->used_idx & (vq->size - 1);
    e = &vq->used->ring[slot];
    STORE(&e->id, (uint32_t)c->head);
    STORE(&e->len, written_len);
    vq->used_idx++;
    vq->inflight--;
    /* Release: the element (and the data written into the buffers) is
     * visible to the driver before the index that publishes it. */
    STORE_REL(&vq->used->idx, vq->used_idx);
    /* After the writes: a collector that takes a mark sees them. */
    lv_vq_mark_written(vq, c, written_len);
    mark_used(vq, 0, 4);
    mark_used(vq, 4 + 8ull * slot, 8);
    return 0;
}

/* The event index rule (virtio 1.x 2.7.10): notify when (event) lies in
 * the window of entries (old, new] published since the last decision. */
static int need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

int lv_vq_need_interrupt(struct lv_vq *vq)
{
    uint16_t old_idx = vq->signalled_used, new_idx = vq->used_idx;

    /* Order the used idx store before the loads of the driver's
     * suppression fields (store-load: a full barrier). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    vq->signalled_used = new_idx;
    if (new_idx == old_idx)
        return 0;
    if (vq->event_idx)
        return need_event(LOAD(used_event_ptr(vq)), new_idx, old_idx);
    return !(LOAD(&vq->avail->flags) & LV_VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void lv_vq_update_avail_event(struct lv_vq *vq)
{
    if (vq->event_idx)
        store_avail_event(vq);
}

unsigned lv_vq_set_kick_suppress(struct lv_vq *vq, bool suppress)
{
    vq->kicks_wanted = !suppress;
    if (!vq->event_idx) {
        STORE_REL(&vq->used->flags, (uint16_t)(suppress ? LV_VIRTQ_USED_F_NO_NOTIFY : 0));
        mark_used(vq, 0, 2);
    } else if (!suppress)
        lv_vq_update_avail_event(vq);
    if (suppress)
        return 0;
    /* Order the flag/event store before re-reading avail idx, so a chain
     * the driver added without kicking is seen here. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return lv_vq_avail_count(vq);
}

/* ---- saved state ---- */

#define VQ_STATE_VERSION 1u
#define VQ_F_EVENT_IDX 1u
#define VQ_F_KICKS_WANTED 2u

int lv_vq_save(const struct lv_vq *vq, unsigned held, uint8_t out[LV_VQ_STATE_BYTES],
               struct lv_err *err)
{
    struct lv_blob_w w = {out, 0};

    if (vq->inflight != held)
        return lv_err_set(err, EBUSY,
                          "virtqueue save with %u chains in flight (%u held by the device): "
                          "the device is mid-operation",
                          vq->inflight, held);
    lv_blob_put(&w, VQ_STATE_VERSION, 1);
    lv_blob_put(&w, (uint16_t)(vq->last_avail - held), 2);
    lv_blob_put(&w, vq->used_idx, 2);
    lv_blob_put(&w, vq->signalled_used, 2);
    lv_blob_put(&w, (vq->event_idx ? VQ_F_EVENT_IDX : 0) | (vq->kicks_wanted ? VQ_F_KICKS_WANTED : 0),
                1);
    return 0;
}

/* The saved indices against the rings in guest RAM (read once each). */
static int check_rings(const struct lv_vq *vq, uint16_t last_avail, uint16_t used_idx,
                       uint16_t signalled, struct lv_err *err)
{
    uint16_t ring_used = LOAD_ACQ(&vq->used->idx), ring_avail = LOAD_ACQ(&vq->avail->idx);

    if (last_avail != used_idx)
        return lv_err_set(err, EINVAL,
                          "virtqueue state: last_avail %u and used_idx %u differ (%u chains in "
                          "flight; a saved queue has none)",
                          last_avail, used_idx, (uint16_t)(last_avail - used_idx));
    if ((uint16_t)(used_idx - signalled) > vq->size)
        return lv_err_set(err, EINVAL,
                          "virtqueue state: signalled_used %u is more than the queue size %u "
                          "behind used_idx %u",
                          signalled, vq->size, used_idx);
    if (ring_used != used_idx)
        return lv_err_set(err, EINVAL,
                          "virtqueue state: used_idx %u but the used ring in guest RAM says %u",
                          used_idx, ring_used);
    if ((uint16_t)(ring_avail - last_avail) > vq->size)
        return lv_err_set(err, EINVAL,
                          "virtqueue state: last_avail %u but the avail ring in guest RAM is at "
                          "%u, more than the queue size %u ahead",
                          last_avail, ring_avail, vq->size);
    return 0;
}

int lv_vq_restore(struct lv_vq *vq, const uint8_t in[LV_VQ_STATE_BYTES], struct lv_err *err)
{
    struct lv_blob_r r = {in, 0};
    unsigned version = (unsigned)lv_blob_get(&r, 1);
    uint16_t last_avail = (uint16_t)lv_blob_get(&r, 2);
    uint16_t used_idx = (uint16_t)lv_blob_get(&r, 2);
    uint16_t signalled = (uint16_t)lv_blob_get(&r, 2);
    unsigned flags = (unsigned)lv_blob_get(&r, 1);
    int rc;

    if (version != VQ_STATE_VERSION)
        return lv_err_set(err, EINVAL, "virtqueue state version %u (this lightvm reads %u)",
                          version, VQ_STATE_VERSION);
    if (flags & ~(VQ_F_EVENT_IDX | VQ_F_KICKS_WANTED))
        return lv_err_set(err, EINVAL, "virtqueue state flags 0x%x have unknown bits", flags);
    if (!(flags & VQ_F_EVENT_IDX) != !vq->event_idx)
        return lv_err_set(err, EINVAL,
                          "virtqueue state: event_idx %u but the driver features say %u",
                          (flags & VQ_F_EVENT_IDX) != 0, vq->event_idx);
    rc = check_rings(vq, last_avail, used_idx, signalled, err);
    if (rc)
        return rc;
    vq->last_avail = last_avail;
    vq->used_idx = used_idx;
    vq->signalled_used = signalled;
    vq->inflight = 0;
    vq->kicks_wanted = (flags & VQ_F_KICKS_WANTED) != 0;
    return 0;
}
