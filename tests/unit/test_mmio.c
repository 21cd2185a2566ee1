/* test_mmio.c: the virtio-mmio register state machine driven the way
 * Linux's virtio_mmio probe drives it, on a dummy device that records
 * every call; wrong widths and out-of-state accesses refused; reset. */
#include <errno.h>
#include <string.h>

#include "lightvm/virtio.h"
#include "lvtest.h"

#define MEM (1u << 20)
#define QMAX 256
#define DEV_FEATURE_MAC (1ull << 5)

struct dummy {
    uint8_t config[16];
    int config_reads, config_writes, resets, ready_calls, notifies;
    unsigned last_ready_q, last_notify_q;
    struct lv_vq *ready_vq[2];
    int fail_ready; /* queue_ready returns this */
};

static int d_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
    struct dummy *d = dev;
    d->config_reads++;
    memcpy(buf, d->config + off, len);
    return 0;
}

static int d_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
    struct dummy *d = dev;
    d->config_writes++;
    memcpy(d->config + off, buf, len);
    return 0;
}

static int d_queue_ready(void *dev, unsigned q, struct lv_vq *vq)
{
    struct dummy *d = dev;
    d->ready_calls++;
    d->last_ready_q = q;
    if (d->fail_ready)
        return d->fail_ready;
    if (q < 2)
        d->ready_vq[q] = vq;
    return 0;
}

static void d_notify(void *dev, unsigned q)
{
    struct dummy *d = dev;
    d->notifies++;
    d->last_notify_q = q;
}

static void d_reset(void *dev)
{
    struct dummy *d = dev;
    d->resets++;
    d->ready_vq[0] = d->ready_vq[1] = NULL;
}

static const struct lv_virtio_dev_ops dummy_ops = {
    d_config_read, d_config_write, d_queue_ready, d_notify, d_reset,
};

static struct lv_err err;

static uint32_t rd(struct lv_virtio_mmio *m, uint64_t off)
{
    uint32_t v = 0xdeadbeef;
    int rc = lv_virtio_mmio_read(m, off, &v, 4, &err);
    CHECK(rc == 0, "read 0x%llx: %d %s", (unsigned long long)off, rc, err.msg);
    return v;
}

static int wr_rc(struct lv_virtio_mmio *m, uint64_t off, uint32_t v)
{
    memset(&err, 0, sizeof(err));
    return lv_virtio_mmio_write(m, off, &v, 4, &err);
}

static void wr(struct lv_virtio_mmio *m, uint64_t off, uint32_t v)
{
    int rc = wr_rc(m, off, v);
    CHECK(rc == 0, "write 0x%x to 0x%llx: %d %s", v, (unsigned long long)off, rc, err.msg);
}

/* Expects (rc) to be -EINVAL-ish (want_rc) with (want) in the message. */
#define REFUSED(rc, want_rc, want)                                                        \
    CHECK((rc) == (want_rc) && strstr(err.msg, (want)), "rc %d msg '%s' want '%s'", (rc), \
          err.msg, (want))

static void setup(struct lv_virtio_mmio *m, struct dummy *d, const struct lv_mem *mem)
{
    struct lv_virtio_mmio_params p = {
        .device_id = 1, .vendor_id = 0x4c56, .features = DEV_FEATURE_MAC | LV_VIRTIO_F_EVENT_IDX,
        .nqueues = 2, .queue_num_max = QMAX, .max_chain_len = 65548, .config_len = 16,
        .ops = &dummy_ops, .dev = d, .mem = mem,
    };
    memset(d, 0, sizeof(*d));
    for (unsigned i = 0; i < sizeof(d->config); i++)
        d->config[i] = (uint8_t)(0x10 + i);
    CHECK(lv_virtio_mmio_init(m, &p, &err) == 0, "init: %s", err.msg);
}

