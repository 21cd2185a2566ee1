/*
 * devices.c: a VM's device table and what is the same for every device
 * (dev_impl.h): the memory their queues live in, the KVM wiring that
 * keeps their data path out of the VMM's exit loop, the I/O thread and
 * the MMIO exits. No device model is named here; each is reached
 * through its ops table.
 *
 * Prepare (lv_vm_create): the devices' owners register them (the NICs:
 * nic.c); their queues are laid out at the top of guest RAM (dev_mem_gpa
 * .. mem_size) and negotiated on the guest's behalf (noxs, ops->preset);
 * each queue's QueueNotify address is bound to its kick eventfd with
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
#include <time.h>
#include <unistd.h>

#include "vm_impl.h"
#include "../util/le.h"

#define GSI_BASE 24u       /* past the IOAPIC's 24 pins */
#define MSI_ADDR 0xfee00000u /* fixed delivery to APIC ID 0, physical mode */

static int wait_parked(struct lv_vm *vm, struct lv_err *err);

int lv_devs_add(struct lv_devs *t, const struct lv_dev_ops *ops, void *priv, unsigned *index,
                struct lv_err *err)
{
    int rc = 0;

    if (t->n >= LV_DEVS_MAX)
        rc = lv_err_set(err, ENOSPC, "%s: a VM has at most %u devices", ops->name, LV_DEVS_MAX);
    else if (!ops->nqueues || ops->nqueues > LV_DEV_MAX_QUEUES || !ops->mmio_len ||
             ops->mmio_len > LV_PAGE_SIZE)
        rc = lv_err_set(err, EINVAL, "%s: %u queues, %u register bytes: out of range",
                        ops->name, ops->nqueues, ops->mmio_len);
    else if (!ops->save || !ops->check || !ops->restore || !ops->resume)
        rc = lv_err_set(err, EINVAL, "%s: no save, check, restore or resume hook", ops->name);
    if (rc) {
        ops->destroy(priv);
        return rc;
    }
    t->dev[t->n].ops = ops;
    t->dev[t->n].priv = priv;
    *index = t->n++;
    return 0;
}

void lv_devs_destroy(struct lv_devs *t)
{
    for (unsigned i = 0; i < t->n; i++)
        t->dev[i].ops->destroy(t->dev[i].priv);
    memset(t->dev, 0, sizeof(t->dev));
    t->n = 0;
}

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

/* Bytes of device memory every device needs. */
static uint64_t queue_bytes(const struct lv_devs *t)
{
    struct lv_virtio_mmio_qaddr qa;
    uint64_t sum = 0;

    for (unsigned i = 0; i < t->n; i++)
        sum += t->dev[i].ops->nqueues * queue_layout(0, t->dev[i].ops->queue_size, &qa);
    return sum;
}

/* Device (i)'s boot info entry; its `data` bytes stay its owner's. */
static void publish_entry(struct lv_vm *vm, unsigned i, const struct lv_virtio_mmio_qaddr *qa)
{
    const struct lv_dev_ops *ops = vm->devs.dev[i].ops;
    struct lv_device *e = &vm->devs.info[i], d;

    memset(&d, 0, sizeof(d));
    memcpy(d.data, e->data, sizeof(d.data));
    d.type = ops->type;
    d.irq = GSI_BASE + i;
    d.mmio_gpa = LV_GPA_MMIO_BASE + (uint64_t)i * LV_PAGE_SIZE;
    d.notify_gpa = d.mmio_gpa + LV_VIRTIO_MMIO_QUEUE_NOTIFY;
    d.features = ops->features;
    d.vector = LV_VEC_DEV_BASE + i;
    d.nqueues = ops->nqueues;
    for (unsigned q = 0; q < ops->nqueues; q++) {
        d.q[q].desc_gpa = qa[q].desc;
        d.q[q].avail_gpa = qa[q].avail;
        d.q[q].used_gpa = qa[q].used;
        d.q[q].size = qa[q].size;
        d.q[q].notify_data = (uint16_t)q;
    }
    *e = d;
}

/* Device (i)'s queues from (*gpa) on, preset; its boot info entry; its
 * fds in the epoll set. */
