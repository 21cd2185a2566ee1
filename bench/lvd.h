/* lvd.h: what the benchmarks that talk to lightvmd's socket (lib/ctl)
 * share. Links with liblightvm.a and jansson. */
#ifndef LV_BENCH_LVD_H
#define LV_BENCH_LVD_H

/* Asks lightvmd at (sock) for its pool every 50 ms until the first flavor
 * has (want) ready shells (0), or (timeout_ms) passes (-1). */
int bench_pool_wait(const char *sock, int want, int timeout_ms);

#endif
