/*
 * test_client.c -- the hub clients' logic without a network (src/client):
 * the indicator cache (highest version per (issuer, event_id), stale and
 * older versions ignored, revoked and expired dropped and never brought
 * back, file round trip, atomic rewrite, cursor file), the share policy
 * filter (types, confidence, expiry, TLP, audience, issuer and created
 * rewritten, --valid-for), pseudonymisation of victims' numbers (HMAC
 * recomputed independently) or their removal, sample scrubbing, feedback
 * events, and hub URL parsing.
 */
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "client/cl.h"

static int64_t now_ms(void) { return (int64_t)(fs_time_now_us() / 1000); }

static char tmpdir[256];

/* An event's JSON; version/status/valid_until (seconds from now) vary. */
static void event_json(char *buf, size_t n, const char *issuer, const char *id, int version,
                       const char *status, int64_t valid_s, const char *type, int conf, const char *obs) {
    char created[40], seen[40], until[40];
    int64_t t = now_ms();
    fs_time_rfc3339((uint64_t)t * 1000, created, sizeof created);
    fs_time_rfc3339((uint64_t)(t + (valid_s < 0 ? valid_s * 1000 - 1000 : -1000)) * 1000, seen, sizeof seen);
    fs_time_rfc3339((uint64_t)(t + valid_s * 1000) * 1000, until, sizeof until);
    snprintf(buf, n,
             "{\"schema_version\":\"1.0\",\"event_id\":\"%s\",\"version\":%d,\"status\":\"%s\","
             "\"issuer\":\"%s\",\"created\":\"%s\",\"first_seen\":\"%s\",\"last_seen\":\"%s\","
             "\"valid_until\":\"%s\",\"event_type\":\"%s\",\"domain\":\"fraud\",\"severity\":\"high\","
             "\"confidence\":%d,\"rule\":{\"id\":\"FRAUD-WANGIRI-001\",\"name\":\"Wangiri one-ring calls\"},"
             "\"observables\":%s,\"evidence\":{\"count\":12,\"window_s\":30.5,\"sample\":{\"method\":\"INVITE\","
             "\"request_uri\":\"sip:+447700900555@ims.example.net\",\"from\":\"<sip:+88213555001@x>\","
             "\"to\":\"<sip:+447700900555@ims.example.net>\",\"call_id\":\"c1\","
             "\"x-encap\":[{\"kind\":\"gtpu\",\"id\":4117,\"src\":\"10.9.0.1\",\"dst\":\"10.9.0.2\"}],"
             "\"x-capture\":{\"file\":\"/srv/cap/a.pcap\",\"frame\":7},\"x-local\":1},\"details\":{\"short_rings\":12}},"
             "\"recommended_action\":{\"action\":\"BLOCK_CALLER\",\"scope\":\"inbound_voice\",\"ttl_s\":86400},"
             "\"handling\":{\"tlp\":\"amber\"},\"x-local\":{\"kept\":true}}",
             id, version, status, issuer, created, seen, seen, until, type, conf, obs);
}

#define OBS_CALLER "[{\"kind\":\"e164\",\"value\":\"+88213555001\",\"role\":\"caller\"}]"
#define ID_A "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00"
#define ID_B "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a01"

static cl_merge merge(cl_cache *c, const char *issuer, const char *id, int version, const char *status,
                      int64_t valid_s) {
    char buf[4096];
    event_json(buf, sizeof buf, issuer, id, version, status, valid_s, "WANGIRI", 85, OBS_CALLER);
    xc_event ev;
    fs_err e = {0};
    if (xc_event_parse(buf, strlen(buf), &ev, NULL, &e) != FS_OK) {
        fprintf(stderr, "test event invalid: %s\n", e.msg);
        return CL_MERGE__COUNT;
    }
    cl_merge m = cl_cache_merge(c, buf, strlen(buf), &ev, now_ms());
    xc_event_free(&ev);
    return m;
}

static unsigned file_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

