/* main.c: `lightvm`, a thin command over the lightvm library. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define LIGHTVM_VERSION "0.1.0"

static const struct lv_cmd commands[] = {
    {"run", cmd_run, "boot a unikernel in the foreground (no daemon)"},
    {"create", cmd_ctl, "create a VM in lightvmd from a configuration file"},
    {"list", cmd_ctl, "list lightvmd's VMs"},
    {"info", cmd_ctl, "describe one VM"},
    {"pause", cmd_ctl, "pause a VM"},
    {"unpause", cmd_ctl, "resume a paused VM"},
    {"shutdown", cmd_ctl, "shut a VM down (destroyed after a timeout)"},
    {"destroy", cmd_ctl, "end a VM at once, or remove a crashed one"},
    {"console", cmd_ctl, "print a VM's console"},
    {"save", cmd_ctl, "save a VM into a snapshot (and stop it, unless --keep)"},
    {"restore", cmd_ctl, "restore a VM from a snapshot"},
    {"migrate", cmd_ctl, "move a running VM, live, to another lightvmd"},
    {"pool", cmd_ctl, "show lightvmd's pools of prepared VMs"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: lightvm COMMAND [ARGS]\n\n"
               "lightvm runs unikernels as KVM virtual machines that start in milliseconds.\n\n"
               "commands (all but run talk to lightvmd, the daemon):\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'lightvm COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LV_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lightvm %s\n", LIGHTVM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lightvm: unknown command '%s' (try 'lightvm --help')\n", argv[1]);
    return LV_EXIT_USAGE;
}
