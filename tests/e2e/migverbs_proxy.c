/* migverbs_proxy.c: test_migverbs's proxy between the two lightvmd
 * (cases 5, 6): a thread that takes the source's connection on CTL_A and
 * forwards it to the destination, closing both after (cut_at) bytes of the
 * source's stream or flipping one byte (flip_at) after its handshake line. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_migverbs.h"

int proxy_open(struct proxy *p, const struct side *to)
{
    struct sockaddr_in sa = sock_addr(CTL_A, 0);
    socklen_t len = sizeof(sa);
    unsigned port = 0;

    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(p->lfd, 1) < 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &len) < 0) {
        CHECK(0, "proxy: %s", strerror(errno));
        return -1;
    }
    snprintf(p->addr, sizeof(p->addr), CTL_A ":%u", (unsigned)ntohs(sa.sin_port));
    sscanf(to->listen + strcspn(to->listen, ":") + 1, "%u", &port);
    char ip[16];
    snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(to->listen, ":"), to->listen);
    p->to = sock_addr(ip, port);
    return 0;
}

static int write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The source's (n) bytes in (b): cut or flipped as asked, then on to (d).
 * 0, or -1: both connections to close. */
static int proxy_src(struct proxy *p, int d, char *b, size_t n)
{
    if (p->cut_at) {
        size_t k = p->cut_at - p->from_src < n ? p->cut_at - p->from_src : n;
        int rc = write_all(d, b, k);
        p->from_src += k;
        p->cut = p->from_src == p->cut_at;
        return rc || p->cut ? -1 : 0;
    }
    if (!p->hello_len) {
        char *nl = memchr(b, '\n', n);
        if (nl)
            p->hello_len = p->from_src + (size_t)(nl - b) + 1;
    }
    size_t at = p->hello_len + p->flip_at;
    if (p->flip_at && p->hello_len && !p->flipped && at >= p->from_src && at < p->from_src + n) {
        b[at - p->from_src] ^= 0xff;
        p->flipped = 1;
    }
    p->from_src += n;
    return write_all(d, b, n);
}

/* Forwards between (s) (the source) and (d) until both ends closed or
 * 120 s passed. */
static void proxy_pump(struct proxy *p, int s, int d)
{
    static char buf[65536]; /* (one proxy at a time) */
    int open_[2] = {1, 1};
    double end = lvt_now_ms() + 120000;

    while ((open_[0] || open_[1]) && lvt_now_ms() < end) {
        struct pollfd pf[2] = {{open_[0] ? s : -1, POLLIN, 0}, {open_[1] ? d : -1, POLLIN, 0}};
        if (poll(pf, 2, 200) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t n = recv(i ? d : s, buf, sizeof(buf), 0);
            if (n <= 0) {
                open_[i] = 0;
                shutdown(i ? s : d, SHUT_WR);
                continue;
            }
            int rc = i ? write_all(s, buf, (size_t)n) : proxy_src(p, d, buf, (size_t)n);
            p->from_dst += i ? (size_t)n : 0;
            if (rc)
                return;
        }
    }
}

void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    struct pollfd pf = {p->lfd, POLLIN, 0};
    int s = -1, d = -1;

    for (int t = 0; t < 60000 && !atomic_load(&p->stop); t += 200)
        if (poll(&pf, 1, 200) == 1)
            break;
    if (pf.revents && (s = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        p->accepted = 1;
        d = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (d < 0 || connect(d, (struct sockaddr *)&p->to, sizeof(p->to)) < 0)
            snprintf(p->fail, sizeof(p->fail), "connect to the destination: %s",
                     strerror(errno));
        else
            proxy_pump(p, s, d);
    }
    if (s >= 0)
        close(s);
    if (d >= 0)
        close(d);
    return NULL;
}
