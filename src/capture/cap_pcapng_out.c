/*
 * cap_pcapng_out.c -- SIP messages written back out as a pcapng file.
 *
 * `fs38 inspect --pcap-out FILE` keeps the messages behind the incidents it
 * reports, for Wireshark, sngrep or a partner. A message may have come in
 * pieces (TCP segments, IP fragments), inside a tunnel, over HEP or
 * encrypted (TLS with keys): what is kept is the message itself, so each one
 * is written as one synthetic frame -- Ethernet, IPv4 or IPv6 with its real
 * addresses, then UDP, TCP or SCTP with its real ports -- at its capture
 * time. TCP segments carry sequence numbers that grow per flow, so Wireshark
 * reads them as one stream and dissects each message. Each frame carries
 * pcapng comments (Wireshark's `frame.comment`): what the caller passes (the
 * incidents) and, when the frame's transport is not the one the message came
 * over, a note saying so. libpcap writes only the pcap format, which has no
 * comments: hence this writer.
 *
 * Owns: the block layout (Section Header, one Ethernet Interface
 * Description, an Enhanced Packet Block per message), the frame headers and
 * their checksums, and a bounded table of TCP flows (next sequence number).
 * Must not touch: the FILE's lifetime (the caller opens and closes it),
 * deciding which messages to keep (det_engine_set_evidence), printing.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "cap.h"

#define OUT_FLOWS 4096            /* TCP flows whose sequence number is kept */
#define ETH_LEN 14
#define COMMENT_MAX 512           /* bytes of one comment kept */
#define COMMENTS_MAX CAP_PNG_OUT_MAX_COMMENTS /* comments of one frame kept (the caller's and 3 notes) */
#define FRAME_MAX (ETH_LEN + 40 + 28 + CAP_PNG_OUT_MAX_PAYLOAD + 3)
/* an Enhanced Packet Block: header, frame padded, options, end of options, length */
#define BLOCK_MAX (28 + FRAME_MAX + COMMENTS_MAX * (4 + COMMENT_MAX) + 4 + 4)

typedef struct out_flow {
    uint64_t key;
    uint32_t next_seq;
} out_flow;

struct cap_png_out {
    FILE *f;
    uint32_t ip_id;               /* IPv4 identification, one per frame */
    uint32_t seq_base;            /* start of a flow new to the table: above every sequence used */
    uint32_t tsn;                 /* SCTP TSN, one per frame */
    uint64_t frames;
    off_t end;                    /* where the last whole block ends; -1: unknown (a pipe) */
    bool stuck;                   /* a block was cut short where it cannot be taken back */
    out_flow flows[OUT_FLOWS];
    uint8_t block[BLOCK_MAX];     /* the block being written, its frame at block + 28 */
};

/* ---- checksums ---------------------------------------------------------------- */

/* The checksum to write over a sum (cap_csum_add). */
static uint16_t checksum(uint32_t sum) { return (uint16_t)~cap_csum_fold(sum); }

/* RFC 4960 appendix B: CRC-32c, reflected, bit by bit (one frame per
 * evidence message: not a hot path). */
static uint32_t crc32c(const uint8_t *p, size_t n) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = crc >> 1 ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

/* ---- blocks ------------------------------------------------------------------- */

static bool write_all(cap_png_out *o, const void *p, size_t n) { return fwrite(p, 1, n, o->f) == n; }

/* One block, whole or not at all: a reader takes a block's first bytes as
 * its length, so one cut short (a full disk) would make every later block
 * unreadable -- tshark stopped at it with "damaged or corrupt", and the
 * messages written once space came back were lost. The stream is
 * unbuffered (cap_png_out_new): the block is one write(2), and the bytes of
 * one written in part are taken back. Where they cannot be (a pipe),
 * nothing more is written. */
static bool write_block(cap_png_out *o, const uint8_t *b, size_t n, fs_err *e) {
    if (o->stuck) {
        fs_fail(e, FS_ERR_IO, "cannot write: an earlier frame was cut short where it cannot be taken back");
        return false;
    }
    if (fwrite(b, 1, n, o->f) == n) {
        if (o->end >= 0) o->end += (off_t)n;
        return true;
    }
    int err = errno;
    clearerr(o->f);
    int fd = fileno(o->f);
    off_t at = ftello(o->f);
    if (o->end < 0 || (at != o->end && (fd < 0 || ftruncate(fd, o->end) != 0 || fseeko(o->f, o->end, SEEK_SET) != 0)))
        o->stuck = true;
    fs_fail(e, FS_ERR_IO, "cannot write: %s", strerror(err));
    return false;
}

static bool write_u32(cap_png_out *o, uint32_t v) { return write_all(o, &v, 4); }

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* An option: code, length, value padded to 4 bytes. */
static bool write_option(cap_png_out *o, uint16_t code, const void *v, size_t n) {
    static const uint8_t zeros[4];
    uint16_t hdr[2] = {code, (uint16_t)n};
    return write_all(o, hdr, 4) && write_all(o, v, n) && write_all(o, zeros, pad4(n) - n);
}

