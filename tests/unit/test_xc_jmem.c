/*
 * test_xc_jmem.c -- parsed events in arenas (src/exchange/xc_jmem.c).
 *
 * Checks that once xc_jmem_install has run, xc_event_parse builds the tree
 * in an arena (its bytes are counted there, not in malloc), that the fields
 * read back intact, that a tree larger than the first block grows the arena,
 * that rejected documents and jansson objects made outside a parse are freed
 * normally, and that trees built on four threads are freed on another one
 * (the hub's pattern). Leaks, double frees and frees of arena pointers are
 * what ASan/LSan report when these rules break.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "exchange/xc.h"

#define EXAMPLE "tests/data/exchange/valid/spec-example.json"
#define CHECK_CSTR(got, want)                                                   \
    do {                                                                        \
        const char *check_g_ = (got);                                           \
        CHECK_MSG(check_g_ && !strcmp(check_g_, want), "got '%s', want '%s'",   \
                  check_g_ ? check_g_ : "(null)", want);                        \
    } while (0)

static void test_not_installed(void) {
    xc_jmem *a = xc_jmem_begin(100);
    CHECK_MSG(a == NULL, "no arena before xc_jmem_install: jansson keeps plain malloc");
    xc_jmem_free(a); /* NULL: nothing */
}

static void test_parse_in_arena(const char *text, size_t len) {
    xc_event ev;
    fs_err e;
    CHECK_EQ_INT(xc_event_parse(text, len, &ev, NULL, &e), FS_OK);
    CHECK_MSG(ev.mem != NULL, "the tree was built in an arena");
    /* jansson's nodes, keys and strings: several bytes per byte of JSON */
    CHECK_MSG(xc_jmem_bytes(ev.mem) > len, "arena holds %zu bytes for %zu of JSON", xc_jmem_bytes(ev.mem), len);
    CHECK_CSTR(ev.issuer, "org:234-15");
    CHECK_CSTR(ev.event_type, "SIP_SCANNER");
    CHECK_EQ_INT(xc_event_nobs(&ev), 2);
    xc_observable o;
    CHECK(xc_event_observable(&ev, 1, &o));
    CHECK_CSTR(o.value, "friendly-scanner");
    json_t *copy = json_deep_copy(ev.root); /* outlives the arena: plain malloc */
    xc_event_free(&ev);
    CHECK(ev.root == NULL && ev.mem == NULL);
    CHECK_CSTR(json_string_value(json_object_get(copy, "event_id")), "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00");
    json_object_set_new(copy, "confidence", json_integer(50)); /* a malloc'd tree can change */
    CHECK_EQ_INT(json_integer_value(json_object_get(copy, "confidence")), 50);
    json_decref(copy);
}

/* 64 observables with long values: far more than the first block holds. */
static void test_arena_grows(const char *text, size_t len) {
    json_t *root = json_loadb(text, len, 0, NULL);
    json_t *obs = json_array();
    char value[400];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < XC_MAX_OBSERVABLES; i++)
        json_array_append_new(obs, json_pack("{s:s, s:s, s:s}", "kind", "sip_user_agent", "value", value,
                                             "role", "tool"));
    json_object_set_new(root, "observables", obs);
    char *big = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    size_t big_len = strlen(big);
    xc_event ev;
    fs_err e;
    CHECK_EQ_INT(xc_event_parse(big, big_len, &ev, NULL, &e), FS_OK);
    CHECK(ev.mem != NULL);
    CHECK_MSG(xc_jmem_bytes(ev.mem) > big_len, "%zu bytes in the arena for %zu of JSON", xc_jmem_bytes(ev.mem), big_len);
    CHECK_EQ_INT(xc_event_nobs(&ev), XC_MAX_OBSERVABLES);
    xc_observable o;
    CHECK(xc_event_observable(&ev, XC_MAX_OBSERVABLES - 1, &o));
    CHECK_EQ_INT(strlen(o.value), sizeof value - 1);
    xc_event_free(&ev);
    free(big);
}

