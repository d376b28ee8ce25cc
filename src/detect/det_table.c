/*
 * det_table.c -- bounded set-associative tables and distinct-count sketches
 * (see det_internal.h for the why).
 *
 * Owns: slot layout, lookup, LRU replacement within a bucket, the sketch.
 * Must not touch: what the entries mean (the detectors own that).
 */
#include <assert.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "det_internal.h"
#include "det_sketch_estimates.h"

/* Tables of TABLE_MAP_BYTES or more are mapped on their own: the kernel
 * hands them over zero-filled and a page costs only once it is touched.
 * (calloc does the same only while its mmap threshold is below the size;
 * glibc raises that threshold when a big block is freed, and then calloc
 * zeroes every byte itself at start-up: 35 M instructions for the tables of
 * two workers.) Smaller ones come from the heap. */
#define TABLE_MAP_BYTES ((size_t)256 * 1024)
/* Under AddressSanitizer (the tests, the fuzzers) every table stays on the
 * heap, where the sanitizer guards its bounds. */
#if defined(__SANITIZE_ADDRESS__)
#define TABLES_MAPPED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TABLES_MAPPED 0
#endif
#endif
#ifndef TABLES_MAPPED
#define TABLES_MAPPED 1
#endif

static bool mapped(size_t bytes) { return TABLES_MAPPED && bytes >= TABLE_MAP_BYTES; }

/* Zeroed memory for a table's slots or tags; tags are 64-byte aligned (a
 * bucket's 8 tags are two cache lines; a mapping is page aligned). */
static void *table_alloc(size_t bytes, bool tags) {
    if (mapped(bytes)) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    if (!tags) return calloc(1, bytes);
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (p) memset(p, 0, bytes);
    return p;
}

static void table_release(void *p, size_t bytes) {
    if (!p) return;
    if (mapped(bytes)) munmap(p, bytes);
    else free(p);
}

bool det_table_init(det_table *t, uint32_t capacity, size_t entry_size) {
    uint32_t buckets = 1;
    while ((uint64_t)buckets * DET_WAYS < capacity && buckets < (1u << 24)) buckets <<= 1;
    memset(t, 0, sizeof *t);
    t->entry_size = (entry_size + 7u) & ~(size_t)7u;
    t->nbuckets = buckets;
    size_t n = (size_t)buckets * DET_WAYS;
    t->slots = table_alloc(n * t->entry_size, false);
    t->tags = table_alloc(n * sizeof *t->tags, true);
    if (!t->slots || !t->tags) {
        det_table_free(t);
        return false;
    }
    return true;
}

void det_table_free(det_table *t) {
    size_t n = (size_t)t->nbuckets * DET_WAYS;
    table_release(t->slots, n * t->entry_size);
    table_release(t->tags, n * sizeof *t->tags);
    t->slots = NULL;
    t->tags = NULL;
}

static inline det_entry *slot(const det_table *t, uint32_t i) {
    return (det_entry *)(t->slots + (size_t)i * t->entry_size);
}

static inline uint32_t slot_index(const det_table *t, const void *entry) {
    size_t off = (size_t)((const uint8_t *)entry - t->slots);
    assert(off % t->entry_size == 0 && off / t->entry_size < det_table_slots(t));
    return (uint32_t)(off / t->entry_size);
}

static inline uint32_t bucket_of(const det_table *t, uint64_t key) {
    return (uint32_t)(key & (t->nbuckets - 1)) * DET_WAYS;
}

void *det_table_find(det_table *t, uint64_t key) {
    if (key == 0) key = 1;
    uint32_t base = bucket_of(t, key);
    const det_tag *g = t->tags + base;
    for (uint32_t w = 0; w < DET_WAYS; w++)
        if (g[w].key == key) return slot(t, base + w);
    return NULL;
}

/* Index of the slot an insert of a new key would use: a free one, else the
 * least recently seen. */
static uint32_t pick_victim(const det_table *t, uint32_t base) {
    uint32_t best = base;
    for (uint32_t w = 0; w < DET_WAYS; w++) {
        uint32_t i = base + w;
        if (!t->tags[i].key) return i;
        if (t->tags[i].stamp < t->tags[best].stamp) best = i;
    }
    return best;
}

