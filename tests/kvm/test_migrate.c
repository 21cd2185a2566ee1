/*
 * test_migrate.c: live migration of real guests between two VMs of this
 * process over a socketpair (lv_mig_send in a thread, lv_mig_recv here),
 * on taps of one bridge in a network namespace of the test's own; the
 * destination takes the source's MAC and IP (no identity of its own).
 *
 *   1. counter (a UDP service: "count N uptime_ms M gen G ip A") booted
 *      and asked three times; migrated while a client thread keeps asking
 *      it (each request one retry at most): every request answered, the
 *      counts strictly increasing from 4 on (the state came along, no
 *      reboot), the guest's uptime never going back (on VMX/SVM each VM's
 *      TSC starts at its creation: the destination's is seconds behind
 *      the source's, as another host's would be), the destination answers
 *      from the same address with generation 1, the source has stopped
 *      (LV_VM_STOPPED);
 *   2. that destination migrated on through a forwarding thread that
 *      closes both sides after half the bytes of the first migration: the
 *      send fails, the source runs on and answers with the next count, the
 *      destination is refused (and destroyed);
 *   3. again with one byte of the first page record flipped on the way
 *      (and no pre-copy): the destination refuses the checksum, the
 *      source runs on and answers;
 *   4. the commit: the source gives up waiting for R (1 s) before the
 *      destination says it: the source runs on with the next count, the
 *      destination's R gets no C and its copy never starts;
 *      then moved on without pre-copy (paused first, one round) to a
 *      third VM: the next count, generation 2, that source stopped;
 *   5. a copying stream 1.0 (no commit) is refused, nothing received;
 *   6. dirtier (writes 2000 pages per ms over 2048 pages) migrated: the
 *      dirty set cannot shrink, so pre-copy gives up (not converged)
 *      within the round bound and stops and copies; the destination
 *      answers with a written count past the source's.
 *
 * Stats (rounds, pages per round, bytes, downtime, total) are printed as
 * information: timings mean nothing nested (no thresholds here).
 * The VMs, the taps, asking counter, the sending and forwarding threads
 * started: migvm.c (shared with test_miglocal).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/elf.h"
#include "lightvm/migrate.h"
#include "lightvm/net.h"
#include "lightvm/vm.h"
#include "../../lib/migrate/mig_impl.h"
#include "../../lib/snapshot/snap_impl.h"
#include "../../lib/util/le.h"
#include "lvtest.h"
#include "migvm.h"

#define MEM (16u << 20)
#define BRIDGE "lvmig0"
#define VM_IP "10.9.2.2"
#define GW "10.9.2.1"

static struct migvm mv = {.bridge = BRIDGE, .vm_ip = VM_IP, .gw = GW, .mem = MEM};

/* Asks dirtier; its written count, or -1. */
static long ask_dirtier(int tries)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    unsigned long w = 0;
    long got = -1;
    char buf[256];

    for (int t = 0; fd >= 0 && t < tries && got < 0; t++)
        if (ask_once(&mv, fd, buf, sizeof(buf), 1000) &&
            sscanf(buf, "dirtier written %lu", &w) == 1)
            got = (long)w;
    if (fd >= 0)
        close(fd);
    return got;
}

/* ---- the two ends ---- */

static void print_stats(const char *who, const struct lv_mig_stats *st)
{
    printf("%s: %u rounds (pages:", who, st->rounds);
    for (unsigned r = 0; r < st->rounds && r < LV_MIG_MAX_ROUNDS; r++)
        printf(" %llu", (unsigned long long)st->pages[r]);
    printf("), %llu bytes, state %llu bytes, %s, downtime %llu us, total %llu us\n",
           (unsigned long long)st->bytes, (unsigned long long)st->state_bytes,
           st->converged ? "converged" : "stop-and-copy",
           (unsigned long long)st->downtime_ns / 1000,
           (unsigned long long)st->total_ns / 1000);
}

/* The destination up to its commit: the header, a VM of its size, the
 * stream. On failure the VM is destroyed and F sent; the message in (e). */
static int receive_stream(int fd, struct box *dst, struct lv_mig_stats *st, struct lv_err *e)
{
    struct lv_mig_opts o = {.io_timeout_ms = IO_MS};
    struct lv_mig_hdr h;
    int rc = lv_mig_recv_header(fd, &o, &h, e);

    dst->vm = NULL;
    dst->tap.fd = -1;
    if (!rc && (h.mem_size != MEM || h.nnics != 1))
        rc = lv_err_set(e, EINVAL, "header: %llu bytes, %u NICs", (unsigned long long)h.mem_size,
                        h.nnics);
    if (!rc && box_make(&mv, dst, NULL, h.mem_size, 1) < 0)
        rc = lv_err_set(e, EIO, "destination VM");
    if (!rc)
        rc = lv_mig_recv(dst->vm, fd, &h, &o, st, e);
    if (rc) {
        lv_mig_refuse(fd);
        box_free(dst);
    }
    return rc;
}

