/*
 * lwip_smoke: links lwIP into a guest image and drives it without a NIC.
 * A dummy Ethernet netif (10.0.0.1/24) records the frames lwIP hands to
 * linkoutput: bringing it up sends a gratuitous ARP (A), then the app
 * sends a broadcast UDP datagram (U), a unicast one to 10.0.0.2 (an ARP
 * request A; the datagram waits in the ARP queue), feeds an ARP reply
 * back in through netif->input (the queued datagram U goes out), opens
 * a TCP connection (SYN, T) and aborts it (RST, T). Prints
 * "lwip ok frames=6 AUAUTT ..." and exits 0, or "lwip FAIL ..." and 1.
 */
#include "lvrt.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

const char *const lvrt_app_name = "lwip_smoke";

static const u8_t our_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x01};
static const u8_t peer_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x02};

static struct netif nif;
static unsigned int frames;
static char kinds[64]; /* one letter per frame: A(RP) U(DP) T(CP) ?(other) */

/* linkoutput: classify the frame by ethertype and IPv4 protocol. */
static err_t count_frame(struct netif *n, struct pbuf *p)
{
    u8_t h[24];
    char k = '?';

    (void)n;
    if (pbuf_copy_partial(p, h, sizeof(h), 0) == sizeof(h)) {
        if (h[12] == 0x08 && h[13] == 0x06)
            k = 'A';
        else if (h[12] == 0x08 && h[13] == 0x00)
            k = h[23] == IP_PROTO_UDP ? 'U' : h[23] == IP_PROTO_TCP ? 'T' : '?';
    }
    if (frames < sizeof(kinds) - 1)
        kinds[frames] = k;
    frames++;
    return ERR_OK;
}

static err_t smoke_netif_init(struct netif *n)
{
    n->name[0] = 'e';
    n->name[1] = 'n';
    n->output = etharp_output;
    n->linkoutput = count_frame;
    n->mtu = 1500;
    n->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(n->hwaddr, our_mac, sizeof(our_mac));
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
               NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

/* Send (msg) to (to):13 from a fresh pbuf; 0 on success. */
static int send_udp(struct udp_pcb *pcb, const ip_addr_t *to, const char *msg)
{
    u16_t len = (u16_t)strlen(msg);
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, len, PBUF_RAM);
    err_t err;

    if (!p)
        return -1;
    pbuf_take(p, msg, len);
    err = udp_sendto(pcb, p, to, 13);
    pbuf_free(p);
    return err == ERR_OK ? 0 : -1;
}

/* Feed "10.0.0.2 is at peer_mac" to the stack, as a driver would. */
static int input_arp_reply(void)
{
    u8_t f[42];
    struct pbuf *p;

    memcpy(f, our_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    f[12] = 0x08, f[13] = 0x06;                      /* ethertype ARP */
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0;   /* Ethernet, IPv4 */
    f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 2;      /* sizes, reply */
    memcpy(f + 22, peer_mac, 6);
    f[28] = 10, f[29] = 0, f[30] = 0, f[31] = 2;     /* sender 10.0.0.2 */
    memcpy(f + 32, our_mac, 6);
    f[38] = 10, f[39] = 0, f[40] = 0, f[41] = 1;     /* target 10.0.0.1 */
    p = pbuf_alloc(PBUF_RAW, sizeof(f), PBUF_POOL);
    if (!p)
        return -1;
    pbuf_take(p, f, sizeof(f));
    if (nif.input(p, &nif) != ERR_OK) {
        pbuf_free(p);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    ip4_addr_t addr, mask, gw;
    ip_addr_t peer;
    struct udp_pcb *upcb;
    struct tcp_pcb *tpcb;

    (void)argc;
    (void)argv;
    lwip_init();
    IP4_ADDR(&addr, 10, 0, 0, 1);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 10, 0, 0, 254);
    if (!netif_add(&nif, &addr, &mask, &gw, NULL, smoke_netif_init, ethernet_input)) {
        lvrt_puts("lwip FAIL netif_add");
        return 1;
    }
    netif_set_default(&nif);
    netif_set_up(&nif);

    upcb = udp_new();
    if (!upcb || send_udp(upcb, IP_ADDR_BROADCAST, "hello broadcast\n") < 0) {
        lvrt_puts("lwip FAIL udp broadcast");
        return 1;
    }
    IP_ADDR4(&peer, 10, 0, 0, 2);
    if (send_udp(upcb, &peer, "hello 10.0.0.2\n") < 0 || input_arp_reply() < 0) {
        lvrt_puts("lwip FAIL udp unicast/arp");
        return 1;
    }
    tpcb = tcp_new();
    if (!tpcb || tcp_connect(tpcb, &peer, 80, NULL) != ERR_OK) {
        lvrt_puts("lwip FAIL tcp_connect");
        return 1;
    }
    sys_check_timeouts();
    tcp_abort(tpcb); /* sends a RST */
    udp_remove(upcb);
    if (strcmp(kinds, "AUAUTT") != 0) {
        lvrt_printf("lwip FAIL frames=%u %s (want AUAUTT)\n", frames, kinds);
        return 1;
    }
    lvrt_printf("lwip ok frames=%u %s next_timeout_ms=%u\n", frames, kinds,
                (unsigned int)sys_timeouts_sleeptime());
    return 0;
}
