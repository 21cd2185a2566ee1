/*
 * test_daemon: lightvmd and the `lightvm` verbs end to end on real KVM,
 * in a network and mount namespace of the test's own and a runtime
 * directory of its own:
 *
 *   1. without a daemon: a clear "cannot reach lightvmd" and exit 1
 *   2. lightvmd with a pool; bad configs and unknown names: clear errors
 *   3. create (pool hit) / list / info / console; nc gets a date; every
 *      thread of the VM process (and of `lightvm run`, 4b) has a seccomp
 *      filter (/proc/PID/task/TID/status: "Seccomp: 2")
 *   4. pause: no answer, state paused; unpause: answers again
 *   4b. `lightvm run --config` with the same kind of file (cold path)
 *   5. kill -9 of a VM process: shown as crashed, its tap gone; destroy
 *   2b. protocol versions: ping names them; a request with another "v" is
 *       refused with "protocol: version X not supported (this lightvmd
 *       speaks Y)"
 *   6. kill -9 of lightvmd, restart: every VM still listed and answering;
 *      a VM process of another VM protocol version (a child of the test
 *      that answers info as one would) is logged, left running, not listed
 *   7. NMANY VMs through the pool: all answer daytime; pool stats
 *   7b. a second lightvmd on the same directory is refused and leaves the
 *       running one's lock, socket and shells directory as they were (the
 *       running one still serves creates from its pool); --max-vms: "host full"
 *   8. shutdown (graceful), destroy of everything
 *   9. lightvmd stops on SIGTERM; no process, tap or socket left
 *
 * (A kernel that is a FIFO and an image truncated while it loads are rows
 * of test_faults' table.)
 *
 * The cases run in this order on one daemon and share its VMs: each says
 * what it needs from the earlier ones. A daemon that does not start, or
 * dies, is a failure and the cases after it are reported as not run.
 *
 * usage: test_daemon LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM (skips without
 * it, fails under LIGHTVM_REQUIRE_KVM=1) and root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightvm/ctl.h"
#include "lvtest.h"

#define BR "lvdm0"
#define HOST_IP "10.79.0.1"
#define NMANY 200
#define POOL 8

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin, *lightvm_rel;
static char rundir[64] = "/tmp/lvtest-daemon-XXXXXX", cfgdir[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

/* `lightvm ARGS...` (NULL-terminated) with our run directory: its exit
 * status, output in cli. */
#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

/* `lightvm VERB NAME_OR_FILE` (release build) under valgrind against the
 * live daemon: no leak, no invalid access, status (want). */
static void vg(const char *verb, const char *arg, int want)
{
    const char *argv[] = {"/usr/bin/valgrind", "--quiet", "--leak-check=full",
                          "--show-leak-kinds=all", "--errors-for-leak-kinds=all",
                          "--error-exitcode=99", lightvm_rel, verb, arg, "--rundir", rundir, NULL};
    if (!lightvm_rel)
        return;
    CHECK(lvt_run(&cli, 300, argv) == 0 && cli.status == want,
          "valgrind lightvm %s %s: status %d (want %d; 99 = valgrind errors): %s", verb, arg,
          cli.status, want, cli.err);
}

/* The IP of VM k: 10.79.(k / 200 + 1).(k % 200 + 2). */
static void vm_ip(int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "10.79.%d.%d", k / 200 + 1, k % 200 + 2);
}

/* Writes the config of VM (name) number (k) and returns its path. */
static const char *config(const char *name, int k, const char *extra)
{
    static char path[PATH_MAX + 64];
    char buf[1024], ip[24];

    vm_ip(k, ip, sizeof(ip));
    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"kernel\":\"%s/daytime.elf\",\"memory\":8,\"vcpus\":1,%s"
             "\"vifs\":[{\"bridge\":\"" BR "\",\"ip\":\"%s/16\",\"gw\":\"" HOST_IP "\"}]}",
             name, gdir, extra ? extra : "", ip);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

