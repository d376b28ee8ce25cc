/*
 * hub_repl.h -- multi-node replication of the hub through NATS JetStream.
 *
 * Owns: the replicated log of record (one JetStream stream, default
 * FS38_EVENTS, subjects fs38.events.<issuer>, file storage, R1 or R3,
 * a duplicate window keyed by Nats-Msg-Id "<issuer>/<event_id>/<version>"),
 * publishing verified events into it and applying it, in log order, to the
 * node's own hub_store so every node holds the same events under the same
 * sequences (the log's stream sequence IS the pull cursor on every node).
 * Must not touch: signatures, policy, HTTP (the server verifies before it
 * publishes), SQL (hub_store_apply does the writes).
 *
 * How a node uses it (see docs/federation.md):
 *
 *   hub_repl_open(urls, NULL, node_id, 3, &r, &e);       // stream created if missing
 *   pthread: hub_repl_run_applier(r, store, on_new, ctx, &stop, &e);
 *   POST /v1/events, per batch of verified items:
 *       hub_repl_publish_batch(r, items, n, now_ms, seqs, verdicts, &e);
 *       // HUB_REPL_LOGGED/_DUPLICATE: in the log, replicated (PubAck seen)
 *       hub_repl_await(r, seqs, n, 5000, res, NULL, &e); // the exact store verdicts
 *   shutdown: stop = 1; join; hub_repl_close(r).
 *
 * Contract:
 *   - the JWS bytes are the message body, unchanged; headers carry
 *     Nats-Msg-Id, Fs38-Publisher (the member that sent it) and
 *     Fs38-Received-Ms, so every node stores identical rows;
 *   - a batch is acknowledged to the caller only after JetStream's PubAck
 *     for every item (an R3 stream acks once a quorum of 2 holds it): then
 *     it survives the loss of any one node;
 *   - the store of a replicated node is written ONLY by the applier (never
 *     hub_publish): the applier judges each logged item exactly as
 *     hub_publish would (duplicate, stale version, not issuer) in log
 *     order, so a replay outside the JetStream duplicate window is still
 *     refused, identically on every node;
 *   - each node has a durable pull consumer named after its node id; on
 *     open it resumes from its position, which is never past what its
 *     store holds (hub_store_last_seq + 1): a node that was down, or whose
 *     store was rebuilt, catches up from the log; re-delivered messages are
 *     applied idempotently (hub_store_apply);
 *   - one hub_repl may be shared by threads for publish/await; the applier
 *     runs in one thread with its own hub_store (not thread-safe).
 */
#ifndef FS_HUB_REPL_H
#define FS_HUB_REPL_H

#include <stdatomic.h>
#include <stdint.h>

#include "hub_store.h"

#define HUB_REPL_DEFAULT_STREAM "FS38_EVENTS"
#define HUB_REPL_SUBJECT_PREFIX "fs38.events."
#define HUB_REPL_MAX_NODE_ID 64      /* [A-Za-z0-9_-]: it names a JetStream consumer */
#define HUB_REPL_MAX_STREAM 64       /* [A-Za-z0-9_-] */
#define HUB_REPL_MAX_URLS 16
#define HUB_REPL_DUP_WINDOW_S 120    /* JetStream duplicate window */
#define HUB_REPL_PUBLISH_WAIT_MS 10000 /* PubAck wait per batch */
#define HUB_REPL_APPLY_BATCH 1000    /* messages fetched and applied per transaction */
#define HUB_REPL_VERDICT_RING 65536  /* applied verdicts remembered for hub_repl_await */

typedef struct hub_repl hub_repl;

/* Outcome of one item of hub_repl_publish_batch. */
typedef enum hub_repl_verdict {
    HUB_REPL_LOGGED = 0,   /* in the log at *seq, replicated */
    HUB_REPL_DUPLICATE,    /* JetStream saw its Msg-Id within the window; *seq = the first copy */
    HUB_REPL_ERROR         /* not known to be logged (timeout, no quorum, too large): retry */
} hub_repl_verdict;

/* One event the applier has just stored (after its commit). */
typedef struct hub_repl_applied {
    int64_t seq;
    const hub_item *item;  /* valid during the call */
} hub_repl_applied;

/* Called by the applier thread for every newly STORED event, in sequence
 * order, after the commit (a node pushes it to its SSE followers, records
 * a sighting...). It may use `store` (no read is in progress) and must be
 * quick. */
typedef void (*hub_repl_event_fn)(void *ctx, hub_store *store, const hub_repl_applied *a);

/* Connects to the NATS servers in urls (comma-separated
 * "nats://127.0.0.1:4222,nats://..."; reconnects forever between them),
 * makes sure the stream exists (creating it with `replicas` 1..5 and the
 * settings above when missing; an existing stream is used as it is, its
 * replica count reported by hub_repl_replicas), and remembers node_id for
 * the applier's consumer. stream may be NULL (HUB_REPL_DEFAULT_STREAM). */
fs_code hub_repl_open(const char *urls, const char *stream, const char *node_id, int replicas,
                      hub_repl **out, fs_err *e);
/* The same over TLS checked against the CA(s) in tls_ca (a PEM file; the
 * NATS cluster's own CA, rarely a public one): every connection is TLS.
 * tls_ca NULL or "": as hub_repl_open (TLS only for tls:// URLs or a server
 * that demands it, checked against the system's CAs). */
