/*
 * bench_clone.c: snapshot clones through lightvmd (issue 11), the daemon
 * path. This program is a client of lightvmd's socket (docs/protocol.md;
 * one connection through lib/ctl) and sends the requests that `lightvm
 * save NAME FILE --keep` and `lightvm create --from SNAPSHOT CONFIG.json`
 * send, without exec'ing the CLI: the figures are lightvmd's and the VM
 * processes', not a command's start-up (bench_pool times the commands).
 *
 *   bench_clone LIGHTVMD COUNTER_ELF [--samples R] [--clone-secs S]
 *               [--max-clones M] [--vms N] [--pool K] [--snapdir DIR]
 *               [--phases reply,save,rate,memory]
 *
 * Root only. In a network namespace of its own: bridges lvclB (B < 8,
 * 10.(80+B).0.1/16, as many as the VMs need, at most 1000-K VMs each),
 * one lightvmd (--pool 16,1,K,lvclB per bridge, default K 32) in a
 * temporary run directory. A counter VM "src" (guest/apps/counter, UDP
 * port 7) is booted from the pool, asked once and saved with --keep into
 * DIR (default /dev/shm, tmpfs): the snapshot every clone comes from.
 * Then, each phase with its peer in the same run and the same daemon:
 *
 *   reply:  R rounds (default 100) of one clone (create --from) and one
 *           pool boot of COUNTER_ELF, each timed from the request to the
 *           guest's first UDP reply (its kernel receive time) and to
 *           lightvmd's reply, with the VM process's minor/major page
 *           faults over that time (its /proc stat; KVM's faults on guest
 *           RAM count there), each destroyed after its reply;
 *   save:   R saves of src with --keep into DIR, request to reply, the
 *           memory bytes written and src's faults over each;
 *   rate:   clones created one after another for S seconds (default 10;
 *           at most M, default 10000, and 8 x (1000-K): the bridges' ports
 *           and the daemon's 8 flavors), kept running; then every one is
 *           asked and those that answered are counted;
 *   memory: N clones (default 1000) running: the sum of their processes'
 *           Pss (smaps_rollup) / N and the MemAvailable drop / N, next to
 *           the same for N pool boots and for N idle crun containers
 *           (busybox sleep) if crun is installed.
 *
 * A VM's address is 10.(80+B).X.Y, its MAC 02:cb:00:(80+B):X:Y (given in
 * its configuration), and the host gets a permanent neighbour entry for
 * it before it is asked: no host ARP in the figures (the guest still
 * resolves the host's address to answer). The reply phase asks once
 * lightvmd has replied (as a client that waits for its create would),
 * then every 2 ms: an ask that arrives before the guest is ready waits
 * in its tap and is answered as soon as it runs. Every wait is bounded;
 * the VMs, the daemon, the containers and the files are removed at the
 * end (and on a failure or SIGINT). The figures count only from the PVM
 * machine (docs/benchmarks.md, "Snapshots").
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lvd.h"
#include "lightvm/ctl.h"
#include "procfs.h"
#include "stats.h"

#define MEM_MB 16
#define MAXBR 8           /* lightvmd's flavors (LVD_MAX_FLAVORS): one per bridge */
#define MAX_SAMPLES 1000
#define SAMPLE_J 50000    /* the reply phase's VMs: 10.80.200.2 on */
#define SRC_J 62500       /* src: 10.80.250.2 */
#define WAIT_US 10e6      /* a VM's first reply */
#define ASK_EVERY_US 2000 /* after the first ask: a safety net for a lost one */
#define CALL_MS 15000
#define SAVE_MS 30000

/* (short paths: --snapdir is at most 200 bytes) */
static char tmpdir[] = "/tmp/lightvm-clone-XXXXXX", rundir[64], sock[96], logpath[96];
static char snapdir[224], snap[240], kernel[PATH_MAX];
static pid_t daemon_pid;
static struct lv_ctl_conn conn = {.fd = -1};
static int nbr = 1, pool_k = 32, per_bridge, ncrun;
static volatile sig_atomic_t interrupted;

static void crun_delete_all(void)
{
    char cmd[128];

    for (int i = 0; i < ncrun; i++) {
        snprintf(cmd, sizeof(cmd), "crun delete -f lvclone-%d-%d >/dev/null 2>&1", (int)getpid(),
                 i);
        bench_sh(cmd);
    }
    ncrun = 0;
}

