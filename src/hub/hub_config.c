/*
 * hub_config.c -- hub.yaml: what the hub listens on, its TLS material, the
 * trust registry, the store and the limits (etc/hub.yaml documents every key).
 *
 * Owns: parsing (libyaml document API), defaults, range checks, resolving
 * relative paths against the config's folder. An unknown key or a bad value
 * is an error naming "file:line:col: key.path". Must not touch: sockets,
 * the store, the registry's content.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "hub_server.h"

#define HUB_CFG_MAX_BYTES (1u << 20)

void hub_config_defaults(hub_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8443;
    snprintf(c->node, sizeof c->node, "hub-1");
    c->store_url[0] = '\0'; /* none given: sqlite:hub.db beside the file (hub_config_parse) */
    c->max_body = 16u << 20;
    c->max_inflight = 32u << 20;
    c->max_batch = 10000;
    c->max_header_bytes = 16384;
    c->max_connections = 1024;
    c->max_member_connections = 256;
    c->timeout_s = 30;
    c->request_timeout_s = 300;
    c->max_stream_clients = 256;
    c->max_member_streams = 64;
    c->stream_buffer = 4u << 20;
    c->stream_backlog = 10000;
    c->ping_s = 15;
    c->rate_events_per_s = 50000;
    c->rate_burst = 100000;
    c->window_past_s = 86400;
    c->window_future_s = 300;
    c->sweep_interval_s = 60;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = n < 1 ? 1 : n > 64 ? 64 : (uint32_t)n;
    c->commit_max = 10000;
    snprintf(c->repl_stream, sizeof c->repl_stream, "FS38_EVENTS");
    c->repl_replicas = 3;
    c->repl_await_ms = 5000;
}

typedef struct cfg_ctx {
    yaml_document_t *doc;
    const char *name, *dir;
    hub_config *c;
    fs_err *e;
    char path[128]; /* "limits.max_body" */
} cfg_ctx;

static fs_code fail_node(cfg_ctx *x, const yaml_node_t *n, const char *fmt, const char *arg) {
    char what[400];
    snprintf(what, sizeof what, fmt, arg);
    fs_code rc = fs_fail(x->e, FS_ERR_CONFIG, "%s:%zu:%zu: %s%s%s", x->name,
                         (size_t)n->start_mark.line + 1, (size_t)n->start_mark.column + 1, x->path,
                         x->path[0] ? ": " : "", what); /* the document itself: no key to name */
    /* keys and values are quoted as written: a control character (a terminal
     * escape written as "\e[2J") is shown as '?' */
    for (char *q = x->e ? x->e->msg : NULL; q && *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
    return rc;
}

static const char *scalar(cfg_ctx *x, yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) {
        fail_node(x, n, "%s", "expected a single value (not a list or a map)");
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) { /* "a\0b" would be read as "a" */
        fail_node(x, n, "%s", "a NUL character in the value");
        return NULL;
    }
    return s;
}

static fs_code get_uint(cfg_ctx *x, yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *out) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    uint64_t v;
    if (!fs_str_to_u64(fs_str_make(s, strlen(s)), UINT64_MAX, &v) || v < min || v > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%%.60s' is not an integer in %llu..%llu",
                 (unsigned long long)min, (unsigned long long)max);
        return fail_node(x, n, msg, s);
    }
    *out = v;
    return FS_OK;
}

static fs_code get_u32(cfg_ctx *x, yaml_node_t *n, uint32_t min, uint32_t max, uint32_t *out) {
    uint64_t v;
    fs_code rc = get_uint(x, n, min, max, &v);
    if (rc == FS_OK) *out = (uint32_t)v;
    return rc;
}

