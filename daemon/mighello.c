/*
 * mighello.c: incoming migration connections waiting for their hello line
 * (docs/protocol.md, "Live migration"), read without blocking lightvmd's
 * loop: a peer that connects and sends nothing, or a line a byte a
 * second, holds one of LVD_MIG_WAITING slots for at most LVD_MIG_HELLO_MS
 * and nothing else; one more connection is refused at once ("busy").
 * Only the line itself is consumed (peeked first, then read up to its
 * newline), so that the migration stream that follows it stays in the
 * socket for the shell that takes the VM. A whole line goes to
 * lvd_mig_serve (migrate.c: the token, the spec, the shell).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvmd.h"

#define LVD_MIG_HELLO_MS 1000
#define HELLO_MAX (LV_VM_SPEC_MAX + 1024)

/* Frees slot (h) and closes its connection. */
static void slot_free(struct lvd_mig_hello *h)
{
    if (h->fd >= 0)
        close(h->fd);
    free(h->buf);
    memset(h, 0, sizeof(*h));
    h->fd = -1;
}

/* Refuses (fd)'s peer with (why) (never waited for: a peer that takes
 * nothing is told nothing) and logs it. */
static void refuse(int fd, const char *from, const char *why)
{
    json_t *rep = lv_ctl_error("%s", why);

    fprintf(stderr, "lightvmd: migration in from %s: refused: %s\n", from, why);
    if (rep)
        lvd_line_send(fd, rep, 0, NULL);
    json_decref(rep);
}

void lvd_mig_hello_init(struct lvd_daemon *d)
{
    for (unsigned i = 0; i < LVD_MIG_WAITING; i++) {
        memset(&d->mig_in[i], 0, sizeof(d->mig_in[i]));
        d->mig_in[i].fd = -1;
    }
}

/* The listener's peer (peer) as ADDR:PORT (or "unix") into (out). */
static void peer_name(const struct lvd_daemon *d, const struct sockaddr_in *peer, char *out,
                      size_t cap)
{
    char ip[INET_ADDRSTRLEN] = "?";

    if (d->mig_path[0]) {
        snprintf(out, cap, "unix");
        return;
    }
    inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof(ip));
    snprintf(out, cap, "%s:%u", ip, ntohs(peer->sin_port));
}

void lvd_mig_accept(struct lvd_daemon *d)
{
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    char from[32];
    struct lvd_mig_hello *h = NULL;
    int fd = accept4(d->mig_fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0)
        return;
    peer_name(d, &peer, from, sizeof(from));
    for (unsigned i = 0; i < LVD_MIG_WAITING && !h; i++)
        if (d->mig_in[i].fd < 0)
            h = &d->mig_in[i];
    if (!lvd_mig_peer_ok(d, fd))
        refuse(fd, from, "a local peer of another user");
    else if (!h)
        refuse(fd, from, "busy: as many migrations as lightvmd takes at once are waiting for "
               "their hello");
    else if (!(h->buf = malloc(HELLO_MAX)))
        refuse(fd, from, "out of memory");
    if (!h || !h->buf) {
        close(fd);
        return;
    }
    h->fd = fd;
    snprintf(h->from, sizeof(h->from), "%s", from);
    h->t0 = lvd_now_us();
    h->deadline_us = h->t0 + LVD_MIG_HELLO_MS * 1e3;
}

/* Takes what (h)'s peer sent, up to its line's end: 1 when the line is
 * whole (h->len bytes, the newline consumed but not kept), 0 when more
 * is due, -errno with (why) when the peer is to be refused. */
static int take(struct lvd_mig_hello *h, struct lv_err *why)
{
    char *at = h->buf + h->len;
    ssize_t k = recv(h->fd, at, HELLO_MAX - h->len, MSG_PEEK | MSG_DONTWAIT);

    if (k < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : lv_err_set(why, errno, "the hello: %s",
                                                                   strerror(errno));
    if (k == 0)
        return lv_err_set(why, EPIPE, "the hello: the connection closed");
    char *nl = memchr(at, '\n', (size_t)k);
    size_t want = nl ? (size_t)(nl - at) + 1 : (size_t)k;
    if (recv(h->fd, at, want, MSG_DONTWAIT) != (ssize_t)want) /* what the peek saw */
        return lv_err_set(why, EIO, "the hello: a short read");
    h->len += want;
    if (nl) {
        h->len--;
        return 1;
    }
    return h->len < HELLO_MAX ? 0 : lv_err_set(why, EMSGSIZE, "the hello: over %u bytes",
                                               (unsigned)HELLO_MAX);
}

void lvd_mig_hello_event(struct lvd_daemon *d, struct lvd_mig_hello *h)
{
    struct lv_err why = {""};
    json_t *hello = NULL;
    int rc = take(h, &why);

    if (rc == 0)
        return;
    if (rc > 0) {
        hello = json_loadb(h->buf, h->len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(hello))
            lv_err_set(&why, EPROTO, "the hello: not a JSON object");
    }
    if (json_is_object(hello)) {
        int fd = h->fd;
        h->fd = -1; /* lvd_mig_serve's now */
        lvd_mig_serve(d, fd, h->from, hello, h->t0);
    } else {
        refuse(h->fd, h->from, why.msg);
    }
    json_decref(hello);
    slot_free(h);
}

void lvd_mig_hello_timers(struct lvd_daemon *d)
{
    double now = lvd_now_us();

    for (unsigned i = 0; i < LVD_MIG_WAITING; i++) {
        struct lvd_mig_hello *h = &d->mig_in[i];
        if (h->fd >= 0 && now >= h->deadline_us) {
            char why[64];
            snprintf(why, sizeof(why), "the hello: none within %d ms", LVD_MIG_HELLO_MS);
            refuse(h->fd, h->from, why);
            slot_free(h);
        }
    }
}

double lvd_mig_hello_next(const struct lvd_daemon *d)
{
    double next = -1;

    for (unsigned i = 0; i < LVD_MIG_WAITING; i++)
        if (d->mig_in[i].fd >= 0 && (next < 0 || d->mig_in[i].deadline_us < next))
            next = d->mig_in[i].deadline_us;
    return next;
}

void lvd_mig_hello_close_all(struct lvd_daemon *d)
{
    for (unsigned i = 0; i < LVD_MIG_WAITING; i++)
        slot_free(&d->mig_in[i]);
}
