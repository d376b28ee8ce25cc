/*
 * ev.c -- building and serialising fs38 events (see ev.h).
 *
 * Cold path: called once per incident, not per packet, so it uses jansson
 * for correct JSON rather than hand-rolled printing.
 */
#include "ev.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>

void ev_copy_text(char *dst, size_t n, fs_str src) {
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)src.p;
    size_t len = src.len;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t need = 1;
        if (c >= 0x80) {
            if (c >= 0xc2 && c <= 0xdf) need = 2;
            else if (c >= 0xe0 && c <= 0xef) need = 3;
            else if (c >= 0xf0 && c <= 0xf4) need = 4;
            else need = 0; /* invalid lead byte */
            for (size_t k = 1; need && k < need; k++)
                if (i + k >= len || (p[i + k] & 0xc0) != 0x80) need = 0;
            /* reject overlongs and surrogates for 3/4-byte forms */
            if (need == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f))) need = 0;
            if (need == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))) need = 0;
        }
        if (need == 0) { /* replace one invalid byte */
            if (o + 1 >= n) break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + need >= n) break;
        if (need == 2 && c == 0xc2 && p[i + 1] < 0xa0) { /* a C1 control, U+0080-U+009F */
            dst[o++] = ' ';
            i += 2;
            continue;
        }
        if (need == 1) {
            dst[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c;
        } else {
            memcpy(dst + o, p + i, need);
            o += need;
        }
        i += need;
    }
    if (n) dst[o] = '\0';
}

