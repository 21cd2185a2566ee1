/* test_vm.c: the VMM library on real KVM with raw guests (a few bytes of
 * machine code from elfgen, no runtime): host calls, bad pointers, unknown
 * ports, triple faults, stop, and no fd leaks over many VMs. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "elfgen.h"
#include "lightvm/build.h"
#include "lightvm/vm.h"
#include "lvtest.h"

static struct lv_kvm kvm;

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

/* Boots (g) and returns its result; (stop_after_ms) > 0 stops it then. */
static struct lv_vm_result boot_flags(struct elfgen *g, int stop_after_ms, unsigned flags,
                                      struct lv_vm_stats *stats)
{
    struct lv_vm_config cfg = {.mem_size = 4u << 20, .cmdline = "raw", .console_fd = 1,
                               .flags = flags};
    struct lv_vm_result res;
    struct lv_err err = {""};
    struct lv_vm *vm = NULL;

    memset(&res, 0, sizeof(res));
    res.outcome = LV_VM_FAILED;
    if (lv_vm_create(&vm, &kvm, &cfg, &err) < 0 || lv_vm_load_elf(vm, g->buf, g->size, &err) < 0 ||
        lv_vm_start(vm, &err) < 0) {
        memcpy(res.msg, err.msg, sizeof(res.msg));
        lv_vm_destroy(&vm);
        return res;
    }
    if (stop_after_ms > 0) {
        usleep((useconds_t)stop_after_ms * 1000);
        lv_vm_stop(vm);
    }
    lv_vm_wait(vm, &res);
    if (stats)
        *stats = *lv_vm_stats(vm);
    lv_vm_destroy(&vm);
    CHECK(vm == NULL, "destroy did not clear the pointer");
    return res;
}

static struct lv_vm_result boot(struct elfgen *g, int stop_after_ms, struct lv_vm_stats *stats)
{
    return boot_flags(g, stop_after_ms, 0, stats);
}

/* Patches the code of the raw guest (see elfgen.c for the layout). */
static uint8_t *code(struct elfgen *g)
{
    return g->buf + ELFGEN_CODE_OFF;
}

