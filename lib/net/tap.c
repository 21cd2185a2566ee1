/* tap.c: non-persistent taps from /dev/net/tun (ioctls only). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "lightvm/net.h"

_Static_assert(LV_IFNAMSIZ == IFNAMSIZ, "LV_IFNAMSIZ must match IFNAMSIZ");

int lv_tap_open(const char *name, struct lv_tap *tap, struct lv_err *err)
{
    const char *want = name && name[0] ? name : "lvtap%d";
    int hdr = LV_TAP_VNET_HDR_LEN, rc;
    struct ifreq ifr;

    tap->fd = -1;
    tap->name[0] = '\0';
    tap->ifindex = 0;
    if (name && name[0] && (rc = lv_ifname_check(name, err)) < 0)
        return rc;

    tap->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (tap->fd < 0)
        return lv_err_set(err, errno, "tap %s: open /dev/net/tun: %s", want, strerror(errno));

    /* IFF_TUN_EXCL: never attach to an existing (maybe persistent) device,
     * so this fd is the tap's only owner. IFF_PERSIST is never set. */
    memset(&ifr, 0, sizeof(ifr));
    /* ifr_flags is a short and IFF_TUN_EXCL is its top bit. */
    ifr.ifr_flags = (short)(unsigned short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL);
    memcpy(ifr.ifr_name, want, strlen(want) + 1);
    if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
        rc = errno;
        if (rc == EBUSY)
            rc = lv_err_set(err, rc, "tap %s: an interface of that name already exists", want);
        else
            rc = lv_err_set(err, rc, "tap %s: TUNSETIFF: %s", want, strerror(rc));
        goto out_close;
    }
    ifr.ifr_name[IFNAMSIZ - 1] = '\0';
    memcpy(tap->name, ifr.ifr_name, IFNAMSIZ);

    if (ioctl(tap->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        rc = lv_err_set(err, errno, "tap %s: TUNSETVNETHDRSZ %d: %s", tap->name, hdr,
                        strerror(errno));
        goto out_close;
    }
    tap->ifindex = (int)if_nametoindex(tap->name);
    if (tap->ifindex <= 0) {
        rc = lv_err_set(err, errno ? errno : ENODEV, "tap %s: no ifindex: %s", tap->name,
                        strerror(errno ? errno : ENODEV));
        goto out_close;
    }
    return 0;

out_close:
    close(tap->fd);
    tap->fd = -1;
    tap->name[0] = '\0';
    tap->ifindex = 0;
    return rc;
}

void lv_tap_close(struct lv_tap *tap)
{
    if (tap->fd >= 0)
        close(tap->fd);
    tap->fd = -1;
    tap->name[0] = '\0';
    tap->ifindex = 0;
}
