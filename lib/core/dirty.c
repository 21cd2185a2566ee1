/* dirty.c: which pages of a VM's RAM were written: KVM's dirty log on the
 * RAM memslot plus the VMM's own marks (mem.c). lightvm/dirty.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lightvm/dirty.h"
#include "vm_impl.h"

size_t lv_vm_dirty_words(const struct lv_vm *vm)
{
    return lv_mem_dirty_words(&vm->mem);
}

int lv_vm_dirty_start(struct lv_vm *vm, struct lv_err *err)
{
    size_t n = lv_vm_dirty_words(vm);
    int rc;

    if (vm->dirty_on)
        return lv_err_set(err, EALREADY, "dirty tracking is already on");
    if (!vm->mem.base)
        return lv_err_set(err, EINVAL, "the VM has no RAM");
    if (!vm->dirty_kvm) {
        vm->dirty_kvm = calloc(n, sizeof(uint64_t));
        if (!vm->dirty_kvm)
            return lv_err_set(err, ENOMEM, "dirty log of %zu words: out of memory", n);
    }
    /* The VMM's marks first: a write between the two is only reported
     * twice, never lost. */
    rc = lv_mem_dirty_begin(&vm->mem, err);
    if (rc)
        return rc;
    rc = lv_vm_set_ram_slot(vm, KVM_MEM_LOG_DIRTY_PAGES, err);
    if (rc) {
        lv_mem_dirty_end(&vm->mem);
        return rc;
    }
    vm->dirty_on = 1;
    return 0;
}

/* ORs (src) into (dst), n words; the bits newly set in (dst). */
static long or_words(uint64_t *dst, const uint64_t *src, size_t n)
{
    long added = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        added += __builtin_popcountll(src[i] & ~dst[i]);
        dst[i] |= src[i];
    }
    return added;
}

long lv_vm_dirty_collect(struct lv_vm *vm, uint64_t *bitmap, struct lv_err *err)
{
    size_t n = lv_vm_dirty_words(vm);
    struct kvm_dirty_log log;

    if (!vm->dirty_on)
        return lv_err_set(err, EINVAL, "dirty tracking is not on (lv_vm_dirty_start)");
    memset(&log, 0, sizeof(log));
    log.slot = LV_RAM_SLOT;
    log.dirty_bitmap = vm->dirty_kvm;
    /* Takes KVM's log and clears it (write-protecting the pages again). */
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
        return lv_err_set(err, errno, "KVM_GET_DIRTY_LOG: %s", strerror(errno));
    return or_words(bitmap, vm->dirty_kvm, n) + lv_mem_dirty_take(&vm->mem, bitmap);
}

void lv_vm_dirty_stop(struct lv_vm *vm)
{
    if (!vm->dirty_on)
        return;
    lv_mem_dirty_end(&vm->mem);
    /* Back to the slot's flags; cannot fail short of a KVM bug, and the
     * log left on would only cost write faults. */
    (void)lv_vm_set_ram_slot(vm, 0, NULL);
    vm->dirty_on = 0;
}
