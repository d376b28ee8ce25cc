/*
 * hub_store.c -- the backend-independent half of the hub store.
 *
 * Owns: URL parsing and backend dispatch, input validation (every bound on
 * a string or count is checked here, before anything is bound), the
 * publish verdicts (NOT_ISSUER / DUPLICATE / STALE_VERSION, including
 * several versions of one event inside one batch), the migration driver.
 * Must not touch: SQL execution (the backends do), JSON, signatures.
 *
 * Publish runs in three steps inside one write transaction: validate each
 * item; ask the backend for what it holds of every remaining
 * (issuer, event_id) (one round trip per chunk on PostgreSQL); decide here,
 * in item order, with a small hash of what this batch already stored; then
 * let the backend insert the STORED ones and commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_store_int.h"

/* ---- small helpers ------------------------------------------------------- */

/* True when none of the 8 bytes at p is NUL or above 0x7F. */
static bool ascii8_no_nul(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    return ((w | ((w - ones) & ~w)) & highs) == 0;
}

bool hub_utf8_ok(fs_str s) {
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0, n = s.len;
    while (i < n) {
        if (n - i >= 8 && ascii8_no_nul(p + i)) { /* signed JWS are all ASCII */
            i += 8;
            continue;
        }
        unsigned c = p[i];
        if (c == 0) return false;
        if (c < 0x80) { i++; continue; }
        size_t k;
        unsigned min;
        if ((c & 0xE0) == 0xC0) { k = 1; min = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; min = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; min = 0x10000; c &= 0x07; }
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return false;
            c = (c << 6) | (p[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
        i += k + 1;
    }
    return true;
}

fs_code hub_be_fail(fs_err *e, const char *backend, const char *what, const char *detail) {
    char d[300];
    snprintf(d, sizeof d, "%s", detail ? detail : "");
    size_t n = strlen(d);
    while (n && (d[n - 1] == '\n' || d[n - 1] == ' ')) d[--n] = '\0';
    for (size_t i = 0; i < n; i++) /* libpq messages span lines: keep one */
        if (d[i] == '\n' || d[i] == '\t') d[i] = ' ';
    return fs_fail(e, FS_ERR_IO, "%s store: %s: %s", backend, what, d);
}

/* Checks a string field: length within [min, max], UTF-8 without NUL. */
static fs_code check_str(fs_err *e, const char *field, fs_str s, size_t min, size_t max) {
    if (s.len < min) return fs_fail(e, FS_ERR_FORMAT, "%s: empty", field);
    if (s.len > max)
        return fs_fail(e, FS_ERR_LIMIT, "%s: %u bytes, limit %zu", field, (unsigned)s.len, max);
    if (s.len && !s.p) return fs_fail(e, FS_ERR_FORMAT, "%s: no data", field);
    if (!hub_utf8_ok(s)) return fs_fail(e, FS_ERR_FORMAT, "%s: not UTF-8 or contains NUL", field);
    return FS_OK;
}

static bool tlp_known(fs_str t) {
    static const char *const names[] = {"clear", "green", "amber", "amber+strict", "red"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (fs_str_eq_cstr(t, names[i])) return true;
    return false;
}

const char *hub_verdict_name(hub_verdict v) {
    switch (v) {
    case HUB_STORED: return "stored";
    case HUB_DUPLICATE: return "duplicate";
    case HUB_STALE_VERSION: return "stale_version";
    case HUB_NOT_ISSUER: return "not_issuer";
    case HUB_INVALID: return "invalid";
    case HUB_UNKNOWN_REF: return "unknown_ref";
    }
    return "unknown";
}

bool hub_visible_to(fs_str tlp, fs_str issuer, const fs_str *audience, size_t n_audience,
                    fs_str reader) {
    if (!fs_str_eq_cstr(tlp, "red")) return true;
    if (fs_str_eq(issuer, reader)) return true;
    for (size_t i = 0; i < n_audience; i++)
        if (fs_str_eq(audience[i], reader)) return true;
    return false;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- open / close ---------------------------------------------------------- */

fs_code hub_store_open(const char *url, hub_store **out, fs_err *e) {
    *out = NULL;
    if (!url || !*url) return fs_fail(e, FS_ERR_CONFIG, "store URL: empty");
    size_t n = strnlen(url, HUB_MAX_URL + 1);
    if (n > HUB_MAX_URL)
        return fs_fail(e, FS_ERR_CONFIG, "store URL: longer than %d bytes", HUB_MAX_URL);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f)
            return fs_fail(e, FS_ERR_CONFIG, "store URL: control character at byte %zu", i);

    const hub_backend_ops *ops;
    const char *target;
    if (strncmp(url, "sqlite:", 7) == 0) {
        ops = &hub_sqlite_ops;
        target = url + 7;
        if (!*target) return fs_fail(e, FS_ERR_CONFIG, "store URL: 'sqlite:' needs a file path");
    } else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        ops = &hub_pg_ops;
        target = url;
    } else {
        return fs_fail(e, FS_ERR_CONFIG,
                       "store URL: unknown scheme, want sqlite:PATH or postgresql://USER@HOST:PORT/DB");
    }
    hub_store *s = calloc(1, sizeof *s);
    if (!s) return fs_fail(e, FS_ERR_NOMEM, "store: out of memory");
    s->ops = ops;
    fs_code rc = ops->open(s, target, e);
    if (rc != FS_OK) {
        free(s);
        return rc;
    }
    int applied;
    rc = ops->schema_read(s, &s->schema_version, &applied, e);
    if (rc != FS_OK) {
        ops->close(s);
        free(s);
        return rc;
    }
    *out = s;
    return FS_OK;
}

void hub_store_close(hub_store *s) {
    if (!s) return;
    s->ops->close(s);
    free(s);
}

const char *hub_store_backend(const hub_store *s) { return s->ops->name; }

/* Operations need the current schema; re-read once in case another process
 * migrated since we opened. */
static fs_code need_schema(hub_store *s, fs_err *e) {
    if (s->schema_version == HUB_SCHEMA_VERSION) return FS_OK;
    int applied;
    fs_code rc = s->ops->schema_read(s, &s->schema_version, &applied, e);
    if (rc != FS_OK) return rc;
    /* A newer schema cannot be migrated down: the advice is to upgrade. */
    if (s->schema_version > HUB_SCHEMA_VERSION)
        return fs_fail(e, FS_ERR_CONFIG,
                       "%s store: schema at version %d is newer than this fs38 knows (%d): upgrade fs38",
                       s->ops->name, s->schema_version, HUB_SCHEMA_VERSION);
    if (s->schema_version != HUB_SCHEMA_VERSION)
        return fs_fail(e, FS_ERR_CONFIG,
                       "%s store: schema at version %d, this fs38 needs %d: run the migration",
                       s->ops->name, s->schema_version, HUB_SCHEMA_VERSION);
    return FS_OK;
}

/* ---- migrations ------------------------------------------------------------ */

/* One step: under the writer lock, re-read the version (another hub may have
 * just applied it), apply migration version+1 and record it, commit. */
static fs_code migrate_step(hub_store *s, int target, bool *done, fs_err *e) {
    const hub_backend_ops *o = s->ops;
    fs_code rc = o->begin_write(s, e);
    if (rc != FS_OK) return rc;
    int v = 0, applied = 0;
    rc = o->exec_script(s, o == &hub_pg_ops ? hub_sql_migrations_table_pg
                                            : hub_sql_migrations_table_sqlite, e);
    if (rc == FS_OK) rc = o->schema_read(s, &v, &applied, e);
    if (rc == FS_OK && v > HUB_SCHEMA_VERSION)
        rc = fs_fail(e, FS_ERR_CONFIG,
                     "%s store: schema version %d is newer than this fs38 knows (%d)",
                     o->name, v, HUB_SCHEMA_VERSION);
    if (rc == FS_OK && applied != v)
        rc = fs_fail(e, FS_ERR_INTERNAL,
                     "%s store: schema_migrations holds %d rows for version %d", o->name,
                     applied, v);
    if (rc == FS_OK && v >= target) {
        *done = true;
        s->schema_version = v;
        return o->commit(s, e);
    }
    if (rc == FS_OK) {
        const hub_migration *m = &hub_migrations[v];
        rc = o->exec_script(s, o == &hub_pg_ops ? m->pg_sql : m->sqlite_sql, e);
        if (rc == FS_OK) rc = o->schema_record(s, m, wall_ms(), e);
        if (rc == FS_OK) rc = o->commit(s, e);
        if (rc == FS_OK) {
            s->schema_version = m->version;
            return FS_OK;
        }
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e ? e->msg : "");
        o->rollback(s);
        return fs_fail(e, rc, "migration %d (%s): %s", m->version, m->name, msg);
    }
    o->rollback(s);
    return rc;
}

fs_code hub_store_migrate_to(hub_store *s, int target, fs_err *e) {
    if (target < 1 || target > HUB_SCHEMA_VERSION)
        return fs_fail(e, FS_ERR_USAGE, "migrate: target %d outside 1..%d", target,
                       HUB_SCHEMA_VERSION);
    bool done = false;
    for (int step = 0; step <= HUB_SCHEMA_VERSION && !done; step++) {
        fs_code rc = migrate_step(s, target, &done, e);
        if (rc != FS_OK) return rc;
    }
    return done ? FS_OK : fs_fail(e, FS_ERR_INTERNAL, "migrate: did not converge");
}

fs_code hub_store_migrate(hub_store *s, fs_err *e) {
    return hub_store_migrate_to(s, HUB_SCHEMA_VERSION, e);
}

fs_code hub_store_schema_version(hub_store *s, int *version, int *applied, fs_err *e) {
    fs_code rc = s->ops->schema_read(s, version, applied, e);
    if (rc == FS_OK) s->schema_version = *version;
    return rc;
}

fs_code hub_store_health(hub_store *s, fs_err *e) {
    fs_code rc = s->ops->ping(s, e);
    if (rc != FS_OK) return rc;
    int v, applied;
    rc = hub_store_schema_version(s, &v, &applied, e);
    if (rc != FS_OK) return rc;
    if (v != HUB_SCHEMA_VERSION || applied != v)
        return fs_fail(e, FS_ERR_CONFIG, "%s store: schema version %d (%d rows), want %d",
                       s->ops->name, v, applied, HUB_SCHEMA_VERSION);
    return FS_OK;
}

fs_code hub_store_last_seq(hub_store *s, int64_t *seq, fs_err *e) {
    fs_code rc = need_schema(s, e);
    return rc != FS_OK ? rc : s->ops->last_seq(s, seq, e);
}

/* ---- validation ------------------------------------------------------------ */

fs_code hub_item_validate(const hub_item *it, fs_err *e) {
    fs_code rc;
    char f[64];
    if ((rc = check_str(e, "issuer", it->issuer, 1, HUB_MAX_ID))) return rc;
    if ((rc = check_str(e, "event_id", it->event_id, 1, HUB_MAX_ID))) return rc;
    if ((rc = check_str(e, "publisher", it->publisher, 1, HUB_MAX_ID))) return rc;
    if (it->version < 1) return fs_fail(e, FS_ERR_FORMAT, "version: %lld, must be >= 1", (long long)it->version);
    if (it->status != HUB_ACTIVE && it->status != HUB_REVOKED)
        return fs_fail(e, FS_ERR_FORMAT, "status: %d is not active or revoked", (int)it->status);
    if ((rc = check_str(e, "event_type", it->event_type, 1, HUB_MAX_TYPE))) return rc;
    if (it->created_ms < 0) return fs_fail(e, FS_ERR_FORMAT, "created: before 1970");
    if (it->valid_until_ms < it->created_ms)
        return fs_fail(e, FS_ERR_FORMAT, "valid_until: before created");
    if (!tlp_known(it->tlp))
        return fs_fail(e, FS_ERR_FORMAT, "tlp: not one of clear, green, amber, amber+strict, red");
    if (it->n_audience > HUB_MAX_AUDIENCE)
        return fs_fail(e, FS_ERR_LIMIT, "audience: %zu members, limit %d", it->n_audience, HUB_MAX_AUDIENCE);
    if (it->n_audience && !it->audience) return fs_fail(e, FS_ERR_FORMAT, "audience: no data");
    for (size_t i = 0; i < it->n_audience; i++) {
        snprintf(f, sizeof f, "audience[%zu]", i);
        if ((rc = check_str(e, f, it->audience[i], 1, HUB_MAX_ID))) return rc;
    }
    if (it->n_obs > HUB_MAX_OBS)
        return fs_fail(e, FS_ERR_LIMIT, "observables: %zu, limit %d", it->n_obs, HUB_MAX_OBS);
    if (it->n_obs && !it->obs) return fs_fail(e, FS_ERR_FORMAT, "observables: no data");
    for (size_t i = 0; i < it->n_obs; i++) {
        snprintf(f, sizeof f, "observables[%zu].kind", i);
        if ((rc = check_str(e, f, it->obs[i].kind, 1, HUB_MAX_OBS_KIND))) return rc;
        snprintf(f, sizeof f, "observables[%zu].value", i);
        if ((rc = check_str(e, f, it->obs[i].value, 1, HUB_MAX_OBS_VALUE))) return rc;
        snprintf(f, sizeof f, "observables[%zu].role", i);
        if ((rc = check_str(e, f, it->obs[i].role, 0, HUB_MAX_OBS_ROLE))) return rc;
    }
    if (it->signed_jws.len == 0 || !it->signed_jws.p)
        return fs_fail(e, FS_ERR_FORMAT, "signed: empty");
    if (it->signed_jws.len > HUB_MAX_SIGNED)
        return fs_fail(e, FS_ERR_LIMIT, "signed: %u bytes, limit %d",
                       (unsigned)it->signed_jws.len, HUB_MAX_SIGNED);
    return FS_OK;
}

static fs_code check_filter(const hub_filter *f, fs_err *e) {
    fs_code rc;
    char name[32];
    if ((rc = check_str(e, "reader", f->reader, 1, HUB_MAX_ID))) return rc;
    if (f->now_ms <= 0) return fs_fail(e, FS_ERR_USAGE, "now: must be set");
    if (f->n_types > HUB_MAX_FILTER_TYPES)
        return fs_fail(e, FS_ERR_LIMIT, "types: %zu, limit %d", f->n_types, HUB_MAX_FILTER_TYPES);
    if (f->n_types && !f->types) return fs_fail(e, FS_ERR_USAGE, "types: no data");
    for (size_t i = 0; i < f->n_types; i++) {
        snprintf(name, sizeof name, "types[%zu]", i);
        if ((rc = check_str(e, name, f->types[i], 1, HUB_MAX_TYPE))) return rc;
    }
    if ((rc = check_str(e, "issuer", f->issuer, 0, HUB_MAX_ID))) return rc;
    if ((rc = check_str(e, "observable kind", f->obs_kind, 0, HUB_MAX_OBS_KIND))) return rc;
    if (f->since_ms < 0) return fs_fail(e, FS_ERR_USAGE, "since: negative");
    return FS_OK;
}

static fs_code check_limit(int limit, int64_t after, fs_err *e) {
    if (limit < 1 || limit > HUB_MAX_READ)
        return fs_fail(e, FS_ERR_LIMIT, "limit: %d outside 1..%d", limit, HUB_MAX_READ);
    if (after < 0) return fs_fail(e, FS_ERR_USAGE, "after: negative cursor");
    return FS_OK;
}

/* ---- publish ----------------------------------------------------------------- */

/* In-batch index: items already judged STORED, chained by (issuer, event_id). */
typedef struct batch_index {
    size_t cap;      /* power of two */
    int32_t *head;   /* slot -> first item index, -1 empty */
    int32_t *next;   /* item -> next item with the same key, -1 end */
} batch_index;

static uint64_t key_hash(const hub_item *it) {
    uint64_t h = fs_hash_bytes(it->issuer.p, it->issuer.len, 0x66733338);
    return fs_hash_bytes(it->event_id.p, it->event_id.len, h);
}

static bool same_key(const hub_item *a, const hub_item *b) {
    return fs_str_eq(a->issuer, b->issuer) && fs_str_eq(a->event_id, b->event_id);
}

/* Decides item i against the database (look) and the earlier items of this
 * batch; on STORED links it into the index. *dup_of = earlier item holding
 * the same version, -1 if none. */
static void decide(const hub_item *items, hub_result *res, size_t i, const hub_lookup *look,
                   batch_index *ix, int32_t *dup_of) {
    const hub_item *it = &items[i];
    int64_t held = look->max_version;
    int32_t dup = -1;
    size_t slot = key_hash(it) & (ix->cap - 1);
    /* Open addressing over keys; each slot's chain holds one key only. */
    while (ix->head[slot] >= 0 && !same_key(&items[ix->head[slot]], it))
        slot = (slot + 1) & (ix->cap - 1);
    for (int32_t j = ix->head[slot]; j >= 0; j = ix->next[j]) {
        if (items[j].version > held) held = items[j].version;
        if (items[j].version == it->version) dup = j;
    }
    hub_result *r = &res[i];
    *dup_of = -1;
    if (look->dup_seq > 0 || dup >= 0) {
        r->verdict = HUB_DUPLICATE;
        r->seq = look->dup_seq;
        r->held_version = held;
        *dup_of = look->dup_seq > 0 ? -1 : dup;
        snprintf(r->error, sizeof r->error, "version %lld of this event is already held",
                 (long long)it->version);
    } else if (it->version <= held) {
        r->verdict = HUB_STALE_VERSION;
        r->held_version = held;
        snprintf(r->error, sizeof r->error, "version %lld is not newer than version %lld held",
                 (long long)it->version, (long long)held);
    } else {
        r->verdict = HUB_STORED;
        r->held_version = held;
        ix->next[i] = ix->head[slot];
        ix->head[slot] = (int32_t)i;
    }
}

static void prejudge(const hub_item *it, hub_result *r) {
    fs_err ve;
    memset(r, 0, sizeof *r);
    if (hub_item_validate(it, &ve) != FS_OK) {
        r->verdict = HUB_INVALID;
        snprintf(r->error, sizeof r->error, "%.199s", ve.msg);
    } else if (!fs_str_eq(it->publisher, it->issuer)) {
        r->verdict = HUB_NOT_ISSUER;
        snprintf(r->error, sizeof r->error,
                 "publisher is not the event's issuer: only the issuer may publish, update or revoke");
    } else {
        r->verdict = HUB_STORED; /* pending: lookup and decide */
    }
}

/* The per-batch working memory of publish and apply: the in-batch index,
 * the database lookups, and which earlier item a duplicate repeats. */
typedef struct batch_judge {
    batch_index ix;
    hub_lookup *look;
    int32_t *dup_of;
} batch_judge;

/* Cheap checks of every item; returns how many are still candidates. */
static size_t prejudge_all(const hub_item *items, hub_result *res, size_t n) {
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        prejudge(&items[i], &res[i]);
        pending += res[i].verdict == HUB_STORED;
    }
    return pending;
}

