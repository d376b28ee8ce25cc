/*
 * cl_http.c -- a small blocking HTTPS/1.1 client with mutual TLS (OpenSSL 3),
 * enough for the hub's API: one request per connection, Content-Length,
 * chunked and read-until-close bodies, and a server-sent events reader.
 *
 * Owns: hub URLs, TCP connect with a timeout, the TLS handshake (our member
 * certificate, the hub verified against --ca including its host name or IP),
 * request writing, response parsing with bounds, the SSE line protocol.
 * Must not touch: JSON meaning, signatures, printing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cl.h"

#define IO_BUF 16384

enum { BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

/* One connection with its read buffer and the framing of the body being read. */
typedef struct conn {
    const cl_hub *hub;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char buf[IO_BUF];
    size_t start, end;
    int mode;
    uint64_t remaining; /* BODY_LENGTH: bytes left; BODY_CHUNKED: left in this chunk */
    bool body_done;
    bool trailers; /* BODY_CHUNKED: the last chunk came, its trailer lines are being read */
    bool eof; /* the hub closed the connection (not a timeout or an error) */
    bool peer_gone; /* a write failed because the hub closed (EPIPE, ECONNRESET) */
    bool answered_early; /* the hub gave its final answer to our Expect: 100-continue */
    uint64_t last_rx_us; /* wall clock of the last bytes received */
    uint64_t deadline_us; /* the whole answer must have come by then (0: none, a stream's events) */
    /* in-memory source instead of TLS (cl_response_parse, cl_stream_parse) */
    const char *mem;
    size_t mem_len, mem_pos, mem_step;
} conn;

struct cl_stream {
    conn c;
    char *line;         /* the SSE line being assembled (survives timeouts) */
    size_t line_len;
    char *data;         /* data: of the event being assembled */
    size_t data_len;
    char id[32], event[32];
    bool have_data;
};

/* ---- URLs ------------------------------------------------------------------------ */

fs_code cl_hub_init(cl_hub *h, const char *url, const char *cert, const char *key, const char *ca,
                    fs_err *e) {
    memset(h, 0, sizeof *h);
    h->cert = cert;
    h->key = key;
    h->ca = ca;
    h->timeout_ms = 10000;
    if (!url || strncasecmp(url, "https://", 8) != 0)
        return fs_fail(e, FS_ERR_USAGE, "--hub '%s': expected https://HOST:PORT", url ? url : "");
    const char *p = url + 8, *host_end;
    const char *host = p;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(p, ']');
        if (!host_end) return fs_fail(e, FS_ERR_USAGE, "--hub '%s': unterminated [IPv6] host", url);
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl > CL_HOST_MAX) return fs_fail(e, FS_ERR_USAGE, "--hub '%s': no host", url);
    memcpy(h->host, host, hl);
    h->host[hl] = '\0';
    snprintf(h->port, sizeof h->port, "443");
    if (*p == ':') {
        p++;
        size_t pl = strspn(p, "0123456789");
        uint64_t port;
        if (pl == 0 || pl > 5 || !fs_str_to_u64(fs_str_make(p, pl), 65535, &port) || port == 0)
            return fs_fail(e, FS_ERR_USAGE, "--hub '%s': port must be 1-65535", url);
        snprintf(h->port, sizeof h->port, "%u", (unsigned)port);
        p += pl;
    }
    if (*p && *p != '/') return fs_fail(e, FS_ERR_USAGE, "--hub '%s': unexpected '%c' after the port", url, *p);
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/') plen--;
    if (plen >= sizeof h->prefix) return fs_fail(e, FS_ERR_USAGE, "--hub '%s': path too long", url);
    memcpy(h->prefix, p, plen);
    h->prefix[plen] = '\0';
    if (!cert || !key || !ca)
        return fs_fail(e, FS_ERR_USAGE, "the hub needs mutual TLS: give --cert, --key and --ca");
    return FS_OK;
}

/* ---- connecting ---------------------------------------------------------------------- */

static void tls_error_text(char *out, size_t n) {
    unsigned long err = ERR_get_error(), last = err;
    while (err) {
        last = err;
        err = ERR_get_error();
    }
    if (last) ERR_error_string_n(last, out, n);
    else snprintf(out, n, "%s", errno ? strerror(errno) : "connection closed");
}

