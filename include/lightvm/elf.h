/*
 * elf.h: validate and load an ELF64 x86-64 unikernel image.
 *
 * The image is untrusted input. lv_elf_check() validates every header,
 * segment and address against the guest RAM size before anything is
 * written; lv_elf_load() copies only what passed. Accepted: little-endian
 * ELF64, EM_X86_64, ET_EXEC, no PT_INTERP/PT_DYNAMIC, 1..LV_ELF_MAX_LOAD
 * non-overlapping PT_LOAD segments inside [LV_GPA_IMAGE_MIN, mem_size),
 * file ranges inside the file, filesz <= memsz, and an entry point inside
 * an executable segment.
 */
#ifndef LIGHTVM_ELF_H
#define LIGHTVM_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/mem.h"

#define LV_ELF_MAX_PHDRS 64
#define LV_ELF_MAX_LOAD 16
#define LV_IMAGE_MAX (256u << 20) /* largest image file read */

struct lv_elf_segment {
    uint64_t gpa;
    uint64_t offset;
    uint64_t filesz;
    uint64_t memsz;
};

struct lv_elf_info {
    uint64_t entry;
    uint64_t end; /* first page-aligned address past the highest segment */
    unsigned nload;
    struct lv_elf_segment seg[LV_ELF_MAX_LOAD];
};

/* Validates (img, size) for a guest of (mem_size) bytes and fills (info).
 * Returns 0, or -ENOEXEC (malformed or unsupported image) / -EFBIG (does
 * not fit the guest) with a message naming the bad field. */
int lv_elf_check(const uint8_t *img, size_t size, uint64_t mem_size, struct lv_elf_info *info,
                 struct lv_err *err);

/* lv_elf_check() against mem->size, then copies the segments into guest
 * RAM. Bytes between filesz and memsz are zeroed unless (ram_zeroed) says
 * the RAM is known to be all zero (a fresh memfd), which saves touching
 * pages the guest may never use. */
int lv_elf_load(const uint8_t *img, size_t size, struct lv_mem *mem, int ram_zeroed,
                struct lv_elf_info *info, struct lv_err *err);

/* Reads a whole image file (at most LV_IMAGE_MAX bytes). On success
 * *buf is malloc()ed and owned by the caller. */
int lv_image_read(const char *path, uint8_t **buf, size_t *size, struct lv_err *err);

/* Maps a whole image file read-only (MAP_PRIVATE: no copy; only the pages
 * the loader reads are faulted in, debug info is never touched), with
 * the checks of lv_image_read. Release with lv_image_unmap(*buf, *size). */
int lv_image_map(const char *path, const uint8_t **buf, size_t *size, struct lv_err *err);
void lv_image_unmap(const uint8_t *buf, size_t size);

#endif
