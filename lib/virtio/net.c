/*
 * net.c: virtio-net over virtio-mmio with a tap backend (see
 * virtio_net.h), and its ops table as a VM device (lv_vnet_dev_ops,
 * lib/core/dev_impl.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "lightvm/virtio_net.h"
#include "../core/dev_impl.h"
#include "blob.h"

#define BUDGET 64 /* chains per event before yielding to other sources */
#define CONFIG_LEN 12 /* mac[6], status, max_virtqueue_pairs, mtu */

/* Its event sources (the low bits of their epoll data). */
enum { SRC_RX_KICK, SRC_TX_KICK, SRC_TAP, NSRC };

struct lv_vnet {
    struct lv_vnet_params p;
    struct lv_virtio_mmio mmio;
    pthread_mutex_t lock;
    int kick_fd[LV_VNET_NQUEUES]; /* owned */
    int irq_fd;                   /* owned */
    int epfd;                     /* borrowed, -1 until attached */
    uint64_t key;                 /* epoll data: key | source */
    int tap_armed;                /* the tap is in epfd with EPOLLIN */
    int broken;                   /* a queue was malformed: serve nothing */
    int tap_gone;                 /* the tap was deleted under us: out of epfd */
    struct lv_vq *vq[LV_VNET_NQUEUES]; /* ready queues (inside mmio), or NULL */
    struct lv_vq_chain rx_held;   /* a popped receive chain waiting for a frame */
    int have_held;
    uint8_t config[CONFIG_LEN];
    struct lv_vnet_stats st;
};

/* ---- transport callbacks (called with vn->lock held) ---- */

static int config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
    struct lv_vnet *vn = dev;

    memcpy(buf, vn->config + off, len); /* range checked by the transport */
    return 0;
}

static void kick_self(int fd)
{
    uint64_t one = 1;

    if (write(fd, &one, sizeof(one)) < 0) {
        /* only fails when the counter is saturated: a wakeup is pending */
    }
}

static int queue_ready(void *dev, unsigned q, struct lv_vq *vq)
{
    struct lv_vnet *vn = dev;

    vn->vq[q] = vq;
    if (q == LV_VNET_RXQ)
        vn->have_held = 0; /* a held chain belonged to the old ring */
    if (vq)
        kick_self(vn->kick_fd[q]); /* look at the new queue on the I/O thread */
    return 0;
}

static void notify(void *dev, unsigned q)
{
    struct lv_vnet *vn = dev;

    kick_self(vn->kick_fd[q]);
}

static void reset(void *dev)
{
    struct lv_vnet *vn = dev;

    vn->vq[LV_VNET_RXQ] = vn->vq[LV_VNET_TXQ] = NULL;
    vn->have_held = 0;
}

static const struct lv_virtio_dev_ops vnet_ops = {
    .config_read = config_read,
    .queue_ready = queue_ready,
    .notify = notify,
    .reset = reset,
};

/* Under vn->lock (or before anyone else has the device). */
static void set_identity(struct lv_vnet *vn, const uint8_t mac[6], uint16_t mtu)
{
    memcpy(vn->config, mac, 6);
    vn->config[10] = (uint8_t)mtu;
    vn->config[11] = (uint8_t)(mtu >> 8);
    vn->p.mtu = mtu;
    memcpy(vn->p.mac, mac, 6);
}

void lv_vnet_set_identity(struct lv_vnet *vn, const uint8_t mac[6], uint16_t mtu)
{
    pthread_mutex_lock(&vn->lock);
    set_identity(vn, mac, mtu);
    pthread_mutex_unlock(&vn->lock);
}

uint64_t lv_vnet_features(void)
{
    return LV_VNET_FEATURES;
}

