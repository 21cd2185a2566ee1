/*
 * test_spoof: "the network cannot be spoofed", end to end on real KVM, in
 * a network namespace of the test's own with one bridge:
 *
 *   0. before any create, the taps of every ready pool shell are sealed:
 *      each has its chain, and a frame written into one (through the
 *      shell's own tap fd) is dropped and counted as "other"; the chain of
 *      a ready shell that is killed goes
 *   1. two daytime VMs (the neighbours n1, n2) through lightvmd; the
 *      host's ARP entries for their IPs carry their MACs
 *   2. control: a spoof VM (guest/apps/spoof) whose rules the test removes
 *      sends forged frames; its forged ARP replies take over the host's
 *      entry for n1 (so the attack works, and this test can see it)
 *   3. a spoof VM with its rules: every forged frame is dropped and
 *      counted (mac, ip (runts too), arp, other: exactly what it sent, in `lightvm
 *      info` and --json), the host's entries still carry the neighbours'
 *      MACs, the neighbours still answer daytime
 *   4. duplicate MACs are refused at create: a running VM's, a port's (in
 *      the bridge's forwarding database), the bridge's own
 *   5. a killed VM's rules go (the daemon sees it crash); after destroy
 *      no rules are left for any of the test's taps
 *   6. `lightvm run --net` (the cold path): the same rules and counts, gone
 *      at its end; a MAC already on the bridge refused
 *   7. a new lightvmd sweeps the rules of a tap that is gone, keeps those
 *      of a VM it adopts (its counters in info), removes them at its destroy
 *
 * usage: test_spoof LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM (skips without
 * it, fails under LIGHTVM_REQUIRE_KVM=1) and root.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lightvm/antispoof.h"
#include "lvtest.h"

#define BR "lvsp0"
#define NET "10.78.0."
#define HOST_IP NET "1"
#define COUNT 5 /* forged frames of each kind per trigger */
/* what the filter counts of them: the runt IPv4 frames count as "ip" */
static const int want_drops[4] = {COUNT, 2 * COUNT, COUNT, COUNT};
#define MAX_TAPS 8

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin;
static char rundir[64] = "/tmp/lvtest-spoof-XXXXXX", cfgdir[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;
static struct lv_nft *nft;
static int taps_seen[MAX_TAPS], ntaps_seen; /* every tap ifindex of the test's VMs */

#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

/* VM k: IP 10.78.0.k, MAC 02:00:00:78:00:kk (k < 100). */
static void vm_mac(int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "02:00:00:78:00:%02u", (unsigned)k % 100);
}

static const char *config(const char *name, const char *app, int k, const char *cmdline,
                          const char *mac)
{
    static char path[PATH_MAX + 64];
    char buf[1024], m[24];

    vm_mac(k, m, sizeof(m));
    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"kernel\":\"%s/%s.elf\",\"memory\":8,\"cmdline\":\"%s\","
             "\"vifs\":[{\"bridge\":\"" BR "\",\"mac\":\"%s\",\"ip\":\"" NET "%d/24\","
             "\"gw\":\"" HOST_IP "\"}]}",
             name, gdir, app, cmdline ? cmdline : "", mac ? mac : m, k);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

static int answers(int k)
{
    char ip[24];

    snprintf(ip, sizeof(ip), NET "%d", k);
    return lvt_daytime_answers(&tool, nc_bin, ip, "5");
}

/* `lightvm info NAME --json`, parsed (new reference), or NULL. */
static json_t *info_json(const char *name)
{
    if (lv("info", name, "--json", NULL) != 0)
        return NULL;
    json_t *o = json_loads(cli.out, 0, NULL);
    json_t *vm = json_object_get(o, "vm") ? json_object_get(o, "vm") : o;
    json_incref(vm);
    json_decref(o);
    return vm;
}

/* The ifindex of VM (name)'s tap (0 if unknown); remembered for the end. */
static int vm_ifindex(const char *name)
{
    json_t *vm = info_json(name);
    int ix = (int)json_integer_value(
        json_object_get(json_array_get(json_object_get(vm, "vifs"), 0), "ifindex"));

    json_decref(vm);
    CHECK(ix > 0, "no tap ifindex in info %s: %s", name, cli.out);
    if (ix > 0 && ntaps_seen < MAX_TAPS)
        taps_seen[ntaps_seen++] = ix;
    return ix;
}

