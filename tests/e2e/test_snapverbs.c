/*
 * test_snapverbs: the snapshot verbs (`lightvm save`, `restore`, `create
 * --from`) end to end on real KVM through lightvmd, in a network and
 * mount namespace of the test's own with one bridge; the guest is
 * guest/apps/counter (UDP and TCP port 7: "count N uptime_ms M gen G ip
 * A[ isn X]"), asked from the test itself:
 *
 *   1. a counter VM c0 through the pool, asked 3 times (count 1..3)
 *   2. `save c0 S1 --keep`: one line naming the sizes; both files new,
 *      mode 0600, the memory file sparse; c0 the same process, listed,
 *      answering (count 4); a paused VM saved with --keep stays paused
 *   3. `save c0 S2`: c0 stopped and gone (list, its directory, its
 *      process, no answer); `restore S2`: c0 back with its MAC and IP,
 *      its count going on, generation >= 1, its clock not behind
 *   4. a save over an existing state or memory file, of an unknown VM or
 *      into a missing directory: exit 1, one line, no file made or
 *      changed, c0 still running (also without --keep) and answering
 *   5. `restore S1 --name r1 --net ... --copy`: the snapshot on a new IP
 *      and MAC, its memory read into its own RAM
 *   6. 20 clones `create --from S1 cfgK.json` (a name and an IP each, no
 *      MAC; every other one with --copy, the rest mapping S1.mem
 *      copy-on-write): all answer on their IPs with count 4, generation >= 1,
 *      distinct MACs (`lightvm info`) and distinct TCP initial sequence
 *      numbers; destroyed
 *   7. refusals, each by `restore` and by `create --from`, on copies of
 *      S1: bad magic, a flipped byte (checksum), the state truncated,
 *      format version 99, the memory file 4096 bytes short, no memory
 *      file; the saved name taken; another memory size or NIC count:
 *      exit 1, one line naming the problem, and nothing left: the same
 *      VMs listed, no $RUNDIR/vms/NAME, and (bounded wait) as many taps
 *      and processes in the namespace as before (the pool refilled)
 *   8. lightvmd stops; no process, tap, socket or VM directory left
 *
 * With RELEASE_LIGHTVM, the verbs' CLI paths also run under valgrind
 * (save --keep, a refused save, restore --name --net, create --from
 * --copy, --copy without --from, a taken name, a bad --net): no leak, no
 * memory error.
 *
 * usage: test_snapverbs LIGHTVM LIGHTVMD GUEST_DIR [RELEASE_LIGHTVM].
 * Needs KVM (skips without it, fails under LIGHTVM_REQUIRE_KVM=1) and root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lvtest.h"

#define BR "lvsv0"
#define NET "10.76.0."
#define HOST_IP NET "1"
#define C0_IP NET "2"
#define R1_IP NET "3"
#define MEM_MB 16
#define MEM ((unsigned long long)MEM_MB << 20)
#define POOL 3
#define NCLONES 20
#define CLONE_IP(k) (10 + (k)) /* NET "11" .. NET "30" */
#define POOL_ARG "16,1,3"

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin;
static const char *lightvm_rel; /* release build, for valgrind (optional 4th argument) */
static char rundir[64] = "/tmp/lvtest-snapverbs-XXXXXX", cfgdir[PATH_MAX];
static char s1[PATH_MAX], s2[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

static struct lvt_reply last;  /* c0's last reply */
static struct lvt_reply at_s1; /* c0's last reply before the save of S1 */
static char c0_mac[24];

/* DIR/NAME (the test's config directory) into (out, PATH_MAX bytes). */
static char *cfg_path(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%.*s/%s", PATH_MAX - 64, cfgdir, name);
    return out;
}

/* (path).mem into (out, PATH_MAX + 8 bytes). */
static char *mem_path(char *out, const char *path)
{
    snprintf(out, PATH_MAX + 8, "%s.mem", path);
    return out;
}

/* Writes config file NAME.json with (json); its path (static). */
static const char *config(const char *name, const char *json)
{
    static char path[PATH_MAX];
    char n[80];

    snprintf(n, sizeof(n), "%s.json", name);
    cfg_path(path, n);
    CHECK(lvt_write_file(path, json, strlen(json)) == 0, "cannot write %s", path);
    return path;
}

/* A vif on the bridge with address NET(k) and no MAC, as JSON. */
static void vif_json(char *buf, size_t cap, int k)
{
    snprintf(buf, cap, "{\"bridge\":\"" BR "\",\"ip\":\"" NET "%d/24\",\"gw\":\"" HOST_IP "\"}",
             k);
}

/* (s) is exactly one non-empty line. */
static int one_line(const char *s)
{
    size_t n = strlen(s);
    return n > 1 && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1;
}

/* The MAC of VM (name)'s vif0 from `lightvm info` ("vif0: ... mac=M ...")
 * into (mac); "" if none. */
static void info_mac(const char *name, char *mac, size_t cap)
{
    const char *v, *m;

    mac[0] = '\0';
    if (lv("info", name, NULL) != 0 || !(v = strstr(cli.out, "vif0: ")) ||
        !(m = strstr(v, " mac=")) || m > v + strcspn(v, "\n"))
        return;
    snprintf(mac, cap, "%.*s", (int)strcspn(m + 5, " \n"), m + 5);
}

/* The names `lightvm list` shows (its second column), space-separated. */
static void list_names(char *out, size_t cap)
{
    char name[80];

    out[0] = '\0';
    CHECK(lv("list", NULL) == 0, "list: %s", cli.err);
    const char *l = strchr(cli.out, '\n'); /* after the header */
    for (; l && l[1]; l = strchr(l + 1, '\n'))
        if (sscanf(l + 1, "%*s %79s", name) == 1)
            snprintf(out + strlen(out), cap - strlen(out), " %s", name);
}

/* $RUNDIR/vms/NAME exists. */
static int vm_dir(const char *name)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/vms/%s", rundir, name);
    return access(p, F_OK) == 0;
}

