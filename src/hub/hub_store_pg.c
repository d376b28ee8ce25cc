/*
 * hub_store_pg.c -- the PostgreSQL backend of the hub store (libpq).
 *
 * Owns: the libpq connection (reconnected when lost, between operations),
 * its session settings (synchronous_commit on, UTF8, no notices on
 * stderr), prepared statements with typed binary parameters (nothing is
 * ever interpolated, nothing needs escaping, byte strings travel as they
 * are) and binary results, and the set-based batch path.
 * Must not touch: validation and verdicts (hub_store.c), schema text.
 *
 * Ordering: every writer takes one transaction-scoped advisory lock, in a
 * READ COMMITTED transaction (its statements see what the writer before it
 * committed), so sequence numbers are allocated in commit order and a reader
 * paging by `seq > cursor` never skips a row that commits later with a
 * smaller seq.
 *
 * Throughput: a batch costs a few statements per chunk of up to 2000 items
 * (about 8 MiB), not one per row: one lookup and one nextval() for the
 * whole batch, where each column travels as one binary array and unnest()
 * turns the arrays back into rows; then a binary COPY each for events and
 * observables, one insert for the audience and one active-set update.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_store_int.h"

#define PG_LOCK_KEY "1718825784" /* 'fs38': the store-wide writer lock */
#define OID_INT8 20
#define OID_TEXT 25
#define OID_BYTEA 17
#define OID_INT8_ARRAY 1016
#define OID_TEXT_ARRAY 1009
#define OID_BYTEA_ARRAY 1001

enum {
    ST_LOOKUP, ST_NEXTVAL, ST_INSERT_AUD, ST_ACTIVE, ST_PULL, ST_SNAPSHOT, ST_SWEEP, ST_LAST_SEQ, ST_SIGHT_REF,
    ST_SIGHT_INSERT, ST_SIGHT_PULL, ST_SCHEMA_RECORD, ST_COUNT
};

/* Set-based batch statements: every parameter is a binary array of one
 * chunk's items; unnest() zips them back into rows (WITH ORDINALITY gives
 * the lookup's row its item). */
static const char sql_lookup[] =
    "SELECT u.n, COALESCE(MAX(ev.version), 0),"
    " COALESCE(MAX(CASE WHEN ev.version = u.v THEN ev.seq END), 0)"
    " FROM unnest(?1, ?2, ?3) WITH ORDINALITY AS u(i, e, v, n)"
    " LEFT JOIN events ev ON ev.issuer = u.i AND ev.event_id = u.e"
    " GROUP BY u.n ORDER BY u.n";
static const char sql_nextval[] = "SELECT nextval('events_seq_seq') FROM generate_series(1, ?1)";
/* Events and observables arrive by COPY in binary (no ON CONFLICT needed:
 * the lookup decided every verdict under the writer lock): PostgreSQL
 * inserts the rows in multi-row pages, with a fraction of the per-row
 * executor and WAL work of INSERT ... SELECT FROM unnest(). Column order
 * and types must match copy_event_row / copy_obs_row. */
static const char sql_copy_events[] =
    "COPY events (seq, issuer, event_id, version, status, event_type, created_ms,"
    " valid_until_ms, tlp, publisher, received_ms, signed) FROM STDIN (FORMAT binary)";
static const char sql_copy_obs[] =
    "COPY event_observables (seq, idx, kind, value, role) FROM STDIN (FORMAT binary)";
/* A key seen for the first time (no version held before this item, under the
 * writer lock: events rows are never deleted, so neither is there an active
 * row) and active enters the active set by COPY too; only updates and
 * revocations need sql_active's upsert (its ON CONFLICT and per-key sort cost
 * ~9 us per row, measured with EXPLAIN ANALYZE). */
static const char sql_copy_active[] =
    "COPY active (issuer, event_id, seq, valid_until_ms) FROM STDIN (FORMAT binary)";
static const char sql_insert_audience[] =
    "INSERT INTO event_audience (seq, member) SELECT * FROM unnest(?1, ?2)"
    " ON CONFLICT DO NOTHING";
/* Per (issuer, event_id) the chunk's latest stored version wins: active
 * upserts the active set, revoked deletes from it (disjoint keys). */
static const char sql_active[] =
    "WITH last AS (SELECT DISTINCT ON (i, e) i, e, s, vu, st"
    " FROM unnest(?1, ?2, ?3, ?4, ?5) AS u(i, e, s, vu, st) ORDER BY i, e, s DESC),"
    " gone AS (DELETE FROM active a USING last"
    " WHERE last.st <> 0 AND a.issuer = last.i AND a.event_id = last.e)"
    " INSERT INTO active (issuer, event_id, seq, valid_until_ms)"
    " SELECT i, e, s, vu FROM last WHERE st = 0"
    " ON CONFLICT (issuer, event_id) DO UPDATE"
    " SET seq = excluded.seq, valid_until_ms = excluded.valid_until_ms";

/* Parameter types per statement: l = int8, t = text, b = bytea; upper case
 * = an array of it. */
static const char *const stmt_types[ST_COUNT] = {
    [ST_LOOKUP] = "TTL",
    [ST_NEXTVAL] = "l",
    [ST_INSERT_AUD] = "LT",
    [ST_ACTIVE] = "TTLLL",
    [ST_PULL] = NULL,       /* read_types() */
    [ST_SNAPSHOT] = NULL,
    [ST_SWEEP] = "l",
    [ST_LAST_SEQ] = "",
    [ST_SIGHT_REF] = "tttl",
    [ST_SIGHT_INSERT] = "tttllltll",
    [ST_SIGHT_PULL] = "ltttl",
    [ST_SCHEMA_RECORD] = "ltl",
};

typedef struct pg {
    PGconn *conn;
    bool writing;               /* between begin_write and commit/rollback */
    bool set_up;                /* session_setup passed on this connection */
    bool prepared[ST_COUNT];
    char sql[ST_COUNT][2048];   /* $N form */
} pg;

#define PG(s) ((pg *)(s)->be)

