/* kvm.c: opening /dev/kvm and checking what lightvm needs from it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lightvm/kvm.h"
#include "lightvm/x86.h"

static const struct {
    int cap;
    const char *name;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
};

static int read_cpuid(struct lv_kvm *kvm, struct lv_err *err)
{
    for (int nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
        if (!c)
            return lv_err_set(err, ENOMEM, "out of memory for CPUID");
        c->nent = nent;
        if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            lv_x86_filter_cpuid(c, kvm->tsc_deadline);
            kvm->cpuid = c;
            return 0;
        }
        free(c);
        if (errno != E2BIG)
            return lv_err_set(err, errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    }
    return lv_err_set(err, E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

int lv_kvm_open(struct lv_kvm *kvm, struct lv_err *err)
{
    const char *path = getenv("LIGHTVM_KVM_DEVICE");
    int rc, v;

    memset(kvm, 0, sizeof(*kvm));
    if (!path || !*path)
        path = "/dev/kvm";
    kvm->fd = open(path, O_RDWR | O_CLOEXEC);
    if (kvm->fd < 0) {
        rc = errno == ENODEV ? ENOENT : errno;
        return lv_err_set(err, rc, "%s: %s (is KVM available on this host?)", path,
                          strerror(errno));
    }
    v = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION) {
        rc = lv_err_set(err, ENOTSUP, "%s: KVM API version %d, want %d", path, v,
                        KVM_API_VERSION);
        goto out_close;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            rc = lv_err_set(err, ENOTSUP, "%s: missing %s", path, required_caps[i].name);
            goto out_close;
        }
    }
    kvm->tsc_deadline = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    kvm->get_tsc_khz = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_GET_TSC_KHZ) > 0;
    kvm->xsave = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
    kvm->xcrs = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
    kvm->adjust_clock = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) > 0;
    kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        rc = lv_err_set(err, EIO, "KVM_GET_VCPU_MMAP_SIZE: %d", kvm->vcpu_mmap_size);
        goto out_close;
    }
    rc = read_cpuid(kvm, err);
    if (rc)
        goto out_close;
    return 0;

out_close:
    close(kvm->fd);
    kvm->fd = -1;
    return rc;
}

void lv_kvm_close(struct lv_kvm *kvm)
{
    if (kvm->fd >= 0)
        close(kvm->fd);
    free(kvm->cpuid);
    kvm->fd = -1;
    kvm->cpuid = NULL;
}