static int place(struct lv_vm *vm, unsigned i, uint64_t *gpa, struct lv_err *err)
{
    const struct lv_dev *d = &vm->devs.dev[i];
    struct lv_virtio_mmio_qaddr qa[LV_DEV_MAX_QUEUES];
    int rc;

    for (unsigned q = 0; q < d->ops->nqueues; q++)
        *gpa += queue_layout(*gpa, d->ops->queue_size, &qa[q]);
    rc = d->ops->preset(d->priv, qa, err);
    if (rc)
        return rc;
    publish_entry(vm, i, qa);
    return d->ops->attach(d->priv, vm->epfd, lv_dev_key(i, 0), err);
}

/* The registered devices' memory, boot info entries and epoll set. */
static int lay_out(struct lv_vm *vm, struct lv_err *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LV_DEV_KEY_STOP};
    uint64_t bytes = queue_bytes(&vm->devs), gpa;
    int rc;

    if (vm->mem.size > LV_GPA_MMIO_BASE)
        return lv_err_set(err, EINVAL, "a VM with devices has at most %u MiB of memory",
                          LV_GPA_MMIO_BASE >> 20);
    if (bytes > vm->mem.size / 2)
        return lv_err_set(err, EINVAL, "memory too small for %u devices' queues", vm->devs.n);
    vm->dev_mem_gpa = vm->mem.size - bytes;

    vm->epfd = epoll_create1(EPOLL_CLOEXEC);
    vm->io_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->epfd < 0 || vm->io_stop_fd < 0)
        return lv_err_set(err, errno, "epoll/eventfd: %s", strerror(errno));
    if (epoll_ctl(vm->epfd, EPOLL_CTL_ADD, vm->io_stop_fd, &ev) < 0)
        return lv_err_set(err, errno, "epoll_ctl: %s", strerror(errno));
    gpa = vm->dev_mem_gpa;
    for (unsigned i = 0; i < vm->devs.n; i++) {
        rc = place(vm, i, &gpa, err);
        if (rc)
            return rc;
    }
    return 0;
}

int lv_devices_setup(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err)
{
    int rc;

    vm->dev_mem_gpa = vm->mem.size;
    vm->probe_ip = cfg->probe_ip;
    vm->probe_port = cfg->probe_port;
    rc = lv_nics_setup(vm, cfg, err);
    if (rc || !vm->devs.n)
        return rc;
    return lay_out(vm, err);
}

static int bind_queue(struct lv_vm *vm, unsigned i, unsigned q, struct lv_err *err)
{
    const struct lv_dev *d = &vm->devs.dev[i];
    struct kvm_ioeventfd io;

    memset(&io, 0, sizeof(io));
    io.addr = vm->devs.info[i].notify_gpa;
    io.len = 4;
    io.datamatch = q;
    io.fd = d->ops->kick_fd(d->priv, q);
    io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
        return lv_err_set(err, errno, "%s %u: KVM_IOEVENTFD: %s", d->ops->name, i,
                          strerror(errno));
    return 0;
}

