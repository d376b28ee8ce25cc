/*
 * cap_sctp.c -- SCTP user messages split over several DATA chunks.
 *
 * Owns: the user messages being put back together (RFC 9260 section 6.9):
 * the fragments held per direction of an association, their bytes, the age
 * list used for the timeout and for eviction, and the memory accounting of
 * all that.
 * Must not touch: the SCTP common header and the chunk walk (cap_decode.c
 * hands us each DATA chunk that is not a whole user message), SIP, the emit
 * callback.
 *
 * A sender numbers the fragments of one user message with consecutive TSNs,
 * the first flagged B and the last E (it may not interleave other messages'
 * fragments between them), so a message is complete when a B fragment, an E
 * fragment and every TSN between them are held, in any arrival order.
 * I-DATA (RFC 8260) lets messages interleave: its fragments are kept per
 * message (the direction and its stream, U flag and message ID) and
 * ordered by their FSN, numbered from 0 at the B fragment, in place of TSN.
 * Fragments are kept per direction (ports and verification tag, not the
 * addresses: a multi-homed association sends over several), in
 * TSN order counted from well before the direction's first fragment, so a
 * TSN wrapping around needs no special case. A TSN already held is a retransmission:
 * the first copy wins.
 *
 * Bounds: SCTP_MAX_DIRS directions holding fragments and SCTP_MAX_BYTES of
 * them, or the IP fragment limits (max_frag_sets, max_frag_bytes) when
 * lower (the oldest direction is given up to make room), SCTP_MAX_FRAGS
 * fragments (a message in more parts has its first ones merged into one)
 * and max_message + 1 bytes per direction, frag_timeout_s from a
 * fragment's arrival (a direction's parts that came since stay: a message
 * that never finished does not take the next one with it). Fragments
 * given up are counted (sctp_dropped). A message that outgrows max_message is handed on as its
 * first max_message + 1 bytes marked oversized (as TCP does), and the rest
 * of it is skipped as it arrives.
 *
 * The table is cap_frag.c's design (a seeded hash, an age list, buffers
 * grown within a byte budget by giving up the oldest): the two hold
 * different things and are read side by side.
 */
#include "cap.h"

#include <assert.h>
#include <stdlib.h>

#define SCTP_MAX_DIRS 256
#define SCTP_MAX_FRAGS 128
#define SCTP_MAX_BYTES CAP_SCTP_MAX_BYTES
#define SCTP_BUCKETS 512 /* a power of two */
#define SCTP_SEEN_SLOTS 4096 /* chunks remembered by cap_sctp_repeat: a power of two */
#define SCTP_TSN_BEHIND (1u << 30) /* TSNs sort right from this far before a direction's first */
#define SCTP_FLAG_E 1
#define SCTP_FLAG_B 2

typedef struct sctp_frag {
    uint32_t tsn, ntsn; /* the TSNs it covers: tsn onward, ntsn of them (1, or
                         * more once the first parts of a message in more than
                         * SCTP_MAX_FRAGS were merged) */
    uint32_t off, len; /* its bytes: buf[off, off + len) */
    uint8_t flags;
    uint64_t ts;       /* when it came (merged: the earliest part's) */
} sctp_frag;

typedef struct sctp_dir {
    struct sctp_dir *hnext;
    struct sctp_dir *older, *newer; /* age list */
    uint16_t sport, dport;        /* with vtag: the direction (dir_hash) */
    uint32_t vtag;
    uint64_t msg;                 /* cap_sctp_chunk's: an I-DATA message, 0 for DATA */
    uint64_t hash;
    uint64_t first_ts;            /* when its oldest fragment held came, or earlier */
    uint32_t base;                /* TSN order is counted from here: SCTP_TSN_BEHIND
                                   * before the first fragment's (an earlier one may
                                   * come later) */
    bool skipping;                /* the rest of an oversized message: skip_tsn onward */
    uint32_t skip_tsn;
    uint32_t nfrags;
    sctp_frag frags[SCTP_MAX_FRAGS]; /* sorted by tsn - base */
    uint8_t *buf;
    uint32_t used, cap;
} sctp_dir;

