/* fuzz_snap.c: libFuzzer target for the snapshot state file's decoder
 * (lib/snapshot/format.c, through lv_snap_parse). Every input must be
 * refused with a printable one-line message or accepted; an accepted one
 * must encode again (lv_snap_encode) into a file that is accepted with
 * the same header, section contents and device bytes. The checksum
 * would stop nearly every mutation at the header, so each input is also
 * tried with its length and CRC-32C fields made right.
 * Seeds (tests/fuzz/corpus/fuzz_snap/) are state files saved by
 * test_snapshot (LIGHTVM_SNAP_KEEP=DIR) and variations of them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/snapshot.h"
#include "snapshot/snap_impl.h"

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

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* What a decode gives must survive an encode and a decode unchanged. */
static void round_trip(const struct lv_snap *s)
{
    struct lv_err err = {""};
    struct lv_snap *t = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    if (lv_snap_encode(s, &buf, &len, &err) < 0 || lv_snap_parse(&t, buf, len, &err) < 0)
        abort();
    if (t->host != s->host || t->mem_size != s->mem_size || t->nnics != s->nnics ||
        t->nmsrs != s->nmsrs || memcmp(t->msrs, s->msrs, s->nmsrs * sizeof(s->msrs[0])) ||
        memcmp(&t->regs, &s->regs, sizeof(s->regs)) ||
        memcmp(&t->sregs, &s->sregs, sizeof(s->sregs)) ||
        memcmp(&t->lapic, &s->lapic, sizeof(s->lapic)) || t->has_xsave != s->has_xsave ||
        t->has_clock != s->has_clock || t->vm.clock_ns != s->vm.clock_ns ||
        t->vm.ndevs != s->vm.ndevs || t->spec_len != s->spec_len ||
        (s->spec && memcmp(t->spec, s->spec, s->spec_len)))
        abort();
    for (uint32_t i = 0; i < s->vm.ndevs; i++)
        if (t->dev[i].type != s->dev[i].type || t->dev[i].len != s->dev[i].len ||
            memcmp(t->dev[i].bytes, s->dev[i].bytes, s->dev[i].len))
            abort();
    lv_snap_close(&t);
    free(buf);
}

static void one(const uint8_t *data, size_t size)
{
    struct lv_err err = {""};
    struct lv_snap *s = NULL;
    int rc = lv_snap_parse(&s, data, size, &err);

    if (rc < 0) {
        if (s || !printable(err.msg))
            abort();
        return;
    }
    if (!s || s->mem_fd != -1)
        abort();
    round_trip(s);
    lv_snap_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed;

    one(data, size);
    if (size < LV_SNAP_HDR_LEN || size > LV_SNAP_STATE_MAX)
        return 0;
    fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    put32(fixed + 40, (uint32_t)(size - LV_SNAP_HDR_LEN));
    put32(fixed + 44, 0);
    put32(fixed + 48, lv_crc32c(fixed + LV_SNAP_HDR_LEN, size - LV_SNAP_HDR_LEN));
    one(fixed, size);
    free(fixed);
    return 0;
}
