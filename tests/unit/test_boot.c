/* test_boot.c: boot info encoding, boot page tables and GDT, CPUID filter,
 * and the command's size parser: everything a VM starts from, no KVM. */
#include <string.h>

#include "../../cli/cli.h"
#include "abi/lv_abi.h"
#include "lightvm/bootinfo.h"
#include "lightvm/x86.h"
#include "lvtest.h"

#define MEM (6u << 20)

static void test_bootinfo(void)
{
    struct lv_mem mem;
    struct lv_err err = {""};
    struct lv_bootinfo_params p = {.cmdline = "sleep 250", .tsc_khz = 2100000,
                                   .flags = LV_BI_F_NO_PVM, .image_end = 0x180000,
                                   .seed = {1, 2, 3, 0xff}};
    const struct lv_bootinfo *bi;
    char longline[LV_CMDLINE_MAX + 1];

    CHECK(lv_mem_open(&mem, MEM, &err) == 0, "%s", err.msg);
    CHECK(lv_bootinfo_write(&mem, &p, &err) == 0, "%s", err.msg);
    bi = lv_mem_ptr(&mem, LV_GPA_BOOTINFO, sizeof(*bi));
    CHECK(bi->magic == LV_BOOTINFO_MAGIC, "magic");
    CHECK(bi->abi_version == LV_ABI_VERSION, "version %u", bi->abi_version);
    CHECK(bi->size == sizeof(*bi), "size %u", bi->size);
    CHECK(bi->mem_size == MEM, "mem_size");
    CHECK(bi->tsc_khz == 2100000, "tsc_khz");
    CHECK(bi->flags == LV_BI_F_NO_PVM, "flags");
    CHECK(bi->image_end == 0x180000, "image_end");
    CHECK(bi->ndevices == 0 && bi->device_size == sizeof(struct lv_device), "devices");
    CHECK(bi->devices_gpa == LV_GPA_BOOTINFO + LV_BOOTINFO_DEVICES_OFF, "devices_gpa");
    CHECK(bi->cmdline_len == 9, "cmdline_len %u", bi->cmdline_len);
    CHECK(!strcmp(lv_mem_ptr(&mem, bi->cmdline_gpa, 10), "sleep 250"), "cmdline text");
    CHECK(bi->control.request == LV_CTL_NONE && bi->guest_entry_tsc == 0, "control/entry");
    /* v4: a boot is generation 0 on the runtime's own clock base, and
     * the seed is the caller's bytes */
    CHECK(bi->generation == 0 && bi->clock_tsc == 0 && bi->clock_ns == 0, "v4 clock fields");
    CHECK(!memcmp(bi->seed, p.seed, sizeof(p.seed)), "seed not copied");
    {
        uint8_t s1[32], s2[32], zero[32] = {0};
        CHECK(lv_bootinfo_seed(s1, &err) == 0 && lv_bootinfo_seed(s2, &err) == 0, "%s", err.msg);
        CHECK(memcmp(s1, s2, 32) && memcmp(s1, zero, 32), "two seeds alike, or zero");
        memcpy(p.seed, s1, 32);
        CHECK(lv_bootinfo_write(&mem, &p, &err) == 0 && !memcmp(bi->seed, s1, 32), "seed: %s",
              err.msg);
    }

    memset(longline, 'a', LV_CMDLINE_MAX);
    longline[LV_CMDLINE_MAX] = '\0';
    p.cmdline = longline;
    CHECK(lv_bootinfo_write(&mem, &p, &err) < 0 && strstr(err.msg, "longer"), "long cmdline: %s",
          err.msg);
    longline[LV_CMDLINE_MAX - 1] = '\0'; /* exactly the maximum */
    CHECK(lv_bootinfo_write(&mem, &p, &err) == 0, "max cmdline refused: %s", err.msg);
    p.cmdline = "bad\nline";
    CHECK(lv_bootinfo_write(&mem, &p, &err) < 0 && strstr(err.msg, "printable"), "newline: %s",
          err.msg);
    p.cmdline = NULL;
    p.image_end = MEM + 0x1000;
    CHECK(lv_bootinfo_write(&mem, &p, &err) < 0, "image_end past memory accepted");
    lv_mem_close(&mem);
}

#define PTE_P 1ull
#define PTE_U 4ull

