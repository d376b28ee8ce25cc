/*
 * hub_store.h -- the hub's durable store of shared events (issue 3).
 *
 * Owns: one storage interface with two backends chosen by URL -- SQLite in
 * WAL mode (the embedded default, "sqlite:/var/lib/fs38/hub.db") and
 * PostgreSQL through libpq ("postgresql://user@127.0.0.1:5432/hub") -- with
 * the same logical schema, versioned migrations (table schema_migrations),
 * batch publish in one durable transaction, a server-assigned sequence used
 * as the pull cursor, version and issuer rules, audience/TLP visibility,
 * expiry on every read, the active-indicator set and sighting feedback.
 *
 * Must not touch: JSON, signatures, keys, HTTP, policy beyond the one
 * visibility predicate below. Inputs arrive already verified by the exchange
 * layer (src/exchange) as plain C structs; the store re-checks only what it
 * needs to stay safe: lengths, UTF-8, enums, counts.
 *
 * Conventions:
 *   - every function returns an fs_code and fills the fs_err it is given;
 *   - strings are fs_str slices owned by the caller, copied by the store;
 *     string fields must be valid UTF-8 without NUL bytes (any other byte,
 *     quotes, backslashes, ';', '--', '%' included, is stored unchanged);
 *     the signed bytes are opaque and stored byte for byte;
 *   - time is milliseconds since the Unix epoch and "now" is always passed
 *     in by the caller (the hub passes the wall clock, tests a fixed value);
 *   - rows handed to a callback point into the backend's buffers and are
 *     valid only during that call; a callback returns 0 to go on, non-zero
 *     to stop (the call then returns FS_OK with the cursor of the last row
 *     delivered); a callback must not call into the same hub_store (the
 *     read is still in progress on its connection) and should be quick (a
 *     long SQLite read holds back WAL checkpoints; PostgreSQL streams one
 *     row at a time and drops the rest of the result after a stop);
 *   - a hub_store is not thread-safe: open one per thread (SQLite WAL and
 *     PostgreSQL both serve concurrent connections; writers are serialised
 *     by the store so that sequence order equals commit order).
 */
#ifndef FS_HUB_STORE_H
#define FS_HUB_STORE_H

#include <stdint.h>

#include "../core/fs_core.h"

/* ---- limits (checked before anything reaches the database) ------------- */

#define HUB_SCHEMA_VERSION 4        /* highest migration this build knows */
#define HUB_MAX_URL 1024
#define HUB_MAX_ID 256              /* issuer, event_id, publisher, reporter, audience member */
#define HUB_MAX_TYPE 64             /* event_type */
#define HUB_MAX_OBS_KIND 32
#define HUB_MAX_OBS_ROLE 32
#define HUB_MAX_OBS_VALUE 1024
#define HUB_MAX_OBS 256             /* observables per event */
#define HUB_MAX_AUDIENCE 256        /* audience members per event */
#define HUB_MAX_SIGNED (256 * 1024) /* the JWS compact bytes of one event */
#define HUB_MAX_NOTE 2048           /* sighting note */
#define HUB_MAX_BATCH 10000         /* items per hub_publish */
#define HUB_MAX_LIMIT 10000         /* rows per pull a client may ask for */
#define HUB_MAX_READ (HUB_MAX_LIMIT + 1) /* rows per hub_pull: GET /v1/stream reads one more
                                          * than limits.stream_backlog (at most HUB_MAX_LIMIT)
                                          * to tell a follower further behind to page first */
#define HUB_MAX_FILTER_TYPES 24     /* event types in one pull filter */

typedef struct hub_store hub_store;

typedef enum hub_status { HUB_ACTIVE = 0, HUB_REVOKED = 1 } hub_status;

/* What happened to one published item (or one sighting). */
typedef enum hub_verdict {
    HUB_STORED = 0,     /* committed; seq is its server-assigned sequence */
    HUB_DUPLICATE,      /* (issuer, event_id, version) already held: replay; seq = the held row */
    HUB_STALE_VERSION,  /* version <= the highest held for (issuer, event_id); held_version says which */
    HUB_NOT_ISSUER,     /* publisher != issuer: only the issuer may publish, update or revoke */
    HUB_INVALID,        /* bad input; error names the field */
    HUB_UNKNOWN_REF     /* sighting: the referenced event is unknown or not visible to the reporter */
} hub_verdict;