static void cleanup(void)
{
    char cmd[2 * PATH_MAX + 32];

    if (conn.fd >= 0)
        lv_ctl_conn_close(&conn);
    crun_delete_all();
    if (rundir[0])
        bench_daemon_stop(sock, daemon_pid, rundir); /* every VM, then the daemon */
    daemon_pid = 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", snapdir, tmpdir);
    if (snapdir[0]) /* (both made) */
        bench_sh(cmd);
}

static void die(const char *why)
{
    fprintf(stderr, "bench_clone: %s; cleaning up\n", why);
    bench_log_tail("bench_clone", "lightvmd's log", logpath, 20);
    cleanup();
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- addresses: VM (b, j) is 10.(80+b).(j/250).(j%250+2) on lvcl(b) ---- */

static void vm_ip(int b, int j, char *buf, size_t n)
{
    snprintf(buf, n, "10.%u.%u.%u", (unsigned char)(80 + b), (unsigned char)(j / 250),
             (unsigned char)(j % 250 + 2));
}

static void vm_mac(int b, int j, char *buf, size_t n)
{
    snprintf(buf, n, "02:cb:00:%02x:%02x:%02x", (unsigned char)(80 + b),
             (unsigned char)(j / 250), (unsigned char)(j % 250 + 2));
}

/* The bulk phases' VM k: round robin over the bridges (their pools refill
 * side by side). */
static void place(int k, int *b, int *j)
{
    *b = k % nbr;
    *j = k / nbr;
}

/* The k of a bulk VM's address (network order), or -1. */
static int k_of(uint32_t addr, int n)
{
    uint32_t a = ntohl(addr);
    int b = (int)(a >> 16 & 255) - 80, x = (int)(a >> 8 & 255), y = (int)(a & 255);
    int k = ((x * 250 + y - 2) * nbr) + b;

    return (a >> 24) == 10 && b >= 0 && b < nbr && y >= 2 && y < 252 && k < n ? k : -1;
}

/* ---- the daemon ---- */

/* One request on our connection (req consumed): the reply (the caller's),
 * or NULL with the error in (why). */
static json_t *call(json_t *req, int timeout_ms, char *why, size_t n)
{
    return bench_call(&conn, req, timeout_ms, why, n);
}

static void destroy(const char *name)
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
static int pool_wait_full(int ms)
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

struct pf {
    pid_t pid;
    long minflt, majflt;
};

/* A process's parent, state and faults from /proc/PID/stat: 0, or -1. */
static int proc_stat(pid_t pid, pid_t *ppid, char *state, long *minflt, long *majflt)
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
static int daemon_children(struct pf *v, int cap)
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
static void settle(int live)
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
static void daemon_start(const char *lightvmd, int max_vms)
{
    char pools[MAXBR][40], mv[16];
    const char *a[6 + 2 * MAXBR] = {lightvmd, "--rundir", rundir, "--max-vms", mv};
    int na = 5, fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    double t0 = bench_now_us();

    snprintf(mv, sizeof(mv), "%d", max_vms);
    for (int b = 0; b < nbr; b++) {
        snprintf(pools[b], sizeof(pools[b]), "%d,1,%d,lvcl%d", MEM_MB, pool_k, b);
        a[na++] = "--pool";
        a[na++] = pools[b];
    }
    a[na] = NULL;
    if (fd < 0 || (daemon_pid = fork()) < 0)
        die("cannot start lightvmd");
    if (daemon_pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(fd, 2);
        execv(a[0], (char *const *)a);
        _exit(127);
    }
    close(fd);
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

/* ---- asking counters ---- */

/* A UDP socket for asks (any address: the route picks the bridge's). */
static int ask_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
    int sz = 8 << 20;

    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    return fd;
}

static void ask(int fd, uint32_t addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};

    sa.sin_addr.s_addr = addr;
    sendto(fd, "?", 1, 0, (struct sockaddr *)&sa, sizeof(sa)); /* lost: asked again */
}

/* One datagram if there is one: its source in *from and its kernel
 * receive time (CLOCK_REALTIME us) in *at. 1, or 0 if none waits. */
static int take_reply(int fd, uint32_t *from, double *at)
{
    char buf[256], cbuf[CMSG_SPACE(sizeof(struct timespec))];
    struct sockaddr_in sa;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};

    if (recvmsg(fd, &mh, MSG_DONTWAIT) < 0)
        return 0;
    *from = sa.sin_addr.s_addr;
    *at = bench_real_us();
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            double k = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
            if (k <= *at)
                *at = k;
        }
    return 1;
}

