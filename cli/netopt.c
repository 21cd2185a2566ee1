/* netopt.c: `--net`, `--probe` and `--wait-net` of `lightvm run`. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

static uint32_t prefix_mask(int prefix)
{
    return prefix <= 0 ? 0 : htonl(~0u << (32 - prefix));
}

int lv_nic_parse(const char *spec, struct lv_nic_opt *o)
{
    char buf[256], *save = NULL, *tok;
    struct lv_err err = {""};
    int prefix;

    memset(o, 0, sizeof(*o));
    if (strlen(spec) >= sizeof(buf)) {
        fprintf(stderr, "lightvm run: --net '%.40s...' is too long\n", spec);
        return -1;
    }
    strcpy(buf, spec);
    tok = strtok_r(buf, ",", &save);
    if (!tok || lv_ifname_check(tok, &err) < 0) {
        fprintf(stderr, "lightvm run: --net '%s': bad bridge name: %s\n", spec,
                tok ? err.msg : "empty");
        return -1;
    }
    strcpy(o->bridge, tok);
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *v = strchr(tok, '=');
        if (v)
            *v++ = '\0';
        if (!strcmp(tok, "create") && !v) {
            o->create = 1;
        } else if (!strcmp(tok, "mac") && v) {
            if (lv_mac_parse(v, o->mac, &err) < 0)
                goto bad;
            o->has_mac = 1;
        } else if (!strcmp(tok, "ip") && v) {
            if (lv_ipv4_parse(v, &o->ip, &prefix, &err) < 0)
                goto bad;
            o->netmask = prefix_mask(prefix < 0 ? 24 : prefix);
        } else if (!strcmp(tok, "gw") && v) {
            if (lv_ipv4_parse(v, &o->gw, NULL, &err) < 0)
                goto bad;
        } else {
            fprintf(stderr, "lightvm run: --net '%s': unknown key '%s' (want mac=, ip=, gw=, "
                            "create)\n", spec, tok);
            return -1;
        }
    }
    return 0;
bad:
    fprintf(stderr, "lightvm run: --net '%s': %s\n", spec, err.msg);
    return -1;
}

int lv_nics_open(const struct lv_nic_opt *o, unsigned n, struct lv_tap *taps,
                 struct lv_vm_nic *out, struct lv_err *err)
{
    struct lv_nl *nl = NULL;
    unsigned i;
    int rc;

    for (i = 0; i < n; i++)
        taps[i].fd = -1;
    if (!n)
        return 0;
    rc = lv_nl_open(&nl, err);
    for (i = 0; !rc && i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        rc = lv_vif_open(nl, o[i].bridge, o[i].create, &taps[i], err);
        if (rc)
            break;
        if (o[i].has_mac)
            memcpy(out[i].mac, o[i].mac, 6);
        else if ((rc = lv_mac_random(out[i].mac, err)) < 0)
            break;
        out[i].tap_fd = taps[i].fd;
        out[i].ip = o[i].ip;
        out[i].netmask = o[i].netmask;
        out[i].gw = o[i].gw;
    }
    lv_nl_close(&nl);
    if (rc)
        lv_nics_close(o, taps, n);
    return rc;
}

void lv_nics_close(const struct lv_nic_opt *o, struct lv_tap *taps, unsigned n)
{
    struct lv_nl *nl = NULL;

    for (unsigned i = 0; i < n; i++)
        lv_tap_close(&taps[i]);
    /* A bridge lightvm made goes with its last tap (the tap is gone once
     * its fd is closed). */
    for (unsigned i = 0; i < n; i++)
        if (o[i].create && (nl || lv_nl_open(&nl, NULL) == 0))
            lv_bridge_release(nl, o[i].bridge, NULL);
    lv_nl_close(&nl);
}

int lv_probe_parse(const char *verb, const char *s, uint32_t *ip, uint16_t *port)
{
    char buf[64], *colon;
    struct lv_err err = {""};
    char *end;
    unsigned long p;

    if (strlen(s) >= sizeof(buf) || !(colon = strrchr(strcpy(buf, s), ':'))) {
        fprintf(stderr, "lightvm %s: --probe '%s': want ADDR:PORT\n", verb, s);
        return -1;
    }
    *colon = '\0';
    if (lv_ipv4_parse(buf, ip, NULL, &err) < 0) {
        fprintf(stderr, "lightvm %s: --probe '%s': %s\n", verb, s, err.msg);
        return -1;
    }
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p == 0 || p > 65535) {
        fprintf(stderr, "lightvm %s: --probe '%s': port must be 1..65535\n", verb, s);
        return -1;
    }
    *port = htons((uint16_t)p);
    return 0;
}

int lv_probe_listen(uint32_t ip, uint16_t *port, struct lv_err *err)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = ip};
    socklen_t len = sizeof(a);
    char s[INET_ADDRSTRLEN];
    int fd, e;

    inet_ntop(AF_INET, &ip, s, sizeof(s));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lv_err_set(err, errno, "--wait-net: socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        e = errno;
        close(fd);
        return lv_err_set(err, e, "--wait-net %s: cannot listen there: %s (an address of "
                          "this host, e.g. the bridge's)", s, strerror(e));
    }
    *port = a.sin_port;
    return fd;
}
