/*
 * bench_pool.c: LightVM's Figure 9 on this host (N daytime VMs created one
 * after another, each kept running) and pause/unpause latency.
 *
 *   bench_pool LIGHTVM LIGHTVMD DAYTIME_ELF [--vms N] [--modes cold,daemon,pool]
 *              [--pool-size K] [--out DIR] [--plot SCRIPT] [--udp-probe PATH]
 *
 * Root only. In a network namespace of its own: bridges lvfigB
 * (10.(99+B).0.1/16, 1000 VMs each: VM k gets 10.(99+B).(j/250).(j%250+2),
 * j = k%1000) and a UDP socket on 10.99.0.1. For VM k: from fork of the
 * command to the guest's network-up datagram (its kernel receive time; the
 * source must be VM k's address), strictly one VM at a time. Modes: cold
 * (`lightvm run`, kept in the background), daemon (`lightvm create`,
 * lightvmd without a pool), pool (lightvmd --pool 8,1,K). Peers first,
 * interleaved: fork+exec of udp_probe, and `crun run` of a busybox bundle
 * whose command is udp_probe. Writes DIR/fig9.dat, DIR/fig9.png (gnuplot
 * SCRIPT, default bench/fig9.gp) and DIR/bench_pool.log (children's stderr).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/magic.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "stats.h"

#define MAX_VMS 10000
#define PER_BRIDGE 960 /* a Linux bridge takes at most 1024 ports: VMs + pool shells */
#define WAIT_MS 10000
#define PEERS 100
#define HOST_IP "10.99.0.1"

enum { COLD, DAEMON, POOL, NMODES };
static const char *const mode_name[NMODES] = {"cold", "daemon", "pool"};

static char lightvm[PATH_MAX], lightvmd[PATH_MAX], elf[PATH_MAX], probe_bin[PATH_MAX];
static char tmpdir[] = "/tmp/lightvm-fig9-XXXXXX", rundir[PATH_MAX + 16], port_s[8];
static int nvms = 1000, pool_k = 32, probe_fd = -1, crun_ns = -1, log_fd = -1, cur_mode = -1;
static pid_t running[MAX_VMS], daemon_pid; /* cold: lightvm run; else VM processes */
static int nrunning, ncreated;
static double res[NMODES][MAX_VMS];
static char hit[MAX_VMS];
static volatile sig_atomic_t interrupted;

/* VM k's address (gw: its bridge's). */
static void vm_ip(int k, char *buf, size_t n, int gw)
{
    int b = k / PER_BRIDGE, j = k % PER_BRIDGE;
    snprintf(buf, n, "10.%d.%d.%d", 99 + b, gw ? 0 : j / 250, gw ? 1 : j % 250 + 2);
}

static pid_t spawn(const char *const *argv, int out_fd, int err_fd, int mnt_ns)
{
    pid_t pid = fork();

    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(err_fd >= 0 ? err_fd : null, 2);
        if (mnt_ns >= 0 && setns(mnt_ns, CLONE_NEWNS) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to ms for our child pid: its wait status, or -1 (running). */
static int wait_ms(pid_t pid, int ms)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0), st;
    struct pollfd p = {fd, POLLIN, 0};

    if (fd >= 0) {
        poll(&p, 1, ms);
        close(fd);
    }
    return waitpid(pid, &st, WNOHANG) == pid ? st : -1;
}

static void stop_pid(pid_t pid, int sig)
{
    kill(pid, sig);
    if (wait_ms(pid, 5000) == -1) {
        kill(pid, SIGKILL);
        wait_ms(pid, 5000);
    }
}

/* Runs argv to its end (bounded; stderr to the log), its stdout into out
 * (or /dev/null). The exit status (or -1); fork to exit in *us. */
