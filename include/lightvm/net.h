/*
 * net.h: host network setup for VMs (taps, bridges, links), in C.
 *
 * Nothing here runs a program: no `ip`, no `brctl`, no shell, no fork.
 * Links and bridges are configured over one rtnetlink socket (libmnl);
 * taps are made with ioctls on /dev/net/tun. Every function follows
 * err.h: 0 (or a non-negative value) on success, -errno on failure, and
 * one line in the optional (err) naming the interface or value at fault;
 * when the kernel explains a refusal (extended ACK), its text is quoted.
 *
 * Taps vanish with the VM, however it ends. lv_tap_open() makes a
 * NON-persistent tap and refuses a name that already exists, so the fd
 * it returns is the tap's only owner: the kernel deletes the interface
 * when the last fd on it is closed, which also happens when the process
 * exits or is killed (SIGKILL included). Nothing has to run at VM exit.
 * The fd is O_CLOEXEC, so a program started with exec never keeps a tap
 * alive; a child made with fork() and no exec does hold it until it
 * closes the fd or exits.
 *
 * Interface names are 1..15 characters from [A-Za-z0-9_.-], not "." or
 * "..". The netlink calls run in the caller's network namespace.
 */
#ifndef LIGHTVM_NET_H
#define LIGHTVM_NET_H

#include <stdint.h>

#include "lightvm/err.h"

#define LV_IFNAMSIZ 16          /* IFNAMSIZ: 15 characters and a NUL */
#define LV_TAP_VNET_HDR_LEN 12  /* struct virtio_net_hdr_v1 (with num_buffers) */

/* ---- names and MAC addresses (no system calls except getrandom) ---- */

/* 0 when (name) is a valid interface name (see above), else -EINVAL. */
int lv_ifname_check(const char *name, struct lv_err *err);

/* Parses "02:00:00:00:00:01" strictly: exactly six two-digit hex pairs
 * separated by ':', nothing before or after. Refuses multicast (bit 0 of
 * the first byte) and all-zero addresses: a VM NIC needs a unicast one.
 * -EINVAL naming the input on failure; (mac) is only written on success. */
int lv_mac_parse(const char *s, uint8_t mac[6], struct lv_err *err);

/* A random unicast, locally administered address (first byte x2, x6, xA
 * or xE), from getrandom(). -errno if the kernel gives no randomness. */
int lv_mac_random(uint8_t mac[6], struct lv_err *err);

/* Writes "xx:xx:xx:xx:xx:xx" and a NUL into (out). */
void lv_mac_format(const uint8_t mac[6], char out[18]);

/* Parses a dotted-quad IPv4 address strictly (four decimal octets 0..255,
 * no leading zeros, nothing else) into (*ip), network byte order. With
 * (prefix) non-NULL an optional "/N" (0..32) is accepted and stored, -1
 * when absent. -EINVAL naming the input on failure. */
int lv_ipv4_parse(const char *s, uint32_t *ip, int *prefix, struct lv_err *err);

/* Parses "A.B.C.D:PORT" (the address as lv_ipv4_parse, PORT 1..65535)
 * into (*ip) and (*port), both network byte order. -EINVAL with one line
 * quoting the input on failure. */
int lv_ipv4_port_parse(const char *s, uint32_t *ip, uint16_t *port, struct lv_err *err);

/* ---- taps ---- */

struct lv_tap {
    int fd;                   /* /dev/net/tun fd, owned; -1 when closed */
    char name[LV_IFNAMSIZ];   /* the interface name the kernel gave */
    int ifindex;
};

/* Creates a tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, vnet header size
 * LV_TAP_VNET_HDR_LEN) in the caller's network namespace. (name) NULL or
 * "" lets the kernel pick the first free "lvtap%d"; a given name must be
 * valid and not exist yet (-EBUSY otherwise). The fd is O_CLOEXEC and
 * O_NONBLOCK; frames read and written on it start with the vnet header.
 * The tap is created down; configure it with lv_link_set(). The caller
 * owns (tap) and releases it with lv_tap_close(), which deletes the
 * interface (see the top of this file). On failure tap->fd is -1. */
int lv_tap_open(const char *name, struct lv_tap *tap, struct lv_err *err);

/* Closes the fd (the kernel then deletes the tap); safe on a closed or
 * failed tap. */
void lv_tap_close(struct lv_tap *tap);

/* ---- rtnetlink ---- */

struct lv_nl; /* one NETLINK_ROUTE socket and its sequence numbers */

/* Opens a netlink handle (socket O_CLOEXEC, 5 s receive timeout, extended
 * ACKs asked for). The caller owns *out and frees it with lv_nl_close().
 * A handle is not thread-safe: use one per thread. */
int lv_nl_open(struct lv_nl **out, struct lv_err *err);

/* Closes the socket, frees the handle and sets *nl to NULL; NULL-safe. */
void lv_nl_close(struct lv_nl **nl);

