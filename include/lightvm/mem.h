/*
 * mem.h: guest RAM, backed by a memfd so it can later be snapshotted,
 * shared copy-on-write or handed to another process.
 *
 * Guest-physical addresses have their own type. Every access from host
 * code to guest memory goes through lv_mem_ptr(), which checks the whole
 * range [gpa, gpa + len) against the RAM size, overflow included: the
 * guest is hostile and any address it hands us may be garbage.
 */
#ifndef LIGHTVM_MEM_H
#define LIGHTVM_MEM_H

#include <fcntl.h> /* F_SEAL_* */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"

typedef uint64_t lv_gpa_t;

struct lv_mem {
    int fd;        /* memfd (or, when cow, the file mapped), owned; -1 when closed */
    uint8_t *base; /* host mapping of the whole RAM, owned */
    uint64_t size; /* bytes */
    int cow;       /* the RAM is a private copy-on-write mapping of (fd): a
                    * snapshot's memory file (lv_mem_map_file), not a memfd */
    /* The VMM's own writes into the RAM while dirty tracking is on
     * (lv_mem_dirty_begin .. lv_mem_dirty_end; lightvm/dirty.h). */
    atomic_int dirty_on;     /* marking is on */
    _Atomic uint64_t *dirty; /* one bit per 4 KiB page, owned; allocated by the
                              * first lv_mem_dirty_begin, freed by lv_mem_close */
};

/* The seals of the RAM's memfd, added at creation (with F_SEAL_SEAL): its
 * size never changes, so a process it is passed to (lv_mig_send_local)
 * can map it without fearing a SIGBUS from a shrink. */
#define LV_MEM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* Creates (size) bytes of zeroed guest RAM: a memfd (sealed: LV_MEM_SEALS)
 * mapped shared.
 * (size) must be a non-zero multiple of the page size. On success the
 * caller owns (mem) and releases it with lv_mem_close(). */
int lv_mem_open(struct lv_mem *mem, uint64_t size, struct lv_err *err);

/* Allocates the host pages behind [gpa, gpa + len) now (one
 * MADV_POPULATE_WRITE; contents stay zero), so that writing them later
 * costs no page faults. For a VM shell: pages every boot writes. */
int lv_mem_populate(struct lv_mem *mem, lv_gpa_t gpa, uint64_t len, struct lv_err *err);

/* Replaces the RAM by a private, copy-on-write mapping of (fd) (a
 * snapshot's memory file of at least mem->size bytes), at the same host
 * address (MAP_FIXED), so that KVM's memslot follows without a change.
 * On success (mem) owns (fd), the memfd is closed (its pages freed) and
 * mem->cow is set. On failure (fd) stays the caller's and the RAM may be
 * gone (the range unmapped): (mem) is then only good for lv_mem_close. */
int lv_mem_map_file(struct lv_mem *mem, int fd, struct lv_err *err);

/* Replaces the RAM by a shared mapping of (fd) (another VM's RAM memfd,
 * passed by lv_mig_send_local: the caller checked it is a memfd of
 * mem->size bytes sealed against resizing) at the same host address
 * (MAP_FIXED: KVM's memslot follows without a change). On success (mem)
 * owns (fd), the old memfd is closed and mem->cow is 0 (the RAM is a
 * plain memfd again: saves and migrations see every page in it). On
 * failure (fd) stays the caller's and (mem) is only good for
 * lv_mem_close. */
int lv_mem_map_shared(struct lv_mem *mem, int fd, struct lv_err *err);

/* Unmaps and closes; safe on a closed or zeroed struct. */
void lv_mem_close(struct lv_mem *mem);

/* Returns the host address of [gpa, gpa + len) when the whole range lies
 * inside (mem), else NULL. len 0 is valid when gpa <= size. The pointer is
 * borrowed: valid until lv_mem_close(). */
void *lv_mem_ptr(const struct lv_mem *mem, lv_gpa_t gpa, uint64_t len);

/* ---- The VMM's writes into guest RAM (dirty tracking) ----
 * Every host write into guest RAM while the VM may run (device rings and
 * buffers, the boot info) calls lv_mem_mark_dirty AFTER the write, so
 * that a collector that takes the bit also sees the new contents. Off,
 * that costs one relaxed atomic load; on, one atomic OR per page. Reads
 * never mark. A write racing with lv_mem_dirty_begin may go unmarked
 * (its flag load is not ordered after the begin); it is not lost to a
 * migration, whose first full copy of the RAM reads every page after
 * lv_vm_dirty_start returns, i.e. after a memslot update that waits for
 * an SRCU grace period, long after any such write reached memory. */

#define LV_DIRTY_PAGE 4096u

/* Turns marking on, with a clear bitmap (allocated on first use: one bit
 * per page of mem->size). For one controlling thread; writers may run.
 * 0 or -ENOMEM with (err). */
int lv_mem_dirty_begin(struct lv_mem *mem, struct lv_err *err);
/* Turns marking off; the bitmap stays (a writer may still be marking)
 * until lv_mem_close. */
void lv_mem_dirty_end(struct lv_mem *mem);
/* Words (uint64_t) of a bitmap of (mem): one bit per LV_DIRTY_PAGE. */
size_t lv_mem_dirty_words(const struct lv_mem *mem);
/* Takes the VMM's marks (one atomic exchange per word, so no mark is
 * lost to a concurrent writer), ORs them into (bitmap)
 * (lv_mem_dirty_words words) and returns how many bits were newly set
 * there. 0 when marking never began. */
long lv_mem_dirty_take(struct lv_mem *mem, uint64_t *bitmap);
/* The slow path of lv_mem_mark_dirty: marks the pages of [gpa, gpa + len)
 * (ignored unless inside the RAM). */
void lv_mem_mark_range(const struct lv_mem *mem, lv_gpa_t gpa, uint64_t len);

/* After the VMM wrote [gpa, gpa + len) of guest RAM. Any thread. (mem)
 * is const for the writers that borrow it: the marks are not its RAM. */
static inline void lv_mem_mark_dirty(const struct lv_mem *mem, lv_gpa_t gpa, uint64_t len)
{
    if (atomic_load_explicit(&mem->dirty_on, memory_order_relaxed))
        lv_mem_mark_range(mem, gpa, len);
}

/* The same check on a bare RAM size, for code that has no lv_mem. */
int lv_range_ok(uint64_t size, uint64_t gpa, uint64_t len);

#endif
