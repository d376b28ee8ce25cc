/*
 * cl_cache.c -- the local indicator cache `fs38 pull` keeps current and
 * `fs38 inspect --indicators` reads.
 *
 * Owns: the cache file (NDJSON, one verified event payload per line, its
 * exact bytes but for line feeds, which become spaces), the merge rule
 * (highest version per (issuer, event_id); revoked and expired ones dropped;
 * a version not above one we hold or held is ignored), the atomic rewrite
 * and the cursor file.
 * Must not touch: the network, signature checks (pull verifies before it
 * merges), printing.
 *
 * A revoked or expired item stays in the index as a tombstone (no bytes)
 * so that an older version arriving later cannot bring it back; tombstones
 * are not written to the file. They do not count against the events held
 * (CL_CACHE_MAX_EVENTS) nor the file's bytes (CL_CACHE_MAX_BYTES); when
 * items reach CL_CACHE_MAX_ITEMS, the tombstones whose validity has ended
 * are let go (an older version could
 * then come back only if the issuer shortened the event's validity since,
 * and only until the older version's own end).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"

#define LINE_MAX_BYTES (XC_EVENT_MAX_BYTES + 2)

const char *cl_merge_name(cl_merge m) {
    static const char *const names[] = {"new", "updated", "stale", "revoked", "expired", "feedback", "full"};
    return (unsigned)m < CL_MERGE__COUNT ? names[m] : "?";
}

void cl_cache_init(cl_cache *c) {
    memset(c, 0, sizeof *c);
    c->max_events = CL_CACHE_MAX_EVENTS;
    c->max_items = CL_CACHE_MAX_ITEMS;
    c->max_bytes = CL_CACHE_MAX_BYTES;
}

void cl_cache_free(cl_cache *c) {
    for (size_t i = 0; i < c->n; i++) free(c->items[i].json);
    free(c->items);
    free(c->index);
    cl_cache_init(c);
}

/* ---- index ------------------------------------------------------------------------ */

static uint64_t key_hash(const char *issuer, const char *event_id) {
    uint64_t h = fs_hash_bytes(issuer, strlen(issuer), 0x5ca1ab1e);
    return fs_hash_bytes(event_id, strlen(event_id), h);
}

