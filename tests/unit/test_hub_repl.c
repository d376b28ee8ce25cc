/*
 * test_hub_repl.c -- hub replication through a real 3-node NATS JetStream
 * cluster (src/hub/hub_repl.c, hub_store_apply).
 *
 * Runs only when FS38_TEST_NATS_URLS names the cluster's three servers
 * ("nats://127.0.0.1:P1,nats://127.0.0.1:P2,nats://127.0.0.1:P3");
 * tests/cli/test_hub_nats.sh starts the cluster and runs it. Without it the
 * program does nothing and reports 0 passed, 0 failed with the reason.
 *
 * Three simulated hub nodes A, B, C, each with its own SQLite store under
 * FS38_TEST_REPL_DIR, each connected first to "its" NATS server (1, 2, 3).
 * Phases (argv[1]; none = all three in a row, no server killed):
 *   one    A publishes; A, B, C apply: same events under the same sequences;
 *          a re-publish is deduplicated by Msg-Id; a stale version and a
 *          foreign publisher are logged but refused by every store; applying
 *          a batch again changes nothing.
 *   two    (the script has killed NATS server 3; hub C is down) A publishes
 *          more: PubAcks still arrive (R3 quorum 2 of 3); B catches up;
 *          B runs its applier thread and A publishes one event at a time
 *          while waiting on B (publish-to-applied latency printed).
 *   three  (server 3 restarted) C comes back, catches up from its durable
 *          consumer: exactly B's rows, no gap, no duplicate.
 *   four   a message deleted from the log (an operator removing a hostile
 *          one, or limits discarding): a node caught up to before it and a
 *          new node both apply past the hole instead of spinning on it.
 *   five   the log is lost and created again empty (JetStream's store
 *          wiped): a node whose store is past the new log's end refuses to
 *          apply and never reports a new event stored that its store lacks;
 *          once the new log has grown past the store it still refuses it.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../src/exchange/xc.h"
#include "../../src/hub/hub_repl.h"
#include "../../src/hub/hub_store.h"
#include "../check.h"

#define N1 40        /* events of phase one */
#define N2 30        /* events of phase two */
#define ISSUER_A "org:234-15"
#define ISSUER_B "org:carrier-x.example"

static char g_urls[3][1024]; /* rotated lists: node k's own server first */
static char g_dir[512];
static xc_keypair g_key_a, g_key_b;

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- events -------------------------------------------------------------------- */

typedef struct ev_buf {
    char jws[8192];
    xc_event ev;
    hub_observable obs[HUB_MAX_OBS];
    fs_str aud[HUB_MAX_AUDIENCE];
    hub_item item;
} ev_buf;

/* A valid signed event: phase p, index i, version v. Red ones have an audience. */
static void make_event(ev_buf *b, const xc_keypair *kp, const char *publisher, int p, int i,
                       int v, bool revoked) {
    char json[4096];
    bool red = i % 5 == 0;
    snprintf(json, sizeof json,
             "{\"schema_version\":\"1.0\",\"event_id\":\"0193a5e1-%04x-7abc-8def-%012x\","
             "\"version\":%d,\"status\":\"%s\",\"issuer\":\"%s\","
             "\"created\":\"2026-11-25T12:00:00Z\",\"first_seen\":\"2026-11-25T11:00:00Z\","
             "\"last_seen\":\"2026-11-25T11:59:00Z\",\"valid_until\":\"2099-01-01T00:00:00Z\","
             "\"event_type\":\"SIP_SCANNER\",\"domain\":\"infrastructure\",\"severity\":\"high\","
             "\"confidence\":90,\"rule\":{\"id\":\"SIP-SCAN-001\",\"name\":\"scanner\"},"
             "\"observables\":[{\"kind\":\"ip\",\"value\":\"198.51.100.%d\",\"role\":\"source\"},"
             "{\"kind\":\"sip_user_agent\",\"value\":\"friendly-scanner '; DROP TABLE events; --\",\"role\":\"tool\"}],"
             "\"evidence\":{\"count\":%d,\"window_s\":10},"
             "\"recommended_action\":{\"action\":\"BLOCK_SOURCE\",\"scope\":\"sip_ingress\",\"ttl_s\":3600},"
             "\"handling\":{\"tlp\":\"%s\"%s}}",
             p, i, v, revoked ? "revoked" : "active", kp->issuer, i % 250 + 1, i + 1,
             red ? "red" : "amber", red ? ",\"audience\":[\"org:234-15\",\"org:208-01\"]" : "");
    fs_err e = {0};
    size_t n = xc_jws_sign(json, strlen(json), kp, b->jws, sizeof b->jws, &e);
    CHECK_MSG(n > 0, "sign: %s", e.msg);
    fs_code rc = hub_repl_item_from_jws(fs_str_make(b->jws, n), fs_str_make(publisher, strlen(publisher)),
                                        &b->ev, &b->item, b->obs, b->aud, &e);
    CHECK_MSG(rc == FS_OK, "item from jws: %s", e.msg);
}

