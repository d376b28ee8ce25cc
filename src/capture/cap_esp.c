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
 * its key; '#' starts a comment line) -- or as Linux prints its own,
 * `ip xfrm state` (Kamailio's ims_ipsec_pcscf and strongSwan key it).
 *
 * Owns: reading that file in either format (cap_esp_sas_load/parse: every
 * field checked, the first bad line named), the lookup of a packet's SA (exact SPIs by
 * binary search, then the wildcard ones in file order), the integrity check
 * (HMAC, or the GCM tag), decryption (OpenSSL EVP: AES-CBC, 3DES-CBC,
 * AES-CTR, AES-GCM; NULL), and the trailer (padding, next header).
 * Must not touch: where the plaintext goes (cap_decode.c decodes it as
 * NULL-encrypted ESP's), the heuristic for NULL encryption without keys
 * (cap_tunnel.c), statistics.
 *
 * Extended sequence numbers (RFC 4303 2.2.1, `flag esn` in `ip xfrm
 * state`, when IKEv2 negotiated them, as libreswan often does): the high
 * 32 bits are on no wire, yet the HMAC covers them and GCM's AAD holds
 * them. Each decoder
 * keeps, per SA, the highest sequence number it verified, starting from
 * the one the dump names, and takes a packet's high bits from the low ones
 * as RFC 4303 Appendix A does, with a window of 2^31: a capture may begin
 * or end 2^31 packets either side of the dump. Wireshark's esp_sa table
 * has no ESN column.
 *
 * Not read: the other ciphers of Wireshark's list (DES, CAST5, Blowfish,
 * Twofish), refused when the file is read.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
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
    bool esn;                  /* extended sequence numbers */
    uint64_t esn_top;          /* the highest sequence number the dump names (seq or oseq) */
} esp_sa;

struct cap_esp_sas {
    esp_sa *sa;                /* exact SPIs sorted by SPI, then the wildcard ones */
    uint32_t n, nexact;
    uint32_t cap;              /* entries allocated (one being parsed may hold keys) */
    EVP_MAC *hmac;             /* fetched once when an SA has an HMAC */
};

/* SAs learned from the traffic (cap_esp_keyring, at the end of this file). */
#define KEYRING_MAX 65536u
#define KEYRING_DEFAULT 16384u

typedef struct kr_replay {
    uint64_t top, seen;        /* as sa_ctx's replay_top and replay_seen */
} kr_replay;

struct cap_esp_keyring {
    pthread_mutex_t lock;
    esp_sa *sa;                /* max slots, filled in turn */
    uint64_t *gen;             /* per slot: changes at every write (0: empty) */
    uint64_t *learned_at;      /* per slot: capture time of what it was learned from */
    kr_replay *replay;         /* per slot: its anti-replay window while out of a decoder's cache */
    uint32_t *next;            /* chains of slots by SPI (UINT32_MAX ends one) */
    uint32_t head[4096];
    uint32_t max, used, cursor;
    uint64_t gens, added;
    EVP_CIPHER *aes_cbc, *des3_cbc; /* fetched once: SAs point at them */
    EVP_MAC *hmac;
};

#define KR_NONE UINT32_MAX
/* Chains by SPI and destination: P-CSCFs hand out SPIs in sequence, UEs
 * pick theirs at random, and many UEs may pick the same. */
static inline uint32_t kr_bucket(uint32_t spi, uint8_t family, const uint8_t *dst) {
    uint32_t d;
    memcpy(&d, dst + (family == 4 ? 0 : 12), 4); /* IPv6: the interface id's end */
    return ((spi ^ d * 0x9e3779b9u) * 2654435761u) >> 20;
}

/* An SA's keyed contexts: the cipher's key schedule and the HMAC's key are
 * set up once, each packet only sets its IV or restarts the MAC. */
typedef struct sa_ctx {
    EVP_CIPHER_CTX *cipher;
    EVP_MAC_CTX *mac;
    uint64_t esn_top;          /* ESN: the highest sequence number verified (first the dump's) */
    uint64_t replay_top;       /* anti-replay: the highest sequence number read, */
    uint64_t replay_seen;      /* and which of the 64 up to it were (bit i: replay_top - i) */
    struct wild_window *wild;  /* an SA with a wildcard (SPI or address "*"): the windows of the SAs it
                                * stood for lately, each with its own sequence numbers (made at its
                                * first packet); replay_top and replay_seen are unused */
    uint32_t wild_next;        /* the one to make room next */
} sa_ctx;

#define WILD_WINDOWS 8u
typedef struct wild_window {
    uint32_t spi;
    uint8_t family, src[16], dst[16];
    bool used;
    uint64_t top, seen;
} wild_window;

#define LEARNED_CACHE 64u
typedef struct learned_sa {
    esp_sa sa;
    uint32_t slot;
    uint64_t gen;              /* the keyring's generation of that slot; 0: empty */
    sa_ctx ctx;
} learned_sa;

/* A decoder's own, for one set of SAs (OpenSSL contexts are not shared
 * between threads): the SAs' contexts, made at each SA's first packet, and
 * the plaintext. */
struct cap_esp_scratch {
    const cap_esp_sas *sas;    /* the set it was made for (NULL: none) */
    sa_ctx *ctx;               /* sas->n of them */
    /* learned SAs (cap_esp_keyring) met lately, by keyring slot: a copy and
     * its keyed contexts, so that packets of many UEs taking turns do not
     * key a cipher each */
    learned_sa learned[LEARNED_CACHE];
    uint8_t out[CAP_ESP_MAX_PLAIN];
};

