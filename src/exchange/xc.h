/*
 * xc.h -- the exchange format layer: fs38 events as operators share them.
 *
 * Owns: validation of an event's JSON against version 1.0 of
 * ../shared/spec/events.md (xc_event.c), the signed form -- JWS compact with
 * EdDSA/Ed25519 (xc_jws.c), key pairs, key ids, key files and the trust
 * registry (xc_keys.c), and subscriber identifier pseudonymisation
 * (xc_pseudo.c). Must not touch: the network, databases, policy (TLP,
 * audiences, replay windows are the hub's), printing.
 *
 * Rules this layer keeps for its callers:
 *   - an event is parsed once (jansson); the original bytes are never
 *     re-serialised, so what a publisher signed is what every receiver gets;
 *   - every input is bounded before it is parsed (XC_EVENT_MAX_BYTES, depth);
 *   - duplicate object keys are rejected (two readers could disagree);
 *   - unknown fields (and x- extensions) are kept, never dropped;
 *   - everything loaded (a registry, a key file) is read-only afterwards, so
 *     several verifying threads may share it without locks.
 * libsodium must be initialised (sodium_init) before any function here.
 */
#ifndef FS_XC_H
#define FS_XC_H

#include <jansson.h>

#include "../core/fs_core.h"

/* ---- bounds --------------------------------------------------------------- */

#define XC_EVENT_MAX_BYTES 65536   /* one event's JSON */
#define XC_EVENT_MAX_DEPTH 16      /* nesting of objects/arrays in an event */
#define XC_EVENT_MAX_VALUES_BASE 256 /* values in an event (containers and commas): 256... */
#define XC_EVENT_BYTES_PER_VALUE 8   /* ...and one per 8 bytes of it */
#define XC_MAX_OBSERVABLES 64
#define XC_MAX_AUDIENCE 64
#define XC_JWS_MAX_BYTES (XC_EVENT_MAX_BYTES / 3 * 4 + 512)
#define XC_KID_LEN 22              /* base64url of 16 bytes, no padding */
#define XC_HMAC_B64_LEN 43         /* base64url of 32 bytes, no padding */
#define XC_ISSUER_MAX 68           /* "org:" + 64 */

/* ---- validation reports ------------------------------------------------------ */

#define XC_REPORT_MAX 32

/* One problem: the field's path ("observables[2].kind", "$" for the whole
 * document) and what is wrong with it. */
typedef struct xc_issue {
    char field[96];
    char problem[448]; /* the longest: a wrong event_type and the 20 allowed ones */
} xc_issue;

/* Every problem found, in document order; `dropped` counts those beyond
 * XC_REPORT_MAX. */
typedef struct xc_report {
    unsigned n;
    unsigned dropped;
    xc_issue items[XC_REPORT_MAX];
} xc_report;