static fs_code tcp_connect(conn *c, fs_err *e) {
    const cl_hub *h = c->hub;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(h->host, h->port, &hints, &res);
    if (rc != 0)
        return fs_fail(e, FS_ERR_IO, "hub %s:%s: cannot resolve host: %s", h->host, h->port, gai_strerror(rc));
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int fl = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            r = poll(&pfd, 1, h->timeout_ms);
            if (r == 1) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                r = soerr ? -1 : 0;
                errno = soerr;
            } else { /* 0: the time ran out; -1: poll failed (errno says why) */
                errno = r == 0 ? ETIMEDOUT : errno ? errno : ETIMEDOUT;
                r = -1;
            }
        }
        if (r == 0) {
            /* the socket stays non-blocking: every wait is a poll bounded by
             * the timeouts (tls_wait), never a read OpenSSL repeats until a
             * whole TLS record came, however slowly it comes */
            c->fd = fd;
            freeaddrinfo(res);
            return FS_OK;
        }
        last_errno = errno ? errno : ETIMEDOUT;
        close(fd);
    }
    freeaddrinfo(res);
    return fs_fail(e, FS_ERR_IO, "hub %s:%s: cannot connect: %s", h->host, h->port,
                   strerror(last_errno ? last_errno : ECONNREFUSED));
}

static bool host_is_ip(const char *host) {
    unsigned char tmp[16];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static fs_code readable(const char *opt, const char *path, fs_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return fs_fail(e, FS_ERR_USAGE, "%s %s: %s", opt, path, strerror(errno));
    fclose(f);
    return FS_OK;
}

static fs_code tls_setup(conn *c, fs_err *e) {
    const cl_hub *h = c->hub;
    char err[256];
    if (readable("--cert", h->cert, e) != FS_OK || readable("--key", h->key, e) != FS_OK ||
        readable("--ca", h->ca, e) != FS_OK)
        return FS_ERR_USAGE;
    ERR_clear_error();
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) return fs_fail(e, FS_ERR_NOMEM, "TLS: cannot create a context");
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(c->ctx, h->cert) != 1) {
        tls_error_text(err, sizeof err);
        return fs_fail(e, FS_ERR_USAGE, "--cert %s: cannot use it as a client certificate: %s", h->cert, err);
    }
    /* the hub refuses an expired certificate with an alert that may come
     * only after our request was written (TLS 1.3): named here, with its date */
    X509 *mine = SSL_CTX_get0_certificate(c->ctx);
    const ASN1_TIME *until = mine ? X509_get0_notAfter(mine) : NULL;
    const ASN1_TIME *from = mine ? X509_get0_notBefore(mine) : NULL;
    bool expired = until && X509_cmp_current_time(until) < 0;
    if (expired || (from && X509_cmp_current_time(from) > 0)) {
        char when[64] = "?";
        BIO *mb = BIO_new(BIO_s_mem());
        if (mb && ASN1_TIME_print(mb, expired ? until : from) == 1) {
            int wn = BIO_read(mb, when, (int)sizeof when - 1);
            when[wn > 0 ? wn : 0] = '\0';
        }
        BIO_free(mb);
        return fs_fail(e, FS_ERR_USAGE, "--cert %s %s %s: the hub would refuse it", h->cert,
                       expired ? "expired on" : "is not valid before", when);
    }
    if (SSL_CTX_use_PrivateKey_file(c->ctx, h->key, SSL_FILETYPE_PEM) != 1) {
        tls_error_text(err, sizeof err);
        if (strstr(err, "mismatch"))
            return fs_fail(e, FS_ERR_USAGE, "--key %s does not belong to --cert %s", h->key, h->cert);
        return fs_fail(e, FS_ERR_USAGE, "--key %s: cannot use it as the TLS key: %s", h->key, err);
    }
    if (SSL_CTX_check_private_key(c->ctx) != 1)
        return fs_fail(e, FS_ERR_USAGE, "--key %s does not belong to --cert %s", h->key, h->cert);
    if (SSL_CTX_load_verify_locations(c->ctx, h->ca, NULL) != 1) {
        tls_error_text(err, sizeof err);
        return fs_fail(e, FS_ERR_USAGE, "--ca %s: cannot load it: %s", h->ca, err);
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    return FS_OK;
}

/* SSL_connect, done within limit_us as a whole: the socket's read timeout
 * starts again at every byte, so a hub trickling its handshake held the
 * client for as long as it liked. 1 done, 0 out of time, -1 failed (the
 * SSL error queue and errno say why). */
static int handshake_within(conn *c, uint64_t limit_us) {
    int fl = fcntl(c->fd, F_GETFL, 0);
    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
    uint64_t deadline = fs_time_now_us() + limit_us;
    int done = -1;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(c->ssl);
        if (r == 1) {
            done = 1;
            break;
        }
        int want = SSL_get_error(c->ssl, r);
        if (want != SSL_ERROR_WANT_READ && want != SSL_ERROR_WANT_WRITE) break;
        uint64_t now = fs_time_now_us();
        if (now >= deadline) {
            done = 0;
            break;
        }
        struct pollfd pfd = {.fd = c->fd, .events = want == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        if (poll(&pfd, 1, (int)((deadline - now + 999) / 1000)) < 0 && errno != EINTR) break;
    }
    int err = errno;
    fcntl(c->fd, F_SETFL, fl);
    errno = err;
    return done;
}