void *det_table_victim(det_table *t, uint64_t key) {
    if (key == 0) key = 1;
    uint32_t base = bucket_of(t, key);
    for (uint32_t w = 0; w < DET_WAYS; w++)
        if (t->tags[base + w].key == key || t->tags[base + w].key == 0) return NULL;
    return slot(t, pick_victim(t, base));
}

void *det_table_upsert(det_table *t, uint64_t key, uint64_t now_us, bool *created, bool *evicted) {
    if (key == 0) key = 1; /* 0 marks an empty slot */
    uint32_t base = bucket_of(t, key);
    for (uint32_t w = 0; w < DET_WAYS; w++) {
        if (t->tags[base + w].key != key) continue;
        det_entry *e = slot(t, base + w);
        if (now_us > t->tags[base + w].stamp) e->last_us = t->tags[base + w].stamp = now_us;
        *created = false;
        if (evicted) *evicted = false;
        return e;
    }
    uint32_t i = pick_victim(t, base);
    bool was_live = t->tags[i].key != 0;
    if (was_live) t->evicted++; else t->live++;
    if (evicted) *evicted = was_live;
    det_entry *victim = slot(t, i);
    /* An empty slot's entry is already zero (a fresh table, or
     * det_table_remove cleared it): only a replaced one is cleared, so a new
     * entry costs the cache lines its detectors write, not all of them. */
    if (was_live) memset(victim, 0, t->entry_size);
    victim->key = t->tags[i].key = key;
    victim->last_us = t->tags[i].stamp = now_us;
    *created = true;
    return victim;
}

void *det_table_upsert_recent(det_table *t, uint64_t key, uint64_t now_us, uint64_t max_age_us, bool *created) {
    det_entry *e = det_table_find(t, key);
    if (e && now_us > e->last_us && now_us - e->last_us > max_age_us) {
        uint32_t i = slot_index(t, e);
        memset(e, 0, t->entry_size);
        e->key = t->tags[i].key;
        e->last_us = t->tags[i].stamp = now_us;
        *created = true;
        return e;
    }
    return det_table_upsert(t, key, now_us, created, NULL);
}

void det_table_remove(det_table *t, void *entry) {
    uint32_t i = slot_index(t, entry);
    if (t->tags[i].key) t->live--;
    t->tags[i].key = 0;
    t->tags[i].stamp = 0;
    memset(entry, 0, t->entry_size);
}

void det_table_touch(det_table *t, void *entry, uint64_t now_us) {
    uint32_t i = slot_index(t, entry);
    det_entry *e = entry;
    if (now_us > t->tags[i].stamp) e->last_us = t->tags[i].stamp = now_us;
}

void det_table_demote(det_table *t, void *entry) {
    uint32_t i = slot_index(t, entry);
    det_entry *e = entry;
    e->last_us = t->tags[i].stamp = 1; /* 0 marks an empty slot */
}

void det_table_restamp(det_table *t, uint64_t now_us) {
    for (uint32_t i = 0; i < det_table_slots(t); i++) {
        if (!t->tags[i].key || t->tags[i].stamp <= now_us) continue;
        t->tags[i].stamp = now_us;
        slot(t, i)->last_us = now_us;
    }
}

/* ---- sketch ------------------------------------------------------------------ */

#define SKETCH_DENSE 1u /* bit 0 of bits[0]: the form */

#define FP_BITS 21u    /* three fingerprints a word */

/* The item's fingerprint: the hash's top bits, independent of the table
 * index bits (the low ones). */
static inline unsigned fingerprint(uint64_t item_hash) { return (unsigned)(item_hash >> (64 - FP_BITS)); }

static inline unsigned sparse_count(const det_sketch *s) { return (unsigned)(s->bits[0] >> 1) & 31u; }
/* Slot i (1..DET_SKETCH_EXACT) is word i / 3, bits (i % 3) * 21 up. */
static inline unsigned slot_get(const det_sketch *s, unsigned i) {
    return (unsigned)(s->bits[i / 3] >> (i % 3 * FP_BITS)) & ((1u << FP_BITS) - 1);
}
static inline void slot_set(det_sketch *s, unsigned i, unsigned fp) {
    s->bits[i / 3] |= (uint64_t)fp << (i % 3 * FP_BITS); /* slots above the count are zero */
}
static bool sparse_has(const det_sketch *s, unsigned fp) {
    unsigned n = sparse_count(s);
    for (unsigned i = 1; i <= n; i++)
        if (slot_get(s, i) == fp) return true;
    return false;
}

