/*
 * test_cve.c -- inputs that crashed or confused other SIP stacks (Kamailio,
 * OpenSIPS, Asterisk, PJSIP, sofia-sip, libosip2, belle-sip, sngrep, Zeek
 * ...), and the parser differentials attackers build from them, through
 * sip_parse + sip_validate as tests/data/cve/MANIFEST.tsv says fs38 must
 * judge them. Columns: file, mode (dgram / stream), source, bug, verdict,
 * codes (comma separated, all must be present; "-" none):
 *   valid      SIP_PARSE_OK, only NOTE-class anomalies, Call-ID and CSeq recovered;
 *   malformed  SIP_PARSE_OK with a MALFORMED-class anomaly (SIP-MAL-001);
 *   protocol   SIP_PARSE_OK, no MALFORMED or LIMIT anomaly (SIP-PROTO-*);
 *   limit      a LIMIT-class code (SIP-MAL-002), parsed or skipped;
 *   not_sip    SIP_PARSE_ERROR (SIP-MAL-001 on a SIP port);
 *   incomplete stream mode: SIP_PARSE_INCOMPLETE (the framer waits).
 * Each input is copied into an exactly sized heap buffer (ASan catches a
 * read past it), and every lazy parser (SDP, multipart, Via, name-addr) runs
 * over it as the fuzz harness does. Also: a bare CR at every offset of the
 * 64-octet blocks the line-end scan works in is found, and a CRLF there is
 * not taken for one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "sip/sip.h"

#define DIR "tests/data/cve/"

static sip_anomaly anomaly_by_name(const char *name, size_t n) {
    for (int a = 0; a < SIP_A__COUNT; a++) {
        const char *s = sip_anomaly_name((sip_anomaly)a);
        if (strlen(s) == n && memcmp(s, name, n) == 0) return (sip_anomaly)a;
    }
    return SIP_A__COUNT;
}

static bool has_class(const sip_msg *m, sip_anomaly_class c) {
    for (unsigned i = 0; i < m->nanom; i++)
        if (sip_anomaly_class_of((sip_anomaly)m->anom[i]) == c) return true;
    return false;
}

static void print_anoms(const char *what, const sip_msg *m) {
    fprintf(stderr, "  %s anomalies:", what);
    for (unsigned i = 0; i < m->nanom; i++) fprintf(stderr, " %s", sip_anomaly_name((sip_anomaly)m->anom[i]));
    fputc('\n', stderr);
}

/* Every lazy parser over the message: none may read outside it. */
static void exercise(const sip_msg *m) {
    for (uint16_t i = 0; i < m->nhdr; i++) {
        fs_str rest = m->hdr[i].value, item;
        for (unsigned n = 0; n < 256 && sip_list_next(&rest, &item); n++) {
            sip_nameaddr na;
            (void)sip_nameaddr_check(item, &na);
            sip_uri u;
            (void)sip_uri_parse(na.uri, &u);
        }
    }
    sip_via_iter it = {0};
    sip_via v;
    bool bad;
    for (unsigned n = 0; n < 256 && sip_via_next(m, &it, &v, &bad); n++) {}
    fs_str sdp;
    sip_sdp s;
    if (sip_msg_sdp(m, &sdp)) (void)sip_sdp_parse(sdp, &s);
    fs_str ct = sip_header_value(m, SIP_H_CONTENT_TYPE), ph, pb;
    uint32_t pos = 0;
    for (unsigned n = 0; n < 64 && sip_multipart_next(ct, m->body, &pos, &ph, &pb); n++) {}
    (void)sip_multipart_closed(ct, m->body);
}

static int check_case(const char *file, const char *mode, const char *verdict, const char *codes) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s", file);
    size_t n = 0;
    char *raw = check_read_file(path, &n);
    CHECK_MSG(raw != NULL, "cannot read %s", path);
    if (!raw) return 0;
    char *buf = malloc(n ? n : 1);
    memcpy(buf, raw, n);
    free(raw);
    bool stream = strcmp(mode, "stream") == 0;
    CHECK_MSG(stream || strcmp(mode, "dgram") == 0, "%s: unknown mode %s", file, mode);
    sip_msg *m = malloc(sizeof *m);
    sip_parse_status st = sip_parse(m, buf, n, NULL, stream ? SIP_PARSE_STREAM : SIP_PARSE_DATAGRAM);
    if (st == SIP_PARSE_OK) {
        sip_validate(m, NULL);
        exercise(m);
    }
    char what[128];
    snprintf(what, sizeof what, "%s (%s, %s)", file, mode, verdict);
    bool ok;
    if (strcmp(verdict, "valid") == 0) {
        ok = st == SIP_PARSE_OK && !has_class(m, SIP_AC_MALFORMED) && !has_class(m, SIP_AC_PROTOCOL) &&
             !has_class(m, SIP_AC_LIMIT) && m->call_id.len > 0 && m->cseq > 0;
    } else if (strcmp(verdict, "malformed") == 0) {
        ok = st == SIP_PARSE_OK && has_class(m, SIP_AC_MALFORMED);
    } else if (strcmp(verdict, "protocol") == 0) {
        ok = st == SIP_PARSE_OK && has_class(m, SIP_AC_PROTOCOL) && !has_class(m, SIP_AC_MALFORMED) &&
             !has_class(m, SIP_AC_LIMIT);
    } else if (strcmp(verdict, "limit") == 0) {
        ok = st != SIP_PARSE_INCOMPLETE && has_class(m, SIP_AC_LIMIT);
    } else if (strcmp(verdict, "not_sip") == 0) {
        ok = st == SIP_PARSE_ERROR;
    } else if (strcmp(verdict, "incomplete") == 0) {
        ok = stream && st == SIP_PARSE_INCOMPLETE;
    } else {
        ok = false;
        CHECK_MSG(0, "%s: unknown verdict", what);
    }
    CHECK_MSG(ok, "%s: verdict differs (status %d)", what, st);
    for (const char *c = codes; strcmp(codes, "-") != 0 && *c;) {
        const char *e = strchr(c, ',');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        sip_anomaly a = anomaly_by_name(c, len);
        CHECK_MSG(a != SIP_A__COUNT, "%s: unknown code %.*s", what, (int)len, c);
        bool has = a != SIP_A__COUNT && sip_msg_has_anomaly(m, a);
        CHECK_MSG(has, "%s: expected %.*s", what, (int)len, c);
        ok = ok && has;
        c = e ? e + 1 : c + len;
    }
    if (!ok) print_anoms(what, m);
    free(m);
    free(buf);
    return 1;
}