void xc_report_clear(xc_report *r);
void xc_report_add(xc_report *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "field: problem; field: problem (+N more)" into buf; returns buf. */
const char *xc_report_format(const xc_report *r, char *buf, size_t n);
/* The first issue naming exactly this field, or NULL. */
const xc_issue *xc_report_find(const xc_report *r, const char *field);

/* ---- enumerations of the 1.0 format ------------------------------------------ */

typedef enum xc_enum {
    XC_ENUM_STATUS = 0,
    XC_ENUM_EVENT_TYPE,
    XC_ENUM_DOMAIN,
    XC_ENUM_SEVERITY,
    XC_ENUM_OBS_KIND,
    XC_ENUM_OBS_ROLE,
    XC_ENUM_ACTION,
    XC_ENUM_TLP,
    XC_ENUM_PROTOCOL, /* details.protocol of SIGNALLING_ATTACK */
    XC_ENUM__COUNT
} xc_enum;

size_t xc_enum_count(xc_enum which);
const char *xc_enum_value(xc_enum which, size_t i); /* NULL past the end */
int xc_enum_find(xc_enum which, const char *s);     /* index or -1 */
const char *xc_enum_label(xc_enum which);          /* "event_type", "observable kind" ... */

/* ---- events (xc_event.c) ------------------------------------------------------ */

/* The memory of one parsed event (xc_jmem.c). xc_jmem_install, called once
 * by a program's main before it starts threads, routes jansson's allocations
 * through hooks that use malloc/free unless a parse on the calling thread
 * has an arena current. A tree built in an arena is read-only and released
 * with its arena, never with json_decref; json_deep_copy what must outlive
 * or change it. Without xc_jmem_install, jansson uses malloc as usual. */
typedef struct xc_jmem xc_jmem;
void xc_jmem_install(void);
/* A new arena for parsing json_len bytes, current on this thread; NULL
 * (not installed, or no memory): jansson uses malloc. */
xc_jmem *xc_jmem_begin(size_t json_len);
void xc_jmem_end(xc_jmem *a);   /* no longer current (the tree stays valid) */
void xc_jmem_free(xc_jmem *a);  /* ends it and frees every block (NULL: nothing) */
size_t xc_jmem_bytes(const xc_jmem *a); /* bytes handed out (0 for NULL) */

/* The indexed fields of a valid event. Strings point into `root` and live
 * as long as it does; times are milliseconds since the Unix epoch. */
typedef struct xc_event {
    json_t *root; /* the whole parsed object, unknown fields included; owned */
    xc_jmem *mem; /* the arena holding root (read-only then), or NULL: root is malloc'd */
    const char *schema_version, *event_id, *issuer, *status, *event_type, *domain, *severity,
        *tlp;
    int64_t version;
    int confidence;
    int64_t created_ms, first_seen_ms, last_seen_ms, valid_until_ms;
    const json_t *observables; /* array of >= 1 objects */
    const json_t *audience;    /* handling.audience (array of issuers) or NULL */
    const char *ref_issuer, *ref_event_id; /* details.ref of SIGHTING / FALSE_POSITIVE */
} xc_event;

typedef struct xc_observable {
    const char *kind, *value, *role, *key_id; /* key_id NULL when absent */
} xc_observable;

/* Before jansson builds a text: its nesting (outside strings) stays within
 * max_depth and its values (containers and commas, at least as many as
 * the values) within max_values. Both before any recursion or allocation. */
bool xc_json_within(const char *p, size_t n, unsigned max_depth, size_t max_values);

/* Parse and validate one event (bytes, not NUL terminated, trailing
 * whitespace allowed). On FS_OK, ev holds the tree and the indexed fields;
 * release with xc_event_free. On failure ev is left empty, `r` (if non-NULL)
 * lists every problem found and `e` summarises them; the code is
 * FS_ERR_LIMIT for size/depth, FS_ERR_FORMAT otherwise. */
fs_code xc_event_parse(const char *buf, size_t len, xc_event *ev, xc_report *r, fs_err *e);
/* Validate an already-parsed object (takes no ownership). */
fs_code xc_event_check(json_t *root, xc_event *ev, xc_report *r, fs_err *e);
void xc_event_free(xc_event *ev);

size_t xc_event_nobs(const xc_event *ev);
bool xc_event_observable(const xc_event *ev, size_t i, xc_observable *out);
/* s holds a number of at least min digits as the hub's clear-identifier
 * test reads one: through visual separators and %XX escapes in a user part
 * ("tel:+44-7700-900123", "sip:+44%37700900123@..."), not a host's address. */
bool xc_number_run(const char *s, size_t min);

/* Clear subscriber identifiers the hub must refuse: an observable with role
 * victim whose value holds a run of 7+ digits (an MSISDN, IMSI or ICCID in
 * clear, whatever its kind), and a *_hmac value that is not base64url of
 * 32 bytes or has no key_id. Adds one issue per finding to r; returns the
 * count (0 = none). */
unsigned xc_event_clear_ids(const xc_event *ev, xc_report *r);
/* Only the *_hmac part of xc_event_clear_ids: values the format defines as
 * base64url(HMAC-SHA256) that are not (fs38 validate; a victim's number
 * in clear is fine in a local event, which share pseudonymises). */
unsigned xc_event_hmac_values(const xc_event *ev, xc_report *r);

/* "org:<MCC>-<MNC>" (3-digit MCC, 2-3 digit MNC) or "org:<name>" with name
 * [a-z0-9._-]{1,64} not made of digits and dashes only. */
bool xc_issuer_valid(const char *s, size_t len);
/* RFC 3339 in UTC ("Z"), optional fraction; ms since the epoch. */
bool xc_time_parse(const char *s, size_t len, int64_t *ms);

/* ---- base64url (no padding) ------------------------------------------------ */

/* Encode n bytes; out needs XC_B64_LEN(n) + 1. Returns the length. */
#define XC_B64_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
size_t xc_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* Strict decode (alphabet, no padding, no whitespace, zero unused bits).
 * Returns false on any problem or when the result exceeds cap. */
bool xc_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* ---- keys and the trust registry (xc_keys.c) --------------------------------- */

typedef struct xc_keypair {
    char issuer[XC_ISSUER_MAX + 1];
    char kid[XC_KID_LEN + 1];
    uint8_t pk[32];
    uint8_t sk[64]; /* libsodium form: seed || pk */
} xc_keypair;

/* kid = base64url(first 16 bytes of SHA-256(public key)). */
void xc_key_id(const uint8_t pk[32], char kid[XC_KID_LEN + 1]);
fs_code xc_keypair_generate(const char *issuer, xc_keypair *kp, fs_err *e);
/* Write dir/<kid>.key (secret, mode 0600) and dir/<kid>.pub (the member
 * entry for a trust registry). Refuses to overwrite either file. */
fs_code xc_keypair_save(const xc_keypair *kp, const char *dir, fs_err *e);
/* Read a .key file: refuses one readable by group/others, checks that the
 * kid and public key agree with the secret key. */
fs_code xc_keypair_load(const char *path, xc_keypair *kp, fs_err *e);
/* The .pub member entry JSON text (NUL terminated) into buf. */
fs_code xc_member_json(const xc_keypair *kp, char *buf, size_t n, fs_err *e);
/* Wipe the secret key. */
void xc_keypair_wipe(xc_keypair *kp);

#define XC_REGISTRY_MAX_BYTES (4u << 20)
#define XC_REGISTRY_MAX_MEMBERS 10000
#define XC_REGISTRY_VALUES_BASE 1024       /* JSON values a registry may hold: 1024... */
#define XC_REGISTRY_BYTES_PER_VALUE 16     /* ...and one per 16 bytes */

typedef struct xc_member {
    char issuer[XC_ISSUER_MAX + 1];
    char kid[XC_KID_LEN + 1];
    uint8_t pk[32];
    bool revoked;
    bool has_cert;
    uint8_t cert_sha256[32];
} xc_member;

/* {"members":[{"issuer","kid","public_key","status":"active|revoked",
 *  "cert_sha256"?:"<64 hex>"}, ...]}; member keys other than these (and
 * x-*) are errors, a kid must be the key id of its public key, kids unique. */
typedef struct xc_registry {
    xc_member *members; /* sorted by kid */
    size_t n;
} xc_registry;

fs_code xc_registry_load(const char *path, xc_registry *reg, fs_err *e);
fs_code xc_registry_parse(const char *buf, size_t len, xc_registry *reg, fs_err *e);
void xc_registry_free(xc_registry *reg);
/* Binary search; NULL when unknown. Revoked members are returned too. */
const xc_member *xc_registry_find(const xc_registry *reg, const char *kid, size_t kid_len);
/* The member whose client certificate has this SHA-256 (linear), or NULL. */
const xc_member *xc_registry_find_cert(const xc_registry *reg, const uint8_t sha256[32]);

/* ---- JWS compact, EdDSA (xc_jws.c) ------------------------------------------ */

#define XC_JWS_TYP "fs38-event+jws"

typedef enum xc_jws_code {
    XC_JWS_OK = 0,
    XC_JWS_OVERSIZED,        /* input or payload larger than the bounds */
    XC_JWS_SEGMENTS,         /* not exactly header.payload.signature */
    XC_JWS_BASE64,           /* a segment is not strict base64url */
    XC_JWS_HEADER_JSON,      /* protected header is not a JSON object */
    XC_JWS_HEADER_PARAM,     /* header has a member other than alg, kid, typ */
    XC_JWS_ALG,              /* alg missing or not EdDSA */
    XC_JWS_TYP_BAD,          /* typ missing or not fs38-event+jws */
    XC_JWS_KID_MISSING,
    XC_JWS_KID_UNKNOWN,      /* kid not in the trust registry */
    XC_JWS_REVOKED,          /* the kid's member is revoked */
    XC_JWS_SIGNATURE,        /* Ed25519 verification failed */
    XC_JWS_PAYLOAD,          /* signed payload is not a valid event */
    XC_JWS_ISSUER_MISMATCH,  /* event issuer != key owner */
    XC_JWS__COUNT
} xc_jws_code;

const char *xc_jws_code_name(xc_jws_code c); /* "signature", "kid_unknown", ... */

/* Length of the compact form for a payload of n bytes. */
size_t xc_jws_size(size_t payload_len);
/* Sign the exact payload bytes. Writes the compact form (NUL terminated)
 * into out; returns its length, or 0 with e set (out too small, payload
 * oversized, bad kid). */
size_t xc_jws_sign(const char *payload, size_t len, const xc_keypair *kp, char *out, size_t cap,
                   fs_err *e);

/* The result of a successful verification. payload is the decoded event
 * bytes exactly as signed (owned); ev is parsed from them. */
typedef struct xc_verified {
    char *payload;
    size_t payload_len;
    xc_event ev;
    const xc_member *member; /* points into the registry */
} xc_verified;

/* Parse and verify a JWS compact string against the registry. Checks, in
 * order: size, three segments, base64url, header JSON with exactly alg=EdDSA,
 * typ, kid; kid known and not revoked; signature; payload a valid event;
 * issuer == member issuer. Returns XC_JWS_OK with out filled (release with
 * xc_verified_free), or the first failure with e->msg explaining it (for
 * XC_JWS_PAYLOAD, r -- if non-NULL -- lists the event's problems). */
xc_jws_code xc_jws_verify(const char *jws, size_t len, const xc_registry *reg, xc_verified *out,
                          xc_report *r, fs_err *e);
void xc_verified_free(xc_verified *v);

/* ---- subscriber identifier pseudonymisation (xc_pseudo.c) -------------------- */

typedef enum xc_id_kind { XC_ID_MSISDN = 0, XC_ID_IMSI, XC_ID_ICCID } xc_id_kind;

const char *xc_id_kind_name(xc_id_kind k);            /* "msisdn" ... */
bool xc_id_kind_parse(const char *s, xc_id_kind *out);
const char *xc_id_observable_kind(xc_id_kind k);      /* "msisdn_hmac" ... */

/* Normalise an identifier: MSISDN -> "+" and 7-15 digits (accepts "+", "00"
 * or "tel:+" prefixes and spaces, dashes, dots, parentheses between digits);
 * IMSI -> exactly 15 digits; ICCID -> 18-20 digits (spaces and dashes
 * allowed). out needs 24 bytes. */
fs_code xc_id_normalise(xc_id_kind k, const char *in, size_t len, char *out, size_t cap,
                        fs_err *e);

#define XC_PSEUDO_MAX_KEYS 16
#define XC_PSEUDO_KEY_ID_MAX 32

typedef struct xc_pseudo_key {
    char key_id[XC_PSEUDO_KEY_ID_MAX + 1]; /* [A-Za-z0-9._-]{1,32} */
    uint8_t key[32];
    int64_t created_ms;
} xc_pseudo_key;

/* A community key file: several keys, newest first; the newest pseudonymises,
 * all are kept so values under older key ids can still be matched. */
typedef struct xc_pseudo_keys {
    size_t n;
    xc_pseudo_key keys[XC_PSEUDO_MAX_KEYS];
} xc_pseudo_keys;

bool xc_pseudo_key_id_valid(const char *s);
fs_code xc_pseudo_load(const char *path, xc_pseudo_keys *ks, fs_err *e);
/* Write atomically (temp file + rename), mode 0600. */
fs_code xc_pseudo_save(const char *path, const xc_pseudo_keys *ks, fs_err *e);
/* Add a new random key in front (refuses a key id already present or a full set). */
fs_code xc_pseudo_rotate(xc_pseudo_keys *ks, const char *key_id, int64_t now_ms, fs_err *e);
const xc_pseudo_key *xc_pseudo_find(const xc_pseudo_keys *ks, const char *key_id);
/* base64url(HMAC-SHA256(key, normalised identifier)) into out (>= 44 bytes). */
fs_code xc_pseudo_hash(const xc_pseudo_key *k, xc_id_kind kind, const char *in, size_t len,
                       char *out, size_t cap, fs_err *e);
void xc_pseudo_wipe(xc_pseudo_keys *ks);

#endif