static fs_code judge_init(batch_judge *b, size_t n, const char *what, fs_err *e) {
    memset(b, 0, sizeof *b);
    b->ix.cap = 16;
    while (b->ix.cap < 2 * n) b->ix.cap <<= 1;
    b->look = calloc(n, sizeof *b->look);
    b->dup_of = malloc(n * sizeof *b->dup_of);
    b->ix.head = malloc(b->ix.cap * sizeof *b->ix.head);
    b->ix.next = malloc(n * sizeof *b->ix.next);
    if (!b->look || !b->dup_of || !b->ix.head || !b->ix.next)
        return fs_fail(e, FS_ERR_NOMEM, "%s: out of memory for %zu items", what, n);
    memset(b->ix.head, 0xff, b->ix.cap * sizeof *b->ix.head);
    return FS_OK;
}

/* Item i against the database and the earlier items (see decide). */
static void judge_item(batch_judge *b, const hub_item *items, hub_result *res, size_t i) {
    b->dup_of[i] = -1;
    if (res[i].verdict == HUB_STORED) decide(items, res, i, &b->look[i], &b->ix, &b->dup_of[i]);
}

/* After the commit: a replay of an item stored earlier in this batch gets its seq. */
static void judge_copy_dup_seqs(const batch_judge *b, hub_result *res, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (res[i].verdict == HUB_DUPLICATE && b->dup_of[i] >= 0) res[i].seq = res[b->dup_of[i]].seq;
}

