/*
 * clock.c: monotonic time from the TSC.
 *
 * The frequency is found on first use (the PVM MSR and CPUID trap, so a
 * guest that never asks for time never pays for them). Conversions are
 * fixed-point: x * mult >> 32 with a 64x64->128 multiply (one `mul`, no
 * libgcc), mult precomputed once, < 1 ppb rounding error.
 *
 * ABI v4: ns = clock_ns + (TSC - clock_tsc) * 1e6 / tsc_khz with the
 * base pair from the boot info (clock_tsc 0: our entry TSC at 0 ns). The
 * base is cached and taken again when the boot info's generation
 * changes (a restore of a snapshot rewrote it, maybe with another
 * tsc_khz: re-read then); the armed timer deadline, a TSC value of the
 * old base, is cancelled at that moment, before anyone arms a new one.
 * The clock never goes back: a reading below the last is the last.
 */
#include "rt.h"

static uint64_t tsc_khz;
static uint64_t ns_per_tsc;  /* 2^32 * ns per TSC tick */
static uint64_t tsc_per_ns;  /* 2^32 * TSC ticks per ns */
static uint64_t base_tsc, base_ns, base_gen; /* valid once tsc_khz is set */
static uint64_t last_ns;     /* the latest lvrt_now_ns() */

static uint64_t cpuid_tsc_khz(void)
{
    uint32_t r[4];

    rt_cpuid(1, 0, r);
    if (r[2] & (1u << 31)) { /* hypervisor present: timing leaf? */
        rt_cpuid(0x40000000, 0, r);
        if (r[0] >= 0x40000010) {
            rt_cpuid(0x40000010, 0, r);
            if (r[0])
                return r[0];
        }
    }
    rt_cpuid(0, 0, r);
    if (r[0] >= 0x15) {
        rt_cpuid(0x15, 0, r); /* TSC = crystal (ecx Hz) * ebx / eax */
        if (r[0] && r[1] && r[2])
            return (uint64_t)r[2] * r[1] / r[0] / 1000;
    }
    return 0;
}

static void clock_freq(void)
{
    uint64_t khz = rt_bi->tsc_khz;

    if (!khz && rt_pvm && rt_rdmsr_safe(LV_PVM_MSR_TSC_KHZ, &khz) != 0)
        khz = 0;
    if (!khz)
        khz = cpuid_tsc_khz();
    if (!khz)
        lvrt_panic("TSC frequency unknown: boot info tsc_khz is 0, no PVM MSR, "
                   "no CPUID 0x40000010 or 0x15; the VMM must pass tsc_khz");
    if (khz < 1000 || khz > 100000000) /* 1 MHz .. 100 GHz */
        lvrt_panic("implausible TSC frequency %lu kHz", khz);
    ns_per_tsc = (1000000ull << 32) / khz;
    tsc_per_ns = (khz << 32) / 1000000;
    tsc_khz = khz;
}

/* The base pair and the generation it belongs to, read between two
 * reads of the generation (the host writes it last; it writes only
 * while the vCPU is held, which may be between any two instructions). */
static void clock_base(void)
{
    const struct lv_bootinfo *bi = rt_bi;
    uint64_t g, t, n;

    for (unsigned tries = 0;; tries++) {
        g = bi->generation;
        rt_barrier();
        t = bi->clock_tsc;
        n = bi->clock_ns;
        rt_barrier();
        if (bi->generation == g || tries >= 8)
            break;
    }
    base_gen = g;
    base_tsc = t ? t : rt_tsc0;
    base_ns = t ? n : 0;
}

/* First use, or a new generation: frequency (again after a restore: the
 * host may have rewritten it), base, and no timer armed on the old base. */
static void clock_sync(void)
{
    int first = !tsc_khz;

    if (first || (rt_bi->tsc_khz && rt_bi->tsc_khz != tsc_khz))
        clock_freq();
    clock_base();
    if (!first)
        rt_timer_reset();
}

static inline void clock_check(void)
{
    if (!tsc_khz || rt_bi->generation != base_gen)
        clock_sync();
}

/* x * m >> 32, saturated to 64 bits. */
static uint64_t mul_shift32(uint64_t x, uint64_t m)
{
    unsigned __int128 p = (unsigned __int128)x * m;

    p >>= 32;
    return p >> 64 ? UINT64_MAX : (uint64_t)p;
}

uint64_t lvrt_tsc_khz(void)
{
    clock_check();
    return tsc_khz;
}

uint64_t lvrt_tsc(void)
{
    return rt_rdtsc();
}

uint64_t lvrt_now_ns(void)
{
    uint64_t tsc, ns;

    clock_check();
    tsc = rt_rdtsc();
    ns = tsc > base_tsc ? mul_shift32(tsc - base_tsc, ns_per_tsc) : 0;
    ns = ns + base_ns < ns ? UINT64_MAX : ns + base_ns;
    if (ns < last_ns)
        ns = last_ns;
    last_ns = ns;
    return ns;
}

uint64_t rt_ns_to_tsc(uint64_t ns)
{
    clock_check();
    return mul_shift32(ns, tsc_per_ns);
}

uint64_t rt_ns_to_deadline_tsc(uint64_t ns)
{
    uint64_t d;

    clock_check();
    if (ns <= base_ns)
        return base_tsc; /* already past */
    d = base_tsc + mul_shift32(ns - base_ns, tsc_per_ns);
    return d < base_tsc ? UINT64_MAX : d;
}

uint64_t lvrt_wall_ns(void)
{
    const struct lv_bootinfo *bi = rt_bi;
    uint64_t now, wns, wtsc, g;

    clock_check();
    for (unsigned tries = 0;; tries++) { /* a pair of one generation (clock_base) */
        g = bi->generation;
        rt_barrier();
        wns = bi->wall_ns;
        wtsc = bi->wall_tsc;
        rt_barrier();
        if (bi->generation == g || tries >= 8)
            break;
    }
    now = rt_rdtsc();
    if (!wtsc || !wns)
        return 0;
    /* The host read wall_tsc before this VM started (or resumed), so now
     * >= wall_tsc unless the TSC went backwards; then its reading stands. */
    return wns + (now > wtsc ? mul_shift32(now - wtsc, ns_per_tsc) : 0);
}
