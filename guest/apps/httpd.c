/*
 * httpd: a tiny HTTP/1.0 responder on TCP port 80. Whatever the request
 * (once its header has ended, or 1 KiB has arrived), the reply is 200
 * with a short text body, and the connection is closed.
 */
#include "lvnet.h"
#include "lvrt.h"
#include "lwip/tcp.h"

const char *const lvrt_app_name = "httpd";

#define HTTP_PORT 80
#define REQ_MAX 1024

static const char reply[] = "HTTP/1.0 200 OK\r\n"
                            "Content-Type: text/plain\r\n"
                            "Content-Length: 19\r\n"
                            "Connection: close\r\n"
                            "\r\n"
                            "hello from lightvm\n";

/* Per connection: the last 3 bytes seen (to find "\r\n\r\n" across
 * segments) and the bytes so far. MEMP_NUM_TCP_PCB bounds them. */
struct conn {
    int used;
    char tail[4];
    unsigned seen;
    int answered;
};

static struct conn conns[8];

static struct conn *conn_new(void)
{
    for (unsigned i = 0; i < sizeof(conns) / sizeof(conns[0]); i++)
        if (!conns[i].used) {
            conns[i].used = 1;
            return &conns[i];
        }
    return NULL;
}

static void conn_free(struct conn *c)
{
    if (c)
        memset(c, 0, sizeof(*c));
}

/* 1 once the request header has ended. */
static int feed(struct conn *c, const struct pbuf *p)
{
    for (const struct pbuf *q = p; q; q = q->next) {
        const char *b = q->payload;
        for (u16_t i = 0; i < q->len; i++) {
            memmove(c->tail, c->tail + 1, 3);
            c->tail[3] = b[i];
            c->seen++;
            if (!memcmp(c->tail, "\r\n\r\n", 4) || c->seen >= REQ_MAX)
                return 1;
        }
    }
    return 0;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct conn *c = arg;

    if (!p || err != ERR_OK) { /* peer closed (or an error): close too */
        if (p)
            pbuf_free(p);
        tcp_arg(pcb, NULL);
        conn_free(c);
        if (tcp_close(pcb) != ERR_OK) {
            tcp_abort(pcb);
            return ERR_ABRT;
        }
        return ERR_OK;
    }
    tcp_recved(pcb, p->tot_len);
    int done = !c->answered && feed(c, p);
    pbuf_free(p);
    if (!done)
        return ERR_OK;
    c->answered = 1;
    if (tcp_write(pcb, reply, sizeof(reply) - 1, 0) != ERR_OK || tcp_close(pcb) != ERR_OK) {
        tcp_arg(pcb, NULL);
        conn_free(c);
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    conn_free(c);
    return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    (void)err;
    conn_free(arg); /* the pcb is already gone */
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct conn *c;

    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    c = conn_new();
    if (!c) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_err(pcb, on_err);
    return ERR_OK;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (lvnet_start() <= 0 || lvnet_listen_tcp(HTTP_PORT, on_accept) < 0)
        return 1;
    lvnet_loop();
}