static fs_code get_double(cfg_ctx *x, yaml_node_t *n, double min, double max, double *out) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    /* decimal only: strtod would also take hex, "nan" (which passes any range
     * compare) and "inf" */
    bool decimal = *s && strspn(s, "0123456789.eE+-") == strlen(s);
    char *end;
    errno = 0;
    double v = decimal ? strtod(s, &end) : 0;
    if (!decimal || *end || errno || !isfinite(v) || v < min || v > max)
        return fail_node(x, n, "'%.60s' is not a decimal number in range", s);
    *out = v;
    return FS_OK;
}

/* A path: relative ones are taken from the config file's folder. */
static fs_code get_path(cfg_ctx *x, yaml_node_t *n, char *dst, size_t cap) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    if (!*s) return fail_node(x, n, "%s", "empty path");
    int w = (s[0] == '/' || !x->dir) ? snprintf(dst, cap, "%s", s)
                                     : snprintf(dst, cap, "%s/%s", x->dir, s);
    if (w < 0 || (size_t)w >= cap) return fail_node(x, n, "path '%.60s...' is too long", s);
    return FS_OK;
}

static fs_code get_text(cfg_ctx *x, yaml_node_t *n, char *dst, size_t cap) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    size_t l = strlen(s);
    if (l == 0 || l >= cap) return fail_node(x, n, "'%.60s' must be 1 to a few dozen characters", s);
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail_node(x, n, "%s", "control characters are not allowed");
    memcpy(dst, s, l + 1);
    return FS_OK;
}

/* sqlite:PATH into c->store_url, a relative PATH taken from dir (the
 * config's folder; NULL: as it is). false: too long. */
static bool sqlite_store(hub_config *c, const char *dir, const char *p) {
    size_t cap = sizeof c->store_url;
    int w = (p[0] == '/' || !strcmp(p, ":memory:") || !dir) ? snprintf(c->store_url, cap, "sqlite:%s", p)
                                                             : snprintf(c->store_url, cap, "sqlite:%s/%s", dir, p);
    return w >= 0 && (size_t)w < cap;
}

static fs_code get_store(cfg_ctx *x, yaml_node_t *n) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    size_t cap = sizeof x->c->store_url;
    if (!strncmp(s, "sqlite:", 7)) {
        if (!s[7]) return fail_node(x, n, "%s", "sqlite: needs a file path (sqlite:hub.db)");
        /* the hub opens the store more than once (writes, reads): each
         * :memory: connection is a database of its own, so reads found no
         * schema ("run the migration") and nothing committed */
        if (!strcmp(s + 7, ":memory:"))
            return fail_node(x, n, "%s", "sqlite::memory: cannot hold the hub's events (each of its "
                                         "connections is a separate, empty database): give a file path");
        if (!sqlite_store(x->c, x->dir, s + 7)) return fail_node(x, n, "%s", "store URL is too long");
        return FS_OK;
    }
    if (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11)) {
        if (strlen(s) >= cap) return fail_node(x, n, "%s", "store URL is too long");
        snprintf(x->c->store_url, cap, "%s", s);
        return FS_OK;
    }
    return fail_node(x, n, "%s",
                     "expected sqlite:PATH or postgresql://user@host:port/db (URL not shown)");
}

typedef fs_code (*key_fn)(cfg_ctx *x, const char *key, yaml_node_t *v);

/* A section left empty ("limits:" with its keys commented out, or ~): no
 * keys, as etc/fs38.yaml's loader reads it. */
static bool null_node(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static fs_code walk_map(cfg_ctx *x, yaml_node_t *map, const char *const *keys, key_fn fn) {
    if (null_node(map)) return FS_OK;
    if (map->type != YAML_MAPPING_NODE) return fail_node(x, map, "%s", "expected a map of keys");
    size_t base = strlen(x->path);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (!k || !v) return fs_fail(x->e, FS_ERR_CONFIG, "%s: malformed document", x->name);
        if (k->type != YAML_SCALAR_NODE) return fail_node(x, k, "%s", "keys must be plain names");
        const char *key = (const char *)k->data.scalar.value;
        snprintf(x->path + base, sizeof x->path - base, "%s%.40s", base ? "." : "", key);
        bool known = false;
        for (size_t i = 0; keys[i]; i++) known |= !strcmp(keys[i], key);
        if (!known) {
            char list[300] = "";
            for (size_t i = 0; keys[i]; i++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", keys[i]);
            }
            return fail_node(x, k, "unknown key (known here: %s)", list);
        }
        /* a key given twice: the second would silently win */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp((const char *)k2->data.scalar.value, key))
                return fail_node(x, k, "%s", "key given twice");
        }
        fs_code rc = fn(x, key, v);
        if (rc != FS_OK) return rc;
        x->path[base] = 0;
    }
    return FS_OK;
}

