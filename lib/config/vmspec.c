/* vmspec.c: the VM configuration file (JSON, chaos's keys) to struct
 * lv_vm_spec and back. The file is hostile input: jansson does the JSON
 * (bounded depth, strict UTF-8, no NUL in strings, duplicate keys
 * refused); everything here checks types, lengths and ranges before a
 * byte is copied, and never quotes a value unsanitized in a message, as
 * the messages end up on a terminal. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "lightvm/bootinfo.h"
#include "lightvm/net.h"
#include "lightvm/vmspec.h"

#define QUOTE_MAX 40

_Static_assert(sizeof(((struct lv_vm_spec *)0)->cmdline) == LV_CMDLINE_MAX,
               "cmdline must hold what the boot info page takes");
_Static_assert(sizeof(((struct lv_vif_spec *)0)->bridge) == LV_IFNAMSIZ, "bridge is IFNAMSIZ");

static const char *const top_keys[] = {"name", "kernel", "memory", "vcpus", "cmdline", "vifs",
                                       NULL};
static const char *const vif_keys[] = {"bridge", "mac", "ip", "gw", NULL};

/* Printable ASCII copy of (s) for messages: other bytes become '?', and
 * more than QUOTE_MAX bytes end in "...". */
static const char *quote(char out[QUOTE_MAX + 4], const char *s)
{
    size_t i;

    for (i = 0; s[i] && i < QUOTE_MAX; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    strcpy(out + i, s[i] ? "..." : "");
    return out;
}

static const char *type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real number", [JSON_TRUE] = "true",
        [JSON_FALSE] = "false", [JSON_NULL] = "null"};

    return names[json_typeof(v)];
}

/* Refuses any key of (obj) not in (known). (where) is "" at top level or
 * "vifs[N]: ". */
static int check_keys(json_t *obj, const char *const *known, const char *where,
                      struct lv_err *err)
{
    const char *key;
    json_t *v;
    char q[QUOTE_MAX + 4];

    json_object_foreach(obj, key, v) {
        size_t i;
        for (i = 0; known[i] && strcmp(key, known[i]); i++)
            ;
        if (!known[i])
            return lv_err_set(err, EINVAL, "%sunknown key '%s' (want %s)", where,
                              quote(q, key), known == top_keys ?
                              "name, kernel, memory, vcpus, cmdline, vifs" :
                              "bridge, mac, ip, gw");
    }
    return 0;
}

/* Looks up string (key) of (obj), at most (max) bytes. Returns 0 with *s
 * set, 1 if absent and optional, or -EINVAL. (path) names it in messages. */
static int get_str(json_t *obj, const char *key, const char *path, int required, size_t max,
                   const char **s, struct lv_err *err)
{
    json_t *v = json_object_get(obj, key);
    char q[QUOTE_MAX + 4];
    size_t len;

    if (!v) {
        if (required)
            return lv_err_set(err, EINVAL, "%s: missing", path);
        return 1;
    }
    if (!json_is_string(v))
        return lv_err_set(err, EINVAL, "%s: expected a string, got %s", path, type_name(v));
    *s = json_string_value(v);
    len = json_string_length(v);
    /* jansson refuses \u0000 without JSON_ALLOW_NUL; checked anyway, as a
     * NUL would silently cut the value short */
    if (strlen(*s) != len)
        return lv_err_set(err, EINVAL, "%s: contains a NUL byte", path);
    if (len > max)
        return lv_err_set(err, EINVAL, "%s: '%s' is longer than %zu bytes", path,
                          quote(q, *s), max);
    return 0;
}

