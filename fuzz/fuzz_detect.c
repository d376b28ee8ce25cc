/*
 * fuzz_detect.c -- libFuzzer harness for the detection engine: hostile SIP
 * payloads with hostile timing through every detector.
 *
 * Input: a sequence of records, each
 *   byte 0   bits 0-5: the sender 10.0.0.N (N 1-64), bit 6: the receiver is
 *            127.0.0.10 (in the core zone) instead of 192.0.2.10 (untrusted),
 *            bit 7: handed to worker 1 instead of worker 0
 *   byte 1   capture time step: signed, in units of 0.25 s (so time also steps
 *            back, as HEP from several proxies does, by up to 32 s)
 *   byte 2-3 big-endian: bits 0-14 the payload length (cut to what is
 *            left), bit 15: a reply, sent by the receiver to the sender (so
 *            that responses reach their requester: brute force, enumeration
 *            and call state need them)
 *   payload  one SIP message candidate (UDP datagram); one of 5 bytes or
 *            more starting 0x16 (a TLS handshake) is instead a ServerHello
 *            of its sender: version in bytes 1-2, cipher suite in 3-4; one
 *            starting 0x30 (DER) the certificate its sender shows (with
 *            bit 15, as the client of mutual TLS)
 * Two engines share state as `--workers 2` makes them (det_shared: callers,
 * destination counts, call claims), with a fixed seed so a finding replays
 * exactly, tiny tables (64 sources, 64 dialogs, 16 incidents: eviction all
 * the time), zones, home numbers and a high-risk list, every rule enabled
 * (SIP-SCAN-002 and SIP-FLOOD-002 with thresholds two receivers and 64 KiB
 * of input can cross).
 * Both engines' messages also go to the IMS AKA learner (insp_aka.c: the
 * ESP keys of a registration), which fills a keyring of 8 SAs.
 * At the end both engines flush and finish as insp_finish does.
 *
 * Invariants checked (abort = finding): every event renders as JSON within
 * its buffer, carries a rule id and a count of at least 1, and first_seen is
 * not after last_seen; the engines' state stays within the bound computed at
 * start; the keyring holds at most four SAs per agreement learned.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "detect/det.h"
#include "events/ev.h"
#include "inspect/insp_aka.h"

static const char site[] =
    "state: {max_sources: 64, max_dialogs: 64, max_incidents: 16}\n"
    "zones:\n"
    "  core: {trust: core, networks: [127.0.0.0/24]}\n"
    "  partner: {trust: trusted, networks: [10.0.0.32/27], may_assert: [P-Asserted-Identity], require_tls: true}\n"
    "home: {prefixes: ['+4477009'], domains: [ims.example.net]}\n"
    /* the fraud rules' off-hours thresholds: the records' times cross the hours */
    "business_hours: {days: [mon, wed, sat], from: '22:00', to: '06:30'}\n"
    /* records reach two receivers: scanning (distinct targets) and a flood
     * toward one destination must be reachable with them, and within max_len */
    "rules: {SIP-SCAN-002: {threshold: 2}, SIP-FLOOD-002: {threshold: 40}, FRAUD-IRSF-001: {off_hours_threshold: 2},\n"
    "        FRAUD-WANGIRI-001: {off_hours_threshold: 3}, FRAUD-VOL-001: {off_hours_threshold: 4}}\n";
static const char ranges[] = "+882,International Networks\n+4470,UK personal numbers\n";

static fs38_config cfg;
static char json[1 << 16];

static void on_event(void *user, const ev_event *ev, bool final) {
    (void)user;
    (void)final;
    size_t n = ev_to_json(ev, json, sizeof json);
    if (n == 0 || n >= sizeof json || ev->rule >= R__COUNT || ev->count == 0 || ev->first_us > ev->last_us)
        abort();
}

/* Evidence: the message being processed, naming 1..DET_EVIDENCE_REFS
 * distinct incidents (each at most 3 times: the limit set below); the
 * rest of a call (in_call) only for the call rules; the first engine keeps
 * a look back (its smallest ring), whose messages come one incident at a
 * time. */
static void on_evidence(void *user, const cap_payload *p, const det_evidence_ref *refs, unsigned n) {
    (void)user;
    if (n == 0 || n > DET_EVIDENCE_REFS || !p || (p->len && !p->data)) abort();
    for (unsigned i = 0; i < n; i++) {
        if (refs[i].rule >= R__COUNT || strnlen(refs[i].event_id, sizeof refs[i].event_id) != 36) abort();
        /* only the call rules hand over the rest of a call */
        if (refs[i].in_call && refs[i].rule != R_IRSF_VELOCITY && refs[i].rule != R_IRSF_LONG_CALL &&
            refs[i].rule != R_WANGIRI && refs[i].rule != R_CALL_VOLUME)
            abort();
        for (unsigned j = 0; j < i; j++)
            if (refs[j].rule == refs[i].rule && !strcmp(refs[j].event_id, refs[i].event_id)) abort();
        /* the look back hands over one incident's earlier message at a time */
        if (refs[i].earlier && (n != 1 || p->len > 65536)) abort();
    }
}

