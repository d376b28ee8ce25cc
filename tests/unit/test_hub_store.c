/*
 * test_hub_store.c -- the hub store suite, run against SQLite always and
 * against PostgreSQL too when FS38_TEST_PG_URL is set
 * (tests/cli/test_hub_store_pg.sh starts a real server and sets it).
 *
 * Every test works in its own namespace (issuer ids carry a per-run tag,
 * reads start from the sequence held before the test), so the suite also
 * runs against a database that already holds data.
 *
 * Extra modes for the PostgreSQL server-crash test (the shell script):
 *   test_hub_store burst URL     publish batches until an error, printing
 *                                "seq event_id" for every acknowledged item
 *   test_hub_store verify URL F  every line of F present exactly once,
 *                                bytes identical; prints the result line
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "../check.h"
#include "core/fs_core.h"
#include "hub/hub_store.h"

#define DAY_MS 86400000LL

static int64_t T0;          /* wall clock at start: "now" of every read */
static char TAG[48];        /* per-run namespace */
static const char *BACKEND; /* label for messages */

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static fs_str S(const char *s) { return fs_str_make(s, strlen(s)); }

/* An org id in this run's namespace: org(buf, "a") -> "org:a-<tag>". */
static const char *org(char *buf, size_t n, const char *who) {
    snprintf(buf, n, "org:%s-%s", who, TAG);
    return buf;
}

/* ---- building items ------------------------------------------------------ */

typedef struct ev {
    hub_item it;
    hub_observable obs[3];
    fs_str aud[3];
    char eid[128];
    char sig[512];
} ev;

static const char *make_sig(char *buf, size_t n, const char *eid, int64_t ver) {
    /* Deterministic JWS-shaped bytes, so a verifier can rebuild them. */
    snprintf(buf, n, "eyJhbGciOiJFZERTQSIsImtpZCI6Ik1ZS0VZIn0.%s~v%lld.c2lnbmF0dXJl-_%lld", eid,
             (long long)ver, (long long)(ver * 7919));
    return buf;
}

static void ev_init(ev *v, const char *issuer, const char *eid, int64_t ver, const char *type,
                    const char *tlp) {
    memset(v, 0, sizeof *v);
    snprintf(v->eid, sizeof v->eid, "%s", eid);
    make_sig(v->sig, sizeof v->sig, eid, ver);
    v->obs[0] = (hub_observable){S("ip"), S("198.51.100.7"), S("source")};
    v->it = (hub_item){
        .issuer = S(issuer),
        .event_id = S(v->eid),
        .version = ver,
        .status = HUB_ACTIVE,
        .event_type = S(type),
        .created_ms = T0 - 1000,
        .valid_until_ms = T0 + DAY_MS,
        .tlp = S(tlp),
        .obs = v->obs,
        .n_obs = 1,
        .signed_jws = S(v->sig),
        .publisher = S(issuer),
    };
}

static fs_code publish1(hub_store *s, const hub_item *it, hub_result *r) {
    fs_err e = {0};
    fs_code rc = hub_publish(s, it, 1, T0, r, &e);
    if (rc != FS_OK) fprintf(stderr, "[%s] publish: %s\n", BACKEND, e.msg);
    return rc;
}

/* ---- collecting rows --------------------------------------------------- */

typedef struct got_row {
    int64_t seq, version, created_ms, valid_until_ms;
    int status;
    char *issuer, *event_id, *type, *tlp, *sig;
    size_t sig_len;
} got_row;

typedef struct got {
    got_row *rows;
    size_t n, cap;
    size_t stop_after; /* 0 = never */
} got;

static char *dup_str(fs_str s) {
    char *p = malloc(s.len + 1);
    if (s.len) memcpy(p, s.p, s.len);
    p[s.len] = '\0';
    return p;
}

static int collect(void *ctx, const hub_row *r) {
    got *g = ctx;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->rows = realloc(g->rows, g->cap * sizeof *g->rows);
    }
    got_row *o = &g->rows[g->n++];
    o->seq = r->seq;
    o->version = r->version;
    o->status = (int)r->status;
    o->created_ms = r->created_ms;
    o->valid_until_ms = r->valid_until_ms;
    o->issuer = dup_str(r->issuer);
    o->event_id = dup_str(r->event_id);
    o->type = dup_str(r->event_type);
    o->tlp = dup_str(r->tlp);
    o->sig = dup_str(r->signed_jws);
    o->sig_len = r->signed_jws.len;
    return g->stop_after && g->n >= g->stop_after;
}

static void got_free(got *g) {
    for (size_t i = 0; i < g->n; i++) {
        got_row *o = &g->rows[i];
        free(o->issuer), free(o->event_id), free(o->type), free(o->tlp), free(o->sig);
    }
    free(g->rows);
    memset(g, 0, sizeof *g);
}

static const got_row *find(const got *g, const char *event_id, int64_t version) {
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->rows[i].event_id, event_id) && (version == 0 || g->rows[i].version == version))
            return &g->rows[i];
    return NULL;
}

static int64_t last_seq(hub_store *s) {
    int64_t seq = -1;
    fs_err e = {0};
    if (hub_store_last_seq(s, &seq, &e) != FS_OK) fprintf(stderr, "[%s] last_seq: %s\n", BACKEND, e.msg);
    return seq;
}

/* Pulls everything after `after` matching q (paging with q.limit). */
static fs_code pull_all(hub_store *s, hub_pull_query q, got *g) {
    fs_err e = {0};
    for (int page = 0; page < 100000; page++) {
        int64_t next = -1;
        size_t before = g->n;
        fs_code rc = hub_pull(s, &q, collect, g, &next, &e);
        if (rc != FS_OK) {
            fprintf(stderr, "[%s] pull: %s\n", BACKEND, e.msg);
            return rc;
        }
        /* a full page ends on its last row; a short one read to the end */
        if (g->n == before) return next >= q.after ? FS_OK : FS_ERR_INTERNAL;
        if (g->n - before == (size_t)q.limit ? next != g->rows[g->n - 1].seq
                                             : next < g->rows[g->n - 1].seq)
            return FS_ERR_INTERNAL;
        q.after = next;
    }
    return FS_ERR_INTERNAL;
}

static hub_pull_query query(const char *reader, int64_t after) {
    hub_pull_query q = {.f = {.reader = S(reader), .now_ms = T0}, .after = after, .limit = 1000};
    return q;
}

/* ---- tests ---------------------------------------------------------------- */

static void t_migrate(const char *url) {
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK(hub_store_open(url, &s, &e) == FS_OK);
    if (!s) return;
    int v = -1, applied = -1;
    CHECK(hub_store_schema_version(s, &v, &applied, &e) == FS_OK);
    if (v == 0) {
        /* A fresh database: step to 1, check ops refuse, then to the end. */
        CHECK(applied == 0);
        CHECK(hub_store_migrate_to(s, 1, &e) == FS_OK);
        CHECK(hub_store_schema_version(s, &v, &applied, &e) == FS_OK);
        CHECK_EQ_INT(v, 1);
        CHECK_EQ_INT(applied, 1);
        int64_t seq;
        CHECK(hub_store_last_seq(s, &seq, &e) == FS_ERR_CONFIG);
        CHECK_MSG(strstr(e.msg, "migration") != NULL, "%s", e.msg);
        CHECK(hub_store_health(s, &e) != FS_OK);
    }
    CHECK_MSG(hub_store_migrate(s, &e) == FS_OK, "%s", e.msg);
    CHECK_MSG(hub_store_migrate(s, &e) == FS_OK, "second migrate: %s", e.msg);
    CHECK(hub_store_schema_version(s, &v, &applied, &e) == FS_OK);
    CHECK_EQ_INT(v, HUB_SCHEMA_VERSION);
    CHECK_EQ_INT(applied, HUB_SCHEMA_VERSION);
    CHECK_MSG(hub_store_health(s, &e) == FS_OK, "%s", e.msg);
    CHECK(hub_store_migrate_to(s, HUB_SCHEMA_VERSION + 1, &e) == FS_ERR_USAGE);
    hub_store_close(s);

    /* A second handle migrating again changes nothing. */
    CHECK(hub_store_open(url, &s, &e) == FS_OK);
    if (!s) return;
    CHECK(hub_store_migrate(s, &e) == FS_OK);
    CHECK(hub_store_schema_version(s, &v, &applied, &e) == FS_OK);
    CHECK_EQ_INT(applied, HUB_SCHEMA_VERSION);
    hub_store_close(s);
}

static void t_roundtrip(hub_store *s) {
    char a[64];
    org(a, sizeof a, "rt");
    int64_t start = last_seq(s);
    ev v[3];
    ev_init(&v[0], a, "rt-1", 1, "SIP_SCANNER", "amber");
    ev_init(&v[1], a, "rt-2", 1, "IRSF", "green");
    ev_init(&v[2], a, "rt-3", 1, "WANGIRI", "clear");
    /* Opaque signed bytes: NUL, 0xff, CR LF -- stored byte for byte. */
    static const char bin[] = "eyJ\0\xff\x01\r\n.\"'; --\\%.sig";
    v[2].it.signed_jws = fs_str_make(bin, sizeof bin - 1);
    hub_item items[3] = {v[0].it, v[1].it, v[2].it};
    hub_result r[3];
    fs_err e = {0};
    CHECK_MSG(hub_publish(s, items, 3, T0, r, &e) == FS_OK, "%s", e.msg);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(r[i].verdict == HUB_STORED, "item %d: %s %s", i, hub_verdict_name(r[i].verdict), r[i].error);
        CHECK(r[i].seq > start);
        if (i) CHECK(r[i].seq > r[i - 1].seq);
    }
    CHECK_EQ_INT(last_seq(s), r[2].seq);

    got g = {0};
    CHECK(pull_all(s, query(a, start), &g) == FS_OK);
    CHECK_EQ_INT(g.n, 3);
    for (size_t i = 0; i < g.n && i < 3; i++) {
        const got_row *o = &g.rows[i];
        CHECK_EQ_INT(o->seq, r[i].seq);
        CHECK(!strcmp(o->issuer, a));
        CHECK(!strcmp(o->event_id, v[i].eid));
        CHECK_EQ_INT(o->version, 1);
        CHECK_EQ_INT(o->status, HUB_ACTIVE);
        CHECK(!strcmp(o->type, (const char *)items[i].event_type.p));
        CHECK(!strcmp(o->tlp, i == 0 ? "amber" : i == 1 ? "green" : "clear"));
        CHECK_EQ_INT(o->created_ms, T0 - 1000);
        CHECK_EQ_INT(o->valid_until_ms, T0 + DAY_MS);
        CHECK_EQ_INT(o->sig_len, items[i].signed_jws.len);
        CHECK(o->sig_len == items[i].signed_jws.len &&
              memcmp(o->sig, items[i].signed_jws.p, o->sig_len) == 0);
    }
    got_free(&g);
    /* An empty batch is fine and stores nothing. */
    CHECK(hub_publish(s, items, 0, T0, r, &e) == FS_OK);
    CHECK_EQ_INT(last_seq(s), r[2].seq);
}

static void t_cursor(hub_store *s) {
    char a[64];
    org(a, sizeof a, "cur");
    int64_t start = last_seq(s);
    enum { BATCHES = 5, PER = 50 };
    ev *v = malloc(sizeof(ev) * PER);
    hub_item items[PER];
    hub_result r[PER];
    int64_t prev = start;
    bool increasing = true;
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER; i++) {
            char id[32];
            snprintf(id, sizeof id, "cur-%03d", b * PER + i);
            ev_init(&v[i], a, id, 1, "SIP_FLOOD", "amber");
            items[i] = v[i].it;
        }
        fs_err e = {0};
        CHECK_MSG(hub_publish(s, items, PER, T0, r, &e) == FS_OK, "%s", e.msg);
        for (int i = 0; i < PER; i++) {
            if (r[i].verdict != HUB_STORED || r[i].seq <= prev) increasing = false;
            prev = r[i].seq;
        }
    }
    CHECK(increasing);
    free(v);

    /* Page by 7 with the issuer filter: all 250, each once, in order. */
    hub_pull_query q = query(a, start);
    q.f.issuer = S(a);
    q.limit = 7;
    got g = {0};
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_EQ_INT(g.n, BATCHES * PER);
    bool ordered = true, each_once = true;
    for (size_t i = 0; i < g.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "cur-%03zu", i);
        if (strcmp(g.rows[i].event_id, want)) each_once = false;
        if (i && g.rows[i].seq <= g.rows[i - 1].seq) ordered = false;
    }
    CHECK(ordered);
    CHECK(each_once);
    /* Past the end: nothing, cursor unchanged. */
    int64_t next = -1;
    got g2 = {0};
    q.after = g.n ? g.rows[g.n - 1].seq : start;
    fs_err e = {0};
    CHECK(hub_pull(s, &q, collect, &g2, &next, &e) == FS_OK);
    CHECK_EQ_INT(g2.n, 0);
    CHECK_EQ_INT(next, q.after);
    /* A callback that stops early: cursor = last row delivered. */
    q.after = start;
    q.limit = 100;
    g2.stop_after = 3;
    CHECK(hub_pull(s, &q, collect, &g2, &next, &e) == FS_OK);
    CHECK_EQ_INT(g2.n, 3);
    CHECK(g.n >= 3 && next == g.rows[2].seq);
    got_free(&g);
    got_free(&g2);
}

