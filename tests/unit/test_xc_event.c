/*
 * test_xc_event.c -- the event validator of src/exchange (xc_event.c).
 *
 * Data-driven: every tests/data/exchange/valid/ file must validate, every
 * file of invalid/MANIFEST.tsv must fail naming its field. Then mutations of
 * a valid event (each required field missing, of the wrong type, each enum
 * wrong), times, cross-field checks, unknown fields kept, limits, the JSON
 * Schema's enumerations against the C tables, and every rule's event as
 * ev_to_json writes it (what `fs38 inspect --json` emits).
 */
#include <dirent.h>
#include <sodium.h>
#include <stdlib.h>

#include "../check.h"
#include "events/ev.h"
#include "exchange/xc.h"

#define DATA "tests/data/exchange"


static char *base_text; /* valid/spec-example.json */
static size_t base_len;

static bool has(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* Validate bytes; return the report (static) and the code. */
static fs_code run(const char *buf, size_t len, xc_report *r) {
    xc_event ev;
    fs_err e;
    fs_code c = xc_event_parse(buf, len, &ev, r, &e);
    if (c == FS_OK) xc_event_free(&ev);
    else CHECK_MSG(e.msg[0] != '\0', "failure without a message");
    return c;
}

static fs_code run_json(json_t *o, xc_report *r) {
    char *s = json_dumps(o, JSON_COMPACT);
    fs_code c = run(s, strlen(s), r);
    free(s);
    return c;
}

static json_t *base_json(void) {
    json_error_t je;
    json_t *o = json_loadb(base_text, base_len, 0, &je);
    if (!o) {
        fprintf(stderr, "base: %s\n", je.text);
        exit(1);
    }
    return o;
}

/* The object holding `path`'s last component, and that component. */
static json_t *parent_of(json_t *root, const char *path, char *last, size_t n) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL, *tok = strtok_r(buf, ".", &save), *next;
    while ((next = strtok_r(NULL, ".", &save))) {
        char *br = strchr(tok, '[');
        if (br) {
            *br = '\0';
            cur = json_array_get(json_object_get(cur, tok), (size_t)atoi(br + 1));
        } else {
            cur = json_object_get(cur, tok);
        }
        tok = next;
    }
    snprintf(last, n, "%s", tok);
    return cur;
}

static void test_data_files(void) {
    DIR *d = opendir(DATA "/valid");
    CHECK(d != NULL);
    int nvalid = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strstr(de->d_name, ".json")) continue;
        char path[512];
        size_t len;
        snprintf(path, sizeof path, DATA "/valid/%s", de->d_name);
        char *buf = check_read_file(path, &len);
        CHECK(buf != NULL);
        xc_report r;
        fs_code c = buf ? run(buf, len, &r) : FS_ERR_IO;
        char msg[600];
        CHECK_MSG(c == FS_OK, "%s: %s", path, xc_report_format(&r, msg, sizeof msg));
        free(buf);
        nvalid++;
    }
    if (d) closedir(d);
    CHECK(nvalid >= 5);

    size_t mlen;
    char *man = check_read_file(DATA "/invalid/MANIFEST.tsv", &mlen);
    CHECK(man != NULL);
    int ninvalid = 0;
    for (char *save = NULL, *line = man ? strtok_r(man, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        char path[512];
        size_t len;
        snprintf(path, sizeof path, DATA "/invalid/%s", line);
        char *buf = check_read_file(path, &len);
        CHECK_MSG(buf != NULL, "%s unreadable", path);
        if (!buf) continue;
        xc_report r;
        fs_code c = run(buf, len, &r);
        CHECK_MSG(c != FS_OK, "%s validated", path);
        CHECK_MSG(xc_report_find(&r, tab + 1) != NULL, "%s: no issue names '%s' (first: %s)", path,
                  tab + 1, r.n ? r.items[0].field : "none");
        free(buf);
        ninvalid++;
    }
    free(man);
    CHECK(ninvalid >= 20);
}

static const char *const required_paths[] = {
    "schema_version", "event_id", "version", "status", "issuer", "created", "first_seen",
    "last_seen", "valid_until", "event_type", "domain", "severity", "confidence", "rule",
    "rule.id", "rule.name", "observables", "observables[0].kind", "observables[0].value",
    "observables[0].role", "observables[1].kind", "evidence", "evidence.count",
    "evidence.window_s", "recommended_action", "recommended_action.action",
    "recommended_action.scope", "recommended_action.ttl_s", "handling", "handling.tlp"};

static void test_missing_and_wrong_type(void) {
    for (size_t i = 0; i < sizeof required_paths / sizeof *required_paths; i++) {
        const char *p = required_paths[i];
        char last[48];
        xc_report r;
        /* missing */
        json_t *o = base_json();
        json_t *parent = parent_of(o, p, last, sizeof last);
        CHECK_MSG(parent && json_object_del(parent, last) == 0, "cannot delete %s", p);
        CHECK_MSG(run_json(o, &r) == FS_ERR_FORMAT, "%s missing accepted", p);
        const xc_issue *it = xc_report_find(&r, p);
        CHECK_MSG(it && has(it->problem, "missing"), "%s missing: not named (%s)", p,
                  r.n ? r.items[0].field : "-");
        json_decref(o);
        /* wrong type: a boolean is valid nowhere in the format */
        o = base_json();
        parent = parent_of(o, p, last, sizeof last);
        json_object_set_new(parent, last, json_true());
        CHECK_MSG(run_json(o, &r) == FS_ERR_FORMAT, "%s=true accepted", p);
        it = xc_report_find(&r, p);
        CHECK_MSG(it && has(it->problem, "must be") && has(it->problem, "got boolean"),
                  "%s wrong type: not named", p);
        json_decref(o);
        /* null is a wrong type too */
        o = base_json();
        parent = parent_of(o, p, last, sizeof last);
        json_object_set_new(parent, last, json_null());
        CHECK_MSG(run_json(o, &r) == FS_ERR_FORMAT && xc_report_find(&r, p), "%s=null", p);
        json_decref(o);
    }
}