cap_esp_scratch *cap_esp_scratch_new(const cap_esp_sas *s) {
    cap_esp_scratch *x = malloc(sizeof *x);
    if (!x) return NULL;
    memset(x, 0, offsetof(cap_esp_scratch, out));
    x->sas = s;
    if (!(x->ctx = calloc(s && s->n ? s->n : 1, sizeof *x->ctx))) {
        free(x);
        return NULL;
    }
    for (uint32_t i = 0; s && i < s->n; i++) x->ctx[i].esn_top = s->sa[i].esn_top;
    return x;
}

void cap_esp_scratch_free(cap_esp_scratch *x) {
    if (!x) return;
    for (uint32_t i = 0; x->sas && i < x->sas->n; i++) {
        EVP_CIPHER_CTX_free(x->ctx[i].cipher);
        EVP_MAC_CTX_free(x->ctx[i].mac);
        free(x->ctx[i].wild);
    }
    for (uint32_t i = 0; i < LEARNED_CACHE; i++) {
        EVP_CIPHER_CTX_free(x->learned[i].ctx.cipher);
        EVP_MAC_CTX_free(x->learned[i].ctx.mac);
    }
    free(x->ctx);
    OPENSSL_cleanse(x->learned, sizeof x->learned);
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
    for (const char *d = s + 2; *d; d++) /* hex digits only: strtoul would take "-1", " 1", "0x1" */
        if (!isxdigit((unsigned char)*d)) return false;
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
    if (s->sa) OPENSSL_cleanse(s->sa, (size_t)s->cap * sizeof *s->sa);
    free(s->sa);
    free(s);
}

/* ---- `ip xfrm state` output ------------------------------------------------------
 * What Linux prints of its SAs (Kamailio's ims_ipsec_pcscf, strongSwan and
 * libreswan key them there): a block per SA, "src A dst B" then indented
 * lines, of which "proto esp spi 0x...", "enc", "auth", "auth-trunc" and
 * "aead" are read and the rest (replay-window, sel, lifetime, stats ...)
 * passed over; `ip -s` adds "(...)" notes, which are skipped. */

typedef struct xfrm_block {
    bool open;          /* a "src A dst B" line started one */
    bool skip;          /* not ESP (AH, IPComp): passed over */
    bool has_spi, has_enc, has_aead;
    bool esn_context;   /* after "anti-replay esn context:" */
    uint64_t seq, oseq; /* its counters, high bits and low */
    long line;          /* of its "src" line */
} xfrm_block;

/* Whitespace-separated tokens of line (in place), without ip -s's notes:
 * "(160 bits)" and "(0x00d0c4e3)" are dropped, "0xf4faae1b(4110069275)"
 * keeps its value; an algorithm's parentheses ("cbc(aes)") stay. */
static int xfrm_tokens(char *line, char **tok, int max) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save)) {
        char *paren = strchr(t, '(');
        size_t len = strlen(t);
        if (t[0] == '(' || (!paren && t[len - 1] == ')')) continue; /* a note, or its end */
        if (paren && t[0] == '0' && t[1] == 'x') *paren = 0;
        tok[n++] = t;
    }
    return n;
}

static bool xfrm_key(const char *t, uint8_t *out, size_t max, uint8_t *len) {
    if (!strcmp(t, "0x")) return *len = 0, true; /* ip's print of an empty key */
    return parse_key(t, out, max, len);
}

/* "flag af-unspec esn": does the flag list hold esn? */
static bool xfrm_flag_esn(char **tok, int n) {
    int at = 0;
    while (at < n && strcmp(tok[at], "flag")) at++;
    for (at++; at < n; at++)
        if (!strcmp(tok[at], "esn")) return true;
    return false;
}

/* The counters of an ESN context: "seq-hi 0x0, seq 0x1d, oseq-hi 0x0, oseq
 * 0x0" (newer kernels print only a direction's pair, on the context's own
 * line or the next). NULL, or what is wrong. */
static const char *xfrm_esn_counters(char **tok, int n, xfrm_block *b) {
    for (int i = 0; i + 1 < n; i++) {
        bool hi = !strcmp(tok[i], "seq-hi") || !strcmp(tok[i], "oseq-hi");
        bool out = tok[i][0] == 'o';
        if (!hi && strcmp(tok[i], "seq") && strcmp(tok[i], "oseq")) continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(tok[i + 1], &end, 0);
        if (end == tok[i + 1] || (*end && strcmp(end, ",")) || errno || v > UINT32_MAX)
            return "anti-replay esn context: expected seq-hi 0x.., seq 0x.. (32-bit counters)";
        uint64_t *c = out ? &b->oseq : &b->seq;
        *c = hi ? (*c & 0xffffffffu) | (uint64_t)v << 32 : (*c & ~(uint64_t)0xffffffffu) | v;
        i++;
    }
    return NULL;
}

