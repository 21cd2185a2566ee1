/*
 * token.h: the shared secret of a live migration (docs/migration.md). Both
 * lightvmd (its --migrate-token-file, the listener's) and `lightvm
 * migrate` (--token-file, what the source presents) read it from a file
 * that only its owner may read, and compare it in constant time.
 */
#ifndef LIGHTVM_TOKEN_H
#define LIGHTVM_TOKEN_H

#include <stddef.h>

#include "lightvm/err.h"

#define LV_TOKEN_MIN 16  /* characters */
#define LV_TOKEN_MAX 256

/* Reads the token in (path) into (out) (room for LV_TOKEN_MAX + 1): a
 * regular file, not readable or writable by group or others, holding
 * LV_TOKEN_MIN..LV_TOKEN_MAX printable ASCII characters (no spaces) and
 * at most one newline at the end. 0 or -errno with err naming the file. */
int lv_token_read(const char *path, char *out, struct lv_err *err);

/* 1 if (a) and (b) (NUL-terminated, at most LV_TOKEN_MAX) are equal, in a
 * time that does not depend on where they differ. */
int lv_token_equal(const char *a, const char *b);

#endif
