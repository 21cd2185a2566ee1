/* test_elf.c: the ELF validator refuses every malformed image we can think
 * of with a message naming the problem, and loads a valid one exactly. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "elfgen.h"
#include "lightvm/elf.h"
#include "lvtest.h"

#define MEM (4u << 20)

typedef void (*mutate_fn)(struct elfgen *g);

static void m_truncated_header(struct elfgen *g) { g->size = 20; }
static void m_truncated_segment(struct elfgen *g) { g->size = ELFGEN_CODE_OFF + 0x10; }
static void m_bad_magic(struct elfgen *g) { g->buf[1] = 'X'; }
static void m_class32(struct elfgen *g) { g->buf[EI_CLASS] = ELFCLASS32; }
static void m_big_endian(struct elfgen *g) { g->buf[EI_DATA] = ELFDATA2MSB; }
static void m_machine(struct elfgen *g) { elfgen_ehdr(g)->e_machine = EM_AARCH64; }
static void m_dyn(struct elfgen *g) { elfgen_ehdr(g)->e_type = ET_DYN; }
static void m_phentsize(struct elfgen *g) { elfgen_ehdr(g)->e_phentsize = 40; }
static void m_phnum0(struct elfgen *g) { elfgen_ehdr(g)->e_phnum = 0; }
static void m_phnum_huge(struct elfgen *g) { elfgen_ehdr(g)->e_phnum = 0xffff; }
static void m_phoff_overflow(struct elfgen *g) { elfgen_ehdr(g)->e_phoff = ~0ull - 8; }
static void m_outside_mem(struct elfgen *g)
{
    elfgen_phdr(g, 0)->p_vaddr = elfgen_phdr(g, 0)->p_paddr = MEM - 0x1000;
    elfgen_ehdr(g)->e_entry = MEM - 0x1000;
}
static void m_huge_memsz(struct elfgen *g) { elfgen_phdr(g, 0)->p_memsz = 1ull << 62; }
static void m_wrapping_memsz(struct elfgen *g) { elfgen_phdr(g, 0)->p_memsz = ~0ull - 0x1000; }
static void m_huge_filesz(struct elfgen *g) { elfgen_phdr(g, 0)->p_filesz = 1ull << 40; }
static void m_offset_overflow(struct elfgen *g) { elfgen_phdr(g, 0)->p_offset = ~0ull - 4; }
static void m_filesz_gt_memsz(struct elfgen *g) { elfgen_phdr(g, 0)->p_memsz = 0x10; }
static void m_bootinfo(struct elfgen *g)
{
    elfgen_phdr(g, 0)->p_vaddr = elfgen_phdr(g, 0)->p_paddr = LV_GPA_BOOTINFO;
    elfgen_ehdr(g)->e_entry = LV_GPA_BOOTINFO;
}
static void m_low(struct elfgen *g)
{
    elfgen_phdr(g, 0)->p_vaddr = elfgen_phdr(g, 0)->p_paddr = 0x20000;
    elfgen_ehdr(g)->e_entry = 0x20000;
}
static void m_paddr(struct elfgen *g) { elfgen_phdr(g, 0)->p_paddr = 0x200000; }
static void m_entry_outside(struct elfgen *g) { elfgen_ehdr(g)->e_entry = 0x300000; }
static void m_entry_noexec(struct elfgen *g) { elfgen_phdr(g, 0)->p_flags = PF_R | PF_W; }
static void m_interp(struct elfgen *g) { elfgen_phdr(g, 1)->p_type = PT_INTERP; }
static void m_no_load(struct elfgen *g) { elfgen_phdr(g, 0)->p_type = PT_NOTE; }
static void m_overlap(struct elfgen *g)
{
    *elfgen_phdr(g, 1) = *elfgen_phdr(g, 0);
    elfgen_phdr(g, 1)->p_vaddr = elfgen_phdr(g, 1)->p_paddr = ELFGEN_BASE + 0x1000;
}

static const struct {
    const char *name;
    mutate_fn fn;
    const char *msg; /* a substring the error must contain */
} cases[] = {
    {"truncated header", m_truncated_header, "too short"},
    {"truncated segment", m_truncated_segment, "past the end of the file"},
    {"bad magic", m_bad_magic, "bad magic"},
    {"32-bit", m_class32, "64-bit"},
    {"big endian", m_big_endian, "little-endian"},
    {"wrong machine", m_machine, "wrong machine"},
    {"ET_DYN", m_dyn, "ET_EXEC"},
    {"phentsize", m_phentsize, "program header size"},
    {"no program headers", m_phnum0, "program headers"},
    {"too many program headers", m_phnum_huge, "program headers"},
    {"phoff overflow", m_phoff_overflow, "past the end"},
    {"segment outside memory", m_outside_mem, "does not fit"},
    {"huge memsz", m_huge_memsz, "does not fit"},
    {"wrapping memsz", m_wrapping_memsz, "does not fit"},
    {"huge filesz", m_huge_filesz, "past the end of the file"},
    {"offset overflow", m_offset_overflow, "past the end of the file"},
    {"filesz > memsz", m_filesz_gt_memsz, "filesz"},
    {"overlaps boot info", m_bootinfo, "boot info page"},
    {"low memory", m_low, "reserved low memory"},
    {"paddr != vaddr", m_paddr, "paddr"},
    {"entry outside", m_entry_outside, "entry point"},
    {"entry not executable", m_entry_noexec, "entry point"},
    {"PT_INTERP", m_interp, "dynamically linked"},
    {"no PT_LOAD", m_no_load, "no loadable segment"},
    {"overlapping segments", m_overlap, "overlaps another"},
};

