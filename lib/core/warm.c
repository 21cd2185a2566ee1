/*
 * warm.c: a VM shell's warm-up run. Before the VM has an image, a few
 * bytes of guest code touch (read, write back) every page a boot will
 * touch and exit. The host then throws that run away: the vCPU thread is
 * made anew, waiting for lv_vm_start, and the scratch bytes are zeroed.
 * What stays is what the first run paid for on KVM's side (the first
 * VM entry, and on a shadow-paging host like PVM the shadow entries of
 * those pages, whose first touch costs tens of microseconds each), so
 * the real boot does not pay it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm_impl.h"

/* The warm-up code, position independent, entered with RDI = a table of
 * {start, end} GPA pairs ended by {0, 0} and RSI = the GPA of a zeroed
 * struct lv_hc_exit:
 *
 *   1: mov (%rdi),%rax; test %rax,%rax; jz 3f; mov 8(%rdi),%rcx
 *   2: mov (%rax),%dl; mov %dl,(%rax); add $4096,%rax; cmp %rcx,%rax; jb 2b
 *      add $16,%rdi; jmp 1b
 *   3: mov %esi,%eax; mov $0x4c1,%dx; out %eax,(%dx)     (LV_PORT_EXIT)
 *   4: jmp 4b
 */
static const uint8_t stub[] = {
    0x48, 0x8b, 0x07, 0x48, 0x85, 0xc0, 0x74, 0x19, 0x48, 0x8b, 0x4f, 0x08,
    0x8a, 0x10, 0x88, 0x10, 0x48, 0x05, 0x00, 0x10, 0x00, 0x00, 0x48, 0x39,
    0xc8, 0x72, 0xf1, 0x48, 0x83, 0xc7, 0x10, 0xeb, 0xdf, 0x89, 0xf0, 0x66,
    0xba, 0xc1, 0x04, 0xef, 0xeb, 0xfe,
};
_Static_assert(LV_PORT_EXIT == 0x4c1, "the stub's exit port");

/* Scratch, at the bottom of the initial stack (a boot uses its top). */
#define SCRATCH_GPA 0x10000u
#define TABLE_OFF 0x100u
#define EXIT_OFF 0x800u
#define SCRATCH_LEN 0x900u
#define MAX_RANGES 8

int lv_vm_warm(struct lv_vm *vm, uint64_t image_bytes, struct lv_err *err)
{
    uint8_t *scratch = lv_mem_ptr(&vm->mem, SCRATCH_GPA, SCRATCH_LEN);
    uint64_t img_end = LV_GPA_IMAGE_MIN + ((image_bytes + 4095) & ~4095ull);
    const uint64_t want[][2] = {
        {LV_GPA_BOOTINFO, LV_GPA_BOOTINFO + LV_PAGE_SIZE},
        {LV_GPA_STACK_TOP - 0x4000, LV_GPA_STACK_TOP},
        {LV_GPA_IMAGE_MIN, img_end},
        {vm->dev_mem_gpa, vm->mem.size}, /* empty without NICs */
    };
    uint64_t r[MAX_RANGES + 1][2];
    unsigned nr = 0;
    struct kvm_regs regs;
    struct lv_vm_result res;

    if (!scratch || !lv_vm_waiting(vm))
        return lv_err_set(err, EINVAL, "warm-up: only for a VM whose threads wait for start");
    int rc = lv_vm_threads_ready(vm, err); /* LV_VM_F_SECCOMP: their filters are in */
    if (rc)
        return rc;
    if (img_end > vm->dev_mem_gpa || img_end < LV_GPA_IMAGE_MIN)
        return lv_err_set(err, EINVAL, "warm-up: %llu image bytes do not fit",
                          (unsigned long long)image_bytes);
    /* The stub touches a range's first page before comparing: only
     * non-empty, page-aligned ranges inside RAM go into its table. */
    memset(r, 0, sizeof(r));
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (want[i][0] < want[i][1] && !(want[i][0] % LV_PAGE_SIZE) &&
            lv_mem_ptr(&vm->mem, want[i][0], want[i][1] - want[i][0])) {
            r[nr][0] = want[i][0];
            r[nr][1] = want[i][1];
            nr++;
        }
    memcpy(scratch, stub, sizeof(stub));
    memcpy(scratch + TABLE_OFF, r, sizeof(r));
    memset(scratch + EXIT_OFF, 0, sizeof(struct lv_hc_exit));
    lv_mem_mark_dirty(&vm->mem, SCRATCH_GPA, SCRATCH_LEN);
    memset(&regs, 0, sizeof(regs));
    regs.rip = SCRATCH_GPA;
    regs.rsp = LV_GPA_STACK_TOP;
    regs.rdi = SCRATCH_GPA + TABLE_OFF;
    regs.rsi = SCRATCH_GPA + EXIT_OFF;
    regs.rflags = 0x2;
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
        return lv_err_set(err, errno, "warm-up: KVM_SET_REGS: %s", strerror(errno));

    lv_vm_release_vcpu(vm);
    if (lv_vm_join_vcpu(vm, 5000, &res) < 0)
        return lv_err_set(err, ETIMEDOUT, "warm-up: the guest did not finish in 5 s");
    if (res.outcome != LV_VM_EXITED || res.status != 0)
        return lv_err_set(err, EIO, "warm-up run failed: %s", res.msg);
    /* Forget the run: a new vCPU thread waits for lv_vm_start. */
    memset(scratch, 0, SCRATCH_LEN);
    return lv_vm_respawn_vcpu(vm, err);
}