/* The whole destination: the stream, R and the source's C, the start.
 * On failure the VM is destroyed. */
static int receive(int fd, struct box *dst, struct lv_mig_stats *st, struct lv_err *e)
{
    struct lv_mig_opts o = {.io_timeout_ms = IO_MS, .ack_timeout_ms = IO_MS};
    int rc = receive_stream(fd, dst, st, e);

    if (rc)
        return rc;
    rc = lv_mig_ready(fd, &o, e); /* no C: the source runs on, this one must not */
    if (!rc)
        rc = lv_vm_start(dst->vm, e);
    if (rc)
        box_free(dst);
    return rc;
}

/* 1: counter migrated under a client's requests; *dst runs it after. */
static int test_live(struct box *dst, struct lv_mig_stats *out)
{
    struct client c = {.m = &mv};
    struct sender s;
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct lvt_reply r = {0};
    struct box src;
    int sv[2], rc;

    if (boot(&mv, &src, "counter", NULL) < 0) {
        box_free(&src);
        return -1;
    }
    for (unsigned long k = 1; k <= 3; k++)
        CHECK(ask(&mv, k == 1 ? 60 : 5, &r) && r.count == k, "counter before: reply %lu: %lu", k,
              r.count);
    c.last = 3;
    /* a paused VM is refused, and left as it was */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(lv_vm_pause(src.vm, &e) == 0, "pause: %s", e.msg);
    CHECK(lv_mig_send(src.vm, sv[0], NULL, NULL, &e) == -EINVAL && strstr(e.msg, "running") &&
              lv_vm_is_paused(src.vm), "a paused VM sent: \"%s\"", e.msg);
    CHECK(lv_vm_unpause(src.vm, &e) == 0, "unpause: %s", e.msg);
    close(sv[0]);
    close(sv[1]);
    CHECK(pthread_create(&c.t, NULL, client_main, &c) == 0, "client thread");
    lvt_sleep_ms(300);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(start_sender(&s, lv_mig_send, src.vm, sv[0], 0, IO_MS) == 0, "sender thread");
    rc = receive(sv[1], dst, &rst, &e);
    CHECK(rc == 0, "the destination: %s", e.msg);
    pthread_join(s.t, NULL);
    CHECK(s.rc == 0, "the source: %s", s.e.msg);
    atomic_store(&c.done, 1);
    pthread_join(c.t, NULL);
    print_stats("live migration, source", &s.st);
    printf("live migration, destination: %u rounds, %llu bytes, total %llu us\n", rst.rounds,
           (unsigned long long)rst.bytes, (unsigned long long)rst.total_ns / 1000);
    printf("client: %d requests, %d answered, %d retries, counts %lu .. %lu\n", c.asked,
           c.answered, c.retried, c.first, c.last);
    CHECK(c.answered == c.asked && c.asked >= 5, "%d of %d requests answered", c.answered,
          c.asked);
    CHECK(c.first == 4 && c.disorder == 0, "the count went from 3 to %lu (%d out of order)",
          c.first, c.disorder);
    CHECK(c.clock_back == 0, "the guest's clock went back %d times (on VMX/SVM the "
          "destination VM's TSC started later than the source's)", c.clock_back);
    CHECK(s.rc != 0 || s.st.rounds == rst.rounds, "rounds: %u sent, %u received", s.st.rounds,
          rst.rounds);
    if (!rc && !s.rc) {
        check_stopped(&src);
        CHECK(ask(&mv, 5, &r) && r.count > c.last && r.gen == 1 && !strcmp(r.ip, VM_IP) &&
                  r.uptime_ms >= c.last_uptime_ms,
              "the destination after: count %lu (client's last %lu) gen %lu ip %s uptime %lu "
              "ms (client's last %lu)", r.count, c.last, r.gen, r.ip, r.uptime_ms,
              c.last_uptime_ms);
    }
    *out = s.st;
    close(sv[0]);
    close(sv[1]);
    box_free(&src);
    return rc || s.rc ? -1 : 0;
}

/* The source answers (*before); a socketpair (sv) and a sending thread
 * (s) on sv[0] with (no_precopy) and an ack timeout of (ack_ms). */
static void start_pair(struct box *src, struct lvt_reply *before, int sv[2], struct sender *s,
                       int no_precopy, int ack_ms)
{
    CHECK(ask(&mv, 5, before), "the source does not answer before");
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(start_sender(s, lv_mig_send, src->vm, sv[0], no_precopy, ack_ms) == 0,
          "sender thread");
}

