/*
 * sip.h -- the SIP message parser (RFC 3261 grammar, 3GPP/IMS headers).
 *
 * Owns: turning bytes into a sip_msg (a header index of slices into the
 * caller's buffer), the anomaly codes that describe what is wrong with a
 * message, and lazy helpers that parse one header value on demand (URIs,
 * name-addr, Via, parameters, SDP summary, multipart parts).
 * Must not touch: sockets, files, detection policy, event output, the heap.
 *
 * The hot path (sip_parse) is single pass, zero copy and allocation free:
 * every fs_str in a sip_msg points into the buffer given to sip_parse, which
 * must outlive the message. Exceeding a configured limit records an anomaly
 * and never crashes. sip_validate() runs the deeper grammar checks (URIs,
 * name-addr, scalar ranges, Date ...) that an inspector wants on every message
 * but a proxy may skip.
 */
#ifndef FS_SIP_H
#define FS_SIP_H

#include "../core/fs_core.h"

/* ---- limits ------------------------------------------------------------- */

#define SIP_MAX_HEADERS 256   /* hard cap on the index size (compile time) */
/* Room for every anomaly code (each is recorded once): a message that
 * collects many protocol codes and notes must not push out a later
 * malformed or limit one (a 17th code, an oversized Refer-To, was lost). */
#define SIP_MAX_ANOMALIES 64

typedef struct sip_limits {
    uint32_t max_message;    /* bytes, start line to end of body (default 65535) */
    uint16_t max_headers;    /* header fields (default 128, <= SIP_MAX_HEADERS) */
    uint32_t max_header_len; /* one header field incl. folding (default 4096) */
    uint32_t max_uri_len;    /* Request-URI and URIs checked by validate (default 1024) */
} sip_limits;

void sip_limits_default(sip_limits *l);

/* ---- character classes (RFC 3261 25.1) -------------------------------- */

/* One read-only table shared by the parser and the validators. */
enum { SIP_CC_TOKEN = 1, SIP_CC_WSP = 2, SIP_CC_DIGIT = 4, SIP_CC_ALPHA = 8, SIP_CC_HEX = 16, SIP_CC_CALLID = 32 };
extern const uint8_t sip_ctype[256];
static inline bool sip_is_token(unsigned char c) { return sip_ctype[c] & SIP_CC_TOKEN; }
static inline bool sip_is_wsp(unsigned char c) { return sip_ctype[c] & SIP_CC_WSP; }  /* SP HTAB CR LF */
static inline bool sip_is_digit(unsigned char c) { return sip_ctype[c] & SIP_CC_DIGIT; }

/* sip_skip_out: first octet of [p, e) whose class in t has one of bits (e if
 * none), for the slower paths' stop-octet scans. Eight octets per step: their
 * classes are gathered into one word and the first stop found with a count
 * of trailing zeros; the last < 8 octets go one at a time. (The hot paths
 * use sip_span below.) */
static inline uint64_t sip_class8_(const unsigned char *u, const uint8_t *t) {
    return (uint64_t)t[u[0]] | (uint64_t)t[u[1]] << 8 | (uint64_t)t[u[2]] << 16 | (uint64_t)t[u[3]] << 24 |
           (uint64_t)t[u[4]] << 32 | (uint64_t)t[u[5]] << 40 | (uint64_t)t[u[6]] << 48 |
           (uint64_t)t[u[7]] << 56;
}
static inline unsigned sip_ctz64_(uint64_t x) {
#if defined(__GNUC__)
    return (unsigned)__builtin_ctzll(x);
#else
    unsigned n = 0;
    while (!(x & 1)) x >>= 1, n++;
    return n;
#endif
}
static inline const char *sip_skip_out(const char *p, const char *e, const uint8_t *t, uint8_t bits) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (e - p >= 8) {
        uint64_t x = sip_class8_((const unsigned char *)p, t) & (ones * bits);
        uint64_t some = (((x & ~highs) + ~highs) | x) & highs; /* octets with one of bits */
        if (some) return p + (sip_ctz64_(some) >> 3);
        p += 8;
    }
    while (p < e && !(t[(unsigned char)*p] & bits)) p++;
    return p;
}

/* A set of octets for sip_span (sip_scan.c). An ASCII octet c is in it when
 * hi[c >> 4] & lo[c & 15] is not 0; octets >= 0x80 are in iff high. table &
 * bits is the same set for the byte-at-a-time path. */
