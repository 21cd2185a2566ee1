/*
 * lvrt.h: the lightvm guest runtime, as seen by an app.
 *
 * An app provides `int main(int argc, char **argv)` and optionally
 * `const char *const lvrt_app_name` (argv[0], default "app"). The runtime
 * enters main with interrupts enabled, argv[1..] split from the boot
 * command line on spaces, and exits with main's return value.
 *
 * Single vCPU, no threads: nothing here is reentrant with respect to
 * interrupt handlers unless stated. All output goes through one line
 * buffer; each flush is one host call (a VM exit, ~70 us on PVM).
 */
#ifndef LVRT_H
#define LVRT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/lv_abi.h"

#define LVRT_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- lifecycle ---- */

/* The app's entry point (argc >= 1, argv[argc] == NULL). */
int main(int argc, char **argv);

/* argv[0]; a weak default "app" is provided by the runtime. */
extern const char *const lvrt_app_name;

/* Flush the console, report (status) to the VMM and stop. (status) is
 * 0..255; other values (negative ones too) are passed on and the VMM
 * stops the VM with an error. Crashes use LV_EXIT_CRASH | vector, which
 * the runtime's trap handlers send itself. Never returns. */
_Noreturn void lvrt_exit(int status);

/* Print "lightvm: panic: <message>" and exit with LV_EXIT_CRASH | 0xff. */
_Noreturn void lvrt_panic(const char *fmt, ...) LVRT_PRINTF(1, 2);

/* Boot-timing mark: one host call carrying (id) and the current TSC.
 * (id) is LV_MARK_* or an app value >= 0x100. */
void lvrt_mark(uint64_t id);

/* Raw host call: outl the 32-bit GPA of (arg) to (port). (arg) must be
 * the argument struct of that port (lv_abi.h); the VMM validates it and
 * stops the VM if it names memory outside guest RAM. For tests. */
void lvrt_hostcall(uint16_t port, const void *arg);

/* The boot info page (validated at boot: magic, version, size). */
const struct lv_bootinfo *lvrt_bootinfo(void);

/* 1 on a PVM host (VIF in use), else 0. */
int lvrt_is_pvm(void);

/* 1 if the vCPU runs natively: on PVM when `mov %cs` reads 0x33 (the
 * hardware user CS of native mode); always 1 under VMX/SVM. */
int lvrt_is_native(void);

/* ---- console ---- */

/* Append (len) bytes to the line buffer. The buffer is flushed (one host
 * call) when a write contains '\n' or the buffer fills up. */
void lvrt_console_write(const char *buf, size_t len);

/* Write out whatever is buffered (no-op when empty). */
void lvrt_console_flush(void);

/* Write (s) and a newline (like C puts). */
void lvrt_puts(const char *s);

/* printf subset: %d %i %u %x %X %p %s %c %%, length modifiers l ll z,
 * flags '-' and '0', a decimal or '*' width. Return the number of
 * characters produced (snprintf: that would have been produced; the
 * output is always NUL-terminated when size > 0). */
int lvrt_printf(const char *fmt, ...) LVRT_PRINTF(1, 2);
int lvrt_vprintf(const char *fmt, va_list ap);
int lvrt_snprintf(char *buf, size_t size, const char *fmt, ...) LVRT_PRINTF(3, 4);
int lvrt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- time ---- */

/* Raw TSC (rdtsc). On native PVM it equals the host's TSC. */
uint64_t lvrt_tsc(void);

/* TSC frequency in kHz: boot info, else the PVM MSR, else CPUID
 * 0x40000010, else CPUID 0x15. Panics if none is available. */
uint64_t lvrt_tsc_khz(void);

/* Monotonic nanoseconds since the guest's first instruction, not
 * counting the time a snapshot spent saved (the boot info's clock base,
 * taken again at each restore). Never goes back. Exact to < 1 ppm of the
 * frequency; no overflow for centuries. */
uint64_t lvrt_now_ns(void);

/* Wall-clock time (ns since 1970-01-01 UTC) from the host's reading at
 * boot or at the last restore (boot info wall_ns/wall_tsc) advanced by
 * the TSC; 0 if the host gave none. */
uint64_t lvrt_wall_ns(void);

/* Sleep at least (ns) nanoseconds, halting the vCPU (tickless: the APIC
 * timer is armed only for the sleep). Restores the interrupt state. */
void lvrt_sleep_ns(uint64_t ns);

/* ---- interrupts and the timer ---- */

/* Mask interrupts; return 1 if they were enabled before. */
int lvrt_irq_disable(void);

/* Unmask interrupts; a held interrupt is delivered before this returns
 * (on PVM by ringing the doorbell when VIF.pending is set). */
void lvrt_irq_enable(void);

/* Restore a state returned by lvrt_irq_disable. */
void lvrt_irq_restore(int enabled);

/* Arm the one-shot TSC-deadline timer to fire at lvrt_now_ns() ==
 * (deadline_ns) (immediately if that is past). Replaces any earlier
 * deadline. The first use enables the x2APIC; panics if the CPU lacks
 * x2APIC or TSC-deadline. */
void lvrt_timer_arm_at(uint64_t deadline_ns);

