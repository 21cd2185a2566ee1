/*
 * run_vm.c: the VM process of `lightvm run`. The command (cmd_run.c)
 * makes the host side (taps, their antispoof rules, bridges, the probe
 * socket) and forks this process, which builds the VM, enters the jail
 * (lightvm/jail.h) when it runs as root, then lets the guest run under
 * its seccomp filters. What needs privilege at the end (rules, bridges)
 * stays with the command, which outlives it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "lightvm/console.h"
#include "lightvm/elf.h"
#include "lightvm/jail.h"
#include "lightvm/seccomp.h"
#include "lightvm/x86.h"

/* RLIMIT_NPROC of the jailed process: its threads (main, vCPU, I/O). */
#define RUN_JAIL_NPROC 16

/* Waits for the VM, stopping it on SIGINT/SIGTERM/SIGHUP or when the
 * command is gone (its end of (parent_fd) closed), and reports the
 * network-up probe when (probe_fd) >= 0. Returns the signal that stopped
 * it, or 0. */
static int wait_vm(struct lv_vm *vm, int sigfd, int parent_fd, int probe_fd, uint64_t t0)
{
    struct pollfd pfd[4] = {{lv_vm_done_fd(vm), POLLIN, 0}, {sigfd, POLLIN, 0},
                            {parent_fd, POLLIN, 0}, {probe_fd, POLLIN, 0}};
    int sig = 0;

    for (;;) {
        if (poll(pfd, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            lv_vm_stop(vm);
            break;
        }
        if (pfd[0].revents)
            break;
        if (pfd[1].revents) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == sizeof(si))
                sig = (int)si.ssi_signo;
            lv_vm_stop(vm);
            break;
        }
        if (pfd[2].revents) { /* the command died: nobody would clean up after us */
            sig = SIGHUP;
            lv_vm_stop(vm);
            break;
        }
        if (pfd[3].revents) {
            char buf[64];
            if (recv(probe_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
                fprintf(stderr, "lightvm: network up in %.3f ms\n",
                        (double)(lv_now_ns() - t0) / 1e6);
                pfd[3].fd = -1; /* once */
            }
        }
    }
    return sig;
}

static int report(const struct lv_vm_result *res, int sig)
{
    switch (res->outcome) {
    case LV_VM_EXITED:
        return res->status;
    case LV_VM_CRASHED:
        fprintf(stderr, "lightvm run: %s (crash report above)\n", res->msg);
        return LV_EXIT_VM_FAILED;
    case LV_VM_FAILED:
        fprintf(stderr, "lightvm run: vm stopped: %s\n%s", res->msg, res->regs);
        return LV_EXIT_VM_FAILED;
    case LV_VM_STOPPED:
    default:
        if (sig) {
            fprintf(stderr, "lightvm run: stopped by signal %d\n", sig);
            return 128 + sig;
        }
        fprintf(stderr, "lightvm run: vm stopped\n");
        return LV_EXIT_VM_FAILED;
    }
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Closes every fd above 2 but (r)'s own (taps, probe socket, the pipe to
 * the command, the image): the command's netlink and netfilter sockets
 * stay with the command. Stdin becomes /dev/null (the guest reads no
 * console input; a terminal there is one more thing to abuse). */
static int close_others(const struct lv_run_vm *r, struct lv_err *err)
{
    int keep[LV_VM_MAX_NICS + 3], n = 0, lo = 3;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (null < 0 || dup2(null, STDIN_FILENO) < 0) {
        int e = errno;
        if (null >= 0)
            close(null);
        return lv_err_set(err, e, "/dev/null as stdin: %s", strerror(e));
    }
    close(null);
    for (unsigned i = 0; i < r->spec->nvifs && i < LV_VM_MAX_NICS; i++)
        keep[n++] = r->tap_fds[i];
    keep[n++] = r->probe_fd;
    keep[n++] = r->parent_fd;
    keep[n++] = r->img->fd;
    qsort(keep, (size_t)n, sizeof(keep[0]), cmp_int);
    for (int i = 0; i < n; i++) {
        if (keep[i] < lo)
            continue;
        if (keep[i] > lo && close_range((unsigned)lo, (unsigned)keep[i] - 1, 0) < 0)
            return lv_err_set(err, errno, "close_range: %s", strerror(errno));
        lo = keep[i] + 1;
    }
    if (close_range((unsigned)lo, ~0U, 0) < 0)
        return lv_err_set(err, errno, "close_range: %s", strerror(errno));
    return 0;
}

