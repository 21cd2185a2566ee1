/*
 * escape.h: guest console bytes made safe to show on a terminal.
 *
 * The escaped form keeps valid UTF-8 text, newline and tab as they are
 * and writes every other byte a terminal could act on as `\xNN` (two
 * lowercase hex digits): the C0 controls (ESC, CR, BEL, NUL, ...), DEL,
 * the C1 controls U+0080..U+009F (each of their two bytes), and every
 * byte that is not part of a valid UTF-8 sequence (stray continuation
 * bytes, overlong forms, surrogates, beyond U+10FFFF, a sequence cut
 * short). A backslash becomes `\\`, so the form is unambiguous and
 * lv_unescape() gives the original bytes back.
 *
 * The escaper works on a stream: a UTF-8 sequence split between two
 * calls is held (at most 3 bytes) until the next call or lv_esc_end().
 */
#ifndef LIGHTVM_ESCAPE_H
#define LIGHTVM_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm/err.h"

/* Room lv_esc_feed() may need for (n) input bytes (the bytes held from
 * earlier calls included), and lv_esc_end() at most. */
#define LV_ESC_MAX(n) (4 * ((size_t)(n) + 3))

struct lv_esc {
    uint8_t pend[4]; /* an incomplete UTF-8 sequence from the last call */
    unsigned npend;
};

/* Escapes (n) bytes of (in), continuing the stream (st) (zeroed at its
 * start), into (out) (LV_ESC_MAX(n) bytes, not NUL-terminated). Returns
 * the number of bytes written. */
size_t lv_esc_feed(struct lv_esc *st, const uint8_t *in, size_t n, char *out);

/* Ends the stream: writes the held bytes of an incomplete sequence
 * escaped into (out) (LV_ESC_MAX(0) bytes) and resets (st). Returns the
 * number of bytes written. */
size_t lv_esc_end(struct lv_esc *st, char *out);

/* The whole of (in) escaped into (out) (LV_ESC_MAX(n) + 1 bytes),
 * NUL-terminated. Returns the length without the NUL. */
size_t lv_escape(const uint8_t *in, size_t n, char *out);

/* The reverse: the bytes of the escaped text (in, n) into (out) (at most
 * (n) bytes), their number in (*len). -EINVAL with (err) naming the
 * offset when (in) holds a backslash that starts neither `\\` nor `\xNN`. */
int lv_unescape(const char *in, size_t n, uint8_t *out, size_t *len, struct lv_err *err);

#endif
