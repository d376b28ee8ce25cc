/*
 * hub_server.c -- the hub's HTTPS server: API v1 of docs/hub.md over
 * libevent evhttp and OpenSSL 3 with mutual TLS.
 *
 * Owns: TLS setup (a member is its client certificate; unknown and revoked
 * certificates fail the handshake), request routing and input bounds, the
 * publish pipeline, the push stream, the read endpoints and the metrics.
 * Must not touch: SQL (hub_store.h), JWS/event rules (src/exchange),
 * printing (the CLI does that).
 *
 * Threads and the path of a published batch:
 *
 *   event loop (main)          workers (N)                 committer (1)
 *   POST /v1/events  --job-->  parse body, rate limit,
 *                              split into chunks --chunks-> (each chunk verified
 *                              by any worker: JWS, validator, policy)
 *                                             last chunk --job--> group commit:
 *                                                          one transaction for
 *                                                          several requests
 *   reply + push to  <--------------------- done queue ------ (durable now)
 *   stream clients
 *
 * Only the event loop touches evhttp objects; workers and the committer see
 * a job's bytes and verdicts only. A request is answered after the store
 * said its transaction is durable, so an acknowledged event survives kill -9.
 * Reads (pull, snapshot, sightings, health) run on the loop over their own
 * store connection; the sweep of expired events runs on the committer.
 *
 * The trust registry is reloaded on SIGHUP (hub_server_reload_registry, on
 * the loop). A loaded registry is shared by reference: each publish job
 * holds the one it was received under until it is answered, so a reload
 * never frees keys a worker is verifying with. A connection remembers its
 * member (a copy, keyed by certificate fingerprint) and the registry
 * generation it was checked against; its next request after a reload is
 * checked again, and a member now revoked or gone gets 403 and the
 * connection is closed. Stream followers of such a member are dropped at
 * the reload. New handshakes always use the current registry.
 *
 * With replication (hub.yaml `replication:`, docs/federation.md) the
 * committer never writes the store: it publishes the group's verified items
 * into the JetStream log (hub_repl_publish_batch), then waits until this
 * node's applier has applied them (hub_repl_await) and answers with the
 * store's verdicts (no PubAck or no apply in time = 503; a retry is a
 * duplicate). The applier thread owns a third store connection, writes the
 * log into it in log order, records sightings and wakes the loop, which
 * pushes new rows to followers by reading the local store after each
 * follower's cursor. Every node therefore serves the same seqs.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/queue.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "events/ev.h"
#include "exchange/xc.h"
#include "hub_repl.h"
#include "hub_server.h"
#include "hub_store.h"

#define CHUNK_ITEMS 256
#define BODY_MAX_DEPTH 4
#define INPUT_SLACK (64u << 10) /* a request's line and a chunk's size line, past its headers and body */

/* ---- metrics --------------------------------------------------------------------- */

static const char *const reject_codes[] = {
    "oversized", "segments", "base64", "header_json", "header_param", "alg", "typ",
    "kid_missing", "kid_unknown", "revoked", "signature", "invalid", "issuer_mismatch",
    "publisher_not_issuer", "clear_identifier", "stale_version", "too_old", "too_new",
    "expired", "replay", "other"};
#define N_REJECT (sizeof reject_codes / sizeof *reject_codes)

typedef struct hub_metrics {
    atomic_ullong requests, publish_requests, received, stored, duplicates, pulls, snapshots,
        stream_dropped, handshakes_refused, member_connections_refused, commits, commit_us, status_4xx, status_5xx,
        rate_limited, publish_busy;
    atomic_ullong rejected[N_REJECT];
} hub_metrics;

static size_t reject_index(const char *code) {
    for (size_t i = 0; i < N_REJECT - 1; i++)
        if (!strcmp(reject_codes[i], code)) return i;
    return N_REJECT - 1;
}

/* ---- publish jobs ---------------------------------------------------------------- */

typedef struct item_state {
    const char *jws;       /* into the job's parsed body */
    size_t jws_len;
    xc_verified v;
    bool verified;
    const char *code;      /* rejection code (static string) or NULL */
    char error[300];
    hub_item it;
    hub_observable *obs;
    fs_str *aud;
    hub_result res;
    bool feedback;
} item_state;

typedef struct pub_job {
    struct hub_server *srv;
    struct evhttp_request *req; /* NULL once the connection closed */
    struct evhttp_request *orphan; /* a request libevent detached from its closed connection: ours to free */
    char issuer[XC_ISSUER_MAX + 1];
    char *body;
    size_t body_len;
    size_t inflight; /* bytes it holds of hub_server.inflight (its body's) */
    json_t *doc;
    struct hub_reg *reg; /* the registry this request is verified with (a reference) */
    size_t n;
    item_state *items;
    size_t n_chunks;
    atomic_size_t chunks_left;
    int status;     /* 0 = go on; else the HTTP error status */
    bool uncertain; /* its commit failed: the store may hold it all the same */
    uint32_t retry; /* Retry-After for 429 */
    char error[400];
    struct pub_job *next;
} pub_job;

typedef struct task {
    pub_job *job;
    long chunk; /* -1 = parse the body */
    struct task *next;
} task;

typedef struct job_queue {
    pub_job *head, *tail;
    size_t items;
} job_queue;

static void jq_push(job_queue *q, pub_job *j) {
    j->next = NULL;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->items += j->n;
}

static pub_job *jq_pop(job_queue *q) {
    pub_job *j = q->head;
    if (!j) return NULL;
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    q->items -= j->n;
    j->next = NULL;
    return j;
}

/* ---- the trust registry ------------------------------------------------------------ */

/* One loaded registry and the bytes it was parsed from (served as is by
 * GET /v1/registry); freed with its last reference. */
typedef struct hub_reg {
    atomic_int refs;
    uint64_t gen; /* 1 = the registry read at start, +1 per reload */
    xc_registry reg;
    char *text;
    size_t len;
} hub_reg;

/* What a TLS connection knows of its member (SSL ex_data, freed with the
 * connection): a copy of its registry entry and the generation it is from. */
typedef struct conn_member {
    xc_member m;
    uint64_t gen;
    hub_server *counted; /* the server whose member_conns counts this connection, or NULL */
    /* the member it is counted under: m.issuer changes when a reloaded
     * registry gives the certificate to another member, the count does not
     * (taken back from that other member, it stayed with the first for good) */
    char counted_issuer[XC_ISSUER_MAX + 1];
} conn_member;

/* ---- stream clients ---------------------------------------------------------------- */

typedef struct stream_client {
    struct hub_server *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    char reader[XC_ISSUER_MAX + 1];
    char types[HUB_MAX_FILTER_TYPES][HUB_MAX_TYPE + 1];
    size_t n_types;
    char issuer[XC_ISSUER_MAX + 1];
    char kind[HUB_MAX_OBS_KIND + 1];
    uint8_t cert_sha256[32]; /* its member, checked again at a registry reload */
    int64_t last_seq;
    struct stream_client *prev, *next;
} stream_client;

/* ---- the server ---------------------------------------------------------------------- */

struct hub_server {
    hub_config cfg;
    pthread_mutex_t regmu;   /* guards the pointer reg (workers take references) */
    hub_reg *reg;            /* the current trust registry */
    atomic_ullong reg_gen;   /* reg->gen, readable without the lock */
    hub_server_log_fn log;
    void *log_ctx;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    uint16_t port;
    SSL_CTX *ssl_ctx, *refuse_ctx;
    atomic_uint connections;
    /* publish bodies being verified and stored (limits.max_inflight): a
     * body's parsed form takes up to ~10 times its bytes, so this bounds
     * what the requests already read can hold, whoever sends them */
    atomic_size_t inflight;
    /* connections per member (by issuer: all its certificates together),
     * max_member_connections: one member trickling request headers cannot
     * hold every slot */
    pthread_mutex_t mconn_lock;
    struct member_conns {
        char issuer[XC_ISSUER_MAX + 1];
        uint32_t n;
    } *mconn;
    size_t mconn_n, mconn_cap;
    hub_store *rstore; /* reads, on the loop */
    hub_store *wstore; /* writes, on the committer */
    hub_limiter *limiter;
    hub_metrics m;
    /* workers */
    pthread_t *workers;
    size_t n_workers;
    pthread_mutex_t tmu;
    pthread_cond_t tcond;
    task *thead, *ttail;
    /* committer */
    pthread_t committer;
    bool committer_started;
    pthread_mutex_t cmu;
    pthread_cond_t ccond;
    job_queue commitq;
    /* done queue back to the loop */
    pthread_mutex_t dmu;
    job_queue doneq;
    struct event *done_ev, *ping_ev, *sig_int, *sig_term, *sig_hup;
    atomic_bool stopping;
    stream_client *clients;
    size_t n_clients;
    /* loop only: a commit failed without knowing whether it took effect (a
     * PostgreSQL reply lost), so followers catch up from the store before
     * the next in-memory push could move them past what it committed */
    bool push_resync;
    atomic_llong last_seq;
    /* replication (NULL repl = one node) */
    hub_repl *repl;
    hub_store *astore;      /* the applier's own connection */
    pthread_t applier;
    bool applier_started;
    atomic_int applier_stop;
    atomic_bool applier_failed;
    char applier_error[256]; /* set once before applier_failed */
    atomic_ullong log_seq;  /* the log's last sequence, refreshed by the committer */
    atomic_llong log_seq_ms; /* when (0 = never read) */
    struct event *applied_ev; /* wakes the loop to push applied rows */
    hub_observable *sight_obs; /* applier: parse buffers for feedback events */
    fs_str *sight_aud;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hub_log(const hub_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hub_log(const hub_server *s, const char *fmt, ...) {
    if (!s->log) return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->log(s->log_ctx, msg);
}

/* ---- out of file descriptors -------------------------------------------------------------
 * accept() failing with EMFILE leaves the connection in the backlog, so the
 * listener is readable again at once: libevent 2.1 would try again and warn
 * on every turn of the loop (a core busy, stderr flooded) while connections
 * hold every descriptor. The listener rests a second instead, as nginx does;
 * the connections already open go on. (libevent hands this callback evhttp's
 * argument, not ours: it needs nothing of the server.) */
static void accept_resume_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    evconnlistener_enable(arg);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg) {
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) return; /* a passing one */
    struct timeval rest = {1, 0};
    if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, accept_resume_cb, lev, &rest) == 0)
        evconnlistener_disable(lev);
}

/* ---- the trust registry: loaded at start and on SIGHUP ------------------------------------ */

static void reg_put(hub_reg *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        xc_registry_free(&r->reg);
        free(r->text);
        free(r);
    }
}

/* The current registry, referenced: release with reg_put. Any thread. */
static hub_reg *reg_get(hub_server *s) {
    pthread_mutex_lock(&s->regmu);
    hub_reg *r = s->reg;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&s->regmu);
    return r;
}

/* Reads and fully validates the registry file (xc_registry_parse): one
 * read, so the text served is the text checked. */
static fs_code reg_load(const char *path, uint64_t gen, hub_reg **out, fs_err *e) {
    *out = NULL;
    hub_reg *r = calloc(1, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f) {
        free(r);
        return fs_fail(e, FS_ERR_IO, "registry '%s': %s", path, strerror(errno));
    }
    if (r) r->text = malloc(XC_REGISTRY_MAX_BYTES + 1);
    errno = 0;
    if (r && r->text) r->len = fread(r->text, 1, XC_REGISTRY_MAX_BYTES + 1, f);
    /* a folder opens, then reads EISDIR: say so, not just "read error" */
    int rerr = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    fs_code rc = FS_OK;
    if (!r || !r->text) rc = fs_fail(e, FS_ERR_NOMEM, "registry '%s': out of memory", path);
    else if (rerr) rc = fs_fail(e, FS_ERR_IO, "registry '%s': %s", path, strerror(rerr));
    else if (r->len > XC_REGISTRY_MAX_BYTES)
        rc = fs_fail(e, FS_ERR_LIMIT, "registry '%s': larger than %u bytes", path, XC_REGISTRY_MAX_BYTES);
    else if ((rc = xc_registry_parse(r->text, r->len, &r->reg, e)) != FS_OK) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        fs_fail(e, rc, "registry '%s': %s", path, msg);
    }
    if (rc != FS_OK) {
        if (r) free(r->text);
        free(r);
        return rc;
    }
    char *fit = realloc(r->text, r->len ? r->len : 1); /* keep only what was read */
    if (fit) r->text = fit;
    atomic_store(&r->refs, 1);
    r->gen = gen;
    *out = r;
    return FS_OK;
}

/* ---- TLS: a member is its client certificate ------------------------------------------ */

static int member_idx = -1, conn_idx = -1, clock_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

/* +1 or -1 to the connections of this member (issuer), whichever of its
 * certificates they use; false (nothing counted) when +1 would pass
 * max_member_connections or there is no memory. Entries at 0 go. */
static bool member_conns_add(hub_server *s, const char *issuer, int delta) {
    pthread_mutex_lock(&s->mconn_lock);
    size_t i = 0;
    while (i < s->mconn_n && strcmp(s->mconn[i].issuer, issuer)) i++;
    bool ok = true;
    if (delta > 0) {
        if (i == s->mconn_n) {
            if (s->mconn_n == s->mconn_cap) {
                size_t ncap = s->mconn_cap ? s->mconn_cap * 2 : 64;
                struct member_conns *nm = realloc(s->mconn, ncap * sizeof *nm);
                if (nm) s->mconn = nm, s->mconn_cap = ncap;
            }
            if (s->mconn_n < s->mconn_cap) {
                snprintf(s->mconn[i].issuer, sizeof s->mconn[i].issuer, "%s", issuer);
                s->mconn[i].n = 0;
                s->mconn_n++;
            }
        }
        ok = i < s->mconn_n && s->mconn[i].n < s->cfg.max_member_connections;
        if (ok) s->mconn[i].n++;
    } else if (i < s->mconn_n && s->mconn[i].n && --s->mconn[i].n == 0) {
        s->mconn[i] = s->mconn[--s->mconn_n];
    }
    pthread_mutex_unlock(&s->mconn_lock);
    return ok;
}

