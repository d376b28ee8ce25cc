/*
 * cap_hep_listen.c -- the --hep listener: HEP v3 over UDP and over TCP on
 * one address and port, as Homer's collectors take it. Kamailio siptrace
 * sends over TCP with a duplicate_uri ending ";transport=tcp", OpenSIPS
 * with a hep_tcp socket, heplify with -nt tcp.
 *
 * Owns: the sockets, the TCP connections (at most HEP_TCP_CONNS, each with a
 * buffer of one largest packet) and their framing -- a HEP v3 packet starts
 * "HEP3" and a 16-bit total length, so a stream is cut into packets without
 * reading them. It hands out each UDP datagram and each whole packet off a
 * connection, and counts what the kernel dropped.
 * Must not touch: what is in a packet (cap_hep.c, cap_decode.c), workers,
 * detection.
 *
 * A stream that does not go on with "HEP3" cannot be cut again (there is no
 * marker to find the next packet by): its buffered bytes are handed out as
 * they are, for the decoder to count as bad HEP with its reason, and the
 * connection is closed. So are the bytes of a packet cut short when its
 * sender closes or the run ends. TCP has one more merit over UDP here: a
 * sender fs38 does not keep up with waits, instead of losing packets.
 */
#include "cap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEP_MAX_PACKET 65535u /* the 16-bit total length */
#define HEP_TCP_CONNS 64u
#define HEP_TCP_EVICT_IDLE_US (10 * 1000000ULL)

typedef struct hep_conn {
    int fd;                /* -1: free slot */
    uint64_t last_us;      /* when it last sent (or was accepted) */
    uint32_t len;          /* bytes buffered: the start of a packet */
    uint8_t *buf;          /* HEP_MAX_PACKET bytes */
} hep_conn;

struct cap_hep_listener {
    int udp, tcp;          /* -1 when that transport was not asked for */
    uint8_t *datagram;     /* HEP_MAX_PACKET bytes */
    hep_conn conn[HEP_TCP_CONNS];
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

/* "[udp:|tcp:]ADDR:PORT": "127.0.0.1:9060", "[::1]:9060", ":9060" (any IPv4). */
static fs_code parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl, bool *udp, bool *tcp,
                            fs_err *e) {
    const char *s = spec;
    *udp = *tcp = true;
    if (strncmp(s, "udp:", 4) == 0) *tcp = false, s += 4;
    else if (strncmp(s, "tcp:", 4) == 0) *udp = false, s += 4;
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || colon[1] == '\0')
        return fs_fail(e, FS_ERR_USAGE, "--hep '%s': expected [udp:|tcp:]ADDR:PORT, e.g. 127.0.0.1:9060", spec);
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof host) return fs_fail(e, FS_ERR_USAGE, "--hep '%s': address too long", spec);
    memcpy(host, s, hl);
    host[hl] = '\0';
    uint64_t port;
    if (!fs_str_to_u64(fs_str_make(colon + 1, strlen(colon + 1)), 65535, &port) || port == 0)
        return fs_fail(e, FS_ERR_USAGE, "--hep '%s': port must be 1-65535", spec);
    memset(ss, 0, sizeof *ss);
    fs_addr a;
    if (hl == 0) fs_addr_parse("0.0.0.0", &a);
    else if (!fs_addr_parse(host, &a))
        return fs_fail(e, FS_ERR_USAGE, "--hep '%s': '%s' is not an IPv4/IPv6 address", spec, host);
    if (a.family == 4) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        memcpy(&v4->sin_addr, a.ip, 4);
        *sl = sizeof *v4;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        memcpy(&v6->sin6_addr, a.ip, 16);
        *sl = sizeof *v6;
    }
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

fs_code cap_hep_listen(const char *spec, cap_hep_listener **out, fs_err *e) {
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    bool udp, tcp;
    *out = NULL;
    fs_code rc = parse_listen(spec, &ss, &sl, &udp, &tcp, e);
    if (rc != FS_OK) return rc;
    cap_hep_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->datagram = malloc(HEP_MAX_PACKET))) {
        free(l);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    }
    l->udp = l->tcp = -1;
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++) l->conn[i].fd = -1;
    if (udp) rc = open_udp(l, spec, &ss, sl, tcp, e);
    if (rc == FS_OK && tcp) rc = open_tcp(l, spec, &ss, sl, udp, e);
    if (rc != FS_OK) {
        cap_hep_listen_close(l, NULL, NULL);
        return rc;
    }
    *out = l;
    return FS_OK;
}