struct cap_sctp_table {
    cap_stats *st;
    uint32_t hold;       /* bytes a direction may hold: max_message + 1 */
    uint32_t max_dirs;   /* SCTP_MAX_DIRS or max_frag_sets */
    size_t max_bytes;    /* SCTP_MAX_BYTES or max_frag_bytes */
    uint64_t timeout_us;
    uint64_t seed;
    sctp_dir *buckets[SCTP_BUCKETS];
    sctp_dir *oldest, *newest;
    uint32_t ndirs;
    size_t bytes;        /* directions and their buffers */
    uint8_t *out;        /* the message completed last (hold bytes, from the first
                          * fragment on: most captures have none) */
    uint64_t *seen;      /* SCTP_SEEN_SLOTS fingerprints of the DATA chunks read lately
                          * (cap_sctp_repeat), 0 free; made at the first */
};

cap_sctp_table *cap_sctp_new(const cap_config *cfg, cap_stats *st) {
    cap_sctp_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->st = st;
    t->hold = (cfg->sip.max_message ? cfg->sip.max_message : 65535) + 1;
    t->timeout_us = (uint64_t)cfg->frag_timeout_s * FS_USEC;
    t->max_dirs = cfg->max_frag_sets && cfg->max_frag_sets < SCTP_MAX_DIRS ? cfg->max_frag_sets : SCTP_MAX_DIRS;
    t->max_bytes = cfg->max_frag_bytes && cfg->max_frag_bytes < SCTP_MAX_BYTES ? cfg->max_frag_bytes : SCTP_MAX_BYTES;
    return t;
}

void cap_sctp_set_seed(cap_sctp_table *t, uint64_t seed) {
    assert(t->ndirs == 0);
    t->seed = seed;
}

/* A direction of an association: its ports and verification tag, not its
 * addresses. A multi-homed association (RFC 9260 section 6.4) sends over
 * several address pairs, a retransmission often to an alternate one, so the
 * parts of one message may arrive between other addresses (v4 and v6 even);
 * the verification tag, chosen at random per association by the receiver,
 * tells associations on the same ports apart (as Wireshark reassembles). */
static uint64_t dir_hash(const cap_sctp_table *t, const fs_endpoint *src, const fs_endpoint *dst, uint32_t vtag,
                         uint64_t msg) {
    uint8_t b[16];
    memcpy(b, &src->port, 2);
    memcpy(b + 2, &dst->port, 2);
    memcpy(b + 4, &vtag, 4);
    memcpy(b + 8, &msg, 8);
    return fs_hash_bytes(b, sizeof b, t->seed ^ 0x73637470ULL);
}

static void dir_unlink(cap_sctp_table *t, sctp_dir *s) {
    sctp_dir **pp = &t->buckets[s->hash & (SCTP_BUCKETS - 1)];
    while (*pp != s) {
        assert(*pp);
        pp = &(*pp)->hnext;
    }
    *pp = s->hnext;
    if (s->older) s->older->newer = s->newer;
    else t->oldest = s->newer;
    if (s->newer) s->newer->older = s->older;
    else t->newest = s->older;
    assert(t->ndirs > 0 && t->bytes >= sizeof *s + s->cap);
    t->ndirs--;
    t->bytes -= sizeof *s + s->cap;
    free(s->buf);
    free(s);
}

/* Give up a direction and the fragments it holds. */
static void dir_drop(cap_sctp_table *t, sctp_dir *s) {
    t->st->sctp_dropped += s->nfrags;
    dir_unlink(t, s);
}

void cap_sctp_free(cap_sctp_table *t) {
    if (!t) return;
    while (t->oldest) dir_unlink(t, t->oldest);
    free(t->out);
    free(t->seen);
    free(t);
}

/* Bytes in a direction's buffer no fragment holds any more. */
typedef struct sctp_hole {
    uint32_t off, len;
} sctp_hole;

static void close_holes(sctp_dir *s, sctp_hole *h, uint32_t n);
static void add_hole(sctp_hole *h, uint32_t *n, const sctp_frag *f);

/* Give up the fragments of s that came more than the timeout before
 * now_us. Those that came since (the parts of a message begun lately, when
 * an older one never finished) stay: true then, s moved to the young end of
 * the age list with the time of its oldest one. */
