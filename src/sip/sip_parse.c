/*
 * sip_parse.c -- sip_parse: framing and the header index, in one pass.
 *
 * Owns: finding the start line (request or status), the header section
 * (folding, compact and case-insensitive names, bare LF), the index of
 * name/value slices, the core fields every detector wants (Call-ID, CSeq,
 * From/To tags, top Via branch, Content-Length, Max-Forwards, User-Agent),
 * and the body: framed by Content-Length in stream mode, by the datagram in
 * datagram mode (RFC 3261 18.3). Limits become anomalies, never crashes.
 * Must not touch: deeper grammar checks (sip_validate.c), value parsers
 * beyond what the core fields need (sip_value.c), the heap.
 *
 * Speed: line ends are found with memchr, names resolved by the switch in
 * sip_names.c, and only the small parts of sip_msg that a previous message
 * could have left meaningful are reset (never the 256-entry hdr[] array).
 */
#include "sip.h"

/* Per-call framing state that does not belong in sip_msg. */
typedef struct parse_ctx {
    const sip_limits *lim;
    uint16_t max_hdrs;
    int64_t cl;        /* first well-formed Content-Length, -1 none */
    bool cl_unsure;    /* broken or conflicting Content-Length: do not frame by it */
    fs_str server;
} parse_ctx;

static inline bool ws(unsigned char c) { return sip_is_wsp(c); }

/* Stop octets of the From/To and Via scanners (for sip_skip_out):
 * PS_HP  where header_params must look: '"' '<' ';'
 * PS_VAL where a tag/branch value ends: ';' or whitespace
 * PS_Q   where a quoted string needs a look: '"' or a backslash */
enum { PS_HP = 1, PS_VAL = 2, PS_Q = 4 };
static const uint8_t pstop[256] = {['"'] = PS_HP | PS_Q, ['\\'] = PS_Q, ['<'] = PS_HP, [';'] = PS_HP | PS_VAL,
                                   [' '] = PS_VAL, ['\t'] = PS_VAL, ['\r'] = PS_VAL, ['\n'] = PS_VAL};

static inline fs_str span(const char *b, const char *e) {
    fs_str s = {b, (uint32_t)(e - b)};
    return s;
}

static void msg_reset(sip_msg *m) {
    m->raw = FS_STR_NULL;
    m->msg_len = 0;
    m->is_request = false;
    m->method = SIP_M_UNKNOWN;
    m->method_str = m->ruri = m->version = m->reason = FS_STR_NULL;
    m->status = 0;
    m->nhdr = 0;
    memset(m->first, 0xff, sizeof m->first);
    memset(m->count, 0, sizeof m->count);
    m->body = FS_STR_NULL;
    m->call_id = FS_STR_NULL;
    m->cseq = 0;
    m->cseq_method = SIP_M_UNKNOWN;
    m->cseq_method_str = FS_STR_NULL;
    m->content_length = -1;
    m->max_forwards = -1;
    m->from = m->from_tag = m->to = m->to_tag = FS_STR_NULL;
    m->via_branch = m->user_agent = FS_STR_NULL;
    m->nanom = 0;
    m->anom_total = 0;
}

/* ---- start line ---------------------------------------------------------------- */

static inline bool sip_prefix(const char *p, const char *e) {
    return e - p >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' && (p[2] | 0x20) == 'p' &&
           p[3] == '/';
}

/* 0: SIP/2.0; 1: SIP/<digits>.<digits> of another version; -1: not a version. */
static int version_kind(const char *p, const char *e) {
    if (!sip_prefix(p, e)) return -1;
    const char *v = p + 4, *q = v;
    while (q < e && sip_is_digit((unsigned char)*q)) q++;
    if (q == v || q >= e || *q != '.') return -1;
    const char *r = ++q;
    while (q < e && sip_is_digit((unsigned char)*q)) q++;
    if (q == r || q != e) return -1;
    return (e - v == 3 && v[0] == '2' && v[2] == '0') ? 0 : 1;
}

