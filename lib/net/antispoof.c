/*
 * antispoof.c: changing the per-tap nf_tables ruleset of antispoof.h
 * (install in one step, or seal then allow; remove), in transactions
 * over nft.c's handle; the rules themselves come from antispoof_rule.c.
 * The ruleset is described at the top of antispoof.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_impl.h"
#include "nl_impl.h"

#define FAMILY LV_AS_FAMILY

/* ---- messages of a transaction (each returns 0 or -ENOMEM / -E2BIG) ---- */

/* Chain (chain) of (table): with (dev), NEWCHAIN of the base chain on
 * that device's ingress; without, DELCHAIN. */
static int put_chain(struct lv_nft *nft, const char *table, const char *chain, const char *dev,
                     uint16_t excl)
{
    struct nftnl_chain *c = nftnl_chain_alloc();
    uint32_t seq;
    char *room = lv_nft_room(nft, &seq);

    if (!c || !room) {
        if (c) /* (libnftnl's frees do not take NULL) */
            nftnl_chain_free(c);
        return c ? -E2BIG : -ENOMEM;
    }
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
    if (dev) { /* every frame the tap receives, i.e. every frame the guest sends */
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -500);
        nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, dev);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr(room, dev ? NFT_MSG_NEWCHAIN : NFT_MSG_DELCHAIN,
                                               FAMILY, dev ? NLM_F_CREATE | excl : 0, seq);
    nftnl_chain_nlmsg_build_payload(h, c);
    nftnl_chain_free(c);
    lv_nft_added(nft);
    return 0;
}

static int put_rule(struct lv_nft *nft, uint16_t type, uint16_t flags, struct nftnl_rule *r)
{
    uint32_t seq;
    char *room = lv_nft_room(nft, &seq);

    if (!r || !room) {
        if (r)
            nftnl_rule_free(r);
        return r ? -E2BIG : -ENOMEM;
    }
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr(room, type, FAMILY, flags, seq);
    nftnl_rule_nlmsg_build_payload(h, r);
    nftnl_rule_free(r);
    lv_nft_added(nft);
    return 0;
}

/* DELRULE naming only the chain: all its rules (a flush). */
static int put_flush(struct lv_nft *nft, const char *table, const char *chain)
{
    struct nftnl_rule *r = nftnl_rule_alloc();

    if (r) {
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, FAMILY);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
    }
    return put_rule(nft, NFT_MSG_DELRULE, 0, r);
}

/* ---- a shard's table, created by the first install that needs it ---- */

static int put_table(struct lv_nft *nft, const char *table)
{
    struct nftnl_table *t = nftnl_table_alloc();
    uint32_t seq;
    char *room = lv_nft_room(nft, &seq);

    if (!t || !room) {
        if (t)
            nftnl_table_free(t);
        return t ? -E2BIG : -ENOMEM;
    }
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr(room, NFT_MSG_NEWTABLE, FAMILY, NLM_F_CREATE, seq);
    nftnl_table_nlmsg_build_payload(h, t);
    nftnl_table_free(t);
    lv_nft_added(nft);
    return 0;
}

/* ---- install, seal, allow ---- */

/* Which rules a chain gets (antispoof_rule.c's order). */
enum { ALL_RULES, SEAL_RULES };

static int in_set(unsigned i, int set)
{
    return set == ALL_RULES || i == 0 || i == LV_AS_NRULES - 1;
}

/* A tap's chain and the rules of (set): new (then it fails with EEXIST,
 * nothing done, if left over), or (fresh = 0) emptied first. */
static int put_tap(struct lv_nft *nft, const struct lv_as_vif *v, int fresh, int set)
{
    char table[32], chain[32];
    int rc;

    lv_as_names(v->ifindex, table, chain);
    rc = put_table(nft, table);
    if (!rc)
        rc = put_chain(nft, table, chain, v->ifname, fresh ? NLM_F_EXCL : 0);
    if (!rc && !fresh)
        rc = put_flush(nft, table, chain);
    for (unsigned i = 0; !rc && i < LV_AS_NRULES; i++)
        if (in_set(i, set))
            rc = put_rule(nft, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
                          lv_as_rule(i, v, table, chain));
    return rc;
}

static int put_taps(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, int fresh,
                    int set, char *kmsg)
{
    int rc = 0;

    lv_nft_begin(nft);
    for (unsigned i = 0; !rc && i < n; i++)
        rc = put_tap(nft, &v[i], fresh, set);
    return rc ? rc : lv_nft_commit(nft, kmsg);
}

/* -EINVAL unless (n) taps fit in one call. */
static int check_count(unsigned n, struct lv_err *err)
{
    if (n > LV_AS_MAX)
        return lv_err_set(err, EINVAL, "antispoof: %u taps in one call (at most %d)", n,
                          LV_AS_MAX);
    return 0;
}

