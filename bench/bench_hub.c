/*
 * bench_hub.c -- load generator for `fs38 hub` (issue 3, section 5).
 *
 * Owns: a mutual-TLS HTTPS client (OpenSSL, blocking sockets, one thread per
 * connection), pre-signed events, and the timing of the hub's publish, pull
 * and push paths; plus the raw libsodium Ed25519 verification rate on the
 * same cores, the physical limit of a verifying hub. Used by
 * scripts/bench_hub.sh; not a test (nothing here passes or fails).
 * Must not touch: the hub's internals -- it talks to the hub over HTTPS only,
 * and uses libfs38 only to make keys and sign events (xc.h).
 *
 *   bench_hub verify [-t S] [--sign-key F]       raw verify rate, 1 and 2 threads
 *   bench_hub setup --cert C.crt --issuer I --dir D
 *                                                signing key + registry.json (cert_sha256 of C)
 *   bench_hub publish COMMON [-n N] [-b BATCH] [-c CONNS]
 *   bench_hub pull COMMON [-l LIMIT] [-m MAX]
 *   bench_hub latency COMMON [-r RATE] [-s SECONDS] [-c CONNS]
 *   COMMON: --hub HOST:PORT --cert C --key K --ca CA --sign-key D/<kid>.key
 *
 * Every command prints one line "RESULT what=... key=value ...".
 *
 * Events: SIP_FLOOD events of ~660 bytes (one ip observable, TLP green) with
 * event_id "<run prefix>-0000-7000-8000-<index>", signed before any timing
 * starts on both cores. The payload starts with the 36 bytes
 * {"schema_version":"1.0","event_id":" so the event_id is base64 characters
 * 48..95 of the payload segment: the follower finds which event arrived
 * without parsing JSON.
 *
 * publish: CONNS connections, each sending POST /v1/events with BATCH events
 * per request as fast as answers come (the next batch is taken from a shared
 * counter). Rate = events stored / wall time from the first request to the
 * last answer; an answer arrives only after the hub's commit is durable.
 * client_cpu_s = this process's CPU over that time (TLS and HTTP only: the
 * events were signed before), so that scripts/bench_hub.sh can show where
 * the two cores went (hub, database server, client); signing_input = the
 * mean bytes an event's signature covers (JWS header.payload, ~970).
 * verify: the signing inputs of VMSGS such events, signed with --sign-key
 * (else a key made for the run, of the issuer bench_hub.sh uses), checked
 * over and over: the same bytes a verifying hub checks, not fewer.
 * pull: GET /v1/events?after=A&limit=L from 0 until next stops moving.
 * latency: a follower on GET /v1/stream (HTTP/1.0: unchunked) starting at
 * the current last seq; CONNS publishers send every 10 ms a batch of
 * RATE/100 events on a fixed schedule (tick k at start + 10k ms, round robin
 * over the connections); per event, latency = arrival of its "data:" line at
 * the follower - the moment its request was written. Percentiles over all
 * events of the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "exchange/xc.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process has used so far. */
static double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *fmt, const char *arg) __attribute__((noreturn));
static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "bench_hub: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

/* ---- raw Ed25519 verification rate --------------------------------------------- */

#define VMSGS 64

typedef struct vjob {
    const char *const *msg; /* VMSGS signing inputs (header.payload of a JWS) */
    const size_t *len;
    const uint8_t (*sig)[64];
    const uint8_t *pk;
    double seconds;
    unsigned long long done;
    int bad;
} vjob;

static void *verify_thread(void *arg) {
    vjob *j = arg;
    double end = mono() + j->seconds;
    unsigned long long n = 0;
    do {
        for (int i = 0; i < VMSGS; i++)
            if (crypto_sign_verify_detached(j->sig[i], (const uint8_t *)j->msg[i], j->len[i], j->pk) != 0) j->bad++;
        n += VMSGS;
    } while (mono() < end);
    j->done = n;
    return NULL;
}

