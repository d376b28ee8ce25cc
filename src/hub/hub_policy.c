/*
 * hub_policy.c -- the hub's policy decisions, kept apart from the network
 * so that each can be tested alone (tests/unit/test_hub_policy.c).
 *
 * Owns: the accepted time window on `created` (replay protection beside the
 * store's (issuer, event_id, version) uniqueness), expiry, visibility of an
 * event pushed to a follower (the store's rule, in C, failing closed), the
 * per-member token buckets and a depth pre-scan for JSON bodies.
 * Must not touch: sockets, SQL, signatures.
 */
#include <pthread.h>
#include <stdlib.h>

#include "hub_server.h"
#include "hub_store.h"

hub_time_verdict hub_policy_time(int64_t created_ms, int64_t valid_until_ms, int64_t now_ms,
                                 uint32_t past_s, uint32_t future_s) {
    if (valid_until_ms < now_ms) return HUB_TIME_EXPIRED;
    if (created_ms < now_ms - (int64_t)past_s * 1000) return HUB_TIME_TOO_OLD;
    if (created_ms > now_ms + (int64_t)future_s * 1000) return HUB_TIME_TOO_NEW;
    return HUB_TIME_OK;
}

const char *hub_time_code(hub_time_verdict v) {
    switch (v) {
    case HUB_TIME_OK: return "ok";
    case HUB_TIME_TOO_OLD: return "too_old";
    case HUB_TIME_TOO_NEW: return "too_new";
    case HUB_TIME_EXPIRED: return "expired";
    }
    return "?";
}

static bool tlp_known(fs_str tlp) {
    static const char *const known[] = {"clear", "green", "amber", "amber+strict", "red"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (fs_str_eq_cstr(tlp, known[i])) return true;
    return false;
}

bool hub_policy_visible(fs_str tlp, fs_str issuer, const fs_str *audience, size_t n_audience,
                        fs_str reader, int64_t valid_until_ms, int64_t now_ms) {
    if (valid_until_ms < now_ms) return false;
    if (reader.len == 0) return false;
    if (!tlp_known(tlp)) return fs_str_eq(issuer, reader);
    return hub_visible_to(tlp, issuer, audience, n_audience, reader);
}

bool hub_bucket_take(hub_bucket *b, double rate, double burst, double n, int64_t now_ms,
                     uint32_t *retry_s) {
    if (rate <= 0) return true;
    if (n > burst) {
        if (retry_s) *retry_s = 0;
        return false;
    }
    if (b->last_ms == 0) {
        b->tokens = burst;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) / 1000.0 * rate;
        if (b->tokens > burst) b->tokens = burst;
    }
    /* The hub's clock is the wall clock: when it steps back (NTP), refill
     * from the new time on. Keeping the later time stopped the refill until
     * the clock caught up (an hour's step: an hour of 429s, each saying
     * "retry in 1 s"). */
    b->last_ms = now_ms;
    if (b->tokens >= n) {
        b->tokens -= n;
        return true;
    }
    if (retry_s) {
        double s = (n - b->tokens) / rate;
        /* a tiny rate (hub.yaml takes 0.0000001) waits past 32 bits: casting
         * that is undefined (it wrapped); say the longest wait instead */
        uint32_t r = s >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
        if ((double)r < s && r < UINT32_MAX) r++;
        *retry_s = r < 1 ? 1 : r;
    }
    return false;
}

/* ---- per-member limiter ------------------------------------------------------ */

typedef struct limiter_entry {
    char *issuer;
    hub_bucket b;
} limiter_entry;

struct hub_limiter {
    pthread_mutex_t mu;
    double rate, burst;
    limiter_entry *v; /* members are few (the registry bounds them): linear */
    size_t n, cap;
};

hub_limiter *hub_limiter_new(double rate, double burst) {
    hub_limiter *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_mutex_init(&l->mu, NULL);
    l->rate = rate;
    l->burst = burst;
    return l;
}

void hub_limiter_free(hub_limiter *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->v[i].issuer);
    free(l->v);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static limiter_entry *limiter_get(hub_limiter *l, const char *issuer) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].issuer, issuer)) return &l->v[i];
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        limiter_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = cap;
    }
    char *copy = strdup(issuer);
    if (!copy) return NULL;
    l->v[l->n] = (limiter_entry){copy, {0, 0}};
    return &l->v[l->n++];
}

bool hub_limiter_take(hub_limiter *l, const char *issuer, double n, int64_t now_ms,
                      uint32_t *retry_s) {
    if (l->rate <= 0) return true;
    pthread_mutex_lock(&l->mu);
    limiter_entry *en = limiter_get(l, issuer);
    bool ok = en ? hub_bucket_take(&en->b, l->rate, l->burst, n, now_ms, retry_s) : false;
    if (!en && retry_s) *retry_s = 1;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

bool hub_json_depth_ok(const char *buf, size_t len, unsigned max_depth) {
    unsigned depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if ((c == '}' || c == ']') && depth > 0) depth--;
    }
    return true;
}