/* What the kernel says about a link. */
struct lv_link {
    int ifindex;
    char name[LV_IFNAMSIZ];
    char kind[16];            /* IFLA_INFO_KIND ("bridge", "tun"...), "" if none */
    uint8_t mac[6];
    int has_mac;              /* 1 when the link has a 6-byte hardware address */
    unsigned mtu;
    unsigned flags;           /* IFF_UP, IFF_RUNNING... */
    int master;               /* ifindex of the bridge it is attached to, 0 if none */
    char alias[32];           /* IFLA_IFALIAS, "" if none or longer */
};

/* The alias of the bridges lightvm made (lv_bridge_ensure with create). */
#define LV_BRIDGE_ALIAS "made by lightvm"

/* Reads link (ifname) into (out). -ENODEV "no interface X" if absent. */
int lv_link_get(struct lv_nl *nl, const char *ifname, struct lv_link *out,
                struct lv_err *err);

/* Returns the ifindex (> 0) of (ifname), or -errno (-ENODEV if absent). */
int lv_link_index(struct lv_nl *nl, const char *ifname, struct lv_err *err);

/* Calls fn once per link of the namespace (a netlink dump). A negative
 * return from fn stops the calls and is returned. (l) is borrowed for
 * the duration of the call. */
int lv_link_foreach(struct lv_nl *nl, int (*fn)(const struct lv_link *l, void *arg),
                    void *arg, struct lv_err *err);

/* Sets, in one request, what is given: (mac) unless NULL (must be
 * unicast, not zero), (mtu) unless 0 (the kernel checks the device's
 * range and its reason is quoted), and the IFF_UP flag: (up) 1 = up,
 * 0 = down, -1 = leave as is. */
int lv_link_set(struct lv_nl *nl, const char *ifname, const uint8_t mac[6], unsigned mtu,
                int up, struct lv_err *err);

/* Makes sure a bridge (bridge) exists. Succeeds without change if it
 * exists and is a bridge (lightvm changes nothing on a bridge it did not
 * make); -EEXIST "X exists and is not a bridge" if the name is another
 * kind of link. If it does not exist: with (create) it is created, brought
 * up, given the alias LV_BRIDGE_ALIAS and its MAC pinned (a Linux bridge
 * whose MAC nobody set takes the lowest MAC of its ports and changes it
 * as ports come and go, leaving the guests' ARP entries for the host
 * stale); without, -ENODEV "bridge X does not exist". A concurrent creator
 * is tolerated. Returns the bridge's ifindex (> 0) on success. */
int lv_bridge_ensure(struct lv_nl *nl, const char *bridge, int create, struct lv_err *err);

/* Attaches (ifname) to (bridge), which must be a bridge; (bridge) NULL or
 * "" detaches it from its master. */
int lv_link_set_master(struct lv_nl *nl, const char *ifname, const char *bridge,
                       struct lv_err *err);

/* A VM's network interface on the host: opens a tap (kernel-named
 * "lvtap%d"), makes sure (bridge) exists (lv_bridge_ensure with
 * (create)), attaches the tap to it and brings the tap up. On failure
 * nothing is left behind (the tap is closed, hence deleted; a bridge this
 * call created stays, as another VM may be joining it). The caller owns
 * (tap) as from lv_tap_open(). */
int lv_vif_open(struct lv_nl *nl, const char *bridge, int create, struct lv_tap *tap,
                struct lv_err *err);

/* Removes (bridge) if lightvm made it (its alias is LV_BRIDGE_ALIAS) and
 * no interface is attached to it any more: 1 if removed, 0 if kept (or
 * already gone), -errno. */
int lv_bridge_release(struct lv_nl *nl, const char *bridge, struct lv_err *err);

/* The IPv4 addresses of (ifname) (network byte order, up to (max) into
 * (ips)): their number, or -errno (-ENODEV: no such interface). One
 * RTM_GETADDR dump of IPv4 addresses: its cost does not grow with the
 * number of taps. */
int lv_link_ipv4(struct lv_nl *nl, const char *ifname, uint32_t *ips, unsigned max,
                 struct lv_err *err);

/* 1 and the MAC of bridge (ifname) in (mac) when (ip) is one of its IPv4
 * addresses; 0 when it is not; -errno. The MAC is only stable once pinned
 * (lv_link_set_master does so when a tap joins). One link request and
 * one address dump.
 * For the network-up probe: a VM on bridge B probing an address of B
 * itself can skip ARP. */
int lv_bridge_owns_ip(struct lv_nl *nl, const char *ifname, uint32_t ip, uint8_t mac[6],
                      struct lv_err *err);

/* 1 when (mac) is bridge (bridge)'s own address or in its forwarding
 * database (a MAC some port has sent from, or a port's own), 0 when not;
 * -ENODEV when there is no such bridge, -errno. One link request and
 * one dump of the bridge's entries. */
int lv_bridge_mac_used(struct lv_nl *nl, const char *bridge, const uint8_t mac[6],
                       struct lv_err *err);

/* Deletes link (ifname) (a bridge, a persistent tap...). -ENODEV if it
 * does not exist. A tap from lv_tap_open() is deleted by lv_tap_close(). */
int lv_link_delete(struct lv_nl *nl, const char *ifname, struct lv_err *err);

#endif
