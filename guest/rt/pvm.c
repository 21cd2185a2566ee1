/*
 * pvm.c: which kind of host this is, and the interrupt-flag/halt
 * interface that hides the difference.
 *
 * PVM (see shared PLATFORM.md): the guest runs at hardware CPL3, so
 * cli/sti/hlt would each trap (~40 us); the virtual interrupt flag is a
 * byte in the VIF page, a masked interrupt is held and flagged in
 * VIF.pending, and halting is the `int $0x1b` HALT hypercall.
 * Elsewhere (VMX/SVM): plain ring-0 x86-64, cli/sti/hlt.
 *
 * The software interrupt state is kept in irq_on for both paths: on PVM
 * `pushf` shows IF=1 whatever the virtual flag is.
 */
#include "rt.h"

int rt_pvm;
static struct lv_vif *const vif = (struct lv_vif *)(uintptr_t)LV_GPA_VIF;
static int irq_on; /* entry state: interrupts off */

void rt_pvm_init(uint32_t bi_flags)
{
    uint64_t id;

    if (bi_flags & LV_BI_F_PVM_VIF) {
        /* The VMM registered the VIF before the first instruction: we
         * already run natively, no probe (it would trap) needed. */
        rt_pvm = 1;
    } else if (!(bi_flags & LV_BI_F_NO_PVM) &&
               rt_rdmsr_safe(LV_PVM_MSR_ID, &id) == 0 && id == LV_PVM_ID) {
        /* Not yet native: every instruction is emulated until the VIF is
         * registered; the instruction after this wrmsr runs natively. */
        vif->if_ = 0;
        rt_wrmsr(LV_PVM_MSR_VIF, LV_GPA_VIF);
        rt_pvm = 1;
    }
    if (rt_pvm)
        vif->if_ = 0; /* interrupts stay masked until main */
}

int lvrt_is_pvm(void)
{
    return rt_pvm;
}

int lvrt_is_native(void)
{
    uint16_t cs;

    if (!rt_pvm)
        return 1; /* hardware virtualization always runs natively */
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs == 0x33; /* PVM native mode: the hardware user CS */
}

uint64_t rt_fault_cr2(void)
{
    uint64_t cr2;

    if (rt_pvm)
        return vif->cr2; /* mov %cr2 would trap; PVM stores it here */
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    return cr2;
}

int lvrt_irq_disable(void)
{
    int was = irq_on;

    if (rt_pvm)
        vif->if_ = 0;
    else
        __asm__ volatile("cli" ::: "memory");
    irq_on = 0;
    rt_barrier();
    return was;
}

void lvrt_irq_enable(void)
{
    irq_on = 1;
    rt_barrier();
    if (!rt_pvm) {
        __asm__ volatile("sti" ::: "memory");
        return;
    }
    vif->if_ = 1;
    rt_barrier();
    /* Held while masked: without the doorbell the host delivers it only
     * at its next unrelated exit (8.6 ms measured). */
    if (vif->pending)
        __asm__ volatile("outb %%al, %0" ::"i"(LV_PVM_DOORBELL_PORT) : "rax", "memory");
}

void lvrt_irq_restore(int enabled)
{
    if (enabled)
        lvrt_irq_enable();
    else
        lvrt_irq_disable();
}

void rt_halt_until_interrupt(void)
{
    irq_on = 1;
    rt_barrier();
    if (rt_pvm)
        rt_pvm_safe_halt(vif);
    else /* sti's one-instruction shadow makes the pair atomic */
        __asm__ volatile("sti; hlt" ::: "memory");
}

_Noreturn void rt_halt_forever(void)
{
    lvrt_irq_disable();
    for (;;) {
        uint64_t nr = LV_PVM_HC_HALT; /* result comes back in RAX */
        if (rt_pvm)
            __asm__ volatile("int $0x1b" : "+a"(nr) : : "rbx", "rcx", "rdx", "memory");
        else
            __asm__ volatile("hlt" ::: "memory");
    }
}
