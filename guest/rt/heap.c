/*
 * heap.c: a first-fit allocator over [image end, end of RAM).
 *
 * Free blocks form an address-ordered singly linked list, so freeing
 * coalesces with both neighbours in one walk. Every block starts with a
 * 16-byte header, payloads are 16-byte aligned.
 *
 * Pages cost ~35 us on their first touch (PVM), so nothing is touched
 * ahead of use: the first block header is written by the first
 * allocation, and `clean` tracks the address above which memory has never
 * been written (the VMM zeroed it), so calloc skips the memset there.
 */
#include <stdbool.h>

#include "rt.h"

#define ALIGN 16u
#define USED_MAGIC ((struct blk *)0x4c564d48454150ull) /* "LVMHEAP": next of a used block */

struct blk {
    size_t size;      /* whole block with header, multiple of ALIGN */
    struct blk *next; /* free: next free block by address; used: USED_MAGIC */
};

static uintptr_t heap_lo, heap_hi, clean;
static struct blk *free_list;
static bool started;

void rt_heap_init(uintptr_t start, uintptr_t end)
{
    heap_lo = (start + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    heap_hi = end & ~(uintptr_t)(ALIGN - 1);
    if (heap_hi < heap_lo + 2 * sizeof(struct blk))
        heap_hi = heap_lo; /* no heap: every allocation fails */
}

static void heap_start(void)
{
    started = true;
    if (heap_hi == heap_lo)
        return;
    free_list = (struct blk *)heap_lo;
    free_list->size = heap_hi - heap_lo;
    free_list->next = NULL;
    clean = heap_lo + sizeof(struct blk);
}

/* Allocate; (*fresh) tells whether the payload has never been written. */
static void *heap_alloc(size_t size, bool *fresh)
{
    if (!started)
        heap_start();
    if (size == 0 || size > heap_hi - heap_lo)
        return NULL;
    size_t need = ((size + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + sizeof(struct blk);

    for (struct blk **pp = &free_list; *pp; pp = &(*pp)->next) {
        struct blk *b = *pp;
        if (b->size < need)
            continue;
        if (b->size - need >= 2 * sizeof(struct blk)) { /* split: keep the tail free */
            struct blk *rest = (struct blk *)((uintptr_t)b + need);
            rest->size = b->size - need;
            rest->next = b->next;
            *pp = rest;
            b->size = need;
        } else {
            *pp = b->next;
        }
        b->next = USED_MAGIC;
        uintptr_t payload = (uintptr_t)(b + 1);
        *fresh = payload >= clean;
        /* + one header: a split wrote the tail's header just past us */
        uintptr_t dirty = (uintptr_t)b + b->size + sizeof(struct blk);
        if (dirty > clean)
            clean = dirty;
        return (void *)payload;
    }
    return NULL;
}

static struct blk *block_of(void *p)
{
    struct blk *b = (struct blk *)p - 1;

    if ((uintptr_t)p & (ALIGN - 1) || (uintptr_t)b < heap_lo ||
        (uintptr_t)p >= heap_hi || b->next != USED_MAGIC)
        lvrt_panic("heap: bad pointer or double free: %p", p);
    return b;
}

void *lvrt_malloc(size_t size)
{
    bool fresh;
    return heap_alloc(size, &fresh);
}

void *lvrt_calloc(size_t n, size_t size)
{
    bool fresh;

    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = heap_alloc(n * size, &fresh);
    if (p && !fresh)
        memset(p, 0, n * size);
    return p;
}

void lvrt_free(void *p)
{
    if (!p)
        return;
    struct blk *b = block_of(p), *prev = NULL, *next = free_list;

    while (next && next < b) {
        prev = next;
        next = next->next;
    }
    b->next = next;
    if (next && (uintptr_t)b + b->size == (uintptr_t)next) { /* merge right */
        b->size += next->size;
        b->next = next->next;
    }
    if (prev && (uintptr_t)prev + prev->size == (uintptr_t)b) { /* merge left */
        prev->size += b->size;
        prev->next = b->next;
    } else if (prev) {
        prev->next = b;
    } else {
        free_list = b;
    }
}

void *lvrt_realloc(void *p, size_t size)
{
    if (!p)
        return lvrt_malloc(size);
    if (size == 0) {
        lvrt_free(p);
        return NULL;
    }
    struct blk *b = block_of(p);
    size_t have = b->size - sizeof(struct blk);
    if (size <= have)
        return p; /* shrinking keeps the block: simple and never fails */
    void *q = lvrt_malloc(size);
    if (q) {
        memcpy(q, p, have);
        lvrt_free(p);
    }
    return q;
}
