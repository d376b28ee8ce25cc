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
 * Speed: line ends (and colons) come from bitmasks of a 64-octet block
 * (SSE2, baseline on x86-64; memchr elsewhere) kept across lines, so the next
 * line is a count of trailing zeros, not a call whose latency every line
 * waits for; a name before the first colon that is a known header name
 * needs no token scan; names are resolved by the switch in sip_names.c; the
 * first From/To/Via and the Request-URI are checked against the plain shape
 * in the same pass that takes their tag/branch (sip_fast_*, so sip_validate
 * need not scan them again); only the small parts of sip_msg that a previous
 * message could have left meaningful are reset (never the 256-entry hdr[]).
 */
#include "sip.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Per-call framing state that does not belong in sip_msg. */
typedef struct parse_ctx {
    const sip_limits *lim;
    uint16_t max_hdrs;
    size_t max_hlen;   /* max_header_len, SIZE_MAX when unchecked */
    int64_t cl;        /* first well-formed Content-Length, -1 none */
    bool cl_unsure;    /* broken or conflicting Content-Length: do not frame by it */
    fs_str server;
    const char *buf;   /* start of the input: [buf, value end) is readable (sip_span's floor) */
} parse_ctx;

static inline bool ws(unsigned char c) { return sip_is_wsp(c); }

/* Stop octets of the From/To and Via scanners (for sip_skip_out):
 * PS_HP  where header_params must look: '"' '<' ';'
 * PS_VAL where a tag/branch value ends: ';' ',' or whitespace (a ',' after
 *        a tag starts a second name-addr, which sip_validate reports)
 * PS_Q   where a quoted string needs a look: '"' or a backslash */
enum { PS_HP = 1, PS_VAL = 2, PS_Q = 4 };
static const uint8_t pstop[256] = {['"'] = PS_HP | PS_Q, ['\\'] = PS_Q, ['<'] = PS_HP, [';'] = PS_HP | PS_VAL,
                                   [','] = PS_VAL, [' '] = PS_VAL, ['\t'] = PS_VAL, ['\r'] = PS_VAL,
                                   ['\n'] = PS_VAL};

static inline fs_str span(const char *b, const char *e) {
    fs_str s = {b, (uint32_t)(e - b)};
    return s;
}

/* One plain store per field: chained assignments (a = b = FS_STR_NULL) make
 * the compiler read back each just-stored slice with one wide load, which
 * cannot be forwarded from the two narrower stores and stalls every message. */
static void msg_reset(sip_msg *m) {
    const fs_str z = {NULL, 0};
    m->raw = z;
    m->msg_len = 0;
    m->is_request = false;
    m->method = SIP_M_UNKNOWN;
    m->method_str = z;
    m->ruri = z;
    m->version = z;
    m->reason = z;
    m->status = 0;
    m->nhdr = 0;
    memset(m->first, 0xff, sizeof m->first);
    memset(m->count, 0, sizeof m->count);
    m->body = z;
    m->call_id = z;
    m->cseq = 0;
    m->cseq_method = SIP_M_UNKNOWN;
    m->cseq_method_str = z;
    m->content_length = -1;
    m->max_forwards = -1;
    m->from = z;
    m->from_tag = z;
    m->to = z;
    m->to_tag = z;
    m->via_branch = z;
    m->user_agent = z;
    m->pre_ok = 0;
    m->nanom = 0;
    m->anom_total = 0;
}

/* ---- line ends ---------------------------------------------------------------- */

/* The LFs and colons of [blk, blk + 64) as bitmasks; never reads outside
 * [blk, end). ctl: the OR of every block's control octets (0x00-0x1f)
 * other than LF and CR, and of its CRs not followed by an LF, for one test
 * per message: not 0 when a header field may hold a raw CTL or a bare CR (or
 * an HTAB, or the body began inside a block), and then sip_parse looks at
 * each header line with header_ctl. A bare CR is a line end to RFC 2543
 * parsers (CR, LF or CRLF), so "A: x<CR>To: y" or "A: x<CR><CR><LF>" reads
 * as another header or the end of the header section to them, and as one
 * value here. DEL (0x7f) is left to header_ctl when it looks anyway (the
 * compare cost 3 % of parse throughput; see docs/rules.md). */
