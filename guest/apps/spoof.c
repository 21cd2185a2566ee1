/*
 * spoof: a hostile guest for the antispoof test (tests/e2e/test_spoof.c).
 *
 *   spoof NEIGHBOUR_IP COUNT
 *
 * Comes up like any network app (TCP port 13 answers "spoof\r\n"), then
 * waits for a UDP datagram on port 9999. Its sender (the host) is the
 * target: the guest writes, straight to its NIC, COUNT frames of each
 * kind, and prints "spoof: sent COUNT of each":
 *   mac    a UDP packet from a MAC that is not the NIC's
 *   ip     a UDP packet from the NIC's MAC but from NEIGHBOUR_IP
 *   arp    an ARP reply saying NEIGHBOUR_IP is at the NIC's MAC (without
 *          a filter it takes over the host's entry for the neighbour)
 *   other  an IPv6 frame (ethertype 0x86dd)
 *   runt   an IPv4 frame of 8 bytes after the Ethernet header, too short
 *          for a source address (a filter must drop it as "ip" too)
 * Each further datagram sends another round.
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/ip4_addr.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

const char *const lvrt_app_name = "spoof";

#define TRIGGER_PORT 9999
#define TX_WAIT_NS 100000000ull /* a free transmit buffer within 100 ms */

static const uint8_t forged_mac[6] = {0x02, 0x66, 0x66, 0x66, 0x66, 0x66};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint32_t neighbour_ip; /* network order */
static unsigned count;
static int dev;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void eth(uint8_t *f, const uint8_t *src, uint16_t type)
{
    memcpy(f, bcast, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, type);
}

/* A 28-byte IPv4 UDP packet from (src) to (dst) (network order), port 9. */
static size_t udp4(uint8_t *p, uint32_t src, uint32_t dst)
{
    uint32_t sum = 0;

    memset(p, 0, 28);
    p[0] = 0x45;
    put16(p + 2, 28);
    p[8] = 64;  /* TTL */
    p[9] = 17;  /* UDP */
    memcpy(p + 12, &src, 4);
    memcpy(p + 16, &dst, 4);
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    put16(p + 10, (uint16_t)~sum);
    put16(p + 20, 9);
    put16(p + 22, 9);
    put16(p + 24, 8); /* UDP length; checksum 0: none */
    return 28;
}

static size_t arp_reply(uint8_t *p, const uint8_t *mac, uint32_t claimed, uint32_t target)
{
    static const uint8_t hdr[8] = {0, 1, 0x08, 0, 6, 4, 0, 2}; /* Ethernet/IPv4, reply */

    memcpy(p, hdr, 8);
    memcpy(p + 8, mac, 6);
    memcpy(p + 14, &claimed, 4);
    memset(p + 18, 0, 6);
    memcpy(p + 24, &target, 4);
    return 28;
}

static void send_one(int kind, const uint8_t *mac, uint32_t me, uint32_t host)
{
    uint8_t *f = lvrt_net_tx_alloc((unsigned)dev, TX_WAIT_NS);
    size_t len = 14;

    if (!f)
        return;
    switch (kind) {
    case 0: /* mac */
        eth(f, forged_mac, 0x0800);
        len += udp4(f + 14, me, host);
        break;
    case 1: /* ip */
        eth(f, mac, 0x0800);
        len += udp4(f + 14, neighbour_ip, host);
        break;
    case 2: /* arp */
        eth(f, mac, 0x0806);
        len += arp_reply(f + 14, mac, neighbour_ip, host);
        break;
    case 3: /* other */
        eth(f, mac, 0x86dd);
        memset(f + 14, 0, 40);
        f[14] = 0x60;
        len += 40;
        break;
    default: /* runt: not padded */
        eth(f, mac, 0x0800);
        memset(f + 14, 0, 8);
        f[14] = 0x45;
        lvrt_net_tx_send((unsigned)dev, f, len + 8);
        return;
    }
    while (len < 60)
        f[len++] = 0; /* the Ethernet minimum */
    lvrt_net_tx_send((unsigned)dev, f, len);
}

static void on_trigger(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                       u16_t port)
{
    struct netif *n = lvnet_netif(0);
    uint32_t me = netif_ip4_addr(n)->addr, host = ip_2_ip4(addr)->addr;

    (void)arg;
    (void)pcb;
    (void)port;
    pbuf_free(p);
    for (unsigned i = 0; i < count; i++)
        for (int kind = 0; kind < 5; kind++)
            send_one(kind, n->hwaddr, me, host);
    lvrt_printf("spoof: sent %u of each\n", count);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    if (tcp_write(pcb, "spoof\r\n", 7, 0) != ERR_OK || tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

static int parse_count(const char *s, unsigned *out)
{
    unsigned v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    *out = v;
    return v >= 1 && v <= 1000 ? 0 : -1;
}

int main(int argc, char **argv)
{
    ip4_addr_t nb;
    struct udp_pcb *u;

    if (argc != 3 || !ip4addr_aton(argv[1], &nb) || parse_count(argv[2], &count) < 0) {
        lvrt_puts("usage: spoof NEIGHBOUR_IP COUNT (1..1000)");
        return 2;
    }
    neighbour_ip = nb.addr;
    dev = lvrt_net_find(0);
    if (lvnet_start() <= 0 || dev < 0)
        return 1;
    u = udp_new();
    if (!u || udp_bind(u, IP_ADDR_ANY, TRIGGER_PORT) != ERR_OK) {
        lvrt_puts("spoof: cannot bind UDP port 9999");
        return 1;
    }
    udp_recv(u, on_trigger, NULL);
    if (lvnet_listen_tcp(13, on_accept) < 0)
        return 1;
    lvnet_loop();
}
