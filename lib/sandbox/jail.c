/*
 * jail.c: a VM process gives up what it no longer needs before guest code
 * runs (jail.h): the host's filesystem, IPC, its root uid and every
 * capability. Each step is one system call or a few; none depends on
 * another process.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lightvm/jail.h"

pid_t lv_jail_host_pid(struct lv_err *err)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
    char *end;
    long pid;

    if (n <= 0)
        return lv_err_set(err, n < 0 ? errno : EIO, "/proc/self: %s",
                          n < 0 ? strerror(errno) : "empty link");
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    if (*end || pid <= 0 || pid >= (long)LV_JAIL_ID_SPAN)
        return lv_err_set(err, ERANGE, "/proc/self: '%s' is not a pid below %u", buf,
                          LV_JAIL_ID_SPAN);
    return (pid_t)pid;
}

int lv_jail_ids(pid_t pid, uid_t *uid, gid_t *gid, struct lv_err *err)
{
    if (pid <= 0 || (unsigned long)pid >= LV_JAIL_ID_SPAN)
        return lv_err_set(err, ERANGE, "pid %ld: outside the jail's id range", (long)pid);
    *uid = (uid_t)(LV_JAIL_ID_BASE + (unsigned)pid);
    *gid = (gid_t)(LV_JAIL_ID_BASE + (unsigned)pid);
    return 0;
}

/* New mount and IPC namespaces; the root becomes an empty read-only
 * tmpfs, the old root is detached (everything under it, for this process
 * only). */
static int empty_root(const char *at, struct lv_err *err)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0)
        return lv_err_set(err, errno, "unshare(mount, IPC namespaces): %s", strerror(errno));
    /* (source and type are ignored here; named for valgrind, which checks them) */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
        return lv_err_set(err, errno, "making the mounts private: %s", strerror(errno));
    if (mount("lightvm-jail", at, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,nr_inodes=4,mode=0555") < 0)
        return lv_err_set(err, errno, "mounting the empty root on %s: %s", at, strerror(errno));
    if (chdir(at) < 0)
        return lv_err_set(err, errno, "%s: %s", at, strerror(errno));
    /* pivot_root(".", "."): the old root ends up stacked on the new one,
     * then is detached from it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return lv_err_set(err, errno, "pivot_root: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) < 0)
        return lv_err_set(err, errno, "detaching the host's root: %s", strerror(errno));
    if (chdir("/") < 0)
        return lv_err_set(err, errno, "chdir /: %s", strerror(errno));
    return 0;
}

static int drop_bounding_set(struct lv_err *err)
{
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) /* past the kernel's last capability */
                return 0;
            return lv_err_set(err, errno, "dropping capability %d: %s", cap, strerror(errno));
        }
    return 0;
}

static int set_limits(const struct lv_jail *j, struct lv_err *err)
{
    struct rlimit zero = {0, 0};

    if (setrlimit(RLIMIT_CORE, &zero) < 0)
        return lv_err_set(err, errno, "RLIMIT_CORE: %s", strerror(errno));
    if (j->fsize) {
        struct rlimit f = {j->fsize, j->fsize};
        if (setrlimit(RLIMIT_FSIZE, &f) < 0)
            return lv_err_set(err, errno, "RLIMIT_FSIZE: %s", strerror(errno));
    }
    if (j->nproc) {
        struct rlimit n = {j->nproc, j->nproc};
        if (setrlimit(RLIMIT_NPROC, &n) < 0)
            return lv_err_set(err, errno, "RLIMIT_NPROC: %s", strerror(errno));
    }
    return 0;
}

/* The uid change clears the effective and permitted sets (no
 * SECBIT_KEEP_CAPS); the inheritable set is cleared here. */
static int drop_ids(const struct lv_jail *j, struct lv_err *err)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return lv_err_set(err, errno, "clearing ambient capabilities: %s", strerror(errno));
    if (setgroups(0, NULL) < 0)
        return lv_err_set(err, errno, "setgroups: %s", strerror(errno));
    if (setresgid(j->gid, j->gid, j->gid) < 0)
        return lv_err_set(err, errno, "setresgid %u: %s", (unsigned)j->gid, strerror(errno));
    if (setresuid(j->uid, j->uid, j->uid) < 0)
        return lv_err_set(err, errno, "setresuid %u: %s", (unsigned)j->uid, strerror(errno));
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0)
        return lv_err_set(err, errno, "capset: %s", strerror(errno));
    return 0;
}

int lv_jail_enter(const struct lv_jail *j, struct lv_err *err)
{
    int rc;

    if (!j->uid || !j->gid || !j->mount_at)
        return lv_err_set(err, EINVAL, "jail: needs a non-root uid and gid and a mount point");
    if ((rc = empty_root(j->mount_at, err)) < 0 || (rc = drop_bounding_set(err)) < 0 ||
        (rc = set_limits(j, err)) < 0 || (rc = drop_ids(j, err)) < 0)
        return rc;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return lv_err_set(err, errno, "no_new_privs: %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return lv_err_set(err, errno, "PR_SET_DUMPABLE: %s", strerror(errno));
    return 0;
}