static bool dir_prune(cap_sctp_table *t, sctp_dir *s, uint64_t now_us) {
    sctp_hole holes[SCTP_MAX_FRAGS];
    uint32_t kept = 0, nholes = 0;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t j = 0; j < s->nfrags; j++) {
        if (s->frags[j].ts + t->timeout_us < now_us) {
            add_hole(holes, &nholes, &s->frags[j]);
            continue;
        }
        if (s->frags[j].ts < oldest) oldest = s->frags[j].ts;
        s->frags[kept++] = s->frags[j];
    }
    if (kept == 0) return false;
    t->st->sctp_dropped += s->nfrags - kept;
    s->nfrags = kept;
    close_holes(s, holes, nholes);
    s->first_ts = oldest;
    s->skipping = false; /* the tail of an oversized message would have come by now */
    if (s != t->newest) { /* to the young end */
        if (s->older) s->older->newer = s->newer;
        else t->oldest = s->newer;
        s->newer->older = s->older;
        s->older = t->newest;
        s->newer = NULL;
        t->newest->newer = s;
        t->newest = s;
    }
    return true;
}

void cap_sctp_expire(cap_sctp_table *t, uint64_t now_us) {
    while (t->oldest && (now_us == UINT64_MAX || t->oldest->first_ts + t->timeout_us < now_us))
        if (now_us == UINT64_MAX || !dir_prune(t, t->oldest, now_us)) dir_drop(t, t->oldest);
}

size_t cap_sctp_memory(const cap_sctp_table *t) {
    return sizeof *t + (t->out ? t->hold : 0) + (t->seen ? SCTP_SEEN_SLOTS * sizeof *t->seen : 0) + t->bytes;
}

/* A chunk's fingerprint (never 0) picks its slot; a slot keeps the last
 * chunk there, so a retransmission is found while fewer than a few thousand
 * chunks came in between (SCTP retransmits within seconds: RFC 9260 6.3). */
bool cap_sctp_repeat(cap_sctp_table *t, uint16_t sport, uint16_t dport, uint32_t vtag, uint32_t tsn) {
    if (!t->seen && !(t->seen = calloc(SCTP_SEEN_SLOTS, sizeof *t->seen))) return false;
    uint8_t b[12];
    memcpy(b, &sport, 2);
    memcpy(b + 2, &dport, 2);
    memcpy(b + 4, &vtag, 4);
    memcpy(b + 8, &tsn, 4);
    uint64_t fp = fs_hash_bytes(b, sizeof b, t->seed ^ 0x74736e73ULL) | 1;
    uint64_t *slot = &t->seen[fp & (SCTP_SEEN_SLOTS - 1)];
    if (*slot == fp) return true;
    *slot = fp;
    return false;
}

static sctp_dir *dir_find(cap_sctp_table *t, const cap_sctp_chunk *c, uint64_t h) {
    for (sctp_dir *s = t->buckets[h & (SCTP_BUCKETS - 1)]; s; s = s->hnext)
        if (s->hash == h && s->vtag == c->vtag && s->msg == c->msg && s->sport == c->src.port &&
            s->dport == c->dst.port)
            return s;
    return NULL;
}

static sctp_dir *dir_create(cap_sctp_table *t, const cap_sctp_chunk *c, uint64_t h) {
    while ((t->ndirs >= t->max_dirs || t->bytes + sizeof(sctp_dir) > t->max_bytes) && t->oldest)
        dir_drop(t, t->oldest);
    if (t->bytes + sizeof(sctp_dir) > t->max_bytes || (!t->out && !(t->out = malloc(t->hold)))) return NULL;
    sctp_dir *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->sport = c->src.port;
    s->dport = c->dst.port;
    s->vtag = c->vtag;
    s->msg = c->msg;
    s->hash = h;
    s->first_ts = c->ts_us;
    s->base = c->tsn - SCTP_TSN_BEHIND;
    s->hnext = t->buckets[h & (SCTP_BUCKETS - 1)];
    t->buckets[h & (SCTP_BUCKETS - 1)] = s;
    s->older = t->newest;
    if (t->newest) t->newest->newer = s;
    else t->oldest = s;
    t->newest = s;
    t->ndirs++;
    t->bytes += sizeof *s;
    return s;
}

