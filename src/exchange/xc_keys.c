/*
 * xc_keys.c -- Ed25519 key pairs, key ids, key files and the trust registry
 * (see xc.h).
 *
 * Owns: generating and storing a member's signing key, the public member
 * entry, loading the registry of members and looking a kid up in it, and
 * the bounded file helpers of src/exchange. Must not touch: signing (xc_jws.c),
 * the network (the hub serves the registry file, it does not live here).
 *
 * The secret key file holds the 32-byte Ed25519 seed (RFC 8037 "d"), never
 * libsodium's 64-byte expanded form; loading re-derives the key pair and
 * checks it against the stored public key and kid, so a corrupted or
 * hand-edited file is refused rather than producing bad signatures.
 */
#include "xc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ------------------------------------------------------------------ */

fs_code xc_read_file(const char *path, size_t max, bool secret, const char *what, char **buf,
                     size_t *len, fs_err *e) {
    *buf = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO with no writer would block the open for ever,
     * before fstat could refuse it; a regular file reads as without it */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fs_fail(e, FS_ERR_IO, "%s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fs_fail(e, FS_ERR_IO, "%s %s: not a regular file", what, path);
    }
    if (secret && (st.st_mode & 077)) {
        close(fd);
        return fs_fail(e, FS_ERR_CONFIG, "%s %s is accessible to group/others (mode %03o); run chmod 600",
                       what, path, (unsigned)(st.st_mode & 0777));
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return fs_fail(e, FS_ERR_LIMIT, "%s %s: %lld bytes, at most %zu accepted", what, path,
                       (long long)st.st_size, max);
    }
    char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        close(fd);
        return fs_fail(e, FS_ERR_NOMEM, "%s %s: out of memory", what, path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != (size_t)st.st_size) {
        free(b);
        return fs_fail(e, FS_ERR_IO, "%s %s: short read", what, path);
    }
    b[got] = '\0';
    *buf = b;
    *len = got;
    return FS_OK;
}

