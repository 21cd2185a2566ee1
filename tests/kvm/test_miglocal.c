/*
 * test_miglocal.c: the local fast path of live migration (lib/migrate/
 * local.c): the guest RAM's memfd passed over a socketpair(AF_UNIX) between
 * two VMs of this process (lv_mig_send_local in a thread,
 * lv_mig_recv_local here), on taps of one bridge in a network namespace of
 * the test's own.
 *
 *   1. counter booted and asked three times;
 *   2. a VM restored from counter's snapshot (its RAM a private mapping of
 *      the memory file) is refused by the source with the clear error;
 *   3. a forwarding thread swaps the passed fd for a wrong one (a pipe, a
 *      sealed memfd of half the size, an unsealed memfd of the right
 *      size): each refused at the destination (the VM destroyed), the
 *      source gets the F, runs on and answers with the next count;
 *   4. counter migrated while a client thread keeps asking it (each
 *      request one retry at most): every request answered, the counts
 *      strictly increasing from the source's last + 1, the destination
 *      answers from the same address with generation + 1, the source
 *      stopped; then that destination (its RAM the passed memfd) migrated
 *      on the same way to a third VM (an upgrade after an upgrade).
 *
 * The downtime (source: pause .. commit; destination: commit .. restored;
 * and the start) is printed as information: timings mean nothing nested.
 * The VMs, the taps, asking counter, the sending and forwarding threads
 * started: migvm.c (shared with test_migrate).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/elf.h"
#include "lightvm/migrate.h"
#include "lightvm/net.h"
#include "lightvm/snapshot.h"
#include "lightvm/vm.h"
#include "lvtest.h"
#include "migvm.h"

#define MEM (16u << 20)
#define BRIDGE "lvmigl0"
#define VM_IP "10.9.3.2"
#define GW "10.9.3.1"

static struct migvm mv = {.bridge = BRIDGE, .vm_ip = VM_IP, .gw = GW, .mem = MEM};

/* ---- the two ends ---- */

/* The destination: a fresh shell, the local stream, the start. On
 * failure the VM is destroyed (lv_mig_recv_local answered the source);
 * *start_ns the start's time. */
static int receive(int fd, struct box *dst, struct lv_mig_stats *st, uint64_t *start_ns,
                   struct lv_err *e)
{
    struct lv_mig_opts o = {.io_timeout_ms = IO_MS, .ack_timeout_ms = IO_MS};
    int rc = box_make(&mv, dst, NULL, MEM, 1) < 0 ? lv_err_set(e, EIO, "destination VM") : 0;

    if (!rc)
        rc = lv_mig_recv_local(dst->vm, fd, &o, st, e);
    uint64_t t = lv_now_ns();
    if (!rc)
        rc = lv_vm_start(dst->vm, e);
    *start_ns = lv_now_ns() - t;
    if (rc)
        box_free(dst);
    return rc;
}

/* 2: a restored VM (from (src)'s snapshot) is refused: its RAM is a
 * private mapping of the snapshot's memory file. */
static void test_restored(struct box *src)
{
    struct lv_err e = {""};
    struct lv_snap *snap = NULL;
    struct box r;
    int sv[2] = {-1, -1};
    int sfd = memfd_create("state", MFD_CLOEXEC), mfd = memfd_create("mem", MFD_CLOEXEC);
    int rc = sfd >= 0 && mfd >= 0 ? lv_vm_pause(src->vm, &e) : -1;

    if (!rc) {
        rc = lv_vm_save(src->vm, sfd, mfd, NULL, &e);
        CHECK(lv_vm_unpause(src->vm, NULL) == 0, "unpause after the save");
    }
    CHECK(rc == 0, "save: %s", e.msg);
    if (!rc)
        rc = lv_snap_open(&snap, sfd, mfd, &e);
    if (!rc && !(rc = box_make(&mv, &r, NULL, MEM, 0))) {
        rc = lv_vm_restore(r.vm, snap, &e);
        CHECK(rc == 0, "restore: %s", e.msg);
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
        if (!rc)
            rc = lv_mig_send_local(r.vm, sv[0], NULL, NULL, &e);
        printf("a restored VM: %s\n", e.msg);
        CHECK(rc == -EINVAL && strstr(e.msg, "snapshot") && strstr(e.msg, "copying"),
              "a restored VM passed locally: %d \"%s\"", rc, e.msg);
        box_free(&r);
    }
    lv_snap_close(&snap);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (sfd >= 0)
        close(sfd);
    if (mfd >= 0)
        close(mfd);
}

