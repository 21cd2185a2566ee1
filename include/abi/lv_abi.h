/*
 * lv_abi.h: the host/guest ABI of lightvm unikernels (boot info page,
 * fixed guest-physical layout, host calls).
 *
 * Shared by the VMM (lib/) and the guest runtime (guest/). Keep it
 * self-contained: C99 and <stdint.h> only. The layout is append-only:
 * new fields go at the end of a struct, and LV_ABI_VERSION is bumped on
 * any change a peer could observe. A guest must check magic and version
 * and must not read past (size) bytes of the boot info.
 */
#ifndef LV_ABI_H
#define LV_ABI_H

#include <stdint.h>

#define LV_ABI_VERSION 4u /* v2: device table (virtio-net), dev_mem_gpa, probe;
                           * v3: LV_VEC_CONTROL, probe_mac;
                           * v4: snapshots: generation, clock base, seed,
                           *     LV_CTL_RESUMED */

/*
 * Guest-physical layout set up by the VMM before the first instruction.
 * RAM starts at GPA 0 and is identity mapped (virtual == physical) with
 * 4-level page tables whose entries all carry the U bit (required by PVM
 * hosts, harmless with SMEP/SMAP off). Page 0 is left unmapped so that a
 * NULL dereference faults. Memory the loader did not write reads as zero
 * (an image's .bss needs no clearing). On entry: CPL0 (hardware CPL3 on a
 * PVM host), 64-bit mode, interrupts disabled, RSP = LV_GPA_STACK_TOP,
 * RDI = LV_GPA_BOOTINFO, RIP = the ELF entry point.
 */
#define LV_PAGE_SIZE 0x1000u
#define LV_GPA_GDT 0x1000u        /* GDT (null, code 0x08, data 0x10, TSS 0x18) + TSS */
#define LV_GPA_PML4 0x2000u
#define LV_GPA_PDPT 0x3000u
#define LV_GPA_PD 0x4000u         /* up to 4 page directories (4 GiB), 2 MiB pages */
#define LV_GPA_PT0 0x8000u        /* 4 KiB page table of the first 2 MiB (page 0 absent) */
#define LV_GPA_VIF 0x9000u        /* PVM virtual interrupt flag page */
#define LV_GPA_BOOTINFO 0xA000u   /* struct lv_bootinfo, one page */
#define LV_GPA_ISTACK_TOP 0x10000u /* interrupt stack (TSS.RSP0), 0xB000..0x10000 */
#define LV_GPA_STACK_TOP 0x80000u /* initial RSP; the stack grows down to 0x10000 */
#define LV_GPA_IMAGE_MIN 0x100000u /* lowest address an image may load at */
#define LV_MEM_MAX (4ull << 30)   /* host calls pass 32-bit GPAs */

/*
 * Device MMIO (v2): device i's virtio-mmio register window is the page at
 * LV_GPA_MMIO_BASE + i * LV_PAGE_SIZE. The VMM maps the 2 MiB at
 * LV_GPA_MMIO_BASE uncached in the boot page tables; a VM with devices
 * has at most LV_GPA_MMIO_BASE bytes of RAM.
 */
#define LV_GPA_MMIO_BASE 0xf0000000u
#define LV_MMIO_WINDOW (2u << 20)

#define LV_SEL_CODE 0x08u
#define LV_SEL_DATA 0x10u
#define LV_SEL_TSS 0x18u

/* Offsets inside the boot info page of the variable parts. */
#define LV_BOOTINFO_DEVICES_OFF 0x400u
#define LV_BOOTINFO_MAX_DEVICES 8u
#define LV_BOOTINFO_CMDLINE_OFF 0x800u
#define LV_CMDLINE_MAX 0x800u     /* including the terminating NUL */

#define LV_BOOTINFO_MAGIC 0x314f464e49564cull /* "LVINFO1" little endian */

/* lv_bootinfo.flags */
#define LV_BI_F_PVM_VIF (1u << 0) /* VIF at LV_GPA_VIF is registered: PVM host */
#define LV_BI_F_NO_PVM (1u << 1)  /* do not probe for PVM: plain x86-64 path */

/* lv_control.request (host -> guest), acknowledged in lv_control.ack.
 * (v3) The host raises vector LV_VEC_CONTROL after writing a request; a
 * runtime acts on it in that interrupt (SHUTDOWN: ack, then exit 0). */