fs_code xc_write_file(const char *path, const char *data, size_t len, int mode, bool excl,
                      fs_err *e) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), mode);
    if (fd < 0)
        return fs_fail(e, FS_ERR_IO, "%s: %s%s", path, strerror(errno),
                       errno == EEXIST ? " (refusing to overwrite)" : "");
    if (fchmod(fd, (mode_t)mode) != 0) {
        int err = errno;
        close(fd);
        if (excl) unlink(path);
        return fs_fail(e, FS_ERR_IO, "%s: chmod: %s", path, strerror(err));
    }
    size_t put = 0;
    while (put < len) {
        ssize_t w = write(fd, data + put, len - put);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        put += (size_t)w;
    }
    bool ok = put == len && fsync(fd) == 0;
    if (close(fd) != 0) ok = false;
    if (!ok) {
        int err = errno;
        /* the file is ours (O_EXCL): a cut secret key or key set left under
         * its name would only be refused or overwritten later */
        if (excl) unlink(path);
        return fs_fail(e, FS_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    return FS_OK;
}

/* ---- secrets parsed by jansson ----------------------------------------------- */

/* Each block carries its size in front of it, so it can be wiped whole. */
enum { SECRET_HDR = alignof(max_align_t) };
static json_malloc_t secret_prev_malloc;
static json_free_t secret_prev_free;

static void *secret_malloc(size_t n) {
    if (n > SIZE_MAX - SECRET_HDR) return NULL;
    unsigned char *p = secret_prev_malloc(n + SECRET_HDR);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    return p + SECRET_HDR;
}

static void secret_free(void *q) {
    if (!q) return;
    unsigned char *p = (unsigned char *)q - SECRET_HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    sodium_memzero(p, n + SECRET_HDR);
    secret_prev_free(p);
}

void xc_secret_json_begin(void) {
    json_get_alloc_funcs(&secret_prev_malloc, &secret_prev_free);
    json_set_alloc_funcs(secret_malloc, secret_free);
}

void xc_secret_json_end(void) { json_set_alloc_funcs(secret_prev_malloc, secret_prev_free); }

const char *xc_json_str(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* ---- key pairs --------------------------------------------------------------- */

void xc_key_id(const uint8_t pk[32], char kid[XC_KID_LEN + 1]) {
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, pk, 32);
    xc_b64_encode(h, 16, kid, XC_KID_LEN + 1);
}

fs_code xc_keypair_generate(const char *issuer, xc_keypair *kp, fs_err *e) {
    memset(kp, 0, sizeof *kp);
    if (!issuer || !xc_issuer_valid(issuer, strlen(issuer)))
        return fs_fail(e, FS_ERR_USAGE,
                       "issuer '%s' is not org:<MCC>-<MNC> (e.g. org:234-15) or org:<name> "
                       "([a-z0-9._-]{1,64}, not digits and '-' alone: those must be an MCC-MNC)",
                       issuer ? issuer : "");
    snprintf(kp->issuer, sizeof kp->issuer, "%s", issuer);
    crypto_sign_keypair(kp->pk, kp->sk);
    xc_key_id(kp->pk, kp->kid);
    return FS_OK;
}

void xc_keypair_wipe(xc_keypair *kp) { sodium_memzero(kp, sizeof *kp); }

fs_code xc_member_json(const xc_keypair *kp, char *buf, size_t n, fs_err *e) {
    char pk[XC_B64_LEN(32) + 1];
    xc_b64_encode(kp->pk, 32, pk, sizeof pk);
    int w = snprintf(buf, n,
                     "{\"issuer\":\"%s\",\"kid\":\"%s\",\"public_key\":\"%s\",\"status\":\"active\"}\n",
                     kp->issuer, kp->kid, pk);
    if (w < 0 || (size_t)w >= n) return fs_fail(e, FS_ERR_INTERNAL, "member entry too long");
    return FS_OK;
}

static fs_code key_file_json(const xc_keypair *kp, char *buf, size_t n, fs_err *e) {
    char pk[XC_B64_LEN(32) + 1], seed[XC_B64_LEN(32) + 1];
    xc_b64_encode(kp->pk, 32, pk, sizeof pk);
    xc_b64_encode(kp->sk, 32, seed, sizeof seed); /* libsodium sk = seed || pk */
    int w = snprintf(buf, n,
                     "{\"issuer\":\"%s\",\"kid\":\"%s\",\"alg\":\"EdDSA\",\"public_key\":\"%s\","
                     "\"secret_key\":\"%s\"}\n",
                     kp->issuer, kp->kid, pk, seed);
    sodium_memzero(seed, sizeof seed);
    if (w < 0 || (size_t)w >= n) return fs_fail(e, FS_ERR_INTERNAL, "key file too long");
    return FS_OK;
}

fs_code xc_keypair_save(const xc_keypair *kp, const char *dir, fs_err *e) {
    char kpath[4096], ppath[4096], text[512], pub[256];
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fs_fail(e, FS_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fs_fail(e, FS_ERR_IO, "%s: not a directory", dir);
    int a = snprintf(kpath, sizeof kpath, "%s/%s.key", dir, kp->kid);
    int b = snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, kp->kid);
    if (a < 0 || b < 0 || (size_t)a >= sizeof kpath || (size_t)b >= sizeof ppath)
        return fs_fail(e, FS_ERR_USAGE, "%s: path too long", dir);
    if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0)
        return fs_fail(e, FS_ERR_IO, "%s/%s.{key,pub} already exists (refusing to overwrite)", dir,
                       kp->kid);
    fs_code c = xc_member_json(kp, pub, sizeof pub, e);
    if (c != FS_OK) return c;
    if ((c = key_file_json(kp, text, sizeof text, e)) != FS_OK) return c;
    c = xc_write_file(kpath, text, strlen(text), 0600, true, e);
    sodium_memzero(text, sizeof text);
    if (c != FS_OK) return c;
    if ((c = xc_write_file(ppath, pub, strlen(pub), 0644, true, e)) != FS_OK) {
        unlink(kpath);
        return c;
    }
    int err = fs_fsync_dir_of(kpath); /* both new names on disk too */
    return err ? fs_fail(e, FS_ERR_IO, "%s: fsync of the folder failed: %s", dir, strerror(err)) : FS_OK;
}

