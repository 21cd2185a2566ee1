/*
 * faults_image.c: test_faults' rows about image files: a kernel path that
 * is a FIFO (refused by lightvmd and again by the VM process, behind
 * lightvmd's check), and an image truncated while it loads. Built into
 * test_faults (tests/tests.mk); the table and the checks after each row
 * are test_faults.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfgen.h"
#include "lightvm/ctl.h"
#include "test_faults.h"

static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

/* No VM (name) is listed and no directory of it is left. */
static int vm_gone(const char *name)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/vms/%s", rundir, name);
    return LV("info", name) == 1 && access(p, F_OK) < 0;
}

/* The VM process's own check, behind lightvmd's (an fd of something else
 * than a regular file passed with the exec): a shell started by hand on a
 * socketpair (as lightvmd does, fd 3) and sent an exec whose kernel is
 * (kernel), with an fd of it. 1 if it replied with an error naming
 * (kernel) and (needle), then exited and left an empty directory; its
 * reply in (out). */
static int shell_exec_refuses(const char *kernel, const char *needle, char *out, size_t cap)
{
    const char *argv[] = {lightvmd, "--vm-shell", "--memory", "8", "--nics", "0", "--rundir",
                          rundir, NULL};
    struct lv_ctl_conn c;
    struct lv_err err = {""};
    json_t *m = NULL;
    int sp[2], ok = 0, st = -1;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || (pid = fork()) < 0) {
        snprintf(out, cap, "socketpair/fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(sp[1], 3) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
            dup2(null, 2) < 0)
            _exit(126);
        execv(lightvmd, (char *const *)argv);
        _exit(127);
    }
    close(sp[1]);
    lv_ctl_conn_init(&c, sp[0]);
    snprintf(out, cap, "the shell never got ready");
    if (lv_ctl_recv(&c, 60000, &m, &err) == 0 && json_is_true(json_object_get(m, "ready"))) {
        json_t *ex = json_pack("{s:s,s:{s:s,s:s,s:i},s:i,s:s}", "op", "exec", "spec", "name",
                               "shellfifo", "kernel", kernel, "memory", 8, "id", 1, "from",
                               "image");
        json_decref(m);
        m = NULL;
        snprintf(out, cap, "no reply to exec: %s", err.msg);
        /* lightvmd opens the image and passes its fd with the exec (the
         * jailed VM process has no filesystem): here, the FIFO's */
        int kfd = open(kernel, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (kfd >= 0 && lv_ctl_send_fd(&c, ex, kfd, 5000, &err) == 0 &&
            lv_ctl_recv(&c, 30000, &m, &err) == 0) {
            const char *e = json_string_value(json_object_get(m, "error"));
            snprintf(out, cap, "%s", e ? e : "(accepted)");
            ok = !json_is_true(json_object_get(m, "ok")) && e && strstr(e, kernel) &&
                 strstr(e, needle);
        }
        json_decref(ex);
        if (kfd >= 0)
            close(kfd);
    }
    json_decref(m);
    lv_ctl_conn_close(&c);
    for (int t = 0; t < 400 && waitpid(pid, &st, WNOHANG) == 0; t++) /* it ends by itself */
        lvt_sleep_ms(50);
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    CHECK(st != -1 && WIFEXITED(st), "the shell did not exit after a refused exec (%d)", st);
    char p[PATH_MAX];
    /* It empties its directory; lightvmd, whose part this test plays,
     * removes it (the jailed shell cannot) */
    snprintf(p, sizeof(p), "%s/shells/%d", rundir, (int)pid);
    CHECK(access(p, F_OK) < 0 || rmdir(p) == 0, "the refused shell left files in %s", p);
    snprintf(p, sizeof(p), "%s/vms/shellfifo", rundir);
    CHECK(access(p, F_OK) < 0, "the refused shell left %s", p);
    return ok && st != -1;
}

/* `lightvm run FIFO`, `lightvm run --config` and `lightvm create` with a
 * FIFO as the kernel: each refused at once with one line (a plain open
 * would wait for a writer forever), the pool untouched; and a VM process
 * sent one directly. */
