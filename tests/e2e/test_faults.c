/*
 * test_faults: fault injection against lightvmd on real KVM, with real
 * processes, in a network and mount namespace of the test's own. The run
 * directory is a small tmpfs of the test's own (so that it can be
 * filled).
 *
 * Two VMs (s0, s1) run through the whole suite. Each fault of the table
 * below is injected, and then the same checks follow:
 *   - recovered: the daemon serves create, list and destroy (a VM made
 *     for the check answers daytime), and s0 and s1 still answer daytime;
 *   - leaked nothing: once the pool is full again, the taps, the
 *     processes in the namespace, the run directory's entries and the
 *     daemon's open fds (/proc/PID/fd) are what they were before the
 *     fault (the pool's shells and s0, s1: no more).
 * At the end a table: fault | what the user saw | recovered | leaked
 * nothing. The test fails if any row says no (or any CHECK failed).
 *
 * lightvmd runs with --console-cap 64K (CON_CAP), which the console
 * flood's row checks the VM's log and the run directory against.
 *
 * Adding a fault: write `static void f_NAME(struct row *r)` that injects
 * it, puts what a user saw in r->saw and removes the VMs it made (they
 * are no part of the steady set), and add it to faults[] (main). A fault
 * that must keep something alive during the checks (a client) undoes it
 * in its .after function. The rows about image files (a FIFO kernel, an
 * image truncated while it loads) are in faults_image.c, the console
 * flood's in faults_console.c; what the files share is in test_faults.h.
 *
 * usage: test_faults LIGHTVM LIGHTVMD GUEST_DIR RELEASE_LIGHTVMD. Needs KVM
 * (skips without it, fails under LIGHTVM_REQUIRE_KVM=1) and root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lightvm/ctl.h"
#include "test_faults.h"

#define BR2 "lvft1"         /* the bridge that gets deleted */
#define POOL 4
#define RUNDIR_MB 16
#define CON_CAP_ARG "64K"

/* (declared in test_faults.h: faults_image.c uses them too) */
const char *lightvm, *lightvmd, *gdir;
char rundir[64] = "/tmp/lvtest-faults-XXXXXX", cfgdir[PATH_MAX];
struct lvt_bg daemon_bg;
struct lvt_proc cli;
static const char *lightvmd_rel, *ip_bin, *nc_bin;
static struct lvt_bg tool;
static int base_fds;        /* the daemon's fds in the steady state */
static size_t log_mark;     /* daemon_bg.err offset where a fault began */

#define ipcmd(...) lvt_ip(&tool, ip_bin, __VA_ARGS__)