static void parse_status_line(sip_msg *m, const char *p, const char *e) {
    m->is_request = false;
    const char *sp = memchr(p, ' ', (size_t)(e - p));
    const char *ve = sp ? sp : e;
    m->version = span(p, ve);
    int vk = version_kind(p, ve);
    if (vk < 0) sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
    else if (vk > 0) sip_msg_add_anomaly(m, SIP_A_VERSION_UNSUPPORTED);
    if (!sp) {
        sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
        return;
    }
    const char *d = sp + 1, *q = d;
    unsigned v = 0;
    while (q < e && sip_is_digit((unsigned char)*q)) {
        if (q - d < 3) v = v * 10 + (unsigned)(*q - '0');
        q++;
    }
    if (q == d) {
        sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
    } else if (q - d != 3 || v < 100 || v > 699) {
        sip_msg_add_anomaly(m, SIP_A_STATUS_CODE_RANGE);
    } else {
        m->status = (uint16_t)v;
    }
    if (q < e && *q != ' ') sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
    m->reason = q < e ? span(q + 1, e) : FS_STR_NULL;
}

/* Method SP Request-URI SP SIP-Version. false if the line is not a SIP
 * request line at all (then the input is not SIP). */
static bool parse_request_line(sip_msg *m, const char *p, const char *e, const sip_limits *lim) {
    const char *te = e;
    while (te > p && (te[-1] == ' ' || te[-1] == '\t')) te--;
    const char *ls = te;
    while (ls > p && ls[-1] != ' ' && ls[-1] != '\t') ls--;
    int vk = version_kind(ls, te);
    if (vk < 0 || ls == p) return false;
    const char *q = p;
    while (q < ls && sip_is_token((unsigned char)*q)) q++;
    if (q == p) return false;
    m->is_request = true;
    if (*q != ' ') {
        sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
        while (q < ls && *q != ' ' && *q != '\t') q++;
    }
    m->method_str = span(p, q);
    m->method = (uint8_t)sip_method_lookup(m->method_str);
    m->version = span(ls, te);
    const char *rb = q;
    while (rb < ls && (*rb == ' ' || *rb == '\t')) rb++;
    const char *re = ls;
    while (re > rb && (re[-1] == ' ' || re[-1] == '\t')) re--;
    if (rb - q != 1 || ls - re != 1 || te != e || *q == '\t' || ls[-1] == '\t')
        sip_msg_add_anomaly(m, SIP_A_REQUEST_LINE_WHITESPACE);
    m->ruri = span(rb, re);
    if (m->ruri.len == 0) {
        sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
    } else {
        if (m->ruri.p[0] == '<') sip_msg_add_anomaly(m, SIP_A_RURI_ANGLE_BRACKETS);
        if (sip_skip_out(rb, re, sip_ctype, SIP_CC_WSP) != re) sip_msg_add_anomaly(m, SIP_A_RURI_SYNTAX);
        if (lim->max_uri_len && m->ruri.len > lim->max_uri_len)
            sip_msg_add_anomaly(m, SIP_A_LIMIT_URI_LENGTH);
    }
    if (vk > 0) sip_msg_add_anomaly(m, SIP_A_VERSION_UNSUPPORTED);
    return true;
}

/* Does [p, end) begin (after CR/LF) with something shaped like a SIP start line? */
static bool looks_like_start_line(const char *p, const char *end) {
    while (p < end && (*p == '\r' || *p == '\n')) p++;
    if (p >= end) return false;
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *e = lf ? lf : end;
    if (e > p && e[-1] == '\r') e--;
    if (sip_prefix(p, e)) return true;
    const char *ls = e;
    while (ls > p && ls[-1] != ' ') ls--;
    return ls > p && version_kind(ls, e) >= 0;
}

/* ---- core fields ------------------------------------------------------------------ */

static void parse_cseq(sip_msg *m, fs_str v) {
    const char *p = v.p, *e = v.p + v.len, *d = p;
    uint64_t n = 0;
    while (p < e && sip_is_digit((unsigned char)*p)) {
        if (n < (1ULL << 40)) n = n * 10 + (uint64_t)(*p - '0');
        p++;
    }
    const char *sp = p;
    while (p < e && ws((unsigned char)*p)) p++;
    const char *mb = p;
    while (p < e && sip_is_token((unsigned char)*p)) p++;
    if (sp == d || p == sp || mb == p || p != e) {
        sip_msg_add_anomaly(m, SIP_A_CSEQ_SYNTAX);
        if (mb == p) return;
    }
    m->cseq_method_str = span(mb, p);
    m->cseq_method = (uint8_t)sip_method_lookup(m->cseq_method_str);
    if (n >= (1ULL << 31)) sip_msg_add_anomaly(m, SIP_A_CSEQ_RANGE);
    else m->cseq = (uint32_t)n;
}

