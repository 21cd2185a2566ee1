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
};

/* Creates (size) bytes of zeroed guest RAM: a memfd mapped shared.
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

/* Unmaps and closes; safe on a closed or zeroed struct. */
void lv_mem_close(struct lv_mem *mem);

/* Returns the host address of [gpa, gpa + len) when the whole range lies
 * inside (mem), else NULL. len 0 is valid when gpa <= size. The pointer is
 * borrowed: valid until lv_mem_close(). */
void *lv_mem_ptr(const struct lv_mem *mem, lv_gpa_t gpa, uint64_t len);

/* The same check on a bare RAM size, for code that has no lv_mem. */
int lv_range_ok(uint64_t size, uint64_t gpa, uint64_t len);

#endif