static void test_cache(void) {
    cl_cache c;
    cl_cache_init(&c);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 1, "active", 3600), CL_MERGE_NEW);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 1, "active", 3600), CL_MERGE_STALE);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 3, "active", 7200), CL_MERGE_UPDATED);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 2, "active", 3600), CL_MERGE_STALE); /* older arrives late */
    const cl_cache_item *it = cl_cache_find(&c, "org:234-15", ID_A);
    CHECK(it && it->version == 3);
    /* the same event id from another issuer is another event */
    CHECK_EQ_INT(merge(&c, "org:208-01", ID_A, 1, "active", 3600), CL_MERGE_NEW);
    CHECK_EQ_INT(c.live, 2);
    /* revocation drops it; an older version cannot bring it back, a newer active one can */
    CHECK_EQ_INT(merge(&c, "org:208-01", ID_A, 2, "revoked", 3600), CL_MERGE_REVOKED);
    CHECK(cl_cache_find(&c, "org:208-01", ID_A) == NULL);
    CHECK_EQ_INT(merge(&c, "org:208-01", ID_A, 1, "active", 3600), CL_MERGE_STALE);
    CHECK_EQ_INT(c.live, 1);
    /* a revocation for something never held is remembered too */
    CHECK_EQ_INT(merge(&c, "org:208-01", ID_B, 5, "revoked", 3600), CL_MERGE_REVOKED);
    CHECK_EQ_INT(merge(&c, "org:208-01", ID_B, 4, "active", 3600), CL_MERGE_STALE);
    CHECK_EQ_INT(merge(&c, "org:208-01", ID_B, 6, "active", 3600), CL_MERGE_NEW);
    /* already expired: not kept */
    CHECK_EQ_INT(merge(&c, "org:fraudlab", ID_A, 1, "active", -60), CL_MERGE_EXPIRED);
    CHECK(cl_cache_find(&c, "org:fraudlab", ID_A) == NULL);
    /* feedback is not an indicator */
    char fb[4096];
    size_t fl;
    json_t *obs = json_loads(OBS_CALLER, 0, NULL);
    fs_err e = {0};
    char *fbjson = NULL;
    CHECK(cl_feedback_event("org:208-01", false, "org:234-15", ID_A, obs, "seen here", "green", NULL, now_ms(), 0,
                            &fbjson, &fl, &e) == FS_OK);
    snprintf(fb, sizeof fb, "%s", fbjson ? fbjson : "");
    xc_event fev;
    CHECK(xc_event_parse(fb, strlen(fb), &fev, NULL, &e) == FS_OK);
    if (fev.root) {
        CHECK(!strcmp(fev.event_type, "SIGHTING"));
        CHECK(!strcmp(fev.ref_issuer, "org:234-15") && !strcmp(fev.ref_event_id, ID_A));
        CHECK_EQ_INT(cl_cache_merge(&c, fb, strlen(fb), &fev, now_ms()), CL_MERGE_FEEDBACK);
        xc_event_free(&fev);
    }
    free(fbjson);
    fbjson = NULL;
    CHECK(cl_feedback_event("org:208-01", true, "org:234-15", ID_A, obs, NULL, NULL, NULL, now_ms(), 0, &fbjson, &fl,
                            &e) == FS_OK);
    CHECK(fbjson && strstr(fbjson, "\"event_type\":\"FALSE_POSITIVE\""));
    free(fbjson);
    json_decref(obs);

    /* save, reload: the same live events, byte for byte; tombstones are not written */
    char path[512];
    snprintf(path, sizeof path, "%s/cache.ndjson", tmpdir);
    CHECK(cl_cache_save(&c, path, &e) == FS_OK);
    CHECK_EQ_INT(file_lines(path), 2);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0); /* the temp file was renamed */
    cl_cache d;
    cl_cache_init(&d);
    CHECK(cl_cache_load(&d, path, &e) == FS_OK);
    CHECK_EQ_INT(d.live, 2);
    const cl_cache_item *x = cl_cache_find(&c, "org:234-15", ID_A), *y = cl_cache_find(&d, "org:234-15", ID_A);
    CHECK(x && y && x->len == y->len && !memcmp(x->json, y->json, x->len));
    CHECK(strstr(y->json, "\"x-local\":{\"kept\":true}") != NULL); /* unknown fields survive */
    cl_cache_free(&d);

    /* a payload signed pretty-printed (line feeds between members: valid
     * JSON, the spec signs any exact bytes) stays one line of the cache:
     * written as is, every later load, and inspect --indicators, failed */
    {
        char one[4096], multi[8192];
        size_t m = 0;
        event_json(one, sizeof one, "org:fraudlab", ID_B, 1, "active", 3600, "WANGIRI", 85, OBS_CALLER);
        for (const char *p = one; *p && m + 2 < sizeof multi; p++) {
            multi[m++] = *p;
            if (*p == ',' && p[1] == '"') multi[m++] = '\n';
        }
        multi[m] = '\0';
        xc_event mev;
        CHECK(xc_event_parse(multi, m, &mev, NULL, &e) == FS_OK);
        if (mev.root) {
            CHECK_EQ_INT(cl_cache_merge(&c, multi, m, &mev, now_ms()), CL_MERGE_NEW);
            xc_event_free(&mev);
        }
        CHECK(cl_cache_save(&c, path, &e) == FS_OK);
        CHECK_EQ_INT(file_lines(path), 3);
        cl_cache_init(&d);
        CHECK_MSG(cl_cache_load(&d, path, &e) == FS_OK, "%s", e.msg);
        CHECK_EQ_INT(d.live, 3);
        const cl_cache_item *z = cl_cache_find(&d, "org:fraudlab", ID_B);
        CHECK(z && z->len == m && !memchr(z->json, '\n', z->len));
        cl_cache_free(&d);
    }

    /* expiry as time passes */
    CHECK_EQ_INT(cl_cache_expire(&c, now_ms() + 3601 * 1000), 2); /* the two ID_B (1 h) */
    CHECK_EQ_INT(c.live, 1);
    CHECK_EQ_INT(cl_cache_expire(&c, now_ms() + 7201 * 1000), 1);
    CHECK_EQ_INT(c.live, 0);
    CHECK(cl_cache_save(&c, path, &e) == FS_OK);
    CHECK_EQ_INT(file_lines(path), 0);
    cl_cache_free(&c);

    /* a missing cache is empty; a broken one names the line */
    cl_cache_init(&c);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.ndjson", tmpdir);
    CHECK(cl_cache_load(&c, missing, &e) == FS_OK && c.live == 0);
    /* a cache that cannot be read says why (a folder said "read error") */
    CHECK(cl_cache_load(&c, tmpdir, &e) == FS_ERR_IO);
    CHECK_MSG(strstr(e.msg, "Is a directory") != NULL, "%s", e.msg);
    FILE *f = fopen(path, "w");
    fputs("\n{\"schema_version\":\"1.0\"}\n", f);
    fclose(f);
    CHECK(cl_cache_load(&c, path, &e) != FS_OK);
    CHECK_MSG(strstr(e.msg, "cache.ndjson:2:") != NULL, "%s", e.msg);
    cl_cache_free(&c);

    /* the cursor */
    uint64_t seq = 99;
    char types[CL_CURSOR_TYPES_MAX] = "x";
    CHECK(cl_cursor_load(path, &seq, types, sizeof types, &e) == FS_OK && seq == 0 && !types[0]);
    CHECK(cl_cursor_save(path, 12345, NULL, &e) == FS_OK);
    CHECK(cl_cursor_load(path, &seq, types, sizeof types, &e) == FS_OK && seq == 12345 && !types[0]);
    /* the --type list the cursor was reached with travels with it */
    CHECK(cl_cursor_save(path, 77, "SIP_SCANNER,IRSF", &e) == FS_OK);
    CHECK(cl_cursor_load(path, &seq, types, sizeof types, &e) == FS_OK && seq == 77 &&
          !strcmp(types, "SIP_SCANNER,IRSF"));
    char cur[600];
    snprintf(cur, sizeof cur, "%s.cursor", path);
    f = fopen(cur, "w");
    fputs("12x\n", f);
    fclose(f);
    CHECK(cl_cursor_load(path, &seq, types, sizeof types, &e) == FS_ERR_FORMAT && strstr(e.msg, ".cursor"));
}

