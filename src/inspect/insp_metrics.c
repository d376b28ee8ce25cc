/*
 * insp_metrics.c -- the Prometheus endpoint of a live sensor (insp_metrics.h).
 *
 * The reading thread publishes a whole exposition text twice a second; this
 * thread serves a copy of the latest. The two share only that text, under
 * a mutex, so a scrape never waits for the pipeline and never reads its
 * state. Stopping: event_base_loopbreak from the owner's thread (libevent
 * set up for pthreads first, so that call wakes this loop).
 */
#include "insp_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#define METRICS_MAX_HEADERS 8192
#define METRICS_TIMEOUT_S 5

struct insp_metrics {
    struct event_base *base;
    struct evhttp *http;
    unsigned port;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* guards text, len */
    char *text;
    size_t len;
};

static void answer(struct evhttp_request *req, void *arg) {
    insp_metrics *m = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_send_error(req, 405, "only GET");
        return;
    }
    const char *uri = evhttp_request_get_uri(req);
    size_t n = strcspn(uri, "?");
    if (n != 8 || memcmp(uri, "/metrics", 8) != 0) {
        evhttp_send_error(req, 404, "only /metrics");
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    pthread_mutex_lock(&m->lock);
    int rc = m->text ? evbuffer_add(body, m->text, m->len) : -1;
    pthread_mutex_unlock(&m->lock);
    if (rc != 0) {
        evbuffer_free(body);
        evhttp_send_error(req, 503, "no figures yet");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", body);
    evbuffer_free(body);
}

static void *serve(void *arg) {
    insp_metrics *m = arg;
    event_base_dispatch(m->base);
    return NULL;
}

/* host and port of "ADDR:PORT" / "[V6]:PORT" / ":PORT". */
static fs_code parse_listen(const char *spec, char *host, size_t hn, unsigned *port, fs_err *e) {
    const char *colon = strrchr(spec, ':');
    uint64_t p;
    if (!colon || !fs_str_to_u64(fs_str_make(colon + 1, strlen(colon + 1)), 65535, &p))
        return fs_fail(e, FS_ERR_USAGE, "--metrics '%s': expected ADDR:PORT, e.g. 127.0.0.1:9438", spec);
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hn) return fs_fail(e, FS_ERR_USAGE, "--metrics '%s': address too long", spec);
    memcpy(host, h, hl);
    host[hl] = '\0';
    fs_addr a;
    if (!hl) snprintf(host, hn, "0.0.0.0");
    else if (!fs_addr_parse(host, &a))
        return fs_fail(e, FS_ERR_USAGE, "--metrics '%s': '%s' is not an IPv4/IPv6 address", spec, host);
    *port = (unsigned)p;
    return FS_OK;
}

fs_code insp_metrics_start(const char *listen, insp_metrics **out, fs_err *e) {
    char host[64];
    unsigned port;
    *out = NULL;
    fs_code rc = parse_listen(listen, host, sizeof host, &port, e);
    if (rc != FS_OK) return rc;
    if (evthread_use_pthreads() != 0) return fs_fail(e, FS_ERR_INTERNAL, "libevent: no pthreads support");
    insp_metrics *m = calloc(1, sizeof *m);
    if (!m) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    m->base = event_base_new();
    m->http = m->base ? evhttp_new(m->base) : NULL;
    if (!m->http) {
        insp_metrics_stop(m);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory (--metrics)");
    }
    evhttp_set_gencb(m->http, answer, m);
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
    evhttp_set_max_body_size(m->http, 0);
    evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
    if (!bound) {
        int err = errno;
        insp_metrics_stop(m);
        return fs_fail(e, FS_ERR_IO, "--metrics %s: cannot listen: %s", listen, strerror(err));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0)
        m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    if (pthread_create(&m->thread, NULL, serve, m) != 0) {
        insp_metrics_stop(m);
        return fs_fail(e, FS_ERR_INTERNAL, "--metrics: cannot start its thread");
    }
    m->running = true;
    *out = m;
    return FS_OK;
}

unsigned insp_metrics_port(const insp_metrics *m) { return m->port; }

bool insp_metrics_publish(insp_metrics *m, const char *text, size_t len) {
    char *copy = malloc(len ? len : 1);
    if (!copy) return false;
    memcpy(copy, text, len);
    pthread_mutex_lock(&m->lock);
    char *old = m->text;
    m->text = copy;
    m->len = len;
    pthread_mutex_unlock(&m->lock);
    free(old);
    return true;
}

void insp_metrics_stop(insp_metrics *m) {
    if (!m) return;
    if (m->running) {
        event_base_loopbreak(m->base);
        pthread_join(m->thread, NULL);
    }
    if (m->http) evhttp_free(m->http);
    if (m->base) event_base_free(m->base);
    pthread_mutex_destroy(&m->lock);
    free(m->text);
    free(m);
}
