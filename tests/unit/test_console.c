/* test_console.c: the console's escaping for a terminal (lib/util/escape.c)
 * and the capped console log (lib/core/console.c), on real files: the cap
 * and its accounting, oversized writes, a log that follows its renamed
 * directory, failed writes (a file size limit) that are counted and never
 * reported, a consistent tail while a writer rotates the log under it,
 * and the fd console (escaped, raw, a closed pipe). No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/console.h"
#include "lightvm/escape.h"
#include "lvtest.h"

/* ---- escaping ---- */

static char *esc_alloc(const void *in, size_t n, size_t *len)
{
    char *out = malloc(LV_ESC_MAX(n) + 1);

    *len = out ? lv_escape(in, n, out) : 0;
    return out;
}

static void test_escape_table(void)
{
    static const struct {
        const char *in;
        size_t n; /* 0: strlen */
        const char *want;
    } t[] = {
        {"hello\n\tworld", 0, "hello\n\tworld"},
        {"\x1b[31mred\x1b[0m", 0, "\\x1b[31mred\\x1b[0m"},
        {"a\rb\x07" "c\x08" "d\x7f", 0, "a\\x0db\\x07c\\x08d\\x7f"},
        {"nul\0!", 5, "nul\\x00!"},
        {"back\\slash", 0, "back\\\\slash"},
        {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
        {"\xc2\xa0", 0, "\xc2\xa0"},                       /* NBSP: printable */
        {"\xc2\x9b" "1m", 0, "\\xc2\\x9b1m"},              /* C1 CSI */
        {"\xc2\x80\xc2\x9f", 0, "\\xc2\\x80\\xc2\\x9f"},   /* the C1 range's ends */
        {"\xc0\xaf", 0, "\\xc0\\xaf"},                     /* overlong '/' */
        {"\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf"},            /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0, "\\xed\\xa0\\x80"},            /* a surrogate */
        {"\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80"},   /* beyond U+10FFFF */
        {"\xf5\xff\xfe", 0, "\\xf5\\xff\\xfe"},
        {"\x80x", 0, "\\x80x"},                            /* a stray continuation */
        {"\xe2\x82", 0, "\\xe2\\x82"},                     /* cut short at the end */
        {"\xe2\x82" "A", 0, "\\xe2\\x82A"},                /* cut short by ASCII */
        {"\xe2\xe2\x82\xac", 0, "\\xe2\xe2\x82\xac"},      /* a lead byte restarts */
        {"", 0, ""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = t[i].n ? t[i].n : strlen(t[i].in), len;
        char *out = esc_alloc(t[i].in, n, &len);
        CHECK(out && len == strlen(t[i].want) && !memcmp(out, t[i].want, len) && !out[len],
              "escape case %zu: got \"%s\", want \"%s\"", i, out ? out : "(null)", t[i].want);
        free(out);
    }
}

/* What an escaped text must be: nothing in it left to escape but its
 * backslashes (escaping it again only doubles them), and it decodes to
 * the input. */
static int check_escaped(const uint8_t *in, size_t n, const char *out, size_t len)
{
    size_t len2, nb = 0, k = 0, dlen;
    char *again = esc_alloc(out, len, &len2);
    uint8_t *dec = malloc(len + 1);
    int ok = again && dec;

    for (size_t i = 0; ok && i < len; i++)
        nb += out[i] == '\\';
    ok = ok && len2 == len + nb;
    for (size_t i = 0; ok && i < len; i++) {
        ok = again[k++] == out[i];
        if (ok && out[i] == '\\')
            ok = again[k++] == '\\';
    }
    ok = ok && lv_unescape(out, len, dec, &dlen, NULL) == 0 && dlen == n && !memcmp(dec, in, n);
    free(again);
    free(dec);
    return ok;
}

static uint64_t rng = 88172645463325252ull;

static uint8_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)rng;
}

