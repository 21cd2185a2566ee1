/* cmd_ctl.c: the `lightvm` verbs that talk to lightvmd over
 * $RUNDIR/lightvmd.sock (docs/protocol.md): create, list, info, destroy,
 * pause, unpause, shutdown, console, pool. What they print is in
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

#include "cli.h"
#include "lightvm/ctl.h"
#include "lightvm/escape.h"
#include "lightvm/vmspec.h"

#define CALL_TIMEOUT_MS 15000
#define SHUTDOWN_SLACK_MS 5000  /* the shutdown call waits its --timeout and this */
#define PROBE_WAIT_MS 10000     /* --wait-net, after the reply */
#define SHUTDOWN_TIMEOUT_MAX LV_SHUTDOWN_TIMEOUT_MAX_MS

/* The options a verb may take. */
enum {
    O_JSON = 1 << 0,
    O_TRACE = 1 << 1,
    O_NET = 1 << 2,     /* --wait-net, --probe */
    O_TIMEOUT = 1 << 3,
    O_VERBOSE = 1 << 4,
    O_RAW = 1 << 5,
};

struct ctl_opts {
    const char *verb;
    char sock[PATH_MAX];
    const char *arg;    /* NAME or CONFIG.json */
    int json, trace, verbose, raw;
    long timeout_ms;
    struct lv_probe_opt net; /* --wait-net, --probe */
    uint64_t t0;        /* lv_now_ns() when the verb started */
    struct timespec t0_real;
};

struct ctl_verb {
    const char *name;
    const char *arg;    /* the positional argument, or NULL */
    unsigned opts;
    const char *usage;  /* after "usage: lightvm VERB ARG" */
    const char *help;
    int (*fn)(struct ctl_opts *o);
};

static int do_create(struct ctl_opts *o);
static int do_list(struct ctl_opts *o);
static int do_info(struct ctl_opts *o);
static int do_simple(struct ctl_opts *o);
static int do_shutdown(struct ctl_opts *o);
static int do_console(struct ctl_opts *o);
static int do_pool(struct ctl_opts *o);

static const struct ctl_verb verbs[] = {
    {"create", "CONFIG.json", O_TRACE | O_NET | O_JSON,
     " [--trace] [--wait-net ADDR | --probe ADDR:PORT]\n"
     "                             [--json]",
     "Creates the VM the configuration file describes (docs/examples/daytime.json) in\n"
     "lightvmd, from its pool of prepared VMs when one fits (memory, number of vifs).\n"
     "A relative kernel path is taken from the current directory. Prints\n"
     "'NAME id=ID pid=PID pool=hit|miss'.\n\n"
     "  -t, --trace         where the time went, 'trace ...' lines on stderr\n"
     "      --wait-net ADDR listen on UDP ADDR (an address of this host, e.g. the\n"
     "                      bridge's) for the guest's network-up probe and print\n"
     "                      'lightvm: network up in N ms' on stderr (waits 10 s)\n"
     "      --probe ADDR:PORT  have the guest send its network-up probe there\n"
     "      --json          print the daemon's whole reply as JSON\n",
     do_create},
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
         : c == 'T' ? O_TIMEOUT : c == 'v' ? O_VERBOSE : c == 'R' ? O_RAW : 0;
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
        {"raw", no_argument, NULL, 'R'},          {NULL, 0, NULL, 0},
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
    if (v->arg && optind == argc) {
        fprintf(stderr, "lightvm %s: missing %s (try 'lightvm %s --help')\n", name, v->arg, name);
        return LV_EXIT_USAGE;
    }
    if (optind + (v->arg != NULL) != argc) {
        fprintf(stderr, "lightvm %s: unexpected argument '%s' (try 'lightvm %s --help')\n", name,
                argv[optind + (v->arg != NULL)], name);
        return LV_EXIT_USAGE;
    }
    o->arg = v->arg ? argv[optind] : NULL;
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

/* Sends (req) (consumed; NULL means it could not be built) and waits for
 * the reply. 0 and (*reply), or the exit status after printing why. */
static int call(const struct ctl_opts *o, json_t *req, int timeout_ms, json_t **reply)
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

/* A reply that lacks what its op promises is the daemon's fault: say so. */
static int lacks(const struct ctl_opts *o, json_t *reply, const char *key)
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

/* Reads the config, makes its kernel absolute and builds the request. 0,
 * or the exit status after printing why. */
static int create_req(const struct ctl_opts *o, struct lv_vm_spec *spec, json_t **req)
{
    char kernel[PATH_MAX];
    struct lv_err err = {""};
    json_t *sj;
    int rc = lv_vm_spec_load(o->arg, spec, &err);

    *req = NULL;
    if (rc) {
        fprintf(stderr, "lightvm create: %s\n", err.msg);
        return rc == -ENOMEM ? LV_EXIT_HOST_ERROR : LV_EXIT_USAGE;
    }
    if (!realpath(spec->kernel, kernel)) {
        fprintf(stderr, "lightvm create: %s: kernel: %s: %s\n", o->arg, spec->kernel,
                strerror(errno));
        return LV_EXIT_HOST_ERROR;
    }
    if (strlen(kernel) >= sizeof(spec->kernel)) {
        fprintf(stderr, "lightvm create: %s: kernel: path too long\n", o->arg);
        return LV_EXIT_HOST_ERROR;
    }
    strcpy(spec->kernel, kernel);
    if ((o->net.wait_net || o->net.probe.port) && !spec->nvifs) {
        fprintf(stderr, "lightvm create: --wait-net/--probe need a vif in %s\n", o->arg);
        return LV_EXIT_USAGE;
    }
    if (!(sj = lv_vm_spec_json(spec))) {
        fprintf(stderr, "lightvm create: %s: cannot encode the configuration\n", o->arg);
        return LV_EXIT_HOST_ERROR;
    }
    *req = json_pack("{s:s,s:o,s:b}", "op", "create", "spec", sj, "trace", o->trace);
    return 0;
}

/* Waits for the guest's network-up probe and prints when it arrived
 * (the kernel's receive timestamp, so a probe that came before the reply
 * is timed right). 0, or the exit status after printing why. */
static int wait_probe(const struct ctl_opts *o, int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[64], cbuf[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf)};
    uint64_t deadline = lv_now_ns() + PROBE_WAIT_MS * 1000000ull;
    double ms;

    for (;;) {
        uint64_t now = lv_now_ns();
        int n = now >= deadline ? 0 : poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "lightvm create: no network-up probe within %d s\n",
                    PROBE_WAIT_MS / 1000);
            return LV_EXIT_HOST_ERROR;
        }
        if (recvmsg(fd, &mh, MSG_DONTWAIT) >= 0)
            break;
    }
    ms = (double)(lv_now_ns() - o->t0) / 1e6;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            double d = (double)(ts.tv_sec - o->t0_real.tv_sec) * 1e3 +
                       (double)(ts.tv_nsec - o->t0_real.tv_nsec) / 1e6;
            if (d >= 0 && d <= ms) /* the wall clock did not jump */
                ms = d;
        }
    }
    fprintf(stderr, "lightvm: network up in %.3f ms\n", ms);
    return 0;
}

