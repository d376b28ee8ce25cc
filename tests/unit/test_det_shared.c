/*
 * test_det_shared.c -- what the workers of `fs38 inspect --workers N` agree
 * on (src/detect/det_shared.c): destination counts summed per window, one
 * owner per Call-ID, one (striped) callers table, bounded tables, all safe from
 * several threads; and windows that hold when clocks differ a little.
 */
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>

#include "../check.h"
#include "detect/det.h"
#include "detect/det_internal.h"

#define THREADS 4
#define ADDS_PER_THREAD 20000
#define CALLS 5000

static fs_addr addr(const char *s) {
    fs_addr a;
    CHECK(fs_addr_parse(s, &a));
    return a;
}

static void t_counts(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(64, 64, 64, &e);
    CHECK(s != NULL);
    if (!s) return;
    fs_addr a = addr("192.0.2.10"), b = addr("2001:db8::10");
    CHECK_EQ_INT(det_shared_add(s, &a, 7, 5), 5);
    CHECK_EQ_INT(det_shared_add(s, &a, 7, 3), 8);
    /* another window, another address: their own sums */
    CHECK_EQ_INT(det_shared_add(s, &a, 8, 1), 1);
    CHECK_EQ_INT(det_shared_add(s, &b, 7, 2), 2);
    CHECK_EQ_INT(det_shared_add(s, &a, 7, 0), 8);
    /* saturates instead of wrapping */
    CHECK_EQ_INT(det_shared_add(s, &b, 9, UINT32_MAX - 1), UINT32_MAX - 1);
    CHECK(det_shared_add(s, &b, 9, 10) == UINT32_MAX);
    det_shared_free(s);
}

/* A small table keeps its size whatever is thrown at it: the oldest windows
 * go first, and a key seen again after eviction starts from zero. */
static void t_bounded(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(8, 8, 8, &e);
    CHECK(s != NULL);
    if (!s) return;
    size_t mem = det_shared_memory(s);
    fs_addr a = addr("198.51.100.1");
    for (uint64_t w = 0; w < 100000; w++) det_shared_add(s, &a, w, 1);
    CHECK(det_shared_memory(s) == mem);
    CHECK_EQ_INT(det_shared_add(s, &a, 99999, 1), 2); /* recent: kept */
    CHECK_EQ_INT(det_shared_add(s, &a, 0, 1), 1);     /* oldest: evicted */
    for (uint64_t k = 1; k <= 100000; k++) det_shared_claim_call(s, k * 0x9e3779b97f4a7c15ULL, 1, k);
    CHECK(det_shared_memory(s) == mem);
    det_shared_free(s);
}

/* Asking for the sum of a window no longer held (a worker's share of an
 * earlier window, late_share_report; the end of the run) takes no slot: it
 * pushed out the oldest of the bucket, another destination's sum of the
 * window in progress, and that destination's flood then counted from 0. */
static void t_peek_keeps(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(8, 8, 8, &e); /* the counts: one bucket of 8 */
    CHECK(s != NULL);
    if (!s) return;
    char ip[32];
    for (unsigned k = 0; k < 8; k++) {
        snprintf(ip, sizeof ip, "192.0.2.%u", 10 + k);
        fs_addr a = addr(ip);
        CHECK_EQ_INT(det_shared_add(s, &a, 100, 50 + k), 50 + k);
    }
    fs_addr other = addr("198.51.100.1");
    CHECK_EQ_INT(det_shared_add(s, &other, 99, 0), 0); /* a window left before, not held */
    for (unsigned k = 0; k < 8; k++) {
        snprintf(ip, sizeof ip, "192.0.2.%u", 10 + k);
        fs_addr a = addr(ip);
        CHECK_MSG(det_shared_add(s, &a, 100, 0) == 50 + k, "%s's sum of the current window lost", ip);
    }
    det_shared_free(s);
}

static void t_claims(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(64, 64, 64, &e);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(det_shared_claim_call(s, 42, 0, 1000));  /* first: worker 0 owns it */
    CHECK(det_shared_claim_call(s, 42, 0, 2000));  /* again: still its own */
    CHECK(!det_shared_claim_call(s, 42, 1, 1500)); /* the other leg, worker 1: not its */
    CHECK(det_shared_claim_call(s, 43, 1, 1500));
    det_shared_free(s);
}

