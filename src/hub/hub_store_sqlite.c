/*
 * hub_store_sqlite.c -- the embedded SQLite backend of the hub store.
 *
 * Owns: the sqlite3 connection, its pragmas (WAL, synchronous=FULL so an
 * acknowledged commit is on disk, busy timeout) and a cache of prepared
 * statements reused for every call. Must not touch: validation and verdicts
 * (hub_store.c), schema text (hub_schema.c).
 *
 * Writers are serialised by BEGIN IMMEDIATE (SQLite has one writer anyway);
 * AUTOINCREMENT makes sequences strictly increasing and never reused.
 *
 * WAL checkpoints never run inside a commit. SQLite's automatic checkpoint
 * would copy ~1000 pages into the database file and fsync it inside the
 * COMMIT that crossed the threshold, stalling the one writer (and every
 * acknowledgement behind it): ~10 ms on a quiet disk, tens of ms on a busy
 * one (docs/performance.md, "The hub"). Instead each connection's WAL
 * hook wakes a checkpointer thread with its own connection, which runs
 * PASSIVE checkpoints (they never block the writer or readers) until the WAL
 * is fully copied, so the next writer rewinds it. Durability is unchanged:
 * the WAL is fsynced at every commit; a checkpoint only copies committed
 * frames and fsyncs the database before the WAL may be reused. The WAL is
 * rewound only by a write that starts once every frame is copied: under a
 * steady load that happens between commits; under back-to-back commits
 * (a publish burst) it cannot, so past CKPT_HARD_PAGES the writer finishes
 * the copy itself right after its commit -- the old cost, now only the
 * frames the background thread has not copied yet -- and the WAL stays
 * bounded.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_store_int.h"

enum {
    ST_LOOKUP, ST_INSERT_EVENT, ST_INSERT_OBS, ST_INSERT_AUD, ST_UPSERT_ACTIVE,
    ST_DELETE_ACTIVE, ST_PULL, ST_SNAPSHOT, ST_SWEEP, ST_LAST_SEQ, ST_SIGHT_REF,
    ST_SIGHT_INSERT, ST_SIGHT_PULL, ST_SCHEMA_RECORD, ST_COUNT
};

static const char sql_insert_event[] =
    "INSERT INTO events (issuer, event_id, version, status, event_type, created_ms,"
    " valid_until_ms, tlp, publisher, received_ms, signed)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/* WAL size (pages) that wakes the checkpointer, and the size past which the
 * writer checkpoints after its commit; the WAL file is cut back to
 * CKPT_FILE_LIMIT bytes when it is rewound. */
#define CKPT_PAGES 1000
#define CKPT_HARD_PAGES 8000
#define CKPT_FILE_LIMIT "67108864"

/* The background checkpointer of one connection (started on first need). */
typedef struct sq_ckpt {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool started, stop;
    int wal_pages; /* as last reported by the WAL hook; 0 = nothing to do */
    char *path;
} sq_ckpt;

typedef struct sq {
    sqlite3 *db;
    sq_ckpt ck;
    sqlite3_stmt *st[ST_COUNT];
    char pull_sql[2048];
    char snap_sql[2048];
} sq;

#define SQ(s) ((sq *)(s)->be)

static fs_code sq_fail(hub_store *s, fs_err *e, const char *what) {
    return hub_be_fail(e, "sqlite", what, sqlite3_errmsg(SQ(s)->db));
}

static const char *stmt_sql(sq *q, int id) {
    switch (id) {
    case ST_LOOKUP: return hub_sql_lookup;
    case ST_INSERT_EVENT: return sql_insert_event;
    case ST_INSERT_OBS: return hub_sql_insert_obs;
    case ST_INSERT_AUD: return hub_sql_insert_audience;
    case ST_UPSERT_ACTIVE: return hub_sql_upsert_active;
    case ST_DELETE_ACTIVE: return hub_sql_delete_active;
    case ST_PULL: return q->pull_sql;
    case ST_SNAPSHOT: return q->snap_sql;
    case ST_SWEEP: return hub_sql_sweep;
    case ST_LAST_SEQ: return hub_sql_last_seq;
    case ST_SIGHT_REF: return hub_sql_sight_ref;
    case ST_SIGHT_INSERT: return hub_sql_sight_insert;
    case ST_SIGHT_PULL: return hub_sql_sight_pull;
    case ST_SCHEMA_RECORD: return hub_sql_schema_record;
    }
    return NULL;
}