static void test_enums_wrong(void) {
    static const char *const paths[] = {"status", "event_type", "domain", "severity",
                                        "observables[0].kind", "observables[1].role",
                                        "recommended_action.action", "handling.tlp"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        json_t *o = base_json();
        char last[48];
        xc_report r;
        json_object_set_new(parent_of(o, paths[i], last, sizeof last), last, json_string("phone"));
        CHECK_MSG(run_json(o, &r) == FS_ERR_FORMAT, "%s=phone accepted", paths[i]);
        const xc_issue *it = xc_report_find(&r, paths[i]);
        CHECK_MSG(it && has(it->problem, "'phone' is not one of"), "%s enum: %s", paths[i],
                  it ? it->problem : "not named");
        json_decref(o);
    }
    /* the message lists the allowed values */
    json_t *o = base_json();
    xc_report r;
    json_object_set_new(json_array_get(json_object_get(o, "observables"), 0), "kind", json_string("phone"));
    run_json(o, &r);
    const xc_issue *it = xc_report_find(&r, "observables[0].kind");
    CHECK(it && has(it->problem, "ip, cidr, e164") && has(it->problem, "carrier"));
    json_decref(o);
    /* all of them, for every enumeration: the list is never cut (event_type's
     * 20 values, with a long wrong value in front of them) */
    static const struct {
        const char *path;
        xc_enum which;
    } lists[] = {{"status", XC_ENUM_STATUS},         {"event_type", XC_ENUM_EVENT_TYPE},
                 {"domain", XC_ENUM_DOMAIN},         {"severity", XC_ENUM_SEVERITY},
                 {"observables[0].kind", XC_ENUM_OBS_KIND}, {"observables[1].role", XC_ENUM_OBS_ROLE},
                 {"recommended_action.action", XC_ENUM_ACTION}, {"handling.tlp", XC_ENUM_TLP}};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        char last[48];
        o = base_json();
        json_object_set_new(parent_of(o, lists[i].path, last, sizeof last), last,
                            json_string("WRONG_WRONG_WRONG_WRONG_WRONG_WRONG_WRONG_WRONG_WRONG_WRONG_64"));
        run_json(o, &r);
        it = xc_report_find(&r, lists[i].path);
        CHECK_MSG(it != NULL, "%s not named", lists[i].path);
        for (size_t k = 0; it && k < xc_enum_count(lists[i].which); k++) {
            const char *v = xc_enum_value(lists[i].which, k);
            size_t vl = strlen(v);
            const char *at = strstr(it->problem, v);
            /* the whole value, then ", " or the end of the message */
            while (at && !(at[vl] == '\0' || (at[vl] == ',' && at[vl + 1] == ' ')))
                at = strstr(at + 1, v);
            CHECK_MSG(at != NULL, "%s: allowed value %s missing from: %s", lists[i].path, v, it->problem);
        }
        json_decref(o);
    }
    /* case matters */
    o = base_json();
    json_object_set_new(o, "severity", json_string("HIGH"));
    CHECK(run_json(o, &r) == FS_ERR_FORMAT && xc_report_find(&r, "severity"));
    json_decref(o);
}

static void test_every_error_reported(void) {
    json_t *o = base_json();
    xc_report r;
    json_object_set_new(o, "version", json_integer(0));
    json_object_set_new(o, "tlp_typo", json_string("x")); /* unknown: fine */
    json_object_del(o, "issuer");
    json_object_set_new(json_object_get(o, "handling"), "tlp", json_string("white"));
    json_object_set_new(json_array_get(json_object_get(o, "observables"), 1), "role", json_integer(3));
    CHECK(run_json(o, &r) == FS_ERR_FORMAT);
    CHECK_EQ_INT(r.n, 4);
    CHECK(xc_report_find(&r, "version") && xc_report_find(&r, "issuer") &&
          xc_report_find(&r, "handling.tlp") && xc_report_find(&r, "observables[1].role"));
    char buf[1024];
    xc_report_format(&r, buf, sizeof buf);
    CHECK(has(buf, "version: ") && has(buf, "; issuer: missing"));
    json_decref(o);

    /* many problems: bounded report, the rest counted */
    o = base_json();
    json_t *obs = json_array();
    for (int i = 0; i < 40; i++) json_array_append_new(obs, json_pack("{s:s,s:s,s:s}", "kind", "x", "value", "1", "role", "y"));
    json_object_set_new(o, "observables", obs);
    CHECK(run_json(o, &r) == FS_ERR_FORMAT);
    CHECK_EQ_INT(r.n, XC_REPORT_MAX);
    CHECK_EQ_INT(r.dropped, 80 - XC_REPORT_MAX);
    char big[16384];
    xc_report_format(&r, big, sizeof big);
    CHECK(has(big, "(+48 more)"));
    json_decref(o);
}

static void set_and_expect(const char *field, json_t *value, bool ok, const char *want_field) {
    json_t *o = base_json();
    char last[48];
    xc_report r;
    json_object_set_new(parent_of(o, field, last, sizeof last), last, value);
    fs_code c = run_json(o, &r);
    char msg[600];
    if (ok) {
        CHECK_MSG(c == FS_OK, "%s should be accepted: %s", field, xc_report_format(&r, msg, sizeof msg));
    } else {
        CHECK_MSG(c == FS_ERR_FORMAT, "%s should be refused", field);
        CHECK_MSG(xc_report_find(&r, want_field ? want_field : field) != NULL, "%s: not named (%s)",
                  field, xc_report_format(&r, msg, sizeof msg));
    }
    json_decref(o);
}

