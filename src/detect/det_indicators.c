/*
 * det_indicators.c -- rule INTEL-001: traffic that matches an indicator other
 * operators shared through an fs38 hub.
 *
 * Owns: loading the indicator cache `fs38 pull` writes (NDJSON of verified
 * events), the match tables built from it, and the per-message check.
 * Must not touch: the network, signatures (pull verified them), the other
 * detectors, printing.
 *
 * Tables are built once at load and read-only afterwards (workers share
 * them): source networks grouped by (family, prefix length), longest first,
 * each group a sorted array searched by binary search; E.164 numbers and
 * ranges per side (caller, callee) sorted by (length, digits) and searched
 * for every length present, longest first; User-Agents by hash. A message
 * costs at most a few dozen comparisons and no allocation; an engine with
 * no indicators does not call in here at all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>

#include "../exchange/xc.h"
#include "det_internal.h"

#define IND_MAX_HITS 8        /* shared events acted on per message */
#define IND_MAX_DIGITS 15     /* E.164 */
#define IND_UA_MAX 1024 /* the longest observable value the format takes (xc_event.c) */
#define IND_LINE_MAX (XC_EVENT_MAX_BYTES + 2)

enum { SIDE_CALLER = 0, SIDE_CALLEE = 1 };

/* One shared event we act on. */
typedef struct ind_event {
    char issuer[XC_ISSUER_MAX + 1];
    char event_id[40];
    uint32_t version;
    int64_t valid_until_ms;
    uint8_t type, domain, severity, confidence, action;
    int8_t protocol; /* details.protocol (XC_ENUM_PROTOCOL index) or -1 */
    uint32_t ttl_s;
    char scope[65]; /* recommended_action.scope: at most 64 characters (xc_event_check) */
    bool superseded; /* a higher version of it (or the same line again) is in the set */
} ind_event;

/* A version of a shared event the cache holds, acted on or not (revoked,
 * expired, unmatchable): a receiver acts on the highest version of each
 * (issuer, event_id) only (docs/events.md), whatever the order of lines. */
typedef struct ind_version {
    uint64_t key;     /* keyed hash of (issuer, event_id) */
    uint32_t version;
    uint32_t ev;      /* its ind_event, or UINT32_MAX when not acted on */
} ind_version;

typedef struct ind_net {
    fs_addr net; /* masked to prefix */
    uint8_t prefix;
    uint32_t ev;
} ind_net;

/* A run of ind_net with one family and prefix length. */
typedef struct ind_group {
    uint8_t family, prefix;
    uint32_t start, count;
} ind_group;

typedef struct ind_num {
    char digits[IND_MAX_DIGITS + 1]; /* without '+' */
    uint8_t len;
    bool exact;                      /* e164: the whole number, not a prefix */
    uint32_t ev;
} ind_num;

typedef struct ind_ua {
    uint64_t hash;
    char *ua; /* lowercase, owned */
    uint32_t ev;
} ind_ua;

struct det_indicators {
    ind_event *events;
    uint32_t nevents, events_cap;
    ind_net *nets;
    uint32_t nnets, nets_cap;
    ind_group groups[2 * 129];
    uint32_t ngroups;
    ind_num *nums[2];
    uint32_t nnums[2], nums_cap[2];
    uint32_t num_lengths[2]; /* bit l set: some entry has length l */
    ind_ua *uas;
    uint32_t nuas, uas_cap;
    ind_version *versions; /* while loading */
    uint32_t nversions, versions_cap;
    unsigned char version_seed[crypto_shorthash_KEYBYTES];
    det_indicators_info info;
};

/* ---- building --------------------------------------------------------------------- */

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t size) {
    if (need <= *cap) return true;
    uint32_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *p = realloc(*arr, (size_t)n * size);
    if (!p) return false;
    *arr = p;
    *cap = n;
    return true;
}

static void addr_mask(fs_addr *a, unsigned prefix) {
    unsigned bytes = a->family == 4 ? 4 : 16;
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (i >= bytes || bit >= prefix) a->ip[i] = 0;
        else if (prefix - bit < 8) a->ip[i] &= (uint8_t)(0xff00u >> (prefix - bit));
    }
}

static uint64_t ua_hash(const char *s, size_t n) { return fs_hash_bytes(s, n, 0x1d5c0ffee); }

