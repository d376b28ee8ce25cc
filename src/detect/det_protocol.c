/*
 * det_protocol.c -- protocol validation and tool fingerprints.
 *
 * Owns: mapping each parser anomaly to its rule (SIP-MAL-*, SIP-PROTO-*),
 * Max-Forwards abuse, and SIP-SCAN-001 (known attack-tool fingerprints).
 * Incidents are keyed by source address: one event per misbehaving sender,
 * with the distinct anomaly codes listed in evidence.details.anomalies.
 */
#include <stdio.h>

#include "det_internal.h"

_Static_assert(SIP_A__COUNT <= 64, "det_incident.anomalies holds a bit per anomaly code");

/* det_key_sender salt of the protocol rules' incidents (anomaly_hits) */
enum { SALT_PROTOCOL = 11 };

static det_rule_id rule_for_anomaly(sip_anomaly a) {
    switch (a) {
    case SIP_A_MISSING_REQUIRED_HEADER: return R_PROTO_MISSING_HDR;
    case SIP_A_MULTIPLE_SINGLE_VALUE:
    case SIP_A_CONTENT_LENGTH_MULTIPLE: return R_PROTO_MULTI_VALUE;
    case SIP_A_CONTENT_LENGTH_MISMATCH: return R_PROTO_CL_MISMATCH;
    case SIP_A_MAX_FORWARDS_ZERO: return R_PROTO_MAX_FORWARDS;
    case SIP_A_VIA_BRANCH_NO_COOKIE: return R_PROTO_BRANCH_COOKIE;
    case SIP_A_METHOD_UNKNOWN: return R_PROTO_METHOD;
    default: break;
    }
    switch (sip_anomaly_class_of(a)) {
    case SIP_AC_MALFORMED: return R_MAL_MESSAGE;
    case SIP_AC_LIMIT: return R_MAL_OVERSIZE;
    case SIP_AC_PROTOCOL: return R_PROTO_OTHER;
    case SIP_AC_NOTE: break;
    }
    return R__COUNT;
}

/* code into the "anomalies" detail (a sorted set, ev_list_add) */
static void note_anomaly(ev_event *ev, const char *code) { ev_list_add(ev, "anomalies", code); }

static void source_observable(ev_event *ev, const det_ctx *c) { det_sender_observables(ev, c); }

/* Bytes of header field h up to its line end (folding included, the CR of
 * its CRLF not), as sip_parse measured it against max_header_len. */
static size_t field_span(const sip_msg *m, const sip_header *h) {
    const char *end = h->value.p + h->value.len, *stop = m->raw.p + m->raw.len;
    if (end < h->name.p + h->name.len) end = h->name.p + h->name.len;
    while (end < stop && *end != '\n') end++;
    if (end > h->name.p && end[-1] == '\r') end--;
    return (size_t)(end - h->name.p);
}

/* Fields a response copies from its request (RFC 3261 8.2.6.2: Via, From,
 * Call-ID and CSeq as they were, To with the responder's tag added; 12.1.1:
 * a UAS copies every Record-Route into a response that makes a dialog, and
 * the proxies pass them back as they were, 16.7). */
static bool copied_field(sip_header_id id) {
    return id == SIP_H_VIA || id == SIP_H_FROM || id == SIP_H_TO || id == SIP_H_CALL_ID || id == SIP_H_CSEQ ||
           id == SIP_H_RECORD_ROUTE;
}

/* Whether anomaly a of response m can come from its copied fields: a code
 * only they give; one that From or To give as well as the responder's own
 * fields (Contact ...), taken as the copy's when its requester's request had
 * it too; or a limit that its other fields keep to (fields past max_headers
 * were not kept, nor their lengths: then it cannot be told). */