static bool b64_32(const char *s, uint8_t out[32]) {
    size_t n;
    return s && strlen(s) == XC_B64_LEN(32) && xc_b64_decode(s, strlen(s), out, 32, &n) && n == 32;
}

fs_code xc_keypair_load(const char *path, xc_keypair *kp, fs_err *e) {
    char *buf;
    size_t len;
    memset(kp, 0, sizeof *kp);
    /* keygen writes <kid>.key and <kid>.pub side by side: the .pub (mode
     * 0644, no secret) is the easy mistake, and "run chmod 600" the wrong
     * advice for it */
    size_t pl = strlen(path);
    if (pl > 4 && !strcmp(path + pl - 4, ".pub"))
        return fs_fail(e, FS_ERR_USAGE,
                       "%s is a public member entry (for the trust registry), not a secret key: "
                       "give the %.*s.key file written next to it", path, (int)(pl - 4), path);
    fs_code c = xc_read_file(path, 4096, true, "key file", &buf, &len, e);
    if (c != FS_OK) return c;
    json_error_t jerr;
    xc_secret_json_begin(); /* jansson's copies of the seed are wiped too */
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    sodium_memzero(buf, len);
    free(buf);
    if (!o) { /* where, but not jansson's text: its "near '...'" may quote the secret */
        int line = jerr.line, column = jerr.column;
        xc_secret_json_end();
        sodium_memzero(&jerr, sizeof jerr);
        return fs_fail(e, FS_ERR_FORMAT, "key file %s: line %d, column %d: not valid JSON", path, line,
                       column);
    }
    if (!json_is_object(o)) {
        json_decref(o);
        xc_secret_json_end();
        return fs_fail(e, FS_ERR_FORMAT, "key file %s: not a JSON object", path);
    }
    const char *issuer = xc_json_str(o, "issuer"), *kid = xc_json_str(o, "kid"),
               *alg = xc_json_str(o, "alg");
    uint8_t pk[32], seed[32];
    c = FS_ERR_FORMAT;
    if (!json_object_get(o, "secret_key"))
        fs_fail(e, c, "key file %s: no secret_key (a public member entry? the secret is the .key file "
                      "fs38 keygen wrote)", path);
    else if (!issuer || !xc_issuer_valid(issuer, strlen(issuer)))
        fs_fail(e, c, "key file %s: issuer missing or not org:<MCC>-<MNC>/org:<name>", path);
    else if (!alg || strcmp(alg, "EdDSA"))
        fs_fail(e, c, "key file %s: alg must be EdDSA", path);
    else if (!b64_32(xc_json_str(o, "public_key"), pk))
        fs_fail(e, c, "key file %s: public_key is not base64url of 32 bytes", path);
    else if (!b64_32(xc_json_str(o, "secret_key"), seed))
        fs_fail(e, c, "key file %s: secret_key is not base64url of a 32-byte Ed25519 seed", path);
    else
        c = FS_OK;
    if (c == FS_OK) {
        crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
        xc_key_id(kp->pk, kp->kid);
        snprintf(kp->issuer, sizeof kp->issuer, "%s", issuer);
        if (sodium_memcmp(kp->pk, pk, 32) != 0)
            c = fs_fail(e, FS_ERR_FORMAT, "key file %s: public_key does not match secret_key", path);
        else if (!kid || strcmp(kid, kp->kid))
            c = fs_fail(e, FS_ERR_FORMAT, "key file %s: kid '%s' is not the key id of its key (%s)",
                        path, kid ? kid : "", kp->kid);
    }
    sodium_memzero(seed, sizeof seed);
    json_decref(o);
    xc_secret_json_end();
    if (c != FS_OK) xc_keypair_wipe(kp);
    return c;
}

/* ---- the trust registry ---------------------------------------------------------- */

static bool parse_hex32(const char *s, uint8_t out[32]) { return s && strlen(s) == 64 && fs_unhex(s, 32, out); }

