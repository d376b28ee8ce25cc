/*
 * cap_tunnel.c -- encapsulations SIP arrives in on operators' links and
 * mirror ports: MPLS label stacks (with or without an Ethernet pseudowire),
 * PPPoE sessions, GRE (IP, Ethernet, MPLS, ERSPAN types I-III inside;
 * PPTP's enhanced GRE with PPP),
 * IP-in-IP, VXLAN and Geneve (cloud traffic mirroring), GTP-U (VoLTE and
 * VoNR on S1-U, S5/S8 -- home-routed roaming -- and N3/N9), L2TPv2 (PPP from
 * a LAC to an LNS), ESP with NULL encryption (VoLTE's Gm between UE and
 * P-CSCF); and the link layers with no Ethernet header that carriers' and
 * Linux hosts' captures have: PPP and Cisco HDLC on serial and SDH links,
 * Linux NFLOG (packets an iptables rule logged).
 *
 * Owns: reading one encapsulation (or link-layer) header and saying what
 * follows it and where, as an EtherType (CAP_ETH_FRAME for a whole Ethernet frame), and
 * what it was: its kind and id (VNI, TEID, label, key, session) for the
 * events' x-encap.
 * Stateless and shared by the decoder (cap_decode.c) and the sharding peek
 * (cap_shard.c), so both see the same inner packet.
 * Must not touch: decoder state, counters, IP or transport headers.
 *
 * Every function checks the header against the n bytes it is given and
 * returns 0 (not this encapsulation, or cut short) rather than read past.
 */
#include "cap.h"

#define MAX_MPLS_LABELS 16 /* deeper stacks than any real network: refused */
#define MAX_GTP_EXT 16     /* GTP-U extension headers walked through */

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }

/* Says what the opened layer was (when l is not NULL); returns type. */
static uint16_t opened(fs_layer *l, uint8_t kind, bool has_id, uint32_t id, uint16_t type) {
    if (l && type) {
        l->kind = kind;
        l->has_id = has_id;
        l->id = id;
    }
    return type;
}

/* What the first nibble of a packet says it is, or 0. */
static uint16_t ip_by_version(const uint8_t *p, uint32_t n) {
    if (n < 1) return 0;
    if ((p[0] >> 4) == 4) return CAP_ETH_IPV4;
    if ((p[0] >> 4) == 6) return CAP_ETH_IPV6;
    return 0;
}

/* Whether an Ethernet frame of n bytes at p carries a type the decoder
 * reads (IP, a VLAN tag, MPLS, a PPPoE session: a BNG's subscribers carried
 * over a pseudowire or VXLAN): how a frame inside a pseudowire or VXLAN is
 * told from other bytes (SIP text has no byte above 0x7f). */
static bool ethernet_plausible(const uint8_t *p, uint32_t n) {
    if (n < 14) return false;
    uint16_t t = be16(p + 12);
    return t == CAP_ETH_IPV4 || t == CAP_ETH_IPV6 || t == 0x8100 || t == 0x88a8 || t == 0x9100 || t == 0x8847 ||
           t == 0x8848 || t == 0x8864;
}

/* Whether the n bytes at p (a version nibble of 4 or 6) read as an IP
 * packet: an IPv4 header whose lengths fit in them (a frame check sequence
 * or padding may follow), an IPv6 packet that fills them exactly. */
static bool ip_fits(const uint8_t *p, uint32_t n) {
    if ((p[0] >> 4) == 4) {
        uint32_t hl = (uint32_t)(p[0] & 15) * 4, total = n >= 4 ? be16(p + 2) : 0;
        return n >= 20 && hl >= 20 && total >= hl && total <= n;
    }
    return n >= 40 && 40u + be16(p + 4) == n;
}

/* Whether the n bytes at p read as an Ethernet frame of a type the decoder
 * knows, the IP version behind an IP EtherType agreeing. */
static bool ethernet_fits(const uint8_t *p, uint32_t n) {
    if (!ethernet_plausible(p, n)) return false;
    uint16_t t = be16(p + 12);
    if (t == CAP_ETH_IPV4) return n > 14 && (p[14] >> 4) == 4;
    if (t == CAP_ETH_IPV6) return n > 14 && (p[14] >> 4) == 6;
    return true;
}

/* MPLS (RFC 3032): 4-byte entries up to the bottom-of-stack bit. Then IP
 * (by its version nibble) or an Ethernet pseudowire (RFC 4448), with or
 * without its control word (a first nibble of 0, RFC 4385): whichever
 * reading shows an EtherType the decoder knows, the control word first.
 * Without a control word a frame to a MAC address whose first nibble is 4
 * or 6 (many vendors' OUIs: 64:00:f1, 40:55:39, ...) starts like IP: it is
 * read as the frame when its bytes do not read as an IP packet (ip_fits)
 * and do read as a frame (ethernet_fits). */
