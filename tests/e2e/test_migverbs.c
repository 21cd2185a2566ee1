/*
 * test_migverbs: live migration (`lightvm migrate`) between two lightvmd
 * end to end on real KVM. The test makes two network namespaces (and a
 * mount namespace of its own): A, where the test itself sits, and B.
 * Each has a bridge lvm0 (the same name: a VM's spec names its bridge,
 * and the destination checks that it exists), joined at layer 2 by a
 * veth pair mA-mB whose ends are ports of the two bridges, so a VM keeps
 * its address 10.77.0.2/24 on either side; A's bridge has 10.77.0.1/24
 * (the test, and the guest's gateway), B's none (a MAC of its own). A
 * second veth pair cA (10.78.0.1/24) - cB (10.78.0.2/24) carries the
 * migrations. A lightvmd runs in each namespace (its own run directory,
 * pool 16,1,2), listening for migrations on its cA/cB address, port
 * 7070, with a token of its own (a file of mode 0600). The guest is
 * guest/apps/counter (UDP port 7: "count N uptime_ms M gen G ip A").
 *
 *   0. a lightvmd whose token file others may read refuses to start
 *   1. c0 (counter, 16 MiB, one vif on lvm0, 10.77.0.2/24) at A, asked
 *      3 times (count 1..3)
 *   2. `migrate c0 10.78.0.2:7070` while a thread asks c0 over UDP every
 *      ~1 ms, each request from a socket of its own: a request that got
 *      no answer within 1 s is asked once more (once the migration is
 *      over: a request sent during the stop is lost with the source's
 *      tap), and must then be answered. Every answer's count is above the
 *      one before, and every request counted but not answered is one of
 *      the retries (nothing counted twice, nothing lost, no state going
 *      back). Exit 0 and the one line "migrated c0 to ...: downtime D
 *      ms, total T ms, R rounds, P pages[ (stop-and-copy)]" (printed;
 *      D <= T, R and P >= 1, no thresholds); the generation went up; 50
 *      more requests answered after the source's VM process is gone;
 *      c0 gone from A (list, directory, process, tap: A's namespace back
 *      to its pool), running at B with the same MAC and IP, its process
 *      in B's namespace, B's log says "migration in from ... of c0:
 *      running here", its tap at B carries the requests
 *   3. the same back, from B to A
 *   4. a wrong token: exit 1, one line "lightvm migrate: ... the
 *      destination refused: wrong token"; the source's c0 the same
 *      process, running (not paused), answering with its count going on;
 *      the destination clean: c0 not listed, no vms/c0, its namespace
 *      back to its pool (processes and taps; bounded wait); its log says
 *      "refused: wrong token"
 *   5. through a proxy (a thread of the test) that closes both sides
 *      after 64 KiB of the source's stream: exit 1, one line; the source
 *      and destination as in 4
 *   6. through a proxy that flips one byte of the binary stream (48 KiB
 *      after the handshake line): the same
 *   7. exit 1 and one line for an unknown VM ("no VM named 'ghost'"), a
 *      port nobody listens on (a connect error) and a token file others
 *      may read; exit 2 without --token-file; c0 unaffected
 *   9. the local fast path: the other side's lightvmd restarted with
 *      --migrate-listen unix:RUNDIR/mig.sock (c0 stays where it runs);
 *      `migrate c0 unix:...` under the client loop as in 2: the line ends
 *      " (memory passed)" with 0 pages, the same checks as in 2
 *   8. (last) c0 destroyed, both daemons stopped: no process or tap left in
 *      either namespace, no socket, VM or shell directory in either run
 *      directory
 *
 * Cases 4-7 migrate from wherever c0 is to the other side. c0 is never
 * listed on both sides at once.
 *
 * usage: test_migverbs LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM (skips
 * without it, fails under LIGHTVM_REQUIRE_KVM=1) and root.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lvtest.h"

#define BR "lvm0"
#define NET "10.77.0."
#define HOST_IP NET "1"
#define C0_IP NET "2"
#define CTL_A "10.78.0.1"
#define CTL_B "10.78.0.2"
#define MIG_PORT "7070"
#define DEAD_PORT "7079" /* nobody listens there */
#define MEM_MB 16
#define POOL 2
#define POOL_ARG "16,1,2"
#define CUT_AT (64u << 10)  /* case 5: bytes of the source's stream let through */
#define FLIP_AT (48u << 10) /* case 6: the flipped byte, after the handshake line */

/* The client loop (case 2, 3). */
#define LOOP_WARMUP 20        /* requests answered before the migration starts */
#define LOOP_AFTER 50         /* requests once the source's VM process is gone */
#define LOOP_FIRST_MS 1000    /* a request unanswered this long is asked again ... */
#define LOOP_HOLD_MS 150000   /* ... once the migration is over, or after this */
#define LOOP_RETRY_MS 10000   /* the retry's answer, at most */
#define LOOP_MAX_MS 400000    /* the whole loop, at most */
#define LOOP_MAX_REQ 200000

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin;
static char rundir_a[64] = "/tmp/lvtest-migverbs-XXXXXX", cfgdir[PATH_MAX];
static char rundir_b[64] = "/tmp/lvtest-migverbs-B-XXXXXX";
static char sysdir_b[64] = "/tmp/lvtest-migverbs-sys-XXXXXX";
static char tok_bad[PATH_MAX], tok_wrong[PATH_MAX];
static struct lvt_bg tool;
static struct lvt_proc cli;

/* One host: a network namespace with its lightvmd. */
struct side {
    const char *tag;     /* "A", "B" */
    char *rundir;
    int nsfd;            /* its network namespace (the test's for A) */
    char nslink[64];     /* readlink of it: "net:[N]" */
    const char *sys;     /* a sysfs of that namespace */
    const char *listen;  /* its --migrate-listen */
    char token[PATH_MAX];/* its --migrate-token-file */
    struct lvt_bg d;     /* its lightvmd */
    int procs, taps;     /* in its namespace with its pool full and no VM */
};

