/* stats.h: timing and process helpers shared by the benchmarks. */
#ifndef LV_BENCH_STATS_H
#define LV_BENCH_STATS_H

/* CLOCK_MONOTONIC in microseconds. */
double bench_now_us(void);
/* CLOCK_REALTIME in microseconds (the clock of SO_TIMESTAMPNS). */
double bench_real_us(void);

/* Sorts v[0..n) and returns its median / its 99th percentile (nearest
 * rank). n >= 1. */
double bench_median(double *v, int n);
double bench_p99(double *v, int n);

/* Prints "NAME n=N median_us=M p99_us=P min_us=L" (sorts v). */
void bench_report(const char *name, double *v, int n);

/* Runs argv (argv[0] looked up in PATH) and waits: 0 if it exited 0,
 * else -1. */
int bench_run(const char *const argv[]);

/* Runs (cmd) with sh -c and waits: 0 if it exited 0, else -1. */
int bench_sh(const char *cmd);

/* After a failure: "PROG: the end of WHAT:" and the last (lines) lines of
 * file (path) (a lightvmd log) on stderr; nothing if it cannot be read. */
void bench_log_tail(const char *prog, const char *what, const char *path, int lines);

/* A new empty file from mkstemp template (tmpl), closed: 0, or -1 after
 * perror. */
int bench_tmpfile(char *tmpl);

/* In the current network namespace: lo up, and bridge (br) with address
 * (cidr, "10.1.0.1/16") up (through sh and ip). 0, or -1. */
int bench_bridge_up(const char *br, const char *cidr);

/* A UDP socket bound to (ip) (dotted quad) and a free port, with kernel
 * receive timestamps (SO_TIMESTAMPNS) on; the port in host order in
 * (*port). The fd, or -1. */
int bench_probe_socket(const char *ip, unsigned *port);

#endif
