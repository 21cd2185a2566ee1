/* elf.c: validation and loading of ELF64 unikernel images (untrusted). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "lightvm/elf.h"

static int check_ehdr(const Elf64_Ehdr *eh, size_t size, struct lv_err *err)
{
    uint64_t ph_bytes, ph_end;

    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return lv_err_set(err, ENOEXEC, "not an ELF file (bad magic)");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64)
        return lv_err_set(err, ENOEXEC, "not a 64-bit ELF (class %u)", eh->e_ident[EI_CLASS]);
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return lv_err_set(err, ENOEXEC, "not a little-endian ELF");
    if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
        return lv_err_set(err, ENOEXEC, "unknown ELF version %u", eh->e_version);
    if (eh->e_machine != EM_X86_64)
        return lv_err_set(err, ENOEXEC, "wrong machine %u (want x86-64, %u)", eh->e_machine,
                          EM_X86_64);
    if (eh->e_type != ET_EXEC)
        return lv_err_set(err, ENOEXEC, "ELF type %u is not a static executable (ET_EXEC)",
                          eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return lv_err_set(err, ENOEXEC, "program header size %u (want %zu)", eh->e_phentsize,
                          sizeof(Elf64_Phdr));
    if (eh->e_phnum == 0 || eh->e_phnum > LV_ELF_MAX_PHDRS)
        return lv_err_set(err, ENOEXEC, "%u program headers (want 1..%d)", eh->e_phnum,
                          LV_ELF_MAX_PHDRS);
    ph_bytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (__builtin_add_overflow(eh->e_phoff, ph_bytes, &ph_end) || ph_end > size)
        return lv_err_set(err, ENOEXEC, "program headers at offset 0x%llx run past the end of "
                          "the file (%zu bytes)", (unsigned long long)eh->e_phoff, size);
    return 0;
}

static int check_load(const Elf64_Phdr *ph, unsigned idx, size_t size, uint64_t mem_size,
                      struct lv_elf_segment *seg, struct lv_err *err)
{
    uint64_t file_end, mem_end;

    if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &file_end) || file_end > size)
        return lv_err_set(err, ENOEXEC, "segment %u: file range 0x%llx+0x%llx runs past the end "
                          "of the file (%zu bytes)", idx, (unsigned long long)ph->p_offset,
                          (unsigned long long)ph->p_filesz, size);
    if (ph->p_filesz > ph->p_memsz)
        return lv_err_set(err, ENOEXEC, "segment %u: filesz 0x%llx > memsz 0x%llx", idx,
                          (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
    if (ph->p_paddr != ph->p_vaddr)
        return lv_err_set(err, ENOEXEC, "segment %u: paddr 0x%llx != vaddr 0x%llx (guest is "
                          "identity mapped)", idx, (unsigned long long)ph->p_paddr,
                          (unsigned long long)ph->p_vaddr);
    if (__builtin_add_overflow(ph->p_vaddr, ph->p_memsz, &mem_end) || mem_end > mem_size)
        return lv_err_set(err, EFBIG, "segment %u: 0x%llx+0x%llx does not fit in %llu MiB of "
                          "guest memory", idx, (unsigned long long)ph->p_vaddr,
                          (unsigned long long)ph->p_memsz,
                          (unsigned long long)(mem_size >> 20));
    if (ph->p_vaddr < LV_GPA_IMAGE_MIN) {
        const char *what = "reserved low memory";
        if (ph->p_vaddr < LV_GPA_BOOTINFO + LV_PAGE_SIZE && mem_end > LV_GPA_BOOTINFO)
            what = "the boot info page";
        return lv_err_set(err, ENOEXEC, "segment %u: 0x%llx+0x%llx overlaps %s (images load at "
                          "or above 0x%x)", idx, (unsigned long long)ph->p_vaddr,
                          (unsigned long long)ph->p_memsz, what, LV_GPA_IMAGE_MIN);
    }
    seg->gpa = ph->p_vaddr;
    seg->offset = ph->p_offset;
    seg->filesz = ph->p_filesz;
    seg->memsz = ph->p_memsz;
    return 0;
}

/* Validates the program headers (ph: eh->e_phnum of them, unaligned) of
 * a file of (size) bytes whose ELF header passed check_ehdr. */
