/*
 * cmd_pull.c -- `fs38 pull`: keep a local indicator cache current from a hub.
 *
 * Owns: options, fetching the trust registry, paging GET /v1/events from
 * the cursor, following GET /v1/stream (--follow, reconnecting with
 * backoff), verifying every JWS before it is merged, saving the cache and
 * the cursor, the summary. Must not touch: the merge rule (cl_cache.c),
 * TLS (cl_http.c), signature checks (src/exchange).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client/cl.h"
#include "detect/det.h"

/* a cache pull keeps must be one inspect --indicators reads */
_Static_assert(CL_CACHE_MAX_BYTES == DET_INDICATORS_MAX_BYTES && CL_CACHE_MAX_EVENTS == DET_INDICATORS_MAX,
               "the cache's bounds are inspect's");

/* Events per GET /v1/events: a page of the largest events (an event of
 * XC_EVENT_MAX_BYTES signs to XC_JWS_MAX_BYTES, ~86 KiB) must fit in the
 * CL_BODY_MAX we read, or a run of big events (767 are enough at 1000 a
 * page) made every pull fail on the same page for ever. */
#define PULL_PAGE 500
#define PULL_ROW_MAX (XC_JWS_MAX_BYTES + 64) /* {"seq":N,"jws":"..."}, */
_Static_assert((uint64_t)PULL_PAGE * PULL_ROW_MAX + 4096 <= CL_BODY_MAX,
               "a page of the largest events must fit in the answer we read");
#define PULL_MAX_PAGES 100000
#define PULL_REGISTRY_REFRESH_US (10 * FS_USEC)
#define PULL_UNKNOWN_KIDS 16 /* kids a fetch was made for, each fetched for once, not per 10 s */
#define PULL_SAVE_EVERY_US (FS_USEC / 2)
#define PULL_SHOWN_FAILURES 20
#define PULL_STREAM_SILENCE_US (60 * FS_USEC) /* four of the hub's 15 s pings missed */
#define PULL_STREAM_HEALTHY_US (10 * FS_USEC) /* a stream up this long was no failure */

static volatile sig_atomic_t pull_stop;
static void pull_on_signal(int sig) { (void)sig; pull_stop = 1; }

static const char usage_text[] =
    "usage: fs38 pull --hub https://HOST:PORT --cert MEMBER.crt --key MEMBER.key --ca CA.crt\n"
    "                 --out indicators.ndjson [--follow] [options]\n"
    "\n"
    "Keeps a local cache of the indicators partners shared: every event is verified\n"
    "(JWS, EdDSA) against the trust registry, the highest version of each (issuer,\n"
    "event_id) is kept, revoked and expired ones are dropped, and the file is rewritten\n"
    "atomically. The hub sequence reached is kept in OUT.cursor, so the next pull only\n"
    "fetches what is new. `fs38 inspect --indicators OUT` acts on the cache. One pull\n"
    "per cache: OUT.lock is held while it runs, a second one is refused.\n"
    "\n"
    "  --hub URL, --cert FILE, --key FILE, --ca FILE   the hub and our TLS identity\n"
    "  --out FILE             the cache (NDJSON, one event per line)\n"
    "  --follow               stay connected (GET /v1/stream) and update the cache as\n"
    "                         events arrive; expired ones are dropped as time passes\n"
    "  --duration SEC         with --follow: stop after SEC seconds\n"
    "  --type T,...           only these event types (--types too)\n"
    "  --registry FILE        verify against this trust registry instead of the one\n"
    "                         the hub serves (GET /v1/registry)\n"
    "  --timeout SEC          connect/read timeout and the TLS handshake's as a\n"
    "                         whole (default 10); a whole answer at most 30 times it\n"
    "  -q, --quiet            no summary\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit codes: 0 done, 1 some events failed verification (they were not cached),\n"
    "2 usage, connection or file error.\n"
    "\n"
    "Example:\n"
    "  fs38 pull --hub https://hub.example:8443 --cert me.crt --key me.key --ca ca.crt \\\n"
    "      --out /var/lib/fs38/indicators.ndjson --follow\n";

