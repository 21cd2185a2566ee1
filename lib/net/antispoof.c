/*
 * antispoof.c: the per-tap nf_tables rules of antispoof.h, built with
 * libnftnl and sent over nft.c's handle. The ruleset is described at the
 * top of antispoof.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
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

enum { V_NONE, V_IIF, V_MAC, V_IP, V_ARPHDR, V_ARPSENDER };

/* One rule of a tap's chain: [ethertype ==] [field != value] [counter] verdict. */
struct rule_spec {
    const char *tag;       /* counter name (the rule's comment), NULL: no counter */
    uint16_t ethertype;    /* 0: any */
    uint32_t base, off, len;
    int value;             /* V_*: what the field must equal */
    int verdict;           /* NF_DROP, NF_ACCEPT */
};

static const struct rule_spec tap_rules[] = {
    /* A chain left by a killed process hooks any later tap of its name:
     * for that tap it lets everything through to the tap's own chain. */
    {NULL, 0, BASE_META, 0, 4, V_IIF, NF_ACCEPT},
    {"mac", 0, NFT_PAYLOAD_LL_HEADER, 6, 6, V_MAC, NF_DROP},
    {"ip", 0x0800, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, V_IP, NF_DROP},
    {NULL, 0x0800, 0, 0, 0, V_NONE, NF_ACCEPT},
    {"arp", 0x0806, NFT_PAYLOAD_NETWORK_HEADER, 0, 6, V_ARPHDR, NF_DROP},
    {"arp", 0x0806, NFT_PAYLOAD_NETWORK_HEADER, 8, 10, V_ARPSENDER, NF_DROP},
    {NULL, 0x0806, 0, 0, 0, V_NONE, NF_ACCEPT},
    {"other", 0, 0, 0, 0, V_NONE, NF_DROP},
};

static void table_name(char *buf, size_t cap, int ifindex)
{
    snprintf(buf, cap, LV_AS_TABLE_FMT, ifindex);
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

/* The value rule (s) compares against for tap (v), into (out); its length. */
static uint32_t rule_value(const struct rule_spec *s, const struct lv_as_vif *v, uint8_t out[16])
{
    static const uint8_t arphdr[6] = {0x00, 0x01, 0x08, 0x00, 6, 4}; /* Ethernet, IPv4 */

    switch (s->value) {
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

/* Rule (s) of tap (v)'s chain (chain), or NULL when out of memory. */
static struct nftnl_rule *tap_rule(const struct rule_spec *s, const struct lv_as_vif *v,
                                   const char *table)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    uint8_t val[16];
    int rc = r ? 0 : -ENOMEM;

    if (rc)
        return NULL;
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, FAMILY);
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, LV_AS_CHAIN);
    if (s->ethertype) {
        uint16_t et = htons(s->ethertype);
        rc = add_payload(r, NFT_PAYLOAD_LL_HEADER, 12, 2);
        if (!rc)
            rc = add_cmp(r, NFT_CMP_EQ, &et, 2);
    }
    if (!rc && s->value != V_NONE) {
        uint32_t n = rule_value(s, v, val);
        rc = s->base == BASE_META ? add_meta_iif(r) : add_payload(r, s->base, s->off, s->len);
        if (!rc)
            rc = add_cmp(r, NFT_CMP_NEQ, val, n);
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

/* Table (table)'s chain, the base chain on device (dev)'s ingress. */
static int put_chain(struct lv_nft *nft, const char *table, const char *dev)
{
    struct nftnl_chain *c = nftnl_chain_alloc();
    uint32_t seq;
    char *room = lv_nft_room(nft, &seq);

    if (!c || !room) {
        nftnl_chain_free(c);
        return c ? -E2BIG : -ENOMEM;
    }
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, LV_AS_CHAIN);
    /* every frame the tap receives, i.e. every frame the guest sends */
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -500);
    nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, dev);
    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr(room, NFT_MSG_NEWCHAIN, FAMILY, NLM_F_CREATE, seq);
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
static int put_flush(struct lv_nft *nft, const char *table)
{
    struct nftnl_rule *r = nftnl_rule_alloc();

    if (r) {
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, FAMILY);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, LV_AS_CHAIN);
    }
    return put_rule(nft, NFT_MSG_DELRULE, 0, r);
}

