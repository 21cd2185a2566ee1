/* vif.c: a VM's host-side interface: a tap on a bridge, up. */
#include <stddef.h>

#include "lightvm/net.h"

int lv_vif_open(struct lv_nl *nl, const char *bridge, int create, struct lv_tap *tap,
                struct lv_err *err)
{
    int rc;

    rc = lv_bridge_ensure(nl, bridge, create, err);
    if (rc < 0)
        return rc;
    rc = lv_tap_open(NULL, tap, err);
    if (rc < 0)
        return rc;
    rc = lv_link_set_master(nl, tap->name, bridge, err);
    if (rc >= 0)
        rc = lv_link_set(nl, tap->name, NULL, 0, 1, err);
    if (rc < 0) {
        lv_tap_close(tap);
        return rc;
    }
    return 0;
}

int lv_bridge_owns_ip(struct lv_nl *nl, const char *ifname, uint32_t ip, uint8_t mac[6],
                      struct lv_err *err)
{
    uint32_t ips[16];
    int n = lv_link_ipv4(nl, ifname, ips, 16, err), owns = 0;

    if (n < 0)
        return n;
    for (int i = 0; i < n; i++)
        owns |= ips[i] == ip;
    if (!owns)
        return 0;
    n = lv_bridge_pin_mac(nl, ifname, mac, err);
    return n < 0 ? n : 1;
}