/* Linux: vm_setup_vq() for queue (q) of (num) entries at (base). */
static void linux_setup_vq(struct lv_virtio_mmio *m, unsigned q, uint32_t num, uint64_t base)
{
    wr(m, LV_VIRTIO_MMIO_QUEUE_SEL, q);
    CHECK(rd(m, LV_VIRTIO_MMIO_QUEUE_READY) == 0, "queue %u not yet ready", q);
    CHECK(rd(m, LV_VIRTIO_MMIO_QUEUE_NUM_MAX) == QMAX, "queue %u num max", q);
    wr(m, LV_VIRTIO_MMIO_QUEUE_NUM, num);
    wr(m, LV_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
    wr(m, LV_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(base >> 32));
    wr(m, LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 0x1000));
    wr(m, LV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    wr(m, LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 0x2000));
    wr(m, LV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    wr(m, LV_VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK(rd(m, LV_VIRTIO_MMIO_QUEUE_READY) == 1, "queue %u ready", q);
}

/* Linux: probe, reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK. */
static void linux_negotiate(struct lv_virtio_mmio *m, uint64_t want)
{
    uint64_t features;

    CHECK(rd(m, LV_VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976, "magic");
    CHECK(rd(m, LV_VIRTIO_MMIO_VERSION_REG) == 2, "version 2");
    CHECK(rd(m, LV_VIRTIO_MMIO_DEVICE_ID) == 1, "device id");
    CHECK(rd(m, LV_VIRTIO_MMIO_VENDOR_ID) == 0x4c56, "vendor id");
    wr(m, LV_VIRTIO_MMIO_STATUS, 0);
    CHECK(rd(m, LV_VIRTIO_MMIO_STATUS) == 0, "reset done");
    wr(m, LV_VIRTIO_MMIO_STATUS, LV_VIRTIO_STATUS_ACKNOWLEDGE);
    wr(m, LV_VIRTIO_MMIO_STATUS, LV_VIRTIO_STATUS_ACKNOWLEDGE | LV_VIRTIO_STATUS_DRIVER);
    wr(m, LV_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    features = (uint64_t)rd(m, LV_VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    wr(m, LV_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    features |= rd(m, LV_VIRTIO_MMIO_DEVICE_FEATURES);
    CHECK(features == (DEV_FEATURE_MAC | LV_VIRTIO_F_EVENT_IDX | LV_VIRTIO_F_VERSION_1),
          "device features 0x%llx", (unsigned long long)features);
    wr(m, LV_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    CHECK(rd(m, LV_VIRTIO_MMIO_DEVICE_FEATURES) == 0, "feature word 2 is 0");
    wr(m, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(m, LV_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
    wr(m, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(m, LV_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
    wr(m, LV_VIRTIO_MMIO_STATUS, 0xb);
}

static void test_linux_probe(const struct lv_mem *mem)
{
    struct lv_virtio_mmio m;
    struct dummy d;
    uint8_t b[8];
    uint32_t gen;
    uint64_t q;
    int rc;

    setup(&m, &d, mem);
    linux_negotiate(&m, DEV_FEATURE_MAC | LV_VIRTIO_F_EVENT_IDX | LV_VIRTIO_F_VERSION_1);
    CHECK(d.resets == 1, "reset op called once: %d", d.resets);
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0xb, "FEATURES_OK accepted");
    /* A kick before DRIVER_OK is held, delivered at DRIVER_OK. */
    linux_setup_vq(&m, 0, 128, 0x10000);
    linux_setup_vq(&m, 1, 256, 0x20000);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_SEL, 2);
    CHECK(rd(&m, LV_VIRTIO_MMIO_QUEUE_NUM_MAX) == 0, "no queue 2: num max 0");
    CHECK(rd(&m, LV_VIRTIO_MMIO_QUEUE_READY) == 0, "no queue 2: not ready");
    CHECK(d.ready_calls == 2 && d.ready_vq[0] == &m.q[0].vq && d.ready_vq[1] == &m.q[1].vq,
          "queue_ready for both queues");
    CHECK(m.q[0].vq.size == 128 && m.q[0].vq.event_idx && m.q[0].vq.desc_gpa == 0x10000 &&
              m.q[0].vq.avail_gpa == 0x11000 && m.q[0].vq.used_gpa == 0x12000,
          "vq 0 from the registers");
    CHECK(m.q[1].vq.size == 256 && m.q[1].vq.used == (void *)(mem->base + 0x22000), "vq 1");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    CHECK(d.notifies == 0, "no notify before DRIVER_OK");
    /* Config space with the generation protocol, all widths. */
    gen = rd(&m, LV_VIRTIO_MMIO_CONFIG_GENERATION);
    CHECK(lv_virtio_mmio_read(&m, 0x100, b, 1, &err) == 0 && b[0] == 0x10, "config u8");
    CHECK(lv_virtio_mmio_read(&m, 0x102, b, 2, &err) == 0 && b[0] == 0x12 && b[1] == 0x13,
          "config u16");
    CHECK(lv_virtio_mmio_read(&m, 0x104, b, 4, &err) == 0 && b[3] == 0x17, "config u32");
    CHECK(lv_virtio_mmio_read(&m, 0x108, b, 8, &err) == 0 && b[7] == 0x1f, "config u64");
    CHECK(rd(&m, LV_VIRTIO_MMIO_CONFIG_GENERATION) == gen, "generation stable");
    b[0] = 0x99;
    CHECK(lv_virtio_mmio_write(&m, 0x10c, b, 1, &err) == 0 && d.config[12] == 0x99,
          "config write");
    wr(&m, LV_VIRTIO_MMIO_STATUS, 0xf);
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0xf, "DRIVER_OK");
    CHECK(d.notifies == 1 && d.last_notify_q == 1, "held kick delivered");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    CHECK(d.notifies == 2 && d.last_notify_q == 0, "kick queue 0");
    /* Interrupts. */
    CHECK(rd(&m, LV_VIRTIO_MMIO_INTERRUPT_STATUS) == 0, "no interrupt yet");
    CHECK(lv_virtio_mmio_set_interrupt(&m, LV_VIRTIO_INT_VRING) == 1, "raise");
    CHECK(rd(&m, LV_VIRTIO_MMIO_INTERRUPT_STATUS) == 1, "used buffer interrupt");
    CHECK(lv_virtio_mmio_config_changed(&m) == 1, "config change raises");
    CHECK(rd(&m, LV_VIRTIO_MMIO_INTERRUPT_STATUS) == 3, "both bits");
    CHECK(rd(&m, LV_VIRTIO_MMIO_CONFIG_GENERATION) == gen + 1, "generation bumped");
    wr(&m, LV_VIRTIO_MMIO_INTERRUPT_ACK, 1);
    CHECK(rd(&m, LV_VIRTIO_MMIO_INTERRUPT_STATUS) == 2, "ack used buffer");
    wr(&m, LV_VIRTIO_MMIO_INTERRUPT_ACK, 2);
    CHECK(rd(&m, LV_VIRTIO_MMIO_INTERRUPT_STATUS) == 0, "ack config");
    CHECK(rd(&m, LV_VIRTIO_MMIO_SHM_LEN_LOW) == 0xffffffff, "no shm region");

    /* Out of state after DRIVER_OK. */
    wr(&m, LV_VIRTIO_MMIO_QUEUE_SEL, 0);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 64);
    REFUSED(rc, -EINVAL, "status 0xf");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x30000);
    REFUSED(rc, -EINVAL, "register 0x080");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 1);
    REFUSED(rc, -EINVAL, "status 0xf");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_STATUS, 0x7);
    REFUSED(rc, -EINVAL, "clears bits 0x8");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_STATUS, 0x4f);
    REFUSED(rc, -EINVAL, "bits 0x40");
    wr(&m, LV_VIRTIO_MMIO_STATUS, 0x8f); /* FAILED may be added */

    /* Disabling a queue tells the device. */
    wr(&m, LV_VIRTIO_MMIO_QUEUE_SEL, 1);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_READY, 0);
    CHECK(d.ready_calls == 3 && d.last_ready_q == 1 && d.ready_vq[1] == NULL, "queue 1 off");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    REFUSED(rc, -EINVAL, "queue 1, which is not ready");

    /* Reset clears everything but the device's identity and limits. */
    lv_virtio_mmio_set_interrupt(&m, LV_VIRTIO_INT_VRING);
    wr(&m, LV_VIRTIO_MMIO_STATUS, 0);
    CHECK(d.resets == 2, "reset op");
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0 && rd(&m, LV_VIRTIO_MMIO_INTERRUPT_STATUS) == 0,
          "status and interrupts cleared");
    CHECK(m.driver_features == 0 && m.queue_sel == 0 && !m.q[0].ready && m.q[0].num == 0 &&
              m.q[0].desc == 0 && m.q[0].num_max == QMAX,
          "queue state cleared");
    CHECK(rd(&m, LV_VIRTIO_MMIO_QUEUE_READY) == 0 && rd(&m, LV_VIRTIO_MMIO_QUEUE_NUM_MAX) == QMAX,
          "queue 0 registers after reset");
    q = m.device_features;
    CHECK(q == (DEV_FEATURE_MAC | LV_VIRTIO_F_EVENT_IDX | LV_VIRTIO_F_VERSION_1), "features kept");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    REFUSED(rc, -EINVAL, "not ready");
    /* And the whole probe works again. */
    linux_negotiate(&m, LV_VIRTIO_F_VERSION_1);
    linux_setup_vq(&m, 0, 1, 0x30000);
    CHECK(!m.q[0].vq.event_idx, "event index not negotiated this time");
}

static void test_widths(const struct lv_mem *mem)
{
    struct lv_virtio_mmio m;
    struct dummy d;
    uint64_t v = 0;
    int rc;

    setup(&m, &d, mem);
    rc = lv_virtio_mmio_read(&m, LV_VIRTIO_MMIO_MAGIC_VALUE, &v, 2, &err);
    REFUSED(rc, -EINVAL, "0x0 of 2 bytes");
    rc = lv_virtio_mmio_read(&m, LV_VIRTIO_MMIO_STATUS, &v, 8, &err);
    REFUSED(rc, -EINVAL, "0x70 of 8 bytes");
    rc = lv_virtio_mmio_read(&m, 0x002, &v, 4, &err);
    REFUSED(rc, -EINVAL, "0x2 of 4");
    rc = lv_virtio_mmio_write(&m, LV_VIRTIO_MMIO_STATUS, &v, 1, &err);
    REFUSED(rc, -EINVAL, "0x70 of 1 bytes");
    rc = lv_virtio_mmio_read(&m, 0x100, &v, 3, &err);
    REFUSED(rc, -EINVAL, "of 3 bytes");
    rc = lv_virtio_mmio_read(&m, 0x101, &v, 2, &err);
    REFUSED(rc, -EINVAL, "0x101 of 2 bytes");
    rc = lv_virtio_mmio_read(&m, 0x10c, &v, 8, &err);
    REFUSED(rc, -EINVAL, "0x10c of 8");
    rc = lv_virtio_mmio_read(&m, 0x110, &v, 4, &err);
    REFUSED(rc, -EINVAL, "outside the 16-byte config space");
    rc = lv_virtio_mmio_read(&m, 0xfffffffffffffff8ull, &v, 8, &err);
    REFUSED(rc, -EINVAL, "outside");
    CHECK(d.config_reads == 0, "device never asked");
    /* Unknown, legacy, write-only and read-only registers. */
    rc = lv_virtio_mmio_read(&m, 0x0f0, &v, 4, &err);
    REFUSED(rc, -EINVAL, "register 0x0f0");
    rc = lv_virtio_mmio_read(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, &v, 4, &err);
    REFUSED(rc, -EINVAL, "0x050, which is write-only");
    rc = wr_rc(&m, 0x028, 4096); /* legacy GuestPageSize */
    REFUSED(rc, -EINVAL, "register 0x028");
    rc = wr_rc(&m, 0x040, 1); /* legacy QueuePFN */
    REFUSED(rc, -EINVAL, "register 0x040");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_MAGIC_VALUE, 1);
    REFUSED(rc, -EINVAL, "read-only");
}

