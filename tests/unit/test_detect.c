/*
 * test_detect.c -- the detection engine, rule by rule: for each rule a
 * sequence that must raise it (one event per incident, with the counts,
 * observables and evidence the spec asks for) and a benign sequence that
 * must stay quiet. Messages are SIP text fed through det_process() as
 * cap_payloads with capture timestamps.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../check.h"
#include "detect/det.h"
#include "detect/det_internal.h"

#define T0 (1764067200ULL * FS_USEC) /* 2025-11-25T10:40:00Z */
#define SEC(x) ((uint64_t)((x) * 1e6))

/* ---- event sink ------------------------------------------------------------------- */

#define MAXEV 128
typedef struct sink {
    int n, opened, closed, dropped;
    ev_event ev[MAXEV];
} sink;

static void on_event(void *user, const ev_event *ev, bool final) {
    sink *s = user;
    if (final) s->closed++;
    else s->opened++;
    /* keep the latest version of each event id */
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->ev[i].event_id, ev->event_id)) {
            s->ev[i] = *ev;
            return;
        }
    if (s->n < MAXEV) s->ev[s->n++] = *ev;
    else s->dropped++;
}

static int count_rule(const sink *s, const char *id) {
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(det_rule_table[s->ev[i].rule].id, id)) n++;
    return n;
}

static const ev_event *find_rule(const sink *s, const char *id) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(det_rule_table[s->ev[i].rule].id, id)) return &s->ev[i];
    return NULL;
}

static bool has_obs(const ev_event *ev, const char *kind, const char *value, const char *role) {
    if (!ev) return false;
    for (unsigned i = 0; i < ev->nobs; i++)
        if (!strcmp(ev->obs[i].kind, kind) && (!value || !strcmp(ev->obs[i].value, value)) &&
            !strcmp(ev->obs[i].role, role))
            return true;
    return false;
}

/* The event of rule id whose source is ip, else NULL. */
static const ev_event *find_rule_from(const sink *s, const char *id, const char *ip) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(det_rule_table[s->ev[i].rule].id, id) && has_obs(&s->ev[i], "ip", ip, "source"))
            return &s->ev[i];
    return NULL;
}

static int64_t dint(const ev_event *ev, const char *key) {
    const ev_detail *d = ev ? ev_get_detail(ev, key) : NULL;
    if (!d) return -1;
    return d->kind == EV_D_INT ? d->i : d->kind == EV_D_REAL ? (int64_t)d->r : -1;
}

static double dreal(const ev_event *ev, const char *key) {
    const ev_detail *d = ev ? ev_get_detail(ev, key) : NULL;
    if (!d) return -1;
    return d->kind == EV_D_REAL ? d->r : (double)d->i;
}

static const char *dstr(const ev_event *ev, const char *key) {
    const ev_detail *d = ev ? ev_get_detail(ev, key) : NULL;
    return d && d->kind == EV_D_STR ? d->s : "";
}

static void dump(const sink *s) {
    for (int i = 0; i < s->n; i++) {
        char buf[8192];
        if (ev_to_json(&s->ev[i], buf, sizeof buf)) fprintf(stderr, "  %s", buf);
    }
}

/* ---- engine and messages ----------------------------------------------------------- */

typedef struct world {
    fs38_config *cfg;
    det_engine *eng;
    sink *out;
} world;

static fs38_config *config_zones(void) {
    fs38_config *cfg = malloc(sizeof *cfg);
    fs_err e = {0};
    cfg_defaults(cfg);
    fs_code rc = cfg_load_file(cfg, "tests/data/detect/zones.yaml", &e);
    CHECK_MSG(rc == FS_OK, "zones.yaml: %s", e.msg);
    return cfg;
}

static fs38_config *config_default(void) {
    fs38_config *cfg = malloc(sizeof *cfg);
    cfg_defaults(cfg);
    return cfg;
}

/* The engines' hash seeds (which table bucket, which sketch fingerprint)
 * come from one seed per run: random, so runs cover many seeds, or
 * FS38_TEST_SEED=HEX to repeat the run a failure prints (main). */
static uint64_t run_seed, worlds_made;

static world world_new(fs38_config *cfg) {
    world w = {cfg, NULL, calloc(1, sizeof(sink))};
    fs_err e = {0};
    w.eng = det_engine_new(cfg, on_event, w.out, &e);
    CHECK_MSG(w.eng != NULL, "engine: %s", e.msg);
    if (w.eng) det_engine_set_seed(w.eng, run_seed + ++worlds_made * 0x9e3779b97f4a7c15ULL);
    return w;
}

static void world_finish(world *w) { det_finish(w->eng); }

static void world_free(world *w) {
    if (getenv("DET_DUMP")) dump(w->out); /* DET_DUMP=1: print every event (debugging) */
    det_engine_free(w->eng);
    free(w->out);
    free(w->cfg);
}

static fs_endpoint ep(const char *s) {
    fs_endpoint e = {0};
    char host[64];
    const char *colon = strrchr(s, ':');
    if (s[0] == '[') snprintf(host, sizeof host, "%.*s", (int)(colon - s - 2), s + 1);
    else snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    if (!fs_addr_parse(host, &e.addr)) { /* a bug in the test itself */
        fprintf(stderr, "test_detect: bad address %s\n", s);
        abort();
    }
    e.port = (uint16_t)atoi(colon + 1);
    return e;
}

static void send_raw(world *w, const char *src, const char *dst, uint64_t ts, const char *text) {
    cap_payload p = {0};
    p.data = (const uint8_t *)text;
    p.len = (uint32_t)strlen(text);
    p.src = ep(src);
    p.dst = ep(dst);
    p.transport = CAP_T_UDP;
    p.ts_us = ts;
    det_process(w->eng, &p);
}

static unsigned branch_of(const char *callid, unsigned cseq, const char *method) {
    unsigned h = 2166136261u;
    for (const char *p = callid; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = method; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h ^ cseq;
}

static char host_of(const char *ipport, char *out, size_t n) {
    const char *colon = strrchr(ipport, ':');
    snprintf(out, n, "%.*s", (int)(colon - ipport), ipport);
    return 0;
}

/* A request from src to dst; Via names src; extra is whole header lines. */
static void req(world *w, const char *src, const char *dst, uint64_t ts, const char *method,
                const char *ruri, const char *from, const char *to, const char *callid, unsigned cseq,
                const char *extra, const char *body) {
    char buf[8192], host[64];
    host_of(src, host, sizeof host);
    body = body ? body : "";
    const char *bm = strcmp(method, "CANCEL") == 0 ? "INVITE" : method;
    snprintf(buf, sizeof buf,
             "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%s;branch=z9hG4bK%08x\r\nMax-Forwards: 70\r\n"
             "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n%s%sContent-Length: %zu\r\n\r\n%s",
             method, ruri, host, strrchr(src, ':') + 1, branch_of(callid, cseq, bm), from, to, callid,
             cseq, method, extra ? extra : "", body[0] ? "Content-Type: application/sdp\r\n" : "",
             strlen(body), body);
    send_raw(w, src, dst, ts, buf);
}

/* The response to a request that req() sent from `requester` (src of the
 * response is the responder). */
static void resp(world *w, const char *responder, const char *requester, uint64_t ts, int status,
                 const char *reason, const char *method, const char *from, const char *to,
                 const char *callid, unsigned cseq, const char *extra, const char *body) {
    char buf[8192], host[64];
    host_of(requester, host, sizeof host);
    body = body ? body : "";
    snprintf(buf, sizeof buf,
             "SIP/2.0 %d %s\r\nVia: SIP/2.0/UDP %s:%s;branch=z9hG4bK%08x\r\nFrom: %s\r\nTo: %s\r\n"
             "Call-ID: %s\r\nCSeq: %u %s\r\n%s%sContent-Length: %zu\r\n\r\n%s",
             status, reason, host, strrchr(requester, ':') + 1, branch_of(callid, cseq, method), from, to,
             callid, cseq, method, extra ? extra : "", body[0] ? "Content-Type: application/sdp\r\n" : "",
             strlen(body), body);
    send_raw(w, responder, requester, ts, buf);
}

/* ---- call helpers -------------------------------------------------------------------- */

typedef enum {
    END_ANSWER, END_CANCEL, END_BUSY, END_RING_ONLY, END_ANSWER_NO_BYE,
    END_CANCEL_RACE, /* CANCEL sent, but the 200 to the INVITE wins (RFC 3261 9.1) */
    END_FORK_BUSY,   /* one fork answers 486, another then 200 */
    END_FAILOVER,    /* 503 from a first carrier, the proxy's retry answered */
    END_ANSWER_CALLEE_BYE, /* answered, the callee hangs up after `secs` */
    END_ANSWER_AT_ONCE     /* answered 60 ms after the INVITE (a machine), caller's BYE after `secs` */
} call_end_kind;

/* INVITE from caller (an E.164 or user) to callee at ts; answered calls last
 * `secs` seconds; cancelled ones ring for `secs` seconds. */
/* call() with the INVITE's CSeq number cseq (a dialer reusing one Call-ID
 * for call after call counts up). */
static void call_cseq(world *w, const char *src, const char *dst, uint64_t ts, const char *caller,
                      const char *callee, const char *callid, uint32_t cseq, call_end_kind how, double secs,
                      const char *extra) {
    char ruri[96], from[128], to[128], to_tag[140];
    snprintf(ruri, sizeof ruri, "sip:%s@carrier.example;user=phone", callee);
    snprintf(from, sizeof from, "<sip:%s@origin.example;user=phone>;tag=f%s", caller, callid);
    snprintf(to, sizeof to, "<sip:%s@carrier.example;user=phone>", callee);
    snprintf(to_tag, sizeof to_tag, "%s;tag=t%s", to, callid);
    req(w, src, dst, ts, "INVITE", ruri, from, to, callid, cseq, extra, NULL);
    resp(w, dst, src, ts + SEC(0.05), 100, "Trying", "INVITE", from, to, callid, cseq, NULL, NULL);
    if (how == END_BUSY) {
        resp(w, dst, src, ts + SEC(0.5), 486, "Busy Here", "INVITE", from, to_tag, callid, cseq, NULL, NULL);
        return;
    }
    if (how == END_ANSWER_AT_ONCE) {
        resp(w, dst, src, ts + SEC(0.06), 200, "OK", "INVITE", from, to_tag, callid, cseq, NULL, NULL);
        req(w, src, dst, ts + SEC(0.06) + SEC(secs), "BYE", ruri, from, to_tag, callid, cseq + 1, NULL, NULL);
        return;
    }
    if (how == END_FORK_BUSY || how == END_FAILOVER) {
        char other[140];
        snprintf(other, sizeof other, "%s;tag=x%s", to, callid);
        resp(w, dst, src, ts + SEC(0.2), how == END_FAILOVER ? 503 : 486,
             how == END_FAILOVER ? "Service Unavailable" : "Busy Here", "INVITE", from, other, callid, cseq, NULL, NULL);
    }
    resp(w, dst, src, ts + SEC(0.3), 180, "Ringing", "INVITE", from, to_tag, callid, cseq, NULL, NULL);
    if (how == END_RING_ONLY) return;
    if (how == END_CANCEL_RACE) {
        req(w, src, dst, ts + SEC(1.99), "CANCEL", ruri, from, to, callid, cseq, NULL, NULL);
        resp(w, dst, src, ts + SEC(2.01), 200, "OK", "CANCEL", from, to_tag, callid, cseq, NULL, NULL);
    }
    if (how == END_CANCEL) {
        req(w, src, dst, ts + SEC(secs), "CANCEL", ruri, from, to, callid, cseq, NULL, NULL);
        resp(w, dst, src, ts + SEC(secs) + SEC(0.02), 200, "OK", "CANCEL", from, to_tag, callid, cseq, NULL, NULL);
        resp(w, dst, src, ts + SEC(secs) + SEC(0.03), 487, "Request Terminated", "INVITE", from, to_tag,
             callid, cseq, NULL, NULL);
        return;
    }
    resp(w, dst, src, ts + SEC(2) + (how == END_CANCEL_RACE ? SEC(0.03) : 0), 200, "OK", "INVITE", from, to_tag,
         callid, cseq, NULL, NULL);
    if (how == END_ANSWER_NO_BYE) return;
    if (how == END_ANSWER_CALLEE_BYE) {
        char back[96];
        snprintf(back, sizeof back, "sip:%s@origin.example;user=phone", caller);
        req(w, dst, src, ts + SEC(2) + SEC(secs), "BYE", back, to_tag, from, callid, 1, NULL, NULL);
        return;
    }
    req(w, src, dst, ts + SEC(2) + SEC(secs), "BYE", ruri, from, to_tag, callid, cseq + 1, NULL, NULL);
}

static void call(world *w, const char *src, const char *dst, uint64_t ts, const char *caller,
                 const char *callee, const char *callid, call_end_kind how, double secs,
                 const char *extra) {
    call_cseq(w, src, dst, ts, caller, callee, callid, 1, how, secs, extra);
}

/* ---- protocol validation (det_protocol.c) ------------------------------------------ */

static fs38_config *config_yaml(const char *base, const char *yaml);

static void test_protocol(void) {
    world w = world_new(config_default());
    const char *att = "203.0.113.66:5060", *srv = "192.0.2.200:5060";
    /* ten messages with a CSeq/method mismatch and a bad branch from one sender */
    for (int i = 0; i < 10; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf,
                 "OPTIONS sip:%d@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=abc%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@203.0.113.66>;tag=1\r\nTo: <sip:%d@192.0.2.200>\r\n"
                 "Call-ID: pm%d\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                 100 + i, i, 100 + i, i);
        send_raw(&w, att, srv, T0 + SEC(i), buf);
    }
    /* Max-Forwards far above 70, an unknown method, a missing Call-ID */
    send_raw(&w, att, srv, T0 + SEC(11),
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKmf\r\n"
             "Max-Forwards: 250\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: mf\r\nCSeq: 1 OPTIONS\r\n"
             "Content-Length: 0\r\n\r\n");
    send_raw(&w, att, srv, T0 + SEC(12),
             "FOOBAR sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKfb\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: fb\r\nCSeq: 1 FOOBAR\r\n"
             "Content-Length: 0\r\n\r\n");
    send_raw(&w, att, srv, T0 + SEC(13),
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKnc\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCSeq: 1 OPTIONS\r\n"
             "Content-Length: 0\r\n\r\n");
    /* Content-Length larger than the body */
    send_raw(&w, att, srv, T0 + SEC(14),
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKcl\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: cl\r\nCSeq: 1 OPTIONS\r\n"
             "Content-Length: 500\r\n\r\nv=0\r\n");
    /* Content-Length smaller than the body */
    send_raw(&w, att, srv, T0 + SEC(14.5),
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKc2\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\n"
             "Content-Type: application/sdp\r\nContent-Length: 2\r\n\r\nv=0\r\n");
    /* two Call-IDs */
    send_raw(&w, att, srv, T0 + SEC(14.6),
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKdc\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: a\r\nCall-ID: b\r\n"
             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    /* a Request-URI longer than limits.max_uri_len, twice */
    for (int i = 0; i < 2; i++) {
        char big[2048], user[1101];
        memset(user, 'a', 1100);
        user[1100] = '\0';
        snprintf(big, sizeof big,
                 "OPTIONS sip:%s@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKbg%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: bg%d\r\n"
                 "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                 user, i, i);
        send_raw(&w, att, srv, T0 + SEC(14.7 + i * 0.1), big);
    }
    /* garbage on the SIP port */
    send_raw(&w, att, srv, T0 + SEC(15), "\x16\x03\x01 hello this is not SIP at all\r\n\r\n");
    world_finish(&w);
    const sink *s = w.out;
    const ev_event *mal = find_rule(s, "SIP-MAL-001");
    CHECK_EQ_INT(count_rule(s, "SIP-MAL-001"), 1); /* one event per source, not per packet */
    CHECK(mal && mal->count >= 10);
    CHECK(strstr(dstr(mal, "anomalies"), "CSEQ_METHOD_MISMATCH") != NULL);
    CHECK(has_obs(mal, "ip", "203.0.113.66", "source"));
    CHECK_EQ_INT(count_rule(s, "SIP-PROTO-005"), 1);
    const ev_event *br = find_rule(s, "SIP-PROTO-005");
    CHECK(br && br->count == 10);
    CHECK(br && strstr(dstr(br, "anomalies"), "VIA_BRANCH_NO_COOKIE") != NULL);
    /* ...counted by the statistics under that code too (they had only the
     * parser's note RFC2543_SYNTAX, which the summary leaves out) */
    CHECK_EQ_INT(det_engine_stats(w.eng)->anomalies[SIP_A_VIA_BRANCH_NO_COOKIE], 10);
    CHECK_EQ_INT(count_rule(s, "SIP-PROTO-004"), 1);
    CHECK_EQ_INT(dint(find_rule(s, "SIP-PROTO-004"), "max_forwards"), 250);
    CHECK_EQ_INT(count_rule(s, "SIP-PROTO-006"), 1);
    CHECK(strstr(dstr(find_rule(s, "SIP-PROTO-006"), "anomalies"), "METHOD_UNKNOWN") != NULL);
    /* ...and the statistics count the FOOBAR request under that code too (the
     * summary said "anomalies in N messages" without it, stats had none) */
    CHECK_EQ_INT(det_engine_stats(w.eng)->anomalies[SIP_A_METHOD_UNKNOWN], 1);
    CHECK_EQ_INT(count_rule(s, "SIP-PROTO-001"), 1);
    CHECK(strstr(dstr(find_rule(s, "SIP-PROTO-001"), "anomalies"), "MISSING_REQUIRED_HEADER") != NULL);
    CHECK(strstr(dstr(mal, "anomalies"), "CONTENT_LENGTH_EXCEEDS") != NULL ||
          count_rule(s, "SIP-PROTO-003") == 1);
    CHECK_EQ_INT(count_rule(s, "SIP-PROTO-003"), 1);
    CHECK(strstr(dstr(find_rule(s, "SIP-PROTO-003"), "anomalies"), "CONTENT_LENGTH_MISMATCH") != NULL);
    CHECK_EQ_INT(count_rule(s, "SIP-PROTO-002"), 1);
    CHECK(strstr(dstr(find_rule(s, "SIP-PROTO-002"), "anomalies"), "MULTIPLE_SINGLE_VALUE") != NULL);
    const ev_event *big = find_rule(s, "SIP-MAL-002");
    CHECK_EQ_INT(count_rule(s, "SIP-MAL-002"), 1);
    CHECK(big && big->count == 2 && big->action == ACT_RATE_LIMIT_SOURCE);
    CHECK(strstr(dstr(big, "anomalies"), "LIMIT_URI_LENGTH") != NULL);
    CHECK(mal && mal->sample.method[0] && mal->sample.src[0] && !strcmp(mal->sample.transport, "udp"));
    CHECK(mal && mal->first_us == T0 && mal->last_us >= T0 + SEC(9));
    if (count_rule(s, "SIP-PROTO-005") != 1 || count_rule(s, "SIP-PROTO-004") != 1) dump(s);
    world_free(&w);

    /* Max-Forwards 0: on an INVITE a probe a proxy must reject (raised); on
     * OPTIONS the next-hop keepalive RFC 3261 16.3 allows (counted only) */
    w = world_new(config_default());
    for (int i = 0; i < 3; i++) {
        char buf[512];
        snprintf(buf, sizeof buf,
                 "OPTIONS sip:ping@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.201;branch=z9hG4bKk%d\r\n"
                 "Max-Forwards: 0\r\nFrom: <sip:ka@192.0.2.201>;tag=1\r\nTo: <sip:ping@192.0.2.200>\r\n"
                 "Call-ID: ka%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i);
        send_raw(&w, "192.0.2.201:5060", "192.0.2.200:5060", T0 + SEC(5 * i), buf);
    }
    send_raw(&w, att, srv, T0 + SEC(20),
             "INVITE sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKm0\r\n"
             "Max-Forwards: 0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: m0\r\nCSeq: 1 INVITE\r\n"
             "Contact: <sip:a@203.0.113.66>\r\nContent-Length: 0\r\n\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-PROTO-004"), 1);
    CHECK(has_obs(find_rule(w.out, "SIP-PROTO-004"), "ip", "203.0.113.66", "source"));
    CHECK_EQ_INT(det_engine_stats(w.eng)->anomalies[SIP_A_MAX_FORWARDS_ZERO], 4);
    world_free(&w);

    /* SIP-PROTO-005 judges requests: a client sends a bare-cookie branch, the
     * server's 404 echoes that Via (RFC 3261 8.2.6.2) and is not the
     * server's own violation */
    w = world_new(config_default());
    send_raw(&w, att, srv, T0,
             "INVITE sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bK\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: bc\r\nCSeq: 1 INVITE\r\n"
             "Contact: <sip:a@203.0.113.66>\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, srv, att, T0 + 1000,
             "SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bK\r\n"
             "From: <sip:a@x>;tag=1\r\nTo: <sip:1@y>;tag=2\r\nCall-ID: bc\r\nCSeq: 1 INVITE\r\n"
             "Content-Length: 0\r\n\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-PROTO-005"), 1);
    CHECK(has_obs(find_rule(w.out, "SIP-PROTO-005"), "ip", "203.0.113.66", "source"));
    CHECK(find_rule(w.out, "SIP-PROTO-005") && find_rule(w.out, "SIP-PROTO-005")->count == 1);
    if (count_rule(w.out, "SIP-PROTO-005") != 1) dump(w.out);
    world_free(&w);

    /* ... and a request whose top Via has no branch at all, or a bare
     * ";branch" (RFC 3261 8.1.1.7: it MUST be there; no transaction id) */
    w = world_new(config_default());
    send_raw(&w, att, srv, T0,
             "INVITE sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;rport\r\n"
             "Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKlower\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\n"
             "To: <sip:1@y>\r\nCall-ID: nb\r\nCSeq: 1 INVITE\r\nContact: <sip:a@203.0.113.66>\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, att, srv, T0 + SEC(1),
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nv: SIP/2.0/UDP 203.0.113.66;branch\r\nMax-Forwards: 70\r\n"
             "From: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: nb2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-PROTO-005"), 1);
    CHECK(find_rule(w.out, "SIP-PROTO-005") && find_rule(w.out, "SIP-PROTO-005")->count == 2);
    CHECK(!strcmp(dstr(find_rule(w.out, "SIP-PROTO-005"), "anomalies"), "VIA_BRANCH_MISSING"));
    if (count_rule(w.out, "SIP-PROTO-005") != 1) dump(w.out);
    world_free(&w);

    /* A response copies the request's Via, From, To, Call-ID and CSeq (RFC
     * 3261 8.2.6.2): a Via over max_header_len, one without a sent-by, a
     * broadcast one, a CSeq over 2**31, a Call-ID with a space, echoed by the
     * server, are the requester's, not the server's; a server whose
     * own field is over the limit, and a UAS answering a clean request with
     * a broken Via (aiming at the client's parser), are judged. */
    w = world_new(config_default());
    {
        char long_param[4200], buf[12288];
        memset(long_param, 'a', 4100);
        long_param[4100] = '\0';
        /* a request without To, answered without one */
        send_raw(&w, att, srv, T0 + SEC(3.2),
                 "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe5\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: echo5\r\nCSeq: 1 OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n");
        send_raw(&w, srv, att, T0 + SEC(3.2) + 1000,
                 "SIP/2.0 400 Missing To\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe5\r\n"
                 "From: <sip:a@x>;tag=1\r\nCall-ID: echo5\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        /* a fuzzer's CSeq over 2**31 and Call-ID with a space, echoed in the 400 */
        send_raw(&w, att, srv, T0 + SEC(3.5),
                 "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe4\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: echo 4\r\n"
                 "CSeq: 4294967296 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        send_raw(&w, srv, att, T0 + SEC(3.5) + 1000,
                 "SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe4\r\n"
                 "From: <sip:a@x>;tag=1\r\nTo: <sip:1@y>;tag=2\r\nCall-ID: echo 4\r\n"
                 "CSeq: 4294967296 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        for (int i = 0; i < 3; i++) {
            char via[4400];
            if (i == 0) snprintf(via, sizeof via, "SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe1;x=%s", long_param);
            else if (i == 1) snprintf(via, sizeof via, "SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe2\r\nVia: SIP/2.0/UDP ;branch=z9hG4bKe0");
            else snprintf(via, sizeof via, "SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe3\r\nVia: SIP/2.0/UDP 255.255.255.255");
            snprintf(buf, sizeof buf,
                     "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\n"
                     "To: <sip:1@y>\r\nCall-ID: echo%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", via, i);
            send_raw(&w, att, srv, T0 + SEC(i), buf);
            snprintf(buf, sizeof buf,
                     "SIP/2.0 200 OK\r\nVia: %s\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>;tag=2\r\n"
                     "Call-ID: echo%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", via, i);
            send_raw(&w, srv, att, T0 + SEC(i) + 1000, buf);
        }
        /* the server's own field over the limit beside the echoed Via */
        snprintf(buf, sizeof buf,
                 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe1;x=%s\r\nFrom: <sip:a@x>;tag=1\r\n"
                 "To: <sip:1@y>;tag=2\r\nCall-ID: echo0\r\nCSeq: 1 OPTIONS\r\nSubject: %s\r\nContent-Length: 0\r\n\r\n",
                 long_param, long_param);
        send_raw(&w, "192.0.2.201:5060", att, T0 + SEC(4), buf);
        /* the server's own field of exactly max_header_len octets (CRLF not
         * counted) beside the echoed Via: within the limit, not judged */
        {
            char own[4096 - 9 + 1];
            memset(own, 's', sizeof own - 1);
            own[sizeof own - 1] = '\0';
            snprintf(buf, sizeof buf,
                     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKe1;x=%s\r\nFrom: <sip:a@x>;tag=1\r\n"
                     "To: <sip:1@y>;tag=2\r\nCall-ID: echo0\r\nCSeq: 1 OPTIONS\r\nSubject: %s\r\nContent-Length: 0\r\n\r\n",
                     long_param, own);
            send_raw(&w, "192.0.2.203:5060", att, T0 + SEC(4.5), buf);
        }
        /* a UAS breaking the Via of a clean request */
        send_raw(&w, "198.51.100.10:5060", "192.0.2.202:5060", T0 + SEC(5),
                 "OPTIONS sip:1@192.0.2.202 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKh1\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: hostile\r\nCSeq: 1 OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n");
        send_raw(&w, "192.0.2.202:5060", "198.51.100.10:5060", T0 + SEC(5) + 1000,
                 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKh1\r\nVia: SIP/2.0/UDP ;branch=z9hG4bKh0\r\n"
                 "From: <sip:a@x>;tag=1\r\nTo: <sip:1@y>;tag=2\r\nCall-ID: hostile\r\nCSeq: 1 OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n");
    }
    world_finish(&w);
    CHECK(find_rule_from(w.out, "SIP-MAL-002", "203.0.113.66") && find_rule_from(w.out, "SIP-MAL-001", "203.0.113.66") &&
          find_rule_from(w.out, "SIP-PROTO-007", "203.0.113.66"));
    CHECK(!find_rule_from(w.out, "SIP-MAL-002", "192.0.2.200") && !find_rule_from(w.out, "SIP-MAL-001", "192.0.2.200") &&
          !find_rule_from(w.out, "SIP-PROTO-007", "192.0.2.200") && !find_rule_from(w.out, "SIP-PROTO-001", "192.0.2.200"));
    CHECK(find_rule_from(w.out, "SIP-PROTO-001", "203.0.113.66") != NULL);
    CHECK(find_rule_from(w.out, "SIP-MAL-002", "192.0.2.201") != NULL);
    CHECK(!find_rule_from(w.out, "SIP-MAL-002", "192.0.2.203"));
    CHECK(find_rule_from(w.out, "SIP-MAL-001", "192.0.2.202") != NULL);
    CHECK_EQ_INT(w.out->n, 6);
    if (w.out->n != 6) dump(w.out);
    world_free(&w);

    /* A UAS copies every Record-Route into the response that makes the
     * dialog (RFC 3261 12.1.1): a Record-Route over max_header_len, or one
     * field too many, echoed in the 180, is the requester's, not the
     * server's; a server that answers a clean request with its own long
     * Record-Route is judged. */
    w = world_new(config_default());
    {
        static char long_rr[4300], many_rr[130 * 48], buf[16384];
        memset(long_rr, 'r', 4200);
        long_rr[4200] = '\0';
        size_t o = 0;
        for (int i = 0; i < 130; i++)
            o += (size_t)snprintf(many_rr + o, sizeof many_rr - o, "Record-Route: <sip:p%d.example;lr>\r\n", i);
        const char *hdrs[3] = {NULL, many_rr, NULL};
        for (int i = 0; i < 3; i++) {
            char rr[4400];
            snprintf(rr, sizeof rr, "Record-Route: <sip:%s.example;lr>\r\n", long_rr);
            const char *req_rr = i == 0 ? rr : i == 1 ? hdrs[1] : "";
            const char *resp_rr = i == 2 ? rr : req_rr;
            snprintf(buf, sizeof buf,
                     "INVITE sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKr%d\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: rr%d\r\n"
                     "CSeq: 1 INVITE\r\n%sContact: <sip:a@203.0.113.66>\r\nContent-Length: 0\r\n\r\n",
                     i, i, req_rr);
            send_raw(&w, i == 2 ? "198.51.100.10:5060" : att, i == 2 ? "192.0.2.202:5060" : srv, T0 + SEC(i), buf);
            snprintf(buf, sizeof buf,
                     "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKr%d\r\n"
                     "From: <sip:a@x>;tag=1\r\nTo: <sip:1@y>;tag=2\r\nCall-ID: rr%d\r\nCSeq: 1 INVITE\r\n%s"
                     "Contact: <sip:1@192.0.2.200>\r\nContent-Length: 0\r\n\r\n",
                     i, i, resp_rr);
            send_raw(&w, i == 2 ? "192.0.2.202:5060" : srv, i == 2 ? "198.51.100.10:5060" : att, T0 + SEC(i) + 1000,
                     buf);
        }
    }
    world_finish(&w);
    {
        const ev_event *req_ev = find_rule_from(w.out, "SIP-MAL-002", "203.0.113.66");
        CHECK(req_ev && strstr(dstr(req_ev, "anomalies"), "LIMIT_HEADER_LENGTH") &&
              strstr(dstr(req_ev, "anomalies"), "LIMIT_HEADER_COUNT"));
    }
    CHECK(!find_rule_from(w.out, "SIP-MAL-002", "192.0.2.200"));
    CHECK(find_rule_from(w.out, "SIP-MAL-002", "192.0.2.202") != NULL);
    CHECK_EQ_INT(count_rule(w.out, "SIP-MAL-002"), 2);
    if (count_rule(w.out, "SIP-MAL-002") != 2) dump(w.out);
    world_free(&w);

    /* A registrar's 200 OK lists every binding in one Contact field, over
     * max_header_len but judged per item (not oversized): beside a Via over
     * the limit echoed from the REGISTER, the oversize is the requester's.
     * The registrar was framed with SIP-MAL-002 (RATE_LIMIT_SOURCE). */
    w = world_new(config_default());
    {
        static char long_param[4200], binds[7000], buf[16384];
        memset(long_param, 'a', 4100);
        long_param[4100] = '\0';
        size_t o = 0;
        for (int i = 1; i < 130; i++)
            o += (size_t)snprintf(binds + o, sizeof binds - o, "%s<sip:a@198.51.100.%d:5060>;expires=3600",
                                  i > 1 ? ", " : "", i);
        snprintf(buf, sizeof buf,
                 "REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKb1;x=%s\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: binds\r\n"
                 "CSeq: 1 REGISTER\r\nContact: <sip:a@203.0.113.66>\r\nContent-Length: 0\r\n\r\n",
                 long_param);
        send_raw(&w, att, srv, T0, buf);
        snprintf(buf, sizeof buf,
                 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKb1;x=%s\r\n"
                 "From: <sip:a@x>;tag=1\r\nTo: <sip:a@x>;tag=2\r\nCall-ID: binds\r\nCSeq: 1 REGISTER\r\n"
                 "Contact: %s\r\nContent-Length: 0\r\n\r\n",
                 long_param, binds);
        send_raw(&w, srv, att, T0 + 1000, buf);
    }
    world_finish(&w);
    CHECK(find_rule_from(w.out, "SIP-MAL-002", "203.0.113.66") != NULL);
    CHECK(!find_rule_from(w.out, "SIP-MAL-002", "192.0.2.200"));
    if (find_rule_from(w.out, "SIP-MAL-002", "192.0.2.200")) dump(w.out);
    world_free(&w);

    /* A quirky peer put in allow_sources (SIP-MAL-001's advice): its
     * requests are not judged, and its quirk echoed in the server's answer
     * (a Call-ID with a space) is not the server's either. It was: the
     * tuning moved the SIP-MAL-001 onto the server. A server breaking a
     * field of its own beside it is still judged. */
    w = world_new(config_yaml(NULL, "allow_sources: [\"203.0.113.66\"]\n"));
    send_raw(&w, att, srv, T0,
             "OPTIONS sip:1@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKq1\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1@y>\r\nCall-ID: quirky 1\r\n"
             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, srv, att, T0 + 1000,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKq1\r\nFrom: <sip:a@x>;tag=1\r\n"
             "To: <sip:1@y>;tag=2\r\nCall-ID: quirky 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, "192.0.2.201:5060", att, T0 + 2000,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKq2\r\nFrom: <sip:a@x>;tag=1\r\n"
             "To: <sip:1@y>;tag=2\r\nCall-ID: q2\r\nCSeq: 1 OPTIONS\r\nDate: yesterday\r\nContent-Length: 0\r\n\r\n");
    world_finish(&w);
    CHECK(!find_rule_from(w.out, "SIP-MAL-001", "203.0.113.66") && !find_rule_from(w.out, "SIP-MAL-001", "192.0.2.200"));
    CHECK(find_rule_from(w.out, "SIP-MAL-001", "192.0.2.201") != NULL);
    CHECK_EQ_INT(w.out->n, 1);
    if (w.out->n != 1) dump(w.out);
    world_free(&w);

    /* RFC 5626 4.4.2: a UA keeps its UDP flow alive with STUN Binding
     * requests to the SIP port (and gets the responses): keep-alives, as
     * CRLFs are, not SIP-MAL-001; bytes that only look alike still are */
    w = world_new(config_default());
    {
        static const uint8_t binding[] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8,
                                          9, 10, 11, 12, 0x80, 0x22, 0x00, 0x04, 'f', 's', '3', '8'};
        static const uint8_t success[] = {0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8,
                                          9, 10, 11, 12};
        static const uint8_t lookalike[] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x43, 1, 2, 3, 4, 5, 6, 7, 8,
                                            9, 10, 11, 12, 0x80, 0x22, 0x00, 0x04, 'f', 's', '3', '8'};
        const struct { const uint8_t *d; uint32_t n; const char *from, *to; } pkts[] = {
            {binding, sizeof binding, "198.51.100.10:5060", "192.0.2.200:5060"},
            {success, sizeof success, "192.0.2.200:5060", "198.51.100.10:5060"},
            {lookalike, sizeof lookalike, "198.51.100.11:5060", "192.0.2.200:5060"}};
        for (int i = 0; i < 3; i++) {
            cap_payload p = {0};
            p.data = pkts[i].d;
            p.len = pkts[i].n;
            p.src = ep(pkts[i].from);
            p.dst = ep(pkts[i].to);
            p.transport = CAP_T_UDP;
            p.ts_us = T0 + SEC(i);
            det_process(w.eng, &p);
        }
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->keepalives, 2);
    /* no SIP message among them: --metrics' fs38_last_message_timestamp_seconds
     * stays 0, so a sensor that sees only keep-alives and junk looks blind */
    CHECK_EQ_INT(det_engine_stats(w.eng)->messages, 0);
    CHECK_EQ_INT(det_engine_stats(w.eng)->last_message_us, 0);
    CHECK(det_engine_stats(w.eng)->last_us == T0 + SEC(2));
    CHECK_EQ_INT(w.out->n, 1);
    CHECK(find_rule_from(w.out, "SIP-MAL-001", "198.51.100.11") != NULL);
    if (w.out->n != 1) dump(w.out);
    world_free(&w);

    /* benign: clean requests and responses raise nothing */
    w = world_new(config_default());
    for (int i = 0; i < 20; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "ok%d", i);
        req(&w, "198.51.100.10:5060", srv, T0 + SEC(i), "OPTIONS", "sip:ping@192.0.2.200",
            "<sip:ping@198.51.100.10>;tag=a", "<sip:ping@192.0.2.200>", cid, 1,
            "User-Agent: Carrier SBC\r\n", NULL);
        resp(&w, srv, "198.51.100.10:5060", T0 + SEC(i) + 1000, 200, "OK", "OPTIONS",
             "<sip:ping@198.51.100.10>;tag=a", "<sip:ping@192.0.2.200>;tag=b", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    CHECK_EQ_INT(det_engine_stats(w.eng)->messages, 40);
    world_free(&w);
}

/* ---- scanning (SIP-SCAN-001/002) ------------------------------------------------------- */

static void test_scan(void) {
    /* svmap: OPTIONS to 30 addresses with its fingerprint */
    world w = world_new(config_default());
    for (int i = 0; i < 30; i++) {
        char dst[32], ruri[48];
        snprintf(dst, sizeof dst, "192.0.2.%d:5060", i + 1);
        snprintf(ruri, sizeof ruri, "sip:100@192.0.2.%d", i + 1);
        req(&w, "203.0.113.7:5061", dst, T0 + SEC(i * 0.2), "OPTIONS", ruri,
            "\"sipvicious\"<sip:100@1.1.1.1>;tag=6331", "\"sipvicious\"<sip:100@1.1.1.1>", "svm", 1,
            "User-Agent: friendly-scanner\r\nContact: <sip:123@1.1.1.1>\r\n", NULL);
    }
    world_finish(&w);
    const ev_event *fp = find_rule(w.out, "SIP-SCAN-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 1);
    CHECK(fp && fp->count == 30);
    CHECK(has_obs(fp, "ip", "203.0.113.7", "source"));
    CHECK(has_obs(fp, "sip_user_agent", "friendly-scanner", "tool"));
    const ev_event *sc = find_rule(w.out, "SIP-SCAN-002");
    {
        /* a tool's agent of 120 bytes is the observable whole (a receiver
         * matches it exactly: it was cut at 95); one of 200, that no
         * observable holds, is left out rather than cut */
        for (int len = 120; len <= 200; len += 80) {
            world w2 = world_new(config_default());
            char ua[256], hdr[300];
            snprintf(ua, sizeof ua, "sipcli/v1.8 %0*d", len - 12, 7);
            snprintf(hdr, sizeof hdr, "User-Agent: %s\r\n", ua);
            req(&w2, "203.0.113.8:5061", "192.0.2.1:5060", T0, "OPTIONS", "sip:100@192.0.2.1",
                "<sip:100@1.1.1.1>;tag=1", "<sip:100@1.1.1.1>", "ua", 1, hdr, NULL);
            world_finish(&w2);
            const ev_event *f2 = find_rule(w2.out, "SIP-SCAN-001");
            CHECK(f2 != NULL);
            CHECK(has_obs(f2, "sip_user_agent", len < 128 ? ua : NULL, "tool") == (len < 128));
            world_free(&w2);
        }
    }
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    CHECK(sc && sc->count == 30); /* the whole window, not only what came after the threshold */
    CHECK(dint(sc, "distinct_targets") >= 20 && dint(sc, "distinct_targets") <= 32);
    CHECK(sc && sc->event_type == ET_SIP_SCANNER && sc->action == ACT_BLOCK_SOURCE);
    CHECK(sc && sc->window_s > 5.0 && sc->window_s < 6.0);
    /* both rules count the same targets (SIP-SCAN-001 was one behind: it
     * read the count before the message at hand was added) */
    CHECK_EQ_INT(dint(fp, "distinct_targets"), dint(sc, "distinct_targets"));
    world_free(&w);

    /* the same sweep without any fingerprint: only the behaviour rule */
    w = world_new(config_default());
    for (int i = 0; i < 25; i++) {
        char dst[32], ruri[48];
        snprintf(dst, sizeof dst, "192.0.2.%d:5060", i + 1);
        snprintf(ruri, sizeof ruri, "sip:%d@192.0.2.%d", 1000 + i, i + 1);
        req(&w, "203.0.113.8:5060", dst, T0 + SEC(i), "INVITE", ruri, "<sip:a@203.0.113.8>;tag=1",
            "<sip:b@192.0.2.1>", ruri, 1, "User-Agent: Zoiper rv2.10\r\n", NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 0);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    /* an everyday agent is named in the details, never as a tool to match */
    sc = find_rule(w.out, "SIP-SCAN-002");
    CHECK(!has_obs(sc, "sip_user_agent", NULL, "tool"));
    CHECK(!strcmp(dstr(sc, "user_agent"), "Zoiper rv2.10"));
    world_free(&w);

    /* svmap with a changed User-Agent and From: its From-tag still gives it
     * away (hex of "192.0.2.1:5060" 0x01 "3735928559"); a random hex tag does not */
    w = world_new(config_default());
    req(&w, "203.0.113.30:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:192.0.2.1", "<sip:x@example.org>;tag="
        "3139322e302e322e313a35303630013337333539323835353", "<sip:192.0.2.1>", "tg1", 1, NULL, NULL);
    req(&w, "203.0.113.31:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:192.0.2.1",
        "<sip:x@example.org>;tag=3139322e302e322e313a353036300133373335393238353539", "<sip:192.0.2.1>", "tg2",
        1, NULL, NULL);
    req(&w, "203.0.113.32:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:192.0.2.1",
        "<sip:x@example.org>;tag=a1b2c3d4e5f60123", "<sip:192.0.2.1>", "tg3", 1, NULL, NULL);
    /* phones' random 8-hex tags that decode to printable bytes, 0x01 and a
     * digit or five ("</" 01 "7"): seen from 4 of the 6,000 phones of the
     * bench capture before the tail had to be 6 digits or more */
    req(&w, "203.0.113.33:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:192.0.2.1",
        "<sip:x@example.org>;tag=3c2f0137", "<sip:192.0.2.1>", "tg4", 1, NULL, NULL);
    req(&w, "203.0.113.34:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:192.0.2.1",
        "<sip:x@example.org>;tag=41013132333435", "<sip:192.0.2.1>", "tg5", 1, NULL, NULL);
    /* svwar's tag for extension 1 with a 6-digit random: still the tool */
    req(&w, "203.0.113.35:5060", "192.0.2.1:5060", T0, "REGISTER", "sip:192.0.2.1",
        "<sip:1@192.0.2.1>;tag=3101313233343536", "<sip:1@192.0.2.1>", "tg6", 1, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 2);
    CHECK(!strcmp(dstr(find_rule_from(w.out, "SIP-SCAN-001", "203.0.113.31"), "fingerprint"), "sipvicious-tag"));
    CHECK(!strcmp(dstr(find_rule_from(w.out, "SIP-SCAN-001", "203.0.113.35"), "fingerprint"), "sipvicious-tag"));
    world_free(&w);

    /* caught by its tag behind an ordinary User-Agent: that agent is no
     * tool (receivers match `tool` observables, INTEL-001, and would flag
     * every such phone) */
    w = world_new(config_default());
    req(&w, "203.0.113.36:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:192.0.2.1",
        "<sip:x@example.org>;tag=3139322e302e322e313a353036300133373335393238353539", "<sip:192.0.2.1>", "tg7",
        1, "User-Agent: Yealink SIP-T46S 66.86.0.15\r\n", NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 1);
    CHECK(!strcmp(dstr(find_rule(w.out, "SIP-SCAN-001"), "fingerprint"), "sipvicious-tag"));
    CHECK(!has_obs(find_rule(w.out, "SIP-SCAN-001"), "sip_user_agent", NULL, "tool"));
    CHECK(has_obs(find_rule(w.out, "SIP-SCAN-001"), "ip", "203.0.113.36", "source"));
    world_free(&w);

    /* benign: a PBX qualifying 40 phones that registered with it, and OPTIONS
     * keepalives between two carriers every 5 s for 10 minutes */
    w = world_new(config_default());
    const char *pbx = "198.51.100.50:5060";
    for (int i = 0; i < 40; i++) {
        char phone[32], cid[32], from[64];
        snprintf(phone, sizeof phone, "198.51.100.%d:5062", 100 + i);
        snprintf(cid, sizeof cid, "reg%d", i);
        snprintf(from, sizeof from, "<sip:%d@pbx.example>;tag=r%d", 200 + i, i);
        req(&w, phone, pbx, T0 + SEC(i * 0.1), "REGISTER", "sip:pbx.example", from, from, cid, 1, NULL, NULL);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 40; i++) {
            char phone[32], cid[32], ruri[64];
            snprintf(phone, sizeof phone, "198.51.100.%d:5062", 100 + i);
            snprintf(cid, sizeof cid, "q%d-%d", round, i);
            snprintf(ruri, sizeof ruri, "sip:%d@198.51.100.%d:5062", 200 + i, 100 + i);
            req(&w, pbx, phone, T0 + SEC(10 + round * 30 + i * 0.1), "OPTIONS", ruri,
                "<sip:pbx@pbx.example>;tag=q", ruri, cid, 1, "User-Agent: FPBX-16.0.40\r\n", NULL);
        }
    for (int i = 0; i < 120; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "ka%d", i);
        req(&w, "198.51.100.60:5060", "203.0.113.60:5060", T0 + SEC(i * 5), "OPTIONS", "sip:203.0.113.60",
            "<sip:ka@198.51.100.60>;tag=k", "<sip:203.0.113.60>", cid, 1, NULL, NULL);
        resp(&w, "203.0.113.60:5060", "198.51.100.60:5060", T0 + SEC(i * 5) + 2000, 200, "OK", "OPTIONS",
             "<sip:ka@198.51.100.60>;tag=k", "<sip:203.0.113.60>;tag=z", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
}

/* Real SIPVicious requests (tests/data/detect/README.md): the plain ones by
 * their User-Agent, the disguised ones by their From-tag. */
static void test_sipvicious_files(void) {
    world w = world_new(config_default());
    const char *files[] = {"svmap-0.sip", "svmap-1.sip", "svmap-2.sip", "svmap-stealth.sip", "svwar-register.sip"};
    const char *srcs[] = {"203.0.113.7:5061", "203.0.113.7:5061", "203.0.113.7:5061", "203.0.113.8:5060",
                          "203.0.113.9:5060"};
    for (int i = 0; i < 5; i++) {
        char path[128];
        size_t len = 0;
        snprintf(path, sizeof path, "tests/data/detect/%s", files[i]);
        char *text = check_read_file(path, &len);
        CHECK_MSG(text != NULL, "cannot read %s", path);
        if (!text) continue;
        cap_payload p = {0};
        p.data = (const uint8_t *)text;
        p.len = (uint32_t)len;
        p.src = ep(srcs[i]);
        p.dst = ep("192.0.2.10:5060");
        p.ts_us = T0 + SEC(i);
        det_process(w.eng, &p);
        free(text);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->messages, 5);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 3);
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        if (ev->rule != R_SCAN_FINGERPRINT) continue;
        if (has_obs(ev, "ip", "203.0.113.7", "source")) {
            CHECK_EQ_INT(ev->count, 3);
            CHECK(!strcmp(dstr(ev, "fingerprint"), "friendly-scanner"));
        } else {
            CHECK(!strcmp(dstr(ev, "fingerprint"), "sipvicious-tag"));
        }
    }
    world_free(&w);
}

/* Every tool agent is found in any case, inside a longer User-Agent; the
 * earlier of two in the table wins; everyday agents are not tools. */
static void test_agent_fingerprints(void) {
    const char *agents[] = {"friendly-scanner", "sipvicious", "sipcli", "pplsip", "vaxsipuseragent", "sipsak",
                            "sip-scan", "sipscan", "iwar", "smap", "sundayddr", "sipptk", "siparmyknife",
                            "warvox", "scanner", "friendly"};
    const char *benign[] = {"Linphone/5.2.0 (belle-sip/5.2.0)", "Asterisk PBX 18.10.0", "Zoiper rv2.10.19",
                            "MicroSIP/3.21.3", "PolycomVVX-VVX_411-UA/6.4", "Yealink SIP-T46S 66.86",
                            "FreeSWITCH-mod_sofia/1.10.9", "Kamailio (5.6.3 (x86_64/linux))", "S"};
    world w = world_new(config_default());
    int n = (int)(sizeof agents / sizeof *agents), nb = (int)(sizeof benign / sizeof *benign);
    for (int i = 0; i < n + nb + 1; i++) {
        char ua[96], hdr[128], src[32];
        if (i < n) { /* alternate the case of every other letter: "FrIeNdLy-..." */
            size_t k = 0;
            for (const char *a = agents[i]; *a && k < 40; a++, k++) ua[k] = (k % 2 == 0) ? (char)toupper(*a) : *a;
            snprintf(ua + k, sizeof ua - k, "/1.0");
        } else if (i < n + nb) {
            snprintf(ua, sizeof ua, "%s", benign[i - n]);
        } else {
            snprintf(ua, sizeof ua, "scanner friendly-scanner"); /* both: the earlier in the table */
        }
        snprintf(hdr, sizeof hdr, "User-Agent: x %s\r\n", ua);
        snprintf(src, sizeof src, "203.0.113.%d:5060", i + 1);
        req(&w, src, "192.0.2.10:5060", T0 + SEC(i), "OPTIONS", "sip:100@192.0.2.10", "<sip:a@b>;tag=1",
            "<sip:100@192.0.2.10>", "fp", 1, hdr, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), n + 1);
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        if (ev->rule != R_SCAN_FINGERPRINT) continue;
        for (int k = 0; k < n + 1; k++) {
            char ip[32];
            snprintf(ip, sizeof ip, "203.0.113.%d", k + 1);
            if (has_obs(ev, "ip", ip, "source"))
                CHECK_MSG(!strcmp(dstr(ev, "fingerprint"), k < n ? agents[k] : "friendly-scanner"), "agent %d: %s",
                          k, dstr(ev, "fingerprint"));
        }
    }
    world_free(&w);
}

/* ---- enumeration and brute force (SIP-ENUM-001, SIP-BRUTE-001/002) --------------------- */

static void register_reply(world *w, const char *ua, const char *srv, uint64_t ts, const char *user,
                           const char *cid, unsigned cseq, const char *auth_user, int status,
                           const char *reason, const char *challenge) {
    char from[96], to[96], extra[256] = "";
    snprintf(from, sizeof from, "<sip:%s@pbx.example>;tag=x%s", user, cid);
    snprintf(to, sizeof to, "<sip:%s@pbx.example>", user);
    if (auth_user)
        snprintf(extra, sizeof extra,
                 "Authorization: Digest username=\"%s\", realm=\"pbx.example\", nonce=\"abc\", "
                 "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n",
                 auth_user);
    req(w, ua, srv, ts, "REGISTER", "sip:pbx.example", from, to, cid, cseq, extra, NULL);
    char rto[120];
    snprintf(rto, sizeof rto, "%s;tag=srv", to);
    resp(w, srv, ua, ts + 3000, status, reason, "REGISTER", from, rto, cid, cseq, challenge, NULL);
}

#define CHALLENGE "WWW-Authenticate: Digest realm=\"pbx.example\", nonce=\"n1\"\r\n"
#define STALE "WWW-Authenticate: Digest realm=\"pbx.example\", nonce=\"n2\", stale=true\r\n"
/* "stale" inside a quoted realm first: the parameter is the one after it */
#define STALE_REALM "WWW-Authenticate: Digest realm=\"stalesoft\", nonce=\"n2\", stale=TRUE\r\n"

static void test_enumeration(void) {
    world w = world_new(config_default());
    const char *att = "203.0.113.9:5070", *srv = "192.0.2.10:5060";
    for (int i = 0; i < 40; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 100 + i);
        snprintf(cid, sizeof cid, "en%d", i);
        bool exists = i % 8 == 0;
        register_reply(&w, att, srv, T0 + SEC(i * 0.5), user, cid, 1, NULL, exists ? 401 : 404,
                       exists ? "Unauthorized" : "Not Found", exists ? CHALLENGE : NULL);
    }
    world_finish(&w);
    const ev_event *en = find_rule(w.out, "SIP-ENUM-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-ENUM-001"), 1);
    CHECK(has_obs(en, "ip", "203.0.113.9", "source")); /* the requester, not the server */
    CHECK(en && en->count == 40);
    CHECK_EQ_INT(dint(en, "not_found"), 35);
    CHECK_EQ_INT(dint(en, "found"), 5);
    CHECK(dint(en, "distinct_users") >= 35);
    /* the incident opens on an answer; the sample is then the attacker's
     * next probe, not the server's reply */
    CHECK(en && en->sample.status == 0 && !strcmp(en->sample.method, "REGISTER"));
    CHECK(en && !strcmp(en->sample.src, att) && !strcmp(en->sample.dst, srv));
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001") + count_rule(w.out, "SIP-BRUTE-002"), 0);
    world_free(&w);

    /* an enumerator with one account: INVITEs with its Proxy-Authorization
     * walk the Request-URI, To fixed; the users probed are the Request-URI's
     * (not the To of the answer, not the credentials' username) */
    w = world_new(config_default());
    for (int i = 0; i < 30; i++) {
        char ruri[48], cid[16];
        snprintf(ruri, sizeof ruri, "sip:%d@pbx.example", 200 + i);
        snprintf(cid, sizeof cid, "ai%d", i);
        const char *from = "<sip:100@pbx.example>;tag=a", *to = "<sip:100@pbx.example>";
        req(&w, att, srv, T0 + SEC(i * 0.5), "INVITE", ruri, from, to, cid, 2,
            "Proxy-Authorization: Digest username=\"100\", realm=\"pbx.example\", nonce=\"n1\", "
            "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n", NULL);
        bool exists = i % 3 == 0;
        resp(&w, srv, att, T0 + SEC(i * 0.5) + 3000, exists ? 486 : 404, exists ? "Busy Here" : "Not Found",
             "INVITE", from, "<sip:100@pbx.example>;tag=s", cid, 2, NULL, NULL);
    }
    world_finish(&w);
    en = find_rule(w.out, "SIP-ENUM-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-ENUM-001"), 1);
    CHECK(en && en->count == 30);
    CHECK(dint(en, "distinct_users") >= 25);
    CHECK_EQ_INT(dint(en, "not_found"), 20);
    world_free(&w);

    /* a walk that pauses for 95 s (less than the 120 s window) and resumes
     * more slowly: one incident (it closes after window_s of quiet), not a
     * second one opened when the resumed walk crosses the threshold again
     * 125 s after the last hit; with a pause of 140 s, two */
    for (int pause = 95; pause <= 140; pause += 45) {
        w = world_new(config_default());
        for (int i = 0; i < 50; i++) {
            char user[16], cid[16];
            snprintf(user, sizeof user, "%d", 3000 + i);
            snprintf(cid, sizeof cid, "pw%d", i);
            double t = i < 20 ? i * 1.5 : 28.5 + pause + (i - 20) * 2;
            register_reply(&w, att, srv, T0 + SEC(t), user, cid, 1, NULL, 404, "Not Found", NULL);
        }
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "SIP-ENUM-001") == (pause < 120 ? 1 : 2),
                  "SIP-ENUM-001 after a pause of %d s: %d incidents", pause, count_rule(w.out, "SIP-ENUM-001"));
        if (pause < 120) {
            en = find_rule(w.out, "SIP-ENUM-001");
            CHECK(en && en->count == 50 && en->first_us < T0 + SEC(1) && en->last_us > T0 + SEC(28.5 + pause));
        }
        world_free(&w);
    }

    /* forged 404s and 403s sent to a victim that never asked: no event
     * against the victim (responses only count when they answer a request) */
    w = world_new(config_default());
    for (int i = 0; i < 40; i++) {
        char from[64], to[64], cid[16];
        snprintf(from, sizeof from, "<sip:%d@pbx.example>;tag=v", 100 + i);
        snprintf(to, sizeof to, "<sip:%d@pbx.example>;tag=s", 100 + i);
        snprintf(cid, sizeof cid, "fg%d", i);
        resp(&w, "203.0.113.99:5060", "198.51.100.5:5060", T0 + SEC(i * 0.5), i % 2 ? 404 : 403,
             i % 2 ? "Not Found" : "Forbidden", "REGISTER", from, to, cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    world_free(&w);

    /* benign: an office of 30 phones behind one NAT address registering:
     * 401 challenge, then 200; some nonces go stale later */
    w = world_new(config_default());
    const char *nat = "198.51.100.77:5060";
    for (int i = 0; i < 30; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 300 + i);
        snprintf(cid, sizeof cid, "of%d", i);
        register_reply(&w, nat, srv, T0 + SEC(i), user, cid, 1, NULL, 401, "Unauthorized", CHALLENGE);
        register_reply(&w, nat, srv, T0 + SEC(i) + SEC(0.1), user, cid, 2, user, 200, "OK", NULL);
        register_reply(&w, nat, srv, T0 + SEC(60 + i), user, cid, 3, user, 401, "Unauthorized", STALE);
        register_reply(&w, nat, srv, T0 + SEC(60 + i) + SEC(0.1), user, cid, 4, user, 200, "OK", NULL);
    }
    /* ... and 12 more, first seen at a refresh (their nonce never got a 2xx
     * here), all challenged stale=true within a second by a registrar whose
     * realm quotes "stale" (the parameter is stale=TRUE after it, not the
     * realm's text), then let in */
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 12; i++) {
            char user[16], cid[16], from[96], to[96], rto[120], auth[256];
            snprintf(user, sizeof user, "%d", 400 + i);
            snprintf(cid, sizeof cid, "sr%d", i);
            snprintf(from, sizeof from, "<sip:%s@pbx.example>;tag=x%s", user, cid);
            snprintf(to, sizeof to, "<sip:%s@pbx.example>", user);
            snprintf(rto, sizeof rto, "%s;tag=srv", to);
            snprintf(auth, sizeof auth,
                     "Authorization: Digest username=\"%s\", realm=\"stalesoft\", nonce=\"%s%d\", "
                     "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n",
                     user, k ? "new" : "old", i);
            uint64_t at = T0 + SEC(120) + (uint64_t)k * SEC(2) + (uint64_t)i * SEC(0.05);
            req(&w, nat, srv, at, "REGISTER", "sip:pbx.example", from, to, cid, 7 + (unsigned)k, auth, NULL);
            resp(&w, srv, nat, at + 3000, k ? 200 : 401, k ? "OK" : "Unauthorized", "REGISTER", from, rto, cid,
                 7 + (unsigned)k, k ? NULL : STALE_REALM, NULL);
        }
    }
    /* a user mistyping the password twice, then getting it right */
    for (int k = 0; k < 3; k++)
        register_reply(&w, "198.51.100.78:5060", srv, T0 + SEC(100 + k * 5), "555", "typo", 1 + k, "555",
                       k < 2 ? 401 : 200, k < 2 ? "Unauthorized" : "OK", k < 2 ? CHALLENGE : NULL);
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
}