/* Lowercase, trimmed copy of a User-Agent into out (IND_UA_MAX + 1); 0 when
 * it is empty or longer than any shared one can be (cut short, it would
 * equal every agent that starts alike). */
static size_t ua_norm(fs_str s, char *out) {
    s = fs_str_trim(s);
    if (s.len > IND_UA_MAX) return 0;
    size_t n = s.len;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out[n] = '\0';
    return n;
}

typedef enum { ADD_OK, ADD_SKIP, ADD_NOMEM } add_status;


static add_status add_net(det_indicators *d, const char *value, uint32_t ev) {
    fs_cidr c;
    if (!fs_cidr_parse(value, &c, NULL)) return ADD_SKIP;
    /* ::ffff:a.b.c.d/n (n >= 96) is a.b.c.d/(n - 96): traffic is matched as
     * IPv4 when it comes IPv4-mapped (det_indicators_check), so kept as IPv6
     * it would match nothing (as zones, cfg.c) */
    fs_addr v4 = fs_addr_unmapped(&c.net);
    if (v4.family == 4 && c.net.family == 6 && c.prefix >= 96) {
        c.net = v4;
        c.prefix = (uint8_t)(c.prefix - 96);
    }
    if (!grow((void **)&d->nets, &d->nets_cap, d->nnets + 1, sizeof *d->nets)) return ADD_NOMEM;
    ind_net *n = &d->nets[d->nnets++];
    n->net = c.net;
    n->prefix = c.prefix;
    addr_mask(&n->net, c.prefix);
    n->ev = ev;
    d->info.sources++;
    return ADD_OK;
}

static add_status add_num(det_indicators *d, int side, const char *value, bool exact, uint32_t ev) {
    if (value[0] != '+') return ADD_SKIP;
    size_t len = strlen(value + 1);
    if (len == 0 || len > IND_MAX_DIGITS) return ADD_SKIP;
    for (size_t i = 1; i <= len; i++)
        if (value[i] < '0' || value[i] > '9') return ADD_SKIP;
    if (!grow((void **)&d->nums[side], &d->nums_cap[side], d->nnums[side] + 1, sizeof(ind_num)))
        return ADD_NOMEM;
    ind_num *n = &d->nums[side][d->nnums[side]++];
    memcpy(n->digits, value + 1, len + 1);
    n->len = (uint8_t)len;
    n->exact = exact;
    n->ev = ev;
    d->num_lengths[side] |= 1u << len;
    d->info.numbers++;
    return ADD_OK;
}

static add_status add_ua(det_indicators *d, const char *value, uint32_t ev) {
    char norm[IND_UA_MAX + 1];
    size_t n = ua_norm(fs_str_make(value, strlen(value)), norm);
    if (n == 0) return ADD_SKIP;
    if (!grow((void **)&d->uas, &d->uas_cap, d->nuas + 1, sizeof *d->uas)) return ADD_NOMEM;
    char *copy = malloc(n + 1);
    if (!copy) return ADD_NOMEM;
    memcpy(copy, norm, n + 1);
    d->uas[d->nuas++] = (ind_ua){ua_hash(norm, n), copy, ev};
    d->info.user_agents++;
    return ADD_OK;
}

static bool role_is(const char *role, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(role, *set)) return true;
    return false;
}

/* The match keys of one observable. */
static add_status add_observable(det_indicators *d, const xc_observable *o, uint32_t ev) {
    static const char *const caller_roles[] = {"caller", "source", NULL};
    static const char *const callee_roles[] = {"callee", "destination", "target", NULL};
    bool range = !strcmp(o->kind, "e164_range");
    if ((!strcmp(o->kind, "ip") || !strcmp(o->kind, "cidr")) && !strcmp(o->role, "source"))
        return add_net(d, o->value, ev);
    if (range || !strcmp(o->kind, "e164")) {
        if (role_is(o->role, caller_roles)) return add_num(d, SIDE_CALLER, o->value, !range, ev);
        if (role_is(o->role, callee_roles)) return add_num(d, SIDE_CALLEE, o->value, !range, ev);
        return ADD_SKIP;
    }
    if (!strcmp(o->kind, "sip_user_agent") && !strcmp(o->role, "tool")) return add_ua(d, o->value, ev);
    return ADD_SKIP;
}