static void test_valid_load(void)
{
    struct elfgen g;
    struct lv_elf_info info;
    struct lv_err err = {""};
    struct lv_mem mem;
    uint8_t *p;

    elfgen_valid(&g);
    CHECK(lv_elf_check(g.buf, g.size, MEM, &info, &err) == 0, "valid image refused: %s", err.msg);
    CHECK(info.entry == ELFGEN_BASE, "entry 0x%llx", (unsigned long long)info.entry);
    CHECK(info.nload == 1, "nload %u", info.nload);
    CHECK(info.end == ELFGEN_BASE + 0x2000, "end 0x%llx", (unsigned long long)info.end);

    CHECK(lv_mem_open(&mem, MEM, &err) == 0, "lv_mem_open: %s", err.msg);
    p = lv_mem_ptr(&mem, ELFGEN_BASE, 0x2000);
    memset(p, 0xaa, 0x2000); /* dirty RAM: the loader must zero .bss */
    CHECK(lv_elf_load(g.buf, g.size, &mem, 0, &info, &err) == 0, "load: %s", err.msg);
    CHECK(memcmp(p, g.buf + ELFGEN_CODE_OFF, 0x100) == 0, "segment bytes differ");
    CHECK(p[0x100] == 0 && p[0x1fff] == 0, "bss not zeroed");
    lv_mem_close(&mem);
}

static void test_mem_ranges(void)
{
    struct lv_mem mem;
    struct lv_err err = {""};

    CHECK(lv_mem_open(&mem, 12345, &err) < 0, "unaligned size accepted");
    CHECK(lv_mem_open(&mem, MEM, &err) == 0, "%s", err.msg);
    CHECK(lv_mem_ptr(&mem, 0, MEM) != NULL, "whole RAM refused");
    CHECK(lv_mem_ptr(&mem, MEM, 0) != NULL, "empty range at the end refused");
    CHECK(lv_mem_ptr(&mem, MEM, 1) == NULL, "byte past the end accepted");
    CHECK(lv_mem_ptr(&mem, MEM - 4, 8) == NULL, "range across the end accepted");
    CHECK(lv_mem_ptr(&mem, ~0ull, 2) == NULL, "wrapping range accepted");
    CHECK(lv_mem_ptr(&mem, 16, ~0ull) == NULL, "wrapping length accepted");
    lv_mem_close(&mem);
    lv_mem_close(&mem); /* idempotent */
}

