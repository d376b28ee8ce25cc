/*
 * sip_validate.c -- sip_validate: the RFC 3261 checks beyond framing.
 *
 * Owns: Request-URI scheme and syntax, From/To/Contact/Route name-addr
 * grammar, Via values, CSeq/method agreement, mandatory and single-value
 * headers, scalar ranges (Expires, Retry-After, expires=, Warning codes),
 * Date, Content-Type/body agreement, Require, Authorization scheme, Accept
 * vs an SDP offer, REGISTER specifics, URI length limits.
 * Must not touch: framing (sip_parse.c), detection policy, the heap.
 *
 * Cost: every check is linear in the header it looks at and only headers
 * that need it are looked at (via first[]/count[]), so running this on every
 * message stays cheap. Plain values take one-pass fast paths (sip_fast_*,
 * 16 octets per step with sip_span); sip_parse already ran them on the first
 * From/To/Via and the Request-URI and left the verdicts in m->pre_ok, so
 * those are not scanned twice. Anomalies are appended to the message.
 */
#include "sip.h"

#define ADD(m, a) sip_msg_add_anomaly((m), SIP_A_##a)
/* s starts with the lower-case literal lit, any case. */
#define ISTARTS(s, lit) ((s).len >= sizeof(lit) - 1 && sip_lower_eq_lit((s).p, lit, sizeof(lit) - 1))
#define IEQ(s, lit) ((s).len == sizeof(lit) - 1 && sip_lower_eq_lit((s).p, lit, sizeof(lit) - 1))

static inline bool ws(unsigned char c) { return sip_is_wsp(c); }

/* fs_str_trim (which strips the same SP HTAB CR LF as ws), without its call
 * for the common value sip_parse already trimmed. */
static inline fs_str trim(fs_str s) {
    if (s.len == 0 || (!ws((unsigned char)s.p[0]) && !ws((unsigned char)s.p[s.len - 1]))) return s;
    return fs_str_trim(s);
}

