/* test_virtqueue.c: split virtqueues: well-formed chains, 16-bit index
 * wrap, the used ring, notification suppression both ways, and every
 * malicious queue refused with a message naming the bad value. */
#include <errno.h>
#include <string.h>

#include "lightvm/virtio.h"
#include "lvtest.h"

#define MEM (1u << 20)
#define DESC_GPA 0x1000ull
#define AVAIL_GPA 0x3000ull
#define USED_GPA 0x4000ull
#define BUF_GPA 0x10000ull
#define CHAIN_MAX 65548u /* 64 KiB + a 12-byte net header */

/* The driver's side of one queue, as a guest would lay it out. */
struct drv {
    struct lv_mem mem;
    struct lv_vq vq;
    struct lv_virtq_desc *desc;
    struct lv_virtq_avail *avail;
    struct lv_virtq_used *used;
    uint32_t size;
    uint16_t avail_idx;
};

static void drv_init(struct drv *d, uint32_t size, bool event_idx)
{
    struct lv_err err = {""};
    int rc;

    memset(d->mem.base + DESC_GPA, 0, BUF_GPA - DESC_GPA);
    d->size = size;
    d->avail_idx = 0;
    d->desc = lv_mem_ptr(&d->mem, DESC_GPA, LV_VQ_DESC_BYTES(size));
    d->avail = lv_mem_ptr(&d->mem, AVAIL_GPA, LV_VQ_AVAIL_BYTES(size));
    d->used = lv_mem_ptr(&d->mem, USED_GPA, LV_VQ_USED_BYTES(size));
    rc = lv_vq_init(&d->vq, &d->mem, size, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx, CHAIN_MAX,
                    &err);
    CHECK(rc == 0, "lv_vq_init size %u: %d %s", size, rc, err.msg);
}

static void set_desc(struct drv *d, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    d->desc[i] = (struct lv_virtq_desc){addr, len, flags, next};
}

