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
 * The scene is tests/migscene.c's (bench_migrate makes the same); the two
 * sides, the client loop and the proxy are in migverbs_sides.c,
 * migverbs_loop.c and migverbs_proxy.c (test_migverbs.h).
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
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "test_migverbs.h"

#define DEAD_PORT "7079" /* nobody listens there */
#define MEM_MB 16
#define CUT_AT (64u << 10)  /* case 5: bytes of the source's stream let through */
#define FLIP_AT (48u << 10) /* case 6: the flipped byte, after the handshake line */

const char *lightvm, *lightvmd, *ip_bin;
char cfgdir[PATH_MAX], tok_bad[PATH_MAX], tok_wrong[PATH_MAX];
struct lvt_bg tool;
struct lvt_proc cli;
static const char *gdir, *nc_bin;
static struct lvt_reply last; /* c0's last answer */
static char c0_mac[24];

/* (s) is exactly one non-empty line. */
static int one_line(const char *s)
{
    size_t n = strlen(s);
    return n > 1 && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1;
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


/* ---- the cases ---- */


/* 0: a lightvmd given a token file others may read refuses to start. */
static void case_token_mode(void)
{
    const char *argv[] = {lightvmd, "--rundir", rundir_b, "--pool", POOL_ARG,
                          "--migrate-listen", side_b.listen, "--migrate-token-file", tok_bad,
                          NULL};
    struct lvt_bg d;

    if (ns_enter(&side_b) < 0)
        return;
    int rc = lvt_bg_start(&d, argv);
    if (ns_enter(&side_a) < 0 || rc < 0)
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
        n = lvt_ns_procs(scene.nslink[1], NULL, 0, list, sizeof(list));
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
    if (scene.nsfd[1] >= 0)
        lvt_ns_kill(scene.nslink[1]);
    if (sysdir_b[0] && strcmp(sysdir_b + strlen(sysdir_b) - 6, "XXXXXX")) {
        umount2(sysdir_b, MNT_DETACH);
        rmdir(sysdir_b);
    }
    migscene_close(&scene);
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
