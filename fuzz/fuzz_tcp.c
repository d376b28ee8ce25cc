/*
 * fuzz_tcp.c -- libFuzzer harness for the TCP table (cap_tcp.c) with many
 * flows: what fuzz_decode, whose decoder tracks 8 flows, cannot reach --
 * the 1024 undecided (heuristic) flows' slots filling, the pool of 1024
 * idle flow structs overflowing into free(), eviction and idle expiry of
 * hundreds of flows, the closed list.
 *
 * Input: records of 4 bytes, each one segment:
 *   byte 0-1  big-endian: bits 0-10 the flow (2048 client ports of one
 *             address pair), bit 11 the server's direction, bits 12-15 how
 *             far time moves before it (STEP_US; tcp_idle_s is 5)
 *   byte 2    bits 0-2 FIN, SYN, RST; bit 3 ACK; bits 4-5 the server port
 *             (7000: heuristic only, 5060: a SIP port, 9060: a HEP port,
 *             8080); bits 6-7 the sequence number: the next one expected,
 *             one segment ahead (a gap), one behind (a retransmission), or
 *             2^31 away (another stream)
 *   byte 3    below 0xc0: that many bytes (& 0x3f) of the input follow as
 *             the payload; else a canned payload (CANNED, & 0x3f modulo)
 * Invariants checked (abort = finding): every emitted payload is readable,
 * at most max_message bytes unless marked oversized; open flows never
 * exceed max_tcp_flows; cap_tcp_memory stays within the configured budget
 * plus the flow structs.
 */
#include "capture/cap.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLOWS 2048
static const uint64_t STEP_US[16] = {0, 0, 0, 0, 1000, 1000, 10000, 100000,
                                     500000, 1000000, 2000000, 3000000, 6000000, 6000000, 60000000, 400000000};
static const uint16_t SERVER_PORT[4] = {7000, 5060, 9060, 8080};
static const char *const CANNED[] = {
    "INV",
    "ITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
    "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nv=0\n",
    "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "ZZZZ\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n",
    "\x81\x05OPTIO",
    "HEP3\x00\x0a\x00\x00\x00\x00",
    "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
};
#define NCANNED (sizeof CANNED / sizeof *CANNED)

static volatile uint8_t sink_byte;
static uint32_t max_message;

static void touch(const uint8_t *p, size_t n) {
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) x ^= p[i]; /* ASan: all readable */
    sink_byte = x;
}

static void emit(void *user, const cap_payload *p) {
    (void)user;
    touch(p->data, p->len);
    if (p->len > max_message && !p->oversized) abort();
}

static void hep(void *user, const uint8_t *pkt, size_t len, uint64_t ts_us, uint64_t frame_no) {
    (void)user;
    (void)ts_us;
    (void)frame_no;
    touch(pkt, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint32_t next_seq[FLOWS][2];
    cap_config cfg;
    cap_config_default(&cfg);
    cfg.max_tcp_flows = FLOWS - 2; /* eviction too */
    cfg.max_flow_bytes = 4096;
    cfg.max_tcp_bytes = 6u << 20; /* every flow a first buffer (TCP_MIN_BUF) */
    cfg.tcp_idle_s = 5;
    cfg.sip.max_message = 2048;
    max_message = cfg.sip.max_message;
    cap_stats st;
    memset(&st, 0, sizeof st);
    fs_err e;
    cap_tcp_table *t = cap_tcp_new(&cfg, &st, emit, NULL, &e);
    if (!t) abort();
    cap_tcp_set_seed(t, 0x7c9);
    cap_tcp_set_hep(t, hep, NULL);
    for (uint32_t i = 0; i < FLOWS; i++) next_seq[i][0] = next_seq[i][1] = 1000 + i;
    uint64_t now = 1000000, frame = 0;
    size_t at = 0;
    while (at + 4 <= size) {
        uint16_t v = (uint16_t)(data[at] << 8 | data[at + 1]);
        uint8_t fl = data[at + 2], how = data[at + 3];
        at += 4;
        const uint8_t *pl;
        uint32_t len;
        if (how < 0xc0) {
            len = how & 0x3f;
            if (len > size - at) len = (uint32_t)(size - at);
            pl = data + at;
            at += len;
        } else {
            pl = (const uint8_t *)CANNED[(how & 0x3f) % NCANNED];
            len = (uint32_t)strlen((const char *)pl);
        }
        uint32_t flow = v & (FLOWS - 1);
        unsigned rev = (v >> 11) & 1;
        now += STEP_US[v >> 12];
        cap_tcp_expire(t, now);
        uint16_t sport = SERVER_PORT[(fl >> 4) & 3];
        cap_tcp_seg s;
        memset(&s, 0, sizeof s);
        fs_addr a, b;
        fs_addr_parse("198.51.100.1", &a);
        fs_addr_parse("198.51.100.2", &b);
        fs_endpoint client = {.addr = a, .port = (uint16_t)(20000 + flow)}, server = {.addr = b, .port = sport};
        s.src = rev ? server : client;
        s.dst = rev ? client : server;
        s.flags = (uint8_t)((fl & 7) | ((fl & 8) << 1));
        uint32_t *ns = &next_seq[flow][rev];
        static const uint32_t far = 1u << 31;
        switch (fl >> 6) {
        case 0: s.seq = *ns; break;
        case 1: s.seq = *ns + 64; break;
        case 2: s.seq = *ns - 16; break;
        default: s.seq = *ns + far; break;
        }
        s.ack = next_seq[flow][!rev];
        s.data = pl;
        s.len = len;
        s.ts_us = now;
        s.frame_no = ++frame;
        unsigned ports = sport == 5060 ? CAP_TCP_SIP_PORT : sport == 9060 ? CAP_TCP_HEP_PORT : 0;
        cap_tcp_segment(t, &s, ports);
        *ns = s.seq + len + ((s.flags & 3) ? 1 : 0);
        if (st.tcp_flows_live > cfg.max_tcp_flows) abort();
        if (cap_tcp_memory(t) > cfg.max_tcp_bytes + (size_t)3 * FLOWS * 1024 + (1u << 20)) abort();
    }
    cap_tcp_finish(t);
    cap_tcp_free(t);
    return 0;
}