int main(void)
{
    struct lv_err err = {""};
    struct lv_vm_stats st;
    struct lv_vm_result r;
    struct elfgen g;
    int fds;

    lvt_require_kvm();
    if (lv_kvm_open(&kvm, &err) < 0) {
        fprintf(stderr, "FAIL: lv_kvm_open: %s\n", err.msg);
        return 1;
    }

    elfgen_valid(&g);
    r = boot(&g, 0, &st);
    CHECK(r.outcome == LV_VM_EXITED && r.status == ELFGEN_EXIT_STATUS, "exit 42: %d %d %s",
          r.outcome, r.status, r.msg);
    CHECK(st.hc_exit == 1 && st.by_reason[KVM_EXIT_IO] == 1, "exits: exit=%llu io=%llu",
          (unsigned long long)st.hc_exit, (unsigned long long)st.by_reason[KVM_EXIT_IO]);

    elfgen_valid(&g); /* host call argument outside RAM */
    memcpy(code(&g) + 1, &(uint32_t){0xfffff000u}, 4);
    r = boot(&g, 0, NULL);
    CHECK(r.outcome == LV_VM_FAILED && strstr(r.msg, "bad pointer"), "bad pointer: %s", r.msg);
    CHECK(strstr(r.regs, "rip=") != NULL, "no register dump");

    elfgen_valid(&g); /* unknown port */
    code(&g)[7] = 0xf8;
    code(&g)[8] = 0x03;
    r = boot(&g, 0, NULL);
    CHECK(r.outcome == LV_VM_FAILED && strstr(r.msg, "unknown port 0x3f8"), "port: %s", r.msg);

    elfgen_valid(&g); /* exit status out of range */
    memcpy(g.buf + ELFGEN_CODE_OFF + 0x80, &(uint64_t){0x1234}, 8);
    r = boot(&g, 0, NULL);
    CHECK(r.outcome == LV_VM_FAILED && strstr(r.msg, "out of range"), "status: %s", r.msg);

    elfgen_valid(&g); /* crash status from a runtime */
    memcpy(g.buf + ELFGEN_CODE_OFF + 0x80, &(uint64_t){LV_EXIT_CRASH | 14}, 8);
    r = boot(&g, 0, NULL);
    CHECK(r.outcome == LV_VM_CRASHED && r.status == 14, "crash: %d %s", r.outcome, r.msg);

    elfgen_valid(&g); /* NULL read with no IDT: #PF -> #DF -> triple fault */
    memcpy(code(&g), (uint8_t[]){0x31, 0xc0, 0x8b, 0x00, 0xf4}, 5);
    r = boot(&g, 0, NULL);
    CHECK(r.outcome == LV_VM_FAILED && strstr(r.msg, "triple"), "triple fault: %s", r.msg);

    elfgen_valid(&g); /* a guest spinning forever is stopped on request */
    memcpy(code(&g), (uint8_t[]){0xeb, 0xfe}, 2);
    r = boot(&g, 200, NULL);
    CHECK(r.outcome == LV_VM_STOPPED, "stop spinning guest: %d %s", r.outcome, r.msg);

    /* ... and so is one halted with interrupts off. A raw `hlt` is the
     * plain x86-64 halt: on a PVM host it is privileged in native mode
     * (#GP, and with no IDT a triple fault), so it runs with the VIF off
     * (emulated there, which executes hlt like VMX/SVM do). */
    elfgen_valid(&g);
    code(&g)[0] = 0xf4;
    r = boot_flags(&g, 200, LV_VM_F_NO_PVM, NULL);
    CHECK(r.outcome == LV_VM_STOPPED, "stop halted guest: %d %s", r.outcome, r.msg);

    /* a shell's path: threads first, a warm-up run, then the image */
    {
        struct lv_vm_config cfg = {.mem_size = 4u << 20, .console_fd = 1};
        struct lv_vm *vm = NULL;
        elfgen_valid(&g);
        int ok = lv_vm_create(&vm, &kvm, &cfg, &err) == 0 && lv_vm_spawn_threads(vm, &err) == 0 &&
                 lv_vm_warm(vm, 256u << 10, &err) == 0 &&
                 lv_vm_load_elf(vm, g.buf, g.size, &err) == 0 && lv_vm_start(vm, &err) == 0;
        CHECK(ok, "warm-up path: %s", err.msg);
        if (ok) {
            lv_vm_wait(vm, &r);
            CHECK(r.outcome == LV_VM_EXITED && r.status == ELFGEN_EXIT_STATUS,
                  "after a warm-up: outcome %d status %d %s", r.outcome, r.status, r.msg);
            CHECK(lv_vm_stats(vm)->hc_exit == 1, "the warm-up's exit was not forgotten");
        }
        lv_vm_destroy(&vm);
    }

    /* the builder (build.h): a spec that does not fit the prepared shape
     * is refused; one that fits gets its identity and runs */
    {
        struct lv_vm_shape shape = {.mem_size = 4u << 20, .populate = 1};
        struct lv_vm_spec spec = {.memory_mb = 8, .vcpus = 1, .cmdline = "raw"};
        struct lv_vm *vm = NULL;
        elfgen_valid(&g);
        CHECK(lv_build_prepare(&vm, &kvm, &shape, &err) == 0, "prepare: %s", err.msg);
        CHECK(vm && lv_build_identity(vm, &spec, NULL, &err) == -EINVAL &&
              strstr(err.msg, "does not fit"), "a misfit spec: %s", err.msg);
        spec.memory_mb = 4;
        int ok = vm && lv_build_identity(vm, &spec, NULL, &err) == 0 &&
                 lv_vm_load_elf(vm, g.buf, g.size, &err) == 0 && lv_vm_start(vm, &err) == 0;
        CHECK(ok, "builder path: %s", err.msg);
        if (ok) {
            lv_vm_wait(vm, &r);
            CHECK(r.outcome == LV_VM_EXITED && r.status == ELFGEN_EXIT_STATUS,
                  "built VM: outcome %d status %d %s", r.outcome, r.status, r.msg);
        }
        lv_vm_destroy(&vm);
    }

    fds = count_fds();
    elfgen_valid(&g);
    for (int i = 0; i < 50; i++) {
        r = boot(&g, 0, NULL);
        CHECK(r.outcome == LV_VM_EXITED, "boot %d: %s", i, r.msg);
    }
    CHECK(count_fds() == fds, "fd leak: %d -> %d", fds, count_fds());

    lv_kvm_close(&kvm);
    return lvt_done("test_vm");
}