typedef struct sip_charset {
    uint8_t lo[16];
    uint8_t hi[16];
    const uint8_t *table;
    uint8_t bits;
    bool high;
} sip_charset;
extern const sip_charset sip_cs_token;     /* RFC 3261 token */
extern const sip_charset sip_cs_callid;    /* Call-ID octet but '@': VCHAR, >= 0x80 */
/* The fast paths' URI classes (sip_validate.c; see uri_class there): */
extern const sip_charset sip_cs_uri_plain; /* plain userinfo octet (no '@' '%' [ ] ^ ` { | }) */
extern const sip_charset sip_cs_host;      /* alnum - . _ */
extern const sip_charset sip_cs_uri_param; /* URI octet other than ; @ ^ ` { | } */
extern const sip_charset sip_cs_via_value; /* token : [ ] */
extern const sip_charset sip_cs_qdtext;    /* not '"', '\\', CTL (0x80-0xff in) */
extern const sip_charset sip_cs_token_sp;  /* token or SP */
extern const sip_charset sip_cs_v6;        /* hex digit : . */
/* First octet of [p, e) not in cs, e if none. floor <= p: [floor, e) is
 * readable (lets the last block be loaded whole; pass p if unsure). The
 * SSSE3 body is in sip_scan.c; only this test and the byte loop are inline. */
#if defined(__x86_64__) && defined(__GNUC__)
#define SIP_SPAN_SSSE3 1
const char *sip_span_ssse3(const char *floor, const char *p, const char *e, const sip_charset *cs);
#endif
static inline const char *sip_span(const char *floor, const char *p, const char *e, const sip_charset *cs) {
#ifdef SIP_SPAN_SSSE3
    if (e - floor >= 16 && __builtin_cpu_supports("ssse3")) return sip_span_ssse3(floor, p, e, cs);
#endif
    (void)floor;
    while (p < e && (cs->table[(unsigned char)*p] & cs->bits)) p++;
    return p;
}

/* p (n bytes, any case) equals the lower-case literal lower of the same
 * length: ASCII case-insensitive, for short fixed names on hot paths. */
static inline bool sip_lower_eq(const char *p, const char *lower, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((unsigned)(c - 'A') < 26u) c = (unsigned char)(c + 32);
        if (c != (unsigned char)lower[i]) return false;
    }
    return true;
}

/* sip_lower_eq for a literal lower whose octets are lower-case letters or
 * octets below 0x40 (digits, '-', '/', '.', '*', '+'), a word at a time: p
 * may differ from lower only in bit 0x20 and only where lower holds a letter
 * (bit 0x40 set), which is exactly ASCII case folding for such literals.
 * Reads only [p, p + n), like sip_lower_eq. */
static inline uint64_t sip_ld_(const char *p, size_t n) {
    uint64_t v = 0;
    if (n == 8) { uint64_t x; memcpy(&x, p, 8); v = x; }
    else if (n == 4) { uint32_t x; memcpy(&x, p, 4); v = x; }
    else { uint16_t x; memcpy(&x, p, 2); v = x; }
    return v;
}
static inline bool sip_leq_w_(const char *p, const char *lower, size_t w) {
    uint64_t a = sip_ld_(p, w), b = sip_ld_(lower, w);
    return !((a ^ b) & ~((b & 0x4040404040404040ULL) >> 1));
}
static inline bool sip_lower_eq_lit(const char *p, const char *lower, size_t n) {
    size_t w = n >= 8 ? 8 : n >= 4 ? 4 : 2;
    if (n < 2) return sip_lower_eq(p, lower, n);
    for (size_t i = 0; i + w < n; i += w)
        if (!sip_leq_w_(p + i, lower + i, w)) return false;
    return sip_leq_w_(p + n - w, lower + n - w, w);
}

/* ---- methods ------------------------------------------------------------ */

#define SIP_METHODS(X) \
    X(UNKNOWN, "")     \
    X(INVITE, "INVITE") \
    X(ACK, "ACK")       \
    X(BYE, "BYE")       \
    X(CANCEL, "CANCEL") \
    X(OPTIONS, "OPTIONS") \
    X(REGISTER, "REGISTER") \
    X(PRACK, "PRACK")   \
    X(SUBSCRIBE, "SUBSCRIBE") \
    X(NOTIFY, "NOTIFY") \
    X(PUBLISH, "PUBLISH") \
    X(INFO, "INFO")     \
    X(REFER, "REFER")   \
    X(MESSAGE, "MESSAGE") \
    X(UPDATE, "UPDATE")

typedef enum sip_method {
#define SIP_M_ENUM(id, s) SIP_M_##id,
    SIP_METHODS(SIP_M_ENUM)
#undef SIP_M_ENUM
    SIP_M__COUNT
} sip_method;

