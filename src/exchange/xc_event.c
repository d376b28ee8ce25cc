/*
 * xc_event.c -- parse and validate an fs38 event 1.0 (see xc.h).
 *
 * Owns: the enumerations of the format, the validator (every wrong field is
 * reported with its path, not only the first), extraction of the indexed
 * fields, RFC 3339 times, issuer syntax, detection of clear subscriber
 * identifiers. Must not touch: signatures, keys, storage, printing.
 *
 * The hub runs this for every published event, so the document is parsed
 * exactly once and the indexed fields point into the jansson tree. The same
 * rules are written as a JSON Schema in docs/event.schema.json; the unit
 * test keeps the enumerations of the two in step.
 */
#include "xc.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- reports ------------------------------------------------------------------ */

void xc_report_clear(xc_report *r) {
    r->n = 0;
    r->dropped = 0;
}

void xc_report_add(xc_report *r, const char *field, const char *fmt, ...) {
    if (!r) return;
    if (r->n >= XC_REPORT_MAX) {
        r->dropped++;
        return;
    }
    xc_issue *it = &r->items[r->n++];
    snprintf(it->field, sizeof it->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->problem, sizeof it->problem, fmt, ap);
    va_end(ap);
}

const char *xc_report_format(const xc_report *r, char *buf, size_t n) {
    size_t o = 0;
    if (n == 0) return buf;
    buf[0] = '\0';
    for (unsigned i = 0; i < r->n && o + 1 < n; i++) {
        int w = snprintf(buf + o, n - o, "%s%s: %s", i ? "; " : "", r->items[i].field,
                         r->items[i].problem);
        if (w < 0) break;
        o += (size_t)w;
    }
    if (r->dropped && o + 1 < n) snprintf(buf + o, n - o, " (+%u more)", r->dropped);
    return buf;
}

const xc_issue *xc_report_find(const xc_report *r, const char *field) {
    for (unsigned i = 0; i < r->n; i++)
        if (!strcmp(r->items[i].field, field)) return &r->items[i];
    return NULL;
}

/* ---- enumerations (mirrored by docs/event.schema.json) ------------------------- */

static const char *const e_status[] = {"active", "revoked"};
static const char *const e_event_type[] = {
    "SIP_SCANNER", "SIP_ENUMERATION", "SIP_BRUTE_FORCE", "SIP_FLOOD", "SIP_MALFORMED",
    "SIP_PROTOCOL_VIOLATION", "SIGNALLING_ATTACK", "TOPOLOGY_LEAK", "INFO_DISCLOSURE",
    "TRUST_BOUNDARY_VIOLATION", "CLI_SPOOFING", "IRSF", "WANGIRI", "TOLL_FRAUD",
    "SIM_SWAP_SUSPECT", "SUBSCRIPTION_FRAUD", "SIM_BOX_BYPASS", "ROAMING_HIGH_USAGE", "SIGHTING",
    "FALSE_POSITIVE"};
static const char *const e_domain[] = {"infrastructure", "privacy", "fraud"};
/* The domain the spec lists each event_type under (an e_domain index), in
 * the order of e_event_type; -1: feedback, about an event of any domain. */
static const signed char event_type_domain[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
                                                2, 2, 2, 2, 2, 2, 2, 2, -1, -1};
_Static_assert(sizeof event_type_domain == sizeof e_event_type / sizeof *e_event_type,
               "one domain per event_type");
static const char *const e_severity[] = {"info", "low", "medium", "high", "critical"};
static const char *const e_obs_kind[] = {
    "ip", "cidr", "e164", "e164_range", "msisdn_hmac", "imsi_hmac", "iccid_hmac", "imei", "plmn",
    "sip_uri", "sip_domain", "sip_user_agent", "carrier"};
static const char *const e_obs_role[] = {"source", "destination", "caller", "callee",
                                         "victim", "tool",        "target"};
static const char *const e_action[] = {"NONE",           "MONITOR",          "RATE_LIMIT_SOURCE",
                                       "BLOCK_SOURCE",   "BLOCK_DESTINATION", "BLOCK_CALLER",
                                       "REJECT_IDENTITY", "REQUIRE_VALIDATION"};
static const char *const e_tlp[] = {"clear", "green", "amber", "amber+strict", "red"};
static const char *const e_protocol[] = {"ss7", "diameter", "gtp"};