/* nc to port 13 of VM k, waiting at most (secs): 1 if a date came. */
static int answers(int k, const char *secs)
{
    char ip[24];

    vm_ip(k, ip, sizeof(ip));
    return lvt_daytime_answers(&tool, nc_bin, ip, secs);
}

/* Polls (bounded) for the daemon's socket. */
static int daemon_start(const char *pool)
{
    const char *argv[] = {lightvmd, "--rundir", rundir, pool ? "--pool" : NULL, pool, NULL};

    if (lvt_bg_start(&daemon_bg, argv) < 0) {
        CHECK(0, "cannot start %s: %s", lightvmd, strerror(errno));
        return 0;
    }
    return lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir);
}

/* Waits (bounded) until the pool has (want) ready shells. */
#define pool_wait(want) lvt_pool_wait(&cli, lightvm, rundir, want)

#define vm_pid(name) lvt_vm_pid(&cli, lightvm, rundir, name)

/* Every thread of process (pid) runs under a seccomp filter: "Seccomp:\t2"
 * in each /proc/PID/task/TID/status (the vCPU and I/O threads' own, the
 * main thread's VMM list). */
static void check_seccomp(long pid, const char *what)
{
    char path[96], line[256];
    struct dirent *de;
    int tasks = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    d = opendir(path);
    CHECK(d != NULL, "%s: %s: %s", what, path, strerror(errno));
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/task/%.16s/status", pid, de->d_name);
        FILE *f = fopen(path, "r");
        int mode = -1;
        while (f && fgets(line, sizeof(line), f))
            if (!strncmp(line, "Seccomp:", 8))
                mode = atoi(line + 8);
        if (f)
            fclose(f);
        CHECK(!f || mode == 2, "%s: thread %s has Seccomp: %d (want 2, a filter)", what,
              de->d_name, mode);
        tasks += f != NULL;
    }
    if (d)
        closedir(d);
    CHECK(tasks >= 3, "%s: %d threads (want the main, vCPU and I/O threads)", what, tasks);
}

/* Stands alone (no daemon): a run directory others could tamper with is
 * refused with one line naming it, and nothing is made in it. */
static void case_rundir(void)
{
    static const struct {
        const char *name, *needle;
        int kind; /* 0 symlink to a good directory, 1 mode 0777, 2 owned by nobody */
    } bad[] = {{"rd_link", "symbolic link", 0}, {"rd_open", "writable by others", 1},
               {"rd_nobody", "owned by uid 65534", 2}};
    char real[PATH_MAX + 32], path[PATH_MAX + 32], lock[PATH_MAX + 64];

    snprintf(real, sizeof(real), "%s/rd_real", cfgdir);
    CHECK(mkdir(real, 0700) == 0, "mkdir %s: %s", real, strerror(errno));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", cfgdir, bad[i].name);
        int made = bad[i].kind == 0 ? symlink(real, path)
                   : mkdir(path, 0700) == 0 ? (bad[i].kind == 1 ? chmod(path, 0777)
                                                                : chown(path, 65534, 65534))
                                            : -1;
        CHECK(made == 0, "cannot make %s: %s", path, strerror(errno));
        const char *argv[] = {lightvmd, "--rundir", path, NULL};
        int r = lvt_run(&cli, 20, argv);
        CHECK(r == 0 && cli.status == 1 && strstr(cli.err, path) &&
              strstr(cli.err, bad[i].needle),
              "lightvmd --rundir %s (%s): status %d: %s", path, bad[i].needle, cli.status,
              cli.err);
        snprintf(lock, sizeof(lock), "%s/lightvmd.lock", bad[i].kind ? path : real);
        CHECK(access(lock, F_OK) < 0, "a refused lightvmd made %s", lock);
    }
}

/* A file descriptor lightvmd inherited without close-on-exec (from a
 * careless parent: the test leaks LEAK_FD on purpose) reaches no shell. */
