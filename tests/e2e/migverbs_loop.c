/* migverbs_loop.c: test_migverbs's client loop (cases 2, 3, 9): a thread
 * asking c0 over UDP every ~1 ms during a migration, each request from a
 * socket of its own, a request unanswered within LOOP_FIRST_MS asked once
 * more once the migration is over; every answer's count above the one
 * before and nothing counted but not answered except the retries. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_migverbs.h"

/* One answer on (fd) within (ms); 1 with it in (r), 0 if none. */
static int loop_recv(struct loop *l, int fd, int ms, struct lvt_reply *r)
{
    struct pollfd pf = {fd, POLLIN, 0};
    char buf[256];

    if (poll(&pf, 1, ms) != 1)
        return 0;
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    if (n <= 0) {
        lvt_sleep_ms(1); /* (an ICMP error: no busy loop) */
        return 0;
    }
    buf[n] = '\0';
    if (!lvt_counter_parse(buf, r) || strcmp(r->ip, C0_IP))
        snprintf(l->fail, sizeof(l->fail), "c0 answered \"%.100s\"", buf);
    return 1;
}

/* One request from a socket of its own: asked, then asked once more if
 * no answer came within LOOP_FIRST_MS and the migration is over (or
 * LOOP_HOLD_MS passed). 1 with the answer in (r) (*retried set), 0 with
 * l->fail set. */
static int loop_request(struct loop *l, struct lvt_reply *r, int *retried)
{
    struct sockaddr_in sa = sock_addr(C0_IP, 7);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), got = 0;
    double t0 = lvt_now_ms();

    *retried = 0;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(fd, "?", 1, 0) != 1) {
        snprintf(l->fail, sizeof(l->fail), "socket, connect or send: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    for (;;) {
        if ((got = loop_recv(l, fd, 10, r)))
            break;
        double waited = lvt_now_ms() - t0;
        if ((waited >= LOOP_FIRST_MS && atomic_load(&l->over)) || waited >= LOOP_HOLD_MS)
            break;
    }
    if (!got) {
        *retried = 1;
        got = send(fd, "?", 1, 0) == 1 && loop_recv(l, fd, LOOP_RETRY_MS, r);
        if (!got)
            snprintf(l->fail, sizeof(l->fail), "a request and its retry went unanswered "
                     "(after count %lu)", l->last);
    }
    close(fd);
    return got && !l->fail[0];
}

/* Answer (r) after the ones before: its count above the last, and what c0
 * counted in between no more than the retries not yet accounted for. */
static void loop_account(struct loop *l, const struct lvt_reply *r, unsigned long *slack)
{
    if (r->count <= l->last) {
        snprintf(l->fail, sizeof(l->fail), "count %lu after %lu: c0's state went back, or "
                 "two copies answer", r->count, l->last);
        return;
    }
    unsigned long extra = r->count - l->last - 1;
    if (extra > *slack) {
        snprintf(l->fail, sizeof(l->fail), "count %lu after %lu: c0 counted %lu requests "
                 "more than it was sent (%lu retries unaccounted for)", r->count, l->last,
                 extra, *slack);
        return;
    }
    if (r->gen < l->gen1)
        snprintf(l->fail, sizeof(l->fail), "generation %lu after %lu", r->gen, l->gen1);
    *slack -= extra;
    l->uncounted += extra;
}

void *loop_main(void *arg)
{
    struct loop *l = arg;
    double end = lvt_now_ms() + LOOP_MAX_MS;
    unsigned long slack = 0, k;
    struct lvt_reply r;

    for (k = 0; k < LOOP_MAX_REQ && !l->fail[0] && l->after < LOOP_AFTER; k++) {
        int over = atomic_load(&l->over), retried;
        if (lvt_now_ms() > end) {
            snprintf(l->fail, sizeof(l->fail), "still asking after %d s", LOOP_MAX_MS / 1000);
            break;
        }
        if (!loop_request(l, &r, &retried))
            break;
        l->retries += (unsigned long)retried;
        slack += (unsigned long)retried;
        if (k == 0) {
            l->first = r.count;
            l->gen0 = r.gen;
        }
        loop_account(l, &r, &slack); /* (l->last, l->gen1 start as c0's last answer) */
        l->last = r.count;
        l->gen1 = r.gen;
        l->after += (unsigned long)over;
        atomic_fetch_add(&l->answered, 1);
        lvt_sleep_ms(1);
    }
    if (k == LOOP_MAX_REQ && !l->fail[0])
        snprintf(l->fail, sizeof(l->fail), "%d requests and still not over", LOOP_MAX_REQ);
    return NULL;
}