#define TABLE(t) {t, sizeof t / sizeof *t}
static const struct {
    const char *const *v;
    size_t n;
} enums[XC_ENUM__COUNT] = {TABLE(e_status), TABLE(e_event_type), TABLE(e_domain),
                           TABLE(e_severity), TABLE(e_obs_kind), TABLE(e_obs_role),
                           TABLE(e_action), TABLE(e_tlp), TABLE(e_protocol)};
static const char *const enum_labels[XC_ENUM__COUNT] = {
    "status", "event_type", "domain", "severity", "observable kind", "observable role",
    "recommended action", "TLP", "signalling protocol"};

size_t xc_enum_count(xc_enum which) { return (unsigned)which < XC_ENUM__COUNT ? enums[which].n : 0; }

const char *xc_enum_value(xc_enum which, size_t i) {
    return i < xc_enum_count(which) ? enums[which].v[i] : NULL;
}

int xc_enum_find(xc_enum which, const char *s) {
    for (size_t i = 0; i < xc_enum_count(which); i++)
        if (!strcmp(enums[which].v[i], s)) return (int)i;
    return -1;
}

const char *xc_enum_label(xc_enum which) {
    return (unsigned)which < XC_ENUM__COUNT ? enum_labels[which] : "?";
}

/* ---- small syntax checks --------------------------------------------------------- */

/* A UUID's length: a longer event_id is refused by its length, and the
 * message names the real limit. */
enum { UUID_LEN = 36 };

static bool all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return n > 0;
}

bool xc_issuer_valid(const char *s, size_t len) {
    if (len < 5 || len > XC_ISSUER_MAX || memcmp(s, "org:", 4) != 0) return false;
    const char *p = s + 4;
    size_t n = len - 4;
    bool only_digits_dash = true;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok) return false;
        if (!(c >= '0' && c <= '9') && c != '-') only_digits_dash = false;
    }
    if (!only_digits_dash) return true;
    /* looks like a PLMN: must be one (MCC 3 digits, MNC 2-3 digits) */
    return (n == 6 || n == 7) && p[3] == '-' && all_digits(p, 3) && all_digits(p + 4, n - 4);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool num_at(const char *s, size_t n, unsigned *out) {
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool xc_time_parse(const char *s, size_t len, int64_t *ms) {
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, se, frac = 0;
    if (len < 20 || len > 30) return false;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
    if (!num_at(s, 4, &y) || !num_at(s + 5, 2, &mo) || !num_at(s + 8, 2, &d) ||
        !num_at(s + 11, 2, &h) || !num_at(s + 14, 2, &mi) || !num_at(s + 17, 2, &se))
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3) frac = frac * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t nd = i - start;
        if (nd == 0 || nd > 9) return false;
        for (size_t k = nd; k < 3; k++) frac *= 10;
    }
    if (i + 1 != len || s[i] != 'Z') return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1) return false;
    unsigned last_day = mdays[mo - 1] + (mo == 2 && leap);
    if (d > last_day) return false;
    if (h > 23 || mi > 59 || se > 60) return false;
    /* 60: a leap second, which UTC inserts only as 23:59:60 on the last day
     * of a month (RFC 3339 5.7); 10:41:60 is no time at all */
    if (se == 60 && (h != 23 || mi != 59 || d != last_day)) return false;
    int64_t days = days_from_civil(y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000 + frac;
    return true;
}

