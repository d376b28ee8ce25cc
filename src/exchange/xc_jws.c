/*
 * xc_jws.c -- the signed form of an event: JWS compact (RFC 7515) with
 * EdDSA over Ed25519 (RFC 8037), and strict base64url (see xc.h).
 *
 * Owns: signing an event's exact bytes, parsing and verifying a compact
 * JWS against the trust registry, base64url. Must not touch: event policy
 * (replay, TLP), storage, key files.
 *
 * Hot path of the hub (~20k verifications/s): the header is a few dozen
 * bytes parsed on the stack, the payload is decoded once into one malloc'd
 * buffer that becomes the caller's, and the event is parsed once. The
 * signature is checked over the segments exactly as received, so nothing is
 * ever re-encoded.
 */
#include "xc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- base64url ---------------------------------------------------------------- */

size_t xc_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap) {
    size_t need = XC_B64_LEN(n);
    if (cap < need + 1) {
        if (cap) out[0] = '\0';
        return 0;
    }
    sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return need;
}

/* Value of each base64url character, 0xff for every other byte. The data
 * decoded here is public (signed events), so a table lookup is fine; it is
 * about 15 times faster than libsodium's constant-time decoder, which was a
 * visible part of the hub's per-event cost. */
static const uint8_t b64url_val[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,  ['H'] = 7,
    ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
    ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
    ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
    ['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['-'] = 62, ['_'] = 63};

static bool b64url_char(char c, uint32_t *v) {
    uint8_t x = b64url_val[(unsigned char)c];
    if (x == 0 && c != 'A') return false; /* not in the alphabet ('=' and whitespace included) */
    *v = x;
    return true;
}

/* Only base64url characters, in a length a base64 text can have. */
static bool b64url_text(const char *in, size_t n) {
    uint32_t v;
    if (n % 4 == 1) return false;
    for (size_t i = 0; i < n; i++)
        if (!b64url_char(in[i], &v)) return false;
    return true;
}

bool xc_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen) {
    if (n % 4 == 1) return false; /* cannot be the end of a base64 quantum */
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap) return false;
    size_t o = 0, i = 0;
    uint32_t a, b, c, d;
    for (; i + 4 <= n; i += 4) {
        if (!b64url_char(in[i], &a) || !b64url_char(in[i + 1], &b) || !b64url_char(in[i + 2], &c) ||
            !b64url_char(in[i + 3], &d))
            return false;
        uint32_t w = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (uint8_t)(w >> 16);
        out[o++] = (uint8_t)(w >> 8);
        out[o++] = (uint8_t)w;
    }
    if (n - i == 2) { /* one byte; the 4 unused bits must be zero */
        if (!b64url_char(in[i], &a) || !b64url_char(in[i + 1], &b) || (b & 15)) return false;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
    } else if (n - i == 3) { /* two bytes; the 2 unused bits must be zero */
        if (!b64url_char(in[i], &a) || !b64url_char(in[i + 1], &b) || !b64url_char(in[i + 2], &c) ||
            (c & 3))
            return false;
        uint32_t w = a << 10 | b << 4 | c >> 2;
        out[o++] = (uint8_t)(w >> 8);
        out[o++] = (uint8_t)w;
    }
    *outlen = o;
    return true;
}

/* ---- codes ------------------------------------------------------------------ */

static const char *const code_names[XC_JWS__COUNT] = {
    "ok",          "oversized",   "segments",  "base64",    "header_json",
    "header_param", "alg",        "typ",       "kid_missing", "kid_unknown",
    "revoked",     "signature",   "payload",   "issuer_mismatch"};

const char *xc_jws_code_name(xc_jws_code c) {
    return (unsigned)c < XC_JWS__COUNT ? code_names[c] : "unknown";
}

/* ---- signing ------------------------------------------------------------------ */

#define HDR_MAX 128