/* A SIGHTING of event (ISSUER_A, phase p, index i) by ISSUER_B, feedback index f. */
static void make_sighting(ev_buf *b, int p, int i, int f) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"schema_version\":\"1.0\",\"event_id\":\"0193a5e2-%04x-7abc-8def-%012x\","
             "\"version\":1,\"status\":\"active\",\"issuer\":\"%s\","
             "\"created\":\"2026-11-25T13:00:00Z\",\"first_seen\":\"2026-11-25T12:50:00Z\","
             "\"last_seen\":\"2026-11-25T12:55:00Z\",\"valid_until\":\"2099-01-01T00:00:00Z\","
             "\"event_type\":\"SIGHTING\",\"domain\":\"infrastructure\",\"severity\":\"info\","
             "\"confidence\":100,\"observables\":[{\"kind\":\"ip\",\"value\":\"2001:db8::7\","
             "\"role\":\"source\"}],\"evidence\":{\"count\":3,\"window_s\":300,\"details\":"
             "{\"ref\":{\"issuer\":\"%s\",\"event_id\":\"0193a5e1-%04x-7abc-8def-%012x\"}}},"
             "\"recommended_action\":{\"action\":\"NONE\",\"scope\":\"sip_ingress\",\"ttl_s\":0},"
             "\"handling\":{\"tlp\":\"clear\"}}",
             p, f, ISSUER_B, ISSUER_A, p, i);
    fs_err e = {0};
    size_t n = xc_jws_sign(json, strlen(json), &g_key_b, b->jws, sizeof b->jws, &e);
    CHECK_MSG(n > 0, "sign: %s", e.msg);
    fs_code rc = hub_repl_item_from_jws(fs_str_make(b->jws, n), FS_STR_LIT(ISSUER_B), &b->ev,
                                        &b->item, b->obs, b->aud, &e);
    CHECK_MSG(rc == FS_OK, "sighting from jws: %s", e.msg);
}

static void free_events(ev_buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) xc_event_free(&b[i].ev);
}

/* ---- nodes ---------------------------------------------------------------------- */

typedef struct node {
    const char *name;
    hub_repl *r;
    hub_store *s;
    int new_events;   /* applier callback count */
    int64_t last_cb;  /* sequence of the last callback: must increase */
    bool order_ok;
} node;

static void on_new(void *ctx, hub_store *s, const hub_repl_applied *a) {
    node *nd = ctx;
    (void)s;
    if (a->seq <= nd->last_cb) nd->order_ok = false;
    nd->last_cb = a->seq;
    nd->new_events++;
}

static bool node_open(node *nd, const char *name, int k) {
    fs_err e = {0};
    char url[1024];
    memset(nd, 0, sizeof *nd);
    nd->name = name;
    nd->order_ok = true;
    snprintf(url, sizeof url, "sqlite:%s/%s.db", g_dir, name);
    fs_code rc = hub_store_open(url, &nd->s, &e);
    if (rc == FS_OK) rc = hub_store_migrate(nd->s, &e);
    CHECK_MSG(rc == FS_OK, "%s store: %s", name, e.msg);
    if (rc != FS_OK) return false;
    rc = hub_repl_open(g_urls[k], NULL, name, 3, &nd->r, &e);
    CHECK_MSG(rc == FS_OK, "%s open: %s", name, e.msg);
    if (rc != FS_OK) {
        hub_store_close(nd->s);
        nd->s = NULL;
    }
    return rc == FS_OK;
}

static void node_close(node *nd) {
    hub_repl_close(nd->r);
    hub_store_close(nd->s);
    nd->r = NULL;
    nd->s = NULL;
}

/* Applies until the node holds the log's last sequence (bounded: 20 s). */
static bool catch_up(node *nd) {
    fs_err e = {0};
    uint64_t last = 0;
    time_t until = time(NULL) + 20;
    while (time(NULL) < until) {
        size_t n = 0;
        if (hub_repl_apply_once(nd->r, nd->s, on_new, nd, 200, &n, &e) != FS_OK)
            fprintf(stderr, "%s: apply: %s (retrying)\n", nd->name, e.msg);
        if (hub_repl_log_last_seq(nd->r, &last, &e) == FS_OK && last > 0 &&
            hub_repl_applied_seq(nd->r) >= last)
            return true;
    }
    fprintf(stderr, "%s: applied %llu of %llu\n", nd->name,
            (unsigned long long)hub_repl_applied_seq(nd->r), (unsigned long long)last);
    return false;
}

/* ---- comparing stores ------------------------------------------------------------- */

typedef struct row_copy {
    int64_t seq, version;
    char key[600];
    unsigned char hash[32];
} row_copy;

typedef struct rows {
    row_copy *v;
    size_t n, cap;
} rows;

static int collect(void *ctx, const hub_row *r) {
    rows *rs = ctx;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 64;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
    }
    row_copy *c = &rs->v[rs->n++];
    c->seq = r->seq;
    c->version = r->version;
    snprintf(c->key, sizeof c->key, "%.*s/%.*s/%lld", (int)r->issuer.len, r->issuer.p,
             (int)r->event_id.len, r->event_id.p, (long long)r->version);
    crypto_hash_sha256(c->hash, (const unsigned char *)r->signed_jws.p, r->signed_jws.len);
    return 0;
}

