/*
 * test_snapshot.c: save and restore of a real guest (guest/apps/counter:
 * a UDP service on port 7 that replies "count N uptime_ms M gen G ip A")
 * on taps of a bridge in a network namespace of the test's own.
 *
 *   1. boot counter, ask it three times (count 1..3), pause, save, destroy;
 *   2. restore into a pool-style shell (threads spawned and warmed, no
 *      image) on a new tap, without a NIC identity (the snapshot's MAC and
 *      IP stay): it answers count 4, generation 1, a clock that did not go
 *      back; that restored VM saved again (not over its own memory file)
 *      and restored: count 6, generation 2;
 *   3. clones: the same snapshot restored CLONES times at once, each with
 *      its own MAC and IP (lv_vm_set_nic; one into a VM whose threads
 *      lv_vm_start makes): each answers from its IP with count 4,
 *      generation 1, and over TCP with an initial sequence number of its
 *      own;
 *   4. a restore by copy (lv_vm_restore_copy) into a shell, the files
 *      removed after it: count 4, generation 1, its RAM its own memfd (no
 *      mapping of a file; lv_mig_local_ok); a memory file cut short after
 *      the open refused;
 *   5. refusals: a corrupted header, a truncated state file, a wrong
 *      version, a wrong host kind, a short memory file, a VM of another
 *      memory size: each refused with its message, the VM destroyable,
 *      no fd and no mapping of the files left behind.
 *
 * LIGHTVM_SNAP_KEEP=DIR copies the saved state file there (the fuzz
 * target's seeds are made that way).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../lib/snapshot/snap_impl.h" /* lv_crc32c: patched files stay checksummed */
#include "lightvm/elf.h"
#include "lightvm/migrate.h"
#include "lightvm/net.h"
#include "lightvm/snapshot.h"
#include "lightvm/vm.h"
#include "lvtest.h"
#include "migvm.h"

#define MEM (16u << 20)
#define CLONES 3

static struct migvm mv = {
    .bridge = "lvsnap0", .vm_ip = "10.9.0.2", .gw = "10.9.0.1", .mem = MEM};
static char dir[] = "/tmp/lvsnapXXXXXX";

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* Mappings of this process of a file in the test's directory (a
 * restored VM's memory file). */
static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    int n = 0;

    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, dir) != NULL;
    if (f)
        fclose(f);
    return n;
}

static int open_file(const char *name, int flags)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return open(p, flags | O_CLOEXEC, 0600);
}

/* Boots counter, asks it three times, saves it; 0 on success. */
static int boot_and_save(struct lvt_reply *last)
{
    struct lv_err e = {""};
    struct box b;
    int rc, sfd, mfd;

    if (boot(&mv, &b, "counter", NULL) < 0) {
        box_free(&b);
        return -1;
    }
    rc = 0;
    for (unsigned long k = 1; !rc && k <= 3; k++) {
        if (!lvt_counter_ask("10.9.0.2", k == 1 ? 60 : 5, last) || last->count != k)
            rc = -1;
        CHECK(!rc, "the booted counter: reply %lu: count %lu", k, last->count);
    }
    CHECK(!rc && last->gen == 0 && !strcmp(last->ip, "10.9.0.2"), "gen %lu ip %s", last->gen,
          last->ip);
    if (!rc && (rc = lv_vm_pause(b.vm, &e)) < 0)
        CHECK(0, "pause: %s", e.msg);
    sfd = open_file("state", O_RDWR | O_CREAT | O_TRUNC);
    mfd = open_file("mem", O_RDWR | O_CREAT | O_TRUNC);
    if (!rc && (rc = lv_vm_save(b.vm, sfd, mfd, NULL, &e)) < 0)
        CHECK(0, "save: %s", e.msg);
    /* a save of a VM that is not paused is refused */
    if (!rc) {
        CHECK(lv_vm_unpause(b.vm, &e) == 0, "unpause: %s", e.msg);
        CHECK(lv_vm_save(b.vm, sfd, mfd, NULL, &e) == -EINVAL && strstr(e.msg, "paused"),
              "a running VM saved: %s", e.msg);
    }
    struct stat st;
    CHECK(fstat(mfd, &st) == 0 && (uint64_t)st.st_size == MEM, "memory file of %lld bytes",
          (long long)st.st_size);
    printf("memory file: %lld bytes, %lld allocated\n", (long long)st.st_size,
           (long long)st.st_blocks * 512);
    CHECK((uint64_t)st.st_blocks * 512 < MEM / 2, "the memory file is not sparse");
    close(sfd);
    close(mfd);
    box_free(&b);
    return rc;
}

