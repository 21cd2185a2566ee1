/* cmd_run.c: `lightvm run`, the cold path: one VM in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi/lv_abi.h"
#include "cli.h"
#include "lightvm/bootinfo.h"
#include "lightvm/console.h"
#include "lightvm/elf.h"
#include "lightvm/seccomp.h"
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
            "exits with the guest's exit status.\n\n"
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
    const char *image;
    const char *cmdline;
    uint64_t mem;
    int mem_set;
    const char *config;
    struct lv_vm_spec spec; /* from --config */
    int trace;
    int raw;
    unsigned flags;
    unsigned nnics;
    struct lv_nic_opt nic[LV_VM_MAX_NICS];
    uint32_t probe_ip;
    uint16_t probe_port;
    int wait_net;
};

/* --config FILE: the file's kernel, memory, cmdline and vifs stand for
 * IMAGE, --memory, --cmdline and --net BRIDGE,mac=..,ip=..,gw=.. (the
 * bridge must exist). (nargs) positional arguments were given. */
static int use_config(struct run_opts *o, int nargs)
{
    const char *clash = nargs ? "IMAGE" : o->mem_set ? "--memory" : o->cmdline ? "--cmdline"
                      : o->nnics ? "--net" : NULL;
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
    o->image = o->spec.kernel;
    o->mem = ((o->spec.memory_mb << 20) + LV_MEM_ALIGN - 1) & ~(uint64_t)(LV_MEM_ALIGN - 1);
    o->cmdline = o->spec.cmdline;
    o->nnics = o->spec.nvifs;
    for (unsigned i = 0; i < o->nnics; i++) {
        const struct lv_vif_spec *v = &o->spec.vifs[i];
        struct lv_nic_opt *n = &o->nic[i];
        memset(n, 0, sizeof(*n));
        memcpy(n->bridge, v->bridge, sizeof(n->bridge));
        n->has_mac = v->has_mac;
        memcpy(n->mac, v->mac, sizeof(n->mac));
        n->ip = v->ip;
        n->netmask = v->netmask;
        n->gw = v->gw;
    }
    return 0;
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
    struct lv_err err = {""};
    int c;

    memset(o, 0, sizeof(*o));
    o->mem = DEFAULT_MEMORY;
    o->flags = LV_VM_F_SECCOMP;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:c:n:th", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (lv_parse_size(optarg, &o->mem) < 0 || o->mem > LV_MEM_MAX) {
                fprintf(stderr, "lightvm run: bad --memory '%s' (want e.g. 8M, 1G; at most "
                                "4G)\n", optarg);
                return -1;
            }
            o->mem = (o->mem + LV_MEM_ALIGN - 1) & ~(uint64_t)(LV_MEM_ALIGN - 1);
            o->mem_set = 1;
            break;
        case 'C':
            o->config = optarg;
            break;
        case 'c':
            o->cmdline = optarg;
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
        case 'n':
            if (o->nnics == LV_VM_MAX_NICS) {
                fprintf(stderr, "lightvm run: more than %d --net\n", LV_VM_MAX_NICS);
                return -1;
            }
            if (lv_nic_parse(optarg, &o->nic[o->nnics]) < 0)
                return -1;
            o->nnics++;
            break;
        case 'W':
            if (o->probe_port) {
                fprintf(stderr, "lightvm run: --wait-net and --probe exclude each other\n");
                return -1;
            }
            if (lv_ipv4_parse(optarg, &o->probe_ip, NULL, &err) < 0) {
                fprintf(stderr, "lightvm run: --wait-net: %s\n", err.msg);
                return -1;
            }
            o->wait_net = 1;
            break;
        case 'p':
            if (o->wait_net) {
                fprintf(stderr, "lightvm run: --wait-net and --probe exclude each other\n");
                return -1;
            }
            if (lv_probe_parse("run", optarg, &o->probe_ip, &o->probe_port) < 0)
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
    } else {
        o->image = argv[optind];
    }
    if ((o->wait_net || o->probe_port) && !o->nnics) {
        fprintf(stderr, "lightvm run: --wait-net/--probe need a --net%s\n",
                o->config ? " (a vif in the --config file)" : "");
        return -1;
    }
    return 0;
}

/* Waits for the VM, forwarding SIGINT/SIGTERM/SIGHUP as a stop, and
 * reports the network-up probe when (probe_fd) >= 0. Returns the signal
 * that stopped it, or 0. */
static int wait_vm(struct lv_vm *vm, int sigfd, int probe_fd, uint64_t t0)
{
    struct pollfd pfd[3] = {{lv_vm_done_fd(vm), POLLIN, 0}, {sigfd, POLLIN, 0},
                            {probe_fd, POLLIN, 0}};
    int sig = 0;

    for (;;) {
        if (poll(pfd, probe_fd >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            lv_vm_stop(vm);
            break;
        }
        if (pfd[0].revents)
            break;
        if (pfd[1].revents) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == sizeof(si))
                sig = (int)si.ssi_signo;
            lv_vm_stop(vm);
            break;
        }
        if (probe_fd >= 0 && pfd[2].revents) {
            char buf[64];
            if (recv(probe_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
                fprintf(stderr, "lightvm: network up in %.3f ms\n",
                        (double)(lv_now_ns() - t0) / 1e6);
                pfd[2].fd = -1; /* once */
            }
        }
    }
    return sig;
}

