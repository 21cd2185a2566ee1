/*
 * test_load: httpd VMs under a real HTTP load tool while other VMs are
 * created and destroyed around them through lightvmd, on real KVM, in a
 * network and mount namespace of the test's own:
 *
 *   1. lightvmd with a pool of bridge-attached shells; NHTTP httpd VMs
 *   2. one `ab` per httpd VM (concurrency 4, 6, 8...) and, meanwhile,
 *      daytime VMs created, asked the time and destroyed, one after another
 *   3. every ab: all requests complete, "Failed requests: 0", no non-2xx;
 *      every churned VM answered before it was destroyed
 *   4. every httpd VM still listed, running and answering; the daemon has
 *      the same number of fds as before the load (pool full both times)
 *   5. everything destroyed, lightvmd stopped: no process, tap, VM
 *      directory or shell directory left
 *
 * Counts, not times: the requests per VM come from LIGHTVM_LOAD_REQUESTS,
 * or else from a short warm-up run, so that a host 20-100x slower (a nested
 * VM) runs fewer (100..6000 per VM). No timing is checked.
 *
 * usage: test_load LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM (skips without
 * it, fails under LIGHTVM_REQUIRE_KVM=1), root and ab (apache2-utils).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lvtest.h"

#define BR "lvld0"
#define HOST_IP "10.81.0.1"
#define NHTTP 3
#define POOL 6
#define MAX_CHURN 400

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin, *ab_bin;
static char rundir[64] = "/tmp/lvtest-load-XXXXXX", cfgdir[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

/* `lightvm ARGS... --rundir RUNDIR` (NULL-terminated): its status, output in cli. */
#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

/* httpd VM i: 10.81.1.(i+2); churn VM k: 10.81.(k/200+2).(k%200+2). */
static void vm_ip(int httpd, int k, char *buf, size_t cap)
{
    if (httpd)
        snprintf(buf, cap, "10.81.1.%d", k + 2);
    else
        snprintf(buf, cap, "10.81.%d.%d", k / 200 + 2, k % 200 + 2);
}

static const char *config(const char *name, int httpd, int k)
{
    static char path[PATH_MAX + 64];
    char buf[1024], ip[24];

    vm_ip(httpd, k, ip, sizeof(ip));
    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"kernel\":\"%s/%s.elf\",\"memory\":8,\"vifs\":[{\"bridge\":\"" BR
             "\",\"ip\":\"%s/16\",\"gw\":\"" HOST_IP "\"}]}",
             name, gdir, httpd ? "httpd" : "daytime", ip);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

static int daytime_answers(int k)
{
    char ip[24];

    vm_ip(0, k, ip, sizeof(ip));
    return lvt_daytime_answers(&tool, nc_bin, ip, "5");
}

/* ab's argv for httpd VM i: (n) requests, concurrency (c). */
static void ab_argv(const char **argv, char *nbuf, char *cbuf, char *url, int i, int n, int c)
{
    char ip[24];

    vm_ip(1, i, ip, sizeof(ip));
    snprintf(nbuf, 16, "%d", n);
    snprintf(cbuf, 16, "%d", c);
    snprintf(url, 64, "http://%s/", ip);
    const char *a[] = {ab_bin, "-q", "-s", "30", "-n", nbuf, "-c", cbuf, url, NULL};
    memcpy(argv, a, sizeof(a));
}

/* The number after (key) in ab's output, or -1. */
static double ab_field(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

/* ab's verdict on (n) requests: 1 if all completed, none failed, all 2xx. */
static int ab_clean(const struct lvt_bg *b, int n, const char *who)
{
    int ok = b->status == 0 && ab_field(b->out, "Complete requests:") == n &&
             ab_field(b->out, "Failed requests:") == 0 && !strstr(b->out, "Non-2xx responses");
    CHECK(ok, "ab against %s: status %d, %.0f complete of %d, %.0f failed%s\n%s%s", who, b->status,
          ab_field(b->out, "Complete requests:"), n, ab_field(b->out, "Failed requests:"),
          strstr(b->out, "Non-2xx") ? ", non-2xx responses" : "", b->out, b->err);
    return ok;
}

static int daemon_start(void)
{
    char pool[64];
    snprintf(pool, sizeof(pool), "8,1,%d," BR, POOL);
    const char *argv[] = {lightvmd, "--rundir", rundir, "--pool", pool, NULL};

    if (lvt_bg_start(&daemon_bg, argv) < 0) {
        CHECK(0, "cannot start %s: %s", lightvmd, strerror(errno));
        return 0;
    }
    return lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir);
}

static void pool_wait(void)
{
    lvt_pool_wait(&cli, lightvm, rundir, POOL);
}

/* Creates the httpd VMs and waits (bounded) until each answers one request. */
static int start_httpds(void)
{
    char name[32], nb[16], cb[16], url[64];
    const char *argv[16];
    int up = 0;

    for (int i = 0; i < NHTTP; i++) {
        snprintf(name, sizeof(name), "web%d", i);
        /* --wait-net: back once the guest is on the network (it listens by then) */
        CHECK(lv("create", config(name, 1, i), "--wait-net", HOST_IP, NULL) == 0,
              "create %s: %s", name, cli.err);
    }
    for (int i = 0; i < NHTTP; i++) {
        int ok = 0;
        ab_argv(argv, nb, cb, url, i, 1, 1);
        ok = lvt_bg_run(&tool, 60000, argv) == 0 && ab_field(tool.out, "Failed requests:") == 0;
        CHECK(ok, "web%d never answered a request: %s%s", i, tool.out, tool.err);
        up += ok;
    }
    return up == NHTTP;
}