static void keep_state(const char *name)
{
    const char *keep = getenv("LIGHTVM_SNAP_KEEP");
    char p[PATH_MAX], buf[65536];

    if (!keep || !*keep)
        return;
    snprintf(p, sizeof(p), "%s/%s", keep, name);
    int in = open_file(name, O_RDONLY), out = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
        CHECK(write(out, buf, (size_t)n) == n, "keep: write");
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
}

static int snap_open(struct lv_snap **s, const char *state, const char *mem, struct lv_err *e)
{
    int sfd = open_file(state, O_RDONLY), mfd = open_file(mem, O_RDONLY);
    int rc = lv_snap_open(s, sfd, mfd, e);

    close(sfd); /* lv_snap_open keeps its own */
    close(mfd);
    return rc;
}

/* Restores (s) into a new box with identity (id) (NULL: the snapshot's);
 * (shell): its threads made and warmed first, else made by lv_vm_start. */
static int restore_box(struct box *b, const struct lv_snap *s, const struct lv_vm_nic *id,
                       int shell)
{
    struct lv_err e = {""};
    int rc = box_make(&mv, b, NULL, MEM, shell);

    if (!rc && id && (rc = lv_vm_set_nic(b->vm, 0, id, &e)) < 0)
        CHECK(0, "set_nic: %s", e.msg);
    if (!rc && (rc = lv_vm_restore(b->vm, s, &e)) < 0)
        CHECK(0, "restore: %s", e.msg);
    if (!rc && (rc = lv_vm_start(b->vm, &e)) < 0)
        CHECK(0, "start after restore: %s", e.msg);
    return rc;
}

/* Saves the running VM of (b) as (state, mem); 0 on success. */
static int save_box(struct box *b, const char *state, const char *mem)
{
    struct lv_err e = {""};
    int sfd = open_file(state, O_RDWR | O_CREAT | O_TRUNC);
    int mfd = open_file(mem, O_RDWR | O_CREAT | O_TRUNC);
    int rc = lv_vm_pause(b->vm, &e);

    if (!rc)
        rc = lv_vm_save(b->vm, sfd, mfd, NULL, &e);
    CHECK(rc == 0, "save %s: %s", state, e.msg);
    close(sfd);
    close(mfd);
    return rc;
}

/* Restores (s) without an identity: the snapshot's address answers with
 * the count after (count), generation (gen), a clock not before
 * (uptime_ms). Then (again): saves that restored VM (its memory a private
 * mapping of the first memory file: the file's pages and those it wrote)
 * and restores that too, one generation later. */