static void test_values(void) {
    /* times */
    set_and_expect("created", json_string("2026-11-25T10:41:42Z"), true, NULL);
    set_and_expect("created", json_string("2026-11-25T10:41:42.1Z"), true, NULL);
    set_and_expect("created", json_string("2024-02-29T00:00:00.000Z"), true, NULL);
    set_and_expect("created", json_string("2026-11-25T10:41:42.067+00:00"), false, NULL);
    set_and_expect("created", json_string("2026-11-25 10:41:42.067Z"), false, NULL);
    set_and_expect("created", json_string("2026-11-25T10:41:42.067z"), false, NULL);
    set_and_expect("created", json_string("2026-11-25T10:41:42.Z"), false, NULL);
    set_and_expect("created", json_string("2026-11-25T24:00:00Z"), false, NULL);
    set_and_expect("created", json_string("2026-13-01T00:00:00Z"), false, NULL);
    set_and_expect("created", json_string("2025-02-29T00:00:00Z"), false, NULL);
    set_and_expect("created", json_string("1764067302067"), false, NULL);
    set_and_expect("created", json_integer(1764067302067), false, NULL);
    set_and_expect("first_seen", json_string("2026-11-25T10:41:42Z"), false, "last_seen"); /* after last */
    /* before last_seen (41.870) is wrong; before created (42.067) is an
     * indicator that had already expired when written: allowed */
    set_and_expect("valid_until", json_string("2026-11-25T10:41:41.869Z"), false, NULL);
    set_and_expect("valid_until", json_string("2026-11-25T10:41:41.870Z"), true, NULL);
    set_and_expect("valid_until", json_string("2026-11-25T10:41:42.066Z"), true, NULL);
    /* versions and numbers */
    set_and_expect("version", json_integer(0), false, NULL);
    set_and_expect("version", json_integer(-1), false, NULL);
    set_and_expect("version", json_real(1.0), false, NULL);
    set_and_expect("version", json_integer(2), true, NULL);
    set_and_expect("confidence", json_integer(-1), false, NULL);
    set_and_expect("confidence", json_integer(100), true, NULL);
    set_and_expect("evidence.window_s", json_integer(12), true, NULL);
    set_and_expect("evidence.window_s", json_real(-0.5), false, NULL);
    set_and_expect("evidence.count", json_real(2.5), false, NULL);
    set_and_expect("evidence.sample.status", json_integer(99), false, NULL);
    set_and_expect("evidence.sample.ts", json_string("yesterday"), false, NULL);
    set_and_expect("evidence.sample", json_string("x"), false, NULL);
    set_and_expect("schema_version", json_string("1.1"), true, NULL);
    set_and_expect("schema_version", json_string("2.0"), false, NULL);
    set_and_expect("schema_version", json_string("1"), false, NULL);
    /* identities */
    set_and_expect("event_id", json_string("0193A5E0-7C1E-7D2A-9B1F-5E4C3D2B1A00"), false, NULL);
    set_and_expect("event_id", json_string("0193a5e0-7c1e-7d2a-cb1f-5e4c3d2b1a00"), false, NULL);
    set_and_expect("issuer", json_string("org:a.b_c-d9"), true, NULL);
    set_and_expect("issuer", json_string("org:234-150"), true, NULL);
    set_and_expect("issuer", json_string("org:234-1"), false, NULL);
    set_and_expect("issuer", json_string("org:"), false, NULL);
    set_and_expect("issuer", json_string("234-15"), false, NULL);
    set_and_expect("issuer", json_string("org:Upper"), false, NULL);
    /* a value too long is refused naming the real limit, not a looser one */
    char longv[128];
    snprintf(longv, sizeof longv, "org:%081d", 0); /* 85 bytes */
    const struct { const char *field; const char *want; } too_long[] = {
        {"issuer", "is 85 bytes long, at most 68 allowed"},
        {"event_id", "is 85 bytes long, at most 36 allowed"}};
    for (size_t i = 0; i < sizeof too_long / sizeof *too_long; i++) {
        json_t *o = base_json();
        xc_report r;
        json_object_set_new(o, too_long[i].field, json_string(longv));
        const xc_issue *it = run_json(o, &r) == FS_ERR_FORMAT ? xc_report_find(&r, too_long[i].field) : NULL;
        CHECK_MSG(it && !strcmp(it->problem, too_long[i].want), "%s: %s", too_long[i].field,
                  it ? it->problem : "not named");
        json_decref(o);
    }
    /* observable values per kind */
    set_and_expect("observables[0].value", json_string("2001:db8::1"), true, NULL);
    set_and_expect("observables[0].value", json_string("example.com"), false, NULL);
    set_and_expect("observables[0].value", json_string(""), false, NULL);
    set_and_expect("observables[0].kind", json_string("cidr"), true, NULL); /* an address is a /32 */
    set_and_expect("observables[0].value", json_string("198.51.100.0/33"), false, NULL);
    set_and_expect("observables[1].kind", json_string("e164"), false, "observables[1].value");
    set_and_expect("observables[1].kind", json_string("plmn"), false, "observables[1].value");
    set_and_expect("observables[1].kind", json_string("sip_uri"), false, "observables[1].value");
    set_and_expect("observables[1].kind", json_string("sip_domain"), true, NULL);
    set_and_expect("observables[1].value", json_string("sip:x@y"), true, NULL);
    set_and_expect("observables[1].kind", json_string("carrier"), true, NULL);
    set_and_expect("observables[1].key_id", json_integer(3), false, NULL);
    set_and_expect("observables", json_array(), false, NULL);
    set_and_expect("observables", json_pack("[s]", "ip"), false, "observables[0]");
    set_and_expect("handling.audience", json_pack("[s,s]", "org:234-15", "org:x"), true, NULL);
    set_and_expect("handling.audience", json_pack("[s,i]", "org:234-15", 5), false, "handling.audience[1]");
    set_and_expect("handling.audience", json_array(), false, NULL);
    set_and_expect("event_type", json_string("SIGNALLING_ATTACK"), false, "evidence.details.protocol");
    set_and_expect("evidence.details.protocol", json_string("ss7"), true, NULL);
}

