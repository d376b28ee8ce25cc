/*
 * test_sip.c -- edge cases of the SIP parser beyond RFC 4475: folding,
 * compact forms, list splitting, quoting, IPv6, tel URIs, Via chains, SDP,
 * multipart, bare LF, every LIMIT_* code, stream framing (incomplete
 * headers/body, several messages per buffer), garbage, empty input, NUL
 * bytes, header-count overflow, binary junk, and fuzzer findings.
 * Every input is copied to an exactly sized heap buffer so ASan reports any
 * read past len.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "sip/sip.h"

static sip_msg M; /* big: keep it off the stack */
static char *cur; /* the buffer M points into */

static sip_parse_status parse_n(const char *text, size_t len, unsigned flags, const sip_limits *lim) {
    free(cur);
    cur = malloc(len ? len : 1);
    memcpy(cur, text, len);
    sip_parse_status st = sip_parse(&M, cur, len, lim, flags);
    if (st == SIP_PARSE_OK) sip_validate(&M, lim);
    return st;
}

static sip_parse_status parse(const char *text) { return parse_n(text, strlen(text), 0, NULL); }

static bool has(sip_anomaly a) { return sip_msg_has_anomaly(&M, a); }

static bool only_notes(void) {
    for (unsigned i = 0; i < M.nanom; i++)
        if (sip_anomaly_class_of((sip_anomaly)M.anom[i]) != SIP_AC_NOTE) return false;
    return true;
}

static void dump_anoms(const char *what) {
    fprintf(stderr, "  %s:", what);
    for (unsigned i = 0; i < M.nanom; i++)
        fprintf(stderr, " %s", sip_anomaly_name((sip_anomaly)M.anom[i]));
    fputc('\n', stderr);
}

#define HDRS                                                                                                 \
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9\r\n"                                                \
    "Max-Forwards: 70\r\n"                                                                                   \
    "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl\r\n"                                             \
    "To: <sip:bob@example.net>\r\n"                                                                          \
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"

#define SDP                                                                                                  \
    "v=0\r\n"                                                                                                \
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\n"                                                  \
    "s=-\r\n"                                                                                                \
    "c=IN IP4 198.51.100.7\r\n"                                                                              \
    "t=0 0\r\n"                                                                                              \
    "m=audio 49170 RTP/AVP 0\r\n"                                                                            \
    "c=IN IP6 2001:db8::7\r\n"                                                                               \
    "m=video 51372/2 RTP/AVP 31\r\n"

static const char invite_sdp[] = "INVITE sip:bob@example.net SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                                 "Contact: <sip:alice@192.0.2.1>\r\n"
                                 "Content-Type: application/sdp\r\n"
                                 "Content-Length: 166\r\n"
                                 "\r\n" SDP;

static void test_basic_invite(void) {
    CHECK_EQ_INT(strlen(SDP), 166);
    CHECK_EQ_INT(parse(invite_sdp), SIP_PARSE_OK);
    if (!only_notes()) dump_anoms("basic invite");
    CHECK(only_notes());
    CHECK_EQ_INT(M.nanom, 0);
    CHECK(M.is_request);
    CHECK_EQ_INT(M.method, SIP_M_INVITE);
    CHECK_EQ_STR(M.ruri, "sip:bob@example.net");
    CHECK_EQ_STR(M.version, "SIP/2.0");
    CHECK_EQ_STR(M.from_tag, "9fxced76sl");
    CHECK_EQ_INT(M.to_tag.len, 0);
    CHECK_EQ_STR(M.via_branch, "z9hG4bK74bf9");
    CHECK_EQ_INT(M.max_forwards, 70);
    CHECK_EQ_INT(M.cseq, 1);
    CHECK_EQ_INT(M.cseq_method, SIP_M_INVITE);
    CHECK_EQ_INT(M.content_length, 166);
    CHECK_EQ_INT(M.body.len, 166);
    CHECK_EQ_INT(M.msg_len, strlen(invite_sdp));
    CHECK_EQ_INT(M.raw.len, strlen(invite_sdp));
    CHECK_EQ_INT(M.nhdr, 9);
    CHECK_EQ_INT(M.first[SIP_H_VIA], 0);
    CHECK_EQ_INT(M.first[SIP_H_ROUTE], -1);
    CHECK_EQ_INT(M.count[SIP_H_VIA], 1);

    /* SDP summary: session and media c=, o= address, media ports */
    fs_str body;
    sip_sdp s;
    CHECK(sip_msg_sdp(&M, &body));
    CHECK(sip_sdp_parse(body, &s));
    CHECK_EQ_INT(s.nconn, 2);
    CHECK_EQ_STR(s.conn_addr[0], "198.51.100.7");
    CHECK_EQ_STR(s.conn_addr[1], "2001:db8::7");
    CHECK_EQ_STR(s.origin_addr, "198.51.100.7");
    CHECK_EQ_INT(s.nmedia, 2);
    CHECK_EQ_STR(s.media[0].media, "audio");
    CHECK_EQ_INT(s.media[0].port, 49170);
    CHECK_EQ_STR(s.media[0].proto, "RTP/AVP");
    CHECK_EQ_INT(s.media[1].port, 51372);
    CHECK(!sip_sdp_parse(FS_STR_LIT("not sdp"), &s));
    /* a session c= repeated in every m= section fills one slot, not all:
     * the different address of the ninth section is still in the summary */
    char many[1024];
    int n = snprintf(many, sizeof many, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\n");
    for (int i = 0; i < 8; i++)
        n += snprintf(many + n, sizeof many - (size_t)n, "m=video %d RTP/AVP 96\r\nc=IN IP4 203.0.113.1\r\n", 4000 + 2 * i);
    n += snprintf(many + n, sizeof many - (size_t)n, "m=application 5000 TCP/BFCP *\r\nc=IN IP4 10.1.1.1/127\r\n");
    CHECK(sip_sdp_parse(fs_str_make(many, (size_t)n), &s));
    CHECK_EQ_INT(s.nconn, 2);
    CHECK_EQ_STR(s.conn_addr[0], "203.0.113.1");
    CHECK_EQ_STR(s.conn_addr[1], "10.1.1.1");
}

static void test_response(void) {
    CHECK_EQ_INT(parse("SIP/2.0 180 Ringing\r\n" HDRS "CSeq: 1 INVITE\r\n"
                       "Server: AcmePBX/2.1\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(!M.is_request);
    CHECK_EQ_INT(M.status, 180);
    CHECK_EQ_STR(M.reason, "Ringing");
    CHECK_EQ_STR(M.user_agent, "AcmePBX/2.1");
    CHECK(!has(SIP_A_MISSING_REQUIRED_HEADER));
    /* a request does not take Server as its user agent */
    CHECK_EQ_INT(parse("OPTIONS sip:x@example.com SIP/2.0\r\n" HDRS "CSeq: 1 OPTIONS\r\nServer: S\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK_EQ_INT(M.user_agent.len, 0);
    /* status code shapes */
    CHECK_EQ_INT(parse("SIP/2.0 99 Low\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_STATUS_CODE_RANGE));
    CHECK_EQ_INT(parse("SIP/2.0 700 High\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_STATUS_CODE_RANGE));
    CHECK_EQ_INT(parse("SIP/2.0 OK\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_START_LINE_SYNTAX));
    CHECK_EQ_INT(parse("SIP/3.0 200 OK\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_VERSION_UNSUPPORTED));
    CHECK_EQ_INT(parse("SIP/2.0\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_START_LINE_SYNTAX));
}

static void test_folding_compact_case(void) {
    CHECK_EQ_INT(parse("MESSAGE sip:bob@example.net SIP/2.0\r\n"
                       "v: SIP/2.0/UDP 192.0.2.1\r\n ;branch=z9hG4bKfold1\r\n"
                       "f: <sip:alice@example.com>\r\n\t;tag=abc\r\n"
                       "t: sip:bob@example.net\r\n"
                       "i: fold@x\r\n"
                       "cSeQ: 7\r\n   MESSAGE\r\n"
                       "mAx-FoRwArDs: 10\r\n"
                       "c: text/plain\r\n"
                       "l: 5\r\n"
                       "\r\nhello"),
                 SIP_PARSE_OK);
    if (!only_notes()) dump_anoms("folding");
    CHECK(only_notes());
    CHECK_EQ_STR(M.via_branch, "z9hG4bKfold1");
    CHECK_EQ_STR(M.from_tag, "abc");
    CHECK_EQ_STR(M.call_id, "fold@x");
    CHECK_EQ_INT(M.cseq, 7);
    CHECK_EQ_STR(M.cseq_method_str, "MESSAGE");
    CHECK_EQ_INT(M.max_forwards, 10);
    CHECK_EQ_INT(M.content_length, 5);
    CHECK_EQ_STR(M.body, "hello");
    CHECK_EQ_STR(M.hdr[0].name, "v");
    CHECK_EQ_INT(M.hdr[0].id, SIP_H_VIA);
    CHECK_EQ_STR(M.hdr[0].value, "SIP/2.0/UDP 192.0.2.1\r\n ;branch=z9hG4bKfold1");
    CHECK(sip_first(&M, SIP_H_CONTENT_TYPE) != NULL);
    CHECK(sip_header_find(&M, "content-length") != NULL);
    CHECK(sip_header_find(&M, "X-None") == NULL);
}

static void test_lists_and_quotes(void) {
    fs_str v = FS_STR_LIT(
        "\"Doe, John\" <sip:j@x.com;a=1,b>;q=0.5 , <sip:k@y.com>,sip:l@z.com , \"q\\\"uo,te\" <sip:m@w>");
    fs_str rest = v, it;
    const char *want[] = {"\"Doe, John\" <sip:j@x.com;a=1,b>;q=0.5", "<sip:k@y.com>", "sip:l@z.com",
                          "\"q\\\"uo,te\" <sip:m@w>"};
    unsigned n = 0;
    while (sip_list_next(&rest, &it)) {
        if (n < 4) CHECK_EQ_STR(it, want[n]);
        n++;
    }
    CHECK_EQ_INT(n, 4);
    /* empty items between commas are reported, a trailing comma ends the list */
    rest = FS_STR_LIT("a,,b,");
    n = 0;
    unsigned empty = 0;
    while (sip_list_next(&rest, &it)) {
        n++;
        empty += it.len == 0;
    }
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(empty, 1);
    rest = FS_STR_LIT("   ");
    CHECK(!sip_list_next(&rest, &it));
    rest = FS_STR_LIT("\"unterminated, quote");
    CHECK(sip_list_next(&rest, &it));
    CHECK_EQ_INT(it.len, 20);
    CHECK(!sip_list_next(&rest, &it));

    /* name-addr with escaped quotes */
    sip_nameaddr na;
    CHECK(sip_nameaddr_parse(FS_STR_LIT("\"A \\\"B\\\" \\\\\" <sip:a@b>;tag=1"), &na));
    CHECK_EQ_STR(na.display, "A \\\"B\\\" \\\\");
    CHECK_EQ_STR(na.uri, "sip:a@b");
    CHECK(na.bracketed);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("\"A \\\" <sip:a@b>"), &na), SIP_A_UNTERMINATED_QUOTE);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("A@B <sip:a@b>"), &na), SIP_A_DISPLAY_NAME_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b> x"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;;tag=1"), &na), SIP_A_HEADER_EMPTY_VALUE_ITEM);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;"), &na), SIP_A_HEADER_EMPTY_VALUE_ITEM);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("sip:a@b?x=y"), &na), SIP_A_NAME_ADDR_UNBRACKETED);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("< sip:a@b>"), &na), SIP_A_ADDR_SPEC_SPACES);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT(""), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("nocolon"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("sip:a@b ; tag = x"), &na), SIP_A_NONE);
    CHECK_EQ_STR(na.uri, "sip:a@b");
    /* an unterminated quoted parameter value swallows the rest of the value
     * (here a second Contact another stack would see) */
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x=\"abc, <sip:c@d>"), &na), SIP_A_UNTERMINATED_QUOTE);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("sip:a@b;tag=1;x=\"abc"), &na), SIP_A_UNTERMINATED_QUOTE);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x=\"a\\\"\""), &na), SIP_A_NONE);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x=\"a\";y=\"\""), &na), SIP_A_NONE);
    /* a quote that is not a whole parameter value: libosip2 takes the
     * ";tag=bad\"" fs38 skips (as part of x's value) for the tag */
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x=a\"b;tag=bad\";tag=good"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x==\"a;tag=bad\";tag=good"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;foo@\"a;tag=nope\";tag=x"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("sip:a@b;x=\"a\"b;tag=1"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x = \"a;b\" ;tag=1"), &na), SIP_A_NONE);
    /* a parameter name that is not a token: Wireshark takes ";@tag=" for the tag */
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;@tag=1"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("sip:a@b;]tag=1"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x y=1;tag=1"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b> ; +sip.instance=\"<urn:x>\" ; %x-y_z.w!*+`'~ ; tag = 1 ;"
                                               "+sip.instance=<urn:uuid:1>;x=a/b=@c"), &na), SIP_A_NONE);
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@b>;x=\"a\\\"b\";y;z=\"\""), &na), SIP_A_NONE);
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;@branch=bad;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\nCall-ID: q0\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_SYNTAX));
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;x=a\"b;branch=bad\";branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\nCall-ID: q0\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_SYNTAX));
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;x=a\"b;tag=bad\";tag=good\r\nTo: <sip:b@example.net>\r\n"
                       "Call-ID: q0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_URI_SYNTAX));
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1;x=\"abc\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\nCall-ID: q1\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_UNTERMINATED_QUOTE));
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1;x=\"abc\r\nTo: <sip:b@example.net>\r\nCall-ID: q2\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_UNTERMINATED_QUOTE));
    /* an unclosed '<' in a parameter joins the values after it into one
     * item: the Via or Route another stack sees there is hidden */
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1;x=<, SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK2\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\n"
                       "Call-ID: q3\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_SYNTAX));
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\nCall-ID: q4\r\n"
                       "Route: <sip:p1.example.com;lr>;x=<, <sip:10.1.1.1;lr>\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_URI_SYNTAX));
    /* or a '<' ... '>' pair around the comma */
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1;x=<a, SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK2;y=b>\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\n"
                       "Call-ID: q6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_SYNTAX));
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:p1;lr>;x=<a, <sip:10.1.1.1;lr>>"), &na), SIP_A_URI_SYNTAX);
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1;x=\"<\", SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\n"
                       "Call-ID: q5\r\nRoute: <sip:p1.example.com;lr>;x=\"<\", <sip:p2;lr>\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes()); /* quoted: no '<' of the grammar's */
    /* leniency: an unquoted +sip.instance=<urn:...> hides nothing */
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("<sip:a@h>;+sip.instance=<urn:uuid:x>;reg-id=1"), &na), SIP_A_NONE);

    /* parameters: case-insensitive names, quoted values unquoted, flags */
    fs_str val;
    fs_str params = FS_STR_LIT("lr; Transport=TCP ;x=\"a;b\";maddr=[2001:db8::1]");
    CHECK(sip_param_get(params, "lr", &val));
    CHECK_EQ_INT(val.len, 0);
    CHECK(sip_param_get(params, "transport", &val));
    CHECK_EQ_STR(val, "TCP");
    CHECK(sip_param_get(params, "x", &val));
    CHECK_EQ_STR(val, "a;b");
    CHECK(sip_param_get(params, "maddr", &val));
    CHECK_EQ_STR(val, "[2001:db8::1]");
    CHECK(!sip_param_get(params, "b", &val));
    CHECK(!sip_param_get(FS_STR_NULL, "x", &val));
    CHECK(!sip_params_have_empty(params));
    CHECK(sip_params_have_empty(FS_STR_LIT("a;;b")));
}

