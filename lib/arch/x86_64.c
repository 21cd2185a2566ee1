/* x86_64.c: page tables, GDT/TSS, segment state and CPUID of a unikernel. */
#include <errno.h>
#include <string.h>

#include "abi/lv_abi.h"
#include "lightvm/x86.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_U (1ull << 2) /* PVM livelocks without U at every level */
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)
#define PTE_TABLE (PTE_P | PTE_RW | PTE_U)

#define TSS_GPA (LV_GPA_GDT + 0x80u)
#define TSS_LIMIT 0x67u
#define GDT_LIMIT (5u * 8 - 1) /* null, code, data, 16-byte TSS */

static void write_gdt(uint64_t *gdt, uint8_t *tss)
{
    uint64_t base = TSS_GPA;

    gdt[0] = 0;
    gdt[1] = 0x00af9a000000ffffull; /* code: P, DPL0, L=1, G */
    gdt[2] = 0x00cf92000000ffffull; /* data: P, DPL0, writable, D/B, G */
    gdt[3] = TSS_LIMIT | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             ((base >> 24) & 0xff) << 56;     /* available 64-bit TSS, P */
    gdt[4] = base >> 32;
    memset(tss, 0, TSS_LIMIT + 1);
    for (int i = 0; i < 8; i++) /* RSP0 at offset 4 */
        tss[4 + i] = (uint8_t)((uint64_t)LV_GPA_ISTACK_TOP >> (8 * i));
    tss[0x66] = TSS_LIMIT + 1; /* I/O bitmap base past the limit: none */
}

int lv_x86_write_tables(struct lv_mem *mem, struct lv_err *err)
{
    uint64_t npd, *pml4, *pdpt, *pd, *pt;
    uint8_t *gdt;

    if (mem->size < LV_MEM_MIN || mem->size > LV_MEM_MAX || mem->size % LV_MEM_ALIGN)
        return lv_err_set(err, EINVAL, "guest memory %llu bytes: must be a multiple of 2 MiB "
                          "between 2 MiB and 4 GiB", (unsigned long long)mem->size);
    npd = (mem->size + (1ull << 30) - 1) >> 30;
    gdt = lv_mem_ptr(mem, LV_GPA_GDT, LV_PAGE_SIZE);
    pml4 = lv_mem_ptr(mem, LV_GPA_PML4, LV_PAGE_SIZE);
    pdpt = lv_mem_ptr(mem, LV_GPA_PDPT, LV_PAGE_SIZE);
    pd = lv_mem_ptr(mem, LV_GPA_PD, npd * LV_PAGE_SIZE);
    pt = lv_mem_ptr(mem, LV_GPA_PT0, LV_PAGE_SIZE);
    if (!gdt || !pml4 || !pdpt || !pd || !pt)
        return lv_err_set(err, EINVAL, "guest memory too small for the boot tables");

    write_gdt((uint64_t *)gdt, gdt + (TSS_GPA - LV_GPA_GDT));
    pml4[0] = LV_GPA_PDPT | PTE_TABLE;
    for (uint64_t i = 0; i < npd; i++)
        pdpt[i] = (LV_GPA_PD + i * LV_PAGE_SIZE) | PTE_TABLE;
    for (uint64_t gpa = 0; gpa < mem->size; gpa += LV_MEM_ALIGN)
        pd[gpa / LV_MEM_ALIGN] = gpa | PTE_TABLE | PTE_PS;
    /* First 2 MiB with 4 KiB pages so that page 0 can stay absent. */
    pd[0] = LV_GPA_PT0 | PTE_TABLE;
    pt[0] = 0;
    for (uint64_t i = 1; i < 512; i++)
        pt[i] = (i * LV_PAGE_SIZE) | PTE_TABLE;
    /* The device MMIO window, uncached, when RAM stays below it (the PD
     * of the fourth GiB is reserved in the layout even when unused). */
    if (mem->size <= LV_GPA_MMIO_BASE) {
        uint64_t gib = LV_GPA_MMIO_BASE >> 30;
        uint64_t *pd3 = lv_mem_ptr(mem, LV_GPA_PD + gib * LV_PAGE_SIZE, LV_PAGE_SIZE);
        if (!pd3)
            return lv_err_set(err, EINVAL, "guest memory too small for the boot tables");
        pdpt[gib] = (LV_GPA_PD + gib * LV_PAGE_SIZE) | PTE_TABLE;
        pd3[(LV_GPA_MMIO_BASE >> 21) & 511] =
            LV_GPA_MMIO_BASE | PTE_TABLE | PTE_PS | PTE_PWT | PTE_PCD;
    }
    return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = code;
    s->db = !code;
}

void lv_x86_set_sregs(struct kvm_sregs *sregs)
{
    flat_segment(&sregs->cs, LV_SEL_CODE, 0xb, 1);
    flat_segment(&sregs->ds, LV_SEL_DATA, 0x3, 0);
    sregs->es = sregs->fs = sregs->gs = sregs->ss = sregs->ds;

    memset(&sregs->tr, 0, sizeof(sregs->tr));
    sregs->tr.base = TSS_GPA;
    sregs->tr.limit = TSS_LIMIT;
    sregs->tr.selector = LV_SEL_TSS;
    sregs->tr.type = 0xb; /* busy 64-bit TSS */
    sregs->tr.present = 1;

    memset(&sregs->ldt, 0, sizeof(sregs->ldt));
    sregs->ldt.type = 0x2;
    sregs->ldt.unusable = 1;

    sregs->gdt.base = LV_GPA_GDT;
    sregs->gdt.limit = GDT_LIMIT;
    sregs->idt.base = 0;
    sregs->idt.limit = 0; /* the guest loads its own IDT */

    sregs->cr0 = 0x80050033; /* PG AM WP NE ET MP PE */
    sregs->cr3 = LV_GPA_PML4;
    sregs->cr4 = 0x620;      /* PAE OSFXSR OSXMMEXCPT; never SMEP/SMAP */
    sregs->efer = 0x501;     /* SCE LME LMA */
}

#define BIT(n) (1u << (n))

void lv_x86_filter_cpuid(struct kvm_cpuid2 *cpuid, int tsc_deadline)
{
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

        switch (e->function) {
        case 1:
            /* PCLMUL SSSE3 FMA CX16 PCID SSE4.1 SSE4.2 MOVBE POPCNT AES XSAVE
             * OSXSAVE AVX F16C RDRAND: the emulator cannot run them. */
            e->ecx &= ~(BIT(1) | BIT(9) | BIT(12) | BIT(13) | BIT(17) | BIT(19) | BIT(20) |
                        BIT(22) | BIT(23) | BIT(25) | BIT(26) | BIT(27) | BIT(28) | BIT(29) |
                        BIT(30));
            e->ecx |= BIT(21) | BIT(31); /* x2APIC (in-kernel LAPIC), hypervisor */
            if (tsc_deadline)
                e->ecx |= BIT(24);
            break;
        case 7:
            if (e->index == 0) {
                e->ebx &= BIT(0) | BIT(9); /* keep FSGSBASE, ERMS only */
                e->ecx = 0;
                e->edx = 0;
            }
            break;
        case 0xd: /* XSAVE state enumeration */
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0x80000001:
            e->ecx &= ~(BIT(5) | BIT(6) | BIT(11) | BIT(16) | BIT(21)); /* LZCNT SSE4A XOP FMA4 TBM */
            e->edx &= ~BIT(27);                                         /* RDTSCP */
            break;
        default:
            break;
        }
    }
}