/* ---- a forwarding thread that swaps the passed fd ---- */

struct fwd {
    pthread_t t;
    int a, b;  /* the source's peer, the destination's peer (owned) */
    int bad;   /* the fd sent in place of the RAM's (owned) */
};

/* The header and its fd from (a); the header to (b) with f->bad. */
static int swap_fd(struct fwd *f)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } c;
    uint8_t head[64];
    struct iovec iov = {head, sizeof(head)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
                       .msg_controllen = sizeof(c.b)};
    struct pollfd p = {f->a, POLLIN, 0};
    int fd = -1;

    if (poll(&p, 1, IO_MS) != 1 || recvmsg(f->a, &m, MSG_CMSG_CLOEXEC) != 64 ||
        !CMSG_FIRSTHDR(&m))
        return -1;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
    close(fd); /* the RAM's: never reaches the destination */
    memset(&c, 0, sizeof(c));
    c.h.cmsg_level = SOL_SOCKET;
    c.h.cmsg_type = SCM_RIGHTS;
    c.h.cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(&c.h), &f->bad, sizeof(int));
    m.msg_controllen = sizeof(c.b);
    return sendmsg(f->b, &m, MSG_NOSIGNAL) == 64 ? 0 : -1;
}

static int pass(int from, int to)
{
    uint8_t buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void *fwd_main(void *arg)
{
    struct fwd *f = arg;
    int ok = swap_fd(f) == 0;

    for (int i = 0; ok && i < 100000; i++) { /* bounded; ends when a side closes */
        struct pollfd p[2] = {{f->a, POLLIN, 0}, {f->b, POLLIN, 0}};
        if (poll(p, 2, IO_MS) <= 0)
            break;
        if ((p[0].revents & (POLLIN | POLLHUP)) && pass(f->a, f->b) < 0)
            break;
        if ((p[1].revents & (POLLIN | POLLHUP)) && pass(f->b, f->a) < 0)
            break;
    }
    close(f->a);
    close(f->b);
    if (f->bad >= 0)
        close(f->bad);
    return NULL;
}

/* 3: (src) sent with (bad) in place of its RAM's fd: refused at the
 * destination with (want), the source runs on. */
static void test_wrong_fd(struct box *src, int bad, const char *what, const char *want)
{
    struct lv_mig_stats rst;
    struct lv_err e = {""};
    struct box dst;
    struct sender s;
    struct fwd f = {.bad = bad};
    struct lvt_reply before = {0}, after = {0};
    uint64_t start;
    int s1[2], s2[2];

    CHECK(bad >= 0, "%s: no fd", what);
    CHECK(ask(&mv, 5, &before), "the source does not answer before");
    fwd_start(s1, s2, &f.a, &f.b, &f.t, fwd_main, &f);
    CHECK(start_sender(&s, lv_mig_send_local, src->vm, s1[0], 0, IO_MS) == 0, "sender thread");
    int rc = receive(s2[1], &dst, &rst, &start, &e);
    pthread_join(s.t, NULL);
    close(s2[1]);
    pthread_join(f.t, NULL);
    close(s1[0]);
    printf("%s: the destination: %s; the source: %s\n", what, e.msg, s.e.msg);
    CHECK(rc < 0 && strstr(e.msg, want), "%s: the destination: %d \"%s\", want \"%s\"", what,
          rc, e.msg, want);
    CHECK(s.rc == -ECANCELED, "%s: the source: %d \"%s\"", what, s.rc, s.e.msg);
    CHECK(!lv_vm_is_paused(src->vm), "%s: the source stays paused", what);
    CHECK(ask(&mv, 10, &after) && after.count == before.count + 1 && after.gen == before.gen,
          "%s: the source after: count %lu (before %lu) gen %lu", what, after.count,
          before.count, after.gen);
}

static int memfd_of(uint64_t size, int seal)
{
    int fd = memfd_create("wrong", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    if (fd >= 0 && (ftruncate(fd, (off_t)size) < 0 ||
                    (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* 4: (src) (running counter) migrated under a client's requests to *dst. */
static int test_live(const char *name, struct box *src, struct box *dst)
{
    struct client c = {.m = &mv};
    struct sender s;
    struct lv_mig_stats rst = {0};
    struct lv_err e = {""};
    struct lvt_reply before = {0}, r = {0};
    uint64_t start = 0;
    int sv[2], rc;

    CHECK(ask(&mv, 5, &before), "%s: the source does not answer", name);
    c.last = before.count;
    CHECK(pthread_create(&c.t, NULL, client_main, &c) == 0, "client thread");
    lvt_sleep_ms(300);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(start_sender(&s, lv_mig_send_local, src->vm, sv[0], 0, IO_MS) == 0, "sender thread");
    rc = receive(sv[1], dst, &rst, &start, &e);
    CHECK(rc == 0, "%s: the destination: %s", name, e.msg);
    pthread_join(s.t, NULL);
    CHECK(s.rc == 0, "%s: the source: %s", name, s.e.msg);
    atomic_store(&c.done, 1);
    pthread_join(c.t, NULL);
    printf("%s: %llu bytes (state %llu); downtime: source %llu us (pause .. commit), "
           "destination %llu us (commit .. restored), start %llu us; total %llu us\n", name,
           (unsigned long long)s.st.bytes, (unsigned long long)s.st.state_bytes,
           (unsigned long long)s.st.downtime_ns / 1000,
           (unsigned long long)rst.downtime_ns / 1000, (unsigned long long)start / 1000,
           (unsigned long long)s.st.total_ns / 1000);
    printf("%s: client: %d requests, %d answered, %d retries, counts %lu .. %lu\n", name,
           c.asked, c.answered, c.retried, c.first, c.last);
    CHECK(c.answered == c.asked && c.asked >= 5, "%s: %d of %d requests answered", name,
          c.answered, c.asked);
    CHECK(c.first == before.count + 1 && c.disorder == 0, "%s: the count went from %lu to %lu "
          "(%d out of order)", name, before.count, c.first, c.disorder);
    CHECK(c.clock_back == 0, "%s: the guest's clock went back %d times", name, c.clock_back);
    CHECK(rst.bytes == s.st.bytes && rst.state_bytes == s.st.state_bytes, "%s: %llu bytes "
          "sent, %llu received", name, (unsigned long long)s.st.bytes,
          (unsigned long long)rst.bytes);
    if (!rc && !s.rc) {
        check_stopped(src);
        CHECK(ask(&mv, 5, &r) && r.count > c.last && r.gen == before.gen + 1 &&
                  !strcmp(r.ip, VM_IP),
              "%s: the destination after: count %lu (client's last %lu) gen %lu ip %s", name,
              r.count, c.last, r.gen, r.ip);
    }
    close(sv[0]);
    close(sv[1]);
    return rc || s.rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct box src = {NULL, {.fd = -1}}, d1 = src, d2 = src;
    struct lvt_reply r = {0};
    int pfd[2] = {-1, -1};

    if (migvm_open(&mv, "test_miglocal", argc, argv))
        return 1;
    if (boot(&mv, &src, "counter", NULL) == 0) {
        for (unsigned long k = 1; k <= 3; k++)
            CHECK(ask(&mv, k == 1 ? 60 : 5, &r) && r.count == k,
                  "counter before: reply %lu: %lu", k, r.count);
        test_restored(&src);
        CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
        close(pfd[1]);
        test_wrong_fd(&src, pfd[0], "a pipe", "not a memfd");
        test_wrong_fd(&src, memfd_of(MEM / 2, 1), "a memfd of half the size", "bytes, the VM's");
        test_wrong_fd(&src, memfd_of(MEM, 0), "an unsealed memfd", "sealed");
        if (test_live("local migration", &src, &d1) == 0 &&
            test_live("local migration on", &d1, &d2) == 0)
            box_free(&d2);
        box_free(&d1);
    }
    box_free(&src);
    migvm_close(&mv);
    return lvt_done("test_miglocal");
}
