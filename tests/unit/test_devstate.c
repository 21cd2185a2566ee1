/* test_devstate.c: a VM's devices save and restore their state
 * (lib/core/devices.c, the virtio-net, virtio-mmio and virtqueue layers
 * under it), without KVM: VMs whose devices are set up by
 * lv_devices_setup, guest RAM from lv_mem_open, a SOCK_SEQPACKET
 * socketpair in place of each tap (one frame per read or write, like a
 * tap), the driver's side played here through the registers and the
 * rings, the I/O thread's work done by lv_devices_poll (or the real
 * thread in test_quiesce).
 *
 * Checked: a device saved in a known state (a driver's own handshake,
 * frames both ways, a receive buffer held, a transmit frame made
 * available without a kick) and restored into a second VM carries on: the
 * pending frame goes out on resume, one interrupt comes, the next frame
 * lands in the next receive buffer; the MAC policy; every field of the
 * blob out of range, truncation, a wrong version, count or type is
 * refused with a message naming it and nothing changed; a save or a
 * restore while the I/O thread runs is refused, and quiesce parks it.
 *
 * LIGHTVM_DEVSTATE_SEEDS=DIR writes the saved states as seeds of
 * fuzz_devstate (its input: set-up, the rings' indices, the state). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/core/vm_impl.h"
#include "lvtest.h"

#define MEM (1u << 20)
#define QSIZE 64u          /* the driver's queue size (the device offers 256) */
#define RXQ_GPA 0x20000u   /* the driver's rings */
#define TXQ_GPA 0x30000u
#define BUF_GPA 0x40000u   /* buffer i at BUF_GPA + i * BUF_LEN */
#define BUF_LEN 2048u
#define HDR LV_NET_HDR_LEN

/* The documented layout (lv_devices_save, virtio_net.h, virtio.h):
 * offsets into a one-device state. */
#define O_VERSION 0
#define O_COUNT 1
#define O_TYPE 2
#define O_LEN 6
#define O_NET 10
#define O_MAC (O_NET + 1)
#define O_MTU (O_NET + 7)
#define O_NSTATUS (O_NET + 9)
#define O_MMIO (O_NET + 11)
#define O_NQ (O_MMIO + 1)
#define O_STATUS (O_MMIO + 2)
#define O_DEVF (O_MMIO + 6)
#define O_DRVF (O_MMIO + 14)
#define O_INT (O_MMIO + 34)
#define O_Q(q) (O_MMIO + 42 + 36 * (q))
#define O_QNUM(q) O_Q(q)
#define O_QREADY(q) (O_Q(q) + 2)
#define O_QKICK(q) (O_Q(q) + 3)
#define O_QDESC(q) (O_Q(q) + 4)
#define O_QDRIVER(q) (O_Q(q) + 12)
#define O_VQ(q) (O_Q(q) + 28)
#define O_LAST(q) (O_VQ(q) + 1)
#define O_USED(q) (O_VQ(q) + 3)
#define O_SIG(q) (O_VQ(q) + 5)
#define O_FLAGS(q) (O_VQ(q) + 7)
#define STATE_LEN O_Q(2)

static struct lv_err err;

struct fx {
    struct lv_vm *vm;
    unsigned n;
    int tap[2], peer[2];
};

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A VM with (n) NICs, MAC 02:00:00:00:i:(mac) (0: no MAC, a shell's). */
static void fx_open(struct fx *f, unsigned n, uint8_t mac)
{
    struct lv_vm_config cfg = {.mem_size = MEM, .nnics = n};
    struct lv_vm_nic nics[2];
    pthread_condattr_t ca;
    struct lv_vm *vm;
    int sp[2];

    memset(f, 0, sizeof(*f));
    f->vm = vm = calloc(1, sizeof(*vm));
    if (!vm || lv_mem_open(&vm->mem, MEM, &err)) {
        fprintf(stderr, "test_devstate: out of memory: %s\n", err.msg);
        exit(1);
    }
    vm->vm_fd = vm->vcpu_fd = vm->done_fd = vm->epfd = vm->io_stop_fd = -1;
    pthread_mutex_init(&vm->fail_lock, NULL);
    pthread_mutex_init(&vm->run_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* as lv_vm_create */
    pthread_cond_init(&vm->run_cond, &ca);
    pthread_condattr_destroy(&ca);
    f->n = n;
    for (unsigned i = 0; i < n; i++) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) {
            perror("socketpair");
            exit(1);
        }
        f->tap[i] = sp[0];
        f->peer[i] = sp[1];
        memset(&nics[i], 0, sizeof(nics[i]));
        nics[i].tap_fd = sp[0];
        if (mac) {
            nics[i].mac[0] = 2;
            nics[i].mac[4] = (uint8_t)i;
            nics[i].mac[5] = mac;
        }
    }
    cfg.nics = nics;
    if (lv_devices_setup(vm, &cfg, &err)) {
        fprintf(stderr, "test_devstate: lv_devices_setup: %s\n", err.msg);
        exit(1);
    }
}

