/* test_snapshot_vg.c: test_snapshot (save, restore, clones, refusals)
 * once more, in a release build under valgrind: no memory error and no
 * leak in the snapshot code's paths (valgrind and ASan do not mix, so
 * tests/tests.mk builds $B/tests/test_snapshot without sanitizers).
 * usage: test_snapshot_vg TEST_SNAPSHOT GUEST_DIR */
#include <string.h>
#include <unistd.h>

#include "lvtest.h"

int main(int argc, char **argv)
{
    static struct lvt_proc p;

    if (argc != 3) {
        fprintf(stderr, "usage: test_snapshot_vg TEST_SNAPSHOT GUEST_DIR\n");
        return 2;
    }
    lvt_require_kvm();
    lvt_require_root("test_snapshot_vg", "a network namespace and taps");
    if (access("/usr/bin/valgrind", X_OK) != 0) {
        fprintf(stderr, "FAIL: valgrind is not installed (scripts/deps.sh installs it)\n");
        return 1;
    }
    const char *argv_vg[] = {"/usr/bin/valgrind", "--quiet", "--leak-check=full",
                             "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                             argv[1], argv[2], NULL};
    CHECK(lvt_run(&p, 840, argv_vg) == 0, "cannot run valgrind");
    CHECK(p.status == 0, "test_snapshot under valgrind: status %d (99 = valgrind found "
          "errors)%s:\n%s", p.status, p.timed_out ? " (timed out)" : "", p.err);
    CHECK(strstr(p.out, "test_snapshot: ok") && !strstr(p.err, "definitely lost") &&
          !strstr(p.err, "Invalid"), "test_snapshot under valgrind:\n%s\n%s", p.out, p.err);
    return lvt_done("test_snapshot_vg");
}
