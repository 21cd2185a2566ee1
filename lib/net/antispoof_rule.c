/*
 * antispoof_rule.c: the rules of a tap's antispoof chain (antispoof.h),
 * each built as one libnftnl rule from a table of specs: which fields it
 * compares with the tap's values, its counter, its verdict.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_impl.h"

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
 * dropped too, never let through. The first and the last rule are the
 * tap's seal (lv_as_seal: all its frames dropped as "other"), those
 * between its VM's (lv_as_allow puts them before the last). */
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
    {LV_AS_DROP_TAG, 0, 0, {{0}}, NF_DROP},
};

void lv_as_names(int ifindex, char table[32], char chain[32])
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

_Static_assert(sizeof(tap_rules) / sizeof(tap_rules[0]) == LV_AS_NRULES, "LV_AS_NRULES");

struct nftnl_rule *lv_as_rule(unsigned i, const struct lv_as_vif *v, const char *table,
                              const char *chain)
{
    const struct rule_spec *s = i < LV_AS_NRULES ? &tap_rules[i] : NULL;
    struct nftnl_rule *r = s ? nftnl_rule_alloc() : NULL;
    uint8_t val[16];
    int rc = 0;

    if (!r)
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
    for (unsigned k = 0; !rc && k < s->nfields; k++) {
        const struct field_spec *f = &s->f[k];
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