static fs_code tls_key(cfg_ctx *x, const char *key, yaml_node_t *v) {
    hub_config *c = x->c;
    if (!strcmp(key, "cert")) return get_path(x, v, c->tls_cert, sizeof c->tls_cert);
    if (!strcmp(key, "key")) return get_path(x, v, c->tls_key, sizeof c->tls_key);
    return get_path(x, v, c->tls_ca, sizeof c->tls_ca);
}

static fs_code limits_key(cfg_ctx *x, const char *key, yaml_node_t *v) {
    hub_config *c = x->c;
    if (!strcmp(key, "max_body")) return get_uint(x, v, 1024, 1u << 30, &c->max_body);
    if (!strcmp(key, "max_inflight")) return get_uint(x, v, 1024, (uint64_t)1 << 40, &c->max_inflight);
    if (!strcmp(key, "max_batch")) return get_u32(x, v, 1, 10000, &c->max_batch);
    if (!strcmp(key, "max_header_bytes")) return get_u32(x, v, 1024, 1u << 20, &c->max_header_bytes);
    if (!strcmp(key, "max_connections")) return get_u32(x, v, 1, 1000000, &c->max_connections);
    if (!strcmp(key, "max_member_connections")) return get_u32(x, v, 0, 1000000, &c->max_member_connections);
    if (!strcmp(key, "timeout_s")) return get_u32(x, v, 1, 86400, &c->timeout_s);
    if (!strcmp(key, "request_timeout_s")) return get_u32(x, v, 1, 86400, &c->request_timeout_s);
    /* 1 at least: 0 served no follower (it is "no cap" for the per-member limits) */
    if (!strcmp(key, "max_stream_clients")) return get_u32(x, v, 1, 100000, &c->max_stream_clients);
    if (!strcmp(key, "max_member_streams")) return get_u32(x, v, 0, 100000, &c->max_member_streams);
    if (!strcmp(key, "stream_buffer")) return get_uint(x, v, 65536, 1u << 30, &c->stream_buffer);
    if (!strcmp(key, "stream_backlog")) return get_u32(x, v, 0, 10000, &c->stream_backlog);
    return get_u32(x, v, 1, 3600, &c->ping_s);
}

static fs_code rate_key(cfg_ctx *x, const char *key, yaml_node_t *v) {
    if (!strcmp(key, "events_per_s")) return get_double(x, v, 0, 1e9, &x->c->rate_events_per_s);
    return get_double(x, v, 1, 1e9, &x->c->rate_burst);
}

static fs_code window_key(cfg_ctx *x, const char *key, yaml_node_t *v) {
    if (!strcmp(key, "past_s")) return get_u32(x, v, 1, 365u * 86400, &x->c->window_past_s);
    return get_u32(x, v, 0, 86400, &x->c->window_future_s);
}

/* A JetStream-safe name: [A-Za-z0-9_-], 1..64. */
static fs_code get_name(cfg_ctx *x, yaml_node_t *n, char *dst, size_t cap) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    size_t l = strlen(s);
    bool ok = l > 0 && l < cap;
    for (size_t i = 0; ok && i < l; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-';
    if (!ok) return fail_node(x, n, "'%.70s' must be 1..64 characters of A-Z a-z 0-9 _ -", s);
    memcpy(dst, s, l + 1);
    return FS_OK;
}