#define LEAK_FD 77
static void check_shells_fds(void)
{
    char path[PATH_MAX + 64];
    DIR *sd;
    struct dirent *de;
    int shells = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)daemon_bg.pid, LEAK_FD);
    CHECK(access(path, F_OK) == 0, "lightvmd did not inherit the test's fd %d", LEAK_FD);
    snprintf(path, sizeof(path), "%s/shells", rundir);
    sd = opendir(path);
    CHECK(sd != NULL, "%s: %s", path, strerror(errno));
    while (sd && (de = readdir(sd))) {
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        shells++;
        snprintf(path, sizeof(path), "/proc/%ld/fd/%d", pid, LEAK_FD);
        CHECK(access(path, F_OK) < 0, "shell %ld has the daemon's inherited fd %d", pid,
              LEAK_FD);
    }
    if (sd)
        closedir(sd);
    CHECK(shells > 0, "no shell to look at");
}

/* (req) (consumed) straight on the daemon's socket: lv_ctl_call's code,
 * the reply in (*rep) (the caller's), the error in (err). */
static int raw_call(json_t *req, json_t **rep, struct lv_err *err)
{
    char sock[128];

    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    int rc = lv_ctl_call(sock, req, 10000, rep, err);
    json_decref(req);
    return rc;
}

/* Protocol versions on the daemon's socket: ping names them; a request
 * of another version is refused whole with one line naming both (a
 * create before any of its work); one without "v" or with ours is served. */
static void case_versions(void)
{
    char want[128];
    struct lv_err err = {""};
    json_t *rep = NULL;

    CHECK(raw_call(json_pack("{s:s}", "op", "ping"), &rep, &err) == 0 &&
          json_integer_value(json_object_get(rep, "version")) == LV_CTL_VERSION &&
          json_integer_value(json_object_get(rep, "vm_version")) == LV_VMP_VERSION,
          "ping: no version %d / vm_version %d: %s", LV_CTL_VERSION, LV_VMP_VERSION, err.msg);
    json_decref(rep);
    snprintf(want, sizeof(want), "protocol: version %d not supported (this lightvmd speaks %d)",
             LV_CTL_VERSION + 1, LV_CTL_VERSION);
    int rc = raw_call(json_pack("{s:s,s:i}", "op", "list", "v", LV_CTL_VERSION + 1), &rep, &err);
    CHECK(rc == -EREMOTEIO && !strcmp(err.msg, want), "list of v%d: %d \"%s\" (want \"%s\")",
          LV_CTL_VERSION + 1, rc, err.msg, want);
    rc = raw_call(json_pack("{s:s,s:i,s:{s:s}}", "op", "create", "v", LV_CTL_VERSION + 1, "spec",
                            "name", "vv"), &rep, &err);
    CHECK(rc == -EREMOTEIO && !strcmp(err.msg, want), "create of v%d: %d \"%s\"",
          LV_CTL_VERSION + 1, rc, err.msg);
    rc = raw_call(json_pack("{s:s,s:s}", "op", "ping", "v", "1"), &rep, &err);
    CHECK(rc == -EREMOTEIO && strstr(err.msg, "protocol: \"v\" must be an integer"),
          "ping with a string \"v\": %d \"%s\"", rc, err.msg);
    rc = raw_call(json_pack("{s:s,s:s,s:i}", "op", "info", "name", "ghost", "v", LV_CTL_VERSION),
                  &rep, &err);
    CHECK(rc == -EREMOTEIO && !strcmp(err.msg, "no VM named 'ghost'"),
          "info of v%d: %d \"%s\"", LV_CTL_VERSION, rc, err.msg);
}

