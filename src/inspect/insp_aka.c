/*
 * insp_aka.c -- ESP keys of VoLTE's Gm learned from the IMS AKA
 * registration (see insp_aka.h).
 *
 * An agreement comes together from three messages, in this order on the
 * P-CSCF's links:
 *   REGISTER   UE -> P-CSCF  Security-Client: ipsec-3gpp; alg=hmac-sha-1-96;
 *                            ealg=aes-cbc; spi-c=..; spi-s=..; port-c=..; port-s=..
 *   401        S-CSCF -> P-CSCF  WWW-Authenticate: Digest nonce="..", ck="..", ik=".."
 *   401        P-CSCF -> UE  the same nonce, Security-Server: ipsec-3gpp; q=..; ...
 * The offer is remembered by Call-ID, the keys by nonce; the UE's 401 joins
 * them: the P-CSCF's best mechanism (highest q) that the UE offered, the UE
 * (the 401's destination) and the P-CSCF (its source), and four SAs, each
 * with the SPI its receiver chose (TS 33.203 7.1):
 *   UE -> P-CSCF  spi-s of the P-CSCF (UE's client port to its server port)
 *   UE -> P-CSCF  spi-c of the P-CSCF (UE's server port to its client port)
 *   P-CSCF -> UE  spi-c of the UE, spi-s of the UE (the same, reversed)
 * Keys (TS 33.203 Annex I): HMAC-MD5-96 takes IK, HMAC-SHA-1-96 IK and 32
 * zero bits; AES-CBC takes CK, DES-EDE3-CBC CK and its first half again.
 * Other algorithms (Rel-18's AES-GCM, HMAC-SHA-256 ...) are listed by name
 * too: when both sides' best is one of them, the UE uses it, and no SA is
 * made (the next best would be keys for ESP that never uses them).
 * A UE's 401 seen before its keys (two probes' captures merged, their
 * clocks apart) waits for them by nonce. These memories are small rings: a
 * registration's messages come within a second, and an old entry only ever
 * makes room for a new one.
 */
#include "insp_aka.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>

#define AKA_OFFERS 1024u
#define AKA_KEYS 1024u
#define AKA_ANSWERS 256u
/* per header set: every alg x ealg pair fs38 reads (2 x 3), and as many
 * it does not. UEs offer them all (six items is common), and the P-CSCF may
 * pick the last one. */
#define AKA_MECHS 12u

typedef enum { ALG_MD5, ALG_SHA1, ALG_OTHER } aka_alg;
typedef enum { EALG_NULL, EALG_AES_CBC, EALG_DES3_CBC, EALG_OTHER } aka_ealg;

typedef struct aka_mech {
    uint8_t alg, ealg;
    uint16_t other;          /* ALG_OTHER or EALG_OTHER: the names' hash (0: both read) */
    uint32_t spi_c, spi_s;
    uint32_t q;              /* thousandths; 0 when absent */
} aka_mech;

typedef struct aka_offer {   /* a REGISTER's Security-Client */
    uint64_t call_id;        /* hash; 0: empty */
    uint8_t n;
    aka_mech mech[AKA_MECHS];
} aka_offer;

typedef struct aka_keys {    /* a 401's ck and ik */
    uint64_t nonce;          /* hash; 0: empty */
    uint8_t ck[16], ik[16];
    bool agreed;             /* its UE's 401 made the agreement: one seen again makes none */
} aka_keys;

typedef struct aka_answer {  /* a P-CSCF's 401 whose keys were not seen yet */
    uint64_t nonce;          /* hash; 0: empty */
    fs_addr pcscf, ue;
    aka_mech srv, cli;
    uint64_t ts;
} aka_answer;

struct insp_aka {
    pthread_mutex_t lock;
    cap_esp_keyring *ring;
    uint64_t seed;
    aka_offer *offer;        /* AKA_OFFERS, made at the first offer or keys */
    aka_keys *keys;          /* AKA_KEYS */
    aka_answer *answers;     /* AKA_ANSWERS */
    uint32_t next_offer, next_keys, next_answer;
    uint64_t agreements;
};

insp_aka *insp_aka_new(cap_esp_keyring *ring, uint64_t seed) {
    insp_aka *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    pthread_mutex_init(&a->lock, NULL);
    a->ring = ring;
    a->seed = seed;
    return a;
}

