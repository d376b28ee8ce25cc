/*
 * test_xc_pseudo.c -- subscriber identifier pseudonymisation (xc_pseudo.c).
 *
 * Known answers are computed here with a second implementation (OpenSSL's
 * HMAC() and EVP_EncodeBlock, converted to base64url by hand), so the test
 * checks two real libraries agree rather than a value copied from the code
 * under test. Then normalisation (spellings that must agree, inputs that
 * must be refused), the community key file and rotation.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "json_secret_scan.h"
#include "exchange/xc.h"

/* base64url(HMAC-SHA256(key, msg)) through OpenSSL. */
static void openssl_expect(const uint8_t key[32], const char *msg, char out[64]) {
    uint8_t mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), key, 32, (const uint8_t *)msg, strlen(msg), mac, &ml);
    unsigned char std[64];
    int n = EVP_EncodeBlock(std, mac, (int)ml);
    int o = 0;
    for (int i = 0; i < n; i++) {
        char c = (char)std[i];
        if (c == '=') break;
        out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[o] = '\0';
}

static void test_known_answers(void) {
    xc_pseudo_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.key_id, sizeof k.key_id, "kat");
    for (int i = 0; i < 32; i++) k.key[i] = (uint8_t)(i * 7 + 3);
    static const struct {
        xc_id_kind kind;
        const char *in, *norm;
    } cases[] = {
        {XC_ID_MSISDN, "+447700900123", "+447700900123"},
        {XC_ID_MSISDN, "+44 7700 900123", "+447700900123"},
        {XC_ID_MSISDN, "00447700900123", "+447700900123"},
        {XC_ID_MSISDN, "tel:+44-7700-900-123", "+447700900123"},
        {XC_ID_MSISDN, "  +1 (202) 555.0100 ", "+12025550100"},
        {XC_ID_MSISDN, "+44 (0)20 7946-0018", "+442079460018"}, /* the trunk prefix, as printed */
        {XC_ID_MSISDN, "+49(0)30 901820", "+4930901820"},
        {XC_ID_MSISDN, "+882130000000001", "+882130000000001"},
        {XC_ID_IMSI, "234150123456789", "234150123456789"},
        {XC_ID_IMSI, "234 15 0123456789", "234150123456789"},
        {XC_ID_ICCID, "8944100000000000001", "8944100000000000001"},
        {XC_ID_ICCID, "8944-1000-0000-0000-001", "8944100000000000001"},
        {XC_ID_ICCID, "894410000000000000", "894410000000000000"},
        {XC_ID_ICCID, "89441000000000000012", "89441000000000000012"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char norm[24], got[64], want[64];
        fs_err e;
        CHECK_MSG(xc_id_normalise(cases[i].kind, cases[i].in, strlen(cases[i].in), norm, sizeof norm, &e) == FS_OK,
                  "%s: %s", cases[i].in, e.msg);
        CHECK_MSG(!strcmp(norm, cases[i].norm), "%s -> %s, want %s", cases[i].in, norm, cases[i].norm);
        CHECK(xc_pseudo_hash(&k, cases[i].kind, cases[i].in, strlen(cases[i].in), got, sizeof got, &e) == FS_OK);
        openssl_expect(k.key, cases[i].norm, want);
        CHECK_MSG(!strcmp(got, want), "%s: %s != OpenSSL %s", cases[i].in, got, want);
        CHECK_EQ_INT(strlen(got), XC_HMAC_B64_LEN);
    }
    /* another key gives another value; the value is a valid *_hmac observable */
    char a[64], b[64];
    fs_err e;
    xc_pseudo_hash(&k, XC_ID_MSISDN, "+447700900123", 13, a, sizeof a, &e);
    k.key[0] ^= 1;
    xc_pseudo_hash(&k, XC_ID_MSISDN, "+447700900123", 13, b, sizeof b, &e);
    CHECK(strcmp(a, b) != 0);
    uint8_t raw[33];
    size_t rl;
    CHECK(xc_b64_decode(a, strlen(a), raw, sizeof raw, &rl) && rl == 32);
    CHECK(xc_pseudo_hash(&k, XC_ID_MSISDN, "+447700900123", 13, b, 43, &e) == FS_ERR_INTERNAL);
}

