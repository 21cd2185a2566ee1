/*
 * bench_api.c: a pool hit without a new process. A running client (this
 * program) sends `create` requests straight to lightvmd's socket
 * (docs/protocol.md) and times each from the request to the guest's
 * network-up datagram, next to fork+exec of a static program sending the
 * same datagram (the floor for anything that starts a process, such as
 * the `lightvm create` command, which bench_pool measures).
 *
 *   bench_api LIGHTVMD DAYTIME_ELF UDP_PROBE [N]
 *
 * Root only. In a network namespace of its own: bridge lvapi0
 * (10.98.0.1/16), lightvmd --pool 8,1,16,lvapi0 in a temporary run
 * directory, N (default 100) VMs created 20 ms apart ($BENCH_API_GAP_MS),
 * kept running, then destroyed. Bounded waits; everything is torn down.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lvd.h"
#include "lightvm/ctl.h"
#include "stats.h"

#define HOST_IP "10.98.0.1"
#define BRIDGE "lvapi0"
#define POOL 16
#define WAIT_MS 10000

static char rundir[] = "/tmp/lightvm-api-XXXXXX", sock[PATH_MAX];
static pid_t daemon_pid;

static void cleanup(void)
{
    bench_daemon_stop(sock, daemon_pid, rundir);
}

static void die(const char *why)
{
    fprintf(stderr, "bench_api: %s\n", why);
    cleanup();
    exit(1);
}

/* Waits (bounded) for one datagram; its kernel receive time (CLOCK_REALTIME us), or -1. */
static double wait_probe(int fd)
{
    char buf[64], cbuf[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf)};
    struct pollfd p = {fd, POLLIN, 0};

    if (poll(&p, 1, WAIT_MS) != 1 || recvmsg(fd, &mh, 0) < 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
        }
    return bench_real_us();
}

static json_t *call(json_t *req)
{
    struct lv_err err = {""};
    json_t *rep = NULL;

    if (lv_ctl_call(sock, req, 15000, &rep, &err) < 0) {
        fprintf(stderr, "bench_api: %s: %s\n", json_string_value(json_object_get(req, "op")),
                err.msg);
        json_decref(req);
        die("request failed");
    }
    json_decref(req);
    return rep;
}

