/*
 * lvnet.c: lwIP netifs over the runtime's virtio-net driver (see lvnet.h).
 * Received frames are copied into pool pbufs (the driver's buffers go
 * straight back to the device); transmitted ones are copied from the
 * pbuf chain into one driver buffer.
 */
#include "lvnet.h"

#include "lvrt.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h" /* tcp_init: new initial local ports */
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

#define TX_WAIT_NS (100u * 1000 * 1000) /* for a transmit buffer to come back */

struct lvnic {
    struct netif nif;
    unsigned dev; /* index in the boot info device table */
    struct lv_dev_net info;
};

static struct lvnic nic[LVNET_MAX_NICS];
static unsigned nnics;

static err_t link_output(struct netif *n, struct pbuf *p)
{
    struct lvnic *c = n->state;
    void *buf;

    if (p->tot_len > LVRT_NET_FRAME_MAX)
        return ERR_BUF;
    buf = lvrt_net_tx_alloc(c->dev, TX_WAIT_NS);
    if (!buf)
        return ERR_MEM; /* the device returned no buffer: like a full wire */
    if (pbuf_copy_partial(p, buf, p->tot_len, 0) != p->tot_len)
        return ERR_BUF; /* the buffer stays allocated for the next frame */
    lvrt_net_tx_send(c->dev, buf, p->tot_len);
    return ERR_OK;
}

static err_t nic_init(struct netif *n)
{
    struct lvnic *c = n->state;

    n->name[0] = 'e';
    n->name[1] = 'n';
    n->output = etharp_output;
    n->linkoutput = link_output;
    /* lwIP's frames must fit one driver buffer. */
    n->mtu = c->info.mtu;
    if (n->mtu > LVRT_NET_FRAME_MAX - 18)
        n->mtu = LVRT_NET_FRAME_MAX - 18;
    n->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(n->hwaddr, c->info.mac, ETH_HWADDR_LEN);
    /* NETIF_FLAG_ETHARP comes after netif_set_up (lvnet_start): no
     * gratuitous ARP at boot. A bridge floods every broadcast to every
     * VM's tap, waking them all: with 1000 VMs one announcement costs
     * ~100 ms of CPU, and nobody needs it (the host asks when it needs
     * to know). */
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

/* An ARP request for (target) sent to (dst) only, not broadcast: the
 * host answers it and, because it is asked, records our address for our
 * IP, replacing whatever an earlier VM with this IP left in its
 * neighbour table, without waking every VM on the bridge. */
static void arp_hello(struct netif *n, const uint8_t dst[6], uint32_t target)
{
    uint8_t f[42];
    struct pbuf *p = pbuf_alloc(PBUF_RAW, sizeof(f), PBUF_RAM);
    uint32_t ip = ip4_addr_get_u32(netif_ip4_addr(n));

    if (!p)
        return;
    memcpy(f, dst, 6);
    memcpy(f + 6, n->hwaddr, 6);
    f[12] = 0x08, f[13] = 0x06;                    /* ARP */
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0; /* Ethernet, IPv4 */
    f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;    /* request */
    memcpy(f + 22, n->hwaddr, 6);
    memcpy(f + 28, &ip, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, &target, 4);
    pbuf_take(p, f, sizeof(f));
    n->linkoutput(n, p);
    pbuf_free(p);
}

static void send_probe(const struct lv_bootinfo *bi)
{
    static const char msg[] = "lightvm up\n";
    struct udp_pcb *pcb = udp_new();
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, sizeof(msg) - 1, PBUF_RAM);
    ip_addr_t to;
    err_t e = ERR_MEM;

    ip_addr_set_ip4_u32_val(to, bi->probe_ip); /* both in network byte order */
    static const uint8_t zero[6];
    int have_mac = memcmp(bi->probe_mac, zero, 6) != 0;
    if (have_mac) {
        /* The VMM knows the target's MAC: no ARP round trip before the
         * probe. Only for the probe: a bridge's MAC changes as ports come
         * and go, so the entry goes once the datagram is out. */
        struct eth_addr mac;
        memcpy(mac.addr, bi->probe_mac, 6);
        etharp_add_static_entry(ip_2_ip4(&to), &mac);
        arp_hello(&nic[0].nif, bi->probe_mac, bi->probe_ip);
    }
    if (pcb && p) {
        pbuf_take(p, msg, sizeof(msg) - 1);
        /* Waits in the ARP queue until the host answers who-has. */
        e = udp_sendto(pcb, p, &to, lwip_ntohs(bi->probe_port));
    }
    if (have_mac)
        etharp_remove_static_entry(ip_2_ip4(&to));
    if (p)
        pbuf_free(p);
    if (pcb)
        udp_remove(pcb);
    if (e != ERR_OK)
        lvrt_printf("lightvm: net: network-up probe not sent (lwIP error %d)\n", (int)e);
}

