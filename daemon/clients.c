/*
 * clients.c: lightvmd's control clients. The loop never waits on a
 * client: replies go to a per-client buffer that is written when poll
 * says the socket takes more; while a client's unwritten replies are over
 * LVD_OUT_PAUSE its requests are not read (TCP-like backpressure instead
 * of a growing buffer); requests for a VM process are relayed without
 * waiting for the reply (one per client at a time, which keeps the
 * replies in request order).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clients.h"

void lvd_client_init(struct lvd_client *c, int fd)
{
    memset(c, 0, sizeof(*c));
    lv_ctl_conn_init(&c->in, fd);
    lv_ctl_conn_init(&c->call.conn, -1);
}

void lvd_client_close(struct lvd_client *c)
{
    lv_ctl_conn_close(&c->in);
    lvd_call_end(&c->call);
    free(c->out);
    lvd_client_init(c, -1);
}

size_t lvd_client_backlog(const struct lvd_client *c)
{
    return c->out_len - c->out_off;
}

int lvd_client_readable(const struct lvd_client *c)
{
    return c->in.fd >= 0 && !c->eof && !lvd_call_pending(&c->call) &&
           lvd_client_backlog(c) < LVD_OUT_PAUSE;
}

int lvd_client_flush(struct lvd_client *c)
{
    size_t before = lvd_client_backlog(c);

    while (c->out_off < c->out_len) {
        ssize_t n = send(c->in.fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return n < 0 ? -errno : -EPIPE;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        c->stalled_since_us = 0;
    } else if (lvd_client_backlog(c) < before || !c->stalled_since_us) {
        c->stalled_since_us = lvd_now_us(); /* moved (or just began): the clock restarts */
    }
    return 0;
}

int lvd_client_reply(struct lvd_client *c, const json_t *rep)
{
    char *s = json_dumps(rep, JSON_COMPACT);
    size_t len;

    if (!s)
        return -ENOMEM;
    len = strlen(s) + 1;
    if (len > LV_CTL_MAX) { /* (a list of very many VMs) */
        free(s);
        json_t *e = lv_ctl_error("reply of %zu bytes is over the protocol's %u", len, LV_CTL_MAX);
        int rc = e ? lvd_client_reply(c, e) : -ENOMEM;
        json_decref(e);
        return rc;
    }
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_off > c->out_cap / 2) { /* compact: the written part goes */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        char *b = realloc(c->out, cap);
        if (!b) {
            free(s);
            return -ENOMEM;
        }
        c->out = b;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, len - 1);
    c->out[c->out_len + len - 1] = '\n';
    c->out_len += len;
    free(s);
    return lvd_client_flush(c);
}

/* ---- calls to VM processes ---- */

int lvd_call_pending(const struct lvd_call *call)
{
    return call->conn.fd >= 0;
}

void lvd_call_end(struct lvd_call *call)
{
    lv_ctl_conn_close(&call->conn);
    free(call->save_path);
    call->save_path = NULL;
}

int lvd_call_start(struct lvd_call *call, const char *sock, const json_t *req, const int *fds,
                   unsigned nfds, int timeout_ms, struct lv_err *err)
{
    struct sockaddr_un a;
    int fd, rc;

    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (strlen(sock) >= sizeof(a.sun_path))
        return lv_err_set(err, ENAMETOOLONG, "socket path %s is too long", sock);
    memcpy(a.sun_path, sock, strlen(sock));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "socket: %s", strerror(errno));
    /* A Unix connect does not block: it is made, or EAGAIN when the VM
     * process has a full backlog (it is not accepting). */
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        rc = lv_err_set(err, errno, errno == EAGAIN ? "its process is not accepting requests"
                                                    : "cannot connect to %s: %s",
                        sock, strerror(errno));
        close(fd);
        return rc;
    }
    lv_ctl_conn_init(&call->conn, fd);
    /* A small request on a fresh socket: the kernel takes it at once. */
    rc = lv_ctl_send_fds(&call->conn, req, fds, nfds, 0, err);
    if (rc) {
        lvd_call_end(call);
        return rc;
    }
    call->timeout_ms = timeout_ms;
    call->deadline_us = lvd_now_us() + timeout_ms * 1e3;
    return 0;
}

int lvd_call_poll(struct lvd_call *call, json_t **rep, struct lv_err *err)
{
    int rc = lv_ctl_poll_recv(&call->conn, rep, err);

    if (rc == 0 && lvd_now_us() >= call->deadline_us)
        return lv_err_set(err, ETIMEDOUT, "no reply within %d ms", call->timeout_ms);
    if (rc == -EPIPE)
        return lv_err_set(err, EPIPE, "its process closed the connection without a reply");
    return rc;
}
