/*
 * cap_esp.c -- encrypted ESP read with the security associations' keys.
 *
 * VoLTE's Gm (UE to P-CSCF, 3GPP TS 33.203) runs SIP in ESP transport mode,
 * often encrypted (AES-CBC or 3DES-CBC with HMAC-SHA-1-96 or HMAC-MD5-96);
 * VoWiFi's SWu (UE to ePDG, IKEv2) in tunnel mode, usually AES-GCM or
 * AES-CBC. Whoever holds the keys -- the P-CSCF, the ePDG, a test UE -- can
 * hand them to fs38 in the file Wireshark reads them from (its esp_sa
 * table), one security association per line:
 *
 *   "IPv4","10.9.0.1","10.9.0.100","0x00001001","AES-CBC [RFC3602]","0x<key>",
 *       "HMAC-SHA-1-96 [RFC2404]","0x<key>"
 *
 * (one line: protocol IPv4 or IPv6, source and destination addresses or
 * "*", the SPI in hex or "*", encryption and its key, authentication and
 * its key; '#' starts a comment line).
 *
 * Owns: reading that file (cap_esp_sas_load/parse: every field checked,
 * the first bad line named), the lookup of a packet's SA (exact SPIs by
 * binary search, then the wildcard ones in file order), the integrity check
 * (HMAC, or the GCM tag), decryption (OpenSSL EVP: AES-CBC, 3DES-CBC,
 * AES-CTR, AES-GCM; NULL), and the trailer (padding, next header).
 * Must not touch: where the plaintext goes (cap_decode.c decodes it as
 * NULL-encrypted ESP's), the heuristic for NULL encryption without keys
 * (cap_tunnel.c), statistics.
 *
 * Not read: extended sequence numbers (the high 32 bits are not on the
 * wire), and the other ciphers of Wireshark's list (DES, CAST5, Blowfish,
 * Twofish), refused when the file is read.
 */
#include <errno.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cap.h"

#define ESP_MAX_SAS 65536
#define ESP_MAX_LINE 1024

typedef enum { ENC_NULL, ENC_AES_CBC, ENC_3DES_CBC, ENC_AES_CTR, ENC_AES_GCM } esp_enc;

typedef struct esp_sa {
    uint8_t family;            /* 4 or 6 */
    bool any_src, any_dst, any_spi;
    uint8_t src[16], dst[16];
    uint32_t spi;
    esp_enc enc;
    uint8_t enc_key[32 + 4];   /* AES-CTR and AES-GCM: the key, then the 4-byte nonce/salt */
    uint8_t enc_key_len;       /* the cipher's key, without the salt */
    const char *cipher;        /* OpenSSL's name of the cipher, NULL for NULL */
    EVP_CIPHER *evp;           /* fetched once, when the file is read */
    uint32_t order;            /* line in the file: wildcards are tried in file order */
    uint8_t iv_len, block;
    uint8_t icv_len;           /* bytes at the end: the HMAC's or the GCM tag */
    const char *digest;        /* HMAC's digest, NULL: no check (NULL, ANY n bit, GCM) */
    uint8_t auth_key[128];
    uint8_t auth_key_len;
} esp_sa;

struct cap_esp_sas {
    esp_sa *sa;                /* exact SPIs sorted by SPI, then the wildcard ones */
    uint32_t n, nexact;
    EVP_MAC *hmac;             /* fetched once when an SA has an HMAC */
};

/* An SA's keyed contexts: the cipher's key schedule and the HMAC's key are
 * set up once, each packet only sets its IV or restarts the MAC. */
typedef struct sa_ctx {
    EVP_CIPHER_CTX *cipher;
    EVP_MAC_CTX *mac;
} sa_ctx;

/* A decoder's own, for one set of SAs (OpenSSL contexts are not shared
 * between threads): the SAs' contexts, made at each SA's first packet, and
 * the plaintext. */
struct cap_esp_scratch {
    const cap_esp_sas *sas;    /* the set it was made for */
    sa_ctx *ctx;               /* sas->n of them */
    uint8_t out[CAP_ESP_MAX_PLAIN];
};