int lv_vnet_create(struct lv_vnet **out, const struct lv_vnet_params *p, struct lv_err *err)
{
    struct lv_virtio_mmio_params mp;
    struct lv_vnet *vn;
    unsigned i;
    int rc;

    *out = NULL;
    if (p->mtu < 68 || !p->mem || p->tap_fd < 0)
        return lv_err_set(err, EINVAL, "virtio-net: bad parameters (mtu %u, tap fd %d)",
                          p->mtu, p->tap_fd);
    vn = calloc(1, sizeof(*vn));
    if (!vn)
        return lv_err_set(err, ENOMEM, "virtio-net: out of memory");
    vn->p = *p;
    vn->epfd = vn->irq_fd = -1;
    for (i = 0; i < LV_VNET_NQUEUES; i++)
        vn->kick_fd[i] = -1;
    pthread_mutex_init(&vn->lock, NULL);
    vn->config[6] = 1; /* status: link up (VIRTIO_NET_F_STATUS is not offered) */
    vn->config[8] = 1; /* max_virtqueue_pairs */
    lv_vnet_set_identity(vn, p->mac, p->mtu);

    for (i = 0; i < LV_VNET_NQUEUES; i++) {
        vn->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vn->kick_fd[i] < 0)
            goto out_errno;
    }
    vn->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vn->irq_fd < 0)
        goto out_errno;

    memset(&mp, 0, sizeof(mp));
    mp.device_id = LV_VIRTIO_ID_NET;
    mp.vendor_id = 0x4c56; /* "LV" */
    mp.features = lv_vnet_features();
    mp.nqueues = LV_VNET_NQUEUES;
    mp.queue_num_max = LV_VNET_QUEUE_SIZE;
    mp.max_chain_len = LV_NET_HDR_LEN + LV_VNET_MAX_FRAME;
    mp.config_len = CONFIG_LEN;
    mp.ops = &vnet_ops;
    mp.dev = vn;
    mp.mem = p->mem;
    rc = lv_virtio_mmio_init(&vn->mmio, &mp, err);
    if (rc) {
        lv_vnet_destroy(&vn);
        return rc;
    }
    *out = vn;
    return 0;

out_errno:
    rc = lv_err_set(err, errno, "virtio-net: eventfd: %s", strerror(errno));
    lv_vnet_destroy(&vn);
    return rc;
}

void lv_vnet_destroy(struct lv_vnet **pvn)
{
    struct lv_vnet *vn = *pvn;
    unsigned i;

    if (!vn)
        return;
    for (i = 0; i < LV_VNET_NQUEUES; i++)
        if (vn->kick_fd[i] >= 0)
            close(vn->kick_fd[i]);
    if (vn->irq_fd >= 0)
        close(vn->irq_fd);
    pthread_mutex_destroy(&vn->lock);
    free(vn);
    *pvn = NULL;
}