/* Tombstones (revoked, expired) do not count against the events held, and
 * make room when items reach their cap once their validity has ended: a
 * long `pull --follow` that saw a million events come and go refused every
 * new one ("full") while it held none. Limits lowered to 10 events, 12 items. */
static void test_cache_tombstones(void) {
    cl_cache c;
    cl_cache_init(&c);
    c.max_events = 10;
    c.max_items = 12;
    char id[40];
    for (int i = 0; i < 12; i++) { /* expired on arrival: 12 tombstones */
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b%04x", i);
        CHECK_EQ_INT(merge(&c, "org:234-15", id, 1, "active", -60), CL_MERGE_EXPIRED);
    }
    CHECK(c.n == 12 && c.live == 0);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 1, "active", 3600), CL_MERGE_NEW); /* they made room */
    CHECK(c.n == 1 && c.live == 1);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 1, "active", 3600), CL_MERGE_STALE); /* still indexed */
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2c%04x", i);
        CHECK_EQ_INT(merge(&c, "org:234-15", id, 1, "active", 3600), CL_MERGE_NEW);
    }
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_B, 1, "active", 3600), CL_MERGE_FULL); /* 10 held */
    /* revoked ones still valid are kept (an older version must not come back) */
    cl_cache_free(&c);
    c.max_events = 10;
    c.max_items = 12;
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2d%04x", i);
        CHECK_EQ_INT(merge(&c, "org:234-15", id, 2, "revoked", 3600), CL_MERGE_REVOKED);
    }
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_B, 1, "active", 3600), CL_MERGE_FULL);
    snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2d%04x", 3);
    CHECK_EQ_INT(merge(&c, "org:234-15", id, 1, "active", 3600), CL_MERGE_STALE);
    cl_cache_free(&c);
    /* a newer version of a tombstone's event brings it back: one more event
     * held, bounded as a new one is (it went past max_events, and the next
     * pull refused to load its own cache: "more than N events") */
    c.max_events = 2;
    c.max_items = 12;
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 1, "active", -60), CL_MERGE_EXPIRED);
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2f%04x", i);
        CHECK_EQ_INT(merge(&c, "org:234-15", id, 1, "active", 3600), CL_MERGE_NEW);
    }
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 2, "active", 3600), CL_MERGE_FULL);
    CHECK_EQ_INT(c.live, 2);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_A, 1, "active", 3600), CL_MERGE_STALE); /* still remembered */
    cl_cache_free(&c);
}

/* The file's size is bounded as inspect --indicators bounds what it reads
 * (DET_INDICATORS_MAX_BYTES): pull wrote caches of any size (a million
 * events of up to 64 KiB), and inspect then refused the whole file. Limit
 * lowered to three events' lines. */
