/* trace.c: `--trace` output: one machine-readable line per fact.
 *
 *   trace phase=NAME start_us=T dur_us=D   (T from the command's start)
 *   trace exits reason=NAME count=N
 *   trace hostcalls console=N exit=N mark=N doorbell=N mmio_dev=N
 *   trace nic=I rx=N tx=N rx_dropped=N tx_dropped=N kicks_rx=N kicks_tx=N irqs=N
 *   trace console bytes=N dropped=N errors=N
 */
#include <inttypes.h>

#include "cli.h"
#include "lightvm/console.h"
#include "lightvm/virtio_net.h"

static const char *const phase_names[LV_PH_NPHASES] = {
    [LV_PH_CREATE_VM] = "create_vm", [LV_PH_MEMORY] = "memory",
    [LV_PH_VCPU] = "vcpu",           [LV_PH_DEVICES] = "devices",
    [LV_PH_LOAD_IMAGE] = "load_image",
    [LV_PH_BOOT_INFO] = "boot_info", [LV_PH_START] = "start_vcpu",
};

static void span(FILE *f, const char *name, uint64_t t0, uint64_t a, uint64_t b)
{
    if (!a || !b || b < a || a < t0)
        return; /* a phase that did not happen, or an implausible guest timestamp */
    fprintf(f, "trace phase=%s start_us=%.1f dur_us=%.1f\n", name, (double)(a - t0) / 1e3,
            (double)(b - a) / 1e3);
}

void lv_print_trace(FILE *f, struct lv_vm *vm, uint64_t t0, const struct lv_span *open_kvm,
                    const struct lv_console *con)
{
    struct lv_console_stats cs;

    const struct lv_vm_trace *t = lv_vm_trace(vm);
    const struct lv_vm_stats *s = lv_vm_stats(vm);
    uint64_t boot_end = t->first_console_ns ? t->first_console_ns : t->exit_ns;

    span(f, "open_kvm", t0, open_kvm->start_ns, open_kvm->end_ns);
    for (int i = 0; i < LV_PH_NPHASES; i++)
        span(f, phase_names[i], t0, t->phase[i].start_ns, t->phase[i].end_ns);
    span(f, "run_to_entry", t0, t->first_run_ns, t->guest_entry_ns);
    span(f, "entry_to_console", t0, t->guest_entry_ns, boot_end);
    span(f, "run_to_console", t0, t->first_run_ns, boot_end);
    span(f, "console_to_exit", t0, boot_end, t->exit_ns);
    span(f, "total", t0, t0, t->exit_ns);
    for (unsigned i = 0; i < t->nmarks; i++)
        fprintf(f, "trace mark id=%" PRIu64 " at_us=%.1f\n", t->mark[i].id,
                (double)(t->mark[i].ns - t0) / 1e3);
    fprintf(f, "trace exits total=%" PRIu64 "\n", s->exits);
    for (unsigned r = 0; r < LV_EXIT_REASONS; r++)
        if (s->by_reason[r])
            fprintf(f, "trace exits reason=%s count=%" PRIu64 "\n", lv_exit_name(r),
                    s->by_reason[r]);
    fprintf(f, "trace hostcalls console=%" PRIu64 " exit=%" PRIu64 " mark=%" PRIu64
               " doorbell=%" PRIu64 " mmio_dev=%" PRIu64 "\n",
            s->hc_console, s->hc_exit, s->hc_mark, s->doorbell, s->mmio_dev);
    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++) {
        struct lv_vnet_stats n;
        if (lv_vm_nic_stats(vm, i, &n) < 0)
            break;
        fprintf(f, "trace nic=%u rx=%" PRIu64 " tx=%" PRIu64 " rx_dropped=%" PRIu64
                   " tx_dropped=%" PRIu64 " kicks_rx=%" PRIu64 " kicks_tx=%" PRIu64
                   " irqs=%" PRIu64 "\n",
                i, n.rx_frames, n.tx_frames, n.rx_dropped, n.tx_dropped, n.kicks[0], n.kicks[1],
                n.irqs);
    }
    if (con) {
        lv_console_stats(con, &cs);
        fprintf(f, "trace console bytes=%" PRIu64 " dropped=%" PRIu64 " errors=%" PRIu64 "\n",
                cs.bytes, cs.dropped, cs.errors);
    }
}