static void on_tap(void *user, const cap_payload *p, const sip_msg *m) { insp_aka_message(user, p, m); }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    fs_err e = {0};
    if (cfg_load_buffer(&cfg, site, sizeof site - 1, NULL, &e) != FS_OK ||
        cfg_load_ranges_buffer(&cfg, ranges, sizeof ranges - 1, "ranges", &e) != FS_OK)
        abort();
    for (int r = 0; r < R__COUNT; r++) cfg.rules[r].enabled = true;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_err e = {0};
    det_shared *shared = det_shared_new(64, 64, 64, &e);
    det_engine *eng[2] = {det_engine_new(&cfg, on_event, NULL, &e), det_engine_new(&cfg, on_event, NULL, &e)};
    cap_esp_keyring *ring = cap_esp_keyring_new(8, &e);
    insp_aka *aka = ring ? insp_aka_new(ring, 38) : NULL;
    if (!shared || !eng[0] || !eng[1] || !aka) abort();
    det_shared_set_seed(shared, 38);
    det_memory before[2];
    for (unsigned i = 0; i < 2; i++) {
        det_engine_set_shards(eng[i], i, 2, shared);
        det_engine_set_evidence(eng[i], on_evidence, NULL, 3);
        if (det_engine_set_lookback(eng[i], i ? 0 : 65536, &e) != FS_OK) abort(); /* its smallest ring */
        det_engine_set_tap(eng[i], on_tap, aka);
        det_engine_memory(eng[i], &before[i]);
    }
    int64_t ts = 1700000000LL * 1000000;
    size_t at = 0;
    while (size - at >= 4) {
        uint8_t who = data[at];
        ts += (int64_t)(int8_t)data[at + 1] * 250000;
        bool reply = data[at + 2] & 0x80;
        size_t len = (size_t)(data[at + 2] & 0x7f) << 8 | data[at + 3];
        at += 4;
        if (len > size - at) len = size - at;
        cap_payload p = {.data = data + at, .len = (uint32_t)len, .transport = CAP_T_UDP, .ts_us = (uint64_t)ts};
        fs_endpoint sender = {.addr = {.family = 4}, .port = 5060}, receiver = sender;
        memcpy(sender.addr.ip, (uint8_t[]){10, 0, 0, (uint8_t)(1 + (who & 63))}, 4);
        memcpy(receiver.addr.ip, who & 64 ? (uint8_t[]){127, 0, 0, 10} : (uint8_t[]){192, 0, 2, 10}, 4);
        p.src = reply ? receiver : sender;
        p.dst = reply ? sender : receiver;
        if (len >= 5 && p.data[0] == 0x16) { /* a TLS ServerHello's version and suite, from p.src */
            cap_tls_hello h = {.server = p.src, .client = p.dst, .version = (uint16_t)(p.data[1] << 8 | p.data[2]),
                               .suite = (uint16_t)(p.data[3] << 8 | p.data[4]), .ts_us = p.ts_us};
            det_tls_hello(eng[who >> 7], &h);
        } else if (len >= 2 && p.data[0] == 0x30) { /* a certificate (DER) its sender p.src shows: the
                                                      * client's on mutual TLS when it is a reply */
            cap_tls_hello h = {.server = reply ? p.dst : p.src, .client = reply ? p.src : p.dst, .version = 0x0303,
                               .suite = 0xc02f, .ts_us = p.ts_us, .cert = p.data, .cert_len = p.len,
                               .client_cert = reply};
            det_tls_hello(eng[who >> 7], &h);
        } else {
            det_process(eng[who >> 7], &p);
        }
        at += len;
    }
    for (unsigned i = 0; i < 2; i++) det_flush_shared(eng[i]);
    for (unsigned i = 0; i < 2; i++) {
        det_finish(eng[i]);
        det_memory after;
        det_engine_memory(eng[i], &after);
        /* fixed-size tables: only open incidents' events are on top, and
         * det_finish closed them all */
        if (after.total_bytes > before[i].total_bytes) abort();
    }
    if (cap_esp_keyring_added(ring) > 4 * insp_aka_agreements(aka)) abort();
    det_engine_free(eng[0]);
    det_engine_free(eng[1]);
    det_shared_free(shared);
    insp_aka_free(aka);
    cap_esp_keyring_free(ring);
    return 0;
}