typedef struct hub_observable {
    fs_str kind;   /* 1..HUB_MAX_OBS_KIND bytes */
    fs_str value;  /* 1..HUB_MAX_OBS_VALUE bytes */
    fs_str role;   /* 0..HUB_MAX_OBS_ROLE bytes */
} hub_observable;

/* One verified event to publish. */
typedef struct hub_item {
    fs_str issuer;               /* 1..HUB_MAX_ID */
    fs_str event_id;             /* 1..HUB_MAX_ID */
    int64_t version;             /* >= 1 */
    hub_status status;
    fs_str event_type;           /* 1..HUB_MAX_TYPE */
    int64_t created_ms;          /* >= 0 */
    int64_t valid_until_ms;      /* >= created_ms */
    fs_str tlp;                  /* clear | green | amber | amber+strict | red */
    const fs_str *audience;      /* member issuer ids allowed to read a red event; may be empty */
    size_t n_audience;           /* <= HUB_MAX_AUDIENCE (repeats are stored once) */
    const hub_observable *obs;
    size_t n_obs;                /* <= HUB_MAX_OBS */
    fs_str signed_jws;           /* 1..HUB_MAX_SIGNED bytes, stored and returned byte-identical */
    fs_str publisher;            /* the member that sent it (from its client certificate) */
} hub_item;

/* Per-item outcome of hub_publish. */
typedef struct hub_result {
    hub_verdict verdict;
    int64_t seq;           /* STORED: the new sequence; DUPLICATE: the held one; else 0 */
    int64_t held_version;  /* STALE_VERSION/DUPLICATE: highest version held for (issuer, event_id) */
    char error[200];       /* INVALID/NOT_ISSUER/STALE_VERSION: what was wrong, field named */
} hub_result;

/* Filters shared by hub_pull and hub_snapshot. Empty slice / 0 = no filter. */
typedef struct hub_filter {
    fs_str reader;               /* required: the reading member's issuer id (visibility) */
    int64_t now_ms;              /* required (> 0): events with valid_until < now are never returned */
    const fs_str *types;         /* event_type IN types */
    size_t n_types;              /* <= HUB_MAX_FILTER_TYPES */
    fs_str issuer;               /* issuer = */
    fs_str obs_kind;             /* has an observable of this kind */
    int64_t since_ms;            /* created >= since (0 = none) */
} hub_filter;

typedef struct hub_pull_query {
    hub_filter f;
    int64_t after;   /* cursor: rows with seq > after (0 = from the start) */
    int limit;       /* 1..HUB_MAX_READ */
} hub_pull_query;

/* One event row handed to a callback. Slices valid during the call only. */
typedef struct hub_row {
    int64_t seq;
    fs_str issuer, event_id;
    int64_t version;
    hub_status status;
    fs_str event_type;
    int64_t created_ms, valid_until_ms;
    fs_str tlp;
    fs_str signed_jws;  /* the original bytes */
} hub_row;
typedef int (*hub_row_fn)(void *ctx, const hub_row *row);

typedef enum hub_feedback { HUB_SIGHTING = 1, HUB_FALSE_POSITIVE = 2 } hub_feedback;

typedef struct hub_sighting {
    fs_str reporter;       /* the member reporting (1..HUB_MAX_ID) */
    fs_str ref_issuer;     /* the event it is about */
    fs_str ref_event_id;
    hub_feedback kind;
    int64_t at_ms;         /* when it was seen, >= 0 */
    int64_t count;         /* >= 1 */
    fs_str note;           /* optional (len 0 = none), <= HUB_MAX_NOTE */
    int64_t event_seq;     /* the stored SIGHTING/FALSE_POSITIVE event carrying it (0 = none):
                              its signed bytes come back as hub_sight_row.jws */
} hub_sighting;

typedef struct hub_sight_row {
    int64_t seq;
    fs_str reporter, ref_issuer, ref_event_id;
    hub_feedback kind;
    int64_t at_ms, count, received_ms;
    fs_str note;           /* len 0 when none */
    int64_t event_seq;     /* the feedback event's seq (0 = none) */
    fs_str jws;            /* its signed bytes, unchanged (len 0 when none) */
} hub_sight_row;
typedef int (*hub_sight_fn)(void *ctx, const hub_sight_row *row);

typedef struct hub_sight_query {
    fs_str reader;         /* required: sightings of events this member can see */
    fs_str ref_issuer;     /* both set: only sightings of that event; both empty: all */
    fs_str ref_event_id;
    int64_t after;         /* cursor over the sightings sequence */
    int limit;             /* 1..HUB_MAX_LIMIT */
} hub_sight_query;

