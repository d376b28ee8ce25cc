/*
 * insp.c -- the inspection pipeline (see insp.h).
 *
 * Every input becomes a stream of "records" handed to a worker:
 *   FRAME  a link-layer frame from libpcap (file, stdin, live)
 *   HEP    a HEP v3 datagram, or a packet off a TCP connection, from --hep
 *   RAW    one SIP message read from a file (--raw)
 *   TICK   live mode with no traffic: advance time so incidents close
 *   INPUT  a new file begins: its time may start before the last one's end
 * A worker owns one cap_decoder and one det_engine and is the only thread
 * touching them. Worker 0 runs on the reader's thread: the reader calls its
 * record handler directly. With N workers the reader also fills batches for
 * workers 1..N-1 (bounded rings of fixed-size buffers, so a fast reader
 * cannot outrun memory), which they drain on their own threads; new clients
 * go to the least loaded worker, counting worker 0's reading as load
 * (pick_worker). N workers are N threads on N cores. (Tried and measured
 * worse: a reader thread of its own beside N worker threads -- 0.74-0.78 s
 * against 0.64-0.69 s on the bench capture -- and every worker reading the
 * file itself, 0.84 s: the busiest worker then also reads everything.)
 */
#include "insp.h"
#include "insp_aka.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* a batch holds at least one frame of libpcap's largest (262,144 bytes)
 * with its record header */
#define BATCH_BYTES (256u * 1024u + 4096u)
#define QUEUE_BATCHES 8u
/* capture time one batch spans at most: a worker's batch goes when it is
 * full or when it would hold more than this, so the workers are never far
 * apart in capture time. Filled by size alone, a sparse capture (100 calls
 * in 17 minutes are 60 KB) reached the threaded workers only at its end:
 * worker 0 had run through every window of a caller's counters they share
 * before the others counted their older calls into them, and FRAUD-VOL-001
 * was missed. */
#define BATCH_SPAN_US (1000 * 1000ULL)
/* ...and the reader waits for a worker whose oldest unread batch starts
 * more than this much capture time before what it hands over (a worker's
 * queue of 7 batches of a sparse capture could hold minutes) */
#define WORKER_LAG_US (2 * BATCH_SPAN_US)
#define PROGRESS_EVERY 65536u
#define LIVE_TICK_US (500 * 1000ULL)
#define SHARD_BUCKETS 65536u
/* reading a byte costs ~1/5 of decoding + detecting it (measured: 5 beat 4,
 * 6 and 8 on the bench captures with the profile-guided build) */
#define READER_SHARE 5u

/* REC_FRAME_IN: a packet the reader reassembled from fragments (cap_defrag):
 * the VLAN tags and tunnels its last fragment came through (an fs_encap, n 0
 * for none), then the packet. */
/* REC_STEP_BACK: files given out of order, the clock goes back to ts_us
 * (step_back_together). */
enum rec_kind { REC_FRAME = 0, REC_HEP, REC_RAW, REC_TICK, REC_INPUT, REC_FRAME_IN, REC_INDICATORS, REC_STEP_BACK };

/* A record inside a batch; the bytes follow, padded to 8. */
typedef struct rec_hdr {
    uint32_t len;
    uint8_t kind;
    int32_t dlt;
    uint64_t ts_us;
    uint64_t frame_no;
} rec_hdr;

typedef struct batch {
    uint32_t used;
    uint64_t first_ts; /* capture time of its first record */
    _Alignas(8) uint8_t data[BATCH_BYTES]; /* records start at multiples of 8 */
} batch;

/* A ring of batch pointers. */
typedef struct ring {
    batch *slot[QUEUE_BATCHES];
    unsigned head, count;
} ring;

/* A worker's figures: read off its decoder and engine by the thread that
 * owns them (figures_of). */
typedef struct worker_figures {
    cap_stats cap;
    det_stats det;
    det_memory mem;
    size_t decoder_memory, lookback_memory;
    char hep_error[CAP_ERROR_LEN];
} worker_figures;

typedef struct worker {
    struct insp *in;
    unsigned index;
    cap_decoder *dec;
    det_engine *eng;
    /* workers with their own thread (all but worker 0, which runs on the
     * reader's thread) */
    bool own_thread;       /* lock, cond and batches set up (worker_start) */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;   /* signalled when full or free rings change */
    ring full, free;
    batch *filling;        /* owned by the reader */
    uint64_t running_ts;   /* first_ts of the batch its thread runs (0: none) */
    bool quit;
    /* its figures as of its last tick, for insp_get_stats during a run
     * (the thread refreshes them; the reader copies them, under snap_lock) */
    pthread_mutex_t snap_lock;
    worker_figures snap;
} worker;

struct insp {
    insp_options opt;
    unsigned nworkers;
    bool threaded;
    bool finished;
    pthread_mutex_t event_lock;
    det_shared *shared;    /* what the workers agree on (det_shared.c), NULL with one */
    fs38_config worker_cfg; /* with N workers: the config with the state limits split N ways */
    worker w[INSP_MAX_WORKERS];
    uint64_t frames_read, bytes_read;
    uint64_t latest_ts;    /* the latest capture time the reader handed out (files) */
    bool input_begins;     /* the next frame is a file's first (step_back_together) */
    uint64_t kernel_dropped, if_dropped; /* live capture / HEP socket losses */
    uint64_t run_kernel_dropped, run_if_dropped; /* the live input's so far (at its last tick) */
    cap_hep_listen_stats hep;  /* --hep: its connections */
    cap_defrag *defrag;    /* with N workers: IP fragments reassembled before sharding */
    uint8_t *frame_in;     /* with N workers: a REC_FRAME_IN record being put together */
    char **inputs;         /* the names of the files read so far (events' samples point at them) */
    unsigned ninputs;
    /* sharding (pick_worker): bucket of a client key -> worker + 1 (0: not
     * seen yet), and the bytes handed to each worker so far */
    uint8_t bucket_owner[SHARD_BUCKETS];
    uint64_t worker_bytes[INSP_MAX_WORKERS];
    ev_event *held;        /* incidents held for merging (holds_incidents), up to HELD_MAX */
    uint64_t *held_key;    /* their incident_key, scanned first */
    unsigned nheld, held_cap;
    struct live_incident *shares; /* live mode: incidents open on several workers (fold_live) */
    unsigned nshares, shares_cap, shares_max;
    char (*done_ids)[40]; /* the latest LIVE_DONE_IDS event_ids whose final went out (live mode;
                           * files: those let_go_oldest reported) */
    unsigned ndone, done_next;
    /* ESP keys learned from IMS AKA registrations (cfg ims_aka_keys): the
     * decoders look packets up in the keyring; in capture order, one worker
     * learns from every message, several learn from what they decrypted
     * and the reader from the rest, before it hands the frame on */
    cap_esp_keyring *keyring;
    insp_aka *aka;
    sip_msg *peek_msg;     /* the reader's (several workers) */
    cap_hep_inflater *hep_z; /* the reader's (several workers): compressed HEP payloads opened to shard them */
    atomic_uint indicators_pending; /* workers yet to switch to the set insp_set_indicators gave */
    const det_indicators *indicators_next; /* that set, handed to the workers by feed_tick */
    bool indicators_queued;                /* ... at the end of the next one */
};

#define HELD_MAX 4096

/* With several workers reading a file, an incident whose traffic spread over
 * workers (a caller relayed by two trunks, a host answering clients of both)
 * is reported by each of them: those reports are held to the end and merged
 * into one, so N workers report what one would. Live mode reports as it goes:
 * fold_live keeps one open report and one final report per incident. */
static bool holds_incidents(const insp *in, bool final) {
    return in->threaded && final && !in->opt.live;
}

/* Spans [a_first, a_last] and [b_first, b_last] of one rule's reports touch:
 * they are within the rule's quiet window, after which one worker alone would
 * have closed the incident too. */
static bool spans_touch(const insp *in, det_rule_id rule, uint64_t a_first, uint64_t a_last,
                        uint64_t b_first, uint64_t b_last) {
    uint32_t w = in->opt.cfg->rules[rule].window_s;
    uint64_t quiet = (uint64_t)(w ? w : 60) * FS_USEC;
    return b_first <= a_last + quiet && a_first <= b_last + quiet;
}

/* Two workers' reports of one incident: same rule, same detector key (the
 * workers share a seed), and times that touch. */
static bool same_incident(const insp *in, const ev_event *a, const ev_event *b) {
    if (a->rule != b->rule || a->incident_key != b->incident_key) return false;
    return spans_touch(in, a->rule, a->first_us, a->last_us, b->first_us, b->last_us);
}

static void merge_detail(ev_event *a, const ev_event *b, const char *name, bool add) {
    const ev_detail *x = ev_get_detail(a, name), *y = ev_get_detail(b, name);
    if (!x || !y || x->kind != y->kind) return;
    if (x->kind == EV_D_INT && (add || y->i > x->i)) ev_set_int(a, name, add ? x->i + y->i : y->i);
    else if (x->kind == EV_D_REAL && (add || y->r > x->r)) ev_set_real(a, name, add ? x->r + y->r : y->r);
}

/* Details a detector takes from an incident's first message (with its
 * sample) or from each message in turn (its last one): in a merged report
 * they come from the share that saw that message, as one engine has them,
 * not from the larger share. NULL-ended lists; {NULL} for none. */
static const char *const *first_message_details(det_rule_id r) {
    static const char *const zone_trust[] = {"zone", "trust", NULL}, *const toward[] = {"toward_zone", NULL},
                             *const aka[] = {"toward_zone", "disclosed", "header", NULL},
                             *const clear[] = {"zone", "direction", "transport", "other_end", NULL},
                             *const tls[] = {"client", NULL}, *const fp[] = {"fingerprint", NULL}, *const none[] = {NULL};
    switch (r) {
    case R_TRUST_HEADER: case R_CLI_HOME_IDENTITY: return zone_trust;
    case R_TOPO_INTERNAL_ADDR: return toward;
    case R_INFO_AKA_KEYS: return aka;
    case R_INFO_CLEARTEXT: return clear;
    case R_INFO_WEAK_TLS: return tls;
    case R_SCAN_FINGERPRINT: return fp;
    default: return none;
    }
}

