/* cli.h: the pieces of the `lightvm` command shared between its files. */
#ifndef LIGHTVM_CLI_H
#define LIGHTVM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "lightvm/vm.h"

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

/* Parses a memory size: a number with an optional K, M or G suffix
 * (binary units); a bare number means MiB. Returns 0 or -EINVAL. */
int lv_parse_size(const char *s, uint64_t *bytes);

/* Prints the machine-readable --trace lines of a finished VM to (f);
 * (t0) is when the command started, (open_kvm) the /dev/kvm open span. */
void lv_print_trace(FILE *f, const struct lv_vm *vm, uint64_t t0, const struct lv_span *open_kvm);

#endif