static struct side side_a = {.tag = "A", .rundir = rundir_a, .nsfd = -1, .sys = "/sys",
                             .listen = CTL_A ":" MIG_PORT};
static struct side side_b = {.tag = "B", .rundir = rundir_b, .nsfd = -1, .sys = sysdir_b,
                             .listen = CTL_B ":" MIG_PORT};
static struct side *here = &side_a; /* where c0 runs */

#define lv(s, ...) lvt_lv(&cli, lightvm, (s)->rundir, __VA_ARGS__)

static struct side *other(const struct side *s)
{
    return s == &side_a ? &side_b : &side_a;
}

static struct lvt_reply last; /* c0's last answer */
static char c0_mac[24];

/* (s) is exactly one non-empty line. */
static int one_line(const char *s)
{
    size_t n = strlen(s);
    return n > 1 && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1;
}

static struct sockaddr_in sock_addr(const char *ip, unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

/* ---- namespaces ---- */

/* Moves the calling thread into network namespace (fd); 0 or -1 (CHECKed). */
static int ns_enter(int fd, const char *tag)
{
    if (setns(fd, CLONE_NEWNET) == 0)
        return 0;
    CHECK(0, "setns into namespace %s: %s", tag, strerror(errno));
    return -1;
}

/* Tap devices in (s)'s namespace (its sysfs). */
static int ns_taps(const struct side *s)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *de;
    int n = 0;

    snprintf(path, sizeof(path), "%s/class/net", s->sys);
    if (!(d = opendir(path)))
        return -1;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/class/net/%s/tun_flags", s->sys, de->d_name);
        n += access(path, F_OK) == 0;
    }
    closedir(d);
    return n;
}

/* A counter of interface (ifname) in (s)'s namespace ("statistics/..."). */
static unsigned long long ns_stat(const struct side *s, const char *ifname, const char *attr)
{
    char path[PATH_MAX], buf[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/class/net/%s/%s", s->sys, ifname, attr);
    if (!(f = fopen(path, "r")))
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    return strtoull(buf, NULL, 10);
}

/* Process (pid) lives in (s)'s network namespace. */
static int pid_in_ns(const struct side *s, long pid)
{
    char path[64], ns[64];
    ssize_t k;

    snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
    if ((k = readlink(path, ns, sizeof(ns) - 1)) <= 0)
        return 0;
    ns[k] = '\0';
    return !strcmp(ns, s->nslink);
}

static int ns_link(int fd, char *out, size_t cap)
{
    char path[64];
    ssize_t k;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if ((k = readlink(path, out, cap - 1)) <= 0)
        return -1;
    out[k] = '\0';
    return 0;
}

/* Namespace B: made by unshare and held by an fd (this thread goes back to A). */
static int make_ns_b(void)
{
    side_a.nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (side_a.nsfd < 0 || unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "FAIL: a second network namespace: %s\n", strerror(errno));
        return -1;
    }
    side_b.nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns_enter(side_a.nsfd, "A") < 0 || side_b.nsfd < 0 ||
        ns_link(side_a.nsfd, side_a.nslink, sizeof(side_a.nslink)) < 0 ||
        ns_link(side_b.nsfd, side_b.nslink, sizeof(side_b.nslink)) < 0 ||
        !strcmp(side_a.nslink, side_b.nslink)) {
        fprintf(stderr, "FAIL: namespace B: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* B's side of the links, its bridge and a sysfs of it; run with this
 * thread in B. */
static int setup_b_inside(void)
{
    int st = lvt_ip(&tool, ip_bin, "link set lo up");
    if (!st) /* a MAC of its own: A's bridge must not take B's frames as its own */
        st = lvt_ip(&tool, ip_bin, "link add " BR " address 02:1b:00:00:0b:01 type bridge");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set " BR " up");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set mB master " BR);
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set mB up");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "addr add " CTL_B "/24 dev cB");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set cB up");
    if (!st && mount("sysfs", sysdir_b, "sysfs", 0, NULL) < 0) {
        fprintf(stderr, "FAIL: mount a sysfs of B on %s: %s\n", sysdir_b, strerror(errno));
        st = -1;
    }
    return st;
}

/* Both namespaces' links, bridges and addresses (module comment). */
static int net_setup(void)
{
    int st = make_ns_b();

    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set lo up");
    if (!st)
        st = lvt_bridge_add(&tool, ip_bin, BR, HOST_IP "/24");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link add mA type veth peer name mB netns /proc/%d/fd/%d",
                    (int)getpid(), side_b.nsfd);
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link add cA type veth peer name cB netns /proc/%d/fd/%d",
                    (int)getpid(), side_b.nsfd);
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set mA master " BR);
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set mA up");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "addr add " CTL_A "/24 dev cA");
    if (!st)
        st = lvt_ip(&tool, ip_bin, "link set cA up");
    if (!st && mkdtemp(sysdir_b) == NULL) {
        fprintf(stderr, "FAIL: mkdtemp %s: %s\n", sysdir_b, strerror(errno));
        sysdir_b[0] = '\0';
        st = -1;
    }
    if (!st && (st = ns_enter(side_b.nsfd, "B")) == 0) {
        st = setup_b_inside();
        if (ns_enter(side_a.nsfd, "A") < 0)
            st = -1;
    }
    return st;
}

/* ---- files ---- */

/* A token file (path) of mode (mode) holding (len) random letters and
 * digits and a newline. 0 or -1 (CHECKed). */
