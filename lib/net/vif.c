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