static void restore_check(const struct lv_snap *s, unsigned long count, unsigned long gen,
                          unsigned long uptime_ms, int again)
{
    struct lvt_reply r = {0};
    struct lv_snap *s2 = NULL;
    struct lv_err e = {""};
    struct box b;
    int ok = restore_box(&b, s, NULL, 1) == 0 && lvt_counter_ask("10.9.0.2", 30, &r);

    CHECK(ok, "the restored VM (generation %lu) does not answer", gen);
    if (ok) {
        CHECK(r.count == count + 1, "restored: count %lu after %lu", r.count, count);
        CHECK(r.gen == gen, "restored: generation %lu, want %lu", r.gen, gen);
        CHECK(r.uptime_ms >= uptime_ms, "restored: clock went back: %lu < %lu ms", r.uptime_ms,
              uptime_ms);
        CHECK(!strcmp(r.ip, "10.9.0.2"), "restored: ip %s", r.ip);
        CHECK(count_maps() >= 1, "the restored VM's RAM is not a mapping of its memory file");
        ok = lvt_counter_ask("10.9.0.2", 5, &r) && r.count == count + 2;
        CHECK(ok, "then count %lu", r.count);
    }
    if (ok && again) {
        /* not over the memory file it runs from */
        int sfd = open_file("state_x", O_RDWR | O_CREAT | O_TRUNC), mfd = open_file("mem", O_RDWR);
        CHECK(lv_vm_pause(b.vm, &e) == 0, "pause: %s", e.msg);
        CHECK(lv_vm_save(b.vm, sfd, mfd, NULL, &e) == -EINVAL && strstr(e.msg, "restored from"),
              "a save over the VM's own memory file: %s", e.msg);
        CHECK(lv_vm_unpause(b.vm, &e) == 0, "unpause: %s", e.msg);
        close(sfd);
        close(mfd);
    }
    if (ok && again && save_box(&b, "state2", "mem2") == 0) {
        box_free(&b);
        if (snap_open(&s2, "state2", "mem2", &e) == 0)
            restore_check(s2, r.count, gen + 1, r.uptime_ms, 0);
        else
            CHECK(0, "open the snapshot of a restored VM: %s", e.msg);
        lv_snap_close(&s2);
        return;
    }
    box_free(&b);
}

static void test_restore(const struct lv_snap *s, const struct lvt_reply *before)
{
    restore_check(s, before->count, 1, before->uptime_ms, 1);
}

static void test_clones(const struct lv_snap *s, const struct lvt_reply *before)
{
    struct box b[CLONES];
    char ip[CLONES][16];

    for (int i = 0; i < CLONES; i++) {
        struct lv_vm_nic id = {.mac = {0x02, 0x20, 0, 0, 0, (uint8_t)(i + 1)},
                               .netmask = lvt_ip4("255.255.255.0"), .gw = lvt_ip4("10.9.0.1")};
        snprintf(ip[i], sizeof(ip[i]), "10.9.0.%u", 20u + (unsigned)i % 200u);
        id.ip = lvt_ip4(ip[i]);
        /* clone 0 into a VM without threads yet, the others into shells;
         * a failure is CHECKed there; each is destroyed below */
        restore_box(&b[i], s, &id, i != 0);
    }
    for (int i = 0; i < CLONES; i++) {
        struct lvt_reply r;
        if (!b[i].vm || !lvt_counter_ask(ip[i], 30, &r)) {
            CHECK(0, "clone %d (%s) does not answer", i, ip[i]);
            continue;
        }
        CHECK(r.count == before->count + 1 && r.gen == 1 && !strcmp(r.ip, ip[i]),
              "clone %d: count %lu gen %lu ip %s", i, r.count, r.gen, r.ip);
    }
    /* their random state was reseeded: TCP initial sequence numbers differ */
    unsigned long isn[CLONES];
    for (int i = 0; i < CLONES; i++) {
        isn[i] = 0;
        CHECK(b[i].vm && lvt_counter_ask_tcp(ip[i], 5, &isn[i]), "clone %d: no TCP reply", i);
        for (int k = 0; k < i; k++)
            CHECK(!isn[i] || isn[i] != isn[k], "clones %d and %d chose the same ISN %lu", k, i,
                  isn[i]);
    }
    for (int i = 0; i < CLONES; i++)
        box_free(&b[i]);
}

static void patch_short(int fd);
static void copy_patch(const char *from, const char *to, void (*patch)(int fd));

/* 4: the copying restore (lv_vm_restore_copy) into a warmed shell, from
 * copies of the files removed once it returned: count 4, generation 1,
 * from RAM of its own (a memfd again: the local migration path takes
 * it), with no mapping of a snapshot file; then a memory file cut short
 * after lv_snap_open: refused, the VM destroyable. */