static int enum_index(const char *s, const char *(*name)(int), int count) {
    for (int i = 0; i < count; i++)
        if (!strcmp(name(i), s)) return i;
    return -1;
}
static const char *type_name_i(int i) { return det_event_type_name((det_event_type)i); }
static const char *domain_name_i(int i) { return det_domain_name((det_domain)i); }
static const char *action_name_i(int i) { return det_action_name((det_action)i); }

/* The longest ttl_s an INTEL-001 event takes from a shared event: the
 * longest `rules.<ID>.ttl_s` the config accepts (cfg.c). */
enum { SHARED_TTL_MAX_S = 365 * 86400 };

/* Fill the ind_event; false when inspect cannot raise this type. */
static bool event_fields(ind_event *ie, const xc_event *ev) {
    int type = enum_index(ev->event_type, type_name_i, ET__COUNT);
    int dom = enum_index(ev->domain, domain_name_i, 3);
    int sev = det_severity_parse(ev->severity);
    if (type < 0 || dom < 0 || sev < 0) return false;
    memset(ie, 0, sizeof *ie);
    snprintf(ie->issuer, sizeof ie->issuer, "%s", ev->issuer);
    snprintf(ie->event_id, sizeof ie->event_id, "%s", ev->event_id);
    ie->version = ev->version > UINT32_MAX ? UINT32_MAX : (uint32_t)ev->version;
    ie->valid_until_ms = ev->valid_until_ms;
    ie->type = (uint8_t)type;
    ie->domain = (uint8_t)dom;
    ie->severity = (uint8_t)sev;
    ie->confidence = (uint8_t)(ev->confidence < 0 ? 0 : ev->confidence > 100 ? 100 : ev->confidence);
    ie->action = ACT_MONITOR;
    snprintf(ie->scope, sizeof ie->scope, "sip_ingress");
    const json_t *ra = json_object_get(ev->root, "recommended_action");
    const char *act = json_string_value(json_object_get(ra, "action"));
    const char *scope = json_string_value(json_object_get(ra, "scope"));
    json_int_t ttl = json_integer_value(json_object_get(ra, "ttl_s"));
    int a = act ? enum_index(act, action_name_i, ACT__COUNT) : -1;
    if (a >= 0) ie->action = (uint8_t)a;
    if (scope && strlen(scope) < sizeof ie->scope) snprintf(ie->scope, sizeof ie->scope, "%s", scope);
    /* the partner's lifetime, held to the longest a rule's ttl_s may be
     * (the config's bound): a year, not the rule's hour, for "block for
     * two years"; 0 (no lifetime) takes the rule's */
    ie->ttl_s = ttl <= 0 ? 0 : ttl > SHARED_TTL_MAX_S ? SHARED_TTL_MAX_S : (uint32_t)ttl;
    /* a SIGNALLING_ATTACK names its protocol, and so must the event raised
     * with its type (the validator requires details.protocol) */
    const json_t *details = json_object_get(json_object_get(ev->root, "evidence"), "details");
    const char *proto = json_string_value(json_object_get(details, "protocol"));
    ie->protocol = (int8_t)(proto ? xc_enum_find(XC_ENUM_PROTOCOL, proto) : -1);
    return true;
}

