/* cli.h: the pieces of the `lightvm` command shared between its files. */
#ifndef LIGHTVM_CLI_H
#define LIGHTVM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "lightvm/antispoof.h"
#include "lightvm/build.h"
#include "lightvm/net.h"
#include "lightvm/vm.h"
#include "lightvm/vmspec.h"

/* Exit codes of the command (a guest's own status passes through as is). */
#define LV_EXIT_HOST_ERROR 1 /* bad image, no KVM, out of resources */
#define LV_EXIT_USAGE 2      /* bad command line */
#define LV_EXIT_VM_FAILED 125 /* the VM crashed or was stopped by the VMM */

struct lv_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

int cmd_run(int argc, char **argv);
/* cmd_ctl.c: the verbs that talk to lightvmd (create, list, info, destroy,
 * pause, unpause, shutdown, console, pool); argv[0] names the verb. */
int cmd_ctl(int argc, char **argv);

/* Parses a memory size: a number with an optional K, M or G suffix
 * (binary units); a bare number means MiB. Returns 0 or -EINVAL. */
int lv_parse_size(const char *s, uint64_t *bytes);

/* Prints the machine-readable --trace lines of a finished VM to (f);
 * (t0) is when the command started, (open_kvm) the /dev/kvm open span,
 * (con) its console (or NULL). */
struct lv_console;
void lv_print_trace(FILE *f, struct lv_vm *vm, uint64_t t0, const struct lv_span *open_kvm,
                    const struct lv_console *con);

/* run_vm.c: the VM process of `lightvm run`, forked by cmd_run() once
 * the host side is made. It builds the VM from (r) (lightvm/build.h:
 * prepare, then execute), enters the jail (lightvm/jail.h) when (jail),
 * runs the guest under its seccomp filters (LV_VM_F_SECCOMP) and returns
 * the command's exit status. Everything in (r) is borrowed except (img),
 * which it closes. */
struct lv_image;
struct lv_run_vm {
    struct lv_image *img;   /* checked for the spec's memory; read into guest RAM, closed */
    const struct lv_vm_spec *spec; /* memory, cmdline, vifs (their MACs chosen) */
    const int *tap_fds;     /* spec->nvifs taps, open in the command too */
    unsigned flags;         /* LV_VM_F_* */
    struct lv_probe probe;  /* port 0: no probe */
    int probe_fd;           /* the --wait-net socket, or -1 */
    int parent_fd;          /* a pipe's read end whose writer is the command: when
                             * it closes (the command died), the VM is stopped */
    int jail, raw, trace;
    uint64_t t0;            /* when the command started */
};
int lv_run_vm(const struct lv_run_vm *r);

/* netopt.c: the taps of (spec)'s vifs (`lightvm run --net`, or a --config
 * file's vifs). Opens a tap on its bridge for each (made first when
 * (create)[i], from --net's "create") and installs the taps' antispoof
 * rules (lightvm/antispoof.h) in one transaction, before any guest runs;
 * every vif must have its MAC (lv_vm_spec_choose_macs). A MAC given that
 * is already on its bridge is refused. The caller owns (taps) and (*nft)
 * and releases both with lv_nics_close() (also on failure: then nothing
 * is open or installed). */
int lv_nics_open(const struct lv_vm_spec *spec, const int *create, struct lv_tap *taps,
                 struct lv_nft **nft, struct lv_nl **keep_nl, struct lv_err *err);
/* Removes the taps' rules, closes (*nft), then the taps; a bridge this
 * run asked to create ((create)[i]) is removed, through (*keep_nl), if
 * lightvm made it and nothing is attached to it any more; closes
 * (*keep_nl). */
void lv_nics_close(const struct lv_vm_spec *spec, const int *create, struct lv_tap *taps,
                   struct lv_nft **nft, struct lv_nl **keep_nl);

/* --wait-net ADDR and --probe ADDR:PORT, shared by run and create. */
struct lv_probe_opt {
    struct lv_probe probe; /* --probe's target; --wait-net's address (port 0 until
                            * lv_probe_listen) */
    int wait_net;
};
/* Option (c) ('W': --wait-net, 'p': --probe) with (arg) into (o); the two
 * exclude each other. 0, or -1 after printing "lightvm VERB: ...". */
int lv_probe_opt(const char *verb, int c, const char *arg, struct lv_probe_opt *o);

/* --wait-net ADDR: a UDP socket bound to ADDR and a free port, stored in
 * (*port) in network byte order. Returns the fd (caller closes) or
 * -errno with (err). */
int lv_probe_listen(uint32_t ip, uint16_t *port, struct lv_err *err);

/* ctl_print.c: what the lightvmd verbs print from a reply (which stays
 * the caller's). */
void lv_ctl_print_json(FILE *f, const json_t *j);
void lv_ctl_print_vm_line(FILE *f, const json_t *reply); /* NAME id=.. pid=.. pool=.. */
void lv_ctl_print_create_trace(FILE *f, const json_t *reply, double client_us);
void lv_ctl_print_list(FILE *f, const json_t *vms);
void lv_ctl_print_info(FILE *f, const json_t *vm);
void lv_ctl_print_pool(FILE *f, const json_t *flavors);

#endif
