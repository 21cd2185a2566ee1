/*
 * faults_host.c: test_faults' rows about the host's resources and the
 * daemon's clients: a full run directory, lightvmd at its fd limit, VM
 * memory that cannot be allocated, bridges and taps deleted under VMs, a
 * guest deaf to shutdown, a client that floods requests and never reads,
 * an out-of-range shutdown timeout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lightvm/ctl.h"
#include "test_faults.h"

/* The run directory's tmpfs filled up, then a VM created: its console
 * writes fail and are counted (the console is capped, never a reason to
 * stop a VM), so it runs and answers, and so do s0 and s1. */
void f_rundir_full(struct row *r)
{
    char path[PATH_MAX], buf[65536];
    long long written = 0;
    unsigned long long none = 0;
    struct lvt_con c;
    int fd;

    memset(&c, 0, sizeof(c)); /* (shown as "gone" if rf was never made) */
    snprintf(path, sizeof(path), "%s/filler", rundir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "%s: %s", path, strerror(errno));
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; fd >= 0 && i < (RUNDIR_MB << 4) + 16; i++) {
        ssize_t n = write(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        written += n;
    }
    if (fd >= 0)
        close(fd);
    int st = LV("create", daytime_cfg("rf", "10.81.2.4"));
    char first[200];
    snprintf(first, sizeof(first), "%.*s", (int)strcspn(st ? cli.err : cli.out, "\n"),
             st ? cli.err : cli.out);
    CHECK(st == 0, "create rf with the filesystem full: status %d: %s", st, cli.err);
    int rf_answers = st == 0 && answers("10.81.2.4");
    CHECK(st != 0 || rf_answers, "rf does not answer with the filesystem full");
    int failed = st == 0 && lvt_con_wait(&cli, lightvm, rundir, "rf", &c, lvt_con_errors_over,
                                         &none);
    CHECK(st != 0 || (failed && strstr(c.last_error, "No space left")),
          "rf's console writes never failed on a full filesystem: errors=%llu (%s)", c.errors,
          c.last_error);
    CHECK(st != 0 || (lvt_con_stats(&cli, lightvm, rundir, "rf", &c) == 0 &&
                      !strcmp(c.state, "running")), "rf after its console writes failed: %s",
          cli.out);
    const char *silent = steady_silent();
    CHECK(!silent, "%s stopped answering with the run directory full", silent);
    LV("list");
    char listing[300];
    snprintf(listing, sizeof(listing), "%.299s", cli.out);
    unlink(path);
    saw(r, "filled (%lld KiB); create rf: status %d: %s%s; rf %s, %llu console writes failed "
        "(%s), s0, s1 answer", written >> 10, st, first,
        st == 0 ? (rf_answers ? " (answers)" : " (does not answer)") : "",
        c.state[0] ? c.state : "gone", c.errors, c.last_error[0] ? c.last_error : "none");
    if (st == 0 || strstr(listing, "rf "))
        CHECK(LV("destroy", "rf") == 0, "destroy rf: %s", cli.err);
}