static void test_cache_bytes(void) {
    char buf[4096], path[300], id[40];
    event_json(buf, sizeof buf, "org:234-15", ID_A, 1, "active", 3600, "WANGIRI", 85, OBS_CALLER);
    size_t line = strlen(buf) + 1;
    cl_cache c;
    cl_cache_init(&c);
    CHECK(c.max_bytes == CL_CACHE_MAX_BYTES);
    c.max_bytes = 3 * line;
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2e%04x", i);
        CHECK_EQ_INT(merge(&c, "org:234-15", id, 1, "active", 3600), CL_MERGE_NEW);
    }
    CHECK(c.bytes == 3 * line);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_B, 1, "active", 3600), CL_MERGE_FULL);
    CHECK(c.live == 3 && c.bytes == 3 * line);
    snprintf(path, sizeof path, "%s/bytes.ndjson", tmpdir);
    fs_err e = {0};
    CHECK(cl_cache_save(&c, path, &e) == FS_OK);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size == c.bytes);
    /* a revocation frees its bytes */
    snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2e%04x", 1);
    CHECK_EQ_INT(merge(&c, "org:234-15", id, 2, "revoked", 3600), CL_MERGE_REVOKED);
    CHECK(c.bytes == 2 * line);
    CHECK_EQ_INT(merge(&c, "org:234-15", ID_B, 1, "active", 3600), CL_MERGE_NEW);
    /* an update of the same size replaces the held version within the bound */
    snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2e%04x", 0);
    CHECK_EQ_INT(merge(&c, "org:234-15", id, 2, "active", 3600), CL_MERGE_UPDATED);
    CHECK(c.bytes == 3 * line);
    cl_cache_free(&c);
    /* a file over the bound is refused on load, saying why */
    cl_cache_init(&c);
    c.max_bytes = 2 * line;
    memset(&e, 0, sizeof e);
    CHECK(cl_cache_load(&c, path, &e) == FS_ERR_LIMIT && strstr(e.msg, "bytes.ndjson:3: the cache is larger"));
    cl_cache_free(&c);
}

/* ---- share policy ---------------------------------------------------------------------- */

static json_t *prepared_json(const cl_prepared *p) { return json_loadb(p->json, p->len, 0, NULL); }

static void test_policy(void) {
    char ev[4096];
    cl_prepared out;
    fs_err e = {0};
    cl_policy p = {0};
    int64_t now = now_ms();
    event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "WANGIRI", 85, OBS_CALLER);

    /* no policy: shared, issuer = the key owner, created = now, unknown fields kept */
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    json_t *o = prepared_json(&out);
    CHECK(!strcmp(json_string_value(json_object_get(o, "issuer")), "org:234-15"));
    int64_t created;
    const char *cs = json_string_value(json_object_get(o, "created"));
    CHECK(cs && xc_time_parse(cs, strlen(cs), &created) && created == now);
    CHECK(json_object_get(o, "x-local") != NULL);
    CHECK(!strcmp(out.event_id, ID_A));
    /* the callee side of the sample holds a subscriber number: removed; the caller stays */
    json_t *sample = json_object_get(json_object_get(o, "evidence"), "sample");
    CHECK(json_object_get(sample, "to") == NULL && json_object_get(sample, "request_uri") == NULL);
    CHECK(json_object_get(sample, "from") != NULL);
    /* the tunnels it crossed in our network do not leave; other local fields do */
    CHECK(json_object_get(sample, "x-encap") == NULL && json_object_get(sample, "x-capture") == NULL);
    CHECK(json_object_get(sample, "x-local") != NULL);
    json_decref(o);
    cl_prepared_free(&out);
    /* figures keep inspect's precision: 6 digits cut a window_s of days */
    char *wide = strstr(ev, "\"window_s\":30.5");
    CHECK(wide != NULL);
    char ev2[4096];
    snprintf(ev2, sizeof ev2, "%.*s\"window_s\":1249982.498%s", (int)(wide - ev), ev, wide + strlen("\"window_s\":30.5"));
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev2, strlen(ev2), now, &out, &e), CL_SHARE);
    CHECK(out.json && strstr(out.json, "\"window_s\":1249982.498") != NULL);
    cl_prepared_free(&out);

    /* types */
    CHECK(cl_policy_set_types(&p, "SIP_SCANNER,IRSF", &e) == FS_OK);
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SKIP_TYPE);
    CHECK(cl_policy_set_types(&p, "IRSF,WANGIRI", &e) == FS_OK);
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    cl_prepared_free(&out);
    CHECK(cl_policy_set_types(&p, "WANGIRI,PHONE", &e) != FS_OK && strstr(e.msg, "PHONE"));
    p.types = 0;
    /* confidence */
    p.min_confidence = 86;
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SKIP_CONFIDENCE);
    p.min_confidence = 85;
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    cl_prepared_free(&out);
    /* expired unless --valid-for gives it a new lifetime */
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now + 601 * 1000, &out, &e), CL_SKIP_EXPIRED);
    p.valid_for_s = 3600;
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now + 601 * 1000, &out, &e), CL_SHARE);
    o = prepared_json(&out);
    int64_t until;
    const char *us = json_string_value(json_object_get(o, "valid_until"));
    CHECK(us && xc_time_parse(us, strlen(us), &until) && until == now + 601 * 1000 + 3600 * 1000);
    json_decref(o);
    cl_prepared_free(&out);
    /* TLP and audience */
    snprintf(p.tlp, sizeof p.tlp, "red");
    CHECK(cl_policy_set_audience(&p, "org:208-01,org:fraudlab", &e) == FS_OK);
    CHECK(cl_policy_set_audience(&p, "org:208-01,bogus", &e) != FS_OK && strstr(e.msg, "bogus"));
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    o = prepared_json(&out);
    json_t *h = json_object_get(o, "handling");
    CHECK(!strcmp(json_string_value(json_object_get(h, "tlp")), "red"));
    CHECK_EQ_INT(json_array_size(json_object_get(h, "audience")), 2);
    json_decref(o);
    cl_prepared_free(&out);
    cl_policy_free(&p);

    /* feedback and invalid input */
    memset(&p, 0, sizeof p);
    char sight[4096];
    event_json(sight, sizeof sight, "org:local", ID_A, 1, "active", 600, "SIGHTING", 85, OBS_CALLER);
    /* (a SIGHTING without details.ref is invalid; either way it is not shared) */
    CHECK(cl_share_prepare(&p, "org:234-15", sight, strlen(sight), now, &out, &e) != CL_SHARE);
    /* a match of a partner's event is not re-shared */
    char echo[4096];
    event_json(echo, sizeof echo, "org:local", ID_B, 1, "active", 600, "WANGIRI", 85, OBS_CALLER);
    char *r = strstr(echo, "FRAUD-WANGIRI-001");
    CHECK(r != NULL);
    if (r) {
        char fixed[4200];
        snprintf(fixed, sizeof fixed, "%.*sINTEL-001%s", (int)(r - echo), echo, r + strlen("FRAUD-WANGIRI-001"));
        CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", fixed, strlen(fixed), now, &out, &e), CL_SKIP_ECHO);
    }
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", "{\"a\":1}", 7, now, &out, &e), CL_SKIP_INVALID);
    CHECK(strstr(e.msg, "schema_version") != NULL);
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", "nope", 4, now, &out, &e), CL_SKIP_INVALID);
}