/* Every row visible to org:234-15 (sees everything of this test), in order. */
static rows pull_all(hub_store *s) {
    rows rs = {0};
    hub_pull_query q = {.f = {.reader = FS_STR_LIT("org:234-15"), .now_ms = wall_ms()},
                        .after = 0, .limit = HUB_MAX_LIMIT};
    int64_t next = 0;
    fs_err e = {0};
    CHECK_MSG(hub_pull(s, &q, collect, &rs, &next, &e) == FS_OK, "pull: %s", e.msg);
    return rs;
}

static bool same_rows(const rows *a, const rows *b) {
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].seq != b->v[i].seq || strcmp(a->v[i].key, b->v[i].key) != 0 ||
            memcmp(a->v[i].hash, b->v[i].hash, 32) != 0)
            return false;
    return true;
}

static bool unique_keys(const rows *a) {
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = i + 1; j < a->n; j++)
            if (strcmp(a->v[i].key, a->v[j].key) == 0 || a->v[i].seq >= a->v[j].seq) return false;
    return true;
}

/* ---- phases ------------------------------------------------------------------------- */

/* Publishes n events through nd; checks every one is logged at increasing
 * sequences and that the node's store then says STORED for each. */
static void publish_and_check(node *nd, ev_buf *b, size_t n, uint64_t *seqs) {
    hub_item *items = calloc(n, sizeof *items);
    hub_repl_verdict *v = calloc(n, sizeof *v);
    hub_result *res = calloc(n, sizeof *res);
    for (size_t i = 0; i < n; i++) items[i] = b[i].item;
    fs_err e = {0};
    fs_code rc = hub_repl_publish_batch(nd->r, items, n, wall_ms(), seqs, v, &e);
    bool first_ok = rc == FS_OK;
    for (size_t i = 0; i < n; i++) first_ok = first_ok && v[i] == HUB_REPL_LOGGED;
    /* A client retries what was not acknowledged (a stream leader may be
     * moving after a server died): the Msg-Id makes the retry safe. */
    for (int attempt = 0; attempt < 4 && !first_ok; attempt++) {
        size_t miss = 0;
        for (size_t i = 0; i < n; i++) miss += v[i] == HUB_REPL_ERROR;
        if (miss == 0) break;
        fprintf(stderr, "%s: %zu of %zu not acknowledged (%s): retrying\n", nd->name, miss, n, e.msg);
        sleep(1);
        for (size_t i = 0; i < n; i++) {
            if (v[i] != HUB_REPL_ERROR) continue;
            uint64_t s1 = 0;
            hub_repl_verdict v1 = HUB_REPL_ERROR;
            if (hub_repl_publish_batch(nd->r, &items[i], 1, wall_ms(), &s1, &v1, &e) == FS_OK)
                seqs[i] = s1, v[i] = v1;
        }
    }
    size_t logged = 0;
    bool rising = true;
    for (size_t i = 0; i < n; i++) {
        logged += v[i] == HUB_REPL_LOGGED || v[i] == HUB_REPL_DUPLICATE;
        if (i && seqs[i] <= seqs[i - 1]) rising = false;
    }
    CHECK_EQ_INT(logged, n);
    CHECK_MSG(rising, "sequences of one batch not increasing");
    if (first_ok) CHECK_MSG(seqs[n - 1] - seqs[0] == n - 1, "one batch, not contiguous");
    CHECK(catch_up(nd));
    rc = hub_repl_await(nd->r, seqs, n, 5000, res, NULL, &e);
    CHECK_MSG(rc == FS_OK, "await: %s", e.msg);
    size_t stored = 0;
    for (size_t i = 0; i < n; i++) stored += res[i].verdict == HUB_STORED && res[i].seq == (int64_t)seqs[i];
    CHECK_EQ_INT(stored, n);
    free(items), free(v), free(res);
}