static void member_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp) {
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    conn_member *cm = ptr;
    if (cm && cm->counted) member_conns_add(cm->counted, cm->counted_issuer, -1);
    free(ptr);
}

static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp) {
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr) atomic_fetch_sub(&((hub_server *)ptr)->connections, 1);
}

/* A connection's deadlines. Each byte a client sends re-arms the idle
 * timeout (timeout_s), so a client trickling bytes would hold its slot for
 * ever: its TLS handshake must end within timeout_s of accept, and each
 * request (headers and body) must have arrived request_timeout_s after
 * accept or after the answer to the one before. No deadline runs while a
 * request is being answered (a stream follower's answer never ends). */
typedef struct conn_clock {
    struct event *timer;
    hub_server *s;
    struct bufferevent *bev;
    int64_t request_due_us; /* the next request must have arrived by then */
    bool member_limit;      /* refused at max_member_connections (counted as that) */
    bool input_refused;     /* closed for sending too far ahead (input_bound_cb) */
} conn_clock;

/* The clock dies with its connection's SSL. */
static void clock_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp) {
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    conn_clock *k = ptr;
    if (k) event_free(k->timer);
    free(k);
}

static void idx_init(void) {
    clock_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, clock_free_cb);
    member_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, member_free_cb);
    conn_idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, conn_free_cb);
}

static int ctx_srv_idx(void) {
    static int idx = -1;
    if (idx < 0) idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return idx;
}

/* The active member with this certificate in the current registry, as a
 * copy for the connection (NULL: unknown or revoked). */
static conn_member *member_of_cert(hub_server *s, const uint8_t sha256[32]) {
    hub_reg *r = reg_get(s);
    const xc_member *m = xc_registry_find_cert(&r->reg, sha256);
    conn_member *cm = m && !m->revoked ? malloc(sizeof *cm) : NULL;
    if (cm) *cm = (conn_member){.m = *m, .gen = r->gen};
    reg_put(r);
    return cm;
}

static int verify_cb(int ok, X509_STORE_CTX *x) {
    if (!ok) return 0;
    if (X509_STORE_CTX_get_error_depth(x) != 0) return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    if (!ssl) return 0;
    hub_server *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_srv_idx());
    uint8_t md[32];
    unsigned int mdlen = 0;
    conn_member *cm = s && X509_digest(X509_STORE_CTX_get_current_cert(x), EVP_sha256(), md, &mdlen) &&
                      mdlen == 32 ? member_of_cert(s, md) : NULL;
    if (!cm) { /* counted by tls_info_cb, with the other refusals */
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    conn_member *before = SSL_get_ex_data(ssl, member_idx); /* called again: the last one counts */
    if (s->cfg.max_member_connections) {
        if (before && before->counted) {
            member_conns_add(s, before->counted_issuer, -1);
            before->counted = NULL;
        }
        if (!member_conns_add(s, cm->m.issuer, +1)) {
            atomic_fetch_add(&s->m.member_connections_refused, 1);
            conn_clock *k = SSL_get_ex_data(ssl, clock_idx);
            if (k) k->member_limit = true;
            free(cm);
            X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
            return 0;
        }
        cm->counted = s;
        snprintf(cm->counted_issuer, sizeof cm->counted_issuer, "%s", cm->m.issuer);
    }
    free(before);
    SSL_set_ex_data(ssl, member_idx, cm);
    return 1;
}

/* A handshake the hub refuses ends with a fatal alert it sends: a client
 * without a certificate or with one from another CA (verify_cb never sees
 * the first, nor counted the second), an unknown or revoked member. */
static void tls_info_cb(const SSL *ssl, int where, int ret) {
    if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) || (ret >> 8) != SSL3_AL_FATAL ||
        SSL_is_init_finished(ssl))
        return;
    conn_clock *k = SSL_get_ex_data(ssl, clock_idx);
    hub_server *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_srv_idx());
    if (s && !(k && k->member_limit)) atomic_fetch_add(&s->m.handshakes_refused, 1);
}

/* The hub reads no pass phrase: OpenSSL's default asked for one on the
 * terminal (a start waiting on a prompt; under systemd "Enter PEM pass
 * phrase:" twice and "UI routines::processing error (does it match
 * tls.cert?)"). Notes that one was asked for. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *asked) {
    (void)buf, (void)size, (void)rwflag;
    *(bool *)asked = true;
    return -1;
}

static fs_code tls_setup(hub_server *s, fs_err *e) {
    const hub_config *c = &s->cfg;
    s->ssl_ctx = SSL_CTX_new(TLS_server_method());
    s->refuse_ctx = SSL_CTX_new(TLS_server_method());
    if (!s->ssl_ctx || !s->refuse_ctx) return fs_fail(e, FS_ERR_NOMEM, "TLS: cannot create a context");
    SSL_CTX *x = s->ssl_ctx;
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    SSL_CTX_set_min_proto_version(s->refuse_ctx, TLS1_2_VERSION);
    /* no resumption: every connection proves its certificate again */
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(x, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    char why[256];
    if (SSL_CTX_use_certificate_chain_file(x, c->tls_cert) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return fs_fail(e, FS_ERR_CONFIG, "tls.cert '%s': %s", c->tls_cert, why);
    }
    /* an expired certificate loaded silently (--check said OK) and every
     * member's handshake then failed "certificate expired" */
    X509 *own = SSL_CTX_get0_certificate(x);
    if (own && X509_cmp_current_time(X509_get0_notAfter(own)) < 0) {
        BIO *mem = BIO_new(BIO_s_mem());
        char when[64] = "?";
        if (mem && ASN1_TIME_print(mem, X509_get0_notAfter(own)) == 1) {
            int n = BIO_read(mem, when, (int)sizeof when - 1);
            when[n > 0 ? n : 0] = 0;
        }
        BIO_free(mem);
        return fs_fail(e, FS_ERR_CONFIG, "tls.cert '%s' expired on %s: members' handshakes would all fail",
                       c->tls_cert, when);
    }
    bool asked = false;
    SSL_CTX_set_default_passwd_cb(x, no_passphrase_cb);
    SSL_CTX_set_default_passwd_cb_userdata(x, &asked);
    int loaded = SSL_CTX_use_PrivateKey_file(x, c->tls_key, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb(x, NULL);
    SSL_CTX_set_default_passwd_cb_userdata(x, NULL);
    if (loaded != 1 && asked)
        return fs_fail(e, FS_ERR_CONFIG,
                       "tls.key '%s' is encrypted: the hub reads no pass phrase, give it the key "
                       "unencrypted (e.g. openssl pkey -in KEY -out hub.key), readable by its user only",
                       c->tls_key);
    if (loaded != 1 || SSL_CTX_check_private_key(x) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return fs_fail(e, FS_ERR_CONFIG, "tls.key '%s': %s (does it match tls.cert?)", c->tls_key, why);
    }
    if (SSL_CTX_load_verify_locations(x, c->tls_ca, NULL) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return fs_fail(e, FS_ERR_CONFIG, "tls.ca '%s': %s", c->tls_ca, why);
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->tls_ca);
    if (names) SSL_CTX_set_client_CA_list(x, names);
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_verify_depth(x, 4);
    SSL_CTX_set_info_callback(x, tls_info_cb);
    SSL_CTX_set_ex_data(x, ctx_srv_idx(), s);
    ERR_clear_error();
    return FS_OK;
}

/* A connection over the limit gets a context without a certificate: its
 * handshake fails at once, before any request is read. */
static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void clock_arm(conn_clock *k, int64_t due_us) {
    int64_t left = due_us - mono_us();
    if (left < 0) left = 0;
    struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
    evtimer_add(k->timer, &tv);
}

/* Past a deadline: the client still in its handshake (clients trickling a
 * ClientHello held every slot, max_connections, before), or still sending
 * its request (a member trickling headers or a body held its slots). */
static void clock_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    conn_clock *k = arg;
    SSL *ssl = bufferevent_openssl_get_ssl(k->bev);
    evutil_socket_t sock = bufferevent_getfd(k->bev);
    if (!ssl || sock < 0) return;
    if (SSL_is_init_finished(ssl) && mono_us() < k->request_due_us) {
        clock_arm(k, k->request_due_us); /* the handshake's deadline came first */
        return;
    }
    shutdown(sock, SHUT_RDWR); /* evhttp sees the end */
}

static conn_clock *request_clock(struct evhttp_request *req) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, clock_idx) : NULL;
}

/* The answer went out: the next request's deadline starts now. */
static void answer_sent_cb(struct evhttp_request *req, void *arg) {
    (void)arg;
    conn_clock *k = request_clock(req);
    if (!k) return;
    k->request_due_us = mono_us() + (int64_t)k->s->cfg.request_timeout_s * 1000000;
    clock_arm(k, k->request_due_us);
}

/* A request arrived whole: no deadline while it is answered. */
static void clock_request_arrived(struct evhttp_request *req) {
    conn_clock *k = request_clock(req);
    if (!k) return;
    evtimer_del(k->timer);
    evhttp_request_set_on_complete_cb(req, answer_sent_cb, NULL);
}

/* Every answer counted by its status line as it is queued on the connection
 * (evhttp writes a status line with one add): libevent answers some requests
 * itself, before route_cb sees them -- an HTML 413 for a body over max_body
 * or headers over max_header_bytes, a 400 for a malformed request line or
 * header, 417, 501 for CONNECT -- and those went past the 4xx/5xx metrics. */
static void answer_status_cb(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg) {
    if (info->n_added < 12 || info->n_deleted) return;
    struct evbuffer_ptr at;
    char line[12];
    if (evbuffer_ptr_set(out, &at, info->orig_size, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(out, &at, line, sizeof line) != (ev_ssize_t)sizeof line)
        return;
    if (memcmp(line, "HTTP/1.", 7) || line[8] != ' ') return; /* a body's bytes */
    hub_server *s = arg;
    if (line[9] == '5') atomic_fetch_add(&s->m.status_5xx, 1);
    else if (line[9] == '4') atomic_fetch_add(&s->m.status_4xx, 1);
}

/* What a client sent that evhttp has not taken yet. While an answer goes
 * out evhttp keeps reading, only to see the close, into the connection's
 * input, which nothing drains until the answer ends: bytes sent behind a
 * stream request grew it without end (200 MiB sent on a follower's
 * connection: +290 MB resident). No request needs more than its headers and
 * one body there (evhttp moves a body out as it reads it, and takes a chunk
 * only whole, at most max_body): past that the connection is closed. (A
 * read watermark instead left the end of a TLS record unread inside
 * OpenSSL, and a pipeline longer than the mark waited for ever.) */
static void input_bound_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg) {
    if (!info->n_added) return;
    conn_clock *k = arg;
    size_t bound = (size_t)k->s->cfg.max_body + k->s->cfg.max_header_bytes + INPUT_SLACK;
    if (k->input_refused || evbuffer_get_length(in) <= bound) return;
    k->input_refused = true;
    hub_log(k->s, "connection closed: more than %zu bytes sent ahead of the answers "
            "(limits.max_body + limits.max_header_bytes)", bound);
    evutil_socket_t sock = bufferevent_getfd(k->bev);
    if (sock >= 0) shutdown(sock, SHUT_RDWR); /* evhttp sees the end */
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg) {
    hub_server *s = arg;
    bool over = atomic_load(&s->connections) >= s->cfg.max_connections;
    SSL *ssl = SSL_new(over ? s->refuse_ctx : s->ssl_ctx);
    if (!ssl) return NULL;
    if (!over) {
        atomic_fetch_add(&s->connections, 1);
        SSL_set_ex_data(ssl, conn_idx, s);
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) return NULL;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    if (!evbuffer_add_cb(bufferevent_get_output(bev), answer_status_cb, s)) {
        bufferevent_free(bev);
        return NULL;
    }
    conn_clock *k = calloc(1, sizeof *k);
    if (k && !(k->timer = evtimer_new(base, clock_cb, k))) free(k), k = NULL;
    if (!k) {
        bufferevent_free(bev);
        return NULL;
    }
    k->s = s;
    k->bev = bev;
    int64_t now = mono_us();
    k->request_due_us = now + (int64_t)s->cfg.request_timeout_s * 1000000;
    SSL_set_ex_data(ssl, clock_idx, k); /* freed with the SSL, so with bev */
    if (!evbuffer_add_cb(bufferevent_get_input(bev), input_bound_cb, k)) {
        bufferevent_free(bev);
        return NULL;
    }
    int64_t handshake_due = now + (int64_t)(s->cfg.timeout_s ? s->cfg.timeout_s : 10) * 1000000;
    clock_arm(k, handshake_due < k->request_due_us ? handshake_due : k->request_due_us);
    return bev;
}

/* The member behind a request (set by verify_cb during the handshake),
 * checked again against the registry when it was reloaded since: NULL if
 * the connection has no member or its member is now revoked or gone
 * (*revoked is then true). */
