/*
 * test_daytime: `lightvm run --net` end to end on real KVM, in a network
 * and mount namespace of the test's own (with its own sysfs), so the
 * host's interfaces are never touched. lwIP unikernels on one bridge:
 *
 *   1. namespace, lo up, bridge lvdt0 10.77.0.1/24
 *   2. a daytime VM (--wait-net): one "network up" line, `nc` gets a date
 *      of this year, minutes from the host's clock; a wrong reply is caught
 *   3. an httpd VM: `curl` gets HTTP/1.0 200 and the body
 *   4. 20 daytime VMs at once: all network up, all answer
 *   5. meanwhile vqcorrupt VMs (idx, addr, loop, len): the VMM stops each
 *      (125, a "vm stopped" line about the queue); the 20 still answer
 *   6. SIGTERM to all (143); no tap, no bridge, no process left
 *   7. `--net BRIDGE,create` under strace: lightvm executes nothing
 *
 * usage: test_daytime LIGHTVM GUEST_DIR (images built by
 * `make guest LWIP_APPS="daytime httpd"`). Needs KVM and root (network
 * namespaces, taps): skips without either, fails under LIGHTVM_REQUIRE_KVM=1.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "lvtest.h"

#define BR "lvdt0"      /* made by the test */
#define BR2 "lvdt1"     /* made by lightvm (create) */
#define HOST_IP "10.77.0.1"
#define NMANY 20
#define UP_LINE "lightvm: network up in "

/* Bounds (nested KVM under TCG is slow; these only bound the waits). */
#define UP_ONE_MS (120 * 1000)
#define UP_MANY_MS (300 * 1000)
#define STOP_MS (60 * 1000)
#define CLOCK_SLACK_S 300 /* guest clock vs host clock */

struct vm {
    struct lvt_bg bg;
    char name[32];
    char ip[24];
    int started;
    int may_end;     /* expected to end on its own (vqcorrupt) */
    int up;          /* the network-up line arrived */
    double seen_ms;  /* when the test read it, from the fork */
};

static const char *lightvm, *gdir;
static const char *ip_bin, *nc_bin, *curl_bin;
static struct vm day1, httpd1, many[NMANY], bad[4];
static struct vm *all_vms[] = {&day1, &httpd1, &bad[0], &bad[1], &bad[2], &bad[3]};
static struct lvt_bg tool; /* nc, curl, ip: one at a time */

#define ipcmd(...) lvt_ip(&tool, ip_bin, __VA_ARGS__)

/* ------------------------------------------------------------ daytime replies */

/* 1 if (reply) is one RFC 867 line as the daytime guest sends it
 * ("Sun Nov 22 09:30:05 2026\r\n", UTC) of the host's current year and
 * within CLOCK_SLACK_S of (now); else 0 with the reason in (why). */
static int daytime_ok(const char *reply, time_t now, char *why, size_t cap)
{
    struct tm tm, chk, lo, hi;
    time_t lo_t = now - CLOCK_SLACK_S, hi_t = now + CLOCK_SLACK_S;
    const char *end;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    tm.tm_wday = -1;
    end = strptime(reply, "%a %b %d %H:%M:%S %Y", &tm);
    if (!end) {
        snprintf(why, cap, "not a date: \"%.80s\"", reply);
        return 0;
    }
    if (strcmp(end, "\r\n")) {
        snprintf(why, cap, "after the date: \"%.40s\", want exactly \"\\r\\n\"", end);
        return 0;
    }
    gmtime_r(&lo_t, &lo);
    gmtime_r(&hi_t, &hi);
    /* the host's year (either side of the slack, for New Year's Eve) */
    if (tm.tm_year != lo.tm_year && tm.tm_year != hi.tm_year) {
        snprintf(why, cap, "year %d, host's is %d", tm.tm_year + 1900, hi.tm_year + 1900);
        return 0;
    }
    int wday = tm.tm_wday;
    t = timegm(&tm);
    gmtime_r(&t, &chk);
    if (wday != chk.tm_wday) {
        snprintf(why, cap, "weekday in \"%.30s\" does not match the date", reply);
        return 0;
    }
    if (t < lo_t || t > hi_t) {
        snprintf(why, cap, "%+lld s from the host's clock (UTC)", (long long)(t - now));
        return 0;
    }
    return 1;
}

