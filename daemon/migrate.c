/*
 * migrate.c: lightvmd's two ends of a live migration (docs/migration.md).
 *
 * Destination (--migrate-listen ADDR:PORT, --migrate-token-file FILE): a
 * TCP listener. A connection must send, within a second, one line
 * {"op":"migrate-in","v":1,"token":T,"spec":SPEC} of at most
 * LV_VM_SPEC_MAX + 1 KiB, read without blocking the loop (mighello.c).
 * Then lvd_mig_serve: the token is compared in constant time, the spec
 * is checked as a create's (name, bridges, MACs), then a shell of its
 * flavor takes the connection (lvd_create_vm, from "migration"): it
 * answers {"ok":true}, receives the VM and starts it. A refusal before
 * that is answered {"ok":false,"error":...} and the connection closed.
 * Once the token is right the rest is synchronous in the daemon's loop,
 * bounded by LVD_MIGRATE_TIMEOUT_MS: other clients wait meanwhile.
 *
 * Source (the "migrate" request, requests.c): lvd_mig_connect makes the
 * connection that the VM process then uses.
 *
 * Local (--migrate-listen unix:PATH, lightvm migrate NAME unix:PATH): two
 * daemons of one host (an upgrade of lightvmd). The listener is a Unix
 * socket (0600) whose peer must be this daemon's user; the same hello,
 * with "local": true when the source can pass its RAM's memfd instead
 * of its pages (lv_mig_send_local; a restored VM copies).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/token.h"
#include "lightvmd.h"

int lvd_mig_addr(const char *s, struct sockaddr_in *sa, struct lv_err *err)
{
    char host[INET_ADDRSTRLEN];
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long port;

    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return lv_err_set(err, EINVAL, "'%.64s': want A.B.C.D:PORT", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 || !colon[1] || *end || !port ||
        port > 65535)
        return lv_err_set(err, EINVAL, "'%.64s': want A.B.C.D:PORT", s);
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

int lvd_mig_listen(struct lvd_daemon *d, const char *addr, const char *token_file,
                   struct lv_err *err)
{
    struct sockaddr_in sa;
    int on = 1, local = !strncmp(addr, LVD_MIG_UNIX, strlen(LVD_MIG_UNIX));
    int rc = local ? 0 : lvd_mig_addr(addr, &sa, err);

    if (!rc)
        rc = lv_token_read(token_file, d->mig_token, err);
    if (rc)
        return rc;
    if (local) { /* one host's daemons: the RAM passes, not its pages */
        const char *path = addr + strlen(LVD_MIG_UNIX);
        if (path[0] != '/')
            return lv_err_set(err, EINVAL, "--migrate-listen '%s': want unix:/ABSOLUTE/PATH",
                              addr);
        rc = lv_ctl_listen(path, err); /* 0600, a stale socket replaced */
        if (rc < 0)
            return rc;
        d->mig_fd = rc;
        snprintf(d->mig_path, sizeof(d->mig_path), "%s", path);
        return 0;
    }
    d->mig_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->mig_fd < 0)
        return lv_err_set(err, errno, "migration listener: socket: %s", strerror(errno));
    setsockopt(d->mig_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(d->mig_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(d->mig_fd, 8) < 0)
        return lv_err_set(err, errno, "migration listener on %s: %s", addr, strerror(errno));
    return 0;
}

