/* test_migstream.c: the migration stream's decoder without KVM
 * (lib/migrate/stream.c through lv_mig_decode, which lv_mig_recv shares):
 * a valid stream accepted with its pages in RAM and its rounds counted;
 * every truncation refused; each bad field refused with its message (the
 * checksums made right, so that the check behind them is what refuses);
 * the bounds (rounds, pages per round, bytes per stream); and what a
 * refused stream leaves: the RAM changed only in the pages of the records
 * that passed every check before the refusal (a destination VM that
 * refuses is destroyed anyway; nothing else is touched).
 *
 * The fd layer too (io.c, both ends'): a stream through a pipe and a
 * socketpair whole, a silent peer timed out, a closed one reported, a
 * header read from a pipe (lv_mig_recv_header).
 *
 * LIGHTVM_MIG_KEEP=DIR writes the valid streams there (the fuzz target's
 * seeds are made that way). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/migrate/mig_impl.h"
#include "../../lib/snapshot/snap_impl.h"
#include "lvtest.h"

#define MEM (2u << 20) /* the smallest VM: 512 pages */
#define NPAGES (MEM / 4096u)
#define POISON 0xee

/* ---- streams made by hand, through the same framing as the source ---- */

struct sb {
    uint8_t *p;
    size_t n, cap;
    uint8_t rec[LV_MIG_REC_MAX + 8]; /* + 1 byte: a STATE too long by one */
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void sb_add(struct sb *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static struct sb *sb_new(uint64_t mem, unsigned nnics)
{
    struct sb *b = calloc(1, sizeof(*b));
    struct lv_mig_hdr h = {mem, nnics, 0, 0, LV_MIG_MINOR};
    uint8_t head[LV_MIG_HDR_LEN];

    if (!b)
        abort();
    lv_mig_put_header(head, &h);
    sb_add(b, head, sizeof(head));
    return b;
}

static void sb_free(struct sb *b)
{
    free(b->p);
    free(b);
}

static void rec(struct sb *b, uint32_t type, uint32_t len)
{
    sb_add(b, b->rec, lv_mig_seal(b->rec, type, len));
}

/* The content of page (p) as the test writes it. */
static uint8_t fill(uint64_t p)
{
    return (uint8_t)(p * 13 + 1);
}

static void pages(struct sb *b, uint64_t first, uint32_t count)
{
    uint8_t *q = b->rec + LV_MIG_REC_HDR;

    put64(q, first);
    put32(q + 8, count);
    put32(q + 12, 0);
    for (uint32_t i = 0; i < count; i++)
        memset(q + LV_MIG_PAGES_HDR + (size_t)i * 4096, fill(first + i), 4096);
    rec(b, LV_MIG_PAGES, LV_MIG_PAGES_HDR + count * 4096);
}

static void round_(struct sb *b, uint32_t n, uint64_t npages)
{
    uint8_t *q = b->rec + LV_MIG_REC_HDR;

    put32(q, n);
    put32(q + 4, 0);
    put64(q + 8, npages);
    rec(b, LV_MIG_ROUND, LV_MIG_ROUND_LEN);
}

static const uint8_t blob[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/* A plausible state (as test_snapfile's): one NIC, the MSRs of VMX/SVM. */
static void state(struct sb *b, uint64_t mem)
{
    static struct lv_snap s;
    uint32_t idx[LV_SNAP_MAX_MSRS];
    struct lv_err e = {""};
    uint8_t *buf = NULL;
    size_t len = 0;

    memset(&s, 0, sizeof(s));
    s.host = LV_SNAP_HOST_HW;
    s.mem_size = mem;
    s.nnics = 1;
    s.vm.dev_mem_gpa = mem - 0x8000;
    s.vm.ndevs = 1;
    s.mp.mp_state = KVM_MP_STATE_RUNNABLE;
    s.has_xsave = 1;
    s.nmsrs = lv_snap_msr_list(LV_SNAP_HOST_HW, idx);
    for (uint32_t i = 0; i < s.nmsrs; i++)
        s.msrs[i].index = idx[i];
    for (uint32_t i = 0; i < LV_SNAP_NCHIPS; i++)
        s.chip[i].chip_id = i;
    s.dev[0].type = LV_DEV_NET;
    s.dev[0].len = sizeof(blob);
    s.dev[0].bytes = blob;
    if (lv_snap_encode(&s, &buf, &len, &e) < 0)
        abort();
    memcpy(b->rec + LV_MIG_REC_HDR, buf, len);
    free(buf);
    rec(b, LV_MIG_STATE, (uint32_t)len);
}

static void end(struct sb *b)
{
    rec(b, LV_MIG_END, 0);
}

/* The valid stream: round 0 (page 0, pages 10-11), round 1 (page 3, page
 * 10 again), the state, END. */
static struct sb *valid(void)
{
    struct sb *b = sb_new(MEM, 1);

    pages(b, 0, 1);
    pages(b, 10, 2);
    round_(b, 0, 3);
    pages(b, 3, 1);
    pages(b, 10, 1);
    round_(b, 1, 2);
    state(b, MEM);
    end(b);
    return b;
}

static void keep(const char *name, const struct sb *b)
{
    const char *dir = getenv("LIGHTVM_MIG_KEEP");
    char p[4096];

    if (!dir || !*dir)
        return;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    CHECK(lvt_write_file(p, b->p, b->n) == 0, "keep %s", p);
}

/* ---- checks ---- */

static int one_line(const char *m)
{
    return m[0] && !strchr(m, '\n');
}

static void test_valid(uint8_t *ram)
{
    struct sb *b = valid();
    struct lv_mig_stats st;
    struct lv_mig_hdr h;
    struct lv_err e = {""};
    int bad = 0;

    memset(ram, POISON, MEM);
    CHECK(lv_mig_decode(b->p, b->n, ram, MEM, &h, &st, &e) == 0, "valid stream: %s", e.msg);
    CHECK(h.mem_size == MEM && h.nnics == 1 && !h.pvm, "header %llu %u %d",
          (unsigned long long)h.mem_size, h.nnics, h.pvm);
    CHECK(st.rounds == 2 && st.pages[0] == 3 && st.pages[1] == 2 && st.bytes == b->n &&
              st.state_bytes > 0,
          "stats: %u rounds, %llu + %llu pages, %llu bytes of %zu", st.rounds,
          (unsigned long long)st.pages[0], (unsigned long long)st.pages[1],
          (unsigned long long)st.bytes, b->n);
    for (uint64_t p = 0; p < NPAGES; p++) {
        uint8_t want = (p == 0 || p == 3 || p == 10 || p == 11) ? fill(p) : POISON;
        for (size_t i = 0; i < 4096; i += 512)
            bad += ram[p * 4096 + i] != want;
    }
    CHECK(!bad, "the RAM after a valid stream: %d bytes differ", bad);
    keep("valid", b);
    sb_free(b);
}

/* The RAM a prefix of (cut) bytes of valid() leaves: the pages of the
 * records wholly inside it. */
static uint8_t want_after(uint64_t p, size_t cut, const size_t *ends)
{
    /* ends[]: where valid()'s PAGES records end, in order: page 0, 10-11,
     * 3, 10 */
    if (p == 0)
        return cut >= ends[0] ? fill(0) : POISON;
    if (p == 10 || p == 11)
        return cut >= ends[1] ? fill(p) : POISON;
    if (p == 3)
        return cut >= ends[2] ? fill(3) : POISON;
    return POISON;
}

static void test_truncations(uint8_t *ram)
{
    struct sb *b = valid();
    const size_t pg = LV_MIG_REC_HDR + LV_MIG_PAGES_HDR + LV_MIG_REC_CRC;
    size_t ends[3];
    int bad = 0, refused = 0;

    ends[0] = LV_MIG_HDR_LEN + pg + 4096;
    ends[1] = ends[0] + pg + 2 * 4096;
    ends[2] = ends[1] + (LV_MIG_REC_HDR + LV_MIG_ROUND_LEN + LV_MIG_REC_CRC) + pg + 4096;
    memset(ram, POISON, MEM);
    for (size_t cut = 0; cut < b->n; cut++) {
        struct lv_err e = {""};
        int rc = lv_mig_decode(b->p, cut, ram, MEM, NULL, NULL, &e);
        refused += rc < 0;
        if (rc >= 0 || !one_line(e.msg)) {
            CHECK(0, "a stream cut at %zu of %zu: %d \"%s\"", cut, b->n, rc, e.msg);
            break;
        }
        for (uint64_t p = 0; p < 16; p++) /* the pages the stream names */
            bad += ram[p * 4096 + 7] != want_after(p, cut, ends);
        if (cut % 997 == 0) /* now and then, the whole RAM */
            for (uint64_t p = 16; p < NPAGES; p++)
                bad += ram[p * 4096] != POISON || ram[p * 4096 + 4095] != POISON;
        for (uint64_t p = 0; p < 16; p++) /* back to the poison for the next cut */
            memset(ram + p * 4096, POISON, 4096);
    }
    CHECK(refused == (int)b->n, "%d of %zu truncations refused", refused, b->n);
    CHECK(!bad, "a truncated stream changed the RAM outside its whole records (%d)", bad);
    sb_free(b);
}

static void expect(struct sb *b, uint8_t *ram, uint64_t ram_size, int code, const char *needle)
{
    struct lv_err e = {""};
    int rc = lv_mig_decode(b->p, b->n, ram, ram_size, NULL, NULL, &e);

    CHECK(rc == -code && strstr(e.msg, needle) && one_line(e.msg),
          "want %d \"%s\", got %d \"%s\"", -code, needle, rc, e.msg);
    sb_free(b);
}

/* A header field changed (its CRC made right again unless (crc)). */
static struct sb *bad_header(size_t off, uint32_t v, int crc)
{
    struct sb *b = valid();

    put32(b->p + off, v);
    if (crc)
        put32(b->p + 60, lv_crc32c(b->p, 60));
    return b;
}

/* The valid stream's header made 1.(minor) with (flags). */
static struct sb *flags_header(unsigned minor, uint32_t flags)
{
    struct sb *b = valid();

    put32(b->p + 8, 1 | minor << 16);
    put32(b->p + 40, flags);
    put32(b->p + 60, lv_crc32c(b->p, 60));
    return b;
}

static void test_header(uint8_t *ram)
{
    expect(bad_header(0, 0x4e53564c, 1), ram, MEM, EINVAL, "bad magic");
    expect(bad_header(8, 2, 1), ram, MEM, ENOTSUP, "version 2.0");
    expect(bad_header(8, 1 | 3u << 16, 1), ram, MEM, ENOTSUP, "version 1.3");
    expect(flags_header(0, 1), ram, MEM, EINVAL, "reserved"); /* flags in a 1.0 header */
    expect(flags_header(2, 2), ram, MEM, EINVAL, "reserved"); /* an unknown flag */
    /* a local stream (from 1.1, LV_MIG_F_LOCAL) carries no pages */
    expect(flags_header(1, 1), ram, MEM, EINVAL, "a PAGES record in a local stream");
    expect(flags_header(2, 1), ram, MEM, EINVAL, "a PAGES record in a local stream");
    { /* the minor is passed on: lv_mig_recv refuses a copy older than 1.2 (no commit) */
        struct sb *b = flags_header(0, 0), *c = valid();
        struct lv_mig_hdr h0, h2;
        struct lv_err e = {""};
        CHECK(lv_mig_check_header(b->p, &h0, &e) == 0 && h0.minor == 0 && !h0.local &&
                  lv_mig_check_header(c->p, &h2, &e) == 0 && h2.minor == LV_MIG_MINOR,
              "the header's minor: %s", e.msg);
        sb_free(b);
        sb_free(c);
    }
    expect(bad_header(24, MEM + 4096, 0), ram, MEM, EINVAL, "header checksum");
    expect(bad_header(12, 2, 1), ram, MEM, EINVAL, "architecture 2");
    expect(bad_header(16, 3, 1), ram, MEM, EINVAL, "host kind 3");
    expect(bad_header(20, LV_ABI_VERSION + 1, 1), ram, MEM, ENOTSUP, "guest ABI");
    expect(bad_header(24, MEM + 4096, 1), ram, MEM, EINVAL, "memory size");
    expect(bad_header(28, 2, 1), ram, MEM, EINVAL, "memory size"); /* 8 GiB + 2 MiB */
    expect(bad_header(32, 9, 1), ram, MEM, EINVAL, "9 NICs");
    expect(bad_header(36, 65, 1), ram, MEM, EINVAL, "header length");
    expect(bad_header(44, 1, 1), ram, MEM, EINVAL, "reserved");
    expect(bad_header(24, 4u << 20, 1), ram, MEM, EINVAL, "the RAM has");
}

/* A record with any type and payload bytes (CRC right). */
static void raw(struct sb *b, uint32_t type, const void *payload, uint32_t len)
{
    memcpy(b->rec + LV_MIG_REC_HDR, payload, len);
    rec(b, type, len);
}

static void pages_raw(struct sb *b, uint64_t first, uint32_t count, uint32_t zero, uint32_t n)
{
    uint8_t q[LV_MIG_PAGES_HDR];

    put64(q, first);
    put32(q + 8, count);
    put32(q + 12, zero);
    memcpy(b->rec + LV_MIG_REC_HDR, q, sizeof(q));
    memset(b->rec + LV_MIG_REC_HDR + sizeof(q), 0x5a, (size_t)n * 4096);
    rec(b, LV_MIG_PAGES, LV_MIG_PAGES_HDR + n * 4096);
}

static void test_records(uint8_t *ram)
{
    struct sb *b;
    uint8_t z[32] = {0};

    b = sb_new(MEM, 1);
    raw(b, 9, z, 4);
    expect(b, ram, MEM, EINVAL, "unknown record type 9");
    b = sb_new(MEM, 1);
    raw(b, LV_MIG_PAGES, z, 16);
    expect(b, ram, MEM, EINVAL, "record PAGES of 16 bytes");
    b = sb_new(MEM, 1);
    pages_raw(b, 0, 65, 0, 65);
    expect(b, ram, MEM, EINVAL, "record PAGES of");
    b = sb_new(MEM, 1);
    pages_raw(b, 0, 2, 0, 1);
    expect(b, ram, MEM, EINVAL, "2 pages in");
    b = sb_new(MEM, 1);
    pages_raw(b, 0, 1, 1, 1);
    expect(b, ram, MEM, EINVAL, "reserved");
    b = sb_new(MEM, 1);
    pages_raw(b, NPAGES, 1, 0, 1);
    expect(b, ram, MEM, EINVAL, "past the memory");
    b = sb_new(MEM, 1);
    pages_raw(b, NPAGES - 1, 2, 0, 2);
    expect(b, ram, MEM, EINVAL, "past the memory");
    b = sb_new(MEM, 1);
    pages_raw(b, UINT64_MAX, 1, 0, 1);
    expect(b, ram, MEM, EINVAL, "past the memory");
    b = sb_new(MEM, 1);
    raw(b, LV_MIG_ROUND, z, 12);
    expect(b, ram, MEM, EINVAL, "record ROUND of 12 bytes");
    b = sb_new(MEM, 1);
    round_(b, 1, 0);
    expect(b, ram, MEM, EINVAL, "round 1 where round 0");
    b = sb_new(MEM, 1);
    pages(b, 0, 1);
    round_(b, 0, 2);
    expect(b, ram, MEM, EINVAL, "claims 2 pages, 1 came");
    b = sb_new(MEM, 1);
    raw(b, LV_MIG_END, z, 0);
    expect(b, ram, MEM, EINVAL, "without the state");
    b = sb_new(MEM, 1);
    raw(b, LV_MIG_END, z, 4);
    expect(b, ram, MEM, EINVAL, "record END of 4 bytes");
    b = sb_new(MEM, 1);
    state(b, MEM);
    expect(b, ram, MEM, EINVAL, "the state before");
    b = sb_new(MEM, 1);
    round_(b, 0, 0);
    pages(b, 1, 1);
    state(b, MEM);
    expect(b, ram, MEM, EINVAL, "the state before");
    b = sb_new(MEM, 1);
    round_(b, 0, 0);
    state(b, MEM);
    pages(b, 1, 1);
    expect(b, ram, MEM, EINVAL, "record PAGES after the state");
    b = sb_new(MEM, 1);
    round_(b, 0, 0);
    state(b, MEM);
    state(b, MEM);
    expect(b, ram, MEM, EINVAL, "record STATE after the state");
    b = sb_new(MEM, 1);
    round_(b, 0, 0);
    state(b, 4u << 20);
    expect(b, ram, MEM, EINVAL, "differ from the stream header");
    b = sb_new(MEM, 1);
    round_(b, 0, 0);
    raw(b, LV_MIG_STATE, z, 32);
    expect(b, ram, MEM, EINVAL, "snapshot: ");
    b = sb_new(MEM, 1);
    memset(b->rec, 0, sizeof(b->rec));
    rec(b, LV_MIG_STATE, LV_SNAP_STATE_MAX + 1);
    expect(b, ram, MEM, EINVAL, "record STATE of");
    b = valid();
    sb_add(b, z, 1);
    expect(b, ram, MEM, EINVAL, "1 bytes after END");
    b = valid();
    b->p[LV_MIG_HDR_LEN + 100] ^= 1; /* in the first page's bytes */
    expect(b, ram, MEM, EINVAL, "checksum mismatch in a PAGES record");
}

/* The bounds: rounds, a round's pages, the stream's pages. */
static void test_bounds(uint8_t *ram)
{
    struct sb *b = sb_new(MEM, 1);

    for (uint32_t r = 0; r <= LV_MIG_MAX_ROUNDS; r++)
        round_(b, r, 0);
    expect(b, ram, MEM, EINVAL, "more than 64 rounds");
    b = sb_new(MEM, 1);
    for (uint32_t i = 0; i <= NPAGES; i++)
        pages(b, 0, 1);
    expect(b, ram, MEM, EINVAL, "more pages than the memory has");
    b = sb_new(MEM, 1);
    for (uint32_t r = 0; r < LV_MIG_BYTES_FACTOR; r++) {
        for (uint32_t p = 0; p < NPAGES; p += LV_MIG_RUN_PAGES)
            pages(b, p, LV_MIG_RUN_PAGES);
        round_(b, r, NPAGES);
    }
    pages(b, 0, 1);
    expect(b, ram, MEM, EFBIG, "more than 8 times the memory's pages");
}

/* What a refused stream leaves: round 0 whole, then a record whose CRC
 * is wrong: the first record's page is in, nothing else. */
static void test_refused_ram(uint8_t *ram)
{
    struct sb *b = sb_new(MEM, 1);
    struct lv_err e = {""};
    int bad = 0;

    pages(b, 5, 1);
    round_(b, 0, 1);
    pages(b, 6, 2);
    b->p[b->n - 1] ^= 0x80; /* its CRC */
    memset(ram, POISON, MEM);
    CHECK(lv_mig_decode(b->p, b->n, ram, MEM, NULL, NULL, &e) == -EINVAL &&
              strstr(e.msg, "checksum"), "a bad CRC: %s", e.msg);
    for (uint64_t p = 0; p < NPAGES; p++)
        for (size_t i = 0; i < 4096; i += 256)
            bad += ram[p * 4096 + i] != (p == 5 ? fill(5) : POISON);
    CHECK(!bad, "a refused stream changed the RAM beyond its accepted record (%d)", bad);
    sb_free(b);
}

static void test_seeds(void)
{
    struct sb *b = sb_new(MEM, 1);

    for (uint32_t r = 0; r < 3; r++) { /* three rounds of a few runs each */
        pages(b, r * 7, 3);
        pages(b, 200 + r, 1);
        round_(b, r, 4);
    }
    state(b, MEM);
    end(b);
    keep("three_rounds", b);
    sb_free(b);
}

/* ---- the fd layer ---- */

struct pump {
    int fd;
    const uint8_t *p;
    size_t n;
    int rc;
};

static void *pump_main(void *arg)
{
    struct pump *w = arg;

    w->rc = lv_mig_write(w->fd, w->p, w->n, 5000, NULL);
    close(w->fd);
    return NULL;
}

/* (b) through fds[1] -> fds[0] by a writer thread, read back whole;
 * then the writer's end is closed: a further read is -EPIPE. */
static void through(int fds[2], const struct sb *b, const char *what)
{
    struct pump w = {fds[1], b->p, b->n, -1};
    uint8_t *got = malloc(b->n), c;
    struct lv_err e = {""};
    pthread_t t;

    if (!got || pthread_create(&t, NULL, pump_main, &w)) {
        CHECK(0, "%s: setup", what);
        free(got);
        return;
    }
    int rc = lv_mig_read(fds[0], got, b->n, 5000, &e);
    pthread_join(t, NULL);
    CHECK(rc == 0 && w.rc == 0 && !memcmp(got, b->p, b->n), "%s: %d %d \"%s\"", what, rc, w.rc,
          e.msg);
    rc = lv_mig_read(fds[0], &c, 1, 5000, &e);
    CHECK(rc == -EPIPE && strstr(e.msg, "ends early"), "%s after the close: %d \"%s\"", what,
          rc, e.msg);
    close(fds[0]);
    free(got);
}

static void test_io(void)
{
    struct sb *b = valid();
    struct lv_mig_hdr h;
    struct lv_err e = {""};
    int p[2], s[2];
    uint8_t c;

    signal(SIGPIPE, SIG_IGN); /* a pipe's writer (migrate.h) */
    if (pipe(p) == 0)
        through(p, b, "a pipe");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0)
        through(s, b, "a socketpair");
    /* a peer that says nothing: timed out, for a pipe and a socket */
    if (pipe(p) == 0) {
        CHECK(lv_mig_read(p[0], &c, 1, 100, &e) == -ETIMEDOUT && strstr(e.msg, "100 ms"),
              "a silent pipe: \"%s\"", e.msg);
        close(p[0]);
        CHECK(lv_mig_write(p[1], b->p, 1, 100, &e) == -EPIPE, "a pipe without reader: \"%s\"",
              e.msg);
        close(p[1]);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0) {
        CHECK(lv_mig_read(s[0], &c, 1, 100, &e) == -ETIMEDOUT, "a silent socket: \"%s\"",
              e.msg);
        /* a peer that does not read: the buffers fill (4 MiB is more than
         * they hold), then the wait ends */
        uint8_t *big = calloc(1, 4u << 20);
        CHECK(big && lv_mig_write(s[0], big, 4u << 20, 100, &e) == -ETIMEDOUT &&
                  strstr(e.msg, "did not read"), "a socket nobody reads: \"%s\"", e.msg);
        free(big);
        close(s[0]);
        close(s[1]);
    }
    /* the destination's first read: the header from a pipe */
    if (pipe(p) == 0) {
        CHECK(write(p[1], b->p, LV_MIG_HDR_LEN) == LV_MIG_HDR_LEN, "write");
        CHECK(lv_mig_recv_header(p[0], NULL, &h, &e) == 0 && h.mem_size == MEM && h.nnics == 1,
              "recv_header: %s", e.msg);
        b->p[3] ^= 1;
        CHECK(write(p[1], b->p, LV_MIG_HDR_LEN) == LV_MIG_HDR_LEN, "write");
        CHECK(lv_mig_recv_header(p[0], NULL, &h, &e) == -EINVAL && strstr(e.msg, "magic"),
              "a bad header: %s", e.msg);
        close(p[0]);
        close(p[1]);
    }
    sb_free(b);
}

int main(void)
{
    uint8_t *ram = malloc(MEM);

    if (!ram)
        return 1;
    test_valid(ram);
    test_truncations(ram);
    test_header(ram);
    test_records(ram);
    test_bounds(ram);
    test_refused_ram(ram);
    test_seeds();
    test_io();
    free(ram);
    return lvt_done("test_migstream");
}
