/* test_snapfile.c: the snapshot state file without KVM: CRC-32C, a
 * state encoded and decoded back, each refusal of the decoder with its
 * message, every truncation and every one-byte change of a valid file
 * (its checksum made right again) refused or accepted without a crash,
 * and lv_snap_open's checks of the two files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../lib/snapshot/snap_impl.h"
#include "lvtest.h"

#define MEM (16u << 20)

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *b, size_t len)
{
    put32(b + 48, lv_crc32c(b + LV_SNAP_HDR_LEN, len - LV_SNAP_HDR_LEN));
}

static void test_crc(void)
{
    uint8_t buf[1000];

    CHECK(lv_crc32c("123456789", 9) == 0xe3069283u, "crc32c check value: 0x%08x",
          lv_crc32c("123456789", 9));
    CHECK(lv_crc32c_sw("123456789", 9) == 0xe3069283u, "table crc32c check value");
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n < sizeof(buf); n += 37)
        CHECK(lv_crc32c(buf, n) == lv_crc32c_sw(buf, n), "crc32c of %zu bytes differs", n);
}

static const uint8_t blob[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/* A plausible state: one NIC, the MSRs a save reads on VMX/SVM. */
static void make_state(struct lv_snap *s)
{
    uint32_t idx[LV_SNAP_MAX_MSRS];

    memset(s, 0, sizeof(*s));
    s->host = LV_SNAP_HOST_HW;
    s->mem_size = MEM;
    s->nnics = 1;
    s->vm.clock_ns = 123456789;
    s->vm.save_tsc = 1000000;
    s->vm.dev_mem_gpa = MEM - 0x8000;
    s->vm.ndevs = 1;
    s->mp.mp_state = KVM_MP_STATE_RUNNABLE;
    s->regs.rip = 0x100123;
    s->sregs.cr3 = 0x2000;
    s->has_xsave = 1;
    s->lapic.regs[0x20] = 1;
    s->nmsrs = lv_snap_msr_list(LV_SNAP_HOST_HW, idx);
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        s->msrs[i].index = idx[i];
        s->msrs[i].data = 0x1000 + i;
    }
    for (uint32_t i = 0; i < LV_SNAP_NCHIPS; i++)
        s->chip[i].chip_id = i;
    s->dev[0].type = LV_DEV_NET;
    s->dev[0].len = sizeof(blob);
    s->dev[0].bytes = blob;
}

static uint8_t *encoded(const struct lv_snap *s, size_t *len)
{
    struct lv_err e = {""};
    uint8_t *b = NULL;

    CHECK(lv_snap_encode(s, &b, len, &e) == 0, "encode: %s", e.msg);
    return b;
}

static void test_round_trip(void)
{
    static struct lv_snap s;
    struct lv_snap *t = NULL;
    struct lv_err e = {""};
    size_t len = 0;
    uint8_t *b;

    make_state(&s);
    b = encoded(&s, &len);
    if (!b)
        return;
    CHECK(lv_snap_parse(&t, b, len, &e) == 0, "parse: %s", e.msg);
    if (t) {
        CHECK(t->mem_size == MEM && t->nnics == 1 && !lv_snap_pvm(t) && t->regs.rip == 0x100123 &&
              t->sregs.cr3 == 0x2000 && t->lapic.regs[0x20] == 1 && t->nmsrs == s.nmsrs &&
              !memcmp(t->msrs, s.msrs, s.nmsrs * sizeof(s.msrs[0])) &&
              t->vm.clock_ns == 123456789 && t->dev[0].len == sizeof(blob) &&
              !memcmp(t->dev[0].bytes, blob, sizeof(blob)) && t->has_xsave && !t->has_clock,
              "the decoded state differs");
        CHECK(t->mem_fd == -1, "a parsed snapshot has a memory file");
    }
    lv_snap_close(&t);
    CHECK(t == NULL, "close left the pointer");
    free(b);
}

/* Encodes (s) as changed by (mutate), expects a refusal naming (needle). */
static void expect_refused(void (*mutate)(struct lv_snap *), const char *needle)
{
    static struct lv_snap s;
    struct lv_snap *t = (struct lv_snap *)1;
    struct lv_err e = {""};
    size_t len = 0;
    uint8_t *b;

    make_state(&s);
    mutate(&s);
    b = encoded(&s, &len);
    if (!b)
        return;
    CHECK(lv_snap_parse(&t, b, len, &e) < 0 && !t && strstr(e.msg, needle),
          "want \"%s\", got \"%s\"", needle, e.msg);
    free(b);
}

