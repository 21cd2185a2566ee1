/*
 * migvm.c: the KVM migration tests' shared helpers (see migvm.h).
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lightvm/elf.h"
#include "lvtest.h"
#include "migvm.h"

#define CLIENT_MAX 2000

int migvm_open(struct migvm *m, const char *test, int argc, char **argv)
{
    struct lv_err e = {""};
    struct lvt_bg tool;
    char why[256];
    const char *ip_bin = lvt_find_exe((const char *const[]){"/usr/sbin/ip", "/sbin/ip",
                                                            "/usr/bin/ip", "/bin/ip", NULL});

    lvt_require_kvm();
    lvt_require_root(test, "a network namespace and taps");
    if (argc < 2 || !ip_bin) {
        fprintf(stderr, "FAIL: usage: %s GUEST_DIR (and ip(8))\n", test);
        return 1;
    }
    snprintf(m->guest_dir, sizeof(m->guest_dir), "%s", argv[1]);
    if (lvt_private_netns(why, sizeof(why)) < 0 || lv_kvm_open(&m->kvm, &e) < 0 ||
        lv_nl_open(&m->nl, &e) < 0 || lv_bridge_ensure(m->nl, m->bridge, 1, &e) < 0) {
        fprintf(stderr, "FAIL: setup: %s %s\n", why, e.msg);
        return 1;
    }
    CHECK(lvt_ip(&tool, ip_bin, "addr add %s/24 dev %s", m->gw, m->bridge) == 0,
          "bridge address");
    return 0;
}

void migvm_close(struct migvm *m)
{
    lv_nl_close(&m->nl);
    lv_kvm_close(&m->kvm);
}

/* ---- VMs ---- */

int box_make(struct migvm *m, struct box *b, const struct lv_vm_nic *id, uint64_t mem,
             int shell)
{
    struct lv_err e = {""};
    struct lv_vm_nic n = {0};
    struct lv_vm_config cfg = {.mem_size = mem, .console_fd = 2, .nnics = 1, .nics = &n};

    b->vm = NULL;
    b->tap.fd = -1;
    if (lv_vif_open(m->nl, m->bridge, 1, &b->tap, &e) < 0) {
        CHECK(0, "tap: %s", e.msg);
        return -1;
    }
    if (id)
        n = *id;
    n.tap_fd = b->tap.fd;
    int rc = lv_vm_create(&b->vm, &m->kvm, &cfg, &e);
    if (!rc && shell)
        rc = lv_vm_spawn_threads(b->vm, &e);
    if (!rc && shell)
        rc = lv_vm_warm(b->vm, 1u << 20, &e);
    CHECK(rc == 0, "create: %s", e.msg);
    return rc;
}

void box_free(struct box *b)
{
    lv_vm_destroy(&b->vm);
    CHECK(b->vm == NULL, "destroy left the pointer");
    lv_tap_close(&b->tap);
}

int boot(struct migvm *m, struct box *b, const char *app, const char *cmdline)
{
    struct lv_vm_nic id = {.mac = {0x02, 0x10, 0, 0, 0, 7},
                           .ip = lvt_ip4(m->vm_ip),
                           .netmask = lvt_ip4("255.255.255.0"),
                           .gw = lvt_ip4(m->gw)};
    struct lv_image im;
    struct lv_err e = {""};
    char path[PATH_MAX + 32];
    int rc = box_make(m, b, &id, m->mem, 0);

    snprintf(path, sizeof(path), "%s/%s.elf", m->guest_dir, app);
    if (!rc)
        rc = lv_vm_set_cmdline(b->vm, cmdline, &e);
    if (!rc && !(rc = lv_image_open(path, &im, &e))) {
        rc = lv_vm_load_image(b->vm, &im, &e);
        lv_image_close(&im);
    }
    if (!rc)
        rc = lv_vm_start(b->vm, &e);
    CHECK(rc == 0, "boot %s: %s", app, e.msg);
    return rc;
}

void check_stopped(struct box *src)
{
    struct pollfd pf = {lv_vm_done_fd(src->vm), POLLIN, 0};
    struct lv_vm_result res;

    CHECK(poll(&pf, 1, 10000) == 1, "the source has not stopped after its migration");
    lv_vm_wait(src->vm, &res);
    CHECK(res.outcome == LV_VM_STOPPED, "the source's outcome %d (%s)", res.outcome, res.msg);
}

/* ---- asking over UDP ---- */

int recv_wait(int fd, char *buf, size_t cap, int ms)
{
    struct pollfd pf = {fd, POLLIN, 0};

    if (ms <= 0 || poll(&pf, 1, ms) != 1)
        return 0;
    ssize_t n = recv(fd, buf, cap - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return 1;
}

int send_req(const struct migvm *m, int fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};

    sa.sin_addr.s_addr = lvt_ip4(m->vm_ip);
    return sendto(fd, "?", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) == 1;
}

int ask_once(const struct migvm *m, int fd, char *buf, size_t cap, int ms)
{
    return send_req(m, fd) && recv_wait(fd, buf, cap, ms);
}

int ask(const struct migvm *m, int tries, struct lvt_reply *r)
{
    return lvt_counter_ask(m->vm_ip, tries, r) > 0;
}

/* One request: 1 if a reply with a count past c->last came (within two
 * sends; late replies to earlier requests are skipped). */
static int client_request(struct client *c, int fd)
{
    char buf[256];

    for (int t = 0; t < 2; t++) { /* one retry */
        uint64_t end = lv_now_ns() + (t ? 8000u : 3000u) * 1000000ull;
        c->retried += t;
        if (!send_req(c->m, fd))
            continue;
        for (int k = 0; k < 50; k++) { /* replies until ours */
            struct lvt_reply r;
            uint64_t now = lv_now_ns();
            if (now >= end || !recv_wait(fd, buf, sizeof(buf), (int)((end - now) / 1000000u) + 1))
                break;
            if (!lvt_counter_parse(buf, &r))
                continue;
            if (r.count <= c->last) {
                c->disorder += r.count < c->last;
                continue;
            }
            if (!c->first)
                c->first = r.count;
            c->last = r.count;
            c->clock_back += r.uptime_ms < c->last_uptime_ms;
            c->last_uptime_ms = r.uptime_ms;
            return 1;
        }
    }
    return 0;
}

void *client_main(void *arg)
{
    struct client *c = arg;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), after = 0;

    for (int i = 0; fd >= 0 && i < CLIENT_MAX && after < 5; i++) {
        if (atomic_load(&c->done))
            after++;
        c->asked++;
        c->answered += client_request(c, fd);
        lvt_sleep_ms(20);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* ---- the source's end ---- */

static void *send_main(void *arg)
{
    struct sender *s = arg;

    s->rc = s->send(s->vm, s->fd, &s->o, &s->st, &s->e);
    return NULL;
}

int start_sender(struct sender *s, migvm_send_fn *send, struct lv_vm *vm, int fd,
                 int no_precopy, int ack_ms)
{
    memset(s, 0, sizeof(*s));
    s->send = send;
    s->vm = vm;
    s->fd = fd;
    s->o.io_timeout_ms = IO_MS;
    s->o.ack_timeout_ms = ack_ms;
    s->o.no_precopy = no_precopy;
    return pthread_create(&s->t, NULL, send_main, s);
}

void fwd_start(int s1[2], int s2[2], int *a, int *b, pthread_t *t, void *(*fn)(void *),
               void *arg)
{
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s1) == 0 &&
              socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s2) == 0, "socketpairs");
    *a = s1[1];
    *b = s2[0];
    CHECK(pthread_create(t, NULL, fn, arg) == 0, "forwarder");
}