/* 1*DIGIT, saturating; false if empty or not all digits. */
static bool parse_digits(fs_str v, int64_t *out) {
    if (v.len == 0) return false;
    int64_t n = 0;
    for (uint32_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (!sip_is_digit(c)) return false;
        if (n < (INT64_C(1) << 50)) n = n * 10 + (c - '0');
    }
    *out = n;
    return true;
}

static void content_length(sip_msg *m, parse_ctx *c, fs_str v) {
    int64_t n;
    if (!parse_digits(v, &n)) {
        sip_msg_add_anomaly(m, SIP_A_CONTENT_LENGTH_SYNTAX);
        c->cl_unsure = true;
        return;
    }
    if (m->count[SIP_H_CONTENT_LENGTH] > 1) sip_msg_add_anomaly(m, SIP_A_CONTENT_LENGTH_MULTIPLE);
    if (c->cl < 0) c->cl = n;
    else if (c->cl != n) c->cl_unsure = true;
}

static void max_forwards(sip_msg *m, fs_str v) {
    int64_t n;
    if (!parse_digits(v, &n) || n > 255) sip_msg_add_anomaly(m, SIP_A_MAX_FORWARDS_SYNTAX);
    else m->max_forwards = (int32_t)n;
}

/* The header parameters of a From/To value: after the '>' of a name-addr,
 * or after the first ';' of a bare addr-spec (RFC 3261 20.10); quoted
 * display names are skipped. Full grammar checks are sip_validate's job. */
static fs_str header_params(fs_str v) {
    const char *p = v.p, *end = v.p + v.len;
    while ((p = sip_skip_out(p, end, pstop, PS_HP)) < end) {
        char c = *p;
        if (c == '"') {
            for (p++;; p += (p + 1 < end) ? 2 : 1) { /* past a backslash and what it escapes */
                p = sip_skip_out(p, end, pstop, PS_Q);
                if (p >= end) return FS_STR_NULL;
                if (*p == '"') break;
            }
            p++;
            continue;
        }
        if (c == '<') {
            const char *gt = memchr(p, '>', (size_t)(end - p));
            const char *semi = gt ? memchr(gt, ';', (size_t)(end - gt)) : NULL;
            return semi ? span(semi + 1, end) : FS_STR_NULL;
        }
        return span(p + 1, end); /* ';' */
    }
    return FS_STR_NULL;
}

/* tag= among the header parameters. Hops from ';' to ';'; parameters with
 * quoted strings (which may hide a ';') take the full parameter parser. */
static fs_str tag_of(fs_str v) {
    fs_str tag = FS_STR_NULL, params = header_params(v);
    if (params.len == 0) return tag;
    if (memchr(params.p, '"', params.len)) {
        sip_param_get(params, "tag", &tag);
        return tag;
    }
    const char *p = params.p, *end = params.p + params.len;
    while (p < end) {
        while (p < end && ws((unsigned char)*p)) p++;
        if (end - p > 3 && (p[0] | 0x20) == 't' && (p[1] | 0x20) == 'a' && (p[2] | 0x20) == 'g') {
            const char *q = p + 3;
            while (q < end && ws((unsigned char)*q)) q++;
            if (q < end && *q == '=') {
                for (q++; q < end && ws((unsigned char)*q); q++) {}
                const char *b = q;
                return span(b, sip_skip_out(q, end, pstop, PS_VAL));
            }
        }
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi) break;
        p = semi + 1;
    }
    return tag;
}

static void top_via_full(sip_msg *m, fs_str v) {
    fs_str rest = v, item;
    sip_via via;
    if (sip_list_next(&rest, &item) && sip_via_parse(item, &via)) m->via_branch = via.branch;
}

/* branch= of the first Via value. Fast path: hop from ';' to ';' inside the
 * first value (up to the first ','); values with quoted strings take the
 * full parser. sip_validate checks the whole Via grammar. */