static void test_normalise_refusals(void) {
    static const struct {
        xc_id_kind kind;
        const char *in, *why;
    } bad[] = {
        {XC_ID_MSISDN, "07700900123", "international"},
        {XC_ID_MSISDN, "447700900123", "international"},
        {XC_ID_MSISDN, "+0447700900123", "leading 0"},
        {XC_ID_MSISDN, "+123456", "7 to 15"},
        {XC_ID_MSISDN, "+1234567890123456", "7 to 15"},
        {XC_ID_MSISDN, "+44 77a0 900123", "'a'"},
        {XC_ID_MSISDN, "+44\n7700900123", "0x0a"},
        {XC_ID_MSISDN, "", "empty"},
        {XC_ID_MSISDN, "   ", "empty"},
        {XC_ID_IMSI, "23415012345678", "exactly 15"},
        {XC_ID_IMSI, "2341501234567890", "exactly 15"},
        {XC_ID_IMSI, "23415-0123456789", "'-'"},
        {XC_ID_IMSI, "+234150123456789", "'+'"},
        {XC_ID_ICCID, "89441000000000000", "18 to 20"},
        {XC_ID_ICCID, "894410000000000000123", "18 to 20"},
        {XC_ID_ICCID, "8944100000000000001F", "'F'"},
        {XC_ID_ICCID, "12345678901234567890123456789012345678901234567890123456789012345", "64"},
        /* more digits than the buffer holds: a length error with the count */
        {XC_ID_MSISDN, "+4477009001234567890123456789012345", "7 to 15 digits after '+' and no leading 0 (has 34)"},
        {XC_ID_IMSI, "2341512345678901234567890123456789", "exactly 15 digits (has 34)"},
        {XC_ID_ICCID, "894410003000000012345678901234567890", "18 to 20 digits (has 36)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char norm[24];
        fs_err e;
        memset(&e, 0, sizeof e);
        fs_code c = xc_id_normalise(bad[i].kind, bad[i].in, strlen(bad[i].in), norm, sizeof norm, &e);
        CHECK_MSG(c == FS_ERR_USAGE, "'%s' accepted as %s", bad[i].in, xc_id_kind_name(bad[i].kind));
        CHECK_MSG(strstr(e.msg, bad[i].why) != NULL, "'%s': %s", bad[i].in, e.msg);
    }
    xc_id_kind k;
    CHECK(xc_id_kind_parse("imsi", &k) && k == XC_ID_IMSI);
    CHECK(!xc_id_kind_parse("IMSI", &k) && !xc_id_kind_parse("phone", &k));
    CHECK(!strcmp(xc_id_observable_kind(XC_ID_ICCID), "iccid_hmac"));
}

static void write_file(const char *path, const char *text, int mode) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, (mode_t)mode);
}