static void test_pseudonymise(void) {
    char ev[4096];
    cl_prepared out;
    fs_err e = {0};
    cl_policy p = {0};
    int64_t now = now_ms();
    const char *obs = "[{\"kind\":\"e164\",\"value\":\"+88213555001\",\"role\":\"caller\"},"
                      "{\"kind\":\"e164\",\"value\":\"+447700900123\",\"role\":\"victim\"},"
                      "{\"kind\":\"sip_uri\",\"value\":\"sip:+447700900124@ims.example.net\",\"role\":\"victim\"}]";
    event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "WANGIRI", 85, obs);

    /* without a community key: victims' identifiers are dropped, the fraudster stays */
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    CHECK_EQ_INT(out.dropped, 2);
    CHECK_EQ_INT(out.pseudonymised, 0);
    CHECK(strstr(out.json, "447700900123") == NULL && strstr(out.json, "447700900124") == NULL);
    CHECK(strstr(out.json, "+88213555001") != NULL);
    cl_prepared_free(&out);

    /* with one: the e164 victim becomes msisdn_hmac under the newest key */
    xc_pseudo_keys ks;
    memset(&ks, 0, sizeof ks);
    CHECK(xc_pseudo_rotate(&ks, "k2025", now - 1000, &e) == FS_OK);
    CHECK(xc_pseudo_rotate(&ks, "k2026", now, &e) == FS_OK);
    p.pseudo = &ks;
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    CHECK_EQ_INT(out.pseudonymised, 1);
    CHECK_EQ_INT(out.dropped, 1); /* the sip_uri victim cannot be hashed as an MSISDN */
    CHECK(strstr(out.json, "447700900123") == NULL);
    json_t *o = prepared_json(&out);
    json_t *v = json_array_get(json_object_get(o, "observables"), 1);
    CHECK(!strcmp(json_string_value(json_object_get(v, "kind")), "msisdn_hmac"));
    CHECK(!strcmp(json_string_value(json_object_get(v, "key_id")), "k2026"));
    /* recompute the HMAC independently: HMAC-SHA256(key, "+447700900123"), base64url */
    uint8_t mac[32];
    crypto_auth_hmacsha256(mac, (const uint8_t *)"+447700900123", 13, ks.keys[0].key);
    char want[64];
    sodium_bin2base64(want, sizeof want, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CHECK_EQ_INT(strcmp(json_string_value(json_object_get(v, "value")), want), 0);
    json_decref(o);
    cl_prepared_free(&out);

    /* a victim on the calling side (a home number spoofed from outside,
     * SIP-CLI-001): the sample's From that carries it goes too */
    p.pseudo = NULL;
    const char *spoofed = "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"},"
                          "{\"kind\":\"e164\",\"value\":\"+88213555001\",\"role\":\"victim\"}]";
    event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "CLI_SPOOFING", 85, spoofed);
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SHARE);
    CHECK(strstr(out.json, "88213555001") == NULL);
    CHECK(strstr(out.json, "198.51.100.7") != NULL);
    o = prepared_json(&out);
    CHECK(json_object_get(json_object_get(json_object_get(o, "evidence"), "sample"), "call_id") != NULL);
    json_decref(o);
    cl_prepared_free(&out);

    /* the same victim written otherwise in the sample: nationally in From
     * ("07700900123" for +447700900123), escaped in PAI (%37 is '7', RFC
     * 3261 19.1.4), a callee number with visual separators in To: none
     * leaves in clear (each stayed: digits read literally, runs of 7 only) */
    {
        const char *victim = "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"},"
                             "{\"kind\":\"e164\",\"value\":\"+447700900123\",\"role\":\"victim\"}]";
        event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "CLI_SPOOFING", 85, victim);
        json_t *in = json_loads(ev, 0, NULL);
        json_t *sample = json_object_get(json_object_get(in, "evidence"), "sample");
        json_object_set_new(sample, "from", json_string("<sip:07700900123@home.example>"));
        json_object_set_new(sample, "pai", json_string("<sip:+44%37%37%30%30900123@home.example>"));
        json_object_set_new(sample, "to", json_string("<tel:+44-7700-900-555>"));
        json_object_set_new(sample, "request_uri", json_string("sip:%2B447700900555@ims.example.net"));
        char *text = json_dumps(in, JSON_COMPACT);
        json_decref(in);
        CHECK(text != NULL);
        if (text) {
            CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", text, strlen(text), now, &out, &e), CL_SHARE);
            o = prepared_json(&out);
            sample = json_object_get(json_object_get(o, "evidence"), "sample");
            CHECK_MSG(!json_object_get(sample, "from"), "%s", out.json);
            CHECK_MSG(!json_object_get(sample, "pai"), "%s", out.json);
            CHECK_MSG(!json_object_get(sample, "to"), "%s", out.json);
            CHECK_MSG(!json_object_get(sample, "request_uri"), "%s", out.json);
            CHECK(json_object_get(sample, "call_id") != NULL);
            json_decref(o);
            cl_prepared_free(&out);
            /* another caller's number stays: only the victim's digits are scrubbed */
            in = json_loads(text, 0, NULL);
            sample = json_object_get(json_object_get(in, "evidence"), "sample");
            json_object_set_new(sample, "from", json_string("<sip:+33612345678@evil.example>"));
            json_object_del(sample, "pai");
            free(text);
            text = json_dumps(in, JSON_COMPACT);
            json_decref(in);
            CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", text, strlen(text), now, &out, &e), CL_SHARE);
            CHECK(out.json && strstr(out.json, "<sip:+33612345678@evil.example>") != NULL);
            cl_prepared_free(&out);
            free(text);
        }
    }

    /* a victim named by a URI without a number (an IMPU, sip:alice@ims...):
     * dropped, as every victim identifier that is no address, and gone from
     * the sample wherever it is written (it left in clear, observable and
     * sample both, since only digit runs were looked for) */
    {
        const char *victim = "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"},"
                             "{\"kind\":\"sip_uri\",\"value\":\"sip:alice@ims.example.net\",\"role\":\"victim\"},"
                             "{\"kind\":\"ip\",\"value\":\"192.0.2.10\",\"role\":\"victim\"}]";
        event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "CLI_SPOOFING", 85, victim);
        json_t *in = json_loads(ev, 0, NULL);
        json_t *sample = json_object_get(json_object_get(in, "evidence"), "sample");
        json_object_set_new(sample, "from", json_string("<sip:Alice@IMS.example.net>;tag=1"));
        json_object_set_new(sample, "to", json_string("<sip:alice@ims.example.net>"));
        json_object_set_new(sample, "pai", json_string("<sip:bob@partner.example>"));
        char *text = json_dumps(in, JSON_COMPACT);
        json_decref(in);
        CHECK(text != NULL);
        if (text) {
            CHECK_MSG(cl_share_prepare(&p, "org:234-15", text, strlen(text), now, &out, &e) == CL_SHARE, "%s", e.msg);
            CHECK_EQ_INT(out.dropped, 1);
            CHECK_MSG(out.json && !strcasestr(out.json, "alice@ims.example.net"), "%s", out.json);
            CHECK(out.json && strstr(out.json, "192.0.2.10") != NULL); /* an address stays */
            CHECK(out.json && strstr(out.json, "<sip:bob@partner.example>") != NULL);
            cl_prepared_free(&out);
            free(text);
        }
    }

    /* SIP-CLI-001 matched by our domain alone: no victim number to find,
     * but the asserted identity is our subscriber's (an IMPU): neither From
     * nor PAI leaves (both did) */
    {
        const char *src = "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]";
        event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "CLI_SPOOFING", 85, src);
        json_t *in = json_loads(ev, 0, NULL);
        json_object_set_new(json_object_get(in, "rule"), "id", json_string("SIP-CLI-001"));
        json_t *sample = json_object_get(json_object_get(in, "evidence"), "sample");
        json_object_set_new(sample, "from", json_string("<sip:alice@ims.home.example>;tag=1"));
        json_object_set_new(sample, "pai", json_string("<sip:alice@ims.home.example>"));
        char *text = json_dumps(in, JSON_COMPACT);
        json_decref(in);
        CHECK(text != NULL);
        if (text) {
            CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", text, strlen(text), now, &out, &e), CL_SHARE);
            CHECK_MSG(out.json && !strstr(out.json, "alice@ims.home.example"), "%s", out.json);
            cl_prepared_free(&out);
            free(text);
        }
    }

    /* a finding about an element (SIP-TOPO-*, SIP-INFO-*): the message is
     * one our network sent for a subscriber, whose number (From, PAI) is no
     * attacker's: the sample keeps neither (the caller observable is the
     * detector's to give, and it gives none for these rules) */
    const char *leaker = "[{\"kind\":\"ip\",\"value\":\"192.0.2.10\",\"role\":\"source\"}]";
    event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "TOPOLOGY_LEAK", 85, leaker);
    char *rid = strstr(ev, "FRAUD-WANGIRI-001");
    CHECK(rid != NULL);
    if (rid) {
        memmove(rid + 12, rid + 17, strlen(rid + 17) + 1);
        memcpy(rid, "SIP-TOPO-001", 12);
    }
    char *dom = strstr(ev, "\"domain\":\"fraud\"");
    CHECK(dom != NULL);
    if (dom) { /* "fraud" -> "privacy": two octets longer */
        memmove(dom + 18, dom + 16, strlen(dom + 16) + 1);
        memcpy(dom + 10, "privacy\"", 8);
    }
    CHECK_MSG(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e) == CL_SHARE, "%s", e.msg);
    CHECK_MSG(out.json && strstr(out.json, "88213555001") == NULL, "%s", out.json ? out.json : "");
    o = prepared_json(&out);
    CHECK(json_object_get(json_object_get(json_object_get(o, "evidence"), "sample"), "call_id") != NULL);
    json_decref(o);
    cl_prepared_free(&out);

    /* only victims: nothing left without a key */
    const char *only = "[{\"kind\":\"e164\",\"value\":\"+447700900123\",\"role\":\"victim\"}]";
    event_json(ev, sizeof ev, "org:local", ID_A, 1, "active", 600, "WANGIRI", 85, only);
    CHECK_EQ_INT(cl_share_prepare(&p, "org:234-15", ev, strlen(ev), now, &out, &e), CL_SKIP_NO_OBSERVABLE);
    xc_pseudo_wipe(&ks);
}

