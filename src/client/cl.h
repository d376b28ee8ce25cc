/*
 * cl.h -- the hub clients: what `fs38 share`, `fs38 pull` and `fs38 sight`
 * need besides option parsing (docs/exchange.md, /v1 API of the hub).
 *
 * Owns: a small blocking HTTPS/1.1 client with mutual TLS (cl_http.c), the
 * share policy filter that turns an inspector event into the exact bytes to
 * sign (cl_share.c), and the local indicator cache `fs38 pull` keeps
 * (cl_cache.c). Must not touch: signature checks (src/exchange does them),
 * detection, printing (errors are returned in an fs_err naming the hub,
 * host:port or field at fault).
 *
 * Every response is bounded (headers, body, one stream event) and every
 * network wait has a timeout.
 */
#ifndef FS_CL_H
#define FS_CL_H

#include <jansson.h>

#include "../core/fs_core.h"
#include "../exchange/xc.h"

/* ---- HTTPS with mutual TLS (cl_http.c) -------------------------------------------- */

#define CL_HOST_MAX 255
#define CL_HEADERS_MAX_BYTES 65536
#define CL_BODY_MAX (64u << 20)          /* largest JSON response read */
#define CL_EXPECT_MIN_BODY (64u << 10) /* a body this large asks Expect: 100-continue first */
#define CL_EXPECT_WAIT_MS 1000         /* ...and goes anyway when no answer comes in this time */
#define CL_ANSWER_TIMEOUTS 30            /* a whole answer: at most 30 x --timeout (5 min by default) */
#define CL_SSE_MAX_BYTES (XC_JWS_MAX_BYTES + 4096) /* one stream event */

typedef struct cl_hub {
    char host[CL_HOST_MAX + 1];
    char port[8];
    char prefix[256];     /* path before /v1 ("" normally) */
    const char *cert;     /* member certificate (PEM, chain allowed) */
    const char *key;      /* its private key (PEM) */
    const char *ca;       /* CA that signed the hub's certificate (PEM) */
    int timeout_ms;       /* connect, handshake and each read (default 10 s); a whole
                           * answer: CL_ANSWER_TIMEOUTS times it */
} cl_hub;

/* url: https://HOST:PORT[/prefix] (HOST may be [v6]; port default 443). */
fs_code cl_hub_init(cl_hub *h, const char *url, const char *cert, const char *key, const char *ca,
                    fs_err *e);

typedef struct cl_response {
    int status;
    char *body;           /* NUL terminated, owned */
    size_t len;
    char content_type[64];
    char retry_after[16];
} cl_response;

/* One request on a fresh connection (Connection: close). body may be NULL.
 * Fails (FS_ERR_IO) when the hub cannot be reached, the TLS handshake fails
 * (the message says why: unknown CA, name mismatch, our certificate refused
 * ...), or the response is malformed or larger than max_body. An HTTP
 * error status is not a failure: check r->status. */
fs_code cl_request(const cl_hub *h, const char *method, const char *path, const char *ctype,
                   const char *body, size_t blen, size_t max_body, cl_response *r, fs_err *e);
void cl_response_free(cl_response *r);
/* A hub's JSON answer parsed with jansson, unless it holds more values
 * than its size allows for (1024 + a value per 16 bytes): jansson takes
 * 50-100 bytes per value, so "[],[],..." would cost 50 times its size (a
 * 64 MiB answer, 3 GB). NULL with je->text set when it does not parse. */
json_t *cl_json_loadb(const char *buf, size_t len, json_error_t *je);
/* Text a hub sent, made fit for a terminal or a log in place: control
 * characters (line ends, escape sequences) become spaces. Returns s. */
char *cl_printable(char *s);

/* The server-sent events stream (GET path with Accept: text/event-stream). */
typedef struct cl_stream cl_stream;

typedef struct cl_sse {
    char id[32];
    char event[32];
    char *data;           /* owned by the stream, valid until the next call */
    size_t len;
} cl_sse;

/* Opens the stream; a status other than 200 is an error naming it (and the
 * hub's error message). last_id (may be NULL) is sent as Last-Event-ID. */
cl_stream *cl_stream_open(const cl_hub *h, const char *path, const char *last_id, fs_err *e);
/* 1: an event in ev; 0: nothing within timeout_ms (comments such as pings
 * are consumed); -1: the stream ended or failed (e says which). */
int cl_stream_next(cl_stream *s, cl_sse *ev, int timeout_ms, fs_err *e);
/* Microseconds since the hub last sent anything (pings included): a stream
 * silent for several ping intervals is dead and should be reopened. */
uint64_t cl_stream_idle_us(const cl_stream *s);
void cl_stream_close(cl_stream *s);