const char *sip_method_name(sip_method m); /* "INVITE"; "" for UNKNOWN */
sip_method sip_method_lookup(fs_str s);    /* case-sensitive as RFC 3261 says */

/* ---- header ids ------------------------------------------------------------ */

/* Known headers get an id so detectors find them in O(1). Compact forms map
 * to the same id. Everything else is SIP_H_OTHER and still indexed by name. */
#define SIP_HEADERS(X)                                           \
    X(OTHER, "")                                                 \
    X(VIA, "Via")                                                \
    X(FROM, "From")                                              \
    X(TO, "To")                                                  \
    X(CALL_ID, "Call-ID")                                        \
    X(CSEQ, "CSeq")                                              \
    X(CONTACT, "Contact")                                        \
    X(MAX_FORWARDS, "Max-Forwards")                              \
    X(CONTENT_LENGTH, "Content-Length")                          \
    X(CONTENT_TYPE, "Content-Type")                              \
    X(CONTENT_ENCODING, "Content-Encoding")                      \
    X(USER_AGENT, "User-Agent")                                  \
    X(SERVER, "Server")                                          \
    X(ROUTE, "Route")                                            \
    X(RECORD_ROUTE, "Record-Route")                              \
    X(EXPIRES, "Expires")                                        \
    X(AUTHORIZATION, "Authorization")                            \
    X(PROXY_AUTHORIZATION, "Proxy-Authorization")                \
    X(WWW_AUTHENTICATE, "WWW-Authenticate")                      \
    X(PROXY_AUTHENTICATE, "Proxy-Authenticate")                  \
    X(WARNING, "Warning")                                        \
    X(ALLOW, "Allow")                                            \
    X(SUPPORTED, "Supported")                                    \
    X(REQUIRE, "Require")                                        \
    X(PROXY_REQUIRE, "Proxy-Require")                            \
    X(ACCEPT, "Accept")                                          \
    X(DATE, "Date")                                              \
    X(SUBJECT, "Subject")                                        \
    X(EVENT, "Event")                                            \
    X(REFER_TO, "Refer-To")                                      \
    X(REFERRED_BY, "Referred-By")                                \
    X(RETRY_AFTER, "Retry-After")                                \
    X(REASON, "Reason")                                          \
    X(DIVERSION, "Diversion")                                    \
    X(SESSION_EXPIRES, "Session-Expires")                        \
    X(MIME_VERSION, "MIME-Version")                              \
    X(P_ASSERTED_IDENTITY, "P-Asserted-Identity")                \
    X(P_PREFERRED_IDENTITY, "P-Preferred-Identity")              \
    X(P_ACCESS_NETWORK_INFO, "P-Access-Network-Info")            \
    X(P_VISITED_NETWORK_ID, "P-Visited-Network-ID")              \
    X(P_CHARGING_VECTOR, "P-Charging-Vector")                    \
    X(P_CHARGING_FUNCTION_ADDRESSES, "P-Charging-Function-Addresses") \
    X(P_SERVED_USER, "P-Served-User")                            \
    X(HISTORY_INFO, "History-Info")                              \
    X(IDENTITY, "Identity")                                      \
    X(PRIVACY, "Privacy")                                        \
    X(RESOURCE_PRIORITY, "Resource-Priority")                    \
    X(ALLOW_EVENTS, "Allow-Events")                              \
    X(ACCEPT_CONTACT, "Accept-Contact")                          \
    X(REJECT_CONTACT, "Reject-Contact")                          \
    X(REQUEST_DISPOSITION, "Request-Disposition")                \
    X(SECURITY_CLIENT, "Security-Client")                        \
    X(SECURITY_SERVER, "Security-Server")                        \
    X(SECURITY_VERIFY, "Security-Verify")

typedef enum sip_header_id {
#define SIP_H_ENUM(id, s) SIP_H_##id,
    SIP_HEADERS(SIP_H_ENUM)
#undef SIP_H_ENUM
    SIP_H__COUNT
} sip_header_id;

const char *sip_header_name(sip_header_id id);  /* canonical long name */
sip_header_id sip_header_lookup(fs_str name);   /* case-insensitive, compact forms too */

/* ---- anomalies ----------------------------------------------------------- */

/* Class tells the detector which event type an anomaly belongs to:
 *   MALFORMED -> SIP_MALFORMED (the grammar is broken; RFC 4475 "invalid")
 *   PROTOCOL  -> SIP_PROTOCOL_VIOLATION (parses, but RFC 3261 makes it an error)
 *   LIMIT     -> SIP_MALFORMED with the oversized detail (a configured bound)
 *   NOTE      -> informational, no event on its own (e.g. RFC 2543 syntax) */
