/*
 * clock.c: monotonic time from the TSC.
 *
 * The frequency is found on first use (the PVM MSR and CPUID trap, so a
 * guest that never asks for time never pays for them). Conversions are
 * fixed-point: x * mult >> 32 with a 64x64->128 multiply (one `mul`, no
 * libgcc), mult precomputed once, < 1 ppb rounding error.
 */
#include "rt.h"

static uint64_t tsc_khz;
static uint64_t ns_per_tsc;  /* 2^32 * ns per TSC tick */
static uint64_t tsc_per_ns;  /* 2^32 * TSC ticks per ns */

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

static void clock_init(void)
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

/* x * m >> 32, saturated to 64 bits. */
static uint64_t mul_shift32(uint64_t x, uint64_t m)
{
    unsigned __int128 p = (unsigned __int128)x * m;

    p >>= 32;
    return p >> 64 ? UINT64_MAX : (uint64_t)p;
}

uint64_t lvrt_tsc_khz(void)
{
    if (!tsc_khz)
        clock_init();
    return tsc_khz;
}

uint64_t lvrt_tsc(void)
{
    return rt_rdtsc();
}

uint64_t lvrt_now_ns(void)
{
    if (!tsc_khz)
        clock_init();
    return mul_shift32(rt_rdtsc() - rt_tsc0, ns_per_tsc);
}

uint64_t rt_ns_to_tsc(uint64_t ns)
{
    if (!tsc_khz)
        clock_init();
    return mul_shift32(ns, tsc_per_ns);
}

uint64_t rt_ns_to_deadline_tsc(uint64_t ns)
{
    uint64_t d = rt_tsc0 + rt_ns_to_tsc(ns);

    return d < rt_tsc0 ? UINT64_MAX : d;
}

uint64_t lvrt_wall_ns(void)
{
    const struct lv_bootinfo *bi = rt_bi;
    uint64_t now = rt_rdtsc();

    if (!bi->wall_tsc || !bi->wall_ns)
        return 0;
    if (!tsc_khz)
        clock_init();
    /* The host read wall_tsc before this VM started, so now >= wall_tsc
     * unless the TSC went backwards; then the host's reading stands. */
    return bi->wall_ns + (now > bi->wall_tsc ? mul_shift32(now - bi->wall_tsc, ns_per_tsc) : 0);
}
