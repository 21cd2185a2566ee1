/* console.c: a VM's console: a capped, rotated log or a file descriptor
 * (console.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/console.h"
#include "lightvm/escape.h"

#define ESC_CHUNK (64u << 10) /* input bytes escaped at a time */
#define TAIL_TRIES 4

struct lv_console {
    int is_log;
    int fd;           /* log: the current LV_CONSOLE_LOG, owned (-1 after a failed
                       * reopen); else the caller's, borrowed */
    int dirfd;        /* log: O_PATH of its directory, owned; else -1 */
    uint64_t cap, half;
    uint64_t cur, prev; /* log: bytes in LV_CONSOLE_LOG, LV_CONSOLE_OLD */
    unsigned flags;
    struct lv_esc esc;
    char *ebuf;       /* LV_ESC_MAX(ESC_CHUNK) bytes when escaping, owned */
    /* counters: written by the vCPU thread, read by any (atomics) */
    uint64_t bytes, dropped, errors;
    int last_errno;
};

static void count(uint64_t *v, uint64_t n)
{
    __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

/* Output that did not reach the log or the fd because of (e). */
static void failed(struct lv_console *c, uint64_t lost, int e)
{
    count(&c->dropped, lost);
    count(&c->errors, 1);
    __atomic_store_n(&c->last_errno, e, __ATOMIC_RELAXED);
}

/* Writes all of (buf); 0, or the errno that stopped it with the bytes
 * written before in (*done). */
static int write_all(int fd, const void *buf, size_t len, size_t *done)
{
    const uint8_t *p = buf;

    *done = 0;
    while (*done < len) {
        ssize_t n = write(fd, p + *done, len - *done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        *done += (size_t)n;
    }
    return 0;
}

static struct lv_console *alloc_console(void)
{
    struct lv_console *c = calloc(1, sizeof(*c));

    if (c)
        c->fd = c->dirfd = -1;
    return c;
}

/* ---- the capped log ---- */

/* (Re)opens LV_CONSOLE_LOG for appending; its size becomes c->cur. */
static int log_open(struct lv_console *c)
{
    struct stat st;

    c->fd = openat(c->dirfd, LV_CONSOLE_LOG, LV_CONSOLE_LOG_FLAGS, 0600);
    if (c->fd < 0)
        return -errno;
    int e = fstat(c->fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EINVAL;
    if (e) {
        close(c->fd);
        c->fd = -1;
        return -e;
    }
    c->cur = (uint64_t)st.st_size;
    return 0;
}

/* Makes room: LV_CONSOLE_LOG becomes LV_CONSOLE_OLD (the old one's bytes
 * are dropped) and a new one starts. If the rename fails, the current
 * file is emptied instead; if LV_CONSOLE_LOG was removed under us, a new
 * one starts. 0 or -errno. */
static int log_rotate(struct lv_console *c)
{
    if (renameat(c->dirfd, LV_CONSOLE_LOG, c->dirfd, LV_CONSOLE_OLD) < 0) {
        int e = errno;
        if (e == ENOENT) { /* someone removed it: its bytes are gone */
            struct stat st;
            count(&c->dropped, c->cur);
            if (fstatat(c->dirfd, LV_CONSOLE_OLD, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                count(&c->dropped, c->prev); /* and the older part too */
                c->prev = 0;
            }
            close(c->fd);
            return log_open(c);
        }
        if (ftruncate(c->fd, 0) < 0)
            return -errno;
        failed(c, c->cur, e); /* O_APPEND: the next write lands at 0 */
        c->cur = 0;
        return 0;
    }
    count(&c->dropped, c->prev);
    c->prev = c->cur;
    c->cur = 0;
    close(c->fd);
    return log_open(c);
}

static void log_write(struct lv_console *c, const uint8_t *buf, size_t len)
{
    size_t done;
    int rc;

    if (len > c->half) { /* only its end can be kept */
        count(&c->dropped, len - c->half);
        buf += len - c->half;
        len = (size_t)c->half;
    }
    if (!len)
        return;
    rc = c->fd < 0 ? log_open(c) : 0;
    if (!rc && c->cur + len > c->half)
        rc = log_rotate(c);
    if (rc) {
        failed(c, len, -rc);
        return;
    }
    rc = write_all(c->fd, buf, len, &done);
    c->cur += done;
    if (rc)
        failed(c, len - done, rc);
}

int lv_console_open_log(struct lv_console **out, const char *dir, uint64_t cap,
                        struct lv_err *err)
{
    struct lv_console *c;
    struct stat st;
    int rc;

    *out = NULL;
    if (cap < LV_CONSOLE_CAP_MIN || cap > LV_CONSOLE_CAP_MAX)
        return lv_err_set(err, EINVAL, "console cap %llu bytes: want %u .. %llu",
                          (unsigned long long)cap, LV_CONSOLE_CAP_MIN,
                          (unsigned long long)LV_CONSOLE_CAP_MAX);
    c = alloc_console();
    if (!c)
        return lv_err_set(err, ENOMEM, "out of memory");
    c->is_log = 1;
    c->cap = cap;
    c->half = cap / 2;
    c->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd < 0) {
        rc = lv_err_set(err, errno, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    rc = log_open(c);
    if (rc) {
        rc = lv_err_set(err, -rc, "%s/%s: %s", dir, LV_CONSOLE_LOG, strerror(-rc));
        goto fail;
    }
    if (fstatat(c->dirfd, LV_CONSOLE_OLD, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        c->prev = (uint64_t)st.st_size;
    *out = c;
    return 0;

fail:
    lv_console_close(&c);
    return rc;
}

/* ---- a file descriptor ---- */

int lv_console_open_fd(struct lv_console **out, int fd, unsigned flags, struct lv_err *err)
{
    struct lv_console *c;

    *out = NULL;
    if (fd < 0 || (flags & ~LV_CONSOLE_ESCAPE))
        return lv_err_set(err, EINVAL, "console: bad fd %d or flags 0x%x", fd, flags);
    c = alloc_console();
    if (c && (flags & LV_CONSOLE_ESCAPE) && !(c->ebuf = malloc(LV_ESC_MAX(ESC_CHUNK))))
        lv_console_close(&c);
    if (!c)
        return lv_err_set(err, ENOMEM, "out of memory");
    c->fd = fd;
    c->flags = flags;
    *out = c;
    return 0;
}

static int fd_write(struct lv_console *c, const uint8_t *buf, size_t len)
{
    size_t done;
    int rc;

    if (!c->ebuf) {
        rc = write_all(c->fd, buf, len, &done);
        if (rc)
            failed(c, len - done, rc);
        return -rc;
    }
    while (len) {
        size_t n = len < ESC_CHUNK ? len : ESC_CHUNK;
        size_t o = lv_esc_feed(&c->esc, buf, n, c->ebuf);
        rc = write_all(c->fd, c->ebuf, o, &done);
        if (rc) {
            failed(c, len, rc);
            return -rc;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

/* ---- both ---- */

int lv_console_write(struct lv_console *c, const uint8_t *buf, size_t len)
{
    count(&c->bytes, len);
    if (c->is_log) {
        log_write(c, buf, len);
        return 0;
    }
    return fd_write(c, buf, len);
}

int lv_console_flush(struct lv_console *c)
{
    size_t o, done;
    int rc;

    if (!c || !c->ebuf)
        return 0;
    o = lv_esc_end(&c->esc, c->ebuf);
    rc = o ? write_all(c->fd, c->ebuf, o, &done) : 0;
    return -rc;
}

void lv_console_stats(const struct lv_console *c, struct lv_console_stats *out)
{
    out->cap = c->cap;
    out->bytes = __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
    out->errors = __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
    out->last_errno = __atomic_load_n(&c->last_errno, __ATOMIC_RELAXED);
}

void lv_console_close(struct lv_console **pc)
{
    struct lv_console *c = *pc;

    if (!c)
        return;
    if (c->is_log && c->fd >= 0)
        close(c->fd);
    if (c->dirfd >= 0)
        close(c->dirfd);
    free(c->ebuf);
    free(c);
    *pc = NULL;
}

/* ---- reading the log ---- */

/* Opens (name) in (dfd) for reading: its fd, -1 if it does not exist (or
 * is not a regular file: then *bad is set). */
static int open_part(int dfd, const char *name, struct stat *st, int *bad)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd < 0) {
        *bad |= errno != ENOENT;
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        *bad = 1;
        close(fd);
        return -1;
    }
    return fd;
}

/* The last (n) of (size) bytes of (fd) into (buf); the number read. */
static size_t read_end(int fd, off_t size, uint8_t *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, size - (off_t)n + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* Both parts, opened so that they belong together: LV_CONSOLE_OLD is
 * still the file opened first once LV_CONSOLE_LOG is open (a rotation in
 * between would pair the newest part with an older one: try again; after
 * TAIL_TRIES, the newest part alone, which is contiguous by itself). */
static int open_parts(int dfd, int *old, int *cur, struct stat *so, struct stat *sc)
{
    for (int t = 0;; t++) {
        struct stat now;
        int bad = 0, same;

        *old = open_part(dfd, LV_CONSOLE_OLD, so, &bad);
        *cur = open_part(dfd, LV_CONSOLE_LOG, sc, &bad);
        if (bad && *old < 0 && *cur < 0)
            return -EIO;
        if (fstatat(dfd, LV_CONSOLE_OLD, &now, AT_SYMLINK_NOFOLLOW) < 0)
            same = *old < 0 && errno == ENOENT;
        else
            same = *old >= 0 && now.st_ino == so->st_ino && now.st_dev == so->st_dev;
        if (same)
            return 0;
        if (*old >= 0)
            close(*old);
        *old = -1;
        if (t + 1 == TAIL_TRIES)
            return 0;
        if (*cur >= 0)
            close(*cur);
    }
}

int lv_console_tail(const char *dir, uint8_t *buf, size_t cap, size_t *len, struct lv_err *err)
{
    struct stat so, sc;
    int dfd, old, cur, rc;
    size_t from_old = 0, from_cur = 0;

    *len = 0;
    dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return lv_err_set(err, errno, "%s: %s", dir, strerror(errno));
    rc = open_parts(dfd, &old, &cur, &so, &sc);
    close(dfd);
    if (rc)
        return lv_err_set(err, -rc, "%s: cannot read the console log (not a regular file?)", dir);
    if (cur >= 0)
        from_cur = (uint64_t)sc.st_size < cap ? (size_t)sc.st_size : cap;
    if (old >= 0)
        from_old = (uint64_t)so.st_size < cap - from_cur ? (size_t)so.st_size : cap - from_cur;
    if (old >= 0) {
        from_old = read_end(old, so.st_size, buf, from_old);
        close(old);
    }
    if (cur >= 0) {
        from_cur = read_end(cur, sc.st_size, buf + from_old, from_cur);
        close(cur);
    }
    *len = from_old + from_cur;
    return 0;
}
