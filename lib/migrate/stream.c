/*
 * stream.c: the migration stream (docs/migration.md): its header and
 * records, encoded by the source, decoded with every check at the
 * destination. No KVM here: lv_mig_decode runs the decoder over a buffer
 * (the fuzz target, the unit test), lv_mig_recv over an fd.
 *
 * The decoder checks each record's type, length and place in the stream
 * from its 8-byte head, before reading its payload (so a length is never
 * trusted for an allocation or a read), then the payload's CRC, then its
 * fields; only then does a PAGES record's data reach the RAM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../snapshot/snap_impl.h" /* lv_crc32c, LV_SNAP_ARCH_X86_64, host kinds */
#include "lightvm/x86.h"
#include "mig_impl.h"
#include "../util/le.h"

/* ---- header ---- */

void lv_mig_put_header(uint8_t *out, const struct lv_mig_hdr *h)
{
    memset(out, 0, LV_MIG_HDR_LEN);
    memcpy(out, LV_MIG_MAGIC, 8);
    out[8] = (uint8_t)LV_MIG_MAJOR;
    out[10] = (uint8_t)LV_MIG_MINOR;
    lv_put32(out + 12, LV_SNAP_ARCH_X86_64);
    lv_put32(out + 16, h->pvm ? LV_SNAP_HOST_PVM : LV_SNAP_HOST_HW);
    lv_put32(out + 20, LV_ABI_VERSION);
    lv_put64(out + 24, h->mem_size);
    lv_put32(out + 32, h->nnics);
    lv_put32(out + 36, LV_MIG_HDR_LEN);
    lv_put32(out + 40, h->local ? LV_MIG_F_LOCAL : 0);
    lv_put32(out + 60, lv_crc32c(out, 60));
}

/* Bytes 40..43: the flags of a 1.1 stream (LV_MIG_F_LOCAL), zero in 1.0;
 * 44..59 zero. */
static int check_reserved(const uint8_t *in, unsigned minor, struct lv_err *err)
{
    static const uint8_t zero[20];
    uint32_t flags = lv_get32(in + 40);

    if (lv_get32(in + 36) != LV_MIG_HDR_LEN || memcmp(in + 44, zero, 16) ||
        (minor < LV_MIG_MINOR_LOCAL && flags) || (flags & ~LV_MIG_F_LOCAL))
        return lv_err_set(err, EINVAL, "migration: header length %u (want %u) or reserved "
                          "bytes not zero", lv_get32(in + 36), LV_MIG_HDR_LEN);
    return 0;
}

static int check_ids(const uint8_t *in, struct lv_err *err)
{
    unsigned major = in[8] | in[9] << 8, minor = in[10] | in[11] << 8;

    if (memcmp(in, LV_MIG_MAGIC, 8))
        return lv_err_set(err, EINVAL, "migration: not a lightvm x86-64 migration stream "
                          "(bad magic)");
    if (major != LV_MIG_MAJOR || minor > LV_MIG_MINOR)
        return lv_err_set(err, ENOTSUP, "migration: stream version %u.%u, this lightvm "
                          "reads %u.%u", major, minor, LV_MIG_MAJOR, LV_MIG_MINOR);
    if (lv_crc32c(in, 60) != lv_get32(in + 60))
        return lv_err_set(err, EINVAL, "migration: header checksum mismatch");
    if (check_reserved(in, minor, err))
        return -EINVAL;
    if (lv_get32(in + 12) != LV_SNAP_ARCH_X86_64)
        return lv_err_set(err, EINVAL, "migration: architecture %u, this lightvm is x86-64",
                          lv_get32(in + 12));
    if (lv_get32(in + 20) != LV_ABI_VERSION)
        return lv_err_set(err, ENOTSUP, "migration: guest ABI version %u, this lightvm "
                          "speaks %u", lv_get32(in + 20), LV_ABI_VERSION);
    return 0;
}

int lv_mig_check_header(const uint8_t *in, struct lv_mig_hdr *h, struct lv_err *err)
{
    int rc = check_ids(in, err);
    uint32_t host = lv_get32(in + 16);

    if (rc)
        return rc;
    if (host != LV_SNAP_HOST_HW && host != LV_SNAP_HOST_PVM)
        return lv_err_set(err, EINVAL, "migration: unknown host kind %u", host);
    h->pvm = host == LV_SNAP_HOST_PVM;
    h->local = (lv_get32(in + 40) & LV_MIG_F_LOCAL) != 0;
    h->minor = (unsigned)(in[10] | in[11] << 8);
    h->mem_size = lv_get64(in + 24);
    if (h->mem_size < LV_MEM_MIN || h->mem_size > LV_MEM_MAX || h->mem_size % LV_MEM_ALIGN)
        return lv_err_set(err, EINVAL, "migration: memory size %llu: not a multiple of 2 MiB "
                          "between 2 MiB and 4 GiB", (unsigned long long)h->mem_size);
    h->nnics = lv_get32(in + 32);
    if (h->nnics > LV_VM_MAX_NICS)
        return lv_err_set(err, EINVAL, "migration: %u NICs, at most %u", h->nnics,
                          LV_VM_MAX_NICS);
    return 0;
}