static void test_unknown_fields_kept(void) {
    size_t len;
    char *buf = check_read_file(DATA "/valid/irsf-extensions.json", &len);
    CHECK(buf != NULL);
    if (!buf) return;
    xc_event ev;
    xc_report r;
    fs_err e;
    CHECK(xc_event_parse(buf, len, &ev, &r, &e) == FS_OK);
    CHECK(json_is_object(json_object_get(ev.root, "x-local")));
    CHECK(json_is_string(json_object_get(ev.root, "future_field")));
    CHECK(json_object_get(json_object_get(ev.root, "handling"), "x-queue") != NULL);
    CHECK(json_object_get(json_object_get(ev.root, "rule"), "x-note") != NULL);
    /* indexed fields */
    CHECK(ev.issuer && !strcmp(ev.issuer, "org:carrier-x.example"));
    CHECK(ev.event_id && !strcmp(ev.event_id, "0193a5e1-0000-7abc-8def-0123456789ab"));
    CHECK_EQ_INT(ev.version, 3);
    CHECK(!strcmp(ev.status, "active") && !strcmp(ev.event_type, "IRSF") && !strcmp(ev.tlp, "green"));
    CHECK(!strcmp(ev.domain, "fraud") && !strcmp(ev.severity, "critical"));
    CHECK_EQ_INT(ev.confidence, 85);
    CHECK_EQ_INT(ev.created_ms, 1795608000000LL); /* 2026-11-25T12:00:00Z */
    CHECK_EQ_INT(ev.first_seen_ms, 1795604400500LL);
    CHECK_EQ_INT(ev.last_seen_ms, 1795607999999LL);
    CHECK_EQ_INT(ev.valid_until_ms, 1795694400000LL);
    CHECK_EQ_INT(xc_event_nobs(&ev), 6);
    xc_observable o;
    CHECK(xc_event_observable(&ev, 0, &o) && !strcmp(o.kind, "e164_range") &&
          !strcmp(o.value, "+88213") && !strcmp(o.role, "destination") && o.key_id == NULL);
    CHECK(!xc_event_observable(&ev, 6, &o));
    CHECK(ev.audience == NULL);
    CHECK_EQ_INT(xc_event_clear_ids(&ev, &r), 0);
    xc_event_free(&ev);
    CHECK(ev.root == NULL);
    free(buf);

    buf = check_read_file(DATA "/valid/simswap-red.json", &len);
    CHECK(buf && xc_event_parse(buf, len, &ev, &r, &e) == FS_OK);
    CHECK(json_array_size(ev.audience) == 3);
    CHECK(xc_event_observable(&ev, 0, &o) && o.key_id && !strcmp(o.key_id, "2026-11"));
    xc_report_clear(&r);
    CHECK_EQ_INT(xc_event_clear_ids(&ev, &r), 0);
    xc_event_free(&ev);
    free(buf);

    buf = check_read_file(DATA "/valid/sighting.json", &len);
    CHECK(buf && xc_event_parse(buf, len, &ev, &r, &e) == FS_OK);
    CHECK(ev.ref_issuer && !strcmp(ev.ref_issuer, "org:234-15"));
    CHECK(ev.ref_event_id && !strcmp(ev.ref_event_id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00"));
    xc_event_free(&ev);
    free(buf);
}

static void test_clear_ids(void) {
    static const struct {
        const char *kind, *value, *role, *key_id;
        unsigned want;
    } cases[] = {
        {"e164", "+447700900123", "victim", NULL, 1},
        {"e164", "+447700900123", "caller", NULL, 0},  /* infrastructure travels in clear */
        {"sip_uri", "sip:+447700900123@ims.example", "victim", NULL, 1},
        {"carrier", "234150123456789", "victim", NULL, 1}, /* an IMSI whatever the kind says */
        {"sip_domain", "ims.example", "victim", NULL, 0},
        /* a number written with visual separators or escaped digits is still one */
        {"sip_uri", "sip:+44-7700-900123@ims.example", "victim", NULL, 1},
        {"sip_uri", "tel:+44.7700.900.123", "victim", NULL, 1},
        {"carrier", "+44 (7700) 900 123", "victim", NULL, 1},
        {"sip_uri", "sip:+44%37%37%30%30%39%30%30%31%32%33@ims.example", "victim", NULL, 1},
        /* a national number with dots: a tel: URI has no host, a user part is none */
        {"sip_uri", "tel:202.555.0100;phone-context=+1", "victim", NULL, 1},
        {"sip_uri", "sip:202.555.0100@ims.example;user=phone", "victim", NULL, 1},
        /* escaped separators are separators (RFC 3261 19.1.4), an escaped '+' a '+' */
        {"sip_uri", "sip:+44%2D7700%2D900123@ims.example", "victim", NULL, 1},
        {"sip_uri", "sip:%2B44%207700%20900%20123@ims.example", "victim", NULL, 1},
        {"sip_uri", "sip:alice%2E1@192.168.100.200", "victim", NULL, 0},
        {"ip", "198.51.100.7", "victim", NULL, 0},
        {"sip_uri", "sip:pbx-12.34@ims.example", "victim", NULL, 0},
        {"sip_uri", "sip:alice@192.168.100.200", "victim", NULL, 0}, /* a host's dots end a run */
        {"sip_uri", "sip:192.168.100.200", "victim", NULL, 0},     /* '.' joins digits only after '+' */
        {"sip_uri", "sips:10.20.30.40:5061;transport=tls", "victim", NULL, 0},
        {"sip_domain", "192.168.100.200", "victim", NULL, 0},
        {"msisdn_hmac", "+447700900123", "victim", "k1", 1},
        {"imsi_hmac", "2oFvAkaygHJtHbgrJo7Yr_7yUyOMFe_jcmvQhpwP9y0", "victim", "k1", 0},
        {"iccid_hmac", "2oFvAkaygHJtHbgrJo7Yr_7yUyOMFe_jcmvQhpwP9y", "victim", "k1", 1},
        {"iccid_hmac", "2oFvAkaygHJtHbgrJo7Yr_7yUyOMFe_jcmvQhpwP9y0=", "victim", "k1", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *o = base_json();
        json_t *ob = json_pack("{s:s,s:s,s:s}", "kind", cases[i].kind, "value", cases[i].value, "role",
                               cases[i].role);
        if (cases[i].key_id) json_object_set_new(ob, "key_id", json_string(cases[i].key_id));
        json_array_append_new(json_object_get(o, "observables"), ob);
        xc_event ev;
        xc_report r;
        fs_err e;
        CHECK_MSG(xc_event_check(o, &ev, &r, &e) == FS_OK, "clear-id case %zu: %s", i, e.msg);
        xc_report_clear(&r);
        CHECK_MSG(xc_event_clear_ids(&ev, &r) == cases[i].want, "clear-id case %zu (%s %s)", i,
                  cases[i].kind, cases[i].value);
        if (cases[i].want) CHECK(xc_report_find(&r, "observables[2].value") != NULL);
        xc_event_free(&ev);
        json_decref(o);
    }
}

static void test_limits(void) {
    xc_report r;
    /* oversized: a valid event padded past the bound with an x- field */
    json_t *o = base_json();
    char *pad = malloc(XC_EVENT_MAX_BYTES);
    memset(pad, 'a', XC_EVENT_MAX_BYTES - 1);
    pad[XC_EVENT_MAX_BYTES - 1] = '\0';
    json_object_set_new(o, "x-pad", json_string(pad));
    CHECK(run_json(o, &r) == FS_ERR_LIMIT);
    CHECK(xc_report_find(&r, "$") && has(r.items[0].problem, "bytes"));
    json_decref(o);
    free(pad);
    /* depth: 16 levels fine, 17 refused, brackets inside strings do not count */
    o = base_json();
    json_error_t je;
    json_object_set_new(o, "x-d", json_loadb("[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]", 31, 0, &je));
    CHECK(run_json(o, &r) == FS_OK); /* root + 15 */
    json_object_set_new(o, "x-d", json_loadb("[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]", 33, 0, &je));
    CHECK(run_json(o, &r) == FS_ERR_LIMIT);
    json_object_set_new(o, "x-d", json_string("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\\"));
    CHECK(run_json(o, &r) == FS_OK);
    json_decref(o);
    /* values: 16,000 empty objects in 48 KB (a tree of 76 times that) refused
     * before jansson builds them; 1,000 short strings in 16 KB are fine, and
     * commas inside strings do not count */
    o = base_json();
    json_t *many = json_array();
    for (int i = 0; i < 16000; i++) json_array_append_new(many, json_object());
    json_object_set_new(o, "x-many", many);
    CHECK(run_json(o, &r) == FS_ERR_LIMIT);
    CHECK(xc_report_find(&r, "$") && has(r.items[0].problem, "values"));
    many = json_array();
    for (int i = 0; i < 1000; i++) json_array_append_new(many, json_string("abcdefghij"));
    json_object_set_new(o, "x-many", many);
    CHECK(run_json(o, &r) == FS_OK);
    json_object_set_new(o, "x-many", json_string(",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"));
    CHECK(run_json(o, &r) == FS_OK);
    json_decref(o);
    /* empty input, not JSON, a bare string */
    CHECK(run("", 0, &r) == FS_ERR_FORMAT && xc_report_find(&r, "$"));
    CHECK(run("nope", 4, &r) == FS_ERR_FORMAT);
    CHECK(run("\"1.0\"", 5, &r) == FS_ERR_FORMAT && xc_report_find(&r, "$"));
    /* a JSON error names the member it is in (jansson gives only the byte):
     * numbers out of range, duplicate keys, bad escapes, keys with escapes */
    static const struct {
        const char *text, *where;
    } at[] = {
        {"{\"evidence\":{\"window_s\":1,\"count\":123456789012345678901234567890}}", "(in evidence.count)"},
        {"{\"observables\":[{},{\"kind\":\"ip\",\"value\":1e400}]}", "(in observables[1].value)"},
        {"{\"handling\":{\"tlp\":\"red\",\"tlp\":\"red\"}}", "(in handling.tlp)"},
        {"{\"rule\":{\"name\":\"a\\u0000\"}}", "(in rule.name)"},
        {"{\"x-\\\"q\\\\\":[\"]\",{\"k\":tru}]}", "(in x-\\\"q\\\\[1].k)"},
        {"{\"a\":1} x", ": end of file"},
    };
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        CHECK(run(at[i].text, strlen(at[i].text), &r) == FS_ERR_FORMAT);
        CHECK_MSG(xc_report_find(&r, "$") && has(r.items[0].problem, at[i].where), "%s: %s, want %s", at[i].text,
                  r.n ? r.items[0].problem : "nothing", at[i].where);
    }
    /* trailing newline (NDJSON) is fine */
    char *nl = malloc(base_len + 1);
    memcpy(nl, base_text, base_len);
    nl[base_len] = '\n';
    CHECK(run(nl, base_len + 1, &r) == FS_OK);
    free(nl);
}

/* docs/event.schema.json: valid JSON, draft 2020-12, same enumerations as C. */
static void test_schema(void) {
    static const struct {
        const char *def;
        xc_enum which;
    } map[] = {{"status", XC_ENUM_STATUS},         {"event_type", XC_ENUM_EVENT_TYPE},
               {"domain", XC_ENUM_DOMAIN},         {"severity", XC_ENUM_SEVERITY},
               {"observable_kind", XC_ENUM_OBS_KIND}, {"observable_role", XC_ENUM_OBS_ROLE},
               {"action", XC_ENUM_ACTION},         {"tlp", XC_ENUM_TLP},
               {"protocol", XC_ENUM_PROTOCOL}};
    json_error_t je;
    json_t *s = json_load_file("docs/event.schema.json", JSON_REJECT_DUPLICATES, &je);
    CHECK_MSG(s != NULL, "schema: line %d: %s", je.line, je.text);
    if (!s) return;
    CHECK(!strcmp(json_string_value(json_object_get(s, "$schema")),
                  "https://json-schema.org/draft/2020-12/schema"));
    json_t *defs = json_object_get(s, "$defs");
    CHECK_EQ_INT(sizeof map / sizeof *map, XC_ENUM__COUNT);
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        json_t *en = json_object_get(json_object_get(defs, map[i].def), "enum");
        CHECK_MSG(json_is_array(en), "schema has no $defs.%s.enum", map[i].def);
        CHECK_MSG(json_array_size(en) == xc_enum_count(map[i].which), "%s: schema %zu values, C %zu",
                  map[i].def, json_array_size(en), xc_enum_count(map[i].which));
        size_t k;
        json_t *v;
        json_array_foreach(en, k, v) {
            CHECK_MSG(json_is_string(v) && xc_enum_find(map[i].which, json_string_value(v)) >= 0,
                      "schema %s value '%s' unknown to C", map[i].def, json_string_value(v));
        }
    }
    /* required fields of the schema are exactly the ones C reports missing */
    json_t *req = json_object_get(s, "required");
    size_t k;
    json_t *v;
    json_array_foreach(req, k, v) {
        json_t *o = base_json();
        xc_report r;
        json_object_del(o, json_string_value(v));
        CHECK_MSG(run_json(o, &r) != FS_OK && xc_report_find(&r, json_string_value(v)),
                  "schema requires %s, C does not", json_string_value(v));
        json_decref(o);
    }
    CHECK_EQ_INT(json_array_size(req), 17);
    /* an integral number with a fraction is a JSON Schema integer, but C
     * refuses it (the hub and INTEL-001 read integers as integers): the
     * schema says so */
    {
        json_t *o = base_json();
        xc_report r;
        json_object_set_new(o, "confidence", json_real(95.0));
        CHECK(run_json(o, &r) != FS_OK && xc_report_find(&r, "confidence"));
        json_decref(o);
        const char *desc = json_string_value(json_object_get(s, "description"));
        CHECK_MSG(desc && strstr(desc, "not 95.0"), "the schema does not say integers are written without a fraction");
    }
    /* the schema's domain of each event_type is the C one: accepted with
     * it, refused naming domain with another; every non-feedback type has one */
    size_t typed = 0;
    json_array_foreach(json_object_get(s, "allOf"), k, v) {
        const char *dom = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(v, "then"), "properties"), "domain"), "const"));
        json_t *types = json_object_get(
            json_object_get(json_object_get(json_object_get(v, "if"), "properties"), "event_type"), "enum");
        if (!dom || !types) continue;
        size_t j;
        json_t *t;
        json_array_foreach(types, j, t) {
            for (size_t d = 0; d < xc_enum_count(XC_ENUM_DOMAIN); d++) {
                json_t *o = base_json();
                xc_report r;
                const char *dn = xc_enum_value(XC_ENUM_DOMAIN, d);
                json_object_set_new(o, "event_type", json_incref(t));
                json_object_set_new(o, "domain", json_string(dn));
                json_object_set_new(json_object_get(o, "evidence"), "details",
                                    json_pack("{s:s}", "protocol", "ss7"));
                fs_code c = run_json(o, &r);
                if (!strcmp(dn, dom))
                    CHECK_MSG(c == FS_OK, "%s/%s refused", json_string_value(t), dn);
                else
                    CHECK_MSG(c != FS_OK && xc_report_find(&r, "domain"), "%s/%s accepted", json_string_value(t), dn);
                json_decref(o);
            }
            typed++;
        }
    }
    CHECK_EQ_INT(typed, xc_enum_count(XC_ENUM_EVENT_TYPE) - 2); /* all but SIGHTING, FALSE_POSITIVE */
    /* the C enums agree with the detection catalogue's names */
    for (int t = 0; t < ET__COUNT; t++)
        CHECK_MSG(xc_enum_find(XC_ENUM_EVENT_TYPE, det_event_type_name(t)) >= 0, "%s", det_event_type_name(t));
    for (int a = 0; a < ACT__COUNT; a++)
        CHECK_MSG(xc_enum_find(XC_ENUM_ACTION, det_action_name(a)) >= 0, "%s", det_action_name(a));
    json_decref(s);
}

