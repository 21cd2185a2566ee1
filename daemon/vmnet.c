/*
 * vmnet.c: the host network changes a VM needs, made by lightvmd (which
 * holds the rtnetlink socket) rather than by the VM process (which has no
 * privilege once jailed): the bridges VMs may join (--bridges), the
 * attachment of a shell's taps at exec, the probe target's MAC.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "lightvm/build.h"
#include "lightvmd.h"

int lvd_bridges_add(struct lvd_bridges *b, const char *list, struct lv_err *err)
{
    char buf[1024], *save = NULL;

    if (strlen(list) >= sizeof(buf))
        return lv_err_set(err, E2BIG, "--bridges: list too long");
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(t);
        if (b->n == LVD_MAX_BRIDGE_PATTERNS)
            return lv_err_set(err, E2BIG, "--bridges: at most %d patterns",
                              LVD_MAX_BRIDGE_PATTERNS);
        /* A name, or a name prefix ending in '*': what fnmatch() gets is
         * never more than that. */
        if (!n || n >= sizeof(b->pat[0]) || strspn(t, "abcdefghijklmnopqrstuvwxyz"
                                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                      "0123456789_.-*") != n ||
            (strchr(t, '*') && strchr(t, '*') != t + n - 1))
            return lv_err_set(err, EINVAL, "--bridges: '%.40s' is not a bridge name or a "
                              "NAME* prefix", t);
        snprintf(b->pat[b->n++], sizeof(b->pat[0]), "%s", t);
    }
    return 0;
}

int lvd_bridge_allowed(const struct lvd_bridges *b, const char *bridge)
{
    for (unsigned i = 0; i < b->n; i++)
        if (fnmatch(b->pat[i], bridge, 0) == 0)
            return 1;
    return 0;
}

int lvd_bridges_check(const struct lvd_bridges *b, const struct lv_vm_spec *vs,
                      struct lv_err *err)
{
    for (unsigned i = 0; i < vs->nvifs; i++)
        if (!lvd_bridge_allowed(b, vs->vifs[i].bridge))
            return lv_err_set(err, EPERM, "vifs[%u].bridge: VMs may not join bridge '%s' "
                              "here (lightvmd --bridges)", i, vs->vifs[i].bridge);
    return 0;
}

/* The probe-MAC rule (lv_probe_find_mac) for (bridge), the VM's first:
 * on the shell's own bridge its addresses were read at prepare, so only
 * the MAC is asked for, and only when the probe goes to the bridge. */
static int find_probe_mac(struct lvd_daemon *d, const struct lvd_shell *s, const char *bridge,
                          struct lv_probe *pr)
{
    struct lv_link l;

    if (!s->bridge[0] || strcmp(s->bridge, bridge))
        return lv_probe_find_mac(d->nl, bridge, pr);
    for (unsigned i = 0; i < s->nbridge_ips; i++)
        if (s->bridge_ips[i] == pr->ip && lv_link_get(d->nl, bridge, &l, NULL) == 0 &&
            l.has_mac) {
            memcpy(pr->mac, l.mac, 6);
            pr->has_mac = 1;
            return 1;
        }
    return 0;
}

int lvd_vmnet_attach(struct lvd_daemon *d, const struct lvd_shell *s,
                     const struct lv_vm_spec *vs, json_t *exec_msg, struct lv_err *err)
{
    const char *probe = json_string_value(json_object_get(exec_msg, "probe"));
    struct lv_probe pr;
    char ms[18];
    int rc;

    for (unsigned i = 0; i < vs->nvifs; i++) {
        if (i == 0 && s->bridge[0] && !strcmp(s->bridge, vs->vifs[0].bridge))
            continue; /* on it since the shell's prepare */
        /* says so if the bridge does not exist or is not one */
        rc = lv_link_set_master(d->nl, s->taps[i], vs->vifs[i].bridge, err);
        if (rc < 0)
            return rc;
    }
    /* The probe target is the first bridge itself (lightvm create
     * --wait-net on the bridge's address): the guest gets its MAC, saving
     * an ARP round trip before network up. */
    /* (a bad probe is the VM process's to refuse, with the message) */
    if (probe && lv_probe_parse(probe, &pr, NULL) == 0 && vs->nvifs &&
        find_probe_mac(d, s, vs->vifs[0].bridge, &pr)) {
        lv_mac_format(pr.mac, ms);
        json_object_set_new(exec_msg, "probe_mac", json_string(ms));
    }
    return 0;
}
