/*
 * fuzz_event.c -- libFuzzer harness for the exchange format layer.
 *
 * Every input goes through: the event validator (xc_event_parse and, when
 * valid, the clear-identifier check and observable walk), JWS parse+verify
 * of the bytes as a compact string, a sign-then-verify round trip with the
 * bytes as payload (whose outcome must agree with the validator: a valid
 * event of the key's issuer verifies and comes back byte for byte; anything
 * else is refused as payload or issuer mismatch), the trust registry parser,
 * identifier normalisation, and the two local key files (fs38 keygen's
 * signing key, xc_keypair_load; fs38 hash-id's community keys,
 * xc_pseudo_load, each key of which must be found by its id and hash a
 * number). Keys come from a fixed seed so signed seeds
 * in fuzz/corpus/event stay valid across runs. jansson allocates through
 * xc_jmem's hooks, as in fs38 itself.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exchange/xc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static xc_keypair key;   /* org:234-15, in the registry */
static xc_registry reg;
static char *jws_buf;
static size_t jws_cap;
static volatile size_t sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    xc_jmem_install(); /* as fs38's main does: parsed events live in arenas */
    if (sodium_init() < 0) abort();
    uint8_t seed[32];
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)(0xf5 + i);
    crypto_sign_seed_keypair(key.pk, key.sk, seed);
    xc_key_id(key.pk, key.kid);
    memcpy(key.issuer, "org:234-15", 11);
    char pk[64], text[512];
    xc_b64_encode(key.pk, 32, pk, sizeof pk);
    snprintf(text, sizeof text,
             "{\"members\":[{\"issuer\":\"org:234-15\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\"}]}",
             key.kid, pk);
    fs_err e;
    if (xc_registry_parse(text, strlen(text), &reg, &e) != FS_OK) abort();
    jws_cap = xc_jws_size(XC_EVENT_MAX_BYTES) + 1;
    jws_buf = malloc(jws_cap);
    return jws_buf ? 0 : -1;
}

static void walk(const xc_event *ev) {
    xc_report r;
    xc_report_clear(&r);
    sink += xc_event_clear_ids(ev, &r);
    for (size_t i = 0; i < xc_event_nobs(ev); i++) {
        xc_observable o;
        if (xc_event_observable(ev, i, &o)) sink += strlen(o.kind) + strlen(o.value) + strlen(o.role);
    }
    sink += strlen(ev->issuer) + strlen(ev->event_id) + strlen(ev->tlp) + (size_t)ev->version;
}

/* The bytes as a key file (mode 0600, as both loaders insist on). */
static void key_files(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz_event", 0);
    if (fd < 0) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    fs_err e;
    if (fchmod(fd, 0600) == 0 && write(fd, data, size) == (ssize_t)size) {
        xc_keypair kp;
        if (xc_keypair_load(path, &kp, &e) == FS_OK) {
            char kid[XC_KID_LEN + 1];
            xc_key_id(kp.pk, kid);
            if (strcmp(kid, kp.kid) != 0 || !kp.issuer[0]) abort();
            xc_keypair_wipe(&kp);
        } else if (!e.msg[0]) {
            abort();
        }
        xc_pseudo_keys ks;
        if (xc_pseudo_load(path, &ks, &e) == FS_OK) {
            if (ks.n == 0 || ks.n > XC_PSEUDO_MAX_KEYS) abort();
            for (size_t i = 0; i < ks.n; i++) {
                if (xc_pseudo_find(&ks, ks.keys[i].key_id) != &ks.keys[i]) abort();
                char out[XC_HMAC_B64_LEN + 1];
                if (xc_pseudo_hash(&ks.keys[i], XC_ID_MSISDN, "+447700900123", 13, out, sizeof out, &e) != FS_OK)
                    abort();
            }
            xc_pseudo_wipe(&ks);
        } else if (!e.msg[0]) {
            abort();
        }
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    xc_report r;
    fs_err e;

    /* 1. the validator */
    xc_event ev;
    bool valid = xc_event_parse(s, size, &ev, &r, &e) == FS_OK;
    bool ours = false;
    if (valid) {
        walk(&ev);
        ours = !strcmp(ev.issuer, key.issuer);
        xc_event_free(&ev);
    } else if (r.n == 0 || e.msg[0] == '\0') {
        abort(); /* a refusal always says why */
    }

    /* 2. the bytes as a JWS */
    xc_verified v;
    xc_jws_code c = xc_jws_verify(s, size, &reg, &v, &r, &e);
    if (c == XC_JWS_OK) {
        walk(&v.ev);
        xc_verified_free(&v);
    } else if ((unsigned)c >= XC_JWS__COUNT || e.msg[0] == '\0') {
        abort();
    }

    /* 3. the bytes as a payload, signed then verified */
    size_t n = xc_jws_sign(s, size, &key, jws_buf, jws_cap, &e);
    if (size <= XC_EVENT_MAX_BYTES) {
        if (n == 0) abort();
        c = xc_jws_verify(jws_buf, n, &reg, &v, &r, &e);
        if (valid && ours) {
            if (c != XC_JWS_OK || v.payload_len != size || memcmp(v.payload, data, size) != 0) abort();
            xc_verified_free(&v);
        } else if (c != (valid ? XC_JWS_ISSUER_MISMATCH : XC_JWS_PAYLOAD)) {
            abort();
        }
    } else if (n != 0) {
        abort();
    }

    /* 4. the trust registry parser */
    xc_registry r2;
    if (xc_registry_parse(s, size, &r2, &e) == FS_OK) {
        for (size_t i = 0; i < r2.n; i++)
            if (xc_registry_find(&r2, r2.members[i].kid, XC_KID_LEN) == NULL) abort();
        xc_registry_free(&r2);
    }

    /* 5. identifiers and base64url */
    char norm[24];
    for (int k = 0; k < 3; k++)
        if (xc_id_normalise((xc_id_kind)k, s, size, norm, sizeof norm, &e) == FS_OK) sink += strlen(norm);
    uint8_t out[256];
    size_t ol;
    if (xc_b64_decode(s, size, out, sizeof out, &ol)) sink += ol;

    /* 6. the local key files */
    key_files(data, size);
    return 0;
}
