/*
 * antispoof.h: what a VM may send through its tap, enforced by the
 * kernel (nf_tables), set up over netlink: no program is run (no `nft`,
 * no `ebtables`).
 *
 * Each filtered tap has one chain on its ingress hook (family netdev:
 * every frame the guest writes, before the bridge or the host stack see
 * it), in one of 32 tables shared by every lightvm process of the network
 * namespace (`netdev lightvm-S`, S = ifindex % 32):
 *
 *   chain tapIFINDEX {  hook ingress device "lvtapN"; policy accept
 *     iif != IFINDEX                 accept
 *     ether saddr != MAC             counter drop   "mac"
 *     ip: saddr == IP                accept
 *     ip                             counter drop   "ip"
 *     arp: Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4) and
 *          sender MAC, IP == MAC, IP accept
 *     arp                            counter drop   "arp"
 *     (IPv6, VLAN, ...)              counter drop   "other"
 *   }
 *
 * Chains are named by ifindex, not by tap name: the kernel does not hand
 * out an ifindex again soon (it counts up), whereas tap names are reused
 * at once, so removing the rules of a VM that is gone never removes those
 * of a new VM whose tap took the same name. A netdev chain hooks its
 * device by name, though, and the kernel attaches a chain whose device is
 * gone to the next device of that name: the first rule lets such a
 * left-over chain pass the new tap's frames (to the new tap's own chain).
 *
 * Installing the rules of a VM's taps is one netlink transaction (the
 * tables if missing, the chains, their rules; atomic: all or nothing),
 * or two: lv_as_seal makes the chains with only the first and the last
 * rule (the tap drops everything, as "other"), when the taps are made;
 * lv_as_allow later inserts the VM's rules (MAC, IPv4, ARP) before the
 * last, rules only, the cheap part (lightvmd seals a pool shell's taps
 * when the shell is ready and allows at create). Either way the chain
 * ends up the same. Every function returns 0 or -errno with one line in
 * the optional (err); the kernel's reason is quoted when it gives one.
 */
#ifndef LIGHTVM_ANTISPOOF_H
#define LIGHTVM_ANTISPOOF_H

#include <stdint.h>

#include "abi/lv_abi.h"
#include "lightvm/err.h"
#include "lightvm/net.h"

#define LV_AS_MAX LV_BOOTINFO_MAX_DEVICES /* taps per call: one VM's NICs at most */

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
                         (then IPv4 and ARP pass only from 0.0.0.0) */
};

/* Installs the rules of (n) taps (at most LV_AS_MAX; they must exist:
 * a chain hooks its tap by name) in one transaction, creating their
 * tables if missing. Rules left over for the same ifindex (installed
 * twice) are replaced, in a second transaction. */
int lv_as_install(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n,
                  struct lv_err *err);

/* Seals (n) taps (at most LV_AS_MAX; only ifindex and ifname are used):
 * each gets its chain with the seal's two rules, so it drops every frame
 * (counted as "other") from then on; one transaction, as lv_as_install
 * (a chain left over for the same ifindex is replaced), then one dump per
 * tap for (slot[i]): where tap i's VM rules go. Nothing is left on
 * failure. Removed with lv_as_remove. */
int lv_as_seal(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, uint64_t *slot,
               struct lv_err *err);

/* Adds the VM's rules (v[i].mac, v[i].ip) to (n) taps sealed by
 * lv_as_seal, whose (slot)s it returned: one transaction of rules only
 * (no table, chain or hook changes). Fails (nothing changed) when a seal
 * is gone (-ENOENT). */
int lv_as_allow(struct lv_nft *nft, const struct lv_as_vif *v, const uint64_t *slot,
                unsigned n, struct lv_err *err);

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
