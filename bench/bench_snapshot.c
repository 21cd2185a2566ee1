/*
 * bench_snapshot.c: snapshots through the library, in one process.
 *
 *   bench_snapshot COUNTER_ELF [N]
 *
 * Root only. In a network namespace of its own: bridge lvbsnap0
 * (10.97.0.1/24); guest/apps/counter booted on a tap (10.97.0.2), asked
 * once, paused; then
 *   save:             N saves of it (lv_vm_save) into files on /dev/shm;
 *   restore_to_start: N restores into a waiting shell (made and warmed
 *                     beforehand, untimed: a pool shell), lv_vm_restore
 *                     (the memory file mapped copy-on-write) +
 *                     lv_vm_start;
 *   restore_to_reply: from the same start to the first UDP reply of the
 *                     restored guest (polled every 100 us);
 *   copy_to_start, copy_to_reply: the same with lv_vm_restore_copy (the
 *                     memory file read into the shell's RAM), the two
 *                     kinds taking turns;
 * each with this process's minor page faults over the restore and the
 * first reply (the vCPU thread's first touches of guest pages count
 * there). Each shell is destroyed after its reply. Bounded waits.
 * The figures count only from the PVM machine (docs/benchmarks.md,
 * "Snapshots").
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/elf.h"
#include "lightvm/net.h"
#include "lightvm/snapshot.h"
#include "lightvm/vm.h"
#include "stats.h"

#define BRIDGE "lvbsnap0"
#define GUEST_IP "10.97.0.2"
#define MEM (16u << 20)
#define MAX_N 10000

static struct lv_kvm kvm;
static struct lv_nl *nl;

static long minflt(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* One UDP request to the guest, polled every 100 us for (ms): 0 on a reply. */
static int ask(int fd, int ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
    char buf[256];

    inet_pton(AF_INET, GUEST_IP, &sa.sin_addr);
    for (int t = 0; t < ms * 10; t++) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (t % 10000 == 0 && sendto(fd, "?", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) != 1)
            return -1;
        if (poll(&pf, 1, 0) == 1 && recv(fd, buf, sizeof(buf), 0) > 0)
            return 0;
        usleep(100);
    }
    return -1;
}

/* A VM on a new tap of the bridge; (mac) NULL: none (a shell). */
static int make_vm(struct lv_vm **vm, struct lv_tap *tap, const uint8_t *mac, int shell)
{
    struct lv_err e = {""};
    struct lv_vm_nic n = {0};
    struct lv_vm_config cfg = {.mem_size = MEM, .console_fd = 2, .nnics = 1, .nics = &n};
    int rc = lv_vif_open(nl, BRIDGE, 1, tap, &e);

    if (mac) {
        memcpy(n.mac, mac, 6);
        inet_pton(AF_INET, GUEST_IP, &n.ip);
        inet_pton(AF_INET, "255.255.255.0", &n.netmask);
    }
    n.tap_fd = tap->fd;
    if (!rc)
        rc = lv_vm_create(vm, &kvm, &cfg, &e);
    if (!rc && shell)
        rc = lv_vm_spawn_threads(*vm, &e);
    if (!rc && shell)
        rc = lv_vm_warm(*vm, 1u << 20, &e);
    if (rc)
        fprintf(stderr, "bench_snapshot: VM: %s\n", e.msg);
    return rc;
}

