/* test_vmspec.c: the VM config parser takes a full config and its
 * defaults, writes it back to JSON that reads back equal, and refuses
 * every malformed config we can think of with a message naming the key. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lightvm/build.h"
#include "lightvm/vmspec.h"
#include "lvtest.h"

#define FULL                                                                               \
    "{\"name\":\"web-1.a_b\",\"kernel\":\"build/guest/httpd.elf\",\"memory\":64,"          \
    "\"vcpus\":1,\"cmdline\":\"verbose port=80\",\"vifs\":["                              \
    "{\"bridge\":\"lvbr0\",\"mac\":\"02:00:00:aB:cd:01\",\"ip\":\"10.0.0.2/16\","        \
    "\"gw\":\"10.0.0.1\"},{\"bridge\":\"br-x.1\",\"ip\":\"192.168.1.7\"},"               \
    "{\"bridge\":\"b\"}]}"

/* A minimal valid config with (extra) spliced in before the closing brace. */
#define MIN(extra) "{\"name\":\"a\",\"kernel\":\"k\"" extra "}"
#define VIF(extra) MIN(",\"vifs\":[{\"bridge\":\"br0\"" extra "}]")

static const struct {
    const char *json;
    const char *msg; /* a substring the error must contain */
} bad[] = {
    {MIN(",\"memroy\":8"), "unknown key 'memroy'"},
    {VIF(",\"ipv4\":\"10.0.0.2\""), "vifs[0]: unknown key 'ipv4'"},
    {MIN(",\"name\":\"b\""), "name"},                        /* duplicate */
    {VIF(",\"ip\":\"10.0.0.2\",\"ip\":\"10.0.0.3\""), "ip"}, /* duplicate in a vif */
    {"{\"kernel\":\"k\"}", "name: missing"},
    {"{\"name\":\"a\"}", "kernel: missing"},
    {MIN(",\"vifs\":[{\"mac\":\"02:00:00:00:00:01\"}]"), "vifs[0].bridge: missing"},
    {"{\"name\":5,\"kernel\":\"k\"}", "name: expected a string, got an integer"},
    {"{\"name\":\"a\",\"kernel\":null}", "kernel: expected a string, got null"},
    {MIN(",\"cmdline\":[]"), "cmdline: expected a string, got an array"},
    {MIN(",\"vifs\":{}"), "vifs: expected an array, got an object"},
    {MIN(",\"vifs\":[\"br0\"]"), "vifs[0]: expected an object, got a string"},
    {VIF(",\"mac\":true"), "vifs[0].mac: expected a string, got true"},
    {"{\"name\":\"a b\",\"kernel\":\"k\"}", "name: 'a b': character 2"},
    {"{\"name\":\"a\\u001b[2J\",\"kernel\":\"k\"}", "name: 'a?[2J'"}, /* sanitized */
    {"{\"name\":\".a\",\"kernel\":\"k\"}", "name: '.a' starts with '.'"},
    {"{\"name\":\"-a\",\"kernel\":\"k\"}", "name: '-a' starts with '-'"},
    {"{\"name\":\"\",\"kernel\":\"k\"}", "name: empty"},
    {"{\"name\":\"a\",\"kernel\":\"\"}", "kernel: empty"},
    {"{\"name\":\"0123456789012345678901234567890123456789012345678901234567890123\","
     "\"kernel\":\"k\"}", "name: '0123456789012345678901234567890123456789...' is longer"},
    {MIN(",\"memory\":0"), "memory: 0 MiB is under the minimum 2"},
    {MIN(",\"memory\":1"), "memory: 1 MiB is under the minimum 2"},
    {MIN(",\"memory\":5000"), "memory: 5000 MiB is over the maximum 4096"},
    {MIN(",\"memory\":-1"), "memory: -1 is negative"},
    {MIN(",\"memory\":8.5"), "memory: expected an integer, got a real number"},
    {MIN(",\"memory\":8.0"), "memory: expected an integer, got a real number"},
    {MIN(",\"memory\":\"8\""), "memory: expected an integer, got a string"},
    {MIN(",\"memory\":99999999999999999999999"), "too big integer"},
    {MIN(",\"vcpus\":2"), "vcpus: 2: only 1 vCPU is supported"},
    {MIN(",\"vcpus\":0"), "vcpus: 0: only 1 vCPU is supported"},
    {VIF(",\"mac\":\"03:00:00:00:00:01\""), "vifs[0].mac: MAC address 03:00:00:00:00:01 is "
                                            "multicast"},
    {VIF(",\"mac\":\"00:00:00:00:00:00\""), "vifs[0].mac: MAC address 00:00:00:00:00:00 is all "
                                            "zero"},
    {VIF(",\"mac\":\"02:00:00:00:00\""), "vifs[0].mac: MAC address \"02:00:00:00:00\" is not"},
    {VIF(",\"mac\":\"02:00:00:00:00:01:02\""), "vifs[0].mac: '02:00:00:00:00:01:02' is longer"},
    {VIF(",\"mac\":\"02-00-00-00-00-01\""), "vifs[0].mac: MAC address"},
    {MIN(",\"vifs\":[{\"bridge\":\"b\"},{\"bridge\":\"b\",\"ip\":\"10.0.0.300\"}]"),
     "vifs[1].ip: '10.0.0.300' is not an IPv4 address"},
    {VIF(",\"ip\":\"10.0.0\""), "vifs[0].ip: '10.0.0' is not an IPv4 address"},
    {VIF(",\"ip\":\"10.0.0.2/0\""), "vifs[0].ip: prefix /0 in '10.0.0.2/0' is not 1..32"},
    {VIF(",\"ip\":\"10.0.0.2/33\""), "vifs[0].ip: '10.0.0.2/33' is not an IPv4 address"},
    {VIF(",\"ip\":\"0.0.0.0/8\""), "vifs[0].ip: 0.0.0.0 is not a usable address"},
    {VIF(",\"ip\":\"10.0.0.\\t\""), "vifs[0].ip: '10.0.0.?' has bytes that are not printable"},
    {VIF(",\"gw\":\"255.255.255.2555\""), "vifs[0].gw: '255.255.255.2555' is longer than 15"},
    {VIF(",\"gw\":\"10.0.0.1/8\""), "vifs[0].gw: '10.0.0.1/8' is not an IPv4 address"},
    {MIN(",\"vifs\":[{\"bridge\":\"..\"}]"), "vifs[0].bridge: interface name \"..\" is not"},
    {MIN(",\"vifs\":[{\"bridge\":\"br 0\"}]"), "vifs[0].bridge: interface name \"br 0\": "
                                               "character 3"},
    {MIN(",\"vifs\":[{\"bridge\":\"0123456789abcdef\"}]"), "vifs[0].bridge: '0123456789abcdef' "
                                                         "is longer than 15 bytes"},
    {MIN(",\"vifs\":[{\"bridge\":\"\"}]"), "vifs[0].bridge: interface name is empty"},
    {MIN(",\"vifs\":[{\"bridge\":\"b\"},{\"bridge\":\"b\"},{\"bridge\":\"b\"},{\"bridge\":\"b\"},"
         "{\"bridge\":\"b\"},{\"bridge\":\"b\"},{\"bridge\":\"b\"},{\"bridge\":\"b\"},"
         "{\"bridge\":\"b\"}]"), "vifs: 9 entries, at most 8"},
    {MIN(",\"cmdline\":\"a\\u0001b\""), "cmdline: command line byte 1 (0x01) is not printable"},
    {MIN(",\"cmdline\":\"a\\nb\""), "cmdline: command line byte 1 (0x0a)"},
    {MIN(",\"cmdline\":\"caf\\u00e9\""), "cmdline: command line byte 3 (0xc3)"},
    {MIN(",\"kernel\":\"k\\u0000x\""), "config: invalid JSON"},
    {"[{\"name\":\"a\",\"kernel\":\"k\"}]", "config: expected a JSON object, got an array"},
    {"\"name\"", "config: expected a JSON object, got a string"},
    {"{\"name\":\"a\",\"kernel\":\"k\"", "config: invalid JSON at line 1"},
    {"{\"name\":\"a\",\"kernel\":\"k\"} {}", "config: invalid JSON"},
    {"{\"name\":\"a\",\"kernel\":\"k\",}", "config: invalid JSON"},
    {"{\"name\":\"a\x01\",\"kernel\":\"k\"}", "config: invalid JSON"},
    {"{\"name\":\"\xff\",\"kernel\":\"k\"}", "config: invalid JSON"},
    {"", "config: empty input"},
    {"   ", "config: invalid JSON"},
};

