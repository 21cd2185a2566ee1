/*
 * bench_net.c: LightVM's "boot = network up" measure for the daytime
 * unikernel, on the cold path (`lightvm run` per VM).
 *
 *   bench_net LIGHTVM DAYTIME_ELF UDP_PROBE [N] [--vms M]
 *
 * Runs as root in a network namespace of its own with a bridge
 * (10.88.0.1/24). Series, each over N runs, interleaved:
 *   - `lightvm run daytime.elf --net ... --probe`: from fork to the
 *     guest's network-up datagram arriving on our UDP socket;
 *   - fork+exec of UDP_PROBE (a static program that sends the same
 *     datagram): the process peer of the same measure;
 *   - one daytime request (connect .. reply read) to a running VM.
 * KVM exits per boot (runs without requests) and per daytime request
 * (runs with 10 requests: the difference / 10), from --trace. Then M VMs
 * (default 20) at once: host memory per running VM, as the PSS of the
 * lightvm processes (/proc/PID/smaps_rollup) and as the drop of
 * MemAvailable (which includes kernel memory: KVM, page tables, taps).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"
#include "stats.h"

#define BRIDGE "lvbench0"
#define HOST_IP "10.88.0.1"
#define REQS 10
#define UP_TIMEOUT_MS 60000

static pid_t spawn(const char *const argv[], const char *errfile)
{
    pid_t pid = fork();

    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        int fd = errfile ? open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644) : null;
        dup2(null, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* UDP socket on HOST_IP and a free port (network order in *port). */
static int listen_probe(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, HOST_IP, &a.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("bench_net: probe socket");
        exit(1);
    }
    *port = a.sin_port;
    return fd;
}

/* Waits (bounded) for one datagram; returns the time it arrived, or -1. */
static double wait_probe(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[128];

    if (poll(&p, 1, UP_TIMEOUT_MS) != 1 || recv(fd, buf, sizeof(buf), 0) < 0)
        return -1;
    return bench_now_us();
}

/* One daytime request: connect, read to EOF. Returns its time in us, or
 * -1 when the reply is missing or does not look like a date line. */
static double daytime(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(13)};
    struct timeval tv = {5, 0};
    char buf[128];
    size_t got = 0;
    double t0 = bench_now_us();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    inet_pton(AF_INET, ip, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    if (got < 20 || !strstr(buf, "\r\n"))
        return -1;
    return bench_now_us() - t0;
}

static void stop(pid_t pid)
{
    int st;

    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

static void setup_netns(void)
{
    const char *lo[] = {"ip", "link", "set", "lo", "up", NULL};
    const char *br[] = {"ip", "link", "add", BRIDGE, "type", "bridge", NULL};
    const char *addr[] = {"ip", "addr", "add", HOST_IP "/24", "dev", BRIDGE, NULL};
    const char *up[] = {"ip", "link", "set", BRIDGE, "up", NULL};

    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_net: unshare(CLONE_NEWNET) (needs root)");
        exit(1);
    }
    if (bench_run(lo) || bench_run(br) || bench_run(addr) || bench_run(up)) {
        fprintf(stderr, "bench_net: bridge setup with ip(8) failed\n");
        exit(1);
    }
}

static void vm_argv(const char **a, const char *lightvm, const char *elf, char *net, char *probe,
                    int ip_last, uint16_t port)
{
    snprintf(net, 96, BRIDGE ",ip=10.88.0.%d/24,gw=" HOST_IP, ip_last);
    snprintf(probe, 48, HOST_IP ":%u", ntohs(port));
    const char *v[] = {lightvm, "run", elf, "--memory", "4M", "--net", net, "--probe", probe,
                       "--trace", NULL};
    memcpy(a, v, sizeof(v));
}

