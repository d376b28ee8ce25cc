/*
 * test_xc_jws.c -- keys, the trust registry and the signed form (xc_keys.c,
 * xc_jws.c).
 *
 * Every refusal of xc_jws_verify is provoked and must come back with its own
 * code: tampered payload or header, wrong/unknown kid, revoked member, issuer
 * not the key owner, alg none/HS256/RS256, typ missing, extra header
 * parameters, bad base64url, wrong segment count, oversized, non-UTF-8 and
 * duplicate keys in the payload. Signatures are cross-checked with OpenSSL's
 * Ed25519 (a second implementation) so the JWS is standard EdDSA, not
 * something only libsodium agrees with.
 */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "json_secret_scan.h"
#include "exchange/xc.h"


static char *event_text;
static size_t event_len;
static xc_keypair ka, kb, kc, kd; /* a, b, c(revoked) in the registry; d not */
static xc_registry reg;

static char *b64(const void *p, size_t n) {
    char *s = malloc(XC_B64_LEN(n) + 1);
    xc_b64_encode(p, n, s, XC_B64_LEN(n) + 1);
    return s;
}

/* Build a compact JWS from a raw header, payload and key (signing the
 * segments as they are); sig_override replaces the signature segment. */
static char *forge(const char *header, const char *payload, size_t plen, const xc_keypair *k,
                   const char *sig_override) {
    char *h = b64(header, strlen(header)), *p = b64(payload, plen);
    size_t n = strlen(h) + strlen(p) + 200;
    char *out = malloc(n);
    int w = snprintf(out, n, "%s.%s", h, p);
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, (const uint8_t *)out, (size_t)w, k->sk);
    char *s = b64(sig, 64);
    snprintf(out + w, n - (size_t)w, ".%s", sig_override ? sig_override : s);
    free(h);
    free(p);
    free(s);
    return out;
}

static char *header_for(const char *kid) {
    static char h[160];
    snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}", kid);
    return h;
}

static xc_jws_code verify(const char *jws, xc_report *r, fs_err *e) {
    xc_verified v;
    xc_jws_code c = xc_jws_verify(jws, strlen(jws), &reg, &v, r, e);
    if (c == XC_JWS_OK) xc_verified_free(&v);
    return c;
}

#define EXPECT_CODE(jws, want)                                                                  \
    do {                                                                                        \
        fs_err e_;                                                                              \
        memset(&e_, 0, sizeof e_);                                                              \
        xc_jws_code got_ = verify((jws), NULL, &e_);                                            \
        CHECK_MSG(got_ == (want), "got %s (%s), want %s", xc_jws_code_name(got_), e_.msg,       \
                  xc_jws_code_name(want));                                                      \
        if (got_ != XC_JWS_OK) CHECK_MSG(strstr(e_.msg, xc_jws_code_name(want)) != NULL, "%s", e_.msg); \
    } while (0)