void ev_uuid7(uint64_t ts_us, char out[40]) {
    uint8_t b[16];
    uint64_t ms = ts_us / 1000;
    randombytes_buf(b + 6, 10);
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* RFC 9562 variant */
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

bool ev_e164_ok(const char *v) {
    size_t n = v ? strlen(v) : 0;
    if (n < 2 || n > 16 || v[0] != '+') return false;
    for (size_t i = 1; i < n; i++)
        if (v[i] < '0' || v[i] > '9') return false;
    return true;
}

void ev_add_observable(ev_event *ev, const char *kind, const char *value, const char *role) {
    if (ev->nobs >= EV_MAX_OBSERVABLES || !value || !*value) return;
    /* the event format: '+' and 1-15 digits; a caller's "+44x" or a
     * 20-digit "number" from hostile SIP is no E.164 number */
    if ((!strcmp(kind, "e164") || !strcmp(kind, "e164_range")) && !ev_e164_ok(value)) return;
    for (unsigned i = 0; i < ev->nobs; i++) /* no duplicates */
        if (!strcmp(ev->obs[i].kind, kind) && !strcmp(ev->obs[i].value, value) &&
            !strcmp(ev->obs[i].role, role))
            return;
    ev_observable *o = &ev->obs[ev->nobs++];
    snprintf(o->kind, sizeof o->kind, "%s", kind);
    ev_copy_text(o->value, sizeof o->value, fs_str_make(value, strlen(value)));
    snprintf(o->role, sizeof o->role, "%s", role);
}

/* The address of an endpoint string "a.b.c.d:port" or "[v6]:port". */
static bool endpoint_addr(const char *s, fs_addr *out) {
    const char *end;
    if (s[0] == '[') end = strchr(++s, ']');
    else end = strrchr(s, ':');
    return end && fs_addr_parse_str(fs_str_make(s, (size_t)(end - s)), out);
}

void ev_source_ip_follows_sample(ev_event *ev) {
    ev_observable *ip = NULL;
    const char *network = NULL;
    for (unsigned i = 0; i < ev->nobs; i++) {
        if (strcmp(ev->obs[i].role, "source") != 0) continue;
        if (!strcmp(ev->obs[i].kind, "cidr")) network = ev->obs[i].value;
        else if (!strcmp(ev->obs[i].kind, "ip") && !ip) ip = &ev->obs[i];
    }
    fs_cidr net;
    if (!network || !ip || !fs_cidr_parse(network, &net, NULL)) return;
    /* The sample may be a response (an event keyed by the requester, raised
     * by the 401 or 487 it was sent): the source is whichever end lies in
     * the network. */
    fs_addr a;
    if ((endpoint_addr(ev->sample.src, &a) && fs_cidr_contains(&net, &a)) ||
        (endpoint_addr(ev->sample.dst, &a) && fs_cidr_contains(&net, &a)))
        fs_addr_str(&a, ip->value, sizeof ip->value);
}

/* Detectors update the details of an open incident on every message that
 * adds to it: the first two letters settle most comparisons without a call
 * ("requests" against "rate"). */
static bool key_is(const ev_detail *d, const char *key) {
    if (d->key[0] != key[0]) return false;
    return key[0] == '\0' || (d->key[1] == key[1] && !strcmp(d->key, key));
}

static ev_detail *detail_slot(ev_event *ev, const char *key) {
    for (unsigned i = 0; i < ev->ndetails; i++)
        if (key_is(&ev->details[i], key)) return &ev->details[i];
    if (ev->ndetails >= EV_MAX_DETAILS) return NULL;
    ev_detail *d = &ev->details[ev->ndetails++];
    memset(d, 0, sizeof *d);
    snprintf(d->key, sizeof d->key, "%s", key);
    return d;
}

void ev_set_int(ev_event *ev, const char *key, int64_t v) {
    ev_detail *d = detail_slot(ev, key);
    if (d) { d->kind = EV_D_INT; d->i = v; }
}

void ev_set_real(ev_event *ev, const char *key, double v) {
    ev_detail *d = detail_slot(ev, key);
    if (d) { d->kind = EV_D_REAL; d->r = v; }
}

void ev_set_str(ev_event *ev, const char *key, const char *v) {
    ev_detail *d = detail_slot(ev, key);
    if (d) {
        d->kind = EV_D_STR;
        ev_copy_text(d->s, sizeof d->s, fs_str_make(v, strlen(v)));
    }
}

void ev_set_int_max(ev_event *ev, const char *key, int64_t v) {
    unsigned before = ev->ndetails;
    ev_detail *d = detail_slot(ev, key);
    if (d && (ev->ndetails != before || d->i < v)) { d->kind = EV_D_INT; d->i = v; }
}

void ev_set_real_max(ev_event *ev, const char *key, double v) {
    unsigned before = ev->ndetails;
    ev_detail *d = detail_slot(ev, key);
    if (d && (ev->ndetails != before || d->r < v)) { d->kind = EV_D_REAL; d->r = v; }
}

enum { EV_LIST_MAX = sizeof(((ev_detail *)0)->s) / 2 };

static int item_cmp(const void *x, const void *y) {
    const fs_str *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* items (sorted, unique) written into key, as many as fit */
static void list_store(ev_event *ev, const char *key, fs_str *items, size_t n) {
    char buf[sizeof(((ev_detail *)0)->s)];
    size_t len = 0;
    qsort(items, n, sizeof *items, item_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i && !item_cmp(&items[i], &items[i - 1])) continue;
        size_t need = items[i].len + (len ? 1 : 0);
        if (len + need + 1 > sizeof buf) continue; /* a shorter one later may still fit */
        if (len) buf[len++] = ',';
        memcpy(buf + len, items[i].p, items[i].len);
        len += items[i].len;
    }
    buf[len] = '\0';
    ev_set_str(ev, key, buf);
}

/* the items of list (commas between) appended to items[*n...] */
static void list_split(const char *list, fs_str *items, size_t *n) {
    for (const char *p = list; *p && *n < EV_LIST_MAX;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len) items[(*n)++] = (fs_str){p, len};
        p += len + (comma ? 1 : 0);
    }
}

void ev_list_add(ev_event *ev, const char *key, const char *item) {
    const ev_detail *d = ev_get_detail(ev, key);
    char copy[sizeof(((ev_detail *)0)->s)] = "";
    if (d && d->kind == EV_D_STR) snprintf(copy, sizeof copy, "%s", d->s);
    fs_str items[EV_LIST_MAX + 1];
    size_t n = 0;
    list_split(copy, items, &n);
    items[n++] = (fs_str){item, strlen(item)};
    list_store(ev, key, items, n);
}

