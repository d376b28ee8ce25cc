/*
 * det_calls.c -- INVITE dialogs and the fraud rules built on them: IRSF
 * velocity (FRAUD-IRSF-001), long answered calls to high-risk ranges
 * (FRAUD-IRSF-002), Wangiri one-ring calls (FRAUD-WANGIRI-001) and call
 * volume per caller (FRAUD-VOL-001).
 *
 * Owns: the calls table (one entry per Call-ID: setup, ringing, answer,
 * cancel, BYE, duration), the per-caller counters (in the table the workers
 * share when there are several: a caller calls from any address) and the
 * per-source Wangiri/IRSF counters. Must not touch: non-INVITE transactions (a flood of
 * REGISTERs must not evict dialogs), the incident lifecycle (det_hit).
 *
 * A caller in allow_callers (a call centre's main number) is looked up once,
 * at call setup (call->caller_allowed): its calls get no caller entry, so
 * FRAUD-VOL-001, FRAUD-WANGIRI-001 and FRAUD-IRSF-001 never judge it, and
 * they are not counted per source either (or the dialer's calls would raise
 * the source-keyed fallback against the trunk they come through).
 * FRAUD-IRSF-002 (a long call to a high-risk range) still judges them: that
 * call is the money, whoever's number it carries (docs/rules.md).
 *
 * The concurrent-call counter of a caller is decremented exactly once per
 * call, by whichever comes first: the final failure, CANCEL, BYE, a timeout
 * or the eviction of the call entry (counted_active guards it), and never
 * below zero: the OpenSIPS fraud_detection underflow on CANCEL cannot happen.
 *
 * Evidence (--pcap-out): a call that counted toward an incident remembers
 * which (call->evidence_by), so the rest of it as its source placed it (the
 * answers, ACK, the CANCEL's 200, the caller's BYE) is handed over too; so
 * is every message of a call placed while its caller's or source's Wangiri
 * incident is open, whose INVITE and ringing come before the CANCEL that
 * counts.
 */
#include <stdio.h>

#include "det_internal.h"

enum {
    SALT_REQUESTER = DET_SALT_REQUESTER,
    SALT_CALLER = 52,
    SALT_CALLEE = 53,
    SALT_IRSF = 54,
    SALT_WANGIRI = 55,
    SALT_VOLUME = 56,
    SALT_LONG = 57,
    SALT_TAG = 58
};

#define SETUP_TIMEOUT_US (300ULL * FS_USEC)     /* no final response after 5 min */
/* One call entry per dialog in a table of max_dialogs: its size is memory
 * the docs state (docs/performance.md); flags share bytes to keep it. */
_Static_assert(sizeof(det_call) == 216, "det_call grew: docs/performance.md and the memory bound assume 216 B");
#define CALL_MAX_AGE_US (4ULL * 3600 * FS_USEC) /* answered, no BYE seen */
#define ENDED_LINGER_US (64ULL * FS_USEC)       /* keep for retransmissions (64*T1) */

/* ---- identities -------------------------------------------------------------------- */