static fs_code tls_handshake(conn *c, fs_err *e) {
    const cl_hub *h = c->hub;
    char err[256];
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl) return fs_fail(e, FS_ERR_NOMEM, "TLS: cannot create a session");
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (host_is_ip(h->host)) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, h->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, h->host);
        X509_VERIFY_PARAM_set1_host(vp, h->host, 0);
    }
    SSL_set_fd(c->ssl, c->fd);
    int r = handshake_within(c, (uint64_t)h->timeout_ms * 1000);
    if (r == 0)
        return fs_fail(e, FS_ERR_IO, "hub %s:%s: TLS handshake not done within %d ms (--timeout)", h->host,
                       h->port, h->timeout_ms);
    if (r != 1) {
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK)
            return fs_fail(e, FS_ERR_IO, "hub %s:%s: TLS handshake failed: the hub's certificate was "
                                         "not accepted: %s (--ca %s)",
                           h->host, h->port, X509_verify_cert_error_string(vr), h->ca);
        tls_error_text(err, sizeof err);
        return fs_fail(e, FS_ERR_IO, "hub %s:%s: TLS handshake failed: %s", h->host, h->port, err);
    }
    return FS_OK;
}

static void conn_close(conn *c) {
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ctx) SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

static fs_code conn_open(conn *c, const cl_hub *h, fs_err *e) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->hub = h;
    fs_code rc = tls_setup(c, e);
    if (rc == FS_OK) rc = tcp_connect(c, e);
    if (rc == FS_OK) rc = tls_handshake(c, e);
    if (rc != FS_OK) conn_close(c);
    return rc;
}

/* ---- reading ----------------------------------------------------------------------- */

/* Wait for the socket as OpenSSL asked (want: SSL_ERROR_WANT_READ or _WRITE).
 * timeout_ms >= 0: the caller's, counted from entered; < 0: the hub's
 * per-read timeout, counted from *progress (moved on whenever the socket
 * is ready). Both are cut to the whole answer's deadline. 1: ready;
 * 0: the caller's timeout passed; -1: a timeout of ours or a failure (e set). */
static int tls_wait(conn *c, int want, int timeout_ms, uint64_t entered, uint64_t *progress, fs_err *e) {
    const cl_hub *h = c->hub;
    uint64_t now = fs_time_now_us();
    uint64_t until = timeout_ms >= 0 ? entered + (uint64_t)timeout_ms * 1000
                                     : *progress + (uint64_t)h->timeout_ms * 1000;
    bool whole = c->deadline_us && c->deadline_us <= until;
    if (whole) until = c->deadline_us;
    if (now < until) {
        struct pollfd pfd = {.fd = c->fd, .events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
        int r = poll(&pfd, 1, (int)((until - now + 999) / 1000));
        if (r > 0) {
            *progress = fs_time_now_us();
            return 1;
        }
        if (r < 0) {
            fs_fail(e, FS_ERR_IO, "hub %s:%s: %s", h->host, h->port, strerror(errno));
            return -1;
        }
    }
    if (whole)
        fs_fail(e, FS_ERR_IO, "hub %s:%s: no whole answer within %d s", h->host, h->port,
                h->timeout_ms / 1000 * CL_ANSWER_TIMEOUTS);
    else if (timeout_ms >= 0)
        return 0;
    else
        fs_fail(e, FS_ERR_IO, "hub %s:%s: no answer within %d ms", h->host, h->port, h->timeout_ms);
    return -1;
}

/* Read more bytes. > 0: bytes added; 0: timeout (only when timeout_ms >= 0);
 * -1: closed or failed (e set). */
static int conn_fill(conn *c, int timeout_ms, fs_err *e) {
    if (c->start == c->end) c->start = c->end = 0;
    if (c->end == sizeof c->buf) {
        if (c->start == 0) {
            fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: response line too long", c->hub->host, c->hub->port);
            return -1;
        }
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->mem) {
        size_t n = c->mem_len - c->mem_pos, room = sizeof c->buf - c->end;
        if (n == 0) {
            c->eof = true;
            fs_fail(e, FS_ERR_IO, "hub %s:%s: connection closed", c->hub->host, c->hub->port);
            return -1;
        }
        if (n > c->mem_step) n = c->mem_step;
        if (n > room) n = room;
        memcpy(c->buf + c->end, c->mem + c->mem_pos, n);
        c->mem_pos += n;
        c->end += n;
        return (int)n;
    }
    /* until: the caller's timeout from now, else the hub's per-read timeout
     * from the last bytes that came; both cut to the whole answer's deadline.
     * A hub trickling one TLS record a byte at a time (the socket's own
     * timeout starts again at each byte, and OpenSSL reads the record to
     * its end) held the client past both for as long as it liked. */
    uint64_t entered = fs_time_now_us(), progress = entered;
    int n, err;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        n = SSL_read(c->ssl, c->buf + c->end, (int)(sizeof c->buf - c->end));
        if (n > 0) {
            c->end += (size_t)n;
            c->last_rx_us = fs_time_now_us();
            return n;
        }
        err = SSL_get_error(c->ssl, n);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) break;
        int r = tls_wait(c, err, timeout_ms, entered, &progress, e);
        if (r <= 0) return r;
    }
    char text[256];
    /* a close without close_notify is a close too (OpenSSL 3 reports it as an error) */
    if (err == SSL_ERROR_ZERO_RETURN ||
        (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
        (err == SSL_ERROR_SYSCALL && errno == 0 && ERR_peek_error() == 0)) {
        c->eof = true;
        fs_fail(e, FS_ERR_IO, "hub %s:%s: connection closed", c->hub->host, c->hub->port);
    } else {
        tls_error_text(text, sizeof text);
        bool refused = strstr(text, "alert") != NULL;
        fs_fail(e, FS_ERR_IO, "hub %s:%s: %s%s", c->hub->host, c->hub->port, text,
                refused ? " (the hub refused our certificate: is it a registered, active member?)" : "");
    }
    return -1;
}

