/* link.c: links and bridges over rtnetlink: get, dump, set (MAC, MTU,
 * up), bridge creation, bridge membership, deletion. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "nl_impl.h"

/* Starts a link request in nl->req, naming the link (ifname) if given. */
static struct nlmsghdr *link_req(struct lv_nl *nl, uint16_t type, uint16_t flags,
                                 const char *ifname, struct ifinfomsg **ifi)
{
    struct nlmsghdr *h = lv_nl_req(nl, type, flags);

    *ifi = mnl_nlmsg_put_extra_header(h, sizeof(**ifi));
    (*ifi)->ifi_family = AF_UNSPEC;
    if (ifname)
        mnl_attr_put_strz(h, IFLA_IFNAME, ifname);
    return h;
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;

    if (mnl_attr_type_valid(a, IFLA_INFO_MAX) > 0)
        tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;

    if (mnl_attr_type_valid(a, IFLA_MAX) > 0)
        tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

/* Decodes an RTM_NEWLINK message, checking every attribute it uses. */
static int link_parse(const struct nlmsghdr *h, struct lv_link *l)
{
    const struct nlattr *tb[IFLA_MAX + 1] = {0}, *info[IFLA_INFO_MAX + 1] = {0};
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);

    memset(l, 0, sizeof(*l));
    if (h->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(h) < sizeof(*ifi))
        return -EBADMSG;
    if (mnl_attr_parse(h, sizeof(*ifi), link_attr_cb, tb) < 0)
        return -EBADMSG;
    l->ifindex = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    if (!tb[IFLA_IFNAME] || mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING) < 0 ||
        mnl_attr_get_payload_len(tb[IFLA_IFNAME]) > LV_IFNAMSIZ)
        return -EBADMSG;
    memcpy(l->name, mnl_attr_get_str(tb[IFLA_IFNAME]), mnl_attr_get_payload_len(tb[IFLA_IFNAME]));
    if (tb[IFLA_MTU]) {
        if (mnl_attr_validate(tb[IFLA_MTU], MNL_TYPE_U32) < 0)
            return -EBADMSG;
        l->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
    }
    if (tb[IFLA_MASTER]) {
        if (mnl_attr_validate(tb[IFLA_MASTER], MNL_TYPE_U32) < 0)
            return -EBADMSG;
        l->master = (int)mnl_attr_get_u32(tb[IFLA_MASTER]);
    }
    if (tb[IFLA_IFALIAS]) { /* a string, NUL-terminated or not */
        size_t n = mnl_attr_get_payload_len(tb[IFLA_IFALIAS]);
        const char *a = mnl_attr_get_payload(tb[IFLA_IFALIAS]);
        n = strnlen(a, n);
        if (n < sizeof(l->alias))
            memcpy(l->alias, a, n);
    }
    if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
        memcpy(l->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
        l->has_mac = 1;
    }
    if (tb[IFLA_LINKINFO]) {
        if (mnl_attr_validate(tb[IFLA_LINKINFO], MNL_TYPE_NESTED) < 0 ||
            mnl_attr_parse_nested(tb[IFLA_LINKINFO], linkinfo_cb, info) < 0)
            return -EBADMSG;
        if (info[IFLA_INFO_KIND]) {
            const struct nlattr *k = info[IFLA_INFO_KIND];
            if (mnl_attr_validate(k, MNL_TYPE_NUL_STRING) < 0 ||
                mnl_attr_get_payload_len(k) > sizeof(l->kind))
                return -EBADMSG;
            memcpy(l->kind, mnl_attr_get_str(k), mnl_attr_get_payload_len(k));
        }
    }
    return 0;
}

struct get_ctx {
    struct lv_link *out;
    int found;
};

static int get_cb(const struct nlmsghdr *h, void *arg)
{
    struct get_ctx *c = arg;
    int rc = link_parse(h, c->out);

    c->found = rc == 0;
    return rc;
}