static fs_code parse_member(const json_t *o, size_t i, xc_member *m, fs_err *e) {
    const char *key;
    json_t *v;
    memset(m, 0, sizeof *m);
    if (!json_is_object(o)) return fs_fail(e, FS_ERR_FORMAT, "members[%zu]: must be an object", i);
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "issuer") && strcmp(key, "kid") && strcmp(key, "public_key") &&
            strcmp(key, "status") && strcmp(key, "cert_sha256") && strncmp(key, "x-", 2))
            return fs_fail(e, FS_ERR_FORMAT, "members[%zu]: unknown field '%.40s'", i, key);
    }
    const char *issuer = xc_json_str(o, "issuer"), *kid = xc_json_str(o, "kid"),
               *status = xc_json_str(o, "status");
    if (!issuer || !xc_issuer_valid(issuer, strlen(issuer)))
        return fs_fail(e, FS_ERR_FORMAT, "members[%zu].issuer: missing or not org:<MCC>-<MNC>/org:<name>", i);
    if (!b64_32(xc_json_str(o, "public_key"), m->pk))
        return fs_fail(e, FS_ERR_FORMAT, "members[%zu].public_key: not base64url of 32 bytes", i);
    xc_key_id(m->pk, m->kid);
    if (!kid || strcmp(kid, m->kid))
        return fs_fail(e, FS_ERR_FORMAT, "members[%zu].kid: '%.40s' is not the key id of its public_key (%s)",
                       i, kid ? kid : "", m->kid);
    if (!status || (strcmp(status, "active") && strcmp(status, "revoked")))
        return fs_fail(e, FS_ERR_FORMAT, "members[%zu].status: must be active or revoked", i);
    m->revoked = !strcmp(status, "revoked");
    if (json_object_get(o, "cert_sha256")) {
        if (!parse_hex32(xc_json_str(o, "cert_sha256"), m->cert_sha256))
            return fs_fail(e, FS_ERR_FORMAT, "members[%zu].cert_sha256: not 64 hex digits", i);
        m->has_cert = true;
    }
    snprintf(m->issuer, sizeof m->issuer, "%s", issuer);
    return FS_OK;
}

static int member_cmp(const void *a, const void *b) {
    return strcmp(((const xc_member *)a)->kid, ((const xc_member *)b)->kid);
}

static int cert_cmp(const void *a, const void *b) {
    const xc_member *x = *(const xc_member *const *)a, *y = *(const xc_member *const *)b;
    if (x->has_cert != y->has_cert) return x->has_cert ? -1 : 1;
    int d = memcmp(x->cert_sha256, y->cert_sha256, 32);
    return d ? d : strcmp(x->issuer, y->issuer);
}

/* A certificate is one member: listed under two issuers (a fingerprint
 * pasted into the wrong entry), its holder would be whichever entry comes
 * first, reading that member's TLP:RED events and refused its own. */
static fs_code one_member_per_cert(const xc_registry *reg, fs_err *e) {
    if (reg->n < 2) return FS_OK;
    const xc_member **v = malloc(reg->n * sizeof *v);
    if (!v) return fs_fail(e, FS_ERR_NOMEM, "trust registry: out of memory");
    for (size_t i = 0; i < reg->n; i++) v[i] = &reg->members[i];
    qsort(v, reg->n, sizeof *v, cert_cmp);
    fs_code c = FS_OK;
    for (size_t i = 1; i < reg->n && v[i]->has_cert; i++)
        if (!memcmp(v[i - 1]->cert_sha256, v[i]->cert_sha256, 32) && strcmp(v[i - 1]->issuer, v[i]->issuer)) {
            char hex[65];
            for (int k = 0; k < 32; k++) snprintf(hex + 2 * k, 3, "%02x", v[i]->cert_sha256[k]);
            c = fs_fail(e, FS_ERR_FORMAT,
                        "trust registry: cert_sha256 %s is listed for %s (kid %s) and for %s (kid %s): "
                        "a certificate belongs to one member",
                        hex, v[i - 1]->issuer, v[i - 1]->kid, v[i]->issuer, v[i]->kid);
            break;
        }
    free(v);
    return c;
}