typedef struct pull_run {
    cl_hub hub;
    const char *out, *registry_path, *types;
    bool quiet;
    xc_registry reg;
    uint64_t reg_fetched_us;
    uint64_t unknown_kids[PULL_UNKNOWN_KIDS]; /* hashes of the kid_unknown errors fetched for */
    unsigned unknown_next;
    cl_cache cache;
    uint64_t cursor, cursor_saved;
    size_t file_live;     /* what the file holds as last loaded or saved: the summary's */
    uint64_t file_cursor; /* ...and OUT.cursor (a save that failed moved neither) */
    unsigned merged[CL_MERGE__COUNT];
    unsigned failed, received, shown;
} pull_run;

static fs_code fetch_registry(pull_run *p, fs_err *e) {
    xc_registry fresh = {0};
    if (p->registry_path) {
        if (xc_registry_load(p->registry_path, &fresh, e) != FS_OK) return FS_ERR_FORMAT;
    } else {
        cl_response r;
        fs_code rc = cl_request(&p->hub, "GET", "/v1/registry", NULL, NULL, 0, XC_REGISTRY_MAX_BYTES, &r, e);
        if (rc != FS_OK) return rc;
        if (r.status != 200) {
            rc = fs_fail(e, FS_ERR_IO, "hub %s:%s answered %d to GET /v1/registry", p->hub.host, p->hub.port, r.status);
        } else if (xc_registry_parse(r.body, r.len, &fresh, e) != FS_OK) {
            char m[sizeof e->msg];
            snprintf(m, sizeof m, "%s", e->msg);
            rc = fs_fail(e, FS_ERR_FORMAT, "the hub's registry (GET /v1/registry): %s", m);
        }
        cl_response_free(&r);
        if (rc != FS_OK) return rc;
    }
    xc_registry_free(&p->reg);
    p->reg = fresh;
    p->reg_fetched_us = fs_time_now_us();
    return FS_OK;
}

/* Whether the registry was fetched for this kid_unknown error (it names
 * the kid) already; remembers it when not (the last PULL_UNKNOWN_KIDS). */
static bool unknown_kid_seen(pull_run *p, const char *why) {
    uint64_t h = fs_hash_bytes(why, strlen(why), 0) | 1;
    for (unsigned i = 0; i < PULL_UNKNOWN_KIDS; i++)
        if (p->unknown_kids[i] == h) return true;
    p->unknown_kids[p->unknown_next++ % PULL_UNKNOWN_KIDS] = h;
    return false;
}

/* Verify one JWS and merge it; a failure is counted and reported. False
 * (e says why) when its key is not in the registry and the registry could
 * not be fetched again: the event is not taken, the caller stops before it
 * (counted kid_unknown, the cursor went past it for good: a hub busy or
 * unreachable for that one request lost a new member's events). */
static bool take(pull_run *p, const char *jws, size_t len, uint64_t seq, fs_err *fe) {
    xc_verified v;
    fs_err e = {0};
    xc_jws_code code = xc_jws_verify(jws, len, &p->reg, &v, NULL, &e);
    /* at most one fetch per 10 s, but one for each kid not seen unknown
     * before: a member that joined just after the last fetch (the one at
     * the start) had its events fail, the cursor past them for good */
    if (code == XC_JWS_KID_UNKNOWN && !p->registry_path) {
        bool seen = unknown_kid_seen(p, e.msg);
        if (!seen || fs_time_now_us() - p->reg_fetched_us > PULL_REGISTRY_REFRESH_US) {
            fs_err re = {0};
            if (fetch_registry(p, &re) != FS_OK) {
                if (!seen) p->unknown_kids[(p->unknown_next - 1) % PULL_UNKNOWN_KIDS] = 0; /* fetch again */
                fs_fail(fe, FS_ERR_IO, "%s (fetching the trust registry again for seq %llu, signed by a key "
                        "it did not hold: left for the next try)", re.msg, (unsigned long long)seq);
                return false;
            }
            memset(&e, 0, sizeof e);
            code = xc_jws_verify(jws, len, &p->reg, &v, NULL, &e);
        }
    }
    p->received++;
    if (code != XC_JWS_OK) {
        p->failed++;
        if (p->shown++ < PULL_SHOWN_FAILURES)
            fprintf(stderr, "fs38 pull: seq %llu not cached: %s: %s\n", (unsigned long long)seq,
                    xc_jws_code_name(code), e.msg);
    } else {
        cl_merge m = cl_cache_merge(&p->cache, v.payload, v.payload_len, &v.ev,
                                    (int64_t)(fs_time_now_us() / 1000));
        p->merged[m]++;
        xc_verified_free(&v);
    }
    if (seq > p->cursor) p->cursor = seq;
    return true;
}