int lv_link_get(struct lv_nl *nl, const char *ifname, struct lv_link *out, struct lv_err *err)
{
    struct get_ctx c = {out, 0};
    struct ifinfomsg *ifi;
    struct nlmsghdr *h;
    char kmsg[LV_NL_KMSG];
    int rc;

    if ((rc = lv_ifname_check(ifname, err)) < 0)
        return rc;
    h = link_req(nl, RTM_GETLINK, 0, ifname, &ifi);
    rc = lv_nl_talk(nl, h, get_cb, &c, kmsg);
    if (rc == -ENODEV || (rc == 0 && !c.found))
        return lv_err_set(err, ENODEV, "no interface %s", ifname);
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "get link %s", ifname);
    return 0;
}

int lv_link_index(struct lv_nl *nl, const char *ifname, struct lv_err *err)
{
    struct lv_link l;
    int rc = lv_link_get(nl, ifname, &l, err);

    return rc < 0 ? rc : l.ifindex;
}

struct dump_ctx {
    int (*fn)(const struct lv_link *l, void *arg);
    void *arg;
};

static int dump_cb(const struct nlmsghdr *h, void *arg)
{
    struct dump_ctx *c = arg;
    struct lv_link l;
    int rc = link_parse(h, &l);

    return rc < 0 ? rc : c->fn(&l, c->arg);
}

int lv_link_foreach(struct lv_nl *nl, int (*fn)(const struct lv_link *l, void *arg),
                    void *arg, struct lv_err *err)
{
    struct dump_ctx c = {fn, arg};
    struct ifinfomsg *ifi;
    struct nlmsghdr *h = link_req(nl, RTM_GETLINK, NLM_F_DUMP, NULL, &ifi);
    char kmsg[LV_NL_KMSG];
    int rc = lv_nl_talk(nl, h, dump_cb, &c, kmsg);

    if (rc == -EBADMSG)
        return lv_err_set(err, EBADMSG, "link dump: malformed reply from the kernel");
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "link dump");
    return 0;
}

int lv_link_set(struct lv_nl *nl, const char *ifname, const uint8_t mac[6], unsigned mtu,
                int up, struct lv_err *err)
{
    char macs[18] = "keep", mtus[16] = "keep", kmsg[LV_NL_KMSG];
    struct ifinfomsg *ifi;
    struct nlmsghdr *h;
    int rc;

    if ((rc = lv_ifname_check(ifname, err)) < 0)
        return rc;
    if (mac) {
        lv_mac_format(mac, macs);
        if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
            return lv_err_set(err, EINVAL, "%s: MAC address %s is not unicast", ifname, macs);
    }
    if (mtu)
        snprintf(mtus, sizeof(mtus), "%u", mtu);
    h = link_req(nl, RTM_SETLINK, 0, ifname, &ifi);
    if (up >= 0) {
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = up ? IFF_UP : 0;
    }
    if (mac)
        mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
    if (mtu)
        mnl_attr_put_u32(h, IFLA_MTU, mtu);
    rc = lv_nl_talk(nl, h, NULL, NULL, kmsg);
    if (rc == -ENODEV)
        return lv_err_set(err, ENODEV, "no interface %s", ifname);
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "set %s (mac %s, mtu %s%s)", ifname, macs, mtus,
                       up < 0 ? "" : up ? ", up" : ", down");
    return 0;
}

/* Bridge (name) into (l): its ifindex, -ENODEV if absent, -EEXIST if not
 * a bridge. */
static int bridge_get(struct lv_nl *nl, const char *name, struct lv_link *l, struct lv_err *err)
{
    int rc = lv_link_get(nl, name, l, err);

    if (rc < 0)
        return rc;
    if (strcmp(l->kind, "bridge"))
        return lv_err_set(err, EEXIST, "%s exists and is not a bridge (kind %s)", name,
                          l->kind[0] ? l->kind : "none");
    return l->ifindex;
}

