/* cmd_ctl.c: the `lightvm` verbs that talk to lightvmd over
 * $RUNDIR/lightvmd.sock (docs/protocol.md): their table and options, and
 * list, info, destroy, pause, unpause, shutdown, console, save, migrate,
 * pool
 * (create and restore are ctl_create.c's). What they print is in
 * ctl_print.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "lightvm/token.h"
#include "lightvm/ctl.h"
#include "lightvm/escape.h"
#include "lightvm/vmspec.h"

struct ctl_verb {
    const char *name;
    const char *arg;    /* the positional argument, or NULL */
    unsigned opts;
    const char *usage;  /* after "usage: lightvm VERB ARG" */
    const char *help;
    int (*fn)(struct ctl_opts *o);
};

static int do_list(struct ctl_opts *o);
static int do_info(struct ctl_opts *o);
static int do_simple(struct ctl_opts *o);
static int do_shutdown(struct ctl_opts *o);
static int do_console(struct ctl_opts *o);
static int do_pool(struct ctl_opts *o);

static int do_save(struct ctl_opts *o);
static int do_migrate(struct ctl_opts *o);

static const struct ctl_verb verbs[] = {
    {"create", "CONFIG.json", O_TRACE | O_NET | O_JSON | O_FROM | O_COPY,
     " [--from SNAPSHOT [--copy]] [--trace]\n"
     "                             [--wait-net ADDR | --probe ADDR:PORT] [--json]",
     "Creates the VM the configuration file describes (docs/examples/daytime.json) in\n"
     "lightvmd, from its pool of prepared VMs when one fits (memory, number of vifs).\n"
     "A relative kernel path is taken from the current directory. Prints\n"
     "'NAME id=ID pid=PID pool=hit|miss'.\n\n"
     "      --from SNAPSHOT restore the VM saved in SNAPSHOT (and SNAPSHOT.mem, made by\n"
     "                      'lightvm save') instead of booting an image: a clone. The\n"
     "                      file's keys replace the saved configuration's, so it may\n"
     "                      be as short as {\"name\": \"c1\", \"vifs\": [{\"bridge\":\n"
     "                      \"br0\", \"ip\": \"10.0.0.5/24\"}]} (a vif without \"mac\"\n"
     "                      gets a new one); memory and the number of vifs must be\n"
     "                      the snapshot's. Its memory is mapped copy-on-write from\n"
     "                      SNAPSHOT.mem (clones share the pages they only read;\n"
     "                      the file must stay and not change)\n"
     "      --copy          with --from: read SNAPSHOT.mem into the VM's own memory\n"
     "                      instead (nothing shared, the file no longer needed)\n"
     "  -t, --trace         where the time went, 'trace ...' lines on stderr\n"
     "      --wait-net ADDR listen on UDP ADDR (an address of this host, e.g. the\n"
     "                      bridge's) for the guest's network-up probe and print\n"
     "                      'lightvm: network up in N ms' on stderr (waits 10 s)\n"
     "      --probe ADDR:PORT  have the guest send its network-up probe there\n"
     "      --json          print the daemon's whole reply as JSON\n",
     ctl_create},
    {"list", NULL, O_JSON, " [--json]",
     "Lists the VMs: ID, NAME, STATE (running, paused, crashed and why), MEMORY,\n"
     "UPTIME, PID.\n\n"
     "      --json          print the VMs as a JSON array\n",
     do_list},
    {"info", "NAME", O_JSON, " [--json]",
     "Describes the VM NAME, one 'key: value' line each.\n\n"
     "      --json          print the VM as a JSON object\n",
     do_info},
    {"destroy", "NAME", 0, "", "Ends the VM NAME at once (or removes a crashed one). A VM process that does\n"
     "not answer within 5 s (stopped, hung) is killed.\n",
     do_simple},
    {"pause", "NAME", O_VERBOSE, " [-v]",
     "Stops the VM NAME's vCPU until 'lightvm unpause'.\n\n"
     "  -v, --verbose       print latency_us=N, the time the VM process took\n",
     do_simple},
    {"unpause", "NAME", O_VERBOSE, " [-v]",
     "Resumes the paused VM NAME.\n\n"
     "  -v, --verbose       print latency_us=N, the time the VM process took\n",
     do_simple},
    {"shutdown", "NAME", O_TIMEOUT, " [--timeout MS]",
     "Asks the guest of the VM NAME to shut down and destroys it if it has not\n"
     "within the timeout. Prints 'NAME: shut down' or 'NAME: did not shut down\n"
     "within MS ms: destroyed'; exits 0 both ways.\n\n"
     "      --timeout MS    how long the guest has (default 5000)\n",
     do_shutdown},
    {"console", "NAME", O_RAW, " [--raw]",
     "Writes the last 64 KiB of the VM NAME's console to stdout, control characters\n"
     "other than newline and tab, and bytes that are not UTF-8, escaped as \\xNN (a\n"
     "backslash as \\\\), so that the guest cannot drive the terminal.\n\n"
     "      --raw           the bytes as the guest wrote them\n",
     do_console},
    {"save", "NAME FILE", O_KEEP, " [--keep]",
     "Saves the VM NAME into FILE (its state: vCPU, interrupt controller, devices,\n"
     "configuration) and FILE.mem (its memory, sparse: only the pages the guest\n"
     "touched take disk space); both are made new (an existing file is never\n"
     "overwritten). The VM is paused for the save, then ends, unless --keep.\n"
     "Prints 'saved NAME to FILE: state S bytes, memory M bytes written (of T),\n"
     "VM stopped|VM kept running'. A failed save leaves the VM as it was and no file.\n\n"
     "      --keep          the VM runs on after the save (paused stays paused)\n",
     do_save},
    {"restore", "FILE", O_RESTORE | O_TRACE | O_JSON | O_COPY,
     " [--name NAME] [--net VIF]... [--copy]\n"
     "                             [--trace] [--json]",
     "Restores the VM saved in FILE and FILE.mem into lightvmd: it continues where\n"
     "it was saved (its memory mapped copy-on-write from FILE.mem, which must stay),\n"
     "with its saved configuration: name, vifs (MACs and addresses), memory. Prints\n"
     "'NAME id=ID pid=PID pool=hit|miss'.\n\n"
     "      --name NAME     another name (to restore a VM that still runs)\n"
     "      --net VIF       the vifs instead of the saved ones, one --net each, in\n"
     "                      `lightvm run --net`'s form BRIDGE[,mac=M][,ip=A/N][,gw=G]\n"
     "                      (a vif without mac= gets a new one); as many as saved\n"
     "      --copy          read FILE.mem into the VM's own memory instead of mapping\n"
     "                      it (the file is then no longer needed)\n"
     "  -t, --trace         where the time went, 'trace ...' lines on stderr\n"
     "      --json          print the daemon's whole reply as JSON\n",
     ctl_restore},
    {"migrate", "NAME ADDR:PORT", O_TOKEN, " --token-file FILE",
     "Moves the running VM NAME, live, to the lightvmd listening on ADDR:PORT\n"
     "(lightvmd --migrate-listen), which must have the same token: its memory is\n"
     "copied while it runs, then it stops here for the last pages and its state,\n"
     "starts there with its name, MAC and address, and announces itself. Prints\n"
     "'migrated NAME to ADDR:PORT: downtime D ms, total T ms, R rounds, P pages'.\n"
     "A migration that fails leaves the VM running here. ADDR:PORT may be\n"
     "unix:PATH, a lightvmd of this host (--migrate-listen unix:PATH): the VM's\n"
     "memory is then handed over, not copied (a VM restored from a snapshot is\n"
     "copied all the same).\n\n"
     "      --token-file FILE  the destination's token (16..256 printable\n"
     "                      characters in a file only its owner may read)\n",
     do_migrate},
    {"pool", NULL, O_JSON, " [--json]",
     "Shows lightvmd's pools of prepared VMs, one line per flavor.\n\n"
     "      --json          print the flavors as a JSON array\n",
     do_pool},
};

