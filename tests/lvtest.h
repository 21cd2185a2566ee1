/*
 * lvtest.h: the few helpers lightvm's C tests share.
 *
 * A test program exits 0 (pass), 1 (fail) or LVT_SKIP (skip). CHECK()
 * records a failure with file and line and goes on; the program ends
 * with lvt_done().
 */
#ifndef LVTEST_H
#define LVTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "nsprocs.h"

#define LVT_SKIP 77

extern int lvt_failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            lvt_failures++;                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

/* Returns the exit code for the program: 0 when no CHECK failed. */
int lvt_done(const char *name);

/* Exits with LVT_SKIP when there is no usable /dev/kvm, unless
 * LIGHTVM_REQUIRE_KVM=1, in which case the missing KVM is a failure. */
void lvt_require_kvm(void);
/* The same for root (network namespaces, taps): (test) needs root for (needs). */
void lvt_require_root(const char *test, const char *needs);

struct lvt_proc {
    int status;          /* exit code, or 128+signal */
    int timed_out;
    double wall_ms;
    double cpu_ms;       /* user + system time of the child */
    char out[65536];     /* stdout, NUL-terminated (truncated if longer) */
    char err[65536];     /* stderr, NUL-terminated */
};

/* Runs argv (argv[0] a path) with (timeout_s), capturing its output.
 * Returns 0, or -1 if it could not be started. */
int lvt_run(struct lvt_proc *p, int timeout_s, const char *const argv[]);

/* lvt_run with argv given as arguments (a NULL-terminated list, at most
 * 62), so that a caller's macro can add its own (see test_faults.c). */
int lvt_runv(struct lvt_proc *p, int timeout_s, const char *a0, ...);

/* Writes (len) bytes to a new file (path). Returns 0 or -1. */
int lvt_write_file(const char *path, const void *buf, size_t len);

/* CLOCK_MONOTONIC in milliseconds. */
double lvt_now_ms(void);
void lvt_sleep_ms(int ms);

/* ---- programs in the background ----
 * Each runs in a process group of its own (so a signal reaches whatever
 * it started too) with stdin from /dev/null and stdout/stderr captured.
 * lvt_bg_pump() reads the output of every running one, so none blocks on
 * a full pipe while the test waits for another. */
struct lvt_bg {
    pid_t pid;          /* 0 once reaped */
    pid_t pgid;         /* its process group (stays set after reaping) */
    int fd[2];          /* stdout, stderr read ends; -1 at EOF */
    size_t len[2];
    int status;         /* exit code or 128+signal; -1 while running */
    int timed_out;      /* lvt_bg_stop had to SIGKILL it */
    double t0_ms;       /* lvt_now_ms() just before the fork */
    char out[16384];    /* NUL-terminated, truncated if longer */
    char err[16384];
};

/* Starts argv (argv[0] a path). Returns 0, or -1 (errno set). */
int lvt_bg_start(struct lvt_bg *b, const char *const argv[]);
/* lvt_bg_start with the soft limit of rlimit (resource) set to (soft) in
 * the child before the exec (the hard limit stays). */
int lvt_bg_start_limited(struct lvt_bg *b, const char *const argv[], int resource,
                         unsigned long soft);
/* Reads the output of every running background program for up to (ms)
 * (less when something arrives); reaps those that ended. */
void lvt_bg_pump(int ms);
/* Pumps until (needle) appears in b->err (1), or b ends or (timeout_ms)
 * passes (0). needle NULL: waits for b to end (1 if it did). */
int lvt_bg_wait(struct lvt_bg *b, const char *needle, int timeout_ms);
/* Sends (sig) to b's process group (0: none), waits up to (timeout_ms) for
 * b to end, then SIGKILLs the group (timed_out). Returns b->status. */
int lvt_bg_stop(struct lvt_bg *b, int sig, int timeout_ms);
/* lvt_bg_start + lvt_bg_stop(b, 0, timeout_ms). Returns status or -1. */
int lvt_bg_run(struct lvt_bg *b, int timeout_ms, const char *const argv[]);

/* The first of (cands) (NULL-terminated paths) that is executable, or NULL. */
const char *lvt_find_exe(const char *const *cands);

/* Runs `(ip_bin) ARGS` (the formatted ARGS split at spaces) as (tool),
 * 30 s at most; returns its status, printing its stderr when it fails. */
