/*
 * cl_share.c -- what leaves an operator: the share policy filter, the
 * feedback events of `fs38 sight`, and publishing batches to the hub.
 *
 * Owns: choosing which inspector events are shared (types, minimum
 * confidence), rewriting them for publication (issuer = the signing key's
 * owner, created = now, TLP, audience, lifetime), making sure no clear
 * subscriber identifier leaves (victim observables pseudonymised under the
 * community key or dropped; callee numbers, the x-encap of our own
 * network and x-capture removed from evidence.sample),
 * building SIGHTING/FALSE_POSITIVE events, POST /v1/events and its answer.
 * Must not touch: signing itself (xc_jws_sign), files, printing.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../events/ev.h"
#include "cl.h"

const char *cl_verdict_name(cl_verdict v) {
    static const char *const names[] = {"shared", "type", "confidence", "expired", "feedback",
                                        "echo", "no_observable", "invalid"};
    return (unsigned)v < CL_VERDICT__COUNT ? names[v] : "?";
}

/* ---- policy ---------------------------------------------------------------------- */

fs_code cl_policy_set_types(cl_policy *p, const char *csv, fs_err *e) {
    p->types = 0;
    const char *s = csv;
    while (*s) {
        size_t n = strcspn(s, ",");
        char name[48];
        if (n == 0 || n >= sizeof name) return fs_fail(e, FS_ERR_USAGE, "--types '%s': empty or too long item", csv);
        memcpy(name, s, n);
        name[n] = '\0';
        int i = xc_enum_find(XC_ENUM_EVENT_TYPE, name);
        if (i < 0 || i >= 64)
            return fs_fail(e, FS_ERR_USAGE, "--types: '%s' is not an event type (SIP_SCANNER, IRSF, WANGIRI ...)", name);
        p->types |= 1ULL << i;
        s += n;
        if (*s == ',') s++;
    }
    return FS_OK;
}

fs_code cl_policy_set_audience(cl_policy *p, const char *csv, fs_err *e) {
    json_t *arr = json_array();
    const char *s = csv;
    while (arr && *s) {
        size_t n = strcspn(s, ",");
        if (!xc_issuer_valid(s, n)) {
            json_decref(arr);
            return fs_fail(e, FS_ERR_USAGE, "--audience: '%.*s' is not org:<MCC>-<MNC> or org:<name>", (int)n, s);
        }
        json_array_append_new(arr, json_stringn(s, n));
        s += n;
        if (*s == ',') s++;
    }
    if (!arr || json_array_size(arr) == 0 || json_array_size(arr) > XC_MAX_AUDIENCE) {
        json_decref(arr);
        return fs_fail(e, FS_ERR_USAGE, "--audience: give 1-%d issuers separated by commas", XC_MAX_AUDIENCE);
    }
    json_decref(p->audience);
    p->audience = arr;
    return FS_OK;
}

void cl_policy_free(cl_policy *p) {
    json_decref(p->audience);
    p->audience = NULL;
}

/* ---- rewriting --------------------------------------------------------------------- */

static void set_time(json_t *o, const char *key, int64_t ms) {
    char buf[40];
    json_object_set_new(o, key, json_string(fs_time_rfc3339((uint64_t)ms * 1000, buf, sizeof buf)));
}

static int64_t get_time(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    int64_t ms;
    return s && xc_time_parse(s, strlen(s), &ms) ? ms : INT64_MIN;
}

/* The digits of s, read without separators, into out (cut to n - 1); an
 * escaped digit (%3X, RFC 3261 19.1.4: "sip:+44%37700...") is that digit. */
static void digits_of(const char *s, char *out, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++) {
        if (s[0] == '%' && s[1] == '3' && s[2] >= '0' && s[2] <= '9') {
            out[k++] = s[2];
            s += 2;
        } else if (*s >= '0' && *s <= '9') {
            out[k++] = *s;
        }
    }
    out[k] = '\0';
}

/* The digits of a victim's identifier, to find it in the sample: appended
 * to victims when it has a run of at least 7. Of an international number
 * only the digits after a country code of up to 3 (at least 7 kept): the
 * same subscriber written nationally ("sip:07700900123@...", for
 * +447700900123) holds those, not the country code. An identifier without
 * such a run (a victim's sip:alice@ims.home.net) is found by its text: its
 * user@host, without scheme and parameters, goes to names. */
