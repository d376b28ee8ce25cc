/*
 * sip_names.c -- the parser's static tables: character classes, method and
 * header names (compact forms too), anomaly names, descriptions and classes,
 * default limits. Data and lookups only; no parsing state.
 */
#include <assert.h>

#include "sip.h"

/* RFC 3261 25.1 classes, one byte per octet: TOKEN 1, WSP 2, DIGIT 4,
 * ALPHA 8, HEX 16, CALLID 32 (a Call-ID octet other than '@': VCHAR or
 * >= 0x80; see sip_cs_callid). */
const uint8_t sip_ctype[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   2,   2,   0,   0,   2,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      2,  33,  32,  32,  32,  33,  32,  33,  32,  32,  33,  33,  32,  33,  33,  32,
     53,  53,  53,  53,  53,  53,  53,  53,  53,  53,  32,  32,  32,  32,  32,  32,
      0,  57,  57,  57,  57,  57,  57,  41,  41,  41,  41,  41,  41,  41,  41,  41,
     41,  41,  41,  41,  41,  41,  41,  41,  41,  41,  41,  32,  32,  32,  32,  33,
     33,  57,  57,  57,  57,  57,  57,  41,  41,  41,  41,  41,  41,  41,  41,  41,
     41,  41,  41,  41,  41,  41,  41,  41,  41,  41,  41,  32,  32,  32,  33,   0,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
     32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,  32,
};

void sip_limits_default(sip_limits *l) {
    l->max_message = 65535;
    l->max_headers = 128;
    l->max_header_len = 4096;
    l->max_uri_len = 1024;
}

/* ---- methods ------------------------------------------------------------ */

static const char *const method_names[SIP_M__COUNT] = {
#define SIP_M_NAME(id, s) s,
    SIP_METHODS(SIP_M_NAME)
#undef SIP_M_NAME
};

const char *sip_method_name(sip_method m) {
    return (unsigned)m < SIP_M__COUNT ? method_names[m] : "";
}

static bool bytes_eq(fs_str s, const char *lit, size_t n) {
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

sip_method sip_method_lookup(fs_str s) {
#define TRY(lit, id) if (bytes_eq(s, lit, sizeof(lit) - 1)) return SIP_M_##id
    switch (s.len) {
    case 3: TRY("ACK", ACK); TRY("BYE", BYE); break;
    case 4: TRY("INFO", INFO); break;
    case 5: TRY("PRACK", PRACK); TRY("REFER", REFER); break;
    case 6:
        TRY("INVITE", INVITE); TRY("CANCEL", CANCEL);
        TRY("NOTIFY", NOTIFY); TRY("UPDATE", UPDATE);
        break;
    case 7: TRY("OPTIONS", OPTIONS); TRY("PUBLISH", PUBLISH); TRY("MESSAGE", MESSAGE); break;
    case 8: TRY("REGISTER", REGISTER); break;
    case 9: TRY("SUBSCRIBE", SUBSCRIBE); break;
    default: break;
    }
#undef TRY
    return SIP_M_UNKNOWN;
}

/* ---- header names ---------------------------------------------------------- */

static const char *const header_names[SIP_H__COUNT] = {
#define SIP_H_NAME(id, s) s,
    SIP_HEADERS(SIP_H_NAME)
#undef SIP_H_NAME
};

const char *sip_header_name(sip_header_id id) {
    return (unsigned)id < SIP_H__COUNT ? header_names[id] : "";
}

static inline unsigned char ascii_lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* p (n bytes, any case) equals the lower-case literal lower (letters and
 * '-' only). Word at a time, the last word overlapping the previous one: p
 * may differ from lower only in bit 0x20 and only where lower holds a letter
 * (bit 0x40 set), which is exactly ASCII case folding for these literals. */
static inline bool lower_eq_64(const char *p, const char *lower) {
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, lower, 8);
    return !((a ^ b) & ~((b & 0x4040404040404040ULL) >> 1));
}

static inline bool lower_eq_16(const char *p, const char *lower) {
    uint16_t a, b;
    memcpy(&a, p, 2);
    memcpy(&b, lower, 2);
    return !((a ^ b) & ~((b & 0x4040u) >> 1) & 0xffffu);
}