static void judge_free(batch_judge *b) {
    free(b->look);
    free(b->dup_of);
    free(b->ix.head);
    free(b->ix.next);
}

fs_code hub_publish(hub_store *s, const hub_item *items, size_t n, int64_t now_ms,
                    hub_result *res, fs_err *e) {
    if (n > HUB_MAX_BATCH)
        return fs_fail(e, FS_ERR_LIMIT, "publish: %zu items, limit %d per batch", n, HUB_MAX_BATCH);
    if (n == 0) return FS_OK;
    if (!items || !res) return fs_fail(e, FS_ERR_USAGE, "publish: no items");
    fs_code rc = need_schema(s, e);
    if (rc != FS_OK) return rc;

    if (prejudge_all(items, res, n) == 0) return FS_OK;
    batch_judge b;
    rc = judge_init(&b, n, "publish", e);
    if (rc == FS_OK) rc = s->ops->begin_write(s, e);
    if (rc != FS_OK) goto out;
    rc = s->ops->lookup(s, items, res, n, b.look, e);
    if (rc == FS_OK) {
        for (size_t i = 0; i < n; i++) judge_item(&b, items, res, i);
        rc = s->ops->insert(s, items, res, n, now_ms, e);
    }
    if (rc == FS_OK) rc = s->ops->commit(s, e);
    else s->ops->rollback(s);
    if (rc == FS_OK) judge_copy_dup_seqs(&b, res, n);
out:
    judge_free(&b);
    return rc;
}

