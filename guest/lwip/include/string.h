/*
 * string.h: the subset lwIP uses, for the freestanding guest. The
 * functions are the runtime's (guest/rt/string.c); the prototypes match
 * lvrt.h exactly.
 */
#ifndef LVLWIP_STRING_H
#define LVLWIP_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

#endif /* LVLWIP_STRING_H */