static fs_code save(pull_run *p, fs_err *e) {
    cl_cache_expire(&p->cache, (int64_t)(fs_time_now_us() / 1000));
    if (p->cache.dirty && cl_cache_save(&p->cache, p->out, e) != FS_OK) return FS_ERR_IO;
    /* the cursor moves only once what it covers is on disk */
    if (p->cursor != p->cursor_saved) {
        if (cl_cursor_save(p->out, p->cursor, p->types, e) != FS_OK) return FS_ERR_IO;
        p->cursor_saved = p->cursor;
    }
    p->file_live = p->cache.live;
    p->file_cursor = p->cursor;
    return FS_OK;
}

static void query_suffix(const pull_run *p, char *buf, size_t n) {
    buf[0] = '\0';
    if (p->types && *p->types) snprintf(buf, n, "&type=%s", p->types); /* --types "": every type */
}

/* Page through GET /v1/events until nothing new. */
static fs_code pull_pages(pull_run *p, fs_err *e) {
    char path[512], q[256];
    query_suffix(p, q, sizeof q);
    for (unsigned page = 0; page < PULL_MAX_PAGES && !pull_stop; page++) {
        snprintf(path, sizeof path, "/v1/events?after=%llu&limit=%d%s", (unsigned long long)p->cursor, PULL_PAGE, q);
        cl_response r;
        fs_code rc = cl_request(&p->hub, "GET", path, NULL, NULL, 0, CL_BODY_MAX, &r, e);
        /* a signal cuts the wait short ("Interrupted system call"): the end
         * asked for, not a hub failing (pull --follow stopped while it caught
         * up exited 2) */
        if (rc != FS_OK) return pull_stop ? FS_OK : rc;
        if (r.status != 200) {
            rc = fs_fail(e, FS_ERR_IO, "hub %s:%s answered %d to GET %s: %.200s", p->hub.host, p->hub.port,
                         r.status, path, cl_printable(r.body));
            cl_response_free(&r);
            return rc;
        }
        json_error_t je;
        json_t *root = cl_json_loadb(r.body, r.len, &je);
        cl_response_free(&r);
        if (!root)
            return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: answer to GET /v1/events is not JSON: %s", p->hub.host,
                           p->hub.port, je.text);
        json_t *events = json_object_get(root, "events");
        if (!json_is_array(events)) {
            json_decref(root);
            return fs_fail(e, FS_ERR_FORMAT, "hub %s:%s: answer to GET /v1/events has no events array",
                           p->hub.host, p->hub.port);
        }
        size_t i, n = json_array_size(events);
        json_t *it;
        uint64_t before = p->cursor;
        json_array_foreach(events, i, it) {
            const char *jws = json_string_value(json_object_get(it, "jws"));
            json_int_t seq = json_integer_value(json_object_get(it, "seq"));
            if (!jws || seq <= 0) { /* counted and named as a failed verification is */
                p->failed++;
                if (p->shown++ < PULL_SHOWN_FAILURES)
                    fprintf(stderr, "fs38 pull: hub %s:%s: item %zu of GET %s not cached: %s\n", p->hub.host,
                            p->hub.port, i, path, !jws ? "no \"jws\" string" : "no \"seq\" above 0");
                continue;
            }
            if (!take(p, jws, json_string_length(json_object_get(it, "jws")), (uint64_t)seq, e)) {
                /* what came before it is kept, the cursor stays before it */
                json_decref(root);
                fs_err se = {0};
                if (save(p, &se) != FS_OK) *e = se;
                return pull_stop ? FS_OK : FS_ERR_IO;
            }
        }
        json_int_t next = json_integer_value(json_object_get(root, "next"));
        if (next > 0 && (uint64_t)next > p->cursor) p->cursor = (uint64_t)next;
        json_decref(root);
        if (save(p, e) != FS_OK) return FS_ERR_IO;
        if (n == 0 || p->cursor == before) break;
    }
    return FS_OK;
}

