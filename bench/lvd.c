/* lvd.c: what the benchmarks that talk to lightvmd's socket share. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lvd.h"
#include "lightvm/ctl.h"
#include "stats.h"

json_t *bench_call(struct lv_ctl_conn *c, json_t *req, int timeout_ms, char *why, size_t n)
{
    struct lv_err err = {""};
    json_t *rep = NULL;

    if (!req || lv_ctl_send(c, req, timeout_ms, &err) < 0 ||
        lv_ctl_recv(c, timeout_ms, &rep, &err) < 0) {
        snprintf(why, n, "%s", req ? err.msg : "out of memory");
        json_decref(req);
        return NULL;
    }
    json_decref(req);
    if (!json_is_true(json_object_get(rep, "ok"))) {
        snprintf(why, n, "%s", json_string_value(json_object_get(rep, "error")) ?: "?");
        json_decref(rep);
        return NULL;
    }
    return rep;
}

pid_t bench_lvd_spawn(const char *const argv[], const char *log, int nsfd)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_t pid = fd < 0 ? -1 : fork();
    int e = errno;

    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
            _exit(126);
        dup2(null, 0);
        dup2(null, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (fd >= 0)
        close(fd);
    errno = e;
    return pid;
}

int bench_pool_wait(const char *sock, int want, int timeout_ms)
{
    for (int t = 0; t <= timeout_ms; t += 50) {
        json_t *rep = NULL, *req = json_pack("{s:s}", "op", "pool");
        int rc = lv_ctl_call(sock, req, 2000, &rep, NULL);
        json_decref(req);
        json_t *f = json_array_get(json_object_get(rep, "flavors"), 0);
        int ready = rc == 0 ? (int)json_integer_value(json_object_get(f, "ready")) : 0;
        json_decref(rep);
        if (ready == want)
            return 0;
        usleep(50000);
    }
    return -1;
}

void bench_destroy_all(const char *sock)
{
    json_t *rep = NULL, *req = json_pack("{s:s}", "op", "list"), *vm;
    size_t i;

    if (lv_ctl_call(sock, req, 5000, &rep, NULL) == 0)
        json_array_foreach(json_object_get(rep, "vms"), i, vm) {
            json_t *d = json_pack("{s:s,s:O}", "op", "destroy", "name", json_object_get(vm, "name"));
            json_t *drep = NULL;
            lv_ctl_call(sock, d, 15000, &drep, NULL);
            json_decref(drep);
            json_decref(d);
        }
    json_decref(rep);
    json_decref(req);
}

void bench_daemon_stop(const char *sock, pid_t pid, const char *rundir)
{
    const char *rm[] = {"rm", "-rf", rundir, NULL};

    if (pid > 0) {
        bench_destroy_all(sock); /* VMs outlive lightvmd */
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    bench_run(rm);
}
