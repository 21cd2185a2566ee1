/*
 * sleep: `sleep [ms]` (default 1000). Sleeps on the tickless timer and
 * reports the measured duration.
 */
#include "lvrt.h"

const char *const lvrt_app_name = "sleep";

int main(int argc, char **argv)
{
    uint64_t ms = 1000;

    if (argc > 1 && lvrt_parse_u64(argv[1], &ms) != 0) {
        lvrt_printf("sleep: bad milliseconds '%s'\n", argv[1]);
        return 2;
    }
    if (ms > UINT64_MAX / 1000000)
        ms = UINT64_MAX / 1000000;
    lvrt_printf("sleeping %lu ms\n", ms);
    uint64_t t0 = lvrt_now_ns();
    lvrt_sleep_ns(ms * 1000000);
    uint64_t t1 = lvrt_now_ns();
    lvrt_printf("slept %lu us\n", (t1 - t0) / 1000);
    return 0;
}
