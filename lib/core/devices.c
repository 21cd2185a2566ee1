/*
 * devices.c: a VM's virtio devices and the KVM wiring that keeps their
 * data path out of the VMM's exit loop.
 *
 * Prepare (lv_vm_create): the queues are laid out at the top of guest RAM
 * (dev_mem_gpa .. mem_size) and negotiated on the guest's behalf (noxs);
 * each queue's QueueNotify address is bound to a kick eventfd with
 * KVM_IOEVENTFD (a kick is served in the kernel and wakes the I/O
 * thread), and each device's interrupt eventfd to an MSI route with
 * KVM_IRQFD (the I/O thread interrupts the guest without touching the
 * vCPU). Start: one I/O thread per VM serves every device from one epoll
 * set. Register accesses a driver still makes (a Linux guest's handshake)
 * arrive as MMIO exits on the vCPU thread: lv_devices_mmio().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm_impl.h"

#define GSI_BASE 24u       /* past the IOAPIC's 24 pins */
#define MSI_ADDR 0xfee00000u /* fixed delivery to APIC ID 0, physical mode */

/* Bytes of one queue's three areas, laid out back to back and rounded up
 * to whole pages: desc (16-aligned), avail, used (4-aligned). */
static uint64_t queue_layout(uint64_t base, uint16_t size, struct lv_virtio_mmio_qaddr *qa)
{
    uint64_t avail = base + LV_VQ_DESC_BYTES(size);
    uint64_t used = (avail + LV_VQ_AVAIL_BYTES(size) + 3) & ~3ull;
    uint64_t end = used + LV_VQ_USED_BYTES(size);

    qa->desc = base;
    qa->avail = avail;
    qa->used = used;
    qa->size = size;
    return ((end - base) + LV_PAGE_SIZE - 1) & ~(uint64_t)(LV_PAGE_SIZE - 1);
}

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

/* Device table entry and config space of NIC (i) from vm->nic[i]. */
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
    memcpy(vm->dev[i].data, &net, sizeof(net));
    lv_vnet_set_identity(vm->vnet[i], n->mac, n->mtu);
}

