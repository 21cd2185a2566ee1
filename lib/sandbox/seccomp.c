/*
 * seccomp.c: the seccomp-bpf filters of a VM process's threads
 * (seccomp.h). Hand-written classic BPF: a short prologue (x86-64 only,
 * the die call), then one block per allowed system call, each ending in
 * its own return, then the trap:
 *
 *   ld arch; jeq X86_64 ? next : kill
 *   ld nr;   nr >= x32 bit ? kill; nr == LV_SECCOMP_DIE_NR ? kill
 *   jeq NR1 ? next : past the block;  [argument checks;] ret ALLOW | TRAP
 *   jeq NR2 ...
 *   ret TRAP | role
 *
 * An argument check compares the low 32 bits of an argument: every call
 * checked here takes an int or unsigned int there (ioctl's request, mmap's
 * prot, openat's flags, tgkill's tgid, prctl's option), and the kernel
 * ignores the high half.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <ucontext.h>
#include <unistd.h>

#include "lightvm/console.h"
#include "lightvm/seccomp.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER 1
#endif
#endif
#ifndef SANITIZER
#define SANITIZER 0
#endif

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000u
#endif

/* How a rule checks a call's arguments. */
enum check {
    ANY,       /* allowed whatever its arguments */
    IOCTL,     /* ioctl: the request (args[1]) is one of the role's */
    NOEXEC,    /* mmap, mprotect: prot (args[2]) without PROT_EXEC */
    OWN_TGID,  /* tgkill: to a thread of this process (args[0] == tgid) */
    ARG0,      /* args[0] is one of vals (prctl's option, clone's flags) */
    ARG1,      /* args[1] is one of vals (fcntl's command) */
    OPEN_LOG,  /* openat: the console log's flags (args[2]); in sanitizer builds
                * also read only (a report reads /proc/self/maps) */
    OPENAT_RO, /* openat: read only (flags in args[2]) */
    OPEN_RO,   /* open: read only (flags in args[1]; the sanitizer runtime's) */
};

#define MAX_VALS 32 /* a role's ioctls: the VMM's snapshot ioctls are many */

struct rule {
    int nr;
    enum check check;
    uint32_t vals[MAX_VALS]; /* ARG0: the values allowed, 0-terminated */
};

#define R(name) {SYS_##name, ANY, {0}}
#define SAN(v) (SANITIZER ? (v) : 0) /* a value allowed in sanitizer builds only */

struct role_def {
    const char *name;
    const struct rule *rules, *san; /* san: sanitizer builds only */
    size_t nrules, nsan;
    uint32_t ioctls[MAX_VALS];      /* IOCTL's requests, 0-terminated */
};

/* ---- the allow-lists ---- */

/* Every role: the thread library, memory (glibc's malloc takes random
 * bytes when it first runs), signals, reports, the end; the clocks, which
 * the vDSO reads without a system call unless the host's clocksource
 * cannot be read from user space (hpet, acpi_pm: seen in a VM whose TSC
 * was marked unstable under load), when clock_gettime, gettimeofday
 * (jansson seeds its hash from it when /dev/urandom cannot be opened, as
 * in the jail) and time become real calls. */
static const struct rule common[] = {
    R(futex), R(write), R(rt_sigreturn), R(restart_syscall), R(rt_sigprocmask),
    R(madvise), R(munmap), {SYS_mmap, NOEXEC, {0}}, {SYS_mprotect, NOEXEC, {0}},
    {SYS_tgkill, OWN_TGID, {0}}, R(clock_gettime), R(gettimeofday), R(time), R(getpid),
    R(gettid), R(getrandom), R(exit), R(exit_group),
};

/* The vCPU thread: KVM_RUN (first: the hot path), the register dump of a
 * failed VM, the console (a plain fd, or the log and its rotation), the
 * done eventfd. */
static const struct rule vcpu[] = {
    {SYS_ioctl, IOCTL, {0}}, {SYS_openat, OPEN_LOG, {0}}, R(close), R(fstat), R(newfstatat),
    R(renameat), R(ftruncate),
};

/* The I/O thread: its epoll set (a tap that went away leaves it), the
 * kick and interrupt eventfds and the taps. */
static const struct rule io[] = {
    R(epoll_wait), R(read), R(readv), R(writev), R(epoll_ctl),
};

