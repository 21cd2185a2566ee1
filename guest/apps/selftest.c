/*
 * selftest: one runtime or VMM behaviour per invocation, chosen by argv[1]:
 *
 *   exit N       exit with status N (N > 255 tests the VMM's check)
 *   fault null|ud2|div0|gp
 *                take that exception: crash report, LV_EXIT_CRASH|vector
 *   badptr       console host call with buf_gpa beyond RAM: the VMM stops us
 *   badlen       console host call with a valid buf and len 1<<40
 *   triple       empty IDT, then #UD: the CPU triple-faults
 *   spin N       N iterations of a tight loop; prints ns per iteration
 *   heap         allocator stress with content checks
 *   clock        lvrt_now_ns twice around a 10 ms sleep
 *   irq          a timer interrupt raised while masked is delivered on unmask
 *   flood [N]    a hostile console: writes lines as fast as it can (64 KiB per host
 *                call), forever or N bytes; then "flood: done N" and idles (running).
 *                Each 64-byte line: "flood NNNNNNNNNN " ESC[1m "!" ESC[0m CR, dots, LF
 *   ctlchars [idle]  one line of control characters, invalid UTF-8 and valid UTF-8
 *                (CTL_LINE below), then exits 0 (or idles, running, with "idle")
 *   deaf         masks interrupts and spins forever: ignores the host's
 *                shutdown request (the VMM has to destroy it)
 *
 * On success it prints only the lines documented per mode; failures print
 * a diagnostic and exit 1; usage errors exit 2.
 */
#include "lvrt.h"

const char *const lvrt_app_name = "selftest";

static int usage(void)
{
    lvrt_printf("usage: selftest exit N | fault null|ud2|div0|gp | badptr | badlen |"
                " triple | spin N | heap | clock | irq | flood [N] | ctlchars [idle] | deaf\n");
    return 2;
}

static int arg_u64(int argc, char **argv, uint64_t *v)
{
    return argc > 2 && lvrt_parse_u64(argv[2], v) == 0 ? 0 : -1;
}

static int do_fault(const char *kind)
{
    if (!strcmp(kind, "null")) /* asm: gcc may turn a C NULL read into ud2 */
        __asm__ volatile("movq 0, %%rax" ::: "rax", "memory");
    else if (!strcmp(kind, "ud2"))
        __asm__ volatile("ud2");
    else if (!strcmp(kind, "div0"))
        __asm__ volatile("xor %%ecx, %%ecx; div %%ecx" ::: "rax", "rcx", "rdx");
    else if (!strcmp(kind, "gp")) /* non-canonical address: #GP, not #PF */
        __asm__ volatile("movabs $0x8000000000000000, %%rax; movq $1, (%%rax)"
                         ::: "rax", "memory");
    else
        return usage();
    lvrt_printf("fault %s: no exception\n", kind);
    return 1;
}

static int do_badcall(uint64_t gpa, uint64_t len)
{
    static char buf[16] = "badcall buffer\n";
    static struct lv_hc_console hc;

    hc.buf_gpa = gpa ? gpa : (uintptr_t)buf;
    hc.len = len;
    lvrt_hostcall(LV_PORT_CONSOLE, &hc);
    lvrt_printf("bad console call (buf_gpa=0x%lx len=0x%lx) was accepted\n",
                hc.buf_gpa, hc.len);
    return 1;
}

static int do_triple(void)
{
    static const struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty = {0, 0};

    lvrt_irq_disable();
    __asm__ volatile("lidt %0; ud2" ::"m"(empty));
    lvrt_printf("triple: still running\n");
    return 1;
}