static void case_errors(void)
{
    CHECK(lv("list", NULL) == 1 && strstr(cli.err, "cannot reach lightvmd"),
          "list without a daemon: status %d: %s", cli.status, cli.err);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(null >= 0 && dup2(null, LEAK_FD) == LEAK_FD, "cannot make fd %d", LEAK_FD);
    int started = daemon_start("8,1," "8");
    close(LEAK_FD); /* lightvmd has its copy */
    close(null);
    if (!started)
        return;
    pool_wait(8);
    check_shells_fds();
    /* bad configs: each names its problem, none leaves a VM behind */
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"name\":\"b\",\"kernel\":\"/x\",\"memroy\":8}", "memroy"},
        {"{\"name\":\"b\"}", "kernel"},
        {"{\"name\":\"bad name\",\"kernel\":\"/x\"}", "name"},
        {"{\"name\":\"b\",\"kernel\":\"/nonexistent/daytime.elf\"}", "nonexistent"},
        {"{\"name\":\"b\",\"kernel\":\"/etc/passwd\"}", "passwd"},
        {"{\"name\":\"b\",\"kernel\":\"/x\",\"vifs\":[{\"bridge\":\"no such\"}]}", "bridge"},
        {"not json", "JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/bad%zu.json", cfgdir, i);
        lvt_write_file(path, bad[i].json, strlen(bad[i].json));
        int st = lv("create", path, NULL);
        CHECK(st != 0 && strstr(cli.err, "lightvm create: ") && strstr(cli.err, bad[i].needle),
              "bad config %zu (%s): status %d, stderr \"%s\" (want it to name '%s')", i,
              bad[i].json, st, cli.err, bad[i].needle);
    }
    /* a bridge that does not exist: refused by the VM process, clean */
    const char *nb = config("nobr", 5, NULL);
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"name\":\"nobr\",\"kernel\":\"%s/daytime.elf\",\"vifs\":[{\"bridge\":\"lvnone0\"}]}",
             gdir);
    lvt_write_file(nb, buf, strlen(buf));
    CHECK(lv("create", nb, NULL) == 1 && strstr(cli.err, "lvnone0"),
          "create on a missing bridge: status %d: %s", cli.status, cli.err);
    const char *verbs[] = {"info", "pause", "unpause", "destroy", "shutdown", "console"};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        CHECK(lv(verbs[i], "ghost", NULL) == 1 && strstr(cli.err, "ghost"),
              "%s of an unknown VM: status %d: %s", verbs[i], cli.status, cli.err);
    CHECK(lv("list", NULL) == 0 && !strstr(cli.out, "nobr") && !strstr(cli.out, " b "),
          "a failed create left a VM: %s", cli.out);
    case_versions();
}

/* Needs the daemon of case_errors; leaves d0 running (unpaused). */
static void case_lifecycle(void)
{
    const char *c0 = config("d0", 0, NULL);

    pool_wait(POOL);
    CHECK(lv("create", c0, NULL) == 0 && strstr(cli.out, "d0 id=") && strstr(cli.out, "pool=hit"),
          "create d0: status %d: %s%s", cli.status, cli.out, cli.err);
    printf("create: %s", cli.out);
    CHECK(lv("create", c0, NULL) == 1 && strstr(cli.err, "already exists"),
          "a second d0: status %d: %s", cli.status, cli.err);
    CHECK(answers(0, "5"), "d0 does not answer daytime: %s", tool.err);
    CHECK(lv("list", NULL) == 0 && strstr(cli.out, "d0") && strstr(cli.out, "running"),
          "list: %s", cli.out);
    CHECK(lv("info", "d0", NULL) == 0 && strstr(cli.out, "state: running") &&
          strstr(cli.out, "lvtap"), "info d0: %s", cli.out);
    CHECK(lv("console", "d0", NULL) == 0 && strstr(cli.out, "daytime: listening on 10.79.1.2"),
          "console d0: \"%s\"", cli.out);
    check_seccomp(vm_pid("d0"), "d0's VM process");

    vg("info", "d0", 0);
    vg("console", "d0", 0);
    vg("list", "--json", 0);
    vg("info", "ghost", 1);
    vg("create", config("vg0", 3, NULL), 0);
    vg("destroy", "vg0", 0);

    CHECK(lv("pause", "d0", NULL) == 0, "pause d0: %s", cli.err);
    CHECK(lv("info", "d0", NULL) == 0 && strstr(cli.out, "state: paused"), "paused: %s", cli.out);
    CHECK(!answers(0, "2"), "a paused d0 answered: %s", tool.out);
    CHECK(lv("pause", "d0", NULL) == 1, "pausing twice succeeded");
    CHECK(lv("unpause", "d0", NULL) == 0, "unpause d0: %s", cli.err);
    CHECK(answers(0, "5"), "d0 does not answer after unpause: %s", tool.err);
}