/* The validator must accept a right reply and refuse wrong ones. */
static void test_validator(void)
{
    time_t now = time(NULL), t;
    struct tm tm;
    char good[64], why[128], b[64];
    const char *fmts[] = {"%a %b %d %H:%M:%S %Y\r\n", "%a %b %e %H:%M:%S %Y\r\n"};
    static const struct {
        long shift;      /* seconds from now */
        const char *fmt; /* strftime format of the wrong reply */
    } wrong[] = {
        {0, ""},
        {0, "hello\r\n"},
        {0, "%a %b %d %H:%M:%S %Y"},            /* no CRLF */
        {0, "%a %b %d %H:%M:%S %Y\r\n\r\n"},    /* two lines */
        {0, "%a %b %d %H:%M:%S %Y\r\nextra"},
        {0, "%a %b %d %H:%M:%S\r\n"},           /* no year */
        {-366L * 86400, "%a %b %d %H:%M:%S %Y\r\n"},
        {+366L * 86400, "%a %b %d %H:%M:%S %Y\r\n"},
        {3600, "%a %b %d %H:%M:%S %Y\r\n"},     /* an hour off: a time zone */
        {-3600, "%a %b %d %H:%M:%S %Y\r\n"},
        {0, "Xyz %b %d %H:%M:%S %Y\r\n"},
        {0, "%a %b %d 25:%M:%S %Y\r\n"},
        {0, "%Y-%m-%dT%H:%M:%SZ\r\n"},          /* a date, but not this format */
    };

    gmtime_r(&now, &tm);
    for (size_t i = 0; i < 2; i++) {
        strftime(good, sizeof(good), fmts[i], &tm);
        CHECK(daytime_ok(good, now, why, sizeof(why)), "validator refuses \"%s\": %s", good, why);
    }
    /* wrong weekday: the day after's weekday name with today's date */
    t = now + 86400;
    struct tm tmr;
    gmtime_r(&t, &tmr);
    strftime(b, sizeof(b), "%a", &tmr);
    strftime(good, sizeof(good), " %b %d %H:%M:%S %Y\r\n", &tm);
    char wd[160];
    snprintf(wd, sizeof(wd), "%s%s", b, good);
    CHECK(!daytime_ok(wd, now, why, sizeof(why)), "validator takes a wrong weekday: \"%s\"", wd);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        t = now + wrong[i].shift;
        gmtime_r(&t, &tmr);
        b[0] = '\0';
        strftime(b, sizeof(b), wrong[i].fmt, &tmr);
        CHECK(!daytime_ok(b, now, why, sizeof(why)), "validator takes wrong reply %zu \"%s\"", i,
              b);
    }
}