/* One NATS server URL appended to the comma-separated list. */
static fs_code add_url(cfg_ctx *x, yaml_node_t *n, size_t *count) {
    const char *s = scalar(x, n);
    if (!s) return FS_ERR_CONFIG;
    size_t l = strlen(s);
    if (strncmp(s, "nats://", 7) && strncmp(s, "tls://", 6))
        return fail_node(x, n, "'%.70s' is not nats://HOST:PORT (or tls://HOST:PORT)", s);
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == ',' || s[i] == 0x7f)
            return fail_node(x, n, "'%.70s': spaces, commas and control characters are not allowed", s);
    if (++*count > 16) return fail_node(x, n, "%s", "more than 16 NATS servers");
    char *dst = x->c->repl_urls;
    size_t used = strlen(dst), cap = sizeof x->c->repl_urls;
    if (used + l + 2 > cap) return fail_node(x, n, "%s", "the list of NATS servers is too long");
    snprintf(dst + used, cap - used, "%s%s", used ? "," : "", s);
    return FS_OK;
}

/* nats_urls: a list, or one string of comma-separated URLs. */
static fs_code get_urls(cfg_ctx *x, yaml_node_t *n) {
    x->c->repl_urls[0] = 0;
    size_t count = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
            yaml_node_t *u = yaml_document_get_node(x->doc, *i);
            if (!u) return fs_fail(x->e, FS_ERR_CONFIG, "%s: malformed document", x->name);
            fs_code rc = add_url(x, u, &count);
            if (rc != FS_OK) return rc;
        }
    } else {
        const char *s = scalar(x, n);
        if (!s) return FS_ERR_CONFIG;
        char one[HUB_CFG_PATH_MAX];
        for (const char *p = s; *p;) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            if (l == 0 || l >= sizeof one) return fail_node(x, n, "'%.70s': an empty or overlong URL", s);
            memcpy(one, p, l);
            one[l] = 0;
            yaml_node_t fake = *n;
            fake.data.scalar.value = (yaml_char_t *)one;
            fake.data.scalar.length = l;
            fs_code rc = add_url(x, &fake, &count);
            if (rc != FS_OK) return rc;
            p += l + (comma ? 1 : 0);
        }
    }
    if (!count) return fail_node(x, n, "%s", "no NATS server given");
    return FS_OK;
}

static fs_code repl_key(cfg_ctx *x, const char *key, yaml_node_t *v) {
    hub_config *c = x->c;
    if (!strcmp(key, "nats_urls")) return get_urls(x, v);
    if (!strcmp(key, "node_id")) return get_name(x, v, c->repl_node_id, sizeof c->repl_node_id);
    if (!strcmp(key, "stream")) return get_name(x, v, c->repl_stream, sizeof c->repl_stream);
    if (!strcmp(key, "replicas")) return get_u32(x, v, 1, 5, &c->repl_replicas);
    if (!strcmp(key, "tls_ca")) return get_path(x, v, c->repl_tls_ca, sizeof c->repl_tls_ca);
    return get_u32(x, v, 100, 600000, &c->repl_await_ms);
}

