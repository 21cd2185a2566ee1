/* test_elf.c: the ELF validator refuses every malformed image we can think
 * of with a message naming the problem, and loads a valid one exactly. */
#include <string.h>

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
    return lvt_done("test_elf");
}