static int check_segments(const Elf64_Ehdr *ehp, const uint8_t *phs, uint64_t size,
                          uint64_t mem_size, struct lv_elf_info *info, struct lv_err *err)
{
    const Elf64_Ehdr eh = *ehp;
    int entry_ok = 0;
    int rc;

    memset(info, 0, sizeof(*info));
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        struct lv_elf_segment *seg;

        memcpy(&ph, phs + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
            return lv_err_set(err, ENOEXEC, "segment %u: dynamically linked images are not "
                              "supported", i);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (info->nload == LV_ELF_MAX_LOAD)
            return lv_err_set(err, ENOEXEC, "more than %d loadable segments", LV_ELF_MAX_LOAD);
        seg = &info->seg[info->nload];
        rc = check_load(&ph, i, size, mem_size, seg, err);
        if (rc)
            return rc;
        for (unsigned j = 0; j < info->nload; j++) {
            const struct lv_elf_segment *o = &info->seg[j];
            if (seg->gpa < o->gpa + o->memsz && o->gpa < seg->gpa + seg->memsz)
                return lv_err_set(err, ENOEXEC, "segment %u at 0x%llx overlaps another loadable "
                                  "segment at 0x%llx", i, (unsigned long long)seg->gpa,
                                  (unsigned long long)o->gpa);
        }
        if ((ph.p_flags & PF_X) && eh.e_entry >= seg->gpa && eh.e_entry - seg->gpa < seg->memsz)
            entry_ok = 1;
        if (seg->gpa + seg->memsz > info->end)
            info->end = seg->gpa + seg->memsz;
        info->nload++;
    }
    if (info->nload == 0)
        return lv_err_set(err, ENOEXEC, "no loadable segment");
    if (!entry_ok)
        return lv_err_set(err, ENOEXEC, "entry point 0x%llx is not inside an executable segment",
                          (unsigned long long)eh.e_entry);
    info->entry = eh.e_entry;
    /* end <= mem_size, and mem_size is page aligned, so this cannot wrap. */
    info->end = (info->end + LV_PAGE_SIZE - 1) & ~(uint64_t)(LV_PAGE_SIZE - 1);
    return 0;
}

int lv_elf_check(const uint8_t *img, size_t size, uint64_t mem_size, struct lv_elf_info *info,
                 struct lv_err *err)
{
    Elf64_Ehdr eh;
    int rc;

    memset(info, 0, sizeof(*info));
    if (size < sizeof(eh))
        return lv_err_set(err, ENOEXEC, "file too short for an ELF header (%zu bytes)", size);
    memcpy(&eh, img, sizeof(eh)); /* no alignment assumption on (img) */
    rc = check_ehdr(&eh, size, err);
    if (rc)
        return rc;
    return check_segments(&eh, img + eh.e_phoff, size, mem_size, info, err);
}

int lv_elf_load(const uint8_t *img, size_t size, struct lv_mem *mem, int ram_zeroed,
                struct lv_elf_info *info, struct lv_err *err)
{
    int rc = lv_elf_check(img, size, mem->size, info, err);

    if (rc)
        return rc;
    for (unsigned i = 0; i < info->nload; i++) {
        const struct lv_elf_segment *s = &info->seg[i];
        uint8_t *dst = lv_mem_ptr(mem, s->gpa, s->memsz);

        if (!dst) /* lv_elf_check() proved the range; keep the invariant local */
            return lv_err_set(err, EFAULT, "segment %u outside guest memory", i);
        memcpy(dst, img + s->offset, s->filesz);
        if (!ram_zeroed)
            memset(dst + s->filesz, 0, s->memsz - s->filesz);
        lv_mem_mark_dirty(mem, s->gpa, s->memsz);
    }
    return 0;
}

/* ---- image files ---- */

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* A regular file of 1..LV_IMAGE_MAX bytes, or -errno naming (path). */
static int check_stat(const char *path, const struct stat *st, struct lv_err *err)
{
    if (!S_ISREG(st->st_mode))
        return lv_err_set(err, EINVAL, "%s: not a regular file (%s)", path,
                          file_kind(st->st_mode));
    if (st->st_size <= 0 || (uint64_t)st->st_size > LV_IMAGE_MAX)
        return lv_err_set(err, EFBIG, "%s: size %lld is not in 1..%u bytes", path,
                          (long long)st->st_size, LV_IMAGE_MAX);
    return 0;
}

/* (im->fd) is open: it must still be a regular file of a size we take. */
static int adopt_fd(struct lv_image *im, struct lv_err *err)
{
    struct stat st;
    int rc;

    if (fstat(im->fd, &st) < 0)
        rc = lv_err_set(err, errno, "%s: %s", im->path, strerror(errno));
    else
        rc = check_stat(im->path, &st, err);
    if (rc < 0) {
        lv_image_close(im);
        return rc;
    }
    im->size = (uint64_t)st.st_size;
    im->mtime = st.st_mtim;
    im->ctime = st.st_ctim;
    return 0;
}

int lv_image_open(const char *path, struct lv_image *im, struct lv_err *err)
{
    struct stat st;
    int rc;

    memset(im, 0, sizeof(*im));
    im->fd = -1;
    im->path = path;
    /* stat first: a FIFO or a device is refused without being opened at
     * all; the fstat below covers a file swapped in between. */
    if (stat(path, &st) < 0)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    if ((rc = check_stat(path, &st, err)) < 0)
        return rc;
    im->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (im->fd < 0)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    return adopt_fd(im, err);
}