static void test_bad_sequences(const struct lv_mem *mem)
{
    struct lv_virtio_mmio m;
    struct dummy d;
    int rc;

    setup(&m, &d, mem);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_STATUS, LV_VIRTIO_STATUS_DRIVER);
    REFUSED(rc, -EINVAL, "DRIVER without ACKNOWLEDGE");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 1);
    REFUSED(rc, -EINVAL, "status 0x0");
    wr(&m, LV_VIRTIO_MMIO_STATUS, 3);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_STATUS, 1);
    REFUSED(rc, -EINVAL, "clears bits 0x2");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_STATUS, 7);
    REFUSED(rc, -EINVAL, "DRIVER_OK without accepted FEATURES_OK");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 16);
    REFUSED(rc, -EINVAL, "only after FEATURES_OK");
    /* Feature word 2 and features the device does not offer. */
    wr(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
    wr(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 0);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 4);
    REFUSED(rc, -EINVAL, "word 2 = 0x4");
    wr(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 1 | 4); /* VERSION_1 | RING_PACKED */
    wr(&m, LV_VIRTIO_MMIO_STATUS, 0xb);
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 3, "FEATURES_OK refused for packed ring");
    wr(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 0); /* no VERSION_1 */
    wr(&m, LV_VIRTIO_MMIO_STATUS, 0xb);
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 3, "FEATURES_OK refused without VERSION_1");
    wr(&m, LV_VIRTIO_MMIO_DRIVER_FEATURES, 1);
    wr(&m, LV_VIRTIO_MMIO_STATUS, 0xb);
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0xb, "FEATURES_OK accepted");
    /* Queue setup values. */
    wr(&m, LV_VIRTIO_MMIO_QUEUE_SEL, 5);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 16);
    REFUSED(rc, -EINVAL, "queue 5: only 2");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_SEL, 0);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 512);
    REFUSED(rc, -EINVAL, "QueueNum 512");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 100);
    REFUSED(rc, -EINVAL, "QueueNum 100");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 0);
    REFUSED(rc, -EINVAL, "QueueNum 0");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_READY, 1); /* QueueNum never written */
    REFUSED(rc, -EINVAL, "size 0");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 16);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x10008);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x11000);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x12000);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_READY, 1);
    REFUSED(rc, -EINVAL, "0x10008 is not 16-byte aligned");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x10000);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_DESC_HIGH, 1); /* 4 GiB up: outside RAM */
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_READY, 1);
    REFUSED(rc, -EFAULT, "0x100010000");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_READY, 2);
    REFUSED(rc, -EINVAL, "QueueReady value 2");
    d.fail_ready = -ENOMEM;
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK(rc == -ENOMEM && rd(&m, LV_VIRTIO_MMIO_QUEUE_READY) == 0, "device refused: %d", rc);
    d.fail_ready = 0;
    wr(&m, LV_VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK(d.ready_calls == 2 && d.ready_vq[0] == &m.q[0].vq, "ready at last");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NUM, 16);
    REFUSED(rc, -EINVAL, "while it is ready");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 7);
    REFUSED(rc, -EINVAL, "queue 7, which is not a queue");
    rc = wr_rc(&m, LV_VIRTIO_MMIO_INTERRUPT_ACK, 4);
    REFUSED(rc, -EINVAL, "InterruptACK 0x4");
    CHECK(lv_virtio_mmio_set_interrupt(&m, LV_VIRTIO_INT_VRING) == 0, "no irq before DRIVER_OK");
}

