/*
 * cap_shard.c -- which worker a frame belongs to (fs38 inspect --workers).
 *
 * Owns: a stateless peek through the link and IP headers, and the
 * encapsulations the decoder opens (cap_tunnel.c), to the addresses and
 * ports of a frame's innermost packet, and the choice of the client address as the shard
 * key (an IPv6 client's network, as the detector counts its sources), and the payload a frame carries (a whole UDP datagram, or a TCP
 * segment's data) for the reader's look at new calls (insp.c); and, with
 * several workers, the reader's IP fragment reassembly (cap_defrag), so that
 * a fragmented datagram is sharded by its ports like every other packet of
 * its client. Must not touch: decoder state (cap_decode.c does the real
 * decoding, TCP reassembly), SIP parsing beyond the first bytes of a payload.
 */
#include "cap.h"

#include <stdlib.h>
#include <string.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static bool is_sip_port(const cap_config *c, uint16_t port) {
    for (unsigned i = 0; i < c->nports; i++)
        if (c->sip_ports[i] == port) return true;
    return false;
}

static bool is_vlan_tag(uint16_t type) { return type == 0x8100 || type == 0x88a8 || type == 0x9100; }

/* What the peek sees of a frame: addresses, transport, and where it starts. */
typedef struct l4_peek {
    const uint8_t *ip;         /* the IP header */
    uint32_t iplen;            /* bytes of the IP packet in the frame (padding cut) */
    const uint8_t *src, *dst;  /* addresses, alen bytes each */
    size_t alen;
    uint8_t proto;
    bool fragment;             /* an IP fragment: no transport header to trust */
    bool tunneled;             /* found inside an encapsulation */
    bool cut;                  /* its length says more than the frame holds: the decoder's truncated */
    uint8_t udp_passed;        /* UDP datagrams it was found inside (the decoder counts them, udp) */
    uint8_t esp_passed;        /* NULL-encrypted ESP packets it was found inside (esp_packets, esp_null) */
    const uint8_t *l4;         /* transport header, NULL when not in the frame */
    uint32_t l4len;            /* bytes from l4 to the end of the frame */
} l4_peek;

/* A layer of the path the decoder records (cap_decode.c), with the
 * addresses of the packet that carried it (k: NULL for none). */
static void path_add(fs_encap *path, const fs_layer *l, const l4_peek *k) {
    fs_layer *to = fs_encap_add(path, l);
    if (!to || !k) return;
    to->src.family = to->dst.family = k->alen == 4 ? 4 : 6;
    memcpy(to->src.ip, k->src, k->alen);
    memcpy(to->dst.ip, k->dst, k->alen);
}

/* p at an EtherType field: past any VLAN tags, to the payload; *type is
 * the last EtherType. NULL when cut short, or past CAP_MAX_VLAN_TAGS tags. */
static const uint8_t *skip_tags(const uint8_t *p, uint32_t n, uint16_t *type, uint32_t *rest, fs_encap *path) {
    if (n < 2) return NULL;
    uint32_t off = 2;
    *type = be16(p);
    for (int i = 0; is_vlan_tag(*type) && off + 4 <= n; i++) {
        if (i == CAP_MAX_VLAN_TAGS) return NULL; /* the decoder's not_ip too */
        if (path) path_add(path, &(fs_layer){.kind = FS_L_VLAN, .has_id = true, .id = be16(p + off) & 0xfffu}, NULL);
        *type = be16(p + off + 2);
        off += 4;
    }
    *rest = n - off;
    return p + off;
}

/* The IP packet behind EtherType type at p, through MPLS, PPPoE and
 * Ethernet frames from tunnels as the decoder opens them; *depth counts
 * the encapsulations opened (CAP_MAX_ENCAP at most). NULL if not IP. */
static const uint8_t *inner_ip(uint16_t type, const uint8_t *p, uint32_t n, int *depth, uint32_t *rest,
                               fs_encap *path) {
    while (type != CAP_ETH_IPV4 && type != CAP_ETH_IPV6) {
        uint32_t off;
        fs_layer l = {0};
        uint16_t inner = cap_tunnel_ethertype(type, p, n, &off, &l);
        if (!inner || *depth >= CAP_MAX_ENCAP) return NULL;
        if (path) path_add(path, &l, NULL);
        ++*depth;
        p += off;
        n -= off;
        type = inner;
        if (type == CAP_ETH_FRAME) {
            if (n < 14 || !(p = skip_tags(p + 12, n - 12, &type, &n, path))) return NULL;
        }
    }
    if (n < 1) return NULL;
    *rest = n;
    return p;
}

