/* build.c: a VM from its configuration: prepare a shape, then execute a spec (build.h). */
#include <errno.h>
#include <string.h>

#include "lightvm/build.h"
#include "lightvm/snapshot.h"
#include "lightvm/elf.h"
#include "lightvm/net.h"
#include "vm_impl.h"

/* What a boot writes first, allocated at prepare (shape->populate). */
#define BUILD_IMAGE_BYTES (256u << 10)
#define BUILD_STACK_BYTES (16u << 10)

int lv_probe_parse(const char *s, struct lv_probe *p, struct lv_err *err)
{
    uint32_t ip;
    uint16_t port;
    int rc = lv_ipv4_port_parse(s, &ip, &port, err);

    if (rc)
        return rc;
    memset(p, 0, sizeof(*p));
    p->ip = ip;
    p->port = port;
    return 0;
}

int lv_probe_find_mac(struct lv_nl *nl, const char *bridge, struct lv_probe *p)
{
    uint8_t mac[6];

    if (!p->port || !bridge || !bridge[0] || lv_bridge_owns_ip(nl, bridge, p->ip, mac, NULL) != 1)
        return 0;
    memcpy(p->mac, mac, 6);
    p->has_mac = 1;
    return 1;
}

int lv_vm_spec_choose_macs(struct lv_vm_spec *spec, struct lv_err *err)
{
    for (unsigned i = 0; i < spec->nvifs && i < LV_VM_MAX_VIFS; i++) {
        struct lv_vif_spec *v = &spec->vifs[i];
        int rc;

        if (v->has_mac)
            continue;
        if ((rc = lv_mac_random(v->mac, err)) < 0)
            return rc;
        v->has_mac = 1;
    }
    return 0;
}

int lv_build_prepare(struct lv_vm **out, struct lv_kvm *kvm, const struct lv_vm_shape *shape,
                     struct lv_err *err)
{
    struct lv_vm_nic nics[LV_VM_MAX_NICS];
    struct lv_vm_config cfg;
    int rc;

    *out = NULL;
    if (shape->nnics > LV_VM_MAX_NICS)
        return lv_err_set(err, EINVAL, "%u NICs: at most %u", shape->nnics, LV_VM_MAX_NICS);
    memset(nics, 0, sizeof(nics));
    for (unsigned i = 0; i < shape->nnics; i++)
        nics[i].tap_fd = shape->tap_fds[i]; /* the identity comes at execute */
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = shape->mem_size;
    cfg.flags = shape->flags;
    cfg.console_fd = -1;
    cfg.console = shape->console;
    cfg.nnics = shape->nnics;
    cfg.nics = nics;
    rc = lv_vm_create(out, kvm, &cfg, err);
    if (!rc && shape->populate)
        rc = lv_vm_populate(*out, LV_GPA_IMAGE_MIN, BUILD_IMAGE_BYTES, err);
    if (!rc && shape->populate)
        rc = lv_vm_populate(*out, LV_GPA_STACK_TOP - BUILD_STACK_BYTES, BUILD_STACK_BYTES, err);
    if (rc)
        lv_vm_destroy(out);
    return rc;
}

/* (spec) fits what (vm) was prepared for. */
static int check_fit(const struct lv_vm *vm, const struct lv_vm_spec *spec, struct lv_err *err)
{
    if ((spec->memory_mb << 20) != vm->mem.size || spec->nvifs != vm->nnics)
        return lv_err_set(err, EINVAL, "the configuration (%llu MiB, %u vifs) does not fit "
                          "this VM (%llu MiB, %u NICs)", (unsigned long long)spec->memory_mb,
                          spec->nvifs, (unsigned long long)(vm->mem.size >> 20), vm->nnics);
    return 0;
}

static int set_nics(struct lv_vm *vm, const struct lv_vm_spec *spec, struct lv_err *err)
{
    for (unsigned i = 0; i < spec->nvifs; i++) {
        const struct lv_vif_spec *v = &spec->vifs[i];
        struct lv_vm_nic n;
        int rc;

        if (!v->has_mac)
            return lv_err_set(err, EINVAL, "vifs[%u]: no MAC chosen", i);
        memset(&n, 0, sizeof(n));
        memcpy(n.mac, v->mac, 6);
        n.ip = v->ip;
        n.netmask = v->netmask;
        n.gw = v->gw;
        if ((rc = lv_vm_set_nic(vm, i, &n, err)) < 0)
            return rc;
    }
    return 0;
}

int lv_build_identity(struct lv_vm *vm, const struct lv_vm_spec *spec,
                      const struct lv_probe *probe, struct lv_err *err)
{
    int rc = check_fit(vm, spec, err);

    if (!rc)
        rc = set_nics(vm, spec, err);
    if (!rc)
        rc = lv_vm_set_cmdline(vm, spec->cmdline, err);
    if (rc || !probe || !probe->port)
        return rc;
    lv_vm_set_probe(vm, probe->ip, probe->port);
    if (probe->has_mac && spec->nvifs)
        lv_vm_set_probe_mac(vm, probe->mac);
    return 0;
}

int lv_build_execute(struct lv_vm *vm, const struct lv_vm_spec *spec,
                     const struct lv_probe *probe, struct lv_image *im, struct lv_err *err)
{
    int rc = lv_build_identity(vm, spec, probe, err);

    return rc ? rc : lv_vm_load_image(vm, im, err);
}

int lv_build_restore(struct lv_vm *vm, const struct lv_vm_spec *spec, const struct lv_snap *s,
                     int copy, struct lv_err *err)
{
    int rc = lv_build_identity(vm, spec, NULL, err);

    if (rc)
        return rc;
    return copy ? lv_vm_restore_copy(vm, s, err) : lv_vm_restore(vm, s, err);
}
