/* clone_mem.c: bench_clone's memory phase: N clones, N clones with
 * --copy, N pool boots and N idle crun containers running, the sum of their Pss and the
 * MemAvailable drop per one (bench_clone.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_clone.h"
#include "procfs.h"
#include "stats.h"

static int ncrun; /* crun containers made (lvclone-PID-0..) */

void crun_delete_all(void)
{
    char cmd[128];

    for (int i = 0; i < ncrun; i++) {
        snprintf(cmd, sizeof(cmd), "crun delete -f lvclone-%d-%d >/dev/null 2>&1", (int)getpid(),
                 i);
        bench_sh(cmd);
    }
    ncrun = 0;
}

/* (answered < 0: containers, not asked) */
static void print_mem(const char *what, int n, int answered, long pss, int npss, long m0,
                      long m1)
{
    char a[32] = "";

    if (answered >= 0)
        snprintf(a, sizeof(a), " (%d answered)", answered);
    printf("  %-24s %d running%s: Pss %.0f KiB each (%d processes), MemAvailable drop "
           "%.0f KiB each\n", what, n, a, (double)pss / n, npss, (double)(m0 - m1) / n);
}

/* 4: N VMs of (kind) running (0 clones, 1 clones with --copy, 2 pool
 * boots): memory per VM. */
static void memory_of(int kind, int n)
{
    static const char *const what[3] = {"clones (create --from):", "clones (--copy):",
                                        "pool boots:"};
    pid_t *pids = calloc((size_t)n, sizeof(pid_t));
    char *ok = calloc((size_t)n, 1), name[24], why[LV_ERR_MAX], msg[LV_ERR_MAX + 64];
    char prefix = "nom"[kind];
    long pss = 0;
    int b, j, npss = 0;

    if (!pids || !ok)
        die("out of memory");
    settle(1);
    long m0 = bench_meminfo_kb("MemAvailable:");
    for (int k = 0; k < n && !interrupted; k++) {
        snprintf(name, sizeof(name), "%c%d", prefix, k);
        place(k, &b, &j);
        json_t *rep = call(kind == 2 ? boot_req(name, b, j) : clone_req(name, b, j, kind == 1),
                           CALL_MS, why, sizeof(why));
        if (!rep) {
            snprintf(msg, sizeof(msg), "memory: create %s: %s", name, why);
            die(msg);
        }
        pids[k] = rep_pid(rep);
        json_decref(rep);
    }
    if (interrupted)
        die("interrupted");
    int got = ask_all(n, ok);
    pool_wait_full(60000);
    sleep(1);
    long m1 = bench_meminfo_kb("MemAvailable:");
    for (int k = 0; k < n; k++) {
        long p = bench_pss_kb(pids[k]);
        if (p >= 0)
            pss += p, npss++;
    }
    print_mem(what[kind], n, got, pss, npss, m0, m1);
    destroy_bulk(prefix, n);
    free(pids);
    free(ok);
}

/* The crun peer: N idle containers (busybox sleep). */
static void memory_crun(int n)
{
    char bundle[96], cmd[1024], cfg[128];
    long pss = 0;
    int npss = 0;
    json_t *c;

    if (bench_sh("crun --version >/dev/null 2>&1")) {
        printf("  crun: not installed: no container peer\n");
        return;
    }
    snprintf(bundle, sizeof(bundle), "%s/crun", tmpdir);
    snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/rootfs/bin' && cp /bin/busybox '%s/rootfs/bin/' && "
             "ln -s busybox '%s/rootfs/bin/sleep' && cd '%s' && crun spec 2>>'%s'", bundle,
             bundle, bundle, bundle, logpath);
    if (bench_sh(cmd) || !(c = json_load_file(cfg, 0, NULL))) {
        printf("  crun: cannot make a bundle (crun spec, /bin/busybox from busybox-static): "
               "no container peer\n");
        return;
    }
    json_t *proc = json_object_get(c, "process");
    json_object_set_new(proc, "args", json_pack("[ss]", "/bin/sleep", "1000000"));
    json_object_set_new(proc, "terminal", json_false());
    int rc = json_dump_file(c, cfg, JSON_INDENT(1));
    json_decref(c);
    if (rc)
        die("cannot write the crun bundle's config.json");
    settle(1);
    long m0 = bench_meminfo_kb("MemAvailable:");
    for (int i = 0; i < n && !interrupted; i++) {
        snprintf(cmd, sizeof(cmd), "crun --cgroup-manager=disabled run -d -b '%s' "
                 "lvclone-%d-%d </dev/null >/dev/null 2>>'%s'", bundle, (int)getpid(), i, logpath);
        ncrun = i + 1; /* (deleted at the end even if this run half failed) */
        if (bench_sh(cmd)) {
            printf("  crun: run %d failed (see the log): no container peer\n", i + 1);
            crun_delete_all();
            return;
        }
    }
    sleep(1);
    long m1 = bench_meminfo_kb("MemAvailable:");
    for (int i = 0; i < ncrun; i++) {
        snprintf(cmd, sizeof(cmd), "crun state lvclone-%d-%d 2>/dev/null", (int)getpid(), i);
        FILE *f = popen(cmd, "r");
        json_t *st = f ? json_loadf(f, 0, NULL) : NULL;
        pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
        long p = st ? bench_pss_kb(pid) : -1;
        if (p >= 0)
            pss += p, npss++;
        json_decref(st);
        if (f)
            pclose(f);
    }
    print_mem("crun (busybox sleep):", n, -1, pss, npss, m0, m1);
    crun_delete_all();
}

void phase_memory(int n)
{
    printf("\nmemory: %d VMs at once (Pss: the sum of their processes' smaps_rollup Pss / N; "
           "MemAvailable: before - after, / N, the pool full each time)\n", n);
    for (int kind = 0; kind < 3; kind++)
        memory_of(kind, n);
    memory_crun(n);
}