static void phase_one(void) {
    node a = {0}, b = {0}, c = {0};
    if (!node_open(&a, "node-a", 0) || !node_open(&b, "node-b", 1) || !node_open(&c, "node-c", 2)) {
        node_close(&a), node_close(&b), node_close(&c);
        return;
    }
    CHECK_EQ_INT(hub_repl_replicas(a.r), 3);
    fs_err e = {0};

    /* 40 events from two issuers (every fifth red with an audience). */
    ev_buf *ev = calloc(N1 + 4, sizeof *ev);
    for (int i = 0; i < N1; i++) {
        const xc_keypair *kp = i % 2 ? &g_key_b : &g_key_a;
        make_event(&ev[i], kp, kp->issuer, 1, i, 1, false);
    }
    uint64_t seqs[N1 + 4];
    publish_and_check(&a, ev, N1, seqs);
    uint64_t first = seqs[0];

    /* The same five again: JetStream's duplicate window answers with the
     * first copies' sequences; nothing new in the log. */
    uint64_t last_before = 0, last_after = 0;
    hub_repl_log_last_seq(a.r, &last_before, &e);
    hub_item items[5];
    uint64_t dseq[5];
    hub_repl_verdict dv[5];
    for (int i = 0; i < 5; i++) items[i] = ev[i].item;
    CHECK(hub_repl_publish_batch(a.r, items, 5, wall_ms(), dseq, dv, &e) == FS_OK);
    int dups = 0;
    for (int i = 0; i < 5; i++) dups += dv[i] == HUB_REPL_DUPLICATE && dseq[i] == seqs[i];
    CHECK_EQ_INT(dups, 5);
    hub_repl_log_last_seq(a.r, &last_after, &e);
    CHECK_EQ_INT(last_after, last_before);

    /* Logged but refused by every store, identically: version 2 (revoked)
     * of event 0, then version 1 of event 2 re-signed with other bytes
     * under a new Msg-Id... (same Msg-Id would be deduplicated), so: a
     * stale version 1 after version 2 of event 4, and an event whose
     * publisher is not its issuer. */
    make_event(&ev[N1], &g_key_a, ISSUER_A, 1, 4, 2, true);     /* v2 revokes event 4 */
    make_event(&ev[N1 + 1], &g_key_a, ISSUER_A, 1, 6, 3, false); /* v3 of event 6 */
    make_event(&ev[N1 + 2], &g_key_a, ISSUER_A, 1, 6, 2, false); /* v2 after v3: stale */
    make_event(&ev[N1 + 3], &g_key_a, ISSUER_B, 1, 8, 2, false); /* publisher != issuer */
    for (int i = 0; i < 4; i++) items[i] = ev[N1 + i].item;
    hub_result res[4];
    CHECK(hub_repl_publish_batch(a.r, items, 4, wall_ms(), dseq, dv, &e) == FS_OK);
    int logged = 0;
    for (int i = 0; i < 4; i++) logged += dv[i] == HUB_REPL_LOGGED;
    CHECK_EQ_INT(logged, 4);
    CHECK(catch_up(&a));
    CHECK_MSG(hub_repl_await(a.r, dseq, 4, 5000, res, NULL, &e) == FS_OK, "await: %s", e.msg);
    CHECK_EQ_INT(res[0].verdict, HUB_STORED);
    CHECK_EQ_INT(res[1].verdict, HUB_STORED);
    CHECK_EQ_INT(res[2].verdict, HUB_STALE_VERSION);
    CHECK_EQ_INT(res[2].held_version, 3);
    CHECK_EQ_INT(res[3].verdict, HUB_NOT_ISSUER);

    /* B and C: same rows, same sequences, same bytes. */
    CHECK(catch_up(&b));
    CHECK(catch_up(&c));
    rows ra = pull_all(a.s), rb = pull_all(b.s), rc_ = pull_all(c.s);
    CHECK_EQ_INT(ra.n, N1 + 2);
    CHECK_MSG(same_rows(&ra, &rb), "node B differs from A (%zu vs %zu rows)", rb.n, ra.n);
    CHECK_MSG(same_rows(&ra, &rc_), "node C differs from A (%zu vs %zu rows)", rc_.n, ra.n);
    CHECK(unique_keys(&rb));
    CHECK_EQ_INT(ra.n ? ra.v[0].seq : 0, (int64_t)first);
    CHECK_EQ_INT(b.new_events, N1 + 2);
    CHECK(b.order_ok && c.order_ok);
    int64_t lb = 0, lc = 0;
    hub_store_last_seq(b.s, &lb, &e);
    hub_store_last_seq(c.s, &lc, &e);
    CHECK_EQ_INT(lb, (int64_t)dseq[1]); /* the last STORED one */
    CHECK_EQ_INT(lc, lb);

    /* The revocation took event 4 out of B's active set. */
    int active = 0;
    hub_filter f = {.reader = FS_STR_LIT("org:234-15"), .now_ms = wall_ms()};
    rows snap = {0};
    CHECK(hub_snapshot(b.s, &f, collect, &snap, NULL, &e) == FS_OK);
    for (size_t i = 0; i < snap.n; i++) active += strstr(snap.v[i].key, "-000000000004/") != NULL;
    CHECK_EQ_INT(active, 0);
    CHECK_EQ_INT(snap.n, N1 - 1);
    free(snap.v);

    /* Applying a logged batch again (a re-delivery) changes nothing. */
    hub_item again[3] = {ev[0].item, ev[1].item, ev[2].item};
    int64_t aseq[3] = {(int64_t)seqs[0], (int64_t)seqs[1], (int64_t)seqs[2]};
    int64_t recv[3] = {1, 1, 1};
    hub_result ares[3];
    CHECK_MSG(hub_store_apply(b.s, again, aseq, recv, 3, NULL, ares, &e) == FS_OK, "re-apply: %s", e.msg);
    int redup = 0;
    for (int i = 0; i < 3; i++) redup += ares[i].verdict == HUB_DUPLICATE && ares[i].seq == aseq[i];
    CHECK_EQ_INT(redup, 3);
    rows rb2 = pull_all(b.s);
    CHECK(same_rows(&rb, &rb2));
    /* Sequences must rise within an applied batch. */
    int64_t bad[2] = {aseq[1], aseq[0]};
    CHECK(hub_store_apply(b.s, again, bad, recv, 2, NULL, ares, &e) == FS_ERR_USAGE);

    free(ra.v), free(rb.v), free(rc_.v), free(rb2.v);
    free_events(ev, N1 + 4);
    free(ev);
    node_close(&a), node_close(&b), node_close(&c);
}

/* B's applier in its own thread, as a hub server runs it; A publishes one
 * event at a time and waits on B's hub_repl_await: the publish-to-applied
 * latency on another node (what an SSE follower of B would see). */
