/*
 * dirtier: a guest that dirties its memory at a set rate, for the
 * migration test (tests/kvm/test_migrate.c): pre-copy must give up and
 * stop-and-copy when the guest dirties pages faster than they are sent.
 *
 *   dirtier [PAGES_PER_MS [AREA_PAGES]]   (defaults 256 and 1024)
 *
 * (PAGES_PER_MS 0: it writes nothing and only answers, bench/bench_migrate's
 * idle case.)
 *
 * It writes one byte into each of PAGES_PER_MS pages of an AREA_PAGES
 * area of its heap every millisecond (in turn, round the area), between
 * passes of its network stack, and answers any UDP datagram on port 7
 * with "dirtier written N" (N: pages written so far, state that a
 * migration must carry).
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/udp.h"

const char *const lvrt_app_name = "dirtier";

#define PORT 7
#define PAGE 4096u

static uint64_t written;

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port)
{
    char line[64];
    struct pbuf *r;
    int n;

    (void)arg;
    pbuf_free(p);
    n = lvrt_snprintf(line, sizeof(line), "dirtier written %lu", written);
    r = pbuf_alloc(PBUF_TRANSPORT, (u16_t)n, PBUF_RAM);
    if (!r)
        return; /* out of memory: the client asks again */
    pbuf_take(r, line, (u16_t)n);
    udp_sendto(pcb, r, addr, port);
    pbuf_free(r);
}

/* argv[i] if it is a number >= (min), else (def). */
static uint64_t arg_or(int argc, char **argv, int i, uint64_t def, uint64_t min)
{
    uint64_t v;

    return i < argc && lvrt_parse_u64(argv[i], &v) == 0 && v >= min ? v : def;
}

int main(int argc, char **argv)
{
    uint64_t rate = arg_or(argc, argv, 1, 256, 0), area = arg_or(argc, argv, 2, 1024, 1);
    uint64_t start, next = 0;
    volatile uint8_t *mem;
    struct udp_pcb *u;

    if (lvnet_start() <= 0)
        return 1;
    mem = lvrt_calloc(area, PAGE);
    u = udp_new();
    if (!mem || !u || udp_bind(u, IP_ANY_TYPE, PORT) != ERR_OK) {
        lvrt_puts("dirtier: no memory or cannot bind UDP port 7");
        return 1;
    }
    udp_recv(u, on_udp, NULL);
    lvrt_printf("dirtier: %lu pages per ms over %lu pages\n", rate, area);
    start = lvrt_now_ns();
    for (;;) {
        uint64_t due = (lvrt_now_ns() - start) / 1000000u * rate;
        for (; written < due; written++, next = (next + 1) % area)
            mem[next * PAGE] = (uint8_t)written;
        lvnet_poll();
    }
}
