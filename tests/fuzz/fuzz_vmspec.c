/* fuzz_vmspec.c: libFuzzer target for the VM config parser. Any input
 * must be refused with a printable one-line message or parsed to a spec
 * within its limits, which lv_vm_spec_to_json() writes back to JSON that
 * parses to the very same spec. The input (up to its first NUL) is also
 * a `lightvm run --net` option (lv_vif_spec_parse_opt), with the same
 * rule for its messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/vmspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int printable(const char *m)
{
    if (!m[0])
        return 0;
    for (const char *c = m; *c; c++)
        if (*c < 0x20 || *c >= 0x7f)
            return 0;
    return 1;
}

/* The input as a --net option: refused with a printable message, or a vif
 * with a bridge name and, when it has an ip, a netmask. */
static void net_opt(const uint8_t *data, size_t size)
{
    char opt[512];
    struct lv_vif_spec v;
    struct lv_err err = {""};
    int create;

    size = size < sizeof(opt) - 1 ? size : sizeof(opt) - 1;
    memcpy(opt, data, size);
    opt[size] = '\0';
    if (lv_vif_spec_parse_opt(opt, &v, &create, &err) < 0) {
        if (!printable(err.msg))
            abort();
        return;
    }
    if (!v.bridge[0] || strnlen(v.bridge, sizeof(v.bridge)) == sizeof(v.bridge) ||
        (v.ip && !v.netmask) || (create != 0 && create != 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lv_vm_spec a, b; /* ~7 KiB each: kept off the fuzzer's stack */
    struct lv_err err = {""};
    char *json;

    net_opt(data, size);
    if (lv_vm_spec_parse((const char *)data, size, &a, &err) < 0) {
        if (!printable(err.msg))
            abort();
        return 0;
    }
    if (!a.name[0] || !a.kernel[0] || a.memory_mb < LV_VM_MEMORY_MIN ||
        a.memory_mb > LV_VM_MEMORY_MAX || a.vcpus != 1 || a.nvifs > LV_VM_MAX_VIFS ||
        strnlen(a.cmdline, sizeof(a.cmdline)) == sizeof(a.cmdline))
        abort();
    json = lv_vm_spec_to_json(&a);
    if (!json)
        abort();
    if (lv_vm_spec_parse(json, strlen(json), &b, &err) < 0 || memcmp(&a, &b, sizeof(a)))
        abort();
    free(json);
    return 0;
}
