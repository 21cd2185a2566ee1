/*
 * faults_console.c: test_faults' row for a guest that floods its console
 * (test_faults.h): its log, the run directory's files and its tmpfs stay
 * within lightvmd's --console-cap while it keeps running.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "test_faults.h"

/* The bytes of the regular files under directory (fd) (closed here). */
static long long tree_bytes(int fd)
{
    DIR *d = fdopendir(fd);
    long long n = 0;

    if (!d) {
        close(fd);
        return 0;
    }
    for (struct dirent *de; (de = readdir(d));) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode))
            n += st.st_size;
        else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0)
                n += tree_bytes(sub);
        }
    }
    closedir(d);
    return n;
}

static long long rundir_bytes(void)
{
    int fd = open(rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -1 : tree_bytes(fd);
}

/* What the run directory's tmpfs (the test's own) holds, in bytes. */
static long long tmpfs_used(void)
{
    struct statvfs v;

    return statvfs(rundir, &v) == 0 ? (long long)(v.f_blocks - v.f_bfree) * (long long)v.f_frsize
                                    : -1;
}

/* The VM "flood" (selftest flood, no NIC) writes its console as fast as
 * it can: it keeps running, s0 and s1 answer, its log stays within the
 * cap, the run directory's files and its tmpfs grow by at most the cap
 * (and a VM's other files), its dropped counter rises, its console shows
 * escaped; destroy removes its log. */
void f_console_flood(struct row *r)
{
    const long long bound = CON_CAP + CON_SLACK;
    unsigned long long min = 4ull * CON_CAP;
    long long used0 = tmpfs_used(), rb0 = rundir_bytes(), most = 0, most_used = 0;
    long most_log = 0;
    struct lvt_con c;

    if (LV("create", config("flood", "selftest.elf", 8, NULL, NULL, "flood")) != 0) {
        CHECK(0, "create flood: %s", cli.err);
        saw(r, "create failed: %.100s", cli.err);
        return;
    }
    CHECK(lvt_con_wait(&cli, lightvm, rundir, "flood", &c, lvt_con_bytes_over, &min),
          "the flood guest wrote only %llu bytes", c.bytes);
    for (int round = 0; round < 5; round++) {
        unsigned long long d = c.dropped;
        CHECK(lvt_con_wait(&cli, lightvm, rundir, "flood", &c, lvt_con_dropped_over, &d),
              "round %d: dropped stays at %llu", round, d);
        CHECK(!strcmp(c.state, "running"), "round %d: flood is %s", round, c.state);
        long lb = lvt_con_log_bytes(rundir, "flood");
        long long rb = rundir_bytes() - rb0, used = tmpfs_used() - used0;
        most_log = lb > most_log ? lb : most_log;
        most = rb > most ? rb : most;
        most_used = used > most_used ? used : most_used;
        CHECK(lb <= CON_CAP, "round %d: flood's log holds %ld bytes (cap %d)", round, lb,
              CON_CAP);
        CHECK(rb <= bound, "round %d: the run directory's files grew by %lld bytes (at most "
              "%lld)", round, rb, bound);
        CHECK(used <= bound, "round %d: the tmpfs use grew by %lld bytes (at most %lld)", round,
              used, bound);
        const char *silent = steady_silent();
        CHECK(!silent, "round %d: %s does not answer daytime", round, silent);
    }
    CHECK(c.errors == 0 && c.cap == CON_CAP, "flood's console: cap=%llu errors=%llu (%s)", c.cap,
          c.errors, c.last_error);
    /* its console: escaped, the newest lines */
    CHECK(LV("console", "flood") == 0 && strstr(cli.out, "flood 0") &&
          strstr(cli.out, " \\x1b[1m!\\x1b[0m\\x0d...") && !strchr(cli.out, '\x1b') &&
          !strchr(cli.out, '\r'), "console of flood: status %d, not escaped: %.300s", cli.status,
          cli.out);
    printf("    flood: %llu bytes written, %llu dropped; its log at most %ld bytes, the run "
           "directory's files +%lld, the tmpfs +%lld (cap %d)\n", c.bytes, c.dropped, most_log,
           most, most_used, CON_CAP);
    saw(r, "flood kept running: %llu MiB written, %llu MiB dropped, its log <= %ld KiB (cap "
        "%d KiB), the run directory +%lld KiB; console shown escaped", c.bytes >> 20,
        c.dropped >> 20, most_log >> 10, CON_CAP >> 10, most_used >> 10);
    CHECK(LV("destroy", "flood") == 0, "destroy flood: %s", cli.err);
    CHECK(lvt_con_log_bytes(rundir, "flood") == 0, "flood's log is still there after destroy");
}