/* Strip the link layer (and MPLS or PPPoE on it: *depth): returns the IP
 * header, or NULL. */
static const uint8_t *link_to_ip(int dlt, const uint8_t *f, uint32_t len, int *depth, uint32_t *rest,
                                 fs_encap *path) {
    uint16_t type;
    switch (dlt) {
    case 1: /* Ethernet, up to CAP_MAX_VLAN_TAGS VLAN tags */
        if (len < 14 || !(f = skip_tags(f + 12, len - 12, &type, &len, path))) return NULL;
        return inner_ip(type, f, len, depth, rest, path);
    case 113: /* Linux SLL, VLAN tags as on Ethernet (libpcap puts them back) */
        if (len < 16 || !(f = skip_tags(f + 14, len - 14, &type, &len, path))) return NULL;
        return inner_ip(type, f, len, depth, rest, path);
    case 276: /* Linux SLL2: the protocol first; a tag's TCI and EtherType start the payload */
        if (len < 20) return NULL;
        if (!is_vlan_tag(be16(f))) return inner_ip(be16(f), f + 20, len - 20, depth, rest, path);
        if (len < 22) return NULL;
        if (path) path_add(path, &(fs_layer){.kind = FS_L_VLAN, .has_id = true, .id = be16(f + 20) & 0xfffu}, NULL);
        if (!(f = skip_tags(f + 22, len - 22, &type, &len, path))) return NULL;
        return inner_ip(type, f, len, depth, rest, path);
    case 0:
    case 108: /* BSD loopback: 4-byte family, version is in the IP header */
        if (len <= 4) return NULL;
        *rest = len - 4;
        return f + 4;
    case 12: case 14: case 101: case 228: case 229:
        if (len < 1) return NULL;
        *rest = len;
        return f;
    default: { /* PPP, Cisco HDLC, NFLOG */
        uint32_t off, n;
        uint16_t t = cap_link_inner(dlt, f, len, &off, &n);
        return t ? inner_ip(t, f + off, n, depth, rest, path) : NULL;
    }
    }
}

static bool peek_ip(const uint8_t *ip, uint32_t len, l4_peek *k) {
    uint32_t l4off = 0;
    memset(k, 0, sizeof *k);
    if ((ip[0] >> 4) == 4) {
        if (len < 20) return false;
        uint32_t total = be16(ip + 2); /* bytes past it are link padding */
        if (total >= 20 && total < len) len = total;
        k->cut = total > len;
        k->src = ip + 12;
        k->dst = ip + 16;
        k->alen = 4;
        k->fragment = (be16(ip + 6) & 0x3fff) != 0; /* MF or offset */
        k->proto = ip[9];
        l4off = (uint32_t)(ip[0] & 15) * 4;
    } else if ((ip[0] >> 4) == 6) {
        if (len < 40) return false;
        k->src = ip + 8;
        k->dst = ip + 24;
        k->alen = 16;
        k->proto = ip[6];
        uint32_t total = 40u + be16(ip + 4); /* 0: a jumbogram, taken as captured */
        if (total > 40 && total < len) len = total;
        k->cut = total > len;
        l4off = 40;
        /* the decoder's walk (cap_decode.c), AH included, so a fragment behind
         * many extension headers is still seen as one; an atomic fragment
         * header (RFC 6946: offset 0, no more) is walked through, as the
         * decoder reads that packet whole */
        for (int hops = 0; hops < CAP_MAX_IP6_EXT; hops++) {
            bool atomic = k->proto == 44 && l4off + 8 <= len && (be16(ip + l4off + 2) & 0xfff9) == 0;
            if (!atomic && k->proto != 0 && k->proto != 43 && k->proto != 60 && k->proto != 51) break;
            if (l4off + 8 > len) return false;
            uint8_t next = ip[l4off];
            l4off += k->proto == 51 ? ((uint32_t)ip[l4off + 1] + 2) * 4
                     : atomic       ? 8
                                    : ((uint32_t)ip[l4off + 1] + 1) * 8;
            k->proto = next;
        }
        k->fragment = k->proto == 44;
    } else {
        return false;
    }
    if (l4off < len) {
        k->l4 = ip + l4off;
        k->l4len = len - l4off;
    }
    k->ip = ip;
    k->iplen = len;
    return true;
}