int lv_vnet_preset(struct lv_vnet *vn, const struct lv_virtio_mmio_qaddr *qa, struct lv_err *err)
{
    int rc;

    pthread_mutex_lock(&vn->lock);
    rc = lv_virtio_mmio_preset(&vn->mmio, lv_vnet_features(), qa, LV_VNET_NQUEUES, err);
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

int lv_vnet_kick_fd(const struct lv_vnet *vn, unsigned q)
{
    return q < LV_VNET_NQUEUES ? vn->kick_fd[q] : -1;
}

int lv_vnet_irq_fd(const struct lv_vnet *vn)
{
    return vn->irq_fd;
}

static int ep_ctl(struct lv_vnet *vn, int op, int fd, uint32_t events, int kind)
{
    struct epoll_event ev = {.events = events, .data.u64 = vn->key | (uint64_t)kind};

    return epoll_ctl(vn->epfd, op, fd, &ev);
}

int lv_vnet_attach(struct lv_vnet *vn, int epfd, uint64_t key, struct lv_err *err)
{
    vn->epfd = epfd;
    vn->key = key;
    if (ep_ctl(vn, EPOLL_CTL_ADD, vn->kick_fd[LV_VNET_RXQ], EPOLLIN, SRC_RX_KICK) < 0 ||
        ep_ctl(vn, EPOLL_CTL_ADD, vn->kick_fd[LV_VNET_TXQ], EPOLLIN, SRC_TX_KICK) < 0 ||
        ep_ctl(vn, EPOLL_CTL_ADD, vn->p.tap_fd, EPOLLIN, SRC_TAP) < 0)
        return lv_err_set(err, errno, "virtio-net: epoll_ctl: %s", strerror(errno));
    vn->tap_armed = 1;
    return 0;
}

/* Reads the tap only while the guest has receive buffers. */
static void tap_arm(struct lv_vnet *vn, int on)
{
    if (vn->tap_armed == on || vn->tap_gone)
        return;
    if (ep_ctl(vn, EPOLL_CTL_MOD, vn->p.tap_fd, on ? EPOLLIN : 0, SRC_TAP) == 0)
        vn->tap_armed = on;
}

static void raise_irq(struct lv_vnet *vn)
{
    if (lv_virtio_mmio_set_interrupt(&vn->mmio, LV_VIRTIO_INT_VRING)) {
        kick_self(vn->irq_fd);
        vn->st.irqs++;
    }
}

/* iovecs over the segments seg[first .. first + n) of (c), skipping the
 * first (skip) bytes; returns how many were filled (at most LV_VQ_MAX_SEGS). */
static int chain_iov(const struct lv_vq_chain *c, unsigned first, unsigned n, uint32_t skip,
                     struct iovec *iov)
{
    int k = 0;

    for (unsigned i = first; i < first + n; i++) {
        const struct lv_vq_seg *s = &c->seg[i];
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        iov[k].iov_base = (uint8_t *)s->ptr + skip;
        iov[k].iov_len = s->len - skip;
        skip = 0;
        k++;
    }
    return k;
}

/* Copies (len) bytes into the writable part of (c) (which has room). */
static void chain_fill(const struct lv_vq_chain *c, const uint8_t *src, uint32_t len)
{
    for (unsigned i = c->nread; i < c->nsegs && len; i++) {
        uint32_t n = c->seg[i].len < len ? c->seg[i].len : len;
        memcpy(c->seg[i].ptr, src, n);
        src += n;
        len -= n;
    }
}

static int broken(struct lv_vnet *vn, int rc, const char *q, struct lv_err *err)
{
    char why[LV_ERR_MAX];

    vn->broken = 1;
    tap_arm(vn, 0);
    snprintf(why, sizeof(why), "%s", err ? err->msg : "");
    return lv_err_set(err, -rc, "virtio-net %s queue: %s", q, why);
}

static int rx_process(struct lv_vnet *vn, struct lv_err *err)
{
    struct lv_vq *vq = vn->vq[LV_VNET_RXQ];
    struct iovec iov[LV_VQ_MAX_SEGS + 1];
    uint8_t hdr[LV_NET_HDR_LEN];
    int pushed = 0, rc, n;
    ssize_t r;

    if (vn->tap_gone)
        return 0; /* nothing will arrive (its buffers stay with us) */
    if (!vq || !(vn->mmio.status & LV_VIRTIO_STATUS_DRIVER_OK)) {
        tap_arm(vn, 0); /* a kick or the queue becoming ready re-arms */
        return 0;
    }
    lv_vq_set_kick_suppress(vq, true);
    for (int budget = 0; budget < BUDGET; budget++) {
        if (!vn->have_held) {
            rc = lv_vq_pop(vq, &vn->rx_held, err);
            if (rc < 0)
                return broken(vn, rc, "receive", err);
            if (rc == 0) {
                if (lv_vq_set_kick_suppress(vq, false))
                    continue; /* buffers came while kicks were off */
                tap_arm(vn, 0); /* starved: wait for the guest's kick */
                break;
            }
            if (vn->rx_held.nread || vn->rx_held.wlen < LV_NET_HDR_LEN) {
                lv_err_set(err, EINVAL, "buffer %u has %u device-readable segments and %u "
                           "writable bytes (needs 0 and at least %u)", vn->rx_held.head,
                           vn->rx_held.nread, vn->rx_held.wlen, LV_NET_HDR_LEN);
                return broken(vn, -EINVAL, "receive", err);
            }
            vn->have_held = 1;
        }
        iov[0].iov_base = hdr;
        iov[0].iov_len = sizeof(hdr);
        n = chain_iov(&vn->rx_held, 0, vn->rx_held.nsegs, LV_NET_HDR_LEN, iov + 1);
        r = readv(vn->p.tap_fd, iov, n + 1);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                tap_arm(vn, 1);
                break;
            }
            if (errno == EBADFD) {
                /* The interface was deleted (ip link del): the fd reports
                 * EPOLLERR for good, whatever it is armed for, so it
                 * leaves epfd. The guest is left without a wire (its
                 * frames are dropped), like a NIC whose cable was pulled. */
                epoll_ctl(vn->epfd, EPOLL_CTL_DEL, vn->p.tap_fd, NULL);
                vn->tap_gone = 1;
                vn->tap_armed = 0;
                break;
            }
            if (errno != EINTR)
                vn->st.rx_dropped++; /* e.g. a frame larger than the buffer */
            /* the tap may have written part of it into the held buffer */
            lv_vq_mark_written(vq, &vn->rx_held, vn->rx_held.wlen);
            continue;
        }
        if ((size_t)r < sizeof(hdr)) {
            vn->st.rx_dropped++; /* all of it went into (hdr) */
            continue;
        }
        memset(hdr, 0, sizeof(hdr)); /* no offloads negotiated: flags 0 */
        hdr[10] = 1;                 /* num_buffers = 1 */
        chain_fill(&vn->rx_held, hdr, sizeof(hdr));
        rc = lv_vq_push(vq, &vn->rx_held, (uint32_t)r, err);
        if (rc < 0)
            return broken(vn, rc, "receive", err);
        vn->have_held = 0;
        vn->st.rx_frames++;
        pushed = 1;
    }
    if (pushed && lv_vq_need_interrupt(vq))
        raise_irq(vn);
    return 0;
}

