/*
 * det_shared.c -- what the engines of several workers must agree on.
 *
 * Owns: two bounded tables, each bucket behind one of LOCK_STRIPES mutexes
 * (two workers rarely want the same stripe at once), and the hash seed every
 * worker's engine uses (so an entity has the same key on every worker).
 *  - counts: (destination address, window index) -> requests. SIP-FLOOD-002
 *    counts requests toward a destination from many sources; with --workers
 *    N those sources land on different workers, so each worker adds its share
 *    here in small batches (flood_dest in det_behaviour.c) and reads back the
 *    sum. Windows are aligned to capture time (index = ts / window), so
 *    workers whose capture clocks differ still add to the same window.
 *  - calls: Call-ID key -> the worker tracking that call. A call relayed by a
 *    proxy shows up on two legs whose clients land on two workers; one engine
 *    alone counts it once (det_calls.c), so the second worker leaves it alone.
 *    The reader claims a call as it reads its INVITE, in capture order
 *    (det_shared_claim_call_id): the leg that came first wins, as with one
 *    engine. It sees INVITEs in UDP datagrams, HEP packets and at the start
 *    of TCP segments; one later in a segment is claimed by the first worker
 *    to run it.
 *  - callers: the per-caller counters of the fraud rules (det_caller:
 *    FRAUD-VOL-001, FRAUD-WANGIRI-001, FRAUD-IRSF-001 by caller). A caller's
 *    calls come from any address, so from every worker; kept here, they add
 *    up as one engine's would. The table is cut in CALLER_STRIPES by the
 *    key's top bits, each a det_table with its own mutex (det_table keeps
 *    table-wide counts): buckets are picked by the low bits, so the stripes
 *    together evict as one table of their total size would. Only call
 *    setup, answer and end take a stripe.
 *  - incidents: incident key -> the event_id of the incident and the span of
 *    activity its shares reported. Several workers can each open a share of
 *    one incident (the pipeline merges their reports into one); the second
 *    share takes the first one's event_id here, so the messages each share
 *    hands over as evidence name the id of the merged report. Taken when an
 *    incident opens, and by an open one every quarter of its quiet window.
 *    Also the shares' hits together, while below a rule's threshold: the
 *    responses of one sender go to its clients' workers, and the threshold
 *    is the incident's, not each share's (det_shared_incident_hits).
 *  - peers: "this address sent a request to that one" (SIP-SCAN-002's
 *    peer pairs, det_behaviour.c). A phone registering from port 5060 is
 *    sharded by its own address, the PBX qualifying it by the PBX's, so the
 *    worker judging the PBX never saw the phone's REGISTER in its own
 *    tables. One bit per pair in a lock-free bitset (a false hit costs a
 *    scanner one probe, as in the sketches), in two generations of
 *    PEER_EPOCH_US of capture time: a pair is remembered one to two hours.
 *    (det_peers: a single engine keeps its own, det_engine.c.)
 *    Each word carries the epoch it was written in, so a generation is
 *    taken over for a new epoch without emptying 2 MiB (a capture whose
 *    every packet is an hour on would have paid that per packet).
 * Must not touch: what the counters mean (det_calls.c), events.
 *
 * Bounded: fixed 8-way buckets; a new entry replaces the oldest of its bucket.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "det_internal.h"

#define SHARED_WAYS 8u
#define LOCK_STRIPES 64u
#define CALLER_STRIPES 16u /* a power of two */
#define PEER_WORDS ((size_t)1 << 18) /* 2 MiB per generation */
#define PEER_DATA_BITS 48u            /* per word; the top 16 bits: its epoch */
#define PEER_DATA_MASK ((1ULL << PEER_DATA_BITS) - 1)
#define PEER_EPOCH_US (3600ULL * 1000000ULL)

typedef struct shared_slot {
    uint64_t key;
    uint64_t age;   /* counts: window index + 1; calls: capture time + 1; 0 = empty */
    uint32_t value; /* counts: the sum; calls: the owner */
} shared_slot;

typedef struct shared_table {
    uint32_t nbuckets; /* power of two */
    shared_slot *slots;
} shared_table;