/* GET /v1/stream from the cursor until stopped or the duration passed;
 * reconnects with backoff. Each reconnect first pages through what was
 * committed meanwhile (GET /v1/events): the hub replays at most
 * limits.stream_backlog events to a follower, and refuses (409) one further
 * behind rather than skip what it missed. */
/* Waits *backoff seconds (stop and the end cut it short), then doubles it
 * up to 60. */
static void back_off(unsigned *backoff, uint64_t end) {
    for (unsigned i = 0; i < *backoff * 10 && !pull_stop && fs_time_now_us() < end; i++) usleep(100000);
    *backoff = *backoff < 32 ? *backoff * 2 : 60;
}

static fs_code follow(pull_run *p, uint64_t duration_us, fs_err *e) {
    uint64_t end = duration_us ? fs_time_now_us() + duration_us : UINT64_MAX;
    unsigned backoff = 1;
    char path[512], q[256], last[32];
    query_suffix(p, q, sizeof q);
    bool caught_up = true; /* the caller paged just before */
    while (!pull_stop && fs_time_now_us() < end) {
        fs_err se = {0};
        cl_stream *s = NULL;
        if (caught_up || pull_pages(p, &se) == FS_OK) {
            snprintf(path, sizeof path, "/v1/stream?after=%llu%s", (unsigned long long)p->cursor, q);
            snprintf(last, sizeof last, "%llu", (unsigned long long)p->cursor);
            s = cl_stream_open(&p->hub, path, last, &se);
        }
        caught_up = false;
        if (!s) {
            if (pull_stop) break; /* the failure is the signal's */
            fprintf(stderr, "fs38 pull: %s; retrying in %u s\n", se.msg, backoff);
            back_off(&backoff, end);
            continue;
        }
        uint64_t opened = fs_time_now_us(), last_save = opened;
        bool delivered = false; /* an event came on this stream */
        bool untaken = false;   /* one could not be taken yet: wait before trying again */
        for (;;) {
            if (pull_stop || fs_time_now_us() >= end) break;
            cl_sse ev;
            int r = cl_stream_next(s, &ev, 250, &se);
            if (r < 0) {
                if (!pull_stop) fprintf(stderr, "fs38 pull: %s; reconnecting\n", se.msg);
                break;
            }
            if (r == 0 && cl_stream_idle_us(s) > PULL_STREAM_SILENCE_US) {
                fprintf(stderr, "fs38 pull: hub %s:%s silent for 60 s; reconnecting\n", p->hub.host, p->hub.port);
                break;
            }
            if (r == 1 && !strcmp(ev.event, "event")) {
                uint64_t seq = 0;
                fs_str_to_u64(fs_str_make(ev.id, strlen(ev.id)), UINT64_MAX / 2, &seq);
                if (!take(p, ev.data, ev.len, seq, &se)) { /* paged for again after the backoff */
                    if (!pull_stop) fprintf(stderr, "fs38 pull: %s; reconnecting\n", se.msg);
                    untaken = true;
                    break;
                }
                delivered = true;
            }
            uint64_t now = fs_time_now_us();
            if ((r == 0 || now - last_save >= PULL_SAVE_EVERY_US) && now - last_save >= FS_USEC / 10) {
                if (save(p, e) != FS_OK) {
                    cl_stream_close(s);
                    return FS_ERR_IO;
                }
                last_save = now;
            }
        }
        cl_stream_close(s);
        if (save(p, e) != FS_OK) return FS_ERR_IO;
        /* a stream that gave nothing and ended soon (a proxy answering 200
         * and closing, a hub in trouble) counts as a failed open: wait */
        if (!untaken && (delivered || fs_time_now_us() - opened >= PULL_STREAM_HEALTHY_US)) backoff = 1;
        else back_off(&backoff, end);
    }
    return save(p, e);
}