static int tx_process(struct lv_vnet *vn, struct lv_err *err)
{
    struct lv_vq *vq = vn->vq[LV_VNET_TXQ];
    struct iovec iov[LV_VQ_MAX_SEGS + 1];
    static const uint8_t zero_hdr[LV_NET_HDR_LEN];
    struct lv_vq_chain c;
    int served = 0, rc = 0, n;

    if (!vq || !(vn->mmio.status & LV_VIRTIO_STATUS_DRIVER_OK))
        return 0;
    for (;;) {
        lv_vq_set_kick_suppress(vq, true);
        while (served < BUDGET && (rc = lv_vq_pop(vq, &c, err)) > 0) {
            if (c.wlen || c.rlen < LV_NET_HDR_LEN) {
                lv_err_set(err, EINVAL, "buffer %u has %u readable and %u writable bytes "
                           "(needs at least %u readable, none writable)", c.head, c.rlen,
                           c.wlen, LV_NET_HDR_LEN);
                return broken(vn, -EINVAL, "transmit", err);
            }
            /* The guest's header is not passed on: no offload was
             * negotiated, and the kernel would act on its fields. */
            iov[0].iov_base = (void *)zero_hdr;
            iov[0].iov_len = sizeof(zero_hdr);
            n = chain_iov(&c, 0, c.nread, LV_NET_HDR_LEN, iov + 1);
            if (writev(vn->p.tap_fd, iov, n + 1) < 0)
                vn->st.tx_dropped++; /* tap down or full: like a wire, drop */
            else
                vn->st.tx_frames++;
            rc = lv_vq_push(vq, &c, 0, err);
            if (rc < 0)
                return broken(vn, rc, "transmit", err);
            served++;
        }
        if (rc < 0)
            return broken(vn, rc, "transmit", err);
        if (served >= BUDGET) {
            kick_self(vn->kick_fd[LV_VNET_TXQ]); /* continue after other sources */
            break;
        }
        if (!lv_vq_set_kick_suppress(vq, false))
            break;
    }
    if (served && lv_vq_need_interrupt(vq))
        raise_irq(vn);
    return 0;
}