/* The same parsers over bytes in memory (tests, fuzzing): a whole HTTP
 * response, delivered `step` bytes at a time (0 = as much as fits), so
 * every split of lines and chunks is exercised. */
fs_code cl_response_parse(const char *buf, size_t len, size_t step, size_t max_body, cl_response *r,
                          fs_err *e);
typedef void (*cl_sse_fn)(void *user, const cl_sse *ev);
/* A whole stream response; fn per event. Returns the number of events, or
 * -1 (e set) when the response or a line is malformed or over the bounds. */
long cl_stream_parse(const char *buf, size_t len, size_t step, cl_sse_fn fn, void *user, fs_err *e);

/* ---- share policy (cl_share.c) ---------------------------------------------------- */

typedef struct cl_policy {
    uint64_t types;                /* bit per XC_ENUM_EVENT_TYPE index; 0 = every type */
    int min_confidence;            /* 0 = any */
    char tlp[16];                  /* "" = keep the event's */
    json_t *audience;              /* array of issuers for handling.audience, or NULL; owned */
    const xc_pseudo_keys *pseudo;  /* pseudonymise victims under the newest key; NULL = drop */
    int64_t valid_for_s;           /* > 0: valid_until = now + this */
} cl_policy;

typedef enum cl_verdict {
    CL_SHARE = 0,
    CL_SKIP_TYPE,          /* event_type not selected */
    CL_SKIP_CONFIDENCE,    /* below min_confidence */
    CL_SKIP_EXPIRED,       /* valid_until already past */
    CL_SKIP_FEEDBACK,      /* SIGHTING / FALSE_POSITIVE: `fs38 sight` publishes those */
    CL_SKIP_ECHO,          /* INTEL-001: a match of a partner's event; re-sharing it would echo */
    CL_SKIP_NO_OBSERVABLE, /* nothing left once clear subscriber identifiers were dropped */
    CL_SKIP_INVALID,       /* not a valid event (e names the field) */
    CL_VERDICT__COUNT
} cl_verdict;

const char *cl_verdict_name(cl_verdict v); /* "type", "confidence", ... */

/* "SIP_SCANNER,IRSF" -> p->types; the error names an unknown type. */
fs_code cl_policy_set_types(cl_policy *p, const char *csv, fs_err *e);
/* "org:a,org:b" -> p->audience. */
fs_code cl_policy_set_audience(cl_policy *p, const char *csv, fs_err *e);
void cl_policy_free(cl_policy *p);

typedef struct cl_prepared {
    char *json;            /* the exact bytes to sign (compact JSON), owned */
    size_t len;
    char event_id[40];
    unsigned pseudonymised, dropped; /* victim observables hashed / removed */
} cl_prepared;

/* One NDJSON line from `fs38 inspect --json`: apply the policy, set issuer
 * (the signing key's owner) and created (now), replace or drop clear
 * subscriber identifiers (observables with role victim, and callee numbers
 * in evidence.sample), validate, serialise. CL_SHARE fills out (release
 * with cl_prepared_free); CL_SKIP_INVALID sets e. */
cl_verdict cl_share_prepare(const cl_policy *p, const char *issuer, const char *line, size_t len,
                            int64_t now_ms, cl_prepared *out, fs_err *e);
void cl_prepared_free(cl_prepared *p);

/* A SIGHTING (or FALSE_POSITIVE) event about ref_issuer/ref_event_id by
 * issuer, with the given observables (array, at least one; not owned) and
 * an optional note; handling.audience = audience when not NULL (array of
 * issuers, not owned: who may read a red feedback); compact JSON into *out
 * (malloc). */
fs_code cl_feedback_event(const char *issuer, bool false_positive, const char *ref_issuer,
                          const char *ref_event_id, const json_t *observables, const char *note,
                          const char *tlp, const json_t *audience, int64_t now_ms, int64_t valid_for_s,
                          char **out, size_t *out_len, fs_err *e);

/* The hub's answer for one published item. */
typedef struct cl_publish_item {
    char status[12];       /* "stored", "duplicate", "rejected" */
    char code[32];         /* rejection code ("signature", "invalid", "stale_version" ...) */
    char error[240];       /* the hub's explanation */
    uint64_t seq;
} cl_publish_item;

#define CL_PUBLISH_MAX 10000 /* items per POST /v1/events */

/* POST /v1/events with n JWS strings (1..CL_PUBLISH_MAX); res[n] receives
 * each item's outcome. *http_status (optional) gets the status, *retry_s
 * (optional) the hub's Retry-After in seconds (0: none, or not a number of
 * seconds). Anything but 200 with a well-formed answer is FS_ERR_IO, the
 * message naming the status and the hub's error ("429 ... retry after 2 s"). */