/* Whether a cursor reached with the --type list `saved` ("": every type)
 * covers a run asking for `now` (NULL or "": every type). */
static bool types_cover(const char *saved, const char *now) {
    if (!saved[0]) return true;
    if (!now || !*now) return false; /* --types "": every type, as no --type */
    cl_policy s = {0}, n = {0};
    fs_err e = {0};
    if (cl_policy_set_types(&s, saved, &e) != FS_OK || cl_policy_set_types(&n, now, &e) != FS_OK) return false;
    return (n.types & ~s.types) == 0;
}

static void print_summary(const pull_run *p) {
    fprintf(stderr,
            "fs38 pull: %u events received: %u new, %u updated, %u revoked, %u expired, %u stale, "
            "%u feedback%s; %u failed verification\n"
            "  %s holds %zu indicators; cursor %llu\n",
            p->received, p->merged[CL_MERGE_NEW], p->merged[CL_MERGE_UPDATED], p->merged[CL_MERGE_REVOKED],
            p->merged[CL_MERGE_EXPIRED], p->merged[CL_MERGE_STALE], p->merged[CL_MERGE_FEEDBACK],
            p->merged[CL_MERGE_FULL] ? " (cache full: some not kept)" : "", p->failed, p->out, p->file_live,
            (unsigned long long)p->file_cursor);
}

enum { O_HUB = 256, O_CERT, O_KEY, O_CA, O_TIMEOUT, O_OUT, O_FOLLOW, O_DURATION, O_TYPE, O_REGISTRY };

