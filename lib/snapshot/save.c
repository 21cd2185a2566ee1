/*
 * save.c: lv_vm_save: a paused VM's state into a state file, its RAM into
 * a sparse memory file (docs/snapshot.md).
 *
 * Order: the vCPU's MP state first (reading it makes KVM take pending
 * APIC events into the state), then registers, FPU, LAPIC, MSRs, events;
 * the VM's irqchip and clock; the guest's clock at the saved TSC; each
 * device's state with the I/O thread parked. Memory last: only the
 * extents the guest touched are written (the RAM's memfd knows them:
 * SEEK_DATA/SEEK_HOLE).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/vm_impl.h"
#include "snap_impl.h"

_Static_assert(LV_SNAP_DEV_MAX == LV_DEV_STATE_MAX, "a device's state fits its section");

#define VCPU_GET(vm, req, p, what, err)                                                   \
    (ioctl((vm)->vcpu_fd, (req), (p)) < 0                                                 \
         ? lv_err_set((err), errno, "save: %s: %s", (what), strerror(errno)) : 0)

/* The MSRs of lv_snap_msr_list the host lets us read (KVM stops at the
 * first it refuses: that one is skipped, the rest read again). */
static int get_msrs(struct lv_vm *vm, struct lv_snap *s, struct lv_err *err)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[LV_SNAP_MAX_MSRS];
    } m;
    uint32_t idx[LV_SNAP_MAX_MSRS];
    unsigned n = lv_snap_msr_list(s->host, idx), k = 0;

    s->nmsrs = 0;
    while (k < n) { /* each round takes at least one index */
        memset(&m, 0, sizeof(m));
        m.hdr.nmsrs = n - k;
        for (unsigned i = k; i < n; i++)
            m.e[i - k].index = idx[i];
        int got = ioctl(vm->vcpu_fd, KVM_GET_MSRS, &m);
        if (got < 0)
            return lv_err_set(err, errno, "save: KVM_GET_MSRS: %s", strerror(errno));
        memcpy(&s->msrs[s->nmsrs], m.e, (size_t)got * sizeof(m.e[0]));
        s->nmsrs += (uint32_t)got;
        k += (unsigned)got + 1;
    }
    if (!s->nmsrs || s->msrs[0].index != LV_MSR_TSC)
        return lv_err_set(err, EIO, "save: KVM_GET_MSRS: the TSC could not be read");
    s->vm.save_tsc = s->msrs[0].data;
    return 0;
}