static long pid_in(const char *text)
{
    const char *p = strstr(text, " pid=");
    return p ? strtol(p + 5, NULL, 10) : -1;
}

/* What a refused verb must leave as it was: the VMs listed, and (once
 * the pool has refilled) the processes and taps in the namespace. */
struct scene {
    char names[1024];
    int procs, taps;
};

static int pool_full(void)
{
    char want[48];

    snprintf(want, sizeof(want), "ready=%d preparing=0 ", POOL);
    return lv("pool", NULL) == 0 && strstr(cli.out, want);
}

/* The scene once it is still: the pool full, and the same processes and
 * taps in the namespace half a second apart (VMs destroyed just before
 * may still be ending). Bounded: 60 s. */
static void scene_take(struct scene *s)
{
    char list[4096];
    int procs = -2, taps = -2;

    for (int t = 0; t < 60000; t += 500) {
        if (pool_full()) {
            s->procs = lvt_netns_others(NULL, 0, list, sizeof(list));
            s->taps = lvt_count_taps();
            if (s->procs == procs && s->taps == taps)
                break;
            procs = s->procs;
            taps = s->taps;
        }
        lvt_sleep_ms(500);
    }
    CHECK(pool_full() && s->procs == procs && s->taps == taps, "the pool never refilled, or "
          "the namespace never settled: %s", cli.out);
    list_names(s->names, sizeof(s->names));
}

/* After a refusal: the same VMs at once, the pool refilled, the same
 * number of processes and taps (bounded wait: 60 s). */
static void scene_check(const struct scene *before, const char *what)
{
    char names[1024], list[4096];
    int procs = -1, taps = -1;

    list_names(names, sizeof(names));
    CHECK(!strcmp(names, before->names), "%s: list shows%s (before:%s)", what, names,
          before->names);
    for (int t = 0; t < 60000; t += 100) {
        if (pool_full()) {
            procs = lvt_netns_others(NULL, 0, list, sizeof(list));
            taps = lvt_count_taps();
            if (procs == before->procs && taps == before->taps)
                break;
        }
        lvt_sleep_ms(100);
    }
    CHECK(procs == before->procs, "%s: %d processes in the namespace, %d before:%s", what,
          procs, before->procs, list);
    CHECK(taps == before->taps, "%s: %d taps in the namespace, %d before", what, taps,
          before->taps);
}

/* (text) contains one of the '|'-separated (words), case aside. */
static int names_any(const char *text, const char *words)
{
    char w[64];

    for (const char *p = words; *p; p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|')) {
        snprintf(w, sizeof(w), "%.*s", (int)strcspn(p, "|"), p);
        if (w[0] && strcasestr(text, w))
            return 1;
    }
    return 0;
}

/* A refused verb: status 1, one line on stderr from lightvm, naming
 * one of (word) ("a|b") if given, no VM (name) and nothing else left. */