int lvt_ip(struct lvt_bg *tool, const char *ip_bin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The processes of a network namespace: lvt_ns_procs, lvt_netns_others,
 * lvt_ns_kill (nsprocs.h). */

/* Open fds of process (pid) (entries of /proc/PID/fd), -1 if unreadable. */
int lvt_fd_count(pid_t pid);

/* ---- sysfs of the current network namespace (see lvt_private_netns) ---- */
/* Tap (tun) devices in this network namespace. */
int lvt_count_taps(void);
/* Reads /sys/class/net/<ifname>/<attr> without its newline; 0 or -1. */
int lvt_sys_read(const char *ifname, const char *attr, char *buf, size_t cap);
/* The attribute as a number (hex with 0x or decimal); 0 if unreadable. */
unsigned long lvt_sys_num(const char *ifname, const char *attr);
/* /sys/class/net/<ifname>[/<sub>] exists. */
int lvt_sys_exists(const char *ifname, const char *sub);

/* Moves this process into a network namespace and a mount namespace of
 * its own, with a sysfs that shows the new network namespace. Both go
 * away with the process. Returns 0, or -1 with (why) filled in. */
int lvt_private_netns(char *why, size_t cap);

/* ---- "this program executes nothing" checks, with strace ----
 * lvt_strace_prepare builds s->argv = strace -f -e trace=execve,execveat
 * -o <memfd> CMD... and sets ASAN_OPTIONS to add detect_leaks=0
 * (LeakSanitizer cannot run under ptrace) until lvt_strace_restore_env.
 * lvt_strace_check_one_exec then CHECKs that the trace holds exactly one
 * execve, strace launching (path) (as given in CMD), and frees the trace. */
struct lvt_strace {
    int fd;                 /* memfd holding the trace; -1 when none */
    char fdpath[32];
    const char *argv[48];
    char *saved_asan;       /* ASAN_OPTIONS before prepare (malloc'd) */
    int had_asan;
};
int lvt_strace_prepare(struct lvt_strace *s, const char *const cmd[]);
void lvt_strace_restore_env(struct lvt_strace *s);
void lvt_strace_check_one_exec(struct lvt_strace *s, const char *path);

/* ---- a VM's console, as lightvmd reports it (`lightvm info`) ---- */
struct lvt_con {
    char state[16];
    unsigned long long cap, bytes, dropped, errors;
    char last_error[64];
};

/* `(lightvm) info NAME --rundir RUNDIR` (output in p): its state and
 * console counters in (c); 0, or -1 (not run, failed, no counters). */
int lvt_con_stats(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *name,
                  struct lvt_con *c);
/* Polls lvt_con_stats (bounded: 30 s) until (done)(c, arg); 1 if it came. */
int lvt_con_wait(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *name,
                 struct lvt_con *c, int (*done)(const struct lvt_con *, const void *),
                 const void *arg);
/* lvt_con_wait conditions: the counter is above *(unsigned long long *)arg. */
int lvt_con_bytes_over(const struct lvt_con *c, const void *arg);
int lvt_con_dropped_over(const struct lvt_con *c, const void *arg);
int lvt_con_errors_over(const struct lvt_con *c, const void *arg);
/* The size of $RUNDIR/vms/NAME/FILE (0 when it is not there). */
long lvt_vm_file_size(const char *rundir, const char *name, const char *file);
/* The bytes of VM (name)'s console log: console.log + console.log.1. */
long lvt_con_log_bytes(const char *rundir, const char *name);

/* ---- a client of guest/apps/counter (lvcounter.c) ----
 * The counter answers on UDP and TCP port 7 with "count N uptime_ms M gen
 * G ip A" (TCP: and " isn X", its side's initial sequence number). */
struct lvt_reply {
    unsigned long count, uptime_ms, gen;
    char ip[16];
};

/* Dotted quad (s) in network order (0 if it is not one). */
uint32_t lvt_ip4(const char *s);
/* A counter's answer (buf) parsed into (r): 1 if it is one. */
int lvt_counter_parse(const char *buf, struct lvt_reply *r);
/* Asks (ip):7 over UDP from one socket, up to (tries) times a second
 * apart: the tries it took (1..tries) with the answer in (r), or 0 if
 * none came. An answer that is not a counter's is CHECK-failed. */
int lvt_counter_ask(const char *ip, int tries, struct lvt_reply *r);
/* Asks (ip):7 over TCP (up to (tries) connects, 2 s each, half a second
 * apart): 1 with the ISN of the guest's side in *isn, or 0. */
int lvt_counter_ask_tcp(const char *ip, int tries, unsigned long *isn);

/* ---- end-to-end tests: the test's namespace, lightvmd, the CLI (lve2e.c) ----
 * Every buffer, lvt_bg and lvt_proc here is the caller's; nothing is
 * allocated. The CLI calls take the caller's (p, lightvm, rundir) as
 * lvt_con_stats does; tests wrap them in a macro of their own (lv). */

/* The first lines of an e2e test's main: stdout line-buffered, then
 * lvt_require_kvm and lvt_require_root(test, needs). */
void lvt_e2e_require(const char *test, const char *needs);
/* argv[at] if the test was given it (argc > at): the release build of
 * lightvm, for runs under valgrind (which cannot run the sanitizer build);
 * CHECKs that valgrind is installed. NULL without it. */
const char *lvt_e2e_release_arg(int argc, char **argv, int at);
/* The start of an e2e test's main: (guest_arg) resolved into (gdir)
 * (PATH_MAX bytes), ip and nc found, (rundir) (a mkdtemp template)
 * created and (cfgdir) (PATH_MAX bytes) = RUNDIR-cfg beside it, then this
 * process moved into a network and mount namespace of its own
 * (lvt_private_netns). Returns 0, or -1 after printing a FAIL line (and
 * removing the directories it made: the caller just returns). On success
 * the caller removes both directories at its end (lvt_rm_rf). */
int lvt_e2e_setup(const char *guest_arg, char *gdir, char *rundir, char *cfgdir,
                  const char **ip_bin, const char **nc_bin);
/* Bridge (br) with address (cidr, "10.1.0.1/16") and up, with (tool);
 * 0, or the failing ip's status (its stderr printed). */
int lvt_bridge_add(struct lvt_bg *tool, const char *ip_bin, const char *br, const char *cidr);

/* lo up and bridge (br) with (cidr) (lvt_bridge_add), with (tool); 0, or
 * -1 after printing a FAIL line with ip's stderr. */
int lvt_e2e_bridge(struct lvt_bg *tool, const char *ip_bin, const char *br, const char *cidr);

/* Runs `(lightvm) ARGS... --rundir (rundir)` (ARGS NULL-terminated, at
 * most 18), 60 s at most: its exit status, -1 if not run; output in p. */
int lvt_lv(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *a0, ...);
/* The pid `lightvm info NAME` shows (its output stays in p), or -1. */
long lvt_vm_pid(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *name);
/* The first child of process (pid) (/proc/PID/task/PID/children: the VM
 * process of a `lightvm run`), or -1. */
long lvt_child_pid(long pid);
/* After lvt_bg_start of lightvmd as (d): waits up to (timeout_ms) until
 * its socket is there and `lightvm list` succeeds (1), or CHECK-fails (0:
 * it ended or never answered). */
int lvt_daemon_wait(struct lvt_bg *d, int timeout_ms, struct lvt_proc *p, const char *lightvm,
                    const char *rundir);
/* SIGTERM to lightvmd (d), waits (20 s) for it: CHECKs it ended with 0.
 * Returns its status. */
int lvt_daemon_term(struct lvt_bg *d);
/* Polls `lightvm pool` (60 s at most) until it shows (want) ready shells;
 * CHECK-fails if it never does. */
void lvt_pool_wait(struct lvt_proc *p, const char *lightvm, const char *rundir, int want);
/* nc to port 13 of (ip), waiting at most (secs), with (tool): 1 if a date
 * came. */
int lvt_daytime_answers(struct lvt_bg *tool, const char *nc_bin, const char *ip,
                        const char *secs);

/* Waits (10 s at most) until no other process and no tap is left in this
 * network namespace; CHECKs both. */
void lvt_check_netns_empty(void);
/* CHECKs that directory (path) holds nothing (a missing one holds nothing). */
void lvt_check_dir_empty(const char *path);
/* CHECKs that lightvmd left nothing in its run directory (rundir) once
 * stopped: no socket, no VM directory, no shells directory. */
void lvt_check_rundir_clean(const char *rundir);
/* The first (lines) lines of (rundir)/vmm.log on stderr (after a failure). */
void lvt_show_vmm_log(const char *rundir, int lines);
/* SIGKILLs whatever else runs in this network namespace (what a failure
 * left: VM processes outlive lightvmd by design); waits 5 s at most. */
void lvt_kill_netns_others(void);
/* The end of an e2e test, whatever happened: (rundir)'s vmm.log shown
 * if a CHECK failed, lightvmd (d) SIGKILLed if it still runs, and
 * whatever else runs in this network namespace (lvt_kill_netns_others). */
void lvt_e2e_stop(struct lvt_bg *d, const char *rundir);
/* rm -rf (path), with (tool). */
void lvt_rm_rf(struct lvt_bg *tool, const char *path);

#endif
