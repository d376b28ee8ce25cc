/*
 * json_secret_scan.h -- for the key-file tests (test_xc_jws.c,
 * test_xc_pseudo.c): jansson's allocator swapped for one that checks each
 * block for a secret's text as it is freed, so a test can show that no copy
 * of a key file's secret is left behind in freed heap memory.
 *
 *     json_secret_scan_begin(seed_b64);
 *     ... load the key file ...
 *     CHECK(json_secret_scan_end() == 0);   // freed blocks that held it
 */
#ifndef FS38_JSON_SECRET_SCAN_H
#define FS38_JSON_SECRET_SCAN_H

#include <jansson.h> /* memmem: the tests build with -D_GNU_SOURCE */
#include <stdlib.h>
#include <string.h>

static struct {
    const char *needle;
    unsigned found;
    json_malloc_t prev_malloc;
    json_free_t prev_free;
} json_scan;

static void *json_scan_malloc(size_t n) {
    size_t *p = malloc(n + 16);
    if (!p) return NULL;
    *p = n;
    return (char *)p + 16;
}

static void json_scan_free(void *q) {
    if (!q) return;
    char *p = (char *)q - 16;
    if (memmem(q, *(size_t *)p, json_scan.needle, strlen(json_scan.needle))) json_scan.found++;
    free(p);
}

static inline void json_secret_scan_begin(const char *needle) {
    json_get_alloc_funcs(&json_scan.prev_malloc, &json_scan.prev_free);
    json_set_alloc_funcs(json_scan_malloc, json_scan_free);
    json_scan.needle = needle;
    json_scan.found = 0;
}

/* jansson's allocator back; how many freed blocks held the needle */
static inline unsigned json_secret_scan_end(void) {
    json_set_alloc_funcs(json_scan.prev_malloc, json_scan.prev_free);
    return json_scan.found;
}

#endif