static void test_brute_force(void) {
    /* svcrack: one account, many guesses, each answered 403 */
    world w = world_new(config_default());
    const char *att = "203.0.113.11:5060", *srv = "192.0.2.10:5060";
    for (int i = 0; i < 15; i++) {
        /* every guess retransmitted once, and the 403 too: counted once */
        register_reply(&w, att, srv, T0 + SEC(i * 2), "1001", "bf", (unsigned)(2 + i), "1001", 403,
                       "Forbidden", NULL);
        register_reply(&w, att, srv, T0 + SEC(i * 2) + SEC(0.5), "1001", "bf", (unsigned)(2 + i), "1001",
                       403, "Forbidden", NULL);
    }
    world_finish(&w);
    const ev_event *b1 = find_rule(w.out, "SIP-BRUTE-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    CHECK(b1 && b1->count == 15);
    CHECK_EQ_INT(dint(b1, "failures"), 15);
    CHECK(has_obs(b1, "ip", "203.0.113.11", "source"));
    CHECK(b1 && b1->event_type == ET_SIP_BRUTE_FORCE);
    CHECK(b1 && b1->sample.status == 0 && !strcmp(b1->sample.src, att)); /* a guess, not the 403 */
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002"), 0);
    world_free(&w);

    /* the same guesses (Call-ID and CSeqs) again two hours later, as a
     * replayed capture or a tool restarted with fixed ids: new requests,
     * a second incident (they were taken for retransmissions of the first
     * run's, and raised nothing) */
    w = world_new(config_default());
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 12; i++)
            register_reply(&w, att, srv, T0 + (uint64_t)run * SEC(7200) + SEC(i * 2), "1001", "bf", (unsigned)(2 + i),
                           "1001", 403, "Forbidden", NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 2);
    world_free(&w);

    /* the last guess goes unanswered: it is the sample (the attacker's
     * request), and last_seen covers it (the sample is never after it) */
    w = world_new(config_default());
    for (int i = 0; i < 10; i++)
        register_reply(&w, att, srv, T0 + SEC(i), "1001", "bl", (unsigned)(2 + i), "1001", 403, "Forbidden", NULL);
    req(&w, att, srv, T0 + SEC(15), "REGISTER", "sip:pbx.example", "<sip:1001@pbx.example>;tag=xbl",
        "<sip:1001@pbx.example>", "bl", 12,
        "Authorization: Digest username=\"1001\", realm=\"pbx.example\", nonce=\"abc\", "
        "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n", NULL);
    world_finish(&w);
    b1 = find_rule(w.out, "SIP-BRUTE-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    CHECK(b1 && b1->sample.status == 0 && b1->sample.ts_us == T0 + SEC(15));
    CHECK_MSG(b1 && b1->sample.ts_us >= b1->first_us && b1->sample.ts_us <= b1->last_us,
              "SIP-BRUTE-001 sample at %llu, outside first_seen %llu .. last_seen %llu",
              b1 ? (unsigned long long)b1->sample.ts_us : 0ULL, b1 ? (unsigned long long)b1->first_us : 0ULL,
              b1 ? (unsigned long long)b1->last_us : 0ULL);
    CHECK(b1 && b1->valid_until_us == b1->last_us + (uint64_t)b1->ttl_s * FS_USEC);
    world_free(&w);

    /* two accounts guessed in turn, 10 failures each: both crossed the
     * threshold, so the incident holds all 20 failures (it held the first
     * account's 10 and one of the second's) */
    w = world_new(config_default());
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < 2; k++) {
            char cid[16];
            snprintf(cid, sizeof cid, "tw%d-%d", k, i);
            register_reply(&w, att, srv, T0 + SEC(i * 2 + k), k ? "1002" : "1001", cid, 2, k ? "1002" : "1001",
                           401, "Unauthorized", CHALLENGE);
        }
    world_finish(&w);
    b1 = find_rule(w.out, "SIP-BRUTE-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    CHECK_MSG(b1 && b1->count == 20, "SIP-BRUTE-001 over two accounts counted %llu of 20",
              b1 ? (unsigned long long)b1->count : 0ULL);
    CHECK_EQ_INT(dint(b1, "failures"), 10);
    world_free(&w);

    /* spraying: 12 accounts, two guesses each, 401 after credentials */
    w = world_new(config_default());
    for (int i = 0; i < 12; i++)
        for (int k = 0; k < 2; k++) {
            char user[16], cid[16];
            snprintf(user, sizeof user, "%d", 2000 + i);
            snprintf(cid, sizeof cid, "sp%d", i);
            register_reply(&w, att, srv, T0 + SEC(i * 3 + k), user, cid, (unsigned)(1 + k), user, 401,
                           "Unauthorized", CHALLENGE);
        }
    world_finish(&w);
    const ev_event *b2 = find_rule(w.out, "SIP-BRUTE-002");
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002"), 1);
    CHECK(dint(b2, "distinct_users") >= 10);
    CHECK(b2 && b2->count == 24);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 0);
    world_free(&w);

    /* benign: the registrar restarts; 15 phones behind one NAT refresh with
     * the nonce of their last login and get a fresh 401 (no stale=true),
     * then register with the new nonce */
    w = world_new(config_default());
    const char *nat = "198.51.100.80:5060";
    for (int i = 0; i < 15; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 600 + i);
        snprintf(cid, sizeof cid, "rs%d", i);
        register_reply(&w, nat, srv, T0 + SEC(i), user, cid, 1, NULL, 401, "Unauthorized", CHALLENGE);
        register_reply(&w, nat, srv, T0 + SEC(i) + SEC(0.1), user, cid, 2, user, 200, "OK", NULL);
        register_reply(&w, nat, srv, T0 + SEC(100 + i), user, cid, 3, user, 401, "Unauthorized", CHALLENGE);
        register_reply(&w, nat, srv, T0 + SEC(100 + i) + SEC(0.1), user, cid, 4, user, 200, "OK", NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    /* benign: the same restart when the sensor never saw the phones' earlier
     * logins (it started after them): 12 phones refresh with their cached
     * nonce, get a fresh 401 (no stale=true), then a 200 with the new nonce.
     * Every user that failed got in: no spraying (12 users "failed") */
    w = world_new(config_default());
    for (int i = 0; i < 12; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 700 + i);
        snprintf(cid, sizeof cid, "rn%d", i);
        register_reply(&w, nat, srv, T0 + SEC(i), user, cid, 7, user, 401, "Unauthorized", CHALLENGE);
        register_reply(&w, nat, srv, T0 + SEC(i) + SEC(0.1), user, cid, 8, user, 200, "OK", NULL);
    }
    /* ... while a sprayer behind the same address, whose 10 users never get
     * in, is still seen: 10 distinct users, not 22 nor 10 - 12 */
    for (int i = 0; i < 10; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 800 + i);
        snprintf(cid, sizeof cid, "rp%d", i);
        register_reply(&w, nat, srv, T0 + SEC(20 + i), user, cid, 1, user, 401, "Unauthorized", CHALLENGE);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 1);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002"), 1);
    CHECK_EQ_INT(dint(find_rule(w.out, "SIP-BRUTE-002"), "distinct_users"), 10);
    /* and the first part alone stays quiet */
    world_free(&w);
    w = world_new(config_default());
    for (int i = 0; i < 12; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 700 + i);
        snprintf(cid, sizeof cid, "rn%d", i);
        register_reply(&w, nat, srv, T0 + SEC(i), user, cid, 7, user, 401, "Unauthorized", CHALLENGE);
        register_reply(&w, nat, srv, T0 + SEC(i) + SEC(0.1), user, cid, 8, user, 200, "OK", NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    /* ... but a sprayer who logged in with its own account cannot reuse that
     * nonce for other users: they never got in with it */
    w = world_new(config_default());
    register_reply(&w, att, srv, T0, "own", "ow", 1, "own", 200, "OK", NULL);
    for (int i = 0; i < 12; i++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 2100 + i);
        snprintf(cid, sizeof cid, "sr%d", i);
        register_reply(&w, att, srv, T0 + SEC(1 + i), user, cid, 1, user, 401, "Unauthorized", CHALLENGE);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002"), 1);
    world_free(&w);

    /* benign: a PBX re-sending INVITE after a 407 challenge, 20 calls */
    w = world_new(config_default());
    for (int i = 0; i < 20; i++) {
        char cid[16], from[64];
        snprintf(cid, sizeof cid, "px%d", i);
        snprintf(from, sizeof from, "<sip:+442071234567@pbx.example>;tag=%d", i);
        for (int rt = 0; rt < 3; rt++) /* UDP retransmissions (T1 = 500 ms) */
            req(&w, "198.51.100.90:5060", srv, T0 + SEC(i * 10) + SEC(0.5) * (uint64_t)((1 << rt) - 1), "INVITE",
                "sip:+442079460000@carrier", from, "<sip:+442079460000@carrier>", cid, 1, NULL, NULL);
        resp(&w, srv, "198.51.100.90:5060", T0 + SEC(i * 10) + 2000, 407, "Proxy Authentication Required",
             "INVITE", from, "<sip:+442079460000@carrier>;tag=p", cid, 1,
             "Proxy-Authenticate: Digest realm=\"c\", nonce=\"x\"\r\n", NULL);
        req(&w, "198.51.100.90:5060", srv, T0 + SEC(i * 10) + 5000, "INVITE", "sip:+442079460000@carrier",
            from, "<sip:+442079460000@carrier>", cid, 2,
            "Proxy-Authorization: Digest username=\"pbx\", realm=\"c\", nonce=\"x\", uri=\"sip:c\", "
            "response=\"00\"\r\n",
            NULL);
        resp(&w, srv, "198.51.100.90:5060", T0 + SEC(i * 10) + 9000, 200, "OK", "INVITE", from,
             "<sip:+442079460000@carrier>;tag=p2", cid, 2, NULL, NULL);
        req(&w, "198.51.100.90:5060", srv, T0 + SEC(i * 10 + 5), "BYE", "sip:+442079460000@carrier", from,
            "<sip:+442079460000@carrier>;tag=p2", cid, 3, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 20);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 20);
    world_free(&w);
}

/* svcrack (real traffic, examples/brute-svcrack.pcap): every guess has the same
 * Call-ID and CSeq and only a new Via branch. Each 401 is a failure; a
 * retransmitted guess (same branch) still counts once. */
/* A registrar restart seen by two sensors whose clocks differ a little:
 * phones behind one NAT refresh with a nonce the restarted registrar no
 * longer knows (401 without stale=true) and then get in. Eight fail, a
 * ninth one's 401 comes from the other sensor stamped 0.2 s before the
 * first, the nine get in, then six more fail and get in two at a time. The
 * step back keeps the window (it now starts at the earlier message), and
 * every phone that got in is forgiven: no spraying. The failures were once
 * remembered under the window's start, which the step back moved: eight
 * phones stayed "failing", and the next two to fail made ten. */