/* The bytes of the UDP datagram at p (n captured) the decoder reads: as
 * many as its length field says (0: all, as offload leaves it); 0 when the
 * decoder refuses it (a length shorter than the header: bad_ip; longer than
 * what is there: truncated), so that nothing inside it is opened here. */
static uint32_t udp_datagram_len(const uint8_t *p, uint32_t n) {
    if (n < 8) return 0;
    uint32_t ulen = be16(p + 4);
    if (ulen == 0) return n;
    return ulen >= 8 && ulen <= n ? ulen : 0;
}

/* ESP in k that the decoder would read as NULL-encrypted (IP protocol 50,
 * or UDP 4500 but on a SIP port): its next header (0: none), its payload at
 * *in, *n bytes. */
static uint8_t esp_null_in(const cap_config *c, const l4_peek *k, const uint8_t **in, uint32_t *n, fs_layer *l) {
    const uint8_t *esp = k->l4;
    uint32_t len = k->l4len;
    if (k->fragment || k->cut || !esp) return 0;
    if (k->proto == 17) {
        len = udp_datagram_len(esp, len); /* the decoder reads the datagram, not what follows */
        if (len < 16) return 0;
        uint16_t sport = be16(esp), dport = be16(esp + 2);
        if ((sport != CAP_PORT_NATT && dport != CAP_PORT_NATT) || is_sip_port(c, dport)) return 0;
        esp += 8;
        len -= 8;
        if (!cap_natt_is_esp(esp, len)) return 0;
    } else if (k->proto != 50) {
        return 0;
    }
    uint8_t next = cap_esp_open(k->src, k->dst, (uint32_t)k->alen, esp, len, n, l);
    *in = esp + 8;
    return next;
}

/* The encapsulation k's transport opens (IP in IP, GRE; VXLAN, Geneve,
 * GTP-U on a port that is not a SIP port; ESP read as NULL-encrypted in
 * tunnel mode), as the decoder reads it: the inner IP packet, or NULL. */
static const uint8_t *tunnel_inner_ip(const cap_config *c, const l4_peek *k, int *depth, uint32_t *rest,
                                      fs_encap *path, bool *via_esp) {
    if (k->fragment || k->cut || !k->l4 || *depth >= CAP_MAX_ENCAP) return NULL;
    uint32_t off = 0;
    uint16_t type;
    fs_layer l = {0};
    const uint8_t *esp_in;
    uint32_t esp_len;
    uint8_t next = esp_null_in(c, k, &esp_in, &esp_len, &l);
    if (next == 4 || next == 41) {
        if (path) path_add(path, &l, k);
        ++*depth;
        *via_esp = true;
        *rest = esp_len;
        return esp_in;
    }
    const uint8_t *p = k->l4;
    uint32_t n = k->l4len;
    if (k->proto == 17) {
        if (!(n = udp_datagram_len(p, n))) return NULL;
        uint16_t dport = be16(p + 2), tport = cap_tunnel_udp_port(be16(p), dport);
        if (!tport || is_sip_port(c, tport) || is_sip_port(c, dport)) return NULL;
        p += 8;
        n -= 8;
        type = cap_tunnel_udp(tport, p, n, &off, &l);
    } else {
        type = cap_tunnel_ipproto(k->proto, p, n, &off, &l);
    }
    if (!type) return NULL;
    if (path) path_add(path, &l, k);
    ++*depth;
    p += off;
    n -= off;
    if (type == CAP_ETH_FRAME && (n < 14 || !(p = skip_tags(p + 12, n - 12, &type, &n, path)))) return NULL;
    return inner_ip(type, p, n, depth, rest, path);
}