/* After a failed migration: the source runs on, not paused, with the
 * next count and the same generation as (before). */
static void check_runs_on(struct box *src, const struct lvt_reply *before, const char *what)
{
    struct lvt_reply after = {0};

    CHECK(!lv_vm_is_paused(src->vm), "%s: the source stays paused", what);
    CHECK(ask(&mv, 10, &after) && after.count == before->count + 1 && after.gen == before->gen,
          "%s: the source after: count %lu (before %lu) gen %lu", what, after.count,
          before->count, after.gen);
}

/* ---- a forwarding thread that cuts or corrupts the stream ---- */

struct fwd {
    pthread_t t;
    int a, b;            /* the source's peer, the destination's peer (owned) */
    uint64_t cut_at;     /* close both after this many bytes source -> destination (0: never) */
    uint64_t flip_at;    /* flip this byte's lowest bit (0: none) */
    uint64_t forwarded;
};

static int pass(int from, int to, uint64_t *count, struct fwd *f, int forward)
{
    uint8_t buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n <= 0)
        return -1;
    if (forward && f->cut_at && *count + (uint64_t)n > f->cut_at)
        n = (ssize_t)(f->cut_at - *count);
    if (forward && f->flip_at && f->flip_at >= *count && f->flip_at < *count + (uint64_t)n)
        buf[f->flip_at - *count] ^= 1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += w;
    }
    *count += (uint64_t)n;
    return forward && f->cut_at && *count >= f->cut_at ? -1 : 0;
}

static void *fwd_main(void *arg)
{
    struct fwd *f = arg;
    uint64_t back = 0;

    for (int i = 0; i < 1000000; i++) { /* bounded; ends when a side closes or the cut */
        struct pollfd p[2] = {{f->a, POLLIN, 0}, {f->b, POLLIN, 0}};
        if (poll(p, 2, IO_MS) <= 0)
            break;
        if ((p[0].revents & (POLLIN | POLLHUP)) && pass(f->a, f->b, &f->forwarded, f, 1) < 0)
            break;
        if ((p[1].revents & (POLLIN | POLLHUP)) && pass(f->b, f->a, &back, f, 0) < 0)
            break;
    }
    close(f->a);
    close(f->b);
    return NULL;
}

/* Migrates (src) (running counter) through a forwarder that cuts or
 * corrupts; both sides must fail, the source must answer after. */
static void test_broken(struct box *src, uint64_t cut_at, uint64_t flip_at, int no_precopy,
                        const char *want)
{
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct box dst;
    struct sender s;
    struct fwd f = {.cut_at = cut_at, .flip_at = flip_at};
    struct lvt_reply before = {0};
    int s1[2], s2[2];

    CHECK(ask(&mv, 5, &before), "the source does not answer before");
    fwd_start(s1, s2, &f.a, &f.b, &f.t, fwd_main, &f);
    CHECK(start_sender(&s, lv_mig_send, src->vm, s1[0], no_precopy, IO_MS) == 0,
          "sender thread");
    int rc = receive(s2[1], &dst, &rst, &e);
    close(s2[1]); /* the destination is gone: the forwarder and the source see it */
    pthread_join(s.t, NULL);
    pthread_join(f.t, NULL);
    close(s1[0]);
    printf("broken stream (%llu bytes forwarded): the destination: %s; the source: %s\n",
           (unsigned long long)f.forwarded, e.msg, s.e.msg);
    print_stats("broken stream, source", &s.st);
    CHECK(rc < 0 && strstr(e.msg, want), "the destination: %d \"%s\", want \"%s\"", rc, e.msg,
          want);
    CHECK(dst.vm == NULL, "a refused destination VM is left");
    CHECK(s.rc < 0, "the source's send succeeded through a broken stream");
    check_runs_on(src, &before, "broken stream");
}

/* 4b: (src) moved on without pre-copy (paused first, one round): the
 * count goes on, generation + 1, the source stopped. */
static void test_plain(struct box *src)
{
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct lvt_reply before = {0}, after = {0};
    struct box dst;
    struct sender s;
    int sv[2];

    start_pair(src, &before, sv, &s, 1, IO_MS);
    int rc = receive(sv[1], &dst, &rst, &e);
    pthread_join(s.t, NULL);
    print_stats("without pre-copy, source", &s.st);
    CHECK(rc == 0 && s.rc == 0, "without pre-copy: the destination: %s; the source: %s", e.msg,
          s.e.msg);
    CHECK(s.st.rounds == 1 && !s.st.converged, "without pre-copy: %u rounds", s.st.rounds);
    if (!rc && !s.rc) {
        check_stopped(src);
        CHECK(ask(&mv, 10, &after) && after.count == before.count + 1 &&
                  after.gen == before.gen + 1,
              "after: count %lu (before %lu) gen %lu (before %lu)", after.count, before.count,
              after.gen, before.gen);
        box_free(&dst);
    }
    close(sv[0]);
    close(sv[1]);
}

