/*
 * nsprocs.c: the processes of a network namespace (nsprocs.h), found in
 * /proc and killed. libc only, so that the tests (through lvtest.h) and
 * a benchmark (bench_migrate) link the same code.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsprocs.h"

int lvt_ns_procs(const char *nslink, pid_t *pids, int max, char *list, size_t cap)
{
    char mine[64], path[64], ns[64], comm[64];
    DIR *d;
    struct dirent *de;
    int n = 0;

    list[0] = '\0';
    if (!nslink) {
        ssize_t k = readlink("/proc/self/ns/net", mine, sizeof(mine) - 1);
        if (k <= 0)
            return -1;
        mine[k] = '\0';
        nslink = mine;
    }
    if (!(d = opendir("/proc")))
        return -1;
    while ((de = readdir(d))) {
        long pid = strtol(de->d_name, NULL, 10);
        ssize_t k;
        if (pid <= 0 || pid == (long)getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
        if ((k = readlink(path, ns, sizeof(ns) - 1)) <= 0)
            continue;
        ns[k] = '\0';
        if (strcmp(ns, nslink))
            continue;
        if (n < max)
            pids[n] = (pid_t)pid;
        n++;
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(comm, sizeof(comm), f))
            comm[0] = '\0';
        if (f)
            fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        snprintf(list + strlen(list), cap - strlen(list), " %ld(%s)", pid, comm);
    }
    closedir(d);
    return n;
}

int lvt_netns_others(pid_t *pids, int max, char *list, size_t cap)
{
    return lvt_ns_procs(NULL, pids, max, list, cap);
}

void lvt_ns_kill(const char *nslink)
{
    char list[8192];
    pid_t pids[1024];
    int n = lvt_ns_procs(nslink, pids, 1024, list, sizeof(list));

    for (int i = 0; i < n && i < 1024; i++)
        kill(pids[i], SIGKILL);
    for (int t = 0; t < 5000 && lvt_ns_procs(nslink, NULL, 0, list, sizeof(list)) > 0; t += 100)
        usleep(100000);
}