/* utime + stime of (pid) in ms, from /proc/PID/stat (0 if unreadable). */
static double proc_cpu_ms(pid_t pid)
{
    char p[64], buf[1024];
    unsigned long ut = 0, st = 0;
    FILE *f;

    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(p, "r")))
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    char *rp = strrchr(buf, ')');
    if (!rp || sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* fds in the flood of f_fd_limit */
#define FLOOD_CONNS 24
static int held[FLOOD_CONNS];

void f_fd_limit(struct row *r)
{
    int limit = base_fds + 6, nheld = 0;
    char soft[16];

    snprintf(soft, sizeof(soft), "%d", limit);
    if (!daemon_restart(SIGTERM, lightvmd, RLIMIT_NOFILE, (unsigned long)limit) || !take_baseline())
        return;
    log_mark = strlen(daemon_bg.err);
    /* more connections than it has fds: it accepts until EMFILE */
    for (int i = 0; i < FLOOD_CONNS; i++)
        if ((held[i] = raw_connect()) >= 0)
            nheld++;
    const char *l = daemon_logged("Too many open files", 10000);
    CHECK(l, "the daemon at %d fds never said it ran out:\n%s", limit, daemon_bg.err + log_mark);
    /* Held for a second: a daemon polling its listening socket while
     * accept fails spins (all of a core, and a log line per failure);
     * backing off, it sleeps (the CPU check is a spin detector). */
    double c0 = proc_cpu_ms(daemon_bg.pid), w0 = lvt_now_ms();
    for (int t = 0; t < 1000; t += 50)
        lvt_bg_pump(50);
    double used = proc_cpu_ms(daemon_bg.pid) - c0, wall = lvt_now_ms() - w0;
    CHECK(used < wall / 2, "the daemon at its fd limit spins: %.0f ms of CPU in %.0f ms", used,
          wall);
    int lines = 0;
    for (const char *p = daemon_bg.err + log_mark; (p = strstr(p, "accept: ")); p++)
        lines++;
    CHECK(daemon_up(), "the daemon died at its fd limit:\n%s", daemon_bg.err + log_mark);
    CHECK(lines < 100, "%d accept failures logged in about a second: it spins", lines);
    for (int i = 0; i < FLOOD_CONNS; i++)
        if (held[i] >= 0)
            close(held[i]);
    saw(r, "soft limit %d fds, %d clients connected: %d accept failures logged (%.60s), then "
        "served again", limit, nheld, lines, l ? l : "");
}

/* A daemon as at the start (after a fault that ran another). */
void restore_daemon(struct row *r)
{
    (void)r;
    if (daemon_restart(SIGTERM, lightvmd, -1, 0))
        take_baseline();
}

void f_memory(struct row *r)
{
    /* Here (24 GiB, overcommit) a 4 GiB guest is only address space and
     * mapping it succeeds; what makes the allocation fail is an address
     * space limit on the daemon and so its VM processes (the release
     * build: the sanitizers' shadow memory needs terabytes of it). */
    unsigned long as = 2ul << 30;

    if (!daemon_restart(SIGTERM, lightvmd_rel, RLIMIT_AS, as) || !take_baseline())
        return;
    int st = LV("create", config("hm", "daytime.elf", 4096, BR, "10.81.2.5", NULL));
    saw(r, "create of a 4096 MiB VM under a 2 GiB address-space limit: status %d: %.*s", st,
        (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(st == 1 && strstr(cli.err, "hm") && strstr(cli.err, "memory"),
          "create hm: status %d: %s%s", st, cli.out, cli.err);
    CHECK(LV("info", "hm") == 1, "a failed create left hm: %s", cli.out);
}

void f_bridge_deleted(struct row *r)
{
    char st[2][32], tap[32];

    /* two VMs on a bridge of their own (no pool flavor: the cold path) */
    CHECK(LV("create", config("b0", "daytime.elf", 8, BR2, "10.82.0.2", NULL)) == 0, "b0: %s",
          cli.err);
    CHECK(LV("create", config("b1", "daytime.elf", 8, BR2, "10.82.0.3", NULL)) == 0, "b1: %s",
          cli.err);
    CHECK(answers("10.82.0.2") && answers("10.82.0.3"), "b0/b1 do not answer");
    CHECK(ipcmd("link del " BR2) == 0, "ip link del " BR2);
    lvt_sleep_ms(200);
    for (int i = 0; i < 2; i++) {
        LV("info", i ? "b1" : "b0");
        info_field("state", st[i], sizeof(st[i]));
        CHECK(!strcmp(st[i], "running"), "b%d after its bridge went: %s", i, cli.out);
    }
    CHECK(LV("destroy", "b0") == 0 && LV("destroy", "b1") == 0, "destroy b0/b1: %s", cli.err);
    CHECK(ipcmd("link add " BR2 " address 02:1b:00:00:82:01 type bridge") == 0 &&
          ipcmd("addr add 10.82.0.1/16 dev " BR2) == 0
          && ipcmd("link set " BR2 " up") == 0, "recreating " BR2);
    /* a VM's tap deleted under it */
    CHECK(LV("create", daytime_cfg("td", "10.81.2.6")) == 0, "create td: %s", cli.err);
    CHECK(answers("10.81.2.6"), "td does not answer");
    LV("info", "td");
    const char *t = strstr(cli.out, "lvtap");
    snprintf(tap, sizeof(tap), "%.*s", t ? (int)strspn(t, "lvtap0123456789") : 0, t ? t : "");
    long tdpid = vm_pid("td");
    CHECK(tap[0] && ipcmd("link del %s", tap) == 0, "deleting td's tap '%s'", tap);
    /* A spin detector, not a speed check: an idle guest's process uses
     * next to no CPU; one that spins on its dead tap, all of a core. */
    double c0 = proc_cpu_ms((pid_t)tdpid), w0 = lvt_now_ms();
    lvt_sleep_ms(1000);
    double used = proc_cpu_ms((pid_t)tdpid) - c0, wall = lvt_now_ms() - w0;
    printf("    td's process used %.0f ms of CPU in the %.0f ms after its tap went\n", used,
           wall);
    CHECK(used < wall / 2, "td's process spins without its tap: %.0f ms of CPU in %.0f ms", used,
          wall);
    char tds[32], reason[128];
    LV("info", "td");
    info_field("state", tds, sizeof(tds));
    info_field("reason", reason, sizeof(reason));
    saw(r, "bridge deleted: b0 %s, b1 %s (no network; destroy cleans up); tap %s deleted: td "
        "%s%s%s", st[0], st[1], tap, tds, reason[0] ? ": " : "", reason);
    CHECK(LV("destroy", "td") == 0, "destroy td: %s", cli.err);
}

void f_deaf_guest(struct row *r)
{
    struct lvt_bg sd;
    char console[200] = "";

    CHECK(LV("create", config("deaf", "selftest.elf", 8, NULL, NULL, "deaf")) == 0,
          "create deaf: %s", cli.err);
    for (int t = 0; t < 10000 && !strstr(console, "deaf:"); t += 100) {
        LV("console", "deaf");
        snprintf(console, sizeof(console), "%.199s", cli.out);
        lvt_sleep_ms(100);
    }
    CHECK(strstr(console, "interrupts masked"), "deaf guest console: %s", console);
    const char *argv[] = {lightvm, "shutdown", "deaf", "--timeout", "3000", "--rundir", rundir,
                          NULL};
    if (lvt_bg_start(&sd, argv) < 0)
        return;
    /* While the shutdown waits out the guest, another client is served:
     * its list comes back before the shutdown's reply (which takes the
     * 3 s the guest is given). */
    lvt_bg_pump(100);
    int list_ok = LV("list") == 0 && strstr(cli.out, "deaf");
    lvt_bg_pump(0);
    int before = sd.pid != 0;
    CHECK(list_ok && before, "list during a pending shutdown: status %d, the shutdown %s: %s",
          cli.status, before ? "still pending" : "already done", cli.err);
    lvt_bg_stop(&sd, 0, 30000);
    saw(r, "shutdown: %.*s (list served meanwhile: %s)", (int)strcspn(sd.out, "\n"), sd.out,
        list_ok && before ? "yes" : "no");
    CHECK(sd.status == 0 && strstr(sd.out, "did not shut down within 3000 ms"),
          "shutdown of a deaf guest: status %d: %s%s", sd.status, sd.out, sd.err);
    CHECK(LV("info", "deaf") == 1, "deaf is still there after its shutdown");
}

static int flood_fd = -1;

void f_flood(struct row *r)
{
    static const char req[] = "{\"op\":\"list\"}\n";
    long sent = 0;

    flood_fd = raw_connect();
    CHECK(flood_fd >= 0, "connect");
    if (flood_fd < 0)
        return;
    fcntl(flood_fd, F_SETFL, O_NONBLOCK);
    /* requests, never reading a reply, until the socket takes no more */
    for (int stuck = 0; sent < 1000000 && stuck < 20;) {
        ssize_t n = send(flood_fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(req) - 1) {
            sent++;
            stuck = 0;
        } else {
            lvt_sleep_ms(10); /* the daemon may still be reading */
            stuck++;
        }
    }
    int st = LV("list");
    saw(r, "a client sent %ld requests and read nothing; another client's list: status %d",
        sent, st);
    CHECK(st == 0, "a second client was not served: %s", cli.err);
}

void f_flood_after(struct row *r)
{
    (void)r;
    if (flood_fd >= 0)
        close(flood_fd);
    flood_fd = -1;
}

void f_shutdown_max(struct row *r)
{
    char sock[128];
    json_t *rep = NULL, *req = json_pack("{s:s,s:s,s:I}", "op", "shutdown", "name", "s0",
                                        "timeout_ms", (json_int_t)2147483647);
    struct lv_err err = {""};

    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    int rc = lv_ctl_call(sock, req, 10000, &rep, &err);
    json_decref(req);
    json_decref(rep);
    int st = LV("shutdown", "s0", "--timeout", "2147483647");
    saw(r, "protocol: %s; lightvm shutdown --timeout 2147483647: status %d: %.*s",
        rc ? err.msg : "accepted", st, (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(rc == -EREMOTEIO && strstr(err.msg, "timeout_ms"),
          "timeout_ms 2147483647: rc %d: %s", rc, err.msg);
    CHECK(st == 2 && strstr(cli.err, "--timeout"), "CLI: status %d: %s", st, cli.err);
    CHECK(LV("info", "s0") == 0 && strstr(cli.out, "running"), "s0 after: %s", cli.out);
}
