/* vmproc.h: a VM process's state, shared by shell.c (prepare, execute)
 * and vmproc.c (serving its socket). */
#ifndef LIGHTVMD_VMPROC_H
#define LIGHTVMD_VMPROC_H

#include "daemon.h"
#include "lightvm/console.h"
#include "lightvm/net.h"
#include "lightvm/vm.h"

#define MAX_CONNS 8

struct vmproc {
    const char *rundir;
    uint64_t mem_mb;
    unsigned nnics;
    const char *bridge;          /* NIC 0 is attached to it at prepare (or NULL) */
    uint32_t bridge_ips[8];      /* its IPv4 addresses, read at prepare */
    int nbridge_ips;
    int have_shell_dir;          /* $RUNDIR/shells/PID exists (until execute renames it) */
    int have_vm_dir;             /* $RUNDIR/vms/NAME is ours (after the rename) */
    struct lv_kvm kvm;
    struct lv_tap taps[LV_VM_MAX_NICS];
    struct lv_nl *nl;            /* for attaching the taps at execute */
    struct lv_vm *vm;
    struct lv_ctl_conn daemon;   /* the shell socketpair, until executed */
    /* after execute */
    struct lv_vm_spec spec;
    long id;
    uint32_t probe_ip;
    uint64_t console_cap;        /* bytes (--console-cap) */
    struct lv_console *console;  /* the capped log in the VM's directory, owned */
    int ctl_fd, sig_fd;
    struct lv_ctl_conn conns[MAX_CONNS];
    double started_wall;         /* CLOCK_REALTIME seconds at start */
    double prepared_us;          /* lvd_now_us() when ready was sent */
    json_t *prepare_trace;
    json_t *spec_json;           /* the exec's spec (MACs filled in), for spec.json */
    int ending;                  /* destroy/shutdown asked: a normal end */
};

/* Prepare: KVM VM, memory, vCPU, devices, taps (on p->bridge when set),
 * threads waiting; fills p->prepare_trace. */
int vmp_prepare(struct vmproc *p, struct lv_err *err);
/* Execute the exec message (msg): the VM's identity, image, start.
 * (*trace) gets the execute phases (new reference). */
int vmp_execute(struct vmproc *p, json_t *msg, json_t **trace, struct lv_err *err);

#endif