int lv_vnet_event(struct lv_vnet *vn, uint32_t src, struct lv_err *err)
{
    uint64_t cnt;
    int rc = 0;

    if (src >= NSRC)
        return lv_err_set(err, EINVAL, "virtio-net: event of unknown source %u", src);
    pthread_mutex_lock(&vn->lock);
    if (src != SRC_TAP && read(vn->kick_fd[src], &cnt, sizeof(cnt)) == sizeof(cnt))
        vn->st.kicks[src] += cnt;
    if (!vn->broken) {
        if (src == SRC_TX_KICK)
            rc = tx_process(vn, err);
        else
            rc = rx_process(vn, err);
    } else {
        tap_arm(vn, 0);
    }
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

int lv_vnet_mmio_read(struct lv_vnet *vn, uint64_t off, void *data, uint32_t len,
                      struct lv_err *err)
{
    int rc;

    pthread_mutex_lock(&vn->lock);
    rc = lv_virtio_mmio_read(&vn->mmio, off, data, len, err);
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

int lv_vnet_mmio_write(struct lv_vnet *vn, uint64_t off, const void *data, uint32_t len,
                       struct lv_err *err)
{
    int rc;

    pthread_mutex_lock(&vn->lock);
    rc = lv_virtio_mmio_write(&vn->mmio, off, data, len, err);
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

void lv_vnet_get_stats(struct lv_vnet *vn, struct lv_vnet_stats *out)
{
    pthread_mutex_lock(&vn->lock);
    *out = vn->st;
    pthread_mutex_unlock(&vn->lock);
}

/* ---- saved state (snapshots) ---- */

#define NET_STATE_VERSION 1u
#define NET_STATE_HEAD 11u /* version, mac[6], mtu, status; then the transport's */
#define NET_S_LINK_UP 1u

static const uint8_t zero_mac[6];

size_t lv_vnet_state_bytes(const struct lv_vnet *vn)
{
    return NET_STATE_HEAD + lv_virtio_mmio_state_bytes(&vn->mmio);
}

int lv_vnet_save(struct lv_vnet *vn, uint8_t *buf, size_t cap, size_t *len, struct lv_err *err)
{
    struct lv_blob_w w = {buf, 0};
    unsigned held[LV_VNET_NQUEUES] = {0, 0};
    size_t need = lv_vnet_state_bytes(vn), n;
    int rc;

    *len = need;
    if (cap < need)
        return lv_err_set(err, ENOSPC, "virtio-net state needs %zu bytes, %zu given", need, cap);
    pthread_mutex_lock(&vn->lock);
    if (vn->broken) {
        pthread_mutex_unlock(&vn->lock);
        return lv_err_set(err, EIO, "virtio-net: the guest broke a queue: nothing to save");
    }
    held[LV_VNET_RXQ] = (unsigned)vn->have_held; /* given back: popped again after a restore */
    lv_blob_put(&w, NET_STATE_VERSION, 1);
    memcpy(buf + 1, vn->config, 6);
    w.n += 6;
    lv_blob_put(&w, vn->p.mtu, 2);
    lv_blob_put(&w, vn->config[6] | (uint16_t)vn->config[7] << 8, 2);
    rc = lv_virtio_mmio_save(&vn->mmio, held, buf + w.n, cap - w.n, &n, err);
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

/* The model's own fields of (buf, len) (the transport's follow them). */
static int check_head(const struct lv_vnet *vn, const uint8_t *buf, size_t len, uint8_t mac[6],
                      uint16_t *mtu, uint16_t *status, struct lv_err *err)
{
    struct lv_blob_r r = {buf, 0};
    unsigned version;

    if (len != lv_vnet_state_bytes(vn))
        return lv_err_set(err, EINVAL, "virtio-net state is %zu bytes, %zu expected", len,
                          lv_vnet_state_bytes(vn));
    version = (unsigned)lv_blob_get(&r, 1);
    memcpy(mac, buf + r.n, 6);
    r.n += 6;
    *mtu = (uint16_t)lv_blob_get(&r, 2);
    *status = (uint16_t)lv_blob_get(&r, 2);
    if (version != NET_STATE_VERSION)
        return lv_err_set(err, EINVAL, "virtio-net state version %u (this lightvm reads %u)",
                          version, NET_STATE_VERSION);
    if ((mac[0] & 1) || !memcmp(mac, zero_mac, 6))
        return lv_err_set(err, EINVAL, "virtio-net state: MAC %02x:%02x:%02x:%02x:%02x:%02x is "
                          "not a unicast address", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    if (*mtu < 68)
        return lv_err_set(err, EINVAL, "virtio-net state: MTU %u below 68", *mtu);
    if (*status & ~NET_S_LINK_UP)
        return lv_err_set(err, EINVAL, "virtio-net state: status 0x%x has unknown bits", *status);
    return 0;
}

int lv_vnet_check_state(struct lv_vnet *vn, const uint8_t *buf, size_t len, struct lv_err *err)
{
    uint8_t mac[6];
    uint16_t mtu, status;
    int rc;

    pthread_mutex_lock(&vn->lock);
    rc = check_head(vn, buf, len, mac, &mtu, &status, err);
    if (!rc)
        rc = lv_virtio_mmio_check_state(&vn->mmio, buf + NET_STATE_HEAD, len - NET_STATE_HEAD,
                                        err);
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

/* A device given a MAC keeps its identity; one without takes the saved
 * one. A kept identity that differs from the saved one is a config
 * change the guest is told of (generation, config interrupt bit). */
static void restore_identity(struct lv_vnet *vn, const uint8_t mac[6], uint16_t mtu)
{
    if (!memcmp(vn->p.mac, zero_mac, 6))
        set_identity(vn, mac, mtu);
    else if (memcmp(vn->p.mac, mac, 6) || vn->p.mtu != mtu)
        lv_virtio_mmio_config_changed(&vn->mmio); /* lv_vnet_resume interrupts */
}

int lv_vnet_restore(struct lv_vnet *vn, const uint8_t *buf, size_t len, struct lv_err *err)
{
    uint8_t mac[6];
    uint16_t mtu, status;
    int rc;

    pthread_mutex_lock(&vn->lock);
    rc = check_head(vn, buf, len, mac, &mtu, &status, err);
    if (!rc)
        rc = lv_virtio_mmio_restore(&vn->mmio, buf + NET_STATE_HEAD, len - NET_STATE_HEAD, err);
    if (!rc) {
        for (unsigned q = 0; q < LV_VNET_NQUEUES; q++)
            vn->vq[q] = vn->mmio.q[q].ready ? &vn->mmio.q[q].vq : NULL;
        vn->have_held = 0;
        vn->broken = 0;
        vn->config[6] = (uint8_t)status;
        vn->config[7] = (uint8_t)(status >> 8);
        restore_identity(vn, mac, mtu);
    }
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

int lv_vnet_resume(struct lv_vnet *vn, struct lv_err *err)
{
    int rc = 0;

    pthread_mutex_lock(&vn->lock);
    if (!vn->broken && (vn->mmio.status & LV_VIRTIO_STATUS_DRIVER_OK)) {
        rc = tx_process(vn, err);
        if (!rc)
            rc = rx_process(vn, err);
        if (!rc)
            raise_irq(vn);
    }
    pthread_mutex_unlock(&vn->lock);
    return rc;
}

/* ---- as a VM device (lib/core/dev_impl.h) ---- */

static int dev_preset(void *dev, const struct lv_virtio_mmio_qaddr *qa, struct lv_err *err)
{
    return lv_vnet_preset(dev, qa, err);
}

static int dev_kick_fd(const void *dev, unsigned q)
{
    return lv_vnet_kick_fd(dev, q);
}

static int dev_irq_fd(const void *dev)
{
    return lv_vnet_irq_fd(dev);
}

static int dev_attach(void *dev, int epfd, uint64_t key, struct lv_err *err)
{
    return lv_vnet_attach(dev, epfd, key, err);
}

static int dev_event(void *dev, uint32_t src, struct lv_err *err)
{
    return lv_vnet_event(dev, src, err);
}

static int dev_mmio_read(void *dev, uint64_t off, void *data, uint32_t len, struct lv_err *err)
{
    return lv_vnet_mmio_read(dev, off, data, len, err);
}

static int dev_mmio_write(void *dev, uint64_t off, const void *data, uint32_t len,
                          struct lv_err *err)
{
    return lv_vnet_mmio_write(dev, off, data, len, err);
}

static int dev_stats(void *dev, void *out, size_t size)
{
    if (size != sizeof(struct lv_vnet_stats))
        return -EINVAL;
    lv_vnet_get_stats(dev, out);
    return 0;
}

static int dev_save(void *dev, uint8_t *buf, size_t cap, size_t *len, struct lv_err *err)
{
    return lv_vnet_save(dev, buf, cap, len, err);
}

static int dev_check(void *dev, const uint8_t *buf, size_t len, struct lv_err *err)
{
    return lv_vnet_check_state(dev, buf, len, err);
}

static int dev_restore(void *dev, const uint8_t *buf, size_t len, struct lv_err *err)
{
    return lv_vnet_restore(dev, buf, len, err);
}

static int dev_resume(void *dev, struct lv_err *err)
{
    return lv_vnet_resume(dev, err);
}

static void dev_destroy(void *dev)
{
    struct lv_vnet *vn = dev;

    lv_vnet_destroy(&vn);
}

const struct lv_dev_ops lv_vnet_dev_ops = {
    .name = "virtio-net",
    .type = LV_DEV_NET,
    .features = LV_VNET_FEATURES,
    .mmio_len = LV_PAGE_SIZE,
    .nqueues = LV_VNET_NQUEUES,
    .queue_size = LV_VNET_QUEUE_SIZE,
    .preset = dev_preset,
    .kick_fd = dev_kick_fd,
    .irq_fd = dev_irq_fd,
    .attach = dev_attach,
    .event = dev_event,
    .mmio_read = dev_mmio_read,
    .mmio_write = dev_mmio_write,
    .save = dev_save,
    .check = dev_check,
    .restore = dev_restore,
    .resume = dev_resume,
    .stats = dev_stats,
    .destroy = dev_destroy,
};