bool cap_hep_listen_udp(const cap_hep_listener *l) { return l->udp >= 0; }
bool cap_hep_listen_tcp(const cap_hep_listener *l) { return l->tcp >= 0; }

/* One datagram; st.udp_dropped follows the socket's drop counter (SO_RXQ_OVFL). */
static ssize_t receive_datagram(cap_hep_listener *l) {
    union {
        char space[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = l->datagram, .iov_len = HEP_MAX_PACKET};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                        .msg_controllen = sizeof ctl.space};
    ssize_t got = recvmsg(l->udp, &mh, MSG_DONTWAIT);
    if (got < 0) return got;
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
        int fd = accept4(l->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN; or a connection reset before it was taken */
        hep_conn *c = conn_slot(l, now_us, deliver, user);
        uint8_t *buf = c ? malloc(HEP_MAX_PACKET) : NULL;
        if (!buf) {
            l->st.tcp_refused++;
            close(fd);
            continue;
        }
        *c = (hep_conn){.fd = fd, .last_us = now_us, .buf = buf};
        l->st.tcp_connections++;
    }
}

/* Read what c has and hand out every whole packet; false when c is done
 * (closed by its sender, broken framing, a read error). */
static bool read_conn(cap_hep_listener *l, hep_conn *c, uint64_t now_us, unsigned *n, cap_hep_deliver deliver,
                      void *user) {
    ssize_t got = recv(c->fd, c->buf + c->len, HEP_MAX_PACKET - c->len, MSG_DONTWAIT);
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (got == 0) return false;
    c->last_us = now_us;
    c->len += (uint32_t)got;
    l->st.tcp_bytes += (uint64_t)got;
    uint32_t at = 0;
    long total;
    while (at < c->len && (total = cap_hep_frame(c->buf + at, c->len - at)) > 0) {
        deliver(user, c->buf + at, (size_t)total, true);
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

unsigned cap_hep_listen_poll(cap_hep_listener *l, int timeout_ms, uint64_t now_us, cap_hep_deliver deliver,
                             void *user) {
    struct pollfd pfd[2 + HEP_TCP_CONNS];
    hep_conn *of[2 + HEP_TCP_CONNS];
    nfds_t nfd = 0;
    if (l->udp >= 0) of[nfd] = NULL, pfd[nfd++] = (struct pollfd){.fd = l->udp, .events = POLLIN};
    if (l->tcp >= 0) of[nfd] = NULL, pfd[nfd++] = (struct pollfd){.fd = l->tcp, .events = POLLIN};
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++)
        if (l->conn[i].fd >= 0) of[nfd] = &l->conn[i], pfd[nfd++] = (struct pollfd){.fd = l->conn[i].fd, .events = POLLIN};
    if (poll(pfd, nfd, timeout_ms) <= 0) return 0;
    unsigned n = 0;
    for (nfds_t i = 0; i < nfd; i++) {
        if (!pfd[i].revents) continue;
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

void cap_hep_listen_get_stats(cap_hep_listener *l, cap_hep_listen_stats *out) {
    if (l->udp >= 0) count_socket_drops(l);
    unsigned open = 0;
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++) open += l->conn[i].fd >= 0;
    l->st.tcp_open = open;
    *out = l->st;
}

void cap_hep_listen_close(cap_hep_listener *l, cap_hep_deliver deliver, void *user) {
    if (!l) return;
    for (unsigned i = 0; i < HEP_TCP_CONNS; i++)
        if (l->conn[i].fd >= 0) drop_conn(&l->conn[i], deliver, user);
    if (l->udp >= 0) close(l->udp);
    if (l->tcp >= 0) close(l->tcp);
    free(l->datagram);
    free(l);
}
