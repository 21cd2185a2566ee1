/*
 * test_flood: a guest's console can never hurt another VM, nor the
 * operator's terminal (issue 9, part 3). End to end on real KVM, in a
 * network and mount namespace of the test's own, with lightvmd's run
 * directory on a small tmpfs of its own (host RAM, as /run is):
 *
 *   1. `lightvm run` of a guest that prints control characters and bytes
 *      that are not UTF-8: escaped on stdout, the exact bytes with --raw,
 *      counted by --trace; a closed stdout still ends the VM
 *   2. the same guest under lightvmd: `lightvm console` escaped, --raw exact
 *   3. the run directory's filesystem full under a flooding guest: its
 *      writes fail and are counted (ENOSPC), it keeps running, the
 *      neighbours answer; with space again its output is kept again
 *   4. everything destroyed: no process, tap or run-directory entry left
 *
 * A guest flooding a console that has space (its log and the run
 * directory stay within the cap, its neighbours answer) is a row of
 * test_faults' table ("guest floods its console").
 *
 * usage: test_flood LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM (skips without
 * it, fails under LIGHTVM_REQUIRE_KVM=1) and root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lvtest.h"

#define BR "lvfl0"
#define HOST_IP "10.81.0.1"
#define CAP (64 << 10)   /* lightvmd --console-cap */
#define CAP_ARG "64K"
#define NEIGHBOURS 2     /* daytime VMs 0 .. NEIGHBOURS - 1 */
#define TMPFS_SIZE "size=16m,mode=0700"

/* What selftest ctlchars prints (guest/apps/selftest.c), and what a
 * terminal must be shown of it: worked out by hand, not by the library. */
static const char CTL_RAW[] = "ctl: esc=\x1b[31mred\x1b[0m cr=\r bel=\a del=\x7f nul=\0 bs=\b "
                              "c1=\xc2\x9b bad=\xff\xfe\xc3( utf8=\xc3\xa9\xe2\x82\xac "
                              "tab=\t backslash=\\ end\n";
static const char CTL_ESC[] = "ctl: esc=\\x1b[31mred\\x1b[0m cr=\\x0d bel=\\x07 del=\\x7f "
                              "nul=\\x00 bs=\\x08 c1=\\xc2\\x9b bad=\\xff\\xfe\\xc3( "
                              "utf8=\xc3\xa9\xe2\x82\xac tab=\t backslash=\\\\ end\n";

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin;
static char rundir[64] = "/tmp/lvtest-flood-XXXXXX", cfgdir[PATH_MAX];
static int mounted;
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

#define ipcmd(...) lvt_ip(&tool, ip_bin, __VA_ARGS__)

/* `lightvm ARGS...` (NULL-terminated) with our run directory: its exit
 * status, output in cli. */
#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

static void vm_ip(int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "10.81.0.%d", k + 2);
}

/* The config of VM (name): daytime VM number (k) on the bridge, or (k <
 * 0) the selftest image without a NIC, run with (cmdline). Its path. */
static const char *config(const char *name, int k, const char *cmdline)
{
    static char path[PATH_MAX + 64];
    char buf[1024], ip[24];

    vm_ip(k, ip, sizeof(ip));
    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    if (k >= 0)
        snprintf(buf, sizeof(buf),
                 "{\"name\":\"%s\",\"kernel\":\"%s/daytime.elf\",\"memory\":8,"
                 "\"vifs\":[{\"bridge\":\"" BR "\",\"ip\":\"%s/16\"}]}", name, gdir, ip);
    else
        snprintf(buf, sizeof(buf), "{\"name\":\"%s\",\"kernel\":\"%s/selftest.elf\","
                 "\"memory\":8,\"cmdline\":\"%s\"}", name, gdir, cmdline);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

/* nc to port 13 of VM k: 1 if a date came. */
static int answers(int k)
{
    char ip[24];

    vm_ip(k, ip, sizeof(ip));
    return lvt_daytime_answers(&tool, nc_bin, ip, "5");
}

static int neighbours_answer(void)
{
    int ok = 0;

    for (int k = 0; k < NEIGHBOURS; k++)
        ok += answers(k);
    return ok == NEIGHBOURS;
}

/* `lightvm info NAME`: its state and console counters; 0 or -1. */
static int con_stats(const char *name, struct lvt_con *c)
{
    return lvt_con_stats(&cli, lightvm, rundir, name, c);
}

/* Polls `info NAME` (bounded) until (done) holds for its counters. */
static int wait_con(const char *name, struct lvt_con *c,
                    int (*done)(const struct lvt_con *, const void *), const void *arg)
{
    return lvt_con_wait(&cli, lightvm, rundir, name, c, done, arg);
}

/* Polls (bounded) for the daemon's socket. */
static int daemon_start(void)
{
    const char *argv[] = {lightvmd, "--rundir", rundir, "--pool", "8,1,2," BR, "--console-cap",
                          CAP_ARG, NULL};

    if (lvt_bg_start(&daemon_bg, argv) < 0) {
        CHECK(0, "cannot start %s: %s", lightvmd, strerror(errno));
        return 0;
    }
    return lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir);
}