static bool copied_anomaly(const det_ctx *c, sip_anomaly a) {
    const sip_msg *m = c->m;
    switch (a) {
    case SIP_A_VIA_SYNTAX:
    case SIP_A_VIA_BROADCAST:
    case SIP_A_CALL_ID_SYNTAX:
    case SIP_A_CSEQ_SYNTAX:
    case SIP_A_CSEQ_RANGE:
    case SIP_A_UNTERMINATED_QUOTE:
    case SIP_A_DISPLAY_NAME_SYNTAX:
    case SIP_A_ADDR_SPEC_SPACES:
    case SIP_A_NAME_ADDR_UNBRACKETED:
    case SIP_A_URI_SYNTAX:
    case SIP_A_URI_UNKNOWN_SCHEME:
    case SIP_A_TAG_SYNTAX:
    case SIP_A_CONTROL_CHARACTER:
    case SIP_A_HEADER_EMPTY_VALUE_ITEM:
    case SIP_A_MULTIPLE_SINGLE_VALUE:
    case SIP_A_LIMIT_URI_LENGTH:
        return true;
    case SIP_A_MISSING_REQUIRED_HEADER: /* a response's are the copied ones (Content-Length over TCP aside) */
        return !m->count[SIP_H_VIA] || !m->count[SIP_H_FROM] || !m->count[SIP_H_TO] || !m->count[SIP_H_CALL_ID] ||
               !m->count[SIP_H_CSEQ];
    case SIP_A_LIMIT_HEADER_LENGTH:
        if (sip_msg_has_anomaly(m, SIP_A_LIMIT_HEADER_COUNT)) return false;
        for (unsigned i = 0; i < m->nhdr; i++)
            if (!copied_field((sip_header_id)m->hdr[i].id) &&
                field_span(m, &m->hdr[i]) > c->eng->limits.max_header_len &&
                !sip_list_items_fit((sip_header_id)m->hdr[i].id, m->hdr[i].value, c->eng->limits.max_header_len))
                return false; /* judged per item, as sip_parse does: a registrar's list of bindings is not one */
        return true;
    case SIP_A_LIMIT_HEADER_COUNT: {
        uint32_t own = 0, max = c->eng->limits.max_headers ? c->eng->limits.max_headers : SIP_MAX_HEADERS;
        for (unsigned id = 0; id < SIP_H__COUNT; id++) {
            if (copied_field((sip_header_id)id)) continue;
            if (m->count[id] == UINT8_MAX) return false; /* saturated: more than counted */
            own += m->count[id];
        }
        return own <= max;
    }
    default:
        return false;
    }
}

/* A response copies the request's Via, From, To, Call-ID and CSeq (RFC
 * 3261 8.2.6.2): what is wrong with them is the requester's doing, not the
 * responder's, who would otherwise be framed by a request built for it (a
 * Via over max_header_len, echoed in the 200, earned the server
 * SIP-MAL-002 and RATE_LIMIT_SOURCE; a fuzzer's CSeq 2**32, echoed in the
 * 400, SIP-MAL-001). Such an anomaly is the requester's when its own
 * incident of rule r (its request, judged before) lists it; a responder
 * that breaks those fields itself (a hostile UAS aiming at a client's
 * parser) is still judged, unless its requester is allow-listed (whose
 * requests nobody judged). Cold: responses with anomalies only. */
static bool echoed_anomaly(const det_ctx *c, det_rule_id r, sip_anomaly a) {
    if (a == SIP_A_VIA_BRANCH_NO_COOKIE) return true; /* SIP-PROTO-005 judges requests only */
    if (!copied_anomaly(c, a)) return false;
    /* an allow-listed requester's requests are not judged (the tuning for a
     * quirky peer): what its answers copy from them is its own all the same */
    if (c->requester_allowed) return true;
    uint64_t requester = det_key_net(c->eng, &c->p->dst.addr, SALT_PROTOCOL);
    const det_incident *inc = det_table_find(&c->eng->incidents, det_incident_key(r, requester));
    return inc && (inc->anomalies >> a & 1);
}