static int write_token(const char *path, mode_t mode, size_t len)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char raw[64];
    char text[66];
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    int ok = rnd >= 0 && fd >= 0 && len < sizeof(raw) && read(rnd, raw, len) == (ssize_t)len &&
             fchmod(fd, mode) == 0;

    for (size_t i = 0; ok && i < len; i++)
        text[i] = al[raw[i] % (sizeof(al) - 1)];
    text[len] = '\n';
    ok = ok && write(fd, text, len + 1) == (ssize_t)(len + 1);
    if (rnd >= 0)
        close(rnd);
    if (fd >= 0)
        close(fd);
    CHECK(ok, "cannot write the token file %s: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

static int write_tokens(void)
{
    snprintf(side_a.token, sizeof(side_a.token), "%.4000s/token-a", cfgdir);
    snprintf(side_b.token, sizeof(side_b.token), "%.4000s/token-b", cfgdir);
    snprintf(tok_wrong, sizeof(tok_wrong), "%.4000s/token-wrong", cfgdir);
    snprintf(tok_bad, sizeof(tok_bad), "%.4000s/token-mode640", cfgdir);
    return write_token(side_a.token, 0600, 32) | write_token(side_b.token, 0600, 32) |
           write_token(tok_wrong, 0600, 32) | write_token(tok_bad, 0640, 32);
}

/* ---- the CLI's view ---- */

/* The names `lightvm list` shows at (s) (its second column), space-separated. */
static void list_names(const struct side *s, char *out, size_t cap)
{
    char name[80];

    out[0] = '\0';
    CHECK(lv(s, "list", NULL) == 0, "list at %s: %s", s->tag, cli.err);
    const char *l = strchr(cli.out, '\n'); /* after the header */
    for (; l && l[1]; l = strchr(l + 1, '\n'))
        if (sscanf(l + 1, "%*s %79s", name) == 1)
            snprintf(out + strlen(out), cap - strlen(out), " %s", name);
}

static int listed(const struct side *s, const char *name)
{
    char names[1024], want[96];

    list_names(s, names, sizeof(names));
    snprintf(want, sizeof(want), " %s ", name);
    strcat(names, " ");
    return strstr(names, want) != NULL;
}

/* $RUNDIR/vms/NAME exists at (s). */
static int vm_dir(const struct side *s, const char *name)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/vms/%s", s->rundir, name);
    return access(p, F_OK) == 0;
}

/* Field (key) ("mac=", "ip=", "tap=") of vif0 in `lightvm info NAME` at
 * (s) into (out); "" if none. */
static void info_vif(const struct side *s, const char *name, const char *key, char *out,
                     size_t cap)
{
    const char *v, *m;
    char k[16];

    out[0] = '\0';
    snprintf(k, sizeof(k), " %s", key);
    if (lv(s, "info", name, NULL) != 0 || !(v = strstr(cli.out, "vif0: ")) ||
        !(m = strstr(v, k)) || m > v + strcspn(v, "\n"))
        return;
    m += strlen(k);
    snprintf(out, cap, "%.*s", (int)strcspn(m, " \n"), m);
}

static int pool_full(const struct side *s)
{
    char want[48];

    snprintf(want, sizeof(want), "ready=%d preparing=0 ", POOL);
    return lv(s, "pool", NULL) == 0 && strstr(cli.out, want);
}

/* (s)'s processes and taps once its pool is full and they stay the same
 * half a second apart, into s->procs, s->taps (bounded: 60 s). */
static void base_take(struct side *s)
{
    char list[4096];
    int procs = -2, taps = -2;

    for (int t = 0; t < 60000; t += 500) {
        if (pool_full(s)) {
            s->procs = lvt_ns_procs(s->nslink, NULL, 0, list, sizeof(list));
            s->taps = ns_taps(s);
            if (s->procs == procs && s->taps == taps)
                break;
            procs = s->procs;
            taps = s->taps;
        }
        lvt_bg_pump(500);
    }
    CHECK(pool_full(s) && s->procs == procs && s->taps == taps && s->procs > 0,
          "%s: the pool never filled or the namespace never settled: %s", s->tag, cli.out);
    printf("%s: %d processes, %d taps with the pool full:%s\n", s->tag, s->procs, s->taps, list);
}

/* (s) with (vms) one-vif VMs: its pool full, its base processes and taps
 * and one of each per VM (bounded wait: 60 s). */
static void scene_check(const struct side *s, int vms, const char *what)
{
    char list[4096] = "";
    int procs = -1, taps = -1;

    for (int t = 0; t < 60000; t += 100) {
        if (pool_full(s)) {
            procs = lvt_ns_procs(s->nslink, NULL, 0, list, sizeof(list));
            taps = ns_taps(s);
            if (procs == s->procs + vms && taps == s->taps + vms)
                break;
        }
        lvt_bg_pump(100);
    }
    CHECK(procs == s->procs + vms, "%s: %d processes in %s's namespace, want %d:%s", what, procs,
          s->tag, s->procs + vms, list);
    CHECK(taps == s->taps + vms, "%s: %d taps in %s's namespace, want %d", what, taps, s->tag,
          s->taps + vms);
}

/* ---- asking c0 ---- */

/* c0 answers with its count going on (at most one count per try), its
 * generation and address as before. */
static void c0_goes_on(const char *what)
{
    struct lvt_reply r = {0};
    int tries = lvt_counter_ask(C0_IP, 5, &r);

    CHECK(tries > 0, "%s: c0 does not answer", what);
    if (!tries)
        return;
    CHECK(r.count > last.count && r.count <= last.count + (unsigned long)tries &&
          r.gen == last.gen && !strcmp(r.ip, C0_IP), "%s: c0 answers count %lu gen %lu ip %s "
          "after count %lu gen %lu (%d tries)", what, r.count, r.gen, r.ip, last.count,
          last.gen, tries);
    last = r;
}

/* ---- the client loop: a thread asking c0 during a migration ---- */

struct loop {
    atomic_int over;           /* main: the migration is over (its VM gone from the source) */
    atomic_ulong answered;     /* requests answered so far */
    /* the thread's results, read after the join */
    unsigned long first, last; /* counts of the first and last answers */
    unsigned long gen0, gen1;  /* their generations */
    unsigned long retries;     /* requests asked twice */
    unsigned long uncounted;   /* of those, retried requests counted twice by c0 */
    unsigned long after;       /* requests answered once "over" was seen */
    char fail[256];
};