static const xc_member *request_member(hub_server *s, struct evhttp_request *req, bool *revoked) {
    *revoked = false;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon) return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    conn_member *cm = ssl ? SSL_get_ex_data(ssl, member_idx) : NULL;
    if (!cm || cm->gen == atomic_load(&s->reg_gen)) return cm ? &cm->m : NULL;
    conn_member *now = member_of_cert(s, cm->m.cert_sha256);
    if (!now) {
        *revoked = true;
        return NULL;
    }
    cm->m = now->m; /* the entry and its generation; what is counted stays */
    cm->gen = now->gen;
    free(now);
    return &cm->m;
}

/* ---- small output helpers ---------------------------------------------------------------- */

static void buf_json_str(struct evbuffer *b, const char *p, size_t n) {
    evbuffer_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        if (run) evbuffer_add(b, p + i - run, run);
        run = 0;
        if (c == '"') evbuffer_add(b, "\\\"", 2);
        else if (c == '\\') evbuffer_add(b, "\\\\", 2);
        else evbuffer_add_printf(b, "\\u%04x", c);
    }
    if (run) evbuffer_add(b, p + n - run, run);
    evbuffer_add(b, "\"", 1);
}

static void reply(hub_server *s, struct evhttp_request *req, int code, const char *ctype,
                  struct evbuffer *body) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    (void)s; /* counted by its status line (answer_status_cb) */
    const char *reason = code == 200 ? "OK" : code == 400 ? "Bad Request" : code == 403 ? "Forbidden"
                       : code == 404 ? "Not Found"
                       : code == 405 ? "Method Not Allowed" : code == 413 ? "Payload Too Large"
                       : code == 429 ? "Too Many Requests" : code == 503 ? "Service Unavailable"
                       : "Error";
    /* libevent 2.1 writes a body after the headers of an answer to HEAD too:
     * the client would read it as the start of the next answer */
    evhttp_send_reply(req, code, reason, evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? NULL : body);
}

static void reply_error(hub_server *s, struct evhttp_request *req, int code, const char *msg) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    /* a message quotes the client's own bytes (a query value such as
     * after=%ff, or one cut at its %.40s inside a character): JSON is UTF-8,
     * so an invalid sequence goes out as '?' and never split */
    char clean[sizeof ((fs_err *)0)->msg];
    ev_copy_text(clean, sizeof clean, fs_str_make(msg, strlen(msg)));
    evbuffer_add(b, "{\"error\":", 9);
    buf_json_str(b, clean, strlen(clean));
    evbuffer_add(b, "}\n", 2);
    reply(s, req, code, "application/json", b);
    evbuffer_free(b);
}

/* The end of a paged read into b (opened with `{"<rows>":[`): the cursor and
 * 200, or the store's error (err) as 400 for a bad query, 503 otherwise.
 * Frees b. */
static void reply_page(hub_server *s, struct evhttp_request *req, struct evbuffer *b, fs_code rc,
                       int64_t next, const char *err) {
    if (rc != FS_OK) {
        evbuffer_free(b);
        return reply_error(s, req, rc == FS_ERR_FORMAT || rc == FS_ERR_LIMIT ? 400 : 503, err);
    }
    evbuffer_add_printf(b, "],\"next\":%lld}\n", (long long)next);
    reply(s, req, 200, "application/json", b);
    evbuffer_free(b);
}

/* ---- query strings ------------------------------------------------------------------------ */

typedef struct query {
    int64_t after;
    int limit;
    fs_str types[HUB_MAX_FILTER_TYPES];
    char types_buf[HUB_MAX_FILTER_TYPES * (HUB_MAX_TYPE + 1)];
    size_t n_types;
    const char *issuer, *kind, *event_id;
    int64_t since_ms;
} query;

static bool parse_int64(const char *v, int64_t max, int64_t *out) {
    uint64_t u;
    if (!fs_str_to_u64(fs_str_make(v, strlen(v)), (uint64_t)max, &u)) return false;
    *out = (int64_t)u;
    return true;
}

/* Why libevent refused a query string: a parameter without '=' or with an
 * empty name ("?after", "?=5", "a=1&&b=2"). It answered only "malformed". */
static void query_problem(const char *qs, char *err, size_t errn) {
    for (const char *p = qs;;) {
        size_t l = strcspn(p, "&");
        const char *eq = memchr(p, '=', l);
        if (l == 0 && p[l]) {
            snprintf(err, errn, "malformed query string: an empty parameter ('&&' or a leading '&')");
            return;
        }
        if (l && (!eq || eq == p)) {
            snprintf(err, errn, "malformed query string: '%.*s' is not name=value", (int)(l > 60 ? 60 : l), p);
            return;
        }
        if (!p[l]) break;
        p += l + 1;
    }
    snprintf(err, errn, "malformed query string");
}

/* Parses the query string qs (NULL: none) against the names allowed for
 * this endpoint (",a,b,"). kv holds the decoded values q points into. */
static bool parse_query_str(const char *qs, const char *allowed, query *q, struct evkeyvalq *kv,
                            char *err, size_t errn) {
    memset(q, 0, sizeof *q);
    q->limit = 1000;
    kv->tqh_first = NULL;
    kv->tqh_last = &kv->tqh_first;
    /* libevent decodes %00 into a NUL that ends the C string: "after=1%00x"
     * was taken as after=1, issuer=org:a%00... as org:a, without a word */
    if (qs && strstr(qs, "%00")) {
        snprintf(err, errn, "a NUL character (%%00) in the query string");
        return false;
    }
    if (qs && evhttp_parse_query_str(qs, kv) != 0) {
        query_problem(qs, err, errn);
        return false;
    }
    for (struct evkeyval *p = kv->tqh_first; p; p = p->next.tqe_next) {
        char pat[80];
        snprintf(pat, sizeof pat, ",%.60s,", p->key);
        if (strlen(p->key) > 60 || !strstr(allowed, pat)) {
            snprintf(err, errn, "unknown query parameter '%.60s' (allowed:%.*s)", p->key,
                     (int)strlen(allowed) - 1, allowed);
            for (char *c = strchr(err, ','); c; c = strchr(c, ',')) *c = ' ';
            return false;
        }
        const char *v = p->value;
        /* a parameter of one value given twice: the last one was taken without
         * a word (issuer=org:a&issuer=org:b read org:b's events only) */
        if (strcmp(p->key, "type")) {
            for (struct evkeyval *o = kv->tqh_first; o != p; o = o->next.tqe_next)
                if (!strcmp(o->key, p->key)) {
                    snprintf(err, errn, "%.60s: given more than once (one value; only type= may repeat)", p->key);
                    return false;
                }
        }
        if (!strcmp(p->key, "after")) {
            if (!parse_int64(v, INT64_MAX, &q->after)) {
                snprintf(err, errn, "after: '%.40s' is not a sequence number (0 or more)", v);
                return false;
            }
        } else if (!strcmp(p->key, "limit")) {
            int64_t l;
            if (!parse_int64(v, HUB_MAX_LIMIT, &l) || l < 1) {
                snprintf(err, errn, "limit: '%.40s' is not in 1..%d", v, HUB_MAX_LIMIT);
                return false;
            }
            q->limit = (int)l;
        } else if (!strcmp(p->key, "type")) {
            /* after the types of an earlier type= parameter (repeated keys add up) */
            size_t off = q->n_types ? (size_t)(q->types[q->n_types - 1].p - q->types_buf) +
                                          q->types[q->n_types - 1].len + 1
                                    : 0;
            const char *t = v;
            if (!*t) { /* "type=" read every type */
                snprintf(err, errn, "type: empty (an event type, or several: type=A,B)");
                return false;
            }
            while (*t) {
                const char *comma = strchr(t, ',');
                size_t l = comma ? (size_t)(comma - t) : strlen(t);
                char name[HUB_MAX_TYPE + 1];
                if (l == 0 || l > HUB_MAX_TYPE || q->n_types == HUB_MAX_FILTER_TYPES) {
                    snprintf(err, errn, "type: empty, too long or more than %d types", HUB_MAX_FILTER_TYPES);
                    return false;
                }
                memcpy(name, t, l);
                name[l] = 0;
                if (xc_enum_find(XC_ENUM_EVENT_TYPE, name) < 0) {
                    snprintf(err, errn, "type: '%.64s' is not an event type", name);
                    return false;
                }
                memcpy(q->types_buf + off, name, l + 1);
                q->types[q->n_types++] = fs_str_make(q->types_buf + off, l);
                off += l + 1;
                t += l + (comma ? 1 : 0);
                if (comma && !*t) {
                    snprintf(err, errn, "type: trailing comma");
                    return false;
                }
            }
        } else if (!strcmp(p->key, "issuer")) {
            if (!xc_issuer_valid(v, strlen(v))) {
                snprintf(err, errn, "issuer: '%.70s' is not org:<MCC>-<MNC> or org:<name>", v);
                return false;
            }
            q->issuer = v;
        } else if (!strcmp(p->key, "kind")) {
            if (xc_enum_find(XC_ENUM_OBS_KIND, v) < 0) {
                snprintf(err, errn, "kind: '%.40s' is not an observable kind", v);
                return false;
            }
            q->kind = v;
        } else if (!strcmp(p->key, "since")) {
            if (!xc_time_parse(v, strlen(v), &q->since_ms)) {
                snprintf(err, errn, "since: '%.40s' is not RFC 3339 UTC (2026-11-25T10:00:00Z)", v);
                return false;
            }
            if (q->since_ms < 0) { /* the store takes none; a 400 here, not its 503 */
                snprintf(err, errn, "since: '%.40s' is before 1970-01-01T00:00:00Z", v);
                return false;
            }
        } else if (!strcmp(p->key, "event_id")) {
            if (!*v || strlen(v) > 64) {
                snprintf(err, errn, "event_id: empty or longer than 64 characters");
                return false;
            }
            q->event_id = v;
        }
    }
    return true;
}

/* parse_query_str of the request's query string. */
static bool parse_query(struct evhttp_request *req, const char *allowed, query *q,
                        struct evkeyvalq *kv, char *err, size_t errn) {
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    return parse_query_str(u ? evhttp_uri_get_query(u) : NULL, allowed, q, kv, err, errn);
}

static void filter_from(const query *q, const char *reader, hub_filter *f) {
    memset(f, 0, sizeof *f);
    f->reader = fs_str_make(reader, strlen(reader));
    f->now_ms = now_ms();
    f->types = q->types;
    f->n_types = q->n_types;
    if (q->issuer) f->issuer = fs_str_make(q->issuer, strlen(q->issuer));
    if (q->kind) f->obs_kind = fs_str_make(q->kind, strlen(q->kind));
    f->since_ms = q->since_ms;
}

/* ---- publish: workers ---------------------------------------------------------------------- */

static void task_push(hub_server *s, pub_job *j, long chunk) {
    task *t = malloc(sizeof *t);
    if (!t) abort(); /* a few bytes: nothing sensible left to do */
    *t = (task){j, chunk, NULL};
    pthread_mutex_lock(&s->tmu);
    if (s->ttail) s->ttail->next = t;
    else s->thead = t;
    s->ttail = t;
    pthread_cond_signal(&s->tcond);
    pthread_mutex_unlock(&s->tmu);
}

static void job_to_done(hub_server *s, pub_job *j) {
    pthread_mutex_lock(&s->dmu);
    jq_push(&s->doneq, j);
    pthread_mutex_unlock(&s->dmu);
    event_active(s->done_ev, EV_READ, 0);
}

static void job_to_commit(hub_server *s, pub_job *j) {
    pthread_mutex_lock(&s->cmu);
    jq_push(&s->commitq, j);
    pthread_cond_signal(&s->ccond);
    pthread_mutex_unlock(&s->cmu);
}

static void job_fail(pub_job *j, int status, const char *fmt, const char *arg) {
    j->status = status;
    snprintf(j->error, sizeof j->error, fmt, arg);
}

static bool body_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The characters of a JWS compact string: base64url and the dots. */
static const bool jws_char[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['-'] = 1, ['_'] = 1, ['.'] = 1};

/* Fast path of the body parse: {"events":["<jws>", ...]} whose strings are
 * base64url and dots only (what a JWS compact is) needs no JSON tree: the
 * items point into the body. Returns the number of items (filling items when
 * not NULL), or 0 when the body is not in that simple form -- then jansson
 * parses it and names whatever is wrong. */
static size_t scan_events(const char *b, size_t n, item_state *items) {
    static const char head[] = "{\"events\":";
    size_t i = 0, k = 0;
    while (i < n && body_ws(b[i])) i++;
    if (n - i < sizeof head - 1 || memcmp(b + i, head, sizeof head - 1)) return 0;
    i += sizeof head - 1;
    while (i < n && body_ws(b[i])) i++;
    if (i >= n || b[i++] != '[') return 0;
    for (;;) {
        while (i < n && body_ws(b[i])) i++;
        if (i >= n || b[i] != '"') return 0;
        size_t start = ++i;
        while (i < n && jws_char[(unsigned char)b[i]]) i++;
        if (i >= n || b[i] != '"') return 0;
        if (items) {
            items[k].jws = b + start;
            items[k].jws_len = i - start;
        }
        k++;
        i++;
        while (i < n && body_ws(b[i])) i++;
        if (i < n && b[i] == ',') { i++; continue; }
        if (i < n && b[i] == ']') { i++; break; }
        return 0;
    }
    while (i < n && body_ws(b[i])) i++;
    if (i >= n || b[i++] != '}') return 0;
    while (i < n && body_ws(b[i])) i++;
    return i == n ? k : 0;
}