/* Parameters of one query, binary format. */
typedef struct pgp {
    int n;
    const char *val[HUB_P_COUNT];
    int len[HUB_P_COUNT];
    int fmt[HUB_P_COUNT];
    unsigned char num[HUB_P_COUNT][8];
} pgp;

static void p_int(pgp *p, int64_t v) {
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) p->num[p->n][i] = (unsigned char)(u >> (56 - 8 * i));
    p->val[p->n] = (const char *)p->num[p->n];
    p->len[p->n] = 8;
    p->fmt[p->n++] = 1;
}
static void p_bytes(pgp *p, fs_str s) {
    p->val[p->n] = s.p ? s.p : "";
    p->len[p->n] = (int)s.len;
    p->fmt[p->n++] = 1;
}
static void p_null(pgp *p) {
    p->val[p->n] = NULL;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 1;
}
static void p_opt(pgp *p, fs_str s) {
    if (s.len) p_bytes(p, s);
    else p_null(p);
}

static int64_t g_int(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    uint64_t u = (n > 0 && (v[0] & 0x80)) ? UINT64_MAX : 0; /* sign-extend */
    for (int i = 0; i < n && i < 8; i++) u = (u << 8) | v[i];
    return (int64_t)u;
}
static fs_str g_str(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return FS_STR_NULL;
    return fs_str_make(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static fs_code pg_fail(hub_store *s, fs_err *e, const char *what, const PGresult *r) {
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    if (!m || !*m) m = PQerrorMessage(PG(s)->conn);
    return hub_be_fail(e, "postgresql", what, m);
}

static void no_notices(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* Runs a statement without parameters; ok when its status is want. */
static fs_code run(hub_store *s, const char *sql, ExecStatusType want, const char *what,
                   fs_err *e) {
    PGresult *r = PQexec(PG(s)->conn, sql);
    fs_code rc = PQresultStatus(r) == want ? FS_OK : pg_fail(s, e, what, r);
    PQclear(r);
    return rc;
}

/* The refusal of a server whose fsync setting is `value` (not "on"). */
static fs_code fsync_refused(fs_err *e, const char *value) {
    return fs_fail(e, FS_ERR_CONFIG,
                   "postgresql store: the server runs with fsync=%s: a commit is not on disk "
                   "when the hub answers and a crash of its machine would lose acknowledged "
                   "events; set fsync = on in postgresql.conf",
                   value);
}

static fs_code session_setup(hub_store *s, fs_err *e) {
    pg *p = PG(s);
    p->set_up = false;
    PQsetNoticeProcessor(p->conn, no_notices, NULL);
    if (PQsetClientEncoding(p->conn, "UTF8") != 0) return pg_fail(s, e, "set client encoding", NULL);
    const char *enc = PQparameterStatus(p->conn, "server_encoding");
    if (!enc || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0))
        return fs_fail(e, FS_ERR_CONFIG,
                       "postgresql store: database encoding is %s, want UTF8 (createdb -E UTF8)",
                       enc ? enc : "unknown");
    memset(p->prepared, 0, sizeof p->prepared);
    /* Durable on commit whatever the server's default says. */
    fs_code rc = run(s, "SET synchronous_commit = on; SET client_min_messages = warning",
                     PGRES_COMMAND_OK, "session settings", e);
    if (rc != FS_OK) return rc;
    /* synchronous_commit waits for a WAL flush that fsync=off makes a no-op:
     * the hub would acknowledge events a power cut loses (as the SQLite
     * backend refuses to run without synchronous=FULL). fsync is server-wide
     * (postgresql.conf), not something a session can set. */
    PGresult *r = PQexec(p->conn, "SHOW fsync");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = pg_fail(s, e, "read the fsync setting", r);
    else if (strcmp(PQgetvalue(r, 0, 0), "on") != 0)
        rc = fsync_refused(e, PQgetvalue(r, 0, 0));
    PQclear(r);
    p->set_up = rc == FS_OK;
    return rc;
}

/* Called before each operation outside a transaction: reconnects a lost
 * connection (the server restarted) so one failure does not stick, and
 * sets up a session whose set-up failed (refused once, a connection left
 * without synchronous_commit=on went on serving). */
static fs_code alive(hub_store *s, fs_err *e) {
    pg *p = PG(s);
    if (PQstatus(p->conn) == CONNECTION_OK) return p->set_up ? FS_OK : session_setup(s, e);
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK) return pg_fail(s, e, "reconnect", NULL);
    return session_setup(s, e);
}

/* Types of the pull/snapshot placeholders (hub_store_int.h HUB_P_*). */
static int read_types(Oid *t) {
    for (int i = 1; i <= HUB_P_COUNT; i++) {
        bool num = i == HUB_P_AFTER || i == HUB_P_NOW || i == HUB_P_SINCE ||
                   i == HUB_P_NTYPES || i == HUB_P_LIMIT;
        t[i - 1] = num ? OID_INT8 : OID_TEXT;
    }
    return HUB_P_COUNT;
}

static fs_code prepare(hub_store *s, int id, fs_err *e) {
    pg *p = PG(s);
    if (p->prepared[id]) return FS_OK;
    Oid types[HUB_P_COUNT];
    int n;
    if (id == ST_PULL || id == ST_SNAPSHOT) {
        n = read_types(types);
    } else {
        const char *t = stmt_types[id];
        n = (int)strlen(t);
        for (int i = 0; i < n; i++) {
            switch (t[i]) {
            case 'l': types[i] = OID_INT8; break;
            case 'b': types[i] = OID_BYTEA; break;
            case 'L': types[i] = OID_INT8_ARRAY; break;
            case 'T': types[i] = OID_TEXT_ARRAY; break;
            case 'B': types[i] = OID_BYTEA_ARRAY; break;
            default: types[i] = OID_TEXT; break;
            }
        }
    }
    char name[16];
    snprintf(name, sizeof name, "hub%d", id);
    PGresult *r = PQprepare(p->conn, name, p->sql[id], n, types);
    fs_code rc = PQresultStatus(r) == PGRES_COMMAND_OK ? FS_OK : pg_fail(s, e, "prepare", r);
    PQclear(r);
    if (rc == FS_OK) p->prepared[id] = true;
    return rc;
}

/* Sends a prepared statement (single-row streaming). Binary results. */
static bool send(hub_store *s, int id, const pgp *q) {
    char name[16];
    snprintf(name, sizeof name, "hub%d", id);
    return PQsendQueryPrepared(PG(s)->conn, name, q->n, q->val, q->len, q->fmt, 1) == 1;
}

/* Runs a prepared statement and returns its result (caller PQclears). */
static PGresult *exec_stmt(hub_store *s, int id, const pgp *q, fs_err *e) {
    if (prepare(s, id, e) != FS_OK) return NULL;
    char name[16];
    snprintf(name, sizeof name, "hub%d", id);
    return PQexecPrepared(PG(s)->conn, name, q->n, q->val, q->len, q->fmt, 1);
}

static fs_code stmt_ok(hub_store *s, int id, const pgp *q, ExecStatusType want, PGresult **keep,
                       const char *what, fs_err *e) {
    PGresult *r = exec_stmt(s, id, q, e);
    if (!r && PG(s)->prepared[id] == false) return FS_ERR_IO;
    fs_code rc = PQresultStatus(r) == want ? FS_OK : pg_fail(s, e, what, r);
    if (keep && rc == FS_OK) *keep = r;
    else PQclear(r);
    return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void pgb_close(hub_store *s) {
    pg *p = PG(s);
    if (!p) return;
    PQfinish(p->conn);
    free(p);
    s->be = NULL;
}

static fs_code pgb_open(hub_store *s, const char *url, fs_err *e) {
    pg *p = calloc(1, sizeof *p);
    if (!p) return fs_fail(e, FS_ERR_NOMEM, "postgresql store: out of memory");
    s->be = p;
    char pull[2048], snap[2048];
    static const char *const shared[ST_COUNT] = {
        [ST_LOOKUP] = sql_lookup, [ST_NEXTVAL] = sql_nextval,
        [ST_INSERT_AUD] = sql_insert_audience, [ST_ACTIVE] = sql_active,
        [ST_SWEEP] = hub_sql_sweep,
        [ST_LAST_SEQ] = hub_sql_last_seq, [ST_SIGHT_REF] = hub_sql_sight_ref,
        [ST_SIGHT_INSERT] = hub_sql_sight_insert, [ST_SIGHT_PULL] = hub_sql_sight_pull,
        [ST_SCHEMA_RECORD] = hub_sql_schema_record,
    };
    bool ok = hub_sql_build_read(pull, sizeof pull, false) &&
              hub_sql_build_read(snap, sizeof snap, true);
    for (int i = 0; ok && i < ST_COUNT; i++) {
        const char *src = i == ST_PULL ? pull : i == ST_SNAPSHOT ? snap : shared[i];
        ok = hub_sql_to_pg(src, p->sql[i], sizeof p->sql[i]);
    }
    if (!ok) {
        pgb_close(s);
        return fs_fail(e, FS_ERR_INTERNAL, "postgresql store: SQL too long");
    }
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {url, "10", "fs38-hub", NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn) {
        pgb_close(s);
        return fs_fail(e, FS_ERR_NOMEM, "postgresql store: out of memory");
    }
    fs_code rc = PQstatus(p->conn) == CONNECTION_OK ? session_setup(s, e)
                                                     : pg_fail(s, e, "connect", NULL);
    if (rc != FS_OK) pgb_close(s);
    return rc;
}

static void pgb_rollback(hub_store *s) {
    pg *p = PG(s);
    p->writing = false;
    if (PQtransactionStatus(p->conn) != PQTRANS_IDLE) PQclear(PQexec(p->conn, "ROLLBACK"));
}

/* BEGIN and the writer lock; fsync is read in the same round trip, as the
 * transaction sees it: it is a reload setting (pg_reload_conf, SIGHUP), so
 * the check at connect let a server switched to fsync=off since then answer
 * every commit before it was on disk.
 * READ COMMITTED whatever default_transaction_isolation says: the lookup
 * after the lock must see what the writer before it committed. Under a
 * database default of REPEATABLE READ the snapshot was taken when the lock
 * wait began, so a hub sharing the database with another stored (and
 * acknowledged) version 2 of an event the other had just revoked with
 * version 3, and the revoked event was active again. */
static fs_code begin_locked(hub_store *s, fs_err *e) {
    static const char sql[] = "BEGIN ISOLATION LEVEL READ COMMITTED;"
                              " SELECT pg_advisory_xact_lock(" PG_LOCK_KEY "), current_setting('fsync')";
    PGresult *r = PQexec(PG(s)->conn, sql);
    fs_code rc;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 2)
        rc = pg_fail(s, e, "begin", r);
    else if (strcmp(PQgetvalue(r, 0, 1), "on") != 0)
        rc = fsync_refused(e, PQgetvalue(r, 0, 1));
    else
        rc = FS_OK;
    PQclear(r);
    return rc;
}

static fs_code pgb_begin_write(hub_store *s, fs_err *e) {
    fs_code rc = alive(s, e);
    if (rc != FS_OK) return rc;
    /* The lock is released by COMMIT/ROLLBACK, after the commit is visible. */
    rc = begin_locked(s, e);
    if (rc != FS_OK && PQstatus(PG(s)->conn) == CONNECTION_BAD) {
        /* The server restarted since the last call: nothing was done yet,
         * so reconnect and try once more. */
        rc = alive(s, e);
        if (rc == FS_OK) rc = begin_locked(s, e);
    }
    /* BEGIN ran but the lock wait failed (lock_timeout, statement_timeout,
     * a cancel): end the aborted transaction, or every later command on
     * this connection is refused with "current transaction is aborted". */
    if (rc != FS_OK) pgb_rollback(s);
    else PG(s)->writing = true;
    return rc;
}

static fs_code pgb_commit(hub_store *s, fs_err *e) {
    PG(s)->writing = false;
    PGresult *r = PQexec(PG(s)->conn, "COMMIT");
    /* COMMIT of a failed transaction answers "ROLLBACK": not committed. */
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    fs_code rc = ok ? FS_OK : pg_fail(s, e, "commit", r);
    if (!ok && !PQresultErrorMessage(r)[0])
        rc = fs_fail(e, FS_ERR_IO, "postgresql store: commit: transaction was rolled back");
    PQclear(r);
    return rc;
}

static fs_code pgb_exec_script(hub_store *s, const char *sql, fs_err *e) {
    PGresult *r = PQexec(PG(s)->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    fs_code rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? FS_OK : pg_fail(s, e, "schema", r);
    PQclear(r);
    return rc;
}

static fs_code pgb_schema_read(hub_store *s, int *version, int *applied, fs_err *e) {
    *version = *applied = 0;
    bool in_tx = PQtransactionStatus(PG(s)->conn) != PQTRANS_IDLE;
    fs_code rc = in_tx ? FS_OK : alive(s, e);
    if (rc != FS_OK) return rc;
    PGresult *r = PQexecParams(PG(s)->conn,
                               "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL,
                               NULL, NULL, NULL, 0);
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                  strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) rc = pg_fail(s, e, "read schema", r);
    PQclear(r);
    if (rc != FS_OK || !exists) return rc;
    r = PQexecParams(PG(s)->conn, hub_sql_schema_read, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        *version = (int)g_int(r, 0, 0);
        *applied = (int)g_int(r, 0, 1);
    } else {
        rc = pg_fail(s, e, "read schema version", r);
    }
    PQclear(r);
    return rc;
}

static fs_code pgb_schema_record(hub_store *s, const hub_migration *m, int64_t now_ms, fs_err *e) {
    pgp q = {0};
    p_int(&q, m->version);
    p_bytes(&q, fs_str_make(m->name, strlen(m->name)));
    p_int(&q, now_ms);
    return stmt_ok(s, ST_SCHEMA_RECORD, &q, PGRES_COMMAND_OK, NULL, "record migration", e);
}

/* ---- binary arrays ----------------------------------------------------------- */

/* A one-dimensional array parameter in PostgreSQL's binary format:
 * ndim, has-null flag, element type, length, lower bound, then each element
 * as a 4-byte length and its bytes (all big-endian). */
typedef struct pga {
    unsigned char *p;
    size_t len, cap;
    uint32_t n;
    bool oom;
} pga;

static void pga_put(pga *a, const void *v, size_t n) {
    if (a->oom) return;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n) cap *= 2;
        unsigned char *p = realloc(a->p, cap);
        if (!p) { a->oom = true; return; }
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, v, n);
    a->len += n;
}
static void pga_u32(pga *a, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    pga_put(a, b, 4);
}
static void pga_start(pga *a, Oid elem) {
    a->len = 0;
    a->n = 0;
    a->oom = false;
    pga_u32(a, 1);    /* ndim */
    pga_u32(a, 0);    /* no NULLs */
    pga_u32(a, elem);
    pga_u32(a, 0);    /* length, patched by pga_end */
    pga_u32(a, 1);    /* lower bound */
}
static void pga_bytes(pga *a, fs_str s) {
    pga_u32(a, s.len);
    pga_put(a, s.p ? s.p : "", s.len);
    a->n++;
}
static void pga_i64(pga *a, int64_t v) {
    uint64_t u = (uint64_t)v;
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(u >> (56 - 8 * i));
    pga_u32(a, 8);
    pga_put(a, b, 8);
    a->n++;
}
static void pga_end(pga *a) {
    if (a->oom || a->len < 20) return;
    uint32_t n = a->n;
    a->p[12] = (unsigned char)(n >> 24), a->p[13] = (unsigned char)(n >> 16);
    a->p[14] = (unsigned char)(n >> 8), a->p[15] = (unsigned char)n;
}
static void p_array(pgp *p, const pga *a) {
    p->val[p->n] = (const char *)a->p;
    p->len[p->n] = (int)a->len;
    p->fmt[p->n++] = 1;
}