static void refused(int st, const char *what, const char *word, const char *name,
                    const struct scene *before)
{
    printf("%s: status %d: %s", what, st, cli.err);
    CHECK(st == 1 && one_line(cli.err) && !strncmp(cli.err, "lightvm", 7),
          "%s: status %d, stderr \"%s\" (want 1 and one line)", what, st, cli.err);
    CHECK(!word || names_any(cli.err, word), "%s: stderr \"%s\" does not name '%s'", what,
          cli.err, word);
    CHECK(!vm_dir(name), "%s: left %s/vms/%s", what, rundir, name);
    scene_check(before, what);
}

/* ---- files ---- */

/* The whole file (path) into a malloc'd buffer (*len bytes), or NULL. */
static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *b = NULL;

    *len = 0;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size <= (8 << 20) &&
        (b = malloc((size_t)st.st_size + 1)) &&
        pread(fd, b, (size_t)st.st_size, 0) == st.st_size)
        *len = (size_t)st.st_size;
    else {
        free(b);
        b = NULL;
    }
    if (fd >= 0)
        close(fd);
    return b;
}

/* FNV-1a of file (path) and its size; 0 if unreadable. */
static uint64_t file_hash(const char *path, long long *size)
{
    uint8_t buf[65536];
    uint64_t h = 14695981039346656037ull;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    *size = 0;
    if (fd < 0)
        return 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        *size += n;
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ull;
    }
    close(fd);
    return h;
}

/* Copies (from) to a new file (to), sparse (zero blocks skipped), then
 * truncates it to (size) if (size) >= 0. */
static void copy_file(const char *from, const char *to, long long size)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    off_t off = 0;
    ssize_t n;

    CHECK(in >= 0 && out >= 0, "copy %s to %s: %s", from, to, strerror(errno));
    while (in >= 0 && out >= 0 && (n = pread(in, buf, sizeof(buf), off)) > 0) {
        int zero = 1;
        for (ssize_t k = 0; k < n && zero; k++)
            zero = !buf[k];
        if (!zero)
            CHECK(pwrite(out, buf, (size_t)n, off) == n, "copy %s: write", to);
        off += n;
    }
    if (out >= 0)
        CHECK(ftruncate(out, size >= 0 ? size : off) == 0, "copy %s: ftruncate", to);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
}

/* ---- the cases ---- */

static int daemon_start(void)
{
    const char *argv[] = {lightvmd, "--rundir", rundir, "--pool", POOL_ARG, NULL};

    if (lvt_bg_start(&daemon_bg, argv) < 0) {
        CHECK(0, "cannot start %s: %s", lightvmd, strerror(errno));
        return 0;
    }
    return lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir);
}

/* 1: c0 through the pool, asked three times. 0, or -1 (the rest cannot run). */
static int case_boot(void)
{
    char json[512], vif[160];

    lvt_pool_wait(&cli, lightvm, rundir, POOL);
    vif_json(vif, sizeof(vif), 2);
    snprintf(json, sizeof(json),
             "{\"name\":\"c0\",\"kernel\":\"%s/counter.elf\",\"memory\":%d,\"vcpus\":1,"
             "\"vifs\":[%s]}", gdir, MEM_MB, vif);
    int st = lv("create", config("c0", json), NULL);
    printf("create: %s", cli.out);
    CHECK(st == 0 && !strncmp(cli.out, "c0 id=", 6) && strstr(cli.out, "pool=hit"),
          "create c0: status %d: %s%s", st, cli.out, cli.err);
    if (st != 0)
        return -1;
    for (unsigned long k = 1; k <= 3; k++) {
        if (!lvt_counter_ask(C0_IP, k == 1 ? 60 : 5, &last) || last.count != k) {
            CHECK(0, "c0: reply %lu: count %lu", k, last.count);
            return -1;
        }
    }
    CHECK(last.gen == 0 && !strcmp(last.ip, C0_IP), "c0 booted: gen %lu ip %s", last.gen,
          last.ip);
    info_mac("c0", c0_mac, sizeof(c0_mac));
    CHECK(c0_mac[0], "no MAC in info c0: %s", cli.out);
    return 0;
}

/* `save`'s line for (name) into (file): "saved NAME to FILE: state S bytes,
 * memory M bytes written (of T), (tail)"; 1 if it is that, S the state
 * file's size and T the memory size. */
