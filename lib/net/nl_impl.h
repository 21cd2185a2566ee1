/*
 * nl_impl.h: lib/net internals shared by netlink.c (the handle and the
 * request/reply exchange) and link.c (the link operations). Not public.
 */
#ifndef LIGHTVM_NL_IMPL_H
#define LIGHTVM_NL_IMPL_H

#include <stdint.h>

#include <libmnl/libmnl.h>

#include "lightvm/net.h"

#define LV_NL_RX_SIZE 32768 /* a dump skb is at most 32 KiB */
#define LV_NL_KMSG 128      /* room for the kernel's extended-ACK text */

struct lv_nl {
    struct mnl_socket *sock;          /* owned */
    unsigned portid;
    unsigned seq;                     /* of the last request sent */
    uint64_t req[128];                /* request being built (8-byte aligned) */
    uint64_t rx[LV_NL_RX_SIZE / 8];   /* replies */
};

/* Called for each reply message of a request; a negative return is kept
 * as the request's result and stops further calls. */
typedef int (*lv_nl_msg_fn)(const struct nlmsghdr *h, void *arg);

/* Starts a new request of (type) with (flags) in nl->req and returns its
 * header (borrowed, valid until the next lv_nl_req). */
struct nlmsghdr *lv_nl_req(struct lv_nl *nl, uint16_t type, uint16_t flags);

/* Sends (h) (NLM_F_REQUEST | NLM_F_ACK are added) and reads replies until
 * its ACK, error or NLMSG_DONE, handing the other messages of this request
 * to (fn) (may be NULL). Bounded: at most NL_MAX_RECV receives of
 * NL_TIMEOUT_S each. Replies to older, abandoned requests are skipped by
 * sequence number. Returns 0 or -errno (-ETIMEDOUT when the kernel does
 * not finish); the kernel's reason for an error, if it gave one, is left
 * in kmsg[LV_NL_KMSG] (else ""). Writes nothing into any lv_err. */
int lv_nl_talk(struct lv_nl *nl, struct nlmsghdr *h, lv_nl_msg_fn fn, void *arg, char *kmsg);

/* An NLMSG_ERROR: 0 for an ACK, else -errno with the extended-ACK message
 * (if any) in kmsg[LV_NL_KMSG]. Shared with nft.c (netfilter's netlink). */
int lv_nl_ack(const struct nlmsghdr *h, char *kmsg);

/* Writes "<what>: <strerror(-rc)>" plus " (kernel: <kmsg>)" when kmsg is
 * not empty into (err); returns rc. */
int lv_nl_fail(struct lv_err *err, int rc, const char *kmsg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
