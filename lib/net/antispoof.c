/*
 * antispoof.c: the per-tap nf_tables rules of antispoof.h, built with
 * libnftnl and sent over nft.c's handle. The ruleset is described at the
 * top of antispoof.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_impl.h"
#include "nl_impl.h"

#define FAMILY LV_AS_FAMILY
#define BASE_META 0xff /* rule_spec.base: the field is meta iif, not payload */

enum { V_IIF = 1, V_MAC, V_IP, V_ARPHDR, V_ARPSENDER };

/* One field a rule compares: (len) bytes at (off) of (base), == or !=
 * the tap's value (V_*). */
struct field_spec {
    uint32_t base, off, len;
    int value;
    uint32_t op;           /* NFT_CMP_EQ, NFT_CMP_NEQ */
};

/* One rule of a tap's chain: [ethertype ==] [fields...] [counter] verdict. */
struct rule_spec {
    const char *tag;       /* counter name (the rule's comment), NULL: no counter */
    uint16_t ethertype;    /* 0: any */
    unsigned nfields;
    struct field_spec f[2];
    int verdict;           /* NF_DROP, NF_ACCEPT */
};

#define NH NFT_PAYLOAD_NETWORK_HEADER
#define LL NFT_PAYLOAD_LL_HEADER

/* The frame's own IPv4 or ARP is accepted; everything else is dropped by
 * the counting rule of its kind. A frame too short for a field fails the
 * comparison (nf_tables stops the rule), so a runt IPv4 or ARP packet is
 * dropped too, never let through. */
static const struct rule_spec tap_rules[] = {
    /* A chain left by a killed process hooks any later tap of its name:
     * for that tap it lets everything through to the tap's own chain. */
    {NULL, 0, 1, {{BASE_META, 0, 4, V_IIF, NFT_CMP_NEQ}}, NF_ACCEPT},
    {"mac", 0, 1, {{LL, 6, 6, V_MAC, NFT_CMP_NEQ}}, NF_DROP},
    {NULL, 0x0800, 1, {{NH, 12, 4, V_IP, NFT_CMP_EQ}}, NF_ACCEPT},
    {"ip", 0x0800, 0, {{0}}, NF_DROP},
    {NULL, 0x0806, 2, {{NH, 0, 6, V_ARPHDR, NFT_CMP_EQ}, {NH, 8, 10, V_ARPSENDER, NFT_CMP_EQ}},
     NF_ACCEPT},
    {"arp", 0x0806, 0, {{0}}, NF_DROP},
    {"other", 0, 0, {{0}}, NF_DROP},
};

/* A tap's table (shared with the taps of the same ifindex modulo
 * LV_AS_SHARDS) and its chain in it. */
static void names(int ifindex, char table[32], char chain[32])
{
    snprintf(table, 32, LV_AS_TABLE_FMT, ifindex % LV_AS_SHARDS);
    snprintf(chain, 32, LV_AS_CHAIN_FMT, ifindex);
}

/* ---- expressions (each returns 0 or -ENOMEM) ---- */

static int add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
    if (!e)
        return -ENOMEM;
    nftnl_rule_add_expr(r, e);
    return 0;
}

static int add_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
    struct nftnl_expr *e = nftnl_expr_alloc("payload");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    }
    return add_expr(r, e);
}

static int add_meta_iif(struct nftnl_rule *r)
{
    struct nftnl_expr *e = nftnl_expr_alloc("meta");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_IIF);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    }
    return add_expr(r, e);
}

static int add_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
    struct nftnl_expr *e = nftnl_expr_alloc("cmp");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
    }
    return add_expr(r, e);
}

static int add_verdict(struct nftnl_rule *r, int verdict)
{
    struct nftnl_expr *e = nftnl_expr_alloc("immediate");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
    }
    return add_expr(r, e);
}

/* The value field (f) compares against for tap (v), into (out); its length. */
static uint32_t field_value(const struct field_spec *f, const struct lv_as_vif *v,
                            uint8_t out[16])
{
    static const uint8_t arphdr[6] = {0x00, 0x01, 0x08, 0x00, 6, 4}; /* Ethernet, IPv4 */

    switch (f->value) {
    case V_IIF:
        memcpy(out, &v->ifindex, 4); /* meta iif: host order */
        return 4;
    case V_MAC:
        memcpy(out, v->mac, 6);
        return 6;
    case V_IP:
        memcpy(out, &v->ip, 4);
        return 4;
    case V_ARPHDR:
        memcpy(out, arphdr, 6);
        return 6;
    case V_ARPSENDER:
        memcpy(out, v->mac, 6);
        memcpy(out + 6, &v->ip, 4);
        return 10;
    }
    return 0;
}