/* What `fs38 inspect --json` writes: one event per rule, through ev_to_json. */
static void test_ev_to_json(void) {
    char buf[16384];
    CHECK_EQ_INT(sizeof ((ev_event *)0)->issuer, XC_ISSUER_MAX + 1); /* every valid issuer fits */
    for (int i = 0; i < R__COUNT; i++) {
        const det_rule_info *ri = &det_rule_table[i];
        ev_event ev;
        memset(&ev, 0, sizeof ev);
        uint64_t t0 = 1764067290001000ULL;
        ev_uuid7(t0, ev.event_id);
        ev.version = 1;
        snprintf(ev.issuer, sizeof ev.issuer, "org:234-15");
        ev.first_us = t0;
        ev.last_us = t0 + 11869000;
        ev.created_us = t0 + 12066000;
        ev.valid_until_us = ev.last_us + (uint64_t)ri->ttl_s * FS_USEC;
        ev.rule = (det_rule_id)i;
        ev.event_type = ri->event_type;
        ev.domain = ri->domain;
        ev.severity = ri->severity;
        ev.confidence = ri->confidence;
        ev.action = ri->action;
        ev.ttl_s = ri->ttl_s;
        snprintf(ev.tlp, sizeof ev.tlp, "amber");
        ev.count = 20;
        ev.window_s = 11.9;
        ev_add_observable(&ev, "ip", "198.51.100.7", "source");
        ev_add_observable(&ev, "e164", "+447700900123", "caller");
        ev_add_observable(&ev, "e164_range", "+88213", "destination");
        ev_add_observable(&ev, "sip_user_agent", "friendly-scanner\xff\x01", "tool");
        snprintf(ev.sample.method, sizeof ev.sample.method, "INVITE");
        ev.sample.status = 404;
        snprintf(ev.sample.from, sizeof ev.sample.from, "<sip:+447700900123@ims.example.net>");
        ev.sample.ts_us = t0;
        ev_set_int(&ev, "distinct_targets", 20);
        ev_set_real(&ev, "rate", 1.5);
        ev_set_str(&ev, "protocol", "ss7");
        size_t len = ev_to_json(&ev, buf, sizeof buf);
        CHECK(len > 0);
        xc_event x;
        xc_report r;
        fs_err e;
        fs_code c = xc_event_parse(buf, len, &x, &r, &e);
        CHECK_MSG(c == FS_OK, "rule %s: %s", ri->id, e.msg);
        if (c == FS_OK) {
            CHECK(!strcmp(x.event_id, ev.event_id));
            CHECK_EQ_INT(x.created_ms, (int64_t)(ev.created_us / 1000));
            CHECK(!strcmp(x.event_type, det_event_type_name(ri->event_type)));
            xc_event_free(&x);
        }
    }
    /* an event with no observables is refused (a detector bug the hub must not accept) */
    ev_event ev;
    memset(&ev, 0, sizeof ev);
    ev_uuid7(1764067290001000ULL, ev.event_id);
    ev.version = 1;
    snprintf(ev.issuer, sizeof ev.issuer, "org:234-15");
    size_t len = ev_to_json(&ev, buf, sizeof buf);
    xc_report r;
    CHECK(len > 0 && run(buf, len, &r) == FS_ERR_FORMAT && xc_report_find(&r, "observables"));
}

