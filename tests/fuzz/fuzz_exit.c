/* fuzz_exit.c: libFuzzer target for what a guest can make the VMM do:
 * the vCPU exit handler (lib/core/vcpu.c: port I/O host calls, MMIO,
 * every exit reason), the virtio-mmio register state machine behind the
 * MMIO exits (lib/virtio/mmio.c) and virtio-net receive and transmit
 * (lib/virtio/net.c) on the I/O thread's path (lv_devices_poll), each
 * reached through the device's ops table (lib/core/dev_impl.h).
 *
 * No KVM: a fake struct kvm_run, guest RAM in a buffer, a VM whose
 * devices are set up by lv_devices_setup (no KVM wiring), and for each
 * NIC a SOCK_SEQPACKET socketpair in place of the tap (one frame per
 * read or write, like a tap). The input is a program for the guest:
 * write RAM, post buffers on a queue as a driver would, kick, send a
 * frame from the network, make an exit. It runs until the input ends or
 * the VMM stops the VM. Checked: a stop always says why; a device error
 * is -EINVAL or -EFAULT with a message; every frame counted as sent
 * reached the tap, once, with a zeroed header and within the size limit;
 * ASan/UBSan see every access. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/vm_impl.h"

#define RAM (256u << 10)
#define RUN_SIZE (3u * 4096u)   /* a vcpu_mmap_size; the I/O data page is at 4096 */
#define BUF_GPA 0x10000u        /* the fake driver's buffers: 64 KiB from here */
#define BUF_SLOT 2048u
#define MAX_OPS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    const uint8_t *p;
    size_t n;
};

static uint64_t get(struct input *in, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
        v |= (uint64_t)in->p[0] << (8 * i);
    return v;
}

struct harness {
    struct lv_vm *vm;
    struct lv_kvm kvm;
    uint8_t *ram;
    struct kvm_run *run;
    int peer[LV_VM_MAX_NICS]; /* the network's end of each fake tap */
    uint64_t sent[LV_VM_MAX_NICS]; /* frames that arrived there */
    uint8_t frame[LV_NET_HDR_LEN + LV_VNET_MAX_FRAME + 64];
};

/* Checks every frame the guest sent. */
static void drain_taps(struct harness *h)
{
    for (unsigned i = 0; i < h->vm->nnics; i++) {
        for (unsigned k = 0; k < 4 * LV_VNET_QUEUE_SIZE; k++) {
            ssize_t r = recv(h->peer[i], h->frame, sizeof(h->frame), MSG_TRUNC);
            if (r < 0)
                break;
            if ((size_t)r < LV_NET_HDR_LEN || (size_t)r > LV_NET_HDR_LEN + LV_VNET_MAX_FRAME)
                abort();
            for (unsigned b = 0; b < LV_NET_HDR_LEN; b++)
                if (h->frame[b])
                    abort(); /* the guest's header must not reach the kernel */
            h->sent[i]++;
        }
    }
}

/* Serves the I/O thread's pending events; 1 when the VM must stop. */
static int poll_devices(struct harness *h)
{
    for (int k = 0; k < 4; k++) {
        struct lv_err err = {""};
        int rc = lv_devices_poll(h->vm, 0, &err);
        if (rc < 0) {
            if ((rc != -EINVAL && rc != -EFAULT) || !err.msg[0])
                abort();
            return 1;
        }
        if (rc > 0)
            abort(); /* nobody asked the I/O thread to stop */
    }
    drain_taps(h);
    return 0;
}

static int do_exit(struct harness *h)
{
    int rc = lv_vcpu_handle_exit(h->vm);

    if (rc != 0 && rc != 1)
        abort();
    if (rc && !h->vm->result.msg[0])
        abort();
    return rc;
}

/* NIC (nic)'s device and boot info entry. */
static const struct lv_dev *nic_dev(struct harness *h, unsigned nic)
{
    return &h->vm->devs.dev[h->vm->nic_dev[nic]];
}