/* A CRLF/LF terminated line (without the terminator) into out. */
static bool read_line(conn *c, char *out, size_t cap, fs_err *e) {
    for (;;) {
        char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
        if (nl) {
            size_t n = (size_t)(nl - (c->buf + c->start));
            size_t keep = n && nl[-1] == '\r' ? n - 1 : n;
            if (keep >= cap) {
                fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: response line longer than %zu bytes", c->hub->host,
                        c->hub->port, cap - 1);
                return false;
            }
            memcpy(out, c->buf + c->start, keep);
            out[keep] = '\0';
            c->start += n + 1;
            return true;
        }
        if (c->end - c->start >= cap + 1) {
            fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: response line longer than %zu bytes", c->hub->host,
                    c->hub->port, cap - 1);
            return false;
        }
        if (conn_fill(c, -1, e) < 0) return false;
    }
}

typedef struct head {
    int status;
    bool chunked, has_length;
    uint64_t length;
    char content_type[64];
    char retry_after[16];
} head;

static fs_code read_head(conn *c, head *hd, fs_err *e) {
    char line[4096];
    size_t total = 0;
interim:
    memset(hd, 0, sizeof *hd);
    if (!read_line(c, line, sizeof line, e)) return FS_ERR_IO;
    unsigned major, minor, status;
    if (sscanf(line, "HTTP/%u.%u %3u", &major, &minor, &status) != 3 || status < 100 || status > 599)
        return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: not an HTTP response: '%.60s'", c->hub->host,
                       c->hub->port, line);
    hd->status = (int)status;
    total += strlen(line) + 2;
    for (;;) {
        if (!read_line(c, line, sizeof line, e)) return FS_ERR_IO;
        total += strlen(line) + 2;
        if (total > CL_HEADERS_MAX_BYTES)
            return fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: response headers larger than %d bytes",
                           c->hub->host, c->hub->port, CL_HEADERS_MAX_BYTES);
        if (!line[0]) break;
        if (status < 200) continue; /* an interim answer's headers */
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (!strcasecmp(line, "Content-Length")) {
            uint64_t n;
            if (!fs_str_to_u64(fs_str_make(v, strlen(v)), UINT64_MAX / 2, &n))
                return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: bad Content-Length '%.30s'", c->hub->host,
                               c->hub->port, v);
            hd->has_length = true;
            hd->length = n;
        } else if (!strcasecmp(line, "Transfer-Encoding")) {
            hd->chunked = strcasestr(v, "chunked") != NULL;
        } else if (!strcasecmp(line, "Content-Type")) {
            snprintf(hd->content_type, sizeof hd->content_type, "%s", v);
        } else if (!strcasecmp(line, "Retry-After")) {
            snprintf(hd->retry_after, sizeof hd->retry_after, "%s", v);
        }
    }
    /* 1xx (100 Continue, 103 Early Hints) is an interim answer a client must
     * read past to the final one (RFC 9110 15.2), whether it asked for one or
     * not; it was taken for the answer, the final one read as its body. The
     * headers' bound covers them all. 101 would switch protocols: final. */
    if (status < 200 && status != 101) goto interim;
    c->mode = hd->chunked ? BODY_CHUNKED : hd->has_length ? BODY_LENGTH : BODY_CLOSE;
    c->remaining = hd->has_length && !hd->chunked ? hd->length : 0;
    c->body_done = c->mode == BODY_LENGTH && c->remaining == 0;
    if (hd->status == 204 || hd->status == 304) c->body_done = true;
    return FS_OK;
}

/* Decoded body bytes into dst. > 0: bytes; 0: end of body; -1: error;
 * -2: timeout (timeout_ms >= 0 only). */