static size_t slot_of(const cl_cache *c, const char *issuer, const char *event_id, bool *found) {
    size_t mask = c->index_cap - 1;
    size_t i = (size_t)key_hash(issuer, event_id) & mask;
    for (;;) {
        uint32_t v = c->index[i];
        if (v == 0) {
            *found = false;
            return i;
        }
        const cl_cache_item *it = &c->items[v - 1];
        if (!strcmp(it->event_id, event_id) && !strcmp(it->issuer, issuer)) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void index_fill(cl_cache *c) {
    memset(c->index, 0, c->index_cap * sizeof *c->index);
    for (size_t k = 0; k < c->n; k++) {
        bool found;
        size_t s = slot_of(c, c->items[k].issuer, c->items[k].event_id, &found);
        c->index[s] = (uint32_t)(k + 1);
    }
}

static bool index_grow(cl_cache *c) {
    size_t ncap = c->index_cap ? c->index_cap * 2 : 1024;
    uint32_t *ni = calloc(ncap, sizeof *ni);
    if (!ni) return false;
    free(c->index);
    c->index = ni;
    c->index_cap = ncap;
    index_fill(c);
    return true;
}

/* Let go of the tombstones whose validity ended before now_ms; how many. */
static size_t drop_dead_tombstones(cl_cache *c, int64_t now_ms) {
    size_t w = 0;
    for (size_t r = 0; r < c->n; r++)
        if (c->items[r].json || c->items[r].valid_until_ms >= now_ms) c->items[w++] = c->items[r];
    size_t dropped = c->n - w;
    c->n = w;
    if (dropped) index_fill(c);
    return dropped;
}

static cl_cache_item *find_item(const cl_cache *c, const char *issuer, const char *event_id) {
    if (!c->index_cap) return NULL;
    bool found;
    size_t s = slot_of(c, issuer, event_id, &found);
    return found ? &c->items[c->index[s] - 1] : NULL;
}

const cl_cache_item *cl_cache_find(const cl_cache *c, const char *issuer, const char *event_id) {
    const cl_cache_item *it = find_item(c, issuer, event_id);
    return it && it->json ? it : NULL;
}

/* A new (empty) item for the key; NULL when full or out of memory. */
static cl_cache_item *add_item(cl_cache *c, const char *issuer, const char *event_id, int64_t now_ms) {
    if (c->live >= c->max_events) return NULL;
    if (c->n >= c->max_items && !drop_dead_tombstones(c, now_ms)) return NULL;
    if ((c->n + 1) * 2 > c->index_cap && !index_grow(c)) return NULL;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        cl_cache_item *ni = realloc(c->items, ncap * sizeof *ni);
        if (!ni) return NULL;
        c->items = ni;
        c->cap = ncap;
    }
    bool found;
    size_t s = slot_of(c, issuer, event_id, &found);
    cl_cache_item *it = &c->items[c->n];
    memset(it, 0, sizeof *it);
    snprintf(it->issuer, sizeof it->issuer, "%s", issuer);
    snprintf(it->event_id, sizeof it->event_id, "%s", event_id);
    c->index[s] = (uint32_t)(++c->n);
    return it;
}

static void item_drop(cl_cache *c, cl_cache_item *it) {
    if (!it->json) return;
    free(it->json);
    c->bytes -= it->len + 1;
    it->json = NULL;
    it->len = 0;
    c->live--;
    c->dirty = true;
}

/* ---- merging ------------------------------------------------------------------------ */

static bool is_feedback(const char *type) {
    return !strcmp(type, "SIGHTING") || !strcmp(type, "FALSE_POSITIVE");
}

cl_merge cl_cache_merge(cl_cache *c, const char *json, size_t len, const xc_event *ev, int64_t now_ms) {
    if (is_feedback(ev->event_type)) return CL_MERGE_FEEDBACK;
    cl_cache_item *it = find_item(c, ev->issuer, ev->event_id);
    if (it && ev->version <= it->version) return CL_MERGE_STALE;
    bool revoked = !strcmp(ev->status, "revoked");
    bool expired = ev->valid_until_ms < now_ms;
    bool had = it && it->json;
    /* the file must stay within what inspect reads (checked before anything
     * changes: an update that does not fit leaves the version held) */
    size_t held = had ? it->len + 1 : 0;
    if (!revoked && !expired && c->bytes - held + len + 1 > c->max_bytes) return CL_MERGE_FULL;
    /* one more event held, a tombstone's brought back included */
    if (!revoked && !expired && !had && c->live >= c->max_events) return CL_MERGE_FULL;
    if (!it) {
        if (revoked || expired) {
            /* remember the version so an older one cannot appear later */
            it = add_item(c, ev->issuer, ev->event_id, now_ms);
            if (it) it->version = ev->version, it->valid_until_ms = ev->valid_until_ms;
            return revoked ? CL_MERGE_REVOKED : CL_MERGE_EXPIRED;
        }
        it = add_item(c, ev->issuer, ev->event_id, now_ms);
        if (!it) return CL_MERGE_FULL;
    }
    it->version = ev->version;
    it->valid_until_ms = ev->valid_until_ms;
    if (revoked || expired) {
        item_drop(c, it);
        return revoked ? CL_MERGE_REVOKED : CL_MERGE_EXPIRED;
    }
    char *copy = malloc(len + 1);
    if (!copy) return CL_MERGE_FULL;
    /* One event per line: a line feed in a valid JSON text can only be
     * whitespace between tokens (strings escape theirs), so a partner's
     * pretty-printed payload is kept with spaces instead, meaning the same;
     * written as is, it split into lines no reader of the cache accepts. */
    for (size_t i = 0; i < len; i++) copy[i] = json[i] == '\n' ? ' ' : json[i];
    copy[len] = '\0';
    if (had) free(it->json);
    else c->live++;
    c->bytes = c->bytes - held + len + 1;
    it->json = copy;
    it->len = len;
    c->dirty = true;
    return had ? CL_MERGE_UPDATED : CL_MERGE_NEW;
}

size_t cl_cache_expire(cl_cache *c, int64_t now_ms) {
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) {
        cl_cache_item *it = &c->items[i];
        if (it->json && it->valid_until_ms < now_ms) {
            item_drop(c, it);
            n++;
        }
    }
    return n;
}

/* ---- files ------------------------------------------------------------------------- */

