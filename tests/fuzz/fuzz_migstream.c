/* fuzz_migstream.c: libFuzzer target for the migration stream's decoder
 * (lib/migrate/stream.c through lv_mig_decode, the code lv_mig_recv
 * runs on a socket) with a 2 MiB RAM. Every input must be refused with
 * a negative errno and a printable one-line message, or accepted. The
 * checksums would stop nearly every mutation at once, so each input is
 * also tried with the header's and every record's CRC-32C made right.
 * An accepted stream has at least one round and was consumed whole.
 * Seeds (tests/fuzz/corpus/fuzz_migstream/): streams written by
 * test_migstream (LIGHTVM_MIG_KEEP=DIR). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/mig_impl.h"
#include "snapshot/snap_impl.h"

#define MEM (2u << 20)

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

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Makes the header's and each whole record's CRC right. */
static void fix_crcs(uint8_t *b, size_t n)
{
    size_t off = LV_MIG_HDR_LEN;

    if (n < LV_MIG_HDR_LEN)
        return;
    put32(b + 60, lv_crc32c(b, 60));
    while (n - off >= LV_MIG_REC_HDR) { /* each pass moves past one record */
        uint64_t len = get32(b + off + 4);
        if (len > n - off - LV_MIG_REC_HDR || n - off - LV_MIG_REC_HDR - len < LV_MIG_REC_CRC)
            return;
        lv_mig_seal(b + off, get32(b + off), (uint32_t)len);
        off += LV_MIG_REC_HDR + len + LV_MIG_REC_CRC;
    }
}

/* Decodes (data) into (ram): refused with a message, or accepted whole. */
static void one(const uint8_t *data, size_t size, uint8_t *ram)
{
    struct lv_err err = {""};
    struct lv_mig_stats st;
    int rc;

    rc = lv_mig_decode(data, size, ram, MEM, NULL, &st, &err);
    if (rc > 0 || (rc < 0 && !printable(err.msg)) || (rc == 0 && st.rounds == 0))
        abort();
    if (rc == 0 && st.bytes != size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram; /* the target's one RAM, made once (the RAM's contents do not matter) */
    uint8_t *copy = malloc(size ? size : 1);

    if (!ram)
        ram = malloc(MEM);
    if (!ram || !copy)
        abort();
    one(data, size, ram);
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    one(copy, size, ram);
    free(copy);
    return 0;
}