static void test_init_and_cmdline(const struct lv_mem *mem)
{
    struct lv_virtio_mmio m;
    struct lv_virtio_mmio_params p = {
        .device_id = 2, .nqueues = 1, .queue_num_max = 128, .max_chain_len = 4096,
        .config_len = 0, .mem = mem,
    };
    char buf[64];
    int rc;

    CHECK(lv_virtio_mmio_init(&m, &p, &err) == 0, "minimal init: %s", err.msg);
    p.device_id = 0;
    REFUSED(lv_virtio_mmio_init(&m, &p, &err), -EINVAL, "device id 0");
    p.device_id = 2;
    p.nqueues = 17;
    REFUSED(lv_virtio_mmio_init(&m, &p, &err), -EINVAL, "queue count 17");
    p.nqueues = 1;
    p.queue_num_max = 100;
    REFUSED(lv_virtio_mmio_init(&m, &p, &err), -EINVAL, "queue size 100");
    p.queue_num_max = 128;
    p.features = LV_VIRTIO_F_INDIRECT_DESC;
    REFUSED(lv_virtio_mmio_init(&m, &p, &err), -EINVAL, "unsupported 0x10000000");

    rc = lv_virtio_mmio_cmdline(buf, sizeof(buf), 0xd0000000, 0x200, 5);
    CHECK(rc > 0 && !strcmp(buf, "virtio_mmio.device=0x200@0xd0000000:5"), "%d %s", rc, buf);
    CHECK(rc == (int)strlen(buf), "length %d", rc);
    lv_virtio_mmio_cmdline(buf, sizeof(buf), 0xd0001000, 4096, 12);
    CHECK(!strcmp(buf, "virtio_mmio.device=4K@0xd0001000:12"), "%s", buf);
    lv_virtio_mmio_cmdline(buf, sizeof(buf), 0xfe000000, 1u << 21, 7);
    CHECK(!strcmp(buf, "virtio_mmio.device=2M@0xfe000000:7"), "%s", buf);
    CHECK(lv_virtio_mmio_cmdline(buf, 20, 0xd0000000, 0x200, 5) == -ENOSPC, "too small");
    CHECK(lv_virtio_mmio_cmdline(buf, sizeof(buf), 0xd0000000, 0, 5) == -EINVAL, "size 0");
    CHECK(lv_virtio_mmio_cmdline(buf, sizeof(buf), ~0ull - 0xff, 0x200, 5) == -EINVAL, "wraps");
}