static void test_key_file_and_rotation(void) {
    char dir[] = "/tmp/test_xc_pseudo.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/community.key", dir);
    fs_err e;
    xc_pseudo_keys ks, back;
    memset(&ks, 0, sizeof ks);
    CHECK(xc_pseudo_rotate(&ks, "2026-11", 1795603302067LL, &e) == FS_OK && ks.n == 1);
    CHECK_MSG(xc_pseudo_save(path, &ks, &e) == FS_OK, "%s", e.msg);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_MSG(xc_pseudo_load(path, &back, &e) == FS_OK, "%s", e.msg);
    CHECK(back.n == 1 && !strcmp(back.keys[0].key_id, "2026-11") &&
          !memcmp(back.keys[0].key, ks.keys[0].key, 32) && back.keys[0].created_ms == 1795603302067LL);
    uint8_t first_key[32];
    memcpy(first_key, ks.keys[0].key, 32);
    /* the key (base64url, as the file holds it) is wiped from every block
     * jansson used to read the file */
    char key_b64[XC_HMAC_B64_LEN + 1];
    xc_b64_encode(first_key, 32, key_b64, sizeof key_b64);
    json_secret_scan_begin(key_b64);
    CHECK_MSG(xc_pseudo_load(path, &back, &e) == FS_OK, "%s", e.msg);
    unsigned held = json_secret_scan_end();
    CHECK_MSG(held == 0, "%u freed blocks still held the community key", held);

    /* rotate: newest first, the old key kept unchanged */
    CHECK(xc_pseudo_rotate(&back, "2026-12", 1798000000000LL, &e) == FS_OK);
    CHECK(xc_pseudo_save(path, &back, &e) == FS_OK);
    CHECK(xc_pseudo_load(path, &ks, &e) == FS_OK && ks.n == 2);
    CHECK(!strcmp(ks.keys[0].key_id, "2026-12") && !strcmp(ks.keys[1].key_id, "2026-11"));
    CHECK(!memcmp(ks.keys[1].key, first_key, 32) && memcmp(ks.keys[0].key, first_key, 32));
    const xc_pseudo_key *old = xc_pseudo_find(&ks, "2026-11");
    CHECK(old == &ks.keys[1] && xc_pseudo_find(&ks, "2027-01") == NULL);
    char h_new[64], h_old[64], want[64];
    xc_pseudo_hash(&ks.keys[0], XC_ID_MSISDN, "+447700900123", 13, h_new, sizeof h_new, &e);
    xc_pseudo_hash(old, XC_ID_MSISDN, "+447700900123", 13, h_old, sizeof h_old, &e);
    CHECK(strcmp(h_new, h_old) != 0);
    openssl_expect(first_key, "+447700900123", want);
    CHECK(!strcmp(h_old, want));
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* refusals */
    CHECK(xc_pseudo_rotate(&ks, "2026-12", 0, &e) == FS_ERR_USAGE && strstr(e.msg, "already"));
    CHECK(xc_pseudo_rotate(&ks, "bad id", 0, &e) == FS_ERR_USAGE);
    CHECK(xc_pseudo_rotate(&ks, "", 0, &e) == FS_ERR_USAGE);
    CHECK(xc_pseudo_rotate(&ks, "012345678901234567890123456789012", 0, &e) == FS_ERR_USAGE);
    xc_pseudo_keys full;
    memset(&full, 0, sizeof full);
    for (int i = 0; i < XC_PSEUDO_MAX_KEYS; i++) {
        char id[16];
        snprintf(id, sizeof id, "k%d", i);
        CHECK(xc_pseudo_rotate(&full, id, 0, &e) == FS_OK);
    }
    CHECK(xc_pseudo_rotate(&full, "one-more", 0, &e) == FS_ERR_LIMIT);
    CHECK(!strcmp(full.keys[0].key_id, "k15") && !strcmp(full.keys[15].key_id, "k0"));

    chmod(path, 0644);
    CHECK(xc_pseudo_load(path, &back, &e) == FS_ERR_CONFIG && strstr(e.msg, "chmod"));
    char p2[300];
    snprintf(p2, sizeof p2, "%s/bad.key", dir);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"[]", "expected"},
        {"{\"keys\":[]}", "one key"},
        {"{\"keys\":[{\"key_id\":\"a\",\"key\":\"AAAA\",\"created\":\"2026-11-25T10:41:42Z\"}]}", "keys[0].key"},
        {"{\"keys\":[{\"key_id\":\"a b\",\"key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"created\":\"2026-11-25T10:41:42Z\"}]}", "key_id"},
        {"{\"keys\":[{\"key_id\":\"a\",\"key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"created\":\"now\"}]}", "created"},
        {"{\"keys\":[{\"key_id\":\"a\",\"key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"created\":\"2026-11-25T10:41:42Z\"},"
         "{\"key_id\":\"a\",\"key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"created\":\"2026-11-25T10:41:42Z\"}]}", "twice"},
        {"{\"keys\":[1]}", "keys[0]"},
        /* a syntax error is named by its place, not as a missing "keys" array,
         * and the key next to it is not quoted */
        {"{\"keys\":[\n {\"key_id\":\"a\",\"key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"created\":\"2026-11-25T10:41:42Z\"},\n]}",
         "line 3, column 1: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unlink(p2);
        write_file(p2, bad[i].text, 0600);
        CHECK_MSG(xc_pseudo_load(p2, &back, &e) != FS_OK, "bad key file %zu accepted", i);
        CHECK_MSG(strstr(e.msg, bad[i].want) != NULL, "bad key file %zu: %s", i, e.msg);
        CHECK_MSG(strstr(e.msg, "AAAAAAAA") == NULL, "bad key file %zu: key quoted: %s", i, e.msg);
    }
    CHECK(xc_pseudo_load("/nonexistent/c.key", &back, &e) == FS_ERR_IO);
    unlink(p2);
    unlink(path);
    rmdir(dir);
    xc_pseudo_wipe(&ks);
    CHECK(ks.n == 0);
}

int main(void) {
    if (sodium_init() < 0) return 1;
    test_known_answers();
    test_normalise_refusals();
    test_key_file_and_rotation();
    return check_done("test_xc_pseudo");
}
