/*
 * test_inspect.c -- the pipeline: worker sharding keys, raw messages, and
 * that one and several workers see the same messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include "../check.h"
#include "inspect/insp.h"
#include "inspect/insp_metrics.h"

/* Ethernet + IPv4 + UDP/TCP frame with payload; returns length. */
static size_t frame_v4(uint8_t *f, const char *src, uint16_t sport, const char *dst, uint16_t dport,
                       uint8_t proto, uint16_t frag, const char *payload) {
    size_t pl = strlen(payload), l4 = proto == 17 ? 8 : 20;
    memset(f, 0, 14 + 20 + l4);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    size_t tot = 20 + l4 + pl;
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[6] = (uint8_t)(frag >> 8);
    ip[7] = (uint8_t)frag;
    ip[8] = 64;
    ip[9] = proto;
    fs_addr a;
    fs_addr_parse(src, &a);
    memcpy(ip + 12, a.ip, 4);
    fs_addr_parse(dst, &a);
    memcpy(ip + 16, a.ip, 4);
    uint8_t *l = ip + 20;
    l[0] = (uint8_t)(sport >> 8);
    l[1] = (uint8_t)sport;
    l[2] = (uint8_t)(dport >> 8);
    l[3] = (uint8_t)dport;
    if (proto == 17) {
        l[4] = (uint8_t)((8 + pl) >> 8);
        l[5] = (uint8_t)(8 + pl);
    } else {
        l[12] = 0x50;
        l[13] = 0x18;
    }
    memcpy(l + l4, payload, pl);
    return 14 + tot;
}

static uint64_t key_of(const cap_config *c, const char *src, uint16_t sp, const char *dst, uint16_t dp,
                       uint8_t proto, uint16_t frag, const char *payload) {
    uint8_t f[2048];
    size_t n = frame_v4(f, src, sp, dst, dp, proto, frag, payload);
    return cap_shard_key(c, 1, f, (uint32_t)n);
}

/* A HEP v3 datagram (IPv4, UDP, SIP) of msg between src:sp and dst:dp. */
static size_t hep_v4(uint8_t *out, const char *src, uint16_t sp, const char *dst, uint16_t dp, const char *msg) {
    size_t n = 6;
    fs_addr a;
#define HEP_CHUNK(type, bytes, len)                                                                           \
    do {                                                                                                     \
        out[n] = 0, out[n + 1] = 0, out[n + 2] = 0, out[n + 3] = (type);                                     \
        out[n + 4] = (uint8_t)((6 + (len)) >> 8), out[n + 5] = (uint8_t)(6 + (len));                         \
        memcpy(out + n + 6, (bytes), (len));                                                                 \
        n += 6 + (len);                                                                                      \
    } while (0)
    uint8_t family = 2, proto = 17, ptype = 1, spb[2] = {(uint8_t)(sp >> 8), (uint8_t)sp},
            dpb[2] = {(uint8_t)(dp >> 8), (uint8_t)dp}, zero4[4] = {0, 0, 0, 0}, ts[4] = {0x65, 0x53, 0xf1, 0x00};
    HEP_CHUNK(1, &family, 1);
    HEP_CHUNK(2, &proto, 1);
    fs_addr_parse(src, &a);
    HEP_CHUNK(3, a.ip, 4);
    fs_addr_parse(dst, &a);
    HEP_CHUNK(4, a.ip, 4);
    HEP_CHUNK(7, spb, 2);
    HEP_CHUNK(8, dpb, 2);
    HEP_CHUNK(9, ts, 4);
    HEP_CHUNK(10, zero4, 4);
    HEP_CHUNK(11, &ptype, 1);
    HEP_CHUNK(12, zero4, 4);
    HEP_CHUNK(15, msg, strlen(msg));
#undef HEP_CHUNK
    memcpy(out, "HEP3", 4);
    out[4] = (uint8_t)(n >> 8);
    out[5] = (uint8_t)n;
    return n;
}

/* The shard key of a frame from agent to collector:9060 carrying hep (n bytes). */
static uint64_t hep_frame_key(const cap_config *c, const char *agent, const uint8_t *hep, size_t n) {
    uint8_t f[2048];
    char fill[1024];
    memset(fill, 'x', n);
    fill[n] = 0;
    size_t len = frame_v4(f, agent, 40000, "10.0.0.9", 9060, 17, 0, fill);
    memcpy(f + 14 + 20 + 8, hep, n);
    return cap_shard_key(c, 1, f, (uint32_t)len);
}

static void test_shard_keys(void) {
    static fs38_config cfg;
    cfg_defaults(&cfg);
    const cap_config *c = &cfg.capture;
    const char *req = "INVITE sip:1@b SIP/2.0\r\n\r\n", *resp = "SIP/2.0 200 OK\r\n\r\n";
    /* UA on an ephemeral port and its proxy: both directions on the UA's key */
    uint64_t k1 = key_of(c, "192.0.2.1", 40000, "198.51.100.1", 5060, 17, 0, req);
    uint64_t k2 = key_of(c, "198.51.100.1", 5060, "192.0.2.1", 40000, 17, 0, resp);
    uint64_t k3 = key_of(c, "198.51.100.1", 5060, "192.0.2.1", 40000, 17, 0, "BYE sip:x SIP/2.0\r\n\r\n");
    CHECK(k1 != 0);
    CHECK_EQ_INT(k1, k2);
    CHECK_EQ_INT(k1, k3);
    /* a scanner on port 5060 probing many servers on 5060 stays on one key */
    uint64_t s1 = key_of(c, "203.0.113.9", 5060, "198.51.100.1", 5060, 17, 0, "OPTIONS sip:100@x SIP/2.0\r\n\r\n");
    uint64_t s2 = key_of(c, "203.0.113.9", 5060, "198.51.100.77", 5060, 17, 0, "OPTIONS sip:100@y SIP/2.0\r\n\r\n");
    uint64_t s3 = key_of(c, "198.51.100.77", 5060, "203.0.113.9", 5060, 17, 0, resp);
    CHECK_EQ_INT(s1, s2);
    CHECK_EQ_INT(s1, s3);
    /* TCP: both directions of a connection agree, whatever the segment holds */
    uint64_t t1 = key_of(c, "192.0.2.5", 50123, "198.51.100.1", 5060, 6, 0, "ody of a message");
    uint64_t t2 = key_of(c, "198.51.100.1", 5060, "192.0.2.5", 50123, 6, 0, "");
    CHECK_EQ_INT(t1, t2);
    /* fragments: keyed by the address pair, both directions the same */
    uint64_t f1 = key_of(c, "192.0.2.5", 1, "198.51.100.1", 2, 17, 0x2000, "xxxxxxxxxxxxxxxxxx");
    uint64_t f2 = key_of(c, "192.0.2.5", 1, "198.51.100.1", 2, 17, 0x0010, "yyyyyyyyyyyyyyyyyy");
    CHECK_EQ_INT(f1, f2);
    /* different clients usually land on different keys */
    uint64_t o1 = key_of(c, "192.0.2.99", 40000, "198.51.100.1", 5060, 17, 0, req);
    CHECK(o1 != k1);
    /* the payload peeked with the key: a UDP datagram's, a TCP segment's
     * data without the link layer's padding */
    static const struct { uint8_t proto; const char *payload; } peeks[] = {
        {17, "INVITE sip:1@b SIP/2.0\r\n\r\n"}, {6, "INVITE sip:1@b SIP/2.0\r\n"}, {6, "CSeq"}};
    for (unsigned i = 0; i < sizeof peeks / sizeof *peeks; i++) {
        uint8_t f[128] = {0};
        size_t n = frame_v4(f, "192.0.2.5", 50123, "198.51.100.1", 5060, peeks[i].proto, 0, peeks[i].payload);
        const uint8_t *pl = NULL;
        uint32_t plen = 0;
        cap_shard_peek(c, 1, f, n < 60 ? 60 : (uint32_t)n, &pl, &plen, NULL, NULL); /* Ethernet pads to 60 */
        CHECK_MSG(pl && plen == strlen(peeks[i].payload) && !memcmp(pl, peeks[i].payload, plen),
                  "peek %u: %u bytes", i, plen);
    }
    /* HEP: the inner message's client, as for the same message in a frame
     * (a scanner probing many servers through a mirroring proxy stays on
     * one key, whatever the servers) */
    {
        cap_hep h = {.src = {.port = 5060}, .dst = {.port = 5060}, .ip_proto = 17, .proto_type = 1};
        const char *probe = "OPTIONS sip:100@x SIP/2.0\r\n\r\n";
        fs_addr_parse("203.0.113.9", &h.src.addr);
        fs_addr_parse("198.51.100.1", &h.dst.addr);
        h.payload = (const uint8_t *)probe;
        h.payload_len = (uint32_t)strlen(probe);
        uint64_t h1 = cap_shard_key_hep(c, &h);
        fs_addr_parse("198.51.100.77", &h.dst.addr);
        CHECK_EQ_INT(cap_shard_key_hep(c, &h), h1);
        CHECK_EQ_INT(h1, s1);
        /* an IPv6 client by its /64 (state.ipv6_source_prefix): a host
         * hopping over the addresses of its network stays on one worker,
         * which counts them as one source; per address with 128 */
        fs_addr_parse("2001:db8:1:2::99", &h.src.addr);
        fs_addr_parse("2001:db8:ffff::a", &h.dst.addr);
        uint64_t v1 = cap_shard_key_hep(c, &h);
        fs_addr_parse("2001:db8:1:2:a5af:bbbb:6fe:c5c7", &h.src.addr);
        CHECK_EQ_INT(cap_shard_key_hep(c, &h), v1);
        fs_addr_parse("2001:db8:1:3::99", &h.src.addr);
        CHECK(cap_shard_key_hep(c, &h) != v1);
        cap_config per_address = *c;
        per_address.client_prefix6 = 128;
        fs_addr_parse("2001:db8:1:2::99", &h.src.addr);
        uint64_t a1 = cap_shard_key_hep(&per_address, &h);
        fs_addr_parse("2001:db8:1:2:a5af:bbbb:6fe:c5c7", &h.src.addr);
        CHECK(cap_shard_key_hep(&per_address, &h) != a1);
    }
    /* HEP in a capture (frames to a hep_port): by the client of the message
     * it carries, as the --hep listener shards it, not by the agent's
     * address (a scanner two mirroring proxies saw went to two workers) */
    {
        uint8_t hep[512];
        const char *probe = "OPTIONS sip:100@x SIP/2.0\r\n\r\n";
        size_t n = hep_v4(hep, "203.0.113.9", 5060, "198.51.100.1", 5060, probe);
        uint64_t a1 = hep_frame_key(c, "10.0.0.1", hep, n);
        n = hep_v4(hep, "203.0.113.9", 5060, "198.51.100.77", 5060, probe);
        uint64_t a2 = hep_frame_key(c, "10.0.0.2", hep, n);
        CHECK_EQ_INT(a1, s1);
        CHECK_EQ_INT(a2, s1);
        /* the UA's side of its dialog with a proxy, whichever agent saw it */
        n = hep_v4(hep, "198.51.100.1", 5060, "192.0.2.1", 40000, resp);
        CHECK_EQ_INT(hep_frame_key(c, "10.0.0.2", hep, n), k1);
    }
    /* garbage never crashes and gives 0 */
    uint8_t junk[10] = {0};
    CHECK_EQ_INT(cap_shard_key(c, 1, junk, sizeof junk), 0);
    CHECK_EQ_INT(cap_shard_key(c, 9999, junk, sizeof junk), 0);
}

