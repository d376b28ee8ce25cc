/*
 * test_rfc4475.c -- the 49 RFC 4475 torture messages through sip_parse +
 * sip_validate, as tests/data/rfc4475/MANIFEST.tsv classifies them:
 *   valid    -> SIP_PARSE_OK, only NOTE-class anomalies, fields recoverable;
 *   invalid  -> the specific MALFORMED code naming what is wrong;
 *   semantic -> parses, no MALFORMED code, the PROTOCOL/NOTE code RFC 3261
 *               gives it (or none where RFC 4475 says the message is fine).
 * Every input is copied into an exactly sized heap buffer so ASan catches a
 * read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "sip/sip.h"

#define DIR "tests/data/rfc4475/"

/* Expected specific code per file. SIP_A_NONE for valid messages and for
 * the three REGISTER cases RFC 4475 says MUST succeed:
 *   cparam01 (3.3.12): ";unknownparam" after a bare Contact URI is a
 *     contact-param, not a URI param (RFC 3261 20.10) -- legal, only needs care;
 *   cparam02 (3.3.13): an unknown URI param inside <> -- legal, kept with the URI;
 *   regescrt (3.3.14): an escaped Route header inside a bracketed Contact URI
 *     -- legal, the registrar stores it with the binding.
 * REGISTER_URI_PARAMS is kept for what RFC 3261 10.2 forbids (userinfo in a
 * REGISTER Request-URI, URI headers in To); those cases are in test_sip.c. */
static const struct {
    const char *file;
    sip_anomaly code;
} expected[] = {
    {"wsinv.dat", SIP_A_NONE},
    {"intmeth.dat", SIP_A_NONE},
    {"esc01.dat", SIP_A_NONE},
    {"escnull.dat", SIP_A_NONE},
    {"esc02.dat", SIP_A_NONE},
    {"lwsdisp.dat", SIP_A_NONE},
    {"longreq.dat", SIP_A_NONE},
    {"dblreq.dat", SIP_A_TRAILING_DATA},
    {"semiuri.dat", SIP_A_NONE},
    {"transports.dat", SIP_A_NONE},
    {"mpart01.dat", SIP_A_NONE},
    {"unreason.dat", SIP_A_NONE},
    {"noreason.dat", SIP_A_NONE},
    {"badinv01.dat", SIP_A_HEADER_EMPTY_VALUE_ITEM},
    {"clerr.dat", SIP_A_CONTENT_LENGTH_EXCEEDS},
    {"ncl.dat", SIP_A_CONTENT_LENGTH_SYNTAX},
    {"scalar02.dat", SIP_A_CSEQ_RANGE},
    {"scalarlg.dat", SIP_A_CSEQ_RANGE},
    {"quotbal.dat", SIP_A_UNTERMINATED_QUOTE},
    {"ltgtruri.dat", SIP_A_RURI_ANGLE_BRACKETS},
    {"lwsruri.dat", SIP_A_RURI_SYNTAX},
    {"lwsstart.dat", SIP_A_REQUEST_LINE_WHITESPACE},
    {"trws.dat", SIP_A_REQUEST_LINE_WHITESPACE},
    {"escruri.dat", SIP_A_RURI_ESCAPED_HEADERS},
    {"baddate.dat", SIP_A_DATE_SYNTAX},
    {"regbadct.dat", SIP_A_NAME_ADDR_UNBRACKETED},
    {"badaspec.dat", SIP_A_ADDR_SPEC_SPACES},
    {"baddn.dat", SIP_A_DISPLAY_NAME_SYNTAX},
    {"badvers.dat", SIP_A_VERSION_UNSUPPORTED},
    {"mismatch01.dat", SIP_A_CSEQ_METHOD_MISMATCH},
    {"mismatch02.dat", SIP_A_CSEQ_METHOD_MISMATCH},
    {"bigcode.dat", SIP_A_STATUS_CODE_RANGE},
    {"badbranch.dat", SIP_A_VIA_BRANCH_NO_COOKIE},
    {"insuf.dat", SIP_A_MISSING_REQUIRED_HEADER},
    {"unkscm.dat", SIP_A_RURI_UNKNOWN_SCHEME},
    {"novelsc.dat", SIP_A_RURI_ATYPICAL_SCHEME},
    {"unksm2.dat", SIP_A_URI_UNKNOWN_SCHEME},
    {"bext01.dat", SIP_A_UNKNOWN_REQUIRE},
    {"invut.dat", SIP_A_CONTENT_TYPE_UNKNOWN},
    {"regaut01.dat", SIP_A_AUTH_SCHEME_UNKNOWN},
    {"multi01.dat", SIP_A_MULTIPLE_SINGLE_VALUE},
    {"mcl01.dat", SIP_A_CONTENT_LENGTH_MULTIPLE},
    {"bcast.dat", SIP_A_VIA_BROADCAST},
    {"zeromf.dat", SIP_A_MAX_FORWARDS_ZERO},
    {"cparam01.dat", SIP_A_NONE},
    {"cparam02.dat", SIP_A_NONE},
    {"regescrt.dat", SIP_A_NONE},
    {"sdp01.dat", SIP_A_ACCEPT_NO_SDP},
    {"inv2543.dat", SIP_A_RFC2543_SYNTAX},
};