typedef enum sip_anomaly_class {
    SIP_AC_MALFORMED,
    SIP_AC_PROTOCOL,
    SIP_AC_LIMIT,
    SIP_AC_NOTE
} sip_anomaly_class;

/* X(code, class, description). Codes are stable: they appear in events
 * (evidence.details.anomalies) and in docs/rules.md. Add, never rename. */
#define SIP_ANOMALIES(X)                                                              \
    X(NONE, NOTE, "no anomaly")                                                       \
    X(NOT_SIP, MALFORMED, "not a SIP message (no valid start line)")                  \
    X(START_LINE_SYNTAX, MALFORMED, "request/status line does not follow RFC 3261")   \
    X(REQUEST_LINE_WHITESPACE, MALFORMED, "extra or trailing whitespace in the request line") \
    X(RURI_SYNTAX, MALFORMED, "Request-URI is malformed")                             \
    X(RURI_ANGLE_BRACKETS, MALFORMED, "Request-URI enclosed in <>")                   \
    X(RURI_ESCAPED_HEADERS, MALFORMED, "Request-URI carries URI headers (?...)")      \
    X(VERSION_UNSUPPORTED, MALFORMED, "SIP version is not SIP/2.0")                   \
    X(STATUS_CODE_RANGE, MALFORMED, "status code is not 100-699")                     \
    X(HEADER_SYNTAX, MALFORMED, "a header line has no name or no colon")             \
    X(HEADER_EMPTY_VALUE_ITEM, MALFORMED, "empty item or parameter in a header value (extra separators)") \
    X(UNTERMINATED_QUOTE, MALFORMED, "quoted string not terminated")                  \
    X(DISPLAY_NAME_SYNTAX, MALFORMED, "display name has non-token characters and is not quoted") \
    X(ADDR_SPEC_SPACES, MALFORMED, "whitespace inside an addr-spec / <uri>")          \
    X(NAME_ADDR_UNBRACKETED, MALFORMED, "URI with ? or ; must be enclosed in <>")     \
    X(URI_SYNTAX, MALFORMED, "a URI in a header is malformed")                        \
    X(CSEQ_SYNTAX, MALFORMED, "CSeq is not 'number method'")                          \
    X(CSEQ_RANGE, MALFORMED, "CSeq number exceeds 2**31")                             \
    X(CSEQ_METHOD_MISMATCH, MALFORMED, "CSeq method differs from the request method") \
    X(CONTENT_LENGTH_SYNTAX, MALFORMED, "Content-Length is not a non-negative integer") \
    X(CONTENT_LENGTH_EXCEEDS, MALFORMED, "Content-Length larger than the bytes present") \
    X(MAX_FORWARDS_SYNTAX, MALFORMED, "Max-Forwards is not an integer 0-255")         \
    X(SCALAR_RANGE, MALFORMED, "a numeric header value (Expires, Retry-After, expires=, Warning code) is out of range") \
    X(VIA_SYNTAX, MALFORMED, "Via is malformed")                                       \
    X(DATE_SYNTAX, MALFORMED, "Date is not an RFC 1123 date in GMT")                  \
    X(HEADERS_UNTERMINATED, MALFORMED, "no empty line ends the header section")      \
    X(MISSING_REQUIRED_HEADER, PROTOCOL, "a mandatory header (To, From, Call-ID, CSeq, Via, Max-Forwards) is missing") \
    X(MULTIPLE_SINGLE_VALUE, PROTOCOL, "a single-value header appears more than once") \
    X(CONTENT_LENGTH_MULTIPLE, PROTOCOL, "several Content-Length values")              \
    X(CONTENT_LENGTH_MISMATCH, PROTOCOL, "Content-Length differs from the body length") \
    X(VIA_BRANCH_NO_COOKIE, PROTOCOL, "top Via branch lacks the z9hG4bK magic cookie") \
    X(VIA_BROADCAST, PROTOCOL, "Via sent-by is a broadcast address")                  \
    X(MAX_FORWARDS_ZERO, PROTOCOL, "Max-Forwards is 0 on a request that would be forwarded") \
    X(RURI_UNKNOWN_SCHEME, PROTOCOL, "Request-URI scheme is not sip/sips/tel")        \
    X(URI_UNKNOWN_SCHEME, PROTOCOL, "a From/To/Contact URI has a non-SIP scheme")      \
    X(METHOD_UNKNOWN, PROTOCOL, "request method is not a registered SIP method")      \
    X(BODY_WITHOUT_TYPE, PROTOCOL, "body present without Content-Type")               \
    X(CONTENT_TYPE_UNKNOWN, PROTOCOL, "body of a type the inspector does not know")   \
    X(UNKNOWN_REQUIRE, PROTOCOL, "Require/Proxy-Require names an unknown extension")   \
    X(AUTH_SCHEME_UNKNOWN, PROTOCOL, "Authorization scheme is not Digest")            \
    X(REGISTER_URI_PARAMS, PROTOCOL, "REGISTER To/Request-URI carries URI params or headers") \
    X(ACCEPT_NO_SDP, PROTOCOL, "INVITE with SDP offer but Accept excludes application/sdp") \
    X(MULTIPART_SYNTAX, MALFORMED, "multipart body without its boundary")             \
    X(LIMIT_MESSAGE_SIZE, LIMIT, "message larger than limits.max_message")            \
    X(LIMIT_HEADER_COUNT, LIMIT, "more header fields than limits.max_headers")        \
    X(LIMIT_HEADER_LENGTH, LIMIT, "a header field longer than limits.max_header_len") \
    X(LIMIT_URI_LENGTH, LIMIT, "a URI longer than limits.max_uri_len")                \
    X(RFC2543_SYNTAX, NOTE, "RFC 2543 era syntax accepted for backward compatibility") \
    X(TRAILING_DATA, NOTE, "bytes after the message in the datagram (ignored, RFC 3261 18.3)") \
    X(BARE_LF, NOTE, "lines end in LF instead of CRLF")                                \
    X(KEEPALIVE, NOTE, "only CRLF keep-alives, no message (RFC 5626 ping)")            \
    X(RURI_ATYPICAL_SCHEME, NOTE, "Request-URI uses a registered non-SIP scheme (RFC 4475 3.3.3)") \
    X(CALL_ID_SYNTAX, MALFORMED, "Call-ID is empty, holds whitespace or a control character, or more than one '@'") \
    X(TAG_SYNTAX, MALFORMED, "From/To tag is empty, given twice, or holds whitespace, a control character or one of , < > \" ;") \
    X(CONTROL_CHARACTER, MALFORMED, "raw control character (CTL other than HTAB, not escaped) in a header value") \
    X(CONTACT_WILDCARD, PROTOCOL, "Contact: * outside a REGISTER with Expires: 0 and no other contact")

