/*
 * cap_frame.c -- where one SIP message ends on a byte stream.
 *
 * Owns: cap_sip_frame (end of headers + Content-Length, compact "l" too),
 * cap_sip_start_line (does this look like a request/status line: the UDP
 * heuristic and the TCP resync point) and cap_sip_keepalive.
 * Must not touch: SIP semantics beyond framing (that is src/sip), any state:
 * every function here is pure and reads only [buf, buf + len).
 *
 * Kept apart from the full parser on purpose: TCP framing must stay cheap and
 * independent of how strict the parser is about the rest of the message.
 */
#include "cap.h"

#include <assert.h>

#define START_MAX_METHOD 32   /* longest method token we accept */
#define START_MAX_SCHEME 16   /* longest URI scheme we accept */
#define START_MAX_LINE 2048   /* how far we look for " SIP/" on an odd scheme */

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

/* Content-Length / "l" header line (no line end). Returns false on garbage:
 * a value that is not digits, too large, or conflicting with an earlier one. */
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
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    uint64_t v = 0;
    size_t digits = 0;
    for (; i < n && is_digit(p[i]); i++, digits++) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > CAP_FRAME_MAX_CL) return false;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    if (digits == 0 || i != n) return false;
    if (*have && *cl != v) return false;
    *cl = v;
    *have = true;
    return true;
}

cap_frame_status cap_sip_frame(const uint8_t *buf, size_t len, size_t max_msg, uint64_t *msg_len) {
    uint64_t cl = 0;
    bool have_cl = false;
    size_t pos = 0, header_end = 0;
    assert(max_msg > 0);
    *msg_len = 0;
    for (;;) {
        const uint8_t *nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
        if (!nl) return len >= max_msg ? CAP_FRAME_BAD : CAP_FRAME_INCOMPLETE;
        size_t eol = (size_t)(nl - buf);
        size_t line_len = eol - pos;
        if (line_len > 0 && buf[eol - 1] == '\r') line_len--;
        if (pos > 0 && line_len == 0) {
            header_end = eol + 1;
            break;
        }
        if (pos > 0 && buf[pos] != ' ' && buf[pos] != '\t' &&
            !content_length_line(buf + pos, line_len, &cl, &have_cl))
            return CAP_FRAME_BAD;
        pos = eol + 1;
        if (pos > max_msg) return CAP_FRAME_BAD; /* headers alone too long */
    }
    *msg_len = header_end + cl;
    if (*msg_len > max_msg) return CAP_FRAME_TOO_BIG;
    return *msg_len <= len ? CAP_FRAME_OK : CAP_FRAME_INCOMPLETE;
}