static void drv_add(struct drv *d, uint16_t head)
{
    d->avail->ring[d->avail_idx % d->size] = head;
    d->avail_idx++;
    __atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t *used_event(struct drv *d) { return &d->avail->ring[d->size]; }
static uint16_t *avail_event(struct drv *d) { return (uint16_t *)(void *)&d->used->ring[d->size]; }

/* Touches every byte of every segment: ASan catches a pointer outside RAM. */
static void touch(const struct lv_vq_chain *c)
{
    volatile uint8_t sum = 0;
    for (unsigned i = 0; i < c->nsegs; i++) {
        uint8_t *p = c->seg[i].ptr;
        if (i < c->nread)
            for (uint32_t j = 0; j < c->seg[i].len; j++)
                sum = (uint8_t)(sum + p[j]);
        else
            memset(p, 0xa5, c->seg[i].len);
    }
}

static void test_init_checks(struct drv *d)
{
    struct lv_vq vq;
    struct lv_err err = {""};
    int rc;

    rc = lv_vq_init(&vq, &d->mem, 0, DESC_GPA, AVAIL_GPA, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "size 0"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 48, DESC_GPA, AVAIL_GPA, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "size 48"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 65536, DESC_GPA, AVAIL_GPA, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "65536"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, 0x1008, AVAIL_GPA, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "0x1008") && strstr(err.msg, "16-byte"), "%s",
          err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, DESC_GPA, 0x3001, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "0x3001"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, DESC_GPA, AVAIL_GPA, 0x4002, false, CHAIN_MAX, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "0x4002"), "%d %s", rc, err.msg);
    /* Each area must fit whole, event fields included. */
    rc = lv_vq_init(&vq, &d->mem, 8, MEM - 0x70, AVAIL_GPA, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EFAULT && strstr(err.msg, "descriptor table"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, DESC_GPA, MEM - 20, USED_GPA, false, CHAIN_MAX, &err);
    CHECK(rc == -EFAULT && strstr(err.msg, "0xfffec+0x16"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, DESC_GPA, AVAIL_GPA, MEM - 68, false, CHAIN_MAX, &err);
    CHECK(rc == -EFAULT && strstr(err.msg, "device area"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, DESC_GPA, AVAIL_GPA, MEM - 72, false, CHAIN_MAX, &err);
    CHECK(rc == 0, "used ring ending at RAM end: %d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, 0xfffffffffffffff0ull, AVAIL_GPA, USED_GPA, false,
                    CHAIN_MAX, &err);
    CHECK(rc == -EFAULT && strstr(err.msg, "0xfffffffffffffff0"), "%d %s", rc, err.msg);
    rc = lv_vq_init(&vq, &d->mem, 8, DESC_GPA, AVAIL_GPA, USED_GPA, false, 0, &err);
    CHECK(rc == -EINVAL, "chain limit 0: %d", rc);
}

static void test_chains(struct drv *d)
{
    struct lv_vq_chain c;
    struct lv_err err = {""};
    int rc;

    drv_init(d, 8, false);
    CHECK(lv_vq_pop(&d->vq, &c, &err) == 0, "empty queue pops nothing");
    CHECK(lv_vq_avail_count(&d->vq) == 0, "nothing available");

    /* One readable descriptor. */
    set_desc(d, 3, BUF_GPA, 100, 0, 0);
    drv_add(d, 3);
    CHECK(lv_vq_avail_count(&d->vq) == 1, "one available");
    rc = lv_vq_pop(&d->vq, &c, &err);
    CHECK(rc == 1, "pop single: %d %s", rc, err.msg);
    CHECK(c.head == 3 && c.nsegs == 1 && c.nread == 1 && c.rlen == 100 && c.wlen == 0,
          "single chain head %u nsegs %u nread %u rlen %u wlen %u", c.head, c.nsegs, c.nread,
          c.rlen, c.wlen);
    CHECK(c.seg[0].ptr == d->mem.base + BUF_GPA && c.seg[0].len == 100, "segment 0");
    touch(&c);
    CHECK(lv_vq_pop(&d->vq, &c, &err) == 0, "then empty");
    rc = lv_vq_push(&d->vq, &c, 1, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "1 bytes written") && strstr(err.msg, "only 0"),
          "written > writable: %d %s", rc, err.msg);
    CHECK(lv_vq_push(&d->vq, &c, 0, &err) == 0, "push: %s", err.msg);
    CHECK(d->used->idx == 1 && d->used->ring[0].id == 3 && d->used->ring[0].len == 0,
          "used idx %u id %u len %u", d->used->idx, d->used->ring[0].id, d->used->ring[0].len);
    rc = lv_vq_push(&d->vq, &c, 0, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "no chain in flight"), "double push: %s", err.msg);

    /* Readable 2 -> 5, then writable 1 -> 7. */
    set_desc(d, 2, BUF_GPA + 0x000, 16, LV_VIRTQ_DESC_F_NEXT, 5);
    set_desc(d, 5, BUF_GPA + 0x100, 32, LV_VIRTQ_DESC_F_NEXT, 1);
    set_desc(d, 1, BUF_GPA + 0x200, 64, LV_VIRTQ_DESC_F_NEXT | LV_VIRTQ_DESC_F_WRITE, 7);
    set_desc(d, 7, BUF_GPA + 0x300, 128, LV_VIRTQ_DESC_F_WRITE, 0);
    drv_add(d, 2);
    rc = lv_vq_pop(&d->vq, &c, &err);
    CHECK(rc == 1 && c.head == 2 && c.nsegs == 4 && c.nread == 2, "multi: rc %d head %u n %u/%u",
          rc, c.head, c.nsegs, c.nread);
    CHECK(c.rlen == 48 && c.wlen == 192, "multi lengths %u %u", c.rlen, c.wlen);
    CHECK(c.seg[1].ptr == d->mem.base + BUF_GPA + 0x100 && c.seg[3].len == 128, "multi segs");
    touch(&c);
    CHECK(lv_vq_push(&d->vq, &c, 193, &err) == -EINVAL, "193 > 192 writable");
    CHECK(lv_vq_push(&d->vq, &c, 192, &err) == 0, "push multi: %s", err.msg);
    CHECK(d->used->idx == 2 && d->used->ring[1].id == 2 && d->used->ring[1].len == 192,
          "used[1] = %u/%u", d->used->ring[1].id, d->used->ring[1].len);

    /* A chain through all 8 descriptors is the longest legal one. */
    set_desc(d, 0, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 7); /* 0 7 1 6 2 5 3 4 */
    set_desc(d, 7, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 1);
    set_desc(d, 1, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 6);
    set_desc(d, 6, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 2);
    set_desc(d, 2, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 5);
    set_desc(d, 5, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 3);
    set_desc(d, 3, BUF_GPA, 1, LV_VIRTQ_DESC_F_NEXT, 4);
    set_desc(d, 4, BUF_GPA, 1, 0, 0);
    drv_add(d, 0);
    rc = lv_vq_pop(&d->vq, &c, &err);
    CHECK(rc == 1 && c.nsegs == 8 && c.rlen == 8, "full-length chain: %d %s", rc, err.msg);
    CHECK(lv_vq_push(&d->vq, &c, 0, &err) == 0, "push full-length chain");

    /* Zero-length and exactly-at-the-limit chains are fine. */
    set_desc(d, 0, BUF_GPA, 0, LV_VIRTQ_DESC_F_NEXT, 4);
    set_desc(d, 4, BUF_GPA, CHAIN_MAX, LV_VIRTQ_DESC_F_WRITE, 0);
    drv_add(d, 0);
    rc = lv_vq_pop(&d->vq, &c, &err);
    CHECK(rc == 1 && c.wlen == CHAIN_MAX && c.rlen == 0, "chain at the limit: %d %s", rc,
          err.msg);
    CHECK(lv_vq_push(&d->vq, &c, CHAIN_MAX, &err) == 0, "push at limit");
}

