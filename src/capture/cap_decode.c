/*
 * cap_decode.c -- from a link-layer frame to SIP message candidates.
 *
 * Owns: the decoder object (config, counters, the fragment and TCP tables),
 * link-layer decoding (Ethernet with 802.1Q/QinQ tags, Linux SLL/SLL2, raw
 * IP, BSD loopback; PPP, Cisco HDLC and NFLOG headers are read by
 * cap_tunnel.c), opening encapsulations (MPLS, PPPoE, GRE/ERSPAN, IP in
 * IP, VXLAN, Geneve, GTP-U, L2TP, NULL-encrypted ESP: cap_tunnel.c reads their headers) at most
 * CAP_MAX_ENCAP deep, IPv4 and IPv6 headers with extension headers, handing
 * fragments to cap_frag.c, TCP segments to cap_tcp.c and the parts of
 * split SCTP user messages to cap_sctp.c, SCTP DATA chunks, UDP
 * demultiplexing (SIP ports, HEP ports, the start-line heuristic), HEP
 * payload emission and the capture-time tick that expires stale state.
 * Must not touch: reading files or interfaces (cap_source.c), the HEP wire
 * format (cap_hep.c), TCP reassembly (cap_tcp.c), SIP semantics.
 *
 * Hot path: a UDP datagram is emitted as a pointer into the caller's frame;
 * nothing is allocated or copied per packet. Every length read from a header
 * is checked against what was captured: a short frame is counted
 * (truncated / bad_ip) and dropped, never read past.
 */
#include "cap.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

/* Link types by their numeric value (DLT_RAW and DLT_LOOP differ per OS in
 * <pcap/dlt.h>; captures carry these numbers). */
enum {
    LINK_NULL = 0,
    LINK_EN10MB = 1,
    LINK_RAW_A = 12,
    LINK_RAW_B = 14,
    LINK_RAW = 101,
    LINK_LOOP = 108,
    LINK_SLL = 113,
    LINK_IPV4 = 228,
    LINK_IPV6 = 229,
    LINK_SLL2 = 276
};

#define ETH_IPV4 CAP_ETH_IPV4
#define ETH_IPV6 CAP_ETH_IPV6
#define MAX_IP6_EXT CAP_MAX_IP6_EXT /* extension headers we walk through */
#define TICK_US FS_USEC      /* capture time between two expiry passes */

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_IDP_ 22
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_ESP_ 50
#define IPPROTO_AH_ 51
#define IPPROTO_NONE_ 59
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_SCTP_ 132
#define SCTP_I_DATA 64 /* chunk type (RFC 8260) */

struct cap_decoder {
    cap_config cfg;
    cap_emit_fn emit;
    void *user;
    cap_stats st;
    cap_frag_table *frag;
    cap_tcp_table *tcp;
    cap_sctp_table *sctp;
    uint64_t last_tick;
    uint64_t ts_us, frame_no; /* the frame being decoded */
    int encap;                /* encapsulations opened in it so far */
    fs_encap path;            /* its VLAN tags and tunnels so far, outermost first (a frame
                                 has one path: nothing is emitted from an outer layer once
                                 an inner one is opened) */
    uint8_t frag_depth;       /* reassembled datagrams the packet being decoded is inside
                                 (CAP_MAX_FRAG_NEST at most; cap_decode_frame_in's count one) */
    uint8_t sip_port[65536 / 8];
    uint8_t hep_port[65536 / 8];
    char hep_error[CAP_ERROR_LEN]; /* why the first bad HEP packet was refused */
    cap_esp_scratch *esp;     /* with cfg.esp_sas: made at the first ESP packet */
    cap_hep_inflater *hep_z;  /* made at the first compressed HEP payload */
    bool in_esp;              /* decoding a plaintext that is in esp: not again inside it */
};

/* Where an IP packet's addresses came from, filled by the IP layer. */
typedef struct ip_ctx {
    fs_addr src, dst;
} ip_ctx;

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t rd32le(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline bool port_in(const uint8_t *map, uint16_t port) {
    return (map[port >> 3] >> (port & 7)) & 1;
}
static inline void port_set(uint8_t *map, uint16_t port) {
    map[port >> 3] |= (uint8_t)(1u << (port & 7));
}

/* ---- configuration, lifetime -------------------------------------------- */

void cap_config_default(cap_config *c) {
    memset(c, 0, sizeof *c);
    c->sip_ports[0] = 5060;
    c->sip_ports[1] = 5061;
    c->sip_ports[2] = 5080;
    c->nports = 3;
    c->heuristic = true;
    c->hep_ports[0] = 9060;
    c->nhep_ports = 1;
    c->live_buffer_mb = CAP_LIVE_BUFFER_MB;
    c->max_tcp_flows = 65536;
    c->max_flow_bytes = 262144;
    c->max_tcp_bytes = 268435456;
    c->tcp_idle_s = 300;
    c->max_frag_sets = 8192;
    c->max_frag_bytes = 67108864;
    c->frag_timeout_s = 30;
    c->client_prefix6 = 64;
    sip_limits_default(&c->sip);
}

const char *cap_transport_name(cap_transport t) {
    switch (t) {
    case CAP_T_UDP: return "udp";
    case CAP_T_TCP: return "tcp";
    case CAP_T_TLS: return "tls";
    case CAP_T_SCTP: return "sctp";
    case CAP_T_WS: return "ws";
    case CAP_T_WSS: return "wss";
    }
    return "unknown";
}

static void tcp_hep_packet(void *user, const uint8_t *pkt, size_t len, uint64_t ts_us, uint64_t frame_no);

cap_decoder *cap_decoder_new(const cap_config *cfg, cap_emit_fn emit, void *user, fs_err *e) {
    if (!cfg || !emit) {
        fs_fail(e, FS_ERR_USAGE, "cap_decoder_new: config and emit callback are required");
        return NULL;
    }
    if (cfg->nports > CAP_MAX_PORTS || cfg->nhep_ports > 4) {
        fs_fail(e, FS_ERR_CONFIG, "capture: too many ports (%u SIP ports, max %d; %u HEP ports, max 4)",
                cfg->nports, CAP_MAX_PORTS, cfg->nhep_ports);
        return NULL;
    }
    cap_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory for the packet decoder");
        return NULL;
    }
    d->cfg = *cfg;
    d->emit = emit;
    d->user = user;
    for (unsigned i = 0; i < cfg->nports; i++) port_set(d->sip_port, cfg->sip_ports[i]);
    for (unsigned i = 0; i < cfg->nhep_ports; i++) port_set(d->hep_port, cfg->hep_ports[i]);
    d->frag = cap_frag_new(&d->cfg, &d->st);
    if (!d->frag) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory for the fragment table");
        free(d);
        return NULL;
    }
    d->tcp = cap_tcp_new(&d->cfg, &d->st, emit, user, e);
    if (!d->tcp) {
        cap_frag_free(d->frag);
        free(d);
        return NULL;
    }
    cap_tcp_set_hep(d->tcp, tcp_hep_packet, d);
    d->sctp = cap_sctp_new(&d->cfg, &d->st);
    if (!d->sctp) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory for the SCTP reassembly table");
        cap_tcp_free(d->tcp);
        cap_frag_free(d->frag);
        free(d);
        return NULL;
    }
    uint64_t seed;
    randombytes_buf(&seed, sizeof seed);
    cap_decoder_set_seed(d, seed);
    return d;
}

