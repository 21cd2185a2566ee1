/* ctl.c: line-delimited JSON over Unix stream sockets (see ctl.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lightvm/ctl.h"

const char *lv_rundir(void)
{
    const char *d = getenv(LV_RUNDIR_ENV);

    return d && *d ? d : LV_RUNDIR_DEFAULT;
}

static int sockaddr_for(const char *path, struct sockaddr_un *a, struct lv_err *err)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return lv_err_set(err, ENAMETOOLONG, "socket path %s is longer than %zu bytes", path,
                          sizeof(a->sun_path) - 1);
    memcpy(a->sun_path, path, strlen(path));
    return 0;
}

int lv_ctl_connect(const char *path, struct lv_err *err)
{
    struct sockaddr_un a;
    int fd, rc = sockaddr_for(path, &a, err);

    if (rc)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        rc = lv_err_set(err, errno, "cannot connect to %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

int lv_ctl_listen(const char *path, struct lv_err *err)
{
    struct sockaddr_un a;
    int fd, rc = sockaddr_for(path, &a, err);

    if (rc)
        return rc;
    /* A socket file nobody accepts on is left over from a dead process.
     * Only a refused connection says so: another error (out of fds, a
     * full backlog) says nothing, and the file may be a live one. */
    fd = lv_ctl_connect(path, NULL);
    if (fd >= 0) {
        close(fd);
        return lv_err_set(err, EADDRINUSE, "%s: another process is listening there", path);
    }
    if (fd != -ECONNREFUSED && fd != -ENOENT)
        return lv_err_set(err, -fd, "%s: cannot tell whether another process listens there: %s",
                          path, strerror(-fd));
    if (unlink(path) < 0 && errno != ENOENT)
        return lv_err_set(err, errno, "cannot remove stale %s: %s", path, strerror(errno));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "socket: %s", strerror(errno));
    /* 0600 from the start: no window in which others could connect. */
    mode_t old = umask(0177);
    rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (rc < 0 || listen(fd, 128) < 0) {
        rc = lv_err_set(err, errno, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

void lv_ctl_conn_init(struct lv_ctl_conn *c, int fd)
{
    c->fd = fd;
    c->buf = NULL;
    c->len = c->cap = 0;
    for (unsigned i = 0; i < LV_CTL_MAX_FDS; i++)
        c->passed[i] = -1;
}

static void close_passed(struct lv_ctl_conn *c)
{
    for (unsigned i = 0; i < LV_CTL_MAX_FDS; i++)
        if (c->passed[i] >= 0) {
            close(c->passed[i]);
            c->passed[i] = -1;
        }
}

void lv_ctl_conn_close(struct lv_ctl_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    close_passed(c);
    free(c->buf);
    lv_ctl_conn_init(c, -1);
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
    struct pollfd p = {fd, ev, 0};
    int n;

    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n == 0 ? -ETIMEDOUT : 0;
}

/* One send of (len) bytes at (s); (n) fds ride along. */
static ssize_t send_some(int sock, const char *s, size_t len, const int *fds, unsigned n)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(LV_CTL_MAX_FDS * sizeof(int))];
    } cm;
    struct iovec iov = {(void *)s, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

    if (!n)
        return send(sock, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    memset(&cm, 0, sizeof(cm));
    m.msg_control = cm.b;
    m.msg_controllen = CMSG_SPACE(n * sizeof(int));
    cm.h.cmsg_level = SOL_SOCKET;
    cm.h.cmsg_type = SCM_RIGHTS;
    cm.h.cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(&cm.h), fds, n * sizeof(int));
    return sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int lv_ctl_send_fd(struct lv_ctl_conn *c, const json_t *msg, int fd, int timeout_ms,
                   struct lv_err *err)
{
    return lv_ctl_send_fds(c, msg, &fd, fd >= 0, timeout_ms, err);
}

int lv_ctl_send_fds(struct lv_ctl_conn *c, const json_t *msg, const int *fds, unsigned nfds,
                    int timeout_ms, struct lv_err *err)
{
    char *s = nfds <= LV_CTL_MAX_FDS ? json_dumps(msg, JSON_COMPACT) : NULL;
    size_t len, off = 0;
    int rc = 0;

    if (nfds > LV_CTL_MAX_FDS)
        return lv_err_set(err, EINVAL, "at most %u fds with a message", LV_CTL_MAX_FDS);
    if (!s)
        return lv_err_set(err, ENOMEM, "cannot encode a message");
    len = strlen(s);
    s[len++] = '\n'; /* json_dumps's NUL becomes the newline */
    if (len > LV_CTL_MAX) {
        free(s);
        return lv_err_set(err, EMSGSIZE, "message of %zu bytes is over %u", len, LV_CTL_MAX);
    }
    while (off < len) {
        ssize_t n = send_some(c->fd, s + off, len - off, fds, off ? 0 : nfds);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = wait_fd(c->fd, POLLOUT, timeout_ms);
            if (rc == 0)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            rc = -(n < 0 ? errno : EPIPE);
        }
        lv_err_set(err, -rc, "send: %s", strerror(-rc));
        break;
    }
    free(s);
    return rc;
}

