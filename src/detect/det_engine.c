/*
 * det_engine.c -- the engine: per-message dispatch, statistics, incidents.
 *
 * Data path for one payload:
 *   sip_parse -> sip_validate -> statistics -> zone lookup -> detectors
 *   (protocol, behaviour, trust, calls) -> det_hit() -> incident table.
 * An incident is the unit of reporting: one (rule, key) pair that stays open
 * while hits keep coming and closes after the rule's window of quiet.
 *
 * Owns: the engine lifecycle, statistics, zone lookup per message, the
 * incident table (det_hit), the timers and the number/identity helpers.
 * Must not touch: rule logic (det_protocol/behaviour/trust/calls.c), files,
 * printing; events leave only through the det_event_fn callback.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <strings.h>

#include <sodium.h>

#include "det_internal.h"

#define TICK_US (1 * FS_USEC)
#define CALL_MAX_AGE_US (4ULL * 3600 * FS_USEC)

/* ---- lifecycle ------------------------------------------------------------------- */

det_engine *det_engine_new(const fs38_config *cfg, det_event_fn fn, void *user, fs_err *e) {
    det_engine *eng = calloc(1, sizeof *eng);
    if (!eng) {
        fs_fail(e, FS_ERR_NOMEM, "detection engine: out of memory");
        return NULL;
    }
    eng->cfg = cfg;
    eng->emit = fn;
    eng->user = user;
    eng->limits = cfg->capture.sip;
    eng->source_prefix6 = cfg->ipv6_source_prefix;
    for (uint8_t z = 0; z < cfg->nzones; z++) eng->require_tls |= cfg->zones[z].require_tls;
    randombytes_buf(&eng->seed, sizeof eng->seed);
    bool ok = det_table_init(&eng->sources, cfg->max_sources, sizeof(det_source)) &&
              det_table_init(&eng->dests, cfg->max_sources / 4 + 64, sizeof(det_dest)) &&
              det_table_init(&eng->callers, det_callers_capacity(cfg->max_dialogs), sizeof(det_caller)) &&
              det_table_init(&eng->calls, cfg->max_dialogs, sizeof(det_call)) &&
              det_table_init(&eng->incidents, cfg->max_incidents, sizeof(det_incident)) &&
              det_table_init(&eng->txns, cfg->max_sources / 4 + 64, sizeof(det_txn)) &&
              det_peers_init(&eng->own_peers);
    eng->peers = &eng->own_peers;
    if (!ok) {
        det_engine_free(eng);
        fs_fail(e, FS_ERR_NOMEM, "detection engine: cannot allocate state tables "
                                 "(state.max_sources/max_dialogs/max_incidents too large?)");
        return NULL;
    }
    return eng;
}

void det_engine_free(det_engine *eng) {
    if (!eng) return;
    if (eng->incidents.slots)
        for (uint32_t i = 0; i < det_table_slots(&eng->incidents); i++) {
            det_incident *inc = det_table_at(&eng->incidents, i);
            if (inc) free(inc->ev);
        }
    det_table_free(&eng->sources);
    det_table_free(&eng->dests);
    det_table_free(&eng->callers);
    det_table_free(&eng->calls);
    det_table_free(&eng->incidents);
    det_table_free(&eng->txns);
    det_peers_fini(&eng->own_peers);
    det_lookback_free(eng->lookback);
    free(eng);
}

void det_engine_set_live(det_engine *eng, bool live) { eng->live = live; }
void det_engine_set_evidence(det_engine *eng, det_evidence_fn fn, void *user, uint32_t per_incident) {
    eng->evidence_fn = fn;
    eng->evidence_user = user;
    eng->evidence_per_incident = per_incident;
}

fs_code det_engine_set_lookback(det_engine *eng, size_t bytes, fs_err *e) {
    det_lookback_free(eng->lookback);
    eng->lookback = NULL;
    if (!bytes) return FS_OK;
    if (!(eng->lookback = det_lookback_new(bytes)))
        return fs_fail(e, FS_ERR_NOMEM, "no memory for a look back of %zu bytes", bytes);
    return FS_OK;
}

size_t det_engine_lookback_memory(const det_engine *eng) { return det_lookback_memory(eng->lookback); }
void det_engine_set_tap(det_engine *eng, det_tap_fn fn, void *user) {
    eng->tap_fn = fn;
    eng->tap_user = user;
}
void det_engine_set_seed(det_engine *eng, uint64_t seed) { eng->seed = seed; }
uint64_t det_engine_seed(const det_engine *eng) { return eng->seed; }
void det_engine_set_shards(det_engine *eng, unsigned index, unsigned n, det_shared *shared) {
    eng->shards = n ? n : 1;
    eng->shard_index = index;
    eng->shared = eng->shards > 1 ? shared : NULL;
    /* one seed for all workers: an entity has the same keys on every worker,
     * so their reports of one incident carry the same incident_key */
    if (eng->shared) eng->seed = det_shared_seed(shared);
    /* ... and count a caller's calls together (det_calls.c uses the shared
     * callers table then): the engine's own is not needed. */
    if (eng->shared) {
        det_table_free(&eng->callers); /* keeps entry_size, for the statistics */
        eng->callers.nbuckets = eng->callers.live = 0;
        /* ... and remember who talked to whom together (SIP-SCAN-002) */
        det_peers_fini(&eng->own_peers);
        eng->peers = det_shared_peers(shared);
    }
}
const det_stats *det_engine_stats(const det_engine *eng) { return &eng->stats; }

/* ---- incidents -------------------------------------------------------------------- */

/* Rules whose detectors count their own window and apply `threshold`
 * before the first det_hit (floods, scans, enumeration, brute force, the
 * fraud velocities). For every other rule a det_hit is one occurrence, and
 * the incident is reported only once it has `threshold` of them, none more
 * than window_s after the one before. */
static bool threshold_in_detector(det_rule_id r) {
    switch (r) {
    case R_SCAN_BEHAVIOUR: case R_ENUM_EXTENSIONS: case R_BRUTE_ONE_USER: case R_BRUTE_MANY_USERS:
    case R_FLOOD_SOURCE: case R_FLOOD_DEST: case R_IRSF_VELOCITY: case R_WANGIRI: case R_CALL_VOLUME:
        return true;
    default:
        return false;
    }
}

static bool incident_reportable(const det_engine *eng, const det_incident *inc) {
    const ev_event *ev = inc->ev;
    return threshold_in_detector(ev->rule) || inc->shared_reportable ||
           ev->count >= eng->cfg->rules[ev->rule].threshold;
}

/* With workers, one sender's messages can reach several (its responses go
 * to its requesters' workers), each counting its share of the incident:
 * the threshold applies to their total. A share adds its hits while its own
 * count is below the threshold (once one share reached it alone, the total
 * has too) and at its close reads the total. Only for thresholds above 1:
 * below, every share is reportable on its own. */
static void share_hits(det_engine *eng, det_incident *inc, uint64_t ts, uint64_t add) {
    const ev_event *ev = inc->ev;
    uint32_t thr = eng->cfg->rules[ev->rule].threshold;
    if (!eng->shared || thr <= 1 || threshold_in_detector(ev->rule) || inc->shared_reportable || ev->count >= thr)
        return;
    uint32_t w = eng->cfg->rules[ev->rule].window_s;
    uint64_t quiet = (uint64_t)(w ? w : 60) * FS_USEC;
    if (det_shared_incident_hits(eng->shared, ev->incident_key, ts, quiet, add) >= thr) inc->shared_reportable = true;
}

