/* test_valgrind.c: the CLI paths leak nothing and make no memory errors
 * under valgrind: help, usage errors, a refused image and, with KVM, a
 * whole VM run. usage: test_valgrind LIGHTVM GUEST_DIR (release build) */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfgen.h"
#include "lvtest.h"

static const char *lightvm;
static struct lvt_proc p;

static void vg4(const char *what, int want, const char *a1, const char *a2, const char *a3,
                const char *a4)
{
    const char *argv[] = {"/usr/bin/valgrind", "--quiet", "--leak-check=full",
                    "--show-leak-kinds=all", "--errors-for-leak-kinds=all",
                    "--error-exitcode=99", lightvm, a1, a2, a3, a4, NULL};
    CHECK(lvt_run(&p, 300, argv) == 0, "cannot run valgrind");
    CHECK(p.status == want, "%s: status %d (want %d; 99 = valgrind found errors): %s", what,
          p.status, want, p.err);
    CHECK(strstr(p.err, "definitely lost") == NULL && strstr(p.err, "Invalid") == NULL,
          "%s: valgrind report: %s", what, p.err);
}

static void vg(const char *what, int want, const char *a1, const char *a2, const char *a3)
{
    vg4(what, want, a1, a2, a3, NULL);
}

int main(int argc, char **argv)
{
    char bad[] = "/tmp/lightvm-vg-XXXXXX", image[4096];
    struct elfgen g;
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: test_valgrind LIGHTVM GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    if (access("/usr/bin/valgrind", X_OK) != 0) {
        fprintf(stderr, "FAIL: valgrind is not installed (scripts/deps.sh installs it)\n");
        return 1;
    }
    vg("--help", 0, "--help", NULL, NULL);
    vg("run --help", 0, "run", "--help", NULL);
    vg("usage error", 2, "run", NULL, NULL);
    elfgen_valid(&g);
    elfgen_ehdr(&g)->e_machine = 3;
    fd = mkstemp(bad);
    CHECK(fd >= 0 && write(fd, g.buf, g.size) == (ssize_t)g.size, "temp file");
    close(fd);
    vg("bad image", 1, "run", bad, NULL);
    unlink(bad);
    /* the daemon verbs' own paths (test_daemon runs them against a live
     * daemon under valgrind too) */
    vg("create --help", 0, "create", "--help", NULL);
    vg("list, no daemon", 1, "list", "--rundir", "/nonexistent/lightvm-vg");
    static const char cfg[] = "{\"name\":\"x\",\"kernel\":\"/k\",\"memroy\":8}";
    char cpath[] = "/tmp/lightvm-vg-cfg-XXXXXX";
    fd = mkstemp(cpath);
    CHECK(fd >= 0 && write(fd, cfg, sizeof(cfg) - 1) == (ssize_t)(sizeof(cfg) - 1), "temp file");
    close(fd);
    vg("create, bad config", 2, "create", cpath, NULL);
    CHECK(strstr(p.err, "memroy") != NULL, "bad config error: %s", p.err);
    unlink(cpath);

    lvt_require_kvm();
    snprintf(image, sizeof(image), "%s/hello.elf", argv[2]);
    /* --no-seccomp: valgrind does not implement the seccomp system call
     * (ENOSYS), and its own system calls would meet the filters anyway;
     * test_run and test_daemon cover the filters. */
    vg4("run hello", 0, "run", image, "--trace", "--no-seccomp");
    CHECK(strstr(p.out, "Hello from lightvm") != NULL, "hello under valgrind: %s", p.out);
    return lvt_done("test_valgrind");
}