/* Permanent neighbour entries for bulk VMs 0..n-1 (one ip -batch). */
static void neigh_bulk(int n)
{
    char path[96], ip[20], mac[24], cmd[256];
    FILE *f;
    int b, j;

    snprintf(path, sizeof(path), "%s/neigh", tmpdir);
    if (!(f = fopen(path, "w")))
        die("cannot write the neighbour batch");
    for (int k = 0; k < n; k++) {
        place(k, &b, &j);
        vm_ip(b, j, ip, sizeof(ip));
        vm_mac(b, j, mac, sizeof(mac));
        fprintf(f, "neigh replace %s lladdr %s dev lvcl%d nud permanent\n", ip, mac, b);
    }
    /* (its messages to the log: ip's own dump of the links may be
     * "interrupted" by taps coming and going, which is harmless) */
    snprintf(cmd, sizeof(cmd), "ip -batch '%s' 2>>'%s'", path, logpath);
    if (fclose(f) || bench_sh(cmd))
        die("ip -batch (neighbour entries) failed");
}

/* Asks bulk VMs 0..n-1 until each answered, in up to 5 rounds of 1 s;
 * ok[k] set for those that did. How many did. */
static int ask_all(int n, char *ok)
{
    int fd = ask_socket(), got = 0;
    uint32_t from;
    double at;
    char ip[20];
    int b, j;

    memset(ok, 0, (size_t)n);
    neigh_bulk(n);
    for (int round = 0; round < 5 && got < n && !interrupted; round++) {
        for (int k = 0; k < n; k++) {
            struct in_addr a;
            if (ok[k])
                continue;
            place(k, &b, &j);
            vm_ip(b, j, ip, sizeof(ip));
            inet_pton(AF_INET, ip, &a);
            ask(fd, a.s_addr);
            if (k % 64 == 63)
                usleep(200); /* the taps' queues, the guests' rings */
            while (take_reply(fd, &from, &at))
                if ((j = k_of(from, n)) >= 0 && !ok[j])
                    ok[j] = 1, got++;
        }
        double end = bench_real_us() + 1e6;
        while (got < n && bench_real_us() < end) {
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, 100);
            while (take_reply(fd, &from, &at))
                if ((j = k_of(from, n)) >= 0 && !ok[j])
                    ok[j] = 1, got++;
        }
    }
    close(fd);
    return got;
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

/* What `lightvm create --from SNAP CONFIG` sends for {"name", "vifs"}. */
static json_t *clone_req(const char *name, int b, int j)
{
    return json_pack("{s:s,s:s,s:{s:s,s:o}}", "op", "create", "from", snap, "spec", "name",
                     name, "vifs", vifs_json(b, j));
}

/* What `lightvm create CONFIG` sends for a counter VM. */
static json_t *boot_req(const char *name, int b, int j)
{
    return json_pack("{s:s,s:{s:s,s:s,s:i,s:o}}", "op", "create", "spec", "name", name, "kernel",
                     kernel, "memory", MEM_MB, "vifs", vifs_json(b, j));
}

static pid_t rep_pid(const json_t *rep)
{
    return (pid_t)json_integer_value(json_object_get(json_object_get(rep, "vm"), "pid"));
}

static int rep_hit(const json_t *rep)
{
    return !strcmp(json_string_value(json_object_get(rep, "pool")) ?: "", "hit");
}

struct sample {
    double first_us, reply_us; /* to the guest's first reply, to lightvmd's */
    long minflt, majflt;       /* the VM process's over the create, to both replies */
    int hit, whole;            /* a pool hit; the faults are its whole life's (not found before) */
    pid_t pid;
};

/* A create (req, consumed) of VM (b, j) on our connection, timed from the
 * request to lightvmd's reply and to the guest's first UDP reply on (fd)
 * (asked when lightvmd has replied, then every ASK_EVERY_US, as a client
 * that waits for its create would: no ask floods the bridge, and the
 * pool's waiting shells' taps, before the VM exists); the VM process's
 * page faults over that time. Dies on a failure. */