static int save_line(const char *name, const char *file, const char *tail)
{
    char head[PATH_MAX + 64];
    unsigned long long s = 0, m = 0, t = 0;
    struct stat st;

    snprintf(head, sizeof(head), "saved %s to %s: ", name, file);
    int ok = one_line(cli.out) && !strncmp(cli.out, head, strlen(head)) &&
             sscanf(cli.out + strlen(head), "state %llu bytes, memory %llu bytes written (of "
                    "%llu)", &s, &m, &t) == 3 && strstr(cli.out, tail) &&
             stat(file, &st) == 0 && (unsigned long long)st.st_size == s && t == MEM && m <= t;
    CHECK(ok, "save %s to %s printed \"%s\" (want \"%sstate S bytes, memory M bytes written "
          "(of %llu), %s\")", name, file, cli.out, head, MEM, tail);
    return ok;
}

/* Both files of snapshot (path): new regular files of mode 0600, the
 * memory file of the memory size and sparse. */
static void check_files(const char *path)
{
    char mp[PATH_MAX + 8];
    struct stat st = {0}, sm;

    mem_path(mp, path);
    CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
          st.st_size > 64, "%s: %s, mode %o, %lld bytes", path, strerror(errno),
          (unsigned)st.st_mode & 07777, (long long)st.st_size);
    if (stat(mp, &sm) < 0) {
        CHECK(0, "%s: %s", mp, strerror(errno));
        return;
    }
    printf("%s: %lld bytes; %s: %lld bytes, %lld allocated\n", path, (long long)st.st_size,
           mp, (long long)sm.st_size, (long long)sm.st_blocks * 512);
    CHECK(S_ISREG(sm.st_mode) && (sm.st_mode & 07777) == 0600 &&
          (unsigned long long)sm.st_size == MEM, "%s: mode %o, %lld bytes (want 0600, %llu)",
          mp, (unsigned)sm.st_mode & 07777, (long long)sm.st_size, MEM);
    CHECK((unsigned long long)sm.st_blocks * 512 < MEM / 4, "%s is not sparse: %lld of %llu "
          "bytes allocated", mp, (long long)sm.st_blocks * 512, MEM);
}

/* c0 answers with the next count (a retry may have counted one more). */
static void c0_goes_on(const char *when)
{
    struct lvt_reply r = {0};

    if (!lvt_counter_ask(C0_IP, 10, &r)) {
        CHECK(0, "c0 does not answer %s", when);
        return;
    }
    CHECK(r.count > last.count && r.count <= last.count + 10 && r.gen == last.gen &&
          r.uptime_ms >= last.uptime_ms, "c0 %s: count %lu gen %lu uptime %lu ms after count "
          "%lu gen %lu uptime %lu ms", when, r.count, r.gen, r.uptime_ms, last.count, last.gen,
          last.uptime_ms);
    last = r;
}

/* 2: save --keep: c0 runs on. */
static void case_save_keep(void)
{
    char p[PATH_MAX];
    long pid = lvt_vm_pid(&cli, lightvm, rundir, "c0");

    at_s1 = last;
    int st = lv("save", "c0", s1, "--keep", NULL);
    printf("save --keep: %s", cli.out);
    CHECK(st == 0, "save c0 --keep: status %d: %s", st, cli.err);
    save_line("c0", s1, "VM kept running");
    check_files(s1);
    CHECK(lvt_vm_pid(&cli, lightvm, rundir, "c0") == pid && pid > 0 &&
          strstr(cli.out, "state: running"), "c0 after save --keep (pid %ld before): %s", pid,
          cli.out);
    c0_goes_on("after save --keep");
    CHECK(last.count == 4, "c0 after save --keep: count %lu (want 4)", last.count);

    /* a paused VM saved with --keep stays paused */
    cfg_path(p, "s1p");
    CHECK(lv("pause", "c0", NULL) == 0, "pause c0: %s", cli.err);
    st = lv("save", "c0", p, "--keep", NULL);
    CHECK(st == 0 && save_line("c0", p, "VM kept running"), "save of paused c0 --keep: %d: %s",
          st, cli.err);
    CHECK(lv("info", "c0", NULL) == 0 && strstr(cli.out, "state: paused"),
          "a paused c0 saved with --keep is no longer paused: %s", cli.out);
    CHECK(lv("unpause", "c0", NULL) == 0, "unpause c0: %s", cli.err);
    c0_goes_on("after a paused save --keep and unpause");
}