/* One answer on (fd) within (ms); 1 with it in (r), 0 if none. */
static int loop_recv(struct loop *l, int fd, int ms, struct lvt_reply *r)
{
    struct pollfd pf = {fd, POLLIN, 0};
    char buf[256];

    if (poll(&pf, 1, ms) != 1)
        return 0;
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    if (n <= 0) {
        lvt_sleep_ms(1); /* (an ICMP error: no busy loop) */
        return 0;
    }
    buf[n] = '\0';
    if (!lvt_counter_parse(buf, r) || strcmp(r->ip, C0_IP))
        snprintf(l->fail, sizeof(l->fail), "c0 answered \"%.100s\"", buf);
    return 1;
}

/* One request from a socket of its own: asked, then asked once more if
 * no answer came within LOOP_FIRST_MS and the migration is over (or
 * LOOP_HOLD_MS passed). 1 with the answer in (r) (*retried set), 0 with
 * l->fail set. */
static int loop_request(struct loop *l, struct lvt_reply *r, int *retried)
{
    struct sockaddr_in sa = sock_addr(C0_IP, 7);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), got = 0;
    double t0 = lvt_now_ms();

    *retried = 0;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(fd, "?", 1, 0) != 1) {
        snprintf(l->fail, sizeof(l->fail), "socket, connect or send: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    for (;;) {
        if ((got = loop_recv(l, fd, 10, r)))
            break;
        double waited = lvt_now_ms() - t0;
        if ((waited >= LOOP_FIRST_MS && atomic_load(&l->over)) || waited >= LOOP_HOLD_MS)
            break;
    }
    if (!got) {
        *retried = 1;
        got = send(fd, "?", 1, 0) == 1 && loop_recv(l, fd, LOOP_RETRY_MS, r);
        if (!got)
            snprintf(l->fail, sizeof(l->fail), "a request and its retry went unanswered "
                     "(after count %lu)", l->last);
    }
    close(fd);
    return got && !l->fail[0];
}

/* Answer (r) after the ones before: its count above the last, and what c0
 * counted in between no more than the retries not yet accounted for. */
static void loop_account(struct loop *l, const struct lvt_reply *r, unsigned long *slack)
{
    if (r->count <= l->last) {
        snprintf(l->fail, sizeof(l->fail), "count %lu after %lu: c0's state went back, or "
                 "two copies answer", r->count, l->last);
        return;
    }
    unsigned long extra = r->count - l->last - 1;
    if (extra > *slack) {
        snprintf(l->fail, sizeof(l->fail), "count %lu after %lu: c0 counted %lu requests "
                 "more than it was sent (%lu retries unaccounted for)", r->count, l->last,
                 extra, *slack);
        return;
    }
    if (r->gen < l->gen1)
        snprintf(l->fail, sizeof(l->fail), "generation %lu after %lu", r->gen, l->gen1);
    *slack -= extra;
    l->uncounted += extra;
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    double end = lvt_now_ms() + LOOP_MAX_MS;
    unsigned long slack = 0, k;
    struct lvt_reply r;

    for (k = 0; k < LOOP_MAX_REQ && !l->fail[0] && l->after < LOOP_AFTER; k++) {
        int over = atomic_load(&l->over), retried;
        if (lvt_now_ms() > end) {
            snprintf(l->fail, sizeof(l->fail), "still asking after %d s", LOOP_MAX_MS / 1000);
            break;
        }
        if (!loop_request(l, &r, &retried))
            break;
        l->retries += (unsigned long)retried;
        slack += (unsigned long)retried;
        if (k == 0) {
            l->first = r.count;
            l->gen0 = r.gen;
        }
        loop_account(l, &r, &slack); /* (l->last, l->gen1 start as c0's last answer) */
        l->last = r.count;
        l->gen1 = r.gen;
        l->after += (unsigned long)over;
        atomic_fetch_add(&l->answered, 1);
        lvt_sleep_ms(1);
    }
    if (k == LOOP_MAX_REQ && !l->fail[0])
        snprintf(l->fail, sizeof(l->fail), "%d requests and still not over", LOOP_MAX_REQ);
    return NULL;
}

/* ---- the cases ---- */

static int daemon_start(struct side *s)
{
    const char *argv[] = {lightvmd, "--rundir", s->rundir, "--pool", POOL_ARG,
                          "--migrate-listen", s->listen, "--migrate-token-file", s->token,
                          NULL};
    char line[96];

    if (ns_enter(s->nsfd, s->tag) < 0)
        return 0;
    int rc = lvt_bg_start(&s->d, argv), e = errno;
    if (ns_enter(side_a.nsfd, "A") < 0 || rc < 0) {
        CHECK(rc == 0, "cannot start %s: %s", lightvmd, strerror(e));
        return 0;
    }
    if (!lvt_daemon_wait(&s->d, 30000, &cli, lightvm, s->rundir))
        return 0;
    snprintf(line, sizeof(line), "lightvmd: taking migrations on %s\n", s->listen);
    CHECK(lvt_bg_wait(&s->d, line, 5000), "%s's lightvmd did not say \"%.*s\":\n%s", s->tag,
          (int)strlen(line) - 1, line, s->d.err);
    return 1;
}

/* 0: a lightvmd given a token file others may read refuses to start. */
static void case_token_mode(void)
{
    const char *argv[] = {lightvmd, "--rundir", rundir_b, "--pool", POOL_ARG,
                          "--migrate-listen", side_b.listen, "--migrate-token-file", tok_bad,
                          NULL};
    struct lvt_bg d;

    if (ns_enter(side_b.nsfd, "B") < 0)
        return;
    int rc = lvt_bg_start(&d, argv);
    if (ns_enter(side_a.nsfd, "A") < 0 || rc < 0)
        return;
    int st = lvt_bg_stop(&d, 0, 20000);
    printf("lightvmd with a token file of mode 0640: status %d: %s", st, d.err);
    CHECK(st != 0 && !d.timed_out && strstr(d.err, tok_bad) && !strstr(d.err, "taking migrations"),
          "lightvmd with a token file of mode 0640: status %d%s: %s", st,
          d.timed_out ? " (did not end)" : "", d.err);
}

