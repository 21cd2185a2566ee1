/*
 * test_resume: the boot info side of a restore (ABI v4), without a
 * snapshot. The counter guest runs on a tap in a network namespace of
 * the test's own (the host end 10.79.0.1/24 on the tap itself):
 *
 *   1. lv_vm_resumed is refused before a load (no boot info), and, like
 *      lv_vm_set_nic, while the vCPU runs
 *   2. the guest answers UDP (count 1) and TCP (count 2; the ISN it
 *      reports is the one its SYN-ACK carried, read on the tap)
 *   3. pause; lv_vm_guest_clock is not behind the uptime the guest
 *      reported; a NEW MAC and IP with lv_vm_set_nic; lv_vm_resumed; go on
 *   4. one gratuitous ARP for the new IP from the new MAC on the tap; the
 *      guest answers on the new IP: count 3 and 4, generation 1, uptime
 *      not behind the clock passed to lv_vm_resumed, the SYN-ACK from the
 *      new MAC with the ISN the guest reports
 *   5. a restore's order on a second VM: loaded, given a new identity and
 *      lv_vm_resumed with a clock of 1000 s BEFORE its vCPU starts (the
 *      interrupt comes after the release): it announces the new identity
 *      once, answers there with generation 1, and its uptime starts from
 *      the 1000 s passed in, not from its boot
 *
 * usage: test_resume GUEST_DIR (counter.elf). Needs KVM and root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "lightvm/elf.h"
#include "lightvm/net.h"
#include "lightvm/vm.h"
#include "lvtest.h"

#define TAP "lvrs0"
#define HOST_IP "10.79.0.1"
#define IP1 "10.79.0.2"
#define IP2 "10.79.0.3"
#define IP3 "10.79.0.4"
#define CLOCK3_NS 1000000000000ull /* step 5: 1000 s, more than any of its waits */
#define PORT 7
/* Bounds of the waits only (nested KVM under TCG is slow). */
#define UP_MS (180 * 1000)
#define REPLY_MS (60 * 1000)

static const uint8_t mac1[6] = {0x02, 0x00, 0x00, 0x79, 0x00, 0x02};
static const uint8_t mac2[6] = {0x02, 0x00, 0x00, 0x79, 0x00, 0x03};
static const uint8_t mac3[6] = {0x02, 0x00, 0x00, 0x79, 0x00, 0x04};

static struct lv_kvm kvm;
static struct lv_vm *vm;
static int con_fd = -1, pkt_fd = -1;

struct reply {
    unsigned long long count, uptime_ms, gen, isn;
    char ip[16];
    int has_isn;
};

/* What the guest wrote so far, NUL-terminated. */
static const char *console(void)
{
    static char buf[16384];
    ssize_t n = pread(con_fd, buf, sizeof(buf) - 1, 0);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int vm_ended(void)
{
    struct pollfd pf = {lv_vm_done_fd(vm), POLLIN, 0};
    return poll(&pf, 1, 0) == 1;
}

/* "count N uptime_ms M gen G ip A[ isn X]\n", exactly. */
static int parse_reply(const char *s, struct reply *r)
{
    int n = 0, m = 0;

    memset(r, 0, sizeof(*r));
    if (sscanf(s, "count %llu uptime_ms %llu gen %llu ip %15s%n", &r->count, &r->uptime_ms,
               &r->gen, r->ip, &n) != 4)
        return -1;
    s += n;
    if (sscanf(s, " isn %llu%n", &r->isn, &m) == 1) {
        r->has_isn = 1;
        s += m;
    }
    return strcmp(s, "\n") ? -1 : 0;
}

static int ask_udp(const char *ip, struct reply *r, char *raw, size_t cap)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct pollfd pf = {fd, POLLIN, 0};
    ssize_t n = -1;

    inet_pton(AF_INET, ip, &to.sin_addr);
    raw[0] = '\0';
    if (fd >= 0 && sendto(fd, "?", 1, 0, (struct sockaddr *)&to, sizeof(to)) == 1 &&
        poll(&pf, 1, REPLY_MS) == 1)
        n = recv(fd, raw, cap - 1, 0);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    raw[n] = '\0';
    return parse_reply(raw, r);
}

static int ask_tcp(const char *ip, struct reply *r, char *raw, size_t cap)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {REPLY_MS / 1000, 0};
    size_t len = 0;
    ssize_t n;

    inet_pton(AF_INET, ip, &to.sin_addr);
    raw[0] = '\0';
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect */
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
        close(fd);
        return -1;
    }
    while (len < cap - 1 && (n = read(fd, raw + len, cap - 1 - len)) > 0) /* to EOF */
        len += (size_t)n;
    close(fd);
    raw[len] = '\0';
    return len ? parse_reply(raw, r) : -1;
}