static void test_url(void) {
    cl_hub h;
    fs_err e = {0};
    CHECK(cl_hub_init(&h, "https://hub.example:8443", "c", "k", "a", &e) == FS_OK);
    CHECK(!strcmp(h.host, "hub.example") && !strcmp(h.port, "8443") && h.prefix[0] == '\0');
    CHECK(cl_hub_init(&h, "https://[::1]:9443/base/", "c", "k", "a", &e) == FS_OK);
    CHECK(!strcmp(h.host, "::1") && !strcmp(h.port, "9443") && !strcmp(h.prefix, "/base"));
    CHECK(cl_hub_init(&h, "https://127.0.0.1", "c", "k", "a", &e) == FS_OK && !strcmp(h.port, "443"));
    CHECK(cl_hub_init(&h, "http://127.0.0.1:80", "c", "k", "a", &e) == FS_ERR_USAGE && strstr(e.msg, "http://"));
    CHECK(cl_hub_init(&h, "https://127.0.0.1:99999", "c", "k", "a", &e) == FS_ERR_USAGE);
    CHECK(cl_hub_init(&h, "https://:8443", "c", "k", "a", &e) == FS_ERR_USAGE);
    CHECK(cl_hub_init(&h, "https://h:1x", "c", "k", "a", &e) == FS_ERR_USAGE);
    CHECK(cl_hub_init(&h, "https://h:8443", NULL, "k", "a", &e) == FS_ERR_USAGE && strstr(e.msg, "--cert"));
}

