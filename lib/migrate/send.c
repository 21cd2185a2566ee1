/*
 * send.c: lv_mig_send, the source end of a migration (docs/migration.md).
 *
 * Dirty tracking starts first, then round 0 sends every page the guest
 * touched (the RAM's data extents, as a save finds them: lv_snap_touched_
 * pages); each later round sends what the previous one let the guest (and
 * the VMM's devices) dirty. Pre-copy ends when a round finds at most
 * stop_pages dirty pages (converged), or when it stops paying: the dirty
 * set did not shrink below the previous round's (the guest dirties pages
 * at least as fast as they go out), the round bound, or the stream's byte
 * bound would be passed. Then the stop: pause, quiesce the devices, take
 * the state (which may itself touch RAM: collected after it), the last
 * dirty pages, STATE, END, and the commit (commit.c). A page is copied out of guest RAM
 * into the record after the collect that reported it, so a write racing
 * the copy is reported again by the next collect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/vm_impl.h"
#include "../snapshot/snap_impl.h"
#include "lightvm/dirty.h"
#include "mig_impl.h"
#include "../util/le.h"

#define MAX_ROUNDS_DEFAULT 16u
#define STOP_PAGES_DEFAULT 256u

struct sender {
    struct lv_vm *vm;
    int fd, tmo;
    uint8_t *rec;      /* LV_MIG_REC_MAX bytes, owned */
    uint64_t *map;     /* pages to send, a bit each, owned */
    size_t words;
    uint64_t npages;
    uint64_t total;    /* pages sent */
    struct lv_mig_stats *st;
};

static int send_rec(struct sender *s, uint32_t type, uint32_t len, struct lv_err *err)
{
    size_t n = lv_mig_seal(s->rec, type, len);
    int rc = lv_mig_write(s->fd, s->rec, n, s->tmo, err);

    if (!rc)
        s->st->bytes += n;
    return rc;
}

/* One PAGES record: (count) pages from (first), copied out of guest RAM. */
static int send_run(struct sender *s, uint64_t first, uint32_t count, struct lv_err *err)
{
    uint8_t *p = s->rec + LV_MIG_REC_HDR;

    lv_put64(p, first);
    lv_put32(p + 8, count);
    lv_put32(p + 12, 0);
    memcpy(p + LV_MIG_PAGES_HDR, s->vm->mem.base + first * LV_MIG_PAGE,
           (size_t)count * LV_MIG_PAGE);
    return send_rec(s, LV_MIG_PAGES, LV_MIG_PAGES_HDR + count * LV_MIG_PAGE, err);
}

static int bit(const uint64_t *map, uint64_t p)
{
    return (int)(map[p / 64] >> (p % 64) & 1);
}

/* Sends the pages set in s->map, in runs of up to LV_MIG_RUN_PAGES, then
 * the ROUND record; clears the map. */
static int send_round(struct sender *s, struct lv_err *err)
{
    uint64_t p = 0, sent = 0;
    unsigned r = s->st->rounds;
    int rc = 0;

    while (!rc && p < s->npages) { /* each pass moves p forward */
        if (!s->map[p / 64]) {
            p = (p / 64 + 1) * 64;
            continue;
        }
        if (!bit(s->map, p)) {
            p++;
            continue;
        }
        uint64_t q = p;
        while (q < s->npages && q - p < LV_MIG_RUN_PAGES && bit(s->map, q))
            q++;
        rc = send_run(s, p, (uint32_t)(q - p), err);
        sent += q - p;
        p = q;
    }
    if (rc)
        return rc;
    memset(s->map, 0, s->words * sizeof(uint64_t));
    lv_put32(s->rec + LV_MIG_REC_HDR, r);
    lv_put32(s->rec + LV_MIG_REC_HDR + 4, 0);
    lv_put64(s->rec + LV_MIG_REC_HDR + 8, sent);
    rc = send_rec(s, LV_MIG_ROUND, LV_MIG_ROUND_LEN, err);
    if (!rc) {
        s->st->pages[r] = sent;
        s->st->rounds++;
        s->total += sent;
    }
    return rc;
}

/* Round 0's pages: every page the guest's memory has touched. */
static int mark_touched(struct sender *s, struct lv_err *err)
{
    uint8_t *bytes = calloc(s->npages, 1);
    int rc;

    if (!bytes)
        return lv_err_set(err, ENOMEM, "migration: out of memory");
    rc = lv_snap_touched_pages(&s->vm->mem, bytes, err);
    for (uint64_t p = 0; !rc && p < s->npages; p++)
        if (bytes[p])
            s->map[p / 64] |= 1ull << (p % 64);
    free(bytes);
    return rc;
}

/* Rounds 1.. while the VM runs; leaves the last dirty set in s->map. */
static int precopy(struct sender *s, const struct lv_mig_opts *o, struct lv_err *err)
{
    unsigned max = o && o->max_rounds ? o->max_rounds : MAX_ROUNDS_DEFAULT;
    uint64_t stop = o && o->stop_pages ? o->stop_pages : STOP_PAGES_DEFAULT;
    uint64_t prev = s->st->pages[0];

    if (max > LV_MIG_MAX_ROUNDS - 2)
        max = LV_MIG_MAX_ROUNDS - 2;
    for (unsigned r = 1;; r++) { /* at most max rounds */
        long n = lv_vm_dirty_collect(s->vm, s->map, err);
        if (n < 0)
            return (int)n;
        if ((uint64_t)n <= stop) {
            s->st->converged = 1;
            return 0;
        }
        if (r > max || (uint64_t)n >= prev ||
            s->total + (uint64_t)n > (LV_MIG_BYTES_FACTOR - 1) * s->npages)
            return 0; /* stop and copy: the rest goes while the VM is paused */
        int rc = send_round(s, err);
        if (rc)
            return rc;
        prev = (uint64_t)n;
    }
}

