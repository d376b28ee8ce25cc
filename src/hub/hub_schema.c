/*
 * hub_schema.c -- the hub store's schema (versioned migrations) and the SQL
 * both backends run.
 *
 * Owns: DDL per backend (the same logical schema: SQLite and PostgreSQL only
 * differ in types and in how the sequence is declared) and every DML
 * statement the backends share. Must not touch: connections, binding.
 *
 * Migration N is applied exactly once, inside a transaction that also
 * writes its schema_migrations row (hub_store.c drives that). Never edit a
 * released migration: add migration N+1.
 *
 * Tables:
 *   events             every version ever accepted (history, audit); seq is
 *                      the server-assigned pull cursor; UNIQUE(issuer,
 *                      event_id, version); signed = the original JWS bytes.
 *   event_audience     (seq, member): who may read a red event.
 *   event_observables  (seq, idx, kind, value, role): for the kind filter.
 *   active             (issuer, event_id) -> seq of its latest version while
 *                      that version is active and not swept.
 *   sightings          feedback (SIGHTING / FALSE_POSITIVE) on an event.
 */
#include <stdio.h>
#include <string.h>

#include "hub_store_int.h"

const char hub_sql_migrations_table_sqlite[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)";
const char hub_sql_migrations_table_pg[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)";

static const char m1_sqlite[] =
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " issuer TEXT NOT NULL, event_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " status INTEGER NOT NULL, event_type TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, valid_until_ms INTEGER NOT NULL,"
    " tlp TEXT NOT NULL, publisher TEXT NOT NULL, received_ms INTEGER NOT NULL,"
    " signed BLOB NOT NULL,"
    " UNIQUE (issuer, event_id, version));"
    "CREATE INDEX events_type_seq ON events (event_type, seq);"
    "CREATE INDEX events_issuer_seq ON events (issuer, seq);"
    "CREATE INDEX events_valid_until ON events (valid_until_ms);"
    "CREATE INDEX events_created ON events (created_ms);"
    "CREATE TABLE event_audience ("
    " seq INTEGER NOT NULL, member TEXT NOT NULL, PRIMARY KEY (seq, member)) WITHOUT ROWID;"
    "CREATE INDEX event_audience_member ON event_audience (member, seq);"
    "CREATE TABLE event_observables ("
    " seq INTEGER NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL,"
    " value TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (seq, idx)) WITHOUT ROWID;"
    "CREATE INDEX event_observables_kind_value ON event_observables (kind, value);"
    "CREATE TABLE active ("
    " issuer TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " valid_until_ms INTEGER NOT NULL, PRIMARY KEY (issuer, event_id));"
    "CREATE INDEX active_valid_until ON active (valid_until_ms);"
    "CREATE INDEX active_seq ON active (seq);";

static const char m1_pg[] =
    "CREATE TABLE events ("
    " seq BIGSERIAL PRIMARY KEY,"
    " issuer TEXT NOT NULL, event_id TEXT NOT NULL, version BIGINT NOT NULL,"
    " status SMALLINT NOT NULL, event_type TEXT NOT NULL,"
    " created_ms BIGINT NOT NULL, valid_until_ms BIGINT NOT NULL,"
    " tlp TEXT NOT NULL, publisher TEXT NOT NULL, received_ms BIGINT NOT NULL,"
    " signed BYTEA NOT NULL,"
    " UNIQUE (issuer, event_id, version));"
    "CREATE INDEX events_type_seq ON events (event_type, seq);"
    "CREATE INDEX events_issuer_seq ON events (issuer, seq);"
    "CREATE INDEX events_valid_until ON events (valid_until_ms);"
    "CREATE INDEX events_created ON events (created_ms);"
    "CREATE TABLE event_audience ("
    " seq BIGINT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (seq, member));"
    "CREATE INDEX event_audience_member ON event_audience (member, seq);"
    "CREATE TABLE event_observables ("
    " seq BIGINT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL,"
    " value TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (seq, idx));"
    "CREATE INDEX event_observables_kind_value ON event_observables (kind, value);"
    "CREATE TABLE active ("
    " issuer TEXT NOT NULL, event_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " valid_until_ms BIGINT NOT NULL, PRIMARY KEY (issuer, event_id));"
    "CREATE INDEX active_valid_until ON active (valid_until_ms);"
    "CREATE INDEX active_seq ON active (seq);";