#define LV_CTL_NONE 0u
#define LV_CTL_SHUTDOWN 1u
#define LV_CTL_SUSPEND 2u
/* (v4) The VM was restored from a snapshot: lv_bootinfo.generation grew,
 * and the clock base, seed, wall clock and the device table's NIC
 * identities (MAC, addresses) may have changed. The runtime acks it in
 * the interrupt, then, outside it: takes the new clock base and
 * identities, reseeds its random state from (seed), re-arms its timers,
 * announces each NIC (one gratuitous ARP) and processes every queue
 * once (a notification pending at save time is not lost). */
#define LV_CTL_RESUMED 3u

struct lv_control {
    volatile uint32_t request; /* written by the host */
    volatile uint32_t ack;     /* written by the guest: the request it saw */
};

/*
 * The device table (LightVM's noxs page): each device is described
 * completely, already negotiated and with its queues laid out by the VMM
 * in the VMM-owned memory at the top of RAM (dev_mem_gpa .. mem_size), so
 * a guest uses it without a single register access. The virtio-mmio
 * registers at mmio_gpa stay available to drivers that want the standard
 * handshake (a Linux guest): writing 0 to Status resets the device.
 *
 * A queue's rings are zero at boot. The driver kicks queue q by a 32-bit
 * write of notify_data to notify_gpa (the virtio-mmio QueueNotify
 * register; the host serves it in the kernel, no exit to the VMM), and
 * the device interrupts by an MSI of (vector) to the boot CPU's APIC (the
 * driver EOIs it through the x2APIC). With LV_VIRTIO_F_EVENT_IDX in
 * (features), both sides use used_event/avail_event.
 */
struct lv_dev_queue {
    uint64_t desc_gpa;  /* descriptor table, 16-byte aligned */
    uint64_t avail_gpa; /* driver area, 2-byte aligned */
    uint64_t used_gpa;  /* device area, 4-byte aligned */
    uint16_t size;      /* entries, a power of two */
    uint16_t notify_data; /* value to write to notify_gpa: the queue index */
    uint32_t reserved;
};

struct lv_device {
    uint32_t type;       /* LV_DEV_* */
    uint32_t irq;        /* GSI of the device's irqfd (informational) */
    uint64_t mmio_gpa;   /* virtio-mmio v2 register page */
    uint64_t notify_gpa; /* kick register (mmio_gpa + 0x50) */
    uint64_t features;   /* virtio features negotiated by the VMM (driver honours exactly) */
    uint32_t vector;     /* IDT vector of the device interrupt, LV_VEC_DEV_BASE + index */
    uint32_t nqueues;    /* entries of q[] in use */
    struct lv_dev_queue q[2];
    uint8_t data[24];    /* type-specific: struct lv_dev_net for LV_DEV_NET */
};

#define LV_DEV_NONE 0u
#define LV_DEV_NET 1u /* virtio-net: q[0] receive, q[1] transmit */

/* Device i interrupts on vector LV_VEC_DEV_BASE + i (a guest IDT must
 * cover LV_VEC_DEV_BASE + LV_BOOTINFO_MAX_DEVICES - 1). */
#define LV_VEC_DEV_BASE 34u
/* (v3) The host's "look at lv_control" interrupt, after the devices'. */
#define LV_VEC_CONTROL 42u

/* lv_device.data of a LV_DEV_NET device. Addresses in network byte order
 * (as on the wire); 0 = not configured. Every frame on either queue
 * starts with the 12-byte virtio_net_hdr_v1 (all zero from the guest; no
 * offloads are negotiated). */
struct lv_dev_net {
    uint8_t mac[6];
    uint16_t mtu;     /* bytes of IP packet, 68..65535 (normally 1500) */
    uint32_t ip;
    uint32_t netmask;
    uint32_t gw;
    uint32_t reserved;
};

#define LV_NET_HDR_LEN 12u

_Static_assert(sizeof(struct lv_dev_queue) == 32, "lv_dev_queue is 32 bytes");
_Static_assert(sizeof(struct lv_device) == 128, "lv_device is 128 bytes");
_Static_assert(sizeof(struct lv_dev_net) == 24, "lv_dev_net fills lv_device.data");

