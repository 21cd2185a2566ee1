/*
 * bench_image.c: what loading an image file costs, the way the VMM does it
 * (lv_image_open, lv_image_check, lv_image_load: pread, never mapped) next
 * to the way it did before (open, mmap, lv_elf_load from the mapping,
 * munmap), interleaved, into the same 8 MiB of populated guest RAM.
 *
 *   bench_image IMAGE [N]
 *
 * No KVM, no root.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/elf.h"
#include "stats.h"

/* The former way: 0 or -1. */
static int load_mapped(const char *path, struct lv_mem *mem, struct lv_err *err)
{
    struct lv_elf_info info;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    void *p;

    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    rc = lv_elf_load(p, (size_t)st.st_size, mem, 1, &info, err);
    munmap(p, (size_t)st.st_size);
    return rc;
}

static int load_read(const char *path, struct lv_mem *mem, struct lv_err *err)
{
    struct lv_image im;
    int rc = lv_image_open(path, &im, err);

    if (!rc)
        rc = lv_image_check(&im, mem->size, err);
    if (!rc)
        rc = lv_image_load(&im, mem, 1, err);
    lv_image_close(&im);
    return rc;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    struct lv_err err = {""};
    struct lv_mem mem;

    if (argc < 2 || n < 1 || n > 1000000) {
        fprintf(stderr, "usage: bench_image IMAGE [N]\n");
        return 2;
    }
    double *mapped = calloc((size_t)n, sizeof(double)), *read = calloc((size_t)n, sizeof(double));
    if (!mapped || !read || lv_mem_open(&mem, 8u << 20, &err) < 0) {
        fprintf(stderr, "bench_image: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    memset(lv_mem_ptr(&mem, 0, mem.size), 0, mem.size); /* populated, as in a shell */
    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        if (load_mapped(argv[1], &mem, &err) < 0)
            break;
        double t1 = bench_now_us();
        if (load_read(argv[1], &mem, &err) < 0)
            break;
        mapped[i] = t1 - t0;
        read[i] = bench_now_us() - t1;
    }
    if (err.msg[0]) {
        fprintf(stderr, "bench_image: %s\n", err.msg);
        return 1;
    }
    printf("bench_image: %s, %d loads each way, interleaved\n", argv[1], n);
    bench_report("open, mmap, check and copy (before)", mapped, n);
    bench_report("open, pread check, pread load (now)", read, n);
    lv_mem_close(&mem);
    free(mapped);
    free(read);
    return 0;
}