/* ---- lifecycle ------------------------------------------------------------ */

/* Opens the store named by url: "sqlite:PATH" (PATH may be relative or
 * ":memory:"; the file is created if missing) or "postgresql://..." /
 * "postgres://..." (a libpq URI; connect timeout 10 s). SQLite runs in WAL mode
 * with synchronous=FULL; PostgreSQL sessions force synchronous_commit=on. Does
 * not migrate: call hub_store_migrate. Errors never echo the URL's password. */
fs_code hub_store_open(const char *url, hub_store **out, fs_err *e);

/* Closes and frees; NULL is fine. */
void hub_store_close(hub_store *s);

/* "sqlite" or "postgresql". */
const char *hub_store_backend(const hub_store *s);

/* Applies every migration not yet applied, each in its own transaction with
 * its schema_migrations row, under a writer lock (two hubs migrating at once
 * apply each step exactly once). Idempotent. Fails if the database holds a
 * newer schema than this build knows. */
fs_code hub_store_migrate(hub_store *s, fs_err *e);

/* As hub_store_migrate, stopping at version target (1..HUB_SCHEMA_VERSION). */
fs_code hub_store_migrate_to(hub_store *s, int target, fs_err *e);

/* The highest applied migration and the number of schema_migrations rows
 * (equal when healthy); 0, 0 on an empty database. */
fs_code hub_store_schema_version(hub_store *s, int *version, int *applied, fs_err *e);

/* Round trip to the database and schema at HUB_SCHEMA_VERSION. */
fs_code hub_store_health(hub_store *s, fs_err *e);

/* The highest event sequence committed (0 when empty). */
fs_code hub_store_last_seq(hub_store *s, int64_t *seq, fs_err *e);

/* ---- events ------------------------------------------------------------- */

/* Checks one item's fields (lengths, UTF-8, enums, counts); FS_ERR_FORMAT or
 * FS_ERR_LIMIT naming the field ("observables[2].value: 2000 bytes, limit
 * 1024"). hub_publish runs it on every item. */
fs_code hub_item_validate(const hub_item *it, fs_err *e);

/* Publishes n (<= HUB_MAX_BATCH) items in ONE transaction and fills res[i]
 * for each: STORED, DUPLICATE, STALE_VERSION, NOT_ISSUER or INVALID. Items are
 * judged in order, so a batch may carry version 1 and 2 of one event. Returns
 * FS_OK only after the transaction is durable (SQLite WAL fsync, PostgreSQL
 * synchronous commit): then every STORED item survives kill -9 and power
 * loss. On any other return nothing of the batch is stored and res is
 * meaningless. Sequences are strictly increasing in commit order. A STORED
 * active item becomes the active version of (issuer, event_id); a STORED
 * revoked item removes it from the active set. now_ms is recorded as the
 * receive time. */
fs_code hub_publish(hub_store *s, const hub_item *items, size_t n, int64_t now_ms,
                    hub_result *res, fs_err *e);

/* Judges n (<= HUB_MAX_BATCH) items as hub_publish would now, storing
 * nothing: a replicated node's answer to a retry whose first verdict it no
 * longer remembers (hub_repl_await's ring is empty after a restart). An item
 * hub_publish would store is left STORED with seq 0. */
fs_code hub_judge(hub_store *s, const hub_item *items, size_t n, hub_result *res, fs_err *e);

/* Delivers, in sequence order, up to q->limit events with seq > q->after that
 * match the filter, are visible to q->f.reader (see HUB_SQL_VISIBLE) and have
 * valid_until >= now, or replace an earlier version of the same event that
 * does (so a reader never gets a version without its revocation or update).
 * Every version is a row (updates and revocations included). *next = where
 * the next call starts (its after): the seq of the last row delivered, or,
 * when fewer than q->limit rows matched (and fn did not stop the read), the
 * last seq the store held when the read began (rows up to it that did not
 * match never will); q->after if nothing was read. */
fs_code hub_pull(hub_store *s, const hub_pull_query *q, hub_row_fn fn, void *ctx,
                 int64_t *next, fs_err *e);

/* Streams the active set: the latest version of every (issuer, event_id)
 * whose latest version is active, not expired at f->now_ms, visible to
 * f->reader and matching the filter, in sequence order, from one consistent
 * read. *cursor (may be NULL) = the highest event sequence at that read: a
 * follower pulls from there. Memory stays bounded whatever the set's size. */