static const char m2_sqlite[] =
    "CREATE TABLE sightings ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " reporter TEXT NOT NULL, ref_issuer TEXT NOT NULL, ref_event_id TEXT NOT NULL,"
    " kind INTEGER NOT NULL, at_ms INTEGER NOT NULL, hits INTEGER NOT NULL,"
    " note TEXT, received_ms INTEGER NOT NULL);"
    "CREATE INDEX sightings_ref ON sightings (ref_issuer, ref_event_id, seq);";

static const char m2_pg[] =
    "CREATE TABLE sightings ("
    " seq BIGSERIAL PRIMARY KEY,"
    " reporter TEXT NOT NULL, ref_issuer TEXT NOT NULL, ref_event_id TEXT NOT NULL,"
    " kind SMALLINT NOT NULL, at_ms BIGINT NOT NULL, hits BIGINT NOT NULL,"
    " note TEXT, received_ms BIGINT NOT NULL);"
    "CREATE INDEX sightings_ref ON sightings (ref_issuer, ref_event_id, seq);";

/* The feedback event that carried a sighting: its signed bytes are served
 * with the sighting (a reader can verify who reported it). */
static const char m3_sqlite[] = "ALTER TABLE sightings ADD COLUMN event_seq INTEGER;";
static const char m3_pg[] = "ALTER TABLE sightings ADD COLUMN event_seq BIGINT;";

/* Indexes no query reads, yet written on every publish (EXPLAIN QUERY PLAN
 * / EXPLAIN of every statement in this file). On both backends: nothing
 * filters or sorts events on valid_until alone (reads test it row by row;
 * the sweep uses active_valid_until), nor observables on (kind, value) (the
 * kind filter probes the primary key (seq, idx)). On SQLite also the type,
 * issuer and created indexes: the pull's optional filters, written
 * "(?N IS NULL OR col = ?N)", cannot use an index in SQLite's planner, which
 * walks events by seq whatever the filter (PostgreSQL plans each execution
 * with its values and does use them for selective filters: kept there).
 * SQLite: 11 -> 6 B-tree inserts per event with one observable;
 * PostgreSQL: 11 -> 9 (docs/performance.md, "The hub"). */
static const char m4_sqlite[] =
    "DROP INDEX IF EXISTS events_valid_until;"
    "DROP INDEX IF EXISTS event_observables_kind_value;"
    "DROP INDEX IF EXISTS events_type_seq;"
    "DROP INDEX IF EXISTS events_issuer_seq;"
    "DROP INDEX IF EXISTS events_created;";
static const char m4_pg[] =
    "DROP INDEX IF EXISTS events_valid_until;"
    "DROP INDEX IF EXISTS event_observables_kind_value;";

const hub_migration hub_migrations[HUB_SCHEMA_VERSION] = {
    {1, "events, audience, observables, active set", m1_sqlite, m1_pg},
    {2, "sightings and false-positive feedback", m2_sqlite, m2_pg},
    {3, "sightings keep the seq of their signed feedback event", m3_sqlite, m3_pg},
    {4, "drop indexes no query uses (fewer B-tree writes per published event)", m4_sqlite, m4_pg},
};

const char hub_sql_schema_read[] =
    "SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations";
const char hub_sql_schema_record[] =
    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?1, ?2, ?3)";

