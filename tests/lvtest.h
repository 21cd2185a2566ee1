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
#include <stdio.h>

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

/* Writes (len) bytes to a new file (path). Returns 0 or -1. */
int lvt_write_file(const char *path, const void *buf, size_t len);

#endif