/* The jail of a `lightvm run` VM process: a uid of its own, nothing of
 * the host's filesystem (the console is stdout, already open). No file
 * size limit: stdout may be a file the user wants whole. */
static int jail(struct lv_err *err)
{
    struct lv_jail j = {.mount_at = "/proc", .nproc = RUN_JAIL_NPROC};
    pid_t pid = lv_jail_host_pid(err);
    int rc = pid < 0 ? (int)pid : lv_jail_ids(pid, &j.uid, &j.gid, err);

    return rc < 0 ? rc : lv_jail_enter(&j, err);
}

/* Builds the VM from (r) (build.h: prepare, then execute), the guest's
 * image read in and closed. (*con) and (*vm) are the caller's. */
static int build(const struct lv_run_vm *r, struct lv_kvm *kvm, struct lv_span *open_kvm,
                 struct lv_console **con, struct lv_vm **vm, struct lv_err *err)
{
    struct lv_vm_shape shape = {
        .mem_size = r->spec->memory_mb << 20, .nnics = r->spec->nvifs,
        .tap_fds = r->tap_fds, .flags = r->flags,
    };
    int rc;

    open_kvm->start_ns = lv_now_ns();
    if ((rc = lv_kvm_open(kvm, err)) < 0)
        return rc;
    open_kvm->end_ns = lv_now_ns();
    /* The console: stdout, escaped unless --raw. A write that fails
     * (stdout closed) stops the VM, as nobody can see it any more. */
    if ((rc = lv_console_open_fd(con, STDOUT_FILENO, r->raw ? 0 : LV_CONSOLE_ESCAPE, err)) < 0)
        return rc;
    shape.console = *con;
    if ((rc = lv_build_prepare(vm, kvm, &shape, err)) < 0)
        return rc;
    rc = lv_build_execute(*vm, r->spec, &r->probe, r->img, err);
    lv_image_close(r->img);
    return rc;
}

int lv_run_vm(const struct lv_run_vm *r)
{
    struct lv_err err = {""};
    struct lv_kvm kvm = {.fd = -1};
    struct lv_span open_kvm = {0, 0};
    struct lv_console *con = NULL;
    struct lv_vm *vm = NULL;
    struct lv_vm_result res;
    sigset_t sigs;
    int sigfd = -1, sig, rc = LV_EXIT_HOST_ERROR;

    if (close_others(r, &err) < 0) { /* first: what it opens from here on is its own */
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        lv_image_close(r->img);
        return rc;
    }
    /* A closed stdout must end the VM with "console write failed", not
     * kill the process from the vCPU thread. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* the vCPU thread inherits the mask */
    sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, "lightvm run: signalfd: %s\n", strerror(errno));
        goto out;
    }
    /* The jail before any thread exists (a mount namespace needs one
     * thread) and before the guest runs; then the threads (with
     * LV_VM_F_SECCOMP each installs its filter, at the same time as this
     * one installs its own, which allows no new thread: seccomp.h);
     * lv_vm_start checks theirs are in. */
    if (build(r, &kvm, &open_kvm, &con, &vm, &err) < 0 || (r->jail && jail(&err) < 0) ||
        lv_vm_spawn_threads(vm, &err) < 0 ||
        ((r->flags & LV_VM_F_SECCOMP) && lv_seccomp_install(LV_SECCOMP_VMM, &err) < 0) ||
        lv_vm_start(vm, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    sig = wait_vm(vm, sigfd, r->parent_fd, r->probe_fd, r->t0);
    lv_vm_wait(vm, &res);
    lv_console_flush(con); /* an unfinished UTF-8 sequence at the end */
    fflush(stdout);
    rc = report(&res, sig);
    if (r->trace)
        lv_print_trace(stderr, vm, r->t0, &open_kvm, con);
out:
    if (sigfd >= 0)
        close(sigfd);
    lv_vm_destroy(&vm);
    lv_console_close(&con); /* after the VM, which wrote to it */
    lv_kvm_close(&kvm);
    lv_image_close(r->img);
    return rc;
}