/* One indented line of the block into sa; NULL, or what is wrong. */
static const char *xfrm_line(char *line, esp_sa *sa, xfrm_block *b) {
    char *tok[16];
    int n = xfrm_tokens(line, tok, 16);
    if (n == 0) return NULL;
    uint8_t key_len = 0;
    if (!strcmp(tok[0], "replay-window") || !strcmp(tok[0], "flag")) {
        if (xfrm_flag_esn(tok, n)) sa->esn = true;
    } else if (!strcmp(tok[0], "anti-replay")) {
        b->esn_context = n >= 2 && !strcmp(tok[1], "esn");
        if (b->esn_context) return xfrm_esn_counters(tok + 2, n - 2, b);
    } else if (b->esn_context && (!strcmp(tok[0], "seq-hi") || !strcmp(tok[0], "oseq-hi"))) {
        return xfrm_esn_counters(tok, n, b);
    } else if (!strcmp(tok[0], "proto")) {
        if (n < 2 || strcmp(tok[1], "esp")) return b->skip = true, NULL;
        if (n < 4 || strcmp(tok[2], "spi") || !parse_spi(tok[3], &sa->any_spi, &sa->spi) || sa->any_spi)
            return "proto esp: expected spi 0x and 1-8 hex digits";
        b->has_spi = true;
    } else if (!strcmp(tok[0], "enc")) {
        static const struct { const char *name; esp_enc enc; } encs[] = {
            {"cbc(aes)", ENC_AES_CBC}, {"cbc(des3_ede)", ENC_3DES_CBC},
            {"rfc3686(ctr(aes))", ENC_AES_CTR}, {"ecb(cipher_null)", ENC_NULL}};
        size_t k = 0;
        while (n >= 2 && k < sizeof encs / sizeof *encs && strcmp(tok[1], encs[k].name)) k++;
        if (n < 2 || k == sizeof encs / sizeof *encs)
            return "enc: not one fs38 reads (cbc(aes), cbc(des3_ede), rfc3686(ctr(aes)), ecb(cipher_null))";
        sa->enc = encs[k].enc;
        if (n >= 3 && !xfrm_key(tok[2], sa->enc_key, sizeof sa->enc_key, &key_len)) return "enc: bad key";
        const char *bad = set_cipher(sa, key_len);
        if (bad) return bad;
        b->has_enc = true;
    } else if (!strcmp(tok[0], "auth") || !strcmp(tok[0], "auth-trunc")) {
        /* "auth" keeps the kernel's default ICV: 96 bits but for SHA-384/512;
         * "auth-trunc NAME KEY BITS" names it, up to the digest's length
         * (digest_null's is 0, and its empty key may be left out) */
        static const struct { const char *name, *digest; uint8_t icv, full; } auths[] = {
            {"hmac(sha1)", "SHA1", 12, 20}, {"hmac(md5)", "MD5", 12, 16}, {"hmac(sha256)", "SHA256", 12, 32},
            {"hmac(sha384)", "SHA384", 24, 48}, {"hmac(sha512)", "SHA512", 32, 64}, {"digest_null", NULL, 0, 0}};
        bool trunc = !strcmp(tok[0], "auth-trunc");
        size_t k = 0;
        while (n >= 2 && k < sizeof auths / sizeof *auths && strcmp(tok[1], auths[k].name)) k++;
        if (n < 2 || k == sizeof auths / sizeof *auths)
            return "auth: not one fs38 reads (hmac(sha1), hmac(md5), hmac(sha256/384/512), digest_null)";
        sa->digest = auths[k].digest;
        sa->icv_len = auths[k].icv;
        if (n >= (trunc ? 4 : 3) && !xfrm_key(tok[2], sa->auth_key, sizeof sa->auth_key, &sa->auth_key_len))
            return "auth: bad key (0x and hex digits, at most 128 bytes)";
        if (sa->digest && !sa->auth_key_len) return "auth: an HMAC without its key";
        if (trunc) {
            char *end = NULL;
            long bits = n >= 3 ? strtol(tok[n - 1], &end, 10) : -1;
            if (!end || *end || bits < (sa->digest ? 32 : 0) || bits > auths[k].full * 8 || bits % 8)
                return sa->digest ? "auth-trunc: expected the ICV length in bits (32 up to the digest's, whole bytes)"
                                  : "auth-trunc: digest_null's ICV length is 0 bits";
            sa->icv_len = (uint8_t)(bits / 8);
        }
    } else if (!strcmp(tok[0], "aead")) {
        if (n < 4 || strcmp(tok[1], "rfc4106(gcm(aes))")) return "aead: only rfc4106(gcm(aes)) KEY ICV-BITS is read";
        sa->enc = ENC_AES_GCM;
        if (!xfrm_key(tok[2], sa->enc_key, sizeof sa->enc_key, &key_len)) return "aead: bad key";
        const char *bad = set_cipher(sa, key_len);
        if (bad) return bad;
        long bits = strtol(tok[3], NULL, 10);
        if (bits != 64 && bits != 96 && bits != 128) return "aead: the ICV is 64, 96 or 128 bits";
        sa->icv_len = (uint8_t)(bits / 8);
        b->has_aead = true;
    }
    return NULL;
}

/* "src A dst B" into sa (a fresh block). */
static const char *xfrm_start(char *line, esp_sa *sa, xfrm_block *b) {
    char *tok[8];
    int n = xfrm_tokens(line, tok, 8);
    memset(sa, 0, sizeof *sa);
    *b = (xfrm_block){.open = true};
    fs_addr a, d;
    if (n < 4 || strcmp(tok[2], "dst") || !fs_addr_parse(tok[1], &a) || !fs_addr_parse(tok[3], &d) ||
        a.family != d.family)
        return "expected \"src ADDRESS dst ADDRESS\" (ip xfrm state) of one protocol";
    sa->family = a.family;
    memcpy(sa->src, a.ip, 16);
    memcpy(sa->dst, d.ip, 16);
    return NULL;
}

