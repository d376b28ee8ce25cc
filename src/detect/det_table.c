/*
 * det_table.c -- bounded set-associative tables and distinct-count sketches
 * (see det_internal.h for the why).
 *
 * Owns: slot layout, lookup, LRU replacement within a bucket, the sketch.
 * Must not touch: what the entries mean (the detectors own that).
 */
#include <math.h>
#include <stdlib.h>

#include "det_internal.h"

bool det_table_init(det_table *t, uint32_t capacity, size_t entry_size) {
    uint32_t buckets = 1;
    while ((uint64_t)buckets * DET_WAYS < capacity && buckets < (1u << 24)) buckets <<= 1;
    memset(t, 0, sizeof *t);
    t->entry_size = (entry_size + 7u) & ~(size_t)7u;
    t->nbuckets = buckets;
    t->slots = calloc((size_t)buckets * DET_WAYS, t->entry_size);
    return t->slots != NULL;
}

void det_table_free(det_table *t) {
    free(t->slots);
    t->slots = NULL;
}

static inline det_entry *slot(const det_table *t, uint32_t i) {
    return (det_entry *)(t->slots + (size_t)i * t->entry_size);
}

void *det_table_at(det_table *t, uint32_t i) {
    det_entry *e = slot(t, i);
    return e->key ? e : NULL;
}

void *det_table_find(det_table *t, uint64_t key) {
    if (key == 0) key = 1;
    uint32_t base = (uint32_t)(key & (t->nbuckets - 1)) * DET_WAYS;
    for (uint32_t w = 0; w < DET_WAYS; w++) {
        det_entry *e = slot(t, base + w);
        if (e->key == key) return e;
    }
    return NULL;
}

void *det_table_victim(det_table *t, uint64_t key) {
    if (key == 0) key = 1;
    uint32_t base = (uint32_t)(key & (t->nbuckets - 1)) * DET_WAYS;
    det_entry *oldest = NULL;
    for (uint32_t w = 0; w < DET_WAYS; w++) {
        det_entry *e = slot(t, base + w);
        if (e->key == key || e->key == 0) return NULL;
        if (!oldest || e->last_us < oldest->last_us) oldest = e;
    }
    return oldest;
}

void *det_table_upsert(det_table *t, uint64_t key, uint64_t now_us, bool *created, bool *evicted) {
    if (key == 0) key = 1; /* 0 marks an empty slot */
    uint32_t base = (uint32_t)(key & (t->nbuckets - 1)) * DET_WAYS;
    det_entry *victim = NULL;
    for (uint32_t w = 0; w < DET_WAYS; w++) {
        det_entry *e = slot(t, base + w);
        if (e->key == key) {
            if (now_us > e->last_us) e->last_us = now_us;
            *created = false;
            if (evicted) *evicted = false;
            return e;
        }
        if (!victim || (victim->key && (!e->key || e->last_us < victim->last_us))) victim = e;
    }
    bool was_live = victim->key != 0;
    if (was_live) t->evicted++; else t->live++;
    if (evicted) *evicted = was_live;
    memset(victim, 0, t->entry_size);
    victim->key = key;
    victim->last_us = now_us;
    *created = true;
    return victim;
}

void det_table_remove(det_table *t, void *entry) {
    det_entry *e = entry;
    if (e->key) t->live--;
    memset(e, 0, t->entry_size);
}

/* ---- sketch ------------------------------------------------------------------ */

bool det_sketch_add(det_sketch *s, uint64_t h) {
    unsigned bit = (unsigned)(h >> 55) & 511u; /* top bits: independent of table index bits */
    uint64_t mask = 1ULL << (bit & 63);
    bool fresh = !(s->bits[bit >> 6] & mask);
    s->bits[bit >> 6] |= mask;
    return fresh;
}

uint32_t det_sketch_count(const det_sketch *s) {
    unsigned set = 0;
    for (int i = 0; i < 8; i++) set += (unsigned)__builtin_popcountll(s->bits[i]);
    if (set == 0) return 0;
    if (set >= 512) return 3200; /* saturated: at least this many */
    double zeros = 512.0 - set;
    return (uint32_t)(-512.0 * log(zeros / 512.0) + 0.5);
}