static void test_full_round_trip(void)
{
    struct lv_vm_spec a, b;
    struct lv_err err = {""};
    const struct lv_vif_spec *v = a.vifs;
    char *json, *json2;

    CHECK(lv_vm_spec_parse(FULL, strlen(FULL), &a, &err) == 0, "full config: %s", err.msg);
    CHECK(!strcmp(a.name, "web-1.a_b"), "name '%s'", a.name);
    CHECK(!strcmp(a.kernel, "build/guest/httpd.elf"), "kernel '%s'", a.kernel);
    CHECK(a.memory_mb == 64 && a.vcpus == 1, "memory %llu vcpus %u",
          (unsigned long long)a.memory_mb, a.vcpus);
    CHECK(!strcmp(a.cmdline, "verbose port=80"), "cmdline '%s'", a.cmdline);
    CHECK(a.nvifs == 3, "nvifs %u", a.nvifs);
    CHECK(!strcmp(v[0].bridge, "lvbr0") && v[0].has_mac, "vif 0 bridge '%s'", v[0].bridge);
    CHECK(!memcmp(v[0].mac, "\x02\x00\x00\xab\xcd\x01", 6), "vif 0 mac");
    CHECK(v[0].ip == htonl(0x0a000002) && v[0].netmask == htonl(0xffff0000) &&
          v[0].gw == htonl(0x0a000001), "vif 0 addresses");
    CHECK(!strcmp(v[1].bridge, "br-x.1") && !v[1].has_mac, "vif 1");
    CHECK(v[1].ip == htonl(0xc0a80107) && v[1].netmask == htonl(0xffffff00) && !v[1].gw,
          "vif 1: default /24, no gw");
    CHECK(!strcmp(v[2].bridge, "b") && !v[2].ip && !v[2].netmask && !v[2].gw, "vif 2");

    json = lv_vm_spec_to_json(&a);
    CHECK(json != NULL, "to_json failed");
    if (!json)
        return;
    CHECK(!strchr(json, '\n') && !strstr(json, "\": "), "not one compact line: %s", json);
    CHECK(strstr(json, "\"mac\":\"02:00:00:ab:cd:01\"") && strstr(json, "\"ip\":\"10.0.0.2/16\"")
          && strstr(json, "\"ip\":\"192.168.1.7/24\"") && strstr(json, "\"gw\":\"10.0.0.1\""),
          "json %s", json);
    memset(&b, 0x55, sizeof(b));
    CHECK(lv_vm_spec_parse(json, strlen(json), &b, &err) == 0, "reparse: %s (%s)", err.msg, json);
    CHECK(!memcmp(&a, &b, sizeof(a)), "round trip differs: %s", json);
    json2 = lv_vm_spec_to_json(&b);
    CHECK(json2 && !strcmp(json, json2), "second serialization differs: %s", json2);
    free(json);
    free(json2);

    /* the same through JSON values (the control protocol's form): equal
     * specs, the object unchanged and still the caller's */
    json_t *o = lv_vm_spec_json(&a);
    char *before = o ? json_dumps(o, JSON_COMPACT) : NULL;
    memset(&b, 0x55, sizeof(b));
    CHECK(o && lv_vm_spec_from_json(o, &b, &err) == 0, "from_json: %s", err.msg);
    CHECK(!memcmp(&a, &b, sizeof(a)), "json_t round trip differs");
    json2 = o ? json_dumps(o, JSON_COMPACT) : NULL;
    CHECK(before && json2 && !strcmp(before, json2), "from_json changed the object: %s", json2);
    free(before);
    free(json2);
    json_decref(o);
}