static void job_parse(hub_server *s, pub_job *j) {
    if (j->body_len == 0) return job_fail(j, 400, "%s", "empty body: expected {\"events\":[\"<jws>\", ...]}");
    size_t fast = scan_events(j->body, j->body_len, NULL); /* its form nests 2 deep */
    json_t *arr = NULL;
    if (fast) {
        j->n = fast;
        goto counted;
    }
    if (!hub_json_depth_ok(j->body, j->body_len, BODY_MAX_DEPTH))
        return job_fail(j, 400, "%s", "body nests deeper than {\"events\":[...]} allows");
    json_error_t je;
    j->doc = json_loadb(j->body, j->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j->doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %.200s", je.line,
                 je.column, je.text);
        return job_fail(j, 400, "%s", msg);
    }
    if (!json_is_object(j->doc)) return job_fail(j, 400, "%s", "body must be a JSON object {\"events\":[...]}");
    const char *key;
    json_t *val;
    json_object_foreach(j->doc, key, val) {
        if (strcmp(key, "events")) return job_fail(j, 400, "unknown member '%.60s' in body (only \"events\")", key);
    }
    arr = json_object_get(j->doc, "events");
    if (!json_is_array(arr)) return job_fail(j, 400, "%s", "events: missing or not an array of JWS strings");
    j->n = json_array_size(arr);
counted:
    if (j->n == 0) return job_fail(j, 400, "%s", "events: empty (1 or more JWS strings)");
    if (j->n > s->cfg.max_batch) {
        char msg[120];
        snprintf(msg, sizeof msg, "events: %zu items; the limit is %u per request", j->n, s->cfg.max_batch);
        j->n = 0;
        return job_fail(j, 413, "%s", msg);
    }
    uint32_t retry = 0;
    if (!hub_limiter_take(s->limiter, j->issuer, (double)j->n, now_ms(), &retry)) {
        j->retry = retry ? retry : 60;
        atomic_fetch_add(&s->m.rate_limited, 1);
        char msg[160];
        /* %.10g: a rate under 1 event/s is not "0 events/s", 1e9 is written out */
        snprintf(msg, sizeof msg, "rate limit of %.10g events/s (burst %.10g) for %s reached; retry in %u s",
                 s->cfg.rate_events_per_s, s->cfg.rate_burst, j->issuer, j->retry);
        j->n = 0;
        return job_fail(j, 429, "%s", msg);
    }
    j->items = calloc(j->n, sizeof *j->items);
    if (!j->items) {
        j->n = 0;
        return job_fail(j, 503, "%s", "out of memory");
    }
    if (fast) scan_events(j->body, j->body_len, j->items);
    for (size_t i = 0; i < j->n && !fast; i++) {
        json_t *v = json_array_get(arr, i);
        if (json_is_string(v)) {
            j->items[i].jws = json_string_value(v);
            j->items[i].jws_len = json_string_length(v);
        }
    }
    atomic_fetch_add(&s->m.received, j->n);
    j->n_chunks = (j->n + CHUNK_ITEMS - 1) / CHUNK_ITEMS;
    atomic_store(&j->chunks_left, j->n_chunks);
}

static void reject(item_state *st, const char *code, const char *fmt, const char *arg) {
    st->code = code;
    snprintf(st->error, sizeof st->error, fmt, arg);
    if (st->verified) xc_verified_free(&st->v);
    st->verified = false;
    free(st->obs);
    free(st->aud);
    st->obs = NULL;
    st->aud = NULL;
}

/* Everything the hub checks on one item before the store sees it. */
static void judge_item(hub_server *s, pub_job *j, item_state *st, int64_t now) {
    if (!st->jws) return reject(st, "invalid", "%s", "not a string: each item is a JWS compact string");
    fs_err e;
    xc_jws_code c = xc_jws_verify(st->jws, st->jws_len, &j->reg->reg, &st->v, NULL, &e);
    if (c != XC_JWS_OK) return reject(st, c == XC_JWS_PAYLOAD ? "invalid" : xc_jws_code_name(c), "%.290s", e.msg);
    st->verified = true;
    const xc_event *ev = &st->v.ev;
    if (strcmp(ev->issuer, j->issuer)) {
        char msg[260];
        snprintf(msg, sizeof msg, "event issuer %.68s but your certificate is %.68s's: a member publishes only its own events",
                 ev->issuer, j->issuer);
        return reject(st, "publisher_not_issuer", "%s", msg);
    }
    xc_report r;
    xc_report_clear(&r);
    if (xc_event_clear_ids(ev, &r)) {
        char msg[280];
        return reject(st, "clear_identifier", "subscriber identifier in clear: %s",
                      xc_report_format(&r, msg, sizeof msg));
    }
    hub_time_verdict tv = hub_policy_time(ev->created_ms, ev->valid_until_ms, now,
                                          s->cfg.window_past_s, s->cfg.window_future_s);
    if (tv != HUB_TIME_OK) {
        char msg[200];
        if (tv == HUB_TIME_EXPIRED) snprintf(msg, sizeof msg, "valid_until is already past");
        else snprintf(msg, sizeof msg, "created is outside the accepted window (%u s past, %u s future)",
                      s->cfg.window_past_s, s->cfg.window_future_s);
        return reject(st, hub_time_code(tv), "%s", msg);
    }
    size_t nobs = xc_event_nobs(ev);
    size_t naud = ev->audience ? json_array_size(ev->audience) : 0;
    st->obs = calloc(nobs ? nobs : 1, sizeof *st->obs);
    st->aud = calloc(naud ? naud : 1, sizeof *st->aud);
    if (!st->obs || !st->aud) return reject(st, "other", "%s", "out of memory");
    for (size_t i = 0; i < nobs; i++) {
        xc_observable o;
        if (!xc_event_observable(ev, i, &o)) continue;
        st->obs[i].kind = fs_str_make(o.kind, strlen(o.kind));
        st->obs[i].value = fs_str_make(o.value, strlen(o.value));
        st->obs[i].role = o.role ? fs_str_make(o.role, strlen(o.role)) : FS_STR_NULL;
    }
    size_t na = 0;
    for (size_t i = 0; i < naud; i++) {
        json_t *m = json_array_get(ev->audience, i);
        if (json_is_string(m)) st->aud[na++] = fs_str_make(json_string_value(m), json_string_length(m));
    }
    hub_item *it = &st->it;
    it->issuer = fs_str_make(ev->issuer, strlen(ev->issuer));
    it->event_id = fs_str_make(ev->event_id, strlen(ev->event_id));
    it->version = ev->version;
    it->status = strcmp(ev->status, "revoked") ? HUB_ACTIVE : HUB_REVOKED;
    it->event_type = fs_str_make(ev->event_type, strlen(ev->event_type));
    it->created_ms = ev->created_ms;
    it->valid_until_ms = ev->valid_until_ms;
    it->tlp = fs_str_make(ev->tlp, strlen(ev->tlp));
    it->audience = st->aud;
    it->n_audience = na;
    it->obs = st->obs;
    it->n_obs = nobs;
    it->signed_jws = fs_str_make(st->jws, st->jws_len);
    it->publisher = fs_str_make(j->issuer, strlen(j->issuer));
    if (hub_item_validate(it, &e) != FS_OK) return reject(st, "invalid", "%.290s", e.msg);
    st->feedback = ev->ref_issuer && ev->ref_event_id &&
                   (!strcmp(ev->event_type, "SIGHTING") || !strcmp(ev->event_type, "FALSE_POSITIVE"));
}

static void *worker_main(void *arg) {
    hub_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->tmu);
        while (!s->thead && !atomic_load(&s->stopping)) pthread_cond_wait(&s->tcond, &s->tmu);
        task *t = s->thead;
        if (t) {
            s->thead = t->next;
            if (!s->thead) s->ttail = NULL;
        }
        pthread_mutex_unlock(&s->tmu);
        if (!t) return NULL;
        pub_job *j = t->job;
        long chunk = t->chunk;
        free(t);
        if (chunk < 0) {
            job_parse(s, j);
            if (j->status) {
                job_to_done(s, j);
                continue;
            }
            for (size_t c = 1; c < j->n_chunks; c++) task_push(s, j, (long)c);
            chunk = 0; /* this thread takes the first chunk itself */
        }
        int64_t now = now_ms();
        size_t lo = (size_t)chunk * CHUNK_ITEMS, hi = lo + CHUNK_ITEMS;
        if (hi > j->n) hi = j->n;
        for (size_t i = lo; i < hi; i++) judge_item(s, j, &j->items[i], now);
        if (atomic_fetch_sub(&j->chunks_left, 1) == 1) job_to_commit(s, j);
    }
}

/* ---- publish: the group committer ------------------------------------------------------------ */

/* In its own transaction after the events' commit: a hub stopped between the
 * two held the feedback event without its sighting, and the retry, answered
 * "duplicate", never recorded it. A duplicate records it now (once: the
 * store keeps one sighting per feedback event). False (err set) when one
 * could not be recorded: the request must not be acknowledged, or the
 * sighting is lost (its retry is what records it). */
static bool record_sightings(hub_server *s, pub_job *j, int64_t now, fs_err *err) {
    bool ok = true;
    for (size_t i = 0; i < j->n; i++) {
        item_state *st = &j->items[i];
        if (st->code || !st->feedback || st->res.seq <= 0 ||
            (st->res.verdict != HUB_STORED && st->res.verdict != HUB_DUPLICATE))
            continue;
        hub_sighting sg = hub_repl_sighting_of(&st->v.ev, st->it.publisher, st->res.seq);
        hub_verdict v;
        int64_t seq;
        fs_err e;
        if (hub_sighting_add(s->wstore, &sg, now, &v, &seq, &e) != FS_OK && ok) {
            *err = e;
            ok = false;
        }
    }
    return ok;
}

/* ---- replication: publish through the log, apply on the applier ---------------------------------- */

/* JetStream duplicates whose first verdict this node no longer remembers
 * (applied before it restarted, or before its ring wrapped): judged against
 * the store as a lone hub judges a retry, so a version refused then as
 * stale is not now answered "duplicate" (held). */
static void judge_forgotten(hub_server *s, const hub_item *items, hub_result *res,
                            const hub_repl_verdict *v, const bool *forgotten, size_t k) {
    for (size_t i = 0; i < k; i++) {
        if (!forgotten[i] || v[i] != HUB_REPL_DUPLICATE) continue;
        hub_result r;
        fs_err e;
        /* one by one: rare (retries across a restart), and an item's own
         * batch no longer exists to be judged with */
        if (hub_judge(s->wstore, &items[i], 1, &r, &e) != FS_OK) continue; /* keep "duplicate" */
        if (r.verdict == HUB_STORED) continue; /* not held, yet logged: applied later than asked */
        if (r.verdict == HUB_DUPLICATE && r.seq <= 0) r.seq = res[i].seq;
        res[i] = r;
    }
}

/* A replicated node's group commit: the items go into the JetStream log;
 * once this node's applier has applied them, the store's verdicts are the
 * answers. A job with an item not known to be logged, or a wait past
 * replication.await_ms, gets 503: its retry is answered "duplicate". */
static void replicate_group(hub_server *s, pub_job *group, hub_item *items, hub_result *res,
                            item_state **who, size_t k) {
    uint64_t *seqs = calloc(k ? k : 1, sizeof *seqs);
    hub_repl_verdict *v = calloc(k ? k : 1, sizeof *v);
    bool *forgotten = calloc(k ? k : 1, sizeof *forgotten);
    fs_err e = {0};
    fs_code rc = seqs && v && forgotten ? FS_OK : fs_fail(&e, FS_ERR_NOMEM, "out of memory");
    if (rc == FS_OK && k) rc = hub_repl_publish_batch(s->repl, items, k, now_ms(), seqs, v, &e);
    size_t x = 0;
    for (pub_job *j = group; j; j = j->next) {
        size_t first = x;
        bool lost = rc != FS_OK;
        for (size_t i = 0; i < j->n; i++)
            if (!j->items[i].code) lost |= v && v[x++] == HUB_REPL_ERROR;
        if (!lost) continue;
        for (size_t i = first; i < x && seqs; i++) seqs[i] = 0; /* not awaited */
        job_fail(j, 503, "replicated log unavailable, this request is not acknowledged (retry: "
                         "items already logged are answered duplicate): %.200s",
                 e.msg[0] ? e.msg : "an item got no PubAck");
    }
    fs_err we = {0};
    if (rc == FS_OK && k &&
        hub_repl_await(s->repl, seqs, k, (int)s->cfg.repl_await_ms, res, forgotten, &we) != FS_OK) {
        for (pub_job *j = group; j; j = j->next)
            if (!j->status)
                job_fail(j, 503, "logged but not yet applied on this node (retry: it is answered "
                                 "duplicate): %.300s", we.msg);
        rc = FS_ERR_IO;
    }
    if (rc == FS_OK) judge_forgotten(s, items, res, v, forgotten, k);
    for (size_t i = 0; i < k && rc == FS_OK; i++) {
        hub_result r = res[i];
        /* JetStream held this Msg-Id already: the store's verdict is the first copy's */
        if (v[i] == HUB_REPL_DUPLICATE && r.verdict == HUB_STORED) r.verdict = HUB_DUPLICATE;
        who[i]->res = r;
    }
    free(seqs);
    free(v);
    free(forgotten);
}

/* Applier callback (applier thread): a newly stored event (its sighting,
 * if it carries one, was stored with it); the loop is woken to push to
 * followers. */
static void on_applied(void *ctx, hub_store *store, const hub_repl_applied *a) {
    (void)store;
    hub_server *s = ctx;
    if (a->seq > atomic_load(&s->last_seq)) atomic_store(&s->last_seq, a->seq);
    event_active(s->applied_ev, EV_READ, 0);
}

