/* lvd.h: what the benchmarks that talk to lightvmd's socket (lib/ctl)
 * share. Links with liblightvm.a and jansson. */
#ifndef LV_BENCH_LVD_H
#define LV_BENCH_LVD_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct lv_ctl_conn;

/* One request (req, consumed; NULL means it could not be built) on an
 * open connection to lightvmd and its reply: the reply if it says "ok"
 * (a new reference), or NULL with the error (the daemon's, or the
 * connection's) in (why, n). */
json_t *bench_call(struct lv_ctl_conn *c, json_t *req, int timeout_ms, char *why, size_t n);

/* Starts lightvmd: (argv) (argv[0] its path) with stdin and stdout on
 * /dev/null and stderr appended to file (log) (made with mode 0600), in
 * the network namespace of fd (nsfd) when it is >= 0. Its pid (the
 * caller's to reap), or -1 (errno set). */
pid_t bench_lvd_spawn(const char *const argv[], const char *log, int nsfd);

/* Asks lightvmd at (sock) for its pool every 50 ms until the first flavor
 * has (want) ready shells (0), or (timeout_ms) passes (-1). */
int bench_pool_wait(const char *sock, int want, int timeout_ms);

/* Destroys every VM lightvmd at (sock) knows (VMs outlive the daemon:
 * a benchmark that stops its daemon without this leaves them running).
 * Best effort, for cleanup paths: errors are ignored. */
void bench_destroy_all(const char *sock);

/* Ends a benchmark's lightvmd run: destroys its VMs (bench_destroy_all),
 * stops the daemon (pid, when > 0: SIGTERM, waited for) and removes
 * (rundir). Best effort, for every exit path. */
void bench_daemon_stop(const char *sock, pid_t pid, const char *rundir);

#endif
