/*
 * test_sandbox: what a jailed VM process holds and can reach, seen from
 * the host, and the bridges a VM may join. In a network and mount
 * namespace of the test's own, with a lightvmd of its own:
 *
 *   1. a VM from the pool answers daytime; its process (and each of its
 *      threads) runs as a uid and gid of the jail's range, no
 *      supplementary groups, no capability in any set, NoNewPrivs 1, a
 *      seccomp filter (Seccomp 2), SCHED_OTHER;
 *      PID 1 of a PID namespace of its own, in mount and IPC namespaces
 *      that are not the daemon's, with an empty root; every fd it holds is
 *      one of its own (KVM, its memory, its tap, eventfds, its sockets,
 *      its directory and console, vmm.log, /dev/null)
 *   2. a pool shell, before any exec, is jailed the same way
 *   3. `lightvm run` as root: its VM process (its child) is jailed the
 *      same way (its fds: the same kinds, and the pipes of its stdio and
 *      of the command); it answers daytime; a SIGTERM to the command
 *      ends both with 143; a SIGKILLed command takes its VM process with
 *      it
 *   4. a config naming a bridge outside lightvmd's --bridges is refused
 *      with one line naming it, and no VM is left; one on an allowed
 *      bridge that lightvm did not make keeps its MAC address
 *
 * usage: test_sandbox LIGHTVM LIGHTVMD GUEST_DIR. Needs KVM and root.
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/jail.h"
#include "lvtest.h"

#define BR "lvsb0"      /* allowed (--bridges lvsb*) */
#define OTHER "xsb0"    /* not allowed */
#define HOST_IP "10.83.0.1"

static const char *lightvm, *lightvmd, *gdir, *ip_bin, *nc_bin;
static char rundir[64] = "/tmp/lvtest-sandbox-XXXXXX", cfgdir[PATH_MAX];
static struct lvt_bg daemon_bg, tool;
static struct lvt_proc cli;

#define lv(...) lvt_lv(&cli, lightvm, rundir, __VA_ARGS__)

static const char *config(const char *name, const char *bridge, const char *ip)
{
    static char path[PATH_MAX + 64];
    char buf[1024];

    snprintf(path, sizeof(path), "%s/%s.json", cfgdir, name);
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"kernel\":\"%s/daytime.elf\",\"memory\":8,"
             "\"vifs\":[{\"bridge\":\"%s\",\"ip\":\"%s/16\",\"gw\":\"" HOST_IP "\"}]}",
             name, gdir, bridge, ip);
    CHECK(lvt_write_file(path, buf, strlen(buf)) == 0, "cannot write %s", path);
    return path;
}

/* The value of field (key) ("Uid:") of /proc/(pid)[/task/(tid)]/status. */
static int status_field(const char *dir, const char *key, char *out, size_t cap)
{
    char path[PATH_MAX], line[512];
    FILE *f;
    int found = 0;

    snprintf(path, sizeof(path), "%s/status", dir);
    if (!(f = fopen(path, "r")))
        return 0;
    while (!found && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key))) {
            const char *v = line + strlen(key);
            v += strspn(v, " \t");
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\n"), v);
            found = 1;
        }
    fclose(f);
    return found;
}

/* Field 41 (policy) of /proc/(pid)[/task/(tid)]/stat, -1 if unreadable. */
static int sched_policy(const char *dir)
{
    char path[PATH_MAX], buf[1024];
    FILE *f;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/stat", dir);
    if ((f = fopen(path, "r"))) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* after the command name: field 3 on */
    for (int field = 2; p && field < 41; field++)
        p = strchr(p + 1, ' ');
    return p ? atoi(p + 1) : -1;
}

/* The identity, capabilities and scheduling of one task (/proc/PID or a
 * thread). */