static void *applier_main(void *arg) {
    hub_server *s = arg;
    fs_err e = {0};
    if (hub_repl_run_applier(s->repl, s->astore, on_applied, s, &s->applier_stop, &e) != FS_OK) {
        snprintf(s->applier_error, sizeof s->applier_error, "%.250s", e.msg);
        atomic_store(&s->applier_failed, true);
    }
    return NULL;
}

static void commit_group(hub_server *s, pub_job *group, hub_item *items, hub_result *res,
                         item_state **who) {
    size_t k = 0;
    for (pub_job *j = group; j; j = j->next)
        for (size_t i = 0; i < j->n; i++)
            if (!j->items[i].code) {
                items[k] = j->items[i].it;
                who[k++] = &j->items[i];
            }
    fs_err e = {0};
    fs_code rc = FS_OK;
    int64_t now = now_ms();
    if (s->repl) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        replicate_group(s, group, items, res, who, k);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        atomic_fetch_add(&s->m.commits, 1);
        atomic_fetch_add(&s->m.commit_us, (unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000LL +
                                                              (t1.tv_nsec - t0.tv_nsec) / 1000));
        for (pub_job *j = group, *next; j; j = next) {
            next = j->next;
            job_to_done(s, j);
        }
        return;
    }
    if (k) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = hub_publish(s->wstore, items, k, now, res, &e);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        atomic_fetch_add(&s->m.commits, 1);
        atomic_fetch_add(&s->m.commit_us, (unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000LL +
                                                              (t1.tv_nsec - t0.tv_nsec) / 1000));
    }
    for (size_t i = 0; i < k && rc == FS_OK; i++) who[i]->res = res[i];
    pub_job *next;
    for (pub_job *j = group; j; j = next) {
        next = j->next;
        if (rc != FS_OK) {
            char msg[260]; /* with the words before it, within j->error */
            snprintf(msg, sizeof msg, "%.250s", e.msg);
            /* not "nothing was stored": a commit whose answer was lost (a
             * PostgreSQL connection cut at COMMIT) may be durable all the same */
            job_fail(j, 503, "store unavailable, this request is not acknowledged (retry: what the store "
                             "kept is answered duplicate): %s", msg);
            j->uncertain = true;
        }
        else if (!record_sightings(s, j, now, &e)) {
            char msg[200];
            snprintf(msg, sizeof msg, "%.190s", e.msg);
            /* the events are durable (pushed from the store: push_resync) */
            job_fail(j, 503, "store unavailable: a sighting was not recorded, this request is not "
                             "acknowledged (retry: the events are answered duplicate and the "
                             "sighting recorded): %s", msg);
            j->uncertain = true;
        }
        job_to_done(s, j);
    }
}

static void *committer_main(void *arg) {
    hub_server *s = arg;
    size_t cap = HUB_MAX_BATCH;
    hub_item *items = calloc(cap, sizeof *items);
    hub_result *res = calloc(cap, sizeof *res);
    item_state **who = calloc(cap, sizeof *who);
    int64_t next_sweep = now_ms() + (int64_t)s->cfg.sweep_interval_s * 1000;
    int64_t next_log = 0;
    for (;;) {
        pthread_mutex_lock(&s->cmu);
        while (!s->commitq.head && !atomic_load(&s->stopping)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->ccond, &s->cmu, &ts);
            if (!s->commitq.head && (now_ms() >= next_sweep || (s->repl && now_ms() >= next_log))) break;
        }
        /* take whole requests up to the commit size (at least one) */
        pub_job *group = NULL, *tail = NULL;
        size_t total = 0;
        while (s->commitq.head &&
               (!group || total + s->commitq.head->n <= (s->cfg.commit_max < cap ? s->cfg.commit_max : cap))) {
            pub_job *j = jq_pop(&s->commitq);
            total += j->n;
            if (tail) tail->next = j;
            else group = j;
            tail = j;
        }
        bool stop = !group && atomic_load(&s->stopping);
        pthread_mutex_unlock(&s->cmu);
        if (group) {
            if (items && res && who) commit_group(s, group, items, res, who);
            else
                for (pub_job *j = group, *n; j; j = n) {
                    n = j->next;
                    job_fail(j, 503, "%s", "out of memory");
                    job_to_done(s, j);
                }
        }
        if (now_ms() >= next_sweep) {
            /* one bounded chunk; if more are left, the next one after the next group */
            fs_err e;
            int64_t removed = 0;
            (void)hub_sweep_some(s->wstore, now_ms(), &removed, &e); /* reads filter expiry anyway */
            next_sweep = now_ms() + (removed == HUB_SWEEP_CHUNK ? 0 : (int64_t)s->cfg.sweep_interval_s * 1000);
        }
        if (s->repl && now_ms() >= next_log && !atomic_load(&s->stopping)) {
            /* for /health: how far the log is (a request to the stream leader) */
            uint64_t ls = 0;
            fs_err e;
            if (hub_repl_log_last_seq(s->repl, &ls, &e) == FS_OK) {
                atomic_store(&s->log_seq, ls);
                atomic_store(&s->log_seq_ms, now_ms());
            }
            next_log = now_ms() + 1000;
        }
        if (stop) break;
    }
    free(items);
    free(res);
    free(who);
    return NULL;
}

/* ---- publish: back on the loop ------------------------------------------------------------------ */

static void job_free(pub_job *j) {
    if (j->inflight) atomic_fetch_sub(&j->srv->inflight, j->inflight);
    for (size_t i = 0; i < j->n && j->items; i++) {
        item_state *st = &j->items[i];
        if (st->verified) xc_verified_free(&st->v);
        free(st->obs);
        free(st->aud);
    }
    free(j->items);
    if (j->orphan) evhttp_request_free(j->orphan);
    if (j->doc) json_decref(j->doc);
    reg_put(j->reg);
    free(j->body);
    free(j);
}

/* The client went away before its answer. On EOF or a timeout libevent 2.1
 * detaches an unanswered request from the connection and leaves it to us
 * (evhttp_connection_incoming_fail); otherwise the connection frees it right
 * after this callback. */
static void job_closed_cb(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    pub_job *j = arg;
    if (j->req && !evhttp_request_get_connection(j->req)) j->orphan = j->req;
    j->req = NULL;
}

static void stream_push(hub_server *s, pub_job *j);

static void job_reply(hub_server *s, pub_job *j) {
    struct evhttp_request *req = j->req;
    if (!req) return;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
    if (j->status) {
        if (j->status == 429) {
            char ra[16];
            snprintf(ra, sizeof ra, "%u", j->retry);
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        }
        reply_error(s, req, j->status, j->error);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    size_t stored = 0, rejected = 0;
    evbuffer_add(b, "{\"results\":[", 12);
    for (size_t i = 0; i < j->n; i++) {
        item_state *st = &j->items[i];
        const char *code = st->code;
        const char *err = st->error;
        if (!code) {
            switch (st->res.verdict) {
            case HUB_STORED:
                stored++;
                evbuffer_add_printf(b, "%s{\"i\":%zu,\"status\":\"stored\",\"seq\":%lld}", i ? "," : "",
                                    i, (long long)st->res.seq);
                continue;
            case HUB_DUPLICATE:
                evbuffer_add_printf(b, "%s{\"i\":%zu,\"status\":\"duplicate\",\"seq\":%lld}",
                                    i ? "," : "", i, (long long)st->res.seq);
                continue;
            case HUB_STALE_VERSION: code = "stale_version"; break;
            case HUB_NOT_ISSUER: code = "publisher_not_issuer"; break;
            default: code = "invalid"; break;
            }
            err = st->res.error;
        }
        rejected++;
        atomic_fetch_add(&s->m.rejected[reject_index(code)], 1);
        evbuffer_add_printf(b, "%s{\"i\":%zu,\"status\":\"rejected\",\"code\":\"%s\",\"error\":",
                            i ? "," : "", i, code);
        buf_json_str(b, err, strlen(err));
        evbuffer_add(b, "}", 1);
    }
    atomic_fetch_add(&s->m.stored, stored);
    atomic_fetch_add(&s->m.duplicates, j->n - stored - rejected);
    evbuffer_add_printf(b, "],\"stored\":%zu,\"rejected\":%zu}\n", stored, rejected);
    reply(s, req, 200, "application/json", b);
    evbuffer_free(b);
}

static void done_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    hub_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->dmu);
        pub_job *j = jq_pop(&s->doneq);
        pthread_mutex_unlock(&s->dmu);
        if (!j) break;
        job_reply(s, j);
        if (j->uncertain) s->push_resync = true;
        if (!j->status && !s->repl) stream_push(s, j); /* replicated: the applier wakes applied_cb */
        job_free(j);
    }
}

/* Admits a body of len bytes unless the bodies in flight would pass
 * limits.max_inflight; one body is always admitted (max_inflight may be
 * under max_body). */
static bool inflight_take(hub_server *s, size_t len) {
    size_t cur = atomic_load(&s->inflight);
    do {
        if (cur && cur + len > s->cfg.max_inflight) return false;
    } while (!atomic_compare_exchange_weak(&s->inflight, &cur, cur + len));
    return true;
}

static void handle_publish(hub_server *s, struct evhttp_request *req, const xc_member *m) {
    atomic_fetch_add(&s->m.publish_requests, 1);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > s->cfg.max_body) return reply_error(s, req, 413, "body larger than limits.max_body");
    if (!inflight_take(s, len)) {
        atomic_fetch_add(&s->m.publish_busy, 1);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        return reply_error(s, req, 503, "busy: the publish bodies in flight are at limits.max_inflight; retry");
    }
    pub_job *j = calloc(1, sizeof *j);
    if (!j || !(j->body = malloc(len ? len : 1))) {
        free(j);
        atomic_fetch_sub(&s->inflight, len);
        return reply_error(s, req, 503, "out of memory");
    }
    j->inflight = len;
    j->body_len = (size_t)evbuffer_remove(in, j->body, len);
    j->srv = s;
    j->req = req;
    j->reg = reg_get(s);
    snprintf(j->issuer, sizeof j->issuer, "%s", m->issuer);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), job_closed_cb, j);
    task_push(s, j, -1);
}

/* ---- reads --------------------------------------------------------------------------------------- */

/* A page of GET /v1/events or /v1/sightings ends after the row that takes
 * it to this many bytes, whatever its limit: the answer is built whole and
 * held until a reader, however slow, has taken it (limit=10000 of events
 * near the 81 KB a JWS may have is 800 MB; ten readers at 20 KB/s of 240
 * such events took the hub from 341 to 537 MB). Its next is its last row. */
#define PULL_PAGE_BYTES (4u << 20)

typedef struct rows_out {
    struct evbuffer *b;
    size_t n;
    bool ndjson;
    size_t max_bytes; /* stop after the row that reaches it; 0 = no bound */
} rows_out;

static int row_out(void *ctx, const hub_row *r) {
    rows_out *o = ctx;
    if (!o->ndjson && o->n) evbuffer_add(o->b, ",", 1);
    evbuffer_add_printf(o->b, "{\"seq\":%lld,\"jws\":", (long long)r->seq);
    buf_json_str(o->b, r->signed_jws.p, r->signed_jws.len);
    evbuffer_add(o->b, o->ndjson ? "}\n" : "}", o->ndjson ? 2 : 1);
    o->n++;
    return o->max_bytes && evbuffer_get_length(o->b) >= o->max_bytes;
}

static void handle_pull(hub_server *s, struct evhttp_request *req, const xc_member *m) {
    atomic_fetch_add(&s->m.pulls, 1);
    query q;
    struct evkeyvalq kv;
    char err[300];
    if (!parse_query(req, ",after,limit,type,issuer,kind,since,", &q, &kv, err, sizeof err)) {
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 400, err);
    }
    hub_pull_query pq = {.after = q.after, .limit = q.limit};
    filter_from(&q, m->issuer, &pq.f);
    struct evbuffer *b = evbuffer_new();
    rows_out o = {b, 0, false, PULL_PAGE_BYTES};
    evbuffer_add(b, "{\"events\":[", 11);
    int64_t next = q.after;
    fs_err e;
    fs_code rc = hub_pull(s->rstore, &pq, row_out, &o, &next, &e);
    evhttp_clear_headers(&kv);
    char msg[sizeof e.msg + 8] = "";
    if (rc != FS_OK) snprintf(msg, sizeof msg, "store: %s", e.msg);
    reply_page(s, req, b, rc, next, msg);
}

/* GET /v1/snapshot sends the active set a page at a time, the next page
 * read when the last one has left for the socket: a reader holds one page
 * of the hub's memory however large the set and however slowly it reads
 * (the whole set was built in one buffer per request: 1M events, some GB
 * per reader). Rows above the first page's cursor are left to the stream:
 * an event that changes between two pages comes again there. */
#define SNAPSHOT_PAGE_ROWS 500
#define SNAPSHOT_PAGE_BYTES (256u << 10)

typedef struct snapshot_job {
    hub_server *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *next_page; /* run from the loop once a page is written */
    struct evkeyvalq kv;     /* the query's values, which q points into */
    query q;
    char reader[HUB_MAX_ID + 1];
    int64_t after, cursor;   /* rows after `after` and at most `cursor` remain */
    bool done;
} snapshot_job;

typedef struct snapshot_page {
    snapshot_job *j;
    struct evbuffer *b;
    size_t rows;
    bool full; /* stopped at SNAPSHOT_PAGE_BYTES: more rows may follow */
} snapshot_page;

