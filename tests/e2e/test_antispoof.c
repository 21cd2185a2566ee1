/*
 * test_antispoof: the antispoof ruleset (lib/net/antispoof*.c) against
 * the real kernel, without KVM: frames written into taps of the test's own
 * (in a network namespace of its own) the way a guest writes them, and
 * the drop counters read back.
 *
 *   1. a sealed tap (lv_as_seal) drops every frame, counted as "other"
 *   2. once allowed (lv_as_allow) it drops exactly what a one-step
 *      install (lv_as_install) drops on another tap, by the same reasons:
 *      the VM's own IPv4 and ARP pass, a forged MAC, IP, ARP sender and
 *      anything not IPv4/ARP are dropped, each by its rule
 *   3. allowing with a slot that is gone (the chain removed, or sealed
 *      again) fails and changes nothing; sealing a tap twice replaces its
 *      chain; remove takes a sealed tap's chain
 *
 * Needs root (skips if not; fails under LIGHTVM_REQUIRE_KVM=1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lightvm/antispoof.h"
#include "lightvm/net.h"
#include "lvtest.h"

#define OWN_IP 0x0a4d0002u /* 10.77.0.2 */
static const uint8_t own_mac[6] = {0x02, 0, 0, 0x4d, 0, 2};
static struct lv_nft *nft;

enum { F_IP, F_ARP, F_MAC, F_FOREIGN_IP, F_FOREIGN_ARP, F_IPV6, NFRAMES };

/* Frame (kind) as the guest of tap (own_mac, OWN_IP) would write it,
 * behind the tap's virtio-net header, into (buf); its length. */
static size_t frame(int kind, uint8_t *buf)
{
    uint8_t *f = buf + LV_TAP_VNET_HDR_LEN, *p = f + 14;
    uint32_t ip = htonl(kind == F_FOREIGN_IP || kind == F_FOREIGN_ARP ? OWN_IP + 1 : OWN_IP);
    int arp = kind == F_ARP || kind == F_FOREIGN_ARP;

    memset(buf, 0, LV_TAP_VNET_HDR_LEN + 64);
    memset(f, 0xff, 6); /* broadcast */
    memcpy(f + 6, own_mac, 6);
    if (kind == F_MAC)
        f[11] ^= 0x10;
    f[12] = kind == F_IPV6 ? 0x86 : 0x08;
    f[13] = kind == F_IPV6 ? 0xdd : arp ? 0x06 : 0x00;
    if (arp) { /* request: Ethernet/IPv4, sender MAC and IP */
        static const uint8_t hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1};
        memcpy(p, hdr, 8);
        memcpy(p + 8, f + 6, 6);
        memcpy(p + 14, &ip, 4);
    } else if (kind == F_IPV6) {
        p[0] = 0x60;
    } else { /* IPv4 header, source at 12 */
        p[0] = 0x45;
        p[3] = 46;
        p[8] = 64;
        p[9] = 17;
        memcpy(p + 12, &ip, 4);
    }
    return LV_TAP_VNET_HDR_LEN + 60;
}

/* Writes frame (kind) into tap (t): what its guest would send. */
static void send_frame(const struct lv_tap *t, int kind)
{
    uint8_t buf[LV_TAP_VNET_HDR_LEN + 64];
    size_t len = frame(kind, buf);

    CHECK(write(t->fd, buf, len) == (ssize_t)len, "write frame %d into %s: %s", kind, t->name,
          strerror(errno));
}

static struct lv_as_vif vif_of(const struct lv_tap *t)
{
    struct lv_as_vif v;

    memset(&v, 0, sizeof(v));
    v.ifindex = t->ifindex;
    memcpy(v.ifname, t->name, sizeof(v.ifname));
    memcpy(v.mac, own_mac, 6);
    v.ip = htonl(OWN_IP);
    return v;
}

/* Tap (t)'s drop counters equal mac, ip, arp, other ((what) for messages). */
static void expect_drops(const struct lv_tap *t, uint64_t mac, uint64_t ip, uint64_t arp,
                         uint64_t other, const char *what)
{
    struct lv_as_drops d = {0};
    struct lv_err e = {""};

    CHECK(lv_as_read(nft, t->ifindex, &d, &e) == 0, "%s: read: %s", what, e.msg);
    CHECK(d.mac == mac && d.ip == ip && d.arp == arp && d.other == other,
          "%s: dropped mac %llu ip %llu arp %llu other %llu (want %llu %llu %llu %llu)", what,
          (unsigned long long)d.mac, (unsigned long long)d.ip, (unsigned long long)d.arp,
          (unsigned long long)d.other, (unsigned long long)mac, (unsigned long long)ip,
          (unsigned long long)arp, (unsigned long long)other);
}