int cmd_pull(int argc, char **argv) {
    static const struct option longopts[] = {
        {"hub", required_argument, NULL, O_HUB}, {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY}, {"ca", required_argument, NULL, O_CA},
        {"timeout", required_argument, NULL, O_TIMEOUT}, {"out", required_argument, NULL, O_OUT},
        {"follow", no_argument, NULL, O_FOLLOW}, {"duration", required_argument, NULL, O_DURATION},
        {"type", required_argument, NULL, O_TYPE}, {"types", required_argument, NULL, O_TYPE},
        {"registry", required_argument, NULL, O_REGISTRY}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static pull_run p;
    memset(&p, 0, sizeof p);
    cl_cache_init(&p.cache);
    const char *hub = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    bool follow_mode = false;
    uint64_t timeout = 10, duration = 0;
    fs_err e = {0};
    int c, rc = EXIT_USAGE, lock_fd = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case O_HUB: hub = optarg; break;
        case O_CERT: cert = optarg; break;
        case O_KEY: key = optarg; break;
        case O_CA: ca = optarg; break;
        case O_OUT: p.out = optarg; break;
        case O_FOLLOW: follow_mode = true; break;
        case O_REGISTRY: p.registry_path = optarg; break;
        case 'q': p.quiet = true; break;
        case O_TYPE: {
            cl_policy tmp = {0};
            if (cl_policy_set_types(&tmp, optarg, &e) != FS_OK) goto bad;
            if (strlen(optarg) > 200) {
                fprintf(stderr, "fs38 pull: --type list too long\n");
                goto out;
            }
            p.types = optarg;
            break;
        }
        case O_TIMEOUT:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), 3600, &timeout) || !timeout) {
                fprintf(stderr, "fs38 pull: --timeout '%s': expected 1-3600 seconds\n", optarg);
                goto out;
            }
            break;
        case O_DURATION:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), 100000000, &duration) || !duration) {
                fprintf(stderr, "fs38 pull: --duration '%s': expected a number of seconds\n", optarg);
                goto out;
            }
            break;
        case 'h': fputs(usage_text, stdout); rc = cli_stdout_done("fs38 pull"); goto out;
        default: fputs("(fs38 pull --help explains every option)\n", stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 pull: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (!p.out) {
        fprintf(stderr, "fs38 pull: --out FILE is required (the indicator cache)\n");
        goto out;
    }
    if (duration && !follow_mode) { /* a one-shot pull ends when it has caught up */
        fprintf(stderr, "fs38 pull: --duration needs --follow\n");
        goto out;
    }
    if (cl_cache_lock(p.out, &lock_fd, &e) != FS_OK) goto bad;
    size_t stale = cl_cache_remove_stale_temps(p.out);
    if (stale && !p.quiet)
        fprintf(stderr, "fs38 pull: removed %zu temporary file(s) a pull killed while saving left next to %s\n",
                stale, p.out);
    if (cl_hub_init(&p.hub, hub, cert, key, ca, &e) != FS_OK) goto bad;
    p.hub.timeout_ms = (int)timeout * 1000;
    bool cache_missing = access(p.out, F_OK) != 0 && errno == ENOENT;
    if (cl_cache_load(&p.cache, p.out, &e) != FS_OK) goto bad;
    char cursor_types[CL_CURSOR_TYPES_MAX];
    if (cl_cursor_load(p.out, &p.cursor, cursor_types, sizeof cursor_types, &e) != FS_OK) goto bad;
    p.file_live = p.cache.live; /* (before a cursor that covers nothing held is set back) */
    p.file_cursor = p.cursor;
    p.cursor_saved = p.cursor;
    if (p.cursor && cache_missing) {
        /* the cursor covers what was merged into the cache, which every run
         * writes before it: a cache removed (to rebuild it) or moved left
         * it covering events held nowhere, the new cache empty for good */
        if (!p.quiet)
            fprintf(stderr, "fs38 pull: %s is missing but %s.cursor is at %llu: fetching from the start\n", p.out,
                    p.out, (unsigned long long)p.cursor);
        p.cursor = 0;
        p.cursor_saved = UINT64_MAX; /* saved again, with the types of this run */
    } else if (p.cursor && !types_cover(cursor_types, p.types)) {
        /* the hub's `next` passed over the types that run did not ask for:
         * going on from its cursor would never fetch them (the merge rule
         * makes fetching again what the cache holds harmless) */
        if (!p.quiet)
            fprintf(stderr, "fs38 pull: %s.cursor was reached with --type %s: fetching from the start "
                            "for the other types\n", p.out, cursor_types);
        p.cursor = 0;
        p.cursor_saved = UINT64_MAX; /* saved again, with the types of this run */
    }
    signal(SIGPIPE, SIG_IGN); /* before the first request: a hub closing is an error, not our end */
    if (fetch_registry(&p, &e) != FS_OK) goto bad;

    struct sigaction sa = {.sa_handler = pull_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* logrotate's HUP to the sensors: end as on SIGTERM, saved */

    p.cache.dirty = true; /* write the file even when nothing is new (expiry, first run) */
    if (pull_pages(&p, &e) != FS_OK) goto bad;
    if (follow_mode && follow(&p, duration * FS_USEC, &e) != FS_OK) goto bad;
    if (!p.quiet) print_summary(&p);
    rc = p.failed ? EXIT_EVENTS : EXIT_DONE;
    goto out;
bad:
    fprintf(stderr, "fs38 pull: %s\n", e.msg);
    if (p.received && !p.quiet) print_summary(&p);
out:
    if (lock_fd >= 0) close(lock_fd); /* after the last save */
    cl_cache_free(&p.cache);
    xc_registry_free(&p.reg);
    return rc;
}