static bool anonymous_user(fs_str u) {
    static const char *const names[] = {"anonymous", "unknown", "restricted", "unavailable",
                                        "private", "withheld"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (fs_str_ieq_cstr(u, names[i])) return true;
    return false;
}

/* The normalised number of a user part (out empty and false if none). */
static bool identity_of_user(fs_str user, char *out, size_t n) {
    bool intl;
    out[0] = '\0';
    if (!user.len || anonymous_user(user)) return false;
    return det_number_normalise(user, out, n, &intl);
}

static bool identity_of(fs_str header_value, char *out, size_t n) {
    return identity_of_user(det_header_user(header_value), out, n);
}

/* The caller: the asserted identity when it comes from a sender that may
 * assert it (the core, a trusted zone whose may_assert names PAI), else
 * From. Returns the URI of the header it came from (empty
 * when there is no caller). */
static fs_str caller_of(const det_ctx *c, char *out, size_t n) {
    const sip_msg *m = c->m;
    fs_str pai = det_pai_value(m);
    if (pai.len && det_may_assert_identity(c) && identity_of(pai, out, n))
        return det_nameaddr_uri(pai);
    if (identity_of_user(det_from_to_user(m, 0), out, n)) return det_from_to_uri(m, 0);
    out[0] = '\0';
    return fs_str_make(NULL, 0);
}

static void callee_of(const sip_msg *m, char *out, size_t n) {
    bool intl;
    out[0] = '\0';
    fs_str user = det_ruri_user(m);
    if (user.len && det_number_normalise(user, out, n, &intl)) return;
    if (!identity_of_user(det_from_to_user(m, 1), out, n)) out[0] = '\0';
}

static uint64_t str_key(const det_engine *eng, const char *s, uint64_t salt) {
    return det_key(eng, s, strlen(s), salt);
}

static void number_observable(ev_event *ev, const char *num, const char *role) {
    if (ev_e164_ok(num)) ev_add_observable(ev, "e164", num, role);
}

/* The caller an incident is keyed by: an E.164 number is an observable to
 * block; another (an extension, a national number: the key, normalised)
 * is the detail "caller", so that two callers' incidents from one source
 * are told apart (an INVITE flood with rotating From users raises one per
 * caller). */
static void keyed_caller(ev_event *ev, const char *caller) {
    if (ev_e164_ok(caller)) ev_add_observable(ev, "e164", caller, "caller");
    else if (caller[0]) ev_set_str(ev, "caller", caller);
}

/* The event format asks for one observable at least. A caller-keyed event
 * whose caller is not an E.164 number and whose source is a relaying peer
 * (details.via_source) would have none: it names the URI the caller was
 * identified by (det_caller.uri), else the one the message at hand carries
 * (the INVITE, CANCEL, 487 or the caller's BYE of the call that raised it),
 * never an anonymous From: partners would block it for everyone. */
static void caller_uri_observable(ev_event *ev, fs_str value) {
    char uri[128];
    ev_copy_text(uri, sizeof uri, value);
    fs_str u = fs_str_make(uri, strlen(uri));
    if (fs_str_istarts(u, "sip:") || fs_str_istarts(u, "sips:") || fs_str_istarts(u, "tel:"))
        ev_add_observable(ev, "sip_uri", uri, "caller");
}

static void caller_uri_fallback(ev_event *ev, const det_ctx *c, const det_caller *k) {
    if (ev->nobs) return;
    /* the URI the caller's calls were keyed by, from its first INVITE */
    if (k && k->uri[0]) caller_uri_observable(ev, fs_str_make(k->uri, strlen(k->uri)));
    if (ev->nobs || !c->m) return;
    /* caller_of takes a trusted sender's caller from its P-Asserted-Identity
     * whatever the From holds (urn:service:sos, an anonymous URI): that URI
     * first, when the message is the caller's request (a response's PAI is
     * the callee's). With the From's alone such an event named nothing. */
    if (c->m->is_request && det_may_assert_identity(c))
        caller_uri_observable(ev, det_nameaddr_uri(det_pai_value(c->m)));
    if (!ev->nobs && !anonymous_user(det_from_to_user(c->m, 0))) caller_uri_observable(ev, det_from_to_uri(c->m, 0));
}

/* A configured trusted/core peer or an allow-listed one: a carrier relaying
 * other people's calls, not the one to block for them. */
static bool relaying_peer(const det_ctx *c, const fs_addr *src) {
    const fs38_config *cfg = c->eng->cfg;
    int z = cfg_zone_of(cfg, src);
    return (z >= 0 && cfg->zones[z].trust != TRUST_UNTRUSTED) || (cfg->nallow && cfg_is_allowed(cfg, src));
}

/* The sending address as an observable, or as details.via_source when it
 * is a relaying peer. */
static void source_observable(ev_event *ev, const det_ctx *c, const fs_addr *src) {
    char ip[FS_ADDR_STRLEN];
    fs_addr_str(src, ip, sizeof ip);
    if (relaying_peer(c, src)) {
        ev_set_str(ev, "via_source", ip);
        return;
    }
    ev_add_observable(ev, "ip", ip, "source");
}

/* The callers table: the engine's own, or with workers the one they share
 * (det_shared.c), so that a caller's calls count together whichever worker
 * tracks each of them. Every use of the det_caller of key sits between
 * callers_open and callers_close with that key (they never nest). */
static det_table *callers_open(det_engine *eng, uint64_t key) {
    return eng->shared ? det_shared_callers_lock(eng->shared, key) : &eng->callers;
}

static void callers_close(det_engine *eng, uint64_t key) {
    if (eng->shared) det_shared_callers_unlock(eng->shared, key);
}

static det_caller *caller_entry(det_table *callers, uint64_t key) {
    return key ? det_table_find(callers, key) : NULL;
}

/* The caller entry of call: none for an allow-listed caller (never
 * created, and so never judged). */
static det_caller *call_caller(det_table *callers, const det_call *call) {
    return call->caller_allowed ? NULL : caller_entry(callers, call->caller_key);
}

/* Whether the call counts toward its source's Wangiri/IRSF counters: not
 * from an allow-listed source, nor an allow-listed caller. */
static bool counted_by_source(const det_call *call) { return !call->source_allowed && !call->caller_allowed; }

/* The source entry of address a: most often the requester of the message
 * at hand (a call's answer goes back to its caller), already loaded. */
static det_source *source_entry(det_ctx *c, const fs_addr *a) {
    fs_addr net;
    det_source_net(c->eng, a, &net);
    if (c->requester && fs_addr_eq(&c->requester->addr, &net)) return c->requester;
    return det_table_find(&c->eng->sources, det_key_addr(c->eng, &net, SALT_REQUESTER));
}

static uint32_t crossing_add(bool *flagged, uint32_t count) {
    if (*flagged) return 1;
    *flagged = true;
    return count ? count : 1;
}

/* ---- incident keys, and the calls that are evidence of them -------------------------- */

enum {
    EVID_IRSF_CALLER = 1 << 0,
    EVID_IRSF_SOURCE = 1 << 1,
    EVID_WANGIRI_CALLER = 1 << 2,
    EVID_WANGIRI_SOURCE = 1 << 3,
    EVID_VOLUME = 1 << 4,
    EVID_LONG = 1 << 5
};

/* The incident keys of the call rules: per caller, or per source (the
 * call's requester, IPv6 by its network) when counted there. */
static uint64_t source_incident(const det_engine *eng, const det_call *call, uint64_t salt) {
    return det_key_net(eng, &call->src, salt);
}

static uint64_t long_call_incident(const det_engine *eng, const det_call *call) {
    uint64_t key = call->caller_key ? call->caller_key : det_key_addr(eng, &call->src, SALT_LONG);
    return key ^ SALT_LONG;
}

/* The rest of call is evidence of the incident behind bit (only with an
 * evidence callback: nothing is looked up otherwise). */
static void mark_evidence(det_engine *eng, det_call *call, uint8_t bit) {
    if (!eng->evidence_fn) return;
    call->evidence_by |= bit;
    eng->calls_marked = true;
}

void det_calls_mark_earlier(det_engine *eng, uint64_t call_key, det_rule_id r, uint64_t incident_key) {
    det_call *call = det_table_find(&eng->calls, call_key);
    if (!call) return;
    uint8_t bit = 0;
    if (r == R_IRSF_VELOCITY)
        bit = det_incident_key(r, call->caller_key ^ SALT_IRSF) == incident_key ? EVID_IRSF_CALLER : EVID_IRSF_SOURCE;
    else if (r == R_WANGIRI)
        bit = det_incident_key(r, call->caller_key ^ SALT_WANGIRI) == incident_key ? EVID_WANGIRI_CALLER
                                                                                  : EVID_WANGIRI_SOURCE;
    else if (r == R_CALL_VOLUME)
        bit = EVID_VOLUME;
    if (bit) mark_evidence(eng, call, bit);
}

/* The message at hand belongs to a call marked above: hand it over with
 * those incidents still open (det_note_in_call). A message that counted
 * itself was handed over already, and is not twice. Only the call as its
 * source placed it: the requests it sent and the answers to them, not
 * another leg of the call (a proxy's, with the same Call-ID) nor the
 * callee's BYE: --workers N shards by requester, and the worker tracking
 * the call sees exactly those, so one worker or several write the same. */
static void call_evidence(det_ctx *c) {
    det_engine *eng = c->eng;
    if (!eng->calls_marked || !eng->evidence_fn) return;
    const det_call *call = det_table_find(&eng->calls, c->call_key);
    if (!call || !call->evidence_by) return;
    if (!fs_addr_eq(c->m->is_request ? &c->p->src.addr : &c->p->dst.addr, &call->src)) return;
    uint8_t by = call->evidence_by;
    if (by & EVID_IRSF_CALLER) det_note_in_call(c, R_IRSF_VELOCITY, call->caller_key ^ SALT_IRSF);
    if (by & EVID_IRSF_SOURCE) det_note_in_call(c, R_IRSF_VELOCITY, source_incident(eng, call, SALT_IRSF));
    if (by & EVID_WANGIRI_CALLER) det_note_in_call(c, R_WANGIRI, call->caller_key ^ SALT_WANGIRI);
    if (by & EVID_WANGIRI_SOURCE) det_note_in_call(c, R_WANGIRI, source_incident(eng, call, SALT_WANGIRI));
    if (by & EVID_VOLUME) det_note_in_call(c, R_CALL_VOLUME, call->caller_key ^ SALT_VOLUME);
    if (by & EVID_LONG) det_note_in_call(c, R_IRSF_LONG_CALL, long_call_incident(eng, call));
}

/* Capture second + 1 of ts (0: none), as det_caller/det_source keep it. */
static uint32_t answer_second(uint64_t ts) { return (uint32_t)(ts / FS_USEC) + 1; }

/* ---- ending a call -------------------------------------------------------------------- */

/* Give back the caller's concurrent slot, once. */
static void release_concurrent(det_engine *eng, det_call *call) {
    if (!call->counted_active) return;
    call->counted_active = false;
    det_table *callers = callers_open(eng, call->caller_key);
    det_caller *k = call_caller(callers, call);
    if (k && k->concurrent > 0) k->concurrent--;
    callers_close(eng, call->caller_key);
}

/* A call entry about to be dropped (eviction, timeout). */
static void call_settle(det_engine *eng, det_call *call) { release_concurrent(eng, call); }

/* ---- FRAUD-IRSF-002: long answered calls ------------------------------------------------ */

static ev_event *long_call_hit(det_ctx *c, det_call *call, uint64_t duration_us) {
    const fs38_config *cfg = c->eng->cfg;
    if (call->long_reported || call->risk_prefix < 0 || call->risk_prefix >= cfg->nhigh_risk) return NULL;
    const cfg_rule *rc = det_rule_cfg(c, R_IRSF_LONG_CALL);
    if ((double)duration_us < rc->param[0] * 1e6) return NULL;
    call->long_reported = true;
    bool opened;
    /* counted against where the call came from (TOP TALKERS), not against
     * the callee when its BYE ends the call, nor no one from the timer */
    det_ctx from_caller = *c;
    from_caller.requester = source_entry(c, &call->src);
    ev_event *ev = det_hit(&from_caller, R_IRSF_LONG_CALL, long_call_incident(c->eng, call), 1, &opened);
    if (!ev) return NULL;
    mark_evidence(c->eng, call, EVID_LONG);
    const cfg_prefix *pre = &cfg->high_risk[call->risk_prefix];
    char range[32];
    snprintf(range, sizeof range, "+%s", pre->digits);
    ev_add_observable(ev, "e164_range", range, "destination");
    if (opened) {
        keyed_caller(ev, call->caller);
        source_observable(ev, c, &call->src);
        if (pre->label[0]) ev_set_str(ev, "range_label", pre->label);
        ev_set_int(ev, "min_duration_s", (int64_t)rc->param[0]);
    }
    number_observable(ev, call->callee, "callee");
    double secs = (double)duration_us / 1e6;
    ev_set_real_max(ev, "duration_s", secs);
    ev_set_int(ev, "long_calls", (int64_t)ev->count);
    return ev;
}

/* off_hours_threshold's place among each fraud rule's parameters (rules.h;
 * test_detect checks them against det_rule_param_index) */
enum { IRSF_OFF_HOURS_PARAM = 0, WANGIRI_OFF_HOURS_PARAM = 4, VOLUME_OFF_HOURS_PARAM = 1 };

/* ---- FRAUD-WANGIRI-001 --------------------------------------------------------------------- */

static void wangiri_details(ev_event *ev, uint32_t shorts, uint32_t calls, uint32_t answered,
                            uint32_t callees, uint64_t ring_us, double max_ring) {
    ev_set_int(ev, "short_rings", shorts);
    ev_set_int(ev, "calls", calls);
    ev_set_int(ev, "answered", answered);
    ev_set_real(ev, "answered_ratio", calls ? (double)answered / calls : 0);
    ev_set_int(ev, "distinct_callees", callees);
    ev_set_real(ev, "ring_time_avg_s", shorts ? (double)ring_us / shorts / 1e6 : 0);
    ev_set_real(ev, "max_ring_s", max_ring);
}

static bool wangiri_condition(const det_ctx *c, uint32_t shorts, uint32_t calls, uint32_t answered,
                              uint32_t callees) {
    const cfg_rule *rc = det_rule_cfg(c, R_WANGIRI);
    if (shorts < det_fraud_threshold(c, R_WANGIRI, WANGIRI_OFF_HOURS_PARAM) || (double)callees < rc->param[1]) return false;
    return calls && (double)answered / (double)calls <= rc->param[2];
}

/* A ring group's legs: one inbound call a PBX forks to a dozen phones (a
 * B2BUA: one Call-ID per phone, From the caller) goes out at once, and when
 * the caller hangs up before anyone answers every leg is cancelled at once.
 * That is one short ring (one caller gave up one call), not a dozen missed
 * calls from a Wangiri caller. A short ring whose INVITE and end both come
 * within FORK_SPREAD_MS of those of the short ring its caller (or source)
 * opened a fork with is another leg of it; anything else opens a new one.
 * A PBX sends a group's INVITEs, and its CANCELs, within milliseconds.
 * Measured from the fork's first leg, not chained: a campaign ringing its
 * victims one after another is a short ring per call up to 20 calls/s (5/s
 * in examples/wangiri.pcap; a dialer's 20/s is a call every 50 ms give or
 * take a few, SIPp's -r 20 48-52 ms, which a spread of 50 ms took for
 * pairs of legs), and at most one every FORK_SPREAD_MS above (100
 * calls/s with equal rings: one short ring in 3). */
#define FORK_SPREAD_MS 25
static bool near_ms(uint32_t a, uint32_t b) { return (uint32_t)(a - b) <= FORK_SPREAD_MS || (uint32_t)(b - a) <= FORK_SPREAD_MS; }
static bool same_fork(det_fork *f, const det_call *call, uint64_t end_us) {
    uint32_t invite_ms = (uint32_t)(call->t_invite / 1000) | 1, end_ms = (uint32_t)(end_us / 1000);
    if (f->invite_ms && near_ms(invite_ms, f->invite_ms) && near_ms(end_ms, f->end_ms)) return true;
    f->invite_ms = invite_ms; /* odd: never 0, "no fork yet" */
    f->end_ms = end_ms;
    return false;
}

/* A call that rang briefly and was cancelled: credit it, maybe raise. */
static void short_ring(det_ctx *c, det_call *call, uint64_t ring_us) {
    det_engine *eng = c->eng;
    const cfg_rule *rc = det_rule_cfg(c, R_WANGIRI);
    if (!rc->enabled || (double)ring_us > rc->param[0] * 1e6) return;
    uint64_t callee = call->callee[0] ? str_key(eng, call->callee, SALT_CALLEE) : 0;

    det_table *callers = callers_open(eng, call->caller_key);
    det_caller *k = call_caller(callers, call);
    if (k && same_fork(&k->wangiri_fork, call, c->ts)) {
        callers_close(eng, call->caller_key);
        return; /* another leg of a short ring counted: per source too */
    }
    if (k) {
        call->short_by_caller = true;
        k->short_rings++;
        if (eng->lookback) det_counted(c, R_WANGIRI, call->caller_key ^ SALT_WANGIRI);
        k->ring_us_total += ring_us;
        if (callee) det_sketch_add(&k->callees, callee);
        uint32_t distinct = det_sketch_count(&k->callees, k->short_rings);
        if (wangiri_condition(c, k->short_rings, k->calls, k->answered, distinct)) {
            bool opened;
            uint32_t add = crossing_add(&k->wangiri_flagged, k->short_rings);
            ev_event *ev = det_hit_since(c, R_WANGIRI, call->caller_key ^ SALT_WANGIRI, add, k->wangiri_start, &opened);
            if (ev) mark_evidence(eng, call, EVID_WANGIRI_CALLER);
            if (ev && opened) {
                keyed_caller(ev, call->caller);
                source_observable(ev, c, &call->src);
                caller_uri_fallback(ev, c, k);
                det_note_hours(c, ev);
            }
            if (ev)
                wangiri_details(ev, k->short_rings, k->calls, k->answered, distinct, k->ring_us_total,
                                rc->param[0]);
            callers_close(eng, call->caller_key);
            return; /* the caller incident covers it */
        }
    }
    callers_close(eng, call->caller_key);
    /* per source only for senders that place their own calls (rotating
     * caller ids); a carrier relays many callers' calls */
    if (!counted_by_source(call) || relaying_peer(c, &call->src)) return;
    det_source *s = source_entry(c, &call->src);
    if (!s || same_fork(&s->wangiri_fork, call, c->ts)) return;
    call->short_by_source = true;
    s->wangiri_short++;
    if (eng->lookback) det_counted(c, R_WANGIRI, source_incident(eng, call, SALT_WANGIRI));
    s->wangiri_ring_us += ring_us;
    if (callee) det_sketch_add(&s->wangiri_callees, callee);
    uint32_t distinct = det_sketch_count(&s->wangiri_callees, s->wangiri_short);
    if (!wangiri_condition(c, s->wangiri_short, s->wangiri_calls, s->wangiri_answered, distinct)) return;
    bool opened;
    uint32_t add = crossing_add(&s->wangiri_flagged, s->wangiri_short);
    ev_event *ev = det_hit_since(c, R_WANGIRI, source_incident(eng, call, SALT_WANGIRI), add, s->wangiri_start, &opened);
    if (!ev) return;
    mark_evidence(eng, call, EVID_WANGIRI_SOURCE);
    if (opened) {
        det_source_observables(ev, s, &call->src);
        ev_set_str(ev, "keyed_by", "source");
        det_note_hours(c, ev);
    }
    number_observable(ev, call->caller, "caller");
    wangiri_details(ev, s->wangiri_short, s->wangiri_calls, s->wangiri_answered, distinct, s->wangiri_ring_us,
                    rc->param[0]);
}

/* Take back the short ring credited when the call ended (an incident
 * already raised stays: it was true of the calls seen until then). */
static void short_ring_undo(det_ctx *c, det_call *call) {
    det_engine *eng = c->eng;
    uint64_t ring_us = call->t_end > call->t_invite ? call->t_end - call->t_invite : 0;
    if (call->short_by_caller) {
        det_table *callers = callers_open(eng, call->caller_key);
        det_caller *k = call_caller(callers, call);
        if (k && k->short_rings > 0) {
            k->short_rings--;
            k->ring_us_total -= ring_us < k->ring_us_total ? ring_us : k->ring_us_total;
        }
        callers_close(eng, call->caller_key);
    }
    det_source *s = call->short_by_source ? source_entry(c, &call->src) : NULL;
    if (s && s->wangiri_short > 0) {
        s->wangiri_short--;
        s->wangiri_ring_us -= ring_us < s->wangiri_ring_us ? ring_us : s->wangiri_ring_us;
    }
    call->short_by_caller = call->short_by_source = false;
}

/* A final failure counted in calls_failed: not a challenge (the caller
 * answers it) nor a 487 (counted as cancelled). */
static bool counted_failed(uint16_t status) {
    return status >= 300 && status != 401 && status != 407 && status != 487;
}

/* A 2xx to the INVITE of a call that had ended unanswered: the CANCEL lost
 * the race with the answer (RFC 3261 9.1), or the failure seen came from
 * another fork or from a carrier the proxy then failed over from (serial
 * forking keeps the Call-ID). The call is up after all: undo its end. */
static void call_revive(det_ctx *c, det_call *call) {
    det_engine *eng = c->eng;
    det_stats *st = &eng->stats;
    if (call->cancelled) {
        if (st->calls_cancelled) st->calls_cancelled--;
        short_ring_undo(c, call);
        call->cancelled = call->answered_elsewhere = false;
    } else if (counted_failed(call->final_status) && st->calls_failed) {
        st->calls_failed--;
    }
    call->final_status = 0;
    call->t_end = 0;
    call->state = CALL_RINGING;
    det_table_touch(&eng->calls, call, c->ts); /* up again: no longer the first to go (call_end) */
    det_table *callers = callers_open(eng, call->caller_key);
    det_caller *k = call_caller(callers, call);
    if (k && !call->counted_active) {
        k->concurrent++;
        call->counted_active = true;
    }
    callers_close(eng, call->caller_key);
}

/* The call is over (failure, CANCEL, 487, BYE). */
static void call_end(det_ctx *c, det_call *call) {
    call->state = CALL_ENDED;
    call->t_end = c->ts;
    /* kept only for retransmissions and late answers (ENDED_LINGER_US): a
     * full bucket gives it up before any call still up, or the calls
     * refused in the last minute would push out the long call they share a
     * bucket with (FRAUD-IRSF-002), older than each of them */
    det_table_demote(&c->eng->calls, call);
    release_concurrent(c->eng, call);
    if (call->cancelled && !call->t_answer && !call->answered_elsewhere) {
        uint64_t ring = c->ts > call->t_invite ? c->ts - call->t_invite : 0;
        short_ring(c, call, ring);
    }
}

/* ---- FRAUD-IRSF-001 and FRAUD-VOL-001 at call setup ----------------------------------------- */

/* A call counted in a caller's window (shared by the workers, who count
 * their calls in their own order, not the capture's): the latest call
 * counted, and the source of the one the window starts at (started: the
 * call at hand moved the start, det_window_roll). Both are what one engine
 * reading the capture in order ends with, whichever order the calls came. */
static void window_note(bool started, uint64_t ts, const fs_addr *src, fs_addr *first_src, uint64_t *last) {
    if (started) *first_src = *src;
    if (ts > *last) *last = ts;
}

/* The source of a caller-keyed incident: where the first call of its window
 * came from (source_observable), set again at each hit: a worker behind in
 * the capture can still move the window's start back to an earlier call. */
static void window_source(ev_event *ev, const det_ctx *c, const fs_addr *src) {
    char ip[FS_ADDR_STRLEN];
    if (relaying_peer(c, src)) {
        for (unsigned i = 0; i < ev->nobs; i++)
            if (!strcmp(ev->obs[i].kind, "ip") && !strcmp(ev->obs[i].role, "source")) {
                memmove(&ev->obs[i], &ev->obs[i + 1], (ev->nobs - i - 1) * sizeof *ev->obs);
                ev->nobs--;
                break;
            }
        source_observable(ev, c, src);
        return;
    }
    fs_addr_str(src, ip, sizeof ip);
    for (unsigned i = 0; i < ev->nobs; i++)
        if (!strcmp(ev->obs[i].kind, "ip") && !strcmp(ev->obs[i].role, "source")) {
            ev_copy_text(ev->obs[i].value, sizeof ev->obs[i].value, fs_str_make(ip, strlen(ip)));
            return;
        }
    ev_add_observable(ev, "ip", ip, "source");
}

static void irsf_range_observable(det_ctx *c, ev_event *ev, const det_call *call) {
    const cfg_prefix *pre = &c->eng->cfg->high_risk[call->risk_prefix];
    char range[32];
    snprintf(range, sizeof range, "+%s", pre->digits);
    ev_add_observable(ev, "e164_range", range, "destination");
    if (pre->label[0]) ev_set_str(ev, "range_label", pre->label);
}

static void irsf_velocity(det_ctx *c, det_call *call, det_caller *k) {
    det_engine *eng = c->eng;
    const cfg_rule *rc = det_rule_cfg(c, R_IRSF_VELOCITY);
    if (!rc->enabled || call->risk_prefix < 0) return;
    uint64_t number = str_key(eng, call->callee, SALT_CALLEE);
    uint32_t thr = det_fraud_threshold(c, R_IRSF_VELOCITY, IRSF_OFF_HOURS_PARAM);
    bool caller_hit = false;
    if (k) {
        uint64_t start = k->irsf_start;
        if (det_window_roll(&k->irsf_start, c->ts, rc->window_s, c->eng->now_us)) {
            if (k->irsf_flagged) det_window_continues(c, R_IRSF_VELOCITY, call->caller_key ^ SALT_IRSF);
            k->irsf_calls = 0;
            det_sketch_clear(&k->irsf_numbers);
            k->irsf_flagged = false;
            k->irsf_last = 0;
        }
        window_note(k->irsf_start != start, c->ts, &call->src, &k->irsf_src, &k->irsf_last);
        k->irsf_calls++;
        if (eng->lookback) det_counted(c, R_IRSF_VELOCITY, call->caller_key ^ SALT_IRSF);
        det_sketch_add(&k->irsf_numbers, number);
        uint32_t distinct = det_sketch_count(&k->irsf_numbers, k->irsf_calls);
        if (distinct >= thr) {
            bool opened;
            uint32_t add = crossing_add(&k->irsf_flagged, k->irsf_calls);
            ev_event *ev = det_hit_span(c, R_IRSF_VELOCITY, call->caller_key ^ SALT_IRSF, add, k->irsf_start,
                                        k->irsf_last, &opened);
            if (ev) {
                mark_evidence(eng, call, EVID_IRSF_CALLER);
                if (opened) {
                    keyed_caller(ev, call->caller);
                    det_note_hours(c, ev);
                }
                window_source(ev, c, &k->irsf_src);
                irsf_range_observable(c, ev, call);
                ev_set_int(ev, "distinct_numbers", distinct);
                ev_set_int(ev, "calls", k->irsf_calls);
            }
            caller_hit = true;
        }
    }
    det_source *s = c->requester;
    if (c->src_allowed || call->caller_allowed || !s || relaying_peer(c, &c->p->src.addr))
        return; /* as short_ring (c: the INVITE at hand, also a retried one) */
    if (det_window_roll(&s->irsf_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (s->irsf_flagged) det_window_continues(c, R_IRSF_VELOCITY, det_key_addr(eng, &s->addr, SALT_IRSF));
        s->irsf_calls = 0;
        det_sketch_clear(&s->irsf_numbers);
        s->irsf_flagged = false;
    }
    s->irsf_calls++;
    if (eng->lookback) det_counted(c, R_IRSF_VELOCITY, det_key_addr(eng, &s->addr, SALT_IRSF));
    det_sketch_add(&s->irsf_numbers, number);
    uint32_t distinct = det_sketch_count(&s->irsf_numbers, s->irsf_calls);
    if (caller_hit || distinct < thr) return;
    bool opened;
    uint32_t add = crossing_add(&s->irsf_flagged, s->irsf_calls);
    ev_event *ev = det_hit_since(c, R_IRSF_VELOCITY, det_key_addr(eng, &s->addr, SALT_IRSF), add, s->irsf_start, &opened);
    if (!ev) return;
    if (fs_addr_eq(&c->p->src.addr, &call->src)) mark_evidence(eng, call, EVID_IRSF_SOURCE);
    if (opened) {
        det_source_observables(ev, s, &c->p->src.addr);
        ev_set_str(ev, "keyed_by", "source");
        det_note_hours(c, ev);
    }
    irsf_range_observable(c, ev, call);
    ev_set_int(ev, "distinct_numbers", distinct);
    ev_set_int(ev, "calls", s->irsf_calls);
}

static void call_volume(det_ctx *c, det_call *call, det_caller *k) {
    const cfg_rule *rc = det_rule_cfg(c, R_CALL_VOLUME);
    if (!rc->enabled || !k) return;
    uint64_t start = k->vol_start;
    if (det_window_roll(&k->vol_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (k->vol_flagged) det_window_continues(c, R_CALL_VOLUME, call->caller_key ^ SALT_VOLUME);
        k->vol_calls = 0;
        k->vol_flagged = false;
        k->vol_last = 0;
    }
    window_note(k->vol_start != start, c->ts, &call->src, &k->vol_src, &k->vol_last);
    k->vol_calls++;
    if (c->eng->lookback) det_counted(c, R_CALL_VOLUME, call->caller_key ^ SALT_VOLUME);
    const char *trigger = NULL;
    if (k->vol_calls >= det_fraud_threshold(c, R_CALL_VOLUME, VOLUME_OFF_HOURS_PARAM)) trigger = "calls_per_window";
    else if (rc->param[0] > 0 && (double)k->concurrent > rc->param[0]) trigger = "concurrent";
    if (!trigger) return;
    bool opened;
    uint32_t add = crossing_add(&k->vol_flagged, k->vol_calls);
    ev_event *ev = det_hit_span(c, R_CALL_VOLUME, call->caller_key ^ SALT_VOLUME, add, k->vol_start, k->vol_last,
                                &opened);
    if (!ev) return;
    mark_evidence(c->eng, call, EVID_VOLUME);
    if (!opened) window_source(ev, c, &k->vol_src);
    if (opened) {
        keyed_caller(ev, call->caller);
        window_source(ev, c, &k->vol_src);
        caller_uri_fallback(ev, c, k);
        ev_set_str(ev, "trigger", trigger);
        det_note_hours(c, ev);
    }
    ev_set_int(ev, "calls", k->vol_calls);
    ev_set_int_max(ev, "concurrent", k->concurrent);
}

/* ---- messages ----------------------------------------------------------------------------- */

static det_call *call_find(det_ctx *c) {
    const sip_msg *m = c->m;
    return m->call_id.len ? det_table_find(&c->eng->calls, c->call_key) : NULL;
}

/* A URI too long to keep whole, as scheme:user@host: its parameters and
 * headers (";user=phone;cpc=ordinary...") name no one else, and without
 * the URI an event raised by a CANCEL or 487 (no PAI, an anonymous From)
 * named nothing at all. The user part may hold ';' and '?' (RFC 3261 25.1),
 * so the cut is after the '@'. */
static fs_str uri_without_params(fs_str uri) {
    const char *at = memchr(uri.p, '@', uri.len);
    size_t from = at ? (size_t)(at - uri.p) + 1 : 0;
    for (size_t i = from; i < uri.len; i++)
        if (uri.p[i] == ';' || uri.p[i] == '?') return fs_str_make(uri.p, i);
    return uri;
}

/* The caller of call (call->caller_key, set beforehand) in callers. */
static det_caller *caller_upsert(det_ctx *c, det_table *callers, det_call *call, fs_str uri) {
    det_engine *eng = c->eng;
    if (!call->caller_key) return NULL;
    bool created, evicted;
    det_caller *k = det_table_upsert(callers, call->caller_key, c->ts, &created, &evicted);
    if (evicted) eng->stats.callers_evicted++;
    if (created) snprintf(k->number, sizeof k->number, "%s", call->caller);
    if (!k->uri[0] && !ev_e164_ok(call->caller)) {
        fs_str u = uri.len < sizeof k->uri ? uri : uri_without_params(uri);
        if (u.len < sizeof k->uri) ev_copy_text(k->uri, sizeof k->uri, u);
    }
    return k;
}

static void count_attempt(det_ctx *c, det_call *call, det_caller *k) {
    const cfg_rule *wr = det_rule_cfg(c, R_WANGIRI);
    if (k) {
        k->concurrent++;
        call->counted_active = true;
        if (det_window_roll(&k->wangiri_start, c->ts, wr->window_s, c->eng->now_us)) {
            if (k->wangiri_flagged) det_window_continues(c, R_WANGIRI, call->caller_key ^ SALT_WANGIRI);
            k->short_rings = k->answered = k->calls = 0;
            k->ring_us_total = 0;
            det_sketch_clear(&k->callees);
            k->wangiri_flagged = false;
        }
        k->calls++;
        if (k->wangiri_flagged) mark_evidence(c->eng, call, EVID_WANGIRI_CALLER);
    }
    det_source *s = c->requester;
    if (s && !c->src_allowed && !call->caller_allowed) {
        if (det_window_roll(&s->wangiri_start, c->ts, wr->window_s, c->eng->now_us)) {
            if (s->wangiri_flagged) det_window_continues(c, R_WANGIRI, source_incident(c->eng, call, SALT_WANGIRI));
            s->wangiri_calls = s->wangiri_short = s->wangiri_answered = 0;
            s->wangiri_ring_us = 0;
            det_sketch_clear(&s->wangiri_callees);
            s->wangiri_flagged = false;
        }
        s->wangiri_calls++;
        if (s->wangiri_flagged) mark_evidence(c->eng, call, EVID_WANGIRI_SOURCE);
    }
}

/* A final response after which the caller sends the INVITE again within
 * the same call: same Call-ID, another CSeq (a redirect, RFC 3261 8.1.3.4;
 * a challenge, 22.2; 420/421/423, RFC 4028's 422 and RFC 3329's 494 ask for
 * the request again with what was missing). */
static bool retried_in_call(uint16_t status) {
    return (status >= 300 && status < 400) || status == 401 || status == 407 || status == 420 ||
           status == 421 || status == 422 || status == 423 || status == 494;
}

/* The high-risk range of the call's callee (-1 none). */
static void call_set_risk(const fs38_config *cfg, det_call *call) {
    call->risk_prefix = -1;
    if (call->callee[0] != '+' || !cfg->nhigh_risk) return;
    const cfg_prefix *pre = cfg_match_prefix(cfg->high_risk, cfg->nhigh_risk, call->callee + 1);
    if (pre && !pre->allow) call->risk_prefix = (int16_t)(pre - cfg->high_risk); /* "!" = an exception */
}

/* The ended call's INVITE is sent again (retried_in_call): the same
 * attempt goes on, not a failure after all, and to the number it now
 * names: a redirect gives a new Request-URI (the Contact of the 3xx), which
 * may be in a high-risk range the first was not (FRAUD-IRSF-*). */
static void call_retry(det_ctx *c, det_call *call) {
    det_engine *eng = c->eng;
    if (counted_failed(call->final_status) && eng->stats.calls_failed) eng->stats.calls_failed--;
    call->state = CALL_TRYING;
    call->final_status = 0;
    call->invite_cseq = c->m->cseq;
    det_table_touch(&eng->calls, call, c->ts); /* up again (call_end) */
    call->t_invite = c->ts;
    char callee[sizeof call->callee];
    callee_of(c->m, callee, sizeof callee);
    bool new_callee = callee[0] && strcmp(callee, call->callee) != 0;
    if (new_callee) {
        memcpy(call->callee, callee, sizeof callee);
        call_set_risk(eng->cfg, call);
    }
    det_table *callers = callers_open(eng, call->caller_key);
    det_caller *k = call_caller(callers, call);
    if (k) {
        k->concurrent++;
        call->counted_active = true;
    }
    if (new_callee) irsf_velocity(c, call, k);
    callers_close(eng, call->caller_key);
}

/* A proxy recursing on a 3xx it got on its leg (RFC 3261 16.5, 16.7 step
 * 4; kamailio's get_redirects, an SBC following a redirect): its INVITE to
 * the Contact, with the call's Call-ID and CSeq, names the number the call
 * now goes to, as the caller's own INVITE after a 3xx does (call_retry):
 * the caller's leg never shows it. */
static void call_redirected_by_proxy(det_ctx *c, det_call *call) {
    det_engine *eng = c->eng;
    call->redirect_seen = false;
    char callee[sizeof call->callee];
    callee_of(c->m, callee, sizeof callee);
    if (!callee[0] || strcmp(callee, call->callee) == 0) return;
    memcpy(call->callee, callee, sizeof callee);
    call_set_risk(eng->cfg, call);
    det_table *callers = callers_open(eng, call->caller_key);
    irsf_velocity(c, call, call_caller(callers, call));
    callers_close(eng, call->caller_key);
}

static void call_invite(det_ctx *c) {
    det_engine *eng = c->eng;
    const sip_msg *m = c->m;
    uint64_t key = c->call_key;
    det_call *call = det_table_find(&eng->calls, key);
    if (call) {
        if (call->redirect_seen && call->state != CALL_ENDED && call->state != CALL_ANSWERED &&
            m->cseq == call->invite_cseq && !fs_addr_eq(&c->p->src.addr, &call->src)) {
            call_redirected_by_proxy(c, call);
            return;
        }
        /* Same Call-ID and CSeq: a retransmission or a second capture point;
         * a call not over: a re-INVITE. */
        if (call->state != CALL_ENDED || m->cseq == call->invite_cseq) return;
        if (retried_in_call(call->final_status)) {
            call_retry(c, call);
            return;
        }
        /* An initial INVITE (det_calls_check passes no other) reusing the Call-ID of a call that rang, was
         * answered, cancelled or refused: a new call. Dialers do this, and
         * each of their attempts must count (FRAUD-*); it would otherwise
         * pass as a retransmission of the first for ENDED_LINGER_US. */
        det_table_remove(&eng->calls, call);
    }
    /* Another worker tracks this Call-ID (the other leg of a relayed call):
     * one engine alone would have found it above. */
    if (eng->shared && !det_shared_claim_call(eng->shared, key, eng->shard_index, c->ts)) return;
    det_call *victim = det_table_victim(&eng->calls, key);
    if (victim) call_settle(eng, victim);
    bool created, evicted;
    call = det_table_upsert(&eng->calls, key, c->ts, &created, &evicted);
    if (evicted) eng->stats.calls_evicted++;
    call->state = CALL_TRYING;
    call->is_invite = true;
    call->last_method = SIP_M_INVITE;
    call->src = c->p->src.addr;
    call->src_ep = c->p->src;
    call->dst_ep = c->p->dst;
    call->transport = c->p->transport;
    call->t_invite = c->ts;
    call->invite_cseq = m->cseq;
    call->source_allowed = c->src_allowed;
    fs_str caller_uri = caller_of(c, call->caller, sizeof call->caller);
    call->caller_allowed = cfg_caller_allowed(eng->cfg, call->caller) != NULL;
    if (call->caller_allowed) eng->stats.calls_allowed_caller++;
    callee_of(m, call->callee, sizeof call->callee);
    call_set_risk(eng->cfg, call);
    eng->stats.calls_started++;
    call->caller_key = call->caller[0] ? str_key(eng, call->caller, SALT_CALLER) : 0;
    det_table *callers = callers_open(eng, call->caller_key);
    det_caller *k = call->caller_allowed ? NULL : caller_upsert(c, callers, call, caller_uri);
    count_attempt(c, call, k);
    irsf_velocity(c, call, k);
    call_volume(c, call, k);
    callers_close(eng, call->caller_key);
}

/* A dialog tag, folded to 16 bits (never 0): a forged BYE matches by chance
 * once in 65,535 and then ends the call as any BYE did before. */
static uint16_t tag_key(const det_engine *eng, fs_str tag) {
    uint64_t k = det_key(eng, tag.p, tag.len, SALT_TAG);
    uint16_t t = (uint16_t)(k ^ k >> 16 ^ k >> 32 ^ k >> 48);
    return t ? t : 1;
}

/* A 2xx to the INVITE of an answered call: a retransmission, the answer to
 * a re-INVITE, or a second fork answering too (RFC 3261 13.2.2.4: the
 * caller then keeps one dialog and ends the other with BYE, and which one
 * is up to it). The answer to a re-INVITE the callee sent carries the
 * callee's tag in From and the caller's in To, with a CSeq of the callee's
 * own numbering, which can be the caller's INVITE's: it is no other dialog
 * (taking it for one would let any BYE, a forged one too, end the call).
 * Two dialogs are tracked; a third fork's is not (its BYE ends nothing). */
static void note_second_dialog(det_ctx *c, det_call *call) {
    const sip_msg *m = c->m;
    if (m->cseq != call->invite_cseq || !m->to_tag.len || !call->answer_tag || call->other_tag) return;
    if (m->from_tag.len && tag_key(c->eng, m->from_tag) == call->answer_tag) return;
    uint16_t tag = tag_key(c->eng, m->to_tag);
    if (tag != call->answer_tag) call->other_tag = tag;
}

/* The message is in the dialog whose callee tag is tag: its To tag (sent
 * by the caller) or its From tag (by the callee). */
static bool in_dialog_of(det_ctx *c, uint16_t tag) {
    const sip_msg *m = c->m;
    return tag && ((m->to_tag.len && tag_key(c->eng, m->to_tag) == tag) ||
                   (m->from_tag.len && tag_key(c->eng, m->from_tag) == tag));
}

/* The BYE ends the call: it ends the dialog the answer made and, when two
 * forks answered, the other one has ended too. A BYE of no dialog the
 * answers made, as a forged one answered with 481, leaves the call up (its
 * long duration still counts, FRAUD-IRSF-002). With two answered forks the
 * caller's BYE of the one it does not want leaves the one it talks on: a
 * terminating side answering twice cannot end a long call early that way. */
static bool bye_ends_call(det_ctx *c, det_call *call) {
    if (!call->answer_tag) return true;
    if (in_dialog_of(c, call->answer_tag)) call->dialogs_ended |= 1;
    else if (in_dialog_of(c, call->other_tag)) call->dialogs_ended |= 2;
    else return false;
    return call->dialogs_ended == (call->other_tag ? 3 : 1);
}

/* A request in the dialog an answered call's answer made (its To or From
 * tag is the callee's): a BYE, re-INVITE, UPDATE or INFO sent to the
 * dialog's remote target (RFC 3261 12.2.1.1), which need not be the address
 * the INVITE went to: behind a proxy that does not record-route, each call
 * is hung up at the carrier gateway its answer named (SIP-SCAN-002). A
 * scanner's requests with a made-up To-tag belong to no answered call.
 * One dialog has one remote target: besides the INVITE's two ends, the
 * first other address:port its requests go to; one answered call's tags
 * on requests to ever more addresses are a sweep (a 481 from each names a
 * SIP server), not a dialog. */
bool det_calls_in_answered_dialog(det_ctx *c) {
    const sip_msg *m = c->m;
    if (!m->to_tag.len) return false;
    det_call *call = call_find(c);
    if (!call || !call->t_answer || !call->answer_tag ||
        (!in_dialog_of(c, call->answer_tag) && !in_dialog_of(c, call->other_tag)))
        return false;
    const fs_endpoint *to = &c->p->dst;
    if ((fs_addr_eq(&to->addr, &call->dst_ep.addr) && to->port == call->dst_ep.port) ||
        (fs_addr_eq(&to->addr, &call->src_ep.addr) && to->port == call->src_ep.port))
        return true;
    uint64_t k = det_key_addr(c->eng, &to->addr, SALT_TAG) ^ ((uint64_t)to->port * 0x9e3779b97f4a7c15ULL);
    uint16_t target = (uint16_t)(k ^ k >> 16 ^ k >> 32 ^ k >> 48);
    if (!target) target = 1;
    if (!call->dialog_target) call->dialog_target = target;
    return call->dialog_target == target;
}

static void call_response(det_ctx *c) {
    det_engine *eng = c->eng;
    const sip_msg *m = c->m;
    det_call *call = call_find(c);
    if (!call || call->state == CALL_NONE) return;
    uint16_t st = m->status;
    if (call->state == CALL_ENDED) {
        if (st < 200 || st >= 300 || call->t_answer || m->cseq != call->invite_cseq) return;
        if (call->cancelled && call->answer_tag && m->to_tag.len && tag_key(eng, m->to_tag) == call->answer_tag) {
            /* the answer that crossed the caller's BYE of this early dialog
             * (call_bye), which then ended the dialog it confirmed: answered,
             * and over */
            if (eng->stats.calls_cancelled) eng->stats.calls_cancelled--;
            eng->stats.calls_answered++;
            call->cancelled = false;
            call->t_answer = c->ts;
            call->final_status = st;
            return;
        }
        call_revive(c, call);
    }
    if (st < 200) {
        if ((st == 180 || st == 183) && call->state == CALL_TRYING) {
            call->state = CALL_RINGING;
            if (!call->t_ring) call->t_ring = c->ts;
        }
        return;
    }
    if (st < 300) {
        if (call->state == CALL_ANSWERED) {
            note_second_dialog(c, call);
            return;
        }
        call->answer_tag = m->to_tag.len ? tag_key(eng, m->to_tag) : 0;
        call->state = CALL_ANSWERED;
        call->t_answer = c->ts;
        call->final_status = st;
        eng->stats.calls_answered++;
        det_table *callers = callers_open(eng, call->caller_key);
        det_caller *k = call_caller(callers, call);
        if (k) {
            k->answered++;
            k->answer_s = answer_second(c->ts);
        }
        callers_close(eng, call->caller_key);
        det_source *s = counted_by_source(call) ? source_entry(c, &call->src) : NULL;
        if (s) {
            s->wangiri_answered++;
            s->wangiri_answer_s = answer_second(c->ts);
        }
        return;
    }
    if (call->state == CALL_ANSWERED) return; /* a late failure from another fork */
    if (st < 400 && m->cseq == call->invite_cseq && !fs_addr_eq(&c->p->dst.addr, &call->src))
        call->redirect_seen = true; /* the proxy may recurse on it (call_invite) */
    /* a failure on another leg of a relayed call (a carrier the proxy then
     * fails over from, one fork of several): the proxy goes on, and sends
     * the caller the final answer of the call itself. Ending the call here
     * would lose the caller's CANCEL that follows (a short ring counted as
     * a failure), and --workers N, whose worker tracking the call sees only
     * the answers to its requester, never does. */
    if (!fs_addr_eq(&c->p->dst.addr, &call->src)) return;
    /* a retransmission of the answer to an earlier INVITE of the call (its
     * ACK was lost, RFC 3261 17.2.1): that transaction is over, the INVITE
     * sent again after it (call_retry) goes on */
    if (m->cseq != call->invite_cseq) return;
    call->final_status = st;
    if (st == 487) {
        call->cancelled = true;
        eng->stats.calls_cancelled++;
    } else if (counted_failed(st)) {
        eng->stats.calls_failed++;
    }
    call_end(c, call);
}

/* A CANCEL ends the call only when the caller sent it (the INVITE's sender):
 * one on another leg (a proxy giving up a branch of its serial forking, then
 * trying the next) leaves the call to the answer the caller gets, as a
 * failure on that leg does (call_response); and a CANCEL from anywhere else
 * would end a Wangiri caller's call before its own CANCEL counted. */
/* The CANCEL says the call was answered elsewhere (RFC 3326 Reason
 * "SIP;cause=200", "Call completed elsewhere": RFC 3261 16.7 step 10, and
 * what a PBX's ring group sends every phone but the one that answered). */
static bool completed_elsewhere(const sip_msg *m) {
    uint16_t pos = 0;
    for (const sip_header *h; (h = sip_header_next(m, SIP_H_REASON, &pos));) {
        fs_str rest = h->value, item;
        while (sip_list_next(&rest, &item)) {
            const char *semi = memchr(item.p, ';', item.len);
            if (!semi) continue;
            fs_str proto = fs_str_trim(fs_str_make(item.p, (size_t)(semi - item.p))), cause;
            fs_str params = fs_str_make(semi + 1, (size_t)(item.p + item.len - semi - 1));
            if (fs_str_ieq_cstr(proto, "SIP") && sip_param_get(params, "cause", &cause) &&
                fs_str_ieq_cstr(fs_str_trim(cause), "200"))
                return true;
        }
    }
    return false;
}

/* The call's caller (or, without one, its source) had a call answered at
 * most max_ring_s before the message at hand: the "elsewhere" a CANCEL's
 * Reason names is there. */
static bool answered_elsewhere_lately(det_ctx *c, const det_call *call) {
    det_table *callers = callers_open(c->eng, call->caller_key);
    det_caller *k = call_caller(callers, call);
    uint32_t at = k ? k->answer_s : 0;
    callers_close(c->eng, call->caller_key);
    if (!k) {
        det_source *s = counted_by_source(call) ? source_entry(c, &call->src) : NULL;
        at = s ? s->wangiri_answer_s : 0;
    }
    uint32_t max_ring = (uint32_t)det_rule_cfg(c, R_WANGIRI)->param[0];
    return at && (uint32_t)(answer_second(c->ts) - at) <= max_ring + 1;
}

static void call_cancel(det_ctx *c) {
    det_call *call = call_find(c);
    if (!call || (call->state != CALL_TRYING && call->state != CALL_RINGING)) return;
    if (!fs_addr_eq(&c->p->src.addr, &call->src)) return;
    call->cancelled = true;
    c->eng->stats.calls_cancelled++;
    /* a ring group's other phones, cancelled because one answered: the
     * Reason tells each phone not to show a missed call, and none is a
     * short ring (Wangiri). Only when a call of the same caller (or
     * source) was answered just before: the header alone is any
     * sender's to write. */
    if (completed_elsewhere(c->m) && answered_elsewhere_lately(c, call)) call->answered_elsewhere = true;
    call_end(c, call);
}

/* Wangiri: a victim who picks up in time hears the caller hang up at once
 * (the fraud's money comes from the call back, not from this call). A BYE
 * from the calling side (the INVITE's sender) within max_answered_s of the
 * answer makes the call a one-ring call after all: its answer is taken back
 * from the Wangiri counts, its ring time is the time to answer. The callee
 * hanging up, or a caller who talked longer, leaves it an answered call; so
 * does an answer within PICKUP_MIN_US of the INVITE: no person picks up that
 * fast, a machine did (an IVR, a test responder, a load generator), and no
 * one is left with a missed call to return; and so does a call two forks
 * answered (other_tag): the caller's BYE right after the answers ends
 * the dialog it does not want (RFC 3261 13.2.2.4), not the one it talks on. */
#define PICKUP_MIN_US FS_USEC
static void dropped_on_answer(det_ctx *c, det_call *call) {
    det_engine *eng = c->eng;
    const cfg_rule *rc = det_rule_cfg(c, R_WANGIRI);
    uint64_t ring_us = call->t_answer > call->t_invite ? call->t_answer - call->t_invite : 0;
    uint64_t talk_us = c->ts > call->t_answer ? c->ts - call->t_answer : 0;
    if (!rc->enabled || rc->param[3] <= 0 || call->other_tag || (double)talk_us > rc->param[3] * 1e6 ||
        ring_us < PICKUP_MIN_US || (double)ring_us > rc->param[0] * 1e6 || !fs_addr_eq(&c->p->src.addr, &call->src))
        return;
    det_table *callers = callers_open(eng, call->caller_key);
    det_caller *k = call_caller(callers, call);
    if (k && k->answered) k->answered--;
    callers_close(eng, call->caller_key);
    det_source *s = counted_by_source(call) ? source_entry(c, &call->src) : NULL;
    if (s && s->wangiri_answered) s->wangiri_answered--;
    short_ring(c, call, ring_us);
}

static void call_bye(det_ctx *c) {
    det_call *call = call_find(c);
    if (!call || call->state == CALL_ENDED) return;
    if (call->state == CALL_ANSWERED && !bye_ends_call(c, call)) return;
    if (call->state == CALL_ANSWERED) {
        long_call_hit(c, call, c->ts > call->t_answer ? c->ts - call->t_answer : 0);
        dropped_on_answer(c, call);
    } else if (fs_addr_eq(&c->p->src.addr, &call->src)) {
        /* the caller hanging up an early dialog (RFC 3261 15): a CANCEL by
         * another name, whose INVITE the callee then answers 487 (15.1.2),
         * which would find the call over already */
        call->cancelled = true;
        c->eng->stats.calls_cancelled++;
        /* the dialog it ends: an answer of it crossing this BYE ends
         * nothing more (call_response); another fork's brings the call back */
        call->answer_tag = c->m->to_tag.len ? tag_key(c->eng, c->m->to_tag) : 0;
    } else if (!fs_addr_eq(&c->p->dst.addr, &call->src)) {
        /* neither from the caller nor to it (the callee's BYE after an
         * answer the capture lost): another leg's, or a BYE sent from a
         * second address to end the call before the caller's CANCEL (a
         * short ring) is seen */
        return;
    }
    call_end(c, call);
}

void det_calls_check(det_ctx *c) {
    const sip_msg *m = c->m;
    if (!m->call_id.len) return;
    if (m->is_request) {
        switch (m->method) {
        case SIP_M_INVITE:
            if (!m->to_tag.len) call_invite(c);
            break;
        case SIP_M_CANCEL: call_cancel(c); break;
        case SIP_M_BYE: call_bye(c); break;
        default: break;
        }
    } else if (m->cseq_method == SIP_M_INVITE) {
        call_response(c);
    }
    call_evidence(c);
}

/* ---- timers --------------------------------------------------------------------------------- */

/* A long call still running: report it from the timer. There is no
 * message, so the sample is rebuilt from what the call entry remembers. */
static void long_call_timer(det_engine *eng, det_call *call) {
    cap_payload fake = {.src = call->src_ep, .dst = call->dst_ep, .transport = call->transport,
                        .ts_us = eng->now_us};
    det_ctx c = {.eng = eng, .m = NULL, .p = &fake, .ts = eng->now_us, .src_zone = -1, .dst_zone = -1,
                 .requester_zone = -1};
    c.src_ep = &call->src_ep;
    c.dst_ep = &call->dst_ep;
    ev_event *ev = long_call_hit(&c, call, eng->now_us - call->t_answer);
    if (!ev || ev->sample.method[0]) return;
    snprintf(ev->sample.method, sizeof ev->sample.method, "INVITE");
    /* caller and callee are users as sent, %-escapes decoded
     * (det_number_normalise): any byte; shown as every sample field is */
    ev_copy_text(ev->sample.from, sizeof ev->sample.from, fs_str_make(call->caller, strlen(call->caller)));
    ev_copy_text(ev->sample.to, sizeof ev->sample.to, fs_str_make(call->callee, strlen(call->callee)));
}

/* A call's time t is more than limit before the clock, or more than a
 * clock step after it: the clock stepped back past the call (det_tick),
 * which belongs to a time that is over (as an incident whose last hit is
 * that far ahead closes). A call a little ahead is of the new time: placed
 * among the messages behind the clock before it stepped back to one of
 * them, stamped by a capture point a little ahead of that one. */
static bool expired(uint64_t now, uint64_t t, uint64_t limit) {
    return t > now ? t - now > DET_CLOCK_STEP_US : now - t > limit;
}

static void sweep_one(det_engine *eng, det_call *call) {
    uint64_t now = eng->now_us;
    switch ((det_call_state)call->state) {
    case CALL_ANSWERED:
        if (!call->long_reported && call->risk_prefix >= 0 && now > call->t_answer)
            long_call_timer(eng, call);
        if (!eng->finishing && expired(now, call->t_answer, CALL_MAX_AGE_US)) {
            call_settle(eng, call);
            det_table_remove(&eng->calls, call);
        }
        break;
    case CALL_TRYING:
    case CALL_RINGING:
        if (!eng->finishing && expired(now, call->t_invite, SETUP_TIMEOUT_US)) {
            call_settle(eng, call);
            det_table_remove(&eng->calls, call);
        }
        break;
    case CALL_ENDED:
        if (!eng->finishing && expired(now, call->t_end, ENDED_LINGER_US)) det_table_remove(&eng->calls, call);
        break;
    case CALL_NONE: break;
    }
}

void det_calls_tick(det_engine *eng) {
    uint32_t slots = det_table_slots(&eng->calls);
    if (!slots) return;
    /* A slice per second of capture time keeps each tick cheap and sweeps
     * the whole table every 16 s; a whole sweep at the end, and after the
     * clock stepped back (clock_step_back: calls_swept_us 0), where every
     * call of the time before the step is over. */
    uint64_t secs = eng->now_us > eng->calls_swept_us ? (eng->now_us - eng->calls_swept_us) / FS_USEC : 0;
    if (secs < 1) secs = 1;
    eng->calls_swept_us = eng->now_us;
    uint64_t want = eng->finishing || secs >= 16 ? slots : (uint64_t)(slots / 16 + 1) * secs;
    uint32_t n = want > slots ? slots : (uint32_t)want;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t at = (eng->calls_cursor + i) & (slots - 1); /* slots: a power of two */
        det_call *call = det_table_at(&eng->calls, at);
        if (call) sweep_one(eng, call);
    }
    eng->calls_cursor = (eng->calls_cursor + n) % slots;
}