/* Every kind of frame once into (t). */
static void send_all(const struct lv_tap *t)
{
    for (int k = 0; k < NFRAMES; k++)
        send_frame(t, k);
}

static void open_tap(struct lv_nl *nl, struct lv_tap *t)
{
    struct lv_err e = {""};

    CHECK(lv_tap_open(NULL, t, &e) == 0 && lv_link_set(nl, t->name, NULL, 0, 1, &e) == 0,
          "tap: %s", e.msg);
}

/* 1, 2: seal, then allow, against a one-step install. */
static void test_seal_allow(struct lv_nl *nl)
{
    struct lv_tap a, b;
    struct lv_err e = {""};
    uint64_t slot = 0;

    open_tap(nl, &a);
    open_tap(nl, &b);
    struct lv_as_vif va = vif_of(&a), vb = vif_of(&b);
    CHECK(lv_as_seal(nft, &va, 1, &slot, &e) == 0 && slot, "seal %s: %s", a.name, e.msg);
    CHECK(lv_as_present(nft, a.ifindex, NULL) == 1, "a sealed tap has no chain");
    send_all(&a);
    expect_drops(&a, 0, 0, 0, NFRAMES, "sealed");
    CHECK(lv_as_allow(nft, &va, &slot, 1, &e) == 0, "allow %s: %s", a.name, e.msg);
    send_all(&a);
    /* own IPv4, own ARP pass; one of each forgery dropped by its rule */
    expect_drops(&a, 1, 1, 1, NFRAMES + 1, "sealed, then allowed");
    CHECK(lv_as_install(nft, &vb, 1, &e) == 0, "install %s: %s", b.name, e.msg);
    send_all(&b);
    expect_drops(&b, 1, 1, 1, 1, "installed in one step");
    lv_tap_close(&a);
    lv_tap_close(&b);
    int ix[2] = {va.ifindex, vb.ifindex};
    CHECK(lv_as_remove(nft, ix, 2, &e) == 0 && lv_as_present(nft, ix[0], NULL) == 0 &&
          lv_as_present(nft, ix[1], NULL) == 0, "remove: %s", e.msg);
}

/* 3: slots that are gone, a second seal, remove. */
static void test_stale(struct lv_nl *nl)
{
    struct lv_tap a;
    struct lv_err e = {""};
    uint64_t slot = 0, slot2 = 0, zero = 0;

    open_tap(nl, &a);
    struct lv_as_vif v = vif_of(&a);
    CHECK(lv_as_allow(nft, &v, &zero, 1, &e) == -EINVAL, "allow without a seal: %s", e.msg);
    CHECK(lv_as_seal(nft, &v, 1, &slot, &e) == 0, "seal: %s", e.msg);
    CHECK(lv_as_seal(nft, &v, 1, &slot2, &e) == 0 && slot2 && slot2 != slot,
          "seal again: %s", e.msg);
    e.msg[0] = '\0';
    CHECK(lv_as_allow(nft, &v, &slot, 1, &e) < 0 && e.msg[0],
          "allow with the slot of a replaced seal succeeded");
    send_all(&a);
    expect_drops(&a, 0, 0, 0, NFRAMES, "after a failed allow");
    CHECK(lv_as_allow(nft, &v, &slot2, 1, &e) == 0, "allow: %s", e.msg);
    CHECK(lv_as_remove(nft, &v.ifindex, 1, &e) == 0 &&
          lv_as_present(nft, v.ifindex, NULL) == 0, "remove: %s", e.msg);
    CHECK(lv_as_allow(nft, &v, &slot2, 1, &e) < 0 &&
          lv_as_present(nft, v.ifindex, NULL) == 0, "allow after remove made rules");
    CHECK(lv_as_seal(nft, &v, 1, &slot, &e) == 0 &&
          lv_as_remove(nft, &v.ifindex, 1, &e) == 0 &&
          lv_as_present(nft, v.ifindex, NULL) == 0, "remove a sealed tap: %s", e.msg);
    lv_tap_close(&a);
}

int main(void)
{
    struct lv_err e = {""};
    struct lv_nl *nl = NULL;
    char why[256];

    lvt_require_root("test_antispoof", "network namespaces, taps, nftables");
    if (lvt_private_netns(why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: private network namespace: %s\n", why);
        return 1;
    }
    CHECK(lv_nl_open(&nl, &e) == 0 && lv_nft_open(&nft, &e) == 0, "netlink: %s", e.msg);
    if (nl && nft) {
        test_seal_allow(nl);
        test_stale(nl);
    }
    lv_nft_close(&nft);
    lv_nl_close(&nl);
    return lvt_done("test_antispoof");
}
