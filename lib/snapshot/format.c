/*
 * format.c: the snapshot state file (docs/snapshot.md): encoding a
 * struct lv_snap and decoding, with every check, a file that may be
 * anything. No KVM here (the fuzz target drives the decoder).
 *
 * Header (64 bytes, little-endian):
 *   0 magic "LVSNx64\0"  8 u16 major  10 u16 minor  12 u32 arch
 *  16 u32 host  20 u32 guest ABI  24 u64 mem_size  32 u32 nnics
 *  36 u32 nsections  40 u64 state_len  48 u32 crc32c  52 u32 header_len
 *  56 8 bytes zero
 * then nsections sections of (u32 type, u32 length, length bytes),
 * exactly state_len bytes, the CRC-32C over all of them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lightvm/vm.h"
#include "lightvm/x86.h"
#include "snap_impl.h"
#include "../util/le.h"

/* The kernel's structs are the format: a header that changed one would
 * change the file, so the build stops instead. */
_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs");
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs");
_Static_assert(sizeof(struct kvm_xsave) == 4096, "kvm_xsave");
_Static_assert(sizeof(struct kvm_xcrs) == 392, "kvm_xcrs");
_Static_assert(sizeof(struct kvm_fpu) == 416, "kvm_fpu");
_Static_assert(sizeof(struct kvm_lapic_state) == 1024, "kvm_lapic_state");
_Static_assert(sizeof(struct kvm_msr_entry) == 16, "kvm_msr_entry");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events");
_Static_assert(sizeof(struct kvm_mp_state) == 4, "kvm_mp_state");
_Static_assert(sizeof(struct kvm_irqchip) == 520, "kvm_irqchip");
_Static_assert(sizeof(struct kvm_clock_data) == 48, "kvm_clock_data");

#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_MISC_ENABLE 0x1a0u
#define MSR_PAT 0x277u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_SFMASK 0xc0000084u
#define MSR_KERNEL_GS_BASE 0xc0000102u

/* What a save reads, in this order (restore writes them in the same
 * order, TSC_DEADLINE after APIC_BASE). The PVM VIF only on PVM. */
static const uint32_t msr_list[] = {
    LV_MSR_TSC, LV_MSR_APIC_BASE, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP,
    MSR_MISC_ENABLE, MSR_PAT, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE,
    LV_MSR_TSC_DEADLINE, LV_PVM_MSR_VIF,
};
#define NMSR_LIST (sizeof(msr_list) / sizeof(msr_list[0]))
_Static_assert(NMSR_LIST <= LV_SNAP_MAX_MSRS, "msr_list fits");

int lv_snap_msr_allowed(uint32_t index, uint32_t host)
{
    if (index == LV_PVM_MSR_VIF)
        return host == LV_SNAP_HOST_PVM;
    for (size_t i = 0; i < NMSR_LIST; i++)
        if (msr_list[i] == index)
            return 1;
    return 0;
}

unsigned lv_snap_msr_list(uint32_t host, uint32_t *idx)
{
    unsigned n = 0;

    for (size_t i = 0; i < NMSR_LIST; i++)
        if (lv_snap_msr_allowed(msr_list[i], host))
            idx[n++] = msr_list[i];
    return n;
}

/* ---- little-endian fields ---- */

/* ---- encoding ---- */

struct wbuf {
    uint8_t *p;
    size_t n, cap;
    uint32_t nsec;
};

/* Appends a section of (len) bytes made of (a, alen) then (b, blen). */
static void put_sec(struct wbuf *w, uint32_t type, const void *a, size_t alen, const void *b,
                    size_t blen)
{
    size_t len = alen + blen;

    if (w->n + LV_SNAP_SEC_HDR + len > w->cap) {
        w->n = w->cap + 1; /* too big: lv_snap_encode refuses */
        return;
    }
    lv_put32(w->p + w->n, type);
    lv_put32(w->p + w->n + 4, (uint32_t)len);
    memcpy(w->p + w->n + 8, a, alen);
    if (blen)
        memcpy(w->p + w->n + 8 + alen, b, blen);
    w->n += LV_SNAP_SEC_HDR + len;
    w->nsec++;
}