static void m_msr(struct lv_snap *s) { s->msrs[1].index = 0xc0000080u; /* EFER: sregs' */ }
static void m_vif(struct lv_snap *s) { s->msrs[1].index = LV_PVM_MSR_VIF; }
static void m_dup(struct lv_snap *s) { s->msrs[2].index = s->msrs[1].index; }
static void m_mp(struct lv_snap *s) { s->mp.mp_state = KVM_MP_STATE_INIT_RECEIVED; }
static void m_chip(struct lv_snap *s) { s->chip[1].chip_id = 2; }
static void m_mem(struct lv_snap *s) { s->mem_size = MEM + 4096; }
static void m_big(struct lv_snap *s) { s->mem_size = 8ull << 30; }
static void m_nics(struct lv_snap *s) { s->nnics = 9; }
static void m_devs(struct lv_snap *s) { s->vm.ndevs = 0; }
static void m_devtype(struct lv_snap *s) { s->dev[0].type = 7; }
static void m_devmem(struct lv_snap *s) { s->vm.dev_mem_gpa = MEM + 4096; }
static void m_smm(struct lv_snap *s) { s->events.smi.smm = 1; }
static void m_evflags(struct lv_snap *s) { s->events.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT; }
static void m_host(struct lv_snap *s) { s->host = 3; }
static void m_nomsr(struct lv_snap *s) { s->nmsrs = 0; }
static void m_clock(struct lv_snap *s) { s->has_clock = 1; s->clock.flags = 2; }

static void test_refusals(void)
{
    expect_refused(m_msr, "MSR 0xc0000080 is not one a snapshot may set");
    expect_refused(m_vif, "MSR 0x4b564d10 is not one");
    expect_refused(m_dup, "twice");
    expect_refused(m_mp, "vCPU state 2");
    expect_refused(m_chip, "irqchip 1 has id 2");
    expect_refused(m_mem, "memory size");
    expect_refused(m_big, "memory size");
    expect_refused(m_nics, "9 NICs");
    expect_refused(m_devs, "0 devices for 1 NICs");
    expect_refused(m_devtype, "unknown type 7");
    expect_refused(m_devmem, "device memory");
    expect_refused(m_smm, "SMM");
    expect_refused(m_evflags, "flags 0x20");
    expect_refused(m_host, "unknown host kind 3");
    expect_refused(m_nomsr, "bad count");
    expect_refused(m_clock, "clock flags 0x2");
}

/* The spec section: given back as saved, optional, its bounds checked
 * both ways (a NUL inside or an empty one refused by the decoder). */
static void test_spec(void)
{
    static struct lv_snap s;
    static const char spec[] = "{\"name\":\"c0\",\"memory\":16}";
    struct lv_snap *t = NULL;
    struct lv_err e = {""};
    size_t len = 0, n = 0;
    uint8_t *b;

    make_state(&s);
    s.spec = spec;
    s.spec_len = sizeof(spec) - 1;
    b = encoded(&s, &len);
    if (!b)
        return;
    CHECK(lv_snap_parse(&t, b, len, &e) == 0, "parse: %s", e.msg);
    const char *got = t ? lv_snap_spec(t, &n) : NULL;
    CHECK(got && n == sizeof(spec) - 1 && !memcmp(got, spec, n), "the spec comes back");
    lv_snap_close(&t);
    /* the spec is the last section: its first byte at len - n */
    b[len - n + 3] = 0;
    fix_crc(b, len);
    CHECK(lv_snap_parse(&t, b, len, &e) < 0 && !t && strstr(e.msg, "spec section"),
          "a NUL in the spec: %s", e.msg);
    free(b);
    make_state(&s);
    b = encoded(&s, &len);
    CHECK(b && lv_snap_parse(&t, b, len, &e) == 0 && !lv_snap_spec(t, &n) && n == 0,
          "no spec: NULL, 0");
    lv_snap_close(&t);
    free(b);
    s.spec = spec;
    s.spec_len = LV_SNAP_SPEC_MAX + 1;
    CHECK(lv_snap_encode(&s, &b, &len, &e) < 0 && !b, "an over-long spec is not encoded");
}