static const char *const *last_message_details(det_rule_id r) {
    static const char *const version[] = {"header", "disclosed", NULL}, *const warning[] = {"warning", NULL},
                             *const identity[] = {"identity", NULL}, *const mf[] = {"max_forwards", NULL},
                             *const method[] = {"method", NULL}, *const none[] = {NULL};
    switch (r) {
    case R_INFO_VERSION: return version;
    case R_INFO_WARNING: return warning;
    case R_CLI_INVALID: return identity;
    case R_PROTO_MAX_FORWARDS: return mf;
    case R_PROTO_METHOD: return method;
    default: return none;
    }
}

/* a's details of names as x has them (those x has) */
static void take_details(ev_event *a, const ev_event *x, const char *const *names) {
    for (; *names; names++) {
        const ev_detail *d = ev_get_detail(x, *names);
        if (!d) continue;
        if (d->kind == EV_D_STR) ev_set_str(a, *names, d->s);
        else if (d->kind == EV_D_INT) ev_set_int(a, *names, d->i);
        else ev_set_real(a, *names, d->r);
    }
}

/* The observables of a report whose sample now comes from the earlier share
 * b: b's first, then a's others (a's source is b's, and b's address follows
 * the sample), as one engine adds them message by message. A detector names
 * what each message shows (the home numbers SIP-CLI-001 marks as victims):
 * the sample's must be among them, or `fs38 share` takes the victim's number
 * in the sample's from or pai for a caller's and leaves it in clear. */
static void observables_from_earlier(ev_event *a, const ev_event *b) {
    ev_observable later[EV_MAX_OBSERVABLES];
    unsigned n = a->nobs;
    memcpy(later, a->obs, n * sizeof *later);
    a->nobs = 0;
    for (unsigned i = 0; i < b->nobs; i++) ev_add_observable(a, b->obs[i].kind, b->obs[i].value, b->obs[i].role);
    for (unsigned i = 0; i < n; i++)
        if (strcmp(later[i].role, "source") != 0) ev_add_observable(a, later[i].kind, later[i].value, later[i].role);
}

/* a += b, the details kept being those of a. SIP-FLOOD-002's workers count
 * the same windows (det_shared.c): its senders add up, its requests and
 * rate are already sums; SIP-SCAN-002's probes and targets add up. */
static void add_share(ev_event *a, const ev_event *b) {
    a->count += b->count;
    if (b->first_us < a->first_us) {
        a->first_us = b->first_us;
        a->sample = b->sample;
        observables_from_earlier(a, b);
        ev_source_ip_follows_sample(a);
        take_details(a, b, first_message_details(a->rule));
    }
    if (b->last_us > a->last_us) {
        a->last_us = b->last_us;
        take_details(a, b, last_message_details(a->rule));
    }
    if (b->valid_until_us > a->valid_until_us) a->valid_until_us = b->valid_until_us;
    a->window_s = (double)(a->last_us - a->first_us) / 1e6;
    if (a->rule == R_SCAN_BEHAVIOUR) {
        /* a scanner's probes reach two workers only when sharded by target
         * (cap_shard.c: one target, one worker), so their targets are
         * disjoint and both counts add up to what one engine counts */
        merge_detail(a, b, "probes", true);
        merge_detail(a, b, "distinct_targets", true);
    } else if (a->rule == R_SCAN_FINGERPRINT) {
        /* the same scanner's targets, as each share's worker counted them
         * toward SIP-SCAN-002: disjoint too */
        merge_detail(a, b, "distinct_targets", true);
    }
    if (a->rule == R_FLOOD_DEST) {
        /* a sender sharded by its targets for some requests (from a SIP port
         * to one not in capture.sip_ports) is in both shares: the union of
         * their senders, where both kept them */
        const ev_detail *x = ev_get_detail(a, "distinct_sources"), *y = ev_get_detail(b, "distinct_sources");
        bool both = a->has_sources_sketch && b->has_sources_sketch && x && y && x->kind == EV_D_INT &&
                    y->kind == EV_D_INT;
        if (both) {
            /* never more than the requests, as one engine counts them (the
             * shares' requests are already every worker's) */
            const ev_detail *ra = ev_get_detail(a, "requests"), *rb = ev_get_detail(b, "requests");
            int64_t cap = (int64_t)x->i + y->i;
            if (ra && ra->kind == EV_D_INT) cap = ra->i;
            if (rb && rb->kind == EV_D_INT && rb->i > cap) cap = rb->i;
            ev_set_int(a, "distinct_sources", det_sources_merge(a->sources_sketch, b->sources_sketch,
                                                                cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap));
        } else {
            merge_detail(a, b, "distinct_sources", true);
            a->has_sources_sketch = false;
        }
        merge_detail(a, b, "requests", false);
        merge_detail(a, b, "rate", false);
        /* each share's estimate is capped by the total; their sum must be too */
        const ev_detail *d = ev_get_detail(a, "distinct_sources"), *r = ev_get_detail(a, "requests");
        if (d && r && d->kind == EV_D_INT && r->kind == EV_D_INT && d->i > r->i)
            ev_set_int(a, "distinct_sources", r->i);
    }
}

/* The count an open report of ev carries: its own share, except for
 * SIP-FLOOD-002, whose workers cross the threshold together: its count is
 * then the requests of every worker (its "requests" detail). */
static uint64_t open_count(const ev_event *ev) {
    const ev_detail *r = ev->rule == R_FLOOD_DEST ? ev_get_detail(ev, "requests") : NULL;
    return r && r->kind == EV_D_INT && (uint64_t)r->i > ev->count ? (uint64_t)r->i : ev->count;
}

/* One incident from two workers' reports: the details and observables of the
 * larger share (of the one naming more, when equal), the first report's
 * event_id. */
static void merge_into(ev_event *a, const ev_event *b);

/* The set details (ev_list_add) both shares name: their union, as one
 * engine that saw every message would have it (SIP-MAL-001's anomalies of
 * messages the sharding sent to two workers). */
static void merge_lists(ev_event *a, const ev_event *b) {
    static const char *const lists[] = {"anomalies", "headers", "identity_header", "home_match", "reasons", "where",
                                        "leaked", "leaks"};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) ev_list_merge(a, b, lists[i]);
}

/* FRAUD-IRSF-001 and FRAUD-VOL-001 count a caller's calls in one window all
 * workers share (det_calls.c): each share's details are that window's
 * counts as its worker last read them, which only grow, so the largest is
 * what one engine reports; the source is the window's first call's, as
 * the share that saw the window start earliest has it (a worker behind in
 * the capture can move it back); the other observables (each high-risk
 * range called) add up. */
static bool caller_window_rule(det_rule_id r) { return r == R_IRSF_VELOCITY || r == R_CALL_VOLUME; }

static void merge_caller_window(ev_event *a, const ev_event *b) {
    ev_event other = *b;
    if (b->first_us < a->first_us) { /* b's source and sample, a's event_id */
        other = *a;
        *a = *b;
        memcpy(a->event_id, other.event_id, sizeof a->event_id);
    }
    add_share(a, &other);
    merge_detail(a, &other, "calls", false);
    merge_detail(a, &other, "distinct_numbers", false);
    merge_detail(a, &other, "concurrent", false);
    for (unsigned i = 0; i < other.nobs; i++)
        if (strcmp(other.obs[i].role, "source") != 0)
            ev_add_observable(a, other.obs[i].kind, other.obs[i].value, other.obs[i].role);
}

static int64_t detail_int(const ev_event *ev, const char *name) {
    const ev_detail *d = ev_get_detail(ev, name);
    return d && d->kind == EV_D_INT ? d->i : -1;
}

/* a's detail name as x has it */
static void take_detail(ev_event *a, const ev_event *x, const char *name) {
    const ev_detail *d = ev_get_detail(x, name);
    if (d && d->kind == EV_D_INT) ev_set_int(a, name, d->i);
    else if (d && d->kind == EV_D_REAL) ev_set_real(a, name, d->r);
}

/* The observables of x but its source (the share's own) added to a's. */
static void add_observables(ev_event *a, const ev_event *x) {
    for (unsigned i = 0; i < x->nobs; i++)
        if (strcmp(x->obs[i].role, "source") != 0) ev_add_observable(a, x->obs[i].kind, x->obs[i].value, x->obs[i].role);
}

/* FRAUD-WANGIRI-001 per caller counts in one window the workers share too
 * (det_calls.c): each share's details are that window's counts as its
 * worker last read them, and the share that read the most short rings (of
 * the most calls) read it last, as one engine's last hit does; its counts
 * go together (answered_ratio, ring_time_avg_s), so all of them are taken.
 * FRAUD-IRSF-002 counts long calls: long_calls is the merged count, the
 * longest call is either share's. */
static void merge_call_details(ev_event *a, const ev_event *x, const ev_event *y) {
    if (a->rule == R_WANGIRI) {
        int64_t xs = detail_int(x, "short_rings"), ys = detail_int(y, "short_rings");
        const ev_event *last = ys > xs || (ys == xs && detail_int(y, "calls") > detail_int(x, "calls")) ? y : x;
        static const char *const window[] = {"short_rings", "calls", "answered", "answered_ratio", "distinct_callees",
                                             "ring_time_avg_s"};
        for (size_t i = 0; i < sizeof window / sizeof *window; i++) take_detail(a, last, window[i]);
    } else if (a->rule == R_IRSF_LONG_CALL) {
        merge_detail(a, x, "duration_s", false);
        merge_detail(a, y, "duration_s", false);
        if (ev_get_detail(a, "long_calls")) ev_set_int(a, "long_calls", (int64_t)a->count);
        add_observables(a, x);
        add_observables(a, y);
    }
}

static void merge_into(ev_event *a, const ev_event *b) {
    if (caller_window_rule(a->rule)) {
        merge_caller_window(a, b);
        return;
    }
    ev_event first = *a;
    if (b->count < a->count || (b->count == a->count && b->nobs <= a->nobs)) {
        add_share(a, b);
        merge_lists(a, b);
    } else {
        *a = *b;
        memcpy(a->event_id, first.event_id, sizeof a->event_id);
        add_share(a, &first);
        merge_lists(a, &first);
    }
    merge_call_details(a, &first, b);
}

static void live_remember_done(insp *in, const char *event_id);
static bool live_was_done(const insp *in, const char *event_id);

/* Held incidents full (HELD_MAX): the one whose activity ended first, the
 * least likely to get another share, is reported now to make room; its
 * event_id is remembered, so that a share of it coming after is reported
 * under an id of its own (hold_incident), not as a second version 1 of it. */