/* A non-negative JSON integer (key), or 1 if absent. */
static int get_uint(json_t *obj, const char *key, uint64_t *out, struct lv_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 1;
    if (!json_is_integer(v))
        return lv_err_set(err, EINVAL, "%s: expected an integer, got %s", key, type_name(v));
    if (json_integer_value(v) < 0)
        return lv_err_set(err, EINVAL, "%s: %lld is negative", key,
                          (long long)json_integer_value(v));
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int prefixed(int rc, const char *path, const struct lv_err *inner, struct lv_err *err)
{
    return rc < 0 ? lv_err_set(err, -rc, "%s: %s", path, inner->msg) : 0;
}

/* get_str() for key (key) of vif (idx), with (path) set to "vifs[N].key";
 * also refuses bytes that are not printable ASCII, before the value
 * reaches an lv_net parser, whose messages quote their input as given. */
static int vif_str(json_t *o, unsigned idx, const char *key, int required, size_t max,
                   char path[32], const char **s, struct lv_err *err)
{
    char q[QUOTE_MAX + 4];
    int rc;

    snprintf(path, 32, "vifs[%u].%s", idx, key);
    if ((rc = get_str(o, key, path, required, max, s, err)) != 0)
        return rc;
    for (const char *c = *s; *c; c++)
        if (*c < 0x20 || *c >= 0x7f)
            return lv_err_set(err, EINVAL, "%s: '%s' has bytes that are not printable ASCII",
                              path, quote(q, *s));
    return 0;
}

/* Sets field (key) ("bridge", "mac", "ip" or "gw") of (vif) from its text
 * (s), with the checks both a config's vif and `--net` get: 0 or -EINVAL
 * with a line in (err) that the caller prefixes with where (s) came from. */
static int vif_set(struct lv_vif_spec *vif, const char *key, const char *s, struct lv_err *err)
{
    char q[QUOTE_MAX + 4];
    int rc, prefix;

    if (!strcmp(key, "bridge")) {
        if ((rc = lv_ifname_check(s, err)) < 0)
            return rc;
        strcpy(vif->bridge, s);
        return 0;
    }
    if (!strcmp(key, "mac")) {
        if ((rc = lv_mac_parse(s, vif->mac, err)) < 0)
            return rc;
        vif->has_mac = 1;
        return 0;
    }
    if (!strcmp(key, "ip")) {
        if ((rc = lv_ipv4_parse(s, &vif->ip, &prefix, err)) < 0)
            return rc;
        if (prefix == 0)
            return lv_err_set(err, EINVAL, "prefix /0 in '%s' is not 1..32", quote(q, s));
        /* 0 means "none" in the spec: 0.0.0.0 would be dropped on the way
         * back to JSON with its netmask, so it is refused here */
        if (!vif->ip)
            return lv_err_set(err, EINVAL, "0.0.0.0 is not a usable address");
        vif->netmask = htonl(~0u << (32 - (prefix < 0 ? 24 : prefix)));
        return 0;
    }
    if ((rc = lv_ipv4_parse(s, &vif->gw, NULL, err)) < 0) /* "gw" */
        return rc;
    if (!vif->gw)
        return lv_err_set(err, EINVAL, "0.0.0.0 is not a usable address");
    return 0;
}

static int parse_vif(json_t *o, unsigned idx, struct lv_vif_spec *vif, struct lv_err *err)
{
    static const size_t max[] = {sizeof(vif->bridge) - 1, 17, 18, 15};
    char where[24], path[32];
    struct lv_err e = {""};
    const char *s;
    int rc;

    snprintf(where, sizeof(where), "vifs[%u]: ", idx);
    if (!json_is_object(o))
        return lv_err_set(err, EINVAL, "vifs[%u]: expected an object, got %s", idx,
                          type_name(o));
    if ((rc = check_keys(o, vif_keys, where, err)) < 0)
        return rc;
    for (unsigned k = 0; vif_keys[k]; k++) {
        rc = vif_str(o, idx, vif_keys[k], k == 0, max[k], path, &s, err);
        if (rc < 0 || (rc == 0 && (rc = prefixed(vif_set(vif, vif_keys[k], s, &e), path, &e,
                                                 err)) < 0))
            return rc;
    }
    return 0;
}

int lv_vif_spec_parse_opt(const char *opt, struct lv_vif_spec *vif, int *create,
                          struct lv_err *err)
{
    char buf[256], q[QUOTE_MAX + 4], *save = NULL, *tok;
    struct lv_err e = {""};
    int rc;

    memset(vif, 0, sizeof(*vif));
    *create = 0;
    if (strlen(opt) >= sizeof(buf))
        return lv_err_set(err, EINVAL, "'%s': too long", quote(q, opt));
    /* as vif_str: the field parsers quote their input as given */
    for (const char *c = opt; *c; c++)
        if (*c < 0x20 || *c >= 0x7f)
            return lv_err_set(err, EINVAL, "'%s': has bytes that are not printable ASCII",
                              quote(q, opt));
    strcpy(buf, opt);
    tok = strtok_r(buf, ",", &save);
    if (!tok || (rc = vif_set(vif, "bridge", tok, &e)) < 0)
        return lv_err_set(err, EINVAL, "'%s': bad bridge name: %s", quote(q, opt),
                          tok ? e.msg : "empty");
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *v = strchr(tok, '=');
        if (v)
            *v++ = '\0';
        if (!strcmp(tok, "create") && !v) {
            *create = 1;
            continue;
        }
        if (!v || !(!strcmp(tok, "mac") || !strcmp(tok, "ip") || !strcmp(tok, "gw")))
            return lv_err_set(err, EINVAL, "'%s': unknown key '%s' (want mac=, ip=, gw=, "
                              "create)", quote(q, opt), tok);
        if ((rc = vif_set(vif, tok, v, &e)) < 0)
            return lv_err_set(err, -rc, "'%s': %s: %s", quote(q, opt), tok, e.msg);
    }
    return 0;
}

