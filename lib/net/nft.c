/* nft.c: the NETLINK_NETFILTER handle: one socket, transactions (a batch
 * of nf_tables messages the kernel commits all or none of) and dumps,
 * bounded, with the kernel's extended-ACK text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft_impl.h"
#include "nl_impl.h"

#define NFT_MAX_RECV 4096 /* recv() calls per exchange: bounds any reply */
#define NFT_TIMEOUT_S 5   /* per recv() */

int lv_nft_open(struct lv_nft **out, struct lv_err *err)
{
    struct timeval tv = {NFT_TIMEOUT_S, 0};
    struct lv_nft *nft;
    int one = 1, rc;

    *out = NULL;
    nft = calloc(1, sizeof(*nft));
    if (!nft)
        return lv_err_set(err, ENOMEM, "netfilter handle: out of memory");
    nft->sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!nft->sock) {
        rc = lv_err_set(err, errno, "netfilter netlink socket: %s", strerror(errno));
        free(nft);
        return rc;
    }
    if (mnl_socket_bind(nft->sock, 0, MNL_SOCKET_AUTOPID) < 0 ||
        setsockopt(mnl_socket_get_fd(nft->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        rc = lv_err_set(err, errno, "netfilter netlink socket: %s", strerror(errno));
        mnl_socket_close(nft->sock);
        free(nft);
        return rc;
    }
    mnl_socket_setsockopt(nft->sock, NETLINK_EXT_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(nft->sock, NETLINK_CAP_ACK, &one, sizeof(one));
    nft->portid = mnl_socket_get_portid(nft->sock);
    *out = nft;
    return 0;
}

void lv_nft_close(struct lv_nft **nft)
{
    if (!nft || !*nft)
        return;
    if ((*nft)->batch)
        mnl_nlmsg_batch_stop((*nft)->batch);
    mnl_socket_close((*nft)->sock);
    free(*nft);
    *nft = NULL;
}

static uint32_t next_seq(struct lv_nft *nft)
{
    if (++nft->seq == 0)
        nft->seq = 1;
    return nft->seq;
}

void lv_nft_begin(struct lv_nft *nft)
{
    if (nft->batch)
        mnl_nlmsg_batch_stop(nft->batch);
    /* The limit leaves one message's room past it: a message that starts
     * below it always fits in buf. */
    nft->batch = mnl_nlmsg_batch_start(nft->buf, sizeof(nft->buf) - LV_NFT_MSG_MAX);
    nft->nacks = 0;
    nft->overflow = !nft->batch;
    if (!nft->batch)
        return;
    nft->first_seq = next_seq(nft);
    nftnl_batch_begin(mnl_nlmsg_batch_current(nft->batch), nft->first_seq);
    mnl_nlmsg_batch_next(nft->batch);
}

char *lv_nft_room(struct lv_nft *nft, uint32_t *seq)
{
    if (!nft->batch || nft->overflow)
        return NULL;
    *seq = next_seq(nft);
    return mnl_nlmsg_batch_current(nft->batch);
}

void lv_nft_added(struct lv_nft *nft)
{
    struct nlmsghdr *h = mnl_nlmsg_batch_current(nft->batch);

    h->nlmsg_flags |= NLM_F_ACK;
    nft->nacks++;
    if (!mnl_nlmsg_batch_next(nft->batch))
        nft->overflow = 1;
}

/* Reads the ACKs of the transaction whose messages carry sequence
 * numbers first..last: 0 once all (nacks) came, else the first error. */
static int read_acks(struct lv_nft *nft, uint32_t first, uint32_t last, unsigned nacks,
                     char *kmsg)
{
    unsigned got = 0;

    for (int i = 0; i < NFT_MAX_RECV && got < nacks; i++) {
        ssize_t n = mnl_socket_recvfrom(nft->sock, nft->rx, sizeof(nft->rx));
        const struct nlmsghdr *r = (const struct nlmsghdr *)nft->rx;
        int len = (int)n;

        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        for (; mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len)) {
            if (r->nlmsg_seq < first || r->nlmsg_seq > last || r->nlmsg_pid != nft->portid ||
                r->nlmsg_type != NLMSG_ERROR)
                continue; /* an older exchange's leftovers */
            int rc = lv_nl_ack(r, kmsg);
            if (rc < 0)
                return rc;
            got++;
        }
    }
    return got < nacks ? -ETIMEDOUT : 0;
}

int lv_nft_commit(struct lv_nft *nft, char *kmsg)
{
    uint32_t last;
    int rc;

    kmsg[0] = '\0';
    if (!nft->batch)
        return -ENOMEM;
    if (nft->overflow) {
        mnl_nlmsg_batch_stop(nft->batch);
        nft->batch = NULL;
        return -E2BIG;
    }
    last = next_seq(nft);
    nftnl_batch_end(mnl_nlmsg_batch_current(nft->batch), last);
    mnl_nlmsg_batch_next(nft->batch);
    rc = mnl_socket_sendto(nft->sock, mnl_nlmsg_batch_head(nft->batch),
                           mnl_nlmsg_batch_size(nft->batch)) < 0 ? -errno : 0;
    mnl_nlmsg_batch_stop(nft->batch);
    nft->batch = NULL;
    if (rc)
        return rc;
    return read_acks(nft, nft->first_seq, last, nft->nacks, kmsg);
}

int lv_nft_dump(struct lv_nft *nft, struct nlmsghdr *h, mnl_cb_t cb, void *arg)
{
    uint32_t seq = next_seq(nft);

    h->nlmsg_seq = seq;
    if (mnl_socket_sendto(nft->sock, h, h->nlmsg_len) < 0)
        return -errno;
    for (int i = 0; i < NFT_MAX_RECV; i++) {
        ssize_t n = mnl_socket_recvfrom(nft->sock, nft->rx, sizeof(nft->rx));
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        /* mnl_cb_run skips nothing: drop an older exchange's leftovers by
         * sequence number first. */
        const struct nlmsghdr *r = (const struct nlmsghdr *)nft->rx;
        int len = (int)n;
        if (mnl_nlmsg_ok(r, len) && r->nlmsg_seq != seq)
            continue;
        int rc = mnl_cb_run(nft->rx, (size_t)n, seq, nft->portid, cb, arg);
        if (rc < 0)
            return -errno;
        if (rc == MNL_CB_STOP)
            return 0;
    }
    return -ETIMEDOUT;
}