static inline bool str_eq(fs_str a, fs_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The port digits at p: at most five, stopping before e; returns where they
 * end, *v = their value (the same digits sip_is_digit accepts). */
static inline const char *port_digits(const char *p, const char *e, uint32_t *v) {
    const char *lim = e - p > 5 ? p + 5 : e;
    uint32_t n = 0;
    while (p < lim && (unsigned)((unsigned char)*p - '0') < 10u)
        n = n * 10 + (uint32_t)((unsigned char)*p++ - '0');
    *v = n;
    return p;
}

/* Word lists with their lengths, so a lookup compares lengths first. */
typedef struct word {
    const char *s;
    uint32_t len;
} word;
#define W(lit)                                                                                               \
    { lit, sizeof(lit) - 1 }

static bool in_list(fs_str s, const word *list) {
    for (; list->s; list++)
        if (list->len == s.len && fs_str_ieq(s, fs_str_make(list->s, list->len))) return true;
    return false;
}

/* The header fields with id in order, like sip_header_next, but stopping
 * after the last one count[] says exists instead of scanning to the end. */
typedef struct hdr_iter {
    uint16_t i;
    uint16_t left;
} hdr_iter;

static hdr_iter hdr_iter_of(const sip_msg *m, sip_header_id id) {
    hdr_iter it = {m->first[id] < 0 ? m->nhdr : (uint16_t)m->first[id],
                   m->count[id] == 255 ? UINT16_MAX : m->count[id]};
    return it;
}

static const sip_header *hdr_next(const sip_msg *m, sip_header_id id, hdr_iter *it) {
    for (; it->left && it->i < m->nhdr; it->i++) {
        if (m->hdr[it->i].id == id) {
            it->left--;
            return &m->hdr[it->i++];
        }
    }
    return NULL;
}

/* ---- URIs ------------------------------------------------------------------------ */

/* Registered (IANA) URI schemes other than sip/sips/tel: a Request-URI with
 * one of these is unusual but legal (RFC 4475 3.3.3). */
static const word registered_schemes[] = {
    W("http"),       W("https"), W("mailto"), W("im"),  W("pres"),  W("h323"),   W("urn"),   W("soap.beep"),
    W("soap.beeps"), W("xmpp"),  W("iax"),    W("fax"), W("modem"), W("ldap"),   W("msrp"),  W("msrps"),
    W("ws"),         W("wss"),   W("geo"),    W("cid"), W("mid"),   W("rtsp"),   W("sms"),   W("mms"),
    W("data"),       W("ftp"),   W("news"),   W("tag"), W("tip"),   W("tn3270"), W("h323s"), {NULL, 0}};

/* Leniency: '_' (internal DNS names, Windows hosts) is taken as a host
 * octet although RFC 3261 hostname has none. */
static bool host_char(unsigned char c) {
    return (sip_ctype[c] & (SIP_CC_ALPHA | SIP_CC_DIGIT)) || c == '-' || c == '.' || c == '_';
}

/* The edges of a hostname [h, h + n) of host_char octets: a domainlabel
 * starts and ends alphanumeric, one trailing '.' is allowed (hostname =
 * *(domainlabel ".") toplabel ["."]). Only the edges: "-bad-", ".x", "x..",
 * "x-" are out, "a.-b" is not looked at, so the fast paths can make the same
 * test at no cost. */
static inline bool host_edges_ok(const char *h, size_t n) {
    if (n == 0 || h[0] == '-' || h[0] == '.') return false;
    char last = h[n - 1];
    if (last == '.') {
        if (n < 2) return false;
        last = h[n - 2];
    }
    return last != '-' && last != '.';
}

/* [p, e) is an IPv6address (RFC 3261 25.1 as corrected by RFC 5954, the
 * grammar of RFC 3986 3.2.2): eight h16 (1-4 hex digits) parted by ':', or
 * fewer with one "::" standing for the rest; the last 32 bits may be a
 * dotted IPv4 address (decimal octets 0-255; leading zeros let pass). Not
 * "2001:db8:::192.0.2.1" (three colons, RFC 5118 4.10), "1::2::3", nine
 * groups, a 5-digit group or an IPv4 address in brackets: stacks reject
 * such a reference or read another address in it. */
static bool ipv6_ok(const char *p, const char *e) {
    unsigned groups = 0;
    bool dcolon = false;
    if (e - p >= 2 && p[0] == ':' && p[1] == ':') {
        dcolon = true;
        p += 2;
        if (p == e) return true; /* "::" */
    }
    for (;;) {
        const char *g = p;
        while (p < e && p - g < 5 && (sip_ctype[(unsigned char)*p] & SIP_CC_HEX)) p++;
        if (p < e && *p == '.') { /* the IPv4 tail: the last piece, two groups */
            p = g;
            for (int i = 0; i < 4; i++) {
                const char *d = p;
                unsigned v = 0;
                while (p < e && p - d < 3 && sip_is_digit((unsigned char)*p)) v = v * 10 + (unsigned)(*p++ - '0');
                if (p == d || v > 255 || (i < 3 && (p >= e || *p++ != '.'))) return false;
            }
            groups += 2;
            break;
        }
        if (p == g || p - g > 4) return false;
        groups++;
        if (p == e) break;
        if (*p != ':') return false;
        p++;
        if (p < e && *p == ':') {
            if (dcolon) return false; /* a second "::" */
            dcolon = true;
            p++;
            if (p == e) break; /* ends in "::" */
        }
        if (p == e) return false; /* ends in a single ':' */
    }
    return p == e && (dcolon ? groups <= 7 : groups == 8);
}

/* A hostname or an IPv6 reference's inside (v6: unbracketed). */
static bool host_ok(fs_str h, bool v6) {
    if (v6) return ipv6_ok(h.p, h.p + h.len);
    for (uint32_t i = 0; i < h.len; i++)
        if (!host_char((unsigned char)h.p[i])) return false;
    return host_edges_ok(h.p, h.len);
}

/* Via received= (RFC 3261 20.42: IPv4address / IPv6address): an IPv6
 * address (the [] of an IPv6reference tolerated, RFC 5118 4.5) when it holds
 * a ':', else made of the octets of an IPv4 address (hex digits and '.'), as
 * the fast path checks it. Catches a host name or junk; IPv4 octet ranges
 * are not checked. */
static bool ip_addr_ok(const char *p, const char *e) {
    if (e - p >= 2 && *p == '[' && e[-1] == ']') p++, e--;
    if (p >= e) return false;
    if (memchr(p, ':', (size_t)(e - p))) return ipv6_ok(p, e);
    for (; p < e; p++)
        if (!(sip_ctype[(unsigned char)*p] & SIP_CC_HEX) && *p != '.') return false;
    return true;
}

/* userinfo = user [":" password] "@" (RFC 3261 25.1): user is not empty,
 * both hold unreserved, escaped ("%" HEX HEX) and user-unreserved octets
 * (& = + $ , ; ? /). Leniencies: '#' (phones send feature codes unescaped:
 * sip:*21#@pbx) and further ':' in the password, as the fast path. */
static bool userinfo_ok(const sip_uri *u) {
    if (!u->user.p) return true; /* no '@' */
    if (u->user.len == 0) return false;
    const char *p = u->user.p, *e = u->password.p ? u->password.p + u->password.len : u->user.p + u->user.len;
    for (; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (sip_ctype[c] & (SIP_CC_ALPHA | SIP_CC_DIGIT)) continue;
        if (c == '%') {
            if (e - p < 3 || !(sip_ctype[(unsigned char)p[1]] & SIP_CC_HEX) ||
                !(sip_ctype[(unsigned char)p[2]] & SIP_CC_HEX))
                return false;
            p += 2;
            continue;
        }
        if (c <= 0x20 || c >= 0x7f || !strchr("-_.!~*'()&=+$,;?/:#", c)) return false;
    }
    return true;
}

/* No octet that a URI of any scheme cannot hold raw (RFC 3986 2, RFC 3261
 * 25.1): a CTL (NUL, DEL ...) or '"' '<' '>' '\\' '^' '`' '{' '|' '}'.
 * Whitespace is reported on its own (ADDR_SPEC_SPACES, RURI_SYNTAX);
 * octets >= 0x80 are let pass (UTF-8 in tel and other schemes' URIs).
 * Runs only on URIs the fast paths did not pass, which hold none of
 * these; before it "INVITE sip:b@h;x=<NUL>", "tel:+1<NUL>" in the
 * Request-URI and the '"' in "From: tel:+1\"2;tag=x" (where sip_parse
 * takes a quote that hides the tag) went unreported. */
static const uint8_t uri_raw_bad[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x0b] = 1, [0x0c] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1,
    [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1,
    [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, [0x7f] = 1, ['"'] = 1, ['<'] = 1,
    ['>'] = 1, ['\\'] = 1, ['^'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1};
static bool uri_octets_ok(fs_str uri) {
    uint8_t bad = 0; /* no early exit: a bad octet is rare, the loop stays branch free */
    for (uint32_t i = 0; i < uri.len; i++) bad |= uri_raw_bad[(unsigned char)uri.p[i]];
    return !bad;
}

/* A sip/sips URI (IPv6 host already unbracketed): host, userinfo, and no '@'
 * in the URI parameters (the userinfo ends at the first '@'). Whitespace
 * inside a URI is found earlier (ADDR_SPEC_SPACES, RURI_SYNTAX). Runs only
 * for URIs the fast path (sip_fast_sip_uri / fast_hostpart) did not pass. */
static bool sip_uri_sane(fs_str uri, const sip_uri *u) {
    bool v6 = u->host.p > uri.p && u->host.p[-1] == '[';
    if (!host_ok(u->host, v6) || !userinfo_ok(u)) return false;
    return !(u->params.len && memchr(u->params.p, '@', u->params.len));
}


static void check_ruri(sip_msg *m) {
    if (m->ruri.len == 0 || sip_msg_has_anomaly(m, SIP_A_RURI_ANGLE_BRACKETS) ||
        sip_msg_has_anomaly(m, SIP_A_RURI_SYNTAX))
        return;
    const char *e = m->ruri.p + m->ruri.len;
    if ((m->pre_ok & SIP_PRE_RURI) || /* sip_parse ran sip_fast_sip_uri on it */
        (m->ruri.len > 4 && memcmp(m->ruri.p, "sip:", 4) == 0 && sip_fast_sip_uri(m->ruri.p, m->ruri.p + 4, e))) {
        if (m->method == SIP_M_REGISTER && memchr(m->ruri.p, '@', m->ruri.len)) ADD(m, REGISTER_URI_PARAMS);
        return;
    }
    sip_uri u;
    if (!sip_uri_parse(m->ruri, &u)) {
        ADD(m, RURI_SYNTAX);
        return;
    }
    if (!uri_octets_ok(m->ruri)) ADD(m, RURI_SYNTAX);
    if (u.scheme == SIP_SCHEME_SIP || u.scheme == SIP_SCHEME_SIPS) {
        if (!sip_uri_sane(m->ruri, &u)) ADD(m, RURI_SYNTAX);
        if (u.headers.len) ADD(m, RURI_ESCAPED_HEADERS);
        if (m->method == SIP_M_REGISTER && (u.user.len || memchr(m->ruri.p, '@', m->ruri.len)))
            ADD(m, REGISTER_URI_PARAMS); /* RFC 3261 10.2: no userinfo in a REGISTER R-URI */
    } else if (u.scheme == SIP_SCHEME_OTHER) {
        if (in_list(u.scheme_str, registered_schemes))
            ADD(m, RURI_ATYPICAL_SCHEME);
        else
            ADD(m, RURI_UNKNOWN_SCHEME);
    }
}

/* A URI from From/To/Contact. scheme_matters: non sip/sips/tel is flagged. */
static void check_header_uri(sip_msg *m, fs_str uri, const sip_limits *lim, bool scheme_matters, sip_uri *u) {
    uri = trim(uri); /* spaces inside <> are reported as ADDR_SPEC_SPACES already */
    if (lim && lim->max_uri_len && uri.len > lim->max_uri_len) ADD(m, LIMIT_URI_LENGTH);
    if (!sip_uri_parse(uri, u)) {
        ADD(m, URI_SYNTAX);
        return;
    }
    if (!uri_octets_ok(uri)) ADD(m, URI_SYNTAX);
    if (u->scheme == SIP_SCHEME_SIP || u->scheme == SIP_SCHEME_SIPS) {
        if (!sip_uri_sane(uri, u)) ADD(m, URI_SYNTAX);
    } else if (u->scheme == SIP_SCHEME_OTHER && scheme_matters && !in_list(u->scheme_str, registered_schemes)) {
        /* a registered scheme is legal there: a 3xx's Contact may name a
         * mailto: or http: alternative (RFC 3261 8.1.3.4, 21.3), an
         * emergency call's To its service URN (RFC 5031 7, RFC 6881) */
        ADD(m, URI_UNKNOWN_SCHEME);
    }
}

/* ---- scalars ---------------------------------------------------------------------- */

/* delta-seconds: 1*DIGIT within 0..2**32-1. */
static bool delta_seconds_ok(fs_str s) {
    if (s.len == 0) return false;
    uint64_t v = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!sip_is_digit(c)) return false;
        v = v * 10 + (c - '0');
        if (v > UINT32_MAX) return false;
    }
    return true;
}

/* Leading delta-seconds of a value like "120 (comment);duration=60". */
static fs_str leading_digits(fs_str v) {
    uint32_t i = 0;
    while (i < v.len && sip_is_digit((unsigned char)v.p[i]))
        i++;
    return fs_str_make(v.p, i);
}

static void check_expires(sip_msg *m, fs_str v) {
    v = trim(v);
    if (v.len && (sip_ctype[(unsigned char)v.p[0]] & SIP_CC_ALPHA)) {
        ADD(m, RFC2543_SYNTAX); /* RFC 2543 allowed an HTTP-date here */
        return;
    }
    if (!delta_seconds_ok(v)) ADD(m, SCALAR_RANGE);
}

static void check_retry_after(sip_msg *m, fs_str v) {
    fs_str d = leading_digits(trim(v));
    if (!delta_seconds_ok(d)) ADD(m, SCALAR_RANGE);
}

static void check_warning(sip_msg *m, fs_str v) {
    fs_str rest = v, item;
    if (trim(v).len == 0) ADD(m, HEADER_EMPTY_VALUE_ITEM); /* 1*warning-value (sngrep issue 541) */
    while (sip_list_next(&rest, &item)) {
        fs_str code = leading_digits(item);
        if (code.len != 3 || (item.len > 3 && !ws((unsigned char)item.p[3]))) ADD(m, SCALAR_RANGE);
    }
}

/* ---- Date (RFC 3261 20.17: rfc1123-date, GMT only) ------------------------------------ */

static bool digits_at(const char *p, int n) {
    for (int i = 0; i < n; i++)
        if (!sip_is_digit((unsigned char)p[i])) return false;
    return true;
}

static bool word_in(const char *p, const char *words) {
    for (const char *w = words; *w; w += 3)
        if (memcmp(p, w, 3) == 0) return true;
    return false;
}

/* "Sat, 15 Oct 2005 04:44:56 GMT" */
static bool date_ok(fs_str v) {
    v = trim(v);
    if (v.len != 29) return false;
    const char *p = v.p;
    return word_in(p, "MonTueWedThuFriSatSun") && p[3] == ',' && p[4] == ' ' && digits_at(p + 5, 2) &&
           p[7] == ' ' && word_in(p + 8, "JanFebMarAprMayJunJulAugSepOctNovDec") && p[11] == ' ' &&
           digits_at(p + 12, 4) && p[16] == ' ' && digits_at(p + 17, 2) && p[19] == ':' &&
           digits_at(p + 20, 2) && p[22] == ':' && digits_at(p + 23, 2) && p[25] == ' ' &&
           memcmp(p + 26, "GMT", 3) == 0;
}

/* ---- fast paths ---------------------------------------------------------------------
 * Most traffic is plain: <sip:user@host:port;lr>;tag=x and SIP/2.0/UDP h;branch=...
 * One tight pass recognises that shape. Anything unusual (escapes in quoted
 * strings, '?', lists, other schemes, odd whitespace, quoted parameter
 * values) returns false and the full checks decide, so a fast path may only
 * answer "clean" for a value the full checks pass without any anomaly. */

/* URI octet classes for the fast paths: 1 = may appear in a plain URI
 * (printable ASCII except < > " ? \\), 2 = hostname character (alnum - . _),
 * 4 = IPv6 reference character (hex digit : .), 8 = Via parameter value
 * character (token, ':' and brackets for IPv6 received=), 16 = plain
 * userinfo octet: a URI octet other than '@', '%' (escapes take the full
 * check) and [ ] ^ ` { | } (not in RFC 3261 user/password; '#' stays, see
 * userinfo_ok), 32 = plain URI octet other than ';' '@' and ^ ` { | }
 * (inside one URI parameter; those five no URI holds raw, see
 * uri_octets_ok), 64 = octet of a plain quoted display name (not '"',
 * '\\', CTL), 128 = token character or SP (an unquoted display name). */
enum { UC_URI = 1, UC_HOST = 2, UC_V6 = 4, UC_VIAV = 8, UC_PLAIN = 16, UC_PCHAR = 32, UC_QD = 64, UC_TOKSP = 128 };
static const uint8_t uri_class[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    192, 249,   0, 113, 113, 233, 113, 249, 113, 113, 249, 249, 113, 251, 255, 113,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 125,  81,  64, 113,  64,  64,
     65, 255, 255, 255, 255, 255, 255, 251, 251, 251, 251, 251, 251, 251, 251, 251,
    251, 251, 251, 251, 251, 251, 251, 251, 251, 251, 251, 105,   0, 105,  65, 251,
    201, 255, 255, 255, 255, 255, 255, 251, 251, 251, 251, 251, 251, 251, 251, 251,
    251, 251, 251, 251, 251, 251, 251, 251, 251, 251, 251,  65,  65,  65, 249,   0,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
     64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,  64,
};

/* The same classes as sip_span sets (generated from uri_class; test_sip
 * checks every octet of each against the table). */
const sip_charset sip_cs_uri_plain = {
    {0x2a, 0x3f, 0x3e, 0x3f, 0x3f, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x17, 0x15, 0x17, 0x35, 0x1d},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_PLAIN, false};
const sip_charset sip_cs_host = {
    {0x2a, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3c, 0x14, 0x14, 0x15, 0x15, 0x1c},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_HOST, false};
const sip_charset sip_cs_uri_param = {
    {0x2a, 0x3f, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x1d, 0x15, 0x1f, 0x35, 0x1d},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_PCHAR, false};
const sip_charset sip_cs_via_value = {
    {0x3a, 0x3f, 0x3e, 0x3e, 0x3e, 0x3f, 0x3e, 0x3f, 0x3e, 0x3e, 0x3f, 0x1d, 0x14, 0x1d, 0x35, 0x1c},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_VIAV, false};
const sip_charset sip_cs_qdtext = {
    {0x3f, 0x3f, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x3f, 0x3f, 0x1f},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_QD, true};
const sip_charset sip_cs_token_sp = {
    {0x3b, 0x3f, 0x3e, 0x3e, 0x3e, 0x3f, 0x3e, 0x3f, 0x3e, 0x3e, 0x3d, 0x15, 0x14, 0x15, 0x35, 0x1c},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_TOKSP, false};
const sip_charset sip_cs_v6 = {
    {0x02, 0x16, 0x16, 0x16, 0x16, 0x16, 0x16, 0x02, 0x02, 0x02, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    uri_class, UC_V6, false};

/* A value the fast paths walk: [floor, end) is readable, spans stop at end. */
typedef struct fast_val {
    const char *floor, *end;
} fast_val;

static inline const char *vspan(const fast_val *v, const char *p, const sip_charset *cs) {
    return sip_span(v->floor, p, v->end, cs);
}

/* host[:port][;params] from h, every octet a plain URI octet, no empty
 * parameter; returns where it ends (the first octet after it: the value's
 * end, or a terminator such as '>'), NULL if it is not that shape. No set
 * holds '>', so it never ends beyond the first '>'. */
static const char *fast_hostpart(const fast_val *sc, const char *h) {
    const char *q = h, *e = sc->end;
    if (q < e && *q == '[') {
        q = sip_span(sc->floor, q + 1, e, &sip_cs_v6);
        if (q >= e || *q != ']' || !ipv6_ok(h + 1, q)) return NULL;
        q++;
    } else {
        q = vspan(sc, q, &sip_cs_host);
        if (q == h || !host_edges_ok(h, (size_t)(q - h))) return NULL;
    }
    if (q < e && *q == ':') {
        const char *d = ++q;
        uint32_t v;
        q = port_digits(q, e, &v);
        if (q == d || v > 65535) return NULL;
    }
    while (q < e && *q == ';') { /* one non-empty parameter per step */
        const char *n = q + 1;
        q = vspan(sc, n, &sip_cs_uri_param);
        if (q == n) return NULL; /* ";;" or a trailing ';' */
    }
    return q;
}

/* After "sip:" / "sips:" at p: userinfo@host[:port][;params]. The userinfo
 * ends at the first '@': the plain-octet span (URI octets but '@') stops
 * there, or at the end of the URI when it has no userinfo. Returns where the
 * URI ends (see fast_hostpart), NULL if not that shape. */
static const char *fast_uri_end(const fast_val *sc, const char *p) {
    const char *q = vspan(sc, p, &sip_cs_uri_plain);
    if (q < sc->end && *q == '@') {
        if (q == p || *p == ':') return NULL; /* empty user */
        p = q + 1;
    }
    return fast_hostpart(sc, p);
}

/* [p, e) after "sip:": the whole range is one plain URI, no '?'. */
bool sip_fast_sip_uri(const char *f, const char *p, const char *e) {
    fast_val sc = {f, e};
    return fast_uri_end(&sc, p) == e;
}

/* <sip:...> starting at u (after '<'); *gt_out = the closing '>'. */
static bool fast_bracketed_uri(const fast_val *sc, const char *u, const char **gt_out) {
    const char *p, *e = sc->end;
    if (e - u > 4 && memcmp(u, "sip:", 4) == 0) p = u + 4;
    else if (e - u > 5 && memcmp(u, "sips:", 5) == 0) p = u + 5;
    else return false;
    const char *gt = fast_uri_end(sc, p);
    if (!gt || gt >= e || *gt != '>') return false;
    *gt_out = gt;
    return true;
}

/* The end of the parameter name at p when it is the lower-case literal lit
 * (any case) and the next octet ends a token (end, '=', ';' or SP), else
 * NULL: what the token span would find, without its latency, for the few
 * names nearly every message carries. */
static inline const char *known_name(const char *p, const char *e, const char *lit, size_t n) {
    if ((size_t)(e - p) < n || !sip_lower_eq_lit(p, lit, n)) return NULL;
    if (p + n < e && p[n] != '=' && p[n] != ';' && p[n] != ' ') return NULL;
    return p + n;
}
#define KNOWN_NAME(p, e, lit) known_name((p), (e), lit, sizeof(lit) - 1)

/* ;name[=token] ... with no empty item and "tag" at most once; expires=
 * checked when asked; *tag = the value of the tag=value (left alone when
 * there is none). */
static bool fast_header_params(const fast_val *sc, const char *p, bool check_expires, fs_str *tag) {
    const char *e = sc->end;
    bool seen_tag = false;
    while (p < e && *p == ' ')
        p++;
    while (p < e) {
        if (*p != ';') return false;
        for (p++; p < e && *p == ' '; p++) {
        }
        const char *n = p, *k = KNOWN_NAME(p, e, "tag");
        bool is_tag = k != NULL; /* a name "tag" followed by '=' is always found by KNOWN_NAME */
        if (is_tag && seen_tag) return false; /* a second tag: the full check's TAG_SYNTAX */
        seen_tag |= is_tag;
        p = k ? k : vspan(sc, p, &sip_cs_token);
        if (p == n) return false;
        size_t nlen = (size_t)(p - n);
        while (p < e && *p == ' ')
            p++;
        if (p < e && *p == '=') {
            for (p++; p < e && *p == ' '; p++) {
            }
            const char *vb = p;
            p = vspan(sc, p, &sip_cs_token);
            if (p == vb) return false;
            if (check_expires && nlen == 7 && sip_lower_eq_lit(n, "expires", 7) &&
                !delta_seconds_ok(fs_str_make(vb, (size_t)(p - vb))))
                return false;
            if (is_tag && !tag->p) *tag = fs_str_make(vb, (size_t)(p - vb));
            while (p < e && *p == ' ')
                p++;
        }
    }
    return true;
}

/* One name-addr: ["display" | tokens] <sip:...>[;params]. Declared in sip.h
 * (sip_parse runs it on From/To and leaves the verdict in the message). */
bool sip_fast_nameaddr(fs_str v, bool contact, fs_str *uri, fs_str *tag) {
    *tag = FS_STR_NULL;
    const char *p = v.p, *e = v.p + v.len;
    if (p < e && *p == '"') {
        p = sip_span(v.p, p + 1, e, &sip_cs_qdtext); /* stops at '"', '\\' or a CTL */
        if (p >= e || *p != '"') return false;
        for (p++; p < e && *p == ' '; p++) {
        }
    } else if (p < e && *p != '<') {
        p = sip_span(v.p, p, e, &sip_cs_token_sp);
    }
    if (p >= e || *p != '<') return false;
    fast_val sc = {v.p, e};
    const char *u = p + 1, *gt;
    if (!fast_bracketed_uri(&sc, u, &gt)) return false;
    *uri = fs_str_make(u, (size_t)(gt - u));
    return fast_header_params(&sc, gt + 1, contact, tag);
}

static bool fast_nameaddr(fs_str v, const sip_limits *lim, bool contact) {
    fs_str uri, tag;
    return sip_fast_nameaddr(v, contact, &uri, &tag) && !(lim->max_uri_len && uri.len > lim->max_uri_len);
}

/* SIP/2.0/TRANSPORT host[:port][;name[=value]]... without lists or quotes. */
bool sip_fast_via(fs_str v, fs_str *host, fs_str *branch) {
    const char *p = v.p, *e = v.p + v.len;
    if (v.len < 10 || memcmp(p, "SIP/2.0/", 8) != 0) return false;
    fast_val sc = {v.p, e};
    p += 8;
    const char *t = p;
    if (e - p > 3 && p[3] == ' ' && (memcmp(p, "UDP", 3) == 0 || memcmp(p, "TCP", 3) == 0))
        p += 3; /* what the token span finds, sooner */
    else
        p = vspan(&sc, p, &sip_cs_token);
    if (p == t || p >= e || *p != ' ') return false;
    const char *h = ++p;
    p = vspan(&sc, p, &sip_cs_host);
    if (p == h || !host_edges_ok(h, (size_t)(p - h))) return false; /* IPv6 sent-by: the full parser */
    *host = fs_str_make(h, (size_t)(p - h));
    if (p < e && *p == ':') {
        const char *d = ++p;
        uint32_t port;
        p = port_digits(p, e, &port);
        if (p == d || port > 65535) return false;
    }
    *branch = FS_STR_NULL;
    bool seen_branch = false;
    while (p < e) {
        if (*p != ';') return false;
        const char *n = ++p, *k;
        /* the names whose values via_params_ok checks ("branch" etc. followed
         * by '=' are always found by KNOWN_NAME; received= takes the IP
         * address span, branch= the token span); ttl and maddr, rare, take
         * the full check */
        enum { VP_OTHER, VP_BRANCH, VP_RPORT, VP_RECEIVED } kind = VP_OTHER;
        if ((k = KNOWN_NAME(p, e, "branch")) != NULL) kind = VP_BRANCH;
        else if ((k = KNOWN_NAME(p, e, "rport")) != NULL) kind = VP_RPORT;
        else if ((k = KNOWN_NAME(p, e, "received")) != NULL) kind = VP_RECEIVED;
        else {
            k = vspan(&sc, p, &sip_cs_token);
            if ((k - p == 3 && sip_lower_eq(p, "ttl", 3)) || (k - p == 5 && sip_lower_eq(p, "maddr", 5)))
                return false;
        }
        p = k;
        if (p == n) return false;
        if (kind == VP_BRANCH && seen_branch) return false; /* a second branch: the full check's VIA_SYNTAX */
        seen_branch |= kind == VP_BRANCH;
        if (p < e && *p == '=') {
            const char *vb = ++p;
            p = vspan(&sc, p, kind == VP_BRANCH ? &sip_cs_token : kind == VP_RECEIVED ? &sip_cs_v6 : &sip_cs_via_value);
            if (p == vb) return false;
            if (kind == VP_BRANCH) {
                if (branch->len == 0) *branch = fs_str_make(vb, (size_t)(p - vb));
            } else if (kind == VP_RECEIVED) {
                if (memchr(vb, ':', (size_t)(p - vb)) && !ip_addr_ok(vb, p)) return false; /* IPv6: the full check */
            } else if (kind == VP_RPORT) {
                uint32_t port;
                if (port_digits(vb, p, &port) != p || port > 65535) return false;
            }
        }
    }
    return true;
}

/* ---- name-addr headers ----------------------------------------------------------------- */

/* Trailing comma after the last list item. */
static bool trailing_comma(fs_str v) {
    v = trim(v);
    return v.len && v.p[v.len - 1] == ',';
}

/* tag-param = "tag" EQUAL token (RFC 3261 25.1). Leniently: TAG_SYNTAX only
 * for what is clearly broken or an injection attempt -- an empty ("tag=") or
 * quoted tag, whitespace, a CTL, or one of , < > " ; -- any other printable or
 * UTF-8 octet is taken (benign stacks put '/', '=', '@' ... in tags). */
static bool tag_ok(fs_str v, fs_str params) {
    if (!v.p) return true; /* ";tag" alone: no tag (sip_fast_nameaddr takes it too) */
    if (v.len == 0 || (v.p > params.p && v.p[-1] == '"')) return false;
    for (uint32_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c <= 0x20 || c == 0x7f || c == ',' || c == '<' || c == '>' || c == '"' || c == ';') return false;
    }
    return true;
}

/* A ',' outside quoted strings in From/To header parameters: a second
 * name-addr follows the first ("<sip:a@x>;tag=1, <sip:b@x>"). */
static bool params_have_comma(fs_str params) {
    const char *p = params.p, *e = params.p + params.len;
    for (; p < e; p++) {
        if (*p == ',') return true;
        if (*p == '"')
            for (p++; p < e && *p != '"'; p++)
                if (*p == '\\') p++;
    }
    return false;
}

static void check_from_to_full(sip_msg *m, sip_header_id id, const sip_limits *lim) {
    const sip_header *h = sip_first(m, id);
    if (!h) return;
    if (fast_nameaddr(h->value, lim, false)) return;
    sip_nameaddr na;
    sip_anomaly a = sip_nameaddr_check(h->value, &na);
    if (a != SIP_A_NONE) sip_msg_add_anomaly(m, a);
    /* From/To are single-valued: a comma list there is the same as two
     * From rows (RFC 3261 7.3.1), which RFC 4475 3.3.8 calls semantic --
     * after the first value's parameters or right after its '>' */
    fs_str list = h->value, item;
    if ((na.params.len && params_have_comma(na.params)) ||
        (sip_list_next(&list, &item) && sip_list_next(&list, &item)))
        ADD(m, MULTIPLE_SINGLE_VALUE);
    if (na.params.len) {
        /* a parameter name appears once (RFC 3261 7.3.1): of two tags, stacks
         * part ways on which one names the dialog (fs38 and Wireshark take
         * the first, a stack that keeps the last another) */
        fs_str rest = na.params, n, v;
        unsigned ntag = 0;
        while (sip_param_next(&rest, &n, &v))
            if (IEQ(n, "tag") && (++ntag > 1 || !tag_ok(v, na.params))) ADD(m, TAG_SYNTAX);
    }
    if (a == SIP_A_UNTERMINATED_QUOTE || na.uri.len == 0) return;
    sip_uri u;
    check_header_uri(m, na.uri, lim, true, &u);
    if (id == SIP_H_TO && m->method == SIP_M_REGISTER && m->is_request && u.headers.len)
        ADD(m, REGISTER_URI_PARAMS);
}

/* The first From (i 0) or To (i 1): nothing to do when sip_parse's
 * sip_fast_nameaddr passed it (m->pre_ok) within max_uri_len. */
static inline void check_from_to(sip_msg *m, sip_header_id id, unsigned i, const sip_limits *lim) {
    if ((m->pre_ok & (SIP_PRE_FROM << i)) && !(lim->max_uri_len && m->pre_uri[i].len > lim->max_uri_len)) return;
    check_from_to_full(m, id, lim);
}

/* "Contact: *" removes every binding of an address-of-record: only in a
 * REGISTER, with Expires: 0, and as its only contact (RFC 3261 10.2.2,
 * 20.10). Elsewhere it names no address a reply or a dialog could use:
 * stacks that took it for one crashed on it (PJSIP issue 1092). */
static bool wildcard_contact_ok(const sip_msg *m) {
    if (!m->is_request || m->method != SIP_M_REGISTER || m->count[SIP_H_CONTACT] != 1) return false;
    fs_str exp = trim(sip_header_value(m, SIP_H_EXPIRES));
    return exp.len == 1 && exp.p[0] == '0';
}

/* Headers whose URIs a next hop dials, or shows, that validate does not
 * judge otherwise (Refer-To, Referred-By, Diversion, History-Info,
 * P-Served-User): max_uri_len still bounds every URI in them, as it does
 * From's and Contact's (a REFER's target 1 KB long is as oversized). Their
 * grammar is left alone. A field no longer than the limit is not split. */
static void check_uri_lengths(sip_msg *m, sip_header_id id, const sip_limits *lim) {
    hdr_iter it = hdr_iter_of(m, id);
    const sip_header *h;
    while ((h = hdr_next(m, id, &it)) != NULL) {
        if (h->value.len <= lim->max_uri_len) continue;
        fs_str rest = h->value, item;
        while (sip_list_next(&rest, &item)) {
            sip_nameaddr na;
            if (!item.len || sip_nameaddr_check(item, &na) == SIP_A_UNTERMINATED_QUOTE) continue;
            if (trim(na.uri).len > lim->max_uri_len) {
                ADD(m, LIMIT_URI_LENGTH);
                return;
            }
        }
    }
}

/* A multi-valued name-addr header (Contact, Route, PAI ...). */
static void check_nameaddr_list(sip_msg *m, sip_header_id id, const sip_limits *lim, bool scheme_matters,
                                bool contact) {
    hdr_iter it = hdr_iter_of(m, id);
    const sip_header *h;
    while ((h = hdr_next(m, id, &it)) != NULL) {
        fs_str v = trim(h->value);
        if (contact && v.len == 1 && v.p[0] == '*') {
            if (!wildcard_contact_ok(m)) ADD(m, CONTACT_WILDCARD);
            continue;
        }
        if (v.len && !memchr(v.p, ',', v.len) && fast_nameaddr(v, lim, contact)) continue;
        if (v.len == 0 || trailing_comma(v)) ADD(m, HEADER_EMPTY_VALUE_ITEM);
        fs_str rest = v, item;
        while (sip_list_next(&rest, &item)) {
            if (item.len == 0) {
                ADD(m, HEADER_EMPTY_VALUE_ITEM);
                continue;
            }
            sip_nameaddr na;
            sip_anomaly a = sip_nameaddr_check(item, &na);
            if (a != SIP_A_NONE) sip_msg_add_anomaly(m, a);
            if (a == SIP_A_UNTERMINATED_QUOTE || na.uri.len == 0) continue;
            sip_uri u;
            check_header_uri(m, na.uri, lim, scheme_matters, &u);
            /* ";expires" with no '=' is a contact-extension (generic-param),
             * as sip_fast_nameaddr takes it; "expires=" with nothing is not */
            fs_str exp;
            if (contact && sip_param_get(na.params, "expires", &exp) && exp.p && !delta_seconds_ok(exp))
                ADD(m, SCALAR_RANGE);
        }
    }
}

/* ---- Via ---------------------------------------------------------------------------- */

bool sip_is_broadcast(fs_str host) { return host.len == 15 && memcmp(host.p, "255.255.255.255", 15) == 0; }
#define is_broadcast sip_is_broadcast

/* The RFC 3261 magic cookie, any case (as fs_str_istarts compared it). */
static bool has_cookie(fs_str branch) { return branch.len >= 7 && sip_lower_eq_lit(branch.p, "z9hg4bk", 7); }

static void top_branch(sip_msg *m, fs_str branch) {
    if (!has_cookie(branch)) {
        ADD(m, RFC2543_SYNTAX); /* no RFC 3261 transaction id: an RFC 2543 element */
    } else if (branch.len == 7) {
        ADD(m, VIA_BRANCH_NO_COOKIE); /* cookie alone: no transaction id after it */
    }
}

/* The parts of a Via value sip_via_parse takes as tokens (RFC 3261 20.42,
 * 25.1; RFC 3581): sent-by host is a hostname or an IPv6 reference; branch
 * a token (or absent: ";branch"); received an IP address; rport empty or a
 * port; ttl 0-255; maddr a host. Other parameters are generic (not looked
 * at). */
static bool digits_upto(fs_str v, uint32_t ndig, uint32_t max) {
    if (v.len == 0 || v.len > ndig) return false;
    uint32_t n = 0;
    for (uint32_t i = 0; i < v.len; i++) {
        if (!sip_is_digit((unsigned char)v.p[i])) return false;
        n = n * 10 + (uint32_t)(v.p[i] - '0');
    }
    return n <= max;
}

static bool via_values_ok(const sip_via *v) {
    if (!host_ok(v->host, v->host.p[-1] == '[')) return false; /* host.p follows "SIP/2.0/x " */
    if (sip_params_malformed(v->params)) return false;
    fs_str rest = v->params, n, val;
    bool seen_branch = false;
    while (sip_param_next(&rest, &n, &val)) {
        bool quoted = val.p && val.p > v->params.p && val.p[-1] == '"';
        if (IEQ(n, "branch")) {
            if (seen_branch) return false; /* twice (RFC 3261 7.3.1): which one is the transaction? */
            seen_branch = true;
            if (!val.p) continue; /* ";branch": no value, no transaction id (a NOTE elsewhere) */
            if (val.len == 0 || quoted) return false;
            for (uint32_t i = 0; i < val.len; i++)
                if (!sip_is_token((unsigned char)val.p[i])) return false;
        } else if (IEQ(n, "received")) {
            if (!val.p) continue; /* ";received" alone: a via-extension, as sip_fast_via takes it */
            if (!ip_addr_ok(val.p, val.p + val.len)) return false;
        } else if (IEQ(n, "rport")) {
            if (val.len && !digits_upto(val, 5, 65535)) return false;
        } else if (IEQ(n, "ttl")) {
            if (!digits_upto(val, 3, 255)) return false;
        } else if (IEQ(n, "maddr")) {
            bool v6 = val.len >= 2 && val.p[0] == '[' && val.p[val.len - 1] == ']';
            if (!host_ok(v6 ? fs_str_make(val.p + 1, val.len - 2) : val, v6)) return false;
        }
    }
    return true;
}

static void check_via(sip_msg *m) {
    hdr_iter it = hdr_iter_of(m, SIP_H_VIA);
    const sip_header *h;
    bool top = true;
    while ((h = hdr_next(m, SIP_H_VIA, &it)) != NULL) {
        fs_str host, branch;
        if (top && (m->pre_ok & SIP_PRE_VIA)) { /* sip_parse ran sip_fast_via on it */
            if (m->pre_ok & SIP_PRE_VIA_BCAST) ADD(m, VIA_BROADCAST);
            top = false;
            top_branch(m, m->via_branch);
            continue;
        }
        if (sip_fast_via(h->value, &host, &branch)) {
            if (is_broadcast(host)) ADD(m, VIA_BROADCAST);
            if (top) {
                top = false;
                top_branch(m, branch);
            }
            continue;
        }
        if (h->value.len == 0 || trailing_comma(h->value)) ADD(m, HEADER_EMPTY_VALUE_ITEM);
        if (sip_angle_hides(h->value)) ADD(m, VIA_SYNTAX); /* the values after it are hidden */
        fs_str rest = h->value, item;
        while (sip_list_next(&rest, &item)) {
            if (item.len == 0) {
                ADD(m, HEADER_EMPTY_VALUE_ITEM);
                continue;
            }
            sip_via v;
            if (!sip_via_parse(item, &v)) {
                ADD(m, VIA_SYNTAX);
                top = false;
                continue;
            }
            if (!via_values_ok(&v)) ADD(m, VIA_SYNTAX);
            if (sip_quote_open(v.params)) ADD(m, UNTERMINATED_QUOTE);
            if (v.empty_param) ADD(m, HEADER_EMPTY_VALUE_ITEM);
            if (is_broadcast(v.host)) ADD(m, VIA_BROADCAST);
            if (top) {
                top = false;
                top_branch(m, v.branch);
            }
        }
    }
}

static bool top_branch_rfc3261(const sip_msg *m) {
    return m->via_branch.len > 7 && has_cookie(m->via_branch);
}

/* ---- mandatory / single-value ------------------------------------------------------------- */

static void check_presence(sip_msg *m) {
    const uint8_t *n = m->count; /* each anomaly is recorded once, so one test per list */
    if (!n[SIP_H_TO] | !n[SIP_H_FROM] | !n[SIP_H_CALL_ID] | !n[SIP_H_CSEQ] | !n[SIP_H_VIA])
        ADD(m, MISSING_REQUIRED_HEADER);
    if (m->is_request && m->count[SIP_H_MAX_FORWARDS] == 0) {
        /* RFC 2543 had no Max-Forwards requirement: only a 3261 element must send it */
        if (top_branch_rfc3261(m))
            ADD(m, MISSING_REQUIRED_HEADER);
        else
            ADD(m, RFC2543_SYNTAX);
    }
    /* Expires, Date (RFC 3261 20.19, 20.17) and Session-Expires (RFC 4028
     * 4) hold one value too: a REGISTER with Expires 0 and 3600 removes the
     * binding at one element and keeps it at the next */
    if ((n[SIP_H_TO] > 1) | (n[SIP_H_FROM] > 1) | (n[SIP_H_CALL_ID] > 1) | (n[SIP_H_CSEQ] > 1) |
        (n[SIP_H_MAX_FORWARDS] > 1) | (n[SIP_H_CONTENT_TYPE] > 1) | (n[SIP_H_EXPIRES] > 1) | (n[SIP_H_DATE] > 1) |
        (n[SIP_H_SESSION_EXPIRES] > 1))
        ADD(m, MULTIPLE_SINGLE_VALUE);
}

/* ---- body, types, extensions ------------------------------------------------------------ */

static const word known_types[] = {W("application/sdp"),
                                   W("application/isup"),
                                   W("application/qsig"),
                                   W("application/dtmf-relay"),
                                   W("application/dtmf"),
                                   W("application/pidf+xml"),
                                   W("application/xpidf+xml"),
                                   W("application/simple-message-summary"),
                                   W("application/dialog-info+xml"),
                                   W("application/reginfo+xml"),
                                   W("application/resource-lists+xml"),
                                   W("application/rlmi+xml"),
                                   W("application/watcherinfo+xml"),
                                   W("application/im-iscomposing+xml"),
                                   W("application/conference-info+xml"),
                                   W("application/pkcs7-mime"),
                                   W("application/pkcs7-signature"),
                                   W("application/octet-stream"),
                                   W("application/xml"),
                                   W("application/json"),
                                   W("application/media_control+xml"),
                                   W("application/sipfrag"),
                                   W("application/x-private"),
                                   W("message/sipfrag"),
                                   W("message/sip"),
                                   W("message/cpim"),
                                   W("message/external-body"),
                                   W("text/plain"),
                                   W("text/html"),
                                   W("text/xml"),
                                   W("application/vnd.3gpp.sms"),
                                   W("application/vnd.3gpp.ussd+xml"),
                                   /* SIP bodies of IETF and 3GPP specifications, sent by
                                    * desk phones and IMS cores every day */
                                   W("application/vq-rtcpxr"),         /* RFC 6035 call quality PUBLISH */
                                   W("application/kpml-request+xml"),  /* RFC 4730 */
                                   W("application/kpml-response+xml"),
                                   W("application/pidf-diff+xml"),     /* RFC 5262 */
                                   W("application/xcap-diff+xml"),     /* RFC 5874 */
                                   W("application/3gpp-ims+xml"),      /* TS 24.229 7.6 */
                                   W("application/simservs+xml"),      /* TS 24.623 */
                                   W("application/csta+xml"),          /* ECMA-323 uaCSTA in INFO */
                                   W("message/imdn+xml"),              /* RFC 5438 */
                                   {NULL, 0}};


static bool known_content_type(fs_str type) {
    if (IEQ(type, "application/sdp") || ISTARTS(type, "multipart/")) return true;
    if (ISTARTS(type, "application/vnd.") &&
        (ISTARTS(type, "application/vnd.3gpp") || ISTARTS(type, "application/vnd.etsi") ||
         ISTARTS(type, "application/vnd.oma")))
        return true;
    return in_list(type, known_types);
}

static void check_body(sip_msg *m) {
    const sip_header *h = sip_first(m, SIP_H_CONTENT_TYPE);
    if (!h) {
        if (m->body.len) ADD(m, BODY_WITHOUT_TYPE);
        return;
    }
    char buf[SIP_MEDIA_TYPE_MAX];
    fs_str type = sip_media_type(h->value, buf, sizeof buf);
    if (!known_content_type(type)) ADD(m, CONTENT_TYPE_UNKNOWN);
    if (m->body.len && ISTARTS(type, "multipart/")) {
        uint32_t pos = 0;
        fs_str ph, pb;
        /* no first part, or no close delimiter: a body cut short, or parts
         * whose end a reader has to guess (libosip2 CVE-2017-7853, Kamailio
         * issue 4657: overreads there) */
        if (!sip_multipart_next(h->value, m->body, &pos, &ph, &pb) || !sip_multipart_closed(h->value, m->body))
            ADD(m, MULTIPART_SYNTAX);
    }
}

static const word known_options[] = {W("100rel"),
                                     W("timer"),
                                     W("replaces"),
                                     W("path"),
                                     W("gruu"),
                                     W("outbound"),
                                     W("precondition"),
                                     W("sec-agree"),
                                     W("norefersub"),
                                     W("join"),
                                     W("eventlist"),
                                     W("from-change"),
                                     W("histinfo"),
                                     W("answermode"),
                                     W("tdialog"),
                                     W("resource-priority"),
                                     W("early-session"),
                                     W("sdp-anat"),
                                     W("recipient-list-invite"),
                                     W("recipient-list-subscribe"),
                                     W("recipient-list-message"),
                                     W("multiple-refer"),
                                     W("pref"),
                                     W("siprec"),
                                     W("199"),
                                     W("record-aware"),
                                     W("policy"),
                                     W("ice"),
                                     W("explicitsub"),
                                     W("nosub"),
                                     W("uui"),
                                     W("geolocation-sip"),
                                     W("geolocation-http"),
                                     W("privacy"),
                                     W("target-dialog"),
                                     W("info-package"),
                                     W("trickle-ice"),
                                     W("sdp-offer"),
                                     W("gin"),        /* RFC 6140: a PBX's REGISTER for its numbers */
                                     W("content-id"), /* RFC 8262 */
                                     {NULL, 0}};

static void check_require(sip_msg *m, sip_header_id id) {
    hdr_iter it = hdr_iter_of(m, id);
    const sip_header *h;
    while ((h = hdr_next(m, id, &it)) != NULL) {
        fs_str rest = h->value, item;
        while (sip_list_next(&rest, &item))
            if (item.len && !in_list(item, known_options)) ADD(m, UNKNOWN_REQUIRE);
    }
}

static void check_auth(sip_msg *m, sip_header_id id) {
    hdr_iter it = hdr_iter_of(m, id);
    const sip_header *h;
    while ((h = hdr_next(m, id, &it)) != NULL) {
        fs_str v = h->value;
        uint32_t i = 0;
        while (i < v.len && sip_is_token((unsigned char)v.p[i]))
            i++;
        fs_str scheme = fs_str_make(v.p, i);
        if (!IEQ(scheme, "digest") && !IEQ(scheme, "bearer"))
            ADD(m, AUTH_SCHEME_UNKNOWN);
    }
}

/* An SDP offer in a request whose Accept lists no media range covering it. */
static void check_accept(sip_msg *m) {
    if (!m->is_request || m->body.len == 0 || m->count[SIP_H_ACCEPT] == 0) return;
    char buf[SIP_MEDIA_TYPE_MAX];
    fs_str ct = sip_media_type(sip_header_value(m, SIP_H_CONTENT_TYPE), buf, sizeof buf);
    if (!IEQ(ct, "application/sdp")) return;
    hdr_iter it = hdr_iter_of(m, SIP_H_ACCEPT);
    const sip_header *h;
    while ((h = hdr_next(m, SIP_H_ACCEPT, &it)) != NULL) {
        fs_str rest = h->value, item;
        if (trim(rest).len == 0) return; /* empty Accept: nothing declared */
        while (sip_list_next(&rest, &item)) {
            char ibuf[SIP_MEDIA_TYPE_MAX];
            fs_str t = sip_media_type(item, ibuf, sizeof ibuf);
            if (IEQ(t, "application/sdp") || IEQ(t, "application/*") || IEQ(t, "*/*"))
                return;
        }
    }
    ADD(m, ACCEPT_NO_SDP);
}

/* ---- entry point ---------------------------------------------------------------------- */

void sip_validate(sip_msg *m, const sip_limits *lim) {
    sip_limits dl;
    if (!lim) {
        sip_limits_default(&dl);
        lim = &dl;
    }
    if (m->is_request) {
        check_ruri(m);
        if (m->cseq_method_str.len && !str_eq(m->cseq_method_str, m->method_str))
            ADD(m, CSEQ_METHOD_MISMATCH);
        if (m->max_forwards == 0) ADD(m, MAX_FORWARDS_ZERO);
    }
    check_presence(m);
    check_via(m);
    check_from_to(m, SIP_H_FROM, 0, lim);
    check_from_to(m, SIP_H_TO, 1, lim);
    if (m->count[SIP_H_CONTACT]) check_nameaddr_list(m, SIP_H_CONTACT, lim, true, true);
    if (m->count[SIP_H_ROUTE]) check_nameaddr_list(m, SIP_H_ROUTE, lim, false, false);
    if (m->count[SIP_H_RECORD_ROUTE]) check_nameaddr_list(m, SIP_H_RECORD_ROUTE, lim, false, false);
    if (m->count[SIP_H_P_ASSERTED_IDENTITY])
        check_nameaddr_list(m, SIP_H_P_ASSERTED_IDENTITY, lim, false, false);
    if (m->count[SIP_H_P_PREFERRED_IDENTITY])
        check_nameaddr_list(m, SIP_H_P_PREFERRED_IDENTITY, lim, false, false);
    /* every field, not the first only: a second Expires or an empty second
     * Warning (sngrep issue 541) is read by the next hop as much as the first */
    if (m->count[SIP_H_EXPIRES] | m->count[SIP_H_RETRY_AFTER] | m->count[SIP_H_WARNING] | m->count[SIP_H_DATE]) {
        hdr_iter it;
        const sip_header *h;
        for (it = hdr_iter_of(m, SIP_H_EXPIRES); (h = hdr_next(m, SIP_H_EXPIRES, &it));) check_expires(m, h->value);
        for (it = hdr_iter_of(m, SIP_H_RETRY_AFTER); (h = hdr_next(m, SIP_H_RETRY_AFTER, &it));)
            check_retry_after(m, h->value);
        for (it = hdr_iter_of(m, SIP_H_WARNING); (h = hdr_next(m, SIP_H_WARNING, &it));) check_warning(m, h->value);
        for (it = hdr_iter_of(m, SIP_H_DATE); (h = hdr_next(m, SIP_H_DATE, &it));)
            if (!date_ok(h->value)) ADD(m, DATE_SYNTAX);
    }
    check_body(m);
    if (m->count[SIP_H_REQUIRE]) check_require(m, SIP_H_REQUIRE);
    if (m->count[SIP_H_PROXY_REQUIRE]) check_require(m, SIP_H_PROXY_REQUIRE);
    if (m->count[SIP_H_AUTHORIZATION]) check_auth(m, SIP_H_AUTHORIZATION);
    if (m->count[SIP_H_PROXY_AUTHORIZATION]) check_auth(m, SIP_H_PROXY_AUTHORIZATION);
    check_accept(m);
    if (lim->max_uri_len) {
        static const sip_header_id dialled[] = {SIP_H_REFER_TO, SIP_H_REFERRED_BY, SIP_H_DIVERSION,
                                                SIP_H_HISTORY_INFO, SIP_H_P_SERVED_USER};
        for (size_t i = 0; i < sizeof dialled / sizeof dialled[0]; i++)
            if (m->count[dialled[i]]) check_uri_lengths(m, dialled[i], lim);
    }
}
