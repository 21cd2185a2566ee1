/*
 * port.c: what lwIP (NO_SYS) needs from the platform, on top of the
 * lightvm runtime: the millisecond clock for its timers and the one
 * libc function its core calls that the runtime lacks (atoi). LWIP_RAND
 * is the runtime's lvrt_random (arch/cc.h).
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
