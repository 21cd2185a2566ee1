/*
 * nft_impl.h: lib/net internals shared by nft.c (the NETLINK_NETFILTER
 * handle: transactions and dumps) and the antispoof files (the ruleset:
 * antispoof_rule.c builds its rules, antispoof.c changes it,
 * antispoof_read.c reads it back). Not public.
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
#define LV_AS_NRULES 7           /* rules of a tap's chain (antispoof_rule.c) */
#define LV_AS_DROP_TAG "other"   /* the comment of its last rule (the seal's drop) */

struct nftnl_rule;

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

/* antispoof_rule.c: tap (ifindex)'s table and chain names. */
void lv_as_names(int ifindex, char table[32], char chain[32]);

/* antispoof_rule.c: rule (i) (0..LV_AS_NRULES-1, in chain order) of tap
 * (v)'s chain (chain) in (table), new (the caller owns it), or NULL (out
 * of memory). Rules 0 and LV_AS_NRULES-1 are the seal; 1..LV_AS_NRULES-2
 * are the VM's and use v->mac and v->ip. */
struct nftnl_rule *lv_as_rule(unsigned i, const struct lv_as_vif *v, const char *table,
                              const char *chain);

/* antispoof_read.c: the handle of the last rule (the seal's drop) of tap
 * (ifindex)'s chain into (*handle). 0, -ENOENT when the chain has no such
 * rule, or -errno. One dump. */
int lv_as_drop_handle(struct lv_nft *nft, int ifindex, uint64_t *handle);

#endif
