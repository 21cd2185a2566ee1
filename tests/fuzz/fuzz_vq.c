/* fuzz_vq.c: libFuzzer target for the split virtqueue. The input fills
 * guest RAM (descriptor table, rings, buffers) and a few control values;
 * the harness plays the device, popping and pushing until the queue is
 * empty or refused, for a bounded number of driver "rounds". Every chain
 * must lie inside RAM and within the limits; every error must be -EINVAL
 * or -EFAULT. Writing into writable buffers may overwrite the rings
 * themselves, as a hostile guest could arrange. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/virtio.h"

#define RAM (64u << 10)
#define HDR 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void check_chain(const struct lv_vq *vq, const struct lv_vq_chain *c, const uint8_t *ram)
{
    uint64_t r = 0, w = 0;
    volatile uint8_t sum = 0;

    if (c->head >= vq->size || c->nsegs == 0 || c->nsegs > LV_VQ_MAX_SEGS ||
        c->nread > c->nsegs || (uint64_t)c->rlen + c->wlen > vq->max_chain_len)
        abort();
    for (unsigned i = 0; i < c->nsegs; i++) {
        uint8_t *p = c->seg[i].ptr;
        uint32_t len = c->seg[i].len;

        if (p < ram || p > ram + RAM || len > (size_t)(ram + RAM - p))
            abort();
        if (i < c->nread) {
            r += len;
            for (uint32_t j = 0; j < len; j++)
                sum = (uint8_t)(sum + p[j]);
        } else {
            w += len;
            memset(p, 0x5a, len);
        }
    }
    if (r != c->rlen || w != c->wlen)
        abort();
}

/* A well-formed queue to start from, so short inputs reach deep paths
 * without a seed corpus: chains of a readable and a writable descriptor,
 * and avail entries for every chain, avail idx at the start index. The input then overwrites RAM from
 * GPA 0, rings included when the GPAs point there. */
static void template(uint8_t *ram, uint32_t qsize, uint64_t dgpa, uint64_t agpa, uint16_t start)
{
    memset(ram, 0, RAM);
    if (agpa + 4 <= RAM)
        memcpy(ram + agpa + 2, &start, 2); /* avail idx: nothing new yet */
    for (uint32_t i = 0; i < qsize; i++) {
        struct lv_virtq_desc d = {0xc000 + (i % 64) * 64, 64, 0, 0};
        uint16_t head = (uint16_t)(i & ~1u);

        if (qsize > 1 && !(i & 1)) {
            d.flags = LV_VIRTQ_DESC_F_NEXT;
            d.next = (uint16_t)(i + 1);
        } else if (qsize > 1) {
            d.flags = LV_VIRTQ_DESC_F_WRITE;
        }
        if (dgpa + (i + 1) * 16ull <= RAM && dgpa % 16 == 0)
            memcpy(ram + dgpa + i * 16, &d, sizeof(d));
        if (agpa + 4 + (i + 1) * 2ull <= RAM)
            memcpy(ram + agpa + 4 + i * 2, &head, 2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram[RAM] __attribute__((aligned(4096))); /* ASan sees any overrun */
    struct lv_mem mem = {.fd = -1, .base = ram, .size = RAM};
    struct lv_vq vq;
    struct lv_vq_chain c;
    struct lv_err err;
    uint32_t qsize, max_chain;
    uint64_t dgpa, agpa, ugpa;
    unsigned rounds;
    bool event_idx, raw;
    int rc;

    if (size < HDR)
        return 0;
    qsize = 1u << (data[0] % 9); /* 1..256 entries */
    event_idx = data[1] & 1;
    raw = data[1] & 2; /* unaligned GPAs: exercise the init checks */
    max_chain = (data[1] & 8) ? UINT32_MAX : (uint32_t)le16(data + 2) + 1;
    dgpa = le16(data + 4);
    agpa = le16(data + 6);
    ugpa = le16(data + 8);
    if (!raw) {
        dgpa &= ~15ull;
        agpa &= ~1ull;
        ugpa &= ~3ull;
    }
    rounds = data[10] % 16 + 1;

    template(ram, qsize, dgpa, agpa, le16(data + 12));
    memcpy(ram, data + HDR, size - HDR < RAM ? size - HDR : RAM);
    rc = lv_vq_init(&vq, &mem, qsize, dgpa, agpa, ugpa, event_idx, max_chain, &err);
    if (rc) {
        if (rc != -EINVAL && rc != -EFAULT)
            abort();
        return 0;
    }
    /* Start the indices where the input says (a restored queue). */
    vq.last_avail = vq.used_idx = vq.signalled_used = le16(data + 12);

    for (unsigned r = 0; r < rounds; r++) {
        uint16_t bump = data[14 + (r & 1)] % (qsize + 2); /* may overrun by one */

        /* The driver makes (bump) more entries available. */
        __atomic_store_n(&vq.avail->idx, (uint16_t)(vq.avail->idx + bump), __ATOMIC_RELEASE);
        if (data[1] & 4)
            lv_vq_set_kick_suppress(&vq, r & 1);
        /* Bounded: the rings may be rewritten by our own buffer writes. */
        for (unsigned n = 0; n <= 2 * qsize + 1; n++) {
            uint32_t written;

            rc = lv_vq_pop(&vq, &c, &err);
            if (rc == 0)
                break;
            if (rc < 0) {
                if (rc != -EINVAL && rc != -EFAULT)
                    abort();
                return 0; /* the VMM stops this VM */
            }
            check_chain(&vq, &c, ram);
            written = data[11] & 1 ? c.wlen : c.wlen / 2;
            if (data[11] & 2)
                written++; /* over by one when wlen is used: must be refused */
            rc = lv_vq_push(&vq, &c, written, &err);
            if ((rc == 0) != (written <= c.wlen))
                abort();
            if (rc)
                return 0;
        }
        (void)lv_vq_need_interrupt(&vq);
        if (vq.inflight != 0)
            abort();
        (void)lv_vq_set_kick_suppress(&vq, false);
        (void)lv_vq_avail_count(&vq);
    }
    return 0;
}