typedef enum sip_anomaly {
#define SIP_A_ENUM(code, cls, desc) SIP_A_##code,
    SIP_ANOMALIES(SIP_A_ENUM)
#undef SIP_A_ENUM
    SIP_A__COUNT
} sip_anomaly;

const char *sip_anomaly_name(sip_anomaly a);        /* "CSEQ_METHOD_MISMATCH" */
const char *sip_anomaly_desc(sip_anomaly a);
sip_anomaly_class sip_anomaly_class_of(sip_anomaly a);

/* ---- the message ------------------------------------------------------------ */

typedef struct sip_header {
    fs_str name;   /* as written (may be compact) */
    fs_str value;  /* trimmed; may span folded lines (CRLF + WSP inside) */
    uint8_t id;    /* sip_header_id */
} sip_header;

typedef struct sip_msg {
    fs_str raw;            /* start line .. end of body (msg_len bytes) */
    uint32_t msg_len;      /* bytes this message occupies in the input (framing) */
    bool is_request;

    /* request line */
    uint8_t method;        /* sip_method */
    fs_str method_str;
    fs_str ruri;
    fs_str version;
    /* status line */
    uint16_t status;
    fs_str reason;

    /* header index, in order of appearance */
    uint16_t nhdr;
    int16_t first[SIP_H__COUNT]; /* index into hdr of the first such header, -1 if absent */
    uint8_t count[SIP_H__COUNT]; /* how many header fields with this id (saturates at 255) */
    sip_header hdr[SIP_MAX_HEADERS];

    fs_str body;

    /* core fields decoded by sip_parse (empty/-1 when absent or broken) */
    fs_str call_id;
    uint32_t cseq;         /* 0 if absent/broken */
    uint8_t cseq_method;   /* sip_method */
    fs_str cseq_method_str;
    int64_t content_length; /* -1 absent */
    int32_t max_forwards;   /* -1 absent */
    fs_str from;            /* whole From value */
    fs_str from_tag;
    fs_str to;
    fs_str to_tag;
    fs_str via_branch;      /* top Via */
    fs_str user_agent;      /* User-Agent, or Server on responses */

    /* sip_parse's verdicts for sip_validate, so it need not scan again:
     * SIP_PRE_* bits = the first From / To / Via value or the Request-URI
     * matched the plain grammar of sip_fast_nameaddr / sip_fast_via /
     * sip_fast_sip_uri; pre_uri = that From / To URI, the sip: or sips:
     * URI inside <> (validate applies its own max_uri_len). */
    uint8_t pre_ok;
    fs_str pre_uri[2];

    /* anomalies in the order found, each code once (all of them fit) */
    uint8_t nanom;
    uint16_t anom_total;
    uint8_t anom[SIP_MAX_ANOMALIES];
} sip_msg;