/* ---- HTTP responses and the event stream, from memory, split every way ------------------ */

typedef struct sse_seen {
    int n;
    char ids[8][32];
    char data[8][128];
} sse_seen;

static void on_sse(void *user, const cl_sse *ev) {
    sse_seen *s = user;
    if (s->n < 8) {
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s", ev->id);
        snprintf(s->data[s->n], sizeof s->data[0], "%.*s", (int)ev->len, ev->data);
    }
    s->n++;
}

static void test_http_parse(void) {
    fs_err e = {0};
    cl_response r;
    static const char cl_resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 13\r\n\r\n{\"status\":1}\n";
    static const char chunked[] = "HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n"
                                  "Retry-After: 2\r\n\r\n5\r\n{\"err\r\n8;ext=1\r\nor\":\"x\"}\r\n0\r\nX-T: 1\r\n\r\n";
    static const char closed[] = "HTTP/1.0 503 Unavailable\r\n\r\nstore down";
    for (size_t step = 1; step <= 64; step = step * 2 + 1) {
        CHECK(cl_response_parse(cl_resp, sizeof cl_resp - 1, step, 1024, &r, &e) == FS_OK);
        CHECK(r.status == 200 && r.len == 13 && !strcmp(r.body, "{\"status\":1}\n"));
        CHECK(!strcmp(r.content_type, "application/json"));
        cl_response_free(&r);
        CHECK(cl_response_parse(chunked, sizeof chunked - 1, step, 1024, &r, &e) == FS_OK);
        CHECK_MSG(r.status == 429 && !strcmp(r.body, "{\"error\":\"x\"}") && !strcmp(r.retry_after, "2"),
                  "step %zu: %d '%s'", step, r.status, r.body ? r.body : "");
        cl_response_free(&r);
        CHECK(cl_response_parse(closed, sizeof closed - 1, step, 1024, &r, &e) == FS_OK);
        CHECK(r.status == 503 && !strcmp(r.body, "store down"));
        cl_response_free(&r);
    }
    /* bounds and malformed answers */
    CHECK(cl_response_parse(cl_resp, sizeof cl_resp - 1, 0, 5, &r, &e) == FS_ERR_LIMIT && strstr(e.msg, "larger than 5"));
    CHECK(cl_response_parse("SSH-2.0-OpenSSH\r\n\r\n", 19, 0, 1024, &r, &e) == FS_ERR_FORMAT &&
          strstr(e.msg, "not an HTTP response"));
    static const char badlen[] = "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
    CHECK(cl_response_parse(badlen, sizeof badlen - 1, 0, 1024, &r, &e) == FS_ERR_FORMAT);
    static const char badchunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    CHECK(cl_response_parse(badchunk, sizeof badchunk - 1, 0, 1024, &r, &e) != FS_OK && strstr(e.msg, "chunk"));
    static const char shortbody[] = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nabc";
    CHECK(cl_response_parse(shortbody, sizeof shortbody - 1, 0, 1024, &r, &e) == FS_ERR_IO);
    /* ...and says so (it said "connection closed", as of any close) */
    CHECK_MSG(strstr(e.msg, "cut short") && strstr(e.msg, "47 bytes before its Content-Length"), "%s", e.msg);
    static const char shortchunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\nabc";
    CHECK(cl_response_parse(shortchunk, sizeof shortchunk - 1, 0, 1024, &r, &e) == FS_ERR_IO);
    CHECK_MSG(strstr(e.msg, "cut short"), "%s", e.msg);
    /* endless headers are cut at the bound */
    size_t big = CL_HEADERS_MAX_BYTES + 4096;
    char *hdrs = malloc(big);
    size_t o = (size_t)snprintf(hdrs, big, "HTTP/1.1 200 OK\r\n");
    while (o + 20 < big) o += (size_t)snprintf(hdrs + o, big - o, "X-Pad: 0123456789\r\n");
    CHECK(cl_response_parse(hdrs, o, 0, 1024, &r, &e) == FS_ERR_LIMIT && strstr(e.msg, "headers"));
    free(hdrs);

    /* interim answers (100 Continue, 103 Early Hints from a proxy) come before the final
     * one: it was taken for the answer (status 103), the final one read as its body */
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                  "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    for (size_t step = 1; step <= 64; step = step * 2 + 1) {
        CHECK(cl_response_parse(interim, sizeof interim - 1, step, 1024, &r, &e) == FS_OK);
        CHECK_MSG(r.status == 200 && r.len == 2 && !strcmp(r.body, "{}"), "step %zu: %d '%s'", step, r.status,
                  r.body);
        cl_response_free(&r);
    }
    static const char interim_stream[] = "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
                                         "id: 3\nevent: event\ndata: a.b.c\n\n";
    {
        sse_seen seen = {0};
        CHECK(cl_stream_parse(interim_stream, sizeof interim_stream - 1, 0, on_sse, &seen, &e) == 1);
        CHECK(seen.n == 1 && !strcmp(seen.ids[0], "3"));
    }
    /* ...but not without end: they count against the headers' bound */
    hdrs = malloc(big);
    o = 0;
    while (o + 40 < big) o += (size_t)snprintf(hdrs + o, big - o, "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK(cl_response_parse(hdrs, o, 0, 1024, &r, &e) == FS_ERR_LIMIT && strstr(e.msg, "headers"));
    free(hdrs);

    /* the stream: chunked, several events per chunk, an event across chunks, pings,
     * multi-line data, CRLF and LF line ends */
    static const char stream[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        "34\r\nid: 7\nevent: event\ndata: aaa.bbb.ccc\n\n: ping\n\nid: 8\n\r\n"
        "22\r\nevent: event\r\ndata: x\r\ndata: y\r\n\r\n\r\n"
        "0\r\n\r\n";
    for (size_t step = 1; step <= 256; step = step * 2 + 1) {
        sse_seen seen = {0};
        long n = cl_stream_parse(stream, sizeof stream - 1, step, on_sse, &seen, &e);
        CHECK_MSG(n == 2 && seen.n == 2, "step %zu: %ld events (%s)", step, n, e.msg);
        CHECK(!strcmp(seen.ids[0], "7") && !strcmp(seen.data[0], "aaa.bbb.ccc"));
        CHECK(!strcmp(seen.ids[1], "8") && !strcmp(seen.data[1], "x\ny"));
    }
    /* fields with an empty value ("data:" at the very end of a line): found by fuzzing,
     * the value must not be read past the line */
    static const char empty[] = "HTTP/1.1 200 OK\r\n\r\ndata:\n\ndata: a\ndata:\nid:\n\n";
    for (size_t step = 1; step <= 64; step = step * 2 + 1) {
        sse_seen seen = {0};
        CHECK(cl_stream_parse(empty, sizeof empty - 1, step, on_sse, &seen, &e) == 2);
        CHECK(seen.n == 2 && !strcmp(seen.data[0], "") && !strcmp(seen.data[1], "a\n") && !strcmp(seen.ids[1], ""));
    }
    /* a stream refused with a status is an error naming it */
    static const char refused[] = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
    CHECK(cl_stream_parse(refused, sizeof refused - 1, 0, NULL, NULL, &e) == -1 && strstr(e.msg, "503"));
    /* a line longer than one event may be is refused, not buffered without end */
    size_t huge = CL_SSE_MAX_BYTES + 200;
    char *hs = malloc(huge + 100);
    o = (size_t)snprintf(hs, huge + 100, "HTTP/1.1 200 OK\r\n\r\ndata: ");
    memset(hs + o, 'a', huge - o);
    CHECK(cl_stream_parse(hs, huge, 0, NULL, NULL, &e) == -1 && strstr(e.msg, "longer than"));
    free(hs);
}

int main(void) {
    if (sodium_init() < 0) return 1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_client.%ld", (long)getpid());
    mkdir(tmpdir, 0700);
    test_cache();
    test_cache_tombstones();
    test_cache_bytes();
    test_policy();
    test_pseudonymise();
    test_url();
    test_http_parse();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test_client");
}