/* ---- image files (lv_image_*) ---- */

static char tdir[] = "/tmp/lightvm-test-elf-XXXXXX";

static const char *tpath(const char *name)
{
    static char p[128];
    snprintf(p, sizeof(p), "%s/%s", tdir, name);
    return p;
}

/* Writes (g) to tpath(name) with an mtime in 1970, so that any later
 * write shows as a changed mtime whatever the clock's granularity. */
static const char *write_image(const char *name, const struct elfgen *g)
{
    const char *path = tpath(name);
    const struct timespec old[2] = {{1, 0}, {1, 0}};

    unlink(path);
    CHECK(lvt_write_file(path, g->buf, g->size) == 0, "cannot write %s", path);
    CHECK(utimensat(AT_FDCWD, path, old, 0) == 0, "utimensat %s: %s", path, strerror(errno));
    return path;
}

/* A message that names the path and says (what). */
static void check_msg(const char *what_case, const struct lv_err *err, const char *path,
                      const char *what)
{
    CHECK(strstr(err->msg, path) == err->msg && strstr(err->msg, what),
          "%s: message '%s' does not start with '%s' or lacks '%s'", what_case, err->msg, path,
          what);
}

/* Every malformed image of (cases) is refused from a file as from memory. */
static void test_image_cases(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct elfgen g;
        struct lv_image im;
        struct lv_err err = {""};

        elfgen_valid(&g);
        cases[i].fn(&g);
        const char *path = write_image("case.elf", &g);
        CHECK(lv_image_open(path, &im, &err) == 0, "%s: open: %s", cases[i].name, err.msg);
        CHECK(lv_image_check(&im, MEM, &err) < 0, "%s: accepted from a file", cases[i].name);
        check_msg(cases[i].name, &err, path, cases[i].msg);
        lv_image_close(&im);
    }
}

/* Loads (path) into fresh RAM and compares with elfgen_valid's bytes. */
static void check_loads(const char *what, const char *path, const struct elfgen *g)
{
    struct lv_image im;
    struct lv_err err = {""};
    struct lv_mem mem;

    CHECK(lv_mem_open(&mem, MEM, &err) == 0, "lv_mem_open: %s", err.msg);
    uint8_t *p = lv_mem_ptr(&mem, ELFGEN_BASE, 0x2000);
    memset(p, 0xaa, 0x2000);
    CHECK(lv_image_open(path, &im, &err) == 0, "%s: open: %s", what, err.msg);
    CHECK(lv_image_load(&im, &mem, 0, &err) == 0, "%s: load: %s", what, err.msg);
    CHECK(im.info.entry == ELFGEN_BASE && im.info.nload == 1, "%s: entry 0x%llx nload %u", what,
          (unsigned long long)im.info.entry, im.info.nload);
    CHECK(memcmp(p, g->buf + ELFGEN_CODE_OFF, 0x100) == 0 && p[0x100] == 0 && p[0x1fff] == 0,
          "%s: segment bytes or bss differ", what);
    lv_image_close(&im);
    lv_image_close(&im); /* idempotent */
    lv_mem_close(&mem);
}

static void test_image_valid(void)
{
    struct elfgen g, far;

    elfgen_valid(&g);
    check_loads("valid", write_image("valid.elf", &g), &g);
    /* program headers past what the first read covers: a second read */
    far = g;
    memcpy(far.buf + far.size, elfgen_phdr(&far, 0), 3 * sizeof(Elf64_Phdr));
    elfgen_ehdr(&far)->e_phoff = far.size;
    far.size += 3 * sizeof(Elf64_Phdr);
    check_loads("far program headers", write_image("far.elf", &far), &g);
}

