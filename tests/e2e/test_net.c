/*
 * test_net: host network setup (lib/net) against the real kernel, in a
 * private network and mount namespace of its own (with its own sysfs),
 * so the host's interfaces are never touched. Needs root (skips if not;
 * fails under LIGHTVM_REQUIRE_KVM=1).
 *
 *   test_net                  the whole test
 *   test_net --child-setup    one full setup in a fresh network namespace;
 *                             the test runs this under strace to prove
 *                             that no program is executed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "lightvm/net.h"
#include "lvtest.h"

#define NTAPS 200

/* Polls up to (ms) for the interface to leave /sys/class/net. */
static int wait_gone(const char *ifname, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        if (!lvt_sys_exists(ifname, NULL))
            return 1;
        lvt_sleep_ms(10);
    }
    return !lvt_sys_exists(ifname, NULL);
}

static int count_tun(const struct lv_link *l, void *arg)
{
    if (!strcmp(l->kind, "tun"))
        ++*(int *)arg;
    return 0;
}

static int tun_links(struct lv_nl *nl)
{
    struct lv_err e = {""};
    int n = 0, rc = lv_link_foreach(nl, count_tun, &n, &e);
    CHECK(rc == 0, "link dump: %d %s", rc, e.msg);
    return rc < 0 ? -1 : n;
}