static void test_copy(const struct lvt_reply *before)
{
    struct lv_snap *s = NULL;
    struct lv_err e = {""};
    struct lvt_reply r = {0};
    char path[PATH_MAX];
    struct box b;

    copy_patch("state", "c_state", NULL);
    copy_patch("mem", "c_mem", NULL);
    if (snap_open(&s, "c_state", "c_mem", &e) < 0 || box_make(&mv, &b, NULL, MEM, 1) < 0) {
        CHECK(0, "copy: open or shell: %s", e.msg);
        lv_snap_close(&s);
        return;
    }
    int rc = lv_vm_restore_copy(b.vm, s, &e);
    CHECK(rc == 0, "restore by copy: %s", e.msg);
    lv_snap_close(&s);
    snprintf(path, sizeof(path), "%s/c_mem", dir);
    CHECK(unlink(path) == 0, "copy: remove the memory file");
    if (!rc && (rc = lv_vm_start(b.vm, &e)) < 0)
        CHECK(0, "start after a copy: %s", e.msg);
    CHECK(!rc && lvt_counter_ask("10.9.0.2", 30, &r) && r.count == before->count + 1 &&
              r.gen == 1,
          "the copied VM: count %lu (want %lu) gen %lu", r.count, before->count + 1, r.gen);
    CHECK(count_maps() == 0, "the copied VM maps a snapshot file");
    CHECK(!rc && lv_mig_local_ok(b.vm, &e) == 0, "the copied VM's RAM cannot be passed: %s",
          e.msg);
    box_free(&b);

    copy_patch("mem", "c_mem", NULL);
    if (snap_open(&s, "c_state", "c_mem", &e) == 0 && box_make(&mv, &b, NULL, MEM, 1) == 0) {
        int fd = open_file("c_mem", O_RDWR);
        patch_short(fd); /* after the open's size check */
        close(fd);
        rc = lv_vm_restore_copy(b.vm, s, &e);
        printf("refused as it should: %s\n", e.msg);
        CHECK(rc < 0 && strstr(e.msg, "changed since it was opened"),
              "a memory file cut after the open: %d \"%s\"", rc, e.msg);
        CHECK(lv_vm_start(b.vm, &e) < 0, "a VM whose copy failed started");
        box_free(&b);
    } else {
        CHECK(0, "copy: open or shell: %s", e.msg);
    }
    lv_snap_close(&s);
}

/* Copies file (from) to (to) in the test directory, then lets (patch)
 * change it. */
static void copy_patch(const char *from, const char *to, void (*patch)(int fd))
{
    int in = open_file(from, O_RDONLY), out = open_file(to, O_RDWR | O_CREAT | O_TRUNC);
    char buf[65536];
    ssize_t n;
    off_t off = 0;

    while (in >= 0 && out >= 0 && (n = pread(in, buf, sizeof(buf), off)) > 0) {
        /* sparse copy: skip zero blocks */
        int zero = 1;
        for (ssize_t k = 0; k < n && zero; k++)
            zero = !buf[k];
        if (!zero)
            CHECK(pwrite(out, buf, (size_t)n, off) == n, "copy: write");
        off += n;
    }
    CHECK(ftruncate(out, off) == 0, "copy: ftruncate");
    if (patch)
        patch(out);
    close(in);
    close(out);
}

static void patch_magic(int fd)
{
    CHECK(pwrite(fd, "X", 1, 0) == 1, "patch");
}

static void patch_truncate(int fd)
{
    CHECK(ftruncate(fd, 1000) == 0, "patch");
}

static void patch_version(int fd)
{
    uint8_t v[2] = {2, 0};
    CHECK(pwrite(fd, v, 2, 8) == 2, "patch");
}

/* Host kind (offset 16) flipped, the checksum made right again: the
 * header is valid, but the snapshot is of the other kind of host. */