/* 1: c0 at A, asked three times. 0, or -1 (the rest cannot run). */
static int case_boot(void)
{
    char json[512], path[PATH_MAX];

    snprintf(json, sizeof(json),
             "{\"name\":\"c0\",\"kernel\":\"%s/counter.elf\",\"memory\":%d,\"vcpus\":1,"
             "\"vifs\":[{\"bridge\":\"" BR "\",\"ip\":\"" C0_IP "/24\",\"gw\":\"" HOST_IP "\"}]}",
             gdir, MEM_MB);
    snprintf(path, sizeof(path), "%.4000s/c0.json", cfgdir);
    CHECK(lvt_write_file(path, json, strlen(json)) == 0, "cannot write %s", path);
    int st = lv(&side_a, "create", path, NULL);
    printf("create: %s", cli.out);
    CHECK(st == 0 && !strncmp(cli.out, "c0 id=", 6), "create c0: status %d: %s%s", st, cli.out,
          cli.err);
    if (st != 0)
        return -1;
    for (unsigned long k = 1; k <= 3; k++) {
        if (!lvt_counter_ask(C0_IP, k == 1 ? 60 : 5, &last) || last.count != k) {
            CHECK(0, "c0: answer %lu: count %lu", k, last.count);
            return -1;
        }
    }
    CHECK(last.gen == 0 && !strcmp(last.ip, C0_IP), "c0 booted: gen %lu ip %s", last.gen,
          last.ip);
    info_vif(&side_a, "c0", "mac=", c0_mac, sizeof(c0_mac));
    CHECK(c0_mac[0], "no MAC in info c0: %s", cli.out);
    return 0;
}

struct mig_line {
    double down_ms, total_ms;
    unsigned rounds;
    unsigned long long pages;
    int stop_and_copy;
    int local;          /* " (memory passed)": the local fast path */
};

/* migrate's line for c0 to (to): "migrated c0 to TO: downtime D ms,
 * total T ms, R rounds, P pages[ (stop-and-copy)]"; 1 if it is that. */
static int migrated_line(const char *out, const char *to, struct mig_line *m)
{
    char head[96];
    int n = 0;

    memset(m, 0, sizeof(*m));
    snprintf(head, sizeof(head), "migrated c0 to %s: ", to);
    if (!one_line(out) || strncmp(out, head, strlen(head)))
        return 0;
    out += strlen(head);
    if (sscanf(out, "downtime %lf ms, total %lf ms, %u rounds, %llu pages%n", &m->down_ms,
               &m->total_ms, &m->rounds, &m->pages, &n) != 4 || n <= 0)
        return 0;
    m->stop_and_copy = !strcmp(out + n, " (stop-and-copy)\n");
    m->local = !strcmp(out + n, " (memory passed)\n");
    return m->stop_and_copy || m->local || !strcmp(out + n, "\n");
}

/* Waits (10 s at most) until process (pid) is gone. */
static int pid_gone(long pid)
{
    for (int t = 0; t < 10000; t += 50) {
        if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            return 1;
        lvt_bg_pump(50);
    }
    return 0;
}

/* Since byte (log0) of (s)'s lightvmd log: its line about a migration of
 * c0 in, ending with (tail). */
static int log_says(struct side *s, size_t log0, const char *tail)
{
    char want[128];

    snprintf(want, sizeof(want), " of c0: %s", tail);
    for (int t = 0; t < 20000; t += 100) {
        const char *l = strstr(s->d.err + log0, "lightvmd: migration in from ");
        for (; l; l = strstr(l + 1, "lightvmd: migration in from "))
            if (strstr(l, want) && strstr(l, want) < l + strcspn(l, "\n"))
                return 1;
        lvt_bg_pump(100);
    }
    return 0;
}

/* After c0 moved from (from) to (to): gone there, running here as itself. */
static void moved_checks(struct side *from, struct side *to, long old_pid, size_t log0,
                         const char *what)
{
    char mac[24], ip[24], tap[24];
    struct lvt_reply r;

    CHECK(!listed(from, "c0") && !vm_dir(from, "c0"), "%s: c0 still listed at %s, or its "
          "directory is still there", what, from->tag);
    CHECK(pid_gone(old_pid), "%s: c0's process %ld at %s is still there", what, old_pid,
          from->tag);
    scene_check(from, 0, what);
    long pid = lvt_vm_pid(&cli, lightvm, to->rundir, "c0");
    CHECK(pid > 0 && strstr(cli.out, "state: running") && pid_in_ns(to, pid),
          "%s: info c0 at %s (its pid in %s's namespace?): %s%s", what, to->tag, to->tag,
          cli.out, cli.err);
    info_vif(to, "c0", "mac=", mac, sizeof(mac));
    info_vif(to, "c0", "ip=", ip, sizeof(ip));
    CHECK(!strcmp(mac, c0_mac) && !strncmp(ip, C0_IP, strlen(C0_IP)) &&
          (ip[strlen(C0_IP)] == '\0' || ip[strlen(C0_IP)] == '/'),
          "%s: c0 at %s has MAC '%s' IP '%s' (was %s " C0_IP ")", what, to->tag, mac, ip, c0_mac);
    CHECK(log_says(to, log0, "running here"), "%s: %s's lightvmd did not log c0's arrival:\n%s",
          what, to->tag, to->d.err + log0);
    scene_check(to, 1, what);
    /* the answers come through its tap there */
    info_vif(to, "c0", "tap=", tap, sizeof(tap));
    unsigned long long tx0 = ns_stat(to, tap, "statistics/tx_packets");
    int asked = 0;
    for (int i = 0; i < 10; i++)
        asked += lvt_counter_ask(C0_IP, 3, &r) > 0;
    unsigned long long tx1 = ns_stat(to, tap, "statistics/tx_packets");
    CHECK(tap[0] && asked == 10 && tx1 >= tx0 + 10, "%s: %d of 10 requests answered; c0's tap "
          "'%s' at %s carried %llu packets to it meanwhile", what, asked, tap, to->tag, tx1 - tx0);
    if (asked)
        last = r;
}

