/*
 * local.c: the local fast path of a migration (docs/migration.md, "The
 * local fast path"): between two processes on one host, the guest RAM's
 * memfd is passed over an AF_UNIX stream socket (SCM_RIGHTS) instead of
 * being copied, and the destination maps it over its own RAM. Nothing
 * runs while the pages are shared by two VMs: the source pauses first,
 * the destination only checks and maps until the source said it stopped
 * for good:
 *
 *   source                                destination
 *   pause, quiesce, take the state
 *   header (local; the memfd) --------->  header, the fd, ROUND 0 (0 pages),
 *   ROUND 0, STATE, END                     STATE, END; every check; the fd
 *                                           mapped over its RAM (nothing written)
 *   waits for R  <----------------------  R
 *   C -------------------------------->  waits for C
 *   lv_vm_stop: never runs here again     restores the state (writes RAM)
 *                                         the caller: lv_vm_start
 *
 * On anything before C the source resumes its VM (the destination wrote
 * nothing into the RAM, and never writes once it has not read C); a C
 * that could not be written was never read, so the source resumes then
 * too. The destination's failures after C lose the VM (both stopped),
 * never run it twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/vm_impl.h"
#include "../snapshot/snap_impl.h"
#include "mig_impl.h"
#include "../util/le.h"

/* ---- the source ---- */

/* The header with (fd) attached (one sendmsg: 64 bytes go whole into
 * an empty stream socket's buffer, else it is refused). */
static int send_header_fd(int sock, const uint8_t *head, int fd, int tmo, struct lv_err *err)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } c;
    struct iovec iov = {(void *)head, LV_MIG_HDR_LEN};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
                       .msg_controllen = sizeof(c.b)};
    struct pollfd p = {sock, POLLOUT, 0};
    ssize_t n;

    memset(&c, 0, sizeof(c));
    c.h.cmsg_level = SOL_SOCKET;
    c.h.cmsg_type = SCM_RIGHTS;
    c.h.cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
    if (poll(&p, 1, tmo) != 1)
        return lv_err_set(err, ETIMEDOUT, "migration: the socket took nothing within %d ms",
                          tmo);
    do
        n = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return lv_err_set(err, errno, "migration: sending the RAM's fd: %s%s", strerror(errno),
                          errno == ENOTSOCK ? " (a local migration needs an AF_UNIX socket)" : "");
    if (n != LV_MIG_HDR_LEN)
        return lv_err_set(err, EIO, "migration: the header went out short (%zd bytes)", n);
    return 0;
}

/* ROUND 0 of no pages, STATE, END, in one buffer (LV_MIG_REC_MAX + 40). */
static int send_records(int sock, const uint8_t *state, size_t len, int tmo, struct lv_err *err)
{
    const size_t round = LV_MIG_REC_HDR + LV_MIG_ROUND_LEN + LV_MIG_REC_CRC;
    uint8_t *b = malloc(round + LV_MIG_REC_MAX + LV_MIG_REC_HDR + LV_MIG_REC_CRC);
    size_t n;
    int rc;

    if (!b)
        return lv_err_set(err, ENOMEM, "migration: out of memory");
    memset(b + LV_MIG_REC_HDR, 0, LV_MIG_ROUND_LEN); /* round 0, 0 pages */
    n = lv_mig_seal(b, LV_MIG_ROUND, LV_MIG_ROUND_LEN);
    memcpy(b + n + LV_MIG_REC_HDR, state, len); /* len <= LV_SNAP_STATE_MAX (encode) */
    n += lv_mig_seal(b + n, LV_MIG_STATE, (uint32_t)len);
    n += lv_mig_seal(b + n, LV_MIG_END, 0);
    rc = lv_mig_write(sock, b, n, tmo, err);
    free(b);
    return rc;
}

/* Whether the RAM itself can be passed (a sealed memfd, not a restored
 * VM's private file mapping). */
static int check_ram(const struct lv_vm *vm, struct lv_err *err)
{
    int seals;

    if (vm->mem.cow)
        return lv_err_set(err, EINVAL, "migration: the VM's RAM is a private mapping of a "
                          "snapshot's memory file (a restored VM), whose written pages are "
                          "not in any file: it cannot be passed, use a copying migration");
    seals = fcntl(vm->mem.fd, F_GET_SEALS);
    if (seals < 0 || (seals & LV_MEM_SEALS) != LV_MEM_SEALS)
        return lv_err_set(err, EINVAL, "migration: the VM's RAM is not a memfd sealed against "
                          "resizing: it cannot be passed, use a copying migration");
    return 0;
}

int lv_mig_local_ok(const struct lv_vm *vm, struct lv_err *err)
{
    return check_ram(vm, err);
}