static void make_registry(void) {
    char a[256], b[256], c[256], text[1024];
    fs_err e;
    CHECK(xc_keypair_generate("org:234-15", &ka, &e) == FS_OK);
    CHECK(xc_keypair_generate("org:208-01", &kb, &e) == FS_OK);
    CHECK(xc_keypair_generate("org:234-15", &kc, &e) == FS_OK);
    CHECK(xc_keypair_generate("org:234-15", &kd, &e) == FS_OK);
    CHECK(xc_keypair_generate("ORG:x", &kd, &e) == FS_ERR_USAGE && strstr(e.msg, "ORG:x"));
    CHECK(xc_keypair_generate("org:234-15", &kd, &e) == FS_OK);
    xc_member_json(&ka, a, sizeof a, &e);
    xc_member_json(&kb, b, sizeof b, &e);
    xc_member_json(&kc, c, sizeof c, &e);
    char *rv = strstr(c, "\"active\"");
    CHECK(rv != NULL);
    if (rv) memcpy(rv, "\"revoked\"}\n", 12);
    snprintf(text, sizeof text, "{\"members\":[%s,%s,%s]}", a, b, c);
    CHECK_MSG(xc_registry_parse(text, strlen(text), &reg, &e) == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(reg.n, 3);
}

static void test_round_trip(void) {
    size_t cap = xc_jws_size(event_len) + 1;
    char *jws = malloc(cap);
    fs_err e;
    size_t n = xc_jws_sign(event_text, event_len, &ka, jws, cap, &e);
    CHECK_MSG(n > 0 && n == cap - 1 && strlen(jws) == n, "sign: %s", e.msg);
    CHECK(xc_jws_sign(event_text, event_len, &ka, jws, cap - 1, &e) == 0); /* too small */
    n = xc_jws_sign(event_text, event_len, &ka, jws, cap, &e);
    /* the header is exactly the contract's */
    const char *dot = strchr(jws, '.');
    uint8_t hdr[128];
    size_t hl = 0;
    CHECK(dot && xc_b64_decode(jws, (size_t)(dot - jws), hdr, sizeof hdr, &hl));
    char want[160];
    snprintf(want, sizeof want, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}", ka.kid);
    CHECK(hl == strlen(want) && memcmp(hdr, want, hl) == 0);

    xc_verified v;
    xc_report r;
    xc_jws_code c = xc_jws_verify(jws, n, &reg, &v, &r, &e);
    CHECK_MSG(c == XC_JWS_OK, "%s", e.msg);
    if (c == XC_JWS_OK) {
        /* original bytes, unchanged, with their whitespace and order */
        CHECK(v.payload_len == event_len && memcmp(v.payload, event_text, event_len) == 0);
        CHECK(v.member && !strcmp(v.member->kid, ka.kid) && !strcmp(v.member->issuer, "org:234-15"));
        CHECK(!strcmp(v.ev.issuer, "org:234-15") && v.ev.version == 1);
        CHECK(json_object_get(v.ev.root, "x-kept") != NULL);
        xc_verified_free(&v);
        CHECK(v.payload == NULL && v.ev.root == NULL);
    }
    /* OpenSSL's Ed25519 verifies libsodium's signature over the signing input */
    const char *d2 = strrchr(jws, '.');
    uint8_t sig[64];
    size_t sl;
    CHECK(xc_b64_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig, &sl) && sl == 64);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, ka.pk, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(pk && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1);
    CHECK(EVP_DigestVerify(md, sig, 64, (const uint8_t *)jws, (size_t)(d2 - jws)) == 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    /* and OpenSSL signing the same input with the same seed gives the same bytes */
    EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ka.sk, 32);
    md = EVP_MD_CTX_new();
    uint8_t osig[64];
    size_t osl = sizeof osig;
    CHECK(sk && md && EVP_DigestSignInit(md, NULL, NULL, NULL, sk) == 1);
    CHECK(EVP_DigestSign(md, osig, &osl, (const uint8_t *)jws, (size_t)(d2 - jws)) == 1);
    CHECK(osl == 64 && memcmp(osig, sig, 64) == 0);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(sk);
    /* a JWS signed by OpenSSL verifies with xc_jws_verify */
    char *forged = forge(header_for(ka.kid), event_text, event_len, &ka, NULL);
    CHECK(strcmp(forged, jws) == 0); /* deterministic Ed25519: the same bytes */
    free(forged);
    free(jws);
}