/* 2, 3: c0 moved live from (from) to (to) with the client loop running. */
static void case_live(struct side *from, struct side *to, const char *what)
{
    static struct loop l;
    struct mig_line m;
    pthread_t th;
    long pid = lvt_vm_pid(&cli, lightvm, from->rundir, "c0");
    size_t log0 = strlen(to->d.err);
    char out[512], err[512];

    memset(&l, 0, sizeof(l));
    atomic_init(&l.over, 0);
    atomic_init(&l.answered, 0);
    l.last = last.count;
    l.gen1 = last.gen;
    if (pthread_create(&th, NULL, loop_main, &l)) {
        CHECK(0, "%s: pthread_create", what);
        return;
    }
    for (int t = 0; t < 30000 && atomic_load(&l.answered) < LOOP_WARMUP && !l.fail[0]; t += 10)
        lvt_sleep_ms(10);
    unsigned long n0 = atomic_load(&l.answered);
    int st = lv(from, "migrate", "c0", to->listen, "--token-file", to->token, NULL);
    unsigned long n1 = atomic_load(&l.answered);
    snprintf(out, sizeof(out), "%.500s", cli.out);
    snprintf(err, sizeof(err), "%.500s", cli.err);
    printf("%s: status %d: %s%s", what, st, out, err);
    int ok = st == 0 && migrated_line(out, to->listen, &m);
    int local = !strncmp(to->listen, "unix:", 5);
    CHECK(ok && m.rounds >= 1 && (local ? m.local && !m.pages : m.pages >= 1) &&
          m.down_ms >= 0 && m.down_ms <= m.total_ms,
          "%s: status %d, stdout \"%s\", stderr \"%s\" (want 0 and one 'migrated' line, "
          "downtime <= total, rounds >= 1, %s)", what, st, out, err,
          local ? "no page copied: memory passed" : "pages >= 1");
    if (st == 0)
        CHECK(pid_gone(pid), "%s: c0's process %ld at %s outlives its migration", what, pid,
              from->tag);
    atomic_store(&l.over, 1); /* the source's tap went with its process */
    pthread_join(th, NULL);
    printf("%s: client loop: %lu answers (%lu before, %lu during, %lu after the migration), "
           "%lu retried (%lu of them counted twice), counts %lu..%lu, generation %lu -> %lu%s%s\n",
           what, atomic_load(&l.answered), n0, n1 - n0, atomic_load(&l.answered) - n1,
           l.retries, l.uncounted, l.first, l.last, l.gen0, l.gen1, l.fail[0] ? ": " : "",
           l.fail);
    CHECK(!l.fail[0] && l.after == LOOP_AFTER, "%s: client loop: %s (%lu answers once over)",
          what, l.fail[0] ? l.fail : "ended early", l.after);
    last.count = l.last;
    if (st != 0)
        return;
    CHECK(l.gen1 > l.gen0, "%s: generation %lu -> %lu (want it up)", what, l.gen0, l.gen1);
    last.gen = l.gen1;
    here = to;
    moved_checks(from, to, pid, log0, what);
}

/* (text) contains each of the '|'-separated (words), case aside. */
static int names_all(const char *text, const char *words)
{
    char w[80];

    for (const char *p = words; *p; p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|')) {
        snprintf(w, sizeof(w), "%.*s", (int)strcspn(p, "|"), p);
        if (w[0] && !strcasestr(text, w))
            return 0;
    }
    return 1;
}

/* A migration of c0 that must fail (status st, cli its output): exit (want),
 * one line naming (words); c0 at (from) the same process (pid), running
 * and answering; nothing at (to), whose log (since log0) says (logged)
 * if given. */
static void refused(int st, int want, const char *what, const char *words, struct side *from,
                    struct side *to, long pid, size_t log0, const char *logged)
{
    printf("%s: status %d: %s", what, st, cli.err);
    CHECK(st == want && one_line(cli.err) && !strncmp(cli.err, "lightvm migrate: ", 17) &&
          !cli.out[0], "%s: status %d, stdout \"%s\", stderr \"%s\" (want %d and one line)",
          what, st, cli.out, cli.err, want);
    CHECK(!words || names_all(cli.err, words), "%s: stderr \"%s\" does not say '%s'", what,
          cli.err, words);
    CHECK(!logged || log_says(to, log0, logged), "%s: %s's lightvmd did not log \"of c0: %s\":"
          "\n%s", what, to->tag, logged ? logged : "", to->d.err + log0);
    CHECK(lvt_vm_pid(&cli, lightvm, from->rundir, "c0") == pid && pid > 0 &&
          strstr(cli.out, "state: running"), "%s: c0 at %s (pid %ld before): %s%s", what,
          from->tag, pid, cli.out, cli.err);
    c0_goes_on(what);
    for (int t = 0; t < 60000 && vm_dir(to, "c0"); t += 100)
        lvt_bg_pump(100);
    CHECK(!listed(to, "c0") && !vm_dir(to, "c0"), "%s: c0 listed at %s, or %s/vms/c0 there",
          what, to->tag, to->rundir);
    scene_check(to, 0, what);
    scene_check(from, 1, what);
}

/* 4: a wrong token. */
static void case_wrong_token(void)
{
    struct side *to = other(here);
    long pid = lvt_vm_pid(&cli, lightvm, here->rundir, "c0");
    size_t log0 = strlen(to->d.err);

    int st = lv(here, "migrate", "c0", to->listen, "--token-file", tok_wrong, NULL);
    refused(st, 1, "migrate with a wrong token", "the destination refused: wrong token", here,
            to, pid, log0, "refused: wrong token");
}

/* ---- a proxy between the two lightvmd (cases 5, 6) ---- */

