/*
 * stdlib.h: the subset lwIP uses, for the freestanding guest. atoi is
 * implemented in guest/lwip/port.c (netif_find parses "en0" with it).
 */
#ifndef LVLWIP_STDLIB_H
#define LVLWIP_STDLIB_H

#include <stddef.h>

/* Standard semantics for a valid number: optional spaces and sign, then
 * decimal digits. Overflow wraps instead of being undefined. */
int atoi(const char *s);

#endif /* LVLWIP_STDLIB_H */