static void test_brute_forgiven_step_back(void) {
    world w = world_new(config_default());
    const char *nat = "198.51.100.77:5060", *srv = "192.0.2.10:5060";
    char user[16], cid[16];
    for (int i = 0; i < 9; i++) {
        snprintf(user, sizeof user, "%d", 700 + i);
        snprintf(cid, sizeof cid, "rs%d", i);
        uint64_t at = i < 8 ? T0 + SEC(i * 0.05) : T0 - SEC(0.2);
        register_reply(&w, nat, srv, at, user, cid, 1, user, 401, "Unauthorized", CHALLENGE);
    }
    for (int i = 0; i < 15; i++) {
        snprintf(user, sizeof user, "%d", 700 + i);
        snprintf(cid, sizeof cid, "rs%d", i);
        uint64_t at = T0 + SEC(1 + i * 0.5);
        if (i >= 9 && i % 2) { /* two at a time: this one and the next fail, then both get in */
            register_reply(&w, nat, srv, at, user, cid, 1, user, 401, "Unauthorized", CHALLENGE);
            char u2[16], c2[16];
            snprintf(u2, sizeof u2, "%d", 701 + i);
            snprintf(c2, sizeof c2, "rs%d", i + 1);
            register_reply(&w, nat, srv, at + SEC(0.1), u2, c2, 1, u2, 401, "Unauthorized", CHALLENGE);
        }
        register_reply(&w, nat, srv, at + SEC(0.2), user, cid, 2, user, 200, "OK", NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002"), 0);
    if (count_rule(w.out, "SIP-BRUTE-002")) dump(w.out);
    world_free(&w);
}

static void test_brute_same_callid(void) {
    world w = world_new(config_default());
    const char *att = "203.0.113.12:5060", *srv = "192.0.2.10:5060";
    for (int i = 0; i < 12; i++) {
        char rq[1024], rs[1024];
        snprintf(rq, sizeof rq,
                 "REGISTER sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.12:5060;branch=z9hG4bK-%d;rport\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:250@192.0.2.10>;tag=6231\r\nTo: <sip:250@192.0.2.10>\r\n"
                 "Call-ID: 2413752126\r\nCSeq: 2 REGISTER\r\nContact: <sip:250@203.0.113.12:5060>\r\n"
                 "Authorization: Digest username=\"250\", realm=\"r\", nonce=\"n\", uri=\"sip:192.0.2.10\", "
                 "response=\"%032d\"\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n",
                 1000 + i, i);
        snprintf(rs, sizeof rs,
                 "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 203.0.113.12:5060;branch=z9hG4bK-%d;rport=5060\r\n"
                 "From: <sip:250@192.0.2.10>;tag=6231\r\nTo: <sip:250@192.0.2.10>;tag=k\r\n"
                 "Call-ID: 2413752126\r\nCSeq: 2 REGISTER\r\n"
                 "WWW-Authenticate: Digest realm=\"r\", nonce=\"n%d\"\r\nContent-Length: 0\r\n\r\n",
                 1000 + i, i);
        send_raw(&w, att, srv, T0 + SEC(i), rq);
        send_raw(&w, srv, att, T0 + SEC(i) + 1000, rs);
        if (i == 3) { /* a retransmission of guess 3 and of its answer */
            send_raw(&w, att, srv, T0 + SEC(i) + 500000, rq);
            send_raw(&w, srv, att, T0 + SEC(i) + 501000, rs);
        }
    }
    world_finish(&w);
    const ev_event *b = find_rule(w.out, "SIP-BRUTE-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    CHECK_EQ_INT(dint(b, "failures"), 12);
    world_free(&w);
}

/* An OPTIONS carrying the victim's username and nonce: kamailio (and most
 * servers) answer it 200 without checking credentials (examples/kamailio.cfg
 * does). That 2xx must neither clear the user's failures (one every 8
 * guesses kept SIP-BRUTE-001 below 10) nor make the nonce known-good (then
 * every 401 to the guesses using it was taken for a forgotten nonce, and
 * neither SIP-BRUTE-001 nor a spray over 12 users' SIP-BRUTE-002 fired). */
static void options_with_credentials(world *w, const char *att, const char *srv, uint64_t ts, const char *user,
                                     const char *cid) {
    char from[96], extra[256];
    snprintf(from, sizeof from, "<sip:%s@pbx.example>;tag=o%s", user, cid);
    snprintf(extra, sizeof extra,
             "Authorization: Digest username=\"%s\", realm=\"pbx.example\", nonce=\"abc\", "
             "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n",
             user);
    req(w, att, srv, ts, "OPTIONS", "sip:pbx.example", from, "<sip:pbx.example>", cid, 1, extra, NULL);
    resp(w, srv, att, ts + 1000, 200, "OK", "OPTIONS", from, "<sip:pbx.example>;tag=k", cid, 1, NULL, NULL);
}

static void test_brute_unchecked_2xx(void) {
    const char *att = "203.0.113.13:5060", *srv = "192.0.2.10:5060";
    /* one user, an OPTIONS every 8th guess */
    world w = world_new(config_default());
    for (int i = 0; i < 20; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "uo%d", i);
        if (i % 8 == 7) options_with_credentials(&w, att, srv, T0 + SEC(i) + SEC(0.5), "1001", cid);
        register_reply(&w, att, srv, T0 + SEC(i), "1001", "ug", (unsigned)(2 + i), "1001", 401, "Unauthorized",
                       CHALLENGE);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    CHECK_EQ_INT(dint(find_rule(w.out, "SIP-BRUTE-001"), "failures"), 20);
    world_free(&w);

    /* 12 users, each first "logged in" by an OPTIONS with its nonce */
    w = world_new(config_default());
    for (int u = 0; u < 12; u++) {
        char user[16], cid[16];
        snprintf(user, sizeof user, "%d", 300 + u);
        snprintf(cid, sizeof cid, "so%d", u);
        options_with_credentials(&w, att, srv, T0 + SEC(u * 3), user, cid);
        for (int g = 0; g < 2; g++)
            register_reply(&w, att, srv, T0 + SEC(u * 3 + 1 + g), user, cid, (unsigned)(2 + g), user, 401,
                           "Unauthorized", CHALLENGE);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002"), 1);
    CHECK_EQ_INT(dint(find_rule(w.out, "SIP-BRUTE-002"), "distinct_users"), 12);
    world_free(&w);

    /* a call to the SBC's public number, which it answers without looking
     * at Proxy-Authorization, carrying 1001's username and the nonce the
     * guesses then use: its 200 made the nonce known-good and every one of
     * the 30 failures that followed counted for nothing */
    w = world_new(config_default());
    const char *from = "<sip:x@203.0.113.13>;tag=i1", *to = "<sip:+442079460000@192.0.2.10>";
    req(&w, att, srv, T0, "INVITE", "sip:+442079460000@192.0.2.10", from, to, "did", 1,
        "Proxy-Authorization: Digest username=\"1001\", realm=\"pbx.example\", nonce=\"abc\", "
        "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n", NULL);
    resp(&w, srv, att, T0 + SEC(0.5), 200, "OK", "INVITE", from, "<sip:+442079460000@192.0.2.10>;tag=ivr", "did", 1,
         NULL, NULL);
    (void)to;
    for (int i = 0; i < 30; i++) /* register_reply's credentials: 1001, nonce "abc" */
        register_reply(&w, att, srv, T0 + SEC(5 + i * 2), "1001", "gd", (unsigned)(2 + i), "1001", 401, "Unauthorized",
                       CHALLENGE);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    CHECK_EQ_INT(dint(find_rule(w.out, "SIP-BRUTE-001"), "failures"), 30);
    world_free(&w);

    /* ... while a call challenged first still proves them: 12 phones of one
     * NAT call with the nonce the PBX forgot (restart, no stale=true), get a
     * 407, call again with the new nonce and are answered: no spraying */
    w = world_new(config_default());
    for (int u = 0; u < 12; u++) {
        char user[16], cid[16], cred[256], f[64];
        snprintf(user, sizeof user, "%d", 400 + u);
        snprintf(cid, sizeof cid, "pc%d", u);
        snprintf(f, sizeof f, "<sip:%s@pbx.example>;tag=p%d", user, u);
        const char *callee = "<sip:+442079460000@pbx.example>";
        for (int k = 0; k < 2; k++) {
            snprintf(cred, sizeof cred,
                     "Proxy-Authorization: Digest username=\"%s\", realm=\"pbx.example\", nonce=\"%s\", "
                     "uri=\"sip:pbx.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n",
                     user, k ? "fresh" : "cached");
            uint64_t t = T0 + SEC(u * 3 + k);
            req(&w, "198.51.100.81:5060", srv, t, "INVITE", "sip:+442079460000@pbx.example", f, callee, cid,
                (unsigned)(1 + k), cred, NULL);
            if (k == 0)
                resp(&w, srv, "198.51.100.81:5060", t + 2000, 407, "Proxy Authentication Required", "INVITE", f,
                     "<sip:+442079460000@pbx.example>;tag=c", cid, 1,
                     "Proxy-Authenticate: Digest realm=\"pbx.example\", nonce=\"fresh\"\r\n", NULL);
            else
                resp(&w, srv, "198.51.100.81:5060", t + 2000, 200, "OK", "INVITE", f,
                     "<sip:+442079460000@pbx.example>;tag=a", cid, 2, NULL, NULL);
        }
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-002") + count_rule(w.out, "SIP-BRUTE-001"), 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
}

/* ---- floods (SIP-FLOOD-001/002) ------------------------------------------------------------- */

/* The rate of SIP-FLOOD-001 is the highest requests/s seen in the window,
 * counted from the window's start: a burst of 90 INVITEs in its first half
 * second shows as 90/s, though the flood crosses the INVITE limit (100)
 * only 9 s later, at 11/s (the rate was once taken from the crossing on). */
static void test_flood_rate_burst(void) {
    world w = world_new(config_default());
    for (int i = 0; i < 100; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "fb%d", i);
        double t = i < 90 ? i * 0.005 : 0.5 + (i - 89) * 0.85;
        req(&w, "203.0.113.13:5060", "192.0.2.20:5060", T0 + SEC(t), "INVITE", "sip:100@192.0.2.20",
            "<sip:x@203.0.113.13>;tag=1", "<sip:100@192.0.2.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(f && f->count == 100 && !strcmp(dstr(f, "trigger"), "INVITE"));
    CHECK_MSG(dreal(f, "rate") >= 89.9, "rate %.1f, the burst was 90/s", dreal(f, "rate"));
    world_free(&w);
}

static void test_flood(void) {
    world w = world_new(config_default());
    const char *srv = "192.0.2.20:5060";
    for (int i = 0; i < 250; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "fl%d", i);
        req(&w, "203.0.113.12:5060", srv, T0 + SEC(i * 0.02), "OPTIONS", "sip:192.0.2.20",
            "<sip:x@203.0.113.12>;tag=1", "<sip:192.0.2.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 1);
    CHECK(f && f->count == 250);
    CHECK_EQ_INT(dint(f, "options"), 250);
    CHECK(!strcmp(dstr(f, "trigger"), "OPTIONS"));
    CHECK(dreal(f, "rate") >= 40);
    CHECK(has_obs(f, "ip", "203.0.113.12", "source"));
    CHECK(f && f->action == ACT_RATE_LIMIT_SOURCE && f->ttl_s == 900);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-002"), 0);
    world_free(&w);

    /* a destination flooded by 1200 spoofed sources in 6 s */
    w = world_new(config_default());
    for (int i = 0; i < 1200; i++) {
        char src[32], cid[16];
        snprintf(src, sizeof src, "198.18.%d.%d:5060", i / 250, i % 250 + 1);
        snprintf(cid, sizeof cid, "dd%d", i);
        req(&w, src, srv, T0 + SEC(i * 0.005), "REGISTER", "sip:192.0.2.20", "<sip:u@x>;tag=1", "<sip:u@x>",
            cid, 1, NULL, NULL);
    }
    world_finish(&w);
    const ev_event *d = find_rule(w.out, "SIP-FLOOD-002");
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-002"), 1);
    CHECK(d && d->count == 1200);
    CHECK(dint(d, "distinct_sources") > 500);
    CHECK(has_obs(d, "ip", "192.0.2.20", "target"));
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 0);
    world_free(&w);

    /* a flood toward it in 2 s, 9 s of quiet (less than the 10 s window),
     * then a slower one crossing the threshold 17 s after the first's last
     * request: one incident, not two */
    w = world_new(config_default());
    for (int i = 0; i < 2300; i++) {
        char src[32], cid[16];
        snprintf(src, sizeof src, "198.18.%d.%d:5060", i / 250, i % 250 + 1);
        snprintf(cid, sizeof cid, "dq%d", i);
        double t = i < 1200 ? i * 2.0 / 1200 : 11 + (i - 1200) * 9.0 / 1100;
        req(&w, src, srv, T0 + SEC(t), "REGISTER", "sip:192.0.2.20", "<sip:u@x>;tag=1", "<sip:u@x>", cid, 1,
            NULL, NULL);
    }
    world_finish(&w);
    d = find_rule(w.out, "SIP-FLOOD-002");
    CHECK_MSG(count_rule(w.out, "SIP-FLOOD-002") == 1, "SIP-FLOOD-002 after 9 s of quiet: %d incidents",
              count_rule(w.out, "SIP-FLOOD-002"));
    CHECK(d && d->count == 2300);
    world_free(&w);

    /* the same toward one host as HEP from two proxies, one clock 3 s behind:
     * 1300 a window, every request counted (a request stamped before the
     * window's start started it again: nothing was reported) */
    w = world_new(config_default());
    for (int i = 0; i < 3900; i++) {
        char src[32], cid[16];
        snprintf(src, sizeof src, "198.18.%d.%d:5060", i / 250, i % 250 + 1);
        snprintf(cid, sizeof cid, "dj%d", i);
        uint64_t ts = T0 + SEC(i * (30.0 / 3900)) - (i % 2 ? SEC(3) : 0);
        req(&w, src, srv, ts, "REGISTER", "sip:192.0.2.20", "<sip:u@x>;tag=1", "<sip:u@x>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    d = find_rule(w.out, "SIP-FLOOD-002");
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-002"), 1);
    CHECK_MSG(d && d->count == 3900, "SIP-FLOOD-002 with a clock 3 s behind counted %llu",
              d ? (unsigned long long)d->count : 0ULL);
    /* first_seen is the earliest request counted: the second one, stamped
     * by the clock behind (it was the first's, 3 s later) */
    CHECK_MSG(d && d->first_us == T0 + SEC(30.0 / 3900) - SEC(3), "first_seen %lld us after the earliest request",
              d ? (long long)(d->first_us - (T0 + SEC(30.0 / 3900) - SEC(3))) : 0LL);
    world_free(&w);

    /* benign: the same 250 OPTIONS from a trusted carrier zone with
     * flood_multiplier 20, and a PBX's normal 40 requests per 10 s */
    w = world_new(config_zones());
    for (int i = 0; i < 250; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "tc%d", i);
        req(&w, "192.0.2.5:5060", "10.0.0.20:5060", T0 + SEC(i * 0.02), "OPTIONS", "sip:10.0.0.20",
            "<sip:x@192.0.2.5>;tag=1", "<sip:10.0.0.20>", cid, 1, NULL, NULL);
    }
    for (int i = 0; i < 1000; i++) { /* the carrier keeps going: 1250 toward one host in 10 s */
        char cid[16];
        snprintf(cid, sizeof cid, "tk%d", i);
        req(&w, "192.0.2.5:5060", "10.0.0.20:5060", T0 + SEC(5 + i * 0.004), "OPTIONS", "sip:10.0.0.20",
            "<sip:x@192.0.2.5>;tag=1", "<sip:10.0.0.20>", cid, 1, NULL, NULL);
    }
    for (int i = 0; i < 400; i++) { /* our SBC (core zone) relays 400 INVITEs in 10 s */
        char cid[16], from[48];
        snprintf(cid, sizeof cid, "sb%d", i);
        snprintf(from, sizeof from, "<sip:user%d@10.0.0.30>;tag=1", i);
        req(&w, "10.0.0.30:5060", "10.0.0.20:5060", T0 + SEC(i * 0.025), "INVITE", "sip:bob@10.0.0.20",
            from, "<sip:bob@10.0.0.20>", cid, 1, NULL, NULL);
    }
    for (int i = 0; i < 240; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "pb%d", i);
        req(&w, "198.51.100.20:5060", "10.0.0.20:5060", T0 + SEC(i * 0.25), i % 2 ? "OPTIONS" : "REGISTER",
            "sip:10.0.0.20", "<sip:x@198.51.100.20>;tag=1", "<sip:x@10.0.0.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
}

/* ---- trust boundary (SIP-TRUST-001, SIP-CLI-001/002) --------------------------------------- */

static void invite_with(world *w, const char *src, const char *dst, uint64_t ts, const char *cid,
                        const char *from, const char *extra) {
    req(w, src, dst, ts, "INVITE", "sip:+442079460000@ims.example.net;user=phone", from,
        "<sip:+442079460000@ims.example.net>", cid, 1, extra, NULL);
}

static void test_trust(void) {
    world w = world_new(config_zones());
    const char *core = "10.0.0.30:5060";
    /* an internet host asserting identity and charging */
    for (int i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "tr%d", i);
        invite_with(&w, "203.0.113.13:5060", core, T0 + SEC(i), cid, "<sip:+33123456789@x.example>;tag=1",
                    "P-Asserted-Identity: <sip:+33123456789@x.example>\r\n"
                    "P-Charging-Vector: icid-value=1234\r\n");
    }
    /* the partner may assert PAI but not P-Charging-Vector */
    invite_with(&w, "192.0.2.5:5060", core, T0 + SEC(5), "tr-p", "<sip:+33123456789@x.example>;tag=1",
                "P-Asserted-Identity: <sip:+33123456789@x.example>\r\nP-Charging-Vector: icid-value=9\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-TRUST-001"), 2);
    const ev_event *t = NULL;
    for (int i = 0; i < w.out->n; i++)
        if (w.out->ev[i].rule == R_TRUST_HEADER && has_obs(&w.out->ev[i], "ip", "203.0.113.13", "source"))
            t = &w.out->ev[i];
    CHECK(t && t->count == 3);
    CHECK(strstr(dstr(t, "headers"), "P-Asserted-Identity") && strstr(dstr(t, "headers"), "P-Charging-Vector"));
    CHECK(has_obs(t, "e164", "+33123456789", "caller"));
    CHECK(t && t->event_type == ET_TRUST_BOUNDARY_VIOLATION && t->domain == DOM_PRIVACY);
    for (int i = 0; i < w.out->n; i++)
        if (w.out->ev[i].rule == R_TRUST_HEADER && has_obs(&w.out->ev[i], "ip", "192.0.2.5", "source")) {
            CHECK(!strcmp(dstr(&w.out->ev[i], "headers"), "P-Charging-Vector"));
            CHECK(!strcmp(dstr(&w.out->ev[i], "zone"), "ipx-partner"));
            /* its PAI was its to assert: the caller it vouched for is not one to block */
            CHECK(!has_obs(&w.out->ev[i], "e164", NULL, "caller"));
        }
    world_free(&w);

    /* the partner relays a call of our subscriber (forwarded back: History-Info)
     * with a charging header it may not send: the number stays a victim, so
     * that fs38 share keeps it out of the sample */
    w = world_new(config_zones());
    invite_with(&w, "192.0.2.5:5060", core, T0, "tr-h", "<sip:+447700900123@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900123>\r\nP-Charging-Vector: icid-value=9\r\n"
                "History-Info: <sip:+33612345678@ipx.example;cause=302>;index=1\r\n");
    world_finish(&w);
    const ev_event *th = find_rule(w.out, "SIP-TRUST-001");
    CHECK(th && !strcmp(dstr(th, "headers"), "P-Charging-Vector") && has_obs(th, "e164", "+447700900123", "victim"));
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 0);
    world_free(&w);

    /* a spoofed PAI padded behind more fields than limits.max_headers (128)
     * indexes: the next hop still reads it, so it is still asserted */
    w = world_new(config_zones());
    {
        static char pad[4096];
        size_t o = 0;
        for (int i = 0; i < 130; i++) o += (size_t)snprintf(pad + o, sizeof pad - o, "X-Pad-%d: a\r\n", i);
        snprintf(pad + o, sizeof pad - o, "P-Asserted-Identity: <tel:+447700900123>\r\n");
        invite_with(&w, "203.0.113.15:5060", core, T0, "tr-pad", "<sip:bob@x.example>;tag=1", pad);
    }
    world_finish(&w);
    const ev_event *tp = find_rule(w.out, "SIP-TRUST-001");
    CHECK_MSG(tp && !strcmp(dstr(tp, "headers"), "P-Asserted-Identity"), "PAI past the header index: %s",
              tp ? dstr(tp, "headers") : "no SIP-TRUST-001");
    CHECK(find_rule(w.out, "SIP-MAL-002") != NULL); /* and the limit, as before */
    world_free(&w);

    /* benign: the partner's PAI, the core's everything, a UE's PPI from the
     * access side; and with no zones configured nothing at all */
    w = world_new(config_zones());
    invite_with(&w, "192.0.2.5:5060", core, T0, "b1", "<sip:+33123456789@x.example>;tag=1",
                "P-Asserted-Identity: <sip:+33123456789@x.example>\r\n");
    invite_with(&w, "10.0.0.31:5060", core, T0 + SEC(1), "b2", "<sip:+33123456789@x.example>;tag=1",
                "P-Asserted-Identity: <sip:+33123456789@x.example>\r\nP-Charging-Vector: icid-value=1\r\n"
                "P-Access-Network-Info: 3GPP-E-UTRAN-FDD\r\n");
    invite_with(&w, "100.64.0.7:5060", core, T0 + SEC(2), "b3", "<sip:alice@example.org>;tag=1",
                "P-Preferred-Identity: <sip:alice@example.org>\r\n");
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
    w = world_new(config_default());
    invite_with(&w, "203.0.113.13:5060", core, T0, "nz", "<sip:+33123456789@x.example>;tag=1",
                "P-Asserted-Identity: <sip:+447700900123@ims.example.net>\r\nP-Charging-Vector: icid-value=1\r\n");
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    world_free(&w);
}

/* An access zone (UEs on Gm): their PPI and PANI are expected, while an
 * internet peer's are not; the core's route sets and media toward UEs are
 * no leak; a spoofed home number asserted from outside is a victim; the
 * core relaying an invalid caller is not judged again. */
static void test_access_zone(void) {
    fs38_config *cfg = config_zones();
    int az = -1;
    for (int i = 0; i < cfg->nzones; i++)
        if (!strcmp(cfg->zones[i].name, "access")) az = i;
    CHECK(az >= 0);
    if (az >= 0) cfg->zones[az].access = true;
    world w = world_new(cfg);
    const char *core = "10.0.0.30:5060";
    const char *ue_hdrs = "P-Preferred-Identity: <sip:alice@example.org>\r\n"
                          "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=2341501\r\n";
    invite_with(&w, "100.64.0.7:5060", core, T0, "a1", "<sip:alice@example.org>;tag=1", ue_hdrs);
    invite_with(&w, "203.0.113.13:5060", core, T0 + SEC(1), "a2", "<sip:bob@example.org>;tag=1", ue_hdrs);
    /* the P-CSCF sends a UE its route set and the core's media address */
    req(&w, core, "100.64.0.7:5060", T0 + SEC(2), "INVITE", "sip:alice@100.64.0.7",
        "<sip:+447700900999@ims.example.net>;tag=9", "<sip:alice@example.org>", "a3", 1,
        "Record-Route: <sip:10.0.0.30;lr>, <sip:10.0.0.40;lr>\r\n", NULL);
    /* a spoofed home number asserted by an internet host */
    invite_with(&w, "203.0.113.14:5060", core, T0 + SEC(3), "a4", "<sip:+447700900123@x.example>;tag=1",
                "P-Asserted-Identity: <sip:+447700900123@x.example>\r\n");
    /* an invalid caller from the internet, and the same call relayed by the core */
    invite_with(&w, "203.0.113.15:5060", core, T0 + SEC(4), "a5", "<sip:+12@x.example>;tag=1", NULL);
    invite_with(&w, core, "10.0.0.40:5060", T0 + SEC(4.1), "a5", "<sip:+12@x.example>;tag=1", NULL);
    /* a PBX on access shows its own (our subscriber's) number in From and Remote-Party-ID */
    invite_with(&w, "100.64.0.8:5060", core, T0 + SEC(5), "a6", "<sip:+447700900140@ims.example.net>;tag=1",
                "Remote-Party-ID: <sip:+447700900140@ims.example.net>;party=calling\r\n");
    world_finish(&w);
    for (int i = 0; i < w.out->n; i++)
        CHECK(!(w.out->ev[i].rule == R_CLI_HOME_IDENTITY && has_obs(&w.out->ev[i], "ip", "100.64.0.8", "source")));
    int n_trust = 0;
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *e = &w.out->ev[i];
        if (e->rule == R_TRUST_HEADER && has_obs(e, "ip", "100.64.0.7", "source")) n_trust += 100;
        if (e->rule == R_TRUST_HEADER && has_obs(e, "ip", "203.0.113.13", "source")) {
            n_trust++;
            CHECK(strstr(dstr(e, "headers"), "P-Preferred-Identity") && strstr(dstr(e, "headers"), "P-Access-Network-Info"));
        }
        if (e->rule == R_TRUST_HEADER && has_obs(e, "ip", "203.0.113.14", "source"))
            CHECK(has_obs(e, "e164", "+447700900123", "victim") && !has_obs(e, "e164", "+447700900123", "caller"));
    }
    CHECK_EQ_INT(n_trust, 1); /* the internet peer's, not the UE's */
    CHECK_EQ_INT(count_rule(w.out, "SIP-TOPO-001"), 0);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-002"), 1);
    const ev_event *inv = find_rule(w.out, "SIP-CLI-002");
    CHECK(inv && has_obs(inv, "ip", "203.0.113.15", "source"));
    if (w.out->n != 4) dump(w.out);
    world_free(&w);

    /* media: an SBC's public media address in its core zone is where the peer
     * must send RTP, no leak; a private one is */
    {
        fs38_config *pc = malloc(sizeof *pc);
        fs_err e = {0};
        cfg_defaults(pc);
        const char *y = "zones:\n  core: {trust: core, networks: [198.51.100.0/24]}\n";
        CHECK_MSG(cfg_load_buffer(pc, y, strlen(y), ".", &e) == FS_OK, "%s", e.msg);
        world m = world_new(pc);
        const char *pub = "v=0\r\no=- 1 1 IN IP4 198.51.100.5\r\ns=-\r\nc=IN IP4 198.51.100.5\r\nt=0 0\r\n"
                          "m=audio 30000 RTP/AVP 0\r\n";
        const char *priv = "v=0\r\no=- 1 1 IN IP4 198.51.100.5\r\ns=-\r\nc=IN IP4 192.168.7.5\r\nt=0 0\r\n"
                           "m=audio 30000 RTP/AVP 0\r\n";
        req(&m, "198.51.100.3:5060", "203.0.113.30:5060", T0, "INVITE", "sip:bob@203.0.113.30",
            "<sip:a@x.example>;tag=1", "<sip:bob@203.0.113.30>", "m1", 1, NULL, pub);
        world_finish(&m);
        CHECK_EQ_INT(count_rule(m.out, "SIP-TOPO-001"), 0);
        world_free(&m);
        pc = malloc(sizeof *pc);
        cfg_defaults(pc);
        CHECK(cfg_load_buffer(pc, y, strlen(y), ".", &e) == FS_OK);
        m = world_new(pc);
        req(&m, "198.51.100.3:5060", "203.0.113.30:5060", T0, "INVITE", "sip:bob@203.0.113.30",
            "<sip:a@x.example>;tag=1", "<sip:bob@203.0.113.30>", "m2", 1, NULL, priv);
        world_finish(&m);
        const ev_event *t = find_rule(m.out, "SIP-TOPO-001");
        CHECK(t && !strcmp(dstr(t, "leaked"), "192.168.7.5"));
        world_free(&m);
    }

    /* toward an untrusted zone that is not access, the same route set leaks */
    w = world_new(config_zones());
    req(&w, core, "203.0.113.20:5060", T0, "INVITE", "sip:bob@203.0.113.20", "<sip:a@ims.example.net>;tag=9",
        "<sip:bob@203.0.113.20>", "a6", 1,
        "Record-Route: <sip:10.0.0.30;lr>, <sip:10.0.0.40;lr>\r\nContact: <sip:a@10.0.0.41>\r\n", NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-TOPO-001"), 1);
    /* every leak of the message is named, not only the first */
    const ev_event *tl = find_rule(w.out, "SIP-TOPO-001");
    CHECK(tl && !strcmp(dstr(tl, "leaked"), "10.0.0.40,10.0.0.41") && !strcmp(dstr(tl, "where"), "Contact,Record-Route"));
    /* and which was where: each list alone is sorted apart (Contact is 10.0.0.41) */
    CHECK(tl && !strcmp(dstr(tl, "leaks"), "Contact=10.0.0.41,Record-Route=10.0.0.40"));
    if (tl) CHECK_EQ_INT(tl->count, 1);
    world_free(&w);
}

/* A rule without a window count of its own (here SIP-CLI-001) reports an
 * incident once it has `threshold` occurrences, none more than window_s
 * after the one before; fewer are counted, not reported. */
static void test_hit_threshold(void) {
    fs38_config *cfg = config_zones();
    cfg->rules[R_CLI_HOME_IDENTITY].threshold = 3;
    cfg->rules[R_CLI_HOME_IDENTITY].window_s = 60;
    world w = world_new(cfg);
    const char *core = "10.0.0.30:5060";
    const char *from = "<sip:+447700900123@ims.example.net>;tag=1";
    const char *pai = "P-Asserted-Identity: <tel:+447700900123>\r\n";
    /* two from one source (quiet), three 30 s apart from another (reported),
     * three from a third with a gap longer than the window (quiet) */
    invite_with(&w, "192.0.2.6:5060", core, T0, "t1", from, pai);
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(1), "t2", from, pai);
    for (int i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "u%d", i);
        invite_with(&w, "192.0.2.7:5060", core, T0 + SEC(30 * i), cid, from, pai);
    }
    for (int i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "v%d", i);
        invite_with(&w, "192.0.2.8:5060", core, T0 + SEC(100 + 100 * i), cid, from, pai);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 1);
    const ev_event *ev = find_rule(w.out, "SIP-CLI-001");
    CHECK(has_obs(ev, "ip", "192.0.2.7", "source"));
    CHECK(ev && ev->count == 3 && ev->first_us == T0 && ev->last_us == T0 + SEC(60));
    CHECK_EQ_INT(det_engine_stats(w.eng)->incidents_below_threshold, 1 + 3);
    if (w.out->n != 1) dump(w.out);
    world_free(&w);
}

static void test_cli(void) {
    world w = world_new(config_zones());
    const char *core = "10.0.0.30:5060";
    /* SIP-CLI-001: the partner asserts one of our numbers; an internet host
     * claims our IMS domain in From */
    invite_with(&w, "192.0.2.6:5060", core, T0, "c1", "<sip:+447700900123@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900123>\r\n");
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(1), "c2", "<sip:+447700900124@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900124>\r\n");
    invite_with(&w, "203.0.113.14:5060", core, T0 + SEC(2), "c3", "<sip:bob@ims.example.net>;tag=1", NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 2);
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        if (ev->rule != R_CLI_HOME_IDENTITY) continue;
        if (has_obs(ev, "ip", "192.0.2.6", "source")) {
            CHECK_EQ_INT(ev->count, 2);
            CHECK(has_obs(ev, "e164", "+447700900123", "victim")); /* our subscriber, abused */
            CHECK(!has_obs(ev, "e164", "+447700900123", "caller"));
            CHECK(!strcmp(dstr(ev, "home_match"), "+4477009"));
            CHECK(ev->event_type == ET_CLI_SPOOFING && ev->action == ACT_REJECT_IDENTITY);
        } else {
            CHECK(has_obs(ev, "ip", "203.0.113.14", "source"));
            CHECK(!strcmp(dstr(ev, "home_match"), "ims.example.net"));
            CHECK(!strcmp(dstr(ev, "identity_header"), "From"));
        }
    }
    CHECK_EQ_INT(count_rule(w.out, "SIP-TRUST-001"), 0); /* the partner may assert PAI */
    world_free(&w);

    /* Remote-Party-ID (party=calling or none) shows the caller on Cisco,
     * Asterisk and FreeSWITCH trunks: our number there from outside is
     * judged as From is; party=called names the callee, and a PBX in an
     * access zone sends its own number there */
    w = world_new(config_zones());
    invite_with(&w, "203.0.113.14:5060", core, T0, "r1", "<sip:anon@x.example>;tag=1",
                "Remote-Party-ID: \"Bank\" <sip:+447700900129@x.example>;party=calling;screen=yes\r\n");
    invite_with(&w, "203.0.113.15:5060", core, T0 + SEC(1), "r2", "<sip:anon@x.example>;tag=1",
                "Remote-Party-ID: <sip:+447700900130@x.example>;party=called\r\n");
    invite_with(&w, "203.0.113.16:5060", core, T0 + SEC(2), "r3", "<sip:anon@x.example>;tag=1",
                "Remote-Party-ID: <sip:+33123456789@x.example>;party=called, <tel:+447700900131>\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 2);
    const ev_event *rp = find_rule(w.out, "SIP-CLI-001");
    CHECK(rp && !strcmp(dstr(rp, "identity_header"), "Remote-Party-ID"));
    CHECK(rp && (has_obs(rp, "e164", "+447700900129", "victim") || has_obs(rp, "e164", "+447700900131", "victim")));
    world_free(&w);

    /* one of our numbers written as a local number with a global context
     * (RFC 3966 5.1.5; in a tel: URI and in a SIP URI's user): it is
     * +447700900126, ours; a domain context leaves a number local */
    w = world_new(config_zones());
    invite_with(&w, "192.0.2.6:5060", core, T0, "p1", "<sip:partner@ipx.example>;tag=1",
                "P-Asserted-Identity: <tel:7700900126;phone-context=+44>\r\n");
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(1), "p2", "<sip:partner@ipx.example>;tag=1",
                "P-Asserted-Identity: <sip:7700-900127;phone-context=+4-4@ipx.example;user=phone>\r\n");
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(2), "p3", "<sip:partner@ipx.example>;tag=1",
                "P-Asserted-Identity: <tel:7700900128;phone-context=example.com>\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 1);
    const ev_event *pc = find_rule(w.out, "SIP-CLI-001");
    CHECK_MSG(pc && pc->count == 2 && has_obs(pc, "e164", "+447700900126", "victim") &&
                  has_obs(pc, "e164", "+447700900127", "victim") && !has_obs(pc, "e164", "+447700900128", "victim"),
              "phone-context: %d (126 %d, 127 %d)", pc ? (int)pc->count : -1, pc && has_obs(pc, "e164", "+447700900126", "victim"), pc && has_obs(pc, "e164", "+447700900127", "victim"));
    world_free(&w);

    /* our domain with a number outside home.prefixes (or none listed): the
     * domain is ours, the number is the caller presented, as SIP-TRUST-001
     * names it for the same message, not a subscriber to protect */
    for (int k = 0; k < 2; k++) {
        fs38_config *dc = config_zones();
        if (k) dc->nhome_prefixes = 0;
        w = world_new(dc);
        invite_with(&w, "203.0.113.14:5060", core, T0, "dn1", "<sip:bob@x.example>;tag=1",
                    "P-Asserted-Identity: <sip:+33123456789@ims.example.net;user=phone>\r\n");
        world_finish(&w);
        const ev_event *dn = find_rule(w.out, "SIP-CLI-001");
        const ev_event *dt = find_rule(w.out, "SIP-TRUST-001");
        CHECK_MSG(dn && !strcmp(dstr(dn, "home_match"), "ims.example.net") &&
                      has_obs(dn, "e164", "+33123456789", "caller") && !has_obs(dn, "e164", "+33123456789", "victim"),
                  "foreign number under our domain, prefixes %s", k ? "none" : "listed");
        CHECK(dt && has_obs(dt, "e164", "+33123456789", "caller"));
        world_free(&w);
    }

    /* a call the partner diverted back to us keeps our subscriber as caller
     * (History-Info or Diversion): not judged; an internet host's Diversion
     * proves nothing */
    w = world_new(config_zones());
    invite_with(&w, "192.0.2.6:5060", core, T0, "d1", "<sip:+447700900123@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900123>\r\n"
                "History-Info: <sip:+33612345678@ipx.example;cause=302>;index=1\r\n");
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(1), "d2", "<sip:+447700900124@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900124>\r\nDiversion: <tel:+33612345678>;reason=no-answer\r\n");
    invite_with(&w, "203.0.113.14:5060", core, T0 + SEC(2), "d3", "<sip:+447700900125@ims.example.net>;tag=1",
                "Diversion: <tel:+33612345678>;reason=no-answer\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 1);
    const ev_event *div = find_rule(w.out, "SIP-CLI-001");
    CHECK(div && has_obs(div, "ip", "203.0.113.14", "source"));
    world_free(&w);

    /* check_from: 0 (a network whose UEs reach us from untrusted access):
     * From is no longer judged, PAI still is */
    fs38_config *nf = config_default();
    fs_err ce = {0};
    size_t zlen = 0;
    char *zones = check_read_file("tests/data/detect/zones.yaml", &zlen);
    const char *no_from = "rules:\n  SIP-CLI-001:\n    check_from: 0\n";
    char *yaml = malloc(zlen + strlen(no_from) + 1);
    memcpy(yaml, zones ? zones : "", zones ? zlen : 0);
    strcpy(yaml + (zones ? zlen : 0), no_from);
    CHECK_MSG(cfg_load_buffer(nf, yaml, strlen(yaml), "tests/data/detect", &ce) == FS_OK, "%s", ce.msg);
    free(zones);
    free(yaml);
    CHECK(nf->rules[R_CLI_HOME_IDENTITY].param[0] == 0);
    CHECK(nf->nzones == 3);
    w = world_new(nf);
    invite_with(&w, "203.0.113.14:5060", core, T0, "nf1", "<sip:bob@ims.example.net>;tag=1", NULL);
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(1), "nf2", "<sip:+447700900123@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900123>\r\n");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 1);
    CHECK(has_obs(find_rule(w.out, "SIP-CLI-001"), "ip", "192.0.2.6", "source"));
    world_free(&w);

    /* benign for CLI-001: our core, foreign numbers from the partner, no zones */
    w = world_new(config_zones());
    invite_with(&w, "10.0.0.31:5060", core, T0, "h1", "<sip:+447700900123@ims.example.net>;tag=1",
                "P-Asserted-Identity: <tel:+447700900123>\r\n");
    invite_with(&w, "192.0.2.6:5060", core, T0 + SEC(1), "h2", "<sip:+33123456789@x.example>;tag=1",
                "P-Asserted-Identity: <tel:+33123456789>\r\n");
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    world_free(&w);

    /* SIP-CLI-002: identities that cannot be valid (no zones needed) */
    fs38_config *cfg = config_default();
    fs_err e = {0};
    CHECK(cfg_load_ranges(cfg, "tests/data/detect/high-risk-ranges.txt", &e) == FS_OK);
    w = world_new(cfg);
    const char *bad[] = {"<sip:+0123456789@x.example>;tag=1", "<sip:+12ab3456789@x.example>;tag=1",
                         "<sip:+44123@x.example>;tag=1", "<tel:+1234567890123456789>;tag=1",
                         "<sip:+88216123456@x.example>;tag=1"};
    for (int i = 0; i < 5; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "iv%d", i);
        invite_with(&w, "203.0.113.15:5060", "192.0.2.1:5060", T0 + SEC(i), cid, bad[i], NULL);
    }
    /* benign identities from another source */
    const char *good[] = {"<sip:alice@example.org>;tag=1", "<sip:+442079460000@x.example>;tag=1",
                          "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1", "<sip:1001@pbx>;tag=1",
                          "<tel:+1-202-555-0100>;tag=1", "<sip:0044207946000@x.example>;tag=1",
                          /* inside +88216 but excepted ("!+88216999") */
                          "<sip:+88216999123@x.example>;tag=1",
                          /* digits %-escaped: the same URI as +442079460000 (RFC 3261 19.1.4) */
                          "<sip:+%34%342079460000@x.example>;tag=1"};
    for (int i = 0; i < 8; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "gd%d", i);
        invite_with(&w, "198.51.100.16:5060", "192.0.2.1:5060", T0 + SEC(10 + i), cid, good[i], NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-002"), 1);
    const ev_event *iv = find_rule(w.out, "SIP-CLI-002");
    CHECK(iv && iv->count == 5);
    CHECK(has_obs(iv, "ip", "203.0.113.15", "source"));
    const char *reasons = dstr(iv, "reasons");
    CHECK(strstr(reasons, "country_code_zero") && strstr(reasons, "non_numeric") &&
          strstr(reasons, "too_short") && strstr(reasons, "too_long") && strstr(reasons, "high_risk_range"));
    CHECK(has_obs(iv, "e164", "+88216123456", "caller"));
    if (count_rule(w.out, "SIP-CLI-002") != 1) dump(w.out);
    world_free(&w);
}

/* ---- topology and information leaks (SIP-TOPO-001, SIP-INFO-001/002) ----------------------- */

#define SDP_INTERNAL "v=0\r\no=- 1 1 IN IP4 10.5.5.5\r\ns=-\r\nc=IN IP4 10.5.5.6\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
#define SDP_PUBLIC "v=0\r\no=- 1 1 IN IP4 203.0.113.99\r\ns=-\r\nc=IN IP4 203.0.113.99\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

/* A 200 OK to INVITE from `from` to `to` carrying body as ctype. */
static void topo_answer(world *w, const char *from, const char *to, const char *cid, const char *ctype,
                        const char *body) {
    char buf[4096];
    snprintf(buf, sizeof buf,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.16;branch=z9hG4bK%s\r\n"
             "From: <sip:a@203.0.113.16>;tag=1\r\nTo: <sip:b@ims.example.net>;tag=2\r\nCall-ID: %s\r\n"
             "CSeq: 1 INVITE\r\nContact: <sip:203.0.113.200>\r\n"
             "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
             cid, cid, ctype, strlen(body), body);
    send_raw(w, from, to, T0, buf);
}

/* The world ends with one SIP-TOPO-001, addr among what leaked; freed. */
static void check_one_leak(world *w, const char *addr) {
    world_finish(w);
    CHECK_EQ_INT(count_rule(w->out, "SIP-TOPO-001"), 1);
    const ev_event *t = find_rule(w->out, "SIP-TOPO-001");
    CHECK_MSG(t && strstr(dstr(t, "leaked"), addr) != NULL, "%s not among the leaked", addr);
    world_free(w);
}

