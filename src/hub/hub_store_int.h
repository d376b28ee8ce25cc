/*
 * hub_store_int.h -- what hub_store.c shares with its two backends.
 *
 * Owns: the backend operations table, the store handle's layout, the
 * schema (migrations) and the SQL text both backends run. Not for use
 * outside src/hub/hub_store*.c and hub_schema.c.
 *
 * SQL is written once with numbered SQLite placeholders (?1, ?2 ...); the
 * PostgreSQL backend rewrites them to $1, $2 ... (hub_sql_to_pg). Nothing is
 * ever built from input: every value is a bound parameter.
 */
#ifndef FS_HUB_STORE_INT_H
#define FS_HUB_STORE_INT_H

#include "hub_store.h"

/* The visibility predicate over an events row aliased `e`, for the reader
 * bound at placeholder ?r. The single place the TLP rule lives in SQL. */
#define HUB_SQL_VISIBLE(r)                                                   \
    "(e.tlp <> 'red' OR e.issuer = ?" #r " OR EXISTS (SELECT 1 FROM "        \
    "event_audience a WHERE a.seq = e.seq AND a.member = ?" #r "))"

/* Highest version and the seq of the exact (issuer, event_id, version) row. */
typedef struct hub_lookup {
    int64_t max_version; /* 0 = none held */
    int64_t dup_seq;     /* 0 = that version not held */
} hub_lookup;

typedef struct hub_migration {
    int version;
    const char *name;
    const char *sqlite_sql;
    const char *pg_sql;
} hub_migration;

struct hub_store;

typedef struct hub_backend_ops {
    const char *name;
    fs_code (*open)(struct hub_store *s, const char *target, fs_err *e);
    void (*close)(struct hub_store *s);
    /* Starts the write transaction and takes the store-wide writer lock. */
    fs_code (*begin_write)(struct hub_store *s, fs_err *e);
    /* Commits durably; an error means "not known to be committed". */
    fs_code (*commit)(struct hub_store *s, fs_err *e);
    void (*rollback)(struct hub_store *s);
    fs_code (*exec_script)(struct hub_store *s, const char *sql, fs_err *e);
    /* 0, 0 when schema_migrations does not exist. */
    fs_code (*schema_read)(struct hub_store *s, int *version, int *applied, fs_err *e);
    fs_code (*schema_record)(struct hub_store *s, const hub_migration *m, int64_t now_ms,
                             fs_err *e);
    /* Within begin_write: fills look[i] for every i with res[i].verdict ==
     * HUB_STORED (still pending); others are left alone. */
    fs_code (*lookup)(struct hub_store *s, const hub_item *items, const hub_result *res,
                      size_t n, hub_lookup *look, fs_err *e);
    /* Within begin_write: inserts every item with res[i].verdict ==
     * HUB_STORED in order and sets res[i].seq. */
    fs_code (*insert)(struct hub_store *s, const hub_item *items, hub_result *res, size_t n,
                      int64_t now_ms, fs_err *e);
    fs_code (*pull)(struct hub_store *s, const hub_pull_query *q, hub_row_fn fn, void *ctx,
                    int64_t *next, fs_err *e);
    /* rows after q->after, at most q->limit (0: all), and *cursor, from one read */
    fs_code (*snapshot)(struct hub_store *s, const hub_filter *f, int64_t after, int64_t limit,
                        hub_row_fn fn, void *ctx, int64_t *cursor, fs_err *e);
    fs_code (*sweep)(struct hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e);
    /* within begin_write: hub_sighting_add's transaction or hub_store_apply's */
    fs_code (*sighting_put)(struct hub_store *s, const hub_sighting *sg, int64_t now_ms,
                            hub_verdict *verdict, int64_t *seq, fs_err *e);
    fs_code (*sightings_pull)(struct hub_store *s, const hub_sight_query *q, hub_sight_fn fn,
                              void *ctx, int64_t *next, fs_err *e);
    fs_code (*last_seq)(struct hub_store *s, int64_t *seq, fs_err *e);
    fs_code (*ping)(struct hub_store *s, fs_err *e);
    /* Replication (hub_store_apply): within begin_write, makes the next
     * event sequence the store assigns equal to `next` (> the last one). */
    fs_code (*set_next_seq)(struct hub_store *s, int64_t next, fs_err *e);
} hub_backend_ops;

struct hub_store {
    const hub_backend_ops *ops;
    void *be;           /* backend state */
    int schema_version; /* last read; operations need HUB_SCHEMA_VERSION */
};

extern const hub_backend_ops hub_sqlite_ops;
extern const hub_backend_ops hub_pg_ops;

/* ---- schema and SQL (hub_schema.c) ---------------------------------------- */

extern const hub_migration hub_migrations[HUB_SCHEMA_VERSION];

extern const char hub_sql_migrations_table_sqlite[];
extern const char hub_sql_migrations_table_pg[];
extern const char hub_sql_schema_read[];
extern const char hub_sql_schema_record[];
extern const char hub_sql_lookup[];
extern const char hub_sql_insert_obs[];
extern const char hub_sql_insert_audience[];
extern const char hub_sql_upsert_active[];
extern const char hub_sql_delete_active[];
extern const char hub_sql_sweep[];
extern const char hub_sql_last_seq[];
extern const char hub_sql_sight_ref[];
extern const char hub_sql_sight_insert[];
extern const char hub_sql_sight_pull[];

/* Placeholders of the pull/snapshot statements (both take the same ones). */
enum {
    HUB_P_AFTER = 1, HUB_P_NOW, HUB_P_READER, HUB_P_ISSUER, HUB_P_SINCE, HUB_P_KIND,
    HUB_P_NTYPES, HUB_P_TYPE0, /* .. HUB_P_TYPE0 + HUB_MAX_FILTER_TYPES - 1 */
    HUB_P_LIMIT = HUB_P_TYPE0 + HUB_MAX_FILTER_TYPES,
    HUB_P_COUNT = HUB_P_LIMIT
};
/* Columns of the rows both statements return. */
#define HUB_SQL_ROW_COLS                                                    \
    "e.seq, e.issuer, e.event_id, e.version, e.status, e.event_type, "      \
    "e.created_ms, e.valid_until_ms, e.tlp, e.signed"

/* Writes the pull (snapshot false) or snapshot (true) SELECT into buf.
 * Returns false if buf is too small. Built from constants only. */
bool hub_sql_build_read(char *buf, size_t n, bool snapshot);

/* Rewrites ?N placeholders to $N (PostgreSQL). False if out is too small. */
bool hub_sql_to_pg(const char *in, char *out, size_t n);

/* Shared helpers for backends (hub_store.c). */
bool hub_utf8_ok(fs_str s);
fs_code hub_be_fail(fs_err *e, const char *backend, const char *what, const char *detail);

#endif