int main(int argc, char **argv)
{
    int n = 100, m = 20;
    char errfile[] = "/tmp/lightvm-bench-net-XXXXXX";
    char net[96], probe[48], port_s[8];
    const char *a[12];
    struct stat st;

    if (argc < 4) {
        fprintf(stderr, "usage: bench_net LIGHTVM DAYTIME_ELF UDP_PROBE [N] [--vms M]\n");
        return 2;
    }
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--vms") && i + 1 < argc)
            m = atoi(argv[++i]);
        else
            n = atoi(argv[i]);
    }
    if (n < 2 || n > 100000 || m < 1 || m > 200) {
        fprintf(stderr, "bench_net: N must be 2..100000 and M 1..200\n");
        return 2;
    }
    if (bench_tmpfile(errfile) < 0)
        return 1;
    setup_netns();

    double *up = calloc((size_t)n, sizeof(double)), *peer = calloc((size_t)n, sizeof(double));
    double *ex0 = calloc((size_t)n, sizeof(double)), *ex1 = calloc((size_t)n, sizeof(double));
    double *req = calloc((size_t)n * REQS, sizeof(double));
    int n0 = 0, n1 = 0, nreq = 0;
    uint16_t port;
    int ps = listen_probe(&port);

    for (int i = 0; i < n; i++) {
        vm_argv(a, argv[1], argv[2], net, probe, 2, port);
        double t0 = bench_now_us();
        pid_t pid = spawn(a, errfile);
        double t1 = wait_probe(ps);
        if (t1 < 0) {
            fprintf(stderr, "bench_net: run %d: no network-up probe within %d s (see %s)\n", i,
                    UP_TIMEOUT_MS / 1000, errfile);
            stop(pid);
            return 1;
        }
        up[i] = t1 - t0;
        if (i % 2) {
            for (int r = 0; r < REQS; r++) {
                double d = daytime("10.88.0.2");
                if (d < 0) {
                    fprintf(stderr, "bench_net: run %d: daytime request failed\n", i);
                    stop(pid);
                    return 1;
                }
                req[nreq++] = d;
            }
        }
        stop(pid);
        long ex = bench_keyed_num(errfile, "trace exits total=");
        if (i % 2)
            ex1[n1++] = (double)ex;
        else
            ex0[n0++] = (double)ex;

        snprintf(port_s, sizeof(port_s), "%u", ntohs(port));
        const char *pa[] = {argv[3], HOST_IP, port_s, NULL};
        t0 = bench_now_us();
        pid = spawn(pa, NULL);
        t1 = wait_probe(ps);
        waitpid(pid, NULL, 0);
        if (t1 < 0) {
            fprintf(stderr, "bench_net: the fork+exec probe sent nothing\n");
            return 1;
        }
        peer[i] = t1 - t0;
    }
    bench_report("lightvm run daytime: network up", up, n);
    bench_report("fork+exec udp probe: datagram in", peer, n);
    bench_report("daytime request (connect..reply)", req, nreq);
    double e0 = bench_median(ex0, n0), e1 = bench_median(ex1, n1);
    printf("%-38s n=%-4d median=%.0f max=%.0f\n", "KVM exits per boot (to VM end)", n0, e0,
           ex0[n0 - 1]);
    printf("%-38s n=%-4d median=%.1f\n", "KVM exits per daytime request", n1,
           (e1 - e0) / REQS);
    if (stat(argv[2], &st) == 0)
        printf("%-38s %lld bytes\n", "daytime image (ELF file)", (long long)st.st_size);

    /* M VMs at once: memory. */
    pid_t *pids = calloc((size_t)m, sizeof(pid_t));
    long avail0 = bench_meminfo_kb("MemAvailable:");
    for (int i = 0; i < m; i++) {
        vm_argv(a, argv[1], argv[2], net, probe, 10 + i, port);
        pids[i] = spawn(a, NULL);
        if (wait_probe(ps) < 0) {
            fprintf(stderr, "bench_net: VM %d of %d never came up\n", i + 1, m);
            for (int k = 0; k <= i; k++)
                stop(pids[k]);
            return 1;
        }
    }
    usleep(200000);
    long avail1 = bench_meminfo_kb("MemAvailable:"), pss = 0;
    for (int i = 0; i < m; i++)
        pss += bench_pss_kb(pids[i]);
    for (int i = 0; i < m; i++)
        stop(pids[i]);
    printf("%-38s vms=%d pss_kb_per_vm=%.0f memavailable_drop_kb_per_vm=%.0f\n",
           "host memory per running daytime VM", m, (double)pss / m,
           (double)(avail0 - avail1) / m);
    unlink(errfile);
    return 0;
}
