/* clone_lvd.c: bench_clone's lightvmd: its start with a full pool per
 * bridge, the requests on our connection (create, create --from,
 * destroy), its pool and its children (their page faults), and the wait
 * until it settled (bench_clone.h). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_clone.h"
#include "lvd.h"
#include "stats.h"

/* ---- the daemon ---- */

/* One request on our connection (req consumed): the reply (the caller's),
 * or NULL with the error in (why). */
json_t *call(json_t *req, int timeout_ms, char *why, size_t n)
{
    return bench_call(&conn, req, timeout_ms, why, n);
}

void destroy(const char *name)
{
    char why[LV_ERR_MAX], msg[LV_ERR_MAX + 64];
    json_t *rep = call(json_pack("{s:s,s:s}", "op", "destroy", "name", name), CALL_MS, why,
                       sizeof(why));

    if (!rep) {
        snprintf(msg, sizeof(msg), "destroy %s: %s", name, why);
        die(msg);
    }
    json_decref(rep);
}

/* Ready and target shells summed over the flavors; -1 if no answer. */
static int pool_ready(int *target)
{
    char why[LV_ERR_MAX];
    json_t *rep = call(json_pack("{s:s}", "op", "pool"), CALL_MS, why, sizeof(why)), *f;
    size_t i;
    int ready = 0;

    *target = 0;
    if (!rep)
        return -1;
    json_array_foreach(json_object_get(rep, "flavors"), i, f) {
        ready += (int)json_integer_value(json_object_get(f, "ready"));
        *target += (int)json_integer_value(json_object_get(f, "target"));
    }
    json_decref(rep);
    return ready;
}

/* Until every flavor is full (0), or (ms) passes (-1). */
int pool_wait_full(int ms)
{
    int target;

    for (int t = 0; t <= ms && !interrupted; t += 10) {
        int ready = pool_ready(&target);
        if (ready >= 0 && ready == target)
            return 0;
        usleep(10000);
    }
    return -1;
}

/* A process's parent, state and faults from /proc/PID/stat: 0, or -1. */
int proc_stat(pid_t pid, pid_t *ppid, char *state, long *minflt, long *majflt)
{
    char path[64], buf[1024];
    int fd, n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = (int)read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold anything */
    int pp;
    if (!p || sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %ld %*u %ld", state, &pp, minflt,
                     majflt) != 4)
        return -1;
    *ppid = pp;
    return 0;
}

/* The daemon's live children (its shells and VM processes) with their
 * faults, at most (cap); how many. */
int daemon_children(struct pf *v, int cap)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) && n < cap) {
        pid_t pid = atoi(e->d_name), pp;
        char st;
        long mi, ma;
        if (pid > 0 && proc_stat(pid, &pp, &st, &mi, &ma) == 0 && pp == daemon_pid && st != 'Z')
            v[n++] = (struct pf){pid, mi, ma};
    }
    if (d)
        closedir(d);
    return n;
}

/* Until the pool is full and the daemon has no more children than its
 * shells and (live) VMs, bounded; then half a second of quiet. */
void settle(int live)
{
    static struct pf v[20000];
    int target, t = 0;

    for (; t < 60000 && !interrupted; t += 50) {
        int ready = pool_ready(&target);
        if (ready == target && daemon_children(v, 20000) <= target + live)
            break;
        usleep(50000);
    }
    if (t >= 60000 || interrupted)
        die("the pool did not refill, or VM processes did not end, within 60 s");
    usleep(500000);
}

/* lightvmd on our run directory, a full pool of K shells per bridge
 * (stderr to the log). */
void daemon_start(const char *lightvmd, int max_vms)
{
    char pools[MAXBR][40], mv[16];
    const char *a[6 + 2 * MAXBR] = {lightvmd, "--rundir", rundir, "--max-vms", mv};
    int na = 5;
    double t0 = bench_now_us();

    snprintf(mv, sizeof(mv), "%d", max_vms);
    for (int b = 0; b < nbr; b++) {
        snprintf(pools[b], sizeof(pools[b]), "%d,1,%d,lvcl%d", MEM_MB, pool_k, b);
        a[na++] = "--pool";
        a[na++] = pools[b];
    }
    a[na] = NULL;
    if ((daemon_pid = bench_lvd_spawn(a, logpath, -1)) < 0)
        die("cannot start lightvmd");
    for (int t = 0; conn.fd < 0; t += 50) { /* its socket */
        struct lv_err err = {""};
        int c = lv_ctl_connect(sock, &err);
        if (c >= 0)
            lv_ctl_conn_init(&conn, c);
        else if (t > 10000 || waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid)
            die("lightvmd did not start");
        else
            usleep(50000);
    }
    if (pool_wait_full(120000) < 0)
        die("the pool did not fill in 120 s");
    printf("lightvmd: %d flavor(s) of %d shells (%d MiB, 1 NIC, one per bridge) full after "
           "%.1f s\n", nbr, pool_k, MEM_MB, (bench_now_us() - t0) / 1e6);
}

/* ---- requests ---- */

static json_t *vifs_json(int b, int j)
{
    char br[16], ip[24], gw[20], mac[24];

    snprintf(br, sizeof(br), "lvcl%d", b);
    vm_ip(b, j, ip, sizeof(ip) - 3);
    strcat(ip, "/16");
    snprintf(gw, sizeof(gw), "10.%d.0.1", 80 + b);
    vm_mac(b, j, mac, sizeof(mac));
    return json_pack("[{s:s,s:s,s:s,s:s}]", "bridge", br, "ip", ip, "gw", gw, "mac", mac);
}

/* What `lightvm create --from SNAP CONFIG [--copy]` sends for {"name",
 * "vifs"}. */
json_t *clone_req(const char *name, int b, int j, int copy)
{
    return json_pack("{s:s,s:s,s:{s:s,s:o},s:b}", "op", "create", "from", snap, "spec", "name",
                     name, "vifs", vifs_json(b, j), "copy", copy);
}

/* What `lightvm create CONFIG` sends for a counter VM. */
json_t *boot_req(const char *name, int b, int j)
{
    return json_pack("{s:s,s:{s:s,s:s,s:i,s:o}}", "op", "create", "spec", "name", name, "kernel",
                     kernel, "memory", MEM_MB, "vifs", vifs_json(b, j));
}

pid_t rep_pid(const json_t *rep)
{
    return (pid_t)json_integer_value(json_object_get(json_object_get(rep, "vm"), "pid"));
}

int rep_hit(const json_t *rep)
{
    return !strcmp(json_string_value(json_object_get(rep, "pool")) ?: "", "hit");
}

/* Destroys bulk VMs (prefix)0..n-1. */
void destroy_bulk(char prefix, int n)
{
    char name[24];

    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof(name), "%c%d", prefix, k);
        destroy(name);
    }
}
