/*
 * bench_migrate.c: live migration between two lightvmd (issue 12). This
 * program is a client of both daemons' sockets (docs/protocol.md, lib/ctl)
 * and sends the request `lightvm migrate NAME ADDR:PORT --token-file FILE`
 * sends ({"op":"migrate",...} with the token itself), without exec'ing the
 * CLI.
 *
 *   bench_migrate LIGHTVMD GUEST_DIR [--samples R] [--rates 0,10,100,1000]
 *                 [--area PAGES] [--interval-us US] [--pool K]
 *                 [--settle-ms MS]
 *
 * Root only. The scene is test_migverbs's, from the same code
 * (tests/migscene.c, libc only: no test code): the program moves into a
 * network namespace of its own, A, and makes a second one, B (held by an
 * fd). Each has a bridge lvm0, joined at layer 2 by a veth
 * pair mA-mB whose ends are ports of the two bridges, so a VM keeps its
 * address 10.77.0.2/24 on either side; A's bridge has 10.77.0.1/24 (the
 * client, and the guest's gateway), B's none. A second veth pair cA
 * (10.78.0.1/24) - cB (10.78.0.2/24) carries the migrations. A lightvmd
 * runs in each namespace (its own run directory, --pool 16,1,K with K 2
 * by default), listening for migrations on its cA/cB address, port
 * 7070, with a random token of its own (a file of mode 0600).
 *
 * One VM at a time (16 MiB, one vif, a MAC of its own with a permanent
 * neighbour entry at A: no ARP in the figures) is booted at A and
 * migrated R times (default 20) back and forth, A -> B -> A ...:
 *
 *   1. guest/apps/counter (UDP port 7 answers "count N ...");
 *   2. guest/apps/dirtier at each rate of --rates (pages written per ms,
 *      over an area of --area pages, default 1024: its cmdline
 *      "RATE AREA"), default 0,10,100,1000.
 *
 * While a VM runs, a thread of this program (in A) sends it one UDP
 * request every --interval-us (default 150 us) and timestamps every
 * answer. Per migration: the client's downtime (the longest gap between
 * two consecutive answers, from the last answer before the request to
 * the first answers after lightvmd's reply), the total time (the migrate
 * request -> lightvmd's reply), the requests sent and not answered in
 * that window, and lightvmd's own figures from the reply (downtime_us:
 * the source's pause to the ack; total_us; rounds; pages; bytes;
 * converged). Before each migration both pools are full again (at most
 * --settle-ms, default 60000, of waiting: past it the run goes on and
 * says so) and the VM has answered within the last 50 ms. Each figure is printed as
 * median and p99 (bench/stats.c) next to what issue 12 compares with:
 * LightVM's 60 ms and Cloud Hypervisor's ~50 ms (local, idle) migration,
 * QEMU's 300 ms default downtime limit; goal downtime <= 5 ms, total <=
 * 25 ms.
 *
 *   3. with --local, all of it over the local fast path instead: both
 *      lightvmd listen on a Unix socket and the RAM's memfd is passed,
 *      not copied (goal: downtime <= 1 ms).
 *
 * Every wait is bounded; on the end, a failure or SIGINT/SIGTERM the VMs
 * are destroyed, both daemons stopped, what is left in either namespace
 * killed, the files removed; the namespaces go with this process and its
 * fd. The figures count only from the PVM machine (docs/benchmarks.md,
 * "Live migration").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/migscene.h"
#include "../tests/nsprocs.h"
#include "lvd.h"
#include "lightvm/ctl.h"
#include "stats.h"

#define BR MIGSCENE_BR
#define HOST_IP MIGSCENE_HOST_IP
#define VM_IP MIGSCENE_NET "2"
#define VM_MAC "02:1b:00:77:00:%02x" /* one per VM: a bridge keeps the last one's
                                       * place in its table for minutes */
