/*
 * antispoof_read.c: reading the antispoof ruleset back (antispoof.h):
 * a tap's drop counters, whether it has rules, where a sealed tap's VM
 * rules go, and the sweep of rules whose tap is gone.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_impl.h"
#include "nl_impl.h"

#define SWEEP_MAX 4096 /* chains looked at per sweep */

/* ---- counters ---- */

struct read_ctx {
    struct lv_as_drops *d;
    unsigned rules;
    uint64_t drop_handle;  /* of the rule tagged LV_AS_DROP_TAG, 0: none */
};

static int comment_cb(const struct nftnl_udata *a, void *data)
{
    const char **tag = data;
    const char *s = nftnl_udata_get(a);
    uint8_t len = nftnl_udata_len(a);

    if (nftnl_udata_type(a) == NFTNL_UDATA_RULE_COMMENT && len > 0 && s[len - 1] == '\0')
        *tag = s;
    return 0;
}

static uint64_t *counter_of(struct lv_as_drops *d, const char *tag)
{
    if (!strcmp(tag, "mac"))
        return &d->mac;
    if (!strcmp(tag, "ip"))
        return &d->ip;
    if (!strcmp(tag, "arp"))
        return &d->arp;
    if (!strcmp(tag, "other"))
        return &d->other;
    return NULL;
}

static int count_expr(struct nftnl_expr *e, void *data)
{
    uint64_t *c = data;

    if (!strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter"))
        *c += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
    return 0;
}

static int rule_cb(const struct nlmsghdr *h, void *arg)
{
    struct read_ctx *ctx = arg;
    struct nftnl_rule *r = nftnl_rule_alloc();
    const char *tag = NULL;
    uint32_t ulen = 0;
    uint64_t n = 0;

    if (!r) {
        errno = ENOMEM;
        return MNL_CB_ERROR;
    }
    if (nftnl_rule_nlmsg_parse(h, r) == 0) {
        const void *u = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
        ctx->rules++;
        if (u)
            nftnl_udata_parse(u, ulen, comment_cb, &tag);
        if (tag && !strcmp(tag, LV_AS_DROP_TAG))
            ctx->drop_handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
        uint64_t *c = tag ? counter_of(ctx->d, tag) : NULL;
        if (c) {
            nftnl_expr_foreach(r, count_expr, &n);
            *c += n;
        }
    }
    nftnl_rule_free(r);
    return MNL_CB_OK;
}

/* GETRULE dump of tap (ifindex)'s chain; (ctx->rules) counts them. */
static int dump_tap(struct lv_nft *nft, int ifindex, struct read_ctx *ctx)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    char table[32], chain[32];

    if (!r)
        return -ENOMEM;
    lv_as_names(ifindex, table, chain);
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr((char *)nft->buf, NFT_MSG_GETRULE, LV_AS_FAMILY,
                                               NLM_F_DUMP, 0);
    nftnl_rule_nlmsg_build_payload(h, r);
    nftnl_rule_free(r);
    int rc = lv_nft_dump(nft, h, rule_cb, ctx);
    return rc == -ENOENT ? 0 : rc; /* no table: no rules */
}

int lv_as_read(struct lv_nft *nft, int ifindex, struct lv_as_drops *d, struct lv_err *err)
{
    struct read_ctx ctx = {d, 0, 0};
    int rc = dump_tap(nft, ifindex, &ctx);

    if (rc)
        return lv_nl_fail(err, rc, "", "reading the antispoof counters of tap ifindex %d",
                          ifindex);
    if (!ctx.rules)
        return lv_err_set(err, ENOENT, "tap ifindex %d has no antispoof rules", ifindex);
    return 0;
}

int lv_as_present(struct lv_nft *nft, int ifindex, struct lv_err *err)
{
    struct lv_as_drops d = {0};
    struct read_ctx ctx = {&d, 0, 0};
    int rc = dump_tap(nft, ifindex, &ctx);

    if (rc)
        return lv_nl_fail(err, rc, "", "reading the antispoof rules of tap ifindex %d", ifindex);
    return ctx.rules > 0;
}

int lv_as_drop_handle(struct lv_nft *nft, int ifindex, uint64_t *handle)
{
    struct lv_as_drops d = {0};
    struct read_ctx ctx = {&d, 0, 0};
    int rc = dump_tap(nft, ifindex, &ctx);

    *handle = ctx.drop_handle;
    return rc ? rc : ctx.drop_handle ? 0 : -ENOENT;
}

/* ---- sweep ---- */

struct sweep_ctx {
    int *gone;
    unsigned n, cap;
};

static int chain_cb(const struct nlmsghdr *h, void *arg)
{
    struct sweep_ctx *ctx = arg;
    struct nftnl_chain *c = nftnl_chain_alloc();
    char name[IF_NAMESIZE], tail;
    int ifindex, shard;

    if (!c) {
        errno = ENOMEM;
        return MNL_CB_ERROR;
    }
    if (nftnl_chain_nlmsg_parse(h, c) == 0 &&
        sscanf(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), LV_AS_TABLE_FMT "%c", &shard,
               &tail) == 1 &&
        sscanf(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), LV_AS_CHAIN_FMT "%c", &ifindex,
               &tail) == 1 &&
        ifindex > 0 && shard == ifindex % LV_AS_SHARDS &&
        !if_indextoname((unsigned)ifindex, name) && ctx->n < ctx->cap)
        ctx->gone[ctx->n++] = ifindex;
    nftnl_chain_free(c);
    return MNL_CB_OK;
}

int lv_as_sweep(struct lv_nft *nft, unsigned *removed, struct lv_err *err)
{
    struct sweep_ctx ctx = {calloc(SWEEP_MAX, sizeof(int)), 0, SWEEP_MAX};
    int rc;

    if (removed)
        *removed = 0;
    if (!ctx.gone)
        return lv_err_set(err, ENOMEM, "antispoof sweep: out of memory");
    struct nlmsghdr *h = nftnl_nlmsg_build_hdr((char *)nft->buf, NFT_MSG_GETCHAIN, LV_AS_FAMILY,
                                               NLM_F_DUMP, 0);
    rc = lv_nft_dump(nft, h, chain_cb, &ctx);
    if (rc)
        rc = lv_nl_fail(err, rc, "", "listing the antispoof chains");
    for (unsigned i = 0; !rc && i < ctx.n; i += LV_AS_MAX) {
        unsigned k = ctx.n - i < LV_AS_MAX ? ctx.n - i : LV_AS_MAX;
        rc = lv_as_remove(nft, ctx.gone + i, k, err);
        if (!rc && removed)
            *removed += k;
    }
    free(ctx.gone);
    return rc;
}