static void timed_create(json_t *req, const char *name, int b, int j, int fd, struct sample *s)
{
    static struct pf before[20000];
    char ip[20], mac[24], cmd[160], msg[LV_ERR_MAX + 96];
    struct lv_err err = {""};
    struct in_addr a;
    json_t *rep = NULL;
    uint32_t from;
    double at;

    vm_ip(b, j, ip, sizeof(ip));
    vm_mac(b, j, mac, sizeof(mac));
    snprintf(cmd, sizeof(cmd), "ip neigh replace %s lladdr %s dev lvcl%d nud permanent", ip,
             mac, b);
    if (bench_sh(cmd))
        die("ip neigh replace failed");
    inet_pton(AF_INET, ip, &a);
    while (take_reply(fd, &from, &at))
        ; /* late replies of earlier VMs */
    int nb = daemon_children(before, 20000);
    s->first_us = s->reply_us = -1;
    double t0 = bench_real_us(), next = t0 + WAIT_US; /* (the first ask: at the reply) */
    if (lv_ctl_send(&conn, req, CALL_MS, &err) < 0) {
        snprintf(msg, sizeof(msg), "create %s: %s", name, err.msg);
        die(msg);
    }
    json_decref(req);
    while (s->first_us < 0 || s->reply_us < 0) {
        double now = bench_real_us();
        if (now - t0 > WAIT_US || interrupted) {
            snprintf(msg, sizeof(msg), "create %s: %s within 10 s", name,
                     s->reply_us < 0 ? "no reply from lightvmd" : "no UDP reply from the guest");
            die(msg);
        }
        if (s->first_us < 0 && now >= next) {
            ask(fd, a.s_addr);
            next = now + ASK_EVERY_US;
        }
        double w = s->first_us < 0 && next - now < 100000 ? next - now : 100000;
        long wus = w > 0 ? (long)w : 0;
        struct timespec ts = {wus / 1000000, wus % 1000000 * 1000};
        struct pollfd p[2] = {{s->reply_us < 0 ? conn.fd : -1, POLLIN, 0}, {fd, POLLIN, 0}};
        ppoll(p, 2, &ts, NULL);
        int rc = s->reply_us < 0 ? lv_ctl_poll_recv(&conn, &rep, &err) : 0;
        if (rc < 0) {
            snprintf(msg, sizeof(msg), "create %s: %s", name, err.msg);
            die(msg);
        }
        if (rc == 1) {
            s->reply_us = bench_real_us() - t0;
            if (!json_is_true(json_object_get(rep, "ok"))) {
                snprintf(msg, sizeof(msg), "create %s: %s", name,
                         json_string_value(json_object_get(rep, "error")) ?: "?");
                die(msg);
            }
            next = bench_real_us(); /* ask now */
        }
        while (take_reply(fd, &from, &at))
            if (from == a.s_addr && s->first_us < 0)
                s->first_us = at > t0 ? at - t0 : 0;
    }
    s->pid = rep_pid(rep);
    s->hit = rep_hit(rep);
    json_decref(rep);
    pid_t pp;
    char st;
    if (proc_stat(s->pid, &pp, &st, &s->minflt, &s->majflt) < 0)
        die("the VM process's /proc/PID/stat");
    s->whole = 1;
    for (int i = 0; i < nb; i++)
        if (before[i].pid == s->pid) {
            s->minflt -= before[i].minflt;
            s->majflt -= before[i].majflt;
            s->whole = 0;
        }
}

static void report_count(const char *what, double *v, int n)
{
    if (n > 0)
        printf("%s n=%d median=%.0f p99=%.0f\n", what, n, bench_median(v, n), bench_p99(v, n));
}

/* ---- the phases ---- */