/* nc to the daytime port of (ip): 1 if the reply is valid. */
static int daytime_ask(const char *ip, char *why, size_t cap)
{
    const char *argv[] = {nc_bin, "-w", "5", ip, "13", NULL};
    int st = lvt_bg_run(&tool, 30000, argv);

    if (st != 0) {
        snprintf(why, cap, "nc %s 13: status %d%s: %.200s", ip, st,
                 tool.timed_out ? " (timed out)" : "", tool.err);
        return 0;
    }
    char r[128];
    if (!daytime_ok(tool.out, time(NULL), r, sizeof(r))) {
        snprintf(why, cap, "nc %s 13: %s", ip, r);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ VMs */

/* Milliseconds left until (deadline), at least 0. */
static int left_ms(double deadline)
{
    double l = deadline - lvt_now_ms();
    return l > 0 ? (int)l : 0;
}

static void vm_start(struct vm *v, const char *name, const char *app, const char *ip,
                     const char *netextra, int wait_net, const char *cmdline)
{
    static char image[PATH_MAX], net[160];
    const char *argv[16];
    int n = 0;

    snprintf(v->name, sizeof(v->name), "%s", name);
    snprintf(v->ip, sizeof(v->ip), "%s", ip);
    snprintf(image, sizeof(image), "%s/%s.elf", gdir, app);
    snprintf(net, sizeof(net), "%s,ip=%s/24,gw=%s%s", BR, ip, HOST_IP, netextra ? netextra : "");
    argv[n++] = lightvm;
    argv[n++] = "run";
    argv[n++] = image;
    argv[n++] = "--memory";
    argv[n++] = "8M";
    argv[n++] = "--net";
    argv[n++] = net;
    if (wait_net) {
        argv[n++] = "--wait-net";
        argv[n++] = HOST_IP;
    }
    if (cmdline) {
        argv[n++] = "--cmdline";
        argv[n++] = cmdline;
    }
    argv[n] = NULL;
    v->up = 0;
    v->started = lvt_bg_start(&v->bg, argv) == 0;
    CHECK(v->started, "%s: cannot start %s: %s", name, lightvm, strerror(errno));
}

/* Checks the network-up line: exactly one, "lightvm: network up in
 * N.NNN ms" on a line of its own, N no more than the time the test
 * took to see it (lightvm counts from its own start, after the fork). */
static void check_up_line(struct vm *v)
{
    const char *e = v->bg.err, *p = strstr(e, UP_LINE), *q;
    char *end;
    double ms;

    CHECK(p && (p == e || p[-1] == '\n'), "%s: no network-up line at a line start: %s", v->name,
          e);
    if (!p)
        return;
    CHECK(!strstr(p + 1, UP_LINE), "%s: more than one network-up line: %s", v->name, e);
    q = p + strlen(UP_LINE);
    ms = strtod(q, &end);
    const char *dot = strchr(q, '.');
    CHECK(end > q && dot && dot < end && end - dot == 4 && !strncmp(end, " ms\n", 4) && ms > 0,
          "%s: network-up line malformed: \"%.60s\"", v->name, p);
    CHECK(ms <= v->seen_ms + 5, "%s: network up in %.3f ms, but the test saw the line %.3f ms "
          "after starting lightvm", v->name, ms, v->seen_ms);
}

/* Waits (bounded) until each of the (n) VMs printed its network-up line
 * or ended. Returns how many are up. */
static int wait_up(struct vm **vs, int n, int timeout_ms)
{
    double deadline = lvt_now_ms() + timeout_ms;
    int up = 0, pending = n;

    while (pending > 0 && lvt_now_ms() < deadline) {
        lvt_bg_pump(100);
        pending = 0;
        for (int i = 0; i < n; i++) {
            struct vm *v = vs[i];
            if (!v->started || v->up)
                continue;
            if (strstr(v->bg.err, UP_LINE)) {
                v->up = 1;
                v->seen_ms = lvt_now_ms() - v->bg.t0_ms;
            } else if (v->bg.pid) {
                pending++;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        struct vm *v = vs[i];
        if (!v->started)
            continue;
        if (v->up) {
            up++;
            check_up_line(v);
        } else {
            CHECK(0, "%s (%s): no network-up line %s (status %d)\nstdout: %.500s\nstderr: %.1500s",
                  v->name, v->ip, v->bg.pid ? "within the bound, still running" : "before it ended",
                  v->bg.status, v->bg.out, v->bg.err);
        }
    }
    return up;
}

/* ------------------------------------------------------------ the host side */

struct links {
    int taps, bridges;
    char names[512];   /* taps, for messages */
    int bad;           /* taps not named lvtapN, not up, or not on BR (when on_br) */
    char badmsg[512];
};

/* Counts tun links (tun_flags) and bridges in this namespace's sysfs. */
static void links_scan(struct links *l, const char *want_master)
{
    DIR *d = opendir("/sys/class/net");
    struct dirent *de;

    memset(l, 0, sizeof(*l));
    CHECK(d != NULL, "opendir /sys/class/net: %s", strerror(errno));
    if (!d)
        return;
    while ((de = readdir(d))) {
        char m[PATH_MAX], path[300];
        const char *n = de->d_name;
        if (n[0] == '.')
            continue;
        if (lvt_sys_exists(n, "bridge"))
            l->bridges++;
        if (!lvt_sys_exists(n, "tun_flags"))
            continue;
        l->taps++;
        snprintf(l->names + strlen(l->names), sizeof(l->names) - strlen(l->names), " %s", n);
        if (!want_master)
            continue;
        snprintf(path, sizeof(path), "/sys/class/net/%s/master", n);
        ssize_t k = readlink(path, m, sizeof(m) - 1);
        m[k > 0 ? k : 0] = '\0';
        const char *mb = strrchr(m, '/');
        unsigned long tf = lvt_sys_num(n, "tun_flags");
        if (strncmp(n, "lvtap", 5) || !(lvt_sys_num(n, "flags") & IFF_UP) ||
            !(tf & IFF_TAP) || !mb || strcmp(mb + 1, want_master)) {
            l->bad++;
            snprintf(l->badmsg + strlen(l->badmsg), sizeof(l->badmsg) - strlen(l->badmsg),
                     " %s(flags %#lx tun_flags %#lx master %s)", n, lvt_sys_num(n, "flags"), tf,
                     mb ? mb + 1 : "none");
        }
    }
    closedir(d);
}

/* Polls (bounded) until there are (want) taps; 1 if so. */
static int wait_taps(int want, struct links *l)
{
    for (int t = 0; t < 10000; t += 20) {
        links_scan(l, NULL);
        if (l->taps == want)
            return 1;
        lvt_sleep_ms(20);
    }
    links_scan(l, NULL);
    return l->taps == want;
}


/* ------------------------------------------------------------ cases */

static void case_daytime(void)
{
    char why[512];
    FILE *f;
    char line[256];
    int found = 0;

    vm_start(&day1, "daytime", "daytime", "10.77.0.2", ",mac=02:77:00:00:00:02", 1, NULL);
    struct vm *vs[] = {&day1};
    if (wait_up(vs, 1, UP_ONE_MS) != 1)
        return;
    printf("daytime: %s", strstr(day1.bg.err, UP_LINE));
    CHECK(daytime_ask("10.77.0.2", why, sizeof(why)), "daytime VM: %s", why);
    printf("daytime reply: %s", tool.out);
    /* the bad case, for real: no service on port 14, no date */
    const char *argv[] = {nc_bin, "-w", "5", "10.77.0.2", "14", NULL};
    int st = lvt_bg_run(&tool, 30000, argv);
    CHECK(st != 0 || !daytime_ok(tool.out, time(NULL), why, sizeof(why)),
          "port 14 of the daytime VM gave a valid date (status %d): \"%s\"", st, tool.out);
    /* mac= reached the guest: the host learnt 10.77.0.2 at that address */
    f = fopen("/proc/net/arp", "r");
    CHECK(f != NULL, "/proc/net/arp: %s", strerror(errno));
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "10.77.0.2 ", 10)) {
            found = 1;
            CHECK(strstr(line, "02:77:00:00:00:02"), "ARP entry of the daytime VM: %s", line);
        }
    if (f)
        fclose(f);
    CHECK(found, "no ARP entry for 10.77.0.2 after talking to it");
}

static void case_httpd(void)
{
    const char *argv[] = {curl_bin, "-s", "-m", "10", "-i", "http://10.77.0.3/", NULL};
    struct vm *vs[] = {&httpd1};
    int st;

    vm_start(&httpd1, "httpd", "httpd", "10.77.0.3", NULL, 1, NULL);
    if (wait_up(vs, 1, UP_ONE_MS) != 1)
        return;
    st = lvt_bg_run(&tool, 30000, argv);
    const char *body = strstr(tool.out, "\r\n\r\n");
    CHECK(st == 0, "curl http://10.77.0.3/: status %d%s: %s", st,
          tool.timed_out ? " (timed out)" : "", tool.err);
    CHECK(!strncmp(tool.out, "HTTP/1.0 200", 12), "httpd status line: \"%.80s\"", tool.out);
    CHECK(body && strstr(body, "hello from lightvm"), "httpd body lacks \"hello from lightvm\":\n%s",
          tool.out);
}

static void case_many(void)
{
    struct vm *vs[NMANY];
    char name[32], ip[24], why[512];
    struct links l;
    int up, ok = 0;

    for (int i = 0; i < NMANY; i++) {
        snprintf(name, sizeof(name), "daytime#%d", i);
        snprintf(ip, sizeof(ip), "10.77.0.%d", 10 + i);
        vm_start(&many[i], name, "daytime", ip, NULL, 1, NULL);
        vs[i] = &many[i];
    }
    up = wait_up(vs, NMANY, UP_MANY_MS);
    printf("%d of %d daytime VMs network up\n", up, NMANY);
    CHECK(up == NMANY, "only %d of %d daytime VMs reached network up", up, NMANY);
    for (int i = 0; i < NMANY; i++) {
        if (!many[i].up)
            continue;
        int good = daytime_ask(many[i].ip, why, sizeof(why));
        CHECK(good, "%s: %s", many[i].name, why);
        ok += good;
    }
    printf("%d of %d daytime VMs answered\n", ok, NMANY);
    links_scan(&l, BR);
    CHECK(l.bad == 0, "taps not named lvtapN, not up or not on " BR ":%s", l.badmsg);
}

static void case_vqcorrupt(void)
{
    static const char *kinds[] = {"idx", "addr", "loop", "len"};
    char name[32], ip[24], why[512];
    int running = 0, want_taps = 0;
    struct links l;

    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "vqcorrupt %s", kinds[i]);
        snprintf(ip, sizeof(ip), "10.77.0.%d", 40 + i);
        vm_start(&bad[i], name, "vqcorrupt", ip, NULL, 0, kinds[i]);
        bad[i].may_end = 1;
    }
    double deadline = lvt_now_ms() + UP_ONE_MS; /* one bound for all four */
    for (int i = 0; i < 4; i++) {
        struct vm *v = &bad[i];
        if (!v->started)
            continue;
        int st = lvt_bg_stop(&v->bg, 0, left_ms(deadline)); /* SIGKILL at the bound */
        const char *line = strstr(v->bg.err, "lightvm run: vm stopped: ");
        char first[256] = "";
        if (line)
            snprintf(first, sizeof(first), "%.*s", (int)strcspn(line, "\n"), line);
        printf("%s: status %d: %s\n", v->name, st, first);
        CHECK(!v->bg.timed_out, "%s: still running after %d s: the VMM did not stop it",
              v->name, UP_ONE_MS / 1000);
        CHECK(st == 125, "%s: status %d, want 125\nstderr: %.1500s", v->name, st, v->bg.err);
        CHECK(line && strcasestr(first, "queue"), "%s: no \"lightvm run: vm stopped: ...\" line "
              "naming the virtqueue problem:\n%.1500s", v->name, v->bg.err);
    }
    /* the 20 (and the earlier two) still run and answer */
    for (int i = 0; i < NMANY; i++) {
        if (!many[i].up)
            continue;
        CHECK(many[i].bg.pid != 0, "%s ended (status %d) while the vqcorrupt VMs ran: %.500s",
              many[i].name, many[i].bg.status, many[i].bg.err);
        if (!many[i].bg.pid)
            continue;
        running++;
        CHECK(daytime_ask(many[i].ip, why, sizeof(why)), "%s after the vqcorrupt VMs: %s",
              many[i].name, why);
    }
    printf("%d daytime VMs still answer after the vqcorrupt VMs\n", running);
    /* the vqcorrupt VMs' taps went with them */
    for (size_t i = 0; i < sizeof(all_vms) / sizeof(all_vms[0]); i++)
        want_taps += all_vms[i]->bg.pid != 0;
    for (int i = 0; i < NMANY; i++)
        want_taps += many[i].bg.pid != 0;
    CHECK(wait_taps(want_taps, &l), "%d taps for %d running VMs:%s", l.taps, want_taps, l.names);
}