void f_fifo_kernel(struct row *r)
{
    char fifo[PATH_MAX + 16], cfg[PATH_MAX + 64], shsaw[512], what[1024];

    snprintf(fifo, sizeof(fifo), "%s/kernel.fifo", cfgdir);
    if (mkfifo(fifo, 0600) < 0) {
        CHECK(0, "mkfifo %s: %s", fifo, strerror(errno));
        return;
    }
    snprintf(cfg, sizeof(cfg), "%s", config("fifo0", fifo, 8, NULL, NULL, NULL));
    const char *runs[][6] = {{lightvm, "run", fifo, NULL},
                             {lightvm, "run", "--config", cfg, NULL}};
    for (int i = 0; i < 2; i++)
        CHECK(lvt_run(&cli, 30, runs[i]) == 0 && !cli.timed_out && cli.status == 1 &&
              strstr(cli.err, fifo) && strstr(cli.err, "FIFO") && one_line(cli.err),
              "lightvm run %s: status %d%s: %s", runs[i][2], cli.status,
              cli.timed_out ? " (timed out)" : "", cli.err);
    CHECK(wait_steady(what, sizeof(what)), "before the FIFO create: %s", what);
    int st = LV("create", cfg);
    saw(r, "run, run --config, create: one line each, status %d: %.*s", st,
        (int)strcspn(cli.err, "\n"), cli.err);
    CHECK(st == 1 && !cli.timed_out && strstr(cli.err, fifo) && strstr(cli.err, "FIFO") &&
          one_line(cli.err), "create with a FIFO kernel: status %d%s: %s", st,
          cli.timed_out ? " (timed out)" : "", cli.err);
    CHECK(vm_gone("fifo0"), "a VM fifo0 is left: %s", cli.out);
    CHECK(LV("pool") == 0 && strstr(cli.out, "ready=" "4" " "),
          "the FIFO create took a shell from the pool: %s", cli.out);
    CHECK(shell_exec_refuses(fifo, "FIFO", shsaw, sizeof(shsaw)),
          "a VM process sent a FIFO kernel: %s", shsaw);
    unlink(fifo);
}

/* Writes a valid image whose one segment has (mib) MiB of file bytes
 * (a sparse file: cheap to make, a real read to load; 6 MiB still fits
 * an 8 MiB VM with a NIC, the pool's flavor); the guest exits with
 * ELFGEN_EXIT_STATUS. */
static int write_big_image(const char *path, unsigned mib)
{
    struct elfgen g;
    int fd, ok;

    elfgen_valid(&g);
    elfgen_phdr(&g, 0)->p_filesz = elfgen_phdr(&g, 0)->p_memsz = (uint64_t)mib << 20;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    ok = write(fd, g.buf, g.size) == (ssize_t)g.size &&
         ftruncate(fd, ELFGEN_CODE_OFF + ((off_t)mib << 20)) == 0;
    close(fd);
    return ok;
}

/* 1 if process (pid) has (path) open. */
static int has_open(long pid, const char *path)
{
    char dir[64], link[384], target[PATH_MAX];
    DIR *d;
    struct dirent *de;
    int found = 0;

    snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
    if (!(d = opendir(dir)))
        return 0;
    while (!found && (de = readdir(d))) {
        ssize_t k;
        snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
        k = readlink(link, target, sizeof(target) - 1);
        if (k > 0) {
            target[k] = '\0';
            found = !strcmp(target, path);
        }
    }
    closedir(d);
    return found;
}

/* 1 if (pid), or with (children) one of its children, has (path) open. */
static int someone_has_open(long pid, int children, const char *path)
{
    char p[64], buf[4096];
    FILE *f;
    size_t n;

    /* (lightvmd itself opens the image for a create and passes the fd
     * to the VM process, which has no filesystem) */
    if (has_open(pid, path) || !children)
        return has_open(pid, path);
    snprintf(p, sizeof(p), "/proc/%ld/task/%ld/children", pid, pid);
    if (!(f = fopen(p, "re")))
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *q = buf, *end; *q; q = end) {
        long c = strtol(q, &end, 10);
        if (end == q)
            break;
        if (has_open(c, path))
            return 1;
    }
    return 0;
}

