/*
 * det_behaviour.c -- what a source does over time, rather than what one
 * message looks like: floods (SIP-FLOOD-001/002), scanning (SIP-SCAN-002),
 * extension enumeration (SIP-ENUM-001) and credential brute force
 * (SIP-BRUTE-001/002).
 *
 * Owns: the per-source and per-destination window counters these rules use
 * and the pending-transaction table (eng->txns). Must not touch: the
 * incident lifecycle (det_hit does that), call state (det_calls.c).
 *
 * Responses are credited to the requester (the address they are sent to),
 * so an enumerator's 404s and a brute forcer's 401s land on its own entry;
 * only responses that answer a request seen from that requester count
 * (Call-ID + CSeq), so forged responses cannot frame a victim.
 * Every counter lives in a tumbling window; when a rule's condition first
 * holds in a window the whole window's count goes into the incident, later
 * messages of the same window add one each, so evidence.count is exact and
 * one incident covers the whole attack.
 */
#include <math.h>
#include <stdio.h>

#include "det_internal.h"

/* Salts keep the hash spaces of different keys apart. */
enum {
    SALT_FLOOD = 31,
    SALT_DEST = DET_SALT_DEST,
    SALT_SCAN = 33,
    SALT_TARGET = 34,
    SALT_PEER = 35,
    SALT_ENUM = 36,
    SALT_USER = 37,
    SALT_BRUTE = 38,
    SALT_AUTH = 39,
    SALT_FAILED = 40,
    SALT_BRANCH = 46,
    SALT_NONCE = 47,
    SALT_CHALLENGED = 80 /* and 81 */
};

static void ip_observable(ev_event *ev, const fs_addr *a, const char *role) {
    char ip[FS_ADDR_STRLEN];
    ev_add_observable(ev, "ip", fs_addr_str(a, ip, sizeof ip), role);
}

/* Messages so far in the window, as a rate (at least one second of window). */
static double window_rate(uint32_t count, uint64_t start_us, uint64_t now_us) {
    double secs = now_us > start_us ? (double)(now_us - start_us) / 1e6 : 0;
    return (double)count / (secs < 1.0 ? 1.0 : secs);
}

/* A rule parameter scaled like det_threshold_zone scales thresholds. */
static uint32_t scaled_param(const det_ctx *c, double value, int zone) {
    if (value <= 0) return UINT32_MAX; /* 0 disables that check */
    if (zone >= 0 && zone < c->eng->cfg->nzones) {
        double mult = c->eng->cfg->zones[zone].flood_multiplier;
        if (mult <= 0) return UINT32_MAX;
        value *= mult;
    }
    value = ceil(value); /* scaled down, a threshold rounds up and stays at least 1 */
    if (value < 1) return 1;
    return value >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)value;
}

/* How much a window's crossing adds: everything so far the first time. */
static uint32_t crossing_add(bool *flagged, uint32_t window_count) {
    if (*flagged) return 1;
    *flagged = true;
    return window_count ? window_count : 1;
}

/* ---- SIP-FLOOD-001: requests per source ----------------------------------------- */

