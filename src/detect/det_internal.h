/*
 * det_internal.h -- what the detectors share inside src/detect (not public).
 *
 * Owns: the bounded set-associative table (det_table), the distinct-count
 * sketch (det_sketch), the per-entity state structs, the engine struct and
 * the per-message context handed to each detector.
 *
 * Every table is fixed-size: a key maps to one bucket of DET_WAYS entries and
 * a new key replaces the least recently seen entry of its bucket. Memory is
 * therefore set at start-up and a flood of spoofed sources only evicts.
 * Keys are 64-bit hashes keyed with a per-engine random seed, so a hostile
 * sender cannot aim collisions.
 */
#ifndef FS_DET_INTERNAL_H
#define FS_DET_INTERNAL_H

#include <stdatomic.h>

#include "det.h"

/* ---- bounded table ---------------------------------------------------------- */

#define DET_WAYS 8

typedef struct det_entry {
    uint64_t key;      /* 0 = empty slot */
    uint64_t last_us;  /* LRU within the bucket */
} det_entry;

/* Lookups scan a bucket's tags (key + last seen, 8 ways = 128 bytes, two
 * adjacent cache lines) and touch only the matching entry; the stamps pick
 * the victim without reading the entries. det_entry in each entry mirrors
 * both for the detectors' convenience. */
typedef struct det_tag {
    uint64_t key;   /* 0 = empty */
    uint64_t stamp; /* last seen (LRU within the bucket) */
} det_tag;

typedef struct det_table {
    uint8_t *slots;
    det_tag *tags;     /* per slot, bucket-contiguous, 64-byte aligned */
    uint32_t nbuckets; /* power of two */
    size_t entry_size; /* starts with a det_entry */
    uint32_t live;
    uint64_t evicted;
} det_table;

bool det_table_init(det_table *t, uint32_t capacity, size_t entry_size);
void det_table_free(det_table *t);
/* The live entry an upsert of key would replace, NULL when key is present or
 * its bucket has a free slot. Lets a caller settle an entry before it goes. */
void *det_table_victim(det_table *t, uint64_t key);
/* Find key; NULL if absent. */
void *det_table_find(det_table *t, uint64_t key);
/* Find or create (zeroed) key; *created tells which. *evicted_out (optional)
 * receives a copy-free notice that an older entry was replaced. */
void *det_table_upsert(det_table *t, uint64_t key, uint64_t now_us, bool *created, bool *evicted);
/* det_table_upsert, but an entry last seen more than max_age_us before
 * now_us is one of the past (a transaction long over whose Call-ID and CSeq
 * came again): it starts afresh, zeroed, and *created is true. */
void *det_table_upsert_recent(det_table *t, uint64_t key, uint64_t now_us, uint64_t max_age_us, bool *created);
void det_table_remove(det_table *t, void *entry);
/* Note activity on an entry (moves it away from eviction). */
void det_table_touch(det_table *t, void *entry, uint64_t now_us);
/* Make entry the first its bucket gives up (one kept only in case it is
 * needed again, as a call over that lingers for retransmissions); a touch
 * gives it its place back. */
void det_table_demote(det_table *t, void *entry);
/* The clock stepped back to now_us (det_tick): entries last seen after it
 * count as last seen at it. Stamps only move forward, so they would
 * otherwise rank as the most recent until capture time got back there, and
 * squat their buckets while every newcomer replaced the others. */
void det_table_restamp(det_table *t, uint64_t now_us);
/* Hash salts shared between files (the key of an entity must be computed
 * the same way wherever it is looked up or prefetched). */
enum { DET_SALT_REQUESTER = 1, DET_SALT_DEST = 32, DET_SALT_CALL = 51 };

/* Start loading key's bucket into the cache (call well before the lookup). */
static inline void det_table_prefetch(const det_table *t, uint64_t key) {
    const det_tag *b = t->tags + (size_t)((key ? key : 1) & (t->nbuckets - 1)) * DET_WAYS;
    __builtin_prefetch(b);
    __builtin_prefetch(b + 4);
}
/* Once key's bucket is in the cache (det_table_prefetch, well before),
 * start loading the first `bytes` of key's entry, if it is there. */
static inline void det_table_prefetch_entry(const det_table *t, uint64_t key, size_t bytes) {
    if (key == 0) key = 1; /* as the lookups: 0 marks an empty slot */
    uint32_t base = (uint32_t)(key & (t->nbuckets - 1)) * DET_WAYS;
    for (uint32_t w = 0; w < DET_WAYS; w++) {
        if (t->tags[base + w].key != key) continue;
        const uint8_t *e = t->slots + (size_t)(base + w) * t->entry_size;
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(e + off);
        __builtin_prefetch(e + bytes - 1);
        return;
    }
}
/* Iterate: i from 0 to det_table_slots(t); returns NULL for empty slots. */
static inline uint32_t det_table_slots(const det_table *t) { return t->nbuckets * DET_WAYS; }
static inline void *det_table_at(det_table *t, uint32_t i) {
    return t->tags[i].key ? t->slots + (size_t)i * t->entry_size : NULL;
}