static char neigh_line[256]; /* the last `ip neigh` answer, for messages */

/* The host's ARP entry for 10.78.0.k: its MAC into (mac), "" if none. */
static void neigh_mac(int k, char *mac, size_t cap)
{
    char ip[24];
    const char *p;

    snprintf(ip, sizeof(ip), NET "%d", k);
    const char *argv[] = {ip_bin, "neigh", "show", "to", ip, "dev", BR, NULL};
    mac[0] = '\0';
    if (lvt_bg_run(&tool, 10000, argv) == 0 && (p = strstr(tool.out, "lladdr ")))
        snprintf(mac, cap, "%.17s", p + 7);
    snprintf(neigh_line, sizeof(neigh_line), "%.200s", tool.out);
    neigh_line[strcspn(neigh_line, "\n")] = '\0';
}

/* Waits (bounded) for (needle) in VM (name)'s console. */
static int console_has(const char *name, const char *needle)
{
    for (int t = 0; t < 10000; t += 100) {
        if (lv("console", name, NULL) == 0 && strstr(cli.out, needle))
            return 1;
        lvt_sleep_ms(100);
    }
    CHECK(0, "%s: no \"%s\" on its console: %s", name, needle, cli.out);
    return 0;
}

/* One UDP datagram to the spoof VM 10.78.0.k port 9999: its trigger. */
static void trigger(int k)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9999)};
    char ip[24];
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    snprintf(ip, sizeof(ip), NET "%d", k);
    inet_pton(AF_INET, ip, &to.sin_addr);
    CHECK(s >= 0 && sendto(s, "go", 2, 0, (struct sockaddr *)&to, sizeof(to)) == 2,
          "trigger %s: %s", ip, strerror(errno));
    if (s >= 0)
        close(s);
}

static void start_vm(const char *name, const char *app, int k, const char *cmdline)
{
    CHECK(lv("create", config(name, app, k, cmdline, NULL), NULL) == 0, "create %s: %s%s", name,
          cli.out, cli.err);
}

/* The host talks to both neighbours: its entries for them carry their
 * MACs (a create flushed them, see main). */
static void neighbours_known(void)
{
    char mac[24], want[24];

    for (int k = 11; k <= 12; k++) {
        CHECK(answers(k), "n%d does not answer daytime: %s", k - 10, tool.err);
        neigh_mac(k, mac, sizeof(mac));
        vm_mac(k, want, sizeof(want));
        CHECK(!strcmp(mac, want), "host's entry for " NET "%d: '%s' (want %s)", k, neigh_line,
              want);
    }
}

/* Tap fd (fd) of process (pid): its tap's name into (name), 1; 0 if
 * (fd) is no tap. */
static int tap_of_fd(pid_t pid, int fd, char name[16])
{
    char path[64], buf[512];
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
    f = fopen(path, "re");
    n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    p = strstr(buf, "iff:\t"); /* a tun/tap fd's device */
    if (!p)
        return 0;
    snprintf(name, 16, "%.*s", (int)strcspn(p + 5, "\n"), p + 5);
    return name[0] != '\0';
}

/* An IPv6 frame (which no VM may send), with the taps' virtio-net header,
 * written into tap fd (fd) of process (pid): as if its guest sent it. */
static int write_into(pid_t pid, int fd)
{
    uint8_t frame[LV_TAP_VNET_HDR_LEN + 60] = {0};
    uint8_t *e = frame + LV_TAP_VNET_HDR_LEN;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int mine = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int ok;

    memset(e, 0xff, 6);
    e[6] = 0x02;
    e[11] = 0x99;
    e[12] = 0x86;
    e[13] = 0xdd;
    e[14] = 0x60;
    ok = mine >= 0 && write(mine, frame, sizeof(frame)) == (ssize_t)sizeof(frame);
    CHECK(ok, "writing into shell %d's tap fd %d: %s", (int)pid, fd, strerror(errno));
    if (mine >= 0)
        close(mine); /* (held, it would keep the tap alive) */
    if (pidfd >= 0)
        close(pidfd);
    return ok;
}

/* Ready shell (pid)'s taps: each must have its chain; a frame into the
 * first (when (probe)) is counted as "other". Its number of taps. */