typedef struct lf_finder {
    const char *blk;  /* block the masks describe, NULL: none yet */
    uint64_t mask;    /* bit i: blk[i] == '\n' */
    uint64_t colons;  /* bit i: blk[i] == ':' */
    const char *floor, *end; /* [floor, end) is readable */
    uint32_t ctl;
} lf_finder;

#if defined(__SSE2__)
static inline uint32_t lf_cmp16(__m128i x, __m128i c) { return (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, c)); }

/* Octets 0x00-0x1f but LF and CR (nothing is left of 0x00-0x1f after
 * subtracting 0x1f with saturation), as 0xff. */
static inline __m128i lf_ctl16(__m128i x) {
    __m128i c = _mm_cmpeq_epi8(_mm_subs_epu8(x, _mm_set1_epi8(0x1f)), _mm_setzero_si128());
    __m128i eol = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\r')));
    return _mm_andnot_si128(eol, c);
}

static inline void lf_block(lf_finder *f, const char *p) {
    const __m128i lf = _mm_set1_epi8('\n'), colon = _mm_set1_epi8(':'), cr = _mm_set1_epi8('\r');
    __m128i x0 = _mm_loadu_si128((const __m128i *)p), x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32)), x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    f->blk = p;
    f->mask = (uint64_t)lf_cmp16(x0, lf) | (uint64_t)lf_cmp16(x1, lf) << 16 | (uint64_t)lf_cmp16(x2, lf) << 32 |
              (uint64_t)lf_cmp16(x3, lf) << 48;
    f->colons = (uint64_t)lf_cmp16(x0, colon) | (uint64_t)lf_cmp16(x1, colon) << 16 |
                (uint64_t)lf_cmp16(x2, colon) << 32 | (uint64_t)lf_cmp16(x3, colon) << 48;
    uint64_t crs = (uint64_t)lf_cmp16(x0, cr) | (uint64_t)lf_cmp16(x1, cr) << 16 | (uint64_t)lf_cmp16(x2, cr) << 32 |
                   (uint64_t)lf_cmp16(x3, cr) << 48;
    /* a CR in the last octet is followed by the next block's first (rare: test it first) */
    if ((crs >> 63) && p + 64 < f->end && p[64] == '\n') crs &= ~(1ULL << 63);
    uint64_t bare_cr = crs & ~(f->mask >> 1);
    __m128i c = _mm_or_si128(_mm_or_si128(lf_ctl16(x0), lf_ctl16(x1)), _mm_or_si128(lf_ctl16(x2), lf_ctl16(x3)));
    f->ctl |= (uint32_t)_mm_movemask_epi8(c) | (bare_cr != 0);
}

/* First LF in [from, f->end), or NULL. from only moves forward. */
static inline const char *lf_next(lf_finder *f, const char *from) {
    for (;;) {
        if (f->blk && from < f->blk + 64) {
            uint64_t m = f->mask & (~0ULL << (from - f->blk));
            if (m) return f->blk + sip_ctz64_(m);
            from = f->blk + 64;
        }
        if (from >= f->end) return NULL;
        if (f->end - from < 64) { /* the last block ends at end, bits below from dropped */
            if (f->end - f->floor < 64) { /* tiny input: no masks, header_ctl looks */
                f->blk = NULL;
                f->ctl = 1;
                return memchr(from, '\n', (size_t)(f->end - from));
            }
            lf_block(f, f->end - 64);
            continue;
        }
        lf_block(f, from);
    }
}

/* First ':' in [from, to), or NULL; to is a line end lf_next returned. */
static inline const char *colon_in(const lf_finder *f, const char *from, const char *to) {
    if (f->blk && from >= f->blk && from < f->blk + 64) {
        uint64_t m = f->colons & (~0ULL << (from - f->blk));
        if (m) {
            const char *c = f->blk + sip_ctz64_(m);
            return c < to ? c : NULL;
        }
        if (f->blk + 64 >= to) return NULL;
    }
    return memchr(from, ':', (size_t)(to - from));
}
#else
static inline const char *lf_next(lf_finder *f, const char *from) {
    f->ctl = 1; /* no masks: header_ctl looks at every value */
    return from < f->end ? memchr(from, '\n', (size_t)(f->end - from)) : NULL;
}