static void remember_victim(json_t *victims, json_t *names, const char *value) {
    char digits[64];
    digits_of(value, digits, sizeof digits);
    if (!xc_number_run(value, 7)) {
        const char *v = value, *colon = strchr(value, ':');
        if (colon && strcspn(value, "@") > (size_t)(colon - value)) v = colon + 1; /* the scheme */
        size_t n = strcspn(v, ";?>");
        if (n >= 3) json_array_append_new(names, json_stringn(v, n));
        return;
    }
    size_t len = strlen(digits), skip = value[0] == '+' && len > 7 ? len - 7 : 0;
    json_array_append_new(victims, json_string(digits + (skip > 3 ? 3 : skip)));
}

/* ip and cidr victims are addresses (an element attacked), not subscribers:
 * the hub's clear-identifier test leaves them too */
static bool is_address(const char *kind) { return !strcmp(kind, "ip") || !strcmp(kind, "cidr"); }

/* Victim observables: pseudonymise e164 values under the newest key, drop
 * every other victim identifier (a sip_uri of ours names a subscriber with
 * or without digits). Their digits go to victims, the text of those without
 * to names (scrub_sample removes them from the sample). */
static void protect_victims(const cl_policy *p, json_t *obs, json_t *victims, json_t *names, cl_prepared *out) {
    for (size_t i = json_array_size(obs); i-- > 0;) {
        json_t *o = json_array_get(obs, i);
        const char *role = json_string_value(json_object_get(o, "role"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *value = json_string_value(json_object_get(o, "value"));
        if (!role || !kind || !value || strcmp(role, "victim") != 0) continue;
        if (strstr(kind, "_hmac")) continue; /* already pseudonymised */
        if (is_address(kind)) continue;
        remember_victim(victims, names, value);
        if (p->pseudo && p->pseudo->n && !strcmp(kind, "e164")) {
            char h[XC_HMAC_B64_LEN + 8];
            const xc_pseudo_key *k = &p->pseudo->keys[0];
            if (xc_pseudo_hash(k, XC_ID_MSISDN, value, strlen(value), h, sizeof h, NULL) == FS_OK) {
                json_object_set_new(o, "kind", json_string("msisdn_hmac"));
                json_object_set_new(o, "value", json_string(h));
                json_object_set_new(o, "key_id", json_string(k->key_id));
                out->pseudonymised++;
                continue;
            }
        }
        json_array_remove(obs, i);
        out->dropped++;
    }
}

/* Whether v's digits, read without separators, contain one of victims, or
 * v holds one of names (case aside). */
static bool names_victim(const char *v, const json_t *victims, const json_t *names) {
    char digits[256];
    digits_of(v, digits, sizeof digits);
    for (size_t i = 0; i < json_array_size(victims); i++)
        if (strstr(digits, json_string_value(json_array_get(victims, i)))) return true;
    for (size_t i = 0; i < json_array_size(names); i++)
        if (strcasestr(v, json_string_value(json_array_get(names, i)))) return true;
    return false;
}

/* A finding about an element's own configuration (SIP-TOPO-*, SIP-INFO-*:
 * our SBC leaking its topology or version, a zone's weak or cleartext TLS):
 * the message is one our network or a partner sent for its own callers, so
 * every party in its sample is a subscriber, none an attacker to name. */
static bool about_an_element(const json_t *root) {
    const char *rule = json_string_value(json_object_get(json_object_get(root, "rule"), "id"));
    return rule && (!strncmp(rule, "SIP-TOPO-", 9) || !strncmp(rule, "SIP-INFO-", 9));
}

/* SIP-CLI-001: our subscriber's identity asserted from outside. The
 * identity in From and PAI is the victim's by the rule's definition, also
 * when it matched by our domain alone (sip:alice@ims.home.net: no number
 * for names_victim to find); the attacker is the source address. */
static bool identity_is_victim(const json_t *root) {
    const char *rule = json_string_value(json_object_get(json_object_get(root, "rule"), "id"));
    return rule && !strcmp(rule, "SIP-CLI-001");
}

/* The called party of a sample may be a victim (Wangiri, spoofed calls):
 * numbers on the callee side never leave in clear. Nor does a victim's
 * identifier on the calling side (a spoofed home number in From or PAI),
 * nor any caller of a finding about an element (about_an_element).
 * x-encap (the VLANs, tunnel endpoints and TEIDs the message crossed in our
 * own network) is our topology, x-capture our file names: neither leaves. */
static void scrub_sample(json_t *root, const json_t *victims, const json_t *names) {
    json_t *sample = json_object_get(json_object_get(root, "evidence"), "sample");
    if (!json_is_object(sample)) return;
    json_object_del(sample, "x-encap");
    json_object_del(sample, "x-capture");
    if (about_an_element(root) || identity_is_victim(root)) {
        json_object_del(sample, "from");
        json_object_del(sample, "pai");
    }
    static const char *const callee_fields[] = {"to", "request_uri"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(sample, callee_fields[i]));
        if (v && (xc_number_run(v, 7) || names_victim(v, victims, names))) json_object_del(sample, callee_fields[i]);
    }
    static const char *const caller_fields[] = {"from", "pai"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(sample, caller_fields[i]));
        if (v && names_victim(v, victims, names)) json_object_del(sample, caller_fields[i]);
    }
}