/* A whole block: NULL if it is an SA to keep (*keep), or what it lacks. */
static const char *xfrm_end(const esp_sa *sa, const xfrm_block *b, bool *keep) {
    *keep = false;
    if (b->skip) return NULL;
    if (!b->has_spi) return "no \"proto esp spi\" line in the block";
    if (!b->has_enc && !b->has_aead) return "no enc or aead line in the block";
    if (b->has_aead && (b->has_enc || sa->digest)) return "aead with enc or an HMAC";
    *keep = true;
    return NULL;
}

/* The block's ESN counters into its SA, when it has extended sequence
 * numbers: the later of what it received and what it sent (an SA carries
 * one direction, the other pair stays 0). */
static void xfrm_esn_top(esp_sa *sa, const xfrm_block *b) {
    if (sa->esn) sa->esn_top = b->seq > b->oseq ? b->seq : b->oseq;
}

/* ---- loading -------------------------------------------------------------------- */

/* Makes room for one more SA in s; false: out of memory or too many (e set). */
static bool room_for_sa(cap_esp_sas *s, const char *name, long lineno, fs_err *e) {
    if (s->n == ESP_MAX_SAS) {
        fs_fail(e, FS_ERR_LIMIT, "%s:%ld: more than %d security associations", name, lineno, ESP_MAX_SAS);
        return false;
    }
    if (s->n < s->cap) return true;
    uint32_t ncap = s->cap ? s->cap * 2 : 16;
    esp_sa *v = malloc((size_t)ncap * sizeof *v); /* not realloc: the old block holds keys to wipe */
    if (!v) {
        fs_fail(e, FS_ERR_NOMEM, "%s: out of memory for the ESP security associations", name);
        return false;
    }
    if (s->sa) {
        memcpy(v, s->sa, (size_t)s->cap * sizeof *v);
        OPENSSL_cleanse(s->sa, (size_t)s->cap * sizeof *s->sa);
        free(s->sa);
    }
    s->sa = v;
    s->cap = ncap;
    return true;
}

/* s->sa[s->n], parsed, becomes an SA of s: its cipher and HMAC fetched. */
static bool add_sa(cap_esp_sas *s, const char *name, long lineno, fs_err *e) {
    esp_sa *sa = &s->sa[s->n];
    sa->order = s->n++;
    if (sa->cipher && !(sa->evp = EVP_CIPHER_fetch(NULL, sa->cipher, NULL))) {
        fs_fail(e, FS_ERR_CONFIG, "%s:%ld: this OpenSSL does not provide %s", name, lineno, sa->cipher);
        return false;
    }
    if (sa->digest && !s->hmac && !(s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
        fs_fail(e, FS_ERR_CONFIG, "%s:%ld: this OpenSSL does not provide HMAC", name, lineno);
        return false;
    }
    return true;
}

typedef enum { FMT_UNKNOWN, FMT_WIRESHARK, FMT_XFRM } sa_format;

/* One meaningful line (lead blanks at line + lead) of the file. */
static const char *sa_line(cap_esp_sas *s, char *line, size_t lead, sa_format *fmt, xfrm_block *b,
                           const char *name, long lineno, fs_err *e, bool *failed) {
    const char *t = line + lead;
    if (*fmt == FMT_UNKNOWN) {
        *fmt = t[0] == '"' ? FMT_WIRESHARK : !strncmp(t, "src ", 4) ? FMT_XFRM : FMT_UNKNOWN;
        if (*fmt == FMT_UNKNOWN)
            return "neither Wireshark's esp_sa lines (\"IPv4\",\"SRC\",...) nor `ip xfrm state` output (src A dst B)";
    }
    if (*fmt == FMT_WIRESHARK) {
        if (!room_for_sa(s, name, lineno, e)) return *failed = true, NULL;
        const char *bad = parse_sa(line + lead, &s->sa[s->n]);
        if (bad) return bad;
        if (!add_sa(s, name, lineno, e)) *failed = true;
        return NULL;
    }
    if (lead == 0 && !strncmp(t, "src ", 4)) { /* a new block: the one before is done */
        bool keep;
        const char *bad = b->open ? xfrm_end(&s->sa[s->n], b, &keep) : NULL;
        if (bad) return bad;
        if (b->open && keep) xfrm_esn_top(&s->sa[s->n], b);
        if (b->open && keep && !add_sa(s, name, b->line, e)) return *failed = true, NULL;
        if (!room_for_sa(s, name, lineno, e)) return *failed = true, NULL;
        bad = xfrm_start(line, &s->sa[s->n], b);
        b->line = lineno;
        return bad;
    }
    if (!b->open || lead == 0) return "expected \"src ADDRESS dst ADDRESS\" or an indented line of its SA";
    return b->skip ? NULL : xfrm_line(line, &s->sa[s->n], b);
}

cap_esp_sas *cap_esp_sas_parse(const char *buf, size_t len, const char *name, fs_err *e) {
    cap_esp_sas *s = calloc(1, sizeof *s);
    char line[ESP_MAX_LINE + 1];
    long lineno = 0;
    sa_format fmt = FMT_UNKNOWN;
    xfrm_block b = {0};
    if (!s) {
        fs_fail(e, FS_ERR_NOMEM, "%s: out of memory for the ESP security associations", name);
        return NULL;
    }
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
        bool failed = false;
        const char *bad = sa_line(s, line, lead, &fmt, &b, name, lineno, e, &failed);
        OPENSSL_cleanse(line, sizeof line);
        if (failed) goto fail;
        if (bad) {
            fs_fail(e, FS_ERR_FORMAT, "%s:%ld: %s", name, lineno, bad);
            goto fail;
        }
    }
    if (b.open) { /* the last block */
        bool keep;
        const char *bad = xfrm_end(&s->sa[s->n], &b, &keep);
        if (bad) {
            fs_fail(e, FS_ERR_FORMAT, "%s:%ld: %s", name, b.line, bad);
            goto fail;
        }
        if (keep) xfrm_esn_top(&s->sa[s->n], &b);
        if (keep && !add_sa(s, name, b.line, e)) goto fail;
    }
    if (s->n) qsort(s->sa, s->n, sizeof *s->sa, by_spi);
    while (s->nexact < s->n && !s->sa[s->nexact].any_spi) s->nexact++;
    return s;
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

static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
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

/* The ICV over the packet, and with ESN the high bits of its sequence
 * number after it (RFC 4303 3.3.2.1). */
static bool hmac_ok(EVP_MAC *hmac, const esp_sa *sa, sa_ctx *c, const uint8_t *p, uint32_t n, uint32_t seq_hi) {
    if (!c->mac) {
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)sa->digest, 0),
                               OSSL_PARAM_construct_end()};
        if (!(c->mac = EVP_MAC_CTX_new(hmac))) return false;
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
    uint8_t hi[4];
    wr32(hi, seq_hi);
    if (!EVP_MAC_update(c->mac, p, n - sa->icv_len) || (sa->esn && !EVP_MAC_update(c->mac, hi, 4)) ||
        !EVP_MAC_final(c->mac, mac, &mac_len, sizeof mac) ||
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
 * carries it. GCM: aad (aad_len bytes) and the tag after ct. */
static cap_esp_status run_cipher(const esp_sa *sa, EVP_CIPHER_CTX *ctx, const uint8_t *iv, const uint8_t *ct,
                                 uint32_t n, const uint8_t *aad, int aad_len, const uint8_t *tag, uint8_t *out) {
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
    if (sa->enc == ENC_AES_GCM && !EVP_DecryptUpdate(ctx, NULL, &len, aad, aad_len)) return CAP_ESP_BAD;
    if (!EVP_DecryptUpdate(ctx, out, &len, ct, (int)n)) return CAP_ESP_BAD;
    if (sa->enc == ENC_AES_GCM &&
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sa->icv_len, (void *)(uintptr_t)tag))
        return CAP_ESP_BAD;
    if (!EVP_DecryptFinal_ex(ctx, out + len, &fin))
        return sa->enc == ENC_AES_GCM ? CAP_ESP_AUTH_FAILED : CAP_ESP_BAD;
    return (uint32_t)(len + fin) == n ? CAP_ESP_OK : CAP_ESP_BAD;
}

