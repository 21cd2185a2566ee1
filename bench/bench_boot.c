/*
 * bench_boot.c: time from starting `lightvm run hello.elf` to the guest's
 * first console line and to the command's exit, over N runs, beside the
 * same two times for fork+exec of a static hello binary measured in the
 * same run (interleaved, so both see the same machine load). Also the KVM
 * exits per boot, from --trace.
 *
 * usage: bench_boot LIGHTVM HELLO_ELF HELLO_STATIC [N] [--no-pvm]
 * Prints one line per series: name, n, median and p99 in microseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "stats.h"

struct sample {
    double first_line_us;
    double exit_us;
    long exits;
};

/* Runs argv; stdout through a pipe (time of its first newline), stderr
 * to (errfile) when set. Returns 0 when the child exited 0. */
static int measure(const char *const argv[], const char *errfile, struct sample *s)
{
    int out[2], st;
    char buf[4096];
    double t0;
    pid_t pid;

    if (pipe(out) < 0)
        return -1;
    t0 = bench_now_us();
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(out[1], 1);
        if (errfile) {
            int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0)
                dup2(fd, 2);
        }
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    s->first_line_us = 0;
    for (;;) {
        ssize_t n = read(out[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!s->first_line_us && memchr(buf, '\n', (size_t)n))
            s->first_line_us = bench_now_us() - t0;
    }
    close(out[0]);
    waitpid(pid, &st, 0);
    s->exit_us = bench_now_us() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int n = 100, nopvm = 0;
    char errfile[] = "/tmp/lightvm-bench-XXXXXX";
    double *vm_line, *vm_exit, *fe_line, *fe_exit, *exits;

    if (argc < 4) {
        fprintf(stderr, "usage: bench_boot LIGHTVM HELLO_ELF HELLO_STATIC [N] [--no-pvm]\n");
        return 2;
    }
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--no-pvm"))
            nopvm = 1;
        else if ((n = atoi(argv[i])) < 1 || n > 100000) {
            fprintf(stderr, "bench_boot: bad N '%s'\n", argv[i]);
            return 2;
        }
    }
    if (bench_tmpfile(errfile) < 0)
        return 1;
    vm_line = calloc((size_t)n, sizeof(double));
    vm_exit = calloc((size_t)n, sizeof(double));
    fe_line = calloc((size_t)n, sizeof(double));
    fe_exit = calloc((size_t)n, sizeof(double));
    exits = calloc((size_t)n, sizeof(double));
    const char *vm_argv[] = {argv[1], "run", argv[2], "--trace", nopvm ? "--no-pvm" : NULL, NULL};
    const char *fe_argv[] = {argv[3], NULL};

    for (int i = 0; i < n; i++) {
        struct sample s;
        if (measure(vm_argv, errfile, &s) < 0) {
            fprintf(stderr, "bench_boot: run %d of lightvm failed (see %s)\n", i, errfile);
            return 1;
        }
        vm_line[i] = s.first_line_us;
        vm_exit[i] = s.exit_us;
        exits[i] = (double)bench_keyed_num(errfile, "trace exits total=");
        if (measure(fe_argv, NULL, &s) < 0) {
            fprintf(stderr, "bench_boot: fork+exec of %s failed\n", argv[3]);
            return 1;
        }
        fe_line[i] = s.first_line_us;
        fe_exit[i] = s.exit_us;
    }
    unlink(errfile);
    bench_report("lightvm run hello: first line", vm_line, n);
    bench_report("lightvm run hello: exit", vm_exit, n);
    bench_report("fork+exec static hello: first line", fe_line, n);
    bench_report("fork+exec static hello: exit", fe_exit, n);
    printf("%-38s n=%-4d median=%.0f max=%.0f\n", "KVM exits per boot", n,
           bench_median(exits, n), exits[n - 1]);
    free(vm_line);
    free(vm_exit);
    free(fe_line);
    free(fe_exit);
    free(exits);
    return 0;
}
