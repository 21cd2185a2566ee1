/*
 * counter: a stateful service for snapshot tests, on UDP and TCP port 7.
 * Each request (a UDP datagram of any content, or a TCP connection) gets
 * one line and counts as one more request:
 *
 *   count N uptime_ms M gen G ip A.B.C.D[ isn X]\n
 *
 * N: requests so far, this one included (the state a snapshot must
 * keep); M: lvrt_now_ns() in ms (the monotonic clock, which a restore
 * must not move back); G: the boot info generation (0 at boot, +1 per
 * restore); A.B.C.D: the address of the NIC that took the request (the
 * identity a clone gets). A TCP connection gets its reply at once and
 * is closed; its line adds X, the initial sequence number of our side
 * of the connection (what the SYN-ACK carried), so that tests can
 * compare clones'.
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

const char *const lvrt_app_name = "counter";

#define COUNTER_PORT 7

static uint64_t count;

static int format_reply(char *buf, size_t cap, const struct netif *nif, int tcp, uint32_t isn)
{
    const struct lv_bootinfo *bi = lvrt_bootinfo();
    const char *ip = nif ? ip4addr_ntoa(netif_ip4_addr(nif)) : "0.0.0.0";
    int n;

    count++;
    n = lvrt_snprintf(buf, cap, "count %lu uptime_ms %lu gen %lu ip %s", count,
                      lvrt_now_ns() / 1000000u, bi->generation, ip);
    if (tcp)
        n += lvrt_snprintf(buf + n, cap - (size_t)n, " isn %u", isn);
    n += lvrt_snprintf(buf + n, cap - (size_t)n, "\n");
    return n;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port)
{
    char line[128];
    struct pbuf *r;
    int n;

    (void)arg;
    pbuf_free(p);
    n = format_reply(line, sizeof(line), ip_current_input_netif(), 0, 0);
    r = pbuf_alloc(PBUF_TRANSPORT, (u16_t)n, PBUF_RAM);
    if (!r)
        return; /* out of memory: the client asks again */
    pbuf_take(r, line, (u16_t)n);
    udp_sendto(pcb, r, addr, port);
    pbuf_free(r);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    char line[128];
    int n;

    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    /* Passive open: lastack starts at our ISN, and lwIP calls accept
     * before the handshake's ACK is processed (tcp_in.c, SYN_RCVD). */
    n = format_reply(line, sizeof(line), ip_current_input_netif(), 1, pcb->lastack);
    if (tcp_write(pcb, line, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK ||
        tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

int main(int argc, char **argv)
{
    struct udp_pcb *u;

    (void)argc;
    (void)argv;
    if (lvnet_start() <= 0)
        return 1;
    u = udp_new();
    if (!u || udp_bind(u, IP_ANY_TYPE, COUNTER_PORT) != ERR_OK) {
        lvrt_puts("counter: cannot bind UDP port 7");
        return 1;
    }
    udp_recv(u, on_udp, NULL);
    if (lvnet_listen_tcp(COUNTER_PORT, on_accept) < 0)
        return 1;
    lvnet_loop();
}