static int check_shell(pid_t pid, int probe, int *probed_ix)
{
    char name[16];
    int ntaps = 0;

    for (int fd = 0; fd < 256; fd++) {
        if (!tap_of_fd(pid, fd, name))
            continue;
        int ix = (int)lvt_sys_num(name, "ifindex");
        ntaps++;
        CHECK(ix > 0 && lv_as_present(nft, ix, NULL) == 1, "ready shell %d's tap %s (ifindex "
              "%d) has no antispoof chain before any create", (int)pid, name, ix);
        if (!probe || *probed_ix || ix <= 0 || !write_into(pid, fd))
            continue;
        struct lv_as_drops d = {0};
        for (int t = 0; t < 5000 && d.other == 0; t += 100) {
            memset(&d, 0, sizeof(d));
            if (lv_as_read(nft, ix, &d, NULL) < 0 || d.other == 0)
                lvt_sleep_ms(100);
        }
        printf("ready shell %d's tap %s: dropped mac %llu, ip %llu, arp %llu, other %llu\n",
               (int)pid, name, (unsigned long long)d.mac, (unsigned long long)d.ip,
               (unsigned long long)d.arp, (unsigned long long)d.other);
        CHECK(d.mac == 0 && d.ip == 0 && d.arp == 0 && d.other == 1, "a frame written into "
              "ready shell %d's tap %s was not dropped as \"other\"", (int)pid, name);
        *probed_ix = ix;
    }
    return ntaps;
}

/* 0: the pool's taps are filtered before any create; a killed ready
 * shell's chain goes (this kernel may keep a netdev chain whose device is
 * gone: the daemon removes it). */
static void case_sealed(void)
{
    char dir[PATH_MAX];
    pid_t probed = 0;
    int taps = 0, shells = 0, ix = 0;

    lvt_pool_wait(&cli, lightvm, rundir, 3);
    snprintf(dir, sizeof(dir), "%s/shells", rundir);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid <= 0)
            continue;
        shells++;
        taps += check_shell(pid, !probed, &ix);
        if (ix && !probed)
            probed = pid;
    }
    if (d)
        closedir(d);
    CHECK(shells == 3 && taps == 3, "%d ready shells with %d taps in %s (want 3 with 1 each)",
          shells, taps, dir);
    CHECK(probed > 0 && kill(probed, SIGKILL) == 0, "no shell's tap written into");
    int present = 1;
    for (int t = 0; t < 10000 && present == 1 && ix > 0; t += 100) {
        lvt_sleep_ms(100);
        present = lv_as_present(nft, ix, NULL);
    }
    CHECK(present == 0, "ready shell %d was killed, its tap's chain (ifindex %d) is still "
          "there", (int)probed, ix);
    lvt_pool_wait(&cli, lightvm, rundir, 3);
}

/* 1: the neighbours. */
static void case_neighbours(void)
{
    start_vm("n1", "daytime", 11, NULL);
    start_vm("n2", "daytime", 12, NULL);
    vm_ifindex("n1");
    vm_ifindex("n2");
    neighbours_known();
}

/* 2: without its rules the spoof VM's ARP replies do take n1's entry. */
static void case_control(void)
{
    char mac[24], spoof_mac[24];
    int ix;

    start_vm("s0", "spoof", 13, NET "11 5");
    ix = vm_ifindex("s0");
    if (!console_has("s0", "spoof: listening"))
        return;
    CHECK(lv_as_present(nft, ix, NULL) == 1, "s0's tap (ifindex %d) has no rules", ix);
    CHECK(lv_as_remove(nft, &ix, 1, NULL) == 0 && lv_as_present(nft, ix, NULL) == 0,
          "cannot remove s0's rules");
    neighbours_known();
    trigger(13);
    console_has("s0", "spoof: sent 5 of each");
    vm_mac(13, spoof_mac, sizeof(spoof_mac));
    for (int t = 0; t < 10000; t += 100) {
        neigh_mac(11, mac, sizeof(mac));
        if (!strcmp(mac, spoof_mac))
            break;
        lvt_sleep_ms(100);
    }
    printf("control (s0 without rules): host's entry for " NET "11: %s\n", neigh_line);
    CHECK(!strcmp(mac, spoof_mac), "control: without the rules, the forged ARP replies did "
          "not take over the entry for " NET "11 ('%s'): this test cannot tell a filter from "
          "nothing", neigh_line);
    CHECK(lv("destroy", "s0", NULL) == 0, "destroy s0: %s", cli.err);
    lvt_ip(&tool, ip_bin, "neigh flush dev " BR); /* n1's entry: learned again next */
}