static void test_topology(void) {
    world w = world_new(config_zones());
    const char *sbc = "10.0.0.40:5060", *peer = "203.0.113.16:5060", *partner = "192.0.2.7:5060";
    /* a request leaving the core with an internal proxy in Via */
    char buf[2048];
    snprintf(buf, sizeof buf,
             "INVITE sip:+442079460000@203.0.113.16 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.0.0.40;branch=z9hG4bKa1\r\nVia: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKa0\r\n"
             "Max-Forwards: 69\r\nFrom: <sip:+447700900123@ims.example.net>;tag=1\r\n"
             "To: <sip:+442079460000@203.0.113.16>\r\nCall-ID: topo1\r\nCSeq: 1 INVITE\r\n"
             "Contact: <sip:10.0.0.40>\r\nUser-Agent: CoreSBC 5.6.4\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, sbc, peer, T0, buf);
    /* the answer toward the peer: SDP with internal media addresses, a Warning */
    resp(&w, sbc, peer, T0 + SEC(1), 200, "OK", "INVITE", "<sip:a@203.0.113.16>;tag=1",
         "<sip:b@ims.example.net>;tag=2", "topo2", 1,
         "Contact: <sip:203.0.113.200>\r\nServer: CoreSBC 5.6.4\r\nWarning: 399 sbc \"media relay degraded\"\r\n",
         SDP_INTERNAL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-TOPO-001"), 1); /* one event for the leaking element */
    const ev_event *t = find_rule(w.out, "SIP-TOPO-001");
    CHECK(t && t->count == 2);
    CHECK(has_obs(t, "ip", "10.0.0.40", "source"));
    CHECK(strstr(dstr(t, "where"), "Via") && strstr(dstr(t, "where"), "SDP"));
    CHECK(strstr(dstr(t, "leaked"), "10.1.1.1") != NULL);
    const ev_event *v = find_rule(w.out, "SIP-INFO-001");
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-001"), 1);
    CHECK(v && v->count == 2 && strstr(dstr(v, "disclosed"), "5.6.4"));
    const ev_event *wn = find_rule(w.out, "SIP-INFO-002");
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-002"), 1);
    CHECK(wn && strstr(dstr(wn, "warning"), "media relay") != NULL);
    world_free(&w);

    /* benign: the same toward the trusted partner; a REGISTER 200 toward a UE
     * behind NAT echoing its own private Via and Contact; public SDP;
     * Server without a version; inbound traffic */
    w = world_new(config_zones());
    snprintf(buf, sizeof buf,
             "INVITE sip:+442079460000@192.0.2.7 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.0.0.40;branch=z9hG4bKb1\r\nVia: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKb0\r\n"
             "Max-Forwards: 69\r\nFrom: <sip:+447700900123@ims.example.net>;tag=1\r\n"
             "To: <sip:+442079460000@192.0.2.7>\r\nCall-ID: topo3\r\nCSeq: 1 INVITE\r\n"
             "User-Agent: CoreSBC 5.6.4\r\nWarning: 399 sbc \"x\"\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, sbc, partner, T0, buf);
    snprintf(buf, sizeof buf,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKc1;received=203.0.113.17\r\n"
             "From: <sip:alice@ims.example.net>;tag=1\r\nTo: <sip:alice@ims.example.net>;tag=2\r\n"
             "Call-ID: reg1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.168.1.10:5060>;expires=600\r\n"
             "Server: CoreSBC\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, sbc, "203.0.113.17:5060", T0 + SEC(1), buf);
    resp(&w, sbc, peer, T0 + SEC(2), 200, "OK", "INVITE", "<sip:a@203.0.113.16>;tag=1",
         "<sip:b@ims.example.net>;tag=2", "topo4", 1, "Contact: <sip:203.0.113.200>\r\nServer: SBC\r\n",
         SDP_PUBLIC);
    req(&w, peer, sbc, T0 + SEC(3), "INVITE", "sip:+447700900123@ims.example.net",
        "<sip:+442079460000@x.example>;tag=1", "<sip:+447700900123@ims.example.net>", "topo5", 1,
        "User-Agent: Asterisk PBX 18.2.1\r\nContact: <sip:192.168.7.7>\r\n", SDP_INTERNAL);
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    /* the sender's own address is no leak, also when the capture names it
     * IPv4-mapped (a dual-stack socket's HEP) and its SIP plainly */
    w = world_new(config_zones());
    snprintf(buf, sizeof buf,
             "INVITE sip:+442079460000@203.0.113.16 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.0.0.40;branch=z9hG4bKm1\r\nMax-Forwards: 70\r\n"
             "From: <sip:+447700900123@ims.example.net>;tag=1\r\nTo: <sip:+442079460000@203.0.113.16>\r\n"
             "Call-ID: topo-mapped\r\nCSeq: 1 INVITE\r\nContact: <sip:10.0.0.40>\r\nContent-Length: 0\r\n\r\n");
    send_raw(&w, "[::ffff:10.0.0.40]:5060", "[::ffff:203.0.113.16]:5060", T0, buf);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-TOPO-001"), 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    /* the internal SDP inside a nested multipart/alternative (RFC 5621) */
    w = world_new(config_zones());
    static const char nested[] = "--outer\r\nContent-Type: multipart/alternative;boundary=inner\r\n\r\n"
                                 "--inner\r\nContent-Type: application/sdp\r\n\r\n" SDP_INTERNAL "\r\n"
                                 "--inner--\r\n\r\n--outer--\r\n";
    topo_answer(&w, sbc, peer, "topo-nested", "multipart/mixed;boundary=outer", nested);
    check_one_leak(&w, "10.5.5.6");

    /* an internal Contact whose header parameters are malformed (a trailing
     * ';': SIP-MAL-001) still leaks the address inside its <> */
    w = world_new(config_zones());
    resp(&w, sbc, peer, T0, 200, "OK", "INVITE", "<sip:a@203.0.113.16>;tag=1", "<sip:b@ims.example.net>;tag=2",
         "topo-contact", 1, "Contact: <sip:b@10.5.5.8:5060>;expires=60;\r\n", NULL);
    check_one_leak(&w, "10.5.5.8");

    /* a public media address repeated in eight m= sections does not hide a
     * private one in the ninth (a telepresence offer's BFCP stream) */
    w = world_new(config_zones());
    char sdp[1024];
    int sn = snprintf(sdp, sizeof sdp, "v=0\r\no=- 1 1 IN IP4 203.0.113.99\r\ns=-\r\nt=0 0\r\n");
    for (int i = 0; i < 8; i++)
        sn += snprintf(sdp + sn, sizeof sdp - (size_t)sn, "m=video %d RTP/AVP 96\r\nc=IN IP4 203.0.113.99\r\n",
                       4000 + 2 * i);
    snprintf(sdp + sn, sizeof sdp - (size_t)sn, "m=application 5000 TCP/BFCP *\r\nc=IN IP4 10.5.5.7\r\n");
    topo_answer(&w, sbc, peer, "topo-many-m", "application/sdp", sdp);
    check_one_leak(&w, "10.5.5.7");

    /* SIP-INFO-001: a version in a second User-Agent or Server field (an
     * element that adds its own agent and keeps the one it was given) is
     * disclosed as much as one in the first */
    w = world_new(config_zones());
    req(&w, sbc, peer, T0, "OPTIONS", "sip:203.0.113.16", "<sip:ka@ims.example.net>;tag=1",
        "<sip:203.0.113.16>", "info-ua2", 1, "User-Agent: CoreSBC\r\nUser-Agent: Asterisk PBX 16.2.1\r\n", NULL);
    resp(&w, "10.0.0.41:5060", peer, T0 + SEC(1), 200, "OK", "OPTIONS", "<sip:a@203.0.113.16>;tag=1",
         "<sip:b@ims.example.net>;tag=2", "info-server2", 1,
         "Server: SBC\r\nServer: FreeSWITCH-mod_sofia/1.10.7\r\n", NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-001"), 2);
    const ev_event *ua2 = find_rule_from(w.out, "SIP-INFO-001", "10.0.0.40");
    CHECK(ua2 && !strcmp(dstr(ua2, "header"), "User-Agent") && strstr(dstr(ua2, "disclosed"), "16.2.1"));
    const ev_event *srv2 = find_rule_from(w.out, "SIP-INFO-001", "10.0.0.41");
    CHECK(srv2 && !strcmp(dstr(srv2, "header"), "Server") && strstr(dstr(srv2, "disclosed"), "1.10.7"));
    if (count_rule(w.out, "SIP-INFO-001") != 2) dump(w.out);
    world_free(&w);
}

/* SIP-INFO-003: a P-CSCF (core) that passes the S-CSCF's ck and ik on in
 * the 401 to the UE (the access zone); the S-CSCF's 401 to the P-CSCF
 * (core to core), one toward the partner and one without keys stay quiet. */
static void test_aka_keys(void) {
    world w = world_new(config_zones());
    const char *pcscf = "10.0.0.50:5060", *scscf = "10.0.0.60:5060", *ue = "100.64.0.9:5060",
               *partner = "192.0.2.7:5060";
    const char *keys = "WWW-Authenticate: Digest realm=\"ims.example.net\", nonce=\"bm9uY2U=\", "
                       "algorithm=AKAv1-MD5, ck=\"00112233445566778899aabbccddeeff\", "
                       "ik=\"ffeeddccbbaa99887766554433221100\"\r\n";
    resp(&w, scscf, pcscf, T0, 401, "Unauthorized", "REGISTER", "<sip:u@ims.example.net>;tag=1",
         "<sip:u@ims.example.net>;tag=2", "aka1", 1, keys, NULL);
    resp(&w, pcscf, partner, T0 + SEC(1), 401, "Unauthorized", "REGISTER", "<sip:u@ims.example.net>;tag=1",
         "<sip:u@ims.example.net>;tag=2", "aka2", 1, keys, NULL);
    resp(&w, pcscf, ue, T0 + SEC(2), 401, "Unauthorized", "REGISTER", "<sip:u@ims.example.net>;tag=1",
         "<sip:u@ims.example.net>;tag=2", "aka3", 1,
         "WWW-Authenticate: Digest realm=\"ims.example.net\", nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5, "
         "qop=\"auth\", stack=\"x\"\r\n", NULL);
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    w = world_new(config_zones());
    resp(&w, pcscf, ue, T0, 401, "Unauthorized", "REGISTER", "<sip:u@ims.example.net>;tag=1",
         "<sip:u@ims.example.net>;tag=2", "aka4", 1, keys, NULL);
    resp(&w, pcscf, ue, T0 + SEC(1), 407, "Proxy Authentication Required", "INVITE", "<sip:u@ims.example.net>;tag=1",
         "<sip:u@ims.example.net>;tag=2", "aka5", 1,
         "Proxy-Authenticate: Digest realm=\"x\", nonce=\"n\", IK=0011\r\n", NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-003"), 1);
    const ev_event *k = find_rule(w.out, "SIP-INFO-003");
    CHECK(k && k->count == 2);
    CHECK(k && has_obs(k, "ip", "10.0.0.50", "source"));
    CHECK(k && !strcmp(dstr(k, "disclosed"), "ck ik") && !strcmp(dstr(k, "toward_zone"), "access"));
    world_free(&w);
}

/* TOP TALKERS credits an incident to the address it is keyed by: a core PBX
 * leaking its topology and version in its answers gets its incidents, the
 * untrusted caller it answered none (the caller was credited with them: a
 * summary blamed it for the PBX's leaks). A malformed request and a
 * malformed response count against their own senders too. */
static int talker_incidents(const world *w, const char *ip) {
    det_talker t[8];
    int n = det_top_talkers(w->eng, t, 8);
    fs_addr a;
    if (!fs_addr_parse(ip, &a)) return -2;
    for (int i = 0; i < n; i++)
        if (fs_addr_eq(&t[i].addr, &a)) return (int)t[i].incidents;
    return -1; /* not a talker */
}

static void test_talker_incidents(void) {
    world w = world_new(config_zones());
    const char *pbx = "10.0.0.12:5060", *caller = "203.0.113.21:5060";
    const char *from = "<sip:+442079460000@x.example>;tag=1", *to = "<sip:+447700900123@ims.example.net>";
    req(&w, caller, pbx, T0, "INVITE", "sip:+447700900123@ims.example.net", from, to, "tk1", 1, NULL, NULL);
    resp(&w, pbx, caller, T0 + SEC(1), 200, "OK", "INVITE", from, "<sip:+447700900123@ims.example.net>;tag=2",
         "tk1", 1, "Contact: <sip:10.20.30.40>\r\nServer: LeakyPBX 1.10.7\r\n", SDP_INTERNAL);
    req(&w, pbx, caller, T0 + SEC(3), "BYE", "sip:x@203.0.113.21", "<sip:+447700900123@ims.example.net>;tag=2",
        from, "tk1", 2, NULL, NULL);
    /* a garbled request from 203.0.113.30, a garbled answer from 10.0.0.13 to 203.0.113.31 */
    send_raw(&w, "203.0.113.30:5060", pbx, T0 + SEC(4),
             "OPTIONS sip:a@10.0.0.12 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.30;branch=z9hG4bKq\r\n"
             "Max-Forwards: 70\r\nFrom: \"Broken <sip:b@x>;tag=1\r\nTo: <sip:a@10.0.0.12>\r\n"
             "Call-ID: tk2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    req(&w, "203.0.113.31:5060", "10.0.0.13:5060", T0 + SEC(5), "OPTIONS", "sip:a@10.0.0.13",
        "<sip:c@x>;tag=3", "<sip:a@10.0.0.13>", "tk3", 1, NULL, NULL);
    send_raw(&w, "10.0.0.13:5060", "203.0.113.31:5060", T0 + SEC(5.1),
             "SIP/2.0 500 Oops\r\nVia: SIP/2.0/UDP 203.0.113.31:5060;branch=z9hG4bKr\r\n"
             "From: \"Broken <sip:c@x>;tag=3\r\nTo: <sip:a@10.0.0.13>;tag=4\r\nCall-ID: tk3\r\n"
             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    req(&w, "10.0.0.13:5060", "203.0.113.31:5060", T0 + SEC(6), "OPTIONS", "sip:c@203.0.113.31",
        "<sip:a@10.0.0.13>;tag=5", "<sip:c@203.0.113.31>", "tk4", 1, NULL, NULL);
    CHECK_EQ_INT(talker_incidents(&w, "10.0.0.12"), 2);   /* SIP-TOPO-001, SIP-INFO-001 */
    CHECK_EQ_INT(talker_incidents(&w, "203.0.113.21"), 0);
    CHECK_EQ_INT(talker_incidents(&w, "203.0.113.30"), 1); /* its own SIP-MAL-001 */
    CHECK_EQ_INT(talker_incidents(&w, "10.0.0.13"), 1);    /* its malformed answer */
    CHECK_EQ_INT(talker_incidents(&w, "203.0.113.31"), 0);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-TOPO-001"), 1);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-001"), 1);
    CHECK_EQ_INT(count_rule(w.out, "SIP-MAL-001"), 2);
    if (w.out->n != 4) dump(w.out);
    CHECK_EQ_INT(w.out->n, 4);
    world_free(&w);

    /* a long call to a high-risk range that the callee hangs up: the
     * incident counts for the caller's side, not for the callee */
    w = world_new(config_zones());
    const char *gw = "10.0.0.50:5060", *pbx2 = "198.51.100.30:5060";
    call(&w, pbx2, gw, T0, "+442071234567", "+88216555000", "longb", END_ANSWER_NO_BYE, 0, NULL);
    req(&w, gw, pbx2, T0 + SEC(2000), "BYE", "sip:+442071234567@origin.example",
        "<sip:+88216555000@carrier.example;user=phone>;tag=tlongb",
        "<sip:+442071234567@origin.example;user=phone>;tag=flongb", "longb", 7, NULL, NULL);
    CHECK_EQ_INT(talker_incidents(&w, "198.51.100.30"), 1);
    CHECK_EQ_INT(talker_incidents(&w, "10.0.0.50"), 0);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    world_free(&w);
}

/* ---- IPv6 sources grouped by their network (state.ipv6_source_prefix) ------------------------ */

/* The i-th address an attacker holding 2001:db8:1:2::/64 sends from: a new
 * one for every message (privacy addresses, or any raw tool). */
static const char *rot6(char *buf, size_t n, int i) {
    snprintf(buf, n, "[2001:db8:1:2:%x:%x:%x:%x]:5060", 0x1000 + i * 7, (i * 40503) & 0xffff,
             (i * 2654435761u) >> 16 & 0xffff, i + 1);
    return buf;
}

static fs38_config *config_yaml(const char *base, const char *yaml) {
    fs38_config *cfg = base ? config_zones() : config_default();
    fs_err e = {0};
    fs_code rc = cfg_load_buffer(cfg, yaml, strlen(yaml), base ? base : ".", &e);
    CHECK_MSG(rc == FS_OK, "config: %s", e.msg);
    return cfg;
}

/* SIP-SCAN-002 and SIP-SCAN-001: an svmap-like sweep of 30 targets, one
 * OPTIONS from each of 30 addresses of the attacker's /64. */
static void rotating_scan(world *w, const char *net_fmt) {
    for (int i = 0; i < 30; i++) {
        char src[64], dst[64], ruri[64];
        if (net_fmt) snprintf(src, sizeof src, net_fmt, i + 1);
        else rot6(src, sizeof src, i);
        snprintf(dst, sizeof dst, "[2001:db8:ffff::%x]:5060", i + 1);
        snprintf(ruri, sizeof ruri, "sip:100@[2001:db8:ffff::%x]", i + 1);
        req(w, src, dst, T0 + SEC(i * 0.2), "OPTIONS", ruri, "\"sipvicious\"<sip:100@1.1.1.1>;tag=6331",
            "\"sipvicious\"<sip:100@1.1.1.1>", "svm6", 1,
            "User-Agent: friendly-scanner\r\nContact: <sip:123@1.1.1.1>\r\n", NULL);
    }
}

/* fs_addr_source_net: the network bits kept, the rest cleared; addresses
 * standing for no one host's network alone. */
static void test_source_net(void) {
    static const struct { const char *addr; uint8_t prefix6; const char *net; int len; } cases[] = {
        {"2001:db8:1:2:a:b:c:d", 64, "2001:db8:1:2::", 64}, {"2001:db8:1:2:a:b:c:d", 48, "2001:db8:1::", 48},
        {"2001:db8:1:2ff:a:b:c:d", 56, "2001:db8:1:200::", 56}, {"2001:db8:1:2:ffff::1", 65, "2001:db8:1:2:8000::", 65},
        {"2001:db8:1:2:a:b:c:d", 127, "2001:db8:1:2:a:b:c:c", 127}, {"2001:db8:1:2:a:b:c:d", 128, "2001:db8:1:2:a:b:c:d", 128},
        {"fd00:1:2:3::9", 64, "fd00:1:2:3::", 64}, {"203.0.113.7", 64, "203.0.113.7", 128},
        {"::ffff:203.0.113.7", 64, "::ffff:203.0.113.7", 128}, {"::1", 64, "::1", 128},
        {"64:ff9b::cb00:7107", 64, "64:ff9b::cb00:7107", 128}, {"64:ff9b:1::cb00:7107", 48, "64:ff9b:1::cb00:7107", 128},
        {"fe80::1:2", 64, "fe80::1:2", 128}, {"febf::1", 64, "febf::1", 128}, {"fec0::1", 64, "fec0::", 64}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fs_addr a, net, want;
        CHECK(fs_addr_parse(cases[i].addr, &a) && fs_addr_parse(cases[i].net, &want));
        int len = fs_addr_source_net(&a, cases[i].prefix6, &net);
        char got[FS_ADDR_STRLEN];
        CHECK_MSG(len == cases[i].len && fs_addr_eq(&net, &want), "%s /%u: %s /%d", cases[i].addr,
                  cases[i].prefix6, fs_addr_str(&net, got, sizeof got), len);
    }
}

static void test_ipv6_scan_enum_brute(void) {
    world w = world_new(config_default());
    rotating_scan(&w, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    const ev_event *sc = find_rule(w.out, "SIP-SCAN-002");
    CHECK(sc && sc->count == 30);
    CHECK(has_obs(sc, "cidr", "2001:db8:1:2::/64", "source"));
    /* the address of the message that opened it, as its sample shows */
    char first[64];
    CHECK(sc && has_obs(sc, "ip", NULL, "source") && strstr(sc->sample.src, "[2001:db8:1:2:"));
    for (unsigned i = 0; sc && i < sc->nobs; i++)
        if (!strcmp(sc->obs[i].kind, "ip")) {
            snprintf(first, sizeof first, "[%s]:5060", sc->obs[i].value);
            CHECK_MSG(!strcmp(first, sc->sample.src), "%s vs %s", first, sc->sample.src);
        }
    /* the fingerprint rule: one incident for the /64, not one per address */
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 1);
    const ev_event *fp = find_rule(w.out, "SIP-SCAN-001");
    CHECK(fp && fp->count == 30);
    CHECK(has_obs(fp, "cidr", "2001:db8:1:2::/64", "source"));
    CHECK(has_obs(fp, "sip_user_agent", "friendly-scanner", "tool"));
    world_free(&w);

    /* 128: per address, as before: no address reaches any threshold */
    w = world_new(config_yaml(NULL, "state: {ipv6_source_prefix: 128}\n"));
    rotating_scan(&w, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 0);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 30);
    CHECK(!has_obs(find_rule(w.out, "SIP-SCAN-001"), "cidr", NULL, "source"));
    world_free(&w);

    /* a PBX qualifying the 30 phones registered with it, all on one LAN /64:
     * each phone sent requests to the PBX, so none is a probe (as on IPv4),
     * although PBX and phones are one source; the /64 walking 40 neighbours
     * that never talked to it is still a scan. In 64 worlds (64 hash seeds):
     * "did the target talk to the scanner" looked up the scanner's address
     * alone, one fixed key, among the /64's 60 and more peers: a false hit
     * in about 1 world in 10 hid the whole scan. */
    unsigned lan_found = 0, lan_worlds = 64;
    for (unsigned wi = 0; wi < lan_worlds; wi++) {
        w = world_new(config_default());
        for (int i = 0; i < 30; i++) {
            char phone[64], user[16], from[64], cid[16];
            snprintf(phone, sizeof phone, "[2001:db8:5:6::%x]:5060", 0x100 + i);
            snprintf(user, sizeof user, "%d", 100 + i);
            snprintf(from, sizeof from, "<sip:%s@pbx.example>;tag=p", user);
            snprintf(cid, sizeof cid, "lr%d", i);
            req(&w, phone, "[2001:db8:5:6::10]:5060", T0 + SEC(i), "REGISTER", "sip:pbx.example", from,
                "<sip:pbx.example>", cid, 1, NULL, NULL);
        }
        for (int i = 0; i < 30; i++) {
            char phone[64], ruri[80], cid[16];
            snprintf(phone, sizeof phone, "[2001:db8:5:6::%x]:5060", 0x100 + i);
            snprintf(ruri, sizeof ruri, "sip:%d@[2001:db8:5:6::%x]", 100 + i, 0x100 + i);
            snprintf(cid, sizeof cid, "lq%d", i);
            req(&w, "[2001:db8:5:6::10]:5060", phone, T0 + SEC(40 + i), "OPTIONS", ruri,
                "<sip:pbx@pbx.example>;tag=q", "<sip:pbx.example>", cid, 1, NULL, NULL);
        }
        for (int i = 0; i < 40; i++) {
            char target[64], ruri[80], cid[16];
            snprintf(target, sizeof target, "[2001:db8:5:6::%x]:5060", 0x900 + i);
            snprintf(ruri, sizeof ruri, "sip:100@[2001:db8:5:6::%x]", 0x900 + i);
            snprintf(cid, sizeof cid, "ln%d", i);
            req(&w, "[2001:db8:5:6::66]:5060", target, T0 + SEC(200 + i), "OPTIONS", ruri, "<sip:x@x>;tag=n",
                "<sip:100@x>", cid, 1, NULL, NULL);
        }
        world_finish(&w);
        sc = find_rule(w.out, "SIP-SCAN-002");
        bool one = count_rule(w.out, "SIP-SCAN-002") == 1 && sc && strstr(sc->sample.src, "[2001:db8:5:6::66]") &&
                   sc->first_us >= T0 + SEC(200);
        lan_found += one;
        world_free(&w);
    }
    CHECK_MSG(lan_found == lan_worlds, "LAN scan found in %u of %u worlds", lan_found, lan_worlds);

    /* /48 groups the /64s of a site; the event names the /48 */
    w = world_new(config_yaml(NULL, "state: {ipv6_source_prefix: 48}\n"));
    rotating_scan(&w, "[2001:db8:1:%x::1]:5060");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    CHECK(has_obs(find_rule(w.out, "SIP-SCAN-002"), "cidr", "2001:db8:1::/48", "source"));
    world_free(&w);

    /* addresses whose /64 is no one host's network stay apart: IPv4-mapped
     * (v4 hosts), NAT64/SIIT 64:ff9b::/96 (v4 hosts translated), link-local
     * (every link's hosts share fe80::/64) */
    static const char *const apart[] = {"[::ffff:203.0.113.%d]:5060", "[64:ff9b::cb00:71%02x]:5060",
                                        "[fe80::1:%x]:5060"};
    for (int k = 0; k < 3; k++) {
        w = world_new(config_default());
        rotating_scan(&w, apart[k]);
        world_finish(&w);
        CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 0);
        CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 30);
        world_free(&w);
    }

    /* svwar: REGISTER for users 100..139, each from another address of the
     * /64; the registrar answers 404 (and 401 for the 4 that exist) */
    w = world_new(config_default());
    const char *reg = "[2001:db8:ffff::a]:5060";
    for (int i = 0; i < 40; i++) {
        char src[64], from[96], to[96], cid[24];
        rot6(src, sizeof src, i);
        snprintf(from, sizeof from, "\"%d\"<sip:%d@ims.example.net>;tag=w%d", 100 + i, 100 + i, i);
        snprintf(to, sizeof to, "\"%d\"<sip:%d@ims.example.net>", 100 + i, 100 + i);
        snprintf(cid, sizeof cid, "war%d", i);
        req(&w, src, reg, T0 + SEC(i * 0.1), "REGISTER", "sip:ims.example.net", from, to, cid, 1, NULL, NULL);
        bool exists = i % 10 == 0;
        resp(&w, reg, src, T0 + SEC(i * 0.1) + 500, exists ? 401 : 404, exists ? "Unauthorized" : "Not Found",
             "REGISTER", from, to, cid, 1, exists ? "WWW-Authenticate: Digest realm=\"x\", nonce=\"n\"\r\n" : NULL,
             NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-ENUM-001"), 1);
    const ev_event *en = find_rule(w.out, "SIP-ENUM-001");
    CHECK(en && en->count == 40);
    CHECK(has_obs(en, "cidr", "2001:db8:1:2::/64", "source"));
    /* its sample became the attacker's own request: the ip follows it */
    CHECK(en && en->sample.method[0] && en->sample.status == 0);
    for (unsigned i = 0; en && i < en->nobs; i++)
        if (!strcmp(en->obs[i].kind, "ip")) {
            snprintf(first, sizeof first, "[%s]:5060", en->obs[i].value);
            CHECK_MSG(!strcmp(first, en->sample.src), "%s vs %s", first, en->sample.src);
        }
    world_free(&w);

    /* svcrack: 12 wrong passwords for account 250, each from a new address */
    w = world_new(config_default());
    for (int i = 0; i < 12; i++) {
        char src[64], cid[24], auth[160];
        rot6(src, sizeof src, i);
        snprintf(cid, sizeof cid, "crk%d", i);
        snprintf(auth, sizeof auth, "Authorization: Digest username=\"250\", realm=\"x\", nonce=\"n%d\", "
                 "uri=\"sip:ims.example.net\", response=\"%032x\"\r\n", i, i);
        req(&w, src, reg, T0 + SEC(i * 0.5), "REGISTER", "sip:ims.example.net", "<sip:250@ims.example.net>;tag=c",
            "<sip:250@ims.example.net>", cid, 2, auth, NULL);
        resp(&w, reg, src, T0 + SEC(i * 0.5) + 500, 401, "Unauthorized", "REGISTER",
             "<sip:250@ims.example.net>;tag=c", "<sip:250@ims.example.net>;tag=s", cid, 2,
             "WWW-Authenticate: Digest realm=\"x\", nonce=\"m\"\r\n", NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-BRUTE-001"), 1);
    const ev_event *br = find_rule(w.out, "SIP-BRUTE-001");
    CHECK(br && br->count == 10 + 2 && dint(br, "failures") == 12);
    CHECK(has_obs(br, "cidr", "2001:db8:1:2::/64", "source"));
    world_free(&w);
}

/* SIP-FLOOD-001: INVITEs, each from a new address of the /64. */
static void rotating_flood(world *w, int n, int from_allowed) {
    for (int i = 0; i < n; i++) {
        char src[64], cid[24], ruri[64];
        if (i < from_allowed) snprintf(src, sizeof src, "[2001:db8:1:2::99]:5060");
        else rot6(src, sizeof src, i);
        snprintf(cid, sizeof cid, "fl%d", i);
        snprintf(ruri, sizeof ruri, "sip:+4477009%05d@ims.example.net", i);
        req(w, src, "[2001:db8:ffff::a]:5060", T0 + SEC(i * 0.01), "INVITE", ruri, "<sip:a@x.example>;tag=1",
            "<sip:b@ims.example.net>", cid, 1, NULL, NULL);
    }
}

static void test_ipv6_flood_zones(void) {
    world w = world_new(config_default());
    rotating_flood(&w, 150, 0);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 1);
    const ev_event *fl = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(fl && fl->count == 150);
    CHECK(has_obs(fl, "cidr", "2001:db8:1:2::/64", "source"));
    CHECK(!strcmp(dstr(fl, "trigger"), "INVITE"));
    /* the summary lists the /64 as one talker */
    det_talker t[4];
    int n = det_top_talkers(w.eng, t, 4);
    fs_addr net;
    CHECK(fs_addr_parse("2001:db8:1:2::", &net));
    CHECK(n >= 1 && fs_addr_eq(&t[0].addr, &net) && t[0].prefix == 64 && t[0].requests == 150);
    /* SIP-FLOOD-001, and FRAUD-VOL-001 for the one caller of all these calls */
    CHECK_MSG(n >= 1 && t[0].incidents == 2, "%u", n >= 1 ? t[0].incidents : 0);
    world_free(&w);

    /* allow_sources judge the address: an allow-listed host of the /64 is
     * not counted, nor does it cover its neighbours */
    w = world_new(config_yaml(NULL, "allow_sources: [\"2001:db8:1:2::99/128\"]\n"));
    rotating_flood(&w, 150, 60);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 0);
    world_free(&w);
    w = world_new(config_yaml(NULL, "allow_sources: [\"2001:db8:1:2::99/128\"]\n"));
    rotating_flood(&w, 160, 40);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 1);
    CHECK(find_rule(w.out, "SIP-FLOOD-001") && find_rule(w.out, "SIP-FLOOD-001")->count == 120);
    world_free(&w);

    /* zones judge the address: a core host inside the /64 is not a flooder;
     * a zone's flood_multiplier applies to its own addresses */
    const char *zones = "zones:\n  own:\n    trust: core\n    networks: [\"2001:db8:1:2::99/128\"]\n"
                        "  big:\n    trust: untrusted\n    networks: [\"2001:db8:1:2::/64\"]\n"
                        "    flood_multiplier: 3\n";
    w = world_new(config_yaml(NULL, zones));
    rotating_flood(&w, 250, 0);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 0); /* 250 < 3 x 100 */
    world_free(&w);
}

static void test_ipv6_fraud(void) {
    /* FRAUD-WANGIRI-001 per source: rotating caller ids and addresses */
    world w = world_new(config_zones());
    for (int i = 0; i < 12; i++) {
        char src[64], callee[24], caller[24], cid[16];
        rot6(src, sizeof src, i);
        snprintf(callee, sizeof callee, "+4477009%05d", 300 + i);
        snprintf(caller, sizeof caller, "+25212345%02d", i);
        snprintf(cid, sizeof cid, "w6r%d", i);
        call(&w, src, "10.0.0.60:5060", T0 + SEC(i * 4), caller, callee, cid, END_CANCEL, 2, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    const ev_event *wg = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(!strcmp(dstr(wg, "keyed_by"), "source"));
    CHECK(has_obs(wg, "cidr", "2001:db8:1:2::/64", "source"));
    CHECK_EQ_INT(dint(wg, "short_rings"), 12);
    world_free(&w);

    /* FRAUD-IRSF-001 per source: 8 high-risk numbers, rotating callers and addresses */
    w = world_new(config_zones());
    for (int i = 0; i < 8; i++) {
        char src[64], callee[24], caller[24], cid[16];
        rot6(src, sizeof src, i);
        snprintf(callee, sizeof callee, "+882161000%03d", i);
        snprintf(caller, sizeof caller, "+4420712345%02d", i);
        snprintf(cid, sizeof cid, "i6r%d", i);
        call(&w, src, "10.0.0.50:5060", T0 + SEC(i * 30), caller, callee, cid, END_BUSY, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 1);
    const ev_event *ir = find_rule(w.out, "FRAUD-IRSF-001");
    CHECK(!strcmp(dstr(ir, "keyed_by"), "source"));
    CHECK(has_obs(ir, "cidr", "2001:db8:1:2::/64", "source"));
    CHECK(ir && ir->count == 8);
    world_free(&w);
}

/* ---- fraud: IRSF, Wangiri, volume ------------------------------------------------------------ */

/* FRAUD-IRSF-001 with business_hours (Monday to Friday, 08:00-18:00 UTC)
 * and off_hours_threshold 3: four numbers on a Tuesday morning stay under
 * the threshold of 5; the same at 20:40 raise, off_hours yes; six in the
 * morning raise, off_hours no. Without business_hours the detail is absent. */
static void irsf_burst(world *w, const char *caller, uint64_t at, int calls) {
    for (int i = 0; i < calls; i++) {
        char callee[24], cid[48];
        snprintf(callee, sizeof callee, "+882161000%03d", i);
        snprintf(cid, sizeof cid, "oh-%s-%d", caller, i);
        call(w, "198.51.100.31:5060", "10.0.0.50:5060", at + SEC(i * 20), caller, callee, cid, END_BUSY, 0, NULL);
    }
}

static void test_irsf_off_hours(void) {
    /* where det_calls.c reads off_hours_threshold */
    CHECK_EQ_INT(det_rule_param_index(R_IRSF_VELOCITY, "off_hours_threshold"), 0);
    CHECK_EQ_INT(det_rule_param_index(R_WANGIRI, "off_hours_threshold"), 4);
    CHECK_EQ_INT(det_rule_param_index(R_CALL_VOLUME, "off_hours_threshold"), 1);
    fs38_config *cfg = config_zones();
    cfg->business_hours.set = true; /* the defaults: mon-fri 08:00-18:00 UTC */
    cfg->rules[R_IRSF_VELOCITY].param[0] = 3;
    cfg->rules[R_CALL_VOLUME].param[1] = 5; /* FRAUD-VOL-001: 5 calls a window at night, 60 by day */
    world w = world_new(cfg);
    for (int i = 0; i < 6; i++) { /* 6 ordinary calls at night from one caller */
        char cid[16];
        snprintf(cid, sizeof cid, "vol%d", i);
        call(&w, "198.51.100.32:5060", "10.0.0.50:5060", T0 + SEC(11 * 3600 + i), "+442071230009",
             "+441632960001", cid, END_BUSY, 0, NULL);
    }
    irsf_burst(&w, "+442071230001", T0, 4);               /* Tuesday 10:40 */
    irsf_burst(&w, "+442071230002", T0 + SEC(10 * 3600), 4); /* Tuesday 20:40 */
    irsf_burst(&w, "+442071230003", T0 + SEC(600), 6);     /* Tuesday 10:50 */
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 2);
    const ev_event *night = NULL, *day = NULL;
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        if (ev->rule != R_IRSF_VELOCITY) continue;
        if (has_obs(ev, "e164", "+442071230003", "caller")) day = ev;
        else night = ev;
    }
    CHECK(night && has_obs(night, "e164", "+442071230002", "caller") && !strcmp(dstr(night, "off_hours"), "yes"));
    CHECK(day && !strcmp(dstr(day, "off_hours"), "no") && dint(day, "distinct_numbers") >= 5);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-VOL-001"), 1); /* the night caller's, not the day's 6 */
    const ev_event *vol = find_rule(w.out, "FRAUD-VOL-001");
    CHECK(vol && has_obs(vol, "e164", "+442071230009", "caller") && !strcmp(dstr(vol, "off_hours"), "yes") &&
          !strcmp(dstr(vol, "trigger"), "calls_per_window"));
    world_free(&w);
    world plain = world_new(config_zones()); /* no business_hours: no off_hours detail */
    irsf_burst(&plain, "+442071230002", T0 + SEC(10 * 3600), 6);
    world_finish(&plain);
    const ev_event *ir = find_rule(plain.out, "FRAUD-IRSF-001");
    CHECK(ir && !ev_get_detail(ir, "off_hours"));
    world_free(&plain);
}

/* The caller hangs up an early dialog with BYE (RFC 3261 15) as the callee
 * answers: the 200 to the INVITE crosses the BYE, which then ends the
 * confirmed dialog (the callee answers it 200, SIPp and kamailio on
 * loopback: BYE, 200 INVITE, 200 BYE, ACK, and no other BYE). The call was
 * answered and is over: it stayed up until the 4 h limit, a long call to
 * its satellite number (FRAUD-IRSF-002) and a concurrent call of its
 * caller all that time. */
static void test_early_bye_crossing_answer(void) {
    world w = world_new(config_zones());
    const char *pbx = "198.51.100.30:5060", *gw = "10.0.0.50:5060", *ruri = "sip:+88216555777@carrier.example",
               *from = "<sip:+442071234567@origin.example>;tag=fx", *to = "<sip:+88216555777@carrier.example>",
               *to_tag = "<sip:+88216555777@carrier.example>;tag=tx";
    req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "xbye", 1, NULL, NULL);
    resp(&w, gw, pbx, T0 + SEC(0.5), 180, "Ringing", "INVITE", from, to_tag, "xbye", 1, NULL, NULL);
    req(&w, pbx, gw, T0 + SEC(1), "BYE", ruri, from, to_tag, "xbye", 2, NULL, NULL);
    resp(&w, gw, pbx, T0 + SEC(1.002), 200, "OK", "INVITE", from, to_tag, "xbye", 1, NULL, NULL);
    resp(&w, gw, pbx, T0 + SEC(1.003), 200, "OK", "BYE", from, to_tag, "xbye", 2, NULL, NULL);
    req(&w, pbx, gw, T0 + SEC(1.004), "ACK", ruri, from, to_tag, "xbye", 1, NULL, NULL);
    for (int t = 100; t <= 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 1);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 0);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 0);
    world_free(&w);
    /* another fork's answer (another tag) is a dialog the BYE did not end */
    w = world_new(config_zones());
    req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "xbye", 1, NULL, NULL);
    resp(&w, gw, pbx, T0 + SEC(0.5), 180, "Ringing", "INVITE", from, to_tag, "xbye", 1, NULL, NULL);
    req(&w, pbx, gw, T0 + SEC(1), "BYE", ruri, from, to_tag, "xbye", 2, NULL, NULL);
    resp(&w, gw, pbx, T0 + SEC(1.002), 200, "OK", "INVITE", from, "<sip:+88216555777@carrier.example>;tag=fork2",
         "xbye", 1, NULL, NULL);
    for (int t = 100; t <= 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 1);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    world_free(&w);
}