/* Expects (rc) to be -(code) with a message containing (needle). */
static void expect_err(int rc, int code, const struct lv_err *e, const char *needle,
                       const char *what)
{
    CHECK(rc == -code, "%s: rc %d (%s), want %d", what, rc, strerror(rc < 0 ? -rc : 0), -code);
    CHECK(strstr(e->msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, e->msg, needle);
}

/* One full setup; returns 0 on success. Used by --child-setup. */
static int full_setup(const char *br, const char *tapname)
{
    struct lv_err e = {""};
    struct lv_nl *nl = NULL;
    struct lv_tap tap = {-1, "", 0};
    struct lv_link l;
    uint8_t mac[6];
    int rc, bri;

    if ((rc = lv_nl_open(&nl, &e)) < 0)
        goto out;
    if ((bri = rc = lv_bridge_ensure(nl, br, 1, &e)) < 0)
        goto out_nl;
    if ((rc = lv_tap_open(tapname, &tap, &e)) < 0 || (rc = lv_mac_random(mac, &e)) < 0 ||
        (rc = lv_link_set(nl, tap.name, mac, 1500, 1, &e)) < 0 ||
        (rc = lv_link_set_master(nl, tap.name, br, &e)) < 0 ||
        (rc = lv_link_get(nl, tap.name, &l, &e)) < 0)
        goto out_tap;
    if (l.master != bri || !(l.flags & IFF_UP) || memcmp(l.mac, mac, 6) || l.mtu != 1500)
        rc = lv_err_set(&e, EPROTO, "%s: state after setup is wrong", tap.name);
out_tap:
    lv_tap_close(&tap);
    if (bri > 0 && lv_link_delete(nl, br, rc < 0 ? NULL : &e) < 0 && rc == 0)
        rc = -EIO;
out_nl:
    lv_nl_close(&nl);
out:
    if (rc < 0)
        fprintf(stderr, "child-setup: %s\n", e.msg);
    return rc;
}

static int child_setup(void)
{
    if (unshare(CLONE_NEWNET) < 0) { /* never touch the host's interfaces */
        fprintf(stderr, "child-setup: unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return 1;
    }
    if (full_setup("lvbrs", "lvtaps") < 0)
        return 1;
    printf("child-setup ok\n");
    return 0;
}

/* Runs --child-setup under strace: it must execute nothing. */
static void test_no_exec(void)
{
    static struct lvt_proc p;
    struct lvt_strace s;
    char self[PATH_MAX];
    ssize_t n;

    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
    if (n <= 0)
        return;
    self[n] = '\0';
    const char *cmd[] = {self, "--child-setup", NULL};
    if (lvt_strace_prepare(&s, cmd) < 0)
        return;
    CHECK(lvt_run(&p, 60, s.argv) == 0, "could not run strace");
    lvt_strace_restore_env(&s);
    CHECK(p.status == 0 && strstr(p.out, "child-setup ok"), "child-setup under strace: status %d%s\n%s%s",
          p.status, p.timed_out ? " (timed out)" : "", p.out, p.err);
    lvt_strace_check_one_exec(&s, self);
}

/* A child opens a tap and is killed with SIGKILL: the tap must go. */
static void test_kill9(void)
{
    struct pollfd pfd;
    int pp[2], st = 0;
    char c = 0;
    pid_t pid;

    CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
    pid = fork();
    if (pid == 0) {
        struct lv_tap t;
        struct lv_err e = {""};
        close(pp[0]);
        if (lv_tap_open("lvkill0", &t, &e) == 0 && write(pp[1], "k", 1) == 1)
            sleep(30); /* killed long before */
        _exit(1);
    }
    close(pp[1]);
    CHECK(pid > 0, "fork: %s", strerror(errno));
    pfd = (struct pollfd){pp[0], POLLIN, 0};
    if (pid > 0 && poll(&pfd, 1, 5000) == 1 && read(pp[0], &c, 1) == 1) {
        CHECK(lvt_sys_exists("lvkill0", NULL), "lvkill0 missing while its owner lives");
    }
    CHECK(c == 'k', "the child did not open its tap");
    close(pp[0]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
    }
    CHECK(wait_gone("lvkill0", 2000), "lvkill0 survived the SIGKILL of its owner");
}

static void test_bridge(struct lv_nl *nl)
{
    struct lv_err e = {""};
    struct lv_link l;
    int idx;

    idx = lv_bridge_ensure(nl, "lvbr0", 1, &e);
    CHECK(idx > 0, "create lvbr0: %d %s", idx, e.msg);
    CHECK(lvt_sys_exists("lvbr0", "bridge"), "lvbr0 is not a bridge in sysfs");
    CHECK(lvt_sys_num("lvbr0", "flags") & IFF_UP, "lvbr0 is not up");
    CHECK(lv_link_get(nl, "lvbr0", &l, &e) == 0 && !strcmp(l.kind, "bridge") && l.ifindex == idx,
          "netlink view of lvbr0: kind \"%s\" index %d/%d %s", l.kind, l.ifindex, idx, e.msg);
    CHECK(lv_bridge_ensure(nl, "lvbr0", 1, &e) == idx, "ensure lvbr0 again: %s", e.msg);
    CHECK(lv_bridge_ensure(nl, "lvbr0", 0, &e) == idx, "ensure lvbr0 (no create): %s", e.msg);
    CHECK(lv_link_index(nl, "lvbr0", &e) == idx, "lv_link_index(lvbr0): %s", e.msg);

    expect_err(lv_bridge_ensure(nl, "lo", 1, &e), EEXIST, &e, "lo exists and is not a bridge",
               "ensure lo");
    expect_err(lv_bridge_ensure(nl, "lvnobr", 0, &e), ENODEV, &e, "bridge lvnobr does not exist",
               "ensure lvnobr");
    CHECK(!lvt_sys_exists("lvnobr", NULL), "lvnobr was created without create");
    expect_err(lv_bridge_ensure(nl, "bad/name", 1, &e), EINVAL, &e, "bad/name", "bridge bad/name");
}

static void test_tap(struct lv_nl *nl)
{
    static const char *bad[] = {"abcdefghijklmnop", "a b", "a/b", "x:y", ".", ".."};
    static const char *badmac[] = {"02:00:00:00:00", "02:00:00:00:00:0g", "02:00:00:00:00:01:",
                                   "2:0:0:0:0:1", "02-00-00-00-00-01", "01:00:00:00:00:01",
                                   "00:00:00:00:00:00", " 02:00:00:00:00:01", ""};
    struct lv_err e = {""};
    struct lv_tap t, t2, t3;
    struct lv_link l;
    uint8_t mac[6], mac2[6];
    char b[64];
    int hdr = 0;

    CHECK(lv_tap_open("lvtap0", &t, &e) == 0, "open lvtap0: %s", e.msg);
    CHECK(!strcmp(t.name, "lvtap0") && t.fd >= 0, "tap name \"%s\" fd %d", t.name, t.fd);
    CHECK(t.ifindex > 0 && t.ifindex == lv_link_index(nl, "lvtap0", &e), "ifindex %d", t.ifindex);
    CHECK((fcntl(t.fd, F_GETFD) & FD_CLOEXEC) && (fcntl(t.fd, F_GETFL) & O_NONBLOCK),
          "tap fd lacks O_CLOEXEC or O_NONBLOCK");
    CHECK(ioctl(t.fd, TUNGETVNETHDRSZ, &hdr) == 0 && hdr == 12, "vnet header size %d", hdr);
    unsigned long tf = lvt_sys_num("lvtap0", "tun_flags");
    CHECK((tf & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) == (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) &&
              !(tf & IFF_PERSIST), "tun_flags %#lx", tf);
    expect_err(lv_tap_open("lvtap0", &t2, &e), EBUSY, &e, "lvtap0", "second lvtap0");
    CHECK(t2.fd == -1, "failed open left fd %d", t2.fd);
    expect_err(lv_tap_open("lvbr0", &t2, &e), EBUSY, &e, "lvbr0", "tap named like the bridge");

    CHECK(lv_tap_open(NULL, &t2, &e) == 0 && !strncmp(t2.name, "lvtap", 5), "NULL name: %s %s",
          t2.name, e.msg);
    CHECK(lv_tap_open("", &t3, &e) == 0 && !strncmp(t3.name, "lvtap", 5) &&
              strcmp(t2.name, t3.name) && lvt_sys_exists(t3.name, NULL),
          "\"\" name: %s %s", t3.name, e.msg);
    lv_tap_close(&t3);
    lv_tap_close(&t2);
    CHECK(t2.fd == -1, "closed tap fd %d", t2.fd);
    lv_tap_close(&t2); /* twice is harmless */

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_err(lv_tap_open(bad[i], &t2, &e), EINVAL, &e, bad[i], "bad tap name");
        expect_err(lv_link_set(nl, bad[i], NULL, 0, 1, &e), EINVAL, &e, bad[i], "bad link name");
    }
    for (size_t i = 0; i < sizeof(badmac) / sizeof(badmac[0]); i++)
        expect_err(lv_mac_parse(badmac[i], mac, &e), EINVAL, &e, badmac[i], "bad MAC");
    CHECK(lv_mac_parse("02:00:00:00:00:01", mac, &e) == 0 && mac[0] == 2 && mac[5] == 1,
          "parse MAC: %s", e.msg);
    {
        static const char *const badip[] = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4",
                                            "1.2.3.4/33", "1.2.3.4/", "a.b.c.d", "1.2.3.4 ",
                                            "1..2.3", "1.2.3.4/24x", "1234.1.1.1"};
        uint32_t ip = 0;
        int pfx = 0;
        for (size_t i = 0; i < sizeof(badip) / sizeof(badip[0]); i++)
            expect_err(lv_ipv4_parse(badip[i], &ip, &pfx, &e), EINVAL, &e, badip[i], "bad IP");
        expect_err(lv_ipv4_parse("1.2.3.4/8", &ip, NULL, &e), EINVAL, &e, "1.2.3.4/8",
                   "prefix where none is allowed");
        CHECK(lv_ipv4_parse("10.77.0.2/16", &ip, &pfx, &e) == 0 && ip == htonl(0x0a4d0002) &&
                  pfx == 16, "parse 10.77.0.2/16: %s", e.msg);
        CHECK(lv_ipv4_parse("0.0.0.0", &ip, &pfx, &e) == 0 && ip == 0 && pfx == -1,
              "parse 0.0.0.0: %s", e.msg);
    }
    CHECK(lv_mac_random(mac2, &e) == 0 && (mac2[0] & 3) == 2, "random MAC %02x", mac2[0]);
    CHECK(lv_mac_random(mac2, &e) == 0 && memcmp(mac, mac2, 6), "random MAC repeats");

    CHECK(lv_link_set(nl, "lvtap0", mac, 1400, 1, &e) == 0, "set lvtap0: %s", e.msg);
    CHECK(!lvt_sys_read("lvtap0", "address", b, sizeof(b)) && !strcmp(b, "02:00:00:00:00:01"),
          "address %s", b);
    CHECK(!lvt_sys_read("lvtap0", "mtu", b, sizeof(b)) && !strcmp(b, "1400"), "mtu %s", b);
    CHECK(lvt_sys_num("lvtap0", "flags") & IFF_UP, "lvtap0 not up");
    expect_err(lv_link_set(nl, "lvtap0", NULL, 70000, -1, &e), EINVAL, &e, "mtu 70000",
               "mtu 70000");
    printf("kernel refusal as reported: %s\n", e.msg);
    expect_err(lv_link_set(nl, "lvnone0", NULL, 1500, 1, &e), ENODEV, &e, "lvnone0", "no link");
    mac2[0] |= 1;
    expect_err(lv_link_set(nl, "lvtap0", mac2, 0, -1, &e), EINVAL, &e, "not unicast", "mcast");
    CHECK(!lvt_sys_read("lvtap0", "mtu", b, sizeof(b)) && !strcmp(b, "1400"), "mtu now %s", b);

    CHECK(lv_link_set_master(nl, "lvtap0", "lvbr0", &e) == 0, "attach: %s", e.msg);
    CHECK(lvt_sys_exists("lvbr0", "brif/lvtap0"), "lvtap0 not in lvbr0/brif");
    ssize_t n = readlink("/sys/class/net/lvtap0/master", b, sizeof(b) - 1);
    b[n > 0 ? n : 0] = '\0';
    CHECK(n > 0 && strstr(b, "/lvbr0"), "master link \"%s\"", b);
    CHECK(lv_link_get(nl, "lvtap0", &l, &e) == 0 && l.master == lv_link_index(nl, "lvbr0", &e) &&
              l.mtu == 1400 && l.has_mac && !memcmp(l.mac, mac, 6) && !strcmp(l.kind, "tun"),
          "netlink view of lvtap0: master %d mtu %u kind %s", l.master, l.mtu, l.kind);
    expect_err(lv_link_set_master(nl, "lvtap0", "lo", &e), EEXIST, &e, "not a bridge", "to lo");
    expect_err(lv_link_set_master(nl, "lvtap0", "lvnobr", &e), ENODEV, &e, "lvnobr", "no br");
    CHECK(lv_link_set_master(nl, "lvtap0", NULL, &e) == 0 && !lvt_sys_exists("lvbr0", "brif/lvtap0"),
          "detach: %s", e.msg);
    CHECK(lv_link_set_master(nl, "lvtap0", "lvbr0", &e) == 0, "re-attach: %s", e.msg);
    CHECK(lv_link_set(nl, "lvtap0", NULL, 0, 0, &e) == 0 && !(lvt_sys_num("lvtap0", "flags") & IFF_UP),
          "set down: %s", e.msg);

    lv_tap_close(&t);
    CHECK(wait_gone("lvtap0", 2000), "lvtap0 still there after close");
    CHECK(!lvt_sys_exists("lvbr0", "brif/lvtap0"), "lvtap0 still in the bridge");
}

