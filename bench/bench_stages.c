/*
 * bench_stages.c -- where `fs38 inspect`'s time goes, stage by stage.
 *
 * Owns: timing the first stages of the inspect pipeline on one capture, on
 * one thread, each stage including the ones before it:
 *   read     libpcap hands over every frame (cap_open_file + cap_next)
 *   decode   + link/IP/UDP/TCP decoding, reassembly and SIP framing
 *            (cap_decode_frame; payloads are counted, nothing else)
 *   parse    + sip_parse (datagram mode, default limits) + sip_validate on
 *            every payload
 * The full pipeline (+ detection) is `fs38 inspect --workers 1`, timed by
 * scripts/bench.sh beside these, so the difference between stages is what
 * one stage costs. Not a test: nothing here passes or fails.
 * Must not touch: anything beyond the public cap.h and sip.h APIs.
 *
 *   bench_stages STAGE FILE    prints one line:
 *   RESULT stage=S frames=N payloads=N messages=N bytes=N cpu_s=X wall_s=Y
 * (messages: payloads sip_parse accepted; 0 before the parse stage)
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capture/cap.h"
#include "sip/sip.h"

typedef enum stage { STAGE_READ, STAGE_DECODE, STAGE_PARSE } stage;

typedef struct run {
    stage until;
    sip_limits limits;
    sip_msg msg;
    uint64_t payloads, messages;
} run;

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_payload(void *user, const cap_payload *p) {
    run *r = user;
    r->payloads++;
    if (r->until < STAGE_PARSE) return;
    if (sip_parse(&r->msg, (const char *)p->data, p->len, &r->limits, SIP_PARSE_DATAGRAM) != SIP_PARSE_OK)
        return;
    sip_validate(&r->msg, &r->limits);
    r->messages++;
}

static int parse_stage(const char *s, stage *out) {
    static const char *const names[] = {"read", "decode", "parse"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *out = (stage)i;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv) {
    static run r; /* sip_msg is large: keep it off the stack */
    if (argc != 3 || parse_stage(argv[1], &r.until) != 0) {
        fprintf(stderr, "usage: bench_stages read|decode|parse FILE\n");
        return 2;
    }
    cap_config cfg;
    cap_config_default(&cfg);
    sip_limits_default(&r.limits);
    fs_err e = {0};
    cap_decoder *dec = cap_decoder_new(&cfg, on_payload, &r, &e);
    cap_source *src = NULL;
    if (!dec || cap_open_file(argv[2], &src, &e) != FS_OK) {
        fprintf(stderr, "bench_stages: %s\n", e.msg);
        cap_decoder_free(dec);
        return 2;
    }
    double cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID), wall0 = seconds(CLOCK_MONOTONIC);
    const uint8_t *frame;
    uint32_t caplen;
    uint64_t ts, frames = 0, bytes = 0;
    cap_next_status st;
    while ((st = cap_next(src, &frame, &caplen, &ts, &e)) == CAP_NEXT_FRAME) {
        frames++;
        bytes += caplen;
        if (r.until >= STAGE_DECODE) cap_decode_frame(dec, cap_frame_dlt(src), frame, caplen, ts, frames);
    }
    if (r.until >= STAGE_DECODE) cap_decoder_finish(dec);
    double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = seconds(CLOCK_MONOTONIC) - wall0;
    if (st == CAP_NEXT_ERROR) fprintf(stderr, "bench_stages: %s\n", e.msg);
    printf("RESULT stage=%s frames=%llu payloads=%llu messages=%llu bytes=%llu cpu_s=%.4f wall_s=%.4f\n",
           argv[1], (unsigned long long)frames, (unsigned long long)r.payloads,
           (unsigned long long)r.messages, (unsigned long long)bytes, cpu, wall);
    cap_close(src);
    cap_decoder_free(dec);
    return st == CAP_NEXT_ERROR ? 1 : 0;
}