static int check_source(struct lv_vm *vm, struct lv_err *err)
{
    int rc = check_ram(vm, err);

    if (rc)
        return rc;
    if (lv_vm_is_paused(vm) || lv_vm_vcpu_still(vm, NULL) == 0)
        return lv_err_set(err, EINVAL, "migration: the VM must be running (started, not "
                          "paused)");
    return 0;
}

/* Paused and quiesced: the state, the stream, R, then C. */
static int send_stopped(struct lv_vm *vm, int sock, const struct lv_mig_opts *o,
                        struct lv_mig_stats *st, struct lv_err *err)
{
    struct lv_mig_hdr h = {vm->mem.size, vm->nnics, vm->pvm, 1, LV_MIG_MINOR};
    uint8_t head[LV_MIG_HDR_LEN], *state = NULL;
    int tmo = lv_mig_io_timeout(o);
    size_t len = 0;
    int rc = lv_snap_save_quiesced(vm, o ? o->spec : NULL, &state, &len, err);

    lv_mig_put_header(head, &h);
    if (!rc)
        rc = send_header_fd(sock, head, vm->mem.fd, tmo, err);
    if (!rc)
        rc = send_records(sock, state, len, tmo, err);
    if (!rc)
        rc = lv_mig_commit(sock, o, err);
    if (!rc) {
        st->rounds = 1;
        st->state_bytes = len;
        st->bytes = LV_MIG_HDR_LEN + 3 * (LV_MIG_REC_HDR + LV_MIG_REC_CRC) + LV_MIG_ROUND_LEN +
                    len;
    }
    free(state);
    return rc;
}

int lv_mig_send_local(struct lv_vm *vm, int sock, const struct lv_mig_opts *o,
                      struct lv_mig_stats *st, struct lv_err *err)
{
    struct lv_mig_stats local;
    uint64_t t0 = lv_now_ns(), t_pause;
    int rc = check_source(vm, err);

    st = st ? st : &local;
    memset(st, 0, sizeof(*st));
    if (rc)
        return rc;
    t_pause = lv_now_ns();
    rc = lv_vm_pause(vm, err);
    if (rc)
        return rc;
    rc = lv_devices_quiesce(vm, err);
    if (!rc) {
        rc = send_stopped(vm, sock, o, st, err);
        if (rc) /* no C went out: the destination never runs it */
            lv_devices_unquiesce(vm);
    }
    if (!rc) {
        st->downtime_ns = lv_now_ns() - t_pause;
        lv_vm_stop(vm); /* paused and parked: it never runs (nor writes its RAM) again */
    } else {
        lv_vm_unpause(vm, NULL);
    }
    st->total_ns = lv_now_ns() - t0;
    return rc;
}

/* ---- the destination ---- */

/* Closes every fd a control message brought. */
static void close_fds(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            close(fd);
        }
    }
}

/* Exactly one fd in exactly one SCM_RIGHTS message (owned by the caller
 * on success); anything else closed and refused. */
static int take_fd(struct msghdr *m, int *fd, struct lv_err *err)
{
    struct cmsghdr *c = CMSG_FIRSTHDR(m);

    if (!(m->msg_flags & MSG_CTRUNC) && c && c->cmsg_level == SOL_SOCKET &&
        c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)) &&
        !CMSG_NXTHDR(m, c)) {
        memcpy(fd, CMSG_DATA(c), sizeof(int));
        return 0;
    }
    close_fds(m);
    return lv_err_set(err, EINVAL, "migration: the header came without exactly one file "
                      "descriptor (the RAM)");
}