static void test_many(struct lv_nl *nl)
{
    static struct lv_tap taps[NTAPS];
    struct lv_err e = {""};
    int opened = 0, n = -1;

    for (int i = 0; i < NTAPS; i++) {
        int rc = lv_tap_open(NULL, &taps[i], &e);
        CHECK(rc == 0, "tap %d: %s", i, e.msg);
        opened += rc == 0;
    }
    n = tun_links(nl);
    CHECK(n == opened && opened == NTAPS, "dump sees %d taps of %d opened", n, opened);
    for (int i = 0; i < NTAPS; i++)
        lv_tap_close(&taps[i]);
    for (int t = 0; t < 5000 && (n = tun_links(nl)) > 0; t += 10)
        lvt_sleep_ms(10);
    CHECK(n == 0, "%d taps left after closing all", n);
}

int main(int argc, char **argv)
{
    struct lv_err e = {""};
    struct lv_nl *nl = NULL;
    char why[256];
    int rc;

    if (argc == 2 && !strcmp(argv[1], "--child-setup"))
        return child_setup();
    lvt_require_root("test_net", "network namespaces, /dev/net/tun");
    /* Own network namespace, and a mount namespace with a sysfs that
     * shows it; both disappear with this process. */
    if (lvt_private_netns(why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: private network namespace and sysfs: %s\n", why);
        return 1;
    }
    CHECK(lvt_sys_exists("lo", NULL) && !lvt_sys_exists("lvbr0", NULL), "sysfs is not the new netns");
    rc = lv_nl_open(&nl, &e);
    CHECK(rc == 0, "lv_nl_open: %s", e.msg);
    if (rc < 0)
        return lvt_done("test_net");

    test_bridge(nl);
    test_tap(nl);
    test_kill9();
    test_many(nl);
    CHECK(lv_link_delete(nl, "lvbr0", &e) == 0, "delete lvbr0: %s", e.msg);
    CHECK(wait_gone("lvbr0", 2000), "lvbr0 still there after delete");
    expect_err(lv_link_index(nl, "lvbr0", &e), ENODEV, &e, "lvbr0", "index of deleted");
    expect_err(lv_link_delete(nl, "lvbr0", &e), ENODEV, &e, "lvbr0", "delete twice");
    lv_nl_close(&nl);
    lv_nl_close(&nl); /* NULL-safe */
    test_no_exec();
    return lvt_done("test_net");
}