/* ---- 1, 2: escaping ---- */

static void case_run_escapes(void)
{
    char img[PATH_MAX];
    size_t n = sizeof(CTL_ESC) - 1, rn = sizeof(CTL_RAW) - 1;
    char want_trace[64];

    snprintf(img, sizeof(img), "%s/selftest.elf", gdir);
    const char *esc[] = {lightvm, "run", img, "--cmdline", "ctlchars", "--trace", NULL};
    int st = lvt_bg_run(&tool, 60000, esc);
    CHECK(st == 0 && tool.len[0] == n && !memcmp(tool.out, CTL_ESC, n),
          "lightvm run ctlchars: status %d, %zu bytes (want %zu): \"%s\"", st, tool.len[0], n,
          tool.out);
    snprintf(want_trace, sizeof(want_trace), "trace console bytes=%zu dropped=0 errors=0\n", rn);
    CHECK(strstr(tool.err, want_trace), "run --trace: no \"%s\" in:\n%s", want_trace, tool.err);
    const char *raw[] = {lightvm, "run", img, "--cmdline", "ctlchars", "--raw", NULL};
    st = lvt_bg_run(&tool, 60000, raw);
    CHECK(st == 0 && tool.len[0] == rn && !memcmp(tool.out, CTL_RAW, rn),
          "lightvm run --raw ctlchars: status %d, %zu bytes (want %zu)", st, tool.len[0], rn);
    /* a closed stdout still ends the VM (nobody can see its console) */
    const char *closed[] = {"/bin/bash", "-c", "set -o pipefail; \"$0\" run \"$1\" --cmdline "
                            "flood | head -c 1000 >/dev/null", lightvm, img, NULL};
    st = lvt_bg_run(&tool, 60000, closed);
    CHECK(st == 125 && strstr(tool.err, "console write failed: Broken pipe"),
          "run flood with its stdout closed: status %d: %s", st, tool.err);
}

static void case_console_escapes(void)
{
    size_t n = sizeof(CTL_ESC) - 1, rn = sizeof(CTL_RAW) - 1;

    CHECK(lv("create", config("ctl", -1, "ctlchars idle"), NULL) == 0, "create ctl: %s",
          cli.err);
    struct lvt_con c;
    CHECK(con_stats("ctl", &c) == 0 && c.bytes == rn && c.dropped == 0 && c.cap == CAP,
          "info ctl: %s", cli.out);
    const char *esc[] = {lightvm, "console", "ctl", "--rundir", rundir, NULL};
    int st = lvt_bg_run(&tool, 60000, esc);
    CHECK(st == 0 && tool.len[0] == n && !memcmp(tool.out, CTL_ESC, n),
          "lightvm console ctl: status %d, %zu bytes (want %zu): \"%s\" %s", st, tool.len[0], n,
          tool.out, tool.err);
    const char *raw[] = {lightvm, "console", "ctl", "--raw", "--rundir", rundir, NULL};
    st = lvt_bg_run(&tool, 60000, raw);
    CHECK(st == 0 && tool.len[0] == rn && !memcmp(tool.out, CTL_RAW, rn),
          "lightvm console --raw ctl: status %d, %zu bytes (want %zu)", st, tool.len[0], rn);
    CHECK(lv("destroy", "ctl", NULL) == 0, "destroy ctl: %s", cli.err);
}

/* ---- 3: the filesystem full ----
 * A log at its cap needs no new space (a rotation frees what the next
 * writes take), so the filesystem is filled first and the flooding VM
 * made after: its log has to grow, and cannot. */