fs_code xc_registry_parse(const char *buf, size_t len, xc_registry *reg, fs_err *e) {
    memset(reg, 0, sizeof *reg);
    if (len > XC_REGISTRY_MAX_BYTES)
        return fs_fail(e, FS_ERR_LIMIT, "trust registry of %zu bytes exceeds %u", len,
                       XC_REGISTRY_MAX_BYTES);
    /* as every answer a client reads (docs/exchange.md): jansson's tree of
     * "[{},{},...]" takes about 76 times its bytes, 300 MB for a registry
     * at the limit; a member entry is about 30 bytes a value */
    size_t max_values = XC_REGISTRY_VALUES_BASE + len / XC_REGISTRY_BYTES_PER_VALUE;
    if (!xc_json_within(buf, len, UINT_MAX, max_values))
        return fs_fail(e, FS_ERR_LIMIT, "trust registry: more than %zu JSON values in %zu bytes (%d and one per %d bytes)",
                       max_values, len, XC_REGISTRY_VALUES_BASE, XC_REGISTRY_BYTES_PER_VALUE);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fs_fail(e, FS_ERR_FORMAT, "trust registry: line %d: %s", jerr.line, jerr.text);
    json_t *arr = json_object_get(root, "members");
    fs_code c = FS_OK;
    size_t n = json_array_size(arr);
    if (!json_is_object(root) || !json_is_array(arr))
        c = fs_fail(e, FS_ERR_FORMAT, "trust registry: expected {\"members\": [...]}");
    else if (n > XC_REGISTRY_MAX_MEMBERS)
        c = fs_fail(e, FS_ERR_LIMIT, "trust registry: %zu members, at most %d", n,
                    XC_REGISTRY_MAX_MEMBERS);
    else if (n && !(reg->members = calloc(n, sizeof *reg->members)))
        c = fs_fail(e, FS_ERR_NOMEM, "trust registry: out of memory");
    for (size_t i = 0; c == FS_OK && i < n; i++)
        c = parse_member(json_array_get(arr, i), i, &reg->members[i], e);
    json_decref(root);
    if (c == FS_OK) {
        reg->n = n;
        if (n) qsort(reg->members, n, sizeof *reg->members, member_cmp);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(reg->members[i].kid, reg->members[i - 1].kid)) {
                c = fs_fail(e, FS_ERR_FORMAT, "trust registry: kid %s listed twice", reg->members[i].kid);
                break;
            }
    }
    if (c == FS_OK) c = one_member_per_cert(reg, e);
    if (c != FS_OK) xc_registry_free(reg);
    return c;
}

fs_code xc_registry_load(const char *path, xc_registry *reg, fs_err *e) {
    char *buf;
    size_t len;
    memset(reg, 0, sizeof *reg);
    fs_code c = xc_read_file(path, XC_REGISTRY_MAX_BYTES, false, "trust registry", &buf, &len, e);
    if (c != FS_OK) return c;
    c = xc_registry_parse(buf, len, reg, e);
    free(buf);
    if (c != FS_OK && e) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        fs_fail(e, c, "%s: %s", path, msg);
    }
    return c;
}

void xc_registry_free(xc_registry *reg) {
    free(reg->members);
    memset(reg, 0, sizeof *reg);
}

const xc_member *xc_registry_find(const xc_registry *reg, const char *kid, size_t kid_len) {
    if (kid_len != XC_KID_LEN || !reg->n) return NULL;
    size_t lo = 0, hi = reg->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = memcmp(reg->members[mid].kid, kid, XC_KID_LEN);
        if (d == 0) return &reg->members[mid];
        if (d < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* A member rotating keys has several entries with one certificate: an
 * entry still active wins over revoked ones (revoking the old key must not
 * lock the member out). */
const xc_member *xc_registry_find_cert(const xc_registry *reg, const uint8_t sha256[32]) {
    const xc_member *found = NULL;
    for (size_t i = 0; i < reg->n; i++)
        if (reg->members[i].has_cert && !memcmp(reg->members[i].cert_sha256, sha256, 32)) {
            if (!reg->members[i].revoked) return &reg->members[i];
            if (!found) found = &reg->members[i];
        }
    return found;
}