/* The main thread after prepare: execute (the image's fd, passed with
 * the exec message, a random MAC, the entry registers, PDEATHSIG off),
 * the control socket, shutdown's interrupt, a resume's guest TSC
 * (lv_vm_resumed: KVM_GET_MSRS), spec.json and crashed notes
 * and emptying its directory at the end, all relative to its directory's
 * fd (a jailed VM process has no filesystem); lightvm run's console flush
 * and signalfd. Snapshots (lib/snapshot): a save's files (ftruncate,
 * pwrite64, the memory's extents: lseek, and mincore for a restored VM),
 * a restore's state file (pread64), its memory file dup'ed
 * (F_DUPFD_CLOEXEC) and mapped over guest RAM (mmap, checked as above),
 * and the vCPU and VM state ioctls (the ioctl list below). Live
 * migration's dirty tracking (lib/core/dirty.c): the RAM memslot's flags
 * and its dirty log; its local fast path (lib/migrate/local.c): the RAM's
 * memfd passed (sendmsg, recvmsg with SCM_RIGHTS), its seals read
 * (F_GET_SEALS) and mapped shared over the RAM (mmap, checked as above). */
static const struct rule vmm[] = {
    R(poll), R(read), R(recvfrom), R(sendto), R(recvmsg), R(sendmsg), R(accept4), R(close),
    {SYS_ioctl, IOCTL, {0}}, R(openat), R(fstat), R(newfstatat), R(lseek), R(pread64),
    R(renameat), R(unlinkat), R(brk), R(mremap), R(ftruncate), R(pwrite64), R(mincore),
    /* the sanitizer runtime uses other commands in its reports */
    {SYS_fcntl, SANITIZER ? ANY : ARG1, {F_DUPFD_CLOEXEC, F_GET_SEALS}},
    {SYS_prctl, ARG0, {PR_SET_PDEATHSIG, SAN(PR_GET_DUMPABLE), SAN(PR_SET_DUMPABLE),
                       SAN(PR_SET_PTRACER)}},
};

/* Sanitizer builds: what the ASan/UBSan runtime needs at a thread's end
 * (its alternate signal stack) and to print a report (the process's maps
 * and its binary, read only, through its own raw open/stat/readlink). */
#define SAN_REPORT                                                                          \
    R(sigaltstack), R(sched_yield), {SYS_open, OPEN_RO, {0}}, R(stat), R(lstat), R(readlink), \
    R(pipe2)
