/* lvd.h: what the benchmarks that talk to lightvmd's socket (lib/ctl)
 * share. Links with liblightvm.a and jansson. */
#ifndef LV_BENCH_LVD_H
#define LV_BENCH_LVD_H

#include <sys/types.h>

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