/* ESP in transport mode read as NULL-encrypted: k becomes the UDP or TCP
 * segment inside it (the same addresses); true if it did. */
static bool esp_transport(const cap_config *c, l4_peek *k, int *depth, fs_encap *path) {
    if (*depth >= CAP_MAX_ENCAP || (k->proto != 50 && k->proto != 17)) return false;
    const uint8_t *in;
    uint32_t n;
    fs_layer l = {0};
    uint8_t next = esp_null_in(c, k, &in, &n, &l);
    if (next != 17 && next != 6) return false;
    if (path) path_add(path, &l, k);
    ++*depth;
    k->proto = next;
    k->l4 = in;
    k->l4len = n;
    k->tunneled = true;
    return true;
}

/* The innermost IP packet of a frame, as the decoder reaches it; path, when
 * not NULL, gets the VLAN tags and tunnels on the way (as the decoder's). */
static bool peek_l4(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen, l4_peek *k,
                    fs_encap *path) {
    uint32_t len;
    int depth = 0;
    if (path) path->n = 0;
    const uint8_t *ip = link_to_ip(dlt, frame, caplen, &depth, &len, path);
    if (!ip || !peek_ip(ip, len, k)) return false;
    k->tunneled = depth > 0;
    uint8_t udp = 0, esp = 0;
    for (;;) {
        uint8_t proto = k->proto;
        if (esp_transport(c, k, &depth, path)) {
            udp += proto == 17;
            esp++;
            continue;
        }
        bool via_esp = false;
        if (!(ip = tunnel_inner_ip(c, k, &depth, &len, path, &via_esp))) break;
        udp += proto == 17;
        esp += via_esp;
        l4_peek inner;
        if (!peek_ip(ip, len, &inner)) break; /* the decoder finds nothing inside either */
        *k = inner;
        k->tunneled = true;
    }
    k->udp_passed = udp;
    k->esp_passed = esp;
    return true;
}

/* The payload of the whole UDP datagram k shows, or NULL (fragment, not
 * UDP, cut short by the snap length). A length of 0 (a jumbogram, or one
 * offload left unset) is the rest of the IP packet, as the decoder takes it. */
static const uint8_t *whole_udp(const l4_peek *k, uint32_t *len) {
    if (k->fragment || k->proto != 17 || !k->l4 || k->l4len < 8) return NULL;
    uint32_t ulen = be16(k->l4 + 4); /* header + payload */
    if (ulen == 0) ulen = k->l4len;
    if (ulen < 8 || ulen > k->l4len) return NULL;
    *len = ulen - 8;
    return k->l4 + 8;
}

/* The data of the TCP segment k shows, as far as the frame holds it (it
 * may start or end inside a SIP message), or NULL. */
static const uint8_t *tcp_data(const l4_peek *k, uint32_t *len) {
    if (k->fragment || k->proto != 6 || !k->l4 || k->l4len < 20) return NULL;
    uint32_t doff = (uint32_t)(k->l4[12] >> 4) * 4;
    if (doff < 20 || doff >= k->l4len) return NULL;
    *len = k->l4len - doff;
    return k->l4 + doff;
}

/* The user data of the first DATA or I-DATA chunk of the SCTP packet k
 * shows that holds a whole message (B and E flags: RFC 4168 puts one SIP
 * message in each), as the decoder walks the chunks (cap_decode.c
 * decode_sctp), or NULL. */
static const uint8_t *sctp_first_message(const l4_peek *k, uint32_t *len) {
    if (k->fragment || k->proto != 132 || !k->l4 || k->l4len < 12) return NULL;
    const uint8_t *p = k->l4;
    uint32_t n = k->l4len, o = 12;
    while (n - o >= 4) {
        uint8_t type = p[o], flags = p[o + 1];
        uint32_t clen = be16(p + o + 2), hl = type == 0 ? 16 : type == 64 ? 20 : 0;
        if (clen < 4 || clen > n - o) return NULL;
        if (hl && clen > hl && (flags & 3) == 3) {
            *len = clen - hl;
            return p + o + hl;
        }
        uint32_t padded = (clen + 3) & ~3u;
        if (padded >= n - o) return NULL;
        o += padded;
    }
    return NULL;
}