/* ---- distinct counter (exact list, then linear counting) -------------------- */

/* 64 bytes, two forms told apart by bit 0 of bits[0]:
 *  - sparse (bit 0 clear; a cleared sketch): up to DET_SKETCH_EXACT items
 *    as 21-bit fingerprints (the item hash's top bits), three to a word;
 *    the first 21 bits hold the form bit and the count (bits 1-5). Exact
 *    but for two items with one fingerprint (about one set in 8000 at 23
 *    items): the thresholds of the rules (5-20 by default) are counted here.
 *  - dense (bit 0 set): linear counting over the other 511 bits, entered at
 *    the 24th item: within a few per cent up to a few hundred, saturating
 *    at 3200 (see det_sketch_estimates.h). */
#define DET_SKETCH_EXACT 23u
typedef struct det_sketch {
    uint64_t bits[8];
} det_sketch;

/* true if the item was new to the sketch (probably). */
bool det_sketch_add(det_sketch *s, uint64_t item_hash);
/* Distinct items: exact up to DET_SKETCH_EXACT, an estimate above; never
 * more than `added`, the items the caller added since the sketch was
 * cleared (a linear-counting estimate can overshoot by a few per cent). */
uint32_t det_sketch_count(const det_sketch *s, uint32_t added);
/* a becomes the union of a and b (what one sketch given both's items holds). */
void det_sketch_merge(det_sketch *a, const det_sketch *b);
static inline void det_sketch_clear(det_sketch *s) { memset(s, 0, sizeof *s); }
/* Membership test without adding (may say yes for an item never added). */
bool det_sketch_has(const det_sketch *s, uint64_t item_hash);

/* A tumbling window counter group: true when a new window starts (the
 * caller resets its counts), once the window has passed. Time may step back
 * a little -- HEP from several proxies, merged captures, several workers
 * counting into one shared entry -- and such a message still belongs to the
 * window, which then starts at it (as it would have, seen in order); a step
 * back by a whole window or more starts a new one. So does a window that
 * starts more than a clock step ahead of the engine's clock (clock_us,
 * det_engine.now_us): the clock stepped back past it (files given out of
 * order), and it belongs to the time before the step, which is over, as
 * its incidents are (det_tick closes them). */
static inline bool det_window_roll(uint64_t *start_us, uint64_t now_us, uint32_t window_s, uint64_t clock_us) {
    uint64_t w = (uint64_t)window_s * FS_USEC;
    if (*start_us && now_us >= *start_us && now_us - *start_us < w) return false;
    bool back_inside = *start_us && now_us < *start_us && *start_us - now_us < w &&
                       !(*start_us > clock_us && *start_us - clock_us > DET_CLOCK_STEP_US);
    *start_us = now_us;
    return !back_inside;
}

/* Peer pairs, "this address sent a request to that one" (SIP-SCAN-002,
 * det_behaviour.c): one bit per pair in a bitset of 2 x 2 MiB, in two
 * generations of an hour of capture time (det_shared.c). The workers share
 * one (det_shared); a single engine has its own, so that both remember the
 * same pairs: a busy server's requests to hundreds of addresses must not
 * make every probe sent to it look like a reply (a per-source sketch of 511
 * bits did: 30 PBXs qualifying 400 phones each, swept by svmap, were 0 to
 * 9 targets instead of 30). Lock-free. */
typedef struct det_peers {
    _Atomic uint64_t *bits[2]; /* generation of epoch % 2 */
    _Atomic uint64_t epoch[2]; /* the epoch + 1 a generation holds (0: none yet) */
} det_peers;
bool det_peers_init(det_peers *p);
void det_peers_fini(det_peers *p);
size_t det_peers_memory(const det_peers *p);
void det_peers_add(det_peers *p, uint64_t pair, uint64_t ts);
bool det_peers_has(const det_peers *p, uint64_t pair, uint64_t ts);

/* Two findings of the detector, not of the parser (det_protocol.c reports
 * them, det_engine.c counts them): a request with an extension method the
 * parser took as a token (RFC 3261 7.1; SIP-PROTO-006), and a top Via
 * branch without the RFC 3261 cookie (SIP-PROTO-005). False when the
 * parser flagged it already. */
static inline bool det_method_unknown(const sip_msg *m) {
    return m->is_request && m->method == SIP_M_UNKNOWN && !sip_msg_has_anomaly(m, SIP_A_METHOD_UNKNOWN);
}
static inline bool det_branch_without_cookie(const sip_msg *m) {
    return m->is_request && m->via_branch.len && !fs_str_istarts(m->via_branch, "z9hG4bK") &&
           !sip_msg_has_anomaly(m, SIP_A_VIA_BRANCH_NO_COOKIE);
}

/* ---- entities ---------------------------------------------------------------- */

/* When a short ring (FRAUD-WANGIRI-001) began and ended, to tell the legs
 * of one forked call from separate calls (det_calls.c, same_fork). */
typedef struct det_fork {
    uint32_t invite_ms, end_ms; /* capture milliseconds, modulo 2^32 (49 days) */
} det_fork;