static int set_comment(struct nftnl_rule *r, const char *tag)
{
    struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(32);
    int rc = -ENOMEM;

    if (u && nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, tag)) {
        nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
                            nftnl_udata_buf_len(u));
        rc = 0;
    }
    nftnl_udata_buf_free(u);
    return rc;
}

/* Rule (s) of tap (v)'s chain, or NULL when out of memory. */
static struct nftnl_rule *tap_rule(const struct rule_spec *s, const struct lv_as_vif *v,
                                   const char *table, const char *chain)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    uint8_t val[16];
    int rc = r ? 0 : -ENOMEM;

    if (rc)
        return NULL;
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, FAMILY);
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
    if (s->ethertype) {
        uint16_t et = htons(s->ethertype);
        rc = add_payload(r, NFT_PAYLOAD_LL_HEADER, 12, 2);
        if (!rc)
            rc = add_cmp(r, NFT_CMP_EQ, &et, 2);
    }
    for (unsigned i = 0; !rc && i < s->nfields; i++) {
        const struct field_spec *f = &s->f[i];
        uint32_t n = field_value(f, v, val);
        rc = f->base == BASE_META ? add_meta_iif(r) : add_payload(r, f->base, f->off, f->len);
        if (!rc)
            rc = add_cmp(r, f->op, val, n);
    }
    if (!rc && s->tag)
        rc = add_expr(r, nftnl_expr_alloc("counter"));
    if (!rc)
        rc = add_verdict(r, s->verdict);
    if (!rc && s->tag)
        rc = set_comment(r, s->tag);
    if (rc) {
        nftnl_rule_free(r);
        return NULL;
    }
    return r;
}

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

/* ---- install, remove ---- */

/* A tap's chain, new: it fails with EEXIST (nothing done) if left over. */
static int put_tap(struct lv_nft *nft, const struct lv_as_vif *v, int fresh)
{
    char table[32], chain[32];
    int rc;

    names(v->ifindex, table, chain);
    rc = put_table(nft, table);
    if (!rc)
        rc = put_chain(nft, table, chain, v->ifname, fresh ? NLM_F_EXCL : 0);
    if (!rc && !fresh)
        rc = put_flush(nft, table, chain);
    for (size_t i = 0; !rc && i < sizeof(tap_rules) / sizeof(tap_rules[0]); i++)
        rc = put_rule(nft, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
                      tap_rule(&tap_rules[i], v, table, chain));
    return rc;
}

static int install_once(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, int fresh,
                        char *kmsg)
{
    int rc = 0;

    lv_nft_begin(nft);
    for (unsigned i = 0; !rc && i < n; i++)
        rc = put_tap(nft, &v[i], fresh);
    return rc ? rc : lv_nft_commit(nft, kmsg);
}

int lv_as_install(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "";
    int rc;

    if (n > LV_AS_MAX)
        return lv_err_set(err, EINVAL, "antispoof: %u taps in one call (at most %d)", n,
                          LV_AS_MAX);
    for (unsigned i = 0; i < n; i++)
        if (v[i].ifindex <= 0 || lv_ifname_check(v[i].ifname, NULL) < 0)
            return lv_err_set(err, EINVAL, "antispoof: bad tap '%.16s' (ifindex %d)",
                              v[i].ifname, v[i].ifindex);
    if (!n)
        return 0;
    /* Every message costs a walk of the namespace's tables in the kernel:
     * the usual case (new taps) has no flush. A chain can only be left
     * over for the same tap (installed twice): then it is flushed. */
    rc = install_once(nft, v, n, 1, kmsg);
    if (rc == -EEXIST)
        rc = install_once(nft, v, n, 0, kmsg);
    if (rc)
        return lv_nl_fail(err, rc, kmsg, "installing the antispoof rules of %s%s",
                          v[0].ifname, n > 1 ? " and others" : "");
    return 0;
}

static int put_remove(struct lv_nft *nft, int ifindex)
{
    char table[32], chain[32];
    int rc;

    names(ifindex, table, chain);
    rc = put_flush(nft, table, chain);
    return rc ? rc : put_chain(nft, table, chain, NULL, 0);
}

int lv_as_remove(struct lv_nft *nft, const int *ifindex, unsigned n, struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "";
    int rc = 0;

    if (n > LV_AS_MAX)
        return lv_err_set(err, EINVAL, "antispoof: %u taps in one call (at most %d)", n,
                          LV_AS_MAX);
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
