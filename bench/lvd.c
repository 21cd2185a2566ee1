/* lvd.c: what the benchmarks that talk to lightvmd's socket share. */
#include <jansson.h>
#include <unistd.h>

#include "lvd.h"
#include "lightvm/ctl.h"

int bench_pool_wait(const char *sock, int want, int timeout_ms)
{
    for (int t = 0; t <= timeout_ms; t += 50) {
        json_t *rep = NULL, *req = json_pack("{s:s}", "op", "pool");
        int rc = lv_ctl_call(sock, req, 2000, &rep, NULL);
        json_decref(req);
        json_t *f = json_array_get(json_object_get(rep, "flavors"), 0);
        int ready = rc == 0 ? (int)json_integer_value(json_object_get(f, "ready")) : 0;
        json_decref(rep);
        if (ready == want)
            return 0;
        usleep(50000);
    }
    return -1;
}
