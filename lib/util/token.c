/*
 * token.c: a migration's shared secret, read from a file and compared in
 * constant time (token.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/token.h"

static int check_text(const char *path, const char *t, size_t n, struct lv_err *err)
{
    if (n && t[n - 1] == '\n')
        n--;
    if (n < LV_TOKEN_MIN || n > LV_TOKEN_MAX)
        return lv_err_set(err, EINVAL, "%s: a token of %zu characters (want %d..%d)", path, n,
                          LV_TOKEN_MIN, LV_TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] > '~')
            return lv_err_set(err, EINVAL, "%s: the token has a character that is not "
                              "printable ASCII (byte %zu)", path, i);
    return (int)n;
}

int lv_token_read(const char *path, char *out, struct lv_err *err)
{
    char buf[LV_TOKEN_MAX + 2];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), rc;

    if (fd < 0)
        return lv_err_set(err, errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        close(fd);
        return lv_err_set(err, EACCES, "%s: want a regular file that only its owner may read "
                          "(chmod 600)", path);
    }
    n = read(fd, buf, sizeof(buf));
    rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc)
        return lv_err_set(err, -rc, "%s: %s", path, strerror(-rc));
    rc = check_text(path, buf, (size_t)n, err);
    if (rc < 0)
        return rc;
    memcpy(out, buf, (size_t)rc);
    out[rc] = '\0';
    return 0;
}

int lv_token_equal(const char *a, const char *b)
{
    size_t la = strnlen(a, LV_TOKEN_MAX + 1), lb = strnlen(b, LV_TOKEN_MAX + 1);
    unsigned diff = (unsigned)(la != lb);

    /* every byte of the longest possible token looked at, whatever differs */
    for (size_t i = 0; i < LV_TOKEN_MAX; i++) {
        unsigned char x = i < la ? (unsigned char)a[i] : 0;
        unsigned char y = i < lb ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}
