/* cmd_run.c: `lightvm run`, the cold path: one VM in the foreground. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "cli.h"
#include "lightvm/bootinfo.h"
#include "lightvm/elf.h"
#include "lightvm/vmspec.h"
#include "lightvm/x86.h"

#define DEFAULT_MEMORY (8ull << 20)

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: lightvm run IMAGE [--memory SIZE] [--cmdline STR] [--net SPEC]...\n"
            "                         [--wait-net ADDR | --probe ADDR:PORT] [--trace] [--no-pvm]\n"
            "                         [--raw] [--no-seccomp]\n"
            "       lightvm run --config CONFIG.json [--wait-net ADDR | --probe ADDR:PORT]\n"
            "                         [--trace] [--no-pvm] [--raw] [--no-seccomp]\n\n"
            "Boots the unikernel ELF IMAGE in a new KVM VM in the foreground. The guest's\n"
            "console goes to stdout, control characters other than newline and tab, and\n"
            "bytes that are not UTF-8, escaped as \\xNN (a backslash as \\\\); the command\n"
            "exits with the guest's exit status. Run as root, the VM runs in a child\n"
            "process that gives up root, every capability and the host's filesystem\n"
            "before the guest starts; this command stays to clean up after it.\n\n"
            "      --config FILE   take the kernel, memory, cmdline and vifs from a VM\n"
            "                      configuration file (as 'lightvm create' does; each vif's\n"
            "                      bridge must exist) instead of IMAGE, --memory, --cmdline\n"
            "                      and --net\n"
            "  -m, --memory SIZE   guest RAM, e.g. 8M, 64M, 1G (bare number: MiB; rounded\n"
            "                      up to 2 MiB; default 8M, at most 4G)\n"
            "  -c, --cmdline STR   command line passed to the guest (printable ASCII)\n"
            "  -n, --net SPEC      a virtio-net NIC (up to 8): SPEC is\n"
            "                      BRIDGE[,mac=02:..][,ip=A.B.C.D[/PREFIX]][,gw=A.B.C.D][,create]\n"
            "                      a tap (lvtapN) is attached to BRIDGE, which must exist\n"
            "                      unless 'create' is given; the guest gets mac/ip/gw\n"
            "                      (prefix default 24, MAC random); the tap goes with the VM\n"
            "      --wait-net ADDR listen on UDP ADDR (an address of this host, e.g. the\n"
            "                      bridge's) for the guest's network-up probe and print\n"
            "                      'lightvm: network up in N ms' on stderr when it arrives\n"
            "      --probe ADDR:PORT  have the guest send its network-up probe there\n"
            "  -t, --trace         print where the time went and the exits taken, one\n"
            "                      'trace ...' line each, on stderr\n"
            "      --no-pvm        plain x86-64 path: no PVM VIF, the guest skips its PVM\n"
            "                      probe (tests the VMX/SVM code path on a PVM host)\n"
            "      --raw           the guest's console bytes as they are, unescaped\n"
            "      --no-seccomp    no seccomp allow-lists for the VM's threads (they are on\n"
            "                      by default: a system call outside them ends the process\n"
            "                      with SIGSYS and a line on stderr)\n"
            "  -h, --help          this text\n\n"
            "exit status: the guest's (0..255); 1 host error (bad image, no KVM);\n"
            "2 usage error; 125 the VM crashed or was stopped by the VMM (details on\n"
            "stderr); 128+N killed by signal N.\n");
}

struct run_opts {
    const char *config;
    struct lv_vm_spec spec;     /* IMAGE, --memory, --cmdline, --net; or --config */
    int mem_set;
    int create[LV_VM_MAX_NICS]; /* --net ...,create */
    int trace;
    int raw;
    unsigned flags;
    struct lv_probe_opt net;    /* --wait-net, --probe */
};

static uint64_t round_mem(uint64_t bytes)
{
    return (bytes + LV_MEM_ALIGN - 1) & ~(uint64_t)(LV_MEM_ALIGN - 1);
}

/* --config FILE: the file's kernel, memory, cmdline and vifs stand for
 * IMAGE, --memory, --cmdline and --net BRIDGE,mac=..,ip=..,gw=.. (the
 * bridge must exist). (nargs) positional arguments were given. */
