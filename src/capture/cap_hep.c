/*
 * cap_hep.c -- the HEP (Homer encapsulation protocol) wire format, v3 and
 * the older v1/v2.
 *
 * Owns: cap_hep_parse, which validates a HEP v3 packet and fills a cap_hep
 * with slices into the caller's buffer; cap_hep_parse_datagram, which reads
 * HEP v1/v2 too; cap_hep_inflate, which opens a compressed payload into a
 * buffer of the caller's cap_hep_inflater.
 * Must not touch: counters, emission, sockets (cap_decode.c and the CLI).
 *
 * Layout: "HEP3", u16 total length (the whole packet, header included), then
 * chunks of {u16 vendor, u16 type, u16 length incl. this 6-byte header,
 * value}. All big-endian. Chunk types used (vendor 0 only): 0x01 IP family,
 * 0x02 IP protocol, 0x03/0x04 IPv4 src/dst, 0x05/0x06 IPv6 src/dst,
 * 0x07/0x08 ports, 0x09/0x0a timestamp seconds/microseconds, 0x0b protocol
 * type, 0x0c capture id, 0x0e auth key, 0x0f payload, 0x10 compressed payload
 * (zlib, as captagent's compress(), or gzip; 0x0f wins when both are there).
 * Unknown chunks and other vendors' chunks are skipped by length. Source and destination
 * addresses, of one family, and the payload are required. Every length is
 * checked before it is used; a malformed packet is an FS_ERR_FORMAT that
 * says which chunk broke, and a datagram that is not HEP v3 one that says
 * what it is (plain SIP, say). The bytes after the total length are
 * not looked at here (a datagram may hold several packets: cap_decode.c).
 * HEP v1 and v2, which carry no length, are read as a whole UDP datagram
 * (cap_hep_parse_datagram), not on a stream.
 */
#include "cap.h"

#include <stdlib.h>
#include <zlib.h>

#define HEP_HDR 6
#define HEP_CHUNK_HDR 6

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* The IP version an IP family value names: 4, 6, or 0 for none. Senders
 * write their own system's AF_INET6 (Kamailio, OpenSIPS, captagent copy
 * sa_family): 10 on Linux, 28 on FreeBSD, 30 on macOS, 24 on NetBSD and
 * OpenBSD, 26 on Solaris, 23 on Windows. AF_INET is 2 on all of them. */
static uint8_t ip_version_of_family(unsigned family) {
    switch (family) {
    case 2: return 4;
    case 10: case 23: case 24: case 26: case 28: case 30: return 6;
    default: return 0;
    }
}
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A fixed-size chunk value: its length must be exactly `want`. */
static fs_code need_len(uint16_t type, uint32_t have, uint32_t want, size_t at, fs_err *e) {
    if (have == want) return FS_OK;
    return fs_fail(e, FS_ERR_FORMAT, "HEP: chunk type 0x%02x at offset %zu has %u value bytes, want %u",
                   type, at, have, want);
}