typedef struct racer {
    det_shared *s;
    unsigned index;
    uint32_t last_total;
    unsigned owned;
} racer;

static void *race(void *arg) {
    racer *r = arg;
    fs_addr a = addr("203.0.113.5");
    for (int i = 0; i < ADDS_PER_THREAD; i++) r->last_total = det_shared_add(r->s, &a, 3, 1);
    for (uint64_t c = 1; c <= CALLS; c++)
        r->owned += det_shared_claim_call(r->s, c * 0x9e3779b97f4a7c15ULL, r->index, c);
    return NULL;
}

/* Several threads at once: no count lost, every call owned by exactly one. */
static void t_threads(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(1024, 4 * CALLS, 64, &e);
    CHECK(s != NULL);
    if (!s) return;
    racer r[THREADS];
    pthread_t th[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        r[i] = (racer){.s = s, .index = i};
        CHECK(pthread_create(&th[i], NULL, race, &r[i]) == 0);
    }
    unsigned owned = 0;
    uint32_t highest = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        owned += r[i].owned;
        if (r[i].last_total > highest) highest = r[i].last_total;
    }
    CHECK_EQ_INT(highest, THREADS * ADDS_PER_THREAD);
    fs_addr a = addr("203.0.113.5");
    CHECK_EQ_INT(det_shared_add(s, &a, 3, 0), THREADS * ADDS_PER_THREAD);
    CHECK_EQ_INT(owned, CALLS);
    det_shared_free(s);
}

/* Threads counting calls of the same callers into the shared table: none
 * lost. The 7 callers' keys spread over 4 of the table's stripes (top bits),
 * two or one to a stripe. */
typedef struct caller_racer {
    det_shared *s;
    uint64_t ts;
} caller_racer;

static uint64_t racer_key(int j) { return (uint64_t)(j % 4) << 60 | (uint64_t)(1 + j); }

static void *count_calls(void *arg) {
    caller_racer *r = arg;
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        uint64_t key = racer_key(i % 7);
        det_table *t = det_shared_callers_lock(r->s, key);
        bool created, evicted;
        det_caller *k = det_table_upsert(t, key, r->ts + (uint64_t)i, &created, &evicted);
        k->vol_calls++;
        det_shared_callers_unlock(r->s, key);
    }
    return NULL;
}

static void t_callers(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(64, 1024, 64, &e);
    CHECK(s != NULL);
    if (!s) return;
    uint32_t slots, live;
    det_shared_callers_count(s, &slots, &live);
    CHECK(slots >= det_callers_capacity(1024) && live == 0);
    caller_racer r[THREADS];
    pthread_t th[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        r[i] = (caller_racer){.s = s, .ts = 1000000u * i};
        CHECK(pthread_create(&th[i], NULL, count_calls, &r[i]) == 0);
    }
    for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    uint64_t total = 0;
    for (int j = 0; j < 7; j++) {
        uint64_t key = racer_key(j);
        det_caller *k = det_table_find(det_shared_callers_lock(s, key), key);
        CHECK(k != NULL);
        if (k) total += k->vol_calls;
        det_shared_callers_unlock(s, key);
    }
    det_shared_callers_count(s, &slots, &live);
    CHECK_EQ_INT(live, 7);
    CHECK_EQ_INT(total, THREADS * ADDS_PER_THREAD);
    det_shared_free(s);
}

/* Workers' clocks differ a little: a message a few seconds older than the
 * window's start is in the window (which then starts there); one older by a
 * window or more, or newer by a window, starts a new one, and so does any
 * message once the engine's clock stepped back more than 5 minutes before
 * the window's start (files given out of order). */