/* Not JSON, and JSON that is no valid event: nothing left behind (LSan). */
static void test_rejected(const char *text, size_t len) {
    xc_event ev;
    fs_err e;
    CHECK(xc_event_parse("{\"schema_version\":\"1.0\",", 24, &ev, NULL, &e) != FS_OK);
    CHECK(ev.mem == NULL && ev.root == NULL);
    CHECK(xc_event_parse("{\"a\":1,\"a\":2}", 13, &ev, NULL, &e) != FS_OK); /* duplicate key */
    char *bad = malloc(len + 1);
    memcpy(bad, text, len);
    bad[len] = '\0';
    char *p = strstr(bad, "\"high\"");
    CHECK(p != NULL);
    if (p) memcpy(p, "\"huge\"", 6);
    CHECK(xc_event_parse(bad, len, &ev, NULL, &e) != FS_OK);
    CHECK(strstr(e.msg, "severity") != NULL);
    CHECK(ev.mem == NULL);
    free(bad);
}

/* A jansson object made before a parse and released while an arena is
 * current goes back to malloc's free, not to the arena. */
static void test_outside_object_freed_normally(void) {
    json_t *outside = json_pack("{s:s}", "k", "a value made with malloc");
    xc_jmem *a = xc_jmem_begin(64);
    CHECK(a != NULL);
    json_t *inside = json_string("made in the arena");
    CHECK(xc_jmem_bytes(a) > 0);
    json_decref(outside);      /* free() */
    json_decref(inside);       /* arena pointer: no-op */
    xc_jmem_end(a);
    json_t *after = json_string("malloc again"); /* no arena current */
    size_t before = xc_jmem_bytes(a);
    json_decref(after);
    CHECK_EQ_INT(xc_jmem_bytes(a), before);
    xc_jmem_free(a);
}

/* An arena begun for 0 bytes of JSON starts with one small block: filling
 * it with a few thousand nodes chains further blocks, all intact. */
static void test_blocks_chain(void) {
    xc_jmem *a = xc_jmem_begin(0);
    CHECK(a != NULL);
    json_t *arr = json_array();
    char key[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "n%d", i);
        json_array_append_new(arr, json_pack("{s:i}", key, i));
    }
    xc_jmem_end(a);
    CHECK_MSG(xc_jmem_bytes(a) > 100000, "3000 objects took %zu arena bytes", xc_jmem_bytes(a));
    CHECK_EQ_INT(json_array_size(arr), 3000);
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "n%d", i);
        bad += json_integer_value(json_object_get(json_array_get(arr, (size_t)i), key)) != i;
    }
    CHECK_EQ_INT(bad, 0);
    xc_jmem_free(a); /* the array is gone with it: no json_decref */
}

/* Four threads parse; the main thread frees their trees, as the hub's
 * event loop frees what its workers parsed. */
enum { THREADS = 4, PER_THREAD = 200 };
typedef struct {
    const char *text;
    size_t len;
    xc_event ev[PER_THREAD];
    int ok;
} parse_job;

static void *parse_many(void *arg) {
    parse_job *j = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        fs_err e;
        if (xc_event_parse(j->text, j->len, &j->ev[i], NULL, &e) == FS_OK && j->ev[i].mem) j->ok++;
    }
    return NULL;
}

static void test_threads(const char *text, size_t len) {
    static parse_job jobs[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (parse_job){.text = text, .len = len};
        CHECK(pthread_create(&t[i], NULL, parse_many, &jobs[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += jobs[i].ok;
    }
    CHECK_EQ_INT(ok, THREADS * PER_THREAD);
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++) {
            if (k == PER_THREAD - 1) CHECK_CSTR(jobs[i].ev[k].issuer, "org:234-15");
            xc_event_free(&jobs[i].ev[k]);
        }
}

int main(void) {
    if (sodium_init() < 0) return 1;
    test_not_installed();
    xc_jmem_install();
    xc_jmem_install(); /* twice: harmless */
    size_t len;
    char *text = check_read_file(EXAMPLE, &len);
    if (!text) {
        fprintf(stderr, "cannot read " EXAMPLE " (run from the repo root)\n");
        return 1;
    }
    test_parse_in_arena(text, len);
    test_arena_grows(text, len);
    test_rejected(text, len);
    test_outside_object_freed_normally();
    test_blocks_chain();
    test_threads(text, len);
    free(text);
    return check_done("test_xc_jmem");
}
