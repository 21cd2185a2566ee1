/*
 * migvm.h: what the KVM migration and snapshot tests (test_migrate,
 * test_miglocal, test_snapshot) share: the KVM handle and netlink of a test, VMs on taps of one bridge
 * in the test's own network namespace, the counter guest booted on a
 * fixed address, asking it over UDP (one request at a time, or a client
 * thread that keeps asking), the source's sending thread and the start of
 * a forwarding thread between the two ends.
 *
 * A test owns one struct migvm (its constants set, the rest filled by
 * migvm_open, released by migvm_close); every box and fd passed in is the
 * caller's, but the forwarder's two ends (its thread closes them).
 * Failures are reported with CHECK (lvtest.h).
 */
#ifndef LIGHTVM_TESTS_MIGVM_H
#define LIGHTVM_TESTS_MIGVM_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm/migrate.h"
#include "lightvm/net.h"
#include "lightvm/vm.h"
#include "lvtest.h"

#define IO_MS 60000 /* nested VMs are slow: generous waits */

struct migvm {
    const char *bridge; /* the bridge every tap joins */
    const char *vm_ip;  /* a booted guest's address (dotted) */
    const char *gw;     /* the bridge's address, the guest's gateway (/24) */
    uint64_t mem;       /* a booted guest's RAM */
    /* filled by migvm_open */
    struct lv_kvm kvm;
    struct lv_nl *nl;
    char guest_dir[PATH_MAX];
};

/* Root and KVM required (else exits as the lvtest helpers do); argv[1]
 * the guest directory. A private network namespace, KVM, netlink, the
 * bridge with m->gw on it. 0, or 1 after printing a FAIL line (main's
 * status). */
int migvm_open(struct migvm *m, const char *test, int argc, char **argv);
void migvm_close(struct migvm *m);


/* ---- VMs ---- */

struct box {
    struct lv_vm *vm;
    struct lv_tap tap;
};

/* A new tap on the bridge and a VM on it with identity (id) (NULL: none,
 * as a destination); (shell): threads spawned and warmed. */
int box_make(struct migvm *m, struct box *b, const struct lv_vm_nic *id, uint64_t mem,
             int shell);
void box_free(struct box *b);

/* Boots guest (app) with (cmdline) on m->vm_ip. */
int boot(struct migvm *m, struct box *b, const char *app, const char *cmdline);

/* The source stopped for good after a migration. */
void check_stopped(struct box *src);

/* ---- asking over UDP ---- */

/* A reply (NUL-terminated) within (ms); 1 if one came. */
int recv_wait(int fd, char *buf, size_t cap, int ms);
/* One datagram to m->vm_ip:7; 1 if sent. */
int send_req(const struct migvm *m, int fd);
/* One datagram to m->vm_ip:7 and a reply within (ms). */
int ask_once(const struct migvm *m, int fd, char *buf, size_t cap, int ms);

/* Asks counter up to (tries) times; 1 with (r) if it answered. */
int ask(const struct migvm *m, int tries, struct lvt_reply *r);

/* The client thread (client_main): asks counter until told to stop (then
 * 5 more), each request sent at most twice; counts what it saw: replies
 * out of order, and replies whose guest clock (uptime) is behind the one
 * before (clock_back: the guest's clock went back across a migration). */
struct client {
    const struct migvm *m;
    pthread_t t;
    atomic_int done;
    int asked, answered, retried, disorder, clock_back;
    unsigned long first, last, last_uptime_ms;
};

void *client_main(void *arg);

/* ---- the source's end: a sending thread ---- */

/* lv_mig_send or lv_mig_send_local */
typedef int migvm_send_fn(struct lv_vm *vm, int fd, const struct lv_mig_opts *o,
                          struct lv_mig_stats *st, struct lv_err *err);

struct sender {
    pthread_t t;
    migvm_send_fn *send;
    struct lv_vm *vm;
    int fd;
    struct lv_mig_opts o;
    struct lv_mig_stats st;
    struct lv_err e;
    int rc;
};

/* (*s) reset and a thread started that sends (vm) on (fd) (not owned)
 * with (send): I/O timeout IO_MS, ack timeout (ack_ms), (no_precopy);
 * its result in s->rc, s->st, s->e after pthread_join. pthread_create's
 * status. */
int start_sender(struct sender *s, migvm_send_fn *send, struct lv_vm *vm, int fd,
                 int no_precopy, int ack_ms);

/* A forwarding thread between a source and a destination: two
 * socketpairs, s1[0] the source's end and s2[1] the destination's (the
 * caller's); the forwarder's *a = s1[1] (the source's peer) and *b =
 * s2[0] (the destination's), set before (fn)(arg) starts on *t. Failures
 * CHECKed ("socketpairs", "forwarder"). */
void fwd_start(int s1[2], int s2[2], int *a, int *b, pthread_t *t, void *(*fn)(void *),
               void *arg);

#endif
