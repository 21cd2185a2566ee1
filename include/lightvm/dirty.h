/*
 * dirty.h: which pages of a VM's guest RAM were written, for live
 * migration (pre-copy: send all RAM, then rounds of what was written
 * meanwhile, then stop the VM and send the rest).
 *
 * Two writers are tracked: the guest, through KVM's dirty log on the RAM
 * memslot (KVM write-protects the pages, with EPT or shadow paging alike,
 * and records the first write to each after every collect), and the VMM
 * itself (used rings, receive buffers, boot info rewrites: every write
 * into guest RAM through the library marks its pages, lv_mem_mark_dirty
 * in mem.h), which KVM does not see.
 *
 * lv_vm_dirty_start, lv_vm_dirty_collect and lv_vm_dirty_stop are for
 * the controlling thread (one at a time); the vCPU and I/O threads may
 * run meanwhile. Pages written before lv_vm_dirty_start are not reported:
 * a migration sends the whole RAM after it starts tracking.
 *
 * Cost: start and stop change the flags of the existing memslot
 * (KVM_SET_USER_MEMORY_REGION), which on PVM costs milliseconds once an
 * irqchip exists: start before the VM is stopped for the last round,
 * never inside the downtime. A collect is one KVM_GET_DIRTY_LOG plus one
 * atomic exchange per 64 pages of the VMM's own bitmap.
 */
#ifndef LIGHTVM_DIRTY_H
#define LIGHTVM_DIRTY_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/vm.h"

/* One bit per 4 KiB page of guest RAM, bit i of word i/64 = page i. */
size_t lv_vm_dirty_words(const struct lv_vm *vm);   /* uint64_t words of a bitmap for this VM */
/* Starts tracking: KVM's dirty log on the RAM memslot (flags changed on the
 * existing slot) and the VMM's own writes into guest RAM (devices: used
 * rings, receive buffers, anything written through the device layer).
 * Pages written from now on are reported by lv_vm_dirty_collect. The VM
 * may run. 0 or -errno with err. */
int lv_vm_dirty_start(struct lv_vm *vm, struct lv_err *err);
/* ORs into (bitmap) (lv_vm_dirty_words words, caller-owned) every page
 * written since lv_vm_dirty_start or the previous collect, by the guest or
 * the VMM, and clears that record (KVM_GET_DIRTY_LOG, plus the VMM's
 * bitmap taken atomically). Returns the number of pages newly set in
 * (bitmap) (>= 0) or -errno with err. */
long lv_vm_dirty_collect(struct lv_vm *vm, uint64_t *bitmap, struct lv_err *err);
/* Stops tracking (the memslot back to its flags; the VMM stops marking). */
void lv_vm_dirty_stop(struct lv_vm *vm);

#endif