/* Further codes a message must (present = true) or must not carry. */
static const struct {
    const char *file;
    sip_anomaly code;
    bool present;
} also[] = {
    {"scalar02.dat", SIP_A_MAX_FORWARDS_SYNTAX, true},     /* Max-Forwards: 300 */
    {"scalar02.dat", SIP_A_SCALAR_RANGE, true},            /* Expires 10**100, expires=280297596632815 */
    {"scalarlg.dat", SIP_A_SCALAR_RANGE, true},            /* Retry-After overflow, Warning code 1812 */
    {"multi01.dat", SIP_A_MISSING_REQUIRED_HEADER, false}, /* repeats headers, omits none */
    {"inv2543.dat", SIP_A_MISSING_REQUIRED_HEADER, false}, /* 2543 had no Max-Forwards */
    {"wsinv.dat", SIP_A_VIA_BRANCH_NO_COOKIE, false},      /* 2543-style branch: a NOTE only */
    {"mcl01.dat", SIP_A_MULTIPLE_SINGLE_VALUE, false},     /* its own code: CONTENT_LENGTH_MULTIPLE */
    {"dblreq.dat", SIP_A_CONTENT_LENGTH_MISMATCH, false},  /* trailing bytes are a second message */
};

static sip_anomaly expected_code(const char *file, bool *found) {
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (strcmp(expected[i].file, file) == 0) {
            *found = true;
            return expected[i].code;
        }
    }
    *found = false;
    return SIP_A_NONE;
}

static bool has_class(const sip_msg *m, sip_anomaly_class c) {
    for (unsigned i = 0; i < m->nanom; i++)
        if (sip_anomaly_class_of((sip_anomaly)m->anom[i]) == c) return true;
    return false;
}

static bool only_notes(const sip_msg *m) {
    for (unsigned i = 0; i < m->nanom; i++)
        if (sip_anomaly_class_of((sip_anomaly)m->anom[i]) != SIP_AC_NOTE) return false;
    return true;
}

static void print_anoms(const char *file, const sip_msg *m) {
    fprintf(stderr, "  %s anomalies:", file);
    for (unsigned i = 0; i < m->nanom; i++)
        fprintf(stderr, " %s", sip_anomaly_name((sip_anomaly)m->anom[i]));
    fputc('\n', stderr);
}

/* The message buffers stay alive while fields are checked. */
typedef struct loaded {
    char *buf;
    size_t len;
    sip_msg m;
    sip_parse_status st;
} loaded;

static loaded *load(const char *file) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s", file);
    size_t n = 0;
    char *raw = check_read_file(path, &n);
    CHECK_MSG(raw != NULL, "cannot read %s", path);
    if (!raw) return NULL;
    loaded *l = calloc(1, sizeof *l);
    l->buf = malloc(n ? n : 1);
    memcpy(l->buf, raw, n);
    free(raw);
    l->len = n;
    l->st = sip_parse(&l->m, l->buf, n, NULL, SIP_PARSE_DATAGRAM);
    if (l->st == SIP_PARSE_OK) sip_validate(&l->m, NULL);
    return l;
}