/* 3: with its rules, every forged frame is dropped and counted. */
static void case_filtered(void)
{
    json_int_t got[4] = {0};
    static const char *const kinds[4] = {"mac", "ip", "arp", "other"};
    char mac[24], want[24], line[96];

    start_vm("s1", "spoof", 14, NET "11 5");
    vm_ifindex("s1");
    if (!console_has("s1", "spoof: listening"))
        return;
    neighbours_known();
    trigger(14);
    console_has("s1", "spoof: sent 5 of each");
    for (int t = 0; t < 10000; t += 100) {
        json_t *vm = info_json("s1"), *d = json_object_get(vm, "dropped");
        int done = 1;
        for (int i = 0; i < 4; i++) {
            got[i] = json_integer_value(json_object_get(d, kinds[i]));
            done &= got[i] >= want_drops[i];
        }
        json_decref(vm);
        if (done)
            break;
        lvt_sleep_ms(100);
    }
    printf("s1 (with rules): dropped mac %lld, ip %lld, arp %lld, other %lld\n",
           (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3]);
    for (int i = 0; i < 4; i++)
        CHECK(got[i] == want_drops[i], "dropped %s: %lld (the guest forged %d)", kinds[i],
              (long long)got[i], want_drops[i]);
    snprintf(line, sizeof(line), "dropped: mac %d, ip %d, arp %d, other %d", want_drops[0],
             want_drops[1], want_drops[2], want_drops[3]);
    CHECK(lv("info", "s1", NULL) == 0 && strstr(cli.out, line), "info s1 lacks \"%s\": %s",
          line, cli.out);
    for (int k = 11; k <= 12; k++) {
        neigh_mac(k, mac, sizeof(mac));
        vm_mac(k, want, sizeof(want));
        printf("s1 (with rules): host's entry for " NET "%d: %s\n", k, neigh_line);
        CHECK(!strcmp(mac, want), "host's entry for " NET "%d: '%s' (want %s): spoofed", k,
              neigh_line, want);
        CHECK(answers(k), "n%d does not answer daytime next to s1: %s", k - 10, tool.err);
    }
    CHECK(lv("info", "n1", NULL) == 0 && strstr(cli.out, "dropped: mac 0, ip 0, arp 0, other 0"),
          "n1 (an honest guest) had frames dropped: %s", cli.out);
}

/* 4: a MAC already on the bridge is refused with one line naming it. */
static void case_dup_mac(void)
{
    char mac[24], tapmac[24] = "", brmac[24] = "", tap[24];
    json_t *vm = info_json("n2");
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(vm, "vifs"), 0), "tap"));

    snprintf(tap, sizeof(tap), "%s", t ? t : "");
    json_decref(vm);
    lvt_sys_read(tap, "address", tapmac, sizeof(tapmac)); /* a port's: in the fdb */
    lvt_sys_read(BR, "address", brmac, sizeof(brmac));
    vm_mac(11, mac, sizeof(mac));
    const char *macs[] = {mac, tapmac, brmac};
    for (int i = 0; i < 3; i++) {
        CHECK(macs[i][0], "MAC %d unknown (tap %s)", i, tap);
        int st = lv("create", config("dup", "daytime", 20, NULL, macs[i]), NULL);
        printf("duplicate MAC: %s", cli.err);
        CHECK(st == 1 && strstr(cli.err, macs[i]) && strstr(cli.err, BR) && !strchr(
              strchr(cli.err, '\n') ? strchr(cli.err, '\n') + 1 : "", '\n'),
              "a config with MAC %s (%s) on " BR ": status %d: %s", macs[i],
              i == 0 ? "n1's" : i == 1 ? "a port's" : "the bridge's", st, cli.err);
    }
    CHECK(lv("list", NULL) == 0 && !strstr(cli.out, "dup"), "a refused create left: %s",
          cli.out);
}