/* Starts (argv) and truncates (image) to 4 KiB as soon as (watch_pid, or
 * one of its children) has it open. Returns the program's status; *hit says
 * whether the truncation came while the file was open. */
static int run_truncating(const char *const argv[], const char *image, long watch_pid,
                          struct lvt_bg *b, int *hit)
{
    *hit = 0;
    if (lvt_bg_start(b, argv) < 0)
        return -1;
    long pid = watch_pid ? watch_pid : (long)b->pid;
    for (int i = 0; i < 200000 && b->pid && !*hit; i++) { /* bounded: ends with the program */
        if (someone_has_open(pid, watch_pid != 0, image)) {
            *hit = truncate(image, 4096) == 0;
            break;
        }
        if (i % 64 == 63)
            lvt_bg_pump(0);
    }
    return lvt_bg_stop(b, 0, 60000);
}

/* An image cut short while `lightvm run` and a VM process (create, from
 * the pool) load it: an error naming it, never a signal; retried
 * (bounded) until the cut came while the image was open. */
void f_truncated_image(struct row *r)
{
    static const char *const how[] = {"run", "create"};
    char image[PATH_MAX + 16], line[2][256] = {"(never cut in time)", "(never cut in time)"};
    struct lvt_bg b;
    int hits[2] = {0, 0};

    snprintf(image, sizeof(image), "%s/big.elf", cfgdir);
    for (int mode = 0; mode < 2; mode++) { /* 0: lightvm run, 1: lightvm create */
        for (int attempt = 0; attempt < 6 && !hits[mode]; attempt++) {
            char name[32], ip[24], cfg[PATH_MAX + 64];
            int hit;
            if (!write_big_image(image, 6)) {
                CHECK(0, "cannot write %s: %s", image, strerror(errno));
                return;
            }
            snprintf(name, sizeof(name), "trunc%d", attempt);
            snprintf(ip, sizeof(ip), "10.81.2.%d", 10 + attempt);
            snprintf(cfg, sizeof(cfg), "%s", config(name, image, 8, BR, ip, NULL));
            const char *run[] = {lightvm, "run", "--memory", "8M", image, NULL};
            const char *create[] = {lightvm, "create", cfg, "--rundir", rundir, NULL};
            int st = run_truncating(mode ? create : run, image, mode ? daemon_bg.pid : 0, &b,
                                    &hit);
            int refused = st == 1 && strstr(b.err, image) &&
                          strstr(b.err, "changed while being loaded") && one_line(b.err);
            /* (missed: the load was done before the cut; the guest ran) */
            int ran = mode ? st == 0 : st == ELFGEN_EXIT_STATUS;
            /* (too early: cut between the open and the loader's fstat, so
             * the headers name a segment past the 4 KiB it saw: a clean
             * refusal too, but not a load cut short: tried again) */
            int early = hit && st == 1 && strstr(b.err, image) &&
                        strstr(b.err, "runs past the end of the file") && one_line(b.err);
            CHECK(refused || early || (!hit && ran), "%s, image cut%s while loading: status %d: "
                  "%s", how[mode], hit ? "" : " (maybe not)", st, b.err);
            /* A create's image is opened by lightvmd and passed to the VM
             * process, which checks then loads it: a cut anywhere in that
             * span is the fault (on a slow host it lands before the check
             * more often than not) */
            if (refused || (mode && early)) {
                hits[mode] = 1;
                snprintf(line[mode], sizeof(line[mode]), "status 1: %.*s",
                         (int)strcspn(b.err, "\n"), b.err);
            }
            if (mode && ran)
                LV("destroy", name);
            CHECK(!mode || vm_gone(name), "%s is left after its create failed", name);
        }
        CHECK(hits[mode], "%s: the image was never cut while it was open (6 tries)", how[mode]);
    }
    unlink(image);
    saw(r, "run: %s; create: %s", line[0], line[1]);
}