static void unload(loaded *l) {
    if (!l) return;
    free(l->buf);
    free(l);
}

/* ---- the MANIFEST verdicts ------------------------------------------------------ */

static int check_manifest(void) {
    size_t n = 0;
    char *text = check_read_file(DIR "MANIFEST.tsv", &n);
    CHECK(text != NULL);
    if (!text) return 0;
    int files = 0, peeked = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || !line[0]) continue;
        char file[64], section[32], verdict[32];
        if (sscanf(line, "%63[^\t]\t%31[^\t]\t%31[^\t]", file, section, verdict) != 3) {
            CHECK_MSG(0, "bad manifest line: %s", line);
            continue;
        }
        files++;
        bool found;
        sip_anomaly want = expected_code(file, &found);
        CHECK_MSG(found, "%s has no expectation in the test table", file);
        loaded *l = load(file);
        if (!l) continue;
        const sip_msg *m = &l->m;
        CHECK_MSG(l->st == SIP_PARSE_OK, "%s: status %d", file, l->st);
        fs_str cid; /* the reader's quick look (sip_peek_call_id) agrees, when it finds one */
        if (sip_peek_call_id(l->buf, l->len, &cid) && l->st == SIP_PARSE_OK) {
            CHECK_MSG(fs_str_eq(cid, m->call_id), "%s: peeked Call-ID differs", file);
            peeked++;
        }
        bool ok = true;
        if (strcmp(verdict, "valid") == 0) {
            ok = only_notes(m);
            CHECK_MSG(ok, "%s (valid) carries a non-NOTE anomaly", file);
        } else if (strcmp(verdict, "invalid") == 0) {
            ok = want != SIP_A_NONE && sip_anomaly_class_of(want) == SIP_AC_MALFORMED &&
                 has_class(m, SIP_AC_MALFORMED);
            CHECK_MSG(ok, "%s (invalid) not flagged malformed", file);
        } else if (strcmp(verdict, "semantic") == 0) {
            ok = !has_class(m, SIP_AC_MALFORMED) && !has_class(m, SIP_AC_LIMIT);
            CHECK_MSG(ok, "%s (semantic) flagged as malformed", file);
            if (want != SIP_A_NONE) {
                sip_anomaly_class c = sip_anomaly_class_of(want);
                CHECK(c == SIP_AC_PROTOCOL || c == SIP_AC_NOTE);
            } else {
                CHECK_MSG(only_notes(m), "%s: RFC 4475 says this REGISTER must succeed", file);
            }
        } else {
            CHECK_MSG(0, "%s: unknown verdict %s", file, verdict);
        }
        if (want != SIP_A_NONE) {
            bool has = sip_msg_has_anomaly(m, want);
            CHECK_MSG(has, "%s: expected %s", file, sip_anomaly_name(want));
            ok = ok && has;
        }
        for (size_t i = 0; i < sizeof also / sizeof also[0]; i++) {
            if (strcmp(also[i].file, file) != 0) continue;
            bool has = sip_msg_has_anomaly(m, also[i].code);
            CHECK_MSG(has == also[i].present, "%s: %s %s", file, sip_anomaly_name(also[i].code),
                      also[i].present ? "missing" : "unexpected");
        }
        if (!ok) print_anoms(file, m);
        unload(l);
    }
    free(text);
    CHECK_MSG(peeked > 30, "Call-ID peeked in %d messages", peeked);
    return files;
}

/* ---- recovered fields of the valid messages ------------------------------------------- */

typedef struct fields {
    const char *file, *method, *ruri, *call_id;
    uint32_t cseq;
    const char *cseq_method, *from_tag;
    int64_t content_length;
    int32_t body_len;
} fields;

