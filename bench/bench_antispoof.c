/*
 * bench_antispoof: the cost of a VM's antispoof rules (lib/net/antispoof.c).
 * In a network namespace of its own (needs root): (n) taps made one after
 * the other and filtered in turn by the two ways, interleaved so that
 * both see the same ruleset sizes:
 *
 *   even taps: lv_as_install, the one-step install (the chain, its hook
 *              and all rules in one transaction: lightvmd's create path
 *              before, `lightvm run`'s now)
 *   odd taps:  lv_as_seal (the chain, its hook, the two sealing rules:
 *              lightvmd does it when a pool shell is ready, off the create
 *              path), then lv_as_allow (the VM's rules only: what a pool
 *              hit pays now), each timed
 *
 * then every tap's counters read, then its rules removed; the times of
 * each step. The taps all exist at once, as with (n) VMs, so the last
 * ones see a table of (n) chains. Then the sweep of a namespace whose
 * taps are gone.
 *
 *   bench_antispoof [N]      (default 1000; N/2 taps each way)
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "lightvm/antispoof.h"
#include "lightvm/net.h"
#include "stats.h"

/* Filters tap (t), the (i)th, one way or the other, into the times. */
static int filter_tap(struct lv_nft *nft, const struct lv_tap *t, int i, double *one,
                      double *seal, double *allow, struct lv_err *err)
{
    struct lv_as_vif v = {t->ifindex, "", {0x02, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i}, 0};
    uint64_t slot = 0;
    double t0 = bench_now_us(), t1;

    memcpy(v.ifname, t->name, sizeof(v.ifname));
    v.ip = htonl(0x0a000000u + (uint32_t)i + 2);
    if (i % 2 == 0) {
        if (lv_as_install(nft, &v, 1, err) < 0)
            return -1;
        one[i / 2] = bench_now_us() - t0;
        return 0;
    }
    if (lv_as_seal(nft, &v, 1, &slot, err) < 0)
        return -1;
    t1 = bench_now_us();
    if (lv_as_allow(nft, &v, &slot, 1, err) < 0)
        return -1;
    seal[i / 2] = t1 - t0;
    allow[i / 2] = bench_now_us() - t1;
    return 0;
}

/* "NAME_first100" and "NAME_last100" of (v[0..k)): does the cost grow
 * with the taps already filtered? */
static void report_ends(const char *name, const double *v, int k)
{
    double first[100], last[100];
    char nm[64];

    if (k < 200)
        return;
    memcpy(first, v, sizeof(first));
    memcpy(last, v + k - 100, sizeof(last));
    snprintf(nm, sizeof(nm), "%s_first100", name);
    bench_report(nm, first, 100);
    snprintf(nm, sizeof(nm), "%s_last100", name);
    bench_report(nm, last, 100);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    struct lv_err err = {""};
    struct lv_nft *nft = NULL;
    struct lv_tap *taps;
    double *one, *seal, *allow, *rd, *rm;
    int rc = 1;

    if (n < 2 || n > 100000 || unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "usage: bench_antispoof [N 2..100000] (as root)\n");
        return 2;
    }
    taps = calloc((size_t)n, sizeof(*taps));
    one = calloc((size_t)n, sizeof(double));
    seal = calloc((size_t)n, sizeof(double));
    allow = calloc((size_t)n, sizeof(double));
    rd = calloc((size_t)n, sizeof(double));
    rm = calloc((size_t)n, sizeof(double));
    if (!taps || !one || !seal || !allow || !rd || !rm || lv_nft_open(&nft, &err) < 0)
        goto out;
    for (int i = 0; i < n; i++)
        taps[i].fd = -1;
    for (int i = 0; i < n; i++)
        if (lv_tap_open(NULL, &taps[i], &err) < 0 ||
            filter_tap(nft, &taps[i], i, one, seal, allow, &err) < 0)
            goto out;
    for (int i = 0; i < n; i++) {
        struct lv_as_drops d = {0};
        double t0 = bench_now_us();
        if (lv_as_read(nft, taps[i].ifindex, &d, &err) < 0)
            goto out;
        rd[i] = bench_now_us() - t0;
    }
    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        if (lv_as_remove(nft, &taps[i].ifindex, 1, &err) < 0)
            goto out;
        rm[i] = bench_now_us() - t0;
    }
    report_ends("antispoof_install", one, (n + 1) / 2);
    report_ends("antispoof_allow", allow, n / 2);
    bench_report("antispoof_install", one, (n + 1) / 2);
    bench_report("antispoof_seal", seal, n / 2);
    bench_report("antispoof_allow", allow, n / 2);
    bench_report("antispoof_read", rd, n);
    bench_report("antispoof_remove", rm, n);
    /* The sweep: rules for every tap, then the taps closed (as if their
     * processes had been killed), then one sweep. */
    for (int i = 0; i < n; i++) {
        struct lv_as_vif v = {taps[i].ifindex, "", {0x02, 0, 0, 0, 0, 1}, 0};
        memcpy(v.ifname, taps[i].name, sizeof(v.ifname));
        if (lv_as_install(nft, &v, 1, &err) < 0)
            goto out;
        lv_tap_close(&taps[i]);
    }
    unsigned removed = 0;
    double t0 = bench_now_us();
    if (lv_as_sweep(nft, &removed, &err) < 0)
        goto out;
    printf("antispoof_sweep removed=%u of %d us=%.0f\n", removed, n, bench_now_us() - t0);
    rc = removed == (unsigned)n ? 0 : 1;
out:
    if (err.msg[0])
        fprintf(stderr, "bench_antispoof: %s\n", err.msg);
    for (int i = 0; taps && i < n; i++)
        lv_tap_close(&taps[i]);
    lv_nft_close(&nft);
    free(taps);
    free(one);
    free(seal);
    free(allow);
    free(rd);
    free(rm);
    return rc;
}