static bool uuid7_valid(const char *s, size_t n) {
    if (n != UUID_LEN) return false;
    for (size_t i = 0; i < UUID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[14] == '7' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

static bool plus_digits(const char *s, size_t n, size_t min, size_t max) {
    return n >= 1 + min && n <= 1 + max && s[0] == '+' && all_digits(s + 1, n - 1);
}

/* A value shown inside an error message: quoted, bounded, printable. */
static const char *shown(const char *s, char *buf, size_t n) {
    size_t o = 0, i = 0;
    for (; s[i] && o + 4 < n && i < 48; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (s[i] && o + 4 < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- the validator ----------------------------------------------------------------- */

enum want { W_STRING, W_INT, W_NUMBER, W_OBJECT, W_ARRAY };

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static const char *want_name(enum want w) {
    static const char *const n[] = {"a string", "an integer", "a number", "an object", "an array"};
    return n[w];
}

static bool is_want(const json_t *v, enum want w) {
    switch (w) {
    case W_STRING: return json_is_string(v);
    case W_INT: return json_is_integer(v);
    case W_NUMBER: return json_is_number(v);
    case W_OBJECT: return json_is_object(v);
    default: return json_is_array(v);
    }
}

static void path_join(char *out, size_t n, const char *prefix, const char *key) {
    snprintf(out, n, "%s%s%s", prefix, *prefix ? "." : "", key);
}

/* The member `key` of obj if present and of the wanted type; otherwise NULL
 * with an issue (missing only when required). */
static json_t *member(xc_report *r, const json_t *obj, const char *prefix, const char *key,
                      enum want w, bool required) {
    char path[96];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) {
            path_join(path, sizeof path, prefix, key);
            xc_report_add(r, path, "missing (required)");
        }
        return NULL;
    }
    if (!is_want(v, w)) {
        path_join(path, sizeof path, prefix, key);
        xc_report_add(r, path, "must be %s, got %s", want_name(w), type_name(v));
        return NULL;
    }
    return v;
}

static const char *str_member(xc_report *r, const json_t *obj, const char *prefix,
                              const char *key, bool required, size_t maxlen) {
    json_t *v = member(r, obj, prefix, key, W_STRING, required);
    if (!v) return NULL;
    size_t n = json_string_length(v);
    char path[96];
    if (n == 0 || n > maxlen) {
        path_join(path, sizeof path, prefix, key);
        if (n == 0) xc_report_add(r, path, "must not be empty");
        else xc_report_add(r, path, "is %zu bytes long, at most %zu allowed", n, maxlen);
        return NULL;
    }
    return json_string_value(v);
}

static const char *enum_member(xc_report *r, const json_t *obj, const char *prefix,
                               const char *key, xc_enum which, bool required) {
    const char *s = str_member(r, obj, prefix, key, required, 64);
    if (!s) return NULL;
    if (xc_enum_find(which, s) >= 0) return s;
    char path[96], list[384], v[64]; /* every allowed value: event_type's take 313 bytes */
    size_t o = 0;
    for (size_t i = 0; i < xc_enum_count(which) && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                              xc_enum_value(which, i));
    path_join(path, sizeof path, prefix, key);
    xc_report_add(r, path, "'%s' is not one of %s", shown(s, v, sizeof v), list);
    return NULL;
}

static bool int_member(xc_report *r, const json_t *obj, const char *prefix, const char *key,
                       bool required, int64_t min, int64_t max, int64_t *out) {
    json_t *v = member(r, obj, prefix, key, W_INT, required);
    if (!v) return false;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        char path[96];
        path_join(path, sizeof path, prefix, key);
        xc_report_add(r, path, "%lld is out of range %lld..%lld", (long long)i, (long long)min,
                      (long long)max);
        return false;
    }
    if (out) *out = i;
    return true;
}

static bool time_member(xc_report *r, const json_t *obj, const char *prefix, const char *key,
                        bool required, int64_t *ms) {
    const char *s = str_member(r, obj, prefix, key, required, 64);
    if (!s) return false;
    if (xc_time_parse(s, strlen(s), ms)) return true;
    char path[96], v[64];
    path_join(path, sizeof path, prefix, key);
    xc_report_add(r, path, "'%s' is not an RFC 3339 UTC time like 2026-11-25T10:41:42.067Z",
                  shown(s, v, sizeof v));
    return false;
}

static bool is_feedback(const char *event_type) {
    return event_type && (!strcmp(event_type, "SIGHTING") || !strcmp(event_type, "FALSE_POSITIVE"));
}

static bool is_hmac_kind(const char *kind) {
    return kind && (!strcmp(kind, "msisdn_hmac") || !strcmp(kind, "imsi_hmac") ||
                    !strcmp(kind, "iccid_hmac"));
}

/* The value's syntax for its kind; NULL when fine, else what is expected. */
static const char *value_problem(const char *kind, const char *v) {
    size_t n = strlen(v);
    if (!strcmp(kind, "ip")) {
        fs_addr a;
        return fs_addr_parse(v, &a) ? NULL : "is not an IPv4 or IPv6 address";
    }
    if (!strcmp(kind, "cidr")) {
        fs_cidr c;
        return fs_cidr_parse(v, &c, NULL) ? NULL : "is not an IPv4 or IPv6 network (a.b.c.d/n)";
    }
    if (!strcmp(kind, "e164"))
        return plus_digits(v, n, 1, 15) ? NULL : "is not an E.164 number ('+' and 1-15 digits)";
    if (!strcmp(kind, "e164_range"))
        return plus_digits(v, n, 1, 15) ? NULL : "is not an E.164 prefix ('+' and 1-15 digits)";
    if (!strcmp(kind, "imei"))
        return n >= 14 && n <= 16 && all_digits(v, n) ? NULL : "is not an IMEI (14-16 digits)";
    if (!strcmp(kind, "plmn"))
        return (n == 6 || n == 7) && v[3] == '-' && all_digits(v, 3) && all_digits(v + 4, n - 4)
                   ? NULL
                   : "is not a PLMN like 234-15 (MCC-MNC)";
    if (!strcmp(kind, "sip_uri"))
        return fs_str_istarts(fs_str_make(v, n), "sip:") ||
                       fs_str_istarts(fs_str_make(v, n), "sips:") ||
                       fs_str_istarts(fs_str_make(v, n), "tel:")
                   ? NULL
                   : "is not a sip:, sips: or tel: URI";
    if (!strcmp(kind, "sip_domain")) {
        if (n > 255) return "is longer than 255 bytes";
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)v[i] <= ' ' || v[i] == '@' || v[i] == '/')
                return "is not a domain name (no spaces, '@' or '/')";
    }
    return NULL;
}