static void t_window_roll(void) {
    uint64_t start = 0, s = FS_USEC;
    CHECK(det_window_roll(&start, 100 * s, 60, 100 * s));        /* first use */
    CHECK_EQ_INT(start, 100 * s);
    CHECK(!det_window_roll(&start, 130 * s, 60, 130 * s));       /* inside */
    CHECK(!det_window_roll(&start, 97 * s, 60, 130 * s));        /* a little older: inside */
    CHECK_EQ_INT(start, 97 * s);                                 /* ... and the window starts there */
    CHECK(!det_window_roll(&start, 156 * s, 60, 156 * s));
    CHECK(det_window_roll(&start, 157 * s, 60, 157 * s));        /* 60 s after the start: a new window */
    CHECK_EQ_INT(start, 157 * s);
    CHECK(det_window_roll(&start, 90 * s, 60, 157 * s));         /* 67 s older: a new window too */
    CHECK_EQ_INT(start, 90 * s);
    /* a 10-minute window: a message 400 s older, the clock still ahead (two
     * HEP senders' clocks apart) is inside; the same message with the clock
     * stepped back to it (files out of order: the window's time is over)
     * starts a new window (it went on counting the time before the step),
     * and so does one 200 s older once the clock stepped back 301 s before
     * the start; a step back by up to 5 minutes leaves the window as it was */
    start = 1000 * s;
    CHECK(!det_window_roll(&start, 600 * s, 600, 1000 * s));
    CHECK_EQ_INT(start, 600 * s);
    start = 1000 * s;
    CHECK(det_window_roll(&start, 600 * s, 600, 600 * s));
    CHECK_EQ_INT(start, 600 * s);
    start = 1000 * s;
    CHECK(det_window_roll(&start, 800 * s, 600, 699 * s));
    start = 1000 * s;
    CHECK(!det_window_roll(&start, 800 * s, 600, 700 * s));
    CHECK_EQ_INT(start, 800 * s);
}

/* The sketch counts exactly up to DET_SKETCH_EXACT items, whatever their
 * hashes, so a rule's threshold (5-20 distinct by default) is reached on
 * the item that makes it: 23 items whose top 9 bits are equal (one bit of
 * the old 512-bit sketch, counted as 1) count 23. */