static int snapshot_row(void *ctx, const hub_row *r) {
    snapshot_page *pg = ctx;
    if (pg->j->cursor && r->seq > pg->j->cursor) { /* the stream's from here */
        pg->j->done = true;
        return 1;
    }
    rows_out o = {pg->b, 0, true, 0};
    row_out(&o, r);
    pg->j->after = r->seq;
    pg->rows++;
    if (evbuffer_get_length(pg->b) < SNAPSHOT_PAGE_BYTES) return 0;
    pg->full = true;
    return 1;
}

/* Reads the page after j->after into b; sets j->cursor on the first. */
static fs_code snapshot_read_page(snapshot_job *j, struct evbuffer *b, fs_err *e) {
    hub_pull_query pq = {.after = j->after, .limit = SNAPSHOT_PAGE_ROWS};
    filter_from(&j->q, j->reader, &pq.f);
    snapshot_page pg = {j, b, 0, false};
    int64_t cursor = 0;
    fs_code rc = hub_snapshot_page(j->srv->rstore, &pq, snapshot_row, &pg, &cursor, e);
    if (rc == FS_OK && !j->cursor) j->cursor = cursor;
    if (rc == FS_OK && !pg.full && pg.rows < SNAPSHOT_PAGE_ROWS) j->done = true;
    if (j->after >= j->cursor) j->done = true;
    return rc;
}

static void snapshot_job_free(snapshot_job *j) {
    if (j->next_page) event_free(j->next_page);
    evhttp_clear_headers(&j->kv);
    free(j);
}

static void snapshot_closed_cb(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    snapshot_job_free(arg); /* the reader went away mid-snapshot */
}

static void snapshot_written_cb(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    snapshot_job *j = arg;
    event_active(j->next_page, EV_TIMEOUT, 0); /* not from inside evhttp's write callback */
}

/* Sends the next page, or the end; a store failing mid-snapshot closes the
 * connection before the last chunk, so the reader sees a cut transfer
 * (curl: "transfer closed with outstanding read data"), never a short set. */
static void snapshot_next_page_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    snapshot_job *j = arg;
    hub_server *s = j->srv;
    struct evbuffer *b = evbuffer_new();
    fs_err e;
    if (!b || snapshot_read_page(j, b, &e) != FS_OK) {
        hub_log(s, "snapshot for %s cut after seq %lld: %s", j->reader, (long long)j->after,
                b ? e.msg : "out of memory");
        if (b) evbuffer_free(b);
        struct evhttp_connection *evcon = j->evcon;
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        snapshot_job_free(j);
        evhttp_connection_free(evcon);
        return;
    }
    if (!j->done) {
        evhttp_send_reply_chunk_with_cb(j->req, b, snapshot_written_cb, j);
        evbuffer_free(b);
        return;
    }
    if (evbuffer_get_length(b)) evhttp_send_reply_chunk(j->req, b);
    evbuffer_free(b);
    evhttp_connection_set_closecb(j->evcon, NULL, NULL);
    evhttp_send_reply_end(j->req);
    snapshot_job_free(j);
}

static void handle_snapshot(hub_server *s, struct evhttp_request *req, const xc_member *m) {
    atomic_fetch_add(&s->m.snapshots, 1);
    snapshot_job *j = calloc(1, sizeof *j);
    if (!j) return reply_error(s, req, 503, "out of memory");
    char err[300];
    if (!parse_query(req, ",type,issuer,kind,since,", &j->q, &j->kv, err, sizeof err)) {
        snapshot_job_free(j);
        return reply_error(s, req, 400, err);
    }
    j->srv = s;
    j->req = req;
    j->evcon = evhttp_request_get_connection(req);
    snprintf(j->reader, sizeof j->reader, "%s", m->issuer);
    struct evbuffer *b = evbuffer_new();
    fs_err e;
    fs_code rc = b ? snapshot_read_page(j, b, &e) : FS_ERR_IO;
    if (rc != FS_OK || !(j->done || (j->next_page = event_new(s->base, -1, 0, snapshot_next_page_cb, j)))) {
        if (b) evbuffer_free(b);
        snapshot_job_free(j);
        return reply_error(s, req, 503, rc != FS_OK && b ? e.msg : "out of memory");
    }
    char cur[32];
    snprintf(cur, sizeof cur, "%lld", (long long)j->cursor);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "X-Fs38-Cursor", cur);
    if (j->done) { /* one page: a plain answer */
        reply(s, req, 200, "application/x-ndjson", b);
        evbuffer_free(b);
        snapshot_job_free(j);
        return;
    }
    evhttp_add_header(h, "Content-Type", "application/x-ndjson");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(j->evcon, snapshot_closed_cb, j);
    evhttp_send_reply_chunk_with_cb(req, b, snapshot_written_cb, j);
    evbuffer_free(b);
}

static int sight_out(void *ctx, const hub_sight_row *r) {
    rows_out *o = ctx;
    char at[40];
    fs_time_rfc3339((uint64_t)r->at_ms * 1000, at, sizeof at);
    evbuffer_add_printf(o->b, "%s{\"seq\":%lld,\"reporter\":", o->n ? "," : "", (long long)r->seq);
    buf_json_str(o->b, r->reporter.p, r->reporter.len);
    evbuffer_add(o->b, ",\"issuer\":", 10);
    buf_json_str(o->b, r->ref_issuer.p, r->ref_issuer.len);
    evbuffer_add(o->b, ",\"event_id\":", 12);
    buf_json_str(o->b, r->ref_event_id.p, r->ref_event_id.len);
    evbuffer_add_printf(o->b, ",\"kind\":\"%s\",\"at\":\"%s\",\"count\":%lld",
                        r->kind == HUB_FALSE_POSITIVE ? "FALSE_POSITIVE" : "SIGHTING", at,
                        (long long)r->count);
    if (r->note.len) {
        evbuffer_add(o->b, ",\"note\":", 8);
        buf_json_str(o->b, r->note.p, r->note.len);
    }
    if (r->jws.len) { /* the signed SIGHTING / FALSE_POSITIVE event, unchanged */
        evbuffer_add_printf(o->b, ",\"event_seq\":%lld,\"jws\":", (long long)r->event_seq);
        buf_json_str(o->b, r->jws.p, r->jws.len);
    }
    evbuffer_add(o->b, "}", 1);
    o->n++;
    return o->max_bytes && evbuffer_get_length(o->b) >= o->max_bytes;
}

static void handle_sightings(hub_server *s, struct evhttp_request *req, const xc_member *m) {
    query q;
    struct evkeyvalq kv;
    char err[300];
    if (!parse_query(req, ",issuer,event_id,after,limit,", &q, &kv, err, sizeof err) ||
        (!q.issuer != !q.event_id && snprintf(err, sizeof err, "issuer and event_id go together") > 0)) {
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 400, err);
    }
    hub_sight_query sq = {.reader = fs_str_make(m->issuer, strlen(m->issuer)),
                          .after = q.after, .limit = q.limit};
    if (q.issuer) {
        sq.ref_issuer = fs_str_make(q.issuer, strlen(q.issuer));
        sq.ref_event_id = fs_str_make(q.event_id, strlen(q.event_id));
    }
    struct evbuffer *b = evbuffer_new();
    rows_out o = {b, 0, false, PULL_PAGE_BYTES};
    evbuffer_add(b, "{\"sightings\":[", 14);
    int64_t next = q.after;
    fs_err e;
    fs_code rc = hub_sightings_pull(s->rstore, &sq, sight_out, &o, &next, &e);
    evhttp_clear_headers(&kv);
    reply_page(s, req, b, rc, next, rc == FS_OK ? "" : e.msg);
}

static void handle_health(hub_server *s, struct evhttp_request *req) {
    fs_err e;
    int64_t seq = 0;
    bool ok = hub_store_health(s->rstore, &e) == FS_OK && hub_store_last_seq(s->rstore, &seq, &e) == FS_OK;
    if (ok && s->repl && atomic_load(&s->applier_failed)) {
        ok = false;
        snprintf(e.msg, sizeof e.msg, "replication applier stopped: %s", s->applier_error);
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"status\":\"%s\",\"store\":\"%s\",\"seq\":%lld,\"node\":", ok ? "ok" : "degraded",
                        hub_store_backend(s->rstore), (long long)seq);
    buf_json_str(b, s->cfg.node, strlen(s->cfg.node));
    if (s->repl) {
        /* log_seq: the log's last sequence as last read (log_age_ms ago; -1 = never) */
        int64_t at = atomic_load(&s->log_seq_ms);
        evbuffer_add_printf(b, ",\"replication\":{\"applied_seq\":%llu,\"log_seq\":%llu,"
                               "\"log_age_ms\":%lld,\"replicas\":%d}",
                            (unsigned long long)hub_repl_applied_seq(s->repl),
                            (unsigned long long)atomic_load(&s->log_seq),
                            (long long)(at ? now_ms() - at : -1), hub_repl_replicas(s->repl));
    }
    if (!ok) {
        evbuffer_add(b, ",\"error\":", 9);
        buf_json_str(b, e.msg, strlen(e.msg));
    }
    evbuffer_add(b, "}\n", 2);
    reply(s, req, ok ? 200 : 503, "application/json", b);
    evbuffer_free(b);
}

static void handle_metrics(hub_server *s, struct evhttp_request *req) {
    struct evbuffer *b = evbuffer_new();
    hub_metrics *m = &s->m;
#define C(name, help, v)                                                                     \
    evbuffer_add_printf(b, "# HELP fs38_hub_" name " " help "\n# TYPE fs38_hub_" name        \
                           " counter\nfs38_hub_" name " %llu\n", (unsigned long long)atomic_load(&v))
    C("requests_total", "HTTP requests served.", m->requests);
    C("publish_requests_total", "POST /v1/events requests.", m->publish_requests);
    C("events_received_total", "Events received in accepted publish requests.", m->received);
    C("events_stored_total", "Events stored (committed durably).", m->stored);
    C("events_duplicate_total", "Events already held (idempotent replays).", m->duplicates);
    C("pull_requests_total", "GET /v1/events requests.", m->pulls);
    C("snapshot_requests_total", "GET /v1/snapshot requests.", m->snapshots);
    C("stream_dropped_total", "Stream clients dropped for a full output buffer.", m->stream_dropped);
    C("handshakes_refused_total", "TLS handshakes refused: no client certificate, one from another CA, an unknown or revoked member.",
      m->handshakes_refused);
    C("member_connections_refused_total", "TLS handshakes refused: the member had max_member_connections open.",
      m->member_connections_refused);
    C("rate_limited_total", "Publish requests refused by the rate limit.", m->rate_limited);
    C("publish_busy_total", "Publish requests refused (503) at limits.max_inflight.", m->publish_busy);
    C("responses_4xx_total", "Client error responses.", m->status_4xx);
    C("responses_5xx_total", "Server error responses.", m->status_5xx);
#undef C
    evbuffer_add_printf(b, "# HELP fs38_hub_events_rejected_total Events rejected, by code.\n"
                           "# TYPE fs38_hub_events_rejected_total counter\n");
    for (size_t i = 0; i < N_REJECT; i++)
        evbuffer_add_printf(b, "fs38_hub_events_rejected_total{code=\"%s\"} %llu\n", reject_codes[i],
                            (unsigned long long)atomic_load(&m->rejected[i]));
    evbuffer_add_printf(b, "# HELP fs38_hub_store_commit_seconds Time spent in group commits.\n"
                           "# TYPE fs38_hub_store_commit_seconds summary\n"
                           "fs38_hub_store_commit_seconds_sum %.6f\nfs38_hub_store_commit_seconds_count %llu\n",
                        (double)atomic_load(&m->commit_us) / 1e6, (unsigned long long)atomic_load(&m->commits));
    evbuffer_add_printf(b, "# HELP fs38_hub_stream_clients Connected stream followers.\n"
                           "# TYPE fs38_hub_stream_clients gauge\nfs38_hub_stream_clients %zu\n"
                           "# HELP fs38_hub_publish_inflight_bytes Publish bodies being verified and stored.\n"
                           "# TYPE fs38_hub_publish_inflight_bytes gauge\nfs38_hub_publish_inflight_bytes %zu\n"
                           "# HELP fs38_hub_connections Open TLS connections.\n"
                           "# TYPE fs38_hub_connections gauge\nfs38_hub_connections %u\n"
                           "# HELP fs38_hub_last_seq Highest sequence pushed.\n"
                           "# TYPE fs38_hub_last_seq gauge\nfs38_hub_last_seq %lld\n",
                        s->n_clients, atomic_load(&s->inflight), atomic_load(&s->connections),
                        (long long)atomic_load(&s->last_seq));
    if (s->repl)
        evbuffer_add_printf(b, "# HELP fs38_hub_repl_applied_seq Highest log sequence applied to this node's store.\n"
                               "# TYPE fs38_hub_repl_applied_seq gauge\nfs38_hub_repl_applied_seq %llu\n"
                               "# HELP fs38_hub_repl_log_seq Last sequence of the replicated log (as last read).\n"
                               "# TYPE fs38_hub_repl_log_seq gauge\nfs38_hub_repl_log_seq %llu\n",
                            (unsigned long long)hub_repl_applied_seq(s->repl),
                            (unsigned long long)atomic_load(&s->log_seq));
    reply(s, req, 200, "text/plain; version=0.0.4", b);
    evbuffer_free(b);
}

static void handle_registry(hub_server *s, struct evhttp_request *req) {
    struct evbuffer *b = evbuffer_new();
    hub_reg *r = reg_get(s);
    evbuffer_add(b, r->text, r->len);
    reg_put(r);
    reply(s, req, 200, "application/json", b);
    evbuffer_free(b);
}

