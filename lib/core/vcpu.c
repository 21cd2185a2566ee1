/* vcpu.c: the vCPU: its setup and the KVM_RUN loop that serves exits. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include "abi/lv_abi.h"
#include "lightvm/console.h"
#include "lightvm/x86.h"
#include "vm_impl.h"

#define MSR_IA32_TSC 0x10u
#define PVM_VIF_HOST_WRITE 0x400u /* bit 10: a host-initiated VIF registration */

static int set_msrs(struct lv_vm *vm, struct lv_err *err)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[2];
    } m;
    int n;

    memset(&m, 0, sizeof(m));
    /* Guest TSC = host TSC, so guest timestamps compare with ours. */
    m.e[0].index = MSR_IA32_TSC;
    m.e[0].data = __rdtsc();
    m.e[1].index = LV_PVM_MSR_VIF;
    m.e[1].data = LV_GPA_VIF | PVM_VIF_HOST_WRITE;
    m.hdr.nmsrs = (vm->flags & LV_VM_F_NO_PVM) ? 1 : 2;
    n = ioctl(vm->vcpu_fd, KVM_SET_MSRS, &m);
    if (n < 0)
        return lv_err_set(err, errno, "KVM_SET_MSRS: %s", strerror(errno));
    /* KVM stops at the first MSR it refuses: only a PVM host takes the
     * VIF, and then the guest runs natively from its first instruction. */
    vm->pvm = n == 2;
    return 0;
}

int lv_vcpu_init(struct lv_vm *vm, struct lv_err *err)
{
    struct kvm_sregs sregs;
    int khz;

    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu_fd < 0)
        return lv_err_set(err, errno, "KVM_CREATE_VCPU: %s", strerror(errno));
    vm->run = mmap(NULL, (size_t)vm->kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   vm->vcpu_fd, 0);
    if (vm->run == MAP_FAILED) {
        vm->run = NULL;
        return lv_err_set(err, errno, "mmap kvm_run: %s", strerror(errno));
    }
    if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, vm->kvm->cpuid) < 0)
        return lv_err_set(err, errno, "KVM_SET_CPUID2: %s", strerror(errno));
    if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
        return lv_err_set(err, errno, "KVM_GET_SREGS: %s", strerror(errno));
    lv_x86_set_sregs(&sregs);
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
        return lv_err_set(err, errno, "KVM_SET_SREGS: %s", strerror(errno));
    khz = vm->kvm->get_tsc_khz ? ioctl(vm->vcpu_fd, KVM_GET_TSC_KHZ, 0) : -1;
    vm->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
    vm->ns_ref = lv_now_ns();
    vm->tsc_ref = __rdtsc();
    return set_msrs(vm, err);
}

/* Host CLOCK_MONOTONIC ns of a guest TSC value (guest TSC = host TSC). */
static uint64_t tsc_to_ns(const struct lv_vm *vm, uint64_t tsc)
{
    unsigned __int128 ns;

    if (!vm->tsc_khz || tsc < vm->tsc_ref)
        return 0;
    ns = (unsigned __int128)(tsc - vm->tsc_ref) * 1000000u / vm->tsc_khz;
    return ns < (1ull << 62) ? vm->ns_ref + (uint64_t)ns : 0; /* a guest value: no wrap */
}

uint64_t lv_vm_guest_entry_ns(const struct lv_vm *vm)
{
    const struct lv_bootinfo *bi = lv_mem_ptr(&vm->mem, LV_GPA_BOOTINFO, sizeof(*bi));
    uint64_t ns = bi ? tsc_to_ns(vm, __atomic_load_n(&bi->guest_entry_tsc, __ATOMIC_RELAXED)) : 0;

    return ns && ns <= lv_now_ns() ? ns : 0; /* a guest value: plausible or nothing */
}

static void dump_regs(struct lv_vm *vm)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    char *p = vm->result.regs;
    size_t n = sizeof(vm->result.regs);

    if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vm->vcpu_fd, KVM_GET_SREGS, &s) < 0) {
        snprintf(p, n, "registers unavailable: %s\n", strerror(errno));
        return;
    }
    snprintf(p, n,
             "rip=%016llx rsp=%016llx rflags=%016llx\n"
             "rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
             "rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n"
             "r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n"
             "r13=%016llx r14=%016llx r15=%016llx\n"
             "cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx cs=%04x\n",
             r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9,
             r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
             s.cs.selector);
}