static void anomaly_hits(det_ctx *c) {
    const sip_msg *m = c->m;
    if (!m->nanom) return; /* most messages */
    uint64_t key = det_key_sender(c, SALT_PROTOCOL);
    bool seen[R__COUNT] = {false};
    for (unsigned i = 0; i < m->nanom; i++) {
        det_rule_id r = rule_for_anomaly((sip_anomaly)m->anom[i]);
        if (r == R__COUNT) continue;
        /* OPTIONS with Max-Forwards 0 asks the next hop itself (RFC 3261
         * 16.3 item 2, 11): proxies use it as a keepalive. Counted, not raised. */
        if (m->anom[i] == SIP_A_MAX_FORWARDS_ZERO && m->method == SIP_M_OPTIONS) continue;
        /* A response copies the request's Via (RFC 3261 8.2.6.2): its sender
         * did not pick the branch, nor the rest of the fields it copies. The
         * request's sender is judged on its request (SIP-PROTO-005 judges
         * requests only, as below). */
        if (!m->is_request && echoed_anomaly(c, r, (sip_anomaly)m->anom[i])) continue;
        bool opened;
        /* one message counts once per rule, however many anomalies it has */
        ev_event *ev = det_hit(c, r, key, seen[r] ? 0 : 1, &opened);
        seen[r] = true;
        if (!ev) continue;
        if (opened) source_observable(ev, c);
        note_anomaly(ev, sip_anomaly_name((sip_anomaly)m->anom[i]));
        det_incident *inc = det_table_find(&c->eng->incidents, ev->incident_key);
        if (inc) inc->anomalies |= 1ULL << m->anom[i];
    }
}

/* Max-Forwards far above the RFC 3261 recommended 70 on a request: loop
 * amplification or probing. Zero is flagged by the parser (MAX_FORWARDS_ZERO). */
static void max_forwards_check(det_ctx *c) {
    const sip_msg *m = c->m;
    if (!m->is_request || m->max_forwards < 0) return;
    double max_initial = det_rule_cfg(c, R_PROTO_MAX_FORWARDS)->param[0];
    if ((double)m->max_forwards <= max_initial) return;
    bool opened;
    ev_event *ev = det_hit(c, R_PROTO_MAX_FORWARDS, det_key_sender(c, 11), 1, &opened);
    if (!ev) return;
    if (opened) source_observable(ev, c);
    note_anomaly(ev, "MAX_FORWARDS_ABOVE_INITIAL");
    ev_set_int(ev, "max_forwards", m->max_forwards);
}

/* ---- fingerprints --------------------------------------------------------------- */

/* User-Agent substrings of attack tools (field notes: SIPVicious, sippts,
 * sipsak, Kamailio's default scanner list, ET rules). Lower case. */
static const char *const tool_agents[16] = {
    "friendly-scanner", "sipvicious", "sipcli", "pplsip", "vaxsipuseragent", "sipsak",
    "sip-scan", "sipscan", "iwar", "smap", "sundayddr", "sipptk", "siparmyknife",
    "warvox", "scanner", "friendly",
};

/* Bit k of agent_first[c] / agent_second[c]: tool_agents[k] has the letter
 * c (either case) first / second. Must match the table above; test_detect
 * pins every agent, in both cases. */
#define AGENT_LETTER(lc, mask) [lc] = (mask), [lc - 32] = (mask)
static const uint16_t agent_first[256] = {
    AGENT_LETTER('f', 1u << 0 | 1u << 15),
    AGENT_LETTER('s', 1u << 1 | 1u << 2 | 1u << 5 | 1u << 6 | 1u << 7 | 1u << 9 | 1u << 10 | 1u << 11 |
                          1u << 12 | 1u << 14),
    AGENT_LETTER('p', 1u << 3), AGENT_LETTER('v', 1u << 4), AGENT_LETTER('i', 1u << 8),
    AGENT_LETTER('w', 1u << 13),
};
static const uint16_t agent_second[256] = {
    AGENT_LETTER('r', 1u << 0 | 1u << 15),
    AGENT_LETTER('i', 1u << 1 | 1u << 2 | 1u << 5 | 1u << 6 | 1u << 7 | 1u << 11 | 1u << 12),
    AGENT_LETTER('p', 1u << 3), AGENT_LETTER('a', 1u << 4 | 1u << 13), AGENT_LETTER('w', 1u << 8),
    AGENT_LETTER('m', 1u << 9), AGENT_LETTER('u', 1u << 10), AGENT_LETTER('c', 1u << 14),
};
#undef AGENT_LETTER