static void put_vm(struct wbuf *w, const struct lv_snap_vm *v)
{
    uint8_t b[LV_SNAP_VM_LEN];

    lv_put64(b, v->clock_ns);
    lv_put64(b + 8, v->save_tsc);
    lv_put64(b + 16, v->dev_mem_gpa);
    lv_put32(b + 24, v->flags);
    lv_put32(b + 28, v->ndevs);
    put_sec(w, LV_SEC_VM, b, sizeof(b), NULL, 0);
}

static void put_vcpu(struct wbuf *w, const struct lv_snap *s)
{
    uint8_t cnt[8] = {0};

    put_sec(w, LV_SEC_MP_STATE, &s->mp, sizeof(s->mp), NULL, 0);
    put_sec(w, LV_SEC_REGS, &s->regs, sizeof(s->regs), NULL, 0);
    put_sec(w, LV_SEC_SREGS, &s->sregs, sizeof(s->sregs), NULL, 0);
    if (s->has_xsave) {
        put_sec(w, LV_SEC_XSAVE, &s->xsave, sizeof(s->xsave), NULL, 0);
        put_sec(w, LV_SEC_XCRS, &s->xcrs, sizeof(s->xcrs), NULL, 0);
    } else {
        put_sec(w, LV_SEC_FPU, &s->fpu, sizeof(s->fpu), NULL, 0);
    }
    put_sec(w, LV_SEC_LAPIC, &s->lapic, sizeof(s->lapic), NULL, 0);
    lv_put32(cnt, s->nmsrs);
    put_sec(w, LV_SEC_MSRS, cnt, sizeof(cnt), s->msrs, s->nmsrs * sizeof(s->msrs[0]));
    put_sec(w, LV_SEC_EVENTS, &s->events, sizeof(s->events), NULL, 0);
}

static void put_header(uint8_t *h, const struct lv_snap *s, const struct wbuf *w)
{
    memset(h, 0, LV_SNAP_HDR_LEN);
    memcpy(h, LV_SNAP_MAGIC, 8);
    lv_put16(h + 8, LV_SNAP_MAJOR);
    lv_put16(h + 10, LV_SNAP_MINOR);
    lv_put32(h + 12, LV_SNAP_ARCH_X86_64);
    lv_put32(h + 16, s->host);
    lv_put32(h + 20, LV_ABI_VERSION);
    lv_put64(h + 24, s->mem_size);
    lv_put32(h + 32, s->nnics);
    lv_put32(h + 36, w->nsec);
    lv_put64(h + 40, w->n - LV_SNAP_HDR_LEN);
    lv_put32(h + 48, lv_crc32c(w->p + LV_SNAP_HDR_LEN, w->n - LV_SNAP_HDR_LEN));
    lv_put32(h + 52, LV_SNAP_HDR_LEN);
}

int lv_snap_encode(const struct lv_snap *s, uint8_t **out, size_t *len, struct lv_err *err)
{
    struct wbuf w = {malloc(LV_SNAP_STATE_MAX), LV_SNAP_HDR_LEN, LV_SNAP_STATE_MAX, 0};

    *out = NULL;
    if (!w.p)
        return lv_err_set(err, ENOMEM, "snapshot: out of memory");
    if (s->nmsrs > LV_SNAP_MAX_MSRS || s->vm.ndevs > LV_SNAP_MAX_DEVS ||
        (s->spec && (s->spec_len > LV_SNAP_SPEC_MAX || memchr(s->spec, 0, s->spec_len)))) {
        free(w.p);
        return lv_err_set(err, EINVAL, "snapshot: %u MSRs, %u devices, a spec of %u bytes: "
                          "too many, or a NUL in the spec", s->nmsrs, s->vm.ndevs,
                          s->spec ? s->spec_len : 0);
    }
    put_vm(&w, &s->vm);
    put_vcpu(&w, s);
    put_sec(&w, LV_SEC_IRQCHIP, s->chip, sizeof(s->chip), NULL, 0);
    if (s->has_clock)
        put_sec(&w, LV_SEC_CLOCK, &s->clock, sizeof(s->clock), NULL, 0);
    for (uint32_t i = 0; i < s->vm.ndevs; i++) {
        uint8_t d[8];
        lv_put32(d, i);
        lv_put32(d + 4, s->dev[i].type);
        put_sec(&w, LV_SEC_DEVICE, d, sizeof(d), s->dev[i].bytes, s->dev[i].len);
    }
    if (s->spec && s->spec_len)
        put_sec(&w, LV_SEC_SPEC, s->spec, s->spec_len, NULL, 0);
    if (w.n > w.cap) {
        free(w.p);
        return lv_err_set(err, E2BIG, "snapshot: the state exceeds %u bytes", LV_SNAP_STATE_MAX);
    }
    put_header(w.p, s, &w);
    *out = w.p;
    *len = w.n;
    return 0;
}

