/*
 * crc32c.c: CRC-32C (the Castagnoli polynomial 0x1EDC6F41, reflected:
 * 0x82F63B78), the snapshot state file's checksum. The SSE4.2 `crc32`
 * instruction computes exactly this one, so a state file of ~20 KiB
 * costs a few microseconds; elsewhere a byte-wise table, built on the
 * stack per call (no file-scope state).
 */
#include <stdint.h>
#include <string.h>

#include "snap_impl.h"

#define POLY 0x82f63b78u

uint32_t lv_crc32c_sw(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t table[256], crc = ~0u;

    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        table[i] = c;
    }
    while (len--)
        crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
    return ~crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t crc = ~0u;

    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __builtin_ia32_crc32di(crc, v);
    }
    uint32_t c = (uint32_t)crc;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return ~c;
}

uint32_t lv_crc32c(const void *buf, size_t len)
{
    if (__builtin_cpu_supports("sse4.2"))
        return crc32c_hw(buf, len);
    return lv_crc32c_sw(buf, len);
}