/* 5: rules go with their VMs, however they go. */
static void case_cleanup(void)
{
    json_t *vm = info_json("s1");
    pid_t pid = (pid_t)json_integer_value(json_object_get(vm, "pid"));
    int ix = (int)json_integer_value(
        json_object_get(json_array_get(json_object_get(vm, "vifs"), 0), "ifindex"));

    json_decref(vm);
    CHECK(pid > 0 && kill(pid, SIGKILL) == 0, "kill -9 s1 (pid %d)", (int)pid);
    int present = 1;
    for (int t = 0; t < 10000 && present; t += 100) {
        lvt_sleep_ms(100);
        present = lv_as_present(nft, ix, NULL);
    }
    CHECK(present == 0, "s1 was killed, its rules are still there");
    const char *names[] = {"s1", "n1", "n2"};
    for (int i = 0; i < 3; i++)
        CHECK(lv("destroy", names[i], NULL) == 0, "destroy %s: %s", names[i], cli.err);
    for (int i = 0; i < ntaps_seen; i++)
        CHECK(lv_as_present(nft, taps_seen[i], NULL) == 0,
              "rules left for tap ifindex %d after its VM was destroyed", taps_seen[i]);
}

/* The one port of the bridge (the daemon's VMs are gone), waiting for it
 * (bounded): its name into (name), its ifindex returned (0: none). */
static int only_port(char *name, size_t cap)
{
    char dir[64];

    snprintf(dir, sizeof(dir), "/sys/class/net/" BR "/brif");
    for (int t = 0; t < 10000; t += 100) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;
        while (d && (de = readdir(d)))
            if (de->d_name[0] != '.' && n++ == 0)
                snprintf(name, cap, "%.15s", de->d_name);
        if (d)
            closedir(d);
        if (n == 1)
            return (int)lvt_sys_num(name, "ifindex");
        lvt_sleep_ms(100);
    }
    CHECK(0, "the bridge never had exactly one port");
    return 0;
}

/* 6: the cold path, `lightvm run --net`: the same rules from the start,
 * gone at its end; a MAC already on the bridge refused. */
static void case_cold(void)
{
    char net[128], tap[32] = "", brmac[24] = "";
    struct lvt_bg run;
    struct lv_as_drops d = {0};
    int ix;

    snprintf(net, sizeof(net), BR ",ip=" NET "15,mac=02:00:00:78:00:15");
    char img[PATH_MAX + 16];
    snprintf(img, sizeof(img), "%s/spoof.elf", gdir);
    const char *argv[] = {lightvm, "run", img, "--net", net, "--cmdline", NET "11 5", NULL};
    if (lvt_bg_start(&run, argv) < 0) {
        CHECK(0, "cannot start lightvm run: %s", strerror(errno));
        return;
    }
    for (int t = 0; t < 10000 && run.pid && !strstr(run.out, "spoof: listening"); t += 100)
        lvt_bg_pump(100);
    CHECK(strstr(run.out, "spoof: listening"), "lightvm run spoof: %s%s", run.out, run.err);
    ix = only_port(tap, sizeof(tap));
    CHECK(ix > 0 && lv_as_present(nft, ix, NULL) == 1, "lightvm run's tap %s (ifindex %d) has "
          "no rules", tap, ix);
    trigger(15);
    for (int t = 0; t < 10000; t += 100) {
        memset(&d, 0, sizeof(d));
        if (lv_as_read(nft, ix, &d, NULL) == 0 && d.mac >= COUNT && d.ip >= 2 * COUNT &&
            d.arp >= COUNT && d.other >= COUNT)
            break;
        lvt_bg_pump(100);
    }
    printf("lightvm run: dropped mac %llu, ip %llu, arp %llu, other %llu\n",
           (unsigned long long)d.mac, (unsigned long long)d.ip, (unsigned long long)d.arp,
           (unsigned long long)d.other);
    CHECK(d.mac == COUNT && d.ip == 2 * COUNT && d.arp == COUNT && d.other == COUNT,
          "lightvm run: the forged frames were not all dropped and counted");
    lvt_bg_stop(&run, SIGTERM, 10000);
    CHECK(!run.timed_out && ix > 0 && lv_as_present(nft, ix, NULL) == 0,
          "lightvm run left the rules of its tap after SIGTERM: %s", run.err);
    lvt_sys_read(BR, "address", brmac, sizeof(brmac));
    snprintf(net, sizeof(net), BR ",ip=" NET "16,mac=%s", brmac);
    const char *dup[] = {lightvm, "run", img, "--net", net, "--cmdline", NET "11 5", NULL};
    CHECK(lvt_run(&cli, 30, dup) == 0 && cli.status == 1 && strstr(cli.err, brmac) &&
          strstr(cli.err, BR), "lightvm run with the bridge's MAC: status %d: %s", cli.status,
          cli.err);
}