void ev_list_merge(ev_event *a, const ev_event *b, const char *key) {
    const ev_detail *x = ev_get_detail(a, key), *y = ev_get_detail(b, key);
    if (!y || y->kind != EV_D_STR || (x && x->kind != EV_D_STR)) return;
    char ca[sizeof x->s] = "", cb[sizeof y->s];
    if (x) snprintf(ca, sizeof ca, "%s", x->s);
    snprintf(cb, sizeof cb, "%s", y->s);
    fs_str items[2 * EV_LIST_MAX];
    size_t n = 0;
    list_split(ca, items, &n);
    size_t m = 0;
    list_split(cb, items + n, &m);
    list_store(a, key, items, n + m);
}

const ev_detail *ev_get_detail(const ev_event *ev, const char *key) {
    for (unsigned i = 0; i < ev->ndetails; i++)
        if (key_is(&ev->details[i], key)) return &ev->details[i];
    return NULL;
}

/* ---- JSON ---------------------------------------------------------------- */

static void put_str(json_t *o, const char *k, const char *v) {
    if (v && *v) json_object_set_new(o, k, json_string(v));
}

static void put_time(json_t *o, const char *k, uint64_t us) {
    char t[40];
    json_object_set_new(o, k, json_string(fs_time_rfc3339(us, t, sizeof t)));
}

/* x-encap (a local extension of the event format): the layers a sample
 * came through, outermost first, each {kind, id?, src?, dst?}. */