static int parse_name(const char *s, char *out, struct lv_err *err)
{
    char q[QUOTE_MAX + 4];

    if (!s[0])
        return lv_err_set(err, EINVAL, "name: empty");
    if (s[0] == '.' || s[0] == '-')
        return lv_err_set(err, EINVAL, "name: '%s' starts with '%c'", quote(q, s), s[0]);
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return lv_err_set(err, EINVAL, "name: '%s': character %zu is not one of "
                              "[A-Za-z0-9_.-]", quote(q, s), i + 1);
    }
    strcpy(out, s);
    return 0;
}

static int parse_obj(json_t *root, struct lv_vm_spec *sp, struct lv_err *err)
{
    struct lv_err e = {""};
    const char *s;
    json_t *vifs;
    uint64_t n;
    int rc;

    if (!json_is_object(root))
        return lv_err_set(err, EINVAL, "config: expected a JSON object, got %s",
                          type_name(root));
    if ((rc = check_keys(root, top_keys, "", err)) < 0)
        return rc;

    if ((rc = get_str(root, "name", "name", 1, LV_NAME_MAX - 1, &s, err)) < 0 ||
        (rc = parse_name(s, sp->name, err)) < 0)
        return rc;

    if ((rc = get_str(root, "kernel", "kernel", 1, sizeof(sp->kernel) - 1, &s, err)) < 0)
        return rc;
    if (!s[0])
        return lv_err_set(err, EINVAL, "kernel: empty");
    strcpy(sp->kernel, s);

    sp->memory_mb = LV_VM_MEMORY_DEFAULT;
    if ((rc = get_uint(root, "memory", &sp->memory_mb, err)) < 0)
        return rc;
    if (sp->memory_mb < LV_VM_MEMORY_MIN)
        return lv_err_set(err, EINVAL, "memory: %llu MiB is under the minimum %u",
                          (unsigned long long)sp->memory_mb, LV_VM_MEMORY_MIN);
    if (sp->memory_mb > LV_VM_MEMORY_MAX)
        return lv_err_set(err, EINVAL, "memory: %llu MiB is over the maximum %u",
                          (unsigned long long)sp->memory_mb, LV_VM_MEMORY_MAX);

    n = 1;
    if ((rc = get_uint(root, "vcpus", &n, err)) < 0)
        return rc;
    if (n != 1)
        return lv_err_set(err, EINVAL, "vcpus: %llu: only 1 vCPU is supported for now",
                          (unsigned long long)n);
    sp->vcpus = 1;

    if ((rc = get_str(root, "cmdline", "cmdline", 0, sizeof(sp->cmdline) - 1, &s, err)) < 0)
        return rc;
    if (rc == 0) {
        if ((rc = prefixed(lv_cmdline_check(s, &e), "cmdline", &e, err)) < 0)
            return rc;
        strcpy(sp->cmdline, s);
    }

    vifs = json_object_get(root, "vifs");
    if (!vifs)
        return 0;
    if (!json_is_array(vifs))
        return lv_err_set(err, EINVAL, "vifs: expected an array, got %s", type_name(vifs));
    if (json_array_size(vifs) > LV_VM_MAX_VIFS)
        return lv_err_set(err, EINVAL, "vifs: %zu entries, at most %u", json_array_size(vifs),
                          LV_VM_MAX_VIFS);
    sp->nvifs = (unsigned)json_array_size(vifs);
    for (unsigned i = 0; i < sp->nvifs; i++)
        if ((rc = parse_vif(json_array_get(vifs, i), i, &sp->vifs[i], err)) < 0)
            return rc;
    return 0;
}

int lv_vm_spec_parse(const char *json, size_t len, struct lv_vm_spec *out, struct lv_err *err)
{
    json_error_t je;
    json_t *root;
    int rc;

    if (!json || !len)
        return lv_err_set(err, EINVAL, "config: empty input (want a JSON object)");
    if (len > LV_VM_SPEC_MAX)
        return lv_err_set(err, E2BIG, "config: %zu bytes, over the limit of %u", len,
                          LV_VM_SPEC_MAX);
    /* JSON_DECODE_ANY so that a top-level "5" gets the same message as a
     * top-level array, from parse_obj */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) {
        /* jansson quotes the token it stopped at, which may be anything */
        je.text[sizeof(je.text) - 1] = '\0';
        for (char *c = je.text; *c; c++)
            *c = *c >= 0x20 && *c < 0x7f ? *c : '?';
        return lv_err_set(err, json_error_code(&je) == json_error_out_of_memory ? ENOMEM : EINVAL,
                          "config: invalid JSON at line %d, column %d: %s", je.line, je.column,
                          je.text);
    }
    rc = lv_vm_spec_from_json(root, out, err);
    json_decref(root);
    return rc;
}