typedef enum sip_parse_status {
    SIP_PARSE_OK = 0,      /* a message was found; it may still carry anomalies */
    SIP_PARSE_INCOMPLETE,  /* stream mode: need more bytes (headers or body not complete) */
    SIP_PARSE_ERROR        /* not parseable as SIP; anom[0] says why, msg_len says how much to skip */
} sip_parse_status;

enum sip_parse_flags {
    SIP_PARSE_DATAGRAM = 0,   /* UDP/HEP: the buffer is one datagram; no CL means "to the end" */
    SIP_PARSE_STREAM = 1u << 0 /* TCP/TLS: Content-Length frames the body; may be INCOMPLETE */
};

/* Parse one message from buf. Never reads past buf+len, never allocates.
 * Leading CRLFs are skipped (counted in msg_len). SIP_PARSE_ERROR carries one
 * of NOT_SIP, KEEPALIVE (only CRLFs: msg_len = their count) or, in stream
 * mode, LIMIT_MESSAGE_SIZE (a message that cannot fit: skip msg_len = len).
 * Datagram mode: bytes after a Content-Length framed body are not part of
 * the message (TRAILING_DATA; msg_len stops at the body). lim may be NULL
 * (defaults). A 0 limit: max_message 65535, max_headers SIP_MAX_HEADERS,
 * max_header_len and max_uri_len unchecked. */
sip_parse_status sip_parse(sip_msg *m, const char *buf, size_t len, const sip_limits *lim,
                           unsigned flags);
/* The first Call-ID of the message in buf, found without parsing it (the
 * reader of several workers claims new calls by it, in capture order): the
 * value sip_parse gives when that header is on one line; false for a folded
 * one, none before the empty line, or one whose line is not followed by
 * another inside buf (buf may be a TCP segment that stops there, and the
 * value or a folded continuation go on in the next). Reads only
 * [buf, buf + len). */
bool sip_peek_call_id(const char *buf, size_t len, fs_str *call_id);

/* Deeper RFC 3261 checks on a parsed message; appends anomalies to m. */
void sip_validate(sip_msg *m, const sip_limits *lim);

void sip_msg_add_anomaly(sip_msg *m, sip_anomaly a); /* dedups */
bool sip_msg_has_anomaly(const sip_msg *m, sip_anomaly a);

/* Header access. */
static inline const sip_header *sip_first(const sip_msg *m, sip_header_id id) {
    return m->first[id] < 0 ? NULL : &m->hdr[m->first[id]];
}
fs_str sip_header_value(const sip_msg *m, sip_header_id id);          /* first, or empty */
const sip_header *sip_header_find(const sip_msg *m, const char *name); /* by name, any header */
/* Iterate all headers with id: start with *pos = 0; returns NULL at the end. */
const sip_header *sip_header_next(const sip_msg *m, sip_header_id id, uint16_t *pos);

/* ---- plain-shape fast paths (shared by sip_parse and sip_validate) ------------ */

/* Most traffic is plain: ["display"] <sip:user@host:port;lr>;tag=x and
 * SIP/2.0/UDP host:port;branch=... These recognise that shape in one pass and
 * answer true only for values the full checks pass without any anomaly;
 * false means "take the full checks", not "broken". */
enum { SIP_PRE_FROM = 1, SIP_PRE_TO = 2, SIP_PRE_VIA = 4, SIP_PRE_VIA_BCAST = 8, SIP_PRE_RURI = 16 };
/* v: one trimmed name-addr; contact: also check expires=. *uri = the URI
 * inside <> (sip: or sips:), *tag = the first tag= value (empty if none). */
bool sip_fast_nameaddr(fs_str v, bool contact, fs_str *uri, fs_str *tag);
/* v: one Via value; *host = sent-by host, *branch = first branch= value. */
bool sip_fast_via(fs_str v, fs_str *host, fs_str *branch);
bool sip_is_broadcast(fs_str host); /* 255.255.255.255 */
/* [p, e) after "sip:": userinfo@host[:port][;params], no '?', no space.
 * floor <= p: [floor, e) is readable (see sip_span). */
