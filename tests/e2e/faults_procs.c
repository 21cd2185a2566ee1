/*
 * faults_procs.c: test_faults' rows about processes that die or stop: a
 * shell killed while it prepares, lightvmd killed mid-create, a VM
 * process killed, a VM process stopped (SIGSTOP) then destroyed.
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

/* The daemon's children (processes of the namespace whose parent it
 * is): their number, up to (max) of them in (pids). */
static int daemon_children(pid_t *pids, int max)
{
    pid_t all[128];
    char list[4096];
    int n = 0, na = lvt_netns_others(all, 128, list, sizeof(list));

    for (int i = 0; i < na && i < 128 && n < max; i++) {
        char p[64], buf[512];
        long ppid = 0;
        snprintf(p, sizeof(p), "/proc/%d/stat", (int)all[i]);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
        char *rp = strrchr(buf, ')');
        if (rp && sscanf(rp + 2, "%*c %ld", &ppid) == 1 && ppid == daemon_bg.pid)
            pids[n++] = all[i];
    }
    return n;
}

/* A shell is preparing once it runs lightvmd --vm-shell (before that,
 * lightvmd is still putting the child in its cgroup) and while it has no
 * console.log open (a ready shell has shells/PID/console.log open, a VM
 * process vms/NAME/...). */
static int is_preparing(pid_t pid)
{
    char p[64], fp[340], link[PATH_MAX], cmd[256] = "";
    int has_console = 0, alive;
    FILE *cf;

    snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
    if ((cf = fopen(p, "r"))) {
        size_t n = fread(cmd, 1, sizeof(cmd) - 1, cf);
        fclose(cf);
        for (size_t i = 0; i < n; i++) /* the arguments, NUL-separated */
            cmd[i] = cmd[i] ? cmd[i] : ' ';
        cmd[n] = '\0';
    }
    if (!strstr(cmd, "--vm-shell"))
        return 0;
    snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    alive = d != NULL;
    for (struct dirent *de; d && (de = readdir(d)) && !has_console;) {
        ssize_t k;
        snprintf(fp, sizeof(fp), "%s/%s", p, de->d_name);
        if ((k = readlink(fp, link, sizeof(link) - 1)) > 0) {
            link[k] = '\0';
            has_console = strstr(link, "/console.log") != NULL;
        }
    }
    if (d)
        closedir(d);
    return alive && !has_console;
}

void f_shell_kill(struct row *r)
{
    pid_t before[64], now[64];
    int nb = daemon_children(before, 64), killed = 0;
    struct lvt_bg cr;
    const char *argv[] = {lightvm, "create", daytime_cfg("fs0", "10.81.2.2"), "--rundir", rundir,
                          NULL};

    /* a create takes a pool shell; the refill starts a new one: caught as
     * a new child of the daemon, stopped (it cannot finish its prepare
     * between the look and the kill), checked, killed */
    if (lvt_bg_start(&cr, argv) < 0)
        return;
    for (int t = 0; t < 20000 && !killed; t++) {
        int nn = daemon_children(now, 64);
        for (int i = 0; i < nn && !killed; i++) {
            int old = 0;
            for (int k = 0; k < nb && !old; k++)
                old = before[k] == now[i];
            if (old || !is_preparing(now[i]))
                continue;
            kill(now[i], SIGSTOP);
            if (is_preparing(now[i])) {
                kill(now[i], SIGKILL);
                killed = 1;
            } else {
                kill(now[i], SIGCONT);
            }
        }
        if (!killed)
            lvt_bg_pump(0);
    }
    CHECK(lvt_bg_stop(&cr, 0, 60000) == 0, "create fs0: %s", cr.err);
    CHECK(killed, "never caught a shell preparing");
    const char *l = daemon_logged("died while preparing", 10000);
    saw(r, "%s", l ? l : "(nothing logged)");
    CHECK(l, "the daemon did not notice its shell's death:\n%s", daemon_bg.err + log_mark);
    CHECK(LV("destroy", "fs0") == 0, "destroy fs0: %s", cli.err);
}

/* The create request sent straight on the socket, then lightvmd killed
 * after (us) microseconds, then restarted: the VM is fully there
 * (running, answering) or fully gone (name free, nothing left). */