static void incident_close(det_engine *eng, det_incident *inc) {
    ev_event *ev = inc->ev;
    share_hits(eng, inc, ev->last_us, 0); /* the other shares' hits may have made it */
    if (!incident_reportable(eng, inc)) { /* fewer occurrences than the rule's threshold */
        eng->stats.incidents_below_threshold++;
        free(ev);
        det_table_remove(&eng->incidents, inc);
        return;
    }
    /* In live mode an incident already reported and unchanged needs no new
     * line: its close is still reported (marked unchanged) so that it is
     * counted, and so that the inspect layer, folding several workers'
     * reports of one incident, sees every share close. Its span counts as
     * a change too: the attacker's last probe after the answers that opened
     * it (det_sample_request) moves last_seen, and so valid_until, without
     * adding to the count. */
    bool changed = !inc->reported_open || ev->count != inc->count_at_report || ev->last_us != inc->last_at_report ||
                   ev->first_us != inc->first_at_report;
    if (changed) {
        if (inc->reported_open) ev->version++;
        ev->created_us = fs_time_now_us();
    }
    ev->unchanged = !changed;
    if (eng->emit) eng->emit(eng->user, ev, true);
    eng->stats.events_closed++;
    free(ev);
    det_table_remove(&eng->incidents, inc);
}

static void sample_fill(ev_sample *s, const det_ctx *c) {
    const sip_msg *m = c->m;
    memset(s, 0, sizeof *s);
    if (c->src_ep) fs_endpoint_str(c->src_ep, s->src, sizeof s->src);
    if (c->dst_ep) fs_endpoint_str(c->dst_ep, s->dst, sizeof s->dst);
    if (c->p) snprintf(s->transport, sizeof s->transport, "%s", cap_transport_name(c->p->transport));
    if (c->p && c->p->encap) s->encap = *c->p->encap;
    if (c->m && c->p) { /* a timer's event (no message) cannot say which file its call was in */
        s->input = c->eng->input;
        if (c->eng->input_frames) s->frame_no = c->p->frame_no;
    }
    s->ts_us = c->ts;
    if (!m) return; /* raised from a timer (det_calls_tick): the caller fills the rest */
    if (m->is_request)
        ev_copy_text(s->method, sizeof s->method, m->method_str);
    else {
        s->status = m->status;
        ev_copy_text(s->method, sizeof s->method, m->cseq_method_str);
    }
    ev_copy_text(s->request_uri, sizeof s->request_uri, m->ruri);
    ev_copy_text(s->from, sizeof s->from, m->from);
    ev_copy_text(s->to, sizeof s->to, m->to);
    ev_copy_text(s->pai, sizeof s->pai, sip_header_value(m, SIP_H_P_ASSERTED_IDENTITY));
    ev_copy_text(s->call_id, sizeof s->call_id, m->call_id);
    ev_copy_text(s->user_agent, sizeof s->user_agent, m->user_agent);
}

static void event_init(ev_event *ev, const det_ctx *c, det_rule_id r) {
    const det_rule_info *info = &det_rule_table[r];
    const cfg_rule *rc = det_rule_cfg(c, r);
    const fs38_config *cfg = c->eng->cfg;
    memset(ev, 0, sizeof *ev);
    ev_uuid7(fs_time_now_us(), ev->event_id);
    ev->version = 1;
    snprintf(ev->issuer, sizeof ev->issuer, "%s", cfg->issuer);
    snprintf(ev->tlp, sizeof ev->tlp, "%s", cfg->tlp);
    ev->rule = r;
    ev->event_type = info->event_type;
    ev->domain = info->domain;
    ev->severity = rc->severity;
    ev->confidence = info->confidence;
    ev->action = rc->action;
    ev->ttl_s = rc->ttl_s;
    /* where the action applies: IRSF and toll fraud are stopped on outgoing
     * calls, Wangiri and spoofed CLIs on incoming ones, the rest at the
     * signalling edge */
    const char *scope = "sip_ingress";
    if (info->event_type == ET_IRSF || info->event_type == ET_TOLL_FRAUD) scope = "outbound_voice";
    else if (info->event_type == ET_WANGIRI || info->event_type == ET_CLI_SPOOFING) scope = "inbound_voice";
    snprintf(ev->scope, sizeof ev->scope, "%s", scope);
    ev->first_us = ev->last_us = c->ts;
    sample_fill(&ev->sample, c);
}

static bool hit_after_quiet(const det_incident *inc, uint64_t ts);
static bool in_unconfirmed_jump(const det_engine *eng, uint64_t ts);

/* The attacker's request becomes the sample of an incident the victim's
 * answers opened: it is activity of the incident, so last_seen (and what
 * follows from it) covers it, even when no answer to it comes (the last
 * guess of a brute force): a sample is never later than last_seen. */
void det_sample_request(det_ctx *c, det_rule_id r, uint64_t key_hash) {
    if (!c->m || !c->m->is_request) return;
    det_engine *eng = c->eng;
    det_incident *inc = det_table_find(&eng->incidents, det_incident_key(r, key_hash));
    if (!inc || !inc->ev->sample.status || hit_after_quiet(inc, c->ts)) return;
    ev_event *ev = inc->ev;
    sample_fill(&ev->sample, c);
    ev_source_ip_follows_sample(ev); /* an IPv6 source's ip is its sample's */
    if (c->ts <= ev->last_us) return;
    uint32_t w = det_rule_cfg(c, r)->window_s;
    ev->last_us = c->ts;
    ev->window_s = (double)(ev->last_us - ev->first_us) / 1e6;
    ev->valid_until_us = ev->last_us + (uint64_t)ev->ttl_s * FS_USEC;
    inc->quiet_until = ev->last_us + (uint64_t)(w ? w : 60) * FS_USEC;
    if (!in_unconfirmed_jump(eng, c->ts) && c->ts > inc->sane_last_us) inc->sane_last_us = c->ts;
    det_table_touch(&eng->incidents, inc, c->ts);
}

/* Rules that judge the message itself: keyed by its sender, a response's
 * too (a PBX leaking its topology in a 200 OK). The others are keyed by the
 * requester whose requests the responses answer (scan, enumeration, brute
 * force, source flood), by the caller (fraud), or by a destination
 * (SIP-FLOOD-002). */
static bool keyed_by_sender(det_rule_id r) {
    switch (r) {
    case R_MAL_MESSAGE: case R_MAL_OVERSIZE: case R_PROTO_MISSING_HDR: case R_PROTO_MULTI_VALUE:
    case R_PROTO_CL_MISMATCH: case R_PROTO_MAX_FORWARDS: case R_PROTO_BRANCH_COOKIE:
    case R_PROTO_METHOD: case R_PROTO_OTHER: case R_SCAN_FINGERPRINT: case R_TRUST_HEADER:
    case R_CLI_HOME_IDENTITY: case R_CLI_INVALID: case R_TOPO_INTERNAL_ADDR: case R_INFO_VERSION:
    case R_INFO_WARNING: case R_INFO_AKA_KEYS: case R_INFO_WEAK_TLS: case R_INFO_CLEARTEXT:
    case R_INFO_WEAK_CERT: case R_INTEL_MATCH:
        return true;
    default:
        return false;
    }
}

static det_source *requester_entry(det_engine *eng, const fs_addr *a, uint64_t key, uint64_t ts);

/* The talker (det_top_talkers) a reportable incident of rule r counts
 * against: the address it is keyed by. A response's sender gets its entry
 * here if it has none yet (it is listed once it sends a request), unless
 * that would evict the requester's entry: c->requester still points to it
 * for the rest of the message, and would then be the responder's. Cold
 * path: once per incident. */
static det_source *incident_talker(det_ctx *c, det_rule_id r) {
    if (r == R_FLOOD_DEST) return NULL;
    if (!keyed_by_sender(r) || !c->m || !c->p || (c->requester && c->m->is_request)) return c->requester;
    if (c->requester && det_table_victim(&c->eng->sources, c->src_source_key) == (void *)c->requester)
        return NULL;
    return requester_entry(c->eng, &c->p->src.addr, c->src_source_key, c->ts);
}

/* An incident became reportable: one more for its talker (the summary's top
 * talkers), unless another worker's share of it already was (the workers'
 * figures are added up, and their shares are merged into one incident). */