/* ESN: the high 32 bits of a packet's sequence number from its low ones
 * and the highest verified, top (RFC 4303 Appendix A2.2 with a window of
 * 2^31: the packet is taken as the nearer of top's and the next or the
 * previous 2^32 block). */
static uint32_t esn_high(uint64_t top, uint32_t lo) {
    const uint32_t window = 1u << 31;
    uint32_t tl = (uint32_t)top, th = (uint32_t)(top >> 32);
    if (tl >= window - 1) return lo >= tl - window + 1 ? th : th + 1;
    return lo >= tl - window + 1 && th > 0 ? th - 1 : th; /* tl - window + 1 wraps */
}

/* Anti-replay (RFC 4303 3.4.3, with the receiver's usual window of 64): whether
 * a verified packet's sequence number was read already; it is marked read.
 * One older than the window is let through: the endpoint's window may be
 * larger, and fs38 cannot tell a late packet from a replay. */
static bool replayed(uint64_t *top, uint64_t *seen_bits, uint64_t seq) {
    if (seq > *top) {
        uint64_t ahead = seq - *top;
        *seen_bits = (ahead >= 64 ? 0 : *seen_bits << ahead) | 1;
        *top = seq;
        return false;
    }
    uint64_t back = *top - seq;
    if (back >= 64) return false;
    bool seen = *seen_bits >> back & 1;
    *seen_bits |= (uint64_t)1 << back;
    return seen;
}

/* Anti-replay for the packet of (spi, src, dst): its SA's window, or when
 * the SA has a wildcard (one line for many SAs, each numbering its packets
 * from 1) the window of that SPI and those addresses. One that finds no
 * window and no memory for them is not checked: a duplicate is read twice
 * rather than a packet dropped as another SA's replay. */
static bool packet_replayed(sa_ctx *c, const esp_sa *sa, uint8_t family, const uint8_t *src, const uint8_t *dst,
                            uint32_t spi, uint64_t seq) {
    if (!sa->any_spi && !sa->any_src && !sa->any_dst) return replayed(&c->replay_top, &c->replay_seen, seq);
    if (!c->wild && !(c->wild = calloc(WILD_WINDOWS, sizeof *c->wild))) return false;
    size_t alen = family == 4 ? 4 : 16;
    wild_window *w = NULL;
    for (uint32_t i = 0; i < WILD_WINDOWS && !w; i++)
        if (c->wild[i].used && c->wild[i].spi == spi && c->wild[i].family == family &&
            !memcmp(c->wild[i].src, src, alen) && !memcmp(c->wild[i].dst, dst, alen))
            w = &c->wild[i];
    if (!w) { /* another SA: its own window, in place of the one met longest ago */
        w = &c->wild[c->wild_next++ % WILD_WINDOWS];
        *w = (wild_window){.spi = spi, .family = family, .used = true};
        memcpy(w->src, src, alen);
        memcpy(w->dst, dst, alen);
    }
    return replayed(&w->top, &w->seen, seq);
}