/* The shard key of the client of a message between hs and hd (hashes of
 * the two addresses) on those ports: the side not on a SIP port, so both
 * directions of a flow or dialog agree on it; with both (or neither) on SIP
 * ports, a request's sender, so one scanner probing many servers stays on
 * one worker. payload: the message's first bytes, or NULL. */
static uint64_t client_key(const cap_config *c, uint64_t hs, uint64_t hd, uint16_t sport, uint16_t dport,
                           const uint8_t *payload, uint32_t plen) {
    bool sip_src = is_sip_port(c, sport), sip_dst = is_sip_port(c, dport);
    if (sip_dst && !sip_src) return hs;
    if (sip_src && !sip_dst) return hd;
    if (payload && plen >= 8) {
        if (memcmp(payload, "SIP/2.0 ", 8) == 0) return hd;
        if (payload[0] >= 'A' && payload[0] <= 'Z') return hs;
    }
    return hs ^ hd;
}

/* An address's share of the shard key: an IPv6 client by its network
 * (client_prefix6), so that a host sending from many addresses of its /64
 * lands on one worker, which counts them together as one source. */
static uint64_t addr_hash(const cap_config *c, const uint8_t *ip, uint32_t alen) {
    if (alen != 16 || c->client_prefix6 >= 128) return fs_hash_bytes(ip, alen, 0x5348);
    fs_addr a = {.family = 6}, net;
    memcpy(a.ip, ip, 16);
    fs_addr_source_net(&a, c->client_prefix6, &net);
    return fs_hash_bytes(net.ip, 16, 0x5348);
}

/* k is ESP over UDP (RFC 3948) as the decoder takes it (cap_decode.c
 * decode_udp): on 4500, not to a SIP port, not IKE nor a keepalive. Left
 * here, it was not read as NULL-encrypted: encrypted, its payload says
 * nothing of who the client is. */
static bool natt_esp(const cap_config *c, const l4_peek *k) {
    if (k->proto != 17 || k->fragment || !k->l4 || k->l4len < 8) return false;
    uint16_t sport = be16(k->l4), dport = be16(k->l4 + 2);
    uint32_t ulen = be16(k->l4 + 4), len = k->l4len;
    if ((sport != CAP_PORT_NATT && dport != CAP_PORT_NATT) || is_sip_port(c, dport)) return false;
    if (ulen >= 8 && ulen < len) len = ulen;
    return cap_natt_is_esp(k->l4 + 8, len - 8);
}

static bool is_hep_port(const cap_config *c, uint16_t port) {
    for (unsigned i = 0; i < c->nhep_ports; i++)
        if (c->hep_ports[i] == port) return true;
    return false;
}

/* k is a HEP datagram the decoder reads (on a HEP port): the client of the
 * message it carries, as the --hep listener shards it (cap_shard_key_hep),
 * in *key. Not by the agent's address: every message one proxy mirrors
 * would go to one worker, and a scanner two proxies saw to two, each below
 * the thresholds. A compressed payload says nothing without inflating it
 * (the reader's peek keeps no state): false, sharded by the agent. */
static bool hep_client(const cap_config *c, const l4_peek *k, uint64_t *key) {
    if (k->proto != 17 || !(is_hep_port(c, be16(k->l4)) || is_hep_port(c, be16(k->l4 + 2)))) return false;
    uint32_t n;
    const uint8_t *p = whole_udp(k, &n);
    cap_hep h;
    fs_err e;
    if (!p || cap_hep_parse_datagram(p, n, &h, &e) != FS_OK || h.compressed) return false;
    *key = cap_shard_key_hep(c, &h);
    return true;
}

static uint64_t shard_key(const cap_config *c, const l4_peek *k) {
    uint64_t hs = addr_hash(c, k->src, k->alen), hd = addr_hash(c, k->dst, k->alen);
    if (k->fragment || (k->proto != 17 && k->proto != 6 && k->proto != 132) || !k->l4 || k->l4len < 4)
        return hs ^ hd;
    /* encrypted ESP, in IP (above) or in UDP: by its outer address pair, both
     * directions alike (not by its SPI's first byte read as a request's) */
    if (natt_esp(c, k)) return hs ^ hd;
    uint64_t inner;
    if (hep_client(c, k, &inner)) return inner;
    bool udp_payload = k->proto == 17 && k->l4len >= 16;
    return client_key(c, hs, hd, be16(k->l4), be16(k->l4 + 2), udp_payload ? k->l4 + 8 : NULL,
                      udp_payload ? k->l4len - 8 : 0);
}

