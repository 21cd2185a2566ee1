/* test_seccomp.c: the seccomp allow-lists of a VM process's threads
 * (lib/sandbox/seccomp.c), loaded in forked children of this test. For
 * each role, a child installs the role's filter, makes the system calls
 * the role needs (each must work: the console log rotated, eventfds,
 * sockets, KVM ioctls on a bad fd answered EBADF, not killed) and then
 * one forbidden call: it must die of SIGSYS, and its stderr must carry
 * the one-line report naming the role and the call. Calls of another
 * architecture (i386 int $0x80, x32) are killed without a report. No KVM
 * (the KVM ioctls go to a bad fd: the filter looks at the request, the
 * kernel then refuses the fd). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvm/console.h"
#include "lightvm/seccomp.h"
#include "lvtest.h"

static char dir[] = "/tmp/lightvm-seccomp-XXXXXX";
static pid_t parent; /* this test, for the children's calls to another process */

/* What a child has before it installs its filter (made by the parent's
 * fork, like a VM process's fds made at prepare). */
struct kit {
    int efd, epfd, pipe[2], sp[2], listen_fd, dirfd;
    struct lv_console *con;
};

/* The allowed calls fail the child with exit status (code). */
#define MUST(cond, code)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            dprintf(2, "child: %s failed: %s\n", #cond, strerror(errno));                     \
            _exit(code);                                                                     \
        }                                                                                    \
    } while (0)

/* ---- what every role does ---- */

static void common_calls(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    struct timespec ts;
    struct timeval tv;
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    MUST(p != MAP_FAILED, 20);
    MUST(mprotect(p, 4096, PROT_READ) == 0, 21);
    MUST(madvise(p, 8192, MADV_DONTNEED) == 0, 22);
    MUST(munmap(p, 8192) == 0, 23);
    MUST(pthread_mutex_lock(&m) == 0 && pthread_mutex_unlock(&m) == 0, 24);
    MUST(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0, 25);
    /* the vDSO's fallbacks on a clocksource it cannot read */
    MUST(syscall(SYS_gettimeofday, &tv, NULL) == 0 && syscall(SYS_time, NULL) > 0, 28);
    MUST(syscall(SYS_tgkill, getpid(), gettid(), 0) == 0, 26);
    MUST(write(2, "", 0) == 0, 27);
}

/* ---- the vCPU thread ---- */

static void vcpu_calls(struct kit *k)
{
    static uint8_t chunk[3000];
    uint64_t one = 1;
    struct lv_console_stats st;

    MUST(ioctl(-1, KVM_RUN, 0) < 0 && errno == EBADF, 30);
    MUST(ioctl(-1, KVM_GET_REGS, NULL) < 0 && errno == EBADF, 31);
    MUST(ioctl(-1, KVM_GET_SREGS, NULL) < 0 && errno == EBADF, 32);
    MUST(write(k->efd, &one, sizeof(one)) == sizeof(one), 33);
    /* the console log: 20 KiB into an 8 KiB cap rotates it (openat,
     * renameat, fstat, close) several times */
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 7; i++)
        MUST(lv_console_write(k->con, chunk, sizeof(chunk)) == 0, 34);
    lv_console_stats(k->con, &st);
    MUST(st.errors == 0 && st.dropped > 0, 35);
}

/* ---- the I/O thread ---- */

static void io_calls(struct kit *k)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    char buf[16] = "frame";
    struct iovec iov = {buf, 5};
    uint64_t one = 1;

    MUST(epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->pipe[0], &ev) == 0, 40);
    MUST(writev(k->pipe[1], &iov, 1) == 5, 41);
    MUST(epoll_wait(k->epfd, &ev, 1, 1000) == 1, 42);
    MUST(readv(k->pipe[0], &iov, 1) == 5, 43);
    MUST(write(k->efd, &one, sizeof(one)) == sizeof(one), 44);
    MUST(read(k->efd, &one, sizeof(one)) == sizeof(one), 45);
    MUST(epoll_ctl(k->epfd, EPOLL_CTL_DEL, k->pipe[0], NULL) == 0, 46);
}

/* ---- the main thread after prepare ---- */

/* The local fast path of a migration (lib/migrate/local.c): an fd passed
 * with SCM_RIGHTS, its seals read, a file mapped shared over a mapping at
 * the same address. */