static inline const char *colon_in(const lf_finder *f, const char *from, const char *to) {
    (void)f;
    return memchr(from, ':', (size_t)(to - from));
}
#endif

/* ---- start line ---------------------------------------------------------------- */

static inline bool sip_prefix(const char *p, const char *e) {
    return e - p >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' && (p[2] | 0x20) == 'p' &&
           p[3] == '/';
}

/* 0: SIP/2.0; 1: SIP/<digits>.<digits> of another version; -1: not a version. */
static int version_kind(const char *p, const char *e) {
    if (e - p == 7 && memcmp(p, "SIP/2.0", 7) == 0) return 0; /* nearly every message */
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
    /* SP Reason-Phrase: the SP is there even when the phrase is empty
     * (RFC 3261 7.2, RFC 4475 3.1.1.13); the phrase is UTF-8 text, SP, HTAB */
    if (q > d && (q >= e || *q != ' ')) sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
    m->reason = q < e ? span(q + 1, e) : FS_STR_NULL;
    for (const char *r = m->reason.p, *re = r + m->reason.len; r < re; r++) {
        unsigned char ch = (unsigned char)*r;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            sip_msg_add_anomaly(m, SIP_A_START_LINE_SYNTAX);
            break;
        }
    }
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
        if (m->ruri.len > 4 && memcmp(rb, "sip:", 4) == 0 && sip_fast_sip_uri(p, rb + 4, re))
            m->pre_ok |= SIP_PRE_RURI; /* plain sip: URI (so no whitespace either) */
        else if (sip_skip_out(rb, re, sip_ctype, SIP_CC_WSP) != re)
            sip_msg_add_anomaly(m, SIP_A_RURI_SYNTAX);
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

/* v begins like a bare addr-spec: a scheme (token octets, no whitespace)
 * and ':', the test sip_nameaddr_check makes before it looks for a '<'. */
static bool addr_spec_first(fs_str v) {
    const char *p = v.p, *end = v.p + v.len;
    while (p < end && sip_is_token((unsigned char)*p)) p++;
    return p > v.p && p < end && *p == ':';
}

/* The header parameters of a From/To value: after the '>' of a name-addr,
 * or after the first ';' of a bare addr-spec (RFC 3261 20.10); quoted
 * display names are skipped. A ';' before a '<' in a value that is not an
 * addr-spec is inside a broken unquoted display name ("A;tag=x <sip:..>",
 * DISPLAY_NAME_SYNTAX): the parameters are still the ones after the '>',
 * as sip_nameaddr_check takes them. Full grammar checks are sip_validate's. */
static fs_str header_params(fs_str v) {
    const char *p = v.p, *end = v.p + v.len;
    /* at the first ';': is v an addr-spec, and its last '<' (NULL: none).
     * Found once: asking again at every ';' made n ';' before a '<' n^2. */
    const char *last_lt = NULL;
    bool looked = false, aspec = false;
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
        if (c == '<') { /* the parameters start right after the '>' (a ',' there starts a second value) */
            const char *q = memchr(p, '>', (size_t)(end - p));
            if (!q) return FS_STR_NULL;
            for (q++; q < end && ws((unsigned char)*q); q++) {}
            return q < end && *q == ';' ? span(q + 1, end) : FS_STR_NULL;
        }
        if (!looked) {
            looked = true;
            aspec = addr_spec_first(v);
            if (!aspec)
                for (const char *q = end; q > p && !last_lt; q--)
                    if (q[-1] == '<') last_lt = q - 1;
        }
        if (last_lt && last_lt > p) { /* ';' in a display name: a '<' follows */
            p++;
            continue;
        }
        /* ';' -- of a second bare addr-spec when a ',' came first ("sip:a@x, sip:b@x;tag=2") */
        return aspec && memchr(v.p, ',', (size_t)(p - v.p)) ? FS_STR_NULL : span(p + 1, end);
    }
    return FS_STR_NULL;
}

