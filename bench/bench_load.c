/*
 * bench_load.c: httpd VMs under HTTP load while other VMs come and go.
 *
 *   bench_load LIGHTVMD GUEST_DIR [--vms N] [--requests R] [--concurrency C]
 *
 * Root only. In a network namespace of its own: bridge lvbl0
 * (10.97.0.1/16), lightvmd --pool 8,1,8,lvbl0 in a temporary run
 * directory, N (default 4) httpd VMs. For each VM, and for a peer (busybox
 * httpd, a host process serving a file of the same size on the bridge's
 * address), first the idle latency: 200 single requests one after another
 * (connect, GET, read to close; microseconds). Then the load: one `ab -n R
 * -c C` per VM (and one against the peer, after the VMs, with the same
 * counts), while daytime VMs are created and destroyed over lightvmd's
 * socket one after another; per VM: requests/s and ab's median and p99.
 * Then the same ab against the first VM alone (no churn, no other load),
 * the row to set beside the peer's.
 * Bounded waits; everything is torn down.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lvd.h"
#include "lightvm/ctl.h"
#include "stats.h"

#define HOST_IP "10.97.0.1"
#define BRIDGE "lvbl0"
#define POOL 8
#define MAX_VMS 32
#define IDLE_N 200
#define PEER_PORT 8080

static char rundir[] = "/tmp/lightvm-load-XXXXXX", sock[PATH_MAX], www[PATH_MAX + 8];
static pid_t daemon_pid, peer_pid;

static void cleanup(void)
{
    if (peer_pid > 0) {
        kill(peer_pid, SIGTERM);
        waitpid(peer_pid, NULL, 0);
    }
    bench_daemon_stop(sock, daemon_pid, rundir);
}

static void die(const char *why)
{
    fprintf(stderr, "bench_load: %s\n", why);
    cleanup();
    exit(1);
}

static pid_t spawn(const char *const argv[], const char *out)
{
    pid_t pid = fork();

    if (pid == 0) {
        if (!freopen(out ? out : "/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static json_t *call(json_t *req, int must)
{
    struct lv_err err = {""};
    json_t *rep = NULL;

    if (lv_ctl_call(sock, req, 15000, &rep, &err) < 0 ||
        (must && !json_is_true(json_object_get(rep, "ok")))) {
        fprintf(stderr, "bench_load: %s: %s %s\n", json_string_value(json_object_get(req, "op")),
                err.msg, rep ? json_string_value(json_object_get(rep, "error")) : "");
        json_decref(req);
        die("request failed");
    }
    json_decref(req);
    return rep;
}

static void create(const char *name, const char *kernel, const char *ip)
{
    json_decref(call(json_pack("{s:s,s:{s:s,s:s,s:i,s:[{s:s,s:s,s:s}]}}", "op", "create", "spec",
                               "name", name, "kernel", kernel, "memory", 8, "vifs", "bridge",
                               BRIDGE, "ip", ip, "gw", HOST_IP), 1));
}

static void destroy(const char *name)
{
    json_decref(call(json_pack("{s:s,s:s}", "op", "destroy", "name", name), 1));
}

/* One HTTP request to ip:port, read to the close: microseconds, or -1. */
static double one_request(const char *ip, int port)
{
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    char buf[512], head[8] = "";
    ssize_t n, got = 0;
    double t0 = bench_now_us();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, ip, &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (!got)
            memcpy(head, buf, n < 7 ? (size_t)n : 7);
        got += n;
    }
    close(fd);
    return n == 0 && got > 12 && !memcmp(head, "HTTP/1.", 7) ? bench_now_us() - t0 : -1;
}

/* IDLE_N single requests: median and p99 in *med, *p99 (us). */
static void idle_latency(const char *ip, int port, double *med, double *p99)
{
    double v[IDLE_N];

    for (int i = 0; i < IDLE_N; i++)
        if ((v[i] = one_request(ip, port)) < 0) {
            fprintf(stderr, "bench_load: %s:%d: request %d failed\n", ip, port, i);
            die("an idle request failed");
        }
    *med = bench_median(v, IDLE_N);
    *p99 = bench_p99(v, IDLE_N);
}

