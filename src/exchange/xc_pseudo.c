/*
 * xc_pseudo.c -- pseudonymised subscriber identifiers (see xc.h).
 *
 * Owns: normalising MSISDN / IMSI / ICCID, the community key file (several
 * HMAC keys with ids, newest first), rotation, and
 * base64url(HMAC-SHA256(key, normalised identifier)). Must not touch:
 * events (xc_event.c decides what a clear identifier is), the network.
 *
 * Why a keyed HMAC and not a hash: a country's number space is small enough
 * to enumerate, so only holders of the community key can link a value to a
 * subscriber. Why normalise: "+44 7700 900123" and "00447700900123" must
 * give the same value at every operator, or matching fails silently.
 */
#include "xc_internal.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_names[] = {"msisdn", "imsi", "iccid"};
static const char *const obs_kinds[] = {"msisdn_hmac", "imsi_hmac", "iccid_hmac"};

const char *xc_id_kind_name(xc_id_kind k) { return (unsigned)k < 3 ? kind_names[k] : "?"; }
const char *xc_id_observable_kind(xc_id_kind k) { return (unsigned)k < 3 ? obs_kinds[k] : "?"; }

bool xc_id_kind_parse(const char *s, xc_id_kind *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (xc_id_kind)i;
            return true;
        }
    return false;
}

/* ---- normalisation ------------------------------------------------------------ */

static bool is_sep(char c, const char *seps) { return c && strchr(seps, c) != NULL; }

/* Collect the digits of s[0..n), allowing the separators between them.
 * *nd counts every digit; those past cap are not stored, so the caller's
 * length check refuses them with the real count. With seps holding '(',
 * a "(0)" is the national trunk prefix written into an international
 * number ("+44 (0)20 7946 0018", as British and German numbers are often
 * printed) and is left out: the number dialled from abroad has no 0 there,
 * and two members hashing the same subscriber must get the same value. */
static bool collect_digits(const char *s, size_t n, const char *seps, char *out, size_t cap,
                           size_t *nd, char *bad) {
    size_t o = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '(' && is_sep(c, seps) && i + 2 < n && s[i + 1] == '0' && s[i + 2] == ')') {
            i += 2;
            continue;
        }
        if (c >= '0' && c <= '9') {
            if (o + 1 < cap) out[o++] = c;
            count++;
        } else if (!is_sep(c, seps)) {
            *bad = c;
            return false;
        }
    }
    out[o] = '\0';
    *nd = count;
    return true;
}

static const char *printable(char c, char *buf) {
    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) snprintf(buf, 8, "'%c'", c);
    else snprintf(buf, 8, "0x%02x", (unsigned char)c);
    return buf;
}

fs_code xc_id_normalise(xc_id_kind k, const char *in, size_t len, char *out, size_t cap,
                        fs_err *e) {
    char digits[32], shown[8], bad = 0;
    size_t nd = 0;
    fs_str s = fs_str_trim(fs_str_make(in, len));
    if (cap < 24) return fs_fail(e, FS_ERR_INTERNAL, "normalise: output buffer too small");
    out[0] = '\0';
    if (s.len == 0) return fs_fail(e, FS_ERR_USAGE, "empty %s", xc_id_kind_name(k));
    if (s.len > 64) return fs_fail(e, FS_ERR_USAGE, "%s longer than 64 characters", xc_id_kind_name(k));
    if (k == XC_ID_MSISDN) {
        if (fs_str_istarts(s, "tel:")) {
            s.p += 4;
            s.len -= 4;
        }
        if (s.len && s.p[0] == '+') {
            s.p++;
            s.len--;
        } else if (s.len >= 2 && s.p[0] == '0' && s.p[1] == '0') {
            s.p += 2;
            s.len -= 2;
        } else {
            return fs_fail(e, FS_ERR_USAGE,
                           "MSISDN '%.*s' is not in international form (+<country code><number>)",
                           (int)s.len, s.p);
        }
        if (!collect_digits(s.p, s.len, " -.()", digits, sizeof digits, &nd, &bad))
            return fs_fail(e, FS_ERR_USAGE, "MSISDN: %s is not a digit or separator",
                           printable(bad, shown));
        if (nd < 7 || nd > 15 || digits[0] == '0')
            return fs_fail(e, FS_ERR_USAGE,
                           "MSISDN must have 7 to 15 digits after '+' and no leading 0 (has %zu)", nd);
        snprintf(out, cap, "+%s", digits);
        return FS_OK;
    }
    if (!collect_digits(s.p, s.len, k == XC_ID_IMSI ? " " : " -", digits, sizeof digits, &nd, &bad))
        return fs_fail(e, FS_ERR_USAGE, "%s: %s is not a digit", k == XC_ID_IMSI ? "IMSI" : "ICCID",
                       printable(bad, shown));
    if (k == XC_ID_IMSI && nd != 15)
        return fs_fail(e, FS_ERR_USAGE, "IMSI must have exactly 15 digits (has %zu)", nd);
    if (k == XC_ID_ICCID && (nd < 18 || nd > 20))
        return fs_fail(e, FS_ERR_USAGE, "ICCID must have 18 to 20 digits (has %zu)", nd);
    snprintf(out, cap, "%s", digits);
    return FS_OK;
}

