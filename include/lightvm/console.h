/*
 * console.h: where a VM's console output goes (lv_vm_config.console).
 *
 * Two kinds of console:
 *
 * - A log with a size cap, for VMs nobody watches (lightvmd's): the files
 *   LV_CONSOLE_LOG and LV_CONSOLE_OLD in a directory, together at most
 *   (cap) bytes. Output is appended to LV_CONSOLE_LOG; a write that would
 *   take it past cap / 2 first rotates it: LV_CONSOLE_LOG replaces
 *   LV_CONSOLE_OLD and a new, empty LV_CONSOLE_LOG starts. So the log
 *   keeps the newest output (between cap / 2 and cap bytes of it once it
 *   has rotated) and overwrites the oldest; of a single write larger than
 *   cap / 2 only its last cap / 2 bytes are kept. A failed write (ENOSPC,
 *   EIO, EFBIG...) loses that output and nothing else: it is counted,
 *   never reported to the VM, which keeps running. The console follows
 *   its directory when the directory is renamed.
 * - A file descriptor (lightvm run's stdout), optionally escaped for a
 *   terminal (escape.h). A failed write there is returned: the VM stops
 *   (a closed stdout ends `lightvm run`).
 *
 * lv_console_write() is called by the vCPU thread; lv_console_stats()
 * may be called from any thread at the same time.
 */
#ifndef LIGHTVM_CONSOLE_H
#define LIGHTVM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"

#define LV_CONSOLE_LOG "console.log"   /* the newest output */
#define LV_CONSOLE_OLD "console.log.1" /* the output before it, if rotated */
/* How the vCPU thread (re)opens LV_CONSOLE_LOG (its seccomp filter allows
 * these flags only; needs <fcntl.h>). */
#define LV_CONSOLE_LOG_FLAGS (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
#define LV_CONSOLE_CAP_DEFAULT (128u << 10)
#define LV_CONSOLE_CAP_MIN (8u << 10)
#define LV_CONSOLE_CAP_MAX (1ull << 30)

#define LV_CONSOLE_ESCAPE (1u << 0) /* lv_console_open_fd: escape for a terminal */

struct lv_console_stats {
    uint64_t cap;     /* the log's cap; 0 for a file descriptor console */
    uint64_t bytes;   /* bytes the guest wrote */
    uint64_t dropped; /* of those, bytes the log no longer holds: rotated out (the
                       * oldest), cut from an oversized write, or lost to a failed
                       * write. bytes - dropped is what the log files hold
                       * (for a log that started empty). */
    uint64_t errors;  /* failed writes (or rotations) of the log */
    int last_errno;   /* of the last failure, 0 if none */
};

struct lv_console;

/* A capped log in the directory (dir), appending to the files already
 * there. cap: LV_CONSOLE_CAP_MIN .. LV_CONSOLE_CAP_MAX bytes. On success
 * the caller owns (*out) (lv_console_close). */
int lv_console_open_log(struct lv_console **out, const char *dir, uint64_t cap,
                        struct lv_err *err);

/* A console writing to (fd) (borrowed, not closed) with (flags)
 * LV_CONSOLE_*. On success the caller owns (*out). */
int lv_console_open_fd(struct lv_console **out, int fd, unsigned flags, struct lv_err *err);

/* The guest wrote (len) bytes (at most 64 KiB, LV_CONSOLE_MAX). 0, or
 * -errno when a file descriptor console could not write them (a log
 * console always returns 0). */
int lv_console_write(struct lv_console *c, const uint8_t *buf, size_t len);

/* Writes out what an escaping console holds back (the start of a UTF-8
 * sequence the guest has not finished). 0 or -errno. */
int lv_console_flush(struct lv_console *c);

void lv_console_stats(const struct lv_console *c, struct lv_console_stats *out);

/* Releases the console (without flushing); sets *c = NULL. NULL is fine. */
void lv_console_close(struct lv_console **c);

/* The last (cap) bytes of the log in (dir) (both files, oldest first)
 * into (buf), their number in (*len): a consistent view even while a VM
 * writes and rotates it. No log there is an empty one. 0 or -errno. */
int lv_console_tail(const char *dir, uint8_t *buf, size_t cap, size_t *len, struct lv_err *err);

#endif