/* Header and framing damage on a valid file. */
static void test_damage(void)
{
    static struct lv_snap s;
    struct lv_snap *t = NULL;
    struct lv_err e = {""};
    size_t len = 0;
    uint8_t *b, *c;

    make_state(&s);
    b = encoded(&s, &len);
    c = b ? malloc(len + 16) : NULL;
    if (!c) {
        free(b);
        return;
    }
    struct {
        size_t off;
        uint8_t val;
        int crc; /* make the checksum right again */
        const char *needle;
    } cases[] = {
        {0, 'X', 0, "bad magic"},
        {5, 'a', 0, "another architecture"},
        {8, 2, 0, "format version 2.0"},
        {10, 1, 0, "format version 1.1"},
        {12, 2, 0, "architecture 2"},
        {20, 3, 0, "guest ABI version 3"},
        {52, 65, 0, "header length 65"},
        {60, 1, 0, "reserved"},
        {LV_SNAP_HDR_LEN + 100, 0xff, 0, "checksum"},
        {36, 1, 1, "bytes after the last of 1 sections"},
        {36, 200, 1, "200 sections"},
        {LV_SNAP_HDR_LEN, 0, 1, "unknown type 0"},
        {LV_SNAP_HDR_LEN, LV_SEC_REGS, 1, "before the vm section"},
        {LV_SNAP_HDR_LEN + 4, 33, 1, "section vm is 33 bytes"},
        {LV_SNAP_HDR_LEN + 7, 0x40, 1, "runs past the end"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        memcpy(c, b, len);
        c[cases[k].off] = cases[k].val;
        if (cases[k].crc)
            fix_crc(c, len);
        CHECK(lv_snap_parse(&t, c, len, &e) < 0 && strstr(e.msg, cases[k].needle),
              "byte %zu = %u: want \"%s\", got \"%s\"", cases[k].off, cases[k].val,
              cases[k].needle, e.msg);
        lv_snap_close(&t);
    }
    /* every truncation, and one byte more: the length field disagrees */
    for (size_t n = 0; n < len; n++) {
        CHECK(lv_snap_parse(&t, b, n, &e) < 0 && !t && e.msg[0], "%zu of %zu bytes accepted",
              n, len);
        lv_snap_close(&t);
    }
    memcpy(c, b, len);
    c[len] = 0;
    CHECK(lv_snap_parse(&t, c, len + 1, &e) < 0 && strstr(e.msg, "truncated or padded"),
          "a byte more: %s", e.msg);
    /* every one-byte change past the header, its checksum right: refused
     * with a message, or accepted; never a crash (ASan, UBSan) */
    for (size_t off = LV_SNAP_HDR_LEN; off < len; off++) {
        memcpy(c, b, len);
        c[off] ^= 0x5a;
        fix_crc(c, len);
        e.msg[0] = '\0';
        if (lv_snap_parse(&t, c, len, &e) < 0)
            CHECK(e.msg[0] && !t, "byte %zu: refused without a message", off);
        lv_snap_close(&t);
    }
    free(c);
    free(b);
}

static int memfd_of(const void *buf, size_t len, uint64_t size)
{
    int fd = memfd_create("snap", MFD_CLOEXEC);

    if (fd >= 0 && ((len && write(fd, buf, len) != (ssize_t)len) || ftruncate(fd, (off_t)size)))
        CHECK(0, "memfd: %s", strerror(errno));
    return fd;
}

/* lv_snap_open: the files' kinds and sizes; it keeps its own fd. */
static void test_open(void)
{
    static struct lv_snap s;
    struct lv_snap *t = NULL;
    struct lv_err e = {""};
    size_t len = 0;
    uint8_t *b;
    int pp[2];

    make_state(&s);
    b = encoded(&s, &len);
    if (!b)
        return;
    int sfd = memfd_of(b, len, len), mfd = memfd_of(NULL, 0, MEM);
    int shortfd = memfd_of(NULL, 0, MEM - 4096), emptyfd = memfd_of(NULL, 0, 0);

    CHECK(lv_snap_open(&t, sfd, mfd, &e) == 0 && t, "open: %s", e.msg);
    close(mfd);
    CHECK(t && fcntl(t->mem_fd, F_GETFD) >= 0 && (fcntl(t->mem_fd, F_GETFD) & FD_CLOEXEC),
          "the snapshot's own memory fd");
    lv_snap_close(&t);
    CHECK(lv_snap_open(&t, sfd, shortfd, &e) < 0 && !t && strstr(e.msg, "cut short"),
          "short memory file: %s", e.msg);
    CHECK(lv_snap_open(&t, emptyfd, shortfd, &e) < 0 && strstr(e.msg, "1 to"),
          "empty state file: %s", e.msg);
    CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe");
    CHECK(lv_snap_open(&t, pp[0], shortfd, &e) < 0 && strstr(e.msg, "not a regular file"),
          "a pipe as the state file: %s", e.msg);
    CHECK(lv_snap_open(&t, sfd, pp[0], &e) < 0 && strstr(e.msg, "not a regular file"),
          "a pipe as the memory file: %s", e.msg);
    close(pp[0]);
    close(pp[1]);
    close(sfd);
    close(shortfd);
    close(emptyfd);
    free(b);
}

int main(void)
{
    test_crc();
    test_round_trip();
    test_spec();
    test_refusals();
    test_damage();
    test_open();
    return lvt_done("test_snapfile");
}