static void test_wrap(struct drv *d)
{
    struct lv_vq_chain c[4];
    struct lv_err err = {""};
    unsigned i, ok = 1;

    drv_init(d, 4, false);
    for (i = 0; i < 4; i++)
        set_desc(d, i, BUF_GPA + i * 0x100, 8, LV_VIRTQ_DESC_F_WRITE, 0);
    /* One at a time up to 65534, crossing nothing yet. */
    for (i = 0; i < 65534 && ok; i++) {
        drv_add(d, (uint16_t)(i % 4));
        ok = lv_vq_pop(&d->vq, &c[0], &err) == 1 && c[0].head == i % 4 &&
             lv_vq_push(&d->vq, &c[0], 4, &err) == 0 && d->used->idx == (uint16_t)(i + 1) &&
             d->used->ring[i % 4].id == i % 4;
    }
    CHECK(ok && d->vq.last_avail == 65534 && d->vq.used_idx == 65534, "65534 rounds (i %u): %s",
          i, err.msg);
    /* Four at once: avail idx goes 65534 -> 2 across the wrap. */
    for (i = 0; i < 4; i++)
        drv_add(d, (uint16_t)(3 - i));
    CHECK(d->avail->idx == 2 && lv_vq_avail_count(&d->vq) == 4, "avail idx %u count %u",
          d->avail->idx, lv_vq_avail_count(&d->vq));
    for (i = 0; i < 4; i++)
        CHECK(lv_vq_pop(&d->vq, &c[i], &err) == 1 && c[i].head == 3 - i, "wrap pop %u: %s", i,
              err.msg);
    CHECK(lv_vq_pop(&d->vq, &c[0], &err) == 0, "empty after wrap");
    for (i = 4; i-- > 0;)
        CHECK(lv_vq_push(&d->vq, &c[i], i, &err) == 0, "wrap push %u", i);
    CHECK(d->used->idx == 2, "used idx after wrap %u", d->used->idx);
    /* Used slots 65534 % 4 = 2, 3, 0, 1 hold heads 0, 1, 2, 3 (pushed in reverse). */
    CHECK(d->used->ring[2].id == 0 && d->used->ring[3].id == 1 && d->used->ring[0].id == 2 &&
              d->used->ring[1].id == 3 && d->used->ring[1].len == 0 && d->used->ring[2].len == 3,
          "used ring after wrap");
}

/* Pops and pushes (n) chains (descriptor 0, writable). */
static void cycle(struct drv *d, unsigned n)
{
    struct lv_vq_chain c;
    struct lv_err err = {""};

    while (n--) {
        drv_add(d, 0);
        CHECK(lv_vq_pop(&d->vq, &c, &err) == 1, "cycle pop: %s", err.msg);
        CHECK(lv_vq_push(&d->vq, &c, 1, &err) == 0, "cycle push: %s", err.msg);
    }
}

