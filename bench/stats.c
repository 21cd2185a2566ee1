/* stats.c: timing helpers shared by the benchmarks. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "stats.h"

double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return v[n / 2];
}

double bench_p99(double *v, int n)
{
    int r = (n * 99 + 99) / 100 - 1;

    qsort(v, (size_t)n, sizeof(*v), cmp);
    return v[r < n ? r : n - 1];
}

void bench_report(const char *name, double *v, int n)
{
    double med = bench_median(v, n), p99 = bench_p99(v, n);

    printf("%-38s n=%-4d median_us=%-9.1f p99_us=%-9.1f min_us=%.1f\n", name, n, med, p99, v[0]);
}