/* Cancel a pending deadline (an already raised interrupt stays pending). */
void lvrt_timer_disarm(void);

/* Number of timer interrupts handled since boot. */
uint64_t lvrt_timer_irqs(void);

/* ---- random numbers and snapshots ---- */

/* Random bits (xoshiro256**) seeded from the boot info's seed, fresh
 * host bytes at each boot and each restore of a snapshot, and reseeded
 * at a restore: the clones of one snapshot draw different numbers. Not
 * cryptographic. */
uint32_t lvrt_random(void);
uint64_t lvrt_random64(void);

/* 1 once per restore of a snapshot (the boot info's generation changed;
 * the host also raised LV_CTL_RESUMED), else 0. By then the runtime has
 * taken the new clock base and frequency, cancelled the timer armed on
 * the old base and reseeded lvrt_random. The caller does the rest: its
 * NICs' new identities, announcements, queues (lvnet does it in
 * lvnet_poll). Cheap: one load when nothing happened. */
int lvrt_resumed(void);

/* ---- network devices: virtio-net from the boot info device table ----
 * The VMM describes each NIC completely (queues laid out, features
 * negotiated, MAC and addresses) so the driver starts without a single
 * register access (LightVM's noxs). Frames are Ethernet frames without
 * the virtio header. Each NIC has LVRT_NET_RX_BUFS receive and
 * LVRT_NET_TX_BUFS transmit buffers of LVRT_NET_BUF bytes; a kick (an
 * MMIO write the host serves in its kernel) is made only when the device
 * asked for one (event index), and the device interrupts only while the
 * driver waits in lvrt_net_wait. Not for interrupt handlers. */
#define LVRT_NET_RX_BUFS 32u
#define LVRT_NET_TX_BUFS 16u
#define LVRT_NET_BUF 2048u
#define LVRT_NET_FRAME_MAX (LVRT_NET_BUF - LV_NET_HDR_LEN) /* bytes of frame per buffer */

/* Index of the (n)th LV_DEV_NET device of the boot info table, or -1. */
int lvrt_net_find(unsigned n);
/* Sets up device (i): checks its table entry, posts the receive
 * buffers, enables its interrupt. Copies its addresses to (*info).
 * 0, or -1 with a console message naming what is wrong. */
int lvrt_net_open(unsigned i, struct lv_dev_net *info);
/* The next received frame of NIC (i): 1 and (*frame, *len) until
 * lvrt_net_rx_done(i), or 0 if none. */
int lvrt_net_rx_peek(unsigned i, const void **frame, size_t *len);
/* Gives the frame from lvrt_net_rx_peek back to the device. */
void lvrt_net_rx_done(unsigned i);
/* A transmit buffer of LVRT_NET_FRAME_MAX bytes for NIC (i), waiting up
 * to (timeout_ns) for the device to return one when all are in flight;
 * NULL if none came back. Pass it to lvrt_net_tx_send next. */
void *lvrt_net_tx_alloc(unsigned i, uint64_t timeout_ns);
/* Sends (len) bytes of the buffer from lvrt_net_tx_alloc (len <=
 * LVRT_NET_FRAME_MAX). */
void lvrt_net_tx_send(unsigned i, void *buf, size_t len);
/* After a restore: copies device (i)'s current entry data (MAC, MTU,
 * addresses, which the host may have changed) to (*info); 0, or -1 if
 * (i) is not a NIC. */
int lvrt_net_info(unsigned i, struct lv_dev_net *info);
/* After a restore: processes both queues of open NIC (i) once as if its
 * interrupt had come (transmit buffers reclaimed) and kicks both, so a
 * notification pending when the snapshot was taken is not lost. */
void lvrt_net_resume(unsigned i);
/* Halts until a frame arrives on an open NIC, lvrt_now_ns() reaches
 * (deadline_ns) (UINT64_MAX: no deadline), or another interrupt; returns
 * at once if a frame is already waiting. May return early. */
void lvrt_net_wait(uint64_t deadline_ns);

struct lvrt_net_stats {
    uint64_t rx_frames, tx_frames, kicks, irqs;
    uint64_t bad_entries; /* used-ring entries (either queue) with a bad id or length, skipped */
};
void lvrt_net_get_stats(unsigned i, struct lvrt_net_stats *out);

/* ---- heap: [boot info image_end, mem_size), first fit, 16-byte aligned ---- */

/* NULL on exhaustion or size 0. */
void *lvrt_malloc(size_t size);
/* Zeroed; NULL on exhaustion or overflow of (n * size). */
void *lvrt_calloc(size_t n, size_t size);
/* (p) from lvrt_malloc/calloc/realloc, or NULL (no-op). */
void lvrt_free(void *p);
/* Like C realloc: NULL (p) allocates, size 0 frees and returns NULL; on
 * failure returns NULL and leaves (p) intact. */
void *lvrt_realloc(void *p, size_t size);

/* ---- strings (standard semantics; gcc may emit calls to mem*) ---- */

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* Parse a decimal (or 0x-prefixed hex) unsigned number that makes up all
 * of (s). Return 0 and store it in (*out), or -1 on a malformed string
 * or overflow (*out untouched). */
int lvrt_parse_u64(const char *s, uint64_t *out);

#endif /* LVRT_H */