static void test_interrupts(struct drv *d)
{
    drv_init(d, 8, false);
    set_desc(d, 0, BUF_GPA, 8, LV_VIRTQ_DESC_F_WRITE, 0);
    CHECK(lv_vq_need_interrupt(&d->vq) == 0, "nothing pushed: no interrupt");
    cycle(d, 1);
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "flags 0: interrupt");
    CHECK(lv_vq_need_interrupt(&d->vq) == 0, "nothing new since");
    d->avail->flags = LV_VIRTQ_AVAIL_F_NO_INTERRUPT;
    cycle(d, 2);
    CHECK(lv_vq_need_interrupt(&d->vq) == 0, "NO_INTERRUPT honoured");
    d->avail->flags = 0;
    *used_event(d) = 0xffff; /* ignored without event index */
    cycle(d, 1);
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "flag cleared: interrupt");

    drv_init(d, 8, true);
    set_desc(d, 0, BUF_GPA, 8, LV_VIRTQ_DESC_F_WRITE, 0);
    d->avail->flags = LV_VIRTQ_AVAIL_F_NO_INTERRUPT; /* ignored with event index */
    *used_event(d) = 0;
    cycle(d, 1); /* used idx 1: entry 0 used, event 0 reached */
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "event 0 after first entry");
    *used_event(d) = 5; /* interrupt when entry 5 is used (idx becomes 6) */
    for (unsigned i = 2; i <= 5; i++) {
        cycle(d, 1);
        CHECK(lv_vq_need_interrupt(&d->vq) == 0, "event 5 at used idx %u: none", i);
    }
    cycle(d, 1);
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "event 5 at used idx 6: interrupt");
    *used_event(d) = 7;
    cycle(d, 3); /* window (6, 9] holds entry 7 */
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "batch crossing the event");
    *used_event(d) = 20;
    cycle(d, 3);
    CHECK(lv_vq_need_interrupt(&d->vq) == 0, "batch short of the event");
    *used_event(d) = 11; /* stale: entry 11 was used before the last decision */
    cycle(d, 1);
    CHECK(lv_vq_need_interrupt(&d->vq) == 0, "event already passed: none");
    /* Across the 16-bit wrap: the used idx goes 65534 -> 0. */
    d->vq.last_avail = d->avail_idx = 65534;
    d->avail->idx = 65534;
    d->vq.used_idx = d->vq.signalled_used = 65534;
    *used_event(d) = 65535;
    cycle(d, 2);
    CHECK(d->used->idx == 0, "used idx wrapped to %u", d->used->idx);
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "event 65535 inside (65534, 0]");
    *used_event(d) = 1;
    cycle(d, 1);
    CHECK(lv_vq_need_interrupt(&d->vq) == 0, "event 1 not yet reached at idx 1");
    cycle(d, 1);
    CHECK(lv_vq_need_interrupt(&d->vq) == 1, "event 1 reached at idx 2");
}

static void test_kick_suppress(struct drv *d)
{
    struct lv_vq_chain c;
    struct lv_err err = {""};

    drv_init(d, 8, false);
    set_desc(d, 0, BUF_GPA, 8, 0, 0);
    CHECK(lv_vq_set_kick_suppress(&d->vq, true) == 0 &&
              d->used->flags == LV_VIRTQ_USED_F_NO_NOTIFY,
          "NO_NOTIFY set: flags %u", d->used->flags);
    drv_add(d, 0);
    CHECK(lv_vq_set_kick_suppress(&d->vq, false) == 1 && d->used->flags == 0,
          "kicks on again, one chain already waiting");
    CHECK(*avail_event(d) == 0, "avail_event untouched without event index");

    drv_init(d, 8, true);
    set_desc(d, 0, BUF_GPA, 8, 0, 0);
    *avail_event(d) = 0x1234;
    CHECK(lv_vq_set_kick_suppress(&d->vq, false) == 0 && *avail_event(d) == 0,
          "avail_event = last_avail 0: %#x", *avail_event(d));
    drv_add(d, 0);
    drv_add(d, 0);
    CHECK(lv_vq_pop(&d->vq, &c, &err) == 1 && *avail_event(d) == 1, "pop advances event to 1");
    lv_vq_set_kick_suppress(&d->vq, true);
    CHECK(d->used->flags == 0, "flags stay 0 with event index");
    CHECK(lv_vq_pop(&d->vq, &c, &err) == 1 && *avail_event(d) == 1, "suppressed: stays 1");
    drv_add(d, 0);
    CHECK(lv_vq_set_kick_suppress(&d->vq, false) == 1 && *avail_event(d) == 2,
          "re-enabled: event %u, one pending", *avail_event(d));
    lv_vq_update_avail_event(&d->vq);
    CHECK(*avail_event(d) == 2, "update_avail_event");
}

typedef void (*setup_fn)(struct drv *d);

