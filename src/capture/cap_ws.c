/*
 * cap_ws.c -- SIP over WebSocket (RFC 7118): the opening handshake and the
 * frames (RFC 6455), read from a TCP direction's in-order bytes.
 *
 * Owns: telling a WebSocket handshake for SIP from other bytes, and reading
 * one WebSocket message (its data frames, unmasked, with control frames
 * between them passed over) at the front of a buffer.
 * Stateless: cap_tcp.c keeps which direction speaks WebSocket and calls
 * these on its bytes. Must not touch: TCP state, SIP beyond a start line.
 *
 * Every length read from a frame header is checked against the bytes
 * given; a frame that cannot be one (reserved bits, an opcode out of place,
 * a control frame longer than 125 bytes or fragmented) is CAP_WS_BAD. RSV1
 * is the one reserved bit read: on a message's first frame, when the
 * handshake names permessage-deflate (RFC 7692), it marks the message
 * compressed; cap_tcp.c inflates it.
 */
#include "cap.h"

#include <strings.h>

#define WS_OP_CONT 0
#define WS_OP_TEXT 1
#define WS_OP_BINARY 2

/* Case-insensitive: does [p, p + n) contain word as a token (delimited by
 * the start, the end, ',', ';' or white space)? */
static bool has_token(const uint8_t *p, size_t n, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        if (strncasecmp((const char *)p + i, word, w) != 0) continue;
        bool left = i == 0 || p[i - 1] == ',' || p[i - 1] == ' ' || p[i - 1] == '\t' || p[i - 1] == ':';
        bool right = i + w == n || p[i + w] == ',' || p[i + w] == ' ' || p[i + w] == '\t' || p[i + w] == ';' ||
                     p[i + w] == '\r';
        if (left && right) return true;
    }
    return false;
}

/* Does a line of header `name` in the header block [p, p + n) (lines
 * ending in CRLF) hold word as a token (word NULL: is there such a line)?
 * Every line of it is looked at: a list header may come as several lines,
 * read as one comma-separated value (RFC 6455 11.3.4: a client may offer
 * its subprotocols so). */
static bool header_has_token(const uint8_t *p, size_t n, const char *name, const char *word) {
    size_t nl = strlen(name);
    const uint8_t *line = p, *end = p + n;
    while (line < end) {
        const uint8_t *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) return false;
        size_t ll = (size_t)(eol - line);
        if (ll > nl && line[nl] == ':' && strncasecmp((const char *)line, name, nl) == 0 &&
            (!word || has_token(line + nl + 1, ll - nl - 1, word)))
            return true;
        line = eol + 1;
    }
    return false;
}

int cap_ws_handshake(const uint8_t *buf, size_t len, size_t *hdr_len) {
    static const char get[] = "GET ", ok[] = "HTTP/1.1 101";
    bool request = len >= 4 ? memcmp(buf, get, 4) == 0 : memcmp(buf, get, len) == 0;
    bool answer = len >= 12 ? memcmp(buf, ok, 12) == 0 : memcmp(buf, ok, len) == 0;
    if (!request && !answer) return 0;
    size_t n = len < CAP_WS_MAX_HANDSHAKE ? len : CAP_WS_MAX_HANDSHAKE;
    const uint8_t *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) return len < CAP_WS_MAX_HANDSHAKE ? -1 : 0;
    size_t block = (size_t)(end - buf) + 4;
    if (!header_has_token(buf, block, "Upgrade", "websocket")) return 0;
    if (!header_has_token(buf, block, "Sec-WebSocket-Protocol", "sip")) return 0;
    *hdr_len = block;
    return 1;
}

bool cap_ws_answer_not_sip(const uint8_t *buf, size_t len) {
    static const char ok[] = "HTTP/1.1 101";
    if (len < sizeof ok - 1 || memcmp(buf, ok, sizeof ok - 1) != 0) return false;
    size_t n = len < CAP_WS_MAX_HANDSHAKE ? len : CAP_WS_MAX_HANDSHAKE;
    const uint8_t *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) return false;
    size_t block = (size_t)(end - buf) + 4;
    /* one that names no subprotocol at all (against RFC 7118) is let be:
     * its peer, which offered sip, speaks it */
    return header_has_token(buf, block, "Sec-WebSocket-Protocol", NULL) &&
           !header_has_token(buf, block, "Sec-WebSocket-Protocol", "sip");
}

