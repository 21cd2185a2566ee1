/*
 * rundir.c: what a daemon owns in $RUNDIR and what it finds there at
 * start: the lock that makes the directory one daemon's, and the
 * directories of shells that died with an earlier daemon.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool.h"

int lvd_rundir_check(const char *rundir, struct lv_err *err)
{
    struct stat st;

    if (lstat(rundir, &st) < 0)
        return lv_err_set(err, errno, "%s: %s", rundir, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return lv_err_set(err, ELOOP, "%s: is a symbolic link (give the real directory)",
                          rundir);
    if (!S_ISDIR(st.st_mode))
        return lv_err_set(err, ENOTDIR, "%s: not a directory", rundir);
    if (st.st_uid != geteuid())
        return lv_err_set(err, EPERM, "%s: owned by uid %u, not by this user (uid %u)", rundir,
                          (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return lv_err_set(err, EPERM, "%s: writable by others (mode %04o; want 0700)", rundir,
                          (unsigned)(st.st_mode & 07777));
    return 0;
}

/* The file a holder unlinks at its end may have been opened by a daemon
 * starting just then: a lock on a file that is no longer at the path is
 * retried. */
int lvd_rundir_lock(const char *rundir, int *lock_fd, struct lv_err *err)
{
    char path[PATH_MAX + 32];
    struct stat a, b;

    snprintf(path, sizeof(path), "%s/lightvmd.lock", rundir);
    for (int tries = 0; tries < 10; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                return lv_err_set(err, EBUSY, "another lightvmd is running on %s", rundir);
            return lv_err_set(err, e, "%s: flock: %s", path, strerror(e));
        }
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            *lock_fd = fd;
            return 0;
        }
        close(fd); /* its holder removed it as we took it: again */
    }
    return lv_err_set(err, EBUSY, "%s: cannot take the lock (it keeps changing)", path);
}

/* Removes the directories of shells that died with an earlier daemon.
 * Their sockets refuse connections, except while a killed shell is still
 * exiting (the kernel tears its KVM VM down first): then its pidfd says
 * when it is gone. A shell that was told to exec just before that daemon
 * died lives on and renames its directory to vms/NAME (or removes it if
 * it fails): that directory is left to it. Both take milliseconds; the
 * wait is bounded. */
void lvd_rundir_clean_shells(const char *rundir)
{
    char path[PATH_MAX + 32];
    DIR *sd;

    snprintf(path, sizeof(path), "%s/shells", rundir);
    sd = opendir(path);
    for (struct dirent *de; sd && (de = readdir(sd));) {
        char *end, sock[PATH_MAX + 64], dir[PATH_MAX + 64];
        long pid = strtol(de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end || pid <= 0)
            continue;
        if (lvd_shell_path(sock, sizeof(sock), rundir, (pid_t)pid, "ctl.sock") < 0 ||
            lvd_shell_path(dir, sizeof(dir), rundir, (pid_t)pid, NULL) < 0)
            continue;
        int fd = lv_ctl_connect(sock, NULL);
        if (fd == -ECONNREFUSED || fd == -ENOENT) {
            lvd_shell_dir_remove(rundir, (pid_t)pid);
            continue;
        }
        if (fd >= 0)
            close(fd);
        /* its process holds the socket: dying, or executing */
        int pidfd = lvd_pidfd_open((pid_t)pid);
        int dead = pidfd < 0;
        for (int t = 0; !dead && t < 50 && access(dir, F_OK) == 0; t++) {
            struct pollfd pf = {pidfd, POLLIN, 0};
            dead = poll(&pf, 1, 100) == 1;
        }
        if (pidfd >= 0)
            close(pidfd);
        if (dead)
            lvd_shell_dir_remove(rundir, (pid_t)pid);
    }
    if (sd)
        closedir(sd);
}

