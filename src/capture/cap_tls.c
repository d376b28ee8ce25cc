/*
 * cap_tls.c -- SIP over TLS (and SIP over secure WebSocket) read with the
 * session keys a TLS endpoint wrote down.
 *
 * Owns: the key log (NSS key log format, what SSLKEYLOGFILE makes OpenSSL,
 * NSS, curl and Python write: CLIENT_RANDOM for TLS 1.2, CLIENT_TRAFFIC_
 * SECRET_0 and SERVER_TRAFFIC_SECRET_0 for TLS 1.3), read at start and read
 * on when it has grown (a live capture: the keys are written as the
 * sessions open); and the TLS record layer of one direction of a TCP
 * connection: records cut out of its in-order bytes, the hellos read
 * (client random, server random, version, cipher suite), the keys derived
 * (TLS 1.2 PRF, TLS 1.3 HKDF-Expand-Label, through OpenSSL 3's EVP_KDF), and
 * the application data decrypted (AES-GCM, ChaCha20-Poly1305) and handed
 * back as the direction's plaintext.
 * Must not touch: TCP (sequence numbers, holds, gaps, buffers: cap_tcp.c),
 * SIP framing.
 *
 * A direction becomes TLS when its first bytes are a handshake record
 * with a ClientHello or ServerHello. The server's direction learns the
 * client random from the client's (the caller finds it, cap_tls_ops.peer)
 * and hands it the server random, version and suite. Keys are derived when
 * a direction first needs them; a direction whose keys are not in the log,
 * whose suite is not AEAD, or whose records stop decrypting (a gap, a
 * renegotiation) is passed over to its end: counted, never guessed at.
 *
 * TLS 1.3: the handshake after ServerHello is encrypted with keys the log
 * may not hold, so records are tried with the application key at sequence
 * 0 until one opens (at most TLS_MAX_TRIALS); records after that are read
 * in order, KeyUpdate followed. Each side's handshake records are first
 * opened with its handshake secret when the log holds it, for its
 * certificate, up to its Finished: the records after it are read in order
 * (one that does not open is corrupt, not tried again). TLS 1.2: records
 * after ChangeCipherSpec; the certificates in the clear.
 */
#include "cap.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TLS_REC_HANDSHAKE 22
#define TLS_REC_CCS 20
#define TLS_REC_ALERT 21
#define TLS_REC_APP 23
#define TLS_MAX_TRIALS 32       /* TLS 1.3 records tried before the first that opens */
#define TLS_MAX_WAITS 64        /* offers a handshake record waits through for its keys (live) */
#define TLS_KEYS_MAX (1u << 20) /* sessions a key log may hold */
#define TLS_LINE_MAX 1024
#define TLS_TAG 16
#define TLS_CERT_SLOTS 4        /* certificates gathered at once over their records */
#define TLS_CERT_MAX 16384      /* ...up to the end of the first one: longer is not read */

typedef enum tls_state {
    TLS_HELLO,  /* waiting for this direction's hello (plaintext handshake) */
    TLS_CLEAR,  /* TLS 1.2: plaintext handshake until ChangeCipherSpec */
    TLS_TRIAL,  /* TLS 1.3: encrypted handshake, application key tried */
    TLS_OPEN,   /* records decrypted in order */
    TLS_OPAQUE  /* passed over to the end (no key, unsupported, failed) */
} tls_state;

typedef enum tls_aead { TLS_AES_GCM = 1, TLS_CHACHA, TLS_AES_CBC } tls_aead;

typedef struct tls_suite {
    uint16_t id;
    uint8_t aead;    /* tls_aead */
    uint8_t key_len;
    bool sha384;     /* the suite's hash (TLS 1.2 PRF, TLS 1.3 HKDF) */
    uint8_t mac_len; /* CBC: the HMAC's length (SHA-1 20, SHA-256 32, SHA-384 48) */
} tls_suite;

/* TLS 1.3's three suites; TLS 1.2's GCM and ChaCha20 ones, and its AES-CBC
 * ones with HMAC (MAC-then-encrypt, or encrypt-then-MAC, RFC 7366). */
static const tls_suite tls_suites[] = {
    {0x002f, TLS_AES_CBC, 16, false, 20}, {0x0035, TLS_AES_CBC, 32, false, 20},
    {0x0033, TLS_AES_CBC, 16, false, 20}, {0x0039, TLS_AES_CBC, 32, false, 20},
    {0x003c, TLS_AES_CBC, 16, false, 32}, {0x003d, TLS_AES_CBC, 32, false, 32},
    {0x0067, TLS_AES_CBC, 16, false, 32}, {0x006b, TLS_AES_CBC, 32, false, 32},
    {0xc009, TLS_AES_CBC, 16, false, 20}, {0xc00a, TLS_AES_CBC, 32, false, 20},
    {0xc013, TLS_AES_CBC, 16, false, 20}, {0xc014, TLS_AES_CBC, 32, false, 20},
    {0xc023, TLS_AES_CBC, 16, false, 32}, {0xc024, TLS_AES_CBC, 32, true, 48},
    {0xc027, TLS_AES_CBC, 16, false, 32}, {0xc028, TLS_AES_CBC, 32, true, 48},
    {0x1301, TLS_AES_GCM, 16, false, 0}, {0x1302, TLS_AES_GCM, 32, true, 0},  {0x1303, TLS_CHACHA, 32, false, 0},
    {0x009c, TLS_AES_GCM, 16, false, 0}, {0x009d, TLS_AES_GCM, 32, true, 0},  {0x009e, TLS_AES_GCM, 16, false, 0},
    {0x009f, TLS_AES_GCM, 32, true, 0},  {0x00a2, TLS_AES_GCM, 16, false, 0}, {0x00a3, TLS_AES_GCM, 32, true, 0},
    {0xc02b, TLS_AES_GCM, 16, false, 0}, {0xc02c, TLS_AES_GCM, 32, true, 0},  {0xc02f, TLS_AES_GCM, 16, false, 0},
    {0xc030, TLS_AES_GCM, 32, true, 0},  {0xcca8, TLS_CHACHA, 32, false, 0},  {0xcca9, TLS_CHACHA, 32, false, 0},
    {0xccaa, TLS_CHACHA, 32, false, 0},
};

static const tls_suite *suite_find(uint16_t id) {
    for (size_t i = 0; i < sizeof tls_suites / sizeof *tls_suites; i++)
        if (tls_suites[i].id == id) return &tls_suites[i];
    return NULL;
}

/* ---- the key log ------------------------------------------------------------ */

typedef struct tls_session_keys {
    uint8_t random[32];
    uint8_t master[48];      /* TLS 1.2 master secret */
    uint8_t cts[48], sts[48]; /* TLS 1.3 client/server application traffic secret 0 */
    uint8_t chts[48], shts[48]; /* TLS 1.3 client/server handshake traffic secret: certificates */
    uint8_t cets[48];        /* TLS 1.3 client early traffic secret: 0-RTT data */
    uint8_t cts_len, sts_len, chts_len, shts_len, cets_len;
    bool has_master;
    uint32_t next;           /* hash chain (index + 1; 0 ends it) */
} tls_session_keys;