/* The same buffer holds a COPY ... (FORMAT binary) stream: a signature and
 * two zero words, then per row a 16-bit field count and each field as a
 * 32-bit length and its bytes (big-endian numbers), then a -1 count. */
static void copy_start(pga *c) {
    static const unsigned char signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    c->len = 0;
    c->n = 0;
    c->oom = false;
    pga_put(c, signature, sizeof signature);
    pga_u32(c, 0); /* flags */
    pga_u32(c, 0); /* header extension length */
}
static void copy_u16(pga *c, uint16_t v) {
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    pga_put(c, b, 2);
}
static void copy_i32(pga *c, int32_t v) {
    pga_u32(c, 4);
    pga_u32(c, (uint32_t)v);
}
static void copy_i16(pga *c, int16_t v) {
    pga_u32(c, 2);
    copy_u16(c, (uint16_t)v);
}
static void copy_end(pga *c) { copy_u16(c, 0xffff); }

/* ---- publish ---------------------------------------------------------------- */

/* Chunks bound one statement's parameters: at most CHUNK_ITEMS items and
 * about CHUNK_BYTES of data (a single item may exceed it: it goes alone). */
#define CHUNK_ITEMS 2000
#define CHUNK_BYTES (8u << 20)

static size_t item_bytes(const hub_item *it) {
    size_t n = it->issuer.len + it->event_id.len + it->event_type.len + it->tlp.len +
               it->publisher.len + it->signed_jws.len + 128;
    for (size_t k = 0; k < it->n_obs; k++)
        n += it->obs[k].kind.len + it->obs[k].value.len + it->obs[k].role.len + 40;
    for (size_t k = 0; k < it->n_audience; k++) n += it->audience[k].len + 16;
    return n;
}