/* 1: create --from -> first reply, next to a pool boot -> first reply. */
static void phase_reply(int r, int fd)
{
    static struct sample s[2][MAX_SAMPLES];
    static double v[MAX_SAMPLES];
    static const char *const kind[2] = {"create --from", "pool boot"};
    char name[16], what[96];
    int hits[2] = {0, 0}, whole = 0;

    for (int i = 0; i < r && !interrupted; i++)
        for (int k = 0; k < 2; k++) {
            pool_wait_full(10000); /* (a miss is counted, not refused) */
            snprintf(name, sizeof(name), "%c%d", k ? 'b' : 'c', i);
            int j = SAMPLE_J + 2 * i + k;
            timed_create(k ? boot_req(name, 0, j) : clone_req(name, 0, j), name, 0, j, fd,
                         &s[k][i]);
            hits[k] += s[k][i].hit;
            whole += s[k][i].whole;
            destroy(name);
        }
    if (interrupted)
        die("interrupted");
    printf("\nreply: %d rounds of a clone (create --from the snapshot) and a pool boot of the "
           "counter image, each destroyed after its first reply\n", r);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < r; i++)
            v[i] = s[k][i].first_us;
        snprintf(what, sizeof(what), "%s -> first UDP reply", kind[k]);
        bench_report(what, v, r);
        for (int i = 0; i < r; i++)
            v[i] = s[k][i].reply_us;
        snprintf(what, sizeof(what), "%s -> lightvmd's reply", kind[k]);
        bench_report(what, v, r);
        for (int i = 0; i < r; i++)
            v[i] = (double)s[k][i].minflt;
        snprintf(what, sizeof(what), "%s: the VM process's minor faults over it", kind[k]);
        report_count(what, v, r);
        for (int i = 0; i < r; i++)
            v[i] = (double)s[k][i].majflt;
        snprintf(what, sizeof(what), "%s: the VM process's major faults over it", kind[k]);
        report_count(what, v, r);
    }
    printf("pool hits: create --from %d of %d, pool boot %d of %d%s\n", hits[0], r, hits[1], r,
           whole ? " (faults of a miss's new shell count its whole life)" : "");
}

/* 2: save --keep of src. */
static void phase_save(int r, pid_t src_pid, int fd)
{
    static double us[MAX_SAMPLES], mi[MAX_SAMPLES], ma[MAX_SAMPLES], bytes[MAX_SAMPLES];
    char path[PATH_MAX + 32], why[LV_ERR_MAX], msg[LV_ERR_MAX + 64];
    long mi0, ma0, mi1, ma1;
    pid_t pp;
    char st;

    for (int i = 0; i < r && !interrupted; i++) {
        snprintf(path, sizeof(path), "%s/save-%d", snapdir, i);
        if (proc_stat(src_pid, &pp, &st, &mi0, &ma0) < 0)
            die("src's /proc/PID/stat");
        double t0 = bench_now_us();
        json_t *rep = call(json_pack("{s:s,s:s,s:s,s:b}", "op", "save", "name", "src", "path",
                                     path, "keep", 1), SAVE_MS, why, sizeof(why));
        us[i] = bench_now_us() - t0;
        if (!rep) {
            snprintf(msg, sizeof(msg), "save src --keep: %s", why);
            die(msg);
        }
        proc_stat(src_pid, &pp, &st, &mi1, &ma1);
        mi[i] = (double)(mi1 - mi0);
        ma[i] = (double)(ma1 - ma0);
        bytes[i] = json_number_value(json_object_get(rep, "memory_bytes"));
        json_decref(rep);
        unlink(path);
        strcat(path, ".mem");
        unlink(path);
    }
    if (interrupted)
        die("interrupted");
    printf("\nsave: %d saves of src (a running %d MiB counter VM) with --keep into %s\n", r,
           MEM_MB, snapdir);
    bench_report("save --keep: request -> lightvmd's reply", us, r);
    report_count("save --keep: src's minor faults over it", mi, r);
    report_count("save --keep: src's major faults over it", ma, r);
    report_count("save --keep: memory file bytes written", bytes, r);
    /* src runs on: one more reply from it */
    char ip[20];
    vm_ip(0, SRC_J, ip, sizeof(ip));
    struct in_addr a;
    uint32_t from;
    double at;
    int ok = 0;
    inet_pton(AF_INET, ip, &a);
    for (int t = 0; t < 20 && !ok; t++) {
        struct pollfd p = {fd, POLLIN, 0};
        ask(fd, a.s_addr);
        poll(&p, 1, 100);
        while (take_reply(fd, &from, &at))
            ok |= from == a.s_addr;
    }
    printf("src answers after the saves: %s\n", ok ? "yes" : "NO");
}

/* Destroys bulk VMs (prefix)0..n-1. */
static void destroy_bulk(char prefix, int n)
{
    char name[24];

    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof(name), "%c%d", prefix, k);
        destroy(name);
    }
}