void cap_decoder_set_seed(cap_decoder *d, uint64_t seed) {
    cap_frag_set_seed(d->frag, seed ^ 0x66726167ULL);
    cap_tcp_set_seed(d->tcp, seed ^ 0x746370ULL);
    cap_sctp_set_seed(d->sctp, seed ^ 0x73637470ULL);
}

void cap_decoder_set_tls_hello(cap_decoder *d, cap_tls_hello_fn fn, void *user) {
    cap_tcp_set_tls_hello(d->tcp, fn, user);
}

void cap_decoder_free(cap_decoder *d) {
    if (!d) return;
    cap_sctp_free(d->sctp);
    cap_tcp_free(d->tcp);
    cap_frag_free(d->frag);
    cap_esp_scratch_free(d->esp);
    cap_hep_inflater_free(d->hep_z);
    free(d);
}

void cap_decoder_expire(cap_decoder *d, uint64_t now_us) {
    cap_frag_expire(d->frag, now_us);
    cap_tcp_expire(d->tcp, now_us);
    cap_sctp_expire(d->sctp, now_us);
}

void cap_decoder_finish(cap_decoder *d) {
    cap_tcp_finish(d->tcp);
    cap_frag_expire(d->frag, UINT64_MAX); /* incomplete datagrams: dropped */
    cap_sctp_expire(d->sctp, UINT64_MAX);  /* incomplete user messages: dropped */
}

const cap_stats *cap_decoder_stats(const cap_decoder *d) { return &d->st; }

void cap_decoder_chains(const cap_decoder *d, uint32_t *tcp_max, uint32_t *frag_max) {
    *tcp_max = cap_tcp_chain_max(d->tcp);
    *frag_max = cap_frag_chain_max(d->frag);
}

size_t cap_decoder_memory(const cap_decoder *d) {
    return sizeof *d + cap_frag_memory(d->frag) + cap_tcp_memory(d->tcp) + cap_sctp_memory(d->sctp) +
           cap_hep_inflater_memory(d->hep_z);
}

/* ---- emission ------------------------------------------------------------- */

/* Inlined into the UDP path (it was its own call once the path was added).
 * oversized: only the first bytes of a message too long (SCTP). */
static inline __attribute__((always_inline)) void emit_payload(cap_decoder *d, const uint8_t *p, uint32_t n,
                                                               const fs_endpoint *src, const fs_endpoint *dst,
                                                               cap_transport t, bool from_hep, bool oversized,
                                                               uint64_t ts, uint64_t frame_no) {
    cap_payload pl = {.data = p,
                      .len = n,
                      .src = *src,
                      .dst = *dst,
                      .transport = (uint8_t)t,
                      .from_hep = from_hep,
                      .ts_us = ts,
                      .frame_no = frame_no,
                      .oversized = oversized,
                      .encap = d->path.n && !from_hep ? &d->path : NULL};
    d->st.sip_payloads++;
    d->emit(d->user, &pl);
}

/* A parsed HEP packet: emit its SIP payload, count the rest. */
/* The time of a HEP packet captured (or received) at capture_us: its own
 * timestamp when it has one from shortly before that (the proxy saw the
 * message, then sent it), else capture_us. Never later than capture_us by
 * more than CAP_HEP_MAX_AHEAD_US: the engine's clock is the latest time it
 * has seen, and one packet from the future would hold back every tick
 * (and live report) until the real time caught up. */
static uint64_t hep_time(cap_decoder *d, const cap_hep *h, uint64_t capture_us) {
    if (!h->ts_us) return capture_us;
    bool ok = h->ts_us > capture_us ? h->ts_us - capture_us <= CAP_HEP_MAX_AHEAD_US
                                    : capture_us - h->ts_us <= CAP_HEP_MAX_SKEW_US;
    if (ok) return h->ts_us;
    d->st.hep_time_untrusted++;
    return capture_us;
}

