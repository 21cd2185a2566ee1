/* escape.c: console bytes made safe for a terminal, and back (escape.h). */
#include <errno.h>

#include "lightvm/escape.h"

static const char hexdig[] = "0123456789abcdef";

static size_t put_hex(char *out, uint8_t b)
{
    out[0] = '\\';
    out[1] = 'x';
    out[2] = hexdig[b >> 4];
    out[3] = hexdig[b & 15];
    return 4;
}

static size_t put_ascii(char *out, uint8_t b)
{
    if (b == '\\') {
        out[0] = out[1] = '\\';
        return 2;
    }
    if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f)
        return put_hex(out, b);
    out[0] = (char)b;
    return 1;
}

/* Continuation bytes a UTF-8 lead byte (b) announces; 0 for a byte that
 * cannot start a multi-byte sequence (ASCII, continuation, C0, C1, F5..). */
static unsigned need_of(uint8_t b)
{
    return b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
}

/* (b) may follow the (pos - 1) bytes of a sequence led by (lead): the
 * second byte's range excludes overlong forms, surrogates and code
 * points beyond U+10FFFF. */
static int cont_ok(uint8_t lead, unsigned pos, uint8_t b)
{
    if ((b & 0xc0) != 0x80)
        return 0;
    if (pos != 1)
        return 1;
    switch (lead) {
    case 0xe0: return b >= 0xa0;
    case 0xed: return b <= 0x9f;
    case 0xf0: return b >= 0x90;
    case 0xf4: return b <= 0x8f;
    default: return 1;
    }
}

/* The held bytes, each escaped (the sequence was not valid). */
static size_t put_pending(struct lv_esc *st, char *out)
{
    size_t o = 0;

    for (unsigned i = 0; i < st->npend; i++)
        o += put_hex(out + o, st->pend[i]);
    st->npend = 0;
    return o;
}

/* A complete, valid sequence: as is, unless it is a C1 control. */
static size_t put_sequence(struct lv_esc *st, char *out)
{
    size_t o = 0;

    if (st->pend[0] == 0xc2 && st->pend[1] <= 0x9f)
        return put_pending(st, out);
    for (unsigned i = 0; i < st->npend; i++)
        out[o++] = (char)st->pend[i];
    st->npend = 0;
    return o;
}

size_t lv_esc_feed(struct lv_esc *st, const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;

    if (st->npend >= sizeof(st->pend)) /* not a state this code makes */
        st->npend = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        if (st->npend) {
            if (cont_ok(st->pend[0], st->npend, b)) {
                st->pend[st->npend++] = b;
                if (st->npend == 1 + need_of(st->pend[0]))
                    o += put_sequence(st, out + o);
                continue;
            }
            o += put_pending(st, out + o); /* cut short: b starts afresh */
        }
        if (b < 0x80) {
            o += put_ascii(out + o, b);
        } else if (need_of(b)) {
            st->pend[0] = b;
            st->npend = 1;
        } else {
            o += put_hex(out + o, b);
        }
    }
    return o;
}

size_t lv_esc_end(struct lv_esc *st, char *out)
{
    if (st->npend >= sizeof(st->pend))
        st->npend = 0;
    return put_pending(st, out);
}

size_t lv_escape(const uint8_t *in, size_t n, char *out)
{
    struct lv_esc st = {{0}, 0};
    size_t o = lv_esc_feed(&st, in, n, out);

    o += lv_esc_end(&st, out + o);
    out[o] = '\0';
    return o;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int lv_unescape(const char *in, size_t n, uint8_t *out, size_t *len, struct lv_err *err)
{
    size_t o = 0;

    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != '\\') {
            out[o++] = (uint8_t)in[i];
            continue;
        }
        if (i + 1 < n && in[i + 1] == '\\') {
            out[o++] = '\\';
            i++;
            continue;
        }
        int hi = i + 3 < n && in[i + 1] == 'x' ? hexval(in[i + 2]) : -1;
        int lo = hi >= 0 ? hexval(in[i + 3]) : -1;
        if (lo < 0)
            return lv_err_set(err, EINVAL, "escaped text: a backslash at offset %zu starts "
                              "neither \\\\ nor \\xNN", i);
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 3;
    }
    *len = o;
    return 0;
}
