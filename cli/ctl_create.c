/* ctl_create.c: the verbs that make a VM in lightvmd: create (from a
 * configuration file, booting its image; or --from a snapshot, the file's
 * keys replacing the saved configuration's) and restore (a snapshot with
 * its saved configuration, --name and --net replacing its name and
 * vifs). Both send one create request (docs/protocol.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

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

/* Sends a create request (req, consumed) and prints the VM it made, then
 * waits for the network-up probe if asked. 0, or the exit status. */
static int send_create(struct ctl_opts *o, json_t *req)
{
    struct lv_err err = {""};
    json_t *reply;
    int probe_fd = -1, rc, on = 1;

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
    rc = ctl_call(o, req, CALL_TIMEOUT_MS, &reply);
    if (!rc)
        rc = ctl_lacks(o, reply, "vm");
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

/* A configuration file that may name only some keys (create --from): a
 * JSON object, at most LV_VM_SPEC_MAX bytes; the daemon checks the result
 * of the merge as a whole configuration. NULL after printing why. */
static json_t *load_partial(const struct ctl_opts *o)
{
    json_error_t je;
    json_t *j = NULL;
    char *buf = malloc(LV_VM_SPEC_MAX + 1);
    int fd = open(o->arg, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    ssize_t n = -1;

    int regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);

    if (regular && buf)
        n = read(fd, buf, LV_VM_SPEC_MAX + 1);
    if (fd >= 0 && !regular) /* a FIFO, a device, a directory: not read */
        fprintf(stderr, "lightvm %s: %s: not a regular file\n", o->verb, o->arg);
    else if (fd < 0 || n < 0)
        fprintf(stderr, "lightvm %s: %s: %s\n", o->verb, o->arg,
                buf ? strerror(errno) : "out of memory");
    else if (n > (ssize_t)LV_VM_SPEC_MAX)
        fprintf(stderr, "lightvm %s: %s: over %u bytes\n", o->verb, o->arg, LV_VM_SPEC_MAX);
    else if (!(j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &je)))
        fprintf(stderr, "lightvm %s: %s: line %d: %s\n", o->verb, o->arg, je.line, je.text);
    else if (!json_is_object(j)) {
        fprintf(stderr, "lightvm %s: %s: want a JSON object\n", o->verb, o->arg);
        json_decref(j);
        j = NULL;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return j;
}

/* {"op": "create", "from": FILE (absolute), "spec": (over), "copy": --copy}
 * (over consumed). */
static json_t *from_req(const struct ctl_opts *o, const char *file, json_t *over)
{
    char path[PATH_MAX];

    if (ctl_abs_path(o, file, path)) {
        json_decref(over);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:o,s:b,s:b}", "op", "create", "from", path, "spec", over,
                     "trace", o->trace, "copy", o->copy);
}

int ctl_create(struct ctl_opts *o)
{
    struct lv_vm_spec spec;
    json_t *req = NULL;
    int rc;

    if (o->copy && !o->from) {
        fprintf(stderr, "lightvm create: --copy: only with --from SNAPSHOT\n");
        return LV_EXIT_USAGE;
    }
    if (o->from && (o->net.wait_net || o->net.probe.port)) {
        fprintf(stderr, "lightvm create: --wait-net/--probe: a restored guest sends no "
                "network-up probe\n");
        return LV_EXIT_USAGE;
    }
    if (o->from) {
        json_t *over = load_partial(o);
        if (!over)
            return LV_EXIT_USAGE;
        if (!(req = from_req(o, o->from, over)))
            return LV_EXIT_HOST_ERROR;
    } else if ((rc = create_req(o, &spec, &req)) != 0) {
        return rc;
    }
    return send_create(o, req);
}

/* restore's --net options as a config's "vifs" array: each checked as
 * `lightvm run --net` checks it ("create" refused: the daemon makes no
 * bridges). NULL after printing why. */
static json_t *vifs_json(const struct ctl_opts *o)
{
    static struct lv_vm_spec vs; /* (only its vifs are used) */
    struct lv_err err = {""};
    json_t *sj, *vifs;
    int create = 0;

    memset(&vs, 0, sizeof(vs));
    for (unsigned i = 0; i < o->nvifs; i++) {
        if (lv_vif_spec_parse_opt(o->vifs[i], &vs.vifs[i], &create, &err) < 0 || create) {
            fprintf(stderr, "lightvm restore: --net: %s\n",
                    create ? "'create' is for lightvm run (lightvmd uses existing bridges)"
                           : err.msg);
            return NULL;
        }
    }
    vs.nvifs = o->nvifs;
    if (!(sj = lv_vm_spec_json(&vs))) {
        fprintf(stderr, "lightvm restore: --net: cannot encode the vifs\n");
        return NULL;
    }
    vifs = json_incref(json_object_get(sj, "vifs"));
    json_decref(sj);
    return vifs;
}

int ctl_restore(struct ctl_opts *o)
{
    json_t *over = json_object(), *req;

    if (!over)
        return LV_EXIT_HOST_ERROR;
    if (o->name)
        json_object_set_new(over, "name", json_string(o->name));
    if (o->nvifs) {
        json_t *vifs = vifs_json(o);
        if (!vifs) {
            json_decref(over);
            return LV_EXIT_USAGE;
        }
        json_object_set_new(over, "vifs", vifs);
    }
    if (!(req = from_req(o, o->arg, over)))
        return LV_EXIT_HOST_ERROR;
    return send_create(o, req);
}
