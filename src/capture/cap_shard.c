/*
 * cap_shard.c -- which worker a frame belongs to (fs38 inspect --workers).
 *
 * Owns: a stateless peek through the link and IP headers to the addresses
 * and ports of a frame, and the choice of the client address as the shard
 * key, and the payload a frame carries (a whole UDP datagram, or a TCP
 * segment's data) for the reader's look at new calls (insp.c). Must not
 * touch: decoder state (cap_decode.c does the real decoding, with
 * reassembly), SIP parsing beyond the first bytes of a payload.
 */
#include "cap.h"

#include <string.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static bool is_sip_port(const cap_config *c, uint16_t port) {
    for (unsigned i = 0; i < c->nports; i++)
        if (c->sip_ports[i] == port) return true;
    return false;
}

/* Strip the link layer: returns the IP header and its version (4/6), or NULL. */
static const uint8_t *link_to_ip(int dlt, const uint8_t *f, uint32_t len, uint32_t *rest) {
    uint32_t off;
    uint16_t etype = 0;
    switch (dlt) {
    case 1: /* Ethernet, any number of VLAN tags */
        if (len < 14) return NULL;
        off = 12;
        etype = be16(f + off);
        off += 2;
        while ((etype == 0x8100 || etype == 0x88a8 || etype == 0x9100) && off + 4 <= len) {
            etype = be16(f + off + 2);
            off += 4;
        }
        break;
    case 113: /* Linux SLL */
        if (len < 16) return NULL;
        etype = be16(f + 14);
        off = 16;
        break;
    case 276: /* Linux SLL2 */
        if (len < 20) return NULL;
        etype = be16(f);
        off = 20;
        break;
    case 0:
    case 108: /* BSD loopback: 4-byte family, version is in the IP header */
        off = 4;
        break;
    case 12: case 14: case 101: case 228: case 229:
        off = 0;
        break;
    default:
        return NULL;
    }
    if (etype && etype != 0x0800 && etype != 0x86dd) return NULL;
    if (off >= len) return NULL;
    *rest = len - off;
    return f + off;
}

/* What the peek sees of a frame: addresses, transport, and where it starts. */
typedef struct l4_peek {
    const uint8_t *src, *dst;  /* addresses, alen bytes each */
    size_t alen;
    uint8_t proto;
    bool fragment;             /* an IP fragment: no transport header to trust */
    const uint8_t *l4;         /* transport header, NULL when not in the frame */
    uint32_t l4len;            /* bytes from l4 to the end of the frame */
} l4_peek;

static bool peek_l4(int dlt, const uint8_t *frame, uint32_t caplen, l4_peek *k) {
    uint32_t len;
    const uint8_t *ip = link_to_ip(dlt, frame, caplen, &len);
    if (!ip || len < 1) return false;
    uint32_t l4off = 0;
    memset(k, 0, sizeof *k);
    if ((ip[0] >> 4) == 4) {
        if (len < 20) return false;
        uint32_t total = be16(ip + 2); /* bytes past it are link padding */
        if (total >= 20 && total < len) len = total;
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
        l4off = 40;
        for (int hops = 0; hops < 8 && (k->proto == 0 || k->proto == 43 || k->proto == 60); hops++) {
            if (l4off + 8 > len) return false;
            k->proto = ip[l4off];
            l4off += ((uint32_t)ip[l4off + 1] + 1) * 8;
        }
        k->fragment = k->proto == 44;
    } else {
        return false;
    }
    if (l4off < len) {
        k->l4 = ip + l4off;
        k->l4len = len - l4off;
    }
    return true;
}

/* The payload of the whole UDP datagram k shows, or NULL (fragment, not
 * UDP, cut short by the snap length). */
static const uint8_t *whole_udp(const l4_peek *k, uint32_t *len) {
    if (k->fragment || k->proto != 17 || !k->l4 || k->l4len < 8) return NULL;
    uint32_t ulen = be16(k->l4 + 4); /* header + payload */
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

static uint64_t addr_hash(const uint8_t *ip, uint32_t alen) { return fs_hash_bytes(ip, alen, 0x5348); }

static uint64_t shard_key(const cap_config *c, const l4_peek *k) {
    uint64_t hs = addr_hash(k->src, k->alen), hd = addr_hash(k->dst, k->alen);
    if (k->fragment || (k->proto != 17 && k->proto != 6) || !k->l4 || k->l4len < 4) return hs ^ hd;
    bool udp_payload = k->proto == 17 && k->l4len >= 16;
    return client_key(c, hs, hd, be16(k->l4), be16(k->l4 + 2), udp_payload ? k->l4 + 8 : NULL,
                      udp_payload ? k->l4len - 8 : 0);
}

uint64_t cap_shard_key_hep(const cap_config *c, const cap_hep *h) {
    uint32_t alen = h->src.addr.family == 6 ? 16 : 4;
    return client_key(c, addr_hash(h->src.addr.ip, alen), addr_hash(h->dst.addr.ip, alen), h->src.port,
                      h->dst.port, h->payload, h->payload_len);
}

uint64_t cap_shard_key(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen) {
    return cap_shard_peek(c, dlt, frame, caplen, NULL, NULL);
}

uint64_t cap_shard_peek(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen,
                        const uint8_t **payload, uint32_t *payload_len) {
    l4_peek k;
    if (payload) *payload = NULL;
    if (!peek_l4(dlt, frame, caplen, &k)) return 0;
    if (payload) {
        *payload = whole_udp(&k, payload_len);
        if (!*payload) *payload = tcp_data(&k, payload_len);
    }
    return shard_key(c, &k);
}
