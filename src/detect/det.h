/*
 * det.h -- the detection engine: SIP messages in, incidents (events) out.
 *
 * Owns: parsing each cap_payload into a sip_msg, message statistics, the
 * bounded state tables (sources, destinations, callers, calls, incidents),
 * every detector of the rule catalogue (rules.h) and the incident lifecycle:
 * one event per (rule, key) while activity continues, with counts and
 * first/last seen updated, closed after the rule's window of quiet.
 * Must not touch: files, sockets, printing; events leave through the callback.
 *
 * Time is capture time (cap_payload.ts_us), never the wall clock, except for
 * an event's `created`.
 */
#ifndef FS_DET_H
#define FS_DET_H

#include "../capture/cap.h"
#include "../config/cfg.h"
#include "../events/ev.h"
#include "../sip/sip.h"

typedef struct det_engine det_engine;

/* final = false: the incident was just opened or updated (live mode);
 * final = true: the incident closed with these figures. */
typedef void (*det_event_fn)(void *user, const ev_event *ev, bool final);

typedef struct det_stats {
    uint64_t payloads;            /* cap_payloads seen */
    uint64_t messages;            /* parsed as SIP */
    uint64_t not_sip;             /* payloads that were not SIP at all */
    uint64_t keepalives;          /* CRLF keep-alives (RFC 5626), not counted as messages */
    uint64_t requests, responses;
    uint64_t by_method[SIP_M__COUNT];
    uint64_t by_class[7];         /* [1..6] = 1xx..6xx */
    uint64_t by_transport[CAP_TRANSPORTS];     /* cap_transport */
    uint64_t from_hep;
    uint64_t anomalies[SIP_A__COUNT];
    uint64_t msgs_with_anomaly;
    uint64_t calls_started, calls_answered, calls_cancelled, calls_failed;
    uint64_t calls_allowed_caller; /* of calls_started: the caller is in allow_callers */
    uint64_t events_opened, events_closed, incidents_evicted;
    uint64_t incidents_below_threshold; /* closed with fewer hits than threshold: not reported */
    uint64_t sources_evicted, dests_evicted, callers_evicted, calls_evicted;
    uint64_t first_us, last_us;   /* capture time span of the payloads (SIP or not) */
    uint64_t last_message_us;     /* capture time of the latest SIP message (0: none yet) */
} det_stats;

/* Memory accounting, reported by the CLI and the bench. */
typedef struct det_memory {
    size_t source_entry, dest_entry, caller_entry, call_entry, incident_entry;
    uint32_t sources_cap, dests_cap, callers_cap, calls_cap, incidents_cap;
    uint32_t sources_live, dests_live, callers_live, calls_live, incidents_live;
    size_t total_bytes;   /* in use now: the tables, and the events of open incidents */
    size_t bound_bytes;   /* the most it can reach: every incident slot open with its event */
    /* requests waiting for their final response (SIP-ENUM-001, SIP-BRUTE-*) */
    size_t txn_entry;
    uint32_t txns_cap, txns_live;
} det_memory;

typedef struct det_talker {
    fs_addr addr;       /* a source: an address, or an IPv6 network (state.ipv6_source_prefix) */
    uint8_t prefix;     /* addr's prefix length, 128 = one address (every IPv4 one) */
    uint64_t messages;
    uint64_t requests;
    uint32_t incidents;
} det_talker;

det_engine *det_engine_new(const fs38_config *cfg, det_event_fn fn, void *user, fs_err *e);
void det_engine_free(det_engine *eng);

/* Live mode reports an incident when it opens (version 1) and when it closes:
 * version 2 after more activity, else marked `unchanged` (counted, not
 * written again); file mode only when it closes. */
void det_engine_set_live(det_engine *eng, bool live);

/* Evidence: each message that counted toward a reported incident, handed
 * to fn right after the engine processed it, with the incidents it counted
 * toward (a message can count toward several). An incident hands over at
 * most per_incident messages (0: all), from the one that made it reportable
 * (reached its threshold) on; messages before only with a look back
 * (det_engine_set_lookback), handed over right after it crossed. The
 * call rules (FRAUD-*) also hand over the rest of each call that counted
 * (its responses, ACK, BYE ...), and every message of a call the Wangiri
 * caller or source places while its incident is open: those refs have
 * in_call set. fn must copy what it keeps: p and refs live only for the
 * call. NULL fn: off (the default). */
/* the incidents one message can count toward: each rule's, and room for
 * the rules that raise two (INTEL-001, once per shared event matched) --
 * with 4, a message that five per-message rules judged named only the first
 * four in --pcap-out, the others' frames missing */