static int do_create(struct ctl_opts *o)
{
    struct lv_vm_spec spec;
    struct lv_err err = {""};
    json_t *req, *reply;
    int probe_fd = -1, rc, on = 1;

    rc = create_req(o, &spec, &req);
    if (rc)
        return rc;
    if (o->net.wait_net) { /* before the request: the guest may be up before the reply */
        probe_fd = lv_probe_listen(o->net.probe.ip, &o->net.probe.port, &err);
        if (probe_fd < 0) {
            fprintf(stderr, "lightvm create: %s\n", err.msg);
            json_decref(req);
            return LV_EXIT_HOST_ERROR;
        }
        setsockopt(probe_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    }
    if (req && o->net.probe.port) {
        char probe[INET_ADDRSTRLEN + 8];
        inet_ntop(AF_INET, &o->net.probe.ip, probe, INET_ADDRSTRLEN);
        snprintf(probe + strlen(probe), 8, ":%u", ntohs(o->net.probe.port));
        json_object_set_new(req, "probe", json_string(probe));
    }
    rc = call(o, req, CALL_TIMEOUT_MS, &reply);
    if (!rc)
        rc = lacks(o, reply, "vm");
    if (!rc) {
        double client_us = (double)(lv_now_ns() - o->t0) / 1e3;
        if (o->json)
            lv_ctl_print_json(stdout, reply);
        else
            lv_ctl_print_vm_line(stdout, reply);
        fflush(stdout);
        if (o->trace)
            lv_ctl_print_create_trace(stderr, reply, client_us);
        json_decref(reply);
        if (probe_fd >= 0)
            rc = wait_probe(o, probe_fd);
    }
    if (probe_fd >= 0)
        close(probe_fd);
    return rc;
}

/* Calls and prints the reply's (key) as JSON (--json) or with (print). */
static int show(struct ctl_opts *o, json_t *req, const char *key,
                void (*print)(FILE *, const json_t *))
{
    json_t *reply;
    int rc = call(o, req, CALL_TIMEOUT_MS, &reply);

    if (rc || (rc = lacks(o, reply, key)))
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
    int rc = call(o, name_req(o), CALL_TIMEOUT_MS, &reply);

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
    int rc = call(o, json_pack("{s:s,s:s,s:I}", "op", "shutdown", "name", o->arg, "timeout_ms",
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
    int rc = call(o, name_req(o), CALL_TIMEOUT_MS, &reply);

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