typedef struct shared_incident {
    uint64_t key;
    uint64_t first_us, last_us; /* activity the shares reported; last_us 0 = empty */
    uint64_t hits;              /* the shares' hits together (det_shared_incident_hits) */
    bool talker_counted;        /* a share became reportable (det_shared_incident_first_reportable) */
    char id[40];
} shared_incident;

struct det_shared {
    shared_table counts, calls;
    shared_incident *incidents; /* incident_buckets * SHARED_WAYS */
    uint32_t incident_buckets;  /* power of two */
    uint64_t seed;
    bool locks_ready;
    det_peers peers;
    /* one per cache line, so stripes do not share lines between cores */
    struct {
        _Alignas(64) pthread_mutex_t m;
    } lock[LOCK_STRIPES];
    struct {
        _Alignas(64) pthread_mutex_t m; /* guards t */
        det_table t;
    } callers[CALLER_STRIPES];
};

/* The callers stripe of a caller key: its top bits (the buckets use the low). */
static unsigned caller_stripe(uint64_t key) {
    return (unsigned)(key >> 60) & (CALLER_STRIPES - 1);
}

/* The mutex of key's bucket in t. */
static pthread_mutex_t *stripe(det_shared *s, const shared_table *t, uint64_t key) {
    return &s->lock[(key & (t->nbuckets - 1)) % LOCK_STRIPES].m;
}

static bool table_init(shared_table *t, uint32_t capacity) {
    uint32_t buckets = 1;
    while ((uint64_t)buckets * SHARED_WAYS < capacity && buckets < (1u << 20)) buckets <<= 1;
    t->nbuckets = buckets;
    t->slots = calloc((size_t)buckets * SHARED_WAYS, sizeof *t->slots);
    return t->slots != NULL;
}

/* The slot of key, or a fresh one (value 0) replacing the oldest of its bucket. */
static shared_slot *table_slot(shared_table *t, uint64_t key, uint64_t age, bool *found) {
    shared_slot *b = t->slots + (size_t)(key & (t->nbuckets - 1)) * SHARED_WAYS, *oldest = b;
    for (unsigned i = 0; i < SHARED_WAYS; i++) {
        if (b[i].age && b[i].key == key) {
            *found = true;
            return &b[i];
        }
        if (b[i].age < oldest->age) oldest = &b[i];
    }
    *found = false;
    *oldest = (shared_slot){.key = key, .age = age};
    return oldest;
}

det_shared *det_shared_new(uint32_t max_dests, uint32_t max_calls, uint32_t max_incidents, fs_err *e) {
    det_shared *s = aligned_alloc(64, sizeof *s); /* sizeof is a multiple of 64 */
    if (s) memset(s, 0, sizeof *s);
    bool ok = s && table_init(&s->counts, max_dests) && table_init(&s->calls, max_calls);
    if (ok) {
        s->incident_buckets = 1;
        while ((uint64_t)s->incident_buckets * SHARED_WAYS < max_incidents && s->incident_buckets < (1u << 20))
            s->incident_buckets <<= 1;
        ok = (s->incidents = calloc((size_t)s->incident_buckets * SHARED_WAYS, sizeof *s->incidents)) != NULL;
    }
    ok = ok && det_peers_init(&s->peers);
    uint32_t per_stripe = (det_callers_capacity(max_calls) + CALLER_STRIPES - 1) / CALLER_STRIPES;
    for (unsigned i = 0; ok && i < CALLER_STRIPES; i++)
        ok = det_table_init(&s->callers[i].t, per_stripe, sizeof(det_caller));
    if (!ok) {
        det_shared_free(s);
        fs_fail(e, FS_ERR_NOMEM, "out of memory for the workers' shared tables");
        return NULL;
    }
    randombytes_buf(&s->seed, sizeof s->seed);
    /* Every hold is a few table operations: a waiter spins a little before
     * it sleeps (glibc's adaptive mutex), instead of a futex sleep and wake
     * per collision. */
    pthread_mutexattr_t spin;
    pthread_mutexattr_init(&spin);
    pthread_mutexattr_settype(&spin, PTHREAD_MUTEX_ADAPTIVE_NP);
    for (unsigned i = 0; i < LOCK_STRIPES; i++) pthread_mutex_init(&s->lock[i].m, &spin);
    for (unsigned i = 0; i < CALLER_STRIPES; i++) pthread_mutex_init(&s->callers[i].m, &spin);
    pthread_mutexattr_destroy(&spin);
    s->locks_ready = true;
    return s;
}