static size_t option_bytes(size_t n) { return 4 + pad4(n); }

static bool write_header_blocks(cap_png_out *o, const char *app) {
    size_t app_len = strnlen(app, 256);
    /* Section Header: byte-order magic, version 1.0, section length unknown,
     * shb_userappl, end of options */
    uint32_t shb_len = (uint32_t)(28 + option_bytes(app_len) + 4);
    uint64_t unknown = UINT64_MAX;
    uint16_t version[2] = {1, 0};
    bool ok = write_u32(o, 0x0A0D0D0Au) && write_u32(o, shb_len) && write_u32(o, 0x1A2B3C4Du) &&
              write_all(o, version, 4) && write_all(o, &unknown, 8) && write_option(o, 4, app, app_len) &&
              write_u32(o, 0) && write_u32(o, shb_len);
    /* Interface Description: Ethernet, no snapshot limit, microseconds */
    uint16_t link[2] = {1 /* LINKTYPE_ETHERNET */, 0};
    return ok && write_u32(o, 1) && write_u32(o, 20) && write_all(o, link, 4) && write_u32(o, 0) &&
           write_u32(o, 20);
}

cap_png_out *cap_png_out_new(FILE *f, const char *app, fs_err *e) {
    cap_png_out *o = calloc(1, sizeof *o);
    if (!o) {
        fs_fail(e, FS_ERR_NOMEM, "pcapng output: out of memory");
        return NULL;
    }
    o->f = f;
    o->ip_id = 1;
    o->seq_base = 1;
    o->tsn = 1;
    setvbuf(f, NULL, _IONBF, 0); /* each block one write(2): write_block */
    if (!write_header_blocks(o, app)) {
        fs_fail(e, FS_ERR_IO, "pcapng output: cannot write: %s", strerror(errno));
        free(o);
        return NULL;
    }
    o->end = ftello(f);
    return o;
}

void cap_png_out_free(cap_png_out *o) { free(o); }

uint64_t cap_png_out_frames(const cap_png_out *o) { return o->frames; }

/* ---- frames ------------------------------------------------------------------- */

static uint64_t flow_key(const cap_payload *p) {
    uint8_t k[2 * 19];
    memcpy(k, p->src.addr.ip, 16);
    put16(k + 16, p->src.port);
    k[18] = p->src.addr.family;
    memcpy(k + 19, p->dst.addr.ip, 16);
    put16(k + 35, p->dst.port);
    k[37] = p->dst.addr.family;
    uint64_t key = fs_hash_bytes(k, sizeof k, 0x38);
    return key ? key : 1;
}

/* The sequence number of a TCP segment of n bytes: where the flow's last one
 * ended; a flow new to the table (or evicted from it) starts above every
 * number used so far, so no segment ever looks like a retransmission. */
static uint32_t tcp_seq(cap_png_out *o, const cap_payload *p, uint32_t n) {
    uint64_t key = flow_key(p);
    out_flow *fl = &o->flows[key % OUT_FLOWS];
    if (fl->key != key) {
        fl->key = key;
        fl->next_seq = o->seq_base;
    }
    uint32_t seq = fl->next_seq;
    fl->next_seq = seq + n;
    if ((int32_t)(fl->next_seq - o->seq_base) > 0) o->seq_base = fl->next_seq;
    return seq;
}

static uint8_t frame_proto(const cap_payload *p) {
    switch (p->transport) {
    case CAP_T_UDP: return 17;
    case CAP_T_SCTP: return 132;
    default: return 6; /* TCP, and TLS, WebSocket, secure WebSocket written as plain TCP */
    }
}

static uint32_t transport_header_len(uint8_t proto) { return proto == 17 ? 8 : proto == 6 ? 20 : 28; }

/* Transport header at t for a payload of n bytes (already at t + hlen). */
static void put_transport(cap_png_out *o, uint8_t *t, uint8_t proto, const cap_payload *p, uint32_t n) {
    uint32_t hlen = transport_header_len(proto);
    memset(t, 0, hlen);
    put16(t, p->src.port);
    put16(t + 2, p->dst.port);
    if (proto == 17) {
        put16(t + 4, hlen + n);
    } else if (proto == 6) {
        put32(t + 4, tcp_seq(o, p, n));
        t[12] = 5 << 4;          /* data offset: 20 bytes */
        t[13] = 0x18;            /* PSH, ACK */
        put16(t + 14, 65535);    /* window */
    } else {                     /* SCTP common header and one DATA chunk */
        put32(t + 4, 1);         /* verification tag */
        t[12] = 0;               /* DATA */
        t[13] = 0x03;            /* beginning and end of a whole message */
        put16(t + 14, 16 + n);
        put32(t + 16, o->tsn++);
    }
}