uint64_t cap_shard_key_hep(const cap_config *c, const cap_hep *h) {
    uint32_t alen = h->src.addr.family == 6 ? 16 : 4;
    return client_key(c, addr_hash(c, h->src.addr.ip, alen), addr_hash(c, h->dst.addr.ip, alen), h->src.port,
                      h->dst.port, h->payload, h->payload_len);
}

uint64_t cap_shard_key(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen) {
    return cap_shard_peek(c, dlt, frame, caplen, NULL, NULL, NULL, NULL);
}

uint64_t cap_shard_peek(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen,
                        const uint8_t **payload, uint32_t *payload_len, fs_endpoint *src, fs_endpoint *dst) {
    l4_peek k;
    if (payload) *payload = NULL;
    if (!peek_l4(c, dlt, frame, caplen, &k, NULL)) return 0;
    if (payload) {
        *payload = whole_udp(&k, payload_len);
        if (!*payload) *payload = tcp_data(&k, payload_len);
        if (!*payload) *payload = sctp_first_message(&k, payload_len);
        if (*payload && src && dst) { /* UDP, TCP or SCTP: ports in the header's first 4 bytes */
            memset(src, 0, sizeof *src);
            memset(dst, 0, sizeof *dst);
            src->addr.family = dst->addr.family = k.alen == 4 ? 4 : 6;
            memcpy(src->addr.ip, k.src, k.alen);
            memcpy(dst->addr.ip, k.dst, k.alen);
            src->port = be16(k.l4);
            dst->port = be16(k.l4 + 2);
        }
    }
    return shard_key(c, &k);
}

/* ---- the reader's fragment reassembly (--workers) ------------------------- */

#define DEFRAG_TICK_US FS_USEC

struct cap_defrag {
    cap_config cfg;     /* the SIP ports: a tunnel port that is one is not opened */
    cap_stats st;       /* ip_fragments, ip_reassembled, frag_dropped, frag_bytes_peak; frames/bytes */
    cap_frag_table *frag;
    uint64_t last_tick;
    fs_encap path;           /* the VLAN tags and tunnels of the fragment being read */
    uint8_t out[CAP_DEFRAG_MAX_PACKET]; /* the rebuilt packet */
};

cap_defrag *cap_defrag_new(const cap_config *cfg, uint64_t seed) {
    cap_defrag *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cfg = *cfg;
    r->frag = cap_frag_new(cfg, &r->st);
    if (!r->frag) {
        free(r);
        return NULL;
    }
    cap_frag_set_seed(r->frag, seed ^ 0x66726167ULL);
    return r;
}

void cap_defrag_free(cap_defrag *r) {
    if (!r) return;
    cap_frag_free(r->frag);
    free(r);
}

const cap_stats *cap_defrag_stats(const cap_defrag *r) { return &r->st; }
size_t cap_defrag_memory(const cap_defrag *r) { return sizeof *r + cap_frag_memory(r->frag); }
void cap_defrag_finish(cap_defrag *r) { cap_frag_expire(r->frag, UINT64_MAX); }

