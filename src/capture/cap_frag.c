/*
 * cap_frag.c -- IPv4 and IPv6 fragment reassembly.
 *
 * Owns: the table of datagrams being reassembled (a hash on src, dst, id and
 * for IPv4 the protocol), their byte buffers, the age list used for the
 * timeout and for eviction, and the memory accounting of all that.
 * Must not touch: link or IP header parsing (cap_decode.c hands us the
 * fragmentable part and its offset), UDP/TCP, the emit callback.
 *
 * Policy: as receivers do (Linux, since the FragmentSmack fix, for IPv4 as
 * for IPv6; RFC 5722 for IPv6): a fragment that overlaps what was received
 * without lying inside it drops the whole datagram, one inside it is a
 * duplicate, ignored, so overlaps and duplicates can neither corrupt a
 * datagram nor grow memory. A fragment with no bytes drops the datagram
 * too. One but the last whose length is not a multiple of 8 is, in IPv4,
 * read up to its last multiple of 8 (none left: no bytes), in IPv6
 * discarded alone (RFC 8200 4.5). Reading such a datagram otherwise would
 * show bytes its receiver never took, and hide the message the sender then
 * sends again with the same id. A datagram is complete when its last
 * fragment (MF = 0) fixed the length and the received ranges cover
 * [0, length).
 * Bounds: max_frag_sets datagrams (the oldest is dropped to make room),
 * max_frag_bytes of buffers (oldest dropped first), frag_timeout_s from the
 * first fragment for IPv4 and twice that for IPv6 (Linux's 30 and 60 s by
 * default; RFC 8200 4.5 says 60), 65535 bytes per datagram. Each family
 * keeps its own age list, so each expires oldest first; eviction takes the
 * older of their two oldest. The received ranges grow with
 * the datagram's disorder (counted in max_frag_bytes): a receiver takes
 * tiny fragments in any order, so a fixed number of them would let a message
 * it reads pass unread here.
 */
#include "cap.h"

#include <assert.h>
#include <stdlib.h>

#define FRAG_MAX_DATAGRAM 65535u
/* Disjoint, non-adjacent received ranges per datagram: each starts at a
 * fragment offset, a multiple of 8, so no more can exist. */
#define FRAG_MAX_RANGES (65536u / 8)
#define FRAG_MIN_RANGES 8u
#define FRAG_MIN_BUF 2048u

typedef struct frag_range {
    uint32_t start, end; /* [start, end) */
} frag_range;

typedef struct frag_set {
    struct frag_set *hnext;        /* hash chain */
    struct frag_set *older, *newer; /* its family's age list */
    cap_frag_key key;
    uint64_t hash;
    uint64_t first_ts;
    uint8_t *buf;
    uint32_t cap;
    uint32_t total; /* valid when have_total */
    bool have_total;
    uint8_t proto;  /* from the offset-0 fragment */
    uint32_t nranges, rcap;
    frag_range *ranges; /* sorted, disjoint, non-adjacent; rcap allocated */
} frag_set;

_Static_assert(sizeof(frag_set) + FRAG_MAX_DATAGRAM + FRAG_MAX_RANGES * sizeof(frag_range) <= CAP_FRAG_DATAGRAM_BYTES,
               "CAP_FRAG_DATAGRAM_BYTES holds the largest datagram");

struct cap_frag_table {
    uint32_t max_sets;
    uint64_t max_bytes;
    uint64_t timeout_us[2]; /* by age list: IPv4, IPv6 */
    cap_stats *st;
    frag_set **buckets;
    uint32_t mask;
    frag_set *oldest[2], *newest[2]; /* age lists: IPv4, IPv6 */
    uint32_t nsets;
    size_t bytes;   /* buffers + set structs, including `done` */
    frag_set *done[CAP_MAX_FRAG_NEST]; /* completed datagrams handed out, until released */
    unsigned ndone;
    uint64_t seed;
};

void cap_frag_set_seed(cap_frag_table *t, uint64_t seed) {
    assert(t->nsets == 0);
    t->seed = seed;
}