/* SIGTERM to every VM still running: each ends with 143. */
static void case_stop_all(void)
{
    struct vm *vs[NMANY + 6];
    int n = 0, stopped = 0, term[NMANY + 6] = {0};

    for (size_t i = 0; i < sizeof(all_vms) / sizeof(all_vms[0]); i++)
        vs[n++] = all_vms[i];
    for (int i = 0; i < NMANY; i++)
        vs[n++] = &many[i];
    lvt_bg_pump(0); /* reap what ended on its own */
    for (int i = 0; i < n; i++) {
        struct vm *v = vs[i];
        if (!v->started || v->may_end)
            continue;
        CHECK(v->bg.pid != 0, "%s ended on its own (status %d) before SIGTERM\nstderr: %.1500s",
              v->name, v->bg.status, v->bg.err);
        if (v->bg.pid && kill(-v->bg.pgid, SIGTERM) == 0)
            term[i] = 1;
    }
    /* (waiting for one reaps the others as they end: each is checked) */
    double deadline = lvt_now_ms() + STOP_MS;
    for (int i = 0; i < n; i++) {
        struct vm *v = vs[i];
        if (!term[i])
            continue;
        int st = lvt_bg_stop(&v->bg, 0, left_ms(deadline));
        stopped++;
        CHECK(!v->bg.timed_out, "%s: still running %d s after SIGTERM", v->name, STOP_MS / 1000);
        CHECK(st == 143, "%s: status %d after SIGTERM, want 143\nstderr: %.1500s", v->name, st,
              v->bg.err);
    }
    printf("%d VMs stopped with SIGTERM\n", stopped);
}

