/*
 * cap_hep_listen.c -- the --hep listener: HEP over UDP and over TCP on one
 * address and port, as Homer's collectors take it, or over TLS. Kamailio
 * siptrace sends over TCP with a duplicate_uri ending ";transport=tcp" (TLS:
 * ";transport=tls"), OpenSIPS with a hep_tcp socket, heplify with -nt tcp.
 *
 * Owns: the sockets, the TCP connections (at most HEP_TCP_CONNS, each with a
 * buffer of one largest packet) and their framing -- a HEP v3 packet starts
 * "HEP3" and a 16-bit total length, so a stream is cut into packets without
 * reading them. It hands out each UDP datagram and each whole packet off a
 * connection, and counts what the kernel dropped.
 * Must not touch: what is in a packet (cap_hep.c, cap_decode.c), workers,
 * detection.
 *
 * With tls:ADDR:PORT the connections are TLS (OpenSSL; TLS 1.2 and 1.3), the
 * server certificate and key from capture.hep_tls_cert/_key, and with
 * capture.hep_tls_client_ca only senders with a certificate from those CAs
 * get through the handshake. Handshakes are driven by the same poll loop,
 * never blocking it; one that fails is counted and its first reason kept.
 *
 * A stream that does not go on with "HEP3" cannot be cut again (there is no
 * marker to find the next packet by): its buffered bytes are handed out as
 * they are, for the decoder to count as bad HEP with its reason, and the
 * connection is closed. So are the bytes of a packet cut short when its
 * sender closes or the run ends. TCP has one more merit over UDP here: a
 * sender fs38 does not keep up with waits, instead of losing packets.
 */
#include "core/fs_net.h"
#include "cap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HEP_MAX_PACKET 65535u /* the 16-bit total length */
#define HEP_TCP_CONNS 64u
#define HEP_TCP_EVICT_IDLE_US (10 * 1000000ULL)

typedef struct hep_conn {
    int fd;                /* -1: free slot */
    uint64_t last_us;      /* when it last sent (or was accepted) */
    uint32_t len;          /* bytes buffered: the start of a packet */
    uint8_t *buf;          /* HEP_MAX_PACKET bytes */
    SSL *ssl;              /* tls: the connection's TLS state, NULL for plain TCP */
    bool want_write;       /* tls: the handshake waits to write */
    bool tls_started;      /* tls: handshake bytes were read */
    bool tls_pending;      /* tls: OpenSSL holds decrypted bytes not read yet (poll cannot tell) */
    int sender;            /* its index in st.senders, -1: past the table */
} hep_conn;

struct cap_hep_listener {
    int udp, tcp;          /* -1 when that transport was not asked for */
    uint8_t *datagram;     /* HEP_MAX_PACKET bytes */
    hep_conn conn[HEP_TCP_CONNS];
    SSL_CTX *tls;          /* tls:ADDR:PORT, else NULL */
    uint64_t accept_rest_until_us; /* accept() ran out of descriptors: the listener rests till then */
    cap_hep_listen_stats st;
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

long cap_hep_frame(const uint8_t *buf, size_t len) {
    static const uint8_t magic[4] = {'H', 'E', 'P', '3'};
    if (memcmp(buf, magic, len < 4 ? len : 4) != 0) return -1;
    if (len < 6) return 0;
    uint16_t total = be16(buf + 4);
    if (total < 6) return -1;
    return total <= len ? (long)total : 0;
}

unsigned cap_hep_spec(const char *spec, const char **addr) {
    static const struct {
        char prefix[5];
        unsigned transports;
    } kinds[] = {{"udp:", CAP_HEP_UDP}, {"tcp:", CAP_HEP_TCP}, {"tls:", CAP_HEP_TCP | CAP_HEP_TLS}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strncmp(spec, kinds[i].prefix, 4) == 0) {
            if (addr) *addr = spec + 4;
            return kinds[i].transports;
        }
    if (addr) *addr = spec;
    return CAP_HEP_UDP | CAP_HEP_TCP;
}

/* "ADDR:PORT" after the prefix: "127.0.0.1:9060", "[::1]:9060", ":9060" (any IPv4). */
static fs_code parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl, unsigned *transports,
                            fs_err *e) {
    const char *addr;
    *transports = cap_hep_spec(spec, &addr);
    const char *bad = fs_listen_parse(addr, false, ss, sl);
    if (bad) return fs_fail(e, FS_ERR_USAGE, "--hep '%s': %s ([udp:|tcp:|tls:]ADDR:PORT, e.g. 127.0.0.1:9060)", spec, bad);
    return FS_OK;
}