int cap_defrag_frame(cap_defrag *r, int dlt, const uint8_t *frame, uint32_t caplen, uint64_t ts_us,
                     const uint8_t **out, uint32_t *out_len, const fs_encap **out_path) {
    if (ts_us >= r->last_tick + DEFRAG_TICK_US || ts_us < r->last_tick) {
        r->last_tick = ts_us;
        cap_frag_expire(r->frag, ts_us);
    }
    l4_peek k;
    if (!frame || !peek_l4(&r->cfg, dlt, frame, caplen, &k, &r->path) || !k.fragment) return 0;
    cap_frag_key key;
    memset(&key, 0, sizeof key);
    key.src.family = key.dst.family = k.alen == 4 ? 4 : 6;
    memcpy(key.src.ip, k.src, k.alen);
    memcpy(key.dst.ip, k.dst, k.alen);
    uint32_t off;
    bool more;
    const uint8_t *body;
    uint32_t blen;
    uint8_t proto;
    if (k.alen == 4) {
        uint32_t hl = (uint32_t)(k.ip[0] & 15) * 4, total = be16(k.ip + 2);
        if (hl < 20 || total < hl || total > k.iplen) return 0; /* the worker counts it */
        uint16_t fr = be16(k.ip + 6);
        key.id = be16(k.ip + 4);
        key.proto = proto = k.ip[9];
        off = (uint32_t)(fr & 0x1fff) * 8;
        more = (fr & 0x2000) != 0;
        body = k.ip + hl;
        blen = total - hl;
    } else {
        uint32_t plen = be16(k.ip + 4); /* 0: a jumbogram, taken as captured */
        if (!k.l4 || k.l4len < 8 || (plen && 40 + plen > k.iplen)) return 0; /* the worker counts it */
        const uint8_t *fh = k.l4;
        uint16_t offm = be16(fh + 2);
        off = (uint32_t)(offm & 0xfff8);
        more = (offm & 1) != 0;
        if (off == 0 && !more) return 0; /* atomic fragment: the worker reads it whole */
        key.id = (uint32_t)be16(fh + 4) << 16 | be16(fh + 6);
        proto = fh[0];
        body = fh + 8;
        blen = k.l4len - 8;
    }
    r->st.frames++;
    r->st.bytes += caplen;
    r->st.ip_fragments++;
    if (k.tunneled) r->st.tunneled++; /* the rebuilt packet reaches the worker untunneled */
    r->st.udp += k.udp_passed;        /* ... so are the layers the decoder counts on the way */
    r->st.esp_packets += k.esp_passed;
    r->st.esp_null += k.esp_passed;
    if (k.alen == 16 && off == 0 && cap_ip6_first_fragment_short(proto, body, blen)) {
        r->st.frag_dropped++;
        return 1;
    }
    const uint8_t *dg;
    uint32_t dglen;
    uint8_t dgproto;
    if (!cap_frag_add(r->frag, &key, off, more, body, blen, proto, ts_us, &dg, &dglen, &dgproto)) return 1;
    /* One IP packet, not fragmented, as link type 101 (raw IP). The frame
     * that completed it is counted by the worker as this one. */
    uint8_t *o = r->out;
    uint32_t n;
    if (k.alen == 4) {
        memset(o, 0, 20);
        o[0] = 0x45;
        uint32_t total = 20 + dglen; /* above 65535: 0, as offload leaves it (the decoder trusts the frame) */
        o[2] = total > 65535 ? 0 : (uint8_t)(total >> 8);
        o[3] = total > 65535 ? 0 : (uint8_t)total;
        o[8] = 64;
        o[9] = dgproto;
        memcpy(o + 12, k.src, 4);
        memcpy(o + 16, k.dst, 4);
        n = 20;
    } else {
        memset(o, 0, 40);
        o[0] = 0x60;
        o[4] = (uint8_t)(dglen >> 8);
        o[5] = (uint8_t)dglen;
        o[6] = dgproto;
        o[7] = 64;
        memcpy(o + 8, k.src, 16);
        memcpy(o + 24, k.dst, 16);
        n = 40;
    }
    if (dgproto == 44) { /* a fragment inside a fragment: hostile */
        r->st.bad_ip++;
        cap_frag_release(r->frag);
        return 1;
    }
    memcpy(o + n, dg, dglen);
    n += dglen;
    cap_frag_release(r->frag);
    /* ... also behind extension headers (an atomic fragment header is walked
     * through): the decoder refuses a fragment header in the datagram it
     * reassembles (bad_ip), as Linux does; the worker, handed the rebuilt
     * packet, would take that one for a first fragment */
    l4_peek in;
    if (k.alen == 16 && peek_ip(o, n, &in) && in.fragment) {
        r->st.bad_ip++;
        return 1;
    }
    r->st.frames--;
    r->st.bytes -= n; /* the worker adds n for the rebuilt frame: caplen in all */
    *out = o;
    *out_len = n;
    *out_path = r->path.n ? &r->path : NULL;
    return 2;
}
