/*
 * nic.c: a VM's NICs. Each is a virtio-net device (lib/virtio/net.c) on
 * a tap the caller made, registered with the VM's device table
 * (dev_impl.h), which owns it; its identity (MAC, MTU, addresses) goes
 * into the device's config space and into the `data` of its boot info
 * entry. A pooled shell's NICs get their identity at execute time
 * (lv_vm_set_nic).
 */
#include <errno.h>
#include <string.h>

#include "vm_impl.h"

static const uint8_t zero_mac[6];

/* (n)'s identity; a zero MAC is allowed when (allow_unset): a shell's
 * NIC gets its identity at execute time (lv_vm_set_nic). */
static int check_nic_id(const struct lv_vm_nic *n, unsigned i, int allow_unset,
                        struct lv_err *err)
{
    int unset = !memcmp(n->mac, zero_mac, 6);

    if ((n->mac[0] & 1) || (unset && !allow_unset))
        return lv_err_set(err, EINVAL, "NIC %u: MAC must be unicast and not zero", i);
    if (n->mtu && n->mtu < 68)
        return lv_err_set(err, EINVAL, "NIC %u: MTU %u below 68", i, n->mtu);
    return 0;
}

static int check_nic(const struct lv_vm_nic *n, unsigned i, struct lv_err *err)
{
    if (n->tap_fd < 0)
        return lv_err_set(err, EINVAL, "NIC %u: no tap", i);
    return check_nic_id(n, i, 1, err);
}

static const struct lv_dev *nic_dev(const struct lv_vm *vm, unsigned i)
{
    return &vm->devs.dev[vm->nic_dev[i]];
}

/* Boot info data and config space of NIC (i) from vm->nic[i]. */
static void publish_identity(struct lv_vm *vm, unsigned i)
{
    const struct lv_vm_nic *n = &vm->nic[i];
    struct lv_dev_net net;

    memset(&net, 0, sizeof(net));
    memcpy(net.mac, n->mac, 6);
    net.mtu = n->mtu;
    net.ip = n->ip;
    net.netmask = n->netmask;
    net.gw = n->gw;
    memcpy(vm->devs.info[vm->nic_dev[i]].data, &net, sizeof(net));
    lv_vnet_set_identity(nic_dev(vm, i)->priv, n->mac, n->mtu);
}

int lv_vm_set_nic(struct lv_vm *vm, unsigned i, const struct lv_vm_nic *n, struct lv_err *err)
{
    int tap_fd, rc;

    if (i >= vm->nnics)
        return lv_err_set(err, EINVAL, "NIC %u: the VM has %u NICs", i, vm->nnics);
    rc = lv_vm_vcpu_still(vm, err); /* a loaded VM: a restore, its vCPU held */
    if (rc)
        return rc;
    rc = check_nic_id(n, i, 0, err);
    if (rc)
        return rc;
    tap_fd = vm->nic[i].tap_fd;
    vm->nic[i] = *n;
    vm->nic[i].tap_fd = tap_fd;
    if (!vm->nic[i].mtu)
        vm->nic[i].mtu = 1500;
    publish_identity(vm, i);
    return 0;
}

int lv_nics_check_identity(const struct lv_vm *vm, struct lv_err *err)
{
    for (unsigned i = 0; i < vm->nnics; i++)
        if (!memcmp(vm->nic[i].mac, zero_mac, 6))
            return lv_err_set(err, EINVAL, "NIC %u has no MAC yet (lv_vm_set_nic)", i);
    return 0;
}

/* NIC (i)'s virtio-net device, registered. */
static int add_nic(struct lv_vm *vm, unsigned i, struct lv_err *err)
{
    const struct lv_vm_nic *n = &vm->nic[i];
    struct lv_vnet_params p;
    struct lv_vnet *vn;
    int rc;

    memset(&p, 0, sizeof(p));
    p.mem = &vm->mem;
    p.tap_fd = n->tap_fd;
    p.mtu = n->mtu;
    rc = lv_vnet_create(&vn, &p, err);
    if (rc)
        return rc;
    rc = lv_devs_add(&vm->devs, &lv_vnet_dev_ops, vn, &vm->nic_dev[i], err);
    if (rc)
        return rc;
    vm->nnics = i + 1;
    publish_identity(vm, i);
    return 0;
}

int lv_nics_setup(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err)
{
    unsigned i;
    int rc;

    if (cfg->nnics > LV_VM_MAX_NICS)
        return lv_err_set(err, EINVAL, "%u NICs: at most %u", cfg->nnics, LV_VM_MAX_NICS);
    for (i = 0; i < cfg->nnics; i++) {
        rc = check_nic(&cfg->nics[i], i, err);
        if (rc)
            return rc;
        vm->nic[i] = cfg->nics[i];
        if (!vm->nic[i].mtu)
            vm->nic[i].mtu = 1500;
    }
    for (i = 0; i < cfg->nnics; i++) {
        rc = add_nic(vm, i, err);
        if (rc)
            return rc;
    }
    return 0;
}

int lv_vm_nic_stats(struct lv_vm *vm, unsigned i, struct lv_vnet_stats *out)
{
    const struct lv_dev *d;

    if (i >= vm->nnics)
        return -EINVAL;
    d = nic_dev(vm, i);
    return d->ops->stats(d->priv, out, sizeof(*out));
}