/* 3: clones per second for (secs), at most (cap), kept running. */
static void phase_rate(int secs, int cap)
{
    double *lat = calloc((size_t)cap, sizeof(double)), *done = calloc((size_t)cap, sizeof(double));
    char *ok = calloc((size_t)cap, 1), name[24], why[LV_ERR_MAX] = "";
    int k = 0, hits = 0, b, j;

    if (!lat || !done || !ok)
        die("out of memory");
    settle(1);
    double t0 = bench_now_us(), now = t0;
    while (k < cap && now - t0 < secs * 1e6 && !interrupted) {
        snprintf(name, sizeof(name), "r%d", k);
        place(k, &b, &j);
        json_t *rep = call(clone_req(name, b, j), CALL_MS, why, sizeof(why));
        double t1 = bench_now_us();
        if (!rep)
            break;
        lat[k] = t1 - now;
        done[k] = t1 - t0;
        hits += rep_hit(rep);
        json_decref(rep);
        now = t1;
        k++;
    }
    double took = (now - t0) / 1e6;
    if (interrupted) {
        free(lat), free(done), free(ok);
        die("interrupted");
    }
    int got = k ? ask_all(k, ok) : 0;
    printf("\nrate: clones (create --from) one after another for %d s, kept running: %d made in "
           "%.2f s (%s)\n", secs, k, took, why[0] ? why : k >= cap ? "the cap (--max-clones, "
           "bridges) reached" : "time up");
    printf("  %.0f clones/s by lightvmd's replies; %d of %d answered (asked after the loop): "
           "%.0f answering clones/s; pool hits %d of %d\n", took > 0 ? k / took : 0, got, k,
           took > 0 ? got / took : 0, hits, k);
    printf("  per second:");
    for (int s = 0, i = 0; s < (int)took + 1 && s < 600; s++) {
        int c = 0;
        for (; i < k && done[i] < (s + 1) * 1e6; i++)
            c++;
        printf(" %d", c);
    }
    printf("\n");
    if (k)
        bench_report("rate: create --from request -> lightvmd's reply", lat, k);
    destroy_bulk('r', k);
    free(lat);
    free(done);
    free(ok);
}

/* (answered < 0: containers, not asked) */
static void print_mem(const char *what, int n, int answered, long pss, int npss, long m0,
                      long m1)
{
    char a[32] = "";

    if (answered >= 0)
        snprintf(a, sizeof(a), " (%d answered)", answered);
    printf("  %-24s %d running%s: Pss %.0f KiB each (%d processes), MemAvailable drop "
           "%.0f KiB each\n", what, n, a, (double)pss / n, npss, (double)(m0 - m1) / n);
}

/* 4: N VMs (clones, or pool boots with (boot)) running: memory per VM. */
static void memory_of(int boot, int n)
{
    pid_t *pids = calloc((size_t)n, sizeof(pid_t));
    char *ok = calloc((size_t)n, 1), name[24], why[LV_ERR_MAX], msg[LV_ERR_MAX + 64];
    char prefix = boot ? 'm' : 'n';
    long pss = 0;
    int b, j, npss = 0;

    if (!pids || !ok)
        die("out of memory");
    settle(1);
    long m0 = bench_meminfo_kb("MemAvailable:");
    for (int k = 0; k < n && !interrupted; k++) {
        snprintf(name, sizeof(name), "%c%d", prefix, k);
        place(k, &b, &j);
        json_t *rep = call(boot ? boot_req(name, b, j) : clone_req(name, b, j), CALL_MS, why,
                           sizeof(why));
        if (!rep) {
            snprintf(msg, sizeof(msg), "memory: create %s: %s", name, why);
            die(msg);
        }
        pids[k] = rep_pid(rep);
        json_decref(rep);
    }
    if (interrupted)
        die("interrupted");
    int got = ask_all(n, ok);
    pool_wait_full(60000);
    sleep(1);
    long m1 = bench_meminfo_kb("MemAvailable:");
    for (int k = 0; k < n; k++) {
        long p = bench_pss_kb(pids[k]);
        if (p >= 0)
            pss += p, npss++;
    }
    print_mem(boot ? "pool boots:" : "clones (create --from):", n, got, pss, npss, m0, m1);
    destroy_bulk(prefix, n);
    free(pids);
    free(ok);
}

