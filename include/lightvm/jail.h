/*
 * jail.h: confining a VM process once its setup is done (lib/sandbox/jail.c).
 *
 * A VM process does its privileged setup first (KVM, guest memory, taps,
 * its directory, its control socket), then enters the jail and only then
 * lets guest code run. In the jail it has:
 *   - a mount namespace whose root is an empty, read-only tmpfs (the host's
 *     filesystem is unmounted there; the process keeps only fds it opened
 *     before, such as an O_PATH fd of its own directory);
 *   - an IPC namespace of its own (its PID namespace comes from the clone
 *     that made it: lightvmd's pool.c);
 *   - a uid and gid of its own, from LV_JAIL_ID_BASE (no supplementary
 *     groups), no capabilities (effective, permitted, inheritable, ambient
 *     and bounding sets empty), no_new_privs, not dumpable;
 *   - rlimits: no core files, files it writes at most (fsize) bytes, at
 *     most (nproc) tasks for its uid.
 * Seccomp filters come after this (lightvm/seccomp.h).
 */
#ifndef LIGHTVM_JAIL_H
#define LIGHTVM_JAIL_H

#include <stdint.h>
#include <sys/types.h>

#include "lightvm/err.h"

/* A jailed VM process runs as uid = gid = LV_JAIL_ID_BASE + its pid in the
 * host's PID namespace: unique among live processes, no allocation to
 * keep. Linux pids stay below 2^22, so the range is
 * [LV_JAIL_ID_BASE, LV_JAIL_ID_BASE + LV_JAIL_ID_SPAN). No user or group
 * of the host should use it (docs/security.md). */
#define LV_JAIL_ID_BASE 0x70000000u
#define LV_JAIL_ID_SPAN (1u << 22)

struct lv_jail {
    uid_t uid;
    gid_t gid;
    const char *mount_at; /* an existing directory the empty root is mounted on before
                           * the pivot (any will do: it is in the new namespace only) */
    uint64_t fsize;       /* RLIMIT_FSIZE in bytes; 0: leave it */
    unsigned nproc;       /* RLIMIT_NPROC; 0: leave it */
};

/* The calling process's pid in the PID namespace of the mounted /proc
 * (the host's, for a process cloned into a PID namespace of its own that
 * has not remounted /proc): > 0, or -errno with a line in (err). Call it
 * before lv_jail_enter(). */
pid_t lv_jail_host_pid(struct lv_err *err);

/* The uid/gid of the jail of the process whose host pid is (pid). */
int lv_jail_ids(pid_t pid, uid_t *uid, gid_t *gid, struct lv_err *err);

/* Enters the jail described above. Needs root (CAP_SYS_ADMIN, CAP_SETUID,
 * CAP_SETGID, CAP_SETPCAP) and should be called while the process has one
 * thread. On failure the process is partly confined: it must not run
 * guest code and should exit. 0 or -errno with a line in (err). */
int lv_jail_enter(const struct lv_jail *j, struct lv_err *err);

#endif