static void test_irsf(void) {
    world w = world_new(config_zones());
    const char *pbx = "198.51.100.30:5060", *gw = "10.0.0.50:5060";
    /* a hacked PBX account dialling 8 numbers of a satellite range in 4 minutes */
    for (int i = 0; i < 8; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+882161000%03d", i);
        snprintf(cid, sizeof cid, "ir%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 30), "+442071234567", callee, cid, END_BUSY, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 1);
    const ev_event *ir = find_rule(w.out, "FRAUD-IRSF-001");
    CHECK(ir && ir->count == 8);
    CHECK(has_obs(ir, "e164_range", "+88216", "destination"));
    CHECK(has_obs(ir, "e164", "+442071234567", "caller"));
    CHECK(has_obs(ir, "ip", "198.51.100.30", "source"));
    CHECK(dint(ir, "distinct_numbers") >= 5);
    CHECK(!strcmp(dstr(ir, "range_label"), "Satellite (Thuraya)"));
    CHECK(ir && ir->domain == DOM_FRAUD && ir->action == ACT_BLOCK_DESTINATION &&
          !strcmp(ir->scope, "outbound_voice"));
    world_free(&w);

    /* the same caller pauses 560 s (less than the 600 s window), then dials
     * 6 more, 30 s apart: one incident, not a second one opened when the
     * new window crosses 640 s after the last hit; after 700 s, two */
    for (int pause = 560; pause <= 700; pause += 140) {
        w = world_new(config_zones());
        for (int i = 0; i < 12; i++) {
            char callee[24], cid[16];
            snprintf(callee, sizeof callee, "+882162000%03d", i);
            snprintf(cid, sizeof cid, "ip%d", i);
            double t = i < 6 ? i * 10 : 50 + pause + (i - 6) * 30;
            call(&w, pbx, gw, T0 + SEC(t), "+442071234567", callee, cid, END_BUSY, 0, NULL);
        }
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "FRAUD-IRSF-001") == (pause < 600 ? 1 : 2),
                  "FRAUD-IRSF-001 after a pause of %d s: %d incidents", pause, count_rule(w.out, "FRAUD-IRSF-001"));
        ir = find_rule(w.out, "FRAUD-IRSF-001");
        if (pause < 600) CHECK(ir && ir->count == 12 && ir->first_us == T0);
        world_free(&w);
    }

    /* the core relays them with the caller asserted as a name and a number
     * (RFC 3325 9.1, the name first), in one field or two: the caller is
     * the number, not "alice" */
    static const char *const asserted[] = {
        "P-Asserted-Identity: <sip:alice@ims.example.net>, <tel:+441632960777>\r\n",
        "P-Asserted-Identity: <sip:alice@ims.example.net>\r\nP-Asserted-Identity: <tel:+441632960777>\r\n"};
    for (int v = 0; v < 2; v++) {
        w = world_new(config_zones());
        for (int i = 0; i < 8; i++) {
            char callee[24], cid[16];
            snprintf(callee, sizeof callee, "+882161000%03d", i);
            snprintf(cid, sizeof cid, "ip%d", i);
            call(&w, "10.0.0.60:5060", gw, T0 + SEC(i * 30), "alice", callee, cid, END_BUSY, 0, asserted[v]);
        }
        world_finish(&w);
        ir = find_rule(w.out, "FRAUD-IRSF-001");
        CHECK_MSG(ir && ir->count == 8 && has_obs(ir, "e164", "+441632960777", "caller"), "PAI form %d", v);
        world_free(&w);
    }

    /* the same, one Call-ID reused with a new CSeq for each number: 8 calls */
    w = world_new(config_zones());
    for (int i = 0; i < 8; i++) {
        char callee[24];
        snprintf(callee, sizeof callee, "+882161000%03d", i);
        call_cseq(&w, pbx, gw, T0 + SEC(i * 30), "+442071234567", callee, "one-id", 10 + (uint32_t)i * 2, END_BUSY,
                  0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 8);
    ir = find_rule(w.out, "FRAUD-IRSF-001");
    CHECK(ir && ir->count == 8);
    world_free(&w);

    /* a call refused with 422 (RFC 4028: Session-Expires too small) and sent
     * again with a higher CSeq is the same call: started once, and its answer
     * and length count (a long call to the range) */
    w = world_new(config_zones());
    {
        const char *ruri = "sip:+88216555077@carrier.example;user=phone",
                   *from = "<sip:+442071234567@origin.example;user=phone>;tag=f422",
                   *to = "<sip:+88216555077@carrier.example;user=phone>",
                   *to_tag = "<sip:+88216555077@carrier.example;user=phone>;tag=t422";
        req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "se422", 1, "Session-Expires: 60", NULL);
        resp(&w, gw, pbx, T0 + SEC(0.1), 422, "Session Interval Too Small", "INVITE", from, to_tag, "se422", 1,
             "Min-SE: 90", NULL);
        req(&w, pbx, gw, T0 + SEC(0.2), "INVITE", ruri, from, to, "se422", 2, "Session-Expires: 90", NULL);
        resp(&w, gw, pbx, T0 + SEC(0.5), 180, "Ringing", "INVITE", from, to_tag, "se422", 2, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(2), 200, "OK", "INVITE", from, to_tag, "se422", 2, NULL, NULL);
        req(&w, pbx, gw, T0 + SEC(1902), "BYE", ruri, from, to_tag, "se422", 3, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 1);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 1);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_failed, 0); /* the 422 asked for the INVITE again */
    world_free(&w);

    /* calls redirected (302, as from a sipp UAS through kamailio) and sent
     * again with a higher CSeq to the Contact (RFC 3261 8.1.3.4): one call
     * each, not failed, to the number redirected to. Redirected into a
     * high-risk range, their answer and length count against it
     * (FRAUD-IRSF-002) and so do the numbers (FRAUD-IRSF-001). */
    w = world_new(config_zones());
    for (int i = 0; i < 5; i++) {
        char cid[16], target[64], contact[96], from[80];
        snprintf(cid, sizeof cid, "rd%d", i);
        snprintf(target, sizeof target, "sip:+88216131%03d@127.0.0.32:5060", i);
        snprintf(contact, sizeof contact, "Contact: <%s>", target);
        snprintf(from, sizeof from, "<sip:+442071234567@origin.example;user=phone>;tag=frd%d", i);
        const char *ruri = "sip:+442079460123@carrier.example", *to = "<sip:+442079460123@carrier.example>",
                   *to_tag = "<sip:+442079460123@carrier.example>;tag=trd";
        uint64_t t = T0 + SEC(i * 60);
        req(&w, pbx, gw, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, gw, pbx, t + SEC(0.1), 302, "Moved Temporarily", "INVITE", from, to_tag, cid, 1, contact, NULL);
        req(&w, pbx, gw, t + SEC(0.2), "INVITE", target, from, to, cid, 2, NULL, NULL);
        resp(&w, gw, pbx, t + SEC(0.5), 180, "Ringing", "INVITE", from, to_tag, cid, 2, NULL, NULL);
        resp(&w, gw, pbx, t + SEC(1), 200, "OK", "INVITE", from, to_tag, cid, 2, NULL, NULL);
        req(&w, pbx, gw, t + SEC(i ? 30 : 1901), "BYE", target, from, to_tag, cid, 3, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 5);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 5);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_failed, 0);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    const ev_event *lc = find_rule(w.out, "FRAUD-IRSF-002");
    CHECK(lc && has_obs(lc, "e164", "+88216131000", "callee"));
    ir = find_rule(w.out, "FRAUD-IRSF-001");
    CHECK(ir && ir->count == 5 && has_obs(ir, "e164_range", "+88216", "destination"));
    world_free(&w);

    /* a BYE outside the answered dialog (a forged one, answered 481) leaves
     * the call up: its length still counts (FRAUD-IRSF-002 by the timer);
     * the callee's own BYE (its tag in From) ends a call as the caller's does */
    w = world_new(config_zones());
    {
        const char *ruri = "sip:+88216555123@carrier.example", *from = "<sip:+442071234567@origin.example>;tag=fb",
                   *to = "<sip:+88216555123@carrier.example>", *to_tag = "<sip:+88216555123@carrier.example>;tag=ta",
                   *bogus = "<sip:+88216555123@carrier.example>;tag=not-the-callee";
        req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "byetag", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(1), 200, "OK", "INVITE", from, to_tag, "byetag", 1, NULL, NULL);
        req(&w, pbx, gw, T0 + SEC(60), "BYE", ruri, from, bogus, "byetag", 2, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(60.1), 481, "Call/Transaction Does Not Exist", "BYE", from, bogus, "byetag", 2,
             NULL, NULL);
        for (int t = 100; t < 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
        req(&w, gw, pbx, T0 + SEC(2000), "BYE", "sip:x@198.51.100.30", to_tag, from, "byetag", 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    world_free(&w);
    /* the same after the callee refreshed the session with a re-INVITE whose
     * CSeq (the callee's own numbering) is the caller's INVITE's: the
     * caller's 200 to it is no second dialog, and the forged BYE still
     * leaves the call up */
    w = world_new(config_zones());
    {
        const char *ruri = "sip:+88216555126@carrier.example", *from = "<sip:+442071234567@origin.example>;tag=fr",
                   *to = "<sip:+88216555126@carrier.example>", *to_tag = "<sip:+88216555126@carrier.example>;tag=tr",
                   *bogus = "<sip:+88216555126@carrier.example>;tag=not-the-callee";
        req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "reinv", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(1), 200, "OK", "INVITE", from, to_tag, "reinv", 1, NULL, NULL);
        req(&w, gw, pbx, T0 + SEC(30), "INVITE", "sip:x@198.51.100.30", to_tag, from, "reinv", 1, NULL, NULL);
        resp(&w, pbx, gw, T0 + SEC(30.1), 200, "OK", "INVITE", to_tag, from, "reinv", 1, NULL, NULL);
        req(&w, pbx, gw, T0 + SEC(60), "BYE", ruri, from, bogus, "reinv", 2, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(60.1), 481, "Call/Transaction Does Not Exist", "BYE", from, bogus, "reinv", 2,
             NULL, NULL);
        for (int t = 100; t < 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
        req(&w, gw, pbx, T0 + SEC(2000), "BYE", "sip:x@198.51.100.30", to_tag, from, "reinv", 2, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    world_free(&w);
    /* a long call reported by the timer rebuilds its sample from the call's
     * caller, %-escapes decoded: control characters and invalid UTF-8 are
     * shown as in every other sample (docs/events.md), not passed through */
    w = world_new(config_zones());
    {
        const char *ruri = "sip:+88216555125@carrier.example",
                   *from = "<sip:%01evil%1b[31m%ff@origin.example>;tag=fe",
                   *to = "<sip:+88216555125@carrier.example>", *to_tag = "<sip:+88216555125@carrier.example>;tag=te";
        req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "esc", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(1), 200, "OK", "INVITE", from, to_tag, "esc", 1, NULL, NULL);
        for (int t = 100; t < 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
    }
    world_finish(&w);
    lc = find_rule(w.out, "FRAUD-IRSF-002");
    CHECK(lc != NULL);
    if (lc) {
        CHECK_MSG(!strcmp(lc->sample.from, " evil [31m?"), "timer sample from '%s'", lc->sample.from);
        char js[16384];
        CHECK(ev_to_json(lc, js, sizeof js) > 0 && strstr(js, "\"from\":\" evil [31m?\"") != NULL);
    }
    world_free(&w);
    w = world_new(config_zones());
    {
        const char *ruri = "sip:+88216555124@carrier.example", *from = "<sip:+442071234567@origin.example>;tag=fc",
                   *to = "<sip:+88216555124@carrier.example>", *to_tag = "<sip:+88216555124@carrier.example>;tag=tc";
        req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "byecallee", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(1), 200, "OK", "INVITE", from, to_tag, "byecallee", 1, NULL, NULL);
        req(&w, gw, pbx, T0 + SEC(60), "BYE", "sip:x@198.51.100.30", to_tag, from, "byecallee", 1, NULL, NULL);
        for (int t = 100; t < 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 0);
    world_free(&w);
    /* two forks answered (RFC 3261 13.2.2.4): the caller BYEs the one it
     * does not want at once and talks on the other. The call goes on until
     * that one's BYE (by either side), or is reported long without it: a
     * terminating side answering twice cannot end a pumped call early */
    for (int variant = 0; variant < 4; variant++) {
        w = world_new(config_zones());
        const char *ruri = "sip:+88216555125@carrier.example", *from = "<sip:+442071234567@origin.example>;tag=fd",
                   *to = "<sip:+88216555125@carrier.example>", *tag_a = "<sip:+88216555125@carrier.example>;tag=da",
                   *tag_b = "<sip:+88216555125@carrier.example>;tag=db",
                   *tag_c = "<sip:+88216555125@carrier.example>;tag=dc";
        req(&w, pbx, gw, T0, "INVITE", ruri, from, to, "twofork", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(1), 200, "OK", "INVITE", from, tag_a, "twofork", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(1.01), 200, "OK", "INVITE", from, tag_b, "twofork", 1, NULL, NULL);
        if (variant == 3) resp(&w, gw, pbx, T0 + SEC(1.02), 200, "OK", "INVITE", from, tag_c, "twofork", 1, NULL, NULL);
        req(&w, pbx, gw, T0 + SEC(2), "BYE", ruri, from, variant == 2 ? tag_a : tag_b, "twofork", 2, NULL, NULL);
        if (variant == 1) /* the kept one ends after 10 minutes, by the callee */
            req(&w, gw, pbx, T0 + SEC(600), "BYE", "sip:x@198.51.100.30", tag_a, from, "twofork", 1, NULL, NULL);
        if (variant == 3) /* a third fork's BYE ends nothing tracked */
            req(&w, pbx, gw, T0 + SEC(3), "BYE", ruri, from, tag_c, "twofork", 3, NULL, NULL);
        for (int t = 100; t < 2000; t += 100) det_tick(w.eng, T0 + SEC(t));
        world_finish(&w);
        CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 1);
        CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), variant == 1 ? 0 : 1);
        world_free(&w);
    }

    /* a redirect that is not followed stays a failed call */
    w = world_new(config_zones());
    {
        const char *from = "<sip:+442071234567@origin.example>;tag=f3", *to = "<sip:+442079460123@carrier.example>";
        req(&w, pbx, gw, T0, "INVITE", "sip:+442079460123@carrier.example", from, to, "rd-only", 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(0.1), 302, "Moved Temporarily", "INVITE", from,
             "<sip:+442079460123@carrier.example>;tag=t3", "rd-only", 1, "Contact: <sip:+88216131999@127.0.0.32>",
             NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 1);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_failed, 1);
    world_free(&w);

    /* FRAUD-IRSF-002: a 40-minute answered call, and one still running at a
     * tick (reported during the call, not twice at BYE) */
    w = world_new(config_zones());
    call(&w, pbx, gw, T0, "+442071234567", "+88216555000", "long1", END_ANSWER_NO_BYE, 0, NULL);
    call(&w, "198.51.100.31:5060", gw, T0 + SEC(10), "+442071234568", "+8817123456", "long2",
         END_ANSWER_NO_BYE, 0, NULL);
    for (int s = 0; s < 2200; s += 50) det_tick(w.eng, T0 + SEC(10 + s));
    CHECK_EQ_INT(w.out->n, 0); /* file mode: reported when the incident closes */
    req(&w, "198.51.100.31:5060", gw, T0 + SEC(2300), "BYE", "sip:+8817123456@carrier.example",
        "<sip:+442071234568@origin.example;user=phone>;tag=flong2",
        "<sip:+8817123456@carrier.example;user=phone>;tag=tlong2", "long2", 2, NULL, NULL);
    req(&w, pbx, gw, T0 + SEC(2402), "BYE", "sip:+88216555000@carrier.example",
        "<sip:+442071234567@origin.example;user=phone>;tag=flong1",
        "<sip:+88216555000@carrier.example;user=phone>;tag=tlong1", "long1", 2, NULL, NULL);
    /* and one answered call that ends by BYE after 31 minutes before any tick */
    call(&w, pbx, gw, T0 + SEC(3000), "+442071234569", "+25261000000", "long3", END_ANSWER, 1860, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 3);
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        if (ev->rule != R_IRSF_LONG_CALL) continue;
        CHECK_EQ_INT(ev->count, 1);
        CHECK(dreal(ev, "duration_s") >= 1800);
        CHECK(has_obs(ev, "e164_range", NULL, "destination"));
        if (has_obs(ev, "e164_range", "+252", "destination")) {
            /* the tick run before the BYE already sees it: reported once */
            CHECK(dreal(ev, "duration_s") >= 1860 && dreal(ev, "duration_s") < 1861);
            CHECK(has_obs(ev, "e164", "+25261000000", "callee"));
        } else {
            CHECK(dreal(ev, "duration_s") < 1900); /* raised by the timer while the call ran */
            CHECK(!strcmp(ev->sample.method, "INVITE"));
        }
    }
    world_free(&w);

    /* the answer comes after a CANCEL (the race RFC 3261 9.1 allows), after
     * another fork's 486, or on a proxy's retry after a first carrier's 503:
     * the call is up all the same, and a long one is reported */
    w = world_new(config_zones());
    call(&w, pbx, gw, T0, "+442071234567", "+88216555001", "race", END_CANCEL_RACE, 1900, NULL);
    call(&w, pbx, gw, T0 + SEC(10), "+442071234568", "+88216555002", "fork", END_FORK_BUSY, 1900, NULL);
    call(&w, pbx, gw, T0 + SEC(20), "+442071234569", "+88216555003", "failover", END_FAILOVER, 1900, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 3);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 3);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 0);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_failed, 0);
    world_free(&w);

    /* a trusted interconnect relaying 8 different callers, each dialling one
     * satellite number: no caller is suspicious, and the carrier is not
     * judged per source (it carries everyone's calls) */
    w = world_new(config_zones());
    for (int i = 0; i < 8; i++) {
        char callee[24], caller[24], cid[16];
        snprintf(callee, sizeof callee, "+882161001%03d", i);
        snprintf(caller, sizeof caller, "+3312345%04d", i);
        snprintf(cid, sizeof cid, "tc%d", i);
        call(&w, "192.0.2.40:5060", gw, T0 + SEC(i * 20), caller, callee, cid, END_BUSY, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 0);
    world_free(&w);

    /* benign: a short call to the range, a long call to a normal number, the
     * same satellite number dialled three times */
    w = world_new(config_zones());
    call(&w, pbx, gw, T0, "+442071234567", "+88216555000", "b1", END_ANSWER, 600, NULL);
    call(&w, pbx, gw, T0 + SEC(700), "+442071234567", "+442079460000", "b2", END_ANSWER, 3600, NULL);
    for (int i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "b3-%d", i);
        call(&w, pbx, gw, T0 + SEC(5000 + i * 60), "+442071234567", "+88216555000", cid, END_BUSY, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
}

/* FRAUD-WANGIRI-001 with business_hours (mon-fri 08:00-18:00 UTC) and
 * off_hours_threshold 6: seven one-ring calls on a Tuesday at 10:40 stay
 * under the threshold of 10; the same at 21:40 raise, off_hours yes. */
static void test_wangiri_off_hours(void) {
    fs38_config *cfg = config_zones();
    cfg->business_hours.set = true;
    cfg->rules[R_WANGIRI].param[1] = 5; /* min_distinct_callees */
    cfg->rules[R_WANGIRI].param[4] = 6; /* off_hours_threshold */
    world w = world_new(cfg);
    for (int night = 0; night < 2; night++)
        for (int i = 0; i < 7; i++) {
            char callee[24], cid[32];
            snprintf(callee, sizeof callee, "+4477009%05d", 300 + i * 7);
            snprintf(cid, sizeof cid, "wgo%d-%d", night, i);
            call(&w, "203.0.113.21:5060", "10.0.0.60:5060", T0 + SEC(night * 11 * 3600 + i * 4),
                 night ? "+2521234001" : "+2521234002", callee, cid, END_CANCEL, 3, NULL);
        }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    const ev_event *wg = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(wg && has_obs(wg, "e164", "+2521234001", "caller") && !strcmp(dstr(wg, "off_hours"), "yes") &&
          dint(wg, "short_rings") == 7);
    world_free(&w);
}

/* A trusted partner whose may_assert leaves P-Asserted-Identity out: its
 * PAI does not name the caller (SIP-TRUST-001 flags it). Rotating PAI
 * values behind one From hid 15 one-ring calls from FRAUD-WANGIRI-001. */
static void test_wangiri_pai_not_assertable(void) {
    for (int allowed = 0; allowed < 2; allowed++) {
        fs38_config *cfg = config_zones();
        for (int i = 0; i < cfg->nzones; i++)
            if (!strcmp(cfg->zones[i].name, "ipx-partner") && !allowed)
                cfg->zones[i].may_assert = 1ULL << SIP_H_P_CHARGING_VECTOR;
        world w = world_new(cfg);
        for (int i = 0; i < 15; i++) {
            char callee[24], cid[16], pai[96];
            snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
            snprintf(cid, sizeof cid, "wp%d", i);
            snprintf(pai, sizeof pai, "P-Asserted-Identity: <sip:+25299000%02d@origin.example;user=phone>\r\n", i);
            call(&w, "192.0.2.30:5060", "10.0.0.60:5060", T0 + SEC(i * 4), "+2521234567", callee, cid, END_CANCEL, 3,
                 pai);
        }
        world_finish(&w);
        /* allowed: 15 callers of one call each (the partner vouches for them) */
        CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), allowed ? 0 : 1);
        if (!allowed) CHECK(has_obs(find_rule(w.out, "FRAUD-WANGIRI-001"), "e164", "+2521234567", "caller"));
        world_free(&w);
    }
}

static void test_wangiri(void) {
    world w = world_new(config_zones());
    const char *peer = "203.0.113.20:5060", *core = "10.0.0.60:5060";
    /* one foreign caller ringing 15 subscribers for 3 s each */
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "wg%d", i);
        call(&w, peer, core, T0 + SEC(i * 4), "+2521234567", callee, cid, END_CANCEL, 3, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    const ev_event *wg = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(wg && wg->count == 15);
    CHECK(has_obs(wg, "e164", "+2521234567", "caller"));
    CHECK(has_obs(wg, "ip", "203.0.113.20", "source"));
    CHECK_EQ_INT(dint(wg, "short_rings"), 15);
    CHECK(dint(wg, "distinct_callees") >= 10);
    CHECK(dreal(wg, "answered_ratio") == 0.0);
    CHECK(dreal(wg, "ring_time_avg_s") > 2.9 && dreal(wg, "ring_time_avg_s") < 3.1);
    CHECK(wg && wg->action == ACT_BLOCK_CALLER && wg->event_type == ET_WANGIRI &&
          !strcmp(wg->scope, "inbound_voice"));
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 15); /* CANCEL then 487: once each */
    world_free(&w);

    /* a quarter of the victims pick up in time and hear the caller hang up
     * after 1 s: still one-ring calls (the answer ratio used to hide them);
     * the same calls talked for 20 s, hung up by the callee, or answered 60
     * ms after the INVITE (a machine, not a person) are answers */
    for (int variant = 0; variant < 4; variant++) {
        w = world_new(config_zones());
        for (int i = 0; i < 16; i++) {
            char callee[24], cid[16];
            snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
            snprintf(cid, sizeof cid, "wa%d", i);
            bool picked_up = i % 4 == 0;
            {
                call_end_kind how = !picked_up ? END_CANCEL
                                    : variant == 2 ? END_ANSWER_CALLEE_BYE
                                    : variant == 3 ? END_ANSWER_AT_ONCE
                                                   : END_ANSWER;
                call(&w, peer, core, T0 + SEC(i * 4), "+2521234567", callee, cid, how,
                     !picked_up ? 3 : variant == 1 ? 20 : 1, NULL);
            }
        }
        world_finish(&w);
        CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 4);
        CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), variant == 0 ? 1 : 0);
        if (variant == 0) {
            wg = find_rule(w.out, "FRAUD-WANGIRI-001");
            CHECK_EQ_INT(dint(wg, "short_rings"), 16);
            CHECK_EQ_INT(dint(wg, "answered"), 0);
        }
        world_free(&w);
    }

    /* a dialer reusing one Call-ID for every call (new CSeq each time): each
     * call counts, not only the first (the others passed for retransmissions) */
    w = world_new(config_zones());
    for (int i = 0; i < 15; i++) {
        char callee[24];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        call_cseq(&w, peer, core, T0 + SEC(i * 4), "+2521234567", callee, "reused", 1 + 2 * (uint32_t)i, END_CANCEL,
                  3, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 15);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 15);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    wg = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(wg && wg->count == 15);
    world_free(&w);

    /* rotating caller ids from one source: keyed by the source */
    w = world_new(config_zones());
    for (int i = 0; i < 12; i++) {
        char callee[24], caller[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 300 + i);
        snprintf(caller, sizeof caller, "+25212345%02d", i);
        snprintf(cid, sizeof cid, "wr%d", i);
        call(&w, peer, core, T0 + SEC(i * 4), caller, callee, cid, END_CANCEL, 2, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    const ev_event *ws = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(!strcmp(dstr(ws, "keyed_by"), "source"));
    CHECK(has_obs(ws, "ip", "203.0.113.20", "source"));
    world_free(&w);

    /* benign: a caller whose calls are often answered; one caller trying the
     * same three people again and again; long rings that give up */
    w = world_new(config_zones());
    for (int i = 0; i < 20; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 500 + i);
        snprintf(cid, sizeof cid, "ok%d", i);
        call(&w, peer, core, T0 + SEC(i * 10), "+33123456789", callee, cid, i % 2 ? END_ANSWER : END_CANCEL,
             i % 2 ? 60 : 3, NULL);
    }
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 700 + i % 3);
        snprintf(cid, sizeof cid, "rp%d", i);
        call(&w, "203.0.113.21:5060", core, T0 + SEC(i * 10), "+33987654321", callee, cid, END_CANCEL, 2, NULL);
    }
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 800 + i);
        snprintf(cid, sizeof cid, "lr%d", i);
        call(&w, "203.0.113.22:5060", core, T0 + SEC(i * 40), "+34911234567", callee, cid, END_CANCEL, 30, NULL);
    }
    /* and 15 answered calls that each lost a CANCEL race: answered, not one-ring */
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 900 + i);
        snprintf(cid, sizeof cid, "cr%d", i);
        call(&w, "203.0.113.23:5060", core, T0 + SEC(i * 4), "+34911234500", callee, cid, END_CANCEL_RACE, 20, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 10 + 15);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    /* 12 calls, each answered 3 s in by two forks (RFC 3261 13.2.2.4): the
     * caller ends the second dialog at once with BYE and talks 60 s on the
     * first. Answered calls, not one-ring ones: that BYE hangs up no victim
     * (it was FRAUD-WANGIRI-001, 12 short rings, answer ratio 0) */
    w = world_new(config_zones());
    for (int i = 0; i < 12; i++) {
        char callee[24], cid[16], ruri[96], from[128], to[128], ta[140], tb[140];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "fk%d", i);
        snprintf(ruri, sizeof ruri, "sip:%s@carrier.example", callee);
        snprintf(from, sizeof from, "<sip:+2521234567@origin.example>;tag=f%d", i);
        snprintf(to, sizeof to, "<%s>", ruri);
        snprintf(ta, sizeof ta, "<%s>;tag=a%d", ruri, i);
        snprintf(tb, sizeof tb, "<%s>;tag=b%d", ruri, i);
        uint64_t t = T0 + SEC(i * 10);
        req(&w, peer, core, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, core, peer, t + SEC(0.5), 180, "Ringing", "INVITE", from, ta, cid, 1, NULL, NULL);
        resp(&w, core, peer, t + SEC(3), 200, "OK", "INVITE", from, ta, cid, 1, NULL, NULL);
        resp(&w, core, peer, t + SEC(3.05), 200, "OK", "INVITE", from, tb, cid, 1, NULL, NULL);
        req(&w, peer, core, t + SEC(3.1), "BYE", ruri, from, tb, cid, 2, NULL, NULL);
        req(&w, peer, core, t + SEC(63), "BYE", ruri, from, ta, cid, 3, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 12);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 0);
    world_free(&w);
}

/* One inbound call to a PBX ring group of 12 phones (a B2BUA: one Call-ID
 * per phone, From the caller): the PBX cancels the 11 others 4 s in, when
 * one answers, each CANCEL saying so (RFC 3326 Reason: SIP;cause=200, "Call
 * completed elsewhere"). No missed call on any phone, no short ring: it
 * was FRAUD-WANGIRI-001 against the caller (11 short rings, answer ratio
 * 1/12), or, with the caller's number withheld, against the PBX. */
static void calls_of(world *w, const char *caller, const char *tag, uint64_t t0, int answered_by,
                     const char *reason, double step) {
    for (int i = 0; i < 12; i++) {
        char phone[32], cid[16], ruri[96], from[128], to[128], tt[160];
        snprintf(phone, sizeof phone, "192.168.1.%d:5060", 101 + i);
        snprintf(cid, sizeof cid, "%s%d", tag, i);
        snprintf(ruri, sizeof ruri, "sip:%d@192.168.1.%d:5060", 201 + i, 101 + i);
        snprintf(from, sizeof from, "<sip:%s@192.168.1.10>;tag=f%s", caller, cid);
        snprintf(to, sizeof to, "<sip:%d@192.168.1.10>", 201 + i);
        snprintf(tt, sizeof tt, "%s;tag=t%s", to, cid);
        uint64_t t = t0 + SEC(step * i);
        if (step > 0.1) t0 = t; /* one call after another: each ends 4 s after its own INVITE */
        req(w, "192.168.1.10:5060", phone, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(w, phone, "192.168.1.10:5060", t + SEC(0.2), 180, "Ringing", "INVITE", from, tt, cid, 1, NULL, NULL);
        if (i == answered_by) {
            resp(w, phone, "192.168.1.10:5060", t0 + SEC(4), 200, "OK", "INVITE", from, tt, cid, 1, NULL, NULL);
            req(w, "192.168.1.10:5060", phone, t0 + SEC(100), "BYE", ruri, from, tt, cid, 2, NULL, NULL);
        } else {
            req(w, "192.168.1.10:5060", phone, t0 + SEC(4.02), "CANCEL", ruri, from, to, cid, 1, reason, NULL);
            resp(w, phone, "192.168.1.10:5060", t0 + SEC(4.03), 487, "Request Terminated", "INVITE", from, tt, cid, 1,
                 NULL, NULL);
        }
    }
}

static void ring_group_call(world *w, const char *caller, const char *tag, uint64_t t0, int answered_by,
                            const char *reason) {
    calls_of(w, caller, tag, t0, answered_by, reason, 0.001);
}

static void test_wangiri_ring_group(void) {
    const char *elsewhere = "Reason: Q.850;cause=16, SIP ;cause=200;text=\"Call completed elsewhere\"\r\n";
    const char *callers[] = {"+447700900123", "anonymous"};
    for (int k = 0; k < 2; k++) {
        world w = world_new(config_default());
        ring_group_call(&w, callers[k], "rg", T0, 5, elsewhere);
        world_finish(&w);
        CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 11);
        CHECK_MSG(count_rule(w.out, "FRAUD-WANGIRI-001") == 0, "ring group, caller %s", callers[k]);
        world_free(&w);
    }
    /* the same Reason on a Wangiri sender's CANCELs (its calls one after
     * another, 0.3 s apart), no call answered (nothing was completed
     * elsewhere): short rings as before */
    world w = world_new(config_default());
    calls_of(&w, "+447700900123", "wg", T0, -1, elsewhere, 0.3);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    CHECK_EQ_INT(dint(find_rule(w.out, "FRAUD-WANGIRI-001"), "short_rings"), 12);
    world_free(&w);
    /* ... and cancelled without that Reason after one answered: short rings */
    w = world_new(config_default());
    calls_of(&w, "+447700900123", "nr", T0, 5, NULL, 0.3);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    world_free(&w);
}

/* The caller hangs up before any phone of the ring group answers: the PBX
 * cancels its 12 legs at once, each a missed call of one inbound call, not
 * 12 short rings of a Wangiri caller (it was, caller-keyed; withheld, the
 * PBX was, source-keyed). Ten such calls from one caller are ten short
 * rings. A campaign ringing 12 numbers one after another, even 0.3 s
 * apart, is 12 short rings. */
static void test_wangiri_ring_group_abandoned(void) {
    const char *callers[] = {"+447700900123", "anonymous"};
    for (int k = 0; k < 2; k++) {
        world w = world_new(config_default());
        ring_group_call(&w, callers[k], "ab", T0, -1, NULL);
        world_finish(&w);
        CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 12);
        CHECK_MSG(count_rule(w.out, "FRAUD-WANGIRI-001") == 0, "abandoned ring group, caller %s", callers[k]);
        world_free(&w);
    }
    world w = world_new(config_default());
    for (int n = 0; n < 10; n++) {
        char tag[16];
        snprintf(tag, sizeof tag, "g%d", n);
        ring_group_call(&w, "+447700900123", tag, T0 + SEC(30 * n), -1, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 0); /* ten short rings, one callee each */
    world_free(&w);
    const char *seq_callers[] = {"+447700900123", "anonymous"};
    for (int k = 0; k < 2; k++) {
        w = world_new(config_default());
        calls_of(&w, seq_callers[k], "sq", T0, -1, NULL, 0.3);
        world_finish(&w);
        CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
        const ev_event *e = find_rule(w.out, "FRAUD-WANGIRI-001");
        CHECK(e && dint(e, "short_rings") == 12);
        world_free(&w);
    }
}

/* A campaign at 20 calls/s, each call cancelled 1 s after its own INVITE,
 * spaced as a dialer spaces them (SIPp -r 20 on loopback: 51.6, 48.5,
 * 51.6, 48.4 ... ms): one short ring per call, as docs/rules.md promises up
 * to 20 calls/s, not one per pair taken for the legs of a ring group (10
 * of 24 short rings were lost). */
static void test_wangiri_campaign_20_per_s(void) {
    world w = world_new(config_default());
    uint64_t t = T0;
    for (int i = 0; i < 24; i++) {
        char cid[16], ruri[64], from[96], to[96], tt[128];
        snprintf(cid, sizeof cid, "c20-%d", i);
        snprintf(ruri, sizeof ruri, "sip:+1555999%04d@192.0.2.80", i);
        snprintf(from, sizeof from, "<sip:+15551230000@192.0.2.80>;tag=f%d", i);
        snprintf(to, sizeof to, "<sip:+1555999%04d@192.0.2.80>", i);
        snprintf(tt, sizeof tt, "%s;tag=t%d", to, i);
        req(&w, "198.51.100.40:5070", "192.0.2.80:5060", t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, "192.0.2.80:5060", "198.51.100.40:5070", t + SEC(0.002), 180, "Ringing", "INVITE", from, tt, cid, 1,
             NULL, NULL);
        req(&w, "198.51.100.40:5070", "192.0.2.80:5060", t + SEC(1), "CANCEL", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, "192.0.2.80:5060", "198.51.100.40:5070", t + SEC(1.001), 487, "Request Terminated", "INVITE", from, tt,
             cid, 1, NULL, NULL);
        t += SEC(i % 2 ? 0.0484 : 0.0516);
    }
    world_finish(&w);
    const ev_event *e = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK_MSG(e && dint(e, "short_rings") == 24, "20 calls/s: %lld of 24 short rings",
              e ? (long long)dint(e, "short_rings") : -1LL);
    world_free(&w);
}

/* SIP-INFO-004: a SIP server agreeing to outdated TLS, or to a suite no
 * one may use, as its ServerHello says (no message, no keys). */
static void tls_hello(world *w, const char *server, const char *client, uint16_t version, uint16_t suite,
                      uint64_t ts) {
    cap_tls_hello h = {.server = ep(server), .client = ep(client), .version = version, .suite = suite, .ts_us = ts};
    det_tls_hello(w->eng, &h);
}

static void test_weak_tls(void) {
    world w = world_new(config_default());
    tls_hello(&w, "192.0.2.61:5061", "198.51.100.1:40000", 0x0301, 0xC014, T0);          /* TLS 1.0 */
    tls_hello(&w, "192.0.2.61:5061", "198.51.100.2:40001", 0x0301, 0xC014, T0 + SEC(5)); /* again */
    tls_hello(&w, "192.0.2.62:5061", "198.51.100.1:40002", 0x0303, 0x000A, T0 + SEC(6)); /* 1.2, 3DES */
    tls_hello(&w, "192.0.2.63:5061", "198.51.100.1:40003", 0x0300, 0x0005, T0 + SEC(7)); /* SSL 3.0, RC4 */
    tls_hello(&w, "192.0.2.64:5061", "198.51.100.1:40004", 0x0303, 0xC02F, T0 + SEC(8)); /* fine */
    tls_hello(&w, "192.0.2.65:5061", "198.51.100.1:40005", 0x0304, 0x1301, T0 + SEC(9)); /* fine */
    tls_hello(&w, "192.0.2.66:5061", "198.51.100.1:40006", 0x7f1c, 0x1301, T0 + SEC(9)); /* a 1.3 draft: not judged */
    tls_hello(&w, "192.0.2.67:5061", "198.51.100.1:40007", 0x0303, 0xC018, T0 + SEC(9)); /* anonymous ECDH */
    /* suites of those families OpenSSL itself negotiates (openssl ciphers -V
     * 'ALL:@SECLEVEL=0'): ADH-CAMELLIA256-SHA, ECDHE-PSK-NULL-SHA */
    tls_hello(&w, "192.0.2.68:5061", "198.51.100.1:40008", 0x0303, 0x0089, T0 + SEC(9));
    tls_hello(&w, "192.0.2.69:5061", "198.51.100.1:40009", 0x0303, 0xC039, T0 + SEC(9));
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-004"), 6);
    const ev_event *adh = find_rule_from(w.out, "SIP-INFO-004", "192.0.2.68");
    CHECK(adh && !strcmp(dstr(adh, "suite_weakness"), "anonymous") && !strcmp(dstr(adh, "cipher_suite"), "0x0089"));
    const ev_event *psk_null = find_rule_from(w.out, "SIP-INFO-004", "192.0.2.69");
    CHECK(psk_null && !strcmp(dstr(psk_null, "suite_weakness"), "null"));
    const ev_event *a = find_rule_from(w.out, "SIP-INFO-004", "192.0.2.61");
    CHECK(a && a->count == 2 && !strcmp(dstr(a, "version"), "TLS 1.0") && !strcmp(dstr(a, "weakness"), "version") &&
          !strcmp(dstr(a, "cipher_suite"), "0xc014") && !strcmp(dstr(a, "client"), "198.51.100.1") &&
          dint(a, "server_port") == 5061 && a->severity == SEV_MEDIUM && a->domain == DOM_PRIVACY);
    const ev_event *b = find_rule_from(w.out, "SIP-INFO-004", "192.0.2.62");
    CHECK(b && !strcmp(dstr(b, "weakness"), "suite") && !strcmp(dstr(b, "suite_weakness"), "3des") &&
          !strcmp(dstr(b, "version"), "TLS 1.2"));
    const ev_event *c = find_rule_from(w.out, "SIP-INFO-004", "192.0.2.63");
    CHECK(c && !strcmp(dstr(c, "weakness"), "version+suite") && !strcmp(dstr(c, "suite_weakness"), "rc4") &&
          !strcmp(dstr(c, "version"), "SSL 3.0"));
    const ev_event *d = find_rule_from(w.out, "SIP-INFO-004", "192.0.2.67");
    CHECK(d && !strcmp(dstr(d, "suite_weakness"), "anonymous"));
    CHECK(!find_rule_from(w.out, "SIP-INFO-004", "192.0.2.64") && !find_rule_from(w.out, "SIP-INFO-004", "192.0.2.66"));
    CHECK(a && a->sample.transport[0] && !strcmp(a->sample.transport, "tls") && !a->sample.method[0]);
    world_free(&w);
}

/* SIP-INFO-006 on certificates made here: an EC P-256 one valid around T0
 * (quiet), the same key not valid until a day after T0, one expired a day
 * before, and bytes that are no certificate (nothing to judge). */
static size_t make_cert(EVP_PKEY *key, long from_s, long until_s, unsigned char **der) {
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    time_t t0 = (time_t)(T0 / FS_USEC);
    X509_time_adj(X509_getm_notBefore(x), from_s, &t0);
    X509_time_adj(X509_getm_notAfter(x), until_s, &t0);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"sbc.example.net", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    *der = NULL;
    int len = i2d_X509(x, der);
    X509_free(x);
    return len > 0 ? (size_t)len : 0;
}