fs_code hub_judge(hub_store *s, const hub_item *items, size_t n, hub_result *res, fs_err *e) {
    if (n > HUB_MAX_BATCH)
        return fs_fail(e, FS_ERR_LIMIT, "judge: %zu items, limit %d per batch", n, HUB_MAX_BATCH);
    if (n == 0) return FS_OK;
    fs_code rc = need_schema(s, e);
    if (rc != FS_OK || prejudge_all(items, res, n) == 0) return rc;
    batch_judge b;
    rc = judge_init(&b, n, "judge", e);
    if (rc == FS_OK) rc = s->ops->lookup(s, items, res, n, b.look, e);
    if (rc == FS_OK) {
        for (size_t i = 0; i < n; i++) judge_item(&b, items, res, i);
        judge_copy_dup_seqs(&b, res, n);
    }
    judge_free(&b);
    return rc;
}

/* ---- reads ------------------------------------------------------------------- */

/* Counts the rows hub_pull hands on, and whether the callback stopped it. */
typedef struct pull_count {
    hub_row_fn fn;
    void *ctx;
    int64_t rows;
    bool stopped;
} pull_count;

static int pull_count_row(void *ctx, const hub_row *row) {
    pull_count *c = ctx;
    c->rows++;
    int stop = c->fn(c->ctx, row);
    c->stopped = stop != 0;
    return stop;
}