static void let_go_oldest(insp *in) {
    unsigned old = 0;
    for (unsigned i = 1; i < in->nheld; i++)
        if (in->held[i].last_us < in->held[old].last_us) old = i;
    in->opt.on_event(in->opt.user, &in->held[old], true);
    live_remember_done(in, in->held[old].event_id);
    in->held[old] = in->held[--in->nheld];
    in->held_key[old] = in->held_key[in->nheld];
}

/* held[i] grew: other held reports of its incident it now touches (two
 * shares of one worker further apart than the quiet window, bridged by
 * another worker's share between them: one incident, as one engine that saw
 * all three closes none of them) are merged into it. */
static void join_bridged(insp *in, unsigned i) {
    for (unsigned j = 0; j < in->nheld;) {
        if (j == i || in->held_key[j] != in->held_key[i] || !same_incident(in, &in->held[i], &in->held[j])) {
            j++;
            continue;
        }
        ev_event other = in->held[j];
        unsigned last = --in->nheld; /* j leaves; the last takes its place */
        in->held[j] = in->held[last];
        in->held_key[j] = in->held_key[last];
        if (i == last) i = j;
        merge_into(&in->held[i], &other);
        j = 0; /* it grew again */
    }
}

/* Called with event_lock held: ev is held, merged into a held report of
 * its incident, or reported. */
static void hold_incident(insp *in, const ev_event *ev) {
    for (unsigned i = 0; i < in->nheld; i++)
        if (in->held_key[i] == ev->incident_key && same_incident(in, &in->held[i], ev)) {
            merge_into(&in->held[i], ev);
            join_bridged(in, i);
            return;
        }
    ev_event renamed;
    if (in->ndone && live_was_done(in, ev->event_id)) { /* a share of an incident let go */
        renamed = *ev;
        ev_uuid7(fs_time_now_us(), renamed.event_id);
        ev = &renamed;
    }
    if (in->nheld == in->held_cap && in->held_cap >= HELD_MAX) let_go_oldest(in);
    if (in->nheld == in->held_cap) {
        unsigned ncap = in->held_cap ? in->held_cap * 2 : 16;
        ev_event *nh = realloc(in->held, ncap * sizeof *nh);
        if (nh) in->held = nh;
        uint64_t *nk = nh ? realloc(in->held_key, ncap * sizeof *nk) : NULL;
        if (!nk) { /* no memory: reported as it is (under its new id, if given one) */
            in->opt.on_event(in->opt.user, ev, true);
            return;
        }
        in->held_key = nk;
        in->held_cap = ncap;
    }
    in->held_key[in->nheld] = ev->incident_key;
    in->held[in->nheld++] = *ev;
}

static int by_first_seen(const void *a, const void *b) {
    const ev_event *x = a, *y = b;
    return x->first_us < y->first_us ? -1 : x->first_us > y->first_us;
}

/* Live mode, several workers: one incident open on several of them. The
 * first worker's open report is the incident's; later opens are folded into
 * it, and its final report waits for every share's close (an engine reports
 * every close in live mode, det_engine.c) and carries their sum under the
 * first event_id, marked unchanged when the count is still the open's -- one
 * open line and at most one final line, as one worker would write. As many
 * as the workers' incident tables hold (state.max_incidents), at least
 * LIVE_SHARES_MIN: every incident open is one, and beyond the bound reports
 * would pass unmerged -- each worker's open of one incident a version 1
 * under its event_id (a distributed scan with more than 4096 incidents open
 * wrote them so). */
#define LIVE_SHARES_MIN 4096
/* A worker whose share of an incident opens just after the other shares
 * closed and the final went out gets the incident's event_id all the same
 * (det_shared.c keeps it for the quiet window): reported as it is, that
 * would be the same (issuer, event_id, version 1) twice, with other
 * content. The ids of the latest finals are kept to recognise it. */
#define LIVE_DONE_IDS 4096

typedef struct live_incident {
    det_rule_id rule;
    uint64_t key, first_us, last_us; /* detector key; span of the shares so far */
    char event_id[40];               /* of the reported open */
    uint32_t version;                /* the last reported: 1 (the open), more after refreshes */
    uint64_t open_count;             /* the count the open report (or the last refresh) carried */
    uint64_t open_last_us;           /* the last_seen the open report (or the last refresh) carried */
    uint32_t open_mask;              /* workers whose share is open */
    ev_event *final;                 /* the shares' final reports so far, merged (NULL: none) */
} live_incident;

static live_incident *live_find(insp *in, const ev_event *ev) {
    for (unsigned i = 0; i < in->nshares; i++) {
        live_incident *l = &in->shares[i];
        if (l->key == ev->incident_key && l->rule == ev->rule &&
            spans_touch(in, l->rule, l->first_us, l->last_us, ev->first_us, ev->last_us))
            return l;
    }
    return NULL;
}

static live_incident *live_add(insp *in, const ev_event *ev) {
    if (in->nshares == in->shares_cap) {
        if (in->shares_cap >= in->shares_max) return NULL;
        unsigned ncap = in->shares_cap ? in->shares_cap * 2 : 16;
        if (ncap > in->shares_max) ncap = in->shares_max;
        live_incident *n = realloc(in->shares, ncap * sizeof *n);
        if (!n) return NULL;
        in->shares = n;
        in->shares_cap = ncap;
    }
    live_incident *l = &in->shares[in->nshares++];
    memset(l, 0, sizeof *l);
    l->rule = ev->rule;
    l->key = ev->incident_key;
    l->first_us = ev->first_us;
    l->last_us = ev->last_us;
    memcpy(l->event_id, ev->event_id, sizeof l->event_id);
    l->version = 1;
    l->open_count = open_count(ev);
    l->open_last_us = ev->last_us;
    return l;
}

static void live_remember_done(insp *in, const char *event_id) {
    if (!in->done_ids && !(in->done_ids = malloc(LIVE_DONE_IDS * sizeof *in->done_ids))) return;
    memcpy(in->done_ids[in->done_next], event_id, sizeof *in->done_ids);
    in->done_next = (in->done_next + 1) % LIVE_DONE_IDS;
    if (in->ndone < LIVE_DONE_IDS) in->ndone++;
}

static bool live_was_done(const insp *in, const char *event_id) {
    for (unsigned i = 0; i < in->ndone; i++)
        if (!strcmp(in->done_ids[i], event_id)) return true;
    return false;
}

static void live_emit_final(insp *in, live_incident *l) {
    ev_event *f = l->final;
    if (f->count < l->open_count) f->count = l->open_count; /* never below the open's */
    /* a later last_seen (the attacker's last probe, det_sample_request) is a change too */
    f->unchanged = f->count == l->open_count && f->last_us <= l->open_last_us;
    if (!f->unchanged) { /* a new version, made now: a share that closed unchanged carries its open's time */
        f->version = l->version + 1; /* after the open (1) and any refreshes */
        f->created_us = fs_time_now_us();
    }
    in->opt.on_event(in->opt.user, f, true);
    live_remember_done(in, l->event_id);
    free(f);
    *l = in->shares[--in->nshares];
}

/* Called with event_lock held for worker w's report. true: handled here
 * (reported, or folded into an incident another worker reported). */
static bool fold_live(insp *in, unsigned w, const ev_event *ev, bool final) {
    live_incident *l = live_find(in, ev);
    uint32_t bit = 1u << w;
    if (!final) {
        if (l && ev->version > 1) { /* a share's refresh of a long incident: the incident's next version */
            ev_event refresh = *ev;
            memcpy(refresh.event_id, l->event_id, sizeof refresh.event_id);
            uint64_t n = open_count(ev);
            if (n > l->open_count) l->open_count = n;
            refresh.count = l->open_count;
            refresh.version = ++l->version;
            if (l->first_us < refresh.first_us) refresh.first_us = l->first_us;
            /* never before what an earlier version said: another share may
             * have reported later activity (its open or refresh), and a
             * receiver keeps this version, with its valid_until, over that */
            if (l->last_us > refresh.last_us) {
                refresh.last_us = l->last_us;
                uint64_t until = refresh.last_us + (uint64_t)refresh.ttl_s * FS_USEC;
                if (until > refresh.valid_until_us) refresh.valid_until_us = until;
            }
            refresh.window_s = (double)(refresh.last_us - refresh.first_us) / 1e6;
            if (refresh.last_us > l->open_last_us) l->open_last_us = refresh.last_us;
            in->opt.on_event(in->opt.user, &refresh, false);
            l->open_mask |= bit;
        } else if (l) { /* another worker reported this incident open */
            l->open_mask |= bit;
        } else {
            if (!(l = live_add(in, ev))) return false;
            l->open_mask = bit;
            l->version = ev->version; /* 1, or a refresh whose open went out unmerged */
            /* its id's final went out: a new incident, with an id of its own */
            if (live_was_done(in, l->event_id)) ev_uuid7(fs_time_now_us(), l->event_id);
            ev_event open = *ev;
            memcpy(open.event_id, l->event_id, sizeof open.event_id);
            open.count = l->open_count;
            in->opt.on_event(in->opt.user, &open, false);
        }
    } else {
        if (!l && live_was_done(in, ev->event_id)) { /* a share closed unreported after its id's final */
            ev_event alone = *ev;
            ev_uuid7(fs_time_now_us(), alone.event_id);
            in->opt.on_event(in->opt.user, &alone, true);
            live_remember_done(in, alone.event_id);
            return true;
        }
        if (!l) { /* never reported open by another worker: as it is */
            /* its id is done too: the key's next incident on this worker
             * (evicted from a full table before a tick reported it open,
             * then hit again within the quiet window) gets it again from
             * det_shared, and must not repeat its version 1 */
            live_remember_done(in, ev->event_id);
            return false;
        }
        ev_event share = *ev;
        memcpy(share.event_id, l->event_id, sizeof share.event_id);
        if (l->final) {
            merge_into(l->final, &share);
        } else {
            if (!(l->final = malloc(sizeof *l->final))) return false; /* no memory: as it is */
            *l->final = share;
        }
        l->open_mask &= ~bit;
    }
    if (ev->first_us < l->first_us) l->first_us = ev->first_us;
    if (ev->last_us > l->last_us) l->last_us = ev->last_us;
    if (l->final && !l->open_mask) live_emit_final(in, l);
    return true;
}

/* ---- records, run on the worker's thread ------------------------------------- */

static void on_payload(void *user, const cap_payload *p) {
    worker *w = user;
    det_process(w->eng, p);
}

/* A TLS connection's ServerHello on a SIP port: its version and suite. */
static void on_tls_hello(void *user, const cap_tls_hello *h) {
    worker *w = user;
    det_tls_hello(w->eng, h);
}