fs_code cl_publish(const cl_hub *h, char *const *jws, const size_t *lens, size_t n,
                   cl_publish_item *res, int *http_status, unsigned *retry_s, fs_err *e);

/* ---- the indicator cache (cl_cache.c) -------------------------------------------- */

#define CL_CACHE_MAX_EVENTS 1000000   /* events held (live) */
#define CL_CACHE_MAX_ITEMS 1250000    /* with the tombstones of revoked and expired ones */
/* The file's bytes (live items, a line feed each): `fs38 inspect
 * --indicators` refuses a cache larger than DET_INDICATORS_MAX_BYTES, so a
 * cache pull let grow past it acted on nothing at all. */
#define CL_CACHE_MAX_BYTES (1u << 30)

typedef struct cl_cache_item {
    char issuer[XC_ISSUER_MAX + 1];
    char event_id[40];
    int64_t version;
    int64_t valid_until_ms;
    char *json;            /* the event's exact bytes; NULL = tombstone (revoked/expired) */
    size_t len;
} cl_cache_item;

typedef struct cl_cache {
    cl_cache_item *items;
    size_t n, cap;
    size_t live;           /* items with json */
    size_t bytes;          /* their lengths + a line feed each: the file's size */
    uint32_t *index;       /* open addressing over (issuer, event_id); 0 = empty, else item + 1 */
    size_t index_cap;      /* power of two */
    bool dirty;            /* changed since loaded/saved */
    size_t max_events, max_items, max_bytes; /* CL_CACHE_MAX_EVENTS, _ITEMS, _BYTES (cl_cache_init; tests lower them) */
} cl_cache;

typedef enum cl_merge {
    CL_MERGE_NEW = 0,      /* first version we hold */
    CL_MERGE_UPDATED,      /* a newer version replaced ours */
    CL_MERGE_STALE,        /* version <= the one we hold (or held): ignored */
    CL_MERGE_REVOKED,      /* a newer version revokes it: dropped */
    CL_MERGE_EXPIRED,      /* already past valid_until: dropped */
    CL_MERGE_FEEDBACK,     /* SIGHTING / FALSE_POSITIVE: not an indicator */
    CL_MERGE_FULL,         /* CL_CACHE_MAX_EVENTS held, CL_CACHE_MAX_BYTES reached, or
                            * CL_CACHE_MAX_ITEMS with unexpired tombstones */
    CL_MERGE__COUNT
} cl_merge;

const char *cl_merge_name(cl_merge m);

void cl_cache_init(cl_cache *c);
/* Read an existing cache (a missing file is an empty cache); every line must
 * be a valid event. */
fs_code cl_cache_load(cl_cache *c, const char *path, fs_err *e);
/* Merge one verified event: json/len its exact payload, ev parsed from it. */
cl_merge cl_cache_merge(cl_cache *c, const char *json, size_t len, const xc_event *ev, int64_t now_ms);
/* Drop what expired by now_ms; returns how many. */
size_t cl_cache_expire(cl_cache *c, int64_t now_ms);
/* Write the live items, one per line, atomically (temp file in the same
 * folder, fsync, rename). */
fs_code cl_cache_save(cl_cache *c, const char *path, fs_err *e);
void cl_cache_free(cl_cache *c);
/* <out>.lock, locked (flock) for as long as *fd stays open: one pull per
 * cache. Two that kept the same file each rewrote it from what they had
 * loaded: events one had saved were dropped by the other's rewrite while
 * the cursor stayed past them, never fetched again. FS_ERR_USAGE (naming
 * the other's pid) when it is held. */
fs_code cl_cache_lock(const char *out_path, int *fd, fs_err *e);
/* With the lock held: remove what a pull killed while saving left behind
 * (<out>.tmp.PID, <out>.cursor.tmp.PID; a whole cache each, never reused as
 * each run writes its own pid's). Returns how many. */
size_t cl_cache_remove_stale_temps(const char *out_path);
/* The live item for (issuer, event_id), or NULL. */
const cl_cache_item *cl_cache_find(const cl_cache *c, const char *issuer, const char *event_id);

/* <out>.cursor: the last hub sequence merged, then the --type list it was
 * reached with when there was one ("SEQ[ T,...]"): the hub's `next` passes
 * over the other types, so the cursor covers only those. Missing = 0 and "". */
#define CL_CURSOR_TYPES_MAX 256
fs_code cl_cursor_load(const char *out_path, uint64_t *seq, char *types, size_t types_n, fs_err *e);
fs_code cl_cursor_save(const char *out_path, uint64_t seq, const char *types, fs_err *e);

#endif