/* The cached statement, prepared on first use, reset and unbound. */
static sqlite3_stmt *stmt(hub_store *s, int id, fs_err *e) {
    sq *q = SQ(s);
    if (!q->st[id]) {
        if (sqlite3_prepare_v3(q->db, stmt_sql(q, id), -1, SQLITE_PREPARE_PERSISTENT, &q->st[id],
                               NULL) != SQLITE_OK) {
            sq_fail(s, e, "prepare");
            return NULL;
        }
    }
    sqlite3_reset(q->st[id]);
    sqlite3_clear_bindings(q->st[id]);
    return q->st[id];
}

static void bind_str(sqlite3_stmt *st, int i, fs_str v) {
    sqlite3_bind_text(st, i, v.p ? v.p : "", (int)v.len, SQLITE_STATIC);
}
static void bind_opt_str(sqlite3_stmt *st, int i, fs_str v) {
    if (v.len) bind_str(st, i, v);
    else sqlite3_bind_null(st, i);
}
static fs_str col_str(sqlite3_stmt *st, int i) {
    const char *p = (const char *)sqlite3_column_text(st, i);
    return fs_str_make(p, p ? (size_t)sqlite3_column_bytes(st, i) : 0);
}
static fs_str col_blob(sqlite3_stmt *st, int i) {
    const char *p = (const char *)sqlite3_column_blob(st, i);
    return fs_str_make(p, p ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

/* Steps a statement that returns no rows (or whose rows are ignored). */
static fs_code step_done(hub_store *s, sqlite3_stmt *st, const char *what, fs_err *e) {
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {}
    fs_code rc = r == SQLITE_DONE ? FS_OK : sq_fail(s, e, what);
    sqlite3_reset(st);
    return rc;
}

static fs_code exec(hub_store *s, const char *sql, const char *what, fs_err *e) {
    char *msg = NULL;
    if (sqlite3_exec(SQ(s)->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hub_be_fail(e, "sqlite", what, msg ? msg : sqlite3_errmsg(SQ(s)->db));
        sqlite3_free(msg);
        return FS_ERR_IO;
    }
    return FS_OK;
}

/* ---- the checkpointer ------------------------------------------------------ */

static void *ckpt_main(void *arg) {
    sq_ckpt *ck = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(ck->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sqlite3_close(db); /* the writer checkpoints past CKPT_HARD_PAGES (ckpt_hook) */
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    pthread_mutex_lock(&ck->mu);
    for (;;) {
        while (!ck->stop && ck->wal_pages < CKPT_PAGES) pthread_cond_wait(&ck->cond, &ck->mu);
        if (ck->stop) break;
        ck->wal_pages = 0;
        pthread_mutex_unlock(&ck->mu);
        /* Chase the writer until every frame is copied (then its next
         * write transaction rewinds the WAL); a few rounds at most, and
         * none past CKPT_HARD_PAGES, where the writer takes over. */
        int wal = 0, copied = 0;
        for (int round = 0; round < 8; round++)
            if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &copied) != SQLITE_OK ||
                copied >= wal || wal >= CKPT_HARD_PAGES)
                break;
        pthread_mutex_lock(&ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    sqlite3_close(db);
    return NULL;
}

/* WAL hook (the writer's thread, after its commit released the write lock):
 * hands the WAL size to the checkpointer. Replaces the auto-checkpoint. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages) {
    sq_ckpt *ck = arg;
    if (pages < CKPT_PAGES) return SQLITE_OK;
    if (pages >= CKPT_HARD_PAGES) /* SQLITE_BUSY while the thread copies: next commit retries */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&ck->mu);
    if (!ck->started && !ck->stop)
        ck->started = pthread_create(&ck->th, NULL, ckpt_main, ck) == 0;
    ck->wal_pages = pages;
    pthread_cond_signal(&ck->cond);
    pthread_mutex_unlock(&ck->mu);
    return SQLITE_OK;
}

static void ckpt_stop(sq_ckpt *ck) {
    pthread_mutex_lock(&ck->mu);
    ck->stop = true;
    pthread_cond_signal(&ck->cond);
    pthread_mutex_unlock(&ck->mu);
    if (ck->started) pthread_join(ck->th, NULL);
    ck->started = false;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void sq_close(hub_store *s) {
    sq *q = SQ(s);
    if (!q) return;
    ckpt_stop(&q->ck);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(q->st[i]);
    sqlite3_close(q->db);
    pthread_mutex_destroy(&q->ck.mu);
    pthread_cond_destroy(&q->ck.cond);
    free(q->ck.path);
    free(q);
    s->be = NULL;
}

static fs_code sq_open(hub_store *s, const char *path, fs_err *e) {
    sq *q = calloc(1, sizeof *q);
    if (!q) return fs_fail(e, FS_ERR_NOMEM, "sqlite store: out of memory");
    s->be = q;
    pthread_mutex_init(&q->ck.mu, NULL);
    pthread_cond_init(&q->ck.cond, NULL);
    if (!(q->ck.path = strdup(path))) {
        sq_close(s);
        return fs_fail(e, FS_ERR_NOMEM, "sqlite store: out of memory");
    }
    if (!hub_sql_build_read(q->pull_sql, sizeof q->pull_sql, false) ||
        !hub_sql_build_read(q->snap_sql, sizeof q->snap_sql, true)) {
        sq_close(s);
        return fs_fail(e, FS_ERR_INTERNAL, "sqlite store: read SQL too long");
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
        fs_fail(e, FS_ERR_IO, "sqlite store: cannot open '%s': %s", path,
                q->db ? sqlite3_errmsg(q->db) : "out of memory");
        sq_close(s);
        return FS_ERR_IO;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, 5000);
    fs_code rc = exec(s, "PRAGMA journal_mode = WAL", "set WAL mode", e);
    if (rc == FS_OK) rc = exec(s, "PRAGMA synchronous = FULL", "set synchronous", e);
    if (rc == FS_OK) rc = exec(s, "PRAGMA foreign_keys = OFF; PRAGMA trusted_schema = OFF", "pragmas", e);
    /* Throughput (docs/performance.md): with the default 2 MB page cache a
     * growing store re-reads index pages from the OS during the lookups and
     * inserts of a commit (read() copies showed in the profile). A 64 MB
     * cache per connection keeps them; durability is unchanged (WAL + fsync). */
    if (rc == FS_OK) rc = exec(s, "PRAGMA cache_size = -65536", "cache pragmas", e);
    if (rc == FS_OK)
        rc = exec(s, "PRAGMA journal_size_limit = " CKPT_FILE_LIMIT, "WAL size pragma", e);
    if (rc == FS_OK && strcmp(path, ":memory:") != 0) sqlite3_wal_hook(q->db, ckpt_hook, &q->ck);
    if (rc == FS_OK) {
        /* synchronous=FULL (2): the WAL is fsynced at every commit, so an
         * acknowledged batch survives power loss, not only kill -9. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(q->db, "PRAGMA synchronous", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 2)
            rc = fs_fail(e, FS_ERR_IO, "sqlite store: '%s': synchronous=FULL not in effect", path);
        sqlite3_finalize(st);
    }
    if (rc == FS_OK && strcmp(path, ":memory:") != 0) {
        /* Refuse to run without WAL: the durability argument depends on it. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            const char *m = (const char *)sqlite3_column_text(st, 0);
            if (!m || strcmp(m, "wal") != 0)
                rc = fs_fail(e, FS_ERR_IO, "sqlite store: '%s' is not in WAL mode (%s)", path,
                             m ? m : "?");
        } else {
            rc = sq_fail(s, e, "read journal mode");
        }
        sqlite3_finalize(st);
    }
    if (rc != FS_OK && e && !strstr(e->msg, path)) {
        /* sqlite3_open_v2 opens lazily: a file that is no database, or one
         * whose directory is read-only, fails at the first pragma, and the
         * message named neither the file nor, for the latter, the cause. */
        int code = q->db ? sqlite3_errcode(q->db) & 0xff : SQLITE_OK; /* primary code */
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", strncmp(e->msg, "sqlite store: ", 14) ? e->msg : e->msg + 14);
        fs_fail(e, rc, "sqlite store: '%s': %s%s", path, msg,
                code == SQLITE_READONLY || code == SQLITE_CANTOPEN
                    ? " (the file and its directory must be writable: WAL mode creates the file's"
                      " -wal and -shm beside it)"
                    : "");
    }
    if (rc != FS_OK) sq_close(s);
    return rc;
}

static fs_code sq_begin_write(hub_store *s, fs_err *e) {
    return exec(s, "BEGIN IMMEDIATE", "begin", e);
}

static fs_code sq_commit(hub_store *s, fs_err *e) {
    fs_code rc = exec(s, "COMMIT", "commit", e);
    if (rc != FS_OK && !sqlite3_get_autocommit(SQ(s)->db)) exec(s, "ROLLBACK", "rollback", NULL);
    return rc;
}

static void sq_rollback(hub_store *s) {
    if (!sqlite3_get_autocommit(SQ(s)->db)) exec(s, "ROLLBACK", "rollback", NULL);
}

static fs_code sq_exec_script(hub_store *s, const char *sql, fs_err *e) {
    return exec(s, sql, "schema", e);
}

static fs_code sq_schema_read(hub_store *s, int *version, int *applied, fs_err *e) {
    *version = *applied = 0;
    sqlite3_stmt *st = NULL;
    int r = sqlite3_prepare_v2(SQ(s)->db,
                               "SELECT 1 FROM sqlite_master WHERE type = 'table'"
                               " AND name = 'schema_migrations'", -1, &st, NULL);
    if (r != SQLITE_OK) return sq_fail(s, e, "read schema");
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) return FS_OK;
    if (r != SQLITE_ROW) return sq_fail(s, e, "read schema");
    if (sqlite3_prepare_v2(SQ(s)->db, hub_sql_schema_read, -1, &st, NULL) != SQLITE_OK)
        return sq_fail(s, e, "read schema version");
    fs_code rc = FS_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        *applied = sqlite3_column_int(st, 1);
    } else {
        rc = sq_fail(s, e, "read schema version");
    }
    sqlite3_finalize(st);
    return rc;
}

static fs_code sq_schema_record(hub_store *s, const hub_migration *m, int64_t now_ms, fs_err *e) {
    sqlite3_stmt *st = stmt(s, ST_SCHEMA_RECORD, e);
    if (!st) return FS_ERR_IO;
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    return step_done(s, st, "record migration", e);
}

/* ---- publish ------------------------------------------------------------- */

static fs_code sq_lookup(hub_store *s, const hub_item *items, const hub_result *res, size_t n,
                         hub_lookup *look, fs_err *e) {
    sqlite3_stmt *st = stmt(s, ST_LOOKUP, e);
    if (!st) return FS_ERR_IO;
    for (size_t i = 0; i < n; i++) {
        if (res[i].verdict != HUB_STORED) continue;
        sqlite3_reset(st);
        bind_str(st, 1, items[i].issuer);
        bind_str(st, 2, items[i].event_id);
        sqlite3_bind_int64(st, 3, items[i].version);
        if (sqlite3_step(st) != SQLITE_ROW) return sq_fail(s, e, "look up held versions");
        look[i].max_version = sqlite3_column_int64(st, 0);
        look[i].dup_seq = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return FS_OK;
}

static fs_code insert_one(hub_store *s, const hub_item *it, int64_t now_ms, int64_t *seq,
                          fs_err *e) {
    sqlite3_stmt *st = stmt(s, ST_INSERT_EVENT, e);
    if (!st) return FS_ERR_IO;
    bind_str(st, 1, it->issuer);
    bind_str(st, 2, it->event_id);
    sqlite3_bind_int64(st, 3, it->version);
    sqlite3_bind_int(st, 4, (int)it->status);
    bind_str(st, 5, it->event_type);
    sqlite3_bind_int64(st, 6, it->created_ms);
    sqlite3_bind_int64(st, 7, it->valid_until_ms);
    bind_str(st, 8, it->tlp);
    bind_str(st, 9, it->publisher);
    sqlite3_bind_int64(st, 10, now_ms);
    sqlite3_bind_blob(st, 11, it->signed_jws.p, (int)it->signed_jws.len, SQLITE_STATIC);
    fs_code rc = step_done(s, st, "insert event", e);
    if (rc != FS_OK) return rc;
    *seq = sqlite3_last_insert_rowid(SQ(s)->db);

    for (size_t k = 0; k < it->n_obs; k++) {
        if (!(st = stmt(s, ST_INSERT_OBS, e))) return FS_ERR_IO;
        sqlite3_bind_int64(st, 1, *seq);
        sqlite3_bind_int(st, 2, (int)k);
        bind_str(st, 3, it->obs[k].kind);
        bind_str(st, 4, it->obs[k].value);
        bind_str(st, 5, it->obs[k].role);
        if ((rc = step_done(s, st, "insert observable", e))) return rc;
    }
    for (size_t k = 0; k < it->n_audience; k++) {
        if (!(st = stmt(s, ST_INSERT_AUD, e))) return FS_ERR_IO;
        sqlite3_bind_int64(st, 1, *seq);
        bind_str(st, 2, it->audience[k]);
        if ((rc = step_done(s, st, "insert audience", e))) return rc;
    }
    if (it->status == HUB_ACTIVE) {
        if (!(st = stmt(s, ST_UPSERT_ACTIVE, e))) return FS_ERR_IO;
        bind_str(st, 1, it->issuer);
        bind_str(st, 2, it->event_id);
        sqlite3_bind_int64(st, 3, *seq);
        sqlite3_bind_int64(st, 4, it->valid_until_ms);
        return step_done(s, st, "update active set", e);
    }
    if (!(st = stmt(s, ST_DELETE_ACTIVE, e))) return FS_ERR_IO;
    bind_str(st, 1, it->issuer);
    bind_str(st, 2, it->event_id);
    return step_done(s, st, "revoke from active set", e);
}

static fs_code sq_insert(hub_store *s, const hub_item *items, hub_result *res, size_t n,
                         int64_t now_ms, fs_err *e) {
    for (size_t i = 0; i < n; i++) {
        if (res[i].verdict != HUB_STORED) continue;
        fs_code rc = insert_one(s, &items[i], now_ms, &res[i].seq, e);
        if (rc != FS_OK) return rc;
    }
    return FS_OK;
}

/* ---- reads ---------------------------------------------------------------- */

static void bind_filter(sqlite3_stmt *st, const hub_filter *f, int64_t after, int64_t limit) {
    sqlite3_bind_int64(st, HUB_P_AFTER, after);
    sqlite3_bind_int64(st, HUB_P_NOW, f->now_ms);
    bind_str(st, HUB_P_READER, f->reader);
    bind_opt_str(st, HUB_P_ISSUER, f->issuer);
    if (f->since_ms > 0) sqlite3_bind_int64(st, HUB_P_SINCE, f->since_ms);
    bind_opt_str(st, HUB_P_KIND, f->obs_kind);
    sqlite3_bind_int64(st, HUB_P_NTYPES, (int64_t)f->n_types);
    for (size_t i = 0; i < f->n_types; i++) bind_str(st, HUB_P_TYPE0 + (int)i, f->types[i]);
    sqlite3_bind_int64(st, HUB_P_LIMIT, limit);
}

/* Steps a read statement, handing each row to fn; *last = seq of the last
 * row delivered. */
static fs_code stream_rows(hub_store *s, sqlite3_stmt *st, hub_row_fn fn, void *ctx,
                           int64_t *last, fs_err *e) {
    int r;
    fs_code rc = FS_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        hub_row row = {
            .seq = sqlite3_column_int64(st, 0),
            .issuer = col_str(st, 1),
            .event_id = col_str(st, 2),
            .version = sqlite3_column_int64(st, 3),
            .status = sqlite3_column_int(st, 4) ? HUB_REVOKED : HUB_ACTIVE,
            .event_type = col_str(st, 5),
            .created_ms = sqlite3_column_int64(st, 6),
            .valid_until_ms = sqlite3_column_int64(st, 7),
            .tlp = col_str(st, 8),
            .signed_jws = col_blob(st, 9),
        };
        *last = row.seq;
        if (fn(ctx, &row)) break;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = sq_fail(s, e, "read events");
    sqlite3_reset(st);
    return rc;
}

static fs_code sq_pull(hub_store *s, const hub_pull_query *q, hub_row_fn fn, void *ctx,
                       int64_t *next, fs_err *e) {
    sqlite3_stmt *st = stmt(s, ST_PULL, e);
    if (!st) return FS_ERR_IO;
    bind_filter(st, &q->f, q->after, q->limit);
    return stream_rows(s, st, fn, ctx, next, e);
}

static fs_code scalar_i64(hub_store *s, int id, int64_t *out, const char *what, fs_err *e) {
    sqlite3_stmt *st = stmt(s, id, e);
    if (!st) return FS_ERR_IO;
    fs_code rc = FS_OK;
    if (sqlite3_step(st) == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    else rc = sq_fail(s, e, what);
    sqlite3_reset(st);
    return rc;
}

static fs_code sq_last_seq(hub_store *s, int64_t *seq, fs_err *e) {
    return scalar_i64(s, ST_LAST_SEQ, seq, "read last sequence", e);
}

/* One read transaction: the cursor and the rows come from the same state. */
static fs_code sq_snapshot(hub_store *s, const hub_filter *f, int64_t after, int64_t limit,
                           hub_row_fn fn, void *ctx, int64_t *cursor, fs_err *e) {
    fs_code rc = exec(s, "BEGIN", "begin snapshot", e);
    if (rc != FS_OK) return rc;
    rc = scalar_i64(s, ST_LAST_SEQ, cursor, "read last sequence", e);
    sqlite3_stmt *st = rc == FS_OK ? stmt(s, ST_SNAPSHOT, e) : NULL;
    if (rc == FS_OK && !st) rc = FS_ERR_IO;
    if (rc == FS_OK) {
        int64_t last = 0;
        bind_filter(st, f, after, limit ? limit : INT64_MAX);
        rc = stream_rows(s, st, fn, ctx, &last, e);
    }
    sq_rollback(s); /* read only: nothing to commit */
    return rc;
}

static fs_code sq_sweep(hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e) {
    sqlite3_stmt *st = stmt(s, ST_SWEEP, e);
    if (!st) return FS_ERR_IO;
    sqlite3_bind_int64(st, 1, now_ms);
    fs_code rc = step_done(s, st, "sweep expired", e);
    if (rc == FS_OK) *removed = sqlite3_changes64(SQ(s)->db);
    return rc;
}

/* ---- sightings -------------------------------------------------------------- */

/* Within a write transaction: *verdict STORED (*seq its row), DUPLICATE
 * (held already) or UNKNOWN_REF (no such event visible to the reporter). */
static fs_code sq_sighting_put(hub_store *s, const hub_sighting *sg, int64_t now_ms,
                               hub_verdict *verdict, int64_t *seq, fs_err *e) {
    fs_code rc = FS_OK;
    *seq = 0;
    sqlite3_stmt *st = stmt(s, ST_SIGHT_REF, e);
    if (!st) rc = FS_ERR_IO;
    bool known = false;
    if (rc == FS_OK) {
        bind_str(st, 1, sg->reporter);
        bind_str(st, 2, sg->ref_issuer);
        bind_str(st, 3, sg->ref_event_id);
        if (sg->event_seq > 0) sqlite3_bind_int64(st, 4, sg->event_seq);
        else sqlite3_bind_null(st, 4);
        int r = sqlite3_step(st);
        known = r == SQLITE_ROW;
        if (r != SQLITE_ROW && r != SQLITE_DONE) rc = sq_fail(s, e, "look up sighting's event");
        sqlite3_reset(st);
    }
    if (rc == FS_OK && !known) {
        *verdict = HUB_UNKNOWN_REF;
        return FS_OK;
    }
    if (rc == FS_OK && !(st = stmt(s, ST_SIGHT_INSERT, e))) rc = FS_ERR_IO;
    if (rc == FS_OK) {
        bind_str(st, 1, sg->reporter);
        bind_str(st, 2, sg->ref_issuer);
        bind_str(st, 3, sg->ref_event_id);
        sqlite3_bind_int(st, 4, (int)sg->kind);
        sqlite3_bind_int64(st, 5, sg->at_ms);
        sqlite3_bind_int64(st, 6, sg->count);
        bind_opt_str(st, 7, sg->note);
        sqlite3_bind_int64(st, 8, now_ms);
        if (sg->event_seq > 0) sqlite3_bind_int64(st, 9, sg->event_seq);
        else sqlite3_bind_null(st, 9);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) *seq = sqlite3_column_int64(st, 0);
        else if (r != SQLITE_DONE) rc = sq_fail(s, e, "insert sighting"); /* DONE: held already */
        if (rc == FS_OK && r == SQLITE_ROW) rc = step_done(s, st, "insert sighting", e);
        sqlite3_reset(st);
    }
    if (rc == FS_OK) *verdict = *seq > 0 ? HUB_STORED : HUB_DUPLICATE;
    else *seq = 0;
    return rc;
}

static fs_code sq_sightings_pull(hub_store *s, const hub_sight_query *q, hub_sight_fn fn,
                                 void *ctx, int64_t *next, fs_err *e) {
    sqlite3_stmt *st = stmt(s, ST_SIGHT_PULL, e);
    if (!st) return FS_ERR_IO;
    sqlite3_bind_int64(st, 1, q->after);
    bind_str(st, 2, q->reader);
    bind_opt_str(st, 3, q->ref_issuer);
    bind_opt_str(st, 4, q->ref_event_id);
    sqlite3_bind_int64(st, 5, q->limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        hub_sight_row row = {
            .seq = sqlite3_column_int64(st, 0),
            .reporter = col_str(st, 1),
            .ref_issuer = col_str(st, 2),
            .ref_event_id = col_str(st, 3),
            .kind = (hub_feedback)sqlite3_column_int(st, 4),
            .at_ms = sqlite3_column_int64(st, 5),
            .count = sqlite3_column_int64(st, 6),
            .note = col_str(st, 7),
            .received_ms = sqlite3_column_int64(st, 8),
            .event_seq = sqlite3_column_int64(st, 9),
            .jws = col_blob(st, 10),
        };
        *next = row.seq;
        if (fn(ctx, &row)) break;
    }
    fs_code rc = (r == SQLITE_ROW || r == SQLITE_DONE) ? FS_OK : sq_fail(s, e, "read sightings");
    sqlite3_reset(st);
    return rc;
}

static fs_code sq_ping(hub_store *s, fs_err *e) {
    return exec(s, "SELECT 1", "health check", e);
}

/* ---- replication ------------------------------------------------------------ */

/* AUTOINCREMENT hands out max(sqlite_sequence.seq, max(rowid)) + 1, and
 * sqlite_sequence may be written with ordinary statements: set it to
 * next - 1 (hub_store_apply checks the seq the insert got). */
static fs_code sq_set_next_seq(hub_store *s, int64_t next, fs_err *e) {
    static const char *const sql[] = {
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'events'",
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?1)"};
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(SQ(s)->db, sql[k], -1, &st, NULL) != SQLITE_OK)
            return sq_fail(s, e, "prepare sequence update");
        sqlite3_bind_int64(st, 1, next - 1);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE) return sq_fail(s, e, "set next sequence");
        if (sqlite3_changes(SQ(s)->db) > 0) return FS_OK;
    }
    return fs_fail(e, FS_ERR_INTERNAL, "sqlite store: sequence row not written");
}

const hub_backend_ops hub_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin_write = sq_begin_write,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec_script = sq_exec_script,
    .schema_read = sq_schema_read,
    .schema_record = sq_schema_record,
    .lookup = sq_lookup,
    .insert = sq_insert,
    .pull = sq_pull,
    .snapshot = sq_snapshot,
    .sweep = sq_sweep,
    .sighting_put = sq_sighting_put,
    .sightings_pull = sq_sightings_pull,
    .last_seq = sq_last_seq,
    .ping = sq_ping,
    .set_next_seq = sq_set_next_seq,
};
