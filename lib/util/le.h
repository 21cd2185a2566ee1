/*
 * le.h: little-endian integers in byte buffers, for the files and streams
 * lightvm writes and reads back (snapshot state, migration stream, device
 * state framing): get reads (p)'s first bytes, put writes them. Private to
 * lib/ (and its tests).
 */
#ifndef LIGHTVM_LIB_LE_H
#define LIGHTVM_LIB_LE_H

#include <stdint.h>

static inline uint16_t lv_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t lv_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t lv_get64(const uint8_t *p)
{
    return (uint64_t)lv_get32(p) | (uint64_t)lv_get32(p + 4) << 32;
}

static inline void lv_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void lv_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void lv_put64(uint8_t *p, uint64_t v)
{
    lv_put32(p, (uint32_t)v);
    lv_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