static void check_observables(xc_report *r, const json_t *root, xc_event *ev) {
    json_t *arr = member(r, root, "", "observables", W_ARRAY, true);
    if (!arr) return;
    size_t n = json_array_size(arr);
    if (n == 0) {
        xc_report_add(r, "observables", "must hold at least one observable");
        return;
    }
    if (n > XC_MAX_OBSERVABLES) {
        xc_report_add(r, "observables", "holds %zu observables, at most %d allowed", n,
                      XC_MAX_OBSERVABLES);
        return;
    }
    unsigned before = r->n + r->dropped;
    for (size_t i = 0; i < n; i++) {
        char p[48];
        snprintf(p, sizeof p, "observables[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) {
            xc_report_add(r, p, "must be an object, got %s", type_name(o));
            continue;
        }
        const char *kind = enum_member(r, o, p, "kind", XC_ENUM_OBS_KIND, true);
        const char *value = str_member(r, o, p, "value", true, 1024);
        enum_member(r, o, p, "role", XC_ENUM_OBS_ROLE, true);
        const char *key_id = str_member(r, o, p, "key_id", false, 64);
        char path[96], shownv[64];
        if (kind && value) {
            const char *why = value_problem(kind, value);
            if (why) {
                path_join(path, sizeof path, p, "value");
                xc_report_add(r, path, "'%s' %s", shown(value, shownv, sizeof shownv), why);
            }
        }
        if (is_hmac_kind(kind) && !key_id && !json_object_get(o, "key_id")) {
            path_join(path, sizeof path, p, "key_id");
            xc_report_add(r, path, "missing (required for %s)", kind);
        }
    }
    if (r->n + r->dropped == before) ev->observables = arr;
}

static void check_sample(xc_report *r, const json_t *sample) {
    static const char *const text[] = {"method", "request_uri", "from", "to", "pai", "call_id",
                                       "user_agent", "src", "dst", "transport"};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++)
        member(r, sample, "evidence.sample", text[i], W_STRING, false);
    int_member(r, sample, "evidence.sample", "status", false, 100, 699, NULL);
    int64_t ts;
    time_member(r, sample, "evidence.sample", "ts", false, &ts);
}