/* noxs: the VMM negotiates on the guest's behalf; a guest may still
 * reset and negotiate itself; bad presets leave the device reset. */
static void test_preset(const struct lv_mem *mem)
{
    const uint64_t feat = LV_VIRTIO_F_VERSION_1 | LV_VIRTIO_F_EVENT_IDX | DEV_FEATURE_MAC;
    struct lv_virtio_mmio_qaddr qa[2] = {{0x10000, 0x11000, 0x12000, 128},
                                          {0x20000, 0x21000, 0x22000, 256}};
    struct lv_virtio_mmio m;
    struct dummy d;
    int rc;

    setup(&m, &d, mem);
    CHECK(lv_virtio_mmio_preset(&m, feat, qa, 2, &err) == 0, "preset: %s", err.msg);
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0xf, "status after preset 0x%x",
          rd(&m, LV_VIRTIO_MMIO_STATUS));
    CHECK(d.ready_calls == 2 && d.ready_vq[0] && d.ready_vq[1], "both queues ready");
    CHECK(d.ready_vq[0]->size == 128 && d.ready_vq[0]->used_gpa == 0x12000 &&
          d.ready_vq[1]->desc_gpa == 0x20000 && d.ready_vq[1]->event_idx, "queue areas");
    CHECK(m.driver_features == feat, "features");
    wr(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    CHECK(d.notifies == 1 && d.last_notify_q == 1, "kick after preset reaches the device");
    /* The guest takes over with its own handshake. */
    linux_negotiate(&m, LV_VIRTIO_F_VERSION_1);
    CHECK(d.resets == 2 && !d.ready_vq[0], "guest reset drops the preset queues");

    setup(&m, &d, mem);
    rc = lv_virtio_mmio_preset(&m, feat | (1ull << 40), qa, 2, &err);
    REFUSED(rc, -EINVAL, "not accepted");
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0, "left reset");
    qa[1].size = 100;
    rc = lv_virtio_mmio_preset(&m, feat, qa, 2, &err);
    REFUSED(rc, -EINVAL, "QueueNum 100");
    CHECK(rd(&m, LV_VIRTIO_MMIO_STATUS) == 0 && !d.ready_vq[0], "left reset, queues dropped");
    qa[1].size = 256;
    qa[1].used = MEM - 8;
    rc = lv_virtio_mmio_preset(&m, feat, qa, 2, &err);
    CHECK(rc < 0 && rd(&m, LV_VIRTIO_MMIO_STATUS) == 0, "areas outside RAM refused: %d", rc);
    rc = lv_virtio_mmio_preset(&m, feat, qa, 1, &err);
    REFUSED(rc, -EINVAL, "preset of 1 queues");
}