struct cap_tls_keys {
    pthread_mutex_t lock;
    char *path;
    long long offset;        /* bytes read so far: whole lines */
    dev_t dev;               /* ...of this file (logrotate may put a new one in its place) */
    ino_t ino;
    long line_no;
    tls_session_keys *e;
    uint32_t n, cap;
    uint32_t *buckets;       /* index + 1 */
    uint32_t mask;
    uint32_t bad_lines;
    long first_bad_line;
    uint32_t dropped;        /* sessions past TLS_KEYS_MAX */
    bool follow;             /* a live capture: the endpoints write it as sessions open */
};

/* TLS 1.2 stacks may start the random with the time: all 32 bytes count. */
static uint32_t random_hash(const uint8_t *r) { return (uint32_t)fs_hash_bytes(r, 32, 0x746c73); }

static tls_session_keys *keys_lookup(cap_tls_keys *k, const uint8_t *random) {
    if (!k->buckets) return NULL;
    for (uint32_t i = k->buckets[random_hash(random) & k->mask]; i; i = k->e[i - 1].next)
        if (memcmp(k->e[i - 1].random, random, 32) == 0) return &k->e[i - 1];
    return NULL;
}

static bool keys_rehash(cap_tls_keys *k, uint32_t nb) {
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b) return false;
    free(k->buckets);
    k->buckets = b;
    k->mask = nb - 1;
    for (uint32_t i = 0; i < k->n; i++) {
        uint32_t *head = &b[random_hash(k->e[i].random) & k->mask];
        k->e[i].next = *head;
        *head = i + 1;
    }
    return true;
}

static tls_session_keys *keys_add(cap_tls_keys *k, const uint8_t *random) {
    tls_session_keys *s = keys_lookup(k, random);
    if (s) return s;
    if (k->n >= TLS_KEYS_MAX) {
        k->dropped++;
        return NULL;
    }
    if (k->n == k->cap) {
        uint32_t ncap = k->cap ? k->cap * 2 : 64;
        tls_session_keys *ne = realloc(k->e, (size_t)ncap * sizeof *ne);
        if (!ne) return NULL;
        k->e = ne;
        k->cap = ncap;
        if (!keys_rehash(k, ncap)) return NULL;
    }
    s = &k->e[k->n++];
    memset(s, 0, sizeof *s);
    memcpy(s->random, random, 32);
    uint32_t *head = &k->buckets[random_hash(random) & k->mask];
    s->next = *head;
    *head = k->n;
    return s;
}

static void bad_line(cap_tls_keys *k) {
    if (!k->bad_lines++) k->first_bad_line = k->line_no;
}

/* One line "LABEL <client random, 64 hex> <secret, hex>". Labels the
 * reader does not use (handshake and exporter secrets, RSA) are fine;
 * anything else is a bad line. */