static int bridge_index(struct lv_nl *nl, const char *name, struct lv_err *err)
{
    struct lv_link l;

    return bridge_get(nl, name, &l, err);
}

struct addr_dump {
    int ifindex;
    uint32_t *ips;
    unsigned max, n;
};

static int addr_attr_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;

    if (mnl_attr_type_valid(a, IFA_MAX) > 0)
        tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *h, void *arg)
{
    struct addr_dump *d = arg;
    const struct nlattr *tb[IFA_MAX + 1] = {0};
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
    const struct nlattr *a;

    if (h->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(h) < sizeof(*ifa) ||
        mnl_attr_parse(h, sizeof(*ifa), addr_attr_cb, tb) < 0)
        return -EBADMSG;
    if (ifa->ifa_family != AF_INET || (int)ifa->ifa_index != d->ifindex)
        return 0;
    a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (a && mnl_attr_get_payload_len(a) == 4 && d->n < d->max)
        memcpy(&d->ips[d->n++], mnl_attr_get_payload(a), 4);
    return 0;
}

/* The IPv4 addresses of link (ifindex), as lv_link_ipv4. */
static int ipv4_of(struct lv_nl *nl, int ifindex, uint32_t *ips, unsigned max,
                   struct lv_err *err)
{
    struct addr_dump d = {ifindex, ips, max, 0};
    struct ifaddrmsg *ifa;
    struct nlmsghdr *h;
    char kmsg[LV_NL_KMSG];
    int rc;

    /* IPv4 addresses only: taps have none, so the dump stays small
     * however many VMs there are (a link dump would not). */
    h = lv_nl_req(nl, RTM_GETADDR, NLM_F_DUMP);
    ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    rc = lv_nl_talk(nl, h, addr_cb, &d, kmsg);
    if (rc == -EBADMSG)
        return lv_err_set(err, EBADMSG, "address dump: malformed reply from the kernel");
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "address dump");
    return (int)d.n;
}

int lv_link_ipv4(struct lv_nl *nl, const char *ifname, uint32_t *ips, unsigned max,
                 struct lv_err *err)
{
    int rc = lv_link_index(nl, ifname, err);

    return rc < 0 ? rc : ipv4_of(nl, rc, ips, max, err);
}

int lv_bridge_owns_ip(struct lv_nl *nl, const char *ifname, uint32_t ip, uint8_t mac[6],
                      struct lv_err *err)
{
    uint32_t ips[16];
    struct lv_link l;
    int n = lv_link_get(nl, ifname, &l, err);

    if (n >= 0)
        n = ipv4_of(nl, l.ifindex, ips, 16, err);
    for (int i = 0; i < n; i++)
        if (ips[i] == ip && l.has_mac) {
            memcpy(mac, l.mac, 6);
            return 1;
        }
    return n < 0 ? n : 0;
}

static int mark_made(struct lv_nl *nl, const char *bridge, struct lv_err *err);

int lv_bridge_ensure(struct lv_nl *nl, const char *bridge, int create, struct lv_err *err)
{
    struct ifinfomsg *ifi;
    struct nlmsghdr *h;
    struct nlattr *nest;
    char kmsg[LV_NL_KMSG];
    int rc = bridge_index(nl, bridge, err);

    if (rc != -ENODEV)
        return rc;
    if (!create)
        return lv_err_set(err, ENODEV, "bridge %s does not exist", bridge);
    h = link_req(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, bridge, &ifi);
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = IFF_UP;
    nest = mnl_attr_nest_start(h, IFLA_LINKINFO);
    mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(h, nest);
    rc = lv_nl_talk(nl, h, NULL, NULL, kmsg);
    if (rc == -EEXIST) /* created meanwhile (by whom: checked below) */
        return bridge_index(nl, bridge, err);
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "create bridge %s", bridge);
    return mark_made(nl, bridge, err);
}