/* A source address: the sender of requests (responses are credited to the
 * address they are sent to, i.e. the requester). Fields every request or
 * response touches come first, so a message loads the first few cache lines
 * of its source (det_process prefetches them); the rest serve rarer events. */
typedef struct det_source {
    det_entry e;
    fs_addr addr;               /* the address, or an IPv6 one's network (det_source_net) */
    bool flood_flagged, scan_flagged, enum_flagged, brute_flagged, brute_user_flagged;
    bool irsf_flagged, wangiri_flagged;
    uint64_t messages, requests;
    uint32_t incidents;
    uint8_t prefix;             /* addr's prefix length: 128 = one address (all IPv4); here,
                                 * where padding was, so the entry does not grow */
    /* flood (SIP-FLOOD-001): every request */
    uint32_t flood_total, flood_invite, flood_register, flood_options;
    uint64_t flood_start;
    double flood_peak_rate;     /* the highest requests/s so far in the window (its `rate`) */
    /* scanning (SIP-SCAN-002): every probe-like request */
    uint64_t scan_start;
    uint32_t scan_probes;
    /* Wangiri per source (rotating caller ids): every INVITE */
    uint32_t wangiri_calls, wangiri_short, wangiri_answered;
    uint64_t wangiri_start;
    uint64_t wangiri_ring_us;
    det_fork wangiri_fork;      /* the latest short ring's INVITE and end (det_calls.c, same_fork) */
    det_sketch scan_targets;
    /* enumeration (SIP-ENUM-001): final responses to probes */
    uint64_t enum_start;
    uint32_t enum_probes, enum_not_found, enum_exists;
    det_sketch enum_users;
    /* brute force (SIP-BRUTE-001/002): answers to requests with credentials */
    uint64_t brute_start;
    uint64_t brute_many_start;  /* SIP-BRUTE-002 window (brute_start is SIP-BRUTE-001's) */
    uint64_t brute_user;        /* hash of the user with most recent failures */
    uint32_t brute_user_fails;
    uint32_t brute_fails;
    uint32_t brute_forgiven;    /* of brute_users, those that got a 2xx after failing (SIP-BRUTE-002) */
    uint32_t brute_many_window; /* SIP-BRUTE-002 windows begun: names the window its failures are kept
                                 * under (its start moves when time steps back into it) */
    struct { uint64_t user; uint32_t fails; } brute_top[4]; /* failures per user */
    det_sketch brute_users;
    /* fraud velocity per source (FRAUD-IRSF-001): calls to high-risk ranges */
    uint64_t irsf_start;
    uint32_t irsf_calls;
    uint32_t wangiri_answer_s;  /* capture second + 1 of its latest call answered (0 none; Wangiri,
                                 * det_calls.c; here, where padding was) */
    det_sketch irsf_numbers;
    det_sketch wangiri_callees;
} det_source;

/* An out-of-dialog request (any method but ACK and CANCEL) or one carrying
 * credentials, waiting for its final response: keyed by
 * requester + Call-ID + CSeq number and method. Only responses that answer a
 * request we saw count for SIP-ENUM-001 and SIP-BRUTE-*, so forged
 * responses sent to a victim cannot frame it. */
typedef struct det_txn {
    det_entry e;
    uint64_t user;          /* hash of the credential username, else the probed user
                             * (Request-URI user, To for REGISTER); 0 = none */
    uint64_t probed;        /* hash of the probed user, credentials or not (SIP-ENUM-001) */
    uint64_t nonce_use;     /* key of (requester, user, nonce) of its credentials, 0 = none */
    bool had_auth;          /* carried Authorization/Proxy-Authorization */
    bool answered;          /* a final response was already counted */
    bool nonce_known;       /* that user got a 2xx with that nonce before (see txn_request) */
} det_txn;

#define DET_DEST_LATE 4 /* ended windows a worker keeps its unreported share of */

typedef struct det_dest {
    det_entry e;
    fs_addr addr;
    uint64_t flood_start;   /* start of the current window, aligned to window_s */
    uint64_t flood_first;   /* first request of the window */
    uint32_t flood_total;   /* this engine's requests in the window */
    uint32_t flood_pending; /* of those, not yet added to eng->shared */
    uint32_t flood_sum;     /* every worker's total, as last read from eng->shared */
    det_sketch flood_sources;
    bool flagged;           /* threshold crossed in the current window */
    uint64_t flood_last;    /* last request of the window */
    /* With workers: ended windows whose share this engine did not report,
     * the sum being below the threshold then (another worker, behind in
     * the capture, may still take it over): re-checked at the end. */
    struct { uint64_t window, first_us, last_us; uint32_t total, sources; } late[DET_DEST_LATE];
} det_dest;

/* The event_id of an incident (incident_key) that several workers may each
 * open a share of (SIP-FLOOD-002 toward one host, a caller's fraud rules):
 * a share opening at ts within quiet_us of the activity the others reported
 * (det_shared_incident_seen) takes their id into `id`; else `id` (fresh)
 * becomes the incident's. So every share, and the messages each hands over
 * as evidence, carry the one id the merged report has. Thread-safe. */