static long body_read(conn *c, char *dst, size_t n, int timeout_ms, fs_err *e) {
    for (;;) {
        if (c->body_done) return 0;
        if (c->mode == BODY_CHUNKED && c->remaining == 0) {
            /* need a chunk-size line; make sure one is buffered before blocking on it */
            if (!memchr(c->buf + c->start, '\n', c->end - c->start)) {
                int r = conn_fill(c, timeout_ms, e);
                if (r == 0) return -2;
                if (r < 0) return -1;
                continue;
            }
            char line[128];
            if (!read_line(c, line, sizeof line, e)) return -1;
            if (c->trailers) { /* a line at a time as they come, as the chunk sizes */
                if (line[0]) continue;
                c->body_done = true;
                return 0;
            }
            if (!line[0]) continue; /* the CRLF after a chunk's data */
            char *end;
            errno = 0;
            unsigned long long size = strtoull(line, &end, 16);
            if (end == line || errno || size > CL_BODY_MAX)
                return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: bad chunk size '%.30s'", c->hub->host,
                               c->hub->port, line), -1;
            if (size == 0) {
                /* trailers until an empty line, read as the chunk sizes are:
                 * waiting for them without the caller's timeout let a hub
                 * sending one now and then hold a stream's reader (and
                 * pull --follow past --duration) for as long as it liked */
                c->trailers = true;
                continue;
            }
            c->remaining = size;
        }
        if (c->start == c->end) {
            int r = conn_fill(c, timeout_ms, e);
            if (r == 0) return -2;
            if (r < 0) {
                /* only the hub closing ends a body without a length: a
                 * timeout or a failure is one (the part read was taken
                 * for the whole answer, "not JSON" said instead of why) */
                if (c->mode == BODY_CLOSE && c->eof) {
                    c->body_done = true;
                    return 0;
                }
                if (c->eof && c->mode == BODY_LENGTH)
                    fs_fail(e, FS_ERR_IO, "hub %s:%s: the answer was cut short: the connection closed "
                            "%llu bytes before its Content-Length", c->hub->host, c->hub->port,
                            (unsigned long long)c->remaining);
                else if (c->eof)
                    fs_fail(e, FS_ERR_IO, "hub %s:%s: the answer was cut short: the connection closed "
                            "within a chunk", c->hub->host, c->hub->port);
                return -1;
            }
        }
        size_t have = c->end - c->start;
        if (c->mode != BODY_CLOSE && have > c->remaining) have = (size_t)c->remaining;
        if (have > n) have = n;
        memcpy(dst, c->buf + c->start, have);
        c->start += have;
        if (c->mode != BODY_CLOSE) {
            c->remaining -= have;
            if (c->mode == BODY_LENGTH && c->remaining == 0) c->body_done = true;
        }
        return (long)have;
    }
}

/* ---- requests ------------------------------------------------------------------------- */

static fs_code send_all(conn *c, const char *p, size_t n, fs_err *e) {
    while (n) {
        ERR_clear_error();
        errno = 0;
        int w = SSL_write(c->ssl, p, n > (1u << 30) ? (1 << 30) : (int)n);
        int err = w <= 0 ? SSL_get_error(c->ssl, w) : SSL_ERROR_NONE;
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            /* the same bytes again once the socket is ready (OpenSSL's rule) */
            uint64_t now = fs_time_now_us();
            if (tls_wait(c, err, -1, now, &now, e) < 0) {
                char why[sizeof e->msg];
                snprintf(why, sizeof why, "%s", e ? e->msg : "");
                return fs_fail(e, FS_ERR_IO, "%s (sending the request)", why);
            }
            continue;
        }
        if (w <= 0) {
            c->peer_gone = errno == EPIPE || errno == ECONNRESET;
            char text[256];
            tls_error_text(text, sizeof text);
            return fs_fail(e, FS_ERR_IO, "hub %s:%s: sending the request failed: %s", c->hub->host,
                           c->hub->port, text);
        }
        p += w;
        n -= (size_t)w;
    }
    return FS_OK;
}

/* The hub's answer to Expect: 100-continue (RFC 9110 10.1.1): an interim 1xx
 * is read past and the body goes; a final answer (413 for a body over its
 * max_body, before any of it is sent) is left buffered for read_response and
 * the body is not sent. No answer within CL_EXPECT_WAIT_MS: the body goes,
 * as a server may not know the expectation. */