#define DET_EVIDENCE_REFS (R__COUNT + 8)
_Static_assert(DET_EVIDENCE_REFS + 3 <= CAP_PNG_OUT_MAX_COMMENTS, "a frame keeps a comment per incident and 3 notes");
typedef struct det_evidence_ref {
    det_rule_id rule;
    char event_id[40];     /* the incident's event_id as this engine reports it */
    bool in_call;          /* not counted itself: a message of a call that was */
    bool earlier;          /* from the look back: before the incident reached its threshold */
} det_evidence_ref;
typedef void (*det_evidence_fn)(void *user, const cap_payload *p, const det_evidence_ref *refs, unsigned n);
void det_engine_set_evidence(det_engine *eng, det_evidence_fn fn, void *user, uint32_t per_incident);
/* With evidence on: keep the last `bytes` bytes of messages (0: none, the
 * default), so that when an incident becomes reportable the messages its
 * window counted before are handed over too (earlier set), oldest first,
 * within per_incident, with the rest of their calls for the call rules.
 * FS_ERR_NOMEM when the ring cannot be had. */
fs_code det_engine_set_lookback(det_engine *eng, size_t bytes, fs_err *e);
size_t det_engine_lookback_memory(const det_engine *eng);

/* A tap: fn sees every message that parsed (after sip_validate, before the
 * detectors), for what reads SIP for its own ends (insp_aka.c learns ESP
 * keys from it). p and m live only for the call. NULL fn: off. */
typedef void (*det_tap_fn)(void *user, const cap_payload *p, const sip_msg *m);
void det_engine_set_tap(det_engine *eng, det_tap_fn fn, void *user);

/* The hash seed keys every table and sketch. It is random by default, so no
 * one can aim traffic at one bucket; a given seed makes a run reproducible
 * (the same input gives the same report). Call before any traffic. */
void det_engine_set_seed(det_engine *eng, uint64_t seed);
uint64_t det_engine_seed(const det_engine *eng);

/* What the engines of several workers agree on (det_shared.c), safe to use
 * from every worker's thread. Traffic is sharded by client address, so
 * many-source traffic toward one destination spreads over the workers (their
 * SIP-FLOOD-002 counts are summed here), a relayed call's two legs can land
 * on two workers (one of them tracks it), and all use one hash seed. */
typedef struct det_shared det_shared;
/* max_dests: destination windows counted at once; max_calls: calls;
 * max_incidents: incidents whose event_id is remembered. */
det_shared *det_shared_new(uint32_t max_dests, uint32_t max_calls, uint32_t max_incidents, fs_err *e);
void det_shared_free(det_shared *s);
/* The seed every engine sharing s takes (det_engine_set_shards); set it
 * before the engines are attached. */
void det_shared_set_seed(det_shared *s, uint64_t seed);
size_t det_shared_memory(const det_shared *s);
/* Capture time stepped back to now_us (files given out of order): the
 * incidents whose last activity is more than DET_CLOCK_STEP_US ahead are
 * closed, as each engine closes its share (det_tick): forgotten, so that an
 * incident of the same key after the step is a new one (its own event_id and
 * hits). Call with the workers idle. */
void det_shared_step_back(det_shared *s, uint64_t now_us);

/* The reader's claim, in capture order, of a new call (the Call-ID of an
 * initial INVITE) for the worker its frame goes to, before any worker runs
 * it: a call relayed over two legs is then tracked by the worker with the
 * leg that came first, as one worker would, not by whichever got there
 * first. Thread-safe. */
void det_shared_claim_call_id(det_shared *s, fs_str call_id, unsigned owner, uint64_t ts);

/* This engine is worker `index` of n sharing traffic; `shared` (kept by the
 * caller, outliving the engine) is what they agree on. Call before any
 * traffic. The pipeline merges the workers' reports of one incident (they
 * carry the same ev_event.incident_key). */
void det_engine_set_shards(det_engine *eng, unsigned index, unsigned n, det_shared *shared);

/* ---- shared indicators (det_indicators.c, rule INTEL-001) ---------------------
 * Events other operators shared through an fs38 hub (`fs38 pull` keeps them
 * in an NDJSON cache, one verified event per line). Loaded once, read-only
 * afterwards, so several engines (workers) may share one set. Matching uses
 * sorted arrays and binary search: source address or network (longest
 * prefix), E.164 number or range (longest prefix) as caller or callee, and
 * the exact User-Agent of a tool; nothing is allocated per packet. */
#define DET_INDICATORS_MAX 1000000       /* shared events in one cache */
#define DET_INDICATORS_MAX_BYTES (1u << 30) /* a cache file larger than 1 GiB is refused */

typedef struct det_indicators det_indicators;