/* ab's -e CSV: the time (ms) at (pct) percent. */
static double ab_pct(const char *csv, int pct)
{
    FILE *f = fopen(csv, "r");
    char line[128];
    double v = -1;

    while (f && fgets(line, sizeof(line), f))
        if (atoi(line) == pct && strchr(line, ','))
            v = strtod(strchr(line, ',') + 1, NULL);
    if (f)
        fclose(f);
    return v;
}

static double ab_field(const char *out, const char *key)
{
    FILE *f = fopen(out, "r");
    char line[256];
    double v = -1;

    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key)))
            v = strtod(line + strlen(key), NULL);
    if (f)
        fclose(f);
    return v;
}

struct ab_run {
    pid_t pid;
    char out[PATH_MAX], csv[PATH_MAX];
};

static void ab_start(struct ab_run *a, const char *tag, const char *url, int n, int c)
{
    char ns[16], cs[16];

    snprintf(ns, sizeof(ns), "%d", n);
    snprintf(cs, sizeof(cs), "%d", c);
    snprintf(a->out, sizeof(a->out), "%s/ab-%s.out", rundir, tag);
    snprintf(a->csv, sizeof(a->csv), "%s/ab-%s.csv", rundir, tag);
    const char *argv[] = {"ab", "-q", "-s", "30", "-n", ns, "-c", cs, "-e", a->csv, url, NULL};
    a->pid = spawn(argv, a->out);
}

static void ab_report(const struct ab_run *a, const char *who, double idle_med, double idle_p99)
{
    printf("%-8s %9.0f %7.0f %9.3f %9.3f %10.0f %9.0f\n", who,
           ab_field(a->out, "Requests per second:"), ab_field(a->out, "Failed requests:"),
           ab_pct(a->csv, 50), ab_pct(a->csv, 99), idle_med, idle_p99);
}

