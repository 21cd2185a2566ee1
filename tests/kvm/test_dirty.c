/*
 * test_dirty: dirty page tracking (lightvm/dirty.h) of a real guest,
 * guest/apps/dirty (64 pages of its own that it writes on a UDP request
 * "w A B V" on port 7), on a tap in a network namespace of the test's
 * own (the host end 10.81.0.1/24 on the tap itself):
 *
 *   1. refusals: a collect before a start, a second start
 *   2. the guest's writes: after "w 2 5 1" the collected bitmap has its
 *      pages 2..4 and none of its other pages; the count returned is the
 *      bits newly set (collecting again into the same bitmap adds none of
 *      those)
 *   3. a second collect without new writes: none of its pages, a few
 *      pages in all (the idle guest's stack and timers)
 *   4. the device's writes: the vCPU paused (the guest runs no
 *      instruction), a frame received (the NIC's rx_frames goes up): the
 *      page of the receive used ring and a page of the guest's heap (the
 *      receive buffer) are in the bitmap; unpaused, the guest answers
 *   5. stop (a collect refused, a second stop harmless), start again:
 *      "w 0 1 2" reports its page 0 and none of the earlier ones
 *   6. a restored VM (its RAM a private mapping of the memory file):
 *      saved, destroyed, restored on the same tap; tracking started on
 *      it: "w 10 12 3" reports its pages 10 and 11 only
 *
 * usage: test_dirty GUEST_DIR (dirty.elf). Needs KVM and root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/dirty.h"
#include "lightvm/elf.h"
#include "lightvm/net.h"
#include "lightvm/snapshot.h"
#include "lightvm/virtio_net.h"
#include "lightvm/vm.h"
#include "lvtest.h"

#define TAP "lvdt0"
#define HOST_IP "10.81.0.1"
#define GUEST_IP "10.81.0.2"
#define PORT 7
#define MEM (8u << 20)
#define PAGE 4096u
#define NPAGES 64u /* guest/apps/dirty.c */
#define IDLE_PAGES 32 /* step 3: at most this many pages written by an idle guest */
/* Bounds of the waits only (nested KVM under TCG is slow). */
#define UP_MS (180 * 1000)
#define REPLY_MS (60 * 1000)

static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x81, 0x00, 0x02};

static struct lv_kvm kvm;
static struct lv_vm *vm;
static int con_fd = -1;
static char dir[] = "/tmp/lvdirtyXXXXXX";

/* What the guest said at its start. */
static struct {
    uint64_t pages, rxused, devmem;
    unsigned n;
} g;

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

/* ---- bitmaps ---- */

static size_t words(void)
{
    return lv_vm_dirty_words(vm);
}

static uint64_t *bitmap_new(void)
{
    uint64_t *b = calloc(words(), sizeof(uint64_t));

    if (!b) {
        fprintf(stderr, "FAIL: out of memory\n");
        exit(1);
    }
    return b;
}

static int bit(const uint64_t *b, uint64_t page)
{
    return page / 64 < words() && (b[page / 64] >> (page % 64) & 1);
}

static long popcount(const uint64_t *b)
{
    long n = 0;

    for (size_t i = 0; i < words(); i++)
        n += __builtin_popcountll(b[i]);
    return n;
}

/* The guest's own page (k) as a page number of its RAM. */
static uint64_t own(unsigned k)
{
    return g.pages / PAGE + k;
}

/* Its own pages [a, b) are in (bm) and none of its others. */
static void check_own(const uint64_t *bm, unsigned a, unsigned b, const char *when)
{
    for (unsigned k = 0; k < NPAGES; k++) {
        int want = k >= a && k < b;
        CHECK(bit(bm, own(k)) == want, "%s: its page %u (GPA 0x%llx) is %s", when, k,
              (unsigned long long)own(k) * PAGE, want ? "not reported" : "reported");
    }
}

/* Collects into a fresh bitmap (the caller frees it); NULL on failure. */
static uint64_t *collect(long *n, const char *when)
{
    struct lv_err err = {""};
    uint64_t *b = bitmap_new();

    *n = lv_vm_dirty_collect(vm, b, &err);
    CHECK(*n >= 0, "%s: collect: %s", when, err.msg);
    CHECK(*n < 0 || *n == popcount(b), "%s: collect says %ld pages, the bitmap has %ld", when,
          *n, popcount(b));
    if (*n < 0) {
        free(b);
        return NULL;
    }
    return b;
}

