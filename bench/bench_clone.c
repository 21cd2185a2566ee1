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
 *   reply:  R rounds (default 100) of one clone (create --from), one
 *           clone with --copy (its memory read into the shell's RAM
 *           instead of mapped) and one pool boot of COUNTER_ELF, each timed from the request to the
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
 *           the same for N clones with --copy, N pool boots and N idle
 *           crun containers (busybox sleep) if crun is installed.
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
 *
 * Files: this one (main, the timed phases), clone_lvd.c (lightvmd and the
 * requests to it), clone_ask.c (addresses, asking counters), clone_mem.c
 * (the memory phase); bench_clone.h.
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

#include "bench_clone.h"
#include "lvd.h"
#include "lightvm/ctl.h"
#include "procfs.h"
#include "stats.h"

#define MAX_SAMPLES 1000
#define SAMPLE_J 50000    /* the reply phase's VMs: 10.80.200.2 on */
#define SRC_J 62500       /* src: 10.80.250.2 */
#define WAIT_US 10e6      /* a VM's first reply */
#define ASK_EVERY_US 2000 /* after the first ask: a safety net for a lost one */
#define SAVE_MS 30000

char tmpdir[] = "/tmp/lightvm-clone-XXXXXX", rundir[64], sock[96], logpath[96];
char snap[240], kernel[PATH_MAX];
pid_t daemon_pid;
struct lv_ctl_conn conn = {.fd = -1};
int nbr = 1, pool_k = 32;
volatile sig_atomic_t interrupted;
static char snapdir[224];
static int per_bridge;

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

void die(const char *why)
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
    static struct sample s[3][MAX_SAMPLES];
    static double v[MAX_SAMPLES];
    static const char *const kind[3] = {"create --from", "create --from --copy", "pool boot"};
    char name[16], what[96];
    int hits[3] = {0, 0, 0}, whole = 0;

    for (int i = 0; i < r && !interrupted; i++)
        for (int k = 0; k < 3; k++) {
            pool_wait_full(10000); /* (a miss is counted, not refused) */
            snprintf(name, sizeof(name), "%c%d", "cyb"[k], i);
            int j = SAMPLE_J + 3 * i + k;
            timed_create(k == 2 ? boot_req(name, 0, j) : clone_req(name, 0, j, k == 1), name, 0,
                         j, fd, &s[k][i]);
            hits[k] += s[k][i].hit;
            whole += s[k][i].whole;
            destroy(name);
        }
    if (interrupted)
        die("interrupted");
    printf("\nreply: %d rounds of a clone (create --from the snapshot: its memory file mapped "
           "copy-on-write), a clone with --copy (read into the shell's RAM) and a pool boot of "
           "the counter image, each destroyed after its first reply\n", r);
    for (int k = 0; k < 3; k++) {
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
    printf("pool hits: create --from %d, --copy %d, pool boot %d, of %d each%s\n", hits[0],
           hits[1], hits[2], r, whole ? " (faults of a miss's new shell count its whole life)"
                                      : "");
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
        json_t *rep = call(clone_req(name, b, j, 0), CALL_MS, why, sizeof(why));
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