/* Runs on every request: one pass over the User-Agent (its first 256
 * octets), where the octet pair at hand picks the few agents that start with
 * it; only those are compared. The first agent of tool_agents that occurs
 * wins (longer names first: "friendly-scanner" before "friendly"). */
static const char *ua_fingerprint(fs_str ua) {
    size_t n = ua.len < 256 ? ua.len : 256;
    const unsigned char *u = (const unsigned char *)ua.p;
    unsigned best = 16;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned cand = agent_first[u[i]];
        if (!cand || !(cand &= agent_second[u[i + 1]])) continue; /* most end here */
        while (cand) {
            unsigned k = (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            if (k >= best) break;
            size_t tl = strlen(tool_agents[k]);
            if (tl <= n - i && sip_lower_eq(ua.p + i, tool_agents[k], tl)) best = k;
        }
    }
    return best < 16 ? tool_agents[best] : NULL;
}

/* sippts: Via branch of ~71 [0-9a-z] characters without the z9hG4bK cookie. */
static bool sippts_branch(fs_str branch) {
    if (branch.len < 60 || branch.len > 80 || fs_str_istarts(branch, "z9hG4bK")) return false;
    for (uint32_t i = 0; i < branch.len; i++) {
        char ch = branch.p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z'))) return false;
    }
    return true;
}

/* SIPVicious createTag(): hex of "<data>\x01<decimal random>", where data is
 * the target address and port (svmap), "user:password" (svcrack) or the
 * extension (svwar), and the random is getrandbits(32) in decimal. Decoded,
 * the tag is printable text, one 0x01 byte, then 6 to 10 digits to the end:
 * a 32-bit random has fewer than 6 digits once in 43,000 tags, while a
 * phone's random 8-hex tag reads as 2 printable bytes, 0x01 and a digit
 * about once in 10^5 (4 of the bench capture's 6,000 phones matched when 1
 * digit was enough). */