static int report(const struct lv_vm_result *res, int sig)
{
    switch (res->outcome) {
    case LV_VM_EXITED:
        return res->status;
    case LV_VM_CRASHED:
        fprintf(stderr, "lightvm run: %s (crash report above)\n", res->msg);
        return LV_EXIT_VM_FAILED;
    case LV_VM_FAILED:
        fprintf(stderr, "lightvm run: vm stopped: %s\n%s", res->msg, res->regs);
        return LV_EXIT_VM_FAILED;
    case LV_VM_STOPPED:
    default:
        if (sig) {
            fprintf(stderr, "lightvm run: stopped by signal %d\n", sig);
            return 128 + sig;
        }
        fprintf(stderr, "lightvm run: vm stopped\n");
        return LV_EXIT_VM_FAILED;
    }
}

int cmd_run(int argc, char **argv)
{
    uint64_t t0 = lv_now_ns();
    struct lv_span open_kvm;
    struct run_opts o;
    struct lv_err err = {""};
    struct lv_kvm kvm = {.fd = -1};
    struct lv_vm *vm = NULL;
    struct lv_console *con = NULL;
    struct lv_vm_config cfg;
    struct lv_vm_result res;
    struct lv_image img = {.fd = -1};
    struct lv_tap taps[LV_VM_MAX_NICS];
    struct lv_vm_nic nics[LV_VM_MAX_NICS];
    struct lv_nft *nft = NULL; /* the taps' antispoof rules */
    struct lv_nl *keep_nl = NULL; /* for removing a bridge it made, at the end */
    sigset_t sigs;
    int sigfd = -1, probe_fd = -1, sig, rc = LV_EXIT_HOST_ERROR;

    for (unsigned i = 0; i < LV_VM_MAX_NICS; i++)
        taps[i].fd = -1;
    if (parse(argc, argv, &o) < 0)
        return LV_EXIT_USAGE;
    if (lv_cmdline_check(o.cmdline, &err) < 0) {
        fprintf(stderr, "lightvm run: --cmdline: %s\n", err.msg);
        return LV_EXIT_USAGE;
    }
    /* Refuse a bad image before touching KVM. It stays open (never
     * mapped) until its segments are read into guest RAM. */
    if (lv_image_open(o.image, &img, &err) < 0 || lv_image_check(&img, o.mem, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }

    open_kvm.start_ns = lv_now_ns();
    if (lv_kvm_open(&kvm, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    open_kvm.end_ns = lv_now_ns();

    if (o.wait_net) {
        probe_fd = lv_probe_listen(o.probe_ip, &o.probe_port, &err);
        if (probe_fd < 0) {
            fprintf(stderr, "lightvm run: %s\n", err.msg);
            goto out;
        }
    }
    if (lv_nics_open(o.nic, o.nnics, taps, nics, &nft, &keep_nl, &err) < 0) {
        fprintf(stderr, "lightvm run: --net: %s\n", err.msg);
        goto out;
    }

    memset(&cfg, 0, sizeof(cfg));
    /* Probing the first bridge's own address: the guest gets its MAC. */
    uint8_t probe_mac[6] = {0};
    int probe_mac_known = 0;
    struct lv_nl *nl = NULL;
    if (o.probe_port && o.nnics && lv_nl_open(&nl, NULL) == 0)
        probe_mac_known = lv_bridge_owns_ip(nl, o.nic[0].bridge, o.probe_ip, probe_mac, NULL) == 1;
    lv_nl_close(&nl);
    cfg.mem_size = o.mem;
    cfg.nnics = o.nnics;
    cfg.nics = nics;
    cfg.probe_ip = o.probe_ip;
    cfg.probe_port = o.probe_port;
    cfg.cmdline = o.cmdline;
    cfg.flags = o.flags;
    /* The console: stdout, escaped unless --raw. A write that fails
     * (stdout closed) stops the VM, as nobody can see it any more. */
    if (lv_console_open_fd(&con, STDOUT_FILENO, o.raw ? 0 : LV_CONSOLE_ESCAPE, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    cfg.console = con;
    if (lv_vm_create(&vm, &kvm, &cfg, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    if (probe_mac_known)
        lv_vm_set_probe_mac(vm, probe_mac);
    if (lv_vm_load_image(vm, &img, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    lv_image_close(&img);

    /* A closed stdout must end the VM with "console write failed", not
     * kill the process from the vCPU thread. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* the vCPU thread inherits the mask */
    sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, "lightvm run: signalfd: %s\n", strerror(errno));
        goto out;
    }
    /* The threads first (with LV_VM_F_SECCOMP each installs its filter,
     * at the same time as this one installs its own, which allows no new
     * thread: seccomp.h); lv_vm_start checks theirs are in. */
    if (lv_vm_spawn_threads(vm, &err) < 0 ||
        ((cfg.flags & LV_VM_F_SECCOMP) && lv_seccomp_install(LV_SECCOMP_VMM, &err) < 0)) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    if (lv_vm_start(vm, &err) < 0) {
        fprintf(stderr, "lightvm run: %s\n", err.msg);
        goto out;
    }
    sig = wait_vm(vm, sigfd, probe_fd, t0);
    lv_vm_wait(vm, &res);
    lv_console_flush(con); /* an unfinished UTF-8 sequence at the end */
    fflush(stdout);
    rc = report(&res, sig);
    if (o.trace)
        lv_print_trace(stderr, vm, t0, &open_kvm, con);

out:
    if (sigfd >= 0)
        close(sigfd);
    if (probe_fd >= 0)
        close(probe_fd);
    lv_vm_destroy(&vm);
    lv_console_close(&con); /* after the VM, which wrote to it */
    lv_nics_close(o.nic, taps, o.nnics, &nft, &keep_nl); /* after the VM: its I/O thread used them */
    lv_kvm_close(&kvm);
    lv_image_close(&img);
    return rc;
}
