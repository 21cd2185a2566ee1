/* test_ctl.c: the control protocol's framing (lib/ctl) over real Unix
 * sockets: messages split and joined across reads, the size limit,
 * malformed and non-object lines, EOF in the middle of a message, stale
 * and live socket files, lv_ctl_call's error reply, and the protocol
 * versions' check (lv_ctl_version_check), two fds passed with one
 * message (lv_ctl_send_fds, lv_ctl_take_fds). No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvm/ctl.h"
#include "lvtest.h"

static void pair(struct lv_ctl_conn *a, int *peer)
{
    int sv[2];

    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    lv_ctl_conn_init(a, sv[0]);
    *peer = sv[1];
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

/* Writes (raw) to a fresh pair and reads one message: the return code. */
static int recv_raw(const char *raw, size_t n, json_t **out, struct lv_err *err)
{
    struct lv_ctl_conn c;
    int peer, rc;

    pair(&c, &peer);
    write_all(peer, raw, n);
    close(peer);
    rc = lv_ctl_recv(&c, 2000, out, err);
    lv_ctl_conn_close(&c);
    return rc;
}

static void test_framing(void)
{
    struct lv_ctl_conn c;
    struct lv_err err = {""};
    json_t *m = NULL, *msg = json_pack("{s:s,s:i}", "op", "ping", "n", 7);
    int peer;

    /* send -> recv round trip */
    pair(&c, &peer);
    struct lv_ctl_conn pc;
    lv_ctl_conn_init(&pc, peer);
    CHECK(lv_ctl_send(&pc, msg, 1000, &err) == 0, "send: %s", err.msg);
    CHECK(lv_ctl_recv(&c, 1000, &m, &err) == 0 && json_integer_value(json_object_get(m, "n")) == 7,
          "round trip: %s", err.msg);
    json_decref(m);
    /* two messages in one write, then one split over three writes */
    const char *two = "{\"a\":1}\n{\"a\":2}\n{\"a\"";
    write_all(peer, two, strlen(two));
    CHECK(lv_ctl_recv(&c, 1000, &m, &err) == 0 && json_integer_value(json_object_get(m, "a")) == 1,
          "first of two: %s", err.msg);
    json_decref(m);
    CHECK(lv_ctl_recv(&c, 1000, &m, &err) == 0 && json_integer_value(json_object_get(m, "a")) == 2,
          "second of two: %s", err.msg);
    json_decref(m);
    CHECK(lv_ctl_poll_recv(&c, &m, &err) == 0, "a partial message is not a message");
    write_all(peer, ":3", 2);
    CHECK(lv_ctl_poll_recv(&c, &m, &err) == 0, "still partial");
    write_all(peer, "}\n", 2);
    CHECK(lv_ctl_recv(&c, 1000, &m, &err) == 0 && json_integer_value(json_object_get(m, "a")) == 3,
          "split message: %s", err.msg);
    json_decref(m);
    /* nothing more: a timeout, then a clean EOF */
    CHECK(lv_ctl_recv(&c, 50, &m, &err) == -ETIMEDOUT, "no message: want a timeout");
    lv_ctl_conn_close(&pc);
    CHECK(lv_ctl_recv(&c, 1000, &m, &err) == -EPIPE, "EOF between messages: want -EPIPE");
    lv_ctl_conn_close(&c);
    json_decref(msg);
}

static void test_bad_input(void)
{
    static const struct {
        const char *raw;
        int rc;
    } cases[] = {
        {"not json\n", -EPROTO},
        {"[1,2,3]\n", -EPROTO},      /* not an object */
        {"\"op\"\n", -EPROTO},
        {"{\"op\":1,\"op\":2}\n", -EPROTO}, /* duplicate key */
        {"{\"op\":\"x\"", -EPROTO},  /* EOF mid-message */
        {"\n", -EPROTO},             /* empty line */
        {"{\"a\":\"\\u0000\"}\n", -EPROTO}, /* NUL in a string: jansson refuses it */
    };
    struct lv_err err = {""};
    json_t *m = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = recv_raw(cases[i].raw, strlen(cases[i].raw), &m, &err);
        CHECK(rc == cases[i].rc && err.msg[0], "case %zu (%s): rc %d, err \"%s\"", i,
              cases[i].raw, rc, err.msg);
        if (rc == 0)
            json_decref(m);
        err.msg[0] = '\0';
    }
    /* a line over the limit is refused without reading it all into memory */
    size_t big = LV_CTL_MAX + 4096;
    char *b = malloc(big);
    memset(b, ' ', big);
    b[0] = '{';
    struct lv_ctl_conn c;
    int peer;
    pair(&c, &peer);
    pid_t w = fork();
    if (w == 0) { /* the writer: blocks once the reader stops */
        write_all(peer, b, big);
        _exit(0);
    }
    close(peer);
    int rc = lv_ctl_recv(&c, 5000, &m, &err);
    CHECK(rc == -EPROTO && strstr(err.msg, "longer than"), "an over-long line: rc %d, %s", rc,
          err.msg);
    lv_ctl_conn_close(&c);
    waitpid(w, NULL, 0);
    free(b);
}

