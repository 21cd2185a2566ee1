/* netlink.c: the rtnetlink handle: one socket, sequence numbers, bounded
 * request/reply with ACK checking and the kernel's extended-ACK text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "nl_impl.h"

#define NL_MAX_RECV 4096     /* recv() calls per request: bounds any reply */
#define NL_TIMEOUT_S 5       /* per recv() */

int lv_nl_open(struct lv_nl **out, struct lv_err *err)
{
    struct timeval tv = {NL_TIMEOUT_S, 0};
    struct lv_nl *nl;
    int one = 1, rc;

    *out = NULL;
    nl = calloc(1, sizeof(*nl));
    if (!nl)
        return lv_err_set(err, ENOMEM, "netlink handle: out of memory");
    nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl->sock) {
        rc = lv_err_set(err, errno, "netlink socket: %s", strerror(errno));
        goto out_free;
    }
    if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = lv_err_set(err, errno, "netlink bind: %s", strerror(errno));
        goto out_close;
    }
    if (setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        rc = lv_err_set(err, errno, "netlink SO_RCVTIMEO: %s", strerror(errno));
        goto out_close;
    }
    /* Both are optional (older kernels): without them errors lose their
     * text, or ACKs carry a copy of the request. */
    mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
    nl->portid = mnl_socket_get_portid(nl->sock);
    *out = nl;
    return 0;

out_close:
    mnl_socket_close(nl->sock);
out_free:
    free(nl);
    return rc;
}

void lv_nl_close(struct lv_nl **nl)
{
    if (!nl || !*nl)
        return;
    mnl_socket_close((*nl)->sock);
    free(*nl);
    *nl = NULL;
}

int lv_nl_fail(struct lv_err *err, int rc, const char *kmsg, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (kmsg && kmsg[0])
        return lv_err_set(err, -rc, "%s: %s (kernel: %s)", what, strerror(-rc), kmsg);
    return lv_err_set(err, -rc, "%s: %s", what, strerror(-rc));
}

static int ack_attr_cb(const struct nlattr *a, void *data)
{
    char *kmsg = data;

    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
        mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
        snprintf(kmsg, LV_NL_KMSG, "%s", mnl_attr_get_str(a));
    return MNL_CB_OK;
}

int lv_nl_ack(const struct nlmsghdr *h, char *kmsg)
{
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
    size_t plen = mnl_nlmsg_get_payload_len(h), off = sizeof(*e);

    if (plen < sizeof(*e))
        return -EBADMSG;
    if (e->error == 0)
        return 0;
    if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
        if (!(h->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= sizeof(struct nlmsghdr))
            off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
        if (MNL_ALIGN(off) <= plen)
            mnl_attr_parse(h, (unsigned)off, ack_attr_cb, kmsg);
    }
    return e->error < 0 && e->error > -4096 ? e->error : -EPROTO;
}

int lv_nl_talk(struct lv_nl *nl, struct nlmsghdr *h, lv_nl_msg_fn fn, void *arg, char *kmsg)
{
    int cbrc = 0;

    kmsg[0] = '\0';
    if (++nl->seq == 0)
        nl->seq = 1;
    h->nlmsg_seq = nl->seq;
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
        return -errno;
    for (int i = 0; i < NL_MAX_RECV; i++) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rx, sizeof(nl->rx));
        const struct nlmsghdr *r = (const struct nlmsghdr *)nl->rx;
        int len = (int)n;

        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        for (; mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len)) {
            if (r->nlmsg_seq != nl->seq || r->nlmsg_pid != nl->portid)
                continue;
            if (r->nlmsg_type == NLMSG_ERROR) {
                int rc = lv_nl_ack(r, kmsg);
                return rc < 0 ? rc : cbrc;
            }
            if (r->nlmsg_type == NLMSG_DONE) {
                const int *st = mnl_nlmsg_get_payload(r);
                if (mnl_nlmsg_get_payload_len(r) >= sizeof(int) && *st < 0 && *st > -4096)
                    return *st;
                return cbrc;
            }
            if (r->nlmsg_type < NLMSG_MIN_TYPE || !fn || cbrc < 0)
                continue;
            cbrc = fn(r, arg);
        }
    }
    return -ETIMEDOUT;
}

struct nlmsghdr *lv_nl_req(struct lv_nl *nl, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *h = mnl_nlmsg_put_header(nl->req);

    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    return h;
}