typedef struct det_indicators_info {
    uint32_t events;       /* shared events kept (active, unexpired, matchable) */
    uint32_t expired;      /* skipped: valid_until already past */
    uint32_t revoked;      /* skipped: status revoked */
    uint32_t feedback;     /* skipped: SIGHTING / FALSE_POSITIVE */
    uint32_t unmatchable;  /* skipped: no observable inspect can match */
    uint32_t sources, numbers, user_agents; /* match keys by table */
} det_indicators_info;

/* Read a cache file (NDJSON of events; blank lines allowed). Every line must
 * be a valid event (the error names the line and the field). Events whose
 * valid_until is before now_ms are skipped. */
det_indicators *det_indicators_load(const char *path, int64_t now_ms, fs_err *e);
/* Same from memory; name is used in messages. */
det_indicators *det_indicators_parse(const char *buf, size_t len, const char *name, int64_t now_ms,
                                     fs_err *e);
void det_indicators_free(det_indicators *ind);
void det_indicators_get_info(const det_indicators *ind, det_indicators_info *out);

/* Match traffic against ind (NULL = none) from now on. The set must outlive
 * the engine, or at least this call's successor (a live run reloading the
 * cache: insp_set_indicators). */
void det_engine_set_indicators(det_engine *eng, const det_indicators *ind);


/* One SIP message candidate (a datagram or a framed TCP message). */
void det_process(det_engine *eng, const cap_payload *p);

/* A TLS connection on a SIP port whose ServerHello was read
 * (cap_decoder_set_tls_hello): SIP-INFO-004 judges the version and cipher
 * suite its server chose, SIP-INFO-006 the certificate when h->cert. */
void det_tls_hello(det_engine *eng, const cap_tls_hello *h);

/* Advance capture time: close quiet incidents, time out calls. Cheap when
 * called often; det_process calls it itself as time advances. The clock
 * is the latest capture time seen; it moves back only when time steps back
 * by more than 5 minutes and stays back (64 calls in a row), or at once at
 * the start of an input (det_clock_follow). */
void det_tick(det_engine *eng, uint64_t now_us);
/* Capture time stepping back by more than this is a step of the clock
 * (det_tick), not jitter. */
#define DET_CLOCK_STEP_US (300ULL * FS_USEC)

/* A new input begins (the next file of `fs38 inspect b.pcap a.pcap`): if
 * its capture time starts more than 5 minutes before the clock, the clock
 * follows it back at once (the incidents of the time before are closed),
 * rather than waiting to see time stay back (det_tick). */
void det_clock_follow(det_engine *eng);

/* The input the next messages come from (a capture file's name, or NULL:
 * live, HEP): events' samples name it, with the message's frame number
 * when frames is true (each frame of the file counted, as Wireshark numbers
 * them: not when a filter skips some). name must outlive the engine's
 * events. */
void det_engine_set_input(det_engine *eng, const char *name, bool frames);

/* End of input: close every open incident (emitting it). With several
 * workers sharing a det_shared, call det_flush_shared on every engine first,
 * then det_finish_open on each, then det_finish on each, so each sees every
 * worker's counts, and (live) every worker's share of an incident is
 * reported open before any share closes: a share first reported after
 * another's close would be taken for a new incident. det_finish alone does
 * both steps. */
void det_flush_shared(det_engine *eng);
void det_finish_open(det_engine *eng);
void det_finish(det_engine *eng);

const det_stats *det_engine_stats(const det_engine *eng);
void det_engine_memory(const det_engine *eng, det_memory *out);
/* Busiest sources still tracked, in det_talker_before order. Returns how many. */
int det_top_talkers(const det_engine *eng, det_talker *out, int n);
/* The figures of the source addr names (an address, or an IPv6 network
 * with its prefix, as det_top_talkers gives it) in this engine's table;
 * false: not tracked here. With several workers one source's requests,
 * messages and incidents may be counted by several of them. */
bool det_talker_of(const det_engine *eng, const fs_addr *addr, uint8_t prefix, det_talker *out);
/* Every source that sent a request, slot by slot: the source in slot i
 * (i < det_talker_slots) in *out, false for an empty slot or a source
 * without requests (det_top_talkers' candidates, for a caller that must
 * add several engines' figures up before it can rank them). */
uint32_t det_talker_slots(const det_engine *eng);
bool det_talker_at(const det_engine *eng, uint32_t i, det_talker *out);
/* Talker order: most requests sent, then most messages, then address (so
 * equal talkers always list the same way). */
bool det_talker_before(const det_talker *a, const det_talker *b);

/* Distinct senders of two workers' shares of one SIP-FLOOD-002 incident
 * (ev_event.sources_sketch): a becomes the union of a and b, and the count
 * is returned (exact up to 23 senders, an estimate above; at most `cap`). */
uint32_t det_sources_merge(uint64_t a[8], const uint64_t b[8], uint32_t cap);

#endif
