/* lvtest.c: process running and result helpers for the C tests. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lvtest.h"

int lvt_failures;

int lvt_done(const char *name)
{
    if (lvt_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, lvt_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

void lvt_require_kvm(void)
{
    const char *req = getenv("LIGHTVM_REQUIRE_KVM");
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return;
    }
    if (req && !strcmp(req, "1")) {
        fprintf(stderr, "FAIL: /dev/kvm unusable (%s) and LIGHTVM_REQUIRE_KVM=1\n",
                strerror(errno));
        exit(1);
    }
    printf("SKIP: /dev/kvm unusable (%s)\n", strerror(errno));
    exit(LVT_SKIP);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void drain(int fd, char *buf, size_t cap, size_t *len, int *open_)
{
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof(tmp));

    if (n <= 0) {
        *open_ = 0;
        return;
    }
    if (*len + (size_t)n >= cap)
        n = (ssize_t)(cap - 1 - *len);
    memcpy(buf + *len, tmp, (size_t)n);
    *len += (size_t)n;
    buf[*len] = '\0';
}

int lvt_run(struct lvt_proc *p, int timeout_s, const char *const argv[])
{
    int po[2], pe[2], st = 0, oo = 1, eo = 1;
    size_t ol = 0, el = 0;
    double t0 = now_ms(), deadline = t0 + timeout_s * 1e3;
    struct rusage ru;
    pid_t pid;

    memset(p, 0, sizeof(*p));
    if (pipe2(po, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    while (pid > 0 && (oo || eo)) {
        struct pollfd fds[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};
        int left = (int)(deadline - now_ms());
        if (left <= 0) {
            p->timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(fds, 2, left) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            drain(po[0], p->out, sizeof(p->out), &ol, &oo);
        if (fds[1].revents)
            drain(pe[0], p->err, sizeof(p->err), &el, &eo);
    }
    close(po[0]);
    close(pe[0]);
    if (pid < 0)
        return -1;
    if (wait4(pid, &st, 0, &ru) < 0)
        return -1;
    p->wall_ms = now_ms() - t0;
    p->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

int lvt_write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok;

    if (fd < 0)
        return -1;
    ok = write(fd, buf, len) == (ssize_t)len;
    close(fd);
    return ok ? 0 : -1;
}