static int kill_mid_create(int k, int us, struct row *r)
{
    char name[16], ip[24], js[1024];
    json_t *spec, *req;
    struct lv_ctl_conn c;
    int there = -1;

    snprintf(name, sizeof(name), "dk%d", k);
    snprintf(ip, sizeof(ip), "10.81.3.%d", 2 + k);
    snprintf(js, sizeof(js), "{\"name\":\"%s\",\"kernel\":\"%s/daytime.elf\",\"memory\":8,"
             "\"vifs\":[{\"bridge\":\"" BR "\",\"ip\":\"%s/16\"}]}", name, gdir, ip);
    spec = json_loads(js, 0, NULL);
    req = json_pack("{s:s,s:o}", "op", "create", "spec", spec);
    int fd = raw_connect();
    CHECK(fd >= 0, "cannot connect to the daemon");
    if (us < 0)
        kill(daemon_bg.pid, SIGSTOP);
    if (fd < 0) {
        json_decref(req);
        return -1;
    }
    lv_ctl_conn_init(&c, fd);
    CHECK(lv_ctl_send(&c, req, 5000, NULL) == 0, "send create");
    json_decref(req);
    if (us >= 0) {
        struct timespec ts = {0, us * 1000L};
        nanosleep(&ts, NULL);
    }
    kill(daemon_bg.pid, SIGKILL); /* (us < 0: it was stopped before the request) */
    json_t *rep = NULL;
    int rc = lv_ctl_recv(&c, 5000, &rep, NULL);
    json_decref(rep);
    lv_ctl_conn_close(&c);
    lvt_bg_stop(&daemon_bg, 0, 10000);
    if (!daemon_start(lightvmd, -1, 0))
        return -1;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/vms/%s", rundir, name);
    if (LV("info", name) == 0) {
        char st[32];
        there = 1;
        CHECK(!strcmp(info_field("state", st, sizeof(st)), "running") && answers(ip),
              "%s after a daemon killed %d us into its create: half there: %s", name, us,
              cli.out);
        CHECK(LV("destroy", name) == 0, "destroy %s: %s", name, cli.err);
    } else {
        there = 0;
        CHECK(strstr(cli.err, "no VM named") && access(dir, F_OK) < 0,
              "%s after a daemon killed %d us into its create: half gone: %s (dir %s)", name, us,
              cli.err, access(dir, F_OK) == 0 ? "left" : "gone");
    }
    (void)r;
    printf("  kill -9 %d us after the create request (-1: before it was read): %s (reply %s)\n", us,
           there ? "VM fully there" : "VM fully gone", rc == 0 ? "came" : "none");
    return there;
}

void f_daemon_kill(struct row *r)
{
    /* -1: stopped before it reads the request; then after the request,
     * while the shell is told to exec and executes, and after the reply */
    static const int points_us[] = {-1, 0, 200, 500, 1000, 2000, 5000, 20000};
    int there = 0, gone = 0;

    for (size_t i = 0; i < sizeof(points_us) / sizeof(points_us[0]); i++) {
        char what[1024];
        if (!wait_steady(what, sizeof(what)))
            CHECK(0, "before kill point %zu: %s", i, what);
        int t = kill_mid_create((int)i, points_us[i], r);
        there += t == 1;
        gone += t == 0;
        if (t < 0)
            break;
    }
    saw(r, "create got no reply; after the restart the VM was fully there %d times, fully "
        "gone %d times", there, gone);
}

void f_vm_kill(struct row *r)
{
    char st[32], reason[128];

    CHECK(LV("create", daytime_cfg("vk", "10.81.2.3")) == 0, "create vk: %s", cli.err);
    long pid = vm_pid("vk");
    CHECK(pid > 0 && kill((pid_t)pid, SIGKILL) == 0, "cannot kill vk (%ld)", pid);
    int crashed = 0;
    for (int t = 0; t < 10000 && !crashed; t += 100) {
        lvt_sleep_ms(100);
        crashed = LV("info", "vk") == 0 && !strcmp(info_field("state", st, sizeof(st)), "crashed");
    }
    info_field("reason", reason, sizeof(reason));
    saw(r, "info vk: state %s (%s); destroy removes it", st, reason);
    CHECK(crashed, "vk after kill -9: %s", cli.out);
    CHECK(LV("destroy", "vk") == 0, "destroy vk: %s", cli.err);
}

/* A VM process that is alive but does not answer (SIGSTOP): destroy
 * kills it after the relayed call's deadline instead of failing and
 * leaving it. */
void f_vm_stopped(struct row *r)
{
    CHECK(LV("create", daytime_cfg("vs", "10.81.2.30")) == 0, "create vs: %s", cli.err);
    long pid = vm_pid("vs");
    CHECK(pid > 0 && kill((pid_t)pid, SIGSTOP) == 0, "cannot stop vs (%ld)", pid);
    int st = LV("destroy", "vs");
    saw(r, "destroy vs: status %d: %.*s", st, (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(st == 0 && strstr(cli.err, "did not answer: killed"), "destroy of a stopped VM "
          "process: status %d: %s", st, cli.err);
    int gone = 0;
    for (int t = 0; t < 100 && !gone && pid > 0; t++) { /* KVM teardown: ~15 ms */
        char p[64];
        snprintf(p, sizeof(p), "/proc/%ld", pid);
        gone = access(p, F_OK) < 0;
        if (!gone)
            lvt_sleep_ms(100);
    }
    CHECK(gone, "vs's process %ld is still there after destroy", pid);
    CHECK(LV("info", "vs") == 1, "vs is still known after destroy: %s", cli.out);
}
