/* netopt.c: the taps of `lightvm run` (--net, a --config's vifs), --probe and --wait-net. */
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
static int guard(const struct lv_tap *taps, const struct lv_vm_spec *spec, struct lv_nft **nft,
                 struct lv_err *err)
{
    struct lv_as_vif v[LV_AS_MAX];
    int rc = spec->nvifs <= LV_AS_MAX ? lv_nft_open(nft, err)
                                      : lv_err_set(err, EINVAL, "too many NICs");

    for (unsigned i = 0; !rc && i < spec->nvifs; i++) {
        if (!spec->vifs[i].has_mac) /* lv_vm_spec_choose_macs: before */
            return lv_err_set(err, EINVAL, "vifs[%u]: no MAC", i);
        v[i].ifindex = taps[i].ifindex;
        memcpy(v[i].ifname, taps[i].name, sizeof(v[i].ifname));
        memcpy(v[i].mac, spec->vifs[i].mac, 6);
        v[i].ip = spec->vifs[i].ip;
    }
    return rc ? rc : lv_as_install(*nft, v, spec->nvifs, err);
}

int lv_nics_open(const struct lv_vm_spec *spec, const int *create, struct lv_tap *taps,
                 struct lv_nft **nft, struct lv_nl **keep_nl, struct lv_err *err)
{
    struct lv_nl *nl = NULL;
    unsigned i, n = spec->nvifs;
    int rc, made = 0;

    *nft = NULL;
    *keep_nl = NULL;
    for (i = 0; i < n; i++)
        taps[i].fd = -1;
    if (!n)
        return 0;
    rc = lv_nl_open(&nl, err);
    for (i = 0; !rc && i < n; i++) {
        if ((rc = mac_free(nl, &spec->vifs[i], err)) < 0)
            break;
        rc = lv_vif_open(nl, spec->vifs[i].bridge, create[i], &taps[i], err);
        made |= create[i];
    }
    /* Kept to remove a bridge it made at the end, when the seccomp filter
     * allows no new socket. */
    if (made)
        *keep_nl = nl;
    else
        lv_nl_close(&nl);
    if (!rc)
        rc = guard(taps, spec, nft, err);
    if (rc)
        lv_nics_close(spec, create, taps, nft, keep_nl);
    return rc;
}

void lv_nics_close(const struct lv_vm_spec *spec, const int *create, struct lv_tap *taps,
                   struct lv_nft **nft, struct lv_nl **nl)
{
    int ifx[LV_AS_MAX];
    unsigned k = 0, n = spec->nvifs;

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
        if (create[i])
            lv_bridge_release(*nl, spec->vifs[i].bridge, NULL);
    lv_nl_close(nl);
}

int lv_probe_opt(const char *verb, int c, const char *arg, struct lv_probe_opt *o)
{
    struct lv_err err = {""};

    if (o->wait_net || o->probe.port) {
        fprintf(stderr, "lightvm %s: --wait-net and --probe exclude each other\n", verb);
        return -1;
    }
    if (c == 'p' && lv_probe_parse(arg, &o->probe, &err) < 0) {
        fprintf(stderr, "lightvm %s: --probe %s\n", verb, err.msg);
        return -1;
    }
    if (c == 'W' && lv_ipv4_parse(arg, &o->probe.ip, NULL, &err) < 0) {
        fprintf(stderr, "lightvm %s: --wait-net: %s\n", verb, err.msg);
        return -1;
    }
    o->wait_net = c == 'W';
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