static void test_refusals(void) {
    char *good = forge(header_for(ka.kid), event_text, event_len, &ka, NULL);
    EXPECT_CODE(good, XC_JWS_OK);
    char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');

    /* tampered payload: one base64url character changed */
    char *t = strdup(good);
    t[(d1 - good) + 20] = t[(d1 - good) + 20] == 'A' ? 'B' : 'A';
    EXPECT_CODE(t, XC_JWS_SIGNATURE);
    free(t);
    /* tampered header: same meaning, other bytes (spacing) */
    char hdr2[200];
    snprintf(hdr2, sizeof hdr2, "{\"alg\":\"EdDSA\", \"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}", ka.kid);
    char *hb = b64(hdr2, strlen(hdr2));
    size_t n = strlen(hb) + strlen(d1) + 1;
    t = malloc(n);
    snprintf(t, n, "%s%s", hb, d1);
    EXPECT_CODE(t, XC_JWS_SIGNATURE);
    free(t);
    free(hb);
    /* the signature of another event */
    char *other = forge(header_for(ka.kid), "{}", 2, &ka, NULL);
    n = (size_t)(d2 - good) + strlen(strrchr(other, '.')) + 1;
    t = malloc(n);
    snprintf(t, n, "%.*s%s", (int)(d2 - good), good, strrchr(other, '.'));
    EXPECT_CODE(t, XC_JWS_SIGNATURE);
    free(t);
    free(other);

    /* wrong kid: signed by a, claims b's kid */
    t = forge(header_for(kb.kid), event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_SIGNATURE);
    free(t);
    /* unknown kid: d is in no registry */
    t = forge(header_for(kd.kid), event_text, event_len, &kd, NULL);
    EXPECT_CODE(t, XC_JWS_KID_UNKNOWN);
    free(t);
    t = forge(header_for("short"), event_text, event_len, &kd, NULL);
    EXPECT_CODE(t, XC_JWS_KID_UNKNOWN);
    free(t);
    /* revoked member, even with a good signature */
    t = forge(header_for(kc.kid), event_text, event_len, &kc, NULL);
    EXPECT_CODE(t, XC_JWS_REVOKED);
    free(t);
    /* issuer != key owner: b (org:208-01) signs an org:234-15 event */
    t = forge(header_for(kb.kid), event_text, event_len, &kb, NULL);
    EXPECT_CODE(t, XC_JWS_ISSUER_MISMATCH);
    free(t);

    /* algorithms other than EdDSA */
    static const char *const algs[] = {
        "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}",
        "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}",
        "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}",
        "{\"alg\":\"eddsa\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}",
        "{\"alg\":\"Ed25519\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}",
        "{\"alg\":[\"EdDSA\"],\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}",
        "{\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}"};
    for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
        char hd[200];
        snprintf(hd, sizeof hd, algs[i], ka.kid);
        t = forge(hd, event_text, event_len, &ka, NULL);
        EXPECT_CODE(t, XC_JWS_ALG);
        free(t);
    }
    /* alg none with an empty signature */
    snprintf(hdr2, sizeof hdr2, "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}", ka.kid);
    t = forge(hdr2, event_text, event_len, &ka, "");
    EXPECT_CODE(t, XC_JWS_ALG);
    free(t);
    /* typ */
    snprintf(hdr2, sizeof hdr2, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", ka.kid);
    t = forge(hdr2, event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_TYP_BAD);
    free(t);
    snprintf(hdr2, sizeof hdr2, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"JWT\"}", ka.kid);
    t = forge(hdr2, event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_TYP_BAD);
    free(t);
    /* kid */
    t = forge("{\"alg\":\"EdDSA\",\"typ\":\"fs38-event+jws\"}", event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_KID_MISSING);
    free(t);
    t = forge("{\"alg\":\"EdDSA\",\"kid\":7,\"typ\":\"fs38-event+jws\"}", event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_KID_MISSING);
    free(t);
    /* extra header parameters (crit, embedded keys, b64=false) */
    static const char *const extra[] = {",\"crit\":[\"exp\"],\"exp\":1", ",\"jwk\":{}",
                                        ",\"b64\":false", ",\"x5u\":\"https://x\""};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        snprintf(hdr2, sizeof hdr2, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"%s}",
                 ka.kid, extra[i]);
        t = forge(hdr2, event_text, event_len, &ka, NULL);
        EXPECT_CODE(t, XC_JWS_HEADER_PARAM);
        free(t);
    }
    /* header not JSON, duplicate keys in the header */
    t = forge("not json", event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_HEADER_JSON);
    free(t);
    t = forge("[\"EdDSA\"]", event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_HEADER_JSON);
    free(t);
    snprintf(hdr2, sizeof hdr2, "{\"alg\":\"EdDSA\",\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"fs38-event+jws\"}", ka.kid);
    t = forge(hdr2, event_text, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_HEADER_JSON);
    free(t);

    /* bad base64url: padding, standard alphabet, whitespace, non-zero tail bits */
    size_t glen = strlen(good);
    t = malloc(glen + 4);
    snprintf(t, glen + 4, "%s==", good);
    EXPECT_CODE(t, XC_JWS_BASE64);
    memcpy(t, good, glen + 1);
    t[(d1 - good) + 5] = '+';
    EXPECT_CODE(t, XC_JWS_BASE64);
    memcpy(t, good, glen + 1);
    t[(d1 - good) + 5] = ' ';
    EXPECT_CODE(t, XC_JWS_BASE64);
    memcpy(t, good, glen + 1);
    t[2] = '/';
    EXPECT_CODE(t, XC_JWS_BASE64);
    memcpy(t, good, glen + 1);
    /* 64 bytes = 86 characters, the last one carrying 2 bits and 4 unused
     * zero bits ('A', 'Q', 'g' or 'w'); 'B' sets an unused bit */
    CHECK(strchr("AQgw", t[glen - 1]) != NULL);
    t[glen - 1] = 'B';
    EXPECT_CODE(t, XC_JWS_BASE64);
    free(t);
    /* signature of the wrong length */
    uint8_t sig63[63] = {0};
    char *s63 = b64(sig63, 63);
    t = forge(header_for(ka.kid), event_text, event_len, &ka, s63);
    EXPECT_CODE(t, XC_JWS_SIGNATURE);
    free(t);
    free(s63);
    /* ...longer than 64 bytes too: valid base64url, so not a "base64" failure */
    uint8_t sig66[66] = {0};
    char *s66 = b64(sig66, 66);
    t = forge(header_for(ka.kid), event_text, event_len, &ka, s66);
    EXPECT_CODE(t, XC_JWS_SIGNATURE);
    free(t);
    free(s66);

    /* segments */
    EXPECT_CODE("", XC_JWS_SEGMENTS);
    EXPECT_CODE("abc", XC_JWS_SEGMENTS);
    EXPECT_CODE("a.b", XC_JWS_SEGMENTS);
    t = malloc(glen + 8);
    snprintf(t, glen + 8, "%s.AAAA", good);
    EXPECT_CODE(t, XC_JWS_SEGMENTS);
    snprintf(t, glen + 8, "%.*s.%s", (int)(d2 - good), good, d1); /* h.p.p.s */
    EXPECT_CODE(t, XC_JWS_SEGMENTS);
    free(t);
    EXPECT_CODE("..", XC_JWS_HEADER_JSON);

    /* oversized: the whole string, and a payload just over 64 KiB */
    char *big = malloc(XC_JWS_MAX_BYTES + 2);
    memset(big, 'A', XC_JWS_MAX_BYTES + 1);
    big[XC_JWS_MAX_BYTES + 1] = '\0';
    EXPECT_CODE(big, XC_JWS_OVERSIZED);
    free(big);
    char *pl = malloc(XC_EVENT_MAX_BYTES + 1);
    memset(pl, ' ', XC_EVENT_MAX_BYTES + 1);
    memcpy(pl, event_text, event_len);
    t = forge(header_for(ka.kid), pl, XC_EVENT_MAX_BYTES + 1, &ka, NULL);
    CHECK(strlen(t) <= XC_JWS_MAX_BYTES);
    EXPECT_CODE(t, XC_JWS_OVERSIZED);
    free(t);
    /* exactly 64 KiB (an event padded with whitespace) is accepted */
    t = forge(header_for(ka.kid), pl, XC_EVENT_MAX_BYTES, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_OK);
    free(t);
    fs_err e;
    char small[64];
    CHECK(xc_jws_sign(pl, XC_EVENT_MAX_BYTES + 1, &ka, small, sizeof small, &e) == 0 &&
          e.code == FS_ERR_LIMIT);
    free(pl);

    /* payloads that are no valid event, correctly signed */
    char *bad = malloc(event_len + 1);
    memcpy(bad, event_text, event_len);
    char *fs = strstr(bad, "friendly-scanner");
    fs[0] = (char)0xff; /* not UTF-8 */
    t = forge(header_for(ka.kid), bad, event_len, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_PAYLOAD);
    xc_report r;
    verify(t, &r, NULL);
    CHECK(r.n >= 1 && xc_report_find(&r, "$"));
    free(t);
    free(bad);
    const char *dup = "{\"schema_version\":\"1.0\",\"schema_version\":\"1.0\"}";
    t = forge(header_for(ka.kid), dup, strlen(dup), &ka, NULL);
    EXPECT_CODE(t, XC_JWS_PAYLOAD);
    free(t);
    const char *inv = "{\"schema_version\":\"1.0\",\"version\":0}";
    t = forge(header_for(ka.kid), inv, strlen(inv), &ka, NULL);
    verify(t, &r, NULL);
    CHECK(xc_report_find(&r, "version") && xc_report_find(&r, "issuer") && xc_report_find(&r, "observables"));
    free(t);
    t = forge(header_for(ka.kid), "", 0, &ka, NULL);
    EXPECT_CODE(t, XC_JWS_PAYLOAD);
    free(t);
    free(good);

    /* every code has its own name */
    for (int i = 0; i < XC_JWS__COUNT; i++)
        for (int j = i + 1; j < XC_JWS__COUNT; j++) CHECK(strcmp(xc_jws_code_name(i), xc_jws_code_name(j)));
}

