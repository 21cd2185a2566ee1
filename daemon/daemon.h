/* daemon.h: the pieces of lightvmd shared between its files. */
#ifndef LIGHTVMD_H
#define LIGHTVMD_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "lightvm/ctl.h"
#include "lightvm/vmspec.h"

#define LVD_SHELL_FD 3          /* a shell's end of its socketpair with the daemon */
#define LVD_EXEC_TIMEOUT_MS 10000
#define LVD_CALL_TIMEOUT_MS 5000
#define LVD_SAVE_TIMEOUT_MS 60000 /* a save writes the guest RAM (sparse) */
#define LVD_MIGRATE_TIMEOUT_MS 30000 /* a migration, either end, start to finish */
#define LVD_MIG_VERSION 1 /* the migration handshake's (docs/migration.md) */

/* What a shell's exec starts its VM from ("from"): an image (its fd
 * passed along), a snapshot (its state and memory files' fds), or an
 * incoming migration (the connection it arrives on). */
#define LVD_FROM_IMAGE "image"
#define LVD_FROM_SNAPSHOT "snapshot"
#define LVD_FROM_MIGRATION "migration"
#define LVD_FROM_MIGRATION_LOCAL "migration-local" /* the RAM's memfd passed */
#define LVD_MIG_UNIX "unix:" /* a local migration's address: unix:PATH */
#define LVD_SHUTDOWN_DEFAULT_MS 5000 /* a shutdown request without timeout_ms */
#define LVD_CONSOLE_TAIL (64u << 10)
#define LVD_BRIDGE_IPS 8        /* a flavor bridge's IPv4 addresses a shell reports */
#define LVD_JAIL_NPROC 16       /* RLIMIT_NPROC of a jailed VM process (its uid's tasks:
                                 * it needs 3 threads) */

/* vmproc.c: `lightvmd --vm-shell --memory MB --nics N --rundir DIR`,
 * run by the daemon with its socketpair on fd LVD_SHELL_FD: prepares a VM
 * shell, reports {"ready":true,...}, waits for {"op":"exec",...}, then is
 * that VM's process until the VM ends. Returns the process exit status. */
int vmproc_main(int argc, char **argv);

/* $RUNDIR/vms/NAME[/FILE] into (buf); -ENAMETOOLONG if it does not fit. */
int lvd_vm_path(char *buf, size_t cap, const char *rundir, const char *name, const char *file);

/* $RUNDIR/shells/PID[/FILE]: a shell's directory (its ctl.sock and
 * console.log) until execute renames it to $RUNDIR/vms/NAME. */
int lvd_shell_path(char *buf, size_t cap, const char *rundir, pid_t pid, const char *file);
/* Removes a shell's directory and its files. */
void lvd_shell_dir_remove(const char *rundir, pid_t pid);
/* Removes the files lightvm puts in a VM's or shell's directory (dir_fd,
 * borrowed; nothing if < 0), relative to it: a jailed VM process has no
 * other way to them. The directory itself stays. */
void lvd_dir_empty(int dir_fd);

/* Writes (line) and a newline to the file (path, relative to dir_fd or
 * AT_FDCWD), replacing it; a symbolic link there is not followed (an
 * error). 0 or -errno. */
int lvd_note_write(int dir_fd, const char *path, const char *line);
/* Removes $RUNDIR/vms/NAME and the files lightvm puts there. */
void lvd_vm_dir_remove(const char *rundir, const char *name);

/* rundir.c: refuses a run directory that others could tamper with: a
 * symbolic link, not a directory, not owned by this user, or writable by
 * group or others. 0 or -errno with a one-line err. */
int lvd_rundir_check(const char *rundir, struct lv_err *err);
/* rundir.c: takes $RUNDIR/lightvmd.lock; (*lock_fd) is set only once this
 * process holds it (the caller unlinks the file at its end only then).
 * -EBUSY: another daemon holds it. */
int lvd_rundir_lock(const char *rundir, int *lock_fd, struct lv_err *err);
/* Removes the directories of shells that died with an earlier daemon
 * (call with the lock held). */
void lvd_rundir_clean_shells(const char *rundir);

/* Monotonic microseconds. */
double lvd_now_us(void);

/* migline.c: a migration's handshake lines (one JSON object per line on
 * the connection the stream follows; nothing after the line is read).
 * Send: (msg) as one line, waiting at most (ms) for room each time.
 * Recv: one object of at most (max) bytes within (ms), read a byte at a
 * time, into (*out) (new reference); errors name (what). 0 or -errno. */
int lvd_line_send(int fd, const json_t *msg, int ms, struct lv_err *err);
int lvd_line_recv(int fd, size_t max, int ms, const char *what, json_t **out,
                  struct lv_err *err);

#endif
