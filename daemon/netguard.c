/*
 * netguard.c: lightvmd's side of "the network cannot be spoofed"
 * (lib/net/antispoof.c): the chains of a pool shell's taps, sealed (every
 * frame dropped) when it is ready, off the create path; the VM's rules
 * added before the shell is told to exec (so the guest never runs
 * unfiltered); all removed when the daemon forgets the VM or the shell;
 * the drop counters for `info`; the duplicate-MAC check of a create.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "netguard.h"

/* Shell (s)'s taps as the library names them (no MAC, IP yet). */
static void shell_vifs(const struct lvd_shell *s, struct lv_as_vif *v, unsigned n)
{
    memset(v, 0, n * sizeof(*v));
    for (unsigned i = 0; i < n; i++) {
        v[i].ifindex = s->tap_ifindex[i];
        snprintf(v[i].ifname, sizeof(v[i].ifname), "%s", s->taps[i]);
    }
}

int lvd_guard_seal(struct lv_nft *nft, struct lvd_shell *s, struct lv_err *err)
{
    struct lv_as_vif v[LV_AS_MAX];
    int rc;

    if (!nft || !s->nics) /* (without a handle, creates with a NIC are refused) */
        return 0;
    if (s->nics > LV_AS_MAX)
        return lv_err_set(err, EINVAL, "a shell of %u NICs (at most %d)", s->nics, LV_AS_MAX);
    shell_vifs(s, v, s->nics);
    rc = lv_as_seal(nft, v, s->nics, s->tap_slot, err);
    if (!rc)
        s->guard = nft;
    return rc;
}

int lvd_guard_install(struct lv_nft *nft, struct lvd_shell *s, const struct lv_vm_spec *vs,
                      struct lv_err *err)
{
    struct lv_as_vif v[LV_AS_MAX];
    int rc;

    if (!vs->nvifs)
        return 0;
    if (!nft)
        return lv_err_set(err, EPERM, "cannot filter the VM's taps: lightvmd has no "
                          "netfilter handle (see its log)");
    if (vs->nvifs > LV_AS_MAX || vs->nvifs != s->nics)
        return lv_err_set(err, EINVAL, "%u vifs on a shell of %u NICs", vs->nvifs, s->nics);
    shell_vifs(s, v, vs->nvifs);
    for (unsigned i = 0; i < vs->nvifs; i++) {
        if (!vs->vifs[i].has_mac) /* lv_vm_spec_choose_macs: before */
            return lv_err_set(err, EINVAL, "vifs[%u]: no MAC", i);
        memcpy(v[i].mac, vs->vifs[i].mac, 6);
        v[i].ip = vs->vifs[i].ip;
    }
    if (s->guard) /* a pool shell, sealed when it became ready */
        return lv_as_allow(nft, v, s->tap_slot, vs->nvifs, err);
    rc = lv_as_install(nft, v, vs->nvifs, err);
    if (!rc)
        s->guard = nft;
    return rc;
}

void lvd_guard_remove(struct lv_nft *nft, const int *ifindex, unsigned n)
{
    struct lv_err err = {""};

    if (nft && n && lv_as_remove(nft, ifindex, n, &err) < 0)
        fprintf(stderr, "lightvmd: %s\n", err.msg);
}

unsigned lvd_guard_ifindexes(json_t *info, int *out, unsigned max)
{
    json_t *vifs = json_object_get(info, "vifs");
    unsigned n = 0;

    for (size_t i = 0; i < json_array_size(vifs) && n < max; i++) {
        json_int_t ix = json_integer_value(json_object_get(json_array_get(vifs, i), "ifindex"));
        if (ix > 0 && ix <= 0x7fffffff)
            out[n++] = (int)ix;
    }
    return n;
}

json_t *lvd_guard_drops(struct lv_nft *nft, const int *ifindex, unsigned n)
{
    struct lv_as_drops d = {0};

    if (!nft || !n)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        if (lv_as_read(nft, ifindex[i], &d, NULL) < 0)
            return NULL;
    return json_pack("{s:I,s:I,s:I,s:I}", "mac", (json_int_t)d.mac, "ip", (json_int_t)d.ip,
                     "arp", (json_int_t)d.arp, "other", (json_int_t)d.other);
}

/* 1 when (vm)'s description has a vif on (bridge) with MAC (mac). */
static int vm_has_mac(const struct lvd_vm *vm, const char *bridge, const char *mac)
{
    json_t *vifs = json_object_get(vm->info, "vifs");

    for (size_t i = 0; i < json_array_size(vifs); i++) {
        json_t *v = json_array_get(vifs, i);
        const char *b = json_string_value(json_object_get(v, "bridge"));
        const char *m = json_string_value(json_object_get(v, "mac"));
        if (b && m && !strcmp(b, bridge) && !strcasecmp(m, mac))
            return 1;
    }
    return 0;
}

int lvd_guard_mac_check(struct lv_nl *nl, struct lvd_vms *vms, const struct lv_vm_spec *vs,
                        struct lv_err *err)
{
    char ms[18];

    for (unsigned i = 0; i < vs->nvifs; i++) {
        const struct lv_vif_spec *v = &vs->vifs[i];
        if (!v->has_mac)
            continue;
        lv_mac_format(v->mac, ms);
        for (unsigned j = 0; j < i; j++)
            if (vs->vifs[j].has_mac && !memcmp(vs->vifs[j].mac, v->mac, 6) &&
                !strcmp(vs->vifs[j].bridge, v->bridge))
                return lv_err_set(err, EADDRINUSE, "MAC %s is given twice on bridge %s", ms,
                                  v->bridge);
        for (unsigned k = 0; k < vms->n; k++)
            if (vm_has_mac(vms->v[k], v->bridge, ms))
                return lv_err_set(err, EADDRINUSE, "MAC %s is already used on bridge %s "
                                  "(by VM '%s')", ms, v->bridge, vms->v[k]->name);
        int rc = nl ? lv_bridge_mac_used(nl, v->bridge, v->mac, err) : 0;
        if (rc < 0 && rc != -ENODEV)
            return rc;
        if (rc == 1)
            return lv_err_set(err, EADDRINUSE, "MAC %s is already used on bridge %s", ms,
                              v->bridge);
    }
    return 0;
}
