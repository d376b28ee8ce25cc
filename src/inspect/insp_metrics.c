/*
 * insp_metrics.c -- the Prometheus endpoint of a live sensor (insp_metrics.h):
 * the exposition text of the run's figures, and the thread serving it.
 *
 * The reading thread publishes a whole exposition text twice a second; the
 * server's thread serves a copy of the latest. The two share only that
 * text, under a mutex, so a scrape never waits for the pipeline and never
 * reads its state.
 *
 * The server is libmicrohttpd's, in its own thread, for its connection
 * limit: libevent 2.1's evhttp (Debian's) has none, and when connections
 * took every file descriptor its listener spun on accept() failing with
 * EMFILE -- a core at 80 % and a million warnings on stderr in 5 s, with the
 * sensor's own files (a rotated --events, --pcap-out) unopenable. Here at
 * most METRICS_MAX_CONNECTIONS are open (more are closed at once), each
 * idle one for at most METRICS_TIMEOUT_S, its request within
 * METRICS_MEMORY bytes (a larger header section gets 431).
 */
#include "insp_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/fs_net.h"

#define METRICS_MEMORY (16u << 10)   /* per connection: request line and headers (16 KiB, docs/operations.md) */
#define METRICS_TIMEOUT_S 5u
#define METRICS_MAX_CONNECTIONS 32u  /* Prometheus keeps one; a few people with curl */

struct insp_metrics {
    struct MHD_Daemon *daemon;
    unsigned port;
    pthread_mutex_t lock; /* guards text, len */
    char *text;
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype, const char *body,
                              size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r) return MHD_NO; /* no memory: the connection is closed */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result error_reply(struct MHD_Connection *c, unsigned code, const char *text) {
    return reply(c, code, "text/plain; charset=utf-8", text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

/* GET or HEAD /metrics (any query ignored): the latest text. Answered at the
 * first call, so a request body is never read (a POST gets 405 and the
 * connection is closed). */
static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    insp_metrics *m = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return error_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp(url, "/metrics") != 0) return error_reply(c, MHD_HTTP_NOT_FOUND, "only /metrics\n");
    pthread_mutex_lock(&m->lock);
    enum MHD_Result rc = m->text ? reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", m->text,
                                         m->len, MHD_RESPMEM_MUST_COPY)
                                 : error_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no figures yet\n");
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- the exposition text ---------------------------------------------------------- */

typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *b, const char *fmt, ...) {
    if (b->len >= b->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len = n < 0 ? b->cap : b->len + (size_t)n; /* past cap: cut (checked by the caller) */
}

static void family(text_buf *b, const char *name, const char *type, const char *help) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(text_buf *b, const char *name, uint64_t v) {
    put(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A family of one sample. */
static void single(text_buf *b, const char *name, const char *type, const char *help, uint64_t v) {
    family(b, name, type, help);
    sample(b, name, v);
}

static void labelled(text_buf *b, const char *name, const char *label, const char *value, uint64_t v) {
    put(b, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
}

/* One sample per state table, in det_memory's order. */
static void per_table(text_buf *b, const char *name, const uint64_t v[5]) {
    static const char *const tables[5] = {"sources", "dests", "callers", "calls", "incidents"};
    for (int i = 0; i < 5; i++) labelled(b, name, "table", tables[i], v[i]);
}

/* The figures --stats-json has, as Prometheus metrics (text format 0.0.4).
 * Label values are fs38's own names (methods, codes, rule ids), never
 * taken from the traffic, so they need no escaping and stay few. */
size_t insp_metrics_text(const insp_stats *s, const insp_metrics_extra *x, double secs, char *out, size_t cap) {
    text_buf b = {out, 0, cap};
    const det_stats *d = &s->det;
    const cap_stats *c = &s->cap;
    const det_memory *mm = &s->mem;
    family(&b, "fs38_uptime_seconds", "gauge", "Seconds since the run began.");
    put(&b, "fs38_uptime_seconds %.3f\n", secs);
    family(&b, "fs38_last_message_timestamp_seconds", "gauge",
           "Capture time of the latest SIP message (0: none yet); a sensor gone blind stops moving it.");
    /* SIP messages only: keep-alives (STUN, CRLF) and payloads that are not
     * SIP must not keep a sensor that sees no SIP looking alive */
    put(&b, "fs38_last_message_timestamp_seconds %.3f\n", (double)d->last_message_us / 1e6);
    single(&b, "fs38_frames_total", "counter", "Frames (or HEP packets) read.", s->frames_read);
    single(&b, "fs38_bytes_total", "counter", "Captured bytes of those frames.", s->bytes_read);
    family(&b, "fs38_dropped_total", "counter",
           "Packets lost before fs38 read them: the kernel's buffer was full (fs38 fell behind), or the interface dropped them.");
    labelled(&b, "fs38_dropped_total", "by", "kernel", s->kernel_dropped);
    labelled(&b, "fs38_dropped_total", "by", "interface", s->if_dropped);
    family(&b, "fs38_sip_messages_total", "counter", "SIP messages parsed, by transport.");
    static const char *const tnames[CAP_TRANSPORTS] = {"udp", "tcp", "tls", "sctp", "ws", "wss"};
    for (int i = 0; i < CAP_TRANSPORTS; i++)
        labelled(&b, "fs38_sip_messages_total", "transport", tnames[i], d->by_transport[i]);
    family(&b, "fs38_requests_total", "counter", "SIP requests by method.");
    for (int i = 0; i < SIP_M__COUNT; i++)
        if (d->by_method[i] || i == SIP_M_INVITE)
            labelled(&b, "fs38_requests_total", "method", i ? sip_method_name((sip_method)i) : "other", d->by_method[i]);
    family(&b, "fs38_responses_total", "counter", "SIP responses by class (other: outside 100-699).");
    static const char *const classes[7] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
    for (int i = 0; i < 7; i++) labelled(&b, "fs38_responses_total", "class", classes[i], d->by_class[i]);
    single(&b, "fs38_not_sip_total", "counter", "Payloads on SIP ports that were not SIP.", d->not_sip);
    family(&b, "fs38_anomalies_total", "counter", "Messages per parser anomaly code (docs/rules.md).");
    for (int i = 1; i < SIP_A__COUNT; i++)
        if (d->anomalies[i]) labelled(&b, "fs38_anomalies_total", "code", sip_anomaly_name((sip_anomaly)i), d->anomalies[i]);
    family(&b, "fs38_calls_total", "counter", "INVITE dialogs started, and how they went.");
    labelled(&b, "fs38_calls_total", "state", "started", d->calls_started);
    labelled(&b, "fs38_calls_total", "state", "answered", d->calls_answered);
    labelled(&b, "fs38_calls_total", "state", "cancelled", d->calls_cancelled);
    labelled(&b, "fs38_calls_total", "state", "failed", d->calls_failed);
    family(&b, "fs38_incidents_total", "counter", "Incidents reported (counted at their first report), by rule.");
    for (int i = 0; i < R__COUNT; i++)
        labelled(&b, "fs38_incidents_total", "rule", det_rule_table[i].id, x->opened_by_rule ? x->opened_by_rule[i] : 0);
    if (x->indicators) {
        single(&b, "fs38_indicators", "gauge", "Shared indicators in use (--indicators).", x->indicator_events);
        single(&b, "fs38_indicator_reloads_total", "counter", "Times the --indicators cache was read again.",
               x->indicator_reloads);
    }
    /* capture.hep_packets counts the refused ones too: "read" is the rest,
     * so that the two results add up to the packets received. */
    family(&b, "fs38_hep_packets_total", "counter", "HEP packets read, and refused (bad): together, all received.");
    labelled(&b, "fs38_hep_packets_total", "result", "read",
             c->hep_packets > c->hep_bad ? c->hep_packets - c->hep_bad : 0);
    labelled(&b, "fs38_hep_packets_total", "result", "bad", c->hep_bad);
    single(&b, "fs38_tcp_flows", "gauge", "TCP directions being reassembled (peak).", c->tcp_flows_peak);
    family(&b, "fs38_memory_bytes", "gauge",
           "State in use, the most it can take (bound), the decoders', the look back's.");
    labelled(&b, "fs38_memory_bytes", "part", "state", mm->total_bytes);
    labelled(&b, "fs38_memory_bytes", "part", "state_bound", mm->bound_bytes);
    labelled(&b, "fs38_memory_bytes", "part", "decoder", s->decoder_memory);
    labelled(&b, "fs38_memory_bytes", "part", "lookback", s->lookback_memory);
    family(&b, "fs38_entries", "gauge", "Entries live in the bounded state tables.");
    per_table(&b, "fs38_entries", (const uint64_t[5]){mm->sources_live, mm->dests_live, mm->callers_live,
                                                      mm->calls_live, mm->incidents_live});
    family(&b, "fs38_entries_capacity", "gauge", "Capacity of those tables.");
    per_table(&b, "fs38_entries_capacity", (const uint64_t[5]){mm->sources_cap, mm->dests_cap, mm->callers_cap,
                                                               mm->calls_cap, mm->incidents_cap});
    family(&b, "fs38_evicted_total", "counter", "Entries the full tables replaced (least recently seen first).");
    per_table(&b, "fs38_evicted_total", (const uint64_t[5]){d->sources_evicted, d->dests_evicted, d->callers_evicted,
                                                            d->calls_evicted, d->incidents_evicted});
    family(&b, "fs38_worker_messages_total", "counter", "SIP messages each worker parsed (the balance).");
    for (unsigned i = 0; i < s->workers && i < INSP_MAX_WORKERS; i++) {
        char w[12];
        snprintf(w, sizeof w, "%u", i);
        labelled(&b, "fs38_worker_messages_total", "worker", w, s->worker_messages[i]);
    }
    return b.len < cap ? b.len : 0;
}

/* ---- the endpoint ------------------------------------------------------------------ */

fs_code insp_metrics_start(const char *spec, insp_metrics **out, fs_err *e) {
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *bad = fs_listen_parse(spec, true, &ss, &sl);
    if (bad) return fs_fail(e, FS_ERR_USAGE, "--metrics '%s': %s (ADDR:PORT, e.g. 127.0.0.1:9438)", spec, bad);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    insp_metrics *m = calloc(1, sizeof *m);
    if (!m) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    /* bind first, so that what is wrong can be named (the daemon says nothing) */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd >= 0 && ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        insp_metrics_stop(m);
        return fs_fail(e, FS_ERR_IO, "--metrics %s: cannot listen: %s", spec, strerror(err));
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
        m->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                  : ((struct sockaddr_in *)&got)->sin_port);
    m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, answer, m, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, METRICS_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEMORY, MHD_OPTION_END);
    if (!m->daemon) {
        close(fd);
        insp_metrics_stop(m);
        return fs_fail(e, FS_ERR_INTERNAL, "--metrics %s: cannot start its server", spec);
    }
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
    if (m->daemon) MHD_stop_daemon(m->daemon); /* joins its thread, closes the socket and connections */
    pthread_mutex_destroy(&m->lock);
    free(m->text);
    free(m);
}