/* 3: save without --keep stops c0; restore brings it back. */
static void case_save_restore(void)
{
    char mac[24];
    struct lvt_reply r = {0};
    long pid = lvt_vm_pid(&cli, lightvm, rundir, "c0");

    int st = lv("save", "c0", s2, NULL);
    printf("save: %s", cli.out);
    CHECK(st == 0, "save c0: status %d: %s", st, cli.err);
    save_line("c0", s2, "VM stopped");
    check_files(s2);
    char names[1024];
    list_names(names, sizeof(names));
    CHECK(!strstr(names, " c0"), "c0 still listed after its save: %s", names);
    int gone = 0;
    for (int t = 0; t < 10000 && !gone; t += 100) {
        gone = !vm_dir("c0") && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
        if (!gone)
            lvt_sleep_ms(100);
    }
    CHECK(gone, "c0's process %ld or its directory is still there after its save", pid);
    CHECK(!lvt_counter_ask(C0_IP, 2, &r), "a saved c0 still answers: count %lu", r.count);

    st = lv("restore", s2, NULL);
    printf("restore: %s", cli.out);
    CHECK(st == 0 && !strncmp(cli.out, "c0 id=", 6) && strstr(cli.out, "pool="),
          "restore %s: status %d: %s%s", s2, st, cli.out, cli.err);
    long rpid = pid_in(cli.out);
    CHECK(lvt_vm_pid(&cli, lightvm, rundir, "c0") == rpid && rpid > 0 && rpid != pid &&
          strstr(cli.out, "state: running"), "info c0 (restore said pid %ld): %s%s", rpid,
          cli.out, cli.err);
    if (!lvt_counter_ask(C0_IP, 30, &r)) {
        CHECK(0, "the restored c0 does not answer on " C0_IP);
        return;
    }
    printf("restored c0: count %lu uptime_ms %lu gen %lu ip %s\n", r.count, r.uptime_ms, r.gen,
           r.ip);
    CHECK(r.count > last.count && r.count <= last.count + 30,
          "restored c0: count %lu after %lu (its state was not kept)", r.count, last.count);
    CHECK(r.gen >= 1 && r.uptime_ms >= last.uptime_ms && !strcmp(r.ip, C0_IP),
          "restored c0: gen %lu, uptime %lu ms (was %lu), ip %s", r.gen, r.uptime_ms,
          last.uptime_ms, r.ip);
    info_mac("c0", mac, sizeof(mac));
    CHECK(!strcmp(mac, c0_mac), "restored c0 has MAC '%s', saved %s", mac, c0_mac);
    last = r;
}

/* A save that must be refused: status 1, one line, nothing made. */
static void save_refused(const char *name, const char *file, const char *keep, const char *what)
{
    char mp[PATH_MAX + 8];
    int st = lv("save", name, file, keep, NULL);

    printf("%s: status %d: %s", what, st, cli.err);
    CHECK(st == 1 && one_line(cli.err) && !strncmp(cli.err, "lightvm", 7) && !cli.out[0],
          "%s: status %d: %s%s", what, st, cli.out, cli.err);
    CHECK(access(file, F_OK) < 0 || !strcmp(file, s1), "%s: left %s", what, file);
    mem_path(mp, file);
    CHECK(access(mp, F_OK) < 0 || !strcmp(file, s1) || strstr(what, "memory file"),
          "%s: left %s", what, mp);
}

/* 4: saves over existing files and other failures change nothing. */
static void case_save_refused(void)
{
    char m1[PATH_MAX + 8], p[PATH_MAX], mp[PATH_MAX + 8];
    long long z1, zm, z1b, zmb, z3;
    uint64_t h1 = file_hash(s1, &z1), hm = file_hash(mem_path(m1, s1), &zm);
    long pid = lvt_vm_pid(&cli, lightvm, rundir, "c0");

    save_refused("c0", s1, "--keep", "save --keep over an existing snapshot");
    save_refused("c0", s1, NULL, "save over an existing snapshot");
    CHECK(file_hash(s1, &z1b) == h1 && z1b == z1 && file_hash(m1, &zmb) == hm && zmb == zm,
          "a refused save changed %s or its memory file", s1);
    /* only the memory file there */
    cfg_path(p, "s3");
    mem_path(mp, p);
    CHECK(lvt_write_file(mp, "x", 1) == 0, "cannot write %s", mp);
    save_refused("c0", p, "--keep", "save over an existing memory file");
    CHECK(file_hash(mp, &z3) && z3 == 1, "a refused save changed %s (%lld bytes)", mp, z3);
    cfg_path(p, "s4");
    save_refused("ghost", p, "--keep", "save of an unknown VM");
    CHECK(strstr(cli.err, "ghost"), "save of an unknown VM does not name it: %s", cli.err);
    cfg_path(p, "nodir/s5");
    save_refused("c0", p, NULL, "save into a missing directory");
    CHECK(lvt_vm_pid(&cli, lightvm, rundir, "c0") == pid && strstr(cli.out, "state: running"),
          "c0 after refused saves (pid %ld before): %s", pid, cli.out);
    c0_goes_on("after refused saves");
}