/* One line of the cache. */
static fs_code add_line(det_indicators *d, const char *buf, size_t len, const char *name,
                        unsigned lineno, int64_t now_ms, fs_err *e) {
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')) i++;
    if (i == len) return FS_OK; /* blank */
    /* the line's end is not the event's: an event of XC_EVENT_MAX_BYTES
     * (which pull accepts and caches) is that many bytes without it */
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
    xc_event ev;
    fs_err pe = {0};
    if (xc_event_parse(buf, len, &ev, NULL, &pe) != FS_OK)
        return fs_fail(e, FS_ERR_FORMAT, "%s:%u: not a valid event: %s", name, lineno, pe.msg);
    fs_code rc = FS_OK;
    uint32_t acted_before = d->nevents;
    bool feedback = !strcmp(ev.event_type, "SIGHTING") || !strcmp(ev.event_type, "FALSE_POSITIVE");
    if (!strcmp(ev.status, "revoked")) {
        d->info.revoked++;
    } else if (feedback) {
        d->info.feedback++;
    } else if (ev.valid_until_ms < now_ms) {
        d->info.expired++;
    } else if (d->nevents >= DET_INDICATORS_MAX) {
        rc = fs_fail(e, FS_ERR_LIMIT, "%s:%u: more than %u shared events (the most one run acts on)",
                     name, lineno, DET_INDICATORS_MAX);
    } else if (!grow((void **)&d->events, &d->events_cap, d->nevents + 1, sizeof *d->events)) {
        rc = fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
    } else if (!event_fields(&d->events[d->nevents], &ev)) {
        d->info.unmatchable++;
    } else {
        uint32_t idx = d->nevents;
        bool any = false;
        for (size_t k = 0; k < xc_event_nobs(&ev) && rc == FS_OK; k++) {
            xc_observable o;
            if (!xc_event_observable(&ev, k, &o)) continue;
            add_status st = add_observable(d, &o, idx);
            if (st == ADD_NOMEM) rc = fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
            any |= st == ADD_OK;
        }
        if (any) {
            d->nevents++;
            d->info.events++;
        } else {
            d->info.unmatchable++;
        }
    }
    if (rc == FS_OK && !feedback) {
        if (!grow((void **)&d->versions, &d->versions_cap, d->nversions + 1, sizeof *d->versions)) {
            rc = fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
        } else {
            unsigned char id[XC_ISSUER_MAX + 1 + 64];
            size_t il = strnlen(ev.issuer, XC_ISSUER_MAX), el = strnlen(ev.event_id, 63);
            memcpy(id, ev.issuer, il);
            id[il] = '\n';
            memcpy(id + il + 1, ev.event_id, el);
            uint64_t key;
            crypto_shorthash((unsigned char *)&key, id, il + 1 + el, d->version_seed);
            d->versions[d->nversions++] = (ind_version){
                key, ev.version > UINT32_MAX ? UINT32_MAX : (uint32_t)ev.version,
                d->nevents > acted_before ? acted_before : UINT32_MAX};
        }
    }
    xc_event_free(&ev);
    return rc;
}

static int cmp_net(const void *a, const void *b) {
    const ind_net *x = a, *y = b;
    if (x->net.family != y->net.family) return x->net.family < y->net.family ? -1 : 1;
    if (x->prefix != y->prefix) return x->prefix > y->prefix ? -1 : 1; /* longest first */
    return memcmp(x->net.ip, y->net.ip, 16);
}

static int cmp_num(const void *a, const void *b) {
    const ind_num *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->digits, y->digits, x->len);
}

static int cmp_ua(const void *a, const void *b) {
    const ind_ua *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return strcmp(x->ua, y->ua);
}

static int cmp_version(const void *a, const void *b) {
    const ind_version *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->version != y->version) return x->version > y->version ? -1 : 1; /* highest first */
    /* of one version, a copy not acted on (revoked) first, then the first line */
    bool xa = x->ev != UINT32_MAX, ya = y->ev != UINT32_MAX;
    if (xa != ya) return xa ? 1 : -1;
    return x->ev < y->ev ? -1 : x->ev > y->ev ? 1 : 0;
}

/* Only the highest version of each shared event is acted on, and not when
 * that one is revoked, expired or unmatchable; a line there twice counts
 * once. The others' match keys are dropped. */
static void supersede(det_indicators *d) {
    if (d->nversions > 1) qsort(d->versions, d->nversions, sizeof *d->versions, cmp_version);
    uint32_t dropped = 0;
    for (uint32_t i = 1; i < d->nversions; i++) {
        if (d->versions[i].key != d->versions[i - 1].key) continue;
        /* not the group's first: ties (a line twice) sort the later line after */
        uint32_t ev = d->versions[i].ev;
        if (ev != UINT32_MAX && !d->events[ev].superseded) {
            d->events[ev].superseded = true;
            dropped++;
        }
    }
    free(d->versions);
    d->versions = NULL;
    d->nversions = d->versions_cap = 0;
    if (!dropped) return;
    d->info.events -= dropped;
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nnets; i++)
        if (!d->events[d->nets[i].ev].superseded) d->nets[n++] = d->nets[i];
    d->info.sources -= d->nnets - n;
    d->nnets = n;
    for (int s = 0; s < 2; s++) {
        n = 0;
        for (uint32_t i = 0; i < d->nnums[s]; i++)
            if (!d->events[d->nums[s][i].ev].superseded) d->nums[s][n++] = d->nums[s][i];
        d->info.numbers -= d->nnums[s] - n;
        d->nnums[s] = n;
        d->num_lengths[s] = 0;
        for (uint32_t i = 0; i < n; i++) d->num_lengths[s] |= 1u << d->nums[s][i].len;
    }
    n = 0;
    for (uint32_t i = 0; i < d->nuas; i++) {
        if (!d->events[d->uas[i].ev].superseded) d->uas[n++] = d->uas[i];
        else free(d->uas[i].ua);
    }
    d->info.user_agents -= d->nuas - n;
    d->nuas = n;
}

