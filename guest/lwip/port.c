/*
 * port.c: what lwIP (NO_SYS) needs from the platform, on top of the
 * lightvm runtime: the millisecond clock for its timers, LWIP_RAND, and
 * the one libc function its core calls that the runtime lacks (atoi).
 */
#include <stdint.h>
#include <stdlib.h>

#include "lvrt.h"
#include "lwip/sys.h"

/* Milliseconds since the guest's first instruction; wraps after ~49.7
 * days, which lwIP's timer arithmetic expects. */
u32_t sys_now(void)
{
    return (u32_t)(lvrt_now_ns() / 1000000u);
}

/* splitmix64 over a state advanced by the golden-ratio step plus the
 * TSC: distinct, unpredictable-ish values per call (not cryptographic;
 * good enough for local ports and TCP ISNs in a unikernel). */
uint32_t lvlwip_rand(void)
{
    static uint64_t state;
    uint64_t z;

    state += 0x9e3779b97f4a7c15ull + lvrt_tsc();
    z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32);
}

int atoi(const char *s)
{
    unsigned int v = 0;
    int neg = 0;

    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    while (*s >= '0' && *s <= '9')
        v = v * 10u + (unsigned int)(*s++ - '0');
    return (int)(neg ? 0u - v : v);
}
