/* vif.c: a VM's host-side interface: a tap on a bridge, up. */
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

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

int lv_link_ipv4(const char *ifname, uint32_t *ips, unsigned max, uint8_t mac[6],
                 struct lv_err *err)
{
    struct ifaddrs *all, *a;
    int n = 0, have_mac = 0;

    if (getifaddrs(&all) < 0)
        return lv_err_set(err, errno, "getifaddrs: %s", strerror(errno));
    for (a = all; a; a = a->ifa_next) {
        if (!a->ifa_addr || strcmp(a->ifa_name, ifname))
            continue;
        if (a->ifa_addr->sa_family == AF_INET && (unsigned)n < max)
            ips[n++] = ((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr.s_addr;
        if (a->ifa_addr->sa_family == AF_PACKET) {
            const struct sockaddr_ll *ll = (const struct sockaddr_ll *)(const void *)a->ifa_addr;
            if (ll->sll_halen == 6) {
                memcpy(mac, ll->sll_addr, 6);
                have_mac = 1;
            }
        }
    }
    freeifaddrs(all);
    if (!have_mac)
        return lv_err_set(err, ENODEV, "%s: no such interface or no MAC address", ifname);
    return n;
}

int lv_link_owns_ip(const char *ifname, uint32_t ip, uint8_t mac[6], struct lv_err *err)
{
    uint32_t ips[16];
    int n = lv_link_ipv4(ifname, ips, 16, mac, err);

    for (int i = 0; i < n; i++)
        if (ips[i] == ip)
            return 1;
    return n < 0 && n != -ENODEV ? n : 0;
}