static void build_index(det_indicators *d) {
    supersede(d);
    if (d->nnets) qsort(d->nets, d->nnets, sizeof *d->nets, cmp_net);
    d->ngroups = 0;
    for (uint32_t i = 0; i < d->nnets; i++) {
        ind_group *g = d->ngroups ? &d->groups[d->ngroups - 1] : NULL;
        if (g && g->family == d->nets[i].net.family && g->prefix == d->nets[i].prefix) {
            g->count++;
            continue;
        }
        d->groups[d->ngroups++] = (ind_group){d->nets[i].net.family, d->nets[i].prefix, i, 1};
    }
    for (int s = 0; s < 2; s++)
        if (d->nnums[s]) qsort(d->nums[s], d->nnums[s], sizeof(ind_num), cmp_num);
    if (d->nuas) qsort(d->uas, d->nuas, sizeof *d->uas, cmp_ua);
}

static det_indicators *indicators_new(fs_err *e) {
    det_indicators *d = calloc(1, sizeof *d);
    if (!d) fs_fail(e, FS_ERR_NOMEM, "indicators: out of memory");
    else crypto_shorthash_keygen(d->version_seed);
    return d;
}

det_indicators *det_indicators_parse(const char *buf, size_t len, const char *name, int64_t now_ms,
                                     fs_err *e) {
    det_indicators *d = indicators_new(e);
    if (!d) return NULL;
    unsigned lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        lineno++;
        if (add_line(d, buf + pos, end - pos, name, lineno, now_ms, e) != FS_OK) {
            det_indicators_free(d);
            return NULL;
        }
        pos = end + 1;
    }
    build_index(d);
    return d;
}

det_indicators *det_indicators_load(const char *path, int64_t now_ms, fs_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fs_fail(e, FS_ERR_IO, "indicators %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        fs_fail(e, FS_ERR_IO, "indicators %s: %s", path, strerror(EISDIR));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && st.st_size > (off_t)DET_INDICATORS_MAX_BYTES) {
        fclose(f);
        fs_fail(e, FS_ERR_LIMIT, "indicators %s: larger than %u MiB", path, DET_INDICATORS_MAX_BYTES >> 20);
        return NULL;
    }
    char *line = malloc(IND_LINE_MAX + 1);
    det_indicators *d = line ? indicators_new(e) : NULL;
    if (!d) {
        free(line);
        fclose(f);
        if (e && e->code == FS_OK) fs_fail(e, FS_ERR_NOMEM, "indicators: out of memory");
        return NULL;
    }
    unsigned lineno = 0;
    size_t total = 0; /* the size check above cannot see pipes and devices */
    fs_code rc = FS_OK;
    while (rc == FS_OK && fgets(line, IND_LINE_MAX + 1, f)) {
        size_t n = strlen(line);
        lineno++;
        if (n == IND_LINE_MAX && line[n - 1] != '\n') {
            rc = fs_fail(e, FS_ERR_LIMIT, "%s:%u: line longer than %u bytes (an event is at most %u)",
                         path, lineno, IND_LINE_MAX, XC_EVENT_MAX_BYTES);
            break;
        }
        /* fgets stops at a newline, a full buffer or the end: a shorter line
         * without its newline before the end holds a NUL byte */
        bool nul = n == 0 || (line[n - 1] != '\n' && !feof(f));
        /* ... and so does the last line, ended by the file, when the file
         * goes on past what strlen saw (known where the file can tell its
         * position: a regular file) */
        if (!nul && line[n - 1] != '\n') {
            off_t at = ftello(f);
            nul = at >= 0 && (uint64_t)at != (uint64_t)total + n;
        }
        if (nul) {
            rc = fs_fail(e, FS_ERR_FORMAT, "%s:%u: NUL byte in the line (not NDJSON text)", path, lineno);
            break;
        }
        if ((total += n) > DET_INDICATORS_MAX_BYTES) {
            rc = fs_fail(e, FS_ERR_LIMIT, "indicators %s: larger than %u MiB", path, DET_INDICATORS_MAX_BYTES >> 20);
            break;
        }
        rc = add_line(d, line, n, path, lineno, now_ms, e);
    }
    if (rc == FS_OK && ferror(f)) rc = fs_fail(e, FS_ERR_IO, "indicators %s: read error", path);
    free(line);
    fclose(f);
    if (rc != FS_OK) {
        det_indicators_free(d);
        return NULL;
    }
    build_index(d);
    return d;
}