static void verb_usage(FILE *f, const struct ctl_verb *v)
{
    fprintf(f, "usage: lightvm %s%s%s%s [--rundir DIR]\n\n%s", v->name, v->arg ? " " : "",
            v->arg ? v->arg : "", v->usage, v->help);
    fprintf(f, "%s      --rundir DIR    lightvmd's directory (default $%s or %s)\n"
               "  -h, --help          this text\n\n"
               "exit status: 0 ok; 1 the daemon refused or is not reachable; 2 usage error.\n",
            v->opts ? "" : "\n", LV_RUNDIR_ENV, LV_RUNDIR_DEFAULT);
}

static unsigned opt_need(int c)
{
    return c == 'j' ? O_JSON : c == 't' ? O_TRACE : c == 'W' || c == 'p' ? O_NET
         : c == 'T' ? O_TIMEOUT : c == 'v' ? O_VERBOSE : c == 'R' ? O_RAW : c == 'k' ? O_KEEP
         : c == 'F' ? O_FROM : c == 'N' || c == 'n' ? O_RESTORE : c == 'o' ? O_TOKEN
         : c == 'c' ? O_COPY : 0;
}

/* Says what is wrong with the option in (arg) (short option (c) when arg
 * is not a "--" one). */
static void bad_option(const struct ctl_verb *v, const struct option *longopts, const char *arg,
                       int c)
{
    if (strncmp(arg, "--", 2) || !arg[2]) {
        fprintf(stderr, "lightvm %s: unknown option '-%c'", v->name, c ? c : '?');
    } else {
        size_t n = strcspn(arg + 2, "=");
        const struct option *lo = longopts;
        while (lo->name && (strlen(lo->name) != n || strncmp(lo->name, arg + 2, n)))
            lo++;
        if (lo->name && (!opt_need(lo->val) || (v->opts & opt_need(lo->val))))
            fprintf(stderr, "lightvm %s: option '--%s' %s", v->name, lo->name,
                    lo->has_arg ? "needs a value" : "takes no value");
        else
            fprintf(stderr, "lightvm %s: unknown option '%.*s'", v->name, (int)n + 2, arg);
    }
    fprintf(stderr, " (try 'lightvm %s --help')\n", v->name);
}