static void top_via(sip_msg *m, fs_str v) {
    if (memchr(v.p, '"', v.len)) {
        top_via_full(m, v);
        return;
    }
    const char *p = v.p, *end = v.p + v.len;
    const char *comma = memchr(p, ',', v.len);
    if (comma) end = comma;
    const char *semi;
    while ((semi = memchr(p, ';', (size_t)(end - p))) != NULL) {
        p = semi + 1;
        while (p < end && ws((unsigned char)*p)) p++;
        if (end - p < 6 || !sip_lower_eq(p, "branch", 6)) continue;
        const char *q = p + 6;
        while (q < end && ws((unsigned char)*q)) q++;
        if (q >= end || *q != '=') continue;
        q++;
        while (q < end && ws((unsigned char)*q)) q++;
        m->via_branch = span(q, sip_skip_out(q, end, pstop, PS_VAL));
        return;
    }
}

static void core_field(sip_msg *m, parse_ctx *c, sip_header_id id, fs_str v) {
    bool first = m->count[id] == 1;
    switch (id) {
    case SIP_H_CALL_ID: if (first) m->call_id = v; break;
    case SIP_H_CSEQ: if (first) parse_cseq(m, v); break;
    case SIP_H_CONTENT_LENGTH: content_length(m, c, v); break;
    case SIP_H_MAX_FORWARDS: if (first) max_forwards(m, v); break;
    case SIP_H_FROM:
        if (first) {
            m->from = v;
            m->from_tag = tag_of(v);
        }
        break;
    case SIP_H_TO:
        if (first) {
            m->to = v;
            m->to_tag = tag_of(v);
        }
        break;
    case SIP_H_VIA: if (first) top_via(m, v); break;
    case SIP_H_USER_AGENT: if (first) m->user_agent = v; break;
    case SIP_H_SERVER: if (first) c->server = v; break;
    default: break;
    }
}

/* ---- header section ------------------------------------------------------------------ */

/* One header field [p, e) (folded lines included, line end excluded). */
static void header_field(sip_msg *m, parse_ctx *c, const char *p, const char *e) {
    if (c->lim->max_header_len && (size_t)(e - p) > c->lim->max_header_len)
        sip_msg_add_anomaly(m, SIP_A_LIMIT_HEADER_LENGTH);
    const char *n = p;
    p = sip_skip_in(p, e, sip_ctype, SIP_CC_TOKEN);
    fs_str name = span(n, p);
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    if (name.len == 0 || p >= e || *p != ':') {
        sip_msg_add_anomaly(m, SIP_A_HEADER_SYNTAX);
        return;
    }
    p++;
    while (p < e && ws((unsigned char)*p)) p++;
    while (e > p && ws((unsigned char)e[-1])) e--;
    fs_str value = span(p, e);
    sip_header_id id = sip_header_lookup(name);
    if (m->count[id] < 255) m->count[id]++;
    if (m->nhdr < c->max_hdrs) {
        sip_header *h = &m->hdr[m->nhdr];
        h->name = name;
        h->value = value;
        h->id = (uint8_t)id;
        if (m->first[id] < 0) m->first[id] = (int16_t)m->nhdr;
        m->nhdr++;
    } else {
        sip_msg_add_anomaly(m, SIP_A_LIMIT_HEADER_COUNT);
    }
    if (id != SIP_H_OTHER) core_field(m, c, id, value);
}

/* ---- framing ------------------------------------------------------------------------ */

static sip_parse_status fail(sip_msg *m, sip_anomaly a, size_t skip) {
    sip_msg_add_anomaly(m, a);
    m->msg_len = (uint32_t)skip;
    return SIP_PARSE_ERROR;
}

static void trailing_bytes(sip_msg *m, const char *p, const char *end) {
    sip_msg_add_anomaly(m, SIP_A_TRAILING_DATA);
    const char *q = p;
    while (q < end && ws((unsigned char)*q)) q++;
    if (q < end && !looks_like_start_line(q, end)) sip_msg_add_anomaly(m, SIP_A_CONTENT_LENGTH_MISMATCH);
}