static void case_fs_full(void)
{
    char filler[PATH_MAX];
    unsigned long long min, e;
    static char chunk[1 << 20];
    struct lvt_con c;
    int fd, full = 0;

    /* fill the tmpfs (bounded: it is 16 MiB) */
    snprintf(filler, sizeof(filler), "%s/filler", rundir);
    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "%s: %s", filler, strerror(errno));
    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; fd >= 0 && i < 64 && !full; i++)
        full = write(fd, chunk, sizeof(chunk)) < (ssize_t)sizeof(chunk);
    if (fd >= 0)
        close(fd);
    CHECK(full, "the tmpfs did not fill up");
    if (lv("create", config("ff", -1, "flood"), NULL) != 0) {
        CHECK(0, "create ff with the filesystem full: %s", cli.err);
        unlink(filler);
        return;
    }
    e = 0;
    CHECK(wait_con("ff", &c, lvt_con_errors_over, &e) && strstr(c.last_error, "No space left"),
          "ff's console writes never failed on a full filesystem: errors=%llu (%s)", c.errors,
          c.last_error);
    e = c.errors;
    CHECK(wait_con("ff", &c, lvt_con_errors_over, &e) && !strcmp(c.state, "running"),
          "ff after its writes failed: %s, errors %llu", c.state, c.errors);
    CHECK(neighbours_answer(), "a neighbour does not answer with the filesystem full");
    CHECK(lv("list", NULL) == 0 && !strstr(cli.out, "crashed"), "list with the filesystem "
          "full: %s", cli.out);
    printf("filesystem full: ff running, %llu failed console writes (%s)\n", c.errors,
           c.last_error);
    /* space again: its output is kept again */
    unlink(filler);
    CHECK(con_stats("ff", &c) == 0, "info ff: %s", cli.err);
    e = c.errors;
    min = c.bytes + 8ull * CAP;
    CHECK(wait_con("ff", &c, lvt_con_bytes_over, &min) && c.errors <= e + 1 &&
          !strcmp(c.state, "running"), "ff with space again: %s, errors %llu -> %llu", c.state,
          e, c.errors);
    /* (between a rotation and the next write it holds the older half only) */
    long lb = lvt_con_log_bytes(rundir, "ff");
    CHECK(lb >= CAP / 2 && lb <= CAP, "ff's log holds %ld bytes (cap %d)", lb, CAP);
    CHECK(lv("destroy", "ff", NULL) == 0, "destroy ff: %s", cli.err);
}

/* ---- 4: the end ---- */

static void case_end(void)
{
    char name[32], p[PATH_MAX];

    for (int k = 0; k < NEIGHBOURS; k++) {
        snprintf(name, sizeof(name), "d%d", k);
        CHECK(lv("destroy", name, NULL) == 0, "destroy %s: %s", name, cli.err);
    }
    lvt_daemon_term(&daemon_bg);
    lvt_check_netns_empty();
    snprintf(p, sizeof(p), "%s/vms", rundir);
    lvt_check_dir_empty(p);
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];
    char name[32];

    if (argc != 4) {
        fprintf(stderr, "usage: test_flood LIGHTVM LIGHTVMD GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    lvt_require_kvm();
    lvt_require_root("test_flood", "namespaces, a tmpfs, taps");
    /* (on failure it removed what it made; lvt_kill_netns_others must not
     * run outside the test's own namespace) */
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    /* the run directory on a tmpfs of our own (this mount namespace's) */
    if (mount("tmpfs", rundir, "tmpfs", 0, TMPFS_SIZE) < 0) {
        fprintf(stderr, "FAIL: tmpfs on %s: %s\n", rundir, strerror(errno));
        lvt_failures++;
        goto out;
    }
    mounted = 1;
    if (ipcmd("link set lo up") || lvt_bridge_add(&tool, ip_bin, BR, HOST_IP "/16")) {
        fprintf(stderr, "FAIL: bridge setup: %s\n", tool.err);
        lvt_failures++;
        goto out;
    }
    case_run_escapes();
    static const char *const bad_caps[] = {"4K", "2G", "64KB", "x", ""};
    for (size_t i = 0; i < sizeof(bad_caps) / sizeof(bad_caps[0]); i++) {
        const char *bad[] = {lightvmd, "--rundir", rundir, "--console-cap", bad_caps[i], NULL};
        CHECK(lvt_run(&cli, 30, bad) == 0 && cli.status == 2 && strstr(cli.err, "--console-cap"),
              "lightvmd --console-cap '%s': status %d: %s", bad_caps[i], cli.status, cli.err);
    }
    if (!daemon_start())
        goto out;
    for (int k = 0; k < NEIGHBOURS; k++) {
        snprintf(name, sizeof(name), "d%d", k);
        CHECK(lv("create", config(name, k, NULL), "--wait-net", HOST_IP, NULL) == 0,
              "create %s: %s", name, cli.err);
    }
    CHECK(neighbours_answer(), "the neighbours do not answer daytime");
    case_console_escapes();
    case_fs_full();
    case_end();
out:
    if (lvt_failures)
        lvt_show_vmm_log(rundir, 40);
    if (daemon_bg.pid)
        lvt_bg_stop(&daemon_bg, SIGKILL, 5000);
    lvt_kill_netns_others();
    if (mounted)
        umount2(rundir, MNT_DETACH);
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_flood");
}