static void test_weak_cert(void) {
    world w = world_new(config_default());
    EVP_PKEY *key = EVP_EC_gen("P-256");
    CHECK(key != NULL);
    static const struct { const char *server; long from_s, until_s; } certs[] = {
        {"192.0.2.71:5061", -86400, 86400 * 365}, /* fine */
        {"192.0.2.72:5061", 86400, 86400 * 365},  /* not yet valid */
        {"192.0.2.73:5061", -86400 * 400, -86400}, /* expired yesterday */
        {"192.0.2.76:5061", -86400, 86400 * 10},  /* expires in 10 days (9.99 at its hello) */
        {"192.0.2.77:5061", -86400, 86400 * 15},  /* in 15 days: past expiry_warning_days (14) */
    };
    for (size_t i = 0; key && i < sizeof certs / sizeof *certs; i++) {
        unsigned char *der;
        size_t n = make_cert(key, certs[i].from_s, certs[i].until_s, &der);
        CHECK(n > 0);
        cap_tls_hello h = {.server = ep(certs[i].server), .client = ep("198.51.100.9:40000"), .version = 0x0303,
                           .suite = 0xC02B, .ts_us = T0 + SEC(i), .cert = der, .cert_len = (uint32_t)n};
        det_tls_hello(w.eng, &h);
        OPENSSL_free(der);
    }
    unsigned char *der; /* mutual TLS: the client's certificate, expired; from the client */
    size_t n = key ? make_cert(key, -86400 * 400, -86400, &der) : 0;
    cap_tls_hello mh = {.server = ep("192.0.2.75:5061"), .client = ep("198.51.100.20:40002"), .version = 0x0304,
                        .suite = 0x1301, .ts_us = T0 + SEC(4), .cert = der, .cert_len = (uint32_t)n,
                        .client_cert = true};
    if (n) det_tls_hello(w.eng, &mh);
    if (n) OPENSSL_free(der);
    static const uint8_t junk[] = {0x30, 0x82, 0x01, 0x00, 0x02, 0x01};
    cap_tls_hello h = {.server = ep("192.0.2.74:5061"), .client = ep("198.51.100.9:40001"), .version = 0x0303,
                       .suite = 0xC02B, .ts_us = T0 + SEC(5), .cert = junk, .cert_len = sizeof junk};
    det_tls_hello(w.eng, &h);
    EVP_PKEY_free(key);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-006"), 4);
    const ev_event *early = find_rule_from(w.out, "SIP-INFO-006", "192.0.2.72");
    CHECK(early && !strcmp(dstr(early, "problems"), "not_yet_valid") && dint(early, "key_bits") == 256 &&
          !strcmp(dstr(early, "self_signed"), "yes") && !strcmp(dstr(early, "signature"), "ecdsa-with-SHA256"));
    const ev_event *old = find_rule_from(w.out, "SIP-INFO-006", "192.0.2.73");
    CHECK(old && !strcmp(dstr(old, "problems"), "expired") && !strcmp(dstr(old, "role"), "server"));
    const ev_event *client = find_rule_from(w.out, "SIP-INFO-006", "198.51.100.20");
    CHECK(client && !strcmp(dstr(client, "problems"), "expired") && !strcmp(dstr(client, "role"), "client") &&
          dint(client, "server_port") == 5061);
    CHECK(!find_rule_from(w.out, "SIP-INFO-006", "192.0.2.75")); /* not the server's */
    const ev_event *soon = find_rule_from(w.out, "SIP-INFO-006", "192.0.2.76");
    CHECK(soon && !strcmp(dstr(soon, "problems"), "expires_soon") && dint(soon, "expires_in_days") == 9);
    CHECK(!find_rule_from(w.out, "SIP-INFO-006", "192.0.2.77"));
    CHECK(old && !ev_get_detail(old, "expires_in_days"));
    world_free(&w);

    /* a capture without timestamps: no time to judge validity at (the
     * engine's 1970 made every certificate not yet valid); a weak key still is */
    w = world_new(config_default());
    EVP_PKEY *ec = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(1024);
    CHECK(ec && rsa);
    for (int i = 0; ec && rsa && i < 2; i++) {
        unsigned char *cd;
        size_t cn = make_cert(i ? rsa : ec, -86400, 86400 * 365, &cd);
        cap_tls_hello th = {.server = ep(i ? "192.0.2.79:5061" : "192.0.2.78:5061"), .client = ep("198.51.100.9:40000"),
                            .version = 0x0303, .suite = 0xC02B, .ts_us = 0, .cert = cd, .cert_len = (uint32_t)cn};
        det_tls_hello(w.eng, &th);
        OPENSSL_free(cd);
    }
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    world_finish(&w);
    CHECK_MSG(!find_rule_from(w.out, "SIP-INFO-006", "192.0.2.78"), "timeless: %s",
              dstr(find_rule_from(w.out, "SIP-INFO-006", "192.0.2.78"), "problems"));
    const ev_event *wk = find_rule_from(w.out, "SIP-INFO-006", "192.0.2.79");
    CHECK(wk && !strcmp(dstr(wk, "problems"), "weak_key"));
    world_free(&w);
}

/* SIP-INFO-005: a zone that requires TLS exchanging SIP in the clear, each
 * way, one incident per address of the zone; TLS, WSS and ESP are fine. */
static void send_options(world *w, const char *src, const char *dst, uint64_t ts, cap_transport t,
                         const fs_encap *encap) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "OPTIONS sip:ping@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKct%llu\r\nMax-Forwards: 70\r\n"
             "From: <sip:mon@example.net>;tag=1\r\nTo: <sip:ping@example.net>\r\nCall-ID: ct%llu\r\n"
             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
             dst, src, (unsigned long long)ts, (unsigned long long)ts);
    cap_payload p = {.data = (const uint8_t *)buf, .len = (uint32_t)strlen(buf), .src = ep(src), .dst = ep(dst),
                     .transport = (uint8_t)t, .ts_us = ts, .encap = encap};
    det_process(w->eng, &p);
}

static void test_cleartext(void) {
    fs38_config *cfg = malloc(sizeof *cfg);
    cfg_defaults(cfg);
    static const char yaml[] = "zones:\n"
                               "  core: {trust: core, networks: [10.0.0.0/8]}\n"
                               "  ipx: {trust: trusted, networks: [192.0.2.0/24], require_tls: true}\n"
                               "  other: {trust: trusted, networks: [198.51.100.0/24]}\n";
    fs_err e = {0};
    CHECK_MSG(cfg_load_buffer(cfg, yaml, sizeof yaml - 1, ".", &e) == FS_OK, "%s", e.msg);
    world w = world_new(cfg);
    fs_encap esp = {.n = 1};
    esp.layer[0].kind = FS_L_ESP;
    send_options(&w, "192.0.2.1:5060", "10.0.0.1:5060", T0, CAP_T_UDP, NULL);         /* from the zone */
    send_options(&w, "192.0.2.1:5060", "10.0.0.1:5060", T0 + SEC(1), CAP_T_TCP, NULL); /* again */
    send_options(&w, "10.0.0.1:5060", "192.0.2.2:5060", T0 + SEC(2), CAP_T_UDP, NULL); /* toward it */
    send_options(&w, "192.0.2.3:5061", "10.0.0.1:5061", T0 + SEC(3), CAP_T_TLS, NULL); /* protected */
    send_options(&w, "192.0.2.4:443", "10.0.0.1:443", T0 + SEC(3), CAP_T_WSS, NULL);
    send_options(&w, "192.0.2.5:5060", "10.0.0.1:5060", T0 + SEC(3), CAP_T_UDP, &esp);
    send_options(&w, "198.51.100.1:5060", "10.0.0.1:5060", T0 + SEC(4), CAP_T_UDP, NULL); /* no policy */
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-005"), 2);
    const ev_event *a = find_rule_from(w.out, "SIP-INFO-005", "192.0.2.1");
    CHECK(a && a->count == 2 && !strcmp(dstr(a, "zone"), "ipx") && !strcmp(dstr(a, "direction"), "from_zone") &&
          !strcmp(dstr(a, "transport"), "udp") && !strcmp(dstr(a, "other_end"), "10.0.0.1"));
    const ev_event *b = NULL;
    for (int i = 0; i < w.out->n; i++)
        if (!strcmp(det_rule_table[w.out->ev[i].rule].id, "SIP-INFO-005") &&
            has_obs(&w.out->ev[i], "ip", "192.0.2.2", "destination"))
            b = &w.out->ev[i];
    CHECK(b && !strcmp(dstr(b, "direction"), "to_zone") && b->count == 1);
    world_free(&w);

    /* the policy alone: an untrusted zone requiring TLS, no core or trusted
     * zone (no trust boundary configured) */
    cfg = malloc(sizeof *cfg);
    cfg_defaults(cfg);
    static const char only[] = "zones:\n  trunk: {trust: untrusted, networks: [203.0.113.0/24], require_tls: true}\n";
    CHECK_MSG(cfg_load_buffer(cfg, only, sizeof only - 1, ".", &e) == FS_OK, "%s", e.msg);
    w = world_new(cfg);
    send_options(&w, "203.0.113.9:5060", "198.51.100.1:5060", T0, CAP_T_UDP, NULL);
    world_finish(&w);
    CHECK(find_rule_from(w.out, "SIP-INFO-005", "203.0.113.9") != NULL);
    world_free(&w);

    /* between two zones that both require TLS: each end is one incident of
     * its zone, also the one that never answers */
    cfg = malloc(sizeof *cfg);
    cfg_defaults(cfg);
    static const char two[] = "zones:\n  sbc: {trust: core, networks: [10.0.0.0/8], require_tls: true}\n"
                              "  ipx: {trust: trusted, networks: [192.0.2.0/24], require_tls: true}\n";
    CHECK_MSG(cfg_load_buffer(cfg, two, sizeof two - 1, ".", &e) == FS_OK, "%s", e.msg);
    w = world_new(cfg);
    send_options(&w, "10.0.0.1:5060", "192.0.2.7:5060", T0, CAP_T_UDP, NULL);
    send_options(&w, "10.0.0.1:5060", "192.0.2.7:5060", T0 + SEC(1), CAP_T_UDP, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-INFO-005"), 2);
    const ev_event *s1 = find_rule_from(w.out, "SIP-INFO-005", "10.0.0.1"), *d1 = NULL;
    for (int i = 0; i < w.out->n; i++)
        if (!strcmp(det_rule_table[w.out->ev[i].rule].id, "SIP-INFO-005") &&
            has_obs(&w.out->ev[i], "ip", "192.0.2.7", "destination"))
            d1 = &w.out->ev[i];
    CHECK(s1 && s1->count == 2 && !strcmp(dstr(s1, "zone"), "sbc") && !strcmp(dstr(s1, "direction"), "from_zone"));
    CHECK(d1 && d1->count == 2 && !strcmp(dstr(d1, "zone"), "ipx") && !strcmp(dstr(d1, "direction"), "to_zone") &&
          !strcmp(dstr(d1, "other_end"), "10.0.0.1"));
    world_free(&w);
}

/* ---- evidence of the call rules (--pcap-out) ------------------------------------------ */

/* What the evidence callback saw: per message and incident named, the
 * message's Call-ID, its first word (method) or status, the rule and
 * whether it counted or came as the rest of a call. */
typedef struct evid_log {
    int n, messages;
    struct {
        char callid[16], what[16];
        det_rule_id rule;
        bool in_call, earlier;
        uint64_t ts;
    } m[512];
} evid_log;

static void on_evid(void *user, const cap_payload *p, const det_evidence_ref *refs, unsigned n) {
    evid_log *log = user;
    char text[2048], callid[16] = "", what[16] = "";
    snprintf(text, sizeof text, "%.*s", (int)(p->len < sizeof text - 1 ? p->len : sizeof text - 1),
             (const char *)p->data);
    const char *cid = strstr(text, "Call-ID: ");
    bool response = !strncmp(text, "SIP/2.0 ", 8);
    sscanf(response ? text + 8 : text, "%15s", what);
    if (cid) sscanf(cid + 9, "%15s", callid);
    log->messages++;
    for (unsigned i = 0; i < n && log->n < (int)(sizeof log->m / sizeof log->m[0]); i++) {
        memcpy(log->m[log->n].callid, callid, sizeof callid);
        memcpy(log->m[log->n].what, what, sizeof what);
        log->m[log->n].rule = refs[i].rule;
        log->m[log->n].in_call = refs[i].in_call;
        log->m[log->n].earlier = refs[i].earlier;
        log->m[log->n].ts = p->ts_us;
        log->n++;
    }
}

#define CHECK_CSTR(got, want)                                                               \
    do {                                                                                    \
        const char *got_ = (got), *want_ = (want);                                          \
        CHECK_MSG(!strcmp(got_, want_), "got '%s', want '%s'", got_, want_);                \
    } while (0)

/* The messages of call cid handed over with an incident of rule r:
 * "WHAT:c" counted, "WHAT:r" the rest of a call, in order. */
static const char *evid_of(const evid_log *log, det_rule_id r, const char *cid, char *out, size_t n) {
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < log->n && at < n; i++)
        if (log->m[i].rule == r && !strcmp(log->m[i].callid, cid))
            at += (size_t)snprintf(out + at, n - at, "%s%s:%c", at ? " " : "", log->m[i].what,
                                   log->m[i].in_call ? 'r' : 'c');
    return out;
}

/* Entries of rule r in log. */
static int evid_count(const evid_log *log, det_rule_id r) {
    int k = 0;
    for (int i = 0; i < log->n; i++) k += log->m[i].rule == r;
    return k;
}

/* One foreign caller ringing 15 subscribers for 3 s each, Call-IDs
 * PREFIX0..PREFIX14 (FRAUD-WANGIRI-001 at the 10th). */
static void one_ring_calls(world *w, const char *prefix) {
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "%s%d", prefix, i);
        call(w, "203.0.113.20:5060", "10.0.0.60:5060", T0 + SEC(i * 4), "+2521234567", callee, cid, END_CANCEL, 3,
             NULL);
    }
}

static void test_call_evidence(void) {
    char got[512], cid[16];
    /* Wangiri: from the short ring that makes the incident reportable on,
     * each call's CANCEL counts and the rest of the call comes with it; a
     * call placed after that comes whole (its INVITE and 180 came before
     * the CANCEL that counts) */
    world w = world_new(config_zones());
    evid_log *log = calloc(1, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    one_ring_calls(&w, "wg");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    int first = -1;
    for (int i = 0; i < 15 && first < 0; i++) {
        snprintf(cid, sizeof cid, "wg%d", i);
        if (evid_of(log, R_WANGIRI, cid, got, sizeof got)[0]) first = i;
    }
    CHECK_MSG(first >= 9 && first <= 11, "first call handed over: wg%d", first);
    snprintf(cid, sizeof cid, "wg%d", first);
    CHECK_CSTR(evid_of(log, R_WANGIRI, cid, got, sizeof got), "CANCEL:c 200:r 487:r");
    for (int i = first + 1; i < 15; i++) {
        snprintf(cid, sizeof cid, "wg%d", i);
        CHECK_CSTR(evid_of(log, R_WANGIRI, cid, got, sizeof got), "INVITE:r 100:r 180:r CANCEL:c 200:r 487:r");
    }
    CHECK_EQ_INT(evid_count(log, R_WANGIRI), 3 + 6 * (14 - first));
    world_free(&w);
    /* the per-incident limit counts the rest of the calls too */
    w = world_new(config_zones());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 5);
    one_ring_calls(&w, "wl");
    world_finish(&w);
    CHECK_EQ_INT(evid_count(log, R_WANGIRI), 5);
    world_free(&w);

    /* IRSF velocity: from the INVITE that crosses the threshold on, each
     * counted INVITE brings its call's answers */
    w = world_new(config_zones());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    for (int i = 0; i < 8; i++) {
        char callee[24];
        snprintf(callee, sizeof callee, "+882161000%03d", i);
        snprintf(cid, sizeof cid, "ir%d", i);
        call(&w, "198.51.100.30:5060", "10.0.0.50:5060", T0 + SEC(i * 30), "+442071234567", callee, cid, END_BUSY,
             0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 1);
    int counted = 0;
    for (int i = 0; i < 8; i++) {
        snprintf(cid, sizeof cid, "ir%d", i);
        evid_of(log, R_IRSF_VELOCITY, cid, got, sizeof got);
        if (!got[0]) continue;
        counted++;
        CHECK_CSTR(got, "INVITE:c 100:r 486:r");
    }
    CHECK_MSG(counted >= 3 && counted <= 4, "IRSF calls handed over: %d", counted);
    world_free(&w);

    /* a long call to a high-risk range found by the timer while it goes on:
     * its BYE (not counted: the call was reported) comes as the rest of it */
    w = world_new(config_zones());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    call(&w, "198.51.100.31:5060", "10.0.0.50:5060", T0, "+442071234568", "+88216100999", "lc1", END_ANSWER_NO_BYE,
         0, NULL);
    det_tick(w.eng, T0 + SEC(2100)); /* the call still up: the timer finds it */
    req(&w, "198.51.100.31:5060", "10.0.0.50:5060", T0 + SEC(2402), "BYE", "sip:+88216100999@carrier.example;user=phone",
        "<sip:+442071234568@origin.example;user=phone>;tag=flc1",
        "<sip:+88216100999@carrier.example;user=phone>;tag=tlc1", "lc1", 2, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    CHECK_CSTR(evid_of(log, R_IRSF_LONG_CALL, "lc1", got, sizeof got), "BYE:r");

    /* without an evidence callback nothing is marked (no lookups per message) */
    world_free(&w);
    w = world_new(config_zones());
    one_ring_calls(&w, "wn");
    CHECK(!w.eng->calls_marked);
    world_free(&w);
    free(log);
}

/* How many times the message WHAT of call cid was handed over for an
 * incident of another rule than r. */
static int evid_times(const evid_log *log, det_rule_id r, const char *cid, const char *what) {
    int k = 0;
    for (int i = 0; i < log->n; i++)
        k += log->m[i].rule != r && !strcmp(log->m[i].callid, cid) && !strcmp(log->m[i].what, what);
    return k;
}

/* Entries of rule r from the look back (before its threshold). */
static int evid_earlier(const evid_log *log, det_rule_id r) {
    int k = 0;
    for (int i = 0; i < log->n; i++) k += log->m[i].rule == r && log->m[i].earlier;
    return k;
}

/* The look back (--pcap-lookback): an incident's messages from the first
 * its window counted, in order, whole calls for the call rules, within the
 * per-incident limit, each message once; a ring too small for the window
 * gives what it still holds. */
static void test_lookback_evidence(void) {
    char got[512], cid[16];
    fs_err e = {0};
    evid_log *log = calloc(1, sizeof *log);
    /* Wangiri: every call whole, those before the threshold too; each
     * INVITE (a foreign caller: SIP-CLI-002 too) handed over once, with the
     * incident it came for first */
    world w = world_new(config_zones());
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    CHECK_EQ_INT(det_engine_set_lookback(w.eng, 1u << 20, &e), FS_OK);
    CHECK(det_engine_lookback_memory(w.eng) > (1u << 20));
    one_ring_calls(&w, "wg");
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    int whole = 0;
    for (int i = 0; i < 15; i++) {
        snprintf(cid, sizeof cid, "wg%d", i);
        evid_of(log, R_WANGIRI, cid, got, sizeof got);
        /* after the incident opened, the INVITE names it too (a second comment) */
        whole += !strcmp(got, "INVITE:r 100:r 180:r CANCEL:c 200:r 487:r");
        CHECK_MSG(!strcmp(got, "100:r 180:r CANCEL:c 200:r 487:r") ||
                      !strcmp(got, "INVITE:r 100:r 180:r CANCEL:c 200:r 487:r"), "%s: %s", cid, got);
        CHECK_EQ_INT(evid_times(log, R_WANGIRI, cid, "INVITE"), 1);
    }
    CHECK_MSG(whole >= 3 && whole <= 6, "calls with their INVITE named: %d", whole);
    CHECK_EQ_INT(evid_count(log, R_WANGIRI), 5 * 15 + whole);
    int earlier = evid_earlier(log, R_WANGIRI);
    CHECK_MSG(earlier >= 5 * 9 && earlier <= 5 * 11 + 2, "earlier: %d", earlier); /* the calls before the 10th */
    for (int i = 1; i < log->n; i++) CHECK(log->m[i].ts >= log->m[i - 1].ts || !log->m[i - 1].earlier);
    world_free(&w);
    /* one message stamped 200 s before its neighbours (another sender's
     * clock) among the calls before the threshold: they are still there */
    w = world_new(config_zones());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    det_engine_set_lookback(w.eng, 1u << 20, &e);
    for (int i = 0; i < 15; i++) {
        char callee[24];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "ws%d", i);
        call(&w, "203.0.113.20:5060", "10.0.0.60:5060", T0 + SEC(i * 4), "+2521234567", callee, cid, END_CANCEL, 3,
             NULL);
        if (i == 4)
            req(&w, "198.51.100.77:5060", "10.0.0.60:5060", T0 + SEC(i * 4 + 3.5) - SEC(200), "OPTIONS",
                "sip:10.0.0.60", "<sip:mon@198.51.100.77>;tag=1", "<sip:10.0.0.60>", "stray", 1, NULL, NULL);
    }
    world_finish(&w);
    for (int i = 0; i < 15; i++) {
        snprintf(cid, sizeof cid, "ws%d", i);
        evid_of(log, R_WANGIRI, cid, got, sizeof got);
        CHECK_MSG(strstr(got, "CANCEL:c 200:r 487:r") != NULL, "a stray time before: %s: %s", cid, got);
    }
    world_free(&w);
    /* the limit: the oldest five */
    w = world_new(config_zones());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 5);
    det_engine_set_lookback(w.eng, 1u << 20, &e);
    one_ring_calls(&w, "wl");
    world_finish(&w);
    CHECK_EQ_INT(evid_count(log, R_WANGIRI), 5);
    CHECK_CSTR(evid_of(log, R_WANGIRI, "wl0", got, sizeof got), "100:r 180:r CANCEL:c 200:r"); /* + the crossing CANCEL */
    world_free(&w);

    /* SIP-FLOOD-001: every request it counted, none twice; with 1 KiB
     * messages, a ring of 64 KiB holds the newest 50-odd of its window */
    char pad[1100] = "X-Pad: ";
    memset(pad + 7, 'a', 1000);
    memcpy(pad + 1007, "\r\n", 3);
    for (int ring = 0; ring < 3; ring++) {
        w = world_new(config_default());
        memset(log, 0, sizeof *log);
        det_engine_set_evidence(w.eng, on_evid, log, 0);
        det_engine_set_lookback(w.eng, ring == 0 ? 0 : ring == 1 ? 1u << 20 : 65536, &e);
        for (int i = 0; i < 250; i++) {
            snprintf(cid, sizeof cid, "fl%d", i);
            req(&w, "203.0.113.12:5060", "192.0.2.20:5060", T0 + SEC(i * 0.02), "OPTIONS", "sip:192.0.2.20",
                "<sip:x@203.0.113.12>;tag=1", "<sip:192.0.2.20>", cid, 1, pad, NULL);
        }
        world_finish(&w);
        const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
        CHECK(f && f->count == 250);
        int n = evid_count(log, R_FLOOD_SOURCE), before = evid_earlier(log, R_FLOOD_SOURCE);
        if (ring == 0) CHECK_MSG(before == 0 && n < 250, "no look back: %d frames, %d earlier", n, before);
        if (ring == 1) CHECK_MSG(n == 250 && before > 0 && log->messages == 250, "1 MB: %d, %d earlier", n, before);
        if (ring == 2) CHECK_MSG(before > 30 && before < 65 && n < 250, "64 KiB: %d, %d earlier", n, before);
        /* whatever the ring held came out whole (copies split across its
         * end included): the earlier ones are consecutive requests, oldest
         * first, up to the one before the crossing */
        int prev = -1, runs_ok = 1;
        for (int i = 0; i < log->n; i++) {
            int k = -1;
            if (log->m[i].rule != R_FLOOD_SOURCE || sscanf(log->m[i].callid, "fl%d", &k) != 1) continue;
            if (prev >= 0 && k != prev + 1) runs_ok = 0;
            prev = k;
        }
        CHECK_MSG(runs_ok && prev == 249, "requests out of order or cut (last fl%d)", prev);
        world_free(&w);
    }

    /* an incident that goes on into the next window crosses again there:
     * that window's requests before its crossing are in the incident's
     * count, so they are handed over too (25 OPTIONS/s for 20 s: the
     * OPTIONS limit of 100 is crossed in both 10 s windows; 99 of the
     * second window's were counted and never handed over) */
    w = world_new(config_default());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    det_engine_set_lookback(w.eng, 1u << 20, &e);
    for (int i = 0; i < 500; i++) {
        snprintf(cid, sizeof cid, "fw%d", i);
        req(&w, "203.0.113.14:5060", "192.0.2.20:5060", T0 + SEC(i * 0.04), "OPTIONS", "sip:192.0.2.20",
            "<sip:x@203.0.113.14>;tag=1", "<sip:192.0.2.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    const ev_event *fw = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(fw && fw->count == 500);
    CHECK_MSG(evid_count(log, R_FLOOD_SOURCE) == 500, "two windows: %d of 500 counted requests handed over",
              evid_count(log, R_FLOOD_SOURCE));
    CHECK_EQ_INT(log->messages, 500);
    world_free(&w);

    /* so does a second account crossing SIP-BRUTE-001's threshold in the
     * incident the first opened: its 9 failures before are in the count
     * (20), they were not handed over (11 of 20) */
    w = world_new(config_default());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    det_engine_set_lookback(w.eng, 1u << 20, &e);
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(cid, sizeof cid, "tw%d-%d", k, i);
            register_reply(&w, "203.0.113.15:5060", "192.0.2.10:5060", T0 + SEC(i * 2 + k), k ? "1002" : "1001", cid,
                           2, k ? "1002" : "1001", 401, "Unauthorized", CHALLENGE);
        }
    world_finish(&w);
    const ev_event *tw = find_rule(w.out, "SIP-BRUTE-001");
    CHECK(tw && tw->count == 20);
    CHECK_MSG(evid_count(log, R_BRUTE_ONE_USER) == 20, "two accounts: %d of 20 failures handed over",
              evid_count(log, R_BRUTE_ONE_USER));
    world_free(&w);

    /* SIP-BRUTE-001 looks back at its user's failures only: 15 guesses at
     * 1001 after 4 at 1002, all answered 403 */
    w = world_new(config_default());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    det_engine_set_lookback(w.eng, 1u << 20, &e);
    for (int i = 0; i < 4; i++)
        register_reply(&w, "203.0.113.11:5060", "192.0.2.10:5060", T0 + SEC(i), "1002", "bfa", (unsigned)(2 + i),
                       "1002", 403, "Forbidden", NULL);
    for (int i = 0; i < 15; i++)
        register_reply(&w, "203.0.113.11:5060", "192.0.2.10:5060", T0 + SEC(10 + i * 2), "1001", "bfb",
                       (unsigned)(2 + i), "1001", 403, "Forbidden", NULL);
    world_finish(&w);
    const ev_event *b1 = find_rule(w.out, "SIP-BRUTE-001");
    CHECK(b1 && b1->count == 15);
    CHECK_EQ_INT(evid_count(log, R_BRUTE_ONE_USER), 15);
    CHECK_CSTR(evid_of(log, R_BRUTE_ONE_USER, "bfa", got, sizeof got), "");
    CHECK(evid_earlier(log, R_BRUTE_ONE_USER) > 0);
    world_free(&w);

    /* a message handed over already (SIP-SCAN-001 at each probe) is not
     * handed over again for SIP-SCAN-002: one frame per message */
    w = world_new(config_default());
    memset(log, 0, sizeof *log);
    det_engine_set_evidence(w.eng, on_evid, log, 0);
    det_engine_set_lookback(w.eng, 1u << 20, &e);
    for (int i = 0; i < 40; i++) {
        char dst[32];
        snprintf(dst, sizeof dst, "192.0.2.%d:5060", 100 + i);
        snprintf(cid, sizeof cid, "sv%d", i);
        req(&w, "203.0.113.13:5060", dst, T0 + SEC(i * 0.1), "OPTIONS", "sip:100@192.0.2.1",
            "<sip:100@1.1.1.1>;tag=1", "<sip:100@1.1.1.1>", cid, 1, "friendly-scanner", NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    CHECK_EQ_INT(log->messages, 40);
    CHECK_EQ_INT(evid_earlier(log, R_SCAN_BEHAVIOUR), 0);
    world_free(&w);
    free(log);
}

static void test_volume(void) {
    world w = world_new(config_zones());
    const char *pbx = "198.51.100.40:5060", *gw = "10.0.0.70:5060";
    /* 70 calls in 10 minutes from one caller */
    for (int i = 0; i < 70; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "v%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 8), "+442071110000", callee, cid, END_ANSWER, 5, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-VOL-001"), 1);
    const ev_event *v = find_rule(w.out, "FRAUD-VOL-001");
    CHECK(v && v->count == 70 - 60 + 60); /* the window's 60 at crossing, then one per call */
    CHECK(!strcmp(dstr(v, "trigger"), "calls_per_window"));
    CHECK(has_obs(v, "e164", "+442071110000", "caller"));
    world_free(&w);

    /* a caller that is no E.164 number (a national-format CLI) relayed by a
     * trusted carrier: the event still names something (its From URI; the
     * event format asks for one observable at least, and had none) */
    w = world_new(config_zones());
    for (int i = 0; i < 70; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "vn%d", i);
        call(&w, "192.0.2.7:5060", gw, T0 + SEC(i * 8), "02071234567", callee, cid, END_BUSY, 0, NULL);
    }
    world_finish(&w);
    v = find_rule(w.out, "FRAUD-VOL-001");
    CHECK(v && v->nobs >= 1);
    CHECK(v && has_obs(v, "sip_uri", "sip:02071234567@origin.example;user=phone", "caller"));
    world_free(&w);

    /* 35 concurrent answered calls */
    w = world_new(config_zones());
    for (int i = 0; i < 35; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "cc%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 2), "+442071110001", callee, cid, END_ANSWER_NO_BYE, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-VOL-001"), 1);
    const ev_event *cc = find_rule(w.out, "FRAUD-VOL-001");
    CHECK(!strcmp(dstr(cc, "trigger"), "concurrent"));
    CHECK_EQ_INT(dint(cc, "concurrent"), 35);
    world_free(&w);

    /* two extensions (not E.164) flooding through one PBX: two incidents,
     * each naming its caller in the details */
    w = world_new(config_zones());
    for (int i = 0; i < 140; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "ext%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 4), i % 2 ? "4619" : "4620", callee, cid, END_ANSWER, 5, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-VOL-001"), 2);
    const ev_event *e1 = NULL, *e2 = NULL;
    for (int i = 0; i < w.out->n; i++) {
        if (strcmp(det_rule_table[w.out->ev[i].rule].id, "FRAUD-VOL-001")) continue;
        if (!strcmp(dstr(&w.out->ev[i], "caller"), "4619")) e1 = &w.out->ev[i];
        if (!strcmp(dstr(&w.out->ev[i], "caller"), "4620")) e2 = &w.out->ev[i];
    }
    CHECK(e1 && e2 && !has_obs(e1, "e164", NULL, "caller"));
    world_free(&w);

    /* benign, and the OpenSIPS lesson: 40 calls cancelled with a retransmitted
     * CANCEL and 487 must not drive the concurrent count below zero, so 25
     * concurrent calls afterwards stay under max_concurrent */
    w = world_new(config_zones());
    for (int i = 0; i < 40; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "uf%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 30), "+442071110002", callee, cid, END_CANCEL, 20, NULL);
        /* retransmissions of the CANCEL and of the 487 */
        char ruri[96], from[128], to[128];
        snprintf(ruri, sizeof ruri, "sip:%s@carrier.example;user=phone", callee);
        snprintf(from, sizeof from, "<sip:+442071110002@origin.example;user=phone>;tag=f%s", cid);
        snprintf(to, sizeof to, "<sip:%s@carrier.example;user=phone>", callee);
        req(&w, pbx, gw, T0 + SEC(i * 30 + 21), "CANCEL", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, gw, pbx, T0 + SEC(i * 30 + 21), 487, "Request Terminated", "INVITE", from, to, cid, 1, NULL, NULL);
    }
    for (int i = 0; i < 25; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420795%05d", i);
        snprintf(cid, sizeof cid, "ok%d", i);
        call(&w, pbx, gw, T0 + SEC(1300 + i), "+442071110002", callee, cid, END_ANSWER_NO_BYE, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);
}

/* allow_callers: the zones config with a call centre's main number and a
 * customer's DDI block exempted (filled by hand, then cfg_index). */
static fs38_config *config_allow_callers(void) {
    fs38_config *cfg = config_zones();
    static const char *const list[][2] = {{"442071234567", "Acme dialer"}, {"4420799", ""}};
    for (size_t i = 0; i < 2; i++) {
        cfg_prefix *p = &cfg->allow_callers[cfg->nallow_callers++];
        memset(p, 0, sizeof *p);
        snprintf(p->digits, sizeof p->digits, "%s", list[i][0]);
        p->len = (uint8_t)strlen(p->digits);
        snprintf(p->label, sizeof p->label, "%s", list[i][1]);
    }
    cfg_index(cfg);
    return cfg;
}

/* allow_callers: a listed caller is not judged by FRAUD-VOL-001,
 * FRAUD-WANGIRI-001 or FRAUD-IRSF-001, per caller or per source, while
 * another caller doing the same through the same trunk is; FRAUD-IRSF-002
 * still judges it. */
