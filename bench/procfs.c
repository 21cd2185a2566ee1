/* procfs.c: numbers on the keyed lines of text files (procfs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"

long bench_keyed_num(const char *path, const char *key)
{
    char line[512];
    long v = -1;
    size_t kl = strlen(key);
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl))
            v = atol(line + kl);
    if (f)
        fclose(f);
    return v;
}

long bench_meminfo_kb(const char *key)
{
    return bench_keyed_num("/proc/meminfo", key);
}

long bench_pss_kb(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    return bench_keyed_num(path, "Pss:");
}