static inline bool lower_eq_32(const char *p, const char *lower) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, lower, 4);
    return !((a ^ b) & ~((b & 0x40404040u) >> 1));
}

#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline bool lower_eq(const char *p, const char *lower, size_t n) {
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            if (!lower_eq_64(p + i, lower + i)) return false;
        return i == n || lower_eq_64(p + n - 8, lower + n - 8);
    }
    if (n >= 4) return lower_eq_32(p, lower) && lower_eq_32(p + n - 4, lower + n - 4);
    if (n >= 2) return lower_eq_16(p, lower) && lower_eq_16(p + n - 2, lower + n - 2);
    return n == 0 || ascii_lower((unsigned char)p[0]) == (unsigned char)lower[0];
}

static sip_header_id compact_form(unsigned char c) {
    switch (c) {
    case 'i': return SIP_H_CALL_ID;
    case 'm': return SIP_H_CONTACT;
    case 'e': return SIP_H_CONTENT_ENCODING;
    case 'l': return SIP_H_CONTENT_LENGTH;
    case 'c': return SIP_H_CONTENT_TYPE;
    case 'f': return SIP_H_FROM;
    case 's': return SIP_H_SUBJECT;
    case 'k': return SIP_H_SUPPORTED;
    case 't': return SIP_H_TO;
    case 'v': return SIP_H_VIA;
    case 'o': return SIP_H_EVENT;
    case 'r': return SIP_H_REFER_TO;
    case 'b': return SIP_H_REFERRED_BY;
    case 'u': return SIP_H_ALLOW_EVENTS;
    case 'x': return SIP_H_SESSION_EXPIRES;
    case 'y': return SIP_H_IDENTITY;
    case 'a': return SIP_H_ACCEPT_CONTACT;
    case 'j': return SIP_H_REJECT_CONTACT;
    case 'd': return SIP_H_REQUEST_DISPOSITION;
    default: return SIP_H_OTHER;
    }
}