/* ---- decoding ---- */

static int check_magic(const uint8_t *h, struct lv_err *err)
{
    if (!memcmp(h, LV_SNAP_MAGIC, 8))
        return 0;
    if (!memcmp(h, "LVSN", 4))
        return lv_err_set(err, EINVAL, "snapshot: made for another architecture (magic "
                          "LVSN then 0x%02x%02x%02x%02x; this lightvm's is \"x64\\0\")", h[4],
                          h[5], h[6], h[7]);
    return lv_err_set(err, EINVAL, "snapshot: not a lightvm snapshot state file (bad magic)");
}

static int check_header(struct lv_snap *s, const uint8_t *h, size_t len, struct lv_err *err)
{
    static const uint8_t zero[8];
    int rc = check_magic(h, err);

    if (rc)
        return rc;
    s->major = lv_get16(h + 8);
    s->minor = lv_get16(h + 10);
    if (s->major != LV_SNAP_MAJOR || s->minor > LV_SNAP_MINOR)
        return lv_err_set(err, ENOTSUP, "snapshot: format version %u.%u, this lightvm reads "
                          "%u.%u", s->major, s->minor, LV_SNAP_MAJOR, LV_SNAP_MINOR);
    if (lv_get32(h + 52) != LV_SNAP_HDR_LEN || memcmp(h + 56, zero, 8))
        return lv_err_set(err, EINVAL, "snapshot: header length %u (want %u) or reserved "
                          "bytes not zero", lv_get32(h + 52), LV_SNAP_HDR_LEN);
    if (lv_get32(h + 12) != LV_SNAP_ARCH_X86_64)
        return lv_err_set(err, EINVAL, "snapshot: architecture %u, this lightvm is x86-64 (%u)",
                          lv_get32(h + 12), LV_SNAP_ARCH_X86_64);
    s->host = lv_get32(h + 16);
    if (s->host != LV_SNAP_HOST_HW && s->host != LV_SNAP_HOST_PVM)
        return lv_err_set(err, EINVAL, "snapshot: unknown host kind %u", s->host);
    s->abi_version = lv_get32(h + 20);
    if (s->abi_version != LV_ABI_VERSION)
        return lv_err_set(err, ENOTSUP, "snapshot: guest ABI version %u, this lightvm "
                          "speaks %u", s->abi_version, LV_ABI_VERSION);
    s->mem_size = lv_get64(h + 24);
    if (s->mem_size < LV_MEM_MIN || s->mem_size > LV_MEM_MAX || s->mem_size % LV_MEM_ALIGN)
        return lv_err_set(err, EINVAL, "snapshot: memory size %llu: not a multiple of 2 MiB "
                          "between 2 MiB and 4 GiB", (unsigned long long)s->mem_size);
    s->nnics = lv_get32(h + 32);
    if (s->nnics > LV_VM_MAX_NICS)
        return lv_err_set(err, EINVAL, "snapshot: %u NICs, at most %u", s->nnics,
                          LV_VM_MAX_NICS);
    if (lv_get64(h + 40) != len - LV_SNAP_HDR_LEN)
        return lv_err_set(err, EINVAL, "snapshot: truncated or padded: the header says %llu "
                          "bytes of state, the file has %zu", (unsigned long long)lv_get64(h + 40),
                          len - LV_SNAP_HDR_LEN);
    if (lv_crc32c(h + LV_SNAP_HDR_LEN, len - LV_SNAP_HDR_LEN) != lv_get32(h + 48))
        return lv_err_set(err, EINVAL, "snapshot: checksum mismatch: the state is corrupted");
    return 0;
}