/* Next chunk of items with verdict HUB_STORED from *from; fills idx. */
static size_t next_chunk(const hub_item *items, const hub_result *res, size_t n, size_t *from,
                         size_t *idx, bool whole_items) {
    size_t k = 0, bytes = 0;
    while (*from < n && k < CHUNK_ITEMS) {
        size_t i = *from;
        if (res[i].verdict != HUB_STORED) { (*from)++; continue; }
        size_t b = whole_items ? item_bytes(&items[i])
                               : items[i].issuer.len + items[i].event_id.len + 32;
        if (k > 0 && bytes + b > CHUNK_BYTES) break;
        bytes += b;
        idx[k++] = i;
        (*from)++;
    }
    return k;
}

static fs_code pgb_lookup(hub_store *s, const hub_item *items, const hub_result *res, size_t n,
                          hub_lookup *look, fs_err *e) {
    fs_code rc = prepare(s, ST_LOOKUP, e);
    size_t *idx = malloc(CHUNK_ITEMS * sizeof *idx);
    pga ai = {0}, ae = {0}, av = {0};
    if (!idx) rc = fs_fail(e, FS_ERR_NOMEM, "postgresql store: out of memory");
    size_t from = 0, k;
    while (rc == FS_OK && (k = next_chunk(items, res, n, &from, idx, false)) > 0) {
        pga_start(&ai, OID_TEXT), pga_start(&ae, OID_TEXT), pga_start(&av, OID_INT8);
        for (size_t j = 0; j < k; j++) {
            pga_bytes(&ai, items[idx[j]].issuer);
            pga_bytes(&ae, items[idx[j]].event_id);
            pga_i64(&av, items[idx[j]].version);
        }
        pga_end(&ai), pga_end(&ae), pga_end(&av);
        if (ai.oom || ae.oom || av.oom) {
            rc = fs_fail(e, FS_ERR_NOMEM, "postgresql store: out of memory");
            break;
        }
        pgp q = {0};
        p_array(&q, &ai), p_array(&q, &ae), p_array(&q, &av);
        PGresult *r = NULL;
        rc = stmt_ok(s, ST_LOOKUP, &q, PGRES_TUPLES_OK, &r, "look up held versions", e);
        if (rc != FS_OK) break;
        if ((size_t)PQntuples(r) != k)
            rc = fs_fail(e, FS_ERR_INTERNAL, "postgresql store: lookup returned %d rows for %zu",
                         PQntuples(r), k);
        for (int row = 0; rc == FS_OK && row < PQntuples(r); row++) {
            int64_t ord = g_int(r, row, 0);
            if (ord < 1 || (size_t)ord > k) {
                rc = fs_fail(e, FS_ERR_INTERNAL, "postgresql store: lookup row %lld", (long long)ord);
                break;
            }
            hub_lookup *l = &look[idx[ord - 1]];
            l->max_version = g_int(r, row, 1);
            l->dup_seq = g_int(r, row, 2);
        }
        PQclear(r);
    }
    free(ai.p), free(ae.p), free(av.p);
    free(idx);
    return rc;
}

