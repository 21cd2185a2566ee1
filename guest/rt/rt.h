/*
 * rt.h: runtime-internal interfaces and CPU helpers (not for apps).
 */
#ifndef LVRT_RT_H
#define LVRT_RT_H

#include <stdint.h>

#include "abi/lv_abi.h"
#include "lvrt.h"

/* IDT layout: exceptions 0..31, our two APIC vectors, one vector per
 * device of the boot info device table (LV_VEC_DEV_BASE + index), then
 * the host's control vector: 43 entries, 688 bytes, no extra page.
 * trap_entry.S makes stubs for exactly 0 .. RT_NVEC - 1. */
#define RT_VEC_TIMER 32u
#define RT_VEC_SPURIOUS 33u
#define RT_NVEC (LV_VEC_CONTROL + 1)
_Static_assert(LV_VEC_DEV_BASE == RT_VEC_SPURIOUS + 1, "device vectors follow the APIC ones");
_Static_assert(LV_VEC_CONTROL == LV_VEC_DEV_BASE + LV_BOOTINFO_MAX_DEVICES,
               "the control vector follows the devices'");
_Static_assert(RT_NVEC == 43, "trap_entry.S has stubs 0..42");

/* Exit status of a runtime-detected fatal condition (no CPU vector). */
#define RT_FATAL_STATUS (LV_EXIT_CRASH | 0xffu)

/* The exit host call with a full 64-bit status (crash statuses do not
 * fit lvrt_exit's int). Never returns. */
_Noreturn void rt_exit_status(uint64_t status);

/* Register frame built by trap_entry.S (lowest address first). */
struct rt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* hardware frame (iretq) */
};

/* Boot state, written once by start.c before anything else runs. */
extern const struct lv_bootinfo *rt_bi;
extern uint64_t rt_tsc0; /* TSC at the first instruction */

/* start.c */
void lvrt_start(const struct lv_bootinfo *bi, uint64_t entry_tsc);

/* trap.c / trap_entry.S */
void rt_trap_init(void);
void rt_trap_dispatch(struct rt_frame *f);
extern const uint64_t rt_trap_stubs[RT_NVEC]; /* stub addresses */
/* Run rdmsr(msr) with a #GP guard: return 0 and set (*val), or -1 if
 * the MSR faulted. Needs rt_trap_init first. */
int rt_rdmsr_safe(uint32_t msr, uint64_t *val);
extern volatile int rt_probe_armed, rt_probe_faulted;

/* pvm.c: platform detection and the interrupt-flag/halt interface. */
extern int rt_pvm; /* set once by rt_pvm_init */
void rt_pvm_init(uint32_t bi_flags);
uint64_t rt_fault_cr2(void);
/* Called masked; unmask and wait for an interrupt atomically (an
 * interrupt arriving after the check is never lost); return unmasked. */
void rt_halt_until_interrupt(void);
_Noreturn void rt_halt_forever(void);

/* halt.S: PVM `if_ = 1; if pending ring else HALT`, with a restart
 * window: an interrupt taken at RIP in [begin, end) resumes at end
 * instead, so it cannot slip in between the check and the HALT. */
void rt_pvm_safe_halt(struct lv_vif *vif);
extern const char rt_halt_window_begin[], rt_halt_window_end[];

/* apic.c */
void rt_apic_init(void);     /* idempotent; panics without x2APIC/TSC-deadline */
void rt_apic_eoi(void);
void rt_timer_arm_tsc(uint64_t deadline_tsc);
/* Arm the timer unless it is already armed to fire no later than
 * (deadline_tsc): an early wakeup is harmless, a trap saved is not. */
void rt_timer_arm_by_tsc(uint64_t deadline_tsc);
void rt_timer_irq(void);     /* from the timer vector: count + EOI */
/* Cancels the deadline whatever it was (the clock's base moved: a
 * restore); no-op before the APIC is set up. */
void rt_timer_reset(void);
extern volatile uint64_t rt_timer_count;

/* clock.c: TSC delta -> ns and back, saturating. */
uint64_t rt_ns_to_tsc(uint64_t ns);
/* TSC value at lvrt_now_ns() == (ns), saturating. */
uint64_t rt_ns_to_deadline_tsc(uint64_t ns);

/* trap.c: the host's control interrupt: acknowledges control.request,
 * exits 0 on LV_CTL_SHUTDOWN, notes LV_CTL_RESUMED (rt_resume_irq). */
void rt_control_irq(void);

/* resume.c: LV_CTL_RESUMED arrived (from the interrupt); lvrt_resumed
 * does the rest outside it. */
void rt_resume_irq(void);

/* net.c: the interrupt of device (i) of the boot info table (EOIs it). */
void rt_dev_irq(unsigned i);

/* heap.c */
void rt_heap_init(uintptr_t start, uintptr_t end);

/* console.c: append without flushing on '\n' (printf flushes once per
 * call); crash path: recover the buffer after a fault. */
void rt_console_append(const char *buf, size_t len);
void rt_console_reset(void);

/* printf.c: the formatter behind every printf; (emit) receives chunks. */
typedef void (*rt_emit_fn)(void *ctx, const char *s, size_t n);
int rt_format(rt_emit_fn emit, void *ctx, const char *fmt, va_list ap);

/* ---- CPU helpers ---- */

static inline uint64_t rt_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* rdmsr/wrmsr trap on PVM and are emulated there: ~25-50 us each, so
 * callers keep them off hot paths. */
static inline uint64_t rt_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void rt_wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
}

static inline void rt_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

static inline void rt_outl(uint16_t port, uint32_t v)
{
    /* "memory": the host reads the argument struct during the exit. */
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port) : "memory");
}

#define rt_barrier() __asm__ volatile("" ::: "memory")

#endif /* LVRT_RT_H */