/* ---- raw messages through the whole pipeline -------------------------------------- */

typedef struct seen {
    int events;
    char rules[8][24];
} seen;

static void collect(void *user, const ev_event *ev, bool final) {
    seen *s = user;
    if (!final) return;
    if (s->events < 8) snprintf(s->rules[s->events], sizeof s->rules[0], "%s", det_rule_table[ev->rule].id);
    s->events++;
}

static bool saw(const seen *s, const char *rule) {
    for (int i = 0; i < s->events && i < 8; i++)
        if (!strcmp(s->rules[i], rule)) return true;
    return false;
}

static void test_raw(void) {
    static fs38_config cfg;
    cfg_defaults(&cfg);
    seen s = {0};
    insp_options o = {.cfg = &cfg, .on_event = collect, .user = &s};
    fs_err e = {0};
    insp *in = insp_new(&o, &e);
    CHECK(in != NULL);
    if (!in) return;
    CHECK_EQ_INT(insp_run_raw(in, "tests/data/rfc4475/badvers.dat", &e), FS_OK);
    CHECK(insp_run_raw(in, "tests/data/rfc4475/no-such-file.dat", &e) == FS_ERR_IO);
    CHECK(strstr(e.msg, "no-such-file.dat") != NULL);
    insp_finish(in);
    insp_stats st;
    insp_get_stats(in, &st);
    CHECK_EQ_INT(st.frames_read, 1);
    CHECK_EQ_INT(st.det.messages, 1);
    CHECK(saw(&s, "SIP-MAL-001"));
    insp_free(in);
}

/* A classic pcap file (Ethernet) to write synthetic captures into. */
static FILE *pcap_create(const char *path) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
    if (f) fwrite(gh, 4, 6, f);
    return f;
}

/* One UDP datagram src:sport -> dst:5060 at sec.usec. */
static void pcap_put_udp_to(FILE *f, const char *src, uint16_t sport, const char *dst, const char *payload,
                            uint32_t sec, uint32_t usec) {
    uint8_t fr[1024];
    size_t n = frame_v4(fr, src, sport, dst, 5060, 17, 0, payload);
    uint32_t rh[4] = {sec, usec, (uint32_t)n, (uint32_t)n};
    fwrite(rh, 4, 4, f);
    fwrite(fr, 1, n, f);
}

/* One UDP datagram from src:5070 to 198.51.100.1:5060 at sec.usec. */
static void pcap_put_udp(FILE *f, const char *src, const char *payload, uint32_t sec, uint32_t usec) {
    pcap_put_udp_to(f, src, 5070, "198.51.100.1", payload, sec, usec);
}

/* Inspect the capture at path with w workers (live reporting or not), the
 * events going to fn(user); its statistics in *st. false if it could not. */
/* yaml: a configuration over the defaults, or NULL */
static bool inspect_file_cfg(const char *path, unsigned w, bool live, const char *yaml, insp_event_fn fn, void *user,
                             insp_stats *st) {
    static fs38_config cfg;
    cfg_defaults(&cfg);
    fs_err e = {0};
    if (yaml) CHECK_EQ_INT(cfg_load_buffer(&cfg, yaml, strlen(yaml), ".", &e), FS_OK);
    insp_options o = {.cfg = &cfg, .workers = w, .live = live, .on_event = fn, .user = user};
    insp *in = insp_new(&o, &e);
    CHECK(in != NULL);
    if (!in) return false;
    CHECK_EQ_INT(insp_run_file(in, path, NULL, &e), FS_OK);
    insp_finish(in);
    insp_get_stats(in, st);
    insp_free(in);
    return true;
}

static bool inspect_file(const char *path, unsigned w, bool live, insp_event_fn fn, void *user, insp_stats *st) {
    return inspect_file_cfg(path, w, live, NULL, fn, user, st);
}

/* The same synthetic capture through 1 and 2 workers: same message counts. */
static void test_workers_agree(void) {
    const char *path = "/tmp/fs38_test_inspect.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    for (int i = 0; i < 400; i++) {
        char src[32], payload[512];
        snprintf(src, sizeof src, "192.0.2.%d", 1 + i % 50);
        snprintf(payload, sizeof payload,
                 "OPTIONS sip:%d@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bK%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@%s>;tag=%d\r\nTo: <sip:%d@198.51.100.1>\r\n"
                 "Call-ID: c%d@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                 i, src, i, src, i, i, i);
        pcap_put_udp(f, src, payload, 1700000000u + (uint32_t)i / 10, (uint32_t)(i % 10) * 1000);
    }
    fclose(f);
    uint64_t msgs[2] = {0, 0};
    for (unsigned w = 1; w <= 2; w++) {
        static fs38_config cfg;
        cfg_defaults(&cfg);
        seen s = {0};
        insp_options o = {.cfg = &cfg, .workers = w, .on_event = collect, .user = &s};
        fs_err e = {0};
        insp *in = insp_new(&o, &e);
        CHECK(in != NULL);
        if (!in) return;
        uint64_t frames = 0;
        CHECK_EQ_INT(insp_run_file(in, path, &frames, &e), FS_OK);
        CHECK_EQ_INT(frames, 400);
        insp_finish(in);
        insp_stats st;
        insp_get_stats(in, &st);
        CHECK_EQ_INT(st.workers, w);
        msgs[w - 1] = st.det.messages;
        det_talker t[3];
        CHECK_EQ_INT(insp_top_talkers(in, t, 3), 3);
        CHECK_EQ_INT(t[0].messages, 8); /* 50 sources, 8 requests each */
        insp_free(in);
    }
    CHECK_EQ_INT(msgs[0], 400);
    CHECK_EQ_INT(msgs[1], 400);
    remove(path);
}

/* duration_us bounds live and HEP runs only: a file is read to its end
 * however long that takes (--duration 60 given with files cut them short
 * after 60 s, with no word and exit 0). 1 us: over before the second frame. */
static void test_duration_not_files(void) {
    const char *path = "/tmp/fs38_test_duration.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    for (int i = 0; i < 200; i++) {
        char payload[256];
        snprintf(payload, sizeof payload,
                 "OPTIONS sip:%d@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=%d\r\nTo: <sip:%d@x>\r\n"
                 "Call-ID: d%d@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i, i, i, i);
        pcap_put_udp(f, "192.0.2.1", payload, 1700000000u + (uint32_t)i, 0);
    }
    fclose(f);
    for (unsigned w = 1; w <= 2; w++) {
        static fs38_config cfg;
        cfg_defaults(&cfg);
        insp_options o = {.cfg = &cfg, .workers = w, .duration_us = 1};
        fs_err e = {0};
        insp *in = insp_new(&o, &e);
        CHECK(in != NULL);
        if (!in) return;
        uint64_t frames = 0;
        CHECK_EQ_INT(insp_run_file(in, path, &frames, &e), FS_OK);
        CHECK_EQ_INT(frames, 200);
        insp_finish(in);
        insp_stats st;
        insp_get_stats(in, &st);
        CHECK_EQ_INT(st.det.messages, 200);
        insp_free(in);
    }
    remove(path);
}

/* 2 workers, a destination flood whose 100 senders are split between them
 * (their counts add up in det_shared.c), ending before its 10 s window does:
 * the output must be what one worker writes -- in live mode one open report
 * and one final report of one event_id, in file mode one report -- with the
 * whole count. */
typedef struct live_seen {
    int flood_open, flood_final;
    char open_id[40], final_id[40];
    uint64_t final_count;
    uint32_t final_version;
} live_seen;

static void collect_live(void *user, const ev_event *ev, bool final) {
    live_seen *s = user;
    if (strcmp(det_rule_table[ev->rule].id, "SIP-FLOOD-002")) return;
    if (final) {
        s->flood_final++;
        memcpy(s->final_id, ev->event_id, sizeof s->final_id);
        s->final_count = ev->count;
        s->final_version = ev->version;
    } else {
        s->flood_open++;
        memcpy(s->open_id, ev->event_id, sizeof s->open_id);
    }
}

