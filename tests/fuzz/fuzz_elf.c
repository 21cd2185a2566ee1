/* fuzz_elf.c: libFuzzer target for the ELF validator and loader. Any
 * input must be refused cleanly or loaded strictly inside guest RAM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/elf.h"

#define MEM (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram[MEM]; /* guest RAM stand-in; ASan sees any overrun */
    struct lv_mem mem = {.fd = -1, .base = ram, .size = MEM};
    struct lv_elf_info info;

    if (lv_elf_load(data, size, &mem, 0, &info, NULL) == 0) {
        if (info.entry >= MEM || info.end > MEM || info.nload == 0)
            abort();
    }
    return 0;
}