static void fx_close(struct fx *f)
{
    struct lv_vm *vm = f->vm;

    lv_devices_destroy(vm);
    lv_mem_close(&vm->mem);
    for (unsigned i = 0; i < f->n; i++) {
        close(f->tap[i]);
        close(f->peer[i]);
    }
    pthread_mutex_destroy(&vm->fail_lock);
    pthread_mutex_destroy(&vm->run_lock);
    pthread_cond_destroy(&vm->run_cond);
    free(vm);
}

static const struct lv_dev *dev(struct fx *f, unsigned i)
{
    return &f->vm->devs.dev[i];
}

static void wr(struct fx *f, unsigned i, uint64_t off, uint32_t v)
{
    int rc = dev(f, i)->ops->mmio_write(dev(f, i)->priv, off, &v, 4, &err);
    CHECK(rc == 0, "write 0x%x to 0x%llx: %s", v, (unsigned long long)off, err.msg);
}

static uint32_t rd(struct fx *f, unsigned i, uint64_t off)
{
    uint32_t v = 0xdeadbeef;
    int rc = dev(f, i)->ops->mmio_read(dev(f, i)->priv, off, &v, 4, &err);
    CHECK(rc == 0, "read 0x%llx: %s", (unsigned long long)off, err.msg);
    return v;
}

/* The driver's queue (q) of QSIZE entries at (gpa): desc, avail at +0x1000,
 * used at +0x2000. */
static void setup_vq(struct fx *f, unsigned q, uint64_t gpa)
{
    wr(f, 0, LV_VIRTIO_MMIO_QUEUE_SEL, q);
    wr(f, 0, LV_VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    wr(f, 0, LV_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)gpa);
    wr(f, 0, LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)gpa + 0x1000);
    wr(f, 0, LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)gpa + 0x2000);
    wr(f, 0, LV_VIRTIO_MMIO_QUEUE_READY, 1);
}