int lvnet_start(void)
{
    const struct lv_bootinfo *bi = lvrt_bootinfo();
    int dev;

    lwip_init();
    while (nnics < LVNET_MAX_NICS && (dev = lvrt_net_find(nnics)) >= 0) {
        struct lvnic *c = &nic[nnics];
        ip4_addr_t ip, mask, gw;

        c->dev = (unsigned)dev;
        if (lvrt_net_open(c->dev, &c->info) < 0)
            return -1;
        ip4_addr_set_u32(&ip, c->info.ip);
        ip4_addr_set_u32(&mask, c->info.netmask);
        ip4_addr_set_u32(&gw, c->info.gw);
        if (!netif_add(&c->nif, &ip, &mask, &gw, c, nic_init, ethernet_input)) {
            lvrt_printf("lightvm: net: lwIP refused NIC %u\n", nnics);
            return -1;
        }
        if (nnics == 0)
            netif_set_default(&c->nif);
        netif_set_up(&c->nif);
        c->nif.flags |= NETIF_FLAG_ETHARP; /* from now on: ARP in and out */
        nnics++;
    }
    if (!nnics) {
        lvrt_puts("lightvm: net: no network device (lightvm run --net BRIDGE)");
        return 0;
    }
    if (bi->probe_port && bi->probe_ip)
        send_probe(bi);
    return (int)nnics;
}

int lvnet_listen_tcp(u16_t port, tcp_accept_fn on_accept)
{
    struct tcp_pcb *pcb = tcp_new(), *l = NULL;

    if (pcb && tcp_bind(pcb, IP_ANY_TYPE, port) == ERR_OK)
        l = tcp_listen(pcb); /* frees pcb on success */
    if (!l) {
        if (pcb)
            tcp_close(pcb);
        lvrt_printf("%s: cannot listen on TCP port %u\n", lvrt_app_name, (unsigned)port);
        return -1;
    }
    tcp_accept(l, on_accept);
    lvrt_printf("%s: listening on %s:%u\n", lvrt_app_name,
                ip4addr_ntoa(netif_ip4_addr(lvnet_netif(0))), (unsigned)port);
    return 0;
}

struct netif *lvnet_netif(unsigned n)
{
    return n < nnics ? &nic[n].nif : NULL;
}

/* NIC (c) after a restore: the identity the host wrote into the device
 * table (a clone's MAC and addresses), a fresh ARP table, its queues
 * processed once, then one gratuitous ARP (the bridge and the host learn
 * where the address is now). */
static void nic_resumed(struct lvnic *c)
{
    ip4_addr_t ip, mask, gw;
    struct lv_dev_net info;

    if (lvrt_net_info(c->dev, &info) == 0) {
        memcpy(c->info.mac, info.mac, 6);
        c->info.ip = info.ip;
        c->info.netmask = info.netmask;
        c->info.gw = info.gw;
    }
    etharp_cleanup_netif(&c->nif); /* entries of the network it was saved on */
    memcpy(c->nif.hwaddr, c->info.mac, ETH_HWADDR_LEN);
    ip4_addr_set_u32(&ip, c->info.ip);
    ip4_addr_set_u32(&mask, c->info.netmask);
    ip4_addr_set_u32(&gw, c->info.gw);
    /* Without ETHARP netif_set_addr announces nothing: one announcement
     * below, with the new MAC, whether the address changed or not. */
    c->nif.flags &= (u8_t)~NETIF_FLAG_ETHARP;
    netif_set_addr(&c->nif, &ip, &mask, &gw);
    c->nif.flags |= NETIF_FLAG_ETHARP;
    lvrt_net_resume(c->dev);
    if (c->info.ip)
        etharp_gratuitous(&c->nif);
}

void lvnet_resumed(void)
{
    tcp_init(); /* initial local ports from the reseeded lvrt_random */
    udp_init();
    for (unsigned k = 0; k < nnics; k++)
        nic_resumed(&nic[k]);
}

void lvnet_poll(void)
{
    if (lvrt_resumed())
        lvnet_resumed();
    for (unsigned k = 0; k < nnics; k++) {
        struct lvnic *c = &nic[k];
        const void *frame;
        size_t len;

        while (lvrt_net_rx_peek(c->dev, &frame, &len)) {
            struct pbuf *p = len <= 0xffff ? pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL) : NULL;
            if (p) {
                pbuf_take(p, frame, (u16_t)len);
                lvrt_net_rx_done(c->dev);
                if (c->nif.input(p, &c->nif) != ERR_OK)
                    pbuf_free(p);
            } else {
                lvrt_net_rx_done(c->dev); /* out of pbufs: dropped, like a full NIC */
            }
        }
    }
    sys_check_timeouts();
}

_Noreturn void lvnet_loop(void)
{
    for (;;) {
        lvnet_poll();
        u32_t ms = sys_timeouts_sleeptime();
        lvrt_net_wait(ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE
                          ? UINT64_MAX
                          : lvrt_now_ns() + (uint64_t)ms * 1000000u);
    }
}