void det_shared_incident_id(det_shared *s, uint64_t incident_key, uint64_t ts, uint64_t quiet_us, char id[40]);
/* A share's activity reached ts. Thread-safe. */
void det_shared_incident_seen(det_shared *s, uint64_t incident_key, uint64_t ts);
/* Add `add` hits at ts to the total of the incident's shares and return
 * that total (0: the incident is not in the table, or ts is outside its
 * span). A rule judging a sender's messages counts its responses on the
 * workers of their requesters: its threshold applies to the total, as one
 * engine that saw every message would apply it. Thread-safe. */
uint64_t det_shared_incident_hits(det_shared *s, uint64_t incident_key, uint64_t ts, uint64_t quiet_us, uint64_t add);
/* Whether the share at ts that just became reportable is the incident's
 * first to: it alone counts the incident for its talker (the summary's top
 * talkers add up the workers' figures, and the shares are one incident).
 * True also when the incident is not in the table. Thread-safe. */
bool det_shared_incident_first_reportable(det_shared *s, uint64_t incident_key, uint64_t ts, uint64_t quiet_us);

/* Add `delta` to the total of (address, window index) shared by the workers;
 * returns the new total. A delta of 0 only reads it (0 when not held) and
 * takes no slot. Thread-safe. */
uint32_t det_shared_add(det_shared *s, const fs_addr *a, uint64_t window, uint32_t delta);
/* The hash seed every worker's engine uses (det_engine_set_shards). */
uint64_t det_shared_seed(const det_shared *s);
/* "from sent a request to to" as a peer pair (det_behaviour.c), at capture
 * time ts; and whether a pair was, in the last one to two hours of capture
 * time (a rare false yes). Lock-free. */
void det_shared_peer_add(det_shared *s, uint64_t pair, uint64_t ts);
bool det_shared_peer_has(const det_shared *s, uint64_t pair, uint64_t ts);
/* Those pairs, for the engines of the workers (det_engine_set_shards). */
det_peers *det_shared_peers(det_shared *s);
/* true if `owner` tracks this call: the first worker to claim a Call-ID key
 * keeps it (until the entry is evicted). Thread-safe. */
bool det_shared_claim_call(det_shared *s, uint64_t call_key, uint32_t owner, uint64_t ts);
/* Start loading the bucket det_shared_claim_call will look at. */
void det_shared_prefetch_call(const det_shared *s, uint64_t call_key);
/* The part of the callers table all workers count into that holds
 * caller_key, locked: every use of that det_caller sits between these two
 * calls with the same key (another worker may evict the entry as soon as the
 * lock is released). */
det_table *det_shared_callers_lock(det_shared *s, uint64_t caller_key);
void det_shared_callers_unlock(det_shared *s, uint64_t caller_key);
/* Slots and live entries of the whole callers table, for statistics once
 * the workers are done. */
void det_shared_callers_count(const det_shared *s, uint32_t *slots, uint32_t *live);
/* Callers tracked for max_dialogs calls (the engine's table and the shared one). */
static inline uint32_t det_callers_capacity(uint32_t max_dialogs) { return max_dialogs / 2 + 64; }

/* A calling party (E.164 or SIP user). */
typedef struct det_caller {
    det_entry e;
    char number[32];
    /* Wangiri */
    uint64_t wangiri_start;
    uint32_t short_rings, answered, calls;
    det_sketch callees;
    /* IRSF per caller */
    uint64_t irsf_start;
    uint32_t irsf_calls;
    det_sketch irsf_numbers;
    /* volume */
    uint64_t vol_start;
    uint32_t vol_calls;
    uint32_t concurrent;
    /* added by det_calls.c */
    bool wangiri_flagged, irsf_flagged, vol_flagged;
    uint32_t answer_s;       /* capture second + 1 of its latest call answered (0 none; in padding) */
    uint64_t ring_us_total;  /* summed ring time of the short rings (Wangiri) */
    det_fork wangiri_fork;   /* the latest short ring's INVITE and end (det_calls.c, same_fork) */
    /* the windows of FRAUD-IRSF-001 and FRAUD-VOL-001 as the capture has
     * them, whatever order the workers counted their calls in: the latest
     * call counted (last_seen) and the source of the earliest (the one
     * the window starts at: the incident's source observable) */
    uint64_t irsf_last, vol_last;
    fs_addr irsf_src, vol_src;
    /* the URI this caller was first identified by (a trusted sender's
     * P-Asserted-Identity, else From), kept when the number is no E.164
     * one: the observable its events name (a CANCEL or 487 carries no PAI,
     * and its From may be anonymous); without its parameters when longer,
     * empty if longer than this even so */
    char uri[80];
} det_caller;

typedef enum det_call_state {
    CALL_NONE = 0, CALL_TRYING, CALL_RINGING, CALL_ANSWERED, CALL_ENDED
} det_call_state;