static void test_sockets(void)
{
    char dir[] = "/tmp/lvtest-ctl-XXXXXX", path[128];
    struct lv_err err = {""};
    json_t *rep = NULL;

    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    json_t *req = json_pack("{s:s}", "op", "ping");
    CHECK(lv_ctl_call(path, req, 1000, &rep, &err) == -ENOENT && !rep,
          "call with nobody there: %s", err.msg);
    int l = lv_ctl_listen(path, &err);
    CHECK(l >= 0, "listen: %s", err.msg);
    CHECK(lv_ctl_listen(path, &err) == -EADDRINUSE, "a second listener on a live socket");
    pid_t srv = fork();
    if (srv == 0) { /* an error reply to the first request (the listener
                       * check above left an empty connection first) */
        json_t *m = NULL, *e = lv_ctl_error("no VM named '%s'", "ghost");
        for (int t = 0; t < 500; t++) {
            struct lv_ctl_conn c;
            int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) {
                usleep(10000);
                continue;
            }
            lv_ctl_conn_init(&c, fd);
            int got = lv_ctl_recv(&c, 2000, &m, NULL) == 0;
            if (got)
                lv_ctl_send(&c, e, 1000, NULL);
            lv_ctl_conn_close(&c);
            if (got)
                break;
        }
        _exit(0);
    }
    rep = NULL;
    int rc = lv_ctl_call(path, req, 3000, &rep, &err);
    CHECK(rc == -EREMOTEIO && !rep && strstr(err.msg, "ghost"), "error reply: rc %d, %s", rc,
          err.msg);
    waitpid(srv, NULL, 0);
    close(l);
    /* the socket file stays after its listener is gone: a new listener replaces it */
    l = lv_ctl_listen(path, &err);
    CHECK(l >= 0, "replacing a stale socket: %s", err.msg);
    close(l);
    unlink(path);
    rmdir(dir);
    json_decref(req);
}

/* lv_ctl_version_check on (json): its return code; the message in (err). */
static int vcheck(const char *json, int mine, struct lv_err *err)
{
    json_t *m = json_loads(json, 0, NULL);
    int rc;

    err->msg[0] = '\0';
    CHECK(m != NULL, "bad test JSON %s", json);
    rc = lv_ctl_version_check(m, mine, "lightvmd", err);
    json_decref(m);
    return rc;
}

/* Versions: an equal one and none (taken as ours) pass; any other integer
 * is refused with a line naming both; a "v" that is not an integer is
 * refused, never read as a version. */