/* A parsed message, for the IMS AKA learner. With several workers the
 * reader learned from it already unless it came out of ESP. */
static void on_tap(void *user, const cap_payload *p, const sip_msg *m) {
    worker *w = user;
    if (w->in->threaded) {
        bool in_esp = false;
        for (unsigned i = 0; p->encap && i < p->encap->n; i++) in_esp |= p->encap->layer[i].kind == FS_L_ESP;
        if (!in_esp) return;
    }
    insp_aka_message(w->in->aka, p, m);
}

/* The reader's look for IMS AKA (several workers): a REGISTER or 401 in
 * the clear, learned from before its frame is handed on, so that every
 * worker finds the SAs of what it reads after. */
static void reader_learn(insp *in, const uint8_t *payload, uint32_t n, const fs_addr *src, const fs_addr *dst,
                         uint64_t ts) {
    if (!in->aka || !insp_aka_candidate(payload, n)) return;
    if (sip_parse(in->peek_msg, (const char *)payload, n, &in->opt.cfg->capture.sip, SIP_PARSE_DATAGRAM) !=
        SIP_PARSE_OK)
        return;
    cap_payload p = {.data = payload, .len = n, .ts_us = ts, .src = {.addr = *src}, .dst = {.addr = *dst}};
    insp_aka_message(in->aka, &p, in->peek_msg);
}

/* The same for the SIP packets of a HEP datagram (or of the HEP packets a
 * TCP segment starts with), read as the decoder reads them: HEP v1-v3, the
 * auth key capture.hep_auth_key asks for, compressed payloads, the inner
 * addresses, the HEP timestamp when it is near the capture's (received_us).
 * The workers do not learn from HEP (on_tap): its packets, all from one
 * sender, go to one worker, and the ESP they key to others. */
/* Whether a HEP packet carries the auth key capture.hep_auth_key asks for
 * (any, when none is asked for): the decoder refuses it otherwise. */
static bool hep_key_ok(const insp *in, const cap_hep *h) {
    const char *key = in->opt.cfg->capture.hep_auth_key;
    size_t klen = strlen(key);
    return !klen || (h->auth_key && h->auth_key_len == klen && sodium_memcmp(h->auth_key, key, klen) == 0);
}

/* A HEP timestamp near the time it came (received_us): else the time it came. */
static uint64_t hep_near_time(const cap_hep *h, uint64_t received_us) {
    bool near = h->ts_us && (h->ts_us > received_us ? h->ts_us - received_us <= CAP_HEP_MAX_AHEAD_US
                                                    : received_us - h->ts_us <= CAP_HEP_MAX_SKEW_US);
    return near ? h->ts_us : received_us;
}

static void reader_learn_hep(insp *in, const uint8_t *buf, size_t len, bool stream, uint64_t received_us) {
    size_t off = 0;
    do {
        cap_hep h;
        fs_err e = {0};
        if ((off == 0 && !stream ? cap_hep_parse_datagram(buf, len, &h, &e)
                                 : cap_hep_parse(buf + off, len - off, &h, &e)) != FS_OK) {
            /* past a malformed v3 packet whose length fits, as the decoder reads on */
            size_t total = len - off >= 6 && memcmp(buf + off, "HEP3", 4) == 0 ? (size_t)(buf[off + 4] << 8 | buf[off + 5]) : 0;
            if (total < 6 || total > len - off) return;
            off += total;
            continue;
        }
        off += h.total;
        if (h.proto_type != 1 || h.src.addr.family != h.dst.addr.family || !hep_key_ok(in, &h)) continue;
        if (h.compressed && (!(in->hep_z || (in->hep_z = cap_hep_inflater_new())) ||
                             cap_hep_inflate(in->hep_z, &h, &e) != FS_OK))
            continue;
        reader_learn(in, h.payload, h.payload_len, &h.src.addr, &h.dst.addr, hep_near_time(&h, received_us));
    } while (off < len);
}

/* Whether a datagram or segment between src and dst is on a HEP port, where
 * the decoder reads HEP (cap_decode.c decode_udp, cap_tcp.c). */
static bool on_hep_port(const cap_config *c, const fs_endpoint *src, const fs_endpoint *dst) {
    for (unsigned i = 0; i < c->nhep_ports; i++)
        if (c->hep_ports[i] == src->port || c->hep_ports[i] == dst->port) return true;
    return false;
}

/* Whether the decoder reads a datagram or segment between src and dst as
 * SIP by its ports alone; on others, only with capture.heuristic. */
static bool on_sip_port(const cap_config *c, const fs_endpoint *src, const fs_endpoint *dst) {
    for (unsigned i = 0; i < c->nports; i++)
        if (c->sip_ports[i] == src->port || c->sip_ports[i] == dst->port) return true;
    return false;
}

static void on_event(void *user, const ev_event *ev, bool final) {
    worker *w = user;
    insp *in = w->in;
    if (!in->opt.on_event) return;
    if (in->threaded) pthread_mutex_lock(&in->event_lock);
    if (in->threaded && in->opt.live) {
        if (!fold_live(in, w->index, ev, final)) in->opt.on_event(in->opt.user, ev, final);
    } else if (holds_incidents(in, final)) {
        hold_incident(in, ev);
    } else {
        in->opt.on_event(in->opt.user, ev, final);
    }
    if (in->threaded) pthread_mutex_unlock(&in->event_lock);
}

static void on_evidence(void *user, const cap_payload *p, const det_evidence_ref *refs, unsigned n) {
    worker *w = user;
    insp *in = w->in;
    if (in->threaded) pthread_mutex_lock(&in->event_lock);
    in->opt.on_evidence(in->opt.user, p, refs, n);
    if (in->threaded) pthread_mutex_unlock(&in->event_lock);
}

/* What a REC_INPUT record holds: the file the next frames come from. */
typedef struct input_rec {
    const char *name; /* in insp.inputs */
    bool frames;      /* every frame of it counted (no filter) */
} input_rec;

static void figures_of(const worker *w, worker_figures *f) {
    f->cap = *cap_decoder_stats(w->dec);
    f->det = *det_engine_stats(w->eng);
    det_engine_memory(w->eng, &f->mem);
    f->decoder_memory = cap_decoder_memory(w->dec);
    f->lookback_memory = det_engine_lookback_memory(w->eng);
    snprintf(f->hep_error, sizeof f->hep_error, "%s", cap_decoder_hep_error(w->dec));
}

/* On a worker's own thread, at each tick: what insp_get_stats reads while
 * the run goes on. */
static void worker_snapshot(worker *w) {
    worker_figures f;
    figures_of(w, &f);
    pthread_mutex_lock(&w->snap_lock);
    w->snap = f;
    pthread_mutex_unlock(&w->snap_lock);
}

static void handle_record(worker *w, const rec_hdr *h, const uint8_t *data) {
    switch (h->kind) {
    case REC_FRAME:
        cap_decode_frame(w->dec, h->dlt, data, h->len, h->ts_us, h->frame_no);
        break;
    case REC_FRAME_IN: {
        fs_encap outer;
        memcpy(&outer, data, sizeof outer);
        cap_decode_frame_in(w->dec, outer.n ? &outer : NULL, true, h->dlt, data + sizeof outer,
                            h->len - (uint32_t)sizeof outer, h->ts_us, h->frame_no);
        break;
    }
    case REC_HEP: {
        fs_err e;
        if (h->dlt) cap_decode_hep_stream(w->dec, data, h->len, h->ts_us, &e); /* off a TCP connection */
        else cap_decode_hep(w->dec, data, h->len, h->ts_us, &e);                /* counted in cap stats */
        break;
    }
    case REC_RAW: {
        /* A message read from a file has no addresses: it comes from and
         * goes to the unspecified address 0.0.0.0:0 (events must name an
         * address, and this one says honestly that none is known). */
        cap_payload p = {.data = data, .len = h->len, .transport = CAP_T_UDP,
                         .ts_us = h->ts_us, .frame_no = h->frame_no, .oversized = h->dlt != 0, /* cut */
                         .src = {.addr = {.family = 4}}, .dst = {.addr = {.family = 4}}};
        det_process(w->eng, &p);
        break;
    }
    case REC_TICK:
        cap_decoder_expire(w->dec, h->ts_us);
        det_tick(w->eng, h->ts_us);
        if (w->own_thread) worker_snapshot(w);
        break;
    case REC_INDICATORS: { /* insp_set_indicators: the new set's pointer */
        const det_indicators *ind;
        memcpy(&ind, data, sizeof ind);
        det_engine_set_indicators(w->eng, ind);
        atomic_fetch_sub(&w->in->indicators_pending, 1);
        break;
    }
    case REC_STEP_BACK: /* det_clock_follow came with REC_INPUT: the clock steps back now */
        det_tick(w->eng, h->ts_us);
        break;
    case REC_INPUT: {
        input_rec r;
        memcpy(&r, data, sizeof r);
        det_clock_follow(w->eng);
        det_engine_set_input(w->eng, r.name, r.frames);
        break;
    }
    default:
        break;
    }
}

static void run_batch(worker *w, const batch *b) {
    uint32_t pos = 0;
    while (pos < b->used) {
        const rec_hdr *h = (const rec_hdr *)(b->data + pos);
        handle_record(w, h, b->data + pos + sizeof *h);
        pos += (uint32_t)((sizeof *h + h->len + 7u) & ~7u);
    }
}

/* ---- worker threads ------------------------------------------------------------ */

static void ring_push(ring *r, batch *b) {
    r->slot[(r->head + r->count) % QUEUE_BATCHES] = b;
    r->count++;
}

static batch *ring_pop(ring *r) {
    batch *b = r->slot[r->head];
    r->head = (r->head + 1) % QUEUE_BATCHES;
    r->count--;
    return b;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->full.count == 0 && !w->quit) pthread_cond_wait(&w->cond, &w->lock);
        if (w->full.count == 0 && w->quit) break;
        batch *b = ring_pop(&w->full);
        w->running_ts = b->first_ts;
        pthread_mutex_unlock(&w->lock);
        run_batch(w, b);
        b->used = 0;
        pthread_mutex_lock(&w->lock);
        w->running_ts = 0;
        ring_push(&w->free, b);
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* The capture time a worker has yet to reach: the start of the batch it
 * runs, else of the oldest it holds (0: nothing pending). Under w->lock. */
static uint64_t pending_ts(const worker *w) {
    if (w->running_ts) return w->running_ts;
    return w->full.count ? w->full.slot[w->full.head]->first_ts : 0;
}