/* Left-over rules (a tap that is gone) are swept by a daemon at start. */
static void case_sweep(void)
{
    struct lv_tap t;
    struct lv_as_vif v = {0, "", {0x02, 0, 0, 0x78, 0, 0x77}, 0};

    CHECK(lv_tap_open(NULL, &t, NULL) == 0, "cannot make a tap");
    v.ifindex = t.ifindex;
    memcpy(v.ifname, t.name, sizeof(v.ifname));
    CHECK(lv_as_install(nft, &v, 1, NULL) == 0, "cannot install rules for %s", t.name);
    lv_tap_close(&t); /* as if its process had been killed */
    /* Newer kernels (this host's 6.18) keep a netdev chain whose device
     * went away; older ones (Debian 12's 6.1, in the nested VM) delete it
     * with the device, leaving nothing to sweep. Either way none may be
     * left once the new daemon has started (checked below). */
    int kept = lv_as_present(nft, v.ifindex, NULL);
    CHECK(kept == 0 || kept == 1, "rules of the closed tap: cannot tell (%d)", kept);
    printf("the kernel %s a closed tap's chain\n", kept == 1 ? "keeps" : "deletes");
    /* and a VM that outlives the daemon keeps its rules, the new daemon
     * its counters, and its destroy removes them */
    start_vm("a1", "daytime", 21, NULL);
    int ix = vm_ifindex("a1");
    lvt_daemon_term(&daemon_bg);
    const char *argv[] = {lightvmd, "--rundir", rundir, NULL};
    if (lvt_bg_start(&daemon_bg, argv) == 0)
        lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir);
    CHECK(lv_as_present(nft, v.ifindex, NULL) == 0, "a new lightvmd left the rules of a tap "
          "that is gone: %s", daemon_bg.err);
    CHECK(lv_as_present(nft, ix, NULL) == 1, "a1 lost its rules when lightvmd restarted");
    CHECK(lv("info", "a1", NULL) == 0 && strstr(cli.out, "dropped: mac 0, ip 0, arp 0, other 0"),
          "info a1 after the restart: %s", cli.out);
    CHECK(answers(21), "a1 does not answer after the restart: %s", tool.err);
    CHECK(lv("destroy", "a1", NULL) == 0, "destroy a1: %s", cli.err);
    CHECK(lv_as_present(nft, ix, NULL) == 0, "a1's rules left after its destroy (adopted VM)");
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];
    struct lv_err err = {""};

    if (argc != 4) {
        fprintf(stderr, "usage: test_spoof LIGHTVM LIGHTVMD GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    lvt_e2e_require("test_spoof", "network namespaces, taps, nftables");
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    if (lvt_e2e_bridge(&tool, ip_bin, BR, HOST_IP "/24") < 0)
        return 1;
    /* The namespace's own ARP: replace an entry whenever a reply says so
     * (the default waits 1 s after the last update), so that the control
     * case shows what a forged reply does without waiting. */
    CHECK(lvt_write_file("/proc/sys/net/ipv4/neigh/" BR "/locktime", "0", 1) == 0,
          "cannot set locktime");
    if (lv_nft_open(&nft, &err) < 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    /* Shells on no bridge: a tap joining the bridge (at a create) flushes
     * the host's ARP entries on it (lightvm pins the bridge's MAC, which
     * the kernel takes as an address change); a refill must not. */
    const char *dargv[] = {lightvmd, "--rundir", rundir, "--pool", "8,1,3", NULL};
    if (lvt_bg_start(&daemon_bg, dargv) == 0 &&
        lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir)) {
        case_sealed();
        case_neighbours();
        case_control();
        case_filtered();
        case_dup_mac();
        case_cleanup();
        case_cold();
        case_sweep();
        lvt_daemon_term(&daemon_bg);
        lvt_check_netns_empty();
    } else {
        CHECK(0, "lightvmd did not start: %s", daemon_bg.err);
    }
    lvt_e2e_stop(&daemon_bg, rundir);
    lv_nft_close(&nft);
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_spoof");
}