/* 5: restore with --name and --net: the snapshot on a new IP and MAC. */
static void case_restore_net(void)
{
    char mac[24];
    struct lvt_reply r = {0};

    int st = lv("restore", s1, "--name", "r1", "--net", BR ",ip=" R1_IP "/24,gw=" HOST_IP,
                "--copy", NULL);
    printf("restore --net --copy: %s", cli.out);
    CHECK(st == 0 && !strncmp(cli.out, "r1 id=", 6), "restore %s --name r1 --net: status %d: "
          "%s%s", s1, st, cli.out, cli.err);
    if (st != 0)
        return;
    CHECK(lvt_counter_ask(R1_IP, 30, &r) && r.count == at_s1.count + 1 && r.gen >= 1 &&
          !strcmp(r.ip, R1_IP) && r.uptime_ms >= at_s1.uptime_ms,
          "r1: count %lu gen %lu ip %s uptime %lu (want count %lu, gen >= 1, ip " R1_IP ")",
          r.count, r.gen, r.ip, r.uptime_ms, at_s1.count + 1);
    info_mac("r1", mac, sizeof(mac));
    CHECK(mac[0] && strcmp(mac, c0_mac), "r1 (--net without mac) has MAC '%s' (c0's is %s)",
          mac, c0_mac);
    CHECK(lv("destroy", "r1", NULL) == 0, "destroy r1: %s", cli.err);
}

/* `lightvm ARGS... --rundir R` (release build) under valgrind against the
 * live daemon: no leak, no invalid access, status (want). */
static void vg(int want, const char *const *args)
{
    const char *argv[16] = {"/usr/bin/valgrind", "--quiet", "--leak-check=full",
                            "--show-leak-kinds=all", "--errors-for-leak-kinds=all",
                            "--error-exitcode=99", lightvm_rel};
    int n = 7;

    for (; *args && n < 13; args++)
        argv[n++] = *args;
    argv[n++] = "--rundir";
    argv[n++] = rundir;
    argv[n] = NULL;
    CHECK(lvt_run(&cli, 300, argv) == 0 && cli.status == want,
          "valgrind lightvm %s: status %d (want %d; 99 = valgrind errors): %s%s", argv[7],
          cli.status, want, cli.out, cli.err);
}

/* The snapshot verbs' CLI paths under valgrind: save --keep, restore
 * with --name and --net, create --from, and refusals of each. */
static void case_valgrind(void)
{
    char s3[PATH_MAX], cfg[PATH_MAX];

    if (!lightvm_rel)
        return;
    cfg_path(s3, "s3vg");
    snprintf(cfg, sizeof(cfg), "%s", config("vgc", "{\"name\":\"vgc\",\"vifs\":[{\"bridge\":\""
                                             BR "\",\"ip\":\"" R1_IP "/24\"}]}"));
    vg(0, (const char *const[]){"save", "c0", s3, "--keep", NULL});
    vg(1, (const char *const[]){"save", "c0", s3, NULL}); /* exists */
    vg(0, (const char *const[]){"restore", s3, "--name", "vgr", "--net",
                                BR ",ip=" R1_IP "/24", NULL});
    vg(0, (const char *const[]){"destroy", "vgr", NULL});
    vg(0, (const char *const[]){"create", "--from", s3, "--copy", cfg, NULL});
    vg(0, (const char *const[]){"destroy", "vgc", NULL});
    vg(2, (const char *const[]){"create", "--copy", cfg, NULL}); /* --copy without --from */
    vg(1, (const char *const[]){"restore", s3, NULL}); /* c0 runs: its name is taken */
    vg(2, (const char *const[]){"restore", s3, "--net", BR ",create", NULL});
}