static void test_escape_properties(void)
{
    uint8_t in[4096];
    int bad = 0;

    /* every pair of bytes */
    for (unsigned v = 0; v < 65536 && bad < 5; v++) {
        uint8_t p[2] = {(uint8_t)(v >> 8), (uint8_t)v};
        char out[LV_ESC_MAX(2) + 1];
        size_t len = lv_escape(p, 2, out);
        if (!check_escaped(p, 2, out, len)) {
            bad++;
            CHECK(0, "pair %02x %02x: escaped \"%s\" does not decode or is not clean", p[0],
                  p[1], out);
        }
    }
    /* random buffers, biased towards UTF-8 lead and continuation bytes,
     * escaped whole and as a stream split at random points */
    for (int round = 0; round < 200 && bad < 10; round++) {
        size_t n = 1 + rnd() * 16u % sizeof(in), len, slen = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t r = rnd();
            in[i] = r < 64 ? (uint8_t)(0x80 | (rnd() & 0x3f))
                  : r < 96 ? (uint8_t)(0xc0 | (rnd() & 0x3f)) : r;
        }
        char *out = esc_alloc(in, n, &len), *s = malloc(LV_ESC_MAX(n) + 1);
        struct lv_esc st = {{0}, 0};
        for (size_t i = 0; s && i < n;) {
            size_t k = 1 + rnd() % 7u;
            k = k > n - i ? n - i : k;
            slen += lv_esc_feed(&st, in + i, k, s + slen);
            i += k;
        }
        if (s)
            slen += lv_esc_end(&st, s + slen);
        if (!out || !s || !check_escaped(in, n, out, len) || slen != len ||
            memcmp(s, out, len)) {
            bad++;
            CHECK(0, "random buffer %d (%zu bytes): escaped whole %zu, streamed %zu bytes, or "
                  "not clean", round, n, len, slen);
        }
        free(out);
        free(s);
    }
}

