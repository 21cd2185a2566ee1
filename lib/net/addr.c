/* addr.c: interface-name checks, MAC address parsing, formatting and
 * random generation, IPv4 address parsing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lightvm/net.h"

int lv_ifname_check(const char *name, struct lv_err *err)
{
    size_t len;

    if (!name || !name[0])
        return lv_err_set(err, EINVAL, "interface name is empty");
    len = strnlen(name, LV_IFNAMSIZ);
    if (len >= LV_IFNAMSIZ)
        return lv_err_set(err, EINVAL, "interface name \"%.40s%s\" is longer than %d characters",
                          name, strlen(name) > 40 ? "..." : "", LV_IFNAMSIZ - 1);
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return lv_err_set(err, EINVAL, "interface name \"%s\" is not allowed", name);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return lv_err_set(err, EINVAL,
                              "interface name \"%s\": character %zu is not one of "
                              "[A-Za-z0-9_.-]", name, i + 1);
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int lv_mac_parse(const char *s, uint8_t mac[6], struct lv_err *err)
{
    uint8_t m[6];

    if (!s)
        return lv_err_set(err, EINVAL, "MAC address is missing");
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
        char sep = lo < 0 ? 0 : p[2];
        if (lo < 0 || sep != (i < 5 ? ':' : '\0'))
            return lv_err_set(err, EINVAL,
                              "MAC address \"%.40s\" is not six hex pairs like "
                              "02:00:00:00:00:01", s);
        m[i] = (uint8_t)(hi << 4 | lo);
    }
    if (m[0] & 1)
        return lv_err_set(err, EINVAL, "MAC address %s is multicast (bit 0 of the first byte)",
                          s);
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
        return lv_err_set(err, EINVAL, "MAC address %s is all zero", s);
    memcpy(mac, m, 6);
    return 0;
}

int lv_mac_random(uint8_t mac[6], struct lv_err *err)
{
    uint8_t m[6];
    ssize_t n;
    int tries = 0;

    do
        n = getrandom(m, sizeof(m), 0);
    while (n < 0 && errno == EINTR && ++tries < 100);
    if (n != (ssize_t)sizeof(m))
        return lv_err_set(err, n < 0 ? errno : EIO, "getrandom for a MAC address: %s",
                          n < 0 ? strerror(errno) : "short read");
    m[0] = (uint8_t)((m[0] & 0xfe) | 0x02); /* unicast, locally administered */
    memcpy(mac, m, 6);
    return 0;
}

void lv_mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

int lv_ipv4_parse(const char *s, uint32_t *ip, int *prefix, struct lv_err *err)
{
    const char *p = s;
    uint32_t v = 0;
    int pfx = -1;

    for (int i = 0; i < 4; i++) {
        unsigned o = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            o = o * 10 + (unsigned)(*p++ - '0');
            digits++;
        }
        if (!digits || digits > 3 || o > 255 || (digits > 1 && p[-(int)digits] == '0'))
            goto bad;
        v = v << 8 | o;
        if (i < 3 && *p++ != '.')
            goto bad;
    }
    if (*p == '/' && prefix) {
        unsigned n = 0, digits = 0;
        p++;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            n = n * 10 + (unsigned)(*p++ - '0');
            digits++;
        }
        if (!digits || n > 32)
            goto bad;
        pfx = (int)n;
    }
    if (*p)
        goto bad;
    *ip = htonl(v);
    if (prefix)
        *prefix = pfx;
    return 0;
bad:
    return lv_err_set(err, EINVAL, "'%s' is not an IPv4 address%s", s,
                      prefix ? " (A.B.C.D or A.B.C.D/PREFIX)" : " (A.B.C.D)");
}

int lv_ipv4_port_parse(const char *s, uint32_t *ip, uint16_t *port, struct lv_err *err)
{
    char host[16], *end;
    const char *colon = strrchr(s, ':');
    unsigned long p;
    struct lv_err why = {""};

    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return lv_err_set(err, EINVAL, "'%.64s': want A.B.C.D:PORT", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (lv_ipv4_parse(host, ip, NULL, &why) < 0)
        return lv_err_set(err, EINVAL, "'%.64s': %s", s, why.msg);
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
        return lv_err_set(err, EINVAL, "'%.64s': port must be 1..65535", s);
    *port = htons((uint16_t)p);
    return 0;
}