/* The crun peer: N idle containers (busybox sleep). */
static void memory_crun(int n)
{
    char bundle[96], cmd[1024], cfg[128];
    long pss = 0;
    int npss = 0;
    json_t *c;

    if (bench_sh("crun --version >/dev/null 2>&1")) {
        printf("  crun: not installed: no container peer\n");
        return;
    }
    snprintf(bundle, sizeof(bundle), "%s/crun", tmpdir);
    snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/rootfs/bin' && cp /bin/busybox '%s/rootfs/bin/' && "
             "ln -s busybox '%s/rootfs/bin/sleep' && cd '%s' && crun spec 2>>'%s'", bundle,
             bundle, bundle, bundle, logpath);
    if (bench_sh(cmd) || !(c = json_load_file(cfg, 0, NULL))) {
        printf("  crun: cannot make a bundle (crun spec, /bin/busybox from busybox-static): "
               "no container peer\n");
        return;
    }
    json_t *proc = json_object_get(c, "process");
    json_object_set_new(proc, "args", json_pack("[ss]", "/bin/sleep", "1000000"));
    json_object_set_new(proc, "terminal", json_false());
    int rc = json_dump_file(c, cfg, JSON_INDENT(1));
    json_decref(c);
    if (rc)
        die("cannot write the crun bundle's config.json");
    settle(1);
    long m0 = bench_meminfo_kb("MemAvailable:");
    for (int i = 0; i < n && !interrupted; i++) {
        snprintf(cmd, sizeof(cmd), "crun --cgroup-manager=disabled run -d -b '%s' "
                 "lvclone-%d-%d </dev/null >/dev/null 2>>'%s'", bundle, (int)getpid(), i, logpath);
        ncrun = i + 1; /* (deleted at the end even if this run half failed) */
        if (bench_sh(cmd)) {
            printf("  crun: run %d failed (see the log): no container peer\n", i + 1);
            crun_delete_all();
            return;
        }
    }
    sleep(1);
    long m1 = bench_meminfo_kb("MemAvailable:");
    for (int i = 0; i < ncrun; i++) {
        snprintf(cmd, sizeof(cmd), "crun state lvclone-%d-%d 2>/dev/null", (int)getpid(), i);
        FILE *f = popen(cmd, "r");
        json_t *st = f ? json_loadf(f, 0, NULL) : NULL;
        pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
        long p = st ? bench_pss_kb(pid) : -1;
        if (p >= 0)
            pss += p, npss++;
        json_decref(st);
        if (f)
            pclose(f);
    }
    print_mem("crun (busybox sleep):", n, -1, pss, npss, m0, m1);
    crun_delete_all();
}

static void phase_memory(int n)
{
    printf("\nmemory: %d VMs at once (Pss: the sum of their processes' smaps_rollup Pss / N; "
           "MemAvailable: before - after, / N, the pool full both times)\n", n);
    memory_of(0, n);
    memory_of(1, n);
    memory_crun(n);
    printf("  memfd-copy clones: not measured: a restore always maps the memory file "
           "MAP_PRIVATE (lib/snapshot/restore.c); a copy mode needs lib/ and daemon support "
           "(docs/benchmarks.md, \"Snapshots\")\n");
}

/* src: a counter VM booted from the pool, asked, saved with --keep as the
 * clones' snapshot. Its pid. */
static pid_t make_source(int fd)
{
    char why[LV_ERR_MAX], msg[LV_ERR_MAX + 320];
    struct sample s;

    timed_create(boot_req("src", 0, SRC_J), "src", 0, SRC_J, fd, &s);
    json_t *rep = call(json_pack("{s:s,s:s,s:s,s:b}", "op", "save", "name", "src", "path", snap,
                                 "keep", 1), SAVE_MS, why, sizeof(why));
    if (!rep) {
        snprintf(msg, sizeof(msg), "save src %s --keep: %s", snap, why);
        die(msg);
    }
    printf("src: a pool boot of the counter answered in %.0f us; saved to %s: state %.0f bytes, "
           "memory %.0f bytes written (of %.0f)\n", s.first_us, snap,
           json_number_value(json_object_get(rep, "state_bytes")),
           json_number_value(json_object_get(rep, "memory_bytes")),
           json_number_value(json_object_get(rep, "memory_size")));
    json_decref(rep);
    return s.pid;
}

static void net_setup(void)
{
    char cmd[512];

    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_clone: unshare(CLONE_NEWNET) (needs root)");
        exit(1);
    }
    if (bench_sh("ip link set lo up"))
        die("ip link set lo up");
    for (int b = 0; b < nbr; b++) {
        /* a fixed MAC: else the bridge takes its ports' lowest, which
         * changes as taps come and go */
        snprintf(cmd, sizeof(cmd), "ip link add lvcl%d address 02:cb:00:%02x:00:01 type bridge "
                 "&& ip addr add 10.%d.0.1/16 dev lvcl%d && ip link set lvcl%d up", b, 80 + b,
                 80 + b, b, b);
        if (bench_sh(cmd))
            die("bridge setup with ip(8) failed");
    }
}