static void test_live_one_report_per_incident(void) {
    const char *path = "/tmp/fs38_test_inspect_live.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { SENDERS = 100, EACH = 15 }; /* 1,500 INVITEs in 5 s: over 1,000 per 10 s */
    for (int i = 0; i < SENDERS * EACH; i++) {
        char src[32], payload[640];
        int who = i % SENDERS;
        snprintf(src, sizeof src, "192.0.2.%d", 1 + who);
        snprintf(payload, sizeof payload,
                 "INVITE sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bK%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:u%d@%s>;tag=%d\r\nTo: <sip:100@198.51.100.1>\r\n"
                 "Call-ID: live%d@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                 src, i, who, src, i, i);
        uint32_t us = (uint32_t)i * (5000000u / (SENDERS * EACH));
        pcap_put_udp(f, src, payload, 1700000000u + us / 1000000u, us % 1000000u);
    }
    fclose(f);
    for (int live = 0; live <= 1; live++) { /* file mode merges too (held reports) */
        live_seen got[2];
        for (unsigned w = 1; w <= 2; w++) {
            live_seen *s = &got[w - 1];
            memset(s, 0, sizeof *s);
            insp_stats st;
            if (!inspect_file(path, w, live, collect_live, s, &st)) return;
            if (w == 2)
                CHECK_MSG(st.worker_messages[0] > 0 && st.worker_messages[1] > 0,
                          "both workers carry senders: %llu / %llu",
                          (unsigned long long)st.worker_messages[0],
                          (unsigned long long)st.worker_messages[1]);
            CHECK_MSG(s->flood_open == live && s->flood_final == 1,
                      "%s, %u worker(s): %d open and %d final reports", live ? "live" : "file", w,
                      s->flood_open, s->flood_final);
            if (live) {
                CHECK_MSG(!strcmp(s->open_id, s->final_id), "%u worker(s): final %s is not open %s", w,
                          s->final_id, s->open_id);
                CHECK_EQ_INT(s->final_version, 2);
            }
        }
        /* the worker that read its share first never saw the sum cross: it
         * reports its share at the end (det_flush_shared) */
        CHECK_MSG(got[1].final_count == got[0].final_count, "%s: %llu with 2 workers, %llu with 1",
                  live ? "live" : "file", (unsigned long long)got[1].final_count,
                  (unsigned long long)got[0].final_count);
        CHECK(got[0].final_count >= 1000);
    }
    remove(path);
}

/* Live mode, an incident that goes on longer than its ttl_s: receivers act
 * on a version until its valid_until, so it is reported again (the next
 * version, same event_id) once its activity went on for half the ttl past
 * the last report, and no report lapses before the next one comes. The same
 * with 2 workers, whose shares' refreshes are the merged incident's. */
typedef struct refresh_seen {
    int reports, finals, bad_version, lapsed, other_id;
    char id[40];
    uint32_t version;
    uint64_t valid_until_us, last_us, final_count;
} refresh_seen;

static void collect_refresh(void *user, const ev_event *ev, bool final) {
    refresh_seen *s = user;
    if (strcmp(det_rule_table[ev->rule].id, "SIP-FLOOD-002")) return;
    if (final && ev->unchanged) return; /* not written: the last version stands */
    if (!s->reports++) memcpy(s->id, ev->event_id, sizeof s->id);
    else {
        s->other_id += strcmp(s->id, ev->event_id) != 0;
        s->bad_version += ev->version != s->version + 1;
        s->lapsed += !final && ev->last_us >= s->valid_until_us; /* went on after the last one ran out */
    }
    s->version = ev->version;
    s->valid_until_us = ev->valid_until_us;
    s->last_us = ev->last_us;
    if (final) s->finals++, s->final_count = ev->count;
}

static void test_live_refresh(void) {
    const char *path = "/tmp/fs38_test_inspect_refresh.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { SENDERS = 100, SECONDS = 60, PER_SECOND = 150 }; /* 1,500 INVITEs per 10 s window */
    for (int i = 0; i < SECONDS * PER_SECOND; i++) {
        char src[32], payload[640];
        int who = i % SENDERS;
        snprintf(src, sizeof src, "192.0.2.%d", 1 + who);
        snprintf(payload, sizeof payload,
                 "INVITE sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bK%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:u%d@%s>;tag=%d\r\nTo: <sip:100@198.51.100.1>\r\n"
                 "Call-ID: refresh%d@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                 src, i, who, src, i, i);
        uint64_t us = (uint64_t)i * (1000000u / PER_SECOND);
        pcap_put_udp(f, src, payload, 1700000000u + (uint32_t)(us / 1000000u), (uint32_t)(us % 1000000u));
    }
    fclose(f);
    const char *yaml = "rules:\n  SIP-FLOOD-002:\n    ttl_s: 20\n";
    for (unsigned w = 1; w <= 2; w++) {
        refresh_seen s = {0};
        insp_stats st;
        if (!inspect_file_cfg(path, w, true, yaml, collect_refresh, &s, &st)) return;
        /* open at ~7 s, then one every ~10 s of the 60: 5 or 6 versions, and the final */
        CHECK_MSG(s.reports >= 6 && s.finals == 1, "%u worker(s): %d reports, %d final", w, s.reports, s.finals);
        CHECK_MSG(s.other_id == 0 && s.bad_version == 0 && s.lapsed == 0,
                  "%u worker(s): %d other ids, %d versions out of turn, %d lapsed", w, s.other_id, s.bad_version,
                  s.lapsed);
        CHECK_EQ_INT(s.version, (uint32_t)s.reports);
        CHECK(s.final_count >= 8000);
    }
    /* a ttl longer than the attack: open and final only, as before */
    refresh_seen s = {0};
    insp_stats st;
    if (!inspect_file_cfg(path, 1, true, NULL, collect_refresh, &s, &st)) return;
    CHECK_MSG(s.reports == 2 && s.version == 2, "default ttl: %d reports, version %u", s.reports, s.version);
    remove(path);
}

/* SIP-FLOOD-002 final reports: how many, their count and times. */
typedef struct flood_span {
    int incidents;
    uint64_t count, first_us, last_us;
    int64_t sources; /* distinct_sources, -1: not named */
} flood_span;

static void collect_flood_span(void *user, const ev_event *ev, bool final) {
    flood_span *s = user;
    if (!final || ev->rule != R_FLOOD_DEST) return;
    s->incidents++;
    s->count += ev->count;
    s->first_us = ev->first_us;
    s->last_us = ev->last_us;
    const ev_detail *d = ev_get_detail(ev, "distinct_sources");
    s->sources = d && d->kind == EV_D_INT ? d->i : -1;
}

/* A destination flood of two senders the workers split: A's 600 INVITEs in
 * the first 1.5 s of the 10 s window, B's 600 from 7 s to 9.9 s (more than
 * the 2 s the workers may drift apart). A's worker never sees the sum cross, so it reports its share late: at the roll into the
 * next window (A's INVITE at 14 s) or at the end of the run (after A's
 * OPTIONS elsewhere at 30 s). Its report took the time of that message, or
 * of the engine's clock, for its share's: last_seen 14 s or 30 s, where one
 * worker says 9.9 s, B's last request. Variant 2: B sends 500, and A's
 * INVITE at 10.5 s rolls the window while B's last batch is still held, so
 * the sum is under the threshold then: A's share is kept and reported at the
 * end (det_behaviour_finish_shared), which named no distinct_sources.
 * Variant 3: variant 2, then A's single INVITE to the destination in each of
 * the next five windows: each leaves a share under the threshold too, and
 * the four kept were the newest, so A's 600 of the flood window made room
 * for them and were never reported (500 of 1100 with 2 workers). */
static void test_flood_late_share_times(void) {
    const char *path = "/tmp/fs38_test_inspect_flood_late.pcap";
    for (int variant = 0; variant < 4; variant++) {
        FILE *f = pcap_create(path);
        if (!f) return;
        enum { EACH = 600 };
        const int each_b = variant >= 2 ? 500 : EACH;
        const uint32_t base = 1700000000u; /* a multiple of the 10 s window */
        /* a first client elsewhere takes worker 1 (pick_worker counts worker 0's
         * reading), so A goes to worker 0, on the reader's thread: its share is
         * counted as it is read, long before B's on worker 1 */
        pcap_put_udp_to(f, "192.0.2.99", 5070, "198.51.100.3",
                        "OPTIONS sip:100@198.51.100.3 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.99:5070;branch=z9hG4bKd\r\n"
                        "Max-Forwards: 70\r\nFrom: <sip:u@192.0.2.99>;tag=d\r\nTo: <sip:100@198.51.100.3>\r\n"
                        "Call-ID: fld@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                        base, 0);
        for (int i = 0; i < EACH + each_b; i++) {
            bool a = i < EACH;
            const char *src = a ? "192.0.2.10" : "192.0.2.20";
            char payload[640];
            snprintf(payload, sizeof payload,
                     "INVITE sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bKfl%d\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:u@%s>;tag=%d\r\nTo: <sip:100@198.51.100.1>\r\n"
                     "Call-ID: fl%d@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                     src, i, src, i, i);
            uint32_t us = a ? (uint32_t)i * (1500000u / EACH) : 7000000u + (uint32_t)(i - EACH) * (2900000u / (uint32_t)each_b);
            pcap_put_udp(f, src, payload, base + us / 1000000u, us % 1000000u);
        }
        char payload[512];
        for (int k = 0; variant == 0 && k < 3; k++) {
            /* B's requests elsewhere, 1.2 s apart: each hands worker 1 its last
             * batch, and the third waits for it to be within 2 s (batch_submit),
             * so B's share is all counted when A's INVITE at 14 s rolls the window */
            snprintf(payload, sizeof payload,
                     "OPTIONS sip:100@198.51.100.3 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bKb%d\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:u@192.0.2.20>;tag=b%d\r\nTo: <sip:100@198.51.100.3>\r\n"
                     "Call-ID: flb%d@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                     k, k, k);
            uint32_t us = 11000000u + (uint32_t)k * 1200000u;
            pcap_put_udp_to(f, "192.0.2.20", 5070, "198.51.100.3", payload, base + us / 1000000u, us % 1000000u);
        }
        const char *dst = variant == 1 ? "198.51.100.2" : "198.51.100.1";
        snprintf(payload, sizeof payload,
                 "%s sip:100@%s SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKfll\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:u@192.0.2.10>;tag=l\r\nTo: <sip:100@%s>\r\n"
                 "Call-ID: fll@x\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n",
                 variant == 1 ? "OPTIONS" : "INVITE", dst, dst, variant == 1 ? "OPTIONS" : "INVITE");
        pcap_put_udp_to(f, "192.0.2.10", 5070, dst, payload, base + (variant == 0 ? 14 : variant == 1 ? 30 : 10),
                        variant >= 2 ? 500000u : 0);
        for (int k = 0; variant == 3 && k < 5; k++) { /* one request in each later window */
            snprintf(payload, sizeof payload,
                     "INVITE sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKfw%d\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:u@192.0.2.10>;tag=w%d\r\nTo: <sip:100@198.51.100.1>\r\n"
                     "Call-ID: flw%d@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                     k, k, k);
            pcap_put_udp(f, "192.0.2.10", payload, base + 20 + 10 * (uint32_t)k, 500000u);
        }
        fclose(f);
        flood_span got[2] = {{0}};
        for (unsigned w = 1; w <= 2; w++) {
            insp_stats st;
            if (!inspect_file(path, w, false, collect_flood_span, &got[w - 1], &st)) return;
            if (w == 2)
                CHECK_MSG(st.worker_messages[0] > 0 && st.worker_messages[1] > 0,
                          "both workers carry a sender: %llu / %llu", (unsigned long long)st.worker_messages[0],
                          (unsigned long long)st.worker_messages[1]);
        }
        CHECK_EQ_INT(got[0].incidents, 1);
        CHECK_EQ_INT(got[1].incidents, 1);
        CHECK_EQ_INT(got[1].count, got[0].count);
        CHECK_EQ_INT(got[1].first_us, got[0].first_us);
        CHECK_MSG(got[1].last_us == got[0].last_us && got[0].last_us < (uint64_t)(base + 10) * FS_USEC,
                  "variant %d: last_seen %llu us with 2 workers, %llu with 1", variant,
                  (unsigned long long)got[1].last_us, (unsigned long long)got[0].last_us);
        CHECK_MSG(got[1].sources == got[0].sources && got[0].sources == 2,
                  "variant %d: distinct_sources %lld with 2 workers, %lld with 1", variant,
                  (long long)got[1].sources, (long long)got[0].sources);
    }
    if (!getenv("KEEP")) remove(path);
}

/* FRAUD-VOL-001 final reports: how many, their calls, the caller named. */
typedef struct volume_seen {
    int incidents;
    uint64_t count;
    char caller[32];
} volume_seen;

static void collect_volume(void *user, const ev_event *ev, bool final) {
    volume_seen *s = user;
    if (!final || strcmp(det_rule_table[ev->rule].id, "FRAUD-VOL-001")) return;
    s->incidents++;
    s->count += ev->count;
    for (unsigned i = 0; i < ev->nobs; i++)
        if (!strcmp(ev->obs[i].role, "caller")) snprintf(s->caller, sizeof s->caller, "%s", ev->obs[i].value);
}

/* One caller number calling from 50 addresses, which the workers split
 * between them: 50 calls up at once, over FRAUD-VOL-001's 30 concurrent.
 * Each worker sees about 25, under it; the workers count into one callers
 * table (det_shared.c), so two report what one does: one incident of 50. */
static void test_caller_across_workers(void) {
    const char *path = "/tmp/fs38_test_inspect_caller.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { CALLS = 50 };
    for (int i = 0; i < CALLS; i++) {
        char src[32], payload[640];
        snprintf(src, sizeof src, "192.0.2.%d", 1 + i);
        snprintf(payload, sizeof payload,
                 "INVITE sip:+4420794600%02d@198.51.100.1 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP %s:5070;branch=z9hG4bKv%d\r\nMax-Forwards: 70\r\n"
                 "From: <sip:+441632960001@%s>;tag=%d\r\nTo: <sip:+4420794600%02d@198.51.100.1>\r\n"
                 "Call-ID: vol%d@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                 i, src, i, src, i, i, i);
        pcap_put_udp(f, src, payload, 1700000000u + (uint32_t)i / 10, (uint32_t)(i % 10) * 100000u);
    }
    fclose(f);
    volume_seen got[2] = {{0}};
    for (unsigned w = 1; w <= 2; w++) {
        insp_stats st;
        if (!inspect_file(path, w, false, collect_volume, &got[w - 1], &st)) return;
        if (w == 2)
            CHECK_MSG(st.worker_messages[0] < 31 && st.worker_messages[1] < 31,
                      "each worker under the threshold alone: %llu / %llu",
                      (unsigned long long)st.worker_messages[0], (unsigned long long)st.worker_messages[1]);
        CHECK_EQ_INT(st.mem.callers_live, 1);
        CHECK_MSG(got[w - 1].incidents == 1 && got[w - 1].count == CALLS,
                  "%u worker(s): %d FRAUD-VOL-001 incident(s), %llu calls", w, got[w - 1].incidents,
                  (unsigned long long)got[w - 1].count);
    }
    if (!getenv("KEEP")) remove(path);
}

/* One call from caller at src:5070 to callee at 198.51.100.1 (Call-ID id@x):
 * its INVITE at t, the callee's `status` answer at t + status_us, and the
 * caller's `end` (BYE after a 2xx, else CANCEL) end_us after t. */
static void put_call(FILE *f, const char *src, const char *caller, const char *callee, const char *id, uint32_t t,
                     int status, uint32_t status_us, const char *end, uint64_t end_us) {
    char h[3][320], msg[3][640];
    bool bye = !strcmp(end, "BYE");
    const char *hdr = "Via: SIP/2.0/UDP %s:5070;branch=z9hG4bK%s%s\r\nFrom: <sip:%s@%s>;tag=%s\r\n"
                      "To: <sip:%s@198.51.100.1>%s\r\nCall-ID: %s@x\r\n";
    snprintf(h[0], sizeof h[0], hdr, src, "i", id, caller, src, id, callee, "", id);
    snprintf(h[1], sizeof h[1], hdr, src, "i", id, caller, src, id, callee, ";tag=b", id);
    snprintf(h[2], sizeof h[2], hdr, src, bye ? "b" : "i", id, caller, src, id, callee, bye ? ";tag=b" : "", id);
    snprintf(msg[0], sizeof msg[0], "INVITE sip:%s@198.51.100.1 SIP/2.0\r\n%sMax-Forwards: 70\r\n"
             "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", callee, h[0]);
    snprintf(msg[1], sizeof msg[1], "SIP/2.0 %d %s\r\n%sCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", status,
             status == 200 ? "OK" : "Ringing", h[1]);
    snprintf(msg[2], sizeof msg[2], "%s sip:%s@198.51.100.1 SIP/2.0\r\n%sMax-Forwards: 70\r\n"
             "CSeq: %d %s\r\nContent-Length: 0\r\n\r\n", end, callee, h[2], bye ? 2 : 1, end);
    pcap_put_udp(f, src, msg[0], t, 0);
    pcap_put_udp_to(f, "198.51.100.1", 5060, src, msg[1], t, status_us);
    pcap_put_udp(f, src, msg[2], t + (uint32_t)(end_us / 1000000u), (uint32_t)(end_us % 1000000u));
}

typedef struct long_seen {
    int incidents;
    uint64_t count;
    int64_t long_calls;
} long_seen;

static void collect_long(void *user, const ev_event *ev, bool final) {
    long_seen *s = user;
    if (!final || strcmp(det_rule_table[ev->rule].id, "FRAUD-IRSF-002")) return;
    s->incidents++;
    s->count += ev->count;
    const ev_detail *d = ev_get_detail(ev, "long_calls");
    s->long_calls = d && d->kind == EV_D_INT ? d->i : -1;
}

/* One caller's long calls to a high-risk range (FRAUD-IRSF-002, one
 * incident per caller) from 8 addresses, which the workers split: the
 * merged report counts 8 long calls, and says so (long_calls), as one
 * engine does; it used to keep the larger share's long_calls. */
static void test_long_calls_across_workers(void) {
    const char *path = "/tmp/fs38_test_inspect_long.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { CALLS = 8 };
    for (int i = 0; i < CALLS; i++) {
        char src[32], id[16], callee[32];
        snprintf(src, sizeof src, "192.0.2.%d", 1 + i);
        snprintf(id, sizeof id, "long%d", i);
        snprintf(callee, sizeof callee, "+8821610000%d", i);
        put_call(f, src, "+441632960001", callee, id, 1700000000u + (uint32_t)i, 200, 500000, "BYE", 60000000u);
    }
    fclose(f);
    static fs38_config cfg;
    cfg_defaults(&cfg);
    fs_err e = {0};
    CHECK_EQ_INT(cfg_load_ranges_buffer(&cfg, "+88216,Satellite\n", 17, "ranges", &e), FS_OK);
    cfg.rules[R_IRSF_LONG_CALL].param[0] = 30; /* min_duration_s */
    long_seen got[2] = {{0}};
    for (unsigned w = 1; w <= 2; w++) {
        insp_options o = {.cfg = &cfg, .workers = w, .on_event = collect_long, .user = &got[w - 1]};
        insp *in = insp_new(&o, &e);
        CHECK(in != NULL);
        if (!in) return;
        CHECK_EQ_INT(insp_run_file(in, path, NULL, &e), FS_OK);
        insp_finish(in);
        insp_stats st;
        insp_get_stats(in, &st);
        if (w == 2)
            CHECK_MSG(st.worker_messages[0] > 0 && st.worker_messages[1] > 0, "both workers carry calls: %llu / %llu",
                      (unsigned long long)st.worker_messages[0], (unsigned long long)st.worker_messages[1]);
        insp_free(in);
        CHECK_MSG(got[w - 1].incidents == 1 && got[w - 1].count == CALLS && got[w - 1].long_calls == CALLS,
                  "%u worker(s): %d FRAUD-IRSF-002 incident(s), count %llu, long_calls %lld", w, got[w - 1].incidents,
                  (unsigned long long)got[w - 1].count, (long long)got[w - 1].long_calls);
    }
    if (!getenv("KEEP")) remove(path);
}

typedef struct wangiri_seen {
    int incidents;
    uint64_t count;
    int64_t short_rings, distinct;
} wangiri_seen;

static void collect_wangiri(void *user, const ev_event *ev, bool final) {
    wangiri_seen *s = user;
    if (!final || strcmp(det_rule_table[ev->rule].id, "FRAUD-WANGIRI-001")) return;
    s->incidents++;
    s->count += ev->count;
    const ev_detail *d = ev_get_detail(ev, "short_rings"), *n = ev_get_detail(ev, "distinct_callees");
    s->short_rings = d && d->kind == EV_D_INT ? d->i : -1;
    s->distinct = n && n->kind == EV_D_INT ? n->i : -1;
}

/* One caller's one-ring calls (FRAUD-WANGIRI-001) through three trunks,
 * which the workers split: the caller's window is one (det_shared.c), and
 * the merged report's short_rings and distinct_callees are the window's
 * last counts, 18 as one engine says, not those the larger share read. */
static void test_wangiri_across_workers(void) {
    const char *path = "/tmp/fs38_test_inspect_wangiri.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { CALLS = 18 };
    for (int i = 0; i < CALLS; i++) {
        char src[32], id[16], callee[32];
        snprintf(src, sizeof src, "192.0.2.%d", 1 + i % 3);
        snprintf(id, sizeof id, "wg%d", i);
        snprintf(callee, sizeof callee, "+44770090%04d", i);
        put_call(f, src, "+2521234567", callee, id, 1700000000u + 2 * (uint32_t)i, 180, 300000, "CANCEL", 1500000u);
    }
    fclose(f);
    wangiri_seen got[2] = {{0}};
    for (unsigned w = 1; w <= 2; w++) {
        insp_stats st;
        if (!inspect_file(path, w, false, collect_wangiri, &got[w - 1], &st)) return;
        CHECK_MSG(got[w - 1].incidents == 1 && got[w - 1].count == CALLS && got[w - 1].short_rings == CALLS &&
                      got[w - 1].distinct == CALLS,
                  "%u worker(s): %d FRAUD-WANGIRI-001 incident(s), count %llu, short_rings %lld, distinct_callees %lld",
                  w, got[w - 1].incidents, (unsigned long long)got[w - 1].count, (long long)got[w - 1].short_rings,
                  (long long)got[w - 1].distinct);
    }
    if (!getenv("KEEP")) remove(path);
}

typedef struct proto_seen {
    int incidents;
    uint64_t count;
} proto_seen;

static void collect_multi_value(void *user, const ev_event *ev, bool final) {
    proto_seen *s = user;
    if (!final || ev->rule != R_PROTO_MULTI_VALUE) return;
    s->incidents++;
    s->count += ev->count;
}

/* A server's 40 responses with two Call-IDs (SIP-PROTO-002, keyed by the
 * server), each to another client: the workers get them by client, about
 * 20 each. With the rule's threshold at 30 neither share reaches it alone;
 * their hits add up (det_shared.c), so two workers report what one does:
 * one incident of 40 (each share was dropped as below the threshold). */
static void test_sender_threshold_across_workers(void) {
    const char *path = "/tmp/fs38_test_inspect_multi.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { RESPONSES = 40 };
    for (int i = 0; i < RESPONSES; i++) {
        char dst[32], payload[512];
        snprintf(dst, sizeof dst, "192.0.2.%d", 1 + i);
        snprintf(payload, sizeof payload,
                 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bKmv%d\r\n"
                 "From: <sip:a@%s>;tag=%d\r\nTo: <sip:100@198.51.100.1>;tag=s\r\n"
                 "Call-ID: mv%d@x\r\nCall-ID: mv%db@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                 dst, i, dst, i, i, i);
        pcap_put_udp_to(f, "198.51.100.1", 5060, dst, payload, 1700000000u + (uint32_t)i / 10,
                        (uint32_t)(i % 10) * 100000u);
    }
    fclose(f);
    proto_seen got[2] = {{0}};
    for (unsigned w = 1; w <= 2; w++) {
        static fs38_config cfg;
        cfg_defaults(&cfg);
        cfg.rules[R_PROTO_MULTI_VALUE].threshold = 30;
        insp_options o = {.cfg = &cfg, .workers = w, .on_event = collect_multi_value, .user = &got[w - 1]};
        fs_err e = {0};
        insp *in = insp_new(&o, &e);
        CHECK(in != NULL);
        if (!in) return;
        CHECK_EQ_INT(insp_run_file(in, path, NULL, &e), FS_OK);
        insp_finish(in);
        insp_stats st;
        insp_get_stats(in, &st);
        if (w == 2)
            CHECK_MSG(st.worker_messages[0] < 30 && st.worker_messages[1] < 30,
                      "each worker under the threshold alone: %llu / %llu",
                      (unsigned long long)st.worker_messages[0], (unsigned long long)st.worker_messages[1]);
        insp_free(in);
        CHECK_MSG(got[w - 1].incidents == 1 && got[w - 1].count == RESPONSES,
                  "%u worker(s): %d SIP-PROTO-002 incident(s), %llu messages", w, got[w - 1].incidents,
                  (unsigned long long)got[w - 1].count);
    }
    if (!getenv("KEEP")) remove(path);
}

/* Leg `leg` (0: first, caller ...001; 1: the proxy's, caller ...002) of
 * relayed call i from src to dst over transport, Call-ID <id_prefix><i>@x;
 * returns its length. */
static int relayed_invite(char *out, size_t n, int i, int leg, const char *src, const char *dst,
                          const char *transport, const char *id_prefix) {
    return snprintf(out, n,
                    "INVITE sip:+4420794600%02d@%s SIP/2.0\r\n"
                    "Via: SIP/2.0/%s %s:5060;branch=z9hG4bK%s%d.%d\r\nMax-Forwards: 70\r\n"
                    "From: <sip:+44163296000%d@%s>;tag=%s%d\r\nTo: <sip:+4420794600%02d@%s>\r\n"
                    "Call-ID: %s%d@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                    i, dst, transport, src, id_prefix, i, leg, 1 + leg, src, id_prefix, i, i, dst,
                    id_prefix, i);
}

/* Calls relayed by a proxy that rewrites the caller: the UA's INVITE to the
 * proxy (caller ...001), 1 ms later the proxy's INVITE to the carrier (caller
 * ...002), one Call-ID. One worker tracks each call from its first leg, so
 * one FRAUD-VOL-001 incident names ...001 with all 40 calls. With two
 * workers the proxy's leg often runs first (the reader runs worker 0 at
 * once, the other gets batches): the reader now claims each new call as it
 * reads it, in capture order, so two workers say the same. */
static void test_relayed_calls(void) {
    const char *path = "/tmp/fs38_test_inspect_relay.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { CALLS = 40 };
    for (int i = 0; i < CALLS; i++) {
        char ua[32], payload[700];
        snprintf(ua, sizeof ua, "192.0.2.%d", 1 + i);
        for (int leg = 0; leg < 2; leg++) {
            const char *src = leg ? "198.51.100.1" : ua, *dst = leg ? "203.0.113.1" : "198.51.100.1";
            relayed_invite(payload, sizeof payload, i, leg, src, dst, "UDP", "relay");
            pcap_put_udp_to(f, src, leg ? 5060 : 5070, dst, payload, 1700000000u + (uint32_t)i / 10,
                            (uint32_t)(i % 10) * 100000u + (uint32_t)leg * 1000u);
        }
    }
    fclose(f);
    for (unsigned w = 1; w <= 2; w++) {
        volume_seen got = {0};
        insp_stats st;
        if (!inspect_file(path, w, false, collect_volume, &got, &st)) return;
        CHECK_MSG(got.incidents == 1 && got.count == CALLS && !strcmp(got.caller, "+441632960001"),
                  "%u worker(s): %d FRAUD-VOL-001 incident(s), %llu calls, caller %s", w, got.incidents,
                  (unsigned long long)got.count, got.caller);
    }
    remove(path);
}

/* One TCP segment src:sport -> dst:5060 with sequence number seq. */
static void pcap_put_tcp(FILE *f, const char *src, uint16_t sport, const char *dst, uint32_t seq,
                         const char *payload, uint32_t sec, uint32_t usec) {
    uint8_t fr[1024];
    size_t n = frame_v4(fr, src, sport, dst, 5060, 6, 0, payload);
    for (int i = 0; i < 4; i++) fr[14 + 20 + 4 + i] = (uint8_t)(seq >> (24 - 8 * i));
    uint32_t rh[4] = {sec, usec, (uint32_t)n, (uint32_t)n};
    fwrite(rh, 4, 4, f);
    fwrite(fr, 1, n, f);
}

/* One TCP segment as two IP fragments (the first 48 bytes of TCP header +
 * data, then the rest). */
static void pcap_put_tcp_frag(FILE *f, const char *src, uint16_t sport, const char *dst, uint32_t seq,
                              uint16_t id, const char *payload, uint32_t sec, uint32_t usec) {
    uint8_t fr[2048], part[2048];
    size_t n = frame_v4(fr, src, sport, dst, 5060, 6, 0, payload);
    for (int i = 0; i < 4; i++) fr[14 + 20 + 4 + i] = (uint8_t)(seq >> (24 - 8 * i));
    size_t l4 = n - 34, cut = 48;
    for (int k = 0; k < 2; k++) {
        size_t off = k ? cut : 0, len = k ? l4 - cut : cut;
        memcpy(part, fr, 34);
        memcpy(part + 34, fr + 34 + off, len);
        uint8_t *ip = part + 14;
        ip[2] = (uint8_t)((20 + len) >> 8);
        ip[3] = (uint8_t)(20 + len);
        ip[4] = (uint8_t)(id >> 8);
        ip[5] = (uint8_t)id;
        uint16_t fo = (uint16_t)((k ? 0 : 0x2000) | (off / 8));
        ip[6] = (uint8_t)(fo >> 8);
        ip[7] = (uint8_t)fo;
        uint32_t rh[4] = {sec, usec + (uint32_t)k, (uint32_t)(34 + len), (uint32_t)(34 + len)};
        fwrite(rh, 4, 4, f);
        fwrite(part, 1, 34 + len, f);
    }
}

/* A message whose second half travels in an IP-fragmented TCP segment: with
 * two workers the fragments went by the address pair, not with the client's
 * connection, and the message was lost. Now the reader reassembles IP
 * fragments before it shards. */
static void test_fragmented_segment_workers(void) {
    const char *path = "/tmp/fs38_test_inspect_frag.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    for (int c = 0; c < 20; c++) {
        char src[32], all[3000];
        size_t len[3], n = 0;
        snprintf(src, sizeof src, "192.0.2.%d", 10 + c);
        for (int m = 0; m < 3; m++) {
            len[m] = (size_t)snprintf(all + n, sizeof all - n,
                             "INVITE sip:+4930%06d@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s:40000;branch=z9hG4bK%d%d\r\n"
                             "Max-Forwards: 70\r\nFrom: <sip:a@%s>;tag=%d\r\nTo: <sip:b@198.51.100.1>\r\n"
                             "Call-ID: f%d-%d@x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@%s:40000;transport=tcp>\r\n"
                             "Content-Length: 0\r\n\r\n",
                             c * 10 + m, src, c, m, src, m, c, m, src);
            n += len[m];
        }
        /* [m0 + 150 bytes of m1] [the rest of m1, fragmented] [m2] */
        char a[2000], b[2000];
        size_t na = len[0] + 150;
        memcpy(a, all, na);
        a[na] = 0;
        memcpy(b, all + na, len[1] - 150);
        b[len[1] - 150] = 0;
        uint32_t sec = 1700000000u, usec = (uint32_t)c * 1000, seq = 1000;
        pcap_put_tcp(f, src, 40000, "198.51.100.1", seq, a, sec, usec);
        pcap_put_tcp_frag(f, src, 40000, "198.51.100.1", seq + (uint32_t)na, (uint16_t)(100 + c), b, sec, usec + 10);
        pcap_put_tcp(f, src, 40000, "198.51.100.1", seq + (uint32_t)(len[0] + len[1]), all + len[0] + len[1], sec,
                     usec + 20);
    }
    /* a first fragment whose datagram never completes: dropped at the end
     * of input and counted, with one worker or two (the reader's was not) */
    uint8_t fr[256];
    size_t fn = frame_v4(fr, "192.0.2.99", 40000, "198.51.100.1", 5060, 6, 0x2000, "INVITE sip:x@198.51.100.1 SIP/2.0\r\n");
    uint32_t rh[4] = {1700000001u, 0, (uint32_t)fn, (uint32_t)fn};
    fwrite(rh, 4, 4, f);
    fwrite(fr, 1, fn, f);
    fclose(f);
    for (unsigned w = 1; w <= 2; w++) {
        insp_stats st;
        seen s = {0};
        if (!inspect_file(path, w, false, collect, &s, &st)) return;
        CHECK_MSG(st.det.messages == 60, "%u workers: %llu messages", w, (unsigned long long)st.det.messages);
        CHECK_EQ_INT(st.cap.ip_fragments, 41);
        CHECK_EQ_INT(st.cap.ip_reassembled, 20);
        CHECK_MSG(st.cap.frag_dropped == 1, "%u workers: %llu dropped", w, (unsigned long long)st.cap.frag_dropped);
        CHECK_EQ_INT(st.cap.frames, 81);
    }
    remove(path);
}

/* Inbound calls: a carrier's INVITE over TCP to the proxy (caller ...001),
 * 1 ms later the proxy's INVITE over UDP to the UA (caller ...002), one
 * Call-ID. One worker tracks each call from the TCP leg. With two workers
 * the carrier's connection goes to the batched worker and most UAs to the
 * reader's, which runs their leg at once: unless the reader claims the call
 * when it reads the TCP segment, the UDP leg wins. */
static void test_relayed_calls_tcp(void) {
    const char *path = "/tmp/fs38_test_inspect_relay_tcp.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { CALLS = 40 };
    uint32_t seq = 1000;
    for (int i = 0; i < CALLS; i++) {
        char ua[32], payload[700];
        snprintf(ua, sizeof ua, "192.0.2.%d", 1 + i);
        for (int leg = 0; leg < 2; leg++) {
            const char *src = leg ? "198.51.100.1" : "203.0.113.1", *dst = leg ? ua : "198.51.100.1";
            int n = relayed_invite(payload, sizeof payload, i, leg, src, dst, leg ? "UDP" : "TCP", "inbound");
            uint32_t sec = 1700000000u + (uint32_t)i / 10, usec = (uint32_t)(i % 10) * 100000u + (uint32_t)leg * 1000u;
            if (leg) {
                pcap_put_udp_to(f, src, 5060, dst, payload, sec, usec);
            } else {
                pcap_put_tcp(f, src, 5062, dst, seq, payload, sec, usec);
                seq += (uint32_t)n;
            }
        }
    }
    fclose(f);
    for (unsigned w = 1; w <= 2; w++) {
        volume_seen got = {0};
        insp_stats st;
        if (!inspect_file(path, w, false, collect_volume, &got, &st)) return;
        if (w == 2) CHECK(st.worker_messages[0] > 0 && st.worker_messages[1] > 0);
        CHECK_MSG(got.incidents == 1 && got.count == CALLS && !strcmp(got.caller, "+441632960001"),
                  "%u worker(s): %d FRAUD-VOL-001 incident(s), %llu calls, caller %s", w, got.incidents,
                  (unsigned long long)got.count, got.caller);
    }
    if (!getenv("KEEP")) remove(path);
}

/* ---- HEP: both legs mirrored by the proxy --------------------------------------------- */

static size_t hep_put(uint8_t *o, uint16_t type, const void *v, size_t n) {
    o[0] = 0, o[1] = 0, o[2] = (uint8_t)(type >> 8), o[3] = (uint8_t)type;
    o[4] = (uint8_t)((n + 6) >> 8), o[5] = (uint8_t)(n + 6);
    memcpy(o + 6, v, n);
    return n + 6;
}

/* A HEP3 packet carrying payload as UDP from src:sport to dst:5060 at sec.usec. */
static size_t hep_packet(uint8_t *o, const char *src, uint16_t sport, const char *dst, uint32_t sec,
                         uint32_t usec, const char *payload) {
    uint8_t *p = o + 6, fam = 2, proto = 17, sip = 1, b[4];
    fs_addr a;
    p += hep_put(p, 0x01, &fam, 1);
    p += hep_put(p, 0x02, &proto, 1);
    fs_addr_parse(src, &a);
    p += hep_put(p, 0x03, a.ip, 4);
    fs_addr_parse(dst, &a);
    p += hep_put(p, 0x04, a.ip, 4);
    b[0] = (uint8_t)(sport >> 8), b[1] = (uint8_t)sport;
    p += hep_put(p, 0x07, b, 2);
    b[0] = 5060 >> 8, b[1] = 5060 & 0xff;
    p += hep_put(p, 0x08, b, 2);
    uint32_t v[2] = {htonl(sec), htonl(usec)};
    p += hep_put(p, 0x09, &v[0], 4);
    p += hep_put(p, 0x0a, &v[1], 4);
    p += hep_put(p, 0x0b, &sip, 1);
    p += hep_put(p, 0x0f, payload, strlen(payload));
    memcpy(o, "HEP3", 4);
    o[4] = (uint8_t)((p - o) >> 8), o[5] = (uint8_t)(p - o);
    return (size_t)(p - o);
}

typedef struct hep_run {
    insp *in;
    char listen[32];
    fs_code rc;
    fs_err err; /* why rc is not FS_OK */
} hep_run;

static void *hep_thread(void *arg) {
    hep_run *r = arg;
    r->rc = insp_run_hep(r->in, r->listen, &r->err);
    return NULL;
}

/* A free UDP port on 127.0.0.1 (0 if none), below the kernel's ephemeral
 * range (32768-60999 by default), as tests/cli/lib.sh's free_port picks:
 * one the kernel handed out could be handed to another program's socket
 * between this check and the listener's bind (a CI run lost a HEP test so). */
static uint16_t free_udp_port(void) {
    uint32_t r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);
    for (int i = 0; i < 200; i++) {
        r = r * 1103515245u + 12345u;
        uint16_t port = (uint16_t)(20000 + (r >> 8) % 12000);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0) close(fd);
        if (ok) return port;
    }
    return 0;
}

/* true once something holds 127.0.0.1:port (our bind fails), within ~15 s
 * (the listener's thread first allocates its tables: slow under ASan on a
 * loaded machine). */
static bool udp_port_taken(uint16_t port) {
    for (int i = 0; i < 1500; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = fd >= 0 ? bind(fd, (struct sockaddr *)&sa, sizeof sa) : 0, err = errno;
        if (fd >= 0) close(fd);
        if (rc != 0 && err == EADDRINUSE) return true;
        usleep(10000);
    }
    return false;
}

/* Start inspecting HEP on 127.0.0.1:port on a thread, as `--hep` does;
 * true once it listens. */
static bool hep_start(hep_run *r, pthread_t *th, const insp_options *o, uint16_t port) {
    fs_err e = {0};
    r->in = insp_new(o, &e);
    r->err = (fs_err){0};
    CHECK(r->in != NULL);
    if (!r->in) return false;
    snprintf(r->listen, sizeof r->listen, "127.0.0.1:%u", port);
    CHECK_EQ_INT(pthread_create(th, NULL, hep_thread, r), 0);
    return udp_port_taken(port);
}

/* Send one HEP packet to 127.0.0.1:port from socket fd. */
static bool hep_send(int fd, uint16_t port, const uint8_t *pkt, size_t n) {
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)n;
}

/* Kamailio's siptrace mirrors both legs of a call it relays: the UA's INVITE
 * (caller ...001), 1 ms later its own toward the carrier (caller ...002),
 * one Call-ID, as two HEP packets whose address pairs often go to two
 * workers. One worker tracks each call from the leg that arrived first; so
 * must two, which takes the reader's claim of HEP-borne INVITEs. */
static void test_relayed_calls_hep(void) {
    enum { CALLS = 40 };
    for (unsigned w = 1; w <= 2; w++) {
        uint16_t port = free_udp_port(); /* a fresh one: another program may take the last */
        CHECK(port != 0);
        if (!port) return;
        static fs38_config cfg;
        cfg_defaults(&cfg);
        volume_seen got = {0};
        insp_options o = {.cfg = &cfg, .workers = w, .live = true, .on_event = collect_volume,
                          .user = &got, .max_packets = 2 * CALLS, .duration_us = 20 * FS_USEC};
        hep_run r;
        pthread_t th;
        CHECK_MSG(hep_start(&r, &th, &o, port), "HEP listener on 127.0.0.1:%u", port);
        if (!r.in) return;
        int fd = socket(AF_INET, SOCK_DGRAM, 0), sent = 0;
        for (int i = 0; i < CALLS; i++) {
            char ua[32], payload[700];
            uint8_t pkt[1024];
            snprintf(ua, sizeof ua, "192.0.2.%d", 1 + i);
            for (int leg = 0; leg < 2; leg++) {
                const char *src = leg ? "198.51.100.1" : ua, *dst = leg ? "203.0.113.1" : "198.51.100.1";
                relayed_invite(payload, sizeof payload, i, leg, src, dst, "UDP", "hep");
                size_t n = hep_packet(pkt, src, leg ? 5060 : 5070, dst, 1700000000u + (uint32_t)i / 10,
                                      (uint32_t)(i % 10) * 100000u + (uint32_t)leg * 1000u, payload);
                sent += hep_send(fd, port, pkt, n);
            }
        }
        close(fd);
        CHECK_EQ_INT(sent, 2 * CALLS);
        pthread_join(th, NULL);
        CHECK_MSG(r.rc == FS_OK, "HEP run, %u worker(s): %s", w, r.err.msg);
        insp_finish(r.in);
        insp_stats st;
        insp_get_stats(r.in, &st);
        insp_free(r.in);
        CHECK_EQ_INT(st.det.calls_started, CALLS);
        CHECK_MSG(got.incidents == 1 && got.count == CALLS && !strcmp(got.caller, "+441632960001"),
                  "HEP, %u worker(s): %d FRAUD-VOL-001 incident(s), %llu calls, caller %s", w, got.incidents,
                  (unsigned long long)got.count, got.caller);
    }
}

/* Live input with two workers: the batched worker runs what it was given
 * within a tick (500 ms), not when its 256 KiB batch fills. A scanner's
 * OPTIONS (SIP-SCAN-001 opens on the first) go to worker 1, the batched one;
 * its open report must come while the run is still listening. */
typedef struct open_seen {
    _Atomic int opened;
} open_seen;

static void collect_open(void *user, const ev_event *ev, bool final) {
    open_seen *s = user;
    if (!final && !strcmp(det_rule_table[ev->rule].id, "SIP-SCAN-001")) s->opened = 1;
}

static void test_live_batches_flow(void) {
    uint16_t port = free_udp_port();
    CHECK(port != 0);
    if (!port) return;
    static fs38_config cfg;
    cfg_defaults(&cfg);
    open_seen scan = {0};
    insp_options o = {.cfg = &cfg, .workers = 2, .live = true, .on_event = collect_open, .user = &scan,
                      .duration_us = 4 * FS_USEC};
    hep_run r;
    pthread_t th;
    CHECK_MSG(hep_start(&r, &th, &o, port), "HEP listener on 127.0.0.1:%u", port);
    if (!r.in) return;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    uint8_t pkt[1024];
    size_t n = hep_packet(pkt, "203.0.113.66", 5070, "198.51.100.1", (uint32_t)time(NULL), 0,
                          "OPTIONS sip:100@198.51.100.1 SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 203.0.113.66:5070;branch=z9hG4bK-1\r\nMax-Forwards: 70\r\n"
                          "From: <sip:100@203.0.113.66>;tag=1\r\nTo: <sip:100@198.51.100.1>\r\n"
                          "Call-ID: scan1@x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\n"
                          "Content-Length: 0\r\n\r\n");
    CHECK(hep_send(fd, port, pkt, n));
    close(fd);
    int waited_ms = 0;
    while (!scan.opened && waited_ms < 2500) {
        usleep(20000);
        waited_ms += 20;
    }
    CHECK_MSG(scan.opened, "SIP-SCAN-001 not reported within %d ms of the packet (run lasts 4 s)", waited_ms);
    pthread_join(th, NULL);
    insp_finish(r.in);
    insp_stats st;
    insp_get_stats(r.in, &st);
    insp_free(r.in);
    CHECK_EQ_INT(st.worker_messages[1], 1); /* it was the batched worker's */
}

/* --metrics' text: every sample line is `name{label="value"} number` or
 * `name number` under its family's TYPE, the figures are the ones given, and
 * a buffer too small for the whole text gives nothing (not half of it). */
static void test_metrics_text(void) {
    insp_stats st;
    memset(&st, 0, sizeof st);
    st.workers = 2;
    st.frames_read = 1234;
    st.kernel_dropped = 7;
    st.det.by_transport[CAP_T_TCP] = 42;
    st.det.by_method[SIP_M_OPTIONS] = 40;
    st.det.anomalies[SIP_A_CSEQ_SYNTAX] = 3;
    st.det.last_message_us = 1764067290500000ULL;
    st.det.last_us = 1764067999000000ULL; /* a later keep-alive or non-SIP payload: not a message */
    st.worker_messages[1] = 9;
    st.cap.hep_packets = 10; /* all received, the 3 refused included */
    st.cap.hep_bad = 3;
    uint64_t opened[R__COUNT] = {0};
    opened[R_SCAN_FINGERPRINT] = 5;
    insp_metrics_extra x = {.opened_by_rule = opened, .indicators = true, .indicator_events = 11, .indicator_reloads = 2};
    static char out[256 * 1024];
    size_t n = insp_metrics_text(&st, &x, 12.5, out, sizeof out);
    CHECK(n > 0 && n < sizeof out && out[n - 1] == '\n');
    out[n] = '\0';
    static const char *const want[] = {
        "fs38_frames_total 1234\n", "fs38_dropped_total{by=\"kernel\"} 7\n",
        "fs38_sip_messages_total{transport=\"tcp\"} 42\n", "fs38_requests_total{method=\"OPTIONS\"} 40\n",
        "fs38_anomalies_total{code=\"CSEQ_SYNTAX\"} 3\n", "fs38_incidents_total{rule=\"SIP-SCAN-001\"} 5\n",
        "fs38_indicators 11\n", "fs38_indicator_reloads_total 2\n", "fs38_uptime_seconds 12.500\n",
        "fs38_last_message_timestamp_seconds 1764067290.500\n", "fs38_worker_messages_total{worker=\"1\"} 9\n",
        "fs38_hep_packets_total{result=\"read\"} 7\n", "fs38_hep_packets_total{result=\"bad\"} 3\n"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) CHECK_MSG(strstr(out, want[i]), "missing %s", want[i]);
    /* each sample under a TYPE line of its name; no family twice */
    char typed[64][64];
    int ntyped = 0, bad = 0;
    for (char *line = out, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        char name[64];
        if (!strncmp(line, "# TYPE ", 7)) {
            sscanf(line + 7, "%63s", name);
            for (int i = 0; i < ntyped; i++) bad += !strcmp(typed[i], name);
            if (ntyped < 64) snprintf(typed[ntyped++], sizeof typed[0], "%s", name);
        } else if (line[0] != '#') {
            size_t k = strcspn(line, "{ ");
            snprintf(name, sizeof name, "%.*s", (int)k, line);
            bad += ntyped == 0 || strcmp(typed[ntyped - 1], name) != 0;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(ntyped > 15);
    CHECK_EQ_INT(insp_metrics_text(&st, &x, 12.5, out, 100), 0);
}

/* TOP TALKERS with several workers: a source whose traffic reached several
 * of them (a P-CSCF's requests go with each UE's, a response's sender with
 * its requester) is one line with the figures one worker has, not a line
 * per worker with its share (10.48.0.1 listed twice, 3 + 1 requests, and
 * 10.48.0.100's incident lost with 4 workers). */
static void test_talkers_across_workers(void) {
    det_talker t[2][5];
    int n[2] = {0, 0};
    for (unsigned k = 0; k < 2; k++) {
        static fs38_config cfg;
        cfg_defaults(&cfg);
        uint64_t seed = 42;
        insp_options o = {.cfg = &cfg, .workers = k ? 4 : 1, .seed = &seed};
        fs_err e = {0};
        insp *in = insp_new(&o, &e);
        CHECK(in != NULL);
        if (!in) return;
        CHECK_EQ_INT(insp_run_file(in, "tests/data/capture/ims_aka.pcap", NULL, &e), FS_OK);
        insp_finish(in);
        n[k] = insp_top_talkers(in, t[k], 5);
        insp_free(in);
    }
    CHECK_EQ_INT(n[0], 5);
    CHECK_EQ_INT(n[1], n[0]);
    for (int i = 0; i < n[0] && i < n[1]; i++) {
        char a[FS_ADDR_STRLEN], b[FS_ADDR_STRLEN];
        fs_addr_str(&t[0][i].addr, a, sizeof a);
        fs_addr_str(&t[1][i].addr, b, sizeof b);
        CHECK_MSG(!strcmp(a, b), "talker %d: %s with 4 workers, %s with 1", i, b, a);
        CHECK_EQ_INT(t[1][i].prefix, t[0][i].prefix);
        CHECK_EQ_INT(t[1][i].requests, t[0][i].requests);
        CHECK_EQ_INT(t[1][i].messages, t[0][i].messages);
        CHECK_EQ_INT(t[1][i].incidents, t[0][i].incidents);
    }
}

/* The reports written (a live close that repeats its open is not): their
 * "event_id/version", to check each is written once. */
typedef struct report_ids {
    char (*id)[48];
    unsigned n, cap;
} report_ids;

static void collect_ids(void *user, const ev_event *ev, bool final) {
    report_ids *r = user;
    if ((final && ev->unchanged) || r->n == r->cap) return;
    snprintf(r->id[r->n++], sizeof *r->id, "%s/%u", ev->event_id, (unsigned)ev->version);
}

static int by_id(const void *a, const void *b) { return strcmp(a, b); }

/* More incidents than a file run holds for merging (HELD_MAX, 4096) with
 * several workers: 20000 sources, each one malformed request, then a
 * server whose malformed answers to 40 clients went to every worker. The
 * shares of its incident that came after the held ones filled up were
 * each reported as they were: SIP-PROTO-001 and SIP-FLOOD-002 written four
 * times, under one event_id and version 1 each (20008 events, one worker
 * 20002). Live, more incidents open than the workers' opens were folded
 * for (4096): each worker's open of those two a version 1 of one event_id. */
static void test_held_full_workers(void) {
    const char *path = "/tmp/fs38_test_held.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    enum { JUNK = 20000 };
    uint8_t fr[1024];
    char src[32], payload[512];
    uint64_t t = 1700000000000000ull;
    for (int i = 0; i < JUNK; i++, t += 100) { /* Call-ID missing: SIP-PROTO-001 per source */
        snprintf(src, sizeof src, "10.%d.%d.%d", 1 + (i >> 16), (i >> 8) & 255, i & 255);
        snprintf(payload, sizeof payload,
                 "OPTIONS sip:x@10.9.9.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa%d\r\n"
                 "From: <sip:a@b>;tag=1\r\nTo: <sip:x@c>\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                 "Content-Length: 0\r\n\r\n", i);
        size_t n = frame_v4(fr, src, (uint16_t)(5060 + i % 7), "10.9.9.9", 5060, 17, 0, payload);
        uint32_t rh[4] = {(uint32_t)(t / 1000000), (uint32_t)(t % 1000000), (uint32_t)n, (uint32_t)n};
        fwrite(rh, 4, 4, f);
        fwrite(fr, 1, n, f);
    }
    for (int i = 0; i < 40; i++) { /* a request, and an answer without Call-ID */
        snprintf(src, sizeof src, "172.16.0.%d", 1 + i);
        for (int answer = 0; answer < 2; answer++, t += 1000) {
            if (answer)
                snprintf(payload, sizeof payload,
                         "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bKq%d\r\nFrom: <sip:a@b>;tag=1\r\n"
                         "To: <sip:x@c>;tag=2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", src, i);
            else
                snprintf(payload, sizeof payload,
                         "OPTIONS sip:x@10.9.9.9 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bKq%d\r\n"
                         "From: <sip:a@b>;tag=1\r\nTo: <sip:x@c>\r\nCall-ID: q%d\r\nCSeq: 1 OPTIONS\r\n"
                         "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", src, i, i);
            size_t n = answer ? frame_v4(fr, "10.9.9.9", 5060, src, 5070, 17, 0, payload)
                              : frame_v4(fr, src, 5070, "10.9.9.9", 5060, 17, 0, payload);
            uint32_t rh[4] = {(uint32_t)(t / 1000000), (uint32_t)(t % 1000000), (uint32_t)n, (uint32_t)n};
            fwrite(rh, 4, 4, f);
            fwrite(fr, 1, n, f);
        }
    }
    fclose(f);
    unsigned events[2][2] = {{0, 0}, {0, 0}};
    for (unsigned k = 0; k < 4; k++) {
        bool live = k >= 2;
        static fs38_config cfg;
        cfg_defaults(&cfg);
        uint64_t seed = 1;
        report_ids r = {malloc(3 * JUNK * sizeof *r.id), 0, 3 * JUNK};
        unsigned workers = k % 2 ? 4 : 1;
        insp_options o = {.cfg = &cfg, .workers = workers, .live = live, .seed = &seed, .on_event = collect_ids,
                          .user = &r};
        fs_err e = {0};
        insp *in = insp_new(&o, &e);
        CHECK(in != NULL && r.id != NULL);
        if (!in || !r.id) {
            insp_free(in);
            free(r.id);
            return;
        }
        CHECK_EQ_INT(insp_run_file(in, path, NULL, &e), FS_OK);
        insp_finish(in);
        insp_free(in);
        events[live][k % 2] = r.n;
        qsort(r.id, r.n, sizeof *r.id, by_id);
        unsigned twice = 0;
        for (unsigned i = 1; i < r.n; i++) twice += !strcmp(r.id[i], r.id[i - 1]);
        CHECK_MSG(twice == 0, "%s: %u (event_id, version) written twice with %u worker(s)", live ? "live" : "file",
                  twice, workers);
        free(r.id);
    }
    CHECK_EQ_INT(events[0][0], JUNK + 2);
    CHECK_EQ_INT(events[0][1], events[0][0]);
    /* live: the open the first tick reports may carry the first worker's
     * share alone (then a version 2 follows), so only at least as many */
    CHECK(events[1][1] >= events[1][0] && events[1][0] >= JUNK + 2);
    remove(path);
}

/* Live, several workers, a full incident table: a scanner's incident
 * evicted before any tick reported it open has its only report at its
 * close, under the event_id the workers share for the key; the scanner's
 * next incident, opened within the quiet window, gets that id again from
 * det_shared, and its reports must not repeat (event_id, version 1). */
static void test_live_evicted_ids_workers(void) {
    const char *path = "/tmp/fs38_test_live_evicted.pcap";
    FILE *f = pcap_create(path);
    if (!f) return;
    for (int i = 0; i < 1200; i++) {
        char src[32], payload[512];
        static uint32_t lcg = 12345;
        lcg = lcg * 1103515245u + 12345u;
        snprintf(src, sizeof src, "192.0.%u.%u", (lcg >> 16) % 2, 1 + (lcg >> 8) % 12);
        snprintf(payload, sizeof payload,
                 "OPTIONS sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bK%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:100@%s>;tag=%d\r\nTo: <sip:100@198.51.100.1>\r\n"
                 "Call-ID: ev%d@x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n",
                 src, i, src, i, i);
        pcap_put_udp(f, src, payload, 1700000000u + (uint32_t)(i / 200), (uint32_t)(i % 200) * 5000u);
    }
    fclose(f);
    for (unsigned workers = 1; workers <= 2; workers++) {
        report_ids r = {malloc(4096 * sizeof *r.id), 0, 4096};
        insp_stats st;
        if (!r.id || !inspect_file_cfg(path, workers, true,
                                            "state:\n  max_incidents: 1\nrules:\n  SIP-SCAN-001: {window_s: 2, ttl_s: 2}\n",
                                            collect_ids, &r, &st)) {
            free(r.id);
            return;
        }
        CHECK(st.det.incidents_evicted > 0);
        qsort(r.id, r.n, sizeof *r.id, by_id);
        unsigned twice = 0;
        for (unsigned i = 1; i < r.n; i++) twice += !strcmp(r.id[i], r.id[i - 1]);
        CHECK_MSG(twice == 0, "live, %u worker(s), incidents evicted: %u (event_id, version) of %u reports written twice",
                  workers, twice, r.n);
        free(r.id);
    }
    remove(path);
}

int main(void) {
    if (sodium_init() < 0) return 1;
    test_metrics_text();
    test_shard_keys();
    test_raw();
    test_workers_agree();
    test_talkers_across_workers();
    test_duration_not_files();
    test_held_full_workers();
    test_fragmented_segment_workers();
    test_live_one_report_per_incident();
    test_live_refresh();
    test_flood_late_share_times();
    test_caller_across_workers();
    test_long_calls_across_workers();
    test_wangiri_across_workers();
    test_sender_threshold_across_workers();
    test_relayed_calls();
    test_relayed_calls_tcp();
    test_relayed_calls_hep();
    test_live_batches_flow();
    test_live_evicted_ids_workers();
    return check_done("test_inspect");
}
