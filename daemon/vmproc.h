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
    uint32_t bridge_ips[LVD_BRIDGE_IPS]; /* its IPv4 addresses, read at prepare (for
                                  * lightvmd's probe-MAC lookup at exec) */
    int nbridge_ips;
    pid_t pid;                   /* this process's pid in the host's PID namespace (it is
                                  * 1 in its own) */
    int dir_fd;                  /* its directory (shells/PID, renamed to vms/NAME by
                                  * lightvmd before the exec), O_RDONLY, owned; after the
                                  * jail the only way to its files */
    int have_shell_dir;          /* made at prepare: emptied at the end if never executed */
    int jailed;                  /* lv_jail_enter() done: no paths, no root */
    struct lv_kvm kvm;
    struct lv_tap taps[LV_VM_MAX_NICS];
    struct lv_vm *vm;
    struct lv_ctl_conn daemon;   /* the shell socketpair, until executed */
    /* after execute */
    struct lv_vm_spec spec;
    long id;
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
 * the VM's directory and socket, then the jail (lightvm/jail.h), then the
 * threads, waiting; fills p->prepare_trace. */
int vmp_prepare(struct vmproc *p, struct lv_err *err);
/* Execute the exec message (msg): the VM's identity, then its image, its
 * snapshot or an incoming migration, then the start. (*trace) gets the
 * execute phases (new reference). */
int vmp_execute(struct vmproc *p, json_t *msg, json_t **trace, struct lv_err *err);
/* The last step of every execute: the vCPU goes (lv_vm_start), now is
 * the VM's start (info's uptime), (*trace) a new object with
 * "start_threads". */
int vmp_start(struct vmproc *p, json_t **trace, struct lv_err *err);
/* vmproc.c: stops the VM for good (destroy, a save without keep, a
 * migration done): the guest stopped, its name free, *quit set. */
void vmp_end(struct vmproc *p, int *quit);

/* vmmigrate.c: the source's "migrate" request (the connection passed with
 * it on (c)): the reply; on success the VM has ended (*quit). */
json_t *vmp_migrate_out(struct vmproc *p, struct lv_ctl_conn *c, json_t *req, int *quit);
/* The destination's execute of an incoming migration (the connection
 * passed with the exec): its pages copied, or (local) its RAM's memfd
 * passed. */
int vmp_migrate_in(struct vmproc *p, int local, double t0, json_t **trace, struct lv_err *err);

#endif