/* Builds the frame at frame; returns its length. */
static uint32_t build_frame(cap_png_out *o, uint8_t *frame, const cap_payload *p, uint32_t n) {
    uint8_t proto = frame_proto(p);
    bool v6 = p->src.addr.family == 6;
    uint32_t ip_len = v6 ? 40 : 20, hlen = transport_header_len(proto);
    uint32_t body = proto == 132 ? (uint32_t)pad4(n) : n;
    uint8_t *eth = frame, *ip = eth + ETH_LEN, *t = ip + ip_len;
    static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    memcpy(eth, macs, 12);
    put16(eth + 12, v6 ? 0x86DD : 0x0800);
    memcpy(t + hlen, p->data, n);
    memset(t + hlen + n, 0, body - n);
    put_transport(o, t, proto, p, n);
    uint32_t seg = hlen + body;
    if (v6) {
        memset(ip, 0, 40);
        ip[0] = 0x60;
        put16(ip + 4, seg);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, p->src.addr.ip, 16);
        memcpy(ip + 24, p->dst.addr.ip, 16);
    } else {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        put16(ip + 2, 20 + seg);
        put16(ip + 4, o->ip_id++);
        ip[6] = 0x40;            /* don't fragment */
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, p->src.addr.ip, 4);
        memcpy(ip + 16, p->dst.addr.ip, 4);
        put16(ip + 10, checksum(cap_csum_add(0, ip, 20)));
    }
    if (proto == 132) {
        put32(t + 8, 0);
        uint32_t crc = crc32c(t, seg);
        memcpy(t + 8, &crc, 4); /* stored little-endian: RFC 4960's reflected CRC */
    } else {
        /* pseudo-header: addresses, protocol, length */
        uint32_t sum = v6 ? cap_csum_add(0, ip + 8, 32) : cap_csum_add(0, ip + 12, 8);
        sum += proto + seg;
        uint16_t c = checksum(cap_csum_add(sum, t, seg));
        if (proto == 17 && c == 0) c = 0xffff;
        put16(t + (proto == 17 ? 6 : 16), c);
    }
    return ETH_LEN + ip_len + seg;
}

/* Why a frame's transport differs from the message's, if it does. */
static const char *transport_note(const cap_payload *p) {
    switch (p->transport) {
    case CAP_T_TLS: return "fs38: came over TLS, decrypted; written as TCP";
    case CAP_T_WS: return "fs38: came over WebSocket; written as TCP without the WebSocket framing";
    case CAP_T_WSS: return "fs38: came over secure WebSocket, decrypted; written as TCP without the "
                           "WebSocket framing";
    default: return NULL;
    }
}

/* Appends an option (code, length, value padded to 4 bytes) at b + at; returns the new end. */
static size_t put_option(uint8_t *b, size_t at, uint16_t code, const void *v, size_t n) {
    uint16_t hdr[2] = {code, (uint16_t)n};
    memcpy(b + at, hdr, 4);
    memcpy(b + at + 4, v, n);
    memset(b + at + 4 + n, 0, pad4(n) - n);
    return at + option_bytes(n);
}

static void put_u32(uint8_t *b, size_t at, uint32_t v) { memcpy(b + at, &v, 4); }

bool cap_png_out_message(cap_png_out *o, const cap_payload *p, const char *const *comments, unsigned ncomments,
                         fs_err *e) {
    uint32_t n = p->len < CAP_PNG_OUT_MAX_PAYLOAD ? p->len : CAP_PNG_OUT_MAX_PAYLOAD;
    char cut[96];
    const char *notes[3] = {transport_note(p), p->from_hep ? "fs38: received over HEP" : NULL, NULL};
    if (n < p->len) {
        snprintf(cut, sizeof cut, "fs38: message of %u bytes, the first %u written", p->len, n);
        notes[2] = cut;
    }
    if (ncomments > COMMENTS_MAX - 3) ncomments = COMMENTS_MAX - 3;
    uint8_t *b = o->block;
    uint32_t flen = build_frame(o, b + 28, p, n);
    size_t at = 28 + pad4(flen);
    memset(b + 28 + flen, 0, pad4(flen) - flen);
    for (unsigned i = 0; i < ncomments; i++) at = put_option(b, at, 1, comments[i], strnlen(comments[i], COMMENT_MAX));
    for (unsigned i = 0; i < 3; i++)
        if (notes[i]) at = put_option(b, at, 1, notes[i], strnlen(notes[i], COMMENT_MAX));
    put_u32(b, at, 0); /* end of options */
    uint32_t blen = (uint32_t)(at + 8);
    put_u32(b, at + 4, blen);
    uint64_t ts = p->ts_us;
    put_u32(b, 0, 6);
    put_u32(b, 4, blen);
    put_u32(b, 8, 0);
    put_u32(b, 12, (uint32_t)(ts >> 32));
    put_u32(b, 16, (uint32_t)ts);
    put_u32(b, 20, flen);
    put_u32(b, 24, flen);
    if (!write_block(o, b, blen, e)) return false;
    o->frames++;
    return true;
}
