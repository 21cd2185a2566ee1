/*
 * antispoof.h: what a VM may send through its tap, enforced by the
 * kernel (nf_tables, bridge family), set up over netlink: no program is
 * run (no `nft`, no `ebtables`).
 *
 * One table, `bridge lightvm`, shared by every lightvm process of the
 * network namespace:
 *
 *   map vifs { type iface_index : verdict }       ifindex -> jump tapN
 *   chain pre { hook prerouting priority -200; iif vmap @vifs }
 *   chain tapN {                                   one per filtered tap
 *     ether saddr != MAC            counter drop   "mac"
 *     ip: saddr != IP               counter drop   "ip"
 *     ip                            accept
 *     arp: not Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4)
 *                                   counter drop   "arp"
 *     arp: sender MAC, IP != MAC, IP counter drop  "arp"
 *     arp                           accept
 *     anything else (IPv6, VLAN...) counter drop   "other"
 *   }
 *
 * Frames from ports that are not in the map (the host, veths, taps of
 * other programs) are not looked at. The map is keyed by ifindex, not by
 * name: the kernel does not hand out an ifindex again soon (it counts
 * up), whereas tap names are reused at once, so removing the rules of a
 * VM that is gone never removes those of a new VM whose tap took the
 * same name.
 *
 * Installing the rules of a VM's taps is one netlink transaction (its
 * chains, their rules, their map entries; atomic: all or nothing). The
 * table, the map and the base chain are made by the first install of the
 * namespace (one more transaction, once). Every function returns 0 or
 * -errno with one line in the optional (err); the kernel's reason is
 * quoted when it gives one.
 */
#ifndef LIGHTVM_ANTISPOOF_H
#define LIGHTVM_ANTISPOOF_H

#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/net.h"

#define LV_AS_MAX 8 /* taps per call */

struct lv_nft; /* one NETLINK_NETFILTER socket and its sequence numbers */

/* Opens a handle (socket O_CLOEXEC, 5 s receive timeout). The caller
 * owns *out and frees it with lv_nft_close(). Not thread-safe. Changing
 * the ruleset needs CAP_NET_ADMIN in the namespace. */
int lv_nft_open(struct lv_nft **out, struct lv_err *err);
/* Closes the socket, frees the handle, sets *n to NULL; NULL-safe. */
void lv_nft_close(struct lv_nft **n);

/* What one tap may send. */
struct lv_as_vif {
    int ifindex;      /* the tap, > 0 */
    char ifname[LV_IFNAMSIZ]; /* and its name */
    uint8_t mac[6];   /* the guest's MAC */
    uint32_t ip;      /* the guest's IPv4 address, network order; 0 = none
                         (then no IPv4 and no ARP passes either) */
};

/* Installs the rules of (n) taps in one transaction, replacing any left
 * over for the same ifindex. Creates the table first if it is missing. */
int lv_as_install(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n,
                  struct lv_err *err);

/* Removes the rules of (n) taps (ifindexes in (ifindex)) in one
 * transaction. Taps with no rules are skipped; 0 when none had any. */
int lv_as_remove(struct lv_nft *nft, const int *ifindex, unsigned n, struct lv_err *err);

/* Frames dropped, by the rule that dropped them. */
struct lv_as_drops {
    uint64_t mac, ip, arp, other;
};

/* Adds the drop counters of tap (ifindex) to (*d). -ENOENT when the tap
 * has no rules. One netlink dump. */
int lv_as_read(struct lv_nft *nft, int ifindex, struct lv_as_drops *d, struct lv_err *err);

/* 1 when tap (ifindex) has rules, 0 when not, -errno. */
int lv_as_present(struct lv_nft *nft, int ifindex, struct lv_err *err);

/* Removes the rules of every tap that no longer exists in this
 * namespace (left by a process that was killed); (*removed) gets their
 * number unless NULL. */
int lv_as_sweep(struct lv_nft *nft, unsigned *removed, struct lv_err *err);

#endif
