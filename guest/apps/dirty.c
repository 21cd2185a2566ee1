/*
 * dirty: a guest for the dirty page tracking test (tests/kvm/test_dirty.c).
 * It keeps NPAGES whole pages of its heap that nothing else writes, and
 * says where they are, where its first NIC's receive used ring is and
 * where the VMM-owned memory starts:
 *
 *   dirty: pages 0xP n N rxused 0xU devmem 0xD
 *
 * then serves UDP port 7: a datagram "w A B V" writes byte V over every
 * byte of its pages A .. B-1 and is answered "wrote A B"; any other
 * datagram is answered "idle" (the guest's own pages stay untouched).
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/udp.h"

const char *const lvrt_app_name = "dirty";

#define PORT 7
#define PAGE 4096u
#define NPAGES 64u

static volatile uint8_t *pages;

/* "w A B V" with A < B <= NPAGES and V < 256; 0, or -1 if not that. */
static int parse_write(const char *s, uint64_t *a, uint64_t *b, uint64_t *v)
{
    char word[3][24];
    const char *p = s + 2;

    if (s[0] != 'w' || s[1] != ' ')
        return -1;
    for (int k = 0; k < 3; k++) {
        size_t n = 0;
        while (*p == ' ')
            p++;
        while (*p && *p != ' ' && n < sizeof(word[k]) - 1)
            word[k][n++] = *p++;
        word[k][n] = '\0';
    }
    if (*p || lvrt_parse_u64(word[0], a) || lvrt_parse_u64(word[1], b) ||
        lvrt_parse_u64(word[2], v))
        return -1;
    return *a < *b && *b <= NPAGES && *v < 256 ? 0 : -1;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port)
{
    char req[64], line[64];
    uint64_t a, b, v;
    struct pbuf *r;
    u16_t len = p->tot_len < sizeof(req) - 1 ? p->tot_len : (u16_t)(sizeof(req) - 1);
    int n;

    (void)arg;
    pbuf_copy_partial(p, req, len, 0);
    req[len] = '\0';
    pbuf_free(p);
    if (parse_write(req, &a, &b, &v) == 0) {
        for (uint64_t off = a * PAGE; off < b * PAGE; off++)
            pages[off] = (uint8_t)v;
        n = lvrt_snprintf(line, sizeof(line), "wrote %lu %lu", a, b);
    } else {
        n = lvrt_snprintf(line, sizeof(line), "idle");
    }
    r = pbuf_alloc(PBUF_TRANSPORT, (u16_t)n, PBUF_RAM);
    if (!r)
        return; /* out of memory: the client asks again */
    pbuf_take(r, line, (u16_t)n);
    udp_sendto(pcb, r, addr, port);
    pbuf_free(r);
}

int main(int argc, char **argv)
{
    const struct lv_bootinfo *bi = lvrt_bootinfo();
    const struct lv_device *dev = (const struct lv_device *)(uintptr_t)bi->devices_gpa;
    struct udp_pcb *u;
    uint8_t *raw;

    (void)argc;
    (void)argv;
    if (lvnet_start() <= 0)
        return 1;
    raw = lvrt_malloc((NPAGES + 1) * PAGE);
    u = udp_new();
    if (!raw || !u || udp_bind(u, IP_ANY_TYPE, PORT) != ERR_OK) {
        lvrt_puts("dirty: no memory or cannot bind UDP port 7");
        return 1;
    }
    /* Whole pages: the allocator's own bytes stay outside them. */
    pages = (volatile uint8_t *)(((uintptr_t)raw + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
    udp_recv(u, on_udp, NULL);
    lvrt_printf("dirty: pages 0x%lx n %u rxused 0x%lx devmem 0x%lx\n", (uint64_t)(uintptr_t)pages,
                NPAGES, dev[0].q[0].used_gpa, bi->dev_mem_gpa);
    lvnet_loop();
}