static void check_evidence(xc_report *r, const json_t *root, xc_event *ev) {
    json_t *evd = member(r, root, "", "evidence", W_OBJECT, true);
    if (!evd) return;
    int_member(r, evd, "evidence", "count", true, 0, INT64_MAX, NULL);
    json_t *w = member(r, evd, "evidence", "window_s", W_NUMBER, true);
    if (w && json_number_value(w) < 0)
        xc_report_add(r, "evidence.window_s", "must not be negative");
    json_t *sample = member(r, evd, "evidence", "sample", W_OBJECT, false);
    if (sample) check_sample(r, sample);
    bool feedback = is_feedback(ev->event_type);
    bool signalling = ev->event_type && !strcmp(ev->event_type, "SIGNALLING_ATTACK");
    json_t *details = member(r, evd, "evidence", "details", W_OBJECT, feedback || signalling);
    if (!details) return;
    /* ref and protocol are checked wherever they appear, as the schema does
     * (INTEL-001 names the partner's event in ref too); they are required
     * only for feedback and signalling events */
    json_t *ref = member(r, details, "evidence.details", "ref", W_OBJECT, feedback);
    if (ref) {
        const char *iss = str_member(r, ref, "evidence.details.ref", "issuer", true, XC_ISSUER_MAX);
        const char *id = str_member(r, ref, "evidence.details.ref", "event_id", true, UUID_LEN);
        char v[64];
        if (iss && !xc_issuer_valid(iss, strlen(iss))) {
            xc_report_add(r, "evidence.details.ref.issuer", "'%s' is not org:<MCC>-<MNC> or org:<name>",
                          shown(iss, v, sizeof v));
            iss = NULL;
        }
        if (id && !uuid7_valid(id, strlen(id))) {
            xc_report_add(r, "evidence.details.ref.event_id", "'%s' is not a lowercase UUIDv7",
                          shown(id, v, sizeof v));
            id = NULL;
        }
        if (feedback) { /* what the hub records as feedback */
            ev->ref_issuer = iss;
            ev->ref_event_id = id;
        }
    }
    enum_member(r, details, "evidence.details", "protocol", XC_ENUM_PROTOCOL, signalling);
}

static void check_handling(xc_report *r, const json_t *root, xc_event *ev) {
    json_t *h = member(r, root, "", "handling", W_OBJECT, true);
    if (!h) return;
    ev->tlp = enum_member(r, h, "handling", "tlp", XC_ENUM_TLP, true);
    json_t *aud = member(r, h, "handling", "audience", W_ARRAY, false);
    if (!aud) return;
    size_t n = json_array_size(aud);
    if (n == 0 || n > XC_MAX_AUDIENCE) {
        xc_report_add(r, "handling.audience", "must name 1 to %d issuers, has %zu",
                      XC_MAX_AUDIENCE, n);
        return;
    }
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(aud, i);
        char p[48], v[64];
        snprintf(p, sizeof p, "handling.audience[%zu]", i);
        if (!json_is_string(a)) {
            xc_report_add(r, p, "must be a string, got %s", type_name(a));
            ok = false;
        } else if (!xc_issuer_valid(json_string_value(a), json_string_length(a))) {
            xc_report_add(r, p, "'%s' is not org:<MCC>-<MNC> or org:<name>",
                          shown(json_string_value(a), v, sizeof v));
            ok = false;
        }
    }
    if (ok) ev->audience = aud;
}