static fs_code open_udp(cap_hep_listener *l, const char *spec, const struct sockaddr_storage *ss, socklen_t sl,
                        bool also_tcp, fs_err *e) {
    int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fs_fail(e, FS_ERR_IO, "--hep %s: UDP socket: %s", spec, strerror(errno));
    /* no SO_REUSEADDR: a port another program (or another fs38) reads is
     * refused, not shared (UDP would split the packets between the two) */
    /* 8 MiB to ride out bursts: SO_RCVBUF is capped by net.core.rmem_max
     * (~200 KiB by default), the FORCE variant (root, CAP_NET_ADMIN) is not */
    int rcvbuf = 8 << 20, on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    /* each datagram then carries how many the socket dropped so far (its
     * buffer was full): the HEP losses, reported like a capture's */
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    if (bind(fd, (const struct sockaddr *)ss, sl) != 0) {
        int err = errno;
        close(fd);
        return fs_fail(e, FS_ERR_IO, "--hep %s: UDP bind: %s%s", spec, strerror(err),
                       also_tcp ? " (tcp:ADDR:PORT listens on TCP only)" : "");
    }
    l->udp = fd;
    return FS_OK;
}

static fs_code open_tcp(cap_hep_listener *l, const char *spec, const struct sockaddr_storage *ss, socklen_t sl,
                        bool also_udp, fs_err *e) {
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fs_fail(e, FS_ERR_IO, "--hep %s: TCP socket: %s", spec, strerror(errno));
    int on = 1; /* a restart binds at once, past the last run's TIME_WAIT; a listening port is still refused */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, 64) != 0) {
        int err = errno;
        close(fd);
        return fs_fail(e, FS_ERR_IO, "--hep %s: TCP bind: %s%s", spec, strerror(err),
                       also_udp ? " (udp:ADDR:PORT listens on UDP only)" : "");
    }
    l->tcp = fd;
    return FS_OK;
}

/* OpenSSL's reason for what just failed, for an error message. */
static const char *tls_reason(char *buf, size_t n) {
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    if (!err) return "no reason given";
    ERR_error_string_n(err, buf, n);
    return buf;
}

static fs_code tls_setup(cap_hep_listener *l, const char *spec, const cap_hep_tls *t, fs_err *e) {
    char why[200];
    if (!t || !t->cert || !*t->cert || !t->key || !*t->key)
        return fs_fail(e, FS_ERR_USAGE, "--hep %s: TLS needs capture.hep_tls_cert and capture.hep_tls_key "
                       "(PEM files) in the configuration", spec);
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return fs_fail(e, FS_ERR_NOMEM, "--hep %s: TLS: %s", spec, tls_reason(why, sizeof why));
    l->tls = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
        return fs_fail(e, FS_ERR_CONFIG, "capture.hep_tls_cert %s: %s", t->cert, tls_reason(why, sizeof why));
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        int reason = ERR_GET_REASON(ERR_peek_last_error());
        if (reason != X509_R_KEY_VALUES_MISMATCH && reason != X509_R_KEY_TYPE_MISMATCH)
            return fs_fail(e, FS_ERR_CONFIG, "capture.hep_tls_key %s: %s", t->key, tls_reason(why, sizeof why));
        ERR_clear_error();
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fs_fail(e, FS_ERR_CONFIG, "capture.hep_tls_key %s is not the key of capture.hep_tls_cert %s",
                       t->key, t->cert);
    if (t->client_ca && *t->client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1)
            return fs_fail(e, FS_ERR_CONFIG, "capture.hep_tls_client_ca %s: %s", t->client_ca,
                           tls_reason(why, sizeof why));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return FS_OK;
}

