/* test_cli.c: the `lightvm` command's help, usage errors and refusal of
 * malformed images, with clear one-line errors and the documented exit
 * codes. Needs no KVM: images are checked before /dev/kvm is opened.
 * usage: test_cli LIGHTVM GUEST_DIR */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "elfgen.h"
#include "lvtest.h"

static const char *lightvm;
static char dir[] = "/tmp/lightvm-test-cli-XXXXXX";
static struct lvt_proc p;

static void run(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
    const char *argv[] = {lightvm, a1, a2, a3, a4, a5, NULL};
    if (lvt_run(&p, 30, argv) < 0) {
        fprintf(stderr, "FAIL: cannot run %s\n", lightvm);
        exit(1);
    }
}

static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

static void test_usage(void)
{
    run("--help", NULL, NULL, NULL, NULL);
    CHECK(p.status == 0 && strstr(p.out, "run"), "--help: %d %s", p.status, p.out);
    run(NULL, NULL, NULL, NULL, NULL);
    CHECK(p.status == 2 && strstr(p.err, "usage"), "no args: %d %s", p.status, p.err);
    run("bogus", NULL, NULL, NULL, NULL);
    CHECK(p.status == 2 && strstr(p.err, "unknown command 'bogus'") && one_line(p.err),
          "bogus: %d %s", p.status, p.err);
    run("--version", NULL, NULL, NULL, NULL);
    CHECK(p.status == 0 && strstr(p.out, "lightvm "), "--version: %d", p.status);
    run("run", "--help", NULL, NULL, NULL);
    CHECK(p.status == 0 && strstr(p.out, "--memory") && strstr(p.out, "exit status"),
          "run --help: %d %s", p.status, p.out);
    run("run", NULL, NULL, NULL, NULL);
    CHECK(p.status == 2 && strstr(p.err, "missing IMAGE") && one_line(p.err), "run: %s", p.err);
    run("run", "a.elf", "b.elf", NULL, NULL);
    CHECK(p.status == 2 && strstr(p.err, "too many"), "two images: %s", p.err);
    run("run", "--memory", "0", "x.elf", NULL);
    CHECK(p.status == 2 && strstr(p.err, "bad --memory '0'") && one_line(p.err), "mem 0: %s",
          p.err);
    run("run", "--memory", "5G", "x.elf", NULL);
    CHECK(p.status == 2 && strstr(p.err, "bad --memory '5G'"), "mem 5G: %s", p.err);
    run("run", "--memory", "12Q", "x.elf", NULL);
    CHECK(p.status == 2 && strstr(p.err, "bad --memory"), "mem 12Q: %s", p.err);
    run("run", "--frobnicate", "x.elf", NULL, NULL);
    CHECK(p.status == 2 && strstr(p.err, "--frobnicate") && one_line(p.err), "bad opt: %s",
          p.err);
    run("run", "--cmdline", "a\tb", "x.elf", NULL);
    CHECK(p.status == 2 && strstr(p.err, "printable"), "cmdline tab: %s", p.err);
}

static void expect_refused(const char *name, const void *buf, size_t len, const char *msg)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CHECK(lvt_write_file(path, buf, len) == 0, "write %s", path);
    run("run", path, NULL, NULL, NULL);
    CHECK(p.status == 1, "%s: status %d", name, p.status);
    CHECK(strstr(p.err, msg) != NULL && strstr(p.err, path) != NULL && one_line(p.err),
          "%s: stderr '%s' lacks '%s' or the path", name, p.err, msg);
    CHECK(p.out[0] == '\0', "%s: printed on stdout: %s", name, p.out);
    unlink(path);
}

static void test_bad_images(void)
{
    struct elfgen g;
    char path[256];

    elfgen_valid(&g);
    expect_refused("truncated.elf", g.buf, 40, "too short");
    expect_refused("cut.elf", g.buf, ELFGEN_CODE_OFF + 8, "past the end of the file");
    {
        static const char script[] = "#!/bin/sh\n# not an ELF file, but long enough to have "
                                     "an ELF header's worth of bytes\necho hi\n";
        expect_refused("text.elf", script, sizeof(script) - 1, "bad magic");
    }

    elfgen_valid(&g);
    elfgen_phdr(&g, 0)->p_vaddr = elfgen_phdr(&g, 0)->p_paddr = 64u << 20;
    elfgen_ehdr(&g)->e_entry = 64u << 20;
    expect_refused("outside.elf", g.buf, g.size, "does not fit");

    elfgen_valid(&g);
    elfgen_phdr(&g, 0)->p_vaddr = elfgen_phdr(&g, 0)->p_paddr = LV_GPA_BOOTINFO;
    elfgen_ehdr(&g)->e_entry = LV_GPA_BOOTINFO;
    expect_refused("bootinfo.elf", g.buf, g.size, "boot info page");

    elfgen_valid(&g);
    elfgen_phdr(&g, 0)->p_memsz = 1ull << 63;
    expect_refused("huge.elf", g.buf, g.size, "does not fit");

    elfgen_valid(&g);
    elfgen_ehdr(&g)->e_machine = 183; /* EM_AARCH64 */
    expect_refused("arm.elf", g.buf, g.size, "wrong machine");

    expect_refused("empty.elf", "", 0, "size 0");

    snprintf(path, sizeof(path), "%s/missing.elf", dir);
    run("run", path, NULL, NULL, NULL);
    CHECK(p.status == 1 && strstr(p.err, "No such file") && one_line(p.err), "missing: %s",
          p.err);
    run("run", dir, NULL, NULL, NULL);
    CHECK(p.status == 1 && strstr(p.err, "not a regular file"), "directory: %s", p.err);
    /* a FIFO without a writer: refused at once, not waited on in open() */
    snprintf(path, sizeof(path), "%s/kernel.fifo", dir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo %s", path);
    run("run", path, NULL, NULL, NULL);
    CHECK(p.status == 1 && !p.timed_out && strstr(p.err, path) && strstr(p.err, "FIFO") &&
          one_line(p.err), "FIFO: status %d%s: %s", p.status, p.timed_out ? " (timed out)" : "",
          p.err);
    unlink(path);
    run("run", "/dev/null", NULL, NULL, NULL);
    CHECK(p.status == 1 && strstr(p.err, "/dev/null: not a regular file (a character device)") &&
          one_line(p.err), "/dev/null: %s", p.err);
}

/* A valid image but no KVM device: one clear line, exit 1. */
static void test_no_kvm(const char *gdir)
{
    char image[4096];

    snprintf(image, sizeof(image), "%s/hello.elf", gdir);
    setenv("LIGHTVM_KVM_DEVICE", "/nonexistent/kvm", 1);
    run("run", image, NULL, NULL, NULL);
    unsetenv("LIGHTVM_KVM_DEVICE");
    CHECK(p.status == 1 && strstr(p.err, "/nonexistent/kvm") && strstr(p.err, "KVM") &&
              one_line(p.err),
          "no KVM: %d '%s'", p.status, p.err);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_cli LIGHTVM GUEST_DIR\n");
        return 2;
    }
    lightvm = argv[1];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_usage();
    test_bad_images();
    test_no_kvm(argv[2]);
    rmdir(dir);
    return lvt_done("test_cli");
}