/* Room for n more bytes in s->buf within the direction's and the table's
 * budgets (older directions are given up for the latter). */
static bool dir_reserve(cap_sctp_table *t, sctp_dir *s, uint32_t n) {
    if (s->used + n <= s->cap) return true;
    uint32_t ncap = s->cap ? s->cap : 2048;
    while (ncap < s->used + n) ncap *= 2;
    if (ncap > t->hold) ncap = t->hold;
    if (ncap < s->used + n) return false;
    size_t grow = ncap - s->cap;
    while (t->bytes + grow > t->max_bytes && t->oldest) {
        sctp_dir *victim = t->oldest != s ? t->oldest : s->newer;
        if (!victim) return false;
        dir_drop(t, victim);
    }
    if (t->bytes + grow > t->max_bytes) return false;
    uint8_t *nb = realloc(s->buf, ncap);
    if (!nb) return false;
    s->buf = nb;
    s->cap = ncap;
    t->bytes += grow;
    return true;
}

/* The TSN right after fragment f. */
static uint32_t next_tsn(const sctp_frag *f) { return f->tsn + f->ntsn; }

/* Where fragment tsn goes in s->frags (its index if held: *held). */
static uint32_t frag_slot(const sctp_dir *s, uint32_t tsn, bool *held) {
    uint32_t lo = 0, hi = s->nfrags, rel = tsn - s->base;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->frags[mid].tsn - s->base < rel) lo = mid + 1;
        else hi = mid;
    }
    *held = (lo < s->nfrags && s->frags[lo].tsn == tsn) ||
            (lo > 0 && tsn - s->frags[lo - 1].tsn < s->frags[lo - 1].ntsn); /* inside a merged one */
    return lo;
}

/* Where the run holding fragment j starts: back over consecutive TSNs to
 * the nearest B, not past the E of another message (the B when there is
 * one; check its flag). */
static uint32_t run_start(const sctp_dir *s, uint32_t j) {
    while (!(s->frags[j].flags & SCTP_FLAG_B) && j > 0 && next_tsn(&s->frags[j - 1]) == s->frags[j].tsn &&
           !(s->frags[j - 1].flags & SCTP_FLAG_E))
        j--;
    return j;
}

/* The run of fragments from a B at index i with consecutive TSNs: its last
 * index in *last; true if that one is flagged E (a whole message). */
static bool run_from(const sctp_dir *s, uint32_t i, uint32_t *last) {
    uint32_t j = i;
    while (!(s->frags[j].flags & SCTP_FLAG_E) && j + 1 < s->nfrags && s->frags[j + 1].tsn == next_tsn(&s->frags[j]) &&
           !(s->frags[j + 1].flags & SCTP_FLAG_B))
        j++;
    *last = j;
    return (s->frags[j].flags & SCTP_FLAG_E) != 0;
}

/* Copy fragments [i, last] into t->out (at most t->hold bytes), take them
 * out of s, and return the bytes copied. */
static uint32_t take_run(cap_sctp_table *t, sctp_dir *s, uint32_t i, uint32_t last) {
    uint32_t n = 0;
    for (uint32_t j = i; j <= last && n < t->hold; j++) {
        uint32_t k = s->frags[j].len < t->hold - n ? s->frags[j].len : t->hold - n;
        if (k) memcpy(t->out + n, s->buf + s->frags[j].off, k);
        n += k;
    }
    memmove(&s->frags[i], &s->frags[last + 1], (s->nfrags - last - 1) * sizeof s->frags[0]);
    s->nfrags -= last - i + 1;
    return n;
}

/* Close the holes that the fragments taken out of s left in s->buf (the
 * n of h, in any order): the bytes after each move down over it, in order
 * of where they are, so a move down never lands on bytes not yet moved.
 * Between calls s->buf is packed (each fragment's bytes right after those
 * of the one that came before it), so the holes and the fragments left
 * fill [0, s->used). The cost is the holes' (k fragments taken out: at
 * most k squared, once) and a binary search per fragment left, not the
 * square of what is held: parts that never finish, held beside a message,
 * do not make each message completed beside them dearer. */