#define CTL_A MIGSCENE_CTL_A
#define CTL_B MIGSCENE_CTL_B
#define MIG_PORT "7070"
#define VM_NAME "m0"
#define MEM_MB 16
#define MAX_SAMPLES 1000
#define MAX_RATES 16
#define TOKEN_LEN 32
#define CALL_MS 15000
#define MIGRATE_MS 45000  /* lightvmd's own bound: 30 s + 5 s */
#define BOOT_MS 120000    /* a VM's first answer (the nested VM is slow) */
#define STEADY_MS 10000   /* an answer within the last 50 ms, before a migration */
#define AFTER_MS 10000    /* the first answer after the migrate reply */
#define TAIL_US 20000     /* the window goes on this long after that answer */

struct side {
    const char *tag;
    const char *listen;  /* its --migrate-listen */
    char rundir[96], sock[128], log[128], token_path[128];
    char token[TOKEN_LEN + 1];
    int ix;              /* its namespace in (scene): 0 (A, this process's), 1 (B) */
    pid_t pid;
    struct lv_ctl_conn conn;
};

static struct migscene scene = {.nsfd = {-1, -1}};
static struct side side_a = {.tag = "A", .ix = 0, .listen = CTL_A ":" MIG_PORT,
                             .conn = {.fd = -1}};
static struct side side_b = {.tag = "B", .ix = 1, .listen = CTL_B ":" MIG_PORT,
                             .conn = {.fd = -1}};
static char tmpdir[] = "/tmp/lightvm-mig-XXXXXX", guest_dir[PATH_MAX];
static int tmp_made, pool_k = 2, vms; /* VMs booted so far */
static int settle_ms = 60000, unsettled; /* --settle-ms; settles that timed out */
static struct side *here = &side_a; /* where the VM runs */
static volatile sig_atomic_t interrupted;

/* ---- the client thread: a request every interval, answers timed ---- */

struct client {
    int fd;                 /* connected to VM_IP:7; the thread's */
    long interval_us;
    pthread_t th;
    int started;
    atomic_int stop, active;     /* main: end; send (a VM is there) */
    atomic_int armed;            /* main: a migration window is open */
    atomic_llong last_us;        /* the last answer's time */
    atomic_llong max_gap_us;     /* the longest gap between answers while armed */
    atomic_ulong win_sent, win_answered;
};

static struct client cl = {.fd = -1};

static long long now_us(void)
{
    return (long long)bench_now_us();
}

