/*
 * test_indicators.c -- rule INTEL-001 (src/detect/det_indicators.c): loading
 * an indicator cache (what is kept, what is skipped and why, errors naming
 * line and field), matching SIP traffic by source address (exact, longest
 * CIDR prefix), caller and callee numbers (exact E.164, longest range
 * prefix), User-Agent (case-insensitive), one incident per (indicator,
 * source), the shared event's type/severity/action and details.ref in the
 * output, expiry and min_confidence, and a larger table.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../check.h"
#include "detect/det.h"
#include "detect/det_internal.h"
#include "exchange/xc.h"

#define MAX_OUT 64

typedef struct world {
    fs38_config *cfg;
    det_engine *eng;
    ev_event out[MAX_OUT];
    int nout;
} world;

static void on_event(void *user, const ev_event *ev, bool final) {
    world *w = user;
    if (final && ev->rule == R_INTEL_MATCH && w->nout < MAX_OUT) w->out[w->nout++] = *ev;
}

static int64_t now_ms(void) { return (int64_t)(fs_time_now_us() / 1000); }

static void iso(int64_t ms, char *buf, size_t n) { fs_time_rfc3339((uint64_t)ms * 1000, buf, n); }

/* One cache line: a valid event with the given type, severity, status,
 * confidence, lifetime (seconds from now, negative = expired) and
 * observables (JSON array text). */
static void event_line(char *buf, size_t n, const char *id, const char *type, const char *domain,
                       const char *sev, const char *status, int conf, int64_t valid_s, const char *obs) {
    char created[40], first[40], until[40];
    int64_t t = now_ms();
    int64_t end = t + valid_s * 1000;
    iso(t, created, sizeof created);
    iso(valid_s < 0 ? end - 60000 : t - 60000, first, sizeof first);
    iso(end, until, sizeof until);
    bool fb = !strcmp(type, "SIGHTING") || !strcmp(type, "FALSE_POSITIVE");
    snprintf(buf, n,
             "{\"schema_version\":\"1.0\",\"event_id\":\"%s\",\"version\":3,\"status\":\"%s\","
             "\"issuer\":\"org:234-15\",\"created\":\"%s\",\"first_seen\":\"%s\",\"last_seen\":\"%s\","
             "\"valid_until\":\"%s\",\"event_type\":\"%s\",\"domain\":\"%s\",\"severity\":\"%s\","
             "\"confidence\":%d%s,\"observables\":%s,\"evidence\":{\"count\":1,\"window_s\":1,"
             "\"details\":{%s}},\"recommended_action\":{\"action\":\"BLOCK_SOURCE\",\"scope\":\"sip_ingress\","
             "\"ttl_s\":7200},\"handling\":{\"tlp\":\"green\"}}\n",
             id, status, created, first, first, until, type, domain, sev, conf,
             fb ? "" : ",\"rule\":{\"id\":\"SIP-SCAN-001\",\"name\":\"x\"}", obs,
             fb ? "\"ref\":{\"issuer\":\"org:208-01\",\"event_id\":\"0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00\"}" : "");
}

#define ID(n) "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a0" #n