fs_code hub_snapshot(hub_store *s, const hub_filter *f, hub_row_fn fn, void *ctx,
                     int64_t *cursor, fs_err *e);

/* One page of the active set: its rows with seq > q->after, at most
 * q->limit, in sequence order, and *cursor as hub_snapshot's, from one
 * read. The hub sends a large set in pages, so that a reader holds one page
 * of the hub's memory however large the set (an event that changes between
 * two pages comes again above the first page's cursor). */
fs_code hub_snapshot_page(hub_store *s, const hub_pull_query *q, hub_row_fn fn, void *ctx,
                          int64_t *cursor, fs_err *e);

/* Removes events expired at now_ms from the active set (history is kept for
 * audit; reads filter expiry anyway). *removed (may be NULL) = how many.
 * Works in transactions of at most HUB_SWEEP_CHUNK rows. */
fs_code hub_sweep(hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e);

/* One such transaction: removes at most HUB_SWEEP_CHUNK expired events,
 * those expired longest first. *removed == HUB_SWEEP_CHUNK means more may
 * be left. The hub's committer interleaves these with group commits, so a
 * large expiry never holds the one writer (and the acknowledgements behind
 * it) for long. */
#define HUB_SWEEP_CHUNK 1000
fs_code hub_sweep_some(hub_store *s, int64_t now_ms, int64_t *removed, fs_err *e);

/* ---- feedback ------------------------------------------------------------- */

/* Stores a sighting / false-positive report. *verdict = HUB_STORED with *seq,
 * HUB_DUPLICATE (nothing stored) when the sighting of that feedback event
 * (event_seq > 0) is held already, HUB_UNKNOWN_REF when no version of the referenced event is visible to the
 * reporter (nothing stored; with event_seq > 0, no version stored before it), HUB_INVALID on bad fields (also returned as
 * FS_ERR_FORMAT/FS_ERR_LIMIT). */
fs_code hub_sighting_add(hub_store *s, const hub_sighting *sg, int64_t now_ms,
                         hub_verdict *verdict, int64_t *seq, fs_err *e);

/* Delivers sightings with seq > q->after (one event's, or all) whose event is
 * visible to q->reader, in sequence order; *next as for hub_pull. */
fs_code hub_sightings_pull(hub_store *s, const hub_sight_query *q, hub_sight_fn fn,
                           void *ctx, int64_t *next, fs_err *e);

/* ---- names ---------------------------------------------------------------- */

const char *hub_verdict_name(hub_verdict v);   /* "stored", "duplicate", ... */

/* The one visibility rule (TLP 2.0, refined later by hub_policy): an event
 * whose tlp is red reaches only its issuer and the members of its audience;
 * clear, green, amber and amber+strict reach every member. Written once as
 * the SQL fragment HUB_SQL_VISIBLE(reader_param) in hub_store_int.h; this is
 * the same rule in C, for callers that filter outside the database. */
bool hub_visible_to(fs_str tlp, fs_str issuer, const fs_str *audience, size_t n_audience,
                    fs_str reader);


/* ---- replication (used by hub_repl.c) --------------------------------------- */

/* Applies n (<= HUB_MAX_BATCH) items read from a replicated log, in log
 * order, in ONE durable transaction, each stored under the sequence the log
 * gave it (seqs[i] > 0, strictly increasing; gaps allowed) instead of one
 * the store picks, with received_ms[i] as its receive time. Items are judged
 * exactly as by hub_publish (res[i]: STORED / DUPLICATE / STALE_VERSION /
 * NOT_ISSUER / INVALID), so every node applying the same log holds the same
 * rows under the same sequences and answers pulls with the same cursors.
 * Idempotent: an item whose seq is not above hub_store_last_seq was applied
 * before; it is judged again and never stored twice (an item stored then is
 * now DUPLICATE with its own seq; any other verdict repeats). Returns FS_OK
 * only after the commit is durable; otherwise nothing was applied. A store
 * fed by a log must not also take hub_publish (both draw on one sequence).
 * sightings (may be NULL): n entries, the sighting row each SIGHTING /
 * FALSE_POSITIVE item carries (ref_issuer empty: none; event_seq is set
 * here), inserted in the same transaction as the items they come with, so
 * that a store failing between the two cannot keep the event without its
 * sighting (the log is not applied again once the events are held). */
fs_code hub_store_apply(hub_store *s, const hub_item *items, const int64_t *seqs,
                        const int64_t *received_ms, size_t n, const hub_sighting *sightings,
                        hub_result *res, fs_err *e);
#endif
