/*
 * mig_impl.h: the migration stream's framing (docs/migration.md), private
 * to lib/migrate: stream.c encodes and decodes it (no KVM: the fuzz
 * target drives the decoder), io.c moves bytes on an fd with timeouts,
 * send.c and recv.c are the two ends, commit.c how they end (R, C) and
 * local.c the local fast path.
 *
 * Header (64 bytes, little-endian):
 *   0 magic "LVMGx64\0"  8 u16 major  10 u16 minor  12 u32 arch
 *  16 u32 host  20 u32 guest ABI  24 u64 mem_size  32 u32 nnics
 *  36 u32 header_len (64)  40 u32 flags (from 1.1: LV_MIG_F_LOCAL; 1.0: 0)
 *  44 16 bytes zero  60 u32 CRC-32C of bytes 0..59
 * Records: u32 type, u32 length, length bytes of payload, u32 CRC-32C of
 * the type, length and payload.
 */
#ifndef LV_MIG_IMPL_H
#define LV_MIG_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/migrate.h"
#include "lightvm/snapshot.h"

#define LV_MIG_MAGIC "LVMGx64\0"
#define LV_MIG_HDR_LEN 64u
#define LV_MIG_MINOR_LOCAL 1u /* the minor that brought the flags word */
#define LV_MIG_F_LOCAL 1u     /* a local stream: the RAM is passed as an fd, no PAGES */
#define LV_MIG_COMMIT 'C'     /* the source stopped its VM for good (after R) */
#define LV_MIG_MINOR_COMMIT 2u /* the minor from which a copy ends with R and C */
#define LV_MIG_REC_HDR 8u   /* type, length */
#define LV_MIG_REC_CRC 4u
#define LV_MIG_PAGE 4096u
#define LV_MIG_PAGES_HDR 16u /* u64 first page, u32 count, u32 zero */
#define LV_MIG_ROUND_LEN 16u /* u32 round, u32 zero, u64 pages */
/* The largest payload: a state file, or a full run of pages. */
#define LV_MIG_PAYLOAD_MAX LV_SNAP_STATE_MAX
_Static_assert(LV_MIG_PAGES_HDR + LV_MIG_RUN_PAGES * LV_MIG_PAGE <= LV_MIG_PAYLOAD_MAX,
               "a run of pages fits the payload bound");
#define LV_MIG_REC_MAX (LV_MIG_REC_HDR + LV_MIG_PAYLOAD_MAX + LV_MIG_REC_CRC)

enum lv_mig_rec {
    LV_MIG_PAGES = 1, /* u64 first page index, u32 count (1..64), u32 0, count pages */
    LV_MIG_ROUND,     /* u32 round (0, 1, ...), u32 0, u64 pages sent in it */
    LV_MIG_STATE,     /* a snapshot state file (lv_snap_parse) */
    LV_MIG_END,       /* nothing */
};

/* A byte source for the decoder: (read) fills exactly (len) bytes or
 * fails with -errno and (err). */
struct lv_mig_reader {
    int (*read)(void *ctx, void *buf, size_t len, struct lv_err *err);
    void *ctx;
};

/* stream.c */
/* The header of (h) into (out) (LV_MIG_HDR_LEN bytes). */
void lv_mig_put_header(uint8_t *out, const struct lv_mig_hdr *h);
/* Checks a header (LV_MIG_HDR_LEN bytes) and fills (h). */
int lv_mig_check_header(const uint8_t *in, struct lv_mig_hdr *h, struct lv_err *err);
/* Frames a record in (rec): the caller wrote the payload at
 * rec + LV_MIG_REC_HDR; type, length and CRC are filled in. Returns the
 * record's whole length. */
size_t lv_mig_seal(uint8_t *rec, uint32_t type, uint32_t len);
/* The decoder, after the header: reads records from (r) up to END,
 * writing pages into (ram) (h->mem_size bytes; NULL for a local stream,
 * which must have none). (*snap) receives the
 * parsed state (the caller closes it). (buf): (cap) bytes of the caller's,
 * LV_MIG_REC_MAX for any stream (a stream in memory needs no more than
 * its length: a longer record is refused as cut short). */
int lv_mig_read_records(struct lv_mig_reader *r, const struct lv_mig_hdr *h, uint8_t *ram,
                        uint8_t *buf, size_t cap, struct lv_snap **snap,
                        struct lv_mig_stats *st, struct lv_err *err);

/* io.c: all of (len) bytes on (fd) (its flags unchanged), each wait for
 * the fd at most (timeout_ms); a peer that closed: -EPIPE. */
int lv_mig_write(int fd, const void *buf, size_t len, int timeout_ms, struct lv_err *err);
int lv_mig_read(int fd, void *buf, size_t len, int timeout_ms, struct lv_err *err);
/* opts->io_timeout_ms or its default. */
int lv_mig_io_timeout(const struct lv_mig_opts *o);
/* commit.c: opts->ack_timeout_ms or its default. */
int lv_mig_ack_timeout(const struct lv_mig_opts *o);
/* The source's end of the commit: waits for R (the ack timeout), then
 * writes C. On failure no C went out (a NACK, no R, a C that could not
 * be written): the source may resume its VM. */
int lv_mig_commit(int fd, const struct lv_mig_opts *o, struct lv_err *err);
/* recv.c: (vm) fresh (no image, not started, RAM a memfd) and of (h)'s
 * shape; (h) a local stream iff (local). */
struct lv_vm;
int lv_mig_check_vm(struct lv_vm *vm, const struct lv_mig_hdr *h, int local, struct lv_err *err);

#endif
