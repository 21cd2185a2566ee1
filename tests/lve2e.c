/* lve2e.c: what the end-to-end tests (tests/e2e) share: the test's own
 * network namespace and directories, lightvmd in the background, the
 * `lightvm` CLI against it, and the checks that nothing was left behind.
 * Declared in lvtest.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/ctl.h"
#include "lvtest.h"

void lvt_e2e_require(const char *test, const char *needs)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    lvt_require_kvm();
    lvt_require_root(test, needs);
}

const char *lvt_e2e_release_arg(int argc, char **argv, int at)
{
    if (argc <= at)
        return NULL;
    CHECK(access("/usr/bin/valgrind", X_OK) == 0, "valgrind is not installed "
          "(scripts/deps.sh installs it)");
    return argv[at];
}

int lvt_e2e_setup(const char *guest_arg, char *gdir, char *rundir, char *cfgdir,
                  const char **ip_bin, const char **nc_bin)
{
    static const char *const ips[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", NULL};
    static const char *const ncs[] = {"/usr/bin/nc", "/bin/nc", NULL};
    char why[256];

    if (!realpath(guest_arg, gdir)) {
        fprintf(stderr, "FAIL: %s: %s\n", guest_arg, strerror(errno));
        return -1;
    }
    *ip_bin = lvt_find_exe(ips);
    *nc_bin = lvt_find_exe(ncs);
    if (!*ip_bin || !*nc_bin || !mkdtemp(rundir)) {
        fprintf(stderr, "FAIL: missing ip or nc (scripts/deps.sh), or mkdtemp: %s\n",
                strerror(errno));
        return -1;
    }
    snprintf(cfgdir, PATH_MAX, "%s-cfg", rundir);
    if (mkdir(cfgdir, 0700) < 0) {
        fprintf(stderr, "FAIL: mkdir %s: %s\n", cfgdir, strerror(errno));
        rmdir(rundir);
        return -1;
    }
    if (lvt_private_netns(why, sizeof(why)) < 0) {
        fprintf(stderr, "FAIL: private network namespace: %s\n", why);
        rmdir(cfgdir);
        rmdir(rundir);
        return -1;
    }
    return 0;
}

int lvt_bridge_add(struct lvt_bg *tool, const char *ip_bin, const char *br, const char *cidr)
{
    /* A fixed MAC, as an operator gives the bridges VMs join (lightvmd
     * changes no bridge it did not make; without one, the bridge's MAC
     * follows its lowest port's as taps come and go). */
    unsigned h = 0;
    for (const char *c = br; *c; c++)
        h = h * 31 + (unsigned char)*c;
    int st = lvt_ip(tool, ip_bin, "link add %s address 02:1b:%02x:%02x:%02x:01 type bridge", br,
                    (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
    if (!st)
        st = lvt_ip(tool, ip_bin, "addr add %s dev %s", cidr, br);
    if (!st)
        st = lvt_ip(tool, ip_bin, "link set %s up", br);
    return st;
}

int lvt_e2e_bridge(struct lvt_bg *tool, const char *ip_bin, const char *br, const char *cidr)
{
    if (lvt_ip(tool, ip_bin, "link set lo up") || lvt_bridge_add(tool, ip_bin, br, cidr)) {
        fprintf(stderr, "FAIL: bridge setup: %s\n", tool->err);
        return -1;
    }
    return 0;
}

long lvt_vm_pid(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *name)
{
    const char *k;

    if (lvt_lv(p, lightvm, rundir, "info", name, NULL) != 0 || !(k = strstr(p->out, "pid: ")))
        return -1;
    return strtol(k + 5, NULL, 10);
}

long lvt_child_pid(long pid)
{
    char path[96];
    long child = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
    if ((f = fopen(path, "r"))) {
        if (fscanf(f, "%ld", &child) != 1)
            child = -1;
        fclose(f);
    }
    return child;
}

int lvt_lv(struct lvt_proc *p, const char *lightvm, const char *rundir, const char *a0, ...)
{
    const char *argv[24];
    int n = 0;
    va_list ap;

    argv[n++] = lightvm;
    argv[n++] = a0;
    va_start(ap, a0);
    for (const char *a; n < 20 && (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--rundir";
    argv[n++] = rundir;
    argv[n] = NULL;
    if (lvt_run(p, 60, argv) < 0)
        return -1;
    return p->status;
}

int lvt_daemon_wait(struct lvt_bg *d, int timeout_ms, struct lvt_proc *p, const char *lightvm,
                    const char *rundir)
{
    char sock[128];

    snprintf(sock, sizeof(sock), "%s/" LV_DAEMON_SOCK, rundir);
    for (int t = 0; t < timeout_ms; t += 50) {
        lvt_bg_pump(50);
        if (!d->pid)
            break;
        if (access(sock, F_OK) == 0 && lvt_lv(p, lightvm, rundir, "list", (char *)NULL) == 0)
            return 1;
    }
    CHECK(0, "lightvmd did not come up: status %d\n%s", d->status, d->err);
    return 0;
}

int lvt_daemon_term(struct lvt_bg *d)
{
    if (d->pid > 0) /* (0 once reaped: kill(0) would signal the test itself) */
        kill(d->pid, SIGTERM);
    int st = lvt_bg_stop(d, 0, 20000);
    CHECK(st == 0 && !d->timed_out, "lightvmd after SIGTERM: status %d\n%s", st, d->err);
    return st;
}

void lvt_pool_wait(struct lvt_proc *p, const char *lightvm, const char *rundir, int want)
{
    char needle[32];

    snprintf(needle, sizeof(needle), "ready=%d ", want);
    for (int t = 0; t < 60000; t += 100) {
        if (lvt_lv(p, lightvm, rundir, "pool", (char *)NULL) == 0 && strstr(p->out, needle))
            return;
        lvt_sleep_ms(100);
    }
    CHECK(0, "the pool never reached %d ready shells: %s", want, p->out);
}

int lvt_daytime_answers(struct lvt_bg *tool, const char *nc_bin, const char *ip,
                        const char *secs)
{
    const char *argv[] = {nc_bin, "-w", secs, ip, "13", NULL};
    int st = lvt_bg_run(tool, 20000, argv);
    return st == 0 && strlen(tool->out) >= 24 && strstr(tool->out, "\r\n");
}

void lvt_check_netns_empty(void)
{
    char list[1024];
    int n = 0;

    for (int t = 0; t < 10000; t += 100) {
        n = lvt_netns_others(NULL, 0, list, sizeof(list));
        if (n == 0 && lvt_count_taps() == 0)
            break;
        lvt_sleep_ms(100);
    }
    CHECK(n == 0, "processes left in the test's namespace:%s", list);
    CHECK(lvt_count_taps() == 0, "%d taps left", lvt_count_taps());
}

void lvt_check_dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    while (d && (de = readdir(d)))
        CHECK(!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."), "left in %s: %s", path,
              de->d_name);
    if (d)
        closedir(d);
}

void lvt_check_rundir_clean(const char *rundir)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/lightvmd.sock", rundir);
    CHECK(access(p, F_OK) < 0, "%s left behind", p);
    snprintf(p, sizeof(p), "%s/vms", rundir);
    lvt_check_dir_empty(p);
    snprintf(p, sizeof(p), "%s/shells", rundir);
    CHECK(access(p, F_OK) < 0, "%s left behind (shell sockets)", p);
}

void lvt_show_vmm_log(const char *rundir, int lines)
{
    char p[PATH_MAX], line[512];
    FILE *f;

    snprintf(p, sizeof(p), "%s/vmm.log", rundir);
    f = fopen(p, "r");
    for (int i = 0; f && i < lines && fgets(line, sizeof(line), f); i++)
        fprintf(stderr, "vmm.log: %s", line);
    if (f)
        fclose(f);
}

void lvt_kill_netns_others(void)
{
    lvt_ns_kill(NULL);
}

void lvt_e2e_stop(struct lvt_bg *d, const char *rundir)
{
    if (lvt_failures)
        lvt_show_vmm_log(rundir, 40);
    if (d->pid)
        lvt_bg_stop(d, SIGKILL, 5000);
    lvt_kill_netns_others();
}

void lvt_rm_rf(struct lvt_bg *tool, const char *path)
{
    const char *argv[] = {"/bin/rm", "-rf", path, NULL};
    lvt_bg_run(tool, 30000, argv);
}
