/*
 * xc_jmem.c -- the memory of one parsed event: an arena jansson fills while
 * xc_event_parse builds the tree, released in one piece (see xc.h).
 *
 * Owns: the allocation hooks handed to jansson (xc_jmem_install), the
 * arenas, and the one piece of thread-local state the hooks need: the arena
 * a parse on this thread is filling. Must not touch: JSON content, events,
 * signatures.
 *
 * Why: the hub parses every published event (a few hundred bytes of JSON
 * become ~100 small jansson allocations) on a worker thread and frees the
 * tree on another thread once the batch is answered. malloc and free of
 * those nodes, and the walk of json_delete, cost the hub about a tenth of
 * its CPU per event (docs/performance.md). Here a parse takes its nodes from
 * a few large blocks, and the tree is dropped by freeing the blocks.
 *
 * Rules that keep it safe:
 * - The hooks pass every request to malloc/free unless this thread has an
 *   arena current, so installing them changes nothing else in the process.
 *   They are installed once, by the program's main, before any thread starts.
 * - While an arena is current, a free of one of its own pointers is a no-op
 *   (jansson frees while it parses: the lexer's buffer, grown tables, a
 *   rejected document); any other pointer goes to free().
 * - A tree built in an arena is never modified and never released with
 *   json_decref: its owner (xc_event) frees the arena. Copy it
 *   (json_deep_copy) to keep or change any of it.
 */
#include "xc.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* jansson's tree of an event takes about 8 bytes per byte of JSON (measured
 * on the examples' events: 1,170 bytes -> 9,536); the first block is sized
 * from the document so one block usually holds it, and each further block
 * doubles the arena. */
enum { JMEM_PER_JSON_BYTE = 10, JMEM_MIN_BLOCK = 2048, JMEM_ALIGN = alignof(max_align_t) };

typedef struct xc_jblock {
    struct xc_jblock *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} xc_jblock;

struct xc_jmem {
    xc_jblock *head; /* the block being filled; older ones follow */
    size_t bytes;    /* sum of the blocks' capacities */
};

static atomic_bool jmem_installed;
static _Thread_local xc_jmem *jmem_current;

static xc_jblock *jblock_new(size_t cap) {
    xc_jblock *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

static void *jmem_take(xc_jmem *a, size_t n) {
    size_t need = (n + JMEM_ALIGN - 1) & ~(size_t)(JMEM_ALIGN - 1);
    if (need < n) return NULL;
    xc_jblock *b = a->head;
    if (b->cap - b->used < need) {
        size_t cap = a->bytes; /* double the arena each time it fills */
        if (cap < need) cap = need;
        xc_jblock *nb = jblock_new(cap);
        if (!nb) return NULL;
        nb->next = b;
        a->head = b = nb;
        a->bytes += cap;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

static bool jmem_owns(const xc_jmem *a, const void *p) {
    const unsigned char *q = p;
    for (const xc_jblock *b = a->head; b; b = b->next)
        if (q >= b->data && q < b->data + b->cap) return true;
    return false;
}

static void *jmem_malloc_hook(size_t n) {
    xc_jmem *a = jmem_current;
    return a ? jmem_take(a, n) : malloc(n);
}

static void jmem_free_hook(void *p) {
    xc_jmem *a = jmem_current;
    if (a && p && jmem_owns(a, p)) return;
    free(p);
}

void xc_jmem_install(void) {
    if (atomic_exchange(&jmem_installed, true)) return;
    json_set_alloc_funcs(jmem_malloc_hook, jmem_free_hook);
}

xc_jmem *xc_jmem_begin(size_t json_len) {
    if (!atomic_load_explicit(&jmem_installed, memory_order_relaxed)) return NULL;
    size_t cap = json_len < (SIZE_MAX - JMEM_MIN_BLOCK) / JMEM_PER_JSON_BYTE
                     ? json_len * JMEM_PER_JSON_BYTE + JMEM_MIN_BLOCK
                     : SIZE_MAX / 2;
    xc_jblock *b = jblock_new(cap);
    if (!b) return NULL;
    /* the arena's own header is the first thing in its first block */
    xc_jmem *a = (xc_jmem *)b->data;
    b->used = (sizeof *a + JMEM_ALIGN - 1) & ~(size_t)(JMEM_ALIGN - 1);
    a->head = b;
    a->bytes = b->cap;
    jmem_current = a;
    return a;
}

void xc_jmem_end(xc_jmem *a) {
    if (a && jmem_current == a) jmem_current = NULL;
}

size_t xc_jmem_bytes(const xc_jmem *a) {
    size_t used = 0;
    for (const xc_jblock *b = a ? a->head : NULL; b; b = b->next) used += b->used;
    return used;
}

void xc_jmem_free(xc_jmem *a) {
    if (!a) return;
    xc_jmem_end(a);
    xc_jblock *b = a->head; /* the header lives in the last block: read it first */
    while (b) {
        xc_jblock *next = b->next;
        free(b);
        b = next;
    }
}