static void keys_line(cap_tls_keys *k, char *line) {
    size_t len = strcspn(line, "\r\n");
    line[len] = 0;
    if (len == 0 || line[0] == '#') return;
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    /* OpenSSL's RSA key exchange line: "RSA <encrypted premaster's first 8
     * bytes, 16 hex> <premaster>", no client random: a key log line, not used */
    if (sp1 && sp2 && sp1 - line == 3 && memcmp(line, "RSA", 3) == 0 && sp2 - sp1 - 1 == 16) return;
    bool ok = sp1 && sp2 && sp2 - sp1 - 1 == 64;
    uint8_t random[32], secret[48];
    size_t hexlen = ok ? strlen(sp2 + 1) : 0;
    ok = ok && fs_unhex(sp1 + 1, 32, random) && hexlen % 2 == 0 && hexlen >= 2;
    const char *label = line;
    size_t llen = ok ? (size_t)(sp1 - line) : 0;
    static const char *const known[] = {"EXPORTER_SECRET", "EARLY_EXPORTER_SECRET"};
    int which = -1; /* 0 master, 1 client, 2 server, 3 server handshake, 4 client handshake, 5 client early */
    if (ok && llen == 13 && memcmp(label, "CLIENT_RANDOM", 13) == 0) which = 0;
    if (ok && llen == 23 && memcmp(label, "CLIENT_TRAFFIC_SECRET_0", 23) == 0) which = 1;
    if (ok && llen == 23 && memcmp(label, "SERVER_TRAFFIC_SECRET_0", 23) == 0) which = 2;
    if (ok && llen == 31 && memcmp(label, "SERVER_HANDSHAKE_TRAFFIC_SECRET", 31) == 0) which = 3;
    if (ok && llen == 31 && memcmp(label, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", 31) == 0) which = 4;
    if (ok && llen == 27 && memcmp(label, "CLIENT_EARLY_TRAFFIC_SECRET", 27) == 0) which = 5;
    if (ok && which < 0) {
        bool used = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (llen == strlen(known[i]) && memcmp(label, known[i], llen) == 0) used = true;
        if (llen == 3 && memcmp(label, "RSA", 3) == 0) used = true;
        /* OpenSSL 3 also writes the secrets after a KeyUpdate (..._SECRET_N): derived here */
        if ((llen > 22 && memcmp(label, "CLIENT_TRAFFIC_SECRET_", 22) == 0) ||
            (llen > 22 && memcmp(label, "SERVER_TRAFFIC_SECRET_", 22) == 0))
            used = true;
        if (used) return;
        ok = false;
    }
    size_t slen = hexlen / 2;
    if (ok) ok = which == 0 ? slen == 48 : (slen == 32 || slen == 48);
    if (ok) ok = fs_unhex(sp2 + 1, slen, secret);
    if (!ok) {
        bad_line(k);
        return;
    }
    tls_session_keys *s = keys_add(k, random);
    if (!s) return;
    if (which == 0) {
        memcpy(s->master, secret, 48);
        s->has_master = true;
    } else if (which == 1) {
        memcpy(s->cts, secret, slen);
        s->cts_len = (uint8_t)slen;
    } else if (which == 3) {
        memcpy(s->shts, secret, slen);
        s->shts_len = (uint8_t)slen;
    } else if (which == 4) {
        memcpy(s->chts, secret, slen);
        s->chts_len = (uint8_t)slen;
    } else if (which == 5) {
        memcpy(s->cets, secret, slen);
        s->cets_len = (uint8_t)slen;
    } else {
        memcpy(s->sts, secret, slen);
        s->sts_len = (uint8_t)slen;
    }
}

/* One line of len bytes (line holds the first TLS_LINE_MAX of them). */
static void end_line(cap_tls_keys *k, char *line, size_t len) {
    k->line_no++;
    if (len > TLS_LINE_MAX || memchr(line, 0, len)) { /* longer than any key line, or binary */
        bad_line(k);
        return;
    }
    line[len] = 0;
    keys_line(k, line);
}

/* Read the lines added since the last read: whole lines; the last one
 * without its newline too, unless following (it is being written). */
static fs_code keys_read_more(cap_tls_keys *k, fs_err *e) {
    FILE *f = fopen(k->path, "r");
    if (!f) return fs_fail(e, FS_ERR_IO, "TLS key log %s: %s", k->path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        k->dev = sb.st_dev;
        k->ino = sb.st_ino;
    }
    /* (the first read does not seek: a pipe, `--tls-keylog <(zcat keys.gz)`, cannot) */
    if (k->offset && fseeko(f, (off_t)k->offset, SEEK_SET) != 0) {
        fclose(f);
        return fs_fail(e, FS_ERR_IO, "TLS key log %s: %s", k->path, strerror(errno));
    }
    char line[TLS_LINE_MAX + 1], chunk[8192];
    size_t len = 0, got;
    long long line_bytes = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        for (size_t i = 0; i < got; i++) {
            line_bytes++;
            if (chunk[i] != '\n') {
                if (len < TLS_LINE_MAX) line[len] = chunk[i];
                len++;
                continue;
            }
            end_line(k, line, len);
            k->offset += line_bytes;
            line_bytes = 0;
            len = 0;
        }
    }
    if (line_bytes && !k->follow) {
        end_line(k, line, len);
        k->offset += line_bytes;
    }
    fclose(f);
    return FS_OK;
}

fs_code cap_tls_keys_open(const char *path, bool follow, cap_tls_keys **out, fs_err *e) {
    *out = NULL;
    cap_tls_keys *k = calloc(1, sizeof *k);
    if (!k || !(k->path = strdup(path))) {
        free(k);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory for the TLS key log");
    }
    pthread_mutex_init(&k->lock, NULL);
    k->follow = follow;
    fs_code rc = keys_read_more(k, e);
    if (rc != FS_OK) {
        cap_tls_keys_free(k);
        return rc;
    }
    *out = k;
    return FS_OK;
}

void cap_tls_keys_free(cap_tls_keys *k) {
    if (!k) return;
    pthread_mutex_destroy(&k->lock);
    free(k->buckets);
    if (k->e) OPENSSL_cleanse(k->e, (size_t)k->cap * sizeof *k->e);
    free(k->e);
    free(k->path);
    free(k);
}

void cap_tls_keys_info(cap_tls_keys *k, cap_tls_keys_summary *s) {
    pthread_mutex_lock(&k->lock);
    s->sessions = k->n;
    s->bad_lines = k->bad_lines;
    s->first_bad_line = k->first_bad_line;
    s->dropped = k->dropped;
    pthread_mutex_unlock(&k->lock);
}

/* Whether the file has lines not read yet. One that is another file now
 * (logrotate moved it away and created it again) or shorter than what was
 * read (truncated: copytruncate, an endpoint that opened it anew) is read
 * from its start; the sessions read before are kept. */
static bool keys_grown(cap_tls_keys *k) {
    struct stat sb;
    if (stat(k->path, &sb) != 0) return false;
    if (sb.st_dev != k->dev || sb.st_ino != k->ino || (long long)sb.st_size < k->offset) k->offset = 0;
    return (long long)sb.st_size > k->offset;
}

void cap_tls_keys_refresh(cap_tls_keys *k) {
    pthread_mutex_lock(&k->lock);
    if (k->follow && keys_grown(k)) (void)keys_read_more(k, NULL);
    pthread_mutex_unlock(&k->lock);
}

/* A session whose application keys are all in: TLS 1.2's master secret,
 * or both of TLS 1.3's traffic secrets (a client writes its handshake
 * secrets first, its traffic secrets at Finished). */
static bool session_complete(const tls_session_keys *s) { return s->has_master || (s->cts_len && s->sts_len); }

/* What a lookup needs of a session: its application keys, or one side's
 * handshake secret. */
typedef enum tls_need { TLS_NEED_TRAFFIC, TLS_NEED_CLIENT_HS, TLS_NEED_SERVER_HS, TLS_NEED_EARLY } tls_need;

/* The keys of a session, copied out (another worker may read the log on
 * meanwhile); when following, read on once when they are not there, or
 * not all there (what `need` names), and the file grew. (Until 2026-11-27
 * a session read between its handshake and traffic secrets stayed so: its
 * records waited for keys in vain unless another session's miss read the
 * log on.) */
static bool keys_find(cap_tls_keys *k, const uint8_t *random, tls_need need, tls_session_keys *out) {
    pthread_mutex_lock(&k->lock);
    tls_session_keys *s = keys_lookup(k, random);
    bool complete = s && (need == TLS_NEED_SERVER_HS   ? s->shts_len != 0
                          : need == TLS_NEED_CLIENT_HS ? s->chts_len != 0
                          : need == TLS_NEED_EARLY     ? s->cets_len != 0
                                                       : session_complete(s));
    if (!complete && k->follow && keys_grown(k)) {
        (void)keys_read_more(k, NULL);
        s = keys_lookup(k, random);
    }
    if (s) *out = *s;
    pthread_mutex_unlock(&k->lock);
    return s != NULL;
}

/* ---- one direction ---------------------------------------------------------- */

struct cap_tls_dir {
    uint8_t state;        /* tls_state */
    bool is_client, keyed;
    bool etm;             /* TLS 1.2 CBC: encrypt-then-MAC was agreed (RFC 7366) */
    bool cert_seen;       /* this side's Certificate message was looked at */
    bool hs_done;         /* TLS 1.3: this side's encrypted handshake is not read (any more) */
    bool hs_finished;     /* ...its Finished was read: the application key's records follow */
    bool psk;             /* TLS 1.3: the server took a pre-shared key (resumption): no certificate */
    uint8_t hs_records;   /* TLS 1.3: handshake records opened (their sequence) */
    uint8_t hs_waits;     /* ...times one waited, unconsumed, for the session's keys (live) */
    bool hs_wait;         /* the record at hand waits: cap_tls_records keeps it */
    uint8_t cert_slot;    /* its Certificate goes on past its record: gathered in x->certs (index + 1) */
    uint32_t hs_skip;     /* handshake bytes of a message that went on past its record */
    uint8_t hs_head[3], hs_head_len; /* ...the first bytes of a message header cut by its record's end */
    uint16_t version;     /* TLS 1.2 and 1.3 are read (0x0303, 0x0304) */
    bool heuristic;       /* on a port that is not a SIP port: not counted until keyed */
    bool early_data;      /* TLS 1.3 client: its ClientHello offers 0-RTT (early_data extension) */
    uint16_t early_suite; /* ...the suite its early data opened with (0: none yet) */
    uint8_t early_seq;    /* ...early data records so far (their sequence) */
    bool have_client_random, have_server;
    uint16_t suite;       /* the server's choice, once known */
    uint8_t trials;       /* records passed over before the first that opened */
    uint8_t client_random[32], server_random[32];
    uint8_t secret[48], secret_len; /* TLS 1.3: this direction's traffic secret */
    uint8_t key[32], iv[12], mac_key[48];
    uint64_t seq;
    const tls_suite *cs;
};

static bool is_tls13(const cap_tls_dir *d) { return d->version == 0x0304; }

/* A Certificate message whose first certificate goes on into the next
 * records (a stack that cuts its handshake into small records, RFC 6066's
 * max_fragment_length, a chain past 16 KiB): its first bytes, gathered. */
typedef struct tls_cert_slot {
    const cap_tls_dir *owner; /* NULL: free */
    uint32_t len, mlen;       /* bytes gathered; the message's length */
    uint8_t data[TLS_CERT_MAX];
} tls_cert_slot;

struct cap_tls_ctx {
    cap_tls_keys *keys;   /* NULL: no key log given */
    cap_stats *st;
    EVP_CIPHER_CTX *cipher;
    EVP_KDF *hkdf, *prf;
    EVP_MAC *hmac;
    EVP_MAC_CTX *mac;
    size_t offered;       /* bytes offered from the record at hand's start (cap_tls_records) */
    uint8_t plain[CAP_TLS_MAX_RECORD];
    tls_cert_slot certs[TLS_CERT_SLOTS];
};

cap_tls_ctx *cap_tls_ctx_new(cap_tls_keys *keys, cap_stats *st) {
    cap_tls_ctx *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->keys = keys;
    x->st = st;
    return x;
}

void cap_tls_ctx_free(cap_tls_ctx *x) {
    if (!x) return;
    EVP_CIPHER_CTX_free(x->cipher);
    EVP_KDF_free(x->hkdf);
    EVP_KDF_free(x->prf);
    EVP_MAC_CTX_free(x->mac);
    EVP_MAC_free(x->hmac);
    free(x);
}

size_t cap_tls_dir_size(void) { return sizeof(cap_tls_dir); }

size_t cap_tls_ctx_size(void) { return sizeof(cap_tls_ctx); }

cap_tls_dir *cap_tls_dir_new(bool heuristic) {
    cap_tls_dir *d = calloc(1, sizeof(cap_tls_dir));
    if (d) d->heuristic = heuristic;
    return d;
}

bool cap_tls_keyed(const cap_tls_dir *d) { return d->keyed && d->state != TLS_OPAQUE; }

void cap_tls_confirm(cap_tls_ctx *x, cap_tls_dir *d) {
    if (!d->heuristic) return;
    d->heuristic = false;
    if (d->is_client) x->st->tls_handshakes++;
}

void cap_tls_dir_free(cap_tls_dir *d) {
    if (!d) return;
    OPENSSL_cleanse(d, sizeof *d);
    free(d);
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }

const char *cap_tls_version_name(uint16_t version) {
    static const char *const names[CAP_TLS_VERSIONS] = {"SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"};
    return version >= 0x0300 && version < 0x0300 + CAP_TLS_VERSIONS ? names[version - 0x0300] : NULL;
}

int cap_tls_record_start(const uint8_t *p, size_t n) {
    if (n >= 1 && (p[0] < TLS_REC_CCS || p[0] > TLS_REC_APP)) return 0;
    if (n >= 2 && p[1] != 3) return 0;
    if (n >= 3 && p[2] > 4) return 0;
    if (n >= 5 && (size_t)be16(p + 3) + 5 > CAP_TLS_MAX_RECORD) return 0;
    return n >= 5 ? 1 : -1;
}

int cap_tls_hello_start(const uint8_t *p, size_t n) {
    if (n >= 1 && p[0] != TLS_REC_HANDSHAKE) return 0;
    int r = cap_tls_record_start(p, n);
    if (r <= 0) return r;
    if (n < 6) return -1;
    return p[5] == 1 || p[5] == 2; /* ClientHello, ServerHello */
}

/* The certificate this direction gathered, if any, given up. */
static void cert_release(cap_tls_ctx *x, cap_tls_dir *d) {
    if (!d->cert_slot) return;
    tls_cert_slot *c = &x->certs[d->cert_slot - 1];
    OPENSSL_cleanse(c->data, c->len);
    c->owner = NULL;
    d->cert_slot = 0;
}

typedef enum tls_why { TLS_NO_KEY, TLS_FAILED, TLS_UNSUPPORTED } tls_why;

static void give_up(cap_tls_ctx *x, cap_tls_dir *d, tls_why why) {
    cert_release(x, d);
    if (d->state == TLS_OPAQUE) return;
    d->state = TLS_OPAQUE;
    if (d->heuristic) { /* most likely not SIP at all (HTTPS): not counted */
    } else if (why == TLS_NO_KEY) x->st->tls_no_key++;
    else if (why == TLS_UNSUPPORTED) x->st->tls_unsupported++;
    else x->st->tls_failed++;
    OPENSSL_cleanse(d->key, sizeof d->key);
    OPENSSL_cleanse(d->mac_key, sizeof d->mac_key);
    OPENSSL_cleanse(d->secret, sizeof d->secret);
}

void cap_tls_lost(cap_tls_ctx *x, cap_tls_dir *d) { give_up(x, d, TLS_FAILED); }

void cap_tls_midstream(cap_tls_ctx *x, cap_tls_dir *d) { give_up(x, d, TLS_NO_KEY); }

void cap_tls_end(cap_tls_ctx *x, cap_tls_dir *d) {
    if (d->cert_slot && !d->is_client && !d->heuristic) x->st->tls_certs_unread++; /* its end never came */
    cert_release(x, d);
    if (d->hs_waits && !d->hs_done && is_tls13(d)) { /* its handshake waited for keys that never came */
        d->hs_done = true;
        if (!d->cert_seen && !d->is_client && !d->heuristic && !d->psk) x->st->tls_certs_unread++;
    }
    if (!d->keyed && (d->trials || d->hs_waits)) give_up(x, d, TLS_NO_KEY); /* records waited for keys in vain */
}

/* The HelloRetryRequest's fixed "random" (RFC 8446 4.1.3). */
static const uint8_t hrr_random[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                       0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                       0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* ServerHello's extensions (p: after the suite and compression): the
 * version supported_versions names (TLS 1.3), encrypt_then_mac,
 * pre_shared_key (TLS 1.3 resumption: the server shows no certificate,
 * RFC 8446 4.2.11). */
static void server_hello_extensions(cap_tls_dir *d, const uint8_t *p, size_t n) {
    if (n < 2) return;
    size_t len = be16(p);
    p += 2;
    n -= 2;
    if (len < n) n = len;
    while (n >= 4) {
        uint16_t type = be16(p), elen = be16(p + 2);
        if (elen > n - 4) return;
        if (type == 0x002b && elen == 2) d->version = be16(p + 4);
        if (type == 0x0016) d->etm = true;
        if (type == 0x0029) d->psk = true;
        p += 4 + elen;
        n -= 4 + (size_t)elen;
    }
}

/* A ClientHello (p, n bytes) offers 0-RTT: its extensions hold early_data
 * (RFC 8446 4.2.10), so application data records may follow it before the
 * ServerHello comes. */
static bool client_hello_early_data(const uint8_t *p, size_t n) {
    size_t off = 38;
    if (off >= n) return false;
    off += 1 + (size_t)p[off]; /* session id */
    if (off + 2 > n) return false;
    off += 2 + (size_t)be16(p + off); /* cipher suites */
    if (off + 1 > n) return false;
    off += 1 + (size_t)p[off]; /* compression methods */
    if (off + 2 > n) return false;
    size_t end = off + 2 + (size_t)be16(p + off);
    if (end > n) end = n;
    for (off += 2; off + 4 <= end; off += 4 + (size_t)be16(p + off + 2))
        if (be16(p + off) == 0x002a) return true;
    return false;
}

/* The two directions of a session, each with its hello read: the server's
 * learns the client random, the client's the server random, suite and
 * version. */
static void hello_link(cap_tls_dir *c, cap_tls_dir *s) {
    memcpy(s->client_random, c->client_random, 32);
    s->have_client_random = true;
    memcpy(c->server_random, s->server_random, 32);
    c->suite = s->suite;
    c->version = s->version;
    c->etm = s->etm;
    c->have_server = true;
}

/* The first handshake message of a plaintext record: a ClientHello gives the
 * client random; a ServerHello the server random, suite and version. The
 * directions are linked by whichever hello is whole last: a capture may put
 * the ServerHello before the ClientHello's last segment (a ClientHello of
 * two segments, the directions captured apart), when the ClientHello's
 * direction has no client random yet. */
static void read_hello(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *p, size_t n,
                       const cap_tls_ops *ops) {
    if (n < 38 || (p[0] != 1 && p[0] != 2)) return;
    size_t mlen = be24(p + 1) + 4;
    if (mlen < n) n = mlen;
    if (p[0] == 1) {
        if (d->state == TLS_HELLO && !d->heuristic) x->st->tls_handshakes++;
        d->is_client = true;
        memcpy(d->client_random, p + 6, 32);
        d->have_client_random = true;
        d->early_data = client_hello_early_data(p, n);
        d->state = TLS_CLEAR;
        cap_tls_dir *sv = ops->peer ? ops->peer(ops->ctx) : NULL;
        if (sv && !sv->is_client && sv->have_server && !sv->have_client_random) hello_link(d, sv);
        return;
    }
    if (memcmp(p + 6, hrr_random, 32) == 0) { /* HelloRetryRequest: a ServerHello follows */
        d->state = TLS_CLEAR;
        return;
    }
    size_t off = 38;
    if (off >= n) return;
    off += 1 + (size_t)p[off]; /* session id */
    if (off + 3 > n) return;
    d->is_client = false;
    d->suite = be16(p + off);
    memcpy(d->server_random, p + 6, 32);
    d->have_server = true;
    d->version = be16(p + 4); /* legacy_version, unless supported_versions says */
    d->etm = false;
    d->psk = false;
    server_hello_extensions(d, p + off + 3, n - off - 3);
    d->state = TLS_CLEAR;
    if (!d->heuristic && cap_tls_version_name(d->version)) x->st->tls_versions[d->version - 0x0300]++;
    if (ops->handshake && !d->heuristic) ops->handshake(ops->ctx, d->version, d->suite, NULL, 0, false);
    cap_tls_dir *c = ops->peer ? ops->peer(ops->ctx) : NULL;
    if (c && c->is_client && c->have_client_random) hello_link(c, d);
}

static bool hkdf_expand_label(cap_tls_ctx *x, bool sha384, const uint8_t *secret, size_t slen, const char *label,
                              uint8_t *out, size_t olen) {
    if (!x->hkdf && !(x->hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL))) return false;
    uint8_t info[64];
    size_t ll = strlen(label);
    info[0] = (uint8_t)(olen >> 8);
    info[1] = (uint8_t)olen;
    info[2] = (uint8_t)(6 + ll);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, ll);
    info[9 + ll] = 0; /* no context */
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, sha384 ? "SHA384" : "SHA256", 0),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + ll), OSSL_PARAM_construct_end()};
    EVP_KDF_CTX *k = EVP_KDF_CTX_new(x->hkdf);
    bool ok = k && EVP_KDF_derive(k, out, olen, params) == 1;
    EVP_KDF_CTX_free(k);
    return ok;
}