cl_verdict cl_share_prepare(const cl_policy *p, const char *issuer, const char *line, size_t len,
                            int64_t now_ms, cl_prepared *out, fs_err *e) {
    memset(out, 0, sizeof *out);
    xc_event ev;
    xc_report r;
    if (xc_event_parse(line, len, &ev, &r, e) != FS_OK) return CL_SKIP_INVALID;
    json_t *root = json_deep_copy(ev.root);
    int type = xc_enum_find(XC_ENUM_EVENT_TYPE, ev.event_type);
    cl_verdict v = CL_SHARE;
    const char *rule = json_string_value(json_object_get(json_object_get(ev.root, "rule"), "id"));
    if (!strcmp(ev.event_type, "SIGHTING") || !strcmp(ev.event_type, "FALSE_POSITIVE")) v = CL_SKIP_FEEDBACK;
    else if (rule && !strcmp(rule, "INTEL-001")) v = CL_SKIP_ECHO;
    else if (p->types && (type < 0 || !(p->types & (1ULL << type)))) v = CL_SKIP_TYPE;
    else if (ev.confidence < p->min_confidence) v = CL_SKIP_CONFIDENCE;
    snprintf(out->event_id, sizeof out->event_id, "%s", ev.event_id);
    xc_event_free(&ev);
    if (!root) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory");
        return CL_SKIP_INVALID;
    }
    if (v != CL_SHARE) {
        json_decref(root);
        return v;
    }
    json_object_set_new(root, "issuer", json_string(issuer));
    set_time(root, "created", now_ms);
    if (p->valid_for_s > 0) {
        int64_t until = now_ms + p->valid_for_s * 1000;
        if (until >= get_time(root, "last_seen")) set_time(root, "valid_until", until);
    }
    if (get_time(root, "valid_until") < now_ms) {
        json_decref(root);
        return CL_SKIP_EXPIRED;
    }
    json_t *handling = json_object_get(root, "handling");
    if (json_is_object(handling)) {
        if (p->tlp[0]) json_object_set_new(handling, "tlp", json_string(p->tlp));
        if (p->audience) json_object_set(handling, "audience", p->audience);
    }
    json_t *victims = json_array(), *names = json_array();
    protect_victims(p, json_object_get(root, "observables"), victims, names, out);
    scrub_sample(root, victims, names);
    json_decref(victims);
    json_decref(names);
    if (json_array_size(json_object_get(root, "observables")) == 0) {
        json_decref(root);
        return CL_SKIP_NO_OBSERVABLE;
    }
    xc_event chk;
    if (xc_event_check(root, &chk, &r, e) != FS_OK) {
        json_decref(root);
        return CL_SKIP_INVALID;
    }
    unsigned clear = xc_event_clear_ids(&chk, &r);
    xc_event_free(&chk);
    if (clear) {
        char buf[300];
        fs_fail(e, FS_ERR_FORMAT, "clear subscriber identifier left: %s", xc_report_format(&r, buf, sizeof buf));
        json_decref(root);
        return CL_SKIP_INVALID;
    }
    /* inspect's precision (ev_to_json): 6 digits cut a window_s of days */
    out->json = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (!out->json) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory");
        return CL_SKIP_INVALID;
    }
    out->len = strlen(out->json);
    return CL_SHARE;
}