static fs_code await_continue(conn *c, fs_err *e) {
    int r = conn_fill(c, CL_EXPECT_WAIT_MS, e);
    if (r == 0) return FS_OK;
    if (r < 0) return FS_ERR_IO;
    const char *nl;
    while (!(nl = memchr(c->buf + c->start, '\n', c->end - c->start)))
        if (conn_fill(c, -1, e) < 0) return FS_ERR_IO;
    char first[64]; /* the status line, left in the buffer */
    size_t len = (size_t)(nl - (c->buf + c->start));
    snprintf(first, sizeof first, "%.*s", (int)(len < sizeof first ? len : sizeof first - 1), c->buf + c->start);
    unsigned major, minor, status;
    if (sscanf(first, "HTTP/%u.%u %3u", &major, &minor, &status) != 3 || status >= 200 ||
        status == 101) {
        c->answered_early = true; /* a final answer, or garbage read_head names */
        return FS_OK;
    }
    char line[4096];
    size_t total = 0;
    do {
        if (!read_line(c, line, sizeof line, e)) return FS_ERR_IO;
        total += strlen(line) + 2;
        if (total > CL_HEADERS_MAX_BYTES)
            return fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: interim answer's headers larger than %d bytes",
                           c->hub->host, c->hub->port, CL_HEADERS_MAX_BYTES);
    } while (line[0]);
    return FS_OK;
}

static fs_code send_request(conn *c, const char *method, const char *path, const char *ctype,
                            const char *body, size_t blen, const char *extra, fs_err *e) {
    const cl_hub *h = c->hub;
    bool expect = body && blen >= CL_EXPECT_MIN_BODY;
    char hdr[2048];
    bool v6 = strchr(h->host, ':') != NULL;
    int n = snprintf(hdr, sizeof hdr,
                     "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: fs38-client\r\n"
                     "Connection: close\r\n%s%s%s",
                     method, h->prefix, path, v6 ? "[" : "", h->host, v6 ? "]" : "", h->port,
                     extra ? extra : "", ctype ? "Content-Type: " : "", ctype ? ctype : "");
    if (n < 0 || (size_t)n >= sizeof hdr - 64)
        return fs_fail(e, FS_ERR_USAGE, "request path too long");
    if (ctype) n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\r\n");
    if (body || strcmp(method, "GET") != 0)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "Content-Length: %zu\r\n%s", blen,
                      expect ? "Expect: 100-continue\r\n" : "");
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\r\n");
    fs_code rc = send_all(c, hdr, (size_t)n, e);
    if (rc == FS_OK && expect) rc = await_continue(c, e);
    if (rc == FS_OK && body && blen && !c->answered_early) rc = send_all(c, body, blen, e);
    return rc;
}

static fs_code read_response(conn *c, const char *method, const char *path, size_t max_body,
                             cl_response *r, fs_err *e);

fs_code cl_request(const cl_hub *h, const char *method, const char *path, const char *ctype,
                   const char *body, size_t blen, size_t max_body, cl_response *r, fs_err *e) {
    memset(r, 0, sizeof *r);
    conn *c = malloc(sizeof *c);
    if (!c) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    fs_code rc = conn_open(c, h, e);
    if (rc != FS_OK) {
        free(c);
        return rc;
    }
    c->deadline_us = fs_time_now_us() + (uint64_t)h->timeout_ms * 1000 * CL_ANSWER_TIMEOUTS;
    rc = send_request(c, method, path, ctype, body, blen, "Accept: application/json\r\n", e);
    if (rc == FS_OK) {
        rc = read_response(c, method, path, max_body, r, e);
    } else if (c->peer_gone) {
        /* a hub may answer before it has read the whole request (413 to a body
         * over its limit) and close: its answer, when it is still there to
         * read, says more than our failed write */
        fs_err re = {0};
        cl_response early;
        if (read_response(c, method, path, max_body, &early, &re) == FS_OK) {
            *r = early;
            rc = FS_OK;
        } else if (e && strstr(re.msg, "alert")) {
            *e = re; /* the hub's TLS alert: why it closed (our certificate refused) */
        }
    }
    conn_close(c);
    free(c);
    return rc;
}

/* Status, headers and the whole body (bounded by max_body) into r. */
static fs_code read_response(conn *c, const char *method, const char *path, size_t max_body,
                             cl_response *r, fs_err *e) {
    const cl_hub *h = c->hub;
    head hd;
    memset(r, 0, sizeof *r);
    fs_code rc = read_head(c, &hd, e);
    size_t cap = 0;
    while (rc == FS_OK) {
        if (r->len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(r->body, ncap);
            if (!nb) {
                rc = fs_fail(e, FS_ERR_NOMEM, "out of memory reading the hub's answer");
                break;
            }
            r->body = nb;
            cap = ncap;
        }
        long got = body_read(c, r->body + r->len, cap - r->len - 1, -1, e);
        if (got == 0) break;
        if (got < 0) {
            rc = FS_ERR_IO;
            break;
        }
        r->len += (size_t)got;
        if (r->len > max_body) {
            rc = fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: answer to %s %s larger than %zu bytes", h->host,
                         h->port, method, path, max_body);
            break;
        }
    }
    if (rc != FS_OK) {
        cl_response_free(r);
        return rc;
    }
    if (!r->body) r->body = calloc(1, 1);
    if (!r->body) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    r->body[r->len] = '\0';
    r->status = hd.status;
    snprintf(r->content_type, sizeof r->content_type, "%s", hd.content_type);
    snprintf(r->retry_after, sizeof r->retry_after, "%s", hd.retry_after);
    return FS_OK;
}

