/* mem.c: memfd-backed guest RAM and checked guest-physical access. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lightvm/mem.h"

int lv_range_ok(uint64_t size, uint64_t gpa, uint64_t len)
{
    uint64_t end;

    if (__builtin_add_overflow(gpa, len, &end))
        return 0;
    return end <= size;
}

void *lv_mem_ptr(const struct lv_mem *mem, lv_gpa_t gpa, uint64_t len)
{
    if (!mem->base || !lv_range_ok(mem->size, gpa, len))
        return NULL;
    return mem->base + gpa;
}

int lv_mem_open(struct lv_mem *mem, uint64_t size, struct lv_err *err)
{
    long page = sysconf(_SC_PAGESIZE);
    int rc;

    mem->fd = -1;
    mem->base = NULL;
    mem->size = 0;
    mem->cow = 0;
    atomic_init(&mem->dirty_on, 0);
    mem->dirty = NULL;
    if (size == 0 || size % (uint64_t)page)
        return lv_err_set(err, EINVAL, "guest memory size %llu is not a multiple of %ld",
                          (unsigned long long)size, page);

    mem->fd = memfd_create("lightvm-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mem->fd < 0)
        return lv_err_set(err, errno, "memfd_create: %s", strerror(errno));
    if (ftruncate(mem->fd, (off_t)size) < 0 ||
        fcntl(mem->fd, F_ADD_SEALS, LV_MEM_SEALS | F_SEAL_SEAL) < 0) {
        rc = lv_err_set(err, errno, "guest memory of %llu bytes: %s",
                        (unsigned long long)size, strerror(errno));
        goto out_close_fd;
    }
    mem->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
    if (mem->base == MAP_FAILED) {
        mem->base = NULL;
        rc = lv_err_set(err, errno, "mmap guest memory: %s", strerror(errno));
        goto out_close_fd;
    }
    mem->size = size;
    return 0;

out_close_fd:
    close(mem->fd);
    mem->fd = -1;
    return rc;
}

int lv_mem_populate(struct lv_mem *mem, lv_gpa_t gpa, uint64_t len, struct lv_err *err)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
    void *p = lv_mem_ptr(mem, gpa, len);

    if (!p || (gpa | len) % 4096)
        return lv_err_set(err, EINVAL, "populate 0x%llx+0x%llx: not page-aligned guest RAM",
                          (unsigned long long)gpa, (unsigned long long)len);
    if (len && madvise(p, len, MADV_POPULATE_WRITE) < 0)
        return lv_err_set(err, errno, "madvise(MADV_POPULATE_WRITE): %s", strerror(errno));
    return 0;
}

/* (fd) mapped over the RAM at its address, MAP_PRIVATE when (cow), else
 * MAP_SHARED; the RAM's fd is then (fd). (what) names the file. */
static int map_over(struct lv_mem *mem, int fd, int cow, const char *what, struct lv_err *err)
{
    void *p;

    if (!mem->base)
        return lv_err_set(err, EINVAL, "guest memory is not mapped");
    p = mmap(mem->base, mem->size, PROT_READ | PROT_WRITE,
             (cow ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED)
        return lv_err_set(err, errno, "mmap %s: %s", what, strerror(errno));
    if (mem->fd >= 0)
        close(mem->fd);
    mem->fd = fd;
    mem->cow = cow;
    lv_mem_mark_dirty(mem, 0, mem->size); /* every page may have changed */
    return 0;
}

int lv_mem_map_file(struct lv_mem *mem, int fd, struct lv_err *err)
{
    return map_over(mem, fd, 1, "the snapshot's memory file", err);
}

int lv_mem_map_shared(struct lv_mem *mem, int fd, struct lv_err *err)
{
    return map_over(mem, fd, 0, "the guest memory passed in", err);
}

void lv_mem_close(struct lv_mem *mem)
{
    if (mem->base)
        munmap(mem->base, mem->size);
    if (mem->fd >= 0)
        close(mem->fd);
    atomic_store(&mem->dirty_on, 0);
    free((void *)mem->dirty); /* no writer runs any more: the RAM is gone */
    mem->base = NULL;
    mem->fd = -1;
    mem->size = 0;
    mem->cow = 0;
    mem->dirty = NULL;
}

/* ---- The VMM's writes (dirty tracking) ---- */

size_t lv_mem_dirty_words(const struct lv_mem *mem)
{
    uint64_t pages = (mem->size + LV_DIRTY_PAGE - 1) / LV_DIRTY_PAGE;

    return (size_t)((pages + 63) / 64);
}

int lv_mem_dirty_begin(struct lv_mem *mem, struct lv_err *err)
{
    size_t i, n = lv_mem_dirty_words(mem);

    if (!mem->dirty) {
        mem->dirty = calloc(n ? n : 1, sizeof(*mem->dirty));
        if (!mem->dirty)
            return lv_err_set(err, ENOMEM, "dirty bitmap of %zu words: out of memory", n);
    }
    for (i = 0; i < n; i++)
        atomic_store_explicit(&mem->dirty[i], 0, memory_order_relaxed);
    /* Release: a writer that sees the flag (then an acquire fence) sees
     * the bitmap and its clearing. */
    atomic_store_explicit(&mem->dirty_on, 1, memory_order_release);
    return 0;
}

void lv_mem_dirty_end(struct lv_mem *mem)
{
    atomic_store_explicit(&mem->dirty_on, 0, memory_order_relaxed);
}

void lv_mem_mark_range(const struct lv_mem *mem, lv_gpa_t gpa, uint64_t len)
{
    uint64_t p, last;

    atomic_thread_fence(memory_order_acquire); /* pairs with lv_mem_dirty_begin */
    if (!mem->dirty || len == 0 || !lv_range_ok(mem->size, gpa, len))
        return;
    last = (gpa + len - 1) / LV_DIRTY_PAGE;
    /* Release: whoever takes the bit sees the write made before the mark. */
    for (p = gpa / LV_DIRTY_PAGE; p <= last; p++)
        atomic_fetch_or_explicit(&mem->dirty[p / 64], 1ull << (p % 64), memory_order_release);
}

long lv_mem_dirty_take(struct lv_mem *mem, uint64_t *bitmap)
{
    size_t i, n = lv_mem_dirty_words(mem);
    long added = 0;
    uint64_t w;

    if (!mem->dirty)
        return 0;
    for (i = 0; i < n; i++) {
        if (!atomic_load_explicit(&mem->dirty[i], memory_order_relaxed))
            continue;
        w = atomic_exchange_explicit(&mem->dirty[i], 0, memory_order_acq_rel);
        added += __builtin_popcountll(w & ~bitmap[i]);
        bitmap[i] |= w;
    }
    return added;
}