static void flood_source(det_ctx *c) {
    det_source *s = c->requester;
    const cfg_rule *rc = det_rule_cfg(c, R_FLOOD_SOURCE);
    if (!rc->enabled) return;
    /* our own elements (SBC, CSCF) relay everyone's requests: their volume is
     * the network's load, and rate-limiting them is no remedy */
    if (c->zones && c->src_trust == TRUST_CORE) return;
    if (det_window_roll(&s->flood_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (s->flood_flagged) det_window_continues(c, R_FLOOD_SOURCE, det_key_addr(c->eng, &s->addr, SALT_FLOOD));
        s->flood_total = s->flood_invite = s->flood_register = s->flood_options = 0;
        s->flood_peak_rate = 0;
        s->flood_flagged = false;
    }
    s->flood_total++;
    /* the rate is the highest of the window, also before the limit was
     * crossed: a burst at its start shows, though the flood crossed later.
     * It is never above the count (at least a second of window): no
     * division while the count is under the peak. */
    if (s->flood_total > s->flood_peak_rate) {
        double rate = window_rate(s->flood_total, s->flood_start, c->ts);
        if (rate > s->flood_peak_rate) s->flood_peak_rate = rate;
    }
    if (c->eng->lookback) det_counted(c, R_FLOOD_SOURCE, det_key_addr(c->eng, &s->addr, SALT_FLOOD));
    switch (c->m->method) {
    case SIP_M_INVITE: s->flood_invite++; break;
    case SIP_M_REGISTER: s->flood_register++; break;
    case SIP_M_OPTIONS: s->flood_options++; break;
    default: break;
    }
    const char *trigger = NULL;
    if (s->flood_total >= det_threshold(c, R_FLOOD_SOURCE)) trigger = "requests";
    else if (s->flood_invite >= scaled_param(c, rc->param[0], c->src_zone)) trigger = "INVITE";
    else if (s->flood_register >= scaled_param(c, rc->param[1], c->src_zone)) trigger = "REGISTER";
    else if (s->flood_options >= scaled_param(c, rc->param[2], c->src_zone)) trigger = "OPTIONS";
    if (!trigger) return;

    bool opened;
    uint32_t add = crossing_add(&s->flood_flagged, s->flood_total);
    ev_event *ev = det_hit_since(c, R_FLOOD_SOURCE, det_key_addr(c->eng, &s->addr, SALT_FLOOD), add, s->flood_start, &opened);
    if (!ev) return;
    if (opened) {
        det_source_observables(ev, s, det_requester_addr(c));
        ev_set_str(ev, "trigger", trigger);
    }
    ev_set_int(ev, "requests", s->flood_total);
    ev_set_int(ev, "invite", s->flood_invite);
    ev_set_int(ev, "register", s->flood_register);
    ev_set_int(ev, "options", s->flood_options);
    ev_set_real_max(ev, "rate", s->flood_peak_rate);
    ev_set_int(ev, "window_limit", rc->window_s);
}

/* ---- SIP-FLOOD-002: requests toward one destination ------------------------------- */

/* Windows aligned to multiples of window_s of capture time, so that the
 * workers of one run (each seeing part of a destination's senders) count in
 * the same windows. */
static uint64_t dest_window(uint64_t ts, uint32_t window_s) {
    return ts / ((uint64_t)(window_s ? window_s : 1) * FS_USEC);
}

/* How many requests a worker counts before adding them to the shared sum:
 * small against the threshold, so the sum is never far behind. */
static uint32_t dest_flush_every(const det_engine *eng, uint32_t limit) {
    uint32_t every = limit / (8u * eng->shards);
    return every < 1 ? 1 : every > 256 ? 256 : every;
}

/* Hand this worker's uncounted requests of the window to the shared sum;
 * returns every worker's total as now known. */
static uint32_t dest_flush(det_engine *eng, det_dest *d, uint32_t window_s) {
    if (!eng->shared || !d->flood_pending) return d->flood_sum;
    d->flood_sum = det_shared_add(eng->shared, &d->addr, dest_window(d->flood_start, window_s),
                                  d->flood_pending);
    d->flood_pending = 0;
    return d->flood_sum;
}

/* Requests toward d in the current window, by every worker as far as known. */
static uint32_t dest_window_total(det_engine *eng, det_dest *d, uint32_t window_s, uint32_t limit) {
    if (!eng->shared) return d->flood_total;
    d->flood_pending++;
    if (d->flood_pending < dest_flush_every(eng, limit) && d->flood_sum + d->flood_pending < limit)
        return d->flood_sum + d->flood_pending;
    return dest_flush(eng, d, window_s);
}

static void dest_report(det_ctx *c, det_dest *d, uint32_t total) {
    det_engine *eng = c->eng;
    bool opened;
    uint32_t add = crossing_add(&d->flagged, d->flood_total);
    ev_event *ev = det_hit_since(c, R_FLOOD_DEST, det_key_addr(eng, &d->addr, SALT_DEST), add,
                                 d->flood_first, &opened);
    if (!ev) return;
    if (opened) ip_observable(ev, &d->addr, "target");
    ev_set_int(ev, "requests", total);
    ev_set_int(ev, "distinct_sources", det_sketch_count(&d->flood_sources, total));
    /* the senders themselves, for the merge of the workers' shares (insp.c) */
    memcpy(ev->sources_sketch, d->flood_sources.bits, sizeof ev->sources_sketch);
    ev->has_sources_sketch = true;
    /* requests per second over the whole window: the same figure whichever
     * worker's clock reports it */
    uint32_t window_s = det_rule_cfg(c, R_FLOOD_DEST)->window_s;
    double rate = (double)total / (window_s ? window_s : 1);
    ev_set_real_max(ev, "rate", rate);
}

/* This engine's share of a window it left while every worker's sum was
 * still under the threshold (d->late[k], a worker ahead of the others):
 * reported once the others took the sum over, at the share's last request
 * and from no message (the message at hand, if any, is in a later window).
 * True when reported: the slot is free again. */
static bool late_share_report(det_engine *eng, det_dest *d, unsigned k) {
    const cfg_rule *rc = &eng->cfg->rules[R_FLOOD_DEST];
    det_ctx c = {.eng = eng, .ts = d->late[k].last_us, .requester_zone = -1};
    c.dst_zone = cfg_zone_of(eng->cfg, &d->addr);
    uint32_t limit = det_threshold_zone(&c, R_FLOOD_DEST, c.dst_zone);
    uint32_t total = det_shared_add(eng->shared, &d->addr, d->late[k].window, 0);
    if (total < limit) return false;
    bool in_message = eng->in_message;
    eng->in_message = false;
    bool opened;
    ev_event *ev = det_hit_since(&c, R_FLOOD_DEST, det_key_addr(eng, &d->addr, SALT_DEST), d->late[k].total,
                                 d->late[k].first_us, &opened);
    eng->in_message = in_message;
    if (ev) {
        if (opened) ip_observable(ev, &d->addr, "target");
        ev_set_int_max(ev, "requests", total);
        ev_set_int_max(ev, "distinct_sources", d->late[k].sources);
        ev->has_sources_sketch = false; /* only a count kept of this window's senders: merged by adding */
        ev_set_real_max(ev, "rate", (double)total / (rc->window_s ? rc->window_s : 1));
    }
    d->late[k].total = 0;
    return true;
}

/* Keep this engine's share of the window that just ended, under the
 * threshold as far as known (late_share_report). The shares kept before
 * are reported first if the sum took them over since (the other workers
 * are seconds behind, not windows), so the slots are free again; if all
 * are still taken, the smallest share makes room (the oldest of equal
 * ones): a trickle of requests in every later window must not push out a
 * flood's. */
static void late_share_keep(det_engine *eng, det_dest *d, uint32_t window_s) {
    for (unsigned i = 0; i < DET_DEST_LATE; i++)
        if (d->late[i].total) (void)late_share_report(eng, d, i);
    unsigned k = 0;
    for (unsigned i = 1; i < DET_DEST_LATE && d->late[k].total; i++)
        if (d->late[i].total < d->late[k].total ||
            (d->late[i].total == d->late[k].total && d->late[i].window < d->late[k].window))
            k = i;
    if (d->late[k].total > d->flood_total) return; /* every share kept is larger */
    d->late[k].window = dest_window(d->flood_start, window_s);
    d->late[k].first_us = d->flood_first;
    d->late[k].last_us = d->flood_last;
    d->late[k].total = d->flood_total;
    /* its senders, as dest_report would name them: the sketch is cleared
     * for the next window (flood_dest) */
    d->late[k].sources = det_sketch_count(&d->flood_sources, d->flood_total);
}

static void flood_dest(det_ctx *c) {
    const cfg_rule *rc = det_rule_cfg(c, R_FLOOD_DEST);
    if (!rc->enabled) return;
    /* Traffic from configured trusted/core peers is expected volume: only
     * senders outside them count toward a destination flood. */
    if (c->zones && c->src_trust != TRUST_UNTRUSTED) return;
    det_engine *eng = c->eng;
    bool created, evicted;
    det_dest *d = det_table_upsert(&eng->dests, c->dest_key, c->ts,
                                   &created, &evicted);
    if (evicted) eng->stats.dests_evicted++;
    if (created) d->addr = c->p->dst.addr;
    uint32_t limit = det_threshold_zone(c, R_FLOOD_DEST, c->dst_zone);
    uint64_t start = dest_window(c->ts, rc->window_s) * (uint64_t)rc->window_s * FS_USEC;
    /* A request stamped a little before the current window (HEP from proxies
     * whose clocks differ, merged captures) belongs to it, as in every other
     * window (det_window_roll): starting the window again would drop what it
     * counted, at every such step back. Only a later window, or one a whole
     * window back, starts anew. */
    uint64_t w_us = (uint64_t)(rc->window_s ? rc->window_s : 1) * FS_USEC;
    if (!created && start < d->flood_start && d->flood_start - c->ts < w_us) start = d->flood_start;
    if (created || d->flood_start != start) {
        /* The other workers' share may take the window that just ended over
         * the threshold: this worker then reports its own share of it. */
        uint32_t ended = created ? 0 : dest_flush(eng, d, rc->window_s);
        if (ended >= limit && !d->flagged) {
            /* at the ended window's last request, from no message: the
             * message at hand opens the next window, and its time would
             * stretch the incident's last_seen past every request counted */
            det_ctx late = {.eng = eng, .ts = d->flood_last, .requester_zone = -1, .dst_zone = c->dst_zone};
            dest_report(&late, d, ended);
        } else if (eng->shared && !created && !d->flagged && d->flood_total) {
            late_share_keep(eng, d, rc->window_s);
        }
        d->flood_start = start;
        d->flood_first = c->ts;
        d->flood_total = d->flood_pending = d->flood_sum = 0;
        det_sketch_clear(&d->flood_sources);
        if (d->flagged) det_window_continues(c, R_FLOOD_DEST, det_key_addr(eng, &d->addr, SALT_DEST));
        d->flagged = false;
    }
    d->flood_total++;
    if (c->ts > d->flood_last) d->flood_last = c->ts;
    if (c->ts < d->flood_first) d->flood_first = c->ts; /* stepped back into the window (above) */
    if (eng->lookback) det_counted(c, R_FLOOD_DEST, det_key_addr(eng, &d->addr, SALT_DEST));
    det_sketch_add(&d->flood_sources, det_key_addr(eng, &c->p->src.addr, SALT_PEER));
    uint32_t total = dest_window_total(eng, d, rc->window_s, limit);
    if (total >= limit) dest_report(c, d, total);
}

/* The end of a run with several workers. A worker ahead of the others may
 * have counted its whole share of a destination's last window without ever
 * seeing the sum cross the threshold (the others' shares came later), and no
 * later window re-checks it. So first every worker hands over what it has not
 * yet added (det_flush_shared, on every engine), then each reports its
 * share of every last window the sum took over the threshold
 * (det_behaviour_finish_shared, from det_finish): what one worker would
 * have counted. */
void det_flush_shared(det_engine *eng) {
    if (!eng->shared) return;
    uint32_t window_s = eng->cfg->rules[R_FLOOD_DEST].window_s;
    for (uint32_t i = 0; i < det_table_slots(&eng->dests); i++) {
        det_dest *d = det_table_at(&eng->dests, i);
        if (d) (void)dest_flush(eng, d, window_s);
    }
}

void det_behaviour_finish_shared(det_engine *eng) {
    const cfg_rule *rc = &eng->cfg->rules[R_FLOOD_DEST];
    if (!eng->shared || !rc->enabled) return;
    for (uint32_t i = 0; i < det_table_slots(&eng->dests); i++) {
        det_dest *d = det_table_at(&eng->dests, i);
        if (!d || d->flagged || !d->flood_total) continue;
        /* raised from no message, like the timers of det_calls_tick, at the
         * time of this share's last request: the engine's clock (now_us) may
         * be past it, on other traffic, and would stretch the incident's
         * last_seen beyond every request it counts */
        det_ctx c = {.eng = eng, .ts = d->flood_last, .requester_zone = -1};
        c.dst_zone = cfg_zone_of(eng->cfg, &d->addr);
        uint32_t limit = det_threshold_zone(&c, R_FLOOD_DEST, c.dst_zone);
        uint32_t total = det_shared_add(eng->shared, &d->addr, dest_window(d->flood_start, rc->window_s), 0);
        if (total >= limit) dest_report(&c, d, total);
    }
    /* earlier windows this engine left while the others' shares were still
     * to come (a worker ahead of another by a window or more): its share
     * of each the sum took over the threshold, at that window's time */
    for (uint32_t i = 0; i < det_table_slots(&eng->dests); i++) {
        det_dest *d = det_table_at(&eng->dests, i);
        if (!d) continue;
        for (unsigned k = 0; k < DET_DEST_LATE; k++)
            if (d->late[k].total) (void)late_share_report(eng, d, k);
    }
}

/* ---- SIP-SCAN-002: one source probing many addresses ----------------------------- */

/* Every request but ACK is a probe: any method draws an answer (a 481 to a
 * bogus To-tag, a 405 or 489 to NOTIFY or PUBLISH) that names a SIP server
 * and its Server header, and svmap -m / sippts take any method. Only ACK
 * gets no answer. A target's in-dialog requests go back to an address
 * that sent it the dialog's request (target_knows_source), and a source's
 * go to a target its dialog-forming request already counted, or to the
 * remote target an answer to it named (det_calls_in_answered_dialog). */
static bool is_probe(const sip_msg *m) { return m->method != SIP_M_ACK; }

/* The peers (eng->peers, det_peers) hold (requester address, target
 * address) pairs, "this address sent a request to that one", not the
 * targets alone: an IPv6 /64 is one source, and "was the scanner's address
 * a target" would test one fixed key for every probe. A pair differs from
 * probe to probe, so a false hit costs one probe. */
static uint64_t peer_pair(const det_engine *eng, const fs_addr *from, const fs_addr *to) {
    uint64_t a = det_key_addr(eng, from, SALT_PEER), b = det_key_addr(eng, to, SALT_PEER);
    return a ^ (b << 31 | b >> 33); /* not symmetric: (x, y) is not (y, x) */
}

static void remember_peer(det_ctx *c) {
    det_peers_add(c->eng->peers, peer_pair(c->eng, &c->p->src.addr, &c->p->dst.addr), c->ts);
}

/* Did the target itself talk to this source before (a phone registered with
 * the PBX that now qualifies it)? Then this request is not a probe. The
 * target may be in the source's own IPv6 /64 (a PBX and its phones on one
 * LAN), which is judged like any other target. Only a request to its own
 * address cannot tell: remember_peer has just remembered that pair. With
 * workers, the target's requests may have gone to another one: the pairs
 * are the workers' shared ones then. */
static bool target_knows_source(det_ctx *c) {
    if (fs_addr_eq(&c->p->src.addr, &c->p->dst.addr)) return false;
    return det_peers_has(c->eng->peers, peer_pair(c->eng, &c->p->dst.addr, &c->p->src.addr), c->ts);
}

static void scan_behaviour(det_ctx *c) {
    const sip_msg *m = c->m;
    det_source *s = c->requester;
    const cfg_rule *rc = det_rule_cfg(c, R_SCAN_BEHAVIOUR);
    if (!rc->enabled || !is_probe(m)) return;
    if (c->zones && c->src_trust == TRUST_CORE) return; /* our own elements */
    if (det_window_roll(&s->scan_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (s->scan_flagged) det_window_continues(c, R_SCAN_BEHAVIOUR, det_key_addr(c->eng, &s->addr, SALT_SCAN));
        s->scan_probes = 0;
        det_sketch_clear(&s->scan_targets);
        s->scan_flagged = false;
    }
    s->scan_probes++;
    if (c->eng->lookback) det_counted(c, R_SCAN_BEHAVIOUR, det_key_addr(c->eng, &s->addr, SALT_SCAN));
    if (target_knows_source(c) || det_calls_in_answered_dialog(c)) return;
    uint64_t t = det_key_addr(c->eng, &c->p->dst.addr, SALT_TARGET) ^
                 ((uint64_t)c->p->dst.port * 0x9e3779b97f4a7c15ULL);
    det_sketch_add(&s->scan_targets, t);
    uint32_t distinct = det_sketch_count(&s->scan_targets, s->scan_probes);
    if (distinct < det_threshold(c, R_SCAN_BEHAVIOUR)) return;

    bool opened;
    uint32_t add = crossing_add(&s->scan_flagged, s->scan_probes);
    ev_event *ev = det_hit_since(c, R_SCAN_BEHAVIOUR, det_key_addr(c->eng, &s->addr, SALT_SCAN), add, s->scan_start, &opened);
    if (!ev) return;
    if (opened) det_source_observables(ev, s, det_requester_addr(c));
    ev_set_int_max(ev, "distinct_targets", distinct);
    ev_set_int(ev, "probes", s->scan_probes);
    ev_set_str(ev, "method", sip_method_name((sip_method)m->method));
    if (opened) {
        /* a detail, not a `tool` observable: the behaviour says nothing of
         * the product (a PBX qualifying phones can trip it), and receivers
         * match tool observables against everyone running that product */
        char ua[96];
        ev_copy_text(ua, sizeof ua, m->user_agent);
        if (ua[0]) ev_set_str(ev, "user_agent", ua);
    }
}

/* ---- SIP-ENUM-001: 404 versus 401/407/200 across many users ---------------------- */

/* Methods whose out-of-dialog answer can tell a user exists: all but ACK
 * (no answer) and CANCEL (answers the INVITE's transaction, not a user).
 * svwar and sippts take REGISTER, INVITE, OPTIONS, and a registrar or proxy
 * that challenges known users and 404s the others does so for NOTIFY,
 * PUBLISH, INFO ... too. */
static bool enum_method(unsigned method) { return method != SIP_M_ACK && method != SIP_M_CANCEL; }

/* 1 = the user does not exist, 0 = it does, -1 = tells nothing. */
static int enum_outcome(uint16_t status) {
    if (status == 404 || status == 604) return 1;
    if ((status >= 200 && status < 300) || status == 401 || status == 407 || status == 403 ||
        status == 480 || status == 486 || status == 603)
        return 0;
    return -1;
}

static void enumeration(det_ctx *c, const det_txn *t) {
    const sip_msg *m = c->m;
    det_source *s = c->requester;
    const cfg_rule *rc = det_rule_cfg(c, R_ENUM_EXTENSIONS);
    if (!rc->enabled || !enum_method(m->cseq_method)) return;
    int outcome = enum_outcome(m->status);
    if (outcome < 0) return; /* not a telling answer: skip parsing To */
    /* the user the request probed (txn_request): with credentials too, whose
     * username is the prober's own account, not the user it asks about */
    uint64_t user_key = t->probed;
    if (!user_key) return;
    if (det_window_roll(&s->enum_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (s->enum_flagged) det_window_continues(c, R_ENUM_EXTENSIONS, det_key_addr(c->eng, &s->addr, SALT_ENUM));
        s->enum_probes = s->enum_not_found = s->enum_exists = 0;
        det_sketch_clear(&s->enum_users);
        s->enum_flagged = false;
    }
    s->enum_probes++;
    if (c->eng->lookback) det_counted(c, R_ENUM_EXTENSIONS, det_key_addr(c->eng, &s->addr, SALT_ENUM));
    if (outcome) s->enum_not_found++;
    else s->enum_exists++;
    det_sketch_add(&s->enum_users, user_key);
    uint32_t distinct = det_sketch_count(&s->enum_users, s->enum_probes);
    double ratio = (double)s->enum_not_found / (double)s->enum_probes;
    if (distinct < det_threshold_zone(c, R_ENUM_EXTENSIONS, -1) || s->enum_not_found == 0 ||
        ratio < rc->param[0])
        return;

    bool opened;
    uint32_t add = crossing_add(&s->enum_flagged, s->enum_probes);
    ev_event *ev = det_hit_since(c, R_ENUM_EXTENSIONS, det_key_addr(c->eng, &s->addr, SALT_ENUM), add, s->enum_start, &opened);
    if (!ev) return;
    if (opened) det_source_observables(ev, s, det_requester_addr(c));
    ev_set_int_max(ev, "distinct_users", distinct);
    ev_set_int(ev, "not_found", s->enum_not_found);
    ev_set_int(ev, "found", s->enum_exists);
    ev_set_real(ev, "not_found_ratio", ratio);
    ev_set_str(ev, "method", sip_method_name((sip_method)m->cseq_method));
}

/* ---- SIP-BRUTE-001/002: failed credentials ------------------------------------------ */

/* The username and nonce of a Digest credentials value; either stays
 * FS_STR_NULL if absent. */
static void digest_params(fs_str v, fs_str *username, fs_str *nonce) {
    *username = *nonce = FS_STR_NULL;
    fs_str name, val;
    while (sip_auth_param_next(&v, &name, &val)) {
        if (name.len == 8 && sip_lower_eq(name.p, "username", 8)) *username = val;
        else if (name.len == 5 && sip_lower_eq(name.p, "nonce", 5)) *nonce = val;
    }
}

/* (requester, user, nonce) of a request's credentials. */
static uint64_t nonce_use_key(const det_engine *eng, const fs_addr *requester, uint64_t user, fs_str nonce) {
    return det_key(eng, nonce.p, nonce.len, SALT_NONCE) ^ (user * 0x9e3779b97f4a7c15ULL) ^
           det_key_addr(eng, requester, SALT_NONCE);
}

/* Requester + Call-ID + CSeq number and method (a CANCEL shares the
 * INVITE's number, and its 200 must not answer the INVITE) + top Via branch:
 * the transaction id of RFC 3261 17.1.3. svcrack sends every guess with the
 * same Call-ID and CSeq and only a new branch; without the branch all but
 * the first guess would look like retransmissions. The Call-ID enters as its
 * key in the calls table (already a keyed hash of it). */
static uint64_t txn_key(const det_engine *eng, const sip_msg *m, const fs_addr *requester, unsigned method,
                        uint64_t call_key) {
    return (call_key * 0x9e3779b97f4a7c15ULL) ^ det_key(eng, m->via_branch.p, m->via_branch.len, SALT_BRANCH) ^
           ((uint64_t)m->cseq * 0xc2b2ae3d27d4eb4fULL) ^ ((uint64_t)method * 0x165667b19e3779f9ULL) ^
           det_key_addr(eng, requester, SALT_AUTH);
}

static fs_str credentials(const sip_msg *m) {
    fs_str cred = sip_header_value(m, SIP_H_AUTHORIZATION);
    return cred.len ? cred : sip_header_value(m, SIP_H_PROXY_AUTHORIZATION);
}

/* Requests remembered until their final response: out-of-dialog probe-like
 * ones, and any with credentials. Final responses look theirs up. */
uint64_t det_txn_key(const det_engine *eng, const sip_msg *m, const cap_payload *p, uint64_t call_key) {
    if (!m->call_id.len) return 0;
    if (!m->is_request)
        return m->status >= 200 ? txn_key(eng, m, &p->dst.addr, m->cseq_method, call_key) : 0;
    bool probe = enum_method(m->method) && m->to_tag.len == 0;
    if (!probe && !credentials(m).len) return 0;
    return txn_key(eng, m, &p->src.addr, m->method, call_key);
}

/* The user a request asks about: a registrar looks up the To (the
 * address-of-record, RFC 3261 10.2; the Request-URI names the domain), every
 * other server the Request-URI user (RFC 3261 16.5), whatever To says: an
 * enumerator keeping To fixed and walking the Request-URI walks users. */
static fs_str probed_user(const sip_msg *m) {
    fs_str user = m->method == SIP_M_REGISTER ? FS_STR_NULL : det_ruri_user(m);
    return user.len ? user : det_from_to_user(m, 1);
}

static void txn_request(det_ctx *c) {
    const sip_msg *m = c->m;
    if (!c->txn_key) return;
    fs_str cred = credentials(m);
    fs_str user = FS_STR_NULL, nonce = FS_STR_NULL;
    if (cred.len) digest_params(cred, &user, &nonce);
    bool created;
    /* a retransmission keeps the entry as it is; the same Call-ID and CSeq
     * after a transaction's life (64 x T1 = 32 s, a ringing INVITE's a few
     * minutes: DET_CLOCK_STEP_US) is a new request, its answer a new
     * failure (a capture replayed later raised SIP-BRUTE-001 once) */
    det_txn *t = det_table_upsert_recent(&c->eng->txns, c->txn_key, c->ts, DET_CLOCK_STEP_US, &created);
    if (!created) return;
    fs_str probed = probed_user(m);
    t->probed = probed.len ? det_key(c->eng, probed.p, probed.len, SALT_USER) : 0;
    t->user = user.len ? det_key(c->eng, user.p, user.len, SALT_USER) : t->probed;
    t->had_auth = cred.len > 0;
    /* Phones reuse the nonce of their last login for the next refresh (RFC
     * 7616 3.3, nonce-count); after a registrar restart or a failover the
     * registrar no longer knows it and challenges afresh, without stale=true
     * (kamailio, seen): a user who got a 2xx with this nonce from this
     * requester is not failing a password. Kept in the same table, under
     * its own key (auth_outcome). */
    if (nonce.len) {
        uint64_t k = nonce_use_key(c->eng, &c->p->src.addr, t->user, nonce);
        t->nonce_use = k;
        t->nonce_known = det_table_find(&c->eng->txns, k) != NULL;
    }
}

/* The stale=true challenge says the credentials were right but the nonce
 * expired (RFC 2617 3.2.1): not a failure. */
static bool challenge_is_stale(const sip_msg *m) {
    fs_str rest = sip_header_value(m, m->status == 407 ? SIP_H_PROXY_AUTHENTICATE : SIP_H_WWW_AUTHENTICATE);
    fs_str name, value;
    /* pair by pair: a realm or nonce quoting "stale" is not the parameter */
    while (sip_auth_param_next(&rest, &name, &value))
        if (fs_str_ieq_cstr(name, "stale")) return fs_str_ieq_cstr(value, "true");
    return false;
}

/* Per-user failure counts of one source: a few slots, the least failing
 * replaced (undercounts, never overcounts, under a spray of users). */
static uint32_t *user_failures(det_source *s, uint64_t user, bool create) {
    int min = 0;
    for (int i = 0; i < 4; i++) {
        if (s->brute_top[i].user == user && s->brute_top[i].fails) return &s->brute_top[i].fails;
        if (s->brute_top[i].fails < s->brute_top[min].fails) min = i;
    }
    if (!create) return NULL;
    s->brute_top[min].user = user;
    s->brute_top[min].fails = 0;
    return &s->brute_top[min].fails;
}

static void brute_one_user(det_ctx *c, det_source *s, uint64_t user) {
    const cfg_rule *rc = det_rule_cfg(c, R_BRUTE_ONE_USER);
    if (det_window_roll(&s->brute_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (s->brute_user_flagged)
            det_window_continues(c, R_BRUTE_ONE_USER, det_key_addr(c->eng, &s->addr, SALT_BRUTE));
        memset(s->brute_top, 0, sizeof s->brute_top);
        s->brute_user_flagged = false;
    }
    uint32_t *fails = user_failures(s, user, true);
    ++*fails;
    /* the look back: this user's failures (the incident is the source's) */
    if (c->eng->lookback) det_counted(c, R_BRUTE_ONE_USER, det_key_addr(c->eng, &s->addr, SALT_BRUTE) ^ user);
    uint32_t threshold = det_threshold_zone(c, R_BRUTE_ONE_USER, -1);
    if (*fails < threshold) return;
    bool opened;
    /* every user's crossing brings that user's failures of the window, not
     * only the first one's: a second account guessed in the same window
     * reached the threshold with all of its own */
    uint32_t add = s->brute_user_flagged && *fails == threshold ? *fails
                                                                : crossing_add(&s->brute_user_flagged, *fails);
    uint64_t key = det_key_addr(c->eng, &s->addr, SALT_BRUTE);
    ev_event *ev = det_hit_since(c, R_BRUTE_ONE_USER, key, add, s->brute_start, &opened);
    if (!ev) return;
    if (c->eng->lookback) det_lookback_as(c, R_BRUTE_ONE_USER, key, key ^ user);
    if (opened) det_source_observables(ev, s, det_requester_addr(c));
    s->brute_user = user;
    s->brute_user_fails = *fails;
    ev_set_int_max(ev, "failures", *fails);
    ev_set_int(ev, "status", c->m->status);
}

/* Key of "this user of source s failed in its current SIP-BRUTE-002
 * window", kept in the pending-transaction table (like the nonces of
 * txn_request) until a 2xx for the user forgives it (auth_outcome). The
 * window is named by its number, not its start: a message stamped a little
 * before the start (merged captures, HEP from several proxies) keeps the
 * window but moves its start, and the failures kept under the old one were
 * never forgiven. */
static uint64_t failed_user_key(const det_engine *eng, const det_source *s, uint64_t user) {
    return det_key_addr(eng, &s->addr, SALT_FAILED) ^ (user * 0x9e3779b97f4a7c15ULL) ^
           ((uint64_t)(s->brute_many_window + 1) * 0xc2b2ae3d27d4eb4fULL);
}

static void brute_many_users(det_ctx *c, det_source *s, uint64_t user) {
    const cfg_rule *rc = det_rule_cfg(c, R_BRUTE_MANY_USERS);
    if (det_window_roll(&s->brute_many_start, c->ts, rc->window_s, c->eng->now_us)) {
        if (s->brute_flagged) det_window_continues(c, R_BRUTE_MANY_USERS, det_key_addr(c->eng, &s->addr, SALT_BRUTE));
        s->brute_fails = s->brute_forgiven = 0;
        s->brute_many_window++;
        det_sketch_clear(&s->brute_users);
        s->brute_flagged = false;
    }
    s->brute_fails++;
    if (c->eng->lookback) det_counted(c, R_BRUTE_MANY_USERS, det_key_addr(c->eng, &s->addr, SALT_BRUTE));
    if (det_sketch_add(&s->brute_users, user)) { /* its first failure of the window */
        bool created;
        det_txn *f = det_table_upsert(&c->eng->txns, failed_user_key(c->eng, s, user), c->ts,
                                      &created, NULL);
        if (created) f->answered = true; /* answers no request */
    }
    /* users that got in after failing are not sprayed: phones refreshing
     * with a nonce from before the capture (or before the registrar
     * restarted) get a fresh 401 without stale=true, then a 2xx */
    uint32_t distinct = det_sketch_count(&s->brute_users, s->brute_fails);
    distinct = distinct > s->brute_forgiven ? distinct - s->brute_forgiven : 0;
    /* scaled like the flood rules: a zone's multiplier says how many users
     * share one address (an office NAT, a carrier), and they fail together
     * after a password or realm change */
    if (distinct < det_threshold_zone(c, R_BRUTE_MANY_USERS, c->requester_zone)) return;
    bool opened;
    uint32_t add = crossing_add(&s->brute_flagged, s->brute_fails);
    ev_event *ev = det_hit_since(c, R_BRUTE_MANY_USERS, det_key_addr(c->eng, &s->addr, SALT_BRUTE), add, s->brute_many_start, &opened);
    if (!ev) return;
    if (opened) det_source_observables(ev, s, det_requester_addr(c));
    ev_set_int_max(ev, "distinct_users", distinct);
    ev_set_int(ev, "failures", s->brute_fails);
}

/* Key of "server challenged requester in the call call_key" (a 401/407
 * answering a request of that Call-ID), kept in the pending-transaction
 * table like the nonces of txn_request until an INVITE's 2xx asks
 * (auth_outcome). */
static uint64_t challenged_key(const det_engine *eng, const fs_addr *requester, const fs_addr *server,
                               uint64_t call_key) {
    return det_key_addr(eng, requester, SALT_CHALLENGED) ^ (call_key * 0x9e3779b97f4a7c15ULL) ^
           (det_key_addr(eng, server, SALT_CHALLENGED + 1) * 0xc2b2ae3d27d4eb4fULL);
}

static void note_challenge(det_ctx *c) {
    bool created;
    det_txn *k = det_table_upsert(&c->eng->txns, challenged_key(c->eng, &c->p->dst.addr, &c->p->src.addr, c->call_key),
                                  c->ts, &created, NULL);
    if (created) k->answered = true; /* answers no request */
}

/* Does a 2xx to this method say the server checked the credentials? Only
 * for REGISTER and INVITE, the requests registrars and proxies authenticate.
 * Many answer OPTIONS (keepalives) without looking at Authorization at all,
 * and CANCEL cannot be challenged (RFC 3261 22.1): a guesser sending one with
 * the victim's username and nonce would otherwise clear the user's failures
 * and make the nonce known-good, so that every 401 to its guesses with that
 * nonce counted for nothing. */
static bool proves_credentials(unsigned method) { return method == SIP_M_REGISTER || method == SIP_M_INVITE; }

static void auth_outcome(det_ctx *c, const det_txn *a) {
    const sip_msg *m = c->m;
    det_source *s = c->requester;
    uint16_t st = m->status;
    if (st >= 200 && st < 300) {
        if (!proves_credentials(m->cseq_method)) return;
        /* An SBC answers calls to its public numbers without looking at
         * Proxy-Authorization: an INVITE's 2xx says the credentials were
         * checked only when the server that sent it challenged this call
         * before (the INVITE again after a 401/407). Else one answered call
         * carrying the victim's username and nonce would clear its failures
         * and make that nonce known-good for every later guess. */
        if (m->cseq_method == SIP_M_INVITE &&
            !det_table_find(&c->eng->txns, challenged_key(c->eng, &c->p->dst.addr, &c->p->src.addr, c->call_key)))
            return;
        uint32_t *fails = user_failures(s, a->user, false);
        if (fails) *fails = 0; /* the user got in: earlier typos are forgiven */
        det_txn *failed = det_table_find(&c->eng->txns, failed_user_key(c->eng, s, a->user));
        if (failed) { /* ... and no longer count as one more user failing (SIP-BRUTE-002) */
            det_table_remove(&c->eng->txns, failed);
            s->brute_forgiven++;
        }
        if (a->nonce_use) { /* remember the nonce it got in with (txn_request) */
            uint64_t k = a->nonce_use;
            bool created;
            det_txn *u = det_table_upsert(&c->eng->txns, k, c->ts, &created, NULL); /* may move a */
            if (created) u->answered = true;
        }
        return;
    }
    if (st != 401 && st != 403 && st != 407) return;
    if (st != 403 && challenge_is_stale(m)) return;
    if (st != 403 && a->nonce_known) return; /* a known-good nonce forgotten: a fresh challenge */
    brute_one_user(c, s, a->user);
    brute_many_users(c, s, a->user);
}

/* ---- entry point ----------------------------------------------------------------- */

/* An enumeration or brute-force incident open against this requester got
 * the victim's answer as its sample: give it the attacker's next probe. */
static void answered_incident_samples(det_ctx *c) {
    det_source *s = c->requester;
    if (!c->txn_key || !(s->enum_flagged || s->brute_user_flagged || s->brute_flagged)) return;
    if (s->enum_flagged) det_sample_request(c, R_ENUM_EXTENSIONS, det_key_addr(c->eng, &s->addr, SALT_ENUM));
    if (s->brute_user_flagged)
        det_sample_request(c, R_BRUTE_ONE_USER, det_key_addr(c->eng, &s->addr, SALT_BRUTE));
    if (s->brute_flagged)
        det_sample_request(c, R_BRUTE_MANY_USERS, det_key_addr(c->eng, &s->addr, SALT_BRUTE));
}

void det_behaviour_check(det_ctx *c) {
    if (!c->requester) return;
    const sip_msg *m = c->m;
    if (m->is_request) {
        remember_peer(c);
        if (c->requester_allowed) return;
        flood_source(c);
        flood_dest(c);
        scan_behaviour(c);
        txn_request(c);
        answered_incident_samples(c);
    } else {
        if (c->requester_allowed || !c->txn_key) return;
        /* our own elements (SBC, P-CSCF, proxy) relay every subscriber's
         * registrations and calls: the failures and 404s of thousands of
         * users are no attack by them. The attacker's own leg, when the
         * sensor sees it, is judged (as SIP-FLOOD-001 and SIP-SCAN-002 do). */
        if (c->zones && c->dst_trust == TRUST_CORE) return;
        det_txn *t = det_table_find(&c->eng->txns, c->txn_key);
        if (!t || t->answered) return; /* no request seen, or a retransmitted answer */
        t->answered = true;
        /* kept as the newest of its bucket while auth_outcome adds entries,
         * so that none of them takes its place and a retransmitted answer
         * counts again */
        det_table_touch(&c->eng->txns, t, c->ts);
        enumeration(c, t);
        /* only an INVITE's 2xx asks (auth_outcome): REGISTER challenges,
         * the bulk, leave the table's room to the nonces */
        bool challenge = (m->status == 401 || m->status == 407) && m->cseq_method == SIP_M_INVITE;
        if (t->had_auth) auth_outcome(c, t); /* t may be gone from here on */
        if (challenge) note_challenge(c);
    }
}