static int run(const char *const *argv, char *out, size_t n, double *us)
{
    char scratch[512];
    size_t got = 0;
    double t0 = bench_real_us();
    int p[2] = {-1, -1}, st;

    if (out && pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = spawn(argv, p[1], log_fd, -1);
    if (out) {
        close(p[1]);
        struct pollfd pf = {p[0], POLLIN, 0};
        ssize_t r;
        while (poll(&pf, 1, WAIT_MS) == 1 &&
               (r = got + 1 < n ? read(p[0], out + got, n - 1 - got)
                                : read(p[0], scratch, sizeof(scratch))) > 0)
            got += got + 1 < n ? (size_t)r : 0;
        close(p[0]);
        out[got] = '\0';
    }
    if (pid < 0)
        return -1;
    if ((st = wait_ms(pid, WAIT_MS)) == -1) {
        fprintf(stderr, "bench_pool: %s %s did not end in %d s\n", argv[0], argv[1], WAIT_MS / 1000);
        stop_pid(pid, SIGKILL);
        return -1;
    }
    if (us)
        *us = bench_real_us() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int sh(const char *cmd)
{
    const char *a[] = {"sh", "-c", cmd, NULL};
    return run(a, NULL, 0, NULL) ? -1 : 0;
}

struct probe_run {
    pid_t pid;
    int st;         /* wait status, when exit_us >= 0 */
    double up_us;   /* fork to the datagram's kernel receive time, or -1 */
    double exit_us; /* fork to exit, or -1: still running */
};

/* Forks argv and waits (bounded) for a datagram from src; then, with
 * (wait_exit), for the process to end. 0, or -1 (no datagram in time). */
static int timed_probe(const char *const *argv, const char *src, int out_fd, int mnt_ns,
                       int wait_exit, struct probe_run *r)
{
    char buf[64], cbuf[CMSG_SPACE(sizeof(struct timespec))], ip[INET_ADDRSTRLEN];
    struct sockaddr_in from;
    struct iovec iov = {buf, sizeof(buf)};
    double t0, deadline;
    int pfd;

    while (recv(probe_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        fprintf(stderr, "bench_pool: a stray datagram before %s\n", src);
    r->exit_us = r->up_us = -1;
    t0 = bench_real_us();
    deadline = t0 + WAIT_MS * 1e3;
    if ((r->pid = spawn(argv, out_fd, log_fd, mnt_ns)) < 0)
        return -1;
    pfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
    while (r->up_us < 0 || (wait_exit && r->exit_us < 0)) {
        struct pollfd p[2] = {{r->up_us < 0 ? probe_fd : -1, POLLIN, 0},
                              {r->exit_us < 0 ? pfd : -1, POLLIN, 0}};
        double left = deadline - bench_real_us();
        if (left <= 0 || poll(p, 2, (int)(left / 1e3) + 1) < 0)
            break;
        if (p[1].revents && waitpid(r->pid, &r->st, WNOHANG) == r->pid)
            r->exit_us = bench_real_us() - t0;
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
                            .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        if (!p[0].revents || recvmsg(probe_fd, &mh, MSG_DONTWAIT) < 0)
            continue;
        inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
        if (strcmp(ip, src)) {
            fprintf(stderr, "bench_pool: a datagram from %s while waiting for %s\n", ip, src);
            continue;
        }
        r->up_us = bench_real_us() - t0;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            double d = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3 - t0;
            if (d > 0 && d <= r->up_us)
                r->up_us = d;
        }
        deadline = bench_real_us() + WAIT_MS * 1e3; /* the exit gets its own 10 s */
    }
    if (pfd >= 0)
        close(pfd);
    return r->up_us < 0 ? -1 : 0;
}

/* One daytime request to ip: 0 if a date line came back. */
static int daytime_ok(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(13)};
    struct timeval tv = {2, 0};
    char buf[128];
    ssize_t got = 0, r;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, ip, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        while (got < (ssize_t)sizeof(buf) - 1 &&
               (r = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
            got += r;
    close(fd);
    buf[got] = '\0';
    return got >= 20 && strstr(buf, "\r\n") ? 0 : -1;
}

/* `lightvm VERB NAME` (-v for pause/unpause). */
static int ctl(const char *verb, const char *name, char *out, size_t n, double *us)
{
    const char *a[] = {lightvm, verb, name, verb[0] == 'd' ? NULL : "-v", NULL};
    return run(a, out, n, us);
}

/* Processes in our network namespace besides us (all ours: it is
 * private); SIGKILLs them with (kill_them). */
static int leftovers(int kill_them)
{
    char path[64], self[64] = "", ns[64] = "";
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (!d)
        return -1;
    if (readlink("/proc/self/ns/net", self, sizeof(self) - 1) < 0)
        self[0] = '\0';
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
        ssize_t l = pid > 0 && pid != getpid() ? readlink(path, ns, sizeof(ns) - 1) : -1;
        if (l < 0 || (ns[l] = '\0', strcmp(ns, self)))
            continue;
        n++;
        if (kill_them)
            kill(pid, SIGKILL);
        else
            fprintf(stderr, "bench_pool: process %d left in the namespace\n", pid);
    }
    closedir(d);
    return n;
}

/* Interfaces besides lo and our bridges: taps left behind. */
static int taps_left(void)
{
    char out[64];
    const char *a[] = {"sh", "-c", "ip -o link show | grep -cv ': \\(lo\\|lvfig[0-9]*\\):'", NULL};
    return run(a, out, sizeof(out), NULL) <= 1 ? atoi(out) : -1;
}

/* Ends the mode's VMs (cold: SIGTERM; else lightvm destroy, SIGKILL for
 * what it missed) and the daemon. The number of failed destroys. */
static int teardown(int mode, double *destroy_us)
{
    char name[32];
    int fails = 0;

    for (int i = 0; mode == COLD && i < nrunning; i++)
        kill(running[i], SIGTERM);
    for (int i = 0; mode == COLD && i < nrunning; i++)
        if (wait_ms(running[i], 5000) == -1)
            stop_pid(running[i], SIGKILL);
    for (int k = 0; mode != COLD && k < ncreated; k++) {
        snprintf(name, sizeof(name), "fig9-%d", k);
        if (ctl("destroy", name, NULL, 0, destroy_us ? &destroy_us[k] : NULL) && ++fails)
            fprintf(stderr, "bench_pool: lightvm destroy %s failed\n", name);
    }
    if (daemon_pid > 0)
        stop_pid(daemon_pid, SIGTERM);
    daemon_pid = 0;
    for (int i = 0; mode != COLD && i < nrunning; i++)
        if (kill(running[i], 0) == 0) /* a VM process the destroys missed */
            kill(running[i], SIGKILL);
    nrunning = ncreated = 0;
    return fails;
}

static void die(const char *why)
{
    fprintf(stderr, "bench_pool: %s; cleaning up\n", why);
    if (cur_mode >= 0)
        teardown(cur_mode, NULL);
    if (leftovers(1) > 0)
        usleep(200000);
    const char *rm[] = {"rm", "-rf", tmpdir, NULL};
    run(rm, NULL, 0, NULL);
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1; /* polls return EINTR; the loops check the flag */
}

static void setup_net(int nbr)
{
    char cmd[512];

    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_pool: unshare(CLONE_NEWNET) (needs root)");
        exit(1);
    }
    for (int b = 0; b < nbr; b++) {
        /* A fixed bridge MAC: else the bridge takes its ports' lowest one,
         * which changes as taps join, and a guest that cached the old one
         * goes silent (its frames reach another tap's local address). */
        snprintf(cmd, sizeof(cmd), "ip link set lo up && ip link add lvfig%d type bridge && "
                 "ip link set lvfig%d address 02:00:0a:%02x:00:01 && ip addr add 10.%d.0.1/16 "
                 "dev lvfig%d && ip link set lvfig%d up", b, b, 99 + b, 99 + b, b, b);
        if (sh(cmd))
            die("bridge setup with ip(8) failed");
    }
    unsigned port;
    probe_fd = bench_probe_socket(HOST_IP, &port);
    if (probe_fd < 0)
        die("probe socket");
    snprintf(port_s, sizeof(port_s), "%u", port);
}

/* The crun peer's bundle (busybox + udp_probe): 0, or -1 (why printed). */
static int crun_setup(const char *bundle)
{
    char cmd[5 * PATH_MAX], cfg[PATH_MAX + 16];
    struct statfs sf;
    json_t *c, *ns, *t;

    snprintf(cmd, sizeof(cmd), "crun --version >/dev/null && mkdir -p '%s/rootfs/bin' && cd "
             "'%s/rootfs/bin' && cp /bin/busybox '%s' . && for a in sh true echo cat ls; do ln -s "
             "busybox $a; done && crun spec -b '%s'", bundle, bundle, probe_bin, bundle);
    snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
    if (sh(cmd) || !(c = json_load_file(cfg, 0, NULL))) {
        printf("crun: cannot build a bundle (crun, /bin/busybox from busybox-static): "
               "no container peer\n");
        return -1;
    }
    json_t *proc = json_object_get(c, "process");
    json_object_set_new(proc, "args", json_pack("[sss]", "/bin/udp_probe", HOST_IP, port_s));
    json_object_set_new(proc, "terminal", json_false());
    ns = json_object_get(json_object_get(c, "linux"), "namespaces");
    for (size_t i = json_array_size(ns); i-- > 0;) /* ours: it sends to 10.99.0.1 */
        if ((t = json_object_get(json_array_get(ns, i), "type")) &&
            !strcmp(json_string_value(t) ? json_string_value(t) : "", "network"))
            json_array_remove(ns, i);
    int rc = json_dump_file(c, cfg, JSON_INDENT(1));
    json_decref(c);
    /* crun refuses cgroup hybrid mode (v1, plus v2 with a controller at
     * /sys/fs/cgroup/unified): its runs get a mount namespace without it. */
    if (!rc && statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
        int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (unshare(CLONE_NEWNS) == 0) {
            if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                umount2("/sys/fs/cgroup/unified", MNT_DETACH) == 0)
                crun_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
            if (setns(self, CLONE_NEWNS) < 0 || fchdir(cwd) < 0)
                die("cannot return to our mount namespace");
        }
        close(self);
        close(cwd);
        printf("crun: cgroups here are in hybrid mode, which crun refuses: it runs with "
               "--cgroup-manager=disabled in a mount namespace without /sys/fs/cgroup/unified%s\n",
               crun_ns < 0 ? " (FAILED)" : "");
    }
    return rc;
}

/* Peers, interleaved: fork+exec of udp_probe (fe), `crun run` of it (cr:
 * datagram in, crx: exit). */
static void peers(double *fe, int *nfe, double *cr, double *crx, int *ncr)
{
    char bundle[PATH_MAX], id[48];
    struct probe_run r;
    int have_crun;

    snprintf(bundle, sizeof(bundle), "%s/crun", tmpdir);
    have_crun = crun_setup(bundle) == 0;
    *nfe = *ncr = 0;
    for (int i = 0; i < PEERS && !interrupted; i++) {
        const char *pa[] = {probe_bin, HOST_IP, port_s, NULL};
        int rc = timed_probe(pa, HOST_IP, -1, -1, 1, &r);
        if (r.exit_us < 0)
            stop_pid(r.pid, SIGKILL);
        if (rc < 0)
            die("the fork+exec probe sent nothing");
        fe[(*nfe)++] = r.up_us;
        if (!have_crun)
            continue;
        snprintf(id, sizeof(id), "lvfig9-%d-%d", (int)getpid(), i);
        const char *ca[] = {"crun", "--cgroup-manager=disabled", "run", "-b", bundle, id, NULL};
        const char *cp[] = {"crun", "run", "-b", bundle, id, NULL}; /* not hybrid */
        rc = timed_probe(crun_ns < 0 ? cp : ca, HOST_IP, -1, crun_ns, 1, &r);
        if (rc < 0 || r.exit_us < 0 || !WIFEXITED(r.st) || WEXITSTATUS(r.st)) {
            const char *del[] = {"crun", "delete", "-f", id, NULL};
            if (r.exit_us < 0)
                stop_pid(r.pid, SIGKILL);
            run(del, NULL, 0, NULL);
            printf("crun: run %d failed (%s): no container peer\n", i + 1,
                   rc < 0 ? "no datagram in 10 s" : "it did not exit 0");
            have_crun = 0;
            continue;
        }
        cr[*ncr] = r.up_us;
        crx[(*ncr)++] = r.exit_us;
    }
}

/* Creates the N VMs of (mode) one after another, each kept running. */
static void create_all(int mode)
{
    char ip[20], gw[20], net[96], probe[32], cfg[PATH_MAX + 32], out[256], why[160];
    struct probe_run r;
    int p[2];

    snprintf(probe, sizeof(probe), HOST_IP ":%s", port_s);
    for (int k = 0; k < nvms; k++) {
        vm_ip(k, ip, sizeof(ip), 0);
        vm_ip(k, gw, sizeof(gw), 1);
        if (mode == COLD) {
            snprintf(net, sizeof(net), "lvfig%d,ip=%s/16,gw=%s", k / PER_BRIDGE, ip, gw);
            const char *a[] = {lightvm, "run", elf, "--memory", "8M", "--net", net,
                               "--probe", probe, NULL};
            int rc = timed_probe(a, ip, -1, -1, 0, &r);
            if (r.pid > 0 && r.exit_us < 0)
                running[nrunning++] = r.pid;
            snprintf(why, sizeof(why), "cold VM %d (%s): %s", k + 1, ip, r.exit_us >= 0
                     ? "lightvm run exited (see bench_pool.log)" : "no network-up datagram in 10 s");
            if (rc < 0 || r.exit_us >= 0)
                die(why);
        } else {
            FILE *f = fopen((snprintf(cfg, sizeof(cfg), "%s/fig9-%d.json", tmpdir, k), cfg), "w");
            if (!f || fprintf(f, "{\"name\":\"fig9-%d\",\"kernel\":\"%s\",\"memory\":8,\"vifs\":"
                              "[{\"bridge\":\"lvfig%d\",\"ip\":\"%s/16\",\"gw\":\"%s\"}]}\n", k,
                              elf, k / PER_BRIDGE, ip, gw) < 0 || fclose(f) || pipe2(p, O_CLOEXEC))
                die("cannot write a VM configuration");
            const char *a[] = {lightvm, "create", cfg, "--probe", probe, NULL};
            int rc = timed_probe(a, ip, p[1], -1, 1, &r);
            ssize_t got = 0;
            close(p[1]);
            ncreated = k + 1;
            if (r.exit_us < 0)
                stop_pid(r.pid, SIGKILL);
            else
                got = read(p[0], out, sizeof(out) - 1); /* "NAME id=ID pid=PID pool=hit" */
            close(p[0]);
            out[got > 0 ? got : 0] = '\0';
            const char *pid_s = strstr(out, " pid=");
            if (pid_s && atoi(pid_s + 5) > 0)
                running[nrunning++] = atoi(pid_s + 5);
            hit[k] = strstr(out, "pool=hit") != NULL;
            snprintf(why, sizeof(why), "lightvm create fig9-%d (VM %d, %s): %s", k, k + 1, ip,
                     r.exit_us < 0 ? "did not end in 10 s" : rc < 0 ? "no network-up datagram "
                     "in 10 s" : "failed (see bench_pool.log)");
            if (r.exit_us < 0 || !WIFEXITED(r.st) || WEXITSTATUS(r.st) || rc < 0)
                die(why);
        }
        res[mode][k] = r.up_us;
        if (interrupted)
            die("interrupted");
    }
}

static void start_daemon(int mode)
{
    /* One flavor per bridge, its shells' first NIC already on it. */
    enum { MAXBR = 16 };
    char pool[MAXBR][40], out[4096];
    const char *a[4 + 2 * MAXBR] = {lightvmd, "--rundir", rundir, NULL};
    const char *pq[] = {lightvm, "pool", "--json", NULL};
    int nbr = (nvms + PER_BRIDGE - 1) / PER_BRIDGE, na = 3;
    double t0 = bench_now_us();
    int ready = -1;

    snprintf(rundir, sizeof(rundir), "%s/run-%s", tmpdir, mode_name[mode]);
    if (mkdir(rundir, 0700) < 0)
        die("mkdir rundir");
    setenv("LIGHTVM_RUNDIR", rundir, 1);
    for (int b = 0; mode == POOL && b < nbr && b < MAXBR; b++) {
        snprintf(pool[b], sizeof(pool[b]), "8,1,%d,lvfig%d", pool_k, b);
        a[na++] = "--pool";
        a[na++] = pool[b];
    }
    a[na] = NULL;
    daemon_pid = spawn(a, log_fd, log_fd, -1);
    while (ready < (mode == POOL ? pool_k * (nbr < MAXBR ? nbr : MAXBR) : 0)) {
        if (interrupted || bench_now_us() - t0 > 120e6 || wait_ms(daemon_pid, 0) != -1)
            die(ready < 0 ? "lightvmd did not answer" : "the pool did not fill in 120 s");
        usleep(20000);
        if (run(pq, out, sizeof(out), NULL) != 0)
            continue;
        json_t *j = json_loads(out, 0, NULL);
        ready = 0;
        for (size_t i = 0; i < json_array_size(j); i++)
            ready += (int)json_integer_value(json_object_get(json_array_get(j, i), "ready"));
        json_decref(j);
    }
    printf("\nlightvmd (%s) ready after %.0f ms%s\n", mode_name[mode],
           (bench_now_us() - t0) / 1e3, mode == POOL ? ", its pool full" : "");
}

static void report(const char *what, double *v, int n)
{
    if (n > 0)
        printf("  %-44s n=%-4d median_us=%-8.0f p99_us=%.0f\n", what, n, bench_median(v, n),
               bench_p99(v, n));
}

static void pause_bench(void)
{
    static const char *const verbs[2] = {"pause", "unpause"};
    double lat[2][PEERS], cmd[2][PEERS];
    char out[128], what[64];
    const char *l;
    int n = 0;

    for (; n < PEERS && !interrupted; n++)
        for (int v = 0; v < 2; v++) {
            if (ctl(verbs[v], "fig9-0", out, sizeof(out), &cmd[v][n]) != 0 ||
                !(l = strstr(out, "latency_us=")))
                die("lightvm pause/unpause -v failed");
            lat[v][n] = atof(l + 11);
        }
    printf("pause/unpause of fig9-0 (pool daemon, %d VMs running), %d rounds:\n", nvms, n);
    for (int v = 0; v < 2; v++) {
        snprintf(what, sizeof(what), "%s: the VM process's latency_us", verbs[v]);
        report(what, lat[v], n);
        snprintf(what, sizeof(what), "%s: the whole command (fork..exit)", verbs[v]);
        report(what, cmd[v], n);
    }
    printf("  fig9-0 answers daytime after them: %s\n", daytime_ok("10.99.0.2") ? "NO" : "yes");
}

/* The mode's table: median and p99 per hundred VMs. */
static void table(int mode)
{
    double v[100], hits[MAX_VMS], *x = res[mode];
    char range[24];
    int nh = 0;

    printf("%s: create -> network up (us), %d VMs one after another\n  %-11s %9s %9s%s\n",
           mode_name[mode], nvms, "VMs", "median", "p99", mode == POOL ? "  pool hits" : "");
    for (int g = 0; g < nvms; g += 100) {
        int n = nvms - g < 100 ? nvms - g : 100, h = 0;
        for (int i = 0; i < n; i++) {
            v[i] = x[g + i];
            h += hit[g + i];
            if (hit[g + i])
                hits[nh++] = x[g + i];
        }
        snprintf(range, sizeof(range), "%d-%d", g + 1, g + n);
        printf("  %-11s %9.0f %9.0f", range, bench_median(v, n), bench_p99(v, n));
        printf(mode == POOL ? "  %d/%d\n" : "\n", h, n);
    }
    printf("  1st VM %.0f us, VM %d %.0f us (%+.1f %%)\n", x[0], nvms, x[nvms - 1],
           100.0 * (x[nvms - 1] / x[0] - 1));
    if (mode == POOL)
        report("pool hits only", hits, nh);
}

static void abs_path(const char *in, char *out, const char *what)
{
    if (!realpath(in, out)) {
        fprintf(stderr, "bench_pool: %s '%s': %s\n", what, in, strerror(errno));
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *out_in = "build/bench/fig9", *plot = "bench/fig9.gp", *probe_in = NULL;
    char outdir[PATH_MAX], path[PATH_MAX + 64], modes[64] = "cold,daemon,pool";
    double fe[PEERS], cr[PEERS], crx[PEERS], destroy_us[MAX_VMS];
    int want[NMODES], nfe, ncr;
    struct sigaction sa = {.sa_handler = on_signal};

    int bad = argc < 4 || argc % 2;

    for (int i = 4; !bad && i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--vms"))
            nvms = atoi(v);
        else if (!strcmp(o, "--pool-size"))
            pool_k = atoi(v);
        else if (!strcmp(o, "--out"))
            out_in = v;
        else if (!strcmp(o, "--plot"))
            plot = v;
        else if (!strcmp(o, "--udp-probe"))
            probe_in = v;
        else if (!strcmp(o, "--modes"))
            snprintf(modes, sizeof(modes), "%s", v);
        else
            bad = 1;
    }
    memset(want, 0, sizeof(want));
    for (char *save, *t = strtok_r(modes, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int m = 0;
        while (m < NMODES && strcmp(t, mode_name[m]))
            m++;
        m < NMODES ? (void)(want[m] = 1) : (void)(bad = 1);
    }
    if (bad || nvms < 1 || nvms > MAX_VMS || pool_k < 1 || pool_k > 1000) {
        fprintf(stderr, "usage: bench_pool LIGHTVM LIGHTVMD DAYTIME_ELF [--vms N (1..%d)] "
                "[--modes cold,daemon,pool] [--pool-size K] [--out DIR] [--plot SCRIPT] "
                "[--udp-probe PATH]\n", MAX_VMS);
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "bench_pool: needs root (network namespace, taps, KVM)\n");
        return 1;
    }
    abs_path(argv[1], lightvm, "LIGHTVM");
    abs_path(argv[2], lightvmd, "LIGHTVMD");
    abs_path(argv[3], elf, "DAYTIME_ELF");
    if (!probe_in) { /* udp_probe next to us */
        ssize_t l = readlink("/proc/self/exe", path, sizeof(path) - 16);
        char *slash = l > 0 ? (path[l] = '\0', strrchr(path, '/')) : NULL;
        strcpy(slash ? slash + 1 : path, "udp_probe");
        probe_in = path;
    }
    abs_path(probe_in, probe_bin, "udp_probe (--udp-probe)");
    const char *help[] = {lightvm, "create", "--help", NULL}, *mk[] = {"mkdir", "-p", out_in, NULL};
    if ((want[DAEMON] || want[POOL]) && run(help, NULL, 0, NULL)) {
        fprintf(stderr, "bench_pool: '%s create --help' failed\n", lightvm);
        return 1;
    }
    if (run(mk, NULL, 0, NULL))
        return 1;
    abs_path(out_in, outdir, "--out");
    snprintf(path, sizeof(path), "%s/bench_pool.log", outdir);
    if ((log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
        !mkdtemp(tmpdir)) {
        perror("bench_pool: the log or the temp dir");
        return 1;
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int m = 0; m < NMODES; m++)
        for (int k = 0; k < MAX_VMS; k++)
            res[m][k] = NAN;

    setup_net((nvms + PER_BRIDGE - 1) / PER_BRIDGE);
    time_t now = time(NULL);
    printf("bench_pool: %d VMs per mode, pool size %d, %s", nvms, pool_k, ctime(&now));
    peers(fe, &nfe, cr, crx, &ncr);
    for (int m = 0; m < NMODES; m++) {
        if (!want[m])
            continue;
        cur_mode = m;
        if (m != COLD)
            start_daemon(m);
        else
            printf("\n");
        long mem0 = bench_meminfo_kb("MemAvailable:");
        double t0 = bench_now_us();
        create_all(m);
        double took = (bench_now_us() - t0) / 1e6;
        usleep(200000);
        long mem1 = bench_meminfo_kb("MemAvailable:");
        int silent = -1, ok = 0, k = 0;
        for (; k < nvms && k - ok < 10; k++) { /* 2 s per silent VM: stop at 10 */
            vm_ip(k, path, sizeof(path), 0);
            if (daytime_ok(path) == 0)
                ok++;
            else if (silent < 0)
                silent = k;
        }
        table(m);
        printf("  %d VMs created in %.1f s; MemAvailable drop %.0f KiB per VM; answering "
               "daytime: %d of %d", nvms, took, (double)(mem0 - mem1) / nvms, ok, k);
        printf(silent >= 0 ? " (first silent: VM %d)\n" : "\n", silent + 1);
        if (m == POOL)
            pause_bench();
        int n = ncreated, fails = teardown(m, destroy_us);
        if (n > 0 && !fails)
            report("lightvm destroy (the whole command)", destroy_us, n);
        cur_mode = -1;
        usleep(300000);
        int left = leftovers(0), taps = taps_left();
        printf("  after teardown: %d processes and %d taps left in the namespace%s\n", left, taps,
               fails ? " (some destroys FAILED)" : "");
        if (left > 0)
            leftovers(1);
    }
    printf("\npeers (interleaved, before the VMs): from fork to the datagram\n");
    report("fork+exec udp_probe", fe, nfe);
    report("crun run busybox bundle (udp_probe)", cr, ncr);
    report("crun run: to its exit", crx, ncr);

    snprintf(path, sizeof(path), "%s/fig9.dat", outdir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write fig9.dat");
    fprintf(f, "# k cold_us daemon_us pool_us pool_hit ('-': not measured)\n");
    for (int k = 0; k < nvms; k++) {
        fprintf(f, "%d", k + 1);
        for (int m = 0; m < NMODES; m++)
            isnan(res[m][k]) ? fprintf(f, " -") : fprintf(f, " %.1f", res[m][k]);
        fprintf(f, " %d\n", hit[k]);
    }
    fclose(f);
    char expr[2 * PATH_MAX + 160];
    snprintf(expr, sizeof(expr), "datafile='%s/fig9.dat'; outfile='%s/fig9.png'; "
             "forkexec_ms=%.3f; crun_ms=%.3f; nvms=%d", outdir, outdir,
             nfe ? bench_median(fe, nfe) / 1e3 : -1, ncr ? bench_median(cr, ncr) / 1e3 : -1, nvms);
    const char *gp[] = {"gnuplot", "-e", expr, plot, NULL}, *rm[] = {"rm", "-rf", tmpdir, NULL};
    printf("\ndata: %s/fig9.dat; plot: %s/fig9.png%s\n", outdir, outdir,
           run(gp, NULL, 0, NULL) ? " (gnuplot FAILED: see bench_pool.log)" : "");
    run(rm, NULL, 0, NULL);
    return 0;
}