void det_indicators_free(det_indicators *d) {
    if (!d) return;
    for (uint32_t i = 0; i < d->nuas; i++) free(d->uas[i].ua);
    free(d->uas);
    free(d->nums[0]);
    free(d->nums[1]);
    free(d->nets);
    free(d->events);
    free(d->versions);
    free(d);
}

void det_indicators_get_info(const det_indicators *d, det_indicators_info *out) {
    if (d) *out = d->info;
    else memset(out, 0, sizeof *out);
}

void det_engine_set_indicators(det_engine *eng, const det_indicators *ind) {
    eng->indicators = ind && ind->info.events ? ind : NULL;
}

/* ---- matching ------------------------------------------------------------------------ */

/* As much as an event's observable holds: a User-Agent cut shorter names
 * no agent (receivers match it whole). */
#define IND_SHOWN_MAX sizeof(((ev_observable *)0)->value)

typedef struct ind_hit {
    uint32_t ev;
    const char *matched;            /* kind */
    char indicator[IND_SHOWN_MAX];  /* the shared value that matched */
    char observed[IND_SHOWN_MAX];   /* what the traffic carried */
    const char *role;
} ind_hit;

typedef struct ind_hits {
    const det_indicators *d;
    double min_conf; /* the rule's min_confidence */
    int64_t now_ms;  /* the wall clock, read at the first candidate (0 before) */
    unsigned n;
    ind_hit h[IND_MAX_HITS];
} ind_hits;

/* Is the shared event acted on: not expired since the set was loaded, not
 * below min_confidence? Asked before a match counts, so that one which is
 * not hides neither a shorter prefix's nor a place among the hits kept (as
 * after the cache is read again without it). */
static bool usable(ind_hits *hs, uint32_t ev) {
    const ind_event *ie = &hs->d->events[ev];
    if ((double)ie->confidence < hs->min_conf) return false;
    if (!hs->now_ms) hs->now_ms = (int64_t)(fs_time_now_us() / 1000);
    return ie->valid_until_ms >= hs->now_ms;
}

static void hit_add(ind_hits *hs, uint32_t ev, const char *kind, const char *indicator, const char *observed,
                    const char *role) {
    for (unsigned i = 0; i < hs->n; i++)
        if (hs->h[i].ev == ev) return; /* one incident per shared event and source */
    if (hs->n >= IND_MAX_HITS) return;
    ind_hit *h = &hs->h[hs->n++];
    h->ev = ev;
    h->matched = kind;
    h->role = role;
    snprintf(h->indicator, sizeof h->indicator, "%s", indicator);
    snprintf(h->observed, sizeof h->observed, "%s", observed);
}

static void match_source(const det_indicators *d, const fs_addr *a, ind_hits *hs) {
    bool any = false;
    for (uint32_t g = 0; g < d->ngroups; g++) {
        const ind_group *gr = &d->groups[g];
        if (gr->family != a->family) continue;
        ind_net key = {.net = *a, .prefix = gr->prefix};
        addr_mask(&key.net, gr->prefix);
        const ind_net *base = d->nets + gr->start;
        const ind_net *f = bsearch(&key, base, gr->count, sizeof *base, cmp_net);
        if (!f) continue;
        while (f > base && cmp_net(f - 1, &key) == 0) f--;
        char ip[FS_ADDR_STRLEN], net[FS_ADDR_STRLEN + 4];
        fs_addr_str(a, ip, sizeof ip);
        unsigned full = a->family == 4 ? 32 : 128;
        for (; f < base + gr->count && cmp_net(f, &key) == 0; f++) {
            if (!usable(hs, f->ev)) continue;
            any = true;
            if (gr->prefix == full) snprintf(net, sizeof net, "%s", ip);
            else {
                char n[FS_ADDR_STRLEN];
                snprintf(net, sizeof net, "%s/%u", fs_addr_str(&f->net, n, sizeof n), gr->prefix);
            }
            hit_add(hs, f->ev, gr->prefix == full ? "ip" : "cidr", net, ip, "source");
        }
        if (any) return; /* longest prefix only */
    }
}