static const char *const sec_name[LV_SEC_NTYPES] = {
    [LV_SEC_VM] = "vm", [LV_SEC_MP_STATE] = "mp_state", [LV_SEC_REGS] = "regs",
    [LV_SEC_SREGS] = "sregs", [LV_SEC_XSAVE] = "xsave", [LV_SEC_XCRS] = "xcrs",
    [LV_SEC_FPU] = "fpu", [LV_SEC_LAPIC] = "lapic", [LV_SEC_MSRS] = "msrs",
    [LV_SEC_EVENTS] = "vcpu_events", [LV_SEC_IRQCHIP] = "irqchip", [LV_SEC_CLOCK] = "clock",
    [LV_SEC_DEVICE] = "device", [LV_SEC_SPEC] = "spec",
};

/* A fixed-size section copied into (dst). */
static int take(void *dst, size_t size, uint32_t type, const uint8_t *p, uint32_t len,
                struct lv_err *err)
{
    if (len != size)
        return lv_err_set(err, EINVAL, "snapshot: section %s is %u bytes, want %zu",
                          sec_name[type], len, size);
    memcpy(dst, p, size);
    return 0;
}

static int dec_vm(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    if (len != LV_SNAP_VM_LEN)
        return lv_err_set(err, EINVAL, "snapshot: section vm is %u bytes, want %u", len,
                          LV_SNAP_VM_LEN);
    s->vm.clock_ns = lv_get64(p);
    s->vm.save_tsc = lv_get64(p + 8);
    s->vm.dev_mem_gpa = lv_get64(p + 16);
    s->vm.flags = lv_get32(p + 24);
    s->vm.ndevs = lv_get32(p + 28);
    if (s->vm.flags & ~LV_SNAP_VM_F_NO_PVM)
        return lv_err_set(err, EINVAL, "snapshot: unknown vm flags 0x%x", s->vm.flags);
    if (s->vm.ndevs != s->nnics)
        return lv_err_set(err, EINVAL, "snapshot: %u devices for %u NICs", s->vm.ndevs,
                          s->nnics);
    if (s->vm.dev_mem_gpa > s->mem_size || s->vm.dev_mem_gpa % LV_PAGE_SIZE ||
        (!s->nnics && s->vm.dev_mem_gpa != s->mem_size))
        return lv_err_set(err, EINVAL, "snapshot: device memory at 0x%llx: not a page of "
                          "guest RAM", (unsigned long long)s->vm.dev_mem_gpa);
    return 0;
}

static int dec_msrs(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    uint32_t n = len >= 8 ? lv_get32(p) : 0;

    if (len < 8 || lv_get32(p + 4) || !n || n > LV_SNAP_MAX_MSRS ||
        len != 8 + n * sizeof(struct kvm_msr_entry))
        return lv_err_set(err, EINVAL, "snapshot: section msrs: bad count (%u MSRs in %u "
                          "bytes, 1..%u)", n, len, LV_SNAP_MAX_MSRS);
    memcpy(s->msrs, p + 8, n * sizeof(struct kvm_msr_entry));
    for (uint32_t i = 0; i < n; i++) {
        if (!lv_snap_msr_allowed(s->msrs[i].index, s->host) || s->msrs[i].reserved)
            return lv_err_set(err, EINVAL, "snapshot: MSR 0x%x is not one a snapshot may set",
                              s->msrs[i].index);
        for (uint32_t k = 0; k < i; k++)
            if (s->msrs[k].index == s->msrs[i].index)
                return lv_err_set(err, EINVAL, "snapshot: MSR 0x%x twice", s->msrs[i].index);
    }
    s->nmsrs = n;
    return 0;
}

static int dec_irqchip(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    int rc = take(s->chip, sizeof(s->chip), LV_SEC_IRQCHIP, p, len, err);

    for (uint32_t i = 0; !rc && i < LV_SNAP_NCHIPS; i++)
        if (s->chip[i].chip_id != i || s->chip[i].pad)
            rc = lv_err_set(err, EINVAL, "snapshot: irqchip %u has id %u", i,
                            s->chip[i].chip_id);
    return rc;
}

/* Devices arrive in index order, each once. */
static int dec_device(struct lv_snap *s, unsigned *ndev, const uint8_t *p, uint32_t len,
                      struct lv_err *err)
{
    uint32_t i = len >= 8 ? lv_get32(p) : 0;