/* Verifications per second with t threads over `seconds` of wall time. */
static double verify_rate(int t, double seconds, const char *const *msg, const size_t *len,
                          const uint8_t (*sig)[64], const uint8_t *pk) {
    pthread_t th[8];
    vjob jobs[8];
    double t0 = mono();
    for (int i = 0; i < t; i++) {
        jobs[i] = (vjob){msg, len, sig, pk, seconds, 0, 0};
        pthread_create(&th[i], NULL, verify_thread, &jobs[i]);
    }
    unsigned long long total = 0;
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].done;
        if (jobs[i].bad) die("%s", "a signature did not verify");
    }
    return (double)total / (mono() - t0);
}

/* ---- setup: a signing key and the registry ---------------------------------------- */

static int cmd_setup(const char *cert_path, const char *issuer, const char *dir) {
    FILE *f = fopen(cert_path, "r");
    if (!f) die("cannot open %s", cert_path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!x || !X509_digest(x, EVP_sha256(), md, &mdlen) || mdlen != 32) die("bad certificate %s", cert_path);
    X509_free(x);
    xc_keypair kp;
    fs_err e;
    char member[1024], path[4096];
    if (xc_keypair_generate(issuer, &kp, &e) != FS_OK || xc_keypair_save(&kp, dir, &e) != FS_OK ||
        xc_member_json(&kp, member, sizeof member, &e) != FS_OK)
        die("%s", e.msg);
    char *close = strrchr(member, '}');
    if (!close) die("%s", "member JSON");
    *close = '\0';
    snprintf(path, sizeof path, "%s/registry.json", dir);
    if (!(f = fopen(path, "w"))) die("cannot write %s", path);
    fprintf(f, "{\"members\":[%s,\"cert_sha256\":\"", member);
    for (int i = 0; i < 32; i++) fprintf(f, "%02x", md[i]);
    fprintf(f, "\"}]}\n");
    fclose(f);
    printf("%s/%s.key\n", dir, kp.kid);
    xc_keypair_wipe(&kp);
    return 0;
}

/* ---- events ------------------------------------------------------------------------- */

typedef struct events {
    size_t n;
    char **jws;
    size_t *len;
    uint32_t prefix;
} events;

static void rfc3339(time_t t, char *out, size_t n) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

typedef struct sign_job {
    events *ev;
    const xc_keypair *kp;
    size_t lo, hi;
    char created[32], valid[32];
} sign_job;

static void *sign_thread(void *arg) {
    sign_job *j = arg;
    char payload[1024];
    for (size_t i = j->lo; i < j->hi; i++) {
        int n = snprintf(payload, sizeof payload,
            "{\"schema_version\":\"1.0\",\"event_id\":\"%08x-0000-7000-8000-%012zx\",\"version\":1,"
            "\"status\":\"active\",\"issuer\":\"%s\",\"created\":\"%s\",\"first_seen\":\"%s\","
            "\"last_seen\":\"%s\",\"valid_until\":\"%s\",\"event_type\":\"SIP_FLOOD\","
            "\"domain\":\"infrastructure\",\"severity\":\"medium\",\"confidence\":70,"
            "\"rule\":{\"id\":\"SIP-FLOOD-001\",\"name\":\"INVITE flood from one source\"},"
            "\"observables\":[{\"kind\":\"ip\",\"value\":\"203.0.%zu.%zu\",\"role\":\"source\"}],"
            "\"evidence\":{\"count\":%zu,\"window_s\":10},"
            "\"recommended_action\":{\"action\":\"RATE_LIMIT_SOURCE\",\"scope\":\"sip_ingress\",\"ttl_s\":600},"
            "\"handling\":{\"tlp\":\"green\"}}",
            j->ev->prefix, i, j->kp->issuer, j->created, j->created, j->created, j->valid,
            (i >> 8) & 255, i & 255, 100 + i % 1000);
        size_t cap = xc_jws_size((size_t)n) + 1;
        char *out = malloc(cap);
        fs_err e;
        size_t len = out ? xc_jws_sign(payload, (size_t)n, j->kp, out, cap, &e) : 0;
        if (!len) die("sign: %s", out ? e.msg : "out of memory");
        j->ev->jws[i] = out;
        j->ev->len[i] = len;
    }
    return NULL;
}