struct proxy {
    int lfd;                /* listening on CTL_A, port in (addr) */
    char addr[32];          /* "CTL_A:PORT", for lightvm migrate */
    struct sockaddr_in to;  /* the destination's listener */
    size_t cut_at;          /* > 0: the source's first (cut_at) bytes, then both closed */
    size_t flip_at;         /* > 0: that byte after the handshake line flipped */
    atomic_int stop;        /* main: the migration is over (stop waiting for it) */
    /* the thread's results, read after the join */
    size_t from_src, from_dst, hello_len;
    int accepted, cut, flipped;
    char fail[160];
};

static int proxy_open(struct proxy *p, const struct side *to)
{
    struct sockaddr_in sa = sock_addr(CTL_A, 0);
    socklen_t len = sizeof(sa);
    unsigned port = 0;

    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(p->lfd, 1) < 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &len) < 0) {
        CHECK(0, "proxy: %s", strerror(errno));
        return -1;
    }
    snprintf(p->addr, sizeof(p->addr), CTL_A ":%u", (unsigned)ntohs(sa.sin_port));
    sscanf(to->listen + strcspn(to->listen, ":") + 1, "%u", &port);
    char ip[16];
    snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(to->listen, ":"), to->listen);
    p->to = sock_addr(ip, port);
    return 0;
}

static int write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The source's (n) bytes in (b): cut or flipped as asked, then on to (d).
 * 0, or -1: both connections to close. */
static int proxy_src(struct proxy *p, int d, char *b, size_t n)
{
    if (p->cut_at) {
        size_t k = p->cut_at - p->from_src < n ? p->cut_at - p->from_src : n;
        int rc = write_all(d, b, k);
        p->from_src += k;
        p->cut = p->from_src == p->cut_at;
        return rc || p->cut ? -1 : 0;
    }
    if (!p->hello_len) {
        char *nl = memchr(b, '\n', n);
        if (nl)
            p->hello_len = p->from_src + (size_t)(nl - b) + 1;
    }
    size_t at = p->hello_len + p->flip_at;
    if (p->flip_at && p->hello_len && !p->flipped && at >= p->from_src && at < p->from_src + n) {
        b[at - p->from_src] ^= 0xff;
        p->flipped = 1;
    }
    p->from_src += n;
    return write_all(d, b, n);
}

/* Forwards between (s) (the source) and (d) until both ends closed or
 * 120 s passed. */
static void proxy_pump(struct proxy *p, int s, int d)
{
    static char buf[65536]; /* (one proxy at a time) */
    int open_[2] = {1, 1};
    double end = lvt_now_ms() + 120000;

    while ((open_[0] || open_[1]) && lvt_now_ms() < end) {
        struct pollfd pf[2] = {{open_[0] ? s : -1, POLLIN, 0}, {open_[1] ? d : -1, POLLIN, 0}};
        if (poll(pf, 2, 200) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t n = recv(i ? d : s, buf, sizeof(buf), 0);
            if (n <= 0) {
                open_[i] = 0;
                shutdown(i ? s : d, SHUT_WR);
                continue;
            }
            int rc = i ? write_all(s, buf, (size_t)n) : proxy_src(p, d, buf, (size_t)n);
            p->from_dst += i ? (size_t)n : 0;
            if (rc)
                return;
        }
    }
}

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    struct pollfd pf = {p->lfd, POLLIN, 0};
    int s = -1, d = -1;

    for (int t = 0; t < 60000 && !atomic_load(&p->stop); t += 200)
        if (poll(&pf, 1, 200) == 1)
            break;
    if (pf.revents && (s = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        p->accepted = 1;
        d = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (d < 0 || connect(d, (struct sockaddr *)&p->to, sizeof(p->to)) < 0)
            snprintf(p->fail, sizeof(p->fail), "connect to the destination: %s",
                     strerror(errno));
        else
            proxy_pump(p, s, d);
    }
    if (s >= 0)
        close(s);
    if (d >= 0)
        close(d);
    return NULL;
}

/* 5, 6: through a proxy that cuts (cut_at) or flips (flip_at). */
static void case_proxy(const char *what, size_t cut_at, size_t flip_at)
{
    static struct proxy p;
    struct side *to = other(here);
    long pid = lvt_vm_pid(&cli, lightvm, here->rundir, "c0");
    size_t log0 = strlen(to->d.err);
    pthread_t th;

    memset(&p, 0, sizeof(p));
    atomic_init(&p.stop, 0);
    p.cut_at = cut_at;
    p.flip_at = flip_at;
    if (proxy_open(&p, to) < 0 || pthread_create(&th, NULL, proxy_main, &p)) {
        CHECK(0, "%s: no proxy", what);
        if (p.lfd >= 0)
            close(p.lfd);
        return;
    }
    int st = lv(here, "migrate", "c0", p.addr, "--token-file", to->token, NULL);
    atomic_store(&p.stop, 1);
    pthread_join(th, NULL);
    close(p.lfd);
    printf("%s: the proxy passed %zu bytes from the source (handshake line %zu), %zu back%s%s\n",
           what, p.from_src, p.hello_len, p.from_dst, p.fail[0] ? ": " : "", p.fail);
    CHECK(p.accepted && !p.fail[0] && (cut_at ? p.cut : p.flipped), "%s: the proxy %s (%s)",
          what, !p.accepted ? "saw no connection" : cut_at ? "did not cut" : "flipped nothing",
          p.fail);
    refused(st, 1, what, NULL, here, to, pid, log0, "refused: ");
}

/* 7: an unknown VM, a port nobody listens on, a token file others may
 * read, no --token-file. */