/* ?1 issuer ?2 event_id ?3 version */
const char hub_sql_lookup[] =
    "SELECT COALESCE(MAX(version), 0), COALESCE(MAX(CASE WHEN version = ?3 THEN seq END), 0)"
    " FROM events WHERE issuer = ?1 AND event_id = ?2";
const char hub_sql_insert_obs[] =
    "INSERT INTO event_observables (seq, idx, kind, value, role) VALUES (?1, ?2, ?3, ?4, ?5)";
const char hub_sql_insert_audience[] =
    "INSERT INTO event_audience (seq, member) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
const char hub_sql_upsert_active[] =
    "INSERT INTO active (issuer, event_id, seq, valid_until_ms) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (issuer, event_id) DO UPDATE"
    " SET seq = excluded.seq, valid_until_ms = excluded.valid_until_ms";
const char hub_sql_delete_active[] = "DELETE FROM active WHERE issuer = ?1 AND event_id = ?2";
/* One bounded chunk (hub_sweep_some), longest expired first (active_valid_until).
 * The outer valid_until_ms test is not redundant: on PostgreSQL a row the
 * subquery picked (an expired version) may be replaced by a concurrent
 * writer (the replication applier storing a renewed version) before the
 * DELETE locks it; READ COMMITTED then re-checks only the outer WHERE on the
 * new row, so without it the new, unexpired version would be deleted. */
#define HUB_STR_(x) #x
#define HUB_STR(x) HUB_STR_(x)
const char hub_sql_sweep[] =
    "DELETE FROM active WHERE valid_until_ms < ?1 AND (issuer, event_id) IN (SELECT issuer, event_id FROM active"
    " WHERE valid_until_ms < ?1 ORDER BY valid_until_ms LIMIT " HUB_STR(HUB_SWEEP_CHUNK) ")";
const char hub_sql_last_seq[] = "SELECT COALESCE(MAX(seq), 0) FROM events";

/* ?1 reader ?2 ref issuer ?3 ref event_id ?4 the feedback event's seq (NULL = none).
 * Only versions before the feedback event count: what the log held when it
 * was logged, so a replicated node records the same sightings whatever
 * batches it applied the log in (one by one when live, a thousand at once
 * when catching up), and a lone hub the same as they do. */
const char hub_sql_sight_ref[] =
    "SELECT 1 FROM events e WHERE e.issuer = ?2 AND e.event_id = ?3 AND (?4 IS NULL OR e.seq < ?4)"
    " AND " HUB_SQL_VISIBLE(1) " LIMIT 1";
/* ?1 reporter ?2 ref issuer ?3 ref event_id ?4 kind ?5 at ?6 hits ?7 note ?8 received
 * ?9 event_seq (NULL = none). A feedback event's sighting is recorded once:
 * no row comes back when one with its event_seq is held already (the event
 * was committed, the hub stopped before its sighting, and the retry that is
 * answered "duplicate" records it). */
const char hub_sql_sight_insert[] =
    "INSERT INTO sightings (reporter, ref_issuer, ref_event_id, kind, at_ms, hits, note,"
    " received_ms, event_seq) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"
    " WHERE ?9 IS NULL OR NOT EXISTS (SELECT 1 FROM sightings h WHERE h.ref_issuer = ?2"
    " AND h.ref_event_id = ?3 AND h.event_seq = ?9) RETURNING seq";
/* ?1 after ?2 reader ?3 ref issuer (NULL = all) ?4 ref event_id ?5 limit */
/* A sighting carried by a feedback event (event_seq) is shown only when that
 * event is visible to the reader too (a red sighting stays in its audience). */