static fs_code take_chunk(cap_hep *out, uint16_t type, const uint8_t *v, uint32_t n, size_t at,
                          uint8_t *family, uint32_t *ts_s, uint32_t *ts_us, bool *have_ts,
                          fs_err *e) {
    fs_code rc = FS_OK;
    switch (type) {
    case 0x01: /* IP family: 2 = AF_INET, 10 = AF_INET6 (other systems: ip_version_of_family) */
        if ((rc = need_len(type, n, 1, at, e)) == FS_OK) *family = v[0];
        break;
    case 0x02:
        if ((rc = need_len(type, n, 1, at, e)) == FS_OK) out->ip_proto = v[0];
        break;
    case 0x03:
    case 0x04:
        if ((rc = need_len(type, n, 4, at, e)) == FS_OK) {
            fs_addr *a = type == 0x03 ? &out->src.addr : &out->dst.addr;
            memset(a, 0, sizeof *a);
            a->family = 4;
            memcpy(a->ip, v, 4);
        }
        break;
    case 0x05:
    case 0x06:
        if ((rc = need_len(type, n, 16, at, e)) == FS_OK) {
            fs_addr *a = type == 0x05 ? &out->src.addr : &out->dst.addr;
            a->family = 6;
            memcpy(a->ip, v, 16);
        }
        break;
    case 0x07:
    case 0x08:
        if ((rc = need_len(type, n, 2, at, e)) == FS_OK)
            (type == 0x07 ? &out->src : &out->dst)->port = be16(v);
        break;
    case 0x09:
        if ((rc = need_len(type, n, 4, at, e)) == FS_OK) {
            *ts_s = be32(v);
            *have_ts = true;
        }
        break;
    case 0x0a:
        if ((rc = need_len(type, n, 4, at, e)) == FS_OK) *ts_us = be32(v);
        break;
    case 0x0b:
        if ((rc = need_len(type, n, 1, at, e)) == FS_OK) out->proto_type = v[0];
        break;
    case 0x0c:
        if ((rc = need_len(type, n, 4, at, e)) == FS_OK) out->capture_id = be32(v);
        break;
    case 0x0e: /* auth key (capture.hep_auth_key) */
        out->auth_key = v;
        out->auth_key_len = (uint16_t)n;
        break;
    case 0x0f:
        out->payload = v;
        out->payload_len = n;
        out->compressed = false;
        break;
    case 0x10: /* compressed: read only without a plain one */
        if (!out->payload) {
            out->payload = v;
            out->payload_len = n;
            out->compressed = true;
        }
        break;
    default: /* correlation id, vlan, node name ...: not needed */
        break;
    }
    return rc;
}

/* What bytes without the HEP3 magic are, for the error: HEP v1/v2 where
 * they cannot be read (after a packet, or on a TCP stream: nothing says
 * where such a packet ends), or a sender not encapsulating at all. */