static uint16_t mpls_inner(const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    uint32_t o = 0;
    for (int i = 0; i < MAX_MPLS_LABELS; i++) {
        if (o + 4 > n) return 0;
        bool bottom = (p[o + 2] & 1) != 0;
        uint32_t label = be24(p + o) >> 4;
        o += 4;
        if (!bottom) continue;
        uint16_t t = ip_by_version(p + o, n - o);
        if (t && !ip_fits(p + o, n - o) && ethernet_fits(p + o, n - o)) {
            *off = o;
            t = CAP_ETH_FRAME;
        } else if (t) {
            *off = o;
        } else if (o + 4 <= n && (p[o] >> 4) == 0 && ethernet_plausible(p + o + 4, n - o - 4)) {
            *off = o + 4;
            t = CAP_ETH_FRAME;
        } else if (ethernet_plausible(p + o, n - o)) {
            *off = o;
            t = CAP_ETH_FRAME;
        }
        return opened(l, FS_L_MPLS, true, label, t);
    }
    return 0;
}

/* PPPoE session stage (RFC 2516): version/type 0x11, code 0, then PPP's
 * protocol field: IPv4 0x0021, IPv6 0x0057. */
static uint16_t pppoe_inner(const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    if (n < 8 || p[0] != 0x11 || p[1] != 0) return 0;
    *off = 8;
    uint16_t ppp = be16(p + 6);
    uint16_t t = ppp == 0x0021 ? CAP_ETH_IPV4 : ppp == 0x0057 ? CAP_ETH_IPV6 : 0;
    return opened(l, FS_L_PPPOE, true, be16(p + 2), t);
}

uint16_t cap_tunnel_ethertype(uint16_t type, const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    switch (type) {
    case 0x8847: case 0x8848: return mpls_inner(p, n, off, l);
    case 0x8864: return pppoe_inner(p, n, off, l);
    default: return 0;
    }
}

/* PPP (RFC 1661) at p + *o: address and control 0xff 0x03 when not
 * compressed away (RFC 1662), the protocol (one byte when compressed):
 * IPv4 0x21, IPv6 0x57, MPLS 0x281, as an EtherType; *o moved past it.
 * 0 for any other protocol (LCP, IPCP: no packets) or when cut short. */
static uint16_t ppp_inner(const uint8_t *p, uint32_t n, uint32_t *o) {
    if (*o + 2 <= n && p[*o] == 0xff && p[*o + 1] == 0x03) *o += 2;
    if (*o >= n) return 0;
    uint16_t proto;
    if (p[*o] & 1) { /* compressed to one byte (PFC): two-byte values start even */
        proto = p[*o];
        *o += 1;
    } else {
        if (*o + 2 > n) return 0;
        proto = be16(p + *o);
        *o += 2;
    }
    return proto == 0x21 ? CAP_ETH_IPV4 : proto == 0x57 ? CAP_ETH_IPV6 : proto == 0x281 ? 0x8847 : 0;
}

/* Enhanced GRE (RFC 2637, PPTP): version 1, the key (payload length, call
 * id) always there, optional sequence and acknowledgement numbers, then a
 * PPP frame (protocol 0x880b). x-encap names the call id. */
static uint16_t gre_pptp_inner(const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    uint16_t flags = be16(p);
    if (be16(p + 2) != 0x880b || (flags & 0xef78) != 0x2000) return 0; /* K set; no C, R, s, recursion, flags */
    uint32_t o = 8 + ((flags & 0x1000) ? 4 : 0) + ((flags & 0x0080) ? 4 : 0);
    if (o > n || be16(p + 4) == 0) return 0; /* an acknowledgement alone */
    uint16_t t = ppp_inner(p, n, &o);
    *off = o;
    return opened(l, FS_L_GRE, true, be16(p + 6), t);
}

/* GRE (RFC 2784/2890), version 0: optional checksum, key and sequence
 * words, then the payload's EtherType. ERSPAN type II (0x88be, with a
 * sequence number) has an 8-byte header before the mirrored frame, type I
 * (0x88be without one) none; type III (0x22eb) 12 bytes, 20 with its
 * platform subheader (O bit). */