bool sip_fast_sip_uri(const char *floor, const char *p, const char *e);

/* ---- lazy value parsers (call only when needed) ----------------------------- */

/* Split a comma-separated header value, respecting quotes and <>.
 * Start with *rest = value; each call yields one trimmed item. */
bool sip_list_next(fs_str *rest, fs_str *item);
/* Whether a field of header id over max_len octets keeps to the limit all
 * the same: a list of addresses (Contact, Route, Record-Route, Via,
 * History-Info) whose every item is within it (sip_parse judges such a
 * field per item, so that a registrar's 200 OK listing every binding is not
 * oversized). */
bool sip_list_items_fit(sip_header_id id, fs_str value, size_t max_len);
/* true if v holds, outside quoted strings, a '<' that no later '>' closes
 * or a ',' between a '<' and its '>'. sip_list_next takes such commas for
 * part of one item, so in a Via (which has no <>) or in header parameters (a
 * token, host or quoted string; the URI's own <> are not passed here) they
 * hide the values after them from fs38 but not from a stack that splits at
 * those commas; the validator reports it. A balanced <...> without a comma
 * (an unquoted +sip.instance=<urn:...>) hides nothing and is let pass. */
bool sip_angle_hides(fs_str v);

typedef enum sip_scheme { SIP_SCHEME_OTHER, SIP_SCHEME_SIP, SIP_SCHEME_SIPS, SIP_SCHEME_TEL } sip_scheme;

typedef struct sip_uri {
    uint8_t scheme;  /* sip_scheme */
    fs_str scheme_str;
    fs_str user;     /* tel: the number */
    fs_str password;
    fs_str host;     /* without [] for IPv6 */
    uint16_t port;   /* 0 if absent */
    fs_str params;   /* after the first ';' up to '?' (without the leading ';') */
    fs_str headers;  /* after '?' */
} sip_uri;

/* false if s is not a URI of the form scheme:... */
bool sip_uri_parse(fs_str s, sip_uri *u);

typedef struct sip_nameaddr {
    fs_str display;  /* without quotes (escapes left in place) */
    fs_str uri;      /* inside <> or the bare addr-spec */
    fs_str params;   /* header params after the URI (without leading ';') */
    bool bracketed;
} sip_nameaddr;

/* From/To/Contact/PAI/Route item. false on broken syntax. */
bool sip_nameaddr_parse(fs_str s, sip_nameaddr *na);
/* Same, but says why: SIP_A_NONE when well formed, else UNTERMINATED_QUOTE,
 * DISPLAY_NAME_SYNTAX, ADDR_SPEC_SPACES, NAME_ADDR_UNBRACKETED, URI_SYNTAX or
 * HEADER_EMPTY_VALUE_ITEM (empty ';' parameter). na is filled as far as it got. */
sip_anomaly sip_nameaddr_check(fs_str s, sip_nameaddr *na);

/* Find name[=value] in a ';'-separated parameter list (case-insensitive name).
 * A quoted value is returned without its quotes (escapes left in place); a
 * parameter without '=' yields an empty value. value may be NULL. */
bool sip_param_get(fs_str params, const char *name, fs_str *value);
/* Iterate the name=value pairs of a credentials or challenge value
 * (Authorization, WWW-Authenticate ...: RFC 3261 25.1, "Digest" then pairs,
 * values quoted or tokens): start with *rest = the value; the scheme is
 * passed over; a quoted value comes without its quotes (escapes left in
 * place). */
static inline bool sip_auth_param_next(fs_str *rest, fs_str *name, fs_str *value) {
    const char *v = rest->p;
    uint32_t i = 0, n = rest->p ? rest->len : 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        uint32_t start = i;
        while (i < n && sip_is_token((unsigned char)v[i])) i++;
        if (i == start) { /* not a pair: step over the octet */
            i++;
            continue;
        }
        uint32_t name_end = i;
        while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
        if (i >= n || v[i] != '=') continue; /* the scheme ("Digest") */
        i++;
        while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
        uint32_t vstart, vend;
        if (i < n && v[i] == '"') {
            vstart = ++i;
            while (i < n && v[i] != '"') i += (v[i] == '\\' && i + 1 < n) ? 2 : 1;
            vend = i < n ? i : n;
            if (i < n) i++;
        } else {
            vstart = i;
            while (i < n && v[i] != ',' && !sip_is_wsp((unsigned char)v[i])) i++;
            vend = i;
        }
        *name = fs_str_make(v + start, name_end - start);
        *value = fs_str_make(v + vstart, vend - vstart);
        rest->p = v + i;
        rest->len = n - i;
        return true;
    }
    rest->len = 0;
    return false;
}
/* Iterate a ';'-separated parameter list: start with *rest = params; yields
 * each trimmed name and value (empty name = an empty ";;" item). */