/* MSI routes GSI_BASE + i -> vector of device i, then the irqfds. */
static int bind_irqs(struct lv_vm *vm, struct lv_err *err)
{
    struct kvm_irq_routing *r;
    unsigned i, n = vm->devs.n;
    int rc = 0;

    r = calloc(1, sizeof(*r) + n * sizeof(r->entries[0]));
    if (!r)
        return lv_err_set(err, ENOMEM, "out of memory");
    r->nr = n;
    for (i = 0; i < n; i++) {
        r->entries[i].gsi = GSI_BASE + i;
        r->entries[i].type = KVM_IRQ_ROUTING_MSI;
        r->entries[i].u.msi.address_lo = MSI_ADDR;
        r->entries[i].u.msi.data = vm->devs.info[i].vector; /* fixed, edge */
    }
    if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
        rc = lv_err_set(err, errno, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
    free(r);
    for (i = 0; !rc && i < n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        struct kvm_irqfd f;
        memset(&f, 0, sizeof(f));
        f.fd = (uint32_t)d->ops->irq_fd(d->priv);
        f.gsi = GSI_BASE + i;
        if (ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0)
            rc = lv_err_set(err, errno, "%s %u: KVM_IRQFD: %s", d->ops->name, i,
                            strerror(errno));
    }
    return rc;
}

int lv_devices_create(struct lv_vm *vm, const struct lv_vm_config *cfg, struct lv_err *err)
{
    int rc = lv_devices_setup(vm, cfg, err);

    for (unsigned i = 0; !rc && i < vm->devs.n; i++)
        for (unsigned q = 0; !rc && q < vm->devs.dev[i].ops->nqueues; q++)
            rc = bind_queue(vm, i, q, err);
    if (rc || !vm->devs.n)
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

/* Wakes the I/O thread to look at its requests (io_*_req). */
static int wake_io(struct lv_vm *vm, struct lv_err *err)
{
    uint64_t one = 1;

    if (write(vm->io_stop_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return lv_err_set(err, errno, "I/O thread: eventfd write: %s", strerror(errno));
    return 0; /* EAGAIN: a saturated counter, a wakeup is pending anyway */
}

/* The I/O thread's control event: parks while quiesced, then ends (1)
 * or serves a resume. */
static int io_control(struct lv_vm *vm, struct lv_err *err)
{
    uint64_t cnt;
    int stop, resume, rc = 0;

    if (read(vm->io_stop_fd, &cnt, sizeof(cnt)) < 0) {
        /* EAGAIN: an earlier event of this batch took the count */
    }
    pthread_mutex_lock(&vm->run_lock);
    while (vm->io_park_req && !vm->io_stop_req) {
        vm->io_parked = 1;
        pthread_cond_broadcast(&vm->run_cond);
        pthread_cond_wait(&vm->run_cond, &vm->run_lock);
    }
    vm->io_parked = 0;
    stop = vm->io_stop_req;
    resume = vm->io_resume_req;
    vm->io_resume_req = 0;
    pthread_mutex_unlock(&vm->run_lock);
    if (stop)
        return 1;
    for (unsigned i = 0; resume && !rc && i < vm->devs.n; i++)
        rc = vm->devs.dev[i].ops->resume(vm->devs.dev[i].priv, err);
    return rc;
}

int lv_devices_poll(struct lv_vm *vm, int timeout_ms, struct lv_err *err)
{
    struct epoll_event ev[16];
    int n = epoll_wait(vm->epfd, ev, 16, timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : lv_err_set(err, errno, "I/O thread: epoll_wait: %s",
                                               strerror(errno));
    for (int k = 0; k < n; k++) {
        uint64_t key = ev[k].data.u64;
        unsigned i = (unsigned)(key >> 32);
        if (key == LV_DEV_KEY_STOP) {
            int rc = io_control(vm, err);
            if (rc)
                return rc;
            continue;
        }
        if (i >= vm->devs.n)
            return lv_err_set(err, EINVAL, "I/O thread: an event of device %u (of %u)", i,
                              vm->devs.n);
        const struct lv_dev *d = &vm->devs.dev[i];
        int rc = d->ops->event(d->priv, (uint32_t)key, err);
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
    pthread_mutex_lock(&vm->run_lock);
    vm->io_done = 1; /* lv_devices_quiesce stops waiting */
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
    if (rc < 0)
        lv_vm_fail(vm, err.msg);
    return NULL;
}

int lv_devices_start(struct lv_vm *vm, struct lv_err *err)
{
    int rc;

    if (!vm->devs.n)
        return 0;
    vm->io_done = 0;
    rc = pthread_create(&vm->io_thread, NULL, io_thread, vm);
    if (rc)
        return lv_err_set(err, rc, "I/O thread: %s", strerror(rc));
    vm->io_started = 1;
    pthread_mutex_lock(&vm->run_lock);
    rc = vm->io_park_req; /* quiesced before it started: it parks first */
    pthread_mutex_unlock(&vm->run_lock);
    return rc ? wait_parked(vm, err) : 0;
}

void lv_devices_stop(struct lv_vm *vm)
{
    if (!vm->io_started)
        return;
    pthread_mutex_lock(&vm->run_lock);
    vm->io_stop_req = 1; /* also ends a park */
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
    wake_io(vm, NULL); /* cannot fail short of a saturated counter: already signalled */
    pthread_join(vm->io_thread, NULL);
    vm->io_started = 0;
}

void lv_devices_destroy(struct lv_vm *vm)
{
    lv_devices_stop(vm);
    lv_devs_destroy(&vm->devs);
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
    const struct lv_dev *d;
    int rc;

    if (a < LV_GPA_MMIO_BASE || i >= vm->devs.n)
        return 0;
    d = &vm->devs.dev[i];
    if (off >= d->ops->mmio_len)
        return 0;
    if (len == 0 || len > sizeof(run->mmio.data))
        return lv_err_set(err, EINVAL, "%s %u: MMIO access of %u bytes", d->ops->name,
                          (unsigned)i, len);
    vm->stats.mmio_dev++;
    if (run->mmio.is_write)
        rc = d->ops->mmio_write(d->priv, off, run->mmio.data, len, err);
    else
        rc = d->ops->mmio_read(d->priv, off, run->mmio.data, len, err);
    return rc < 0 ? rc : 1;
}

/* ---- snapshots (vm_impl.h) ---- */

#define DEVSTATE_VERSION 1u
#define DEVSTATE_HEAD 2u  /* version, device count */
#define DEVSTATE_ENTRY 8u /* a device's type and blob length */

int lv_devices_quiesce(struct lv_vm *vm, struct lv_err *err)
{
    int rc = 0;

    if (!vm->devs.n)
        return 0;
    pthread_mutex_lock(&vm->run_lock);
    if (vm->io_park_req)
        rc = lv_err_set(err, EALREADY, "the devices are already quiesced");
    else if (vm->io_started && vm->io_done)
        rc = lv_err_set(err, EINVAL, "the I/O thread has ended");
    else
        vm->io_park_req = 1;
    pthread_mutex_unlock(&vm->run_lock);
    if (rc)
        return rc;
    rc = wake_io(vm, err); /* a thread not yet started parks as it starts */
    if (rc) {
        lv_devices_unquiesce(vm);
        return rc;
    }
    return vm->io_started ? wait_parked(vm, err) : 0;
}

/* Waits (a second at most) for the I/O thread to park as requested;
 * lifts the request when it does not. */
static int wait_parked(struct lv_vm *vm, struct lv_err *err)
{
    struct timespec dl;
    int t = 0, parked, done;

    clock_gettime(CLOCK_MONOTONIC, &dl); /* run_cond's clock (lv_vm_create) */
    dl.tv_sec += 1;
    pthread_mutex_lock(&vm->run_lock);
    while (!vm->io_parked && !vm->io_done && !t)
        t = pthread_cond_timedwait(&vm->run_cond, &vm->run_lock, &dl);
    parked = vm->io_parked;
    done = vm->io_done;
    if (!parked) {
        vm->io_park_req = 0;
        pthread_cond_broadcast(&vm->run_cond);
    }
    pthread_mutex_unlock(&vm->run_lock);
    if (parked)
        return 0;
    if (done)
        return lv_err_set(err, EINVAL, "the I/O thread ended while quiescing");
    return lv_err_set(err, ETIMEDOUT, "the I/O thread did not park within a second");
}

void lv_devices_unquiesce(struct lv_vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->io_park_req = 0;
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
}

int lv_devices_resume(struct lv_vm *vm, struct lv_err *err)
{
    if (!vm->devs.n)
        return 0;
    pthread_mutex_lock(&vm->run_lock);
    vm->io_resume_req = 1;
    pthread_mutex_unlock(&vm->run_lock);
    return wake_io(vm, err);
}

int lv_devices_resume_at_start(struct lv_vm *vm, struct lv_err *err)
{
    pthread_mutex_lock(&vm->run_lock);
    int now = vm->go; /* else lv_vm_start asks after the release */
    vm->io_resume_at_start = !now;
    pthread_mutex_unlock(&vm->run_lock);
    return now ? lv_devices_resume(vm, err) : 0;
}

/* 0 when nothing that changes device state runs: the vCPU is paused or
 * not running, the I/O thread parked or not running. */
static int check_still(struct lv_vm *vm, const char *what, struct lv_err *err)
{
    int rc = 0;

    pthread_mutex_lock(&vm->run_lock);
    if (vm->go && !vm->vcpu_done && !vm->paused)
        rc = lv_err_set(err, EBUSY, "device %s while the vCPU runs: pause the VM first", what);
    else if (vm->io_started && !vm->io_parked && !vm->io_done)
        rc = lv_err_set(err, EBUSY, "device %s while the I/O thread runs: quiesce it first",
                        what);
    pthread_mutex_unlock(&vm->run_lock);
    return rc;
}

/* Prefixes (err)'s message with device (i)'s name and index. */
static int dev_prefixed(const struct lv_vm *vm, unsigned i, int rc, struct lv_err *err)
{
    char why[LV_ERR_MAX];

    snprintf(why, sizeof(why), "%s", err ? err->msg : "");
    return lv_err_set(err, -rc, "%s %u: %.200s", vm->devs.dev[i].ops->name, i, why);
}

int lv_devices_save(struct lv_vm *vm, uint8_t *buf, size_t cap, size_t *len,
                    struct lv_err *err)
{
    size_t n = DEVSTATE_HEAD, dl;
    int rc = check_still(vm, "save", err), short_buf = cap < DEVSTATE_HEAD;

    *len = 0;
    if (rc)
        return rc;
    for (unsigned i = 0; i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        size_t room = !short_buf && cap - n >= DEVSTATE_ENTRY ? cap - n - DEVSTATE_ENTRY : 0;

        rc = d->ops->save(d->priv, room ? buf + n + DEVSTATE_ENTRY : NULL, room, &dl, err);
        if (rc == -ENOSPC)
            short_buf = 1;
        else if (rc)
            return dev_prefixed(vm, i, rc, err);
        if (dl > LV_DEV_STATE_MAX)
            return lv_err_set(err, EOVERFLOW, "%s %u: %zu bytes of state, over %u", d->ops->name,
                              i, dl, LV_DEV_STATE_MAX);
        if (!short_buf) {
            lv_put32(buf + n, d->ops->type);
            lv_put32(buf + n + 4, (uint32_t)dl);
        }
        n += DEVSTATE_ENTRY + dl;
    }
    *len = n;
    if (short_buf)
        return lv_err_set(err, ENOSPC, "device state needs %zu bytes, %zu given", n, cap);
    buf[0] = DEVSTATE_VERSION;
    buf[1] = (uint8_t)vm->devs.n;
    return 0;
}

/* The framing of a saved state: each device's blob in (blob, blen). */
static int split(const struct lv_vm *vm, const uint8_t *buf, size_t len,
                 const uint8_t **blob, uint32_t *blen, struct lv_err *err)
{
    size_t off = DEVSTATE_HEAD;

    if (len < DEVSTATE_HEAD)
        return lv_err_set(err, EINVAL, "device state is %zu bytes: truncated", len);
    if (buf[0] != DEVSTATE_VERSION)
        return lv_err_set(err, EINVAL, "device state version %u (this lightvm reads %u)", buf[0],
                          DEVSTATE_VERSION);
    if (buf[1] != vm->devs.n)
        return lv_err_set(err, EINVAL, "device state of %u devices for a VM with %u", buf[1],
                          vm->devs.n);
    for (unsigned i = 0; i < vm->devs.n; i++) {
        const struct lv_dev_ops *ops = vm->devs.dev[i].ops;
        uint32_t type;

        if (len - off < DEVSTATE_ENTRY)
            return lv_err_set(err, EINVAL, "device state truncated at device %u's header", i);
        type = lv_get32(buf + off);
        blen[i] = lv_get32(buf + off + 4);
        off += DEVSTATE_ENTRY;
        if (type != ops->type)
            return lv_err_set(err, EINVAL, "device state: device %u has type %u, the VM's %s "
                              "is type %u", i, type, ops->name, ops->type);
        if (blen[i] > LV_DEV_STATE_MAX || blen[i] > len - off)
            return lv_err_set(err, EINVAL, "device state: device %u's %u bytes %s", i, blen[i],
                              blen[i] > LV_DEV_STATE_MAX ? "are over the limit" : "are truncated");
        blob[i] = buf + off;
        off += blen[i];
    }
    if (off != len)
        return lv_err_set(err, EINVAL, "device state has %zu bytes after the last device",
                          len - off);
    return 0;
}

int lv_devices_restore(struct lv_vm *vm, const uint8_t *buf, size_t len, struct lv_err *err)
{
    const uint8_t *blob[LV_DEVS_MAX];
    uint32_t blen[LV_DEVS_MAX];
    int rc = check_still(vm, "restore", err);

    if (!rc)
        rc = split(vm, buf, len, blob, blen, err);
    for (unsigned i = 0; !rc && i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        rc = d->ops->check(d->priv, blob[i], blen[i], err);
        if (rc)
            return dev_prefixed(vm, i, rc, err);
    }
    /* Checked: a restore fails now only on a device's bug. */
    for (unsigned i = 0; !rc && i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        rc = d->ops->restore(d->priv, blob[i], blen[i], err);
        if (rc)
            return dev_prefixed(vm, i, rc, err);
    }
    return rc;
}
