/*
 * bench_parser.c -- SIP parser throughput: fs38 against libosip2 and sofia-sip.
 *
 * Owns: loading a corpus of SIP messages into memory and timing one parser
 * over the whole corpus, many times, on one thread. Used by scripts/bench.sh;
 * not a test (nothing here passes or fails).
 * Must not touch: anything in libfs38 beyond the public sip.h API.
 *
 * Built three times, one parser per program, chosen with -DBENCH_FS38,
 * -DBENCH_OSIP or -DBENCH_SOFIA: sofia-sip exports ~400 sip_* symbols
 * (sip_method_name, sip_header_...) that collide with libfs38's, so the
 * parsers cannot share a process. scripts/bench.sh runs the three programs
 * round by round, interleaved, and takes the medians.
 *
 * Input: files with one message per line as hex (what `gen_pcap corpus` and
 * `tshark -T fields -e udp.payload` print; ':' separators are skipped).
 * Every message is decoded once into one contiguous buffer before timing.
 *
 * What each parser does per message (the work an inspector needs):
 *   fs38      sip_parse(DATAGRAM, default limits) + sip_validate
 *             (-n: sip_parse alone, to show where the time goes)
 *   libosip2  osip_message_init + osip_message_parse + osip_message_free
 *   sofia     msg_make(sip_default_mclass()) + msg_destroy
 * "accepted" = fs38 SIP_PARSE_OK; osip parse returned 0; sofia message
 * created without MSG_FLG_ERROR.
 *
 * One round parses the corpus as many times as it takes to fill at least
 * MIN_ROUND_S seconds of thread CPU time and reports messages per second of
 * CPU time (what one core delivers, unaffected by being descheduled on a
 * shared machine) and of wall time. Output, one line per round:
 *   RESULT parser=NAME round=R accepted=N total=N bytes=N cpu_rate=X wall_rate=Y
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(BENCH_FS38) + defined(BENCH_OSIP) + defined(BENCH_SOFIA) != 1
#error "define exactly one of BENCH_FS38, BENCH_OSIP, BENCH_SOFIA"
#endif

#if defined(BENCH_FS38)
#include "sip/sip.h"
#define PARSER_NAME "fs38"
#elif defined(BENCH_OSIP)
#include <osip2/osip.h>
#include <osipparser2/osip_parser.h>
#define PARSER_NAME "libosip2"
#else
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_parser.h>
#define PARSER_NAME "sofia-sip"
#endif

/* ---- corpus ----------------------------------------------------------------- */

typedef struct corpus {
    char *data;          /* all messages back to back */
    size_t len, cap;
    size_t *off;         /* message i is data[off[i] .. off[i+1]) */
    size_t n, ncap;
} corpus;

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) { fprintf(stderr, "bench_parser: out of memory\n"); exit(2); }
    return q;
}

static void corpus_push_byte(corpus *c, char b) {
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1 << 20;
        c->data = xrealloc(c->data, c->cap);
    }
    c->data[c->len++] = b;
}

static void corpus_end_message(corpus *c) {
    if (c->n + 2 > c->ncap) {
        c->ncap = c->ncap ? c->ncap * 2 : 4096;
        c->off = xrealloc(c->off, c->ncap * sizeof *c->off);
    }
    if (c->n == 0) c->off[0] = 0;
    if (c->len == c->off[c->n]) return; /* empty line */
    c->off[++c->n] = c->len;
}

/* Appends every hex line of path; returns the number of messages read or -1. */
static long corpus_load_hex(corpus *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return -1; }
    size_t before = c->n;
    int hi = -1, ch;
    if (c->ncap == 0) corpus_end_message(c);
    while ((ch = getc(f)) != EOF) {
        if (ch == '\n') {
            corpus_end_message(c);
            hi = -1;
            continue;
        }
        int v = hexval(ch);
        if (v < 0) continue; /* ':' ',' '\r' or spaces between bytes */
        if (hi < 0) { hi = v; continue; }
        corpus_push_byte(c, (char)(hi << 4 | v));
        hi = -1;
    }
    corpus_end_message(c);
    fclose(f);
    return (long)(c->n - before);
}

static void corpus_free(corpus *c) {
    free(c->data);
    free(c->off);
    memset(c, 0, sizeof *c);
}

static inline const char *msg_at(const corpus *c, size_t i, size_t *len) {
    *len = c->off[i + 1] - c->off[i];
    return c->data + c->off[i];
}

/* ---- the parser under test ------------------------------------------------------- */

static volatile uint64_t g_sink; /* keeps results observable */

#if defined(BENCH_FS38)
static sip_limits g_fs_limits; /* read-only after parser_setup() */
static bool g_fs_validate = true; /* -n: sip_parse only (where the time goes) */