static fs_code load_line(cl_cache *c, const char *line, size_t len, const char *path, unsigned lineno,
                         fs_err *e) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) i++;
    if (i == len) return FS_OK;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    xc_event ev;
    fs_err pe = {0};
    if (xc_event_parse(line, len, &ev, NULL, &pe) != FS_OK)
        return fs_fail(e, FS_ERR_FORMAT, "%s:%u: not a valid event: %s", path, lineno, pe.msg);
    /* loading keeps what is there (expiry is the caller's step) */
    cl_merge m = cl_cache_merge(c, line, len, &ev, INT64_MIN);
    xc_event_free(&ev);
    if (m == CL_MERGE_FULL && c->live >= c->max_events)
        return fs_fail(e, FS_ERR_LIMIT, "%s:%u: more than %zu events in the cache", path, lineno,
                       c->max_events);
    if (m == CL_MERGE_FULL)
        return fs_fail(e, FS_ERR_LIMIT, "%s:%u: the cache is larger than %zu MiB (what inspect "
                       "--indicators reads)", path, lineno, c->max_bytes >> 20);
    return FS_OK;
}

fs_code cl_cache_load(cl_cache *c, const char *path, fs_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return FS_OK;
        return fs_fail(e, FS_ERR_IO, "cache %s: %s", path, strerror(errno));
    }
    char *line = malloc(LINE_MAX_BYTES + 1);
    if (!line) {
        fclose(f);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    }
    fs_code rc = FS_OK;
    unsigned lineno = 0;
    errno = 0;
    while (rc == FS_OK && fgets(line, LINE_MAX_BYTES + 1, f)) {
        size_t n = strlen(line);
        lineno++;
        if (n == LINE_MAX_BYTES && line[n - 1] != '\n')
            rc = fs_fail(e, FS_ERR_LIMIT, "%s:%u: line longer than %d bytes", path, lineno, LINE_MAX_BYTES);
        else
            rc = load_line(c, line, n, path, lineno, e);
    }
    /* why, not only that (a --out naming a folder said "read error") */
    if (rc == FS_OK && ferror(f))
        rc = fs_fail(e, FS_ERR_IO, "cache %s: cannot read it: %s", path, errno ? strerror(errno) : "read error");
    free(line);
    fclose(f);
    c->dirty = false;
    return rc;
}

/* Write buf to path atomically: path.tmp.<pid>, fsync, rename, fsync of the folder. */
static fs_code write_atomic(const char *path, const char *what, FILE **fp, char *tmp, size_t tmpn,
                            fs_err *e) {
    snprintf(tmp, tmpn, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fs_fail(e, FS_ERR_IO, "%s %s: cannot write %s: %s", what, path, tmp, strerror(errno));
    *fp = fdopen(fd, "wb");
    if (!*fp) {
        close(fd);
        unlink(tmp);
        return fs_fail(e, FS_ERR_IO, "%s %s: %s", what, path, strerror(errno));
    }
    return FS_OK;
}

static fs_code finish_atomic(const char *path, const char *what, FILE *f, const char *tmp, bool ok,
                             fs_err *e) {
    if (ok && fflush(f) != 0) ok = false;
    if (ok && fsync(fileno(f)) != 0) ok = false;
    int err = errno;
    if (fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) == 0) {
        /* the new name on disk before the caller goes on: the cursor is saved
         * after the cache and must never be durable without it */
        err = fs_fsync_dir_of(path);
        if (!err) return FS_OK;
        return fs_fail(e, FS_ERR_IO, "%s %s: fsync of its folder failed: %s", what, path, strerror(err));
    }
    if (ok) err = errno;
    unlink(tmp);
    return fs_fail(e, FS_ERR_IO, "%s %s: write failed: %s", what, path, strerror(err ? err : EIO));
}

fs_code cl_cache_save(cl_cache *c, const char *path, fs_err *e) {
    char tmp[4200];
    FILE *f;
    fs_code rc = write_atomic(path, "cache", &f, tmp, sizeof tmp, e);
    if (rc != FS_OK) return rc;
    bool ok = true;
    for (size_t i = 0; i < c->n && ok; i++) {
        const cl_cache_item *it = &c->items[i];
        if (!it->json) continue;
        ok = fwrite(it->json, 1, it->len, f) == it->len && fputc('\n', f) != EOF;
    }
    rc = finish_atomic(path, "cache", f, tmp, ok, e);
    if (rc == FS_OK) c->dirty = false;
    return rc;
}