static void test_allow_callers(void) {
    const char *pbx = "198.51.100.40:5060", *gw = "10.0.0.70:5060";
    /* FRAUD-VOL-001: the dialer's 70 calls in 10 minutes and 35 at once stay
     * quiet; another caller's 70 through the same trunk do not */
    world w = world_new(config_allow_callers());
    for (int i = 0; i < 70; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "d%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 8), "+442071234567", callee, cid, END_ANSWER_NO_BYE, 0, NULL);
        snprintf(cid, sizeof cid, "o%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 8 + 1), "+442071110000", callee, cid, END_ANSWER, 5, NULL);
        /* the customer's DDI block (a prefix entry) */
        snprintf(cid, sizeof cid, "b%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 8 + 2), i % 2 ? "+442079912345" : "+44-2079-900001", callee, cid,
             END_ANSWER, 5, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-VOL-001"), 1);
    const ev_event *v = find_rule(w.out, "FRAUD-VOL-001");
    CHECK(has_obs(v, "e164", "+442071110000", "caller"));
    CHECK(!has_obs(v, "e164", "+442071234567", "caller"));
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 210);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_allowed_caller, 140);
    world_free(&w);
    /* without the setting the dialer is FRAUD-VOL-001 (the test's control) */
    w = world_new(config_zones());
    for (int i = 0; i < 70; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4420794%05d", i);
        snprintf(cid, sizeof cid, "d%d", i);
        call(&w, pbx, gw, T0 + SEC(i * 8), "+442071234567", callee, cid, END_ANSWER_NO_BYE, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-VOL-001"), 1);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_allowed_caller, 0);
    world_free(&w);

    /* FRAUD-WANGIRI-001: 15 three-second rings to 15 numbers each, the
     * dialer from one trunk, another caller from another: only the other;
     * the dialer's short rings do not fall back to a source-keyed incident
     * against its trunk either */
    const char *trunk = "203.0.113.20:5060", *peer = "203.0.113.21:5060", *core = "10.0.0.60:5060";
    w = world_new(config_allow_callers());
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "wd%d", i);
        call(&w, trunk, core, T0 + SEC(i * 4), "+442071234567", callee, cid, END_CANCEL, 3, NULL);
        snprintf(cid, sizeof cid, "wo%d", i);
        call(&w, peer, core, T0 + SEC(i * 4 + 1), "+2521234567", callee, cid, END_CANCEL, 3, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    const ev_event *wg = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(has_obs(wg, "e164", "+2521234567", "caller"));
    CHECK(has_obs(wg, "ip", "203.0.113.21", "source"));
    world_free(&w);
    /* the dialer's short rings and rotating caller ids through one trunk:
     * the rotating ones alone (12) make the source-keyed incident, and its
     * counts hold none of the dialer's calls */
    w = world_new(config_allow_callers());
    for (int i = 0; i < 12; i++) {
        char callee[24], caller[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 300 + i);
        snprintf(caller, sizeof caller, "+25212345%02d", i);
        snprintf(cid, sizeof cid, "wr%d", i);
        call(&w, trunk, core, T0 + SEC(i * 4), caller, callee, cid, END_CANCEL, 2, NULL);
        snprintf(cid, sizeof cid, "wa%d", i);
        call(&w, trunk, core, T0 + SEC(i * 4 + 1), "+442071234567", callee, cid, END_ANSWER, 30, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    wg = find_rule(w.out, "FRAUD-WANGIRI-001");
    CHECK(!strcmp(dstr(wg, "keyed_by"), "source"));
    CHECK_EQ_INT(dint(wg, "calls"), 12);
    CHECK_EQ_INT(dint(wg, "answered"), 0);
    world_free(&w);
    /* the dialer alone, short rings to many numbers: quiet */
    w = world_new(config_allow_callers());
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "ws%d", i);
        call(&w, trunk, core, T0 + SEC(i * 4), "+442071234567", callee, cid, END_CANCEL, 3, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    if (w.out->n) dump(w.out);
    world_free(&w);

    /* FRAUD-IRSF-001: 8 satellite numbers from the dialer: no caller- nor
     * source-keyed incident; the same from another caller: one. FRAUD-IRSF-002
     * still judges the dialer: a 40-minute call to the range is reported. */
    const char *gw2 = "10.0.0.50:5060";
    w = world_new(config_allow_callers());
    for (int i = 0; i < 8; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+882161000%03d", i);
        snprintf(cid, sizeof cid, "ird%d", i);
        call(&w, "198.51.100.30:5060", gw2, T0 + SEC(i * 30), "+442071234567", callee, cid, END_BUSY, 0, NULL);
        snprintf(cid, sizeof cid, "iro%d", i);
        call(&w, "198.51.100.31:5060", gw2, T0 + SEC(i * 30 + 1), "+442071110000", callee, cid, END_BUSY, 0, NULL);
    }
    call(&w, "198.51.100.30:5060", gw2, T0 + SEC(600), "+442071234567", "+88216555000", "irlong", END_ANSWER, 2400,
         NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 1);
    const ev_event *ir = find_rule(w.out, "FRAUD-IRSF-001");
    CHECK(has_obs(ir, "e164", "+442071110000", "caller"));
    CHECK(has_obs(ir, "ip", "198.51.100.31", "source"));
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    const ev_event *lc = find_rule(w.out, "FRAUD-IRSF-002");
    CHECK(has_obs(lc, "e164", "+442071234567", "caller"));
    world_free(&w);
}

/* ---- allow list, live mode, JSON -------------------------------------------------------------- */

/* 250 OPTIONS from 203.0.113.12 to 192.0.2.20, one every step_s seconds
 * from T0 (Call-IDs cid_prefix0...), with an optional extra header. */
static void options_burst(world *w, const char *cid_prefix, double step_s, const char *extra) {
    for (int i = 0; i < 250; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "%s%d", cid_prefix, i);
        req(w, "203.0.113.12:5060", "192.0.2.20:5060", T0 + SEC(i * step_s), "OPTIONS", "sip:192.0.2.20",
            "<sip:x@203.0.113.12>;tag=1", "<sip:192.0.2.20>", cid, 1, extra, NULL);
    }
}

/* Capture times that step back a little -- HEP from two proxies whose clocks
 * are 50 ms apart, merged captures -- stay in the window: the burst is the
 * same incident with the same count as in order. Older code started a new
 * window at every step back (here it reported 249 of the 250). */
static void test_time_steps_back(void) {
    world w = world_new(config_default());
    for (int i = 0; i < 250; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "jt%d", i);
        uint64_t ts = T0 + SEC(i * 0.02) + (i % 2 ? 0 : SEC(0.05)); /* every other one 30 ms back */
        req(&w, "203.0.113.12:5060", "192.0.2.20:5060", ts, "OPTIONS", "sip:192.0.2.20",
            "<sip:x@203.0.113.12>;tag=1", "<sip:192.0.2.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK_MSG(f && f->count == 250, "SIP-FLOOD-001 with clocks 50 ms apart: %s, count %llu",
              f ? "raised" : "not raised", f ? (unsigned long long)f->count : 0ULL);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 1);
    world_free(&w);

    /* a step back by more than the window is another period: a new window */
    w = world_new(config_default());
    options_burst(&w, "a", 0.02, NULL);
    for (int i = 0; i < 5; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "old%d", i);
        req(&w, "203.0.113.12:5060", "192.0.2.20:5060", T0 - SEC(3600) + SEC(i), "OPTIONS", "sip:192.0.2.20",
            "<sip:x@203.0.113.12>;tag=1", "<sip:192.0.2.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(f && f->count == 250);
    world_free(&w);
}

/* 250 OPTIONS from src to 192.0.2.20 from base, one every step_s. */
static void options_burst_from(world *w, const char *src, const char *cid_prefix, uint64_t base, double step_s) {
    char from[64];
    snprintf(from, sizeof from, "<sip:x@%.*s>;tag=1", (int)(strrchr(src, ':') - src), src);
    for (int i = 0; i < 250; i++) {
        char cid[24];
        snprintf(cid, sizeof cid, "%s%d", cid_prefix, i);
        req(w, src, "192.0.2.20:5060", base + SEC(i * step_s), "OPTIONS", "sip:192.0.2.20", from,
            "<sip:192.0.2.20>", cid, 1, NULL, NULL);
    }
}

static int count_rule_n(const sink *s, const char *id, uint64_t count) {
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(det_rule_table[s->ev[i].rule].id, id) && s->ev[i].count == count) n++;
    return n;
}

/* Capture time that jumps: two floods two hours apart are two incidents
 * whatever happens to the clock in between, and every incident's span is
 * its own activity. Older code kept the engine's clock at the latest time
 * seen, so after files given out of order (`inspect b.pcap a.pcap`) or one
 * stray timestamp years ahead nothing closed any more: the floods became
 * one incident of 500 spanning two hours. */
static void test_time_jumps(void) {
    static const char *const src = "203.0.113.12:5060";
    /* files out of order: the later flood first */
    world w = world_new(config_default());
    options_burst_from(&w, src, "b", T0 + SEC(7200), 0.02);
    det_clock_follow(w.eng);
    options_burst_from(&w, src, "a", T0, 0.02);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 2);
    CHECK_EQ_INT(count_rule_n(w.out, "SIP-FLOOD-001", 250), 2);
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        CHECK_MSG(ev->last_us >= ev->first_us && ev->window_s < 60, "%s spans %.0f s",
                  det_rule_table[ev->rule].id, ev->window_s);
    }
    world_free(&w);

    /* one message stamped 20 years ahead, then two floods 2 h apart */
    w = world_new(config_default());
    req(&w, "198.51.100.7:5060", "192.0.2.20:5060", T0 + SEC(20.0 * 365 * 86400), "OPTIONS", "sip:192.0.2.20",
        "<sip:y@198.51.100.7>;tag=1", "<sip:192.0.2.20>", "stray", 1, NULL, NULL);
    options_burst_from(&w, src, "c", T0, 0.02);
    options_burst_from(&w, src, "d", T0 + SEC(7200), 0.02);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-001"), 2);
    CHECK_EQ_INT(count_rule_n(w.out, "SIP-FLOOD-001", 250), 2);
    world_free(&w);

    /* a 20 s answered call to a high-risk range with one unrelated message
     * stamped 10 years ahead in the middle (a corrupt record): not a
     * 10-year call (FRAUD-IRSF-002 fired with duration_s 315360000) */
    w = world_new(config_zones());
    call(&w, "198.51.100.31:5060", "10.0.0.50:5060", T0, "+442071234568", "+88216100999", "st1", END_ANSWER_NO_BYE,
         0, NULL);
    req(&w, "198.51.100.7:5060", "192.0.2.20:5060", T0 + SEC(10) + SEC(10.0 * 365 * 86400), "OPTIONS",
        "sip:192.0.2.20", "<sip:y@198.51.100.7>;tag=1", "<sip:192.0.2.20>", "stray2", 1, NULL, NULL);
    req(&w, "198.51.100.31:5060", "10.0.0.50:5060", T0 + SEC(22), "BYE", "sip:+88216100999@carrier.example;user=phone",
        "<sip:+442071234568@origin.example;user=phone>;tag=fst1",
        "<sip:+88216100999@carrier.example;user=phone>;tag=tst1", "st1", 2, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 0);
    world_free(&w);
    /* ...while a real gap of 2 h (two messages after it) still finds the call long */
    w = world_new(config_zones());
    call(&w, "198.51.100.31:5060", "10.0.0.50:5060", T0, "+442071234568", "+88216100999", "st2", END_ANSWER_NO_BYE,
         0, NULL);
    for (int i = 0; i < 2; i++)
        req(&w, "198.51.100.7:5060", "192.0.2.20:5060", T0 + SEC(7200 + i), "OPTIONS", "sip:192.0.2.20",
            "<sip:y@198.51.100.7>;tag=1", "<sip:192.0.2.20>", i ? "gap2" : "gap1", 1, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    world_free(&w);

    /* live mode, the sensor's clock corrected back by a day (NTP): what
     * was open is reported closed, and new incidents are reported when
     * they open, not a day later when capture time catches up */
    w = world_new(config_default());
    det_engine_set_live(w.eng, true);
    options_burst_from(&w, src, "e", T0 + SEC(86400), 0.002);
    det_tick(w.eng, T0 + SEC(86400) + SEC(2));
    CHECK_EQ_INT(w.out->opened, 1);
    options_burst_from(&w, "198.51.100.8:5060", "f", T0, 0.002);
    det_tick(w.eng, T0 + SEC(2));
    CHECK_EQ_INT(w.out->opened, 2); /* the new flood, reported open */
    CHECK_EQ_INT(w.out->closed, 1); /* the one of the day before the step */
    det_tick(w.eng, T0 + SEC(120));
    CHECK_EQ_INT(w.out->closed, 2); /* and the new one after its quiet window */
    world_finish(&w);
    CHECK_EQ_INT(w.out->closed, 2);
    world_free(&w);

    /* two clocks 400 s apart, interleaved (two capture points, one of them
     * wrong): the clock does not swing back and forth, closing and opening
     * incidents at every message (the first hit of the later clock is
     * past the first one's quiet window: one split at most) */
    w = world_new(config_default());
    for (int i = 0; i < 250; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "g%d", i);
        uint64_t ts = T0 + SEC(i * 0.02) + (i % 2 ? SEC(400) : 0);
        req(&w, src, "192.0.2.20:5060", ts, "OPTIONS", "sip:192.0.2.20", "<sip:x@203.0.113.12>;tag=1",
            "<sip:192.0.2.20>", cid, 1, "User-Agent: friendly-scanner\r\n", NULL);
    }
    world_finish(&w);
    CHECK_MSG(count_rule(w.out, "SIP-SCAN-001") <= 2, "%d incidents", count_rule(w.out, "SIP-SCAN-001"));
    for (int i = 0; i < w.out->n; i++) CHECK(w.out->ev[i].last_us >= w.out->ev[i].first_us);
    world_free(&w);

    /* a scanner with one of its messages stamped 10 years ahead (a corrupt
     * record), then 5 or 100 more at the old time: the stray counts, but no
     * incident runs (or is valid, for a BLOCK_SOURCE) until 10 years later
     * (the incident it opened took the later messages in: 6 in 10 years,
     * valid_until 10 years ahead; with 100 the clock stepped back after 64) */
    for (int after = 5; after <= 100; after += 95) {
        w = world_new(config_default());
        for (int i = 0; i < 6 + after; i++) {
            char cid[16];
            snprintf(cid, sizeof cid, "s%d", i);
            uint64_t ts = i < 5 ? T0 + SEC(i) : i == 5 ? T0 + SEC(5) + SEC(10.0 * 365 * 86400) : T0 + SEC(i * 0.5);
            req(&w, src, "192.0.2.20:5060", ts, "OPTIONS", "sip:192.0.2.20", "<sip:x@203.0.113.12>;tag=1",
                "<sip:192.0.2.20>", cid, 1, "User-Agent: friendly-scanner\r\n", NULL);
        }
        world_finish(&w);
        uint64_t total = 0;
        for (int i = 0; i < w.out->n; i++) {
            const ev_event *ev = &w.out->ev[i];
            if (ev->rule != R_SCAN_FINGERPRINT) continue;
            total += ev->count;
            CHECK_MSG(ev->window_s < 3600 && ev->valid_until_us < T0 + SEC(86400),
                      "%d after: %" PRIu64 " hits spanning %.0f s", after, ev->count, ev->window_s);
        }
        CHECK_EQ_INT(total, 6 + after);
        world_free(&w);
    }

    /* files out of order whose calls reuse the first file's Call-IDs (a
     * capture and the same one shifted 10 minutes later, given later one
     * first): every call of the first file times out as the clock steps
     * back, and each INVITE of the second is a new call. The calls table
     * was swept a sixteenth a second: most of the second file's INVITEs
     * passed for retransmissions of calls still held (about 20 of 40) */
    w = world_new(config_zones());
    for (int pass = 0; pass < 2; pass++) {
        if (pass) det_clock_follow(w.eng);
        for (int i = 0; i < 20; i++) {
            char callee[24], cid[16];
            snprintf(callee, sizeof callee, "+4477009%05d", 100 + i);
            snprintf(cid, sizeof cid, "ro%d", i);
            call(&w, "203.0.113.40:5060", "10.0.0.60:5060", T0 + SEC(i * 0.1) + (pass ? 0 : SEC(600)), "+33123456700",
                 callee, cid, END_BUSY, 0, NULL);
        }
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_started, 40);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_failed, 40);
    world_free(&w);
    /* a clock stepping back after 64 messages behind it (a sensor's clock
     * corrected): a call placed among them, stamped a second after the
     * message the clock steps back to (another capture point's jitter), is
     * of the new time, not of the time before the step: it stays up */
    w = world_new(config_zones());
    req(&w, "198.51.100.7:5060", "192.0.2.20:5060", T0 + SEC(3600), "OPTIONS", "sip:192.0.2.20",
        "<sip:y@198.51.100.7>;tag=1", "<sip:192.0.2.20>", "ahead", 1, NULL, NULL);
    {
        const char *ruri = "sip:+447700900555@carrier.example", *from = "<sip:+33123456701@origin.example>;tag=fj",
                   *to = "<sip:+447700900555@carrier.example>", *to_tag = "<sip:+447700900555@carrier.example>;tag=tj";
        req(&w, "203.0.113.41:5060", "10.0.0.60:5060", T0 + SEC(10), "INVITE", ruri, from, to, "jit", 1, NULL, NULL);
        resp(&w, "10.0.0.60:5060", "203.0.113.41:5060", T0 + SEC(10.5), 180, "Ringing", "INVITE", from, to_tag, "jit",
             1, NULL, NULL);
        for (int i = 0; i < 64; i++) {
            char cid[16];
            snprintf(cid, sizeof cid, "bh%d", i);
            req(&w, "198.51.100.7:5060", "192.0.2.20:5060", T0 + SEC(9), "OPTIONS", "sip:192.0.2.20",
                "<sip:y@198.51.100.7>;tag=1", "<sip:192.0.2.20>", cid, 1, NULL, NULL);
        }
        req(&w, "203.0.113.41:5060", "10.0.0.60:5060", T0 + SEC(12), "CANCEL", ruri, from, to, "jit", 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 1);
    world_free(&w);
}

/* A capture without timestamps (all 0: zeroed by an anonymiser, or pcapng
 * Simple Packet Blocks, which have none) is one instant: the flood in it is
 * still a flood. Older code took a window starting at 0 for "no window yet"
 * and started a new one at every message: no windowed rule ever fired. */
static void test_time_zero(void) {
    world w = world_new(config_default());
    options_burst_from(&w, "203.0.113.12:5060", "z", 0, 0);
    world_finish(&w);
    const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK_MSG(f && f->count == 250, "SIP-FLOOD-001 at time 0: %s", f ? "count differs" : "not raised");
    world_free(&w);

    /* one message without a timestamp among stamped ones (a pcapng Simple
     * Packet Block between Enhanced ones): at the clock's time, not 1970
     * (its sender's incident began in 1970 and spanned 53 years) */
    w = world_new(config_default());
    for (int i = 0; i < 11; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "n%d", i);
        req(&w, "203.0.113.12:5060", "192.0.2.20:5060", i == 5 ? 0 : T0 + SEC(i), "OPTIONS", "sip:192.0.2.20",
            "<sip:x@203.0.113.12>;tag=1", "<sip:192.0.2.20>", cid, 1, "User-Agent: friendly-scanner\r\n", NULL);
    }
    world_finish(&w);
    f = find_rule(w.out, "SIP-SCAN-001");
    CHECK_MSG(f && f->count == 11 && f->first_us == T0 && f->last_us == T0 + SEC(10),
              "SIP-SCAN-001 with an unstamped message: %s, window %.0f s", f ? "span differs" : "not raised",
              f ? f->window_s : 0.0);
    world_free(&w);
}

/* Capture times beyond what an event can carry (pcapng timestamps are
 * 64-bit, and if_tsoffset adds to them) stop at 9998-01-01: every time
 * prints as RFC 3339 with a 4-digit year and no sum of a time and a
 * window or ttl wraps around. Older code wrote "first_seen":"33715-08-22..." */
static void test_time_far_future(void) {
    world w = world_new(config_default());
    options_burst_from(&w, "203.0.113.12:5060", "y", 1000000000000ULL * FS_USEC, 0.02);
    world_finish(&w);
    const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(f && f->count == 250);
    char buf[16384];
    if (f && ev_to_json(f, buf, sizeof buf)) {
        json_error_t je;
        json_t *o = json_loads(buf, 0, &je);
        const char *first = json_string_value(json_object_get(o, "first_seen"));
        const char *valid = json_string_value(json_object_get(o, "valid_until"));
        CHECK_MSG(first && strlen(first) == 24, "first_seen %s", first ? first : "(none)");
        CHECK_MSG(valid && strlen(valid) == 24 && valid[4] == '-', "valid_until %s", valid ? valid : "(none)");
        json_decref(o);
    }
    world_free(&w);
}

/* A response's sender is given a source entry when it opens an incident
 * keyed by it (TOP TALKERS): never by evicting the requester of that very
 * response, whose entry the rest of the message's detectors still hold
 * (c->requester). Older code evicted it when it was its full bucket's
 * least recent (here: every time equal), and c->requester then pointed to
 * the responder's fresh entry: the requester vanished from TOP TALKERS. */