size_t lv_mig_seal(uint8_t *rec, uint32_t type, uint32_t len)
{
    lv_put32(rec, type);
    lv_put32(rec + 4, len);
    lv_put32(rec + LV_MIG_REC_HDR + len, lv_crc32c(rec, LV_MIG_REC_HDR + (size_t)len));
    return LV_MIG_REC_HDR + (size_t)len + LV_MIG_REC_CRC;
}

/* ---- decoding the records ---- */

struct dec {
    const struct lv_mig_hdr *h;
    uint8_t *ram;
    uint64_t npages;
    uint64_t total;    /* pages so far */
    uint64_t in_round; /* pages since the last ROUND */
    uint32_t rounds;   /* ROUND records so far */
    int have_state;
    struct lv_snap *snap;
    struct lv_mig_stats *st;
};

static const char *rec_name(uint32_t type)
{
    static const char *const n[] = {"?", "PAGES", "ROUND", "STATE", "END"};
    return type <= LV_MIG_END ? n[type] : "?";
}

/* From a record's head alone: its type, its length for that type, its
 * place in the stream. */
static int check_head(const struct dec *d, uint32_t type, uint32_t len, struct lv_err *err)
{
    const uint32_t pmin = LV_MIG_PAGES_HDR + LV_MIG_PAGE;
    const uint32_t pmax = LV_MIG_PAGES_HDR + LV_MIG_RUN_PAGES * LV_MIG_PAGE;

    if (type < LV_MIG_PAGES || type > LV_MIG_END)
        return lv_err_set(err, EINVAL, "migration: unknown record type %u", type);
    if ((type == LV_MIG_PAGES && (len < pmin || len > pmax || (len - pmin) % LV_MIG_PAGE)) ||
        (type == LV_MIG_ROUND && len != LV_MIG_ROUND_LEN) ||
        (type == LV_MIG_STATE && (len == 0 || len > LV_SNAP_STATE_MAX)) ||
        (type == LV_MIG_END && len != 0))
        return lv_err_set(err, EINVAL, "migration: record %s of %u bytes", rec_name(type),
                          len);
    if (d->have_state && type != LV_MIG_END)
        return lv_err_set(err, EINVAL, "migration: record %s after the state",
                          rec_name(type));
    if (type == LV_MIG_END && !d->have_state)
        return lv_err_set(err, EINVAL, "migration: the stream ended without the state");
    if (type == LV_MIG_STATE && (!d->rounds || d->in_round))
        return lv_err_set(err, EINVAL, "migration: the state before the last round's end");
    if (type == LV_MIG_ROUND && d->rounds >= LV_MIG_MAX_ROUNDS)
        return lv_err_set(err, EINVAL, "migration: more than %u rounds", LV_MIG_MAX_ROUNDS);
    return 0;
}

static int dec_pages(struct dec *d, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    uint64_t first = lv_get64(p), count = lv_get32(p + 8);

    if (lv_get32(p + 12) || count != (len - LV_MIG_PAGES_HDR) / LV_MIG_PAGE)
        return lv_err_set(err, EINVAL, "migration: a PAGES record of %llu pages in %u bytes "
                          "(or its reserved field not zero)", (unsigned long long)count, len);
    if (d->h->local || !d->ram)
        return lv_err_set(err, EINVAL, "migration: a PAGES record in a local stream (its "
                          "RAM comes as a file descriptor)");
    if (first >= d->npages || count > d->npages - first)
        return lv_err_set(err, EINVAL, "migration: pages %llu + %llu past the memory's %llu",
                          (unsigned long long)first, (unsigned long long)count,
                          (unsigned long long)d->npages);
    if (d->in_round + count > d->npages)
        return lv_err_set(err, EINVAL, "migration: round %u sends more pages than the "
                          "memory has", d->rounds);
    if (d->total + count > LV_MIG_BYTES_FACTOR * d->npages)
        return lv_err_set(err, EFBIG, "migration: more than %u times the memory's pages",
                          LV_MIG_BYTES_FACTOR);
    memcpy(d->ram + first * LV_MIG_PAGE, p + LV_MIG_PAGES_HDR, count * LV_MIG_PAGE);
    d->in_round += count;
    d->total += count;
    return 0;
}

static int dec_round(struct dec *d, const uint8_t *p, struct lv_err *err)
{
    uint32_t n = lv_get32(p);
    uint64_t pages = lv_get64(p + 8);

    if (n != d->rounds || lv_get32(p + 4))
        return lv_err_set(err, EINVAL, "migration: round %u where round %u was due (or its "
                          "reserved field not zero)", n, d->rounds);
    if (pages != d->in_round)
        return lv_err_set(err, EINVAL, "migration: round %u claims %llu pages, %llu came", n,
                          (unsigned long long)pages, (unsigned long long)d->in_round);
    if (d->st)
        d->st->pages[n] = pages;
    d->rounds++;
    d->in_round = 0;
    return 0;
}