static void test_versions(void)
{
    static const char *const other[] = {"{\"v\":2}", "{\"v\":0}", "{\"v\":-1}",
                                        "{\"v\":99999999999}"};
    static const char *const want[] = {"version 2 not supported (this lightvmd speaks 1)",
                                       "version 0 not supported (this lightvmd speaks 1)",
                                       "version -1 not supported (this lightvmd speaks 1)",
                                       "version 99999999999 not supported (this lightvmd "
                                       "speaks 1)"};
    static const char *const bad[] = {"{\"v\":\"1\"}", "{\"v\":1.0}", "{\"v\":null}",
                                      "{\"v\":true}", "{\"v\":[1]}"};
    struct lv_err err = {""};
    json_int_t v = 0;

    CHECK(LV_CTL_VERSION >= 1 && LV_VMP_VERSION >= 1, "versions start at 1");
    CHECK(vcheck("{\"op\":\"ping\",\"v\":1}", 1, &err) == 0, "equal version: %s", err.msg);
    CHECK(vcheck("{\"op\":\"ping\"}", 1, &err) == 0, "no \"v\": %s", err.msg);
    CHECK(vcheck("{\"v\":3}", 3, &err) == 0, "v 3 against 3: %s", err.msg);
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        CHECK(vcheck(other[i], 1, &err) == -EPROTO && !strcmp(err.msg, want[i]),
              "%s: \"%s\" (want \"%s\")", other[i], err.msg, want[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(vcheck(bad[i], 1, &err) == -EPROTO &&
              !strcmp(err.msg, "\"v\" must be an integer (a protocol version) (this lightvmd "
                      "speaks 1)"), "%s: \"%s\"", bad[i], err.msg);
    json_t *m = json_pack("{s:s}", "op", "info");
    CHECK(lv_ctl_version_get(m, 1, &v, &err) == 0 && v == 1, "absent: %lld", (long long)v);
    json_object_set_new(m, "v", json_integer(7));
    CHECK(lv_ctl_version_get(m, 1, &v, &err) == 0 && v == 7, "7: %lld", (long long)v);
    json_object_set_new(m, "v", json_string("7"));
    CHECK(lv_ctl_version_get(m, 1, &v, &err) == -EPROTO && v == 1, "\"7\": %d %lld",
          lv_ctl_version_get(m, 1, &v, NULL), (long long)v);
    CHECK(lv_ctl_version_check(m, 1, "VM process", NULL) == -EPROTO, "without err");
    json_decref(m);
}

/* Two fds ride with one message and come out in order; a later message's
 * fds replace those not taken; more than LV_CTL_MAX_FDS is refused. */
static void test_fds(void)
{
    struct lv_ctl_conn a, b;
    struct lv_err err = {""};
    json_t *msg = json_pack("{s:s}", "op", "save"), *m = NULL;
    int peer, p1[2], p2[2], fds[LV_CTL_MAX_FDS];
    struct stat s0, s1, g0, g1;

    pair(&a, &peer);
    lv_ctl_conn_init(&b, peer);
    CHECK(pipe2(p1, O_CLOEXEC) == 0 && pipe2(p2, O_CLOEXEC) == 0, "pipes");
    int two[2] = {p1[0], p2[1]}, three[3] = {p1[0], p1[1], p2[0]};
    CHECK(lv_ctl_send_fds(&a, msg, two, 2, 1000, &err) == 0, "send 2 fds: %s", err.msg);
    CHECK(lv_ctl_recv(&b, 1000, &m, &err) == 0, "recv: %s", err.msg);
    json_decref(m);
    CHECK(lv_ctl_take_fds(&b, fds) == 2, "two fds taken");
    CHECK(fstat(fds[0], &g0) == 0 && fstat(p1[0], &s0) == 0 && g0.st_ino == s0.st_ino &&
          fstat(fds[1], &g1) == 0 && fstat(p2[1], &s1) == 0 && g1.st_ino == s1.st_ino,
          "the fds arrive in the order sent");
    close(fds[0]);
    close(fds[1]);
    CHECK(lv_ctl_take_fd(&b) == -1, "nothing left to take");
    CHECK(lv_ctl_send_fds(&a, msg, three, 3, 1000, &err) == -EINVAL && err.msg[0],
          "3 fds refused");
    CHECK(lv_ctl_send_fds(&a, msg, two, 2, 1000, &err) == 0 &&
          lv_ctl_send_fd(&a, msg, p2[0], 1000, &err) == 0, "send 2 then 1");
    CHECK(lv_ctl_recv(&b, 1000, &m, &err) == 0, "recv");
    json_decref(m);
    CHECK(lv_ctl_recv(&b, 1000, &m, &err) == 0, "recv");
    json_decref(m);
    int fd = lv_ctl_take_fd(&b);
    CHECK(fd >= 0 && fstat(fd, &g0) == 0 && fstat(p2[0], &s0) == 0 && g0.st_ino == s0.st_ino &&
          lv_ctl_take_fd(&b) == -1, "the later message's fd replaced the earlier two");
    close(fd);
    for (int i = 0; i < 2; i++) {
        close(p1[i]);
        close(p2[i]);
    }
    json_decref(msg);
    lv_ctl_conn_close(&a);
    lv_ctl_conn_close(&b);
}

int main(void)
{
    test_fds();
    test_framing();
    test_bad_input();
    test_sockets();
    test_versions();
    return lvt_done("test_ctl");
}