/* 6: NCLONES clones of S1, each with its own name and IP. */
static void case_clones(void)
{
    static char macs[NCLONES][24];
    unsigned long isn[NCLONES] = {0};
    char name[16], ip[24], vif[160], json[512];
    int made[NCLONES] = {0}, answered = 0;

    for (int k = 0; k < NCLONES; k++) {
        snprintf(name, sizeof(name), "k%d", k + 1);
        vif_json(vif, sizeof(vif), CLONE_IP(k));
        snprintf(json, sizeof(json), "{\"name\":\"%s\",\"vifs\":[%s]}", name, vif);
        int st = k % 2 ? lv("create", "--from", s1, "--copy", config(name, json), NULL)
                       : lv("create", "--from", s1, config(name, json), NULL);
        made[k] = st == 0 && !strncmp(cli.out, name, strlen(name)) &&
                  !strncmp(cli.out + strlen(name), " id=", 4);
        CHECK(made[k], "create --from %s %s: status %d: %s%s", s1, name, st, cli.out, cli.err);
        if (k == 0 || k == NCLONES - 1)
            printf("create --from: %s", cli.out);
    }
    for (int k = 0; k < NCLONES; k++) {
        struct lvt_reply r = {0};
        snprintf(ip, sizeof(ip), NET "%d", CLONE_IP(k));
        if (!made[k])
            continue;
        if (!lvt_counter_ask(ip, 30, &r)) {
            CHECK(0, "clone k%d does not answer on %s", k + 1, ip);
            continue;
        }
        answered++;
        CHECK(r.count == at_s1.count + 1 && r.gen >= 1 && !strcmp(r.ip, ip) &&
              r.uptime_ms >= at_s1.uptime_ms, "clone k%d: count %lu gen %lu ip %s uptime %lu "
              "(want count %lu, gen >= 1, ip %s, uptime >= %lu)", k + 1, r.count, r.gen, r.ip,
              r.uptime_ms, at_s1.count + 1, ip, at_s1.uptime_ms);
    }
    printf("%d of %d clones answer\n", answered, NCLONES);
    for (int k = 0; k < NCLONES; k++) {
        snprintf(name, sizeof(name), "k%d", k + 1);
        snprintf(ip, sizeof(ip), NET "%d", CLONE_IP(k));
        if (!made[k])
            continue;
        info_mac(name, macs[k], sizeof(macs[k]));
        CHECK(macs[k][0] && strcmp(macs[k], c0_mac), "clone %s: MAC '%s' (c0's %s): %s", name,
              macs[k], c0_mac, cli.out);
        CHECK(lvt_counter_ask_tcp(ip, 5, &isn[k]), "clone %s: no TCP reply with an ISN", name);
        for (int j = 0; j < k; j++) {
            CHECK(!macs[k][0] || strcmp(macs[k], macs[j]), "clones k%d and k%d have the same "
                  "MAC %s", j + 1, k + 1, macs[k]);
            CHECK(!isn[k] || isn[k] != isn[j], "clones k%d and k%d chose the same ISN %lu",
                  j + 1, k + 1, isn[k]);
        }
    }
    printf("clone ISNs: %lu %lu %lu ... %lu\n", isn[0], isn[1], isn[2], isn[NCLONES - 1]);
    for (int k = 0; k < NCLONES; k++) {
        snprintf(name, sizeof(name), "k%d", k + 1);
        if (made[k])
            CHECK(lv("destroy", name, NULL) == 0, "destroy %s: %s", name, cli.err);
    }
}

/* Patches of a copy of S1's state file. */
static void patch_magic(uint8_t *b, size_t *len)
{
    (void)len;
    b[0] = 'X';
}

static void patch_crc(uint8_t *b, size_t *len)
{
    b[64 + (*len - 64) / 2] ^= 0xff; /* in the sections: only the checksum can tell */
}

static void patch_trunc(uint8_t *b, size_t *len)
{
    (void)b;
    *len /= 2;
}

static void patch_version(uint8_t *b, size_t *len)
{
    (void)len;
    b[8] = 99;
    b[9] = 0;
}

/* A copy of S1 as (name) (state patched by (patch) if given; memory file
 * copied with (mem_size) bytes, none if -2, whole if -1). */
static void make_copy(const char *name, void (*patch)(uint8_t *, size_t *), long long mem_size)
{
    char p[PATH_MAX], mp[PATH_MAX + 8], m1[PATH_MAX + 8];
    size_t len;
    uint8_t *b = slurp(s1, &len);

    cfg_path(p, name);
    if (!b || len <= 64) {
        CHECK(0, "cannot read %s", s1);
        free(b);
        return;
    }
    if (patch)
        patch(b, &len);
    CHECK(lvt_write_file(p, b, len) == 0, "cannot write %s", p);
    free(b);
    if (mem_size != -2)
        copy_file(mem_path(m1, s1), mem_path(mp, p), mem_size);
}

/* 7: every bad snapshot refused by restore and by create --from, with
 * nothing left. */