static void t_sketch_exact(void) {
    det_sketch sk;
    det_sketch_clear(&sk);
    CHECK_EQ_INT(det_sketch_count(&sk, UINT32_MAX), 0);
    int wrong = 0;
    for (uint64_t i = 0; i < DET_SKETCH_EXACT; i++) {
        uint64_t h = (0x1a5ULL << 55) | ((i + 1) << 43) | 0xdeadbeef;
        if (!det_sketch_add(&sk, h) || det_sketch_add(&sk, h)) wrong++;
        if (det_sketch_count(&sk, UINT32_MAX) != i + 1 || !det_sketch_has(&sk, h)) wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK(!det_sketch_has(&sk, (0x1a5ULL << 55) | (40ULL << 43)));
    CHECK_EQ_INT(det_sketch_count(&sk, 20), 20); /* never above the items added */
    /* the low bits (the table index) are not the fingerprint */
    det_sketch_clear(&sk);
    CHECK(det_sketch_add(&sk, 7));
    CHECK(!det_sketch_add(&sk, 8));
    CHECK_EQ_INT(det_sketch_count(&sk, 2), 1);
}

/* Above DET_SKETCH_EXACT the estimates (a table in det_sketch_estimates.h)
 * are linear counting's formula, -511 ln(zeros / 511), at every fill level
 * from the 24th item on, never below 24 (it had that many), capped at the
 * number of items the caller added. fp(b) is a fingerprint on dense bit b. */
static void t_sketch_estimates(void) {
    det_sketch sk;
    det_sketch_clear(&sk);
    int wrong = 0, over = 0;
    for (unsigned bit = 1; bit <= 511; bit++) {
        uint64_t fp = ((uint64_t)(bit - 1) * (1u << 21) + 510) / 511;
        uint64_t h = fp << 43;
        CHECK(det_sketch_add(&sk, h));
        CHECK(!det_sketch_add(&sk, h));
        CHECK(det_sketch_has(&sk, h));
        uint32_t want;
        if (bit <= DET_SKETCH_EXACT) want = bit;
        else if (bit == 511) want = 3200;
        else {
            double zeros = 511.0 - bit;
            want = (uint32_t)(-511.0 * log(zeros / 511.0) + 0.5);
        }
        if (det_sketch_count(&sk, UINT32_MAX) != want) wrong++;
        /* never more than the items added: bit of them here */
        if (det_sketch_count(&sk, bit) > bit) over++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(over, 0);
    CHECK_EQ_INT(det_sketch_count(&sk, UINT32_MAX), 3200);
    CHECK_EQ_INT(det_sketch_count(&sk, 700), 700);
    /* dense from the 24th item: 24 items on one dense bit still count 24 */
    det_sketch_clear(&sk);
    for (uint64_t i = 0; i < DET_SKETCH_EXACT + 1; i++) det_sketch_add(&sk, i << 43); /* fp 0..23: dense bit 1 */
    CHECK_EQ_INT(det_sketch_count(&sk, UINT32_MAX), DET_SKETCH_EXACT + 1);
    CHECK(det_sketch_has(&sk, 5ULL << 43));
}

/* Two workers' sketches merged (det_sketch_merge, SIP-FLOOD-002's senders):
 * the sketch one engine given both's items fills, whatever the forms. */
static void t_sketch_merge(void) {
    static const struct { unsigned a_from, a_to, b_from, b_to; } cases[] = {
        {0, 5, 3, 9},      /* sparse + sparse, overlapping: 9 */
        {0, 15, 10, 25},   /* sparse + sparse past DET_SKETCH_EXACT: dense */
        {0, 10, 5, 200},   /* sparse + dense */
        {0, 300, 290, 310}, /* dense + sparse */
        {0, 300, 100, 900}, /* dense + dense */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        det_sketch a, b, all;
        det_sketch_clear(&a);
        det_sketch_clear(&b);
        det_sketch_clear(&all);
        for (unsigned i = cases[c].a_from; i < cases[c].a_to; i++) det_sketch_add(&a, (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
        for (unsigned i = cases[c].b_from; i < cases[c].b_to; i++) det_sketch_add(&b, (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
        unsigned lo = cases[c].a_from, hi = cases[c].b_to > cases[c].a_to ? cases[c].b_to : cases[c].a_to;
        for (unsigned i = lo; i < hi; i++) det_sketch_add(&all, (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
        det_sketch_merge(&a, &b);
        CHECK_MSG(det_sketch_count(&a, UINT32_MAX) == det_sketch_count(&all, UINT32_MAX), "case %zu: %u, want %u", c,
                  det_sketch_count(&a, UINT32_MAX), det_sketch_count(&all, UINT32_MAX));
    }
}

/* Shares of one incident opened by several workers take one event_id:
 * while they touch in time (within the quiet window of the activity told so
 * far); a share after a longer quiet is a new incident with its own id; the
 * table stays bounded (a new incident replaces the quietest of its bucket). */
#define ID_IS(v, lit) CHECK_MSG(!strcmp((v), (lit)), "got '%s', want '%s'", (v), (lit))
static void t_incident_ids(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(64, 64, 8, &e);
    CHECK(s != NULL);
    if (!s) return;
    const uint64_t q = 60 * FS_USEC, t0 = 1000 * FS_USEC;
    char a[40] = "id-a", b[40] = "id-b", c[40] = "id-c", d[40] = "id-d";
    det_shared_incident_id(s, 42, t0, q, a);
    ID_IS(a, "id-a");              /* the first share's id is the incident's */
    det_shared_incident_id(s, 42, t0 + q / 2, q, b);
    ID_IS(b, "id-a");              /* a second share within the quiet window */
    det_shared_incident_id(s, 42, t0 - q / 2, q, b);
    ID_IS(b, "id-a");              /* capture time a little behind (another worker's) */
    det_shared_incident_seen(s, 42, t0 + 3 * q);
    det_shared_incident_id(s, 42, t0 + 3 * q + q / 2, q, c);
    ID_IS(c, "id-a");              /* the first went on: still touching */
    det_shared_incident_id(s, 42, t0 + 6 * q, q, d);
    ID_IS(d, "id-d");              /* after a quiet window: a new incident */
    char x[40] = "id-x";
    det_shared_incident_id(s, 43, t0 + 6 * q, q, x);
    ID_IS(x, "id-x");              /* another key: its own */
    for (uint64_t k = 100; k < 10000; k++) { /* many incidents: bounded, no crash */
        char y[40];
        snprintf(y, sizeof y, "id-%llu", (unsigned long long)k);
        det_shared_incident_id(s, k * 0x9e3779b97f4a7c15ULL, t0 + k, q, y);
    }
    CHECK(det_shared_memory(s) < 64 * 1024 * 1024);
    det_shared_free(s);
}

/* Peer pairs (SIP-SCAN-002's "the target sent to this source"): kept one
 * to two hours of capture time in two generations, a pair never added is
 * not known (but for a rare false hit: none among a thousand here), and a
 * step back in capture time neither forgets nor empties anything. */
static void t_peers(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(64, 64, 64, &e);
    CHECK(s != NULL);
    if (!s) return;
    const uint64_t h = 3600ULL * 1000000ULL, t0 = 100 * h + 5;
    size_t mem = det_shared_memory(s);
    for (uint64_t k = 1; k <= 1000; k++) det_shared_peer_add(s, k * 0x9e3779b97f4a7c15ULL, t0);
    CHECK(det_shared_peer_has(s, 7 * 0x9e3779b97f4a7c15ULL, t0));
    int false_hits = 0;
    for (uint64_t k = 1001; k <= 2000; k++) false_hits += det_shared_peer_has(s, k * 0x9e3779b97f4a7c15ULL, t0);
    CHECK_EQ_INT(false_hits, 0);
    /* an hour on: still known, also from an earlier time again */
    CHECK(det_shared_peer_has(s, 7 * 0x9e3779b97f4a7c15ULL, t0 + h));
    det_shared_peer_add(s, 5000 * 0x9e3779b97f4a7c15ULL, t0 + h); /* opens the next generation */
    CHECK(det_shared_peer_has(s, 7 * 0x9e3779b97f4a7c15ULL, t0 + h));
    det_shared_peer_add(s, 5001 * 0x9e3779b97f4a7c15ULL, t0 - 10); /* capture time back a little */
    CHECK(det_shared_peer_has(s, 7 * 0x9e3779b97f4a7c15ULL, t0 + h));
    CHECK(det_shared_peer_has(s, 5000 * 0x9e3779b97f4a7c15ULL, t0 + h));
    /* two hours on, the first generation is emptied for the third */
    det_shared_peer_add(s, 6000 * 0x9e3779b97f4a7c15ULL, t0 + 2 * h);
    CHECK(!det_shared_peer_has(s, 7 * 0x9e3779b97f4a7c15ULL, t0 + 2 * h));
    CHECK(det_shared_peer_has(s, 5000 * 0x9e3779b97f4a7c15ULL, t0 + 2 * h));
    CHECK(det_shared_peer_has(s, 6000 * 0x9e3779b97f4a7c15ULL, t0 + 2 * h));
    /* a generation left behind is not read, emptied or not */
    CHECK(!det_shared_peer_has(s, 5000 * 0x9e3779b97f4a7c15ULL, t0 + 4 * h));
    CHECK(det_shared_memory(s) == mem);
    det_shared_free(s);
}

/* Capture time stepping back (files given out of order): an incident whose
 * activity ends more than a clock step ahead of the new time is closed, and
 * one of its key after the step is a new incident with its own id (it took
 * the old one's, its hits added to the old one's); one not that far ahead
 * is still open and keeps its id. */
static void t_incident_step_back(void) {
    fs_err e = {0};
    det_shared *s = det_shared_new(64, 64, 8, &e);
    CHECK(s != NULL);
    if (!s) return;
    const uint64_t q = 3600 * FS_USEC, t0 = 100000 * FS_USEC, back = t0 - 600 * FS_USEC;
    char a[40] = "id-a", b[40] = "id-b", c[40] = "id-c", d[40] = "id-d";
    det_shared_incident_id(s, 42, t0, q, a);
    CHECK(det_shared_incident_hits(s, 42, t0, q, 6) == 6);
    det_shared_incident_id(s, 43, back + 60 * FS_USEC, q, c);
    det_shared_step_back(s, back);
    det_shared_incident_id(s, 42, back, q, b);
    ID_IS(b, "id-b");              /* 10 minutes behind: a new incident */
    CHECK(det_shared_incident_hits(s, 42, back, q, 6) == 6);
    det_shared_incident_id(s, 43, back + 120 * FS_USEC, q, d);
    ID_IS(d, "id-c");              /* a minute ahead: still open */
    det_shared_step_back(NULL, back); /* one worker: nothing shared */
    det_shared_free(s);
}

int main(void) {
    t_incident_ids();
    t_incident_step_back();
    if (sodium_init() < 0) return 1;
    t_counts();
    t_bounded();
    t_peek_keeps();
    t_claims();
    t_threads();
    t_callers();
    t_window_roll();
    t_sketch_exact();
    t_sketch_estimates();
    t_sketch_merge();
    t_peers();
    return check_done("test_det_shared");
}