cap_esp_scratch *cap_esp_scratch_new(const cap_esp_sas *s) {
    cap_esp_scratch *x = malloc(sizeof *x);
    if (!x) return NULL;
    x->sas = s;
    if (!(x->ctx = calloc(s->n ? s->n : 1, sizeof *x->ctx))) {
        free(x);
        return NULL;
    }
    return x;
}

void cap_esp_scratch_free(cap_esp_scratch *x) {
    if (!x) return;
    for (uint32_t i = 0; i < x->sas->n; i++) {
        EVP_CIPHER_CTX_free(x->ctx[i].cipher);
        EVP_MAC_CTX_free(x->ctx[i].mac);
    }
    free(x->ctx);
    OPENSSL_cleanse(x->out, sizeof x->out);
    free(x);
}

/* ---- the file ------------------------------------------------------------------- */

typedef struct enc_name {
    const char *name;
    esp_enc enc;
    uint8_t icv; /* GCM: its tag length */
} enc_name;

static const enc_name enc_names[] = {
    {"NULL", ENC_NULL, 0},
    {"AES-CBC [RFC3602]", ENC_AES_CBC, 0},
    {"TripleDES-CBC [RFC2451]", ENC_3DES_CBC, 0},
    {"AES-CTR [RFC3686]", ENC_AES_CTR, 0},
    {"AES-GCM with 8 octet ICV [RFC4106]", ENC_AES_GCM, 8},
    {"AES-GCM with 12 octet ICV [RFC4106]", ENC_AES_GCM, 12},
    {"AES-GCM with 16 octet ICV [RFC4106]", ENC_AES_GCM, 16},
    {"AES-GCM [RFC4106]", ENC_AES_GCM, 16},
};

typedef struct auth_name {
    const char *name;
    const char *digest; /* NULL: not checked */
    uint8_t icv;
} auth_name;

static const auth_name auth_names[] = {
    {"NULL", NULL, 0},
    {"HMAC-SHA-1-96 [RFC2404]", "SHA1", 12},
    {"HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]", "SHA256", 12},
    {"HMAC-SHA-256-128 [RFC4868]", "SHA256", 16},
    {"HMAC-SHA-384-192 [RFC4868]", "SHA384", 24},
    {"HMAC-SHA-512-256 [RFC4868]", "SHA512", 32},
    {"HMAC-MD5-96 [RFC2403]", "MD5", 12},
    {"ANY 64 bit authentication [no checking]", NULL, 8},
    {"ANY 96 bit authentication [no checking]", NULL, 12},
    {"ANY 128 bit authentication [no checking]", NULL, 16},
    {"ANY 192 bit authentication [no checking]", NULL, 24},
    {"ANY 256 bit authentication [no checking]", NULL, 32},
};

/* The fields of one line: "a","b",... (quotes required, no quote inside a
 * field, blanks around the commas allowed). Returns how many, -1 if the line
 * is not of that form. Fields are NUL-terminated in place. */
static int split_fields(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p != '"' || n == max) return -1;
        f[n++] = ++p;
        char *q = strchr(p, '"');
        if (!q) return -1;
        *q = 0;
        p = q + 1;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == 0) return n;
        if (*p++ != ',') return -1;
    }
}

/* "0x" and an even number of hex digits into out (at most max bytes). */
static bool parse_key(const char *s, uint8_t *out, size_t max, uint8_t *len) {
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
    size_t n = strlen(s + 2);
    if (n % 2 || n / 2 > max || !fs_unhex(s + 2, n / 2, out)) return false;
    *len = (uint8_t)(n / 2);
    return true;
}

static bool parse_addr(const char *s, uint8_t family, bool *any, uint8_t *ip) {
    if (!strcmp(s, "*")) return *any = true;
    fs_addr a;
    if (!fs_addr_parse(s, &a) || a.family != family) return false;
    memcpy(ip, a.ip, 16);
    return true;
}

static bool parse_spi(const char *s, bool *any, uint32_t *spi) {
    if (!strcmp(s, "*")) return *any = true;
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2] || strlen(s + 2) > 8) return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s + 2, &end, 16);
    if (*end || errno) return false;
    *spi = (uint32_t)v;
    return true;
}