static void match_number(const det_indicators *d, int side, const char *num, const char *role, ind_hits *hs) {
    if (num[0] != '+' || !d->nnums[side]) return;
    const char *digits = num + 1;
    size_t len = strlen(digits);
    if (len == 0) return;
    const ind_num *arr = d->nums[side];
    uint32_t n = d->nnums[side];
    /* a number longer than E.164 allows (overdialled: exchanges route on
     * the prefix) matches no e164, but still starts with a range, as
     * cfg_match_prefix takes high_risk_ranges */
    for (size_t l = len < IND_MAX_DIGITS ? len : IND_MAX_DIGITS; l >= 1; l--) {
        if (!(d->num_lengths[side] & (1u << l))) continue;
        ind_num key = {.len = (uint8_t)l};
        memcpy(key.digits, digits, l);
        const ind_num *f = bsearch(&key, arr, n, sizeof *arr, cmp_num);
        if (!f) continue;
        while (f > arr && cmp_num(f - 1, &key) == 0) f--;
        bool any = false;
        for (; f < arr + n && cmp_num(f, &key) == 0; f++) {
            if ((f->exact && l != len) || !usable(hs, f->ev)) continue;
            char ind[IND_MAX_DIGITS + 2];
            snprintf(ind, sizeof ind, "+%s", f->digits);
            hit_add(hs, f->ev, f->exact ? "e164" : "e164_range", ind, num, role);
            any = true;
        }
        if (any) return; /* longest prefix only */
    }
}

static void match_ua(const det_indicators *d, fs_str ua, ind_hits *hs) {
    if (ua.len == 0) return;
    char norm[IND_UA_MAX + 1];
    size_t n = ua_norm(ua, norm);
    if (!n) return;
    ind_ua key = {.hash = ua_hash(norm, n), .ua = norm};
    const ind_ua *f = bsearch(&key, d->uas, d->nuas, sizeof *d->uas, cmp_ua);
    if (!f) return;
    while (f > d->uas && cmp_ua(f - 1, &key) == 0) f--;
    char shown[IND_SHOWN_MAX];
    ev_copy_text(shown, sizeof shown, ua);
    for (; f < d->uas + d->nuas && cmp_ua(f, &key) == 0; f++)
        if (usable(hs, f->ev)) hit_add(hs, f->ev, "sip_user_agent", f->ua, shown, "tool");
}

static void number_of(fs_str header_or_uri, char *out, size_t n) {
    bool intl;
    out[0] = '\0';
    fs_str user = det_header_user(header_or_uri);
    if (!user.len || !det_number_normalise(user, out, n, &intl) || !intl) out[0] = '\0';
}

/* Every P-Asserted-Identity value's number, up to IND_PAI_VALUES (RFC 3325
 * 9.1: a sip: and a tel: one, as a list or as two fields; the next hop may
 * take either, so a shared caller in the second must match too). */
#define IND_PAI_VALUES 4
static void match_pai(const det_indicators *d, const sip_msg *m, ind_hits *hs) {
    uint16_t pos = 0;
    unsigned n = 0;
    const sip_header *h;
    while (n < IND_PAI_VALUES && (h = sip_header_next(m, SIP_H_P_ASSERTED_IDENTITY, &pos)) != NULL) {
        fs_str rest = h->value, item;
        while (n < IND_PAI_VALUES && sip_list_next(&rest, &item)) {
            if (!item.len) continue;
            char num[32];
            n++;
            number_of(item, num, sizeof num);
            match_number(d, SIDE_CALLER, num, "caller", hs);
        }
    }
}

