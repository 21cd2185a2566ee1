/*
 * vqcorrupt: a hostile guest for the VMM's virtqueue validation. It
 * corrupts the transmit queue of its first NIC in the way argv[1] names
 * and kicks the device:
 *
 *   idx   the avail index jumps more than a queue size ahead
 *   addr  a descriptor points outside guest RAM
 *   loop  two descriptors chain to each other forever
 *   len   a descriptor claims 4 GiB - 1 bytes
 *
 * The VMM must stop the VM with an error naming the queue. If it is
 * still running 10 s later, the app exits 1 ("not stopped").
 */
#include "lvrt.h"

const char *const lvrt_app_name = "vqcorrupt";

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

#define F_NEXT 1u

int main(int argc, char **argv)
{
    const struct lv_bootinfo *bi = lvrt_bootinfo();
    int i = lvrt_net_find(0);

    if (argc != 2) {
        lvrt_puts("usage: vqcorrupt idx|addr|loop|len");
        return 2;
    }
    if (i < 0) {
        lvrt_puts("vqcorrupt: no NIC (lightvm run --net BRIDGE)");
        return 1;
    }
    const struct lv_device *d =
        (const struct lv_device *)(uintptr_t)(bi->devices_gpa + (uint64_t)i * bi->device_size);
    const struct lv_dev_queue *q = &d->q[1]; /* transmit */
    volatile struct desc *desc = (volatile struct desc *)(uintptr_t)q->desc_gpa;
    volatile uint16_t *avail = (volatile uint16_t *)(uintptr_t)q->avail_gpa;
    uint16_t idx = avail[1];
    /* A valid buffer to corrupt: in the heap, inside guest RAM. */
    static uint8_t frame[64];

    desc[0].addr = (uint64_t)(uintptr_t)frame;
    desc[0].len = sizeof(frame);
    desc[0].flags = 0;
    desc[0].next = 0;
    avail[2 + (idx & (q->size - 1))] = 0;
    if (!strcmp(argv[1], "idx")) {
        idx = (uint16_t)(idx + q->size + 7);
    } else if (!strcmp(argv[1], "addr")) {
        desc[0].addr = bi->mem_size + 0x100000u;
        idx++;
    } else if (!strcmp(argv[1], "loop")) {
        desc[0].flags = F_NEXT;
        desc[0].next = 1;
        desc[1] = (struct desc){(uint64_t)(uintptr_t)frame, sizeof(frame), F_NEXT, 0};
        idx++;
    } else if (!strcmp(argv[1], "len")) {
        desc[0].len = 0xffffffffu;
        idx++;
    } else {
        lvrt_printf("vqcorrupt: unknown kind '%s' (idx, addr, loop, len)\n", argv[1]);
        return 2;
    }
    lvrt_printf("vqcorrupt: corrupting the transmit queue (%s)\n", argv[1]);
    __asm__ volatile("" ::: "memory");
    avail[1] = idx;
    __asm__ volatile("mfence" ::: "memory");
    *(volatile uint32_t *)(uintptr_t)d->notify_gpa = q->notify_data;
    lvrt_sleep_ns(10ull * 1000 * 1000 * 1000);
    lvrt_puts("vqcorrupt: not stopped by the VMM");
    return 1;
}
