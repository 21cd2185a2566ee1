/* fuzz_ctl.c: libFuzzer target for the control protocol's framing: the
 * input, split at arbitrary points (its first byte picks the chunk
 * size), is written into a socket and read with lv_ctl_poll_recv until
 * the connection ends. Every message must be a JSON object; every error
 * a negative errno with a message; nothing may crash or leak. Each
 * message's "v" goes through the version check as the daemon and a VM
 * process do it: passed exactly when it is absent or equal, else refused
 * with a line. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_version(const json_t *m)
{
    struct lv_err err = {""};
    json_t *v = json_object_get(m, "v");
    json_int_t got = 0;
    char mine[64];
    int ok = !v || (json_is_integer(v) && json_integer_value(v) == LV_CTL_VERSION);
    int rc = lv_ctl_version_check(m, LV_CTL_VERSION, "lightvmd", &err);

    snprintf(mine, sizeof(mine), "(this lightvmd speaks %d)", LV_CTL_VERSION);
    if (ok ? rc != 0 : rc != -EPROTO || !strstr(err.msg, mine))
        abort();
    rc = lv_ctl_version_get(m, LV_VMP_VERSION, &got, &err);
    if (v && json_is_integer(v) ? rc || got != json_integer_value(v)
                                : v ? rc != -EPROTO : rc || got != LV_VMP_VERSION)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lv_ctl_conn c;
    int sv[2];
    size_t chunk, off = 1;

    if (size < 1 || size > 200000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    chunk = (size_t)data[0] * 37 + 1;
    lv_ctl_conn_init(&c, sv[0]);
    for (int done = 0; !done;) {
        if (off < size) {
            size_t n = size - off < chunk ? size - off : chunk;
            if (write(sv[1], data + off, n) != (ssize_t)n)
                abort();
            off += n;
        } else if (sv[1] >= 0) {
            close(sv[1]);
            sv[1] = -1;
        }
        for (;;) {
            struct lv_err err = {""};
            json_t *m = NULL;
            int rc = lv_ctl_poll_recv(&c, &m, &err);
            if (rc == 1) {
                if (!json_is_object(m))
                    abort();
                check_version(m);
                json_decref(m);
                continue;
            }
            if (rc < 0) {
                if (rc != -EPIPE && !err.msg[0])
                    abort(); /* every error is explained */
                done = 1;
            }
            break;
        }
    }
    if (sv[1] >= 0)
        close(sv[1]);
    lv_ctl_conn_close(&c);
    return 0;
}