/* Hostile SIP makes "numbers" that are no E.164: a caller "+44x", a PAI
 * with 24 digits. They must not become e164 observables the validator
 * (and the hub) refuse. */
static void test_e164_observables(void) {
    ev_event ev;
    memset(&ev, 0, sizeof ev);
    ev_add_observable(&ev, "e164", "+44x", "caller");
    ev_add_observable(&ev, "e164", "+123456789012345678901234", "caller");
    ev_add_observable(&ev, "e164_range", "+1234567890123456", "destination");
    ev_add_observable(&ev, "e164", "+", "caller");
    CHECK_EQ_INT(ev.nobs, 0);
    ev_add_observable(&ev, "e164", "+123456789012345", "caller");
    ev_add_observable(&ev, "e164_range", "+882", "destination");
    CHECK_EQ_INT(ev.nobs, 2);
    CHECK(ev_e164_ok("+447700900123") && !ev_e164_ok("447700900123") && !ev_e164_ok("+4477 00"));
}

static void test_time_parse(void) {
    int64_t ms;
    CHECK(xc_time_parse("1970-01-01T00:00:00Z", 20, &ms) && ms == 0);
    CHECK(xc_time_parse("1969-12-31T23:59:59.999Z", 24, &ms) && ms == -1);
    CHECK(xc_time_parse("2000-03-01T00:00:00Z", 20, &ms) && ms == 951868800000LL);
    CHECK(xc_time_parse("2026-11-25T10:41:42.0679Z", 25, &ms) && ms == 1795603302067LL);
    CHECK(xc_time_parse("2016-12-31T23:59:60Z", 20, &ms)); /* leap second */
    CHECK(xc_time_parse("2015-06-30T23:59:60.5Z", 22, &ms));
    CHECK(!xc_time_parse("2026-11-25T10:41:60Z", 20, &ms)); /* only at 23:59 */
    CHECK(!xc_time_parse("2016-12-31T22:59:60Z", 20, &ms));
    CHECK(!xc_time_parse("2016-12-30T23:59:60Z", 20, &ms)); /* only on a month's last day */
    CHECK(!xc_time_parse("2026-11-25T10:41:42.0123456789Z", 31, &ms));
    CHECK(!xc_time_parse("2026-11-25T10:41:4Z", 19, &ms));
    CHECK(!xc_time_parse("2026-11-31T10:41:42Z", 20, &ms));
    CHECK(!xc_time_parse("2100-02-29T10:41:42Z", 20, &ms));
    CHECK(xc_time_parse("2000-02-29T10:41:42Z", 20, &ms));
    CHECK(!xc_time_parse("2026-11-25T10:41:42ZZ", 21, &ms));
    CHECK(!xc_time_parse("2026-11-25T1a:41:42Z", 20, &ms));
    /* what the inspector writes parses back, up to the year 9999; a later
     * capture time (a corrupt pcapng) is written as the last instant, not as
     * a five-digit year no validator accepts */
    static const uint64_t at[] = {0, 1764067290001000ULL, FS_TIME_MAX_US, FS_TIME_MAX_US + 1,
                                  300000000000000000ULL, UINT64_MAX};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        char t[40];
        fs_time_rfc3339(at[i], t, sizeof t);
        CHECK_MSG(xc_time_parse(t, strlen(t), &ms), "%llu us written as '%s'", (unsigned long long)at[i], t);
        if (at[i] >= FS_TIME_MAX_US) CHECK_MSG(!strcmp(t, "9999-12-31T23:59:59.999Z"), "'%s'", t);
    }
    CHECK(xc_issuer_valid("org:234-15", 10));
    CHECK(xc_issuer_valid("org:ab cd", 6)); /* length honoured, not NUL */
    CHECK(!xc_issuer_valid("org:ab cd", 9));
    CHECK(!xc_issuer_valid("org:23-15", 9));
    CHECK(!xc_issuer_valid("org:234-1516", 12));
    CHECK(xc_issuer_valid("org:--x", 7));
    CHECK(!xc_issuer_valid("org:--", 6));
    char longname[80] = "org:";
    memset(longname + 4, 'a', 64);
    longname[68] = '\0';
    CHECK(xc_issuer_valid(longname, 68));
    longname[68] = 'a';
    longname[69] = '\0';
    CHECK(!xc_issuer_valid(longname, 69));
}