/* One transaction/dialog keyed by Call-ID. */
typedef struct det_call {
    det_entry e;
    uint8_t state;          /* det_call_state (INVITE dialogs) */
    uint8_t last_method;    /* sip_method of the last request seen */
    bool last_had_auth;     /* last request carried Authorization/Proxy-Authorization */
    bool counted_active;    /* contributed to caller->concurrent */
    bool long_reported;
    bool is_invite;
    bool caller_allowed;    /* det_calls.c: caller in allow_callers, no caller entry, not counted
                             * per source (in the padding before auth_user: the entry stays 216 B) */
    uint8_t evidence_by;    /* det_calls.c EVID_*: incidents the rest of this call is evidence of
                             * (--pcap-out; the last byte of that padding) */
    uint64_t auth_user;     /* hash of the credential username / To user */
    uint64_t caller_key;
    fs_addr src;            /* the requester */
    fs_endpoint src_ep, dst_ep;
    bool answered_elsewhere; /* det_calls.c: cancelled with Reason SIP;cause=200 just after its
                              * caller's answer (a ring group): no short ring (in padding) */
    uint16_t dialog_target;  /* det_calls.c: 16-bit hash of the address:port its dialog's requests
                              * went to besides the INVITE's ends, 0 none yet (in padding) */
    uint64_t t_invite, t_ring, t_answer, t_end;
    char caller[32];
    char callee[32];
    int16_t risk_prefix;    /* index into cfg high_risk, -1 none */
    uint16_t answer_tag;    /* 16-bit hash of the to-tag of the answer, 0 unknown (fits the padding) */
    /* added by det_calls.c */
    uint32_t invite_cseq;
    uint16_t final_status;  /* first final response to the INVITE, 0 none */
    uint8_t transport;      /* cap_transport */
    bool cancelled : 1;       /* CANCEL or 487 ended it before answer */
    bool source_allowed : 1;  /* requester is allow-listed: no source-keyed events */
    bool short_by_caller : 1; /* its short ring was credited to the caller (Wangiri) */
    bool short_by_source : 1; /* ... to the source */
    bool redirect_seen : 1;   /* det_calls.c: a 3xx to the INVITE on another leg (a proxy's, which
                               * may recurse on it: call_invite) */
    uint8_t dialogs_ended;    /* det_calls.c: bit 0 the answer's dialog had its BYE, bit 1 other_tag's */
    uint16_t other_tag;       /* 16-bit hash of a second fork's 2xx to-tag, 0 none: two dialogs */
} det_call;

typedef struct det_incident {
    det_entry e;
    uint64_t quiet_until;   /* close when capture time passes this */
    ev_event *ev;           /* heap, one per open incident (cold path) */
    bool reported_open;     /* live mode: version 1 already emitted */
    bool shared_reportable; /* with workers: the shares' hits together reached the threshold */
    uint32_t evidence;      /* messages handed to the evidence callback */
    uint64_t shared_seen;   /* with workers: activity last told det_shared_incident_seen */
    uint64_t count_at_report;
    uint64_t last_at_report;  /* live: ev->last_us when last reported (open or refresh) */
    uint64_t first_at_report; /* live: ev->first_us when last reported */
    uint64_t sane_last_us;  /* latest hit outside an unconfirmed jump ahead (0: none; det_hit) */
    uint64_t anomalies;     /* bit a: parser anomaly code a counted (det_protocol.c), every one,
                             * where evidence.details.anomalies keeps what fits */
} det_incident;

/* The incidents table's key of rule r's incident keyed key_hash. */
static inline uint64_t det_incident_key(det_rule_id r, uint64_t key_hash) {
    return key_hash ^ ((uint64_t)(r + 1) * 0xff51afd7ed558ccdULL);
}

/* ---- the look back (det_lookback.c) ---------------------------------------------- */

/* The last messages a worker processed, for --pcap-out: an incident's
 * frames then begin with the first message its window counted. A ring of
 * `bytes` bytes of messages plus one record per 256 of them; the oldest
 * are overwritten. Messages longer than DET_LOOKBACK_MAX_MESSAGE (or a
 * quarter of the ring) are not kept. */
#define DET_LOOKBACK_MAX_MESSAGE 65536
typedef struct det_lookback det_lookback;
det_lookback *det_lookback_new(size_t bytes); /* NULL: out of memory */
void det_lookback_free(det_lookback *lb);
size_t det_lookback_memory(const det_lookback *lb);
/* The message being processed counted toward the incident keyed
 * incident_key (det_hit, det_counted); it was handed over for that
 * incident as it came (written). Once the engine is done with it, it is
 * added (copied in) with its call (call_key, and leg: the call as one
 * requester placed it), handed: whether it was handed over (has a frame). */
void det_lookback_tag(det_lookback *lb, uint64_t incident_key);
void det_lookback_written(det_lookback *lb, uint64_t incident_key);
void det_lookback_add(det_lookback *lb, const cap_payload *p, uint64_t ts_us, uint64_t call_key, uint64_t leg,
                      bool handed);
/* Each earlier message counted toward incident_key at or after since_us
 * and not yet handed over for it, oldest first, at most budget of them;
 * with_calls: every other message of their calls (the legs their
 * requesters placed) too (in_call), the call leg of the message being
 * processed too when it counted, and on_call told each call. A message
 * already handed over (for any incident) is not handed over again: one
 * frame per message. Returns how many fn was called with. p lives only
 * for the call. */
