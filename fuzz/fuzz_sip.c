/*
 * fuzz_sip.c -- libFuzzer harness for the SIP parser.
 *
 * Parses the input in datagram and stream mode with default and tiny
 * limits, runs sip_validate, then every lazy parser on every header value
 * (list split, name-addr, URI, parameters, Via iteration), the SDP summary
 * and multipart iteration. Stream mode also walks several messages in one
 * buffer. Any read past the input or undefined behaviour is a bug, and so is
 * sip_span disagreeing with the byte loop it speeds up, or sip_peek_call_id
 * finding another Call-ID than sip_parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint32_t sink;

static void touch(fs_str s) {
    if (s.len) sink += (unsigned char)s.p[0] + (unsigned char)s.p[s.len - 1];
}

static void lazy_value(fs_str v) {
    fs_str rest = v, item;
    unsigned n = 0;
    while (sip_list_next(&rest, &item) && n++ < 1024) {
        sip_nameaddr na;
        sip_anomaly a = sip_nameaddr_check(item, &na);
        sink += a;
        touch(na.display);
        sip_uri u;
        if (sip_uri_parse(na.uri, &u)) {
            touch(u.user);
            touch(u.host);
            fs_str pr = u.params, pn, pv;
            while (sip_param_next(&pr, &pn, &pv)) touch(pv);
        }
        fs_str tag;
        if (sip_param_get(na.params, "tag", &tag)) touch(tag);
        sink += sip_params_have_empty(na.params);
        sip_via via;
        if (sip_via_parse(item, &via)) touch(via.branch);
    }
    sip_uri u;
    if (sip_uri_parse(v, &u)) touch(u.headers);
}

static void exercise(const sip_msg *m) {
    for (uint16_t i = 0; i < m->nhdr; i++) lazy_value(m->hdr[i].value);
    sip_via_iter it = {0};
    sip_via v;
    bool bad;
    unsigned n = 0;
    while (sip_via_next(m, &it, &v, &bad) && n++ < 4096) touch(v.host);
    fs_str sdp;
    sip_sdp s;
    if (sip_msg_sdp(m, &sdp) && sip_sdp_parse(sdp, &s)) sink += s.nconn + s.nmedia;
    sip_sdp_parse(m->body, &s);
    fs_str ct = sip_header_value(m, SIP_H_CONTENT_TYPE), ph, pb;
    uint32_t pos = 0;
    n = 0;
    while (sip_multipart_next(ct, m->body, &pos, &ph, &pb) && n++ < 4096) touch(pb);
    uint16_t hp = 0;
    while (sip_header_next(m, SIP_H_CONTACT, &hp)) sink++;
    if (sip_header_find(m, "X-Test")) sink++;
    lazy_value(m->ruri);
}

/* sip_span (16 octets a step, last block loaded overlapping) must find what
 * the byte loop over the class table finds, for every set and some starts. */
static void check_spans(const char *b, size_t size) {
    static const sip_charset *const sets[] = {&sip_cs_token,     &sip_cs_uri_plain, &sip_cs_host,
                                              &sip_cs_uri_param, &sip_cs_via_value, &sip_cs_qdtext,
                                              &sip_cs_token_sp,  &sip_cs_v6};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        const sip_charset *cs = sets[i];
        for (size_t p = 0; p <= size && p < 64; p += 1 + p / 4) {
            const char *want = b + p;
            while (want < b + size && (cs->table[(unsigned char)*want] & cs->bits)) want++;
            if (sip_span(b, b + p, b + size, cs) != want) abort();
            if (sip_span(b + p, b + p, b + size, cs) != want) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sip_msg m;
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    sip_limits def, tiny = {.max_message = 300, .max_headers = 5, .max_header_len = 40, .max_uri_len = 16};
    sip_limits_default(&def);
    const sip_limits *lims[2] = {&def, &tiny};
    check_spans(buf, size);
    fs_str cid;
    if (sip_peek_call_id(buf, size, &cid) &&
        sip_parse(&m, buf, size, &def, SIP_PARSE_DATAGRAM) == SIP_PARSE_OK &&
        (cid.len != m.call_id.len || memcmp(cid.p, m.call_id.p, cid.len) != 0))
        abort();
    for (int l = 0; l < 2; l++) {
        if (sip_parse(&m, buf, size, lims[l], SIP_PARSE_DATAGRAM) == SIP_PARSE_OK) {
            sip_validate(&m, lims[l]);
            exercise(&m);
        }
        size_t off = 0;
        for (int k = 0; k < 64 && off < size; k++) {
            sip_parse_status st = sip_parse(&m, buf + off, size - off, lims[l], SIP_PARSE_STREAM);
            if (st == SIP_PARSE_INCOMPLETE) break;
            if (st == SIP_PARSE_OK) {
                sip_validate(&m, lims[l]);
                exercise(&m);
            }
            if (m.msg_len == 0) break;
            off += m.msg_len;
        }
    }
    free(buf);
    return 0;
}