void cl_prepared_free(cl_prepared *p) {
    free(p->json);
    p->json = NULL;
}

/* ---- feedback ------------------------------------------------------------------------ */

fs_code cl_feedback_event(const char *issuer, bool false_positive, const char *ref_issuer,
                          const char *ref_event_id, const json_t *observables, const char *note,
                          const char *tlp, const json_t *audience, int64_t now_ms, int64_t valid_for_s,
                          char **out, size_t *out_len, fs_err *e) {
    char id[40];
    ev_uuid7((uint64_t)now_ms * 1000, id);
    json_t *details = json_pack("{s:{s:s,s:s}}", "ref", "issuer", ref_issuer, "event_id", ref_event_id);
    if (details && note && *note) json_object_set_new(details, "note", json_string(note));
    json_t *root = json_pack(
        "{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:O,s:{s:i,s:i,s:o},s:{s:s,s:s,s:i},s:{s:s}}",
        "schema_version", "1.0", "event_id", id, "version", 1, "status", "active", "issuer", issuer,
        "created", "", "first_seen", "", "last_seen", "", "valid_until", "",
        "event_type", false_positive ? "FALSE_POSITIVE" : "SIGHTING", "domain", "infrastructure",
        "severity", "info", "confidence", 100, "observables", (json_t *)observables,
        "evidence", "count", 1, "window_s", 0, "details", details,
        "recommended_action", "action", "NONE", "scope", "sip_ingress", "ttl_s", 0,
        "handling", "tlp", tlp && *tlp ? tlp : "amber");
    if (!root) return fs_fail(e, FS_ERR_NOMEM, "cannot build the feedback event");
    /* a red event reaches its issuer (the reporter) and its audience only:
     * without the referenced event's issuer in it, the sighting would be
     * hidden from the one member it is addressed to */
    if (audience)
        json_object_set(json_object_get(root, "handling"), "audience", (json_t *)audience);
    else if (tlp && !strcmp(tlp, "red") && strcmp(ref_issuer, issuer))
        json_object_set_new(json_object_get(root, "handling"), "audience", json_pack("[s]", ref_issuer));
    set_time(root, "created", now_ms);
    set_time(root, "first_seen", now_ms);
    set_time(root, "last_seen", now_ms);
    set_time(root, "valid_until", now_ms + (valid_for_s > 0 ? valid_for_s : 86400) * 1000);
    xc_event chk;
    xc_report r;
    if (xc_event_check(root, &chk, &r, e) != FS_OK) {
        json_decref(root);
        return FS_ERR_FORMAT;
    }
    /* the test share applies and the hub refuses with clear_identifier:
     * a victim's number given with --observable must not leave in clear */
    unsigned clear = xc_event_clear_ids(&chk, &r);
    xc_event_free(&chk);
    if (clear) {
        char buf[300];
        json_decref(root);
        return fs_fail(e, FS_ERR_FORMAT, "clear subscriber identifier: %s", xc_report_format(&r, buf, sizeof buf));
    }
    *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!*out) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    *out_len = strlen(*out);
    if (*out_len > XC_EVENT_MAX_BYTES) { /* no hub takes it, nor signing: --dry-run must not pass it */
        fs_fail(e, FS_ERR_LIMIT, "the feedback event would be %zu bytes, an event is at most %d: shorten the "
                                 "note (%zu bytes) or give fewer observables",
                *out_len, XC_EVENT_MAX_BYTES, note ? strlen(note) : 0);
        free(*out);
        *out = NULL;
        *out_len = 0;
        return FS_ERR_LIMIT;
    }
    return FS_OK;
}