/* lv_vm_spec_from_json refuses what lv_vm_spec_parse refuses, with the
 * same message, and leaves (out) alone. */
static void test_from_json_refuses(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i].json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        struct lv_err e1 = {""}, e2 = {""};
        struct lv_vm_spec s;
        if (!j) /* not JSON at all: nothing to hand over */
            continue;
        memset(&s, 0x5a, sizeof(s));
        CHECK(lv_vm_spec_from_json(j, &s, &e1) < 0, "case %zu %s: accepted", i, bad[i].json);
        lv_vm_spec_parse(bad[i].json, strlen(bad[i].json), &s, &e2);
        CHECK(!strcmp(e1.msg, e2.msg), "case %zu: '%s' vs parse's '%s'", i, e1.msg, e2.msg);
        CHECK(s.name[0] == 0x5a && s.nvifs == 0x5a5a5a5a, "case %zu: out written", i);
        json_decref(j);
    }
}

static void test_defaults(void)
{
    static const char cfg[] = "{\"kernel\":\"/abs/k.elf\",\"name\":\"A\"}";
    struct lv_vm_spec s;
    struct lv_err err = {""};
    char *json;

    /* not NUL-terminated: only (len) bytes are read */
    CHECK(lv_vm_spec_parse(cfg, sizeof(cfg) - 1, &s, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(s.name, "A") && !strcmp(s.kernel, "/abs/k.elf"), "name/kernel");
    CHECK(s.memory_mb == 8 && s.vcpus == 1 && !s.cmdline[0] && s.nvifs == 0,
          "defaults: memory %llu vcpus %u nvifs %u", (unsigned long long)s.memory_mb, s.vcpus,
          s.nvifs);
    json = lv_vm_spec_to_json(&s);
    CHECK(json && !strcmp(json, "{\"name\":\"A\",\"kernel\":\"/abs/k.elf\",\"memory\":8,"
                                "\"vcpus\":1,\"cmdline\":\"\",\"vifs\":[]}"), "json %s", json);
    free(json);

    /* the limits themselves are accepted */
    CHECK(lv_vm_spec_parse(MIN(",\"memory\":2"), strlen(MIN(",\"memory\":2")), &s, &err) == 0,
          "%s", err.msg);
    CHECK(lv_vm_spec_parse(MIN(",\"memory\":4096,\"vifs\":[]"),
                           strlen(MIN(",\"memory\":4096,\"vifs\":[]")), &s, &err) == 0, "%s",
          err.msg);
    CHECK(lv_vm_spec_parse(VIF(",\"ip\":\"10.1.2.3/32\""), strlen(VIF(",\"ip\":\"10.1.2.3/32\"")),
                           &s, &err) == 0 && s.vifs[0].netmask == 0xffffffffu, "%s", err.msg);
    CHECK(lv_vm_spec_parse(VIF(",\"ip\":\"10.1.2.3/1\""), strlen(VIF(",\"ip\":\"10.1.2.3/1\"")),
                           &s, &err) == 0 && s.vifs[0].netmask == htonl(0x80000000u), "%s",
          err.msg);
}

static void test_limits(void)
{
    struct lv_vm_spec s;
    struct lv_err err = {""};
    char *buf = malloc(LV_VM_SPEC_MAX + 16);
    size_t n;

    if (!buf)
        return;
    /* a 63-character name, and a command line of exactly 2047 bytes */
    n = (size_t)sprintf(buf, "{\"name\":\"%063d\",\"kernel\":\"k\",\"cmdline\":\"", 7);
    memset(buf + n, 'x', 2047);
    strcpy(buf + n + 2047, "\"}");
    CHECK(lv_vm_spec_parse(buf, strlen(buf), &s, &err) == 0 && strlen(s.cmdline) == 2047 &&
          strlen(s.name) == 63, "%s", err.msg);
    strcpy(buf + n + 2047, "x\"}");
    CHECK(lv_vm_spec_parse(buf, strlen(buf), &s, &err) == -EINVAL &&
          strstr(err.msg, "cmdline: 'xxx") && strstr(err.msg, "longer than 2047"), "%s", err.msg);

    /* deep nesting is refused by jansson, not by a stack overflow */
    n = (size_t)sprintf(buf, "{\"name\":\"a\",\"kernel\":\"k\",\"x\":");
    memset(buf + n, '[', 60000);
    buf[n + 60000] = '\0';
    CHECK(lv_vm_spec_parse(buf, strlen(buf), &s, &err) < 0 && strstr(err.msg, "invalid JSON"),
          "%s", err.msg);
    memset(buf, ' ', LV_VM_SPEC_MAX + 1);
    CHECK(lv_vm_spec_parse(buf, LV_VM_SPEC_MAX + 1, &s, &err) == -E2BIG, "%s", err.msg);
    free(buf);
}

static void test_load(void)
{
    static const char cfg[] = "{\"name\":\"daytime1\",\"kernel\":\"build/guest/daytime.elf\"}";
    char dir[] = "/tmp/test_vmspec.XXXXXX", path[64];
    struct lv_vm_spec s;
    struct lv_err err = {""};
    const char *typo = "{\"name\":\"a\",\"kernel\":\"k\",\"memroy\":8}";
    char *big;

    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof(path), "%s/vm.json", dir);
    CHECK(lvt_write_file(path, cfg, sizeof(cfg) - 1) == 0, "write");
    CHECK(lv_vm_spec_load(path, &s, &err) == 0 && !strcmp(s.name, "daytime1"), "%s", err.msg);

    /* 70 KiB: valid JSON (padded with spaces), refused for its size */
    big = malloc(70 << 10);
    if (big) {
        memset(big, ' ', 70 << 10);
        memcpy(big, cfg, sizeof(cfg) - 1);
        CHECK(lvt_write_file(path, big, 70 << 10) == 0, "write big");
        CHECK(lv_vm_spec_load(path, &s, &err) == -E2BIG && strstr(err.msg, path) &&
              strstr(err.msg, "larger than 64 KiB"), "70 KiB: %s", err.msg);
        free(big);
    }
    CHECK(lvt_write_file(path, typo, strlen(typo)) == 0, "write typo");
    CHECK(lv_vm_spec_load(path, &s, &err) == -EINVAL && !strncmp(err.msg, path, strlen(path)) &&
          strstr(err.msg, "unknown key 'memroy'"), "%s", err.msg);
    unlink(path);
    CHECK(lv_vm_spec_load(path, &s, &err) == -ENOENT && strstr(err.msg, path) &&
          strstr(err.msg, "cannot open"), "missing file: %s", err.msg);
    CHECK(lv_vm_spec_load(dir, &s, &err) < 0 && strstr(err.msg, dir), "directory: %s", err.msg);
    rmdir(dir);
    CHECK(lv_vm_spec_load("docs/examples/daytime.json", &s, &err) == 0 &&
          !strcmp(s.name, "daytime1") && s.nvifs == 1 && s.vifs[0].gw == htonl(0x0a000001),
          "docs/examples/daytime.json: %s", err.msg);
}