static fs_code top_key(cfg_ctx *x, const char *key, yaml_node_t *v) {
    hub_config *c = x->c;
    static const char *const tls_keys[] = {"cert", "key", "ca", NULL};
    static const char *const limit_keys[] = {"max_body", "max_inflight", "max_batch", "max_header_bytes",
                                             "max_connections", "max_member_connections", "timeout_s",
                                             "request_timeout_s",
                                             "max_stream_clients", "max_member_streams", "stream_buffer",
                                             "stream_backlog", "ping_s", NULL};
    static const char *const rate_keys[] = {"events_per_s", "burst", NULL};
    static const char *const window_keys[] = {"past_s", "future_s", NULL};
    static const char *const repl_keys[] = {"nats_urls", "node_id", "replicas", "stream",
                                            "await_ms", "tls_ca", NULL};
    if (!strcmp(key, "replication")) {
        if (null_node(v)) return FS_OK; /* "replication:" or ~ = none */
        fs_code rc = walk_map(x, v, repl_keys, repl_key);
        if (rc == FS_OK && (!c->repl_urls[0] || !c->repl_node_id[0]))
            return fail_node(x, v, "%s", "needs nats_urls and node_id (see docs/federation.md)");
        return rc;
    }
    if (!strcmp(key, "listen")) {
        const char *s = scalar(x, v);
        if (!s) return FS_ERR_CONFIG;
        const char *colon = strrchr(s, ':');
        uint64_t port;
        if (!colon || colon == s ||
            !fs_str_to_u64(fs_str_make(colon + 1, strlen(colon + 1)), 65535, &port))
            return fail_node(x, v, "'%.80s' is not HOST:PORT (e.g. 0.0.0.0:8443, [::]:8443)", s);
        const char *h = s;
        size_t hl = (size_t)(colon - s);
        bool bracketed = h[0] == '[' && hl >= 2 && h[hl - 1] == ']';
        if (bracketed) h++, hl -= 2;
        /* unbracketed, "::1" or "2001:db8::1" would be split at its last colon
         * into a host and a port (":" port 1): IPv6 goes in brackets, as in URLs */
        if (!bracketed && (memchr(h, ':', hl) || memchr(h, '[', hl) || memchr(h, ']', hl)))
            return fail_node(x, v, "'%.80s': an IPv6 address goes in brackets before the port ([::1]:8443)", s);
        if (hl == 0 || hl >= sizeof c->listen_host) return fail_node(x, v, "'%.80s': bad host", s);
        memcpy(c->listen_host, h, hl);
        c->listen_host[hl] = 0;
        c->listen_port = (uint16_t)port;
        return FS_OK;
    }
    if (!strcmp(key, "node")) return get_text(x, v, c->node, sizeof c->node);
    if (!strcmp(key, "tls")) return walk_map(x, v, tls_keys, tls_key);
    if (!strcmp(key, "registry")) return get_path(x, v, c->registry, sizeof c->registry);
    if (!strcmp(key, "store")) return get_store(x, v);
    if (!strcmp(key, "limits")) return walk_map(x, v, limit_keys, limits_key);
    if (!strcmp(key, "rate")) return walk_map(x, v, rate_keys, rate_key);
    if (!strcmp(key, "window")) return walk_map(x, v, window_keys, window_key);
    if (!strcmp(key, "sweep_interval_s")) return get_u32(x, v, 1, 86400, &c->sweep_interval_s);
    if (!strcmp(key, "workers")) return get_u32(x, v, 1, 64, &c->workers);
    return get_u32(x, v, 1, 10000, &c->commit_max);
}

/* Before libyaml builds the document (its loader takes seconds on 100 KB of
 * nested brackets): one pass over the events refuses what the schema never
 * has -- nesting deeper than HUB_CFG_MAX_DEPTH, anchors, aliases and tags
 * (nothing may expand), and a second document (it would be ignored). */
#define HUB_CFG_MAX_DEPTH 6
static fs_code check_shape(const char *buf, size_t len, const char *name, fs_err *e) {
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) return fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    fs_code rc = FS_OK;
    int depth = 0, docs = 0;
    for (bool done = false; !done && rc == FS_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            rc = fs_fail(e, FS_ERR_CONFIG, "%s:%zu:%zu: YAML syntax: %s", name, (size_t)yp.problem_mark.line + 1,
                         (size_t)yp.problem_mark.column + 1, yp.problem ? yp.problem : "error");
            break;
        }
        const char *bad = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) bad = "a second YAML document (one config per file)";
            break;
        case YAML_ALIAS_EVENT: bad = "an alias (*name): anchors and aliases are not allowed"; break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.anchor || ev.data.scalar.tag) bad = "an anchor or a tag: not allowed";
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
            if (seq ? ev.data.sequence_start.anchor || ev.data.sequence_start.tag
                    : ev.data.mapping_start.anchor || ev.data.mapping_start.tag)
                bad = "an anchor or a tag: not allowed";
            else if (++depth > HUB_CFG_MAX_DEPTH)
                bad = "nested deeper than the schema";
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        default: break;
        }
        if (bad)
            rc = fs_fail(e, FS_ERR_CONFIG, "%s:%zu:%zu: %s", name, (size_t)ev.start_mark.line + 1,
                         (size_t)ev.start_mark.column + 1, bad);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    return rc;
}