bool sip_param_next(fs_str *rest, fs_str *name, fs_str *value);
/* true if s holds a quoted string without its closing '"' (a backslash
 * escapes the next octet): in a parameter list, the rest of the header
 * value is swallowed into one value, where a stack that does not honour
 * the quote sees further parameters or list items (UNTERMINATED_QUOTE). */
bool sip_quote_open(fs_str s);
/* true if params breaks generic-param = token [EQUAL gen-value], gen-value
 * = token / host / quoted-string (RFC 3261 25.1) where stacks part ways:
 * a name that is not a token (";@tag=x": Wireshark reads it as the tag,
 * fs38 as no tag), or a '"' that is not a whole value -- in a name, inside
 * a token value (";x=a\"b;tag=2\"") or a quoted value followed by more
 * octets (";x=\"a\"b"): fs38 takes such a quote as opening a string that
 * hides the ';' after it, libosip2 honours quotes only at a value's start
 * and takes ";tag=2\"" as the tag. Values are not held to the token
 * grammar (vendors put '/', '=', '@', <urn:...> in them). A quote left open
 * and empty items are sip_quote_open's and sip_params_have_empty's. */
bool sip_params_malformed(fs_str params);
/* true if params is empty or holds an empty item (";;", trailing ';'). */
bool sip_params_have_empty(fs_str params);

typedef struct sip_via {
    fs_str protocol;   /* "SIP/2.0" */
    fs_str transport;  /* "UDP", "TCP", "TLS", "SCTP", "WS", ... */
    fs_str host;       /* sent-by host (no brackets) */
    uint16_t port;
    fs_str params;
    fs_str branch;
    fs_str received;
    bool empty_param;  /* an empty ';' item (";;" or a trailing ';') */
} sip_via;

/* Iterate every Via value across all Via header fields, top first.
 * Start with it zeroed. false at the end. An empty or unparseable item is
 * skipped (*bad is set if non-NULL), so it never hides the values after it;
 * sip_validate reports it (HEADER_EMPTY_VALUE_ITEM, VIA_SYNTAX). */
typedef struct sip_via_iter {
    uint16_t pos;
    fs_str rest;
    bool started;
} sip_via_iter;
bool sip_via_next(const sip_msg *m, sip_via_iter *it, sip_via *v, bool *bad);
bool sip_via_parse(fs_str item, sip_via *v);

/* The media type of a Content-Type value or an Accept item: "type/subtype"
 * without its parameters, and without the SWS RFC 3261 allows around the
 * '/' (media-type = m-type SLASH m-subtype, SLASH = SWS "/" SWS): a slice
 * of v, or, when such whitespace is there, a copy in buf (cap octets; a
 * type longer than that comes back as written). */
#define SIP_MEDIA_TYPE_MAX 128
fs_str sip_media_type(fs_str v, char *buf, size_t cap);

/* SDP summary: enough for topology-leak and media checks. */
#define SIP_SDP_MAX 8
typedef struct sip_sdp {
    uint8_t nconn;
    fs_str conn_addr[SIP_SDP_MAX];  /* distinct c= addresses (session and media level) */
    fs_str origin_addr;              /* o= unicast address */
    uint8_t nmedia;
    struct {
        fs_str media;  /* audio, video, ... */
        uint16_t port;
        fs_str proto;
    } media[SIP_SDP_MAX];
} sip_sdp;

bool sip_sdp_parse(fs_str body, sip_sdp *sdp);

/* The SDP in a message: the body when Content-Type is application/sdp, or the
 * application/sdp part of a multipart body, also inside a nested multipart
 * part (up to 3 levels down). false if none. */
bool sip_msg_sdp(const sip_msg *m, fs_str *sdp_body);

/* Multipart: iterate the parts of a multipart/... body given the Content-Type
 * value. Start with *pos = 0. Yields the part's headers block and body. */
bool sip_multipart_next(fs_str content_type, fs_str body, uint32_t *pos, fs_str *part_headers,
                        fs_str *part_body);
/* The body holds the close delimiter ("--" boundary "--" at its start or
 * after an LF) that ends a multipart body (RFC 2046 5.1.1); false without
 * one or without a boundary parameter. */
bool sip_multipart_closed(fs_str content_type, fs_str body);

#endif