/* n events signed with kp on two threads; created now, valid one hour. */
static void make_events_with(events *ev, size_t n, const xc_keypair *kp) {
    ev->n = n;
    ev->jws = calloc(n, sizeof *ev->jws);
    ev->len = calloc(n, sizeof *ev->len);
    if (!ev->jws || !ev->len) die("%s", "out of memory");
    randombytes_buf(&ev->prefix, sizeof ev->prefix);
    sign_job j[2];
    pthread_t th[2];
    time_t now = time(NULL);
    for (int t = 0; t < 2; t++) {
        j[t] = (sign_job){ev, kp, n * (size_t)t / 2, n * (size_t)(t + 1) / 2, "", ""};
        rfc3339(now, j[t].created, sizeof j[t].created);
        rfc3339(now + 3600, j[t].valid, sizeof j[t].valid);
        pthread_create(&th[t], NULL, sign_thread, &j[t]);
    }
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
}

static void make_events(events *ev, size_t n, const char *key_path) {
    xc_keypair kp;
    fs_err e;
    if (xc_keypair_load(key_path, &kp, &e) != FS_OK) die("%s", e.msg);
    make_events_with(ev, n, &kp);
    xc_keypair_wipe(&kp);
}

static void events_free(events *ev) {
    for (size_t i = 0; i < ev->n; i++) free(ev->jws[i]);
    free(ev->jws);
    free(ev->len);
    memset(ev, 0, sizeof *ev);
}

/* The bytes the signature of JWS i covers (header.payload). */
static size_t signing_input_len(const events *ev, size_t i) {
    const char *dot = memrchr(ev->jws[i], '.', ev->len[i]);
    return dot ? (size_t)(dot - ev->jws[i]) : 0;
}

static double mean_signing_input(const events *ev) {
    double sum = 0;
    for (size_t i = 0; i < ev->n; i++) sum += (double)signing_input_len(ev, i);
    return ev->n ? sum / (double)ev->n : 0;
}

/* The raw rate on 1 and 2 threads, over the signing inputs of VMSGS bench
 * events signed with key_path (NULL: a key made now, of the issuer
 * scripts/bench_hub.sh gives its member). */
