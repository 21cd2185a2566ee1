/*
 * migline.c: the one-line JSON messages of a migration's handshake
 * (docs/protocol.md, "Live migration"), on the raw connection the stream
 * follows: the source's hello and the destination's answer. Shared by
 * lightvmd (migrate.c: it reads hellos, answers refusals) and the VM
 * process (vmmigrate.c: it says hello, the shell answers ok).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* Writes all of (s, n) to (fd), waiting at most (ms) for room each time. */
static int write_all(int fd, const char *s, size_t n, int ms, struct lv_err *err)
{
    while (n) {
        struct pollfd pf = {fd, POLLOUT, 0};
        ssize_t k = write(fd, s, n);
        if (k > 0) {
            s += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && errno == EAGAIN && poll(&pf, 1, ms) == 1) {
            continue;
        } else {
            return lv_err_set(err, k < 0 ? errno : EPIPE, "migration connection: %s",
                              k < 0 ? strerror(errno) : "closed");
        }
    }
    return 0;
}

int lvd_line_send(int fd, const json_t *msg, int ms, struct lv_err *err)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    int rc;

    if (!s)
        return lv_err_set(err, ENOMEM, "out of memory");
    size_t n = strlen(s);
    s[n] = '\n'; /* (json_dumps's NUL) */
    rc = write_all(fd, s, n + 1, ms, err);
    free(s);
    return rc;
}

/* The line into (buf) (cap bytes), a byte at a time until the deadline:
 * its length, or -errno with err. */
static long read_line(int fd, char *buf, size_t cap, int ms, const char *what,
                      struct lv_err *err)
{
    double deadline = lvd_now_us() + ms * 1e3;
    size_t n = 0;

    while (n < cap) {
        double left = deadline - lvd_now_us();
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)(left / 1e3) + 1) != 1)
            return lv_err_set(err, ETIMEDOUT, "%s: none within %d ms", what, ms);
        ssize_t k = read(fd, buf + n, 1);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            return lv_err_set(err, k ? errno : EPIPE, "%s: the connection closed", what);
        if (buf[n] == '\n')
            return (long)n;
        n++;
    }
    return lv_err_set(err, EMSGSIZE, "%s: over %zu bytes", what, cap);
}

int lvd_line_recv(int fd, size_t max, int ms, const char *what, json_t **out,
                  struct lv_err *err)
{
    char *buf = malloc(max);
    long n = buf ? read_line(fd, buf, max, ms, what, err) : lv_err_set(err, ENOMEM, "out of "
                                                                        "memory");

    *out = NULL;
    if (n >= 0) {
        *out = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            n = lv_err_set(err, EPROTO, "%s: not a JSON object", what);
        }
    }
    free(buf);
    return n < 0 ? (int)n : 0;
}