/* The transport a HEP packet's IP protocol chunk names. 22 (IDP) is what
 * Kamailio's siptrace sends for tls, ws and wss alike (its "fake proto
 * type"; its sipcapture reads 22 back as tls): reported as tls. Anything
 * else, or no chunk, is udp. */
static cap_transport hep_transport(uint8_t ip_proto) {
    switch (ip_proto) {
    case IPPROTO_TCP_: return CAP_T_TCP;
    case IPPROTO_IDP_: return CAP_T_TLS;
    case IPPROTO_SCTP_: return CAP_T_SCTP;
    default: return CAP_T_UDP;
    }
}

static void hep_deliver(cap_decoder *d, const cap_hep *h, uint64_t capture_us, uint64_t frame_no) {
    if (h->proto_type != 1) {
        d->st.hep_ignored++;
        return;
    }
    if (cap_sip_keepalive(h->payload, h->payload_len)) {
        d->st.keepalives += h->payload_len > 0;
        return;
    }
    cap_transport t = hep_transport(h->ip_proto);
    uint64_t ts = hep_time(d, h, capture_us);
    const uint8_t *p = h->payload;
    uint32_t n = h->payload_len;
    /* Over TCP or TLS an agent that captures packets (captagent, older
     * heplify) sends a segment's bytes as they are: several messages when
     * the sender's writes shared one. Each whole one, by its Content-Length,
     * followed by a SIP start line, is a message of its own. */
    uint64_t len;
    while ((t == CAP_T_TCP || t == CAP_T_TLS) && cap_sip_frame(p, n, n, &len) == CAP_FRAME_OK && len < n &&
           cap_sip_start_line(p + len, n - len) == 1) {
        emit_payload(d, p, (uint32_t)len, &h->src, &h->dst, t, true, false, ts, frame_no);
        p += len;
        n -= (uint32_t)len;
    }
    emit_payload(d, p, n, &h->src, &h->dst, t, true, false, ts, frame_no);
}

static void hep_refused(cap_decoder *d, const char *why) {
    d->st.hep_bad++;
    if (!d->hep_error[0]) snprintf(d->hep_error, sizeof d->hep_error, "%.*s", CAP_ERROR_LEN - 1, why);
}

const char *cap_decoder_hep_error(const cap_decoder *d) { return d->hep_error; }

/* With capture.hep_auth_key set, a packet must carry that key: NULL if it
 * does, else why it is refused. A forged HEP packet (UDP, any sender) would
 * otherwise put words in anyone's mouth: a scan from an innocent address,
 * a flood toward a partner. Compared in constant time. */
static const char *hep_unauthorised(const cap_decoder *d, const cap_hep *h) {
    size_t n = strlen(d->cfg.hep_auth_key);
    if (!n) return NULL;
    if (!h->auth_key) return "HEP: no auth key (chunk 0x0e), and capture.hep_auth_key asks for one";
    if (h->auth_key_len != n || sodium_memcmp(h->auth_key, d->cfg.hep_auth_key, n) != 0)
        return "HEP: the auth key (chunk 0x0e) is not capture.hep_auth_key";
    return NULL;
}

/* A compressed payload (chunk 0x10) inflated: false, the packet refused
 * and counted, when it cannot be. The inflater is made once per decoder. */
static bool hep_inflate(cap_decoder *d, cap_hep *h) {
    if (!h->compressed) return true;
    fs_err e = {0};
    if (!d->hep_z && !(d->hep_z = cap_hep_inflater_new())) {
        hep_refused(d, "HEP: no memory for an inflater (compressed payload, chunk 0x10)");
        return false;
    }
    if (cap_hep_inflate(d->hep_z, h, &e) != FS_OK) {
        hep_refused(d, e.msg);
        return false;
    }
    d->st.hep_compressed++;
    return true;
}

/* Every HEP packet of a datagram (senders put one in each; nothing stops
 * more, back to back), captured or received at capture_us. Bytes after a
 * packet that are not one count as a bad packet: none pass unseen. A
 * malformed v3 packet whose total length fits is a bad packet, and the
 * packets after it are still read. A datagram may be one HEP v1/v2 packet;
 * a packet off a TCP stream (stream) only v3. */
static fs_code hep_datagram(cap_decoder *d, const uint8_t *buf, size_t len, uint64_t capture_us,
                            uint64_t frame_no, bool stream, fs_err *e) {
    size_t off = 0;
    fs_code bad = FS_OK;
    do {
        cap_hep h;
        d->st.hep_packets++;
        fs_code rc = off == 0 && !stream ? cap_hep_parse_datagram(buf, len, &h, e)
                                         : cap_hep_parse(buf + off, len - off, &h, e);
        if (rc != FS_OK) {
            bool magic = len - off >= 6 && memcmp(buf + off, "HEP3", 4) == 0;
            if (off > 0 && !magic)
                fs_fail(e, rc, "HEP: %zu bytes after the packet's total length (%zu) are not a HEP packet",
                        len - off, off);
            hep_refused(d, e->msg);
            size_t total = magic ? rd16(buf + off + 4) : 0;
            if (total < 6 || total > len - off) return rc;
            bad = rc;
            off += total;
            continue;
        }
        if (h.version < 3) d->st.hep_v1v2++;
        const char *unauthorised = hep_unauthorised(d, &h);
        if (unauthorised) hep_refused(d, unauthorised);
        else if (hep_inflate(d, &h)) hep_deliver(d, &h, capture_us, frame_no);
        off += h.total;
    } while (off < len);
    return bad;
}