static void test_unescape_errors(void)
{
    static const char *const bad[] = {"\\", "a\\q", "\\x", "\\x1", "\\xg0", "\\x0g", "ok\\X41"};
    uint8_t out[16];
    size_t len;
    struct lv_err err = {""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(lv_unescape(bad[i], strlen(bad[i]), out, &len, &err) == -EINVAL &&
              strstr(err.msg, "offset"), "unescape \"%s\": accepted or no message (%s)", bad[i],
              err.msg);
    CHECK(lv_unescape("\\x41\\\\\\xFF", 10, out, &len, NULL) == 0 && len == 3 && out[0] == 'A' &&
          out[1] == '\\' && out[2] == 0xff, "unescape of good text: %zu bytes", len);
}

/* ---- the capped log ---- */

static char dir[64];

static long fsize(const char *name)
{
    char p[128];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : 0;
}

static void rm_log(void)
{
    char p[128];

    snprintf(p, sizeof(p), "%s/%s", dir, LV_CONSOLE_LOG);
    unlink(p);
    snprintf(p, sizeof(p), "%s/%s", dir, LV_CONSOLE_OLD);
    unlink(p);
}

/* The stream a writer produced: (n) bytes of lines "%08u\n". */
static void lines(char *buf, size_t n, unsigned first)
{
    char l[16];

    for (size_t i = 0; i < n;) {
        snprintf(l, sizeof(l), "%08u\n", first++);
        for (size_t k = 0; k < 9 && i < n; k++)
            buf[i++] = l[k];
    }
}

static void test_log_cap(void)
{
    enum { CAP = 8192, TOTAL = 100 * 1000 };
    struct lv_console *c = NULL;
    struct lv_console_stats s;
    struct lv_err err = {""};
    static char all[TOTAL];
    static uint8_t tail[CAP + 1];
    size_t off = 0, n;
    int bad = 0;

    lines(all, TOTAL, 0);
    CHECK(lv_console_open_log(&c, dir, CAP, &err) == 0, "open: %s", err.msg);
    if (!c)
        return;
    for (unsigned w = 0; off < TOTAL && bad < 3; w++) {
        size_t len = 1 + (w * 37u) % 1500; /* odd sizes, some crossing the half */
        len = len > TOTAL - off ? TOTAL - off : len;
        CHECK(lv_console_write(c, (const uint8_t *)all + off, len) == 0, "write %u failed", w);
        off += len;
        lv_console_stats(c, &s);
        long on_disk = fsize(LV_CONSOLE_LOG) + fsize(LV_CONSOLE_OLD);
        if (on_disk > CAP || s.bytes != off || s.bytes - s.dropped != (uint64_t)on_disk) {
            bad++;
            CHECK(0, "after %zu bytes: %ld on disk (cap %d), stats bytes=%llu dropped=%llu", off,
                  on_disk, CAP, (unsigned long long)s.bytes, (unsigned long long)s.dropped);
        }
    }
    lv_console_stats(c, &s);
    CHECK(s.cap == CAP && s.errors == 0 && s.dropped >= TOTAL - CAP, "final stats: cap=%llu "
          "errors=%llu dropped=%llu", (unsigned long long)s.cap, (unsigned long long)s.errors,
          (unsigned long long)s.dropped);
    /* the tail is the newest output, exactly */
    CHECK(lv_console_tail(dir, tail, CAP, &n, &err) == 0, "tail: %s", err.msg);
    CHECK(n == s.bytes - s.dropped && n >= CAP / 2 && !memcmp(tail, all + TOTAL - n, n),
          "tail: %zu bytes, not the last of the stream (%llu kept)", n,
          (unsigned long long)(s.bytes - s.dropped));
    CHECK(lv_console_tail(dir, tail, 100, &n, NULL) == 0 && n == 100 &&
          !memcmp(tail, all + TOTAL - 100, 100), "a 100-byte tail: %zu bytes", n);
    /* a write larger than half the cap keeps its last half */
    static uint8_t big[CAP * 2];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    uint64_t d0 = s.dropped;
    CHECK(lv_console_write(c, big, sizeof(big)) == 0, "big write failed");
    lv_console_stats(c, &s);
    CHECK(fsize(LV_CONSOLE_LOG) == CAP / 2 && s.dropped - d0 >= sizeof(big) - CAP / 2,
          "after a %zu-byte write: log %ld bytes, %llu more dropped", sizeof(big),
          fsize(LV_CONSOLE_LOG), (unsigned long long)(s.dropped - d0));
    CHECK(lv_console_tail(dir, tail, CAP / 2, &n, NULL) == 0 && n == CAP / 2 &&
          !memcmp(tail, big + sizeof(big) - CAP / 2, n), "tail after the big write");
    lv_console_close(&c);
    CHECK(!c, "close did not clear the pointer");
    /* reopened: appends, knowing what is there */
    CHECK(lv_console_open_log(&c, dir, CAP, NULL) == 0, "reopen");
    if (c) {
        lv_console_write(c, (const uint8_t *)"x\n", 2);
        CHECK(fsize(LV_CONSOLE_LOG) + fsize(LV_CONSOLE_OLD) <= CAP, "reopened log over the cap");
        lv_console_close(&c);
    }
    CHECK(lv_console_open_log(&c, dir, CAP / 4, &err) == -EINVAL && strstr(err.msg, "cap"),
          "a cap below the minimum: %s", err.msg);
    CHECK(lv_console_open_log(&c, "/nonexistent-lv", CAP, &err) == -ENOENT &&
          strstr(err.msg, "/nonexistent-lv"), "a missing directory: %s", err.msg);
    rm_log();
}

/* The log follows its directory (a VM shell's directory is renamed to
 * the VM's name after the console was opened). */
static void test_log_renamed_dir(void)
{
    char moved[80], p[128];
    struct lv_console *c = NULL;
    struct stat st;

    snprintf(moved, sizeof(moved), "%s.moved", dir);
    if (lv_console_open_log(&c, dir, LV_CONSOLE_CAP_MIN, NULL) < 0) {
        CHECK(0, "open");
        return;
    }
    CHECK(rename(dir, moved) == 0, "rename %s: %s", dir, strerror(errno));
    for (int i = 0; i < 1000; i++) /* through several rotations (33 KB, cap 8 KiB) */
        lv_console_write(c, (const uint8_t *)"0123456789abcdef0123456789abcdef\n", 33);
    snprintf(p, sizeof(p), "%s/%s", moved, LV_CONSOLE_OLD);
    CHECK(stat(p, &st) == 0 && st.st_size > 0, "no rotated log in the renamed directory");
    lv_console_close(&c);
    CHECK(rename(moved, dir) == 0, "rename back");
    rm_log();
}

/* Someone removes the log files under a running console (to free the
 * space): it starts new ones instead of writing on into a removed file. */
static void test_log_removed(void)
{
    struct lv_console *c = NULL;
    struct lv_console_stats s;
    char line[64];

    memset(line, 'r', sizeof(line));
    line[63] = '\n';
    if (lv_console_open_log(&c, dir, LV_CONSOLE_CAP_MIN, NULL) < 0) {
        CHECK(0, "open");
        return;
    }
    for (int i = 0; i < 100; i++)
        lv_console_write(c, (const uint8_t *)line, sizeof(line));
    rm_log();
    for (int i = 0; i < 40; i++) /* 2560 bytes: one rotation, at most */
        lv_console_write(c, (const uint8_t *)line, sizeof(line));
    lv_console_stats(c, &s);
    CHECK(fsize(LV_CONSOLE_LOG) > 0 && s.errors == 0 &&
          s.bytes - s.dropped == (uint64_t)(fsize(LV_CONSOLE_LOG) + fsize(LV_CONSOLE_OLD)),
          "after its files were removed: log %ld, old %ld, bytes=%llu dropped=%llu errors=%llu",
          fsize(LV_CONSOLE_LOG), fsize(LV_CONSOLE_OLD), (unsigned long long)s.bytes,
          (unsigned long long)s.dropped, (unsigned long long)s.errors);
    lv_console_close(&c);
    rm_log();
}

/* Writes that fail (here EFBIG: a file size limit) lose only their own
 * bytes, are counted, and are never reported to the caller. */
static void test_log_failures(void)
{
    struct rlimit old, lim;
    struct lv_console *c = NULL;
    struct lv_console_stats s;
    char buf[1000];

    memset(buf, 'f', sizeof(buf));
    if (lv_console_open_log(&c, dir, 64 << 10, NULL) < 0) {
        CHECK(0, "open");
        return;
    }
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 5500;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit: %s", strerror(errno));
    int rc = 0;
    for (int i = 0; i < 20; i++)
        rc |= lv_console_write(c, (const uint8_t *)buf, sizeof(buf));
    setrlimit(RLIMIT_FSIZE, &old);
    lv_console_stats(c, &s);
    CHECK(rc == 0, "a failed log write was reported to the caller");
    CHECK(s.errors >= 1 && s.last_errno == EFBIG && s.bytes == 20000 &&
          s.bytes - s.dropped == (uint64_t)(fsize(LV_CONSOLE_LOG) + fsize(LV_CONSOLE_OLD)),
          "with a 5500-byte file limit: errors=%llu last_errno=%d bytes=%llu dropped=%llu, "
          "on disk %ld", (unsigned long long)s.errors, s.last_errno,
          (unsigned long long)s.bytes, (unsigned long long)s.dropped,
          fsize(LV_CONSOLE_LOG) + fsize(LV_CONSOLE_OLD));
    /* the limit gone, output is kept again */
    uint64_t kept = s.bytes - s.dropped;
    lv_console_write(c, (const uint8_t *)buf, 100);
    lv_console_stats(c, &s);
    CHECK(s.bytes - s.dropped == kept + 100, "after the limit: %llu kept, want %llu",
          (unsigned long long)(s.bytes - s.dropped), (unsigned long long)(kept + 100));
    lv_console_close(&c);
    rm_log();
}

/* A tail read while a writer rotates the log as fast as it can is always
 * a contiguous piece of the stream: consecutive line numbers. */
struct writer {
    struct lv_console *c;
    int stop;
};

/* Blocks of 455 lines (4095 bytes, just under half the cap): every
 * write rotates the log. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    static char block[455 * 9];

    for (unsigned i = 0; !__atomic_load_n(&w->stop, __ATOMIC_RELAXED) && i < 1000000; i++) {
        lines(block, sizeof(block), i * 455);
        lv_console_write(w->c, (const uint8_t *)block, sizeof(block));
    }
    return NULL;
}

static void test_tail_while_rotating(void)
{
    struct writer w = {NULL, 0};
    pthread_t t;
    static uint8_t tail[LV_CONSOLE_CAP_MIN];
    size_t n;
    int bad = 0, reads = 0, lines_seen = 0;

    if (lv_console_open_log(&w.c, dir, LV_CONSOLE_CAP_MIN, NULL) < 0) {
        CHECK(0, "open");
        return;
    }
    if (pthread_create(&t, NULL, writer_main, &w)) {
        lv_console_close(&w.c);
        CHECK(0, "pthread_create");
        return;
    }
    for (; reads < 10000 && bad < 3; reads++) {
        if (lv_console_tail(dir, tail, sizeof(tail), &n, NULL) < 0) {
            bad++;
            CHECK(0, "tail failed while rotating");
            continue;
        }
        /* from the first whole line on */
        size_t i = 0;
        while (i < n && tail[i] != '\n')
            i++;
        long prev = -1;
        for (i++; i + 9 <= n; i += 9) {
            char num[9];
            memcpy(num, tail + i, 8);
            num[8] = '\0';
            long v = strtol(num, NULL, 10);
            if ((prev >= 0 && v != prev + 1) || tail[i + 8] != '\n') {
                bad++;
                CHECK(0, "tail %d not contiguous: %ld after %ld", reads, v, prev);
                break;
            }
            prev = v;
            lines_seen++;
        }
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    struct lv_console_stats s;
    lv_console_stats(w.c, &s);
    printf("tail while rotating: %d reads, %d lines checked, %llu bytes written, %llu dropped\n",
           reads, lines_seen, (unsigned long long)s.bytes, (unsigned long long)s.dropped);
    CHECK(s.dropped > 0, "the writer never rotated the log");
    lv_console_close(&w.c);
    rm_log();
}