/* tag= among the header parameters: the first "tag" with a '=' (a ";tag"
 * alone is no tag, as sip_fast_nameaddr takes it). Hops from ';' to ';';
 * parameters with quoted strings (which may hide a ';') take the full
 * parameter parser. */
static fs_str tag_of(fs_str v) {
    fs_str tag = FS_STR_NULL, params = header_params(v);
    if (params.len == 0) return tag;
    if (memchr(params.p, '"', params.len)) {
        fs_str rest = params, n, val;
        while (sip_param_next(&rest, &n, &val))
            if (val.p && n.len == 3 && sip_lower_eq(n.p, "tag", 3)) return val;
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
    while (sip_list_next(&rest, &item) && item.len == 0) {} /* empty items: see top_via */
    if (item.len && sip_via_parse(item, &via)) m->via_branch = via.branch;
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
    /* empty items before the first value (", SIP/2.0/UDP ...") do not make
     * it go away: sip_validate flags them (HEADER_EMPTY_VALUE_ITEM) */
    while (p < end && (*p == ',' || ws((unsigned char)*p))) p++;
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (comma) end = comma;
    const char *semi;
    while ((semi = memchr(p, ';', (size_t)(end - p))) != NULL) {
        p = semi + 1;
        while (p < end && ws((unsigned char)*p)) p++;
        if (end - p < 6 || !sip_lower_eq_lit(p, "branch", 6)) continue;
        const char *q = p + 6;
        while (q < end && ws((unsigned char)*q)) q++;
        if (q >= end || *q != '=') continue;
        q++;
        while (q < end && ws((unsigned char)*q)) q++;
        m->via_branch = span(q, sip_skip_out(q, end, pstop, PS_VAL));
        return;
    }
}

/* The tag of the first From (i 0) / To (i 1). A plain value is checked and
 * its tag found in one pass, and sip_validate is told it need not look again
 * (the tag is the one tag_of finds: the first tag= among the parameters). */
static fs_str from_to(sip_msg *m, fs_str v, unsigned i) {
    fs_str tag;
    if (sip_fast_nameaddr(v, false, &m->pre_uri[i], &tag)) {
        m->pre_ok |= (uint8_t)(SIP_PRE_FROM << i);
        return tag;
    }
    return tag_of(v);
}

/* The top Via: same idea (sip_fast_via's branch is the one top_via finds). */
static void first_via(sip_msg *m, fs_str v) {
    fs_str host, branch;
    if (sip_fast_via(v, &host, &branch)) {
        m->via_branch = branch;
        m->pre_ok |= SIP_PRE_VIA;
        if (sip_is_broadcast(host)) m->pre_ok |= SIP_PRE_VIA_BCAST;
        return;
    }
    top_via(m, v);
}

/* callid = word ["@" word] (RFC 3261 25.1), leniently: any VCHAR or UTF-8
 * octet is taken as a word octet (vendors put '=' '/' '#' ... in Call-IDs),
 * so only an empty value, whitespace (folding too), a CTL or a second '@'
 * is CALL_ID_SYNTAX. Two 16-octet steps for a typical Call-ID. */
static void call_id(sip_msg *m, const parse_ctx *c, fs_str v) {
    m->call_id = v;
    const char *p = v.p, *e = v.p + v.len;
    p = sip_span(c->buf, p, e, &sip_cs_callid);
    if (p < e && *p == '@') p = sip_span(c->buf, p + 1, e, &sip_cs_callid);
    if (p != e || v.len == 0) sip_msg_add_anomaly(m, SIP_A_CALL_ID_SYNTAX);
}

static void core_field(sip_msg *m, parse_ctx *c, sip_header_id id, fs_str v) {
    bool first = m->count[id] == 1;
    switch (id) {
    case SIP_H_CALL_ID: if (first) call_id(m, c, v); break;
    case SIP_H_CSEQ: if (first) parse_cseq(m, v); break;
    case SIP_H_CONTENT_LENGTH: content_length(m, c, v); break;
    case SIP_H_MAX_FORWARDS: if (first) max_forwards(m, v); break;
    case SIP_H_FROM:
        if (first) {
            m->from = v;
            m->from_tag = from_to(m, v, 0);
        }
        break;
    case SIP_H_TO:
        if (first) {
            m->to = v;
            m->to_tag = from_to(m, v, 1);
        }
        break;
    case SIP_H_VIA: if (first) first_via(m, v); break;
    case SIP_H_USER_AGENT: if (first) m->user_agent = v; break;
    case SIP_H_SERVER: if (first) c->server = v; break;
    default: break;
    }
}

/* ---- header section ------------------------------------------------------------------ */

/* A raw CTL (RFC 5234: 0x00-0x1f, 0x7f) other than HTAB in the header line
 * [p, e): not the CRLF (or bare LF) that ends the line or a folded one, not
 * the octet a backslash escapes (quoted-pair, RFC 3261 25.1: "\<NUL>" is
 * legal inside a quoted string, RFC 4475 3.1.1.2). A CR not followed by an
 * LF is always one: quoted-pair excludes CR and LF. A backslash escapes only
 * inside a quoted string, or a comment where the header has them (comments:
 * User-Agent, Server, Retry-After), and only when it is not itself escaped:
 * in "\\<NUL>" the NUL is raw, and so it is in "x\<NUL>" or ";p=\<NUL>",
 * where no quoted-pair can be (a NUL there cuts the value short to a C
 * string reader). */
static bool header_ctl(const char *p, const char *e, bool comments) {
    bool quoted = false;
    unsigned depth = 0; /* comment nesting, outside quoted strings */
    for (; p < e; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\\' && (quoted || depth)) {
            if (p + 1 < e && p[1] != '\r' && p[1] != '\n') p++; /* the octet it escapes */
            continue;
        }
        if (ch == '"' && !depth) quoted = !quoted;
        else if (comments && !quoted && ch == '(') depth++;
        else if (comments && !quoted && ch == ')' && depth) depth--;
        if ((ch >= 0x20 && ch != 0x7f) || ch == '\t' || ch == '\n') continue;
        if (ch == '\r' && p + 1 < e && p[1] == '\n') continue;
        return true;
    }
    return false;
}