/* A bridge lightvm just made: its alias says so (lv_bridge_release removes
 * only those) and its MAC is pinned (set, even to the same value, it no
 * longer follows the lowest MAC of its ports). Its ifindex, or -errno. */
static int mark_made(struct lv_nl *nl, const char *bridge, struct lv_err *err)
{
    struct ifinfomsg *ifi;
    struct nlmsghdr *h;
    struct lv_link l;
    char kmsg[LV_NL_KMSG];
    int rc = bridge_get(nl, bridge, &l, err);

    if (rc < 0)
        return rc;
    h = link_req(nl, RTM_SETLINK, 0, bridge, &ifi);
    mnl_attr_put_strz(h, IFLA_IFALIAS, LV_BRIDGE_ALIAS);
    if (l.has_mac)
        mnl_attr_put(h, IFLA_ADDRESS, 6, l.mac);
    rc = lv_nl_talk(nl, h, NULL, NULL, kmsg);
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "mark bridge %s as lightvm's", bridge);
    return l.ifindex;
}

struct ports_ctx {
    int master, n;
};

static int count_port(const struct lv_link *l, void *arg)
{
    struct ports_ctx *c = arg;

    c->n += l->master == c->master;
    return 0;
}

int lv_bridge_release(struct lv_nl *nl, const char *bridge, struct lv_err *err)
{
    struct lv_link l;
    struct ports_ctx c = {0, 0};
    int rc = bridge_get(nl, bridge, &l, err);

    if (rc == -ENODEV)
        return 0;
    if (rc < 0)
        return rc;
    if (strcmp(l.alias, LV_BRIDGE_ALIAS))
        return 0; /* the operator's */
    c.master = l.ifindex;
    if ((rc = lv_link_foreach(nl, count_port, &c, err)) < 0)
        return rc;
    if (c.n)
        return 0;
    rc = lv_link_delete(nl, bridge, err);
    return rc == -ENODEV ? 0 : rc < 0 ? rc : 1;
}

int lv_link_set_master(struct lv_nl *nl, const char *ifname, const char *bridge,
                       struct lv_err *err)
{
    struct ifinfomsg *ifi;
    struct nlmsghdr *h;
    char kmsg[LV_NL_KMSG];
    int rc, master = 0;

    if ((rc = lv_ifname_check(ifname, err)) < 0)
        return rc;
    if (bridge && bridge[0]) {
        master = bridge_index(nl, bridge, err);
        if (master == -ENODEV)
            return lv_err_set(err, ENODEV, "attach %s: bridge %s does not exist", ifname,
                              bridge);
        if (master < 0)
            return master;
    }
    h = link_req(nl, RTM_SETLINK, 0, ifname, &ifi);
    mnl_attr_put_u32(h, IFLA_MASTER, (uint32_t)master);
    rc = lv_nl_talk(nl, h, NULL, NULL, kmsg);
    if (rc == -ENODEV)
        return lv_err_set(err, ENODEV, "no interface %s", ifname);
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, master ? "attach %s to bridge %s" : "detach %s%s",
                       ifname, master ? bridge : "");
    return 0;
}

int lv_link_delete(struct lv_nl *nl, const char *ifname, struct lv_err *err)
{
    struct ifinfomsg *ifi;
    struct nlmsghdr *h;
    char kmsg[LV_NL_KMSG];
    int rc;

    if ((rc = lv_ifname_check(ifname, err)) < 0)
        return rc;
    h = link_req(nl, RTM_DELLINK, 0, ifname, &ifi);
    rc = lv_nl_talk(nl, h, NULL, NULL, kmsg);
    if (rc == -ENODEV)
        return lv_err_set(err, ENODEV, "no interface %s", ifname);
    if (rc < 0)
        return lv_nl_fail(err, rc, kmsg, "delete %s", ifname);
    return 0;
}
