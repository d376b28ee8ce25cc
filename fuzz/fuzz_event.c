/*
 * fuzz_event.c -- libFuzzer harness for the exchange format layer.
 *
 * Every input goes through: the event validator (xc_event_parse and, when
 * valid, the clear-identifier check and observable walk), JWS parse+verify
 * of the bytes as a compact string, a sign-then-verify round trip with the
 * bytes as payload (whose outcome must agree with the validator: a valid
 * event of the key's issuer verifies and comes back byte for byte; anything
 * else is refused as payload or issuer mismatch), the trust registry parser,
 * and identifier normalisation. Keys come from a fixed seed so signed seeds
 * in fuzz/corpus/event stay valid across runs. jansson allocates through
 * xc_jmem's hooks, as in fs38 itself.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    return 0;
}