static void count_for_talker(det_ctx *c, det_rule_id r, uint64_t key, uint64_t quiet) {
    det_source *talker = incident_talker(c, r);
    if (talker && (!c->eng->shared || det_shared_incident_first_reportable(c->eng->shared, key, c->ts, quiet)))
        talker->incidents++;
}

/* A hit after the open incident's quiet window belongs to a new incident:
 * the timer would have closed this one, had the clock been there (it may
 * be ahead after a step back in capture time, or between two ticks). */
static bool hit_after_quiet(const det_incident *inc, uint64_t ts) { return ts > inc->quiet_until; }

/* A hit stamped in a jump ahead that no later message has confirmed yet
 * (message_tick): possibly a stray timestamp (strays_rejected). */
static bool in_unconfirmed_jump(const det_engine *eng, uint64_t ts) {
    return eng->jump_from && ts > eng->jump_from + DET_CLOCK_STEP_US;
}

/* The message being processed counted toward inc: note it as evidence once
 * the incident is reportable, up to the per-incident limit, once per
 * message (a message's second hit of one incident adds nothing). crossed:
 * the hit brought the messages its window counted before it (a windowed
 * rule crossing its threshold, add > 1), which the look back hands over:
 * at the incident's first message, and again when it goes on into a later
 * window and crosses there (that window's messages before the crossing are
 * in its count too). */
static void note_evidence(det_engine *eng, det_incident *inc, bool in_call, bool crossed) {
    const ev_event *ev = inc->ev;
    if (!eng->evidence_fn || !eng->in_message || !incident_reportable(eng, inc)) return;
    for (unsigned i = 0; i < eng->nevidence; i++)
        if (eng->evidence[i].rule == ev->rule && !strcmp(eng->evidence[i].event_id, ev->event_id)) return;
    if (eng->evidence_per_incident && inc->evidence >= eng->evidence_per_incident) return;
    if (eng->nevidence == DET_EVIDENCE_REFS) return;
    det_evidence_ref *ref = &eng->evidence[eng->nevidence++];
    ref->rule = ev->rule;
    memcpy(ref->event_id, ev->event_id, sizeof ref->event_id);
    ref->in_call = in_call;
    ref->earlier = false;
    if (eng->lookback && !in_call) {
        det_lookback_written(eng->lookback, ev->incident_key);
        /* its first message, or a later window's crossing: the window's
         * earlier ones follow (lookback_hand_over) */
        if ((inc->evidence == 0 || crossed) && eng->nlookback_due < DET_EVIDENCE_REFS) {
            eng->lookback_due[eng->nlookback_due].incident = ev->incident_key;
            eng->lookback_due[eng->nlookback_due++].counted = ev->incident_key;
        }
    }
    inc->evidence++;
}

/* The call rules hand over whole calls: the look back too. */
static bool call_rule(det_rule_id r) { return r == R_WANGIRI || r == R_IRSF_VELOCITY || r == R_CALL_VOLUME; }

typedef struct lookback_hand {
    det_engine *eng;
    uint64_t incident_key;
    det_evidence_ref ref;
} lookback_hand;

static void hand_earlier(void *user, const cap_payload *p, bool in_call) {
    lookback_hand *h = user;
    h->ref.in_call = in_call;
    h->eng->evidence_fn(h->eng->evidence_user, p, &h->ref, 1);
}

static void mark_earlier_call(void *user, uint64_t call_key) {
    lookback_hand *h = user;
    det_calls_mark_earlier(h->eng, call_key, h->ref.rule, h->incident_key);
}

/* The incidents this message made reportable: the messages their windows
 * counted before it, from the look back, within the per-incident limit.
 * Called once the message is processed (det_hit_since has set first_seen
 * to the window's start), before the message itself is handed over; leg:
 * its call as its requester placed it. */
static void lookback_hand_over(det_engine *eng, uint64_t leg) {
    for (unsigned i = 0; i < eng->nlookback_due; i++) {
        det_incident *inc = det_table_find(&eng->incidents, eng->lookback_due[i].incident);
        if (!inc) continue;
        uint32_t per = eng->evidence_per_incident;
        uint32_t budget = !per ? UINT32_MAX : inc->evidence < per ? per - inc->evidence : 0;
        lookback_hand h = {.eng = eng, .incident_key = eng->lookback_due[i].incident,
                           .ref = {.rule = inc->ev->rule, .earlier = true}};
        memcpy(h.ref.event_id, inc->ev->event_id, sizeof h.ref.event_id);
        inc->evidence += det_lookback_each(eng->lookback, eng->lookback_due[i].counted, inc->ev->first_us,
                                           call_rule(inc->ev->rule), leg, budget, hand_earlier, mark_earlier_call,
                                           &h);
    }
    eng->nlookback_due = 0;
}

/* The message processed (m: parsed, else NULL) into the look back, once
 * the incidents it made reportable had their earlier messages. Off the
 * hot path: only with --pcap-out. */
__attribute__((noinline)) static void lookback_after(det_engine *eng, const cap_payload *p, uint64_t ts,
                                                     const sip_msg *m) {
    uint64_t call_key = 0, leg = 0;
    if (m && m->call_id.len) {
        call_key = det_key(eng, m->call_id.p, m->call_id.len, DET_SALT_CALL);
        leg = call_key ^ det_key_source(eng, m->is_request ? &p->src.addr : &p->dst.addr);
    }
    if (eng->nlookback_due) lookback_hand_over(eng, leg);
    det_lookback_add(eng->lookback, p, ts, call_key, leg, eng->nevidence > 0);
}

void det_counted(det_ctx *c, det_rule_id r, uint64_t key_hash) {
    if (c->eng->lookback && c->eng->in_message) det_lookback_tag(c->eng->lookback, det_incident_key(r, key_hash));
}

void det_lookback_as(det_ctx *c, det_rule_id r, uint64_t key_hash, uint64_t counted_hash) {
    det_engine *eng = c->eng;
    uint64_t key = det_incident_key(r, key_hash);
    for (unsigned i = 0; i < eng->nlookback_due; i++)
        if (eng->lookback_due[i].incident == key) eng->lookback_due[i].counted = det_incident_key(r, counted_hash);
}

void det_note_in_call(det_ctx *c, det_rule_id r, uint64_t key_hash) {
    det_engine *eng = c->eng;
    if (!eng->evidence_fn || !eng->in_message) return;
    det_incident *inc = det_table_find(&eng->incidents, det_incident_key(r, key_hash));
    if (inc && !hit_after_quiet(inc, c->ts)) note_evidence(eng, inc, true, false);
}