bool cap_ws_deflate(const uint8_t *handshake, size_t hdr_len) {
    return header_has_token(handshake, hdr_len, "Sec-WebSocket-Extensions", "permessage-deflate");
}

/* One frame header at p: its length (2-14 bytes), 0 when cut short, -1
 * when it cannot be a frame (RSV2 or RSV3 set: no extension that uses them
 * is read; RSV1 on a control frame). RSV1 is left to the caller. */
typedef struct ws_frame {
    bool fin, masked, rsv1;
    uint8_t opcode;
    uint8_t key[4];
    uint64_t len;
} ws_frame;

static int frame_header(const uint8_t *p, size_t n, ws_frame *f) {
    if (n < 2) return 0;
    if (p[0] & 0x30) return -1;
    f->fin = (p[0] & 0x80) != 0;
    f->rsv1 = (p[0] & 0x40) != 0;
    f->opcode = p[0] & 0x0f;
    f->masked = (p[1] & 0x80) != 0;
    uint32_t hl = 2;
    f->len = p[1] & 0x7f;
    if (f->len == 126) {
        if (n < 4) return 0;
        f->len = (uint64_t)p[2] << 8 | p[3];
        hl = 4;
    } else if (f->len == 127) {
        if (n < 10) return 0;
        f->len = 0;
        for (int i = 0; i < 8; i++) f->len = f->len << 8 | p[2 + i];
        if (f->len >> 63) return -1;
        hl = 10;
    }
    if (f->masked) {
        if (n < hl + 4) return 0;
        memcpy(f->key, p + hl, 4);
        hl += 4;
    }
    if (f->opcode >= 8 ? (!f->fin || f->len > 125 || f->opcode > 10 || f->rsv1) : f->opcode > WS_OP_BINARY)
        return -1;
    return (int)hl;
}

/* n payload bytes at p into out, unmasked; off is where they sit in the
 * frame's payload (the key repeats every 4 bytes of it). */