/* 0, or the exit status after printing why. */
static int parse(const struct ctl_verb *v, int argc, char **argv, struct ctl_opts *o)
{
    static const struct option longopts[] = {
        {"rundir", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'j'},         {"trace", no_argument, NULL, 't'},
        {"wait-net", required_argument, NULL, 'W'}, {"probe", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 'T'}, {"verbose", no_argument, NULL, 'v'},
        {"raw", no_argument, NULL, 'R'},          {"keep", no_argument, NULL, 'k'},
        {"from", required_argument, NULL, 'F'},   {"name", required_argument, NULL, 'N'},
        {"net", required_argument, NULL, 'n'},    {"token-file", required_argument, NULL, 'o'},
        {"copy", no_argument, NULL, 'c'},         {NULL, 0, NULL, 0},
    };
    const char *rundir = lv_rundir(), *name = v->name;
    char *end;
    int c, idx;

    o->timeout_ms = 5000;
    opterr = 0;
    optind = 1;
    for (;;) {
        idx = -1;
        c = getopt_long(argc, argv, "htv", longopts, &idx);
        if (c == -1)
            break;
        unsigned need = opt_need(c);
        if (need && !(v->opts & need)) {
            char opt[32];
            snprintf(opt, sizeof(opt), "--%s", idx >= 0 ? longopts[idx].name : "");
            bad_option(v, longopts, idx >= 0 ? opt : "-", c);
            return LV_EXIT_USAGE;
        }
        switch (c) {
        case 'r':
            rundir = optarg;
            break;
        case 'h':
            verb_usage(stdout, v);
            exit(0);
        case 'j':
            o->json = 1;
            break;
        case 't':
            o->trace = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'R':
            o->raw = 1;
            break;
        case 'k':
            o->keep = 1;
            break;
        case 'c':
            o->copy = 1;
            break;
        case 'F':
            o->from = optarg;
            break;
        case 'N':
            o->name = optarg;
            break;
        case 'o':
            o->token_file = optarg;
            break;
        case 'n':
            if (o->nvifs == LV_VM_MAX_VIFS) {
                fprintf(stderr, "lightvm %s: more than %u --net\n", name, LV_VM_MAX_VIFS);
                return LV_EXIT_USAGE;
            }
            o->vifs[o->nvifs++] = optarg;
            break;
        case 'W':
        case 'p':
            if (lv_probe_opt(name, c, optarg, &o->net) < 0)
                return LV_EXIT_USAGE;
            break;
        case 'T':
            errno = 0;
            o->timeout_ms = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || o->timeout_ms < 1 ||
                o->timeout_ms > SHUTDOWN_TIMEOUT_MAX) {
                fprintf(stderr, "lightvm %s: bad --timeout '%s' (want milliseconds, 1..%d)\n",
                        name, optarg, SHUTDOWN_TIMEOUT_MAX);
                return LV_EXIT_USAGE;
            }
            break;
        default:
            bad_option(v, longopts, argv[optind - 1], c == '?' ? optopt : c);
            return LV_EXIT_USAGE;
        }
    }
    int nargs = v->arg ? 1 + (strchr(v->arg, ' ') != NULL) : 0;
    if (argc - optind < nargs) {
        /* "NAME FILE" with NAME given: FILE is missing */
        const char *what = argc - optind == 1 ? strchr(v->arg, ' ') + 1 : v->arg;
        fprintf(stderr, "lightvm %s: missing %s (try 'lightvm %s --help')\n", name, what, name);
        return LV_EXIT_USAGE;
    }
    if (optind + nargs != argc) {
        fprintf(stderr, "lightvm %s: unexpected argument '%s' (try 'lightvm %s --help')\n", name,
                argv[optind + nargs], name);
        return LV_EXIT_USAGE;
    }
    o->arg = nargs ? argv[optind] : NULL;
    o->arg2 = nargs > 1 ? argv[optind + 1] : NULL;
    if (!*rundir || snprintf(o->sock, sizeof(o->sock), "%s/%s", rundir, LV_DAEMON_SOCK) >=
                        (int)sizeof(o->sock)) {
        fprintf(stderr, "lightvm %s: bad --rundir '%.80s'\n", name, rundir);
        return LV_EXIT_USAGE;
    }
    return 0;
}