int lvd_mig_connect(const char *to, struct lv_err *err)
{
    if (!strncmp(to, LVD_MIG_UNIX, strlen(LVD_MIG_UNIX))) {
        if (to[strlen(LVD_MIG_UNIX)] != '/')
            return lv_err_set(err, EINVAL, "'%.64s': want unix:/ABSOLUTE/PATH", to);
        int fd = lv_ctl_connect(to + strlen(LVD_MIG_UNIX), err);
        return fd == -ENOENT || fd == -ECONNREFUSED
                   ? lv_err_set(err, -fd, "cannot connect to %s: %s", to, strerror(-fd))
                   : fd;
    }
    struct sockaddr_in sa;
    int fd, on = 1, rc = lvd_mig_addr(to, &sa, err), soerr = 0;
    socklen_t len = sizeof(soerr);

    if (rc)
        return rc;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "socket: %s", strerror(errno));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        rc = lv_err_set(err, errno, "cannot connect to %s: %s", to, strerror(errno));
    } else {
        struct pollfd pf = {fd, POLLOUT, 0};
        if (poll(&pf, 1, LVD_CALL_TIMEOUT_MS) != 1)
            rc = lv_err_set(err, ETIMEDOUT, "cannot connect to %s: no answer", to);
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr)
            rc = lv_err_set(err, soerr ? soerr : errno, "cannot connect to %s: %s", to,
                            strerror(soerr ? soerr : errno));
    }
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

/* NULL if (hello) may bring a VM here, else the refusal. */
static json_t *check_hello(struct lvd_daemon *d, json_t *hello, struct lv_vm_spec *vs)
{
    const char *op = json_string_value(json_object_get(hello, "op"));
    const char *token = json_string_value(json_object_get(hello, "token"));
    json_t *v = json_object_get(hello, "v");
    struct lv_err err = {""};

    if (!op || strcmp(op, "migrate-in") || !json_is_integer(v) ||
        json_integer_value(v) != LVD_MIG_VERSION)
        return lv_ctl_error("not a migration of version %d", LVD_MIG_VERSION);
    if (!token || !lv_token_equal(token, d->mig_token))
        return lv_ctl_error("wrong token");
    if (lv_vm_spec_from_json(json_object_get(hello, "spec"), vs, &err) < 0)
        return lv_ctl_error("spec: %s", err.msg);
    return NULL;
}

/* (s), the peer's, for the log: at most (cap - 1) bytes, anything but
 * printable ASCII as '?'; "" for NULL. */
static void printable(char *out, size_t cap, const char *s)
{
    size_t n = 0;

    for (; s && s[n] && n + 1 < cap; n++)
        out[n] = s[n] > ' ' && s[n] <= '~' ? s[n] : '?';
    out[n] = '\0';
}

/* A local (unix) peer must run as this daemon's user (SO_PEERCRED); a
 * TCP peer is judged by its token alone. */
int lvd_mig_peer_ok(const struct lvd_daemon *d, int fd)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);

    if (!d->mig_path[0])
        return 1;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.uid == geteuid();
}

void lvd_mig_serve(struct lvd_daemon *d, int fd, const char *from, json_t *hello, double t0)
{
    struct lv_vm_spec vs;
    json_t *rep = check_hello(d, hello, &vs);

    if (!rep) {
        /* the source says which path it takes: its RAM passed (local), or copied */
        struct lvd_source src = {{fd, -1}, 1, json_is_true(json_object_get(hello, "local"))
                                                  ? LVD_FROM_MIGRATION_LOCAL
                                                  : LVD_FROM_MIGRATION, 0};
        json_t *req = json_object();
        rep = req ? lvd_create_vm(d, req, &vs, &src, t0) : lv_ctl_error("out of memory");
        json_decref(req);
    }
    int ok = json_is_true(json_object_get(rep, "ok"));
    const char *e = json_string_value(json_object_get(rep, "error"));
    char name[LV_NAME_MAX];
    printable(name, sizeof(name),
              json_string_value(json_object_get(json_object_get(hello, "spec"), "name")));
    fprintf(stderr, "lightvmd: migration in from %s%s%s: %s%s\n", from, name[0] ? " of " : "",
            name, ok ? "running here" : "refused: ", ok ? "" : e ? e : "?");
    if (!ok) /* (after the shell's "ok", the source reads this as a broken stream;
              * never waited for: a peer that takes nothing is told nothing) */
        lvd_line_send(fd, rep, 0, NULL);
    json_decref(rep);
    close(fd);
}