static void client_answers(struct client *c)
{
    char buf[256];

    while (recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        long long t = now_us(), last = atomic_load(&c->last_us);
        if (atomic_load(&c->armed)) {
            if (last && t - last > atomic_load(&c->max_gap_us))
                atomic_store(&c->max_gap_us, t - last);
            atomic_fetch_add(&c->win_answered, 1);
        }
        atomic_store(&c->last_us, t);
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    long long next = now_us();

    while (!atomic_load(&c->stop)) {
        long long t = now_us();
        if (!atomic_load(&c->active)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            next = now_us();
            continue;
        }
        if (t >= next) {
            if (send(c->fd, "?", 1, MSG_DONTWAIT) == 1 && atomic_load(&c->armed))
                atomic_fetch_add(&c->win_sent, 1);
            next += c->interval_us;
            if (next < t) /* (a late thread does not burst) */
                next = t + c->interval_us;
        }
        long long w = next - now_us();
        struct timespec ts = {0, w > 0 ? (long)w * 1000 : 0};
        struct pollfd p = {c->fd, POLLIN, 0};
        ppoll(&p, 1, &ts, NULL);
        client_answers(c);
    }
    return NULL;
}

static int client_start(long interval_us)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};

    inet_pton(AF_INET, VM_IP, &sa.sin_addr);
    cl.interval_us = interval_us;
    cl.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (cl.fd < 0 || connect(cl.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    if (pthread_create(&cl.th, NULL, client_main, &cl))
        return -1;
    cl.started = 1;
    return 0;
}

static void client_stop(void)
{
    if (cl.started) {
        atomic_store(&cl.stop, 1);
        pthread_join(cl.th, NULL);
        cl.started = 0;
    }
    if (cl.fd >= 0)
        close(cl.fd);
    cl.fd = -1;
}

/* ---- cleanup ---- */

/* SIGKILLs what is left in (s)'s namespace (VM processes of a daemon
 * that did not destroy them); waits 5 s at most (tests/nsprocs.c). */
static void ns_kill_all(const struct side *s)
{
    const char *link = scene.nslink[s->ix];

    if (link[0])
        lvt_ns_kill(link);
}

/* Stops (s)'s lightvmd: SIGTERM, 10 s, then SIGKILL. */
static void daemon_stop(struct side *s)
{
    if (s->conn.fd >= 0)
        lv_ctl_conn_close(&s->conn);
    if (s->pid <= 0)
        return;
    bench_destroy_all(s->sock); /* VMs outlive lightvmd */
    kill(s->pid, SIGTERM);
    for (int t = 0; t < 10000 && waitpid(s->pid, NULL, WNOHANG) == 0; t += 50)
        usleep(50000);
    if (waitpid(s->pid, NULL, WNOHANG) == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

static void cleanup(void)
{
    char cmd[PATH_MAX];

    client_stop();
    daemon_stop(&side_a);
    daemon_stop(&side_b);
    ns_kill_all(&side_a);
    ns_kill_all(&side_b);
    migscene_close(&scene); /* B goes with its last process, A with this one */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (tmp_made)
        bench_sh(cmd);
    tmp_made = 0;
}

static void die(const char *why)
{
    struct side *s[2] = {&side_a, &side_b};
    char what[64];

    fprintf(stderr, "bench_migrate: %s; cleaning up\n", why);
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof(what), "%s's lightvmd log", s[i]->tag);
        bench_log_tail("bench_migrate", what, s[i]->log, 15);
    }
    cleanup();
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- the scene ---- */

static void sh_or_die(const char *cmd)
{
    char msg[512];

    if (bench_sh(cmd)) {
        snprintf(msg, sizeof(msg), "'%.400s' failed", cmd);
        die(msg);
    }
}

/* `ip ARGS` for migscene_make. */
static int scene_ip(void *ctx, const char *args)
{
    char cmd[256];

    (void)ctx;
    snprintf(cmd, sizeof(cmd), "ip %s", args);
    return bench_sh(cmd);
}

/* A (this process's from now on) and B, the links, bridges and
 * addresses (module comment; tests/migscene.c). */
static void net_setup(void)
{
    char why[256], msg[300];

    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_migrate: unshare(CLONE_NEWNET) (needs root)");
        exit(1);
    }
    if (migscene_make(&scene, scene_ip, NULL, why, sizeof(why)) < 0) {
        snprintf(msg, sizeof(msg), "the two namespaces: %s", why);
        die(msg);
    }
}

/* (s)'s token file: TOKEN_LEN random letters and digits, mode 0600. */
static void write_token(struct side *s)
{
    if (migscene_token(s->token_path, 0600, TOKEN_LEN, s->token) < 0)
        die("cannot write a token file");
}

/* One request to (s) on its connection (req consumed): the reply (the
 * caller's), or NULL with the error in (why). */
static json_t *call(struct side *s, json_t *req, int timeout_ms, char *why, size_t n)
{
    return bench_call(&s->conn, req, timeout_ms, why, n);
}

/* lightvmd in (s)'s namespace on its run directory, its socket connected
 * (30 s at most). */
static void daemon_start(struct side *s, const char *lightvmd)
{
    char pool[32], msg[256];
    const char *a[] = {lightvmd, "--rundir", s->rundir, "--pool", pool, "--migrate-listen",
                       s->listen, "--migrate-token-file", s->token_path, NULL};

    snprintf(pool, sizeof(pool), "%d,1,%d", MEM_MB, pool_k);
    if (mkdir(s->rundir, 0700) < 0 || (s->pid = bench_lvd_spawn(a, s->log, scene.nsfd[s->ix])) < 0)
        die("cannot start lightvmd");
    for (int t = 0; s->conn.fd < 0; t += 50) {
        struct lv_err err = {""};
        int c = lv_ctl_connect(s->sock, &err);
        if (c >= 0) {
            lv_ctl_conn_init(&s->conn, c);
            break;
        }
        if (t > 30000 || interrupted || waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
                s->pid = 0;
            snprintf(msg, sizeof(msg), "%s's lightvmd did not come up within 30 s: %s", s->tag,
                     err.msg);
            die(msg);
        }
        usleep(50000);
    }
}

/* Ready shells of (s)'s flavor == their target; the ready count in
 * (*ready). */
static int pool_full(struct side *s, int *ready)
{
    char why[LV_ERR_MAX];
    json_t *rep = call(s, json_pack("{s:s}", "op", "pool"), CALL_MS, why, sizeof(why));
    json_t *f = json_array_get(json_object_get(rep, "flavors"), 0);

    *ready = f ? (int)json_integer_value(json_object_get(f, "ready")) : -1;
    int full = f && *ready == json_integer_value(json_object_get(f, "target"));
    json_decref(rep);
    return full;
}

/* Both pools full again (--settle-ms at most: past it, said and counted
 * in (unsettled), and on), then 100 ms of quiet. Shells prepare at an
 * idle CPU priority (daemon/limits.c): a guest that never halts
 * (dirtier) on a host of one CPU starves them. */
static void settle(void)
{
    int t = 0, ra = 0, rb = 0;

    for (; t < settle_ms && !interrupted; t += 20) {
        int fa = pool_full(&side_a, &ra), fb = pool_full(&side_b, &rb);
        if (fa && fb)
            break;
        usleep(20000);
    }
    if (interrupted)
        die("interrupted");
    if (t >= settle_ms) {
        printf("  (pools not full after %d ms: A %d, B %d of %d ready; going on)\n", settle_ms,
               ra, rb, pool_k);
        unsettled++;
    }
    usleep(100000);
}

/* ---- one VM ---- */

/* (app) booted at A with (cmdline) ("" for none); answering (BOOT_MS at
 * most). */
static void boot(const char *app, const char *cmdline)
{
    char kernel[PATH_MAX + 16], why[LV_ERR_MAX], msg[LV_ERR_MAX + 64], mac[24], cmd[128];
    json_t *spec, *rep;

    snprintf(kernel, sizeof(kernel), "%s/%s.elf", guest_dir, app);
    snprintf(mac, sizeof(mac), VM_MAC, (unsigned)(++vms + 1) & 0xff);
    snprintf(cmd, sizeof(cmd), "ip neigh replace " VM_IP " lladdr %s dev " BR " nud permanent",
             mac);
    sh_or_die(cmd);
    spec = json_pack("{s:s,s:s,s:i,s:i,s:[{s:s,s:s,s:s,s:s}]}", "name", VM_NAME, "kernel",
                     kernel, "memory", MEM_MB, "vcpus", 1, "vifs", "bridge", BR, "ip",
                     VM_IP "/24", "gw", HOST_IP, "mac", mac);
    if (spec && cmdline[0])
        json_object_set_new(spec, "cmdline", json_string(cmdline));
    settle();
    rep = call(&side_a, spec ? json_pack("{s:s,s:o}", "op", "create", "spec", spec) : NULL,
               CALL_MS, why, sizeof(why));
    if (!rep) {
        snprintf(msg, sizeof(msg), "create %s: %s", app, why);
        die(msg);
    }
    json_decref(rep);
    here = &side_a;
    atomic_store(&cl.last_us, 0);
    atomic_store(&cl.active, 1);
    for (int t = 0; !atomic_load(&cl.last_us); t += 10) {
        if (t > BOOT_MS || interrupted) {
            snprintf(msg, sizeof(msg), "%s %s does not answer on UDP port 7 within %d s", app,
                     cmdline, BOOT_MS / 1000);
            die(msg);
        }
        usleep(10000);
    }
}

static void destroy_vm(void)
{
    char why[LV_ERR_MAX], msg[LV_ERR_MAX + 64];

    atomic_store(&cl.active, 0);
    json_t *rep = call(here, json_pack("{s:s,s:s}", "op", "destroy", "name", VM_NAME), CALL_MS,
                       why, sizeof(why));
    if (!rep) {
        snprintf(msg, sizeof(msg), "destroy " VM_NAME " at %s: %s", here->tag, why);
        die(msg);
    }
    json_decref(rep);
}

/* (s) lists the VM. */
static int listed(struct side *s)
{
    char why[LV_ERR_MAX];
    json_t *rep = call(s, json_pack("{s:s}", "op", "list"), CALL_MS, why, sizeof(why)), *vm;
    size_t i;
    int found = 0;

    json_array_foreach(json_object_get(rep, "vms"), i, vm)
        found |= !strcmp(json_string_value(json_object_get(vm, "name")) ?: "", VM_NAME);
    json_decref(rep);
    return found;
}

struct sample {
    double gap_us;      /* the client's longest gap; -1: no answer after the reply */
    double total_us;    /* request -> lightvmd's reply */
    double d_down_us, d_total_us, rounds, pages, bytes, lost;
    int converged;
    int local;          /* the RAM's memfd passed (the local fast path): no pre-copy */
};

/* The last lines of the VM's console (lightvmd's "console"), for a
 * failure's message. */
static void show_console(void)
{
    char why[LV_ERR_MAX];
    json_t *rep = call(here, json_pack("{s:s,s:s}", "op", "console", "name", VM_NAME), CALL_MS,
                       why, sizeof(why));
    const char *c = json_string_value(json_object_get(rep, "console")) ?: why;
    size_t n = strlen(c);
    int lines = 0;

    while (n > 0 && lines < 12)
        lines += c[--n] == '\n';
    fprintf(stderr, "bench_migrate: the end of the VM's console (at %s):\n%s\n", here->tag,
            c + n);
    json_decref(rep);
}

/* Until the VM answered within the last 50 ms (STEADY_MS at most). */
static void steady(void)
{
    for (int t = 0; now_us() - atomic_load(&cl.last_us) > 50000; t += 5) {
        if (interrupted)
            die("interrupted");
        if (t > STEADY_MS) {
            long long ago = now_us() - atomic_load(&cl.last_us);
            fprintf(stderr, "bench_migrate: the VM's last answer came %.1f s ago\n", ago / 1e6);
            show_console();
            die("the VM stopped answering between migrations");
        }
        usleep(5000);
    }
}

/* The VM moved from (here) to the other side with the client timing its
 * answers. 0 with (s), or -1 (printed; the VM runs on at the source). */
static int migrate_once(struct sample *s)
{
    struct side *to = here == &side_a ? &side_b : &side_a;
    char why[LV_ERR_MAX];

    settle();
    steady();
    atomic_store(&cl.max_gap_us, 0);
    atomic_store(&cl.win_sent, 0);
    atomic_store(&cl.win_answered, 0);
    atomic_store(&cl.armed, 1);
    long long t0 = now_us();
    json_t *rep = call(here, json_pack("{s:s,s:s,s:s,s:s}", "op", "migrate", "name", VM_NAME,
                                       "to", to->listen, "token", to->token), MIGRATE_MS, why,
                       sizeof(why));
    long long t1 = now_us();
    s->total_us = (double)(t1 - t0);
    s->gap_us = -1;
    for (long long t = t1; t - t1 < AFTER_MS * 1000LL && !interrupted; t = now_us()) {
        if (atomic_load(&cl.last_us) > t1 && t - atomic_load(&cl.last_us) < TAIL_US &&
            t - t1 > TAIL_US) {
            s->gap_us = (double)atomic_load(&cl.max_gap_us);
            break;
        }
        if (atomic_load(&cl.last_us) > t1 && t - t1 > TAIL_US + 1000000)
            break; /* answers came, then stopped: no figure */
        usleep(1000);
    }
    atomic_store(&cl.armed, 0);
    s->lost = (double)atomic_load(&cl.win_sent) - (double)atomic_load(&cl.win_answered);
    if (!rep) {
        printf("  migrate %s -> %s failed after %.0f us: %s\n", here->tag, to->tag, s->total_us,
               why);
        if (!listed(here)) {
            if (!listed(to))
                die("the VM is listed on neither side after a failed migration");
            here = to;
        }
        return -1;
    }
    json_t *m = json_object_get(rep, "migration");
    s->d_down_us = json_number_value(json_object_get(m, "downtime_us"));
    s->d_total_us = json_number_value(json_object_get(m, "total_us"));
    s->rounds = json_number_value(json_object_get(m, "rounds"));
    s->pages = json_number_value(json_object_get(m, "pages"));
    s->bytes = json_number_value(json_object_get(m, "bytes"));
    s->converged = json_is_true(json_object_get(m, "converged"));
    s->local = json_is_true(json_object_get(m, "local"));
    json_decref(rep);
    here = to;
    return 0;
}

/* ---- reports ---- */

static void report_count(const char *what, double *v, int n)
{
    if (n > 0)
        printf("%s n=%d median=%.0f p99=%.0f\n", what, n, bench_median(v, n), bench_p99(v, n));
}

#define PEERS_DOWN "    (goal <= 5 ms; QEMU's default downtime limit 300 ms)"
#define PEERS_TOTAL "    (goal <= 25 ms; LightVM 60 ms, Cloud Hypervisor ~50 ms (local, idle VM))"

/* The figures of (n) samples of (label). */
static void report(const char *label, struct sample *s, int n, int failed)
{
    static double v[MAX_SAMPLES];
    char what[160];
    int k = 0, conv = 0;

    printf("%s: %d migrations (%d failed)\n", label, n + failed, failed);
    if (!n)
        return;
    for (int i = 0; i < n; i++)
        if (s[i].gap_us >= 0)
            v[k++] = s[i].gap_us;
    snprintf(what, sizeof(what), "%s: client downtime (longest gap between answers)", label);
    if (k)
        bench_report(what, v, k);
    if (k < n)
        printf("%s: %d migrations without a figure (no answers after lightvmd's reply within "
               "%d s)\n", what, n - k, AFTER_MS / 1000);
    printf(PEERS_DOWN "\n");
    for (int i = 0; i < n; i++)
        v[i] = s[i].total_us;
    snprintf(what, sizeof(what), "%s: total (migrate request -> lightvmd's reply)", label);
    bench_report(what, v, n);
    printf(PEERS_TOTAL "\n");
#define FIELD(f, name, rep)                                                                    \
    do {                                                                                       \
        for (int i = 0; i < n; i++)                                                            \
            v[i] = s[i].f;                                                                     \
        snprintf(what, sizeof(what), "%s: %s", label, name);                                   \
        rep(what, v, n);                                                                       \
    } while (0)
    FIELD(d_down_us, "lightvmd's downtime_us (source: pause -> ack)", bench_report);
    FIELD(d_total_us, "lightvmd's total_us", bench_report);
    FIELD(rounds, "rounds", report_count);
    FIELD(pages, "pages", report_count);
    FIELD(bytes, "bytes", report_count);
    FIELD(lost, "client requests unanswered in the window", report_count);
#undef FIELD
    int local = 0;
    for (int i = 0; i < n; i++) {
        conv += s[i].converged;
        local += s[i].local;
    }
    if (local)
        printf("%s: %d of %d over the local fast path (memory passed, no pre-copy)\n", label,
               local, n);
    if (local < n)
        printf("%s: converged %d of %d copied (the others stop-and-copy)\n", label, conv,
               n - local);
}

/* (app cmdline) booted at A, migrated (r) times back and forth, reported
 * as (label), destroyed. */
static void scenario(const char *label, const char *app, const char *cmdline, int r)
{
    static struct sample s[MAX_SAMPLES];
    int n = 0, failed = 0, in_row = 0;

    unsettled = 0;
    boot(app, cmdline);
    printf("\n%s: booted at A, answering\n", label);
    for (int i = 0; i < r && in_row < 3 && !interrupted; i++) {
        if (migrate_once(&s[n]) == 0) {
            n++;
            in_row = 0;
        } else {
            failed++;
            in_row++;
        }
    }
    if (interrupted)
        die("interrupted");
    if (in_row >= 3)
        printf("%s: 3 migrations in a row failed: the rest skipped\n", label);
    report(label, s, n, failed);
    if (unsettled)
        printf("%s: the pools were not full before %d of the boot and migrations\n", label,
               unsettled);
    destroy_vm();
}

static int parse_rates(const char *arg, long *rates)
{
    int n = 0;
    const char *p = arg;

    while (*p && n < MAX_RATES) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000 || (*end && *end != ','))
            return -1;
        rates[n++] = v;
        p = *end ? end + 1 : end;
    }
    return *p ? -1 : n;
}

