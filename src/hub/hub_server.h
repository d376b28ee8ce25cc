/*
 * hub_server.h -- the fs38 hub: the exchange server operators share signed
 * events through (issue 3, API v1 in docs/hub.md).
 *
 * Owns: the hub's configuration (hub.yaml, hub_config.c), its policy
 * decisions (TLP/audience visibility for pushed events, per-member token
 * buckets, the accepted time window, expiry; hub_policy.c) and the HTTPS
 * server itself (libevent evhttp over OpenSSL with mutual TLS, a verifying
 * thread pool and a group-committing writer; hub_server.c).
 * Must not touch: SQL (hub_store.h is the storage contract), JWS and event
 * validation (src/exchange), printing (the CLI prints).
 */
#ifndef FS_HUB_SERVER_H
#define FS_HUB_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/fs_core.h"

/* ---- configuration (hub_config.c) ------------------------------------------- */

#define HUB_CFG_PATH_MAX 1024

typedef struct hub_config {
    char listen_host[256];       /* "127.0.0.1", "::" ... */
    uint16_t listen_port;        /* default 8443 */
    char node[64];               /* node name reported by /health */
    char tls_cert[HUB_CFG_PATH_MAX], tls_key[HUB_CFG_PATH_MAX], tls_ca[HUB_CFG_PATH_MAX];
    char registry[HUB_CFG_PATH_MAX];
    char store_url[HUB_CFG_PATH_MAX]; /* sqlite:PATH (relative to the config) or postgresql://... */
    /* limits */
    uint64_t max_body;           /* bytes of one request body (default 16 MiB) */
    uint64_t max_inflight;       /* publish bodies being verified and stored at once (default 32 MiB) */
    uint32_t max_batch;          /* events per publish (default 10000) */
    uint32_t max_header_bytes;   /* all request headers (default 16 KiB) */
    uint32_t max_connections;    /* TLS connections at once (default 1024) */
    uint32_t max_member_connections; /* one member's at once (default 256; 0: max_connections only) */
    uint32_t timeout_s;          /* idle / read / write timeout of a connection (default 30) */
    uint32_t request_timeout_s;  /* a whole request's headers and body, from accept or the last answer (default 300) */
    uint32_t max_stream_clients; /* default 256 */
    uint32_t max_member_streams; /* of them, one member's; default 64, 0 = no cap */
    uint64_t stream_buffer;      /* output bytes queued to one stream client before it is dropped */
    uint32_t stream_backlog;     /* events replayed to a new stream client (default 10000) */
    uint32_t ping_s;             /* stream keep-alive comment (default 15) */
    /* per-member rate limit: token bucket over events (a request costs its items) */
    double rate_events_per_s;    /* default 50000; 0 = unlimited */
    double rate_burst;           /* bucket size (default 100000) */
    /* replay/time window on `created` */
    uint32_t window_past_s;      /* default 86400 */
    uint32_t window_future_s;    /* default 300 */
    uint32_t sweep_interval_s;   /* expired events leave the active set (default 60) */
    uint32_t workers;            /* verifying threads (default: online CPUs, 1..64) */
    uint32_t commit_max;         /* events in one group commit (default 10000) */
    /* replication (hub_repl.h, docs/federation.md): repl_urls empty = one node */
    char repl_urls[HUB_CFG_PATH_MAX]; /* "nats://a:4222,nats://b:4222" (local server first) */
    char repl_node_id[65];       /* [A-Za-z0-9_-]: names this node's durable consumer */
    char repl_stream[65];        /* default FS38_EVENTS */
    uint32_t repl_replicas;      /* stream replicas when it is created (default 3) */
    uint32_t repl_await_ms;      /* wait for the own applier before answering 503 (default 5000) */
    char repl_tls_ca[HUB_CFG_PATH_MAX]; /* CA(s) of the NATS servers' certificates: TLS always ("" = none) */
} hub_config;

void hub_config_defaults(hub_config *c);
/* Reads hub.yaml. Every key optional except tls.* and registry; unknown keys
 * and bad values are FS_ERR_CONFIG naming "file:line:col: key.path: ...".
 * Relative paths (and a relative sqlite: path) are resolved against the
 * config file's folder. */
fs_code hub_config_load(const char *path, hub_config *c, fs_err *e);
/* Also parses from memory; `name` is used in messages and `dir` resolves
 * relative paths (NULL = as given). */
fs_code hub_config_parse(const char *buf, size_t len, const char *name, const char *dir,
                         hub_config *c, fs_err *e);