typedef void (*det_lookback_fn)(void *user, const cap_payload *p, bool in_call);
typedef void (*det_lookback_call_fn)(void *user, uint64_t call_key);
uint32_t det_lookback_each(det_lookback *lb, uint64_t incident_key, uint64_t since_us, bool with_calls,
                           uint64_t leg, uint32_t budget, det_lookback_fn fn, det_lookback_call_fn on_call,
                           void *user);

/* ---- the engine ----------------------------------------------------------------- */

struct det_engine {
    const fs38_config *cfg;
    det_event_fn emit;
    void *user;
    bool live;
    unsigned shards;        /* workers sharing the traffic (det_engine_set_shards) */
    det_shared *shared;     /* what the workers agree on (det_shared.c), NULL with one */
    det_peers own_peers;    /* the peer pairs of a single engine (with workers: shared's) */
    det_peers *peers;       /* the peer pairs this engine reads and writes */
    unsigned shard_index;   /* this engine's worker number */
    uint64_t seed;
    uint8_t source_prefix6; /* cfg->ipv6_source_prefix (det_source_net) */
    bool require_tls;       /* a zone has require_tls (SIP-INFO-005 looks at messages) */
    int64_t hours_minute;   /* business_hours: the capture minute last judged (+1; 0 none) */
    bool hours_within;      /* ...and whether it was within them */
    uint64_t now_us;        /* the clock: max capture time seen, since the last step back */
    uint32_t clock_behind;  /* ticks in a row more than DET_CLOCK_STEP_US behind the clock */
    uint64_t jump_from;     /* a message's time jumped the clock ahead by more than DET_CLOCK_STEP_US:
                             * the clock before it, until a later time confirms the jump (0 none) */
    bool clock_follow;      /* a new input began (det_clock_follow) */
    const char *input;      /* det_engine_set_input */
    bool input_frames;
    uint64_t next_tick_us;
    uint64_t next_close_us; /* no open incident is due before (a lower bound) */
    sip_limits limits;
    det_table sources, dests, callers, calls, incidents;
    det_stats stats;
    det_table txns;         /* det_txn: requests waiting for their final response */
    uint32_t calls_cursor;  /* det_calls_tick sweeps the calls table in slices */
    uint64_t calls_swept_us; /* capture time of the last slice */
    bool finishing;         /* det_finish: sweep everything once */
    bool finish_opened;     /* det_finish_open done, det_finish to come */
    sip_msg msg;            /* reused for every message: no allocation per packet */
    const det_indicators *indicators; /* shared indicators (INTEL-001), NULL = none */
    /* evidence (det_engine_set_evidence): the incidents the message being
     * processed counted toward; in_message is false during timers */
    det_evidence_fn evidence_fn;
    void *evidence_user;
    det_tap_fn tap_fn;
    void *tap_user;
    uint32_t evidence_per_incident;
    bool in_message;
    bool calls_marked;      /* a call has evidence_by bits: look calls up for every message */
    uint8_t nevidence;
    det_evidence_ref evidence[DET_EVIDENCE_REFS];
    /* det_engine_set_lookback: the last messages, and the incidents this
     * message made reportable whose earlier messages it should hand over */
    det_lookback *lookback;
    uint8_t nlookback_due;
    struct {
        uint64_t incident;  /* its key in the incidents table */
        uint64_t counted;   /* the key its window's messages were tagged with (det_lookback_as) */
    } lookback_due[DET_EVIDENCE_REFS];
};

/* What each detector sees for one message. */
typedef struct det_ctx {
    det_engine *eng;
    const sip_msg *m;
    const cap_payload *p;
    uint64_t ts;
    int src_zone, dst_zone;
    cfg_trust src_trust, dst_trust;
    bool zones;             /* any core/trusted zone configured */
    bool src_allowed;       /* allow-listed: no source-keyed events */
    det_source *requester;  /* requests: src; responses: dst (may be NULL) */
    bool requester_allowed; /* the requester is allow-listed */
    int requester_zone;     /* zone of the requester (src of requests, dst of responses) */
    const fs_endpoint *src_ep, *dst_ep; /* formatted only when an event needs them */
    uint64_t src_source_key; /* the sender's key in the sources table */
    uint64_t dest_key;      /* the destination's key in the dests table */
    uint64_t call_key;      /* the Call-ID's key in the calls table, 0 = none */
    uint64_t txn_key;       /* the transaction's key in txns (det_txn_key), 0 = not tracked */
} det_ctx;

/* ---- incidents (det_engine.c) ----------------------------------------------------- */

/* Record `add` occurrences of rule r keyed by key_hash. Opens the incident on
 * first use (filling rule info, sample and the common fields from ctx) and
 * returns the event so the caller can add observables/details; NULL when the
 * rule is disabled. *opened tells whether it was just created. */
ev_event *det_hit(det_ctx *c, det_rule_id r, uint64_t key_hash, uint32_t add, bool *opened);
/* det_hit for a windowed detector whose first hit carries the whole window's
 * count: the activity began at since_us (the window start), so first_seen
 * says so. */
