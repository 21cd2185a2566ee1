/*
 * ctl.h: the control protocol of lightvmd and of each VM process: one
 * JSON object per line in each direction over a Unix stream socket
 * (docs/protocol.md). Shared by the `lightvm` command, the daemon and the
 * VM processes.
 *
 * A message is at most LV_CTL_MAX bytes including its newline; a longer
 * line is a protocol error that ends the connection. Every fd is
 * O_CLOEXEC. Functions follow err.h (0 or -errno, one line in err).
 */
#ifndef LIGHTVM_CTL_H
#define LIGHTVM_CTL_H

#include <jansson.h>
#include <stddef.h>

#include "lightvm/err.h"

#define LV_CTL_MAX (1u << 20)

/* The default runtime directory, and the environment variable that
 * overrides it. */
#define LV_RUNDIR_DEFAULT "/run/lightvm"
#define LV_RUNDIR_ENV "LIGHTVM_RUNDIR"
#define LV_DAEMON_SOCK "lightvmd.sock"

/* The protocols' versions (docs/protocol.md, "Versions"): integers from
 * 1, one per protocol. A peer accepts its own version and refuses any
 * other with one line naming both; a message without "v" is taken as the
 * receiver's own version. */
#define LV_CTL_VERSION 1 /* `lightvm` (or a script) <-> lightvmd */
#define LV_VMP_VERSION 1 /* lightvmd <-> a VM process (and its shell) */

/* The version (msg) claims in its "v" in (*v), or (absent) when it has
 * none. 0, or -EPROTO with err when "v" is there but not an integer. */
int lv_ctl_version_get(const json_t *msg, json_int_t absent, json_int_t *v, struct lv_err *err);

/* 0 if (msg) speaks version (mine) ("v" absent: it does); else -EPROTO
 * and err "version X not supported (this WHO speaks MINE)" (or why its
 * "v" is no version). */
int lv_ctl_version_check(const json_t *msg, int mine, const char *who, struct lv_err *err);

/* The longest a shutdown may give its guest (timeout_ms, in ms). */
#define LV_SHUTDOWN_TIMEOUT_MAX_MS 600000

/* $LIGHTVM_RUNDIR if set and non-empty, else LV_RUNDIR_DEFAULT. */
const char *lv_rundir(void);

#define LV_CTL_MAX_FDS 2 /* fds passed with one message, at most */

/* One end of a connection with its receive buffer. */
struct lv_ctl_conn {
    int fd;        /* owned; -1 when closed */
    char *buf;     /* owned */
    size_t len, cap;
    int passed[LV_CTL_MAX_FDS]; /* the fds the peer passed with its last message that carried any
                    * (SCM_RIGHTS, at most LV_CTL_MAX_FDS), owned until taken; -1 if none */
};

/* As lv_ctl_send, passing (fd) (borrowed: the peer gets a duplicate)
 * with the message's first bytes; the peer takes it with lv_ctl_take_fd
 * after receiving the message. Unix sockets only. */
int lv_ctl_send_fd(struct lv_ctl_conn *c, const json_t *msg, int fd, int timeout_ms,
                   struct lv_err *err);
/* As lv_ctl_send_fd with (n) fds (at most LV_CTL_MAX_FDS, borrowed). */
int lv_ctl_send_fds(struct lv_ctl_conn *c, const json_t *msg, const int *fds, unsigned n,
                    int timeout_ms, struct lv_err *err);
/* The first fd the peer passed with its last message that carried any
 * (the caller owns it; any other is closed), or -1. */
int lv_ctl_take_fd(struct lv_ctl_conn *c);
/* All of them, in the order sent: (fds) gets LV_CTL_MAX_FDS entries, -1
 * where none; the caller owns the others. Returns how many were passed. */
unsigned lv_ctl_take_fds(struct lv_ctl_conn *c, int fds[LV_CTL_MAX_FDS]);

/* Binds and listens on (path) (at most 107 bytes), mode 0600; a stale
 * socket file nobody listens on is replaced, a live one is -EADDRINUSE.
 * Returns the fd (O_CLOEXEC | O_NONBLOCK). */
int lv_ctl_listen(const char *path, struct lv_err *err);

/* Connects to (path). -ENOENT / -ECONNREFUSED when nobody listens. */
int lv_ctl_connect(const char *path, struct lv_err *err);

/* Takes ownership of (fd). */
void lv_ctl_conn_init(struct lv_ctl_conn *c, int fd);
void lv_ctl_conn_close(struct lv_ctl_conn *c);

/* Writes (msg) as one line, waiting up to (timeout_ms) for the peer to
 * take it. (msg) stays the caller's. */
int lv_ctl_send(struct lv_ctl_conn *c, const json_t *msg, int timeout_ms, struct lv_err *err);

/* Reads the next message, waiting up to (timeout_ms) (-1: no limit).
 * 0 and a new reference in (*out); -EPIPE when the peer closed cleanly
 * before a message began; -ETIMEDOUT; -EPROTO on a line over LV_CTL_MAX
 * or that is not a JSON object. */
int lv_ctl_recv(struct lv_ctl_conn *c, int timeout_ms, json_t **out, struct lv_err *err);

/* Reads what is available without blocking: 1 and (*out) when a whole
 * message is buffered, 0 when more is needed, -EPIPE at EOF, or another
 * negative errno. For event loops. */
int lv_ctl_poll_recv(struct lv_ctl_conn *c, json_t **out, struct lv_err *err);

/* connect + send + recv + close. (*reply) is a new reference on success
 * and NULL on failure. A reply {"ok": false, "error": E} is returned as
 * -EREMOTEIO with E in err. */
int lv_ctl_call(const char *path, const json_t *req, int timeout_ms, json_t **reply,
                struct lv_err *err);

/* {"ok": true} / {"ok": false, "error": "<fmt...>"} (new references). */
json_t *lv_ctl_ok(void);
json_t *lv_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
