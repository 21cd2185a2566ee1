/*
 * migrate.h: live migration of a VM over a byte stream (docs/migration.md):
 * pre-copy of the guest RAM in rounds with KVM dirty logging (dirty.h),
 * then a short stop: the last dirty pages and the VM's state (the
 * snapshot state file's bytes, lv_vm_save_state), then a two-byte
 * commit: the destination says it is ready (R: everything checked and
 * restored, not running), the source stops its VM for good and says so
 * (C), and only then does the destination run it. The VM never runs on
 * both sides (stream 1.2; a 1.0 stream ran the destination before its
 * ack, and is refused).
 *
 *   source                              destination
 *   lv_mig_send(vm, fd) ------------->  lv_mig_recv_header(fd) -> size, NICs
 *     round 0: every touched page       lv_vm_create(that size, NICs; no image)
 *     rounds 1..: the dirty pages       lv_mig_recv(vm, fd): pages into RAM,
 *     pause, last pages, STATE, END       STATE checked, lv_vm_restore_state
 *     waits for R  <------------------  lv_mig_ready(fd): R, then waits for C
 *     stops the VM, C  --------------->  lv_vm_start
 *     0                                  (on any failure before R:
 *   (on any failure before C went out:    lv_mig_refuse(fd); after R, no C:
 *    the VM unpaused, runs on; -errno)    nothing sent; then lv_vm_destroy)
 *
 * A C written but lost with the connection stops the VM on both sides
 * (the destination gives up waiting): the one failure that loses it,
 * never one that runs it twice.
 *
 * The stream is hostile input at the destination: every field is checked
 * before use, its size is bounded (rounds, records, bytes), nothing is
 * allocated in proportion to what it claims. Both ends take any stream
 * fd (socket, pipe), borrowed, blocking or not (its flags are not
 * changed: a socket is used with MSG_DONTWAIT, a pipe polled first), and
 * each read or write waits at most opts->io_timeout_ms. A socket is
 * written with MSG_NOSIGNAL; a process writing into a pipe must ignore
 * SIGPIPE itself. System calls: poll, sendto, recvfrom, read and write
 * (a pipe), and a save's (lseek, mincore; the KVM ioctls).
 */
#ifndef LIGHTVM_MIGRATE_H
#define LIGHTVM_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/vm.h"

#define LV_MIG_MAJOR 1u
#define LV_MIG_MINOR 2u  /* 1.1: the flags word, a local stream (lv_mig_send_local);
                          * 1.2: a copy ends with R and C too (the destination
                          * waits for C before it runs the VM) */
#define LV_MIG_MAX_ROUNDS 64u   /* ROUND records in a stream, at most */
#define LV_MIG_RUN_PAGES 64u    /* pages in one PAGES record, at most */
#define LV_MIG_BYTES_FACTOR 8u  /* page bytes in a stream: at most this x the memory size */
#define LV_MIG_ACK 'R'          /* the destination is ready: checked, restored, not running */
#define LV_MIG_NACK 'F'         /* the destination gave up */

struct lv_mig_opts {
    int io_timeout_ms;   /* each read or write waits at most this; 0: 5000 */
    int ack_timeout_ms;  /* the source waits this long for R after END, the destination
                          * for C after R; 0: 10000 */
    unsigned max_rounds; /* pre-copy rounds after round 0; 0: 16; at most LV_MIG_MAX_ROUNDS - 2 */
    uint64_t stop_pages; /* stop and copy once a round finds at most this many dirty
                          * pages; 0: 256 (1 MiB) */
    int no_precopy;      /* 1: no dirty tracking: pause first, send every touched
                          * page and the state (a plain stop-and-copy) */
    const char *spec;    /* the spec text to carry in the state (as lv_vm_save's); NULL: none */
};

struct lv_mig_stats {
    unsigned rounds;                    /* ROUND records (the last, stopped one included) */
    uint64_t pages[LV_MIG_MAX_ROUNDS];  /* pages sent (received) in each round */
    uint64_t bytes;                     /* bytes of the stream, header to END */
    uint64_t state_bytes;               /* of the STATE record's state */
    int converged;                      /* source: 1 = the dirty set fell under stop_pages;
                                         * 0 = the dirty rate outran the sending, or a bound
                                         * (rounds, bytes) was reached: stop-and-copy */
    uint64_t downtime_ns;               /* source: pause .. C written; destination: 0 */
    uint64_t total_ns;                  /* the whole call */
};

/* What the stream's header says the destination VM must be. */
struct lv_mig_hdr {
    uint64_t mem_size; /* lv_vm_config.mem_size */
    unsigned nnics;    /* lv_vm_config.nnics */
    int pvm;           /* sent from a PVM host (the destination must be one too) */
    int local;         /* a local stream (lv_mig_send_local): refused by lv_mig_recv */
    unsigned minor;    /* the stream's minor version: a copy older than 1.2 is refused */
};

/* The source: migrates the running (vm) (started, not paused) into (fd)
 * (borrowed), waits for the destination's R and commits (C). On success
 * (0) the VM has stopped (lv_vm_stop: it never runs here again; the
 * caller destroys it) and the destination runs it. On any failure before
 * C went out (a write, a KVM call, a NACK, no R within ack_timeout_ms)
 * the VM is unpaused and runs on here, dirty tracking is off, and -errno
 * is returned with one line in (err). (o) may be NULL (defaults); (st) may be NULL. The VM's
 * controlling thread only. */
int lv_mig_send(struct lv_vm *vm, int fd, const struct lv_mig_opts *o, struct lv_mig_stats *st,
                struct lv_err *err);