static void case_refusals(void)
{
    static const struct {
        const char *file, *word;
        void (*patch)(uint8_t *, size_t *);
        long long mem;
    } bad[] = {
        {"b_magic", "magic", patch_magic, -1},
        {"b_crc", "checksum", patch_crc, -1},
        {"b_trunc", "truncated", patch_trunc, -1},
        {"b_version", "version", patch_version, -1},
        {"b_memshort", "memory", NULL, (long long)MEM - 4096},
        {"b_nomem", "No such file|.mem|memory file", NULL, -2},
    };
    char p[PATH_MAX], what[128], name[16], vif[160], json[512];
    struct scene before;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        make_copy(bad[i].file, bad[i].patch, bad[i].mem);
    scene_take(&before);
    printf("before the refusals:%s; %d processes, %d taps in the namespace\n", before.names,
           before.procs, before.taps);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg_path(p, bad[i].file);
        snprintf(name, sizeof(name), "r%zu", i);
        snprintf(what, sizeof(what), "restore %s", bad[i].file);
        refused(lv("restore", p, "--name", name, NULL), what, bad[i].word, name, &before);
        snprintf(name, sizeof(name), "f%zu", i);
        vif_json(vif, sizeof(vif), 40 + (int)i);
        snprintf(json, sizeof(json), "{\"name\":\"%s\",\"vifs\":[%s]}", name, vif);
        snprintf(what, sizeof(what), "create --from %s", bad[i].file);
        refused(lv("create", "--from", p, config(name, json), NULL), what, bad[i].word, name,
                &before);
    }
    /* S1's saved name is c0's, which runs */
    refused(lv("restore", s1, NULL), "restore of a snapshot whose name is taken", NULL, "c0x",
            &before);
    CHECK(lv("info", "c0", NULL) == 0 && strstr(cli.out, "state: running"),
          "c0 after a restore under its name: %s", cli.out);

    /* another memory size, another NIC count */
    char vif2[160];
    vif_json(vif, sizeof(vif), 50);
    vif_json(vif2, sizeof(vif2), 51);
    snprintf(json, sizeof(json), "{\"name\":\"mm\",\"memory\":%d,\"vifs\":[%s]}", 2 * MEM_MB,
             vif);
    refused(lv("create", "--from", s1, config("mm", json), NULL), "create --from with twice the "
            "memory", "memory", "mm", &before);
    snprintf(json, sizeof(json), "{\"name\":\"mn\",\"vifs\":[%s,%s]}", vif, vif2);
    refused(lv("create", "--from", s1, config("mn", json), NULL), "create --from with 2 NICs",
            "NIC|vif", "mn", &before);
    refused(lv("restore", s1, "--name", "mr", "--net", BR ",ip=" NET "52/24", "--net",
               BR ",ip=" NET "53/24", NULL), "restore --net twice", "NIC|vif", "mr", &before);
    c0_goes_on("after the refusals");
}

/* 8: c0 destroyed, the daemon stopped, nothing left. */
static void case_end(void)
{
    char names[1024];

    list_names(names, sizeof(names));
    if (strstr(names, " c0"))
        CHECK(lv("destroy", "c0", NULL) == 0, "destroy c0: %s", cli.err);
    list_names(names, sizeof(names));
    CHECK(!names[0], "VMs left after destroying all:%s", names);
    lvt_daemon_term(&daemon_bg);
    lvt_check_netns_empty();
    lvt_check_rundir_clean(rundir);
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: test_snapverbs LIGHTVM LIGHTVMD GUEST_DIR [RELEASE_LIGHTVM]\n");
        return 2;
    }
    lightvm_rel = lvt_e2e_release_arg(argc, argv, 4); /* the verbs under valgrind */
    lightvm = argv[1];
    lightvmd = argv[2];
    lvt_e2e_require("test_snapverbs", "network namespaces, taps");
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    cfg_path(s1, "s1");
    cfg_path(s2, "s2");
    if (lvt_e2e_bridge(&tool, ip_bin, BR, HOST_IP "/24") < 0)
        return 1;
    if (daemon_start() && case_boot() == 0) {
        case_save_keep();
        case_save_restore();
        case_save_refused();
        case_restore_net();
        case_valgrind();
        case_clones();
        case_refusals();
    }
    if (daemon_bg.pid)
        case_end();
    else
        CHECK(0, "lightvmd is not running (status %d): the cases after that did not run\n%s",
              daemon_bg.status, daemon_bg.err);
    lvt_e2e_stop(&daemon_bg, rundir);
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_snapverbs");
}