/* An IPv6 source named as its network: the `ip` beside the `cidr` is the
 * sample's end inside the network, the sender of a request, the
 * destination of a response (a brute force's sample is the 401 it drew). */
static void test_source_ip_follows_sample(void) {
    static ev_event ev;
    memset(&ev, 0, sizeof ev);
    ev_add_observable(&ev, "cidr", "2001:db8:1:2::/64", "source");
    ev_add_observable(&ev, "ip", "2001:db8:1:2::1", "source");
    snprintf(ev.sample.src, sizeof ev.sample.src, "[2001:db8:1:2::99]:5070");
    snprintf(ev.sample.dst, sizeof ev.sample.dst, "[2001:db8:9::5]:5060");
    ev_source_ip_follows_sample(&ev);
    CHECK_MSG(!strcmp(ev.obs[1].value, "2001:db8:1:2::99"), "observable 1: %s", ev.obs[1].value);
    snprintf(ev.sample.src, sizeof ev.sample.src, "[2001:db8:9::5]:5060"); /* a response */
    snprintf(ev.sample.dst, sizeof ev.sample.dst, "[2001:db8:1:2::77]:5070");
    ev_source_ip_follows_sample(&ev);
    CHECK_MSG(!strcmp(ev.obs[1].value, "2001:db8:1:2::77"), "observable 1: %s", ev.obs[1].value);
    snprintf(ev.sample.dst, sizeof ev.sample.dst, "[2001:db8:7::7]:5070"); /* neither end: unchanged */
    ev_source_ip_follows_sample(&ev);
    CHECK_MSG(!strcmp(ev.obs[1].value, "2001:db8:1:2::77"), "observable 1: %s", ev.obs[1].value);
    CHECK_MSG(!strcmp(ev.obs[0].value, "2001:db8:1:2::/64"), "observable 0: %s", ev.obs[0].value);
}