static bool sipvicious_tag(fs_str tag) {
    if (tag.len < 16 || tag.len > 256 || tag.len % 2) return false;
    uint32_t n = tag.len / 2, sep = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        int hi = det_hex_value(tag.p[2 * i]), lo = det_hex_value(tag.p[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        unsigned b = (unsigned)(hi << 4 | lo);
        if (b == 0x01) {
            if (sep != UINT32_MAX) return false;
            sep = i;
        } else if (sep == UINT32_MAX ? (b < 0x20 || b > 0x7e) : (b < '0' || b > '9')) {
            return false;
        }
    }
    return sep != UINT32_MAX && sep > 0 && n - sep - 1 >= 6 && n - sep - 1 <= 10;
}

/* svmap's fixed From URI "sip:100@1.1.1.1", whatever the display name
 * (the scheme in any case: URI schemes are case-insensitive, RFC 3261 19.1.4),
 * the host whole: not 1.1.1.10 or 1.1.1.1.example.net. */
static bool svmap_uri(fs_str from) {
    const char *at = from.len ? memchr(from.p, '@', from.len) : NULL;
    if (!at || at - from.p < 7) return false;
    size_t rest = from.len - (size_t)(at - from.p);
    if (rest < 8 || !sip_lower_eq(at - 7, "sip:100@1.1.1.1", 15)) return false;
    unsigned char next = rest > 8 ? (unsigned char)at[8] : 0;
    return !(sip_is_digit(next) || ((next | 0x20) >= 'a' && (next | 0x20) <= 'z') || next == '.' || next == '-' ||
             next == '_');
}

/* The tool named by the User-Agent, or by a later User-Agent field: the
 * header may appear once (RFC 3261 20.41), but a tool can put a harmless
 * product first and its own second, and the element behind the sensor may
 * log either. *ua is the User-Agent that named it. A second field is rare:
 * most requests stop at the first test. */
static const char *agent_fingerprint(const sip_msg *m, fs_str *ua) {
    *ua = m->user_agent;
    const char *fp = ua_fingerprint(m->user_agent);
    if (fp || m->count[SIP_H_USER_AGENT] < 2 || m->first[SIP_H_USER_AGENT] < 0) return fp;
    for (unsigned i = (unsigned)m->first[SIP_H_USER_AGENT] + 1; i < m->nhdr; i++) {
        if (m->hdr[i].id != SIP_H_USER_AGENT || !(fp = ua_fingerprint(m->hdr[i].value))) continue;
        *ua = m->hdr[i].value;
        return fp;
    }
    return NULL;
}

/* *agent: the User-Agent that named the tool, or empty when something else
 * did (a tool with a changed User-Agent: that agent may be any phone's). */
static const char *message_fingerprint(const sip_msg *m, fs_str *agent) {
    const char *ua = agent_fingerprint(m, agent);
    if (ua) return ua;
    *agent = (fs_str){0};
    if (fs_str_istarts(m->from, "\"sipvicious\"") || fs_str_istarts(m->to, "\"sipvicious\""))
        return "sipvicious-from";
    if (svmap_uri(m->from)) return "sipvicious-from";
    if (sipvicious_tag(m->from_tag)) return "sipvicious-tag";
    if (m->is_request && sippts_branch(m->via_branch)) return "sippts-branch";
    return NULL;
}

static void fingerprint_check(det_ctx *c) {
    if (!c->m->is_request) return;
    fs_str agent;
    const char *fp = message_fingerprint(c->m, &agent);
    if (!fp) return;
    bool opened;
    ev_event *ev = det_hit(c, R_SCAN_FINGERPRINT, det_key_sender(c, 12), 1, &opened);
    if (!ev) return;
    if (opened) {
        source_observable(ev, c);
        char ua[sizeof ((ev_observable *)0)->value];
        ev_copy_text(ua, sizeof ua, agent);
        /* a `tool` observable is matched by receivers (INTEL-001): only an
         * agent that named the tool, never an ordinary one beside its tag,
         * and only whole (cut short, it equals no agent a receiver sees) */
        if (ua[0] && strlen(ua) + 1 < sizeof ua) ev_add_observable(ev, "sip_user_agent", ua, "tool");
        ev_set_str(ev, "fingerprint", fp);
    }
    if (c->requester) ev_set_int(ev, "distinct_targets", det_sketch_count(&c->requester->scan_targets, c->requester->scan_probes));
}

/* Policies the parser leaves to the detector: RFC 3261 tolerates RFC 2543
 * branches and extension methods, an inspector reports them. */
static void detector_anomalies(det_ctx *c) {
    const sip_msg *m = c->m;
    if (!m->is_request) return;
    bool opened;
    /* A top Via without a branch (or a bare ";branch") has no transaction id
     * at all (RFC 3261 8.1.1.7: MUST be present): the parser notes it as
     * RFC 2543 syntax, as a branch without the cookie, and it is reported
     * alike. A Via the parser could not read is SIP-MAL-001's. */
    bool missing = !m->via_branch.len && m->count[SIP_H_VIA] && !sip_msg_has_anomaly(m, SIP_A_VIA_SYNTAX);
    if ((missing && !sip_msg_has_anomaly(m, SIP_A_VIA_BRANCH_NO_COOKIE)) || det_branch_without_cookie(m)) {
        ev_event *ev = det_hit(c, R_PROTO_BRANCH_COOKIE, det_key_sender(c, 11), 1, &opened);
        if (ev) {
            if (opened) source_observable(ev, c);
            note_anomaly(ev, missing ? "VIA_BRANCH_MISSING" : "VIA_BRANCH_NO_COOKIE");
        }
    }
    if (det_method_unknown(m)) {
        ev_event *ev = det_hit(c, R_PROTO_METHOD, det_key_sender(c, 11), 1, &opened);
        if (ev) {
            if (opened) source_observable(ev, c);
            note_anomaly(ev, "METHOD_UNKNOWN");
            char name[24];
            ev_copy_text(name, sizeof name, m->method_str);
            ev_set_str(ev, "method", name);
        }
    }
}

void det_protocol_anomalies(det_ctx *c) { anomaly_hits(c); }

void det_protocol_check(det_ctx *c) {
    anomaly_hits(c);
    detector_anomalies(c);
    max_forwards_check(c);
    fingerprint_check(c);
}
