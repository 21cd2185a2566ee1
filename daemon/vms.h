/* vms.h: lightvmd's table of VMs, rebuilt from $RUNDIR/vms at start (vms.c). */
#ifndef LIGHTVMD_VMS_H
#define LIGHTVMD_VMS_H

#include <sys/types.h>

#include "daemon.h"
#include "lightvm/antispoof.h"

struct lvd_vm {
    char name[LV_NAME_MAX];
    long id;
    pid_t pid;
    int pidfd;          /* owned; -1 when crashed or unknown */
    int is_child;       /* spawned by this daemon (waitpid gives its status) */
    int crashed;
    char reason[256];   /* why, when crashed */
    json_t *info;       /* last VM description (docs/protocol.md), owned */
    int ifindex[8];     /* its taps, whose antispoof rules the daemon removes */
    unsigned nifindex;  /* when it forgets the VM or sees it crash */
};

struct lvd_vms {
    struct lvd_vm **v; /* owned */
    unsigned n, cap;
    long next_id;
    struct lv_nft *nft; /* borrowed: removes the VMs' antispoof rules; may be NULL */
};

struct lvd_vm *lvd_vms_find(struct lvd_vms *t, const char *name);
/* Adds a record (the table owns it); NULL when out of memory. */
struct lvd_vm *lvd_vms_add(struct lvd_vms *t, const char *name, long id);
void lvd_vms_remove(struct lvd_vms *t, struct lvd_vm *vm);
void lvd_vms_free(struct lvd_vms *t);

/* Records that (vm)'s process is gone: a normal end removed its
 * directory (the record goes: returns 1); otherwise it is crashed, with
 * (why) unless the VM process wrote its own reason (returns 0). */
int lvd_vm_gone(struct lvd_vms *t, struct lvd_vm *vm, const char *rundir, const char *why);

/* Scans $RUNDIR/vms: asks each live VM process for its description and
 * records the rest as crashed. A VM process of another VM protocol
 * version is left running and not recorded (one line on stderr says so).
 * Returns the number of VMs found (those too). */
int lvd_vms_adopt(struct lvd_vms *t, const char *rundir);

/* The VM's description with a fresh uptime and state (new reference). */
json_t *lvd_vm_json(const struct lvd_vm *vm);

#endif