/* A pull whose page is not full moves the cursor past the rows it read
 * and left out (another type, expired): the cursor stayed on the last
 * match, and a reader polling with a filter re-read all that followed on
 * every call, ever more of it as the store grew. */
static void t_cursor_skips(hub_store *s) {
    char a[64];
    org(a, sizeof a, "skip");
    int64_t start = last_seq(s);
    ev m, other, expired;
    hub_result r;
    ev_init(&m, a, "skip-1", 1, "IRSF", "amber");
    CHECK(publish1(s, &m.it, &r) == FS_OK && r.verdict == HUB_STORED);
    int64_t seq_m = r.seq;
    ev_init(&other, a, "skip-2", 1, "SIP_SCANNER", "amber");
    CHECK(publish1(s, &other.it, &r) == FS_OK && r.verdict == HUB_STORED);
    ev_init(&expired, a, "skip-3", 1, "IRSF", "amber");
    expired.it.valid_until_ms = T0 - 1;
    CHECK(publish1(s, &expired.it, &r) == FS_OK && r.verdict == HUB_STORED);
    int64_t seq_last = r.seq;
    fs_str irsf = S("IRSF");
    hub_pull_query q = query(a, start);
    q.f.issuer = S(a);
    q.f.types = &irsf;
    q.f.n_types = 1;
    q.limit = 10;
    got g = {0};
    int64_t next = -1;
    fs_err e = {0};
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK_MSG(next >= seq_last, "[%s] next %lld, the match is %lld, read up to %lld", BACKEND,
              (long long)next, (long long)seq_m, (long long)seq_last);
    got_free(&g);
    /* a full page still ends on its last row */
    q.limit = 1;
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_OK);
    CHECK(g.n == 1 && next == seq_m);
    got_free(&g);
}