/* A field longer than max_header_len is judged per item when it is a list
 * of addresses (RFC 3261 7.3.1: one field or several, the same): a
 * registrar's 200 OK to a REGISTER lists every binding of the
 * address-of-record in one Contact field, a proxy chain grows Via and
 * Record-Route. An item longer than the limit is still one. Only runs for
 * a field over the limit. */
bool sip_list_items_fit(sip_header_id id, fs_str value, size_t max_len) {
    if (id != SIP_H_CONTACT && id != SIP_H_ROUTE && id != SIP_H_RECORD_ROUTE && id != SIP_H_VIA &&
        id != SIP_H_HISTORY_INFO)
        return false;
    fs_str rest = value, item;
    while (sip_list_next(&rest, &item))
        if (item.len > max_len) return false;
    return true;
}

/* One header field [p, e) (folded lines included, line end excluded);
 * colon: the first ':' in it, NULL if none. A name that is a known header
 * name (letters and '-', so all token octets) is taken as is; any other
 * name is scanned as a token. */
static void header_field(sip_msg *m, parse_ctx *c, const char *p, const char *e, const char *colon) {
    /* the field without the CR of its CRLF: a field of max_header_len octets
     * fits, whether its line ends in CRLF or a bare LF */
    bool too_long = __builtin_expect((size_t)(e - p) > c->max_hlen, 0) && (size_t)(e - p) - (e[-1] == '\r') > c->max_hlen;
    const char *n = p;
    fs_str name = FS_STR_NULL;
    sip_header_id id = SIP_H_OTHER;
    if (colon) {
        const char *ne = colon;
        while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t')) ne--;
        name = span(n, ne);
        id = sip_header_lookup(name);
        p = colon;
    }
    if (id == SIP_H_OTHER) {
        p = sip_span(n, n, e, &sip_cs_token);
        name = span(n, p);
        if (p >= e || *p != ':') { /* the common "Name: value" skips these loops */
            while (p < e && (*p == ' ' || *p == '\t')) p++;
            if (p >= e || *p != ':') name.len = 0;
        }
        if (name.len == 0) {
            sip_msg_add_anomaly(m, SIP_A_HEADER_SYNTAX);
            if (too_long) sip_msg_add_anomaly(m, SIP_A_LIMIT_HEADER_LENGTH);
            return;
        }
    }
    p++;
    if (p < e && *p == ' ') p++;
    while (p < e && ws((unsigned char)*p)) p++;
    if (e > p && e[-1] == '\r') e--;
    while (e > p && ws((unsigned char)e[-1])) e--;
    fs_str value = span(p, e);
    if (too_long && !sip_list_items_fit(id, value, c->max_hlen)) sip_msg_add_anomaly(m, SIP_A_LIMIT_HEADER_LENGTH);
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

bool sip_peek_call_id(const char *buf, size_t len, fs_str *call_id) {
    const char *end = buf + len;
    while (buf < end && (*buf == '\r' || *buf == '\n')) buf++; /* as sip_parse: RFC 3261 7.5 */
    const char *lf = memchr(buf, '\n', (size_t)(end - buf));
    for (const char *p = lf ? lf + 1 : end; p < end;) { /* after the start line */
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        if (e > p && e[-1] == '\r') e--;
        if (e == p) return false; /* the empty line: no Call-ID */
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon) {
            const char *ne = colon;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t')) ne--;
            fs_str name = span(p, ne);
            if (fs_str_ieq_cstr(name, "call-id") || fs_str_ieq_cstr(name, "i")) {
                /* the line must end, and the next one start, inside buf: a
                 * piece of a TCP stream may stop in the middle of either */
                if (!nl || nl + 1 >= end) return false;
                if (nl[1] == ' ' || nl[1] == '\t') return false; /* folded */
                const char *v = colon + 1;
                while (v < e && ws((unsigned char)*v)) v++;
                while (e > v && ws((unsigned char)e[-1])) e--;
                *call_id = span(v, e);
                return call_id->len > 0;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return false;
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
    parse_ctx c = {.lim = lim, .cl = -1, .max_hlen = lim->max_header_len ? lim->max_header_len : SIZE_MAX, .buf = buf};
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
    lf_finder lf_f = {.blk = NULL, .floor = buf, .end = end, .ctl = 0};
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
        const char *nl = lf_next(&lf_f, hp);
        while (nl && nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t'))
            nl = lf_next(&lf_f, nl + 1);
        if (stream && (!nl || nl + 1 >= end)) break; /* a fold may still follow */
        const char *fe = nl ? nl : end;
        if (nl && (nl == hp || nl[-1] != '\r')) sip_msg_add_anomaly(m, SIP_A_BARE_LF);
        header_field(m, &c, hp, fe, colon_in(&lf_f, hp, fe));
        hp = nl ? nl + 1 : end;
    }
    if (lf_f.ctl) { /* rare: some block held a control octet other than CRLF, LF */
        for (uint16_t i = 0; i < m->nhdr; i++) {
            /* the whole line: name, value and the CRs and whitespace that
             * header_field trimmed before the LF (or the end) */
            const sip_header *h = &m->hdr[i];
            const char *eol = h->value.p + h->value.len;
            while (eol < end && (*eol == ' ' || *eol == '\t' || *eol == '\r')) eol++;
            if (eol < end && *eol == '\n') eol++;
            bool comments = h->id == SIP_H_USER_AGENT || h->id == SIP_H_SERVER || h->id == SIP_H_RETRY_AFTER;
            if (header_ctl(h->name.p, eol, comments)) {
                sip_msg_add_anomaly(m, SIP_A_CONTROL_CHARACTER);
                break;
            }
        }
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
