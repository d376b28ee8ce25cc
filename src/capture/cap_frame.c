/*
 * cap_frame.c -- where one SIP message ends on a byte stream.
 *
 * Owns: cap_sip_frame and its resumable form cap_sip_frame_scan (end of
 * headers + Content-Length, compact "l" and folded values too),
 * cap_sip_start_line (does this look like a request/status line: the UDP
 * heuristic), cap_sip_resync_start (a start line followed by a header
 * line: where TCP resyncs) and cap_sip_keepalive.
 * Must not touch: SIP semantics beyond framing (that is src/sip), any state
 * of its own: every function here reads only [buf, buf + len) (and the
 * caller's cap_frame_scan, which lets a message that grows a few bytes at a
 * time be read once, not once per segment).
 *
 * Kept apart from the full parser on purpose: TCP framing must stay cheap and
 * independent of how strict the parser is about the rest of the message.
 */
#include "cap.h"

#include <assert.h>

#define START_MAX_METHOD 32   /* longest method token we accept */
#define START_MAX_SCHEME 16   /* longest URI scheme we accept */
#define START_MAX_LINE 2048   /* how far we look for " SIP/" on an odd scheme */
#define START_MAX_HEADER_NAME 64 /* resync: longest header name after a start line */

bool cap_sip_keepalive(const uint8_t *buf, size_t len) {
    if (len == 0) return true;
    if (len == 2) return buf[0] == '\r' && buf[1] == '\n';
    if (len == 4) return memcmp(buf, "\r\n\r\n", 4) == 0;
    return false;
}

static bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_alpha(uint8_t c) { return is_upper(c) || (c >= 'a' && c <= 'z'); }
static uint8_t lower(uint8_t c) { return is_upper(c) ? (uint8_t)(c + 32) : c; }

static bool ieq_n(const uint8_t *p, const char *lit, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != (uint8_t)lit[i]) return false;
    return true;
}

/* "SIP/2.0 " + 3 digits. Returns 1/0/-1 like cap_sip_start_line. */
static int status_line(const uint8_t *buf, size_t len) {
    static const char pfx[] = "SIP/2.0 ";
    size_t need = sizeof(pfx) - 1 + 3;
    for (size_t i = 0; i < need; i++) {
        if (i == len) return -1;
        bool ok = i < sizeof(pfx) - 1 ? buf[i] == (uint8_t)pfx[i] : is_digit(buf[i]);
        if (!ok) return 0;
    }
    return 1;
}

/* An odd scheme (not sip/sips/tel): accept only if the first line carries
 * " SIP/" so that HTTP proxy requests ("GET http://...") do not match. */
static int line_has_sip_version(const uint8_t *buf, size_t len) {
    size_t n = len < START_MAX_LINE ? len : START_MAX_LINE;
    for (size_t i = 0; i + 5 <= n; i++) {
        if (buf[i] == '\n') return 0;
        if (buf[i] == ' ' && ieq_n(buf + i + 1, "sip/", 4)) return 1;
    }
    if (memchr(buf, '\n', n)) return 0;
    return len < START_MAX_LINE ? -1 : 0;
}

int cap_sip_start_line(const uint8_t *buf, size_t len) {
    if (len > 0 && buf[0] == 'S') {
        int r = status_line(buf, len);
        if (r != 0) return r;
    }
    /* Method token: uppercase letters, '-' or '_' after the first. */
    size_t i = 0;
    while (i < len && i <= START_MAX_METHOD &&
           (is_upper(buf[i]) || (i > 0 && (buf[i] == '-' || buf[i] == '_'))))
        i++;
    if (i == len) return len > START_MAX_METHOD ? 0 : -1;
    if (i == 0 || i > START_MAX_METHOD || buf[i] != ' ') return 0;
    size_t s = ++i;
    /* URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    while (i < len && i - s <= START_MAX_SCHEME &&
           (is_alpha(buf[i]) ||
            (i > s && (is_digit(buf[i]) || buf[i] == '+' || buf[i] == '-' || buf[i] == '.'))))
        i++;
    if (i == len) return i - s > START_MAX_SCHEME ? 0 : -1;
    if (i == s || i - s > START_MAX_SCHEME || buf[i] != ':') return 0;
    size_t sl = i - s;
    if ((sl == 3 && (ieq_n(buf + s, "sip", 3) || ieq_n(buf + s, "tel", 3))) ||
        (sl == 4 && ieq_n(buf + s, "sips", 4)))
        return 1;
    return line_has_sip_version(buf + i, len - i);
}

/* Linear white space inside a header field: SP, HTAB, or a line end
 * followed by one of them (a folded line, RFC 3261 7.3.1). Returns the
 * offset past it. p[0, n) is one field with its folds, its own line end
 * already cut off, so every line end in it is a fold. */
static size_t skip_lws(const uint8_t *p, size_t i, size_t n) {
    while (i < n) {
        if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n') i++;
        else if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') i += 2;
        else break;
    }
    return i;
}

/* Content-Length / "l" header field (no final line end; folded lines
 * included). Returns false on garbage: a value that is not digits, too
 * large, or conflicting with an earlier one. */
static bool content_length_line(const uint8_t *p, size_t n, uint64_t *cl, bool *have) {
    size_t name;
    if (n >= 14 && ieq_n(p, "content-length", 14))
        name = 14;
    else if (n >= 1 && lower(p[0]) == 'l')
        name = 1;
    else
        return true;
    size_t i = name;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    if (i == n || p[i] != ':') return true; /* another header, e.g. "Lxx:" */
    i = skip_lws(p, i + 1, n);
    uint64_t v = 0;
    size_t digits = 0;
    for (; i < n && is_digit(p[i]); i++, digits++) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > CAP_FRAME_MAX_CL) return false;
    }
    i = skip_lws(p, i, n);
    if (digits == 0 || i != n) return false;
    if (*have && *cl != v) return false;
    *cl = v;
    *have = true;
    return true;
}