/* The cipher of an SA with a key of key_len bytes (with the salt for CTR and
 * GCM): its OpenSSL name, IV and block lengths. NULL message: fine. */
static const char *set_cipher(esp_sa *sa, uint8_t key_len) {
    uint8_t k = key_len;
    switch (sa->enc) {
    case ENC_NULL:
        if (key_len) return "NULL encryption takes no key (\"\")";
        return NULL;
    case ENC_3DES_CBC:
        if (k != 24) return "TripleDES-CBC takes a 24-byte (192-bit) key";
        sa->cipher = "DES-EDE3-CBC", sa->iv_len = 8, sa->block = 8;
        break;
    case ENC_AES_CBC:
        sa->cipher = k == 16 ? "AES-128-CBC" : k == 24 ? "AES-192-CBC" : k == 32 ? "AES-256-CBC" : NULL;
        if (!sa->cipher) return "AES-CBC takes a 16, 24 or 32-byte key";
        sa->iv_len = 16, sa->block = 16;
        break;
    case ENC_AES_CTR:
    case ENC_AES_GCM:
        k -= 4; /* the last 4 bytes: RFC 3686's nonce, RFC 4106's salt */
        if (key_len < 4 || (k != 16 && k != 24 && k != 32))
            return sa->enc == ENC_AES_CTR ? "AES-CTR takes a 20, 28 or 36-byte key (the AES key, then the 4-byte nonce)"
                                          : "AES-GCM takes a 20, 28 or 36-byte key (the AES key, then the 4-byte salt)";
        if (sa->enc == ENC_AES_CTR)
            sa->cipher = k == 16 ? "AES-128-CTR" : k == 24 ? "AES-192-CTR" : "AES-256-CTR";
        else
            sa->cipher = k == 16 ? "AES-128-GCM" : k == 24 ? "AES-192-GCM" : "AES-256-GCM";
        sa->iv_len = 8, sa->block = 1;
        break;
    }
    sa->enc_key_len = k;
    return NULL;
}

/* One line into sa; NULL, or what is wrong with it. */
static const char *parse_sa(char *line, esp_sa *sa) {
    char *f[12];
    int n = split_fields(line, f, 12);
    if (n < 8)
        return "expected 8 quoted fields: \"IPv4\",\"SRC\",\"DST\",\"0xSPI\",\"ENCRYPTION\",\"0xKEY\","
               "\"AUTHENTICATION\",\"0xKEY\" (Wireshark's esp_sa)";
    memset(sa, 0, sizeof *sa);
    if (!strcmp(f[0], "IPv4")) sa->family = 4;
    else if (!strcmp(f[0], "IPv6")) sa->family = 6;
    else return "protocol (field 1) must be IPv4 or IPv6";
    if (!parse_addr(f[1], sa->family, &sa->any_src, sa->src))
        return "source (field 2): not an address of that protocol, nor *";
    if (!parse_addr(f[2], sa->family, &sa->any_dst, sa->dst))
        return "destination (field 3): not an address of that protocol, nor *";
    if (!parse_spi(f[3], &sa->any_spi, &sa->spi)) return "SPI (field 4): expected 0x and 1-8 hex digits, or *";
    const enc_name *en = NULL;
    for (size_t i = 0; i < sizeof enc_names / sizeof *enc_names; i++)
        if (!strcmp(f[4], enc_names[i].name)) en = &enc_names[i];
    if (!en)
        return "encryption (field 5): not one fs38 reads (NULL, AES-CBC [RFC3602], TripleDES-CBC [RFC2451], "
               "AES-CTR [RFC3686], AES-GCM with 8/12/16 octet ICV [RFC4106])";
    sa->enc = en->enc;
    uint8_t key_len = 0;
    if (f[5][0] && !parse_key(f[5], sa->enc_key, sizeof sa->enc_key, &key_len))
        return "encryption key (field 6): expected 0x and hex digits";
    const char *bad = set_cipher(sa, key_len);
    if (bad) return bad;
    const auth_name *an = NULL;
    for (size_t i = 0; i < sizeof auth_names / sizeof *auth_names; i++)
        if (!strcmp(f[6], auth_names[i].name)) an = &auth_names[i];
    if (!an) return "authentication (field 7): not one fs38 reads (NULL, HMAC-SHA-1-96, HMAC-SHA-256-96/128, "
                    "HMAC-SHA-384-192, HMAC-SHA-512-256, HMAC-MD5-96, ANY n bit)";
    if (f[7][0] && !parse_key(f[7], sa->auth_key, sizeof sa->auth_key, &sa->auth_key_len))
        return "authentication key (field 8): expected 0x and hex digits (at most 128 bytes)";
    if (sa->enc == ENC_AES_GCM) {
        if (an->icv) return "AES-GCM authenticates itself: authentication (field 7) must be NULL";
        sa->icv_len = en->icv;
    } else {
        sa->icv_len = an->icv;
        sa->digest = an->digest;
        if (sa->digest && !sa->auth_key_len) return "authentication key (field 8): missing for an HMAC";
    }
    return NULL;
}

