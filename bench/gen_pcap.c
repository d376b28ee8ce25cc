/*
 * gen_pcap.c -- deterministic SIP capture generator for `make bench`.
 *
 * What it makes (classic pcap, Ethernet/IPv4, microsecond timestamps that
 * only move forward):
 *
 *   mixed OUT MIB [SEED]    realistic traffic of at least MIB MiB: many
 *       concurrent dialogs between thousands of UAs and a proxy over UDP
 *       (INVITE/100/180/200/ACK/BYE/200 with SDP, REGISTER/401/REGISTER
 *       with Authorization/200, OPTIONS/200), proxy-to-carrier calls over a
 *       few long-lived TCP trunks (several messages per segment, messages
 *       split across segments), a SIPVicious-style scanner (svmap OPTIONS
 *       sweep and svwar REGISTER enumeration) and an INVITE flood from one
 *       source, in bursts (together about 6% of the messages).
 *   flood OUT NMSG NSRC [SEED]   NMSG REGISTER/INVITE/OPTIONS requests to
 *       the proxy from exactly NSRC distinct spoofed IPv4 sources (every
 *       source appears at least once when NMSG >= NSRC); for the memory bound.
 *   corpus N [SEED]         N SIP messages from the mixed generator, one per
 *       line as hex on stdout (the parser benchmark's fallback corpus).
 *
 * Why it is fair: the same seed gives byte-identical files, so every tool
 * and every run reads the same input; messages are RFC 3261 well-formed with
 * correct Content-Length, as a production capture would mostly be. A summary
 * (frames, messages, bytes, distinct sources) goes to OUT.meta as key=value.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: splitmix64, seeded, platform independent ---------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t rng_below(rng *r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static void rng_hex(rng *r, char *out, size_t n) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[i] = hx[rng_next(r) & 15];
    out[n] = '\0';
}

/* ---- string builder ------------------------------------------------------- */

typedef struct sbuf {
    char p[8192];
    size_t len;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, sizeof b->p - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
    if (b->len >= sizeof b->p) b->len = sizeof b->p - 1;
}

/* ---- pcap writer (classic format, little endian, DLT_EN10MB) --------------- */

typedef struct pcapw {
    FILE *f;
    uint64_t frames, bytes;
    uint64_t ts_us;
} pcapw;

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); } /* host order (LE here) */

static int pcapw_open(pcapw *w, const char *path) {
    memset(w, 0, sizeof *w);
    w->f = fopen(path, "wb");
    if (!w->f) return -1;
    setvbuf(w->f, NULL, _IOFBF, 1 << 22);
    uint8_t h[24] = {0};
    put32(h, 0xa1b2c3d4);
    h[4] = 2; h[6] = 4;          /* version 2.4 */
    put32(h + 16, 65535);        /* snaplen */
    put32(h + 20, 1);            /* LINKTYPE_ETHERNET */
    fwrite(h, 1, sizeof h, w->f);
    w->bytes = sizeof h;
    w->ts_us = 1795000000ULL * 1000000ULL; /* a fixed 2026 epoch */
    return 0;
}

static void pcapw_frame(pcapw *w, const uint8_t *frame, uint32_t len) {
    uint8_t h[16];
    put32(h, (uint32_t)(w->ts_us / 1000000ULL));
    put32(h + 4, (uint32_t)(w->ts_us % 1000000ULL));
    put32(h + 8, len);
    put32(h + 12, len);
    fwrite(h, 1, sizeof h, w->f);
    fwrite(frame, 1, len, w->f);
    w->frames++;
    w->bytes += sizeof h + len;
}

/* ---- Ethernet / IPv4 / UDP / TCP framing -------------------------------------- */

typedef struct ep {
    uint32_t ip;   /* host order */
    uint16_t port;
} ep;

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
    return sum;
}

static uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Writes Ethernet + IPv4 headers for an L4 payload of l4len bytes; returns 34. */
static size_t put_eth_ip(uint8_t *o, ep src, ep dst, uint8_t proto, size_t l4len, uint16_t id) {
    static const uint8_t mac_dst[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};
    static const uint8_t mac_src[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x02};
    memcpy(o, mac_dst, 6);
    memcpy(o + 6, mac_src, 6);
    be16(o + 12, 0x0800);
    uint8_t *ip = o + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    be16(ip + 2, (uint16_t)(20 + l4len));
    be16(ip + 4, id);
    be16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    be32(ip + 12, src.ip);
    be32(ip + 16, dst.ip);
    be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    return 34;
}

static uint32_t pseudo_sum(ep src, ep dst, uint8_t proto, size_t l4len) {
    uint8_t ph[12];
    be32(ph, src.ip);
    be32(ph + 4, dst.ip);
    ph[8] = 0;
    ph[9] = proto;
    be16(ph + 10, (uint16_t)l4len);
    return csum_add(0, ph, 12);
}

/* ---- generator state ---------------------------------------------------------- */

typedef struct tcpflow {
    ep a, b;              /* a = proxy side, b = carrier side */
    uint32_t seq[2];      /* next sequence number from a (0) and b (1) */
    bool open;
    sbuf pend[2];         /* messages queued per direction, flushed as segments */
    uint32_t npend[2];
} tcpflow;

typedef struct gen {
    rng r;
    pcapw w;
    FILE *hex;            /* corpus mode: messages as hex lines, no pcap */
    uint64_t messages, udp_msgs, tcp_msgs, tcp_segments, attack_msgs;
    uint16_t ip_id;
    tcpflow trunks[8];
    uint8_t frame[65600];
} gen;

static void gen_tick(gen *g, uint32_t mean_us) {
    /* roughly exponential gaps: the capture clock only moves forward */
    uint32_t u = rng_below(&g->r, 1000) + 1;
    uint32_t gap = 0;
    while (u < 1000 && gap < mean_us * 8) { gap += mean_us / 4 + 1; u *= 2; }
    g->w.ts_us += gap + rng_below(&g->r, mean_us / 2 + 1);
}

static void hex_line(FILE *f, const char *p, size_t n) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        fputc(hx[(uint8_t)p[i] >> 4], f);
        fputc(hx[(uint8_t)p[i] & 15], f);
    }
    fputc('\n', f);
}

static void emit_udp(gen *g, ep src, ep dst, const char *pl, size_t n) {
    g->messages++;
    g->udp_msgs++;
    if (g->hex) { hex_line(g->hex, pl, n); return; }
    uint8_t *o = g->frame;
    size_t off = put_eth_ip(o, src, dst, 17, 8 + n, g->ip_id++);
    be16(o + off, src.port);
    be16(o + off + 2, dst.port);
    be16(o + off + 4, (uint16_t)(8 + n));
    be16(o + off + 6, 0); /* checksum optional over IPv4 */
    memcpy(o + off + 8, pl, n);
    pcapw_frame(&g->w, o, (uint32_t)(off + 8 + n));
}

enum { TH_FIN = 1, TH_SYN = 2, TH_PSH = 8, TH_ACK = 16 };

static void emit_tcp_seg(gen *g, tcpflow *fl, int dir, uint8_t flags, const char *pl, size_t n) {
    ep src = dir ? fl->b : fl->a, dst = dir ? fl->a : fl->b;
    uint8_t *o = g->frame;
    size_t off = put_eth_ip(o, src, dst, 6, 20 + n, g->ip_id++);
    uint8_t *t = o + off;
    memset(t, 0, 20);
    be16(t, src.port);
    be16(t + 2, dst.port);
    be32(t + 4, fl->seq[dir]);
    be32(t + 8, (flags & TH_ACK) ? fl->seq[!dir] : 0);
    t[12] = 5 << 4;
    t[13] = flags;
    be16(t + 14, 64240);
    memcpy(t + 20, pl, n);
    uint32_t sum = pseudo_sum(src, dst, 6, 20 + n);
    be16(t + 16, csum_fold(csum_add(sum, t, 20 + n)));
    fl->seq[dir] += (uint32_t)n + ((flags & (TH_SYN | TH_FIN)) ? 1u : 0u);
    pcapw_frame(&g->w, o, (uint32_t)(off + 20 + n));
}