/* ---- the fd console ---- */

static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t k;

    while (n < cap && (k = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)k;
    return n;
}

static void test_fd_console(void)
{
    static const char in[] = "a\x1b[2Jb\xe2\x82";
    static const char rest[] = "\xac\n";
    struct lv_console *c = NULL;
    struct lv_console_stats s;
    char out[256];
    int p[2];

    CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe");
    CHECK(lv_console_open_fd(&c, p[1], LV_CONSOLE_ESCAPE, NULL) == 0, "open fd console");
    if (!c)
        return;
    /* a UTF-8 sequence split between two writes stays whole */
    lv_console_write(c, (const uint8_t *)in, sizeof(in) - 1);
    lv_console_write(c, (const uint8_t *)rest, sizeof(rest) - 1);
    lv_console_write(c, (const uint8_t *)"\xe2", 1);
    CHECK(lv_console_flush(c) == 0, "flush");
    size_t n = drain(p[0], out, sizeof(out) - 1);
    out[n] = '\0';
    CHECK(!strcmp(out, "a\\x1b[2Jb\xe2\x82\xac\n\\xe2"), "escaped fd console: \"%s\"", out);
    lv_console_close(&c);
    /* raw */
    CHECK(lv_console_open_fd(&c, p[1], 0, NULL) == 0, "open raw fd console");
    if (c) {
        lv_console_write(c, (const uint8_t *)in, sizeof(in) - 1);
        n = drain(p[0], out, sizeof(out));
        CHECK(n == sizeof(in) - 1 && !memcmp(out, in, n), "raw fd console: %zu bytes", n);
    }
    /* a closed reader: the write fails and says so (the VM then stops) */
    signal(SIGPIPE, SIG_IGN);
    close(p[0]);
    CHECK(c && lv_console_write(c, (const uint8_t *)"x", 1) == -EPIPE, "write to a closed pipe");
    if (c) {
        lv_console_stats(c, &s);
        CHECK(s.errors == 1 && s.last_errno == EPIPE && s.cap == 0, "fd console stats: "
              "errors=%llu errno=%d", (unsigned long long)s.errors, s.last_errno);
    }
    lv_console_close(&c);
    close(p[1]);
    CHECK(lv_console_open_fd(&c, -1, 0, NULL) == -EINVAL, "fd -1 accepted");
    lv_console_close(&c); /* NULL: a no-op */
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/lvtest-console-XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "FAIL: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_escape_table();
    test_escape_properties();
    test_unescape_errors();
    test_log_cap();
    test_log_renamed_dir();
    test_log_removed();
    test_log_failures();
    test_tail_while_rotating();
    test_fd_console();
    rm_log();
    rmdir(dir);
    return lvt_done("test_console");
}