/* 4: the window the commit closes: the source gives up waiting for R
 * (its ack timeout, 1 s) before the destination says it. The source runs
 * on; the destination's R gets no C, so it never starts its copy. */
static void test_late_ready(struct box *src)
{
    struct lv_mig_opts o = {.io_timeout_ms = IO_MS, .ack_timeout_ms = 2000};
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct lvt_reply before = {0};
    struct box dst;
    struct sender s;
    int sv[2];

    start_pair(src, &before, sv, &s, 0, 1000);
    int rc = receive_stream(sv[1], &dst, &rst, &e);
    pthread_join(s.t, NULL); /* only now does the destination say R */
    printf("late R: the source: %s\n", s.e.msg);
    CHECK(rc == 0, "late R: the stream: %s", e.msg);
    CHECK(s.rc == -ETIMEDOUT, "late R: the source: %d \"%s\"", s.rc, s.e.msg);
    if (!rc) {
        int ready = lv_mig_ready(sv[1], &o, &e);
        printf("late R: the destination: %s\n", e.msg);
        CHECK(ready < 0 && strstr(e.msg, "no commit"),
              "late R: the destination may run its copy: %d \"%s\"", ready, e.msg);
        box_free(&dst);
    }
    check_runs_on(src, &before, "late R");
    close(sv[0]);
    close(sv[1]);
}

/* 5: a copying stream 1.0 (which ran the destination before its ack, no
 * commit) is refused before anything is read into the VM. */
static void test_old_stream(void)
{
    struct lv_mig_hdr h = {MEM, 1, 0, 0, 0};
    uint8_t head[LV_MIG_HDR_LEN];
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct box dst;
    int sv[2];

    lv_mig_put_header(head, &h);
    head[10] = 0; /* 1.0 */
    lv_put32(head + 60, lv_crc32c(head, 60));
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(write(sv[0], head, sizeof(head)) == (ssize_t)sizeof(head), "write the header");
    int rc = receive_stream(sv[1], &dst, &rst, &e);
    CHECK(rc == -ENOTSUP && strstr(e.msg, "older lightvm") && dst.vm == NULL,
          "a 1.0 stream: %d \"%s\"", rc, e.msg);
    close(sv[0]);
    close(sv[1]);
}

/* 6: a guest that dirties pages faster than they go: stop-and-copy. */
static void test_dirtier(void)
{
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct box src, dst;
    struct sender s;
    long before, after;
    int sv[2];

    if (boot(&mv, &src, "dirtier", "2000 2048") < 0) {
        box_free(&src);
        return;
    }
    CHECK(ask_dirtier(60) >= 0, "dirtier does not answer");
    lvt_sleep_ms(1000); /* its whole area written, many times over */
    before = ask_dirtier(5);
    CHECK(before >= 2048, "dirtier has written %ld pages", before);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(start_sender(&s, lv_mig_send, src.vm, sv[0], 0, IO_MS) == 0, "sender thread");
    int rc = receive(sv[1], &dst, &rst, &e);
    pthread_join(s.t, NULL);
    print_stats("dirtier, source", &s.st);
    CHECK(rc == 0 && s.rc == 0, "dirtier: the destination: %s; the source: %s", e.msg, s.e.msg);
    CHECK(!s.st.converged && s.st.rounds <= 16 + 2, "dirtier: %s after %u rounds",
          s.st.converged ? "converged" : "stop-and-copy", s.st.rounds);
    if (!rc && !s.rc) {
        check_stopped(&src);
        after = ask_dirtier(10);
        CHECK(after > before, "dirtier after: written %ld, before %ld", after, before);
        box_free(&dst);
    }
    close(sv[0]);
    close(sv[1]);
    box_free(&src);
}

int main(int argc, char **argv)
{
    struct lv_mig_stats live = {0};
    struct box dst = {0};

    if (migvm_open(&mv, "test_migrate", argc, argv))
        return 1;
    if (test_live(&dst, &live) == 0) {
        test_broken(&dst, live.bytes / 2, 0, 0, "ends early");
        test_broken(&dst, 0, 64 + 8 + 16 + 100, 1, "checksum mismatch in a PAGES record");
        test_late_ready(&dst);
        test_plain(&dst);
        box_free(&dst);
    }
    test_old_stream();
    test_dirtier();
    migvm_close(&mv);
    return lvt_done("test_migrate");
}