/* ---- policy (hub_policy.c) --------------------------------------------------- */

/* Outcome of the time checks on one event. */
typedef enum hub_time_verdict {
    HUB_TIME_OK = 0,
    HUB_TIME_TOO_OLD,  /* created before now - past window */
    HUB_TIME_TOO_NEW,  /* created after now + future window */
    HUB_TIME_EXPIRED   /* valid_until already past */
} hub_time_verdict;

hub_time_verdict hub_policy_time(int64_t created_ms, int64_t valid_until_ms, int64_t now_ms,
                                 uint32_t past_s, uint32_t future_s);
const char *hub_time_code(hub_time_verdict v); /* "ok", "too_old", "too_new", "expired" */

/* Whether a pushed or read event reaches `reader` (the store's one rule,
 * applied in C for the push stream): red only to its issuer and audience;
 * amber+strict, amber, green, clear to every member; an unknown TLP to nobody
 * but its issuer (fail closed). Also false when the event is expired at now. */
bool hub_policy_visible(fs_str tlp, fs_str issuer, const fs_str *audience, size_t n_audience,
                        fs_str reader, int64_t valid_until_ms, int64_t now_ms);

/* A token bucket: `rate` tokens a second up to `burst`. */
typedef struct hub_bucket {
    double tokens;
    int64_t last_ms;
} hub_bucket;

/* Takes n tokens at now_ms. True when granted; otherwise *retry_s (may be
 * NULL) = whole seconds until n tokens will be there (>= 1), and nothing is
 * taken. rate 0 = unlimited. A request larger than the burst is refused with
 * retry 0 (it can never pass). */
bool hub_bucket_take(hub_bucket *b, double rate, double burst, double n, int64_t now_ms,
                     uint32_t *retry_s);

/* Rate limits of all members, keyed by issuer; thread-safe. */
typedef struct hub_limiter hub_limiter;
hub_limiter *hub_limiter_new(double rate, double burst);
void hub_limiter_free(hub_limiter *l);
bool hub_limiter_take(hub_limiter *l, const char *issuer, double n, int64_t now_ms,
                      uint32_t *retry_s);

/* Scans a JSON text without parsing it: false when objects/arrays nest
 * deeper than max_depth (a bound checked before jansson builds a tree). */
bool hub_json_depth_ok(const char *buf, size_t len, unsigned max_depth);

/* ---- the server (hub_server.c) ------------------------------------------------- */

typedef struct hub_server hub_server;

/* Loads the registry and TLS material, opens and migrates the store, binds
 * the listener. Nothing is served until hub_server_run. */
fs_code hub_server_new(const hub_config *c, hub_server **out, fs_err *e);
/* fs38 hub --check: as hub_server_new, but starts no thread and serves
 * nothing. The listen address taken by another process (the hub being
 * checked, running) is no error: *port_in_use says so. Free with
 * hub_server_free. */
fs_code hub_server_check(const hub_config *c, hub_server **out, bool *port_in_use, fs_err *e);
/* Serves until hub_server_stop (or SIGINT/SIGTERM when install_signals was
 * asked for by the caller through hub_server_handle_signals). */
fs_code hub_server_run(hub_server *s, fs_err *e);
/* Asks a running server to stop (thread-safe). */
void hub_server_stop(hub_server *s);
/* SIGINT and SIGTERM stop the server; SIGHUP reloads the trust registry
 * (hub_server_reload_registry; a failure is logged); SIGPIPE is ignored. */
void hub_server_handle_signals(hub_server *s);
/* Reads the registry file again and validates it fully; on success it
 * replaces the one in force: new handshakes and every request received from
 * now on use it -- a connection whose member is now revoked or gone gets
 * 403 on its next request and is closed, its stream followers are dropped
 * now, and events signed by a revoked key are refused ("revoked"). Requests
 * already being verified finish under the registry they arrived with. On
 * error the previous registry stays in force. Call on the loop's thread
 * (the SIGHUP handler does) or before hub_server_run. */
fs_code hub_server_reload_registry(hub_server *s, fs_err *e);
/* Where the server reports what happens outside a request (a registry
 * reload); one line per call, no newline. NULL = silent (the default). */
typedef void (*hub_server_log_fn)(void *ctx, const char *line);
void hub_server_set_log(hub_server *s, hub_server_log_fn fn, void *ctx);
/* The bound port (useful when the config asked for port 0). */
uint16_t hub_server_port(const hub_server *s);
void hub_server_free(hub_server *s);

#endif