int lv_vm_set_nic(struct lv_vm *vm, unsigned i, const struct lv_vm_nic *n, struct lv_err *err)
{
    int tap_fd, rc;

    if (i >= vm->nnics)
        return lv_err_set(err, EINVAL, "NIC %u: the VM has %u NICs", i, vm->nnics);
    if (vm->loaded)
        return lv_err_set(err, EBUSY, "NIC %u: the image is already loaded", i);
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

int lv_devices_check_identity(const struct lv_vm *vm, struct lv_err *err)
{
    for (unsigned i = 0; i < vm->nnics; i++)
        if (!memcmp(vm->nic[i].mac, zero_mac, 6))
            return lv_err_set(err, EINVAL, "NIC %u has no MAC yet (lv_vm_set_nic)", i);
    return 0;
}

static int bind_queue(struct lv_vm *vm, unsigned i, unsigned q, struct lv_err *err)
{
    struct kvm_ioeventfd io;

    memset(&io, 0, sizeof(io));
    io.addr = vm->dev[i].notify_gpa;
    io.len = 4;
    io.datamatch = q;
    io.fd = lv_vnet_kick_fd(vm->vnet[i], q);
    io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
        return lv_err_set(err, errno, "NIC %u: KVM_IOEVENTFD: %s", i, strerror(errno));
    return 0;
}

/* MSI routes GSI_BASE + i -> vector of device i, then the irqfds. */
static int bind_irqs(struct lv_vm *vm, struct lv_err *err)
{
    struct kvm_irq_routing *r;
    unsigned i;
    int rc = 0;

    r = calloc(1, sizeof(*r) + vm->nnics * sizeof(r->entries[0]));
    if (!r)
        return lv_err_set(err, ENOMEM, "out of memory");
    r->nr = vm->nnics;
    for (i = 0; i < vm->nnics; i++) {
        r->entries[i].gsi = GSI_BASE + i;
        r->entries[i].type = KVM_IRQ_ROUTING_MSI;
        r->entries[i].u.msi.address_lo = MSI_ADDR;
        r->entries[i].u.msi.data = vm->dev[i].vector; /* fixed, edge */
    }
    if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
        rc = lv_err_set(err, errno, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
    free(r);
    for (i = 0; !rc && i < vm->nnics; i++) {
        struct kvm_irqfd f;
        memset(&f, 0, sizeof(f));
        f.fd = (uint32_t)lv_vnet_irq_fd(vm->vnet[i]);
        f.gsi = GSI_BASE + i;
        if (ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0)
            rc = lv_err_set(err, errno, "NIC %u: KVM_IRQFD: %s", i, strerror(errno));
    }
    return rc;
}

static int create_nic(struct lv_vm *vm, unsigned i, uint64_t *gpa, struct lv_err *err)
{
    struct lv_vm_nic *n = &vm->nic[i];
    struct lv_virtio_mmio_qaddr qa[LV_VNET_NQUEUES];
    struct lv_vnet_params p;
    struct lv_device *d = &vm->dev[i];
    unsigned q;
    int rc;

    memset(&p, 0, sizeof(p));
    p.mem = &vm->mem;
    p.tap_fd = n->tap_fd;
    p.mtu = n->mtu;
    rc = lv_vnet_create(&vm->vnet[i], &p, err);
    if (rc)
        return rc;
    for (q = 0; q < LV_VNET_NQUEUES; q++)
        *gpa += queue_layout(*gpa, LV_VNET_QUEUE_SIZE, &qa[q]);
    rc = lv_vnet_preset(vm->vnet[i], qa, err);
    if (rc)
        return rc;

    memset(d, 0, sizeof(*d));
    d->type = LV_DEV_NET;
    d->irq = GSI_BASE + i;
    d->mmio_gpa = LV_GPA_MMIO_BASE + (uint64_t)i * LV_PAGE_SIZE;
    d->notify_gpa = d->mmio_gpa + LV_VIRTIO_MMIO_QUEUE_NOTIFY;
    d->features = lv_vnet_features();
    d->vector = LV_VEC_DEV_BASE + i;
    d->nqueues = LV_VNET_NQUEUES;
    for (q = 0; q < LV_VNET_NQUEUES; q++) {
        d->q[q].desc_gpa = qa[q].desc;
        d->q[q].avail_gpa = qa[q].avail;
        d->q[q].used_gpa = qa[q].used;
        d->q[q].size = qa[q].size;
        d->q[q].notify_data = (uint16_t)q;
    }
    publish_identity(vm, i);
    return lv_vnet_attach(vm->vnet[i], vm->epfd, err);
}

int lv_devices_setup(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    struct lv_virtio_mmio_qaddr qa;
    uint64_t per_nic = 0, gpa;
    unsigned i;
    int rc;

    vm->dev_mem_gpa = vm->mem.size;
    vm->probe_ip = cfg->probe_ip;
    vm->probe_port = cfg->probe_port;
    if (cfg->nnics == 0)
        return 0;
    if (cfg->nnics > LV_VM_MAX_NICS)
        return lv_err_set(err, EINVAL, "%u NICs: at most %u", cfg->nnics, LV_VM_MAX_NICS);
    if (vm->mem.size > LV_GPA_MMIO_BASE)
        return lv_err_set(err, EINVAL, "a VM with NICs has at most %u MiB of memory",
                          LV_GPA_MMIO_BASE >> 20);
    for (i = 0; i < cfg->nnics; i++) {
        rc = check_nic(&cfg->nics[i], i, err);
        if (rc)
            return rc;
        vm->nic[i] = cfg->nics[i];
        if (!vm->nic[i].mtu)
            vm->nic[i].mtu = 1500;
    }
    for (i = 0; i < LV_VNET_NQUEUES; i++)
        per_nic += queue_layout(0, LV_VNET_QUEUE_SIZE, &qa);
    if (per_nic * cfg->nnics > vm->mem.size / 2)
        return lv_err_set(err, EINVAL, "memory too small for %u NICs' queues", cfg->nnics);
    vm->dev_mem_gpa = vm->mem.size - per_nic * cfg->nnics;

    vm->epfd = epoll_create1(EPOLL_CLOEXEC);
    vm->io_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->epfd < 0 || vm->io_stop_fd < 0)
        return lv_err_set(err, errno, "epoll/eventfd: %s", strerror(errno));
    if (epoll_ctl(vm->epfd, EPOLL_CTL_ADD, vm->io_stop_fd, &ev) < 0)
        return lv_err_set(err, errno, "epoll_ctl: %s", strerror(errno));
    vm->nnics = cfg->nnics;
    gpa = vm->dev_mem_gpa;
    for (i = 0; i < vm->nnics; i++) {
        rc = create_nic(vm, i, &gpa, err);
        if (rc)
            return rc;
    }
    return 0;
}

int lv_devices_create(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err)
{
    int rc = lv_devices_setup(vm, cfg, err);

    for (unsigned i = 0; !rc && i < vm->nnics; i++)
        for (unsigned q = 0; !rc && q < LV_VNET_NQUEUES; q++)
            rc = bind_queue(vm, i, q, err);
    if (rc || !vm->nnics)
        return rc;
    return bind_irqs(vm, err);
}

void lv_vm_fail(struct lv_vm *vm, const char *msg)
{
    pthread_mutex_lock(&vm->fail_lock);
    if (!vm->dev_failed) {
        snprintf(vm->dev_msg, sizeof(vm->dev_msg), "%s", msg);
        vm->dev_failed = 1;
    }
    pthread_mutex_unlock(&vm->fail_lock);
    lv_vm_stop(vm);
}

int lv_devices_poll(struct lv_vm *vm, int timeout_ms, struct lv_err *err)
{
    struct epoll_event ev[16];
    int n = epoll_wait(vm->epfd, ev, 16, timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : lv_err_set(err, errno, "I/O thread: epoll_wait: %s",
                                               strerror(errno));
    for (int k = 0; k < n; k++) {
        if (!ev[k].data.ptr)
            return 1; /* io_stop_fd */
        int rc = lv_vnet_event(ev[k].data.ptr, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void *io_thread(void *arg)
{
    struct lv_vm *vm = arg;
    struct lv_err err = {""};
    int rc;

    if (lv_vm_thread_filter(vm, LV_SECCOMP_IO) < 0)
        return NULL; /* its spawner says why and stops the VM */
    while ((rc = lv_devices_poll(vm, -1, &err)) == 0)
        ;
    if (rc < 0)
        lv_vm_fail(vm, err.msg);
    return NULL;
}

int lv_devices_start(struct lv_vm *vm, struct lv_err *err)
{
    int rc;

    if (!vm->nnics)
        return 0;
    rc = pthread_create(&vm->io_thread, NULL, io_thread, vm);
    if (rc)
        return lv_err_set(err, rc, "I/O thread: %s", strerror(rc));
    vm->io_started = 1;
    return 0;
}

void lv_devices_stop(struct lv_vm *vm)
{
    uint64_t one = 1;

    if (!vm->io_started)
        return;
    if (write(vm->io_stop_fd, &one, sizeof(one)) < 0) {
        /* cannot fail short of a saturated counter: already signalled */
    }
    pthread_join(vm->io_thread, NULL);
    vm->io_started = 0;
}

void lv_devices_destroy(struct lv_vm *vm)
{
    lv_devices_stop(vm);
    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++)
        lv_vnet_destroy(&vm->vnet[i]);
    if (vm->epfd >= 0)
        close(vm->epfd);
    if (vm->io_stop_fd >= 0)
        close(vm->io_stop_fd);
    vm->epfd = vm->io_stop_fd = -1;
}

int lv_devices_mmio(struct lv_vm *vm, struct kvm_run *run, struct lv_err *err)
{
    uint64_t a = run->mmio.phys_addr;
    uint64_t i = (a - LV_GPA_MMIO_BASE) / LV_PAGE_SIZE, off = a % LV_PAGE_SIZE;
    uint32_t len = run->mmio.len;
    int rc;

    if (a < LV_GPA_MMIO_BASE || i >= vm->nnics)
        return 0;
    if (len == 0 || len > sizeof(run->mmio.data))
        return lv_err_set(err, EINVAL, "NIC %u: MMIO access of %u bytes", (unsigned)i, len);
    vm->stats.mmio_dev++;
    if (run->mmio.is_write)
        rc = lv_vnet_mmio_write(vm->vnet[i], off, run->mmio.data, len, err);
    else
        rc = lv_vnet_mmio_read(vm->vnet[i], off, run->mmio.data, len, err);
    return rc < 0 ? rc : 1;
}

int lv_vm_nic_stats(struct lv_vm *vm, unsigned i, struct lv_vnet_stats *out)
{
    if (i >= vm->nnics)
        return -EINVAL;
    lv_vnet_get_stats(vm->vnet[i], out);
    return 0;
}
