/* fdb.c: is a MAC already on a bridge? Its own address and its forwarding
 * database (one RTM_GETNEIGH dump of the bridge's entries). */
#include <errno.h>
#include <string.h>

#include <linux/if_bridge.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "nl_impl.h"

struct fdb_ctx {
    const uint8_t *mac;
    int master;
    int found;
};

static int fdb_attr(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;

    if (mnl_attr_type_valid(a, NDA_MAX) > 0)
        tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

static int fdb_entry(const struct nlmsghdr *h, void *arg)
{
    struct fdb_ctx *ctx = arg;
    const struct nlattr *tb[NDA_MAX + 1] = {0};
    const struct ndmsg *nd = mnl_nlmsg_get_payload(h);

    if (h->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(h) < sizeof(*nd) ||
        nd->ndm_family != AF_BRIDGE)
        return 0;
    mnl_attr_parse(h, sizeof(*nd), fdb_attr, tb);
    /* Older kernels ignore the dump's filter: check the master here. */
    if (tb[NDA_MASTER] && mnl_attr_get_payload_len(tb[NDA_MASTER]) == 4 &&
        (int)mnl_attr_get_u32(tb[NDA_MASTER]) != ctx->master)
        return 0;
    if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6 &&
        !memcmp(mnl_attr_get_payload(tb[NDA_LLADDR]), ctx->mac, 6))
        ctx->found = 1;
    return 0;
}

int lv_bridge_mac_used(struct lv_nl *nl, const char *bridge, const uint8_t mac[6],
                       struct lv_err *err)
{
    struct lv_link l;
    char kmsg[LV_NL_KMSG];
    int rc = lv_link_get(nl, bridge, &l, err);

    if (rc)
        return rc;
    if (strcmp(l.kind, "bridge"))
        return lv_err_set(err, EINVAL, "%s is not a bridge", bridge);
    if (l.has_mac && !memcmp(l.mac, mac, 6))
        return 1;
    struct nlmsghdr *h = lv_nl_req(nl, RTM_GETNEIGH, NLM_F_DUMP);
    struct ndmsg *nd = mnl_nlmsg_put_extra_header(h, sizeof(*nd));
    nd->ndm_family = AF_BRIDGE;
    mnl_attr_put_u32(h, NDA_MASTER, (uint32_t)l.ifindex);
    struct fdb_ctx ctx = {mac, l.ifindex, 0};
    rc = lv_nl_talk(nl, h, fdb_entry, &ctx, kmsg);
    if (rc)
        return lv_nl_fail(err, rc, kmsg, "reading the forwarding database of %s", bridge);
    return ctx.found;
}