/* The header's first bytes with the fd (recvmsg), then the rest. */
static int recv_header_fd(int sock, uint8_t *head, int *fd, int tmo, struct lv_err *err)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int) * 4)]; /* room to see (and close) a few too many */
    } c;
    struct iovec iov = {head, LV_MIG_HDR_LEN};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
                       .msg_controllen = sizeof(c.b)};
    struct pollfd p = {sock, POLLIN, 0};
    ssize_t n;
    int rc;

    *fd = -1;
    if (poll(&p, 1, tmo) != 1)
        return lv_err_set(err, ETIMEDOUT, "migration: no stream within %d ms", tmo);
    do
        n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return lv_err_set(err, errno, "migration: receiving the header: %s%s", strerror(errno),
                          errno == ENOTSOCK ? " (a local migration needs an AF_UNIX socket)" : "");
    if (n == 0) {
        close_fds(&m);
        return lv_err_set(err, EPIPE, "migration: the stream ends early (the peer closed it)");
    }
    rc = take_fd(&m, fd, err);
    if (!rc && n < LV_MIG_HDR_LEN)
        rc = lv_mig_read(sock, head + n, LV_MIG_HDR_LEN - (size_t)n, tmo, err);
    if (rc && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

/* The RAM passed: a memfd (a regular file that takes seals) of exactly
 * the memory's size that can never change size. */
static int check_ram_fd(int fd, uint64_t size, struct lv_err *err)
{
    struct stat s;
    int seals;

    if (fstat(fd, &s) < 0)
        return lv_err_set(err, errno, "migration: the RAM's fd: %s", strerror(errno));
    if (!S_ISREG(s.st_mode))
        return lv_err_set(err, EINVAL, "migration: the RAM's fd is not a memfd (not a regular "
                          "file)");
    if ((uint64_t)s.st_size != size)
        return lv_err_set(err, EINVAL, "migration: the RAM's fd has %llu bytes, the VM's "
                          "memory %llu", (unsigned long long)s.st_size,
                          (unsigned long long)size);
    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & LV_MEM_SEALS) != LV_MEM_SEALS)
        return lv_err_set(err, EINVAL, "migration: the RAM's fd is not a memfd sealed against "
                          "resizing (a shrink would fault this process)");
    return 0;
}

struct fd_src {
    int fd, tmo;
};

static int fd_read(void *ctx, void *buf, size_t len, struct lv_err *err)
{
    const struct fd_src *f = ctx;

    return lv_mig_read(f->fd, buf, len, f->tmo, err);
}

/* Header, fd, records, the fd mapped over the RAM, every check (the
 * devices' read their rings there). Nothing written into guest RAM. (*snap) the caller's to close. */
static int recv_checked(struct lv_vm *vm, int sock, const struct lv_mig_opts *o,
                        struct lv_snap **snap, struct lv_mig_stats *st, struct lv_err *err)
{
    struct fd_src src = {sock, lv_mig_io_timeout(o)};
    struct lv_mig_reader r = {fd_read, &src};
    uint8_t head[LV_MIG_HDR_LEN], *rec = NULL;
    struct lv_mig_hdr h;
    int fd = -1;
    int rc = recv_header_fd(sock, head, &fd, src.tmo, err);

    if (!rc)
        rc = lv_mig_check_header(head, &h, err);
    if (!rc)
        rc = lv_mig_check_vm(vm, &h, 1, err);
    if (!rc)
        rc = check_ram_fd(fd, h.mem_size, err);
    if (!rc && !(rec = malloc(LV_MIG_REC_MAX)))
        rc = lv_err_set(err, ENOMEM, "migration: out of memory");
    if (!rc)
        rc = lv_mig_read_records(&r, &h, NULL, rec, LV_MIG_REC_MAX, snap, st, err);
    if (!rc && !(rc = lv_mem_map_shared(&vm->mem, fd, err)))
        fd = -1; /* the VM's now */
    if (!rc) /* after the mapping: a device's check reads its rings in RAM */
        rc = lv_vm_restore_check(vm, *snap, err);
    free(rec);
    if (fd >= 0)
        close(fd);
    st->bytes += LV_MIG_HDR_LEN;
    return rc;
}

/* After C: the source is stopped for good; a failure here loses the VM. */
static int restore_committed(struct lv_vm *vm, const struct lv_snap *snap, struct lv_err *err)
{
    struct lv_err e = {{0}};
    int rc = lv_vm_restore_state(vm, snap, &e);

    if (rc)
        lv_err_set(err, -rc, "migration: the source stopped its VM, restoring it here failed "
                   "(the VM is lost): %.180s", e.msg);
    return rc;
}

int lv_mig_recv_local(struct lv_vm *vm, int sock, const struct lv_mig_opts *o,
                      struct lv_mig_stats *st, struct lv_err *err)
{
    struct lv_mig_stats local;
    struct lv_snap *snap = NULL;
    uint64_t t0 = lv_now_ns(), t_commit;
    int rc;

    st = st ? st : &local;
    memset(st, 0, sizeof(*st));
    rc = recv_checked(vm, sock, o, &snap, st, err);
    if (rc) {
        lv_mig_refuse(sock); /* the source resumes; best effort: it times out else */
        lv_snap_close(&snap);
        st->total_ns = lv_now_ns() - t0;
        return rc;
    }
    rc = lv_mig_ready(sock, o, err); /* no C: the source resumes, nothing was written */
    t_commit = lv_now_ns();
    if (!rc)
        rc = restore_committed(vm, snap, err);
    lv_snap_close(&snap);
    st->downtime_ns = rc ? 0 : lv_now_ns() - t_commit;
    st->total_ns = lv_now_ns() - t0;
    return rc;
}