ev_event *det_hit_since(det_ctx *c, det_rule_id r, uint64_t key_hash, uint32_t add, uint64_t since_us,
                        bool *opened);
/* det_hit_since whose window also counted messages up to until_us (0:
 * none): a counter several workers share holds messages of other workers
 * that can be later in the capture than the one at hand, counted before
 * the crossing (one engine, in capture order, would have hit on them), so
 * last_seen says so. */
ev_event *det_hit_span(det_ctx *c, det_rule_id r, uint64_t key_hash, uint32_t add, uint64_t since_us,
                       uint64_t until_us, bool *opened);
/* A windowed detector began a new window for the entity it had flagged in
 * the window before (crossed its threshold there). While that incident is
 * open the new window's activity is its: it stays open for the window, so
 * that the window crossing later continues it instead of opening a second
 * incident after fewer than window_s of quiet (a scan resumed after a
 * pause: the timer would otherwise close the first at its last hit +
 * window_s, before the second window's crossing). */
void det_window_continues(det_ctx *c, det_rule_id r, uint64_t key_hash);
/* Evidence only (--pcap-out): the message at hand belongs to a call that
 * counted toward rule r's incident keyed by key_hash; hands it over with
 * that incident (det_evidence_ref.in_call) if it is open and reportable,
 * within the per-incident limit. Counts nothing. */
void det_note_in_call(det_ctx *c, det_rule_id r, uint64_t key_hash);
/* Evidence only (--pcap-out with a look back): the message at hand counted
 * toward the window of rule r keyed by key_hash, before any incident is
 * open (the windowed detectors call it as they count). Nothing without a
 * look back: the caller tests c->eng->lookback before computing the key. */
void det_counted(det_ctx *c, det_rule_id r, uint64_t key_hash);
/* The incident of rule r keyed key_hash, which the message at hand has
 * just made reportable, counted the messages det_counted tagged with
 * counted_hash instead (a window narrower than the incident's key:
 * SIP-BRUTE-001's one user of a source). */
void det_lookback_as(det_ctx *c, det_rule_id r, uint64_t key_hash, uint64_t counted_hash);
/* The look back handed over an earlier call (call_key) of rule r's
 * incident incident_key: the rest of the call, as its source places it,
 * follows as for a call that counted now (det_calls.c). */
void det_calls_mark_earlier(det_engine *eng, uint64_t call_key, det_rule_id r, uint64_t incident_key);
/* Detectors that count answers (SIP-ENUM-001, SIP-BRUTE-*) open their
 * incident on a response, whose sample shows the victim answering. Called
 * with a later request of the same requester, this makes that request the
 * sample of rule r's open incident keyed by key_hash, if its sample is
 * still a response: the evidence then shows the attacker's own message. */
void det_sample_request(det_ctx *c, det_rule_id r, uint64_t key_hash);
/* Threshold of a rule scaled by the source zone's flood multiplier when asked. */
uint32_t det_threshold(const det_ctx *c, det_rule_id r);
/* Same, scaled by the multiplier of the given zone (-1 = none: unscaled). */
uint32_t det_threshold_zone(const det_ctx *c, det_rule_id r, int zone);
/* Whether the sender of the message at hand may assert a caller's identity
 * (P-Asserted-Identity): the core, or a trusted zone whose may_assert names
 * it (det_trust.c). Without zones, no one. */
bool det_may_assert_identity(const det_ctx *c);
/* Whether the message at hand is outside the configured business_hours
 * (never, when none are configured). */
bool det_off_hours(const det_ctx *c);
/* The threshold of fraud rule r at the message's time: its parameter
 * off_hours_param (off_hours_threshold) outside business hours when set
 * (above 0), otherwise its threshold. */
uint32_t det_fraud_threshold(const det_ctx *c, det_rule_id r, int off_hours_param);
/* With business_hours configured, the detail off_hours (yes/no) of the
 * message that opened a fraud incident. */
void det_note_hours(const det_ctx *c, ev_event *ev);
static inline const cfg_rule *det_rule_cfg(const det_ctx *c, det_rule_id r) {
    return &c->eng->cfg->rules[r];
}
/* Keys of the tables: keyed with the engine's seed, salted per use. */
static inline uint64_t det_key_seeded(uint64_t seed, const void *p, size_t n, uint64_t salt) {
    return fs_hash_bytes(p, n, seed ^ (salt * 0x9e3779b97f4a7c15ULL));
}
static inline uint64_t det_key(const det_engine *eng, const void *p, size_t n, uint64_t salt) {
    return det_key_seeded(eng->seed, p, n, salt);
}
static inline uint64_t det_key_addr(const det_engine *eng, const fs_addr *a, uint64_t salt) {
    return fs_addr_hash(a, eng->seed ^ (salt * 0x9e3779b97f4a7c15ULL));
}

/* Sources (the sources table, the rules counting per source) are
 * addresses, IPv6 ones grouped by their /state.ipv6_source_prefix network
 * (fs_addr_source_net): *out is a's source, the return its prefix length. */
static inline uint8_t det_source_net(const det_engine *eng, const fs_addr *a, fs_addr *out) {
    return fs_addr_source_net(a, eng->source_prefix6, out);
}
/* det_key_addr of a's source: IPv4 as its address, IPv6 with one mask
 * more. */