static void t_replay_versions(hub_store *s) {
    char a[64];
    org(a, sizeof a, "ver");
    int64_t start = last_seq(s);
    ev v1, v2, v3;
    hub_result r;
    ev_init(&v1, a, "ver-1", 1, "IRSF", "amber");
    CHECK(publish1(s, &v1.it, &r) == FS_OK && r.verdict == HUB_STORED);
    int64_t seq1 = r.seq;
    /* Replay: DUPLICATE with the held seq, nothing stored. */
    CHECK(publish1(s, &v1.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_DUPLICATE);
    CHECK_EQ_INT(r.seq, seq1);
    CHECK_EQ_INT(last_seq(s), seq1);
    /* Newer version accepted, becomes the active one. */
    ev_init(&v3, a, "ver-1", 3, "IRSF", "amber");
    v3.it.valid_until_ms = T0 + 2 * DAY_MS;
    CHECK(publish1(s, &v3.it, &r) == FS_OK && r.verdict == HUB_STORED);
    int64_t seq3 = r.seq;
    /* Older version (never seen) -> STALE_VERSION; v1 again -> DUPLICATE. */
    ev_init(&v2, a, "ver-1", 2, "IRSF", "amber");
    CHECK(publish1(s, &v2.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_STALE_VERSION);
    CHECK_EQ_INT(r.held_version, 3);
    CHECK_MSG(strstr(r.error, "version 2") != NULL, "%s", r.error);
    CHECK(publish1(s, &v1.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_DUPLICATE);
    CHECK_EQ_INT(last_seq(s), seq3);

    /* Inside one batch: v1 of a new event twice, then v5 and v4 of ver-1. */
    ev n1, v5, v4;
    ev_init(&n1, a, "ver-2", 1, "IRSF", "amber");
    ev_init(&v5, a, "ver-1", 5, "IRSF", "amber");
    ev_init(&v4, a, "ver-1", 4, "IRSF", "amber");
    hub_item batch[4] = {n1.it, n1.it, v5.it, v4.it};
    hub_result br[4];
    fs_err e = {0};
    CHECK(hub_publish(s, batch, 4, T0, br, &e) == FS_OK);
    CHECK_EQ_INT(br[0].verdict, HUB_STORED);
    CHECK_EQ_INT(br[1].verdict, HUB_DUPLICATE);
    CHECK_EQ_INT(br[1].seq, br[0].seq);
    CHECK_EQ_INT(br[2].verdict, HUB_STORED);
    CHECK_EQ_INT(br[3].verdict, HUB_STALE_VERSION);
    CHECK_EQ_INT(br[3].held_version, 5);

    /* hub_judge answers as a publish would, storing nothing: v3 held (its
     * seq), v2 stale, v6 and a new event storable (seq 0), v1 of another
     * issuer's event published by us not ours. */
    int64_t before = last_seq(s);
    ev v6, other, n9;
    ev_init(&v6, a, "ver-1", 6, "IRSF", "amber");
    ev_init(&n9, a, "ver-9", 1, "IRSF", "amber");
    ev_init(&other, a, "ver-1", 1, "IRSF", "amber");
    other.it.publisher = S("org:someone-else");
    hub_item judged[5] = {v3.it, v2.it, v6.it, n9.it, other.it};
    hub_result jr[5];
    CHECK_MSG(hub_judge(s, judged, 5, jr, &e) == FS_OK, "[%s] judge: %s", BACKEND, e.msg);
    CHECK_EQ_INT(jr[0].verdict, HUB_DUPLICATE);
    CHECK_EQ_INT(jr[0].seq, seq3);
    CHECK_EQ_INT(jr[1].verdict, HUB_STALE_VERSION);
    CHECK_EQ_INT(jr[1].held_version, 5);
    CHECK_EQ_INT(jr[2].verdict, HUB_STORED);
    CHECK_EQ_INT(jr[2].seq, 0);
    CHECK_EQ_INT(jr[3].verdict, HUB_STORED);
    CHECK_EQ_INT(jr[4].verdict, HUB_NOT_ISSUER);
    CHECK_EQ_INT(last_seq(s), before);

    /* History holds v1, v3, v5 of ver-1 exactly once each. */
    got g = {0};
    hub_pull_query q = query(a, start);
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 4);
    CHECK(find(&g, "ver-1", 1) && find(&g, "ver-1", 3) && find(&g, "ver-1", 5));
    CHECK(find(&g, "ver-1", 2) == NULL && find(&g, "ver-1", 4) == NULL);
    got_free(&g);
    /* The active set holds only the latest version. */
    hub_filter f = {.reader = S(a), .now_ms = T0, .issuer = S(a)};
    int64_t cursor = -1;
    CHECK(hub_snapshot(s, &f, collect, &g, &cursor, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 2);
    const got_row *o = find(&g, "ver-1", 0);
    CHECK(o && o->version == 5);
    CHECK(find(&g, "ver-2", 1) != NULL);
    CHECK_EQ_INT(cursor, last_seq(s));
    got_free(&g);
}

static void t_revoke(hub_store *s) {
    char a[64], b[64];
    org(a, sizeof a, "rev-a");
    org(b, sizeof b, "rev-b");
    int64_t start = last_seq(s);
    ev v1, v2, forged, foreign;
    hub_result r;
    fs_err e = {0};
    ev_init(&v1, a, "rev-1", 1, "WANGIRI", "amber");
    CHECK(publish1(s, &v1.it, &r) == FS_OK && r.verdict == HUB_STORED);
    /* Another member revokes a's event: NOT_ISSUER, nothing stored. */
    ev_init(&forged, a, "rev-1", 2, "WANGIRI", "amber");
    forged.it.status = HUB_REVOKED;
    forged.it.publisher = S(b);
    CHECK(publish1(s, &forged.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_NOT_ISSUER);
    CHECK_MSG(strstr(r.error, "issuer") != NULL, "%s", r.error);
    /* Nor may it publish a first version in a's name. */
    ev_init(&foreign, a, "rev-9", 1, "WANGIRI", "amber");
    foreign.it.publisher = S(b);
    CHECK(publish1(s, &foreign.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_NOT_ISSUER);

    hub_filter f = {.reader = S(b), .now_ms = T0, .issuer = S(a)};
    got g = {0};
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    got_free(&g);

    /* The issuer revokes: stored, gone from the active set, in the log. */
    ev_init(&v2, a, "rev-1", 2, "WANGIRI", "amber");
    v2.it.status = HUB_REVOKED;
    CHECK(publish1(s, &v2.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_STORED);
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
    CHECK(pull_all(s, query(b, start), &g) == FS_OK);
    CHECK_EQ_INT(g.n, 2);
    const got_row *o = find(&g, "rev-1", 2);
    CHECK(o && o->status == HUB_REVOKED);
    CHECK(find(&g, "rev-9", 0) == NULL);
    got_free(&g);
    /* A version after the revocation is still judged by version. */
    CHECK(publish1(s, &v1.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_DUPLICATE);
}

/* A revocation (or update) may expire before the version it replaces. While
 * that older version is still served, its successor must be served too: a
 * reader pulling after the revocation expired would otherwise get version 1
 * alone and keep a revoked indicator as active (the snapshot, from the
 * active set, says it is gone). */
static void t_revoke_expiry(hub_store *s) {
    char a[64];
    org(a, sizeof a, "revexp");
    int64_t start = last_seq(s);
    ev v1, v2, u1, u2;
    hub_result r;
    fs_err e = {0};
    ev_init(&v1, a, "revexp-1", 1, "WANGIRI", "clear");
    CHECK(publish1(s, &v1.it, &r) == FS_OK && r.verdict == HUB_STORED);
    ev_init(&v2, a, "revexp-1", 2, "WANGIRI", "clear");
    v2.it.status = HUB_REVOKED;
    v2.it.valid_until_ms = T0 + 500; /* the event itself runs for a day */
    CHECK(publish1(s, &v2.it, &r) == FS_OK && r.verdict == HUB_STORED);
    /* An update shortening the validity is the same case. */
    ev_init(&u1, a, "revexp-2", 1, "WANGIRI", "clear");
    CHECK(publish1(s, &u1.it, &r) == FS_OK && r.verdict == HUB_STORED);
    ev_init(&u2, a, "revexp-2", 2, "WANGIRI", "clear");
    u2.it.valid_until_ms = T0 + 500;
    CHECK(publish1(s, &u2.it, &r) == FS_OK && r.verdict == HUB_STORED);

    hub_pull_query q = query(a, start);
    q.f.now_ms = T0 + 600;
    got g = {0};
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_MSG(g.n == 4, "[%s] pull after the revocation expired: %zu rows, want 4", BACKEND, g.n);
    const got_row *o = find(&g, "revexp-1", 2);
    CHECK_MSG(o && o->status == HUB_REVOKED, "[%s] revocation not pulled with the live version 1", BACKEND);
    CHECK_MSG(find(&g, "revexp-2", 2) != NULL, "[%s] shortening update not pulled", BACKEND);
    got_free(&g);
    hub_filter f = {.reader = S(a), .now_ms = T0 + 600, .issuer = S(a)};
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
    /* Once every version has expired, nothing is served. */
    q.f.now_ms = T0 + DAY_MS + 1;
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
}

/* hub_sweep_some removes at most HUB_SWEEP_CHUNK expired events per call,
 * so the committer can interleave a large expiry with group commits. The
 * events expire far in the future of the other tests' events, after a full
 * sweep up to just before, so only these count. */
static void t_sweep_chunks(hub_store *s) {
    enum { N = HUB_SWEEP_CHUNK * 5 / 2 };
    const int64_t expiry = T0 + 1000000000LL;
    char a[64];
    org(a, sizeof a, "chunk");
    ev *v = calloc(N, sizeof *v);
    hub_item *items = calloc(N, sizeof *items);
    hub_result *r = calloc(N, sizeof *r);
    CHECK(v && items && r);
    if (!v || !items || !r) goto out;
    for (int i = 0; i < N; i++) {
        char eid[32];
        snprintf(eid, sizeof eid, "chunk-%d", i);
        ev_init(&v[i], a, eid, 1, "SIP_SCANNER", "clear");
        v[i].it.valid_until_ms = expiry;
        items[i] = v[i].it;
    }
    fs_err e = {0};
    CHECK(hub_publish(s, items, N, T0, r, &e) == FS_OK);
    int stored = 0;
    for (int i = 0; i < N; i++) stored += r[i].verdict == HUB_STORED;
    CHECK_EQ_INT(stored, N);
    int64_t removed = -1;
    CHECK(hub_sweep(s, expiry - 1, &removed, &e) == FS_OK); /* everything else */
    int64_t chunks[4] = {-1, -1, -1, -1};
    for (int i = 0; i < 4; i++) CHECK(hub_sweep_some(s, expiry + 1, &chunks[i], &e) == FS_OK);
    CHECK_EQ_INT(chunks[0], HUB_SWEEP_CHUNK);
    CHECK_EQ_INT(chunks[1], HUB_SWEEP_CHUNK);
    CHECK_EQ_INT(chunks[2], N - 2 * HUB_SWEEP_CHUNK);
    CHECK_EQ_INT(chunks[3], 0);
out:
    free(v);
    free(items);
    free(r);
}

static void t_expiry(hub_store *s) {
    char a[64];
    org(a, sizeof a, "exp");
    int64_t start = last_seq(s);
    ev live, dead;
    ev_init(&live, a, "exp-live", 1, "SIP_SCANNER", "clear");
    live.it.valid_until_ms = T0 + 1000;
    ev_init(&dead, a, "exp-dead", 1, "SIP_SCANNER", "clear");
    dead.it.created_ms = T0 - 5000;
    dead.it.valid_until_ms = T0 - 1;
    hub_item items[2] = {live.it, dead.it};
    hub_result r[2];
    fs_err e = {0};
    CHECK(hub_publish(s, items, 2, T0, r, &e) == FS_OK);
    CHECK(r[0].verdict == HUB_STORED && r[1].verdict == HUB_STORED);

    /* Read at T0: the expired one is never returned. */
    got g = {0};
    CHECK(pull_all(s, query(a, start), &g) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK(find(&g, "exp-live", 1) != NULL);
    got_free(&g);
    hub_pull_query later = query(a, start);
    later.f.now_ms = T0 + 2000;
    CHECK(pull_all(s, later, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
    hub_filter f = {.reader = S(a), .now_ms = T0, .issuer = S(a)};
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    got_free(&g);

    /* Sweep at T0 removes the expired one from the active set ... */
    int64_t removed = -1;
    CHECK(hub_sweep(s, T0, &removed, &e) == FS_OK);
    CHECK(removed >= 1);
    f.now_ms = T0 - 10; /* a reader whose clock is behind still cannot see it */
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK(g.n == 1 && !strcmp(g.rows[0].event_id, "exp-live"));
    got_free(&g);
    /* ... and a later sweep the other; history stays for audit. */
    CHECK(hub_sweep(s, T0 + 2000, &removed, &e) == FS_OK);
    CHECK(removed >= 1);
    CHECK(hub_sweep(s, T0 + 2000, &removed, &e) == FS_OK);
    CHECK_EQ_INT(removed, 0);
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
    hub_pull_query past = query(a, start);
    past.f.now_ms = T0 - 10;
    CHECK(pull_all(s, past, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 2);
    got_free(&g);
}

static void t_filters(hub_store *s) {
    char i1[64], i2[64];
    org(i1, sizeof i1, "flt1");
    org(i2, sizeof i2, "flt2");
    int64_t start = last_seq(s);
    struct { const char *iss, *id, *type, *kind; int64_t created; } spec[] = {
        {i1, "f-a", "IRSF", "e164_range", T0 - 4000},
        {i1, "f-b", "WANGIRI", "e164", T0 - 3000},
        {i2, "f-c", "IRSF", "e164", T0 - 2000},
        {i2, "f-d", "SIP_SCANNER", "ip", T0 - 1000},
        {i1, "f-e", "SIP_SCANNER", "sip_user_agent", T0 - 500},
    };
    enum { N = 5 };
    ev v[N];
    hub_item items[N];
    for (int i = 0; i < N; i++) {
        ev_init(&v[i], spec[i].iss, spec[i].id, 1, spec[i].type, "amber");
        v[i].obs[1] = (hub_observable){S(spec[i].kind), S("+88213"), S("callee")};
        v[i].it.n_obs = 2;
        if (!strcmp(spec[i].kind, "ip")) v[i].it.n_obs = 1; /* only the default ip */
        v[i].it.created_ms = spec[i].created;
        items[i] = v[i].it;
    }
    hub_result r[N];
    fs_err e = {0};
    CHECK(hub_publish(s, items, N, T0, r, &e) == FS_OK);

    struct { const char *name; hub_filter f; const char *want; } cases[] = {
        {"type IRSF", {.types = (fs_str[]){S("IRSF")}, .n_types = 1}, "f-a f-c"},
        {"types IRSF WANGIRI", {.types = (fs_str[]){S("IRSF"), S("WANGIRI")}, .n_types = 2}, "f-a f-b f-c"},
        {"issuer 2", {.issuer = S(i2)}, "f-c f-d"},
        {"kind e164", {.obs_kind = S("e164")}, "f-b f-c"},
        {"kind ip", {.obs_kind = S("ip")}, "f-a f-b f-c f-d f-e"},
        {"since", {.since_ms = T0 - 2000}, "f-c f-d f-e"},
        {"type+issuer", {.types = (fs_str[]){S("SIP_SCANNER")}, .n_types = 1, .issuer = S(i1)}, "f-e"},
        {"no match", {.types = (fs_str[]){S("TOLL_FRAUD")}, .n_types = 1}, ""},
        {"kind + since", {.obs_kind = S("e164"), .since_ms = T0 - 2500}, "f-c"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hub_pull_query q = query(i1, start);
        hub_filter f = cases[c].f;
        f.reader = S(i1);
        f.now_ms = T0;
        q.f = f;
        got g = {0};
        CHECK(pull_all(s, q, &g) == FS_OK);
        char seen[128] = "";
        for (size_t i = 0; i < g.n; i++) {
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s", *seen ? " " : "",
                     g.rows[i].event_id);
        }
        CHECK_MSG(!strcmp(seen, cases[c].want), "%s: got '%s' want '%s'", cases[c].name, seen,
                  cases[c].want);
        CHECK_MSG(g.n == strlen(seen) / 4 + (*seen != 0), "%s: %zu rows", cases[c].name, g.n);
        /* and every row returned satisfies the filter */
        bool sat = true;
        for (size_t i = 0; i < g.n; i++) {
            const got_row *o = &g.rows[i];
            if (f.issuer.len && strcmp(o->issuer, f.issuer.p)) sat = false;
            if (f.since_ms && o->created_ms < f.since_ms) sat = false;
            if (f.n_types) {
                bool any = false;
                for (size_t t = 0; t < f.n_types; t++) any |= !strcmp(o->type, f.types[t].p);
                if (!any) sat = false;
            }
        }
        CHECK_MSG(sat, "%s: a row outside the filter", cases[c].name);
        got_free(&g);
    }
    /* Snapshot takes the same filter. */
    hub_filter f = {.reader = S(i1), .now_ms = T0, .issuer = S(i2), .obs_kind = S("e164")};
    got g = {0};
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK(g.n == 1 && !strcmp(g.rows[0].event_id, "f-c"));
    got_free(&g);
}

static void t_tlp_sightings(hub_store *s, const char *a, const char *b, const char *c);

static void t_tlp(hub_store *s) {
    char a[64], b[64], c[64];
    org(a, sizeof a, "tlp-a");
    org(b, sizeof b, "tlp-b");
    org(c, sizeof c, "tlp-c");
    int64_t start = last_seq(s);
    const char *tlps[] = {"red", "amber", "amber+strict", "green", "clear"};
    enum { N = 5 };
    ev v[N];
    hub_item items[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "tlp-%s", tlps[i]);
        ev_init(&v[i], a, id, 1, "CLI_SPOOFING", tlps[i]);
        items[i] = v[i].it;
    }
    v[0].aud[0] = S(b);
    v[0].aud[1] = S(b); /* repeated: stored once */
    items[0].audience = v[0].aud;
    items[0].n_audience = 2;
    hub_result r[N];
    fs_err e = {0};
    CHECK_MSG(hub_publish(s, items, N, T0, r, &e) == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(r[0].verdict, HUB_STORED);

    const char *readers[] = {a, b, c};
    size_t want[] = {5, 5, 4};
    for (int k = 0; k < 3; k++) {
        got g = {0};
        CHECK(pull_all(s, query(readers[k], start), &g) == FS_OK);
        CHECK_MSG(g.n == want[k], "reader %d sees %zu, want %zu", k, g.n, want[k]);
        CHECK((find(&g, "tlp-red", 1) != NULL) == (k != 2));
        got_free(&g);
        hub_filter f = {.reader = S(readers[k]), .now_ms = T0, .issuer = S(a)};
        CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
        CHECK_EQ_INT(g.n, want[k]);
        got_free(&g);
        /* The C rule agrees with the SQL one. */
        CHECK(hub_visible_to(S("red"), S(a), v[0].aud, 1, S(readers[k])) == (k != 2));
    }
    CHECK(hub_visible_to(S("amber"), S(a), NULL, 0, S(c)));

    /* Feedback on a red event only from who can see it. */
    hub_sighting sg = {.reporter = S(c), .ref_issuer = S(a), .ref_event_id = S("tlp-red"),
                       .kind = HUB_SIGHTING, .at_ms = T0, .count = 1};
    hub_verdict vd;
    int64_t seq;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK);
    CHECK_EQ_INT(vd, HUB_UNKNOWN_REF);
    sg.reporter = S(b);
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK);
    CHECK_EQ_INT(vd, HUB_STORED);
    t_tlp_sightings(s, a, b, c);
}

/* Counts sighting rows and keeps the last one's fields. */
typedef struct sgot {
    int n;
    int64_t seq[16];
    char reporter[300], note[300];
    int kind;
    int64_t count, at;
    size_t note_len;
} sgot;

static int scollect(void *ctx, const hub_sight_row *r) {
    sgot *g = ctx;
    if (g->n < 16) g->seq[g->n] = r->seq;
    g->n++;
    fs_str_copy(r->reporter, g->reporter, sizeof g->reporter);
    fs_str_copy(r->note, g->note, sizeof g->note);
    g->note_len = r->note.len;
    g->kind = (int)r->kind;
    g->count = r->count;
    g->at = r->at_ms;
    return 0;
}

/* Sightings of a red event reach only who can see the event. */
static void t_tlp_sightings(hub_store *s, const char *a, const char *b, const char *c) {
    fs_err e = {0};
    int64_t next = -1;
    sgot g = {0};
    hub_sight_query sq = {.reader = S(c), .ref_issuer = S(a), .ref_event_id = S("tlp-red"), .limit = 10};
    CHECK(hub_sightings_pull(s, &sq, scollect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    sq.reader = S(b);
    CHECK(hub_sightings_pull(s, &sq, scollect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    sq.reader = S(a);
    CHECK(hub_sightings_pull(s, &sq, scollect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 2);
}

static void t_sightings(hub_store *s) {
    char a[64], b[64], c[64];
    org(a, sizeof a, "sg-a");
    org(b, sizeof b, "sg-b");
    org(c, sizeof c, "sg-c");
    ev v;
    hub_result r;
    fs_err e = {0};
    ev_init(&v, a, "sg-1", 1, "IRSF", "amber");
    CHECK(publish1(s, &v.it, &r) == FS_OK && r.verdict == HUB_STORED);

    static const char note[] = "seen on trunk 7; it's \"real\" -- 100% \\o/ ?1 $1";
    hub_sighting sg = {.reporter = S(b), .ref_issuer = S(a), .ref_event_id = S("sg-1"),
                       .kind = HUB_SIGHTING, .at_ms = T0 - 10, .count = 42, .note = S(note)};
    hub_verdict vd;
    int64_t s1 = 0, s2 = 0;
    CHECK_MSG(hub_sighting_add(s, &sg, T0, &vd, &s1, &e) == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(vd, HUB_STORED);
    sg.reporter = S(c);
    sg.kind = HUB_FALSE_POSITIVE;
    sg.count = 1;
    sg.note = FS_STR_NULL;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &s2, &e) == FS_OK);
    CHECK_EQ_INT(vd, HUB_STORED);
    CHECK(s2 > s1);

    hub_sight_query q = {.reader = S(a), .ref_issuer = S(a), .ref_event_id = S("sg-1"), .limit = 10};
    sgot g = {0};
    int64_t next = -1;
    CHECK(hub_sightings_pull(s, &q, scollect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(g.seq[0], s1);
    CHECK_EQ_INT(next, s2);
    CHECK_EQ_INT(g.kind, HUB_FALSE_POSITIVE);
    CHECK(!strcmp(g.reporter, c));
    CHECK_EQ_INT(g.note_len, 0);
    /* Paging by cursor, limit 1, all events: the first is ours, note intact. */
    hub_sight_query all = {.reader = S(a), .after = s1 - 1, .limit = 1};
    memset(&g, 0, sizeof g);
    CHECK(hub_sightings_pull(s, &all, scollect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(next, s1);
    CHECK(!strcmp(g.note, note) && g.note_len == strlen(note));
    CHECK_EQ_INT(g.count, 42);
    CHECK_EQ_INT(g.at, T0 - 10);
    CHECK(!strcmp(g.reporter, b));
    /* Unknown event: nothing stored. */
    sg.ref_event_id = S("sg-nope");
    int64_t s3 = -1;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &s3, &e) == FS_OK);
    CHECK_EQ_INT(vd, HUB_UNKNOWN_REF);
    CHECK_EQ_INT(s3, 0);
    /* Bad fields. */
    sg.ref_event_id = S("sg-1");
    sg.kind = (hub_feedback)7;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &s3, &e) == FS_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "kind") != NULL, "%s", e.msg);
    sg.kind = HUB_SIGHTING;
    sg.count = 0;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &s3, &e) == FS_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "count") != NULL, "%s", e.msg);
    sg.count = 1;
    char *big = malloc(HUB_MAX_NOTE + 2);
    memset(big, 'n', HUB_MAX_NOTE + 1);
    sg.note = fs_str_make(big, HUB_MAX_NOTE + 1);
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &s3, &e) == FS_ERR_LIMIT);
    CHECK_MSG(strstr(e.msg, "note") != NULL, "%s", e.msg);
    free(big);
    /* Only one of ref issuer / event id: usage error. */
    q.ref_event_id = FS_STR_NULL;
    CHECK(hub_sightings_pull(s, &q, scollect, &g, &next, &e) == FS_ERR_USAGE);
}

/* Keeps the signed bytes of each sighting row (its feedback event). */
typedef struct sjws {
    int n;
    int64_t event_seq;
    char jws[512];
    size_t jws_len;
} sjws;

static int sjws_collect(void *ctx, const hub_sight_row *r) {
    sjws *g = ctx;
    g->n++;
    g->event_seq = r->event_seq;
    g->jws_len = r->jws.len;
    fs_str_copy(r->jws, g->jws, sizeof g->jws);
    return 0;
}

/* A sighting carried by a stored feedback event returns that event's exact
 * signed bytes; a red feedback event hides its sighting from non-audience. */
static void t_sighting_jws(hub_store *s) {
    char a[64], b[64], c[64];
    org(a, sizeof a, "sj-a");
    org(b, sizeof b, "sj-b");
    org(c, sizeof c, "sj-c");
    ev ref, fb, red;
    hub_result r;
    fs_err e = {0};
    ev_init(&ref, a, "sj-ref", 1, "IRSF", "green");
    CHECK(publish1(s, &ref.it, &r) == FS_OK && r.verdict == HUB_STORED);
    ev_init(&fb, b, "sj-fb", 1, "SIGHTING", "green");
    CHECK(publish1(s, &fb.it, &r) == FS_OK && r.verdict == HUB_STORED);
    int64_t fb_seq = r.seq;
    hub_sighting sg = {.reporter = S(b), .ref_issuer = S(a), .ref_event_id = S("sj-ref"),
                       .kind = HUB_SIGHTING, .at_ms = T0, .count = 1, .event_seq = fb_seq};
    hub_verdict vd;
    int64_t seq = 0, next = -1;
    CHECK_MSG(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(vd, HUB_STORED);
    hub_sight_query q = {.reader = S(c), .ref_issuer = S(a), .ref_event_id = S("sj-ref"), .limit = 10};
    sjws g = {0};
    CHECK(hub_sightings_pull(s, &q, sjws_collect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(g.event_seq, fb_seq);
    CHECK_EQ_INT(g.jws_len, strlen(fb.sig));
    CHECK(!strcmp(g.jws, fb.sig));
    /* The same feedback event's sighting again (the hub records it on a retry
     * answered "duplicate", in case it stopped before recording it): held once. */
    int64_t again = -1;
    CHECK_MSG(hub_sighting_add(s, &sg, T0, &vd, &again, &e) == FS_OK, "%s", e.msg);
    CHECK_MSG(vd == HUB_DUPLICATE && again == 0, "[%s] the sighting of feedback seq %lld added twice "
              "(verdict %d, seq %lld)", BACKEND, (long long)fb_seq, (int)vd, (long long)again);
    memset(&g, 0, sizeof g);
    int64_t next2 = -1;
    CHECK(hub_sightings_pull(s, &q, sjws_collect, &g, &next2, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    /* Without a feedback event: no bytes. */
    sg.event_seq = 0;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK && vd == HUB_STORED);
    memset(&g, 0, sizeof g);
    q.after = next;
    CHECK(hub_sightings_pull(s, &q, sjws_collect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(g.event_seq, 0);
    CHECK_EQ_INT(g.jws_len, 0);
    /* A red feedback event without audience: only its issuer b sees the sighting. */
    ev_init(&red, b, "sj-red", 1, "SIGHTING", "red");
    CHECK(publish1(s, &red.it, &r) == FS_OK && r.verdict == HUB_STORED);
    sg.event_seq = r.seq;
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK && vd == HUB_STORED);
    q.after = next;
    memset(&g, 0, sizeof g);
    CHECK(hub_sightings_pull(s, &q, sjws_collect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    q.reader = S(b);
    CHECK(hub_sightings_pull(s, &q, sjws_collect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    CHECK(!strcmp(g.jws, red.sig));

    /* A feedback event stored before the event it refers to counts only what
     * was held before it: a replicated node applying the two in one batch
     * must record what one applying them one by one records (nothing). */
    ev early, late;
    ev_init(&early, b, "sj-early", 1, "SIGHTING", "green");
    CHECK(publish1(s, &early.it, &r) == FS_OK && r.verdict == HUB_STORED);
    int64_t early_seq = r.seq;
    ev_init(&late, a, "sj-late", 1, "IRSF", "green");
    CHECK(publish1(s, &late.it, &r) == FS_OK && r.verdict == HUB_STORED);
    hub_sighting sl = {.reporter = S(b), .ref_issuer = S(a), .ref_event_id = S("sj-late"),
                       .kind = HUB_SIGHTING, .at_ms = T0, .count = 1, .event_seq = early_seq};
    CHECK(hub_sighting_add(s, &sl, T0, &vd, &seq, &e) == FS_OK);
    CHECK_MSG(vd == HUB_UNKNOWN_REF, "[%s] feedback seq %lld recorded against an event stored after "
              "it (verdict %d)", BACKEND, (long long)early_seq, (int)vd);
    sl.event_seq = r.seq + 1; /* a feedback event after it: recorded */
    CHECK(hub_sighting_add(s, &sl, T0, &vd, &seq, &e) == FS_OK && vd == HUB_STORED);
}

/* PostgreSQL: the sweep (the committer's connection) racing the replication
 * applier (its own connection) that stores a renewed version of an event
 * whose previous version expired. A third session holds the active row for
 * a moment so that the sweep starts inside the applier's transaction, as it
 * can at any time. The renewed version must stay in the active set. */
typedef struct race_arg {
    hub_store *st;
    const hub_item *it;
    int64_t seq, now;
    fs_code rc;
} race_arg;

static void *race_apply(void *p) {
    race_arg *x = p;
    hub_result r;
    fs_err e = {0};
    int64_t recv = T0;
    x->rc = hub_store_apply(x->st, x->it, &x->seq, &recv, 1, NULL, &r, &e);
    if (x->rc == FS_OK && r.verdict != HUB_STORED) x->rc = FS_ERR_INTERNAL;
    return NULL;
}

static void *race_sweep(void *p) {
    race_arg *x = p;
    int64_t removed;
    fs_err e = {0};
    x->rc = hub_sweep_some(x->st, x->now, &removed, &e);
    return NULL;
}

static void t_sweep_vs_apply(const char *url) {
    if (strncmp(url, "postgres", 8) != 0) return; /* SQLite: one writer at a time */
    char a[64], lock_sql[256];
    org(a, sizeof a, "renew");
    hub_store *ap = NULL, *sw = NULL, *fresh = NULL;
    fs_err e = {0};
    char dbname[64];
    snprintf(dbname, sizeof dbname, "race_%d", (int)getpid());
    /* a database of its own: hub_store_apply needs a store nothing else publishes to */
    PGconn *x = PQconnectdb(url);
    CHECK(PQstatus(x) == CONNECTION_OK);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    PQclear(PQexec(x, sql));
    PQfinish(x);
    char url2[1100];
    const char *slash = strrchr(url, '/');
    snprintf(url2, sizeof url2, "%.*s/%s", (int)(slash - url), url, dbname);
    CHECK_MSG(hub_store_open(url2, &ap, &e) == FS_OK && hub_store_migrate(ap, &e) == FS_OK &&
                  hub_store_open(url2, &sw, &e) == FS_OK, "%s", e.msg);
    x = PQconnectdb(url2);
    if (!ap || !sw || PQstatus(x) != CONNECTION_OK) goto out;
    ev v1, v2;
    ev_init(&v1, a, "renew-1", 1, "SIP_SCANNER", "clear");
    v1.it.valid_until_ms = T0 + 5000;
    ev_init(&v2, a, "renew-1", 2, "SIP_SCANNER", "clear");
    race_arg r1 = {ap, &v1.it, 1, 0, FS_OK};
    race_apply(&r1);
    CHECK(r1.rc == FS_OK);
    snprintf(lock_sql, sizeof lock_sql, "BEGIN; SELECT 1 FROM active WHERE issuer = '%s' FOR UPDATE", a);
    PQclear(PQexec(x, lock_sql));
    race_arg ra = {ap, &v2.it, 2, 0, FS_OK}, rs = {sw, NULL, 0, T0 + 10000, FS_OK};
    pthread_t ta, ts;
    pthread_create(&ta, NULL, race_apply, &ra); /* waits on the row, first in line */
    usleep(500000);
    pthread_create(&ts, NULL, race_sweep, &rs); /* its snapshot: v1, expired */
    usleep(500000);
    PQclear(PQexec(x, "COMMIT"));
    pthread_join(ta, NULL);
    pthread_join(ts, NULL);
    CHECK(ra.rc == FS_OK && rs.rc == FS_OK);
    hub_filter f = {.reader = S(a), .now_ms = T0 + 10000, .issuer = S(a)};
    got g = {0};
    CHECK(hub_snapshot(ap, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_MSG(g.n == 1 && g.rows[0].version == 2,
              "[%s] the renewed version left the active set: %zu active", BACKEND, g.n);
    got_free(&g);
out:
    PQfinish(x);
    hub_store_close(ap);
    hub_store_close(sw);
    hub_store_close(fresh);
    x = PQconnectdb(url);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", dbname);
    PQclear(PQexec(x, sql));
    PQfinish(x);
}

/* A replicated node applies a SIGHTING event and the sighting row it
 * carries in one transaction: a store failing on the sighting (a trigger
 * here) keeps neither, and the log's re-delivery stores both. Applied
 * with the sighting after the commit, the event was held without its
 * sighting and the re-delivery, now a duplicate, never added it. */
static void t_apply_sighting(const char *url) {
    bool pg = strncmp(url, "postgres", 8) == 0;
    char a[64], b[64], url2[1200], dbname[64], sql[400];
    org(a, sizeof a, "asg");
    org(b, sizeof b, "asgr");
    snprintf(dbname, sizeof dbname, "apply_sight_%d", (int)getpid());
    const char *slash = strrchr(url, '/');
    snprintf(url2, sizeof url2, pg ? "%.*s/%s" : "%.*s/%s.db", (int)(slash - url), url, dbname);
    PGconn *x = NULL;
    if (pg) {
        x = PQconnectdb(url);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
        PQclear(PQexec(x, sql));
        PQfinish(x);
    }
    hub_store *ap = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url2, &ap, &e) == FS_OK && hub_store_migrate(ap, &e) == FS_OK, "%s", e.msg);
    if (!ap) return;
    ev target, fb;
    ev_init(&target, a, "asg-target", 1, "SIP_SCANNER", "clear");
    ev_init(&fb, b, "asg-sighting", 1, "SIGHTING", "clear");
    hub_sighting sg = {.reporter = S(b), .ref_issuer = S(a), .ref_event_id = S("asg-target"),
                       .kind = HUB_SIGHTING, .at_ms = T0, .count = 3};
    hub_sighting none = {0};
    int64_t seq1 = 1, seq2 = 2, recv = T0;
    hub_result r;
    CHECK(hub_store_apply(ap, &target.it, &seq1, &recv, 1, &none, &r, &e) == FS_OK && r.verdict == HUB_STORED);
    const char *inject = pg ? "CREATE FUNCTION no_sight() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'injected'; END $$; "
                              "CREATE TRIGGER no_sight BEFORE INSERT ON sightings "
                              "FOR EACH ROW EXECUTE FUNCTION no_sight()"
                            : "CREATE TRIGGER no_sight BEFORE INSERT ON sightings "
                              "BEGIN SELECT RAISE(ABORT, 'injected'); END";
    const char *heal = pg ? "DROP TRIGGER no_sight ON sightings" : "DROP TRIGGER no_sight";
    sqlite3 *db = NULL;
    if (pg) {
        x = PQconnectdb(url2);
        PGresult *res = PQexec(x, inject);
        CHECK_MSG(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(x));
        PQclear(res);
    } else {
        CHECK(sqlite3_open(url2 + 7, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, inject, NULL, NULL, NULL) == SQLITE_OK);
    }
    CHECK_MSG(hub_store_apply(ap, &fb.it, &seq2, &recv, 1, &sg, &r, &e) != FS_OK,
              "[%s] the sighting failed, yet the apply succeeded", BACKEND);
    int64_t last = -1;
    CHECK(hub_store_last_seq(ap, &last, &e) == FS_OK);
    CHECK_MSG(last == 1, "[%s] the SIGHTING event was kept without its sighting (last seq %lld)", BACKEND,
              (long long)last);
    if (pg) PQclear(PQexec(x, heal));
    else CHECK(sqlite3_exec(db, heal, NULL, NULL, NULL) == SQLITE_OK);
    CHECK_MSG(hub_store_apply(ap, &fb.it, &seq2, &recv, 1, &sg, &r, &e) == FS_OK && r.verdict == HUB_STORED,
              "[%s] re-delivery: %s", BACKEND, e.msg);
    sgot g = {0};
    int64_t next = -1;
    hub_sight_query sq = {.reader = S(a), .ref_issuer = S(a), .ref_event_id = S("asg-target"), .limit = 10};
    CHECK(hub_sightings_pull(ap, &sq, scollect, &g, &next, &e) == FS_OK);
    CHECK_MSG(g.n == 1 && g.count == 3, "[%s] %d sightings after the re-delivery", BACKEND, g.n);
    /* applied again (a second re-delivery): one sighting still */
    CHECK(hub_store_apply(ap, &fb.it, &seq2, &recv, 1, &sg, &r, &e) == FS_OK && r.verdict == HUB_DUPLICATE);
    g = (sgot){0};
    next = -1;
    CHECK(hub_sightings_pull(ap, &sq, scollect, &g, &next, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    hub_store_close(ap);
    if (pg) {
        PQfinish(x);
        x = PQconnectdb(url);
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", dbname);
        PQclear(PQexec(x, sql));
        PQfinish(x);
    } else {
        sqlite3_close(db);
        static const char *const sfx[] = {"", "-wal", "-shm"};
        char path[sizeof url2 + 8];
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s%s", url2 + 7, sfx[i]);
            unlink(path);
        }
    }
}

/* A writer that cannot get the store lock in time (lock_timeout set for the
 * role or database) fails that one batch; the connection must not stay in
 * the aborted transaction, or every later write fails too. */
static void t_lock_timeout(const char *url) {
    if (strncmp(url, "postgres", 8) != 0) return;
    char a[64], url2[1200];
    org(a, sizeof a, "locktimeout");
    snprintf(url2, sizeof url2, "%s%soptions=-c%%20lock_timeout%%3D200", url,
             strchr(url, '?') ? "&" : "?");
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url2, &s, &e) == FS_OK, "%s", e.msg);
    PGconn *x = PQconnectdb(url);
    if (!s || PQstatus(x) != CONNECTION_OK) goto out;
    PQclear(PQexec(x, "BEGIN; SELECT pg_advisory_xact_lock(1718825784)")); /* PG_LOCK_KEY, hub_store_pg.c */
    ev v;
    hub_result r;
    ev_init(&v, a, "lt-1", 1, "IRSF", "green");
    CHECK(hub_publish(s, &v.it, 1, T0, &r, &e) != FS_OK); /* lock timeout */
    PQclear(PQexec(x, "COMMIT"));
    e.msg[0] = '\0';
    CHECK_MSG(hub_publish(s, &v.it, 1, T0, &r, &e) == FS_OK && r.verdict == HUB_STORED,
              "[%s] write after a lock timeout: %s", BACKEND, e.msg);
out:
    PQfinish(x);
    hub_store_close(s);
}

/* SHOW fsync from a new connection, "" when unreadable. */
static void pg_fsync_now(const char *url, char *out, size_t n) {
    PGconn *x = PQconnectdb(url);
    PGresult *r = PQstatus(x) == CONNECTION_OK ? PQexec(x, "SHOW fsync") : NULL;
    snprintf(out, n, "%s", PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(x);
}

/* Sets the server's fsync (ALTER SYSTEM, a superuser's) and waits for the
 * reload to show it; false when that cannot be done. */
static bool pg_set_fsync(const char *url, const char *value) {
    PGconn *x = PQconnectdb(url);
    char sql[64], now[16] = "";
    if (strcmp(value, "default")) snprintf(sql, sizeof sql, "ALTER SYSTEM SET fsync = %s", value);
    else snprintf(sql, sizeof sql, "ALTER SYSTEM RESET fsync");
    PGresult *r = PQstatus(x) == CONNECTION_OK ? PQexec(x, sql) : NULL;
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok) PQclear(PQexec(x, "SELECT pg_reload_conf()"));
    PQfinish(x);
    const char *want = strcmp(value, "default") ? value : "on";
    for (int i = 0; ok && i < 100; i++) { /* the reload is asynchronous */
        pg_fsync_now(url, now, sizeof now);
        if (!strcmp(now, want)) return true;
        usleep(50000);
    }
    return false;
}

static int pg_drop_hub_connections(const char *url);

/* A server with fsync=off answers COMMIT before anything is on disk: the
 * store opened and acknowledged events a power cut loses. It refuses now,
 * naming the setting (the SQLite backend refuses without synchronous=FULL). */
static void t_fsync_off(const char *url) {
    if (strncmp(url, "postgres", 8) != 0) return;
    if (!pg_set_fsync(url, "off")) {
        printf("test_hub_store: [%s] cannot set fsync=off (not a superuser?): fsync check skipped\n", BACKEND);
        pg_set_fsync(url, "default");
        return;
    }
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url, &s, &e) == FS_ERR_CONFIG && !s, "[%s] opened with fsync=off", BACKEND);
    CHECK_MSG(strstr(e.msg, "fsync=off") != NULL, "[%s] %s", BACKEND, e.msg);
    hub_store_close(s);
    CHECK_MSG(pg_set_fsync(url, "default"), "[%s] fsync not restored on the test server", BACKEND);
    s = NULL;
    CHECK_MSG(hub_store_open(url, &s, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
    /* fsync is a reload setting: a server switched to fsync=off under an
     * open store (reloaded, or restarted and reconnected to) is refused at
     * every write, not only at open (2 of 2 publishes after the reload, and
     * all but the first after the restart, were stored) */
    char a[64];
    org(a, sizeof a, "fsync");
    for (int k = 0; s && k < 6; k++) {
        if (k == 0) CHECK(pg_set_fsync(url, "off"));
        if (k == 2) CHECK(pg_drop_hub_connections(url) >= 1);
        if (k == 5) CHECK_MSG(pg_set_fsync(url, "default"), "[%s] fsync not restored", BACKEND);
        ev v;
        char id[32];
        snprintf(id, sizeof id, "fsync-%d", k);
        ev_init(&v, a, id, 1, "IRSF", "amber");
        hub_result r;
        fs_code rc = hub_publish(s, &v.it, 1, T0, &r, &e);
        if (k < 5)
            CHECK_MSG(rc == FS_ERR_CONFIG && strstr(e.msg, "fsync=off"), "[%s] publish %d with fsync=off: %s",
                      BACKEND, k, rc ? e.msg : hub_verdict_name(r.verdict));
        else
            CHECK_MSG(rc == FS_OK && r.verdict == HUB_STORED, "[%s] publish with fsync on again: %s", BACKEND,
                      rc ? e.msg : hub_verdict_name(r.verdict));
    }
    pg_set_fsync(url, "default");
    hub_store_close(s);
}

/* Terminates every hub store connection on the server (a restart, as the
 * store sees it); the number terminated. */
static int pg_drop_hub_connections(const char *url) {
    PGconn *x = PQconnectdb(url);
    PGresult *r = PQstatus(x) == CONNECTION_OK
                      ? PQexec(x, "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM"
                                  " pg_stat_activity WHERE application_name = 'fs38-hub'"
                                  " AND pid <> pg_backend_pid()) t")
                      : NULL;
    int n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(x);
    usleep(200000); /* the backends exit */
    return n;
}

static int count_row(void *ctx, const hub_row *r) {
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int count_sight(void *ctx, const hub_sight_row *r) {
    (void)r;
    ++*(int *)ctx;
    return 0;
}

/* The server restarted since the last call: libpq learns it when a command
 * fails. Writes reconnected and went on; the first read on a connection
 * failed (a 503 on the hub, /health said the store was down) although the
 * server was back. */
static void t_pg_reconnect(const char *url) {
    if (strncmp(url, "postgres", 8) != 0) return;
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url, &s, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
    if (!s) return;
    char a[64];
    org(a, sizeof a, "reconnect");
    hub_pull_query q = query(a, 0);
    q.limit = 5;
    int n = 0;
    int64_t next = 0, v = 0;
    CHECK(pg_drop_hub_connections(url) >= 1);
    CHECK_MSG(hub_pull(s, &q, count_row, &n, &next, &e) == FS_OK, "[%s] pull after a restart: %s", BACKEND, e.msg);
    CHECK(pg_drop_hub_connections(url) >= 1);
    CHECK_MSG(hub_snapshot(s, &q.f, count_row, &n, &v, &e) == FS_OK, "[%s] snapshot after a restart: %s",
              BACKEND, e.msg);
    CHECK(pg_drop_hub_connections(url) >= 1);
    hub_sight_query sq = {.reader = S(a), .limit = 5};
    CHECK_MSG(hub_sightings_pull(s, &sq, count_sight, &n, &next, &e) == FS_OK,
              "[%s] sightings after a restart: %s", BACKEND, e.msg);
    CHECK(pg_drop_hub_connections(url) >= 1);
    CHECK_MSG(hub_store_last_seq(s, &v, &e) == FS_OK, "[%s] last seq after a restart: %s", BACKEND, e.msg);
    CHECK(pg_drop_hub_connections(url) >= 1);
    CHECK_MSG(hub_store_health(s, &e) == FS_OK, "[%s] health after a restart: %s", BACKEND, e.msg);
    hub_store_close(s);
}

static int stop_first(void *ctx, const hub_row *r) {
    (void)r;
    ++*(int *)ctx;
    return 1;
}

/* A read whose callback stops (a pull page at 4 MiB, a snapshot page) ends
 * there: PostgreSQL read and dropped every row left of its limit, so a page
 * of limit=10000 large events moved ~800 MB on the hub's event loop where
 * SQLite stops at once. A stop after one row takes a fraction of reading
 * all 300 (100 KB each), and the connection goes on with its next commands. */
static void t_stop_early(hub_store *s) {
    char a[64];
    org(a, sizeof a, "stop");
    int64_t start = last_seq(s);
    enum { N = 300, PER = 50, SIG = 100000 };
    char *big = malloc(SIG);
    ev *v = malloc(sizeof(ev) * PER);
    hub_item items[PER];
    hub_result r[PER];
    fs_err e = {0};
    if (!big || !v) goto out;
    uint32_t x = 1; /* JWS-like bytes PostgreSQL cannot compress */
    for (int i = 0; i < SIG; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(x >> 16) & 63];
    }
    for (int b = 0; b < N / PER; b++) {
        for (int i = 0; i < PER; i++) {
            char id[32];
            snprintf(id, sizeof id, "stop-%03d", b * PER + i);
            ev_init(&v[i], a, id, 1, "SIP_FLOOD", "amber");
            items[i] = v[i].it;
            items[i].signed_jws = fs_str_make(big, SIG);
        }
        CHECK_MSG(hub_publish(s, items, PER, T0, r, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
    }
    hub_pull_query q = query(a, start);
    q.f.issuer = S(a);
    q.limit = N;
    int64_t t_stop = INT64_MAX, t_all = INT64_MAX, next = 0, seq = 0;
    for (int k = 0; k < 3; k++) {
        int n1 = 0, n2 = 0;
        int64_t t0 = wall_ms();
        CHECK_MSG(hub_pull(s, &q, stop_first, &n1, &next, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
        int64_t t1 = wall_ms();
        /* the next command right behind the stopped read is not cancelled */
        CHECK_MSG(hub_store_last_seq(s, &seq, &e) == FS_OK, "[%s] after a stopped read: %s", BACKEND, e.msg);
        int64_t t2 = wall_ms();
        CHECK_MSG(hub_pull(s, &q, count_row, &n2, &next, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
        int64_t t3 = wall_ms();
        CHECK(n1 == 1 && n2 == N);
        if (t1 - t0 < t_stop) t_stop = t1 - t0;
        if (t3 - t2 < t_all) t_all = t3 - t2;
    }
    for (int k = 0; k < 20; k++) { /* stopped reads, each followed at once by a write */
        int n1 = 0;
        CHECK_MSG(hub_pull(s, &q, stop_first, &n1, &next, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
        ev one;
        char id[32];
        snprintf(id, sizeof id, "stop-w%02d", k);
        ev_init(&one, a, id, 1, "SIP_FLOOD", "amber");
        CHECK(publish1(s, &one.it, r) == FS_OK && r[0].verdict == HUB_STORED);
    }
    CHECK_MSG(t_stop * 2 < t_all, "[%s] a read stopped after 1 row took %lld ms, all %d rows %lld ms",
              BACKEND, (long long)t_stop, N, (long long)t_all);
out:
    free(big);
    free(v);
}

typedef struct rr_pub {
    hub_store *s;
    const hub_item *it;
    hub_result r;
    fs_code rc;
    fs_err e;
} rr_pub;

static void *rr_publish(void *p) {
    rr_pub *x = p;
    x->rc = hub_publish(x->s, x->it, 1, T0, &x->r, &x->e);
    return NULL;
}

/* Two hubs sharing one PostgreSQL database whose default isolation is
 * REPEATABLE READ: a writer waiting for the lock while the other revokes an
 * event (version 3) then publishes version 2 of it. Its snapshot was taken
 * when the wait began, so version 2 was stored (acknowledged) and the
 * revoked event was active again; it is a stale version. */
static void t_pg_isolation(const char *url) {
    if (strncmp(url, "postgres", 8) != 0) return;
    PGconn *adm = PQconnectdb(url);
    PGresult *x = PQexec(adm, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation"
                              " = ''repeatable read''', current_database()); END $$");
    bool altered = PQresultStatus(x) == PGRES_COMMAND_OK;
    PQclear(x);
    if (!altered) {
        printf("test_hub_store: [%s] cannot ALTER DATABASE (not its owner?): isolation check skipped\n", BACKEND);
        PQfinish(adm);
        return;
    }
    hub_store *s = NULL, *b = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url, &s, &e) == FS_OK && hub_store_open(url, &b, &e) == FS_OK, "[%s] %s", BACKEND, e.msg);
    char a[64];
    org(a, sizeof a, "rr");
    ev v1, v2;
    hub_result r;
    ev_init(&v1, a, "rr-1", 1, "IRSF", "amber");
    CHECK(s && b && publish1(s, &v1.it, &r) == FS_OK && r.verdict == HUB_STORED);
    /* the other hub's writer: version 3 revokes it, under the writer lock */
    PGconn *other = PQconnectdb(url);
    x = PQexec(other, "BEGIN; SELECT pg_advisory_xact_lock(1718825784)");
    CHECK(PQresultStatus(x) == PGRES_TUPLES_OK);
    PQclear(x);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (issuer, event_id, version, status, event_type, created_ms, valid_until_ms,"
             " tlp, publisher, received_ms, signed) VALUES ('%s', 'rr-1', 3, 1, 'IRSF', %lld, %lld, 'amber',"
             " '%s', %lld, '\\x41'); DELETE FROM active WHERE issuer = '%s' AND event_id = 'rr-1'",
             a, (long long)T0 - 1000, (long long)T0 + DAY_MS, a, (long long)T0, a);
    x = PQexec(other, sql);
    CHECK_MSG(PQresultStatus(x) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(x));
    PQclear(x);
    ev_init(&v2, a, "rr-1", 2, "IRSF", "amber");
    rr_pub p = {.s = b, .it = &v2.it};
    pthread_t th;
    bool started = b && pthread_create(&th, NULL, rr_publish, &p) == 0;
    usleep(300000); /* it waits for the lock */
    PQclear(PQexec(other, "COMMIT"));
    if (started) pthread_join(th, NULL);
    CHECK_MSG(started && p.rc == FS_OK && p.r.verdict == HUB_STALE_VERSION, "[%s] version 2 after version 3: %s",
              BACKEND, p.rc ? p.e.msg : hub_verdict_name(p.r.verdict));
    got g = {0};
    int64_t cursor = 0;
    hub_pull_query q = query(a, 0);
    q.f.issuer = S(a);
    CHECK(s && hub_snapshot(s, &q.f, collect, &g, &cursor, &e) == FS_OK);
    CHECK_MSG(g.n == 0, "[%s] the revoked event is in the active set again", BACKEND);
    got_free(&g);
    x = PQexec(adm, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET default_transaction_isolation',"
                    " current_database()); END $$");
    CHECK(PQresultStatus(x) == PGRES_COMMAND_OK);
    PQclear(x);
    PQfinish(other);
    PQfinish(adm);
    hub_store_close(b);
    hub_store_close(s);
}

/* A feedback event updated by its reporter counts once (its latest version);
 * revoked, it is withdrawn: the sightings it carried are no longer listed. */
static void t_sighting_versions(hub_store *s) {
    char a[64], b[64];
    org(a, sizeof a, "sv-a");
    org(b, sizeof b, "sv-b");
    ev ref, fb;
    hub_result r;
    fs_err e = {0};
    ev_init(&ref, a, "sv-ref", 1, "IRSF", "green");
    CHECK(publish1(s, &ref.it, &r) == FS_OK && r.verdict == HUB_STORED);
    hub_sighting sg = {.reporter = S(b), .ref_issuer = S(a), .ref_event_id = S("sv-ref"),
                       .kind = HUB_SIGHTING, .at_ms = T0, .count = 3};
    hub_verdict vd;
    int64_t seq = 0, next = -1;
    for (int ver = 1; ver <= 3; ver++) { /* v1 active, v2 active (count 5), v3 revoked */
        ev_init(&fb, b, "sv-fb", ver, "SIGHTING", "green");
        if (ver == 3) fb.it.status = HUB_REVOKED;
        CHECK(publish1(s, &fb.it, &r) == FS_OK && r.verdict == HUB_STORED);
        sg.event_seq = r.seq;
        sg.count = ver == 1 ? 3 : 5;
        CHECK(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK && vd == HUB_STORED);
        hub_sight_query q = {.reader = S(a), .ref_issuer = S(a), .ref_event_id = S("sv-ref"), .limit = 10};
        sjws g = {0};
        CHECK(hub_sightings_pull(s, &q, sjws_collect, &g, &next, &e) == FS_OK);
        CHECK_MSG(g.n == (ver == 3 ? 0 : 1), "[%s] after feedback version %d: %d sightings listed",
                  BACKEND, ver, g.n);
        if (ver < 3) CHECK(!strcmp(g.jws, fb.sig));
    }
}

/* Every string field carries SQL metacharacters and odd UTF-8. */
static void t_metachars(hub_store *s) {
    char iss[160], aud[160], eid[160];
    snprintf(iss, sizeof iss, "org:x'); DROP TABLE events;-- \"%%\\_*?1$1-%s", TAG);
    snprintf(aud, sizeof aud, "org:y' OR '1'='1 -- ;\\%% \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \x01\t\n-%s", TAG);
    snprintf(eid, sizeof eid, "id'\"; --\\%%\x7f\x1f ?2 $3 %%s %%n %s", TAG);
    const char *type = "TYPE'; DELETE FROM active; --\"\\%";
    const char *kind = "kind'\"--;\\%_";
    const char *value = "'; UPDATE events SET signed = x'00'; --\"\\%\xe2\x80\xae";
    const char *role = "role\"';--\\%";
    const char *sig = "eyJ'\";--\\%.payload'\"--.sig\\%;";
    int64_t start = last_seq(s);
    ev v;
    ev_init(&v, iss, eid, 1, type, "red");
    v.obs[0] = (hub_observable){S(kind), S(value), S(role)};
    v.aud[0] = S(aud);
    v.it.audience = v.aud;
    v.it.n_audience = 1;
    v.it.signed_jws = S(sig);
    hub_result r;
    CHECK(publish1(s, &v.it, &r) == FS_OK);
    CHECK_MSG(r.verdict == HUB_STORED, "%s", r.error);

    hub_pull_query q = query(aud, start);
    q.f.issuer = S(iss);
    q.f.types = (fs_str[]){S(type)};
    q.f.n_types = 1;
    q.f.obs_kind = S(kind);
    got g = {0};
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    if (g.n == 1) {
        CHECK(!strcmp(g.rows[0].issuer, iss));
        CHECK(!strcmp(g.rows[0].event_id, eid));
        CHECK(!strcmp(g.rows[0].type, type));
        CHECK(g.rows[0].sig_len == strlen(sig) && !memcmp(g.rows[0].sig, sig, strlen(sig)));
    }
    got_free(&g);
    /* The red event stays hidden from others; '%' is no wildcard. */
    char other[64];
    q.f.reader = S(org(other, sizeof other, "meta-other"));
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
    q.f.reader = S(aud);
    q.f.issuer = S("org:x'); DROP TABLE events;-- \"%");
    CHECK(pull_all(s, q, &g) == FS_OK);
    CHECK_EQ_INT(g.n, 0);
    got_free(&g);
    /* Replay of the odd one is recognised; the tables are all still there. */
    CHECK(publish1(s, &v.it, &r) == FS_OK);
    CHECK_EQ_INT(r.verdict, HUB_DUPLICATE);
    hub_sighting sg = {.reporter = S(aud), .ref_issuer = S(iss), .ref_event_id = S(eid),
                       .kind = HUB_SIGHTING, .at_ms = T0, .count = 1, .note = S(value)};
    hub_verdict vd;
    int64_t seq;
    fs_err e = {0};
    CHECK(hub_sighting_add(s, &sg, T0, &vd, &seq, &e) == FS_OK);
    CHECK_EQ_INT(vd, HUB_STORED);
    sgot sgt = {0};
    hub_sight_query sq = {.reader = S(aud), .ref_issuer = S(iss), .ref_event_id = S(eid), .limit = 5};
    int64_t next;
    CHECK(hub_sightings_pull(s, &sq, scollect, &sgt, &next, &e) == FS_OK);
    CHECK(sgt.n == 1 && !strcmp(sgt.note, value) && !strcmp(sgt.reporter, aud));
    CHECK_MSG(hub_store_health(s, &e) == FS_OK, "%s", e.msg);
    int64_t removed;
    CHECK(hub_sweep(s, T0, &removed, &e) == FS_OK);
    hub_filter f = {.reader = S(aud), .now_ms = T0, .issuer = S(iss)};
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK(g.n == 1 && g.n == 1 && !strcmp(g.rows[0].event_id, eid));
    got_free(&g);
}

static void t_bad_input(hub_store *s) {
    char a[64];
    org(a, sizeof a, "bad");
    int64_t start = last_seq(s);
    char *long_id = malloc(HUB_MAX_ID + 2);
    memset(long_id, 'i', HUB_MAX_ID + 1);
    long_id[HUB_MAX_ID + 1] = '\0';
    char *long_val = malloc(HUB_MAX_OBS_VALUE + 2);
    memset(long_val, 'v', HUB_MAX_OBS_VALUE + 1);
    long_val[HUB_MAX_OBS_VALUE + 1] = '\0';
    char *big_sig = malloc(HUB_MAX_SIGNED + 1);
    memset(big_sig, 's', HUB_MAX_SIGNED + 1);
    static fs_str many[HUB_MAX_AUDIENCE + 1];
    for (int i = 0; i <= HUB_MAX_AUDIENCE; i++) many[i] = S("org:m");

    enum { N = 12 };
    ev v[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "bad-%d", i);
        ev_init(&v[i], a, id, 1, "IRSF", "amber");
    }
    const char *want[N];
    v[0].it.issuer = S(long_id), v[0].it.publisher = S(long_id), want[0] = "issuer: 257 bytes, limit 256";
    v[1].obs[0].value = S(long_val), want[1] = "observables[0].value: 1025 bytes, limit 1024";
    v[2].it.signed_jws = fs_str_make(big_sig, HUB_MAX_SIGNED + 1), want[2] = "signed:";
    v[3].it.audience = many, v[3].it.n_audience = HUB_MAX_AUDIENCE + 1, want[3] = "audience: 257";
    v[4].it.event_id = S("bad-\xc3\x28"), want[4] = "event_id: not UTF-8";
    v[5].it.event_type = fs_str_make("IR\0SF", 5), want[5] = "event_type: not UTF-8 or contains NUL";
    v[6].it.tlp = S("RED"), want[6] = "tlp:";
    v[7].it.version = 0, want[7] = "version:";
    v[8].it.valid_until_ms = v[8].it.created_ms - 1, want[8] = "valid_until:";
    v[9].obs[0].kind = FS_STR_NULL, want[9] = "observables[0].kind: empty";
    v[10].it.event_type = S(long_id), want[10] = "event_type: 257 bytes, limit 64";
    want[11] = NULL; /* a good one in the same batch */
    hub_item items[N];
    for (int i = 0; i < N; i++) items[i] = v[i].it;
    hub_result r[N];
    fs_err e = {0};
    CHECK_MSG(hub_publish(s, items, N, T0, r, &e) == FS_OK, "%s", e.msg);
    for (int i = 0; i < N - 1; i++) {
        CHECK_MSG(r[i].verdict == HUB_INVALID, "item %d: %s", i, hub_verdict_name(r[i].verdict));
        CHECK_MSG(strstr(r[i].error, want[i]) != NULL, "item %d: '%s' lacks '%s'", i, r[i].error, want[i]);
    }
    CHECK_EQ_INT(r[N - 1].verdict, HUB_STORED);
    got g = {0};
    CHECK(pull_all(s, query(a, start), &g) == FS_OK);
    CHECK_EQ_INT(g.n, 1);
    got_free(&g);
    CHECK(hub_item_validate(&v[1].it, &e) == FS_ERR_LIMIT);

    /* Whole-call limits. */
    static hub_item huge[HUB_MAX_BATCH + 1];
    static hub_result hr[HUB_MAX_BATCH + 1];
    for (int i = 0; i <= HUB_MAX_BATCH; i++) huge[i] = v[11].it;
    CHECK(hub_publish(s, huge, HUB_MAX_BATCH + 1, T0, hr, &e) == FS_ERR_LIMIT);
    CHECK_MSG(strstr(e.msg, "10001 items, limit 10000") != NULL, "%s", e.msg);
    hub_pull_query q = query(a, start);
    int64_t next;
    q.limit = HUB_MAX_READ + 1; /* HUB_MAX_READ: the stream's backlog read, one more than a client's */
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_ERR_LIMIT);
    CHECK_MSG(strstr(e.msg, "limit") != NULL, "%s", e.msg);
    q.limit = 0;
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_ERR_LIMIT);
    q.limit = 10;
    q.f.n_types = HUB_MAX_FILTER_TYPES + 1;
    q.f.types = many;
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_ERR_LIMIT);
    CHECK_MSG(strstr(e.msg, "types") != NULL, "%s", e.msg);
    q.f.n_types = 0;
    q.f.reader = FS_STR_NULL;
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "reader") != NULL, "%s", e.msg);
    q.f.reader = S(a);
    q.f.issuer = S(long_id);
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_ERR_LIMIT);
    q.f.issuer = FS_STR_NULL;
    q.f.now_ms = 0;
    CHECK(hub_pull(s, &q, collect, &g, &next, &e) == FS_ERR_USAGE);
    CHECK_EQ_INT(g.n, 0);
    free(long_id);
    free(long_val);
    free(big_sig);
}

static void t_snapshot_stream(hub_store *s) {
    char a[64];
    org(a, sizeof a, "snap");
    enum { N = 300 };
    ev *v = malloc(sizeof(ev) * N);
    hub_item *items = malloc(sizeof(hub_item) * N);
    hub_result *r = malloc(sizeof(hub_result) * N);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "snap-%03d", i);
        ev_init(&v[i], a, id, 1 + i % 3, "SIP_SCANNER", "green");
        items[i] = v[i].it;
    }
    fs_err e = {0};
    CHECK(hub_publish(s, items, N, T0, r, &e) == FS_OK);
    got g = {0};
    g.stop_after = 10;
    hub_filter f = {.reader = S(a), .now_ms = T0, .issuer = S(a)};
    int64_t cursor = -1;
    CHECK(hub_snapshot(s, &f, collect, &g, &cursor, &e) == FS_OK);
    CHECK_EQ_INT(g.n, 10);
    got_free(&g);
    /* The store is still usable after an early stop. */
    CHECK(hub_snapshot(s, &f, collect, &g, &cursor, &e) == FS_OK);
    CHECK_EQ_INT(g.n, N);
    CHECK_EQ_INT(cursor, last_seq(s));
    bool ordered = true;
    for (size_t i = 1; i < g.n; i++) ordered &= g.rows[i].seq > g.rows[i - 1].seq;
    CHECK(ordered);
    /* In pages of 70 (the hub's GET /v1/snapshot): the same rows in the
     * same order, each page's cursor the last sequence, a short last page. */
    got p = {0};
    hub_pull_query q = {.f = f, .after = 0, .limit = 70};
    int pages = 0;
    size_t before;
    do {
        before = p.n;
        int64_t page_cursor = -1;
        CHECK(hub_snapshot_page(s, &q, collect, &p, &page_cursor, &e) == FS_OK);
        CHECK_EQ_INT(page_cursor, last_seq(s));
        if (p.n > before) q.after = p.rows[p.n - 1].seq;
        pages++;
    } while (p.n - before == 70 && pages < 20);
    CHECK_EQ_INT(pages, (N + 69) / 70);
    CHECK_EQ_INT(p.n, g.n);
    bool same = p.n == g.n;
    for (size_t i = 0; same && i < p.n; i++) same = p.rows[i].seq == g.rows[i].seq;
    CHECK(same);
    q.limit = 0;
    CHECK(hub_snapshot_page(s, &q, collect, &p, NULL, &e) == FS_ERR_LIMIT);
    got_free(&p);
    got_free(&g);
    free(v);
    free(items);
    free(r);
}

/* Several versions of one event in one batch: the latest decides the
 * active set, also across the PostgreSQL backend's 2000-item chunks. */
static void t_batch_active(hub_store *s) {
    char a[64];
    org(a, sizeof a, "bact");
    enum { N = 2500 };
    ev *v = malloc(sizeof(ev) * N);
    hub_item *items = malloc(sizeof(hub_item) * N);
    hub_result *r = malloc(sizeof(hub_result) * N);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "bact-%04d", i);
        ev_init(&v[i], a, id, 1, "IRSF", "amber");
    }
    /* Same key at several places: k1 active then revoked (both in chunk 1),
     * k2 revoked then active, k3 active then active with a later expiry,
     * X active in chunk 1 then revoked in chunk 2, Y revoked then active. */
    struct { int at; const char *id; int64_t ver; hub_status st; int64_t valid; } plan[] = {
        {0, "k1", 1, HUB_ACTIVE, 0}, {1, "k1", 2, HUB_REVOKED, 0},
        {2, "k2", 1, HUB_REVOKED, 0}, {3, "k2", 2, HUB_ACTIVE, 0},
        {4, "k3", 1, HUB_ACTIVE, 0}, {5, "k3", 2, HUB_ACTIVE, T0 + 3 * DAY_MS},
        {10, "X", 1, HUB_ACTIVE, 0}, {2400, "X", 2, HUB_REVOKED, 0},
        {11, "Y", 1, HUB_REVOKED, 0}, {2300, "Y", 2, HUB_ACTIVE, 0},
    };
    for (size_t p = 0; p < sizeof plan / sizeof plan[0]; p++) {
        ev *x = &v[plan[p].at];
        ev_init(x, a, plan[p].id, plan[p].ver, "IRSF", "amber");
        x->it.status = plan[p].st;
        if (plan[p].valid) x->it.valid_until_ms = plan[p].valid;
    }
    for (int i = 0; i < N; i++) items[i] = v[i].it;
    fs_err e = {0};
    CHECK_MSG(hub_publish(s, items, N, T0, r, &e) == FS_OK, "%s", e.msg);
    int stored = 0;
    for (int i = 0; i < N; i++) stored += r[i].verdict == HUB_STORED;
    CHECK_EQ_INT(stored, N);
    got g = {0};
    hub_filter f = {.reader = S(a), .now_ms = T0, .issuer = S(a)};
    CHECK(hub_snapshot(s, &f, collect, &g, NULL, &e) == FS_OK);
    CHECK_EQ_INT(g.n, N - 10 + 3); /* the 2490 singles, k2, k3, Y */
    CHECK(find(&g, "k1", 0) == NULL && find(&g, "X", 0) == NULL);
    const got_row *k2 = find(&g, "k2", 0), *k3 = find(&g, "k3", 0), *y = find(&g, "Y", 0);
    CHECK(k2 && k2->version == 2);
    CHECK(k3 && k3->version == 2 && k3->valid_until_ms == T0 + 3 * DAY_MS);
    CHECK(y && y->version == 2);
    got_free(&g);
    free(v);
    free(items);
    free(r);
}

static void t_timing(hub_store *s) {
    char a[64];
    org(a, sizeof a, "bench");
    enum { N = 5000 };
    ev *v = malloc(sizeof(ev) * N);
    hub_item *items = malloc(sizeof(hub_item) * N);
    hub_result *r = malloc(sizeof(hub_result) * N);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "bench-%05d", i);
        ev_init(&v[i], a, id, 1, "SIP_SCANNER", "amber");
        v[i].obs[1] = (hub_observable){S("sip_user_agent"), S("friendly-scanner"), S("tool")};
        v[i].it.n_obs = 2;
        items[i] = v[i].it;
    }
    fs_err e = {0};
    struct timespec t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fs_code rc = hub_publish(s, items, N, T0, r, &e);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    CHECK_MSG(rc == FS_OK, "%s", e.msg);
    int stored = 0;
    for (int i = 0; i < N; i++) stored += r[i].verdict == HUB_STORED;
    CHECK_EQ_INT(stored, N);
    double secs = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
    printf("test_hub_store: [%s] one durable batch of %d events in %.3f s = %.0f events/s "
           "(informational, this build)\n", BACKEND, N, secs, N / (secs > 0 ? secs : 1e-9));
    free(v);
    free(items);
    free(r);
}

/* ---- durability --------------------------------------------------------- */

#define BURST_BATCH 40

/* Publishes batches until an error or max_batches, writing one line
 * "seq event_id\n" per acknowledged item to fd, after the commit. */
static int burst(const char *url, int fd, int max_batches, const char *issuer) {
    hub_store *s = NULL;
    fs_err e = {0};
    if (hub_store_open(url, &s, &e) != FS_OK || hub_store_migrate(s, &e) != FS_OK) {
        fprintf(stderr, "burst: %s\n", e.msg);
        hub_store_close(s);
        return 2;
    }
    static ev v[BURST_BATCH];
    hub_item items[BURST_BATCH];
    hub_result r[BURST_BATCH];
    int rc = 0;
    for (int b = 0; b < max_batches; b++) {
        for (int i = 0; i < BURST_BATCH; i++) {
            char id[64];
            snprintf(id, sizeof id, "burst-%d-%06d", (int)getpid(), b * BURST_BATCH + i);
            ev_init(&v[i], issuer, id, 1, "SIP_FLOOD", "amber");
            items[i] = v[i].it;
        }
        if (hub_publish(s, items, BURST_BATCH, T0, r, &e) != FS_OK) {
            fprintf(stderr, "burst: stopped after %d batches: %s\n", b, e.msg);
            rc = 3;
            break;
        }
        for (int i = 0; i < BURST_BATCH; i++) {
            if (r[i].verdict != HUB_STORED) continue;
            char line[128];
            int n = snprintf(line, sizeof line, "%lld %s\n", (long long)r[i].seq, v[i].eid);
            if (write(fd, line, (size_t)n) != n) { rc = 4; break; } /* one line < PIPE_BUF: atomic */
        }
        if (rc) break;
    }
    hub_store_close(s);
    return rc;
}

/* Checks every "seq event_id" line of buf: present once, same seq, bytes
 * identical. Returns the number of acknowledged items checked. */
static int verify_acks(hub_store *s, const char *issuer, char *buf, int64_t after) {
    got g = {0};
    hub_pull_query q = query(issuer, after);
    q.f.issuer = S(issuer);
    q.limit = 5000;
    CHECK(pull_all(s, q, &g) == FS_OK);
    int acks = 0, missing = 0, wrong = 0, dups = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        long long seq;
        char id[64];
        if (sscanf(line, "%lld %63s", &seq, id) != 2) { wrong++; continue; }
        acks++;
        int found = 0;
        for (size_t i = 0; i < g.n; i++) {
            if (strcmp(g.rows[i].event_id, id)) continue;
            found++;
            char want[512];
            make_sig(want, sizeof want, id, 1);
            if (g.rows[i].seq != seq || strcmp(g.rows[i].sig, want)) wrong++;
        }
        if (found == 0) missing++;
        if (found > 1) dups++;
    }
    /* Nothing in the store twice either (acknowledged or not). */
    for (size_t i = 1; i < g.n; i++)
        for (size_t j = i < 200 ? 0 : i - 200; j < i; j++)
            if (!strcmp(g.rows[i].event_id, g.rows[j].event_id)) dups++;
    CHECK_MSG(missing == 0, "[%s] %d acknowledged events missing", BACKEND, missing);
    CHECK_MSG(dups == 0, "[%s] %d duplicated", BACKEND, dups);
    CHECK_MSG(wrong == 0, "[%s] %d with wrong seq/bytes", BACKEND, wrong);
    CHECK_MSG((size_t)acks <= g.n, "[%s] %d acks, %zu stored", BACKEND, acks, g.n);
    got_free(&g);
    return acks;
}

/* A child publishes in a loop; kill -9 it mid-burst; every event it was
 * told is stored must be there exactly once. */
static void t_kill9(const char *url) {
    char issuer[64];
    org(issuer, sizeof issuer, "kill9");
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK(hub_store_open(url, &s, &e) == FS_OK);
    if (!s) return;
    int64_t start = last_seq(s);
    hub_store_close(s); /* the child must not inherit a live connection */
    s = NULL;
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(burst(url, fds[1], 2000, issuer));
    }
    close(fds[1]);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    int lines = 0;
    bool killed = false;
    /* Read until enough acknowledgements, then kill without warning. */
    while (len < cap) {
        ssize_t n = read(fds[0], buf + len, cap - len);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) lines += buf[len + (size_t)i] == '\n';
        len += (size_t)n;
        if (!killed && lines >= 12 * BURST_BATCH) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    buf[len] = '\0';
    CHECK_MSG(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "[%s] child not killed mid-burst (status %d)", BACKEND, status);
    /* Reopen as a restarted hub would. */
    CHECK(hub_store_open(url, &s, &e) == FS_OK);
    if (!s) { free(buf); return; }
    CHECK_MSG(hub_store_health(s, &e) == FS_OK, "%s", e.msg);
    int acks = verify_acks(s, issuer, buf, start);
    CHECK(acks >= 12 * BURST_BATCH);
    printf("test_hub_store: [%s] kill -9 after %d acknowledged events: all present once\n",
           BACKEND, acks);
    /* Still writable after the crash. */
    ev v;
    hub_result r;
    ev_init(&v, issuer, "after-crash", 1, "IRSF", "amber");
    CHECK(publish1(s, &v.it, &r) == FS_OK && r.verdict == HUB_STORED);
    hub_store_close(s);
    free(buf);
}

/* A database migrated by a newer fs38: every operation refuses it, and the
 * message must not advise a migration (which cannot go down). */
static void t_newer_schema(const char *dir) {
    char path[160], url[192];
    snprintf(path, sizeof path, "%s/newer.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK(hub_store_open(url, &s, &e) == FS_OK && hub_store_migrate(s, &e) == FS_OK);
    hub_store_close(s);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (99, 'future', 0)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    CHECK(hub_store_open(url, &s, &e) == FS_OK);
    int64_t seq = 0;
    if (s) CHECK(hub_store_last_seq(s, &seq, &e) == FS_ERR_CONFIG);
    CHECK_MSG(strstr(e.msg, "newer") != NULL && strstr(e.msg, "run the migration") == NULL, "%s", e.msg);
    hub_store_close(s);
    static const char *const files[] = {"newer.db", "newer.db-wal", "newer.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
}

static void run_suite(const char *url, const char *label) {
    BACKEND = label;
    int failed_before = check_failed;
    t_migrate(url);
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url, &s, &e) == FS_OK, "[%s] %s", label, e.msg);
    if (!s) return;
    CHECK(!strcmp(hub_store_backend(s), label));
    t_roundtrip(s);
    t_cursor(s);
    t_cursor_skips(s);
    t_replay_versions(s);
    t_revoke(s);
    t_revoke_expiry(s);
    t_expiry(s);
    t_sweep_chunks(s);
    t_filters(s);
    t_tlp(s);
    t_sightings(s);
    t_sighting_jws(s);
    t_sighting_versions(s);
    t_metachars(s);
    t_bad_input(s);
    t_snapshot_stream(s);
    t_batch_active(s);
    t_timing(s);
    t_stop_early(s);
    hub_store_close(s);
    t_sweep_vs_apply(url);
    t_apply_sighting(url);
    t_pg_reconnect(url);
    t_pg_isolation(url);
    t_lock_timeout(url);
    t_fsync_off(url);
    t_kill9(url);
    printf("test_hub_store: [%s] suite done, %d failures\n", label, check_failed - failed_before);
}

static void t_urls(void) {
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK(hub_store_open("mysql://x", &s, &e) == FS_ERR_CONFIG && !s);
    CHECK_MSG(strstr(e.msg, "sqlite:PATH") != NULL, "%s", e.msg);
    CHECK(hub_store_open("sqlite:", &s, &e) == FS_ERR_CONFIG);
    CHECK(hub_store_open("", &s, &e) == FS_ERR_CONFIG);
    CHECK(hub_store_open("sqlite:/tmp/x\n.db", &s, &e) == FS_ERR_CONFIG);
    CHECK(hub_store_open("sqlite:/nonexistent-dir/x/hub.db", &s, &e) == FS_ERR_IO);
    CHECK_MSG(strstr(e.msg, "cannot open") != NULL, "%s", e.msg);
    /* A refused connection names the backend, never the password. */
    CHECK(hub_store_open("postgresql://u:s3cret@127.0.0.1:1/db", &s, &e) == FS_ERR_IO);
    CHECK_MSG(strstr(e.msg, "postgresql") != NULL && strstr(e.msg, "s3cret") == NULL, "%s", e.msg);
    /* A file that is no database fails at the first pragma, not at open: the
     * message named no file ("sqlite store: set WAL mode: file is not a database"). */
    char junk[] = "/tmp/fs38_hub_junk_XXXXXX";
    int fd = mkstemp(junk);
    CHECK(fd >= 0 && write(fd, "this is not an SQLite database, it is text\n", 43) == 43);
    if (fd >= 0) close(fd);
    char junk_url[64];
    snprintf(junk_url, sizeof junk_url, "sqlite:%s", junk);
    CHECK(hub_store_open(junk_url, &s, &e) == FS_ERR_IO && !s);
    CHECK_MSG(strstr(e.msg, junk) && strstr(e.msg, "not a database"), "%s", e.msg);
    unlink(junk);
    CHECK(hub_store_open("sqlite::memory:", &s, &e) == FS_OK);
    CHECK(s && hub_store_migrate(s, &e) == FS_OK);
    hub_store_close(s);
    CHECK(!strcmp(hub_verdict_name(HUB_STALE_VERSION), "stale_version"));
}

static int main_burst(const char *url) {
    T0 = 1700000000000LL; /* fixed: verify rebuilds the same items */
    snprintf(TAG, sizeof TAG, "crash");
    char issuer[64];
    org(issuer, sizeof issuer, "pgcrash");
    setvbuf(stdout, NULL, _IONBF, 0);
    return burst(url, STDOUT_FILENO, 1000000, issuer);
}

static int main_verify(const char *url, const char *file) {
    T0 = 1700000000000LL;
    snprintf(TAG, sizeof TAG, "crash");
    BACKEND = "verify";
    char issuer[64];
    org(issuer, sizeof issuer, "pgcrash");
    size_t len = 0;
    char *buf = check_read_file(file, &len);
    CHECK(buf != NULL);
    hub_store *s = NULL;
    fs_err e = {0};
    CHECK_MSG(hub_store_open(url, &s, &e) == FS_OK, "%s", e.msg);
    if (buf && s) {
        char *z = realloc(buf, len + 1);
        buf = z;
        buf[len] = '\0';
        CHECK_MSG(hub_store_health(s, &e) == FS_OK, "%s", e.msg);
        int acks = verify_acks(s, issuer, buf, 0);
        CHECK(acks > 0);
        printf("test_hub_store_verify: %d acknowledged events checked\n", acks);
    }
    hub_store_close(s);
    free(buf);
    return check_done("test_hub_store_verify");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "burst")) return main_burst(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "verify")) return main_verify(argv[2], argv[3]);
    T0 = wall_ms();
    snprintf(TAG, sizeof TAG, "%d-%lld", (int)getpid(), (long long)T0);

    t_urls();
    char dir[] = "/tmp/fs38_hub_store_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/hub.db", dir);
    run_suite(url, "sqlite");
    t_newer_schema(dir);
    const char *pg = getenv("FS38_TEST_PG_URL");
    if (pg && *pg) run_suite(pg, "postgresql");
    else printf("test_hub_store: FS38_TEST_PG_URL not set, PostgreSQL suite skipped "
                "(tests/cli/test_hub_store_pg.sh runs it)\n");

    char path[192];
    static const char *const files[] = {"hub.db", "hub.db-wal", "hub.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return check_done("test_hub_store");
}