/* Requests per VM: LIGHTVM_LOAD_REQUESTS, or ~8 s of what a warm-up run
 * managed, 100..3000. */
static int requests_per_vm(void)
{
    char nb[16], cb[16], url[64];
    const char *argv[16];
    const char *env = getenv("LIGHTVM_LOAD_REQUESTS");

    if (env && atoi(env) > 0)
        return atoi(env);
    ab_argv(argv, nb, cb, url, 0, 100, 4);
    double rps = lvt_bg_run(&tool, 120000, argv) == 0 ? ab_field(tool.out, "Requests per second:")
                                                      : 0;
    int n = (int)(rps * 8 / NHTTP);
    return n < 100 ? 100 : n > 6000 ? 6000 : n;
}

static void case_load(void)
{
    struct lvt_bg ab[NHTTP];
    char nb[NHTTP][16], cb[NHTTP][16], url[NHTTP][64], name[32];
    const char *argv[NHTTP][16];
    int n = requests_per_vm(), running = 0, churned = 0, answered = 0, clean = 0;

    pool_wait();
    int fds0 = lvt_fd_count(daemon_bg.pid);
    for (int i = 0; i < NHTTP; i++) {
        ab_argv(argv[i], nb[i], cb[i], url[i], i, n, 4 + 2 * i);
        CHECK(lvt_bg_start(&ab[i], argv[i]) == 0, "cannot start ab: %s", strerror(errno));
    }
    /* VMs come and go while ab runs: bounded by MAX_CHURN */
    for (int k = 0; k < MAX_CHURN; k++) {
        running = 0;
        for (int i = 0; i < NHTTP; i++)
            running += ab[i].pid != 0;
        if (!running)
            break;
        snprintf(name, sizeof(name), "churn%d", k);
        if (lv("create", config(name, 0, k), "--wait-net", HOST_IP, NULL) != 0) {
            CHECK(0, "create %s under load: %s", name, cli.err);
            continue;
        }
        churned++;
        answered += daytime_answers(k);
        CHECK(lv("destroy", name, NULL) == 0, "destroy %s under load: %s", name, cli.err);
        lvt_bg_pump(0);
    }
    for (int i = 0; i < NHTTP; i++) {
        char who[16];
        snprintf(who, sizeof(who), "web%d", i);
        lvt_bg_stop(&ab[i], 0, 600000);
        clean += ab_clean(&ab[i], n, who);
        printf("web%d: %d requests at concurrency %s: %.0f failed, %.0f requests/s\n", i, n,
               cb[i], ab_field(ab[i].out, "Failed requests:"),
               ab_field(ab[i].out, "Requests per second:"));
    }
    printf("%d VMs created and destroyed under the load, %d answered daytime\n", churned, answered);
    CHECK(churned > 0 && answered == churned, "%d of %d churned VMs answered", answered, churned);
    CHECK(running == 0 || churned == MAX_CHURN, "ab still running after the churn loop");
    /* after the load: every httpd VM listed, running and answering */
    for (int i = 0; i < NHTTP; i++) {
        char nbuf[16], cbuf[16], u[64];
        const char *a[16];
        snprintf(name, sizeof(name), "web%d", i);
        CHECK(lv("info", name, NULL) == 0 && strstr(cli.out, "state: running"),
              "%s after the load: %s%s", name, cli.out, cli.err);
        ab_argv(a, nbuf, cbuf, u, i, 20, 2);
        CHECK(lvt_bg_run(&tool, 60000, a) == 0 && ab_field(tool.out, "Failed requests:") == 0,
              "%s does not answer after the load: %s", name, tool.out);
    }
    pool_wait();
    int fds1 = lvt_fd_count(daemon_bg.pid);
    CHECK(fds0 > 0 && fds1 == fds0, "lightvmd had %d fds before the load and %d after", fds0,
          fds1);
}

static void case_end(void)
{
    char name[32], p[PATH_MAX];

    for (int i = 0; i < NHTTP; i++) {
        snprintf(name, sizeof(name), "web%d", i);
        CHECK(lv("destroy", name, NULL) == 0, "destroy %s: %s", name, cli.err);
    }
    CHECK(lv("list", NULL) == 0 && !strstr(cli.out, "web") && !strstr(cli.out, "churn"),
          "VMs left after destroying all: %s", cli.out);
    lvt_daemon_term(&daemon_bg);
    lvt_check_netns_empty();
    snprintf(p, sizeof(p), "%s/vms", rundir);
    lvt_check_dir_empty(p);
    snprintf(p, sizeof(p), "%s/shells", rundir);
    CHECK(access(p, F_OK) < 0, "%s left behind", p);
}

int main(int argc, char **argv)
{
    static const char *const abs_[] = {"/usr/bin/ab", "/usr/sbin/ab", NULL};
    static char gabs[PATH_MAX];

    if (argc != 4) {
        fprintf(stderr, "usage: test_load LIGHTVM LIGHTVMD GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    lvt_require_kvm();
    lvt_require_root("test_load", "network namespaces, taps");
    ab_bin = lvt_find_exe(abs_);
    if (!ab_bin) {
        fprintf(stderr, "FAIL: missing ab (scripts/deps.sh installs apache2-utils)\n");
        return 1;
    }
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    if (lvt_ip(&tool, ip_bin, "link set lo up") || lvt_bridge_add(&tool, ip_bin, BR, HOST_IP "/16")) {
        fprintf(stderr, "FAIL: bridge setup: %s\n", tool.err);
        return 1;
    }
    if (daemon_start()) {
        pool_wait();
        if (start_httpds())
            case_load();
        case_end();
    }
    if (daemon_bg.pid)
        lvt_bg_stop(&daemon_bg, SIGKILL, 5000);
    lvt_kill_netns_others();
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_load");
}