static learned_sa *keyring_find(cap_esp_keyring *k, cap_esp_scratch *x, uint8_t family, const uint8_t *src,
                                 const uint8_t *dst, uint32_t spi);

cap_esp_status cap_esp_decrypt(const cap_esp_sas *s, cap_esp_keyring *k, cap_esp_scratch *x, uint8_t family,
                               const uint8_t *src, const uint8_t *dst, const uint8_t *p, uint32_t n,
                               const uint8_t **plain, uint32_t *len, uint8_t *next, uint32_t *spi_out) {
    if (x->sas != s || n < 8 || n - 8 > CAP_ESP_MAX_PLAIN) return CAP_ESP_NO_SA;
    uint8_t *out = x->out;
    uint32_t spi = rd32(p);
    const esp_sa *sa = s ? find_sa(s, family, src, dst, spi) : NULL;
    learned_sa *l;
    sa_ctx *c;
    EVP_MAC *hmac;
    if (sa) {
        c = &x->ctx[sa - s->sa];
        hmac = s->hmac;
    } else if (k && (l = keyring_find(k, x, family, src, dst, spi))) {
        sa = &l->sa;
        c = &l->ctx;
        hmac = k->hmac;
    } else {
        return CAP_ESP_NO_SA;
    }
    *spi_out = spi;
    if (n < 8u + sa->iv_len + sa->icv_len + 2) return CAP_ESP_BAD;
    uint32_t body = n - 8 - sa->iv_len - sa->icv_len; /* ciphertext (or clear text, NULL) */
    if (sa->block > 1 && body % sa->block) return CAP_ESP_BAD;
    uint32_t seq_lo = rd32(p + 4), seq_hi = 0;
    if (sa->esn) seq_hi = esn_high(c->esn_top, seq_lo);
    if (sa->digest && !hmac_ok(hmac, sa, c, p, n, seq_hi)) return CAP_ESP_AUTH_FAILED;
    const uint8_t *ct = p + 8 + sa->iv_len;
    if (sa->enc == ENC_NULL) {
        memcpy(out, ct, body);
    } else {
        /* GCM's AAD (RFC 4106 5): the SPI, then the sequence number, 32 bits or ESN's 64 */
        uint8_t aad[12];
        memcpy(aad, p, 4);
        wr32(aad + 4, seq_hi); /* ESN only: overwritten by the low bits otherwise */
        memcpy(aad + (sa->esn ? 8 : 4), p + 4, 4);
        cap_esp_status st =
            run_cipher(sa, keyed_cipher(sa, c), p + 8, ct, body, aad, sa->esn ? 12 : 8, ct + body, out);
        if (st != CAP_ESP_OK) return st;
    }
    if (sa->esn && (sa->digest || sa->enc == ENC_AES_GCM)) { /* verified: it may move top on */
        uint64_t seq = (uint64_t)seq_hi << 32 | seq_lo;
        if (seq > c->esn_top) c->esn_top = seq;
    }
    /* trailer: padding 1, 2, 3 ... (RFC 4303's default, which every cipher
     * here uses), its length, the next header: a wrong key shows there.
     * Other padding passes the endpoint (Linux's xfrm checks only its
     * length, as RFC 4303 2.4 lets it), so a packet whose integrity checked
     * out and whose next header is one fs38 reads is read with it: a sender
     * holding the keys must not hide its SIP behind odd padding. */
    bool verified = sa->digest || sa->enc == ENC_AES_GCM;
    uint32_t pad = out[body - 2];
    uint8_t nh = out[body - 1];
    if (pad > body - 2) return CAP_ESP_BAD;
    for (uint32_t i = 0; i < pad; i++)
        if (out[body - 2 - pad + i] != i + 1) {
            if (!verified || (nh != 4 && nh != 6 && nh != 17 && nh != 41 && nh != 132)) return CAP_ESP_BAD;
            break;
        }
    /* a packet read before (an attacker's replay, or the capture's own
     * duplicate): the endpoint drops it, so it is not read again. Only
     * with integrity: without, anyone could fill the window. */
    if (verified && packet_replayed(c, sa, family, src, dst, spi, (uint64_t)seq_hi << 32 | seq_lo))
        return CAP_ESP_REPLAYED;
    *next = nh;
    *len = body - 2 - pad;
    *plain = out;
    return CAP_ESP_OK;
}

/* ---- SAs learned from the traffic ---------------------------------------------
 * A bounded set the inspector fills as it reads (VoLTE's IMS AKA: the keys
 * and SPIs of an agreement travel in SIP, see insp_aka.c) while the decoders
 * look packets up in it, from any thread: a mutex guards it, and a lookup
 * copies the SA into the decoder's scratch, whose contexts are keyed again
 * only when a packet of another SA comes. The oldest SA makes room. */

