/*
 * bench_antispoof: the cost of a VM's antispoof rules (lib/net/antispoof.c),
 * which lightvmd installs on the create path. In a network namespace of
 * its own (needs root): (n) taps, each with rules installed (one
 * transaction), then the counters read, then removed; the times of each
 * step. The taps all exist at once, as with (n) VMs, so the last
 * installs see a table of (n) chains. Then the sweep of a namespace whose
 * taps are gone.
 *
 *   bench_antispoof [N]      (default 1000)
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

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    struct lv_err err = {""};
    struct lv_nft *nft = NULL;
    struct lv_tap *taps;
    double *ins, *rd, *rm;
    int rc = 1;

    if (n < 1 || n > 100000 || unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "usage: bench_antispoof [N 1..100000] (as root)\n");
        return 2;
    }
    taps = calloc((size_t)n, sizeof(*taps));
    ins = calloc((size_t)n, sizeof(double));
    rd = calloc((size_t)n, sizeof(double));
    rm = calloc((size_t)n, sizeof(double));
    if (!taps || !ins || !rd || !rm || lv_nft_open(&nft, &err) < 0)
        goto out;
    for (int i = 0; i < n; i++)
        taps[i].fd = -1;
    for (int i = 0; i < n; i++) {
        struct lv_as_vif v = {0, "", {0x02, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i}, 0};
        if (lv_tap_open(NULL, &taps[i], &err) < 0)
            goto out;
        v.ifindex = taps[i].ifindex;
        memcpy(v.ifname, taps[i].name, sizeof(v.ifname));
        v.ip = htonl(0x0a000000u + (uint32_t)i + 2);
        double t0 = bench_now_us();
        if (lv_as_install(nft, &v, 1, &err) < 0)
            goto out;
        ins[i] = bench_now_us() - t0;
    }
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
    if (n >= 200) { /* does the cost grow with the VMs already filtered? */
        double first[100], last[100];
        memcpy(first, ins, sizeof(first));
        memcpy(last, ins + n - 100, sizeof(last));
        bench_report("antispoof_install_first100", first, 100);
        bench_report("antispoof_install_last100", last, 100);
    }
    bench_report("antispoof_install", ins, n);
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
    free(ins);
    free(rd);
    free(rm);
    return rc;
}
