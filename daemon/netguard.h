/* netguard.h: lightvmd's antispoof rules and MAC checks (netguard.c). */
#ifndef LIGHTVMD_NETGUARD_H
#define LIGHTVMD_NETGUARD_H

#include "lightvm/antispoof.h"
#include "lightvm/net.h"
#include "pool.h"
#include "vms.h"

/* Seals ready shell (s)'s taps (lv_as_seal): from now on they drop every
 * frame, until lvd_guard_install; s->guard and s->tap_slot are set, and
 * lvd_shell_free removes the chains. 0 (nothing done) without a handle
 * or NICs. */
int lvd_guard_seal(struct lv_nft *nft, struct lvd_shell *s, struct lv_err *err);

/* Installs the rules of shell (s)'s taps for the VM (vs) (every vif with
 * its MAC: lv_vm_spec_choose_macs): one
 * transaction, of the VM's rules only when (s) was sealed, else of the
 * whole chains (then s->guard is set). 0 when the VM has no vif. */
int lvd_guard_install(struct lv_nft *nft, struct lvd_shell *s, const struct lv_vm_spec *vs,
                      struct lv_err *err);

/* Removes the rules of taps (ifindex[0..n)); failures are logged. */
void lvd_guard_remove(struct lv_nft *nft, const int *ifindex, unsigned n);

/* The tap ifindexes of a VM description (its "vifs"), up to (max). */
unsigned lvd_guard_ifindexes(json_t *info, int *out, unsigned max);

/* {"mac":N,"ip":N,"arp":N,"other":N} summed over the taps (new
 * reference), or NULL when they cannot be read. */
json_t *lvd_guard_drops(struct lv_nft *nft, const int *ifindex, unsigned n);

/* Refuses a create whose config gives a MAC already used on the same
 * bridge: by another vif of the config, a VM of (vms), the bridge's
 * forwarding database or the bridge itself (-EADDRINUSE, "MAC M is
 * already used on bridge B"). */
int lvd_guard_mac_check(struct lv_nl *nl, struct lvd_vms *vms, const struct lv_vm_spec *vs,
                        struct lv_err *err);

#endif
