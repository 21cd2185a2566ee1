/*
 * lvnet.h: lwIP (NO_SYS) on the runtime's virtio-net NICs, and the main
 * loop of a network unikernel.
 *
 *   lvnet_start();             NICs up with the boot info's addresses,
 *                              the network-up probe sent
 *   ... tcp_listen / udp_bind with lwIP's raw API ...
 *   lvnet_loop();              frames in, lwIP timers, halt when idle
 *
 * lwIP is not reentrant: its functions are called from the app and from
 * lvnet_loop only, never from interrupt handlers.
 */
#ifndef LVNET_H
#define LVNET_H

#include "lwip/netif.h"
#include "lwip/tcp.h"

#define LVNET_MAX_NICS 4u

/* lwip_init(), then every LV_DEV_NET device of the boot info (up to
 * LVNET_MAX_NICS) as an lwIP netif, up, the first one the default. When
 * the boot info names a probe address, sends one UDP datagram there
 * ("lightvm up") once the first NIC is up. Returns the number of NICs
 * (0: none, a message says so), or -1 when a NIC could not be set up
 * (the driver printed why). */
int lvnet_start(void);

/* Listens on TCP (port) of every NIC and hands each connection to
 * (on_accept); then prints one console line (one exit, after the
 * network-up probe is out): "APP: listening on IP:PORT". 0, or -1 with a
 * console message. */
int lvnet_listen_tcp(u16_t port, tcp_accept_fn on_accept);

/* The netif of the (n)th NIC, or NULL. */
struct netif *lvnet_netif(unsigned n);

/* After a restore of a snapshot (lvrt_resumed): new initial local
 * ports; for each NIC the MAC and addresses from the boot info's device
 * table (a clone's), a fresh ARP table, both queues processed once and
 * one gratuitous ARP when it has an address. lvnet_poll calls it. */
void lvnet_resumed(void);

/* One pass: after a restore lvnet_resumed first, then hands every
 * waiting frame to lwIP and runs its due timers. */
void lvnet_poll(void);

/* lvnet_poll, then halt until a frame or the next lwIP timeout, forever. */
_Noreturn void lvnet_loop(void);

#endif /* LVNET_H */