/* No tap and no bridge left; no process of the test's left. */
static void check_clean(const char *when)
{
    struct links l;
    char list[1024];
    int others;

    CHECK(wait_taps(0, &l), "%s: %d tun link(s) left:%s", when, l.taps, l.names);
    CHECK(l.bridges == 0, "%s: %d bridge(s) left", when, l.bridges);
    others = lvt_netns_others(NULL, 0, list, sizeof(list));
    CHECK(others == 0, "%s: processes left in the test's network namespace:%s", when, list);
    for (int i = 0; i < NMANY; i++)
        CHECK(!many[i].started || kill(-many[i].bg.pgid, 0) < 0,
              "%s: process group of %s still exists", when, many[i].name);
    for (size_t i = 0; i < sizeof(all_vms) / sizeof(all_vms[0]); i++)
        CHECK(!all_vms[i]->started || kill(-all_vms[i]->bg.pgid, 0) < 0,
              "%s: process group of %s still exists", when, all_vms[i]->name);
}

/* lightvm creates the bridge itself, under strace: it must execute
 * nothing, from start to SIGTERM. */
static void case_no_exec(void)
{
    static char image[PATH_MAX];
    static struct lvt_bg bg;
    struct lvt_strace s;
    char why[512] = "no attempt";
    int tap_ready = 0, answered = 0;

    CHECK(!lvt_sys_exists(BR2, NULL), BR2 " exists before lightvm was to create it");
    snprintf(image, sizeof(image), "%s/daytime.elf", gdir);
    const char *cmd[] = {lightvm, "run", image, "--memory", "8M", "--net",
                         BR2 ",ip=10.77.1.2/24,create", NULL};
    if (lvt_strace_prepare(&s, cmd) < 0)
        return;
    int started = lvt_bg_start(&bg, s.argv) == 0;
    lvt_strace_restore_env(&s);
    CHECK(started, "cannot start strace: %s", strerror(errno));
    if (!started)
        return;
    /* lightvm's network setup is done when its tap is up on the bridge
     * it created (no --wait-net: the host has no address there yet). */
    for (int t = 0; t < UP_ONE_MS && bg.pid && !tap_ready; t += 50) {
        struct links l;
        lvt_bg_pump(50);
        if (lvt_sys_exists(BR2, "bridge")) {
            links_scan(&l, BR2);
            tap_ready = l.taps == 1 && l.bad == 0;
        }
    }
    CHECK(tap_ready, "lightvm did not create " BR2 " with its tap up on it (running: %s)\n%s",
          bg.pid ? "yes" : "no", bg.err);
    if (tap_ready && ipcmd("addr add 10.77.1.1/24 dev " BR2) == 0 &&
        ipcmd("link set " BR2 " up") == 0) {
        /* the guest may still be booting: ask a bounded number of times */
        for (int i = 0; i < 20 && !answered && bg.pid; i++) {
            answered = daytime_ask("10.77.1.2", why, sizeof(why));
            if (!answered)
                lvt_bg_pump(1000);
        }
        CHECK(answered, "daytime VM on " BR2 " (under strace) did not answer: %s", why);
    }
    int st = lvt_bg_stop(&bg, SIGTERM, STOP_MS);
    CHECK(st == 143 && !bg.timed_out, "lightvm under strace: status %d%s after SIGTERM, want 143\n%s",
          st, bg.timed_out ? " (killed at the bound)" : "", bg.err);
    lvt_strace_check_one_exec(&s, lightvm);
    /* lightvm made the bridge: it went with its last tap */
    CHECK(!lvt_sys_exists(BR2, NULL), BR2 ", made by lightvm run, is still there after it");
    if (lvt_sys_exists(BR2, NULL))
        CHECK(ipcmd("link del " BR2) == 0, "cannot delete " BR2);
}