int main(int argc, char **argv)
{
    int n = argc > 4 ? atoi(argv[4]) : 100;
    /* between creates: the pool refills meanwhile ($BENCH_API_GAP_MS, default 20) */
    const char *gap = getenv("BENCH_API_GAP_MS");
    useconds_t gap_us = (useconds_t)(gap ? atoi(gap) : 20) * 1000;
    char kernel[PATH_MAX], probe[40], port_s[8], pool[40];

    if (argc < 4 || n < 1 || n > 900 || !realpath(argv[2], kernel)) {
        fprintf(stderr, "usage: bench_api LIGHTVMD DAYTIME_ELF UDP_PROBE [N (1..900)]\n");
        return 2;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_api: unshare(CLONE_NEWNET) (needs root)");
        return 1;
    }
    if (!mkdtemp(rundir) || bench_bridge_up(BRIDGE, HOST_IP "/16") < 0)
        die("namespace setup failed");
    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    unsigned port;
    int ps = bench_probe_socket(HOST_IP, &port);
    if (ps < 0)
        die("probe socket");
    snprintf(port_s, sizeof(port_s), "%u", port);
    snprintf(probe, sizeof(probe), HOST_IP ":%s", port_s);

    snprintf(pool, sizeof(pool), "8,1,%d," BRIDGE, POOL);
    daemon_pid = fork();
    if (daemon_pid == 0) {
        const char *d[] = {argv[1], "--rundir", rundir, "--pool", pool, NULL};
        freopen("/dev/null", "w", stderr);
        execv(d[0], (char *const *)d);
        _exit(127);
    }
    if (bench_pool_wait(sock, POOL, 60000) < 0) /* until the pool is full */
        die("the pool did not fill in 60 s");

    double *up = calloc((size_t)n, sizeof(double)), *reply = calloc((size_t)n, sizeof(double));
    double *peer = calloc((size_t)n, sizeof(double));
    double *checks = calloc((size_t)n, sizeof(double)), *execs = calloc((size_t)n, sizeof(double));
    double *vmexec = calloc((size_t)n, sizeof(double)), *img = calloc((size_t)n, sizeof(double));
    double *prep = calloc((size_t)n, sizeof(double)), *jail = calloc((size_t)n, sizeof(double));
    int hits = 0;
    for (int k = 0; k < n; k++) {
        char name[32], ip[32];
        snprintf(name, sizeof(name), "api%d", k);
        snprintf(ip, sizeof(ip), "10.98.%d.%d/16", 1 + k / 200, 2 + k % 200);
        json_t *req = json_pack("{s:s,s:s,s:b,s:{s:s,s:s,s:i,s:[{s:s,s:s,s:s}]}}", "op",
                                "create", "probe", probe, "trace", 1, "spec", "name", name,
                                "kernel", kernel, "memory", 8, "vifs", "bridge", BRIDGE, "ip",
                                ip, "gw", HOST_IP);
        double t0 = bench_real_us();
        json_t *rep = call(req);
        reply[k] = bench_real_us() - t0;
        hits += !strcmp(json_string_value(json_object_get(rep, "pool")) ?: "", "hit");
        json_t *tr = json_object_get(rep, "trace"), *dm = json_object_get(tr, "daemon");
        checks[k] = json_number_value(json_object_get(dm, "check")) +
                    json_number_value(json_object_get(dm, "dir"));
        execs[k] = json_number_value(json_object_get(dm, "exec"));
        json_t *ve = json_object_get(tr, "execute");
        vmexec[k] = json_number_value(json_object_get(ve, "total"));
        img[k] = json_number_value(json_object_get(ve, "read_image")) +
                 json_number_value(json_object_get(ve, "load"));
        json_t *pr = json_object_get(tr, "prepare"); /* the shell's, before the request */
        prep[k] = json_number_value(json_object_get(pr, "total"));
        jail[k] = json_number_value(json_object_get(pr, "jail")); /* 0 before issue 10 */
        json_decref(rep);
        double t1 = wait_probe(ps);
        if (t1 < 0)
            die("no network-up datagram within 10 s");
        up[k] = t1 - t0;

        const char *pa[] = {argv[3], HOST_IP, port_s, NULL};
        t0 = bench_real_us();
        pid_t pid = fork();
        if (pid == 0) {
            execv(pa[0], (char *const *)pa);
            _exit(127);
        }
        t1 = wait_probe(ps);
        waitpid(pid, NULL, 0);
        if (t1 < 0)
            die("the fork+exec peer sent nothing");
        peer[k] = t1 - t0;
        usleep(gap_us); /* the pool refills between creates */
    }
    printf("bench_api: %d creates over lightvmd's socket (pool %d, bridge-attached shells), "
           "%d pool hits\n", n, POOL, hits);
    bench_report("request -> guest network up", up, n);
    bench_report("request -> reply", reply, n);
    bench_report("fork+exec udp probe: datagram in", peer, n);
    bench_report("  of a create: daemon checks, mkdir, MACs", checks, n);
    bench_report("  of a create: exec round trip to the shell", execs, n);
    bench_report("  of that: the VM process's execute", vmexec, n);
    bench_report("    of that: open, check and load the image", img, n);
    bench_report("before the request: the shell's prepare", prep, n);
    bench_report("  of that: entering the jail", jail, n);

    for (int k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof(name), "api%d", k);
        json_decref(call(json_pack("{s:s,s:s}", "op", "destroy", "name", name)));
    }
    free(up);
    free(reply);
    free(peer);
    free(checks);
    free(execs);
    free(vmexec);
    free(prep);
    free(jail);
    free(img);
    cleanup();
    return 0;
}