static int usage(void)
{
    fprintf(stderr, "usage (root): bench_migrate LIGHTVMD GUEST_DIR [--samples R (1..%d)] "
            "[--rates P,P,... (pages per ms, at most %d)] [--area PAGES] [--interval-us US "
            "(50..100000)] [--pool K (1..64)] [--settle-ms MS] [--local]\n", MAX_SAMPLES,
            MAX_RATES);
    return 2;
}

int main(int argc, char **argv)
{
    long rates[MAX_RATES], interval = 150, area = 1024;
    int r = 20, nrates = 4, local = 0, bad = argc < 3;
    static char unix_a[PATH_MAX], unix_b[PATH_MAX];
    char lightvmd[PATH_MAX], label[96], cmdline[64];
    struct sigaction sa = {.sa_handler = on_signal};

    rates[0] = 0, rates[1] = 10, rates[2] = 100, rates[3] = 1000;
    for (int i = 3; !bad && i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--local")) {
            local = 1;
            i--; /* (no value) */
            continue;
        }
        if (!v)
            bad = 1;
        else if (!strcmp(o, "--samples"))
            r = atoi(v);
        else if (!strcmp(o, "--rates"))
            bad = (nrates = parse_rates(v, rates)) < 0;
        else if (!strcmp(o, "--area"))
            area = atol(v);
        else if (!strcmp(o, "--interval-us"))
            interval = atol(v);
        else if (!strcmp(o, "--pool"))
            pool_k = atoi(v);
        else if (!strcmp(o, "--settle-ms"))
            settle_ms = atoi(v);
        else
            bad = 1;
    }
    if (bad || r < 1 || r > MAX_SAMPLES || area < 1 || area > 2048 || interval < 50 ||
        interval > 100000 || pool_k < 1 || pool_k > 64 || settle_ms < 0 || settle_ms > 600000 || !realpath(argv[1], lightvmd) ||
        !realpath(argv[2], guest_dir))
        return usage();
    if (geteuid() != 0 || access("/dev/kvm", R_OK | W_OK) < 0) {
        fprintf(stderr, "bench_migrate: needs root (network namespaces, taps) and /dev/kvm\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    net_setup();
    if (!mkdtemp(tmpdir))
        die("mkdtemp");
    tmp_made = 1;
    struct side *sides[2] = {&side_a, &side_b};
    for (int i = 0; i < 2; i++) {
        struct side *s = sides[i];
        snprintf(s->rundir, sizeof(s->rundir), "%s/run-%s", tmpdir, s->tag);
        snprintf(s->sock, sizeof(s->sock), "%s/" LV_DAEMON_SOCK, s->rundir);
        snprintf(s->log, sizeof(s->log), "%s/lightvmd-%s.log", tmpdir, s->tag);
        snprintf(s->token_path, sizeof(s->token_path), "%s/token-%s", tmpdir, s->tag);
        write_token(s);
    }
    if (local) { /* both listen on a Unix socket: the RAM's memfd passes */
        snprintf(unix_a, sizeof(unix_a), "unix:%s/mig-A.sock", tmpdir);
        snprintf(unix_b, sizeof(unix_b), "unix:%s/mig-B.sock", tmpdir);
        side_a.listen = unix_a;
        side_b.listen = unix_b;
    }
    time_t now = time(NULL);
    printf("bench_migrate: two lightvmd (namespaces A and B, bridges joined by a veth, "
           "migrations %s), %d migrations back and forth per VM, a UDP request every %ld us; "
           "%s", local ? "local: over Unix sockets, the RAM's memfd passed (the local fast path)"
                       : "over a second veth", r, interval, ctime(&now));
    daemon_start(&side_a, lightvmd);
    daemon_start(&side_b, lightvmd);
    if (client_start(interval) < 0)
        die("the client thread");
    scenario("counter", "counter", "", r);
    for (int i = 0; i < nrates && !interrupted; i++) {
        snprintf(label, sizeof(label), "dirtier %ld pages/ms over %ld", rates[i], area);
        snprintf(cmdline, sizeof(cmdline), "%ld %ld", rates[i], area);
        scenario(label, "dirtier", cmdline, r);
    }
    if (interrupted)
        die("interrupted");
    if (!local)
        printf("\nlocal fast path (the memory fd passed between two daemons on one host): "
               "not in this run: run again with --local (goal: downtime <= 1 ms)\n");
    cleanup();
    printf("\ndone: every VM destroyed, both lightvmd stopped, namespaces and files gone\n");
    return 0;
}