/* Reader side: hand the batch being filled to the worker, take a free one;
 * wait while the worker is more than WORKER_LAG_US of capture time behind
 * the records at upto_ts (0: do not wait for that). */
static void batch_submit(worker *w, uint64_t upto_ts) {
    pthread_mutex_lock(&w->lock);
    ring_push(&w->full, w->filling);
    w->filling = NULL;
    pthread_cond_broadcast(&w->cond);
    for (;;) {
        uint64_t behind = pending_ts(w);
        if (w->free.count && !(behind && upto_ts > behind + WORKER_LAG_US)) break;
        pthread_cond_wait(&w->cond, &w->lock);
    }
    w->filling = ring_pop(&w->free);
    pthread_mutex_unlock(&w->lock);
}

/* Reader side: hand the batch being filled to the worker and wait until it
 * has run every batch it was given. */
static void worker_drain(worker *w) {
    batch_submit(w, 0);
    pthread_mutex_lock(&w->lock);
    while (w->free.count < QUEUE_BATCHES - 1) pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

static bool worker_start(worker *w, fs_err *e) {
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_mutex_init(&w->snap_lock, NULL);
    figures_of(w, &w->snap); /* before its thread touches the decoder and engine */
    w->own_thread = true;
    for (unsigned i = 0; i < QUEUE_BATCHES; i++) {
        batch *b = malloc(sizeof *b);
        if (!b) {
            fs_fail(e, FS_ERR_NOMEM, "out of memory for worker batches");
            return false;
        }
        b->used = 0;
        if (i == 0) w->filling = b;
        else ring_push(&w->free, b);
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        fs_fail(e, FS_ERR_INTERNAL, "cannot start worker thread %u", w->index);
        return false;
    }
    w->started = true;
    return true;
}

/* Flush the partial batch, tell the worker to stop after draining, join. */
static void worker_stop(worker *w) {
    if (!w->started) return;
    pthread_mutex_lock(&w->lock);
    if (w->filling && w->filling->used) {
        /* the full ring has room: the reader only ever holds one batch */
        ring_push(&w->full, w->filling);
        w->filling = NULL;
    }
    w->quit = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->started = false;
}

static void worker_release(worker *w) {
    worker_stop(w);
    free(w->filling);
    while (w->full.count) free(ring_pop(&w->full));
    while (w->free.count) free(ring_pop(&w->free));
    if (w->own_thread) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->snap_lock);
    }
    cap_decoder_free(w->dec);
    det_engine_free(w->eng);
}

/* ---- dispatch ------------------------------------------------------------------ */

static void feed(insp *in, unsigned wi, uint8_t kind, int dlt, const uint8_t *data, uint32_t len,
                 uint64_t ts, uint64_t frame_no) {
    worker *w = &in->w[wi];
    rec_hdr h = {.len = len, .kind = kind, .dlt = dlt, .ts_us = ts, .frame_no = frame_no};
    if (!w->own_thread) { /* one worker, or worker 0: runs on the reader's thread */
        handle_record(w, &h, data);
        return;
    }
    size_t need = (sizeof h + len + 7u) & ~(size_t)7u;
    if (need > BATCH_BYTES) return; /* cannot happen: frames are <= 262,144 bytes (BATCH_BYTES) */
    if (w->filling->used && (w->filling->used + need > BATCH_BYTES || ts > w->filling->first_ts + BATCH_SPAN_US))
        batch_submit(w, ts);
    if (!w->filling->used) w->filling->first_ts = ts;
    uint8_t *dst = w->filling->data + w->filling->used;
    memcpy(dst, &h, sizeof h);
    if (len) memcpy(dst + sizeof h, data, len);
    w->filling->used += (uint32_t)need;
}

/* Which worker a shard key (a client address) goes to. A key's bucket is
 * given, the first time it is seen, to the worker with the least load so far
 * (bytes handed to it; worker 0 also reads every frame), and keeps it: one
 * client always lands on one worker, and a heavy client (a trunk, a proxy)
 * draws the newcomers to the others (a fixed key % N gave one worker 63 % of
 * the bench capture's messages). */
static unsigned pick_worker(insp *in, uint64_t key) {
    if (in->nworkers <= 1) return 0;
    uint8_t *owner = &in->bucket_owner[(key >> 17) & (SHARD_BUCKETS - 1)];
    if (!*owner) {
        /* worker 0 also reads every frame: count that as a share of its load */
        uint64_t load0 = in->worker_bytes[0] + in->bytes_read / READER_SHARE;
        unsigned least = 0;
        for (unsigned i = 1; i < in->nworkers; i++)
            if (in->worker_bytes[i] < (least ? in->worker_bytes[least] : load0)) least = i;
        *owner = (uint8_t)(least + 1);
    }
    return *owner - 1u;
}

/* A new call's INVITE, seen here in capture order, is claimed for the
 * batched worker its frame goes to before any worker runs it: the worker that
 * tracks a call relayed over two legs is then the one with the leg that came
 * first in the capture, as with one worker, not whichever got there first
 * (det_shared_claim_call_id). A claim for a call already claimed changes
 * nothing, so in-dialog INVITEs and TCP retransmissions need not be told
 * apart here. Seen: a UDP datagram, a HEP packet's payload, or a TCP
 * segment that starts with the INVITE and holds its Call-ID line
 * (sip_peek_call_id stops at the segment's end). An INVITE later in a
 * segment, or split before its Call-ID, is claimed by the first worker to
 * run it. */
static void claim_new_call(insp *in, unsigned wi, const uint8_t *payload, uint32_t n, uint64_t ts) {
    fs_str call_id;
    if (payload && n > 7 && memcmp(payload, "INVITE ", 7) == 0 &&
        sip_peek_call_id((const char *)payload, n, &call_id))
        det_shared_claim_call_id(in->shared, call_id, wi, ts);
}

/* claim_new_call for the message a HEP packet in a capture carries: sharded
 * by that message's client (cap_shard.c), the two legs of a call one proxy
 * mirrored go to two workers, and the leg first in the capture must win, as
 * with the --hep listener (hep_pick_worker). */
static void claim_hep_call(insp *in, unsigned wi, const uint8_t *payload, uint32_t n, uint64_t ts) {
    cap_hep h;
    fs_err e;
    if (cap_hep_parse_datagram(payload, n, &h, &e) != FS_OK || h.proto_type != 1) return;
    if (h.compressed && !((in->hep_z || (in->hep_z = cap_hep_inflater_new())) && cap_hep_inflate(in->hep_z, &h, &e) == FS_OK))
        return;
    claim_new_call(in, wi, h.payload, h.payload_len, ts);
}

/* The worker a frame goes to (several workers): its client's. Worker 0 runs
 * each frame now, on this thread: its engine claims in capture order itself. */
static unsigned shard_frame(insp *in, int dlt, const uint8_t *frame, uint32_t len, uint64_t ts) {
    const uint8_t *payload;
    uint32_t payload_len = 0;
    fs_endpoint src, dst;
    unsigned wi = pick_worker(
        in, cap_shard_peek(&in->opt.cfg->capture, dlt, frame, len, &payload, &payload_len, &src, &dst));
    bool hep = payload && on_hep_port(&in->opt.cfg->capture, &src, &dst) && payload_len >= 4 &&
               (!memcmp(payload, "HEP3", 4) || payload[0] == 1 || payload[0] == 2);
    if (wi != 0 && hep) claim_hep_call(in, wi, payload, payload_len, ts);
    else if (wi != 0) claim_new_call(in, wi, payload, payload_len, ts);
    if (!payload || !in->aka) return wi;
    if (hep)
        reader_learn_hep(in, payload, payload_len, false, ts);
    else if (in->opt.cfg->capture.heuristic || on_sip_port(&in->opt.cfg->capture, &src, &dst))
        reader_learn(in, payload, payload_len, &src.addr, &dst.addr, ts); /* what the workers read as SIP */
    return wi;
}

/* A datagram the reader reassembled: sharded like any packet, decoded as
 * reassembled, with the path (VLAN tags, tunnels; NULL: none) of its last
 * fragment (REC_FRAME_IN). */
static void feed_frame_in(insp *in, const fs_encap *outer, const uint8_t *packet, uint32_t len, uint64_t ts,
                          uint64_t frame_no) {
    unsigned wi = shard_frame(in, CAP_DLT_RAW, packet, len, ts);
    fs_encap none = {0};
    memcpy(in->frame_in, outer ? outer : &none, sizeof none);
    memcpy(in->frame_in + sizeof none, packet, len);
    in->worker_bytes[wi] += len;
    feed(in, wi, REC_FRAME_IN, CAP_DLT_RAW, in->frame_in, (uint32_t)sizeof none + len, ts, frame_no);
}

/* Files given out of order, several workers: the file that begins at ts
 * starts more than a clock step before the capture time read so far. One
 * engine steps its clock back at its first message and closes every incident
 * whose last hit is further ahead (det_engine.c clock_advance): a report of
 * the new file with the same key is another incident. Every worker steps back
 * now, before any of the new file reaches it, and the reports held of the
 * incidents so closed go out now, not to be merged with the new file's at the
 * end (SIP-INFO-001 of a file and of the same file shifted 10 minutes later,
 * given later one first: one incident of 12 with 2 workers, 2 of 6 with one),
 * and the shared registry forgets them: the new file's incidents get event_ids
 * (and --pcap-out comments) of their own. A share of one coming after is
 * reported apart (live_was_done). */
static void step_back_together(insp *in, uint64_t ts) {
    for (unsigned i = 0; i < in->nworkers; i++) {
        feed(in, i, REC_STEP_BACK, 0, NULL, 0, ts, 0);
        if (in->w[i].own_thread) worker_drain(&in->w[i]);
    }
    det_shared_step_back(in->shared, ts);
    pthread_mutex_lock(&in->event_lock);
    unsigned keep = 0; /* those still open in one engine first, the closed ones after */
    for (unsigned i = 0; i < in->nheld; i++) {
        if (in->held[i].last_us > ts + DET_CLOCK_STEP_US) continue;
        ev_event open = in->held[keep];
        uint64_t key = in->held_key[keep];
        in->held[keep] = in->held[i];
        in->held_key[keep++] = in->held_key[i];
        in->held[i] = open;
        in->held_key[i] = key;
    }
    qsort(in->held + keep, in->nheld - keep, sizeof *in->held, by_first_seen);
    for (unsigned i = keep; i < in->nheld; i++) {
        in->opt.on_event(in->opt.user, &in->held[i], true);
        live_remember_done(in, in->held[i].event_id);
    }
    in->nheld = keep;
    pthread_mutex_unlock(&in->event_lock);
}