    if (len < 8 || len - 8 > LV_SNAP_DEV_MAX)
        return lv_err_set(err, EINVAL, "snapshot: a device section of %u bytes (8..%u)", len,
                          8 + LV_SNAP_DEV_MAX);
    if (i != *ndev || i >= s->vm.ndevs)
        return lv_err_set(err, EINVAL, "snapshot: device %u where device %u of %u was due", i,
                          *ndev, s->vm.ndevs);
    s->dev[i].type = lv_get32(p + 4);
    if (s->dev[i].type != LV_DEV_NET)
        return lv_err_set(err, EINVAL, "snapshot: device %u of unknown type %u", i,
                          s->dev[i].type);
    s->dev[i].len = len - 8;
    s->dev[i].bytes = p + 8;
    (*ndev)++;
    return 0;
}

static int dec_events(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    const uint32_t known = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                           KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
                           KVM_VCPUEVENT_VALID_PAYLOAD;
    int rc = take(&s->events, sizeof(s->events), LV_SEC_EVENTS, p, len, err);

    if (!rc && ((s->events.flags & ~known) || s->events.smi.smm || s->events.smi.pending))
        rc = lv_err_set(err, EINVAL, "snapshot: vcpu_events flags 0x%x or SMM state not "
                        "supported", s->events.flags);
    return rc;
}

static int dec_mp(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    int rc = take(&s->mp, sizeof(s->mp), LV_SEC_MP_STATE, p, len, err);

    if (!rc && s->mp.mp_state != KVM_MP_STATE_RUNNABLE && s->mp.mp_state != KVM_MP_STATE_HALTED)
        rc = lv_err_set(err, EINVAL, "snapshot: vCPU state %u (want runnable or halted)",
                        s->mp.mp_state);
    return rc;
}

/* The clock alone: KVM_SET_CLOCK's flags and the host's fields are not
 * a snapshot's to set. */
static int dec_clock(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    static const uint8_t zero[sizeof(s->clock.pad)];
    int rc = take(&s->clock, sizeof(s->clock), LV_SEC_CLOCK, p, len, err);

    if (!rc && (s->clock.flags || s->clock.realtime || s->clock.host_tsc ||
                memcmp(s->clock.pad, zero, sizeof(zero))))
        rc = lv_err_set(err, EINVAL, "snapshot: clock flags 0x%x or host fields set",
                        s->clock.flags);
    return rc;
}

/* Text for whoever restores (lightvmd parses it as a VM configuration,
 * with every check of one): here only its size and no NUL. */
static int dec_spec(struct lv_snap *s, const uint8_t *p, uint32_t len, struct lv_err *err)
{
    if (!len || len > LV_SNAP_SPEC_MAX || memchr(p, 0, len))
        return lv_err_set(err, EINVAL, "snapshot: a spec section of %u bytes (1..%u, no NUL)",
                          len, LV_SNAP_SPEC_MAX);
    s->spec = (const char *)p;
    s->spec_len = len;
    return 0;
}

static int dec_section(struct lv_snap *s, uint32_t type, const uint8_t *p, uint32_t len,
                       unsigned *ndev, struct lv_err *err)
{
    switch (type) {
    case LV_SEC_VM: return dec_vm(s, p, len, err);
    case LV_SEC_MP_STATE: return dec_mp(s, p, len, err);
    case LV_SEC_REGS: return take(&s->regs, sizeof(s->regs), type, p, len, err);
    case LV_SEC_SREGS: return take(&s->sregs, sizeof(s->sregs), type, p, len, err);
    case LV_SEC_XSAVE: return take(&s->xsave, sizeof(s->xsave), type, p, len, err);
    case LV_SEC_XCRS: return take(&s->xcrs, sizeof(s->xcrs), type, p, len, err);
    case LV_SEC_FPU: return take(&s->fpu, sizeof(s->fpu), type, p, len, err);
    case LV_SEC_LAPIC: return take(&s->lapic, sizeof(s->lapic), type, p, len, err);
    case LV_SEC_MSRS: return dec_msrs(s, p, len, err);
    case LV_SEC_EVENTS: return dec_events(s, p, len, err);
    case LV_SEC_IRQCHIP: return dec_irqchip(s, p, len, err);
    case LV_SEC_CLOCK: return dec_clock(s, p, len, err);
    case LV_SEC_SPEC: return dec_spec(s, p, len, err);
    default: return dec_device(s, ndev, p, len, err);
    }
}