/* Boots counter, waits for its reply, saves it (N timed saves). */
static int boot_and_save(const char *elf, int n, int sock, double *save_us)
{
    static const uint8_t mac[6] = {0x02, 0x97, 0, 0, 0, 2};
    struct lv_tap tap = {-1, "", 0};
    struct lv_vm *vm = NULL;
    struct lv_image im;
    struct lv_err e = {""};
    int rc = make_vm(&vm, &tap, mac, 0);
    int sfd = open("/dev/shm/lvbsnap.state", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int mfd = open("/dev/shm/lvbsnap.mem", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (!rc && !(rc = lv_image_open(elf, &im, &e))) {
        rc = lv_vm_load_image(vm, &im, &e);
        lv_image_close(&im);
    }
    if (!rc)
        rc = lv_vm_start(vm, &e);
    if (!rc && (rc = ask(sock, 30000)) < 0)
        snprintf(e.msg, sizeof(e.msg), "the booted guest does not answer");
    if (!rc)
        rc = lv_vm_pause(vm, &e);
    for (int i = 0; !rc && i < n; i++) {
        double t0 = bench_now_us();
        rc = lv_vm_save(vm, sfd, mfd, NULL, &e);
        save_us[i] = bench_now_us() - t0;
    }
    if (rc)
        fprintf(stderr, "bench_snapshot: %s\n", e.msg);
    close(sfd);
    close(mfd);
    lv_vm_destroy(&vm);
    lv_tap_close(&tap);
    return rc;
}

/* One restore into a new warmed shell ((copy): by lv_vm_restore_copy),
 * timed to the start and to the first reply, with the faults over it. */
static int restore_one(const struct lv_snap *s, int copy, int sock, double *start_us,
                       double *reply_us, double *faults)
{
    struct lv_tap tap = {-1, "", 0};
    struct lv_vm *vm = NULL;
    struct lv_err e = {""};
    int rc = make_vm(&vm, &tap, NULL, 1);

    if (!rc) {
        long f0 = minflt();
        double t0 = bench_now_us();
        rc = copy ? lv_vm_restore_copy(vm, s, &e) : lv_vm_restore(vm, s, &e);
        if (!rc)
            rc = lv_vm_start(vm, &e);
        *start_us = bench_now_us() - t0;
        if (rc)
            fprintf(stderr, "bench_snapshot: restore: %s\n", e.msg);
        else if ((rc = ask(sock, 10000)) < 0)
            fprintf(stderr, "bench_snapshot: the restored guest does not answer\n");
        *reply_us = bench_now_us() - t0;
        *faults = (double)(minflt() - f0);
    }
    lv_vm_destroy(&vm);
    lv_tap_close(&tap);
    return rc;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 100, k = 0, sock = -1;
    static double save_us[MAX_N], start_us[2][MAX_N], reply_us[2][MAX_N], faults[2][MAX_N];
    static const char *const kind[2] = {"restore", "copy"};
    struct lv_snap *s = NULL;
    struct lv_err e = {""};
    unsigned port = 0;

    if (argc < 2 || n < 1 || n > MAX_N || unshare(CLONE_NEWNET) < 0 ||
        bench_bridge_up(BRIDGE, "10.97.0.1/24") < 0) {
        fprintf(stderr, "usage (root): bench_snapshot COUNTER_ELF [N 1..%d]\n", MAX_N);
        return 2;
    }
    sock = bench_probe_socket("10.97.0.1", &port);
    if (sock < 0 || lv_kvm_open(&kvm, &e) < 0 || lv_nl_open(&nl, &e) < 0) {
        fprintf(stderr, "bench_snapshot: setup: %s\n", e.msg);
        return 1;
    }
    if (boot_and_save(argv[1], n, sock, save_us) < 0)
        return 1;
    int sfd = open("/dev/shm/lvbsnap.state", O_RDONLY | O_CLOEXEC);
    int mfd = open("/dev/shm/lvbsnap.mem", O_RDONLY | O_CLOEXEC);
    if (lv_snap_open(&s, sfd, mfd, &e) < 0) {
        fprintf(stderr, "bench_snapshot: %s\n", e.msg);
        return 1;
    }
    close(sfd);
    close(mfd);
    for (int ok = 1; ok && k < n; k += ok) /* the two kinds take turns */
        for (int c = 0; ok && c < 2; c++)
            ok = restore_one(s, c, sock, &start_us[c][k], &reply_us[c][k], &faults[c][k]) == 0;
    bench_report("save", save_us, n);
    for (int c = 0; k && c < 2; c++) {
        char what[64];
        snprintf(what, sizeof(what), "%s_to_start", kind[c]);
        bench_report(what, start_us[c], k);
        snprintf(what, sizeof(what), "%s_to_reply", kind[c]);
        bench_report(what, reply_us[c], k);
        printf("%s_minflt median=%.0f p99=%.0f\n", kind[c], bench_median(faults[c], k),
               bench_p99(faults[c], k));
    }
    lv_snap_close(&s);
    unlink("/dev/shm/lvbsnap.state");
    unlink("/dev/shm/lvbsnap.mem");
    lv_nl_close(&nl);
    lv_kvm_close(&kvm);
    return k == n ? 0 : 1;
}