void det_shared_free(det_shared *s) {
    if (!s) return;
    if (s->locks_ready) {
        for (unsigned i = 0; i < LOCK_STRIPES; i++) pthread_mutex_destroy(&s->lock[i].m);
        for (unsigned i = 0; i < CALLER_STRIPES; i++) pthread_mutex_destroy(&s->callers[i].m);
    }
    for (unsigned i = 0; i < CALLER_STRIPES; i++) det_table_free(&s->callers[i].t);
    free(s->counts.slots);
    free(s->calls.slots);
    free(s->incidents);
    det_peers_fini(&s->peers);
    free(s);
}

uint64_t det_shared_seed(const det_shared *s) { return s->seed; }
void det_shared_set_seed(det_shared *s, uint64_t seed) { s->seed = seed; }

/* The callers table is reported by worker 0's engine (det_engine_memory). */
size_t det_shared_memory(const det_shared *s) {
    if (!s) return 0;
    return sizeof *s + ((size_t)s->counts.nbuckets + s->calls.nbuckets) * SHARED_WAYS * sizeof(shared_slot) +
           (size_t)s->incident_buckets * SHARED_WAYS * sizeof(shared_incident) + det_peers_memory(&s->peers);
}

/* ---- peers --------------------------------------------------------------------- */

static uint64_t peer_epoch(uint64_t ts) { return ts / PEER_EPOCH_US; }
static size_t peer_word(uint64_t pair) { return (size_t)((pair ^ pair >> 29) & (PEER_WORDS - 1)); }
static uint64_t peer_bit(uint64_t pair) { return 1ULL << ((pair >> 32) % PEER_DATA_BITS); }
/* A word's top bits: the epoch it holds bits of (what a generation's
 * epoch + 1 is, cut to 16 bits; a word of another epoch holds none) */
static uint64_t peer_tag(uint64_t held) { return (held & 0xffff) << PEER_DATA_BITS; }

bool det_peers_init(det_peers *p) {
    memset(p, 0, sizeof *p);
    for (unsigned g = 0; g < 2; g++)
        if (!(p->bits[g] = calloc(PEER_WORDS, sizeof(uint64_t)))) {
            det_peers_fini(p);
            return false;
        }
    return true;
}

void det_peers_fini(det_peers *p) {
    free((void *)p->bits[0]);
    free((void *)p->bits[1]);
    memset(p, 0, sizeof *p);
}

size_t det_peers_memory(const det_peers *p) { return p->bits[0] ? 2 * PEER_WORDS * sizeof(uint64_t) : 0; }

/* The generation for writes at epoch e, and the epoch + 1 it holds: a
 * generation of an older epoch is taken over (its words, tagged with that
 * epoch, read as empty). A write from further back in capture time goes
 * into the newer one. */
static unsigned peer_generation(det_peers *p, uint64_t e, uint64_t *held) {
    unsigned g = (unsigned)(e & 1);
    *held = atomic_load_explicit(&p->epoch[g], memory_order_acquire);
    if (*held < e + 1 && atomic_compare_exchange_strong(&p->epoch[g], held, e + 1)) *held = e + 1;
    return g;
}

void det_peers_add(det_peers *p, uint64_t pair, uint64_t ts) {
    uint64_t held;
    unsigned g = peer_generation(p, peer_epoch(ts), &held);
    _Atomic uint64_t *w = p->bits[g] + peer_word(pair);
    uint64_t tag = peer_tag(held), bit = peer_bit(pair);
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) { /* most are known already: no write, no cache line moving */
        uint64_t now = (old & ~PEER_DATA_MASK) == tag ? old | bit : tag | bit;
        if (now == old || atomic_compare_exchange_weak_explicit(w, &old, now, memory_order_relaxed,
                                                                memory_order_relaxed))
            return;
    }
}