static void check_task(const char *dir, const char *what)
{
    char v[256];
    unsigned long u[4];

    CHECK(status_field(dir, "Uid:", v, sizeof(v)) &&
              sscanf(v, "%lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) == 4 &&
              u[0] == u[1] && u[1] == u[2] && u[2] == u[3] && u[0] >= LV_JAIL_ID_BASE &&
              u[0] < LV_JAIL_ID_BASE + LV_JAIL_ID_SPAN,
          "%s: Uid '%s' (want one id of the jail's range, four times)", what, v);
    CHECK(status_field(dir, "Gid:", v, sizeof(v)) && strtoul(v, NULL, 10) >= LV_JAIL_ID_BASE,
          "%s: Gid '%s'", what, v);
    CHECK(!status_field(dir, "Groups:", v, sizeof(v)) || !v[0], "%s: Groups '%s'", what, v);
    static const char *const caps[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"};
    for (int i = 0; i < 5; i++)
        CHECK(status_field(dir, caps[i], v, sizeof(v)) && strtoull(v, NULL, 16) == 0,
              "%s: %s %s (want 0)", what, caps[i], v);
    CHECK(status_field(dir, "NoNewPrivs:", v, sizeof(v)) && !strcmp(v, "1"),
          "%s: NoNewPrivs %s", what, v);
    CHECK(status_field(dir, "Seccomp:", v, sizeof(v)) && !strcmp(v, "2"),
          "%s: Seccomp %s (want 2: a filter)", what, v);
    /* A shell prepares under SCHED_IDLE; it must leave it before the jail
     * takes the right to (a VM would wait behind every other task). */
    CHECK(sched_policy(dir) == SCHED_OTHER, "%s: scheduling policy %d (want SCHED_OTHER)",
          what, sched_policy(dir));
}

/* 1 if the fd link target (t) is something a VM process may hold;
 * (own) prefixes its own files (its directory, or "pipe:[" for `lightvm
 * run`'s stdio and the pipe to the command). */
static int fd_allowed(const char *t, const char *own)
{
    static const char *const prefixes[] = {
        "anon_inode:kvm-", "anon_inode:[eventfd]", "anon_inode:[eventpoll]",
        "anon_inode:[signalfd]", "socket:[", "/dev/kvm", "/dev/net/tun", "/dev/null",
        "/memfd:lightvm-guest",
    };
    char vmm[PATH_MAX];

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(t, prefixes[i], strlen(prefixes[i])))
            return 1;
    snprintf(vmm, sizeof(vmm), "%s/vmm.log", rundir);
    return !strcmp(t, vmm) || !strncmp(t, own, strlen(own));
}

/* Namespaces, root, fds and every thread of process (pid), whose own
 * files (fd_allowed) start with (vmdir). */
static void check_jailed(long pid, const char *vmdir, const char *what)
{
    char dir[64], path[PATH_MAX], t[PATH_MAX], mine[PATH_MAX], v[128];
    static const char *const ns[] = {"pid", "mnt", "ipc"};
    int n, threads = 0, entries = 0;
    DIR *d;
    struct dirent *de;

    snprintf(dir, sizeof(dir), "/proc/%ld", pid);
    check_task(dir, what);
    /* NSpid: its pid here, then 1 in its own namespace */
    CHECK(status_field(dir, "NSpid:", v, sizeof(v)) && strstr(v, "\t1") &&
              strtol(v, NULL, 10) == pid,
          "%s: NSpid '%s' (want %ld, then 1)", what, v, pid);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/ns/%s", dir, ns[i]);
        snprintf(t, sizeof(t), "/proc/self/ns/%s", ns[i]);
        ssize_t a = readlink(path, v, sizeof(v) - 1), b = readlink(t, mine, sizeof(mine) - 1);
        CHECK(a > 0 && b > 0 && (v[a] = mine[b] = '\0', strcmp(v, mine)),
              "%s: %s namespace %s is the test's (%s)", what, ns[i], a > 0 ? v : "?", mine);
    }
    snprintf(path, sizeof(path), "%s/root", dir);
    d = opendir(path);
    CHECK(d != NULL, "%s: cannot open its root: %s", what, strerror(errno));
    while (d && (de = readdir(d)))
        entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    CHECK(entries == 0, "%s: its root holds %d entries (want none)", what, entries);
    snprintf(path, sizeof(path), "%s/fd", dir);
    d = opendir(path);
    CHECK(d != NULL, "%s: %s: %s", what, path, strerror(errno));
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/fd/%s", dir, de->d_name);
        n = (int)readlink(path, t, sizeof(t) - 1);
        t[n > 0 ? n : 0] = '\0';
        CHECK(n > 0 && fd_allowed(t, vmdir), "%s: fd %s is %s, not one of its own", what,
              de->d_name, t);
    }
    if (d)
        closedir(d);
    snprintf(path, sizeof(path), "%s/task", dir);
    d = opendir(path);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/task/%s", dir, de->d_name);
        snprintf(t, sizeof(t), "%s thread %s", what, de->d_name);
        check_task(path, t);
        threads++;
    }
    if (d)
        closedir(d);
    CHECK(threads >= 3, "%s: %d threads (want the main, vCPU and I/O threads)", what, threads);
}

#define vm_pid(name) lvt_vm_pid(&cli, lightvm, rundir, name)

static void case_vm(void)
{
    char vmdir[PATH_MAX];

    CHECK(lv("create", config("s0", BR, "10.83.0.2"), "--wait-net", HOST_IP, NULL) == 0,
          "create s0: %s", cli.err);
    CHECK(lvt_daytime_answers(&tool, nc_bin, "10.83.0.2", "5"), "s0 does not answer daytime");
    long pid = vm_pid("s0");
    CHECK(pid > 0, "no pid for s0: %s", cli.out);
    snprintf(vmdir, sizeof(vmdir), "%s/vms/s0", rundir);
    if (pid > 0)
        check_jailed(pid, vmdir, "VM s0");
    CHECK(lvt_daytime_answers(&tool, nc_bin, "10.83.0.2", "5"), "s0 stopped answering");
}

static void case_shell(void)
{
    char path[PATH_MAX + 16], vmdir[PATH_MAX + 300];
    DIR *d;
    struct dirent *de;
    int seen = 0;

    snprintf(path, sizeof(path), "%s/shells", rundir);
    d = opendir(path);
    while (d && (de = readdir(d)) && !seen) {
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        snprintf(vmdir, sizeof(vmdir), "%s/%s", path, de->d_name);
        check_jailed(pid, vmdir, "a pool shell");
        seen = 1;
    }
    if (d)
        closedir(d);
    CHECK(seen, "no pool shell to look at in %s", path);
}