static const struct lv_device *nic_info(struct harness *h, unsigned nic)
{
    return &h->vm->devs.info[h->vm->nic_dev[nic]];
}

static void kick(struct harness *h, unsigned nic, unsigned q)
{
    const struct lv_dev *d = nic_dev(h, nic);
    uint64_t one = 1;

    if (write(d->ops->kick_fd(d->priv, q), &one, sizeof(one)) < 0) {
        /* a saturated counter: a kick is pending anyway */
    }
}

/* The driver's side: a chain of 1..4 buffers on queue (q) of a NIC,
 * made available and kicked. */
static int post(struct harness *h, struct input *in)
{
    unsigned nic = (unsigned)get(in, 1) % h->vm->nnics, q = (unsigned)get(in, 1);
    const struct lv_dev_queue *dq = &nic_info(h, nic)->q[q & 1];
    unsigned nseg = 1 + (unsigned)get(in, 1) % 4, flip = q & 2;
    struct lv_virtq_avail *avail = lv_mem_ptr(&h->vm->mem, dq->avail_gpa, 4 + 2u * dq->size);
    struct lv_virtq_desc *desc = lv_mem_ptr(&h->vm->mem, dq->desc_gpa, 16u * dq->size);
    uint16_t idx = __atomic_load_n(&avail->idx, __ATOMIC_RELAXED);
    uint16_t head = (uint16_t)((idx * 4u) % dq->size);
    for (unsigned j = 0; j < nseg; j++) {
        uint16_t d = (uint16_t)((head + j) % dq->size);
        uint32_t len = (uint32_t)get(in, 2) % BUF_SLOT;
        uint64_t gpa = BUF_GPA + ((idx * 4u + j) % 32u) * BUF_SLOT;
        int writable = ((q & 1) == LV_VNET_RXQ) != (flip != 0);

        desc[d].addr = gpa;
        desc[d].len = len;
        desc[d].flags = (uint16_t)((writable ? LV_VIRTQ_DESC_F_WRITE : 0) |
                                   (j + 1 < nseg ? LV_VIRTQ_DESC_F_NEXT : 0));
        desc[d].next = (uint16_t)((d + 1) % dq->size);
        if (q & 4) { /* a driver that gets its descriptors wrong */
            desc[d].flags = (uint16_t)get(in, 1);
            desc[d].next = (uint16_t)get(in, 2);
        }
        if (!writable) { /* a frame: a zero header, then bytes of the input */
            uint32_t skip = j ? 0 : len < LV_NET_HDR_LEN ? len : LV_NET_HDR_LEN;
            size_t n = len - skip < in->n ? len - skip : in->n;
            memset(h->ram + gpa, 0, len);
            memcpy(h->ram + gpa + skip, in->p, n);
            in->p += n;
            in->n -= n;
        }
    }
    avail->ring[idx % dq->size] = head;
    __atomic_store_n(&avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
    kick(h, nic, q & 1);
    return poll_devices(h);
}

/* A frame from the network on a NIC's tap. */
static int tap_send(struct harness *h, struct input *in)
{
    unsigned nic = (unsigned)get(in, 1) % h->vm->nnics;
    size_t len = (size_t)get(in, 2) % sizeof(h->frame), n = len < in->n ? len : in->n;

    memset(h->frame, 0, len);
    memcpy(h->frame, in->p, n);
    in->p += n;
    in->n -= n;
    if (send(h->peer[nic], h->frame, len, MSG_DONTWAIT) < 0) {
        /* the tap's queue is full: the network drops it */
    }
    return poll_devices(h);
}

/* A port I/O exit: the host calls (argument struct in RAM) or anything. */
static int port_io(struct harness *h, struct input *in, int hostcall)
{
    static const uint16_t ports[] = {LV_PORT_CONSOLE, LV_PORT_EXIT, LV_PORT_MARK,
                                     LV_PVM_DOORBELL_PORT};
    unsigned sel = (unsigned)get(in, 1);
    uint32_t val = (uint32_t)get(in, 4);
    uint64_t off = 4096;

    memset(h->run, 0, sizeof(*h->run));
    h->run->exit_reason = KVM_EXIT_IO;
    h->run->io.direction = KVM_EXIT_IO_OUT;
    h->run->io.size = 4;
    h->run->io.count = 1;
    h->run->io.port = ports[sel % 4];
    if (hostcall) { /* the argument struct at (val), its fields from the input */
        uint64_t a[2] = {get(in, 8), get(in, 8)};
        val %= RAM;
        if (sel & 4) { /* a buffer inside RAM and a short length */
            a[0] %= RAM;
            a[1] %= 4096;
        }
        if (val + sizeof(a) <= RAM)
            memcpy(h->ram + val, a, sizeof(a));
    } else {
        if (sel & 4)
            h->run->io.port = (uint16_t)get(in, 2);
        if (sel & 8)
            h->run->io.direction = KVM_EXIT_IO_IN;
        if (sel & 16)
            h->run->io.size = (uint8_t)get(in, 1);
        if (sel & 32)
            h->run->io.count = (uint32_t)get(in, 4);
        if (sel & 64)
            off = get(in, 8);
    }
    h->run->io.data_offset = off;
    if (off <= RUN_SIZE - 4)
        memcpy((uint8_t *)h->run + off, &val, 4);
    return do_exit(h);
}

/* An MMIO exit: a NIC's register page, or an address outside every
 * device. */
static int mmio(struct harness *h, struct input *in)
{
    unsigned sel = (unsigned)get(in, 1);
    uint64_t off = get(in, 2) & 0xfff;

    memset(h->run, 0, sizeof(*h->run));
    h->run->exit_reason = KVM_EXIT_MMIO;
    h->run->mmio.phys_addr = LV_GPA_MMIO_BASE + (uint64_t)(sel % 4) * LV_PAGE_SIZE + off;
    if (sel & 4)
        h->run->mmio.phys_addr = get(in, 8);
    h->run->mmio.len = (sel & 8) ? (uint32_t)get(in, 4) : 4;
    h->run->mmio.is_write = (sel >> 4) & 1;
    memcpy(h->run->mmio.data, in->p, in->n < 8 ? in->n : 8);
    get(in, 8);
    return do_exit(h);
}

/* Any other exit reason, with the input in the rest of kvm_run. */
static int other_exit(struct harness *h, struct input *in)
{
    size_t n = in->n < 64 ? in->n : 64;

    memset(h->run, 0, sizeof(*h->run));
    memcpy(&h->run->hw, in->p, n);
    in->p += n;
    in->n -= n;
    h->run->exit_reason = (uint32_t)get(in, 1);
    return do_exit(h);
}

/* A guest address: anywhere in RAM, or (odd selector) inside the
 * descriptor table, driver or device area of one of the NICs' queues. */
static uint32_t ram_target(struct harness *h, struct input *in)
{
    unsigned sel = (unsigned)get(in, 1);
    uint32_t off = (uint32_t)get(in, 4);
    const struct lv_dev_queue *dq;
    uint64_t base, len;

    if (!(sel & 1) || !h->vm->nnics)
        return off % RAM;
    dq = &nic_info(h, (sel >> 1) % h->vm->nnics)->q[(sel >> 2) & 1];
    switch ((sel >> 3) % 3) {
    case 0:
        base = dq->desc_gpa;
        len = LV_VQ_DESC_BYTES(dq->size);
        break;
    case 1:
        base = dq->avail_gpa;
        len = LV_VQ_AVAIL_BYTES(dq->size);
        break;
    default:
        base = dq->used_gpa;
        len = LV_VQ_USED_BYTES(dq->size);
    }
    return (uint32_t)(base + off % len);
}

static int step(struct harness *h, struct input *in)
{
    unsigned op = (unsigned)get(in, 1) % 8;
    uint32_t gpa;
    size_t n;

    if (!h->vm->nnics && op < 3) /* no NIC: an exit instead */
        op += 4;
    switch (op) {
    case 0:
        return post(h, in);
    case 1:
        return tap_send(h, in);
    case 2:
        kick(h, (unsigned)get(in, 1) % h->vm->nnics, (unsigned)get(in, 1) & 1);
        return poll_devices(h);
    case 3: /* the guest writes its RAM: anywhere, or inside a queue's rings */
        gpa = ram_target(h, in);
        n = (size_t)get(in, 1);
        n = n < in->n ? n : in->n;
        n = n < RAM - gpa ? n : RAM - gpa;
        memcpy(h->ram + gpa, in->p, n);
        in->p += n;
        in->n -= n;
        return 0;
    case 4:
        return port_io(h, in, 1);
    case 5:
        return port_io(h, in, 0);
    case 6:
        return mmio(h, in);
    default:
        return other_exit(h, in);
    }
}

static void setup(struct harness *h, struct lv_vm_config *cfg, struct lv_vm_nic *nics,
                  int (*tap)[2])
{
    struct lv_err err = {""};

    for (unsigned i = 0; i < cfg->nnics; i++) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, tap[i]) < 0)
            abort();
        memset(&nics[i], 0, sizeof(nics[i]));
        nics[i].tap_fd = tap[i][0];
        nics[i].mac[0] = 2;
        nics[i].mac[5] = (uint8_t)(i + 1);
        h->peer[i] = tap[i][1];
    }
    cfg->nics = nics;
    if (lv_devices_setup(h->vm, cfg, &err) < 0)
        abort(); /* a valid configuration */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram[RAM] __attribute__((aligned(4096)));
    static uint8_t run[RUN_SIZE] __attribute__((aligned(4096)));
    static struct lv_vm vm;
    static int console = -1;
    struct harness h = {.vm = &vm, .ram = ram, .run = (struct kvm_run *)run};
    struct lv_vm_nic nics[2];
    int tap[2][2];
    struct lv_vm_config cfg = {.mem_size = RAM};
    struct input in = {data, size};

    if (console < 0 && (console = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        abort();
    memset(ram, 0, sizeof(ram));
    memset(run, 0, sizeof(run));
    memset(&vm, 0, sizeof(vm));
    h.kvm.fd = -1;
    h.kvm.vcpu_mmap_size = RUN_SIZE;
    vm.kvm = &h.kvm;
    vm.vm_fd = vm.vcpu_fd = vm.done_fd = vm.epfd = vm.io_stop_fd = -1;
    vm.run = h.run;
    vm.mem = (struct lv_mem){.fd = -1, .base = ram, .size = RAM};
    vm.console_fd = console;
    pthread_mutex_init(&vm.fail_lock, NULL);
    pthread_mutex_init(&vm.run_lock, NULL);
    pthread_cond_init(&vm.run_cond, NULL);
    cfg.nnics = (unsigned)get(&in, 1) % 3;
    setup(&h, &cfg, nics, tap);

    for (int k = 0; k < MAX_OPS && in.n; k++)
        if (step(&h, &in))
            break;

    drain_taps(&h);
    for (unsigned i = 0; i < vm.nnics; i++) {
        struct lv_vnet_stats st;
        if (lv_vm_nic_stats(&vm, i, &st) < 0 || st.tx_frames != h.sent[i])
            abort(); /* every frame counted as sent reached the tap, once */
    }
    lv_devices_destroy(&vm);
    for (unsigned i = 0; i < cfg.nnics; i++) {
        close(tap[i][0]);
        close(tap[i][1]);
    }
    pthread_mutex_destroy(&vm.fail_lock);
    pthread_mutex_destroy(&vm.run_lock);
    pthread_cond_destroy(&vm.run_cond);
    return 0;
}