/* Exact SPIs by SPI, then the wildcards; equals in file order. */
static int by_spi(const void *a, const void *b) {
    const esp_sa *x = a, *y = b;
    if (x->any_spi != y->any_spi) return x->any_spi ? 1 : -1;
    if (!x->any_spi && x->spi != y->spi) return x->spi < y->spi ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

void cap_esp_sas_free(cap_esp_sas *s) {
    if (!s) return;
    for (uint32_t i = 0; i < s->n; i++) EVP_CIPHER_free(s->sa[i].evp);
    EVP_MAC_free(s->hmac);
    if (s->sa) OPENSSL_cleanse(s->sa, (size_t)s->n * sizeof *s->sa);
    free(s->sa);
    free(s);
}

cap_esp_sas *cap_esp_sas_parse(const char *buf, size_t len, const char *name, fs_err *e) {
    cap_esp_sas *s = calloc(1, sizeof *s);
    char line[ESP_MAX_LINE + 1];
    uint32_t cap = 0;
    long lineno = 0;
    if (!s) goto nomem;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(buf + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - buf) : len, n = end - at;
        lineno++;
        if (memchr(buf + at, 0, n)) {
            fs_fail(e, FS_ERR_FORMAT, "%s:%ld: a NUL byte: not a text file", name, lineno);
            goto fail;
        }
        if (n > ESP_MAX_LINE) {
            fs_fail(e, FS_ERR_FORMAT, "%s:%ld: line longer than %d bytes", name, lineno, ESP_MAX_LINE);
            goto fail;
        }
        memcpy(line, buf + at, n);
        line[n] = 0;
        at = end + 1;
        if (n && line[n - 1] == '\r') line[--n] = 0;
        size_t lead = strspn(line, " \t");
        if (!line[lead] || line[lead] == '#') continue;
        if (s->n == ESP_MAX_SAS) {
            fs_fail(e, FS_ERR_LIMIT, "%s:%ld: more than %d security associations", name, lineno, ESP_MAX_SAS);
            goto fail;
        }
        if (s->n == cap) {
            uint32_t ncap = cap ? cap * 2 : 16;
            esp_sa *v = realloc(s->sa, (size_t)ncap * sizeof *v);
            if (!v) goto nomem;
            s->sa = v;
            cap = ncap;
        }
        esp_sa *sa = &s->sa[s->n];
        const char *bad = parse_sa(line + lead, sa);
        OPENSSL_cleanse(line, sizeof line);
        if (bad) {
            fs_fail(e, FS_ERR_FORMAT, "%s:%ld: %s", name, lineno, bad);
            goto fail;
        }
        sa->order = s->n++;
        if (sa->cipher && !(sa->evp = EVP_CIPHER_fetch(NULL, sa->cipher, NULL))) {
            fs_fail(e, FS_ERR_CONFIG, "%s:%ld: this OpenSSL does not provide %s", name, lineno, sa->cipher);
            goto fail;
        }
        if (sa->digest && !s->hmac && !(s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
            fs_fail(e, FS_ERR_CONFIG, "%s:%ld: this OpenSSL does not provide HMAC", name, lineno);
            goto fail;
        }
    }
    if (s->n) qsort(s->sa, s->n, sizeof *s->sa, by_spi);
    while (s->nexact < s->n && !s->sa[s->nexact].any_spi) s->nexact++;
    return s;
nomem:
    fs_fail(e, FS_ERR_NOMEM, "%s: out of memory for the ESP security associations", name);
fail:
    OPENSSL_cleanse(line, sizeof line);
    cap_esp_sas_free(s);
    return NULL;
}

cap_esp_sas *cap_esp_sas_load(const char *path, fs_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fs_fail(e, FS_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            if (cap >= (64u << 20)) {
                fs_fail(e, FS_ERR_LIMIT, "%s: larger than 64 MiB: not an ESP SA file", path);
                OPENSSL_cleanse(buf, len);
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) OPENSSL_cleanse(buf, len), free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!buf || read_error) {
        fs_fail(e, buf ? FS_ERR_IO : FS_ERR_NOMEM, "%s: %s", path, buf ? "read error" : "out of memory");
        if (buf) OPENSSL_cleanse(buf, len);
        free(buf);
        return NULL;
    }
    cap_esp_sas *s = cap_esp_sas_parse(buf, len, path, e);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return s;
}

uint32_t cap_esp_sas_count(const cap_esp_sas *s) { return s ? s->n : 0; }

/* ---- packets -------------------------------------------------------------------- */

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool sa_matches(const esp_sa *sa, uint8_t family, const uint8_t *src, const uint8_t *dst) {
    size_t alen = family == 4 ? 4 : 16;
    return sa->family == family && (sa->any_src || !memcmp(sa->src, src, alen)) &&
           (sa->any_dst || !memcmp(sa->dst, dst, alen));
}

/* The SA of (src, dst, spi): among the exact SPIs, then the wildcards. */
static const esp_sa *find_sa(const cap_esp_sas *s, uint8_t family, const uint8_t *src, const uint8_t *dst,
                             uint32_t spi) {
    uint32_t lo = 0, hi = s->nexact;
    while (lo < hi) { /* the first with this SPI */
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->sa[mid].spi < spi) lo = mid + 1;
        else hi = mid;
    }
    for (uint32_t i = lo; i < s->nexact && s->sa[i].spi == spi; i++)
        if (sa_matches(&s->sa[i], family, src, dst)) return &s->sa[i];
    for (uint32_t i = s->nexact; i < s->n; i++)
        if (sa_matches(&s->sa[i], family, src, dst)) return &s->sa[i];
    return NULL;
}

