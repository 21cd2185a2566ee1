/*
 * io.c: bytes on a migration fd (a socket or a pipe): whole reads and
 * writes, each wait for the fd bounded by a timeout, so that a peer that
 * stops reading or writing cannot hold a migration (and a paused VM)
 * forever. The fd's flags are not changed: a socket is read and written
 * with MSG_DONTWAIT (and MSG_NOSIGNAL); another fd (a pipe) is polled
 * first, then read (what is there) or written PIPE_BUF bytes at a time
 * (what a writable pipe takes without blocking).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_impl.h"

#define IO_TIMEOUT_MS 5000

int lv_mig_io_timeout(const struct lv_mig_opts *o)
{
    return o && o->io_timeout_ms > 0 ? o->io_timeout_ms : IO_TIMEOUT_MS;
}

/* Waits for (ev) on (fd): 0, or -ETIMEDOUT / -errno with (err). */
static int wait_fd(int fd, short ev, int timeout_ms, const char *what, struct lv_err *err)
{
    struct pollfd p = {fd, ev, 0};
    int n;

    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return lv_err_set(err, errno, "migration: poll: %s", strerror(errno));
    if (n == 0)
        return lv_err_set(err, ETIMEDOUT, "migration: the peer did not %s within %d ms", what,
                          timeout_ms);
    return 0;
}

/* One write that does not block: a socket's send, else (a pipe, found
 * writable by a poll first) a write of at most PIPE_BUF bytes. */
static int write_some(int fd, const uint8_t *p, size_t len, int *sock, int timeout_ms,
                      ssize_t *n, struct lv_err *err)
{
    if (*sock) {
        *n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (*n >= 0 || errno != ENOTSOCK)
            return 0;
        *sock = 0;
    }
    int rc = wait_fd(fd, POLLOUT, timeout_ms, "read", err);
    if (!rc)
        *n = write(fd, p, len < PIPE_BUF ? len : PIPE_BUF);
    return rc;
}

int lv_mig_write(int fd, const void *buf, size_t len, int timeout_ms, struct lv_err *err)
{
    const uint8_t *p = buf;
    int sock = 1;

    while (len) { /* each round writes or waits at most timeout_ms */
        ssize_t n = 0;
        int rc = write_some(fd, p, len, &sock, timeout_ms, &n, err);
        if (rc)
            return rc; /* the wait failed: (err) says why */
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = wait_fd(fd, POLLOUT, timeout_ms, "read", err);
            if (rc)
                return rc;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return lv_err_set(err, n < 0 ? errno : EIO, "migration: writing the stream: %s",
                              n < 0 ? strerror(errno) : "nothing written");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One read that does not block: a socket's recv, else (a pipe) a read
 * once a poll found it readable. */
static int read_some(int fd, uint8_t *p, size_t len, int *sock, int timeout_ms, ssize_t *n,
                     struct lv_err *err)
{
    if (*sock) {
        *n = recv(fd, p, len, MSG_DONTWAIT);
        if (*n >= 0 || errno != ENOTSOCK)
            return 0;
        *sock = 0;
    }
    int rc = wait_fd(fd, POLLIN, timeout_ms, "write", err);
    if (!rc)
        *n = read(fd, p, len);
    return rc;
}

int lv_mig_read(int fd, void *buf, size_t len, int timeout_ms, struct lv_err *err)
{
    uint8_t *p = buf;
    int sock = 1;

    while (len) {
        ssize_t n = 0;
        int rc = read_some(fd, p, len, &sock, timeout_ms, &n, err);
        if (rc)
            return rc;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = wait_fd(fd, POLLIN, timeout_ms, "write", err);
            if (rc)
                return rc;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lv_err_set(err, errno, "migration: reading the stream: %s", strerror(errno));
        if (n == 0)
            return lv_err_set(err, EPIPE, "migration: the stream ends early (the peer closed "
                              "it)");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
