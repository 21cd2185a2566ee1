/*
 * restore.c: opening a snapshot (its state file validated whole, its
 * memory file's size checked) and restoring it into a VM made by
 * lv_vm_create, typically a pool shell whose threads already wait.
 *
 * A restore is a handful of ioctls and one mmap: the memory file is
 * mapped MAP_PRIVATE | MAP_FIXED over the VM's RAM at the same address,
 * so KVM's memslot follows without a change (a memslot change after the
 * irqchip costs milliseconds on PVM hosts) and clones share the file's
 * pages in the page cache, copying only the pages they write. Or
 * (lv_vm_restore_copy) the file's data is read into the VM's own RAM:
 * nothing shared, no file needed afterwards, and the pages a pool shell
 * warmed keep their KVM mappings (a new mapping drops them: each page
 * the guest touches again faults, tens of microseconds on PVM). Order: the
 * irqchip, then the vCPU: MP state, registers, special registers, FPU,
 * LAPIC (after SREGS: the APIC base and x2APIC mode come with them),
 * MSRs (after the LAPIC, so that the TSC deadline lands on a timer in
 * TSC-deadline mode), events last; the devices; the boot info
 * (lv_vm_resumed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/vm_impl.h"
#include "snap_impl.h"

#define PVM_VIF_HOST_WRITE 0x400u /* as lib/core/vcpu.c registers the VIF */

/* ---- opening ---- */

static int read_state(int fd, uint8_t **out, size_t *len, struct lv_err *err)
{
    struct stat st;
    uint8_t *buf;
    size_t got = 0;

    if (fstat(fd, &st) < 0)
        return lv_err_set(err, errno, "snapshot: state file: %s", strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > LV_SNAP_STATE_MAX)
        return lv_err_set(err, EINVAL, "snapshot: the state file is not a regular file of "
                          "1 to %u bytes", LV_SNAP_STATE_MAX);
    buf = malloc((size_t)st.st_size);
    if (!buf)
        return lv_err_set(err, ENOMEM, "snapshot: out of memory");
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return lv_err_set(err, n < 0 ? errno : EIO, "snapshot: reading the state file: %s",
                              n < 0 ? strerror(errno) : "it shrank while being read");
        }
        got += (size_t)n;
    }
    *out = buf;
    *len = got;
    return 0;
}