static void tcp_open(gen *g, tcpflow *fl) {
    fl->seq[0] = (uint32_t)rng_next(&g->r);
    fl->seq[1] = (uint32_t)rng_next(&g->r);
    emit_tcp_seg(g, fl, 0, TH_SYN, "", 0);
    gen_tick(g, 20);
    emit_tcp_seg(g, fl, 1, TH_SYN | TH_ACK, "", 0);
    gen_tick(g, 20);
    emit_tcp_seg(g, fl, 0, TH_ACK, "", 0);
    fl->open = true;
}

/* Send what is queued in one direction as MSS-sized segments. */
static void tcp_flush(gen *g, tcpflow *fl, int dir) {
    sbuf *b = &fl->pend[dir];
    for (size_t off = 0; off < b->len; off += 1448) {
        size_t n = b->len - off < 1448 ? b->len - off : 1448;
        emit_tcp_seg(g, fl, dir, TH_PSH | TH_ACK, b->p + off, n);
        g->tcp_segments++;
    }
    b->len = 0;
    fl->npend[dir] = 0;
}

/* Queue one message on a trunk; segments leave with up to 2-4 messages each.
 * What waits in the other direction leaves first, so a response never
 * reaches the wire before the request it answers. */
static void emit_tcp_msg(gen *g, tcpflow *fl, int dir, const char *pl, size_t n) {
    g->messages++;
    g->tcp_msgs++;
    if (g->hex) { hex_line(g->hex, pl, n); return; }
    if (!fl->open) tcp_open(g, fl);
    if (fl->pend[!dir].len) tcp_flush(g, fl, !dir);
    sbuf *b = &fl->pend[dir];
    if (b->len + n >= sizeof b->p) tcp_flush(g, fl, dir);
    memcpy(b->p + b->len, pl, n);
    b->len += n;
    if (++fl->npend[dir] >= 2 + rng_below(&g->r, 3)) tcp_flush(g, fl, dir);
}

static void tcp_close_all(gen *g) {
    for (size_t i = 0; i < sizeof g->trunks / sizeof g->trunks[0]; i++) {
        tcpflow *fl = &g->trunks[i];
        if (!fl->open) continue;
        tcp_flush(g, fl, 0);
        tcp_flush(g, fl, 1);
        emit_tcp_seg(g, fl, 0, TH_FIN | TH_ACK, "", 0);
        emit_tcp_seg(g, fl, 1, TH_FIN | TH_ACK, "", 0);
        emit_tcp_seg(g, fl, 0, TH_ACK, "", 0);
    }
}

/* ---- SIP message templates -------------------------------------------------------- */

#define PROXY_IP IP4(192, 0, 2, 10)
#define DOMAIN "voip.example.net"
#define N_UAS 6000

static const char *const ua_names[] = {
    "Yealink SIP-T46S 66.86.0.15", "Grandstream GXP2170 1.0.11.23", "Linphone/5.2.0 (belle-sip/5.2.0)",
    "Zoiper rv2.10.19.2", "PolycomVVX-VVX_411-UA/6.4.3.5018", "Cisco-CP8845/14.1.1",
    "MicroSIP/3.21.3", "Bria 6 release 6.5.5"};
static const char *const server_name = "Kamailio (5.6.4 (x86_64/linux))";

typedef struct dlg {
    ep ua, peer;
    const char *transport;  /* "UDP" or "TCP" */
    char from_user[16], to_user[16];
    char call_id[40], from_tag[12], to_tag[12], branch[24];
    const char *ua_name;
    uint32_t cseq;
    uint16_t rtp_port;
} dlg;

static ep ua_endpoint(uint32_t i, rng *r) {
    ep e = {IP4(10, 20 + i / 62500, (i / 250) % 250, i % 250 + 1), 5060};
    if (rng_below(r, 10) < 3) e.port = (uint16_t)(10000 + rng_below(r, 50000));
    return e;
}

