/*
 * fuzz_hub.c -- libFuzzer harness for what a member sends the hub in a
 * request, short of TLS and SQL: the query string of every GET endpoint
 * (parse_query_str: libevent's decoding, the allowed names, after, limit,
 * type, issuer, kind, since, event_id), the Last-Event-ID header of
 * GET /v1/stream and the body of POST /v1/events (the fast scan of
 * {"events":["<jws>",...]}, the nesting bound checked before jansson, and
 * jansson itself), and each JWS of a body as a replicating node reads it
 * back from the log (hub_repl_item_from_jws: the payload parsed without its
 * signature checked, then hub_item_validate as the store does). jansson
 * allocates through xc_jmem's hooks, as in fs38 itself.
 *
 * Input: everything up to the first NUL is the query string (after the
 * '?'), given to the parser of each endpoint; the whole input is the body
 * (and, cut at a NUL, the Last-Event-ID value). hub_server.c is included so
 * its static parsers are reached as the server calls them.
 *
 * Invariants checked (abort = finding): a refused query names why; an
 * accepted one holds only allowed names and values in range (limit 1..
 * HUB_MAX_LIMIT, known types within their buffer, a valid issuer and kind,
 * since not before 1970, event_id of 1..64 characters); a body the fast scan
 * takes is one jansson takes too, as {"events":[...]} of the same strings;
 * the nesting bound agrees with the depth of every body jansson parses; a
 * logged event read back holds no more observables and audience members
 * than an event may.
 *
 *   ./fuzz_hub -max_total_time=60 fuzz/corpus/hub
 */
#include "../src/hub/hub_server.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static volatile size_t sink;

/* The allowed names of the endpoints, as their handlers pass them. */
static const char *const ENDPOINTS[] = {
    ",after,limit,type,issuer,kind,since,", /* GET /v1/events */
    ",type,issuer,kind,since,",             /* GET /v1/snapshot */
    ",issuer,event_id,after,limit,",        /* GET /v1/sightings */
    ",after,type,issuer,kind,",             /* GET /v1/stream */
};

static void check_query(const char *qs, const char *allowed) {
    query q;
    struct evkeyvalq kv;
    char err[300];
    err[0] = 0;
    bool ok = parse_query_str(qs, allowed, &q, &kv, err, sizeof err);
    if (!ok) {
        if (!err[0] || !memchr(err, 0, sizeof err)) abort(); /* a 400 that says nothing */
    } else {
        for (struct evkeyval *p = kv.tqh_first; p; p = p->next.tqe_next) {
            char pat[80];
            snprintf(pat, sizeof pat, ",%s,", p->key);
            if (strlen(p->key) > 60 || !strstr(allowed, pat)) abort();
        }
        if (q.limit < 1 || q.limit > HUB_MAX_LIMIT || q.after < 0 || q.since_ms < 0) abort();
        if (q.n_types > HUB_MAX_FILTER_TYPES) abort();
        for (size_t i = 0; i < q.n_types; i++) {
            const char *t = q.types[i].p;
            if (t < q.types_buf || t + q.types[i].len >= q.types_buf + sizeof q.types_buf) abort();
            if (t[q.types[i].len] || strlen(t) != q.types[i].len) abort();
            if (xc_enum_find(XC_ENUM_EVENT_TYPE, t) < 0) abort();
        }
        if (q.issuer && !xc_issuer_valid(q.issuer, strlen(q.issuer))) abort();
        if (q.kind && xc_enum_find(XC_ENUM_OBS_KIND, q.kind) < 0) abort();
        if (q.event_id && (!*q.event_id || strlen(q.event_id) > 64)) abort();
        sink += (size_t)q.limit + q.n_types;
    }
    evhttp_clear_headers(&kv);
}

static unsigned json_depth(const json_t *v) {
    unsigned d = 0, c;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) if ((c = json_depth(x)) > d) d = c;
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if ((c = json_depth(x)) > d) d = c;
        return d + 1;
    }
    return 0;
}

/* A JWS compact as a replicating node reads it from the log. */
static void check_logged(const char *jws, size_t n) {
    static hub_observable obs[HUB_MAX_OBS];
    static fs_str aud[HUB_MAX_AUDIENCE];
    xc_event ev;
    hub_item it;
    fs_err e = {0};
    if (hub_repl_item_from_jws(fs_str_make(jws, n), fs_str_make("org:234-15", 10), &ev, &it, obs, aud, &e) != FS_OK) {
        if (!e.msg[0]) abort();
        return;
    }
    if (it.n_obs > XC_MAX_OBSERVABLES || it.n_audience > XC_MAX_AUDIENCE) abort();
    if (hub_item_validate(&it, &e) == FS_OK) sink += it.n_obs;
    xc_event_free(&ev);
}

static void check_body(const char *b, size_t n) {
    size_t fast = scan_events(b, n, NULL);
    item_state *items = NULL;
    if (fast) {
        if (fast > n / 2) abort(); /* each item takes "" at least */
        items = calloc(fast, sizeof *items);
        if (!items) abort();
        if (scan_events(b, n, items) != fast) abort();
    }
    json_error_t je;
    json_t *doc = json_loadb(b, n, JSON_REJECT_DUPLICATES, &je);
    if (doc) {
        unsigned depth = json_depth(doc);
        for (unsigned max = 1; max <= 6; max++)
            if (hub_json_depth_ok(b, n, max) != (depth <= max)) abort();
    }
    if (fast) { /* what the fast path takes, jansson reads the same */
        json_t *arr = doc && json_is_object(doc) && json_object_size(doc) == 1 ? json_object_get(doc, "events") : NULL;
        if (!json_is_array(arr) || json_array_size(arr) != fast) abort();
        for (size_t i = 0; i < fast; i++) {
            json_t *s = json_array_get(arr, i);
            if (!json_is_string(s) || json_string_length(s) != items[i].jws_len ||
                memcmp(json_string_value(s), items[i].jws, items[i].jws_len))
                abort();
            if (items[i].jws < b || items[i].jws + items[i].jws_len > b + n) abort();
            check_logged(items[i].jws, items[i].jws_len);
        }
    }
    free(items);
    json_decref(doc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    xc_jmem_install(); /* as fs38's main does */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0; /* the query string ends at the first NUL, as libevent's does */
    for (size_t i = 0; i < sizeof ENDPOINTS / sizeof *ENDPOINTS; i++) check_query(s, ENDPOINTS[i]);
    int64_t after;
    if (parse_int64(s, INT64_MAX, &after) && after < 0) abort(); /* Last-Event-ID */
    check_body(s, size);
    if (!scan_events(s, size, NULL)) check_logged(s, size); /* one JWS alone */
    free(s);
    return 0;
}
