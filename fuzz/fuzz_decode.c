/*
 * fuzz_decode.c -- libFuzzer harness for the packet decoder and HEP parser.
 *
 * Input: byte 0 picks a link type from LINKS (low nibble) and a set of
 * limits (bits 4-5: small, tiny, tiny without heuristic, small with odd
 * SIP ports and a HEP auth key to check); the rest is a sequence of
 * frames, each preceded by a big-endian u16 whose low 14 bits are the frame
 * length and whose top 2 bits pick how far capture time moves before it
 * (0, 0.1 s, 3 s, 400 s), so that TCP gap waits, idle expiry and fragment
 * timeouts all run. One decoder with small limits sees every frame, so TCP
 * and fragment state carries across frames. The whole input is also given
 * to cap_hep_parse and cap_decode_hep, and cut as a HEP over TCP stream
 * (cap_hep_frame). With limits 0 and 3 the decoder has
 * the key log of tests/data/capture/tls.keys (when run from the repository,
 * as scripts/fuzz.sh does), so TLS records of the seeds made from tls.pcap
 * are decrypted and their mutations reach the record and key code; with 3
 * it is followed as in a live run (a session not in it waits for keys). With
 * every set of limits but 1 it has the ESP SAs of tests/data/capture/
 * esp_sa.keys too, so the ESP of seeds made from esp_sa.pcap is decrypted.
 * Every emitted payload that parses as SIP also goes to the IMS AKA learner
 * (insp_aka.c), whose SAs (a keyring of 16) the decoders try next: the
 * seeds made from ims_aka.pcap learn their keys and decrypt their ESP.
 *
 * Each frame also goes through the reader's stateless peek (cap_shard_peek,
 * cap_shard_key) and its fragment reassembly (cap_defrag), whose rebuilt
 * datagrams a second decoder reads with their path (cap_decode_frame_in).
 * Invariants checked (abort = finding): a TLS ServerHello is told with the
 * two ends of its connection, of one address family, and a server
 * certificate readable in full; every emitted
 * payload is readable in full and has a known transport, and its path
 * (encap) at most FS_MAX_LAYERS layers of known kinds; a peeked UDP or
 * TCP payload lies inside its frame, and both peeks give one shard key;
 * cap_decoder_memory stays under MEM_BOUND; buffered bytes never exceed the
 * configured budgets.
 */
#include "capture/cap.h"
#include "repo_esp_sa.h"
#include "inspect/insp_aka.h"

#include <stdio.h>
#include <stdlib.h>

/* Ethernet, SLL, SLL2, RAW (101, 12, 14), IPv4, IPv6, NULL, LOOP, one not
 * decoded (147, a user link type), PPP, PPP serial, Cisco HDLC, NFLOG */
static const int LINKS[] = {1, 113, 276, 101, 12, 228, 229, 0, 108, 14, 147, 9, 50, 104, 239};
#define NLINKS (sizeof LINKS / sizeof LINKS[0])
#define MEM_BOUND (1u << 20)

static volatile uint8_t sink_byte;
static insp_aka *aka; /* this input's learner */
static sip_msg msg;

static void emit(void *user, const cap_payload *p) {
    uint8_t x = 0;
    for (uint32_t i = 0; i < p->len; i++) x ^= p->data[i]; /* ASan: all readable */
    sink_byte = x;
    if (p->transport >= CAP_TRANSPORTS || (p->len == 0 && !p->from_hep)) abort();
    if (p->encap && (p->encap->n == 0 || p->encap->n > FS_MAX_LAYERS || p->from_hep)) abort();
    for (unsigned i = 0; p->encap && i < p->encap->n; i++)
        if (p->encap->layer[i].kind < FS_L_VLAN || p->encap->layer[i].kind > FS_L_L2TP) abort();
    (*(uint64_t *)user)++;
    if (sip_parse(&msg, (const char *)p->data, p->len, NULL, SIP_PARSE_DATAGRAM) == SIP_PARSE_OK)
        insp_aka_message(aka, p, &msg);
}