fs_code hub_repl_open_tls(const char *urls, const char *stream, const char *node_id, int replicas,
                          const char *tls_ca, hub_repl **out, fs_err *e);
void hub_repl_close(hub_repl *r);

/* Replica count of the stream as configured in JetStream. */
int hub_repl_replicas(const hub_repl *r);

/* Publishes n (<= HUB_MAX_BATCH) verified items asynchronously and waits
 * for every PubAck (at most HUB_REPL_PUBLISH_WAIT_MS). Only signed_jws,
 * issuer, event_id, version and publisher are read. seqs[i] = the stream
 * sequence (LOGGED, DUPLICATE), 0 on ERROR; verdicts[i] as above. Returns
 * FS_OK when every item got an answer (some may still be ERROR, e.g. a
 * message over the stream's size limit: then e says how many and
 * JetStream's answer to the first), FS_ERR_IO when the log could not
 * be reached (then every item is ERROR). Thread-safe. */
fs_code hub_repl_publish_batch(hub_repl *r, const hub_item *items, size_t n, int64_t now_ms,
                               uint64_t *seqs, hub_repl_verdict *verdicts, fs_err *e);

/* Waits (at most timeout_ms) until this node's applier has applied every
 * seqs[i] != 0, then fills res[i] with the store's verdict for it (STORED
 * seq, DUPLICATE + held seq, STALE_VERSION, NOT_ISSUER, INVALID); items
 * with seqs[i] == 0 get HUB_INVALID "not logged", and so do those removed
 * from the log before this node applied them (passed over). FS_ERR_IO on timeout
 * (the events are logged and will be applied; tell the client to retry:
 * its retry is a duplicate; e then also names the applier's last error
 * while it is retrying a failed step, e.g. the store's), and at once when the applier found the store
 * past the log's end (the log was reset: nothing it logs now is applied). A verdict older than HUB_REPL_VERDICT_RING
 * applied messages, or applied before this node started, is reported as
 * STORED at its seq, with forgotten[i] (forgotten may be NULL) set: a
 * JetStream duplicate's own verdict is then the store's (hub_judge).
 * Thread-safe. */
fs_code hub_repl_await(hub_repl *r, const uint64_t *seqs, size_t n, int timeout_ms,
                      hub_result *res, bool *forgotten, fs_err *e);

/* Runs this node's applier until *stop becomes non-zero (checked at least
 * every 250 ms): binds (or creates, or re-creates when it is past the store)
 * the durable consumer named node_id, fetches up to HUB_REPL_APPLY_BATCH
 * messages, applies them with hub_store_apply in one durable transaction,
 * then acknowledges them, calls fn for each STORED event and publishes the
 * verdicts to hub_repl_await. Store errors are retried after a pause (the
 * messages are re-delivered); returns only on stop (FS_OK) or on a
 * configuration error (FS_ERR_CONFIG, also when the store holds a sequence
 * past the log's last one, or the log's message at the store's last
 * sequence is another event: the log was lost and created again). Call from one thread per hub_repl. */
fs_code hub_repl_run_applier(hub_repl *r, hub_store *store, hub_repl_event_fn fn, void *ctx,
                             const atomic_int *stop, fs_err *e);

/* One step of the applier (what run_applier loops over): fetches what is
 * available within wait_ms and applies it. *applied = messages applied.
 * For tests and tools; not concurrently with run_applier. */
fs_code hub_repl_apply_once(hub_repl *r, hub_store *store, hub_repl_event_fn fn, void *ctx,
                            int wait_ms, size_t *applied, fs_err *e);

/* Highest stream sequence this node has applied (0 before the first). */
uint64_t hub_repl_applied_seq(hub_repl *r);

/* The stream's last sequence now (what a caught-up node has applied). */
fs_code hub_repl_log_last_seq(hub_repl *r, uint64_t *seq, fs_err *e);

/* Writes the subject of an issuer's events ("fs38.events." + the issuer
 * with every byte outside [A-Za-z0-9:_-] replaced by '_') into buf. */
fs_code hub_repl_subject(fs_str issuer, char *buf, size_t n, fs_err *e);

/* Parses a logged event (its JWS compact bytes) into the store's item;
 * strings point into ev's tree and into jws; obs/aud must hold
 * HUB_MAX_OBS / HUB_MAX_AUDIENCE entries. Release ev with xc_event_free.
 * Exposed so the server can build its hub_item the same way. */
struct xc_event;
fs_code hub_repl_item_from_jws(fs_str jws, fs_str publisher, struct xc_event *ev,
                               hub_item *it, hub_observable *obs, fs_str *aud, fs_err *e);

/* The sighting row a SIGHTING / FALSE_POSITIVE event carries (stored at
 * event_seq; 0 when not yet known): its ref, the reporter (publisher),
 * evidence.count and details.note. Used by the hub for what it publishes
 * and by the applier for what it applies, so both store the same row.
 * Meaningful only for an event with ev->ref_issuer and ev->ref_event_id. */
hub_sighting hub_repl_sighting_of(const struct xc_event *ev, fs_str publisher, int64_t event_seq);

#endif