/* Keyed with the run's seed (cap_decoder_set_seed), as the TCP flows. */
static uint64_t key_hash(const cap_frag_table *t, const cap_frag_key *k) {
    uint8_t b[40];
    memcpy(b, k->src.ip, 16);
    memcpy(b + 16, k->dst.ip, 16);
    memcpy(b + 32, &k->id, 4);
    b[36] = k->proto;
    b[37] = k->src.family;
    b[38] = k->dst.family;
    b[39] = 0;
    return fs_hash_bytes(b, sizeof b, t->seed ^ 0x6672616773ULL);
}

static bool key_eq(const cap_frag_key *a, const cap_frag_key *b) {
    return a->id == b->id && a->proto == b->proto && fs_addr_eq(&a->src, &b->src) &&
           fs_addr_eq(&a->dst, &b->dst);
}

cap_frag_table *cap_frag_new(const cap_config *cfg, cap_stats *st) {
    cap_frag_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->max_sets = cfg->max_frag_sets ? cfg->max_frag_sets : 1;
    t->max_bytes = cfg->max_frag_bytes;
    t->timeout_us[0] = (uint64_t)cfg->frag_timeout_s * FS_USEC;
    t->timeout_us[1] = 2 * t->timeout_us[0];
    t->st = st;
    uint32_t n = 16;
    while (n < t->max_sets && n < (1u << 16)) n <<= 1;
    t->buckets = calloc(n, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    return t;
}

/* The age list s is in. */
static unsigned age_list(const frag_set *s) {
    return s->key.src.family == 6;
}

/* The oldest datagram but `but` (NULL: none), of either family. */
static frag_set *oldest_but(const cap_frag_table *t, const frag_set *but) {
    frag_set *best = NULL;
    for (unsigned i = 0; i < 2; i++) {
        frag_set *c = t->oldest[i];
        if (c && c == but) c = but->newer;
        if (c && (!best || c->first_ts < best->first_ts)) best = c;
    }
    return best;
}

static size_t set_bytes(const frag_set *s) {
    return sizeof *s + s->cap + (size_t)s->rcap * sizeof *s->ranges;
}

static void set_destroy(cap_frag_table *t, frag_set *s) {
    assert(t->bytes >= set_bytes(s));
    t->bytes -= set_bytes(s);
    free(s->buf);
    free(s->ranges);
    free(s);
}

/* Take s out of the hash and the age list (it stays allocated). */
static void set_unlink(cap_frag_table *t, frag_set *s) {
    frag_set **pp = &t->buckets[s->hash & t->mask];
    while (*pp != s) {
        assert(*pp);
        pp = &(*pp)->hnext;
    }
    *pp = s->hnext;
    unsigned a = age_list(s);
    if (s->older) s->older->newer = s->newer;
    else t->oldest[a] = s->newer;
    if (s->newer) s->newer->older = s->older;
    else t->newest[a] = s->older;
    s->hnext = s->older = s->newer = NULL;
    assert(t->nsets > 0);
    t->nsets--;
}

static void set_drop(cap_frag_table *t, frag_set *s) {
    set_unlink(t, s);
    set_destroy(t, s);
    t->st->frag_dropped++;
}

void cap_frag_release(cap_frag_table *t) {
    if (t->ndone) set_destroy(t, t->done[--t->ndone]);
}

void cap_frag_free(cap_frag_table *t) {
    if (!t) return;
    while (t->ndone) cap_frag_release(t);
    for (frag_set *s; (s = oldest_but(t, NULL));) {
        set_unlink(t, s);
        set_destroy(t, s);
    }
    free(t->buckets);
    free(t);
}

void cap_frag_expire(cap_frag_table *t, uint64_t now_us) {
    for (unsigned a = 0; a < 2; a++)
        while (t->oldest[a] && t->oldest[a]->first_ts + t->timeout_us[a] < now_us) set_drop(t, t->oldest[a]);
}

size_t cap_frag_memory(const cap_frag_table *t) {
    return sizeof *t + ((size_t)t->mask + 1) * sizeof *t->buckets + t->bytes;
}

uint32_t cap_frag_chain_max(const cap_frag_table *t) {
    uint32_t best = 0;
    for (uint32_t i = 0; i <= t->mask; i++) {
        uint32_t n = 0;
        for (const frag_set *s = t->buckets[i]; s; s = s->hnext) n++;
        if (n > best) best = n;
    }
    return best;
}

static frag_set *set_find(cap_frag_table *t, const cap_frag_key *k, uint64_t h) {
    for (frag_set *s = t->buckets[h & t->mask]; s; s = s->hnext)
        if (s->hash == h && key_eq(&s->key, k)) return s;
    return NULL;
}

static frag_set *set_create(cap_frag_table *t, const cap_frag_key *k, uint64_t h, uint64_t ts) {
    for (frag_set *o; (t->nsets >= t->max_sets || t->bytes + sizeof(frag_set) > t->max_bytes) &&
                      (o = oldest_but(t, NULL));)
        set_drop(t, o);
    if (t->bytes + sizeof(frag_set) > t->max_bytes) return NULL; /* the completed datagrams held fill it */
    frag_set *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->key = *k;
    s->hash = h;
    s->first_ts = ts;
    s->hnext = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = s;
    unsigned a = age_list(s);
    s->older = t->newest[a];
    if (t->newest[a]) t->newest[a]->newer = s;
    else t->oldest[a] = s;
    t->newest[a] = s;
    t->nsets++;
    t->bytes += sizeof *s;
    if (t->bytes > t->st->frag_bytes_peak) t->st->frag_bytes_peak = t->bytes;
    return s;
}

/* Room for grow more bytes of s within the global byte budget, dropping
 * the oldest other datagrams if needed; counted when true. */
static bool make_room(cap_frag_table *t, frag_set *s, size_t grow) {
    while (t->bytes + grow > t->max_bytes) {
        frag_set *victim = oldest_but(t, s);
        if (!victim) return false;
        set_drop(t, victim);
    }
    if (t->bytes + grow > t->max_bytes) return false;
    t->bytes += grow;
    if (t->bytes > t->st->frag_bytes_peak) t->st->frag_bytes_peak = t->bytes;
    return true;
}

/* Make s->buf hold at least `end` bytes within the global byte budget. */
static bool set_reserve(cap_frag_table *t, frag_set *s, uint32_t end) {
    if (end <= s->cap) return true;
    uint32_t ncap = s->cap ? s->cap : FRAG_MIN_BUF;
    while (ncap < end) ncap *= 2;
    if (ncap > FRAG_MAX_DATAGRAM) ncap = FRAG_MAX_DATAGRAM;
    size_t grow = ncap - s->cap;
    if (!make_room(t, s, grow)) return false;
    uint8_t *nb = realloc(s->buf, ncap);
    if (!nb) {
        t->bytes -= grow;
        return false;
    }
    s->buf = nb;
    s->cap = ncap;
    return true;
}

/* Room for n ranges in s, within the budget too. */
static bool ranges_reserve(cap_frag_table *t, frag_set *s, uint32_t n) {
    if (n <= s->rcap) return true;
    if (n > FRAG_MAX_RANGES) return false;
    uint32_t ncap = s->rcap ? s->rcap : FRAG_MIN_RANGES;
    while (ncap < n) ncap *= 2;
    if (ncap > FRAG_MAX_RANGES) ncap = FRAG_MAX_RANGES;
    size_t grow = (size_t)(ncap - s->rcap) * sizeof *s->ranges;
    if (!make_room(t, s, grow)) return false;
    frag_range *nr = realloc(s->ranges, (size_t)ncap * sizeof *nr);
    if (!nr) {
        t->bytes -= grow;
        return false;
    }
    s->ranges = nr;
    s->rcap = ncap;
    return true;
}

/* The first received range that ends at `at` or later (s->nranges: none).
 * A binary search: a fragment that meets the ranges of a datagram in much
 * disorder (thousands of them), as a flood of duplicates can, costs
 * O(log n) to place rather than a walk over all of them. */
static uint32_t first_reaching(const frag_set *s, uint32_t at) {
    uint32_t lo = 0, hi = s->nranges;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->ranges[mid].end < at) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Copy the parts of [off, end) no range covers yet. */
static void fill_holes(frag_set *s, uint32_t off, uint32_t end, const uint8_t *p) {
    uint32_t cur = off;
    for (uint32_t i = first_reaching(s, off + 1); i < s->nranges && cur < end; i++) {
        const frag_range *r = &s->ranges[i];
        if (r->end <= cur) continue;
        if (r->start >= end) break;
        if (r->start > cur) memcpy(s->buf + cur, p + (cur - off), r->start - cur);
        cur = r->end;
    }
    if (cur < end) memcpy(s->buf + cur, p + (cur - off), end - cur);
}

/* Whether [off, end) meets received bytes without lying inside one range:
 * an overlap, not a duplicate. */
static bool overlaps(const frag_set *s, uint32_t off, uint32_t end) {
    for (uint32_t i = first_reaching(s, off + 1); i < s->nranges; i++) {
        const frag_range *r = &s->ranges[i];
        if (r->end <= off) continue;
        if (r->start >= end) break;
        return off < r->start || end > r->end;
    }
    return false;
}

/* Merge [off, end) into the sorted range list, which has room for one
 * more (ranges_reserve): the ranges it meets or touches, [i, j), become one. */
static void add_range(frag_set *s, uint32_t off, uint32_t end) {
    uint32_t i = first_reaching(s, off), j;
    frag_range m = {off, end};
    for (j = i; j < s->nranges && s->ranges[j].start <= end; j++) {
        if (s->ranges[j].start < m.start) m.start = s->ranges[j].start;
        if (s->ranges[j].end > m.end) m.end = s->ranges[j].end;
    }
    memmove(&s->ranges[i + 1], &s->ranges[j], (size_t)(s->nranges - j) * sizeof m);
    s->ranges[i] = m;
    s->nranges = s->nranges - (j - i) + 1;
}

bool cap_frag_add(cap_frag_table *t, const cap_frag_key *k, uint32_t off, bool more,
                  const uint8_t *p, uint32_t n, uint8_t proto, uint64_t ts_us,
                  const uint8_t **out, uint32_t *out_len, uint8_t *out_proto) {
    if (k->src.family == 6 && more && n % 8) { /* RFC 8200 4.5: the receiver discards it, alone */
        t->st->frag_dropped++;
        return false;
    }
    if (more) n &= ~7u; /* IPv4: the receiver takes the multiples of 8 */
    uint64_t h = key_hash(t, k);
    frag_set *s = set_find(t, k, h);
    if (n == 0) { /* the receiver drops the datagram (Linux) */
        if (s) set_drop(t, s);
        else t->st->frag_dropped++;
        return false;
    }
    uint64_t end = (uint64_t)off + n;
    if (end > FRAG_MAX_DATAGRAM) {
        /* IPv6 discards such a fragment alone (RFC 8200 4.5), and reads the
         * datagram if the rest comes; IPv4 receivers (Linux) drop it all */
        if (s && k->src.family != 6) set_drop(t, s);
        else t->st->frag_dropped++;
        return false;
    }
    if (!s && !(s = set_create(t, k, h, ts_us))) {
        t->st->frag_dropped++;
        return false;
    }
    if (overlaps(s, off, (uint32_t)end)) { /* RFC 5722, and Linux for IPv4 too */
        set_drop(t, s);
        return false;
    }
    if (!more) {
        /* two different ends, or bytes received past this one: hostile, and
         * its receiver drops the datagram too (Linux), so that what the
         * sender sends next with this id is a new one (here it could never
         * complete) */
        if ((s->have_total && s->total != end) || (s->nranges && s->ranges[s->nranges - 1].end > end)) {
            set_drop(t, s);
            return false;
        }
        s->have_total = true;
        s->total = (uint32_t)end;
    }
    if (s->have_total && end > s->total) {
        set_drop(t, s);
        return false;
    }
    /* the next header is the offset-0 fragment's whose bytes are kept: a
     * later copy (a duplicate, ignored) is ignored, what it names too */
    if (off == 0 && !(s->nranges && s->ranges[0].start == 0)) s->proto = proto;
    if (!set_reserve(t, s, (uint32_t)end) || !ranges_reserve(t, s, s->nranges + 1)) {
        set_drop(t, s);
        return false;
    }
    fill_holes(s, off, (uint32_t)end, p);
    add_range(s, off, (uint32_t)end);
    bool complete = s->have_total && s->nranges == 1 && s->ranges[0].start == 0 &&
                    s->ranges[0].end == s->total;
    if (!complete) return false;
    if (t->ndone == CAP_MAX_FRAG_NEST) { /* the caller nests deeper than it may */
        set_drop(t, s);
        return false;
    }
    set_unlink(t, s);
    t->done[t->ndone++] = s;
    t->st->ip_reassembled++;
    *out = s->buf;
    *out_len = s->total;
    *out_proto = s->proto;
    return true;
}