static int check_taps(const struct lv_as_vif *v, unsigned n, struct lv_err *err)
{
    if (check_count(n, err) < 0)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        if (v[i].ifindex <= 0 || lv_ifname_check(v[i].ifname, NULL) < 0)
            return lv_err_set(err, EINVAL, "antispoof: bad tap '%.16s' (ifindex %d)",
                              v[i].ifname, v[i].ifindex);
    return 0;
}

/* The chains of (n) taps with the rules of (set), in one transaction. */
static int install_set(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, int set,
                       struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "";
    int rc = check_taps(v, n, err);

    if (rc || !n)
        return rc;
    /* Every message costs a walk of the namespace's tables in the kernel:
     * the usual case (new taps) has no flush. A chain can only be left
     * over for the same tap (installed twice): then it is flushed. */
    rc = put_taps(nft, v, n, 1, set, kmsg);
    if (rc == -EEXIST)
        rc = put_taps(nft, v, n, 0, set, kmsg);
    if (rc)
        return lv_nl_fail(err, rc, kmsg, "%s the antispoof rules of %s%s",
                          set == SEAL_RULES ? "sealing" : "installing", v[0].ifname,
                          n > 1 ? " and others" : "");
    return 0;
}

int lv_as_install(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, struct lv_err *err)
{
    return install_set(nft, v, n, ALL_RULES, err);
}

/* Removes the chains of (n) taps that lv_as_seal just made. */
static void unseal(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n)
{
    int ifx[LV_AS_MAX];

    for (unsigned i = 0; i < n; i++)
        ifx[i] = v[i].ifindex;
    lv_as_remove(nft, ifx, n, NULL);
}

int lv_as_seal(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, uint64_t *slot,
               struct lv_err *err)
{
    int rc = install_set(nft, v, n, SEAL_RULES, err);

    for (unsigned i = 0; !rc && i < n; i++) {
        rc = lv_as_drop_handle(nft, v[i].ifindex, &slot[i]);
        if (rc) {
            unseal(nft, v, n); /* all or nothing */
            return lv_nl_fail(err, rc, "", "reading back the seal of %s", v[i].ifname);
        }
    }
    return rc;
}

int lv_as_allow(struct lv_nft *nft, const struct lv_as_vif *v, const uint64_t *slot,
                unsigned n, struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "", table[32], chain[32];
    int rc = 0;

    if (check_count(n, err) < 0)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        if (v[i].ifindex <= 0 || !slot[i])
            return lv_err_set(err, EINVAL, "antispoof: tap ifindex %d is not sealed",
                              v[i].ifindex);
    if (!n)
        return 0;
    /* Rules only, each inserted before the seal's drop: in order. */
    lv_nft_begin(nft);
    for (unsigned i = 0; !rc && i < n; i++) {
        lv_as_names(v[i].ifindex, table, chain);
        for (unsigned k = 1; !rc && k < LV_AS_NRULES - 1; k++) {
            struct nftnl_rule *r = lv_as_rule(k, &v[i], table, chain);
            if (r)
                nftnl_rule_set_u64(r, NFTNL_RULE_POSITION, slot[i]);
            rc = put_rule(nft, NFT_MSG_NEWRULE, NLM_F_CREATE, r);
        }
    }
    rc = rc ? rc : lv_nft_commit(nft, kmsg);
    if (rc)
        return lv_nl_fail(err, rc, kmsg, "adding the VM's antispoof rules to tap ifindex %d%s",
                          v[0].ifindex, n > 1 ? " and others" : "");
    return 0;
}

/* ---- remove ---- */

static int put_remove(struct lv_nft *nft, int ifindex)
{
    char table[32], chain[32];
    int rc;

    lv_as_names(ifindex, table, chain);
    rc = put_flush(nft, table, chain);
    return rc ? rc : put_chain(nft, table, chain, NULL, 0);
}

int lv_as_remove(struct lv_nft *nft, const int *ifindex, unsigned n, struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "";
    int rc = 0;

    if (check_count(n, err) < 0)
        return -EINVAL;
    if (!n)
        return 0;
    lv_nft_begin(nft);
    for (unsigned i = 0; !rc && i < n; i++)
        rc = put_remove(nft, ifindex[i]);
    rc = rc ? rc : lv_nft_commit(nft, kmsg);
    if (rc == -ENOENT && n > 1) { /* some had no rules: one by one */
        rc = 0;
        for (unsigned i = 0; i < n && !rc; i++) {
            lv_nft_begin(nft);
            rc = put_remove(nft, ifindex[i]);
            rc = rc ? rc : lv_nft_commit(nft, kmsg);
            rc = rc == -ENOENT ? 0 : rc;
        }
    }
    if (rc == -ENOENT) /* nothing to remove */
        rc = 0;
    if (rc)
        return lv_nl_fail(err, rc, kmsg, "removing the antispoof rules of tap ifindex %d%s",
                          ifindex[0], n > 1 ? " and others" : "");
    return 0;
}
