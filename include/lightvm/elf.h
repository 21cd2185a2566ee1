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
#include <time.h>

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

/*
 * An image file open for loading. The file is the user's: it may be a
 * FIFO or a device, and it may be truncated or rewritten while it is
 * loaded. lv_image_open() never blocks (O_NONBLOCK; anything but a
 * regular file of 1..LV_IMAGE_MAX bytes is refused, before and after the
 * open) and the image is never mapped: headers are pread() into private
 * memory and validated there, segments are pread() straight into guest
 * RAM, so a file that shrinks gives a short read (an error), never a
 * SIGBUS. A file whose size, mtime or ctime differs after the load from
 * what it was at open is refused as changed. Every message names the path.
 */
struct lv_image {
    int fd;                   /* owned; -1 when closed */
    const char *path;         /* the caller's string, kept for messages */
    uint64_t size;            /* st_size at open */
    struct timespec mtime, ctime;
    uint64_t checked_mem;     /* guest size (info) was validated for; 0: not yet */
    struct lv_elf_info info;  /* valid once checked_mem != 0 */
};

/* Opens (path) for reading without blocking. 0, or -errno (-ENOENT...,
 * -EINVAL not a regular file, -EFBIG size out of range) with a message
 * naming the path. (path) must outlive (im). Close with lv_image_close. */
int lv_image_open(const char *path, struct lv_image *im, struct lv_err *err);
/* As lv_image_open, for a file someone else opened: takes (fd) (closed on
 * failure too), checks it as lv_image_open does; (path) names it in
 * messages. */
int lv_image_open_fd(int fd, const char *path, struct lv_image *im, struct lv_err *err);
void lv_image_close(struct lv_image *im);

/* Reads the headers and runs lv_elf_check() on them for a guest of
 * (mem_size) bytes; the result is in im->info. 0 or -errno ("PATH: ..."). */
int lv_image_check(struct lv_image *im, uint64_t mem_size, struct lv_err *err);

/* Checks (if not yet done for mem->size) and copies the segments into
 * guest RAM (ram_zeroed as for lv_elf_load); then refuses the image if
 * the file changed since lv_image_open. 0 or -errno ("PATH: ..."). */
int lv_image_load(struct lv_image *im, struct lv_mem *mem, int ram_zeroed, struct lv_err *err);

#endif