/* Dense bit 1..511 of a fingerprint (multiply-shift: each bit gets 4104
 * or 4105 of the 2^21 fingerprints). */
static inline unsigned dense_bit(unsigned fp) { return 1u + ((fp * 511u) >> FP_BITS); }
static inline bool dense_has(const det_sketch *s, unsigned fp) {
    unsigned bit = dense_bit(fp);
    return (s->bits[bit >> 6] >> (bit & 63)) & 1u;
}
static bool dense_add(det_sketch *s, unsigned fp) {
    unsigned bit = dense_bit(fp);
    uint64_t mask = 1ULL << (bit & 63);
    bool fresh = !(s->bits[bit >> 6] & mask);
    s->bits[bit >> 6] |= mask;
    return fresh;
}

static void sparse_to_dense(det_sketch *s) {
    unsigned fps[DET_SKETCH_EXACT], n = sparse_count(s);
    for (unsigned i = 1; i <= n; i++) fps[i - 1] = slot_get(s, i);
    det_sketch_clear(s);
    s->bits[0] = SKETCH_DENSE;
    for (unsigned i = 0; i < n; i++) dense_add(s, fps[i]);
}

static bool add_fingerprint(det_sketch *s, unsigned fp) {
    if (s->bits[0] & SKETCH_DENSE) return dense_add(s, fp);
    if (sparse_has(s, fp)) return false;
    unsigned n = sparse_count(s);
    if (n == DET_SKETCH_EXACT) {
        sparse_to_dense(s);
        dense_add(s, fp);
        return true;
    }
    slot_set(s, n + 1, fp);
    s->bits[0] += 2; /* the count, bits 1-5 */
    return true;
}

bool det_sketch_add(det_sketch *s, uint64_t item_hash) { return add_fingerprint(s, fingerprint(item_hash)); }

void det_sketch_merge(det_sketch *a, const det_sketch *b) {
    if (!(b->bits[0] & SKETCH_DENSE)) {
        for (unsigned i = 1, n = sparse_count(b); i <= n; i++) (void)add_fingerprint(a, slot_get(b, i));
        return;
    }
    if (!(a->bits[0] & SKETCH_DENSE)) sparse_to_dense(a);
    for (unsigned w = 0; w < 8; w++) a->bits[w] |= b->bits[w];
}

uint32_t det_sources_merge(uint64_t a[8], const uint64_t b[8], uint32_t cap) {
    det_sketch x, y;
    memcpy(x.bits, a, sizeof x.bits);
    memcpy(y.bits, b, sizeof y.bits);
    det_sketch_merge(&x, &y);
    memcpy(a, x.bits, sizeof x.bits);
    return det_sketch_count(&x, cap);
}

bool det_sketch_has(const det_sketch *s, uint64_t item_hash) {
    unsigned fp = fingerprint(item_hash);
    return (s->bits[0] & SKETCH_DENSE) ? dense_has(s, fp) : sparse_has(s, fp);
}

/* Bits set in the sketch: the popcnt instruction where the CPU has it (the
 * generic __builtin_popcountll is a library call on baseline x86-64); the
 * sum is inlined into each variant and compiled for its target. */
static inline __attribute__((always_inline)) unsigned sum_bits(const det_sketch *s) {
    unsigned set = 0;
    for (int i = 0; i < 8; i++) set += (unsigned)__builtin_popcountll(s->bits[i]);
    return set;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("popcnt"))) static unsigned bits_set_popcnt(const det_sketch *s) { return sum_bits(s); }
#endif

static unsigned bits_set(const det_sketch *s) {
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("popcnt")) return bits_set_popcnt(s);
#endif
    return sum_bits(s);
}

uint32_t det_sketch_count(const det_sketch *s, uint32_t added) {
    uint32_t estimate;
    if (!(s->bits[0] & SKETCH_DENSE)) {
        estimate = sparse_count(s);
    } else {
        unsigned set = bits_set(s) - 1; /* not the form bit */
        estimate = set >= 511 ? 3200 /* saturated: at least this many */ : det_sketch_estimate[set];
        if (estimate <= DET_SKETCH_EXACT) estimate = DET_SKETCH_EXACT + 1; /* it had that many */
    }
    return estimate < added ? estimate : added;
}