static bool hmac_ok(const cap_esp_sas *s, const esp_sa *sa, sa_ctx *c, const uint8_t *p, uint32_t n) {
    if (!c->mac) {
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)sa->digest, 0),
                               OSSL_PARAM_construct_end()};
        if (!(c->mac = EVP_MAC_CTX_new(s->hmac))) return false;
        if (!EVP_MAC_init(c->mac, sa->auth_key, sa->auth_key_len, params)) {
            EVP_MAC_CTX_free(c->mac);
            c->mac = NULL;
            return false;
        }
    } else if (!EVP_MAC_init(c->mac, NULL, 0, NULL)) { /* the same key again */
        return false;
    }
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    if (!EVP_MAC_update(c->mac, p, n - sa->icv_len) || !EVP_MAC_final(c->mac, mac, &mac_len, sizeof mac) ||
        mac_len < sa->icv_len)
        return false;
    return CRYPTO_memcmp(mac, p + n - sa->icv_len, sa->icv_len) == 0;
}

/* The SA's cipher context, keyed (made the first time). */
static EVP_CIPHER_CTX *keyed_cipher(const esp_sa *sa, sa_ctx *c) {
    if (c->cipher) return c->cipher;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_DecryptInit_ex2(ctx, sa->evp, NULL, NULL, NULL) ||
        (sa->enc == ENC_AES_GCM && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL)) ||
        !EVP_DecryptInit_ex2(ctx, NULL, sa->enc_key, NULL, NULL)) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    EVP_CIPHER_CTX_set_padding(ctx, 0); /* ESP's own padding is in the plaintext */
    return c->cipher = ctx;
}