fs_code hub_pull(hub_store *s, const hub_pull_query *q, hub_row_fn fn, void *ctx,
                 int64_t *next, fs_err *e) {
    fs_code rc;
    *next = q->after;
    if ((rc = check_filter(&q->f, e)) || (rc = check_limit(q->limit, q->after, e))) return rc;
    if ((rc = need_schema(s, e))) return rc;
    /* The last sequence before the read: sequences are assigned in commit
     * order (one writer; on PostgreSQL under the writer lock), so every row
     * up to it is visible to the read that follows. */
    int64_t last = 0;
    if ((rc = s->ops->last_seq(s, &last, e))) return rc;
    pull_count c = {fn, ctx, 0, false};
    rc = s->ops->pull(s, q, pull_count_row, &c, next, e);
    /* A page that is not full read every row up to `last`: those it left
     * out never match later (filters, visibility and expiry do not come
     * back), so the cursor moves past them. It stayed on the last match, and
     * a reader polling with a filter, or behind expired history, re-read
     * everything since that match on every call, on the hub's event loop
     * (1M rows: 0.3-1.5 s on SQLite, up to 4.5 s on PostgreSQL per call). */
    if (rc == FS_OK && c.rows < q->limit && !c.stopped && last > *next) *next = last;
    return rc;
}