/* Errors connect(2) gives when nobody is listening at the path. */
static int unreachable(int rc)
{
    switch (-rc) {
    case ENOENT: case ECONNREFUSED: case EACCES: case EPERM: case ENOTDIR:
    case ENAMETOOLONG: case ENOTSOCK: case ELOOP: case EPROTOTYPE:
        return 1;
    default:
        return 0;
    }
}

int ctl_call(const struct ctl_opts *o, json_t *req, int timeout_ms, json_t **reply)
{
    struct lv_err err = {""};
    int rc;

    *reply = NULL;
    if (!req) {
        fprintf(stderr, "lightvm %s: out of memory\n", o->verb);
        return LV_EXIT_HOST_ERROR;
    }
    /* Our protocol version: a lightvmd of another one refuses the request
     * with one line naming both, rather than misreading it. */
    json_object_set_new(req, "v", json_integer(LV_CTL_VERSION));
    rc = lv_ctl_call(o->sock, req, timeout_ms, reply, &err);
    json_decref(req);
    if (!rc)
        return 0;
    if (rc == -EREMOTEIO && !strncmp(err.msg, "unknown key 'v'", 15))
        fprintf(stderr, "lightvm %s: lightvmd at %s is older than protocol versions (it "
                "refused \"v\"; this lightvm speaks %d)\n", o->verb, o->sock, LV_CTL_VERSION);
    else if (rc == -EREMOTEIO)
        fprintf(stderr, "lightvm %s: %s\n", o->verb, err.msg);
    else if (unreachable(rc))
        fprintf(stderr, "lightvm %s: cannot reach lightvmd at %s: %s (is lightvmd running?)\n",
                o->verb, o->sock, strerror(-rc));
    else
        fprintf(stderr, "lightvm %s: lightvmd at %s: %s\n", o->verb, o->sock, err.msg);
    return LV_EXIT_HOST_ERROR;
}

int ctl_lacks(const struct ctl_opts *o, json_t *reply, const char *key)
{
    json_t *x = json_object_get(reply, key);

    if (json_is_object(x) || json_is_array(x))
        return 0;
    fprintf(stderr, "lightvm %s: lightvmd at %s: reply without \"%s\"\n", o->verb, o->sock, key);
    json_decref(reply);
    return LV_EXIT_HOST_ERROR;
}