const char hub_sql_sight_pull[] =
    "SELECT s.seq, s.reporter, s.ref_issuer, s.ref_event_id, s.kind, s.at_ms, s.hits,"
    " s.note, s.received_ms, s.event_seq, f.signed FROM sightings s"
    " LEFT JOIN events f ON f.seq = s.event_seq"
    " WHERE s.seq > ?1 AND (?3 IS NULL OR (s.ref_issuer = ?3 AND s.ref_event_id = ?4))"
    " AND EXISTS (SELECT 1 FROM events e WHERE e.issuer = s.ref_issuer"
    " AND e.event_id = s.ref_event_id AND " HUB_SQL_VISIBLE(2) ")"
    " AND (f.seq IS NULL OR f.tlp <> 'red' OR f.issuer = ?2 OR EXISTS (SELECT 1 FROM"
    " event_audience fa WHERE fa.seq = f.seq AND fa.member = ?2))"
    /* Only the latest version of a feedback event counts, and only while it
     * is active: an update replaces the report, a revocation withdraws it. */
    " AND (f.seq IS NULL OR (f.status = 0 AND NOT EXISTS (SELECT 1 FROM events g"
    " WHERE g.issuer = f.issuer AND g.event_id = f.event_id AND g.version > f.version)))"
    " ORDER BY s.seq LIMIT ?5";

bool hub_sql_build_read(char *buf, size_t n, bool snapshot) {
    size_t used = 0;
    int w;
#define PUT(...)                                                     \
    do {                                                             \
        w = snprintf(buf + used, n - used, __VA_ARGS__);             \
        if (w < 0 || (size_t)w >= n - used) return false;            \
        used += (size_t)w;                                           \
    } while (0)
    if (snapshot)
        PUT("SELECT " HUB_SQL_ROW_COLS " FROM active x JOIN events e ON e.seq = x.seq"
            " WHERE x.seq > ?%d AND x.valid_until_ms >= ?%d AND e.valid_until_ms >= ?%d",
            HUB_P_AFTER, HUB_P_NOW, HUB_P_NOW);
    else /* An expired version still goes out while a version it replaces is
          * unexpired: a revocation (or shortening update) may expire before
          * the version it ends, and a reader given that version alone would
          * keep it as active. The unique (issuer, event_id, version) index
          * serves the probe, made for expired rows only. */
        PUT("SELECT " HUB_SQL_ROW_COLS " FROM events e WHERE e.seq > ?%d"
            " AND (e.valid_until_ms >= ?%d OR EXISTS (SELECT 1 FROM events o"
            " WHERE o.issuer = e.issuer AND o.event_id = e.event_id"
            " AND o.version < e.version AND o.valid_until_ms >= ?%d))",
            HUB_P_AFTER, HUB_P_NOW, HUB_P_NOW);
    _Static_assert(HUB_P_READER == 3, "HUB_SQL_VISIBLE below binds the reader at ?3");
    PUT(" AND %s", HUB_SQL_VISIBLE(3));
    PUT(" AND (?%d IS NULL OR e.issuer = ?%d)", HUB_P_ISSUER, HUB_P_ISSUER);
    PUT(" AND (?%d IS NULL OR e.created_ms >= ?%d)", HUB_P_SINCE, HUB_P_SINCE);
    PUT(" AND (?%d IS NULL OR EXISTS (SELECT 1 FROM event_observables o"
        " WHERE o.seq = e.seq AND o.kind = ?%d))", HUB_P_KIND, HUB_P_KIND);
    PUT(" AND (?%d = 0 OR e.event_type IN (", HUB_P_NTYPES);
    for (int i = 0; i < HUB_MAX_FILTER_TYPES; i++) PUT("%s?%d", i ? ", " : "", HUB_P_TYPE0 + i);
    PUT("))");
    PUT(" ORDER BY e.seq LIMIT ?%d", HUB_P_LIMIT);
#undef PUT
    return true;
}

bool hub_sql_to_pg(const char *in, char *out, size_t n) {
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (o + 1 >= n) return false;
        /* Our SQL has no '?' inside literals, so every '?' is a placeholder. */
        out[o++] = (*p == '?') ? '$' : *p;
    }
    if (o >= n) return false;
    out[o] = '\0';
    return true;
}