static bool tls13_keys(cap_tls_ctx *x, cap_tls_dir *d) {
    size_t hlen = d->cs->sha384 ? 48 : 32;
    if (d->secret_len != hlen) return false;
    return hkdf_expand_label(x, d->cs->sha384, d->secret, hlen, "key", d->key, d->cs->key_len) &&
           hkdf_expand_label(x, d->cs->sha384, d->secret, hlen, "iv", d->iv, 12);
}

static bool tls12_keys(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *master) {
    if (!x->prf && !(x->prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL))) return false;
    uint8_t seed[13 + 64], block[2 * 48 + 2 * 32 + 2 * 12];
    memcpy(seed, "key expansion", 13);
    memcpy(seed + 13, d->server_random, 32);
    memcpy(seed + 45, d->client_random, 32);
    /* client MAC key, server MAC key (CBC only), client key, server key,
     * client IV, server IV (AEAD: the implicit part; CBC: unused) */
    size_t ml = d->cs->mac_len, kl = d->cs->key_len;
    size_t il = d->cs->aead == TLS_CHACHA ? 12 : d->cs->aead == TLS_AES_GCM ? 4 : 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, d->cs->sha384 ? "SHA384" : "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, 48),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed), OSSL_PARAM_construct_end()};
    EVP_KDF_CTX *k = EVP_KDF_CTX_new(x->prf);
    bool ok = k && EVP_KDF_derive(k, block, 2 * ml + 2 * kl + 2 * il, params) == 1;
    EVP_KDF_CTX_free(k);
    if (ok) {
        memcpy(d->mac_key, block + (d->is_client ? 0 : ml), ml);
        memcpy(d->key, block + 2 * ml + (d->is_client ? 0 : kl), kl);
        memcpy(d->iv, block + 2 * ml + 2 * kl + (d->is_client ? 0 : il), il);
    }
    OPENSSL_cleanse(block, sizeof block);
    return ok;
}