static json_t *encap_json(const fs_encap *en) {
    json_t *a = json_array();
    for (unsigned i = 0; i < en->n && i < FS_MAX_LAYERS; i++) {
        const fs_layer *l = &en->layer[i];
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(fs_layer_name(l->kind)));
        if (l->has_id) json_object_set_new(o, "id", json_integer(l->id));
        if (l->src.family) {
            char t[FS_ADDR_STRLEN];
            json_object_set_new(o, "src", json_string(fs_addr_str(&l->src, t, sizeof t)));
            json_object_set_new(o, "dst", json_string(fs_addr_str(&l->dst, t, sizeof t)));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *sample_json(const ev_sample *s) {
    json_t *o = json_object();
    put_str(o, "method", s->method);
    if (s->status) json_object_set_new(o, "status", json_integer(s->status));
    put_str(o, "request_uri", s->request_uri);
    put_str(o, "from", s->from);
    put_str(o, "to", s->to);
    put_str(o, "pai", s->pai);
    put_str(o, "call_id", s->call_id);
    put_str(o, "user_agent", s->user_agent);
    put_str(o, "src", s->src);
    put_str(o, "dst", s->dst);
    put_str(o, "transport", s->transport);
    if (s->ts_us) put_time(o, "ts", s->ts_us);
    if (s->encap.n) json_object_set_new(o, "x-encap", encap_json(&s->encap));
    if (s->input) { /* x-capture (a local extension): where to find the message */
        json_t *c = json_object();
        char file[512]; /* a file name is bytes: shown as valid UTF-8 */
        ev_copy_text(file, sizeof file, fs_str_make(s->input, strlen(s->input)));
        json_object_set_new(c, "file", json_string(file));
        if (s->frame_no) json_object_set_new(c, "frame", json_integer((json_int_t)s->frame_no));
        json_object_set_new(o, "x-capture", c);
    }
    return o;
}

/* A dotted key nests one level: "ref.issuer" becomes details.ref.issuer
 * (the spec's details.ref of feedback and INTEL-001 events). */
static json_t *details_json(const ev_event *ev) {
    json_t *o = json_object();
    for (unsigned i = 0; i < ev->ndetails; i++) {
        const ev_detail *d = &ev->details[i];
        json_t *v = d->kind == EV_D_INT    ? json_integer(d->i)
                    : d->kind == EV_D_REAL ? json_real(d->r)
                                           : json_string(d->s);
        const char *dot = strchr(d->key, '.');
        if (!dot || dot == d->key || !dot[1]) {
            json_object_set_new(o, d->key, v);
            continue;
        }
        char parent[sizeof d->key];
        size_t n = (size_t)(dot - d->key);
        memcpy(parent, d->key, n);
        parent[n] = '\0';
        json_t *sub = json_object_get(o, parent);
        if (!json_is_object(sub)) {
            sub = json_object();
            json_object_set_new(o, parent, sub);
        }
        json_object_set_new(sub, dot + 1, v);
    }
    return o;
}

static json_t *event_json(const ev_event *ev) {
    json_t *o = json_object();
    json_object_set_new(o, "schema_version", json_string("1.0"));
    json_object_set_new(o, "event_id", json_string(ev->event_id));
    json_object_set_new(o, "version", json_integer(ev->version));
    json_object_set_new(o, "status", json_string(ev->revoked ? "revoked" : "active"));
    json_object_set_new(o, "issuer", json_string(ev->issuer));
    put_time(o, "created", ev->created_us);
    put_time(o, "first_seen", ev->first_us);
    put_time(o, "last_seen", ev->last_us);
    put_time(o, "valid_until", ev->valid_until_us);
    json_object_set_new(o, "event_type", json_string(det_event_type_name(ev->event_type)));
    json_object_set_new(o, "domain", json_string(det_domain_name(ev->domain)));
    json_object_set_new(o, "severity", json_string(det_severity_name(ev->severity)));
    json_object_set_new(o, "confidence", json_integer(ev->confidence));
    json_object_set_new(o, "rule", json_pack("{s:s,s:s}", "id", det_rule_table[ev->rule].id,
                                             "name", det_rule_table[ev->rule].name));
    json_t *obs = json_array();
    for (unsigned i = 0; i < ev->nobs; i++)
        json_array_append_new(obs, json_pack("{s:s,s:s,s:s}", "kind", ev->obs[i].kind, "value",
                                             ev->obs[i].value, "role", ev->obs[i].role));
    json_object_set_new(o, "observables", obs);
    json_t *evidence = json_object();
    json_object_set_new(evidence, "count", json_integer((json_int_t)ev->count));
    /* last_seen - first_seen to the millisecond, as they are written: a
     * live incident can stay open for days, and 6 significant digits of
     * window_s made 1249982.498 s "1.24998e6" (2.5 s short) */
    json_object_set_new(evidence, "window_s",
                        json_real(ev->last_us > ev->first_us
                                      ? (double)(ev->last_us / 1000 - ev->first_us / 1000) / 1e3 : 0.0));
    json_object_set_new(evidence, "sample", sample_json(&ev->sample));
    json_object_set_new(evidence, "details", details_json(ev));
    json_object_set_new(o, "evidence", evidence);
    json_object_set_new(o, "recommended_action",
                        json_pack("{s:s,s:s,s:i}", "action", det_action_name(ev->action), "scope",
                                  ev->scope[0] ? ev->scope : "sip_ingress", "ttl_s",
                                  (int)ev->ttl_s));
    json_object_set_new(o, "handling", json_pack("{s:s}", "tlp", ev->tlp[0] ? ev->tlp : "amber"));
    return o;
}

size_t ev_to_json(const ev_event *ev, char *buf, size_t n) {
    json_t *o = event_json(ev);
    if (!o) return 0;
    /* 15 digits: every figure as computed (a window_s or duration_s of
     * days keeps its fraction), and no binary noise (0.1, not 0.1000...01) */
    size_t len = json_dumpb(o, buf, n ? n - 1 : 0, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (len == 0 || len + 2 > n) return 0;
    buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

fs_code ev_write(const ev_event *ev, FILE *out, fs_err *e) {
    char buf[16384];
    size_t len = ev_to_json(ev, buf, sizeof buf);
    if (len == 0) return fs_fail(e, FS_ERR_INTERNAL, "event %s could not be serialised", ev->event_id);
    if (fwrite(buf, 1, len, out) != len) return fs_fail(e, FS_ERR_IO, "writing event: short write");
    return FS_OK;
}