/* ---- publishing ---------------------------------------------------------------------- */

static const char *hub_error(const cl_response *r, char *buf, size_t n) {
    json_error_t je;
    json_t *o = cl_json_loadb(r->body, r->len, &je);
    const char *msg = json_string_value(json_object_get(o, "error"));
    bool html = !strncasecmp(r->content_type, "text/html", 9); /* libevent's own pages say no more than the status */
    snprintf(buf, n, "%s", msg ? msg : r->len && !html ? r->body : "");
    json_decref(o);
    cl_printable(buf);
    if (strlen(buf) > 200) buf[200] = '\0';
    return buf;
}

fs_code cl_publish(const cl_hub *h, char *const *jws, const size_t *lens, size_t n,
                   cl_publish_item *res, int *http_status, unsigned *retry_s, fs_err *e) {
    if (retry_s) *retry_s = 0;
    if (n == 0 || n > CL_PUBLISH_MAX) return fs_fail(e, FS_ERR_USAGE, "a batch holds 1-%d events", CL_PUBLISH_MAX);
    size_t total = 16;
    for (size_t i = 0; i < n; i++) total += lens[i] + 3;
    char *body = malloc(total);
    if (!body) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    size_t o = (size_t)snprintf(body, total, "{\"events\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) body[o++] = ',';
        body[o++] = '"';
        memcpy(body + o, jws[i], lens[i]); /* base64url and dots: no escaping needed */
        o += lens[i];
        body[o++] = '"';
    }
    body[o++] = ']';
    body[o++] = '}';
    cl_response r;
    fs_code rc = cl_request(h, "POST", "/v1/events", "application/json", body, o, CL_BODY_MAX, &r, e);
    free(body);
    if (rc != FS_OK) return rc;
    if (http_status) *http_status = r.status;
    char msg[256];
    if (r.status != 200) {
        hub_error(&r, msg, sizeof msg);
        /* delta-seconds only (an HTTP date is left to the caller's backoff) */
        uint64_t ra = 0;
        bool secs = fs_str_to_u64(fs_str_trim(fs_str_make(r.retry_after, strlen(r.retry_after))), UINT_MAX, &ra);
        if (secs && retry_s) *retry_s = (unsigned)ra;
        rc = fs_fail(e, FS_ERR_IO, "hub %s:%s answered %d to POST /v1/events%s%s%s%s%s", h->host, h->port,
                     r.status, msg[0] ? ": " : "", msg, r.retry_after[0] ? ", retry after " : "",
                     r.retry_after[0] ? cl_printable(r.retry_after) : "", secs ? " s" : "");
        cl_response_free(&r);
        return rc;
    }
    json_error_t je;
    json_t *root = cl_json_loadb(r.body, r.len, &je);
    cl_response_free(&r);
    if (!root)
        return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: answer to POST /v1/events is not JSON: %s", h->host, h->port,
                       je.text);
    json_t *results = json_object_get(root, "results");
    if (!json_is_array(results)) {
        json_decref(root);
        return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: answer to POST /v1/events has no results array", h->host, h->port);
    }
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        snprintf(res[i].status, sizeof res[i].status, "missing");
    }
    size_t k;
    json_t *it;
    json_array_foreach(results, k, it) {
        json_int_t idx = json_integer_value(json_object_get(it, "i"));
        if (!json_is_integer(json_object_get(it, "i"))) idx = (json_int_t)k;
        if (idx < 0 || (size_t)idx >= n) continue;
        cl_publish_item *p = &res[idx];
        const char *st = json_string_value(json_object_get(it, "status"));
        const char *code = json_string_value(json_object_get(it, "code"));
        const char *err = json_string_value(json_object_get(it, "error"));
        snprintf(p->status, sizeof p->status, "%s", st ? st : "?");
        snprintf(p->code, sizeof p->code, "%s", code ? code : "");
        snprintf(p->error, sizeof p->error, "%s", err ? err : "");
        json_int_t seq = json_integer_value(json_object_get(it, "seq"));
        p->seq = seq > 0 ? (uint64_t)seq : 0;
    }
    json_decref(root);
    return FS_OK;
}