/* ---- HMAC ----------------------------------------------------------------------- */

fs_code xc_pseudo_hash(const xc_pseudo_key *k, xc_id_kind kind, const char *in, size_t len,
                       char *out, size_t cap, fs_err *e) {
    char norm[24];
    if (cap < XC_HMAC_B64_LEN + 1) return fs_fail(e, FS_ERR_INTERNAL, "hash: output buffer too small");
    fs_code c = xc_id_normalise(kind, in, len, norm, sizeof norm, e);
    if (c != FS_OK) return c;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k->key, sizeof k->key);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)norm, strlen(norm));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    xc_b64_encode(mac, sizeof mac, out, cap);
    return FS_OK;
}

/* ---- the community key file ------------------------------------------------------- */

bool xc_pseudo_key_id_valid(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > XC_PSEUDO_KEY_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

const xc_pseudo_key *xc_pseudo_find(const xc_pseudo_keys *ks, const char *key_id) {
    for (size_t i = 0; i < ks->n; i++)
        if (!strcmp(ks->keys[i].key_id, key_id)) return &ks->keys[i];
    return NULL;
}

void xc_pseudo_wipe(xc_pseudo_keys *ks) { sodium_memzero(ks, sizeof *ks); }

static fs_code parse_key(const json_t *o, size_t i, xc_pseudo_key *k, fs_err *e) {
    const char *id = xc_json_str(o, "key_id"), *key = xc_json_str(o, "key"),
               *created = xc_json_str(o, "created");
    size_t n;
    if (!json_is_object(o)) return fs_fail(e, FS_ERR_FORMAT, "keys[%zu]: must be an object", i);
    if (!xc_pseudo_key_id_valid(id))
        return fs_fail(e, FS_ERR_FORMAT, "keys[%zu].key_id: missing or not [A-Za-z0-9._-]{1,32}", i);
    if (!key || strlen(key) != XC_HMAC_B64_LEN || !xc_b64_decode(key, strlen(key), k->key, 32, &n) ||
        n != 32)
        return fs_fail(e, FS_ERR_FORMAT, "keys[%zu].key: not base64url of 32 bytes", i);
    if (!created || !xc_time_parse(created, strlen(created), &k->created_ms))
        return fs_fail(e, FS_ERR_FORMAT, "keys[%zu].created: missing or not RFC 3339 UTC", i);
    snprintf(k->key_id, sizeof k->key_id, "%s", id);
    return FS_OK;
}

fs_code xc_pseudo_load(const char *path, xc_pseudo_keys *ks, fs_err *e) {
    char *buf;
    size_t len;
    memset(ks, 0, sizeof *ks);
    fs_code c = xc_read_file(path, 16384, true, "community key file", &buf, &len, e);
    if (c != FS_OK) return c;
    json_error_t jerr;
    xc_secret_json_begin(); /* jansson's copies of the keys are wiped too */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    sodium_memzero(buf, len);
    free(buf);
    json_t *arr = json_object_get(root, "keys");
    size_t n = json_array_size(arr);
    if (!root) /* where, but not jansson's text: its "near '...'" may quote a key */
        c = fs_fail(e, FS_ERR_FORMAT, "community key file %s: line %d, column %d: not valid JSON", path,
                    jerr.line, jerr.column);
    else if (!json_is_object(root) || !json_is_array(arr) || n == 0)
        c = fs_fail(e, FS_ERR_FORMAT, "community key file %s: expected {\"keys\": [...]} with one key or more", path);
    else if (n > XC_PSEUDO_MAX_KEYS)
        c = fs_fail(e, FS_ERR_LIMIT, "community key file %s: %zu keys, at most %d", path, n,
                    XC_PSEUDO_MAX_KEYS);
    sodium_memzero(jerr.text, sizeof jerr.text); /* "near '...'" may quote a key */
    for (size_t i = 0; c == FS_OK && i < n; i++) {
        c = parse_key(json_array_get(arr, i), i, &ks->keys[i], e);
        ks->n = i + 1;
        if (c == FS_OK && xc_pseudo_find(ks, ks->keys[i].key_id) != &ks->keys[i])
            c = fs_fail(e, FS_ERR_FORMAT, "community key file %s: key_id %s listed twice", path,
                        ks->keys[i].key_id);
    }
    json_decref(root);
    xc_secret_json_end();
    if (c != FS_OK) xc_pseudo_wipe(ks);
    return c;
}

fs_code xc_pseudo_save(const char *path, const xc_pseudo_keys *ks, fs_err *e) {
    char text[XC_PSEUDO_MAX_KEYS * 160 + 32], tmp[4096];
    size_t o = 0;
    o += (size_t)snprintf(text, sizeof text, "{\"keys\":[");
    for (size_t i = 0; i < ks->n; i++) {
        char key[XC_HMAC_B64_LEN + 1], t[40];
        xc_b64_encode(ks->keys[i].key, 32, key, sizeof key);
        fs_time_rfc3339((uint64_t)ks->keys[i].created_ms * 1000, t, sizeof t);
        o += (size_t)snprintf(text + o, sizeof text - o,
                              "%s\n {\"key_id\":\"%s\",\"key\":\"%s\",\"created\":\"%s\"}",
                              i ? "," : "", ks->keys[i].key_id, key, t);
        sodium_memzero(key, sizeof key);
    }
    o += (size_t)snprintf(text + o, sizeof text - o, "\n]}\n");
    /* a key file reached through a symlink (a shared folder, a config
     * management link) is rotated where it lives: renamed over, the link
     * would become a copy and the file it named keep the old keys */
    char real[PATH_MAX];
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real)) path = real;
    int w = snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (w < 0 || (size_t)w >= sizeof tmp) return fs_fail(e, FS_ERR_USAGE, "%s: path too long", path);
    fs_code c = xc_write_file(tmp, text, o, 0600, true, e);
    sodium_memzero(text, sizeof text);
    if (c != FS_OK) return c;
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return fs_fail(e, FS_ERR_IO, "%s: %s", path, strerror(err));
    }
    int err = fs_fsync_dir_of(path); /* the rotated keys' name on disk too */
    return err ? fs_fail(e, FS_ERR_IO, "%s: fsync of its folder failed: %s", path, strerror(err)) : FS_OK;
}

fs_code xc_pseudo_rotate(xc_pseudo_keys *ks, const char *key_id, int64_t now_ms, fs_err *e) {
    if (!xc_pseudo_key_id_valid(key_id))
        return fs_fail(e, FS_ERR_USAGE, "key id '%s' is not [A-Za-z0-9._-]{1,32}", key_id ? key_id : "");
    if (xc_pseudo_find(ks, key_id))
        return fs_fail(e, FS_ERR_USAGE, "key id '%s' already exists in the key file", key_id);
    if (ks->n >= XC_PSEUDO_MAX_KEYS)
        return fs_fail(e, FS_ERR_LIMIT, "the key file already holds %d keys; remove old ones first",
                       XC_PSEUDO_MAX_KEYS);
    memmove(&ks->keys[1], &ks->keys[0], ks->n * sizeof ks->keys[0]);
    xc_pseudo_key *k = &ks->keys[0];
    memset(k, 0, sizeof *k);
    snprintf(k->key_id, sizeof k->key_id, "%s", key_id);
    crypto_auth_hmacsha256_keygen(k->key);
    k->created_ms = now_ms;
    ks->n++;
    return FS_OK;
}