static void check_top(xc_report *r, const json_t *root, xc_event *ev) {
    char v[64];
    const char *sv = str_member(r, root, "", "schema_version", true, 16);
    if (sv) {
        size_t n = strlen(sv);
        if (n >= 3 && n <= 5 && sv[0] == '1' && sv[1] == '.' && all_digits(sv + 2, n - 2))
            ev->schema_version = sv;
        else
            xc_report_add(r, "schema_version", "'%s' is not a 1.x version such as \"1.0\"",
                          shown(sv, v, sizeof v));
    }
    const char *id = str_member(r, root, "", "event_id", true, UUID_LEN);
    if (id && uuid7_valid(id, strlen(id))) ev->event_id = id;
    else if (id)
        xc_report_add(r, "event_id", "'%s' is not a lowercase UUIDv7", shown(id, v, sizeof v));
    int64_t version;
    if (int_member(r, root, "", "version", true, 1, INT32_MAX, &version)) ev->version = version;
    ev->status = enum_member(r, root, "", "status", XC_ENUM_STATUS, true);
    const char *iss = str_member(r, root, "", "issuer", true, XC_ISSUER_MAX);
    if (iss && xc_issuer_valid(iss, strlen(iss))) ev->issuer = iss;
    else if (iss)
        xc_report_add(r, "issuer", "'%s' is not org:<MCC>-<MNC> or org:<name> ([a-z0-9._-]{1,64})",
                      shown(iss, v, sizeof v));
    time_member(r, root, "", "created", true, &ev->created_ms);
    bool tf = time_member(r, root, "", "first_seen", true, &ev->first_seen_ms);
    bool tl = time_member(r, root, "", "last_seen", true, &ev->last_seen_ms);
    bool tv = time_member(r, root, "", "valid_until", true, &ev->valid_until_ms);
    if (tf && tl && ev->last_seen_ms < ev->first_seen_ms)
        xc_report_add(r, "last_seen", "is before first_seen");
    /* An indicator may already have expired when it is written (a report
     * about an old capture), but its lifetime cannot end before the
     * activity it describes did. */
    if (tl && tv && ev->valid_until_ms < ev->last_seen_ms)
        xc_report_add(r, "valid_until", "is before last_seen");
    ev->event_type = enum_member(r, root, "", "event_type", XC_ENUM_EVENT_TYPE, true);
    ev->domain = enum_member(r, root, "", "domain", XC_ENUM_DOMAIN, true);
    if (ev->event_type && ev->domain) {
        int want = event_type_domain[xc_enum_find(XC_ENUM_EVENT_TYPE, ev->event_type)];
        if (want >= 0 && strcmp(ev->domain, e_domain[want]) != 0) {
            xc_report_add(r, "domain", "'%s' is not the domain of %s, which is %s", ev->domain,
                          ev->event_type, e_domain[want]);
            ev->domain = NULL;
        }
    }
    ev->severity = enum_member(r, root, "", "severity", XC_ENUM_SEVERITY, true);
    int64_t conf;
    if (int_member(r, root, "", "confidence", true, 0, 100, &conf)) ev->confidence = (int)conf;
    bool is_fb = is_feedback(ev->event_type);
    json_t *rule = member(r, root, "", "rule", W_OBJECT, !is_fb);
    if (rule) {
        str_member(r, rule, "rule", "id", true, 64);
        str_member(r, rule, "rule", "name", true, 256);
    }
}

static void check_action(xc_report *r, const json_t *root) {
    json_t *a = member(r, root, "", "recommended_action", W_OBJECT, true);
    if (!a) return;
    enum_member(r, a, "recommended_action", "action", XC_ENUM_ACTION, true);
    str_member(r, a, "recommended_action", "scope", true, 64);
    int_member(r, a, "recommended_action", "ttl_s", true, 0, INT32_MAX, NULL);
}

static fs_code summarise(const xc_report *r, fs_err *e) {
    char buf[400];
    return fs_fail(e, FS_ERR_FORMAT, "invalid event: %s", xc_report_format(r, buf, sizeof buf));
}

fs_code xc_event_check(json_t *root, xc_event *ev, xc_report *r, fs_err *e) {
    xc_report local;
    if (!r) r = &local;
    xc_report_clear(r);
    memset(ev, 0, sizeof *ev);
    if (!json_is_object(root)) {
        xc_report_add(r, "$", "must be a JSON object, got %s", root ? type_name(root) : "nothing");
        return summarise(r, e);
    }
    check_top(r, root, ev);
    check_observables(r, root, ev);
    check_evidence(r, root, ev);
    check_action(r, root);
    check_handling(r, root, ev);
    if (r->n || r->dropped) {
        memset(ev, 0, sizeof *ev);
        return summarise(r, e);
    }
    ev->root = json_incref(root);
    return FS_OK;
}

bool xc_json_within(const char *p, size_t n, unsigned max_depth, size_t max_values) {
    unsigned d = 0;
    size_t values = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++d > max_depth || ++values > max_values) return false;
        } else if (c == ',') {
            if (++values > max_values) return false;
        } else if ((c == '}' || c == ']') && d) {
            d--;
        }
    }
    return true;
}

/* The member the byte at n of a document is in ("evidence.count",
 * "observables[1].value"; "" at the top level), to name where a JSON error
 * is: jansson says at which byte, not in which field. Scans as
 * xc_json_within does; keys are shown as written, bounded and printable. */
