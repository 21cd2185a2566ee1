/* test_token.c: a migration token's file (lv_token_read): its mode, kind,
 * length and characters, one final newline allowed; lv_token_equal on
 * equal, different and differently long tokens. No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lightvm/token.h"
#include "lvtest.h"

static char dir[] = "/tmp/lvtest-token-XXXXXX";

/* Writes (text) into DIR/name with (mode); its path in (path). */
static void put(char *path, const char *name, const char *text, mode_t mode)
{
    snprintf(path, 256, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
          fchmod(fd, mode) == 0, "write %s", path);
    if (fd >= 0)
        close(fd);
}

static void expect(const char *name, const char *text, mode_t mode, int rc_want,
                   const char *needle)
{
    char path[256], tok[LV_TOKEN_MAX + 1] = "";
    struct lv_err e = {""};

    put(path, name, text, mode);
    int rc = lv_token_read(path, tok, &e);
    CHECK(rc == rc_want && (!needle || strstr(e.msg, needle)), "%s: rc %d (want %d), \"%s\"",
          name, rc, rc_want, e.msg);
}

int main(void)
{
    char path[256], tok[LV_TOKEN_MAX + 1], big[LV_TOKEN_MAX + 3];
    struct lv_err e = {""};

    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    put(path, "good", "0123456789abcdef-secret\n", 0600);
    CHECK(lv_token_read(path, tok, &e) == 0 && !strcmp(tok, "0123456789abcdef-secret"),
          "a good token: %s", e.msg);
    expect("nonl", "0123456789abcdefXY", 0400, 0, NULL);
    expect("group", "0123456789abcdefXY", 0640, -EACCES, "only its owner");
    expect("other", "0123456789abcdefXY", 0604, -EACCES, "only its owner");
    expect("short", "0123456789abcde\n", 0600, -EINVAL, "15 characters");
    expect("space", "0123456789 abcdefg", 0600, -EINVAL, "not printable");
    expect("twonl", "0123456789abcdefg\n\n", 0600, -EINVAL, "not printable");
    memset(big, 'x', LV_TOKEN_MAX + 1);
    big[LV_TOKEN_MAX + 1] = '\0';
    expect("long", big, 0600, -EINVAL, "257 characters");
    big[LV_TOKEN_MAX] = '\0';
    expect("max", big, 0600, 0, NULL);
    snprintf(path, sizeof(path), "%s/none", dir);
    CHECK(lv_token_read(path, tok, &e) == -ENOENT && strstr(e.msg, "none"), "missing: %s",
          e.msg);
    CHECK(lv_token_read(dir, tok, &e) == -EACCES, "a directory is refused");
    CHECK(lv_token_equal("0123456789abcdef", "0123456789abcdef"), "equal");
    CHECK(!lv_token_equal("0123456789abcdef", "0123456789abcdeF"), "last byte differs");
    CHECK(!lv_token_equal("0123456789abcdef", "0123456789abcdefg"), "longer");
    CHECK(!lv_token_equal("", "0123456789abcdef"), "empty");
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return lvt_done("test_token");
}