/* The buffers of one insert chunk: COPY streams for events, observables and
 * new keys of the active set; arrays for the audience and the active-set
 * update of keys already held. */
enum { A_SEQ, A_ISSUER, A_EID, A_VALID, A_STATUS, A_ASEQ, A_AMEMBER, A_EVENTS, A_OBS, A_ACTIVE, A_COUNT };

/* Columns of sql_copy_events. */
static void copy_event_row(pga *c, const hub_item *it, int64_t seq, int64_t now_ms) {
    copy_u16(c, 12);
    pga_i64(c, seq);
    pga_bytes(c, it->issuer);
    pga_bytes(c, it->event_id);
    pga_i64(c, it->version);
    copy_i16(c, (int16_t)it->status);
    pga_bytes(c, it->event_type);
    pga_i64(c, it->created_ms);
    pga_i64(c, it->valid_until_ms);
    pga_bytes(c, it->tlp);
    pga_bytes(c, it->publisher);
    pga_i64(c, now_ms);
    pga_bytes(c, it->signed_jws);
}

/* Columns of sql_copy_obs. */
static void copy_obs_row(pga *c, const hub_observable *o, int64_t seq, int32_t idx) {
    copy_u16(c, 5);
    pga_i64(c, seq);
    copy_i32(c, idx);
    pga_bytes(c, o->kind);
    pga_bytes(c, o->value);
    pga_bytes(c, o->role);
}

/* Columns of sql_copy_active. */
static void copy_active_row(pga *c, const hub_item *it, int64_t seq) {
    copy_u16(c, 4);
    pga_bytes(c, it->issuer);
    pga_bytes(c, it->event_id);
    pga_i64(c, seq);
    pga_i64(c, it->valid_until_ms);
}

static void build_chunk(pga *a, const hub_item *items, const hub_result *res, const size_t *idx,
                        size_t k, int64_t now_ms) {
    static const Oid elem[A_EVENTS] = {OID_INT8, OID_TEXT, OID_TEXT, OID_INT8, OID_INT8, OID_INT8, OID_TEXT};
    for (int x = 0; x < A_EVENTS; x++) pga_start(&a[x], elem[x]);
    copy_start(&a[A_EVENTS]);
    copy_start(&a[A_OBS]);
    copy_start(&a[A_ACTIVE]);
    size_t n_obs = 0, n_new = 0;
    for (size_t j = 0; j < k; j++) {
        const hub_item *it = &items[idx[j]];
        int64_t seq = res[idx[j]].seq;
        if (res[idx[j]].held_version == 0 && it->status == HUB_ACTIVE) { /* a new key */
            copy_active_row(&a[A_ACTIVE], it, seq);
            n_new++;
        } else {
            pga_i64(&a[A_SEQ], seq);
            pga_bytes(&a[A_ISSUER], it->issuer);
            pga_bytes(&a[A_EID], it->event_id);
            pga_i64(&a[A_VALID], it->valid_until_ms);
            pga_i64(&a[A_STATUS], (int64_t)it->status);
        }
        copy_event_row(&a[A_EVENTS], it, seq, now_ms);
        for (size_t o = 0; o < it->n_obs; o++, n_obs++)
            copy_obs_row(&a[A_OBS], &it->obs[o], seq, (int32_t)o);
        for (size_t m = 0; m < it->n_audience; m++) {
            pga_i64(&a[A_ASEQ], seq);
            pga_bytes(&a[A_AMEMBER], it->audience[m]);
        }
    }
    for (int x = 0; x < A_EVENTS; x++) pga_end(&a[x]);
    copy_end(&a[A_EVENTS]);
    copy_end(&a[A_OBS]);
    copy_end(&a[A_ACTIVE]);
    a[A_OBS].n = (uint32_t)n_obs; /* rows, not fields: 0 skips the COPY */
    a[A_ACTIVE].n = (uint32_t)n_new;
}