/* ---- frames on the tap ---- */

struct seen {
    int synack;             /* SYN-ACKs from port PORT (a retransmission is one more) */
    int synack_differ;      /* ones whose seq differs from the first's */
    uint32_t synack_seq;    /* the first one's */
    uint8_t synack_src[6];
    const char *garp_ip;    /* the announcement expected: this IP */
    const uint8_t *garp_mac; /* from this MAC */
    int garp;               /* gratuitous ARPs for garp_ip from garp_mac */
    int garp_other;         /* gratuitous ARPs with another sender */
};

static void frame(const uint8_t *f, size_t n, struct seen *s)
{
    uint32_t want = inet_addr(s->garp_ip), sip, tip;

    if (n >= 42 && f[12] == 0x08 && f[13] == 0x06) { /* ARP */
        memcpy(&sip, f + 28, 4);
        memcpy(&tip, f + 38, 4);
        if (sip != tip) /* not an announcement */
            return;
        if (sip == want && !memcmp(f + 6, s->garp_mac, 6) && !memcmp(f + 22, s->garp_mac, 6) &&
            !memcmp(f, "\xff\xff\xff\xff\xff\xff", 6))
            s->garp++;
        else
            s->garp_other++;
        return;
    }
    if (n < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || f[23] != 6)
        return;
    size_t ihl = (size_t)(f[14] & 15) * 4;
    const uint8_t *t = f + 14 + ihl;
    if (ihl < 20 || 14 + ihl + 20 > n || ((t[0] << 8) | t[1]) != PORT || (t[13] & 0x12) != 0x12)
        return;
    uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
    if (s->synack++ == 0) {
        s->synack_seq = seq;
        memcpy(s->synack_src, f + 6, 6);
    } else if (seq != s->synack_seq) {
        s->synack_differ++;
    }
}

/* Reads the frames the guest sent (up to (ms) for the first). */
static void drain(struct seen *s, int ms)
{
    uint8_t f[2048];
    struct sockaddr_ll from;
    socklen_t fl;
    ssize_t n;

    for (int i = 0; i < 10000; i++) {
        struct pollfd pf = {pkt_fd, POLLIN, 0};
        if (poll(&pf, 1, i ? 0 : ms) != 1)
            return;
        fl = sizeof(from);
        n = recvfrom(pkt_fd, f, sizeof(f), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        if (from.sll_pkttype != PACKET_OUTGOING) /* from the guest */
            frame(f, (size_t)n, s);
    }
}

static int open_packet_socket(int ifindex)
{
    struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                            .sll_ifindex = ifindex};
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* ---- the test ---- */

/* Waits for the counter's "listening" line: 0, or -1 after a FAIL line. */
static int wait_listening(void)
{
    for (int t = 0; t < UP_MS / 100 && !strstr(console(), "counter: listening"); t++) {
        if (vm_ended())
            break;
        lvt_sleep_ms(100);
    }
    CHECK(strstr(console(), "counter: listening"), "the counter never listened");
    return strstr(console(), "counter: listening") ? 0 : -1;
}

/* A counter VM on (tap_fd) with mac1/IP1, loaded, not started. */
static int load(const char *gdir, int tap_fd)
{
    struct lv_vm_nic nic = {.tap_fd = tap_fd, .ip = inet_addr(IP1),
                            .netmask = inet_addr("255.255.255.0"), .gw = inet_addr(HOST_IP)};
    struct lv_vm_config cfg = {.mem_size = 8u << 20, .console_fd = con_fd, .nnics = 1,
                               .nics = &nic};
    struct lv_err err = {""};
    struct lv_image im;
    char path[PATH_MAX];
    int rc;

    memcpy(nic.mac, mac1, 6);
    snprintf(path, sizeof(path), "%s/counter.elf", gdir);
    if (lv_vm_create(&vm, &kvm, &cfg, &err) < 0) {
        CHECK(0, "lv_vm_create: %s", err.msg);
        return -1;
    }
    rc = lv_vm_resumed(vm, 0, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "no image"), "resumed before a load: %d %s", rc,
          err.msg);
    if (lv_image_open(path, &im, &err) < 0) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    rc = lv_vm_load_image(vm, &im, &err);
    lv_image_close(&im);
    if (rc < 0) {
        CHECK(0, "load: %s", err.msg);
        return -1;
    }
    return 0;
}

static int boot(const char *gdir, int tap_fd)
{
    struct lv_err err = {""};

    if (load(gdir, tap_fd) < 0)
        return -1;
    if (lv_vm_start(vm, &err) < 0) {
        CHECK(0, "start: %s", err.msg);
        return -1;
    }
    return wait_listening();
}