/* The keys of this direction, from the log: 1 derived; 0 not in the log
 * (yet: a live capture reads records before the endpoint writes the keys
 * down); -1 given up (counted). */
static int derive_keys(cap_tls_ctx *x, cap_tls_dir *d) {
    if (!d->have_server || !x->keys) {
        give_up(x, d, TLS_NO_KEY); /* no key log, or a hello not seen: no session to look up */
        return -1;
    }
    /* a server without the client random: the ClientHello's last segment may
     * come later in the capture (read_hello links them then); its records
     * are passed over meanwhile, as when the key log is behind */
    if (!d->have_client_random) return 0;
    d->cs = suite_find(d->suite);
    bool suite13 = d->cs && d->cs->id >> 8 == 0x13;
    if (!d->cs || (is_tls13(d) ? !suite13 : d->version != 0x0303 || suite13)) { /* TLS 1.0, 1.1: neither */
        give_up(x, d, TLS_UNSUPPORTED);
        return -1;
    }
    tls_session_keys s;
    if (!keys_find(x->keys, d->client_random, TLS_NEED_TRAFFIC, &s)) {
        if (x->keys->follow) return 0;
        give_up(x, d, TLS_NO_KEY);
        return -1;
    }
    const uint8_t *sec = d->is_client ? s.cts : s.sts;
    size_t slen = d->is_client ? s.cts_len : s.sts_len;
    int r = 0;
    if (is_tls13(d) && slen == (d->cs->sha384 ? 48u : 32u)) {
        memcpy(d->secret, sec, slen);
        d->secret_len = (uint8_t)slen;
        r = tls13_keys(x, d) ? 1 : -1;
    } else if (!is_tls13(d) && s.has_master) {
        r = tls12_keys(x, d, s.master) ? 1 : -1;
    }
    OPENSSL_cleanse(&s, sizeof s);
    if (r < 0) give_up(x, d, TLS_FAILED);
    d->keyed = r > 0;
    return r;
}

/* What TLS 1.2 authenticates before a record's data (the HMAC's start, the
 * AEAD's additional data): sequence number, type, version, length. */
static void tls12_pseudo_header(uint8_t out[13], uint64_t seq, const uint8_t *h, size_t len) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(seq >> (56 - 8 * i));
    out[8] = h[0];
    out[9] = h[1];
    out[10] = h[2];
    out[11] = (uint8_t)(len >> 8);
    out[12] = (uint8_t)len;
}