fs_code hub_snapshot(hub_store *s, const hub_filter *f, hub_row_fn fn, void *ctx,
                     int64_t *cursor, fs_err *e) {
    fs_code rc;
    int64_t dummy;
    if (!cursor) cursor = &dummy;
    *cursor = 0;
    if ((rc = check_filter(f, e))) return rc;
    if ((rc = need_schema(s, e))) return rc;
    return s->ops->snapshot(s, f, 0, 0, fn, ctx, cursor, e);
}

fs_code hub_snapshot_page(hub_store *s, const hub_pull_query *q, hub_row_fn fn, void *ctx,
                          int64_t *cursor, fs_err *e) {
    fs_code rc;
    int64_t dummy;
    if (!cursor) cursor = &dummy;
    *cursor = 0;
    if ((rc = check_filter(&q->f, e)) || (rc = check_limit(q->limit, q->after, e))) return rc;
    if ((rc = need_schema(s, e))) return rc;
    return s->ops->snapshot(s, &q->f, q->after, q->limit, fn, ctx, cursor, e);
}

fs_code hub_sweep_some(hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e) {
    int64_t dummy;
    if (!removed) removed = &dummy;
    *removed = 0;
    if (now_ms <= 0) return fs_fail(e, FS_ERR_USAGE, "sweep: now must be set");
    fs_code rc = need_schema(s, e);
    return rc != FS_OK ? rc : s->ops->sweep(s, now_ms, removed, e); /* hub_sql_sweep: one chunk */
}