bool det_peers_has(const det_peers *p, uint64_t pair, uint64_t ts) {
    uint64_t e = peer_epoch(ts);
    for (unsigned g = 0; g < 2; g++) {
        uint64_t held = atomic_load_explicit(&p->epoch[g], memory_order_acquire);
        if (!held || held < e) continue; /* none, or older than epoch e - 1 */
        uint64_t word = atomic_load_explicit(&p->bits[g][peer_word(pair)], memory_order_relaxed);
        if ((word & ~PEER_DATA_MASK) == peer_tag(held) && (word & peer_bit(pair))) return true;
    }
    return false;
}

det_peers *det_shared_peers(det_shared *s) { return &s->peers; }
void det_shared_peer_add(det_shared *s, uint64_t pair, uint64_t ts) { det_peers_add(&s->peers, pair, ts); }
bool det_shared_peer_has(const det_shared *s, uint64_t pair, uint64_t ts) { return det_peers_has(&s->peers, pair, ts); }

/* The bucket of an incident key, and its lock (held by the caller for the
 * bucket's use). */
static shared_incident *incident_bucket(det_shared *s, uint64_t key, pthread_mutex_t **m) {
    uint32_t b = (uint32_t)(key & (s->incident_buckets - 1));
    *m = &s->lock[b % LOCK_STRIPES].m;
    return s->incidents + (size_t)b * SHARED_WAYS;
}

static shared_incident *incident_find(shared_incident *b, uint64_t key) {
    for (unsigned i = 0; i < SHARED_WAYS; i++)
        if (b[i].last_us && b[i].key == key) return &b[i];
    return NULL;
}

void det_shared_incident_id(det_shared *s, uint64_t incident_key, uint64_t ts, uint64_t quiet_us, char id[40]) {
    pthread_mutex_t *m;
    shared_incident *b = incident_bucket(s, incident_key, &m), *in;
    uint64_t t = ts ? ts : 1;
    pthread_mutex_lock(m);
    in = incident_find(b, incident_key);
    if (in && t + quiet_us >= in->first_us && t <= in->last_us + quiet_us) {
        memcpy(id, in->id, sizeof in->id); /* a share of an incident another worker has open */
        if (t < in->first_us) in->first_us = t;
        if (t > in->last_us) in->last_us = t;
    } else {
        if (!in) { /* a new incident: in place of the one quiet the longest */
            in = b;
            for (unsigned i = 1; i < SHARED_WAYS; i++)
                if (b[i].last_us < in->last_us) in = &b[i];
        }
        in->key = incident_key;
        in->first_us = in->last_us = t;
        in->hits = 0;
        in->talker_counted = false;
        memcpy(in->id, id, sizeof in->id);
    }
    pthread_mutex_unlock(m);
}

void det_shared_step_back(det_shared *s, uint64_t now_us) {
    if (!s || !s->incidents) return;
    for (uint32_t b = 0; b < s->incident_buckets; b++) {
        pthread_mutex_t *m = &s->lock[b % LOCK_STRIPES].m;
        shared_incident *in = s->incidents + (size_t)b * SHARED_WAYS;
        pthread_mutex_lock(m);
        for (unsigned i = 0; i < SHARED_WAYS; i++)
            if (in[i].last_us > now_us && in[i].last_us - now_us > DET_CLOCK_STEP_US) in[i].last_us = 0;
        pthread_mutex_unlock(m);
    }
}

void det_shared_incident_seen(det_shared *s, uint64_t incident_key, uint64_t ts) {
    pthread_mutex_t *m;
    shared_incident *b = incident_bucket(s, incident_key, &m);
    pthread_mutex_lock(m);
    shared_incident *in = incident_find(b, incident_key);
    if (in && ts > in->last_us) in->last_us = ts;
    pthread_mutex_unlock(m);
}

