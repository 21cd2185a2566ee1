/*
 * nft_impl.h: lib/net internals shared by nft.c (the NETLINK_NETFILTER
 * handle: transactions and dumps) and antispoof.c (the ruleset). Not
 * public.
 */
#ifndef LIGHTVM_NFT_IMPL_H
#define LIGHTVM_NFT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "lightvm/antispoof.h"

#define LV_NFT_BUF (64u << 10)   /* a transaction being built, or replies */
#define LV_NFT_MSG_MAX 2048u     /* room kept for one message of a transaction */
/* The taps' chains are spread over LV_AS_SHARDS tables (by ifindex): a
 * transaction's cost grows with the chains of the tables it touches (the
 * kernel checks a changed table whole) and with the number of tables
 * (each message looks its table up in a list). */
#define LV_AS_SHARDS 32
#define LV_AS_TABLE_FMT "lightvm-%d" /* by ifindex % LV_AS_SHARDS */
#define LV_AS_CHAIN_FMT "tap%d"      /* a filtered tap's chain, by ifindex */
#define LV_AS_FAMILY 5           /* NFPROTO_NETDEV */

struct lv_nft {
    struct mnl_socket *sock;     /* owned */
    unsigned portid;
    uint32_t seq;                /* of the last message sent */
    struct mnl_nlmsg_batch *batch; /* over buf, while a transaction is built */
    uint32_t first_seq;          /* of the transaction being built */
    unsigned nacks;              /* its messages that ask for an ACK */
    int overflow;                /* it did not fit in buf */
    uint64_t buf[LV_NFT_BUF / 8];
    uint64_t rx[LV_NFT_BUF / 8];
};

/* Starts a transaction (the batch-begin message) in nft->buf. */
void lv_nft_begin(struct lv_nft *nft);

/* Room for the next message of the transaction: a buffer of at least
 * LV_NFT_MSG_MAX bytes for nftnl_nlmsg_build_hdr, and its sequence
 * number; NULL when the transaction is full (lv_nft_commit then fails
 * with -E2BIG). Call lv_nft_added() once the message is built. */
char *lv_nft_room(struct lv_nft *nft, uint32_t *seq);
/* The message at lv_nft_room() is complete (it asked for an ACK). */
void lv_nft_added(struct lv_nft *nft);

/* Ends the transaction, sends it and reads one ACK per message. 0 when
 * the kernel committed it, else the first error (the kernel's text in
 * kmsg[LV_NL_KMSG] when it gave one; nothing was changed). */
int lv_nft_commit(struct lv_nft *nft, char *kmsg);

/* Sends the dump request (h) (built in nft->buf, its sequence number
 * set here) and hands each reply message to (cb) until the dump ends.
 * 0 or -errno. */
int lv_nft_dump(struct lv_nft *nft, struct nlmsghdr *h, mnl_cb_t cb, void *arg);

#endif
