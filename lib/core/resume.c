/*
 * resume.c: the boot info side of a VM that runs on after a snapshot
 * (ABI v4): the guest's monotonic clock as the runtime computes it, and
 * the rewrite of the boot info page (generation, clock base, seed, wall
 * clock, NIC identities) followed by LV_CTL_RESUMED.
 *
 * The boot info page is guest memory: the guest may have written
 * anything there, so every value read from it is checked, and nothing is
 * written unless its magic, version and size are this host's.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <x86intrin.h>

#include "abi/lv_abi.h"
#include "lightvm/bootinfo.h"
#include "vm_impl.h"

#define MSR_IA32_TSC 0x10u
/* The runtime refuses frequencies outside this range (guest/rt/clock.c). */
#define KHZ_MIN 1000u
#define KHZ_MAX 100000000u

static struct lv_bootinfo *bootinfo_checked(struct lv_vm *vm, struct lv_err *err)
{
    struct lv_bootinfo *bi = lv_mem_ptr(&vm->mem, LV_GPA_BOOTINFO, LV_PAGE_SIZE);

    if (!vm->loaded || !bi) {
        lv_err_set(err, EINVAL, "the VM has no boot info page (no image loaded)");
        return NULL;
    }
    if (bi->magic != LV_BOOTINFO_MAGIC || bi->abi_version != LV_ABI_VERSION ||
        bi->size != sizeof(*bi)) {
        lv_err_set(err, EINVAL, "boot info page: magic 0x%llx, ABI %u, size %u: not this "
                   "host's (ABI %u, size %zu)", (unsigned long long)bi->magic, bi->abi_version,
                   bi->size, LV_ABI_VERSION, sizeof(*bi));
        return NULL;
    }
    return bi;
}

int lv_vm_guest_tsc(struct lv_vm *vm, uint64_t *tsc, struct lv_err *err)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m;
    int rc;

    if (vm->pvm) { /* PVM: the guest's TSC is the host's */
        *tsc = __rdtsc();
        return 0;
    }
    rc = lv_vm_vcpu_still(vm, err);
    if (rc)
        return rc;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 1;
    m.e.index = MSR_IA32_TSC;
    rc = ioctl(vm->vcpu_fd, KVM_GET_MSRS, &m);
    if (rc < 0)
        return lv_err_set(err, errno, "KVM_GET_MSRS (TSC): %s", strerror(errno));
    if (rc != 1)
        return lv_err_set(err, EIO, "KVM_GET_MSRS: the TSC could not be read");
    *tsc = m.e.data;
    return 0;
}

int lv_vm_guest_clock(struct lv_vm *vm, uint64_t guest_tsc, uint64_t *ns, struct lv_err *err)
{
    const struct lv_bootinfo *bi = bootinfo_checked(vm, err);
    uint64_t base_tsc, base_ns, khz;
    unsigned __int128 v;

    if (!bi)
        return -EINVAL;
    base_tsc = __atomic_load_n(&bi->clock_tsc, __ATOMIC_RELAXED);
    base_ns = base_tsc ? __atomic_load_n(&bi->clock_ns, __ATOMIC_RELAXED) : 0;
    if (!base_tsc) /* the runtime's own base: its entry TSC at 0 ns */
        base_tsc = __atomic_load_n(&bi->guest_entry_tsc, __ATOMIC_RELAXED);
    khz = bi->tsc_khz;
    if (!base_tsc) { /* the guest has not run its first instruction */
        *ns = 0;
        return 0;
    }
    if (khz < KHZ_MIN || khz > KHZ_MAX)
        return lv_err_set(err, ENOTSUP, "the boot info's TSC frequency (%llu kHz) is not one "
                          "the guest's clock can use", (unsigned long long)khz);
    /* The runtime never goes back: a TSC before its base reads as the base. */
    v = guest_tsc > base_tsc ? (unsigned __int128)(guest_tsc - base_tsc) * 1000000u / khz : 0;
    v += base_ns;
    if (v > UINT64_MAX)
        return lv_err_set(err, EOVERFLOW, "guest clock overflows at TSC %llu (base %llu, "
                          "%llu ns)", (unsigned long long)guest_tsc,
                          (unsigned long long)base_tsc, (unsigned long long)base_ns);
    *ns = (uint64_t)v;
    return 0;
}

/* The device table entries of the NICs get vm->nic[]'s identities (the
 * host's copy in vm->devs.info, kept by lv_vm_set_nic). */
static void write_nics(struct lv_vm *vm, struct lv_bootinfo *bi)
{
    struct lv_device *table = (struct lv_device *)((char *)bi + LV_BOOTINFO_DEVICES_OFF);

    for (unsigned i = 0; i < vm->nnics; i++) {
        unsigned d = vm->nic_dev[i];
        if (d < LV_BOOTINFO_MAX_DEVICES && d < vm->devs.n)
            memcpy(table[d].data, vm->devs.info[d].data, sizeof(table[d].data));
    }
}

int lv_vm_resumed(struct lv_vm *vm, uint64_t clock_ns, struct lv_err *err)
{
    struct lv_bootinfo *bi = bootinfo_checked(vm, err);
    uint8_t seed[32];
    struct timespec wall;
    uint64_t tsc;
    int rc;

    if (!bi)
        return -EINVAL;
    rc = lv_vm_vcpu_still(vm, err);
    if (!rc)
        rc = lv_bootinfo_seed(seed, err);
    if (!rc)
        rc = lv_vm_guest_tsc(vm, &tsc, err);
    if (rc)
        return rc;
    clock_gettime(CLOCK_REALTIME, &wall);

    /* The guest reads these fields between two reads of (generation),
     * so the generation goes last (lv_abi.h). */
    memcpy(bi->seed, seed, sizeof(seed));
    if (vm->tsc_khz)
        bi->tsc_khz = vm->tsc_khz;
    bi->clock_tsc = tsc ? tsc : 1; /* 0 would mean "the runtime's own base" */
    bi->clock_ns = clock_ns;
    bi->wall_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
    bi->wall_tsc = tsc;
    write_nics(vm, bi);
    __atomic_store_n(&bi->generation, bi->generation + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&bi->control.request, LV_CTL_RESUMED, __ATOMIC_SEQ_CST);
    lv_mem_mark_dirty(&vm->mem, LV_GPA_BOOTINFO, LV_PAGE_SIZE);

    /* A vCPU not yet released gets the interrupt right after its release
     * (lv_vm_start): its interrupt state may still be set up before. */
    if (!vm->go) {
        vm->resume_irq = 1;
        return 0;
    }
    return lv_vm_raise_control(vm, err);
}