static const struct rule san_io[] = {
    SAN_REPORT, R(fcntl), {SYS_openat, OPENAT_RO, {0}}, R(close), R(fstat), R(newfstatat), R(lseek),
    R(pread64), {SYS_ioctl, IOCTL, {0}},
};
static const struct rule san_vcpu[] = {
    SAN_REPORT, R(fcntl), R(read), R(lseek), R(pread64),
};
static const struct rule san_vmm[] = {
    SAN_REPORT,
    /* LeakSanitizer at exit: a tracer thread that stops the others */
    {SYS_clone, ARG0, {CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED}}, R(ptrace),
    R(wait4), R(getdents), R(getdents64), R(getppid), R(rt_sigaction),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct role_def roles[LV_SECCOMP_NROLES] = {
    [LV_SECCOMP_VCPU] = {"vCPU", vcpu, san_vcpu, N(vcpu), N(san_vcpu),
                         {KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS, SAN(TCGETS)}},
    [LV_SECCOMP_IO] = {"I/O", io, san_io, N(io), N(san_io), {SAN(TCGETS)}},
    [LV_SECCOMP_VMM] = {"VMM", vmm, san_vmm, N(vmm), N(san_vmm),
                        {KVM_SET_REGS, KVM_SIGNAL_MSI, KVM_GET_MSRS,
                         /* snapshots: save (lib/snapshot/save.c) */
                         KVM_GET_MP_STATE, KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_XSAVE,
                         KVM_GET_XCRS, KVM_GET_FPU, KVM_GET_LAPIC, KVM_GET_VCPU_EVENTS,
                         KVM_GET_IRQCHIP, KVM_GET_CLOCK,
                         /* and restore (restore.c) */
                         KVM_SET_MP_STATE, KVM_SET_SREGS, KVM_SET_XSAVE, KVM_SET_XCRS,
                         KVM_SET_FPU, KVM_SET_LAPIC, KVM_SET_MSRS, KVM_SET_VCPU_EVENTS,
                         KVM_SET_IRQCHIP, KVM_SET_CLOCK,
                         /* dirty tracking (lib/core/dirty.c) */
                         KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG,
                         SAN(TCGETS)}}, /* last: a 0 ends the list */
};

const char *lv_seccomp_role_name(enum lv_seccomp_role role)
{
    return (unsigned)role < LV_SECCOMP_NROLES ? roles[role].name : "?";
}

/* ---- building a filter ---- */

struct prog {
    struct sock_filter *f;
    size_t n, cap;
};

static void emit(struct prog *p, struct sock_filter insn)
{
    if (p->n < p->cap)
        p->f[p->n] = insn;
    p->n++;
}

#define ARG_LO(i) (uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i))
#define STMT(c, k) ((struct sock_filter)BPF_STMT((c), (k)))
#define JUMP(c, k, t, f) ((struct sock_filter)BPF_JUMP((c), (k), (t), (f)))
#define LD(off) STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define RET(v) STMT(BPF_RET | BPF_K, (v))
#define OPEN_MASK (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)

/* Accepts if (A & OPEN_MASK) == 0 (open flags: read only); else falls
 * through. */
static void emit_read_only(struct prog *p)
{
    emit(p, STMT(BPF_ALU | BPF_AND | BPF_K, OPEN_MASK));
    emit(p, JEQ(0, 0, 1));
    emit(p, RET(SECCOMP_RET_ALLOW));
}

/* The argument checks of (r): each path ends in a return. */
/* Allows if the low half of args[arg] is one of (vals) (0-terminated). */
static void emit_one_of(struct prog *p, unsigned arg, const uint32_t *vals, uint32_t trap)
{
    size_t k = 0;

    while (k < MAX_VALS && vals[k])
        k++;
    emit(p, LD(ARG_LO(arg)));
    for (size_t i = 0; i < k; i++)
        emit(p, JEQ(vals[i], (uint8_t)(k - i), 0));
    emit(p, RET(trap));
}

static void emit_check(struct prog *p, const struct rule *r, const struct role_def *d,
                       uint32_t trap, uint32_t tgid)
{
    switch (r->check) {
    case ANY:
        break;
    case IOCTL:
        emit_one_of(p, 1, d->ioctls, trap);
        break;
    case ARG0:
        emit_one_of(p, 0, r->vals, trap);
        break;
    case ARG1:
        emit_one_of(p, 1, r->vals, trap);
        break;
    case NOEXEC:
        emit(p, LD(ARG_LO(2)));
        emit(p, JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1));
        emit(p, RET(trap));
        break;
    case OWN_TGID:
        emit(p, LD(ARG_LO(0)));
        emit(p, JEQ(tgid, 1, 0));
        emit(p, RET(trap));
        break;
    case OPEN_LOG:
        emit(p, LD(ARG_LO(2)));
        emit(p, JEQ(LV_CONSOLE_LOG_FLAGS, 1 + 3 * SANITIZER, 0));
        if (SANITIZER)
            emit_read_only(p);
        emit(p, RET(trap));
        break;
    case OPENAT_RO:
    case OPEN_RO:
        emit(p, LD(ARG_LO(r->check == OPEN_RO ? 1 : 2)));
        emit_read_only(p);
        emit(p, RET(trap));
        break;
    }
    emit(p, RET(SECCOMP_RET_ALLOW));
}

/* One rule: jeq nr, then its checks; the jeq's false branch skips them.
 * -EINVAL for a second rule of the same call (it would never be reached). */
static int emit_rule(struct prog *p, const struct rule *r, const struct role_def *d,
                     uint32_t trap, uint32_t tgid, uint8_t *seen, struct lv_err *err)
{
    size_t at = p->n, len;

    if (r->nr < 0 || r->nr >= 512 || (seen[r->nr / 8] & (1u << (r->nr % 8))))
        return lv_err_set(err, EINVAL, "seccomp: the %s list names system call %d twice",
                          d->name, r->nr);
    seen[r->nr / 8] |= (uint8_t)(1u << (r->nr % 8));
    emit(p, JEQ((uint32_t)r->nr, 0, 0));
    emit_check(p, r, d, trap, tgid);
    len = p->n - at - 1;
    if (len > 255)
        return lv_err_set(err, E2BIG, "seccomp: the block of system call %d is too long", r->nr);
    if (at < p->cap)
        p->f[at].jf = (uint8_t)len;
    return 0;
}

static int emit_rules(struct prog *p, const struct rule *r, size_t n, const struct role_def *d,
                      uint32_t trap, uint32_t tgid, uint8_t *seen, struct lv_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = emit_rule(p, &r[i], d, trap, tgid, seen, err);
        if (rc)
            return rc;
    }
    return 0;
}