static int cmd_verify(double seconds, const char *key_path) {
    xc_keypair kp;
    fs_err e;
    if (key_path ? xc_keypair_load(key_path, &kp, &e) != FS_OK
                 : xc_keypair_generate("org:234-15", &kp, &e) != FS_OK)
        die("%s", e.msg);
    events ev;
    make_events_with(&ev, VMSGS, &kp);
    static const char *msg[VMSGS];
    static size_t len[VMSGS];
    static uint8_t sig[VMSGS][64];
    for (size_t i = 0; i < VMSGS; i++) {
        size_t got = 0, in = signing_input_len(&ev, i);
        if (!in || sodium_base642bin(sig[i], sizeof sig[i], ev.jws[i] + in + 1, ev.len[i] - in - 1, NULL, &got, NULL,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || got != 64)
            die("%s", "a signed event without its signature");
        msg[i] = ev.jws[i];
        len[i] = in;
    }
    double r1 = verify_rate(1, seconds, msg, len, (const uint8_t (*)[64])sig, kp.pk);
    double r2 = verify_rate(2, seconds, msg, len, (const uint8_t (*)[64])sig, kp.pk);
    printf("RESULT what=verify msg_bytes=%.0f verify_1t=%.0f verify_2t=%.0f\n", mean_signing_input(&ev), r1, r2);
    events_free(&ev);
    xc_keypair_wipe(&kp);
    return 0;
}

/* The event index carried in a JWS's event_id (see the top comment); -1 if none. */
static long event_index(const char *jws, size_t len, uint32_t prefix) {
    const char *dot = memchr(jws, '.', len);
    if (!dot || (size_t)(jws + len - dot) < 1 + 96) return -1;
    unsigned char id[37];
    size_t got = 0;
    if (sodium_base642bin(id, sizeof id - 1, dot + 1 + 48, 48, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || got != 36)
        return -1;
    id[36] = 0;
    unsigned p = 0;
    unsigned long long idx = 0;
    if (sscanf((char *)id, "%8x-0000-7000-8000-%12llx", &p, &idx) != 2 || p != prefix) return -1;
    return (long)idx;
}

/* ---- HTTPS client ----------------------------------------------------------------- */

typedef struct client_cfg {
    char host[256];
    char port[16];
    const char *cert, *key, *ca;
    SSL_CTX *ctx;
} client_cfg;

typedef struct conn {
    int fd;
    SSL *ssl;
    char *buf; /* response bytes */
    size_t len, cap;
} conn;

static void client_init(client_cfg *c) {
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx || SSL_CTX_use_certificate_chain_file(c->ctx, c->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(c->ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(c->ctx, c->ca, NULL) != 1)
        die("%s", "TLS client set-up (--cert, --key, --ca)");
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
}

static bool conn_open(client_cfg *c, conn *k) {
    memset(k, 0, sizeof *k);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(c->host, c->port, &hints, &ai) != 0) return false;
    k->fd = socket(ai->ai_family, SOCK_STREAM, 0);
    bool ok = k->fd >= 0 && connect(k->fd, ai->ai_addr, ai->ai_addrlen) == 0;
    freeaddrinfo(ai);
    if (!ok) return false;
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {60, 0};
    setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    k->ssl = SSL_new(c->ctx);
    SSL_set_fd(k->ssl, k->fd);
    X509_VERIFY_PARAM *vp = SSL_get0_param(k->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, c->host) != 1) X509_VERIFY_PARAM_set1_host(vp, c->host, 0);
    if (SSL_connect(k->ssl) != 1) {
        ERR_print_errors_fp(stderr);
        return false;
    }
    return true;
}

static void conn_close(conn *k) {
    if (k->ssl) {
        SSL_shutdown(k->ssl);
        SSL_free(k->ssl);
    }
    if (k->fd >= 0) close(k->fd);
    free(k->buf);
    memset(k, 0, sizeof *k);
    k->fd = -1;
}

static bool write_all(conn *k, const char *p, size_t n) {
    while (n) {
        int w = SSL_write(k->ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads more bytes into k->buf; false on EOF/error. */
static bool read_more(conn *k) {
    if (k->cap - k->len < 65536) {
        size_t cap = k->cap ? k->cap * 2 : 1 << 20;
        char *p = realloc(k->buf, cap + 1);
        if (!p) return false;
        k->buf = p;
        k->cap = cap;
    }
    int r = SSL_read(k->ssl, k->buf + k->len, (int)(k->cap - k->len));
    if (r <= 0) return false;
    k->len += (size_t)r;
    k->buf[k->len] = 0;
    return true;
}

/* One response with Content-Length: *status, body at *body (into k->buf,
 * valid until the next call). */
static bool read_response(conn *k, int *status, const char **body, size_t *blen) {
    k->len = 0;
    if (k->buf) k->buf[0] = '\0';
    char *eoh;
    for (;;) {
        if (k->buf && (eoh = strstr(k->buf, "\r\n\r\n"))) break;
        if (!read_more(k)) return false;
    }
    *status = atoi(k->buf + 9);
    size_t hlen = (size_t)(eoh + 4 - k->buf), clen = 0;
    for (char *l = strstr(k->buf, "\r\n"); l && l < eoh; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, "Content-Length:", 15)) clen = strtoull(l + 17, NULL, 10);
    while (k->len < hlen + clen)
        if (!read_more(k)) return false;
    *body = k->buf + hlen;
    *blen = clen;
    return true;
}

static long long json_int_after(const char *body, const char *key) {
    const char *p = strstr(body, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* ---- publish ----------------------------------------------------------------------- */

typedef struct request {
    char *bytes;
    size_t len;
    size_t first, n; /* events in it */
} request;

/* POST /v1/events of events [first, first+n). */
static void build_request(client_cfg *c, const events *ev, size_t first, size_t n, request *r) {
    size_t body = 13; /* {"events":[ ]}\n, commas */
    for (size_t i = first; i < first + n; i++) body += ev->len[i] + 3;
    char head[512];
    int h = snprintf(head, sizeof head,
                     "POST /v1/events HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n", c->host, c->port, body);
    r->bytes = malloc((size_t)h + body + 1);
    if (!r->bytes) die("%s", "out of memory");
    char *o = r->bytes;
    memcpy(o, head, (size_t)h), o += h;
    memcpy(o, "{\"events\":[", 11), o += 11;
    size_t start = (size_t)(o - r->bytes);
    for (size_t i = first; i < first + n; i++) {
        if (i > first) *o++ = ',';
        *o++ = '"';
        memcpy(o, ev->jws[i], ev->len[i]), o += ev->len[i];
        *o++ = '"';
    }
    memcpy(o, "]}\n", 3), o += 3;
    if ((size_t)(o - r->bytes) - start + 11 != body) die("%s", "body size");
    r->len = (size_t)(o - r->bytes);
    r->first = first;
    r->n = n;
}

typedef struct pub_shared {
    client_cfg *cfg;
    request *reqs;
    size_t n_reqs;
    atomic_size_t next;
    atomic_ullong stored, rejected, errors;
    pthread_barrier_t ready;
    char first_error[512];
    pthread_mutex_t mu;
} pub_shared;

static void note_error(pub_shared *s, const char *what, const char *body) {
    atomic_fetch_add(&s->errors, 1);
    pthread_mutex_lock(&s->mu);
    if (!s->first_error[0]) snprintf(s->first_error, sizeof s->first_error, "%s: %.400s", what, body ? body : "");
    pthread_mutex_unlock(&s->mu);
}

static void *publish_thread(void *arg) {
    pub_shared *s = arg;
    conn k;
    bool ok = conn_open(s->cfg, &k);
    pthread_barrier_wait(&s->ready);
    if (!ok) {
        note_error(s, "connect", NULL);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n_reqs) break;
        int status;
        const char *body;
        size_t blen;
        if (!write_all(&k, s->reqs[i].bytes, s->reqs[i].len) || !read_response(&k, &status, &body, &blen)) {
            note_error(s, "connection lost", NULL);
            break;
        }
        if (status != 200) {
            note_error(s, "HTTP error", body);
            continue;
        }
        long long st = json_int_after(body, "],\"stored\":"), rj = json_int_after(body, "\"rejected\":");
        if (st >= 0) atomic_fetch_add(&s->stored, (unsigned long long)st);
        if (rj > 0) {
            atomic_fetch_add(&s->rejected, (unsigned long long)rj);
            const char *why = strstr(body, "\"status\":\"rejected\"");
            note_error(s, "rejected", why);
        }
    }
    conn_close(&k);
    return NULL;
}

static int cmd_publish(client_cfg *c, const char *sign_key, size_t n, size_t batch, int conns) {
    events ev;
    double t0 = mono();
    make_events(&ev, n, sign_key);
    double sign_s = mono() - t0;
    pub_shared s = {.cfg = c};
    s.n_reqs = (n + batch - 1) / batch;
    s.reqs = calloc(s.n_reqs, sizeof *s.reqs);
    for (size_t r = 0; r < s.n_reqs; r++)
        build_request(c, &ev, r * batch, r * batch + batch > n ? n - r * batch : batch, &s.reqs[r]);
    pthread_t th[64];
    if (conns > 64) conns = 64; /* before the barrier: it waits for every thread started */
    pthread_barrier_init(&s.ready, NULL, (unsigned)conns + 1);
    pthread_mutex_init(&s.mu, NULL);
    for (int i = 0; i < conns; i++) pthread_create(&th[i], NULL, publish_thread, &s);
    pthread_barrier_wait(&s.ready); /* every connection past its handshake */
    double start = mono(), cpu0 = cpu_self();
    for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
    double secs = mono() - start, client_cpu = cpu_self() - cpu0;
    unsigned long long stored = atomic_load(&s.stored);
    printf("RESULT what=publish events=%zu batch=%zu conns=%d stored=%llu rejected=%llu errors=%llu "
           "seconds=%.3f rate=%.0f sign_s=%.2f client_cpu_s=%.2f signing_input=%.0f\n",
           n, batch, conns, stored, (unsigned long long)atomic_load(&s.rejected),
           (unsigned long long)atomic_load(&s.errors), secs, (double)stored / secs, sign_s, client_cpu,
           mean_signing_input(&ev));
    if (s.first_error[0]) fprintf(stderr, "bench_hub: first problem: %s\n", s.first_error);
    return stored ? 0 : 1;
}

/* ---- pull ------------------------------------------------------------------------------ */

static size_t count_rows(const char *body) {
    size_t n = 0;
    for (const char *p = body; (p = strstr(p, "{\"seq\":")); p += 7) n++;
    return n;
}

static int cmd_pull(client_cfg *c, int limit, size_t max) {
    conn k;
    if (!conn_open(c, &k)) die("%s", "cannot connect");
    long long after = 0;
    size_t total = 0, pages = 0, bytes = 0;
    double start = mono();
    while (total < max) {
        char req[512];
        int n = snprintf(req, sizeof req, "GET /v1/events?after=%lld&limit=%d HTTP/1.1\r\nHost: %s:%s\r\n\r\n",
                         after, limit, c->host, c->port);
        int status;
        const char *body;
        size_t blen;
        if (!write_all(&k, req, (size_t)n) || !read_response(&k, &status, &body, &blen) || status != 200)
            die("%s", "pull failed");
        long long next = json_int_after(body, "],\"next\":");
        size_t rows = count_rows(body);
        pages++;
        bytes += blen;
        total += rows;
        if (next <= after || rows == 0) break;
        after = next;
    }
    double secs = mono() - start;
    printf("RESULT what=pull limit=%d events=%zu pages=%zu bytes=%zu seconds=%.3f rate=%.0f\n", limit,
           total, pages, bytes, secs, (double)total / secs);
    conn_close(&k);
    return total ? 0 : 1;
}

/* ---- push latency ----------------------------------------------------------------------- */

typedef struct lat_shared {
    client_cfg *cfg;
    events *ev;
    request *reqs; /* one per tick */
    size_t n_ticks;
    int conns;
    double tick_s, start;
    double *sent;       /* per event: when its request was written */
    double *lat;        /* per event: arrival - sent, -1 = not yet */
    atomic_ullong received, late_ticks, errors;
    atomic_bool follower_ready, stop;
    atomic_uint connected;
    atomic_ullong answer_us; /* sum of publish round trips */
    pthread_barrier_t ready;
    long long after;
} lat_shared;

static void sleep_until(double t) {
    double d = t - mono();
    if (d <= 0) return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

typedef struct pub_arg {
    lat_shared *s;
    int id;
} pub_arg;

static void *lat_publisher(void *arg) {
    pub_arg *a = arg;
    lat_shared *s = a->s;
    conn k;
    bool ok = conn_open(s->cfg, &k);
    atomic_fetch_add(&s->connected, 1);
    pthread_barrier_wait(&s->ready);
    if (!ok) {
        atomic_fetch_add(&s->errors, 1);
        return NULL;
    }
    for (size_t t = (size_t)a->id; t < s->n_ticks; t += (size_t)s->conns) {
        double due = s->start + (double)t * s->tick_s;
        sleep_until(due);
        double now = mono();
        if (now - due > s->tick_s) atomic_fetch_add(&s->late_ticks, 1);
        request *r = &s->reqs[t];
        for (size_t i = r->first; i < r->first + r->n; i++) s->sent[i] = now;
        int status;
        const char *body;
        size_t blen;
        if (!write_all(&k, r->bytes, r->len) || !read_response(&k, &status, &body, &blen) || status != 200) {
            atomic_fetch_add(&s->errors, 1);
            break;
        }
        atomic_fetch_add(&s->answer_us, (unsigned long long)((mono() - now) * 1e6));
    }
    conn_close(&k);
    return NULL;
}

static void *lat_follower(void *arg) {
    lat_shared *s = arg;
    conn k;
    if (!conn_open(s->cfg, &k)) {
        atomic_fetch_add(&s->errors, 1);
        atomic_store(&s->follower_ready, true);
        return NULL;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET /v1/stream?after=%lld HTTP/1.0\r\nHost: %s:%s\r\n\r\n", s->after,
                     s->cfg->host, s->cfg->port);
    struct timeval tv = {1, 0};
    setsockopt(k.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (!write_all(&k, req, (size_t)n)) atomic_fetch_add(&s->errors, 1);
    size_t scan = 0;
    while (!atomic_load(&s->stop)) {
        if (!read_more(&k)) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) continue; /* timeout: check stop */
            break;
        }
        double now = mono();
        /* whole lines only; keep a partial line for the next read */
        for (;;) {
            char *nl = memchr(k.buf + scan, '\n', k.len - scan);
            if (!nl) break;
            char *line = k.buf + scan;
            size_t ll = (size_t)(nl - line);
            if (ll >= 13 && !memcmp(line, ": fs38 hub st", 13)) atomic_store(&s->follower_ready, true);
            if (ll > 6 && !memcmp(line, "data: ", 6)) {
                long idx = event_index(line + 6, ll - 6, s->ev->prefix);
                if (idx >= 0 && (size_t)idx < s->ev->n && s->lat[idx] < 0 && s->sent[idx] > 0) {
                    s->lat[idx] = now - s->sent[idx];
                    atomic_fetch_add(&s->received, 1);
                }
            }
            scan = (size_t)(nl + 1 - k.buf);
        }
        if (scan > (1u << 19)) { /* drop consumed bytes */
            memmove(k.buf, k.buf + scan, k.len - scan);
            k.len -= scan;
            k.buf[k.len] = 0;
            scan = 0;
        }
    }
    conn_close(&k);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_latency(client_cfg *c, const char *sign_key, int rate, double seconds, int conns) {
    const double tick = 0.010;
    size_t per_tick = (size_t)(rate * tick + 0.5);
    if (per_tick < 1) per_tick = 1;
    size_t ticks = (size_t)(seconds / tick);
    events ev;
    make_events(&ev, ticks * per_tick, sign_key);
    lat_shared s = {.cfg = c, .ev = &ev, .n_ticks = ticks, .conns = conns, .tick_s = tick};
    s.reqs = calloc(ticks, sizeof *s.reqs);
    s.sent = calloc(ev.n, sizeof *s.sent);
    s.lat = malloc(ev.n * sizeof *s.lat);
    for (size_t i = 0; i < ev.n; i++) s.lat[i] = -1;
    for (size_t t = 0; t < ticks; t++) build_request(c, &ev, t * per_tick, per_tick, &s.reqs[t]);
    /* the current end of the log: the follower starts there */
    conn k;
    if (!conn_open(c, &k)) die("%s", "cannot connect");
    char req[256];
    int n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nHost: %s:%s\r\n\r\n", c->host, c->port);
    int status;
    const char *body;
    size_t blen;
    if (!write_all(&k, req, (size_t)n) || !read_response(&k, &status, &body, &blen) || status != 200)
        die("%s", "GET /health failed");
    s.after = json_int_after(body, "\"seq\":");
    conn_close(&k);

    pthread_t fol, th[64];
    pub_arg args[64];
    if (conns > 64) conns = 64;
    s.conns = conns;
    pthread_create(&fol, NULL, lat_follower, &s);
    double wait_until = mono() + 10;
    while (!atomic_load(&s.follower_ready) && mono() < wait_until) usleep(5000);
    pthread_barrier_init(&s.ready, NULL, (unsigned)conns + 1);
    s.start = mono() + 3600; /* set for real below, before the barrier releases anyone */
    for (int i = 0; i < conns; i++) {
        args[i] = (pub_arg){&s, i};
        pthread_create(&th[i], NULL, lat_publisher, &args[i]);
    }
    /* the publishers' handshakes take a while: start the clock once they are done */
    while (atomic_load(&s.connected) < (unsigned)conns && mono() < wait_until + 10) usleep(2000);
    s.start = mono() + 0.05;
    pthread_barrier_wait(&s.ready);
    for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
    double sent_end = mono();
    /* drain: up to 3 s for the last events */
    while (atomic_load(&s.received) < ev.n && mono() < sent_end + 3) usleep(10000);
    atomic_store(&s.stop, true);
    pthread_join(fol, NULL);
    size_t got = 0;
    double *v = malloc(ev.n * sizeof *v);
    for (size_t i = 0; i < ev.n; i++)
        if (s.lat[i] >= 0) v[got++] = s.lat[i] * 1000;
    qsort(v, got, sizeof *v, cmp_double);
    double p50 = got ? v[got / 2] : -1, p99 = got ? v[(size_t)((double)(got - 1) * 0.99)] : -1,
           max = got ? v[got - 1] : -1;
    printf("RESULT what=latency rate=%d seconds=%.1f conns=%d sent=%zu received=%zu late_ticks=%llu "
           "errors=%llu achieved_rate=%.0f answer_ms=%.2f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
           rate, seconds, conns, ev.n, got, (unsigned long long)atomic_load(&s.late_ticks),
           (unsigned long long)atomic_load(&s.errors), (double)ev.n / (sent_end - s.start),
           (double)atomic_load(&s.answer_us) / 1e3 / (double)ticks, p50, p99, max);
    free(v);
    return got ? 0 : 1;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(void) {
    fputs("usage: bench_hub verify [-t S] [--sign-key F]\n"
          "       bench_hub setup --cert MEMBER.crt --issuer ISSUER --dir DIR\n"
          "       bench_hub publish|pull|latency --hub HOST:PORT --cert C --key K --ca CA\n"
          "                 [--sign-key F] [-n N] [-b BATCH] [-c CONNS] [-l LIMIT] [-m MAX]\n"
          "                 [-r RATE] [-s SECONDS]\n", stderr);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2 || sodium_init() < 0) usage();
    const char *cmd = argv[1];
    static const struct option lo[] = {
        {"hub", required_argument, NULL, 'H'}, {"cert", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'K'}, {"ca", required_argument, NULL, 'A'},
        {"sign-key", required_argument, NULL, 'S'}, {"issuer", required_argument, NULL, 'I'},
        {"dir", required_argument, NULL, 'D'}, {NULL, 0, NULL, 0}};
    client_cfg c = {0};
    const char *sign_key = NULL, *issuer = NULL, *dir = NULL;
    size_t n = 50000, batch = 1000, max = SIZE_MAX;
    int conns = 4, limit = 10000, rate = 1000;
    double secs = 1.0;
    int o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "n:b:c:l:m:r:s:t:", lo, NULL)) != -1) {
        switch (o) {
        case 'H': {
            const char *colon = strrchr(optarg, ':');
            if (!colon) usage();
            snprintf(c.host, sizeof c.host, "%.*s", (int)(colon - optarg), optarg);
            snprintf(c.port, sizeof c.port, "%s", colon + 1);
            break;
        }
        case 'C': c.cert = optarg; break;
        case 'K': c.key = optarg; break;
        case 'A': c.ca = optarg; break;
        case 'S': sign_key = optarg; break;
        case 'I': issuer = optarg; break;
        case 'D': dir = optarg; break;
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'b': batch = strtoull(optarg, NULL, 10); break;
        case 'c': conns = atoi(optarg); break;
        case 'l': limit = atoi(optarg); break;
        case 'm': max = strtoull(optarg, NULL, 10); break;
        case 'r': rate = atoi(optarg); break;
        case 's':
        case 't': secs = atof(optarg); break;
        default: usage();
        }
    }
    if (!strcmp(cmd, "verify")) return cmd_verify(secs, sign_key);
    if (!strcmp(cmd, "setup")) {
        if (!c.cert || !issuer || !dir) usage();
        return cmd_setup(c.cert, issuer, dir);
    }
    if (!c.host[0] || !c.cert || !c.key || !c.ca) usage();
    if (n == 0 || batch == 0 || conns < 1 || limit < 1 || rate < 1 || secs <= 0) usage();
    client_init(&c);
    if (!strcmp(cmd, "publish") && sign_key) return cmd_publish(&c, sign_key, n, batch, conns);
    if (!strcmp(cmd, "pull")) return cmd_pull(&c, limit, max);
    if (!strcmp(cmd, "latency") && sign_key) return cmd_latency(&c, sign_key, rate, secs, conns);
    usage();
    return 2;
}
