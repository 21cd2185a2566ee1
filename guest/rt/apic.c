/*
 * apic.c: the local APIC in x2APIC mode as a one-shot TSC-deadline timer,
 * and sleeping on it.
 *
 * Tickless: the timer is armed only while someone waits for it, so an
 * idle guest never wakes. The APIC is set up on first use (four MSR
 * writes, each a trap on PVM), not at boot. All accesses are rdmsr/wrmsr:
 * they work on every host (emulated on PVM), unlike xAPIC MMIO.
 */
#include "rt.h"

#define MSR_APIC_BASE 0x1bu
#define APIC_BASE_EXTD (1u << 10) /* x2APIC mode */
#define APIC_BASE_EN (1u << 11)
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define MSR_X2APIC_LVT_TIMER 0x832u
#define MSR_TSC_DEADLINE 0x6e0u
#define LVT_TSC_DEADLINE (2u << 17)

volatile uint64_t rt_timer_count;
static int apic_ready;
static volatile uint64_t armed_deadline; /* TSC, 0 when not armed (the IRQ clears it) */

void rt_apic_init(void)
{
    uint32_t r[4];

    if (apic_ready)
        return;
    rt_cpuid(1, 0, r);
    if (!(r[2] & (1u << 21)))
        lvrt_panic("no x2APIC (CPUID.1:ECX[21]); the VMM must expose it");
    if (!(r[2] & (1u << 24)))
        lvrt_panic("no TSC-deadline timer (CPUID.1:ECX[24]); the VMM must expose it");

    uint64_t base = rt_rdmsr(MSR_APIC_BASE);
    if ((base & (APIC_BASE_EN | APIC_BASE_EXTD)) != (APIC_BASE_EN | APIC_BASE_EXTD)) {
        /* disabled -> x2APIC directly is an invalid transition: via xAPIC */
        if (!(base & APIC_BASE_EN))
            rt_wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN);
        rt_wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
    }
    rt_wrmsr(MSR_X2APIC_SVR, 0x100u | RT_VEC_SPURIOUS); /* software enable */
    rt_wrmsr(MSR_X2APIC_LVT_TIMER, RT_VEC_TIMER | LVT_TSC_DEADLINE);
    apic_ready = 1;
}

void rt_apic_eoi(void)
{
    rt_wrmsr(MSR_X2APIC_EOI, 0);
}

void rt_timer_arm_tsc(uint64_t deadline_tsc)
{
    rt_apic_init();
    if (!deadline_tsc)
        deadline_tsc = 1; /* 0 would disarm; 1 is long past */
    armed_deadline = deadline_tsc;
    rt_wrmsr(MSR_TSC_DEADLINE, deadline_tsc);
}

void rt_timer_arm_by_tsc(uint64_t deadline_tsc)
{
    if (!deadline_tsc)
        deadline_tsc = 1;
    if (!armed_deadline || armed_deadline > deadline_tsc)
        rt_timer_arm_tsc(deadline_tsc);
}

void lvrt_timer_arm_at(uint64_t deadline_ns)
{
    rt_timer_arm_tsc(rt_ns_to_deadline_tsc(deadline_ns));
}

void lvrt_timer_disarm(void)
{
    if (armed_deadline) { /* skip the trap when nothing is armed */
        armed_deadline = 0;
        rt_wrmsr(MSR_TSC_DEADLINE, 0);
    }
}

void rt_timer_reset(void)
{
    if (apic_ready) { /* whatever the MSR holds: it may be a restored value */
        armed_deadline = 0;
        rt_wrmsr(MSR_TSC_DEADLINE, 0);
    }
}

uint64_t lvrt_timer_irqs(void)
{
    return rt_timer_count;
}

void rt_timer_irq(void)
{
    rt_timer_count++;
    armed_deadline = 0; /* one-shot: the deadline MSR is now 0 */
    rt_apic_eoi();
}

void lvrt_sleep_ns(uint64_t ns)
{
    uint64_t now = lvrt_now_ns();
    uint64_t end = now + ns < now ? UINT64_MAX : now + ns;
    int was = lvrt_irq_disable();

    for (;;) { /* masked here */
        if (lvrt_now_ns() >= end)
            break;
        /* In TSC terms each time: a restore (a new boot info generation)
         * moves the clock's base. Re-arm only if the timer is not armed
         * for this deadline: it fired early (hosts may fire a little
         * ahead), was replaced, or the restore cancelled it. */
        uint64_t deadline = rt_ns_to_deadline_tsc(end);
        if (armed_deadline != deadline)
            rt_timer_arm_tsc(deadline);
        rt_halt_until_interrupt(); /* unmasks atomically, wakes unmasked */
        lvrt_irq_disable();
    }
    lvrt_timer_disarm();
    lvrt_irq_restore(was);
}