int lv_seccomp_filter(enum lv_seccomp_role role, pid_t tgid, struct sock_filter *prog,
                      size_t cap, struct lv_err *err)
{
    struct prog p = {prog, 0, cap};
    uint8_t seen[64] = {0};
    const struct role_def *d;
    uint32_t trap = SECCOMP_RET_TRAP | ((uint32_t)role & SECCOMP_RET_DATA);
    int rc;

    if ((unsigned)role >= LV_SECCOMP_NROLES)
        return lv_err_set(err, EINVAL, "seccomp: no role %d", (int)role);
    d = &roles[role];
    emit(&p, LD(offsetof(struct seccomp_data, arch)));
    emit(&p, JEQ(AUDIT_ARCH_X86_64, 1, 0));
    emit(&p, RET(SECCOMP_RET_KILL_PROCESS));
    emit(&p, LD(offsetof(struct seccomp_data, nr)));
    emit(&p, JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1));
    emit(&p, RET(SECCOMP_RET_KILL_PROCESS));
    emit(&p, JEQ(LV_SECCOMP_DIE_NR, 0, 1));
    emit(&p, RET(SECCOMP_RET_KILL_PROCESS));
    rc = emit_rules(&p, d->rules, d->nrules, d, trap, (uint32_t)tgid, seen, err);
    if (!rc)
        rc = emit_rules(&p, common, N(common), d, trap, (uint32_t)tgid, seen, err);
    if (!rc && SANITIZER)
        rc = emit_rules(&p, d->san, d->nsan, d, trap, (uint32_t)tgid, seen, err);
    if (rc)
        return rc;
    emit(&p, RET(trap));
    if (p.n > cap)
        return lv_err_set(err, ENOSPC, "seccomp: the %s filter needs %zu instructions, room "
                          "for %zu", d->name, p.n, cap);
    return (int)p.n;
}

/* ---- the report of a forbidden call ---- */

static size_t put_str(char *b, size_t n, size_t cap, const char *s)
{
    while (*s && n < cap)
        b[n++] = *s++;
    return n;
}

static size_t put_num(char *b, size_t n, size_t cap, unsigned long v, unsigned base)
{
    char d[24];
    size_t k = 0;

    do {
        d[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v && k < sizeof(d));
    while (k && n < cap)
        b[n++] = d[--k];
    return n;
}

/* SIGSYS from a filter's trap: one line on stderr, then the die call
 * (async-signal-safe: write and two raw system calls). */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    const ucontext_t *uc = ctx;
    const char *name = lv_syscall_name(si->si_syscall);
    char b[256];
    size_t n = 0, cap = sizeof(b);

    (void)sig;
    n = put_str(b, n, cap, "lightvm: seccomp: [pid ");
    n = put_num(b, n, cap, (unsigned long)getpid(), 10);
    n = put_str(b, n, cap, "] the ");
    n = put_str(b, n, cap, lv_seccomp_role_name((enum lv_seccomp_role)si->si_errno));
    n = put_str(b, n, cap, " thread made system call ");
    n = put_num(b, n, cap, (unsigned long)(unsigned)si->si_syscall, 10);
    n = put_str(b, n, cap, " (");
    n = put_str(b, n, cap, name ? name : "unknown");
    for (int i = 0; i < 3; i++) { /* its first arguments: rdi, rsi, rdx */
        static const int reg[3] = {REG_RDI, REG_RSI, REG_RDX};
        n = put_str(b, n, cap, i ? ", 0x" : ", arguments 0x");
        n = put_num(b, n, cap, (unsigned long)uc->uc_mcontext.gregs[reg[i]], 16);
    }
    n = put_str(b, n, cap, "), which its allow-list forbids; the VM process ends\n");
    if (write(STDERR_FILENO, b, n) < 0) {
        /* nowhere left to say it */
    }
    syscall(LV_SECCOMP_DIE_NR);
    _exit(128 + SIGSYS); /* not reached: the filter kills the process */
}

int lv_seccomp_install(enum lv_seccomp_role role, struct lv_err *err)
{
    struct sock_filter f[LV_SECCOMP_MAX_INSNS];
    struct sock_fprog prog;
    struct sigaction sa;
    sigset_t sys;
    int n = lv_seccomp_filter(role, getpid(), f, LV_SECCOMP_MAX_INSNS, err);

    if (n < 0)
        return n;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return lv_err_set(err, errno, "seccomp: SIGSYS handler: %s", strerror(errno));
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return lv_err_set(err, errno, "seccomp: no_new_privs: %s", strerror(errno));
    prog.len = (unsigned short)n;
    prog.filter = f;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        int e = errno;
        return lv_err_set(err, e, "seccomp: the %s thread's filter: %s%s", roles[role].name,
                          strerror(e), e == ENOSYS || e == EINVAL
                              ? " (a kernel without seccomp filters, or valgrind?)" : "");
    }
    return 0;
}
