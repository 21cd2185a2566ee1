/* fuzz_devstate.c: libFuzzer target for a snapshot's device state, which
 * comes from a file: lv_devices_restore (lib/core/devices.c) and under it
 * virtio-net's, the virtio-mmio transport's and the virtqueues' restore
 * (lib/virtio/net.c, mmio.c, virtqueue.c), then the first work of a
 * restored device (lv_devices_resume on the I/O thread's path).
 *
 * No KVM: guest RAM in a buffer, a VM whose devices are set up by
 * lv_devices_setup (noxs preset, no KVM wiring), a SOCK_SEQPACKET
 * socketpair in place of each tap. The input:
 *   u8  bit 0: two NICs (else one); bit 1: the NICs have no MAC (a shell)
 *   u8  n, then n times u32 gpa, u16 value: guest RAM written first (the
 *       snapshot's memory, as far as the rings' indices go)
 *   the rest: the state, as lv_devices_save writes it
 * Checked: a refused state gives -EINVAL or -EFAULT with a message and
 * leaves every device as it was (its saved state unchanged); an accepted
 * one saves again, and that saved state restores and saves identically;
 * resuming it serves the queues without a crash (a bad ring is -EINVAL
 * or -EFAULT with a message); ASan/UBSan see every access.
 * Seeds (tests/fuzz/corpus/fuzz_devstate) are real saved states, written
 * by test_devstate with LIGHTVM_DEVSTATE_SEEDS=DIR. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/vm_impl.h"

#define RAM (1u << 20)
#define STATE_MAX (2u + LV_DEVS_MAX * (8u + LV_DEV_STATE_MAX))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get(const uint8_t **p, size_t *n, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
        v |= (uint64_t)(*p)[0] << (8 * i);
    return v;
}

static size_t save(struct lv_vm *vm, uint8_t *buf)
{
    struct lv_err err = {""};
    size_t len;

    if (lv_devices_save(vm, buf, STATE_MAX, &len, &err) < 0)
        abort(); /* a device that is not mid-operation always saves */
    return len;
}

/* The restored devices' first work: bad rings may stop the VM, cleanly. */
static void resume(struct lv_vm *vm, int *peer, unsigned n)
{
    struct lv_err err = {""};
    uint8_t frame[128] = {0};

    if (lv_devices_resume(vm, &err) < 0)
        abort();
    for (int k = 0; k < 4; k++) {
        int rc = lv_devices_poll(vm, 0, &err);
        if (rc < 0 && ((rc != -EINVAL && rc != -EFAULT) || !err.msg[0]))
            abort();
        if (rc > 0)
            abort(); /* nobody asked the I/O thread to stop */
        if (rc < 0)
            return;
        for (unsigned i = 0; i < n && k == 0; i++)
            if (send(peer[i], frame, sizeof(frame), MSG_DONTWAIT) < 0) {
                /* full: the network drops it */
            }
    }
}

static void check(struct lv_vm *vm, const uint8_t *state, size_t len, int *peer, unsigned n)
{
    static uint8_t before[STATE_MAX], after[STATE_MAX], again[STATE_MAX];
    struct lv_err err = {""};
    size_t n0 = save(vm, before), n1, n2;
    int rc = lv_devices_restore(vm, state, len, &err);

    if (rc < 0) {
        if ((rc != -EINVAL && rc != -EFAULT) || !err.msg[0])
            abort();
        n1 = save(vm, after);
        if (n1 != n0 || memcmp(before, after, n0))
            abort(); /* a refused state changed a device */
        return;
    }
    if (rc > 0)
        abort();
    n1 = save(vm, after);
    if (lv_devices_restore(vm, after, n1, &err) < 0)
        abort(); /* what a restored device saves restores */
    n2 = save(vm, again);
    if (n2 != n1 || memcmp(after, again, n1))
        abort();
    resume(vm, peer, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram[RAM] __attribute__((aligned(4096)));
    static struct lv_vm vm;
    struct lv_vm_config cfg = {.mem_size = RAM};
    struct lv_vm_nic nics[2];
    struct lv_err err = {""};
    int tap[2][2], peer[2];
    unsigned flags, writes;

    flags = (unsigned)get(&data, &size, 1);
    writes = (unsigned)get(&data, &size, 1);
    memset(ram, 0, sizeof(ram));
    for (unsigned k = 0; k < writes; k++) {
        uint32_t gpa = (uint32_t)get(&data, &size, 4) % (RAM - 1);
        uint16_t v = (uint16_t)get(&data, &size, 2);
        memcpy(ram + gpa, &v, 2);
    }
    memset(&vm, 0, sizeof(vm));
    vm.vm_fd = vm.vcpu_fd = vm.done_fd = vm.epfd = vm.io_stop_fd = -1;
    vm.mem = (struct lv_mem){.fd = -1, .base = ram, .size = RAM};
    pthread_mutex_init(&vm.fail_lock, NULL);
    pthread_mutex_init(&vm.run_lock, NULL);
    pthread_cond_init(&vm.run_cond, NULL);
    cfg.nnics = 1 + (flags & 1);
    for (unsigned i = 0; i < cfg.nnics; i++) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, tap[i]) < 0)
            abort();
        memset(&nics[i], 0, sizeof(nics[i]));
        nics[i].tap_fd = tap[i][0];
        peer[i] = tap[i][1];
        if (!(flags & 2)) {
            nics[i].mac[0] = 2;
            nics[i].mac[5] = (uint8_t)(i + 1);
        }
    }
    cfg.nics = nics;
    if (lv_devices_setup(&vm, &cfg, &err) < 0)
        abort(); /* a valid configuration */

    check(&vm, data, size, peer, cfg.nnics);

    lv_devices_destroy(&vm);
    for (unsigned i = 0; i < cfg.nnics; i++) {
        close(tap[i][0]);
        close(tap[i][1]);
    }
    pthread_mutex_destroy(&vm.fail_lock);
    pthread_mutex_destroy(&vm.run_lock);
    pthread_cond_destroy(&vm.run_cond);
    return 0;
}