int lv_ctl_send(struct lv_ctl_conn *c, const json_t *msg, int timeout_ms, struct lv_err *err)
{
    return lv_ctl_send_fds(c, msg, NULL, 0, timeout_ms, err);
}

unsigned lv_ctl_take_fds(struct lv_ctl_conn *c, int fds[LV_CTL_MAX_FDS])
{
    unsigned n = 0;

    for (unsigned i = 0; i < LV_CTL_MAX_FDS; i++) {
        fds[i] = c->passed[i];
        c->passed[i] = -1;
        n += fds[i] >= 0;
    }
    return n;
}

int lv_ctl_take_fd(struct lv_ctl_conn *c)
{
    int fds[LV_CTL_MAX_FDS];

    lv_ctl_take_fds(c, fds);
    for (unsigned i = 1; i < LV_CTL_MAX_FDS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return fds[0];
}

/* One recv into (buf); the fds passed along replace those held (at most
 * LV_CTL_MAX_FDS are kept, any more closed). */
static ssize_t recv_some(struct lv_ctl_conn *c, char *buf, size_t cap)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(4 * sizeof(int))];
    } cm;
    unsigned kept = 0;
    struct iovec iov = {buf, cap};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
                       .msg_controllen = sizeof(cm.b)};
    ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (n < 0)
        return n;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
            h->cmsg_len < CMSG_LEN(0))
            continue;
        size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
            if (!kept)
                close_passed(c); /* a new message's fds */
            if (kept < LV_CTL_MAX_FDS)
                c->passed[kept++] = fd;
            else
                close(fd);
        }
    }
    return n;
}

/* Takes one line out of the buffer if there is one: 1 and (*out). */
static int take_line(struct lv_ctl_conn *c, json_t **out, struct lv_err *err)
{
    char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
    json_error_t je;
    size_t n;

    if (!nl) {
        if (c->len >= LV_CTL_MAX)
            return lv_err_set(err, EPROTO, "message longer than %u bytes", LV_CTL_MAX);
        return 0;
    }
    n = (size_t)(nl - c->buf);
    *out = json_loadb(c->buf, n, JSON_REJECT_DUPLICATES, &je);
    memmove(c->buf, nl + 1, c->len - n - 1);
    c->len -= n + 1;
    if (!*out)
        return lv_err_set(err, EPROTO, "malformed message: %s", je.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return lv_err_set(err, EPROTO, "malformed message: not a JSON object");
    }
    return 1;
}

/* One read into the buffer: bytes read (> 0), -EPIPE at EOF, -EAGAIN,
 * or another -errno. */