int main(int argc, char **argv)
{
    int nvms = 4, nreq = 5000, conc = 8, churned = 0;
    char httpd[PATH_MAX], daytime[PATH_MAX], pool[40], gdir[PATH_MAX];
    double imed[MAX_VMS + 1], ip99[MAX_VMS + 1];
    struct ab_run ab[MAX_VMS + 2];

    if (argc < 3 || !realpath(argv[2], gdir))
        goto usage;
    for (int i = 3; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--vms") && v >= 1 && v <= MAX_VMS)
            nvms = v;
        else if (!strcmp(argv[i], "--requests") && v >= 1)
            nreq = v;
        else if (!strcmp(argv[i], "--concurrency") && v >= 1 && v <= 64)
            conc = v;
        else
            goto usage;
    }
    snprintf(httpd, sizeof(httpd), "%.4000s/httpd.elf", gdir);
    snprintf(daytime, sizeof(daytime), "%.4000s/daytime.elf", gdir);
    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_load: unshare(CLONE_NEWNET) (needs root)");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(rundir) || bench_bridge_up(BRIDGE, HOST_IP "/16") < 0)
        die("namespace setup failed");
    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    snprintf(pool, sizeof(pool), "8,1,%d," BRIDGE, POOL);
    const char *d[] = {argv[1], "--rundir", rundir, "--pool", pool, NULL};
    daemon_pid = spawn(d, NULL);
    /* the peer: the same 19-byte body from busybox httpd on the bridge */
    snprintf(www, sizeof(www), "%s/www", rundir);
    char idx[2 * sizeof(www) + 64], peer_addr[32];
    snprintf(idx, sizeof(idx), "mkdir -p %s && echo 'hello from busybox' > %s/index.html", www,
             www);
    const char *mk[] = {"sh", "-c", idx, NULL};
    snprintf(peer_addr, sizeof(peer_addr), HOST_IP ":%d", PEER_PORT);
    const char *bb[] = {"busybox", "httpd", "-f", "-p", peer_addr, "-h", www, NULL};
    if (bench_run(mk) < 0)
        die("peer setup");
    peer_pid = spawn(bb, NULL);

    if (bench_pool_wait(sock, POOL, 60000) < 0) /* until the pool is full */
        die("the pool did not fill in 60 s");
    for (int i = 0; i < nvms; i++) {
        char name[32], ip[32];
        snprintf(name, sizeof(name), "web%d", i);
        snprintf(ip, sizeof(ip), "10.97.1.%d/16", i + 2);
        create(name, httpd, ip);
    }
    for (int i = 0; i <= nvms; i++) { /* up, then idle latency (i == nvms: the peer) */
        char ip[32];
        int port = i < nvms ? 80 : PEER_PORT;
        snprintf(ip, sizeof(ip), i < nvms ? "10.97.1.%d" : HOST_IP, i + 2);
        for (int t = 0; one_request(ip, port) < 0; t++) {
            if (t > 100)
                die("an httpd VM (or the peer) never answered");
            usleep(100000);
        }
        idle_latency(ip, port, &imed[i], &ip99[i]);
    }
    /* the load, with VMs created and destroyed meanwhile */
    for (int i = 0; i < nvms; i++) {
        char tag[16], url[64];
        snprintf(tag, sizeof(tag), "web%d", i);
        snprintf(url, sizeof(url), "http://10.97.1.%d/", i + 2);
        ab_start(&ab[i], tag, url, nreq, conc);
    }
    double t0 = bench_now_us();
    for (int running = nvms; running > 0 && churned < 100000; churned++) {
        char name[32], ip[32];
        snprintf(name, sizeof(name), "churn%d", churned);
        snprintf(ip, sizeof(ip), "10.97.%d.%d/16", 2 + churned % 1000 / 200, 2 + churned % 200);
        create(name, daytime, ip);
        destroy(name);
        for (int i = 0; i < nvms; i++)
            if (ab[i].pid > 0 && waitpid(ab[i].pid, NULL, WNOHANG) == ab[i].pid) {
                ab[i].pid = 0;
                running--;
            }
    }
    double load_s = (bench_now_us() - t0) / 1e6;
    char purl[64];
    snprintf(purl, sizeof(purl), "http://" HOST_IP ":%d/", PEER_PORT);
    ab_start(&ab[nvms], "peer", purl, nreq, conc);
    waitpid(ab[nvms].pid, NULL, 0);
    ab_start(&ab[nvms + 1], "alone", "http://10.97.1.2/", nreq, conc); /* web0, no churn */
    waitpid(ab[nvms + 1].pid, NULL, 0);

    printf("bench_load: %d httpd VMs, ab -n %d -c %d each at once; meanwhile %d daytime VMs "
           "created and destroyed through lightvmd (%.1f s, %.1f VMs/s)\n", nvms, nreq, conc,
           churned, load_s, churned / load_s);
    printf("%-8s %9s %7s %9s %9s %10s %9s\n", "server", "req/s", "failed", "median_ms", "p99_ms",
           "idle_med_us", "idle_p99_us");
    for (int i = 0; i < nvms; i++) {
        char who[16];
        snprintf(who, sizeof(who), "web%d", i);
        ab_report(&ab[i], who, imed[i], ip99[i]);
    }
    ab_report(&ab[nvms + 1], "web0-solo", imed[0], ip99[0]);
    ab_report(&ab[nvms], "busybox", imed[nvms], ip99[nvms]);
    printf("(web0-solo: web0 loaded again alone, no churn; busybox: busybox httpd on the host's "
           "end of the bridge, loaded alone; idle columns: before the load)\n");
    for (int i = 0; i < nvms; i++) {
        char name[32];
        snprintf(name, sizeof(name), "web%d", i);
        destroy(name);
    }
    cleanup();
    return 0;

usage:
    fprintf(stderr, "usage: bench_load LIGHTVMD GUEST_DIR [--vms N (1..%d)] [--requests R] "
                    "[--concurrency C (1..64)]\n", MAX_VMS);
    return 2;
}
