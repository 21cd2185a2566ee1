/*
 * vmmigrate.c: a VM process's side of a live migration (docs/migration.md).
 *
 * Source: the "migrate" request comes with the TCP connection lightvmd
 * made to the destination's lightvmd. This process says hello on it, one
 * line {"op":"migrate-in","v":LVD_MIG_VERSION,"token":T,"spec":SPEC},
 * waits for the destination's one-line answer ({"ok":true} from the
 * shell that will take the VM, or {"ok":false,"error":...} from its
 * lightvmd), then streams the VM (lv_mig_send: rounds of pages, then
 * paused, the rest and the state) and, once the destination says it is
 * ready, commits (stops for good, C) and ends like a destroy. A failure
 * before the commit leaves it running.
 *
 * Destination: an exec from a migration comes with the same connection,
 * which lightvmd accepted and whose hello it checked; this shell answers
 * {"ok":true}, receives the VM into its prepared VM (lv_mig_recv), says
 * it is ready (R), and starts it once the source has stopped its own for
 * good (C: lv_mig_ready); without C it never runs.
 *
 * Local (a Unix connection between two daemons of one host, the hello's
 * "local"): the RAM's memfd passes instead of its pages
 * (lv_mig_send_local, lv_mig_recv_local: the source commits and stops
 * before the destination writes the shared RAM). A restored VM, whose RAM
 * cannot be passed, says "local": false and is copied.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lightvm/build.h"
#include "lightvm/migrate.h"
#include "vmproc.h"

#define HELLO_REPLY_MAX 4096 /* the destination's answer, one line */
/* The hello and the destination's answer. */
static int handshake(struct vmproc *p, int fd, const char *token, int local,
                     struct lv_err *err)
{
    json_t *hello = json_pack("{s:s,s:i,s:s,s:O,s:b}", "op", "migrate-in", "v",
                              LVD_MIG_VERSION, "token", token, "spec", p->spec_json, "local",
                              local);
    json_t *ans = NULL;
    int rc = hello ? lvd_line_send(fd, hello, LVD_CALL_TIMEOUT_MS, err)
                   : lv_err_set(err, ENOMEM, "out of memory");

    json_decref(hello);
    if (!rc)
        rc = lvd_line_recv(fd, HELLO_REPLY_MAX, LVD_EXEC_TIMEOUT_MS, "the destination's answer",
                           &ans, err);
    if (!rc && !json_is_true(json_object_get(ans, "ok"))) {
        const char *e = json_string_value(json_object_get(ans, "error"));
        rc = lv_err_set(err, EREMOTEIO, "the destination refused: %.200s", e ? e : "no reason");
    }
    json_decref(ans);
    return rc;
}

static json_t *stats_json(const struct lv_mig_stats *st)
{
    json_int_t pages = 0;

    for (unsigned i = 0; i < st->rounds && i < LV_MIG_MAX_ROUNDS; i++)
        pages += (json_int_t)st->pages[i];
    return json_pack("{s:I,s:I,s:I,s:b,s:f,s:f}", "rounds", (json_int_t)st->rounds, "pages",
                     pages, "bytes", (json_int_t)st->bytes, "converged", st->converged,
                     "downtime_us", st->downtime_ns / 1e3, "total_us", st->total_ns / 1e3);
}

json_t *vmp_migrate_out(struct vmproc *p, struct lv_ctl_conn *c, json_t *req, int *quit)
{
    const char *token = json_string_value(json_object_get(req, "token"));
    int fd = lv_ctl_take_fd(c), rc;
    struct lv_mig_stats st;
    struct lv_err err = {""};

    memset(&st, 0, sizeof(st));
    if (fd < 0 || !token) {
        if (fd >= 0)
            close(fd);
        return lv_ctl_error("migrate: want the connection passed with the request, and a token");
    }
    /* Over a local connection the RAM itself passes, unless it cannot (a
     * restored VM's): then its pages are copied as over TCP. */
    int local = json_is_true(json_object_get(req, "local")) && lv_mig_local_ok(p->vm, NULL) == 0;
    rc = handshake(p, fd, token, local, &err);
    if (!rc)
        rc = local ? lv_mig_send_local(p->vm, fd, NULL, &st, &err)
                   : lv_mig_send(p->vm, fd, NULL, &st, &err);
    close(fd);
    if (rc) /* (lv_mig_send left the VM running) */
        return lv_ctl_error("%s", err.msg); /* lightvmd names the VM */
    vmp_end(p, quit); /* it runs at the destination now */
    json_t *r = lv_ctl_ok(), *m = stats_json(&st);
    json_object_set_new(m, "local", json_boolean(local));
    json_object_set_new(r, "migration", m);
    return r;
}

/* The stream into this shell's VM: its header must fit the shell. */
static int receive(struct vmproc *p, int fd, struct lv_mig_stats *st, struct lv_err *err)
{
    struct lv_mig_hdr h;
    int rc = lv_mig_recv_header(fd, NULL, &h, err);

    if (!rc && (h.mem_size != p->mem_mb << 20 || h.nnics != p->nnics))
        rc = lv_err_set(err, EINVAL, "the stream's VM (%llu MiB, %u NICs) is not the "
                        "configuration's (%llu MiB, %u NICs)",
                        (unsigned long long)(h.mem_size >> 20), h.nnics,
                        (unsigned long long)p->mem_mb, p->nnics);
    if (!rc)
        rc = lv_build_identity(p->vm, &p->spec, NULL, err);
    return rc ? rc : lv_mig_recv(p->vm, fd, &h, NULL, st, err);
}

/* The local path: the source's RAM mapped here, the commit awaited, the
 * state restored (lv_mig_recv_local answers the source itself). */
static int receive_local(struct vmproc *p, int fd, struct lv_mig_stats *st, struct lv_err *err)
{
    int rc = lv_build_identity(p->vm, &p->spec, NULL, err);

    return rc ? rc : lv_mig_recv_local(p->vm, fd, NULL, st, err);
}

int vmp_migrate_in(struct vmproc *p, int local, double t0, json_t **trace, struct lv_err *err)
{
    int fd = lv_ctl_take_fd(&p->daemon), rc;
    json_t *ok = json_pack("{s:b}", "ok", 1);
    struct lv_mig_stats st;
    double t_recv;

    memset(&st, 0, sizeof(st));
    if (fd < 0) {
        json_decref(ok);
        return lv_err_set(err, EBADF, "exec: want the migration's connection passed with it");
    }
    rc = ok ? lvd_line_send(fd, ok, LVD_CALL_TIMEOUT_MS, err)
            : lv_err_set(err, ENOMEM, "out of memory");
    json_decref(ok);
    if (!rc)
        rc = local ? receive_local(p, fd, &st, err) : receive(p, fd, &st, err);
    if (rc && !local) /* (lv_mig_recv_local answers the source itself) */
        lv_mig_refuse(fd);
    else if (!rc && !local) /* R, then the source's C: it has stopped for good */
        rc = lv_mig_ready(fd, NULL, err);
    t_recv = lvd_now_us();
    if (!rc)
        rc = vmp_start(p, trace, err);
    close(fd);
    if (rc)
        return rc;
    json_object_set_new(*trace, "receive", json_real(t_recv - t0));
    json_object_set_new(*trace, "total", json_real(lvd_now_us() - t0));
    json_object_set_new(*trace, "migration", stats_json(&st));
    return 0;
}