/* A request naming the VM: {"op": VERB, "name": NAME}. */
static json_t *name_req(const struct ctl_opts *o)
{
    return json_pack("{s:s,s:s}", "op", o->verb, "name", o->arg);
}

/* Calls and prints the reply's (key) as JSON (--json) or with (print). */
static int show(struct ctl_opts *o, json_t *req, const char *key,
                void (*print)(FILE *, const json_t *))
{
    json_t *reply;
    int rc = ctl_call(o, req, CALL_TIMEOUT_MS, &reply);

    if (rc || (rc = ctl_lacks(o, reply, key)))
        return rc;
    if (o->json)
        lv_ctl_print_json(stdout, json_object_get(reply, key));
    else
        print(stdout, json_object_get(reply, key));
    json_decref(reply);
    return 0;
}

static int do_list(struct ctl_opts *o)
{
    return show(o, json_pack("{s:s}", "op", "list"), "vms", lv_ctl_print_list);
}

static int do_info(struct ctl_opts *o)
{
    return show(o, name_req(o), "vm", lv_ctl_print_info);
}

static int do_pool(struct ctl_opts *o)
{
    return show(o, json_pack("{s:s}", "op", "pool"), "flavors", lv_ctl_print_pool);
}

/* destroy, pause, unpause */
static int do_simple(struct ctl_opts *o)
{
    json_t *reply;
    int rc = ctl_call(o, name_req(o), CALL_TIMEOUT_MS, &reply);

    if (rc)
        return rc;
    if (o->verbose)
        printf("latency_us=%.0f\n", json_number_value(json_object_get(reply, "latency_us")));
    if (json_is_true(json_object_get(reply, "killed")))
        fprintf(stderr, "lightvm %s: %s: its VM process did not answer: killed\n", o->verb,
                o->arg);
    json_decref(reply);
    return 0;
}

static int do_shutdown(struct ctl_opts *o)
{
    json_t *reply;
    int rc = ctl_call(o, json_pack("{s:s,s:s,s:I}", "op", "shutdown", "name", o->arg, "timeout_ms",
                               (json_int_t)o->timeout_ms),
                  (int)o->timeout_ms + SHUTDOWN_SLACK_MS, &reply);

    if (rc)
        return rc;
    if (json_is_true(json_object_get(reply, "graceful")))
        printf("%s: shut down\n", o->arg);
    else
        printf("%s: did not shut down within %ld ms: destroyed\n", o->arg, o->timeout_ms);
    json_decref(reply);
    return 0;
}

/* The reply carries the console escaped (docs/protocol.md): decoded to
 * the guest's bytes, then written as they are (--raw) or escaped here, so
 * that what reaches the terminal does not depend on the daemon. */
static int do_console(struct ctl_opts *o)
{
    struct lv_err err = {""};
    json_t *reply, *con;
    uint8_t *raw = NULL;
    char *text = NULL;
    size_t n, len = 0;
    int rc = ctl_call(o, name_req(o), CALL_TIMEOUT_MS, &reply);

    if (rc)
        return rc;
    con = json_object_get(reply, "console");
    n = json_string_length(con);
    if (!json_is_string(con)) {
        fprintf(stderr, "lightvm console: lightvmd at %s: reply without \"console\"\n", o->sock);
        rc = LV_EXIT_HOST_ERROR;
    } else if (!(raw = malloc(n + 1)) || (!o->raw && !(text = malloc(LV_ESC_MAX(n) + 1)))) {
        fprintf(stderr, "lightvm console: out of memory\n");
        rc = LV_EXIT_HOST_ERROR;
    } else if (lv_unescape(json_string_value(con), n, raw, &len, &err) < 0) {
        fprintf(stderr, "lightvm console: lightvmd at %s: %s\n", o->sock, err.msg);
        rc = LV_EXIT_HOST_ERROR;
    } else if (o->raw) {
        fwrite(raw, 1, len, stdout);
    } else {
        fwrite(text, 1, lv_escape(raw, len, text), stdout);
    }
    json_decref(reply);
    free(raw);
    free(text);
    if (rc)
        return rc;
    if (fflush(stdout) != 0) {
        fprintf(stderr, "lightvm console: stdout: %s\n", strerror(errno));
        return LV_EXIT_HOST_ERROR;
    }
    return 0;
}

