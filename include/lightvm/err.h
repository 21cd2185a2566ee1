/*
 * err.h: how the lightvm library reports errors.
 *
 * Every library function that can fail returns 0 (or a non-negative
 * value) on success and a negative errno on failure; it never exits. When
 * the caller passes a struct lv_err, the function that understood the
 * failure writes one line there (no trailing newline) saying what was
 * wrong and naming the bad input. Nothing is printed by the library.
 */
#ifndef LIGHTVM_ERR_H
#define LIGHTVM_ERR_H

#define LV_ERR_MAX 256

struct lv_err {
    char msg[LV_ERR_MAX];
};

/* Writes the message (printf-style) into (err) if it is not NULL and
 * returns -code (code is a positive errno), so callers can write
 * `return lv_err_set(err, EINVAL, "...")`. */
int lv_err_set(struct lv_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
