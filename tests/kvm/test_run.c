/* test_run.c: `lightvm run` with the guest runtime on real KVM: hello,
 * the plain x86-64 path, exit statuses, sleep without CPU, faults, bad
 * pointers, triple fault, signals, --trace.
 * usage: test_run LIGHTVM GUEST_DIR */
#include <stdlib.h>
#include <string.h>

#include "lvtest.h"

static const char *lightvm, *gdir;

static void run_vm(struct lvt_proc *p, int timeout_s, const char *app, const char *opt,
                   const char *cmdline)
{
    char image[4096];
    const char *argv[10];
    int n = 0;

    snprintf(image, sizeof(image), "%s/%s.elf", gdir, app);
    argv[n++] = lightvm;
    argv[n++] = "run";
    argv[n++] = image;
    if (opt)
        argv[n++] = opt;
    if (cmdline) {
        argv[n++] = "--cmdline";
        argv[n++] = cmdline;
    }
    argv[n] = NULL;
    if (lvt_run(p, timeout_s, argv) < 0) {
        fprintf(stderr, "FAIL: cannot run %s\n", lightvm);
        exit(1);
    }
}

static struct lvt_proc p; /* large buffers: not on the stack */

static void test_hello(void)
{
    const char *pvm;

    run_vm(&p, 60, "hello", NULL, NULL);
    CHECK(p.status == 0, "hello status %d: %s", p.status, p.err);
    CHECK(strstr(p.out, "Hello from lightvm") != NULL, "hello output: %s", p.out);
    pvm = strstr(p.out, "pvm=");
    CHECK(pvm != NULL, "no pvm= line: %s", p.out);
    if (pvm && pvm[4] == '1') {
        /* On a PVM host the image must run natively (not emulated, ~0.7 us
         * an instruction): the runtime reads CS 0x33 only in native mode. */
        CHECK(strstr(p.out, "native=1") != NULL, "PVM host but not native: %s", p.out);
        run_vm(&p, 60, "selftest", NULL, "spin 10000000");
        CHECK(p.status == 0 && strstr(p.out, "ns_per_iter="), "spin: %s %s", p.out, p.err);
        if (strstr(p.out, "ns_per_iter=")) {
            double ns = atof(strstr(p.out, "ns_per_iter=") + 12);
            /* emulated is ~2000 ns a loop iteration; native a few ns */
            CHECK(ns < 100.0, "spin loop %.1f ns per iteration: emulated, not native", ns);
        }
    }

    run_vm(&p, 300, "hello", "--no-pvm", NULL);
    CHECK(p.status == 0, "hello --no-pvm status %d: %s", p.status, p.err);
    CHECK(strstr(p.out, "Hello from lightvm") && strstr(p.out, "pvm=0"), "no-pvm: %s", p.out);

    run_vm(&p, 60, "hello", "--trace", NULL);
    CHECK(p.status == 0, "hello --trace status %d", p.status);
    CHECK(strstr(p.err, "trace phase=create_vm ") && strstr(p.err, "trace phase=total ") &&
              strstr(p.err, "trace exits total=") && strstr(p.err, "trace exits reason=io"),
          "trace lines missing: %s", p.err);
}

