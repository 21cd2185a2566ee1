/* bootinfo.c: the boot info page a unikernel reads instead of probing. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "abi/lv_abi.h"
#include "lightvm/bootinfo.h"

_Static_assert(sizeof(struct lv_bootinfo) <= LV_BOOTINFO_DEVICES_OFF,
               "boot info header overlaps the device table");
_Static_assert(LV_BOOTINFO_DEVICES_OFF + LV_BOOTINFO_MAX_DEVICES * sizeof(struct lv_device) <=
                   LV_BOOTINFO_CMDLINE_OFF,
               "device table overlaps the command line");
_Static_assert(LV_BOOTINFO_CMDLINE_OFF + LV_CMDLINE_MAX <= LV_PAGE_SIZE,
               "command line does not fit the boot info page");

int lv_cmdline_check(const char *cmdline, struct lv_err *err)
{
    size_t len = cmdline ? strnlen(cmdline, LV_CMDLINE_MAX) : 0;

    if (len >= LV_CMDLINE_MAX)
        return lv_err_set(err, E2BIG, "command line longer than %u bytes", LV_CMDLINE_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)cmdline[i];
        if (c < 0x20 || c > 0x7e)
            return lv_err_set(err, EINVAL, "command line byte %zu (0x%02x) is not printable "
                              "ASCII", i, c);
    }
    return 0;
}

int lv_bootinfo_seed(uint8_t seed[32], struct lv_err *err)
{
    size_t got = 0;

    while (got < 32) {
        ssize_t n = getrandom(seed + got, 32 - got, 0);
        if (n < 0 && errno != EINTR)
            return lv_err_set(err, errno, "getrandom: %s", strerror(errno));
        if (n > 0)
            got += (size_t)n;
    }
    return 0;
}

int lv_bootinfo_write(struct lv_mem *mem, const struct lv_bootinfo_params *p,
                      struct lv_err *err)
{
    struct lv_bootinfo *bi = lv_mem_ptr(mem, LV_GPA_BOOTINFO, LV_PAGE_SIZE);
    const char *cmdline = p->cmdline ? p->cmdline : "";
    size_t len;
    int rc;

    if (!bi)
        return lv_err_set(err, EINVAL, "guest memory too small for the boot info page");
    rc = lv_cmdline_check(cmdline, err);
    if (rc)
        return rc;
    if (p->image_end > mem->size)
        return lv_err_set(err, EINVAL, "image end 0x%llx beyond guest memory",
                          (unsigned long long)p->image_end);
    if (p->ndevices > LV_BOOTINFO_MAX_DEVICES)
        return lv_err_set(err, EINVAL, "%u devices: the boot info has room for %u",
                          p->ndevices, LV_BOOTINFO_MAX_DEVICES);
    if (p->dev_mem_gpa > mem->size || (p->dev_mem_gpa && p->dev_mem_gpa < p->image_end))
        return lv_err_set(err, EINVAL, "device memory at 0x%llx overlaps the image (ends "
                          "0x%llx) or lies outside guest memory",
                          (unsigned long long)p->dev_mem_gpa, (unsigned long long)p->image_end);
    len = strlen(cmdline);

    memset(bi, 0, sizeof(*bi));
    bi->magic = LV_BOOTINFO_MAGIC;
    bi->abi_version = LV_ABI_VERSION;
    bi->size = sizeof(*bi);
    bi->mem_size = mem->size;
    bi->tsc_khz = p->tsc_khz;
    bi->cmdline_gpa = LV_GPA_BOOTINFO + LV_BOOTINFO_CMDLINE_OFF;
    bi->cmdline_len = (uint32_t)len;
    bi->flags = p->flags;
    bi->image_end = p->image_end;
    bi->devices_gpa = LV_GPA_BOOTINFO + LV_BOOTINFO_DEVICES_OFF;
    bi->ndevices = p->ndevices;
    bi->device_size = sizeof(struct lv_device);
    if (p->ndevices)
        memcpy((char *)bi + LV_BOOTINFO_DEVICES_OFF, p->devices,
               p->ndevices * sizeof(struct lv_device));
    bi->dev_mem_gpa = p->dev_mem_gpa ? p->dev_mem_gpa : mem->size;
    bi->probe_ip = p->probe_ip;
    bi->probe_port = p->probe_port;
    memcpy(bi->probe_mac, p->probe_mac, 6);
    bi->wall_ns = p->wall_ns;
    bi->wall_tsc = p->wall_tsc;
    /* v4: generation 0 and clock_tsc 0 (the runtime's own clock base)
     * from the memset above */
    memcpy(bi->seed, p->seed, sizeof(bi->seed));
    memcpy((char *)bi + LV_BOOTINFO_CMDLINE_OFF, cmdline, len + 1);
    lv_mem_mark_dirty(mem, LV_GPA_BOOTINFO, LV_PAGE_SIZE);
    return 0;
}
