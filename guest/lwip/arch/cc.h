/*
 * arch/cc.h: lwIP's compiler/platform port for the lightvm guest runtime
 * (included by lwip/arch.h before anything else).
 *
 * The guest is freestanding (-nostdinc): only gcc's stdint.h, stddef.h,
 * stdbool.h and stdarg.h are usable, plus the two shims in
 * guest/lwip/include (string.h, stdlib.h). lwIP's printf formatters and
 * ctype helpers are therefore defined here rather than taken from
 * inttypes.h/ctype.h.
 */
#ifndef LVLWIP_ARCH_CC_H
#define LVLWIP_ARCH_CC_H

#include <stdint.h>

#include "lvrt.h"

/* Types: lwip/arch.h typedefs u8_t..s64_t and mem_ptr_t from stdint.h. */
#define LWIP_NO_STDDEF_H 0
#define LWIP_NO_STDINT_H 0
/* gcc's limits.h is not usable under -nostdinc (it #include_next's
 * the libc one); INT_MAX is the only limit lwIP's core uses. Without
 * SSIZE_MAX, lwip/arch.h typedefs ssize_t as int. */
#define LWIP_NO_LIMITS_H 1
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#endif
#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1 /* lwIP's own lwip_isdigit() etc. */
#define LWIP_NO_UNISTD_H 1

/* Formatters for lvrt_printf (no 'h' modifier there; u16_t/s16_t are
 * promoted to int anyway). */
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

/* x86-64: little endian; bswap instead of def.c's shift-and-or. */
#define BYTE_ORDER LITTLE_ENDIAN
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* Diagnostics: (x) is a parenthesised printf argument list. Output goes
 * to the console line buffer; assertion failures stop the VM through
 * lvrt_panic (exit status LV_EXIT_CRASH | 0xff). */
#define LWIP_PLATFORM_DIAG(x) \
    do { \
        lvrt_printf x; \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) lvrt_panic("lwip: %s at %s:%d", (x), __FILE__, __LINE__)

/* Random numbers for LWIP_RAND (initial local ports, IP4 fragment ids,
 * TCP initial sequence numbers through LWIP_HOOK_TCP_ISN): the runtime's
 * lvrt_random, seeded from the boot info and reseeded at each restore of
 * a snapshot, so clones differ. Not cryptographic. */
#define LWIP_RAND() ((u32_t)lvrt_random())

#endif /* LVLWIP_ARCH_CC_H */
