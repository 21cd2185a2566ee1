/*
 * test_mighello: lightvmd's migration listener reads the hellos of its
 * connections without blocking its loop (daemon/mighello.c). No KVM
 * needed: lightvmd runs without a pool in a network and mount namespace
 * of the test's own, listening for migrations on 127.0.0.1.
 *
 *   1. eight connections that send nothing, then a ninth: the ninth is
 *      refused at once with "busy" (a daemon that read one hello at a
 *      time would be waiting on the first, then refuse each in turn a
 *      second later: never "busy"); `lightvm list` answers while the
 *      eight wait; then each of the eight is refused "the hello: none
 *      within 1000 ms";
 *   2. a line that is not JSON, a hello with a wrong token, one of
 *      another version, 70 KiB without a newline, and a hello cut by its
 *      peer: each refused with its line (the last only in the log);
 *   3. the log names every refusal with its peer; SIGTERM ends lightvmd
 *      with status 0, its socket removed, no VM directory made.
 *
 * usage: test_mighello LIGHTVM LIGHTVMD (root; no KVM).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lvtest.h"

#define PORT 7191
#define SLOTS 8 /* LVD_MIG_WAITING */
#define TOKEN "mighello-token-0123456789abcdef"

static const char *lightvm, *lightvmd, *ip_bin;
static char rundir[] = "/tmp/lvmighelloXXXXXX";
static char token[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

/* A TCP connection to the listener, or -1. */
static int dial(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        fd = -1;
    }
    CHECK(fd >= 0, "connect to the listener: %s", strerror(errno));
    return fd;
}

/* The peer's one line (up to its newline or EOF) within (ms) into (buf);
 * its length (0: none came). */
static size_t answer(int fd, char *buf, size_t cap, int ms)
{
    size_t n = 0;

    buf[0] = '\0';
    for (double end = lvt_now_ms() + ms; fd >= 0 && n + 1 < cap && lvt_now_ms() < end;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, (int)(end - lvt_now_ms()) + 1) != 1)
            break;
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = '\0';
        if (memchr(buf, '\n', n))
            break;
    }
    return n;
}

/* Sends (len) bytes of (s) on a new connection and expects a refusal
 * naming (want). */
static void expect_refused(const char *what, const char *s, size_t len, const char *want)
{
    char buf[512];
    int fd = dial();

    if (fd < 0)
        return;
    CHECK(send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len, "%s: send", what);
    answer(fd, buf, sizeof(buf), 10000);
    CHECK(strstr(buf, "\"ok\":false") && strstr(buf, want), "%s: answered '%s', want '%s'",
          what, buf, want);
    close(fd);
}

/* 1: eight silent peers fill the waiting slots; the ninth is busy. */
static void case_silent(void)
{
    int fd[SLOTS + 1];
    char buf[512];

    for (int i = 0; i <= SLOTS; i++)
        fd[i] = dial();
    answer(fd[SLOTS], buf, sizeof(buf), 10000);
    printf("the ninth silent peer: %s", buf);
    CHECK(strstr(buf, "\"ok\":false") && strstr(buf, "busy"), "the ninth silent peer was "
          "answered '%s', want a refusal saying busy", buf);
    CHECK(lvt_lv(&cli, lightvm, rundir, "list", NULL) == 0, "list while %d hellos wait: %s",
          SLOTS, cli.err);
    for (int i = 0; i < SLOTS; i++) {
        answer(fd[i], buf, sizeof(buf), 10000);
        CHECK(strstr(buf, "the hello: none within 1000 ms"), "silent peer %d: '%s'", i, buf);
    }
    for (int i = 0; i <= SLOTS; i++)
        if (fd[i] >= 0)
            close(fd[i]);
}

/* 2: bad hellos. */
static void case_bad(void)
{
    static char big[70 << 10];
    char line[256];
    int fd;

    expect_refused("not JSON", "hello there\n", 12, "not a JSON object");
    snprintf(line, sizeof(line), "{\"op\":\"migrate-in\",\"v\":1,\"token\":\"%s\",\"spec\":{}}\n",
             "wrong-token-0123456789");
    expect_refused("a wrong token", line, strlen(line), "wrong token");
    snprintf(line, sizeof(line), "{\"op\":\"migrate-in\",\"v\":9,\"token\":\"%s\",\"spec\":{}}\n",
             TOKEN);
    expect_refused("version 9", line, strlen(line), "not a migration of version");
    memset(big, 'x', sizeof(big));
    expect_refused("70 KiB without a newline", big, sizeof(big), "the hello: over");
    if ((fd = dial()) >= 0) { /* cut: only the log says it */
        CHECK(send(fd, "{\"op\":\"mig", 10, MSG_NOSIGNAL) == 10, "send a cut hello");
        close(fd);
    }
    CHECK(lvt_bg_wait(&daemon_bg, "the hello: the connection closed", 10000),
          "the log does not say the cut hello's connection closed:\n%s", daemon_bg.err);
}

static int start_daemon(void)
{
    const char *argv[] = {lightvmd, "--rundir", rundir, "--migrate-listen",
                          "127.0.0.1:7191", "--migrate-token-file", token, NULL};

    if (lvt_bg_start(&daemon_bg, argv) < 0) {
        CHECK(0, "start lightvmd: %s", strerror(errno));
        return -1;
    }
    return lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir) ? 0 : -1;
}

int main(int argc, char **argv)
{
    char why[256], vms[PATH_MAX + 32];

    if (argc != 3) {
        fprintf(stderr, "usage: test_mighello LIGHTVM LIGHTVMD\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    lvt_require_root("test_mighello", "a network namespace");
    ip_bin = lvt_find_exe((const char *const[]){"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip",
                                                "/bin/ip", NULL});
    if (!ip_bin || lvt_private_netns(why, sizeof(why)) < 0 || !mkdtemp(rundir)) {
        fprintf(stderr, "FAIL: setup: %s\n", ip_bin ? why : "no ip(8)");
        return 1;
    }
    snprintf(token, sizeof(token), "%s-token", rundir);
    if (lvt_ip(&tool, ip_bin, "link set lo up") ||
        lvt_write_file(token, TOKEN "\n", strlen(TOKEN) + 1) < 0 || chmod(token, 0600) < 0) {
        fprintf(stderr, "FAIL: setup: loopback or the token file: %s\n", tool.err);
        return 1;
    }
    if (start_daemon() == 0) {
        case_silent();
        case_bad();
        CHECK(strstr(daemon_bg.err, "migration in from 127.0.0.1:") &&
                  strstr(daemon_bg.err, "refused: busy") &&
                  strstr(daemon_bg.err, "refused: wrong token"),
              "the log does not name the refusals:\n%s", daemon_bg.err);
        lvt_daemon_term(&daemon_bg);
        snprintf(vms, sizeof(vms), "%s/lightvmd.sock", rundir);
        CHECK(access(vms, F_OK) < 0, "lightvmd left its socket");
        snprintf(vms, sizeof(vms), "%s/vms", rundir);
        lvt_check_dir_empty(vms); /* no VM came in */
        rmdir(vms);
    }
    if (daemon_bg.pid)
        lvt_bg_stop(&daemon_bg, SIGKILL, 5000);
    if (lvt_failures)
        fprintf(stderr, "lightvmd's log:\n%s\n", daemon_bg.err);
    unlink(token);
    rmdir(rundir);
    return lvt_done("test_mighello");
}
