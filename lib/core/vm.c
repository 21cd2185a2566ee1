/* vm.c: creating, loading, starting and destroying a unikernel VM. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "abi/lv_abi.h"
#include "lightvm/bootinfo.h"
#include "lightvm/elf.h"
#include "lightvm/x86.h"
#include "vm_impl.h"

/* Guest-physical address of the TSS KVM needs on VMX hosts (real-mode
 * emulation); far above guest RAM. */
#define LV_KVM_TSS_ADDR 0xfffbd000ul

uint64_t lv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void span_begin(struct lv_vm *vm, enum lv_phase ph)
{
    vm->trace.phase[ph].start_ns = lv_now_ns();
}

static void span_end(struct lv_vm *vm, enum lv_phase ph)
{
    vm->trace.phase[ph].end_ns = lv_now_ns();
}

static int create_vm_fd(struct lv_vm *vm, struct lv_err *err)
{
    vm->vm_fd = ioctl(vm->kvm->fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return lv_err_set(err, errno, "KVM_CREATE_VM: %s", strerror(errno));
    /* Only needed by VMX for real mode; PVM may not implement it. */
    (void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, LV_KVM_TSS_ADDR);
    return 0;
}

int lv_vm_set_ram_slot(struct lv_vm *vm, uint32_t flags, struct lv_err *err)
{
    struct kvm_userspace_memory_region region;

    memset(&region, 0, sizeof(region));
    region.slot = LV_RAM_SLOT;
    region.flags = flags;
    region.guest_phys_addr = 0;
    region.memory_size = vm->mem.size;
    region.userspace_addr = (uintptr_t)vm->mem.base;
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return lv_err_set(err, errno, "KVM_SET_USER_MEMORY_REGION (flags 0x%x): %s", flags,
                          strerror(errno));
    return 0;
}

static int setup_memory(struct lv_vm *vm, uint64_t size, struct lv_err *err)
{
    int rc = lv_mem_open(&vm->mem, size, err);

    if (rc)
        return rc;
    rc = lv_x86_write_tables(&vm->mem, err);
    if (rc)
        return rc;
    return lv_vm_set_ram_slot(vm, 0, err);
}

int lv_vm_create(struct lv_vm **out, struct lv_kvm *kvm, const struct lv_vm_config *cfg,
                 struct lv_err *err)
{
    struct lv_vm *vm;
    int rc;

    *out = NULL;
    if (cfg->mem_size < LV_MEM_MIN || cfg->mem_size > LV_MEM_MAX ||
        cfg->mem_size % LV_MEM_ALIGN)
        return lv_err_set(err, EINVAL, "memory %llu bytes: must be a multiple of 2 MiB between "
                          "2 MiB and 4 GiB", (unsigned long long)cfg->mem_size);
    rc = lv_cmdline_check(cfg->cmdline, err);
    if (rc)
        return rc;

    vm = calloc(1, sizeof(*vm));
    if (!vm)
        return lv_err_set(err, ENOMEM, "out of memory");
    vm->kvm = kvm;
    vm->vm_fd = vm->vcpu_fd = vm->done_fd = vm->epfd = vm->io_stop_fd = -1;
    pthread_mutex_init(&vm->fail_lock, NULL);
    pthread_mutex_init(&vm->run_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* lv_vm_pause's deadline */
    pthread_cond_init(&vm->run_cond, &ca);
    pthread_condattr_destroy(&ca);
    vm->mem.fd = -1;
    vm->console_fd = cfg->console_fd;
    vm->console = cfg->console;
    vm->flags = cfg->flags;
    if (cfg->cmdline)
        strcpy(vm->cmdline, cfg->cmdline); /* length checked above */

    vm->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->done_fd < 0) {
        rc = lv_err_set(err, errno, "eventfd: %s", strerror(errno));
        goto out_destroy;
    }

    span_begin(vm, LV_PH_CREATE_VM);
    rc = create_vm_fd(vm, err);
    span_end(vm, LV_PH_CREATE_VM);
    if (rc)
        goto out_destroy;

    /* Memslots before the irqchip: on PVM a slot added after
     * KVM_CREATE_IRQCHIP costs ~7 ms instead of ~0.05 ms. */
    span_begin(vm, LV_PH_MEMORY);
    rc = setup_memory(vm, cfg->mem_size, err);
    if (!rc && ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        rc = lv_err_set(err, errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
    span_end(vm, LV_PH_MEMORY);
    if (rc)
        goto out_destroy;

    span_begin(vm, LV_PH_VCPU);
    rc = lv_vcpu_init(vm, err);
    span_end(vm, LV_PH_VCPU);
    if (rc)
        goto out_destroy;

    span_begin(vm, LV_PH_DEVICES);
    rc = lv_devices_create(vm, cfg, err);
    span_end(vm, LV_PH_DEVICES);
    if (rc)
        goto out_destroy;
    *out = vm;
    return 0;

out_destroy:
    lv_vm_destroy(&vm);
    return rc;
}

int lv_vm_set_cmdline(struct lv_vm *vm, const char *cmdline, struct lv_err *err)
{
    int rc = lv_cmdline_check(cmdline, err);

    if (rc)
        return rc;
    if (vm->loaded)
        return lv_err_set(err, EBUSY, "the image is already loaded");
    snprintf(vm->cmdline, sizeof(vm->cmdline), "%s", cmdline ? cmdline : "");
    return 0;
}

void lv_vm_set_probe(struct lv_vm *vm, uint32_t ip, uint16_t port)
{
    vm->probe_ip = ip;
    vm->probe_port = port;
}

void lv_vm_set_probe_mac(struct lv_vm *vm, const uint8_t mac[6])
{
    memcpy(vm->probe_mac, mac, 6);
}

void lv_vm_set_console(struct lv_vm *vm, struct lv_console *c)
{
    vm->console = c;
}

int lv_vm_populate(struct lv_vm *vm, uint64_t gpa, uint64_t len, struct lv_err *err)
{
    return lv_mem_populate(&vm->mem, gpa, len, err);
}

/* The boot info page and the entry registers for a loaded (info). */
static int load_finish(struct lv_vm *vm, const struct lv_elf_info *ip, struct lv_err *err);

int lv_vm_load_elf(struct lv_vm *vm, const uint8_t *img, size_t size, struct lv_err *err)
{
    struct lv_elf_info info;
    int rc;

    if (vm->loaded)
        return lv_err_set(err, EBUSY, "an image is already loaded");
    rc = lv_nics_check_identity(vm, err);
    if (rc)
        return rc;
    span_begin(vm, LV_PH_LOAD_IMAGE);
    rc = lv_elf_load(img, size, &vm->mem, 1, &info, err);
    span_end(vm, LV_PH_LOAD_IMAGE);
    return rc ? rc : load_finish(vm, &info, err);
}

int lv_vm_load_image(struct lv_vm *vm, struct lv_image *im, struct lv_err *err)
{
    int rc;

    if (vm->loaded)
        return lv_err_set(err, EBUSY, "an image is already loaded");
    rc = lv_nics_check_identity(vm, err);
    if (rc)
        return rc;
    span_begin(vm, LV_PH_LOAD_IMAGE);
    rc = lv_image_load(im, &vm->mem, 1, err);
    span_end(vm, LV_PH_LOAD_IMAGE);
    return rc ? rc : load_finish(vm, &im->info, err);
}

static int load_finish(struct lv_vm *vm, const struct lv_elf_info *ip, struct lv_err *err)
{
    const struct lv_elf_info info = *ip;
    struct lv_bootinfo_params bp;
    struct kvm_regs regs;
    struct timespec wall;
    int rc;

    if (info.end > vm->dev_mem_gpa)
        return lv_err_set(err, EFBIG, "image ends at 0x%llx, inside the memory reserved for "
                          "device queues (from 0x%llx): give the VM more memory",
                          (unsigned long long)info.end, (unsigned long long)vm->dev_mem_gpa);

    span_begin(vm, LV_PH_BOOT_INFO);
    memset(&bp, 0, sizeof(bp));
    bp.cmdline = vm->cmdline;
    bp.tsc_khz = vm->tsc_khz;
    bp.image_end = info.end;
    bp.devices = vm->devs.info;
    bp.ndevices = vm->devs.n;
    bp.dev_mem_gpa = vm->dev_mem_gpa;
    bp.probe_ip = vm->probe_ip;
    bp.probe_port = vm->probe_port;
    memcpy(bp.probe_mac, vm->probe_mac, 6);
    clock_gettime(CLOCK_REALTIME, &wall);
    bp.wall_tsc = __rdtsc();
    bp.wall_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
    bp.flags = (vm->pvm ? LV_BI_F_PVM_VIF : 0) | ((vm->flags & LV_VM_F_NO_PVM) ? LV_BI_F_NO_PVM : 0);
    rc = lv_bootinfo_seed(bp.seed, err);
    if (!rc)
        rc = lv_bootinfo_write(&vm->mem, &bp, err);
    if (rc)
        return rc;
    memset(&regs, 0, sizeof(regs));
    regs.rip = info.entry;
    regs.rsp = LV_GPA_STACK_TOP;
    regs.rdi = LV_GPA_BOOTINFO;
    regs.rflags = 0x2;
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
        return lv_err_set(err, errno, "KVM_SET_REGS: %s", strerror(errno));
    span_end(vm, LV_PH_BOOT_INFO);
    vm->loaded = 1;
    return 0;
}

int lv_vm_set_restored(struct lv_vm *vm, uint64_t clock_ns, struct lv_err *err)
{
    int rc;

    vm->loaded = 1; /* lv_vm_resumed reads the boot info of a loaded VM */
    rc = lv_vm_resumed(vm, clock_ns, err);
    if (rc)
        vm->loaded = 0;
    return rc;
}

static void kick_handler(int sig)
{
    (void)sig; /* only interrupts KVM_RUN */
}

int lv_vm_thread_filter(struct lv_vm *vm, enum lv_seccomp_role role)
{
    struct lv_err e = {""};
    int rc;

    if (!(vm->flags & LV_VM_F_SECCOMP))
        return 0;
    rc = lv_seccomp_install(role, &e);
    pthread_mutex_lock(&vm->run_lock);
    vm->filters_in++;
    if (rc && !vm->filter_rc) {
        vm->filter_rc = rc;
        memcpy(vm->filter_msg, e.msg, sizeof(vm->filter_msg));
    }
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
    return rc;
}

void lv_vm_filters_due(struct lv_vm *vm, int n)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->filters_due += n;
    pthread_mutex_unlock(&vm->run_lock);
}

int lv_vm_threads_ready(struct lv_vm *vm, struct lv_err *err)
{
    struct timespec dl;
    int rc = 0, t = 0;

    if (!(vm->flags & LV_VM_F_SECCOMP))
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&vm->run_lock);
    while (vm->filters_in < vm->filters_due && !vm->filter_rc && !t)
        t = pthread_cond_timedwait(&vm->run_cond, &vm->run_lock, &dl);
    if (vm->filter_rc)
        rc = lv_err_set(err, -vm->filter_rc, "%s", vm->filter_msg);
    else if (vm->filters_in < vm->filters_due)
        rc = lv_err_set(err, ETIMEDOUT, "the VM's threads did not install their seccomp "
                        "filters within 5 s");
    pthread_mutex_unlock(&vm->run_lock);
    return rc;
}

int lv_vm_spawn_threads(struct lv_vm *vm, struct lv_err *err)
{
    struct sigaction sa;
    int rc;

    if (vm->started)
        return lv_err_set(err, EBUSY, "VM threads already started");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return lv_err_set(err, errno, "sigaction: %s", strerror(errno));
    lv_vm_filters_due(vm, 1 + (vm->devs.n > 0)); /* the I/O thread with devices */
    rc = lv_devices_start(vm, err);
    if (rc)
        return rc;
    rc = pthread_create(&vm->thread, NULL, lv_vcpu_thread, vm);
    if (rc) {
        lv_devices_stop(vm);
        return lv_err_set(err, rc, "vCPU thread: %s", strerror(rc));
    }
    vm->started = 1; /* the vCPU thread waits for lv_vm_start */
    return 0;
}

int lv_vm_start(struct lv_vm *vm, struct lv_err *err)
{
    int rc;

    if (!vm->loaded)
        return lv_err_set(err, EINVAL, "no image loaded");
    if (vm->go)
        return lv_err_set(err, EBUSY, "VM already started");
    span_begin(vm, LV_PH_START);
    if (!vm->started && (rc = lv_vm_spawn_threads(vm, err)) < 0)
        return rc;
    rc = lv_vm_threads_ready(vm, err); /* LV_VM_F_SECCOMP: their filters are in */
    if (rc)
        return rc;
    lv_vm_release_vcpu(vm);
    if (vm->io_resume_at_start) { /* lv_devices_resume_at_start came before it */
        vm->io_resume_at_start = 0;
        if ((rc = lv_devices_resume(vm, err)) < 0)
            return rc;
    }
    if (vm->resume_irq) { /* lv_vm_resumed came before the release */
        vm->resume_irq = 0;
        return lv_vm_raise_control(vm, err);
    }
    return 0;
}

int lv_vm_waiting(const struct lv_vm *vm)
{
    return vm->started && !vm->go && !vm->loaded;
}

void lv_vm_release_vcpu(struct lv_vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->go = 1;
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
}

int lv_vm_join_vcpu(struct lv_vm *vm, int timeout_ms, struct lv_vm_result *res)
{
    struct pollfd pf = {vm->done_fd, POLLIN, 0};

    if (poll(&pf, 1, timeout_ms) != 1) {
        lv_vm_stop(vm);
        return -ETIMEDOUT;
    }
    pthread_join(vm->thread, NULL);
    *res = vm->result;
    return 0;
}

int lv_vm_respawn_vcpu(struct lv_vm *vm, struct lv_err *err)
{
    uint64_t one;
    int rc;

    if (read(vm->done_fd, &one, sizeof(one)) < 0) {
        /* it was written once: cannot be empty */
    }
    memset(&vm->result, 0, sizeof(vm->result));
    memset(&vm->stats, 0, sizeof(vm->stats));
    vm->trace.first_run_ns = vm->trace.guest_entry_ns = vm->trace.first_console_ns = 0;
    vm->trace.exit_ns = 0;
    vm->trace.nmarks = 0;
    vm->go = vm->vcpu_done = 0;
    __atomic_store_n(&vm->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    lv_vm_filters_due(vm, 1); /* LV_VM_F_SECCOMP: it installs its filter as it starts */
    rc = pthread_create(&vm->thread, NULL, lv_vcpu_thread, vm);
    if (rc) {
        vm->started = 0;
        return lv_err_set(err, rc, "vCPU thread: %s", strerror(rc));
    }
    return 0;
}

int lv_vm_done_fd(const struct lv_vm *vm)
{
    return vm->done_fd;
}

void lv_vm_stop(struct lv_vm *vm)
{
    atomic_store(&vm->stop, 1);
    pthread_mutex_lock(&vm->run_lock);
    pthread_cond_broadcast(&vm->run_cond); /* a parked vCPU wakes to stop */
    pthread_mutex_unlock(&vm->run_lock);
    lv_vcpu_kick(vm);
}

int lv_vm_pause(struct lv_vm *vm, struct lv_err *err)
{
    struct timespec dl;
    int rc = 0;

    if (!vm->go)
        return lv_err_set(err, EINVAL, "the VM is not running");
    pthread_mutex_lock(&vm->run_lock);
    if (vm->vcpu_done)
        rc = lv_err_set(err, EINVAL, "the VM has stopped");
    else if (atomic_load(&vm->pause_req))
        rc = lv_err_set(err, EALREADY, "the VM is already paused");
    pthread_mutex_unlock(&vm->run_lock);
    if (rc)
        return rc;
    atomic_store(&vm->pause_req, 1);
    lv_vcpu_kick(vm);
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 1;
    pthread_mutex_lock(&vm->run_lock);
    while (!vm->paused && !vm->vcpu_done && !rc)
        rc = pthread_cond_timedwait(&vm->run_cond, &vm->run_lock, &dl);
    int parked = vm->paused, done = vm->vcpu_done;
    if (!parked) { /* give up: a vCPU that parks now must not stay parked */
        atomic_store(&vm->pause_req, 0);
        pthread_cond_broadcast(&vm->run_cond);
    }
    pthread_mutex_unlock(&vm->run_lock);
    if (parked)
        return 0;
    if (done)
        return lv_err_set(err, EINVAL, "the VM stopped while pausing");
    return lv_err_set(err, ETIMEDOUT, "the vCPU did not stop within a second");
}

int lv_vm_unpause(struct lv_vm *vm, struct lv_err *err)
{
    int rc = 0;

    pthread_mutex_lock(&vm->run_lock);
    if (!atomic_load(&vm->pause_req))
        rc = lv_err_set(err, EINVAL, "the VM is not paused");
    atomic_store(&vm->pause_req, 0);
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
    return rc;
}

int lv_vm_is_paused(const struct lv_vm *vm)
{
    return atomic_load(&((struct lv_vm *)vm)->pause_req) != 0;
}

int lv_vm_vcpu_still(struct lv_vm *vm, struct lv_err *err)
{
    int busy;

    pthread_mutex_lock(&vm->run_lock);
    busy = vm->go && !vm->paused && !vm->vcpu_done;
    pthread_mutex_unlock(&vm->run_lock);
    return busy ? lv_err_set(err, EBUSY, "the vCPU is running: pause the VM first") : 0;
}

int lv_vm_request(struct lv_vm *vm, uint32_t request, struct lv_err *err)
{
    struct lv_bootinfo *bi = lv_mem_ptr(&vm->mem, LV_GPA_BOOTINFO, sizeof(*bi));

    if (!vm->go || !bi)
        return lv_err_set(err, EINVAL, "the VM is not running");
    __atomic_store_n(&bi->control.request, request, __ATOMIC_SEQ_CST);
    lv_mem_mark_dirty(&vm->mem, LV_GPA_BOOTINFO, sizeof(*bi));
    return lv_vm_raise_control(vm, err);
}

int lv_vm_raise_control(struct lv_vm *vm, struct lv_err *err)
{
    struct kvm_msi msi;

    memset(&msi, 0, sizeof(msi));
    msi.address_lo = 0xfee00000u; /* APIC 0, fixed delivery */
    msi.data = LV_VEC_CONTROL;
    if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        return lv_err_set(err, errno, "KVM_SIGNAL_MSI: %s", strerror(errno));
    return 0;
}

void lv_vm_wait(struct lv_vm *vm, struct lv_vm_result *res)
{
    if (vm->started) {
        pthread_join(vm->thread, NULL);
        vm->started = 0;
    }
    lv_devices_stop(vm); /* the guest is gone: nothing left to serve */
    if (res)
        *res = vm->result;
}

const struct lv_vm_stats *lv_vm_stats(const struct lv_vm *vm)
{
    return &vm->stats;
}

const struct lv_vm_trace *lv_vm_trace(const struct lv_vm *vm)
{
    return &vm->trace;
}

void lv_vm_destroy(struct lv_vm **pvm)
{
    struct lv_vm *vm = *pvm;

    if (!vm)
        return;
    if (vm->started) {
        lv_vm_stop(vm);
        lv_vm_wait(vm, NULL);
    }
    if (vm->run)
        munmap(vm->run, (size_t)vm->kvm->vcpu_mmap_size);
    if (vm->vcpu_fd >= 0)
        close(vm->vcpu_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    lv_devices_destroy(vm); /* after the VM fd: KVM has dropped its irqfds/ioeventfds */
    lv_mem_close(&vm->mem);
    free(vm->dirty_kvm);
    pthread_mutex_destroy(&vm->fail_lock);
    pthread_mutex_destroy(&vm->run_lock);
    pthread_cond_destroy(&vm->run_cond);
    if (vm->done_fd >= 0)
        close(vm->done_fd);
    free(vm);
    *pvm = NULL;
}