static void case_misc(void)
{
    struct side *to = other(here);
    long pid = lvt_vm_pid(&cli, lightvm, here->rundir, "c0");
    int st;

    st = lv(here, "migrate", "ghost", to->listen, "--token-file", to->token, NULL);
    refused(st, 1, "migrate of an unknown VM", "no VM named 'ghost'", here, to, pid, 0, NULL);
    char dead[32];
    snprintf(dead, sizeof(dead), "%.*s:" DEAD_PORT, (int)strcspn(to->listen, ":"), to->listen);
    st = lv(here, "migrate", "c0", dead, "--token-file", to->token, NULL);
    refused(st, 1, "migrate to a port nobody listens on", "connect", here, to, pid, 0, NULL);
    st = lv(here, "migrate", "c0", to->listen, "--token-file", tok_bad, NULL);
    refused(st, 1, "migrate with a token file of mode 0640", tok_bad, here, to, pid, 0, NULL);
    st = lv(here, "migrate", "c0", to->listen, NULL);
    refused(st, 2, "migrate without --token-file", "--token-file", here, to, pid, 0, NULL);
}

/* Where c0 is listed: CHECKs that it is on one side exactly; 0, or -1. */
static int locate_c0(const char *after)
{
    int a = listed(&side_a, "c0"), b = listed(&side_b, "c0");

    CHECK(a + b == 1, "after %s: c0 listed at%s%s%s", after, a ? " A" : "", b ? " B" : "",
          a + b ? "" : " neither side");
    if (a + b != 1)
        return -1;
    here = a ? &side_a : &side_b;
    return 0;
}

/* 8: c0 destroyed, both daemons stopped, nothing left. */
static void case_end(void)
{
    char list[4096];
    struct side *sides[2] = {&side_a, &side_b};
    int n = -1, taps = -1;

    for (int i = 0; i < 2; i++) {
        if (!sides[i]->d.pid)
            continue;
        if (listed(sides[i], "c0"))
            CHECK(lv(sides[i], "destroy", "c0", NULL) == 0, "destroy c0 at %s: %s",
                  sides[i]->tag, cli.err);
        list_names(sides[i], list, sizeof(list));
        CHECK(!list[0], "VMs left at %s:%s", sides[i]->tag, list);
        lvt_daemon_term(&sides[i]->d);
    }
    lvt_check_netns_empty(); /* A */
    for (int t = 0; t < 10000; t += 100) {
        n = lvt_ns_procs(side_b.nslink, NULL, 0, list, sizeof(list));
        taps = ns_taps(&side_b);
        if (n == 0 && taps == 0)
            break;
        lvt_sleep_ms(100);
    }
    CHECK(n == 0, "processes left in B's namespace:%s", list);
    CHECK(taps == 0, "%d taps left in B's namespace", taps);
    for (int i = 0; i < 2; i++)
        lvt_check_rundir_clean(sides[i]->rundir);
}

/* 9: the local fast path: the other side's lightvmd restarted (its VMs
 * stay) to listen on a Unix socket; c0 moves there with its memory
 * passed, not copied, while the client loop runs. (Both daemons are of
 * this host; their network namespaces share the filesystem.) */
static void case_local(void)
{
    static char path[PATH_MAX];
    struct side *to = other(here);

    snprintf(path, sizeof(path), "unix:%s/mig.sock", to->rundir);
    lvt_bg_stop(&to->d, SIGTERM, 10000);
    to->listen = path;
    if (!daemon_start(to))
        return;
    for (int t = 0; t < 60000 && !pool_full(to); t += 100)
        lvt_bg_pump(100);
    case_live(here, to, "migrate locally (unix socket, memory passed)");
}

static void run_cases(void)
{
    case_token_mode();
    if (!daemon_start(&side_a) || !daemon_start(&side_b))
        return;
    base_take(&side_a);
    base_take(&side_b);
    if (case_boot() < 0)
        return;
    case_live(&side_a, &side_b, "migrate A -> B");
    if (locate_c0("the migration to B") < 0)
        return;
    if (here == &side_b)
        case_live(&side_b, &side_a, "migrate B -> A");
    else
        printf("migrate B -> A: skipped (c0 did not move to B)\n");
    if (locate_c0("the migration back") < 0)
        return;
    case_wrong_token();
    if (locate_c0("a wrong token") < 0)
        return;
    case_proxy("migrate through a proxy that cuts at 64 KiB", CUT_AT, 0);
    if (locate_c0("the cut") < 0)
        return;
    case_proxy("migrate through a proxy that flips a byte", 0, FLIP_AT);
    if (locate_c0("the flipped byte") < 0)
        return;
    case_misc();
    if (locate_c0("the refused migrations") < 0)
        return;
    case_local();
}

static void cleanup(void)
{
    struct side *sides[2] = {&side_a, &side_b};

    if (lvt_failures) {
        lvt_show_vmm_log(rundir_a, 40);
        lvt_show_vmm_log(rundir_b, 40);
    }
    for (int i = 0; i < 2; i++)
        if (sides[i]->d.pid)
            lvt_bg_stop(&sides[i]->d, SIGKILL, 5000);
    lvt_kill_netns_others();
    if (side_b.nsfd >= 0)
        lvt_ns_kill(side_b.nslink);
    if (sysdir_b[0] && strcmp(sysdir_b + strlen(sysdir_b) - 6, "XXXXXX")) {
        umount2(sysdir_b, MNT_DETACH);
        rmdir(sysdir_b);
    }
    if (side_b.nsfd >= 0)
        close(side_b.nsfd);
    lvt_rm_rf(&tool, rundir_a);
    if (strcmp(rundir_b + strlen(rundir_b) - 6, "XXXXXX"))
        lvt_rm_rf(&tool, rundir_b);
    lvt_rm_rf(&tool, cfgdir);
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];

    if (argc != 4) {
        fprintf(stderr, "usage: test_migverbs LIGHTVM LIGHTVMD GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    lvt_e2e_require("test_migverbs", "network namespaces, taps");
    if (lvt_e2e_setup(argv[3], gabs, rundir_a, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    if (!mkdtemp(rundir_b) || net_setup() != 0 || write_tokens() != 0) {
        fprintf(stderr, "FAIL: setup: %s%s\n", strerror(errno), tool.err);
        lvt_failures++;
    } else {
        run_cases();
        case_end();
    }
    cleanup();
    return lvt_done("test_migverbs");
}