ev_event *det_hit(det_ctx *c, det_rule_id r, uint64_t key_hash, uint32_t add, bool *opened) {
    det_engine *eng = c->eng;
    const cfg_rule *rc = det_rule_cfg(c, r);
    if (opened) *opened = false;
    if (!rc->enabled) return NULL;
    uint64_t key = det_incident_key(r, key_hash);
    if (eng->lookback && eng->in_message) det_lookback_tag(eng->lookback, key);
    uint64_t quiet = (uint64_t)(rc->window_s ? rc->window_s : 60) * FS_USEC;
    det_incident *inc = det_table_find(&eng->incidents, key);
    if (inc && hit_after_quiet(inc, c->ts)) {
        incident_close(eng, inc);
        inc = NULL;
    }
    if (!inc) {
        /* Make room ourselves so an evicted incident is reported, never lost. */
        det_incident *oldest = det_table_victim(&eng->incidents, key);
        if (oldest) {
            eng->stats.incidents_evicted++;
            incident_close(eng, oldest);
        }
        ev_event *ev = malloc(sizeof *ev);
        if (!ev) return NULL;
        bool created;
        inc = det_table_upsert(&eng->incidents, key, c->ts, &created, NULL);
        inc->quiet_until = 0;
        inc->shared_reportable = false;
        inc->ev = ev;
        event_init(ev, c, r);
        ev->incident_key = key;
        if (eng->shared) det_shared_incident_id(eng->shared, key, c->ts, quiet, ev->event_id);
        inc->shared_seen = c->ts;
        /* at least this message: a hit that adds nothing to an incident
         * (a message's second anomaly of one rule) still opens it with one
         * when the first was evicted meanwhile (capture time stepping back
         * makes the fresh incident the least recent of a full bucket) */
        ev->count = 0;
        share_hits(eng, inc, c->ts, add ? add : 1);
        ev->count = add ? add : 1;
        if (opened) *opened = true;
        eng->stats.events_opened++;
        if (incident_reportable(eng, inc)) count_for_talker(c, r, key, quiet);
    } else {
        ev_event *ev = inc->ev;
        bool was_reportable = incident_reportable(eng, inc);
        if (add) share_hits(eng, inc, c->ts, add);
        ev->count += add;
        if (!was_reportable && incident_reportable(eng, inc)) count_for_talker(c, r, key, quiet);
        if (c->ts > ev->last_us) ev->last_us = c->ts;
        if (c->ts < ev->first_us) ev->first_us = c->ts;
        det_table_touch(&eng->incidents, inc, c->ts);
        /* the other workers learn how long this share went on, every quarter
         * of the quiet window (not on every hit: a flood's are many) */
        if (eng->shared && c->ts > inc->shared_seen + quiet / 4) {
            det_shared_incident_seen(eng->shared, key, c->ts);
            inc->shared_seen = c->ts;
        }
    }
    ev_event *ev = inc->ev;
    if (!in_unconfirmed_jump(eng, c->ts) && c->ts > inc->sane_last_us) inc->sane_last_us = c->ts;
    inc->quiet_until = ev->last_us + quiet;
    if (inc->quiet_until < eng->next_close_us) eng->next_close_us = inc->quiet_until;
    ev->window_s = (double)(ev->last_us - ev->first_us) / 1e6;
    ev->valid_until_us = ev->last_us + (uint64_t)ev->ttl_s * FS_USEC;
    note_evidence(eng, inc, false, add > 1);
    return ev;
}

ev_event *det_hit_span(det_ctx *c, det_rule_id r, uint64_t key_hash, uint32_t add, uint64_t since_us,
                       uint64_t until_us, bool *opened) {
    ev_event *ev = det_hit(c, r, key_hash, add, opened);
    if (!ev) return NULL;
    if (since_us && since_us < ev->first_us) ev->first_us = since_us;
    if (until_us > ev->last_us) {
        det_incident *inc = det_table_find(&c->eng->incidents, ev->incident_key);
        uint32_t w = det_rule_cfg(c, r)->window_s;
        ev->last_us = until_us;
        ev->valid_until_us = ev->last_us + (uint64_t)ev->ttl_s * FS_USEC;
        if (inc) inc->quiet_until = ev->last_us + (uint64_t)(w ? w : 60) * FS_USEC;
    }
    ev->window_s = (double)(ev->last_us - ev->first_us) / 1e6;
    return ev;
}

ev_event *det_hit_since(det_ctx *c, det_rule_id r, uint64_t key_hash, uint32_t add, uint64_t since_us,
                        bool *opened) {
    return det_hit_span(c, r, key_hash, add, since_us, 0, opened);
}

void det_window_continues(det_ctx *c, det_rule_id r, uint64_t key_hash) {
    det_engine *eng = c->eng;
    det_incident *inc = det_table_find(&eng->incidents, det_incident_key(r, key_hash));
    if (!inc || hit_after_quiet(inc, c->ts)) return;
    uint32_t w = det_rule_cfg(c, r)->window_s;
    uint64_t until = c->ts + (uint64_t)(w ? w : 60) * FS_USEC;
    if (until > inc->quiet_until) inc->quiet_until = until;
}

/* Live mode: an open incident reported again once its activity went on for
 * half its ttl_s past the last report: receivers act on a version until its
 * valid_until (last_seen + ttl_s), so an attack that lasts longer than the
 * ttl would otherwise be forgotten by them while it goes on. Also at the
 * last tick before that valid_until: the clock ticks once a second, and
 * with a short ttl_s (a few seconds) half of it may pass just after a tick,
 * the next one coming after the version receivers hold ran out. */
static bool refresh_due(const det_engine *eng, const det_incident *inc) {
    const ev_event *ev = inc->ev;
    if (!ev->ttl_s || ev->count == inc->count_at_report) return false;
    uint64_t ttl = (uint64_t)ev->ttl_s * FS_USEC;
    return ev->last_us >= inc->last_at_report + ttl / 2 || eng->now_us + TICK_US >= inc->last_at_report + ttl;
}

/* Live mode: report freshly opened incidents once their detector filled
 * them (version 1), and long ones again (the next version, not final). */
static void report_open_incidents(det_engine *eng) {
    if (!eng->live || !eng->emit) return;
    for (uint32_t i = 0; i < det_table_slots(&eng->incidents); i++) {
        det_incident *inc = det_table_at(&eng->incidents, i);
        if (!inc) continue;
        if (inc->reported_open) {
            if (!refresh_due(eng, inc)) continue;
            inc->ev->version++;
        } else if (!incident_reportable(eng, inc)) {
            continue;
        }
        inc->ev->created_us = fs_time_now_us();
        eng->emit(eng->user, inc->ev, false);
        inc->reported_open = true;
        inc->count_at_report = inc->ev->count;
        inc->last_at_report = inc->ev->last_us;
        inc->first_at_report = inc->ev->first_us;
    }
}

uint32_t det_threshold(const det_ctx *c, det_rule_id r) {
    return det_threshold_zone(c, r, c->src_zone);
}

uint32_t det_threshold_zone(const det_ctx *c, det_rule_id r, int zone) {
    uint32_t t = det_rule_cfg(c, r)->threshold;
    if (zone >= 0 && zone < c->eng->cfg->nzones) {
        double mult = c->eng->cfg->zones[zone].flood_multiplier;
        if (mult <= 0) return UINT32_MAX;
        double v = ceil((double)t * mult); /* rounds up: 0.2 of a request is 1, not 0 */
        t = v >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    }
    return t ? t : 1;
}

bool det_off_hours(const det_ctx *c) {
    det_engine *eng = c->eng;
    if (!eng->cfg->business_hours.set) return false;
    int64_t minute = (int64_t)(c->ts / (60 * FS_USEC)) + 1; /* judged once a capture minute */
    if (minute != eng->hours_minute) {
        eng->hours_minute = minute;
        eng->hours_within = cfg_within_business_hours(eng->cfg, c->ts);
    }
    return !eng->hours_within;
}

uint32_t det_fraud_threshold(const det_ctx *c, det_rule_id r, int off_hours_param) {
    double off = det_rule_cfg(c, r)->param[off_hours_param];
    if (off >= 1 && det_off_hours(c)) return off >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)off;
    return det_threshold_zone(c, r, -1);
}

void det_note_hours(const det_ctx *c, ev_event *ev) {
    if (c->eng->cfg->business_hours.set) ev_set_str(ev, "off_hours", det_off_hours(c) ? "yes" : "no");
}

/* ---- time --------------------------------------------------------------------------- */

/* The clock is the latest capture time seen, so that jitter (merged
 * captures, HEP from several proxies, workers) does not move it back and
 * forth. Capture time that steps back by more than DET_CLOCK_STEP_US and
 * stays back for CLOCK_STEP_RUN ticks in a row (a sensor's clock
 * corrected, a stray timestamp years ahead), or does so at the start of a
 * new input (det_clock_follow: files given out of order), moves the clock
 * back: otherwise nothing would close or time out until capture time caught
 * up with the step, and live mode would report nothing meanwhile. Two
 * interleaved clocks further apart than that do not make it swing. */
#define CLOCK_STEP_RUN 64

/* The jump ahead at eng->jump_from was a stray timestamp (the clock steps
 * back, or the input ends, before any message confirmed it): an incident
 * whose last hit was that message ends at its last hit before it. Its
 * occurrence still counts, but the incident must not read as years long,
 * valid for years (valid_until), nor absorb the messages after the stray
 * as if they were as late. An incident of the stray alone keeps its time. */