static void close_holes(sctp_dir *s, sctp_hole *h, uint32_t n) {
    for (uint32_t j = 1; j < n; j++) { /* by where they are */
        sctp_hole x = h[j];
        uint32_t k = j;
        for (; k > 0 && h[k - 1].off > x.off; k--) h[k] = h[k - 1];
        h[k] = x;
    }
    uint32_t shift = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t from = h[j].off + h[j].len, to = j + 1 < n ? h[j + 1].off : s->used;
        shift += h[j].len;
        if (to > from) memmove(s->buf + from - shift, s->buf + from, to - from);
        h[j].len = shift; /* now: how far the bytes after it moved */
    }
    for (uint32_t i = 0; i < s->nfrags && n; i++) {
        uint32_t lo = 0, hi = n; /* the holes before the fragment */
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (h[mid].off < s->frags[i].off) lo = mid + 1;
            else hi = mid;
        }
        if (lo) s->frags[i].off -= h[lo - 1].len;
    }
    s->used -= shift;
}

/* Note fragment f's bytes as a hole in h (an empty one leaves none). */
static void add_hole(sctp_hole *h, uint32_t *n, const sctp_frag *f) {
    if (f->len) h[(*n)++] = (sctp_hole){.off = f->off, .len = f->len};
}

/* Keep only fragments [i, last] of s (the others are given up). */
static void keep_only(cap_sctp_table *t, sctp_dir *s, uint32_t i, uint32_t last) {
    sctp_hole holes[SCTP_MAX_FRAGS];
    uint32_t nholes = 0;
    for (uint32_t j = 0; j < s->nfrags; j++)
        if (j < i || j > last) add_hole(holes, &nholes, &s->frags[j]);
    t->st->sctp_dropped += s->nfrags - (last - i + 1);
    memmove(&s->frags[0], &s->frags[i], (last - i + 1) * sizeof s->frags[0]);
    s->nfrags = last - i + 1;
    close_holes(s, holes, nholes);
}

/* s holds one run of fragments from its B: merge them into one that covers
 * their TSNs, so that a message in more parts than SCTP_MAX_FRAGS is held
 * whole as long as its bytes fit (t->out, unused between calls, puts the
 * bytes in order). */
static void merge_run(cap_sctp_table *t, sctp_dir *s) {
    uint32_t n = 0;
    for (uint32_t j = 0; j < s->nfrags; j++) {
        if (s->frags[j].len) memcpy(t->out + n, s->buf + s->frags[j].off, s->frags[j].len);
        n += s->frags[j].len;
    }
    if (n) memcpy(s->buf, t->out, n);
    sctp_frag first = s->frags[0];
    for (uint32_t j = 1; j < s->nfrags; j++)
        if (s->frags[j].ts < first.ts) first.ts = s->frags[j].ts;
    first.ntsn = next_tsn(&s->frags[s->nfrags - 1]) - first.tsn;
    first.off = 0;
    first.len = n;
    s->frags[0] = first;
    s->nfrags = 1;
    s->used = n;
}

/* The whole message completed, or the first bytes of one too long to hold,
 * in *msg; s freed when it holds nothing more. */
static int finish_run(cap_sctp_table *t, sctp_dir *s, uint32_t i, uint32_t last, bool whole, const uint8_t **msg,
                      uint32_t *len) {
    sctp_hole holes[SCTP_MAX_FRAGS];
    uint32_t nholes = 0;
    for (uint32_t j = i; j <= last; j++) add_hole(holes, &nholes, &s->frags[j]);
    *len = take_run(t, s, i, last);
    *msg = t->out;
    if (whole) t->st->sctp_reassembled++;
    if (s->nfrags == 0 && !s->skipping) dir_unlink(t, s);
    else close_holes(s, holes, nholes);
    return whole ? CAP_SCTP_MESSAGE : CAP_SCTP_OVERSIZED;
}