/* ---- the push stream --------------------------------------------------------------------------- */

static void client_remove(hub_server *s, stream_client *c) {
    if (c->prev) c->prev->next = c->next;
    else s->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_clients--;
    free(c);
}

static void client_closed_cb(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    stream_client *c = arg;
    if (!evhttp_request_get_connection(c->req)) evhttp_request_free(c->req); /* detached: ours */
    client_remove(c->srv, c);
}

static size_t client_queued(const stream_client *c) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Sends a chunk, or drops a client that does not keep up. Returns false when dropped. */
/* A follower is dropped when its unread output would pass stream_buffer;
 * one with nothing unread takes what one publish stored whatever its size
 * (a request's rows, at most about max_body: a batch of 4,000 events passed
 * the 4 MiB default and dropped every follower that was keeping up). */
static bool client_send(hub_server *s, stream_client *c, struct evbuffer *b) {
    size_t queued = client_queued(c);
    if (queued && queued + evbuffer_get_length(b) > s->cfg.stream_buffer) {
        atomic_fetch_add(&s->m.stream_dropped, 1);
        struct evhttp_connection *evcon = c->evcon;
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        client_remove(s, c);
        evhttp_connection_free(evcon);
        return false;
    }
    evhttp_send_reply_chunk(c->req, b);
    return true;
}

static bool client_wants(const stream_client *c, const xc_event *ev) {
    if (c->n_types) {
        bool hit = false;
        for (size_t i = 0; i < c->n_types && !hit; i++) hit = !strcmp(c->types[i], ev->event_type);
        if (!hit) return false;
    }
    if (c->issuer[0] && strcmp(c->issuer, ev->issuer)) return false;
    if (c->kind[0]) {
        bool hit = false;
        for (size_t i = 0; i < xc_event_nobs(ev) && !hit; i++) {
            xc_observable o;
            hit = xc_event_observable(ev, i, &o) && !strcmp(o.kind, c->kind);
        }
        if (!hit) return false;
    }
    return true;
}

static bool push_from_store(hub_server *s);

static void stream_push(hub_server *s, pub_job *j) {
    int64_t now = now_ms();
    for (size_t i = 0; i < j->n; i++) {
        item_state *st = &j->items[i];
        if (st->code || st->res.verdict != HUB_STORED) continue;
        if (st->res.seq > atomic_load(&s->last_seq)) atomic_store(&s->last_seq, st->res.seq);
    }
    if (s->push_resync) { /* rows of a failed commit may be there: read them, not this job */
        if (push_from_store(s)) s->push_resync = false;
        return;
    }
    stream_client *next;
    for (stream_client *c = s->clients; c; c = next) {
        next = c->next;
        struct evbuffer *b = evbuffer_new();
        int64_t last = c->last_seq;
        for (size_t i = 0; i < j->n; i++) {
            item_state *st = &j->items[i];
            if (st->code || st->res.verdict != HUB_STORED || st->res.seq <= c->last_seq) continue;
            const hub_item *it = &st->it;
            if (!hub_policy_visible(it->tlp, it->issuer, it->audience, it->n_audience,
                                    fs_str_make(c->reader, strlen(c->reader)), it->valid_until_ms, now) ||
                !client_wants(c, &st->v.ev))
                continue;
            evbuffer_add_printf(b, "id: %lld\nevent: event\ndata: ", (long long)st->res.seq);
            evbuffer_add(b, st->jws, st->jws_len);
            evbuffer_add(b, "\n\n", 2);
            last = st->res.seq;
        }
        if (evbuffer_get_length(b) && client_send(s, c, b)) c->last_seq = last;
        evbuffer_free(b);
    }
}

static void ping_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    hub_server *s = arg;
    stream_client *next;
    for (stream_client *c = s->clients; c; c = next) {
        next = c->next;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, ": ping\n\n", 8);
        client_send(s, c, b);
        evbuffer_free(b);
    }
}

typedef struct backlog_out {
    struct evbuffer *b;
    int64_t last;
    size_t rows;
} backlog_out;

static int backlog_row(void *ctx, const hub_row *r) {
    backlog_out *o = ctx;
    o->rows++;
    evbuffer_add_printf(o->b, "id: %lld\nevent: event\ndata: ", (long long)r->seq);
    evbuffer_add(o->b, r->signed_jws.p, r->signed_jws.len);
    evbuffer_add(o->b, "\n\n", 2);
    o->last = r->seq;
    return 0;
}

#define PUSH_PAGE 1000

/* Replicated node, on the loop: the applier stored new rows; each follower
 * reads the local store after its cursor (the store's own visibility,
 * expiry and filters), so followers of any node see the same ids. One node
 * does the same after a commit whose outcome is unknown (push_resync).
 * True when every follower is caught up (no read failed, no page left). */
static bool push_from_store(hub_server *s) {
    int64_t upto = atomic_load(&s->last_seq); /* committed: visible to this read */
    bool more = false, failed = false;
    stream_client *next;
    for (stream_client *c = s->clients; c; c = next) {
        next = c->next;
        if (c->last_seq >= upto) continue;
        fs_str types[HUB_MAX_FILTER_TYPES];
        for (size_t i = 0; i < c->n_types; i++) types[i] = fs_str_make(c->types[i], strlen(c->types[i]));
        hub_pull_query pq = {.after = c->last_seq, .limit = PUSH_PAGE};
        pq.f.reader = fs_str_make(c->reader, strlen(c->reader));
        pq.f.now_ms = now_ms();
        pq.f.types = types;
        pq.f.n_types = c->n_types;
        if (c->issuer[0]) pq.f.issuer = fs_str_make(c->issuer, strlen(c->issuer));
        if (c->kind[0]) pq.f.obs_kind = fs_str_make(c->kind, strlen(c->kind));
        backlog_out o = {evbuffer_new(), c->last_seq, 0};
        int64_t nx;
        fs_err e;
        if (!o.b) {
            failed = true;
            continue;
        }
        if (hub_pull(s->rstore, &pq, backlog_row, &o, &nx, &e) != FS_OK) {
            evbuffer_free(o.b);
            failed = true;
            continue; /* the next applied event retries from the same cursor */
        }
        bool full = o.rows == PUSH_PAGE; /* a full page may have more behind it */
        if (o.rows && !client_send(s, c, o.b)) { /* dropped: too slow */
            evbuffer_free(o.b);
            continue;
        }
        /* nothing more is visible to it up to `upto` unless the page was full */
        c->last_seq = full ? o.last : (o.last > upto ? o.last : upto);
        more |= full;
        evbuffer_free(o.b);
    }
    if (more) event_active(s->applied_ev, EV_READ, 0);
    return !more && !failed;
}

static void applied_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    hub_server *s = arg;
    if (push_from_store(s) && !s->repl) s->push_resync = false;
}

static void handle_stream(hub_server *s, struct evhttp_request *req, const xc_member *m) {
    query q;
    struct evkeyvalq kv;
    char err[300];
    if (!parse_query(req, ",after,type,issuer,kind,", &q, &kv, err, sizeof err)) {
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 400, err);
    }
    const char *lei = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
    if (lei && !parse_int64(lei, INT64_MAX, &q.after)) {
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 400, "Last-Event-ID is not a sequence number");
    }
    /* no cursor at all: from now on, as tail -f (a follower that wants the
     * past pages it first, or names where it stopped) */
    if (!lei && !evhttp_find_header(&kv, "after")) q.after = atomic_load(&s->last_seq);
    if (s->n_clients >= s->cfg.max_stream_clients) {
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 503, "too many stream clients (limits.max_stream_clients)");
    }
    /* one member opening followers on every connection it may open
     * (max_member_connections, 256 by default, as many as max_stream_clients)
     * held every stream slot: the others got 503 */
    size_t mine = 0;
    for (const stream_client *o = s->clients; o && s->cfg.max_member_streams; o = o->next)
        mine += !strcmp(o->reader, m->issuer);
    if (s->cfg.max_member_streams && mine >= s->cfg.max_member_streams) {
        evhttp_clear_headers(&kv);
        char msg[200];
        snprintf(msg, sizeof msg, "too many stream clients of %.80s (limits.max_member_streams: %u)", m->issuer,
                 s->cfg.max_member_streams);
        return reply_error(s, req, 503, msg);
    }
    stream_client *c = calloc(1, sizeof *c);
    if (!c) {
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 503, "out of memory");
    }
    c->srv = s;
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    snprintf(c->reader, sizeof c->reader, "%s", m->issuer);
    memcpy(c->cert_sha256, m->cert_sha256, sizeof c->cert_sha256);
    for (size_t i = 0; i < q.n_types; i++) fs_str_copy(q.types[i], c->types[i], sizeof c->types[i]);
    c->n_types = q.n_types;
    if (q.issuer) snprintf(c->issuer, sizeof c->issuer, "%s", q.issuer);
    if (q.kind) snprintf(c->kind, sizeof c->kind, "%s", q.kind);
    /* backlog: committed events after the cursor; later pushes skip seq <= last.
     * One more than stream_backlog is read: a follower further behind (or
     * one whose backlog would not fit stream_buffer) is told to page with
     * GET /v1/events first, never silently moved past what it missed. */
    backlog_out o = {evbuffer_new(), q.after, 0};
    hub_pull_query pq = {.after = q.after, .limit = (int)s->cfg.stream_backlog + 1};
    filter_from(&q, m->issuer, &pq.f);
    int64_t next;
    fs_err e;
    if (!o.b || hub_pull(s->rstore, &pq, backlog_row, &o, &next, &e) != FS_OK) {
        if (o.b) evbuffer_free(o.b);
        free(c);
        evhttp_clear_headers(&kv);
        return reply_error(s, req, 503, o.b ? e.msg : "out of memory");
    }
    if (o.rows > s->cfg.stream_backlog || evbuffer_get_length(o.b) > s->cfg.stream_buffer) {
        evbuffer_free(o.b);
        free(c);
        evhttp_clear_headers(&kv);
        char msg[200];
        snprintf(msg, sizeof msg, "after=%lld is more than %u events (limits.stream_backlog) or %llu bytes "
                 "(limits.stream_buffer) behind: page with GET /v1/events?after=%lld first",
                 (long long)q.after, s->cfg.stream_backlog, (unsigned long long)s->cfg.stream_buffer,
                 (long long)q.after);
        return reply_error(s, req, 409, msg);
    }
    evhttp_clear_headers(&kv);
    c->last_seq = o.last;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(req, 200, "OK");
    /* a follower only reads: the idle timeout must not cut it, the buffer bound will */
    evhttp_connection_set_timeout(c->evcon, 7 * 86400);
    c->next = s->clients;
    if (s->clients) s->clients->prev = c;
    s->clients = c;
    s->n_clients++;
    evhttp_connection_set_closecb(c->evcon, client_closed_cb, c);
    evbuffer_add(o.b, ": fs38 hub stream\n\n", 19);
    /* not client_send: the backlog is already bounded by stream_buffer (else
     * 409 above), but with the status line and headers queued before it one
     * that nearly filled stream_buffer passed the bound and the follower was
     * dropped before a byte went out -- an empty reply, the same on every
     * reconnect with the same cursor */
    evhttp_send_reply_chunk(req, o.b);
    evbuffer_free(o.b);
}

/* ---- routing ------------------------------------------------------------------------------------- */

/* A header whose name is not a token (RFC 9110 5.6.2): libevent keeps
 * "Content-Length : 56" as a header named "Content-Length " and frames the
 * request without a body, so the body's bytes were served as the next
 * request; RFC 9112 5.1 has such a request refused with 400. The name of
 * the first one, or NULL. */
static const char *header_name_invalid(struct evhttp_request *req) {
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
        const char *k = h->key;
        bool ok = *k != '\0';
        for (; ok && *k; k++)
            ok = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
                 strchr(tchar, *k) != NULL;
        if (!ok) return h->key;
    }
    return NULL;
}

/* More than one Content-Length (libevent takes the first): the bytes after
 * the body it framed may be a smuggled request (RFC 9112 6.3). */
static bool content_length_repeated(struct evhttp_request *req) {
    int n = 0;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) n += !evutil_ascii_strcasecmp(h->key, "Content-Length");
    return n > 1;
}

/* A Transfer-Encoding other than one "chunked" (RFC 9112 6.1, 6.3): libevent
 * decodes only a lone "chunked" and takes any other value ("gzip",
 * "identity, chunked", two headers) as a request without a body, so the body's
 * bytes were read as the next request on the connection (a smuggled request
 * served). NULL when there is none or it is that one chunked; else why not. */
static const char *transfer_encoding_refused(struct evhttp_request *req) {
    int n = 0;
    const char *v = NULL;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
        if (!evutil_ascii_strcasecmp(h->key, "Transfer-Encoding")) n++, v = h->value;
    if (n == 0 || (n == 1 && !evutil_ascii_strcasecmp(v, "chunked"))) return NULL;
    return n > 1 ? "more than one Transfer-Encoding header (RFC 9112 6.1); connection closed"
                 : "Transfer-Encoding other than chunked is not supported (RFC 9112 6.1); connection closed";
}