typedef struct applier_arg {
    node *nd;
    atomic_int stop;
    fs_code rc;
    fs_err e;
} applier_arg;

static void *applier_main(void *p) {
    applier_arg *a = p;
    a->rc = hub_repl_run_applier(a->nd->r, a->nd->s, on_new, a->nd, &a->stop, &a->e);
    return NULL;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void live_follow(node *a, node *b) {
    enum { K = 20 };
    applier_arg arg = {.nd = b};
    atomic_init(&arg.stop, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, applier_main, &arg) == 0);
    ev_buf *ev = calloc(K, sizeof *ev);
    int64_t lat[K];
    int stored = 0;
    for (int i = 0; i < K; i++) {
        make_event(&ev[i], &g_key_b, ISSUER_B, 3, i, 1, false);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t seq = 0;
        hub_repl_verdict v = HUB_REPL_ERROR;
        hub_result res;
        fs_err e = {0};
        if (hub_repl_publish_batch(a->r, &ev[i].item, 1, wall_ms(), &seq, &v, &e) == FS_OK &&
            v == HUB_REPL_LOGGED && hub_repl_await(b->r, &seq, 1, 5000, &res, NULL, &e) == FS_OK)
            stored += res.verdict == HUB_STORED && res.seq == (int64_t)seq;
        else
            fprintf(stderr, "live follow %d: %s\n", i, e.msg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        lat[i] = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
    }
    atomic_store(&arg.stop, 1);
    pthread_join(th, NULL);
    CHECK_MSG(arg.rc == FS_OK, "applier thread: %s", arg.e.msg);
    CHECK_EQ_INT(stored, K);
    qsort(lat, K, sizeof lat[0], cmp_i64);
    printf("publish on A -> applied on B: median %lld us, max %lld us (%d events)\n",
           (long long)lat[K / 2], (long long)lat[K - 1], K);
    free_events(ev, K);
    free(ev);
}

/* NATS server 3 is down (the script killed it) and hub C with it. */
static void phase_two(bool server_killed) {
    node a = {0}, b = {0};
    if (!node_open(&a, "node-a", 0) || !node_open(&b, "node-b", 1)) {
        node_close(&a), node_close(&b);
        return;
    }
    ev_buf *ev = calloc(N2, sizeof *ev);
    for (int i = 0; i < N2; i++) make_event(&ev[i], &g_key_a, ISSUER_A, 2, i, 1, false);
    uint64_t seqs[N2];
    publish_and_check(&a, ev, N2, seqs); /* PubAcks with 2 of 3 servers: R3 quorum */
    CHECK(catch_up(&b));
    live_follow(&a, &b);
    CHECK(catch_up(&a));
    rows ra = pull_all(a.s), rb = pull_all(b.s);
    CHECK_EQ_INT(rb.n, N1 + 2 + N2 + 20);
    CHECK(same_rows(&ra, &rb));
    if (server_killed) {
        /* The killed server really is gone: a client bound to it alone fails. */
        hub_repl *lone = NULL;
        fs_err e = {0};
        char only[1024];
        snprintf(only, sizeof only, "%s", g_urls[2]);
        char *comma = strchr(only, ',');
        if (comma) *comma = '\0';
        CHECK(hub_repl_open(only, NULL, "node-x", 3, &lone, &e) != FS_OK);
        hub_repl_close(lone);
    }
    free(ra.v), free(rb.v);
    free_events(ev, N2);
    free(ev);
    node_close(&a), node_close(&b);
}

/* Server 3 is back; hub C restarts and catches up from its consumer. */
static void phase_three(void) {
    node b = {0}, c = {0};
    if (!node_open(&b, "node-b", 1) || !node_open(&c, "node-c", 2)) {
        node_close(&b), node_close(&c);
        return;
    }
    fs_err e = {0};
    int64_t before = 0;
    hub_store_last_seq(c.s, &before, &e);
    CHECK(catch_up(&c));
    rows rb = pull_all(b.s), rc_ = pull_all(c.s);
    CHECK_EQ_INT(rc_.n, N1 + 2 + N2 + 20);
    CHECK_MSG(same_rows(&rb, &rc_), "C after catch-up differs from B (%zu vs %zu rows)", rc_.n, rb.n);
    CHECK(unique_keys(&rc_));
    CHECK_EQ_INT(c.new_events, N2 + 20); /* only what it missed, once each */
    CHECK(c.order_ok);
    int64_t after = 0;
    uint64_t log_last = 0;
    hub_store_last_seq(c.s, &after, &e);
    hub_repl_log_last_seq(c.r, &log_last, &e);
    CHECK(after > before);
    CHECK_EQ_INT(after, (int64_t)log_last);
    free(rb.v), free(rc_.v);
    node_close(&b), node_close(&c);
}

/* A JetStream context on the first server of g_urls, as an operator's
 * tool (`nats stream ...`) opens one. */
static natsStatus admin_open(natsConnection **nc, jsCtx **js) {
    char url[1024];
    snprintf(url, sizeof url, "%s", g_urls[0]);
    char *comma = strchr(url, ',');
    if (comma) *comma = '\0';
    natsStatus s = natsConnection_ConnectTo(nc, url);
    if (s == NATS_OK) s = natsConnection_JetStream(js, *nc, NULL);
    return s;
}

/* Deletes stream sequence seq from the log, as an operator would
 * (`nats stream rmm`): the stream then has a hole there. */
static bool delete_logged(uint64_t seq) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;
    natsStatus s = admin_open(&nc, &js);
    if (s == NATS_OK) s = js_DeleteMsg(js, HUB_REPL_DEFAULT_STREAM, seq, NULL, &jerr);
    if (s != NATS_OK) fprintf(stderr, "delete seq %llu: %s (%d)\n", (unsigned long long)seq,
                              natsStatus_GetText(s), (int)jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK;
}

/* Sets the log's MaxMsgs to what it holds now (full) or back to no limit,
 * as an operator would. */
static bool limit_stream(bool full) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL, *si2 = NULL;
    jsErrCode jerr = 0;
    natsStatus s = admin_open(&nc, &js);
    if (s == NATS_OK) s = js_GetStreamInfo(&si, js, HUB_REPL_DEFAULT_STREAM, NULL, &jerr);
    if (s == NATS_OK) {
        si->Config->MaxMsgs = full ? (int64_t)si->State.Msgs : -1;
        s = js_UpdateStream(&si2, js, si->Config, NULL, &jerr);
    }
    if (s != NATS_OK) fprintf(stderr, "limit stream: %s (%d)\n", natsStatus_GetText(s), (int)jerr);
    jsStreamInfo_Destroy(si);
    jsStreamInfo_Destroy(si2);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK;
}