static int dec_state(struct dec *d, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    int rc = lv_snap_parse(&d->snap, p, len, err);

    if (rc)
        return rc;
    if (lv_snap_mem_size(d->snap) != d->h->mem_size || lv_snap_nnics(d->snap) != d->h->nnics ||
        lv_snap_pvm(d->snap) != d->h->pvm)
        return lv_err_set(err, EINVAL, "migration: the state's memory size, NIC count or "
                          "host kind differ from the stream header's");
    d->have_state = 1;
    if (d->st)
        d->st->state_bytes = len;
    return 0;
}

/* One record: 1 after END, 0 after another, -errno. */
static int next_record(struct dec *d, struct lv_mig_reader *r, uint8_t *buf, size_t cap,
                       struct lv_err *err)
{
    uint32_t type, len;
    int rc = r->read(r->ctx, buf, LV_MIG_REC_HDR, err);

    if (rc)
        return rc;
    type = lv_get32(buf);
    len = lv_get32(buf + 4);
    rc = check_head(d, type, len, err);
    if (!rc && LV_MIG_REC_HDR + (size_t)len + LV_MIG_REC_CRC > cap)
        rc = lv_err_set(err, EPIPE, "migration: the stream ends early");
    if (!rc)
        rc = r->read(r->ctx, buf + LV_MIG_REC_HDR, (size_t)len + LV_MIG_REC_CRC, err);
    if (rc)
        return rc;
    if (lv_crc32c(buf, LV_MIG_REC_HDR + (size_t)len) != lv_get32(buf + LV_MIG_REC_HDR + len))
        return lv_err_set(err, EINVAL, "migration: checksum mismatch in a %s record (round "
                          "%u)", rec_name(type), d->rounds);
    if (d->st)
        d->st->bytes += LV_MIG_REC_HDR + (uint64_t)len + LV_MIG_REC_CRC;
    if (type == LV_MIG_PAGES)
        return dec_pages(d, buf + LV_MIG_REC_HDR, len, err);
    if (type == LV_MIG_ROUND)
        return dec_round(d, buf + LV_MIG_REC_HDR, err);
    if (type == LV_MIG_STATE)
        return dec_state(d, buf + LV_MIG_REC_HDR, len, err);
    return 1;
}

/* Bounded: every record but END adds a page, a round or the state, and
 * each of those is bounded (check_head, dec_pages). */
int lv_mig_read_records(struct lv_mig_reader *r, const struct lv_mig_hdr *h, uint8_t *ram,
                        uint8_t *buf, size_t cap, struct lv_snap **snap,
                        struct lv_mig_stats *st, struct lv_err *err)
{
    struct dec d = {.h = h, .ram = ram, .npages = h->mem_size / LV_MIG_PAGE, .st = st};
    int rc = 0;

    *snap = NULL;
    while (!rc)
        rc = next_record(&d, r, buf, cap, err);
    if (st)
        st->rounds = d.rounds;
    if (rc < 0) {
        lv_snap_close(&d.snap);
        return rc;
    }
    *snap = d.snap;
    return 0;
}

/* ---- a stream in memory ---- */

struct mem_src {
    const uint8_t *p;
    size_t left;
};

static int mem_read(void *ctx, void *buf, size_t len, struct lv_err *err)
{
    struct mem_src *m = ctx;

    if (len > m->left)
        return lv_err_set(err, EPIPE, "migration: the stream ends early");
    memcpy(buf, m->p, len);
    m->p += len;
    m->left -= len;
    return 0;
}

int lv_mig_decode(const void *buf, size_t len, uint8_t *ram, uint64_t ram_size,
                  struct lv_mig_hdr *hout, struct lv_mig_stats *st, struct lv_err *err)
{
    struct mem_src m = {buf, len};
    struct lv_mig_reader r = {mem_read, &m};
    uint8_t head[LV_MIG_HDR_LEN], *rec;
    struct lv_mig_hdr h;
    struct lv_snap *snap = NULL;
    size_t cap;
    int rc = mem_read(&m, head, sizeof(head), err);

    if (st)
        memset(st, 0, sizeof(*st));
    if (!rc)
        rc = lv_mig_check_header(head, &h, err);
    if (!rc && h.mem_size != ram_size)
        rc = lv_err_set(err, EINVAL, "migration: a stream of %llu bytes of memory, the RAM "
                        "has %llu", (unsigned long long)h.mem_size,
                        (unsigned long long)ram_size);
    if (rc)
        return rc;
    if (hout)
        *hout = h;
    cap = len < LV_MIG_REC_MAX ? len : LV_MIG_REC_MAX; /* no record is longer than the stream */
    rec = malloc(cap ? cap : 1);
    if (!rec)
        return lv_err_set(err, ENOMEM, "migration: out of memory");
    rc = lv_mig_read_records(&r, &h, ram, rec, cap, &snap, st, err);
    if (!rc && m.left)
        rc = lv_err_set(err, EINVAL, "migration: %zu bytes after END", m.left);
    if (st)
        st->bytes += LV_MIG_HDR_LEN;
    free(rec);
    lv_snap_close(&snap);
    return rc;
}