static void dlg_new(gen *g, dlg *d, ep ua, ep peer, const char *transport) {
    memset(d, 0, sizeof *d);
    d->ua = ua;
    d->peer = peer;
    d->transport = transport;
    snprintf(d->from_user, sizeof d->from_user, "%u", 2000 + rng_below(&g->r, 8000));
    snprintf(d->to_user, sizeof d->to_user, "%u", 2000 + rng_below(&g->r, 8000));
    char cid[25];
    rng_hex(&g->r, cid, 24);
    snprintf(d->call_id, sizeof d->call_id, "%s", cid);
    rng_hex(&g->r, d->from_tag, 8);
    rng_hex(&g->r, d->to_tag, 8);
    d->ua_name = ua_names[rng_below(&g->r, sizeof ua_names / sizeof ua_names[0])];
    d->cseq = 1 + rng_below(&g->r, 100);
    d->rtp_port = (uint16_t)(16384 + 2 * rng_below(&g->r, 8000));
}

static void ip_str(uint32_t ip, char *out, size_t n) {
    snprintf(out, n, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static void add_sdp(sbuf *b, const char *ip, uint16_t port, uint32_t sess) {
    sbuf sdp = {.len = 0};
    sb_add(&sdp, "v=0\r\no=- %u %u IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n", sess, sess + 1,
           ip, ip);
    sb_add(&sdp, "m=audio %u RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                 "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
                 "a=sendrecv\r\n", port);
    sb_add(b, "Content-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n%s", sdp.len, sdp.p);
}

/* A request from the UA side. new_branch: a new transaction. */
static void req(gen *g, sbuf *b, dlg *d, const char *method, bool to_tag, bool new_branch,
                const char *extra, bool sdp) {
    char ua_ip[16], peer_ip[16];
    ip_str(d->ua.ip, ua_ip, sizeof ua_ip);
    ip_str(d->peer.ip, peer_ip, sizeof peer_ip);
    if (new_branch || !d->branch[0]) rng_hex(&g->r, d->branch, 16);
    b->len = 0;
    if (strcmp(method, "REGISTER") == 0)
        sb_add(b, "REGISTER sip:%s SIP/2.0\r\n", DOMAIN);
    else
        sb_add(b, "%s sip:%s@%s SIP/2.0\r\n", method, d->to_user, DOMAIN);
    sb_add(b, "Via: SIP/2.0/%s %s:%u;branch=z9hG4bK%s;rport\r\n", d->transport, ua_ip, d->ua.port,
           d->branch);
    sb_add(b, "Max-Forwards: 70\r\n");
    sb_add(b, "From: \"User %s\" <sip:%s@%s>;tag=%s\r\n", d->from_user, d->from_user, DOMAIN,
           d->from_tag);
    if (strcmp(method, "REGISTER") == 0)
        sb_add(b, "To: <sip:%s@%s>\r\n", d->from_user, DOMAIN);
    else
        sb_add(b, "To: <sip:%s@%s>%s%s\r\n", d->to_user, DOMAIN, to_tag ? ";tag=" : "",
               to_tag ? d->to_tag : "");
    sb_add(b, "Call-ID: %s@%s\r\n", d->call_id, ua_ip);
    sb_add(b, "CSeq: %u %s\r\n", d->cseq, method);
    sb_add(b, "Contact: <sip:%s@%s:%u;transport=%s>\r\n", d->from_user, ua_ip, d->ua.port,
           d->transport[0] == 'U' ? "udp" : "tcp");
    if (extra) sb_add(b, "%s", extra);
    sb_add(b, "User-Agent: %s\r\n", d->ua_name);
    if (sdp)
        add_sdp(b, ua_ip, d->rtp_port, (uint32_t)rng_next(&g->r));
    else
        sb_add(b, "Content-Length: 0\r\n\r\n");
}

/* A response from the peer side to the last request (same branch and CSeq). */
static void resp(gen *g, sbuf *b, dlg *d, int code, const char *reason, const char *method,
                 bool to_tag, const char *extra, bool sdp) {
    char ua_ip[16], peer_ip[16];
    ip_str(d->ua.ip, ua_ip, sizeof ua_ip);
    ip_str(d->peer.ip, peer_ip, sizeof peer_ip);
    b->len = 0;
    sb_add(b, "SIP/2.0 %d %s\r\n", code, reason);
    sb_add(b, "Via: SIP/2.0/%s %s:%u;branch=z9hG4bK%s;rport=%u;received=%s\r\n", d->transport,
           ua_ip, d->ua.port, d->branch, d->ua.port, ua_ip);
    sb_add(b, "From: \"User %s\" <sip:%s@%s>;tag=%s\r\n", d->from_user, d->from_user, DOMAIN,
           d->from_tag);
    const char *to_user = strcmp(method, "REGISTER") == 0 ? d->from_user : d->to_user;
    sb_add(b, "To: <sip:%s@%s>%s%s\r\n", to_user, DOMAIN, to_tag ? ";tag=" : "",
           to_tag ? d->to_tag : "");
    sb_add(b, "Call-ID: %s@%s\r\n", d->call_id, ua_ip);
    sb_add(b, "CSeq: %u %s\r\n", d->cseq, method);
    if (extra) sb_add(b, "%s", extra);
    sb_add(b, "Server: %s\r\n", server_name);
    if (sdp)
        add_sdp(b, peer_ip, (uint16_t)(30000 + 2 * rng_below(&g->r, 10000)), (uint32_t)rng_next(&g->r));
    else
        sb_add(b, "Content-Length: 0\r\n\r\n");
}

/* ---- scenarios: small state machines interleaved by the scheduler --------------- */

typedef enum scen_kind { SC_CALL, SC_REGISTER, SC_OPTIONS, SC_TRUNK_CALL, SC_SCAN, SC_FLOOD } scen_kind;

typedef struct scen {
    scen_kind kind;
    uint32_t step;
    uint32_t count;      /* attack scenarios: messages left */
    dlg d;
    tcpflow *trunk;
} scen;

static void scen_start(gen *g, scen *s) {
    uint32_t x = rng_below(&g->r, 1000);
    ep proxy = {PROXY_IP, 5060};
    memset(s, 0, sizeof *s);
    if (x < 440) s->kind = SC_CALL;
    else if (x < 690) s->kind = SC_REGISTER;
    else if (x < 830) s->kind = SC_OPTIONS;
    else if (x < 998) s->kind = SC_TRUNK_CALL;
    else if (x < 999) s->kind = SC_SCAN;   /* attacks: ~6% of the messages */
    else s->kind = SC_FLOOD;
    ep ua = ua_endpoint(rng_below(&g->r, N_UAS), &g->r);
    if (s->kind == SC_TRUNK_CALL) {
        s->trunk = &g->trunks[rng_below(&g->r, 8)];
        dlg_new(g, &s->d, s->trunk->a, s->trunk->b, "TCP");
        s->d.ua_name = server_name;
    } else if (s->kind == SC_SCAN) {
        dlg_new(g, &s->d, (ep){IP4(203, 0, 113, 66), 5070}, proxy, "UDP");
        s->d.ua_name = "friendly-scanner";
        s->count = 40 + rng_below(&g->r, 80);
    } else if (s->kind == SC_FLOOD) {
        dlg_new(g, &s->d, (ep){IP4(198, 51, 100, 23), 5060}, proxy, "UDP");
        s->d.ua_name = "sipcli/v1.8";
        s->count = 100 + rng_below(&g->r, 200);
    } else {
        dlg_new(g, &s->d, ua, proxy, "UDP");
    }
}

/* Send b from the UA side (dir 0) or the peer side (dir 1). */
static void send_msg(gen *g, scen *s, int dir, const sbuf *b) {
    if (s->trunk) {
        emit_tcp_msg(g, s->trunk, dir, b->p, b->len);
        return;
    }
    if (s->kind == SC_SCAN || s->kind == SC_FLOOD) g->attack_msgs++;
    if (dir == 0) emit_udp(g, s->d.ua, s->d.peer, b->p, b->len);
    else emit_udp(g, s->d.peer, s->d.ua, b->p, b->len);
}

static const char *const invite_extra =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, NOTIFY, REFER, UPDATE\r\n"
    "Supported: replaces, timer, 100rel\r\nSession-Expires: 1800\r\n";

/* Emits the next message of a call; false when the call is over. */
static bool step_call(gen *g, scen *s, sbuf *b) {
    dlg *d = &s->d;
    char rr[96];
    snprintf(rr, sizeof rr, "Record-Route: <sip:192.0.2.10;lr;ftag=%s>\r\n", d->from_tag);
    switch (s->step++) {
    case 0: req(g, b, d, "INVITE", false, true, invite_extra, true); send_msg(g, s, 0, b); return true;
    case 1: resp(g, b, d, 100, "Trying", "INVITE", false, NULL, false); send_msg(g, s, 1, b); return true;
    case 2: resp(g, b, d, 180, "Ringing", "INVITE", true, rr, false); send_msg(g, s, 1, b); return true;
    case 3: resp(g, b, d, 200, "OK", "INVITE", true, rr, true); send_msg(g, s, 1, b); return true;
    case 4: req(g, b, d, "ACK", true, true, "Route: <sip:192.0.2.10;lr>\r\n", false); send_msg(g, s, 0, b); return true;
    case 5: d->cseq++; req(g, b, d, "BYE", true, true, "Route: <sip:192.0.2.10;lr>\r\n", false); send_msg(g, s, 0, b); return true;
    case 6: resp(g, b, d, 200, "OK", "BYE", true, NULL, false); send_msg(g, s, 1, b); return false;
    default: return false;
    }
}

static bool step_register(gen *g, scen *s, sbuf *b) {
    dlg *d = &s->d;
    char auth[400], nonce[33], resp_hash[33];
    switch (s->step++) {
    case 0: req(g, b, d, "REGISTER", false, true, "Expires: 3600\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n", false); send_msg(g, s, 0, b); return true;
    case 1:
        rng_hex(&g->r, nonce, 32);
        snprintf(auth, sizeof auth, "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", "
                 "qop=\"auth\", algorithm=MD5\r\n", DOMAIN, nonce);
        resp(g, b, d, 401, "Unauthorized", "REGISTER", true, auth, false);
        send_msg(g, s, 1, b);
        return true;
    case 2:
        d->cseq++;
        rng_hex(&g->r, nonce, 32);
        rng_hex(&g->r, resp_hash, 32);
        snprintf(auth, sizeof auth, "Expires: 3600\r\nAuthorization: Digest username=\"%s\", "
                 "realm=\"%s\", nonce=\"%s\", uri=\"sip:%s\", response=\"%s\", algorithm=MD5, "
                 "cnonce=\"%.16s\", qop=auth, nc=00000001\r\n",
                 d->from_user, DOMAIN, nonce, DOMAIN, resp_hash, nonce + 8);
        req(g, b, d, "REGISTER", false, true, auth, false);
        send_msg(g, s, 0, b);
        return true;
    case 3: {
        char ct[128], ip[16];
        ip_str(d->ua.ip, ip, sizeof ip);
        snprintf(ct, sizeof ct, "Contact: <sip:%s@%s:%u>;expires=3600\r\nDate: Wed, 25 Nov 2026 10:00:00 GMT\r\n",
                 d->from_user, ip, d->ua.port);
        resp(g, b, d, 200, "OK", "REGISTER", true, ct, false);
        send_msg(g, s, 1, b);
        return false;
    }
    default: return false;
    }
}

static bool step_options(gen *g, scen *s, sbuf *b) {
    dlg *d = &s->d;
    if (s->step++ == 0) {
        req(g, b, d, "OPTIONS", false, true, "Accept: application/sdp\r\n", false);
        send_msg(g, s, 0, b);
        return true;
    }
    resp(g, b, d, 200, "OK", "OPTIONS", true,
         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER\r\nAccept: application/sdp\r\n", false);
    send_msg(g, s, 1, b);
    return false;
}

/* svmap sweep (OPTIONS to many hosts) or svwar enumeration (REGISTER per extension). */
static bool step_scan(gen *g, scen *s, sbuf *b) {
    dlg *d = &s->d;
    if (s->step % 2 == 0) {
        snprintf(d->to_user, sizeof d->to_user, "%u", 100 + s->step / 2);
        snprintf(d->from_user, sizeof d->from_user, "%s", d->to_user);
        d->peer.ip = (s->step / 2) % 3 ? PROXY_IP : IP4(10, 20, rng_below(&g->r, 250), 1 + rng_below(&g->r, 250));
        rng_hex(&g->r, d->call_id, 24);
        d->cseq = 1;
        req(g, b, d, (s->step / 2) % 3 ? "REGISTER" : "OPTIONS", false, true, NULL, false);
        send_msg(g, s, 0, b);
    } else if (rng_below(&g->r, 4) != 0) {
        resp(g, b, d, d->peer.ip == PROXY_IP ? 404 : 200, d->peer.ip == PROXY_IP ? "Not Found" : "OK",
             d->peer.ip == PROXY_IP ? "REGISTER" : "OPTIONS", true, NULL, false);
        send_msg(g, s, 1, b);
    }
    s->step++;
    return s->step < 2 * s->count;
}

static bool step_flood(gen *g, scen *s, sbuf *b) {
    dlg *d = &s->d;
    rng_hex(&g->r, d->call_id, 24);
    rng_hex(&g->r, d->from_tag, 8);
    snprintf(d->to_user, sizeof d->to_user, "0044%u", 7000000 + rng_below(&g->r, 999999));
    req(g, b, d, "INVITE", false, true, NULL, true);
    send_msg(g, s, 0, b);
    return ++s->step < s->count;
}

static bool scen_step(gen *g, scen *s, sbuf *b) {
    switch (s->kind) {
    case SC_CALL:
    case SC_TRUNK_CALL: return step_call(g, s, b);
    case SC_REGISTER: return step_register(g, s, b);
    case SC_OPTIONS: return step_options(g, s, b);
    case SC_SCAN: return step_scan(g, s, b);
    case SC_FLOOD: return step_flood(g, s, b);
    }
    return false;
}

static void trunks_init(gen *g) {
    for (uint32_t i = 0; i < 8; i++) {
        tcpflow *fl = &g->trunks[i];
        memset(fl, 0, sizeof *fl);
        fl->a = (ep){PROXY_IP, (uint16_t)(40000 + i)};
        fl->b = (ep){IP4(198, 18, 0, 1 + i), 5060};
    }
}

#define SLOTS 512

/* Mixed traffic until the file holds target bytes (or n messages in hex mode). */
static void gen_mixed(gen *g, uint64_t target_bytes, uint64_t target_msgs) {
    static scen slots[SLOTS];
    static sbuf b;
    trunks_init(g);
    for (int i = 0; i < SLOTS; i++) scen_start(g, &slots[i]);
    for (;;) {
        if (target_bytes && g->w.bytes >= target_bytes) break;
        if (target_msgs && g->messages >= target_msgs) break;
        scen *s = &slots[rng_below(&g->r, SLOTS)];
        /* attack scenarios burst: several messages back to back */
        int burst = (s->kind == SC_FLOOD || s->kind == SC_SCAN) ? 8 : 1;
        for (int k = 0; k < burst; k++) {
            gen_tick(g, s->kind == SC_FLOOD ? 4 : 200); /* ~5k msgs/s, floods faster */
            if (!scen_step(g, s, &b)) { scen_start(g, s); break; }
        }
    }
    if (!g->hex) tcp_close_all(g);
}

/* ---- flood mode: many spoofed sources ------------------------------------------ */

/* Bijection on 24 bits, so source i < 2^24 maps to a distinct address. */
static uint32_t perm24(uint32_t x) {
    x &= 0xffffff;
    x = (x * 0x9E3779u + 0x7f4a7cu) & 0xffffff; /* odd multiplier: invertible mod 2^24 */
    x ^= x >> 11;
    x = (x * 0x2545F5u) & 0xffffff;
    x ^= x >> 13;
    return x;
}

static void gen_flood(gen *g, uint64_t nmsg, uint32_t nsrc) {
    static sbuf b;
    static const char *const methods[] = {"REGISTER", "INVITE", "OPTIONS"};
    dlg d;
    ep proxy = {PROXY_IP, 5060};
    for (uint64_t i = 0; i < nmsg; i++) {
        uint32_t si = i < nsrc ? (uint32_t)i : rng_below(&g->r, nsrc);
        ep src = {IP4(11, 0, 0, 0) | perm24(si), (uint16_t)(5060 + (si & 1023))};
        dlg_new(g, &d, src, proxy, "UDP");
        d.ua_name = ua_names[si % (sizeof ua_names / sizeof ua_names[0])];
        const char *m = methods[rng_below(&g->r, 3)];
        req(g, &b, &d, m, false, true, strcmp(m, "REGISTER") == 0 ? "Expires: 3600\r\n" : NULL,
            false);
        gen_tick(g, 10); /* ~100k requests per second */
        g->attack_msgs++;
        emit_udp(g, src, proxy, b.p, b.len);
    }
}

/* ---- main ------------------------------------------------------------------------ */

static void write_meta(const gen *g, const char *out, const char *mode, uint64_t sources) {
    char path[4096];
    snprintf(path, sizeof path, "%s.meta", out);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "mode=%s\nframes=%llu\nbytes=%llu\nmessages=%llu\nudp_messages=%llu\n"
               "tcp_messages=%llu\ntcp_segments=%llu\nattack_messages=%llu\nsources=%llu\n"
               "duration_s=%.3f\n",
            mode, (unsigned long long)g->w.frames, (unsigned long long)g->w.bytes,
            (unsigned long long)g->messages, (unsigned long long)g->udp_msgs,
            (unsigned long long)g->tcp_msgs, (unsigned long long)g->tcp_segments,
            (unsigned long long)g->attack_msgs, (unsigned long long)sources,
            (double)(g->w.ts_us - 1795000000ULL * 1000000ULL) / 1e6);
    fclose(f);
}

static int usage(void) {
    fprintf(stderr, "usage: gen_pcap mixed OUT MIB [SEED]\n"
                    "       gen_pcap flood OUT NMSG NSOURCES [SEED]\n"
                    "       gen_pcap corpus NMSG [SEED]   (hex lines on stdout)\n");
    return 2;
}

static int finish(gen *g, const char *out, const char *mode, uint64_t sources) {
    if (fclose(g->w.f) != 0) { perror(out); return 1; }
    write_meta(g, out, mode, sources);
    printf("gen_pcap: %s %s: %llu frames, %llu messages, %llu bytes\n", mode, out,
           (unsigned long long)g->w.frames, (unsigned long long)g->messages,
           (unsigned long long)g->w.bytes);
    return 0;
}

int main(int argc, char **argv) {
    static gen g;
    if (argc < 3) return usage();
    if (strcmp(argv[1], "corpus") == 0) {
        uint64_t n = strtoull(argv[2], NULL, 10);
        if (n == 0) return usage();
        g.r.s = argc > 3 ? strtoull(argv[3], NULL, 10) : 38;
        g.hex = stdout;
        gen_mixed(&g, 0, n);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    const char *out = argv[2];
    bool mixed = strcmp(argv[1], "mixed") == 0 && argc >= 4 && argc <= 5;
    bool flood = strcmp(argv[1], "flood") == 0 && argc >= 5 && argc <= 6;
    uint64_t a = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    uint64_t b = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    if (!(mixed && a > 0 && a <= (1u << 20)) && !(flood && a > 0 && b > 0 && b <= (1u << 24)))
        return usage();
    if (pcapw_open(&g.w, out) != 0) { perror(out); return 1; }
    if (mixed) {
        g.r.s = argc > 4 ? b : 38;
        gen_mixed(&g, a << 20, 0);
        return finish(&g, out, "mixed", 0);
    }
    g.r.s = argc > 5 ? strtoull(argv[5], NULL, 10) : 38;
    gen_flood(&g, a, (uint32_t)b);
    return finish(&g, out, "flood", a < b ? a : b);
}