/* Ends the run loop: records the outcome; returns 1 (stop). */
static int finish(struct lv_vm *vm, enum lv_outcome o, int status, int regs, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int finish(struct lv_vm *vm, enum lv_outcome o, int status, int regs, const char *fmt, ...)
{
    va_list ap;

    vm->result.outcome = o;
    vm->result.status = status;
    va_start(ap, fmt);
    vsnprintf(vm->result.msg, sizeof(vm->result.msg), fmt, ap);
    va_end(ap);
    if (regs)
        dump_regs(vm);
    return 1;
}

/* The console without an lv_console: a plain fd. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies the host call argument at (gpa) out of guest memory. */
static int hc_arg(struct lv_vm *vm, uint32_t gpa, void *arg, size_t size, const char *what)
{
    const void *p = lv_mem_ptr(&vm->mem, gpa, size);

    if (!p)
        return finish(vm, LV_VM_FAILED, 0, 1, "guest passed a bad pointer: %s argument at "
                      "0x%x outside guest memory (%llu bytes)", what, gpa,
                      (unsigned long long)vm->mem.size);
    memcpy(arg, p, size);
    return 0;
}

static int hc_console(struct lv_vm *vm, uint32_t gpa)
{
    struct lv_hc_console a;
    const uint8_t *buf;

    vm->stats.hc_console++;
    if (hc_arg(vm, gpa, &a, sizeof(a), "console"))
        return 1;
    if (a.len > LV_CONSOLE_MAX)
        return finish(vm, LV_VM_FAILED, 0, 1, "guest passed a bad console write: length %llu "
                      "exceeds %u", (unsigned long long)a.len, LV_CONSOLE_MAX);
    buf = lv_mem_ptr(&vm->mem, a.buf_gpa, a.len);
    if (!buf)
        return finish(vm, LV_VM_FAILED, 0, 1, "guest passed a bad pointer: console buffer "
                      "0x%llx+%llu outside guest memory (%llu bytes)",
                      (unsigned long long)a.buf_gpa, (unsigned long long)a.len,
                      (unsigned long long)vm->mem.size);
    if (!vm->trace.first_console_ns)
        vm->trace.first_console_ns = lv_now_ns();
    /* A log console never fails (it counts what it could not keep); an
     * fd console fails when its fd does (lightvm run's closed stdout). */
    int rc = vm->console ? lv_console_write(vm->console, buf, a.len)
                         : write_all(vm->console_fd, buf, a.len) < 0 ? -errno : 0;
    if (rc < 0)
        return finish(vm, LV_VM_FAILED, 0, 0, "console write failed: %s", strerror(-rc));
    return 0;
}

static int hc_exit(struct lv_vm *vm, uint32_t gpa)
{
    struct lv_hc_exit a;

    vm->stats.hc_exit++;
    if (hc_arg(vm, gpa, &a, sizeof(a), "exit"))
        return 1;
    if (a.status <= 255)
        return finish(vm, LV_VM_EXITED, (int)a.status, 0, "guest exited with status %d",
                      (int)a.status);
    if ((a.status & ~0xffull) == LV_EXIT_CRASH)
        return finish(vm, LV_VM_CRASHED, (int)(a.status & 0xff), 0,
                      "guest crashed: unhandled exception %d", (int)(a.status & 0xff));
    return finish(vm, LV_VM_FAILED, 0, 1, "guest exit status 0x%llx is out of range (0..255)",
                  (unsigned long long)a.status);
}

static int hc_mark(struct lv_vm *vm, uint32_t gpa)
{
    struct lv_hc_mark a;
    uint64_t now = lv_now_ns();

    vm->stats.hc_mark++;
    if (hc_arg(vm, gpa, &a, sizeof(a), "mark"))
        return 1;
    if (vm->trace.nmarks < LV_MAX_MARKS) {
        vm->trace.mark[vm->trace.nmarks].id = a.id;
        vm->trace.mark[vm->trace.nmarks].ns = now;
        vm->trace.nmarks++;
    }
    return 0;
}

static int handle_io(struct lv_vm *vm)
{
    const struct kvm_run *run = vm->run;
    uint64_t off = run->io.data_offset;
    uint32_t val;

    if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == LV_PVM_DOORBELL_PORT) {
        vm->stats.doorbell++;
        return 0;
    }
    if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || run->io.count != 1 ||
        off > (uint64_t)vm->kvm->vcpu_mmap_size - 4)
        return finish(vm, LV_VM_FAILED, 0, 1, "guest used unknown port I/O: %s port 0x%x size "
                      "%u count %u", run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
                      run->io.port, run->io.size, run->io.count);
    memcpy(&val, (const uint8_t *)run + off, sizeof(val));
    switch (run->io.port) {
    case LV_PORT_CONSOLE:
        return hc_console(vm, val);
    case LV_PORT_EXIT:
        return hc_exit(vm, val);
    case LV_PORT_MARK:
        return hc_mark(vm, val);
    default:
        return finish(vm, LV_VM_FAILED, 0, 1, "guest wrote to unknown port 0x%x",
                      run->io.port);
    }
}