fs_code cap_hep_listen(const char *spec, const cap_hep_tls *tls, cap_hep_listener **out, fs_err *e) {
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    unsigned transports;
    *out = NULL;
    fs_code rc = parse_listen(spec, &ss, &sl, &transports, e);
    if (rc != FS_OK) return rc;
    bool udp = transports & CAP_HEP_UDP, tcp = transports & CAP_HEP_TCP, want_tls = transports & CAP_HEP_TLS;
    cap_hep_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->datagram = malloc(HEP_MAX_PACKET))) {
        free(l);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    }
    l->udp = l->tcp = -1;
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++) l->conn[i].fd = -1;
    if (want_tls) rc = tls_setup(l, spec, tls, e);
    if (rc == FS_OK && udp) rc = open_udp(l, spec, &ss, sl, tcp, e);
    if (rc == FS_OK && tcp) rc = open_tcp(l, spec, &ss, sl, udp, e);
    if (rc != FS_OK) {
        cap_hep_listen_close(l, NULL, NULL);
        return rc;
    }
    *out = l;
    return FS_OK;
}


/* The sender at sa: its index in st.senders (added if there is room), -1
 * when the table is full. */
static int sender_index(cap_hep_listener *l, const struct sockaddr_storage *sa) {
    fs_addr a = {0};
    if (sa->ss_family == AF_INET) {
        a.family = 4;
        memcpy(a.ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        a.family = 6;
        memcpy(a.ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    for (unsigned i = 0; i < l->st.nsenders; i++)
        if (!memcmp(&l->st.senders[i].addr, &a, sizeof a)) return (int)i;
    if (l->st.nsenders == CAP_HEP_SENDERS) return -1;
    l->st.senders[l->st.nsenders].addr = a;
    return (int)l->st.nsenders++;
}

static void count_sender(cap_hep_listener *l, int i, bool tcp) {
    if (i < 0) l->st.senders_other++;
    else if (tcp) l->st.senders[i].tcp++;
    else l->st.senders[i].udp++;
}

/* One datagram; st.udp_dropped follows the socket's drop counter (SO_RXQ_OVFL). */
static ssize_t receive_datagram(cap_hep_listener *l) {
    struct sockaddr_storage from;
    union {
        char space[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = l->datagram, .iov_len = HEP_MAX_PACKET};
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = ctl.space, .msg_controllen = sizeof ctl.space};
    ssize_t got = recvmsg(l->udp, &mh, MSG_DONTWAIT);
    if (got < 0) return got;
    count_sender(l, sender_index(l, &from), false);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t n;
            memcpy(&n, CMSG_DATA(c), sizeof n);
            if (n > l->st.udp_dropped) l->st.udp_dropped = n;
        }
    return got;
}

/* The socket's own count of datagrams it dropped (SO_MEMINFO, Linux 4.12+):
 * what SO_RXQ_OVFL cannot tell, the drops no later datagram carried (a burst
 * whose tail was lost, then silence). Unchanged if the kernel cannot say. */
static void count_socket_drops(cap_hep_listener *l) {
#if defined(SO_MEMINFO)
    uint32_t mem[16] = {0}; /* SK_MEMINFO_VARS: 9 since Linux 4.12 */
    socklen_t ml = sizeof mem;
    enum { MEMINFO_DROPS = 8 }; /* SK_MEMINFO_DROPS in <linux/sock_diag.h> */
    if (getsockopt(l->udp, SOL_SOCKET, SO_MEMINFO, mem, &ml) == 0 && ml > MEMINFO_DROPS * sizeof mem[0] &&
        mem[MEMINFO_DROPS] > l->st.udp_dropped)
        l->st.udp_dropped = mem[MEMINFO_DROPS];
#else
    (void)l;
#endif
}

/* Close c; what it buffered (a packet cut short, or bytes that are not
 * HEP3) goes out as it is, to be counted as bad HEP. */
static void drop_conn(hep_conn *c, cap_hep_deliver deliver, void *user) {
    if (c->len && deliver) deliver(user, c->buf, c->len, true);
    SSL_free(c->ssl);
    close(c->fd);
    free(c->buf);
    *c = (hep_conn){.fd = -1};
}

/* A free slot, or the one idle longest if it has been idle for
 * HEP_TCP_EVICT_IDLE_US (a silent connection must not hold a slot a
 * sender needs); NULL when all are busy. */
static hep_conn *conn_slot(cap_hep_listener *l, uint64_t now_us, cap_hep_deliver deliver, void *user) {
    hep_conn *idlest = NULL;
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++) {
        hep_conn *c = &l->conn[i];
        if (c->fd < 0) return c;
        if (!idlest || c->last_us < idlest->last_us) idlest = c;
    }
    if (now_us - idlest->last_us < HEP_TCP_EVICT_IDLE_US) return NULL;
    l->st.tcp_evicted++;
    drop_conn(idlest, deliver, user);
    return idlest;
}

static void accept_conns(cap_hep_listener *l, uint64_t now_us, cap_hep_deliver deliver, void *user) {
    for (;;) {
        struct sockaddr_storage from = {0};
        socklen_t fl = sizeof from;
        int fd = accept4(l->tcp, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* EAGAIN; or a connection reset before it was taken. Out of
             * descriptors, the connection stays in the backlog and poll
             * says so at once: rest a second rather than spin */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                l->accept_rest_until_us = now_us + FS_USEC;
            return;
        }
        hep_conn *c = conn_slot(l, now_us, deliver, user);
        uint8_t *buf = c ? malloc(HEP_MAX_PACKET) : NULL;
        SSL *ssl = buf && l->tls ? SSL_new(l->tls) : NULL;
        if (!buf || (l->tls && (!ssl || SSL_set_fd(ssl, fd) != 1))) {
            l->st.tcp_refused++;
            SSL_free(ssl);
            free(buf);
            close(fd);
            continue;
        }
        if (ssl) SSL_set_accept_state(ssl);
        *c = (hep_conn){.fd = fd, .last_us = now_us, .buf = buf, .ssl = ssl, .sender = sender_index(l, &from)};
        l->st.tcp_connections++;
    }
}

/* got more bytes are in c's buffer: hand out every whole packet; false
 * when the stream broke (bytes that are not HEP3). */
static bool frame_conn(cap_hep_listener *l, hep_conn *c, uint32_t got, uint64_t now_us, unsigned *n,
                       cap_hep_deliver deliver, void *user) {
    c->last_us = now_us;
    c->len += got;
    l->st.tcp_bytes += got;
    uint32_t at = 0;
    long total;
    while (at < c->len && (total = cap_hep_frame(c->buf + at, c->len - at)) > 0) {
        deliver(user, c->buf + at, (size_t)total, true);
        count_sender(l, c->sender, true);
        (*n)++;
        at += (uint32_t)total;
    }
    if (at < c->len && cap_hep_frame(c->buf + at, c->len - at) < 0) {
        deliver(user, c->buf + at, c->len - at, true); /* counted as bad HEP, with what it is */
        (*n)++;
        c->len = 0;
        l->st.tcp_broken++;
        return false;
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
    return true;
}

/* A failed TLS handshake: counted, the first reason kept (reason NULL:
 * OpenSSL's, for SSL call result ret). */
static void tls_failed(cap_hep_listener *l, hep_conn *c, int ret, const char *reason) {
    char why[200];
    if (!reason)
        reason = SSL_get_error(c->ssl, ret) == SSL_ERROR_SYSCALL && !ERR_peek_error()
                     ? "the sender closed the connection"
                     : tls_reason(why, sizeof why);
    ERR_clear_error();
    if (!l->st.tls_failed++)
        snprintf(l->st.tls_error, sizeof l->st.tls_error, "%.159s", reason);
}

/* A sender speaking plain HEP to the TLS port: its first bytes, not yet
 * read, are "HEP3" (a clearer reason than OpenSSL's "wrong version"). */
static bool plain_hep_on_tls(const hep_conn *c) {
    uint8_t first[4];
    return recv(c->fd, first, sizeof first, MSG_PEEK | MSG_DONTWAIT) == 4 && memcmp(first, "HEP3", 4) == 0;
}

/* Read what c has and hand out every whole packet; false when c is done
 * (closed by its sender, broken framing, a read or TLS error). */
static bool read_conn(cap_hep_listener *l, hep_conn *c, uint64_t now_us, unsigned *n, cap_hep_deliver deliver,
                      void *user) {
    if (!c->ssl) {
        ssize_t got = recv(c->fd, c->buf + c->len, HEP_MAX_PACKET - c->len, MSG_DONTWAIT);
        if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        return got > 0 && frame_conn(l, c, (uint32_t)got, now_us, n, deliver, user);
    }
    ERR_clear_error();
    if (!SSL_is_init_finished(c->ssl)) {
        if (!c->tls_started && plain_hep_on_tls(c)) {
            tls_failed(l, c, 0, "plain HEP on a TLS port: the sender must use TLS (or listen with tcp:)");
            return false;
        }
        c->tls_started = true;
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            c->want_write = err == SSL_ERROR_WANT_WRITE;
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
            tls_failed(l, c, r, NULL);
            return false;
        }
        c->want_write = false;
        l->st.tls_handshakes++;
    }
    /* a record at a time, a bounded number per round (the others' turn);
     * what OpenSSL still holds decrypted is marked, as poll cannot see it */
    for (int k = 0; k < 64; k++) {
        int got = SSL_read(c->ssl, c->buf + c->len, (int)(HEP_MAX_PACKET - c->len));
        if (got <= 0) {
            int err = SSL_get_error(c->ssl, got);
            c->want_write = err == SSL_ERROR_WANT_WRITE;
            c->tls_pending = false;
            ERR_clear_error();
            return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
        }
        if (!frame_conn(l, c, (uint32_t)got, now_us, n, deliver, user)) return false;
    }
    c->tls_pending = SSL_pending(c->ssl) > 0;
    return true;
}

unsigned cap_hep_listen_poll(cap_hep_listener *l, int timeout_ms, uint64_t now_us, cap_hep_deliver deliver,
                             void *user) {
    struct pollfd pfd[2 + HEP_TCP_CONNS];
    hep_conn *of[2 + HEP_TCP_CONNS];
    nfds_t nfd = 0;
    bool pending = false;
    if (l->udp >= 0) of[nfd] = NULL, pfd[nfd++] = (struct pollfd){.fd = l->udp, .events = POLLIN};
    if (l->tcp >= 0 && now_us >= l->accept_rest_until_us)
        of[nfd] = NULL, pfd[nfd++] = (struct pollfd){.fd = l->tcp, .events = POLLIN};
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++)
        if (l->conn[i].fd >= 0) {
            of[nfd] = &l->conn[i];
            pfd[nfd++] = (struct pollfd){.fd = l->conn[i].fd,
                                         .events = (short)(POLLIN | (l->conn[i].want_write ? POLLOUT : 0))};
            pending |= l->conn[i].tls_pending;
        }
    if (poll(pfd, nfd, pending ? 0 : timeout_ms) <= 0 && !pending) return 0;
    unsigned n = 0;
    for (nfds_t i = 0; i < nfd; i++) {
        if (!pfd[i].revents && !(of[i] && of[i]->tls_pending)) continue;
        if (of[i]) {
            if (!read_conn(l, of[i], now_us, &n, deliver, user)) drop_conn(of[i], deliver, user);
        } else if (pfd[i].fd == l->udp) {
            ssize_t got = receive_datagram(l);
            if (got >= 0) { /* an empty datagram is a (bad) HEP packet too */
                deliver(user, l->datagram, (size_t)got, false);
                n++;
            }
        } else {
            accept_conns(l, now_us, deliver, user);
        }
    }
    return n;
}

unsigned cap_hep_listen_drain(cap_hep_listener *l, uint64_t now_us, uint64_t budget_us, cap_hep_deliver deliver,
                              void *user) {
    if (l->tcp >= 0) { /* the connections already made (in the backlog too), no new ones */
        accept_conns(l, now_us, deliver, user);
        close(l->tcp);
        l->tcp = -1;
    }
    unsigned total = 0, got;
    uint64_t until = fs_time_mono_us() + budget_us;
    do {
        got = cap_hep_listen_poll(l, 0, now_us, deliver, user);
        total += got;
    } while (got > 0 && fs_time_mono_us() < until);
    return total;
}

void cap_hep_listen_get_stats(cap_hep_listener *l, cap_hep_listen_stats *out) {
    if (l->udp >= 0) count_socket_drops(l);
    *out = l->st;
}

void cap_hep_listen_close(cap_hep_listener *l, cap_hep_deliver deliver, void *user) {
    if (!l) return;
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++)
        if (l->conn[i].fd >= 0) drop_conn(&l->conn[i], deliver, user);
    if (l->udp >= 0) close(l->udp);
    if (l->tcp >= 0) close(l->tcp);
    SSL_CTX_free(l->tls);
    free(l->datagram);
    free(l);
}