static void cursor_path(const char *out_path, char *buf, size_t n) { snprintf(buf, n, "%s.cursor", out_path); }

fs_code cl_cursor_load(const char *out_path, uint64_t *seq, char *types, size_t types_n, fs_err *e) {
    char p[4200], text[320];
    cursor_path(out_path, p, sizeof p);
    *seq = 0;
    types[0] = '\0';
    FILE *f = fopen(p, "rb");
    if (!f) {
        if (errno == ENOENT) return FS_OK;
        return fs_fail(e, FS_ERR_IO, "cursor %s: %s", p, strerror(errno));
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    fs_str s = fs_str_trim(fs_str_make(text, n));
    const char *sp = s.len ? memchr(s.p, ' ', s.len) : NULL;
    fs_str num = sp ? fs_str_make(s.p, (size_t)(sp - s.p)) : s;
    fs_str rest = sp ? fs_str_trim(fs_str_make(sp, (size_t)(s.p + s.len - sp))) : FS_STR_NULL;
    if (!fs_str_to_u64(num, UINT64_MAX / 2, seq) || rest.len >= types_n)
        return fs_fail(e, FS_ERR_FORMAT, "cursor %s: expected a whole number (and the --type list it was "
                       "reached with), got '%.40s'", p, text);
    if (rest.len) memcpy(types, rest.p, rest.len);
    types[rest.len] = '\0';
    return FS_OK;
}

fs_code cl_cursor_save(const char *out_path, uint64_t seq, const char *types, fs_err *e) {
    char p[4200], tmp[4300];
    cursor_path(out_path, p, sizeof p);
    FILE *f;
    fs_code rc = write_atomic(p, "cursor", &f, tmp, sizeof tmp, e);
    if (rc != FS_OK) return rc;
    bool ok = fprintf(f, "%llu%s%s\n", (unsigned long long)seq, types && *types ? " " : "",
                      types ? types : "") > 0;
    return finish_atomic(p, "cursor", f, tmp, ok, e);
}

fs_code cl_cache_lock(const char *out_path, int *fd, fs_err *e) {
    char p[4200];
    snprintf(p, sizeof p, "%s.lock", out_path);
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0 && errno == EACCES) *fd = open(p, O_RDONLY | O_CLOEXEC); /* another user's: flock works all the same */
    if (*fd < 0) return fs_fail(e, FS_ERR_IO, "cache %s: cannot open its lock %s: %s", out_path, p, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char holder[24] = "";
        ssize_t n = pread(*fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strspn(holder, "0123456789")] = '\0';
        close(*fd);
        *fd = -1;
        if (err == EWOULDBLOCK)
            return fs_fail(e, FS_ERR_USAGE, "cache %s is kept by another fs38 pull (pid %s, lock %s): one "
                           "pull per cache", out_path, holder[0] ? holder : "?", p);
        return fs_fail(e, FS_ERR_IO, "cache %s: cannot lock %s: %s", out_path, p, strerror(err));
    }
    char pid[24];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, (size_t)n, 0) != n) {
        /* the lock holds all the same: only the pid named to a second pull is missing */
    }
    return FS_OK;
}

/* name is base + suffix + digits only. */
static bool temp_name_of(const char *name, const char *base, const char *suffix) {
    size_t bl = strlen(base), sl = strlen(suffix);
    if (strncmp(name, base, bl) || strncmp(name + bl, suffix, sl)) return false;
    const char *d = name + bl + sl;
    return *d && strspn(d, "0123456789") == strlen(d);
}

size_t cl_cache_remove_stale_temps(const char *out_path) {
    char dir[4200];
    const char *slash = strrchr(out_path, '/');
    const char *base = slash ? slash + 1 : out_path;
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - out_path), out_path);
    else snprintf(dir, sizeof dir, ".");
    if (!dir[0]) snprintf(dir, sizeof dir, "/");
    DIR *d = opendir(dir);
    if (!d || !*base) {
        if (d) closedir(d);
        return 0;
    }
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!temp_name_of(de->d_name, base, ".tmp.") && !temp_name_of(de->d_name, base, ".cursor.tmp.")) continue;
        char p[4200 + 256];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        n += unlink(p) == 0;
    }
    closedir(d);
    return n;
}
