/*
 * memhog: `memhog [MIB]` writes to every page of MIB MiB of the heap
 * (default: all of the heap that is left once the network is up), says
 * so on the console, then answers TCP port 13 with one line,
 * "memhog: touched N MiB\r\n", per connection. For the host's per-VM
 * memory limit: a VM whose guest RAM is all in use.
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/tcp.h"

const char *const lvrt_app_name = "memhog";

#define PORT 13
#define PAGE 4096u
#define MIB (1024u * 1024u)

static uint64_t touched_mib;

/* The largest block of whole MiB the heap gives, at most (want) MiB
 * (0: any); its size in (*mib). */
static volatile uint8_t *grab(uint64_t want, uint64_t *mib)
{
    uint64_t top = lvrt_bootinfo()->mem_size / MIB;

    for (uint64_t n = want ? want : top; n > 0; n--) {
        void *p = lvrt_malloc(n * MIB);
        if (p) {
            *mib = n;
            return p;
        }
        if (want)
            break;
    }
    *mib = 0;
    return 0;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    char line[64];
    int n;

    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    n = lvrt_snprintf(line, sizeof(line), "memhog: touched %6lu MiB\r\n", touched_mib);
    if (tcp_write(pcb, line, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK || tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

int main(int argc, char **argv)
{
    uint64_t want = 0, mib;

    if (argc > 1 && (lvrt_parse_u64(argv[1], &want) != 0 || want == 0 || want > (1u << 20))) {
        lvrt_printf("memhog: bad MiB '%s'\n", argv[1]);
        return 2;
    }
    /* The network first: its buffers come from the heap too. */
    if (lvnet_start() <= 0)
        return 1;
    volatile uint8_t *p = grab(want, &mib);
    if (!p) {
        lvrt_printf("memhog: cannot allocate %lu MiB\n", want);
        return 1;
    }
    lvrt_printf("memhog: touching %lu MiB\n", mib);
    lvrt_console_flush();
    for (uint64_t off = 0; off < mib * MIB; off += PAGE)
        p[off] = (uint8_t)(off >> 12 | 1);
    touched_mib = mib;
    lvrt_printf("memhog: touched %lu MiB\n", mib);
    if (lvnet_listen_tcp(PORT, on_accept) < 0)
        return 1;
    lvnet_loop();
}
