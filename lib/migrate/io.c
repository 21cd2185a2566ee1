/*
 * io.c: bytes on a migration fd (a socket or a pipe, made non-blocking
 * for the time of a migration): whole reads and writes, each wait for
 * the fd bounded by a timeout, so that a peer that stops reading or
 * writing cannot hold a migration (and a paused VM) forever.
 */
#include <errno.h>
#include <fcntl.h>
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

int lv_mig_fd_nonblock(int fd, int *old, struct lv_err *err)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return lv_err_set(err, errno, "migration: the stream fd: %s", strerror(errno));
    *old = fl;
    return 0;
}

void lv_mig_fd_restore(int fd, int old)
{
    fcntl(fd, F_SETFL, old);
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

int lv_mig_write(int fd, const void *buf, size_t len, int timeout_ms, struct lv_err *err)
{
    const uint8_t *p = buf;

    while (len) { /* each round writes or waits at most timeout_ms */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL); /* a closed peer: EPIPE, no signal */
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len); /* a pipe: the caller ignores SIGPIPE (migrate.h) */
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, timeout_ms, "read", err);
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

int lv_mig_read(int fd, void *buf, size_t len, int timeout_ms, struct lv_err *err)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLIN, timeout_ms, "write", err);
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