/* Saved state: a transport mid-handshake (FEATURES_OK, queues ready, a
 * kick held for DRIVER_OK) goes into a fresh one without calling the
 * device, and carries on there; a chain in flight is refused unless the
 * device holds it; a bad state changes nothing. */
static void test_state(const struct lv_mem *mem)
{
    struct lv_virtio_mmio m, m2, copy;
    struct dummy d, d2;
    struct lv_vq_chain c;
    uint8_t buf[512];
    unsigned held[2] = {1, 0};
    size_t len, need;
    struct lv_virtq_desc *desc = (void *)(mem->base + 0x10000);
    struct lv_virtq_avail *avail = (void *)(mem->base + 0x11000);
    int rc;

    setup(&m, &d, mem);
    linux_negotiate(&m, DEV_FEATURE_MAC | LV_VIRTIO_F_EVENT_IDX | LV_VIRTIO_F_VERSION_1);
    linux_setup_vq(&m, 0, 128, 0x10000);
    linux_setup_vq(&m, 1, 256, 0x20000);
    wr(&m, LV_VIRTIO_MMIO_QUEUE_NOTIFY, 1); /* held until DRIVER_OK */
    wr(&m, LV_VIRTIO_MMIO_QUEUE_SEL, 1);
    CHECK(lv_virtio_mmio_state_bytes(&m) == 42 + 2 * 36, "state bytes");
    CHECK(lv_virtio_mmio_save(&m, NULL, buf, 10, &need, &err) == -ENOSPC && need == 114,
          "too small: %zu", need);
    CHECK(lv_virtio_mmio_save(&m, NULL, buf, sizeof(buf), &len, &err) == 0 && len == 114,
          "save: %s", err.msg);
    rc = lv_virtio_mmio_save(&m, held, buf, sizeof(buf), &len, &err);
    REFUSED(rc, -EBUSY, "queue 0: virtqueue save with 0 chains in flight (1 held");

    setup(&m2, &d2, mem);
    CHECK(lv_virtio_mmio_restore(&m2, buf, len, &err) == 0, "restore: %s", err.msg);
    CHECK(d2.ready_calls == 0 && d2.resets == 0 && d2.notifies == 0, "the device is not called");
    CHECK(rd(&m2, LV_VIRTIO_MMIO_STATUS) == 0xb && rd(&m2, LV_VIRTIO_MMIO_QUEUE_READY) == 1,
          "status, QueueSel 1 ready");
    CHECK(m2.q[0].vq.size == 128 && m2.q[1].vq.desc_gpa == 0x20000 && m2.q[1].vq.event_idx &&
              m2.q[1].kick_pending && m2.driver_features == m.driver_features,
          "queues and features");
    wr(&m2, LV_VIRTIO_MMIO_STATUS, 0xf);
    CHECK(d2.notifies == 1 && d2.last_notify_q == 1, "the held kick is delivered at DRIVER_OK");

    /* A chain in flight: refused, unless held (then given back). */
    desc[3] = (struct lv_virtq_desc){.addr = 0x40000, .len = 64, .flags = LV_VIRTQ_DESC_F_WRITE};
    avail->ring[0] = 3;
    avail->idx = 1;
    CHECK(lv_vq_pop(&m2.q[0].vq, &c, &err) == 1 && c.head == 3, "pop: %s", err.msg);
    rc = lv_virtio_mmio_save(&m2, NULL, buf, sizeof(buf), &len, &err);
    REFUSED(rc, -EBUSY, "1 chains in flight (0 held");
    CHECK(lv_virtio_mmio_save(&m2, held, buf, sizeof(buf), &len, &err) == 0, "held: %s",
          err.msg);
    CHECK(buf[42 + 28 + 1] == 0 && m2.q[0].vq.last_avail == 1, "given back: saved last_avail 0");
    setup(&m, &d, mem);
    CHECK(lv_virtio_mmio_restore(&m, buf, len, &err) == 0, "restore: %s", err.msg);
    CHECK(lv_vq_pop(&m.q[0].vq, &c, &err) == 1 && c.head == 3, "popped again after restore");
    avail->idx = 0;

    /* Refused: nothing changes. */
    copy = m;
    buf[2] = 0x40; /* Status NEEDS_RESET */
    rc = lv_virtio_mmio_restore(&m, buf, len, &err);
    REFUSED(rc, -EINVAL, "Status 0x40 has unknown bits");
    CHECK(!memcmp(&copy, &m, sizeof(m)), "unchanged after a refused state");
    CHECK(lv_virtio_mmio_check_state(&m, buf, len - 1, &err) == -EINVAL, "length");
}

int main(void)
{
    struct lv_mem mem;

    if (lv_mem_open(&mem, MEM, &err)) {
        fprintf(stderr, "lv_mem_open: %s\n", err.msg);
        return 1;
    }
    test_linux_probe(&mem);
    test_widths(&mem);
    test_bad_sequences(&mem);
    test_init_and_cmdline(&mem);
    test_preset(&mem);
    test_state(&mem);
    lv_mem_close(&mem);
    return lvt_done("test_mmio");
}