int main(int argc, char **argv)
{
    static const char *const ips[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", NULL};
    static const char *const ncs[] = {"/usr/bin/nc", "/bin/nc", NULL};
    static const char *const curls[] = {"/usr/bin/curl", "/bin/curl", NULL};
    static const char *const apps[] = {"daytime", "httpd", "vqcorrupt"};
    char why[256], image[PATH_MAX];
    int images = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: test_daytime LIGHTVM GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    gdir = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_validator();
    lvt_require_kvm();
    lvt_require_root("test_daytime", "network namespaces, taps");
    ip_bin = lvt_find_exe(ips);
    nc_bin = lvt_find_exe(ncs);
    curl_bin = lvt_find_exe(curls);
    CHECK(ip_bin && nc_bin && curl_bin, "missing ip, nc or curl (scripts/deps.sh installs iproute2, "
          "netcat-openbsd, curl)");
    CHECK(access(lightvm, X_OK) == 0, "%s: %s", lightvm, strerror(errno));
    for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++) {
        snprintf(image, sizeof(image), "%s/%s.elf", gdir, apps[i]);
        if (access(image, R_OK)) {
            CHECK(0, "guest image %s missing (%s): build it with make guest "
                  "LWIP_APPS=\"daytime httpd\"", image, strerror(errno));
            images = 0;
        }
    }
    if (!ip_bin || !nc_bin || !curl_bin || access(lightvm, X_OK))
        return lvt_done("test_daytime");
    /* Without the images: the namespace, bridge and clean-up checks only
     * (the missing images already failed the test). */

    /* 1. the test's own network namespace, lo up, the bridge */
    if (lvt_private_netns(why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: private network namespace: %s\n", why);
        return 1;
    }
    CHECK(lvt_sys_exists("lo", NULL) && !lvt_sys_exists(BR, NULL) && !lvt_sys_exists(BR2, NULL),
          "sysfs does not show a fresh network namespace");
    if (ipcmd("link set lo up") || lvt_bridge_add(&tool, ip_bin, BR, HOST_IP "/24")) {
        CHECK(0, "bridge setup in the test's namespace failed");
        return lvt_done("test_daytime");
    }
    CHECK(lvt_sys_exists(BR, "bridge") && (lvt_sys_num(BR, "flags") & IFF_UP),
          BR " is not an up bridge");

    if (images) {
        case_daytime();          /* 2 */
        case_httpd();            /* 3 */
        case_many();             /* 4 */
        case_vqcorrupt();        /* 5 */
    }
    case_stop_all();             /* 6 */
    CHECK(ipcmd("link del " BR) == 0, "cannot delete " BR);
    check_clean("after SIGTERM to all VMs");
    if (images) {
        case_no_exec();          /* 7 */
        check_clean("after the strace run");
    }
    return lvt_done("test_daytime");
}