int ctl_abs_path(const struct ctl_opts *o, const char *path, char out[PATH_MAX])
{
    char cwd[PATH_MAX];

    if (path[0] == '/' && strlen(path) < PATH_MAX) {
        strcpy(out, path);
        return 0;
    }
    if (!getcwd(cwd, sizeof(cwd))) {
        fprintf(stderr, "lightvm %s: the current directory: %s\n", o->verb, strerror(errno));
        return LV_EXIT_HOST_ERROR;
    }
    if (snprintf(out, PATH_MAX, "%s/%s", cwd, path) >= PATH_MAX) {
        fprintf(stderr, "lightvm %s: %s: path too long\n", o->verb, path);
        return LV_EXIT_HOST_ERROR;
    }
    return 0;
}

static int do_save(struct ctl_opts *o)
{
    char path[PATH_MAX];
    json_t *reply;
    int rc = ctl_abs_path(o, o->arg2, path);

    if (rc)
        return rc;
    /* The save writes the guest's memory: more than a quick call's time. */
    rc = ctl_call(o, json_pack("{s:s,s:s,s:s,s:b}", "op", "save", "name", o->arg, "path", path,
                               "keep", o->keep),
                  SAVE_TIMEOUT_MS, &reply);
    if (rc)
        return rc;
    printf("saved %s to %s: state %.0f bytes, memory %.0f bytes written (of %.0f), %s\n",
           o->arg, o->arg2, json_number_value(json_object_get(reply, "state_bytes")),
           json_number_value(json_object_get(reply, "memory_bytes")),
           json_number_value(json_object_get(reply, "memory_size")),
           json_is_true(json_object_get(reply, "stopped")) ? "VM stopped" : "VM kept running");
    json_decref(reply);
    return 0;
}

static int do_migrate(struct ctl_opts *o)
{
    char token[LV_TOKEN_MAX + 1];
    struct lv_err err = {""};
    json_t *reply, *m;

    if (!o->token_file) {
        fprintf(stderr, "lightvm migrate: --token-file FILE is needed (try 'lightvm migrate "
                "--help')\n");
        return LV_EXIT_USAGE;
    }
    if (lv_token_read(o->token_file, token, &err) < 0) {
        fprintf(stderr, "lightvm migrate: %s\n", err.msg);
        return LV_EXIT_HOST_ERROR;
    }
    int rc = ctl_call(o, json_pack("{s:s,s:s,s:s,s:s}", "op", "migrate", "name", o->arg, "to",
                                   o->arg2, "token", token),
                      MIGRATE_TIMEOUT_MS, &reply);
    memset(token, 0, sizeof(token));
    if (rc)
        return rc;
    m = json_object_get(reply, "migration");
    int local = json_is_true(json_object_get(m, "local"));
    printf("migrated %s to %s: downtime %.3f ms, total %.3f ms, %.0f rounds, %.0f pages%s%s\n",
           o->arg, o->arg2, json_number_value(json_object_get(m, "downtime_us")) / 1e3,
           json_number_value(json_object_get(m, "total_us")) / 1e3,
           json_number_value(json_object_get(m, "rounds")),
           json_number_value(json_object_get(m, "pages")),
           json_is_false(json_object_get(m, "converged")) && !local ? " (stop-and-copy)" : "",
           local ? " (memory passed)" : "");
    json_decref(reply);
    return 0;
}

int cmd_ctl(int argc, char **argv)
{
    struct ctl_opts o;

    memset(&o, 0, sizeof(o));
    o.t0 = lv_now_ns();
    clock_gettime(CLOCK_REALTIME, &o.t0_real);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[0], verbs[i].name))
            continue;
        o.verb = verbs[i].name;
        int rc = parse(&verbs[i], argc, argv, &o);
        return rc ? rc : verbs[i].fn(&o);
    }
    fprintf(stderr, "lightvm: unknown command '%s'\n", argv[0]);
    return LV_EXIT_USAGE;
}