static const fields valid_fields[] = {
    {"wsinv.dat", "INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam", "wsinv.ndaksdj@192.0.2.1", 9,
     "INVITE", "98asjd8", 150, 150},
    {"intmeth.dat", "!interesting-Method0123456789_*+`.%indeed'~",
     "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
     "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{", 139122385, "!interesting-Method0123456789_*+`.%indeed'~",
     "_token~1'+`*%!-.", 0, 0},
    {"esc01.dat", "INVITE", "sip:sips%3Auser%40example.com@example.net", "esc01.239409asdfakjkn23onasd0-3234",
     234234, "INVITE", "938", 150, 150},
    {"escnull.dat", "REGISTER", "sip:example.com", "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd", 14398234,
     "REGISTER", "839923423", 0, 0},
    {"esc02.dat", "RE%47IST%45R", "sip:registrar.example.com", "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
     29344, "RE%47IST%45R", "f232jadfj23", 0, 0},
    {"lwsdisp.dat", "OPTIONS", "sip:user@example.com", "lwsdisp.1234abcd@funky.example.com", 60, "OPTIONS",
     "323", 0, 0},
    {"longreq.dat", "INVITE", "sip:user@example.com", NULL, 3882340, "INVITE", NULL, 150, 150},
    {"dblreq.dat", "REGISTER", "sip:example.com", "dblreq.0ha0isndaksdj99sdfafnl3lk233412", 8, "REGISTER",
     "43251j3j324", 0, 0},
    {"semiuri.dat", "OPTIONS", "sip:user;par=u%40example.net@example.com", "semiuri.0ha0isndaksdj", 8,
     "OPTIONS", "33242", 0, 0},
    {"transports.dat", "OPTIONS", "sip:user@example.com", "transports.kijh4akdnaqjkwendsasfdj", 60, "OPTIONS",
     "323", 0, 0},
    {"mpart01.dat", "MESSAGE", "sip:kumiko@example.org", "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..", 1,
     "MESSAGE", "2fb0dcc9", 553, 553},
    {"unreason.dat", NULL, NULL, "unreason.1234ksdfak3j2erwedfsASdf", 35, "INVITE", "11141343", 154, 154},
    {"noreason.dat", NULL, NULL, "noreason.asndj203insdf99223ndf", 35, "INVITE", "39ansfi3", 0, 0},
    {"inv2543.dat", "INVITE", "sip:UserB@example.com", "inv2543.1717@ift.client.example.com", 56, "INVITE",
     "", -1, -1},
};

static void check_fields(const fields *f) {
    loaded *l = load(f->file);
    if (!l) return;
    const sip_msg *m = &l->m;
    if (f->method) {
        CHECK(m->is_request);
        CHECK_EQ_STR(m->method_str, f->method);
        CHECK_EQ_STR(m->ruri, f->ruri);
    } else {
        CHECK(!m->is_request);
    }
    if (f->call_id) CHECK_EQ_STR(m->call_id, f->call_id);
    CHECK_EQ_INT(m->cseq, f->cseq);
    CHECK_EQ_STR(m->cseq_method_str, f->cseq_method);
    if (f->from_tag && !f->from_tag[0])
        CHECK_EQ_INT(m->from_tag.len, 0);
    else if (f->from_tag)
        CHECK_EQ_STR(m->from_tag, f->from_tag);
    CHECK_EQ_INT(m->content_length, f->content_length);
    if (f->body_len >= 0) CHECK_EQ_INT(m->body.len, f->body_len);
    unload(l);
}

static unsigned count_vias(const sip_msg *m, sip_via *last, fs_str *transports, unsigned maxt) {
    sip_via_iter it = {0};
    sip_via v;
    bool bad = false;
    unsigned n = 0;
    while (sip_via_next(m, &it, &v, &bad)) {
        if (n < maxt) transports[n] = v.transport;
        *last = v;
        n++;
    }
    CHECK(!bad);
    return n;
}

