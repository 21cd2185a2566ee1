/* procfs.h: numbers on the keyed lines of text files ("Key: N"): what
 * /proc says of the host's memory and of a process's, and the trace
 * lines lightvm writes to its stderr ("trace exits total=N"). */
#ifndef LV_BENCH_PROCFS_H
#define LV_BENCH_PROCFS_H

#include <sys/types.h>

/* The number after (key) on the last line of file (path) that starts
 * with it, or -1 (no such line, or no file). */
long bench_keyed_num(const char *path, const char *key);

/* Line (key) ("MemAvailable:") of /proc/meminfo in KiB, or -1. */
long bench_meminfo_kb(const char *key);

/* Process (pid)'s Pss in KiB (/proc/PID/smaps_rollup), or -1. */
long bench_pss_kb(pid_t pid);

#endif
