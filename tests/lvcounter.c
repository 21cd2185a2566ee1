/* lvcounter.c: a client of guest/apps/counter (UDP and TCP port 7, "count
 * N uptime_ms M gen G ip A[ isn X]"), for the tests that boot it.
 * Declared in lvtest.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lvtest.h"

uint32_t lvt_ip4(const char *s)
{
    struct in_addr a = {0};

    inet_pton(AF_INET, s, &a);
    return a.s_addr;
}

int lvt_counter_parse(const char *buf, struct lvt_reply *r)
{
    memset(r, 0, sizeof(*r));
    return sscanf(buf, "count %lu uptime_ms %lu gen %lu ip %15s", &r->count, &r->uptime_ms,
                  &r->gen, r->ip) == 4;
}

int lvt_counter_ask(const char *ip, int tries, struct lvt_reply *r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), got = 0;
    char buf[256];

    sa.sin_addr.s_addr = lvt_ip4(ip);
    for (int t = 0; fd >= 0 && t < tries && !got; t++) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (sendto(fd, "?", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) != 1 ||
            poll(&pf, 1, 1000) != 1)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        got = lvt_counter_parse(buf, r) ? t + 1 : 0;
        CHECK(got, "%s answered \"%s\"", ip, buf);
    }
    if (fd >= 0)
        close(fd);
    return got;
}

int lvt_counter_ask_tcp(const char *ip, int tries, unsigned long *isn)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
    char buf[256];
    int ok = 0;

    sa.sin_addr.s_addr = lvt_ip4(ip);
    for (int t = 0; t < tries && !ok; t++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {2, 0};
        size_t got = 0;
        ssize_t n;
        if (fd < 0)
            return 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
                got += (size_t)n;
        close(fd);
        buf[got] = '\0';
        const char *p = strstr(buf, " isn ");
        ok = p && sscanf(p, " isn %lu", isn) == 1;
        if (!ok)
            lvt_sleep_ms(500);
    }
    return ok;
}