static void test_uris(void) {
    sip_uri u;
    CHECK(sip_uri_parse(FS_STR_LIT("sips:alice:secret@[2001:db8::10]:5061;transport=tls?subject=hi"), &u));
    CHECK_EQ_INT(u.scheme, SIP_SCHEME_SIPS);
    CHECK_EQ_STR(u.user, "alice");
    CHECK_EQ_STR(u.password, "secret");
    CHECK_EQ_STR(u.host, "2001:db8::10");
    CHECK_EQ_INT(u.port, 5061);
    CHECK_EQ_STR(u.params, "transport=tls");
    CHECK_EQ_STR(u.headers, "subject=hi");
    CHECK(sip_uri_parse(FS_STR_LIT("SIP:host.example.com"), &u));
    CHECK_EQ_INT(u.scheme, SIP_SCHEME_SIP);
    CHECK_EQ_INT(u.port, 0);
    CHECK(sip_uri_parse(FS_STR_LIT("tel:+1-201-555-0123;phone-context=example.com"), &u));
    CHECK_EQ_INT(u.scheme, SIP_SCHEME_TEL);
    CHECK_EQ_STR(u.user, "+1-201-555-0123");
    CHECK_EQ_STR(u.params, "phone-context=example.com");
    CHECK(sip_uri_parse(FS_STR_LIT("urn:service:sos"), &u));
    CHECK_EQ_INT(u.scheme, SIP_SCHEME_OTHER);
    CHECK_EQ_STR(u.scheme_str, "urn");
    CHECK(!sip_uri_parse(FS_STR_LIT("sip:[2001:db8::1"), &u));
    CHECK(!sip_uri_parse(FS_STR_LIT("sip:host:99999"), &u));
    CHECK(!sip_uri_parse(FS_STR_LIT("sip:host:"), &u));
    CHECK(!sip_uri_parse(FS_STR_LIT("sip:"), &u));
    CHECK(!sip_uri_parse(FS_STR_LIT("tel:"), &u));
    CHECK(!sip_uri_parse(FS_STR_LIT("1sip:x"), &u));
    CHECK(!sip_uri_parse(FS_STR_LIT("noscheme"), &u));
    CHECK(!sip_uri_parse(FS_STR_NULL, &u));

    /* Request-URI checks */
    CHECK_EQ_INT(parse("INVITE tel:+15551234567 SIP/2.0\r\n" HDRS "CSeq: 2 INVITE\r\n\r\n"), SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_INT(parse("INVITE sip:bob@exa mple.com SIP/2.0\r\n" HDRS "CSeq: 2 INVITE\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_RURI_SYNTAX));
    CHECK_EQ_INT(parse("INVITE sip:bob@ex<a SIP/2.0\r\n" HDRS "CSeq: 2 INVITE\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_RURI_SYNTAX));
    CHECK_EQ_INT(parse("INVITE sip:bob@[2001:db8::1]:5060 SIP/2.0\r\n" HDRS "CSeq: 2 INVITE\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes());
    /* REGISTER: no userinfo in the Request-URI, no URI headers in To (RFC 3261 10.2) */
    CHECK_EQ_INT(parse("REGISTER sip:alice@example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_REGISTER_URI_PARAMS));
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bKreg\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com?x=y>\r\n"
                       "Call-ID: r\r\nCSeq: 2 REGISTER\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_REGISTER_URI_PARAMS));
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\n\r\n"), SIP_PARSE_OK);
    CHECK(!has(SIP_A_REGISTER_URI_PARAMS));
    /* Contact: * only in a REGISTER with Expires: 0 and no other contact
     * (RFC 3261 10.2.2, 20.10) */
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\nContact: *\r\n"
                       "Expires: 0\r\n\r\n"), SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\nm: * \r\n"
                       "Expires:  0 \r\n\r\n"), SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\nContact: *\r\n"
                       "Expires: 3600\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTACT_WILDCARD));
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\nContact: *\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTACT_WILDCARD));
    CHECK_EQ_INT(parse("REGISTER sip:example.com SIP/2.0\r\n" HDRS "CSeq: 2 REGISTER\r\nContact: *\r\n"
                       "Contact: <sip:a@192.0.2.1>\r\nExpires: 0\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTACT_WILDCARD));
    CHECK_EQ_INT(parse("INVITE sip:bob@example.com SIP/2.0\r\n" HDRS "CSeq: 2 INVITE\r\nContact: *\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTACT_WILDCARD));
    CHECK(sip_anomaly_class_of(SIP_A_CONTACT_WILDCARD) == SIP_AC_PROTOCOL);
    /* octets no URI holds raw, in the URIs that get no scheme-specific check */
    CHECK_EQ_INT(parse("OPTIONS tel:+1\"23 SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: tel:+1\"2015550123;tag=1\r\nTo: <tel:+1<23>\r\nCall-ID: q0\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_RURI_SYNTAX));
    CHECK(has(SIP_A_URI_SYNTAX));
    CHECK_EQ_INT(parse("OPTIONS sip:b@example.net;x=\"y\" SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                       "From: <sip:a@example.com>;tag=1\r\nTo: <tel:+1-201-555-0123;phone-context=example.com>\r\n"
                       "Call-ID: q0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_RURI_SYNTAX));
    CHECK(!has(SIP_A_URI_SYNTAX));
    static const char nul_ruri[] = "OPTIONS sip:b@example.net;x=\0 SIP/2.0\r\n"
                                   "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                                   "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\n"
                                   "Call-ID: q0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    CHECK_EQ_INT(parse_n(nul_ruri, sizeof nul_ruri - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_RURI_SYNTAX));
}

static void test_via_chain(void) {
    CHECK_EQ_INT(parse("SIP/2.0 200 OK\r\n"
                       "Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKa;received=2001:db8::99, "
                       "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKb\r\n"
                       "Call-ID: c\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCSeq: 1 BYE\r\n"
                       "v: SIP/2.0/TLS 10.0.0.1 : 5061 ; branch=z9hG4bKc\r\n"
                       "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bKd\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_STR(M.via_branch, "z9hG4bKa");
    sip_via_iter it = {0};
    sip_via v;
    bool bad = true;
    const char *hosts[] = {"2001:db8::1", "proxy.example.com", "10.0.0.1", "abc.invalid"};
    const uint16_t ports[] = {5070, 0, 5061, 0};
    unsigned n = 0;
    while (sip_via_next(&M, &it, &v, &bad)) {
        if (n < 4) {
            CHECK_EQ_STR(v.host, hosts[n]);
            CHECK_EQ_INT(v.port, ports[n]);
        }
        if (n == 0) CHECK_EQ_STR(v.received, "2001:db8::99");
        if (n == 3) CHECK_EQ_STR(v.transport, "WS");
        n++;
    }
    CHECK_EQ_INT(n, 4);
    CHECK(!bad);
    /* a broken Via stops iteration with *bad set and is flagged */
    CHECK_EQ_INT(parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx, garbage\r\n"
                       "Call-ID: c\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 BYE\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_SYNTAX));
    memset(&it, 0, sizeof it);
    CHECK(sip_via_next(&M, &it, &v, &bad));
    CHECK(!sip_via_next(&M, &it, &v, &bad));
    CHECK(bad);
    CHECK(!sip_via_parse(FS_STR_LIT("SIP/2.0/UDP"), &v));
    CHECK(!sip_via_parse(FS_STR_LIT("SIP/2.0/UDP h:70000"), &v));
    CHECK(!sip_via_parse(FS_STR_LIT("SIP/2.0/UDP [::1"), &v));
    CHECK(!sip_via_parse(FS_STR_LIT("SIP 2.0/UDP h"), &v));
}

static void test_multipart(void) {
    static const char msg[] = "INVITE sip:b@example.net SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                              "Content-Type: multipart/mixed; boundary=\"b-1\"\r\n"
                              "\r\n"
                              "preamble\r\n"
                              "--b-1\r\n"
                              "Content-Type: application/isup\r\n"
                              "\r\n"
                              "\x01\x02--b-\r\n"
                              "--b-1\r\n"
                              "c: application/sdp\r\n"
                              "\r\n" SDP "\r\n"
                              "--b-1--\r\n";
    CHECK_EQ_INT(parse_n(msg, sizeof msg - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(only_notes());
    fs_str ct = sip_header_value(&M, SIP_H_CONTENT_TYPE), ph, pb;
    uint32_t pos = 0;
    CHECK(sip_multipart_next(ct, M.body, &pos, &ph, &pb));
    CHECK_EQ_STR(ph, "Content-Type: application/isup\r\n");
    CHECK_EQ_STR(pb, "\x01\x02--b-");
    CHECK(sip_multipart_next(ct, M.body, &pos, &ph, &pb));
    CHECK_EQ_INT(pb.len, strlen(SDP));
    CHECK(!sip_multipart_next(ct, M.body, &pos, &ph, &pb));
    fs_str sdp;
    CHECK(sip_msg_sdp(&M, &sdp));
    CHECK_EQ_INT(sdp.len, strlen(SDP));
    /* the SDP inside a nested multipart/alternative (RFC 5621 3.1), as
     * Wireshark finds it: the topology check reads its c= lines */
    static const char nested[] = "INVITE sip:b@example.net SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                                 "Content-Type: multipart/mixed;boundary=outer\r\n"
                                 "\r\n"
                                 "--outer\r\n"
                                 "Content-Type: multipart/alternative;boundary=inner\r\n"
                                 "\r\n"
                                 "--inner\r\n"
                                 "Content-Type: application/sdp\r\n"
                                 "\r\n" SDP "\r\n"
                                 "--inner--\r\n"
                                 "\r\n"
                                 "--outer\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "\r\n"
                                 "hi\r\n"
                                 "--outer--\r\n";
    CHECK_EQ_INT(parse_n(nested, sizeof nested - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(only_notes());
    sdp = FS_STR_NULL;
    CHECK(sip_msg_sdp(&M, &sdp));
    CHECK_EQ_INT(sdp.len, strlen(SDP));
    sip_sdp sum;
    CHECK(sip_sdp_parse(sdp, &sum) && sum.nconn == 2);
    /* boundary missing from the body */
    CHECK_EQ_INT(parse("INVITE sip:b@example.net SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                       "Content-Type: multipart/mixed;boundary=zz\r\n\r\nno parts here"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_MULTIPART_SYNTAX));
    CHECK_EQ_INT(parse("INVITE sip:b@example.net SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                       "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n--x--\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_MULTIPART_SYNTAX));
    /* body without a type */
    CHECK_EQ_INT(parse("MESSAGE sip:b@example.net SIP/2.0\r\n" HDRS "CSeq: 1 MESSAGE\r\n\r\nhi"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_BODY_WITHOUT_TYPE));
}

static void test_bare_lf_and_keepalive(void) {
    CHECK_EQ_INT(parse("OPTIONS sip:x@example.com SIP/2.0\n"
                       "Via: SIP/2.0/UDP h;branch=z9hG4bKlf\nMax-Forwards: 70\n"
                       "From: <sip:a@b>;tag=1\nTo: <sip:x@example.com>\nCall-ID: lf\nCSeq: 1 OPTIONS\n"
                       "Content-Type: text/plain\nContent-Length: 2\n\nok"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_BARE_LF));
    CHECK(only_notes());
    CHECK_EQ_STR(M.body, "ok");
    CHECK_EQ_STR(M.call_id, "lf");
    /* leading CRLFs are skipped */
    CHECK_EQ_INT(parse("\r\n\r\nOPTIONS sip:x@example.com SIP/2.0\r\n" HDRS "CSeq: 1 OPTIONS\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK_EQ_STR(M.method_str, "OPTIONS");
    CHECK_EQ_INT(M.msg_len,
                 strlen("\r\n\r\nOPTIONS sip:x@example.com SIP/2.0\r\n" HDRS "CSeq: 1 OPTIONS\r\n\r\n"));
    CHECK_EQ_INT(parse("\r\n\r\n"), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.anom[0], SIP_A_KEEPALIVE);
    CHECK_EQ_INT(M.msg_len, 4);
    CHECK_EQ_INT(parse_n("\r\n", 2, SIP_PARSE_STREAM, NULL), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.anom[0], SIP_A_KEEPALIVE);
    CHECK_EQ_INT(M.msg_len, 2);
}

static void test_limits(void) {
    sip_limits l;
    sip_limits_default(&l);
    l.max_message = 200;
    CHECK_EQ_INT(parse_n(invite_sdp, strlen(invite_sdp), 0, &l), SIP_PARSE_OK);
    CHECK(has(SIP_A_LIMIT_MESSAGE_SIZE));
    CHECK_EQ_INT(parse_n(invite_sdp, strlen(invite_sdp), SIP_PARSE_STREAM, &l), SIP_PARSE_OK);
    CHECK(has(SIP_A_LIMIT_MESSAGE_SIZE));
    /* stream: an oversized message still arriving is an error, not a wait */
    CHECK_EQ_INT(parse_n(invite_sdp, 250, SIP_PARSE_STREAM, &l), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.anom[0], SIP_A_LIMIT_MESSAGE_SIZE);
    CHECK_EQ_INT(M.msg_len, 250);

    sip_limits_default(&l);
    l.max_headers = 4;
    CHECK_EQ_INT(parse_n(invite_sdp, strlen(invite_sdp), 0, &l), SIP_PARSE_OK);
    CHECK(has(SIP_A_LIMIT_HEADER_COUNT));
    CHECK_EQ_INT(M.nhdr, 4);
    CHECK_EQ_INT(M.content_length, 166); /* framing still uses headers past the index */
    CHECK_EQ_INT(M.count[SIP_H_CONTENT_LENGTH], 1);

    sip_limits_default(&l);
    l.max_header_len = 30;
    CHECK_EQ_INT(parse_n(invite_sdp, strlen(invite_sdp), 0, &l), SIP_PARSE_OK);
    CHECK(has(SIP_A_LIMIT_HEADER_LENGTH));
    /* a field of exactly max_header_len octets (30) fits, CRLF or bare LF; one more does not */
    {
        static const char *const fits[] = {"OPTIONS sip:a@b SIP/2.0\r\nSubject: 123456789012345678901\r\n\r\n",
                                           "OPTIONS sip:a@b SIP/2.0\nSubject: 123456789012345678901\n\n"};
        for (size_t i = 0; i < 2; i++) {
            CHECK_EQ_INT(parse_n(fits[i], strlen(fits[i]), 0, &l), SIP_PARSE_OK);
            CHECK_MSG(!has(SIP_A_LIMIT_HEADER_LENGTH), "field of max_header_len octets flagged (%zu)", i);
        }
        static const char over[] = "OPTIONS sip:a@b SIP/2.0\r\nSubject: 1234567890123456789012\r\n\r\n";
        CHECK_EQ_INT(parse_n(over, strlen(over), 0, &l), SIP_PARSE_OK);
        CHECK(has(SIP_A_LIMIT_HEADER_LENGTH));
    }

    /* a list field over the limit is judged per item: a registrar's 200 OK
     * listing 80 bindings of one address-of-record (~4.9 KB of Contact) is
     * not oversized, one 4.2 KB Contact item or Subject is */
    {
        static char big[16384];
        size_t n = (size_t)snprintf(big, sizeof big, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\r\n"
                                                  "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\n"
                                                  "Call-ID: reg\r\nCSeq: 2 REGISTER\r\nContact: ");
        for (int i = 0; i < 80; i++)
            n += (size_t)snprintf(big + n, sizeof big - n, "%s<sip:a@198.51.100.%d:5060;transport=udp>;expires=3600",
                                  i ? ", " : "", i);
        n += (size_t)snprintf(big + n, sizeof big - n, "\r\nContent-Length: 0\r\n\r\n");
        CHECK_EQ_INT(parse_n(big, n, 0, NULL), SIP_PARSE_OK);
        CHECK(M.count[SIP_H_CONTACT] == 1 && sip_header_value(&M, SIP_H_CONTACT).len > 4096);
        CHECK(!has(SIP_A_LIMIT_HEADER_LENGTH));
        n = (size_t)snprintf(big, sizeof big, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\r\n"
                                             "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\n"
                                             "Call-ID: reg\r\nCSeq: 2 REGISTER\r\nContact: <sip:");
        memset(big + n, 'a', 4200);
        n += 4200;
        n += (size_t)snprintf(big + n, sizeof big - n, "@198.51.100.1>\r\nContent-Length: 0\r\n\r\n");
        CHECK_EQ_INT(parse_n(big, n, 0, NULL), SIP_PARSE_OK);
        CHECK(has(SIP_A_LIMIT_HEADER_LENGTH));
        n = (size_t)snprintf(big, sizeof big, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\r\n"
                                             "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\n"
                                             "Call-ID: reg\r\nCSeq: 2 REGISTER\r\nSubject: ");
        for (int i = 0; i < 60; i++) n += (size_t)snprintf(big + n, sizeof big - n, "%sitem number %d of a long list", i ? ", " : "", i);
        memset(big + n, 'x', 2500);
        n += 2500;
        n += (size_t)snprintf(big + n, sizeof big - n, "\r\nContent-Length: 0\r\n\r\n");
        CHECK_EQ_INT(parse_n(big, n, 0, NULL), SIP_PARSE_OK);
        CHECK(has(SIP_A_LIMIT_HEADER_LENGTH)); /* not a list of addresses: the field */
    }

    sip_limits_default(&l);
    l.max_uri_len = 10;
    CHECK_EQ_INT(parse_n(invite_sdp, strlen(invite_sdp), 0, &l), SIP_PARSE_OK);
    CHECK(has(SIP_A_LIMIT_URI_LENGTH));
    CHECK_EQ_INT(sip_anomaly_class_of(SIP_A_LIMIT_URI_LENGTH), SIP_AC_LIMIT);

    /* every URI is bounded by max_uri_len, also those of the headers a next
     * hop dials or shows (Refer-To, in its compact form too, Referred-By,
     * Diversion, History-Info); a long list of short ones is not flagged */
    {
        static const char *const fields[] = {"Refer-To: <sip:%s@h>", "r: sip:%s@h", "Referred-By: <sip:%s@h>",
                                             "Diversion: <sip:%s@h>;reason=unconditional",
                                             "History-Info: <sip:a@h>;index=1, <sip:%s@h>;index=1.1"};
        char user[1101], field[1300], msg[2048];
        memset(user, 'a', 1100);
        user[1100] = '\0';
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            for (int longer = 0; longer < 2; longer++) {
                snprintf(field, sizeof field, fields[i], longer ? user : "bob");
                int n = snprintf(msg, sizeof msg,
                                 "REFER sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKu\r\nMax-Forwards: 70\r\n"
                                 "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: u\r\nCSeq: 1 REFER\r\n%s\r\n"
                                 "Content-Length: 0\r\n\r\n", field);
                CHECK_EQ_INT(parse_n(msg, (size_t)n, 0, NULL), SIP_PARSE_OK);
                CHECK_MSG(has(SIP_A_LIMIT_URI_LENGTH) == (longer == 1), "%s with a %s URI", fields[i],
                          longer ? "long" : "short");
            }
        }
        int n = snprintf(msg, sizeof msg, "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKv\r\n"
                                         "Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
                                         "Call-ID: v\r\nCSeq: 1 INVITE\r\nHistory-Info: ");
        for (int i = 0; i < 40; i++)
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s<sip:user%d@example.com>;index=1.%d", i ? ", " : "", i, i);
        n += snprintf(msg + n, sizeof msg - (size_t)n, "\r\nContent-Length: 0\r\n\r\n");
        CHECK_EQ_INT(parse_n(msg, (size_t)n, 0, NULL), SIP_PARSE_OK);
        CHECK(!has(SIP_A_LIMIT_URI_LENGTH));
    }

    /* 300 header fields: the index stops at SIP_MAX_HEADERS, nothing overflows */
    size_t cap = 300 * 16 + 512, n = 0;
    char *big = malloc(cap);
    n += (size_t)sprintf(big + n, "OPTIONS sip:x@example.com SIP/2.0\r\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(big + n, "X-H%d: %d\r\n", i, i);
    n += (size_t)sprintf(big + n, "Content-Length: 0\r\n\r\n");
    sip_limits_default(&l);
    l.max_headers = 1000; /* more than the compile-time cap */
    CHECK_EQ_INT(parse_n(big, n, 0, &l), SIP_PARSE_OK);
    CHECK_EQ_INT(M.nhdr, SIP_MAX_HEADERS);
    CHECK(has(SIP_A_LIMIT_HEADER_COUNT));
    CHECK_EQ_INT(M.count[SIP_H_OTHER], 255); /* saturates */
    CHECK_EQ_INT(M.content_length, 0);
    CHECK_EQ_INT(parse_n(big, n, 0, NULL), SIP_PARSE_OK); /* default limit 128 */
    CHECK_EQ_INT(M.nhdr, 128);
    free(big);
}

static void test_stream(void) {
    size_t full = strlen(invite_sdp);
    /* every cut before the end is INCOMPLETE; the whole message is OK */
    unsigned wrong = 0;
    for (size_t cut = 1; cut < full; cut++)
        if (parse_n(invite_sdp, cut, SIP_PARSE_STREAM, NULL) != SIP_PARSE_INCOMPLETE) wrong++;
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(parse_n(invite_sdp, 0, SIP_PARSE_STREAM, NULL), SIP_PARSE_INCOMPLETE);
    CHECK_EQ_INT(parse_n(invite_sdp, full, SIP_PARSE_STREAM, NULL), SIP_PARSE_OK);
    CHECK_EQ_INT(M.msg_len, full);
    /* datagram mode on a cut message: body short of Content-Length */
    CHECK_EQ_INT(parse_n(invite_sdp, full - 10, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTENT_LENGTH_EXCEEDS));
    CHECK_EQ_INT(parse_n(invite_sdp, 60, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_HEADERS_UNTERMINATED));

    /* three messages in one stream buffer */
    static const char two[] =
        "OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 OPTIONS\r\nl: 3\r\n\r\nabc"
        "SIP/2.0 200 OK\r\n" HDRS "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        "\r\n\r\n"
        "BYE sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    size_t len = sizeof two - 1, off = 0;
    char *buf = malloc(len);
    memcpy(buf, two, len);
    sip_msg *m = malloc(sizeof *m);
    const char *seen[5] = {0};
    unsigned k = 0;
    while (off < len && k < 5) {
        sip_parse_status st = sip_parse(m, buf + off, len - off, NULL, SIP_PARSE_STREAM);
        CHECK(st == SIP_PARSE_OK);
        if (st != SIP_PARSE_OK) break;
        seen[k++] = m->is_request ? sip_method_name((sip_method)m->method) : "response";
        if (k == 1) CHECK_EQ_STR(m->body, "abc");
        CHECK(!sip_msg_has_anomaly(m, SIP_A_TRAILING_DATA));
        off += m->msg_len;
    }
    CHECK_EQ_INT(k, 3);
    CHECK_EQ_INT(off, len);
    CHECK(seen[2] && strcmp(seen[2], "BYE") == 0);
    free(m);
    free(buf);
}

static void test_garbage(void) {
    CHECK_EQ_INT(parse_n("", 0, 0, NULL), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.anom[0], SIP_A_NOT_SIP);
    CHECK_EQ_INT(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.nanom, 1);
    CHECK_EQ_INT(M.anom[0], SIP_A_NOT_SIP);
    CHECK_EQ_INT(parse_n("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, SIP_PARSE_STREAM, NULL), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.msg_len, 16); /* skip the line */
    CHECK_EQ_INT(parse("INVITE"), SIP_PARSE_ERROR);
    CHECK_EQ_INT(parse(" INVITE sip:a@b SIP/2.0\r\n\r\n"), SIP_PARSE_ERROR);
    static const unsigned char junk[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01,
                                         0x00, 0x01, 0xfc, 0x03, 0x03, 0xff};
    CHECK_EQ_INT(parse_n((const char *)junk, sizeof junk, 0, NULL), SIP_PARSE_ERROR);
    CHECK_EQ_INT(M.anom[0], SIP_A_NOT_SIP);
    CHECK_EQ_INT(parse_n((const char *)junk, sizeof junk, SIP_PARSE_STREAM, NULL), SIP_PARSE_ERROR);
    /* NUL bytes in values and in the start line */
    static const char nul[] = "OPTIONS sip:a@b SIP/2.0\r\nX-N: a\0b\r\nCall-ID: c\0d\r\n\r\n";
    CHECK_EQ_INT(parse_n(nul, sizeof nul - 1, 0, NULL), SIP_PARSE_OK);
    CHECK_EQ_INT(M.call_id.len, 3);
    CHECK_EQ_INT(M.hdr[0].value.len, 3);
    static const char nul2[] = "OPT\0ONS sip:a@b SIP/2.0\r\n\r\n";
    CHECK_EQ_INT(parse_n(nul2, sizeof nul2 - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_START_LINE_SYNTAX));
    /* header lines without a name or colon */
    CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n folded-first\r\nNoColon\r\n: novalue\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_HEADER_SYNTAX));
    CHECK_EQ_INT(M.nhdr, 0);
    /* every prefix of binary-ish input: no crash, no over-read */
    static const char mix[] =
        "SIP/2.0 200 OK\r\nVia: \"\r\nFrom: <\r\nTo: \"\\\r\nl: 99999999999999999999\r\n\r\n\xff";
    for (size_t cut = 0; cut <= sizeof mix - 1; cut++) {
        parse_n(mix, cut, 0, NULL);
        parse_n(mix, cut, SIP_PARSE_STREAM, NULL);
    }
    CHECK_EQ_INT(parse_n(mix, sizeof mix - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTENT_LENGTH_EXCEEDS));
}

static void test_protocol_checks(void) {
    /* Content-Length: framing notes and conflicts */
    CHECK_EQ_INT(parse("OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                       "\r\nxyz-not-a-message"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_TRAILING_DATA));
    CHECK(has(SIP_A_CONTENT_LENGTH_MISMATCH));
    CHECK_EQ_INT(
        parse("OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 OPTIONS\r\nl: 2\r\nl: 2\r\n\r\nab"),
        SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTENT_LENGTH_MULTIPLE));
    CHECK_EQ_INT(parse("OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 OPTIONS\r\nl: 1 2\r\n\r\nab"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTENT_LENGTH_SYNTAX));
    CHECK_EQ_INT(M.body.len, 2);
    /* CSeq shapes */
    CHECK_EQ_INT(parse("OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: OPTIONS\r\n\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_CSEQ_SYNTAX));
    CHECK_EQ_INT(parse("OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 2147483648 OPTIONS\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_CSEQ_RANGE));
    CHECK_EQ_INT(parse("OPTIONS sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 2147483647 OPTIONS\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_INT(M.cseq, 2147483647);
    /* Max-Forwards missing from an RFC 3261 request */
    CHECK_EQ_INT(
        parse("OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
              "From: <sip:a@b>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK(has(SIP_A_MISSING_REQUIRED_HEADER));
    /* Date, Warning, Expires, Retry-After */
    CHECK_EQ_INT(
        parse(
            "SIP/2.0 503 Busy\r\n" HDRS "CSeq: 1 INVITE\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
            "Warning: 399 h \"x\", 370 h2 \"y\"\r\nRetry-After: 18 (x);duration=2\r\nExpires: 4294967295\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_INT(parse("SIP/2.0 503 Busy\r\n" HDRS "CSeq: 1 INVITE\r\nExpires: 4294967296\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_SCALAR_RANGE));
    CHECK_EQ_INT(
        parse("SIP/2.0 503 Busy\r\n" HDRS "CSeq: 1 INVITE\r\nDate: sat, 13 Nov 2010 23:29:00 GMT\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK(has(SIP_A_DATE_SYNTAX));
    /* ... in every field of them, not the first only (an empty second Warning
     * is the sngrep issue 541 input behind a harmless first one) */
    {
        static const char *const second[][2] = {
            {"Warning: 399 h \"x\"", "Warning:"},
            {"Warning: 399 h \"x\"", "Warning: 3999 h \"y\""},
            {"Expires: 60", "Expires: 4294967296"},
            {"Retry-After: 18", "Retry-After: 99999999999"},
            {"Date: Sat, 13 Nov 2010 23:29:00 GMT", "Date: sat, 13 Nov 2010 23:29:00 GMT"}};
        static const sip_anomaly want[] = {SIP_A_HEADER_EMPTY_VALUE_ITEM, SIP_A_SCALAR_RANGE, SIP_A_SCALAR_RANGE,
                                           SIP_A_SCALAR_RANGE, SIP_A_DATE_SYNTAX};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char msg[512];
            snprintf(msg, sizeof msg, "SIP/2.0 503 Busy\r\n" HDRS "CSeq: 1 INVITE\r\n%s\r\n%s\r\n\r\n", second[i][0],
                     second[i][1]);
            CHECK_EQ_INT(parse(msg), SIP_PARSE_OK);
            CHECK_MSG(has(want[i]), "%s after %s: no %s", second[i][1], second[i][0], sip_anomaly_name(want[i]));
        }
    }
    /* Proxy-Authorization, Require with known tags */
    CHECK_EQ_INT(parse("INVITE sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                       "Proxy-Authorization: Digest username=\"a\"\r\nRequire: 100rel, timer\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes());
    CHECK_EQ_INT(parse("INVITE sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
                       "Proxy-Authorization: Basic YTpi\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_AUTH_SCHEME_UNKNOWN));
    /* Accept that covers SDP through a wildcard */
    CHECK_EQ_INT(parse("INVITE sip:bob@example.net SIP/2.0\r\n" HDRS
                       "CSeq: 1 INVITE\r\nAccept: text/x, application/*\r\n"
                       "Content-Type: application/sdp\r\n\r\n" SDP),
                 SIP_PARSE_OK);
    CHECK(!has(SIP_A_ACCEPT_NO_SDP));
    /* SWS around the '/' of a media type (RFC 3261 25.1: SLASH = SWS "/" SWS):
     * the same type, the SDP still found (and an Accept item alike) */
    CHECK_EQ_INT(parse("INVITE sip:bob@example.net SIP/2.0\r\n" HDRS
                       "CSeq: 1 INVITE\r\nAccept: application /\tSDP;q=1\r\n"
                       "Content-Type: application / sdp ;charset=utf-8\r\n\r\n" SDP),
                 SIP_PARSE_OK);
    CHECK(only_notes());
    {
        fs_str sdp;
        sip_sdp s;
        CHECK(sip_msg_sdp(&M, &sdp) && sip_sdp_parse(sdp, &s) && s.nmedia == 2);
        char buf[SIP_MEDIA_TYPE_MAX];
        CHECK_EQ_STR(sip_media_type(FS_STR_LIT(" multipart /\r\n mixed ; boundary=x"), buf, sizeof buf), "multipart/mixed");
        CHECK_EQ_STR(sip_media_type(FS_STR_LIT("text/plain;x=a / b"), buf, sizeof buf), "text/plain");
    }
    /* bodies of SIP specifications: a phone's RFC 6035 call quality report,
     * KPML, IMS and IM bodies; an unregistered type is still unknown */
    static const char *const body_types[] = {"application/vq-rtcpxr", "application/kpml-request+xml",
                                             "application/kpml-response+xml", "application/pidf-diff+xml",
                                             "application/xcap-diff+xml", "application/3gpp-ims+xml",
                                             "application/simservs+xml", "application/csta+xml",
                                             "message/imdn+xml", "application/x-made-up"};
    for (size_t i = 0; i < sizeof body_types / sizeof body_types[0]; i++) {
        char buf[512];
        snprintf(buf, sizeof buf,
                 "PUBLISH sip:collector@example.com SIP/2.0\r\n" HDRS
                 "CSeq: 1 PUBLISH\r\nEvent: vq-rtcpxr\r\nContent-Type: %s\r\nContent-Length: 2\r\n\r\nab",
                 body_types[i]);
        CHECK_EQ_INT(parse(buf), SIP_PARSE_OK);
        bool unknown = !strcmp(body_types[i], "application/x-made-up");
        CHECK_MSG(has(SIP_A_CONTENT_TYPE_UNKNOWN) == unknown, "Content-Type %s", body_types[i]);
    }
    /* option tags of the IANA registry: RFC 6140's REGISTER of a PBX for
     * its numbers requires "gin" of the registrar and its proxies; an
     * unregistered one is still unknown */
    static const char *const options[] = {"gin", "content-id", "x-made-up"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        char buf[512];
        snprintf(buf, sizeof buf,
                 "REGISTER sip:ssp.example.com SIP/2.0\r\n" HDRS
                 "CSeq: 1 REGISTER\r\nRequire: %s\r\nProxy-Require: %s\r\nContent-Length: 0\r\n\r\n",
                 options[i], options[i]);
        CHECK_EQ_INT(parse(buf), SIP_PARSE_OK);
        CHECK_MSG(has(SIP_A_UNKNOWN_REQUIRE) == !strcmp(options[i], "x-made-up"), "Require: %s", options[i]);
    }
    /* top Via branch: cookie only vs. RFC 2543 style */
    CHECK_EQ_INT(parse("OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=Z9HG4BK\r\n"
                       "Max-Forwards: 1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\n"
                       "CSeq: 1 OPTIONS\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_BRANCH_NO_COOKIE));
    /* IMS / identity headers are indexed by id */
    CHECK_EQ_INT(
        parse("INVITE sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 INVITE\r\n"
              "P-Asserted-Identity: <sip:+4477009000001@ims.example.net>, <tel:+4477009000001>\r\n"
              "p-preferred-identity: <sip:x@ims.example.net>\r\n"
              "P-Access-Network-Info: 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=23415\r\n"
              "P-Visited-Network-ID: \"v\"\r\nP-Charging-Vector: icid-value=1\r\n"
              "P-Charging-Function-Addresses: ccf=1.2.3.4\r\nP-Served-User: <sip:u@h>\r\n"
              "History-Info: <sip:a@b>;index=1\r\ny: abc.def;info=<https://x/c>\r\nPrivacy: id\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK(only_notes());
    static const sip_header_id ims[] = {SIP_H_P_ASSERTED_IDENTITY,
                                        SIP_H_P_PREFERRED_IDENTITY,
                                        SIP_H_P_ACCESS_NETWORK_INFO,
                                        SIP_H_P_VISITED_NETWORK_ID,
                                        SIP_H_P_CHARGING_VECTOR,
                                        SIP_H_P_CHARGING_FUNCTION_ADDRESSES,
                                        SIP_H_P_SERVED_USER,
                                        SIP_H_HISTORY_INFO,
                                        SIP_H_IDENTITY,
                                        SIP_H_PRIVACY};
    for (size_t i = 0; i < sizeof ims / sizeof ims[0]; i++)
        CHECK_MSG(M.first[ims[i]] >= 0, "%s", sip_header_name(ims[i]));
    uint16_t pos = 0;
    unsigned npai = 0;
    const sip_header *h;
    while ((h = sip_header_next(&M, SIP_H_P_ASSERTED_IDENTITY, &pos)) != NULL) {
        fs_str rest = h->value, item;
        while (sip_list_next(&rest, &item))
            npai++;
    }
    CHECK_EQ_INT(npai, 2);
    CHECK_EQ_STR(sip_header_value(&M, SIP_H_PRIVACY), "id");
    CHECK_EQ_INT(sip_header_value(&M, SIP_H_ROUTE).len, 0);
}

/* sip_validate answers plain values through one-pass fast paths; each of
 * these is shaped like the fast path but carries a defect the full checks
 * must still report, next to its clean twin. */
static void test_fast_paths(void) {
    static const struct {
        const char *hdrs;
        sip_anomaly want; /* SIP_A_NONE: must stay clean */
    } cases[] = {
        {"From: \"A\" <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n", SIP_A_NONE},
        {"From: \"A\" <sip:a@example.com>;tag=1;;x\r\nTo: <sip:b@example.com>\r\n",
         SIP_A_HEADER_EMPTY_VALUE_ITEM},
        {"From: \"A\" <sip:a@example.com>;tag=1;\r\nTo: <sip:b@example.com>\r\n",
         SIP_A_HEADER_EMPTY_VALUE_ITEM},
        {"From: A <sip:a@example.com;;lr>;tag=1\r\nTo: <sip:b@example.com>\r\n", SIP_A_NONE},
        /* a parameter name appears once (RFC 3261 7.3.1): two tags name two dialogs */
        {"From: <sip:a@example.com>;tag=1;tag=2\r\nTo: <sip:b@example.com>\r\n", SIP_A_TAG_SYNTAX},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;TAG=x;Tag=y\r\n", SIP_A_TAG_SYNTAX},
        {"From: sip:a@example.com;tag=1;x=\"q\";tag=2\r\nTo: <sip:b@example.com>\r\n", SIP_A_TAG_SYNTAX},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;x=1;y=1\r\n", SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com:99999>\r\n", SIP_A_URI_SYNTAX},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@exa$mple.com>\r\n", SIP_A_URI_SYNTAX},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@[2001:db8::1]:5060>\r\n", SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@[2001:db8::g]>\r\n", SIP_A_URI_SYNTAX},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@>\r\n", SIP_A_URI_SYNTAX},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <isbn:2983792873>\r\n", SIP_A_URI_UNKNOWN_SCHEME},
        /* registered schemes are legal in To/From/Contact: an emergency call's
         * To (RFC 5031 7), a 3xx's alternatives (RFC 3261 8.1.3.4) */
        {"From: <sip:a@example.com>;tag=1\r\nTo: <urn:service:sos>\r\n", SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:b@h>;q=0.7, "
         "<mailto:b@example.com>;q=0.1, <tel:+15555551212>\r\n",
         SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;expires=3600\r\n",
         SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;expires=4294967296\r\n",
         SIP_A_SCALAR_RANGE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;expires=\"12\"\r\n",
         SIP_A_NONE},
        /* ";expires" alone is a generic-param (contact-extension), alone in the
         * field (the fast path) or in a list (the full check) alike */
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;expires\r\n", SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;expires, <sip:b@h>\r\n",
         SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>;expires=, <sip:b@h>\r\n",
         SIP_A_SCALAR_RANGE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>, \"B\" <sip:b@h>\r\n",
         SIP_A_NONE},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nContact: <sip:a@h>, <sip:b@h>,\r\n",
         SIP_A_HEADER_EMPTY_VALUE_ITEM},
        {"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nRoute: <sip:p1;lr>, <sips:p2;lr>\r\n",
         SIP_A_NONE},
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(
            buf, sizeof buf,
            "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKf\r\nMax-Forwards: 70\r\n"
            "Call-ID: f\r\nCSeq: 1 OPTIONS\r\n%s\r\n",
            cases[i].hdrs);
        CHECK_EQ_INT(parse(buf), SIP_PARSE_OK);
        if (cases[i].want == SIP_A_NONE) {
            CHECK_MSG(M.nanom == 0, "case %zu should be clean", i);
            if (M.nanom) dump_anoms(cases[i].hdrs);
        } else {
            CHECK_MSG(has(cases[i].want), "case %zu: %s missing", i, sip_anomaly_name(cases[i].want));
        }
    }
    static const struct {
        const char *via;
        sip_anomaly want;
    } vias[] = {
        {"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKok;rport", SIP_A_NONE},
        {"SIP/2.0/UDP 255.255.255.255:5060;branch=z9hG4bKx", SIP_A_VIA_BROADCAST},
        {"SIP/2.0/UDP h;branch=z9hG4bK", SIP_A_VIA_BRANCH_NO_COOKIE},
        {"SIP/2.0/UDP h;branch=1234", SIP_A_RFC2543_SYNTAX},
        {"SIP/2.0/UDP h", SIP_A_RFC2543_SYNTAX},
        {"SIP/2.0/UDP h;;branch=z9hG4bKx", SIP_A_HEADER_EMPTY_VALUE_ITEM},
        {"SIP/2.0/UDP h;branch=z9hG4bKx;", SIP_A_HEADER_EMPTY_VALUE_ITEM},
        {"SIP/2.0/UDP h:70000;branch=z9hG4bKx", SIP_A_VIA_SYNTAX},
        /* two branches: two transactions to two stacks (RFC 3261 7.3.1) */
        {"SIP/2.0/UDP h;branch=z9hG4bKx;branch=z9hG4bKy", SIP_A_VIA_SYNTAX},
        {"SIP/2.0/UDP h;branch=z9hG4bKx, SIP/2.0/UDP i;BRANCH=z9hG4bKy;x=\"a\";branch=z9hG4bKz", SIP_A_VIA_SYNTAX},
        {"SIP/2.0/UDP h;branch=z9hG4bKx;received=[2001:db8::1]", SIP_A_NONE},
        /* ";received" with no '=' is a via-extension: the plain top Via (the
         * fast path) and a second value (the full check) alike */
        {"SIP/2.0/UDP h;branch=z9hG4bKx;received", SIP_A_NONE},
        {"SIP/2.0/UDP h;branch=z9hG4bKx, SIP/2.0/UDP i;branch=z9hG4bKy;received", SIP_A_NONE},
        {"SIP/2.0/UDP h;branch=z9hG4bKx, SIP/2.0/UDP i;branch=z9hG4bKy;received=", SIP_A_VIA_SYNTAX},
        {"SIP/2.0/UDP h;branch=z9hG4bKx, SIP/2.0/UDP 255.255.255.255", SIP_A_VIA_BROADCAST},
    };
    for (size_t i = 0; i < sizeof vias / sizeof vias[0]; i++) {
        snprintf(buf, sizeof buf,
                 "SIP/2.0 200 OK\r\nVia: %s\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
                 "Call-ID: v\r\nCSeq: 1 OPTIONS\r\n\r\n",
                 vias[i].via);
        CHECK_EQ_INT(parse(buf), SIP_PARSE_OK);
        if (vias[i].want == SIP_A_NONE)
            CHECK_MSG(M.nanom == 0, "via %zu should be clean", i);
        else
            CHECK_MSG(has(vias[i].want), "via %zu: %s missing", i, sip_anomaly_name(vias[i].want));
    }
    /* tag found past a quoted parameter that hides ";tag=" */
    CHECK_EQ_INT(
        parse("OPTIONS sip:x@example.com SIP/2.0\r\nFrom: <sip:a@b>;x=\";tag=evil\";tag=good\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "good");
    CHECK_EQ_INT(
        parse(
            "OPTIONS sip:x@example.com SIP/2.0\r\nFrom: \"a;tag=evil\" <sip:a@b;tag=uri>;Tag = good\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "good");
    /* a ";tag" without '=' is no tag: the tag= after it is, with or without
     * a quoted parameter beside it (which takes the full parameter parser) */
    CHECK_EQ_INT(parse("OPTIONS sip:x@example.com SIP/2.0\r\nFrom: <sip:a@b>;tag;tag=t1\r\n"
                       "To: <sip:c@d>;x=\"a b\";tag;tag=t2\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "t1");
    CHECK_EQ_STR(M.to_tag, "t2");
    CHECK_EQ_INT(parse("OPTIONS sip:x@example.com SIP/2.0\r\nFrom: <sip:a@b>;tag;tag=t1;x=\"y\"\r\n\r\n"), SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "t1");
    CHECK_EQ_INT(
        parse(
            "OPTIONS sip:x@example.com SIP/2.0\r\nv: SIP/2.0/UDP h, SIP/2.0/UDP i;branch=z9hG4bKsecond\r\n\r\n"),
        SIP_PARSE_OK);
    CHECK_EQ_INT(M.via_branch.len, 0); /* the branch of the second value is not the top one */
}

/* Header names: case-insensitive, compact forms, and nothing else matches
 * (the word-at-a-time compare must not fold CR into '-' or '_' into '-'). */
static void test_header_names(void) {
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("cOnTeNt-LeNgTh")), SIP_H_CONTENT_LENGTH);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("P-ASSERTED-IDENTITY")), SIP_H_P_ASSERTED_IDENTITY);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("p-charging-function-addresses")),
                 SIP_H_P_CHARGING_FUNCTION_ADDRESSES);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("Content\rLength")), SIP_H_OTHER);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("Content_Length")), SIP_H_OTHER);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("Content-Lengt\xc8")), SIP_H_OTHER);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("M@x-Forwards")), SIP_H_OTHER);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("Max-Forwards")), SIP_H_MAX_FORWARDS);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("y")), SIP_H_IDENTITY);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("V")), SIP_H_VIA);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_LIT("Q")), SIP_H_OTHER);
    CHECK_EQ_INT(sip_header_lookup(FS_STR_NULL), SIP_H_OTHER);
}

/* Inputs the fuzzer (or review) found, pinned so they stay fixed. */
static void test_regressions(void) {
    /* multipart delimiter as the very last bytes of the body */
    CHECK_EQ_INT(parse("MESSAGE sip:a@example.com SIP/2.0\r\n" HDRS "CSeq: 1 MESSAGE\r\n"
                       "Content-Type: multipart/mixed;boundary=q\r\n\r\n--q"),
                 SIP_PARSE_OK);
    fs_str ph, pb, ct = sip_header_value(&M, SIP_H_CONTENT_TYPE);
    uint32_t pos = 0;
    CHECK(!sip_multipart_next(ct, M.body, &pos, &ph, &pb));
    /* quoted string ending in a backslash at the end of the value */
    sip_nameaddr na;
    CHECK_EQ_INT(sip_nameaddr_check(FS_STR_LIT("\"abc\\"), &na), SIP_A_UNTERMINATED_QUOTE);
    fs_str rest = FS_STR_LIT("\"a\\"), item;
    CHECK(sip_list_next(&rest, &item));
    /* fuzz: SDP m= line without port or proto (NULL slice arithmetic) */
    sip_sdp s;
    CHECK(sip_sdp_parse(FS_STR_LIT("v=0\r\nm=audio\r\no=x\r\nc=IN\r\n"), &s));
    CHECK_EQ_INT(s.nmedia, 1);
    CHECK_EQ_INT(s.media[0].port, 0);
    CHECK_EQ_INT(s.media[0].proto.len, 0);
    CHECK_EQ_INT(s.nconn, 0);
    /* fuzz: lazy parsers on an absent (NULL) value */
    sip_uri u;
    sip_via v;
    CHECK(!sip_uri_parse(FS_STR_NULL, &u));
    CHECK(!sip_via_parse(FS_STR_NULL, &v));
    CHECK(sip_params_have_empty(FS_STR_NULL));
    CHECK(!sip_sdp_parse(FS_STR_NULL, &s));
    uint32_t p0 = 0;
    CHECK(!sip_multipart_next(FS_STR_NULL, FS_STR_NULL, &p0, &ph, &pb));
}

/* Every sip_charset: its nibble tables hold the same set as its class table
 * (the tables are generated; this catches a class edited without them). */
static void test_charsets(void) {
    static const struct {
        const char *name;
        const sip_charset *cs;
    } sets[] = {{"token", &sip_cs_token},         {"uri_plain", &sip_cs_uri_plain},
                {"host", &sip_cs_host},           {"uri_param", &sip_cs_uri_param},
                {"via_value", &sip_cs_via_value}, {"qdtext", &sip_cs_qdtext},
                {"token_sp", &sip_cs_token_sp},   {"v6", &sip_cs_v6},
                {"callid", &sip_cs_callid}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        const sip_charset *cs = sets[i].cs;
        int bad = 0;
        for (unsigned c = 0; c < 256; c++) {
            bool nib = c >= 0x80 ? cs->high : (cs->hi[c >> 4] & cs->lo[c & 15]) != 0;
            bool tab = (cs->table[c] & cs->bits) != 0;
            if (nib != tab) bad++;
        }
        CHECK_MSG(bad == 0, "charset %s: %d octets differ from its class table", sets[i].name, bad);
    }
    /* spot checks of what the sets mean */
    CHECK(sip_cs_token.table['!'] & sip_cs_token.bits);
    CHECK(!(sip_cs_token.table[':'] & sip_cs_token.bits));
    CHECK(!(sip_cs_uri_plain.table['@'] & sip_cs_uri_plain.bits));
    CHECK(!(sip_cs_uri_param.table[';'] & sip_cs_uri_param.bits));
    CHECK(!(sip_cs_host.table['>'] & sip_cs_host.bits));
    CHECK(sip_cs_qdtext.table[0xe9] & sip_cs_qdtext.bits);
    CHECK(!(sip_cs_callid.table['@'] & sip_cs_callid.bits));
    CHECK(!(sip_cs_callid.table[' '] & sip_cs_callid.bits));
    CHECK(sip_cs_callid.table['='] & sip_cs_callid.bits);
    CHECK(!(sip_cs_uri_plain.table['{'] & sip_cs_uri_plain.bits));
    CHECK(sip_cs_uri_plain.table['#'] & sip_cs_uri_plain.bits);
    CHECK(!(sip_cs_uri_param.table['@'] & sip_cs_uri_param.bits));
    for (const char *c = "^`{|}"; *c; c++) CHECK(!(sip_cs_uri_param.table[(unsigned char)*c] & sip_cs_uri_param.bits));
}

/* sip_span (SSSE3 blocks, the overlapping last block, the byte loop) gives
 * the byte loop's answer for every floor/start/end on random text. */
static void test_span(void) {
    static const char alphabet[] = "aZ09-._!~%*+`'@:;=<>\"\\[]/? \t\r\n,\x80\xff\x01";
    uint32_t seed = 12345;
    int bad = 0, runs = 0;
    for (int round = 0; round < 400; round++) {
        size_t len = (size_t)(round % 97);
        char *b = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* mostly token octets so runs get long */
            b[i] = (seed >> 16) % 4 ? "abcXYZ019-._"[(seed >> 8) % 12] : alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        const sip_charset *sets[] = {&sip_cs_token, &sip_cs_host, &sip_cs_via_value, &sip_cs_qdtext};
        for (size_t f = 0; f <= len; f += 7) {
            for (size_t p = f; p <= len; p += 3) {
                for (size_t e = p; e <= len; e += 5) {
                    const sip_charset *cs = sets[(f + p + e) % 4];
                    const char *want = b + p;
                    while (want < b + e && (cs->table[(unsigned char)*want] & cs->bits)) want++;
                    if (sip_span(b + f, b + p, b + e, cs) != want) bad++;
                    runs++;
                }
            }
        }
        free(b);
    }
    CHECK_MSG(bad == 0, "sip_span differs from the byte loop in %d of %d runs", bad, runs);
}

/* sip_parse checks plain From/To/Via/Request-URI values once and tells
 * sip_validate (pre_ok); the tags and branch it takes from that pass must be
 * the ones the general scanners find, and odd values must still take the
 * full checks. */
static void test_precheck(void) {
    static const struct {
        const char *from, *via, *tag, *branch;
        unsigned pre; /* SIP_PRE_FROM / SIP_PRE_VIA bits expected */
    } cases[] = {
        {"<sip:a@b>;tag=1", "SIP/2.0/UDP h;branch=z9hG4bKx", "1", "z9hG4bKx", SIP_PRE_FROM | SIP_PRE_VIA},
        {"<sip:a@b>;tagx=0;tag=2", "SIP/2.0/UDP h;branchx=1;branch=z9hG4bKy", "2", "z9hG4bKy",
         SIP_PRE_FROM | SIP_PRE_VIA},
        /* a name given twice (RFC 3261 7.3.1) takes the full checks (TAG_SYNTAX, VIA_SYNTAX) */
        {"<sip:a@b>;tag;TAG=3", "SIP/2.0/UDP h;branch;BRANCH=z9hG4bKz", "3", "z9hG4bKz", 0},
        {"<sip:a@b>;tag = 4", "SIP/2.0/TCP h:5060;rport;received=192.0.2.1;branch=z9hG4bKw", "4", "z9hG4bKw",
         SIP_PRE_FROM | SIP_PRE_VIA},
        {"\"A;tag=x\" <sip:a@b>;tag=5", "SIP/2.0/UDPX h;branch=z9hG4bKv", "5", "z9hG4bKv", SIP_PRE_FROM | SIP_PRE_VIA},
        {"<sip:a@b>;tag=\"6\"", "SIP/2.0/UDP/x h;branch=z9hG4bKu", "6", "z9hG4bKu", 0},
        {"sip:a@b;tag=7", "SIP/2.0/UDP h ;branch=z9hG4bKt", "7", "z9hG4bKt", 0},
        {"<sip:a@b>;rport;tag=8", "SIP/2.0/UDP h;rportx;branch=z9hG4bKs", "8", "z9hG4bKs", SIP_PRE_FROM | SIP_PRE_VIA},
    };
    char buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(buf, sizeof buf,
                 "OPTIONS sip:x@example.com SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\n"
                 "To: <sip:b@c>\r\nCall-ID: p\r\nCSeq: 1 OPTIONS\r\n\r\n",
                 cases[i].via, cases[i].from);
        CHECK_EQ_INT(parse(buf), SIP_PARSE_OK);
        CHECK_EQ_STR(M.from_tag, cases[i].tag);
        CHECK_EQ_STR(M.via_branch, cases[i].branch);
        CHECK_MSG((M.pre_ok & (SIP_PRE_FROM | SIP_PRE_VIA)) == cases[i].pre, "case %zu: pre_ok %u", i, M.pre_ok);
        CHECK_MSG(M.pre_ok & SIP_PRE_RURI, "case %zu: plain Request-URI not prechecked", i);
    }
    /* a From URI over the limit passed to sip_validate (not to sip_parse) */
    sip_limits lim;
    sip_limits_default(&lim);
    lim.max_uri_len = 8;
    const char *msg = "OPTIONS sip:x@e SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nMax-Forwards: 70\r\n"
                      "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: p\r\nCSeq: 1 OPTIONS\r\n\r\n";
    free(cur);
    cur = malloc(strlen(msg));
    memcpy(cur, msg, strlen(msg));
    CHECK_EQ_INT(sip_parse(&M, cur, strlen(msg), NULL, 0), SIP_PARSE_OK);
    CHECK(M.pre_ok & SIP_PRE_FROM);
    sip_validate(&M, &lim);
    CHECK(has(SIP_A_LIMIT_URI_LENGTH));
    /* a Request-URI with whitespace is not prechecked and still flagged */
    CHECK_EQ_INT(parse("OPTIONS sip:a b@c SIP/2.0\r\n\r\n"), SIP_PARSE_OK);
    CHECK(!(M.pre_ok & SIP_PRE_RURI));
    CHECK(has(SIP_A_RURI_SYNTAX));
}

/* sip_lower_eq_lit (word at a time) answers exactly as sip_lower_eq (byte
 * at a time) for every literal the parser uses it with: each octet of a
 * case-varied copy replaced by all 256 values. The copy sits in a heap block
 * of exactly n bytes, so ASan catches a read past it. */
static void test_lower_eq_lit(void) {
    static const char *const lits[] = {"a", "lr", "sip", "tag", "rport", "branch", "expires", "z9hg4bk",
                                       "received", "multipart/", "application/sdp", "application/vnd.3gpp",
                                       "*/*", "digest", "bearer", "application/*", "application/vnd.",
                                       "application/vnd.etsi", "application/vnd.oma"};
    unsigned mismatches = 0, matches = 0;
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k]);
        char *buf = malloc(n);
        for (size_t i = 0; i < n; i++) {
            for (unsigned b = 0; b < 256; b++) {
                for (size_t j = 0; j < n; j++) { /* alternate case so folding is exercised */
                    char c = lits[k][j];
                    buf[j] = (char)(((j + k) & 1) && c >= 'a' && c <= 'z' ? c - 32 : c);
                }
                buf[i] = (char)b;
                bool want = sip_lower_eq(buf, lits[k], n), got = sip_lower_eq_lit(buf, lits[k], n);
                if (want != got) mismatches++;
                if (got) matches++;
            }
        }
        free(buf);
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(matches > 0); /* the unchanged and case-flipped octets must match */
}

/* sip_peek_call_id: the Call-ID sip_parse finds, without parsing. */
static bool peek_is(const char *text, const char *want) {
    fs_str cid;
    bool got = sip_peek_call_id(text, strlen(text), &cid);
    if (!want) return !got;
    return got && cid.len == strlen(want) && memcmp(cid.p, want, cid.len) == 0;
}

static void test_peek_call_id(void) {
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                  "Call-ID:  a84b4c76e66710@pc33  \r\nCSeq: 1 INVITE\r\n\r\n", "a84b4c76e66710@pc33"));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\ni:short\r\n\r\n", "short"));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\ncall-ID\t: lf-only\n\n", "lf-only"));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nSubject: x\r\n i: not-a-header\r\n\r\n", NULL));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nCall-ID: fol\r\n ded\r\n\r\n", NULL)); /* folded: let sip_parse say */
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\nCall-ID: in-the-body\r\n", NULL));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nCall-ID:   \r\n\r\n", NULL));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0", NULL));
    /* CRLFs before the start line are skipped, as sip_parse does (fuzz_sip) */
    CHECK(peek_is("\r\nCall-ID: start-line\r\nCall-ID: header\r\n\r\n", "header"));
    /* a TCP segment may stop inside the value, or before its continuation */
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: a84b4c76", NULL));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nCall-ID: a84b4c76e66710@pc33\r\n", NULL));
    CHECK(peek_is("INVITE sip:b@x SIP/2.0\r\nCall-ID: a84b4c76e66710@pc33\r\nCS", "a84b4c76e66710@pc33"));
}

/* ';'s in an unquoted display name before the '<' are read once, not once
 * per ';' (32,000 of them took 300 ms a message: quadratic). */
static void test_display_name_semicolons(void) {
    enum { N = 32000 };
    static char msg[2 * N + 512];
    size_t n = (size_t)snprintf(msg, sizeof msg, "OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: ");
    memset(msg + n, 'a', N), n += N;
    memset(msg + n, ';', N), n += N;
    n += (size_t)snprintf(msg + n, sizeof msg - n, "<sip:x@example.com>;tag=1\r\nTo: <sip:b@x>\r\n"
                          "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    clock_t t0 = clock();
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(parse_n(msg, n, 0, NULL), SIP_PARSE_OK);
        CHECK_EQ_STR(M.from_tag, "1");
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK_MSG(secs < 1.0, "20 messages with %d ';' in a display name took %.2f s", N, secs);
}

/* Every header the parser or the validator looks into, filled with 60,000
 * octets of one shape, parses in time linear in its size: the slowest of
 * the 468 messages must take under 50 ms (a linear pass takes well under
 * 1 ms; the quadratic display-name scan above took 300). */
static void test_linear_shapes(void) {
    static const char *const names[] = {"From", "To", "Via", "Contact", "Route", "Record-Route", "Call-ID",
                                        "CSeq", "Content-Type", "Authorization", "Proxy-Authorization",
                                        "WWW-Authenticate", "P-Asserted-Identity"};
    static const char fill[] = ";,<>\"\\ :@=[%";
    enum { N = 60000 };
    static char msg[N + 1024], value[N + 64];
    double worst = 0;
    const char *worst_name = "";
    for (size_t h = 0; h < sizeof names / sizeof *names; h++)
        for (size_t c = 0; fill[c]; c++)
            for (int shape = 0; shape < 3; shape++) {
                for (size_t i = 0; i < N; i++) /* c c c...; a c a c...; a a ... c c ... */
                    value[i] = shape == 0 ? fill[c] : shape == 1 ? (i & 1 ? fill[c] : 'a')
                                                                 : (i < N / 2 ? 'a' : fill[c]);
                snprintf(value + N, 64, "<sip:x@example.com>;tag=1");
                int n = snprintf(msg, sizeof msg,
                                 "INVITE sip:b@x SIP/2.0\r\n%s: %s\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                 "From: <sip:a@x>;tag=f\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
                                 "Content-Length: 0\r\n\r\n", names[h], value); /* the first of its kind */
                clock_t t0 = clock();
                parse_n(msg, (size_t)n, 0, NULL);
                double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
                if (secs > worst) worst = secs, worst_name = names[h];
            }
    CHECK_MSG(worst < 0.05, "a 60,000-octet %s header took %.1f ms", worst_name, worst * 1e3);
    fprintf(stderr, "linear shapes: slowest %.2f ms (%s)\n", worst * 1e3, worst_name);

    /* a multipart body made of the boundary's first octet, and one of lines
     * one octet short of "--" boundary: a delimiter is looked for at line
     * starts only, not compared at every octet (200 octets each time) */
    static char bnd[201];
    memset(bnd, 'a', 200);
    for (int shape = 0; shape < 2; shape++) {
        int n = snprintf(msg, sizeof msg,
                         "MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                         "From: <sip:a@x>;tag=f\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\n"
                         "Content-Type: multipart/mixed;boundary=%s\r\n\r\n", bnd);
        for (int i = 0; i < N; i++) /* aaaa...; "--" 199 a's LF, repeated */
            msg[n + i] = shape == 0 ? 'a' : i % 202 < 2 ? '-' : i % 202 == 201 ? '\n' : 'a';
        clock_t t0 = clock();
        for (int k = 0; k < 20; k++) {
            CHECK_EQ_INT(parse_n(msg, (size_t)n + N, 0, NULL), SIP_PARSE_OK);
            fs_str sdp;
            CHECK(!sip_msg_sdp(&M, &sdp));
            CHECK(has(SIP_A_MULTIPART_SYNTAX));
        }
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        CHECK_MSG(secs < 0.04, "20 60,000-octet multipart bodies (shape %d) took %.1f ms", shape, secs * 1e3);
    }
}

/* A message that collects many protocol codes and notes still carries a
 * later malformed or limit code: before, only the first 16 distinct codes
 * were kept and the oversized Refer-To checked last (SIP-MAL-002) was lost
 * behind 16 others. */
static void test_anomaly_room(void) {
    static char uri[1200], msg[2048];
    memset(uri, 'a', 1100);
    snprintf(msg, sizeof msg,
             "REGISTER foo:bar SIP/2.0\n"                                   /* BARE_LF, RURI_UNKNOWN_SCHEME */
             "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK\r\n"           /* VIA_BROADCAST, _NO_COOKIE */
             "Max-Forwards: 0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <xyz:b@h>\r\n" /* MAX_FORWARDS_ZERO, URI_UNKNOWN_SCHEME */
             "Contact: *\r\nExpires: Thu, 01 Dec 1994 16:00:00 GMT\r\n"      /* CONTACT_WILDCARD, RFC2543_SYNTAX */
             "CSeq: 1 REGISTER\r\nContent-Type: text/x-a\r\nContent-Type: text/x-a\r\n" /* no Call-ID: MISSING */
             "Require: frobnicate\r\nAuthorization: NTLM abc\r\nRefer-To: <sip:%s@h>\r\n"
             "Content-Length: 2\r\nContent-Length: 2\r\n\r\nabXYZ", /* CL_MULTIPLE, TRAILING_DATA, CL_MISMATCH */
             uri);
    CHECK_EQ_INT(parse(msg), SIP_PARSE_OK);
    CHECK_MSG(M.nanom >= 17, "%u codes kept", M.nanom);
    CHECK_EQ_INT(M.nanom, M.anom_total);
    CHECK(has(SIP_A_AUTH_SCHEME_UNKNOWN));
    CHECK(has(SIP_A_LIMIT_URI_LENGTH));
}

/* The parser audit's cases (wrong extraction, missing MALFORMED codes) and
 * the leniencies kept on purpose (docs/rules.md, SIP-MAL-001). */
static char abuf[1024];
static sip_parse_status audit(const char *ruri, const char *via, const char *from, const char *to,
                              const char *callid, const char *extra) {
    snprintf(abuf, sizeof abuf,
             "OPTIONS %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
             "CSeq: 1 OPTIONS\r\n%sContent-Length: 0\r\n\r\n",
             ruri, via, from, to, callid, extra);
    return parse(abuf);
}
#define A_RURI "sip:bob@example.net"
#define A_VIA "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc1"
#define A_FROM "<sip:alice@example.com>;tag=ft1"
#define A_TO "<sip:bob@example.net>"
#define A_CID "cid1@example.com"

static void test_audit(void) {
    /* 1: the tag is the header parameter after the name-addr, not a ";tag="
     * inside a broken unquoted display name */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, "A;tag=evil <sip:bob@x>;tag=good", A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.to_tag, "good");
    CHECK(has(SIP_A_DISPLAY_NAME_SYNTAX));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "B;tag=evil <sip:a@x>;x=1;tag=good2", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "good2");
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "sip:a@x;tag=t<1", A_TO, A_CID, ""), SIP_PARSE_OK); /* bare addr-spec */
    CHECK_EQ_STR(M.from_tag, "t<1");
    CHECK(has(SIP_A_TAG_SYNTAX));
    /* 2: two name-addrs in From: the first tag, and both codes */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:a@x>;tag=1, <sip:b@x>", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "1");
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    CHECK(has(SIP_A_TAG_SYNTAX));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, "<sip:a@x>;tag=2;x=y, <sip:b@x>", A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.to_tag, "2");
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    /* a second value right after the first one's '>' or bare addr-spec: its tag is
     * not the first one's (the INVITE read as in-dialog skipped the call rules) */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, "<sip:+882161234567@example.com>, <sip:x@example.com>;tag=9",
                       A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_INT(M.to_tag.len, 0);
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:a@x>, <sip:b@x>;tag=2", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_INT(M.from_tag.len, 0);
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "sip:a@x, sip:b@x;tag=2", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_INT(M.from_tag.len, 0);
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "\"A, B\" <sip:a@x> ;tag=4", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.from_tag, "4");
    CHECK(!has(SIP_A_MULTIPLE_SINGLE_VALUE));
    /* Expires, Date and Session-Expires hold one value: two Expires (0 and
     * 3600) remove a binding at one element and keep it at the next */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, A_CID, "Expires: 0\r\nExpires: 3600\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, A_CID, "Session-Expires: 1800\r\nx: 1800\r\n"), SIP_PARSE_OK);
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE)); /* x: the compact form of Session-Expires */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, A_CID,
                       "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\nDate: Sat, 13 Nov 2010 23:29:01 GMT\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_MULTIPLE_SINGLE_VALUE));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, A_CID, "Expires: 3600\r\nSession-Expires: 1800\r\n"),
                 SIP_PARSE_OK);
    CHECK(!has(SIP_A_MULTIPLE_SINGLE_VALUE));
    /* a ',' in a quoted parameter or in the user part is no list */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:a,b@x>;tag=3;p=\"u,v\"", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK(only_notes());
    /* 3: tags that are not tokens */
    const char *bad_tags[] = {"<sip:a@x>;tag=a<b", "<sip:a@x>;tag=", "<sip:a@x>;tag=\"q\"",
                              "<sip:a@x>;tag=a>b", "<sip:a@x>;tag=a\"b"};
    for (size_t i = 0; i < sizeof bad_tags / sizeof bad_tags[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, A_VIA, bad_tags[i], A_TO, A_CID, ""), SIP_PARSE_OK);
        CHECK_MSG(has(SIP_A_TAG_SYNTAX), "tag %s not flagged", bad_tags[i]);
    }
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, "<sip:b@x>;tag=a<b", A_CID, ""), SIP_PARSE_OK);
    CHECK(has(SIP_A_TAG_SYNTAX));
    /* leniency: ";tag" without '=' (as ";branch": the fast path takes it) and other printable octets */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:a@x>;tag;x=\"1\"", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK(!has(SIP_A_TAG_SYNTAX));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:a@x>;tag=a/b=c@d:e", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK(!has(SIP_A_TAG_SYNTAX));
    CHECK_EQ_STR(M.from_tag, "a/b=c@d:e");
    /* 4, 5: Call-ID empty (present, unlike an absent one), whitespace, CTL, two '@' */
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, "", ""), SIP_PARSE_OK);
    CHECK(has(SIP_A_CALL_ID_SYNTAX));
    CHECK(!has(SIP_A_MISSING_REQUIRED_HEADER));
    CHECK_EQ_INT(M.call_id.len, 0);
    const char *bad_cids[] = {"abc\r\n def", "abc def", "a\tb", "a@b@c", "@@", "abc\x01"};
    for (size_t i = 0; i < sizeof bad_cids / sizeof bad_cids[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, bad_cids[i], ""), SIP_PARSE_OK);
        CHECK_MSG(has(SIP_A_CALL_ID_SYNTAX), "Call-ID case %zu not flagged", i);
    }
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, "abc\r\n def", ""), SIP_PARSE_OK);
    CHECK(!has(SIP_A_CONTROL_CHARACTER)); /* folding is not a CTL */
    /* leniency: base64 Call-IDs ('=', '/', '+') and other VCHARs; a 64-octet one */
    const char *ok_cids[] = {"YWJjZGVm+/xyz==@10.0.0.1", "a#b$c&d|e^f", "x@", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    for (size_t i = 0; i < sizeof ok_cids / sizeof ok_cids[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, ok_cids[i], ""), SIP_PARSE_OK);
        CHECK_MSG(only_notes(), "Call-ID %s flagged", ok_cids[i]);
        CHECK_EQ_STR(M.call_id, ok_cids[i]);
    }
    /* 6: Via sent-by, branch, received, rport, ttl, maddr */
    const char *bad_vias[] = {"SIP/2.0/UDP ho!st;branch=z9hG4bKa",
                              "SIP/2.0/UDP h;branch=z9hG4bK<x>",
                              "SIP/2.0/UDP h;branch=z9hG4bKa;received=not-an-ip",
                              "SIP/2.0/UDP h;branch=z9hG4bKa;rport=abc",
                              "SIP/2.0/UDP h;branch=z9hG4bKa;rport=70000",
                              "SIP/2.0/UDP h;branch=z9hG4bKa;ttl=999",
                              "SIP/2.0/UDP h;branch=z9hG4bKa;maddr=bad!host",
                              "SIP/2.0/UDP -bad-;branch=z9hG4bKa",
                              "SIP/2.0/UDP h;branch=",
                              "SIP/2.0/UDP h;branch=z9hG4bK:a"};
    for (size_t i = 0; i < sizeof bad_vias / sizeof bad_vias[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, bad_vias[i], A_FROM, A_TO, A_CID, ""), SIP_PARSE_OK);
        CHECK_MSG(has(SIP_A_VIA_SYNTAX), "Via %s not flagged", bad_vias[i]);
    }
    CHECK_EQ_INT(audit(A_RURI, "SIP/2.0/UDP ho!st;branch=z9hG4bK<x>", A_FROM, A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.via_branch, "z9hG4bK<x>"); /* still extracted */
    const char *ok_vias[] = {"SIP/2.0/UDP h_1.example.com;branch=z9hG4bKa;rport;received=192.0.2.1",
                             "SIP/2.0/UDP h;branch=z9hG4bKa;rport=5060;received=2001:db8::1",
                             "SIP/2.0/UDP h;branch=z9hG4bKa;received=[2001:db8::1]",
                             "SIP/2.0/UDP h.;branch=z9hG4bKa;ttl=16;maddr=224.0.0.1",
                             "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKa;maddr=[2001:db8::2]"};
    for (size_t i = 0; i < sizeof ok_vias / sizeof ok_vias[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, ok_vias[i], A_FROM, A_TO, A_CID, ""), SIP_PARSE_OK);
        CHECK_MSG(only_notes(), "Via %s flagged", ok_vias[i]);
    }
    /* 7, 8: Request-URI and header URI userinfo, escapes, empty user, '@' in params, host edges */
    const char *bad_ruris[] = {"sip:*21#{x}@example.net", "sip:a|b@x", "sip:a^b@x", "sip:a`b@x", "sip:a[b]@x",
                               "sip:a\\b@x", "sip:@example.net", "sip::pw@x", "sip:b%zzob@x", "sip:b%4@x",
                               "sip:bob@x;p=a@b", "sip:bob@-bad-", "sip:bob@.x", "sip:bob@x..", "sip:bob@x-",
                               /* raw octets no URI may hold, in a parameter of a plain sip: URI
                                * (the fast path's class let them pass; "SIP:" took the full check) */
                               "sip:bob@x;p=a^b", "sip:bob@x;p=a`b", "sip:bob@x;p={b}", "sip:bob@x;p=a|b"};
    for (size_t i = 0; i < sizeof bad_ruris / sizeof bad_ruris[0]; i++) {
        CHECK_EQ_INT(audit(bad_ruris[i], A_VIA, A_FROM, A_TO, A_CID, ""), SIP_PARSE_OK);
        CHECK_MSG(has(SIP_A_RURI_SYNTAX), "Request-URI %s not flagged", bad_ruris[i]);
    }
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:b%zzob@my_host.>;tag=1", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK(has(SIP_A_URI_SYNTAX));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, "<sip:@example.net>", A_CID, ""), SIP_PARSE_OK);
    CHECK(has(SIP_A_URI_SYNTAX));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:a@example.com;x=a|b>;tag=1", A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK(has(SIP_A_URI_SYNTAX));
    CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, "<sip:b@example.com;x={b}>", A_CID, ""), SIP_PARSE_OK);
    CHECK(has(SIP_A_URI_SYNTAX));
    /* leniencies: feature codes with '*' '#', '_' in hosts, a trailing '.', escapes, ';' '?' '/' in users */
    const char *ok_ruris[] = {"sip:*21#@pbx.example.com", "sip:#31#0123@x", "sip:bob@my_host.example.com",
                              "sip:bob@example.com.", "sip:%2B4930123@x", "sip:a;b=c?d/e@x;user=phone",
                              "sip:user:pa:ss@x", "sip:[2001:db8::1]:5060;transport=tcp"};
    for (size_t i = 0; i < sizeof ok_ruris / sizeof ok_ruris[0]; i++) {
        CHECK_EQ_INT(audit(ok_ruris[i], A_VIA, A_FROM, A_TO, A_CID, ""), SIP_PARSE_OK);
        if (!only_notes()) dump_anoms(ok_ruris[i]);
        CHECK_MSG(only_notes(), "Request-URI %s flagged", ok_ruris[i]);
    }
    CHECK_EQ_INT(audit(A_RURI, A_VIA, "<sip:*21#@pbx>;tag=1", "<sip:%2Bbob@h_1>", A_CID, ""), SIP_PARSE_OK);
    CHECK(only_notes());
    /* 9: status line without the SP before an (empty) Reason-Phrase, CTL in it */
    CHECK_EQ_INT(parse("SIP/2.0 200\r\nVia: " A_VIA "\r\nFrom: " A_FROM "\r\nTo: <sip:b@x>;tag=x\r\n"
                       "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_START_LINE_SYNTAX));
    CHECK_EQ_INT(M.status, 200);
    CHECK_EQ_INT(parse("SIP/2.0 200 O\x1b[2JK\r\nVia: " A_VIA "\r\nFrom: " A_FROM "\r\nTo: <sip:b@x>;tag=x\r\n"
                       "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_START_LINE_SYNTAX));
    CHECK_EQ_INT(parse("SIP/2.0 200 \r\nVia: " A_VIA "\r\nFrom: " A_FROM "\r\nTo: <sip:b@x>;tag=x\r\n"
                       "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes()); /* empty Reason-Phrase after the SP (RFC 4475 3.1.1.13) */
    CHECK_EQ_INT(parse("SIP/2.0 200 D\xc3\xa9j\xc3\xa0\tvu\r\nVia: " A_VIA "\r\nFrom: " A_FROM
                       "\r\nTo: <sip:b@x>;tag=x\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
                 SIP_PARSE_OK);
    CHECK(only_notes()); /* UTF-8 and HTAB are reason text */
    /* 10: raw CTL in a header value (NUL needs parse_n), anywhere in a long message */
    static const char nul_msg[] = "OPTIONS sip:b@x SIP/2.0\r\nVia: " A_VIA "\r\nMax-Forwards: 70\r\nFrom: " A_FROM
                                  "\r\nTo: " A_TO "\r\nCall-ID: " A_CID "\r\nCSeq: 1 OPTIONS\r\nSubject: a\0b\r\n"
                                  "Content-Length: 0\r\n\r\n";
    CHECK_EQ_INT(parse_n(nul_msg, sizeof nul_msg - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTROL_CHARACTER));
    static const char nul_esc_msg[] = "OPTIONS sip:b@x SIP/2.0\r\nVia: " A_VIA "\r\nMax-Forwards: 70\r\nFrom: \"x\\\\\0\" "
                                      "<sip:a@example.com>;tag=1\r\nTo: " A_TO "\r\nCall-ID: " A_CID
                                      "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    CHECK_EQ_INT(parse_n(nul_esc_msg, sizeof nul_esc_msg - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(has(SIP_A_CONTROL_CHARACTER)); /* "\\<NUL>": an escaped backslash, then a raw NUL */
    /* (DEL and a CR alone are not looked for on this path: docs/rules.md) */
    const char *ctls[] = {"X-A: \x01\r\n", "X-A: a\x1b[2Jb\r\n", "X-A: a\x0b\r\n",
                          "X-Long: 0123456789012345678901234567890123456789012345678901234567890123\x02\r\n",
                          /* the backslash before the CTL is itself escaped: the CTL is raw */
                          "X-A: \"a\\\\\x01\"\r\n", "X-A: \"\\\\\\\\\x1b\"\r\n",
                          /* outside a quoted string (or a comment) a backslash escapes nothing */
                          "X-A: a\\\x01\r\n", "Contact: <sip:c@example.com>;x=y\\\x1bz\r\n",
                          "User-Agent: x/1 \\\x07\r\n", "User-Agent: x/1 (\") \\\x07\r\n", "X-A: (\\\x01)\r\n"};
    for (size_t i = 0; i < sizeof ctls / sizeof ctls[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, A_CID, ctls[i]), SIP_PARSE_OK);
        CHECK_MSG(has(SIP_A_CONTROL_CHARACTER), "CTL case %zu not flagged", i);
    }
    /* not CTLs: HTAB, folding, an escaped CTL in a quoted string, CTLs in the body */
    const char *no_ctls[] = {"X-A: a\tb\r\n", "X-A: a\r\n\tb\r\n", "X-A: \"a\\\x01\"\r\n", "X-A: a\r\n b\r\n",
                             "X-A: \"a\\\\\\\x01\"\r\n",
                             /* a quoted-pair in a User-Agent / Server comment (RFC 3261 25.1) */
                             "User-Agent: x/1 (c\\\x01)\r\n", "Server: s (a (b\\\x01) \")\r\n"};
    for (size_t i = 0; i < sizeof no_ctls / sizeof no_ctls[0]; i++) {
        CHECK_EQ_INT(audit(A_RURI, A_VIA, A_FROM, A_TO, A_CID, no_ctls[i]), SIP_PARSE_OK);
        CHECK_MSG(!has(SIP_A_CONTROL_CHARACTER), "no-CTL case %zu flagged", i);
    }
    static const char body_msg[] = "MESSAGE sip:b@x SIP/2.0\r\nVia: " A_VIA "\r\nMax-Forwards: 70\r\nFrom: " A_FROM
                                   "\r\nTo: " A_TO "\r\nCall-ID: " A_CID "\r\nCSeq: 1 MESSAGE\r\n"
                                   "Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n\0\1\2\3";
    CHECK_EQ_INT(parse_n(body_msg, sizeof body_msg - 1, 0, NULL), SIP_PARSE_OK);
    CHECK(!has(SIP_A_CONTROL_CHARACTER));
    /* 11: an empty (or broken) Via item does not hide the Via values after it */
    CHECK_EQ_INT(audit(A_RURI, ", SIP/2.0/UDP a.example.com;branch=z9hG4bKa", A_FROM, A_TO, A_CID, ""),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_HEADER_EMPTY_VALUE_ITEM));
    CHECK_EQ_STR(M.via_branch, "z9hG4bKa");
    sip_via_iter it = {0};
    sip_via v;
    bool bad = false;
    CHECK(sip_via_next(&M, &it, &v, &bad));
    CHECK(bad);
    CHECK_EQ_STR(v.host, "a.example.com");
    CHECK_EQ_STR(v.branch, "z9hG4bKa");
    CHECK(!sip_via_next(&M, &it, &v, &bad));
    CHECK_EQ_INT(audit(A_RURI, "SIP/2.0/UDP a;branch=z9hG4bK1, garbage, SIP/2.0/TCP b;branch=z9hG4bK2", A_FROM,
                       A_TO, A_CID, "Via: ,, SIP/2.0/TLS c;branch=z9hG4bK3\r\n"),
                 SIP_PARSE_OK);
    CHECK(has(SIP_A_VIA_SYNTAX));
    memset(&it, 0, sizeof it);
    const char *hosts[] = {"a", "b", "c"};
    unsigned n = 0;
    while (sip_via_next(&M, &it, &v, &bad)) {
        if (n < 3) CHECK_EQ_STR(v.host, hosts[n]);
        n++;
    }
    CHECK_EQ_INT(n, 3);
    /* the quoted-parameter path of the top branch skips empty items too */
    CHECK_EQ_INT(audit(A_RURI, " , SIP/2.0/UDP a;x=\"q\";branch=z9hG4bKq", A_FROM, A_TO, A_CID, ""), SIP_PARSE_OK);
    CHECK_EQ_STR(M.via_branch, "z9hG4bKq");
}

/* RFC 5118 (IPv6 torture tests) and RFC 5954 (IPv6address as in RFC 3986):
 * an IPv6 reference is eight 16-bit groups or fewer with one "::", and an
 * IPv4 tail counts two. Before, only its octets were looked at, so
 * "[2001:db8:::192.0.2.1]" (RFC 5118 4.10), nine groups, two "::" or an
 * IPv4 address in brackets passed as valid in every place a host goes. */
static void test_rfc5118_ipv6(void) {
    static const struct {
        const char *ruri, *via, *contact;
        sip_anomaly want; /* SIP_A_NONE: must stay clean */
    } cases[] = {
        /* 4.1, 4.3, 4.4: valid references, port ambiguous or not */
        {"sip:[2001:db8::10]", "[2001:db8::9:1]", "<sip:caller@[2001:db8::1]>", SIP_A_NONE},
        {"sip:[2001:db8::10:5070]", "[2001:db8::9:1]", "<sip:caller@[2001:db8::1]>", SIP_A_NONE},
        {"sip:[2001:db8::10]:5070", "[2001:db8::9:1]:6050", "<sip:caller@[2001:db8::1]:5060>", SIP_A_NONE},
        /* 4.5: received with and without the brackets */
        {"sip:[2001:db8::10]", "[2001:db8::9:1]:6050;received=[2001:db8::9:255]", "<sip:c@h>", SIP_A_NONE},
        {"sip:[2001:db8::10]", "[2001:db8::9:1]:6050;received=2001:db8::9:255", "<sip:c@h>", SIP_A_NONE},
        {"sip:[2001:db8::10]", "h;received=::ffff:192.0.2.2", "<sip:c@h>", SIP_A_NONE},
        /* 4.10: the two-colon form is the right one */
        {"sip:user@[2001:db8::192.0.2.1]", "h", "<sip:c@[::ffff:192.0.2.1]>", SIP_A_NONE},
        {"sip:[1:2:3:4:5:6:7:8]", "[::1]", "<sip:c@[1:2:3:4:5:6:7::]>", SIP_A_NONE},
        {"sip:user@[2001:db8:::192.0.2.1]", "h", "<sip:c@h>", SIP_A_RURI_SYNTAX},
        {"sip:[1:2:3:4:5:6:7:8:9]", "h", "<sip:c@h>", SIP_A_RURI_SYNTAX},
        {"sip:[192.0.2.1]", "h", "<sip:c@h>", SIP_A_RURI_SYNTAX},
        {"sip:[2001:db8::1]", "h", "<sip:c@[2001::db8::1]>", SIP_A_URI_SYNTAX},
        {"sip:[2001:db8::1]", "h", "<sip:c@[12345::1]>", SIP_A_URI_SYNTAX},
        {"sip:[2001:db8::1]", "h", "<sip:c@[:1:2]>", SIP_A_URI_SYNTAX},
        {"sip:[2001:db8::1]", "h", "<sip:c@[1:2:3:4:5:6:7]>", SIP_A_URI_SYNTAX},
        {"sip:[2001:db8::1]", "h", "<sip:c@[::1.2.3.256]>", SIP_A_URI_SYNTAX},
        {"sip:[2001:db8::1]", "[2001:db8:::9:1]", "<sip:c@h>", SIP_A_VIA_SYNTAX},
        {"sip:[2001:db8::1]", "[1.2.3.4]:5060", "<sip:c@h>", SIP_A_VIA_SYNTAX},
        {"sip:[2001:db8::1]", "h;received=2001:db8:::1", "<sip:c@h>", SIP_A_VIA_SYNTAX},
        {"sip:[2001:db8::1]", "h;received=[1::2::3]", "<sip:c@h>", SIP_A_VIA_SYNTAX},
        {"sip:[2001:db8::1]", "h;maddr=[2001:db8:::1]", "<sip:c@h>", SIP_A_VIA_SYNTAX},
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(buf, sizeof buf,
                 "OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKas3-111\r\nMax-Forwards: 70\r\n"
                 "From: sip:user@example.com;tag=81x2\r\nTo: sip:user@example.com\r\n"
                 "Call-ID: SSG9559905523997077@hlau_4100\r\nCSeq: 98176 OPTIONS\r\nContact: \"Caller\" %s\r\n"
                 "Content-Length: 0\r\n\r\n",
                 cases[i].ruri, cases[i].via, cases[i].contact);
        CHECK_EQ_INT(parse(buf), SIP_PARSE_OK);
        if (cases[i].want == SIP_A_NONE) {
            CHECK_MSG(M.nanom == 0, "case %zu should be clean", i);
            if (M.nanom) dump_anoms(cases[i].ruri);
        } else {
            CHECK_MSG(has(cases[i].want), "case %zu: %s missing", i, sip_anomaly_name(cases[i].want));
        }
    }
}

int main(void) {
    test_basic_invite();
    test_response();
    test_folding_compact_case();
    test_lists_and_quotes();
    test_uris();
    test_via_chain();
    test_multipart();
    test_bare_lf_and_keepalive();
    test_limits();
    test_stream();
    test_garbage();
    test_protocol_checks();
    test_fast_paths();
    test_header_names();
    test_regressions();
    test_charsets();
    test_span();
    test_precheck();
    test_lower_eq_lit();
    test_peek_call_id();
    test_anomaly_room();
    test_audit();
    test_display_name_semicolons();
    test_linear_shapes();
    test_rfc5118_ipv6();
    free(cur);
    return check_done("test_sip");
}
