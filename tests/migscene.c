/* migscene.c: two network namespaces joined at layer 2 for a live
 * migration between two lightvmd (migscene.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migscene.h"

#define BR MIGSCENE_BR

/* A's side, with B made; the veth pairs' other ends go into B. */
static const char *const cmds_a[] = {
    "link set lo up",
    "link add " BR " address 02:1b:00:00:0a:01 type bridge",
    "addr add " MIGSCENE_HOST_IP "/24 dev " BR,
    "link set " BR " up",
    "link add mA type veth peer name mB netns %s",
    "link add cA type veth peer name cB netns %s",
    "link set mA master " BR,
    "link set mA up",
    "addr add " MIGSCENE_CTL_A "/24 dev cA",
    "link set cA up",
    NULL};

/* B's side, run inside B. */
static const char *const cmds_b[] = {
    "link set lo up",
    "link add " BR " address 02:1b:00:00:0b:01 type bridge",
    "link set " BR " up",
    "link set mB master " BR,
    "link set mB up",
    "addr add " MIGSCENE_CTL_B "/24 dev cB",
    "link set cB up",
    NULL};

static int ns_link(int fd, char *out, size_t cap)
{
    char path[64];
    ssize_t k;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if ((k = readlink(path, out, cap - 1)) <= 0)
        return -1;
    out[k] = '\0';
    return 0;
}

/* B, made by unshare and held by an fd; the thread back in A. */
static int make_b(struct migscene *m, char *why, size_t cap)
{
    m->nsfd[0] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (m->nsfd[0] < 0 || unshare(CLONE_NEWNET) < 0) {
        snprintf(why, cap, "a second network namespace: %s", strerror(errno));
        return -1;
    }
    m->nsfd[1] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (migscene_enter(m, 0) < 0 || m->nsfd[1] < 0 ||
        ns_link(m->nsfd[0], m->nslink[0], sizeof(m->nslink[0])) < 0 ||
        ns_link(m->nsfd[1], m->nslink[1], sizeof(m->nslink[1])) < 0 ||
        !strcmp(m->nslink[0], m->nslink[1])) {
        snprintf(why, cap, "namespace B: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Each of (cmds) through (ip), "%s" in one as (netns_b), until one fails. */
static int run_all(const char *const *cmds, const char *netns_b, migscene_ip_fn *ip, void *ctx,
                   char *why, size_t cap)
{
    char args[160];

    for (; *cmds; cmds++) {
        const char *pc = strstr(*cmds, "%s");
        if (pc)
            snprintf(args, sizeof(args), "%.*s%s", (int)(pc - *cmds), *cmds, netns_b);
        else
            snprintf(args, sizeof(args), "%s", *cmds);
        if (ip(ctx, args) != 0) {
            snprintf(why, cap, "ip %s failed", args);
            return -1;
        }
    }
    return 0;
}

int migscene_make(struct migscene *m, migscene_ip_fn *ip, void *ctx, char *why, size_t cap)
{
    char netns_b[64];

    m->nsfd[0] = m->nsfd[1] = -1;
    m->nslink[0][0] = m->nslink[1][0] = '\0';
    if (make_b(m, why, cap) < 0)
        return -1;
    snprintf(netns_b, sizeof(netns_b), "/proc/%d/fd/%d", (int)getpid(), m->nsfd[1]);
    if (run_all(cmds_a, netns_b, ip, ctx, why, cap) < 0)
        return -1;
    if (migscene_enter(m, 1) < 0) {
        snprintf(why, cap, "setns into B: %s", strerror(errno));
        return -1;
    }
    int rc = run_all(cmds_b, netns_b, ip, ctx, why, cap);
    if (migscene_enter(m, 0) < 0) {
        snprintf(why, cap, "setns back into A: %s", strerror(errno));
        return -1;
    }
    return rc;
}

int migscene_enter(const struct migscene *m, int side)
{
    return setns(m->nsfd[side], CLONE_NEWNET);
}

void migscene_close(struct migscene *m)
{
    for (int i = 0; i < 2; i++) {
        if (m->nsfd[i] >= 0)
            close(m->nsfd[i]);
        m->nsfd[i] = -1;
    }
}

int migscene_token(const char *path, mode_t mode, size_t len, char *out)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char raw[64];
    char text[66];
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    int ok = rnd >= 0 && fd >= 0 && len < sizeof(raw) && read(rnd, raw, len) == (ssize_t)len &&
             fchmod(fd, mode) == 0;

    for (size_t i = 0; ok && i < len; i++)
        text[i] = al[raw[i] % (sizeof(al) - 1)];
    text[len < sizeof(raw) ? len : 0] = '\n';
    ok = ok && write(fd, text, len + 1) == (ssize_t)(len + 1);
    if (ok && out)
        snprintf(out, len + 1, "%.*s", (int)len, text);
    int e = errno;
    if (rnd >= 0)
        close(rnd);
    if (fd >= 0)
        close(fd);
    errno = e;
    return ok ? 0 : -1;
}