/* ---- the guest ---- */

/* Sends (req) (NULL: nothing, only waits) to the guest's port 7 from
 * (fd) (-1: a socket of its own) and waits for an answer: 0 with it in
 * (ans), else -1. */
static int ask(int fd, const char *req, char *ans, size_t cap)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    int own_fd = fd < 0;
    struct pollfd pf;
    ssize_t n = -1;

    inet_pton(AF_INET, GUEST_IP, &to.sin_addr);
    if (own_fd)
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    pf = (struct pollfd){fd, POLLIN, 0};
    ans[0] = '\0';
    if (fd >= 0 && (!req || sendto(fd, req, strlen(req), 0, (struct sockaddr *)&to,
                                   sizeof(to)) == (ssize_t)strlen(req)) &&
        poll(&pf, 1, REPLY_MS) == 1)
        n = recv(fd, ans, cap - 1, 0);
    if (own_fd && fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    ans[n] = '\0';
    return 0;
}

/* Asks the guest to write its pages [a, b) with (v). */
static int guest_write(unsigned a, unsigned b, unsigned v)
{
    char req[64], want[64], ans[128];

    snprintf(req, sizeof(req), "w %u %u %u", a, b, v);
    snprintf(want, sizeof(want), "wrote %u %u", a, b);
    int rc = ask(-1, req, ans, sizeof(ans));
    CHECK(rc == 0 && !strcmp(ans, want), "\"%s\" answered \"%s\"", req, ans);
    return rc == 0 && !strcmp(ans, want) ? 0 : -1;
}

/* Waits for the guest's line about its pages: 0, or -1 after a FAIL. */
static int wait_up(void)
{
    const char *l = NULL;

    for (int t = 0; t < UP_MS / 100 && !(l = strstr(console(), "dirty: pages ")); t++) {
        if (vm_ended())
            break;
        lvt_sleep_ms(100);
    }
    l = strstr(console(), "dirty: pages ");
    CHECK(l && sscanf(l, "dirty: pages 0x%" SCNx64 " n %u rxused 0x%" SCNx64 " devmem 0x%" SCNx64,
                      &g.pages, &g.n, &g.rxused, &g.devmem) == 4,
          "the guest never said where its pages are");
    if (!l)
        return -1;
    CHECK(g.n == NPAGES && g.pages % PAGE == 0 && g.pages + NPAGES * PAGE <= g.devmem &&
          g.rxused >= g.devmem && g.devmem <= MEM, "pages 0x%llx n %u rxused 0x%llx devmem "
          "0x%llx", (unsigned long long)g.pages, g.n, (unsigned long long)g.rxused,
          (unsigned long long)g.devmem);
    return lvt_failures ? -1 : 0;
}

static int make_vm(int tap_fd)
{
    struct lv_vm_nic nic = {.tap_fd = tap_fd, .ip = inet_addr(GUEST_IP),
                            .netmask = inet_addr("255.255.255.0"), .gw = inet_addr(HOST_IP)};
    struct lv_vm_config cfg = {.mem_size = MEM, .console_fd = con_fd, .nnics = 1, .nics = &nic};
    struct lv_err err = {""};

    memcpy(nic.mac, mac, 6);
    if (lv_vm_create(&vm, &kvm, &cfg, &err) < 0) {
        CHECK(0, "lv_vm_create: %s", err.msg);
        return -1;
    }
    CHECK(lv_vm_dirty_words(vm) == MEM / PAGE / 64, "%zu words for %u bytes",
          lv_vm_dirty_words(vm), MEM);
    return 0;
}

static int boot(const char *gdir, int tap_fd)
{
    struct lv_err err = {""};
    struct lv_image im;
    char path[PATH_MAX];
    int rc;

    snprintf(path, sizeof(path), "%s/dirty.elf", gdir);
    if (make_vm(tap_fd) < 0)
        return -1;
    if (lv_image_open(path, &im, &err) < 0) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    rc = lv_vm_load_image(vm, &im, &err);
    lv_image_close(&im);
    if (rc == 0)
        rc = lv_vm_start(vm, &err);
    CHECK(rc == 0, "load, start: %s", err.msg);
    return rc ? -1 : wait_up();
}