static int usage(void)
{
    fprintf(stderr, "usage (root): bench_clone LIGHTVMD COUNTER_ELF [--samples R (1..%d)] "
            "[--clone-secs S] [--max-clones M] [--vms N] [--pool K (1..200)] [--snapdir DIR] "
            "[--phases reply,save,rate,memory]\n", MAX_SAMPLES);
    return 2;
}

int main(int argc, char **argv)
{
    int r = 100, secs = 10, cap = 10000, nvms = 1000, bad = argc < 3 || argc % 2 == 0;
    int want_reply = 1, want_save = 1, want_rate = 1, want_mem = 1;
    const char *sd = "/dev/shm";
    char lightvmd[PATH_MAX], phases[64] = "reply,save,rate,memory";
    struct sigaction sa = {.sa_handler = on_signal};

    for (int i = 3; !bad && i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--samples"))
            r = atoi(v);
        else if (!strcmp(o, "--clone-secs"))
            secs = atoi(v);
        else if (!strcmp(o, "--max-clones"))
            cap = atoi(v);
        else if (!strcmp(o, "--vms"))
            nvms = atoi(v);
        else if (!strcmp(o, "--pool"))
            pool_k = atoi(v);
        else if (!strcmp(o, "--snapdir"))
            sd = v;
        else if (!strcmp(o, "--phases"))
            snprintf(phases, sizeof(phases), "%s", v);
        else
            bad = 1;
    }
    want_reply = strstr(phases, "reply") != NULL;
    want_save = strstr(phases, "save") != NULL;
    want_rate = strstr(phases, "rate") != NULL;
    want_mem = strstr(phases, "memory") != NULL;
    if (bad || r < 1 || r > MAX_SAMPLES || secs < 1 || secs > 600 || cap < 1 || nvms < 1 ||
        pool_k < 1 || pool_k > 200 || strlen(sd) > 200 || !realpath(argv[1], lightvmd) ||
        !realpath(argv[2], kernel))
        return usage();
    per_bridge = 1000 - pool_k; /* a bridge takes 1024 ports: VMs + shells (+ src) */
    if (cap > MAXBR * per_bridge)
        cap = MAXBR * per_bridge;
    int need = want_rate ? cap : 1;
    if (want_mem && nvms > need)
        need = nvms;
    if (need > MAXBR * per_bridge) {
        fprintf(stderr, "bench_clone: --vms %d: at most %d (8 bridges of %d)\n", nvms,
                MAXBR * per_bridge, per_bridge);
        return 2;
    }
    nbr = (need + per_bridge - 1) / per_bridge;
    if (geteuid() != 0) {
        fprintf(stderr, "bench_clone: needs root (network namespace, taps, KVM)\n");
        return 1;
    }
    net_setup();
    snprintf(snapdir, sizeof(snapdir), "%s/lvclone-XXXXXX", sd);
    if (!mkdtemp(tmpdir) || !mkdtemp(snapdir)) {
        perror("bench_clone: mkdtemp");
        return 1;
    }
    snprintf(rundir, sizeof(rundir), "%s/run", tmpdir);
    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    snprintf(logpath, sizeof(logpath), "%s/lightvmd.log", tmpdir);
    snprintf(snap, sizeof(snap), "%s/src", snapdir);
    if (mkdir(rundir, 0700) < 0)
        die("mkdir the run directory");
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    time_t now = time(NULL);
    printf("bench_clone: lightvmd's socket, one connection (the requests `lightvm save --keep` "
           "and `lightvm create --from` send); %d bridge(s); %s", nbr, ctime(&now));
    daemon_start(lightvmd, need + 64);
    int fd = ask_socket();
    pid_t src = make_source(fd);
    if (want_reply)
        phase_reply(r, fd);
    if (want_save)
        phase_save(r, src, fd);
    if (want_rate)
        phase_rate(secs, cap);
    if (want_mem)
        phase_memory(nvms);
    close(fd);
    cleanup();
    printf("\ndone: every VM destroyed, lightvmd stopped, files removed\n");
    return 0;
}