/* A HEP v3 packet off a TCP stream on a HEP port (cap_tcp.c cuts them). */
static void tcp_hep_packet(void *user, const uint8_t *pkt, size_t len, uint64_t ts_us, uint64_t frame_no) {
    fs_err e = {0};
    hep_datagram(user, pkt, len, ts_us, frame_no, true, &e);
}

fs_code cap_decode_hep(cap_decoder *d, const uint8_t *buf, size_t len, uint64_t ts_us, fs_err *e) {
    fs_err local = {0};
    return hep_datagram(d, buf, len, ts_us, 0, false, e ? e : &local);
}

fs_code cap_decode_hep_stream(cap_decoder *d, const uint8_t *buf, size_t len, uint64_t ts_us, fs_err *e) {
    fs_err local = {0};
    return hep_datagram(d, buf, len, ts_us, 0, true, e ? e : &local);
}

/* ---- transport ------------------------------------------------------------ */

static void decode_inner(cap_decoder *d, uint16_t type, const uint8_t *p, uint32_t n);

/* A layer of the frame's path (the outermost FS_MAX_LAYERS are kept),
 * with the addresses of the IP packet that carried it (ip may be NULL). */
static void path_add(cap_decoder *d, const fs_layer *l, const ip_ctx *ip) {
    fs_layer *to = fs_encap_add(&d->path, l);
    if (to && ip) {
        to->src = ip->src;
        to->dst = ip->dst;
    }
}

/* Encapsulation headers, found by UDP port, IP protocol or EtherType:
 * opened if cap_tunnel.c reads them (true). Off the hot path: not inlined,
 * so the plain IP/UDP/TCP path stays one inlined chain. */
__attribute__((noinline)) static bool decode_udp_tunnel(cap_decoder *d, const ip_ctx *ip, uint16_t port,
                                                        const uint8_t *p, uint32_t n) {
    uint32_t off = 0;
    fs_layer l = {0};
    uint16_t inner = cap_tunnel_udp(port, p, n, &off, &l);
    if (!inner) return false;
    path_add(d, &l, ip);
    decode_inner(d, inner, p + off, n - off);
    return true;
}
__attribute__((noinline)) static void decode_ipproto_tunnel(cap_decoder *d, const ip_ctx *ip, uint8_t proto,
                                                            const uint8_t *p, uint32_t n) {
    uint32_t off = 0;
    fs_layer l = {0};
    uint16_t inner = cap_tunnel_ipproto(proto, p, n, &off, &l);
    if (!inner) return;
    path_add(d, &l, ip);
    decode_inner(d, inner, p + off, n - off);
}
__attribute__((noinline)) static void decode_ethertype_tunnel(cap_decoder *d, uint16_t type, const uint8_t *p,
                                                              uint32_t n) {
    uint32_t off = 0;
    fs_layer l = {0};
    uint16_t inner = cap_tunnel_ethertype(type, p, n, &off, &l);
    if (!inner) {
        d->st.not_ip++;
        return;
    }
    path_add(d, &l, NULL);
    decode_inner(d, inner, p + off, n - off);
}

static void decode_transport(cap_decoder *d, const ip_ctx *ip, uint8_t proto, const uint8_t *p,
                             uint32_t n);

/* ESP with an SA in cfg.esp_sas (--esp-sa) or cfg.esp_keyring (learned):
 * decrypted into d->esp.
 * CAP_ESP_NO_SA when it has none (or is inside another such plaintext,
 * which holds the scratch). */
static cap_esp_status esp_with_keys(cap_decoder *d, const ip_ctx *ip, const uint8_t *p, uint32_t n,
                                    const uint8_t **plain, uint32_t *len, uint8_t *next, fs_layer *l) {
    if ((!d->cfg.esp_sas && !d->cfg.esp_keyring) || d->in_esp) return CAP_ESP_NO_SA;
    if (!d->esp && !(d->esp = cap_esp_scratch_new(d->cfg.esp_sas))) return CAP_ESP_NO_SA;
    uint32_t spi = 0;
    cap_esp_status st = cap_esp_decrypt(d->cfg.esp_sas, d->cfg.esp_keyring, d->esp, ip->src.family, ip->src.ip,
                                        ip->dst.ip, p, n, plain, len, next, &spi);
    if (st == CAP_ESP_OK) {
        l->kind = FS_L_ESP;
        l->has_id = true;
        l->id = spi;
    }
    return st;
}

/* ESP (IP protocol 50, or UDP-encapsulated on 4500): read when an SA of
 * --esp-sa decrypts it, or when its payload checks out as NULL-encrypted
 * (cap_esp_open), in transport mode (UDP or TCP with the outer addresses)
 * or tunnel mode (an inner IP packet); true if it was (or an SA's check
 * failed). Other encrypted ESP is counted, not read. */
__attribute__((noinline)) static bool decode_esp(cap_decoder *d, const ip_ctx *ip, const uint8_t *p, uint32_t n) {
    d->st.esp_packets++;
    uint32_t len = 0;
    fs_layer l = {0};
    const uint8_t *in = p + 8;
    uint8_t next = 0;
    cap_esp_status st = esp_with_keys(d, ip, p, n, &in, &len, &next, &l);
    if (st == CAP_ESP_AUTH_FAILED || st == CAP_ESP_BAD) {
        d->st.esp_failed++;
        return true;
    }
    if (st == CAP_ESP_REPLAYED) {
        d->st.esp_replayed++;
        return true;
    }
    if (st == CAP_ESP_OK) {
        d->st.esp_decrypted++;
    } else {
        if (!(next = cap_esp_open(ip->src.ip, ip->dst.ip, ip->src.family == 4 ? 4 : 16, p, n, &len, &l)))
            return false;
        d->st.esp_null++;
    }
    if (d->encap >= CAP_MAX_ENCAP) { /* counted as one more layer, like any tunnel */
        d->st.bad_ip++;
        return true;
    }
    path_add(d, &l, ip);
    bool was_in_esp = d->in_esp;
    d->in_esp = d->in_esp || st == CAP_ESP_OK;
    if (next == 4 || next == 41) {
        decode_inner(d, next == 4 ? ETH_IPV4 : ETH_IPV6, in, len);
    } else {
        if (d->encap++ == 0) d->st.tunneled++;
        decode_transport(d, ip, next, in, len);
        d->encap--;
    }
    d->in_esp = was_in_esp;
    return true;
}