static uint16_t gre_inner(const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    if (n < 4) return 0;
    uint16_t flags = be16(p), type = be16(p + 2);
    if ((flags & 7) == 1 && n >= 8) return gre_pptp_inner(p, n, off, l);
    if ((flags & 7) != 0 || (flags & 0x4000)) return 0; /* another version, routing: not here */
    uint32_t key_at = 4 + ((flags & 0x8000) ? 4 : 0);
    uint32_t o = key_at + ((flags & 0x2000) ? 4 : 0) + ((flags & 0x1000) ? 4 : 0);
    if (o > n) return 0;
    bool keyed = (flags & 0x2000) != 0;
    uint32_t key = keyed ? (uint32_t)be16(p + key_at) << 16 | be16(p + key_at + 2) : 0;
    switch (type) {
    case CAP_ETH_IPV4:
    case CAP_ETH_IPV6:
    case CAP_ETH_FRAME:
    case 0x8847:
        *off = o;
        return opened(l, FS_L_GRE, keyed, key, type);
    case 0x88be: /* type II (sequenced): version, VLAN, COS, En, T, then the 10-bit session id */
        if (!(flags & 0x1000)) {
            *off = o;
            return opened(l, FS_L_ERSPAN, false, 0, CAP_ETH_FRAME);
        }
        if (o + 8 > n) return 0;
        *off = o + 8;
        return opened(l, FS_L_ERSPAN, true, be16(p + o + 2) & 0x3ffu, CAP_ETH_FRAME);
    case 0x22eb:
        if (o + 12 > n) return 0;
        *off = o + 12 + ((p[o + 11] & 1) ? 8 : 0);
        return *off <= n ? opened(l, FS_L_ERSPAN, true, be16(p + o + 2) & 0x3ffu, CAP_ETH_FRAME) : 0;
    default:
        return 0;
    }
}

uint16_t cap_tunnel_ipproto(uint8_t proto, const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    switch (proto) {
    case 4: *off = 0; return opened(l, FS_L_IPIP, false, 0, CAP_ETH_IPV4);  /* IP in IP (RFC 2003) */
    case 41: *off = 0; return opened(l, FS_L_IPIP, false, 0, CAP_ETH_IPV6); /* IPv6 in IP (RFC 4213, 2473) */
    case 47: return gre_inner(p, n, off, l);
    default: return 0;
    }
}

/* GTP-U (3GPP TS 29.281) version 1, a G-PDU (type 255): 8 bytes, 12 when
 * any of E, S, PN is set, then, with E, the chain of extension headers
 * (length in 4-byte units, next type in the last byte; 5G's PDU session
 * container is one), then the user's IP packet. Without E the next type
 * byte is not read (5.1: it "shall not be interpreted"). Its length field bounds the packet. SIP
 * text cannot look like it (the first byte would be '0'-'7'). */
static uint16_t gtpu_inner(const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    if (n < 8 || (p[0] >> 5) != 1 || !(p[0] & 0x10) || p[1] != 0xff) return 0;
    uint32_t end = 8u + be16(p + 2), o = 8;
    if (end > n) return 0;
    if (p[0] & 0x07) {
        if (end < 12) return 0;
        uint8_t next = (p[0] & 0x04) ? p[11] : 0;
        o = 12;
        for (int i = 0; next && i < MAX_GTP_EXT; i++) {
            if (o >= end || p[o] == 0 || o + (uint32_t)p[o] * 4 > end) return 0;
            o += (uint32_t)p[o] * 4;
            next = p[o - 1];
        }
        if (next) return 0;
    }
    uint16_t t = ip_by_version(p + o, end - o);
    if (t) *off = o;
    return opened(l, FS_L_GTPU, true, (uint32_t)be16(p + 4) << 16 | be16(p + 6), t);
}

/* L2TPv2 (RFC 2661) to or from 1701 (cap_tunnel_udp_port), a data message (T = 0) of version 2: the
 * optional length, tunnel and session ids, optional Ns/Nr, optional offset
 * (and its padding), then PPP (RFC 1661): address and control 0xff 0x03 when
 * not compressed away, the protocol (one byte when compressed): IPv4 0x21,
 * IPv6 0x57. Broadband (LAC to LNS) and some mobile backhaul carry it. */
static uint16_t l2tp_inner(const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    if (n < 6) return 0;
    uint16_t flags = be16(p);
    if ((flags & 0x8000) || (flags & 0x0f) != 2) return 0; /* control message, or not version 2 */
    uint32_t o = 2 + ((flags & 0x4000) ? 2 : 0);
    if (o + 4 > n) return 0;
    uint32_t id = (uint32_t)be16(p + o) << 16 | be16(p + o + 2);
    o += 4 + ((flags & 0x0800) ? 4 : 0);
    if (flags & 0x0200) {
        if (o + 2 > n) return 0;
        o += 2 + be16(p + o);
    }
    uint16_t t = ppp_inner(p, n, &o);
    *off = o;
    return opened(l, FS_L_L2TP, true, id, t);
}