static void strays_rejected(det_engine *eng) {
    for (uint32_t i = 0; i < det_table_slots(&eng->incidents); i++) {
        det_incident *inc = det_table_at(&eng->incidents, i);
        if (!inc || !inc->sane_last_us || !in_unconfirmed_jump(eng, inc->ev->last_us)) continue;
        ev_event *ev = inc->ev;
        uint32_t w = eng->cfg->rules[ev->rule].window_s;
        ev->last_us = inc->e.last_us = inc->sane_last_us;
        ev->window_s = (double)(ev->last_us - ev->first_us) / 1e6;
        ev->valid_until_us = ev->last_us + (uint64_t)ev->ttl_s * FS_USEC;
        inc->quiet_until = ev->last_us + (uint64_t)(w ? w : 60) * FS_USEC;
    }
}

static void clock_step_back(det_engine *eng, uint64_t now_us) {
    if (eng->jump_from) strays_rejected(eng);
    eng->now_us = now_us;
    eng->jump_from = 0; /* the time of a jump ahead, if any, is over */
    eng->next_tick_us = 0; /* tick now: close what was open before the step */
    eng->next_close_us = 0;
    eng->calls_swept_us = 0; /* a whole sweep: every call of the time before the step times out now,
                              * not a slice a second (a call ID seen again is a new call) */
    det_table_restamp(&eng->sources, now_us);
    det_table_restamp(&eng->dests, now_us);
    det_table_restamp(&eng->calls, now_us);
    det_table_restamp(&eng->txns, now_us);
    if (!eng->shared) det_table_restamp(&eng->callers, now_us); /* the shared one has every worker's times */
}

static void clock_advance(det_engine *eng, uint64_t now_us) {
    bool behind = now_us < eng->now_us && eng->now_us - now_us > DET_CLOCK_STEP_US;
    if (behind && (eng->clock_follow || ++eng->clock_behind >= CLOCK_STEP_RUN)) clock_step_back(eng, now_us);
    else if (now_us > eng->now_us) eng->now_us = now_us;
    if (!behind || eng->now_us == now_us) {
        eng->clock_behind = 0;
        eng->clock_follow = false;
    }
}

void det_clock_follow(det_engine *eng) { eng->clock_follow = true; }

void det_engine_set_input(det_engine *eng, const char *name, bool frames) {
    eng->input = name;
    eng->input_frames = frames;
}

/* An open incident to close at the clock's time: quiet for its window, or
 * last hit further ahead than a clock step (from before the step back:
 * nothing of that time is coming any more). */
static bool incident_done(const det_engine *eng, const det_incident *inc) {
    return inc->quiet_until < eng->now_us ||
           (inc->e.last_us > eng->now_us && inc->e.last_us - eng->now_us > DET_CLOCK_STEP_US);
}

/* Close the incidents that are done. The table is walked only when one
 * can be (next_close_us), not at every tick: capture time that hops a
 * second or more at every frame would otherwise cost a walk per frame. */
static void close_done_incidents(det_engine *eng) {
    if (eng->now_us <= eng->next_close_us) return;
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < det_table_slots(&eng->incidents); i++) {
        det_incident *inc = det_table_at(&eng->incidents, i);
        if (!inc) continue;
        if (incident_done(eng, inc)) incident_close(eng, inc);
        else if (inc->quiet_until < next) next = inc->quiet_until;
    }
    eng->next_close_us = next;
}

void det_tick(det_engine *eng, uint64_t now_us) {
    clock_advance(eng, now_us);
    if (eng->jump_from || eng->now_us < eng->next_tick_us) return;
    eng->next_tick_us = eng->now_us + TICK_US;
    close_done_incidents(eng);
    det_calls_tick(eng);
    report_open_incidents(eng);
}

static int by_first_seen(const void *a, const void *b) {
    const det_incident *x = *(det_incident *const *)a, *y = *(det_incident *const *)b;
    return x->ev->first_us < y->ev->first_us ? -1 : x->ev->first_us > y->ev->first_us;
}

/* The end's timers and shares raise what they still can, and (live) every
 * open incident is reported open: nothing is closed yet. */
void det_finish_open(det_engine *eng) {
    if (eng->finish_opened) return;
    eng->finish_opened = true;
    if (eng->jump_from) { /* a last jump ahead nothing confirmed: a stray time */
        strays_rejected(eng);
        eng->now_us = eng->jump_from;
        eng->jump_from = 0;
    }
    eng->finishing = true;
    det_calls_tick(eng);
    eng->finishing = false;
    det_behaviour_finish_shared(eng);
    report_open_incidents(eng);
}

void det_finish(det_engine *eng) {
    det_finish_open(eng);
    eng->finish_opened = false; /* the engine may be fed again (tests do) */
    /* close in first-seen order so the output reads chronologically */
    uint32_t n = 0, slots = det_table_slots(&eng->incidents);
    det_incident **open = malloc((size_t)slots * sizeof *open);
    for (uint32_t i = 0; i < slots; i++) {
        det_incident *inc = det_table_at(&eng->incidents, i);
        if (!inc) continue;
        if (open) open[n++] = inc;
        else incident_close(eng, inc); /* no memory to sort: close in table order */
    }
    if (!open) return;
    qsort(open, n, sizeof *open, by_first_seen);
    for (uint32_t i = 0; i < n; i++) incident_close(eng, open[i]);
    free(open);
}

/* ---- per message ----------------------------------------------------------------------- */

static void count_message(det_engine *eng, const sip_msg *m, const cap_payload *p, uint64_t ts) {
    det_stats *s = &eng->stats;
    s->messages++;
    if (ts > s->last_message_us) s->last_message_us = ts;
    if (p->transport < CAP_TRANSPORTS) s->by_transport[p->transport]++;
    if (p->from_hep) s->from_hep++;
    if (m->is_request) {
        s->requests++;
        s->by_method[m->method < SIP_M__COUNT ? m->method : 0]++;
    } else {
        s->responses++;
        unsigned cls = m->status / 100;
        s->by_class[cls >= 1 && cls <= 6 ? cls : 0]++;
    }
    bool counted = false;
    for (unsigned i = 0; i < m->nanom; i++) {
        s->anomalies[m->anom[i]]++;
        if (sip_anomaly_class_of(m->anom[i]) != SIP_AC_NOTE && !counted) {
            s->msgs_with_anomaly++;
            counted = true;
        }
    }
    /* the detector's two findings (det_method_unknown, det_branch_without_cookie)
     * count with the parser's codes, so that the summary's anomalies and
     * --stats-json do not say none where the events name them */
    bool unknown = det_method_unknown(m), no_cookie = det_branch_without_cookie(m);
    s->anomalies[SIP_A_METHOD_UNKNOWN] += unknown;
    s->anomalies[SIP_A_VIA_BRANCH_NO_COOKIE] += no_cookie;
    if ((unknown || no_cookie) && !counted) s->msgs_with_anomaly++;
}

static det_source *requester_entry(det_engine *eng, const fs_addr *a, uint64_t key, uint64_t ts) {
    bool created, evicted;
    det_source *s = det_table_upsert(&eng->sources, key, ts, &created, &evicted);
    if (evicted) eng->stats.sources_evicted++;
    if (created) s->prefix = det_source_net(eng, a, &s->addr);
    return s;
}

static void zone_lookup(det_ctx *c) {
    const fs38_config *cfg = c->eng->cfg;
    c->zones = cfg_zones_configured(cfg);
    c->src_zone = cfg_zone_of(cfg, &c->p->src.addr);
    c->dst_zone = cfg_zone_of(cfg, &c->p->dst.addr);
    c->src_trust = c->src_zone >= 0 ? (cfg_trust)cfg->zones[c->src_zone].trust : (cfg_trust)cfg->default_trust;
    c->dst_trust = c->dst_zone >= 0 ? (cfg_trust)cfg->zones[c->dst_zone].trust : (cfg_trust)cfg->default_trust;
    c->src_allowed = cfg->nallow && cfg_is_allowed(cfg, &c->p->src.addr);
}