/* A ServerHello on a SIP port: the two ends of a TCP connection, told at
 * the time of a frame that was read. */
static void tls_hello(void *user, const cap_tls_hello *h) {
    (void)user;
    if (h->server.addr.family != h->client.addr.family || (h->server.addr.family != 4 && h->server.addr.family != 6) ||
        h->ts_us == 0 || (h->cert && h->cert_len == 0))
        abort();
    uint8_t x = 0;
    for (uint32_t i = 0; h->cert && i < h->cert_len; i++) x ^= h->cert[i]; /* ASan: all readable */
    sink_byte = x;
}

static void fuzz_config(cap_config *c, unsigned variant) {
    cap_config_default(c);
    c->max_tcp_flows = 8;
    c->max_flow_bytes = 4096;
    c->max_tcp_bytes = 131072; /* room for permessage-deflate windows (WS_INFLATER_BYTES, ~40 KiB each) */
    c->tcp_idle_s = 5;
    c->max_frag_sets = 8;
    c->max_frag_bytes = 32768;
    c->frag_timeout_s = 2;
    c->sip.max_message = 2048;
    if (variant == 1 || variant == 2) { /* limits below a start line's length */
        c->max_tcp_flows = 2;
        c->max_flow_bytes = 300;
        c->max_tcp_bytes = 2000;
        c->max_frag_sets = 2;
        c->max_frag_bytes = 3000;
        c->sip.max_message = 200;
        c->heuristic = variant == 1;
    } else if (variant == 3) {
        c->sip_ports[0] = 0;
        c->sip_ports[1] = 1;
        c->sip_ports[2] = 9060; /* also a HEP port: HEP wins */
        snprintf(c->hep_auth_key, sizeof c->hep_auth_key, "s3cret"); /* packets must carry it */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loaded once, kept for the process (libFuzzer runs inputs in one process);
 * follow: read as a live run does, so a session not in it makes its TLS 1.3
 * handshake wait, unconsumed, for keys that never come. */
static cap_tls_keys *tls_keys(bool follow) {
    static cap_tls_keys *keys[2];
    static bool tried[2];
    if (!tried[follow]) {
        tried[follow] = true;
        fs_err e;
        if (cap_tls_keys_open("tests/data/capture/tls.keys", follow, &keys[follow], &e) != FS_OK) keys[follow] = NULL;
    }
    return keys[follow];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    cap_config cfg;
    fuzz_config(&cfg, (data[0] >> 4) & 3);
    if (((data[0] >> 4) & 3) == 0 || ((data[0] >> 4) & 3) == 3) cfg.tls_keys = tls_keys(((data[0] >> 4) & 3) == 3);
    if (((data[0] >> 4) & 3) != 1) cfg.esp_sas = repo_esp_sas();
    uint64_t emitted = 0;
    fs_err e;
    cfg.esp_keyring = cap_esp_keyring_new(16, &e);
    if (!cfg.esp_keyring || !(aka = insp_aka_new(cfg.esp_keyring, 38))) abort();
    cap_decoder *d = cap_decoder_new(&cfg, emit, &emitted, &e);
    cap_decoder *d2 = cap_decoder_new(&cfg, emit, &emitted, &e);
    cap_defrag *r = cap_defrag_new(&cfg, 38);
    if (!d || !d2 || !r) abort();
    cap_decoder_set_tls_hello(d, tls_hello, NULL);
    int dlt = LINKS[(data[0] & 15) % NLINKS];
    static const uint64_t steps[4] = {0, FS_USEC / 10, 3 * FS_USEC, 400 * FS_USEC};
    uint64_t ts = 1700000000ULL * FS_USEC, frame_no = 0;
    size_t pos = 1;
    while (pos + 2 <= size) {
        uint16_t pfx = (uint16_t)(data[pos] << 8 | data[pos + 1]);
        pos += 2;
        size_t len = pfx & 0x3fff;
        if (len > size - pos) len = size - pos;
        ts += steps[pfx >> 14];
        /* copy so that ASan sees reads past the frame's own end */
        uint8_t *frame = malloc(len ? len : 1);
        if (!frame) abort();
        memcpy(frame, data + pos, len);
        cap_decode_frame(d, dlt, frame, (uint32_t)len, ts, ++frame_no);
        /* the reader's stateless peeks (--workers): inside the frame, always */
        const uint8_t *payload;
        uint32_t plen = 0;
        uint64_t key = cap_shard_peek(&cfg, dlt, frame, (uint32_t)len, &payload, &plen, NULL, NULL);
        if (key != cap_shard_key(&cfg, dlt, frame, (uint32_t)len)) abort();
        if (payload && (payload < frame || payload + plen > frame + len)) abort();
        const uint8_t *whole;
        uint32_t whole_len;
        const fs_encap *outer = NULL;
        if (cap_defrag_frame(r, dlt, frame, (uint32_t)len, ts, &whole, &whole_len, &outer) == 2) {
            if (whole_len > CAP_DEFRAG_MAX_PACKET || (outer && (outer->n == 0 || outer->n > FS_MAX_LAYERS)))
                abort();
            cap_decode_frame_in(d2, outer, true, CAP_DLT_RAW, whole, whole_len, ts, frame_no);
        }
        free(frame);
        pos += len;
        if (cap_decoder_memory(d) > MEM_BOUND) abort();
        const cap_stats *st = cap_decoder_stats(d);
        if (st->tcp_bytes_buffered_peak > cfg.max_tcp_bytes) abort();
        if (st->frag_bytes_peak > cfg.max_frag_bytes) abort();
        if (st->tcp_flows_live > cfg.max_tcp_flows) abort();
    }
    cap_hep h;
    if (cap_hep_parse(data + 1, size - 1, &h, &e) == FS_OK && h.auth_key &&
        (h.auth_key < data + 1 || h.auth_key + h.auth_key_len > data + size))
        abort(); /* the key is a slice of the packet */
    if (cap_hep_parse(data + 1, size - 1, &h, &e) == FS_OK && h.compressed) {
        cap_hep_inflater *x = cap_hep_inflater_new(); /* a compressed payload inflates within the bound */
        if (x && cap_hep_inflate(x, &h, &e) == FS_OK && (h.compressed || h.payload_len > CAP_HEP_MAX_INFLATED))
            abort();
        cap_hep_inflater_free(x);
    }
    cap_decode_hep(d, data + 1, size - 1, ts, &e);
    cap_decode_hep_stream(d, data + 1, size - 1, ts, &e);
    /* a datagram's first packet may be HEP v1/v2: its payload is inside it */
    if (cap_hep_parse_datagram(data + 1, size - 1, &h, &e) == FS_OK &&
        (h.payload < data + 1 || h.payload + h.payload_len > data + size || h.total > size - 1))
        abort();
    /* the same bytes as a HEP over TCP stream (cap_hep_listen.c): each
     * packet cut off it lies inside it, is at least a header long, and is
     * whole (a packet that parses says that length itself) */
    size_t at = 1;
    long cut;
    while (at < size && (cut = cap_hep_frame(data + at, size - at)) > 0) {
        if (cut < 6 || (size_t)cut > size - at) abort();
        if (cap_hep_parse(data + at, (size_t)cut, &h, &e) == FS_OK && h.total != (uint32_t)cut) abort();
        at += (size_t)cut;
    }
    uint32_t tcp_max, frag_max; /* --stats: longest hash chains */
    cap_decoder_chains(d, &tcp_max, &frag_max);
    if (tcp_max > cfg.max_tcp_flows || frag_max > cfg.max_frag_sets) abort();
    cap_decoder_finish(d);
    if (cap_decoder_stats(d)->tcp_flows_live != 0) abort();
    cap_decoder_free(d);
    cap_decoder_finish(d2);
    cap_decoder_free(d2);
    cap_defrag_free(r);
    if (cap_esp_keyring_added(cfg.esp_keyring) > 4 * insp_aka_agreements(aka)) abort();
    insp_aka_free(aka);
    cap_esp_keyring_free(cfg.esp_keyring);
    return 0;
}