static inline uint64_t det_key_net(const det_engine *eng, const fs_addr *a, uint64_t salt) {
    if (a->family != 6) return det_key_addr(eng, a, salt);
    fs_addr net;
    det_source_net(eng, a, &net);
    return det_key_addr(eng, &net, salt);
}
/* The key of a's source in the sources table. */
static inline uint64_t det_key_source(const det_engine *eng, const fs_addr *a) {
    return det_key_net(eng, a, DET_SALT_REQUESTER);
}
/* The requester of the message at hand: a request's sender, a response's
 * destination (the address itself, not its source network). */
static inline const fs_addr *det_requester_addr(const det_ctx *c) {
    return c->m->is_request ? &c->p->src.addr : &c->p->dst.addr;
}
/* The observables naming source s in an event keyed by it: its address
 * (`ip`), or for an IPv6 network the network to block (`cidr`) and `addr`,
 * the address of the message at hand (`ip`). Both with role source. */
void det_source_observables(ev_event *ev, const det_source *s, const fs_addr *addr);
/* Rules that judge one request, or one message that it takes a sender to
 * block for (SIP-MAL-*, SIP-PROTO-*, SIP-SCAN-001, SIP-TRUST-001, SIP-CLI-*),
 * key their incidents by the sender's source, like the counting rules: a
 * scanner hopping over its /64 is one incident, not one per address (and
 * cannot fill the incident table). The key, salted: */
static inline uint64_t det_key_sender(const det_ctx *c, uint64_t salt) {
    return det_key_net(c->eng, &c->p->src.addr, salt);
}
/* det_source_observables for the sender's source, the sender's address. */
void det_sender_observables(ev_event *ev, const det_ctx *c);

/* Normalise a SIP user / tel number to "+digits" when it is an international
 * number, or to digits/user otherwise. Returns false if nothing usable. */
/* 0-15 for a hex digit of either case, else -1. */
int det_hex_value(char ch);
bool det_number_normalise(fs_str user, char *out, size_t n, bool *international);
/* The URI of a From/To/PAI/Contact-like value: inside <> when the value
 * has one (also when its display name or header parameters are malformed),
 * else the addr-spec of a well-formed value, else the whole value. */
fs_str det_nameaddr_uri(fs_str value);
/* User part of a name-addr header value (From/To/PAI) or a URI; tel: numbers too. */
fs_str det_header_user(fs_str value);
/* u's user part, for a tel: URI whose phone-context is a global prefix
 * with its parameters (det_number_normalise reads the context: RFC 3966
 * 5.1.5, tel:7700900123;phone-context=+44 is +447700900123). */
fs_str det_uri_number_user(const sip_uri *u);
/* m's asserted identity: of its P-Asserted-Identity values (RFC 3325 9.1:
 * a sip: and a tel: URI, in one field or two, "<sip:alice@x>, <tel:+44...>"),
 * the first that is a telephone number (a tel: URI, or an international
 * number as user part), else the first; empty if none. */
fs_str det_pai_value(const sip_msg *m);
/* det_header_user of m's first From (which 0) or To (1), without parsing
 * again when sip_parse found the value plain. */
fs_str det_from_to_user(const sip_msg *m, unsigned which);
/* The URI det_header_user parses for m's first From (0) / To (1):
 * det_nameaddr_uri's. */
fs_str det_from_to_uri(const sip_msg *m, unsigned which);
/* The user part of m's Request-URI (sip_uri_parse's), empty if none. */
fs_str det_ruri_user(const sip_msg *m);

/* ---- detectors ------------------------------------------------------------------- */

void det_protocol_check(det_ctx *c);      /* det_protocol.c: anomalies, fingerprints */
void det_protocol_anomalies(det_ctx *c);  /* only the anomalies (unparseable payloads) */
void det_behaviour_check(det_ctx *c);     /* det_behaviour.c: scan, enum, brute, flood */
void det_behaviour_finish_shared(det_engine *eng); /* det_finish: late SIP-FLOOD-002 shares */
void det_trust_check(det_ctx *c);         /* det_trust.c: trust, CLI, topology, info */
void det_tls_check(det_ctx *c, uint16_t version, uint16_t suite); /* det_trust.c: SIP-INFO-004 */
void det_cert_check(det_ctx *c, const uint8_t *der, size_t n, bool by_client); /* det_trust.c: SIP-INFO-006 */
void det_calls_check(det_ctx *c);         /* det_calls.c: dialogs, Wangiri, IRSF, volume */
bool det_calls_in_answered_dialog(det_ctx *c); /* det_calls.c: a request in an answered call's dialog */
void det_calls_tick(det_engine *eng);     /* long calls, timeouts */
void det_indicators_check(det_ctx *c);    /* det_indicators.c: INTEL-001 */
/* The key of the transaction m belongs to in the txns table when
 * det_behaviour_check will look it up, else 0 (det_behaviour.c). */
uint64_t det_txn_key(const det_engine *eng, const sip_msg *m, const cap_payload *p, uint64_t call_key);

#endif