fs_code hub_sweep(hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e) {
    int64_t total = 0, chunk;
    fs_code rc;
    do {
        chunk = 0; /* left as is when the chunk fails */
        rc = hub_sweep_some(s, now_ms, &chunk, e);
        total += chunk;
    } while (rc == FS_OK && chunk == HUB_SWEEP_CHUNK);
    if (removed) *removed = total;
    return rc;
}

/* ---- sightings --------------------------------------------------------------- */

static fs_code check_sighting(const hub_sighting *sg, fs_err *e) {
    fs_code rc;
    if ((rc = check_str(e, "reporter", sg->reporter, 1, HUB_MAX_ID)) ||
        (rc = check_str(e, "ref issuer", sg->ref_issuer, 1, HUB_MAX_ID)) ||
        (rc = check_str(e, "ref event_id", sg->ref_event_id, 1, HUB_MAX_ID)) ||
        (rc = check_str(e, "note", sg->note, 0, HUB_MAX_NOTE)))
        return rc;
    if (sg->kind != HUB_SIGHTING && sg->kind != HUB_FALSE_POSITIVE)
        return fs_fail(e, FS_ERR_FORMAT, "kind: %d is not SIGHTING or FALSE_POSITIVE", (int)sg->kind);
    if (sg->at_ms < 0) return fs_fail(e, FS_ERR_FORMAT, "at: before 1970");
    if (sg->count < 1) return fs_fail(e, FS_ERR_FORMAT, "count: %lld, must be >= 1", (long long)sg->count);
    return FS_OK;
}

fs_code hub_sighting_add(hub_store *s, const hub_sighting *sg, int64_t now_ms,
                         hub_verdict *verdict, int64_t *seq, fs_err *e) {
    fs_code rc;
    *verdict = HUB_INVALID;
    *seq = 0;
    if ((rc = check_sighting(sg, e))) return rc;
    if ((rc = need_schema(s, e))) return rc;
    if ((rc = s->ops->begin_write(s, e))) return rc;
    rc = s->ops->sighting_put(s, sg, now_ms, verdict, seq, e);
    if (rc == FS_OK && *verdict != HUB_UNKNOWN_REF) rc = s->ops->commit(s, e);
    else s->ops->rollback(s);
    if (rc != FS_OK) *seq = 0;
    return rc;
}

fs_code hub_sightings_pull(hub_store *s, const hub_sight_query *q, hub_sight_fn fn,
                           void *ctx, int64_t *next, fs_err *e) {
    fs_code rc;
    *next = q->after;
    if ((rc = check_str(e, "reader", q->reader, 1, HUB_MAX_ID)) ||
        (rc = check_str(e, "ref issuer", q->ref_issuer, 0, HUB_MAX_ID)) ||
        (rc = check_str(e, "ref event_id", q->ref_event_id, 0, HUB_MAX_ID)) ||
        (rc = check_limit(q->limit, q->after, e)))
        return rc;
    if ((q->ref_issuer.len == 0) != (q->ref_event_id.len == 0))
        return fs_fail(e, FS_ERR_USAGE, "sightings: give both ref issuer and ref event_id, or neither");
    if ((rc = need_schema(s, e))) return rc;
    return s->ops->sightings_pull(s, q, fn, ctx, next, e);
}

/* ---- replication --------------------------------------------------------------- */

static fs_code check_apply_seqs(const int64_t *seqs, size_t n, fs_err *e) {
    for (size_t i = 0; i < n; i++) {
        if (seqs[i] < 1) return fs_fail(e, FS_ERR_USAGE, "apply: item %zu: sequence %lld < 1", i, (long long)seqs[i]);
        if (i && seqs[i] <= seqs[i - 1])
            return fs_fail(e, FS_ERR_USAGE, "apply: item %zu: sequence %lld not after %lld", i,
                           (long long)seqs[i], (long long)seqs[i - 1]);
    }
    return FS_OK;
}

/* Inserts the STORED items, one run of consecutive sequences (and one
 * receive time) at a time: point the store's counter at the run's first
 * sequence, insert the run, check every item got the log's sequence. */