static int check_mem_file(int fd, uint64_t size, struct lv_err *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return lv_err_set(err, errno, "snapshot: memory file: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lv_err_set(err, EINVAL, "snapshot: the memory file is not a regular file");
    if ((uint64_t)st.st_size != size)
        return lv_err_set(err, EINVAL, "snapshot: the memory file has %llu bytes, the "
                          "snapshot's memory %llu (%s)", (unsigned long long)st.st_size,
                          (unsigned long long)size,
                          (uint64_t)st.st_size < size ? "cut short" : "too long");
    return 0;
}

/* Takes (buf) (malloc'd) whatever happens. */
static int snap_from(struct lv_snap **out, uint8_t *buf, size_t len, struct lv_err *err)
{
    struct lv_snap *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (!s) {
        free(buf);
        return lv_err_set(err, ENOMEM, "snapshot: out of memory");
    }
    s->buf = buf;
    s->len = len;
    s->mem_fd = -1;
    rc = lv_snap_decode(s, buf, len, err);
    if (rc) {
        lv_snap_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int lv_snap_parse(struct lv_snap **out, const void *buf, size_t len, struct lv_err *err)
{
    uint8_t *copy;

    *out = NULL;
    if (len > LV_SNAP_STATE_MAX)
        return lv_err_set(err, EFBIG, "snapshot: state of %zu bytes, at most %u", len,
                          LV_SNAP_STATE_MAX);
    copy = malloc(len ? len : 1);
    if (!copy)
        return lv_err_set(err, ENOMEM, "snapshot: out of memory");
    memcpy(copy, buf, len);
    return snap_from(out, copy, len, err);
}

int lv_snap_open(struct lv_snap **out, int state_fd, int mem_fd, struct lv_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    rc = read_state(state_fd, &buf, &len, err);
    if (!rc)
        rc = snap_from(out, buf, len, err);
    if (!rc)
        rc = check_mem_file(mem_fd, (*out)->mem_size, err);
    if (!rc && ((*out)->mem_fd = fcntl(mem_fd, F_DUPFD_CLOEXEC, 0)) < 0)
        rc = lv_err_set(err, errno, "snapshot: memory file: %s", strerror(errno));
    if (rc)
        lv_snap_close(out);
    return rc;
}

void lv_snap_close(struct lv_snap **ps)
{
    struct lv_snap *s = *ps;

    if (!s)
        return;
    if (s->mem_fd >= 0)
        close(s->mem_fd);
    free(s->buf);
    free(s);
    *ps = NULL;
}

uint64_t lv_snap_mem_size(const struct lv_snap *s)
{
    return s->mem_size;
}

unsigned lv_snap_nnics(const struct lv_snap *s)
{
    return s->nnics;
}

const char *lv_snap_spec(const struct lv_snap *s, size_t *len)
{
    *len = s->spec ? s->spec_len : 0;
    return s->spec;
}

int lv_snap_pvm(const struct lv_snap *s)
{
    return s->host == LV_SNAP_HOST_PVM;
}

/* ---- checks against the VM ---- */

static const char *host_name(int pvm)
{
    return pvm ? "a PVM host" : "VMX/SVM";
}

static int check_devices(const struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    if (s->nnics != vm->nnics || s->vm.ndevs != vm->devs.n)
        return lv_err_set(err, EINVAL, "restore: the snapshot has %u NICs, the VM %u",
                          s->nnics, vm->nnics);
    for (unsigned i = 0; i < vm->devs.n; i++)
        if (s->dev[i].type != vm->devs.dev[i].ops->type)
            return lv_err_set(err, EINVAL, "restore: device %u is of type %u in the snapshot, "
                              "%u in the VM", i, s->dev[i].type, vm->devs.dev[i].ops->type);
    if (s->vm.dev_mem_gpa != vm->dev_mem_gpa)
        return lv_err_set(err, EINVAL, "restore: device memory at 0x%llx in the snapshot, "
                          "0x%llx in the VM", (unsigned long long)s->vm.dev_mem_gpa,
                          (unsigned long long)vm->dev_mem_gpa);
    return 0;
}

static int check_fits(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int rc;

    if (vm->loaded || vm->go)
        return lv_err_set(err, EBUSY, "restore: the VM already has an image or runs");
    rc = lv_vm_vcpu_still(vm, err);
    if (rc)
        return rc;
    if ((s->host == LV_SNAP_HOST_PVM) != !!vm->pvm)
        return lv_err_set(err, EINVAL, "restore: the snapshot was saved on %s, this VM runs "
                          "on %s", host_name(s->host == LV_SNAP_HOST_PVM), host_name(vm->pvm));
    if (s->mem_size != vm->mem.size)
        return lv_err_set(err, EINVAL, "restore: the snapshot has %llu bytes of memory, the "
                          "VM %llu", (unsigned long long)s->mem_size,
                          (unsigned long long)vm->mem.size);
    if (s->has_xsave && !(vm->kvm->xsave && vm->kvm->xcrs))
        return lv_err_set(err, ENOTSUP, "restore: the snapshot holds XSAVE state, this host's "
                          "KVM has no KVM_CAP_XSAVE/KVM_CAP_XCRS");
    return check_devices(vm, s, err);
}

int lv_vm_restore_check(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int rc = check_fits(vm, s, err);

    for (unsigned i = 0; !rc && i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        rc = d->ops->check(d->priv, s->dev[i].bytes, s->dev[i].len, err);
    }
    return rc;
}

/* ---- setting the state ---- */

#define VCPU_SET(vm, req, p, what, err)                                                   \
    (ioctl((vm)->vcpu_fd, (req), (p)) < 0                                                 \
         ? lv_err_set((err), errno, "restore: %s: %s", (what), strerror(errno)) : 0)

/* TSC deadline (d), armed at guest TSC (then), moved to guest TSC (now)
 * with what was left of it; 0 (disarmed) stays. */
static uint64_t rebase_deadline(uint64_t d, uint64_t then, uint64_t now)
{
    uint64_t left = d > then ? d - then : 0, v;

    if (!d)
        return 0;
    return __builtin_add_overflow(now, left, &v) ? UINT64_MAX : v;
}

/* The saved MSRs but the TSC (the VM keeps its own: guest TSC = host
 * TSC); the deadline keeps its distance; the PVM VIF registered as at
 * create. KVM_SET_MSRS stops at the first it refuses: all must pass. */
static int set_msrs(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[LV_SNAP_MAX_MSRS];
    } m;
    uint64_t now;
    uint32_t n = 0;
    int rc = lv_vm_guest_tsc(vm, &now, err), got;

    if (rc)
        return rc;
    memset(&m, 0, sizeof(m));
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        struct kvm_msr_entry e = s->msrs[i];
        if (e.index == LV_MSR_TSC)
            continue;
        if (e.index == LV_MSR_TSC_DEADLINE)
            e.data = rebase_deadline(e.data, s->vm.save_tsc, now);
        if (e.index == LV_PVM_MSR_VIF)
            e.data = LV_GPA_VIF | PVM_VIF_HOST_WRITE;
        m.e[n++] = e;
    }
    m.hdr.nmsrs = n;
    got = ioctl(vm->vcpu_fd, KVM_SET_MSRS, &m);
    if (got < 0)
        return lv_err_set(err, errno, "restore: KVM_SET_MSRS: %s", strerror(errno));
    if ((uint32_t)got != n)
        return lv_err_set(err, EINVAL, "restore: KVM refused MSR 0x%x = 0x%llx",
                          m.e[got].index, (unsigned long long)m.e[got].data);
    return 0;
}

static int set_fpu(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    if (!s->has_xsave)
        return VCPU_SET(vm, KVM_SET_FPU, &s->fpu, "KVM_SET_FPU", err);
    int rc = VCPU_SET(vm, KVM_SET_XSAVE, &s->xsave, "KVM_SET_XSAVE", err);
    return rc ? rc : VCPU_SET(vm, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS", err);
}

static int set_vcpu(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int rc = VCPU_SET(vm, KVM_SET_MP_STATE, &s->mp, "KVM_SET_MP_STATE", err);

    if (!rc)
        rc = VCPU_SET(vm, KVM_SET_REGS, &s->regs, "KVM_SET_REGS", err);
    if (!rc)
        rc = VCPU_SET(vm, KVM_SET_SREGS, &s->sregs, "KVM_SET_SREGS", err);
    if (!rc)
        rc = set_fpu(vm, s, err);
    if (!rc)
        rc = VCPU_SET(vm, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC", err);
    if (!rc)
        rc = set_msrs(vm, s, err);
    if (!rc)
        rc = VCPU_SET(vm, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS", err);
    return rc;
}

static int set_vm(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    for (unsigned i = 0; i < LV_SNAP_NCHIPS; i++)
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &s->chip[i]) < 0)
            return lv_err_set(err, errno, "restore: KVM_SET_IRQCHIP %u: %s", i,
                              strerror(errno));
    if (s->has_clock && vm->kvm->adjust_clock && ioctl(vm->vm_fd, KVM_SET_CLOCK, &s->clock) < 0)
        return lv_err_set(err, errno, "restore: KVM_SET_CLOCK: %s", strerror(errno));
    return 0;
}

/* A NIC given no identity (lv_vm_set_nic) before the restore keeps the
 * snapshot's, as its boot info entry holds it (guest memory: checked by
 * lv_vm_set_nic). */
static int take_identities(struct lv_vm *vm, struct lv_err *err)
{
    static const uint8_t zero[6];
    const uint8_t *bi = lv_mem_ptr(&vm->mem, LV_GPA_BOOTINFO, LV_PAGE_SIZE);

    for (unsigned i = 0; bi && i < vm->nnics; i++) {
        const struct lv_device *e;
        struct lv_dev_net net;
        struct lv_vm_nic n;
        if (memcmp(vm->nic[i].mac, zero, 6) || vm->nic_dev[i] >= LV_BOOTINFO_MAX_DEVICES)
            continue;
        e = (const struct lv_device *)(bi + LV_BOOTINFO_DEVICES_OFF) + vm->nic_dev[i];
        memcpy(&net, e->data, sizeof(net));
        memset(&n, 0, sizeof(n));
        memcpy(n.mac, net.mac, 6);
        n.mtu = net.mtu;
        n.ip = net.ip;
        n.netmask = net.netmask;
        n.gw = net.gw;
        int rc = lv_vm_set_nic(vm, i, &n, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Each device's blob checked, then each restored, with the I/O thread
 * (if it runs) parked; then a pass over every queue is asked of it (it
 * serves it once unparked and the vCPU released: a kick pending at the
 * save is not lost, and nothing goes out before the VM runs). */
static int set_devices(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int rc = lv_devices_quiesce(vm, err);

    if (rc)
        return rc;
    for (unsigned i = 0; !rc && i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        rc = d->ops->check(d->priv, s->dev[i].bytes, s->dev[i].len, err);
    }
    for (unsigned i = 0; !rc && i < vm->devs.n; i++) {
        const struct lv_dev *d = &vm->devs.dev[i];
        rc = d->ops->restore(d->priv, s->dev[i].bytes, s->dev[i].len, err);
    }
    if (!rc)
        rc = lv_devices_resume_at_start(vm, err);
    lv_devices_unquiesce(vm);
    return rc;
}

int lv_vm_restore_state(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int rc = check_fits(vm, s, err);

    if (!rc)
        rc = set_vm(vm, s, err);
    if (!rc)
        rc = set_vcpu(vm, s, err);
    if (!rc)
        rc = take_identities(vm, err);
    if (!rc)
        rc = set_devices(vm, s, err);
    if (!rc)
        rc = lv_vm_set_restored(vm, s->vm.clock_ns, err);
    return rc;
}

/* The checks first (nothing mapped over a VM that does not fit), then
 * the memory file, then the state. */
/* (len) bytes of (fd) at (off) into (buf); a file that ends early (it
 * changed since it was opened and checked) is refused. */
static int read_at(int fd, uint8_t *buf, size_t len, uint64_t off, struct lv_err *err)
{
    size_t got = 0;

    while (got < len) { /* each pass reads at least a byte, or ends */
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lv_err_set(err, errno, "restore: reading the memory file: %s",
                              strerror(errno));
        if (n == 0)
            return lv_err_set(err, EINVAL, "restore: the memory file ends at %llu bytes, "
                              "short of its size (it changed since it was opened)",
                              (unsigned long long)(off + got));
        got += (size_t)n;
    }
    return 0;
}

/* The memory file's data read into (vm)'s own RAM (its memfd) in place:
 * a run of pages per read; a page that is a hole in the file but holds
 * data in the RAM (a shell's preset) is zeroed. Pages the RAM has stay
 * where they are, so a pool shell's warmed pages (warm.c) are not
 * faulted again. */
static int copy_memory(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    size_t npages = vm->mem.size / LV_PAGE_SIZE, p = 0;
    uint8_t *file = calloc(npages, 1), *ram = calloc(npages, 1);
    int rc = file && ram ? 0 : lv_err_set(err, ENOMEM, "restore: out of memory");
    struct stat st;

    if (!rc && fstat(s->mem_fd, &st) < 0)
        rc = lv_err_set(err, errno, "restore: memory file: %s", strerror(errno));
    if (!rc && (uint64_t)st.st_size != vm->mem.size) /* (a read past this is refused too) */
        rc = lv_err_set(err, EINVAL, "restore: the memory file has %llu bytes, not %llu (it "
                        "changed since it was opened)",
                        (unsigned long long)st.st_size, (unsigned long long)vm->mem.size);
    if (!rc)
        rc = lv_snap_data_pages(s->mem_fd, vm->mem.size, file, err);
    if (!rc)
        rc = lv_snap_data_pages(vm->mem.fd, vm->mem.size, ram, err);
    while (!rc && p < npages) { /* each pass moves p past a run */
        size_t q = p;
        while (q < npages && file[q] == file[p])
            q++;
        uint8_t *at = vm->mem.base + p * LV_PAGE_SIZE;
        if (file[p])
            rc = read_at(s->mem_fd, at, (q - p) * LV_PAGE_SIZE, (uint64_t)p * LV_PAGE_SIZE, err);
        for (size_t r = p; !file[p] && r < q; r++)
            if (ram[r])
                memset(vm->mem.base + r * LV_PAGE_SIZE, 0, LV_PAGE_SIZE);
        p = q;
    }
    free(file);
    free(ram);
    return rc;
}

int lv_vm_restore_copy(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int rc;

    if (s->mem_fd < 0)
        return lv_err_set(err, EINVAL, "restore: a snapshot without its memory file");
    if (vm->mem.cow)
        return lv_err_set(err, EINVAL, "restore: the VM's RAM is a snapshot's mapping already");
    rc = check_fits(vm, s, err);
    if (!rc)
        rc = copy_memory(vm, s, err);
    return rc ? rc : lv_vm_restore_state(vm, s, err);
}

int lv_vm_restore(struct lv_vm *vm, const struct lv_snap *s, struct lv_err *err)
{
    int fd, rc;

    if (s->mem_fd < 0)
        return lv_err_set(err, EINVAL, "restore: a snapshot without its memory file");
    rc = check_fits(vm, s, err);
    if (rc)
        return rc;
    fd = fcntl(s->mem_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "restore: memory file: %s", strerror(errno));
    rc = lv_mem_map_file(&vm->mem, fd, err);
    if (rc) {
        close(fd);
        return rc;
    }
    return lv_vm_restore_state(vm, s, err);
}