/* VXLAN (RFC 7348) on 4789: the I flag (reserved bits are ignored on
 * receipt), then an Ethernet frame with a type the decoder reads -- so a
 * SIP request sent to that port ("OPTIONS" has the I bit) is still SIP.
 * Geneve (RFC 8926) on 6081: version 0 (SIP text starts with a capital,
 * version 1), options of 4 x its length field, then the protocol type's
 * payload. */
uint16_t cap_tunnel_udp(uint16_t dport, const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l) {
    if (dport == CAP_PORT_VXLAN) {
        if (n < 8 || !(p[0] & 0x08) || !ethernet_plausible(p + 8, n - 8)) return 0;
        *off = 8;
        return opened(l, FS_L_VXLAN, true, be24(p + 4), CAP_ETH_FRAME);
    }
    if (dport == CAP_PORT_GTPU) return gtpu_inner(p, n, off, l);
    if (dport == CAP_PORT_L2TP) return l2tp_inner(p, n, off, l);
    if (dport == CAP_PORT_GENEVE) {
        if (n < 8 || (p[0] >> 6) != 0) return 0;
        uint32_t o = 8 + (uint32_t)(p[0] & 0x3f) * 4;
        uint16_t type = be16(p + 2);
        if (o > n || (type != CAP_ETH_FRAME && type != CAP_ETH_IPV4 && type != CAP_ETH_IPV6)) return 0;
        *off = o;
        return opened(l, FS_L_GENEVE, true, be24(p + 4), type);
    }
    return 0;
}

/* ---- ESP with NULL encryption ------------------------------------------------- */

uint32_t cap_csum_add(uint32_t sum, const uint8_t *p, uint32_t n) {
    for (; n >= 2; p += 2, n -= 2) sum += be16(p);
    if (n) sum += (uint32_t)p[0] << 8;
    return sum;
}
uint16_t cap_csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* Whether the UDP or TCP segment at p (n bytes, proto 17 or 6) carries a
 * correct checksum over the pseudo-header of src/dst (alen 4 or 16 bytes). */
static bool l4_checksum_ok(const uint8_t *src, const uint8_t *dst, uint32_t alen, uint8_t proto,
                           const uint8_t *p, uint32_t n) {
    uint32_t sum = cap_csum_add(cap_csum_add(0, src, alen), dst, alen);
    sum += proto + (n & 0xffff) + (n >> 16);
    return cap_csum_fold(cap_csum_add(sum, p, n)) == 0xffff;
}

/* An IPv4 header at p (n bytes) with a correct header checksum and a total
 * length of exactly n. */
static bool ip4_header_ok(const uint8_t *p, uint32_t n) {
    if (n < 20 || (p[0] >> 4) != 4) return false;
    uint32_t hl = (uint32_t)(p[0] & 15) * 4;
    return hl >= 20 && hl <= n && be16(p + 2) == n && cap_csum_fold(cap_csum_add(0, p, hl)) == 0xffff;
}

/* RFC 4303 with NULL encryption (RFC 2410), as VoLTE's Gm between the UE
 * and the P-CSCF often runs it (3GPP TS 33.203: integrity only): SPI,
 * sequence number, the packet in clear, padding (1, 2, 3, ...), its length,
 * the next header, then the integrity check value -- 12 bytes for
 * HMAC-SHA-1-96 and HMAC-MD5-96, 16 for HMAC-SHA-256-128. Nothing says
 * the payload is not encrypted, so each ICV length is tried and the reading
 * kept only if what it gives checks out as a whole: a next header of
 * UDP/TCP with a correct checksum over the outer addresses (a UDP checksum
 * of 0, allowed over IPv4, only with a SIP start line behind it), an IPv4
 * packet with a correct header checksum, or an IPv6 packet of exactly the
 * length left. Encrypted payload passes this about once in 10^9 packets. */