fs_code hub_config_parse(const char *buf, size_t len, const char *name, const char *dir,
                         hub_config *c, fs_err *e) {
    static const char *const keys[] = {"listen", "node", "tls", "registry", "store", "limits",
                                       "rate", "window", "sweep_interval_s", "workers",
                                       "commit_max", "replication", NULL};
    hub_config_defaults(c);
    fs_code pre = check_shape(buf, len, name, e);
    if (pre != FS_OK) return pre;
    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp)) return fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&yp, &doc)) {
        fs_code rc = fs_fail(e, FS_ERR_CONFIG, "%s:%zu:%zu: YAML syntax: %s", name,
                             (size_t)yp.problem_mark.line + 1, (size_t)yp.problem_mark.column + 1,
                             yp.problem ? yp.problem : "error");
        yaml_parser_delete(&yp);
        return rc;
    }
    yaml_parser_delete(&yp);
    cfg_ctx x = {&doc, name, dir, c, e, ""};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    fs_code rc = FS_OK;
    if (!root) rc = fs_fail(e, FS_ERR_CONFIG, "%s: empty file (tls and registry are required)", name);
    else if (!(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = walk_map(&x, root, keys, top_key);
    yaml_document_delete(&doc);
    if (rc != FS_OK) return rc;
    if (!c->tls_cert[0] || !c->tls_key[0] || !c->tls_ca[0])
        return fs_fail(e, FS_ERR_CONFIG, "%s: tls.cert, tls.key and tls.ca are required", name);
    if (!c->registry[0]) return fs_fail(e, FS_ERR_CONFIG, "%s: registry (the trust registry file) is required", name);
    /* no store: the default, sqlite:hub.db, is a relative path like any other in
     * the file (beside it), not in whatever folder the hub was started from */
    if (!c->store_url[0] && !sqlite_store(c, dir, "hub.db"))
        return fs_fail(e, FS_ERR_CONFIG, "%s: the default store path (sqlite:hub.db beside it) is too long", name);
    if (c->repl_urls[0] && !strcmp(c->node, "hub-1")) /* /health names the node by its id */
        snprintf(c->node, sizeof c->node, "%.63s", c->repl_node_id);
    if (c->rate_events_per_s > 0 && c->rate_burst < c->max_batch)
        return fs_fail(e, FS_ERR_CONFIG,
                       "%s: rate.burst (%.0f) is smaller than limits.max_batch (%u): a full batch could never pass",
                       name, c->rate_burst, c->max_batch);
    return FS_OK;
}

fs_code hub_config_load(const char *path, hub_config *c, fs_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return fs_fail(e, FS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = malloc(HUB_CFG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    errno = 0;
    size_t n = fread(buf, 1, HUB_CFG_MAX_BYTES + 1, f);
    int err = ferror(f) ? (errno ? errno : EIO) : 0; /* a folder opens, then reads EISDIR */
    fclose(f);
    if (err || n > HUB_CFG_MAX_BYTES) {
        free(buf);
        return fs_fail(e, err ? FS_ERR_IO : FS_ERR_LIMIT, "'%s': %s", path,
                       err ? strerror(err) : "larger than 1 MiB");
    }
    char dir[HUB_CFG_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    if (slash == path) snprintf(dir, sizeof dir, "/");
    fs_code rc = hub_config_parse(buf, n, path, dir, c, e);
    free(buf);
    return rc;
}
