/*
 * recv.c: the destination end of a migration (docs/migration.md): the
 * header, then the records into a fresh VM's RAM (the decoder of
 * stream.c reading the fd), then the state through lv_vm_restore_state
 * (the answers: commit.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/vm_impl.h"
#include "mig_impl.h"

struct fd_src {
    int fd, tmo;
};

static int fd_read(void *ctx, void *buf, size_t len, struct lv_err *err)
{
    const struct fd_src *f = ctx;

    return lv_mig_read(f->fd, buf, len, f->tmo, err);
}

int lv_mig_recv_header(int fd, const struct lv_mig_opts *o, struct lv_mig_hdr *h,
                       struct lv_err *err)
{
    uint8_t head[LV_MIG_HDR_LEN];
    int rc = lv_mig_read(fd, head, sizeof(head), lv_mig_io_timeout(o), err);

    return rc ? rc : lv_mig_check_header(head, h, err);
}

int lv_mig_check_vm(struct lv_vm *vm, const struct lv_mig_hdr *h, int local, struct lv_err *err)
{
    if (!h->local && h->minor < LV_MIG_MINOR_COMMIT)
        return lv_err_set(err, ENOTSUP, "migration: a stream %u.%u from an older lightvm, "
                          "which would run the VM here before its source stopped (no "
                          "commit): upgrade the source", LV_MIG_MAJOR, h->minor);
    if (h->local != local)
        return lv_err_set(err, EINVAL, "migration: %s", local
                          ? "a copying stream where a local one (its RAM passed as a file "
                            "descriptor) was due"
                          : "a local stream (its RAM passed as a file descriptor) on the "
                            "copying path");
    if (vm->loaded || vm->go)
        return lv_err_set(err, EBUSY, "migration: the destination VM already has an image "
                          "or runs");
    if (vm->mem.size != h->mem_size || vm->nnics != h->nnics || !!vm->pvm != !!h->pvm ||
        vm->mem.cow)
        return lv_err_set(err, EINVAL, "migration: the stream is of a VM with %llu bytes of "
                          "memory and %u NICs%s, the destination VM has %llu and %u%s",
                          (unsigned long long)h->mem_size, h->nnics, h->pvm ? " on PVM" : "",
                          (unsigned long long)vm->mem.size, vm->nnics,
                          vm->pvm ? " on PVM" : "");
    return 0;
}

int lv_mig_recv(struct lv_vm *vm, int fd, const struct lv_mig_hdr *h, const struct lv_mig_opts *o,
                struct lv_mig_stats *st, struct lv_err *err)
{
    struct lv_mig_stats local;
    struct fd_src src = {fd, lv_mig_io_timeout(o)};
    struct lv_mig_reader r = {fd_read, &src};
    struct lv_snap *snap = NULL;
    uint64_t t0 = lv_now_ns();
    uint8_t *rec = NULL;
    int rc;

    st = st ? st : &local;
    memset(st, 0, sizeof(*st));
    rc = lv_mig_check_vm(vm, h, 0, err);
    if (rc)
        return rc;
    rec = malloc(LV_MIG_REC_MAX);
    if (!rec)
        rc = lv_err_set(err, ENOMEM, "migration: out of memory");
    if (!rc)
        rc = lv_mig_read_records(&r, h, vm->mem.base, rec, LV_MIG_REC_MAX, &snap, st, err);
    if (!rc)
        rc = lv_vm_restore_state(vm, snap, err);
    lv_snap_close(&snap);
    free(rec);
    st->bytes += LV_MIG_HDR_LEN;
    st->total_ns = lv_now_ns() - t0;
    return rc;
}