static void test_talker_keeps_requester(void) {
    fs38_config *cfg = config_default();
    cfg->max_sources = 8; /* one bucket of 8 */
    world w = world_new(cfg);
    for (int i = 0; i < 8; i++) { /* the bucket full, every stamp the same */
        char src[32], cid[16];
        snprintf(src, sizeof src, "198.51.100.%d:5060", 10 + i);
        snprintf(cid, sizeof cid, "kr%d", i);
        req(&w, src, "10.0.0.13:5060", T0, "OPTIONS", "sip:a@10.0.0.13", "<sip:c@x>;tag=3",
            "<sip:a@10.0.0.13>", cid, 1, NULL, NULL);
    }
    /* a garbled answer to the first (the least recent): SIP-MAL-001 against 10.0.0.13 */
    send_raw(&w, "10.0.0.13:5060", "198.51.100.10:5060", T0,
             "SIP/2.0 500 Oops\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKr\r\n"
             "From: \"Broken <sip:c@x>;tag=3\r\nTo: <sip:a@10.0.0.13>;tag=4\r\nCall-ID: kr0\r\n"
             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    CHECK_EQ_INT(talker_incidents(&w, "198.51.100.10"), 0); /* still tracked, not replaced */
    CHECK_EQ_INT((int)w.eng->stats.sources_evicted, 0);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-MAL-001"), 1);
    world_free(&w);
}

/* After the clock steps back, the entries stamped before the step do not
 * squat the table: a scanner active after the step keeps its counts while
 * newcomers replace the old entries. Older code ranked the old entries as
 * the most recent (their stamps are ahead of the clock), so every newcomer
 * replaced the scanner's entry and its scan was never seen. */
static void test_time_step_eviction(void) {
    fs38_config *cfg = config_default();
    cfg->max_sources = 8; /* one bucket of 8 */
    world w = world_new(cfg);
    for (int i = 0; i < 8; i++) { /* a day ahead: the table full */
        char src[32], cid[16];
        snprintf(src, sizeof src, "198.51.100.%d:5060", 10 + i);
        snprintf(cid, sizeof cid, "old%d", i);
        req(&w, src, "192.0.2.20:5060", T0 + SEC(86400) + SEC(i), "REGISTER", "sip:192.0.2.20",
            "<sip:u@192.0.2.20>;tag=1", "<sip:u@192.0.2.20>", cid, 1, NULL, NULL);
    }
    det_clock_follow(w.eng); /* the next file, a day earlier: */
    for (int i = 0; i < 30; i++) { /* a scan mixed with newcomers */
        char dst[32], cid[16], src[32];
        snprintf(dst, sizeof dst, "192.0.2.%d:5060", 100 + i);
        snprintf(cid, sizeof cid, "scan%d", i);
        req(&w, "203.0.113.66:5060", dst, T0 + SEC(i * 0.1), "OPTIONS", "sip:100@192.0.2.1",
            "<sip:100@203.0.113.66>;tag=1", "<sip:100@192.0.2.1>", cid, 1, NULL, NULL);
        snprintf(src, sizeof src, "198.51.100.%d:5060", 100 + i % 6);
        snprintf(cid, sizeof cid, "new%d", i);
        req(&w, src, "192.0.2.20:5060", T0 + SEC(i * 0.1) + SEC(0.05), "REGISTER", "sip:192.0.2.20",
            "<sip:u@192.0.2.20>;tag=1", "<sip:u@192.0.2.20>", cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_MSG(find_rule(w.out, "SIP-SCAN-002") != NULL, "SIP-SCAN-002 not raised (scanner evicted %llu times)",
              (unsigned long long)w.eng->stats.sources_evicted);
    world_free(&w);
}

/* A hit that adds nothing (the second anomaly of one rule in a message)
 * to an incident evicted since the message's first hit still opens a new
 * one with count 1, never 0. Capture time stepping back makes the fresh
 * incident the least recent of a full bucket, so the next new incident in
 * that bucket evicts it (found by fuzz_detect, 2026-11-26). */
static void test_zero_add_after_eviction(void) {
    fs38_config *cfg = config_default();
    cfg->max_incidents = 16; /* 2 buckets of 8 */
    world w = world_new(cfg);
    det_ctx c = {.eng = w.eng, .ts = T0 + SEC(10), .src_zone = -1, .dst_zone = -1, .requester_zone = -1};
    for (uint64_t k = 100; k < 132; k++) det_hit(&c, R_MAL_MESSAGE, k, 1, NULL); /* both buckets full */
    c.ts = T0;                                   /* 10 s back */
    det_hit(&c, R_MAL_MESSAGE, 1, 1, NULL);      /* first anomaly: opens X */
    uint64_t evicted = w.eng->stats.incidents_evicted;
    for (uint64_t k = 200; k < 208; k++) det_hit(&c, R_PROTO_OTHER, k, 1, NULL); /* one lands in X's bucket */
    det_hit(&c, R_MAL_MESSAGE, 1, 0, NULL);      /* second anomaly of X's rule */
    CHECK(w.eng->stats.incidents_evicted > evicted);
    world_finish(&w);
    int zero = 0, reopened = 0;
    for (int i = 0; i < w.out->n; i++) {
        if (w.out->ev[i].count == 0) zero++;
        if (w.out->ev[i].rule == R_MAL_MESSAGE && w.out->ev[i].first_us == T0) reopened++;
    }
    CHECK_EQ_INT(reopened, 2); /* X's first report (evicted) and the one the zero add opened */
    CHECK_EQ_INT(zero, 0);
    world_free(&w);
}

/* Live mode: the reports of a long incident, each with the engine's clock
 * when it was made, to check that every version is followed by the next
 * before its valid_until while the activity goes on. */
typedef struct lapse_sink {
    const det_engine *eng;
    int n;
    uint64_t made_us[64], valid_until_us[64];
} lapse_sink;

static void on_lapse_event(void *user, const ev_event *ev, bool final) {
    lapse_sink *s = user;
    if (s->n == 64 || (final && ev->unchanged)) return;
    s->made_us[s->n] = s->eng->now_us;
    s->valid_until_us[s->n++] = ev->valid_until_us;
}

/* A scan going on for 8 s under a rule with ttl_s 2: receivers act on a
 * version until its valid_until (last_seen + 2 s); the engine ticks once a
 * second, so "half the ttl since the last report" alone came a tick too
 * late, and the block lapsed between versions. */
static void test_live_short_ttl(void) {
    fs38_config *cfg = config_yaml(NULL, "rules:\n  SIP-SCAN-001: {ttl_s: 2, window_s: 2}\n");
    lapse_sink s = {0};
    fs_err e = {0};
    det_engine *eng = det_engine_new(cfg, on_lapse_event, &s, &e);
    CHECK(eng != NULL);
    if (!eng) {
        free(cfg);
        return;
    }
    s.eng = eng;
    det_engine_set_live(eng, true);
    const uint64_t end = T0 + SEC(8);
    /* a probe every 300 ms; the clock ticks every 500 ms (live input ticks
     * on the wall clock, between messages) */
    for (int ms = 0, i = 0; ms <= 8000; ms += 100) {
        if (ms % 500 == 0) det_tick(eng, T0 + (uint64_t)ms * 1000);
        if (ms % 300) continue;
        char cid[16], buf[512];
        snprintf(cid, sizeof cid, "st%d", i++);
        snprintf(buf, sizeof buf,
                 "OPTIONS sip:100@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.12:5060;branch=z9hG4bK%s\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:100@203.0.113.12>;tag=1\r\nTo: <sip:100@192.0.2.20>\r\n"
                 "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n",
                 cid, cid);
        cap_payload p = {.data = (const uint8_t *)buf, .len = (uint32_t)strlen(buf), .src = ep("203.0.113.12:5060"),
                         .dst = ep("192.0.2.20:5060"), .transport = CAP_T_UDP, .ts_us = T0 + (uint64_t)ms * 1000};
        det_process(eng, &p);
    }
    det_finish(eng);
    CHECK(s.n >= 4);
    for (int i = 0; i + 1 < s.n; i++)
        if (s.valid_until_us[i] < end)
            CHECK_MSG(s.made_us[i + 1] <= s.valid_until_us[i],
                      "version %d valid until %.1f s, the next made at %.1f s: the block lapsed meanwhile", i + 1,
                      (double)(s.valid_until_us[i] - T0) / 1e6, (double)(s.made_us[i + 1] - T0) / 1e6);
    det_engine_free(eng);
    free(cfg);
}

/* Live mode: an enumeration reported open on the server's answers, then
 * the attacker's last probe (no answer): the incident's last_seen grows to
 * it without its count changing. The close must report that (the next
 * version), as a file run does, not be taken for unchanged and dropped:
 * receivers would hold an earlier last_seen and valid_until than a file
 * run of the same traffic gives. */
static void test_live_close_after_last_probe(void) {
    const char *att = "203.0.113.9:5070", *srv = "192.0.2.10:5060";
    uint64_t file_last = 0, probe = T0 + SEC(12);
    for (int live = 0; live < 2; live++) {
        world w = world_new(config_default());
        det_engine_set_live(w.eng, live);
        for (int i = 0; i < 15; i++) { /* the threshold: it opens on the last answer */
            char user[16], cid[16];
            snprintf(user, sizeof user, "%d", 100 + i);
            snprintf(cid, sizeof cid, "lp%d", i);
            register_reply(&w, att, srv, T0 + SEC(i * 0.5), user, cid, 1, NULL, 404, "Not Found", NULL);
        }
        det_tick(w.eng, T0 + SEC(10)); /* live: version 1 goes out */
        req(&w, att, srv, probe, "REGISTER", "sip:pbx.example", "<sip:999@pbx.example>;tag=z",
            "<sip:999@pbx.example>", "lp-last", 1, NULL, NULL);
        det_tick(w.eng, T0 + SEC(400)); /* quiet: the incident closes */
        world_finish(&w);
        const ev_event *en = find_rule(w.out, "SIP-ENUM-001");
        CHECK(en != NULL);
        if (en && !live) file_last = en->last_us;
        if (en && live) {
            CHECK_MSG(en->last_us == file_last, "live last_seen %.3f s, file run %.3f s",
                      (double)(en->last_us - T0) / 1e6, (double)(file_last - T0) / 1e6);
            CHECK(en->valid_until_us == en->last_us + (uint64_t)en->ttl_s * FS_USEC);
            CHECK(en->version == 2 && !en->unchanged);
        }
        world_free(&w);
    }
    CHECK(file_last == probe);
}

static void test_allow_and_live(void) {
    fs38_config *cfg = config_default();
    fs_err e = {0};
    const char *yaml = "allow_sources: [203.0.113.12/32]\n";
    CHECK(cfg_load_buffer(cfg, yaml, strlen(yaml), ".", &e) == FS_OK);
    world w = world_new(cfg);
    options_burst(&w, "al", 0.02, "User-Agent: friendly-scanner\r\n");
    world_finish(&w);
    CHECK_EQ_INT(w.out->n, 0);
    world_free(&w);

    /* live mode: reported when opened (version 1) and again when closed
     * after more activity (version 2) */
    w = world_new(config_default());
    det_engine_set_live(w.eng, true);
    options_burst(&w, "lv", 0.02, NULL);
    /* time passes: the incident closes after its window of quiet */
    req(&w, "198.51.100.1:5060", "192.0.2.20:5060", T0 + SEC(100), "OPTIONS", "sip:192.0.2.20",
        "<sip:x@198.51.100.1>;tag=1", "<sip:192.0.2.20>", "later", 1, NULL, NULL);
    CHECK_EQ_INT(w.out->opened, 1);
    CHECK_EQ_INT(w.out->closed, 1);
    const ev_event *f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(f && f->version == 2 && f->count == 250 && !f->unchanged);
    world_finish(&w);
    CHECK_EQ_INT(w.out->closed, 1);
    world_free(&w);

    /* live mode, an incident complete when first reported: its close is
     * still reported (so it is counted), marked unchanged, version 1 */
    w = world_new(config_default());
    det_engine_set_live(w.eng, true);
    options_burst(&w, "lu", 0.002, NULL);
    req(&w, "198.51.100.1:5060", "192.0.2.20:5060", T0 + SEC(2), "OPTIONS", "sip:192.0.2.20",
        "<sip:x@198.51.100.1>;tag=1", "<sip:192.0.2.20>", "tick", 1, NULL, NULL);
    CHECK_EQ_INT(w.out->opened, 1); /* reported at the tick, with its whole count */
    req(&w, "198.51.100.1:5060", "192.0.2.20:5060", T0 + SEC(100), "OPTIONS", "sip:192.0.2.20",
        "<sip:x@198.51.100.1>;tag=1", "<sip:192.0.2.20>", "later2", 1, NULL, NULL);
    CHECK_EQ_INT(w.out->closed, 1);
    f = find_rule(w.out, "SIP-FLOOD-001");
    CHECK(f && f->unchanged && f->version == 1 && f->count == 250);
    world_finish(&w);

    /* the event serialises to the spec's shape */
    char buf[16384];
    size_t n = f ? ev_to_json(f, buf, sizeof buf) : 0;
    CHECK(n > 0 && buf[n - 1] == '\n');
    json_error_t je;
    json_t *o = n ? json_loads(buf, 0, &je) : NULL;
    CHECK(o != NULL);
    if (o) {
        const char *required[] = {"schema_version", "event_id", "version", "status", "issuer", "created",
                                  "first_seen", "last_seen", "valid_until", "event_type", "domain",
                                  "severity", "confidence", "rule", "observables", "evidence",
                                  "recommended_action", "handling"};
        for (size_t i = 0; i < sizeof required / sizeof *required; i++)
            CHECK_MSG(json_object_get(o, required[i]) != NULL, "missing %s", required[i]);
        json_t *ev = json_object_get(o, "evidence");
        CHECK(json_integer_value(json_object_get(ev, "count")) == 250);
        CHECK(json_is_object(json_object_get(ev, "details")));
        CHECK(!strcmp(json_string_value(json_object_get(json_object_get(ev, "sample"), "src")),
                      "203.0.113.12:5060"));
        CHECK(!strcmp(json_string_value(json_object_get(json_object_get(o, "handling"), "tlp")), "amber"));
        CHECK(!strcmp(json_string_value(json_object_get(json_object_get(o, "rule"), "id")), "SIP-FLOOD-001"));
        CHECK(!strcmp(json_string_value(json_object_get(o, "first_seen")), "2025-11-25T10:40:00.000Z"));
        json_decref(o);
    }
    world_free(&w);
}

/* ---- memory bound ---------------------------------------------------------------------------- */

static void test_memory_bound(void) {
    fs38_config *cfg = config_default();
    cfg->max_sources = 4096;
    cfg->max_dialogs = 4096;
    world w = world_new(cfg);
    det_memory m0, m1;
    const char *tmpl = "OPTIONS sip:192.0.2.30 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1;branch=z9hG4bK1\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:192.0.2.30>\r\nCall-ID: m\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    cap_payload p = {0};
    p.data = (const uint8_t *)tmpl;
    p.len = (uint32_t)strlen(tmpl);
    p.dst = ep("192.0.2.30:5060");
    p.src.port = 5060;
    p.src.addr.family = 4;
    for (uint32_t i = 0; i < 200000; i++) {
        uint32_t a = 0xc6120000u + i; /* 198.18.0.0/15 and on */
        p.src.addr.ip[0] = (uint8_t)(a >> 24);
        p.src.addr.ip[1] = (uint8_t)(a >> 16);
        p.src.addr.ip[2] = (uint8_t)(a >> 8);
        p.src.addr.ip[3] = (uint8_t)a;
        p.ts_us = T0 + (uint64_t)i * 100;
        det_process(w.eng, &p);
        if (i == 20000) det_engine_memory(w.eng, &m0);
    }
    det_engine_memory(w.eng, &m1);
    CHECK(m1.sources_live <= m1.sources_cap);
    CHECK(m1.sources_cap >= 4096 && m1.sources_cap <= 8192);
    CHECK(det_engine_stats(w.eng)->sources_evicted > 150000);
    CHECK_EQ_INT(m1.total_bytes - (size_t)m1.incidents_live * sizeof(ev_event),
                 m0.total_bytes - (size_t)m0.incidents_live * sizeof(ev_event));
    CHECK(m1.total_bytes < 16u * 1024 * 1024);
    CHECK(m1.source_entry > 0 && m1.call_entry > 0 && m1.incident_entry > 0);
    /* the bound counts every incident slot with its event, open or not: what a
     * flood of incidents (one per spoofed source) can reach */
    CHECK_EQ_INT(m1.bound_bytes, m1.total_bytes + (size_t)(m1.incidents_cap - m1.incidents_live) * sizeof(ev_event));
    CHECK_EQ_INT(m1.bound_bytes, m0.bound_bytes);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-FLOOD-002"), 1); /* 200k in 20 s toward one host */
    CHECK_EQ_INT(det_engine_stats(w.eng)->messages, 200000);
    world_free(&w);
}

/* ---- hostile input ---------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}


/* det_from_to_user takes the From/To URI sip_parse already found when the
 * value is plain: it must give what det_header_user (the full name-addr and
 * URI parse) gives, for plain values, others, and damaged ones. */
static void test_from_to_user(void) {
    const char *values[] = {
        "<sip:1001@pbx.example.com>;tag=a1", "\"Alice\" <sip:alice@10.0.0.1:5060;transport=udp>;tag=9",
        "Bob <sips:bob:secret@[2001:db8::1]:5061>", "<sip:pbx.example.com>", "<sip:@x>;tag=1",
        "<sip:+44%2070@x;user=phone>", "<sip:a;b=c@host;lr>", "<sip:host;x=a@b>", "sip:1002@x;tag=3",
        "<tel:+88216123>", "<sip:1@x:000001>", "<sip:1@x:99999>", "\"sip:1@x\" <sip:2@y>",
        "<SIP:3@z>", "<sip:4@z>;;tag=1", "A B <sip:5@z>", "<sip:6@z?subject=x>", "<sip:7@>",
    };
    const char *ruris[] = {"sip:x@y", "sip:1001@pbx.example.com;user=phone", "sips:bob:pw@[2001:db8::1]:5061",
                           "sip:pbx.example.com", "sip:@x", "sip:a;b=c@host;lr", "sip:1@x:000001", "tel:+88216123",
                           "sip:6@z?subject=x", "SIP:3@z", "sip:7@", "sip:host;x=a@b"};
    sip_limits lim;
    sip_limits_default(&lim);
    static sip_msg m;
    char buf[512];
    unsigned fast = 0, full = 0, ruri_fast = 0, bad = 0; /* mismatches are reported one by one */
    for (int i = 0; i < 20000; i++) {
        const char *from = values[rng() % (sizeof values / sizeof *values)];
        const char *to = values[rng() % (sizeof values / sizeof *values)];
        const char *ruri = ruris[rng() % (sizeof ruris / sizeof *ruris)];
        int n = snprintf(buf, sizeof buf,
                         "OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: %s\r\nTo: %s\r\n"
                         "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ruri, from, to);
        size_t len = (size_t)n;
        int flips = i < 2000 ? 0 : (int)(rng() % 3);
        for (int k = 0; k < flips; k++) { /* damage the URIs and From/To (not the method) */
            uint64_t r = rng();
            buf[8 + r % (len - 8)] = "@:;<>\" x1"[(r >> 32) % 9];
        }
        if (sip_parse(&m, buf, len, &lim, SIP_PARSE_DATAGRAM) != SIP_PARSE_OK) continue;
        sip_uri ru;
        fs_str want_user = sip_uri_parse(m.ruri, &ru) ? ru.user : FS_STR_NULL, ruser = det_ruri_user(&m);
        if (!(ruser.len == want_user.len && (!ruser.len || ruser.p == want_user.p)))
            CHECK_MSG(++bad == 0, "R-URI %.*s", (int)m.ruri.len, m.ruri.p);
        if (m.pre_ok & SIP_PRE_RURI) ruri_fast++;
        for (unsigned w = 0; w < 2; w++) {
            fs_str a = det_from_to_user(&m, w), b = det_header_user(w ? m.to : m.from);
            sip_nameaddr na;
            fs_str v = w ? m.to : m.from, uri = det_from_to_uri(&m, w);
            sip_anomaly why = sip_nameaddr_check(v, &na); /* the <uri> also of a broken name-addr */
            fs_str want = why == SIP_A_NONE || na.bracketed ? na.uri : v;
            if (!(uri.len == want.len && uri.p == want.p)) CHECK_MSG(++bad == 0, "URI of %.*s", (int)v.len, v.p);
            if (m.pre_ok & (SIP_PRE_FROM << w)) fast++;
            else full++;
            if (!(a.len == b.len && (!a.len || a.p == b.p)))
                CHECK_MSG(++bad == 0, "%s %.*s: %.*s vs %.*s", w ? "To" : "From",
                      (int)(w ? m.to.len : m.from.len), w ? m.to.p : m.from.p, (int)a.len, a.p ? a.p : "",
                      (int)b.len, b.p ? b.p : "");
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(fast > 1000 && full > 1000 && ruri_fast > 1000); /* both paths were taken */
}

/* Mutated call flows, truncations and empty payloads through the whole
 * engine (with zones, ranges, every detector): nothing may crash (ASan and
 * UBSan abort the run) and the statistics must add up. */
static void test_hostile_input(void) {
    world w = world_new(config_zones());
    const char *seeds[] = {
        "INVITE sip:+88216123@10.0.0.1;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKx;received=10.2.2.2\r\n"
        "Max-Forwards: 70\r\nFrom: \"A\" <sip:+447700900123@ims.example.net>;tag=1\r\nTo: <tel:+88216123>\r\n"
        "Call-ID: h1\r\nCSeq: 1 INVITE\r\nP-Asserted-Identity: <sip:+0123@x>, <tel:+12ab>\r\n"
        "Authorization: Digest username=\"1001\", realm=\"x\"\r\nRecord-Route: <sip:10.3.3.3;lr>, <sip:[fd00::1];lr>\r\n"
        "Contact: <sip:10.0.0.9>\r\nUser-Agent: friendly-scanner 1.2\r\nWarning: 399 h \"w\"\r\n"
        "Content-Type: application/sdp\r\nContent-Length: 60\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.5.5.5\r\nc=IN IP4 10.5.5.6\r\nm=audio 1 RTP/AVP 0\r\n",
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKy\r\nFrom: <sip:1@x>;tag=1\r\n"
        "To: <sip:1@x>;tag=2\r\nCall-ID: h1\r\nCSeq: 1 INVITE\r\nWWW-Authenticate: Digest stale=true\r\n"
        "Server: X 1.2\r\nContent-Length: 0\r\n\r\n",
        "CANCEL sip:x SIP/2.0\r\nCall-ID: h1\r\nCSeq: 1 CANCEL\r\nFrom: <sip:anonymous@x>\r\nTo: <sip:+@x>\r\n\r\n",
    };
    const char *ends[] = {"10.0.0.9:5060", "203.0.113.1:5060", "192.0.2.9:5060", "[2001:db8::7]:5060"};
    char buf[2048];
    for (int i = 0; i < 30000; i++) {
        const char *seed = seeds[rng() % 3];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int flips = (int)(rng() % 6);
        for (int k = 0; k < flips; k++) {
            uint64_t r = rng();
            buf[r % len] = (char)(r >> 32);
        }
        if (rng() % 8 == 0) len = rng() % (len + 1);
        cap_payload p = {0};
        p.data = (const uint8_t *)buf;
        p.len = (uint32_t)len;
        p.src = ep(ends[rng() % 4]);
        p.dst = ep(ends[rng() % 4]);
        p.ts_us = T0 + (uint64_t)i * 20000 + (rng() % 3 == 0 ? 0 : rng() % 1000000);
        det_process(w.eng, &p);
    }
    world_finish(&w);
    const det_stats *st = det_engine_stats(w.eng);
    CHECK_EQ_INT(st->payloads, 30000);
    CHECK_EQ_INT(st->messages + st->not_sip, 30000);
    CHECK_EQ_INT(st->requests + st->responses, st->messages);
    CHECK(w.out->n > 0);
    CHECK_EQ_INT(st->events_opened, st->events_closed);
    world_free(&w);
}

/* ---- events (ev.c): hostile text in, valid JSON out ---------------------------------------- */

static void test_events(void) {
    char out[16];
    ev_copy_text(out, sizeof out, FS_STR_LIT("a\x01" "b\xff\xc0\x80" "c"));
    CHECK(!strcmp(out, "a b???c"));
    ev_copy_text(out, 6, FS_STR_LIT("abcd\xc3\xa9")); /* "abcd" + e-acute does not fit in 5 bytes */
    CHECK(!strcmp(out, "abcd"));
    ev_copy_text(out, sizeof out, FS_STR_LIT("\xed\xa0\x80" "x")); /* a UTF-16 surrogate in UTF-8 */
    CHECK(!strcmp(out, "???x"));
    /* C1 controls are control characters too: U+009B is CSI to a terminal (jq -r) */
    ev_copy_text(out, sizeof out, FS_STR_LIT("a\xc2\x9b" "2J\xc2\x85" "b\xc2\xa0" "c"));
    CHECK(!strcmp(out, "a 2J b\xc2\xa0" "c"));
    char id[40];
    ev_uuid7(T0, id);
    CHECK(strlen(id) == 36 && id[14] == '7' && strchr("89ab", id[19]) != NULL);
    CHECK(!strncmp(id, "019aba", 6)); /* 48-bit milliseconds of 2025-11-25T10:40Z */

    ev_event *ev = calloc(1, sizeof *ev);
    ev->version = 1;
    ev->rule = R_SCAN_FINGERPRINT;
    ev->first_us = ev->last_us = ev->created_us = ev->valid_until_us = T0;
    snprintf(ev->issuer, sizeof ev->issuer, "org:234-15");
    ev_add_observable(ev, "ip", "203.0.113.7", "source");
    ev_add_observable(ev, "ip", "203.0.113.7", "source"); /* duplicates are dropped */
    ev_add_observable(ev, "sip_user_agent", "\"quoted\" \\ agent", "tool");
    for (int i = 0; i < EV_MAX_DETAILS + 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        ev_set_int(ev, key, i);
    }
    ev_set_int(ev, "k0", 42); /* overwrites */
    CHECK_EQ_INT(ev->nobs, 2);
    CHECK_EQ_INT(ev->ndetails, EV_MAX_DETAILS);
    CHECK_EQ_INT(ev_get_detail(ev, "k0")->i, 42);
    char buf[16384];
    size_t n = ev_to_json(ev, buf, sizeof buf);
    CHECK(n > 0);
    json_error_t je;
    json_t *o = json_loads(buf, 0, &je);
    CHECK(o != NULL);
    if (o) {
        json_t *obs = json_object_get(o, "observables");
        CHECK_EQ_INT(json_array_size(obs), 2);
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(obs, 1), "value")), "\"quoted\" \\ agent"));
        CHECK(!strcmp(json_string_value(json_object_get(o, "status")), "active"));
        json_decref(o);
    }
    CHECK_EQ_INT(ev_to_json(ev, buf, 64), 0); /* too small: refused, not truncated */
    free(ev);
}

/* ---- evasions: equivalent forms an attacker who knows the rules uses ---------------- */

/* A sweep of n targets with method from src; totag: a bogus To-tag, which
 * makes the request look in-dialog (the server still answers 481). */
static void sweep(world *w, const char *src, const char *method, bool totag, int n) {
    for (int i = 0; i < n; i++) {
        char dst[32], ruri[48], to[64], cid[24];
        snprintf(dst, sizeof dst, "192.0.2.%d:5060", i + 1);
        snprintf(ruri, sizeof ruri, "sip:100@192.0.2.%d", i + 1);
        snprintf(to, sizeof to, "<sip:100@192.0.2.%d>%s", i + 1, totag ? ";tag=bogus" : "");
        snprintf(cid, sizeof cid, "sw%s%d", method, i);
        req(w, src, dst, T0 + SEC(i * 0.2), method, ruri, "<sip:100@198.51.100.1>;tag=a1", to, cid, 1, NULL, NULL);
    }
}

/* A call centre's PBX places 40 calls in a minute through its carrier's
 * proxy, which does not record-route: each answer names one of the
 * carrier's 25 gateways as its Contact, and the PBX's ACK and BYE go there
 * (RFC 3261 12.2.1.1). Hanging up its own calls is no scan (it was
 * SIP-SCAN-002, 25 targets, method BYE). BYEs to the same 25 gateways with
 * a To-tag no answer gave (a scanner's) still are one. */
static void pbx_calls_via_carrier(world *w, bool own_tags) {
    const char *pbx = "198.51.100.70:5060", *proxy = "203.0.113.100:5060";
    for (int i = 0; i < 40; i++) {
        char gw[32], ruri[64], gwuri[64], to[96], tt[128], cid[16], contact[96], bye_to[128];
        snprintf(gw, sizeof gw, "203.0.113.%d:5060", 1 + i % 25);
        snprintf(ruri, sizeof ruri, "sip:+4479%08d@carrier.example", 20000000 + i);
        snprintf(gwuri, sizeof gwuri, "sip:+4479%08d@%s", 20000000 + i, gw);
        snprintf(to, sizeof to, "<%s>", ruri);
        snprintf(tt, sizeof tt, "<%s>;tag=g%d", ruri, i);
        snprintf(bye_to, sizeof bye_to, "<%s>;tag=%s%d", ruri, own_tags ? "g" : "x", i);
        snprintf(cid, sizeof cid, "out%d", i);
        snprintf(contact, sizeof contact, "Contact: <%s>\r\n", gwuri);
        const char *from = "<sip:+442071239999@example.net>;tag=o";
        uint64_t t = T0 + SEC(1.5 * i);
        req(w, pbx, proxy, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(w, proxy, pbx, t + SEC(1.5), 180, "Ringing", "INVITE", from, tt, cid, 1, contact, NULL);
        resp(w, proxy, pbx, t + SEC(5.5), 200, "OK", "INVITE", from, tt, cid, 1, contact, NULL);
        req(w, pbx, gw, t + SEC(5.6), "ACK", gwuri, from, tt, cid, 1, NULL, NULL);
        req(w, pbx, gw, t + SEC(25), "BYE", gwuri, from, bye_to, cid, 2, NULL, NULL);
    }
}

/* A sweep of busy servers: 25 PBXs, each qualifying 300 addresses of its
 * own (more than a 511-bit sketch of its peers holds), then one source
 * sends OPTIONS to all 25 in 5 s. A probe is not discounted as a reply
 * unless that PBX itself sent a request to the prober: the peers of one
 * busy server once answered "yes" for about half of all addresses, and
 * the sweep counted 14 targets, under the threshold of 20. */
static void test_scan_busy_targets(void) {
    world w = world_new(config_default());
    for (int p = 0; p < 25; p++) {
        char pbx[32];
        snprintf(pbx, sizeof pbx, "10.1.0.%d:5060", p + 1);
        for (int j = 0; j < 300; j++) {
            char ph[48], ruri[64];
            snprintf(ph, sizeof ph, "10.%d.%d.%d:5060", 2 + p, j / 250, j % 250 + 1);
            snprintf(ruri, sizeof ruri, "sip:%.*s", (int)(strrchr(ph, ':') - ph), ph);
            req(&w, pbx, ph, T0 + SEC(j * 1.0 + p * 0.01), "OPTIONS", ruri, "<sip:pbx@pbx.example>;tag=q",
                "<sip:phone@pbx.example>", "qualify", 1 + (unsigned)j, NULL, NULL);
        }
    }
    for (int p = 0; p < 25; p++) {
        char pbx[32], ruri[48];
        snprintf(pbx, sizeof pbx, "10.1.0.%d:5060", p + 1);
        snprintf(ruri, sizeof ruri, "sip:100@10.1.0.%d", p + 1);
        req(&w, "203.0.113.9:5070", pbx, T0 + SEC(400 + p * 0.2), "OPTIONS", ruri, "<sip:100@x.example>;tag=z",
            "<sip:100@x.example>", "sweep", 1, NULL, NULL);
    }
    world_finish(&w);
    const ev_event *sc = find_rule_from(w.out, "SIP-SCAN-002", "203.0.113.9");
    CHECK_MSG(sc != NULL, "a sweep of 25 busy PBXs is not a scan");
    CHECK(sc && sc->count == 25 && dint(sc, "distinct_targets") >= 23);
    world_free(&w);
}

static void test_scan_hangup_at_gateways(void) {
    world w = world_new(config_default());
    pbx_calls_via_carrier(&w, true);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 0);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_answered, 40);
    world_free(&w);
    w = world_new(config_default());
    pbx_calls_via_carrier(&w, false);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    world_free(&w);
    /* one call answered (an IVR behind the public number), then its
     * dialog's tags on OPTIONS to 60 other addresses, each answered 481 by
     * a SIP server: a sweep, not a dialog (no event: every request was
     * taken for the dialog's, wherever it went) */
    w = world_new(config_default());
    const char *att = "203.0.113.50:5060";
    call(&w, att, "192.0.2.10:5060", T0, "+442071234567", "+442079460000", "ivr1", END_ANSWER_NO_BYE, 1, NULL);
    for (int i = 0; i < 60; i++) {
        char dst[32], ruri[48];
        snprintf(dst, sizeof dst, "198.51.100.%d:5060", 100 + i);
        snprintf(ruri, sizeof ruri, "sip:100@198.51.100.%d", 100 + i);
        req(&w, att, dst, T0 + SEC(3 + i * 0.2), "OPTIONS", ruri, "<sip:+442071234567@origin.example;user=phone>;tag=fivr1",
            "<sip:+442079460000@carrier.example;user=phone>;tag=tivr1", "ivr1", (unsigned)(10 + i), NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 1);
    /* the INVITE's target, and 59 of the 60 (the first is taken for the
     * dialog's remote target): 60, estimated (a sketch past 23 items) */
    CHECK(dint(find_rule(w.out, "SIP-SCAN-002"), "distinct_targets") >= 50);
    world_free(&w);
}

static void test_evasion(void) {
    /* SIP-SCAN-002: svmap -m NOTIFY (or SUBSCRIBE, MESSAGE, INFO, PUBLISH) and
     * INVITEs with a bogus To-tag draw answers as OPTIONS do; they counted
     * for nothing before */
    const char *methods[] = {"NOTIFY", "SUBSCRIBE", "MESSAGE", "INFO", "PUBLISH", "INVITE"};
    for (int k = 0; k < 6; k++) {
        world w = world_new(config_default());
        sweep(&w, "203.0.113.7:5061", methods[k], k == 5, 25);
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "SIP-SCAN-002") == 1, "sweep with %s", methods[k]);
        world_free(&w);
    }
    /* ACK draws no answer: not a probe */
    world w = world_new(config_default());
    sweep(&w, "203.0.113.7:5061", "ACK", true, 25);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-002"), 0);
    world_free(&w);

    /* SIP-ENUM-001: the user walked only in the Request-URI (To fixed, as a
     * proxy routes by the Request-URI), with INVITE, OPTIONS and PUBLISH */
    const char *emethods[] = {"INVITE", "OPTIONS", "PUBLISH"};
    for (int k = 0; k < 3; k++) {
        w = world_new(config_default());
        const char *att = "203.0.113.9:5070", *srv = "192.0.2.10:5060";
        for (int i = 0; i < 30; i++) {
            char ruri[48], cid[16];
            snprintf(ruri, sizeof ruri, "sip:%d@pbx.example", 100 + i);
            snprintf(cid, sizeof cid, "ru%d", i);
            bool exists = i % 8 == 0;
            req(&w, att, srv, T0 + SEC(i * 0.5), emethods[k], ruri, "<sip:100@pbx.example>;tag=e",
                "<sip:100@pbx.example>", cid, 1, NULL, NULL);
            resp(&w, srv, att, T0 + SEC(i * 0.5) + SEC(0.01), exists ? 407 : 404,
                 exists ? "Proxy Authentication Required" : "Not Found", emethods[k],
                 "<sip:100@pbx.example>;tag=e", "<sip:100@pbx.example>;tag=s", cid, 1, NULL, NULL);
        }
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "SIP-ENUM-001") == 1, "Request-URI walk with %s", emethods[k]);
        const ev_event *en = find_rule(w.out, "SIP-ENUM-001");
        CHECK(en && dint(en, "distinct_users") >= 25);
        world_free(&w);
    }

    /* SIP-SCAN-001: the tool's User-Agent second, after a harmless one;
     * svmap's From URI with the scheme in capitals */
    w = world_new(config_default());
    req(&w, "203.0.113.20:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:100@192.0.2.1",
        "<sip:200@198.51.100.1>;tag=1", "<sip:100@192.0.2.1>", "ua2", 1,
        "User-Agent: Linphone/5.2\r\nUser-Agent: friendly-scanner\r\n", NULL);
    req(&w, "203.0.113.21:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:100@192.0.2.1",
        "\"x\"<SIP:100@1.1.1.1>;tag=1", "<sip:100@192.0.2.1>", "svu", 1, NULL, NULL);
    /* ... but not another host that starts like it: 1.1.1.10, a name */
    req(&w, "203.0.113.22:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:100@192.0.2.1",
        "<sip:100@1.1.1.10>;tag=1", "<sip:100@192.0.2.1>", "svn1", 1, NULL, NULL);
    req(&w, "203.0.113.23:5060", "192.0.2.1:5060", T0, "OPTIONS", "sip:100@192.0.2.1",
        "<sip:100@1.1.1.1.example.net:5060>;tag=1", "<sip:100@192.0.2.1>", "svn2", 1, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-SCAN-001"), 2);
    for (int i = 0; i < w.out->n; i++) {
        const ev_event *ev = &w.out->ev[i];
        if (has_obs(ev, "ip", "203.0.113.20", "source"))
            CHECK(has_obs(ev, "sip_user_agent", "friendly-scanner", "tool")); /* the one that named it */
    }
    world_free(&w);

    /* FRAUD-IRSF-001: the callee's '+' or digits %-escaped (RFC 3261 19.1.4:
     * the same URI, routed alike) */
    w = world_new(config_zones());
    for (int i = 0; i < 8; i++) {
        char callee[48], cid[16];
        snprintf(callee, sizeof callee, i % 2 ? "%%2B882161000%03d" : "%%2B%%3882161000%03d", i);
        snprintf(cid, sizeof cid, "ie%d", i);
        call(&w, "198.51.100.30:5060", "10.0.0.50:5060", T0 + SEC(i * 30), "+442071234567", callee, cid,
             END_BUSY, 0, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-001"), 1);
    world_free(&w);

    /* SIP-CLI-001: our subscriber's number %-escaped in P-Asserted-Identity */
    w = world_new(config_zones());
    req(&w, "203.0.113.40:5060", "10.0.0.5:5060", T0, "INVITE", "sip:+442071230000@ims.example.net",
        "<sip:anon@203.0.113.40>;tag=1", "<sip:+442071230000@ims.example.net>", "cesc", 1,
        "P-Asserted-Identity: <sip:%2B447700900123@ims.example.org;user=phone>\r\n", NULL);
    world_finish(&w);
    const ev_event *cli = find_rule(w.out, "SIP-CLI-001");
    CHECK(cli && has_obs(cli, "e164", "+447700900123", "victim"));
    world_free(&w);

    /* SIP-CLI-001: our IMS domain written as an absolute name, with the
     * trailing dot (RFC 3261 25.1 hostname; DNS resolves it alike), in From
     * and in PAI */
    const char *dotted[] = {"<sip:bob@ims.example.net.>;tag=1", "<sip:bob@sub.IMS.example.net.:5060>;tag=1"};
    for (int k = 0; k < 2; k++) {
        w = world_new(config_zones());
        req(&w, "203.0.113.42:5060", "10.0.0.5:5060", T0, "INVITE", "sip:+442071230000@ims.example.net",
            dotted[k], "<sip:+442071230000@ims.example.net>", "cdot", 1, NULL, NULL);
        req(&w, "203.0.113.43:5060", "10.0.0.5:5060", T0, "INVITE", "sip:+442071230000@ims.example.net",
            "<sip:eve@x.example>;tag=1", "<sip:+442071230000@ims.example.net>", "cdot2", 1,
            "P-Asserted-Identity: <sip:bob@ims.example.net.>\r\n", NULL);
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "SIP-CLI-001") == 2, "home domain with a trailing dot, form %d", k);
        cli = find_rule(w.out, "SIP-CLI-001");
        CHECK(cli && !strcmp(dstr(cli, "home_match"), "ims.example.net"));
        world_free(&w);
    }
    /* ...but a name that only ends like ours is not ours */
    w = world_new(config_zones());
    req(&w, "203.0.113.44:5060", "10.0.0.5:5060", T0, "INVITE", "sip:+442071230000@ims.example.net",
        "<sip:bob@evilims.example.net.>;tag=1", "<sip:+442071230000@ims.example.net>", "cdot3", 1, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(count_rule(w.out, "SIP-CLI-001"), 0);
    world_free(&w);

    /* SIP-CLI-001 from a trusted partner (which may assert PAI, so
     * SIP-TRUST-001 stays silent): our number as the second PAI value, after
     * a harmless sip: one, as a list and as a second field */
    const char *pais[] = {"P-Asserted-Identity: <sip:bob@partner.example>, <tel:+447700900124>\r\n",
                          "P-Asserted-Identity: <sip:bob@partner.example>\r\n"
                          "P-Asserted-Identity: <tel:+447700900124>\r\n"};
    for (int k = 0; k < 2; k++) {
        w = world_new(config_zones());
        req(&w, "192.0.2.40:5060", "10.0.0.5:5060", T0, "INVITE", "sip:+442071230000@ims.example.net",
            "<sip:bob@partner.example>;tag=1", "<sip:+442071230000@ims.example.net>", "cpai", 1, pais[k], NULL);
        world_finish(&w);
        cli = find_rule(w.out, "SIP-CLI-001");
        CHECK_MSG(cli && has_obs(cli, "e164", "+447700900124", "victim"), "second PAI value, form %d", k);
        CHECK_EQ_INT(count_rule(w.out, "SIP-TRUST-001"), 0);
        world_free(&w);
    }

    /* An internet host asserting our domain first and our number second
     * (one list, then two fields): both SIP-CLI-001 and SIP-TRUST-001 name
     * that number a victim, or `fs38 share` would keep it in clear in the
     * sample's pai */
    const char *home_pais[] = {"P-Asserted-Identity: <sip:alice@ims.example.net>, <tel:+447700900125>\r\n",
                               "P-Asserted-Identity: <sip:+33123456789@x.example>\r\n"
                               "P-Asserted-Identity: <tel:+447700900125>\r\n"};
    for (int k = 0; k < 2; k++) {
        w = world_new(config_zones());
        req(&w, "203.0.113.41:5060", "10.0.0.5:5060", T0, "INVITE", "sip:+442071230000@ims.example.net",
            "<sip:eve@x.example>;tag=1", "<sip:+442071230000@ims.example.net>", "cvic", 1, home_pais[k], NULL);
        world_finish(&w);
        cli = find_rule(w.out, "SIP-CLI-001");
        const ev_event *tr = find_rule(w.out, "SIP-TRUST-001");
        CHECK_MSG(cli && has_obs(cli, "e164", "+447700900125", "victim"), "CLI-001 victim, form %d", k);
        CHECK_MSG(tr && has_obs(tr, "e164", "+447700900125", "victim"), "TRUST-001 victim, form %d", k);
        CHECK(k == 0 || has_obs(tr, "e164", "+33123456789", "caller"));
        world_free(&w);
    }
}

/* ---- callers: PAI lists, e164 observables, early BYE, late answers -------------- */

/* One Wangiri-style call from src: INVITE, 180, then the caller hangs up
 * after 2 s with `hangup` (0: CANCEL + 487; 1: BYE on the early dialog +
 * 487; 2: CANCEL + 487 after a 407 challenge whose retransmission arrives
 * once the authenticated INVITE is out). */
static void ring_and_drop(world *w, const char *src, const char *dst, uint64_t ts, const char *callee,
                          const char *cid, int hangup) {
    char ruri[96], from[128], to[128], to_tag[200], to_407[200];
    unsigned cseq = hangup == 2 ? 2 : 1;
    snprintf(ruri, sizeof ruri, "sip:%s@carrier.example;user=phone", callee);
    snprintf(from, sizeof from, "<sip:+37167000001@origin.example;user=phone>;tag=f%s", cid);
    snprintf(to, sizeof to, "<sip:%s@carrier.example;user=phone>", callee);
    snprintf(to_tag, sizeof to_tag, "%s;tag=t%s", to, cid);
    snprintf(to_407, sizeof to_407, "%s;tag=c%s", to, cid);
    const char *chal = "Proxy-Authenticate: Digest realm=\"c\", nonce=\"n1\"\r\n";
    if (hangup == 2) {
        req(w, src, dst, ts, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(w, dst, src, ts + SEC(0.02), 407, "Proxy Authentication Required", "INVITE", from, to_407, cid, 1, chal, NULL);
        req(w, src, dst, ts + SEC(0.05), "INVITE", ruri, from, to, cid, 2,
            "Proxy-Authorization: Digest username=\"u\", realm=\"c\", nonce=\"n1\", uri=\"x\", response=\"r\"\r\n", NULL);
        resp(w, dst, src, ts + SEC(0.52), 407, "Proxy Authentication Required", "INVITE", from, to_407, cid, 1, chal, NULL);
    } else {
        req(w, src, dst, ts, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
    }
    resp(w, dst, src, ts + SEC(0.6), 180, "Ringing", "INVITE", from, to_tag, cid, cseq, NULL, NULL);
    if (hangup == 1) {
        req(w, src, dst, ts + SEC(2.5), "BYE", ruri, from, to_tag, cid, cseq + 1, NULL, NULL);
        resp(w, dst, src, ts + SEC(2.52), 200, "OK", "BYE", from, to_tag, cid, cseq + 1, NULL, NULL);
    } else {
        req(w, src, dst, ts + SEC(2.5), "CANCEL", ruri, from, to, cid, cseq, NULL, NULL);
        resp(w, dst, src, ts + SEC(2.52), 200, "OK", "CANCEL", from, to_tag, cid, cseq, NULL, NULL);
    }
    resp(w, dst, src, ts + SEC(2.53), 487, "Request Terminated", "INVITE", from, to_tag, cid, cseq, NULL, NULL);
}

static void test_caller_edge_cases(void) {
    /* FRAUD-IRSF-001 keyed by the PAI of a trusted peer, its two values
     * (RFC 3325 9.1) as one comma list, From anonymous */
    {
        world w = world_new(config_zones());
        const char *pai = "P-Asserted-Identity: <sip:+447911123456@ims.partner.example;user=phone>, "
                          "<tel:+447911123456>\r\nPrivacy: id\r\n";
        for (int i = 0; i < 6; i++) {
            char callee[32], cid[32];
            snprintf(callee, sizeof callee, "+25261555%04d", i);
            snprintf(cid, sizeof cid, "rpl%d", i);
            call(&w, "192.0.2.10:5060", "198.51.100.5:5060", T0 + SEC(i * 5), "anonymous", callee, cid, END_BUSY, 0, pai);
        }
        world_finish(&w);
        const ev_event *ev = find_rule(w.out, "FRAUD-IRSF-001");
        CHECK(count_rule(w.out, "FRAUD-IRSF-001") == 1);
        CHECK(has_obs(ev, "e164", "+447911123456", "caller"));
        CHECK(dint(ev, "distinct_numbers") == 6);
        world_free(&w);
    }
    /* SIP-CLI-002 judges a PAI list's first value too */
    {
        world w = world_new(config_default());
        req(&w, "203.0.113.5:5060", "198.51.100.5:5060", T0, "INVITE", "sip:+33123456789@gw.example",
            "<sip:alice@x.example>;tag=1", "<sip:+33123456789@gw.example>", "rcli2", 1,
            "P-Asserted-Identity: <sip:+0123456789@x.example;user=phone>, <tel:+0123456789>\r\n", NULL);
        world_finish(&w);
        CHECK(count_rule(w.out, "SIP-CLI-002") == 1);
        CHECK(strstr(dstr(find_rule(w.out, "SIP-CLI-002"), "reasons"), "country_code_zero") != NULL);
        world_free(&w);
    }
    /* ... and a later one: a bait tel: number after a harmless sip: name, in
     * one list or a second field (the next hop may take either) */
    const char *bait_pais[] = {"P-Asserted-Identity: <sip:alice@x.example>, <tel:+0123456789>\r\n",
                               "P-Asserted-Identity: <sip:alice@x.example>\r\n"
                               "P-Asserted-Identity: <tel:+0123456789>\r\n"};
    for (int k = 0; k < 2; k++) {
        world w = world_new(config_default());
        req(&w, "203.0.113.5:5060", "198.51.100.5:5060", T0, "INVITE", "sip:+33123456789@gw.example",
            "<sip:alice@x.example>;tag=1", "<sip:+33123456789@gw.example>", "rcli3", 1, bait_pais[k], NULL);
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "SIP-CLI-002") == 1, "second PAI value, form %d", k);
        CHECK(strstr(dstr(find_rule(w.out, "SIP-CLI-002"), "reasons"), "country_code_zero") != NULL);
        CHECK(!strcmp(dstr(find_rule(w.out, "SIP-CLI-002"), "identity"), "+0123456789"));
        world_free(&w);
    }
    /* ... and one whose display name or header parameters are malformed
     * (SIP-MAL-001): the <uri> is still the identity a lenient next hop
     * shows, so a trailing ';' or an unquoted UTF-8 name does not hide it */
    const char *broken_from[] = {"<sip:+0123456789@x.example>;tag=1;", "Bad@Name <sip:+0123456789@x.example>;tag=1",
                                 "Jos\xc3\xa9 <sip:+0123456789@x.example>;tag=1"};
    const char *broken_pai[] = {"P-Asserted-Identity: <tel:+0123456789>;\r\n",
                                "P-Asserted-Identity: A@B <tel:+0123456789>\r\n", NULL};
    for (int k = 0; k < 3; k++) {
        world w = world_new(config_default());
        req(&w, "203.0.113.5:5060", "198.51.100.5:5060", T0, "INVITE", "sip:+33123456789@gw.example",
            broken_from[k], "<sip:+33123456789@gw.example>", "rcli4", 1, NULL, NULL);
        if (broken_pai[k])
            req(&w, "203.0.113.6:5060", "198.51.100.5:5060", T0, "INVITE", "sip:+33123456789@gw.example",
                "<sip:alice@x.example>;tag=1", "<sip:+33123456789@gw.example>", "rcli5", 1, broken_pai[k], NULL);
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "SIP-CLI-002") == (broken_pai[k] ? 2 : 1), "broken identity, form %d", k);
        const ev_event *ev = find_rule(w.out, "SIP-CLI-002");
        CHECK(ev && !strcmp(dstr(ev, "identity"), "+0123456789"));
        world_free(&w);
    }
    /* an `e164` observable is '+' and 1-15 digits (the event format): a
     * caller that only starts with '+' is the detail `caller` */
    const char *callers[] = {"+44207946x0001", "+4420794600012345678"};
    for (int k = 0; k < 2; k++) {
        world w = world_new(config_default());
        for (int i = 0; i < 60; i++) {
            char callee[32], cid[32];
            snprintf(callee, sizeof callee, "+3312345%04d", i);
            snprintf(cid, sizeof cid, "re%d-%d", k, i);
            call(&w, "203.0.113.9:5060", "198.51.100.5:5060", T0 + SEC(i), callers[k], callee, cid, END_BUSY, 0, NULL);
        }
        world_finish(&w);
        const ev_event *ev = find_rule(w.out, "FRAUD-VOL-001");
        CHECK(ev != NULL);
        CHECK(!has_obs(ev, "e164", NULL, "caller"));
        CHECK(!strcmp(dstr(ev, "caller"), callers[k]));
        world_free(&w);
    }
    /* FRAUD-WANGIRI-001: the caller's BYE on the early dialog is a CANCEL
     * (RFC 3261 15, 15.1.2), and a late retransmission of an earlier
     * INVITE's 407 does not end the call its authenticated INVITE goes on with */
    for (int how = 1; how <= 2; how++) {
        world w = world_new(config_default());
        for (int i = 0; i < 15; i++) {
            char callee[32], cid[32];
            snprintf(callee, sizeof callee, "+3361234%04d", i);
            snprintf(cid, sizeof cid, "rw%d-%d", how, i);
            ring_and_drop(&w, "203.0.113.77:5060", "198.51.100.5:5060", T0 + SEC(i * 10), callee, cid, how);
        }
        world_finish(&w);
        CHECK_MSG(count_rule(w.out, "FRAUD-WANGIRI-001") == 1, "hang-up kind %d", how);
        CHECK_MSG(dint(find_rule(w.out, "FRAUD-WANGIRI-001"), "short_rings") == 15, "hang-up kind %d", how);
        CHECK(det_engine_stats(w.eng)->calls_cancelled == 15);
        world_free(&w);
    }
}

/* A caller's call relayed by an SBC that fails over: the first carrier's
 * 503 goes to the SBC, which tries a second one, and the caller cancels
 * after 3 s of ringing. Only the answers to the caller end its call: the
 * failure on the SBC's leg is not the call failing (the CANCEL that
 * follows is a short ring), as with --workers N, whose worker tracking the
 * call sees only those. */
static void relayed_failover_call(world *w, const char *cid, const char *callee, uint64_t t) {
    const char *caller = "203.0.113.20:5060", *sbc = "10.0.0.60:5060", *first = "10.0.0.70:5060",
               *second = "10.0.0.80:5060";
    char ruri[96], from[128], to[128], to_tag[160];
    snprintf(ruri, sizeof ruri, "sip:%s@sbc.example;user=phone", callee);
    snprintf(from, sizeof from, "<sip:+2521234567@x.example;user=phone>;tag=f%s", cid);
    snprintf(to, sizeof to, "<sip:%s@sbc.example;user=phone>", callee);
    snprintf(to_tag, sizeof to_tag, "%s;tag=b%s", to, cid);
    req(w, caller, sbc, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
    resp(w, sbc, caller, t + SEC(0.01), 100, "Trying", "INVITE", from, to, cid, 1, NULL, NULL);
    req(w, sbc, first, t + SEC(0.02), "INVITE", ruri, from, to, cid, 1, NULL, NULL);
    resp(w, first, sbc, t + SEC(0.05), 503, "Service Unavailable", "INVITE", from, to, cid, 1, NULL, NULL);
    req(w, sbc, second, t + SEC(0.06), "INVITE", ruri, from, to, cid, 1, NULL, NULL);
    resp(w, second, sbc, t + SEC(0.3), 180, "Ringing", "INVITE", from, to_tag, cid, 1, NULL, NULL);
    resp(w, sbc, caller, t + SEC(0.31), 180, "Ringing", "INVITE", from, to_tag, cid, 1, NULL, NULL);
    req(w, caller, sbc, t + SEC(3), "CANCEL", ruri, from, to, cid, 1, NULL, NULL);
    resp(w, sbc, caller, t + SEC(3.01), 200, "OK", "CANCEL", from, to, cid, 1, NULL, NULL);
    req(w, sbc, second, t + SEC(3.02), "CANCEL", ruri, from, to, cid, 1, NULL, NULL);
    resp(w, second, sbc, t + SEC(3.03), 487, "Request Terminated", "INVITE", from, to_tag, cid, 1, NULL, NULL);
    resp(w, sbc, caller, t + SEC(3.04), 487, "Request Terminated", "INVITE", from, to_tag, cid, 1, NULL, NULL);
}

static void test_wangiri_relayed_failover(void) {
    world w = world_new(config_zones());
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "fo%d", i);
        relayed_failover_call(&w, cid, callee, T0 + SEC(i * 4));
    }
    world_finish(&w);
    const det_stats *st = det_engine_stats(w.eng);
    CHECK_EQ_INT(st->calls_cancelled, 15);
    CHECK_EQ_INT(st->calls_failed, 0);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    CHECK_EQ_INT(dint(find_rule(w.out, "FRAUD-WANGIRI-001"), "short_rings"), 15);
    world_free(&w);
}

/* Only the caller's CANCEL (or BYE before the answer) ends a call: a proxy
 * giving up the first branch of its serial forking after 4 s of ringing
 * (its CANCEL on its own leg) before the second branch is busy leaves the
 * caller a 486, not a short ring; and a BYE from a second address of a
 * Wangiri sender, just before its CANCEL, does not end the call unseen. */
static void test_call_ended_by_others(void) {
    world w = world_new(config_zones());
    const char *caller = "203.0.113.20:5060", *px = "10.0.0.60:5060", *b1 = "10.0.0.70:5060",
               *b2 = "10.0.0.80:5060", *other = "203.0.113.99:5060";
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16], ruri[96], from[128], to[128], tt[160];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "sf%d", i);
        uint64_t t = T0 + SEC(i * 10);
        snprintf(ruri, sizeof ruri, "sip:%s@sbc.example;user=phone", callee);
        snprintf(from, sizeof from, "<sip:+2521234567@x.example;user=phone>;tag=f%s", cid);
        snprintf(to, sizeof to, "<sip:%s@sbc.example;user=phone>", callee);
        snprintf(tt, sizeof tt, "%s;tag=b%s", to, cid);
        req(&w, caller, px, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        req(&w, px, b1, t + SEC(0.02), "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, b1, px, t + SEC(0.3), 180, "Ringing", "INVITE", from, tt, cid, 1, NULL, NULL);
        resp(&w, px, caller, t + SEC(0.31), 180, "Ringing", "INVITE", from, tt, cid, 1, NULL, NULL);
        req(&w, px, b1, t + SEC(4), "CANCEL", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, b1, px, t + SEC(4.01), 487, "Request Terminated", "INVITE", from, tt, cid, 1, NULL, NULL);
        req(&w, px, b2, t + SEC(4.02), "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, b2, px, t + SEC(4.5), 486, "Busy Here", "INVITE", from, to, cid, 1, NULL, NULL);
        resp(&w, px, caller, t + SEC(4.51), 486, "Busy Here", "INVITE", from, to, cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 0);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_failed, 15);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 0);
    world_free(&w);

    w = world_new(config_zones());
    for (int i = 0; i < 15; i++) {
        char callee[24], cid[16], ruri[96], from[128], to[128];
        snprintf(callee, sizeof callee, "+4477009%05d", 100 + i * 7);
        snprintf(cid, sizeof cid, "wb%d", i);
        uint64_t t = T0 + SEC(i * 4);
        snprintf(ruri, sizeof ruri, "sip:%s@sbc.example;user=phone", callee);
        snprintf(from, sizeof from, "<sip:+2521234567@x.example;user=phone>;tag=f%s", cid);
        snprintf(to, sizeof to, "<sip:%s@sbc.example;user=phone>", callee);
        req(&w, caller, px, t, "INVITE", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, px, caller, t + SEC(0.3), 180, "Ringing", "INVITE", from, to, cid, 1, NULL, NULL);
        req(&w, other, px, t + SEC(2.9), "BYE", ruri, from, to, cid, 2, NULL, NULL);
        req(&w, caller, px, t + SEC(3), "CANCEL", ruri, from, to, cid, 1, NULL, NULL);
        resp(&w, px, caller, t + SEC(3.03), 487, "Request Terminated", "INVITE", from, to, cid, 1, NULL, NULL);
    }
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_cancelled, 15);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-WANGIRI-001"), 1);
    world_free(&w);
}

/* A full bucket of the calls table gives up the calls that are over (kept
 * only for retransmissions) before a call still up: two calls at a time
 * with room for 8, one of them long to a high-risk range, the other
 * refused one after the other; the long call is still reported. */
static void test_ended_calls_give_way(void) {
    fs38_config *cfg = config_zones();
    cfg->max_dialogs = 8; /* one bucket */
    world w = world_new(cfg);
    const char *pbx = "198.51.100.30:5060", *gw = "10.0.0.50:5060";
    call(&w, pbx, gw, T0, "+442071234567", "+88216555123", "long", END_ANSWER_NO_BYE, 0, NULL);
    for (int i = 0; i < 8; i++) {
        char cid[16], callee[24];
        snprintf(cid, sizeof cid, "busy%d", i);
        snprintf(callee, sizeof callee, "+44163296%04d", i);
        call(&w, "198.51.100.31:5060", gw, T0 + SEC(10 + i), "+441632960999", callee, cid, END_BUSY, 0, NULL);
    }
    for (int t = 100; t <= 1900; t += 100) det_tick(w.eng, T0 + SEC(t));
    req(&w, pbx, gw, T0 + SEC(2002), "BYE", "sip:+88216555123@carrier.example;user=phone",
        "<sip:+442071234567@origin.example;user=phone>;tag=flong",
        "<sip:+88216555123@carrier.example;user=phone>;tag=tlong", "long", 2, NULL, NULL);
    world_finish(&w);
    CHECK_EQ_INT(det_engine_stats(w.eng)->calls_evicted, 1);
    CHECK_EQ_INT(count_rule(w.out, "FRAUD-IRSF-002"), 1);
    world_free(&w);
}

int main(void) {
    if (sodium_init() < 0) return 2;
    const char *seed = getenv("FS38_TEST_SEED");
    if (seed) run_seed = strtoull(seed, NULL, 16);
    else randombytes_buf(&run_seed, sizeof run_seed);
    test_events();
    test_protocol();
    test_scan();
    test_sipvicious_files();
    test_agent_fingerprints();
    test_enumeration();
    test_brute_force();
    test_brute_same_callid();
    test_brute_forgiven_step_back();
    test_brute_unchecked_2xx();
    test_flood();
    test_flood_rate_burst();
    test_trust();
    test_access_zone();
    test_cli();
    test_hit_threshold();
    test_topology();
    test_aka_keys();
    test_weak_tls();
    test_cleartext();
    test_weak_cert();
    test_talker_incidents();
    test_irsf();
    test_early_bye_crossing_answer();
    test_irsf_off_hours();
    test_wangiri_off_hours();
    test_allow_callers();
    test_live_short_ttl();
    test_live_close_after_last_probe();
    test_wangiri();
    test_wangiri_ring_group();
    test_wangiri_ring_group_abandoned();
    test_wangiri_campaign_20_per_s();
    test_wangiri_pai_not_assertable();
    test_wangiri_relayed_failover();
    test_call_ended_by_others();
    test_ended_calls_give_way();
    test_call_evidence();
    test_lookback_evidence();
    test_volume();
    test_allow_and_live();
    test_time_steps_back();
    test_time_jumps();
    test_time_zero();
    test_time_far_future();
    test_time_step_eviction();
    test_talker_keeps_requester();
    test_zero_add_after_eviction();
    test_memory_bound();
    test_hostile_input();
    test_from_to_user();
    test_source_net();
    test_ipv6_scan_enum_brute();
    test_ipv6_flood_zones();
    test_ipv6_fraud();
    test_evasion();
    test_scan_hangup_at_gateways();
    test_scan_busy_targets();
    test_caller_edge_cases();
    if (check_failed) fprintf(stderr, "test_detect: FS38_TEST_SEED=%016llx repeats this run\n", (unsigned long long)run_seed);
    return check_done("test_detect");
}