/* The destination, first: reads and checks the stream's header (64
 * bytes) from (fd) into (h). */
int lv_mig_recv_header(int fd, const struct lv_mig_opts *o, struct lv_mig_hdr *h,
                       struct lv_err *err);

/* The destination, then: (vm) made by lv_vm_create with h->mem_size and
 * h->nnics, no image, not started (its threads may wait: a pool shell);
 * NIC identities set on it before (lv_vm_set_nic) win over the source's,
 * as in lv_vm_restore. Refuses a copying stream older than 1.2 (no
 * commit). Reads the records up to END, writing each page into the VM's
 * RAM once its record passed every check (CRC included), then restores
 * the state (lv_vm_restore_state; the devices' first pass waits for
 * lv_vm_start: nothing leaves the NICs before). On success the caller
 * calls lv_mig_ready, then lv_vm_start. On failure (-errno, (err)) the
 * VM is only good for lv_vm_destroy: the caller sends lv_mig_refuse(fd)
 * and destroys it. */
int lv_mig_recv(struct lv_vm *vm, int fd, const struct lv_mig_hdr *h, const struct lv_mig_opts *o,
                struct lv_mig_stats *st, struct lv_err *err);

/* The destination's commit: writes R, then waits (ack_timeout_ms) for
 * the source's C. 0: the source has stopped its VM for good: start this
 * one now (lv_vm_start). Else (-errno, (err): no C in time, the peer
 * gone, another byte) the source runs on, or will once it gives up:
 * this VM must never run (lv_vm_destroy). (o) may be NULL. */
int lv_mig_ready(int fd, const struct lv_mig_opts *o, struct lv_err *err);

/* Tells the source the destination gave up (F), best effort: the source
 * resumes its VM (or does when its wait for R ends). */
void lv_mig_refuse(int fd);

/* ---- The local fast path (docs/migration.md, "The local fast path") ----
 * Between two processes of one host (an upgrade of lightvmd under its
 * VMs): the RAM's memfd goes over (sock), a connected AF_UNIX stream
 * socket (borrowed; its flags unchanged), with SCM_RIGHTS, in place of
 * its pages; the stream is header (flag local; the fd attached),
 * ROUND 0 of no pages, STATE, END, then R from the destination (checked
 * and mapped, nothing written), C from the source (stopped for good),
 * and only then does the destination write into the shared RAM (the
 * restore) and run the VM: the two never run at once. System calls on
 * top of a copy's: sendmsg, recvmsg, fcntl(F_GET_SEALS), mmap
 * (MAP_SHARED | MAP_FIXED). */

/* The source: (vm) running (started, not paused), its RAM a plain memfd:
 * a restored VM (its RAM a private mapping of a snapshot's memory file,
 * whose written pages are in no file) is refused with -EINVAL and a line
 * that says so (use lv_mig_send). Pauses, quiesces the devices, takes the
 * state, sends it with the fd, waits for R (ack_timeout_ms), writes C. On
 * success (0) the VM has stopped (lv_vm_stop; the caller destroys it and
 * must not touch its RAM meanwhile: it is the destination's now). On any
 * failure before C went out (a write, F, no R in time) the VM runs on
 * here, unpaused, and -errno is returned with (err). (o) may be NULL
 * (io_timeout_ms, ack_timeout_ms and spec are used); (st) may be NULL
 * (downtime_ns: pause .. C written). The VM's controlling thread only. */
int lv_mig_send_local(struct lv_vm *vm, int sock, const struct lv_mig_opts *o,
                      struct lv_mig_stats *st, struct lv_err *err);

/* 0 if (vm)'s RAM can be passed (lv_mig_send_local), else -EINVAL and the
 * reason (a restored VM, an unsealed memfd): a caller that must tell its
 * peer which path comes asks first. */
int lv_mig_local_ok(const struct lv_vm *vm, struct lv_err *err);

/* The destination: (vm) made by lv_vm_create with the source's memory
 * size and NIC count, no image, not started (a pool shell will do; NIC
 * identities set before win, as in lv_vm_restore). Reads the header and
 * the fd (exactly one, a memfd of exactly the memory size sealed against
 * resizing: anything else refused), the records (every check of a
 * copy's; no PAGES), checks the state against the VM, maps the fd
 * MAP_SHARED | MAP_FIXED over the VM's RAM at the same address (no
 * memslot change; the VM's memfd closed, the new fd kept: mem.h), writes
 * R, waits for C, restores the state (lv_vm_restore_state). The answers
 * are this function's: the caller neither acks nor nacks. On success the
 * source has stopped and the caller runs the VM (lv_vm_start; a start
 * that fails loses it). On failure (-errno, (err)) the VM is only good
 * for lv_vm_destroy: before C the source resumes its own (an F is sent
 * when it can be); a failure after C (the restore) loses the VM, which
 * (err) says. (st): bytes, state_bytes, downtime_ns (C .. restored). */
int lv_mig_recv_local(struct lv_vm *vm, int sock, const struct lv_mig_opts *o,
                      struct lv_mig_stats *st, struct lv_err *err);

/* Checks a whole stream held in memory (buf, len) as lv_mig_recv does,
 * with (ram) (ram_size bytes, the header's memory size) in place of a
 * VM's RAM, and parses the STATE (lv_snap_parse) without restoring it:
 * for tests and the fuzz target. A refused stream has changed (ram) only
 * in the pages of records that passed every check before the refusal.
 * (h) receives the header (may be NULL). */
int lv_mig_decode(const void *buf, size_t len, uint8_t *ram, uint64_t ram_size,
                  struct lv_mig_hdr *h, struct lv_mig_stats *st, struct lv_err *err);

#endif