static bool kid_chars_ok(const char *kid) {
    size_t n = strlen(kid);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static size_t header_text(const char *kid, char *buf, size_t n) {
    int w = snprintf(buf, n, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"" XC_JWS_TYP "\"}", kid);
    return w > 0 && (size_t)w < n ? (size_t)w : 0;
}

size_t xc_jws_size(size_t payload_len) {
    char hdr[HDR_MAX];
    size_t h = header_text("AAAAAAAAAAAAAAAAAAAAAA", hdr, sizeof hdr); /* XC_KID_LEN chars */
    return XC_B64_LEN(h) + 1 + XC_B64_LEN(payload_len) + 1 + XC_B64_LEN(crypto_sign_BYTES);
}

size_t xc_jws_sign(const char *payload, size_t len, const xc_keypair *kp, char *out, size_t cap,
                   fs_err *e) {
    char hdr[HDR_MAX];
    if (len > XC_EVENT_MAX_BYTES) {
        fs_fail(e, FS_ERR_LIMIT, "payload of %zu bytes exceeds %d", len, XC_EVENT_MAX_BYTES);
        return 0;
    }
    if (!kid_chars_ok(kp->kid)) {
        fs_fail(e, FS_ERR_USAGE, "key id '%s' is not base64url", kp->kid);
        return 0;
    }
    size_t h = header_text(kp->kid, hdr, sizeof hdr);
    size_t need = XC_B64_LEN(h) + 1 + XC_B64_LEN(len) + 1 + XC_B64_LEN(crypto_sign_BYTES);
    if (h == 0 || cap < need + 1) {
        fs_fail(e, FS_ERR_LIMIT, "JWS needs %zu bytes, buffer has %zu", need + 1, cap);
        return 0;
    }
    size_t o = xc_b64_encode((const uint8_t *)hdr, h, out, cap);
    out[o++] = '.';
    o += xc_b64_encode((const uint8_t *)payload, len, out + o, cap - o);
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)out, o, kp->sk);
    out[o++] = '.';
    o += xc_b64_encode(sig, sizeof sig, out + o, cap - o);
    return o;
}

/* ---- verification ----------------------------------------------------------- */

static xc_jws_code jfail(fs_err *e, xc_jws_code c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static xc_jws_code jfail(fs_err *e, xc_jws_code c, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = c == XC_JWS_OVERSIZED ? FS_ERR_LIMIT : FS_ERR_FORMAT;
        int w = snprintf(e->msg, sizeof e->msg, "JWS %s: ", code_names[c]);
        if (w > 0 && (size_t)w < sizeof e->msg) vsnprintf(e->msg + w, sizeof e->msg - (size_t)w, fmt, ap);
        va_end(ap);
    }
    return c;
}

/* Fast path: the header exactly as xc_jws_sign writes it,
 * {"alg":"EdDSA","kid":"<base64url>","typ":"fs38-event+jws"}, is accepted
 * without a JSON parser (the kid's characters need no unescaping, so the
 * result is the one jansson would give). Anything else takes the full path. */
static bool canonical_header(const uint8_t *raw, size_t n, char *kid, size_t kidcap) {
    static const char pre[] = "{\"alg\":\"EdDSA\",\"kid\":\"";
    static const char post[] = "\",\"typ\":\"" XC_JWS_TYP "\"}";
    size_t lp = sizeof pre - 1, ls = sizeof post - 1;
    if (n <= lp + ls || n - lp - ls >= kidcap) return false;
    size_t kl = n - lp - ls;
    if (memcmp(raw, pre, lp) || memcmp(raw + lp + kl, post, ls)) return false;
    for (size_t i = 0; i < kl; i++) {
        char c = (char)raw[lp + i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return false;
    }
    memcpy(kid, raw + lp, kl);
    kid[kl] = '\0';
    return true;
}

/* The protected header: exactly alg=EdDSA, typ, kid. kid is copied out. */
static xc_jws_code check_header(const char *seg, size_t n, char *kid, size_t kidcap, fs_err *e) {
    uint8_t raw[HDR_MAX * 2];
    size_t rawlen;
    if (n > XC_B64_LEN(sizeof raw))
        return jfail(e, XC_JWS_HEADER_JSON, "protected header longer than %zu bytes", sizeof raw);
    if (!xc_b64_decode(seg, n, raw, sizeof raw, &rawlen))
        return jfail(e, XC_JWS_BASE64, "protected header is not base64url without padding");
    if (canonical_header(raw, rawlen, kid, kidcap)) return XC_JWS_OK;
    json_error_t jerr;
    json_t *h = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!h || !json_is_object(h)) {
        json_decref(h);
        return jfail(e, XC_JWS_HEADER_JSON, "protected header is not a JSON object%s%s",
                     h ? "" : ": ", h ? "" : jerr.text);
    }
    xc_jws_code c = XC_JWS_OK;
    json_t *alg = json_object_get(h, "alg"), *typ = json_object_get(h, "typ"),
           *k = json_object_get(h, "kid");
    const char *key;
    json_t *v;
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0) {
        char shown[24];
        snprintf(shown, sizeof shown, "%s", json_is_string(alg) ? json_string_value(alg) : "(none)");
        c = jfail(e, XC_JWS_ALG, "alg '%s' refused, only EdDSA is accepted", shown);
    } else if (!json_is_string(typ) || strcmp(json_string_value(typ), XC_JWS_TYP) != 0) {
        c = jfail(e, XC_JWS_TYP_BAD, "typ must be " XC_JWS_TYP);
    } else if (!json_is_string(k) || json_string_length(k) == 0) {
        c = jfail(e, XC_JWS_KID_MISSING, "no kid in the protected header");
    } else if (json_string_length(k) >= kidcap) {
        c = jfail(e, XC_JWS_KID_UNKNOWN, "kid of %zu bytes is no registry key id", json_string_length(k));
    } else {
        memcpy(kid, json_string_value(k), json_string_length(k) + 1);
        json_object_foreach(h, key, v) {
            if (strcmp(key, "alg") && strcmp(key, "typ") && strcmp(key, "kid")) {
                char shown[24];
                snprintf(shown, sizeof shown, "%s", key);
                c = jfail(e, XC_JWS_HEADER_PARAM, "header parameter '%s' not accepted (only alg, kid, typ)", shown);
                break;
            }
        }
    }
    json_decref(h);
    return c;
}

