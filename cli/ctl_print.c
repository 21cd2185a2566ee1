/* ctl_print.c: how the lightvmd verbs (cmd_ctl.c) show a reply. A reply
 * comes from another process: a missing or mistyped field prints as "-"
 * or 0, never crashes. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : "-";
}

/* Integers and reals alike (the daemon sends times as reals). */
static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

void lv_ctl_print_json(FILE *f, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    fprintf(f, "%s\n", s ? s : "null");
    free(s);
}

void lv_ctl_print_vm_line(FILE *f, const json_t *reply)
{
    const json_t *vm = json_object_get(reply, "vm");

    fprintf(f, "%s id=%.0f pid=%.0f pool=%s\n", str(vm, "name"), num(vm, "id"), num(vm, "pid"),
            str(reply, "pool"));
}

static void print_phases(FILE *f, const char *which, const json_t *phases)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)phases, key, v)
        fprintf(f, "trace %s phase=%s dur_us=%.0f\n", which, key, json_number_value(v));
}

void lv_ctl_print_create_trace(FILE *f, const json_t *reply, double client_us)
{
    const json_t *t = json_object_get(reply, "trace");
    const json_t *daemon_us = json_object_get(t, "daemon_us");

    if (!daemon_us) /* docs/protocol.md calls it total_us */
        daemon_us = json_object_get(t, "total_us");
    print_phases(f, "prepare", json_object_get(t, "prepare"));
    print_phases(f, "execute", json_object_get(t, "execute"));
    print_phases(f, "daemon", json_object_get(t, "daemon")); /* antispoof: the rules' install */
    fprintf(f, "trace prepared_us_ago=%.0f daemon_us=%.0f client_us=%.0f\n",
            num(t, "prepared_us_ago"), json_number_value(daemon_us), client_us);
}

static int crashed(const json_t *vm)
{
    return !strcmp(str(vm, "state"), "crashed");
}

void lv_ctl_print_list(FILE *f, const json_t *vms)
{
    int w = 4; /* the NAME column: as wide as the longest name */
    size_t i;
    json_t *vm;

    json_array_foreach((json_t *)vms, i, vm) {
        int n = (int)strlen(str(vm, "name"));
        w = n > w ? n : w;
    }
    fprintf(f, "%-4s  %-*s  %-8s  %-6s  %-8s  %s\n", "ID", w, "NAME", "STATE", "MEMORY",
            "UPTIME", "PID");
    json_array_foreach((json_t *)vms, i, vm) {
        char id[24], mem[24], up[32], pid[24];
        int dead = crashed(vm);
        snprintf(id, sizeof(id), "%.0f", num(vm, "id"));
        snprintf(mem, sizeof(mem), "%.0fM", num(vm, "memory"));
        snprintf(up, sizeof(up), "%.1fs", num(vm, "uptime_s"));
        snprintf(pid, sizeof(pid), "%.0f", num(vm, "pid"));
        fprintf(f, "%-4s  %-*s  %-8s  %-6s  %-8s  %s%s%s\n", id, w, str(vm, "name"),
                str(vm, "state"), mem, dead ? "-" : up, dead ? "-" : pid, dead ? "  " : "", dead ? str(vm, "reason") : "");
    }
}

void lv_ctl_print_info(FILE *f, const json_t *vm)
{
    size_t i;
    json_t *v;

    fprintf(f, "name: %s\nid: %.0f\nstate: %s\n", str(vm, "name"), num(vm, "id"),
            str(vm, "state"));
    if (crashed(vm))
        fprintf(f, "pid: -\n");
    else
        fprintf(f, "pid: %.0f\n", num(vm, "pid"));
    fprintf(f, "memory: %.0fM\nvcpus: %.0f\nkernel: %s\n", num(vm, "memory"), num(vm, "vcpus"),
            str(vm, "kernel"));
    if (crashed(vm))
        fprintf(f, "uptime: -\n");
    else
        fprintf(f, "uptime: %.1fs\n", num(vm, "uptime_s"));
    json_array_foreach(json_object_get(vm, "vifs"), i, v)
        fprintf(f, "vif%zu: bridge=%s tap=%s mac=%s ip=%s\n", i, str(v, "bridge"), str(v, "tap"),
                str(v, "mac"), str(v, "ip"));
    const json_t *con = json_object_get(vm, "console");
    const char *le = json_string_value(json_object_get(con, "last_error"));
    if (json_is_object(con) && json_object_size(con))
        fprintf(f, "console: cap=%.0f bytes=%.0f dropped=%.0f errors=%.0f%s%s\n", num(con, "cap"),
                num(con, "bytes"), num(con, "dropped"), num(con, "errors"),
                le && *le ? " last_error=" : "", le && *le ? le : "");
    const json_t *dr = json_object_get(vm, "dropped"); /* antispoof: frames the taps refused */
    if (json_is_object(dr))
        fprintf(f, "dropped: mac %.0f, ip %.0f, arp %.0f, other %.0f\n", num(dr, "mac"),
                num(dr, "ip"), num(dr, "arp"), num(dr, "other"));
    if (crashed(vm))
        fprintf(f, "reason: %s\n", str(vm, "reason"));
}

void lv_ctl_print_pool(FILE *f, const json_t *flavors)
{
    size_t i;
    json_t *fl;

    json_array_foreach((json_t *)flavors, i, fl)
        fprintf(f, "memory=%.0fM nics=%.0f target=%.0f ready=%.0f preparing=%.0f hits=%.0f "
                   "misses=%.0f refills=%.0f refill_median_us=%.0f refill_last_us=%.0f\n",
                num(fl, "memory"), num(fl, "nics"), num(fl, "target"), num(fl, "ready"),
                num(fl, "preparing"), num(fl, "hits"), num(fl, "misses"), num(fl, "refills"),
                num(fl, "refill_us_median"), num(fl, "refill_us_last"));
}