/* The TCP framer passed only the first bytes of a message too long to
 * take whole: it is oversized, and it was cut by us, not its sender. What
 * the cut alone makes is not held against it: a body shorter than its
 * Content-Length, a multipart body without its close delimiter (an IMS
 * INVITE's SDP + ISUP over max_message), a header section without its
 * empty line, and the mandatory headers that came after the cut. */
static bool cut_anomaly(sip_anomaly a, bool headers_cut) {
    return a == SIP_A_CONTENT_LENGTH_EXCEEDS || a == SIP_A_MULTIPART_SYNTAX || a == SIP_A_HEADERS_UNTERMINATED ||
           (headers_cut && a == SIP_A_MISSING_REQUIRED_HEADER);
}

static void oversized_message(sip_msg *m) {
    bool headers_cut = sip_msg_has_anomaly(m, SIP_A_HEADERS_UNTERMINATED);
    unsigned kept = 0;
    for (unsigned i = 0; i < m->nanom; i++)
        if (!cut_anomaly((sip_anomaly)m->anom[i], headers_cut)) m->anom[kept++] = m->anom[i];
    m->anom_total -= (uint16_t)(m->nanom - kept);
    m->nanom = (uint8_t)kept;
    sip_msg_add_anomaly(m, SIP_A_LIMIT_MESSAGE_SIZE);
}

/* A payload's capture time as the engine uses it. 0 means "not set" to
 * every window and timer (a window starting at 0 would start again at every
 * message, and no rule counting in one would ever fire), so a payload
 * without a timestamp (zeroed, or a pcapng Simple Packet Block) is at the
 * clock's time: among stamped ones, not 1970 (which would stretch its
 * sender's incidents back to then), and a capture without any runs at 1 us;
 * and time stops before the year 9998, so that no sum of a time and a
 * window or ttl wraps around and every time prints as RFC 3339 (4-digit
 * years; pcapng timestamps are 64-bit). */
#define DET_TIME_MAX_US (253339228800ULL * FS_USEC) /* 9998-01-01T00:00:00Z */

static uint64_t capture_time(const det_engine *eng, const cap_payload *p) {
    if (p->ts_us == 0) { /* the clock; before a jump ahead, while nothing confirmed it */
        uint64_t clock = eng->jump_from ? eng->jump_from : eng->now_us;
        return clock ? clock : 1;
    }
    return p->ts_us < DET_TIME_MAX_US ? p->ts_us : DET_TIME_MAX_US;
}

/* The clock at a message's time. A time more than DET_CLOCK_STEP_US ahead
 * of the clock moves it, but the timers (incidents closing, calls timing
 * out, long calls judged) wait until a later message confirms the jump
 * (any time not that far behind the new clock): one stray timestamp years
 * ahead (a corrupt record) must not close every incident, drop every call
 * and report each answered call to a high-risk range as years long. The
 * messages after a stray, back at the old time, step the clock back as
 * before (clock_advance). */
static void message_tick(det_engine *eng, uint64_t ts) {
    bool behind = ts < eng->now_us && eng->now_us - ts > DET_CLOCK_STEP_US;
    if (eng->jump_from && !behind) eng->jump_from = 0; /* confirmed */
    else if (!eng->jump_from && eng->now_us && !eng->clock_follow && ts > eng->now_us &&
             ts - eng->now_us > DET_CLOCK_STEP_US)
        eng->jump_from = eng->now_us;
    det_tick(eng, ts);
}

/* A STUN message (RFC 5389 6: the top two bits 0, the magic cookie, a length
 * in 4-octet units that fills the payload): a UA keeps its SIP flow over UDP
 * alive with STUN Binding requests to the SIP port (RFC 5626 4.4.2, 8), as
 * over TCP with CRLFs. A keep-alive, not a malformed SIP message. */
static bool stun_message(const uint8_t *d, uint32_t len) {
    if (len < 20 || (d[0] & 0xc0)) return false;
    uint32_t attrs = (uint32_t)d[2] << 8 | d[3];
    return (attrs & 3) == 0 && attrs + 20 == len && d[4] == 0x21 && d[5] == 0x12 && d[6] == 0xa4 && d[7] == 0x42;
}

void det_process(det_engine *eng, const cap_payload *p) {
    det_stats *s = &eng->stats;
    uint64_t ts = capture_time(eng, p);
    s->payloads++;
    if (!s->first_us || ts < s->first_us) s->first_us = ts;
    if (ts > s->last_us) s->last_us = ts;
    message_tick(eng, ts);
    /* from here on, hits are this message's (det_tick's timers came before) */
    eng->in_message = true;
    eng->nevidence = 0;

    /* The state tables are far bigger than the caches: start loading the
     * buckets this message will need while the parser works. */
    uint64_t src_key = det_key_source(eng, &p->src.addr);
    uint64_t dst_key = det_key_source(eng, &p->dst.addr);
    det_table_prefetch(&eng->sources, src_key);
    det_table_prefetch(&eng->sources, dst_key);
    uint64_t dest_key = det_key_addr(eng, &p->dst.addr, DET_SALT_DEST);
    det_table_prefetch(&eng->dests, dest_key);

    sip_msg *m = &eng->msg;
    sip_parse_status st = sip_parse(m, (const char *)p->data, p->len, &eng->limits, SIP_PARSE_DATAGRAM);
    if (st != SIP_PARSE_OK) {
        if ((m->nanom == 1 && m->anom[0] == SIP_A_KEEPALIVE) || stun_message(p->data, p->len)) {
            s->keepalives++; /* RFC 5626 CRLF ping or STUN keep-alive: normal, not an attack */
            goto done;
        }
        s->not_sip++;
        /* Something addressed to a SIP port that is not SIP at all is itself
         * worth a malformed-message event (fuzzers, garbage floods). */
        if (st == SIP_PARSE_ERROR && m->nanom) {
            det_ctx c = {.eng = eng, .m = m, .p = p, .ts = ts, .requester_zone = -1,
                         .src_source_key = src_key};
            zone_lookup(&c);
            c.src_ep = &p->src;
            c.dst_ep = &p->dst;
            if (!c.src_allowed) det_protocol_anomalies(&c);
        }
        goto done;
    }
    /* The buckets have arrived by now: load the requester's busy first
     * lines (det_source: up to the enumeration fields). */
    det_table_prefetch_entry(&eng->sources, m->is_request ? src_key : dst_key, offsetof(det_source, enum_start));
    /* The dialog and transaction this message belongs to: load their buckets
     * while validation and the source's detectors run. */
    uint64_t call_key = 0, txn_key;
    if (m->call_id.len) {
        call_key = det_key(eng, m->call_id.p, m->call_id.len, DET_SALT_CALL);
        det_table_prefetch(&eng->calls, call_key);
        if (eng->shared && m->method == SIP_M_INVITE) /* a new call is claimed there too */
            det_shared_prefetch_call(eng->shared, call_key);
    }
    txn_key = det_txn_key(eng, m, p, call_key);
    if (txn_key) det_table_prefetch(&eng->txns, txn_key);
    sip_validate(m, &eng->limits);
    /* RFC 3261 18.3, 20.14: over TCP and TLS, Content-Length frames the
     * message and must be there (the framing took its absence for no body:
     * a body it had went to resync, and a receiver such as Kamailio refuses it) */
    if ((p->transport == CAP_T_TCP || p->transport == CAP_T_TLS) && !p->oversized &&
        m->count[SIP_H_CONTENT_LENGTH] == 0)
        sip_msg_add_anomaly(m, SIP_A_MISSING_REQUIRED_HEADER);
    if (p->oversized) oversized_message(m);
    count_message(eng, m, p, ts);
    if (eng->tap_fn) eng->tap_fn(eng->tap_user, p, m);

    det_ctx c = {.eng = eng, .m = m, .p = p, .ts = ts,
                 .src_source_key = src_key, .dest_key = dest_key,
                 .call_key = call_key, .txn_key = txn_key};
    zone_lookup(&c);
    c.src_ep = &p->src;
    c.dst_ep = &p->dst;
    const fs_addr *req_addr = m->is_request ? &p->src.addr : &p->dst.addr;
    c.requester = requester_entry(eng, req_addr, m->is_request ? src_key : dst_key, ts);
    c.requester->messages++;
    if (m->is_request) c.requester->requests++;
    c.requester_allowed = m->is_request ? c.src_allowed
                                        : eng->cfg->nallow && cfg_is_allowed(eng->cfg, req_addr);
    c.requester_zone = m->is_request ? c.src_zone : c.dst_zone;

    /* Source-keyed detectors skip allow-listed senders; behaviour credits
     * responses to the requester, so it checks requester_allowed itself;
     * call tracking always runs (caller-keyed fraud still applies).
     * Behaviour first: SIP-SCAN-001 reports the targets counted so far,
     * this message's included. */
    if (call_key) det_table_prefetch_entry(&eng->calls, call_key, sizeof(det_call));
    det_behaviour_check(&c);
    if (!c.src_allowed) {
        det_protocol_check(&c);
        det_trust_check(&c);
    }
    det_calls_check(&c);
    if (eng->indicators && !c.src_allowed) det_indicators_check(&c);
done:
    eng->in_message = false;
    if (eng->lookback) lookback_after(eng, p, ts, st == SIP_PARSE_OK ? m : NULL);
    if (eng->nevidence) eng->evidence_fn(eng->evidence_user, p, eng->evidence, eng->nevidence);
}