char *cl_printable(char *s) {
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = ' ';
    return s;
}

json_t *cl_json_loadb(const char *buf, size_t len, json_error_t *je) {
    size_t allowed = 1024 + len / 16;
    if (!xc_json_within(buf, len, UINT_MAX, allowed)) { /* (jansson bounds the depth itself) */
        snprintf(je->text, sizeof je->text, "more than %zu values in %zu bytes", allowed, len);
        return NULL;
    }
    return json_loadb(buf, len, 0, je);
}

void cl_response_free(cl_response *r) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* ---- server-sent events ---------------------------------------------------------------- */

/* A stream's memory (its line and event buffers), not yet connected. */
static void stream_free(cl_stream *s) {
    if (!s) return;
    free(s->line);
    free(s->data);
    free(s);
}

static cl_stream *stream_new(fs_err *e) {
    cl_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->line = malloc(CL_SSE_MAX_BYTES + 1);
        s->data = malloc(CL_SSE_MAX_BYTES + 1);
    }
    if (!s || !s->line || !s->data) {
        stream_free(s);
        fs_fail(e, FS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return s;
}

cl_stream *cl_stream_open(const cl_hub *h, const char *path, const char *last_id, fs_err *e) {
    cl_stream *s = stream_new(e);
    if (!s) return NULL;
    if (conn_open(&s->c, h, e) != FS_OK) {
        stream_free(s);
        return NULL;
    }
    char extra[128] = "Accept: text/event-stream\r\n";
    if (last_id && *last_id)
        snprintf(extra, sizeof extra, "Accept: text/event-stream\r\nLast-Event-ID: %.40s\r\n", last_id);
    head hd;
    s->c.deadline_us = fs_time_now_us() + (uint64_t)h->timeout_ms * 1000 * CL_ANSWER_TIMEOUTS;
    fs_code rc = send_request(&s->c, "GET", path, NULL, NULL, 0, extra, e);
    if (rc == FS_OK) rc = read_head(&s->c, &hd, e);
    if (rc == FS_OK && hd.status != 200) {
        char msg[200] = "";
        long n = body_read(&s->c, msg, sizeof msg - 1, 2000, e);
        msg[n > 0 ? n : 0] = '\0';
        rc = fs_fail(e, FS_ERR_IO, "hub %s:%s: GET %s answered %d %s", h->host, h->port, path, hd.status,
                     cl_printable(msg));
    }
    /* a proxy or a wrong URL answering 200 with a page or JSON: named, not
     * read as a stream of no events ("the stream ended", again and again) */
    if (rc == FS_OK && hd.content_type[0] && strncasecmp(hd.content_type, "text/event-stream", 17) != 0)
        rc = fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: GET %s answered 200 with Content-Type '%s', not "
                     "text/event-stream", h->host, h->port, path, cl_printable(hd.content_type));
    if (rc != FS_OK) {
        cl_stream_close(s);
        return NULL;
    }
    s->c.deadline_us = 0; /* the events have no end: each cl_stream_next is bounded instead */
    return s;
}

/* Apply one complete SSE line; true when it dispatched an event. */
static bool sse_line(cl_stream *s, cl_sse *ev) {
    char *l = s->line;
    size_t n = s->line_len;
    if (n == 0) {
        if (!s->have_data) {
            s->event[0] = '\0';
            return false;
        }
        s->data[s->data_len] = '\0';
        snprintf(ev->id, sizeof ev->id, "%s", s->id);
        snprintf(ev->event, sizeof ev->event, "%s", s->event[0] ? s->event : "message");
        ev->data = s->data;
        ev->len = s->data_len;
        s->have_data = false;
        s->event[0] = '\0';
        return true;
    }
    if (l[0] == ':') return false; /* comment: ping */
    char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (colon && v < l + n && *v == ' ') v++;
    size_t vl = (size_t)(l + n - v);
    if (fl == 4 && !memcmp(l, "data", 4)) {
        if (!s->have_data) s->data_len = 0;
        else if (s->data_len < CL_SSE_MAX_BYTES) s->data[s->data_len++] = '\n';
        if (vl > CL_SSE_MAX_BYTES - s->data_len) vl = CL_SSE_MAX_BYTES - s->data_len;
        memcpy(s->data + s->data_len, v, vl);
        s->data_len += vl;
        s->have_data = true;
    } else if (fl == 2 && !memcmp(l, "id", 2)) {
        if (vl < sizeof s->id) {
            memcpy(s->id, v, vl);
            s->id[vl] = '\0';
        }
    } else if (fl == 5 && !memcmp(l, "event", 5)) {
        if (vl < sizeof s->event) {
            memcpy(s->event, v, vl);
            s->event[vl] = '\0';
        }
    }
    return false;
}