static void json_path_at(const char *p, size_t n, char *out, size_t outn) {
    struct {
        bool obj, in_value;
        size_t idx, klen;
        char key[40];
    } st[XC_EVENT_MAX_DEPTH + 1];
    int d = -1;
    bool in_str = false, is_key = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '"') {
                in_str = false;
                continue;
            }
            for (bool esc = c == '\\' && i + 1 < n;; esc = false) { /* an escaped quote does not end it */
                if (is_key && st[d].klen + 1 < sizeof st[d].key)
                    st[d].key[st[d].klen++] = (unsigned char)c < 0x20 || (unsigned char)c >= 0x7f ? '?' : c;
                if (!esc) break;
                c = p[++i];
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
            is_key = d >= 0 && !st[d].in_value;
            if (is_key) st[d].klen = 0;
        } else if (c == '{' || c == '[') {
            if (d + 1 >= (int)(sizeof st / sizeof *st)) break;
            d++;
            st[d].obj = c == '{';
            st[d].in_value = c == '[';
            st[d].idx = st[d].klen = 0;
        } else if ((c == '}' || c == ']') && d >= 0) {
            d--;
        } else if (c == ':' && d >= 0) {
            st[d].in_value = true;
        } else if (c == ',' && d >= 0) {
            if (st[d].obj) st[d].in_value = false, st[d].klen = 0;
            else st[d].idx++;
        }
    }
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k <= d && o + 1 < outn; k++) {
        int w = !st[k].obj ? snprintf(out + o, outn - o, "[%zu]", st[k].idx)
                : st[k].klen ? snprintf(out + o, outn - o, "%s%.*s", o ? "." : "", (int)st[k].klen, st[k].key)
                             : 0;
        if (w < 0) break;
        o += (size_t)w;
    }
}

fs_code xc_event_parse(const char *buf, size_t len, xc_event *ev, xc_report *r, fs_err *e) {
    xc_report local;
    if (!r) r = &local;
    xc_report_clear(r);
    memset(ev, 0, sizeof *ev);
    if (len > XC_EVENT_MAX_BYTES) {
        xc_report_add(r, "$", "is %zu bytes, at most %d allowed", len, XC_EVENT_MAX_BYTES);
        summarise(r, e);
        return FS_ERR_LIMIT;
    }
    if (!xc_json_within(buf, len, XC_EVENT_MAX_DEPTH, SIZE_MAX)) {
        xc_report_add(r, "$", "nests deeper than %d levels", XC_EVENT_MAX_DEPTH);
        summarise(r, e);
        return FS_ERR_LIMIT;
    }
    /* jansson's tree of "{},{},..." takes 76 times its bytes (an empty object
     * is a hash table): an event may hold 256 values and one per 8 bytes
     * more (events take 22 bytes a value or more), so its tree stays within
     * about 25 times its size */
    size_t max_values = XC_EVENT_MAX_VALUES_BASE + len / XC_EVENT_BYTES_PER_VALUE;
    if (!xc_json_within(buf, len, XC_EVENT_MAX_DEPTH, max_values)) {
        xc_report_add(r, "$", "holds more than %zu values (256 and one per %d bytes)", max_values,
                      XC_EVENT_BYTES_PER_VALUE);
        summarise(r, e);
        return FS_ERR_LIMIT;
    }
    json_error_t jerr;
    xc_jmem *mem = xc_jmem_begin(len); /* the tree's nodes: one arena, freed at once */
    json_t *root = json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        xc_jmem_free(mem);
        char where[128];
        size_t at = jerr.position > 0 && (size_t)jerr.position < len ? (size_t)jerr.position : len;
        json_path_at(buf ? buf : "", buf ? at : 0, where, sizeof where);
        xc_report_add(r, "$", "not valid JSON at byte %d%s%s%s: %s", jerr.position, where[0] ? " (in " : "",
                      where, where[0] ? ")" : "", jerr.text);
        return summarise(r, e);
    }
    fs_code c = xc_event_check(root, ev, r, e);
    json_decref(root); /* xc_event_check holds its own reference on success */
    if (c != FS_OK) {
        xc_jmem_free(mem);
        return c;
    }
    xc_jmem_end(mem);
    ev->mem = mem;
    return c;
}

void xc_event_free(xc_event *ev) {
    if (ev->mem) xc_jmem_free(ev->mem); /* the tree lived in it: no json_decref */
    else if (ev->root) json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}