void det_tls_hello(det_engine *eng, const cap_tls_hello *h) {
    /* no message: the server's hello or certificate, as from the server to
     * its client; a client's certificate (mutual TLS) from the client */
    bool by_client = h->cert && h->client_cert;
    cap_payload hello = {.src = by_client ? h->client : h->server, .dst = by_client ? h->server : h->client,
                         .transport = CAP_T_TLS, .ts_us = h->ts_us, .frame_no = h->frame_no};
    uint64_t ts = capture_time(eng, &hello);
    message_tick(eng, ts);
    det_ctx c = {.eng = eng, .m = NULL, .p = &hello, .ts = ts, .requester_zone = -1,
                 .src_source_key = det_key_source(eng, &hello.src.addr)};
    zone_lookup(&c);
    c.src_ep = &hello.src;
    c.dst_ep = &hello.dst;
    if (c.src_allowed) return;
    if (h->cert) det_cert_check(&c, h->cert, h->cert_len, by_client);
    else det_tls_check(&c, h->version, h->suite);
}

/* ---- reporting helpers ----------------------------------------------------------------- */

/* Bytes one slot of t costs: the entry plus its key and stamp. */
static size_t slot_bytes(const det_table *t) { return t->entry_size + 2 * sizeof(uint64_t); }

/* The callers table of this engine for statistics: its own, or the one the
 * workers share, which worker 0 reports for all. */
static void callers_reported(const det_engine *eng, uint32_t *slots, uint32_t *live) {
    *slots = *live = 0;
    if (!eng->shared) {
        *slots = det_table_slots(&eng->callers);
        *live = eng->callers.live;
    } else if (eng->shard_index == 0) {
        det_shared_callers_count(eng->shared, slots, live);
    }
}

void det_engine_memory(const det_engine *eng, det_memory *out) {
    memset(out, 0, sizeof *out);
    callers_reported(eng, &out->callers_cap, &out->callers_live);
    out->source_entry = slot_bytes(&eng->sources);
    out->dest_entry = slot_bytes(&eng->dests);
    out->caller_entry = slot_bytes(&eng->callers);
    out->call_entry = slot_bytes(&eng->calls);
    out->txn_entry = slot_bytes(&eng->txns);
    out->incident_entry = slot_bytes(&eng->incidents) + sizeof(ev_event);
    out->sources_cap = det_table_slots(&eng->sources);
    out->dests_cap = det_table_slots(&eng->dests);
    out->calls_cap = det_table_slots(&eng->calls);
    out->txns_cap = det_table_slots(&eng->txns);
    out->incidents_cap = det_table_slots(&eng->incidents);
    out->sources_live = eng->sources.live;
    out->dests_live = eng->dests.live;
    out->calls_live = eng->calls.live;
    out->txns_live = eng->txns.live;
    out->incidents_live = eng->incidents.live;
    /* open incidents own a heap event each; closed slots only their entry */
    out->total_bytes = sizeof *eng + (size_t)out->sources_cap * out->source_entry +
                       (size_t)out->dests_cap * out->dest_entry +
                       (size_t)out->callers_cap * out->caller_entry +
                       (size_t)out->calls_cap * out->call_entry +
                       (size_t)out->txns_cap * out->txn_entry +
                       (size_t)out->incidents_cap * slot_bytes(&eng->incidents) +
                       (size_t)out->incidents_live * sizeof(ev_event) + det_peers_memory(&eng->own_peers);
    out->bound_bytes = out->total_bytes + (size_t)(out->incidents_cap - out->incidents_live) * sizeof(ev_event);
}

bool det_talker_before(const det_talker *a, const det_talker *b) {
    if (a->requests != b->requests) return a->requests > b->requests;
    if (a->messages != b->messages) return a->messages > b->messages;
    if (a->addr.family != b->addr.family) return a->addr.family < b->addr.family;
    int order = memcmp(a->addr.ip, b->addr.ip, sizeof a->addr.ip);
    return order ? order < 0 : a->prefix > b->prefix;
}

int det_top_talkers(const det_engine *eng, det_talker *out, int n) {
    int have = 0;
    det_table *t = (det_table *)&eng->sources;
    for (uint32_t i = 0; i < det_table_slots(t); i++) {
        det_source *s = det_table_at(t, i);
        if (!s || s->requests == 0) continue;
        det_talker cand = {s->addr, s->prefix, s->messages, s->requests, s->incidents};
        int pos = have < n ? have : n;
        while (pos > 0 && det_talker_before(&cand, &out[pos - 1])) {
            if (pos < n) out[pos] = out[pos - 1];
            pos--;
        }
        if (pos < n) {
            out[pos] = cand;
            if (have < n) have++;
        }
    }
    return have;
}

uint32_t det_talker_slots(const det_engine *eng) { return det_table_slots(&eng->sources); }

bool det_talker_at(const det_engine *eng, uint32_t i, det_talker *out) {
    const det_source *s = det_table_at((det_table *)&eng->sources, i);
    if (!s || s->requests == 0) return false;
    *out = (det_talker){s->addr, s->prefix, s->messages, s->requests, s->incidents};
    return true;
}

bool det_talker_of(const det_engine *eng, const fs_addr *addr, uint8_t prefix, det_talker *out) {
    const det_source *s = det_table_find((det_table *)&eng->sources, det_key_source(eng, addr));
    if (!s || s->prefix != prefix || !fs_addr_eq(&s->addr, addr)) return false;
    *out = (det_talker){s->addr, s->prefix, s->messages, s->requests, s->incidents};
    return true;
}

/* ---- sources ---------------------------------------------------------------------------- */

static void net_observables(ev_event *ev, const fs_addr *net, uint8_t prefix, const fs_addr *addr) {
    char ip[FS_ADDR_STRLEN];
    if (prefix >= 128) {
        ev_add_observable(ev, "ip", fs_addr_str(net, ip, sizeof ip), "source");
        return;
    }
    char cidr[FS_ADDR_STRLEN + 4];
    snprintf(cidr, sizeof cidr, "%s/%u", fs_addr_str(net, ip, sizeof ip), (unsigned)prefix);
    ev_add_observable(ev, "cidr", cidr, "source");
    ev_add_observable(ev, "ip", fs_addr_str(addr, ip, sizeof ip), "source");
}

