/*
 * resume.c: LV_CTL_RESUMED, the host's word that this VM runs on from a
 * snapshot (ABI v4). The control interrupt only notes it (and wakes a
 * halted vCPU); lvrt_resumed, called from an app's main loop, reports
 * each new boot info generation once, after the runtime has taken its
 * share: the clock's new base and frequency (which also cancels the
 * timer armed on the old base) and a new random seed. The generation is
 * what counts, so a request whose interrupt never came (an APIC not yet
 * enabled) is still seen at the next call.
 */
#include "rt.h"

static volatile int pending; /* written by the interrupt */
static uint64_t gen_seen;    /* 0: a boot */

void rt_resume_irq(void)
{
    pending = 1;
}

int lvrt_resumed(void)
{
    uint64_t g = rt_bi->generation;

    pending = 0;
    if (g == gen_seen)
        return 0;
    gen_seen = g;
    (void)lvrt_now_ns();  /* clock: base, tsc_khz, timer */
    (void)lvrt_random64(); /* reseeded from the new seed */
    return 1;
}