static void feed_frame(insp *in, int dlt, const uint8_t *frame, uint32_t caplen, uint64_t ts,
                       uint64_t frame_no) {
    in->frames_read++;
    in->bytes_read += caplen;
    unsigned wi = 0;
    if (in->input_begins) {
        in->input_begins = false;
        if (holds_incidents(in, true) && in->opt.on_event && ts + DET_CLOCK_STEP_US < in->latest_ts)
            step_back_together(in, ts);
    }
    if (ts > in->latest_ts) in->latest_ts = ts;
    if (in->nworkers > 1) {
        /* a fragment's ports are in its first piece only: shard the
         * reassembled datagram, so it goes where its client's packets go */
        const uint8_t *whole;
        uint32_t whole_len;
        const fs_encap *outer = NULL;
        switch (cap_defrag_frame(in->defrag, dlt, frame, caplen, ts, &whole, &whole_len, &outer)) {
        case 1: return;
        case 2: feed_frame_in(in, outer, whole, whole_len, ts, frame_no); return;
        default: break;
        }
        wi = shard_frame(in, dlt, frame, caplen, ts);
    }
    in->worker_bytes[wi] += caplen;
    feed(in, wi, REC_FRAME, dlt, frame, caplen, ts, frame_no);
}

/* Live input: every worker's clock advances, and a batched worker gets what
 * its batch holds now rather than when it fills (256 KiB can take minutes on
 * a quiet link): its traffic is never more than a tick late. */
static void feed_tick(insp *in, uint64_t now_us) {
    for (unsigned i = 0; i < in->nworkers; i++) {
        feed(in, i, REC_TICK, 0, NULL, 0, now_us, 0);
        if (in->w[i].own_thread) batch_submit(&in->w[i], 0);
    }
    if (in->opt.on_tick) {
        if (in->threaded) pthread_mutex_lock(&in->event_lock);
        in->opt.on_tick(in->opt.user);
        if (in->threaded) pthread_mutex_unlock(&in->event_lock);
    }
    /* after the lock is let go: batch_submit may wait for a worker to free a
     * batch, and that worker may be waiting for event_lock (on_event) */
    if (in->indicators_queued) {
        in->indicators_queued = false;
        for (unsigned i = 0; i < in->nworkers; i++) { /* in order with the traffic before it */
            feed(in, i, REC_INDICATORS, 0, (const uint8_t *)&in->indicators_next, (uint32_t)sizeof in->indicators_next,
                 0, 0);
            if (in->w[i].own_thread) batch_submit(&in->w[i], 0);
        }
    }
}

/* ---- lifecycle ----------------------------------------------------------------- */

static uint32_t split_limit(uint32_t limit, unsigned n) {
    uint32_t share = (limit + n - 1) / n;
    return share < 64 ? (limit < 64 ? limit : 64) : share;
}