/* Which sections must be there, given those seen (a bit per type). */
static int check_complete(const struct lv_snap *s, uint32_t seen, unsigned ndev,
                          struct lv_err *err)
{
    const uint32_t need = 1u << LV_SEC_VM | 1u << LV_SEC_MP_STATE | 1u << LV_SEC_REGS |
                          1u << LV_SEC_SREGS | 1u << LV_SEC_LAPIC | 1u << LV_SEC_MSRS |
                          1u << LV_SEC_EVENTS | 1u << LV_SEC_IRQCHIP;
    const uint32_t xs = 1u << LV_SEC_XSAVE | 1u << LV_SEC_XCRS, fpu = 1u << LV_SEC_FPU;

    for (uint32_t t = 1; t < LV_SEC_NTYPES; t++)
        if ((need & (1u << t)) && !(seen & (1u << t)))
            return lv_err_set(err, EINVAL, "snapshot: no %s section", sec_name[t]);
    if ((seen & (xs | fpu)) != xs && (seen & (xs | fpu)) != fpu)
        return lv_err_set(err, EINVAL, "snapshot: want either xsave and xcrs or fpu");
    if (ndev != s->vm.ndevs)
        return lv_err_set(err, EINVAL, "snapshot: %u of %u device sections", ndev,
                          s->vm.ndevs);
    return 0;
}

static int walk(struct lv_snap *s, const uint8_t *buf, size_t len, uint32_t nsec,
                struct lv_err *err)
{
    size_t off = LV_SNAP_HDR_LEN;
    uint32_t seen = 0;
    unsigned ndev = 0;

    for (uint32_t k = 0; k < nsec; k++) {
        if (len - off < LV_SNAP_SEC_HDR)
            return lv_err_set(err, EINVAL, "snapshot: section %u of %u cut short", k, nsec);
        uint32_t type = lv_get32(buf + off), slen = lv_get32(buf + off + 4);
        off += LV_SNAP_SEC_HDR;
        if (slen > len - off)
            return lv_err_set(err, EINVAL, "snapshot: section %u (type %u) of %u bytes runs "
                              "past the end", k, type, slen);
        if (!type || type >= LV_SEC_NTYPES)
            return lv_err_set(err, EINVAL, "snapshot: section %u of unknown type %u", k, type);
        if (type != LV_SEC_DEVICE && (seen & (1u << type)))
            return lv_err_set(err, EINVAL, "snapshot: section %s twice", sec_name[type]);
        if (type != LV_SEC_VM && !(seen & (1u << LV_SEC_VM)))
            return lv_err_set(err, EINVAL, "snapshot: section %s before the vm section",
                              sec_name[type]);
        seen |= 1u << type;
        int rc = dec_section(s, type, buf + off, slen, &ndev, err);
        if (rc)
            return rc;
        off += slen;
    }
    if (off != len)
        return lv_err_set(err, EINVAL, "snapshot: %zu bytes after the last of %u sections",
                          len - off, nsec);
    s->has_xsave = !!(seen & (1u << LV_SEC_XSAVE));
    s->has_clock = !!(seen & (1u << LV_SEC_CLOCK));
    return check_complete(s, seen, ndev, err);
}

int lv_snap_decode(struct lv_snap *s, const uint8_t *buf, size_t len, struct lv_err *err)
{
    uint32_t nsec;
    int rc;

    if (len < LV_SNAP_HDR_LEN)
        return lv_err_set(err, EINVAL, "snapshot: %zu bytes: shorter than its header (%u)",
                          len, LV_SNAP_HDR_LEN);
    if (len > LV_SNAP_STATE_MAX)
        return lv_err_set(err, EFBIG, "snapshot: state of %zu bytes, at most %u", len,
                          LV_SNAP_STATE_MAX);
    rc = check_header(s, buf, len, err);
    if (rc)
        return rc;
    nsec = lv_get32(buf + 36);
    if (nsec > LV_SEC_NTYPES + LV_SNAP_MAX_DEVS)
        return lv_err_set(err, EINVAL, "snapshot: %u sections, at most %u", nsec,
                          LV_SEC_NTYPES + LV_SNAP_MAX_DEVS);
    return walk(s, buf, len, nsec, err);
}
