/*
 * fuzz_sctp.c -- libFuzzer harness for SCTP user message reassembly
 * (cap_sctp.c) driven chunk by chunk, so that what fuzz_decode's frames
 * reach only rarely runs all the time: a message in more than
 * SCTP_MAX_FRAGS parts (merged), one outgrowing max_message (handed on
 * oversized, its tail skipped), directions given up for room, and the
 * timeout keeping a direction's younger parts.
 *
 * Input: byte 0 picks the limits: bits 0-1 max_message (63, 299, 2047,
 * 65534), bits 2-3 max_frag_sets (256, 2, 4, 16), bits 4-5 max_frag_bytes
 * (4 MiB, 8 KiB, 32 KiB, 96 KiB), bit 6 known_only (not a SIP port). Then
 * records of 3 bytes, one DATA chunk each:
 *   byte 0  bits 0-1 flags (1 E, 2 B, 0 a middle part; 3 is taken as 0:
 *           a whole message never comes here), bits 2-3 the direction (3 is
 *           I-DATA, whose message id is bits 6-7), bits 4-5 how far time
 *           moves before it (0, 10 ms, 1 s, 3 s; frag_timeout_s is 2)
 *   byte 1  the TSN (FSN) step from that direction's last one, signed
 *   byte 2  the length - 1 (1 to 256 bytes)
 * Every byte of a chunk is its TSN's low byte, so a message put together
 * has bytes that each equal the one before or that plus 1.
 *
 * Invariants checked (abort = finding): a message or oversized start is at
 * most max_message + 1 bytes, in TSN order as above, and not empty unless
 * its parts were; cap_sctp_memory stays within the configured bytes.
 */
#include "capture/cap.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t MAX_MESSAGE[] = {63, 299, 2047, 65534};
static const uint32_t MAX_SETS[] = {0, 2, 4, 16};
static const uint64_t MAX_BYTES[] = {0, 8192, 32768, 98304};
static const uint64_t STEP_US[] = {0, 10000, 1000000, 3000000};

static volatile uint32_t sink;

static void check_message(const uint8_t *m, uint32_t len, uint32_t hold) {
    if (len > hold || (len && !m)) abort();
    for (uint32_t i = 1; i < len; i++)
        if (m[i] != m[i - 1] && m[i] != (uint8_t)(m[i - 1] + 1)) abort(); /* out of TSN order */
    if (len) sink += m[len - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t bytes[256];
    if (size < 1) return 0;
    cap_config cfg;
    cap_config_default(&cfg);
    cfg.sip.max_message = MAX_MESSAGE[data[0] & 3];
    cfg.max_frag_sets = MAX_SETS[(data[0] >> 2) & 3];
    cfg.max_frag_bytes = MAX_BYTES[(data[0] >> 4) & 3];
    cfg.frag_timeout_s = 2;
    bool known_only = (data[0] & 0x40) != 0;
    uint32_t hold = cfg.sip.max_message + 1;
    size_t budget = (cfg.max_frag_bytes ? cfg.max_frag_bytes : CAP_SCTP_MAX_BYTES) + hold + 65536;
    cap_stats st;
    memset(&st, 0, sizeof st);
    cap_sctp_table *t = cap_sctp_new(&cfg, &st);
    if (!t) abort();
    cap_sctp_set_seed(t, 0x5c7b);
    uint32_t last_tsn[4] = {1000, 0xfffffff0u, 77, 0};
    uint64_t now = 1000000;
    for (size_t i = 1; i + 3 <= size; i += 3) {
        uint8_t b0 = data[i];
        unsigned dir = (b0 >> 2) & 3;
        now += STEP_US[(b0 >> 4) & 3];
        cap_sctp_expire(t, now);
        cap_sctp_chunk c;
        memset(&c, 0, sizeof c);
        c.src.port = (uint16_t)(5060 + (dir & 1));
        c.dst.port = (uint16_t)(5061 - (dir & 1));
        c.vtag = dir == 2 ? 0xbeef : 0xcafe;
        c.msg = dir == 3 ? 1 + (b0 >> 6) : 0;
        c.flags = (b0 & 3) == 3 ? 0 : (b0 & 3);
        c.tsn = last_tsn[dir] += (uint32_t)(int32_t)(int8_t)data[i + 1];
        c.len = 1u + data[i + 2];
        memset(bytes, (uint8_t)c.tsn, c.len);
        c.data = bytes;
        c.ts_us = now;
        const uint8_t *m = NULL;
        uint32_t len = 0;
        int r = cap_sctp_add(t, &c, known_only, &m, &len);
        if (r == CAP_SCTP_MESSAGE || r == CAP_SCTP_OVERSIZED) {
            check_message(m, len, hold);
            if (len == 0) abort(); /* every part has a byte */
        } else if (r != CAP_SCTP_IGNORED && r != CAP_SCTP_HELD) {
            abort();
        }
        if (cap_sctp_memory(t) > budget) abort();
    }
    cap_sctp_expire(t, UINT64_MAX);
    cap_sctp_free(t);
    return 0;
}