/* Sends one COPY ... FROM STDIN stream and waits for its result. */
static fs_code copy_in(hub_store *s, const char *sql, const pga *c, const char *what, fs_err *e) {
    PGconn *conn = PG(s)->conn;
    PGresult *r = PQexec(conn, sql);
    fs_code rc = PQresultStatus(r) == PGRES_COPY_IN ? FS_OK : pg_fail(s, e, what, r);
    PQclear(r);
    if (rc != FS_OK) return rc;
    if (PQputCopyData(conn, (const char *)c->p, (int)c->len) != 1 || PQputCopyEnd(conn, NULL) != 1)
        rc = pg_fail(s, e, what, NULL);
    while ((r = PQgetResult(conn)) != NULL) { /* the COPY's status, then the end */
        if (rc == FS_OK && PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_fail(s, e, what, r);
        PQclear(r);
    }
    return rc;
}

static fs_code insert_chunk(hub_store *s, pga *a, fs_err *e) {
    fs_code rc = copy_in(s, sql_copy_events, &a[A_EVENTS], "insert events", e);
    if (rc == FS_OK && a[A_OBS].n) rc = copy_in(s, sql_copy_obs, &a[A_OBS], "insert observables", e);
    pgp q = {0};
    if (rc == FS_OK && a[A_ASEQ].n) {
        q.n = 0;
        p_array(&q, &a[A_ASEQ]), p_array(&q, &a[A_AMEMBER]);
        rc = stmt_ok(s, ST_INSERT_AUD, &q, PGRES_COMMAND_OK, NULL, "insert audience", e);
    }
    /* New keys first: a later version of one in this chunk upserts over it. */
    if (rc == FS_OK && a[A_ACTIVE].n) rc = copy_in(s, sql_copy_active, &a[A_ACTIVE], "update active set", e);
    if (rc == FS_OK && a[A_SEQ].n) {
        /* Keys held before: the latest stored version of each decides,
         * active -> upsert, revoked -> delete (one statement, see sql_active). */
        q.n = 0;
        p_array(&q, &a[A_ISSUER]), p_array(&q, &a[A_EID]), p_array(&q, &a[A_SEQ]);
        p_array(&q, &a[A_VALID]), p_array(&q, &a[A_STATUS]);
        rc = stmt_ok(s, ST_ACTIVE, &q, PGRES_COMMAND_OK, NULL, "update active set", e);
    }
    return rc;
}

static fs_code pgb_insert(hub_store *s, const hub_item *items, hub_result *res, size_t n,
                          int64_t now_ms, fs_err *e) {
    int64_t stored = 0;
    for (size_t i = 0; i < n; i++) stored += res[i].verdict == HUB_STORED;
    if (stored == 0) return FS_OK;
    static const int needed[] = {ST_NEXTVAL, ST_INSERT_AUD, ST_ACTIVE};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        fs_code rc = prepare(s, needed[i], e);
        if (rc != FS_OK) return rc;
    }
    /* One query assigns the batch's sequence numbers, in order, under the lock. */
    pgp q = {0};
    p_int(&q, stored);
    PGresult *r = NULL;
    fs_code rc = stmt_ok(s, ST_NEXTVAL, &q, PGRES_TUPLES_OK, &r, "assign sequences", e);
    if (rc != FS_OK) return rc;
    if (PQntuples(r) != stored) {
        rc = fs_fail(e, FS_ERR_INTERNAL, "postgresql store: nextval returned %d rows, want %lld",
                     PQntuples(r), (long long)stored);
        PQclear(r);
        return rc;
    }
    int row = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n && rc == FS_OK; i++) {
        if (res[i].verdict != HUB_STORED) continue;
        res[i].seq = g_int(r, row++, 0);
        if (res[i].seq <= prev)
            rc = fs_fail(e, FS_ERR_INTERNAL, "postgresql store: sequence went backwards");
        prev = res[i].seq;
    }
    PQclear(r);

    pga a[A_COUNT];
    memset(a, 0, sizeof a);
    size_t *idx = malloc(CHUNK_ITEMS * sizeof *idx);
    if (!idx && rc == FS_OK) rc = fs_fail(e, FS_ERR_NOMEM, "postgresql store: out of memory");
    size_t from = 0, k;
    while (rc == FS_OK && (k = next_chunk(items, res, n, &from, idx, true)) > 0) {
        build_chunk(a, items, res, idx, k, now_ms);
        for (int x = 0; x < A_COUNT; x++)
            if (a[x].oom) rc = fs_fail(e, FS_ERR_NOMEM, "postgresql store: out of memory");
        if (rc == FS_OK) rc = insert_chunk(s, a, e);
    }
    for (int x = 0; x < A_COUNT; x++) free(a[x].p);
    free(idx);
    return rc;
}

/* ---- reads ------------------------------------------------------------------ */

static void filter_params(pgp *q, const hub_filter *f, int64_t after, int64_t limit) {
    p_int(q, after);
    p_int(q, f->now_ms);
    p_bytes(q, f->reader);
    p_opt(q, f->issuer);
    if (f->since_ms > 0) p_int(q, f->since_ms);
    else p_null(q);
    p_opt(q, f->obs_kind);
    p_int(q, (int64_t)f->n_types);
    for (size_t i = 0; i < HUB_MAX_FILTER_TYPES; i++) {
        if (i < f->n_types) p_bytes(q, f->types[i]);
        else p_null(q);
    }
    p_int(q, limit);
}

typedef int (*row_cb)(hub_store *s, const PGresult *r, void *ctx);

/* True when r is the error of a statement ended by a cancel request. */
static bool cancelled(const PGresult *r) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state && strcmp(state, "57014") == 0; /* query_canceled */
}

/* Past a stop, rows the server may still send are read and dropped up to
 * about this many bytes (at the mean size of the rows read); more, and the
 * statement is cancelled (a cancel is a connection to the server: ~2 ms). */
#define DRAIN_BYTES (1u << 20)

