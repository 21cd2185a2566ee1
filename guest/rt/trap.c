/*
 * trap.c: the IDT, interrupt dispatch and the crash report.
 *
 * Exceptions are fatal except the #GP of a guarded MSR probe. The crash
 * report goes to the console, then the guest exits with
 * LV_EXIT_CRASH | vector so the host sees both.
 */
#include "rt.h"

struct idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, type; /* 0x8e: present, DPL0, 64-bit interrupt gate */
    uint16_t off_mid;
    uint32_t off_hi, zero;
};

/* In .bss: written once at boot, the same page as other runtime state. */
static struct idt_gate idt[RT_NVEC] __attribute__((aligned(16)));

volatile int rt_probe_armed, rt_probe_faulted;
static int in_crash;

static const char *const exc_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
    "#OF overflow", "#BR bound range", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor overrun", "#TS invalid TSS", "#NP segment not present",
    "#SS stack fault", "#GP general protection", "#PF page fault", "reserved 15",
    "#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error",
    "#VE virtualization", "#CP control protection", "reserved 22", "reserved 23",
    "reserved 24", "reserved 25", "reserved 26", "reserved 27",
    "#HV hypervisor injection", "#VC VMM communication", "#SX security", "reserved 31",
};

void rt_trap_init(void)
{
    for (unsigned v = 0; v < RT_NVEC; v++) {
        uint64_t a = rt_trap_stubs[v];
        idt[v] = (struct idt_gate){
            .off_lo = (uint16_t)a,
            .sel = LV_SEL_CODE,
            .type = 0x8e,
            .off_mid = (uint16_t)(a >> 16),
            .off_hi = (uint32_t)(a >> 32),
        };
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    /* One lidt for the life of the guest (it traps on PVM). */
    __asm__ volatile("lidt %0" ::"m"(idtr) : "memory");
}

void rt_control_irq(void)
{
    struct lv_control *c = &((struct lv_bootinfo *)rt_bi)->control;
    uint32_t req = c->request;

    rt_apic_eoi();
    c->ack = req;
    if (req == LV_CTL_SHUTDOWN) {
        /* A unikernel has nothing to flush but its console. */
        lvrt_puts("lightvm: shutdown requested by the host");
        lvrt_exit(0);
    }
    if (req == LV_CTL_RESUMED)
        rt_resume_irq();
}

int rt_rdmsr_safe(uint32_t msr, uint64_t *val)
{
    uint32_t lo = 0, hi = 0;
    rt_probe_faulted = 0;
    rt_probe_armed = 1;
    /* Exactly the 2-byte rdmsr: the #GP handler skips it by RIP += 2. */
    __asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
    rt_probe_armed = 0;
    if (rt_probe_faulted)
        return -1;
    *val = ((uint64_t)hi << 32) | lo;
    return 0;
}

static void crash(struct rt_frame *f)
{
    unsigned v = (unsigned)f->vector;
    uint64_t cr2 = v == 14 ? rt_fault_cr2() : 0; /* before anything faults */

    if (in_crash) /* a fault while reporting: stop without more output */
        rt_exit_status(LV_EXIT_CRASH | v);
    in_crash = 1;
    rt_console_reset();
    /* One console write for the whole report: each write is an exit. */
    static char r[1024];
    size_t n = 0;
#define ADD(...)                                                                   \
    (n += (size_t)lvrt_snprintf(r + (n < sizeof(r) ? n : 0), n < sizeof(r) ? sizeof(r) - n : 0, \
                                __VA_ARGS__))
    ADD("\nlightvm: crash: %s (vector %u) error=0x%lx\n",
        v < 32 ? exc_names[v] : "unexpected interrupt", v, f->error);
    ADD("  rip=%016lx rsp=%016lx rflags=%016lx cs=%lx ss=%lx\n",
        f->rip, f->rsp, f->rflags, f->cs, f->ss);
    if (v == 14)
        ADD("  cr2=%016lx (%s %s, %s)\n", cr2,
            f->error & 0x10 ? "fetch" : f->error & 2 ? "write" : "read",
            f->error & 1 ? "protection" : "not-present",
            f->error & 4 ? "user" : "supervisor");
    ADD("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    ADD("  rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx\n", f->rsi, f->rdi, f->rbp, f->r8);
    ADD("  r9 =%016lx r10=%016lx r11=%016lx r12=%016lx\n", f->r9, f->r10, f->r11, f->r12);
    ADD("  r13=%016lx r14=%016lx r15=%016lx pvm=%d\n", f->r13, f->r14, f->r15, rt_pvm);
#undef ADD
    lvrt_console_write(r, n < sizeof(r) ? n : sizeof(r) - 1);
    rt_exit_status(LV_EXIT_CRASH | v);
}

void rt_trap_dispatch(struct rt_frame *f)
{
    uint64_t v = f->vector;

    if (v == LV_VEC_CONTROL)
        rt_control_irq(); /* may not return (shutdown) */
    if (v == RT_VEC_TIMER || (v >= LV_VEC_DEV_BASE && v < RT_NVEC)) {
        if (v == RT_VEC_TIMER)
            rt_timer_irq();
        else if (v < LV_VEC_CONTROL)
            rt_dev_irq((unsigned)(v - LV_VEC_DEV_BASE));
        /* Interrupted between unmask and HALT: skip the HALT, the wakeup
         * it waits for has just happened (halt.S). */
        if (f->rip >= (uintptr_t)rt_halt_window_begin &&
            f->rip < (uintptr_t)rt_halt_window_end)
            f->rip = (uintptr_t)rt_halt_window_end;
        return;
    }
    switch (v) {
    case RT_VEC_SPURIOUS:
        return; /* spurious APIC interrupts take no EOI */
    case 13:
        if (rt_probe_armed) {
            rt_probe_faulted = 1;
            f->rip += 2; /* past the rdmsr (0f 32) */
            return;
        }
        break;
    }
    crash(f);
}
