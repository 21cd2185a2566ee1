/*
 * vmspec.h: the VM configuration file (`lightvm create CONFIG.json`,
 * `lightvm run --config`), a JSON object with the keys of chaos's
 * (LightVM's toolstack) configs:
 *
 *   {"name": "daytime1", "kernel": "build/guest/daytime.elf", "memory": 8,
 *    "vcpus": 1, "cmdline": "", "vifs": [{"bridge": "lvbr0", "mac": "02:00:00:00:00:01",
 *    "ip": "10.0.0.2/24", "gw": "10.0.0.1"}]}
 *
 * The file is untrusted input: every length is bounded, unknown and
 * duplicate keys are errors, integers must be JSON integers (not 8.0, not
 * "8"), and error messages quote values only as printable ASCII,
 * truncated. Parsing uses libjansson (link with -ljansson).
 */
#ifndef LIGHTVM_VMSPEC_H
#define LIGHTVM_VMSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "abi/lv_abi.h"
#include "lightvm/err.h"

#define LV_NAME_MAX 64              /* including NUL */
#define LV_VM_MAX_VIFS LV_BOOTINFO_MAX_DEVICES /* = LV_VM_MAX_NICS */
#define LV_VM_MEMORY_MIN 2          /* MiB */
#define LV_VM_MEMORY_MAX 4096       /* MiB */
#define LV_VM_MEMORY_DEFAULT 8      /* MiB */
#define LV_VM_SPEC_MAX (64u << 10)  /* largest config accepted, in bytes */

struct lv_vif_spec {
    char bridge[16];      /* IFNAMSIZ: 1..15 chars, [A-Za-z0-9_.-], not "." or ".." */
    int has_mac;          /* 0: the VMM picks one (mac is then all zero) */
    uint8_t mac[6];       /* unicast, not all-zero */
    uint32_t ip, netmask, gw; /* network byte order; 0 = none; netmask from "/prefix",
                               * default /24 when ip is given */
};

struct lv_vm_spec {
    char name[LV_NAME_MAX];   /* required: 1..63 chars of [A-Za-z0-9_.-], not starting
                               * with '.' or '-' */
    char kernel[4096];        /* required: image path (non-empty, no NUL; relative paths
                               * are kept as given) */
    uint64_t memory_mb;       /* "memory": integer MiB, default 8, 2..4096 */
    unsigned vcpus;           /* "vcpus": default 1; only 1 is supported for now */
    char cmdline[2048];       /* "cmdline": default "", printable ASCII, < 2048 bytes */
    unsigned nvifs;           /* "vifs": array of 0..8 objects */
    struct lv_vif_spec vifs[LV_VM_MAX_VIFS];
};

/* Parses a JSON object of (len) bytes (need not be NUL-terminated; at
 * most LV_VM_SPEC_MAX, -E2BIG beyond) into (out). Returns 0, or a negative
 * errno (-EINVAL for a bad config, -ENOMEM) with one line in (err) naming
 * the bad key and value, e.g. "vifs[1].ip: '10.0.0.300' is not an IPv4
 * address ...", "unknown key 'memroy' ...", "name: missing", "memory: 5000
 * MiB is over the maximum 4096". (out) is only written on success, then
 * fully (unused bytes zero, so two results compare with memcmp). Keys:
 * name, kernel (required), memory, vcpus, cmdline, vifs; per vif: bridge
 * (required), mac, ip ("a.b.c.d" or "a.b.c.d/prefix", prefix 1..32, not
 * 0.0.0.0), gw ("a.b.c.d", not 0.0.0.0). */
int lv_vm_spec_parse(const char *json, size_t len, struct lv_vm_spec *out, struct lv_err *err);

/* As lv_vm_spec_parse(), from a JSON value already decoded (a control
 * message's "spec"), which it does not change and which stays the
 * caller's. No byte limit here: the message carrying it has its own. */
struct json_t;
int lv_vm_spec_from_json(struct json_t *j, struct lv_vm_spec *out, struct lv_err *err);

/* Parses `lightvm run --net`'s BRIDGE[,mac=M][,ip=A.B.C.D[/P]][,gw=G][,create]
 * into (vif), with the checks a config's vif gets; (*create) says whether
 * "create" was given (make the bridge: the cold path only, no config has
 * it). 0, or -EINVAL with one line in (err) quoting (opt). */
int lv_vif_spec_parse_opt(const char *opt, struct lv_vif_spec *vif, int *create,
                          struct lv_err *err);

/* Reads the file (path) (at most LV_VM_SPEC_MAX bytes; a larger one is
 * -E2BIG) and parses it as lv_vm_spec_parse() does; every error message
 * starts with "(path): ". */
int lv_vm_spec_load(const char *path, struct lv_vm_spec *out, struct lv_err *err);

/* Serializes (spec) to a compact one-line JSON object with the same keys
 * (all top-level keys always; per vif mac as "02:xx:..", ip as
 * "a.b.c.d/prefix" and gw only when set), which lv_vm_spec_parse() reads
 * back to an equal spec when (spec) is valid. Returns a malloc'd,
 * NUL-terminated string that the caller frees, or NULL when out of memory
 * or when (spec) cannot be written (a string not NUL-terminated within its
 * array or not UTF-8, nvifs > 8, an ip with a non-contiguous or zero
 * netmask). */
char *lv_vm_spec_to_json(const struct lv_vm_spec *spec);
/* The same as a JSON object: a new reference (the caller's), or NULL. */
struct json_t *lv_vm_spec_json(const struct lv_vm_spec *spec);

#endif