static void test_key_files(void) {
    char dir[] = "/tmp/test_xc_jws.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[256], path[512];
    snprintf(sub, sizeof sub, "%s/keys", dir);
    fs_err e;
    CHECK_MSG(xc_keypair_save(&ka, sub, &e) == FS_OK, "%s", e.msg);
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.key", sub, ka.kid);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    xc_keypair back;
    CHECK_MSG(xc_keypair_load(path, &back, &e) == FS_OK, "%s", e.msg);
    CHECK(!memcmp(back.sk, ka.sk, 64) && !memcmp(back.pk, ka.pk, 32) && !strcmp(back.kid, ka.kid) &&
          !strcmp(back.issuer, ka.issuer));
    CHECK(xc_keypair_save(&ka, sub, &e) == FS_ERR_IO && strstr(e.msg, "overwrite"));
    /* the seed (base64url, as the file holds it) is wiped from every block
     * jansson used to read the file, not only from the file's buffer */
    char seed_b64[XC_B64_LEN(32) + 1];
    xc_b64_encode(ka.sk, 32, seed_b64, sizeof seed_b64);
    json_secret_scan_begin(seed_b64);
    CHECK_MSG(xc_keypair_load(path, &back, &e) == FS_OK, "%s", e.msg);
    unsigned held = json_secret_scan_end();
    CHECK_MSG(held == 0, "%u freed blocks still held the secret key", held);
    /* a readable secret is refused */
    chmod(path, 0644);
    CHECK(xc_keypair_load(path, &back, &e) == FS_ERR_CONFIG && strstr(e.msg, "chmod 600"));
    chmod(path, 0600);
    /* the .pub is a registry member entry */
    char pub[512];
    snprintf(pub, sizeof pub, "%s/%s.pub", sub, ka.kid);
    size_t len;
    char *m = check_read_file(pub, &len);
    CHECK(m != NULL);
    /* ...and no signing key: given instead of the .key (they share a name),
     * it is named as what it is, with the file to give, not "run chmod 600"
     * nor "alg must be EdDSA" */
    CHECK(xc_keypair_load(pub, &back, &e) == FS_ERR_USAGE);
    CHECK_MSG(strstr(e.msg, "public member entry") && strstr(e.msg, path), "%s", e.msg);
    char pub600[600];
    snprintf(pub600, sizeof pub600, "%s/member.json", dir);
    FILE *pf = fopen(pub600, "w");
    if (pf) {
        fputs(m ? m : "", pf);
        fclose(pf);
    }
    chmod(pub600, 0600);
    CHECK(xc_keypair_load(pub600, &back, &e) == FS_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "no secret_key"), "%s", e.msg);
    unlink(pub600);
    char reg_text[1024];
    snprintf(reg_text, sizeof reg_text, "{\"members\":[%s]}", m ? m : "");
    xc_registry r1;
    CHECK_MSG(xc_registry_parse(reg_text, strlen(reg_text), &r1, &e) == FS_OK, "%s", e.msg);
    CHECK(r1.n == 1 && xc_registry_find(&r1, ka.kid, XC_KID_LEN) && !r1.members[0].revoked);
    xc_registry_free(&r1);
    free(m);
    /* a key file edited by hand: another kid, another public key */
    m = check_read_file(path, &len);
    char *k = m ? strstr(m, ka.kid) : NULL;
    CHECK(k != NULL);
    if (k) {
        k[0] = k[0] == 'A' ? 'B' : 'A';
        char p2[600];
        snprintf(p2, sizeof p2, "%s/edited.key", dir);
        FILE *f = fopen(p2, "w");
        fwrite(m, 1, len, f);
        fclose(f);
        chmod(p2, 0600);
        CHECK(xc_keypair_load(p2, &back, &e) == FS_ERR_FORMAT && strstr(e.msg, "kid"));
        unlink(p2);
    }
    /* a syntax error (a comma left by a hand edit, line 2) is named by its
     * place, not as "not a JSON object", and the secret is never quoted */
    char *sk = m ? strstr(m, "\"secret_key\":\"") : NULL;
    CHECK(sk != NULL);
    if (sk) {
        char seed[XC_B64_LEN(32) + 1], text[600], p2[600];
        snprintf(seed, sizeof seed, "%s", sk + 14);
        snprintf(text, sizeof text, "{\"issuer\":\"%s\",\n\"secret_key\":\"%s\",}\n", ka.issuer, seed);
        snprintf(p2, sizeof p2, "%s/comma.key", dir);
        FILE *f = fopen(p2, "w");
        fputs(text, f);
        fclose(f);
        chmod(p2, 0600);
        CHECK(xc_keypair_load(p2, &back, &e) == FS_ERR_FORMAT);
        CHECK_MSG(strstr(e.msg, "comma.key: line 2") != NULL, "%s", e.msg);
        CHECK_MSG(strstr(e.msg, seed) == NULL, "secret quoted: %s", e.msg);
        unlink(p2);
    }
    free(m);
    CHECK(xc_keypair_load("/nonexistent/x.key", &back, &e) == FS_ERR_IO && strstr(e.msg, "/nonexistent/x.key"));
    unlink(path);
    unlink(pub);
    rmdir(sub);
    rmdir(dir);
}

