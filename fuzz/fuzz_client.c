/*
 * fuzz_client.c -- libFuzzer harness for what a hub (or anyone pretending to
 * be one) sends the fs38 clients, and for the indicator cache.
 *
 * Every input goes through: the HTTP response parser (status, headers,
 * Content-Length / chunked / until-close bodies) and the server-sent events
 * reader, each with the input delivered in one piece and in small pieces so
 * line and chunk boundaries fall everywhere; the indicator cache loader
 * of `fs38 inspect --indicators` (det_indicators, the same xc_event_parse
 * per line as cl_cache_load); the pull cache (cl_cache_load of the input as
 * the cache file, then the whole input and every line merged as pulled,
 * then expiry); and
 * every line as `fs38 share` reads `fs38 inspect --json` output
 * (cl_share_prepare under a policy that selects types, sets TLP, audience
 * and validity and pseudonymises victims, and under the empty policy).
 * Nothing may crash, leak or read out of bounds; the two deliveries must
 * agree on the outcome; a merged event is found in the cache on one line;
 * what share would sign is a valid event with no clear subscriber
 * identifier, and its issuer.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/cl.h"
#include "detect/det.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static volatile size_t sink;

static void on_sse(void *user, const cl_sse *ev) {
    (void)user;
    sink += ev->len + strlen(ev->id);
}

#define NOW_MS INT64_C(1795168800000) /* 2026-11-20T10:00:00Z */
#define ISSUER "org:234-15"

static xc_pseudo_keys pseudo; /* a fixed key, so findings replay */
static cl_policy strict, open_policy;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    xc_jmem_install(); /* as fs38's main does */
    pseudo.n = 1;
    snprintf(pseudo.keys[0].key_id, sizeof pseudo.keys[0].key_id, "k1");
    for (int i = 0; i < 32; i++) pseudo.keys[0].key[i] = (uint8_t)(0x38 + i);
    pseudo.keys[0].created_ms = NOW_MS;
    fs_err e = {0};
    if (cl_policy_set_types(&strict, "IRSF,SIP_SCANNER,SIM_SWAP_SUSPECT,WANGIRI", &e) != FS_OK ||
        cl_policy_set_audience(&strict, "org:a,org:b", &e) != FS_OK)
        abort();
    strict.min_confidence = 50;
    snprintf(strict.tlp, sizeof strict.tlp, "amber");
    strict.pseudo = &pseudo;
    strict.valid_for_s = 86400;
    return 0;
}

/* json merged as a pulled payload: when kept, it is in the cache, as long
 * and on one line. */
static void merge_one(cl_cache *c, const char *json, size_t len) {
    xc_event ev;
    fs_err e = {0};
    if (xc_event_parse(json, len, &ev, NULL, &e) != FS_OK) return;
    cl_merge m = cl_cache_merge(c, json, len, &ev, NOW_MS);
    if (m == CL_MERGE_NEW || m == CL_MERGE_UPDATED) {
        const cl_cache_item *it = cl_cache_find(c, ev.issuer, ev.event_id);
        if (!it || !it->json || it->len != len || memchr(it->json, '\n', it->len)) abort();
    }
    xc_event_free(&ev);
}

/* The pull cache: the input as the cache file, then the input as one
 * payload and each of its lines merged as pulled events would be. */
static void pull_cache(const char *buf, size_t size) {
    cl_cache c;
    cl_cache_init(&c);
    fs_err e = {0};
    int fd = memfd_create("fuzz_client", 0);
    if (fd >= 0) {
        if (write(fd, buf, size) == (ssize_t)size) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            if (cl_cache_load(&c, path, &e) != FS_OK && !e.msg[0]) abort();
        }
        close(fd);
    }
    /* the whole input as one pulled payload first: a partner's event signed
     * pretty-printed has line feeds, which the cache must not keep (the
     * lines below, split at them, have none) */
    merge_one(&c, buf, size);
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(buf + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (buf + at)) : size - at;
        merge_one(&c, buf + at, len);
        at += len + 1;
    }
    size_t live = c.live;
    if (cl_cache_expire(&c, NOW_MS + INT64_C(86400000) * 365) > live) abort();
    cl_cache_free(&c);
}

/* Each line through `fs38 share`'s filter. */
static void share(const cl_policy *p, const char *buf, size_t size) {
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(buf + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (buf + at)) : size - at;
        cl_prepared out;
        fs_err e = {0};
        cl_verdict v = cl_share_prepare(p, ISSUER, buf + at, len, NOW_MS, &out, &e);
        if ((unsigned)v >= CL_VERDICT__COUNT) abort();
        if (v == CL_SHARE) {
            xc_event ev;
            xc_report r;
            if (!out.json || out.len != strlen(out.json) ||
                xc_event_parse(out.json, out.len, &ev, &r, &e) != FS_OK)
                abort();
            xc_report_clear(&r);
            if (xc_event_clear_ids(&ev, &r) != 0 || strcmp(ev.issuer, ISSUER) != 0) abort();
            xc_event_free(&ev);
        }
        cl_prepared_free(&out);
        at += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    const char *buf = (const char *)data;
    fs_err e = {0};
    cl_response r1, r2;
    fs_code a = cl_response_parse(buf, size, 0, 1 << 20, &r1, &e);
    fs_code b = cl_response_parse(buf, size, 7, 1 << 20, &r2, &e);
    if ((a == FS_OK) != (b == FS_OK)) abort();
    if (a == FS_OK && b == FS_OK && (r1.status != r2.status || r1.len != r2.len || memcmp(r1.body, r2.body, r1.len)))
        abort();
    if (a == FS_OK) cl_response_free(&r1);
    if (b == FS_OK) cl_response_free(&r2);
    long n1 = cl_stream_parse(buf, size, 0, on_sse, NULL, &e);
    long n2 = cl_stream_parse(buf, size, 5, on_sse, NULL, &e);
    if (n1 != n2) abort();

    char *copy = malloc(size + 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    det_indicators *ind = det_indicators_parse(copy, size, "fuzz", 0, &e);
    det_indicators_info info;
    det_indicators_get_info(ind, &info);
    sink += info.events;
    det_indicators_free(ind);
    free(copy);

    pull_cache(buf, size);
    share(&strict, buf, size);
    share(&open_policy, buf, size);
    return 0;
}