/* ---- a tap's table: NEWTABLE creates it if missing; DELTABLE removes it
 * with its chain and rules ---- */

static int put_table(struct lv_nft *nft, uint16_t type, const char *table)
{
    struct nftnl_table *t = nftnl_table_alloc();
    uint32_t seq;
    char *room = lv_nft_room(nft, &seq);

    if (!t || !room) {
        nftnl_table_free(t);
        return t ? -E2BIG : -ENOMEM;
    }
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr(room, type, FAMILY,
                                               type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, seq);
    nftnl_table_nlmsg_build_payload(h, t);
    nftnl_table_free(t);
    lv_nft_added(nft);
    return 0;
}

/* ---- install, remove ---- */

static int put_tap(struct lv_nft *nft, const struct lv_as_vif *v)
{
    char table[32];
    int rc;

    table_name(table, sizeof(table), v->ifindex);
    /* The table may be left over (the same ifindex can only mean the same
     * tap): created if missing, its chain emptied either way, then filled. */
    rc = put_table(nft, NFT_MSG_NEWTABLE, table);
    if (!rc)
        rc = put_chain(nft, table, v->ifname);
    if (!rc)
        rc = put_flush(nft, table);
    for (size_t i = 0; !rc && i < sizeof(tap_rules) / sizeof(tap_rules[0]); i++)
        rc = put_rule(nft, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
                      tap_rule(&tap_rules[i], v, table));
    return rc;
}

int lv_as_install(struct lv_nft *nft, const struct lv_as_vif *v, unsigned n, struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "";
    int rc = 0;

    if (n > LV_AS_MAX)
        return lv_err_set(err, EINVAL, "antispoof: %u taps in one call (at most %d)", n,
                          LV_AS_MAX);
    for (unsigned i = 0; i < n; i++)
        if (v[i].ifindex <= 0 || lv_ifname_check(v[i].ifname, NULL) < 0)
            return lv_err_set(err, EINVAL, "antispoof: bad tap '%.16s' (ifindex %d)",
                              v[i].ifname, v[i].ifindex);
    if (!n)
        return 0;
    lv_nft_begin(nft);
    for (unsigned i = 0; !rc && i < n; i++)
        rc = put_tap(nft, &v[i]);
    rc = rc ? rc : lv_nft_commit(nft, kmsg);
    if (rc)
        return lv_nl_fail(err, rc, kmsg, "installing the antispoof rules of %s%s",
                          v[0].ifname, n > 1 ? " and others" : "");
    return 0;
}

int lv_as_remove(struct lv_nft *nft, const int *ifindex, unsigned n, struct lv_err *err)
{
    char kmsg[LV_NL_KMSG] = "", table[32];
    int rc = 0;

    if (n > LV_AS_MAX)
        return lv_err_set(err, EINVAL, "antispoof: %u taps in one call (at most %d)", n,
                          LV_AS_MAX);
    if (!n)
        return 0;
    lv_nft_begin(nft);
    for (unsigned i = 0; !rc && i < n; i++) {
        table_name(table, sizeof(table), ifindex[i]);
        rc = put_table(nft, NFT_MSG_DELTABLE, table);
    }
    rc = rc ? rc : lv_nft_commit(nft, kmsg);
    if (rc == -ENOENT && n > 1) { /* some had no rules: one by one */
        rc = 0;
        for (unsigned i = 0; i < n && !rc; i++) {
            table_name(table, sizeof(table), ifindex[i]);
            lv_nft_begin(nft);
            rc = put_table(nft, NFT_MSG_DELTABLE, table);
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