static void route_cb(struct evhttp_request *req, void *arg) {
    hub_server *s = arg;
    atomic_fetch_add(&s->m.requests, 1);
    clock_request_arrived(req);
    const char *bad_name = header_name_invalid(req);
    if (bad_name) {
        char msg[160];
        snprintf(msg, sizeof msg, "header name '%.60s' is not a token (whitespace before the colon?, "
                 "RFC 9112 5.1); connection closed", bad_name);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        return reply_error(s, req, 400, msg);
    }
    if (content_length_repeated(req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        return reply_error(s, req, 400, "more than one Content-Length header (RFC 9112 6.3); connection closed");
    }
    const char *te = transfer_encoding_refused(req);
    if (te) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        return reply_error(s, req, 400, te);
    }
    bool revoked;
    const xc_member *m = request_member(s, req, &revoked);
    if (revoked) {
        /* the registry was reloaded: this connection's member is revoked or gone */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        return reply_error(s, req, 403, "member revoked: this client certificate is revoked or no "
                                        "longer in the trust registry (reloaded); connection closed");
    }
    if (!m) return reply_error(s, req, 403, "no member certificate on this connection");
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (!path) return reply_error(s, req, 400, "no path");
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    static const char *const gets[] = {"/v1/events", "/v1/stream", "/v1/sightings", "/v1/snapshot",
                                       "/v1/registry", "/health", "/metrics"};
    bool known = false;
    for (size_t i = 0; i < sizeof gets / sizeof *gets; i++) known |= !strcmp(path, gets[i]);
    if (!known) return reply_error(s, req, 404, "no such endpoint (see docs/hub.md: /v1/events, /v1/stream, /v1/sightings, /v1/snapshot, /v1/registry, /health, /metrics)");
    if (!strcmp(path, "/v1/events") && cmd == EVHTTP_REQ_POST) return handle_publish(s, req, m);
    if (cmd != EVHTTP_REQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          strcmp(path, "/v1/events") ? "GET" : "GET, POST");
        return reply_error(s, req, 405, "method not allowed here");
    }
    if (!strcmp(path, "/v1/events")) return handle_pull(s, req, m);
    if (!strcmp(path, "/v1/stream")) return handle_stream(s, req, m);
    if (!strcmp(path, "/v1/sightings")) return handle_sightings(s, req, m);
    if (!strcmp(path, "/v1/snapshot")) return handle_snapshot(s, req, m);
    if (!strcmp(path, "/v1/registry")) return handle_registry(s, req);
    if (!strcmp(path, "/health")) return handle_health(s, req);
    return handle_metrics(s, req);
}

/* ---- lifecycle ------------------------------------------------------------------------------------ */

/* Stream followers whose member the registry no longer lists as active, or
 * whose certificate it now gives to another member: such a follower kept
 * reading as its old member (that member's TLP:RED events) while a new
 * request with the same certificate was the other one. */
static size_t drop_revoked_followers(hub_server *s) {
    size_t dropped = 0;
    hub_reg *r = reg_get(s);
    stream_client *next;
    for (stream_client *c = s->clients; c; c = next) {
        next = c->next;
        const xc_member *m = xc_registry_find_cert(&r->reg, c->cert_sha256);
        if (m && !m->revoked && !strcmp(m->issuer, c->reader)) continue;
        struct evhttp_connection *evcon = c->evcon;
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        client_remove(s, c);
        evhttp_connection_free(evcon);
        dropped++;
    }
    reg_put(r);
    return dropped;
}

fs_code hub_server_reload_registry(hub_server *s, fs_err *e) {
    hub_reg *fresh;
    fs_code rc = reg_load(s->cfg.registry, atomic_load(&s->reg_gen) + 1, &fresh, e);
    if (rc != FS_OK) return rc;
    pthread_mutex_lock(&s->regmu);
    hub_reg *old = s->reg;
    s->reg = fresh;
    atomic_store(&s->reg_gen, fresh->gen);
    pthread_mutex_unlock(&s->regmu);
    reg_put(old); /* freed once the jobs verifying with it are answered */
    size_t revoked = 0;
    for (size_t i = 0; i < fresh->reg.n; i++) revoked += fresh->reg.members[i].revoked;
    size_t dropped = drop_revoked_followers(s);
    hub_log(s, "trust registry reloaded from %s: %zu members (%zu revoked); %zu stream followers of "
               "revoked or removed members dropped", s->cfg.registry, fresh->reg.n, revoked, dropped);
    return FS_OK;
}

void hub_server_set_log(hub_server *s, hub_server_log_fn fn, void *ctx) {
    s->log = fn;
    s->log_ctx = ctx;
}

static fs_code server_new(const hub_config *c, bool check, bool *port_in_use, hub_server **out, fs_err *e) {
    *out = NULL;
    pthread_once(&idx_once, idx_init);
    if (member_idx < 0 || conn_idx < 0 || clock_idx < 0)
        return fs_fail(e, FS_ERR_INTERNAL, "OpenSSL ex_data indexes");
    if (evthread_use_pthreads() != 0) return fs_fail(e, FS_ERR_INTERNAL, "libevent: no pthreads support");
    hub_server *s = calloc(1, sizeof *s);
    if (!s) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    s->cfg = *c;
    pthread_mutex_init(&s->tmu, NULL);
    pthread_cond_init(&s->tcond, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_cond_init(&s->ccond, NULL);
    pthread_mutex_init(&s->dmu, NULL);
    pthread_mutex_init(&s->regmu, NULL);
    pthread_mutex_init(&s->mconn_lock, NULL);
    *out = s;
    fs_code rc;
    if ((rc = reg_load(c->registry, 1, &s->reg, e)) != FS_OK) return rc;
    atomic_store(&s->reg_gen, 1);
    if ((rc = tls_setup(s, e)) != FS_OK) return rc;
    if ((rc = hub_store_open(c->store_url, &s->wstore, e)) != FS_OK ||
        (rc = hub_store_migrate(s->wstore, e)) != FS_OK ||
        (rc = hub_store_open(c->store_url, &s->rstore, e)) != FS_OK)
        return rc;
    int64_t seq = 0;
    if ((rc = hub_store_last_seq(s->rstore, &seq, e)) != FS_OK) return rc;
    atomic_store(&s->last_seq, seq);
    if (c->repl_urls[0]) {
        if ((rc = hub_repl_open_tls(c->repl_urls, c->repl_stream, c->repl_node_id, (int)c->repl_replicas,
                                    c->repl_tls_ca, &s->repl, e)) != FS_OK ||
            (rc = hub_store_open(c->store_url, &s->astore, e)) != FS_OK)
            return rc;
        s->sight_obs = calloc(HUB_MAX_OBS, sizeof *s->sight_obs);
        s->sight_aud = calloc(HUB_MAX_AUDIENCE, sizeof *s->sight_aud);
        if (!s->sight_obs || !s->sight_aud) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    }
    s->limiter = hub_limiter_new(c->rate_events_per_s, c->rate_burst);
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    if (!s->limiter || !s->http) return fs_fail(e, FS_ERR_NOMEM, "out of memory (event loop)");
    evhttp_set_bevcb(s->http, bev_cb, s);
    evhttp_set_gencb(s->http, route_cb, s);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)c->max_body);
    evhttp_set_max_headers_size(s->http, c->max_header_bytes);
    evhttp_set_timeout(s->http, (int)c->timeout_s);
    /* every method libevent knows reaches route_cb, which answers the ones
     * an endpoint does not take with a JSON 405 and Allow (RFC 9110 15.5.6);
     * left to libevent, HEAD, PUT, DELETE... got an HTML 501 "Not
     * Implemented" that no metric counted (CONNECT stays libevent's: it
     * frames no answer body) */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                            EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH);
    /* a host that does not resolve: libevent only warned on stderr and the
     * errno left behind read "No such file or directory" */
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                    .ai_flags = EVUTIL_AI_PASSIVE}, *ai = NULL;
    int gai = evutil_getaddrinfo(c->listen_host, NULL, &hints, &ai);
    if (gai != 0)
        return fs_fail(e, FS_ERR_CONFIG, "listen: cannot resolve host '%s': %s", c->listen_host,
                       evutil_gai_strerror(gai));
    evutil_freeaddrinfo(ai);
    errno = 0;
    s->bound = evhttp_bind_socket_with_handle(s->http, c->listen_host, c->listen_port);
    /* --check beside the hub it checks (running on that address): the
     * address is taken, which is no error in the config */
    if (!s->bound && check && errno == EADDRINUSE) {
        *port_in_use = true;
        return FS_OK;
    }
    if (!s->bound)
        return fs_fail(e, FS_ERR_IO, "cannot listen on %s:%u: %s", c->listen_host, c->listen_port,
                       strerror(errno));
    /* Answers are small and written in several TLS records: without this,
     * Nagle holds the last one until the client's delayed ACK (~40 ms).
     * Accepted sockets inherit it from the listener on Linux. */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(s->bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(s->bound), (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    if (check) return FS_OK; /* nothing is served: no thread (no second applier on the store) */
    s->done_ev = event_new(s->base, -1, EV_PERSIST, done_cb, s);
    s->ping_ev = event_new(s->base, -1, EV_PERSIST, ping_cb, s);
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->bound), accept_error_cb);
    s->applied_ev = event_new(s->base, -1, EV_PERSIST, applied_cb, s);
    if (!s->done_ev || !s->ping_ev || !s->applied_ev) return fs_fail(e, FS_ERR_NOMEM, "out of memory (events)");
    struct timeval ping = {(time_t)c->ping_s, 0};
    event_add(s->ping_ev, &ping);
    s->n_workers = c->workers ? c->workers : 1;
    s->workers = calloc(s->n_workers, sizeof *s->workers);
    if (!s->workers) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n_workers; i++)
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            s->n_workers = i;
            return fs_fail(e, FS_ERR_INTERNAL, "cannot start worker threads");
        }
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0)
        return fs_fail(e, FS_ERR_INTERNAL, "cannot start the committer thread");
    s->committer_started = true;
    if (s->repl) {
        if (pthread_create(&s->applier, NULL, applier_main, s) != 0)
            return fs_fail(e, FS_ERR_INTERNAL, "cannot start the replication applier thread");
        s->applier_started = true;
    }
    return FS_OK;
}

fs_code hub_server_new(const hub_config *c, hub_server **out, fs_err *e) {
    bool unused = false;
    return server_new(c, false, &unused, out, e);
}

fs_code hub_server_check(const hub_config *c, hub_server **out, bool *port_in_use, fs_err *e) {
    *port_in_use = false;
    return server_new(c, true, port_in_use, out, e);
}

uint16_t hub_server_port(const hub_server *s) { return s->port; }

fs_code hub_server_run(hub_server *s, fs_err *e) {
    if (event_base_dispatch(s->base) < 0) return fs_fail(e, FS_ERR_INTERNAL, "event loop failed");
    return FS_OK;
}

void hub_server_stop(hub_server *s) {
    if (s && s->base) event_base_loopbreak(s->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg) {
    (void)sig, (void)what;
    hub_server_stop(arg);
}

static void hup_cb(evutil_socket_t sig, short what, void *arg) {
    (void)sig, (void)what;
    hub_server *s = arg;
    fs_err e;
    if (hub_server_reload_registry(s, &e) != FS_OK)
        hub_log(s, "trust registry NOT reloaded, the previous one stays in force: %s", e.msg);
}

void hub_server_handle_signals(hub_server *s) {
    signal(SIGPIPE, SIG_IGN);
    s->sig_int = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sig_term = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->sig_hup = evsignal_new(s->base, SIGHUP, hup_cb, s);
    if (s->sig_int) evsignal_add(s->sig_int, NULL);
    if (s->sig_term) evsignal_add(s->sig_term, NULL);
    if (s->sig_hup) evsignal_add(s->sig_hup, NULL);
}

void hub_server_free(hub_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, true);
    pthread_mutex_lock(&s->tmu);
    pthread_cond_broadcast(&s->tcond);
    pthread_mutex_unlock(&s->tmu);
    for (size_t i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
    pthread_mutex_lock(&s->cmu);
    pthread_cond_broadcast(&s->ccond);
    pthread_mutex_unlock(&s->cmu);
    if (s->committer_started) pthread_join(s->committer, NULL);
    /* the committer is done awaiting: the applier may stop (it checks every 250 ms) */
    atomic_store(&s->applier_stop, 1);
    if (s->applier_started) pthread_join(s->applier, NULL);
    while (s->clients) {
        stream_client *c = s->clients;
        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
        client_remove(s, c);
    }
    if (s->sig_int) event_free(s->sig_int);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_hup) event_free(s->sig_hup);
    if (s->done_ev) event_free(s->done_ev);
    if (s->ping_ev) event_free(s->ping_ev);
    if (s->applied_ev) event_free(s->applied_ev);
    if (s->http) evhttp_free(s->http); /* closes connections: pending jobs forget their request */
    /* requests still queued (a worker may finish one after the committer
     * stopped): freed only now, since closing their connections above calls
     * job_closed_cb on them */
    for (task *t = s->thead, *n; t; t = n) {
        n = t->next;
        if (t->chunk < 0) job_free(t->job);
        free(t);
    }
    for (pub_job *j; (j = jq_pop(&s->commitq));) job_free(j);
    for (pub_job *j; (j = jq_pop(&s->doneq));) job_free(j);
    if (s->base) event_base_free(s->base);
    SSL_CTX_free(s->ssl_ctx);
    SSL_CTX_free(s->refuse_ctx);
    hub_store_close(s->rstore);
    hub_store_close(s->wstore);
    hub_store_close(s->astore);
    hub_repl_close(s->repl);
    free(s->sight_obs);
    free(s->sight_aud);
    hub_limiter_free(s->limiter);
    reg_put(s->reg);
    free(s->workers);
    pthread_mutex_destroy(&s->tmu);
    pthread_cond_destroy(&s->tcond);
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->ccond);
    pthread_mutex_destroy(&s->dmu);
    pthread_mutex_destroy(&s->regmu);
    pthread_mutex_destroy(&s->mconn_lock);
    free(s->mconn);
    free(s);
}
