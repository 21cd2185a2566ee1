/* clients.h: lightvmd's control clients (clients.c): each with a bounded
 * output buffer written only when the socket takes it, and at most one
 * request relayed to a VM process at a time, so that no client, and no
 * VM process, can stall the daemon's single-threaded loop. */
#ifndef LIGHTVMD_CLIENTS_H
#define LIGHTVMD_CLIENTS_H

#include "daemon.h"

#define MAX_CLIENTS 64
/* A client's requests are read only while less than this of its replies
 * waits to be written: one that sends and never reads backs up here. */
#define LVD_OUT_PAUSE (64u << 10)
/* A client whose unwritten replies have not shrunk for this long is
 * dropped (its slot is one of MAX_CLIENTS). */
#define LVD_CLIENT_STALL_MS 30000

/* A request relayed to a VM process's socket, waiting for its reply. */
struct lvd_call {
    struct lv_ctl_conn conn;   /* owned; fd -1 when no call is pending */
    char name[LV_NAME_MAX];    /* the VM it is for (the record may go meanwhile) */
    long id;
    char op[16];
    int timeout_ms;
    double deadline_us;        /* lvd_now_us() */
    char *save_path;           /* owned, a save's state file (and its .mem): removed
                                * if the save fails; NULL otherwise */
};

struct lvd_client {
    struct lv_ctl_conn in;     /* requests; in.fd -1 when the slot is free */
    char *out;                 /* owned: replies not yet written */
    size_t out_off, out_len, out_cap;
    double stalled_since_us;   /* backlog not shrinking since (0: none) */
    int eof;                   /* the client closed its side: close once all is written */
    int hup;                   /* it hung up: its fd is no longer polled */
    struct lvd_call call;
};

void lvd_client_init(struct lvd_client *c, int fd);
/* Closes the client, its pending call and frees its buffers. */
void lvd_client_close(struct lvd_client *c);
/* Bytes of replies not yet written. */
size_t lvd_client_backlog(const struct lvd_client *c);
/* Whether the loop should read requests from it now. */
int lvd_client_readable(const struct lvd_client *c);
/* Appends (rep) (stays the caller's) as one line and writes what the
 * socket takes now. 0, or -errno: the client is to be dropped. */
int lvd_client_reply(struct lvd_client *c, const json_t *rep);
/* Writes what the socket takes (non-blocking). 0, or -errno (drop). */
int lvd_client_flush(struct lvd_client *c);

/* Connects to (sock) without blocking and sends (req) (stays the
 * caller's) with (nfds) fds (borrowed; the VM process gets duplicates):
 * the call is pending. 0 or -errno with err. */
int lvd_call_start(struct lvd_call *call, const char *sock, const json_t *req, const int *fds,
                   unsigned nfds, int timeout_ms, struct lv_err *err);
/* Reads what the VM process sent: 1 and (*rep) (new reference) when its
 * reply is complete, 0 when more is needed, -errno with err when the call
 * failed. */
int lvd_call_poll(struct lvd_call *call, json_t **rep, struct lv_err *err);
int lvd_call_pending(const struct lvd_call *call);
void lvd_call_end(struct lvd_call *call);

#endif