static void test_registry(void) {
    fs_err e;
    xc_registry r1;
    char pk[64], line[512];
    xc_b64_encode(ka.pk, 32, pk, sizeof pk);
    static const struct {
        const char *fmt; /* %s kid, %s pk */
        const char *want;
    } bad[] = {
        {"{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\",\"stauts\":1}]}", "stauts"},
        {"{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%sX\",\"public_key\":\"%s\",\"status\":\"active\"}]}", "members[0].kid"},
        {"{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"gone\"}]}", "status"},
        {"{\"members\":[{\"issuer\":\"234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\"}]}", "issuer"},
        {"{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\",\"cert_sha256\":\"zz\"}]}", "cert_sha256"},
        {"{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\"},"
         "{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"revoked\"}]}", "twice"},
        {"{\"members\":{}}%.0s%.0s", "members"},
        {"[]%.0s%.0s", "members"},
        {"{\"members\":[1]}%.0s%.0s", "members[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(line, sizeof line, bad[i].fmt, ka.kid, pk, ka.kid, pk);
        CHECK_MSG(xc_registry_parse(line, strlen(line), &r1, &e) != FS_OK, "registry case %zu accepted", i);
        CHECK_MSG(strstr(e.msg, bad[i].want) != NULL, "registry case %zu: %s", i, e.msg);
        CHECK(r1.members == NULL && r1.n == 0);
    }
    /* a registry of 1 MiB padded with "{}," (a hostile hub's answer to GET
     * /v1/registry): refused before jansson builds ~80 MB of it, as every
     * other answer a client reads; a registry of real entries still loads */
    {
        size_t cap = 1u << 20, o = 0;
        char *big = malloc(cap + 512);
        CHECK(big != NULL);
        if (big) {
            o += (size_t)snprintf(big, 512,
                                  "{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\","
                                  "\"status\":\"active\"}],\"x-pad\":[{}",
                                  ka.kid, pk);
            while (o + 3 < cap) o += (size_t)snprintf(big + o, 4, ",{}");
            o += (size_t)snprintf(big + o, 4, "]}");
            CHECK_MSG(xc_registry_parse(big, o, &r1, &e) == FS_ERR_LIMIT, "padded registry of %zu bytes accepted", o);
            CHECK_MSG(strstr(e.msg, "JSON values") != NULL, "%s", e.msg);
            CHECK(r1.members == NULL && r1.n == 0);
            /* 2000 entries with a certificate each: well within the bound */
            o = (size_t)snprintf(big, cap, "{\"members\":[");
            for (int i = 0; i < 2000; i++) {
                xc_keypair k;
                char kpk[64];
                xc_keypair_generate("org:234-15", &k, &e);
                xc_b64_encode(k.pk, 32, kpk, sizeof kpk);
                o += (size_t)snprintf(big + o, cap - o,
                                      "%s{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\","
                                      "\"cert_sha256\":\"%064x\"}",
                                      i ? "," : "", k.kid, kpk, i);
                xc_keypair_wipe(&k);
            }
            o += (size_t)snprintf(big + o, cap - o, "]}");
            CHECK_MSG(xc_registry_parse(big, o, &r1, &e) == FS_OK, "%s", e.msg);
            CHECK_EQ_INT((long)r1.n, 2000);
            xc_registry_free(&r1);
            free(big);
        }
    }
    const char *cert = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    snprintf(line, sizeof line,
             "{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\",\"cert_sha256\":\"%s\",\"x-contact\":\"soc@example\"}],\"x-updated\":1}",
             ka.kid, pk, cert);
    CHECK_MSG(xc_registry_parse(line, strlen(line), &r1, &e) == FS_OK, "%s", e.msg);
    uint8_t h[32];
    for (int i = 0; i < 32; i++) h[i] = (uint8_t)((i % 16) * 0x11);
    CHECK(xc_registry_find_cert(&r1, h) == &r1.members[0]);
    h[0] ^= 1;
    CHECK(xc_registry_find_cert(&r1, h) == NULL);
    CHECK(xc_registry_find(&r1, ka.kid, XC_KID_LEN - 1) == NULL);
    CHECK(xc_registry_find(&r1, kb.kid, XC_KID_LEN) == NULL);
    xc_registry_free(&r1);
    /* key rotation: the old key revoked, the new one active, one certificate:
     * the certificate is the active entry's (the member is not locked out) */
    char pkb[64];
    xc_b64_encode(kb.pk, 32, pkb, sizeof pkb);
    snprintf(line, sizeof line,
             "{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"revoked\",\"cert_sha256\":\"%s\"},"
             "{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\",\"cert_sha256\":\"%s\"}]}",
             ka.kid, pk, cert, kb.kid, pkb, cert);
    CHECK_MSG(xc_registry_parse(line, strlen(line), &r1, &e) == FS_OK, "%s", e.msg);
    h[0] ^= 1;
    const xc_member *rot = xc_registry_find_cert(&r1, h);
    CHECK(rot && !rot->revoked && !memcmp(rot->kid, kb.kid, XC_KID_LEN));
    xc_registry_free(&r1);
    /* one certificate under two issuers (a fingerprint pasted into the wrong
     * entry): refused, naming both; before, its holder became whichever
     * entry sorted first (that member's TLP:RED events, its identity) */
    snprintf(line, sizeof line,
             "{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\",\"cert_sha256\":\"%s\"},"
             "{\"issuer\":\"org:208-01\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\",\"cert_sha256\":\"%s\"}]}",
             ka.kid, pk, cert, kb.kid, pkb, cert);
    CHECK_MSG(xc_registry_parse(line, strlen(line), &r1, &e) == FS_ERR_FORMAT, "one certificate, two issuers accepted");
    CHECK_MSG(strstr(e.msg, "org:234-15") && strstr(e.msg, "org:208-01") && strstr(e.msg, "one member"), "%s", e.msg);
    CHECK(r1.members == NULL && r1.n == 0);
    /* lookups in a larger registry (binary search over sorted kids) */
    CHECK(xc_registry_find(&reg, kb.kid, XC_KID_LEN) && !strcmp(xc_registry_find(&reg, kb.kid, XC_KID_LEN)->issuer, "org:208-01"));
    CHECK(xc_registry_find(&reg, kc.kid, XC_KID_LEN)->revoked);
    for (size_t i = 1; i < reg.n; i++) CHECK(strcmp(reg.members[i - 1].kid, reg.members[i].kid) < 0);
    CHECK(xc_registry_load("/nonexistent/reg.json", &r1, &e) == FS_ERR_IO);
}

static void test_b64_kid(void) {
    uint8_t out[8];
    size_t n;
    CHECK(xc_b64_decode("", 0, out, sizeof out, &n) && n == 0);
    CHECK(xc_b64_decode("Zm9v", 4, out, sizeof out, &n) && n == 3 && !memcmp(out, "foo", 3));
    CHECK(xc_b64_decode("Zm8", 3, out, sizeof out, &n) && n == 2);
    CHECK(!xc_b64_decode("Zm9", 3, out, sizeof out, &n)); /* non-zero unused bits */
    CHECK(!xc_b64_decode("Zm8=", 4, out, sizeof out, &n));
    CHECK(!xc_b64_decode("Z", 1, out, sizeof out, &n));
    CHECK(!xc_b64_decode("Zm9vZm9vZm9v", 12, out, sizeof out, &n)); /* 9 bytes > cap 8 */
    CHECK(xc_b64_decode("_-8", 3, out, sizeof out, &n) && n == 2 && out[0] == 0xff && out[1] == 0xef);
    /* kid = base64url(SHA-256(pk)[0..16)) computed with OpenSSL */
    uint8_t h[32];
    unsigned hl = 0;
    CHECK(EVP_Digest(ka.pk, 32, h, &hl, EVP_sha256(), NULL) == 1 && hl == 32);
    char kid[XC_KID_LEN + 1];
    xc_b64_encode(h, 16, kid, sizeof kid);
    CHECK(!strcmp(kid, ka.kid) && strlen(ka.kid) == XC_KID_LEN);
}

int main(void) {
    if (sodium_init() < 0) return 1;
    event_text = check_read_file("tests/data/exchange/valid/spec-example.json", &event_len);
    if (!event_text) {
        fprintf(stderr, "run from the repo root\n");
        return 1;
    }
    /* an unknown field the signature must carry through */
    char *p = malloc(event_len + 32);
    int w = snprintf(p, event_len + 32, "{\"x-kept\":true,%.*s", (int)event_len - 1, event_text + 1);
    free(event_text);
    event_text = p;
    event_len = (size_t)w;
    make_registry();
    test_round_trip();
    test_refusals();
    test_key_files();
    test_registry();
    test_b64_kid();
    xc_registry_free(&reg);
    free(event_text);
    return check_done("test_xc_jws");
}