cap_esp_keyring *cap_esp_keyring_new(uint32_t max_sas, fs_err *e) {
    cap_esp_keyring *k = calloc(1, sizeof *k);
    if (!k) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory for the learned ESP security associations");
        return NULL;
    }
    k->max = !max_sas ? KEYRING_DEFAULT : max_sas > KEYRING_MAX ? KEYRING_MAX : max_sas;
    for (size_t i = 0; i < sizeof k->head / sizeof *k->head; i++) k->head[i] = KR_NONE;
    pthread_mutex_init(&k->lock, NULL);
    return k;
}

/* The slots and the algorithms, made at the first SA (most captures never
 * have one; fetching from OpenSSL's providers costs a few milliseconds).
 * Under the lock. */
static bool kr_ready(cap_esp_keyring *k) {
    if (k->sa) return true;
    if (!k->aes_cbc) k->aes_cbc = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    if (!k->des3_cbc) k->des3_cbc = EVP_CIPHER_fetch(NULL, "DES-EDE3-CBC", NULL);
    if (!k->hmac) k->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!k->aes_cbc || !k->des3_cbc || !k->hmac) return false;
    k->sa = calloc(k->max, sizeof *k->sa);
    k->gen = calloc(k->max, sizeof *k->gen);
    k->learned_at = calloc(k->max, sizeof *k->learned_at);
    k->next = calloc(k->max, sizeof *k->next);
    k->replay = calloc(k->max, sizeof *k->replay);
    if (k->sa && k->gen && k->learned_at && k->next && k->replay) return true;
    free(k->sa), free(k->gen), free(k->learned_at), free(k->next), free(k->replay);
    k->sa = NULL, k->gen = NULL, k->learned_at = NULL, k->next = NULL, k->replay = NULL;
    return false;
}

void cap_esp_keyring_free(cap_esp_keyring *k) {
    if (!k) return;
    if (k->sa) OPENSSL_cleanse(k->sa, (size_t)k->used * sizeof *k->sa); /* slots fill from 0 */
    pthread_mutex_destroy(&k->lock);
    free(k->sa), free(k->gen), free(k->learned_at), free(k->next), free(k->replay);
    EVP_CIPHER_free(k->aes_cbc);
    EVP_CIPHER_free(k->des3_cbc);
    EVP_MAC_free(k->hmac);
    free(k);
}

static bool same_sa(const esp_sa *sa, uint8_t family, const uint8_t *src, const uint8_t *dst, uint32_t spi) {
    size_t alen = family == 4 ? 4 : 16;
    return sa->spi == spi && sa->family == family && !memcmp(sa->src, src, alen) && !memcmp(sa->dst, dst, alen);
}

/* The slot of (family, src, dst, spi), KR_NONE if absent; *prev (optional)
 * the slot before it in its chain. Under the lock. */
static uint32_t kr_slot(const cap_esp_keyring *k, uint8_t family, const uint8_t *src, const uint8_t *dst,
                        uint32_t spi, uint32_t *prev) {
    uint32_t before = KR_NONE;
    for (uint32_t i = k->head[kr_bucket(spi, family, dst)]; i != KR_NONE; before = i, i = k->next[i])
        if (same_sa(&k->sa[i], family, src, dst, spi)) {
            if (prev) *prev = before;
            return i;
        }
    return KR_NONE;
}

static void kr_unlink(cap_esp_keyring *k, uint32_t slot) {
    const esp_sa *sa = &k->sa[slot];
    uint32_t prev = KR_NONE;
    if (kr_slot(k, sa->family, sa->src, sa->dst, sa->spi, &prev) != slot) return;
    if (prev == KR_NONE) k->head[kr_bucket(sa->spi, sa->family, sa->dst)] = k->next[slot];
    else k->next[prev] = k->next[slot];
}

/* key as an esp_sa of the keyring's; NULL, or what is wrong with it. */
static const char *sa_of_key(const cap_esp_key *key, esp_sa *sa) {
    memset(sa, 0, sizeof *sa);
    if (key->family != 4 && key->family != 6) return "address family";
    sa->family = key->family;
    memcpy(sa->src, key->src, 16);
    memcpy(sa->dst, key->dst, 16);
    sa->spi = key->spi;
    sa->enc = key->cipher == CAP_ESP_CIPHER_AES_CBC    ? ENC_AES_CBC
              : key->cipher == CAP_ESP_CIPHER_3DES_CBC ? ENC_3DES_CBC
                                                       : ENC_NULL;
    if (key->cipher_key_len > sizeof sa->enc_key) return "cipher key length";
    memcpy(sa->enc_key, key->cipher_key, key->cipher_key_len);
    const char *bad = set_cipher(sa, key->cipher_key_len);
    if (bad) return bad;
    if (sa->enc == ENC_AES_CBC && key->cipher_key_len != 16) return "AES-CBC key length";
    sa->digest = key->integ == CAP_ESP_INTEG_HMAC_MD5_96 ? "MD5" : "SHA1";
    sa->icv_len = 12;
    if (!key->integ_key_len || key->integ_key_len > sizeof sa->auth_key) return "integrity key length";
    memcpy(sa->auth_key, key->integ_key, key->integ_key_len);
    sa->auth_key_len = key->integ_key_len;
    return NULL;
}