size_t xc_event_nobs(const xc_event *ev) { return json_array_size(ev->observables); }

bool xc_event_observable(const xc_event *ev, size_t i, xc_observable *out) {
    json_t *o = json_array_get(ev->observables, i);
    if (!o) return false;
    out->kind = json_string_value(json_object_get(o, "kind"));
    out->value = json_string_value(json_object_get(o, "value"));
    out->role = json_string_value(json_object_get(o, "role"));
    out->key_id = json_string_value(json_object_get(o, "key_id"));
    return true;
}

/* ---- clear subscriber identifiers ------------------------------------------------- */

/* A run of at least min digits, read as a number is written: before an
 * '@' (a URI's user part, or a bare value) visual separators (RFC 3966:
 * '-', '.', '(', ')', and spaces) do not end it, and an escaped character
 * (%XX, RFC 3261 19.1.4) is that character, digit or separator, so
 * "tel:+44-7700-900123", "sip:+44%37700900123@..." and
 * "sip:+44%2D7700%2D900123@..." are numbers too; a host's dots end it
 * ("sip:u@192.168.100.200" holds no number). */
static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool has_digit_run(const char *s, size_t min) {
    size_t run = 0;
    bool host = false, plus = false; /* plus: the run follows a '+' (a global number) */
    /* where a '.' can only be a visual separator: a tel: URI (it has no
     * host) and a user part (before an '@'): "tel:202.555.0100;phone-context=+1" */
    bool tel = fs_str_istarts(fs_str_make(s, strlen(s)), "tel:");
    const char *at = strchr(s, '@');
    for (char prev = 0; *s; s++) {
        const char *here = s;
        char c = *s;
        if (c == '%' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
            c = (char)(hex_digit(s[1]) * 16 + hex_digit(s[2]));
            s += 2;
        }
        host |= *here == '@';
        if (c >= '0' && c <= '9') {
            if (!run) plus = prev == '+';
            run++;
        } else if (host || !(run && (c == '-' || (c == '.' && (plus || tel || (at && here < at))) || c == '(' ||
                                     c == ')' || c == ' '))) {
            /* elsewhere '.' joins digits only in a '+' number: "192.168.100.200"
             * (a host, in "sip:192.168.100.200" too) is no number */
            run = 0;
        }
        prev = c;
        if (run >= min) return true;
    }
    return false;
}

/* victims: also the victims' identifiers in clear (the hub's check), not
 * only the *_hmac values that are no HMAC (the format's) */
static unsigned clear_ids(const xc_event *ev, xc_report *r, bool victims) {
    unsigned found = 0;
    for (size_t i = 0; i < xc_event_nobs(ev); i++) {
        xc_observable o;
        char p[48];
        uint8_t mac[33];
        size_t ml;
        if (!xc_event_observable(ev, i, &o) || !o.kind || !o.value) continue;
        snprintf(p, sizeof p, "observables[%zu].value", i);
        if (is_hmac_kind(o.kind)) {
            if (!xc_b64_decode(o.value, strlen(o.value), mac, sizeof mac, &ml) || ml != 32) {
                xc_report_add(r, p, "%s must be base64url of a 32-byte HMAC-SHA256 (clear identifier?)",
                              o.kind);
                found++;
            } else if (!o.key_id) {
                xc_report_add(r, p, "%s has no key_id", o.kind);
                found++;
            }
        } else if (victims && o.role && !strcmp(o.role, "victim") && strcmp(o.kind, "ip") && strcmp(o.kind, "cidr") &&
                   has_digit_run(o.value, 7)) { /* an address is no subscriber identifier */
            xc_report_add(r, p, "a victim's subscriber identifier in clear (kind %s); send it as "
                                "msisdn_hmac/imsi_hmac/iccid_hmac (fs38 hash-id)", o.kind);
            found++;
        }
    }
    return found;
}

bool xc_number_run(const char *s, size_t min) { return s && has_digit_run(s, min); }

unsigned xc_event_clear_ids(const xc_event *ev, xc_report *r) { return clear_ids(ev, r, true); }

unsigned xc_event_hmac_values(const xc_event *ev, xc_report *r) { return clear_ids(ev, r, false); }