/* `lightvm run --config` takes the same file on the cold path. */
static void case_run_config(void)
{
    struct lvt_bg vm;
    const char *argv[] = {lightvm, "run", "--config", config("rc0", 4, NULL), "--wait-net",
                          HOST_IP, NULL};

    if (lvt_bg_start(&vm, argv) < 0)
        return;
    CHECK(lvt_bg_wait(&vm, "network up in", 30000), "run --config: no network up: %s", vm.err);
    CHECK(answers(4, "5"), "run --config VM does not answer daytime");
    check_seccomp(lvt_child_pid(vm.pid), "lightvm run's VM process");
    int st = lvt_bg_stop(&vm, SIGTERM, 20000);
    CHECK(st == 143, "run --config after SIGTERM: status %d: %s", st, vm.err);
}

/* Needs the daemon of case_errors (no VM of the earlier cases). */
static void case_crash(void)
{
    const char *c1 = config("d1", 1, NULL), *t;
    char tap[IF_NAMESIZE + 1] = "";
    long pid;

    CHECK(lv("create", c1, NULL) == 0, "create d1: %s", cli.err);
    CHECK(answers(1, "5"), "d1 does not answer");
    pid = vm_pid("d1");
    /* its own tap, by name: other taps come and go as the pool refills */
    if ((t = strstr(cli.out, "lvtap")))
        snprintf(tap, sizeof(tap), "%.*s", (int)strspn(t, "lvtap0123456789"), t);
    CHECK(tap[0] && lvt_sys_exists(tap, NULL), "d1's tap not in info: %s", cli.out);
    /* by ifindex too: a shell the pool makes meanwhile may get the name */
    char ifx[16] = "", now[16];
    lvt_sys_read(tap, "ifindex", ifx, sizeof(ifx));
    CHECK(pid > 0 && kill((pid_t)pid, SIGKILL) == 0, "cannot kill d1 (pid %ld)", pid);
    int crashed = 0;
    for (int t_ = 0; t_ < 10000 && !crashed; t_ += 100) {
        lvt_sleep_ms(100);
        crashed = lv("info", "d1", NULL) == 0 && strstr(cli.out, "state: crashed");
    }
    CHECK(crashed && strstr(cli.out, "signal 9"), "d1 after kill -9: %s", cli.out);
    /* a killed process's tap goes with it (the kernel closes its fd) */
    int gone = 0;
    for (int t_ = 0; t_ < 5000 && !gone; t_ += 50) {
        now[0] = '\0';
        gone = lvt_sys_read(tap, "ifindex", now, sizeof(now)) < 0 || strcmp(now, ifx);
        if (!gone)
            lvt_sleep_ms(50);
    }
    CHECK(tap[0] && ifx[0] && gone, "d1's tap %s (ifindex %s) is still there after its process "
          "was killed", tap, ifx);
    CHECK(lv("pause", "d1", NULL) == 1 && strstr(cli.err, "crashed"), "pause of a crashed VM: %s",
          cli.err);
    CHECK(lv("destroy", "d1", NULL) == 0, "destroy crashed d1: %s", cli.err);
    CHECK(lv("info", "d1", NULL) == 1, "d1 is still known after destroy");
}

/* The foreign VM process's loop: answers {"op":"info"} without "v" as a
 * VM process of version LV_VMP_VERSION + 1 would; anything else sent to
 * it (a request with "v", any other op) ends it with status 3. At most
 * 16 connections, a minute's wait each. */
static void foreign_serve(int l, const char *name)
{
    for (int n = 0; n < 16; n++) {
        struct pollfd pf = {l, POLLIN, 0};
        if (poll(&pf, 1, 60000) != 1)
            break;
        int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct lv_ctl_conn c;
        json_t *m = NULL;
        lv_ctl_conn_init(&c, fd);
        if (lv_ctl_recv(&c, 5000, &m, NULL) == 0) {
            if (strcmp(json_string_value(json_object_get(m, "op")) ?: "", "info") ||
                json_object_get(m, "v"))
                _exit(3);
            json_t *r = json_pack("{s:b,s:i,s:{s:s,s:i,s:s,s:i}}", "ok", 1, "v",
                                  LV_VMP_VERSION + 1, "vm", "name", name, "id", 900, "state",
                                  "running", "pid", (int)getpid());
            lv_ctl_send(&c, r, 1000, NULL);
            json_decref(r);
            json_decref(m);
        }
        lv_ctl_conn_close(&c);
    }
    _exit(0);
}