static int do_spin(uint64_t n)
{
    volatile uint64_t counter = 0;
    uint64_t t0 = lvrt_now_ns(), c0 = lvrt_tsc();

    for (uint64_t i = 0; i < n; i++)
        counter++;
    uint64_t c1 = lvrt_tsc(), t1 = lvrt_now_ns();
    uint64_t ns = t1 - t0, milli = n ? ns * 1000 / n : 0; /* ns * 1000 per iter */
    if (n && ns > UINT64_MAX / 1000)
        milli = ns / n * 1000;
    lvrt_printf("spin %lu iterations ns_per_iter=%lu.%03lu cycles=%lu\n", n,
                milli / 1000, milli % 1000, c1 - c0);
    return 0;
}

static int do_heap(void)
{
    enum { N = 300 };
    static unsigned char *blk[N];
    static size_t len[N];
    uint32_t seed = 12345;
    uintptr_t lo = UINTPTR_MAX, hi = 0;

    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + (seed >> 8) % (i % 7 == 0 ? 20000 : 300);
            unsigned char *p = blk[i];
            if (p && (seed & 0x10000)) { /* grow or shrink in place of a free */
                p = lvrt_realloc(p, want);
                for (size_t k = 0; p && k < (len[i] < want ? len[i] : want); k++)
                    if (p[k] != (unsigned char)(i + k)) {
                        lvrt_printf("heap: realloc lost data block %d\n", i);
                        return 1;
                    }
            } else {
                lvrt_free(p);
                p = (seed & 0x20000) ? lvrt_calloc(1, want) : lvrt_malloc(want);
                for (size_t k = 0; p && (seed & 0x20000) && k < want; k++)
                    if (p[k]) {
                        lvrt_printf("heap: calloc memory not zero block %d\n", i);
                        return 1;
                    }
            }
            if (!p || ((uintptr_t)p & 15)) {
                lvrt_printf("heap: allocation of %zu bytes failed or misaligned: %p\n",
                            want, (void *)p);
                return 1;
            }
            for (size_t k = 0; k < want; k++)
                p[k] = (unsigned char)(i + k);
            blk[i] = p;
            len[i] = want;
            if ((uintptr_t)p < lo)
                lo = (uintptr_t)p;
            if ((uintptr_t)p + want > hi)
                hi = (uintptr_t)p + want;
        }
        for (int i = 0; i < N; i++)
            for (size_t k = 0; k < len[i]; k++)
                if (blk[i][k] != (unsigned char)(i + k)) {
                    lvrt_printf("heap: block %d corrupted at %zu\n", i, k);
                    return 1;
                }
        for (int i = round & 1; i < N; i += 2) { /* free half: make holes */
            lvrt_free(blk[i]);
            blk[i] = NULL;
            len[i] = 0;
        }
    }
    for (int i = 0; i < N; i++)
        lvrt_free(blk[i]);
    /* Everything coalesced back: first fit must place a block spanning
     * all that was ever used at the lowest address again. */
    void *big = lvrt_malloc(hi - lo);
    if ((uintptr_t)big != lo) {
        lvrt_printf("heap: no coalescing: %zu bytes at %p, expected 0x%lx\n",
                    (size_t)(hi - lo), big, (unsigned long)lo);
        return 1;
    }
    lvrt_free(big);
    lvrt_printf("heap ok\n");
    return 0;
}

static int do_clock(void)
{
    uint64_t a = lvrt_now_ns();
    lvrt_sleep_ns(10 * 1000 * 1000);
    uint64_t b = lvrt_now_ns();

    lvrt_printf("now_ns=%lu\nnow_ns=%lu\n", a, b);
    if (b - a < 10 * 1000 * 1000 || b < a) {
        lvrt_printf("clock: %lu ns passed in a 10 ms sleep\n", b - a);
        return 1;
    }
    return 0;
}