static int fill(struct lv_ctl_conn *c, struct lv_err *err)
{
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 8192;
        if (cap > LV_CTL_MAX + 4096)
            cap = LV_CTL_MAX + 4096;
        if (cap <= c->len)
            return lv_err_set(err, EPROTO, "message longer than %u bytes", LV_CTL_MAX);
        char *b = realloc(c->buf, cap);
        if (!b)
            return lv_err_set(err, ENOMEM, "out of memory");
        c->buf = b;
        c->cap = cap;
    }
    for (;;) {
        ssize_t n = recv_some(c, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            return (int)n;
        }
        if (n == 0)
            return c->len ? lv_err_set(err, EPROTO, "connection closed mid-message") : -EPIPE;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        return lv_err_set(err, errno, "recv: %s", strerror(errno));
    }
}

int lv_ctl_poll_recv(struct lv_ctl_conn *c, json_t **out, struct lv_err *err)
{
    int rc = take_line(c, out, err);

    if (rc)
        return rc;
    rc = fill(c, err);
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0)
        return rc;
    return take_line(c, out, err);
}

int lv_ctl_recv(struct lv_ctl_conn *c, int timeout_ms, json_t **out, struct lv_err *err)
{
    for (;;) {
        int rc = take_line(c, out, err);
        if (rc)
            return rc < 0 ? rc : 0;
        rc = fill(c, err);
        if (rc == -EAGAIN) {
            rc = wait_fd(c->fd, POLLIN, timeout_ms);
            if (rc == -ETIMEDOUT)
                return lv_err_set(err, ETIMEDOUT, "no reply within %d ms", timeout_ms);
            if (rc < 0)
                return lv_err_set(err, -rc, "poll: %s", strerror(-rc));
            continue;
        }
        if (rc < 0) {
            if (rc == -EPIPE)
                lv_err_set(err, EPIPE, "the peer closed the connection");
            return rc;
        }
    }
}

int lv_ctl_call(const char *path, const json_t *req, int timeout_ms, json_t **reply,
                struct lv_err *err)
{
    struct lv_ctl_conn c;
    int fd = lv_ctl_connect(path, err), rc;

    *reply = NULL;
    if (fd < 0)
        return fd;
    lv_ctl_conn_init(&c, fd);
    rc = lv_ctl_send(&c, req, timeout_ms, err);
    if (!rc)
        rc = lv_ctl_recv(&c, timeout_ms, reply, err);
    lv_ctl_conn_close(&c);
    if (rc)
        return rc;
    if (!json_is_true(json_object_get(*reply, "ok"))) {
        const char *e = json_string_value(json_object_get(*reply, "error"));
        rc = lv_err_set(err, EREMOTEIO, "%s", e ? e : "request refused (no reason given)");
        json_decref(*reply);
        *reply = NULL;
    }
    return rc;
}

int lv_ctl_version_get(const json_t *msg, json_int_t absent, json_int_t *v, struct lv_err *err)
{
    json_t *j = json_object_get(msg, "v");

    *v = absent;
    if (!j)
        return 0;
    if (!json_is_integer(j))
        return lv_err_set(err, EPROTO, "\"v\" must be an integer (a protocol version)");
    *v = json_integer_value(j);
    return 0;
}

int lv_ctl_version_check(const json_t *msg, int mine, const char *who, struct lv_err *err)
{
    char why[LV_ERR_MAX];
    json_int_t v;

    if (lv_ctl_version_get(msg, mine, &v, err) < 0) {
        snprintf(why, sizeof(why), "%s", err ? err->msg : "");
        return lv_err_set(err, EPROTO, "%s (this %s speaks %d)", why, who, mine);
    }
    if (v != mine)
        return lv_err_set(err, EPROTO, "version %lld not supported (this %s speaks %d)",
                          (long long)v, who, mine);
    return 0;
}

json_t *lv_ctl_ok(void)
{
    return json_pack("{s:b}", "ok", 1);
}

json_t *lv_ctl_error(const char *fmt, ...)
{
    char msg[LV_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}