int cap_sctp_add(cap_sctp_table *t, const cap_sctp_chunk *c, bool known_only, const uint8_t **msg, uint32_t *len) {
    uint64_t h = dir_hash(t, &c->src, &c->dst, c->vtag, c->msg);
    sctp_dir *s = dir_find(t, c, h);
    if (s && s->skipping && c->tsn == s->skip_tsn) { /* the tail of a message handed on oversized */
        s->skip_tsn++;
        t->st->sctp_dropped++;
        if (c->flags & SCTP_FLAG_E) s->skipping = false;
        if (s->nfrags == 0 && !s->skipping) dir_unlink(t, s);
        return CAP_SCTP_HELD;
    }
    if (!s) {
        if (known_only && !(c->flags & SCTP_FLAG_B)) return CAP_SCTP_IGNORED;
        if (!(s = dir_create(t, c, h))) {
            t->st->sctp_dropped++;
            return CAP_SCTP_IGNORED;
        }
    }
    bool held;
    uint32_t at = frag_slot(s, c->tsn, &held);
    if (held) return CAP_SCTP_HELD; /* a retransmission: the first copy stays */
    if (c->len > t->hold && (c->flags & SCTP_FLAG_B)) {
        /* a first part alone longer than a message may be: its first bytes
         * are handed on oversized, the rest of the message skipped, the
         * other parts the direction holds left as they are */
        s->skipping = !(c->flags & SCTP_FLAG_E);
        s->skip_tsn = c->tsn + 1;
        if (s->nfrags == 0 && !s->skipping) dir_unlink(t, s);
        *msg = c->data;
        *len = t->hold;
        return CAP_SCTP_OVERSIZED;
    }
    if (s->nfrags == SCTP_MAX_FRAGS || s->used + c->len > t->hold) {
        /* Too much held. When what is held of the message this fragment
         * extends runs from its B to here, the other messages' fragments
         * are given up for it, or, if it alone is too long, its first bytes
         * are handed on as oversized; otherwise the direction is given up
         * and starts again with this fragment. */
        uint32_t last;
        if (at > 0 && next_tsn(&s->frags[at - 1]) == c->tsn && !(c->flags & SCTP_FLAG_B)) {
            uint32_t i = run_start(s, at - 1);
            if ((s->frags[i].flags & SCTP_FLAG_B) && !run_from(s, i, &last) && last == at - 1) {
                uint32_t bytes = c->len;
                for (uint32_t j = i; j <= last; j++) bytes += s->frags[j].len;
                if (bytes <= t->hold) {
                    keep_only(t, s, i, last);
                    if (s->nfrags == SCTP_MAX_FRAGS) merge_run(t, s); /* many small parts */
                    at = s->nfrags;
                    goto insert;
                }
                s->skipping = !(c->flags & SCTP_FLAG_E);
                s->skip_tsn = c->tsn + 1;
                t->st->sctp_dropped++; /* this fragment (and the rest, skipped) is not read */
                return finish_run(t, s, i, last, false, msg, len);
            }
        }
        dir_drop(t, s);
        if (known_only && !(c->flags & SCTP_FLAG_B)) return CAP_SCTP_IGNORED;
        if (!(s = dir_create(t, c, h))) {
            t->st->sctp_dropped++;
            return CAP_SCTP_IGNORED;
        }
        at = 0;
        if (c->len > t->hold) { /* one fragment bigger than a message may be */
            dir_drop(t, s);
            t->st->sctp_dropped++;
            return CAP_SCTP_IGNORED;
        }
    }
insert:
    if (!dir_reserve(t, s, c->len)) {
        dir_drop(t, s);
        t->st->sctp_dropped++;
        return CAP_SCTP_IGNORED;
    }
    memmove(&s->frags[at + 1], &s->frags[at], (s->nfrags - at) * sizeof s->frags[0]);
    s->frags[at] = (sctp_frag){
        .tsn = c->tsn, .ntsn = 1, .off = s->used, .len = c->len, .flags = c->flags, .ts = c->ts_us};
    s->nfrags++;
    if (c->len) memcpy(s->buf + s->used, c->data, c->len); /* an empty part has no buffer yet */
    s->used += c->len;
    uint32_t i = run_start(s, at), last;
    if ((s->frags[i].flags & SCTP_FLAG_B) && run_from(s, i, &last)) return finish_run(t, s, i, last, true, msg, len);
    return CAP_SCTP_HELD;
}