/* A UDP payload on 4500 read as ESP when it is (cap_natt_is_esp) and
 * checks out as NULL-encrypted; true if it was. */
__attribute__((noinline, cold)) static bool decode_natt(cap_decoder *d, const ip_ctx *ip, const uint8_t *pl,
                                                        uint32_t plen) {
    return cap_natt_is_esp(pl, plen) && decode_esp(d, ip, pl, plen);
}

static void decode_udp(cap_decoder *d, const ip_ctx *ip, const uint8_t *p, uint32_t n) {
    if (n < 8) {
        d->st.truncated++;
        return;
    }
    uint32_t ulen = rd16(p + 4);
    if (ulen < 8) {
        if (ulen != 0) {
            d->st.bad_ip++;
            return;
        }
        ulen = n; /* 0: a jumbo datagram or an offloaded checksum/length; trust IP */
    }
    if (ulen > n) {
        d->st.truncated++;
        return;
    }
    d->st.udp++;
    fs_endpoint src = {ip->src, rd16(p)}, dst = {ip->dst, rd16(p + 2)};
    const uint8_t *pl = p + 8;
    uint32_t plen = ulen - 8;
    /* HEP on its ports; anything else there (SIP sent from port 9060, say)
     * is judged like any other datagram, so the port cannot hide it */
    bool hep_port = port_in(d->hep_port, dst.port) || port_in(d->hep_port, src.port);
    if (hep_port && ((plen >= 4 && memcmp(pl, "HEP3", 4) == 0) || (plen >= 1 && (pl[0] == 1 || pl[0] == 2)))) {
        fs_err e = {0};
        hep_datagram(d, pl, plen, d->ts_us, d->frame_no, false, &e);
        return;
    }
    uint16_t tport = cap_tunnel_udp_port(src.port, dst.port);
    if (__builtin_expect(tport != 0, 0) && !port_in(d->sip_port, tport) && !port_in(d->sip_port, dst.port) &&
        decode_udp_tunnel(d, ip, tport, pl, plen))
        return;
    /* ESP over UDP (RFC 3948) */
    if (__builtin_expect(dst.port == CAP_PORT_NATT || src.port == CAP_PORT_NATT, 0) &&
        !port_in(d->sip_port, dst.port) && decode_natt(d, ip, pl, plen))
        return;
    if (cap_sip_keepalive(pl, plen)) {
        d->st.keepalives += plen > 0;
        return;
    }
    bool sip = port_in(d->sip_port, dst.port) || port_in(d->sip_port, src.port) ||
               (d->cfg.heuristic && cap_sip_start_line(pl, plen) == 1);
    if (sip) emit_payload(d, pl, plen, &src, &dst, CAP_T_UDP, false, false, d->ts_us, d->frame_no);
}

static void decode_tcp(cap_decoder *d, const ip_ctx *ip, const uint8_t *p, uint32_t n) {
    if (n < 20) {
        d->st.truncated++;
        return;
    }
    uint32_t hl = (uint32_t)(p[12] >> 4) * 4;
    if (hl < 20 || hl > n) {
        d->st.bad_ip++;
        return;
    }
    cap_tcp_seg s = {.src = {ip->src, rd16(p)},
                     .dst = {ip->dst, rd16(p + 2)},
                     .seq = rd32(p + 4),
                     .ack = rd32(p + 8),
                     .flags = p[13],
                     .data = p + hl,
                     .len = n - hl,
                     .ts_us = d->ts_us,
                     .frame_no = d->frame_no,
                     .encap = d->path.n ? &d->path : NULL};
    unsigned ports = 0;
    if (port_in(d->sip_port, s.src.port) || port_in(d->sip_port, s.dst.port)) ports |= CAP_TCP_SIP_PORT;
    if (port_in(d->hep_port, s.src.port) || port_in(d->hep_port, s.dst.port)) ports |= CAP_TCP_HEP_PORT;
    cap_tcp_segment(d->tcp, &s, ports);
}

/* A DATA chunk that holds part of a user message (cap_sctp.c puts them
 * back together): a message it completes is a candidate like a whole one.
 * On a port that is not a SIP port, a message is held from a first part
 * that starts like SIP. */