/* ---- the steps ---- */

static void step_refusals(void)
{
    struct lv_err err = {""};
    uint64_t *b = bitmap_new();
    long n = lv_vm_dirty_collect(vm, b, &err);

    CHECK(n == -EINVAL && strstr(err.msg, "not on"), "collect before start: %ld %s", n, err.msg);
    CHECK(popcount(b) == 0, "a refused collect set bits");
    free(b);
    CHECK(lv_vm_dirty_start(vm, &err) == 0, "start: %s", err.msg);
    CHECK(lv_vm_dirty_start(vm, &err) == -EALREADY, "a second start: %s", err.msg);
}

static void step_guest_writes(void)
{
    struct lv_err err = {""};
    long n, again;
    uint64_t *b;

    if (guest_write(2, 5, 1) < 0 || !(b = collect(&n, "guest writes")))
        return;
    check_own(b, 2, 5, "after \"w 2 5 1\"");
    printf("guest writes: %ld pages\n", n);
    /* into the same bitmap: only bits it does not have yet count */
    long before = popcount(b);
    again = lv_vm_dirty_collect(vm, b, &err);
    CHECK(again >= 0 && again == popcount(b) - before, "collect into a full bitmap: %ld new, "
          "%ld - %ld in the bitmap (%s)", again, popcount(b), before, err.msg);
    free(b);
}

static void step_idle(void)
{
    long n;
    uint64_t *b = collect(&n, "idle");

    if (!b)
        return;
    check_own(b, 0, 0, "idle");
    printf("idle: %ld pages\n", n);
    CHECK(n <= IDLE_PAGES, "an idle guest wrote %ld pages", n);
    free(b);
}

static uint64_t rx_frames(void)
{
    struct lv_vnet_stats st;

    memset(&st, 0, sizeof(st));
    CHECK(lv_vm_nic_stats(vm, 0, &st) == 0, "NIC stats");
    return st.rx_frames;
}

/* A page of guest RAM below the VMM's memory, not the guest's own. */
static long heap_pages(const uint64_t *b)
{
    long n = 0;

    for (uint64_t p = 0; p < g.devmem / PAGE; p++)
        n += bit(b, p) && !(p >= own(0) && p < own(NPAGES));
    return n;
}

static void step_device_writes(void)
{
    struct lv_err err = {""};
    char ans[128];
    long n;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    uint64_t *b, rx0;

    inet_pton(AF_INET, GUEST_IP, &to.sin_addr);
    if (fd < 0 || lv_vm_pause(vm, &err) < 0) {
        CHECK(0, "socket, pause: %s", err.msg);
        return;
    }
    free(collect(&n, "paused")); /* what it wrote before it stopped */
    rx0 = rx_frames();
    CHECK(sendto(fd, "?", 1, 0, (struct sockaddr *)&to, sizeof(to)) == 1, "send");
    for (int t = 0; t < REPLY_MS / 10 && rx_frames() == rx0; t++) /* bounded: 60 s */
        lvt_sleep_ms(10);
    CHECK(rx_frames() > rx0, "no frame came in while paused");
    b = collect(&n, "frame received while paused");
    if (b) {
        printf("device writes: %ld pages, %ld of them below the VMM's memory\n", n,
               heap_pages(b));
        CHECK(bit(b, g.rxused / PAGE), "the receive used ring's page (GPA 0x%llx) is not "
              "reported", (unsigned long long)g.rxused);
        CHECK(heap_pages(b) >= 1, "no receive buffer page (below GPA 0x%llx) is reported",
              (unsigned long long)g.devmem);
        check_own(b, 0, 0, "paused");
        free(b);
    }
    CHECK(lv_vm_unpause(vm, &err) == 0, "unpause: %s", err.msg);
    CHECK(ask(fd, NULL, ans, sizeof(ans)) == 0 && !strcmp(ans, "idle"),
          "the request sent while paused answered \"%s\"", ans);
    close(fd);
}