struct lv_bootinfo {
    uint64_t magic;        /* LV_BOOTINFO_MAGIC */
    uint32_t abi_version;  /* LV_ABI_VERSION of the host */
    uint32_t size;         /* bytes of this struct the host filled */
    uint64_t mem_size;     /* bytes of RAM from GPA 0 */
    uint64_t tsc_khz;      /* TSC frequency, 0 if unknown */
    uint64_t cmdline_gpa;  /* NUL-terminated command line */
    uint32_t cmdline_len;  /* bytes, without the NUL */
    uint32_t flags;        /* LV_BI_F_* */
    uint64_t image_end;    /* first page-aligned GPA past the loaded image */
    uint64_t devices_gpa;  /* array of struct lv_device */
    uint32_t ndevices;
    uint32_t device_size;  /* sizeof(struct lv_device) of the host */
    struct lv_control control;
    /* Written by the guest: its TSC at its first instruction, so the host
     * can time the boot without an extra exit. */
    volatile uint64_t guest_entry_tsc;
    /* ---- v2 ---- */
    uint64_t dev_mem_gpa; /* VMM-owned memory (virtqueues) from here to mem_size:
                           * the guest's heap ends here; == mem_size if none */
    uint32_t probe_ip;    /* network-up probe: once its first NIC is up, the guest */
    uint16_t probe_port;  /* sends one UDP datagram here (network byte order); 0: none */
    uint16_t reserved0;
    uint64_t wall_ns;     /* CLOCK_REALTIME (ns since 1970, UTC) when the host */
    uint64_t wall_tsc;    /* read this TSC value; guest TSC = host TSC. 0: unknown */
    /* ---- v3 ---- */
    uint8_t probe_mac[6]; /* the probe target's MAC on the first NIC's link when the
                           * VMM knows it (the target is the bridge itself): the
                           * guest may send the probe without an ARP round trip.
                           * All zero: unknown. */
    uint16_t reserved1;
    /* ---- v4: snapshots ---- */
    /* 0 at boot; the VMM adds 1 at each restore of a snapshot (a clone's
     * is one more than its snapshot's) before raising LV_CTL_RESUMED. */
    volatile uint64_t generation;
    /* The guest's monotonic clock: ns = clock_ns + (TSC - clock_tsc) *
     * 1e6 / tsc_khz, with TSC the guest's rdtsc. clock_tsc 0 (a boot): the
     * runtime's own base, its entry TSC at 0 ns. A restore sets the pair so
     * that the clock continues from the value it had at the save: it never
     * goes back, and the time the snapshot spent on disk is not counted. */
    volatile uint64_t clock_tsc;
    volatile uint64_t clock_ns;
    /* Fresh random bytes from the host at each boot and each restore: two
     * clones of one snapshot never share random state (TCP initial
     * sequence numbers, ephemeral ports). */
    uint8_t seed[32];
};

/*
 * Host calls: the guest writes the 32-bit GPA of the argument struct to
 * the port with `outl`. The VMM checks the whole struct and every buffer
 * it names against guest RAM; a bad pointer stops the VM.
 * Port 0x80 is the PVM doorbell and is ignored by the VMM.
 */
#define LV_PORT_CONSOLE 0x4c0u
#define LV_PORT_EXIT 0x4c1u
#define LV_PORT_MARK 0x4c2u

#define LV_CONSOLE_MAX (64u * 1024) /* largest single console write */

struct lv_hc_console {
    uint64_t buf_gpa;
    uint64_t len;
};

struct lv_hc_exit {
    uint64_t status; /* 0..255, or LV_EXIT_CRASH | vector; anything else is a guest error */
};

/* Status of a guest that crashed on an exception it could not handle
 * (the runtime has printed a crash report on the console first); the low
 * byte is the vector (0xff: a fatal runtime error). Far above any exit
 * code an app could pass by mistake. */
#define LV_EXIT_CRASH (1ull << 32)

/* A boot-timing mark: the host records when it saw it. */
struct lv_hc_mark {
    uint64_t id; /* LV_MARK_* or an app-defined value >= 0x100 */
    uint64_t guest_tsc;
};

#define LV_MARK_MAIN 1u /* the runtime is about to call the app's main */

/* PVM facts the guest uses (see docs/architecture.md). */
#define LV_PVM_MSR_VIF 0x4b564d10u
#define LV_PVM_MSR_ID 0x4b564d11u
#define LV_PVM_MSR_TSC_KHZ 0x4b564d13u
#define LV_PVM_ID 0x4d5650u
#define LV_PVM_HC_HALT 0x1009u
#define LV_PVM_DOORBELL_PORT 0x80u

struct lv_vif {
    volatile uint8_t if_;     /* virtual interrupt flag */
    volatile uint8_t pending; /* an interrupt waits for if_ */
    uint8_t pad[6];
    volatile uint64_t cr2;
};

#endif /* LV_ABI_H */
