/* netopt.c: the NICs of `lightvm run` (--net, a --config's vifs), --probe and --wait-net. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

/* A MAC given on the command line that its bridge already has (a port's,
 * one a guest sent from, the bridge's own) is refused. */
static int mac_free(struct lv_nl *nl, const struct lv_vif_spec *o, struct lv_err *err)
{
    char ms[18];
    int rc = o->has_mac ? lv_bridge_mac_used(nl, o->bridge, o->mac, err) : 0;

    if (rc != 1) /* free, or no such bridge: lv_vif_open says so (or makes it) */
        return 0;
    lv_mac_format(o->mac, ms);
    return lv_err_set(err, EADDRINUSE, "MAC %s is already used on bridge %s", ms, o->bridge);
}

/* The taps' antispoof rules, in one transaction. */
static int guard(const struct lv_tap *taps, const struct lv_vm_nic *nics, unsigned n,
                 struct lv_nft **nft, struct lv_err *err)
{
    struct lv_as_vif v[LV_AS_MAX];
    int rc = n <= LV_AS_MAX ? lv_nft_open(nft, err) : lv_err_set(err, EINVAL, "too many NICs");

    for (unsigned i = 0; !rc && i < n; i++) {
        v[i].ifindex = taps[i].ifindex;
        memcpy(v[i].ifname, taps[i].name, sizeof(v[i].ifname));
        memcpy(v[i].mac, nics[i].mac, 6);
        v[i].ip = nics[i].ip;
    }
    return rc ? rc : lv_as_install(*nft, v, n, err);
}

int lv_nics_open(const struct lv_net_opt *o, unsigned n, struct lv_tap *taps,
                 struct lv_vm_nic *out, struct lv_nft **nft, struct lv_nl **keep_nl,
                 struct lv_err *err)
{
    struct lv_nl *nl = NULL;
    unsigned i;
    int rc, made = 0;

    *nft = NULL;
    *keep_nl = NULL;
    for (i = 0; i < n; i++)
        taps[i].fd = -1;
    if (!n)
        return 0;
    rc = lv_nl_open(&nl, err);
    for (i = 0; !rc && i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        if ((rc = mac_free(nl, &o[i].vif, err)) < 0)
            break;
        rc = lv_vif_open(nl, o[i].vif.bridge, o[i].create, &taps[i], err);
        if (rc)
            break;
        if (o[i].vif.has_mac)
            memcpy(out[i].mac, o[i].vif.mac, 6);
        else if ((rc = lv_mac_random(out[i].mac, err)) < 0)
            break;
        out[i].tap_fd = taps[i].fd;
        out[i].ip = o[i].vif.ip;
        out[i].netmask = o[i].vif.netmask;
        out[i].gw = o[i].vif.gw;
        made |= o[i].create;
    }
    /* Kept to remove a bridge it made at the end, when the seccomp filter
     * allows no new socket. */
    if (made)
        *keep_nl = nl;
    else
        lv_nl_close(&nl);
    if (!rc)
        rc = guard(taps, out, n, nft, err);
    if (rc)
        lv_nics_close(o, taps, n, nft, keep_nl);
    return rc;
}

void lv_nics_close(const struct lv_net_opt *o, struct lv_tap *taps, unsigned n,
                   struct lv_nft **nft, struct lv_nl **nl)
{
    int ifx[LV_AS_MAX];
    unsigned k = 0;

    for (unsigned i = 0; i < n && k < LV_AS_MAX; i++)
        if (taps[i].fd >= 0)
            ifx[k++] = taps[i].ifindex;
    if (*nft)
        lv_as_remove(*nft, ifx, k, NULL); /* a failure leaves rules the next sweep takes */
    lv_nft_close(nft);
    for (unsigned i = 0; i < n; i++)
        lv_tap_close(&taps[i]);
    /* A bridge lightvm made goes with its last tap (the tap is gone once
     * its fd is closed). */
    for (unsigned i = 0; i < n && *nl; i++)
        if (o[i].create)
            lv_bridge_release(*nl, o[i].vif.bridge, NULL);
    lv_nl_close(nl);
}

int lv_probe_parse(const char *verb, const char *s, uint32_t *ip, uint16_t *port)
{
    struct lv_err err = {""};

    if (lv_ipv4_port_parse(s, ip, port, &err) < 0) {
        fprintf(stderr, "lightvm %s: --probe %s\n", verb, err.msg);
        return -1;
    }
    return 0;
}

int lv_probe_listen(uint32_t ip, uint16_t *port, struct lv_err *err)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = ip};
    socklen_t len = sizeof(a);
    char s[INET_ADDRSTRLEN];
    int fd, e;

    inet_ntop(AF_INET, &ip, s, sizeof(s));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "--wait-net: socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        e = errno;
        close(fd);
        return lv_err_set(err, e, "--wait-net %s: cannot listen there: %s (an address of "
                          "this host, e.g. the bridge's)", s, strerror(e));
    }
    *port = a.sin_port;
    return fd;
}
