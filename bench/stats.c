/* stats.c: timing and process helpers shared by the benchmarks. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

double bench_real_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return v[n / 2];
}

double bench_p99(double *v, int n)
{
    int r = (n * 99 + 99) / 100 - 1;

    qsort(v, (size_t)n, sizeof(*v), cmp);
    return v[r < n ? r : n - 1];
}

void bench_report(const char *name, double *v, int n)
{
    double med = bench_median(v, n), p99 = bench_p99(v, n);

    printf("%-38s n=%-4d median_us=%-9.1f p99_us=%-9.1f min_us=%.1f\n", name, n, med, p99, v[0]);
}

int bench_run(const char *const argv[])
{
    int st;
    pid_t pid = fork();

    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int bench_sh(const char *cmd)
{
    const char *a[] = {"sh", "-c", cmd, NULL};
    return bench_run(a);
}

void bench_log_tail(const char *prog, const char *what, const char *path, int lines)
{
    char cmd[PATH_MAX + 64];

    if (!path[0] || access(path, R_OK) != 0)
        return;
    fprintf(stderr, "%s: the end of %s:\n", prog, what);
    snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, path);
    bench_sh(cmd);
}

int bench_tmpfile(char *tmpl)
{
    int fd = mkstemp(tmpl);

    if (fd < 0) {
        perror("mkstemp");
        return -1;
    }
    close(fd);
    return 0;
}

int bench_bridge_up(const char *br, const char *cidr)
{
    char cmd[256];
    const char *argv[] = {"sh", "-c", cmd, NULL};

    /* a fixed MAC, as an operator gives a bridge (lightvmd leaves it alone) */
    snprintf(cmd, sizeof(cmd), "ip link set lo up && ip link add %s address 02:1b:00:00:00:01 "
             "type bridge && ip addr add %s dev %s && ip link set %s up", br, cidr, br, br);
    return bench_run(argv);
}

int bench_probe_socket(const char *ip, unsigned *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int on = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}
