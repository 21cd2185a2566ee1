/*
 * bootinfo.h: encoding of the boot info page (LightVM's noxs device
 * page), written into guest RAM before the first instruction (and its
 * snapshot fields rewritten at a restore: vm.h, lv_vm_resumed).
 */
#ifndef LIGHTVM_BOOTINFO_H
#define LIGHTVM_BOOTINFO_H

#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/mem.h"

struct lv_bootinfo_params {
    const char *cmdline; /* printable ASCII, < LV_CMDLINE_MAX bytes; NULL = "" */
    uint64_t tsc_khz;
    uint32_t flags;      /* LV_BI_F_* */
    uint64_t image_end;  /* from lv_elf_info.end */
    const struct lv_device *devices; /* copied into the device table */
    unsigned ndevices;   /* 0 .. LV_BOOTINFO_MAX_DEVICES */
    uint64_t dev_mem_gpa; /* VMM-owned RAM from here; 0 = none (mem size) */
    uint32_t probe_ip;   /* network byte order */
    uint16_t probe_port; /* network byte order; 0 = no probe */
    uint8_t probe_mac[6]; /* all zero: unknown */
    uint64_t wall_ns, wall_tsc; /* CLOCK_REALTIME and the TSC read with it */
    uint8_t seed[32];    /* the guest's random seed (lv_bootinfo_seed) */
};

/* Fills (seed) with fresh random bytes from the kernel (getrandom). */
int lv_bootinfo_seed(uint8_t seed[32], struct lv_err *err);

/* Checks a command line: printable ASCII, shorter than LV_CMDLINE_MAX. */
int lv_cmdline_check(const char *cmdline, struct lv_err *err);

/* Writes struct lv_bootinfo and the command line at LV_GPA_BOOTINFO of
 * (mem), with the device table. */
int lv_bootinfo_write(struct lv_mem *mem, const struct lv_bootinfo_params *p,
                      struct lv_err *err);

#endif