static void sctp_fragment(cap_decoder *d, const fs_endpoint *src, const fs_endpoint *dst, uint32_t vtag,
                          const uint8_t *chunk, const uint8_t *data, uint32_t dlen, bool sip_port) {
    d->st.sctp_fragmented++;
    uint8_t flags = chunk[1] & 3;
    if (!sip_port && (!d->cfg.heuristic || ((flags & 2) && cap_sip_start_line(data, dlen) == 0))) return;
    if (cap_sctp_repeat(d->sctp, src->port, dst->port, vtag, rd32(chunk + 4))) {
        d->st.sctp_retransmits++;
        return;
    }
    cap_sctp_chunk c = {.src = *src, .dst = *dst, .vtag = vtag, .tsn = rd32(chunk + 4), .flags = flags,
                        .data = data, .len = dlen, .ts_us = d->ts_us};
    if (chunk[0] == SCTP_I_DATA) { /* by message and FSN (the B fragment's is 0: PPID in its place) */
        c.tsn = (flags & 2) ? 0 : rd32(chunk + 16);
        c.msg = 1ull << 49 | (uint64_t)(chunk[1] >> 2 & 1) << 48 | (uint64_t)rd16(chunk + 8) << 32 | rd32(chunk + 12);
    }
    const uint8_t *msg;
    uint32_t len;
    int r = cap_sctp_add(d->sctp, &c, !sip_port, &msg, &len);
    if ((r != CAP_SCTP_MESSAGE && r != CAP_SCTP_OVERSIZED) || len == 0) return; /* empty parts only */
    emit_payload(d, msg, len, src, dst, CAP_T_SCTP, false, r == CAP_SCTP_OVERSIZED, d->ts_us, d->frame_no);
}

/* SCTP (RFC 9260): SIP over SCTP sends each message as one user message
 * (RFC 4168), so every DATA chunk holding a whole one (B and E flags) is a
 * message candidate, on a SIP port or by the start-line heuristic, like a
 * UDP datagram; one split over several chunks is put back together first
 * (sctp_fragment). Chunks are walked in order (bundling). */
__attribute__((noinline)) static void decode_sctp(cap_decoder *d, const ip_ctx *ip, const uint8_t *p, uint32_t n) {
    if (n < 12) {
        d->st.truncated++;
        return;
    }
    d->st.sctp_packets++;
    fs_endpoint src = {ip->src, rd16(p)}, dst = {ip->dst, rd16(p + 2)};
    bool sip_port = port_in(d->sip_port, dst.port) || port_in(d->sip_port, src.port);
    uint32_t o = 12;
    /* every chunk: each is at least 4 bytes, so the walk is bounded by the
     * packet (a 64 KiB one on loopback bundles hundreds of small messages) */
    while (n - o >= 4) {
        uint8_t type = p[o], flags = p[o + 1];
        uint32_t clen = rd16(p + o + 2);
        if (clen < 4 || clen > n - o) {
            d->st.bad_ip++;
            return;
        }
        /* DATA: TSN, stream, sequence, PPID, then the data; I-DATA (RFC 8260,
         * user message interleaving): TSN, stream, reserved, message ID,
         * PPID or FSN, then the data */
        uint32_t hl = type == 0 ? 16 : type == SCTP_I_DATA ? 20 : 0;
        if (hl && clen >= hl) {
            const uint8_t *data = p + o + hl;
            uint32_t dlen = clen - hl;
            if ((flags & 3) != 3) sctp_fragment(d, &src, &dst, rd32(p + 4), p + o, data, dlen, sip_port);
            else if (dlen && (sip_port || (d->cfg.heuristic && cap_sip_start_line(data, dlen) == 1))) {
                if (cap_sctp_repeat(d->sctp, src.port, dst.port, rd32(p + 4), rd32(p + o + 4)))
                    d->st.sctp_retransmits++; /* read once, as TCP's retransmissions are */
                else
                    emit_payload(d, data, dlen, &src, &dst, CAP_T_SCTP, false, false, d->ts_us, d->frame_no);
            }
        }
        uint32_t padded = (clen + 3) & ~3u;
        if (padded >= n - o) return;
        o += padded;
    }
}

static void decode_transport(cap_decoder *d, const ip_ctx *ip, uint8_t proto, const uint8_t *p,
                             uint32_t n) {
    if (proto == IPPROTO_UDP_) decode_udp(d, ip, p, n);
    else if (proto == IPPROTO_TCP_) decode_tcp(d, ip, p, n);
    else if (proto == IPPROTO_SCTP_) decode_sctp(d, ip, p, n);
    else if (proto == IPPROTO_ESP_) decode_esp(d, ip, p, n);
    else decode_ipproto_tunnel(d, ip, proto, p, n);
}

/* ---- IP ------------------------------------------------------------------- */

static void decode_ipv4(cap_decoder *d, const uint8_t *p, uint32_t n) {
    if (n < 20) {
        d->st.truncated++;
        return;
    }
    uint32_t hl = (uint32_t)(p[0] & 0x0f) * 4;
    uint32_t total = rd16(p + 2);
    if ((p[0] >> 4) != 4 || hl < 20) {
        d->st.bad_ip++;
        return;
    }
    if (total == 0) total = n; /* segmentation offload: the NIC fills it in */
    if (total < hl) {
        d->st.bad_ip++;
        return;
    }
    if (hl > n || total > n) {
        d->st.truncated++;
        return;
    }
    ip_ctx ip = {{.family = 4}, {.family = 4}};
    memcpy(ip.src.ip, p + 12, 4);
    memcpy(ip.dst.ip, p + 16, 4);
    uint8_t proto = p[9];
    uint16_t frag = rd16(p + 6);
    const uint8_t *body = p + hl;
    uint32_t blen = total - hl; /* Ethernet padding beyond total is ignored */
    if ((frag & 0x3fff) == 0) {
        decode_transport(d, &ip, proto, body, blen);
        return;
    }
    if (d->frag_depth >= CAP_MAX_FRAG_NEST) { /* a fragment inside a third reassembled datagram */
        d->st.bad_ip++;
        return;
    }
    d->st.ip_fragments++;
    cap_frag_key k = {.src = ip.src, .dst = ip.dst, .id = rd16(p + 4), .proto = proto};
    const uint8_t *dg;
    uint32_t dglen;
    uint8_t dgproto;
    if (cap_frag_add(d->frag, &k, (uint32_t)(frag & 0x1fff) * 8, (frag & 0x2000) != 0, body, blen,
                     proto, d->ts_us, &dg, &dglen, &dgproto)) {
        d->frag_depth++;
        decode_transport(d, &ip, dgproto, dg, dglen);
        d->frag_depth--;
        cap_frag_release(d->frag);
    }
}