static void step_restart(void)
{
    struct lv_err err = {""};
    uint64_t *b = bitmap_new();
    long n;

    lv_vm_dirty_stop(vm);
    n = lv_vm_dirty_collect(vm, b, &err);
    CHECK(n == -EINVAL, "collect after stop: %ld %s", n, err.msg);
    free(b);
    lv_vm_dirty_stop(vm); /* harmless */
    if (lv_vm_dirty_start(vm, &err) < 0) {
        CHECK(0, "start again: %s", err.msg);
        return;
    }
    if (guest_write(0, 1, 2) < 0 || !(b = collect(&n, "restarted")))
        return;
    check_own(b, 0, 1, "after a restart and \"w 0 1 2\"");
    free(b);
    lv_vm_dirty_stop(vm);
}

static int open_file(const char *name, int flags)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return open(p, flags | O_CLOEXEC, 0600);
}

static void remove_files(void)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/state", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/mem", dir);
    unlink(p);
    rmdir(dir);
}

/* Saves the VM, destroys it and restores the snapshot on (tap_fd). */
static int save_restore(int tap_fd)
{
    struct lv_err err = {""};
    struct lv_snap *s = NULL;
    int sfd = open_file("state", O_RDWR | O_CREAT | O_TRUNC);
    int mfd = open_file("mem", O_RDWR | O_CREAT | O_TRUNC);
    int rc = sfd < 0 || mfd < 0 ? -EIO : lv_vm_pause(vm, &err);

    if (!rc)
        rc = lv_vm_save(vm, sfd, mfd, NULL, &err);
    if (!rc)
        rc = lv_snap_open(&s, sfd, mfd, &err);
    CHECK(rc == 0, "save, open: %s", err.msg);
    if (sfd >= 0)
        close(sfd);
    if (mfd >= 0)
        close(mfd);
    lv_vm_destroy(&vm);
    if (!rc)
        rc = make_vm(tap_fd);
    if (!rc && (rc = lv_vm_restore(vm, s, &err)) == 0)
        rc = lv_vm_start(vm, &err);
    CHECK(rc == 0, "restore, start: %s", err.msg);
    lv_snap_close(&s);
    return rc;
}

static void step_restored(int tap_fd)
{
    struct lv_err err = {""};
    char ans[128];
    uint64_t *b;
    long n;

    if (save_restore(tap_fd) < 0)
        return;
    /* the restored guest answers (its ARP announcement went out first) */
    CHECK(ask(-1, "?", ans, sizeof(ans)) == 0 && !strcmp(ans, "idle"), "the restored guest "
          "answered \"%s\"", ans);
    if (lv_vm_dirty_start(vm, &err) < 0) {
        CHECK(0, "start on a restored VM: %s", err.msg);
        return;
    }
    if (guest_write(10, 12, 3) < 0 || !(b = collect(&n, "restored")))
        return;
    check_own(b, 10, 12, "restored, after \"w 10 12 3\"");
    printf("restored: %ld pages\n", n);
    free(b);
    lv_vm_dirty_stop(vm);
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
        fprintf(stderr, "usage: test_dirty GUEST_DIR\n");
        return 2;
    }
    lvt_require_kvm();
    lvt_require_root("test_dirty", "a network namespace and a tap");
    if (!ip_bin || lvt_private_netns(why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: %s\n", ip_bin ? why : "no ip command");
        return 1;
    }
    con_fd = memfd_create("console", MFD_CLOEXEC);
    if (con_fd < 0 || !mkdtemp(dir) || lv_kvm_open(&kvm, &err) < 0 ||
        lv_tap_open(TAP, &tap, &err) < 0) {
        fprintf(stderr, "FAIL: setup: %s\n", err.msg[0] ? err.msg : strerror(errno));
        return 1;
    }
    if (lvt_ip(&tool, ip_bin, "link set %s up", TAP) ||
        lvt_ip(&tool, ip_bin, "addr add %s/24 dev %s", HOST_IP, TAP)) {
        fprintf(stderr, "FAIL: tap setup\n");
        return 1;
    }
    if (boot(argv[1], tap.fd) == 0) {
        step_refusals();
        step_guest_writes();
        step_idle();
        step_device_writes();
        step_restart();
        step_restored(tap.fd);
    }
    vm_end();
    remove_files();
    lv_tap_close(&tap);
    lv_kvm_close(&kvm);
    return lvt_done("test_dirty");
}