insp *insp_new(const insp_options *o, fs_err *e) {
    insp *in = calloc(1, sizeof *in);
    if (!in) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    in->opt = *o;
    in->nworkers = o->workers ? o->workers : 1;
    if (in->nworkers > INSP_MAX_WORKERS) {
        free(in);
        fs_fail(e, FS_ERR_USAGE, "--workers must be 1-%d", INSP_MAX_WORKERS);
        return NULL;
    }
    in->threaded = in->nworkers > 1;
    pthread_mutex_init(&in->event_lock, NULL);
    if (in->threaded &&
        !(in->shared = det_shared_new(o->cfg->max_sources / 4 + 64, o->cfg->max_dialogs, o->cfg->max_incidents, e)))
        goto fail;
    if (in->shared && o->seed) det_shared_set_seed(in->shared, *o->seed);
    const fs38_config *ecfg = o->cfg;
    if (in->threaded) {
        /* The state limits bound the whole run: each worker tracks its share
         * of the clients, so it gets its share of the entries (and smaller
         * tables miss the caches less). */
        in->worker_cfg = *o->cfg;
        in->worker_cfg.max_sources = split_limit(o->cfg->max_sources, in->nworkers);
        in->worker_cfg.max_dialogs = split_limit(o->cfg->max_dialogs, in->nworkers);
        in->worker_cfg.max_incidents = split_limit(o->cfg->max_incidents, in->nworkers);
        /* so are the decoders' reassembly caps (a flow or a datagram stays
         * within one worker, and all of them together within the limits) */
        cap_config *cc = &in->worker_cfg.capture;
        cc->max_tcp_flows = split_limit(o->cfg->capture.max_tcp_flows, in->nworkers);
        cc->max_tcp_bytes = o->cfg->capture.max_tcp_bytes / in->nworkers;
        if (cc->max_tcp_bytes < cc->max_flow_bytes) cc->max_tcp_bytes = cc->max_flow_bytes;
        /* fragments are reassembled by the reader (cap_defrag): a worker's
         * table only sees the fragments inside a datagram the reader
         * reassembled (a tunnel's packets fragmented on the way); but the
         * same limits bound the worker's SCTP reassembly (cap_sctp.c). The
         * workers share half of them, each at least one whole datagram of
         * any size; the reader keeps the rest */
        cc->max_frag_sets = split_limit(o->cfg->capture.max_frag_sets, 2 * in->nworkers);
        uint32_t frag_share = o->cfg->capture.max_frag_bytes / (2 * in->nworkers);
        cc->max_frag_bytes = frag_share > CAP_FRAG_DATAGRAM_BYTES ? frag_share : CAP_FRAG_DATAGRAM_BYTES;
        ecfg = &in->worker_cfg;
    }
    cap_config dcfg = ecfg->capture;
    if (o->cfg->ims_aka_keys) {
        if (!(in->keyring = cap_esp_keyring_new(0, e))) goto fail;
        uint64_t seed;
        if (o->seed) seed = *o->seed;
        else randombytes_buf(&seed, sizeof seed);
        if (!(in->aka = insp_aka_new(in->keyring, seed)) ||
            (in->threaded && !(in->peek_msg = malloc(sizeof *in->peek_msg)))) {
            fs_fail(e, FS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        dcfg.esp_keyring = in->keyring;
    }
    for (unsigned i = 0; i < in->nworkers; i++) {
        worker *w = &in->w[i];
        w->in = in;
        w->index = i;
        w->dec = cap_decoder_new(&dcfg, on_payload, w, e);
        if (!w->dec) goto fail;
        cap_decoder_set_tls_hello(w->dec, on_tls_hello, w);
        w->eng = det_engine_new(ecfg, on_event, w, e);
        if (!w->eng) goto fail;
        det_engine_set_live(w->eng, o->live);
        if (o->on_evidence) det_engine_set_evidence(w->eng, on_evidence, w, o->evidence_per_incident);
        if (o->on_evidence && det_engine_set_lookback(w->eng, o->evidence_lookback, e) != FS_OK) goto fail;
        if (o->seed) det_engine_set_seed(w->eng, *o->seed);
        det_engine_set_shards(w->eng, i, in->nworkers, in->shared);
        cap_decoder_set_seed(w->dec, det_engine_seed(w->eng)); /* random, or --seed */
        det_engine_set_indicators(w->eng, o->indicators);
        if (in->aka) det_engine_set_tap(w->eng, on_tap, w);
        if (in->threaded && i > 0 && !worker_start(w, e)) goto fail;
    }
    in->shares_max = LIVE_SHARES_MIN; /* live: one for each incident the workers can hold open */
    for (unsigned i = 0; i < in->nworkers; i++) {
        det_memory m;
        det_engine_memory(in->w[i].eng, &m);
        in->shares_max = in->shares_max > UINT_MAX - m.incidents_cap ? UINT_MAX : in->shares_max + m.incidents_cap;
    }
    if (in->threaded) { /* the rest of the fragment budget; keyed like the decoders' tables */
        cap_config rc = o->cfg->capture;
        uint64_t workers_frag = (uint64_t)in->nworkers * in->worker_cfg.capture.max_frag_bytes;
        rc.max_frag_bytes = rc.max_frag_bytes > workers_frag + CAP_FRAG_DATAGRAM_BYTES
                                ? (uint32_t)(rc.max_frag_bytes - workers_frag)
                                : CAP_FRAG_DATAGRAM_BYTES;
        in->frame_in = malloc(sizeof(fs_encap) + CAP_DEFRAG_MAX_PACKET);
        if (!(in->defrag = cap_defrag_new(&rc, det_engine_seed(in->w[0].eng))) || !in->frame_in) {
            fs_fail(e, FS_ERR_NOMEM, "out of memory for the fragment table");
            goto fail;
        }
    }
    return in;
fail:
    insp_free(in);
    return NULL;
}

void insp_free(insp *in) {
    if (!in) return;
    for (unsigned i = 0; i < in->nworkers; i++) worker_release(&in->w[i]);
    pthread_mutex_destroy(&in->event_lock);
    det_shared_free(in->shared);
    cap_defrag_free(in->defrag);
    free(in->frame_in);
    for (unsigned i = 0; i < in->ninputs; i++) free(in->inputs[i]);
    free(in->inputs);
    free(in->held);
    free(in->held_key);
    for (unsigned i = 0; i < in->nshares; i++) free(in->shares[i].final);
    free(in->shares);
    free(in->done_ids);
    insp_aka_free(in->aka);
    cap_esp_keyring_free(in->keyring); /* after the decoders */
    free(in->peek_msg);
    cap_hep_inflater_free(in->hep_z);
    free(in);
}

void insp_finish(insp *in) {
    if (in->finished) return;
    in->finished = true;
    for (unsigned i = 0; i < in->nworkers; i++) worker_stop(&in->w[i]);
    /* Workers are joined: finishing on this thread is now race free. */
    for (unsigned i = 0; i < in->nworkers; i++) cap_decoder_finish(in->w[i].dec);
    if (in->defrag) cap_defrag_finish(in->defrag); /* the reader's incomplete datagrams, counted */
    /* every worker's counts are shared before any closes its incidents */
    for (unsigned i = 0; i < in->nworkers; i++) det_flush_shared(in->w[i].eng);
    /* live: every share of an incident reported open before any closes
     * (fold_live would take a share opened after another's close for a new
     * incident: a second version 1 under the same event_id) */
    for (unsigned i = 0; i < in->nworkers; i++) det_finish_open(in->w[i].eng);
    for (unsigned i = 0; i < in->nworkers; i++) det_finish(in->w[i].eng);
    if (in->nheld) qsort(in->held, in->nheld, sizeof *in->held, by_first_seen);
    for (unsigned i = 0; i < in->nheld; i++)
        if (in->opt.on_event) in->opt.on_event(in->opt.user, &in->held[i], true);
    in->nheld = 0;
    /* Every share was closed by det_finish: what still waits lost a share's
     * final (none expected); report what arrived. */
    for (unsigned i = in->nshares; i-- > 0;)
        if (in->shares[i].final && in->opt.on_event) live_emit_final(in, &in->shares[i]);
    in->nshares = 0;
}

/* live: a live or HEP input, the only ones duration_us bounds (a file's
 * time is its capture time: --duration must not cut it short, silently).
 * started_us is of fs_time_mono_us: a wall clock stepped back would end
 * the run at once (the difference wrapping), one stepped ahead early. */
static bool should_stop(const insp *in, uint64_t packets, uint64_t started_us, bool live) {
    if (in->opt.stop && *in->opt.stop) return true;
    if (in->opt.max_packets && packets >= in->opt.max_packets) return true;
    if (live && in->opt.duration_us && fs_time_mono_us() - started_us >= in->opt.duration_us) return true;
    return false;
}

/* ---- sources ------------------------------------------------------------------- */

static fs_code pump(insp *in, cap_source *src, bool live, uint64_t *frames, fs_err *e) {
    const uint8_t *frame;
    uint32_t caplen;
    uint64_t ts, n = 0, started = fs_time_mono_us(), last_tick = started; /* how often: monotonic */
    fs_code rc = FS_OK;
    while (!should_stop(in, in->frames_read, started, live)) {
        cap_next_status st = cap_next(src, &frame, &caplen, &ts, e);
        if (st == CAP_NEXT_END) break;
        if (st == CAP_NEXT_ERROR) {
            /* a file's read the stopping SIGINT/SIGTERM interrupted (they
             * come without SA_RESTART: a pipe whose writer is idle): the
             * run was stopped there, the input did not break ("error
             * reading dump file: Interrupted system call") */
            if (!live && in->opt.stop && *in->opt.stop) break;
            rc = e->code ? e->code : FS_ERR_FORMAT;
            break;
        }
        if (live) {
            uint64_t now = fs_time_mono_us();
            if (now - last_tick >= LIVE_TICK_US) {
                cap_live_drops(src, &in->run_kernel_dropped, &in->run_if_dropped);
                feed_tick(in, fs_time_now_us()); /* the detectors' clock: capture time, as the kernel stamps */
                last_tick = now;
            }
        }
        if (st == CAP_NEXT_TIMEOUT) continue;
        n++;
        feed_frame(in, cap_frame_dlt(src), frame, caplen, ts, n); /* per frame: pcapng interfaces differ */
        if (in->opt.on_progress && n % PROGRESS_EVERY == 0)
            in->opt.on_progress(in->opt.user, cap_offset(src), cap_size(src), n);
    }
    if (in->opt.on_progress && !live)
        in->opt.on_progress(in->opt.user, cap_offset(src), cap_size(src), n);
    if (frames) *frames = n;
    return rc;
}

/* A copy of an input's name that lives as long as in (NULL: no memory). */
static const char *keep_input(insp *in, const char *path) {
    char **grown = realloc(in->inputs, (in->ninputs + 1) * sizeof *grown);
    if (!grown) return NULL;
    in->inputs = grown;
    if (!(grown[in->ninputs] = strdup(path))) return NULL;
    return grown[in->ninputs++];
}

static fs_code unsupported_link(const char *path, int dlt, fs_err *e) {
    return fs_fail(e, FS_ERR_FORMAT,
                   "%s: link type %d (%s) is not supported (Ethernet with VLAN tags, Linux SLL/SLL2, "
                   "raw IP, BSD loopback, PPP, Cisco HDLC and NFLOG are)", path, dlt, cap_dlt_name(dlt));
}

fs_code insp_run_file(insp *in, const char *path, uint64_t *frames, fs_err *e) {
    cap_source *src;
    if (frames) *frames = 0;
    fs_code rc = cap_open_file(path, &src, e);
    if (rc != FS_OK) return rc;
    int dlt = cap_datalink(src);
    /* not one frame could be decoded (in a pcapng whose interfaces differ,
     * frames of such a link type are counted as not IP and passed over; one
     * whose first interface is such is read in case a later one is not) */
    if (!cap_dlt_supported(dlt) && !cap_mixed(src)) {
        rc = unsupported_link(path, dlt, e);
        cap_close(src);
        return rc;
    }
    if (in->opt.file_bpf) rc = cap_set_filter(src, in->opt.file_bpf, e);
    /* files given out of order: each worker's clock may go back to this
     * one's; and events name the file (and the frame, unless a filter
     * hides frames from the count) */
    input_rec r = {.name = rc == FS_OK ? keep_input(in, path) : NULL, .frames = !in->opt.file_bpf};
    if (rc == FS_OK && !r.name) rc = fs_fail(e, FS_ERR_NOMEM, "out of memory");
    for (unsigned i = 0; rc == FS_OK && i < in->nworkers; i++)
        feed(in, i, REC_INPUT, 0, (const uint8_t *)&r, (uint32_t)sizeof r, 0, 0);
    in->input_begins = true;
    if (rc == FS_OK) rc = pump(in, src, false, NULL, e);
    /* every frame read, --bpf's misses too: a file that breaks after frames
     * the filter passed over was still read up to the break */
    if (frames) *frames = cap_frames_read(src);
    if (rc == FS_OK && !cap_dlt_supported(dlt) && !cap_saw_decodable(src)) {
        rc = unsupported_link(path, dlt, e);
        if (frames) *frames = 0; /* none could be inspected */
    }
    cap_close(src);
    return rc;
}

fs_code insp_run_live(insp *in, const char *iface, const char *bpf, fs_err *e) {
    cap_source *src;
    fs_code rc = cap_open_live(iface, bpf, in->opt.cfg->capture.live_buffer_mb, &src, e);
    if (rc != FS_OK) return rc;
    rc = pump(in, src, true, NULL, e);
    uint64_t kernel, by_iface;
    if (cap_live_drops(src, &kernel, &by_iface)) {
        in->kernel_dropped += kernel;
        in->if_dropped += by_iface;
    }
    in->run_kernel_dropped = in->run_if_dropped = 0;
    cap_close(src);
    return rc;
}

/* Which worker a HEP packet goes to: its address pair; and, as for frames,
 * a new call's INVITE in it is claimed for a batched worker in arrival
 * order (claim_new_call): a proxy that mirrors both legs of a call (Kamailio
 * siptrace) sends them as two packets, often to two workers. */
static unsigned hep_pick_worker(insp *in, const uint8_t *buf, size_t len, uint64_t now_us) {
    cap_hep h;
    fs_err e;
    if (cap_hep_parse_datagram(buf, len, &h, &e) != FS_OK) return pick_worker(in, 0);
    /* a compressed payload (chunk 0x10) is opened first, as the worker will:
     * its first bytes say which side is the client, and an INVITE's Call-ID
     * is claimed as a plain one's (compressed bytes would spread one
     * scanner's probes over the workers). Left as it is if it cannot be. */
    if (h.compressed && in->nworkers > 1 && (in->hep_z || (in->hep_z = cap_hep_inflater_new())))
        cap_hep_inflate(in->hep_z, &h, &e);
    unsigned wi = pick_worker(in, cap_shard_key_hep(&in->opt.cfg->capture, &h)); /* the client, as for frames */
    /* not a packet the decoder will refuse (a forged one without the auth
     * key would steer the real INVITE of that Call-ID), nor at a sender's
     * clock far off the arrival (its claim would outlive the others) */
    if (wi != 0 && h.proto_type == 1 && hep_key_ok(in, &h))
        claim_new_call(in, wi, h.payload, h.payload_len, hep_near_time(&h, now_us));
    return wi;
}

/* The listener's deliver callback: one HEP datagram or packet. */
typedef struct hep_feed {
    insp *in;
    uint64_t now_us, n;
} hep_feed;

static void feed_hep(void *user, const uint8_t *pkt, size_t len, bool stream) {
    hep_feed *f = user;
    insp *in = f->in;
    /* --count N: one poll hands out every whole packet a TCP read brought
     * (up to 64 KiB of them), and the close what connections still hold:
     * none past the Nth is read */
    if (in->opt.max_packets && f->n >= in->opt.max_packets) return;
    f->n++;
    in->frames_read++;
    in->bytes_read += len;
    unsigned wi = hep_pick_worker(in, pkt, len, f->now_us);
    if (in->threaded && in->aka) reader_learn_hep(in, pkt, len, stream, f->now_us);
    in->worker_bytes[wi] += len;
    feed(in, wi, REC_HEP, stream, pkt, (uint32_t)len, f->now_us, f->n); /* dlt: off a TCP stream */
}

fs_code insp_run_hep(insp *in, const char *listen, fs_err *e) {
    cap_hep_listener *l;
    const fs38_config *c = in->opt.cfg;
    cap_hep_tls tls = {c->hep_tls_cert, c->hep_tls_key, c->hep_tls_client_ca};
    fs_code rc = cap_hep_listen(listen, &tls, &l, e);
    if (rc != FS_OK) return rc;
    uint64_t started = fs_time_mono_us(), last_tick = started; /* how often: monotonic */
    hep_feed f = {.in = in};
    while (!should_stop(in, f.n, started, true)) {
        f.now_us = fs_time_now_us(); /* the arrival time of what this poll reads */
        uint64_t mono = fs_time_mono_us();
        if (mono - last_tick >= LIVE_TICK_US) {
            cap_hep_listen_get_stats(l, &in->hep); /* for insp_get_stats during the run */
            in->run_kernel_dropped = in->hep.udp_dropped;
            feed_tick(in, f.now_us);
            last_tick = mono;
        }
        cap_hep_listen_poll(l, 100, f.now_us, feed_hep, &f);
    }
    /* what the sockets hold was sent before the end (TCP acknowledged it):
     * read, not dropped with them (for at most 2 s: a sender may go on) */
    f.now_us = fs_time_now_us();
    if (!in->opt.max_packets || f.n < in->opt.max_packets) /* --count: not one more */
        cap_hep_listen_drain(l, f.now_us, 2 * FS_USEC, feed_hep, &f);
    f.now_us = fs_time_now_us();
    cap_hep_listen_get_stats(l, &in->hep);
    cap_hep_listen_close(l, feed_hep, &f); /* packets cut short: bad HEP */
    in->kernel_dropped += in->hep.udp_dropped;
    in->run_kernel_dropped = 0;
    return FS_OK;
}

fs_code insp_run_raw(insp *in, const char *path, fs_err *e) {
    /* '-': the message on stdin, as a capture FILE may be (`printf ... | fs38 inspect --raw -`) */
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "<stdin>" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) return fs_fail(e, FS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!from_stdin) fclose(f);
        return fs_fail(e, FS_ERR_IO, "%s: %s", name, strerror(EISDIR));
    }
    uint32_t max = in->opt.cfg->capture.sip.max_message ? in->opt.cfg->capture.sip.max_message : 65535;
    /* one byte more than the limit, so an oversized message is still seen as such */
    uint32_t cap = max + 1 < BATCH_BYTES - 64 ? max + 1 : BATCH_BYTES - 64;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        if (!from_stdin) fclose(f);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    }
    errno = 0;
    size_t got = fread(buf, 1, cap, f);
    /* more after what was taken: the message was cut here, not by its
     * sender (its Content-Length is not to blame), as the TCP framer cuts one */
    bool cut = got == cap && fgetc(f) != EOF;
    bool err = ferror(f);
    int read_errno = errno;
    if (from_stdin) clearerr(f);
    else fclose(f);
    if (err) {
        free(buf);
        return fs_fail(e, FS_ERR_IO, "%s: read error%s%s", name, read_errno ? ": " : "",
                       read_errno ? strerror(read_errno) : "");
    }
    in->frames_read++;
    in->bytes_read += got;
    input_rec r = {.name = keep_input(in, path), .frames = false}; /* a message file has no frames */
    if (!r.name) {
        free(buf);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    }
    feed(in, 0, REC_INPUT, 0, (const uint8_t *)&r, (uint32_t)sizeof r, 0, 0);
    feed(in, 0, REC_RAW, cut, buf, (uint32_t)got, fs_time_now_us(), in->frames_read);
    free(buf);
    return FS_OK;
}