bool cap_esp_keyring_add(cap_esp_keyring *k, const cap_esp_key *key, uint64_t learned_at_us) {
    esp_sa sa;
    if (sa_of_key(key, &sa)) {
        OPENSSL_cleanse(&sa, sizeof sa);
        return false;
    }
    pthread_mutex_lock(&k->lock);
    uint32_t slot = kr_ready(k) ? kr_slot(k, sa.family, sa.src, sa.dst, sa.spi, NULL) : KR_NONE;
    if (!k->sa || (slot != KR_NONE && k->learned_at[slot] > learned_at_us)) { /* out of memory, or a newer
                                                                                * agreement has this SPI */
        pthread_mutex_unlock(&k->lock);
        OPENSSL_cleanse(&sa, sizeof sa);
        return false;
    }
    if (slot == KR_NONE) {
        slot = k->cursor;
        k->cursor = (k->cursor + 1) % k->max;
        if (k->gen[slot]) kr_unlink(k, slot); /* the oldest makes room */
        else k->used++;
        k->next[slot] = k->head[kr_bucket(sa.spi, sa.family, sa.dst)];
        k->head[kr_bucket(sa.spi, sa.family, sa.dst)] = slot;
    }
    sa.order = slot;
    sa.evp = sa.enc == ENC_AES_CBC ? k->aes_cbc : sa.enc == ENC_3DES_CBC ? k->des3_cbc : NULL;
    k->sa[slot] = sa;
    k->gen[slot] = ++k->gens;
    k->learned_at[slot] = learned_at_us;
    k->replay[slot] = (kr_replay){0}; /* new keys: a new window */
    k->added++;
    pthread_mutex_unlock(&k->lock);
    OPENSSL_cleanse(&sa, sizeof sa);
    return true;
}

uint64_t cap_esp_keyring_added(cap_esp_keyring *k) {
    pthread_mutex_lock(&k->lock);
    uint64_t n = k->added;
    pthread_mutex_unlock(&k->lock);
    return n;
}

/* What it holds: the slots it has filled (the rest were never touched). */
size_t cap_esp_keyring_memory(cap_esp_keyring *k) {
    if (!k) return 0;
    pthread_mutex_lock(&k->lock);
    size_t n = sizeof *k + (size_t)k->used * (sizeof *k->sa + sizeof *k->gen + sizeof *k->learned_at +
                                              sizeof *k->next + sizeof *k->replay);
    pthread_mutex_unlock(&k->lock);
    return n;
}

/* The SA of a packet in x's cache, copied there (and its contexts
 * dropped) unless it is the SA that entry already holds; NULL: none. */
static learned_sa *keyring_find(cap_esp_keyring *k, cap_esp_scratch *x, uint8_t family, const uint8_t *src,
                                const uint8_t *dst, uint32_t spi) {
    pthread_mutex_lock(&k->lock);
    uint32_t slot = k->sa ? kr_slot(k, family, src, dst, spi, NULL) : KR_NONE;
    if (slot == KR_NONE) {
        pthread_mutex_unlock(&k->lock);
        return NULL;
    }
    learned_sa *l = &x->learned[slot % LEARNED_CACHE];
    if (l->slot != slot || l->gen != k->gen[slot]) {
        /* the SA it held keeps its replay window for when it comes back (two
         * SAs sharing an entry take turns: a duplicate between them is
         * still one) */
        if (l->gen && k->gen[l->slot] == l->gen)
            k->replay[l->slot] = (kr_replay){l->ctx.replay_top, l->ctx.replay_seen};
        l->sa = k->sa[slot];
        l->slot = slot;
        l->gen = k->gen[slot];
        EVP_CIPHER_CTX_free(l->ctx.cipher);
        EVP_MAC_CTX_free(l->ctx.mac);
        l->ctx = (sa_ctx){.esn_top = l->sa.esn_top, /* another SA: its own keys, and its replay window */
                          .replay_top = k->replay[slot].top,
                          .replay_seen = k->replay[slot].seen};
    }
    pthread_mutex_unlock(&k->lock);
    return l;
}

/* Wireshark's names of what a keyring holds. */
static const char *enc_name_of(esp_enc enc) {
    return enc == ENC_AES_CBC ? "AES-CBC [RFC3602]" : enc == ENC_3DES_CBC ? "TripleDES-CBC [RFC2451]" : "NULL";
}

static void put_hex(FILE *f, const uint8_t *p, size_t n) {
    if (n) fputs("0x", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

bool cap_esp_keyring_write(cap_esp_keyring *k, FILE *f) {
    pthread_mutex_lock(&k->lock);
    /* oldest first: once the slots wrapped, the cursor points at the oldest */
    uint32_t first = k->used == k->max ? k->cursor : 0;
    for (uint32_t n = 0; n < k->used; n++) {
        const esp_sa *sa = &k->sa[(first + n) % k->max];
        char src[FS_ADDR_STRLEN], dst[FS_ADDR_STRLEN];
        fs_addr a = {.family = sa->family}, b = {.family = sa->family};
        memcpy(a.ip, sa->src, 16);
        memcpy(b.ip, sa->dst, 16);
        fprintf(f, "\"IPv%u\",\"%s\",\"%s\",\"0x%08x\",\"%s\",\"", sa->family, fs_addr_str(&a, src, sizeof src),
                fs_addr_str(&b, dst, sizeof dst), sa->spi, enc_name_of(sa->enc));
        put_hex(f, sa->enc_key, sa->enc ? sa->enc_key_len : 0);
        fprintf(f, "\",\"%s\",\"", !strcmp(sa->digest, "MD5") ? "HMAC-MD5-96 [RFC2403]" : "HMAC-SHA-1-96 [RFC2404]");
        put_hex(f, sa->auth_key, sa->auth_key_len);
        fputs("\"\n", f);
    }
    pthread_mutex_unlock(&k->lock);
    return !ferror(f);
}
