/*
 * lwipopts.h: lwIP 2.1 configuration for lightvm guests.
 *
 * NO_SYS: one vCPU, no threads, the raw (callback) API only. The app
 * owns the loop: feed received frames to netif->input, call
 * sys_check_timeouts() and sleep at most sys_timeouts_sleeptime() ms.
 * Nothing here may be called from an interrupt handler
 * (SYS_LIGHTWEIGHT_PROT 0: lwIP takes no locks).
 *
 * Sized for a daytime/http server with a few connections: about 25 KiB
 * of receive pbufs and a 32 KiB heap for transmit data, all in .bss
 * (the runtime does not pre-touch it, so untouched pages cost nothing).
 * Options left out take lwIP's defaults (src/include/lwip/opt.h).
 */
#ifndef LVLWIP_LWIPOPTS_H
#define LVLWIP_LWIPOPTS_H

/* ---- platform ---- */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1 /* driven by sys_now() (guest/lwip/port.c) */
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0
#define LWIP_ALTCP 0

/* ---- memory ---- */
#define MEM_ALIGNMENT 8
#define MEM_LIBC_MALLOC 0 /* lwIP's own heap of MEM_SIZE bytes */
#define MEM_SIZE (32 * 1024)  /* PBUF_RAM: TCP/UDP transmit data */
#define MEMP_MEM_MALLOC 0
#define PBUF_POOL_SIZE 16     /* receive buffers of PBUF_POOL_BUFSIZE (~1.5 KiB) */
#define MEMP_NUM_PBUF 16      /* PBUF_ROM/REF (zero-copy tcp_write) */
#define MEMP_NUM_UDP_PCB 4
#define MEMP_NUM_TCP_PCB 8    /* active connections, TIME_WAIT included */
#define MEMP_NUM_TCP_PCB_LISTEN 2
#define MEMP_NUM_TCP_SEG 32   /* >= TCP_SND_QUEUELEN */
#define MEMP_NUM_REASSDATA 2
#define MEMP_NUM_FRAG_PBUF 8
#define MEMP_NUM_ARP_QUEUE 8
#define MEMP_OVERFLOW_CHECK 0
#define MEMP_SANITY_CHECK 0

/* ---- link and IPv4 ---- */
#define LWIP_ETHERNET 1
#define LWIP_ARP 1
#define ARP_TABLE_SIZE 8
#define ARP_QUEUEING 1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1 /* the probe target, when the VMM knows its MAC */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_REASS_MAX_PBUFS 8
#define IP_FRAG 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0

/* ---- UDP and TCP ---- */
#define LWIP_UDP 1
#define LWIP_TCP 1
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + TCP_MSS - 1) / TCP_MSS)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 0
#define LWIP_WND_SCALE 0
#define TCP_LISTEN_BACKLOG 0
#define LWIP_TCP_KEEPALIVE 0
#define LWIP_CALLBACK_API 1
/* lwIP 2.1's default ISN is a counter; use a random one instead
 * (lvrt_random: reseeded at each restore, so clones of one snapshot
 * pick different ISNs). Initial local ports are random too: with
 * LWIP_RAND defined, tcp_init and udp_init draw them (lwIP 2.1 has no
 * LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS switch), and lvnet calls both
 * again after a restore. */
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) \
    ((void)(lip), (void)(lport), (void)(rip), (void)(rport), LWIP_RAND())

/* ---- checksums: all generated and checked in software ---- */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1

/* ---- statistics and debugging ---- */
#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0
#define LWIP_PERF 0
/* LWIP_DEBUG stays undefined (no debug output). Assertions stay on:
 * they panic through lvrt_panic (arch/cc.h); define LWIP_NOASSERT in
 * LWIP_CFLAGS to drop them. */

#endif /* LVLWIP_LWIPOPTS_H */
