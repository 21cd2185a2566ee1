/* lvtest.c: process running and result helpers for the C tests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
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

/* Ends the test for a missing (what): a skip, or under
 * LIGHTVM_REQUIRE_KVM=1 a failure. */
static void cannot(const char *what)
{
    const char *req = getenv("LIGHTVM_REQUIRE_KVM");

    if (req && !strcmp(req, "1")) {
        fprintf(stderr, "FAIL: %s and LIGHTVM_REQUIRE_KVM=1\n", what);
        exit(1);
    }
    printf("SKIP: %s\n", what);
    exit(LVT_SKIP);
}

void lvt_require_kvm(void)
{
    char what[128];
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return;
    }
    snprintf(what, sizeof(what), "/dev/kvm unusable (%s)", strerror(errno));
    cannot(what);
}

void lvt_require_root(const char *test, const char *needs)
{
    char what[256];

    if (geteuid() == 0)
        return;
    snprintf(what, sizeof(what), "%s needs root (%s)", test, needs);
    cannot(what);
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

/* Two pipes for a child's stdout (po) and stderr (pe): 0, or -1 with
 * nothing left open. */
static int out_err_pipes(int po[2], int pe[2])
{
    if (pipe2(po, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    return 0;
}

int lvt_run(struct lvt_proc *p, int timeout_s, const char *const argv[])
{
    int po[2], pe[2], st = 0, oo = 1, eo = 1;
    size_t ol = 0, el = 0;
    double t0 = now_ms(), deadline = t0 + timeout_s * 1e3;
    struct rusage ru;
    pid_t pid;

    memset(p, 0, sizeof(*p));
    if (out_err_pipes(po, pe) < 0)
        return -1;
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

int lvt_runv(struct lvt_proc *p, int timeout_s, const char *a0, ...)
{
    const char *argv[64];
    int n = 0;
    va_list ap;

    argv[n++] = a0;
    va_start(ap, a0);
    for (const char *a; n < 63 && (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return lvt_run(p, timeout_s, argv);
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

double lvt_now_ms(void)
{
    return now_ms();
}

void lvt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------- background */

#define LVT_BG_MAX 64
static struct lvt_bg *bg_live[LVT_BG_MAX]; /* started, not yet reaped */

static void bg_forget(struct lvt_bg *b)
{
    for (int i = 0; i < LVT_BG_MAX; i++)
        if (bg_live[i] == b)
            bg_live[i] = NULL;
}

/* Reaps b if it ended (block: wait for it). 1 if reaped. */
static int bg_reap(struct lvt_bg *b, int block)
{
    int st = 0;
    pid_t r;

    if (!b->pid)
        return 1;
    do
        r = waitpid(b->pid, &st, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    b->status = r < 0 ? 255 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    b->pid = 0;
    return 1;
}

static void bg_close(struct lvt_bg *b)
{
    for (int i = 0; i < 2; i++)
        if (b->fd[i] >= 0) {
            close(b->fd[i]);
            b->fd[i] = -1;
        }
}

int lvt_bg_start(struct lvt_bg *b, const char *const argv[])
{
    return lvt_bg_start_limited(b, argv, -1, 0);
}

int lvt_bg_start_limited(struct lvt_bg *b, const char *const argv[], int resource,
                         unsigned long soft)
{
    int po[2], pe[2], slot = -1;
    pid_t pid;

    memset(b, 0, sizeof(*b));
    b->fd[0] = b->fd[1] = -1;
    b->status = -1;
    for (int i = 0; i < LVT_BG_MAX && slot < 0; i++)
        if (!bg_live[i])
            slot = i;
    if (slot < 0) {
        errno = EMFILE;
        return -1;
    }
    if (out_err_pipes(po, pe) < 0)
        return -1;
    b->t0_ms = now_ms();
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        if (null >= 0)
            dup2(null, 0);
        struct rlimit rl;
        if (resource >= 0 && getrlimit(resource, &rl) == 0) {
            rl.rlim_cur = soft;
            if (setrlimit(resource, &rl) < 0)
                _exit(126);
        }
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    setpgid(pid, pid); /* also here: no race with a signal sent right away */
    b->pid = b->pgid = pid;
    b->fd[0] = po[0];
    b->fd[1] = pe[0];
    fcntl(po[0], F_SETFL, O_NONBLOCK);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);
    bg_live[slot] = b;
    return 0;
}

void lvt_bg_pump(int ms)
{
    struct pollfd fds[2 * LVT_BG_MAX];
    struct lvt_bg *owner[2 * LVT_BG_MAX];
    int which[2 * LVT_BG_MAX], n = 0, lingering = 0;

    for (int i = 0; i < LVT_BG_MAX; i++) {
        struct lvt_bg *b = bg_live[i];
        if (!b)
            continue;
        if (b->fd[0] < 0 && b->fd[1] < 0) {
            lingering = 1; /* output closed: poll for its end */
            continue;
        }
        for (int k = 0; k < 2; k++)
            if (b->fd[k] >= 0) {
                fds[n] = (struct pollfd){b->fd[k], POLLIN, 0};
                owner[n] = b;
                which[n++] = k;
            }
    }
    if (lingering && ms > 20)
        ms = 20;
    if (n == 0)
        lvt_sleep_ms(ms);
    else if (poll(fds, (nfds_t)n, ms) > 0) {
        for (int i = 0; i < n; i++) {
            struct lvt_bg *b = owner[i];
            int k = which[i], open_ = 1;
            char *buf = k ? b->err : b->out;
            size_t cap = k ? sizeof(b->err) : sizeof(b->out);
            if (!fds[i].revents)
                continue;
            /* drain() stops at the buffer's end: past it, read and drop */
            if (b->len[k] + 1 >= cap) {
                char sink[4096];
                ssize_t r = read(b->fd[k], sink, sizeof(sink));
                open_ = !(r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR));
            } else {
                errno = 0;
                drain(b->fd[k], buf, cap, &b->len[k], &open_);
                if (!open_ && (errno == EAGAIN || errno == EINTR) && !(fds[i].revents & POLLHUP))
                    open_ = 1;
            }
            if (!open_) {
                close(b->fd[k]);
                b->fd[k] = -1;
            }
        }
    }
    for (int i = 0; i < LVT_BG_MAX; i++) {
        struct lvt_bg *b = bg_live[i];
        if (b && b->fd[0] < 0 && b->fd[1] < 0 && bg_reap(b, 0))
            bg_live[i] = NULL;
    }
}

int lvt_bg_wait(struct lvt_bg *b, const char *needle, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;

    for (int last = 0;; ) {
        if (needle && strstr(b->err, needle))
            return 1;
        if (!b->pid)
            return needle == NULL;
        if (last)
            return 0;
        double left = deadline - now_ms();
        last = left <= 0; /* one more look at what already arrived */
        lvt_bg_pump(left > 100 ? 100 : left > 0 ? (int)left + 1 : 0);
    }
}

int lvt_bg_stop(struct lvt_bg *b, int sig, int timeout_ms)
{
    if (b->pid && sig)
        kill(-b->pgid, sig);
    if (b->pid && !lvt_bg_wait(b, NULL, timeout_ms)) {
        b->timed_out = 1;
        kill(-b->pgid, SIGKILL);
        bg_close(b);
        bg_reap(b, 1);
    }
    bg_forget(b);
    bg_close(b);
    return b->status;
}

int lvt_bg_run(struct lvt_bg *b, int timeout_ms, const char *const argv[])
{
    if (lvt_bg_start(b, argv) < 0)
        return -1;
    return lvt_bg_stop(b, 0, timeout_ms);
}

int lvt_fd_count(pid_t pid)
{
    char path[64];
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if (!(d = opendir(path)))
        return -1;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- sysfs */

int lvt_count_taps(void)
{
    DIR *d = opendir("/sys/class/net");
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.' && lvt_sys_exists(de->d_name, "tun_flags");
    if (d)
        closedir(d);
    return n;
}

int lvt_sys_read(const char *ifname, const char *attr, char *buf, size_t cap)
{
    char path[160];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
    buf[0] = '\0';
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

unsigned long lvt_sys_num(const char *ifname, const char *attr)
{
    char b[64];
    return lvt_sys_read(ifname, attr, b, sizeof(b)) ? 0 : strtoul(b, NULL, 0);
}

int lvt_sys_exists(const char *ifname, const char *sub)
{
    char path[192];
    snprintf(path, sizeof(path), "/sys/class/net/%s%s%s", ifname, sub ? "/" : "", sub ? sub : "");
    return access(path, F_OK) == 0;
}

int lvt_private_netns(char *why, size_t cap)
{
    const char *step = "unshare(CLONE_NEWNET | CLONE_NEWNS)";

    if (unshare(CLONE_NEWNET | CLONE_NEWNS) == 0) {
        step = "making / a private mount";
        /* "none": the kernel ignores the type of a propagation change, a
         * bind or a move; valgrind objects to a NULL one */
        if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0) {
            /* The cgroup mounts (lightvmd's VM limits) are kept: held
             * aside while the new sysfs covers the old one, then moved
             * onto it. */
            char keep[] = "/tmp/lvt-cgroup-XXXXXX";
            int kept = mkdtemp(keep) &&
                       mount("/sys/fs/cgroup", keep, "none", MS_BIND | MS_REC, NULL) == 0;
            step = "mounting a sysfs for the new network namespace";
            int rc = mount("sysfs", "/sys", "sysfs", 0, NULL), e = errno;
            if (kept && (rc < 0 || mount(keep, "/sys/fs/cgroup", "none", MS_MOVE, NULL) < 0))
                umount2(keep, MNT_DETACH);
            rmdir(keep); /* (fails harmlessly where mkdtemp did) */
            if (rc == 0)
                return 0;
            errno = e;
        }
    }
    snprintf(why, cap, "%s: %s", step, strerror(errno));
    return -1;
}

/* ---------------------------------------------------------------- programs */

const char *lvt_find_exe(const char *const *cands)
{
    for (; *cands; cands++)
        if (access(*cands, X_OK) == 0)
            return *cands;
    return NULL;
}

int lvt_ip(struct lvt_bg *tool, const char *ip_bin, const char *fmt, ...)
{
    char buf[256], *argv[32], *save = NULL;
    int n = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    argv[n++] = (char *)ip_bin;
    for (char *t = strtok_r(buf, " ", &save); t && n < 31; t = strtok_r(NULL, " ", &save))
        argv[n++] = t;
    argv[n] = NULL;
    int st = lvt_bg_run(tool, 30000, (const char *const *)argv);
    if (st != 0)
        fprintf(stderr, "ip %s: status %d%s: %s", fmt, st, tool->timed_out ? " (timed out)" : "",
                tool->err);
    return st;
}

/* ---------------------------------------------------------------- strace */

int lvt_strace_prepare(struct lvt_strace *s, const char *const cmd[])
{
    static const char *const cands[] = {"/usr/bin/strace", "/bin/strace"};
    const char *strace = NULL, *asan = getenv("ASAN_OPTIONS");
    char opts[1024];
    size_t n = 0;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]) && !strace; i++)
        if (access(cands[i], X_OK) == 0)
            strace = cands[i];
    CHECK(strace != NULL, "strace is not installed (scripts/deps.sh installs it)");
    if (!strace)
        return -1;
    /* The trace goes to a memfd (inherited: no CLOEXEC), so no file is left. */
    s->fd = memfd_create("lvtest-strace", 0);
    CHECK(s->fd >= 0, "memfd_create: %s", strerror(errno));
    if (s->fd < 0)
        return -1;
    snprintf(s->fdpath, sizeof(s->fdpath), "/proc/self/fd/%d", s->fd);
    const char *pre[] = {strace, "-f", "-e", "trace=execve,execveat", "-o", s->fdpath};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        s->argv[n++] = pre[i];
    for (size_t i = 0; cmd[i] && n + 1 < sizeof(s->argv) / sizeof(s->argv[0]); i++)
        s->argv[n++] = cmd[i];
    s->argv[n] = NULL;
    s->had_asan = asan != NULL;
    s->saved_asan = asan ? strdup(asan) : NULL;
    /* LeakSanitizer cannot run under ptrace; everything else stays on. */
    snprintf(opts, sizeof(opts), "%s%sdetect_leaks=0", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    return 0;
}

void lvt_strace_restore_env(struct lvt_strace *s)
{
    if (s->had_asan && s->saved_asan)
        setenv("ASAN_OPTIONS", s->saved_asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(s->saved_asan);
    s->saved_asan = NULL;
    s->had_asan = 0;
}

void lvt_strace_check_one_exec(struct lvt_strace *s, const char *path)
{
    static char trace[65536];
    char want[4200];
    int execs = 0;
    ssize_t n;

    if (s->fd < 0)
        return;
    n = pread(s->fd, trace, sizeof(trace) - 1, 0);
    close(s->fd);
    s->fd = -1;
    CHECK(n > 0, "empty strace output");
    trace[n > 0 ? n : 0] = '\0';
    for (char *p = trace; (p = strstr(p, "execve")); p++)
        execs++;
    CHECK(execs == 1, "want exactly one execve (strace launching %s), got %d:\n%s", path, execs,
          trace);
    snprintf(want, sizeof(want), "execve(\"%s\"", path);
    char *line = strstr(trace, want), *eol = line ? strchr(line, '\n') : NULL;
    if (eol)
        *eol = '\0';
    CHECK(line && strstr(line, ") = 0"), "the one execve is not the launch of %s:\n%s", path,
          line ? line : trace);
}

/* ------------------------------------------------------- a VM's console */

int lvt_con_stats(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *name,
                  struct lvt_con *c)
{
    const char *argv[] = {lightvm, "info", name, "--rundir", rundir, NULL};
    const char *s;

    memset(c, 0, sizeof(*c));
    if (lvt_run(p, 60, argv) < 0 || p->status != 0 || !(s = strstr(p->out, "state: ")))
        return -1;
    sscanf(s, "state: %15s", c->state);
    if (!(s = strstr(p->out, "console: ")) ||
        sscanf(s, "console: cap=%llu bytes=%llu dropped=%llu errors=%llu", &c->cap, &c->bytes,
               &c->dropped, &c->errors) != 4)
        return -1;
    if ((s = strstr(p->out, "last_error=")))
        snprintf(c->last_error, sizeof(c->last_error), "%.*s", (int)strcspn(s + 11, "\n"),
                 s + 11);
    return 0;
}

int lvt_con_wait(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *name,
                 struct lvt_con *c, int (*done)(const struct lvt_con *, const void *),
                 const void *arg)
{
    for (int t = 0; t < 300; t++) {
        if (lvt_con_stats(p, lightvm, rundir, name, c) == 0 && done(c, arg))
            return 1;
        lvt_sleep_ms(100);
    }
    return 0;
}

int lvt_con_bytes_over(const struct lvt_con *c, const void *arg)
{
    return c->bytes > *(const unsigned long long *)arg;
}

int lvt_con_dropped_over(const struct lvt_con *c, const void *arg)
{
    return c->dropped > *(const unsigned long long *)arg;
}

int lvt_con_errors_over(const struct lvt_con *c, const void *arg)
{
    return c->errors > *(const unsigned long long *)arg;
}

long lvt_vm_file_size(const char *rundir, const char *name, const char *file)
{
    char p[4096];
    struct stat st;

    snprintf(p, sizeof(p), "%s/vms/%s/%s", rundir, name, file);
    return stat(p, &st) == 0 ? (long)st.st_size : 0;
}

long lvt_con_log_bytes(const char *rundir, const char *name)
{
    return lvt_vm_file_size(rundir, name, "console.log") +
           lvt_vm_file_size(rundir, name, "console.log.1");
}