static int do_irq(void)
{
    lvrt_irq_disable();
    uint64_t n0 = lvrt_timer_irqs(), t = lvrt_now_ns();
    lvrt_timer_arm_at(t + 1000 * 1000);
    while (lvrt_now_ns() < t + 5 * 1000 * 1000)
        ;
    if (lvrt_timer_irqs() != n0) {
        lvrt_printf("irq delivered while masked\n");
        return 1;
    }
    lvrt_irq_enable(); /* PVM: VIF.pending is set, this rings the doorbell */
    t = lvrt_now_ns();
    while (lvrt_timer_irqs() == n0 && lvrt_now_ns() - t < 100 * 1000 * 1000)
        ;
    if (lvrt_timer_irqs() == n0) {
        lvrt_printf("irq lost\n");
        return 1;
    }
    lvrt_printf("irq delivered\n");
    return 0;
}

/* Halts until the VMM stops the VM or asks for a shutdown. */
static _Noreturn void idle_forever(void)
{
    for (;;)
        lvrt_sleep_ns(1000ull * 1000 * 1000);
}

#define FLOOD_LINE 64u

static char flood_buf[LV_CONSOLE_MAX];

static int do_flood(int argc, char **argv)
{
    uint64_t limit = 0, sent = 0, line = 0;

    if (argc > 2 && lvrt_parse_u64(argv[2], &limit))
        return usage();
    lvrt_printf("flood: %s\n", limit ? "writing" : "writing forever");
    while (!limit || sent < limit) {
        for (size_t off = 0; off < sizeof(flood_buf); off += FLOOD_LINE) {
            char *l = flood_buf + off;
            int n = lvrt_snprintf(l, FLOOD_LINE, "flood %010lu \x1b[1m!\x1b[0m\r", line++);
            memset(l + n, '.', FLOOD_LINE - 1 - (size_t)n);
            l[FLOOD_LINE - 1] = '\n';
        }
        size_t n = !limit || limit - sent >= sizeof(flood_buf) ? sizeof(flood_buf)
                                                               : (size_t)(limit - sent);
        lvrt_console_write(flood_buf, n); /* one host call, written in place */
        sent += n;
    }
    lvrt_console_flush();
    lvrt_printf("flood: done %lu\n", sent);
    idle_forever();
}

/* Bytes a terminal would act on, and some it must show as they are. */
static const char CTL_LINE[] = "ctl: esc=\x1b[31mred\x1b[0m cr=\r bel=\a del=\x7f nul=\0 bs=\b "
                               "c1=\xc2\x9b bad=\xff\xfe\xc3( utf8=\xc3\xa9\xe2\x82\xac "
                               "tab=\t backslash=\\ end\n";

static int do_ctlchars(int argc, char **argv)
{
    lvrt_console_write(CTL_LINE, sizeof(CTL_LINE) - 1);
    if (argc > 2 && !strcmp(argv[2], "idle"))
        idle_forever();
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n;

    if (argc < 2)
        return usage();
    const char *mode = argv[1];
    if (!strcmp(mode, "exit"))
        return arg_u64(argc, argv, &n) ? usage() : (int)n;
    if (!strcmp(mode, "fault"))
        return argc > 2 ? do_fault(argv[2]) : usage();
    if (!strcmp(mode, "badptr"))
        return do_badcall(0xfffff000u, 16);
    if (!strcmp(mode, "badlen"))
        return do_badcall(0, 1ull << 40);
    if (!strcmp(mode, "triple"))
        return do_triple();
    if (!strcmp(mode, "spin"))
        return arg_u64(argc, argv, &n) ? usage() : do_spin(n);
    if (!strcmp(mode, "heap"))
        return do_heap();
    if (!strcmp(mode, "clock"))
        return do_clock();
    if (!strcmp(mode, "irq"))
        return do_irq();
    if (!strcmp(mode, "flood"))
        return do_flood(argc, argv);
    if (!strcmp(mode, "ctlchars"))
        return do_ctlchars(argc, argv);
    if (!strcmp(mode, "deaf")) {
        lvrt_irq_disable();
        lvrt_printf("deaf: interrupts masked\n");
        for (;;)
            __asm__ volatile("pause");
    }
    return usage();
}