static void unmask(uint8_t *out, const uint8_t *p, size_t n, const ws_frame *f, uint64_t off) {
    if (!f->masked) {
        if (n) memcpy(out, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = p[i] ^ f->key[(off + i) & 3];
}

/* The payloads of the data frames in buf[0, end) (whole frames, checked
 * by the walk in cap_ws_message_scan) unmasked into out; control frames
 * between them passed over. Returns the bytes written. */
static size_t gather(const uint8_t *buf, size_t end, uint8_t *out) {
    size_t pos = 0, total = 0;
    while (pos < end) {
        ws_frame f;
        int hl = frame_header(buf + pos, end - pos, &f);
        if (hl <= 0) break; /* cannot happen: walked already */
        if (f.opcode < 8) {
            unmask(out + total, buf + pos + hl, (size_t)f.len, &f, 0);
            total += (size_t)f.len;
        }
        pos += (size_t)hl + (size_t)f.len;
    }
    return total;
}

cap_ws_status cap_ws_message_scan(const uint8_t *buf, size_t len, size_t max_msg, bool continuing, bool deflate,
                                  uint8_t *out, cap_ws_read *r, cap_ws_scan *sc) {
    /* resumed: the frames before sc->pos were walked by an earlier call on
     * the same message (a message in many frames is walked once, not once
     * per segment that adds a frame) */
    size_t pos = sc ? sc->pos : 0, total = sc ? sc->total : 0;
    bool first = !continuing && pos == 0, compressed = pos > 0 && sc->compressed;
    if (sc) memset(sc, 0, sizeof *sc);
    memset(r, 0, sizeof *r);
    r->compressed = compressed;
    for (;;) {
        ws_frame f;
        int hl = frame_header(buf + pos, len - pos, &f);
        if (hl == 0) break;
        if (hl < 0) return CAP_WS_BAD;
        size_t avail = len - pos - (size_t)hl;
        if (f.opcode >= 8) { /* ping, pong, close: alone or between the frames of a message */
            if (avail < f.len) break;
            bool alone = pos == 0;
            pos += (size_t)hl + (size_t)f.len;
            if (alone) {
                r->used = pos;
                return CAP_WS_CONTROL;
            }
            continue;
        }
        if (first ? f.opcode == WS_OP_CONT : f.opcode != WS_OP_CONT) return CAP_WS_BAD;
        /* RSV1: compressed, said by the first frame alone (RFC 7692 6.1),
         * only where the handshake agreed to it */
        if (f.rsv1 && (!first || !deflate)) return CAP_WS_BAD;
        if (first) r->compressed = f.rsv1;
        first = false;
        if (f.len > max_msg - total) { /* too long: its first bytes, the rest skipped */
            size_t here = avail < f.len ? avail : (size_t)f.len;
            size_t take = here < max_msg - total ? here : max_msg - total;
            /* its first max_msg bytes, as SIP over TCP is read, whatever the
             * segments they came in: wait for them while the buffer holds
             * less than max_msg (which bounds what is kept waiting) */
            if (take < max_msg - total && len < max_msg) break;
            gather(buf, pos, out);
            unmask(out + total, buf + pos + hl, take, &f, 0);
            r->out_len = total + take;
            r->used = pos + (size_t)hl + here;
            r->skip = f.len - here;
            r->more = !f.fin;
            return CAP_WS_TOO_BIG;
        }
        if (avail < f.len) break;
        total += (size_t)f.len;
        pos += (size_t)hl + (size_t)f.len;
        if (f.fin) {
            gather(buf, pos, out);
            r->out_len = total;
            r->used = pos;
            return CAP_WS_MESSAGE;
        }
    }
    if (sc) { /* the whole frames so far: not walked again */
        sc->pos = pos;
        sc->total = total;
        sc->compressed = r->compressed;
    }
    return CAP_WS_INCOMPLETE;
}

cap_ws_status cap_ws_message(const uint8_t *buf, size_t len, size_t max_msg, bool continuing, uint8_t *out,
                             cap_ws_read *r) {
    return cap_ws_message_scan(buf, len, max_msg, continuing, false, out, r, NULL);
}

int cap_ws_resync_deflated(const uint8_t *buf, size_t len, uint8_t *head, size_t cap, size_t *n) {
    ws_frame f;
    if (len >= 1 && buf[0] != (0xc0 | WS_OP_TEXT) && buf[0] != (0xc0 | WS_OP_BINARY)) return 0;
    int hl = frame_header(buf, len, &f);
    if (hl == 0) return -1;
    if (hl < 0 || f.len == 0) return 0;
    size_t want = f.len < cap ? (size_t)f.len : cap;
    if (len - (size_t)hl < want) return -1;
    unmask(head, buf + hl, want, &f, 0);
    *n = want;
    return 1;
}

int cap_ws_resync_start(const uint8_t *buf, size_t len) {
    ws_frame f;
    if (len >= 1 && buf[0] != (0x80 | WS_OP_TEXT) && buf[0] != (0x80 | WS_OP_BINARY)) return 0;
    int hl = frame_header(buf, len, &f);
    if (hl == 0) return -1;
    if (hl < 0) return 0;
    uint8_t head[256] = {0}; /* n may be 0: gcc cannot tell that none is read then */
    size_t n = len - (size_t)hl;
    if (n > f.len) n = (size_t)f.len;
    if (n > sizeof head) n = sizeof head;
    unmask(head, buf + hl, n, &f, 0);
    int s = cap_sip_start_line(head, n);
    /* undecided (-1) only while more of the payload can come: a whole one
     * too short to tell (an empty frame) is not SIP, or the resync would
     * wait on it for ever */
    return s < 0 && (n == sizeof head || n == f.len) ? 0 : s;
}
