/*
 * commit.c: how a migration ends, on both paths (docs/migration.md, "The
 * commit"): after END the destination checks and restores everything but
 * runs nothing, then says R; the source, on R, stops its VM for good and
 * says C; the destination runs the VM only once it has read C. So the VM
 * never runs on both sides: the source resumes only when no C went out
 * (a one-byte write is queued whole or not at all), and a destination
 * without C never starts. A C written and lost with the connection stops
 * it on both (the destination gives up waiting).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mig_impl.h"

#define ACK_TIMEOUT_MS 10000
#define REFUSE_WRITE_MS 5000

int lv_mig_ack_timeout(const struct lv_mig_opts *o)
{
    return o && o->ack_timeout_ms > 0 ? o->ack_timeout_ms : ACK_TIMEOUT_MS;
}

/* One byte from the peer within (o)'s ack timeout: 0 if it is (want). */
static int read_answer(int fd, const struct lv_mig_opts *o, uint8_t want, const char *who,
                       struct lv_err *err)
{
    uint8_t c = 0;
    int rc = lv_mig_read(fd, &c, 1, lv_mig_ack_timeout(o), err);

    if (rc)
        return rc;
    if (c == LV_MIG_NACK)
        return lv_err_set(err, ECANCELED, "migration: the %s gave up", who);
    if (c != want)
        return lv_err_set(err, EPROTO, "migration: the %s answered 0x%02x, not '%c'", who, c,
                          want);
    return 0;
}

int lv_mig_commit(int fd, const struct lv_mig_opts *o, struct lv_err *err)
{
    uint8_t c = LV_MIG_COMMIT;
    int rc = read_answer(fd, o, LV_MIG_ACK, "destination", err);

    return rc ? rc : lv_mig_write(fd, &c, 1, lv_mig_io_timeout(o), err);
}

int lv_mig_ready(int fd, const struct lv_mig_opts *o, struct lv_err *err)
{
    struct lv_err e = {{0}};
    uint8_t r = LV_MIG_ACK;
    int rc = lv_mig_write(fd, &r, 1, lv_mig_io_timeout(o), &e);

    if (!rc)
        rc = read_answer(fd, o, LV_MIG_COMMIT, "source", &e);
    if (rc) /* e.msg: "migration: ..." */
        lv_err_set(err, -rc, "migration: no commit from the source (the VM stays there): %.160s",
                   e.msg + (strncmp(e.msg, "migration: ", 11) ? 0 : 11));
    return rc;
}

void lv_mig_refuse(int fd)
{
    uint8_t f = LV_MIG_NACK;

    lv_mig_write(fd, &f, 1, REFUSE_WRITE_MS, NULL);
}