static int use_config(struct run_opts *o, int nargs)
{
    const char *clash = nargs ? "IMAGE" : o->mem_set ? "--memory" : o->spec.cmdline[0]
                      ? "--cmdline" : o->spec.nvifs ? "--net" : NULL;
    struct lv_err err = {""};

    if (clash) {
        fprintf(stderr, "lightvm run: --config and %s exclude each other (the file gives the "
                        "kernel, memory, cmdline and vifs)\n", clash);
        return -1;
    }
    if (lv_vm_spec_load(o->config, &o->spec, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        return -1;
    }
    o->spec.memory_mb = round_mem(o->spec.memory_mb << 20) >> 20;
    return 0;
}

/* One option (c) with (arg); 0, or -1 after printing why. */
static int take_opt(struct run_opts *o, int c, const char *arg)
{
    struct lv_vm_spec *sp = &o->spec;
    struct lv_err err = {""};
    uint64_t mem;

    switch (c) {
    case 'm':
        if (lv_parse_size(arg, &mem) < 0 || mem > LV_MEM_MAX) {
            fprintf(stderr, "lightvm run: bad --memory '%s' (want e.g. 8M, 1G; at most 4G)\n",
                    arg);
            return -1;
        }
        sp->memory_mb = round_mem(mem) >> 20;
        o->mem_set = 1;
        return 0;
    case 'c':
        if (lv_cmdline_check(arg, &err) < 0) {
            fprintf(stderr, "lightvm run: --cmdline: %s\n", err.msg);
            return -1;
        }
        snprintf(sp->cmdline, sizeof(sp->cmdline), "%s", arg);
        return 0;
    case 'n':
        if (sp->nvifs == LV_VM_MAX_NICS) {
            fprintf(stderr, "lightvm run: more than %d --net\n", LV_VM_MAX_NICS);
            return -1;
        }
        if (lv_vif_spec_parse_opt(arg, &sp->vifs[sp->nvifs], &o->create[sp->nvifs], &err) < 0) {
            fprintf(stderr, "lightvm run: --net %s\n", err.msg);
            return -1;
        }
        sp->nvifs++;
        return 0;
    case 'W':
    case 'p':
        return lv_probe_opt("run", c, arg, &o->net);
    }
    return -1;
}

static int parse(int argc, char **argv, struct run_opts *o)
{
    static const struct option longopts[] = {
        {"memory", required_argument, NULL, 'm'}, {"cmdline", required_argument, NULL, 'c'},
        {"trace", no_argument, NULL, 't'},        {"no-pvm", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},         {"net", required_argument, NULL, 'n'},
        {"wait-net", required_argument, NULL, 'W'}, {"probe", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'C'},   {"raw", no_argument, NULL, 'R'},
        {"no-seccomp", no_argument, NULL, 'S'},     {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->spec.memory_mb = DEFAULT_MEMORY >> 20;
    o->spec.vcpus = 1;
    o->flags = LV_VM_F_SECCOMP;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:c:n:th", longopts, NULL)) != -1) {
        switch (c) {
        case 'C':
            o->config = optarg;
            break;
        case 't':
            o->trace = 1;
            break;
        case 'P':
            o->flags |= LV_VM_F_NO_PVM;
            break;
        case 'R':
            o->raw = 1;
            break;
        case 'S':
            o->flags &= ~LV_VM_F_SECCOMP;
            break;
        case 'm':
        case 'c':
        case 'n':
        case 'W':
        case 'p':
            if (take_opt(o, c, optarg) < 0)
                return -1;
            break;
        case 'h':
            run_usage(stdout);
            exit(0);
        default:
            if (optopt)
                fprintf(stderr, "lightvm run: option -%c needs a value or is unknown\n",
                        optopt);
            else
                fprintf(stderr, "lightvm run: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (o->config) {
        if (use_config(o, argc - optind) < 0)
            return -1;
    } else if (optind != argc - 1) {
        fprintf(stderr, "lightvm run: %s (try 'lightvm run --help')\n",
                optind >= argc ? "missing IMAGE" : "too many arguments");
        return -1;
    } else if (strlen(argv[optind]) >= sizeof(o->spec.kernel)) {
        fprintf(stderr, "lightvm run: IMAGE: path too long\n");
        return -1;
    } else {
        snprintf(o->spec.kernel, sizeof(o->spec.kernel), "%s", argv[optind]);
    }
    if ((o->net.wait_net || o->net.probe.port) && !o->spec.nvifs) {
        fprintf(stderr, "lightvm run: --wait-net/--probe need a --net%s\n",
                o->config ? " (a vif in the --config file)" : "");
        return -1;
    }
    return 0;
}

/* Forwards SIGINT/SIGTERM/SIGHUP to the VM process (pid) until it ends
 * (SIGCHLD, through (sigfd)); returns its wait status. */
static int wait_child(pid_t pid, int sigfd)
{
    struct signalfd_siginfo si;
    int st = 0, done = 0;

    while (!done) {
        ssize_t n = read(sigfd, &si, sizeof(si));
        if (n != sizeof(si)) {
            if (n < 0 && errno == EINTR)
                continue;
            break; /* cannot happen; fall back to a plain wait */
        }
        if (si.ssi_signo != SIGCHLD)
            kill(pid, (int)si.ssi_signo);
        else
            done = waitpid(pid, &st, WNOHANG) == pid;
    }
    while (!done && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* The command's status for the VM process's wait status (st). */
static int child_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : SIGKILL;
    if (sig == SIGSYS)
        fprintf(stderr, "lightvm run: the VM process was killed by SIGSYS: a system call "
                        "outside its seccomp allow-list (named above)\n");
    else
        fprintf(stderr, "lightvm run: the VM process was killed by signal %d\n", sig);
    return 128 + sig;
}

/* fork(), the child PID 1 of a new PID namespace when (own_pid_ns): it
 * sees no other process (the jail does the rest). This process's own
 * children stay in its namespace (the sanitizers' leak check forks one at
 * exit). Returns as fork() does; prints the error. */
static pid_t fork_vm(int own_pid_ns)
{
    int self = -1, e;
    pid_t pid;

    if (own_pid_ns) {
        self = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (self < 0 || unshare(CLONE_NEWPID) < 0) {
            e = errno;
            if (self >= 0)
                close(self);
            fprintf(stderr, "lightvm run: a PID namespace for the VM: %s\n", strerror(e));
            return -1;
        }
    }
    pid = fork();
    e = errno;
    if (pid < 0)
        fprintf(stderr, "lightvm run: fork: %s\n", strerror(e));
    if (pid != 0 && self >= 0) {
        if (setns(self, CLONE_NEWPID) < 0) /* cannot fail: it is ours */
            fprintf(stderr, "lightvm run: back to its PID namespace: %s\n", strerror(errno));
        close(self);
    }
    if (pid == 0 && self >= 0)
        close(self);
    return pid;
}

/* Forks the VM process (run_vm.c) with (r), in a PID namespace of its
 * own when (r->jail); waits for it, forwarding signals; returns the
 * command's exit status. */
static int run_child(struct lv_run_vm *r)
{
    sigset_t sigs, old;
    int alive[2], sigfd, st;
    pid_t pid;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sigfd < 0 || pipe2(alive, O_CLOEXEC) < 0) {
        fprintf(stderr, "lightvm run: %s: %s\n", sigfd < 0 ? "signalfd" : "pipe",
                strerror(errno));
        if (sigfd >= 0)
            close(sigfd);
        return LV_EXIT_HOST_ERROR;
    }
    fflush(NULL);
    pid = fork_vm(r->jail);
    if (pid == 0) {
        close(alive[1]);
        close(sigfd);
        r->parent_fd = alive[0];
        int rc = lv_run_vm(r);
        fflush(NULL);
        _exit(rc); /* nothing at exit works in the jail (LeakSanitizer's check) */
    }
    close(alive[0]);
    if (pid < 0) {
        close(alive[1]);
        close(sigfd);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return LV_EXIT_HOST_ERROR;
    }
    lv_image_close(r->img); /* the VM process's now */
    st = wait_child(pid, sigfd);
    close(alive[1]);
    close(sigfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return child_status(st);
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    struct lv_err err = {""};
    struct lv_image img = {.fd = -1};
    struct lv_tap taps[LV_VM_MAX_NICS];
    int tap_fds[LV_VM_MAX_NICS];
    struct lv_nft *nft = NULL;    /* the taps' antispoof rules */
    struct lv_nl *keep_nl = NULL; /* for removing a bridge it made, at the end */
    struct lv_run_vm r = {.img = &img, .probe_fd = -1, .parent_fd = -1, .t0 = lv_now_ns()};
    int rc = LV_EXIT_HOST_ERROR;

    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++)
        taps[i].fd = -1;
    if (parse(argc, argv, &o) < 0)
        return LV_EXIT_USAGE;
    /* Refuse a bad image before touching KVM. It stays open (never
     * mapped) until the VM process reads its segments into guest RAM. */
    if (lv_image_open(o.spec.kernel, &img, &err) < 0 ||
        lv_image_check(&img, o.spec.memory_mb << 20, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    if (o.net.wait_net) {
        r.probe_fd = lv_probe_listen(o.net.probe.ip, &o.net.probe.port, &err);
        if (r.probe_fd < 0) {
            fprintf(stderr, "lightvm run: %s\n", err.msg);
            goto out;
        }
    }
    /* The MACs, once: the taps' rules name them, the guest gets them. */
    if (lv_vm_spec_choose_macs(&o.spec, &err) < 0 ||
        lv_nics_open(&o.spec, o.create, taps, &nft, &keep_nl, &err) < 0) {
        fprintf(stderr, "lightvm run: --net: %s\n", err.msg);
        goto out;
    }
    for (unsigned i = 0; i < o.spec.nvifs; i++)
        tap_fds[i] = taps[i].fd;
    struct lv_nl *nl = NULL;
    if (o.net.probe.port && o.spec.nvifs && lv_nl_open(&nl, NULL) == 0)
        lv_probe_find_mac(nl, o.spec.vifs[0].bridge, &o.net.probe);
    lv_nl_close(&nl);

    r.spec = &o.spec;
    r.tap_fds = tap_fds;
    r.flags = o.flags;
    r.probe = o.net.probe;
    r.raw = o.raw;
    r.trace = o.trace;
    /* Root has privileges to give up; any other user runs the VM with
     * no more than its own. */
    r.jail = geteuid() == 0;
    rc = run_child(&r);
out:
    if (r.probe_fd >= 0)
        close(r.probe_fd);
    lv_nics_close(&o.spec, o.create, taps, &nft, &keep_nl); /* after the VM: it used the taps */
    lv_image_close(&img);
    return rc;
}