/* STATE (the state file's bytes) and END. */
static int send_state(struct sender *s, const uint8_t *state, size_t len, struct lv_err *err)
{
    int rc;

    memcpy(s->rec + LV_MIG_REC_HDR, state, len); /* len <= LV_SNAP_STATE_MAX (encode) */
    rc = send_rec(s, LV_MIG_STATE, (uint32_t)len, err);
    s->st->state_bytes = len;
    return rc ? rc : send_rec(s, LV_MIG_END, 0, err);
}

/* The stop: the VM paused and its devices quiesced by the caller. */
static int stop_and_copy(struct sender *s, const struct lv_mig_opts *o, int tracking,
                         struct lv_err *err)
{
    uint8_t *state = NULL;
    size_t len = 0;
    int rc = lv_snap_save_quiesced(s->vm, o ? o->spec : NULL, &state, &len, err);

    if (!rc && tracking) {
        long n = lv_vm_dirty_collect(s->vm, s->map, err);
        rc = n < 0 ? (int)n : 0;
    }
    if (!rc && tracking)
        rc = send_round(s, err);
    if (!rc)
        rc = send_state(s, state, len, err);
    free(state);
    return rc;
}

/* The migration proper, once the sender is set up; *paused and
 * *quiesced say what to undo. */
static int migrate(struct sender *s, const struct lv_mig_opts *o, int *paused, int *quiesced,
                   uint64_t *t_pause, struct lv_err *err)
{
    int tracking = !(o && o->no_precopy);
    uint8_t head[LV_MIG_HDR_LEN];
    struct lv_mig_hdr h = {s->vm->mem.size, s->vm->nnics, s->vm->pvm, 0, LV_MIG_MINOR};
    int rc = 0;

    lv_mig_put_header(head, &h);
    rc = lv_mig_write(s->fd, head, sizeof(head), s->tmo, err);
    s->st->bytes += rc ? 0 : sizeof(head);
    if (!rc && !tracking) { /* plain stop-and-copy: stopped from the start */
        *t_pause = lv_now_ns();
        rc = lv_vm_pause(s->vm, err);
        *paused = !rc;
        if (!rc && !(rc = lv_devices_quiesce(s->vm, err)))
            *quiesced = 1;
    }
    if (!rc)
        rc = mark_touched(s, err);
    if (!rc)
        rc = send_round(s, err);
    if (!rc && tracking)
        rc = precopy(s, o, err);
    if (!rc && tracking) {
        *t_pause = lv_now_ns();
        rc = lv_vm_pause(s->vm, err);
        *paused = !rc;
        if (!rc && !(rc = lv_devices_quiesce(s->vm, err)))
            *quiesced = 1;
    }
    if (!rc)
        rc = stop_and_copy(s, o, tracking, err);
    if (!rc) /* no C out: the caller resumes the VM */
        rc = lv_mig_commit(s->fd, o, err);
    return rc;
}

static int setup(struct sender *s, struct lv_vm *vm, int fd, const struct lv_mig_opts *o,
                 struct lv_err *err)
{
    s->vm = vm;
    s->fd = fd;
    s->tmo = lv_mig_io_timeout(o);
    s->npages = vm->mem.size / LV_MIG_PAGE;
    s->words = lv_vm_dirty_words(vm); /* the bitmap lv_vm_dirty_collect fills */
    if (s->words < (s->npages + 63) / 64)
        return lv_err_set(err, EINVAL, "migration: a dirty bitmap too small for the RAM");
    if (lv_vm_is_paused(vm) || lv_vm_vcpu_still(vm, NULL) == 0)
        return lv_err_set(err, EINVAL, "migration: the VM must be running (started, not "
                          "paused)");
    s->rec = malloc(LV_MIG_REC_MAX);
    s->map = calloc(s->words, sizeof(uint64_t));
    if (!s->rec || !s->map)
        return lv_err_set(err, ENOMEM, "migration: out of memory");
    return 0;
}

int lv_mig_send(struct lv_vm *vm, int fd, const struct lv_mig_opts *o, struct lv_mig_stats *st,
                struct lv_err *err)
{
    struct lv_mig_stats local;
    struct sender s = {0};
    uint64_t t0 = lv_now_ns(), t_pause = 0;
    int paused = 0, quiesced = 0, tracking = 0;
    int rc = setup(&s, vm, fd, o, err);

    s.st = st ? st : &local;
    memset(s.st, 0, sizeof(*s.st));
    if (!rc && !(o && o->no_precopy) && !(rc = lv_vm_dirty_start(vm, err)))
        tracking = 1;
    if (!rc)
        rc = migrate(&s, o, &paused, &quiesced, &t_pause, err);
    if (!rc) {
        s.st->downtime_ns = lv_now_ns() - t_pause;
        lv_vm_stop(vm); /* the destination runs it: never here again */
    } else {
        if (quiesced)
            lv_devices_unquiesce(vm);
        if (paused)
            lv_vm_unpause(vm, NULL);
    }
    if (tracking) /* a memslot change: after the VM runs again (dirty.h) */
        lv_vm_dirty_stop(vm);
    free(s.rec);
    free(s.map);
    s.st->total_ns = lv_now_ns() - t0;
    return rc;
}