static int check_manifest(void) {
    size_t n = 0;
    char *text = check_read_file(DIR "MANIFEST.tsv", &n);
    CHECK(text != NULL);
    if (!text) return 0;
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || !line[0]) continue;
        char *f[6];
        int k = 0;
        for (char *p = line; k < 6; k++) {
            f[k] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                k++;
                break;
            }
            *tab = '\0';
            p = tab + 1;
        }
        if (k != 6) {
            CHECK_MSG(0, "bad manifest line for %s", f[0]);
            continue;
        }
        rows += check_case(f[0], f[1], f[4], f[5]);
    }
    free(text);
    return rows;
}

/* Precise specifics the manifest cannot say. */
static void check_details(void) {
    size_t n = 0;
    char *raw = check_read_file(DIR "diff-cl-dup-stream.sip", &n);
    CHECK(raw != NULL);
    if (raw) { /* TCP: framed by the first Content-Length; the rest is the next message */
        sip_msg *m = malloc(sizeof *m);
        CHECK_EQ_INT(sip_parse(m, raw, n, NULL, SIP_PARSE_STREAM), SIP_PARSE_OK);
        CHECK_EQ_INT(m->body.len, 0);
        CHECK(m->msg_len < n);
        sip_parse_status st = sip_parse(m, raw + m->msg_len, n - m->msg_len, NULL, SIP_PARSE_STREAM);
        CHECK(st != SIP_PARSE_OK || m->method == SIP_M_BYE);
        free(m);
        free(raw);
    }
    raw = check_read_file(DIR "diff-cl-folded.sip", &n);
    CHECK(raw != NULL);
    if (raw) {
        sip_msg *m = malloc(sizeof *m);
        CHECK_EQ_INT(sip_parse(m, raw, n, NULL, SIP_PARSE_DATAGRAM), SIP_PARSE_OK);
        CHECK_EQ_INT(m->content_length, 5);
        CHECK_EQ_STR(m->body, "hello");
        free(m);
        free(raw);
    }
}

/* A CR at every offset of the SIMD blocks: a CRLF is a line end, a CR
 * followed by anything else is CONTROL_CHARACTER, wherever it falls. */
static void check_bare_cr_offsets(void) {
    static const char head[] = "OPTIONS sip:bob@example.com SIP/2.0\r\n"
                               "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                               "Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n"
                               "From: <sip:a@example.com>;tag=1\r\nCall-ID: cr@x\r\nCSeq: 1 OPTIONS\r\n";
    char msg[1024];
    sip_msg *m = malloc(sizeof *m);
    int missed = 0, false_pos = 0;
    for (int pad = 0; pad < 160; pad++) {
        for (int bare = 0; bare < 2; bare++) {
            int len = snprintf(msg, sizeof msg, "%sSubject: %.*s%s\r\nContent-Length: 0\r\n\r\n", head, pad,
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                               bare ? "\rX-Evil: 1" : "");
            char *b = malloc((size_t)len);
            memcpy(b, msg, (size_t)len);
            sip_parse_status st = sip_parse(m, b, (size_t)len, NULL, SIP_PARSE_DATAGRAM);
            bool flagged = st == SIP_PARSE_OK && sip_msg_has_anomaly(m, SIP_A_CONTROL_CHARACTER);
            if (bare && !flagged) missed++;
            if (!bare && (st != SIP_PARSE_OK || m->nanom)) false_pos++;
            free(b);
        }
    }
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(false_pos, 0);
    free(m);
}

int main(void) {
    int rows = check_manifest();
    CHECK_MSG(rows >= 40, "only %d manifest rows", rows);
    check_details();
    check_bare_cr_offsets();
    return check_done("test_cve");
}