int lv_vm_spec_from_json(json_t *j, struct lv_vm_spec *out, struct lv_err *err)
{
    struct lv_vm_spec *sp;
    int rc;

    /* parsed into a zeroed copy, so that (out) is untouched on failure
     * and has no stale bytes on success */
    sp = calloc(1, sizeof(*sp));
    if (!sp)
        return lv_err_set(err, ENOMEM, "config: out of memory");
    rc = parse_obj(j, sp, err);
    if (!rc)
        memcpy(out, sp, sizeof(*sp));
    free(sp);
    return rc;
}

int lv_vm_spec_load(const char *path, struct lv_vm_spec *out, struct lv_err *err)
{
    struct lv_err e = {""};
    size_t len = 0;
    char *buf;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return lv_err_set(err, errno, "%s: cannot open: %s", path, strerror(errno));
    /* one byte more than allowed, to tell "exactly the limit" from "over" */
    buf = malloc(LV_VM_SPEC_MAX + 1);
    if (!buf) {
        close(fd);
        return lv_err_set(err, ENOMEM, "%s: out of memory", path);
    }
    while (len <= LV_VM_SPEC_MAX) {
        ssize_t n = read(fd, buf + len, LV_VM_SPEC_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = lv_err_set(err, errno, "%s: read: %s", path, strerror(errno));
            goto out_free;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > LV_VM_SPEC_MAX) {
        rc = lv_err_set(err, E2BIG, "%s: larger than %u KiB", path, LV_VM_SPEC_MAX >> 10);
        goto out_free;
    }
    rc = lv_vm_spec_parse(buf, len, out, &e);
    if (rc)
        lv_err_set(err, -rc, "%s: %s", path, e.msg);
out_free:
    free(buf);
    close(fd);
    return rc;
}

/* A string field of (len)-byte array (s) as a JSON string, or NULL if it
 * has no NUL within the array or is not UTF-8. */
static json_t *str_field(const char *s, size_t size)
{
    size_t len = strnlen(s, size);

    return len < size ? json_stringn(s, len) : NULL;
}

/* "a.b.c.d" or, with (prefix) > 0, "a.b.c.d/prefix" of (ip) (network order). */
static json_t *ip_string(uint32_t ip, int prefix)
{
    char buf[24];

    ip = ntohl(ip);
    snprintf(buf, sizeof(buf), prefix > 0 ? "%u.%u.%u.%u/%d" : "%u.%u.%u.%u", ip >> 24,
             ip >> 16 & 255, ip >> 8 & 255, ip & 255, prefix);
    return json_string(buf);
}

static json_t *vif_to_json(const struct lv_vif_spec *v)
{
    json_t *o = json_object();
    char mac[18];
    uint32_t mask = ntohl(v->netmask);
    int prefix = 0, bad = !o;

    while (prefix < 32 && (mask & (0x80000000u >> prefix)))
        prefix++;
    bad = bad || json_object_set_new(o, "bridge", str_field(v->bridge, sizeof(v->bridge)));
    if (!bad && v->has_mac) {
        lv_mac_format(v->mac, mac);
        bad = json_object_set_new(o, "mac", json_string(mac));
    }
    /* the netmask must be one that "/prefix" can say */
    if (!bad && v->ip)
        bad = !prefix || mask != ~0u << (32 - prefix) ||
              json_object_set_new(o, "ip", ip_string(v->ip, prefix));
    if (!bad && v->gw)
        bad = json_object_set_new(o, "gw", ip_string(v->gw, 0));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *lv_vm_spec_json(const struct lv_vm_spec *spec)
{
    json_t *o = json_object(), *vifs = json_array();
    int bad = !o || !vifs || spec->nvifs > LV_VM_MAX_VIFS || spec->memory_mb > INT64_MAX;

    /* the insertion order is the output order (jansson >= 2.8); a NULL
     * value (a failed json_string...) makes json_object_set_new fail */
    bad = bad || json_object_set_new(o, "name", str_field(spec->name, sizeof(spec->name)));
    bad = bad || json_object_set_new(o, "kernel", str_field(spec->kernel, sizeof(spec->kernel)));
    bad = bad || json_object_set_new(o, "memory", json_integer((json_int_t)spec->memory_mb));
    bad = bad || json_object_set_new(o, "vcpus", json_integer(spec->vcpus));
    bad = bad || json_object_set_new(o, "cmdline", str_field(spec->cmdline, sizeof(spec->cmdline)));
    for (unsigned i = 0; !bad && i < spec->nvifs; i++) {
        json_t *v = vif_to_json(&spec->vifs[i]);
        bad = !v || json_array_append_new(vifs, v);
    }
    bad = bad || json_object_set(o, "vifs", vifs);
    json_decref(vifs);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *lv_vm_spec_to_json(const struct lv_vm_spec *spec)
{
    json_t *o = lv_vm_spec_json(spec);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return s;
}