static void test_tables(void)
{
    struct lv_mem mem;
    struct lv_err err = {""};
    const uint64_t *pml4, *pdpt, *pd, *pt, *gdt;
    struct kvm_sregs s;

    CHECK(lv_mem_open(&mem, 4u << 20, &err) == 0, "%s", err.msg);
    CHECK(lv_x86_write_tables(&mem, &err) == 0, "%s", err.msg);
    pml4 = lv_mem_ptr(&mem, LV_GPA_PML4, 4096);
    pdpt = lv_mem_ptr(&mem, LV_GPA_PDPT, 4096);
    pd = lv_mem_ptr(&mem, LV_GPA_PD, 4096);
    pt = lv_mem_ptr(&mem, LV_GPA_PT0, 4096);
    gdt = lv_mem_ptr(&mem, LV_GPA_GDT, 64);
    CHECK((pml4[0] & ~0xfffull) == LV_GPA_PDPT && (pml4[0] & (PTE_P | PTE_U)) == 5, "pml4");
    CHECK(pml4[1] == 0, "pml4[1] present");
    CHECK((pdpt[0] & ~0xfffull) == LV_GPA_PD && (pdpt[0] & PTE_U), "pdpt");
    CHECK(pdpt[1] == 0, "pdpt[1] present for 4 MiB");
    CHECK((pd[0] & ~0xfffull) == LV_GPA_PT0 && (pd[0] & PTE_U), "pd[0] -> pt0");
    CHECK(pd[1] == ((2u << 20) | 0x87), "pd[1] 0x%llx", (unsigned long long)pd[1]);
    CHECK(pd[2] == 0, "pd[2] maps past RAM");
    CHECK(pt[0] == 0, "page 0 mapped");
    for (int i = 1; i < 512; i++)
        CHECK(pt[i] == ((uint64_t)i * 4096 | 7), "pt[%d]=0x%llx", i, (unsigned long long)pt[i]);
    CHECK(gdt[1] == 0x00af9a000000ffffull, "code descriptor");
    CHECK(((gdt[3] >> 16) & 0xffffff) == LV_GPA_GDT + 0x80, "tss base");

    memset(&s, 0, sizeof(s));
    lv_x86_set_sregs(&s);
    CHECK(s.cs.l == 1 && s.cs.selector == LV_SEL_CODE && s.cs.dpl == 0, "cs");
    CHECK(s.cr3 == LV_GPA_PML4 && s.efer == 0x501 && !(s.cr4 & (3u << 20)), "cr3/efer/smep");
    CHECK(s.tr.selector == LV_SEL_TSS && s.tr.base == LV_GPA_GDT + 0x80, "tr");
    lv_mem_close(&mem);

    CHECK(lv_mem_open(&mem, 3u << 20, &err) == 0, "%s", err.msg);
    CHECK(lv_x86_write_tables(&mem, &err) < 0, "3 MiB (not a 2 MiB multiple) accepted");
    lv_mem_close(&mem);
}

static void test_cpuid(void)
{
    struct {
        struct kvm_cpuid2 c;
        struct kvm_cpuid_entry2 e[3];
    } t;

    memset(&t, 0, sizeof(t));
    t.c.nent = 3;
    t.e[0].function = 1;
    t.e[0].ecx = ~0u;
    t.e[1].function = 7;
    t.e[1].ebx = ~0u;
    t.e[2].function = 0x80000001;
    t.e[2].edx = ~0u;
    lv_x86_filter_cpuid(&t.c, 1);
    CHECK(!(t.e[0].ecx & (1u << 26)) && !(t.e[0].ecx & (1u << 13)), "XSAVE/CX16 visible");
    CHECK((t.e[0].ecx & (1u << 21)) && (t.e[0].ecx & (1u << 24)), "x2APIC/TSC deadline hidden");
    CHECK(!(t.e[1].ebx & (1u << 20)) && !(t.e[1].ebx & (1u << 7)), "SMAP/SMEP visible");
    CHECK(!(t.e[2].edx & (1u << 27)), "RDTSCP visible");
}

static void test_sizes(void)
{
    uint64_t v = 0;

    CHECK(lv_parse_size("8M", &v) == 0 && v == 8u << 20, "8M");
    CHECK(lv_parse_size("64", &v) == 0 && v == 64u << 20, "bare number is MiB");
    CHECK(lv_parse_size("1G", &v) == 0 && v == 1u << 30, "1G");
    CHECK(lv_parse_size("4096K", &v) == 0 && v == 4u << 20, "4096K");
    CHECK(lv_parse_size("16MiB", &v) == 0 && v == 16u << 20, "16MiB");
    CHECK(lv_parse_size("", &v) < 0, "empty");
    CHECK(lv_parse_size("-1", &v) < 0, "negative");
    CHECK(lv_parse_size("0", &v) < 0, "zero");
    CHECK(lv_parse_size("12X", &v) < 0, "bad suffix");
    CHECK(lv_parse_size("99999999999999999999", &v) < 0, "overflow");
    CHECK(lv_parse_size("17179869184G", &v) < 0, "shift overflow");
}

int main(void)
{
    test_bootinfo();
    test_tables();
    test_cpuid();
    test_sizes();
    return lvt_done("test_boot");
}