/* Every User-Agent field, and a response's Server fields, up to
 * IND_AGENT_FIELDS: a tool named second, after a harmless agent, must match
 * as SIP-SCAN-001 finds it there (det_protocol.c). */
#define IND_AGENT_FIELDS 4
static void match_agents(const det_indicators *d, const sip_msg *m, ind_hits *hs) {
    if (!d->nuas) return;
    static const sip_header_id agents[] = {SIP_H_USER_AGENT, SIP_H_SERVER};
    unsigned n = 0;
    for (size_t i = 0; i < (m->is_request ? 1u : 2u); i++) {
        uint16_t pos = 0;
        const sip_header *h;
        while (n < IND_AGENT_FIELDS && (h = sip_header_next(m, agents[i], &pos)) != NULL) {
            n++;
            match_ua(d, h->value, hs);
        }
    }
}

/* One incident per (shared event, sender), keyed by the event's issuer and
 * event_id, not by its place in the set: a set reloaded during a live run
 * (det_engine_set_indicators again) keeps the incidents open. */
static void raise_hit(det_ctx *c, const ind_event *ie, const ind_hit *h) {
    const fs_addr *src = &c->p->src.addr;
    uint64_t key = det_key(c->eng, ie->issuer, strlen(ie->issuer), 71) ^
                   det_key(c->eng, ie->event_id, strlen(ie->event_id), 73) ^ det_key_addr(c->eng, src, 72);
    bool opened;
    ev_event *ev = det_hit(c, R_INTEL_MATCH, key, 1, &opened);
    if (!ev || !opened) return;
    ev->event_type = (det_event_type)ie->type;
    ev->domain = (det_domain)ie->domain;
    ev->severity = (det_severity)ie->severity;
    ev->confidence = ie->confidence;
    ev->action = (det_action)ie->action;
    if (ie->ttl_s) ev->ttl_s = ie->ttl_s;
    snprintf(ev->scope, sizeof ev->scope, "%s", ie->scope);
    ev->valid_until_us = ev->last_us + (uint64_t)ev->ttl_s * FS_USEC;
    const char *kind = !strcmp(h->matched, "cidr") ? "ip" : !strcmp(h->matched, "e164_range") ? "e164" : h->matched;
    ev_add_observable(ev, kind, h->observed, h->role);
    if (strcmp(kind, "ip") != 0) {
        char ip[FS_ADDR_STRLEN];
        ev_add_observable(ev, "ip", fs_addr_str(src, ip, sizeof ip), "source");
    }
    ev_set_str(ev, "matched", h->matched);
    ev_set_str(ev, "indicator", h->indicator);
    ev_set_str(ev, "ref.issuer", ie->issuer);
    ev_set_str(ev, "ref.event_id", ie->event_id);
    ev_set_int(ev, "ref.version", ie->version);
    if (ie->protocol >= 0) ev_set_str(ev, "protocol", xc_enum_value(XC_ENUM_PROTOCOL, (size_t)ie->protocol));
}

void det_indicators_check(det_ctx *c) {
    const det_indicators *d = c->eng->indicators;
    const sip_msg *m = c->m;
    if (!d || !m) return;
    ind_hits hs = {.d = d, .min_conf = det_rule_cfg(c, R_INTEL_MATCH)->param[0]};
    if (d->ngroups) {
        /* ::ffff:a.b.c.d (a dual-stack socket's IPv4 peer, e.g. a proxy's HEP)
         * matches shared IPv4 indicators, as zones and allow_sources do */
        fs_addr src = fs_addr_unmapped(&c->p->src.addr);
        match_source(d, &src, &hs);
    }
    if (m->is_request && (d->nnums[SIDE_CALLER] || d->nnums[SIDE_CALLEE])) {
        char num[32];
        number_of(m->from, num, sizeof num);
        match_number(d, SIDE_CALLER, num, "caller", &hs);
        match_pai(d, m, &hs);
        number_of(m->ruri, num, sizeof num);
        match_number(d, SIDE_CALLEE, num, "callee", &hs);
        number_of(m->to, num, sizeof num);
        match_number(d, SIDE_CALLEE, num, "callee", &hs);
    }
    match_agents(d, m, &hs);
    for (unsigned i = 0; i < hs.n; i++) raise_hit(c, &d->events[hs.h[i].ev], &hs.h[i]); /* all usable */
}