static fs_code not_hep3(const uint8_t *buf, size_t len, fs_err *e) {
    if (len >= 1 && (buf[0] == 1 || buf[0] == 2))
        return fs_fail(e, FS_ERR_FORMAT, "HEP v%u: read only as a whole UDP datagram (a v1/v2 packet carries "
                       "no length): over TCP set hep_version 3 in the sender", buf[0]);
    if (cap_sip_start_line(buf, len) == 1)
        return fs_fail(e, FS_ERR_FORMAT, "HEP: a plain SIP message, not HEP (the sender does not "
                       "encapsulate: Kamailio siptrace needs hep_mode_on 1)");
    return fs_fail(e, FS_ERR_FORMAT, "HEP: %s", len < HEP_HDR ? "packet shorter than the 6-byte header"
                                                              : "no \"HEP3\" magic");
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* HEP v1 and v2 (Kamailio siptrace's hep_version 1 -- its default -- and 2;
 * sngrep, captagent): {u8 version, u8 header length, u8 family (2 or 10),
 * u8 IP protocol, u16 source port, u16 destination port} big-endian, then
 * the two addresses (8 bytes IPv4, 32 IPv6), the header length counting
 * both. v2 goes on with {u32 seconds, u32 microseconds, u16 capture id}
 * padded to 12 bytes in the sender's byte order: little-endian from
 * Kamailio (to_le) and from the others on x86, so read as such. Then the
 * SIP message, to the end of the datagram. */
static fs_code parse_v12(const uint8_t *buf, size_t len, cap_hep *out, fs_err *e) {
    unsigned version = buf[0];
    if (len < 8) return fs_fail(e, FS_ERR_FORMAT, "HEP v%u: %zu bytes, shorter than its 8-byte header", version, len);
    unsigned hl = buf[1], family = buf[2];
    uint8_t af = ip_version_of_family(family);
    size_t want = af == 4 ? 16 : af == 6 ? 40 : 0;
    if (!want) return fs_fail(e, FS_ERR_FORMAT, "HEP v%u: unknown IP family %u", version, family);
    if (hl != want)
        return fs_fail(e, FS_ERR_FORMAT, "HEP v%u: header length %u, want %zu for IPv%u", version, hl, want, af);
    size_t start = want + (version == 2 ? 12 : 0);
    if (len <= start)
        return fs_fail(e, FS_ERR_FORMAT, "HEP v%u: %zu bytes, no payload after its %zu-byte header", version, len,
                       start);
    out->version = (uint8_t)version;
    out->ip_proto = buf[3];
    out->proto_type = 1; /* v1/v2 carry SIP only */
    out->src.port = be16(buf + 4);
    out->dst.port = be16(buf + 6);
    uint8_t n = af == 4 ? 4 : 16;
    out->src.addr.family = out->dst.addr.family = af;
    memcpy(out->src.addr.ip, buf + 8, n);
    memcpy(out->dst.addr.ip, buf + 8 + n, n);
    if (version == 2) {
        const uint8_t *t = buf + want;
        uint32_t sec = le32(t), usec = le32(t + 4);
        if (usec >= FS_USEC)
            return fs_fail(e, FS_ERR_FORMAT, "HEP v2: timestamp microseconds %u >= 1000000", usec);
        if (sec || usec) out->ts_us = (uint64_t)sec * FS_USEC + usec;
        out->capture_id = (uint32_t)(t[8] | t[9] << 8);
    }
    out->payload = buf + start;
    out->payload_len = (uint32_t)(len - start);
    out->total = (uint32_t)len;
    return FS_OK;
}

fs_code cap_hep_parse_datagram(const uint8_t *buf, size_t len, cap_hep *out, fs_err *e) {
    if (buf && len >= 1 && (buf[0] == 1 || buf[0] == 2)) {
        memset(out, 0, sizeof *out);
        return parse_v12(buf, len, out, e);
    }
    return cap_hep_parse(buf, len, out, e);
}

fs_code cap_hep_parse(const uint8_t *buf, size_t len, cap_hep *out, fs_err *e) {
    memset(out, 0, sizeof *out);
    if (!buf) return fs_fail(e, FS_ERR_FORMAT, "HEP: no packet");
    if (len < HEP_HDR || memcmp(buf, "HEP3", 4) != 0) return not_hep3(buf, len, e);
    size_t total = be16(buf + 4);
    if (total < HEP_HDR || total > len)
        return fs_fail(e, FS_ERR_FORMAT, "HEP: total length %zu does not fit the %zu bytes received",
                       total, len);
    uint8_t family = 0;
    uint32_t ts_s = 0, ts_us = 0;
    bool have_ts = false;
    size_t pos = HEP_HDR;
    while (pos < total) {
        if (total - pos < HEP_CHUNK_HDR)
            return fs_fail(e, FS_ERR_FORMAT, "HEP: %zu stray bytes at offset %zu (no room for a chunk header)",
                           total - pos, pos);
        uint16_t vendor = be16(buf + pos), type = be16(buf + pos + 2), clen = be16(buf + pos + 4);
        if (clen < HEP_CHUNK_HDR)
            return fs_fail(e, FS_ERR_FORMAT, "HEP: chunk type 0x%02x at offset %zu has length %u (< 6)",
                           type, pos, clen);
        if (clen > total - pos)
            return fs_fail(e, FS_ERR_FORMAT, "HEP: chunk type 0x%02x at offset %zu has length %u, past the end (%zu)",
                           type, pos, clen, total);
        if (vendor == 0) {
            fs_code rc = take_chunk(out, type, buf + pos + HEP_CHUNK_HDR, clen - HEP_CHUNK_HDR, pos,
                                    &family, &ts_s, &ts_us, &have_ts, e);
            if (rc != FS_OK) return rc;
        }
        pos += clen;
    }
    uint8_t want = ip_version_of_family(family);
    if (family != 0 && !want) return fs_fail(e, FS_ERR_FORMAT, "HEP: unknown IP family %u", family);
    if (want && ((out->src.addr.family && out->src.addr.family != want) ||
                 (out->dst.addr.family && out->dst.addr.family != want)))
        return fs_fail(e, FS_ERR_FORMAT, "HEP: addresses do not match IP family %u", family);
    if (!out->src.addr.family || !out->dst.addr.family)
        return fs_fail(e, FS_ERR_FORMAT, "HEP: no %s address chunk (types 0x03-0x06)",
                       out->src.addr.family ? "destination" : "source");
    if (out->src.addr.family != out->dst.addr.family)
        return fs_fail(e, FS_ERR_FORMAT, "HEP: source and destination addresses of different families");
    if (!out->payload) return fs_fail(e, FS_ERR_FORMAT, "HEP: no payload chunk (type 0x0f or 0x10)");
    if (ts_us >= FS_USEC) return fs_fail(e, FS_ERR_FORMAT, "HEP: timestamp microseconds %u >= 1000000", ts_us);
    if (have_ts) out->ts_us = (uint64_t)ts_s * FS_USEC + ts_us;
    out->version = 3;
    out->total = (uint32_t)total;
    return FS_OK;
}

/* ---- compressed payloads (chunk 0x10) -------------------------------------- */

struct cap_hep_inflater {
    z_stream z;
    uint8_t out[CAP_HEP_MAX_INFLATED];
};

cap_hep_inflater *cap_hep_inflater_new(void) {
    cap_hep_inflater *x = calloc(1, sizeof *x);
    if (x && inflateInit2(&x->z, 15 + 32) != Z_OK) { /* 15 + 32: a zlib or a gzip header */
        free(x);
        return NULL;
    }
    return x;
}

void cap_hep_inflater_free(cap_hep_inflater *x) {
    if (!x) return;
    inflateEnd(&x->z);
    free(x);
}

size_t cap_hep_inflater_memory(const cap_hep_inflater *x) {
    return x ? sizeof *x + 7u * 1024 + 32u * 1024 : 0; /* zlib's state and its 32 KiB window */
}

/* zlib keeps its state and window from one packet to the next
 * (inflateReset): nothing is allocated per packet. */
fs_code cap_hep_inflate(cap_hep_inflater *x, cap_hep *h, fs_err *e) {
    if (!h->compressed) return FS_OK;
    z_stream *z = &x->z;
    if (inflateReset(z) != Z_OK) return fs_fail(e, FS_ERR_NOMEM, "HEP: the inflater could not be reset");
    z->next_in = (Bytef *)(uintptr_t)h->payload;
    z->avail_in = h->payload_len;
    z->next_out = x->out;
    z->avail_out = sizeof x->out;
    int rc = inflate(z, Z_FINISH);
    if (rc == Z_STREAM_END && z->avail_in == 0) {
        h->payload = x->out;
        h->payload_len = (uint32_t)z->total_out;
        h->compressed = false;
        return FS_OK;
    }
    if (rc == Z_STREAM_END)
        return fs_fail(e, FS_ERR_FORMAT, "HEP: %u bytes after the compressed payload's end (chunk 0x10)",
                       z->avail_in);
    if (rc == Z_BUF_ERROR && z->avail_out == 0)
        return fs_fail(e, FS_ERR_LIMIT, "HEP: the compressed payload (chunk 0x10) inflates past %u bytes",
                       (unsigned)sizeof x->out);
    if (rc == Z_BUF_ERROR)
        return fs_fail(e, FS_ERR_FORMAT, "HEP: the compressed payload (chunk 0x10) ends early");
    return fs_fail(e, FS_ERR_FORMAT, "HEP: the compressed payload (chunk 0x10) is not zlib or gzip data: %s",
                   z->msg ? z->msg : "corrupt");
}