/* Decrypts ct (n bytes) into out with the SA's cipher; iv as the packet
 * carries it. GCM: aad and the tag after ct. */
static cap_esp_status run_cipher(const esp_sa *sa, EVP_CIPHER_CTX *ctx, const uint8_t *iv, const uint8_t *ct,
                                 uint32_t n, const uint8_t *aad, const uint8_t *tag, uint8_t *out) {
    uint8_t nonce[16];
    const uint8_t *use_iv = iv;
    if (sa->enc == ENC_AES_CTR) { /* RFC 3686: nonce, IV, block counter from 1 */
        memcpy(nonce, sa->enc_key + sa->enc_key_len, 4);
        memcpy(nonce + 4, iv, 8);
        memcpy(nonce + 12, "\0\0\0\1", 4);
        use_iv = nonce;
    } else if (sa->enc == ENC_AES_GCM) { /* RFC 4106: salt, IV */
        memcpy(nonce, sa->enc_key + sa->enc_key_len, 4);
        memcpy(nonce + 4, iv, 8);
        use_iv = nonce;
    }
    int len = 0, fin = 0;
    if (!ctx || !EVP_DecryptInit_ex2(ctx, NULL, NULL, use_iv, NULL)) return CAP_ESP_BAD; /* the key stays */
    if (sa->enc == ENC_AES_GCM && !EVP_DecryptUpdate(ctx, NULL, &len, aad, 8)) return CAP_ESP_BAD;
    if (!EVP_DecryptUpdate(ctx, out, &len, ct, (int)n)) return CAP_ESP_BAD;
    if (sa->enc == ENC_AES_GCM &&
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sa->icv_len, (void *)(uintptr_t)tag))
        return CAP_ESP_BAD;
    if (!EVP_DecryptFinal_ex(ctx, out + len, &fin))
        return sa->enc == ENC_AES_GCM ? CAP_ESP_AUTH_FAILED : CAP_ESP_BAD;
    return (uint32_t)(len + fin) == n ? CAP_ESP_OK : CAP_ESP_BAD;
}

cap_esp_status cap_esp_decrypt(const cap_esp_sas *s, cap_esp_scratch *x, uint8_t family, const uint8_t *src,
                               const uint8_t *dst, const uint8_t *p, uint32_t n, const uint8_t **plain,
                               uint32_t *len, uint8_t *next, uint32_t *spi_out) {
    if (!s || x->sas != s || n < 8 || n - 8 > CAP_ESP_MAX_PLAIN) return CAP_ESP_NO_SA;
    uint8_t *out = x->out;
    uint32_t spi = rd32(p);
    const esp_sa *sa = find_sa(s, family, src, dst, spi);
    if (!sa) return CAP_ESP_NO_SA;
    *spi_out = spi;
    if (n < 8u + sa->iv_len + sa->icv_len + 2) return CAP_ESP_BAD;
    uint32_t body = n - 8 - sa->iv_len - sa->icv_len; /* ciphertext (or clear text, NULL) */
    if (sa->block > 1 && body % sa->block) return CAP_ESP_BAD;
    sa_ctx *c = &x->ctx[sa - s->sa];
    if (sa->digest && !hmac_ok(s, sa, c, p, n)) return CAP_ESP_AUTH_FAILED;
    const uint8_t *ct = p + 8 + sa->iv_len;
    if (sa->enc == ENC_NULL) {
        memcpy(out, ct, body);
    } else {
        cap_esp_status st = run_cipher(sa, keyed_cipher(sa, c), p + 8, ct, body, p, ct + body, out);
        if (st != CAP_ESP_OK) return st;
    }
    /* trailer: padding 1, 2, 3 ... (RFC 4303's default, which every cipher
     * here uses), its length, the next header */
    uint32_t pad = out[body - 2];
    if (pad > body - 2) return CAP_ESP_BAD;
    for (uint32_t k = 0; k < pad; k++)
        if (out[body - 2 - pad + k] != k + 1) return CAP_ESP_BAD;
    *next = out[body - 1];
    *len = body - 2 - pad;
    *plain = out;
    return CAP_ESP_OK;
}