static int parser_setup(void) {
    sip_limits_default(&g_fs_limits);
    return 0;
}

/* Parses every message once; returns how many were accepted. */
static size_t parse_all(const corpus *c) {
    static sip_msg m; /* one, reused, as the inspector does */
    size_t ok = 0;
    uint64_t sink = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t len;
        const char *p = msg_at(c, i, &len);
        if (sip_parse(&m, p, len, &g_fs_limits, SIP_PARSE_DATAGRAM) != SIP_PARSE_OK) continue;
        if (g_fs_validate) sip_validate(&m, &g_fs_limits);
        ok++;
        sink += m.nhdr + m.anom_total + m.cseq;
    }
    g_sink += sink;
    return ok;
}

#elif defined(BENCH_OSIP)
static int parser_setup(void) { return parser_init(); }

static size_t parse_all(const corpus *c) {
    size_t ok = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t len;
        const char *p = msg_at(c, i, &len);
        osip_message_t *m = NULL;
        if (osip_message_init(&m) != 0) continue;
        if (osip_message_parse(m, p, len) == 0) {
            ok++;
            g_sink += (uint64_t)(uintptr_t)m->call_id;
        }
        osip_message_free(m);
    }
    return ok;
}

#else
static int parser_setup(void) { return sip_default_mclass() ? 0 : -1; }

static size_t parse_all(const corpus *c) {
    msg_mclass_t const *mc = sip_default_mclass();
    size_t ok = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t len;
        const char *p = msg_at(c, i, &len);
        msg_t *m = msg_make(mc, 0, p, (ssize_t)len);
        if (!m) continue;
        sip_t const *s = sip_object(m);
        if (s && !(s->sip_flags & MSG_FLG_ERROR)) {
            ok++;
            g_sink += (uint64_t)(uintptr_t)s->sip_call_id;
        }
        msg_destroy(m);
    }
    return ok;
}
#endif

/* ---- timing -------------------------------------------------------------------------- */

static double now_s(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct round_result {
    double cpu_rate, wall_rate; /* messages per second */
} round_result;

/* One round: whole passes until min_s of CPU time went by. */
static round_result run_round(const corpus *c, double min_s) {
    double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC), c1, w1;
    uint64_t msgs = 0;
    do {
        parse_all(c);
        msgs += c->n;
        c1 = now_s(CLOCK_THREAD_CPUTIME_ID);
    } while (c1 - c0 < min_s);
    w1 = now_s(CLOCK_MONOTONIC);
    return (round_result){(double)msgs / (c1 - c0), (double)msgs / (w1 - w0)};
}

static const char *parser_label(void) {
#if defined(BENCH_FS38)
    if (!g_fs_validate) return "fs38-parse-only";
#endif
    return PARSER_NAME;
}

/* ---- main ------------------------------------------------------------------------------ */

static int usage(void) {
    fprintf(stderr, "usage: bench_parser_%s [-r ROUNDS] [-t MIN_ROUND_S] [-n] CORPUS.hex...\n"
                    "  CORPUS.hex: one SIP message per line, hex encoded\n"
                    "  -n: fs38 only, sip_parse without sip_validate\n", PARSER_NAME);
    return 2;
}

int main(int argc, char **argv) {
    int rounds = 1;
    double min_round = 0.4;
    int a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "-r") == 0 && a + 1 < argc) rounds = atoi(argv[++a]);
        else if (strcmp(argv[a], "-t") == 0 && a + 1 < argc) min_round = atof(argv[++a]);
#if defined(BENCH_FS38)
        else if (strcmp(argv[a], "-n") == 0) g_fs_validate = false;
#endif
        else return usage();
    }
    if (a >= argc || rounds < 1 || !(min_round > 0)) return usage();

    corpus c = {0};
    for (; a < argc; a++)
        if (corpus_load_hex(&c, argv[a]) < 0) return 2;
    if (c.n == 0 || parser_setup() != 0) {
        fprintf(stderr, "bench_parser: %s\n", c.n ? "parser setup failed" : "empty corpus");
        corpus_free(&c);
        return 2;
    }

    size_t accepted = parse_all(&c); /* warm-up, and the sanity count */
    for (int r = 1; r <= rounds; r++) {
        round_result rr = run_round(&c, min_round);
        printf("RESULT parser=%s round=%d accepted=%zu total=%zu bytes=%zu cpu_rate=%.0f "
               "wall_rate=%.0f\n", parser_label(), r, accepted, c.n, c.len, rr.cpu_rate, rr.wall_rate);
        fflush(stdout);
    }
    corpus_free(&c);
    return 0;
}
