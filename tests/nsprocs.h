/*
 * nsprocs.h: the processes of a network namespace (nsprocs.c, libc only:
 * the tests and bench_migrate link it).
 */
#ifndef LIGHTVM_TESTS_NSPROCS_H
#define LIGHTVM_TESTS_NSPROCS_H

#include <stddef.h>
#include <sys/types.h>

/* Processes other than this one in network namespace (nslink) (a
 * readlink of /proc/PID/ns/net: "net:[N]"; NULL: this one, a test's own:
 * anything there was started by the test): how many (-1 if /proc cannot
 * be read), up to (max) of their pids in (pids), and " pid(comm)" for
 * each in (list). */
int lvt_ns_procs(const char *nslink, pid_t *pids, int max, char *list, size_t cap);
int lvt_netns_others(pid_t *pids, int max, char *list, size_t cap); /* (NULL) */
/* SIGKILLs the processes other than this one in network namespace
 * (nslink) (NULL: this one); waits 5 s at most for them to be gone. */
void lvt_ns_kill(const char *nslink);

#endif
