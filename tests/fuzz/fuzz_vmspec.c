/* fuzz_vmspec.c: libFuzzer target for the VM config parser. Any input
 * must be refused with a printable one-line message or parsed to a spec
 * within its limits, which lv_vm_spec_to_json() writes back to JSON that
 * parses to the very same spec. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/vmspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lv_vm_spec a, b; /* ~7 KiB each: kept off the fuzzer's stack */
    struct lv_err err = {""};
    char *json;

    if (lv_vm_spec_parse((const char *)data, size, &a, &err) < 0) {
        if (!err.msg[0])
            abort();
        for (const char *c = err.msg; *c; c++)
            if (*c < 0x20 || *c >= 0x7f)
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
