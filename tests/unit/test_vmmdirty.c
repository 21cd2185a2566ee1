/* test_vmmdirty.c: the VMM's side of dirty tracking without KVM (mem.h:
 * lv_mem_mark_dirty, lv_mem_dirty_take; virtqueue.c marking what a push
 * reports written): nothing is marked while tracking is off; exact pages
 * for ranges across page boundaries; ranges outside the RAM ignored; a
 * take clears and counts only bits new to the caller's bitmap; a push
 * marks the bytes it reports written, its used ring entry and index, and
 * not the chain's readable part nor its unwritten tail (and
 * lv_vq_mark_written no more than the writable part); a restart
 * forgets old marks; a snapshot mapping (lv_mem_map_file) marks all; and
 * two threads marking while a third takes lose no mark. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lightvm/mem.h"
#include "lightvm/virtio.h"
#include "lvtest.h"

#define MEM (2u << 20) /* 512 pages, 8 words */
#define PG LV_DIRTY_PAGE
#define WORDS (MEM / PG / 64)

static long count(const uint64_t *b)
{
    long n = 0;

    for (unsigned i = 0; i < WORDS; i++)
        n += __builtin_popcountll(b[i]);
    return n;
}

static int has(const uint64_t *b, uint64_t page)
{
    return (b[page / 64] >> (page % 64)) & 1;
}

/* Takes the marks into a fresh bitmap (b); the count returned. */
static long take(struct lv_mem *m, uint64_t *b)
{
    memset(b, 0, WORDS * sizeof(*b));
    return lv_mem_dirty_take(m, b);
}

static void test_ranges(struct lv_mem *m)
{
    struct lv_err err = {""};
    uint64_t b[WORDS];

    CHECK(lv_mem_dirty_words(m) == WORDS, "%zu words", lv_mem_dirty_words(m));
    lv_mem_mark_dirty(m, 0, MEM); /* off: nothing */
    CHECK(take(m, b) == 0 && count(b) == 0, "marks before any start");
    CHECK(lv_mem_dirty_begin(m, &err) == 0, "begin: %s", err.msg);
    lv_mem_mark_dirty(m, 5 * PG + 100, 1);          /* page 5 */
    lv_mem_mark_dirty(m, 7 * PG - 1, 2);            /* pages 6 and 7 */
    lv_mem_mark_dirty(m, 63 * PG, PG + 1);          /* 63, 64: across a word */
    lv_mem_mark_dirty(m, 100 * PG, 0);              /* empty: nothing */
    lv_mem_mark_dirty(m, MEM - 1, 2);               /* past the end: ignored */
    lv_mem_mark_dirty(m, UINT64_MAX - 10, 20);      /* wraps: ignored */
    lv_mem_mark_dirty(m, MEM, 1);                   /* outside: ignored */
    lv_mem_mark_dirty(m, MEM - PG, PG);             /* the last page */
    CHECK(take(m, b) == 6 && count(b) == 6, "%ld pages marked, want 6", count(b));
    CHECK(has(b, 5) && has(b, 6) && has(b, 7) && has(b, 63) && has(b, 64) &&
          has(b, MEM / PG - 1), "the wrong pages");
    CHECK(take(m, b) == 0, "a second take found marks");
    /* only bits new to the caller's bitmap count */
    lv_mem_mark_dirty(m, 5 * PG, 2 * PG); /* 5, 6 */
    memset(b, 0, sizeof(b));
    b[0] = 1ull << 5;
    CHECK(lv_mem_dirty_take(m, b) == 1 && count(b) == 2, "into a bitmap holding page 5");
    /* end: no more marks; begin again: old marks gone */
    lv_mem_mark_dirty(m, 9 * PG, 1);
    lv_mem_dirty_end(m);
    lv_mem_mark_dirty(m, 10 * PG, 1);
    CHECK(lv_mem_dirty_begin(m, &err) == 0, "begin again: %s", err.msg);
    CHECK(take(m, b) == 0, "marks from before the restart or after the end");
    lv_mem_dirty_end(m);
}

/* A chain of 2 readable pages and 3 writable ones, pushed with (written)
 * bytes: the pages that must be marked are exactly the written ones and
 * the used ring's. */