static int count_sighting(void *ctx, const hub_sight_row *row) {
    (void)row;
    ++*(int *)ctx;
    return 0;
}

/* Sightings of every event visible to org:234-15 (the referenced events' issuer). */
static int sightings_held(hub_store *s) {
    hub_sight_query q = {.reader = FS_STR_LIT(ISSUER_A), .limit = HUB_MAX_LIMIT};
    int n = 0;
    int64_t next = 0;
    fs_err e = {0};
    CHECK_MSG(hub_sightings_pull(s, &q, count_sighting, &n, &next, &e) == FS_OK, "sightings: %s", e.msg);
    return n;
}

static void phase_four(void) {
    node a = {0}, d = {0};
    if (!node_open(&a, "node-a", 0) || !node_open(&d, "node-d", 1)) {
        node_close(&a), node_close(&d);
        return;
    }
    CHECK(catch_up(&a)); /* A is at the log's end before the hole appears */
    ev_buf *ev = calloc(3, sizeof *ev);
    for (int i = 0; i < 3; i++) make_event(&ev[i], &g_key_a, ISSUER_A, 4, i, 1, false);
    hub_item items[3];
    uint64_t seqs[3];
    hub_repl_verdict v[3];
    fs_err e = {0};
    for (int i = 0; i < 3; i++) items[i] = ev[i].item;
    CHECK(hub_repl_publish_batch(a.r, items, 3, wall_ms(), seqs, v, &e) == FS_OK);
    CHECK(v[0] == HUB_REPL_LOGGED && v[1] == HUB_REPL_LOGGED && v[2] == HUB_REPL_LOGGED);
    CHECK(delete_logged(seqs[1]));
    /* A (caught up before the hole) and D (new, empty store) both apply
     * every message that is still in the log, past the hole. */
    CHECK(catch_up(&a));
    /* A publisher waiting for the removed one (logged, PubAck seen) is not
     * told it was stored: no node holds it. */
    hub_result gone;
    bool forgot = true;
    CHECK(hub_repl_await(a.r, &seqs[1], 1, 1000, &gone, &forgot, &e) == FS_OK);
    CHECK_MSG(gone.verdict == HUB_INVALID && !forgot,
              "await of a message removed before it was applied: verdict %d seq %lld forgotten %d",
              (int)gone.verdict, (long long)gone.seq, (int)forgot);
    CHECK(catch_up(&d));
    rows ra = pull_all(a.s), rd = pull_all(d.s);
    CHECK_EQ_INT(rd.n, N1 + 2 + N2 + 20 + 2);
    CHECK(same_rows(&ra, &rd));
    int64_t last = 0;
    hub_store_last_seq(d.s, &last, &e);
    CHECK_EQ_INT(last, (int64_t)seqs[2]);
    free(ra.v), free(rd.v);

    /* A sighting logged before the event it refers to: every node judges
     * it against what the log held before it, whatever its batches. A
     * applies the two one by one (as a live node does), D in one batch (as
     * a node catching up does); both must hold the same sightings. */
    int sa = sightings_held(a.s), sd = sightings_held(d.s);
    CHECK_EQ_INT(sa, sd);
    ev_buf *fb = calloc(2, sizeof *fb);
    make_sighting(&fb[0], 4, 21, 0);
    make_event(&fb[1], &g_key_a, ISSUER_A, 4, 21, 1, false);
    for (int i = 0; i < 2; i++) {
        CHECK(hub_repl_publish_batch(a.r, &fb[i].item, 1, wall_ms(), seqs, v, &e) == FS_OK);
        CHECK(v[0] == HUB_REPL_LOGGED);
        CHECK(catch_up(&a));
    }
    CHECK(catch_up(&d));
    CHECK_MSG(sightings_held(a.s) - sa == sightings_held(d.s) - sd,
              "sightings recorded: node-a %d, node-d %d (the same log)",
              sightings_held(a.s) - sa, sightings_held(d.s) - sd);
    ra = pull_all(a.s), rd = pull_all(d.s);
    CHECK(same_rows(&ra, &rd));
    free(ra.v), free(rd.v);
    free_events(fb, 2);
    free(fb);

    /* D's store fails every write (a table gone): its applier retries, and
     * a publisher waiting on D is told why, not only that it waited. */
    char path[600], *err = NULL;
    snprintf(path, sizeof path, "%s/node-d.db", g_dir);
    sqlite3 *raw = NULL;
    CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
    CHECK_MSG(sqlite3_exec(raw, "ALTER TABLE event_observables RENAME TO broken_observables", NULL, NULL,
                           &err) == SQLITE_OK, "rename: %s", err ? err : "");
    sqlite3_free(err), err = NULL;
    applier_arg arg = {.nd = &d};
    atomic_init(&arg.stop, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, applier_main, &arg) == 0);
    xc_event_free(&ev[0].ev);
    make_event(&ev[0], &g_key_a, ISSUER_A, 4, 22, 1, false);
    uint64_t one = 0;
    hub_repl_verdict v1 = HUB_REPL_ERROR;
    CHECK(hub_repl_publish_batch(a.r, &ev[0].item, 1, wall_ms(), &one, &v1, &e) == FS_OK);
    CHECK(v1 == HUB_REPL_LOGGED);
    hub_result res1;
    memset(&e, 0, sizeof e);
    CHECK(hub_repl_await(d.r, &one, 1, 1500, &res1, NULL, &e) == FS_ERR_IO);
    CHECK_MSG(strstr(e.msg, "event_observables") != NULL, "await on a failing store: '%s'", e.msg);
    CHECK(sqlite3_exec(raw, "ALTER TABLE broken_observables RENAME TO event_observables", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(raw);
    memset(&e, 0, sizeof e);
    CHECK_MSG(hub_repl_await(d.r, &one, 1, 5000, &res1, NULL, &e) == FS_OK, "await: %s", e.msg);
    CHECK(res1.verdict == HUB_STORED && res1.seq == (int64_t)one);
    atomic_store(&arg.stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ_INT(arg.rc, FS_OK);

    /* The log at its limit (MaxMsgs, discard new): the item is not logged,
     * and the error says why (JetStream's answer), not just "no PubAck". */
    CHECK(limit_stream(true));
    xc_event_free(&ev[0].ev);
    make_event(&ev[0], &g_key_a, ISSUER_A, 4, 9, 1, false);
    memset(&e, 0, sizeof e);
    CHECK(hub_repl_publish_batch(a.r, &ev[0].item, 1, wall_ms(), seqs, v, &e) == FS_OK);
    CHECK_EQ_INT(v[0], HUB_REPL_ERROR);
    CHECK_MSG(strstr(e.msg, "maximum messages") != NULL, "publish error: '%s'", e.msg);
    CHECK(limit_stream(false));
    free_events(ev, 3);
    free(ev);
    node_close(&a), node_close(&d);
}

static bool delete_stream(void) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;
    natsStatus s = admin_open(&nc, &js);
    if (s == NATS_OK) s = js_DeleteStream(js, HUB_REPL_DEFAULT_STREAM, NULL, &jerr);
    if (s != NATS_OK) fprintf(stderr, "delete stream: %s (%d)\n", natsStatus_GetText(s), (int)jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK;
}

static void phase_five(void) {
    node a = {0};
    if (!node_open(&a, "node-a", 0)) return;
    CHECK(catch_up(&a));
    fs_err e = {0};
    int64_t held = 0;
    hub_store_last_seq(a.s, &held, &e);
    CHECK(held > 3);
    node_close(&a);
    CHECK(delete_stream());
    if (!node_open(&a, "node-a", 0)) return; /* creates the stream again: empty */
    ev_buf ev[1];
    make_event(&ev[0], &g_key_a, ISSUER_A, 5, 0, 1, false);
    uint64_t seq = 0;
    hub_repl_verdict v = HUB_REPL_ERROR;
    CHECK(hub_repl_publish_batch(a.r, &ev[0].item, 1, wall_ms(), &seq, &v, &e) == FS_OK);
    CHECK(v == HUB_REPL_LOGGED && seq >= 1 && (int64_t)seq < held);
    size_t n = 0;
    fs_code rc = hub_repl_apply_once(a.r, a.s, on_new, &a, 200, &n, &e);
    CHECK_MSG(rc == FS_ERR_CONFIG, "apply on a store past the log: %d (%s)", (int)rc, e.msg);
    hub_result res;
    bool forgotten = false;
    rc = hub_repl_await(a.r, &seq, 1, 500, &res, &forgotten, &e);
    CHECK_MSG(rc != FS_OK, "await: verdict %d seq %lld for an event the store does not hold",
              (int)res.verdict, (long long)res.seq);
    int64_t after = 0;
    hub_store_last_seq(a.s, &after, &e);
    CHECK_EQ_INT(after, held);
    free_events(ev, 1);

    /* The new log grows past the store (other nodes, on empty stores,
     * publish): A, restarted, still refuses it instead of resuming at its
     * old last seq + 1 with a mix of two logs. */
    ev_buf *more = calloc((size_t)held + 4, sizeof *more);
    size_t logged = 0;
    for (int64_t i = 0; i < held + 4; i++) {
        make_event(&more[i], &g_key_a, ISSUER_A, 5, (int)i + 1, 1, false);
        uint64_t s1 = 0;
        hub_repl_verdict v1 = HUB_REPL_ERROR;
        if (hub_repl_publish_batch(a.r, &more[i].item, 1, wall_ms(), &s1, &v1, &e) == FS_OK)
            logged += v1 == HUB_REPL_LOGGED;
    }
    CHECK_EQ_INT(logged, (size_t)held + 4);
    node_close(&a);
    if (node_open(&a, "node-a", 0)) {
        rc = hub_repl_apply_once(a.r, a.s, on_new, &a, 200, &n, &e);
        CHECK_MSG(rc == FS_ERR_CONFIG, "apply a log grown past the store: %d (%s)", (int)rc, e.msg);
        CHECK_MSG(strstr(e.msg, "was reset") != NULL, "error: %s", e.msg);
        hub_store_last_seq(a.s, &after, &e);
        CHECK_EQ_INT(after, held);
        node_close(&a);
    }
    free_events(more, (size_t)held + 4);
    free(more);
}

/* ---- setup ---------------------------------------------------------------------------- */

static bool split_urls(const char *env) {
    char copy[2048], *u[3];
    snprintf(copy, sizeof copy, "%s", env);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 3; t = strtok_r(NULL, ",", &save))
        u[n++] = t;
    if (n != 3) return false;
    for (int k = 0; k < 3; k++)
        snprintf(g_urls[k], sizeof g_urls[k], "%s,%s,%s", u[k], u[(k + 1) % 3], u[(k + 2) % 3]);
    return true;
}

/* Fresh keys per process: appliers do not verify signatures (the publishing
 * node did), so phases need not share them. */
static void keys(void) {
    fs_err e = {0};
    CHECK(xc_keypair_generate(ISSUER_A, &g_key_a, &e) == FS_OK);
    CHECK(xc_keypair_generate(ISSUER_B, &g_key_b, &e) == FS_OK);
}

static void unit_checks(void) {
    char buf[128];
    fs_err e = {0};
    CHECK(hub_repl_subject(FS_STR_LIT("org:carrier-x.example"), buf, sizeof buf, &e) == FS_OK);
    CHECK_EQ_STR(fs_str_make(buf, strlen(buf)), "fs38.events.org:carrier-x_example");
    CHECK(hub_repl_subject(FS_STR_LIT("a b*>"), buf, sizeof buf, &e) == FS_OK);
    CHECK_EQ_STR(fs_str_make(buf, strlen(buf)), "fs38.events.a_b__");
    hub_repl *r = NULL;
    CHECK(hub_repl_open("nats://127.0.0.1:4222", NULL, "bad node", 3, &r, &e) == FS_ERR_CONFIG);
    CHECK(hub_repl_open("http://127.0.0.1:4222", NULL, "n1", 3, &r, &e) == FS_ERR_CONFIG);
    CHECK(hub_repl_open("nats://127.0.0.1:4222", "S.1", "n1", 3, &r, &e) == FS_ERR_CONFIG);
    CHECK(hub_repl_open("nats://127.0.0.1:4222", NULL, "n1", 9, &r, &e) == FS_ERR_CONFIG);
    CHECK(r == NULL);
}

int main(int argc, char **argv) {
    const char *env = getenv("FS38_TEST_NATS_URLS");
    if (!env || !*env) {
        printf("test_hub_repl: not run: FS38_TEST_NATS_URLS is not set "
               "(tests/cli/test_hub_nats.sh starts a 3-node JetStream cluster and runs it)\n");
        return check_done("test_hub_repl");
    }
    if (sodium_init() < 0) return 2;
    if (!split_urls(env)) {
        fprintf(stderr, "FS38_TEST_NATS_URLS: want three comma-separated nats:// URLs\n");
        return 2;
    }
    const char *dir = getenv("FS38_TEST_REPL_DIR");
    if (dir && *dir) {
        snprintf(g_dir, sizeof g_dir, "%s", dir);
    } else {
        snprintf(g_dir, sizeof g_dir, "/tmp/fs38_repl_XXXXXX");
        if (!mkdtemp(g_dir)) return 2;
    }
    keys();
    const char *phase = argc > 1 ? argv[1] : "all";
    if (strcmp(phase, "one") == 0) {
        unit_checks();
        phase_one();
    } else if (strcmp(phase, "two") == 0) {
        phase_two(true);
    } else if (strcmp(phase, "three") == 0) {
        phase_three();
    } else if (strcmp(phase, "four") == 0) {
        phase_four();
    } else if (strcmp(phase, "five") == 0) {
        phase_five();
    } else if (strcmp(phase, "all") == 0) {
        unit_checks();
        phase_one();
        phase_two(false);
        phase_three();
        phase_four();
        phase_five();
    } else {
        fprintf(stderr, "usage: test_hub_repl [one|two|three|four|five|all]\n");
        return 2;
    }
    return check_done("test_hub_repl");
}