static fs_code apply_insert(hub_store *s, const hub_item *items, const int64_t *seqs,
                            const int64_t *received_ms, size_t n, hub_result *res, fs_err *e) {
    size_t a = 0;
    while (a < n) {
        if (res[a].verdict != HUB_STORED) { a++; continue; }
        size_t b = a + 1;
        while (b < n && res[b].verdict == HUB_STORED && seqs[b] == seqs[b - 1] + 1 &&
               received_ms[b] == received_ms[a])
            b++;
        fs_code rc = s->ops->set_next_seq(s, seqs[a], e);
        if (rc == FS_OK) rc = s->ops->insert(s, items + a, res + a, b - a, received_ms[a], e);
        if (rc != FS_OK) return rc;
        for (size_t k = a; k < b; k++)
            if (res[k].seq != seqs[k])
                return fs_fail(e, FS_ERR_INTERNAL, "%s store: applied item got sequence %lld, log says %lld",
                               s->ops->name, (long long)res[k].seq, (long long)seqs[k]);
        a = b;
    }
    return FS_OK;
}

/* The sightings of the items just stored, in the same transaction. One
 * that is malformed is left out (the event stays: the lone hub keeps such
 * an event and answers its sighting's error); a store error fails all. */
static fs_code apply_sightings(hub_store *s, const hub_sighting *sightings, const hub_result *res,
                               const int64_t *received_ms, size_t n, fs_err *e) {
    for (size_t i = 0; sightings && i < n; i++) {
        if (res[i].verdict != HUB_STORED || !sightings[i].ref_issuer.len) continue;
        hub_sighting sg = sightings[i];
        sg.event_seq = res[i].seq;
        fs_err ignored;
        if (check_sighting(&sg, &ignored) != FS_OK) continue;
        hub_verdict v;
        int64_t seq;
        fs_code rc = s->ops->sighting_put(s, &sg, received_ms[i], &v, &seq, e);
        if (rc != FS_OK) return rc;
    }
    return FS_OK;
}

fs_code hub_store_apply(hub_store *s, const hub_item *items, const int64_t *seqs,
                        const int64_t *received_ms, size_t n, const hub_sighting *sightings,
                        hub_result *res, fs_err *e) {
    if (n > HUB_MAX_BATCH)
        return fs_fail(e, FS_ERR_LIMIT, "apply: %zu items, limit %d per batch", n, HUB_MAX_BATCH);
    if (n == 0) return FS_OK;
    if (!items || !seqs || !received_ms || !res) return fs_fail(e, FS_ERR_USAGE, "apply: no items");
    fs_code rc = check_apply_seqs(seqs, n, e);
    if (rc == FS_OK) rc = need_schema(s, e);
    if (rc != FS_OK) return rc;
    if (!s->ops->set_next_seq)
        return fs_fail(e, FS_ERR_INTERNAL, "%s store: cannot apply a replicated log", s->ops->name);

    if (prejudge_all(items, res, n) == 0) return FS_OK;
    batch_judge b;
    rc = judge_init(&b, n, "apply", e);
    if (rc == FS_OK) rc = s->ops->begin_write(s, e);
    if (rc != FS_OK) goto out;
    int64_t last = 0;
    rc = s->ops->last_seq(s, &last, e);
    if (rc == FS_OK) rc = s->ops->lookup(s, items, res, n, b.look, e);
    if (rc == FS_OK) {
        for (size_t i = 0; i < n; i++) {
            judge_item(&b, items, res, i);
            if (res[i].verdict == HUB_STORED && seqs[i] <= last) {
                /* Passed already yet not held: the store and the log disagree. */
                res[i].verdict = HUB_INVALID;
                snprintf(res[i].error, sizeof res[i].error,
                         "log sequence %lld is not after the store's last sequence %lld and was not applied",
                         (long long)seqs[i], (long long)last);
            }
        }
        rc = apply_insert(s, items, seqs, received_ms, n, res, e);
    }
    if (rc == FS_OK) rc = apply_sightings(s, sightings, res, received_ms, n, e);
    if (rc == FS_OK) rc = s->ops->commit(s, e);
    else s->ops->rollback(s);
    if (rc == FS_OK) judge_copy_dup_seqs(&b, res, n);
out:
    judge_free(&b);
    return rc;
}
