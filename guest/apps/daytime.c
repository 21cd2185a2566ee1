/*
 * daytime: the RFC 867 daytime service on TCP port 13, LightVM's
 * headline unikernel. Each connection gets one line, the UTC date as
 * "Wed Dec 02 01:52:13 2026\r\n", and is closed. The time is the host's
 * wall clock at boot (boot info) advanced by the TSC.
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/tcp.h"

const char *const lvrt_app_name = "daytime";

#define DAYTIME_PORT 13

/* Days since 1970-01-01 -> civil date (proleptic Gregorian): shift the
 * year to start in March so the leap day comes last, then split into
 * 400-year eras of 146097 days. */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                    /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);         /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                              /* [0, 11], March = 0 */

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int format_date(char *buf, size_t cap, uint64_t wall_ns)
{
    static const char wd[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char mo[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    uint64_t s = wall_ns / 1000000000u;
    int64_t days = (int64_t)(s / 86400);
    unsigned sod = (unsigned)(s % 86400), m, d;
    int y;

    civil(days, &y, &m, &d);
    return lvrt_snprintf(buf, cap, "%s %s %02u %02u:%02u:%02u %d\r\n", wd[days % 7], mo[m - 1],
                         d, sod / 3600, sod / 60 % 60, sod % 60, y);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    char line[64];
    int n;

    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    n = format_date(line, sizeof(line), lvrt_wall_ns());
    if (tcp_write(pcb, line, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK || tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb); /* out of memory: reset rather than hang the client */
        return ERR_ABRT;
    }
    return ERR_OK;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (!lvrt_wall_ns()) {
        lvrt_puts("daytime: the host gave no wall clock (boot info wall_ns)");
        return 1;
    }
    if (lvnet_start() <= 0 || lvnet_listen_tcp(DAYTIME_PORT, on_accept) < 0)
        return 1;
    lvnet_loop();
}