int lv_vcpu_handle_exit(struct lv_vm *vm)
{
    const struct kvm_run *run = vm->run;
    unsigned r = run->exit_reason;

    vm->stats.exits++;
    vm->stats.by_reason[r < LV_EXIT_REASONS ? r : 0]++;
    switch (r) {
    case KVM_EXIT_IO:
        return handle_io(vm);
    case KVM_EXIT_MMIO: {
        struct lv_err err = {""};
        int rc = lv_devices_mmio(vm, vm->run, &err);
        if (rc < 0)
            return finish(vm, LV_VM_FAILED, 0, 1, "guest device access failed: %s", err.msg);
        if (rc > 0)
            return 0;
        return finish(vm, LV_VM_FAILED, 0, 1, "guest %s unmapped address 0x%llx (%u bytes)",
                      run->mmio.is_write ? "wrote" : "read",
                      (unsigned long long)run->mmio.phys_addr, run->mmio.len);
    }
    case KVM_EXIT_SHUTDOWN:
        return finish(vm, LV_VM_FAILED, 0, 1, "guest triple-faulted (KVM_EXIT_SHUTDOWN)");
    case KVM_EXIT_HLT:
        return finish(vm, LV_VM_FAILED, 0, 1, "guest halted with interrupts off");
    case KVM_EXIT_INTERNAL_ERROR:
        return finish(vm, LV_VM_FAILED, 0, 1, "KVM internal error, suberror %u (an "
                      "instruction KVM cannot emulate?)", run->internal.suberror);
    case KVM_EXIT_FAIL_ENTRY:
        return finish(vm, LV_VM_FAILED, 0, 1, "VM entry failed, hardware reason 0x%llx",
                      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
    case KVM_EXIT_SYSTEM_EVENT:
        return finish(vm, LV_VM_FAILED, 0, 1, "guest system event %u", run->system_event.type);
    default:
        return finish(vm, LV_VM_FAILED, 0, 1, "unknown exit reason %u", r);
    }
}

void lv_vcpu_kick(struct lv_vm *vm)
{
    if (vm->run)
        __atomic_store_n(&vm->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (vm->started)
        pthread_kill(vm->thread, SIGUSR1);
}

/* Parks the vCPU while a pause is requested; returns when it is lifted
 * or the VM is to stop. */
static void park(struct lv_vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->paused = 1;
    pthread_cond_broadcast(&vm->run_cond);
    while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stop))
        pthread_cond_wait(&vm->run_cond, &vm->run_lock);
    vm->paused = 0;
    pthread_mutex_unlock(&vm->run_lock);
}

void *lv_vcpu_thread(void *arg)
{
    struct lv_vm *vm = arg;
    sigset_t kick;
    uint64_t one = 1;

    if (lv_vm_thread_filter(vm, LV_SECCOMP_VCPU) < 0)
        return NULL; /* its spawner says why and stops the VM */
    sigemptyset(&kick);
    sigaddset(&kick, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
    /* Spawned early (a VM shell): wait for lv_vm_start, or a stop. */
    pthread_mutex_lock(&vm->run_lock);
    while (!vm->go && !atomic_load(&vm->stop))
        pthread_cond_wait(&vm->run_cond, &vm->run_lock);
    pthread_mutex_unlock(&vm->run_lock);
    vm->trace.phase[LV_PH_START].end_ns = vm->trace.first_run_ns = lv_now_ns();
    for (;;) {
        if (atomic_load(&vm->stop)) {
            pthread_mutex_lock(&vm->fail_lock);
            if (vm->dev_failed)
                finish(vm, LV_VM_FAILED, 0, 0, "%s", vm->dev_msg);
            else
                finish(vm, LV_VM_STOPPED, 0, 0, "stopped");
            pthread_mutex_unlock(&vm->fail_lock);
            break;
        }
        if (atomic_load(&vm->pause_req)) {
            park(vm);
            /* A kick that came for the pause (or before it) is spent. */
            __atomic_store_n(&vm->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            continue; /* re-checks stop first */
        }
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            finish(vm, LV_VM_FAILED, 0, 1, "KVM_RUN: %s", strerror(errno));
            break;
        }
        if (lv_vcpu_handle_exit(vm))
            break;
    }
    vm->trace.exit_ns = lv_now_ns();
    vm->trace.guest_entry_ns = lv_vm_guest_entry_ns(vm); /* a guest hint, checked there */
    pthread_mutex_lock(&vm->run_lock);
    vm->vcpu_done = 1;
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
    if (write(vm->done_fd, &one, sizeof(one)) < 0) {
        /* an eventfd write of 1 cannot fail short of a counter overflow */
    }
    return NULL;
}

const char *lv_exit_name(unsigned r)
{
    static const char *const names[] = {
        [KVM_EXIT_UNKNOWN] = "unknown",   [KVM_EXIT_EXCEPTION] = "exception",
        [KVM_EXIT_IO] = "io",             [KVM_EXIT_HYPERCALL] = "hypercall",
        [KVM_EXIT_DEBUG] = "debug",       [KVM_EXIT_HLT] = "hlt",
        [KVM_EXIT_MMIO] = "mmio",         [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window",
        [KVM_EXIT_SHUTDOWN] = "shutdown", [KVM_EXIT_FAIL_ENTRY] = "fail_entry",
        [KVM_EXIT_INTR] = "intr",         [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
        [KVM_EXIT_SYSTEM_EVENT] = "system_event",
    };
    if (r < sizeof(names) / sizeof(names[0]) && names[r])
        return names[r];
    return "other";
}