/* ---- statistics ---------------------------------------------------------------- */

static void add_cap(cap_stats *a, const cap_stats *b) {
#define ADD(f) a->f += b->f
    ADD(frames); ADD(bytes); ADD(tunneled); ADD(not_ip); ADD(bad_ip); ADD(truncated);
    ADD(ip_fragments); ADD(ip_reassembled); ADD(frag_dropped); ADD(udp); ADD(tcp_segments); ADD(sctp_packets); ADD(sctp_fragmented); ADD(sctp_reassembled); ADD(sctp_dropped); ADD(sctp_retransmits); ADD(esp_packets); ADD(esp_null); ADD(esp_decrypted); ADD(esp_failed); ADD(esp_replayed);
    ADD(tcp_retransmits); ADD(tcp_out_of_order); ADD(tcp_gaps); ADD(tcp_resyncs); ADD(tcp_gap_recovered); ADD(keepalives); ADD(ws_inflated); ADD(ws_inflate_failed);
    ADD(tls_handshakes); ADD(tls_records); ADD(tls_no_key); ADD(tls_unsupported); ADD(tls_failed);
    ADD(tls_certs); ADD(tls_certs_unread);
    for (unsigned i = 0; i < CAP_TLS_VERSIONS; i++) ADD(tls_versions[i]);
    ADD(tcp_flows_evicted); ADD(tcp_bytes_dropped); ADD(hep_packets); ADD(hep_bad);
    ADD(hep_ignored); ADD(hep_time_untrusted); ADD(hep_v1v2); ADD(hep_compressed); ADD(sip_payloads); ADD(tcp_flows_live); ADD(tcp_flows_peak);
    ADD(tcp_bytes_buffered_peak); ADD(frag_bytes_peak);
#undef ADD
}

static void add_det(det_stats *a, const det_stats *b) {
#define ADD(f) a->f += b->f
    ADD(payloads); ADD(messages); ADD(not_sip); ADD(keepalives); ADD(requests); ADD(responses); ADD(from_hep);
    ADD(msgs_with_anomaly); ADD(calls_started); ADD(calls_answered); ADD(calls_cancelled); ADD(calls_allowed_caller);
    ADD(calls_failed); ADD(events_opened); ADD(events_closed); ADD(incidents_evicted);
    ADD(incidents_below_threshold);
    ADD(sources_evicted); ADD(dests_evicted); ADD(callers_evicted); ADD(calls_evicted);
#undef ADD
    for (int i = 0; i < SIP_M__COUNT; i++) a->by_method[i] += b->by_method[i];
    for (int i = 0; i < 7; i++) a->by_class[i] += b->by_class[i];
    for (int i = 0; i < CAP_TRANSPORTS; i++) a->by_transport[i] += b->by_transport[i];
    for (int i = 0; i < SIP_A__COUNT; i++) a->anomalies[i] += b->anomalies[i];
    if (b->first_us && (!a->first_us || b->first_us < a->first_us)) a->first_us = b->first_us;
    if (b->last_us > a->last_us) a->last_us = b->last_us;
    if (b->last_message_us > a->last_message_us) a->last_message_us = b->last_message_us;
}

static void add_mem(det_memory *a, const det_memory *b) {
    a->source_entry = b->source_entry;
    a->dest_entry = b->dest_entry;
    a->caller_entry = b->caller_entry;
    a->call_entry = b->call_entry;
    a->incident_entry = b->incident_entry;
    a->txn_entry = b->txn_entry;
#define ADD(f) a->f += b->f
    ADD(sources_cap); ADD(dests_cap); ADD(callers_cap); ADD(calls_cap); ADD(incidents_cap);
    ADD(txns_cap); ADD(txns_live);
    ADD(sources_live); ADD(dests_live); ADD(callers_live); ADD(calls_live); ADD(incidents_live);
    ADD(total_bytes); ADD(bound_bytes);
#undef ADD
}

void insp_get_stats(insp *in, insp_stats *out) {
    memset(out, 0, sizeof *out);
    out->workers = in->nworkers;
    out->seed = det_engine_seed(in->w[0].eng);
    out->frames_read = in->frames_read;
    out->kernel_dropped = in->kernel_dropped + in->run_kernel_dropped;
    out->hep = in->hep;
    out->if_dropped = in->if_dropped + in->run_if_dropped;
    out->bytes_read = in->bytes_read;
    for (unsigned i = 0; i < in->nworkers; i++) {
        worker *w = &in->w[i];
        worker_figures f;
        if (w->started) { /* a thread of its own still runs it: its last tick's */
            pthread_mutex_lock(&w->snap_lock);
            f = w->snap;
            pthread_mutex_unlock(&w->snap_lock);
        } else {
            figures_of(w, &f);
        }
        add_cap(&out->cap, &f.cap);
        if (!out->hep_error[0]) snprintf(out->hep_error, sizeof out->hep_error, "%s", f.hep_error);
        add_det(&out->det, &f.det);
        out->worker_messages[i] = f.det.messages;
        add_mem(&out->mem, &f.mem);
        out->decoder_memory += f.decoder_memory;
        out->lookback_memory += f.lookback_memory;
    }
    if (in->defrag) {
        add_cap(&out->cap, cap_defrag_stats(in->defrag));
        out->decoder_memory += cap_defrag_memory(in->defrag);
    }
    out->decoder_memory += cap_hep_inflater_memory(in->hep_z); /* 0 until a compressed HEP payload */
    out->det.keepalives += out->cap.keepalives; /* the CRLF ones the decoders passed over */
    if (in->aka) {
        out->ims_aka_agreements = insp_aka_agreements(in->aka);
        out->esp_sas_learned = cap_esp_keyring_added(in->keyring);
        out->decoder_memory += insp_aka_memory(in->aka) + cap_esp_keyring_memory(in->keyring);
    }
    out->mem.total_bytes += det_shared_memory(in->shared);
    out->mem.bound_bytes += det_shared_memory(in->shared);
}

void insp_set_indicators(insp *in, const det_indicators *ind) {
    atomic_store(&in->indicators_pending, in->nworkers); /* before any worker may switch */
    in->indicators_next = ind;
    in->indicators_queued = true; /* fed at the end of this tick (feed_tick), outside event_lock */
}

bool insp_indicators_switched(insp *in) { return atomic_load(&in->indicators_pending) == 0; }

bool insp_write_learned_sas(insp *in, FILE *f) { return !in->keyring || cap_esp_keyring_write(in->keyring, f); }

/* t into the n busiest of out[*have] (det_talker_before order). */
static void rank_talker(det_talker *out, int *have, int n, const det_talker *t) {
    int pos = *have < n ? *have : n;
    while (pos > 0 && det_talker_before(t, &out[pos - 1])) {
        if (pos < n) out[pos] = out[pos - 1];
        pos--;
    }
    if (pos >= n) return;
    out[pos] = *t;
    if (*have < n) (*have)++;
}

int insp_top_talkers(insp *in, det_talker *out, int n) {
    if (n > 16) n = 16;
    if (n <= 0) return 0;
    if (in->nworkers == 1) return det_top_talkers(in->w[0].eng, out, n);
    /* A source is counted by every worker its traffic reached (a PBX's BYEs
     * go with its clients', a response's sender with the requester's, a
     * proxy's requests to UAs on ports outside sip_ports with each UA): its
     * figures are the sum of every worker's, as one engine would have them.
     * Each worker's own busiest are not enough candidates: such a source
     * can lead the run while no worker has it among its five. So every
     * source is ranked by its sum, once: at the first worker that counted a
     * request of it. Once per run (the summary), not per message. */
    int have = 0;
    for (unsigned i = 0; i < in->nworkers; i++) {
        const det_engine *eng = in->w[i].eng;
        uint32_t slots = det_talker_slots(eng);
        for (uint32_t k = 0; k < slots; k++) {
            det_talker sum, one;
            if (!det_talker_at(eng, k, &sum)) continue;
            bool ranked = false; /* by an earlier worker */
            for (unsigned j = 0; j < in->nworkers && !ranked; j++) {
                if (j == i || !det_talker_of(in->w[j].eng, &sum.addr, sum.prefix, &one)) continue;
                ranked = j < i && one.requests > 0;
                sum.messages += one.messages;
                sum.requests += one.requests;
                sum.incidents += one.incidents;
            }
            if (!ranked) rank_talker(out, &have, n, &sum);
        }
    }
    return have;
}