/* Each builds one malicious queue of size 8 at head 0; (want) is in the message. */
static void m_avail_jump(struct drv *d) { d->avail->idx = 9; }
static void m_head(struct drv *d) { drv_add(d, 8); }
static void m_head_huge(struct drv *d) { drv_add(d, 0xffff); }
static void m_next(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 8, LV_VIRTQ_DESC_F_NEXT, 8);
    drv_add(d, 0);
}
static void m_loop(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 8, LV_VIRTQ_DESC_F_NEXT, 1);
    set_desc(d, 1, BUF_GPA, 8, LV_VIRTQ_DESC_F_NEXT, 0);
    drv_add(d, 0);
}
static void m_self_loop(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 0, LV_VIRTQ_DESC_F_NEXT | LV_VIRTQ_DESC_F_WRITE, 0);
    drv_add(d, 0);
}
static void m_outside(struct drv *d)
{
    set_desc(d, 0, MEM - 10, 20, 0, 0);
    drv_add(d, 0);
}
static void m_addr_wrap(struct drv *d)
{
    set_desc(d, 0, 0xfffffffffffffff0ull, 0x20, 0, 0);
    drv_add(d, 0);
}
static void m_huge_len(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 0xffffffffu, LV_VIRTQ_DESC_F_WRITE, 0);
    drv_add(d, 0);
}
static void m_total_len(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 40000, LV_VIRTQ_DESC_F_NEXT, 1);
    set_desc(d, 1, BUF_GPA, 40000, 0, 0);
    drv_add(d, 0);
}
static void m_write_then_read(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 8, LV_VIRTQ_DESC_F_NEXT | LV_VIRTQ_DESC_F_WRITE, 6);
    set_desc(d, 6, BUF_GPA, 8, 0, 0);
    drv_add(d, 0);
}
static void m_indirect(struct drv *d)
{
    set_desc(d, 0, BUF_GPA, 32, LV_VIRTQ_DESC_F_INDIRECT, 0);
    drv_add(d, 0);
}

static const struct {
    const char *name;
    setup_fn setup;
    int rc;
    const char *want;
} bad[] = {
    {"avail idx 9 ahead", m_avail_jump, -EINVAL, "avail idx 9"},
    {"head 8", m_head, -EINVAL, "head 8"},
    {"head 65535", m_head_huge, -EINVAL, "head 65535"},
    {"next 8", m_next, -EINVAL, "next index 8"},
    {"loop 0->1->0", m_loop, -EINVAL, "longer than the queue size 8"},
    {"self loop", m_self_loop, -EINVAL, "descriptor loop through 0"},
    {"buffer past RAM", m_outside, -EFAULT, "0xffff6+0x14"},
    {"buffer address wraps", m_addr_wrap, -EFAULT, "0xfffffffffffffff0+0x20"},
    {"length 4 GiB - 1", m_huge_len, -EINVAL, "4294967295"},
    {"chain total over the cap", m_total_len, -EINVAL, "80000 bytes"},
    {"readable after writable", m_write_then_read, -EINVAL, "descriptor 6 is readable"},
    {"indirect", m_indirect, -EINVAL, "VIRTQ_DESC_F_INDIRECT"},
};

static void test_malicious(struct drv *d)
{
    struct lv_vq_chain c;
    struct lv_err err;
    unsigned i;
    int rc;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        drv_init(d, 8, i % 2);
        bad[i].setup(d);
        memset(&err, 0, sizeof(err));
        rc = lv_vq_pop(&d->vq, &c, &err);
        CHECK(rc == bad[i].rc && strstr(err.msg, bad[i].want), "%s: rc %d msg '%s' (want '%s')",
              bad[i].name, rc, err.msg, bad[i].want);
        CHECK(d->vq.last_avail == 0 && d->vq.inflight == 0, "%s: nothing consumed", bad[i].name);
    }

    /* 65 descriptors in a 128-entry queue: more segments than the host takes. */
    drv_init(d, 128, false);
    for (i = 0; i < 65; i++)
        set_desc(d, i, BUF_GPA, 1, i < 64 ? LV_VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    drv_add(d, 0);
    rc = lv_vq_pop(&d->vq, &c, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "more than 64 segments"), "65 segs: %d %s", rc,
          err.msg);
    set_desc(d, 63, BUF_GPA, 1, 0, 0); /* 64 is fine */
    rc = lv_vq_pop(&d->vq, &c, &err);
    CHECK(rc == 1 && c.nsegs == 64, "64 segs: %d %s", rc, err.msg);

    /* The device side is checked too: a head that cannot be ours. */
    drv_init(d, 4, false);
    c.head = 4;
    c.wlen = 0;
    d->vq.inflight = 1;
    rc = lv_vq_push(&d->vq, &c, 0, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "head 4"), "push head 4: %d %s", rc, err.msg);
}

int main(void)
{
    struct drv d;
    struct lv_err err = {""};

    if (lv_mem_open(&d.mem, MEM, &err)) {
        fprintf(stderr, "lv_mem_open: %s\n", err.msg);
        return 1;
    }
    test_init_checks(&d);
    test_chains(&d);
    test_wrap(&d);
    test_interrupts(&d);
    test_kick_suppress(&d);
    test_malicious(&d);
    lv_mem_close(&d.mem);
    return lvt_done("test_virtqueue");
}