static void patch_host(int fd)
{
    struct stat st;
    uint8_t *b;

    CHECK(fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size)) != NULL, "patch");
    CHECK(pread(fd, b, (size_t)st.st_size, 0) == st.st_size, "patch: read");
    uint32_t crc = 0;
    b[16] = b[16] == LV_SNAP_HOST_PVM ? LV_SNAP_HOST_HW : LV_SNAP_HOST_PVM;
    crc = lv_crc32c(b + LV_SNAP_HDR_LEN, (size_t)st.st_size - LV_SNAP_HDR_LEN);
    for (int i = 0; i < 4; i++)
        b[48 + i] = (uint8_t)(crc >> (8 * i)); /* unchanged: the body is the same */
    CHECK(pwrite(fd, b, (size_t)st.st_size, 0) == st.st_size, "patch: write");
    free(b);
}

static void patch_short(int fd)
{
    CHECK(ftruncate(fd, MEM - 4096) == 0, "patch");
}

static void expect_open_refused(const char *state, const char *mem, const char *needle)
{
    struct lv_snap *s = (struct lv_snap *)1;
    struct lv_err e = {""};
    int rc = snap_open(&s, state, mem, &e);

    CHECK(rc < 0 && s == NULL && strstr(e.msg, needle), "%s/%s: rc %d \"%s\", want \"%s\"",
          state, mem, rc, e.msg, needle);
    printf("refused as it should: %s\n", e.msg);
}

/* A valid snapshot file that the VM refuses: the VM is destroyable after. */
static void expect_restore_refused(const char *state, uint64_t mem, const char *needle)
{
    struct lv_snap *s = NULL;
    struct lv_err e = {""};
    struct box b;

    if (snap_open(&s, state, "mem", &e) < 0) {
        CHECK(0, "open %s: %s", state, e.msg);
        return;
    }
    if (box_make(&mv, &b, NULL, mem, 1) == 0) {
        int rc = lv_vm_restore(b.vm, s, &e);
        CHECK(rc < 0 && strstr(e.msg, needle), "restore %s: rc %d \"%s\", want \"%s\"", state,
              rc, e.msg, needle);
        printf("refused as it should: %s\n", e.msg);
        CHECK(lv_vm_start(b.vm, &e) < 0, "a VM whose restore failed started");
    }
    box_free(&b);
    lv_snap_close(&s);
}

static void test_refusals(void)
{
    int fds = count_fds();

    copy_patch("state", "s_magic", patch_magic);
    copy_patch("state", "s_trunc", patch_truncate);
    copy_patch("state", "s_version", patch_version);
    copy_patch("state", "s_host", patch_host);
    copy_patch("mem", "m_short", patch_short);
    expect_open_refused("s_magic", "mem", "bad magic");
    expect_open_refused("s_trunc", "mem", "truncated");
    expect_open_refused("s_version", "mem", "format version 2.0");
    expect_open_refused("state", "m_short", "cut short");
    expect_restore_refused("s_host", MEM, "the snapshot was saved on");
    expect_restore_refused("state", MEM * 2, "bytes of memory");
    CHECK(count_fds() == fds, "fds: %d before the refusals, %d after", fds, count_fds());
    CHECK(count_maps() == 0, "%d mappings of the snapshot files left", count_maps());
}

int main(int argc, char **argv)
{
    struct lv_err e = {""};
    struct lvt_bg tool;
    struct lvt_reply before;
    struct lv_snap *s = NULL;

    if (migvm_open(&mv, "test_snapshot", argc, argv))
        return 1;
    if (!mkdtemp(dir)) {
        fprintf(stderr, "FAIL: setup: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int fds = count_fds();
    if (boot_and_save(&before) == 0) {
        keep_state("state");
        if (snap_open(&s, "state", "mem", &e) < 0)
            CHECK(0, "open the snapshot: %s", e.msg);
    }
    if (s) {
        test_restore(s, &before);
        keep_state("state2");
        test_clones(s, &before);
        lv_snap_close(&s);
        test_copy(&before);
        test_refusals();
    }
    CHECK(count_fds() == fds, "fds: %d before, %d after", fds, count_fds());
    CHECK(count_maps() == 0, "%d mappings of the snapshot files left", count_maps());
    migvm_close(&mv);
    lvt_rm_rf(&tool, dir);
    return lvt_done("test_snapshot");
}