static void check_details(void) {
    loaded *l;
    sip_via v;
    fs_str tr[8];
    sip_nameaddr na;
    sip_uri u;

    /* wsinv: folding everywhere, spaces around ':' '/' '=' ';', three Via values */
    l = load("wsinv.dat");
    CHECK_EQ_INT(l->m.max_forwards, 68);
    CHECK_EQ_STR(l->m.to_tag, "1918181833n");
    CHECK_EQ_STR(l->m.via_branch, "390skdjuw");
    CHECK_EQ_INT(count_vias(&l->m, &v, tr, 8), 3);
    CHECK_EQ_STR(tr[1], "TCP");
    CHECK_EQ_STR(v.host, "192.168.255.111");
    CHECK_EQ_STR(v.branch, "z9hG4bK30239");
    CHECK(sip_nameaddr_parse(sip_header_value(&l->m, SIP_H_CONTACT), &na));
    CHECK_EQ_STR(na.display, "Quoted string \\\"\\\"");
    CHECK_EQ_STR(na.uri, "sip:jdrosen@example.com");
    fs_str q;
    CHECK(sip_param_get(na.params, "q", &q));
    CHECK_EQ_STR(q, "0.33");
    CHECK(sip_header_find(&l->m, "NewFangledHeader") != NULL);
    CHECK_EQ_INT(sip_header_value(&l->m, SIP_H_SUBJECT).len, 0); /* "s :" empty */
    CHECK(sip_first(&l->m, SIP_H_SUBJECT) != NULL);
    unload(l);

    /* intmeth: unusual characters preserved, NUL inside a quoted display name */
    l = load("intmeth.dat");
    CHECK_EQ_INT(l->m.method, SIP_M_UNKNOWN);
    CHECK_EQ_INT(l->m.max_forwards, 255);
    CHECK(sip_uri_parse(l->m.ruri, &u));
    CHECK_EQ_STR(u.host, "example.com");
    CHECK_EQ_STR(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    CHECK(sip_nameaddr_parse(sip_header_value(&l->m, SIP_H_TO), &na));
    CHECK_EQ_INT(na.display.len, 20); /* BEL:\<07> NUL:\<00> DEL:\<7f> */
    CHECK(memchr(na.display.p, '\0', na.display.len) != NULL);
    CHECK(sip_header_find(&l->m, "extensionHeader-!.%*+_`'~") != NULL);
    unload(l);

    /* escnull: %00 kept as written in the To URI */
    l = load("escnull.dat");
    CHECK_EQ_STR(sip_header_value(&l->m, SIP_H_TO), "sip:null-%00-null@example.com");
    CHECK_EQ_INT(l->m.count[SIP_H_CONTACT], 2);
    unload(l);

    /* esc02: "C%6Fntact" is not Contact (no unescaping of names) */
    l = load("esc02.dat");
    CHECK_EQ_INT(l->m.count[SIP_H_CONTACT], 2);
    CHECK(sip_header_find(&l->m, "C%6Fntact") != NULL);
    unload(l);

    /* lwsdisp: display name directly before '<' */
    l = load("lwsdisp.dat");
    CHECK(sip_nameaddr_parse(l->m.from, &na));
    CHECK_EQ_STR(na.display, "caller");
    unload(l);

    /* longreq: 34 Via values over many spellings of Via and v */
    l = load("longreq.dat");
    CHECK_EQ_INT(count_vias(&l->m, &v, tr, 8), 34);
    CHECK_EQ_STR(v.host, "host.example.com");
    CHECK_EQ_STR(v.received, "192.0.2.5");
    CHECK(sip_nameaddr_parse(l->m.to, &na));
    CHECK(sip_uri_parse(na.uri, &u));
    CHECK_EQ_INT(u.port, 6000);
    unload(l);

    /* dblreq: the first message ends at Content-Length; the second parses on its own */
    l = load("dblreq.dat");
    CHECK_EQ_INT(l->m.msg_len, 300);
    CHECK(l->m.msg_len < l->len);
    CHECK(!sip_msg_has_anomaly(&l->m, SIP_A_CONTENT_LENGTH_MISMATCH));
    sip_msg *m2 = malloc(sizeof *m2);
    CHECK_EQ_INT(sip_parse(m2, l->buf + l->m.msg_len, l->len - l->m.msg_len, NULL, 0), SIP_PARSE_OK);
    CHECK_EQ_STR(m2->method_str, "INVITE");
    CHECK_EQ_STR(m2->call_id, "dblreq.0ha0isnda977644900765@192.0.2.15");
    CHECK_EQ_INT(m2->body.len, 150);
    free(m2);
    unload(l);

    /* semiuri: ';' inside the user part */
    l = load("semiuri.dat");
    CHECK(sip_uri_parse(l->m.ruri, &u));
    CHECK_EQ_STR(u.user, "user;par=u%40example.net");
    CHECK_EQ_STR(u.host, "example.com");
    CHECK_EQ_INT(u.params.len, 0);
    unload(l);

    /* transports: unknown transport kept */
    l = load("transports.dat");
    CHECK_EQ_INT(count_vias(&l->m, &v, tr, 8), 5);
    CHECK_EQ_STR(tr[1], "SCTP");
    CHECK_EQ_STR(tr[3], "UNKNOWN");
    unload(l);

    /* mpart01: two parts located by the boundary, binary part intact */
    l = load("mpart01.dat");
    fs_str ct = sip_header_value(&l->m, SIP_H_CONTENT_TYPE), ph, pb, sdp;
    uint32_t pos = 0;
    CHECK(sip_multipart_next(ct, l->m.body, &pos, &ph, &pb));
    CHECK_EQ_STR(pb, "Hello");
    CHECK(sip_multipart_next(ct, l->m.body, &pos, &ph, &pb));
    CHECK(fs_str_icontains(ph, "application/octet-stream"));
    CHECK(pb.len > 300);
    CHECK(!sip_multipart_next(ct, l->m.body, &pos, &ph, &pb));
    CHECK(!sip_msg_sdp(&l->m, &sdp));
    CHECK(sip_first(&l->m, SIP_H_IDENTITY) != NULL);
    CHECK_EQ_STR(l->m.user_agent, "SIPimp.org/0.2.5 (curses)");
    unload(l);

    /* unreason / noreason: reason phrase kept, empty allowed */
    l = load("unreason.dat");
    CHECK_EQ_INT(l->m.status, 200);
    CHECK(l->m.reason.len > 20 && memcmp(l->m.reason.p, "= 2**3 * 5**2 ", 14) == 0);
    sip_sdp s;
    CHECK(sip_msg_sdp(&l->m, &sdp));
    CHECK(sip_sdp_parse(sdp, &s));
    CHECK_EQ_INT(s.nconn, 1);
    CHECK_EQ_STR(s.conn_addr[0], "192.0.2.198");
    CHECK_EQ_INT(s.nmedia, 2);
    CHECK_EQ_INT(s.media[1].port, 3227);
    unload(l);
    l = load("noreason.dat");
    CHECK_EQ_INT(l->m.status, 100);
    CHECK_EQ_INT(l->m.reason.len, 0);
    unload(l);

    /* cparam01: the parameter is the Contact's, not the URI's */
    l = load("cparam01.dat");
    CHECK(sip_nameaddr_parse(sip_header_value(&l->m, SIP_H_CONTACT), &na));
    CHECK(!na.bracketed);
    CHECK_EQ_STR(na.uri, "sip:+19725552222@gw1.example.net");
    CHECK(sip_param_get(na.params, "unknownparam", NULL));
    unload(l);
    /* cparam02: inside <> it belongs to the URI */
    l = load("cparam02.dat");
    CHECK(sip_nameaddr_parse(sip_header_value(&l->m, SIP_H_CONTACT), &na));
    CHECK(sip_uri_parse(na.uri, &u));
    CHECK(sip_param_get(u.params, "unknownparam", NULL));
    CHECK_EQ_INT(na.params.len, 0);
    unload(l);
    /* regescrt: the escaped Route header stays with the Contact URI */
    l = load("regescrt.dat");
    CHECK(sip_nameaddr_parse(sip_header_value(&l->m, SIP_H_CONTACT), &na));
    CHECK(sip_uri_parse(na.uri, &u));
    CHECK_EQ_STR(u.headers, "Route=%3Csip:sip.example.com%3E");
    unload(l);

    /* bigcode: an out-of-range code does not leak into status */
    l = load("bigcode.dat");
    CHECK_EQ_INT(l->m.status, 0);
    unload(l);
}

int main(void) {
    int files = check_manifest();
    CHECK_EQ_INT(files, 49);
    CHECK_EQ_INT(sizeof expected / sizeof expected[0], 49);
    for (size_t i = 0; i < sizeof valid_fields / sizeof valid_fields[0]; i++)
        check_fields(&valid_fields[i]);
    check_details();
    return check_done("test_rfc4475");
}