int lv_image_open_fd(int fd, const char *path, struct lv_image *im, struct lv_err *err)
{
    memset(im, 0, sizeof(*im));
    im->fd = fd;
    im->path = path;
    if (fd < 0)
        return lv_err_set(err, EBADF, "%s: no file descriptor", path);
    return adopt_fd(im, err);
}

void lv_image_close(struct lv_image *im)
{
    if (im->fd >= 0)
        close(im->fd);
    im->fd = -1;
}

/* Reads exactly (len) bytes at (off): 0, or -errno naming the path (a
 * short read means the file shrank after it was opened). */
static int read_at(const struct lv_image *im, void *buf, uint64_t len, uint64_t off,
                   struct lv_err *err)
{
    uint64_t done = 0;

    while (done < len) {
        ssize_t n = pread(im->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lv_err_set(err, errno, "%s: read at offset %llu: %s", im->path,
                              (unsigned long long)(off + done), strerror(errno));
        if (n == 0)
            return lv_err_set(err, EIO, "%s: changed while being loaded (a read at offset "
                              "%llu found its end; it had %llu bytes when opened)", im->path,
                              (unsigned long long)(off + done), (unsigned long long)im->size);
        done += (uint64_t)n;
    }
    return 0;
}

int lv_image_check(struct lv_image *im, uint64_t mem_size, struct lv_err *err)
{
    /* the ELF header and LV_ELF_MAX_PHDRS program headers, wherever they are */
    uint8_t hdr[sizeof(Elf64_Ehdr) + LV_ELF_MAX_PHDRS * sizeof(Elf64_Phdr)];
    uint8_t *ph = hdr + sizeof(Elf64_Ehdr);
    uint64_t first = im->size < sizeof(hdr) ? im->size : sizeof(hdr);
    Elf64_Ehdr eh;
    int rc;

    im->checked_mem = 0;
    if (im->fd < 0)
        return lv_err_set(err, EBADF, "%s: not open", im->path);
    if ((rc = read_at(im, hdr, first, 0, err)) < 0)
        return rc;
    if (first < sizeof(eh))
        return lv_err_set(err, ENOEXEC, "%s: file too short for an ELF header (%llu bytes)",
                          im->path, (unsigned long long)first);
    memcpy(&eh, hdr, sizeof(eh));
    if ((rc = check_ehdr(&eh, im->size, err)) < 0)
        goto named;
    /* check_ehdr bounded e_phnum and put the headers inside the file */
    if (eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr) <= first)
        ph = hdr + eh.e_phoff;
    else if ((rc = read_at(im, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff, err)) < 0)
        return rc;
    if ((rc = check_segments(&eh, ph, im->size, mem_size, &im->info, err)) < 0)
        goto named;
    im->checked_mem = mem_size;
    return 0;

named: {
        char why[LV_ERR_MAX];
        snprintf(why, sizeof(why), "%s", err ? err->msg : "");
        return lv_err_set(err, -rc, "%s: %s", im->path, why);
    }
}

int lv_image_load(struct lv_image *im, struct lv_mem *mem, int ram_zeroed, struct lv_err *err)
{
    struct stat st;
    int rc;

    if (im->checked_mem != mem->size && (rc = lv_image_check(im, mem->size, err)) < 0)
        return rc;
    for (unsigned i = 0; i < im->info.nload; i++) {
        const struct lv_elf_segment *s = &im->info.seg[i];
        uint8_t *dst = lv_mem_ptr(mem, s->gpa, s->memsz);

        if (!dst) /* lv_image_check() proved the range; keep the invariant local */
            return lv_err_set(err, EFAULT, "%s: segment %u outside guest memory", im->path, i);
        if ((rc = read_at(im, dst, s->filesz, s->offset, err)) < 0)
            return rc;
        if (!ram_zeroed)
            memset(dst + s->filesz, 0, s->memsz - s->filesz);
        lv_mem_mark_dirty(mem, s->gpa, s->memsz);
    }
    if (fstat(im->fd, &st) < 0)
        return lv_err_set(err, errno, "%s: %s", im->path, strerror(errno));
    if ((uint64_t)st.st_size != im->size || st.st_mtim.tv_sec != im->mtime.tv_sec ||
        st.st_mtim.tv_nsec != im->mtime.tv_nsec || st.st_ctim.tv_sec != im->ctime.tv_sec ||
        st.st_ctim.tv_nsec != im->ctime.tv_nsec)
        return lv_err_set(err, EIO, "%s: changed while being loaded (%lld bytes now, %llu when "
                          "opened)", im->path, (long long)st.st_size,
                          (unsigned long long)im->size);
    return 0;
}