static void decode_ipv6_next(cap_decoder *d, const ip_ctx *ip, uint8_t nh, const uint8_t *p,
                             uint32_t n, bool reassembled, int budget);

/* The fragment header at p (8 bytes known present); the fragmentable part
 * follows it. */
static void decode_ipv6_fragment(cap_decoder *d, const ip_ctx *ip, const uint8_t *p, uint32_t n,
                                 bool reassembled, int budget) {
    uint8_t nh = p[0];
    uint16_t offm = rd16(p + 2);
    uint32_t off = (uint32_t)(offm & 0xfff8), id = rd32(p + 4);
    bool more = (offm & 1) != 0;
    if (off == 0 && !more) { /* atomic fragment (RFC 6946): not really fragmented */
        decode_ipv6_next(d, ip, nh, p + 8, n - 8, reassembled, budget);
        return;
    }
    /* a fragment header in the datagram it reassembles (RFC 8200 forbids
     * it), or inside a third reassembled datagram: hostile */
    if (reassembled || d->frag_depth >= CAP_MAX_FRAG_NEST) {
        d->st.bad_ip++;
        return;
    }
    d->st.ip_fragments++;
    if (off == 0 && cap_ip6_first_fragment_short(nh, p + 8, n - 8)) {
        d->st.frag_dropped++;
        return;
    }
    cap_frag_key k = {.src = ip->src, .dst = ip->dst, .id = id, .proto = 0};
    const uint8_t *dg;
    uint32_t dglen;
    uint8_t dgproto;
    if (cap_frag_add(d->frag, &k, off, more, p + 8, n - 8, nh, d->ts_us, &dg, &dglen, &dgproto)) {
        d->frag_depth++;
        decode_ipv6_next(d, ip, dgproto, dg, dglen, true, MAX_IP6_EXT);
        d->frag_depth--;
        cap_frag_release(d->frag);
    }
}

/* Walk extension headers from next-header nh over [p, p + n); at most
 * `budget` of them, atomic fragment headers included (so recursion through
 * decode_ipv6_fragment is bounded too). */
static void decode_ipv6_next(cap_decoder *d, const ip_ctx *ip, uint8_t nh, const uint8_t *p,
                             uint32_t n, bool reassembled, int budget) {
    while (budget-- > 0) {
        uint32_t hl;
        switch (nh) {
        case IPPROTO_HOPOPTS_:
        case IPPROTO_ROUTING_:
        case IPPROTO_DSTOPTS_:
            if (n < 8) goto short_packet;
            hl = ((uint32_t)p[1] + 1) * 8;
            break;
        case IPPROTO_AH_:
            if (n < 8) goto short_packet;
            hl = ((uint32_t)p[1] + 2) * 4;
            break;
        case IPPROTO_FRAGMENT_:
            if (n < 8) goto short_packet;
            decode_ipv6_fragment(d, ip, p, n, reassembled, budget);
            return;
        case IPPROTO_NONE_:
            return;
        default:
            decode_transport(d, ip, nh, p, n);
            return;
        }
        if (hl > n) goto short_packet;
        nh = p[0];
        p += hl;
        n -= hl;
    }
    d->st.bad_ip++; /* too many extension headers */
    return;
short_packet:
    d->st.bad_ip++;
}

static void decode_ipv6(cap_decoder *d, const uint8_t *p, uint32_t n) {
    if (n < 40) {
        d->st.truncated++;
        return;
    }
    if ((p[0] >> 4) != 6) {
        d->st.bad_ip++;
        return;
    }
    uint32_t plen = rd16(p + 4);
    if (plen == 0) plen = n - 40; /* jumbogram or offload: trust the capture */
    if (plen > n - 40) {
        d->st.truncated++;
        return;
    }
    ip_ctx ip = {{.family = 6}, {.family = 6}};
    memcpy(ip.src.ip, p + 8, 16);
    memcpy(ip.dst.ip, p + 24, 16);
    decode_ipv6_next(d, &ip, p[6], p + 40, plen, false, MAX_IP6_EXT);
}

static void decode_ip(cap_decoder *d, const uint8_t *p, uint32_t n) {
    if (n < 1) {
        d->st.truncated++;
        return;
    }
    switch (p[0] >> 4) {
    case 4: decode_ipv4(d, p, n); break;
    case 6: decode_ipv6(d, p, n); break;
    default: d->st.not_ip++; break;
    }
}

static void decode_tagged(cap_decoder *d, const uint8_t *p, uint32_t n);

static void decode_ethertype(cap_decoder *d, uint16_t type, const uint8_t *p, uint32_t n) {
    if (type == ETH_IPV4) {
        decode_ipv4(d, p, n);
    } else if (type == ETH_IPV6) {
        decode_ipv6(d, p, n);
    } else {
        decode_ethertype_tunnel(d, type, p, n);
    }
}

/* The packet inside an encapsulation: a frame is counted as tunneled once,
 * however deep; a tunnel more than CAP_MAX_ENCAP deep is refused. */