static void test_to_json_refuses(void)
{
    struct lv_vm_spec s;
    struct lv_err err = {""};

    CHECK(lv_vm_spec_parse(VIF(",\"ip\":\"10.0.0.2\""), strlen(VIF(",\"ip\":\"10.0.0.2\"")), &s,
                           &err) == 0, "%s", err.msg);
    s.vifs[0].netmask = htonl(0xff00ff00u);
    CHECK(lv_vm_spec_to_json(&s) == NULL, "non-contiguous netmask written");
    s.vifs[0].netmask = htonl(0xffffff00u);
    memset(s.name, 'a', sizeof(s.name));
    CHECK(lv_vm_spec_to_json(&s) == NULL, "unterminated name written");
    strcpy(s.name, "a");
    s.nvifs = 9;
    CHECK(lv_vm_spec_to_json(&s) == NULL, "9 vifs written");
}

/* `--net` options: the same fields and checks as a config's vif. */
static void test_net_opt(void)
{
    static const struct {
        const char *opt, *msg; /* msg NULL: accepted */
    } cases[] = {
        {"lvbr0", NULL},
        {"lvbr0,mac=02:00:00:00:00:07,ip=10.1.2.3/16,gw=10.1.0.1,create", NULL},
        {"", "bad bridge name"},
        {"bad/name", "bad bridge name"},
        {"lvbr0,ip=10.0.0.2/0", "prefix /0"},
        {"lvbr0,ip=0.0.0.0", "not a usable address"},
        {"lvbr0,gw=0.0.0.0", "not a usable address"},
        {"lvbr0,mac=01:00:00:00:00:01", "multicast"},
        {"lvbr0,ip=10.0.0.300", "not an IPv4 address"},
        {"lvbr0,frob=1", "unknown key 'frob'"},
        {"lvbr0,mac", "unknown key 'mac'"},
        {"lvbr0,create=1", "unknown key 'create'"},
        {"lv\x1b[2Jbr", "not printable"},
        {"lvbr0,mac=\xc3\xa9", "not printable"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lv_vif_spec v;
        struct lv_err err = {""};
        int create = -1, rc = lv_vif_spec_parse_opt(cases[i].opt, &v, &create, &err);
        if (!cases[i].msg)
            CHECK(rc == 0, "'%s': %s", cases[i].opt, err.msg);
        else
            CHECK(rc == -EINVAL && strstr(err.msg, cases[i].msg) &&
                      (strstr(err.msg, cases[i].opt) || strstr(cases[i].msg, "printable")),
                  "'%s': rc %d, message '%s' (want '%s' and the option)", cases[i].opt, rc,
                  err.msg, cases[i].msg);
    }
    struct lv_vif_spec v;
    struct lv_err err = {""};
    int create = 0;
    CHECK(lv_vif_spec_parse_opt("br-x.1,mac=02:00:00:00:00:07,ip=10.1.2.3/16,gw=10.1.0.1,create",
                                &v, &create, &err) == 0 && create && v.has_mac &&
              !strcmp(v.bridge, "br-x.1") && !memcmp(v.mac, "\x02\0\0\0\0\x07", 6) &&
              v.ip == htonl(0x0a010203) && v.netmask == htonl(0xffff0000) &&
              v.gw == htonl(0x0a010001),
          "full --net option: %s", err.msg);
    CHECK(lv_vif_spec_parse_opt("b,ip=192.168.1.7", &v, &create, &err) == 0 && !create &&
              !v.has_mac && v.netmask == htonl(0xffffff00) && !v.gw,
          "default /24, no create: %s", err.msg);
}

/* build.h's spec helpers: MACs chosen once, the probe option. */
static void test_build_parts(void)
{
    struct lv_vm_spec s;
    struct lv_probe p;
    struct lv_err err = {""};
    const char *js = "{\"name\":\"m\",\"kernel\":\"k\",\"vifs\":[{\"bridge\":\"b0\"},"
                     "{\"bridge\":\"b1\",\"mac\":\"02:00:00:00:00:07\"}]}";

    CHECK(lv_vm_spec_parse(js, strlen(js), &s, &err) == 0, "parse: %s", err.msg);
    CHECK(!s.vifs[0].has_mac && s.vifs[1].has_mac, "has_mac before");
    CHECK(lv_vm_spec_choose_macs(&s, &err) == 0, "choose: %s", err.msg);
    CHECK(s.vifs[0].has_mac && !(s.vifs[0].mac[0] & 1) && (s.vifs[0].mac[0] & 2),
          "chosen MAC not unicast and locally administered: %02x", s.vifs[0].mac[0]);
    CHECK(s.vifs[1].mac[5] == 7 && s.vifs[1].mac[0] == 2, "a given MAC was replaced");
    CHECK(lv_probe_parse("10.1.2.3:4567", &p, &err) == 0 && p.ip == htonl(0x0a010203) &&
          p.port == htons(4567) && !p.has_mac, "probe parse: %s", err.msg);
    CHECK(lv_probe_parse("10.1.2.3", &p, &err) < 0 && strstr(err.msg, "10.1.2.3"),
          "probe without port: %s", err.msg);
    CHECK(lv_probe_parse("10.1.2.300:1", &p, &err) < 0, "probe bad address accepted");
}

int main(void)
{
    test_build_parts();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lv_vm_spec s;
        struct lv_err err = {""};
        int rc;

        memset(&s, 0x5a, sizeof(s));
        rc = lv_vm_spec_parse(bad[i].json, strlen(bad[i].json), &s, &err);
        CHECK(rc < 0, "case %zu %s: accepted", i, bad[i].json);
        CHECK(strstr(err.msg, bad[i].msg) != NULL, "case %zu %s: message '%s' lacks '%s'", i,
              bad[i].json, err.msg, bad[i].msg);
        CHECK(s.name[0] == 0x5a && s.nvifs == 0x5a5a5a5a, "case %zu: out written on failure",
              i);
        for (const char *c = err.msg; *c; c++)
            CHECK(*c >= 0x20 && *c < 0x7f, "case %zu: unprintable byte in '%s'", i, err.msg);
    }
    test_full_round_trip();
    test_defaults();
    test_limits();
    test_load();
    test_to_json_refuses();
    test_from_json_refuses();
    test_net_opt();
    return lvt_done("test_vmspec");
}