/* A Linux-style driver takes NIC 0 over: reset, its own features and rings. */
static void handshake(struct fx *f)
{
    const uint64_t feat = LV_VIRTIO_F_VERSION_1 | LV_VIRTIO_F_EVENT_IDX | LV_VIRTIO_NET_F_MAC;

    wr(f, 0, LV_VIRTIO_MMIO_STATUS, 0);
    wr(f, 0, LV_VIRTIO_MMIO_STATUS, 3);
    wr(f, 0, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, 0, LV_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    wr(f, 0, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, 0, LV_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    wr(f, 0, LV_VIRTIO_MMIO_STATUS, 0xb);
    setup_vq(f, LV_VNET_RXQ, RXQ_GPA);
    setup_vq(f, LV_VNET_TXQ, TXQ_GPA);
    wr(f, 0, LV_VIRTIO_MMIO_STATUS, 0xf);
    CHECK(rd(f, 0, LV_VIRTIO_MMIO_STATUS) == 0xf, "driver handshake done");
}

static uint8_t *ram(struct fx *f, uint64_t gpa, uint64_t len)
{
    uint8_t *p = lv_mem_ptr(&f->vm->mem, gpa, len);

    if (!p) {
        fprintf(stderr, "test_devstate: 0x%llx outside RAM\n", (unsigned long long)gpa);
        exit(1);
    }
    return p;
}

static struct lv_virtq_avail *avail(struct fx *f, uint64_t qgpa)
{
    return (void *)ram(f, qgpa + 0x1000, LV_VQ_AVAIL_BYTES(QSIZE));
}

static struct lv_virtq_used *used(struct fx *f, uint64_t qgpa)
{
    return (void *)ram(f, qgpa + 0x2000, LV_VQ_USED_BYTES(QSIZE));
}

/* Makes buffer (id) available on the queue at (qgpa); for transmit it
 * holds a zero header and (payload). No kick. */
static void post(struct fx *f, uint64_t qgpa, uint16_t id, const char *payload)
{
    struct lv_virtq_desc *d = (void *)ram(f, qgpa + 16u * id, 16);
    struct lv_virtq_avail *a = avail(f, qgpa);
    uint16_t idx = a->idx;
    uint64_t buf = BUF_GPA + (uint64_t)id * BUF_LEN;

    d->addr = buf;
    d->len = payload ? HDR + (uint32_t)strlen(payload) : BUF_LEN;
    d->flags = payload ? 0 : LV_VIRTQ_DESC_F_WRITE;
    d->next = 0;
    if (payload) {
        memset(ram(f, buf, HDR), 0, HDR);
        memcpy(ram(f, buf + HDR, strlen(payload)), payload, strlen(payload));
    }
    a->ring[idx % QSIZE] = id;
    __atomic_store_n(&a->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* What an ioeventfd does for a guest's QueueNotify write. */
static void kick(struct fx *f, unsigned q)
{
    uint64_t one = 1;

    CHECK(write(dev(f, 0)->ops->kick_fd(dev(f, 0)->priv, q), &one, 8) == 8, "kick");
}

static void serve(struct fx *f)
{
    for (int k = 0; k < 4; k++) {
        int rc = lv_devices_poll(f->vm, 0, &err);
        CHECK(rc == 0, "poll: %d %s", rc, err.msg);
    }
}

/* A frame from the network. */
static void net_send(struct fx *f, const char *payload)
{
    uint8_t b[256] = {0};

    memcpy(b + HDR, payload, strlen(payload));
    CHECK(send(f->peer[0], b, HDR + strlen(payload), 0) == (ssize_t)(HDR + strlen(payload)),
          "send");
}

/* The next frame the guest sent: 1 when it is (payload). */
static int net_got(struct fx *f, const char *payload)
{
    uint8_t b[256];
    ssize_t r = recv(f->peer[0], b, sizeof(b), 0);

    return r == (ssize_t)(HDR + strlen(payload)) && !memcmp(b + HDR, payload, strlen(payload));
}

/* Used entry (k) of the receive queue holds buffer (id) with (payload). */
static int rx_landed(struct fx *f, unsigned k, uint16_t id, const char *payload)
{
    struct lv_virtq_used *u = used(f, RXQ_GPA);
    const uint8_t *b = ram(f, BUF_GPA + (uint64_t)id * BUF_LEN, BUF_LEN);

    return u->idx == k + 1 && u->ring[k].id == id && u->ring[k].len == HDR + strlen(payload) &&
           !memcmp(b + HDR, payload, strlen(payload));
}

static uint64_t irqs(struct fx *f)
{
    uint64_t n = 0;

    if (read(dev(f, 0)->ops->irq_fd(dev(f, 0)->priv), &n, 8) != 8)
        return 0;
    return n;
}

static size_t save(struct fx *f, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    int rc = lv_devices_save(f->vm, buf, cap, &len, &err);

    CHECK(rc == 0, "save: %d %s", rc, err.msg);
    return len;
}

static void write_seed(const char *name, struct fx *f, const uint8_t *blob, size_t len)
{
    static const uint32_t idx_gpa[] = {RXQ_GPA + 0x1002, RXQ_GPA + 0x2002, TXQ_GPA + 0x1002,
                                       TXQ_GPA + 0x2002};
    const char *dir = getenv("LIGHTVM_DEVSTATE_SEEDS");
    uint8_t b[4096];
    char path[512];
    size_t n = 0;

    if (!dir || len + 2 + 4 * 6 > sizeof(b))
        return;
    /* fuzz_devstate's input: flags (bit 0: two NICs), the RAM writes (the
     * driver's rings' indices), then the state. */
    b[n++] = f->n == 2;
    b[n++] = 4;
    for (unsigned k = 0; k < 4; k++) {
        put_le(b + n, idx_gpa[k], 4);
        memcpy(b + n + 4, ram(f, idx_gpa[k], 2), 2);
        n += 6;
    }
    memcpy(b + n, blob, len);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CHECK(lvt_write_file(path, b, n + len) == 0, "seed %s", path);
}

/* VM (a) in a known state: NIC 0 driven by its own driver, receive
 * buffers 0..2 posted and a frame received into 0 (buffer 1 is then held
 * by the device), a frame sent, a second one made available unkicked. */
static void known_state(struct fx *a)
{
    handshake(a);
    for (uint16_t id = 0; id < 3; id++)
        post(a, RXQ_GPA, id, NULL);
    kick(a, LV_VNET_RXQ);
    serve(a);
    net_send(a, "first frame in");
    serve(a);
    CHECK(rx_landed(a, 0, 0, "first frame in"), "frame in buffer 0");
    post(a, TXQ_GPA, 10, "first frame out");
    kick(a, LV_VNET_TXQ);
    serve(a);
    CHECK(net_got(a, "first frame out"), "frame sent");
    post(a, TXQ_GPA, 11, "pending frame"); /* made available, not kicked */
    irqs(a);
}

static void test_roundtrip(void)
{
    uint8_t blob[1024], again[1024], b2[1024];
    size_t len, need = 0;
    struct fx a, b;
    uint32_t gen;

    fx_open(&a, 1, 1);
    known_state(&a);
    CHECK(lv_devices_save(a.vm, NULL, 0, &need, &err) == -ENOSPC && need == STATE_LEN,
          "size query: %zu (%s)", need, err.msg);
    CHECK(lv_devices_save(a.vm, blob, STATE_LEN - 1, &need, &err) == -ENOSPC, "short buffer");
    len = save(&a, blob, sizeof(blob));
    CHECK(len == STATE_LEN, "state is %zu bytes", len);
    CHECK(save(&a, again, sizeof(again)) == len && !memcmp(blob, again, len), "save is pure");
    CHECK(blob[O_VERSION] == 1 && blob[O_COUNT] == 1 && get_le(blob + O_TYPE, 4) == LV_DEV_NET &&
              get_le(blob + O_LEN, 4) == STATE_LEN - O_NET,
          "framing");
    CHECK(get_le(blob + O_STATUS, 4) == 0xf && get_le(blob + O_QNUM(0), 2) == QSIZE &&
              get_le(blob + O_QDESC(1), 8) == TXQ_GPA,
          "transport fields");
    CHECK(get_le(blob + O_LAST(0), 2) == 1 && get_le(blob + O_USED(0), 2) == 1,
          "receive: the held buffer is given back (last_avail %u)",
          (unsigned)get_le(blob + O_LAST(0), 2));
    CHECK(get_le(blob + O_LAST(1), 2) == 1 && blob[O_FLAGS(1)] & 1, "transmit progress");
    write_seed("roundtrip", &a, blob, len);

    /* A second VM with another MAC, the first one's RAM (a snapshot's). */
    fx_open(&b, 1, 2);
    memcpy(b.vm->mem.base, a.vm->mem.base, MEM);
    gen = rd(&a, 0, LV_VIRTIO_MMIO_CONFIG_GENERATION);
    CHECK(lv_devices_restore(b.vm, blob, len, &err) == 0, "restore: %s", err.msg);
    CHECK(rd(&b, 0, LV_VIRTIO_MMIO_STATUS) == 0xf, "status restored");
    wr(&b, 0, LV_VIRTIO_MMIO_QUEUE_SEL, 1);
    CHECK(rd(&b, 0, LV_VIRTIO_MMIO_QUEUE_READY) == 1, "queue 1 ready");
    {
        uint8_t mac[6];
        CHECK(dev(&b, 0)->ops->mmio_read(dev(&b, 0)->priv, LV_VIRTIO_MMIO_CONFIG + 4, mac, 2,
                                         &err) == 0 &&
                  mac[1] == 2,
              "the configuration's MAC wins (...:%02x)", mac[1]);
    }
    CHECK(rd(&b, 0, LV_VIRTIO_MMIO_CONFIG_GENERATION) == gen + 1 &&
              (rd(&b, 0, LV_VIRTIO_MMIO_INTERRUPT_STATUS) & LV_VIRTIO_INT_CONFIG),
          "a new MAC is a config change");

    /* Resume: the unkicked frame goes out, one interrupt, the held
     * buffer is taken again and the next frame lands in it. */
    CHECK(irqs(&b) == 0, "no interrupt before resume");
    CHECK(lv_devices_resume(b.vm, &err) == 0, "resume: %s", err.msg);
    serve(&b);
    CHECK(net_got(&b, "pending frame"), "the frame pending at save time went out");
    CHECK(used(&b, TXQ_GPA)->idx == 2 && used(&b, TXQ_GPA)->ring[1].id == 11, "transmit used 2");
    CHECK(irqs(&b) == 1, "one interrupt on resume");
    avail(&b, RXQ_GPA)->ring[QSIZE] = 1; /* used_event: interrupt after entry 1 */
    net_send(&b, "second frame in");
    serve(&b);
    CHECK(rx_landed(&b, 1, 1, "second frame in"), "the next frame lands in buffer 1, entry 1");
    CHECK(irqs(&b) == 1, "interrupt for it");
    /* And it saves again: the same transport, the progress moved on. */
    len = save(&b, b2, sizeof(b2));
    CHECK(get_le(b2 + O_USED(0), 2) == 2 && get_le(b2 + O_USED(1), 2) == 2, "moved on");
    fx_close(&b);

    /* A shell's NIC without a MAC takes the saved one, no config change. */
    fx_open(&b, 1, 0);
    memcpy(b.vm->mem.base, a.vm->mem.base, MEM);
    CHECK(lv_devices_restore(b.vm, blob, STATE_LEN, &err) == 0, "restore: %s", err.msg);
    {
        uint8_t mac[6];
        CHECK(dev(&b, 0)->ops->mmio_read(dev(&b, 0)->priv, LV_VIRTIO_MMIO_CONFIG + 4, mac, 2,
                                         &err) == 0 &&
                  mac[1] == 1,
              "the saved MAC (...:%02x)", mac[1]);
    }
    CHECK(rd(&b, 0, LV_VIRTIO_MMIO_CONFIG_GENERATION) == gen, "no config change");
    fx_close(&b);
    fx_close(&a);
}

struct bad {
    const char *what;
    unsigned off, bytes;
    uint64_t value;
    const char *want;
};

/* Each field out of range, one at a time, against (good). */
static const struct bad bads[] = {
    {"version", O_VERSION, 1, 2, "device state version 2"},
    {"count", O_COUNT, 1, 2, "of 2 devices for a VM with 1"},
    {"type", O_TYPE, 4, 7, "has type 7"},
    {"length", O_LEN, 4, STATE_LEN - O_NET + 1, "truncated"},
    {"length max", O_LEN, 4, 5000, "over the limit"},
    {"net version", O_NET, 1, 9, "virtio-net 0: virtio-net state version 9"},
    {"mac multicast", O_MAC, 1, 3, "not a unicast"},
    {"mtu", O_MTU, 2, 67, "MTU 67 below 68"},
    {"net status", O_NSTATUS, 2, 4, "status 0x4 has unknown bits"},
    {"mmio version", O_MMIO, 1, 0, "virtio-mmio state version 0"},
    {"queue count", O_NQ, 1, 3, "of 3 queues for a device with 2"},
    {"status bits", O_STATUS, 4, 0x4f, "unknown bits 0x40"},
    {"status order", O_STATUS, 4, 0x5, "skips a step"},
    {"device features", O_DEVF + 5, 1, 1, "does not offer"},
    {"driver features", O_DRVF + 4, 1, 0, "DriverFeatures"},
    {"interrupt status", O_INT, 4, 4, "InterruptStatus 0x4"},
    {"queue size", O_QNUM(0), 2, 100, "queue 0: QueueNum 100"},
    {"queue size max", O_QNUM(1), 2, 512, "queue 1: QueueNum 512"},
    {"queue size 0", O_QNUM(0), 2, 0, "ready with QueueNum 0"},
    {"ready", O_QREADY(0), 1, 2, "QueueReady 2"},
    {"kick pending", O_QKICK(1), 1, 1, "a kick pending while DRIVER_OK"},
    {"desc alignment", O_QDESC(0), 8, RXQ_GPA + 8, "not 16-byte aligned"},
    {"driver area", O_QDRIVER(1), 8, MEM - 4, "outside guest RAM"},
    {"driver area wraps", O_QDRIVER(1), 8, ~0ull - 1, "outside guest RAM"},
    {"vq version", O_VQ(0), 1, 3, "virtqueue state version 3"},
    {"last_avail", O_LAST(0), 2, 2, "differ"},
    {"signalled_used", O_SIG(0), 2, 0xff00, "signalled_used"},
    {"event_idx", O_FLAGS(1), 1, 2, "event_idx 0 but the driver features say 1"},
    {"vq flags", O_FLAGS(0), 1, 0x83, "unknown bits"},
};

static void expect_refused(struct fx *c, const uint8_t *blob, size_t len, const char *what,
                           const char *want)
{
    uint8_t before[1024], after[1024];
    size_t n1, n2;
    int rc;

    n1 = save(c, before, sizeof(before));
    memset(&err, 0, sizeof(err));
    rc = lv_devices_restore(c->vm, blob, len, &err);
    CHECK(rc == -EINVAL || rc == -EFAULT, "%s: refused (%d)", what, rc);
    CHECK(err.msg[0] && (!want || strstr(err.msg, want)), "%s: message '%s', want '%s'", what,
          err.msg, want ? want : "any");
    n2 = save(c, after, sizeof(after));
    CHECK(n1 == n2 && !memcmp(before, after, n1), "%s: the devices changed", what);
}

static void test_refused(void)
{
    uint8_t good[1024], bad[1100];
    size_t len;
    struct fx a, c;

    fx_open(&a, 1, 1);
    known_state(&a);
    len = save(&a, good, sizeof(good));
    fx_open(&c, 1, 2);
    memcpy(c.vm->mem.base, a.vm->mem.base, MEM);
    for (size_t k = 0; k < sizeof(bads) / sizeof(bads[0]); k++) {
        memcpy(bad, good, len);
        put_le(bad + bads[k].off, bads[k].value, bads[k].bytes);
        expect_refused(&c, bad, len, bads[k].what, bads[k].want);
    }
    /* Indices against the rings: consistent fields, a RAM that disagrees. */
    memcpy(bad, good, len);
    put_le(bad + O_LAST(0), 5, 2);
    put_le(bad + O_USED(0), 5, 2);
    expect_refused(&c, bad, len, "used idx vs ring", "the used ring in guest RAM says 1");
    used(&c, RXQ_GPA)->idx = 5;
    avail(&c, RXQ_GPA)->idx = 5 + QSIZE + 1;
    expect_refused(&c, bad, len, "avail idx vs ring", "more than the queue size 64 ahead");
    memcpy(c.vm->mem.base, a.vm->mem.base, MEM);
    /* A queue not ready with progress, and one not ready but needing it. */
    memcpy(bad, good, len);
    bad[O_QREADY(1)] = 0;
    expect_refused(&c, bad, len, "progress of a queue not ready", "not ready");
    /* Every truncation, a byte too many. */
    for (size_t n = 0; n < len; n++)
        expect_refused(&c, good, n, "truncated", NULL);
    memcpy(bad, good, len);
    bad[len] = 0;
    expect_refused(&c, bad, len + 1, "trailing byte", "after the last device");
    /* The good one still goes in. */
    CHECK(lv_devices_restore(c.vm, good, len, &err) == 0, "good state: %s", err.msg);
    fx_close(&c);
    fx_close(&a);
}

/* Two devices: device 1's blob is bad, so device 0 is not restored either. */
static void test_two_devices(void)
{
    uint8_t good[2048], bad[2048];
    size_t len;
    struct fx a, c;

    fx_open(&a, 2, 1);
    known_state(&a);
    len = save(&a, good, sizeof(good));
    CHECK(len == 2 + 2 * (STATE_LEN - 2), "two devices: %zu bytes", len);
    write_seed("two_nics", &a, good, len);
    fx_open(&c, 2, 2);
    memcpy(c.vm->mem.base, a.vm->mem.base, MEM);
    memcpy(bad, good, len);
    put_le(bad + STATE_LEN + 8 + (O_MTU - O_NET), 1, 2); /* device 1's MTU */
    expect_refused(&c, bad, len, "device 1 bad", "virtio-net 1: virtio-net state: MTU 1");
    /* A one-device state for two devices, and the other way round. */
    memcpy(bad, good, len);
    bad[O_COUNT] = 1;
    expect_refused(&c, bad, STATE_LEN, "count 1 of 2", "of 1 devices for a VM with 2");
    CHECK(lv_devices_restore(c.vm, good, len, &err) == 0, "good: %s", err.msg);
    fx_close(&c);
    fx_close(&a);
}

/* The real I/O thread: a save or a restore is refused while it runs;
 * quiesce parks it; resume is served once it goes on. */
static void test_quiesce(void)
{
    uint8_t blob[1024];
    struct pollfd pf;
    size_t len;
    struct fx a, b;
    int rc;

    fx_open(&a, 1, 1);
    known_state(&a);
    CHECK(lv_devices_start(a.vm, &err) == 0, "I/O thread: %s", err.msg);
    rc = lv_devices_save(a.vm, blob, sizeof(blob), &len, &err);
    CHECK(rc == -EBUSY && strstr(err.msg, "quiesce"), "save while it runs: %d %s", rc, err.msg);
    CHECK(lv_devices_quiesce(a.vm, &err) == 0, "quiesce: %s", err.msg);
    CHECK(lv_devices_quiesce(a.vm, &err) == -EALREADY, "quiesce twice");
    len = save(&a, blob, sizeof(blob));
    lv_devices_unquiesce(a.vm);
    lv_devices_stop(a.vm);

    /* Quiesced before its I/O thread starts (a shell being restored). */
    fx_open(&b, 1, 2);
    memcpy(b.vm->mem.base, a.vm->mem.base, MEM);
    CHECK(lv_devices_start(b.vm, &err) == 0, "I/O thread: %s", err.msg);
    rc = lv_devices_restore(b.vm, blob, len, &err);
    CHECK(rc == -EBUSY, "restore while it runs: %d %s", rc, err.msg);
    CHECK(lv_devices_quiesce(b.vm, &err) == 0, "quiesce: %s", err.msg);
    CHECK(lv_devices_restore(b.vm, blob, len, &err) == 0, "restore: %s", err.msg);
    CHECK(lv_devices_resume(b.vm, &err) == 0, "resume: %s", err.msg);
    lv_devices_unquiesce(b.vm);
    pf.fd = b.peer[0];
    pf.events = POLLIN;
    CHECK(poll(&pf, 1, 10000) == 1 && net_got(&b, "pending frame"),
          "the I/O thread served the resume");
    lv_devices_stop(b.vm);
    fx_close(&b);

    fx_open(&b, 1, 2);
    CHECK(lv_devices_quiesce(b.vm, &err) == 0, "quiesce before start: %s", err.msg);
    CHECK(lv_devices_start(b.vm, &err) == 0, "start parks: %s", err.msg);
    CHECK(save(&b, blob, sizeof(blob)) == STATE_LEN, "save of a parked shell");
    write_seed("preset", &b, blob, STATE_LEN);
    lv_devices_unquiesce(b.vm);
    lv_devices_stop(b.vm);
    fx_close(&b);
    fx_close(&a);
}

int main(void)
{
    test_roundtrip();
    test_refused();
    test_two_devices();
    test_quiesce();
    return lvt_done("test_devstate");
}
