/*
 * migscene.h: the scene of a live migration between two lightvmd on one
 * host, made the same way by tests/e2e/test_migverbs and
 * bench/bench_migrate (libc only: no test code, so a benchmark links it).
 *
 * Two network namespaces: A, the caller's, and B, made here and held by
 * an fd. Each has a bridge MIGSCENE_BR (the same name: a VM's spec names
 * its bridge, and the destination checks that it exists) with a fixed
 * MAC of its own (A's bridge must not take B's frames as its own), joined
 * at layer 2 by a veth pair mA-mB whose ends are ports of the two
 * bridges, so a VM keeps its address (MIGSCENE_NET) on either side. A's
 * bridge has MIGSCENE_HOST_IP/24 (the caller, and the guests' gateway),
 * B's none. A second veth pair cA (MIGSCENE_CTL_A/24) - cB
 * (MIGSCENE_CTL_B/24) carries the migrations.
 */
#ifndef LV_MIGSCENE_H
#define LV_MIGSCENE_H

#include <stddef.h>
#include <sys/types.h>

#define MIGSCENE_BR "lvm0"
#define MIGSCENE_NET "10.77.0."
#define MIGSCENE_HOST_IP MIGSCENE_NET "1"
#define MIGSCENE_CTL_A "10.78.0.1"
#define MIGSCENE_CTL_B "10.78.0.2"

struct migscene {
    int nsfd[2];        /* A's and B's network namespaces (-1: none); the scene's */
    char nslink[2][64]; /* a readlink of each: "net:[N]" */
};

/* Runs `ip ARGS` ((args): the arguments, separated by single spaces) in
 * the calling thread's network namespace: 0, or not 0 (the runner says
 * why). */
typedef int migscene_ip_fn(void *ctx, const char *args);

/* Makes the scene from the calling thread's network namespace (A; the
 * process's only thread): B, then the links, bridges and addresses of
 * both, each through (ip)(ctx, ARGS). The thread ends in A. 0, or -1 with
 * (why) set; either way (m) is to be closed with migscene_close. */
int migscene_make(struct migscene *m, migscene_ip_fn *ip, void *ctx, char *why, size_t cap);

/* Moves the calling thread into A (side 0) or B (side 1): 0, or -1 (errno). */
int migscene_enter(const struct migscene *m, int side);

/* Closes the scene's fds (B goes with the last process in it). */
void migscene_close(struct migscene *m);

/* A new file (path) of mode (mode) holding a token: (len) (< 64) random
 * letters and digits and a newline; the token also in (out) (len + 1
 * bytes, NUL-terminated) unless it is NULL. 0, or -1 (errno). */
int migscene_token(const char *path, mode_t mode, size_t len, char *out);

#endif