void det_source_observables(ev_event *ev, const det_source *s, const fs_addr *addr) {
    net_observables(ev, &s->addr, s->prefix, addr);
}

void det_sender_observables(ev_event *ev, const det_ctx *c) {
    fs_addr net;
    uint8_t prefix = det_source_net(c->eng, &c->p->src.addr, &net);
    net_observables(ev, &net, prefix, &c->p->src.addr);
}

/* ---- numbers and users ------------------------------------------------------------------- */

fs_str det_nameaddr_uri(fs_str value) {
    sip_nameaddr na;
    sip_anomaly a = sip_nameaddr_check(value, &na);
    /* a broken display name or header parameter (an unquoted UTF-8 name, a
     * trailing ';': SIP-MAL-001 reports it) does not hide the <uri> a
     * lenient next hop routes and shows the caller by */
    return a == SIP_A_NONE || na.bracketed ? na.uri : value;
}

fs_str det_uri_number_user(const sip_uri *u) {
    /* a tel: URI's parameters follow its number in the same buffer */
    if (u->scheme != SIP_SCHEME_TEL || !u->params.len || u->params.p != u->user.p + u->user.len + 1)
        return u->user;
    fs_str ctx;
    if (!sip_param_get(u->params, "phone-context", &ctx) || !ctx.len || ctx.p[0] != '+') return u->user;
    return fs_str_make(u->user.p, u->user.len + 1 + u->params.len);
}

static fs_str uri_user(fs_str uri) {
    sip_uri u;
    return sip_uri_parse(uri, &u) ? det_uri_number_user(&u) : FS_STR_NULL;
}

/* The user of a URI that sip_parse found plain (sip_fast_*: "sip:" or
 * "sips:", then userinfo@host... or host..., nothing sip_uri_parse rejects):
 * what uri_user would give, the userinfo up to ':'. */
static fs_str plain_uri_user(fs_str uri) {
    uint32_t skip = uri.p[3] == ':' ? 4 : 5; /* "sip:" or "sips:" */
    const char *p = uri.p + skip, *end = uri.p + uri.len;
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (!at) return FS_STR_NULL;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    return fs_str_make(p, (size_t)((colon ? colon : at) - p));
}

fs_str det_header_user(fs_str value) { return uri_user(det_nameaddr_uri(value)); }

/* A PAI value that is a telephone number: a tel: URI, or a user part of
 * digits in international form (sip:+44...;user=phone). */
static bool pai_is_number(fs_str item) {
    if (fs_str_istarts(det_nameaddr_uri(item), "tel:")) return true;
    char num[64];
    bool intl;
    return det_number_normalise(det_header_user(item), num, sizeof num, &intl) && intl;
}

fs_str det_pai_value(const sip_msg *m) {
    /* RFC 3325 9.1: up to two identities, a sip: and a tel: one, in one
     * field or two, in any order: the caller is the number when there is one */
    fs_str first = FS_STR_NULL;
    int left = m->count[SIP_H_P_ASSERTED_IDENTITY];
    for (unsigned i = m->first[SIP_H_P_ASSERTED_IDENTITY] < 0 ? m->nhdr : (unsigned)m->first[SIP_H_P_ASSERTED_IDENTITY];
         left > 0 && i < m->nhdr; i++) {
        if (m->hdr[i].id != SIP_H_P_ASSERTED_IDENTITY) continue;
        left--;
        fs_str rest = m->hdr[i].value, item;
        for (int k = 0; k < 4 && sip_list_next(&rest, &item);) {
            if (!item.len) continue;
            k++;
            if (!first.len) first = item;
            if (pai_is_number(item)) return item;
        }
    }
    return first;
}

fs_str det_from_to_uri(const sip_msg *m, unsigned which) {
    if (m->pre_ok & (SIP_PRE_FROM << which)) return m->pre_uri[which];
    return det_nameaddr_uri(which ? m->to : m->from);
}

fs_str det_from_to_user(const sip_msg *m, unsigned which) {
    if (m->pre_ok & (SIP_PRE_FROM << which)) return plain_uri_user(m->pre_uri[which]);
    return det_header_user(which ? m->to : m->from);
}

fs_str det_ruri_user(const sip_msg *m) {
    return m->pre_ok & SIP_PRE_RURI ? plain_uri_user(m->ruri) : uri_user(m->ruri);
}

int det_hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* user with its %XX escapes decoded into buf (at most n - 1 octets; a bad
 * escape is kept as written). */
static fs_str unescape_user(fs_str user, char *buf, size_t n) {
    size_t o = 0;
    for (uint32_t i = 0; i < user.len && o + 1 < n; i++) {
        int hi, lo;
        if (user.p[i] == '%' && i + 2 < user.len && (hi = det_hex_value(user.p[i + 1])) >= 0 &&
            (lo = det_hex_value(user.p[i + 2])) >= 0) {
            buf[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            buf[o++] = user.p[i];
        }
    }
    return fs_str_make(buf, o);
}

/* A local number's phone-context that is a global number prefix (RFC 3966
 * 5.1.5: tel:7700912345;phone-context=+44 is +447700912345): writes that
 * prefix in front of the local digits out[0..*o) and returns true. Other
 * contexts (a domain name) leave the number local. params starts at ';'. */
static bool prefix_phone_context(fs_str params, char *out, size_t n, size_t *o) {
    static const char key[] = ";phone-context=";
    const size_t klen = sizeof key - 1;
    for (uint32_t i = 0; i + klen < params.len; i++) {
        if (params.p[i] != ';' || strncasecmp(params.p + i, key, klen) != 0) continue;
        const char *v = params.p + i + klen, *end = params.p + params.len;
        if (*v != '+') return false;
        char prefix[24];
        size_t np = 0;
        for (v++; v < end && *v != ';'; v++) {
            if (*v >= '0' && *v <= '9') {
                if (np + 1 >= sizeof prefix) return false;
                prefix[np++] = *v;
            } else if (*v != '-' && *v != '.' && *v != '(' && *v != ')') {
                return false;
            }
        }
        if (!np || 1 + np + *o + 1 > n) return false;
        memmove(out + 1 + np, out, *o);
        out[0] = '+';
        memcpy(out + 1, prefix, np);
        *o += 1 + np;
        return true;
    }
    return false;
}

bool det_number_normalise(fs_str user, char *out, size_t n, bool *international) {
    /* An escaped octet is the octet itself (RFC 3261 19.1.4: sip:%2B88...
     * and sip:+88... are the same URI, and a proxy routes them alike):
     * rare, so looked for only when a '%' is there. */
    char unescaped[64];
    if (user.len && memchr(user.p, '%', user.len)) user = unescape_user(user, unescaped, sizeof unescaped);
    size_t o = 0;
    uint32_t i = 0;
    *international = false;
    if (n < 2) return false;
    if (user.len && user.p[0] == '+') {
        *international = true;
        out[o++] = '+';
        i = 1;
    } else if (user.len > 2 && user.p[0] == '0' && user.p[1] == '0') {
        *international = true; /* 00 international prefix */
        out[o++] = '+';
        i = 2;
    }
    size_t digits = 0;
    for (; i < user.len; i++) {
        char ch = user.p[i];
        if (ch >= '0' && ch <= '9') {
            if (o + 1 >= n) break;
            out[o++] = ch;
            digits++;
        } else if (ch == '-' || ch == '.' || ch == '(' || ch == ')' || ch == ' ') {
            continue; /* visual separators (RFC 3966) */
        } else if (ch == ';') {
            /* tel/user parameters: a local number's global context makes it global */
            if (!*international && digits && prefix_phone_context(fs_str_make(user.p + i, user.len - i), out, n, &o))
                *international = true;
            break;
        } else {
            /* not a number: keep the user as is (bounded) */
            *international = false;
            fs_str_copy(user, out, n);
            return user.len > 0;
        }
    }
    out[o] = '\0';
    if (digits == 0) *international = false;
    return digits > 0;
}
