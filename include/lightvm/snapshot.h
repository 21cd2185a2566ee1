/*
 * snapshot.h: saving a whole VM into two files and restoring it, possibly
 * many times (clones). The format is docs/snapshot.md: a state file (a
 * fixed header, then typed sections: vCPU, irqchip, clock, devices) and a
 * memory file (the guest RAM, sparse).
 *
 * A snapshot file is hostile input, like an ELF image: lv_snap_open reads
 * the whole state file (at most LV_SNAP_STATE_MAX bytes) and validates
 * every field before anything is used; lv_vm_restore checks it against
 * the VM it goes into. Each refusal is one lv_err line naming what is
 * wrong.
 */
#ifndef LIGHTVM_SNAPSHOT_H
#define LIGHTVM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"
#include "lightvm/vm.h"

#define LV_SNAP_MAJOR 1u /* another major is refused */
#define LV_SNAP_MINOR 0u /* a newer minor is refused too: sections are not optional yet */
#define LV_SNAP_STATE_MAX (1u << 20) /* bytes of a state file, at most */

struct lv_snap;

/* Saves (vm) into (state_fd) and (mem_fd) (both borrowed, writable,
 * regular files; each is truncated and written from offset 0), with
 * (spec) (NUL-terminated text of at most 64 KiB, borrowed; NULL for none)
 * in the state file for whoever restores it (lightvmd: the VM's
 * configuration as JSON; lv_snap_spec gives it back). The VM
 * must be paused (lv_vm_pause); its devices are quiesced for the time of
 * the save. The memory file is written sparse: only the guest RAM the
 * guest touched. Afterwards the VM may be unpaused (a --keep save) or
 * destroyed. 0 or -errno with (err); on failure the files' contents are
 * undefined (the caller removes them). */
int lv_vm_save(struct lv_vm *vm, int state_fd, int mem_fd, const char *spec,
               struct lv_err *err);

/* The state part of lv_vm_save alone, into memory: the VM's state file
 * (the same bytes lv_vm_save writes to state_fd) in (*buf) (malloc'd,
 * the caller frees; *len bytes, at most LV_SNAP_STATE_MAX), for a
 * migration stream. The VM must be paused; its devices are quiesced for
 * the time of it. The RAM is not read. 0 or -errno with (err) (*buf NULL). */
int lv_vm_save_state(struct lv_vm *vm, const char *spec, uint8_t **buf, size_t *len,
                     struct lv_err *err);

/* Reads the state file (state_fd, borrowed, read whole with pread from
 * offset 0) and validates it; checks that the memory file (mem_fd,
 * borrowed) is a regular file of exactly the snapshot's memory size. On
 * success *out owns a copy of the state and a dup of (mem_fd) (the
 * caller closes its own fds when it likes); release with lv_snap_close. */
int lv_snap_open(struct lv_snap **out, int state_fd, int mem_fd, struct lv_err *err);

/* The same validation of a state file already in memory (buf, len; copied),
 * without a memory file: for tests and the fuzz target. The result cannot
 * be restored (lv_vm_restore refuses it). */
int lv_snap_parse(struct lv_snap **out, const void *buf, size_t len, struct lv_err *err);

/* Frees (*s), closes its memory file, sets *s = NULL; NULL is fine. */
void lv_snap_close(struct lv_snap **s);

/* What a VM must have to take the snapshot (lv_vm_config's mem_size and
 * nnics), and whether it was saved on a PVM host. */
uint64_t lv_snap_mem_size(const struct lv_snap *s);
unsigned lv_snap_nnics(const struct lv_snap *s);
int lv_snap_pvm(const struct lv_snap *s);
/* The spec text saved with the snapshot ((*len) bytes, not NUL-terminated,
 * no NUL inside, at most 64 KiB; owned by (s)), or NULL and 0 if none.
 * Hostile like the rest of the file: the reader parses it with every
 * check (lv_vm_spec_from_json). */
const char *lv_snap_spec(const struct lv_snap *s, size_t *len);

/* Restores (s) into (vm): a VM made by lv_vm_create with the snapshot's
 * memory size and NIC count, the same PVM-ness, no image loaded; its
 * threads may already wait (lv_vm_spawn_threads, lv_vm_warm: a pool
 * shell). Maps the memory file copy-on-write over the VM's RAM (same
 * address, no memslot change: clones share the file's pages), sets the
 * vCPU, irqchip and device state, then marks the VM resumed (boot info
 * generation + 1, a new seed, the guest clock continuing from its value
 * at the save, the NIC identities: those set with lv_vm_set_nic before
 * this call win, a NIC without one keeps the snapshot's) and loaded, so
 * that lv_vm_start runs it; after the start every device queue is
 * processed once. (s) stays the caller's and may be restored again.
 * On failure the VM is only good for lv_vm_destroy (lv_vm_start refuses
 * it); nothing outside it is left behind. */
int lv_vm_restore(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err);

/* lv_vm_restore, but the memory file's data is read into the VM's own
 * RAM (its memfd) instead of mapped: the VM needs the file no more once
 * this returns (it may change or go), shares no page with other clones
 * (each holds its own copy of what the snapshot touched), stays a plain
 * memfd VM (the local migration path can pass it), and keeps the pages
 * a pool shell's warm-up touched mapped in KVM, so its guest does not
 * fault on them again. A memory file that ends short of its size (it
 * changed since lv_snap_open) is refused. The same checks, result and
 * failure as lv_vm_restore. */
int lv_vm_restore_copy(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err);

/* Everything lv_vm_restore does but the memory: (vm)'s RAM must already
 * hold the snapshot's memory (a migration wrote it); (s) may come from
 * lv_snap_parse (no memory file). The same checks against the VM, the
 * same NIC identity rule, the same result (loaded, resumed: lv_vm_start
 * runs it), the same failure (only good for lv_vm_destroy). lv_vm_restore
 * is the memory file's mapping followed by this. */
int lv_vm_restore_state(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err);

#endif