static void local_migration(const struct kit *k)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } c;
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
                       .msg_controllen = sizeof(c.b)};
    int fd = openat(k->dirfd, "ram.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), got;

    memset(&c, 0, sizeof(c));
    c.h.cmsg_level = SOL_SOCKET;
    c.h.cmsg_type = SCM_RIGHTS;
    c.h.cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
    MUST(fd >= 0 && ftruncate(fd, 4096) == 0, 69);
    MUST(sendmsg(k->sp[0], &m, MSG_DONTWAIT | MSG_NOSIGNAL) == 1, 70);
    m.msg_controllen = sizeof(c.b);
    MUST(recvmsg(k->sp[1], &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) == 1 &&
         CMSG_FIRSTHDR(&m) != NULL, 71);
    memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
    MUST(fcntl(got, F_GET_SEALS) < 0 && errno == EINVAL, 72); /* not a memfd: allowed, refused */
    void *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    MUST(a != MAP_FAILED &&
         mmap(a, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, got, 0) == a, 73);
    MUST(munmap(a, 4096) == 0 && close(got) == 0 && close(fd) == 0 &&
         unlinkat(k->dirfd, "ram.tmp", 0) == 0, 74);
}

static void vmm_calls(struct kit *k)
{
    struct pollfd pf = {k->listen_fd, POLLIN, 0};
    char buf[64];
    uint8_t mac[6];
    struct stat st;
    void *p = malloc(1 << 20); /* brk or mmap */

    MUST(p != NULL, 50);
    free(p);
    MUST(poll(&pf, 1, 0) == 0, 51);
    MUST(accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK) < 0 && errno == EAGAIN,
         52);
    MUST(send(k->sp[0], "{}\n", 3, MSG_NOSIGNAL | MSG_DONTWAIT) == 3, 53);
    MUST(recv(k->sp[1], buf, sizeof(buf), MSG_DONTWAIT) == 3, 54);
    MUST(getrandom(mac, sizeof(mac), 0) == sizeof(mac), 55);
    MUST(ioctl(-1, KVM_SET_REGS, NULL) < 0 && errno == EBADF, 56);
    MUST(ioctl(-1, KVM_SIGNAL_MSI, NULL) < 0 && errno == EBADF, 57);
    MUST(ioctl(-1, KVM_GET_MSRS, NULL) < 0 && errno == EBADF, 57); /* lv_vm_resumed */
    MUST(prctl(PR_SET_PDEATHSIG, 0) == 0, 58);
    /* spec.json and a crashed note: a file written, renamed, removed, all
     * relative to the VM directory's fd (a jailed VM process has no
     * other way to its files) */
    int fd = openat(k->dirfd, "spec.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    MUST(fd >= 0 && write(fd, "{}", 2) == 2 && close(fd) == 0, 59);
    MUST(renameat(k->dirfd, "spec.json.tmp", k->dirfd, "spec.json") == 0 &&
         fstatat(k->dirfd, "spec.json", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         unlinkat(k->dirfd, "spec.json", 0) == 0, 60);
    /* snapshots: a save's files, a restore's dup and its state ioctls */
    fd = openat(k->dirfd, "snap.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    unsigned char vec[1];
    void *m = fd >= 0 && ftruncate(fd, 4096) == 0
                  ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
                  : MAP_FAILED;
    MUST(m != MAP_FAILED && pwrite(fd, "x", 1, 0) == 1 && mincore(m, 4096, vec) == 0, 61);
    int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    MUST(fd2 >= 0 && close(fd2) == 0 && munmap(m, 4096) == 0 && close(fd) == 0 &&
         unlinkat(k->dirfd, "snap.tmp", 0) == 0, 62);
    MUST(ioctl(-1, KVM_GET_LAPIC, NULL) < 0 && errno == EBADF, 63);
    MUST(ioctl(-1, KVM_SET_MSRS, NULL) < 0 && errno == EBADF, 64);
    MUST(ioctl(-1, KVM_SET_IRQCHIP, NULL) < 0 && errno == EBADF, 65);
    MUST(ioctl(-1, KVM_SET_VCPU_EVENTS, NULL) < 0 && errno == EBADF, 66);
    /* live migration's dirty tracking (lib/core/dirty.c) */
    MUST(ioctl(-1, KVM_SET_USER_MEMORY_REGION, NULL) < 0 && errno == EBADF, 67);
    MUST(ioctl(-1, KVM_GET_DIRTY_LOG, NULL) < 0 && errno == EBADF, 68);
    local_migration(k);
    (void)dir;
}

/* ---- forbidden calls ---- */

static void call_execve(void)
{
    static char name[] = "true";
    char *const argv[] = {name, NULL};
    execve("/bin/true", argv, NULL);
}

static void call_netlink(void)
{
    socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
}

static void call_open_rw(void)
{
    char p[sizeof(dir) + 16];
    snprintf(p, sizeof(p), "%s/x", dir);
    syscall(SYS_open, p, O_RDWR | O_CREAT, 0600); /* glibc's open() is openat */
}

static void call_openat_rw(void)
{
    openat(AT_FDCWD, "/etc/hostname", O_RDWR);
}

static void call_ptrace(void)
{
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static void call_kvm_create_vm(void)
{
    ioctl(-1, KVM_CREATE_VM, 0);
}

static void call_kvm_dirty_log(void)
{
    ioctl(-1, KVM_GET_DIRTY_LOG, NULL);
}

static void call_kvm_run(void)
{
    ioctl(-1, KVM_RUN, 0);
}

static void call_mmap_exec(void)
{
    mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void call_kill_parent(void)
{
    kill(parent, 0);
}

static void call_tgkill_other(void)
{
    syscall(SYS_tgkill, parent, parent, 0);
}

static void call_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
}

static void call_i386(void)
{
    long r = 20; /* getpid on i386, through the 32-bit entry */
    __asm__ volatile("int $0x80" : "+a"(r) : : "memory");
}

static void call_x32(void)
{
    syscall(0x40000000 | SYS_getpid);
}

struct forbidden {
    enum lv_seccomp_role role;
    const char *what;
    void (*call)(void);
    const char *report; /* in the report; NULL: killed without one */
};

static const struct forbidden cases[] = {
    {LV_SECCOMP_VCPU, "execve", call_execve, "the vCPU thread made system call 59 (execve"},
    {LV_SECCOMP_VCPU, "socket(AF_NETLINK)", call_netlink, "system call 41 (socket, arguments 0x10,"},
    {LV_SECCOMP_VCPU, "openat O_RDWR", call_openat_rw, "system call 257 (openat"},
    {LV_SECCOMP_VCPU, "ptrace", call_ptrace, "system call 101 (ptrace"},
    {LV_SECCOMP_VCPU, "KVM_CREATE_VM", call_kvm_create_vm, "system call 16 (ioctl, arguments "
                                                           "0xffffffff, 0xae01,"},
    {LV_SECCOMP_VCPU, "KVM_GET_DIRTY_LOG", call_kvm_dirty_log, "system call 16 (ioctl"},
    {LV_SECCOMP_VCPU, "mmap PROT_EXEC", call_mmap_exec, "system call 9 (mmap"},
    {LV_SECCOMP_VCPU, "tgkill to another process", call_tgkill_other, "system call 234 (tgkill"},
    {LV_SECCOMP_VCPU, "i386 int $0x80", call_i386, NULL},
    {LV_SECCOMP_VCPU, "x32", call_x32, NULL},
    {LV_SECCOMP_IO, "KVM_RUN", call_kvm_run, "the I/O thread made system call 16 (ioctl"},
    {LV_SECCOMP_IO, "open O_RDWR|O_CREAT", call_open_rw, "the I/O thread made system call 2 (open"},
    {LV_SECCOMP_IO, "execve", call_execve, "the I/O thread made system call 59 (execve"},
    {LV_SECCOMP_IO, "i386 int $0x80", call_i386, NULL},
    {LV_SECCOMP_VMM, "socket(AF_NETLINK)", call_netlink, "the VMM thread made system call 41 "
                                                         "(socket"},
    {LV_SECCOMP_VMM, "execve", call_execve, "the VMM thread made system call 59 (execve"},
    {LV_SECCOMP_VMM, "fork", call_fork, "the VMM thread made system call 56 (clone"},
    {LV_SECCOMP_VMM, "KVM_RUN", call_kvm_run, "system call 16 (ioctl, arguments "
                                              "0xffffffff, 0xae80,"},
    {LV_SECCOMP_VMM, "kill", call_kill_parent, "system call 62 (kill"},
    {LV_SECCOMP_VMM, "x32", call_x32, NULL},
};

/* ---- the children ---- */

static void make_kit(struct kit *k)
{
    struct lv_err err = {""};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char sub[sizeof(dir) + 16];

    k->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    k->epfd = epoll_create1(EPOLL_CLOEXEC);
    MUST(k->efd >= 0 && k->epfd >= 0, 2);
    MUST(pipe2(k->pipe, O_CLOEXEC | O_NONBLOCK) == 0, 2);
    MUST(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k->sp) == 0, 2);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl.sock", dir);
    unlink(sa.sun_path);
    k->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    MUST(k->listen_fd >= 0 && bind(k->listen_fd, (void *)&sa, sizeof(sa)) == 0 &&
         listen(k->listen_fd, 4) == 0, 2);
    k->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    MUST(k->dirfd >= 0, 2);
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    mkdir(sub, 0700);
    MUST(lv_console_open_log(&k->con, dir, 8192, &err) == 0, 2);
}

static void role_calls(enum lv_seccomp_role role, struct kit *k)
{
    common_calls();
    if (role == LV_SECCOMP_VCPU)
        vcpu_calls(k);
    else if (role == LV_SECCOMP_IO)
        io_calls(k);
    else
        vmm_calls(k);
}

/* Forks a child that installs (role)'s filter, makes the role's calls,
 * then (call) if not NULL, and exits 0. Its exit status (or 128+signal)
 * and stderr go to (status), (out). */
static void run_child(enum lv_seccomp_role role, void (*call)(void), int *status, char *out,
                      size_t cap)
{
    int pfd[2], st;
    size_t len = 0;
    pid_t pid;

    *status = -1;
    out[0] = '\0';
    CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        struct lv_err err = {""};
        struct kit k;
        dup2(pfd[1], 2);
        make_kit(&k);
        if (lv_seccomp_install(role, &err) < 0) {
            dprintf(2, "install: %s\n", err.msg);
            _exit(3);
        }
        role_calls(role, &k);
        if (call)
            call();
        _exit(0); /* not exit(): no atexit work (a leak check) under the filter */
    }
    close(pfd[1]);
    for (;;) { /* bounded: the child's end closes the pipe */
        ssize_t n = read(pfd[0], out + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == cap - 1)
            break;
    }
    out[len] = '\0';
    close(pfd[0]);
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    *status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_allowed(void)
{
    char out[4096];
    int status;

    for (int r = 0; r < LV_SECCOMP_NROLES; r++) {
        run_child(r, NULL, &status, out, sizeof(out));
        CHECK(status == 0, "%s role: the calls it needs: status %d: %s",
              lv_seccomp_role_name(r), status, out);
    }
}

/* Whether this kernel runs i386 system calls at all (without IA32
 * emulation int $0x80 is a fault, not a system call): a child without a
 * filter tries one. */
static int i386_works(void)
{
    int st;
    pid_t pid = fork();

    if (pid == 0) {
        call_i386();
        _exit(0);
    }
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_forbidden(void)
{
    int i386 = i386_works();
    char out[4096];
    int status;

    if (!i386)
        printf("no i386 system calls on this kernel: that case is not tried\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct forbidden *c = &cases[i];
        if (c->call == call_i386 && !i386)
            continue;
        run_child(c->role, c->call, &status, out, sizeof(out));
        CHECK(status == 128 + SIGSYS, "%s role, %s: status %d (want death by SIGSYS): %s",
              lv_seccomp_role_name(c->role), c->what, status, out);
        if (c->report) {
            CHECK(strstr(out, c->report) && strstr(out, "which its allow-list forbids; the VM "
                                                       "process ends\n"),
                  "%s role, %s: report '%s' not in: %s", lv_seccomp_role_name(c->role), c->what,
                  c->report, out);
            const char *first = strstr(out, "lightvm: seccomp:");
            CHECK(first && !strstr(first + 1, "lightvm: seccomp:"), "%s: one report: %s",
                  c->what, out);
        } else {
            CHECK(!strstr(out, "seccomp"), "%s: killed at once, no report: %s", c->what, out);
        }
    }
}

static void test_build(void)
{
    struct sock_filter f[LV_SECCOMP_MAX_INSNS];
    struct lv_err err = {""};

    for (int r = 0; r < LV_SECCOMP_NROLES; r++) {
        int n = lv_seccomp_filter(r, 1, f, LV_SECCOMP_MAX_INSNS, &err);
        CHECK(n > 8 && n <= LV_SECCOMP_MAX_INSNS, "%s filter: %d: %s", lv_seccomp_role_name(r),
              n, err.msg);
        CHECK(lv_seccomp_filter(r, 1, f, 8, &err) == -ENOSPC && strstr(err.msg, "instructions"),
              "a filter that does not fit: %s", err.msg);
    }
    CHECK(lv_seccomp_filter(LV_SECCOMP_NROLES, 1, f, LV_SECCOMP_MAX_INSNS, &err) == -EINVAL,
          "an unknown role");
    CHECK(lv_syscall_name(59) && !strcmp(lv_syscall_name(59), "execve"), "name of 59");
    CHECK(lv_syscall_name(LV_SECCOMP_DIE_NR) == NULL && lv_syscall_name(-1) == NULL,
          "no name for the die call");
}

static void cleanup(void)
{
    static const char *const files[] = {LV_CONSOLE_LOG, LV_CONSOLE_OLD, "ctl.sock", "sub", "x",
                                        "spec.json.tmp", "spec.json"};
    char p[sizeof(dir) + 32];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        if (unlink(p) < 0 && errno == EISDIR)
            rmdir(p);
    }
    CHECK(rmdir(dir) == 0, "%s: %s", dir, strerror(errno));
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    parent = getpid();
    test_build();
    test_allowed();
    test_forbidden();
    cleanup();
    return lvt_done("test_seccomp");
}