xc_jws_code xc_jws_verify(const char *jws, size_t len, const xc_registry *reg, xc_verified *out,
                          xc_report *r, fs_err *e) {
    memset(out, 0, sizeof *out);
    if (r) xc_report_clear(r);
    if (len > XC_JWS_MAX_BYTES)
        return jfail(e, XC_JWS_OVERSIZED, "%zu bytes, at most %d accepted", len, XC_JWS_MAX_BYTES);
    const char *d1 = memchr(jws, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)))
        return jfail(e, XC_JWS_SEGMENTS, "not three dot-separated segments (header.payload.signature)");
    size_t hl = (size_t)(d1 - jws), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - jws);

    char kid[XC_KID_LEN + 2];
    xc_jws_code c = check_header(jws, hl, kid, sizeof kid, e);
    if (c != XC_JWS_OK) return c;

    const xc_member *m = xc_registry_find(reg, kid, strlen(kid));
    if (!m) return jfail(e, XC_JWS_KID_UNKNOWN, "kid '%s' is not in the trust registry", kid);
    if (m->revoked)
        return jfail(e, XC_JWS_REVOKED, "kid '%s' of %s is revoked in the trust registry", kid, m->issuer);

    uint8_t sig[crypto_sign_BYTES + 1];
    size_t siglen;
    /* base64url, but longer than sig holds: the decoder would call it "not
     * base64url", yet what is wrong is its length */
    if (sl > XC_B64_LEN(sizeof sig) && b64url_text(d2 + 1, sl))
        return jfail(e, XC_JWS_SIGNATURE, "signature of %zu characters, Ed25519 needs %d (64 bytes)", sl,
                     (int)XC_B64_LEN(crypto_sign_BYTES));
    if (!xc_b64_decode(d2 + 1, sl, sig, sizeof sig, &siglen))
        return jfail(e, XC_JWS_BASE64, "signature is not base64url without padding");
    if (siglen != crypto_sign_BYTES)
        return jfail(e, XC_JWS_SIGNATURE, "signature is %zu bytes, Ed25519 needs 64", siglen);

    if (pl > XC_B64_LEN(XC_EVENT_MAX_BYTES))
        return jfail(e, XC_JWS_OVERSIZED, "payload larger than %d bytes", XC_EVENT_MAX_BYTES);
    char *payload = malloc(pl / 4 * 3 + 3);
    if (!payload) return jfail(e, XC_JWS_OVERSIZED, "out of memory for the payload");
    size_t plen;
    if (!xc_b64_decode(d1 + 1, pl, (uint8_t *)payload, pl / 4 * 3 + 3, &plen)) {
        free(payload);
        return jfail(e, XC_JWS_BASE64, "payload is not base64url without padding");
    }
    if (crypto_sign_verify_detached(sig, (const uint8_t *)jws, (size_t)(d2 - jws), m->pk) != 0) {
        free(payload);
        return jfail(e, XC_JWS_SIGNATURE, "Ed25519 signature does not verify under kid '%s' (%s)",
                     kid, m->issuer);
    }
    fs_err pe;
    if (xc_event_parse(payload, plen, &out->ev, r, &pe) != FS_OK) {
        free(payload);
        return jfail(e, XC_JWS_PAYLOAD, "%s", pe.msg);
    }
    if (strcmp(out->ev.issuer, m->issuer) != 0) {
        c = jfail(e, XC_JWS_ISSUER_MISMATCH, "event issuer '%s' is not the key owner '%s'",
                  out->ev.issuer, m->issuer);
        xc_event_free(&out->ev);
        free(payload);
        return c;
    }
    out->payload = payload;
    out->payload_len = plen;
    out->member = m;
    return XC_JWS_OK;
}

void xc_verified_free(xc_verified *v) {
    xc_event_free(&v->ev);
    free(v->payload);
    memset(v, 0, sizeof *v);
}