/* A VM process of another VM protocol version, as far as a daemon can
 * tell (none of another version exists yet): a child of the test that
 * listens on vms/NAME/ctl.sock itself (the daemon takes the listener's
 * pid from the kernel) and serves it (foreign_serve). Its pid once it
 * listens, or -1. */
static pid_t foreign_start(const char *name)
{
    char dir[PATH_MAX], sock[PATH_MAX + 16], up = 0;
    int p[2];

    snprintf(dir, sizeof(dir), "%s/vms/%s", rundir, name);
    snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
    CHECK(mkdir(dir, 0700) == 0, "%s: %s", dir, strerror(errno));
    if (pipe2(p, O_CLOEXEC) < 0) {
        CHECK(0, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int l = lv_ctl_listen(sock, NULL);
        char ok = l >= 0;
        close(p[0]);
        if (write(p[1], &ok, 1) != 1 || !ok)
            _exit(4);
        close(p[1]);
        foreign_serve(l, name);
    }
    close(p[1]);
    CHECK(pid > 0 && read(p[0], &up, 1) == 1 && up, "the foreign VM process did not start "
          "listening on %s (%s)", sock, strerror(errno));
    close(p[0]);
    if (pid > 0 && !up) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* After the restart: the daemon said that it left (pid) alone, does not
 * list it or know its name, and left it running with its socket; then
 * the test ends it (status 3 would mean the daemon sent it more than the
 * version's question) and removes its directory. */
static void foreign_check(pid_t pid, const char *name)
{
    char line[256], dir[PATH_MAX], sock[PATH_MAX + 16];
    int st = 0;

    snprintf(line, sizeof(line), "lightvmd: VM '%s' (pid %d) speaks VM protocol v%d, this "
             "lightvmd v%d: left running, not managed\n", name, (int)pid, LV_VMP_VERSION + 1,
             LV_VMP_VERSION);
    CHECK(lvt_bg_wait(&daemon_bg, line, 5000), "lightvmd did not log \"%s\":\n%s", line,
          daemon_bg.err);
    CHECK(lv("list", NULL) == 0 && !strstr(cli.out, name), "list shows %s: %s", name, cli.out);
    CHECK(lv("info", name, NULL) == 1 && strstr(cli.err, "no VM named"),
          "info %s: status %d: %s", name, cli.status, cli.err);
    snprintf(dir, sizeof(dir), "%s/vms/%s", rundir, name);
    snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
    CHECK(waitpid(pid, &st, WNOHANG) == 0, "the foreign VM process ended: status 0x%x", st);
    CHECK(access(sock, F_OK) == 0, "%s was removed", sock);
    kill(pid, SIGTERM);
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st), "the foreign VM process was sent "
          "more than info (status 0x%x)", st);
    unlink(sock);
    rmdir(dir);
}

/* Needs d0 (case_lifecycle), running; leaves d0 and d2 for case_end. A
 * VM process of another version found at the restart is left alone. */
static void case_daemon_restart(void)
{
    const char *c2 = config("d2", 2, NULL);

    CHECK(lv("create", c2, NULL) == 0, "create d2: %s", cli.err);
    kill(daemon_bg.pid, SIGKILL);
    lvt_bg_stop(&daemon_bg, 0, 10000);
    CHECK(answers(0, "5") && answers(2, "5"), "VMs stopped answering with the daemon gone");
    CHECK(lv("list", NULL) == 1, "list with the daemon dead: %d", cli.status);
    pid_t foreign = foreign_start("old1");
    if (!daemon_start("8,1," "8")) {
        if (foreign > 0)
            kill(foreign, SIGKILL);
        return;
    }
    if (foreign > 0)
        foreign_check(foreign, "old1");
    CHECK(lv("list", NULL) == 0 && strstr(cli.out, "d0") && strstr(cli.out, "d2") &&
          !strstr(cli.out, "crashed"), "after a daemon restart: %s", cli.out);
    CHECK(lv("pause", "d2", NULL) == 0 && lv("unpause", "d2", NULL) == 0,
          "pause/unpause of an adopted VM: %s", cli.err);
    CHECK(answers(2, "5"), "adopted d2 does not answer");
}

/* Needs the daemon with its pool; leaves m10.. for case_end. */
static void case_many(void)
{
    char name[32];
    int created = 0, ok = 0;

    pool_wait(POOL);
    for (int k = 10; k < 10 + NMANY; k++) {
        snprintf(name, sizeof(name), "m%d", k);
        if (lv("create", config(name, k, NULL), NULL) == 0)
            created++;
        else
            CHECK(0, "create %s: %s", name, cli.err);
    }
    for (int k = 10; k < 10 + NMANY; k++)
        ok += answers(k, "5");
    printf("%d of %d VMs created through the pool, %d answer daytime\n", created, NMANY, ok);
    CHECK(ok == NMANY, "only %d of %d answer", ok, NMANY);
    CHECK(lv("pool", NULL) == 0 && strstr(cli.out, "hits="), "pool: %s", cli.out);
    printf("pool: %s", cli.out);
    const char *h = strstr(cli.out, "hits=");
    CHECK(h && atoi(h + 5) > NMANY / 4, "few pool hits: %s", cli.out);
}

/* stat of $RUNDIR/NAME; st_ino 0 when it is not there. */
static struct stat rundir_stat(const char *name)
{
    char p[PATH_MAX];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", rundir, name);
    if (stat(p, &st) < 0)
        memset(&st, 0, sizeof(st));
    return st;
}

/* Needs the running daemon with its pool (any VMs). A second daemon on
 * the same directory is refused and touches nothing of the first's: its
 * lock file, socket and shells directory are the same files after, and
 * the first still serves creates from its pool (that only an empty shells
 * directory shows the bug: a shell that has made its directory keeps
 * rmdir from removing it; so the pool is full and the check runs at
 * once). A daemon with --max-vms 1 refuses the second VM with "host full". */
static void case_limits(void)
{
    static const char *const owned[] = {"lightvmd.lock", "lightvmd.sock", "shells"};
    struct stat before[3];
    struct lvt_proc p2;
    char rd2[128];
    const char *argv[] = {lightvmd, "--rundir", rundir, NULL};

    pool_wait(POOL);
    for (int i = 0; i < 3; i++)
        before[i] = rundir_stat(owned[i]);
    for (int k = 0; k < 2; k++) /* twice: the first must not have opened a door */
        CHECK(lvt_run(&p2, 30, argv) == 0 && p2.status == 1 &&
              strstr(p2.err, "another lightvmd"),
              "a second lightvmd on %s: status %d: %s", rundir, p2.status, p2.err);
    for (int i = 0; i < 3; i++) {
        struct stat now = rundir_stat(owned[i]);
        CHECK(before[i].st_ino && now.st_ino == before[i].st_ino,
              "the refused daemon changed the running one's %s (inode %lu, was %lu)", owned[i],
              (unsigned long)now.st_ino, (unsigned long)before[i].st_ino);
    }
    /* the first daemon still hands out pool shells (their directories
     * are made under shells/) */
    CHECK(lv("create", config("lim0", 8, NULL), NULL) == 0 && strstr(cli.out, "pool=hit"),
          "create after the refused daemon: status %d: %s%s", cli.status, cli.out, cli.err);
    CHECK(answers(8, "5"), "lim0 does not answer daytime");
    CHECK(lv("destroy", "lim0", NULL) == 0, "destroy lim0: %s", cli.err);
    pool_wait(POOL); /* refilled: new shells made their directories */
    snprintf(rd2, sizeof(rd2), "%s-full", rundir);
    /* ... and its pool's shells cannot be made (no such bridge): it backs
     * off instead of respawning them at full speed */
    const char *argv2[] = {lightvmd, "--rundir", rd2, "--max-vms", "1", "--pool", "8,1,2,lvnone0",
                           NULL};
    struct lvt_bg d2;
    if (lvt_bg_start(&d2, argv2) < 0)
        return;
    const char *ca[] = {lightvm, "create", config("full1", 6, NULL), "--rundir", rd2, NULL};
    int st = -1;
    for (int t = 0; t < 100 && st != 0; t++) { /* until it listens */
        lvt_sleep_ms(100);
        st = lvt_run(&p2, 60, ca) == 0 ? p2.status : -1;
    }
    CHECK(st == 0, "create on the --max-vms 1 daemon: %s", p2.err);
    const char *cb[] = {lightvm, "create", config("full2", 7, NULL), "--rundir", rd2, NULL};
    CHECK(lvt_run(&p2, 60, cb) == 0 && p2.status == 1 && strstr(p2.err, "host full"),
          "a VM beyond --max-vms: status %d: %s", p2.status, p2.err);
    const char *cd[] = {lightvm, "destroy", "full1", "--rundir", rd2, NULL};
    CHECK(lvt_run(&p2, 60, cd) == 0 && p2.status == 0, "destroy full1: %s", p2.err);
    lvt_sleep_ms(1000);
    lvt_bg_stop(&d2, SIGTERM, 20000);
    int fails = 0;
    for (const char *q = d2.err; (q = strstr(q, "next try in")); q++)
        fails++;
    /* ~2 s of life: 100 + 200 + 400 + 800 ms of backoff, 2 shells each time */
    CHECK(fails >= 1 && fails <= 12, "%d failed shells in ~2 s on a missing bridge "
          "(want a backoff):\n%.2000s", fails, d2.err);
    const char *rm[] = {"/bin/rm", "-rf", rd2, NULL};
    lvt_bg_run(&tool, 30000, rm);
}

/* Needs d0, d2 (case_daemon_restart) and m10.. (case_many). */
static void case_end(void)
{
    char name[32];

    CHECK(lv("shutdown", "d0", NULL) == 0 && strstr(cli.out, "d0: shut down"),
          "shutdown d0: %s%s", cli.out, cli.err);
    CHECK(lv("destroy", "d2", NULL) == 0, "destroy d2: %s", cli.err);
    for (int k = 10; k < 10 + NMANY; k++) {
        snprintf(name, sizeof(name), "m%d", k);
        CHECK(lv("destroy", name, NULL) == 0, "destroy %s: %s", name, cli.err);
    }
    CHECK(lv("list", NULL) == 0 && !strchr(cli.out + strcspn(cli.out, "\n") + 1, 'm'),
          "VMs left after destroying all: %s", cli.out);
    lvt_daemon_term(&daemon_bg);
    lvt_check_netns_empty();
    lvt_check_rundir_clean(rundir);
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: test_daemon LIGHTVM LIGHTVMD GUEST_DIR [RELEASE_LIGHTVM]\n");
        return 2;
    }
    lightvm_rel = lvt_e2e_release_arg(argc, argv, 4); /* verbs under valgrind */
    lightvm = argv[1];
    lightvmd = argv[2];
    lvt_e2e_require("test_daemon", "network namespaces, taps");
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    if (lvt_e2e_bridge(&tool, ip_bin, BR, HOST_IP "/16") < 0)
        return 1;
    case_rundir();
    case_errors();
    if (daemon_bg.pid) {
        case_lifecycle();
        case_run_config();
        case_crash();
        case_daemon_restart();
    }
    if (daemon_bg.pid) {
        case_limits();
        case_many();
    }
    if (daemon_bg.pid)
        case_end();
    else
        CHECK(0, "lightvmd is not running (status %d): the cases after that did not run\n%s",
              daemon_bg.status, daemon_bg.err);
    lvt_e2e_stop(&daemon_bg, rundir);
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_daemon");
}