/* Step 1's refusals while the vCPU runs. */
static void check_busy(void)
{
    struct lv_vm_nic n = {.tap_fd = -1, .ip = inet_addr(IP2)};
    struct lv_err err = {""};
    int rc;

    memcpy(n.mac, mac2, 6);
    rc = lv_vm_set_nic(vm, 0, &n, &err);
    CHECK(rc == -EBUSY, "set_nic while running: %d %s", rc, err.msg);
    rc = lv_vm_resumed(vm, 0, &err);
    CHECK(rc == -EBUSY, "resumed while running: %d %s", rc, err.msg);
}

/* Step 3: returns the clock passed to lv_vm_resumed (ns), 0 on failure. */
static uint64_t resume_as_clone(const struct reply *last)
{
    struct lv_vm_nic n = {.tap_fd = -1, .ip = inet_addr(IP2),
                          .netmask = inet_addr("255.255.255.0"), .gw = inet_addr(HOST_IP)};
    struct lv_err err = {""};
    uint64_t tsc = 0, ns = 0;
    int ok;

    memcpy(n.mac, mac2, 6);
    if (lv_vm_pause(vm, &err) < 0) {
        CHECK(0, "pause: %s", err.msg);
        return 0;
    }
    ok = lv_vm_guest_tsc(vm, &tsc, &err) == 0 && lv_vm_guest_clock(vm, tsc, &ns, &err) == 0;
    CHECK(ok, "guest clock: %s", err.msg);
    CHECK(ns / 1000000u >= last->uptime_ms, "guest clock %llu ns behind its uptime %llu ms",
          (unsigned long long)ns, last->uptime_ms);
    ok = ok && lv_vm_set_nic(vm, 0, &n, &err) == 0 && lv_vm_resumed(vm, ns, &err) == 0;
    CHECK(ok, "new identity, resumed: %s", err.msg);
    CHECK(lv_vm_unpause(vm, &err) == 0, "unpause: %s", err.msg);
    return ok ? ns : 0;
}

static void run(const char *gdir, struct lv_tap *tap)
{
    struct reply r1, r2, r3, r4;
    struct seen s;
    char raw[256];
    uint64_t ns;

    memset(&s, 0, sizeof(s));
    s.garp_ip = IP2;
    s.garp_mac = mac2;
    if (boot(gdir, tap->fd) < 0)
        return;
    check_busy();

    CHECK(ask_udp(IP1, &r1, raw, sizeof(raw)) == 0, "UDP to %s: \"%s\"", IP1, raw);
    CHECK(r1.count == 1 && r1.gen == 0 && !strcmp(r1.ip, IP1) && !r1.has_isn, "first: \"%s\"",
          raw);
    CHECK(ask_tcp(IP1, &r2, raw, sizeof(raw)) == 0, "TCP to %s: \"%s\"", IP1, raw);
    CHECK(r2.count == 2 && r2.gen == 0 && r2.has_isn && r2.uptime_ms >= r1.uptime_ms,
          "second: \"%s\"", raw);
    drain(&s, 0);
    CHECK(s.synack >= 1 && !s.synack_differ && s.synack_seq == r2.isn &&
          !memcmp(s.synack_src, mac1, 6), "SYN-ACKs %d (%d other seqs), seq %u, guest says "
          "ISN %llu", s.synack, s.synack_differ, s.synack_seq, r2.isn);

    ns = resume_as_clone(&r2);
    if (!ns)
        return;
    memset(&s, 0, sizeof(s));
    s.garp_ip = IP2;
    s.garp_mac = mac2;
    for (int i = 0; i < REPLY_MS / 1000 && !s.garp; i++) /* bounded: 60 s */
        drain(&s, 1000);
    CHECK(s.garp == 1 && s.garp_other == 0, "gratuitous ARPs: %d for %s from the new MAC, %d "
          "others", s.garp, IP2, s.garp_other);

    CHECK(ask_udp(IP2, &r3, raw, sizeof(raw)) == 0, "UDP to the new %s: \"%s\"", IP2, raw);
    CHECK(r3.count == 3 && r3.gen == 1 && !strcmp(r3.ip, IP2), "after the resume: \"%s\"", raw);
    CHECK(r3.uptime_ms >= ns / 1000000u && r3.uptime_ms >= r2.uptime_ms,
          "uptime went back: %llu ms after %llu ms (clock passed %llu ns)", r3.uptime_ms,
          r2.uptime_ms, (unsigned long long)ns);
    CHECK(ask_tcp(IP2, &r4, raw, sizeof(raw)) == 0, "TCP to the new %s: \"%s\"", IP2, raw);
    CHECK(r4.count == 4 && r4.gen == 1 && r4.has_isn && r4.uptime_ms >= r3.uptime_ms,
          "TCP after the resume: \"%s\"", raw);
    drain(&s, 0);
    CHECK(s.synack >= 1 && !s.synack_differ && s.synack_seq == r4.isn &&
          !memcmp(s.synack_src, mac2, 6), "SYN-ACKs %d (%d other seqs), seq %u, guest says "
          "ISN %llu", s.synack, s.synack_differ, s.synack_seq, r4.isn);
    CHECK(s.garp == 1, "%d gratuitous ARPs in all, want one", s.garp);
}