static void test_exit_status(void)
{
    static const struct {
        const char *cmd;
        int status;
        const char *err;
    } cases[] = {
        {"exit 0", 0, NULL},
        {"exit 7", 7, NULL},
        {"exit 255", 255, NULL},
        {"exit 300", 125, "out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_vm(&p, 60, "selftest", NULL, cases[i].cmd);
        CHECK(p.status == cases[i].status, "%s: status %d: %s", cases[i].cmd, p.status, p.err);
        if (cases[i].err)
            CHECK(strstr(p.err, cases[i].err) != NULL, "%s: stderr %s", cases[i].cmd, p.err);
    }
}

static void test_sleep(void)
{
    double base_cpu;
    const char *s;

    run_vm(&p, 60, "sleep", NULL, "1");
    CHECK(p.status == 0, "sleep 1: status %d: %s", p.status, p.err);
    base_cpu = p.cpu_ms; /* start-up and teardown: not the sleep */

    run_vm(&p, 60, "sleep", NULL, "1500");
    CHECK(p.status == 0, "sleep status %d: %s", p.status, p.err);
    s = strstr(p.out, "slept ");
    CHECK(s != NULL, "sleep output: %s", p.out);
    if (s) {
        double us = atof(s + 6);
        CHECK(us >= 1500000 && us < 3000000, "guest slept %.0f us for 1500 ms", us);
    }
    CHECK(p.wall_ms >= 1500, "sleep returned after %.0f ms", p.wall_ms);
    /* Tickless: asleep, the guest must not burn host CPU. A guest that
     * polled or took periodic ticks would add ~1500 ms here. */
    CHECK(p.cpu_ms - base_cpu < 0.25 * 1500, "sleeping 1500 ms used %.0f ms more CPU than "
          "sleeping 1 ms (%.0f vs %.0f)", p.cpu_ms - base_cpu, p.cpu_ms, base_cpu);
}

static void test_faults(void)
{
    static const struct {
        const char *cmd;
        const char *err;
    } cases[] = {
        {"fault null", "unhandled exception 14"},
        {"fault ud2", "unhandled exception 6"},
        {"fault div0", "unhandled exception 0"},
        {"fault gp", "unhandled exception 13"},
        {"badptr", "bad pointer"},
        {"badlen", "bad console write"},
        {"triple", "triple-faulted"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_vm(&p, 60, "selftest", NULL, cases[i].cmd);
        CHECK(p.status == 125, "%s: status %d", cases[i].cmd, p.status);
        CHECK(strstr(p.err, cases[i].err) != NULL, "%s: stderr '%s'", cases[i].cmd, p.err);
        if (!strncmp(cases[i].cmd, "fault", 5))
            CHECK(strstr(p.out, "RIP") || strstr(p.out, "rip"), "%s: no crash report: %s",
                  cases[i].cmd, p.out);
    }
}

static void test_runtime(void)
{
    run_vm(&p, 60, "selftest", NULL, "heap");
    CHECK(p.status == 0 && strstr(p.out, "heap ok"), "heap: %d %s %s", p.status, p.out, p.err);
    run_vm(&p, 60, "selftest", NULL, "irq");
    CHECK(p.status == 0 && strstr(p.out, "irq delivered"), "irq: %d %s", p.status, p.out);
    run_vm(&p, 60, "selftest", NULL, "clock");
    CHECK(p.status == 0, "clock: %d %s", p.status, p.err);
}

/* lwIP (from Debian's source package) inside the unikernel: a dummy
 * netif records the frames the stack sends (ARP, UDP, TCP SYN/RST). */
static void test_lwip(void)
{
    run_vm(&p, 120, "lwip_smoke", NULL, NULL);
    CHECK(p.status == 0 && strstr(p.out, "lwip ok frames=6 AUAUTT"), "lwip_smoke: %d %s %s",
          p.status, p.out, p.err);
}

static void test_signal(void)
{
    char image[4096];
    const char *argv[] = {"/usr/bin/timeout", "--preserve-status", "-s", "TERM", "1",
                    lightvm, "run", image, "--cmdline", "20000", NULL};

    snprintf(image, sizeof(image), "%s/sleep.elf", gdir);
    CHECK(lvt_run(&p, 30, argv) == 0, "timeout(1) missing");
    CHECK(p.status == 143, "SIGTERM: status %d: %s", p.status, p.err);
    CHECK(strstr(p.err, "signal 15") != NULL, "SIGTERM message: %s", p.err);
    CHECK(p.wall_ms < 10000, "SIGTERM took %.0f ms", p.wall_ms);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_run LIGHTVM GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    gdir = argv[2];
    lvt_require_kvm();
    test_hello();
    test_exit_status();
    test_sleep();
    test_faults();
    test_runtime();
    test_lwip();
    test_signal();
    return lvt_done("test_run");
}