static char *cache_text(void) {
    static char buf[16384];
    size_t o = 0;
    char line[2048];
#define ADD(...)                                             \
    do {                                                     \
        event_line(line, sizeof line, __VA_ARGS__);          \
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", line); \
    } while (0)
    ADD(ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600,
        "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]");
    ADD(ID(2), "SIP_FLOOD", "infrastructure", "medium", "active", 80, 3600,
        "[{\"kind\":\"cidr\",\"value\":\"203.0.113.0/24\",\"role\":\"source\"}]");
    ADD(ID(3), "SIP_BRUTE_FORCE", "infrastructure", "critical", "active", 85, 3600,
        "[{\"kind\":\"cidr\",\"value\":\"203.0.113.128/25\",\"role\":\"source\"}]");
    ADD(ID(4), "IRSF", "fraud", "critical", "active", 85, 3600,
        "[{\"kind\":\"e164_range\",\"value\":\"+88213\",\"role\":\"destination\"}]");
    ADD(ID(5), "WANGIRI", "fraud", "high", "active", 85, 3600,
        "[{\"kind\":\"e164\",\"value\":\"+447700900123\",\"role\":\"caller\"}]");
    ADD(ID(6), "SIP_SCANNER", "infrastructure", "low", "active", 70, 3600,
        "[{\"kind\":\"sip_user_agent\",\"value\":\"SIPVicious-Scanner\",\"role\":\"tool\"}]");
    ADD(ID(7), "SIP_SCANNER", "infrastructure", "high", "active", 90, -10,
        "[{\"kind\":\"ip\",\"value\":\"192.0.2.99\",\"role\":\"source\"}]");
    buf[o++] = '\n'; /* a blank line is allowed */
    ADD(ID(8), "SIP_SCANNER", "infrastructure", "high", "revoked", 90, 3600,
        "[{\"kind\":\"ip\",\"value\":\"192.0.2.98\",\"role\":\"source\"}]");
    ADD(ID(9), "SIGHTING", "infrastructure", "info", "active", 100, 3600,
        "[{\"kind\":\"ip\",\"value\":\"192.0.2.97\",\"role\":\"source\"}]");
    ADD("0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a10", "CLI_SPOOFING", "fraud", "high", "active", 90, 3600,
        "[{\"kind\":\"ip\",\"value\":\"192.0.2.96\",\"role\":\"destination\"}]");
#undef ADD
    buf[o] = '\0';
    return buf;
}

/* cache_text() loaded, checked. */
static det_indicators *cache_indicators(void) {
    const char *text = cache_text();
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(text, strlen(text), "cache", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    return ind;
}

static void world_init(world *w, const det_indicators *ind) {
    memset(w, 0, sizeof *w);
    w->cfg = calloc(1, sizeof *w->cfg);
    cfg_defaults(w->cfg);
    fs_err e = {0};
    w->eng = det_engine_new(w->cfg, on_event, w, &e);
    det_engine_set_indicators(w->eng, ind);
}

static void world_free(world *w) {
    det_engine_free(w->eng);
    free(w->cfg);
}

static void invite(world *w, const char *src_ip, const char *ruri_user, const char *from_user,
                   const char *ua, uint64_t ts, unsigned n) {
    char msg[2048];
    snprintf(msg, sizeof msg,
             "INVITE sip:%s@192.0.2.10 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%u\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:%s@%s>;tag=a%u\r\n"
             "To: <sip:%s@192.0.2.10>\r\n"
             "Call-ID: call-%u@%s\r\n"
             "CSeq: 1 INVITE\r\n"
             "User-Agent: %s\r\n"
             "Content-Length: 0\r\n\r\n",
             ruri_user, src_ip, n, from_user, src_ip, n, ruri_user, n, src_ip, ua);
    cap_payload p = {0};
    p.data = (const uint8_t *)msg;
    p.len = (uint32_t)strlen(msg);
    fs_addr_parse(src_ip, &p.src.addr);
    p.src.port = 5060;
    fs_addr_parse("192.0.2.10", &p.dst.addr);
    p.dst.port = 5060;
    p.transport = CAP_T_UDP;
    p.ts_us = ts;
    det_process(w->eng, &p);
}

static const ev_detail *detail(const ev_event *ev, const char *key) { return ev_get_detail(ev, key); }

static const ev_event *event_for(const world *w, const char *ref_id) {
    for (int i = 0; i < w->nout; i++) {
        const ev_detail *d = detail(&w->out[i], "ref.event_id");
        if (d && !strcmp(d->s, ref_id)) return &w->out[i];
    }
    return NULL;
}

static int count_for(const world *w, const char *ref_id) {
    int n = 0;
    for (int i = 0; i < w->nout; i++) {
        const ev_detail *d = detail(&w->out[i], "ref.event_id");
        n += d && !strcmp(d->s, ref_id);
    }
    return n;
}

static void test_load(void) {
    const char *text = cache_text();
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(text, strlen(text), "cache", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    det_indicators_info i;
    det_indicators_get_info(ind, &i);
    CHECK_EQ_INT(i.events, 6);
    CHECK_EQ_INT(i.expired, 1);
    CHECK_EQ_INT(i.revoked, 1);
    CHECK_EQ_INT(i.feedback, 1);
    CHECK_EQ_INT(i.unmatchable, 1); /* an ip with role destination is not matched */
    CHECK_EQ_INT(i.sources, 3);
    CHECK_EQ_INT(i.numbers, 2);
    CHECK_EQ_INT(i.user_agents, 1);
    det_indicators_free(ind);

    /* every line must be an event: the error names the line and the field */
    char bad[20000];
    snprintf(bad, sizeof bad, "%s{\"schema_version\":\"1.0\"}\n", text);
    unsigned lines = 0;
    for (const char *p = bad; *p; p++) lines += *p == '\n';
    ind = det_indicators_parse(bad, strlen(bad), "cache", now_ms(), &e);
    CHECK(ind == NULL);
    char want[32];
    snprintf(want, sizeof want, "cache:%u:", lines);
    CHECK_MSG(strstr(e.msg, want) && strstr(e.msg, "event_id"), "%s", e.msg);
    ind = det_indicators_parse("not json\n", 9, "c2", now_ms(), &e);
    CHECK(ind == NULL && strstr(e.msg, "c2:1:"));
    ind = det_indicators_load("/nonexistent/cache.ndjson", now_ms(), &e);
    CHECK(ind == NULL && strstr(e.msg, "/nonexistent/cache.ndjson") && e.code == FS_ERR_IO);
    /* an empty cache is valid and matches nothing */
    ind = det_indicators_parse("", 0, "empty", now_ms(), &e);
    CHECK(ind != NULL);
    det_indicators_get_info(ind, &i);
    CHECK_EQ_INT(i.events, 0);
    det_indicators_free(ind);
}

/* An event of exactly XC_EVENT_MAX_BYTES (valid, and cached by pull) is
 * read from a cache file, where its line ends in '\n', and with "\r\n":
 * the line's end counted against the event's size refused the whole cache. */
static void test_largest_event(void) {
    char line[2048];
    event_line(line, sizeof line, ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]");
    char *at = strstr(line, "\"details\":{}");
    CHECK(at != NULL);
    if (!at) return;
    size_t head = (size_t)(at - line) + strlen("\"details\":{"), tail = strlen(line) - head - 1; /* no '\n' */
    size_t pad = XC_EVENT_MAX_BYTES - head - tail - strlen("\"note\":\"\"");
    char *ev = malloc(XC_EVENT_MAX_BYTES + 3);
    size_t o = 0;
    memcpy(ev, line, head);
    o = head;
    o += (size_t)sprintf(ev + o, "\"note\":\"");
    memset(ev + o, 'x', pad);
    o += pad;
    ev[o++] = '"';
    memcpy(ev + o, line + head, tail);
    o += tail;
    CHECK_EQ_INT(o, XC_EVENT_MAX_BYTES);
    fs_err e = {0};
    xc_event xe;
    CHECK_MSG(xc_event_parse(ev, o, &xe, NULL, &e) == FS_OK, "%s", e.msg); /* a valid event */
    xc_event_free(&xe);
    char path[] = "/tmp/test_indicators_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    fwrite(ev, 1, o, f);
    fputc('\n', f);
    fclose(f);
    det_indicators *ind = det_indicators_load(path, now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    det_indicators_info i;
    det_indicators_get_info(ind, &i);
    CHECK_EQ_INT(i.events, 1);
    det_indicators_free(ind);
    unlink(path);
    memcpy(ev + o, "\r\n", 2);
    ind = det_indicators_parse(ev, o + 2, "crlf", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    det_indicators_get_info(ind, &i);
    CHECK_EQ_INT(i.events, 1);
    det_indicators_free(ind);
    free(ev);
}

static void test_match(void) {
    const char *text = cache_text();
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(text, strlen(text), "cache", now_ms(), &e);
    world w;
    world_init(&w, ind);
    uint64_t t = 1764067290000000ULL;
    /* the exact source, three times: one incident counting 3 */
    for (unsigned k = 0; k < 3; k++) invite(&w, "198.51.100.7", "100", "alice", "Linphone", t + k * 1000, k);
    /* longest CIDR prefix: .200 is in the /25 (event 3), .5 only in the /24 (event 2) */
    invite(&w, "203.0.113.200", "101", "bob", "Linphone", t + 5000, 10);
    invite(&w, "203.0.113.5", "102", "bob", "Linphone", t + 6000, 11);
    invite(&w, "203.0.113.6", "102", "bob", "Linphone", t + 6500, 12); /* another source: another incident */
    /* callee in the IRSF range (longest prefix), caller exact */
    invite(&w, "192.0.2.50", "+8821355501", "carol", "Linphone", t + 7000, 13);
    invite(&w, "192.0.2.51", "+88214555", "carol", "Linphone", t + 7100, 14);    /* not in the range */
    invite(&w, "192.0.2.52", "200", "+447700900123", "Linphone", t + 8000, 15);
    invite(&w, "192.0.2.53", "200", "+4477009001234", "Linphone", t + 8100, 16); /* longer: not exact */
    /* the tool, any case */
    invite(&w, "192.0.2.54", "300", "dave", "sipvicious-scanner", t + 9000, 17);
    /* expired / revoked / feedback / destination-role indicators never match */
    invite(&w, "192.0.2.99", "400", "erin", "Linphone", t + 9500, 18);
    invite(&w, "192.0.2.98", "400", "erin", "Linphone", t + 9600, 19);
    invite(&w, "192.0.2.97", "400", "erin", "Linphone", t + 9700, 20);
    det_finish(w.eng);

    CHECK_EQ_INT(w.nout, 7);
    const ev_event *a = event_for(&w, ID(1));
    CHECK(a != NULL);
    if (a) {
        CHECK_EQ_INT(a->count, 3);
        CHECK_EQ_INT(a->event_type, ET_SIP_SCANNER);
        CHECK_EQ_INT(a->severity, SEV_HIGH);
        CHECK_EQ_INT(a->confidence, 90);
        CHECK_EQ_INT(a->action, ACT_BLOCK_SOURCE);
        CHECK_EQ_INT(a->ttl_s, 7200);
        CHECK(!strcmp(detail(a, "ref.issuer")->s, "org:234-15"));
        CHECK_EQ_INT(detail(a, "ref.version")->i, 3);
        CHECK(!strcmp(detail(a, "matched")->s, "ip"));
        CHECK(!strcmp(a->obs[0].kind, "ip") && !strcmp(a->obs[0].value, "198.51.100.7") &&
              !strcmp(a->obs[0].role, "source"));
    }
    CHECK_EQ_INT(count_for(&w, ID(3)), 1);
    CHECK_EQ_INT(count_for(&w, ID(2)), 2); /* two sources in the /24 but outside the /25 */
    const ev_event *b = event_for(&w, ID(3));
    if (b) {
        CHECK(!strcmp(b->obs[0].value, "203.0.113.200"));
        CHECK(!strcmp(detail(b, "indicator")->s, "203.0.113.128/25"));
        CHECK_EQ_INT(b->severity, SEV_CRITICAL);
        CHECK_EQ_INT(b->event_type, ET_SIP_BRUTE_FORCE);
    }
    const ev_event *irsf = event_for(&w, ID(4));
    CHECK(irsf != NULL);
    if (irsf) {
        CHECK_EQ_INT(irsf->event_type, ET_IRSF);
        CHECK_EQ_INT(irsf->domain, DOM_FRAUD);
        CHECK(!strcmp(irsf->obs[0].kind, "e164") && !strcmp(irsf->obs[0].value, "+8821355501") &&
              !strcmp(irsf->obs[0].role, "callee"));
        CHECK(!strcmp(detail(irsf, "indicator")->s, "+88213"));
        CHECK(!strcmp(irsf->obs[1].kind, "ip") && !strcmp(irsf->obs[1].value, "192.0.2.50"));
    }
    const ev_event *wg = event_for(&w, ID(5));
    CHECK(wg != NULL);
    if (wg) {
        CHECK(!strcmp(wg->obs[0].value, "+447700900123") && !strcmp(wg->obs[0].role, "caller"));
        CHECK_EQ_INT(wg->count, 1); /* +4477009001234 did not match the exact number */
    }
    const ev_event *ua = event_for(&w, ID(6));
    CHECK(ua != NULL);
    if (ua) CHECK(!strcmp(ua->obs[0].kind, "sip_user_agent") && !strcmp(ua->obs[0].role, "tool"));
    CHECK_EQ_INT(count_for(&w, ID(7)) + count_for(&w, ID(8)) + count_for(&w, ID(9)), 0);

    /* the serialised event nests details.ref */
    if (a) {
        char buf[16384];
        size_t len = ev_to_json(a, buf, sizeof buf);
        CHECK(len > 0);
        CHECK(len > 0 && buf[len - 1] == '\n');
        CHECK_MSG(strstr(buf, "\"ref\":{\"issuer\":\"org:234-15\",\"event_id\":\"" ID(1) "\",\"version\":3}") != NULL,
                  "%s", buf);
        CHECK(strstr(buf, "ref.issuer") == NULL);
        CHECK(strstr(buf, "\"rule\":{\"id\":\"INTEL-001\"") != NULL);
        /* a buffer too small fails instead of truncating */
        char small[256];
        CHECK_EQ_INT(ev_to_json(a, small, sizeof small), 0);
    }
    world_free(&w);

    /* min_confidence: shared events below it are not acted on */
    world_init(&w, ind);
    w.cfg->rules[R_INTEL_MATCH].param[0] = 85;
    invite(&w, "192.0.2.54", "300", "dave", "SIPVicious-Scanner", t, 1);  /* confidence 70 */
    invite(&w, "198.51.100.7", "300", "dave", "Linphone", t + 10, 2);     /* confidence 90 */
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 1);
    CHECK_EQ_INT(count_for(&w, ID(1)), 1);
    world_free(&w);

    /* disabled rule, and no indicators at all: nothing */
    world_init(&w, ind);
    w.cfg->rules[R_INTEL_MATCH].enabled = false;
    invite(&w, "198.51.100.7", "300", "dave", "Linphone", t, 1);
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 0);
    world_free(&w);
    world_init(&w, NULL);
    invite(&w, "198.51.100.7", "300", "dave", "Linphone", t, 1);
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 0);
    world_free(&w);
    det_indicators_free(ind);
}

/* A shared SIGNALLING_ATTACK raises INTEL-001 with that type: the event
 * carries the partner's details.protocol, which the format requires of the
 * type (it was missing, and fs38 validate refused what inspect wrote). */
static void test_signalling(void) {
    char line[2048], *d;
    event_line(line, sizeof line, ID(1), "SIGNALLING_ATTACK", "infrastructure", "high", "active", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.9\",\"role\":\"source\"}]");
    d = strstr(line, "\"details\":{}");
    CHECK(d != NULL);
    if (!d) return;
    char fixed[2100];
    snprintf(fixed, sizeof fixed, "%.*s\"details\":{\"protocol\":\"diameter\"}%s", (int)(d - line), line,
             d + strlen("\"details\":{}"));
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(fixed, strlen(fixed), "cache", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    world w;
    world_init(&w, ind);
    invite(&w, "198.51.100.9", "100", "alice", "Linphone", 1764067290000000ULL, 1);
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 1);
    if (w.nout == 1) {
        const ev_event *a = &w.out[0];
        CHECK_EQ_INT(a->event_type, ET_SIGNALLING_ATTACK);
        CHECK(detail(a, "protocol") && !strcmp(detail(a, "protocol")->s, "diameter"));
        char buf[16384];
        size_t len = ev_to_json(a, buf, sizeof buf);
        xc_event x;
        xc_report r;
        fs_code c = xc_event_parse(buf, len, &x, &r, &e);
        CHECK_MSG(c == FS_OK, "INTEL-001 SIGNALLING_ATTACK does not validate: %s", e.msg);
        if (c == FS_OK) xc_event_free(&x);
    }
    world_free(&w);
    det_indicators_free(ind);
}

/* w's engine reads the SIP text msg, a UDP datagram from src to dst (port
 * 5060 both), and finishes. */
static void one_message(world *w, const char *msg, const char *src, const char *dst) {
    cap_payload p = {.data = (const uint8_t *)msg, .len = (uint32_t)strlen(msg), .transport = CAP_T_UDP,
                     .ts_us = 1764067290000000ULL};
    fs_addr_parse(src, &p.src.addr);
    fs_addr_parse(dst, &p.dst.addr);
    p.src.port = p.dst.port = 5060;
    det_process(w->eng, &p);
    det_finish(w->eng);
}

/* A shared caller in a later P-Asserted-Identity value (RFC 3325 9.1: a
 * sip: and a tel: one, as a list or as two fields; the next hop may take
 * either) matches as in the first. */
static void test_pai_values(void) {
    det_indicators *ind = cache_indicators();
    const char *pais[] = {"P-Asserted-Identity: <sip:alice@x.example>, <tel:+447700900123>\r\n",
                          "P-Asserted-Identity: <sip:alice@x.example>\r\nP-Asserted-Identity: <tel:+447700900123>\r\n"};
    for (int k = 0; k < 2; k++) {
        world w;
        world_init(&w, ind);
        char msg[1024];
        snprintf(msg, sizeof msg,
                 "INVITE sip:200@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.60:5060;branch=z9hG4bK-p%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:alice@x.example>;tag=p\r\nTo: <sip:200@192.0.2.10>\r\n"
                 "Call-ID: pai-%d\r\nCSeq: 1 INVITE\r\n%sContent-Length: 0\r\n\r\n", k, k, pais[k]);
        one_message(&w, msg, "192.0.2.60", "192.0.2.10");
        const ev_event *wg = event_for(&w, ID(5));
        CHECK_MSG(wg != NULL, "PAI form %d", k);
        if (wg) CHECK(!strcmp(wg->obs[0].value, "+447700900123") && !strcmp(wg->obs[0].role, "caller"));
        world_free(&w);
    }
    det_indicators_free(ind);
}

/* A shared tool's User-Agent as the second field, after a harmless one
 * (SIP-SCAN-001 judges every User-Agent field for the same reason), and a
 * response's Server: both match. */
static void test_second_user_agent(void) {
    det_indicators *ind = cache_indicators();
    const char *msgs[] = {
        "OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.80:5060;branch=z9hG4bK-u1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.80>;tag=u\r\nTo: <sip:100@192.0.2.10>\r\n"
        "Call-ID: ua-1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Linphone/5.2\r\nUser-Agent: SIPVicious-Scanner\r\n"
        "Content-Length: 0\r\n\r\n",
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-u2\r\n"
        "From: <sip:a@192.0.2.10>;tag=u\r\nTo: <sip:100@192.0.2.80>;tag=v\r\n"
        "Call-ID: ua-2\r\nCSeq: 1 OPTIONS\r\nServer: Linphone/5.2\r\nServer: sipvicious-scanner\r\n"
        "Content-Length: 0\r\n\r\n"};
    for (int k = 0; k < 2; k++) {
        world w;
        world_init(&w, ind);
        one_message(&w, msgs[k], "192.0.2.80", "192.0.2.10");
        const ev_event *tool = event_for(&w, ID(6));
        CHECK_MSG(tool != NULL, "the tool as the second agent field, form %d", k);
        if (tool) CHECK(!strcmp(detail(tool, "matched")->s, "sip_user_agent"));
        world_free(&w);
    }
    det_indicators_free(ind);
}

/* A shared User-Agent longer than 255 bytes (the format takes up to 1024)
 * matches that agent only: cut to its first 255 bytes it equalled every
 * agent starting with them. */
static void test_long_user_agent(void) {
    char shared[301], other[301], same[301], obs[400], line[2048];
    memset(shared, 'a', 300);
    shared[299] = 'b';
    shared[300] = '\0';
    memcpy(other, shared, sizeof other);
    other[299] = 'c'; /* differs in its last byte only */
    for (int i = 0; i < 300; i++) same[i] = (char)(shared[i] - 32); /* the same, in capitals */
    same[300] = '\0';
    snprintf(obs, sizeof obs, "[{\"kind\":\"sip_user_agent\",\"value\":\"%s\",\"role\":\"tool\"}]", shared);
    event_line(line, sizeof line, ID(6), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600, obs);
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(line, strlen(line), "c", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    if (!ind) return;
    world w;
    world_init(&w, ind);
    invite(&w, "192.0.2.81", "100", "alice", other, 1764067290000000ULL, 1);
    det_finish(w.eng);
    CHECK_MSG(w.nout == 0, "an agent that differs in byte 300 matched a 300-byte shared one");
    world_free(&w);
    world_init(&w, ind);
    invite(&w, "192.0.2.82", "100", "alice", same, 1764067290000000ULL, 2);
    det_finish(w.eng);
    CHECK_EQ_INT(count_for(&w, ID(6)), 1);
    world_free(&w);
    det_indicators_free(ind);
}

/* The agent an INTEL-001 event names as its `tool` observable is the whole
 * agent (up to what an observable holds), as SIP-SCAN-001 names it: cut to
 * 63 bytes, it matched no receiver's traffic and blocked nothing. */
static void test_user_agent_shown_whole(void) {
    const char *ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 JsSIP/3.10.0 custom-dialer-build-77";
    char obs[400], line[2048];
    snprintf(obs, sizeof obs, "[{\"kind\":\"sip_user_agent\",\"value\":\"%s\",\"role\":\"tool\"}]", ua);
    event_line(line, sizeof line, ID(6), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600, obs);
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(line, strlen(line), "c", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    if (!ind) return;
    world w;
    world_init(&w, ind);
    invite(&w, "192.0.2.83", "100", "alice", ua, 1764067290000000ULL, 1);
    det_finish(w.eng);
    const ev_event *ev = event_for(&w, ID(6));
    CHECK(ev != NULL);
    if (ev) {
        CHECK(!strcmp(ev->obs[0].kind, "sip_user_agent"));
        CHECK_MSG(!strcmp(ev->obs[0].value, ua), "observable '%s'", ev->obs[0].value);
        const ev_detail *d = detail(ev, "indicator");
        CHECK_MSG(d && strlen(d->s) == strlen(ua), "indicator '%s'", d ? d->s : "-");
    }
    world_free(&w);
    det_indicators_free(ind);
}

/* Several versions of one shared event in the cache (docs/events.md: a
 * receiver acts on the highest; revocation is a higher version): only the
 * highest is acted on, in either order, and not at all when it is revoked;
 * the same line twice is one shared event, not two hits per message. */
static void test_versions(void) {
    char v3[2048], v4[2048], v4rev[2048], text[8192];
    event_line(v3, sizeof v3, ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]");
    event_line(v4, sizeof v4, ID(1), "SIP_SCANNER", "infrastructure", "critical", "active", 95, 3600,
               "[{\"kind\":\"cidr\",\"value\":\"198.51.100.0/24\",\"role\":\"source\"}]");
    event_line(v4rev, sizeof v4rev, ID(1), "SIP_SCANNER", "infrastructure", "high", "revoked", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]");
    char *v = strstr(v4, "\"version\":3");
    CHECK(v != NULL);
    if (v) v[10] = '4';
    v = strstr(v4rev, "\"version\":3");
    CHECK(v != NULL);
    if (v) v[10] = '4';
    static const struct {
        int order; /* 0: v3 then the other, 1: the other first */
        int revoked, want_count, want_version;
    } cases[] = {{0, 1, 0, 0}, {1, 1, 0, 0}, {0, 0, 3, 4}, {1, 0, 3, 4}, {2, 0, 3, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *other = cases[k].revoked ? v4rev : v4;
        if (cases[k].order == 2) snprintf(text, sizeof text, "%s%s", v3, v3); /* the same line twice */
        else snprintf(text, sizeof text, "%s%s", cases[k].order ? other : v3, cases[k].order ? v3 : other);
        fs_err e = {0};
        det_indicators *ind = det_indicators_parse(text, strlen(text), "c", now_ms(), &e);
        CHECK_MSG(ind != NULL, "%s", e.msg);
        if (!ind) continue;
        det_indicators_info i;
        det_indicators_get_info(ind, &i);
        CHECK_EQ_INT(i.events, cases[k].want_count ? 1 : 0);
        world w;
        world_init(&w, ind);
        for (unsigned n = 0; n < 3; n++) invite(&w, "198.51.100.7", "1", "x", "y", 1764067290000000ULL + n * 1000, n);
        det_finish(w.eng);
        CHECK_MSG(w.nout == (cases[k].want_count ? 1 : 0), "case %zu: %d events", k, w.nout);
        if (w.nout == 1) {
            CHECK_MSG(w.out[0].count == (uint32_t)cases[k].want_count, "case %zu: count %u for 3 messages", k,
                      (unsigned)w.out[0].count);
            CHECK_EQ_INT(detail(&w.out[0], "ref.version")->i, cases[k].want_version);
        }
        world_free(&w);
        det_indicators_free(ind);
    }
}

/* A NUL byte in the file's last line, which no line feed ends, is named as
 * in any other line (it was read up to the NUL, the rest dropped unsaid);
 * the same line without it loads. */
static void test_nul_in_last_line(void) {
    char line[2048];
    event_line(line, sizeof line, ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]");
    size_t n = strlen(line) - 1; /* without its line feed */
    for (int k = 0; k < 2; k++) {
        char path[] = "/tmp/test_indicators_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd < 0) return;
        FILE *f = fdopen(fd, "wb");
        fwrite(line, 1, n, f);
        if (k) fwrite("\0{\"x\":1}", 1, 8, f);
        fclose(f);
        fs_err e = {0};
        det_indicators *ind = det_indicators_load(path, now_ms(), &e);
        if (k) {
            CHECK_MSG(ind == NULL, "a NUL byte in the last line was not named");
            CHECK_MSG(strstr(e.msg, ":1: NUL byte") != NULL, "%s", e.msg);
        } else {
            CHECK_MSG(ind != NULL, "%s", e.msg);
        }
        det_indicators_free(ind);
        unlink(path);
    }
}

/* An IPv4 peer as a dual-stack socket reports it (::ffff:a.b.c.d, e.g. in a
 * proxy's HEP) is that IPv4 address, as zones and allow_sources take it. */
static void test_mapped_source(void) {
    det_indicators *ind = cache_indicators();
    world w;
    world_init(&w, ind);
    invite(&w, "::ffff:198.51.100.7", "100", "alice", "Linphone", 1764067290000000ULL, 1);
    invite(&w, "::ffff:203.0.113.200", "100", "alice", "Linphone", 1764067290001000ULL, 2);
    det_finish(w.eng);
    CHECK_EQ_INT(count_for(&w, ID(1)), 1); /* the ip */
    CHECK_EQ_INT(count_for(&w, ID(3)), 1); /* the /25 */
    const ev_event *a = event_for(&w, ID(1));
    if (a) CHECK(!strcmp(a->obs[0].kind, "ip") && !strcmp(a->obs[0].value, "198.51.100.7"));
    world_free(&w);
    det_indicators_free(ind);
}

/* A shared address or network written IPv4-mapped (a partner's sensor fed
 * HEP by a dual-stack proxy reports its sources so) is its IPv4 one: it
 * matches IPv4 traffic and mapped traffic (which is matched as IPv4); kept
 * as IPv6, it matched neither. */
static void test_mapped_indicator(void) {
    char text[4096], line[2048];
    size_t o = 0;
    event_line(line, sizeof line, ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"::ffff:198.51.100.7\",\"role\":\"source\"}]");
    o += (size_t)snprintf(text + o, sizeof text - o, "%s", line);
    event_line(line, sizeof line, ID(2), "SIP_FLOOD", "infrastructure", "medium", "active", 80, 3600,
               "[{\"kind\":\"cidr\",\"value\":\"::ffff:203.0.113.0/120\",\"role\":\"source\"}]");
    o += (size_t)snprintf(text + o, sizeof text - o, "%s", line);
    fs_err e = {0};
    det_indicators *ind = det_indicators_parse(text, o, "c", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    world w;
    world_init(&w, ind);
    invite(&w, "198.51.100.7", "100", "alice", "Linphone", 1764067290000000ULL, 1);
    invite(&w, "::ffff:203.0.113.200", "100", "alice", "Linphone", 1764067290001000ULL, 2);
    det_finish(w.eng);
    CHECK_EQ_INT(count_for(&w, ID(1)), 1);
    CHECK_EQ_INT(count_for(&w, ID(2)), 1);
    const ev_event *b = event_for(&w, ID(2));
    const ev_detail *d = b ? detail(b, "indicator") : NULL;
    if (b) CHECK_MSG(d && !strcmp(d->s, "203.0.113.0/24"), "%s", d ? d->s : "-");
    world_free(&w);
    det_indicators_free(ind);
}

/* A live run reads the cache again (insp_set_indicators): the same shared
 * event, now at another place in the file, keeps its incident open. */
static void test_reload_keeps_incidents(void) {
    char one[2048], other[2048], both[4200];
    event_line(one, sizeof one, ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"}]");
    event_line(other, sizeof other, ID(2), "SIP_FLOOD", "infrastructure", "medium", "active", 80, 3600,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.8\",\"role\":\"source\"}]");
    snprintf(both, sizeof both, "%s%s", other, one); /* ID(1) second now */
    fs_err e = {0};
    det_indicators *a = det_indicators_parse(one, strlen(one), "cache", now_ms(), &e);
    det_indicators *b = det_indicators_parse(both, strlen(both), "cache", now_ms(), &e);
    CHECK(a && b);
    if (!a || !b) return;
    world w;
    world_init(&w, a);
    uint64_t t = 1764067290000000ULL;
    invite(&w, "198.51.100.7", "100", "alice", "Linphone", t, 1);
    invite(&w, "198.51.100.8", "100", "alice", "Linphone", t + 1000, 2); /* not in a yet */
    det_engine_set_indicators(w.eng, b);
    invite(&w, "198.51.100.7", "100", "alice", "Linphone", t + 2000, 3);
    invite(&w, "198.51.100.8", "100", "alice", "Linphone", t + 3000, 4);
    det_finish(w.eng);
    CHECK_EQ_INT(count_for(&w, ID(1)), 1); /* one incident, both messages */
    const ev_event *ev = event_for(&w, ID(1));
    CHECK(ev && ev->count == 2);
    ev = event_for(&w, ID(2));
    CHECK(ev && ev->count == 1); /* only the message after the reload */
    world_free(&w);
    det_indicators_free(a);
    det_indicators_free(b);
}

/* Indicators that expire while loaded are ignored from then on (wall clock). */
static void test_expire_while_loaded(void) {
    fs_err e = {0};
    det_indicators *ind;
    char old[2048];
    event_line(old, sizeof old, ID(2), "SIP_SCANNER", "infrastructure", "high", "active", 90, -5,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.8\",\"role\":\"source\"}]");
    ind = det_indicators_parse(old, strlen(old), "c", now_ms() - 3600 * 1000, &e); /* not expired then */
    det_indicators_info i;
    det_indicators_get_info(ind, &i);
    CHECK_EQ_INT(i.events, 1);
    world w;
    world_init(&w, ind);
    invite(&w, "198.51.100.8", "1", "x", "y", 1764067290000000ULL, 1);
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 0);
    world_free(&w);
    det_indicators_free(ind);
}

/* The shared event's recommended_action.scope is passed on whole (up to the
 * format's 64 characters): one longer than 23 became "sip_ingress". */
/* The INTEL-001 event of one INVITE to +88213555 against a shared IRSF event
 * (ID(4), range +88213) whose member `was` (as event_line writes it) is
 * written `now`; NULL if none. The caller frees w and *ind. */
static const ev_event *one_irsf_hit(world *w, det_indicators **ind, const char *was, const char *now) {
    char line[2048], text[2048];
    event_line(line, sizeof line, ID(4), "IRSF", "fraud", "critical", "active", 85, 3600,
               "[{\"kind\":\"e164_range\",\"value\":\"+88213\",\"role\":\"destination\"}]");
    char *at = strstr(line, was);
    CHECK(at != NULL);
    snprintf(text, sizeof text, "%.*s%s%s", at ? (int)(at - line) : 0, line, at ? now : "", at ? at + strlen(was) : "");
    fs_err e = {0};
    *ind = det_indicators_parse(text, strlen(text), "c", now_ms(), &e);
    CHECK_MSG(*ind != NULL, "%s", e.msg);
    world_init(w, *ind);
    invite(w, "192.0.2.1", "+88213555", "x", "y", 1764067290000000ULL, 1);
    det_finish(w->eng);
    return event_for(w, ID(4));
}

static void test_scope(void) {
    static const char scope[] = "outbound_voice:premium_rate_ranges_of_the_carrier_group_01234567";
    CHECK_EQ_INT(strlen(scope), 64);
    char member[128];
    snprintf(member, sizeof member, "\"scope\":\"%s\"", scope);
    world w;
    det_indicators *ind;
    const ev_event *ev = one_irsf_hit(&w, &ind, "\"scope\":\"sip_ingress\"", member);
    CHECK(ev != NULL);
    if (ev) CHECK_MSG(!strcmp(ev->scope, scope), "scope %s", ev->scope);
    world_free(&w);
    det_indicators_free(ind);
}

/* A shared event that is not acted on (expired during the run, below
 * min_confidence) does not hide one that is: the longest prefix wins among
 * the events acted on, and the hits kept per message are theirs. */
static void test_unusable_do_not_hide(void) {
    fs_err e = {0};
    char text[16384], line[2048], id[40];
    size_t o = 0;
    /* expired an hour after the load time given below: expired now */
    event_line(line, sizeof line, ID(1), "SIP_SCANNER", "infrastructure", "high", "active", 90, -5,
               "[{\"kind\":\"ip\",\"value\":\"198.51.100.7\",\"role\":\"source\"},"
               "{\"kind\":\"e164\",\"value\":\"+88213555\",\"role\":\"callee\"}]");
    o += (size_t)snprintf(text + o, sizeof text - o, "%s", line);
    event_line(line, sizeof line, ID(2), "SIP_FLOOD", "infrastructure", "medium", "active", 80, 3600,
               "[{\"kind\":\"cidr\",\"value\":\"198.51.100.0/24\",\"role\":\"source\"}]");
    o += (size_t)snprintf(text + o, sizeof text - o, "%s", line);
    event_line(line, sizeof line, ID(3), "IRSF", "fraud", "critical", "active", 85, 3600,
               "[{\"kind\":\"e164_range\",\"value\":\"+88213\",\"role\":\"destination\"}]");
    o += (size_t)snprintf(text + o, sizeof text - o, "%s", line);
    det_indicators *ind = det_indicators_parse(text, o, "c", now_ms() - 3600 * 1000, &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    world w;
    world_init(&w, ind);
    invite(&w, "198.51.100.7", "+88213555", "x", "y", 1764067290000000ULL, 1);
    det_finish(w.eng);
    CHECK_EQ_INT(count_for(&w, ID(1)), 0); /* expired */
    CHECK_EQ_INT(count_for(&w, ID(2)), 1); /* the /24, as once the cache is read again */
    CHECK_EQ_INT(count_for(&w, ID(3)), 1); /* the range */
    world_free(&w);
    det_indicators_free(ind);

    /* nine partners' events on one address below min_confidence, the tenth
     * above: the tenth is acted on (not crowded out of the 8 hits kept) */
    o = 0;
    for (unsigned k = 0; k < 10; k++) {
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1b%02u", k);
        event_line(line, sizeof line, id, "SIP_SCANNER", "infrastructure", "high", "active", k == 9 ? 95 : 40,
                   3600, "[{\"kind\":\"ip\",\"value\":\"203.0.113.9\",\"role\":\"source\"}]");
        o += (size_t)snprintf(text + o, sizeof text - o, "%s", line);
    }
    ind = det_indicators_parse(text, o, "c", now_ms(), &e);
    CHECK_MSG(ind != NULL, "%s", e.msg);
    world_init(&w, ind);
    w.cfg->rules[R_INTEL_MATCH].param[0] = 50; /* min_confidence */
    invite(&w, "203.0.113.9", "1", "x", "y", 1764067290000000ULL, 1);
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 1);
    CHECK_EQ_INT(count_for(&w, "0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1b09"), 1);
    world_free(&w);
    det_indicators_free(ind);
}

/* A larger table: 20000 networks and 20000 ranges, lookups stay exact. */
static void test_many(void) {
    size_t cap = 40000 * 420;
    char *buf = malloc(cap);
    size_t o = 0;
    char line[2048], id[40], obs[256];
    for (unsigned k = 0; k < 20000; k++) {
        snprintf(id, sizeof id, "0193a5e0-7c1e-7d2a-9b1f-%012x", k);
        if (k % 2)
            snprintf(obs, sizeof obs, "[{\"kind\":\"cidr\",\"value\":\"10.%u.%u.0/24\",\"role\":\"source\"}]",
                     (k >> 8) & 255, k & 255);
        else
            snprintf(obs, sizeof obs, "[{\"kind\":\"e164_range\",\"value\":\"+99%06u\",\"role\":\"callee\"}]", k);
        event_line(line, sizeof line, id, "SIP_SCANNER", "infrastructure", "high", "active", 90, 3600, obs);
        size_t l = strlen(line);
        memcpy(buf + o, line, l);
        o += l;
    }
    fs_err e = {0};
    uint64_t t0 = fs_time_now_us();
    det_indicators *ind = det_indicators_parse(buf, o, "many", now_ms(), &e);
    uint64_t t1 = fs_time_now_us();
    CHECK_MSG(ind != NULL, "%s", e.msg);
    det_indicators_info i;
    det_indicators_get_info(ind, &i);
    CHECK_EQ_INT(i.events, 20000);
    world w;
    world_init(&w, ind);
    invite(&w, "10.39.15.77", "1", "x", "ua", 1764067290000000ULL, 1);        /* k = 39*256+15 = 9999: odd */
    invite(&w, "10.39.16.77", "1", "x", "ua", 1764067290000100ULL, 2);        /* k = 10000: even, a range */
    invite(&w, "192.0.2.1", "+99012344555", "x", "ua", 1764067290000200ULL, 3); /* k = 12344 */
    invite(&w, "192.0.2.2", "+99012345555", "x", "ua", 1764067290000300ULL, 4); /* k = 12345: odd, no range */
    det_finish(w.eng);
    CHECK_EQ_INT(w.nout, 2);
    CHECK(count_for(&w, "0193a5e0-7c1e-7d2a-9b1f-00000000270f") == 1);
    CHECK(count_for(&w, "0193a5e0-7c1e-7d2a-9b1f-000000003038") == 1);
    fprintf(stderr, "test_indicators: 20000 indicators loaded in %.0f ms\n", (double)(t1 - t0) / 1000);
    world_free(&w);
    det_indicators_free(ind);
    free(buf);
}

/* A callee dialled with more digits than E.164's 15 (overdialling: an
 * exchange routes on the prefix and drops the rest) still starts with a
 * shared range, as high_risk_ranges (cfg_match_prefix) take it; an exact
 * e164 caller is not matched by a longer number. */
static void test_long_numbers(void) {
    det_indicators *ind = cache_indicators();
    world w;
    world_init(&w, ind);
    uint64_t t = 1764067290000000ULL;
    invite(&w, "192.0.2.70", "+88213555012345678", "carol", "Linphone", t, 1);     /* 17 digits */
    invite(&w, "192.0.2.71", "200", "+44770090012345678", "Linphone", t + 1000, 2); /* not +447700900123 */
    det_finish(w.eng);
    const ev_event *irsf = event_for(&w, ID(4));
    CHECK_MSG(irsf != NULL, "a 17-digit callee in +88213");
    if (irsf) CHECK(!strcmp(detail(irsf, "indicator")->s, "+88213"));
    CHECK_EQ_INT(count_for(&w, ID(5)), 0);
    world_free(&w);
    det_indicators_free(ind);
}

/* A shared event's ttl_s longer than a rule's may be (365 days) is held
 * to 365 days, not replaced by the rule's one hour; 0 takes the rule's. */
static void test_long_ttl(void) {
    static const struct {
        const char *ttl;
        uint32_t want;
    } cases[] = {{"2147483647", 365u * 86400}, {"31622400", 365u * 86400}, {"31536000", 365u * 86400},
                 {"86400", 86400}, {"0", 3600}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char member[64];
        snprintf(member, sizeof member, "\"ttl_s\":%s", cases[i].ttl);
        world w;
        det_indicators *ind;
        const ev_event *ev = one_irsf_hit(&w, &ind, "\"ttl_s\":7200", member);
        CHECK(ev != NULL);
        if (ev) {
            CHECK_MSG(ev->ttl_s == cases[i].want, "shared ttl_s %s: event ttl_s %u, want %u", cases[i].ttl,
                      (unsigned)ev->ttl_s, (unsigned)cases[i].want);
            CHECK(ev->valid_until_us == ev->last_us + (uint64_t)cases[i].want * 1000000u);
        }
        world_free(&w);
        det_indicators_free(ind);
    }
}

int main(void) {
    if (sodium_init() < 0) return 1;
    test_load();
    test_largest_event();
    test_nul_in_last_line();
    test_match();
    test_signalling();
    test_pai_values();
    test_long_numbers();
    test_mapped_source();
    test_second_user_agent();
    test_long_user_agent();
    test_mapped_indicator();
    test_expire_while_loaded();
    test_unusable_do_not_hide();
    test_scope();
    test_user_agent_shown_whole();
    test_long_ttl();
    test_reload_keeps_incidents();
    test_versions();
    test_many();
    return check_done("test_indicators");
}
