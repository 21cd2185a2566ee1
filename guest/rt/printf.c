/*
 * printf.c: a small printf formatter and its two sinks (string buffer,
 * console).
 *
 * Supported: %d %i %u %x %X %p %s %c %%, length l ll z (h/hh accepted and
 * ignored: the argument is promoted to int anyway), flags '-' and '0',
 * width as digits or '*'. Unknown conversions are printed verbatim.
 */
#include <stdbool.h>

#include "rt.h"

static void emit_pad(rt_emit_fn emit, void *ctx, char c, int n)
{
    static const char spaces[] = "                ";
    static const char zeros[] = "0000000000000000";
    const char *s = c == '0' ? zeros : spaces;

    while (n > 0) {
        int k = n < 16 ? n : 16;
        emit(ctx, s, (size_t)k);
        n -= k;
    }
}

/* Digits of (v) in base 10 or 16 at the end of tmp[24]; return start. */
static char *utoa(char *end, uint64_t v, unsigned base, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    do {
        *--end = digits[v % base];
        v /= base;
    } while (v);
    return end;
}

int rt_format(rt_emit_fn emit, void *ctx, const char *fmt, va_list ap)
{
    int total = 0;

    while (*fmt) {
        const char *lit = fmt;
        while (*fmt && *fmt != '%')
            fmt++;
        if (fmt != lit) {
            emit(ctx, lit, (size_t)(fmt - lit));
            total += (int)(fmt - lit);
        }
        if (!*fmt)
            break;

        const char *spec = fmt++; /* at '%' */
        bool left = false, zero = false;
        int width = 0, len = 0; /* len: 0 int, 1 long, 2 long long, 3 size_t */
        for (;; fmt++) {
            if (*fmt == '-')
                left = true;
            else if (*fmt == '0')
                zero = true;
            else
                break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = true;
                width = -width;
            }
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'h')
            fmt++;
        if (*fmt == 'l')
            len = *++fmt == 'l' ? (fmt++, 2) : 1;
        else if (*fmt == 'z')
            len = 3, fmt++;

        char tmp[24];
        char *end = tmp + sizeof(tmp);
        const char *body, *prefix = "";
        size_t n;
        uint64_t u;

        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t s = len == 0 ? va_arg(ap, int)
                      : len == 3 ? (int64_t)va_arg(ap, size_t)
                      : len == 1 ? va_arg(ap, long) : va_arg(ap, long long);
            /* negate in unsigned arithmetic: INT64_MIN has no positive */
            u = s < 0 ? -(uint64_t)s : (uint64_t)s;
            prefix = s < 0 ? "-" : "";
            body = utoa(end, u, 10, false);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
            u = len == 0 ? va_arg(ap, unsigned)
              : len == 3 ? va_arg(ap, size_t)
              : len == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned long long);
            body = utoa(end, u, *fmt == 'u' ? 10 : 16, *fmt == 'X');
            break;
        case 'p':
            u = (uintptr_t)va_arg(ap, void *);
            prefix = "0x";
            body = utoa(end, u, 16, false);
            break;
        case 's':
            body = va_arg(ap, const char *);
            if (!body)
                body = "(null)";
            end = (char *)body + strlen(body);
            zero = false;
            break;
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            body = tmp;
            end = tmp + 1;
            zero = false;
            break;
        case '%':
            body = "%";
            end = (char *)body + 1;
            width = 0;
            break;
        default: /* unknown or truncated spec: print it as written */
            if (*fmt)
                fmt++;
            emit(ctx, spec, (size_t)(fmt - spec));
            total += (int)(fmt - spec);
            continue;
        }
        fmt++;

        n = (size_t)(end - body);
        size_t plen = strlen(prefix);
        int pad = width - (int)(n + plen);
        if (pad > 0 && !left && !zero)
            emit_pad(emit, ctx, ' ', pad);
        if (plen)
            emit(ctx, prefix, plen);
        if (pad > 0 && !left && zero)
            emit_pad(emit, ctx, '0', pad);
        emit(ctx, body, n);
        if (pad > 0 && left)
            emit_pad(emit, ctx, ' ', pad);
        total += (int)(n + plen) + (pad > 0 ? pad : 0);
    }
    return total;
}

/* ---- string sink ---- */

struct strbuf {
    char *buf;
    size_t size, pos;
};

static void strbuf_emit(void *ctx, const char *s, size_t n)
{
    struct strbuf *sb = ctx;

    for (size_t i = 0; i < n; i++, sb->pos++)
        if (sb->pos + 1 < sb->size)
            sb->buf[sb->pos] = s[i];
}

int lvrt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct strbuf sb = {buf, size, 0};
    int n = rt_format(strbuf_emit, &sb, fmt, ap);

    if (size)
        buf[sb.pos < size ? sb.pos : size - 1] = '\0';
    return n;
}

int lvrt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = lvrt_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- console sink: one flush per call, if the output ended a line ---- */

static void console_emit(void *ctx, const char *s, size_t n)
{
    bool *newline = ctx;

    rt_console_append(s, n);
    for (size_t i = 0; i < n && !*newline; i++)
        *newline = s[i] == '\n';
}

int lvrt_vprintf(const char *fmt, va_list ap)
{
    bool newline = false;
    int n = rt_format(console_emit, &newline, fmt, ap);

    if (newline)
        lvrt_console_flush();
    return n;
}

int lvrt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = lvrt_vprintf(fmt, ap);
    va_end(ap);
    return n;
}