void insp_aka_free(insp_aka *a) {
    if (!a) return;
    if (a->keys) OPENSSL_cleanse(a->keys, AKA_KEYS * sizeof *a->keys);
    free(a->keys);
    free(a->offer);
    free(a->answers);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

size_t insp_aka_memory(insp_aka *a) {
    pthread_mutex_lock(&a->lock);
    size_t n = sizeof *a + (a->offer ? AKA_OFFERS * sizeof *a->offer + AKA_KEYS * sizeof *a->keys +
                                           AKA_ANSWERS * sizeof *a->answers
                                     : 0);
    pthread_mutex_unlock(&a->lock);
    return n;
}

/* The memories, made when the traffic first holds part of an agreement
 * (most captures never do). Under the lock. */
static bool ready(insp_aka *a) {
    if (a->offer) return true;
    a->offer = calloc(AKA_OFFERS, sizeof *a->offer);
    a->keys = calloc(AKA_KEYS, sizeof *a->keys);
    a->answers = calloc(AKA_ANSWERS, sizeof *a->answers);
    if (a->offer && a->keys && a->answers) return true;
    free(a->offer), free(a->keys), free(a->answers);
    a->offer = NULL, a->keys = NULL, a->answers = NULL;
    return false;
}

uint64_t insp_aka_agreements(insp_aka *a) {
    pthread_mutex_lock(&a->lock);
    uint64_t n = a->agreements;
    pthread_mutex_unlock(&a->lock);
    return n;
}

bool insp_aka_candidate(const uint8_t *payload, uint32_t len) {
    return payload && len > 12 &&
           (memcmp(payload, "REGISTER ", 9) == 0 || memcmp(payload, "SIP/2.0 401 ", 12) == 0);
}

static uint64_t hash_of(const insp_aka *a, fs_str s) {
    uint64_t h = fs_hash_bytes(s.p, s.len, a->seed);
    return h ? h : 1;
}

/* ---- reading the headers ---------------------------------------------------- */

/* A decimal of at most 10 digits that fits 32 bits. */
static bool parse_u32(fs_str s, uint32_t *out) {
    if (!s.len || s.len > 10) return false;
    uint64_t v = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        if (!sip_is_digit((unsigned char)s.p[i])) return false;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    if (v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

/* q: "1", "0.5", "0.125" (RFC 3261 qvalue) in thousandths. */
static uint32_t parse_q(fs_str s) {
    uint32_t q = 0, scale = 1000;
    bool frac = false;
    for (uint32_t i = 0; i < s.len && scale; i++) {
        char c = s.p[i];
        if (c == '.' && !frac) {
            frac = true;
            q *= 1000;
            scale = 100;
            continue;
        }
        if (!sip_is_digit((unsigned char)c)) break;
        if (!frac) q = q * 10 + (uint32_t)(c - '0');
        else q += (uint32_t)(c - '0') * scale, scale /= 10;
    }
    if (!frac) q *= 1000;
    return q > 1000 ? 1000 : q;
}

/* An algorithm pair fs38 does not read, by its names (case-insensitive
 * tokens): the same on both sides' lists. Never 0. */
static uint16_t other_id(fs_str alg, fs_str ealg) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < alg.len; i++) h = (h ^ (uint8_t)(alg.p[i] | 0x20)) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (uint32_t i = 0; i < ealg.len; i++) h = (h ^ (uint8_t)(ealg.p[i] | 0x20)) * 16777619u;
    return (uint16_t)((h ^ h >> 16) | 1);
}

/* One "ipsec-3gpp; alg=...; ..." item; false when it is another mechanism
 * or lacks its algorithm or SPIs. An algorithm fs38 does not read is
 * ALG_OTHER or EALG_OTHER: it can be chosen, and then makes no SA. */
static bool parse_mech(fs_str item, aka_mech *m) {
    uint32_t semi = 0;
    while (semi < item.len && item.p[semi] != ';') semi++;
    fs_str name = fs_str_make(item.p, semi);
    while (name.len && sip_is_wsp((unsigned char)name.p[name.len - 1])) name.len--;
    if (!fs_str_ieq_cstr(name, "ipsec-3gpp") || semi >= item.len) return false;
    fs_str params = fs_str_make(item.p + semi + 1, item.len - semi - 1), v, alg, ealg = FS_STR_NULL;
    memset(m, 0, sizeof *m);
    if (!sip_param_get(params, "alg", &alg) || !alg.len) return false;
    if (fs_str_ieq_cstr(alg, "hmac-md5-96")) m->alg = ALG_MD5;
    else if (fs_str_ieq_cstr(alg, "hmac-sha-1-96")) m->alg = ALG_SHA1;
    else m->alg = ALG_OTHER;
    m->ealg = EALG_NULL; /* no ealg: NULL encryption (TS 33.203 7.2) */
    if (sip_param_get(params, "ealg", &ealg)) {
        if (fs_str_ieq_cstr(ealg, "aes-cbc")) m->ealg = EALG_AES_CBC;
        else if (fs_str_ieq_cstr(ealg, "des-ede3-cbc")) m->ealg = EALG_DES3_CBC;
        else if (!fs_str_ieq_cstr(ealg, "null")) m->ealg = EALG_OTHER;
    }
    if (m->alg == ALG_OTHER || m->ealg == EALG_OTHER) /* by the names of those not read only ("null" or none) */
        m->other = other_id(m->alg == ALG_OTHER ? alg : FS_STR_NULL, m->ealg == EALG_OTHER ? ealg : FS_STR_NULL);
    if (!sip_param_get(params, "spi-c", &v) || !parse_u32(v, &m->spi_c)) return false;
    if (!sip_param_get(params, "spi-s", &v) || !parse_u32(v, &m->spi_s)) return false;
    if (sip_param_get(params, "q", &v)) m->q = parse_q(v);
    return true;
}

static bool same_pair(const aka_mech *a, const aka_mech *b) {
    return a->alg == b->alg && a->ealg == b->ealg && a->other == b->other;
}

/* Whether out[0..n) already holds m's alg and ealg. */
static bool has_pair(const aka_mech *out, unsigned n, const aka_mech *m) {
    for (unsigned i = 0; i < n; i++)
        if (same_pair(&out[i], m)) return true;
    return false;
}

/* The ipsec-3gpp mechanisms of every header id field, one per alg and
 * ealg pair (the first: choose() matches by the pair, so a repeat could
 * never be picked, and must not push out a pair that can), at most
 * AKA_MECHS. */
static unsigned parse_mechs(const sip_msg *msg, sip_header_id id, aka_mech *out) {
    unsigned n = 0;
    uint16_t pos = 0;
    const sip_header *h;
    while (n < AKA_MECHS && (h = sip_header_next(msg, id, &pos))) {
        fs_str rest = h->value, item;
        while (n < AKA_MECHS && sip_list_next(&rest, &item))
            if (parse_mech(item, &out[n]) && !has_pair(out, n, &out[n])) n++;
    }
    return n;
}

/* The nonce, ck and ik of a 401's challenge (WWW-Authenticate). */
static void challenge(const sip_msg *msg, fs_str *nonce, fs_str *ck, fs_str *ik) {
    *nonce = *ck = *ik = FS_STR_NULL;
    uint16_t pos = 0;
    const sip_header *h;
    while ((h = sip_header_next(msg, SIP_H_WWW_AUTHENTICATE, &pos))) {
        fs_str rest = h->value, name, value;
        while (sip_auth_param_next(&rest, &name, &value)) {
            if (fs_str_ieq_cstr(name, "nonce")) *nonce = value;
            else if (fs_str_ieq_cstr(name, "ck")) *ck = value;
            else if (fs_str_ieq_cstr(name, "ik")) *ik = value;
        }
        if (nonce->len) return;
    }
}

/* Whether a challenge names ck or ik (a parameter of two letters before an
 * '='): most 401s do not, and are passed over without reading their pairs. */
__attribute__((noinline)) static bool names_session_keys(const sip_msg *msg) {
    uint16_t pos = 0;
    const sip_header *h;
    while ((h = sip_header_next(msg, SIP_H_WWW_AUTHENTICATE, &pos))) {
        const char *p = h->value.p, *end = p + h->value.len, *eq;
        while ((eq = memchr(p, '=', (size_t)(end - p)))) {
            const char *n = eq;
            while (n > h->value.p && (n[-1] == ' ' || n[-1] == '\t')) n--;
            if (n - h->value.p >= 2 && (n[-1] | 0x20) == 'k' && ((n[-2] | 0x20) == 'c' || (n[-2] | 0x20) == 'i') &&
                (n - h->value.p == 2 || !sip_is_token((unsigned char)n[-3])))
                return true;
            p = eq + 1;
        }
    }
    return false;
}

/* ---- the agreement ---------------------------------------------------------------- */

static void remember_offer(insp_aka *a, uint64_t call_id, const aka_mech *mech, unsigned n) {
    for (uint32_t i = 0; i < AKA_OFFERS; i++) /* a REGISTER seen again (on Mw too) */
        if (a->offer[i].call_id == call_id) {
            a->offer[i].n = (uint8_t)n;
            memcpy(a->offer[i].mech, mech, n * sizeof *mech);
            return;
        }
    aka_offer *o = &a->offer[a->next_offer++ % AKA_OFFERS];
    o->call_id = call_id;
    o->n = (uint8_t)n;
    memcpy(o->mech, mech, n * sizeof *mech);
}

static void answers_waiting(insp_aka *a, aka_keys *k);

static void remember_keys(insp_aka *a, uint64_t nonce, fs_str ck, fs_str ik) {
    uint8_t c[16], i[16];
    if (ck.len != 32 || ik.len != 32 || !fs_unhex(ck.p, 16, c) || !fs_unhex(ik.p, 16, i)) return;
    aka_keys *k = NULL;
    for (uint32_t j = 0; j < AKA_KEYS && !k; j++)
        if (a->keys[j].nonce == nonce) k = &a->keys[j];
    if (!k) {
        k = &a->keys[a->next_keys++ % AKA_KEYS];
        k->agreed = false;
    }
    k->nonce = nonce;
    memcpy(k->ck, c, 16);
    memcpy(k->ik, i, 16);
    OPENSSL_cleanse(c, sizeof c);
    OPENSSL_cleanse(i, sizeof i);
    answers_waiting(a, k);
}

/* The server's best mechanism the client offered too; NULL: none. */
static const aka_mech *choose(const aka_mech *server, unsigned ns, const aka_offer *o, const aka_mech **client) {
    const aka_mech *best = NULL;
    for (unsigned i = 0; i < ns; i++) {
        if (best && server[i].q <= best->q) continue;
        for (unsigned j = 0; j < o->n; j++)
            if (same_pair(&o->mech[j], &server[i])) {
                best = &server[i];
                *client = &o->mech[j];
                break;
            }
    }
    return best;
}

static void add_sa(insp_aka *a, cap_esp_key *key, const fs_addr *src, const fs_addr *dst, uint32_t spi,
                   uint64_t ts) {
    memcpy(key->src, src->ip, 16);
    memcpy(key->dst, dst->ip, 16);
    key->spi = spi;
    cap_esp_keyring_add(a->ring, key, ts);
}

/* The four SAs of an agreement between the UE and the P-CSCF (TS 33.203
 * 7.1: each with the SPI its receiver chose), keyed by Annex I. */
static void agree(insp_aka *a, const fs_addr *pcscf, const fs_addr *ue, const aka_mech *srv, const aka_mech *cli,
                  const aka_keys *k, uint64_t ts) {
    cap_esp_key key;
    memset(&key, 0, sizeof key);
    key.family = pcscf->family;
    key.integ = srv->alg == ALG_MD5 ? CAP_ESP_INTEG_HMAC_MD5_96 : CAP_ESP_INTEG_HMAC_SHA1_96;
    memcpy(key.integ_key, k->ik, 16); /* SHA-1: then 32 zero bits */
    key.integ_key_len = srv->alg == ALG_MD5 ? 16 : 20;
    key.cipher = srv->ealg == EALG_AES_CBC    ? CAP_ESP_CIPHER_AES_CBC
                 : srv->ealg == EALG_DES3_CBC ? CAP_ESP_CIPHER_3DES_CBC
                                              : CAP_ESP_CIPHER_NULL;
    if (srv->ealg != EALG_NULL) {
        memcpy(key.cipher_key, k->ck, 16);
        key.cipher_key_len = 16;
        if (srv->ealg == EALG_DES3_CBC) { /* CK1 || CK2 || CK1 */
            memcpy(key.cipher_key + 16, k->ck, 8);
            key.cipher_key_len = 24;
        }
    }
    add_sa(a, &key, ue, pcscf, srv->spi_s, ts);
    add_sa(a, &key, ue, pcscf, srv->spi_c, ts);
    add_sa(a, &key, pcscf, ue, cli->spi_c, ts);
    add_sa(a, &key, pcscf, ue, cli->spi_s, ts);
    OPENSSL_cleanse(&key, sizeof key);
    a->agreements++;
}

/* Whether a is the unspecified address (0.0.0.0, ::): a message read with
 * --raw has no addresses, and an SA between two unknown ends says nothing. */
static bool unspecified(const fs_addr *a) {
    static const uint8_t zero[16];
    return memcmp(a->ip, zero, a->family == 4 ? 4 : 16) == 0;
}

/* The UE's 401: join its Security-Server with the offer and the keys; the
 * keys may come after it (two probes' captures merged, clocks apart): then
 * it waits for them. */
static void server_answer(insp_aka *a, const cap_payload *p, const sip_msg *m, uint64_t nonce) {
    aka_mech server[AKA_MECHS];
    unsigned ns = parse_mechs(m, SIP_H_SECURITY_SERVER, server);
    if (!ns || !m->call_id.len || p->src.addr.family != p->dst.addr.family || unspecified(&p->src.addr) ||
        unspecified(&p->dst.addr))
        return;
    uint64_t call_id = hash_of(a, m->call_id);
    const aka_offer *o = NULL;
    for (uint32_t i = 0; i < AKA_OFFERS && !o; i++)
        if (a->offer[i].call_id == call_id) o = &a->offer[i];
    const aka_mech *cli = NULL, *srv = o ? choose(server, ns, o, &cli) : NULL;
    if (!srv || srv->alg == ALG_OTHER || srv->ealg == EALG_OTHER) return; /* none, or one fs38 does not read */
    /* a UE's 401 seen again (retransmitted over UDP, or captured at two
     * points) is the same agreement: made, or waiting, once */
    for (uint32_t i = 0; i < AKA_KEYS; i++)
        if (a->keys[i].nonce == nonce) {
            if (!a->keys[i].agreed) agree(a, &p->src.addr, &p->dst.addr, srv, cli, &a->keys[i], p->ts_us);
            a->keys[i].agreed = true;
            return;
        }
    for (uint32_t i = 0; i < AKA_ANSWERS; i++)
        if (a->answers[i].nonce == nonce) return;
    aka_answer *w = &a->answers[a->next_answer++ % AKA_ANSWERS];
    *w = (aka_answer){.nonce = nonce, .pcscf = p->src.addr, .ue = p->dst.addr, .srv = *srv, .cli = *cli,
                      .ts = p->ts_us};
}

/* Keys just seen: the answers that waited for them. */
static void answers_waiting(insp_aka *a, aka_keys *k) {
    for (uint32_t i = 0; i < AKA_ANSWERS; i++) {
        aka_answer *w = &a->answers[i];
        if (w->nonce != k->nonce) continue;
        if (!k->agreed) agree(a, &w->pcscf, &w->ue, &w->srv, &w->cli, k, w->ts);
        k->agreed = true;
        w->nonce = 0;
    }
}

/* A REGISTER's Security-Client, remembered by Call-ID. */
__attribute__((noinline)) static void learn_offer(insp_aka *a, const sip_msg *m) {
    aka_mech mech[AKA_MECHS];
    unsigned n = parse_mechs(m, SIP_H_SECURITY_CLIENT, mech);
    if (!n) return;
    uint64_t call_id = hash_of(a, m->call_id);
    pthread_mutex_lock(&a->lock);
    if (ready(a)) remember_offer(a, call_id, mech, n);
    pthread_mutex_unlock(&a->lock);
}

/* A 401's keys (Mw), or its Security-Server (Gm), or both. */
__attribute__((noinline)) static void learn_challenge(insp_aka *a, const cap_payload *p, const sip_msg *m) {
    fs_str nonce, ck, ik;
    challenge(m, &nonce, &ck, &ik);
    if (!nonce.len || (!ck.len && m->first[SIP_H_SECURITY_SERVER] < 0)) return;
    uint64_t nonce_key = hash_of(a, nonce);
    pthread_mutex_lock(&a->lock);
    if (ck.len && ready(a)) remember_keys(a, nonce_key, ck, ik);
    if (a->offer && m->first[SIP_H_SECURITY_SERVER] >= 0) server_answer(a, p, m, nonce_key);
    pthread_mutex_unlock(&a->lock);
}

/* Every message comes here (a tap): the test is kept to a few loads. */
void insp_aka_message(insp_aka *a, const cap_payload *p, const sip_msg *m) {
    if (m->is_request) {
        if (m->method == SIP_M_REGISTER && m->first[SIP_H_SECURITY_CLIENT] >= 0 && m->call_id.len)
            learn_offer(a, m);
    } else if (m->status == 401 && m->first[SIP_H_WWW_AUTHENTICATE] >= 0 &&
               (m->first[SIP_H_SECURITY_SERVER] >= 0 || names_session_keys(m))) {
        learn_challenge(a, p, m);
    }
}