static int get_fpu(struct lv_vm *vm, struct lv_snap *s, struct lv_err *err)
{
    s->has_xsave = vm->kvm->xsave && vm->kvm->xcrs;
    if (!s->has_xsave)
        return VCPU_GET(vm, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU", err);
    int rc = VCPU_GET(vm, KVM_GET_XSAVE, &s->xsave, "KVM_GET_XSAVE", err);
    return rc ? rc : VCPU_GET(vm, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS", err);
}

static int get_vcpu(struct lv_vm *vm, struct lv_snap *s, struct lv_err *err)
{
    int rc = VCPU_GET(vm, KVM_GET_MP_STATE, &s->mp, "KVM_GET_MP_STATE", err);

    if (!rc)
        rc = VCPU_GET(vm, KVM_GET_REGS, &s->regs, "KVM_GET_REGS", err);
    if (!rc)
        rc = VCPU_GET(vm, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS", err);
    if (!rc)
        rc = get_fpu(vm, s, err);
    if (!rc)
        rc = VCPU_GET(vm, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC", err);
    if (!rc)
        rc = get_msrs(vm, s, err);
    if (!rc)
        rc = VCPU_GET(vm, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS", err);
    /* Only what the format accepts back (dec_events): no exception
     * payload or triple-fault flags, which we never enable. */
    s->events.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                       KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
    return rc;
}

static int get_vm(struct lv_vm *vm, struct lv_snap *s, struct lv_err *err)
{
    for (uint32_t i = 0; i < LV_SNAP_NCHIPS; i++) {
        s->chip[i].chip_id = i;
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->chip[i]) < 0)
            return lv_err_set(err, errno, "save: KVM_GET_IRQCHIP %u: %s", i, strerror(errno));
    }
    s->has_clock = vm->kvm->adjust_clock;
    if (s->has_clock && ioctl(vm->vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
        return lv_err_set(err, errno, "save: KVM_GET_CLOCK: %s", strerror(errno));
    s->clock.flags = 0; /* what KVM_SET_CLOCK takes back: the clock alone */
    memset(s->clock.pad, 0, sizeof(s->clock.pad));
    s->clock.realtime = s->clock.host_tsc = 0;
    s->vm.dev_mem_gpa = vm->dev_mem_gpa;
    s->vm.flags = (vm->flags & LV_VM_F_NO_PVM) ? LV_SNAP_VM_F_NO_PVM : 0;
    return lv_vm_guest_clock(vm, s->vm.save_tsc, &s->vm.clock_ns, err);
}

/* Each device's state into (blobs) (LV_SNAP_DEV_MAX bytes per device). */
static int get_devices(struct lv_vm *vm, struct lv_snap *s, uint8_t *blobs, struct lv_err *err)
{
    s->vm.ndevs = vm->devs.n;
    for (unsigned i = 0; i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        uint8_t *b = blobs + (size_t)i * LV_SNAP_DEV_MAX;
        size_t len = 0;
        int rc = d->ops->save(d->priv, b, LV_SNAP_DEV_MAX, &len, err);
        if (rc)
            return rc;
        s->dev[i].type = d->ops->type;
        s->dev[i].len = (uint32_t)len;
        s->dev[i].bytes = b;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off, const char *what,
                     struct lv_err *err)
{
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return lv_err_set(err, n < 0 ? errno : EIO, "save: writing the %s file: %s", what,
                              n < 0 ? strerror(errno) : "nothing written");
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int write_state(int fd, const uint8_t *buf, size_t len, struct lv_err *err)
{
    if (ftruncate(fd, 0) < 0)
        return lv_err_set(err, errno, "save: truncating the state file: %s", strerror(errno));
    return write_all(fd, buf, len, 0, "state", err);
}

int lv_snap_data_pages(int fd, uint64_t size, uint8_t *map, struct lv_err *err)
{
    uint64_t off = 0;

    while (off < size) { /* each round moves past one extent */
        off_t d = lseek(fd, (off_t)off, SEEK_DATA);
        if (d < 0 && errno == ENXIO)
            return 0; /* no data past off */
        off_t h = d < 0 ? d : lseek(fd, d, SEEK_HOLE);
        if (h < 0)
            return lv_err_set(err, errno, "finding the guest's memory in its file: %s",
                              strerror(errno));
        uint64_t end = (uint64_t)h < size ? (uint64_t)h : size;
        for (uint64_t p = (uint64_t)d / LV_PAGE_SIZE; p * LV_PAGE_SIZE < end; p++)
            map[p] = 1;
        off = end > (uint64_t)d ? end : (uint64_t)d + LV_PAGE_SIZE;
    }
    return 0;
}

/* The pages that hold the guest's memory: the memfd's data extents; for
 * a restored VM (a private mapping of a snapshot's memory file) those of
 * the file plus the pages resident in the mapping (the ones the guest
 * wrote are among them). */
int lv_snap_touched_pages(const struct lv_mem *mem, uint8_t *map, struct lv_err *err)
{
    size_t npages = mem->size / LV_PAGE_SIZE;
    int rc = lv_snap_data_pages(mem->fd, mem->size, map, err);

    if (rc || !mem->cow)
        return rc;
    unsigned char *vec = malloc(npages);
    if (!vec)
        return lv_err_set(err, ENOMEM, "save: out of memory");
    if (mincore(mem->base, mem->size, vec) < 0)
        rc = lv_err_set(err, errno, "save: mincore: %s", strerror(errno));
    for (size_t p = 0; !rc && p < npages; p++)
        map[p] |= vec[p] & 1;
    free(vec);
    return rc;
}

/* A restored VM runs from its snapshot's memory file: writing a new
 * snapshot over that very file would pull its pages from under it. */
static int check_not_own(int fd, const struct lv_mem *mem, struct lv_err *err)
{
    struct stat a, b;

    if (!mem->cow)
        return 0;
    if (fstat(fd, &a) < 0 || fstat(mem->fd, &b) < 0)
        return lv_err_set(err, errno, "save: memory file: %s", strerror(errno));
    if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return lv_err_set(err, EINVAL, "save: the memory file is the one this VM was "
                          "restored from (it runs from it): write another");
    return 0;
}

static int write_memory(int fd, const struct lv_mem *mem, struct lv_err *err)
{
    size_t npages = mem->size / LV_PAGE_SIZE, p = 0;
    uint8_t *map = calloc(npages, 1);
    int rc = 0;

    if (!map)
        return lv_err_set(err, ENOMEM, "save: out of memory");
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)mem->size) < 0)
        rc = lv_err_set(err, errno, "save: sizing the memory file: %s", strerror(errno));
    if (!rc)
        rc = lv_snap_touched_pages(mem, map, err);
    while (!rc && p < npages) { /* one write per run of touched pages */
        size_t q = p;
        while (q < npages && map[q])
            q++;
        if (q > p)
            rc = write_all(fd, mem->base + p * LV_PAGE_SIZE, (q - p) * LV_PAGE_SIZE,
                           (uint64_t)p * LV_PAGE_SIZE, "memory", err);
        p = q + 1;
    }
    free(map);
    return rc;
}

static int check_paused(struct lv_vm *vm, struct lv_err *err)
{
    int ok;

    pthread_mutex_lock(&vm->run_lock);
    ok = vm->go && vm->paused && !vm->vcpu_done;
    pthread_mutex_unlock(&vm->run_lock);
    return ok ? 0 : lv_err_set(err, EINVAL, "save: the VM must be running and paused");
}

/* The vCPU's and the VM's state. */
static int collect(struct lv_vm *vm, struct lv_snap *s, struct lv_err *err)
{
    int rc;

    s->host = vm->pvm ? LV_SNAP_HOST_PVM : LV_SNAP_HOST_HW;
    s->abi_version = LV_ABI_VERSION;
    s->mem_size = vm->mem.size;
    s->nnics = vm->nnics;
    rc = get_vcpu(vm, s, err);
    return rc ? rc : get_vm(vm, s, err);
}

int lv_snap_save_quiesced(struct lv_vm *vm, const char *spec, uint8_t **buf, size_t *len,
                          struct lv_err *err)
{
    struct lv_snap *s = calloc(1, sizeof(*s));
    uint8_t *blobs = malloc((size_t)LV_SNAP_MAX_DEVS * LV_SNAP_DEV_MAX);
    int rc;

    *buf = NULL;
    *len = 0;
    if (!s || !blobs) {
        free(s);
        free(blobs);
        return lv_err_set(err, ENOMEM, "save: out of memory");
    }
    s->spec = spec;
    s->spec_len = spec ? (uint32_t)strnlen(spec, LV_SNAP_SPEC_MAX + 1) : 0;
    rc = check_paused(vm, err);
    if (!rc)
        rc = collect(vm, s, err);
    if (!rc)
        rc = get_devices(vm, s, blobs, err);
    if (!rc)
        rc = lv_snap_encode(s, buf, len, err);
    free(blobs);
    free(s);
    return rc;
}

/* The devices' state is read with the I/O thread parked: a frame it took
 * in meanwhile would land in guest RAM after its device's state was
 * read. */
int lv_vm_save_state(struct lv_vm *vm, const char *spec, uint8_t **buf, size_t *len,
                     struct lv_err *err)
{
    int rc;

    *buf = NULL;
    *len = 0;
    rc = check_paused(vm, err);
    if (!rc)
        rc = lv_devices_quiesce(vm, err);
    if (rc)
        return rc;
    rc = lv_snap_save_quiesced(vm, spec, buf, len, err);
    lv_devices_unquiesce(vm);
    return rc;
}

/* The state and both files with the I/O thread parked throughout: the
 * memory file must be the RAM that goes with the devices' state. */
int lv_vm_save(struct lv_vm *vm, int state_fd, int mem_fd, const char *spec,
               struct lv_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = check_paused(vm, err);

    if (!rc)
        rc = check_not_own(mem_fd, &vm->mem, err);
    if (!rc)
        rc = lv_devices_quiesce(vm, err);
    if (rc)
        return rc;
    rc = lv_snap_save_quiesced(vm, spec, &buf, &len, err);
    if (!rc)
        rc = write_state(state_fd, buf, len, err);
    if (!rc)
        rc = write_memory(mem_fd, &vm->mem, err);
    lv_devices_unquiesce(vm);
    free(buf);
    return rc;
}