void saw(struct row *r, const char *fmt, ...)
{
    char full[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(full, sizeof(full), fmt, ap);
    va_end(ap);
    /* the test's own directory of configs and images, shown as <cfg> */
    for (char *p; cfgdir[0] && (p = strstr(full, cfgdir));) {
        size_t n = strlen(cfgdir);
        memcpy(p, "<cfg>", 5);
        memmove(p + 5, p + n, strlen(p + n) + 1);
    }
    size_t len = strnlen(full, sizeof(r->saw) - 1);
    memcpy(r->saw, full, len);
    r->saw[len] = '\0';
    for (char *p = r->saw; *p; p++)
        if (*p == '\n' || *p == '|')
            *p = ' ';
}

static void why(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(struct row *r, const char *fmt, ...)
{
    size_t n = strlen(r->why);
    va_list ap;

    va_start(ap, fmt);
    if (n + 4 < sizeof(r->why)) {
        if (n)
            r->why[n++] = ';', r->why[n++] = ' ';
        vsnprintf(r->why + n, sizeof(r->why) - n, fmt, ap);
    }
    va_end(ap);
}

/* ---- VMs ---- */

const char *config(const char *name, const char *kernel, int mem_mb, const char *bridge,
                          const char *ip, const char *cmdline)
{
    static char path[PATH_MAX + 64];
    char buf[1024], vifs[256] = "";

    if (bridge)
        snprintf(vifs, sizeof(vifs), ",\"vifs\":[{\"bridge\":\"%s\",\"ip\":\"%s/16\"}]", bridge,
                 ip);
    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"kernel\":\"%s%s%s\",\"memory\":%d,\"cmdline\":\"%s\"%s}",
             name, kernel[0] == '/' ? "" : gdir, kernel[0] == '/' ? "" : "/", kernel, mem_mb,
             cmdline ? cmdline : "", vifs);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

static const char *daytime_cfg(const char *name, const char *ip)
{
    return config(name, "daytime.elf", 8, BR, ip, NULL);
}

/* nc to port 13 of (ip): 1 if a date came. */
static int answers(const char *ip)
{
    return lvt_daytime_answers(&tool, nc_bin, ip, "5");
}

/* The steady VMs: running from start to end. */
static const struct {
    const char *name, *ip;
} steady[] = {{"s0", "10.81.0.2"}, {"s1", "10.81.0.3"}};
#define NSTEADY 2

const char *steady_silent(void)
{
    for (int i = 0; i < NSTEADY; i++)
        if (!answers(steady[i].ip))
            return steady[i].name;
    return NULL;
}

/* The value after "KEY: " in the last CLI output (info), or "". */
static const char *info_field(const char *key, char *buf, size_t cap)
{
    char k[32];
    const char *p;

    snprintf(k, sizeof(k), "%s: ", key);
    buf[0] = '\0';
    if ((p = strstr(cli.out, k)))
        snprintf(buf, cap, "%.*s", (int)strcspn(p + strlen(k), "\n"), p + strlen(k));
    return buf;
}

#define vm_pid(name) lvt_vm_pid(&cli, lightvm, rundir, name)

/* ---- the daemon ---- */

static int daemon_up(void)
{
    return daemon_bg.pid > 0 && kill(daemon_bg.pid, 0) == 0;
}

/* Starts (bin) (with a soft rlimit when resource >= 0) and waits (bounded)
 * until it answers. */
static int daemon_start(const char *bin, int resource, unsigned long soft)
{
    const char *argv[] = {bin, "--rundir", rundir, "--pool", "8,1," "4," BR, "--console-cap",
                          CON_CAP_ARG, NULL};

    if (lvt_bg_start_limited(&daemon_bg, argv, resource, soft) < 0) {
        CHECK(0, "cannot start %s: %s", bin, strerror(errno));
        return 0;
    }
    return lvt_daemon_wait(&daemon_bg, 30000, &cli, lightvm, rundir);
}

/* SIGTERM (VMs stay) or SIGKILL, then a new daemon. */
static int daemon_restart(int sig, const char *bin, int resource, unsigned long soft)
{
    if (daemon_bg.pid) {
        kill(daemon_bg.pid, sig);
        lvt_bg_stop(&daemon_bg, 0, 20000);
    }
    return daemon_start(bin, resource, soft);
}

/* Waits (bounded) for (needle) in what the daemon logged since the fault
 * began; the line, or NULL. */
static const char *daemon_logged(const char *needle, int ms)
{
    static char line[256];

    for (int t = 0;; t += 50) {
        const char *p = strstr(daemon_bg.err + log_mark, needle);
        if (p) {
            while (p > daemon_bg.err + log_mark && p[-1] != '\n')
                p--;
            snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
            return line;
        }
        if (t >= ms || !daemon_bg.pid)
            return NULL;
        lvt_bg_pump(50);
    }
}

/* A request straight on the daemon's socket: the connection (or -1). */
static int raw_connect(void)
{
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    return lv_ctl_connect(sock, NULL);
}

/* ---- the checks ---- */

static int count_dir(const char *sub, const char *const *allowed, char *extra, size_t cap)
{
    char p[PATH_MAX];
    DIR *d;
    int n = 0;

    snprintf(p, sizeof(p), "%s%s%s", rundir, sub ? "/" : "", sub ? sub : "");
    extra[0] = '\0';
    if (!(d = opendir(p)))
        return -1;
    for (struct dirent *de; (de = readdir(d));) {
        int ok = de->d_name[0] == '.';
        for (int i = 0; allowed && allowed[i] && !ok; i++)
            ok = !strcmp(de->d_name, allowed[i]);
        if (ok)
            continue;
        n++;
        snprintf(extra + strlen(extra), cap - strlen(extra), " %s", de->d_name);
    }
    closedir(d);
    return n;
}

/* The steady state: the pool full, nothing but it and s0, s1 in the
 * namespace and the run directory. "" if so, else what differs (in r). */
static int steady_now(char *out, size_t cap)
{
    static const char *const top[] = {"lightvmd.lock", "lightvmd.sock", "vms", "shells",
                                      "vmm.log", NULL};
    static const char *const vms[] = {"s0", "s1", NULL};
    char extra[512], list[1024];
    int n;

    out[0] = '\0';
    if (LV("pool") != 0 || !strstr(cli.out, "ready=" "4" " preparing=0"))
        return snprintf(out, cap, "pool not full: %.200s", cli.out), 0;
    if ((n = lvt_count_taps()) != POOL + NSTEADY)
        return snprintf(out, cap, "%d taps (want %d)", n, POOL + NSTEADY), 0;
    if ((n = lvt_netns_others(NULL, 0, list, sizeof(list))) != 1 + POOL + NSTEADY)
        return snprintf(out, cap, "%d processes (want %d):%.300s", n, 1 + POOL + NSTEADY, list),
               0;
    if (count_dir(NULL, top, extra, sizeof(extra)) != 0)
        return snprintf(out, cap, "in the run directory:%.300s", extra), 0;
    if (count_dir("vms", vms, extra, sizeof(extra)) != 0)
        return snprintf(out, cap, "in vms/:%.300s", extra), 0;
    if ((n = count_dir("shells", NULL, extra, sizeof(extra))) != POOL)
        return snprintf(out, cap, "%d in shells/ (want %d):%.300s", n, POOL, extra), 0;
    return 1;
}

int wait_steady(char *out, size_t cap)
{
    for (int t = 0; t < 30000; t += 200) {
        if (steady_now(out, cap))
            return 1;
        lvt_sleep_ms(200);
    }
    return 0;
}

static void check_recovered(struct row *r)
{
    static int k;
    char name[32], ip[24];

    r->recovered = 1;
    if (!daemon_up()) {
        why(r, "lightvmd is not running");
        r->recovered = 0;
        return;
    }
    snprintf(name, sizeof(name), "chk%d", k);
    snprintf(ip, sizeof(ip), "10.81.1.%d", 2 + k++ % 200);
    if (LV("create", daytime_cfg(name, ip)) != 0) {
        why(r, "create %s: %.200s", name, cli.err);
        r->recovered = 0;
    } else {
        if (!answers(ip))
            why(r, "%s does not answer", name), r->recovered = 0;
        if (LV("list") != 0 || !strstr(cli.out, name))
            why(r, "list: %.200s%.200s", cli.out, cli.err), r->recovered = 0;
        if (LV("destroy", name) != 0)
            why(r, "destroy %s: %.200s", name, cli.err), r->recovered = 0;
    }
    for (int i = 0; i < NSTEADY; i++)
        if (!answers(steady[i].ip))
            why(r, "%s does not answer any more", steady[i].name), r->recovered = 0;
}

static void check_clean(struct row *r)
{
    char what[1024];

    r->clean = wait_steady(what, sizeof(what));
    if (!r->clean) {
        why(r, "not back to the steady state: %s", what);
        return;
    }
    int fds = lvt_fd_count(daemon_bg.pid);
    /* (fewer is no leak: at its fd limit a shell may have got no pidfd) */
    if (fds < 0 || fds > base_fds) {
        why(r, "the daemon has %d fds (was %d)", fds, base_fds);
        r->clean = 0;
    }
}

/* After a daemon (re)start: the steady state and its fd count. */
static int take_baseline(void)
{
    char what[1024];

    if (!wait_steady(what, sizeof(what))) {
        CHECK(0, "no steady state to start from: %s", what);
        return 0;
    }
    base_fds = lvt_fd_count(daemon_bg.pid);
    return 1;
}

/* ---- the faults ---- */

/* The daemon's children (processes of the namespace whose parent it
 * is): their number, up to (max) of them in (pids). */
static int daemon_children(pid_t *pids, int max)
{
    pid_t all[128];
    char list[4096];
    int n = 0, na = lvt_netns_others(all, 128, list, sizeof(list));

    for (int i = 0; i < na && i < 128 && n < max; i++) {
        char p[64], buf[512];
        long ppid = 0;
        snprintf(p, sizeof(p), "/proc/%d/stat", (int)all[i]);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
        char *rp = strrchr(buf, ')');
        if (rp && sscanf(rp + 2, "%*c %ld", &ppid) == 1 && ppid == daemon_bg.pid)
            pids[n++] = all[i];
    }
    return n;
}

/* A shell is preparing once it runs lightvmd --vm-shell (before that,
 * lightvmd is still putting the child in its cgroup) and while it has no
 * console.log open (a ready shell has shells/PID/console.log open, a VM
 * process vms/NAME/...). */
static int is_preparing(pid_t pid)
{
    char p[64], fp[340], link[PATH_MAX], cmd[256] = "";
    int has_console = 0, alive;
    FILE *cf;

    snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
    if ((cf = fopen(p, "r"))) {
        size_t n = fread(cmd, 1, sizeof(cmd) - 1, cf);
        fclose(cf);
        for (size_t i = 0; i < n; i++) /* the arguments, NUL-separated */
            cmd[i] = cmd[i] ? cmd[i] : ' ';
        cmd[n] = '\0';
    }
    if (!strstr(cmd, "--vm-shell"))
        return 0;
    snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    alive = d != NULL;
    for (struct dirent *de; d && (de = readdir(d)) && !has_console;) {
        ssize_t k;
        snprintf(fp, sizeof(fp), "%s/%s", p, de->d_name);
        if ((k = readlink(fp, link, sizeof(link) - 1)) > 0) {
            link[k] = '\0';
            has_console = strstr(link, "/console.log") != NULL;
        }
    }
    if (d)
        closedir(d);
    return alive && !has_console;
}

static void f_shell_kill(struct row *r)
{
    pid_t before[64], now[64];
    int nb = daemon_children(before, 64), killed = 0;
    struct lvt_bg cr;
    const char *argv[] = {lightvm, "create", daytime_cfg("fs0", "10.81.2.2"), "--rundir", rundir,
                          NULL};

    /* a create takes a pool shell; the refill starts a new one: caught as
     * a new child of the daemon, stopped (it cannot finish its prepare
     * between the look and the kill), checked, killed */
    if (lvt_bg_start(&cr, argv) < 0)
        return;
    for (int t = 0; t < 20000 && !killed; t++) {
        int nn = daemon_children(now, 64);
        for (int i = 0; i < nn && !killed; i++) {
            int old = 0;
            for (int k = 0; k < nb && !old; k++)
                old = before[k] == now[i];
            if (old || !is_preparing(now[i]))
                continue;
            kill(now[i], SIGSTOP);
            if (is_preparing(now[i])) {
                kill(now[i], SIGKILL);
                killed = 1;
            } else {
                kill(now[i], SIGCONT);
            }
        }
        if (!killed)
            lvt_bg_pump(0);
    }
    CHECK(lvt_bg_stop(&cr, 0, 60000) == 0, "create fs0: %s", cr.err);
    CHECK(killed, "never caught a shell preparing");
    const char *l = daemon_logged("died while preparing", 10000);
    saw(r, "%s", l ? l : "(nothing logged)");
    CHECK(l, "the daemon did not notice its shell's death:\n%s", daemon_bg.err + log_mark);
    CHECK(LV("destroy", "fs0") == 0, "destroy fs0: %s", cli.err);
}

/* The create request sent straight on the socket, then lightvmd killed
 * after (us) microseconds, then restarted: the VM is fully there
 * (running, answering) or fully gone (name free, nothing left). */
static int kill_mid_create(int k, int us, struct row *r)
{
    char name[16], ip[24], js[1024];
    json_t *spec, *req;
    struct lv_ctl_conn c;
    int there = -1;

    snprintf(name, sizeof(name), "dk%d", k);
    snprintf(ip, sizeof(ip), "10.81.3.%d", 2 + k);
    snprintf(js, sizeof(js), "{\"name\":\"%s\",\"kernel\":\"%s/daytime.elf\",\"memory\":8,"
             "\"vifs\":[{\"bridge\":\"" BR "\",\"ip\":\"%s/16\"}]}", name, gdir, ip);
    spec = json_loads(js, 0, NULL);
    req = json_pack("{s:s,s:o}", "op", "create", "spec", spec);
    int fd = raw_connect();
    CHECK(fd >= 0, "cannot connect to the daemon");
    if (us < 0)
        kill(daemon_bg.pid, SIGSTOP);
    if (fd < 0) {
        json_decref(req);
        return -1;
    }
    lv_ctl_conn_init(&c, fd);
    CHECK(lv_ctl_send(&c, req, 5000, NULL) == 0, "send create");
    json_decref(req);
    if (us >= 0) {
        struct timespec ts = {0, us * 1000L};
        nanosleep(&ts, NULL);
    }
    kill(daemon_bg.pid, SIGKILL); /* (us < 0: it was stopped before the request) */
    json_t *rep = NULL;
    int rc = lv_ctl_recv(&c, 5000, &rep, NULL);
    json_decref(rep);
    lv_ctl_conn_close(&c);
    lvt_bg_stop(&daemon_bg, 0, 10000);
    if (!daemon_start(lightvmd, -1, 0))
        return -1;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/vms/%s", rundir, name);
    if (LV("info", name) == 0) {
        char st[32];
        there = 1;
        CHECK(!strcmp(info_field("state", st, sizeof(st)), "running") && answers(ip),
              "%s after a daemon killed %d us into its create: half there: %s", name, us,
              cli.out);
        CHECK(LV("destroy", name) == 0, "destroy %s: %s", name, cli.err);
    } else {
        there = 0;
        CHECK(strstr(cli.err, "no VM named") && access(dir, F_OK) < 0,
              "%s after a daemon killed %d us into its create: half gone: %s (dir %s)", name, us,
              cli.err, access(dir, F_OK) == 0 ? "left" : "gone");
    }
    (void)r;
    printf("  kill -9 %d us after the create request (-1: before it was read): %s (reply %s)\n", us,
           there ? "VM fully there" : "VM fully gone", rc == 0 ? "came" : "none");
    return there;
}

static void f_daemon_kill(struct row *r)
{
    /* -1: stopped before it reads the request; then after the request,
     * while the shell is told to exec and executes, and after the reply */
    static const int points_us[] = {-1, 0, 200, 500, 1000, 2000, 5000, 20000};
    int there = 0, gone = 0;

    for (size_t i = 0; i < sizeof(points_us) / sizeof(points_us[0]); i++) {
        char what[1024];
        if (!wait_steady(what, sizeof(what)))
            CHECK(0, "before kill point %zu: %s", i, what);
        int t = kill_mid_create((int)i, points_us[i], r);
        there += t == 1;
        gone += t == 0;
        if (t < 0)
            break;
    }
    saw(r, "create got no reply; after the restart the VM was fully there %d times, fully "
        "gone %d times", there, gone);
}

static void f_vm_kill(struct row *r)
{
    char st[32], reason[128];

    CHECK(LV("create", daytime_cfg("vk", "10.81.2.3")) == 0, "create vk: %s", cli.err);
    long pid = vm_pid("vk");
    CHECK(pid > 0 && kill((pid_t)pid, SIGKILL) == 0, "cannot kill vk (%ld)", pid);
    int crashed = 0;
    for (int t = 0; t < 10000 && !crashed; t += 100) {
        lvt_sleep_ms(100);
        crashed = LV("info", "vk") == 0 && !strcmp(info_field("state", st, sizeof(st)), "crashed");
    }
    info_field("reason", reason, sizeof(reason));
    saw(r, "info vk: state %s (%s); destroy removes it", st, reason);
    CHECK(crashed, "vk after kill -9: %s", cli.out);
    CHECK(LV("destroy", "vk") == 0, "destroy vk: %s", cli.err);
}

/* A VM process that is alive but does not answer (SIGSTOP): destroy
 * kills it after the relayed call's deadline instead of failing and
 * leaving it. */
static void f_vm_stopped(struct row *r)
{
    CHECK(LV("create", daytime_cfg("vs", "10.81.2.30")) == 0, "create vs: %s", cli.err);
    long pid = vm_pid("vs");
    CHECK(pid > 0 && kill((pid_t)pid, SIGSTOP) == 0, "cannot stop vs (%ld)", pid);
    int st = LV("destroy", "vs");
    saw(r, "destroy vs: status %d: %.*s", st, (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(st == 0 && strstr(cli.err, "did not answer: killed"), "destroy of a stopped VM "
          "process: status %d: %s", st, cli.err);
    int gone = 0;
    for (int t = 0; t < 100 && !gone && pid > 0; t++) { /* KVM teardown: ~15 ms */
        char p[64];
        snprintf(p, sizeof(p), "/proc/%ld", pid);
        gone = access(p, F_OK) < 0;
        if (!gone)
            lvt_sleep_ms(100);
    }
    CHECK(gone, "vs's process %ld is still there after destroy", pid);
    CHECK(LV("info", "vs") == 1, "vs is still known after destroy: %s", cli.out);
}

/* The run directory's tmpfs filled up, then a VM created: its console
 * writes fail and are counted (the console is capped, never a reason to
 * stop a VM), so it runs and answers, and so do s0 and s1. */
static void f_rundir_full(struct row *r)
{
    char path[PATH_MAX], buf[65536];
    long long written = 0;
    unsigned long long none = 0;
    struct lvt_con c;
    int fd;

    memset(&c, 0, sizeof(c)); /* (shown as "gone" if rf was never made) */
    snprintf(path, sizeof(path), "%s/filler", rundir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "%s: %s", path, strerror(errno));
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; fd >= 0 && i < (RUNDIR_MB << 4) + 16; i++) {
        ssize_t n = write(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        written += n;
    }
    if (fd >= 0)
        close(fd);
    int st = LV("create", daytime_cfg("rf", "10.81.2.4"));
    char first[200];
    snprintf(first, sizeof(first), "%.*s", (int)strcspn(st ? cli.err : cli.out, "\n"),
             st ? cli.err : cli.out);
    CHECK(st == 0, "create rf with the filesystem full: status %d: %s", st, cli.err);
    int rf_answers = st == 0 && answers("10.81.2.4");
    CHECK(st != 0 || rf_answers, "rf does not answer with the filesystem full");
    int failed = st == 0 && lvt_con_wait(&cli, lightvm, rundir, "rf", &c, lvt_con_errors_over,
                                         &none);
    CHECK(st != 0 || (failed && strstr(c.last_error, "No space left")),
          "rf's console writes never failed on a full filesystem: errors=%llu (%s)", c.errors,
          c.last_error);
    CHECK(st != 0 || (lvt_con_stats(&cli, lightvm, rundir, "rf", &c) == 0 &&
                      !strcmp(c.state, "running")), "rf after its console writes failed: %s",
          cli.out);
    for (int i = 0; i < NSTEADY; i++)
        CHECK(answers(steady[i].ip), "%s stopped answering with the run directory full",
              steady[i].name);
    LV("list");
    char listing[300];
    snprintf(listing, sizeof(listing), "%.299s", cli.out);
    unlink(path);
    saw(r, "filled (%lld KiB); create rf: status %d: %s%s; rf %s, %llu console writes failed "
        "(%s), s0, s1 answer", written >> 10, st, first,
        st == 0 ? (rf_answers ? " (answers)" : " (does not answer)") : "",
        c.state[0] ? c.state : "gone", c.errors, c.last_error[0] ? c.last_error : "none");
    if (st == 0 || strstr(listing, "rf "))
        CHECK(LV("destroy", "rf") == 0, "destroy rf: %s", cli.err);
}

/* utime + stime of (pid) in ms, from /proc/PID/stat (0 if unreadable). */
static double proc_cpu_ms(pid_t pid)
{
    char p[64], buf[1024];
    unsigned long ut = 0, st = 0;
    FILE *f;

    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(p, "r")))
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    char *rp = strrchr(buf, ')');
    if (!rp || sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* fds in the flood of f_fd_limit */
#define FLOOD_CONNS 24
static int held[FLOOD_CONNS];

static void f_fd_limit(struct row *r)
{
    int limit = base_fds + 6, nheld = 0;
    char soft[16];

    snprintf(soft, sizeof(soft), "%d", limit);
    if (!daemon_restart(SIGTERM, lightvmd, RLIMIT_NOFILE, (unsigned long)limit) || !take_baseline())
        return;
    log_mark = strlen(daemon_bg.err);
    /* more connections than it has fds: it accepts until EMFILE */
    for (int i = 0; i < FLOOD_CONNS; i++)
        if ((held[i] = raw_connect()) >= 0)
            nheld++;
    const char *l = daemon_logged("Too many open files", 10000);
    CHECK(l, "the daemon at %d fds never said it ran out:\n%s", limit, daemon_bg.err + log_mark);
    /* Held for a second: a daemon polling its listening socket while
     * accept fails spins (all of a core, and a log line per failure);
     * backing off, it sleeps (the CPU check is a spin detector). */
    double c0 = proc_cpu_ms(daemon_bg.pid), w0 = lvt_now_ms();
    for (int t = 0; t < 1000; t += 50)
        lvt_bg_pump(50);
    double used = proc_cpu_ms(daemon_bg.pid) - c0, wall = lvt_now_ms() - w0;
    CHECK(used < wall / 2, "the daemon at its fd limit spins: %.0f ms of CPU in %.0f ms", used,
          wall);
    int lines = 0;
    for (const char *p = daemon_bg.err + log_mark; (p = strstr(p, "accept: ")); p++)
        lines++;
    CHECK(daemon_up(), "the daemon died at its fd limit:\n%s", daemon_bg.err + log_mark);
    CHECK(lines < 100, "%d accept failures logged in about a second: it spins", lines);
    for (int i = 0; i < FLOOD_CONNS; i++)
        if (held[i] >= 0)
            close(held[i]);
    saw(r, "soft limit %d fds, %d clients connected: %d accept failures logged (%.60s), then "
        "served again", limit, nheld, lines, l ? l : "");
}

/* A daemon as at the start (after a fault that ran another). */
static void restore_daemon(struct row *r)
{
    (void)r;
    if (daemon_restart(SIGTERM, lightvmd, -1, 0))
        take_baseline();
}

static void f_memory(struct row *r)
{
    /* Here (24 GiB, overcommit) a 4 GiB guest is only address space and
     * mapping it succeeds; what makes the allocation fail is an address
     * space limit on the daemon and so its VM processes (the release
     * build: the sanitizers' shadow memory needs terabytes of it). */
    unsigned long as = 2ul << 30;

    if (!daemon_restart(SIGTERM, lightvmd_rel, RLIMIT_AS, as) || !take_baseline())
        return;
    int st = LV("create", config("hm", "daytime.elf", 4096, BR, "10.81.2.5", NULL));
    saw(r, "create of a 4096 MiB VM under a 2 GiB address-space limit: status %d: %.*s", st,
        (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(st == 1 && strstr(cli.err, "hm") && strstr(cli.err, "memory"),
          "create hm: status %d: %s%s", st, cli.out, cli.err);
    CHECK(LV("info", "hm") == 1, "a failed create left hm: %s", cli.out);
}

static void f_bridge_deleted(struct row *r)
{
    char st[2][32], tap[32];

    /* two VMs on a bridge of their own (no pool flavor: the cold path) */
    CHECK(LV("create", config("b0", "daytime.elf", 8, BR2, "10.82.0.2", NULL)) == 0, "b0: %s",
          cli.err);
    CHECK(LV("create", config("b1", "daytime.elf", 8, BR2, "10.82.0.3", NULL)) == 0, "b1: %s",
          cli.err);
    CHECK(answers("10.82.0.2") && answers("10.82.0.3"), "b0/b1 do not answer");
    CHECK(ipcmd("link del " BR2) == 0, "ip link del " BR2);
    lvt_sleep_ms(200);
    for (int i = 0; i < 2; i++) {
        LV("info", i ? "b1" : "b0");
        info_field("state", st[i], sizeof(st[i]));
        CHECK(!strcmp(st[i], "running"), "b%d after its bridge went: %s", i, cli.out);
    }
    CHECK(LV("destroy", "b0") == 0 && LV("destroy", "b1") == 0, "destroy b0/b1: %s", cli.err);
    CHECK(ipcmd("link add " BR2 " address 02:1b:00:00:82:01 type bridge") == 0 &&
          ipcmd("addr add 10.82.0.1/16 dev " BR2) == 0
          && ipcmd("link set " BR2 " up") == 0, "recreating " BR2);
    /* a VM's tap deleted under it */
    CHECK(LV("create", daytime_cfg("td", "10.81.2.6")) == 0, "create td: %s", cli.err);
    CHECK(answers("10.81.2.6"), "td does not answer");
    LV("info", "td");
    const char *t = strstr(cli.out, "lvtap");
    snprintf(tap, sizeof(tap), "%.*s", t ? (int)strspn(t, "lvtap0123456789") : 0, t ? t : "");
    long tdpid = vm_pid("td");
    CHECK(tap[0] && ipcmd("link del %s", tap) == 0, "deleting td's tap '%s'", tap);
    /* A spin detector, not a speed check: an idle guest's process uses
     * next to no CPU; one that spins on its dead tap, all of a core. */
    double c0 = proc_cpu_ms((pid_t)tdpid), w0 = lvt_now_ms();
    lvt_sleep_ms(1000);
    double used = proc_cpu_ms((pid_t)tdpid) - c0, wall = lvt_now_ms() - w0;
    printf("    td's process used %.0f ms of CPU in the %.0f ms after its tap went\n", used,
           wall);
    CHECK(used < wall / 2, "td's process spins without its tap: %.0f ms of CPU in %.0f ms", used,
          wall);
    char tds[32], reason[128];
    LV("info", "td");
    info_field("state", tds, sizeof(tds));
    info_field("reason", reason, sizeof(reason));
    saw(r, "bridge deleted: b0 %s, b1 %s (no network; destroy cleans up); tap %s deleted: td "
        "%s%s%s", st[0], st[1], tap, tds, reason[0] ? ": " : "", reason);
    CHECK(LV("destroy", "td") == 0, "destroy td: %s", cli.err);
}

static void f_deaf_guest(struct row *r)
{
    struct lvt_bg sd;
    char console[200] = "";

    CHECK(LV("create", config("deaf", "selftest.elf", 8, NULL, NULL, "deaf")) == 0,
          "create deaf: %s", cli.err);
    for (int t = 0; t < 10000 && !strstr(console, "deaf:"); t += 100) {
        LV("console", "deaf");
        snprintf(console, sizeof(console), "%.199s", cli.out);
        lvt_sleep_ms(100);
    }
    CHECK(strstr(console, "interrupts masked"), "deaf guest console: %s", console);
    const char *argv[] = {lightvm, "shutdown", "deaf", "--timeout", "3000", "--rundir", rundir,
                          NULL};
    if (lvt_bg_start(&sd, argv) < 0)
        return;
    /* While the shutdown waits out the guest, another client is served:
     * its list comes back before the shutdown's reply (which takes the
     * 3 s the guest is given). */
    lvt_bg_pump(100);
    int list_ok = LV("list") == 0 && strstr(cli.out, "deaf");
    lvt_bg_pump(0);
    int before = sd.pid != 0;
    CHECK(list_ok && before, "list during a pending shutdown: status %d, the shutdown %s: %s",
          cli.status, before ? "still pending" : "already done", cli.err);
    lvt_bg_stop(&sd, 0, 30000);
    saw(r, "shutdown: %.*s (list served meanwhile: %s)", (int)strcspn(sd.out, "\n"), sd.out,
        list_ok && before ? "yes" : "no");
    CHECK(sd.status == 0 && strstr(sd.out, "did not shut down within 3000 ms"),
          "shutdown of a deaf guest: status %d: %s%s", sd.status, sd.out, sd.err);
    CHECK(LV("info", "deaf") == 1, "deaf is still there after its shutdown");
}

static int flood_fd = -1;

static void f_flood(struct row *r)
{
    static const char req[] = "{\"op\":\"list\"}\n";
    long sent = 0;

    flood_fd = raw_connect();
    CHECK(flood_fd >= 0, "connect");
    if (flood_fd < 0)
        return;
    fcntl(flood_fd, F_SETFL, O_NONBLOCK);
    /* requests, never reading a reply, until the socket takes no more */
    for (int stuck = 0; sent < 1000000 && stuck < 20;) {
        ssize_t n = send(flood_fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(req) - 1) {
            sent++;
            stuck = 0;
        } else {
            lvt_sleep_ms(10); /* the daemon may still be reading */
            stuck++;
        }
    }
    int st = LV("list");
    saw(r, "a client sent %ld requests and read nothing; another client's list: status %d",
        sent, st);
    CHECK(st == 0, "a second client was not served: %s", cli.err);
}

static void f_flood_after(struct row *r)
{
    (void)r;
    if (flood_fd >= 0)
        close(flood_fd);
    flood_fd = -1;
}

static void f_shutdown_max(struct row *r)
{
    char sock[128];
    json_t *rep = NULL, *req = json_pack("{s:s,s:s,s:I}", "op", "shutdown", "name", "s0",
                                        "timeout_ms", (json_int_t)2147483647);
    struct lv_err err = {""};

    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    int rc = lv_ctl_call(sock, req, 10000, &rep, &err);
    json_decref(req);
    json_decref(rep);
    int st = LV("shutdown", "s0", "--timeout", "2147483647");
    saw(r, "protocol: %s; lightvm shutdown --timeout 2147483647: status %d: %.*s",
        rc ? err.msg : "accepted", st, (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(rc == -EREMOTEIO && strstr(err.msg, "timeout_ms"),
          "timeout_ms 2147483647: rc %d: %s", rc, err.msg);
    CHECK(st == 2 && strstr(cli.err, "--timeout"), "CLI: status %d: %s", st, cli.err);
    CHECK(LV("info", "s0") == 0 && strstr(cli.out, "running"), "s0 after: %s", cli.out);
}

/* ---- main ---- */

static int setup(char *argv3)
{
    static char gabs[PATH_MAX];
    char opts[64];

    if (lvt_e2e_setup(argv3, gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return -1;
    gdir = gabs;
    /* in the test's own mount namespace: gone with it */
    snprintf(opts, sizeof(opts), "size=%dm,mode=0700", RUNDIR_MB);
    if (mount("lvtest-faults", rundir, "tmpfs", 0, opts) < 0) {
        fprintf(stderr, "FAIL: tmpfs on %s: %s\n", rundir, strerror(errno));
        return -1;
    }
    if (ipcmd("link set lo up") || lvt_bridge_add(&tool, ip_bin, BR, "10.81.0.1/16") ||
        lvt_bridge_add(&tool, ip_bin, BR2, "10.82.0.1/16")) {
        fprintf(stderr, "FAIL: bridge setup: %s\n", tool.err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct row faults[] = {
        {"kill -9 of a shell while it prepares", f_shell_kill, NULL, "", "", 0, 0},
        {"kill -9 of lightvmd mid-create, restart", f_daemon_kill, NULL, "", "", 0, 0},
        {"kill -9 of a VM process", f_vm_kill, NULL, "", "", 0, 0},
        {"VM process stopped (SIGSTOP), then destroy", f_vm_stopped, NULL, "", "", 0, 0},
        {"run directory's filesystem full", f_rundir_full, NULL, "", "", 0, 0},
        {"lightvmd at its fd limit", f_fd_limit, restore_daemon, "", "", 0, 0},
        {"VM memory that cannot be allocated", f_memory, restore_daemon, "", "", 0, 0},
        {"bridge deleted under VMs; a VM's tap deleted", f_bridge_deleted, NULL, "", "", 0, 0},
        {"guest that ignores shutdown", f_deaf_guest, NULL, "", "", 0, 0},
        {"client floods requests, never reads", f_flood, f_flood_after, "", "", 0, 0},
        {"shutdown with timeout_ms 2147483647", f_shutdown_max, NULL, "", "", 0, 0},
        {"kernel path that is a FIFO", f_fifo_kernel, NULL, "", "", 0, 0},
        {"image truncated while it loads", f_truncated_image, NULL, "", "", 0, 0},
        {"guest floods its console", f_console_flood, NULL, "", "", 0, 0},
        /* More faults go here (each: inject, say what the user saw, remove
         * its own VMs). */
    };
    const int nfaults = (int)(sizeof(faults) / sizeof(faults[0]));

    if (argc != 5) {
        fprintf(stderr, "usage: test_faults LIGHTVM LIGHTVMD GUEST_DIR RELEASE_LIGHTVMD\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    lightvmd_rel = argv[4];
    setvbuf(stdout, NULL, _IOLBF, 0);
    lvt_require_kvm();
    lvt_require_root("test_faults", "network namespaces, taps, mounts");
    if (setup(argv[3]) < 0)
        return 1;
    int ok = daemon_start(lightvmd, -1, 0);
    for (int i = 0; ok && i < NSTEADY; i++) {
        CHECK(LV("create", daytime_cfg(steady[i].name, steady[i].ip)) == 0, "create %s: %s",
              steady[i].name, cli.err);
        CHECK(answers(steady[i].ip), "%s does not answer", steady[i].name);
    }
    ok = ok && !lvt_failures && take_baseline();
    for (int i = 0; ok && i < nfaults; i++) {
        struct row *r = &faults[i];
        printf("=== fault: %s\n", r->name);
        log_mark = strlen(daemon_bg.err);
        int failures = lvt_failures;
        r->inject(r);
        if (lvt_failures > failures)
            why(r, "the fault's own checks failed (above)");
        check_recovered(r);
        if (r->after)
            r->after(r);
        check_clean(r);
        if (lvt_failures > failures)
            r->recovered = 0;
        printf("    saw: %s\n    recovered: %s, leaked nothing: %s%s%s\n", r->saw,
               r->recovered ? "yes" : "no", r->clean ? "yes" : "no", r->why[0] ? "\n    why: " : "",
               r->why);
        if (!daemon_up() && !daemon_start(lightvmd, -1, 0))
            break;
    }
    printf("\n%-46s | %-5s | %-5s | %s\n", "fault", "recov", "clean", "what the user saw");
    for (int i = 0; i < nfaults; i++) {
        struct row *r = &faults[i];
        printf("%-46s | %-5s | %-5s | %s\n", r->name, r->recovered ? "yes" : "no",
               r->clean ? "yes" : "no", r->saw[0] ? r->saw : "(not run)");
        CHECK(r->recovered && r->clean, "fault '%s': %s", r->name, r->why[0] ? r->why : "not run");
    }
    for (int i = 0; i < NSTEADY && daemon_up(); i++)
        CHECK(LV("destroy", steady[i].name) == 0, "destroy %s: %s", steady[i].name, cli.err);
    if (daemon_bg.pid)
        lvt_daemon_term(&daemon_bg);
    if (lvt_failures) {
        lvt_show_vmm_log(rundir, 60);
        fprintf(stderr, "lightvmd's log:\n%s\n", daemon_bg.err);
    }
    lvt_kill_netns_others();
    umount2(rundir, MNT_DETACH);
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_faults");
}