/* The TLS 1.2 HMAC of a record: the pseudo-header, then data. */
static bool record_mac(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *data, size_t len,
                       uint8_t *out) {
    if (!x->hmac && !(x->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) return false;
    if (!x->mac && !(x->mac = EVP_MAC_CTX_new(x->hmac))) return false;
    uint8_t hdr[13];
    tls12_pseudo_header(hdr, d->seq, h, len);
    size_t ml = d->cs->mac_len, outl = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         ml == 20 ? "SHA1" : ml == 32 ? "SHA256" : "SHA384", 0),
        OSSL_PARAM_construct_end()};
    return EVP_MAC_init(x->mac, d->mac_key, ml, params) == 1 && EVP_MAC_update(x->mac, hdr, 13) == 1 &&
           EVP_MAC_update(x->mac, data, len) == 1 && EVP_MAC_final(x->mac, out, &outl, 48) == 1 && outl == ml;
}

/* AES-CBC of b[0, n) (the IV first) into x->plain, no padding removed. */
static bool cbc_decrypt(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *b, size_t n) {
    EVP_CIPHER_CTX *cx = x->cipher;
    int len = 0, fin = 0;
    return EVP_DecryptInit_ex(cx, d->cs->key_len == 32 ? EVP_aes_256_cbc() : EVP_aes_128_cbc(), NULL, d->key,
                              b) == 1 &&
           EVP_CIPHER_CTX_set_padding(cx, 0) == 1 &&
           EVP_DecryptUpdate(cx, x->plain, &len, b + 16, (int)(n - 16)) == 1 &&
           EVP_DecryptFinal_ex(cx, x->plain + len, &fin) == 1 && (size_t)(len + fin) == n - 16;
}

/* A TLS 1.2 AES-CBC record (RFC 5246 6.2.3.2; encrypt-then-MAC, RFC 7366):
 * the content's length in x->plain, or -1 when its MAC or padding is wrong. */
static long open_cbc(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *b, size_t n) {
    size_t ml = d->cs->mac_len;
    uint8_t mac[48];
    if (d->etm) { /* IV, E(content, padding), MAC over IV and ciphertext */
        if (n < 32 + ml || (n - ml) % 16) return -1;
        size_t ct = n - ml;
        if (!record_mac(x, d, h, b, ct, mac) || CRYPTO_memcmp(mac, b + ct, ml) != 0) return -1;
        if (!cbc_decrypt(x, d, b, ct)) return -1;
        size_t len = ct - 16, pad = x->plain[len - 1];
        if (pad + 1 > len) return -1;
        return (long)(len - pad - 1);
    }
    /* IV, E(content, MAC, padding) */
    if (n < 32 || n % 16 || n - 16 > sizeof x->plain || !cbc_decrypt(x, d, b, n)) return -1;
    size_t len = n - 16, pad = x->plain[len - 1];
    if (pad + 1 + ml > len) return -1;
    size_t content = len - pad - 1 - ml;
    if (!record_mac(x, d, h, x->plain, content, mac) || CRYPTO_memcmp(mac, x->plain + content, ml) != 0)
        return -1;
    return (long)content;
}

/* Decrypt one record (header h, body b of n bytes) at sequence d->seq into
 * x->plain; the plaintext length, or -1 when it does not open. */