/* Not regular files: refused at once (a FIFO without a writer would block
 * a plain open forever: alarm() turns that into a failure). */
static void test_image_not_regular(void)
{
    static const struct {
        const char *path, *msg;
    } bad[] = {
        {"fifo", "FIFO"}, {"dir", "directory"}, {"/dev/null", "character device"},
        {"empty", "size 0"}, {"missing", "No such file"},
    };
    CHECK(mkfifo(tpath("fifo"), 0600) == 0, "mkfifo: %s", strerror(errno));
    CHECK(mkdir(tpath("dir"), 0700) == 0, "mkdir: %s", strerror(errno));
    CHECK(lvt_write_file(tpath("empty"), "", 0) == 0, "empty file");
    alarm(20);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lv_image im;
        struct lv_err err = {""};
        char path[128];
        snprintf(path, sizeof(path), "%s", bad[i].path[0] == '/' ? bad[i].path : tpath(bad[i].path));
        CHECK(lv_image_open(path, &im, &err) < 0 && im.fd == -1, "%s: opened", path);
        check_msg(path, &err, path, bad[i].msg);
        lv_image_close(&im);
    }
    alarm(0);
    unlink(tpath("fifo"));
    rmdir(tpath("dir"));
    unlink(tpath("empty"));
}

/* The file changes between open, check and load: an error naming it,
 * never a signal (nothing is mapped). (when): 0 before the check, 1
 * after it. (how): 0 truncate to 100 bytes, 1 rewrite one byte. */
static void changed_under_us(int when, int how)
{
    struct elfgen g;
    struct lv_image im;
    struct lv_err err = {""};
    struct lv_mem mem;
    char what[64];
    int rc;

    snprintf(what, sizeof(what), "%s %s", how ? "rewritten" : "truncated",
             when ? "after the check" : "before the check");
    elfgen_valid(&g);
    const char *path = write_image("changing.elf", &g);
    CHECK(lv_mem_open(&mem, MEM, &err) == 0, "lv_mem_open: %s", err.msg);
    CHECK(lv_image_open(path, &im, &err) == 0, "%s: open: %s", what, err.msg);
    if (when)
        CHECK(lv_image_check(&im, MEM, &err) == 0, "%s: check: %s", what, err.msg);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && (how ? pwrite(fd, "\x90", 1, ELFGEN_CODE_OFF) == 1 : ftruncate(fd, 100) == 0),
          "%s: cannot change the file: %s", what, strerror(errno));
    if (fd >= 0)
        close(fd);
    rc = lv_image_load(&im, &mem, 1, &err);
    CHECK(rc == -EIO, "%s: load returned %d: %s", what, rc, err.msg);
    check_msg(what, &err, path, "changed while being loaded");
    lv_image_close(&im);
    lv_mem_close(&mem);
    unlink(path);
}

static void test_image_files(void)
{
    if (!mkdtemp(tdir)) {
        CHECK(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    test_image_cases();
    test_image_valid();
    test_image_not_regular();
    for (int when = 0; when < 2; when++)
        for (int how = 0; how < 2; how++)
            changed_under_us(when, how);
    unlink(tpath("case.elf"));
    unlink(tpath("valid.elf"));
    unlink(tpath("far.elf"));
    CHECK(rmdir(tdir) == 0, "%s left behind: %s", tdir, strerror(errno));
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct elfgen g;
        struct lv_elf_info info;
        struct lv_err err = {""};
        int rc;

        elfgen_valid(&g);
        cases[i].fn(&g);
        rc = lv_elf_check(g.buf, g.size, MEM, &info, &err);
        CHECK(rc < 0, "%s: accepted", cases[i].name);
        CHECK(strstr(err.msg, cases[i].msg) != NULL, "%s: message '%s' lacks '%s'",
              cases[i].name, err.msg, cases[i].msg);
    }
    test_valid_load();
    test_mem_ranges();
    test_image_files();
    return lvt_done("test_elf");
}
