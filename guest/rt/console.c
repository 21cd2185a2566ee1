/*
 * console.c: the console line buffer and the host calls (console, exit,
 * mark).
 *
 * A host call is `outl` of the argument struct's 32-bit GPA (virtual ==
 * physical here) to its port; each is a VM exit costing ~70 us on PVM,
 * so output is buffered and flushed only on a newline, a full buffer or
 * exit, never per character.
 */
#include "rt.h"

#define CONSOLE_BUF 1024u

static char cbuf[CONSOLE_BUF];
static size_t clen;
static struct lv_hc_console hc_console;
static struct lv_hc_exit hc_exit;
static struct lv_hc_mark hc_mark;

void lvrt_hostcall(uint16_t port, const void *arg)
{
    rt_outl(port, (uint32_t)(uintptr_t)arg);
}

static void console_out(const char *buf, size_t len)
{
    hc_console.buf_gpa = (uintptr_t)buf;
    hc_console.len = len;
    lvrt_hostcall(LV_PORT_CONSOLE, &hc_console);
}

void lvrt_console_flush(void)
{
    if (clen) {
        console_out(cbuf, clen);
        clen = 0;
    }
}

void rt_console_append(const char *buf, size_t len)
{
    while (len) {
        if (clen == 0 && len >= CONSOLE_BUF) {
            /* Large and nothing buffered: write it in place, no copy. */
            size_t n = len < LV_CONSOLE_MAX ? len : LV_CONSOLE_MAX;
            console_out(buf, n);
            buf += n;
            len -= n;
            continue;
        }
        size_t n = CONSOLE_BUF - clen;
        if (n > len)
            n = len;
        memcpy(cbuf + clen, buf, n);
        clen += n;
        buf += n;
        len -= n;
        if (clen == CONSOLE_BUF)
            lvrt_console_flush();
    }
}

void lvrt_console_write(const char *buf, size_t len)
{
    rt_console_append(buf, len);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            lvrt_console_flush();
            break;
        }
    }
}

void lvrt_puts(const char *s)
{
    rt_console_append(s, strlen(s));
    lvrt_console_write("\n", 1);
}

void rt_console_reset(void)
{
    if (clen > CONSOLE_BUF) /* corrupted by the fault: drop it */
        clen = 0;
    lvrt_console_flush();
}

_Noreturn void rt_exit_status(uint64_t status)
{
    lvrt_console_flush();
    hc_exit.status = status;
    lvrt_hostcall(LV_PORT_EXIT, &hc_exit);
    rt_halt_forever(); /* the VMM stops the VM at the exit call */
}

_Noreturn void lvrt_exit(int status)
{
    /* A negative status becomes a huge one, which the VMM rejects. */
    rt_exit_status((uint64_t)(int64_t)status);
}

_Noreturn void lvrt_panic(const char *fmt, ...)
{
    va_list ap;

    lvrt_console_flush();
    lvrt_printf("lightvm: panic: ");
    va_start(ap, fmt);
    lvrt_vprintf(fmt, ap);
    va_end(ap);
    lvrt_console_write("\n", 1);
    rt_exit_status(RT_FATAL_STATUS);
}

void lvrt_mark(uint64_t id)
{
    hc_mark.id = id;
    hc_mark.guest_tsc = rt_rdtsc();
    lvrt_hostcall(LV_PORT_MARK, &hc_mark);
}