/* ev_set_int_max / ev_set_real_max (a peak in one lookup) keep what
 * ev_get_detail + ev_set_* did: set when absent (whatever the value) or
 * below, never lowered, another key's slot untouched, nothing when full. */
static void test_detail_peaks(void) {
    static ev_event ev;
    memset(&ev, 0, sizeof ev);
    ev_set_int(&ev, "requests", 5);
    ev_set_int_max(&ev, "distinct_sources", 0); /* absent: set, even to 0 */
    const ev_detail *d = ev_get_detail(&ev, "distinct_sources");
    CHECK(d && d->kind == EV_D_INT && d->i == 0 && ev.ndetails == 2);
    ev_set_int_max(&ev, "distinct_sources", 7);
    ev_set_int_max(&ev, "distinct_sources", 3);
    CHECK(ev_get_detail(&ev, "distinct_sources")->i == 7);
    ev_set_real_max(&ev, "rate", 0.0); /* absent: a real 0, not the fresh slot's int */
    d = ev_get_detail(&ev, "rate");
    CHECK(d && d->kind == EV_D_REAL && d->r == 0.0);
    ev_set_real_max(&ev, "rate", 2.5);
    ev_set_real_max(&ev, "rate", 1.5);
    CHECK(ev_get_detail(&ev, "rate")->r == 2.5);
    CHECK(ev_get_detail(&ev, "requests")->i == 5 && ev.ndetails == 3);
    CHECK(ev_get_detail(&ev, "re") == NULL && ev_get_detail(&ev, "requestsx") == NULL);
    char key[8];
    for (int i = 0; ev.ndetails < EV_MAX_DETAILS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ev_set_int(&ev, key, i);
    }
    ev_set_int_max(&ev, "late", 9);
    ev_set_real_max(&ev, "later", 9.0);
    CHECK(ev.ndetails == EV_MAX_DETAILS && !ev_get_detail(&ev, "late") && !ev_get_detail(&ev, "later"));
}

int main(void) {
    if (sodium_init() < 0) return 1;
    base_text = check_read_file(DATA "/valid/spec-example.json", &base_len);
    if (!base_text) {
        fprintf(stderr, "cannot read " DATA "/valid/spec-example.json (run from the repo root)\n");
        return 1;
    }
    test_data_files();
    test_missing_and_wrong_type();
    test_enums_wrong();
    test_every_error_reported();
    test_values();
    test_unknown_fields_kept();
    test_clear_ids();
    test_limits();
    test_schema();
    test_ev_to_json();
    test_detail_peaks();
    test_source_ip_follows_sample();
    test_time_parse();
    test_e164_observables();
    free(base_text);
    return check_done("test_xc_event");
}
