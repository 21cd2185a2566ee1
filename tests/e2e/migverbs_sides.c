/* migverbs_sides.c: test_migverbs's two sides, A (the test's network
 * namespace) and B: the scene (tests/migscene.c) with a sysfs of B, the
 * token files, each side's lightvmd, and what the CLI, sysfs and /proc
 * show of each. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "test_migverbs.h"

char rundir_a[64] = "/tmp/lvtest-migverbs-XXXXXX";
char rundir_b[64] = "/tmp/lvtest-migverbs-B-XXXXXX";
char sysdir_b[64] = "/tmp/lvtest-migverbs-sys-XXXXXX";
struct migscene scene = {.nsfd = {-1, -1}};
struct side side_a = {.tag = "A", .ix = 0, .rundir = rundir_a, .sys = "/sys",
                      .listen = CTL_A ":" MIG_PORT};
struct side side_b = {.tag = "B", .ix = 1, .rundir = rundir_b, .sys = sysdir_b,
                      .listen = CTL_B ":" MIG_PORT};
struct side *here = &side_a;

struct side *other(const struct side *s)
{
    return s == &side_a ? &side_b : &side_a;
}

struct sockaddr_in sock_addr(const char *ip, unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

/* ---- namespaces ---- */

int ns_enter(const struct side *s)
{
    if (migscene_enter(&scene, s->ix) == 0)
        return 0;
    CHECK(0, "setns into namespace %s: %s", s->tag, strerror(errno));
    return -1;
}

/* `ip ARGS` for migscene_make, with the test's tool. */
static int scene_ip(void *ctx, const char *args)
{
    (void)ctx;
    return lvt_ip(&tool, ip_bin, "%s", args);
}

int net_setup(void)
{
    char why[256];
    int st = 0;

    if (migscene_make(&scene, scene_ip, NULL, why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: the two namespaces: %s\n", why);
        return -1;
    }
    if (mkdtemp(sysdir_b) == NULL) {
        fprintf(stderr, "FAIL: mkdtemp %s: %s\n", sysdir_b, strerror(errno));
        sysdir_b[0] = '\0';
        return -1;
    }
    if (ns_enter(&side_b) < 0)
        return -1;
    if (mount("sysfs", sysdir_b, "sysfs", 0, NULL) < 0) {
        fprintf(stderr, "FAIL: mount a sysfs of B on %s: %s\n", sysdir_b, strerror(errno));
        st = -1;
    }
    if (ns_enter(&side_a) < 0)
        st = -1;
    return st;
}

/* A token file (path) of mode (mode); 0 or -1 (CHECKed). */
static int write_token(const char *path, mode_t mode)
{
    int rc = migscene_token(path, mode, 32, NULL);

    CHECK(rc == 0, "cannot write the token file %s: %s", path, strerror(errno));
    return rc;
}

int write_tokens(void)
{
    snprintf(side_a.token, sizeof(side_a.token), "%.4000s/token-a", cfgdir);
    snprintf(side_b.token, sizeof(side_b.token), "%.4000s/token-b", cfgdir);
    snprintf(tok_wrong, sizeof(tok_wrong), "%.4000s/token-wrong", cfgdir);
    snprintf(tok_bad, sizeof(tok_bad), "%.4000s/token-mode640", cfgdir);
    return write_token(side_a.token, 0600) | write_token(side_b.token, 0600) |
           write_token(tok_wrong, 0600) | write_token(tok_bad, 0640);
}

/* Tap devices in (s)'s namespace (its sysfs). */
int ns_taps(const struct side *s)
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
unsigned long long ns_stat(const struct side *s, const char *ifname, const char *attr)
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
int pid_in_ns(const struct side *s, long pid)
{
    char path[64], ns[64];
    ssize_t k;

    snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
    if ((k = readlink(path, ns, sizeof(ns) - 1)) <= 0)
        return 0;
    ns[k] = '\0';
    return !strcmp(ns, scene.nslink[s->ix]);
}

/* ---- the CLI's view ---- */

/* The names `lightvm list` shows at (s) (its second column), space-separated. */
void list_names(const struct side *s, char *out, size_t cap)
{
    char name[80];

    out[0] = '\0';
    CHECK(lv(s, "list", NULL) == 0, "list at %s: %s", s->tag, cli.err);
    const char *l = strchr(cli.out, '\n'); /* after the header */
    for (; l && l[1]; l = strchr(l + 1, '\n'))
        if (sscanf(l + 1, "%*s %79s", name) == 1)
            snprintf(out + strlen(out), cap - strlen(out), " %s", name);
}

int listed(const struct side *s, const char *name)
{
    char names[1024], want[96];

    list_names(s, names, sizeof(names));
    snprintf(want, sizeof(want), " %s ", name);
    strcat(names, " ");
    return strstr(names, want) != NULL;
}

/* $RUNDIR/vms/NAME exists at (s). */
int vm_dir(const struct side *s, const char *name)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/vms/%s", s->rundir, name);
    return access(p, F_OK) == 0;
}

/* Field (key) ("mac=", "ip=", "tap=") of vif0 in `lightvm info NAME` at
 * (s) into (out); "" if none. */
void info_vif(const struct side *s, const char *name, const char *key, char *out,
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

int pool_full(const struct side *s)
{
    char want[48];

    snprintf(want, sizeof(want), "ready=%d preparing=0 ", POOL);
    return lv(s, "pool", NULL) == 0 && strstr(cli.out, want);
}

/* (s)'s processes and taps once its pool is full and they stay the same
 * half a second apart, into s->procs, s->taps (bounded: 60 s). */
void base_take(struct side *s)
{
    char list[4096];
    int procs = -2, taps = -2;

    for (int t = 0; t < 60000; t += 500) {
        if (pool_full(s)) {
            s->procs = lvt_ns_procs(scene.nslink[s->ix], NULL, 0, list, sizeof(list));
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
void scene_check(const struct side *s, int vms, const char *what)
{
    char list[4096] = "";
    int procs = -1, taps = -1;

    for (int t = 0; t < 60000; t += 100) {
        if (pool_full(s)) {
            procs = lvt_ns_procs(scene.nslink[s->ix], NULL, 0, list, sizeof(list));
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

/* ---- lightvmd ---- */

int daemon_start(struct side *s)
{
    const char *argv[] = {lightvmd, "--rundir", s->rundir, "--pool", POOL_ARG,
                          "--migrate-listen", s->listen, "--migrate-token-file", s->token,
                          NULL};
    char line[96];

    if (ns_enter(s) < 0)
        return 0;
    int rc = lvt_bg_start(&s->d, argv), e = errno;
    if (ns_enter(&side_a) < 0 || rc < 0) {
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

/* Waits (10 s at most) until process (pid) is gone. */
int pid_gone(long pid)
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
int log_says(struct side *s, size_t log0, const char *tail)
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

/* Where c0 is listed: CHECKs that it is on one side exactly; 0, or -1. */
int locate_c0(const char *after)
{
    int a = listed(&side_a, "c0"), b = listed(&side_b, "c0");

    CHECK(a + b == 1, "after %s: c0 listed at%s%s%s", after, a ? " A" : "", b ? " B" : "",
          a + b ? "" : " neither side");
    if (a + b != 1)
        return -1;
    here = a ? &side_a : &side_b;
    return 0;
}
