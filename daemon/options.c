/*
 * options.c: lightvmd's command line: its --help and the options that
 * fill struct lvd_daemon before setup.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lightvmd.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lightvmd [--rundir DIR] [--pool MEM_MB,NICS,COUNT[,BRIDGE]]... [--max-vms N]\n"
            "                [--console-cap SIZE] [--bridges LIST]\n"
            "                [--vm-overhead MIB] [--vm-cpu-max PERCENT]\n"
            "                [--migrate-listen ADDR:PORT --migrate-token-file FILE]\n\n"
            "The lightvm daemon: keeps COUNT prepared VM shells of each flavor (guest\n"
            "memory in MiB, number of NICs) ready, so `lightvm create` only does the\n"
            "VM-specific rest. Runs in the foreground; logs to stderr. VMs outlive it:\n"
            "a restarted lightvmd adopts the VMs it finds in DIR/vms.\n\n"
            "  -r, --rundir DIR    runtime directory (default $LIGHTVM_RUNDIR or %s)\n"
            "  -p, --pool M,N,C[,B] keep C shells of M MiB with N NICs (repeatable; without\n"
            "                      it every create prepares a VM on demand); with B their\n"
            "                      first NIC is already on bridge B (VMs whose first vif\n"
            "                      is on B take those first)\n"
            "      --max-vms N     refuse creates beyond N VMs (default 10000)\n"
            "      --console-cap SIZE  keep at most SIZE bytes of each VM's console (K, M\n"
            "                      or G suffix; default 128K): the newest output, the\n"
            "                      oldest is overwritten; 'lightvm info' counts the rest\n"
            "      --bridges LIST  the bridges VMs may join: names or NAME* prefixes, comma-\n"
            "                      separated (repeatable; default lv*); a --pool bridge\n"
            "                      is always allowed. lightvmd changes no bridge it did\n"
            "                      not make: give yours a fixed MAC (ip link set BR\n"
            "                      address ...)\n"
            "      --vm-overhead MIB  each VM process may use its guest RAM, 1/64 of that\n"
            "                      for page tables, and MIB (default %u); beyond that the\n"
            "                      kernel kills it ('lightvm info': over its memory limit)\n"
            "      --vm-cpu-max PERCENT  each VM process may use at most PERCENT of one CPU\n"
            "                      (1..%u; default no cap). Every VM has the same CPU\n"
            "                      share; shells in the pool have an idle one\n"
            "      --migrate-listen ADDR:PORT  take VMs migrated here ('lightvm migrate')\n"
            "                      on this TCP address; a peer must present the token.\n"
            "                      unix:PATH: from another lightvmd of this host (of the\n"
            "                      same user), which passes the VM's memory instead of\n"
            "                      copying it (a lightvmd upgrade without stopping VMs)\n"
            "      --migrate-token-file FILE  that token: 16..256 printable characters in\n"
            "                      a file only its owner may read (the sender's\n"
            "                      'lightvm migrate --token-file' names the same)\n"
            "  -h, --help          this text\n\n"
            "SIGTERM or SIGINT stops the daemon (its shells go with it, VMs stay).\n",
            LV_RUNDIR_DEFAULT, LVD_VM_OVERHEAD_MB_DEFAULT, LV_CG_CPU_MAX_PCT);
}

/* --pool MEM_MB,NICS,COUNT[,BRIDGE] */
static int parse_pool(struct lvd_pool *pl, const char *arg)
{
    char buf[64], *f[5], *save = NULL, *end;
    unsigned long v[3];
    struct lv_err err = {""};
    int n = 0;

    snprintf(buf, sizeof(buf), "%s", arg);
    for (char *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
        f[n++] = t;
    for (int i = 0; i < 3 && i < n; i++) {
        v[i] = strtoul(f[i], &end, 10);
        if (*end || !*f[i])
            n = 0;
    }
    if ((n != 3 && n != 4) || strlen(arg) >= sizeof(buf) || v[0] < LV_VM_MEMORY_MIN ||
        v[0] > LV_VM_MEMORY_MAX || v[1] > LV_VM_MAX_VIFS) {
        fprintf(stderr, "lightvmd: --pool '%s': want MEM_MB,NICS,COUNT[,BRIDGE] (memory %d..%d, "
                        "NICs 0..%d)\n", arg, LV_VM_MEMORY_MIN, LV_VM_MEMORY_MAX, LV_VM_MAX_VIFS);
        return -1;
    }
    if (lvd_pool_add_flavor(pl, (unsigned)v[0], (unsigned)v[1],
                            v[2] > 100000 ? 100000 : (unsigned)v[2],
                            n == 4 ? f[3] : NULL, &err) < 0) {
        fprintf(stderr, "lightvmd: --pool '%s': %s\n", arg, err.msg);
        return -1;
    }
    return 0;
}

/* --console-cap BYTES[K|M|G] */
static int parse_cap(const char *arg, unsigned long long *cap)
{
    static const char units[] = "KMG";
    const char *u;
    char *end = NULL;
    unsigned long long v = 0;
    unsigned shift = 0;

    errno = 0;
    if (arg[0] >= '0' && arg[0] <= '9')
        v = strtoull(arg, &end, 10);
    if (v && !errno && *end) { /* one unit letter, nothing after it */
        u = strchr(units, toupper((unsigned char)*end));
        shift = u && *u && !end[1] ? 10 * (unsigned)(u - units + 1) : 0;
        v = shift ? v : 0;
    }
    if (errno || v > (LV_CONSOLE_CAP_MAX >> shift))
        v = 0;
    v <<= shift;
    if (v < LV_CONSOLE_CAP_MIN || v > LV_CONSOLE_CAP_MAX) {
        fprintf(stderr, "lightvmd: --console-cap '%s': want %uK .. %lluG (bytes, or with K, M or "
                        "G)\n", arg, LV_CONSOLE_CAP_MIN >> 10, LV_CONSOLE_CAP_MAX >> 30);
        return -1;
    }
    *cap = v;
    return 0;
}

int lvd_options(struct lvd_daemon *d, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rundir", required_argument, NULL, 'r'}, {"pool", required_argument, NULL, 'p'},
        {"max-vms", required_argument, NULL, 'M'}, {"help", no_argument, NULL, 'h'},
        {"console-cap", required_argument, NULL, 'C'},
        {"bridges", required_argument, NULL, 'B'},
        {"vm-overhead", required_argument, NULL, 'O'},
        {"vm-cpu-max", required_argument, NULL, 'U'},
        {"migrate-listen", required_argument, NULL, 'L'},
        {"migrate-token-file", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    struct lv_err err = {""};
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "r:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (snprintf(d->rundir, sizeof(d->rundir), "%s", optarg) >= (int)sizeof(d->rundir) - 64) {
                fprintf(stderr, "lightvmd: --rundir: path too long\n");
                return 2;
            }
            break;
        case 'p':
            if (parse_pool(&d->pool, optarg) < 0)
                return 2;
            break;
        case 'M': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !v || v > 100000) {
                fprintf(stderr, "lightvmd: --max-vms '%s': want 1..100000\n", optarg);
                return 2;
            }
            d->max_vms = (unsigned)v;
            break;
        }
        case 'O': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v > LVD_VM_OVERHEAD_MB_MAX) {
                fprintf(stderr, "lightvmd: --vm-overhead '%s': want 0..%u (MiB)\n", optarg,
                        LVD_VM_OVERHEAD_MB_MAX);
                return 2;
            }
            d->limits.overhead_mb = (unsigned)v;
            break;
        }
        case 'U': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *optarg == '-' || *end || !v || v > LV_CG_CPU_MAX_PCT) {
                fprintf(stderr, "lightvmd: --vm-cpu-max '%s': want 1..%u (percent of one CPU)\n",
                        optarg, LV_CG_CPU_MAX_PCT);
                return 2;
            }
            d->limits.cpu_max_pct = (unsigned)v;
            break;
        }
        case 'C':
            if (parse_cap(optarg, &d->console_cap) < 0)
                return 2;
            break;
        case 'B':
            if (lvd_bridges_add(&d->bridges, optarg, &err) < 0) {
                fprintf(stderr, "lightvmd: %s\n", err.msg);
                return 2;
            }
            break;
        case 'L':
            d->mig_listen = optarg;
            break;
        case 'K':
            d->mig_token_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "lightvmd: unknown option or missing value '%s' (try --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lightvmd: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    if (!d->mig_listen != !d->mig_token_file) {
        fprintf(stderr, "lightvmd: --migrate-listen and --migrate-token-file go together\n");
        return 2;
    }
    if (!d->bridges.n)
        lvd_bridges_add(&d->bridges, LVD_BRIDGES_DEFAULT, NULL);
    for (unsigned i = 0; i < d->pool.nflavors; i++)
        if (d->pool.fl[i].bridge[0] && lvd_bridges_add(&d->bridges, d->pool.fl[i].bridge, &err) < 0) {
            fprintf(stderr, "lightvmd: %s\n", err.msg);
            return 2;
        }
    return -1;
}