/* Sends id in single-row mode and hands each row to cb; memory holds one
 * row at a time. `limit` is the statement's row limit (0: none). When cb
 * asks to stop, the rows left are read and dropped, or if they may be many,
 * the statement is cancelled: a pull of limit=10000 large events that stops
 * at its 4 MiB page read ~800 MB from the server on the hub's event loop
 * (1-2 s), where SQLite stops at once. PQcancel returns once the server has
 * signalled the backend, and a backend ignores a cancel that arrives once
 * the statement is done (it is waiting for a command then), so the cancel
 * cannot hit the connection's next command. */
static fs_code stream(hub_store *s, int id, const pgp *q, int64_t limit, row_cb cb, void *ctx,
                      const char *what, fs_err *e) {
    PGconn *c = PG(s)->conn;
    fs_code rc = prepare(s, id, e);
    if (rc != FS_OK) return rc;
    if (!send(s, id, q)) return pg_fail(s, e, what, NULL);
    PQsetSingleRowMode(c);
    bool stop = false, cancel_sent = false;
    int64_t rows = 0;
    double bytes = 0;
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && !stop) {
            rows++;
            for (int f = 0; f < PQnfields(r); f++) bytes += PQgetlength(r, 0, f);
            if (rc == FS_OK) stop = cb(s, r, ctx) != 0;
            if (stop && (limit <= 0 || (double)(limit - rows) * (bytes / (double)rows) > DRAIN_BYTES)) {
                PGcancel *k = PQgetCancel(c);
                char why[128];
                cancel_sent = k && PQcancel(k, why, sizeof why); /* failed: the rest is dropped */
                PQfreeCancel(k);
            }
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == FS_OK &&
                   !(cancel_sent && cancelled(r))) {
            rc = pg_fail(s, e, what, r);
        }
        PQclear(r);
    }
    return rc;
}

/* A read that failed on a dead connection: libpq learns that the server
 * restarted only when a command fails, and alive() passed it. True when a
 * new connection is up, so the read (nothing delivered yet) can run again:
 * the first read on each connection after a restart failed (503) although
 * the server was back. */
static bool reconnected(hub_store *s, fs_code rc) {
    fs_err ignored;
    return rc != FS_OK && PQstatus(PG(s)->conn) == CONNECTION_BAD && alive(s, &ignored) == FS_OK;
}

typedef struct row_ctx {
    hub_row_fn fn;
    void *ctx;
    int64_t *last;
    bool any; /* a row was handed to fn */
} row_ctx;

static int event_row(hub_store *s, const PGresult *r, void *ctx) {
    (void)s;
    row_ctx *rc = ctx;
    hub_row row = {
        .seq = g_int(r, 0, 0),
        .issuer = g_str(r, 0, 1),
        .event_id = g_str(r, 0, 2),
        .version = g_int(r, 0, 3),
        .status = g_int(r, 0, 4) ? HUB_REVOKED : HUB_ACTIVE,
        .event_type = g_str(r, 0, 5),
        .created_ms = g_int(r, 0, 6),
        .valid_until_ms = g_int(r, 0, 7),
        .tlp = g_str(r, 0, 8),
        .signed_jws = g_str(r, 0, 9),
    };
    *rc->last = row.seq;
    rc->any = true;
    return rc->fn(rc->ctx, &row);
}

static fs_code pgb_pull(hub_store *s, const hub_pull_query *qq, hub_row_fn fn, void *ctx,
                        int64_t *next, fs_err *e) {
    fs_code rc = alive(s, e);
    if (rc != FS_OK) return rc;
    pgp q = {0};
    filter_params(&q, &qq->f, qq->after, qq->limit);
    row_ctx rcx = {fn, ctx, next, false};
    rc = stream(s, ST_PULL, &q, qq->limit, event_row, &rcx, "pull", e);
    if (!rcx.any && reconnected(s, rc)) rc = stream(s, ST_PULL, &q, qq->limit, event_row, &rcx, "pull", e);
    return rc;
}

static fs_code scalar(hub_store *s, int id, const pgp *q, int64_t *out, const char *what, fs_err *e) {
    PGresult *r = NULL;
    fs_code rc = stmt_ok(s, id, q, PGRES_TUPLES_OK, &r, what, e);
    if (rc != FS_OK) return rc;
    *out = PQntuples(r) == 1 ? g_int(r, 0, 0) : 0;
    PQclear(r);
    return FS_OK;
}

static fs_code pgb_last_seq(hub_store *s, int64_t *seq, fs_err *e) {
    fs_code rc = PG(s)->writing ? FS_OK : alive(s, e);
    pgp q = {0};
    if (rc == FS_OK) rc = scalar(s, ST_LAST_SEQ, &q, seq, "read last sequence", e);
    /* never within begin_write (hub_store_apply's): its lock and work died
     * with the connection, the rest must fail, not go on without them */
    if (!PG(s)->writing && reconnected(s, rc))
        rc = scalar(s, ST_LAST_SEQ, &q, seq, "read last sequence", e);
    return rc;
}

static fs_code snapshot_once(hub_store *s, const hub_filter *f, int64_t after, int64_t limit,
                             row_ctx *rcx, int64_t *cursor, fs_err *e) {
    /* One snapshot for the cursor and the rows. */
    fs_code rc = run(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK,
                     "begin snapshot", e);
    if (rc != FS_OK) return rc;
    pgp q = {0};
    rc = scalar(s, ST_LAST_SEQ, &q, cursor, "read last sequence", e);
    if (rc == FS_OK) {
        int64_t last = 0;
        q.n = 0;
        filter_params(&q, f, after, limit ? limit : INT64_MAX);
        rcx->last = &last;
        rc = stream(s, ST_SNAPSHOT, &q, limit, event_row, rcx, "snapshot", e);
    }
    pgb_rollback(s);
    return rc;
}

static fs_code pgb_snapshot(hub_store *s, const hub_filter *f, int64_t after, int64_t limit,
                            hub_row_fn fn, void *ctx, int64_t *cursor, fs_err *e) {
    fs_code rc = alive(s, e);
    if (rc != FS_OK) return rc;
    row_ctx rcx = {fn, ctx, NULL, false};
    rc = snapshot_once(s, f, after, limit, &rcx, cursor, e);
    if (!rcx.any && reconnected(s, rc)) rc = snapshot_once(s, f, after, limit, &rcx, cursor, e);
    return rc;
}