sip_parse_status sip_parse(sip_msg *m, const char *buf, size_t len, const sip_limits *lim,
                           unsigned flags) {
    sip_limits dl;
    if (!lim) {
        sip_limits_default(&dl);
        lim = &dl;
    }
    msg_reset(m);
    if (len > UINT32_MAX) len = UINT32_MAX;
    const bool stream = flags & SIP_PARSE_STREAM;
    const size_t max_msg = lim->max_message ? lim->max_message : 65535;
    parse_ctx c = {.lim = lim, .cl = -1};
    c.max_hdrs = lim->max_headers && lim->max_headers < SIP_MAX_HEADERS ? lim->max_headers : SIP_MAX_HEADERS;
    const char *end = buf + len, *s = buf;

    /* CRLFs before the start line are ignored (RFC 3261 7.5); only CRLFs = keep-alive */
    while (s < end && (*s == '\r' || *s == '\n')) s++;
    if (s == end) {
        if (len == 0) return stream ? SIP_PARSE_INCOMPLETE : fail(m, SIP_A_NOT_SIP, 0);
        return fail(m, SIP_A_KEEPALIVE, len);
    }
    if (!sip_is_token((unsigned char)*s)) return fail(m, SIP_A_NOT_SIP, len);

    const char *lf = memchr(s, '\n', (size_t)(end - s));
    if (!lf && stream) {
        if (len >= max_msg) return fail(m, SIP_A_LIMIT_MESSAGE_SIZE, len);
        return SIP_PARSE_INCOMPLETE;
    }
    const char *le = lf ? lf : end;
    if (lf && (lf == s || lf[-1] != '\r')) sip_msg_add_anomaly(m, SIP_A_BARE_LF);
    if (le > s && le[-1] == '\r') le--;
    if (sip_prefix(s, le)) {
        parse_status_line(m, s, le);
    } else if (!parse_request_line(m, s, le, lim)) {
        m->nanom = 0;
        m->anom_total = 0;
        return fail(m, SIP_A_NOT_SIP, stream && lf ? (size_t)(lf + 1 - buf) : len);
    }

    /* header fields until the empty line */
    const char *hp = lf ? lf + 1 : end;
    bool done = false;
    while (hp < end) {
        if (*hp == '\n') {
            sip_msg_add_anomaly(m, SIP_A_BARE_LF);
            hp++;
            done = true;
            break;
        }
        if (*hp == '\r' && hp + 1 < end && hp[1] == '\n') {
            hp += 2;
            done = true;
            break;
        }
        const char *nl = memchr(hp, '\n', (size_t)(end - hp));
        while (nl && nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t'))
            nl = memchr(nl + 1, '\n', (size_t)(end - nl - 1));
        if (stream && (!nl || nl + 1 >= end)) break; /* a fold may still follow */
        const char *fe = nl ? nl : end;
        if (nl && (nl == hp || nl[-1] != '\r')) sip_msg_add_anomaly(m, SIP_A_BARE_LF);
        header_field(m, &c, hp, fe);
        hp = nl ? nl + 1 : end;
    }
    if (!done) {
        if (stream) {
            if (len >= max_msg) return fail(m, SIP_A_LIMIT_MESSAGE_SIZE, len);
            m->nanom = 0;
            m->anom_total = 0;
            return SIP_PARSE_INCOMPLETE;
        }
        sip_msg_add_anomaly(m, SIP_A_HEADERS_UNTERMINATED);
    }

    if (!m->is_request && m->user_agent.len == 0) m->user_agent = c.server;
    m->content_length = c.cl;
    size_t hdr_len = (size_t)(hp - buf), avail = len - hdr_len, msg_len;
    if (stream) {
        size_t bl = c.cl > 0 ? (size_t)c.cl : 0;
        if (bl > avail) {
            if (hdr_len + bl > max_msg) return fail(m, SIP_A_LIMIT_MESSAGE_SIZE, len);
            m->nanom = 0;
            m->anom_total = 0;
            return SIP_PARSE_INCOMPLETE;
        }
        msg_len = hdr_len + bl;
    } else if (c.cl >= 0 && !c.cl_unsure) {
        if ((size_t)c.cl > avail) {
            sip_msg_add_anomaly(m, SIP_A_CONTENT_LENGTH_EXCEEDS);
            msg_len = len;
        } else {
            msg_len = hdr_len + (size_t)c.cl;
            if (msg_len < len) trailing_bytes(m, buf + msg_len, end);
        }
    } else {
        msg_len = len;
    }
    if (msg_len > max_msg) sip_msg_add_anomaly(m, SIP_A_LIMIT_MESSAGE_SIZE);
    m->body = span(hp, buf + msg_len);
    m->raw = span(s, buf + msg_len);
    m->msg_len = (uint32_t)msg_len;
    return SIP_PARSE_OK;
}