uint64_t det_shared_incident_hits(det_shared *s, uint64_t incident_key, uint64_t ts, uint64_t quiet_us, uint64_t add) {
    pthread_mutex_t *m;
    shared_incident *b = incident_bucket(s, incident_key, &m);
    uint64_t t = ts ? ts : 1, total = 0;
    pthread_mutex_lock(m);
    shared_incident *in = incident_find(b, incident_key);
    if (in && t + quiet_us >= in->first_us && t <= in->last_us + quiet_us) { /* this incident, not a later one */
        in->hits += add;
        if (t < in->first_us) in->first_us = t;
        if (t > in->last_us) in->last_us = t;
        total = in->hits;
    }
    pthread_mutex_unlock(m);
    return total;
}

bool det_shared_incident_first_reportable(det_shared *s, uint64_t incident_key, uint64_t ts, uint64_t quiet_us) {
    pthread_mutex_t *m;
    shared_incident *b = incident_bucket(s, incident_key, &m);
    uint64_t t = ts ? ts : 1;
    bool first = true;
    pthread_mutex_lock(m);
    shared_incident *in = incident_find(b, incident_key);
    if (in && t + quiet_us >= in->first_us && t <= in->last_us + quiet_us) { /* this incident, not a later one */
        first = !in->talker_counted;
        in->talker_counted = true;
    }
    pthread_mutex_unlock(m);
    return first;
}

det_table *det_shared_callers_lock(det_shared *s, uint64_t caller_key) {
    unsigned i = caller_stripe(caller_key);
    pthread_mutex_lock(&s->callers[i].m);
    return &s->callers[i].t;
}

void det_shared_callers_unlock(det_shared *s, uint64_t caller_key) {
    pthread_mutex_unlock(&s->callers[caller_stripe(caller_key)].m);
}

void det_shared_callers_count(const det_shared *s, uint32_t *slots, uint32_t *live) {
    *slots = *live = 0;
    for (unsigned i = 0; i < CALLER_STRIPES; i++) {
        *slots += det_table_slots(&s->callers[i].t);
        *live += s->callers[i].t.live;
    }
}

uint32_t det_shared_add(det_shared *s, const fs_addr *a, uint64_t window, uint32_t delta) {
    uint64_t key = fs_addr_hash(a, s->seed ^ ((window + 1) * 0x9e3779b97f4a7c15ULL));
    bool found;
    pthread_mutex_t *m = stripe(s, &s->counts, key);
    pthread_mutex_lock(m);
    uint32_t total = 0;
    if (delta) {
        shared_slot *sl = table_slot(&s->counts, key, window + 1, &found);
        sl->value = sl->value > UINT32_MAX - delta ? UINT32_MAX : sl->value + delta;
        total = sl->value;
    } else {
        /* only asked (a window left earlier, the end of the run): a window
         * no longer held summed nothing still known, and taking a slot for
         * it would push out the oldest of its bucket, maybe another
         * destination's window in progress */
        const shared_slot *b = s->counts.slots + (size_t)(key & (s->counts.nbuckets - 1)) * SHARED_WAYS;
        for (unsigned i = 0; i < SHARED_WAYS; i++)
            if (b[i].age == window + 1 && b[i].key == key) total = b[i].value;
    }
    pthread_mutex_unlock(m);
    return total;
}

void det_shared_claim_call_id(det_shared *s, fs_str call_id, unsigned owner, uint64_t ts) {
    (void)det_shared_claim_call(s, det_key_seeded(s->seed, call_id.p, call_id.len, DET_SALT_CALL), owner, ts);
}

void det_shared_prefetch_call(const det_shared *s, uint64_t call_key) {
    const shared_slot *b = s->calls.slots + (size_t)(call_key & (s->calls.nbuckets - 1)) * SHARED_WAYS;
    for (unsigned i = 0; i < SHARED_WAYS * sizeof *b; i += 64) __builtin_prefetch((const char *)b + i, 1);
}

bool det_shared_claim_call(det_shared *s, uint64_t call_key, uint32_t owner, uint64_t ts) {
    bool found;
    pthread_mutex_t *m = stripe(s, &s->calls, call_key);
    pthread_mutex_lock(m);
    shared_slot *sl = table_slot(&s->calls, call_key, ts + 1, &found);
    if (!found) sl->value = owner;
    if (ts + 1 > sl->age) sl->age = ts + 1;
    bool mine = sl->value == owner;
    pthread_mutex_unlock(m);
    return mine;
}