uint8_t cap_esp_open(const uint8_t *src, const uint8_t *dst, uint32_t alen, const uint8_t *p, uint32_t n,
                     uint32_t *len, fs_layer *l) {
    static const uint32_t icv_lengths[] = {12, 16};
    for (unsigned i = 0; i < sizeof icv_lengths / sizeof *icv_lengths; i++) {
        uint32_t icv = icv_lengths[i];
        if (n < 8 + 2 + icv || !(p[0] | p[1] | p[2] | p[3])) continue; /* SPI 0: reserved (NAT-T's non-ESP marker) */
        uint32_t t = n - icv - 2;
        uint32_t pad = p[t];
        uint8_t next = p[t + 1];
        if (pad > t - 8) continue;
        bool padding_ok = true;
        for (uint32_t k = 0; k < pad && padding_ok; k++) padding_ok = p[t - pad + k] == k + 1;
        if (!padding_ok) continue;
        const uint8_t *in = p + 8;
        uint32_t m = t - pad - 8;
        bool ok = false;
        if (next == 17 && m >= 8 && be16(in + 4) == m)
            ok = be16(in + 6) ? l4_checksum_ok(src, dst, alen, 17, in, m)
                              : alen == 4 && cap_sip_start_line(in + 8, m - 8) == 1;
        else if (next == 6 && m >= 20)
            ok = l4_checksum_ok(src, dst, alen, 6, in, m);
        else if (next == 4)
            ok = ip4_header_ok(in, m);
        else if (next == 41)
            ok = m >= 40 && (in[0] >> 4) == 6 && 40u + be16(in + 4) == m;
        if (!ok) continue;
        *len = m;
        if (l) {
            l->kind = FS_L_ESP;
            l->has_id = true;
            l->id = (uint32_t)be16(p) << 16 | be16(p + 2);
        }
        return next;
    }
    return 0;
}

/* ---- link layers (cap_link_inner) ----------------------------------------- */

/* Cisco HDLC: address 0x0f (unicast) or 0x8f (broadcast), control 0, then
 * an EtherType (SLARP keepalives 0x8035 and CDP are not packets). */
static uint16_t chdlc_inner(const uint8_t *p, uint32_t n, uint32_t *off) {
    if (n < 4 || (p[0] != 0x0f && p[0] != 0x8f) || p[1] != 0) return 0;
    *off = 4;
    uint16_t t = be16(p + 2);
    return t == 0x8035 || t == 0x2000 ? 0 : t;
}

/* Linux NFLOG (tcpdump -i nflog:N): a 4-byte header (address family 2 or
 * 10, version 0, resource id), then TLVs of a length (its 4-byte header
 * included, padded to 4) and a type, both in the byte order of the host
 * that captured (libpcap turns them to the reader's); the packet is the
 * payload TLV (type 9), an IP packet of the header's family. */
#define NFLOG_PAYLOAD 9
#define NFLOG_MAX_TLVS 64
static uint16_t nflog_inner(const uint8_t *p, uint32_t n, uint32_t *off, uint32_t *len) {
    if (n < 4 || p[1] != 0 || (p[0] != 2 && p[0] != 10)) return 0;
    uint32_t o = 4;
    for (int i = 0; i < NFLOG_MAX_TLVS && o + 4 <= n; i++) {
        uint16_t tlen, type;
        memcpy(&tlen, p + o, 2);
        memcpy(&type, p + o + 2, 2);
        if (tlen < 4 || tlen > n - o) return 0;
        if (type == NFLOG_PAYLOAD) {
            *off = o + 4;
            *len = tlen - 4u;
            return p[0] == 2 ? CAP_ETH_IPV4 : CAP_ETH_IPV6;
        }
        o += ((uint32_t)tlen + 3) & ~3u;
    }
    return 0;
}

bool cap_link_known(int dlt) {
    return dlt == CAP_DLT_PPP || dlt == CAP_DLT_PPP_SERIAL || dlt == CAP_DLT_C_HDLC || dlt == CAP_DLT_NFLOG;
}

uint16_t cap_link_inner(int dlt, const uint8_t *p, uint32_t n, uint32_t *off, uint32_t *len) {
    uint32_t o = 0;
    uint16_t t = 0;
    switch (dlt) {
    case CAP_DLT_NFLOG:
        return nflog_inner(p, n, off, len);
    case CAP_DLT_C_HDLC:
        t = chdlc_inner(p, n, &o);
        break;
    case CAP_DLT_PPP_SERIAL: /* PPP in HDLC framing, or Cisco HDLC on the same links */
        t = n >= 1 && (p[0] == 0x0f || p[0] == 0x8f) ? chdlc_inner(p, n, &o) : ppp_inner(p, n, &o);
        break;
    case CAP_DLT_PPP:
        t = ppp_inner(p, n, &o);
        break;
    default:
        return 0;
    }
    if (!t) return 0;
    *off = o;
    *len = n - o;
    return t;
}