/* Step 5: the identity and lv_vm_resumed before the vCPU's first run. */
static void run_resumed_before_start(const char *gdir, struct lv_tap *tap)
{
    struct lv_vm_nic n = {.tap_fd = -1, .ip = inet_addr(IP3),
                          .netmask = inet_addr("255.255.255.0"), .gw = inet_addr(HOST_IP)};
    struct lv_err err = {""};
    struct reply r;
    struct seen s;
    char raw[256];

    memset(&s, 0, sizeof(s));
    s.garp_ip = IP3;
    s.garp_mac = mac3;
    memcpy(n.mac, mac3, 6);
    /* a console of its own (the VM writes at the fd's offset) */
    CHECK(ftruncate(con_fd, 0) == 0 && lseek(con_fd, 0, SEEK_SET) == 0, "console reset");
    if (load(gdir, tap->fd) < 0)
        return;
    if (lv_vm_set_nic(vm, 0, &n, &err) < 0 || lv_vm_resumed(vm, CLOCK3_NS, &err) < 0 ||
        lv_vm_start(vm, &err) < 0) {
        CHECK(0, "identity, resumed, start: %s", err.msg);
        return;
    }
    if (wait_listening() < 0)
        return;
    for (int i = 0; i < REPLY_MS / 1000 && !s.garp; i++) /* bounded: 60 s */
        drain(&s, 1000);
    CHECK(ask_udp(IP3, &r, raw, sizeof(raw)) == 0, "UDP to %s: \"%s\"", IP3, raw);
    CHECK(r.count == 1 && r.gen == 1 && !strcmp(r.ip, IP3), "resumed before start: \"%s\"",
          raw);
    CHECK(r.uptime_ms >= CLOCK3_NS / 1000000u, "uptime %llu ms: not from the %llu ms passed "
          "in", r.uptime_ms, CLOCK3_NS / 1000000u);
    drain(&s, 0);
    CHECK(s.garp == 1 && s.garp_other == 0, "gratuitous ARPs: %d for %s from its MAC, %d "
          "others", s.garp, IP3, s.garp_other);
}

/* Stops and destroys the VM: it must not have ended on its own. */
static void vm_end(void)
{
    struct lv_vm_result res;

    if (!vm)
        return;
    lv_vm_stop(vm);
    lv_vm_wait(vm, &res);
    CHECK(res.outcome == LV_VM_STOPPED, "the guest ended on its own: %d %s", res.outcome,
          res.msg);
    if (lvt_failures || res.outcome != LV_VM_STOPPED)
        fprintf(stderr, "console:\n%s\n", console());
    CHECK(!strstr(console(), "crash") && !strstr(console(), "panic"), "the guest crashed");
    lv_vm_destroy(&vm);
}

int main(int argc, char **argv)
{
    struct lvt_bg tool;
    struct lv_err err = {""};
    struct lv_tap tap = {-1, "", 0};
    static const char *const ips[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", NULL};
    const char *ip_bin = lvt_find_exe(ips);
    char why[256];

    if (argc != 2) {
        fprintf(stderr, "usage: test_resume GUEST_DIR\n");
        return 2;
    }
    lvt_require_kvm();
    lvt_require_root("test_resume", "a network namespace and a tap");
    if (!ip_bin || lvt_private_netns(why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: %s\n", ip_bin ? why : "no ip command");
        return 1;
    }
    con_fd = memfd_create("console", MFD_CLOEXEC);
    if (con_fd < 0 || lv_kvm_open(&kvm, &err) < 0 || lv_tap_open(TAP, &tap, &err) < 0) {
        fprintf(stderr, "FAIL: setup: %s\n", err.msg[0] ? err.msg : strerror(errno));
        return 1;
    }
    if (lvt_ip(&tool, ip_bin, "link set %s up", TAP) || lvt_ip(&tool, ip_bin, "addr add %s/24 "
               "dev %s", HOST_IP, TAP) || (pkt_fd = open_packet_socket(tap.ifindex)) < 0) {
        fprintf(stderr, "FAIL: tap setup\n");
        return 1;
    }
    run(argv[1], &tap);
    vm_end();
    run_resumed_before_start(argv[1], &tap);
    vm_end();
    lv_tap_close(&tap);
    close(pkt_fd);
    lv_kvm_close(&kvm);
    return lvt_done("test_resume");
}
