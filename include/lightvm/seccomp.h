/*
 * seccomp.h: a seccomp-bpf allow-list per thread role of a VM process.
 *
 * A VM process has three kinds of thread, and each gets a filter made for
 * what it does once the VM is prepared:
 *
 *   LV_SECCOMP_VCPU  the vCPU thread (KVM_RUN and the exits it serves,
 *                    console writes and the console log's rotation)
 *   LV_SECCOMP_IO    the I/O thread (eventfds, the taps, its epoll set)
 *   LV_SECCOMP_VMM   the main thread after prepare (execute, the control
 *                    socket, spec.json and crashed notes, the VM's end)
 *
 * A filter applies to the thread that installs it and to threads that
 * thread creates afterwards (filters stack: a call must pass all of
 * them). So the library's threads install their own at their start
 * (LV_VM_F_SECCOMP), and the main thread installs LV_SECCOMP_VMM only
 * after it has created them; the VMM list has no clone, so a thread made
 * later would be a violation.
 *
 * Anything but x86-64 system calls (i386 via int $0x80, x32) kills the
 * process at once. A call outside the list is trapped: the SIGSYS handler
 * the installer sets writes one line to stderr, e.g.
 *   lightvm: seccomp: [pid 7] the vCPU thread made system call 59
 *   (execve), which its allow-list forbids; the VM process ends
 * and then makes LV_SECCOMP_DIE_NR, which every filter answers with
 * SECCOMP_RET_KILL_PROCESS: the process dies of SIGSYS (signal 31), which
 * works for the init of a PID namespace too (a signal to itself would
 * not). Sanitizer builds (ASan) allow in addition what the sanitizer
 * runtime needs to print a report and to check for leaks at exit.
 */
#ifndef LIGHTVM_SECCOMP_H
#define LIGHTVM_SECCOMP_H

#include <stddef.h>
#include <sys/types.h>

#include "lightvm/err.h"

enum lv_seccomp_role {
    LV_SECCOMP_VCPU,
    LV_SECCOMP_IO,
    LV_SECCOMP_VMM,
};
#define LV_SECCOMP_NROLES 3

/* The system call a trapped thread makes to end the process: not a real
 * one (x86-64 numbers end far below), killed by every role's filter. */
#define LV_SECCOMP_DIE_NR 0x3ff0

/* Room a filter needs (instructions). */
#define LV_SECCOMP_MAX_INSNS 512

struct sock_filter;

/* Writes (role)'s filter into (prog), which has room for (cap)
 * instructions, for a process whose thread group id is (tgid) (tgkill is
 * allowed to it only). Returns the number of instructions, or -errno with
 * (err) (-ENOSPC: cap too small; -EINVAL: an unknown role). Nothing is
 * installed: this is what lv_seccomp_install loads, for tests. */
int lv_seccomp_filter(enum lv_seccomp_role role, pid_t tgid, struct sock_filter *prog,
                      size_t cap, struct lv_err *err);

/* Installs (role)'s filter on the calling thread: sets the process's
 * SIGSYS handler (the report above), unblocks SIGSYS in this thread, sets
 * no_new_privs (for this thread; required without CAP_SYS_ADMIN) and
 * loads the filter. Irreversible. 0 or -errno with (err). */
int lv_seccomp_install(enum lv_seccomp_role role, struct lv_err *err);

/* "vCPU", "I/O", "VMM"; "?" for another value. */
const char *lv_seccomp_role_name(enum lv_seccomp_role role);

/* The name of x86-64 system call (nr) ("execve"), or NULL if unknown. */
const char *lv_syscall_name(long nr);

#endif