static void test_push(struct lv_mem *m)
{
    const uint64_t desc = 0x1000, avail = 0x2000, used = 0x3000, buf = 0x10000;
    struct lv_err err = {""};
    struct lv_vq vq;
    struct lv_vq_chain c;
    struct lv_virtq_desc *d = lv_mem_ptr(m, desc, 16 * 8);
    struct lv_virtq_avail *a = lv_mem_ptr(m, avail, LV_VQ_AVAIL_BYTES(8));
    uint64_t b[WORDS];
    const uint64_t bp = buf / PG; /* the chain's first page */

    memset(m->base, 0, 0x20000);
    for (unsigned i = 0; i < 5; i++)
        d[i] = (struct lv_virtq_desc){buf + i * PG, PG,
                                      (uint16_t)((i < 4 ? LV_VIRTQ_DESC_F_NEXT : 0) |
                                                 (i >= 2 ? LV_VIRTQ_DESC_F_WRITE : 0)),
                                      (uint16_t)(i + 1)};
    a->ring[0] = 0;
    a->ring[1] = 0;
    __atomic_store_n(&a->idx, 2, __ATOMIC_RELEASE);
    CHECK(lv_vq_init(&vq, m, 8, desc, avail, used, false, 1u << 20, &err) == 0, "init: %s",
          err.msg);
    CHECK(lv_mem_dirty_begin(m, &err) == 0, "begin: %s", err.msg);
    CHECK(lv_vq_pop(&vq, &c, &err) == 1 && c.nread == 2 && c.nsegs == 5, "pop: %s", err.msg);
    CHECK(c.seg[3].gpa == buf + 3 * PG, "segment GPA 0x%llx", (unsigned long long)c.seg[3].gpa);
    CHECK(take(m, b) == 0, "a pop without event_idx marked pages");
    /* the first writable page and one byte of the second */
    CHECK(lv_vq_push(&vq, &c, PG + 1, &err) == 0, "push: %s", err.msg);
    CHECK(take(m, b) == 3 && has(b, bp + 2) && has(b, bp + 3) && has(b, used / PG),
          "push of %u bytes: %ld pages marked", PG + 1, count(b));
    /* nothing written: only the used ring */
    CHECK(lv_vq_pop(&vq, &c, &err) == 1 && lv_vq_push(&vq, &c, 0, &err) == 0, "second: %s",
          err.msg);
    CHECK(take(m, b) == 1 && has(b, used / PG), "push of 0 bytes: %ld pages", count(b));
    /* a device marking a chain itself: its writable part only, however much it says */
    lv_vq_mark_written(&vq, &c, 10 * PG);
    CHECK(take(m, b) == 3 && has(b, bp + 2) && has(b, bp + 3) && has(b, bp + 4),
          "lv_vq_mark_written of more than the chain: %ld pages", count(b));
    /* kick suppression writes the used ring's flags */
    lv_vq_set_kick_suppress(&vq, true);
    CHECK(take(m, b) == 1 && has(b, used / PG), "kick suppression: %ld pages", count(b));
    lv_mem_dirty_end(m);
    CHECK(lv_vq_pop(&vq, &c, &err) == 0, "queue empty");
}

static void test_map_file(struct lv_mem *m)
{
    struct lv_err err = {""};
    uint64_t b[WORDS];
    int fd = memfd_create("snapmem", MFD_CLOEXEC);

    CHECK(fd >= 0 && ftruncate(fd, MEM) == 0, "memfd");
    CHECK(lv_mem_dirty_begin(m, &err) == 0, "begin: %s", err.msg);
    CHECK(lv_mem_map_file(m, fd, &err) == 0, "map: %s", err.msg);
    CHECK(take(m, b) == MEM / PG, "a mapped snapshot: %ld pages marked", count(b));
    lv_mem_dirty_end(m);
}

/* ---- concurrency: 2 markers, 1 taker ---- */

struct marker {
    struct lv_mem *m;
    unsigned first; /* pages first, first + 2, ... */
};

static void *mark_thread(void *arg)
{
    const struct marker *k = arg;

    for (int round = 0; round < 200; round++)
        for (uint64_t p = k->first; p < MEM / PG; p += 2)
            lv_mem_mark_dirty(k->m, p * PG, 1);
    return NULL;
}

static void test_threads(struct lv_mem *m)
{
    struct lv_err err = {""};
    struct marker k[2] = {{m, 0}, {m, 1}};
    pthread_t t[2];
    uint64_t all[WORDS];
    long sum = 0, n;

    memset(all, 0, sizeof(all));
    CHECK(lv_mem_dirty_begin(m, &err) == 0, "begin: %s", err.msg);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, mark_thread, &k[i]) == 0, "thread");
    /* takes while they mark, into one bitmap: each page counted once */
    for (int i = 0; i < 1000; i++) {
        n = lv_mem_dirty_take(m, all);
        CHECK(n >= 0, "take");
        sum += n;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    sum += lv_mem_dirty_take(m, all);
    CHECK(count(all) == MEM / PG && sum == MEM / PG, "%ld pages taken, counted %ld, want %u",
          count(all), sum, MEM / PG);
    lv_mem_dirty_end(m);
}

int main(void)
{
    struct lv_err err = {""};
    struct lv_mem m;

    if (lv_mem_open(&m, MEM, &err) < 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    test_ranges(&m);
    test_push(&m);
    test_threads(&m);
    test_map_file(&m);
    lv_mem_close(&m);
    CHECK(m.dirty == NULL && !atomic_load(&m.dirty_on), "close left the bitmap");
    return lvt_done("test_vmmdirty");
}