int cl_stream_next(cl_stream *s, cl_sse *ev, int timeout_ms, fs_err *e) {
    uint64_t deadline = fs_time_now_us() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000;
    char chunk[4096];
    for (;;) {
        /* consume what is buffered, line by line */
        uint64_t now = fs_time_now_us();
        int left = now >= deadline ? 0 : (int)((deadline - now) / 1000);
        long got = body_read(&s->c, chunk, sizeof chunk, left, e);
        if (got == -2) return 0;
        if (got == 0) {
            fs_fail(e, FS_ERR_IO, "hub %s:%s: the stream ended", s->c.hub->host, s->c.hub->port);
            return -1;
        }
        if (got < 0) return -1;
        /* push bytes back through the line assembler; an event may end mid-chunk,
         * so the rest is kept in the connection buffer by un-reading it */
        for (long i = 0; i < got; i++) {
            char ch = chunk[i];
            if (ch == '\n') {
                if (s->line_len && s->line[s->line_len - 1] == '\r') s->line_len--;
                bool done = sse_line(s, ev);
                s->line_len = 0;
                if (done) {
                    long rest = got - i - 1;
                    if (rest > 0) {
                        /* give the unread bytes back (they were decoded body bytes) */
                        conn *c = &s->c;
                        if ((size_t)rest <= c->start) {
                            c->start -= (size_t)rest;
                            memcpy(c->buf + c->start, chunk + i + 1, (size_t)rest);
                        } else {
                            size_t have = c->end - c->start;
                            memmove(c->buf + rest, c->buf + c->start, have);
                            memcpy(c->buf, chunk + i + 1, (size_t)rest);
                            c->start = 0;
                            c->end = have + (size_t)rest;
                        }
                        if (c->mode != BODY_CLOSE) {
                            c->remaining += (uint64_t)rest;
                            c->body_done = false;
                        }
                    }
                    return 1;
                }
            } else if (s->line_len < CL_SSE_MAX_BYTES) {
                s->line[s->line_len++] = ch;
            } else {
                fs_fail(e, FS_ERR_LIMIT, "hub %s:%s: stream line longer than %u bytes", s->c.hub->host,
                        s->c.hub->port, (unsigned)CL_SSE_MAX_BYTES);
                return -1;
            }
        }
        /* bytes that never end an event (pings back to back) must not keep
         * the caller from its own checks (stop, --duration) past timeout_ms */
        if (!s->c.mem && fs_time_now_us() >= deadline) return 0; /* (in memory: no clock, the bytes end) */
    }
}

uint64_t cl_stream_idle_us(const cl_stream *s) {
    uint64_t now = fs_time_now_us();
    return s->c.last_rx_us && now > s->c.last_rx_us ? now - s->c.last_rx_us : 0;
}

void cl_stream_close(cl_stream *s) {
    if (!s) return;
    conn_close(&s->c);
    stream_free(s);
}

/* ---- in-memory parsing (tests, fuzzing) -------------------------------------------------- */

static const cl_hub mem_hub = {.host = "memory", .port = "0", .timeout_ms = 1000};

static void mem_conn(conn *c, const char *buf, size_t len, size_t step) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->hub = &mem_hub;
    c->mem = buf ? buf : "";
    c->mem_len = buf ? len : 0;
    c->mem_step = step ? step : sizeof c->buf;
}

fs_code cl_response_parse(const char *buf, size_t len, size_t step, size_t max_body, cl_response *r,
                          fs_err *e) {
    conn *c = malloc(sizeof *c);
    if (!c) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    mem_conn(c, buf, len, step);
    fs_code rc = read_response(c, "GET", "/", max_body, r, e);
    free(c);
    return rc;
}

long cl_stream_parse(const char *buf, size_t len, size_t step, cl_sse_fn fn, void *user, fs_err *e) {
    cl_stream *s = stream_new(e);
    if (!s) return -1;
    mem_conn(&s->c, buf, len, step);
    head hd;
    long n = -1;
    if (read_head(&s->c, &hd, e) == FS_OK) {
        if (hd.status != 200) {
            fs_fail(e, FS_ERR_IO, "stream answered %d", hd.status);
        } else {
            n = 0;
            cl_sse ev;
            fs_err se = {0};
            int r;
            while ((r = cl_stream_next(s, &ev, 0, &se)) == 1) {
                if (fn) fn(user, &ev);
                n++;
            }
            /* the end of the input is the normal end; anything else is an error */
            bool clean = se.code == FS_ERR_IO; /* ended or input exhausted, not malformed */
            if (!clean) {
                if (e) *e = se;
                n = -1;
            }
        }
    }
    stream_free(s);
    return n;
}
