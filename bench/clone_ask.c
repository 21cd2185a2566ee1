/* clone_ask.c: bench_clone's VMs' addresses and the asks of their
 * counters: one UDP socket, answers with their kernel receive times, and
 * every bulk VM asked until it answered (bench_clone.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_clone.h"
#include "stats.h"

/* ---- addresses: VM (b, j) is 10.(80+b).(j/250).(j%250+2) on lvcl(b) ---- */

void vm_ip(int b, int j, char *buf, size_t n)
{
    snprintf(buf, n, "10.%u.%u.%u", (unsigned char)(80 + b), (unsigned char)(j / 250),
             (unsigned char)(j % 250 + 2));
}

void vm_mac(int b, int j, char *buf, size_t n)
{
    snprintf(buf, n, "02:cb:00:%02x:%02x:%02x", (unsigned char)(80 + b),
             (unsigned char)(j / 250), (unsigned char)(j % 250 + 2));
}

/* The bulk phases' VM k: round robin over the bridges (their pools refill
 * side by side). */
void place(int k, int *b, int *j)
{
    *b = k % nbr;
    *j = k / nbr;
}

/* The k of a bulk VM's address (network order), or -1. */
static int k_of(uint32_t addr, int n)
{
    uint32_t a = ntohl(addr);
    int b = (int)(a >> 16 & 255) - 80, x = (int)(a >> 8 & 255), y = (int)(a & 255);
    int k = ((x * 250 + y - 2) * nbr) + b;

    return (a >> 24) == 10 && b >= 0 && b < nbr && y >= 2 && y < 252 && k < n ? k : -1;
}

/* ---- asking counters ---- */

/* A UDP socket for asks (any address: the route picks the bridge's). */
int ask_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
    int sz = 8 << 20;

    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    return fd;
}

void ask(int fd, uint32_t addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};

    sa.sin_addr.s_addr = addr;
    sendto(fd, "?", 1, 0, (struct sockaddr *)&sa, sizeof(sa)); /* lost: asked again */
}

/* One datagram if there is one: its source in *from and its kernel
 * receive time (CLOCK_REALTIME us) in *at. 1, or 0 if none waits. */
int take_reply(int fd, uint32_t *from, double *at)
{
    char buf[256], cbuf[CMSG_SPACE(sizeof(struct timespec))];
    struct sockaddr_in sa;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};

    if (recvmsg(fd, &mh, MSG_DONTWAIT) < 0)
        return 0;
    *from = sa.sin_addr.s_addr;
    *at = bench_real_us();
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            double k = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
            if (k <= *at)
                *at = k;
        }
    return 1;
}

/* Permanent neighbour entries for bulk VMs 0..n-1 (one ip -batch). */
static void neigh_bulk(int n)
{
    char path[96], ip[20], mac[24], cmd[256];
    FILE *f;
    int b, j;

    snprintf(path, sizeof(path), "%s/neigh", tmpdir);
    if (!(f = fopen(path, "w")))
        die("cannot write the neighbour batch");
    for (int k = 0; k < n; k++) {
        place(k, &b, &j);
        vm_ip(b, j, ip, sizeof(ip));
        vm_mac(b, j, mac, sizeof(mac));
        fprintf(f, "neigh replace %s lladdr %s dev lvcl%d nud permanent\n", ip, mac, b);
    }
    /* (its messages to the log: ip's own dump of the links may be
     * "interrupted" by taps coming and going, which is harmless) */
    snprintf(cmd, sizeof(cmd), "ip -batch '%s' 2>>'%s'", path, logpath);
    if (fclose(f) || bench_sh(cmd))
        die("ip -batch (neighbour entries) failed");
}

/* Asks bulk VMs 0..n-1 until each answered, in up to 5 rounds of 1 s;
 * ok[k] set for those that did. How many did. */
int ask_all(int n, char *ok)
{
    int fd = ask_socket(), got = 0;
    uint32_t from;
    double at;
    char ip[20];
    int b, j;

    memset(ok, 0, (size_t)n);
    neigh_bulk(n);
    for (int round = 0; round < 5 && got < n && !interrupted; round++) {
        for (int k = 0; k < n; k++) {
            struct in_addr a;
            if (ok[k])
                continue;
            place(k, &b, &j);
            vm_ip(b, j, ip, sizeof(ip));
            inet_pton(AF_INET, ip, &a);
            ask(fd, a.s_addr);
            if (k % 64 == 63)
                usleep(200); /* the taps' queues, the guests' rings */
            while (take_reply(fd, &from, &at))
                if ((j = k_of(from, n)) >= 0 && !ok[j])
                    ok[j] = 1, got++;
        }
        double end = bench_real_us() + 1e6;
        while (got < n && bench_real_us() < end) {
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, 100);
            while (take_reply(fd, &from, &at))
                if ((j = k_of(from, n)) >= 0 && !ok[j])
                    ok[j] = 1, got++;
        }
    }
    close(fd);
    return got;
}