static fs_code pgb_sweep(hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e) {
    fs_code rc = alive(s, e);
    if (rc != FS_OK) return rc;
    pgp q = {0};
    p_int(&q, now_ms);
    PGresult *r = NULL;
    rc = stmt_ok(s, ST_SWEEP, &q, PGRES_COMMAND_OK, &r, "sweep expired", e);
    if (rc != FS_OK) return rc;
    *removed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return FS_OK;
}

/* ---- sightings ------------------------------------------------------------- */

/* Within a write transaction: as sq_sighting_put. */
static fs_code pgb_sighting_put(hub_store *s, const hub_sighting *sg, int64_t now_ms,
                                hub_verdict *verdict, int64_t *seq, fs_err *e) {
    *seq = 0;
    pgp q = {0};
    p_bytes(&q, sg->reporter);
    p_bytes(&q, sg->ref_issuer);
    p_bytes(&q, sg->ref_event_id);
    if (sg->event_seq > 0) p_int(&q, sg->event_seq);
    else p_null(&q);
    PGresult *r = NULL;
    fs_code rc = stmt_ok(s, ST_SIGHT_REF, &q, PGRES_TUPLES_OK, &r, "look up sighting's event", e);
    bool known = rc == FS_OK && PQntuples(r) == 1;
    PQclear(r);
    if (rc == FS_OK && !known) {
        *verdict = HUB_UNKNOWN_REF;
        return FS_OK;
    }
    if (rc == FS_OK) {
        pgp w = {0};
        p_bytes(&w, sg->reporter);
        p_bytes(&w, sg->ref_issuer);
        p_bytes(&w, sg->ref_event_id);
        p_int(&w, (int64_t)sg->kind);
        p_int(&w, sg->at_ms);
        p_int(&w, sg->count);
        p_opt(&w, sg->note);
        p_int(&w, now_ms);
        if (sg->event_seq > 0) p_int(&w, sg->event_seq);
        else p_null(&w);
        rc = scalar(s, ST_SIGHT_INSERT, &w, seq, "insert sighting", e);
    }
    if (rc == FS_OK) *verdict = *seq > 0 ? HUB_STORED : HUB_DUPLICATE; /* no row: held already */
    else *seq = 0;
    return rc;
}

typedef struct sight_ctx {
    hub_sight_fn fn;
    void *ctx;
    int64_t *last;
    bool any;
} sight_ctx;

static int sight_row(hub_store *s, const PGresult *r, void *ctx) {
    (void)s;
    sight_ctx *sc = ctx;
    hub_sight_row row = {
        .seq = g_int(r, 0, 0),
        .reporter = g_str(r, 0, 1),
        .ref_issuer = g_str(r, 0, 2),
        .ref_event_id = g_str(r, 0, 3),
        .kind = (hub_feedback)g_int(r, 0, 4),
        .at_ms = g_int(r, 0, 5),
        .count = g_int(r, 0, 6),
        .note = g_str(r, 0, 7),
        .received_ms = g_int(r, 0, 8),
        .event_seq = g_int(r, 0, 9),
        .jws = g_str(r, 0, 10),
    };
    *sc->last = row.seq;
    sc->any = true;
    return sc->fn(sc->ctx, &row);
}

static fs_code pgb_sightings_pull(hub_store *s, const hub_sight_query *qq, hub_sight_fn fn,
                                  void *ctx, int64_t *next, fs_err *e) {
    fs_code rc = alive(s, e);
    if (rc != FS_OK) return rc;
    pgp q = {0};
    p_int(&q, qq->after);
    p_bytes(&q, qq->reader);
    p_opt(&q, qq->ref_issuer);
    p_opt(&q, qq->ref_event_id);
    p_int(&q, qq->limit);
    sight_ctx sc = {fn, ctx, next, false};
    rc = stream(s, ST_SIGHT_PULL, &q, qq->limit, sight_row, &sc, "read sightings", e);
    if (!sc.any && reconnected(s, rc))
        rc = stream(s, ST_SIGHT_PULL, &q, qq->limit, sight_row, &sc, "read sightings", e);
    return rc;
}

static fs_code pgb_ping(hub_store *s, fs_err *e) {
    fs_code rc = alive(s, e);
    if (rc == FS_OK) rc = run(s, "SELECT 1", PGRES_TUPLES_OK, "health check", e);
    if (reconnected(s, rc)) rc = run(s, "SELECT 1", PGRES_TUPLES_OK, "health check", e);
    return rc;
}

/* ---- replication ------------------------------------------------------------ */

/* setval(..., false): the next nextval() returns exactly `next`. */
static fs_code pgb_set_next_seq(hub_store *s, int64_t next, fs_err *e) {
    pgp q = {0};
    p_int(&q, next);
    static const Oid types[1] = {OID_INT8};
    PGresult *r = PQexecParams(PG(s)->conn, "SELECT setval('events_seq_seq', $1, false)", 1,
                               types, q.val, q.len, q.fmt, 1);
    fs_code rc = PQresultStatus(r) == PGRES_TUPLES_OK ? FS_OK
                                                      : pg_fail(s, e, "set next sequence", r);
    PQclear(r);
    return rc;
}

const hub_backend_ops hub_pg_ops = {
    .name = "postgresql",
    .open = pgb_open,
    .close = pgb_close,
    .begin_write = pgb_begin_write,
    .commit = pgb_commit,
    .rollback = pgb_rollback,
    .exec_script = pgb_exec_script,
    .schema_read = pgb_schema_read,
    .schema_record = pgb_schema_record,
    .lookup = pgb_lookup,
    .insert = pgb_insert,
    .pull = pgb_pull,
    .snapshot = pgb_snapshot,
    .sweep = pgb_sweep,
    .sighting_put = pgb_sighting_put,
    .sightings_pull = pgb_sightings_pull,
    .last_seq = pgb_last_seq,
    .ping = pgb_ping,
    .set_next_seq = pgb_set_next_seq,
};