/* The field that started at s->field ends where the line at `next` starts. */
static bool field_done(const uint8_t *buf, size_t next, cap_frame_scan *s) {
    size_t end = next;
    if (end > s->field && buf[end - 1] == '\n') end--;
    if (end > s->field && buf[end - 1] == '\r') end--;
    bool ok = content_length_line(buf + s->field, end - s->field, &s->cl, &s->have_cl);
    s->field = 0;
    return ok;
}

cap_frame_status cap_sip_frame_scan(const uint8_t *buf, size_t len, size_t max_msg, uint64_t *msg_len,
                                    cap_frame_scan *s) {
    assert(max_msg > 0);
    assert(s->pos <= len && s->searched <= len);
    *msg_len = 0;
    while (!s->header_end) {
        size_t pos = s->pos;
        /* a field is whole once the next line does not continue it; a
         * garbage Content-Length makes the message unframable, but its
         * header block is still read to its end, so that the message is
         * judged whole (SIP-MAL-001), not as one cut at a segment's end
         * (oversized, SIP-MAL-002) */
        if (s->field && pos < len && buf[pos] != ' ' && buf[pos] != '\t' && !field_done(buf, pos, s))
            s->bad_cl = true;
        size_t from = s->searched > pos ? s->searched : pos;
        const uint8_t *nl = from < len ? memchr(buf + from, '\n', len - from) : NULL;
        if (!nl) {
            s->searched = (uint32_t)len;
            return len >= max_msg ? CAP_FRAME_BAD : CAP_FRAME_INCOMPLETE;
        }
        size_t eol = (size_t)(nl - buf);
        size_t line_len = eol - pos;
        if (line_len > 0 && buf[eol - 1] == '\r') line_len--;
        if (pos > 0 && line_len == 0) {
            s->header_end = (uint32_t)(eol + 1);
            break;
        }
        /* only a field that may be Content-Length is kept for field_done */
        if (pos > 0 && (lower(buf[pos]) == 'c' || lower(buf[pos]) == 'l')) s->field = (uint32_t)pos;
        s->pos = (uint32_t)(eol + 1);
        if (s->pos > max_msg) return CAP_FRAME_BAD; /* headers alone too long */
    }
    if (s->bad_cl) return CAP_FRAME_BAD;
    *msg_len = s->header_end + s->cl;
    if (*msg_len > max_msg) return CAP_FRAME_TOO_BIG;
    return *msg_len <= len ? CAP_FRAME_OK : CAP_FRAME_INCOMPLETE;
}

cap_frame_status cap_sip_frame(const uint8_t *buf, size_t len, size_t max_msg, uint64_t *msg_len) {
    cap_frame_scan s = {0};
    return cap_sip_frame_scan(buf, len, max_msg, msg_len, &s);
}

/* RFC 3261 token characters (a header name). */
static bool is_token(uint8_t c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("-.!%*_+`'~", c));
}

bool cap_sip_known_start(const uint8_t *buf, size_t len) {
    if (len >= 8 && !memcmp(buf, "SIP/2.0 ", 8)) return true;
    size_t n = 0;
    while (n < len && n <= START_MAX_METHOD && buf[n] != ' ') n++;
    return n < len && buf[n] == ' ' && sip_method_lookup(fs_str_make((const char *)buf, n)) != SIP_M_UNKNOWN;
}

int cap_sip_resync_start(const uint8_t *buf, size_t len) {
    int r = cap_sip_start_line(buf, len);
    if (r != 1) return r;
    const uint8_t *nl = memchr(buf, '\n', len < START_MAX_LINE ? len : START_MAX_LINE);
    if (!nl) return len < START_MAX_LINE ? -1 : 0;
    size_t i = (size_t)(nl - buf) + 1, name = i;
    while (i < len && i - name <= START_MAX_HEADER_NAME && is_token(buf[i])) i++;
    if (i - name > START_MAX_HEADER_NAME) return 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t')) i++;
    if (i == len) return -1;
    return i > name && buf[i] == ':' ? 1 : 0;
}