/* Resolve by length, then first letter, then one or two full compares. */
sip_header_id sip_header_lookup(fs_str name) {
    if (name.len == 0) return SIP_H_OTHER;
    const char *p = name.p;
    unsigned char c0 = ascii_lower((unsigned char)p[0]);
    if (name.len == 1) return compact_form(c0);
#define TRY(lit, id) if (lower_eq(p, lit, sizeof(lit) - 1)) return SIP_H_##id
    switch (name.len) {
    case 2: TRY("to", TO); break;
    case 3: TRY("via", VIA); break;
    case 4:
        if (c0 == 'f') { TRY("from", FROM); }
        else if (c0 == 'c') { TRY("cseq", CSEQ); }
        else if (c0 == 'd') { TRY("date", DATE); }
        break;
    case 5:
        if (c0 == 'r') { TRY("route", ROUTE); }
        else if (c0 == 'a') { TRY("allow", ALLOW); }
        else if (c0 == 'e') { TRY("event", EVENT); }
        break;
    case 6:
        if (c0 == 's') { TRY("server", SERVER); }
        else if (c0 == 'a') { TRY("accept", ACCEPT); }
        else if (c0 == 'r') { TRY("reason", REASON); }
        break;
    case 7:
        switch (c0) {
        case 'c': TRY("call-id", CALL_ID); TRY("contact", CONTACT); break;
        case 'e': TRY("expires", EXPIRES); break;
        case 'w': TRY("warning", WARNING); break;
        case 's': TRY("subject", SUBJECT); break;
        case 'r': TRY("require", REQUIRE); break;
        case 'p': TRY("privacy", PRIVACY); break;
        default: break;
        }
        break;
    case 8:
        if (c0 == 'r') { TRY("refer-to", REFER_TO); }
        else if (c0 == 'i') { TRY("identity", IDENTITY); }
        break;
    case 9:
        if (c0 == 's') { TRY("supported", SUPPORTED); }
        else if (c0 == 'd') { TRY("diversion", DIVERSION); }
        break;
    case 10: TRY("user-agent", USER_AGENT); break;
    case 11:
        if (c0 == 'r') { TRY("referred-by", REFERRED_BY); TRY("retry-after", RETRY_AFTER); }
        break;
    case 12:
        switch (c0) {
        case 'm': TRY("max-forwards", MAX_FORWARDS); TRY("mime-version", MIME_VERSION); break;
        case 'r': TRY("record-route", RECORD_ROUTE); break;
        case 'c': TRY("content-type", CONTENT_TYPE); break;
        case 'h': TRY("history-info", HISTORY_INFO); break;
        case 'a': TRY("allow-events", ALLOW_EVENTS); break;
        default: break;
        }
        break;
    case 13:
        if (c0 == 'a') { TRY("authorization", AUTHORIZATION); }
        else if (c0 == 'p') { TRY("proxy-require", PROXY_REQUIRE); TRY("p-served-user", P_SERVED_USER); }
        break;
    case 14:
        if (c0 == 'c') { TRY("content-length", CONTENT_LENGTH); }
        else if (c0 == 'a') { TRY("accept-contact", ACCEPT_CONTACT); }
        else if (c0 == 'r') { TRY("reject-contact", REJECT_CONTACT); }
        break;
    case 15:
        if (c0 == 's') {
            TRY("session-expires", SESSION_EXPIRES);
            TRY("security-client", SECURITY_CLIENT);
            TRY("security-server", SECURITY_SERVER);
            TRY("security-verify", SECURITY_VERIFY);
        }
        break;
    case 16:
        if (c0 == 'c') { TRY("content-encoding", CONTENT_ENCODING); }
        else if (c0 == 'w') { TRY("www-authenticate", WWW_AUTHENTICATE); }
        break;
    case 17:
        if (c0 == 'p') { TRY("p-charging-vector", P_CHARGING_VECTOR); }
        else if (c0 == 'r') { TRY("resource-priority", RESOURCE_PRIORITY); }
        break;
    case 18: TRY("proxy-authenticate", PROXY_AUTHENTICATE); break;
    case 19:
        if (c0 == 'p') { TRY("proxy-authorization", PROXY_AUTHORIZATION);
                         TRY("p-asserted-identity", P_ASSERTED_IDENTITY); }
        else if (c0 == 'r') { TRY("request-disposition", REQUEST_DISPOSITION); }
        break;
    case 20: TRY("p-preferred-identity", P_PREFERRED_IDENTITY); TRY("p-visited-network-id", P_VISITED_NETWORK_ID); break;
    case 21: TRY("p-access-network-info", P_ACCESS_NETWORK_INFO); break;
    case 29: TRY("p-charging-function-addresses", P_CHARGING_FUNCTION_ADDRESSES); break;
    default: break;
    }
#undef TRY
    return SIP_H_OTHER;
}

/* ---- anomalies -------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *desc;
    uint8_t cls;
} anomaly_info[SIP_A__COUNT] = {
#define SIP_A_INFO(code, cls, desc) {#code, desc, SIP_AC_##cls},
    SIP_ANOMALIES(SIP_A_INFO)
#undef SIP_A_INFO
};

const char *sip_anomaly_name(sip_anomaly a) {
    return (unsigned)a < SIP_A__COUNT ? anomaly_info[a].name : "UNKNOWN";
}

const char *sip_anomaly_desc(sip_anomaly a) {
    return (unsigned)a < SIP_A__COUNT ? anomaly_info[a].desc : "unknown anomaly";
}

sip_anomaly_class sip_anomaly_class_of(sip_anomaly a) {
    return (unsigned)a < SIP_A__COUNT ? (sip_anomaly_class)anomaly_info[a].cls : SIP_AC_NOTE;
}

/* Each code is recorded once, so a flood of problems cannot grow the
 * message, and anom[] has room for every code: none is dropped. */
_Static_assert(SIP_A__COUNT <= SIP_MAX_ANOMALIES, "anom[] must hold every anomaly code");
void sip_msg_add_anomaly(sip_msg *m, sip_anomaly a) {
    assert(a > SIP_A_NONE && a < SIP_A__COUNT);
    if (sip_msg_has_anomaly(m, a)) return;
    if (m->anom_total < UINT16_MAX) m->anom_total++;
    if (m->nanom < SIP_MAX_ANOMALIES) m->anom[m->nanom++] = (uint8_t)a;
}

bool sip_msg_has_anomaly(const sip_msg *m, sip_anomaly a) {
    for (unsigned i = 0; i < m->nanom; i++)
        if (m->anom[i] == a) return true;
    return false;
}