static long open_record(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *b, size_t n) {
    if (!x->cipher && !(x->cipher = EVP_CIPHER_CTX_new())) return -1;
    if (d->cs->aead == TLS_AES_CBC) return open_cbc(x, d, h, b, n);
    uint8_t nonce[12], aad[13];
    size_t aad_len;
    const uint8_t *ct = b;
    size_t ct_len;
    bool gcm12 = !is_tls13(d) && d->cs->aead == TLS_AES_GCM;
    if (gcm12) { /* 4 bytes of implicit salt, 8 explicit in the record */
        if (n < 8 + TLS_TAG) return -1;
        memcpy(nonce, d->iv, 4);
        memcpy(nonce + 4, b, 8);
        ct += 8;
        ct_len = n - 8 - TLS_TAG;
    } else { /* the IV xor the sequence number */
        if (n < TLS_TAG) return -1;
        memcpy(nonce, d->iv, 12);
        for (int i = 0; i < 8; i++) nonce[4 + i] ^= (uint8_t)(d->seq >> (56 - 8 * i));
        ct_len = n - TLS_TAG;
    }
    if (ct_len > sizeof x->plain) return -1;
    if (is_tls13(d)) { /* the record header */
        memcpy(aad, h, 5);
        aad_len = 5;
    } else {
        tls12_pseudo_header(aad, d->seq, h, ct_len);
        aad_len = 13;
    }
    const EVP_CIPHER *c = d->cs->aead == TLS_CHACHA ? EVP_chacha20_poly1305()
                          : d->cs->key_len == 32    ? EVP_aes_256_gcm()
                                                    : EVP_aes_128_gcm();
    EVP_CIPHER_CTX *cx = x->cipher;
    int len = 0, fin = 0;
    if (EVP_DecryptInit_ex(cx, c, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
        EVP_DecryptInit_ex(cx, NULL, NULL, d->key, nonce) != 1 ||
        EVP_DecryptUpdate(cx, NULL, &len, aad, (int)aad_len) != 1 ||
        EVP_DecryptUpdate(cx, x->plain, &len, ct, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_TAG, TLS_TAG, (void *)(ct + ct_len)) != 1 ||
        EVP_DecryptFinal_ex(cx, x->plain + len, &fin) != 1)
        return -1;
    return (long)len + fin;
}

/* TLS 1.3 KeyUpdate: the next traffic secret (RFC 8446 7.2). */
static bool key_update(cap_tls_ctx *x, cap_tls_dir *d) {
    uint8_t next[48];
    size_t hlen = d->secret_len;
    if (!hkdf_expand_label(x, d->cs->sha384, d->secret, hlen, "traffic upd", next, hlen)) return false;
    memcpy(d->secret, next, hlen);
    OPENSSL_cleanse(next, sizeof next);
    d->seq = 0;
    return tls13_keys(x, d);
}

static bool wait_for_keys(cap_tls_ctx *x, cap_tls_dir *d, bool found, const tls_session_keys *s,
                          const cap_tls_ops *ops);

/* An encrypted record: its application data to out. Live, one whose keys
 * are not in the log yet waits for them as a handshake record does
 * (wait_for_keys); passed over when it cannot wait any more. */
static void encrypted_record(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *b, size_t n,
                             const cap_tls_ops *ops) {
    int keyed = d->keyed ? 1 : derive_keys(x, d);
    if (keyed < 0 || (keyed == 0 && wait_for_keys(x, d, false, NULL, ops))) return;
    long len = -1;
    if (keyed && d->state == TLS_TRIAL) { /* the application key's first record: sequence
                                           * 0, or later when records were passed over
                                           * while the key log did not hold it yet */
        for (uint64_t seq = 0; seq <= d->trials && len < 0; seq++) {
            d->seq = seq;
            len = open_record(x, d, h, b, n);
        }
    } else if (keyed) {
        len = open_record(x, d, h, b, n);
    }
    if (len < 0) {
        if (d->state == TLS_OPEN && keyed) {
            give_up(x, d, TLS_FAILED);
        } else if (++d->trials >= TLS_MAX_TRIALS) {
            give_up(x, d, keyed ? TLS_FAILED : TLS_NO_KEY);
        } else if (d->state == TLS_OPEN) {
            d->seq++; /* TLS 1.2, key not there yet: the record passed over had its number */
        }
        return; /* TLS 1.3: a handshake record, or the key log is behind */
    }
    d->state = TLS_OPEN;
    d->seq++;
    uint8_t type = h[0];
    if (is_tls13(d)) { /* TLSInnerPlaintext: content, type, zero padding */
        while (len > 0 && x->plain[len - 1] == 0) len--;
        if (len == 0) {
            give_up(x, d, TLS_FAILED);
            return;
        }
        type = x->plain[--len];
        bool update = type == TLS_REC_HANDSHAKE && len >= 4 && x->plain[0] == 24; /* KeyUpdate */
        if (update && !key_update(x, d)) give_up(x, d, TLS_FAILED);
    }
    if (type == TLS_REC_APP && len > 0) {
        x->st->tls_records++;
        ops->out(ops->ctx, x->plain, (size_t)len);
    }
}

/* The first certificate of a Certificate message (m: the first len bytes of
 * its body of mlen): 1 whole, at *at, *clen bytes; 0 more bytes needed, *need
 * in all; -1 none (an empty list: a client that had none to give; or not a
 * list). TLS 1.3 puts a request context before the list, and extensions
 * after each certificate. */
static int first_cert(const cap_tls_dir *d, const uint8_t *m, size_t len, size_t mlen, size_t *at, size_t *clen,
                      size_t *need) {
    size_t off = is_tls13(d) ? 1 + (size_t)(len ? m[0] : 0) : 0;
    *need = off + 6;
    if (*need > len) return *need > mlen ? -1 : 0;
    if (off + 3 + be24(m + off) != mlen || (*clen = be24(m + off + 3)) == 0) return -1;
    *at = off + 6;
    *need = *at + *clen;
    return *need > mlen ? -1 : *need <= len;
}

static void cert_read(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *cert, size_t clen, const cap_tls_ops *ops) {
    x->st->tls_certs++;
    ops->handshake(ops->ctx, d->version, d->suite, cert, clen, d->is_client);
}

/* A Certificate message, avail bytes of its body of mlen in this record:
 * its first certificate, the sender's own, handed over (the rest of the
 * chain is not judged). A first certificate that goes on into the next
 * records is gathered (cert_gather), up to TLS_CERT_MAX bytes. */
static void certificate_message(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *m, size_t avail, size_t mlen,
                                const cap_tls_ops *ops) {
    d->cert_seen = true;
    size_t at, clen, need;
    int r = first_cert(d, m, avail, mlen, &at, &clen, &need);
    if (r > 0) cert_read(x, d, m + at, clen, ops);
    if (r != 0) return;
    for (unsigned i = 0; i < TLS_CERT_SLOTS && need <= TLS_CERT_MAX; i++) {
        tls_cert_slot *c = &x->certs[i];
        if (c->owner) continue;
        c->owner = d;
        c->len = (uint32_t)avail;
        c->mlen = (uint32_t)mlen;
        memcpy(c->data, m, avail);
        d->cert_slot = (uint8_t)(i + 1);
        return;
    }
    if (!d->is_client) x->st->tls_certs_unread++; /* too long, or too many gathered at once */
}

/* The next n bytes of a Certificate message being gathered (the first of a
 * record; more follow when more) up to the end of its first certificate. */
static void cert_gather(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *b, size_t n, bool more,
                        const cap_tls_ops *ops) {
    tls_cert_slot *c = &x->certs[d->cert_slot - 1];
    size_t at = 0, clen = 0, need = 0;
    int r;
    while ((r = first_cert(d, c->data, c->len, c->mlen, &at, &clen, &need)) == 0 && n && need <= TLS_CERT_MAX) {
        size_t take = need - c->len < n ? need - c->len : n;
        memcpy(c->data + c->len, b, take);
        c->len += (uint32_t)take;
        b += take;
        n -= take;
    }
    if (r == 0 && more && need <= TLS_CERT_MAX) return; /* on in the next record */
    if (r > 0) cert_read(x, d, c->data + at, clen, ops);
    else if (r == 0 && !d->is_client) x->st->tls_certs_unread++;
    cert_release(x, d);
}

/* The handshake messages of one of this side's records: in the clear (TLS
 * 1.2 and older), or opened with its handshake key (TLS 1.3). Only the
 * Certificate is read: the server's, and the client's when the server
 * asked for one (mutual TLS). A message that goes on past the record is
 * stepped over in the next one (d->hs_skip). */
static void handshake_messages(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *b, size_t n, const cap_tls_ops *ops) {
    if (!d->have_server || d->heuristic || !ops->handshake) return;
    size_t skip = d->hs_skip < n ? d->hs_skip : n;
    if (d->cert_slot) cert_gather(x, d, b, skip, d->hs_skip > n, ops);
    d->hs_skip -= (uint32_t)skip;
    b += skip;
    n -= skip;
    while (n > 0) { /* on past the Certificate: TLS 1.3's Finished tells where the handshake ends */
        uint8_t head[4]; /* type, length: here, or begun at the end of the last record */
        size_t had = d->hs_head_len, k = 4 - had < n ? 4 - had : n;
        memcpy(head, d->hs_head, had);
        memcpy(head + had, b, k);
        if (had + k < 4) { /* cut by the record's end: finished by the next one */
            memcpy(d->hs_head, head, had + k);
            d->hs_head_len = (uint8_t)(had + k);
            return;
        }
        d->hs_head_len = 0;
        b += k;
        n -= k;
        size_t mlen = be24(head + 1), avail = mlen < n ? mlen : n;
        if (head[0] == 11 && !d->cert_seen) certificate_message(x, d, b, avail, mlen, ops);
        if (head[0] == 20) d->hs_done = d->hs_finished = true; /* Finished: this side's handshake is over */
        if (avail < mlen) {
            d->hs_skip = (uint32_t)(mlen - avail);
            return;
        }
        b += mlen;
        n -= mlen;
    }
}

/* A followed key log (live) that has not got this session's secrets yet
 * (the endpoint writes them a moment after it reads the hello fs38 has
 * read too): the record waits, unconsumed, for the next bytes of its
 * direction, while the caller can keep it (ops->max_hold) and at most
 * TLS_MAX_WAITS times. A session logged with its traffic secrets but not
 * this one is a logger that writes no handshake secrets: no wait. */
static bool wait_for_keys(cap_tls_ctx *x, cap_tls_dir *d, bool found, const tls_session_keys *s,
                          const cap_tls_ops *ops) {
    if (!x->keys->follow || (found && session_complete(s)) || x->offered > ops->max_hold ||
        d->hs_waits >= TLS_MAX_WAITS)
        return false;
    d->hs_waits++;
    d->hs_wait = true;
    return true;
}

/* TLS 1.3: a record of this side's encrypted handshake (the server's
 * EncryptedExtensions, Certificate, CertificateVerify, Finished; the
 * client's Certificate, when asked, CertificateVerify, Finished), opened
 * with its handshake traffic secret when the key log holds it (OpenSSL,
 * NSS, curl and Python write SERVER_ and CLIENT_HANDSHAKE_TRAFFIC_SECRET),
 * for the certificate. True when the record opened: a handshake record,
 * not one for the application key; or when it waits for its keys
 * (d->hs_wait). Tried until the certificate is read, the handshake ends,
 * or a record does not open with that key. */
static bool handshake_record(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *b, size_t n,
                             const cap_tls_ops *ops) {
    if (d->hs_done) return false;
    if (d->heuristic || !ops->handshake || !is_tls13(d)) {
        d->hs_done = true; /* (not a SIP port when the handshake passed: not judged) */
        return false;
    }
    cap_tls_dir hs = {.version = d->version, .cs = suite_find(d->suite), .seq = d->hs_records};
    tls_session_keys s;
    bool lookup = hs.cs && hs.cs->id >> 8 == 0x13 && x->keys && d->have_client_random; /* a session to find */
    bool found = lookup &&
                 keys_find(x->keys, d->client_random, d->is_client ? TLS_NEED_CLIENT_HS : TLS_NEED_SERVER_HS, &s);
    uint8_t hlen = hs.cs && hs.cs->sha384 ? 48 : 32;
    bool keyed = found && (d->is_client ? s.chts_len : s.shts_len) == hlen;
    if (keyed) {
        memcpy(hs.secret, d->is_client ? s.chts : s.shts, hlen);
        hs.secret_len = hlen;
        keyed = tls13_keys(x, &hs);
    }
    bool wait = !keyed && lookup && wait_for_keys(x, d, found, &s, ops);
    if (found) OPENSSL_cleanse(&s, sizeof s);
    if (wait) return true;
    long len = keyed ? open_record(x, &hs, h, b, n) : -1;
    OPENSSL_cleanse(&hs, sizeof hs);
    if (len < 0) { /* no key, or not a handshake record: a certificate is not read */
        d->hs_done = true;
        if (!d->is_client && !d->cert_seen && !d->psk) /* (a client's may not exist; nor, resumed, a server's) */
            x->st->tls_certs_unread++;
        return false;
    }
    d->hs_records++;
    while (len > 0 && x->plain[len - 1] == 0) len--; /* TLSInnerPlaintext: content, type, zeros */
    if (len > 0 && x->plain[len - 1] == TLS_REC_HANDSHAKE) handshake_messages(x, d, x->plain, (size_t)len - 1, ops);
    if (d->hs_records == UINT8_MAX) d->hs_done = true;
    if (d->hs_finished) { /* the application key's records follow from sequence 0, in order: one
                           * that does not open is corrupt (counted, the direction given up), not
                           * a handshake record to pass over, its plaintext lost unsaid */
        d->state = TLS_OPEN;
        d->seq = 0;
    }
    return true;
}

/* TLS 1.3 0-RTT: an application data record a client sent after a
 * ClientHello that offered early data, before the ServerHello (RFC 8446
 * 2.3): opened with the key log's CLIENT_EARLY_TRAFFIC_SECRET, under the
 * resumed session's suite -- not named before the ServerHello, so each
 * TLS 1.3 suite of the secret's hash is tried until one opens. A record
 * that does not open is passed over; the direction is read on after the
 * handshake either way. */
static void early_record(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *b, size_t n,
                         const cap_tls_ops *ops) {
    static const uint16_t suites[] = {0x1301, 0x1303, 0x1302};
    tls_session_keys s;
    uint8_t seq = d->early_seq++;
    if (!x->keys || !keys_find(x->keys, d->client_random, TLS_NEED_EARLY, &s)) return;
    long len = -1;
    for (size_t i = 0; i < sizeof suites / sizeof *suites && len < 0; i++) {
        cap_tls_dir e = {.version = 0x0304, .cs = suite_find(suites[i]), .seq = seq};
        if ((d->early_suite && d->early_suite != suites[i]) || s.cets_len != (e.cs->sha384 ? 48 : 32)) continue;
        memcpy(e.secret, s.cets, s.cets_len);
        e.secret_len = s.cets_len;
        if (tls13_keys(x, &e)) len = open_record(x, &e, h, b, n);
        if (len >= 0) d->early_suite = suites[i];
        OPENSSL_cleanse(&e, sizeof e);
    }
    OPENSSL_cleanse(&s, sizeof s);
    while (len > 0 && x->plain[len - 1] == 0) len--; /* TLSInnerPlaintext: content, type, zeros */
    if (len > 1 && x->plain[len - 1] == TLS_REC_APP) {
        x->st->tls_records++;
        ops->out(ops->ctx, x->plain, (size_t)len - 1);
    }
}

static void record(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *h, const uint8_t *b, size_t n,
                   const cap_tls_ops *ops) {
    switch (d->state) {
    case TLS_HELLO:
        if (h[0] == TLS_REC_ALERT) { /* the handshake refused: nothing to read, nothing missed */
            d->state = TLS_OPAQUE;
            return;
        }
        if (h[0] == TLS_REC_HANDSHAKE) read_hello(x, d, b, n, ops);
        if (d->state == TLS_HELLO) give_up(x, d, TLS_FAILED); /* not a hello after all */
        else if (h[0] == TLS_REC_HANDSHAKE) handshake_messages(x, d, b, n, ops); /* in the hello's record */
        return;
    case TLS_CLEAR:
        if (h[0] == TLS_REC_HANDSHAKE) {
            if (n >= 1 && (b[0] == 1 || b[0] == 2) && !d->have_server) read_hello(x, d, b, n, ops);
            if (!is_tls13(d)) handshake_messages(x, d, b, n, ops);
            return;
        }
        if (h[0] == TLS_REC_CCS) {
            /* TLS 1.2: encrypted from the next record. Not before the
             * ServerHello names the version: TLS 1.3's middlebox-compatible
             * CCS after a HelloRetryRequest (server) or before the second
             * ClientHello (client) comes first (RFC 8446 D.4) */
            if (d->have_server && !is_tls13(d)) d->state = TLS_OPEN;
            d->seq = 0;
            return;
        }
        if (h[0] == TLS_REC_APP) { /* TLS 1.3: the encrypted handshake begins */
            if (!d->have_server && d->is_client && d->early_data) {
                /* 0-RTT early data, before the ServerHello: read with its own
                 * key (early_record), the direction read on after the handshake */
                if (++d->trials >= TLS_MAX_TRIALS) give_up(x, d, TLS_NO_KEY);
                else early_record(x, d, h, b, n, ops);
                return;
            }
            if (!d->have_server || !is_tls13(d)) {
                give_up(x, d, d->have_server ? TLS_FAILED : TLS_NO_KEY);
                return;
            }
            d->state = TLS_TRIAL;
            d->seq = 0;
            if (!handshake_record(x, d, h, b, n, ops)) encrypted_record(x, d, h, b, n, ops);
        }
        return;
    case TLS_TRIAL:
        if (h[0] == TLS_REC_APP && !handshake_record(x, d, h, b, n, ops)) encrypted_record(x, d, h, b, n, ops);
        return;
    case TLS_OPEN:
        if (h[0] == TLS_REC_CCS) return; /* TLS 1.3 compat */
        encrypted_record(x, d, h, b, n, ops);
        return;
    default:
        return;
    }
}

size_t cap_tls_records(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *p, size_t n, const cap_tls_ops *ops) {
    size_t pos = 0;
    while (d->state != TLS_OPAQUE) {
        if (n - pos < 5) return pos;
        const uint8_t *h = p + pos;
        size_t len = be16(h + 3);
        if (cap_tls_record_start(h, 5) != 1) {
            give_up(x, d, TLS_FAILED); /* not TLS records (any more) */
            break;
        }
        if (n - pos < 5 + len) return pos;
        x->offered = n - pos;
        pos += 5 + len;
        record(x, d, h, h + 5, len, ops);
        if (d->hs_wait) { /* kept for when its keys are in the log */
            d->hs_wait = false;
            return pos - 5 - len;
        }
    }
    return n; /* passed over */
}

bool cap_tls_opaque(const cap_tls_dir *d) { return d->state == TLS_OPAQUE; }