static void decode_inner(cap_decoder *d, uint16_t type, const uint8_t *p, uint32_t n) {
    if (d->encap >= CAP_MAX_ENCAP) {
        d->st.bad_ip++;
        return;
    }
    if (d->encap++ == 0) d->st.tunneled++;
    if (type != CAP_ETH_FRAME) decode_ethertype(d, type, p, n);
    else if (n < 14) d->st.truncated++;
    else decode_tagged(d, p + 12, n - 12); /* dst, src, then tags and the EtherType */
    d->encap--;
}

/* ---- link layer ----------------------------------------------------------- */

/* p points at an EtherType; 802.1Q / 802.1ad / old QinQ tags are skipped. */
static void decode_tagged(cap_decoder *d, const uint8_t *p, uint32_t n) {
    for (int i = 0; i <= CAP_MAX_VLAN_TAGS; i++) {
        if (n < 2) {
            d->st.truncated++;
            return;
        }
        uint16_t type = rd16(p);
        if (type != 0x8100 && type != 0x88a8 && type != 0x9100) {
            decode_ethertype(d, type, p + 2, n - 2);
            return;
        }
        if (n < 6) {
            d->st.truncated++;
            return;
        }
        path_add(d, &(fs_layer){.kind = FS_L_VLAN, .has_id = true, .id = rd16(p + 2) & 0xfffu}, NULL);
        p += 4;
        n -= 4;
    }
    d->st.not_ip++; /* more tags than any real network stacks */
}

static bool loop_af_is(uint32_t af, int *ver) {
    if (af == 2) *ver = 4;
    else if (af == 24 || af == 28 || af == 30) *ver = 6;
    else return false;
    return true;
}

static void decode_loopback(cap_decoder *d, bool either_order, const uint8_t *p, uint32_t n) {
    if (n < 4) {
        d->st.truncated++;
        return;
    }
    int ver = 0;
    if (!loop_af_is(rd32(p), &ver) && !(either_order && loop_af_is(rd32le(p), &ver))) {
        d->st.not_ip++;
        return;
    }
    if (ver == 4) decode_ipv4(d, p + 4, n - 4);
    else decode_ipv6(d, p + 4, n - 4);
}

bool cap_dlt_supported(int dlt) {
    switch (dlt) {
    case LINK_NULL: case LINK_EN10MB: case LINK_RAW_A: case LINK_RAW_B: case LINK_RAW: case LINK_LOOP:
    case LINK_SLL: case LINK_IPV4: case LINK_IPV6: case LINK_SLL2:
        return true;
    default:
        return cap_link_known(dlt);
    }
}

/* PPP, Cisco HDLC, NFLOG (cap_link_inner), or a link type not read. */
__attribute__((noinline, cold)) static void decode_link_other(cap_decoder *d, int dlt, const uint8_t *p, uint32_t n) {
    uint32_t off, len;
    uint16_t type = cap_link_inner(dlt, p, n, &off, &len);
    if (type) decode_ethertype(d, type, p + off, len);
    else d->st.not_ip++;
}

static void decode_link(cap_decoder *d, int dlt, const uint8_t *p, uint32_t n) {
    switch (dlt) {
    case LINK_EN10MB:
        if (n < 14) {
            d->st.truncated++;
            return;
        }
        decode_tagged(d, p + 12, n - 12);
        return;
    case LINK_SLL:
        if (n < 16) {
            d->st.truncated++;
            return;
        }
        decode_tagged(d, p + 14, n - 14);
        return;
    case LINK_SLL2:
        if (n < 20) {
            d->st.truncated++;
            return;
        }
        if (rd16(p) == 0x8100 || rd16(p) == 0x88a8 || rd16(p) == 0x9100) {
            /* a tag left in the payload: TCI, then the inner EtherType */
            if (n < 22) {
                d->st.truncated++;
                return;
            }
            path_add(d, &(fs_layer){.kind = FS_L_VLAN, .has_id = true, .id = rd16(p + 20) & 0xfffu}, NULL);
            decode_tagged(d, p + 22, n - 22);
            return;
        }
        decode_ethertype(d, rd16(p), p + 20, n - 20);
        return;
    case LINK_RAW:
    case LINK_RAW_A:
    case LINK_RAW_B:
        decode_ip(d, p, n);
        return;
    case LINK_IPV4:
        decode_ipv4(d, p, n);
        return;
    case LINK_IPV6:
        decode_ipv6(d, p, n);
        return;
    case LINK_NULL:
        decode_loopback(d, true, p, n);
        return;
    case LINK_LOOP:
        decode_loopback(d, false, p, n);
        return;
    default:
        decode_link_other(d, dlt, p, n);
        return;
    }
}

void cap_decode_frame_in(cap_decoder *d, const fs_encap *outer, bool reassembled, int dlt,
                         const uint8_t *frame, uint32_t caplen, uint64_t ts_us, uint64_t frame_no) {
    d->st.frames++;
    d->st.bytes += caplen;
    d->ts_us = ts_us;
    d->frame_no = frame_no;
    d->encap = 0;
    d->path.n = 0;
    if (outer) d->path = *outer;
    d->frag_depth = reassembled ? 1 : 0;
    /* Expire by capture time, about once per second of it (or when time
     * went backwards, so a clock jump does not stall expiry). */
    if (ts_us >= d->last_tick + TICK_US || ts_us < d->last_tick) {
        d->last_tick = ts_us;
        cap_decoder_expire(d, ts_us);
    }
    if (!frame) caplen = 0;
    decode_link(d, dlt, frame, caplen);
}

void cap_decode_frame(cap_decoder *d, int dlt, const uint8_t *frame, uint32_t caplen,
                      uint64_t ts_us, uint64_t frame_no) {
    cap_decode_frame_in(d, NULL, false, dlt, frame, caplen, ts_us, frame_no);
}