/* 1 if process (pid) has ended (gone, or a zombie nobody reaped yet). */
static int proc_gone(long pid)
{
    char path[64], buf[256];
    FILE *f;
    size_t n = 0;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return 1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static void case_run(void)
{
    struct lvt_bg run;
    char image[PATH_MAX + 16];
    const char *argv[] = {lightvm, "run", image, "--net", BR ",ip=10.83.0.9/16,gw=" HOST_IP,
                          "--wait-net", HOST_IP, NULL};
    long vm;

    snprintf(image, sizeof(image), "%s/daytime.elf", gdir);
    for (int round = 0; round < 2; round++) {
        if (lvt_bg_start(&run, argv) < 0)
            return;
        CHECK(lvt_bg_wait(&run, "network up in", 30000), "run: no network up: %s", run.err);
        vm = lvt_child_pid(run.pid);
        CHECK(vm > 0, "lightvm run (pid %d) has no VM process", (int)run.pid);
        if (round == 0) {
            if (vm > 0)
                check_jailed(vm, "pipe:[", "lightvm run's VM process");
            CHECK(lvt_daytime_answers(&tool, nc_bin, "10.83.0.9", "5"),
                  "lightvm run's VM does not answer daytime");
            /* to the command alone: it passes the signal on */
            kill(run.pid, SIGTERM);
            int st = lvt_bg_stop(&run, 0, 20000);
            CHECK(st == 143, "run after SIGTERM: status %d (want 143): %s", st, run.err);
            CHECK(vm <= 0 || proc_gone(vm), "the VM process %ld outlived the command", vm);
            continue;
        }
        /* The command killed: nothing would clean up after its VM process,
         * which must end too. */
        kill(run.pid, SIGKILL);
        int gone = 0;
        for (int i = 0; i < 400 && vm > 0 && !gone; i++) {
            gone = proc_gone(vm);
            if (!gone)
                usleep(50 * 1000);
        }
        CHECK(vm <= 0 || gone, "the VM process %ld outlived its SIGKILLed command", vm);
        lvt_bg_stop(&run, SIGKILL, 5000);
    }
}

static void case_bridges(void)
{
    char before[32] = "", after[32] = "";

    int st = lv("create", config("x0", OTHER, "10.84.0.2"), NULL);
    const char *nl = strchr(cli.err, '\n');
    CHECK(st == 1 && strstr(cli.err, OTHER) && strstr(cli.err, "--bridges") && nl && !nl[1],
          "create on " OTHER ": status %d (want 1 and one line naming it): %s", st, cli.err);
    CHECK(lv("info", "x0", NULL) == 1, "a VM x0 is left: %s", cli.out);
    /* lightvmd changes nothing on a bridge it did not make */
    lvt_sys_read(BR, "address", before, sizeof(before));
    CHECK(lv("create", config("s1", BR, "10.83.0.3"), NULL) == 0, "create s1: %s", cli.err);
    lvt_sys_read(BR, "address", after, sizeof(after));
    CHECK(before[0] && !strcmp(before, after), BR "'s address went from %s to %s", before, after);
    CHECK(lv("destroy", "s1", NULL) == 0, "destroy s1: %s", cli.err);
}

int main(int argc, char **argv)
{
    static char gabs[PATH_MAX];

    if (argc != 4) {
        fprintf(stderr, "usage: test_sandbox LIGHTVM LIGHTVMD GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    lightvmd = argv[2];
    lvt_e2e_require("test_sandbox", "namespaces, taps, other uids");
    if (lvt_e2e_setup(argv[3], gabs, rundir, cfgdir, &ip_bin, &nc_bin) < 0)
        return 1;
    gdir = gabs;
    if (lvt_e2e_bridge(&tool, ip_bin, BR, HOST_IP "/16") < 0 ||
        lvt_e2e_bridge(&tool, ip_bin, OTHER, "10.84.0.1/16") < 0) /* (lo up again) */
        return 1;
    const char *dargv[] = {lightvmd, "--rundir", rundir, "--pool", "8,1,2," BR,
                           "--bridges", "lvsb*", NULL};
    CHECK(lvt_bg_start(&daemon_bg, dargv) == 0, "cannot start %s", lightvmd);
    if (daemon_bg.pid && lvt_daemon_wait(&daemon_bg, 20000, &cli, lightvm, rundir)) {
        lvt_pool_wait(&cli, lightvm, rundir, 2);
        case_vm();
        case_shell();
        case_run();
        case_bridges();
        CHECK(lv("destroy", "s0", NULL) == 0, "destroy s0: %s", cli.err);
        lvt_daemon_term(&daemon_bg);
        lvt_check_netns_empty();
    }
    lvt_e2e_stop(&daemon_bg, rundir);
    lvt_rm_rf(&tool, rundir);
    lvt_rm_rf(&tool, cfgdir);
    return lvt_done("test_sandbox");
}
