/*
 * start.c: from _start to main.
 *
 * Order matters: the boot info is validated before anything is written
 * through it, the IDT is loaded before the PVM probe (whose #GP it must
 * catch), and everything that traps on PVM (APIC, TSC MSR, CPUID) is left
 * to first use so that a hello-world boot stays cheap.
 */
#include <stdbool.h>

#include "rt.h"

#define MAX_ARGS 32

const struct lv_bootinfo *rt_bi;
uint64_t rt_tsc0;
__attribute__((weak)) const char *const lvrt_app_name = "app";

static char *argv[MAX_ARGS + 2];

extern char __image_end[]; /* link.ld */

const struct lv_bootinfo *lvrt_bootinfo(void)
{
    return rt_bi;
}

static bool bootinfo_ok(const struct lv_bootinfo *bi)
{
    /* A newer host is accepted: the struct is append-only, and (size)
     * must cover every field this runtime reads. */
    return (uintptr_t)bi == LV_GPA_BOOTINFO && bi->magic == LV_BOOTINFO_MAGIC &&
           bi->abi_version >= LV_ABI_VERSION && bi->size >= sizeof(*bi) &&
           bi->size <= LV_PAGE_SIZE && bi->mem_size <= LV_MEM_MAX;
}

/* Split the command line on spaces into argv[1..]. It is tokenized in
 * place (it lies in the already touched boot info page; a copy would
 * touch another page). Return argc. */
static int parse_cmdline(const struct lv_bootinfo *bi)
{
    int argc = 0;

    argv[argc++] = (char *)lvrt_app_name;
    uint64_t gpa = bi->cmdline_gpa, len = bi->cmdline_len;
    if (gpa < LV_PAGE_SIZE || len >= LV_CMDLINE_MAX || gpa >= bi->mem_size ||
        len >= bi->mem_size - gpa)
        return argc; /* absent or invalid: no arguments */

    char *p = (char *)(uintptr_t)gpa, *end = p + len;
    while (p < end && *p && argc <= MAX_ARGS) {
        while (p < end && *p == ' ')
            *p++ = '\0';
        if (p == end || !*p)
            break;
        argv[argc++] = p;
        while (p < end && *p && *p != ' ')
            p++;
    }
    *end = '\0'; /* the host promised a NUL at [len]; make sure */
    if (p < end)
        *p = '\0';
    argv[argc] = NULL;
    return argc;
}

_Noreturn void lvrt_start(const struct lv_bootinfo *bi, uint64_t entry_tsc)
{
    rt_tsc0 = entry_tsc;
    if (!bootinfo_ok(bi)) {
        /* No contract to rely on; the console and exit calls need only
         * ports and our own memory, so try them, then halt. */
        static const char msg[] = "lightvm: bad boot info (address, magic, "
                                  "abi_version, size or mem_size); stopping\n";
        lvrt_console_write(msg, sizeof(msg) - 1);
        rt_exit_status(RT_FATAL_STATUS);
    }
    ((struct lv_bootinfo *)bi)->guest_entry_tsc = entry_tsc;
    rt_bi = bi;

    rt_trap_init();
    rt_pvm_init(bi->flags);

    uintptr_t lo = (uintptr_t)__image_end;
    if (bi->image_end > lo)
        lo = (uintptr_t)bi->image_end;
    /* The heap ends where the VMM's device memory (virtqueues) starts. */
    uintptr_t hi = (uintptr_t)bi->mem_size;
    if (bi->dev_mem_gpa >= lo && bi->dev_mem_gpa < hi)
        hi = (uintptr_t)bi->dev_mem_gpa;
    rt_heap_init(lo, hi);

    int argc = parse_cmdline(bi);
    /* No LV_MARK_MAIN here: each exit costs ~70 us on PVM, and the host
     * already times the boot from guest_entry_tsc and the first console
     * write. Apps that want a mark call lvrt_mark(). */
    lvrt_irq_enable();
    lvrt_exit(main(argc, argv));
}
