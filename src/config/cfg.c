/*
 * cfg.c -- loading and validating the fs38 YAML configuration (see cfg.h).
 *
 * Owns: the built-in defaults, the YAML reader (libyaml event API), the
 * high-risk range list reader, and the lookups the detectors call per
 * message (zone of an address, longest E.164 prefix). Must not touch:
 * detection logic, any I/O beyond reading the config and the files it names.
 *
 * Design:
 *   - The reader is a small recursive descent over libyaml events, one
 *     function per YAML section, so the code maps 1:1 to the schema in
 *     docs/configuration.md. The first problem stops the load, and the message
 *     names "file:line:col: key.path: what is wrong".
 *   - Hostile input is bounded: the file size is capped (CFG_MAX_FILE_BYTES),
 *     anchors, aliases and tags are refused (no billion laughs: nothing can
 *     expand), every table has a fixed size and overflowing it is an error,
 *     and nesting deeper than the schema is an error at the first wrong event.
 *   - A load works on a heap scratch copy that replaces *c only on success.
 *   - After a load the tables are indexed (cfg_index) so lookups are cheap:
 *     networks longest prefix first (first hit wins), prefixes sorted for a
 *     binary search per prefix length.
 */
#include "cfg.h"
#include "../exchange/xc.h" /* xc_issuer_valid: the event format's issuer rule */
_Static_assert(sizeof ((fs38_config *)0)->issuer == XC_ISSUER_MAX + 1, "every valid issuer fits");

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

_Static_assert(SIP_H__COUNT <= 64, "may_assert is a 64-bit mask over sip_header_id");
_Static_assert(R__COUNT <= 64, "rule duplicate detection uses a 64-bit mask");

#define CFG_MAX_COUNT (1u << 24)       /* 16M: ceiling of every table-size key */
#define CFG_MAX_KEY 128                /* longest mapping key we keep for messages */
#define CFG_MAX_RANGE_LINE 256         /* longest line in a high-risk range list */
#define CFG_E164_MAX 15                /* ITU-T E.164: at most 15 digits */

/* ---- defaults ------------------------------------------------------------ */

void cfg_defaults(fs38_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->issuer, sizeof c->issuer, "org:local");
    snprintf(c->tlp, sizeof c->tlp, "amber");
    cap_config_default(&c->capture);
    c->ims_aka_keys = true;
    sip_limits_default(&c->capture.sip);
    c->max_sources = 65536;
    c->max_dialogs = 65536;
    c->max_incidents = 16384;
    c->ipv6_source_prefix = c->capture.client_prefix6 = 64;
    c->default_trust = TRUST_UNTRUSTED;
    c->business_hours.days = 0x1f; /* Monday to Friday, 08:00-18:00 UTC, once the block is given */
    c->business_hours.from_min = 8 * 60;
    c->business_hours.to_min = 18 * 60;
    snprintf(c->business_hours.timezone, sizeof c->business_hours.timezone, "UTC");
    for (int r = 0; r < R__COUNT; r++) {
        const det_rule_info *ri = &det_rule_table[r];
        cfg_rule *rc = &c->rules[r];
        rc->enabled = true;
        rc->severity = (uint8_t)ri->severity;
        rc->action = (uint8_t)ri->action;
        rc->threshold = ri->threshold;
        rc->window_s = ri->window_s;
        rc->ttl_s = ri->ttl_s;
        for (int i = 0; i < DET_MAX_PARAMS; i++) rc->param[i] = ri->param_defaults[i];
    }
}

const char *cfg_trust_name(cfg_trust t) {
    switch (t) {
    case TRUST_CORE: return "core";
    case TRUST_TRUSTED: return "trusted";
    case TRUST_UNTRUSTED: return "untrusted";
    }
    return "untrusted";
}

static int trust_parse(const char *s) {
    for (int t = TRUST_UNTRUSTED; t <= TRUST_CORE; t++)
        if (strcmp(s, cfg_trust_name((cfg_trust)t)) == 0) return t;
    return -1;
}

/* The headers a trusted zone may assert when its may_assert is omitted. */
static uint64_t trusted_default_assert(void) {
    return (1ULL << SIP_H_P_ASSERTED_IDENTITY) | (1ULL << SIP_H_HISTORY_INFO) |
           (1ULL << SIP_H_P_CHARGING_VECTOR) | (1ULL << SIP_H_PRIVACY);
}

/* ---- small validators ------------------------------------------------------ */

/* Strict UTF-8 (no overlongs, no surrogates) without control characters:
 * labels and names end up in JSON events. */
static bool text_ok(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return false;
            p++;
            continue;
        }
        int more;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) more = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) more = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) more = 3, cp = c & 0x07, min = 0x10000;
        else return false;
        if (end - p <= more) return false;
        for (int i = 1; i <= more; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        if (cp >= 0x80 && cp < 0xa0) return false; /* C1 controls */
        p += more + 1;
    }
    return true;
}

/* Copy at most 60 bytes of user text for an error message, printable ASCII
 * only (anything else becomes '?'), "..." when cut. Returns dst. */
static const char *shown(const char *s, size_t n, char dst[72]) {
    size_t k = n > 60 ? 60 : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    snprintf(dst + k, 72 - k, "%s", n > k ? "..." : "");
    return dst;
}

/* "+4477009" -> "4477009". Returns NULL on success or what is wrong. */
static const char *e164_parse(const char *s, size_t n, char digits[24]) {
    if (n == 0 || s[0] != '+') return "must start with '+' (E.164, e.g. +4477009)";
    if (n == 1) return "has no digits after '+'";
    if (n - 1 > CFG_E164_MAX) return "is longer than 15 digits (E.164 maximum)";
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return "must be '+' followed by digits only";
    memcpy(digits, s + 1, n - 1);
    digits[n - 1] = '\0';
    return NULL;
}

static bool domain_ok(const char *s, size_t n) {
    if (n == 0 || n > 127 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.') return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') return false;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            if (++label > 63) return false;
        } else {
            return false;
        }
    }
    return true;
}

static bool zone_name_ok(const char *s, size_t n) {
    if (n == 0 || n >= CFG_NAME_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.') return false;
    }
    return true;
}

static int prefix_cmp(const void *a, const void *b) {
    return strcmp(((const cfg_prefix *)a)->digits, ((const cfg_prefix *)b)->digits);
}

/* ---- index and lookups --------------------------------------------------------- */

void cfg_index(fs38_config *c) {
    /* insertion sort, stable: nets longest prefix first */
    for (uint16_t i = 1; i < c->nnets && i < CFG_MAX_NETS; i++) {
        cfg_net x = c->nets[i];
        int j = i - 1;
        while (j >= 0 && c->nets[j].cidr.prefix < x.cidr.prefix) {
            c->nets[j + 1] = c->nets[j];
            j--;
        }
        c->nets[j + 1] = x;
    }
    if (c->nhome_prefixes <= CFG_MAX_HOME_PREFIXES)
        qsort(c->home_prefixes, c->nhome_prefixes, sizeof(cfg_prefix), prefix_cmp);
    if (c->nhigh_risk <= CFG_MAX_PREFIXES)
        qsort(c->high_risk, c->nhigh_risk, sizeof(cfg_prefix), prefix_cmp);
    if (c->nallow_callers <= CFG_MAX_ALLOW_CALLERS)
        qsort(c->allow_callers, c->nallow_callers, sizeof(cfg_prefix), prefix_cmp);
}

/* ::ffff:a.b.c.d -> a.b.c.d; false if a is not IPv4-mapped. */
static bool addr_unmap_v4(const fs_addr *a, fs_addr *v4) {
    if (a->family != 6) return false;
    *v4 = fs_addr_unmapped(a);
    return v4->family == 4;
}

static int zone_scan(const fs38_config *c, const fs_addr *a) {
    for (uint16_t i = 0; i < c->nnets; i++)
        if (fs_cidr_contains(&c->nets[i].cidr, a)) return c->nets[i].zone;
    return -1;
}

/* An IPv4-mapped address is its IPv4 address, and only that (networks
 * written as ::ffff:a.b.c.d/n were stored as IPv4 at load): an IPv6
 * network around the mapped range ("::/0") does not take it. */
int cfg_zone_of(const fs38_config *c, const fs_addr *a) {
    fs_addr v4;
    return zone_scan(c, addr_unmap_v4(a, &v4) ? &v4 : a);
}

cfg_trust cfg_trust_of(const fs38_config *c, const fs_addr *a) {
    int z = cfg_zone_of(c, a);
    return (cfg_trust)(z >= 0 ? c->zones[z].trust : c->default_trust);
}

bool cfg_zones_configured(const fs38_config *c) {
    for (uint8_t i = 0; i < c->nzones; i++)
        if (c->zones[i].trust != TRUST_UNTRUSTED) return true;
    return false;
}

static bool allow_scan(const fs38_config *c, const fs_addr *a) {
    for (uint16_t i = 0; i < c->nallow; i++)
        if (fs_cidr_contains(&c->allow_sources[i], a)) return true;
    return false;
}

/* As cfg_zone_of: an IPv4-mapped address is its IPv4 address only, so an
 * IPv6 network around the mapped range ("::/0") does not exempt it. */
bool cfg_is_allowed(const fs38_config *c, const fs_addr *a) {
    fs_addr v4;
    return allow_scan(c, addr_unmap_v4(a, &v4) ? &v4 : a);
}

const cfg_prefix *cfg_caller_allowed(const fs38_config *c, const char *caller) {
    if (!c->nallow_callers || !caller || caller[0] != '+') return NULL;
    return cfg_match_prefix(c->allow_callers, c->nallow_callers, caller + 1);
}

/* Order of prefix_cmp (strcmp) between key[0..klen) and a NUL-terminated entry. */
static int digits_cmp(const char *key, size_t klen, const char *entry) {
    size_t elen = strlen(entry), m = klen < elen ? klen : elen;
    int r = memcmp(key, entry, m);
    if (r) return r;
    return klen < elen ? -1 : klen > elen;
}

const cfg_prefix *cfg_match_prefix(const cfg_prefix *list, uint16_t n, const char *digits) {
    if (!list || !digits || n == 0) return NULL;
    size_t dl = strnlen(digits, sizeof list->digits);
    if (dl >= sizeof list->digits) dl = sizeof list->digits - 1;
    if (n <= 8) { /* tiny lists (often filled by hand in tests): a scan needs no order */
        const cfg_prefix *best = NULL;
        size_t best_len = 0;
        for (uint16_t i = 0; i < n; i++) {
            size_t pl = strnlen(list[i].digits, sizeof list->digits);
            if (pl > best_len && pl <= dl && !memcmp(list[i].digits, digits, pl)) {
                best = &list[i];
                best_len = pl;
            }
        }
        return best;
    }
    /* try the longest candidate prefix first: one binary search per length */
    for (size_t len = dl; len > 0; len--) {
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            int r = digits_cmp(digits, len, list[mid].digits);
            if (r == 0) return &list[mid];
            if (r < 0) hi = mid;
            else lo = mid + 1;
        }
    }
    return NULL;
}

/* ---- files ----------------------------------------------------------------------- */

/* Read a regular file of at most max bytes into a malloc'd buffer (NUL added).
 * O_NONBLOCK so that a FIFO named by mistake cannot hang the open. */
static fs_code read_file(const char *path, size_t max, char **out, size_t *len, fs_err *e) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fs_fail(e, FS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fs_fail(e, FS_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return fs_fail(e, FS_ERR_LIMIT, "'%s' is %lld bytes; the limit is %zu", path,
                       (long long)st.st_size, max);
    }
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    size_t n = 0;
    for (;;) { /* read to EOF even if the size changed under us, never past max */
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return fs_fail(e, FS_ERR_IO, "cannot read '%s': %s", path, strerror(err));
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            close(fd);
            return fs_fail(e, FS_ERR_LIMIT, "'%s' is larger than the limit of %zu bytes", path,
                           max);
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return FS_OK;
}

/* ---- time zones (business_hours) -------------------------------------------------- */

#define TZIF_MAX_BYTES (256u << 10) /* tzdata's largest file is under 4 KiB */

static uint32_t tzif_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tzif_be64(const uint8_t *p) { return (int64_t)((uint64_t)tzif_be32(p) << 32 | tzif_be32(p + 4)); }

/* A zone name as the tz database spells them: letters, digits, "_+-" and
 * "/" between parts; nothing that climbs out of the zone folder. */
static bool tz_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof((cfg_hours *)0)->timezone || s[0] == '/' || s[n - 1] == '/' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_+-/", s[i])) return false;
    return true;
}

/* ---- POSIX TZ strings: a TZif file's footer --------------------------------- */

/* An abbreviation: three or more letters, or <...> of letters, digits, '+', '-'. */
static bool tz_abbr(const char **p) {
    const char *s = *p, *b;
    if (*s == '<') {
        for (b = ++s; isalnum((unsigned char)*s) || *s == '+' || *s == '-'; s++) {}
        if (*s != '>' || s - b < 3) return false;
        *p = s + 1;
        return true;
    }
    for (b = s; isalpha((unsigned char)*s); s++) {}
    if (s - b < 3) return false;
    *p = s;
    return true;
}

/* A number of 1 to `digits` digits, at most max. */
static bool tz_num(const char **p, int digits, long max, long *out) {
    const char *s = *p;
    long v = 0;
    for (; isdigit((unsigned char)*s) && s - *p < digits; s++) v = v * 10 + (*s - '0');
    if (s == *p || isdigit((unsigned char)*s) || v > max) return false;
    *p = s;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]], at most max_h hours (and no minutes past them): seconds. */
static bool tz_hms(const char **p, long max_h, int32_t *out) {
    const char *s = *p;
    long sign = *s == '-' ? -1 : 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-') s++;
    if (!tz_num(&s, 3, max_h, &h)) return false;
    if (*s == ':' && (s++, !tz_num(&s, 2, 59, &m))) return false;
    if (*s == ':' && (s++, !tz_num(&s, 2, 59, &sec))) return false;
    if (h == max_h && (m || sec)) return false;
    *out = (int32_t)(sign * (h * 3600 + m * 60 + sec));
    *p = s;
    return true;
}

/* ",Jn", ",n" or ",Mm.w.d", then an optional "/time" (02:00 if none). */
static bool tz_date(const char **p, cfg_tz_date *d) {
    const char *s = *p;
    long a, b, c;
    if (*s++ != ',') return false;
    memset(d, 0, sizeof *d);
    if (*s == 'J') {
        s++;
        if (!tz_num(&s, 3, 365, &a) || a < 1) return false;
        d->kind = 'J';
        d->day = (uint16_t)a;
    } else if (*s == 'M') {
        s++;
        if (!tz_num(&s, 2, 12, &a) || a < 1 || *s++ != '.' || !tz_num(&s, 1, 5, &b) || b < 1 || *s++ != '.' ||
            !tz_num(&s, 1, 6, &c))
            return false;
        d->kind = 'M';
        d->month = (uint8_t)a, d->week = (uint8_t)b, d->wday = (uint8_t)c;
    } else {
        if (!tz_num(&s, 3, 365, &a)) return false;
        d->kind = 'N';
        d->day = (uint16_t)a;
    }
    d->secs = 7200;
    if (*s == '/' && (s++, !tz_hms(&s, 167, &d->secs))) return false;
    *p = s;
    return true;
}

fs_code cfg_tz_rule_parse(const char *str, cfg_tz_rule *out, fs_err *e) {
    memset(out, 0, sizeof *out);
    const char *s = str;
    int32_t west;
    if (!tz_abbr(&s)) return fs_fail(e, FS_ERR_FORMAT, "TZ string '%s': no standard time name first", str);
    if (!tz_hms(&s, 24, &west)) return fs_fail(e, FS_ERR_FORMAT, "TZ string '%s': no UTC offset after the name", str);
    out->std_off = out->dst_off = -west;
    out->set = true;
    if (*s == '\0') return FS_OK;
    if (!tz_abbr(&s)) return fs_fail(e, FS_ERR_FORMAT, "TZ string '%s': '%s' is not a daylight time name", str, s);
    out->dst = true;
    out->dst_off = out->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!tz_hms(&s, 24, &west))
            return fs_fail(e, FS_ERR_FORMAT, "TZ string '%s': '%s' is not a daylight time offset", str, s);
        out->dst_off = -west;
    }
    if (*s == '\0') return fs_fail(e, FS_ERR_FORMAT, "TZ string '%s': daylight time without its rule", str);
    if (!tz_date(&s, &out->start) || !tz_date(&s, &out->end) || *s != '\0')
        return fs_fail(e, FS_ERR_FORMAT, "TZ string '%s': the rule is not ',start[/time],end[/time]' "
                                         "(Jn, n or Mm.w.d) at '%s'", str, s);
    return FS_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
static int64_t year_of_day(int64_t z) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    return (int64_t)yoe + era * 400 + (mp >= 10);
}
static bool leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The day (since 1970-01-01) a rule's date falls on in year y. */
static int64_t tz_date_day(const cfg_tz_date *d, int64_t y) {
    int64_t jan1 = days_from_civil(y, 1, 1);
    if (d->kind == 'J') return jan1 + d->day - 1 + (leap_year(y) && d->day >= 60);
    if (d->kind == 'N') return jan1 + d->day;
    static const uint8_t mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = days_from_civil(y, d->month, 1);
    int days = mdays[d->month - 1] + (d->month == 2 && leap_year(y));
    int first_wday = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday; 0 Sunday */
    int day = (d->wday - first_wday + 7) % 7 + (d->week - 1) * 7;
    while (day >= days) day -= 7; /* week 5: the last */
    return first + day;
}

/* As glibc and tzcode: the year's start and end in UTC, for the UTC year of t. */
int32_t cfg_tz_rule_offset(const cfg_tz_rule *r, int64_t t) {
    if (!r->dst) return r->std_off;
    int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400, y = year_of_day(day);
    int64_t start = tz_date_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
    int64_t end = tz_date_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
    bool dst = start < end ? t >= start && t < end : t < end || t >= start;
    return dst ? r->dst_off : r->std_off;
}

/* The footer after the data: "\n" POSIX TZ string "\n" (empty: no rule). */
static fs_code tzif_footer(const uint8_t *f, size_t n, const char *path, cfg_tz_rule *out, fs_err *e) {
    memset(out, 0, sizeof *out);
    const uint8_t *nl = n > 1 && f[0] == '\n' ? memchr(f + 1, '\n', n - 1) : NULL;
    char tz[128];
    if (!nl || (size_t)(nl - f - 1) >= sizeof tz)
        return fs_fail(e, FS_ERR_FORMAT, "'%s' has no footer (a TZ string between newlines) after its data", path);
    memcpy(tz, f + 1, (size_t)(nl - f - 1));
    tz[nl - f - 1] = '\0';
    if (!tz[0]) return FS_OK;
    fs_err pe = {0};
    if (cfg_tz_rule_parse(tz, out, &pe) != FS_OK) return fs_fail(e, FS_ERR_FORMAT, "'%s': %s", path, pe.msg);
    return FS_OK;
}

/* TZif (RFC 8536), version 2 or later: the second, 64-bit data block. */
static fs_code tzif_parse(const uint8_t *b, size_t len, const char *path, cfg_tz *out, fs_err *e) {
    if (len < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2')
        return fs_fail(e, FS_ERR_FORMAT, "'%s' is not a TZif file of version 2 or later", path);
    /* counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt; the v1 block to step over */
    uint64_t v1 = (uint64_t)tzif_be32(b + 32) * 5 + (uint64_t)tzif_be32(b + 36) * 6 + tzif_be32(b + 40) +
                  (uint64_t)tzif_be32(b + 28) * 8 + tzif_be32(b + 24) + tzif_be32(b + 20);
    if (v1 > len - 44 || len - 44 - v1 < 44) return fs_fail(e, FS_ERR_FORMAT, "'%s' is cut short", path);
    const uint8_t *h = b + 44 + v1;
    uint32_t timecnt = tzif_be32(h + 32), typecnt = tzif_be32(h + 36);
    /* times, their types, the types, abbreviations, leap seconds (12 bytes each), std and UT flags */
    uint64_t need = (uint64_t)timecnt * 9 + (uint64_t)typecnt * 6 + tzif_be32(h + 40) +
                    (uint64_t)tzif_be32(h + 28) * 12 + tzif_be32(h + 24) + tzif_be32(h + 20);
    if (memcmp(h, "TZif", 4) != 0 || typecnt == 0 || need > len - (size_t)(h + 44 - b))
        return fs_fail(e, FS_ERR_FORMAT, "'%s' is cut short or not TZif", path);
    fs_code rc = tzif_footer(h + 44 + need, len - (size_t)(h + 44 - b) - need, path, &out->rule, e);
    if (rc != FS_OK) return rc;
    const uint8_t *times = h + 44, *idx = times + (size_t)timecnt * 8, *types = idx + timecnt;
    for (uint32_t i = 0; i < timecnt; i++)
        if (idx[i] >= typecnt || (i && tzif_be64(times + 8 * i) <= tzif_be64(times + 8 * (i - 1))))
            return fs_fail(e, FS_ERR_FORMAT, "'%s': transition %u is out of order or of no type", path, i);
    uint32_t skip = timecnt > CFG_TZ_MAX ? timecnt - CFG_TZ_MAX : 0; /* keep the latest */
    out->n = (uint16_t)(timecnt - skip);
    out->first_off = (int32_t)tzif_be32(types + 6 * (skip ? idx[skip - 1] : 0));
    for (uint32_t i = 0; i < out->n; i++) {
        out->at[i] = tzif_be64(times + 8 * (skip + i));
        out->off[i] = (int32_t)tzif_be32(types + 6 * idx[skip + i]);
    }
    return FS_OK;
}

fs_code cfg_tz_load(const char *name, cfg_tz *out, fs_err *e) {
    if (!tz_name_ok(name)) return fs_fail(e, FS_ERR_USAGE, "'%s' is not a time zone name (Europe/Paris, UTC)", name);
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    char *buf;
    size_t len;
    fs_err re = {0};
    if (read_file(path, TZIF_MAX_BYTES, &buf, &len, &re) != FS_OK) {
        struct stat st;
        if (stat(path, &st) != 0)
            return fs_fail(e, FS_ERR_IO, "no time zone '%s' (no %s: is tzdata installed?)", name, path);
        /* it is there: a region's folder ("Europe"), unreadable, too big: say which */
        return fs_fail(e, re.code, "no time zone '%s': %s", name, re.msg);
    }
    fs_code rc = tzif_parse((const uint8_t *)buf, len, path, out, e);
    free(buf);
    return rc;
}

int32_t cfg_tz_offset(const cfg_tz *tz, int64_t t) {
    if (tz->rule.set && (tz->n == 0 || t >= tz->at[tz->n - 1])) return cfg_tz_rule_offset(&tz->rule, t);
    if (tz->n == 0 || t < tz->at[0]) return tz->first_off;
    uint32_t lo = 0, hi = tz->n; /* the last transition at or before t */
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (tz->at[mid] <= t) lo = mid;
        else hi = mid;
    }
    return tz->off[lo];
}

bool cfg_within_business_hours(const fs38_config *c, uint64_t ts_us) {
    const cfg_hours *h = &c->business_hours;
    if (!h->set) return true;
    int64_t t = (int64_t)(ts_us / 1000000u);
    int64_t local = t + cfg_tz_offset(&h->tz, t);
    int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    unsigned minute = (unsigned)((local - day * 86400) / 60);
    unsigned weekday = (unsigned)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday: 0 Monday */
    if (h->from_min <= h->to_min) return (h->days >> weekday & 1) && minute >= h->from_min && minute < h->to_min;
    /* past midnight (22:00-06:00): the evening belongs to its day, the small hours to the day before */
    if (minute >= h->from_min) return h->days >> weekday & 1;
    return minute < h->to_min && (h->days >> ((weekday + 6) % 7) & 1);
}

/* ---- high-risk range lists ------------------------------------------------------- */

typedef struct range_entry {
    cfg_prefix p;
    uint32_t line;
} range_entry;

static int range_entry_cmp(const void *a, const void *b) {
    int r = prefix_cmp(&((const range_entry *)a)->p, &((const range_entry *)b)->p);
    if (r) return r;
    uint32_t la = ((const range_entry *)a)->line, lb = ((const range_entry *)b)->line;
    return la < lb ? -1 : la > lb;
}

static fs_str trim_blank(fs_str s) {
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) s.p++, s.len--;
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' || s.p[s.len - 1] == '\r'))
        s.len--;
    return s;
}

/* One "+prefix[,label]" line into out. NULL on success, else what is wrong. */
static const char *range_line_parse(fs_str line, cfg_prefix *out) {
    /* "!+8816310007,own ship": not high-risk, although a shorter range is */
    out->allow = line.len && line.p[0] == '!';
    if (out->allow) line = trim_blank(fs_str_make(line.p + 1, line.len - 1));
    const char *comma = memchr(line.p, ',', line.len);
    fs_str num = trim_blank(fs_str_make(line.p, comma ? (size_t)(comma - line.p) : line.len));
    const char *why = e164_parse(num.p, num.len, out->digits);
    if (why) return why;
    out->len = (uint8_t)strlen(out->digits);
    out->label[0] = '\0';
    if (comma) {
        fs_str label = trim_blank(fs_str_make(comma + 1, line.len - (size_t)(comma + 1 - line.p)));
        if (label.len > CFG_LABEL_MAX) return "label is longer than 39 characters";
        if (!text_ok(label.p, label.len)) return "label is not printable UTF-8 text";
        memcpy(out->label, label.p, label.len);
        out->label[label.len] = '\0';
    }
    return NULL;
}

fs_code cfg_load_ranges_buffer(fs38_config *c, const char *buf, size_t len, const char *name,
                               fs_err *e) {
    if (!name) name = "ranges";
    if (len > CFG_MAX_RANGES_BYTES)
        return fs_fail(e, FS_ERR_LIMIT, "%s: %zu bytes; the limit is %u", name, len,
                       CFG_MAX_RANGES_BYTES);
    range_entry *tab = malloc(sizeof(range_entry) * CFG_MAX_PREFIXES);
    if (!tab) return fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
    fs_code rc = FS_OK;
    size_t n = 0, pos = 0;
    uint32_t lineno = 0;
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) pos = 3; /* a UTF-8 BOM, as the YAML reader allows */
    while (pos < len && rc == FS_OK) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        fs_str line = trim_blank(fs_str_make(buf + pos, end - pos));
        pos = end + 1;
        lineno++;
        if (memchr(line.p, '\0', line.len)) {
            rc = fs_fail(e, FS_ERR_FORMAT, "%s:%u: NUL byte (not a text file)", name, lineno);
        } else if (line.len == 0 || line.p[0] == '#') {
            continue;
        } else if (line.len > CFG_MAX_RANGE_LINE) {
            rc = fs_fail(e, FS_ERR_FORMAT, "%s:%u: line longer than %d characters", name, lineno,
                         CFG_MAX_RANGE_LINE);
        } else if (n == CFG_MAX_PREFIXES) {
            rc = fs_fail(e, FS_ERR_LIMIT, "%s:%u: more than %d prefixes (CFG_MAX_PREFIXES)", name,
                         lineno, CFG_MAX_PREFIXES);
        } else {
            const char *why = range_line_parse(line, &tab[n].p);
            char show[72];
            if (why)
                rc = fs_fail(e, FS_ERR_FORMAT, "%s:%u: '%s': %s (expected \"[!]+prefix[,label]\")",
                             name, lineno, shown(line.p, line.len, show), why);
            tab[n++].line = lineno;
        }
    }
    if (rc == FS_OK && n > 1) {
        qsort(tab, n, sizeof *tab, range_entry_cmp);
        for (size_t i = 1; i < n && rc == FS_OK; i++)
            if (strcmp(tab[i].p.digits, tab[i - 1].p.digits) == 0)
                rc = fs_fail(e, FS_ERR_FORMAT, "%s:%u: +%s is listed twice (first on line %u)",
                             name, tab[i].line, tab[i].p.digits, tab[i - 1].line);
    }
    if (rc == FS_OK) {
        for (size_t i = 0; i < n; i++) c->high_risk[i] = tab[i].p;
        c->nhigh_risk = (uint16_t)n;
        snprintf(c->high_risk_file, sizeof c->high_risk_file, "%s", name);
    }
    free(tab);
    return rc;
}

fs_code cfg_load_ranges(fs38_config *c, const char *path, fs_err *e) {
    char *buf;
    size_t len;
    fs_code rc = read_file(path, CFG_MAX_RANGES_BYTES, &buf, &len, e);
    if (rc != FS_OK) return rc;
    rc = cfg_load_ranges_buffer(c, buf, len, path, e);
    free(buf);
    return rc;
}

/* ---- the YAML reader --------------------------------------------------------------- */

typedef struct cfg_parser {
    yaml_parser_t yp;
    yaml_event_t ev;       /* the current event */
    bool have_ev;
    const char *name;      /* file name used in messages */
    const char *base_dir;  /* for relative file names */
    fs38_config *c;        /* the scratch copy being filled */
    fs_err *e;
    const char *buf;       /* the input, to turn a byte offset into a line */
    size_t len;
    yaml_mark_t key_mark;  /* where the key of the value being read starts */
    char path[256];        /* key path of the current node, e.g. "zones.core.networks[2]" */
    char show[72];         /* the current value, made safe to print */
    size_t path_len;
    /* marks remembered for checks that span keys */
    yaml_mark_t net_mark[CFG_MAX_NETS];
    bool set_max_message, set_max_flow_bytes, set_hep_ports, set_sip_ports;
    yaml_mark_t mark_max_message, mark_max_flow_bytes, mark_max_tcp_bytes, mark_hep_ports, mark_sip_ports,
        mark_hours;
} cfg_parser;

#define P_MARK(P) ((P)->ev.start_mark)

static fs_code fail_at(cfg_parser *P, yaml_mark_t m, fs_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "file:line:col: key.path: message" */
static fs_code fail_at(cfg_parser *P, yaml_mark_t m, fs_code code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* most values are quoted through shown(), but some messages come from
     * below (fs_cidr_parse quotes the value as written): a control character,
     * e.g. a terminal escape written as "\e[2J", is shown as '?' */
    for (char *q = msg; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
    return fs_fail(P->e, code, "%s:%zu:%zu: %s%s%s", P->name, (size_t)m.line + 1,
                   (size_t)m.column + 1, P->path, P->path_len ? ": " : "", msg);
}

#define FAIL(P, ...) fail_at((P), P_MARK(P), FS_ERR_CONFIG, __VA_ARGS__)

static size_t path_push_key(cfg_parser *P, const char *key) {
    size_t old = P->path_len;
    int n = snprintf(P->path + old, sizeof P->path - old, "%s%s", old ? "." : "", key);
    P->path_len = n < 0 ? old : (old + (size_t)n >= sizeof P->path ? sizeof P->path - 1 : old + (size_t)n);
    return old;
}

static size_t path_push_index(cfg_parser *P, size_t idx) {
    size_t old = P->path_len;
    int n = snprintf(P->path + old, sizeof P->path - old, "[%zu]", idx);
    P->path_len = n < 0 ? old : (old + (size_t)n >= sizeof P->path ? sizeof P->path - 1 : old + (size_t)n);
    return old;
}

static void path_pop(cfg_parser *P, size_t old) {
    P->path_len = old;
    P->path[old] = '\0';
}

static fs_code syntax_error(cfg_parser *P) {
    yaml_mark_t m = P->yp.problem_mark;
    const char *problem = P->yp.problem ? P->yp.problem : "malformed YAML";
    fs_code code = FS_ERR_FORMAT;
    if (P->yp.error == YAML_MEMORY_ERROR) code = FS_ERR_NOMEM;
    if (P->yp.error == YAML_READER_ERROR) {
        /* reader errors (bad UTF-8, control bytes) carry a byte offset: count the lines */
        size_t off = P->yp.problem_offset < P->len ? P->yp.problem_offset : P->len;
        m.line = m.column = 0;
        for (size_t i = 0; i < off; i++) {
            if (P->buf[i] == '\n') m.line++, m.column = 0;
            else m.column++;
        }
        return fail_at(P, m, code, "%s at byte %zu (the file must be UTF-8 text)", problem,
                       P->yp.problem_offset);
    }
    if (P->yp.context)
        return fail_at(P, m, code, "YAML syntax: %s %s (line %zu)", problem, P->yp.context,
                       (size_t)P->yp.context_mark.line + 1);
    return fail_at(P, m, code, "YAML syntax: %s", problem);
}

/* Advance to the next event; refuse the YAML features a config has no use for. */
static fs_code next(cfg_parser *P) {
    if (P->have_ev) {
        yaml_event_delete(&P->ev);
        P->have_ev = false;
    }
    if (!yaml_parser_parse(&P->yp, &P->ev)) return syntax_error(P);
    P->have_ev = true;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (P->ev.type) {
    case YAML_ALIAS_EVENT:
        return FAIL(P, "YAML aliases (*name) are not supported in fs38 configs");
    case YAML_SCALAR_EVENT:
        anchor = P->ev.data.scalar.anchor;
        tag = P->ev.data.scalar.tag;
        if (memchr(P->ev.data.scalar.value, '\0', P->ev.data.scalar.length))
            return FAIL(P, "NUL character in a value");
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = P->ev.data.sequence_start.anchor;
        tag = P->ev.data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = P->ev.data.mapping_start.anchor;
        tag = P->ev.data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor) return FAIL(P, "YAML anchors (&name) are not supported in fs38 configs");
    if (tag) return FAIL(P, "YAML tags (!tag) are not supported in fs38 configs");
    return FS_OK;
}

static const char *event_kind(const yaml_event_t *ev) {
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return "a single value";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_MAPPING_START_EVENT: return "a mapping";
    default: return "something else";
    }
}

static const char *sv(const cfg_parser *P) { return (const char *)P->ev.data.scalar.value; }
static size_t sl(const cfg_parser *P) { return P->ev.data.scalar.length; }

/* The current scalar, safe to quote in a message. */
static const char *sv_show(cfg_parser *P) { return shown(sv(P), sl(P), P->show); }

static bool is_null(const cfg_parser *P) {
    if (P->ev.type != YAML_SCALAR_EVENT || P->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sv(P);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* The current event must be a non-empty scalar. */
static fs_code want_scalar(cfg_parser *P) {
    if (P->ev.type != YAML_SCALAR_EVENT)
        return FAIL(P, "expected a single value, found %s", event_kind(&P->ev));
    if (is_null(P)) return FAIL(P, "missing value");
    return FS_OK;
}

/* Collections: the current event must start one, or be null (= empty).
 * *open says whether items follow. */
static fs_code want_collection(cfg_parser *P, yaml_event_type_t type, bool *open) {
    *open = false;
    if (P->ev.type == type) {
        *open = true;
        return FS_OK;
    }
    if (is_null(P)) return FS_OK;
    return FAIL(P, "expected %s, found %s",
                type == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping", event_kind(&P->ev));
}

/* ---- typed scalars ---- */

static fs_code get_u64(cfg_parser *P, uint64_t min, uint64_t max, uint64_t *out) {
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    uint64_t v;
    if (!fs_str_to_u64(fs_str_make(sv(P), sl(P)), UINT64_MAX, &v) || v < min || v > max)
        return FAIL(P, "'%s': must be a whole number %llu-%llu", sv_show(P), (unsigned long long)min,
                    (unsigned long long)max);
    *out = v;
    return FS_OK;
}

static fs_code get_u32(cfg_parser *P, uint32_t min, uint32_t max, uint32_t *out) {
    uint64_t v;
    fs_code rc = get_u64(P, min, max, &v);
    if (rc == FS_OK) *out = (uint32_t)v;
    return rc;
}

static fs_code get_double(cfg_parser *P, double min, double max, double *out) {
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    const char *s = sv(P);
    bool ok = sl(P) < 32;
    for (size_t i = 0; ok && i < sl(P); i++) /* decimal only: no hex, inf, nan, spaces */
        ok = strchr("0123456789.eE+-", s[i]) != NULL;
    char *end = NULL;
    double v = ok ? strtod(s, &end) : 0;
    if (!ok || end != s + sl(P) || !isfinite(v) || v < min || v > max)
        return FAIL(P, "'%s': must be a number %g-%g", sv_show(P), min, max);
    *out = v;
    return FS_OK;
}

static fs_code get_bool(cfg_parser *P, bool *out) {
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(sv(P), yes[i])) return *out = true, FS_OK;
        if (!strcasecmp(sv(P), no[i])) return *out = false, FS_OK;
    }
    return FAIL(P, "'%s': must be true or false", sv_show(P));
}

/* Printable UTF-8 text that fits dst (size n); empty (and null) allowed if
 * allow_empty. */
static fs_code get_text(cfg_parser *P, char *dst, size_t n, bool allow_empty) {
    if (P->ev.type != YAML_SCALAR_EVENT)
        return FAIL(P, "expected a single value, found %s", event_kind(&P->ev));
    if (is_null(P)) { /* ~, null, or nothing: "" where that is allowed */
        if (!allow_empty) return FAIL(P, "missing value");
        dst[0] = '\0';
        return FS_OK;
    }
    if (sl(P) >= n) return FAIL(P, "longer than %zu characters", n - 1);
    if (!text_ok(sv(P), sl(P))) return FAIL(P, "must be printable text (no control characters)");
    memcpy(dst, sv(P), sl(P) + 1);
    return FS_OK;
}

/* ---- maps and lists ---- */

typedef fs_code (*key_fn)(cfg_parser *P, const char *key, void *ctx);
typedef fs_code (*item_fn)(cfg_parser *P, size_t idx, void *ctx);

/* Walk a mapping whose start event is current (or a null = empty mapping).
 * With a key list: unknown and duplicate keys are errors here; fn gets the
 * key's index as a string-free contract via key. Without (keys == NULL) fn
 * validates names itself. fn is called with the value's first event current
 * and must consume the whole value. */
static fs_code read_map(cfg_parser *P, const char *const *keys, key_fn fn, void *ctx) {
    bool open;
    fs_code rc = want_collection(P, YAML_MAPPING_START_EVENT, &open);
    if (rc || !open) return rc;
    uint64_t seen = 0;
    for (;;) {
        if ((rc = next(P))) return rc;
        if (P->ev.type == YAML_MAPPING_END_EVENT) return FS_OK;
        if (P->ev.type != YAML_SCALAR_EVENT)
            return FAIL(P, "a key must be a plain name, found %s", event_kind(&P->ev));
        char key[CFG_MAX_KEY];
        size_t kn = sl(P) < sizeof key - 1 ? sl(P) : sizeof key - 1;
        for (size_t i = 0; i < kn; i++) {
            unsigned char ch = (unsigned char)sv(P)[i];
            key[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        }
        key[kn] = '\0';
        yaml_mark_t key_mark = P->key_mark = P_MARK(P);
        size_t old = path_push_key(P, key);
        if (keys) {
            int idx = -1;
            for (int i = 0; keys[i]; i++)
                if (!strcmp(keys[i], sv(P))) idx = i;
            if (idx < 0) {
                char list[256] = "";
                for (int i = 0; keys[i]; i++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                             keys[i]);
                return fail_at(P, key_mark, FS_ERR_CONFIG, "unknown key (expected one of: %s)",
                               list);
            }
            if (seen & (1ULL << idx))
                return fail_at(P, key_mark, FS_ERR_CONFIG, "duplicate key");
            seen |= 1ULL << idx;
        }
        if ((rc = next(P))) return rc;
        P->key_mark = key_mark;
        if ((rc = fn(P, key, ctx))) return rc;
        path_pop(P, old);
    }
}

static fs_code read_list(cfg_parser *P, item_fn fn, void *ctx) {
    bool open;
    fs_code rc = want_collection(P, YAML_SEQUENCE_START_EVENT, &open);
    if (rc || !open) return rc;
    for (size_t i = 0;; i++) {
        size_t old = path_push_index(P, i);
        if ((rc = next(P))) return rc;
        if (P->ev.type == YAML_SEQUENCE_END_EVENT) {
            path_pop(P, old);
            return FS_OK;
        }
        if ((rc = fn(P, i, ctx))) return rc;
        path_pop(P, old);
    }
}

/* ---- organisation ---- */

static fs_code org_key(cfg_parser *P, const char *key, void *ctx) {
    fs38_config *c = P->c;
    if (!strcmp(key, "issuer")) {
        /* every event carries it: one that fs38 validate and the hub would refuse is refused here */
        fs_code rc = get_text(P, c->issuer, sizeof c->issuer, false);
        if (rc == FS_OK && !xc_issuer_valid(c->issuer, strlen(c->issuer)))
            return FAIL(P, "'%s': must be org:<MCC>-<MNC> (e.g. org:234-15) or org:<name> "
                           "(lowercase letters, digits, '.', '_', '-')", sv_show(P));
        return rc;
    }
    /* tlp: TLP 2.0 labels (FIRST) */
    static const char *const tlps[] = {"clear", "green", "amber", "amber+strict", "red"};
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    for (int i = 0; i < 5; i++)
        if (!strcasecmp(sv(P), tlps[i])) {
            snprintf(c->tlp, sizeof c->tlp, "%s", tlps[i]);
            return FS_OK;
        }
    return FAIL(P, "'%s': must be clear, green, amber, amber+strict or red", sv_show(P));
}

/* ---- capture ---- */

typedef struct port_list {
    uint16_t *ports;
    uint8_t *n;
    size_t cap;
    const char *limit_name;
} port_list;

static fs_code port_item(cfg_parser *P, size_t idx, void *ctx) {
    port_list *pl = ctx;
    uint64_t v;
    fs_code rc = get_u64(P, 1, 65535, &v);
    if (rc) return rc;
    if (idx >= pl->cap)
        return FAIL(P, "more than %zu ports (%s)", pl->cap, pl->limit_name);
    for (size_t i = 0; i < idx; i++)
        if (pl->ports[i] == v) return FAIL(P, "port %llu is listed twice", (unsigned long long)v);
    pl->ports[idx] = (uint16_t)v;
    *pl->n = (uint8_t)(idx + 1);
    return FS_OK;
}

/* A file name relative to the config file's folder, as full, or "". */
static fs_code get_path(cfg_parser *P, char *full, size_t n) {
    char rel[256];
    fs_code rc = get_text(P, rel, sizeof rel, true);
    if (rc) return rc;
    int w = !rel[0] || rel[0] == '/' ? snprintf(full, n, "%s", rel) : snprintf(full, n, "%s/%s", P->base_dir, rel);
    if (w < 0 || (size_t)w >= n) return FAIL(P, "the resolved path is longer than %zu characters", n - 1);
    return FS_OK;
}

static fs_code capture_key(cfg_parser *P, const char *key, void *ctx) {
    cap_config *cc = &P->c->capture;
    if (!strcmp(key, "heuristic")) return get_bool(P, &cc->heuristic);
    if (!strcmp(key, "live_buffer_mb")) return get_u32(P, 1, CAP_LIVE_BUFFER_MB_MAX, &cc->live_buffer_mb);
    if (!strcmp(key, "tls_keylog")) return get_path(P, P->c->tls_keylog, sizeof P->c->tls_keylog);
    if (!strcmp(key, "esp_sa")) return get_path(P, P->c->esp_sa, sizeof P->c->esp_sa);
    if (!strcmp(key, "ims_aka_keys")) return get_bool(P, &P->c->ims_aka_keys);
    if (!strcmp(key, "hep_tls_cert")) return get_path(P, P->c->hep_tls_cert, sizeof P->c->hep_tls_cert);
    if (!strcmp(key, "hep_tls_key")) return get_path(P, P->c->hep_tls_key, sizeof P->c->hep_tls_key);
    if (!strcmp(key, "hep_tls_client_ca"))
        return get_path(P, P->c->hep_tls_client_ca, sizeof P->c->hep_tls_client_ca);
    if (!strcmp(key, "hep_auth_key")) return get_text(P, cc->hep_auth_key, sizeof cc->hep_auth_key, true);
    port_list pl;
    if (!strcmp(key, "sip_ports")) {
        pl = (port_list){cc->sip_ports, &cc->nports, CAP_MAX_PORTS, "CAP_MAX_PORTS"};
        P->set_sip_ports = true;
        P->mark_sip_ports = P_MARK(P);
    } else {
        pl = (port_list){cc->hep_ports, &cc->nhep_ports, 4, "hep_ports holds 4"};
        P->set_hep_ports = true;
        P->mark_hep_ports = P_MARK(P);
    }
    *pl.n = 0;
    return read_list(P, port_item, &pl);
}

/* ---- limits ---- */

static fs_code limits_key(cfg_parser *P, const char *key, void *ctx) {
    cap_config *cc = &P->c->capture;
    uint32_t v;
    fs_code rc;
    if (!strcmp(key, "max_message")) {
        P->set_max_message = true;
        P->mark_max_message = P_MARK(P);
        return get_u32(P, 256, 16u << 20, &cc->sip.max_message);
    }
    if (!strcmp(key, "max_headers")) {
        if ((rc = get_u32(P, 1, SIP_MAX_HEADERS, &v))) return rc;
        cc->sip.max_headers = (uint16_t)v;
        return FS_OK;
    }
    if (!strcmp(key, "max_header_len")) return get_u32(P, 16, 1u << 20, &cc->sip.max_header_len);
    if (!strcmp(key, "max_uri_len")) return get_u32(P, 16, 1u << 20, &cc->sip.max_uri_len);
    if (!strcmp(key, "max_tcp_flows")) return get_u32(P, 1, CFG_MAX_COUNT, &cc->max_tcp_flows);
    if (!strcmp(key, "max_flow_bytes")) {
        P->set_max_flow_bytes = true;
        P->mark_max_flow_bytes = P_MARK(P);
        return get_u32(P, 1024, 64u << 20, &cc->max_flow_bytes);
    }
    if (!strcmp(key, "max_tcp_bytes")) {
        P->mark_max_tcp_bytes = P_MARK(P);
        return get_u64(P, 65536, 16ULL << 30, &cc->max_tcp_bytes);
    }
    if (!strcmp(key, "tcp_idle_s")) return get_u32(P, 1, 86400, &cc->tcp_idle_s);
    if (!strcmp(key, "max_frag_sets")) return get_u32(P, 1, CFG_MAX_COUNT, &cc->max_frag_sets);
    if (!strcmp(key, "max_frag_bytes"))
        return get_u32(P, 65536, 4095u << 20, &cc->max_frag_bytes);
    return get_u32(P, 1, 600, &cc->frag_timeout_s); /* frag_timeout_s */
}

/* ---- state ---- */

static fs_code state_key(cfg_parser *P, const char *key, void *ctx) {
    fs38_config *c = P->c;
    if (!strcmp(key, "max_sources")) return get_u32(P, 1, CFG_MAX_COUNT, &c->max_sources);
    if (!strcmp(key, "max_dialogs")) return get_u32(P, 1, CFG_MAX_COUNT, &c->max_dialogs);
    if (!strcmp(key, "ipv6_source_prefix")) {
        /* /32 is the smallest an ISP holds (RFC 6177): wider groups strangers */
        uint32_t v;
        fs_code rc = get_u32(P, 32, 128, &v);
        if (rc) return rc;
        c->ipv6_source_prefix = c->capture.client_prefix6 = (uint8_t)v;
        return FS_OK;
    }
    return get_u32(P, 1, CFG_MAX_COUNT, &c->max_incidents);
}

/* ---- networks (zones and allow_sources) ---- */

/* Parse the current scalar as a network; host bits set is an error. */
static fs_code get_cidr(cfg_parser *P, fs_cidr *out) {
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    fs_err sub = {0};
    if (sl(P) > 60 || !fs_cidr_parse(sv(P), out, &sub))
        return FAIL(P, "%s", sl(P) > 60 ? "not an address or network" : sub.msg);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", sv(P));
    char *slash = strchr(tmp, '/');
    if (slash) *slash = '\0';
    fs_addr host;
    if (fs_addr_parse(tmp, &host) && memcmp(host.ip, out->net.ip, sizeof host.ip) != 0) {
        char nb[FS_ADDR_STRLEN];
        return FAIL(P, "'%s' has host bits set (the network is %s/%u)", sv_show(P),
                    fs_addr_str(&out->net, nb, sizeof nb), out->prefix);
    }
    /* ::ffff:10.0.0.0/104 is 10.0.0.0/8: stored once, so that listing both is
     * a duplicate and an address gets one zone however it is written */
    fs_addr v4;
    if (out->prefix >= 96 && addr_unmap_v4(&out->net, &v4)) {
        out->net = v4;
        out->prefix = (uint8_t)(out->prefix - 96);
    }
    return FS_OK;
}

static bool cidr_same(const fs_cidr *a, const fs_cidr *b) {
    return a->prefix == b->prefix && fs_addr_eq(&a->net, &b->net);
}

static fs_code net_item(cfg_parser *P, size_t idx, void *ctx) {
    fs38_config *c = P->c;
    uint8_t zone = (uint8_t)(uintptr_t)ctx;
    fs_cidr cidr;
    fs_code rc = get_cidr(P, &cidr);
    if (rc) return rc;
    for (uint16_t i = 0; i < c->nnets; i++)
        if (cidr_same(&c->nets[i].cidr, &cidr))
            return FAIL(P, "'%s' is already listed in zone '%s' (line %zu)", sv_show(P),
                        c->zones[c->nets[i].zone].name, (size_t)P->net_mark[i].line + 1);
    if (c->nnets == CFG_MAX_NETS)
        return FAIL(P, "more than %d networks across all zones (CFG_MAX_NETS)", CFG_MAX_NETS);
    P->net_mark[c->nnets] = P_MARK(P);
    c->nets[c->nnets].cidr = cidr;
    c->nets[c->nnets].zone = zone;
    c->nnets++;
    return FS_OK;
}

static fs_code allow_item(cfg_parser *P, size_t idx, void *ctx) {
    fs38_config *c = P->c;
    fs_cidr cidr;
    fs_code rc = get_cidr(P, &cidr);
    if (rc) return rc;
    for (uint16_t i = 0; i < c->nallow; i++)
        if (cidr_same(&c->allow_sources[i], &cidr)) return FAIL(P, "'%s' is listed twice", sv_show(P));
    if (c->nallow == CFG_MAX_ALLOW)
        return FAIL(P, "more than %d networks (CFG_MAX_ALLOW)", CFG_MAX_ALLOW);
    c->allow_sources[c->nallow++] = cidr;
    return FS_OK;
}

/* ---- allow_callers ---- */

#define CFG_ALLOW_CALLER_MIN_DIGITS 4 /* shorter is a country code: the rule switched off */

/* "+442071234567" or "+442071234567,Acme dialer": the high-risk list's
 * line format, without its "!" exceptions. */
static fs_code allow_caller_item(cfg_parser *P, size_t idx, void *ctx) {
    fs38_config *c = P->c;
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    fs_str v = trim_blank(fs_str_make(sv(P), sl(P)));
    if (v.len && v.p[0] == '!')
        return FAIL(P, "'%s': '!' exceptions belong in the high_risk_ranges file; list the callers "
                       "to exempt as \"+prefix[,label]\"", sv_show(P));
    cfg_prefix p = {0};
    const char *why = range_line_parse(v, &p);
    if (why) return FAIL(P, "'%s' %s (expected \"+prefix[,label]\")", sv_show(P), why);
    if (p.len < CFG_ALLOW_CALLER_MIN_DIGITS)
        return FAIL(P, "'%s': a prefix of fewer than %d digits exempts a whole country code "
                       "(switch the rules off instead)", sv_show(P), CFG_ALLOW_CALLER_MIN_DIGITS);
    for (uint16_t i = 0; i < c->nallow_callers; i++)
        if (!strcmp(c->allow_callers[i].digits, p.digits))
            return FAIL(P, "+%s is listed twice (first as allow_callers[%u])", p.digits, (unsigned)i);
    if (c->nallow_callers == CFG_MAX_ALLOW_CALLERS)
        return FAIL(P, "more than %d callers (CFG_MAX_ALLOW_CALLERS)", CFG_MAX_ALLOW_CALLERS);
    c->allow_callers[c->nallow_callers++] = p;
    return FS_OK;
}

/* ---- zones ---- */

typedef struct zone_ctx {
    cfg_zone *z;
    uint8_t idx;
    bool may_assert_set;
    yaml_mark_t may_assert_mark;
    yaml_mark_t access_mark;
} zone_ctx;

static fs_code assert_item(cfg_parser *P, size_t idx, void *ctx) {
    zone_ctx *zc = ctx;
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    sip_header_id id = sip_header_lookup(fs_str_make(sv(P), sl(P)));
    if (id == SIP_H_OTHER)
        return FAIL(P,
                    "'%s' is not a SIP header fs38 knows (trust-domain headers: "
                    "P-Asserted-Identity, P-Preferred-Identity, History-Info, P-Charging-Vector, "
                    "P-Charging-Function-Addresses, P-Served-User, P-Access-Network-Info, "
                    "P-Visited-Network-ID, Privacy, Identity, Resource-Priority)",
                    sv_show(P));
    zc->z->may_assert |= 1ULL << id;
    return FS_OK;
}

static fs_code zone_key(cfg_parser *P, const char *key, void *ctx) {
    zone_ctx *zc = ctx;
    if (!strcmp(key, "trust")) {
        fs_code rc = want_scalar(P);
        if (rc) return rc;
        int t = trust_parse(sv(P));
        if (t < 0) return FAIL(P, "'%s': must be core, trusted or untrusted", sv_show(P));
        zc->z->trust = (uint8_t)t;
        return FS_OK;
    }
    if (!strcmp(key, "networks")) return read_list(P, net_item, (void *)(uintptr_t)zc->idx);
    if (!strcmp(key, "may_assert")) {
        zc->may_assert_set = true;
        zc->may_assert_mark = P_MARK(P);
        zc->z->may_assert = 0;
        return read_list(P, assert_item, zc);
    }
    if (!strcmp(key, "access")) {
        zc->access_mark = P_MARK(P);
        return get_bool(P, &zc->z->access);
    }
    if (!strcmp(key, "require_tls")) return get_bool(P, &zc->z->require_tls);
    return get_double(P, 0, 100000, &zc->z->flood_multiplier); /* flood_multiplier */
}

static const char *const zone_keys[] = {"trust", "networks", "may_assert", "flood_multiplier",
                                        "access", "require_tls", NULL};

static fs_code zones_entry(cfg_parser *P, const char *name, void *ctx) {
    fs38_config *c = P->c;
    yaml_mark_t km = P->key_mark;
    if (!zone_name_ok(name, strlen(name)))
        return fail_at(P, km, FS_ERR_CONFIG,
                       "zone names are 1-%d characters of letters, digits, '-', '_', '.'",
                       CFG_NAME_LEN - 1);
    for (uint8_t i = 0; i < c->nzones; i++)
        if (!strcmp(c->zones[i].name, name))
            return fail_at(P, km, FS_ERR_CONFIG, "duplicate zone name");
    if (c->nzones == CFG_MAX_ZONES)
        return fail_at(P, km, FS_ERR_CONFIG, "more than %d zones (CFG_MAX_ZONES)", CFG_MAX_ZONES);
    zone_ctx zc = {&c->zones[c->nzones], c->nzones, false, km, km};
    memset(zc.z, 0, sizeof *zc.z);
    snprintf(zc.z->name, sizeof zc.z->name, "%s", name);
    zc.z->trust = TRUST_UNTRUSTED;
    zc.z->flood_multiplier = 1.0;
    c->nzones++;
    fs_code rc = read_map(P, zone_keys, zone_key, &zc);
    if (rc) return rc;
    if (zc.may_assert_set && zc.z->trust != TRUST_TRUSTED) path_push_key(P, "may_assert");
    if (zc.may_assert_set && zc.z->trust == TRUST_CORE)
        return fail_at(P, zc.may_assert_mark, FS_ERR_CONFIG,
                       "a core zone may assert every header; remove may_assert or use "
                       "trust: trusted");
    if (zc.may_assert_set && zc.z->trust == TRUST_UNTRUSTED)
        return fail_at(P, zc.may_assert_mark, FS_ERR_CONFIG,
                       "only a trusted zone has may_assert (set trust: trusted)");
    if (zc.z->access && zc.z->trust != TRUST_UNTRUSTED) {
        path_push_key(P, "access");
        return fail_at(P, zc.access_mark, FS_ERR_CONFIG,
                       "an access zone holds UEs: it is untrusted (remove trust or access)");
    }
    if (!zc.may_assert_set)
        zc.z->may_assert = zc.z->trust == TRUST_CORE      ? UINT64_MAX
                           : zc.z->trust == TRUST_TRUSTED ? trusted_default_assert()
                                                          : 0;
    return FS_OK;
}

/* ---- home ---- */

static fs_code home_prefix_item(cfg_parser *P, size_t idx, void *ctx) {
    fs38_config *c = P->c;
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    cfg_prefix p = {0};
    const char *why = e164_parse(sv(P), sl(P), p.digits);
    if (why) return FAIL(P, "'%s' %s", sv_show(P), why);
    p.len = (uint8_t)strlen(p.digits);
    snprintf(p.label, sizeof p.label, "home");
    for (uint16_t i = 0; i < c->nhome_prefixes; i++)
        if (!strcmp(c->home_prefixes[i].digits, p.digits))
            return FAIL(P, "'%s' is listed twice", sv_show(P));
    if (c->nhome_prefixes == CFG_MAX_HOME_PREFIXES)
        return FAIL(P, "more than %d prefixes (CFG_MAX_HOME_PREFIXES)", CFG_MAX_HOME_PREFIXES);
    c->home_prefixes[c->nhome_prefixes++] = p;
    return FS_OK;
}

static fs_code home_domain_item(cfg_parser *P, size_t idx, void *ctx) {
    fs38_config *c = P->c;
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    if (!domain_ok(sv(P), sl(P)))
        return FAIL(P, "'%s' is not a domain name (letters, digits, '-' and dots, at most 127)",
                    sv_show(P));
    char low[128];
    for (size_t i = 0; i <= sl(P); i++) low[i] = (char)tolower((unsigned char)sv(P)[i]);
    for (uint8_t i = 0; i < c->nhome_domains; i++)
        if (!strcmp(c->home_domains[i], low)) return FAIL(P, "'%s' is listed twice", sv_show(P));
    if (c->nhome_domains == CFG_MAX_DOMAINS)
        return FAIL(P, "more than %d domains (CFG_MAX_DOMAINS)", CFG_MAX_DOMAINS);
    memcpy(c->home_domains[c->nhome_domains++], low, sl(P) + 1);
    return FS_OK;
}

static fs_code home_key(cfg_parser *P, const char *key, void *ctx) {
    if (!strcmp(key, "prefixes")) {
        P->c->nhome_prefixes = 0;
        return read_list(P, home_prefix_item, NULL);
    }
    P->c->nhome_domains = 0;
    return read_list(P, home_domain_item, NULL);
}

/* ---- high_risk_ranges ---- */

static fs_code high_risk_value(cfg_parser *P) {
    fs38_config *c = P->c;
    char full[256];
    fs_code rc = get_path(P, full, sizeof full);
    if (rc) return rc;
    if (!full[0]) {
        c->high_risk_file[0] = '\0';
        c->nhigh_risk = 0;
        return FS_OK;
    }
    fs_err sub = {0};
    rc = cfg_load_ranges(c, full, &sub);
    if (rc) return fail_at(P, P_MARK(P), rc, "%s", sub.msg);
    return FS_OK;
}

/* ---- rules ---- */

static const char *const rule_common_keys[] = {"enabled", "threshold", "window_s", "ttl_s",
                                               "severity", "action", NULL};

typedef struct rule_ctx {
    det_rule_id id;
    uint32_t seen; /* bit per common key, then per parameter */
} rule_ctx;

static fs_code rule_enum(cfg_parser *P, const char *key, cfg_rule *rc_) {
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    if (!strcmp(key, "severity")) {
        int s = det_severity_parse(sv(P));
        if (s < 0) return FAIL(P, "'%s': must be info, low, medium, high or critical", sv_show(P));
        rc_->severity = (uint8_t)s;
        return FS_OK;
    }
    for (int a = 0; a < ACT__COUNT; a++)
        if (!strcasecmp(sv(P), det_action_name((det_action)a))) {
            rc_->action = (uint8_t)a;
            return FS_OK;
        }
    char list[200] = "";
    for (int a = 0; a < ACT__COUNT; a++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a ? ", " : "",
                 det_action_name((det_action)a));
    return FAIL(P, "'%s': must be one of %s", sv_show(P), list);
}

static fs_code rule_key(cfg_parser *P, const char *key, void *ctx) {
    rule_ctx *rx = ctx;
    cfg_rule *r = &P->c->rules[rx->id];
    const det_rule_info *ri = &det_rule_table[rx->id];
    int bit = -1;
    for (int i = 0; rule_common_keys[i]; i++)
        if (!strcmp(key, rule_common_keys[i])) bit = i;
    int param = bit < 0 ? det_rule_param_index(rx->id, key) : -1;
    if (bit < 0 && param < 0) {
        if (ri->param_names[0])
            return fail_at(P, P->key_mark, FS_ERR_CONFIG,
                        "unknown parameter (this rule takes: %s; every rule takes: enabled "
                        "severity action threshold window_s ttl_s)",
                        ri->param_names);
        return fail_at(P, P->key_mark, FS_ERR_CONFIG,
                    "unknown parameter (this rule has no parameters of its own; every rule "
                    "takes: enabled severity action threshold window_s ttl_s)");
    }
    if (param >= 0) bit = 6 + param;
    if (rx->seen & (1u << bit)) return fail_at(P, P->key_mark, FS_ERR_CONFIG, "duplicate key");
    rx->seen |= 1u << bit;
    switch (bit) {
    case 0: return get_bool(P, &r->enabled);
    case 1: return get_u32(P, 1, 1000000000u, &r->threshold);
    case 2: return get_u32(P, 1, 30u * 86400, &r->window_s);
    case 3: return get_u32(P, 1, 365u * 86400, &r->ttl_s);
    case 4:
    case 5: return rule_enum(P, key, r);
    default: break;
    }
    /* _ratio: a share 0-1; _s: seconds, fractions allowed; 0/1 switches;
     * everything else counts things, so a fraction (0.5 INVITEs) is a typo */
    size_t kl = strlen(key);
    bool ratio = kl > 6 && !strcmp(key + kl - 6, "_ratio");
    bool seconds = kl > 2 && !strcmp(key + kl - 2, "_s");
    bool flag = !strcmp(key, "check_from") || !strcmp(key, "high_risk_cli");
    /* an event's confidence is 0-100 (docs/events.md): above 100 would match
     * no shared event at all, the rule silently off */
    bool percent = !strcmp(key, "min_confidence");
    double v;
    fs_code rc = get_double(P, 0, ratio || flag ? 1 : percent ? 100 : 1e9, &v);
    if (rc) return rc;
    if (!ratio && !seconds && v != floor(v))
        return FAIL(P, "'%s': must be a whole number (it counts %s)", sv_show(P),
                    flag ? "as a switch: 0 or 1" : "things");
    r->param[param] = v;
    return FS_OK;
}

/* Levenshtein distance, case-insensitive, for "did you mean" (short strings). */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), row[32];
    if (la > 30 || lb > 30) return 99;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

static fs_code rules_entry(cfg_parser *P, const char *id, void *ctx) {
    uint64_t *seen = ctx;
    int r = det_rule_lookup(id);
    if (r < 0) {
        char list[512] = "", hint[64] = "";
        size_t best = 3; /* suggest only close matches */
        for (int i = 0; i < R__COUNT; i++) {
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     det_rule_table[i].id);
            size_t d = edit_distance(id, det_rule_table[i].id);
            if (d < best) {
                best = d;
                snprintf(hint, sizeof hint, "did you mean %s? ", det_rule_table[i].id);
            }
        }
        /* a close match alone keeps the message short (it must fit fs_err with
         * a long path); otherwise the whole list */
        if (hint[0])
            return fail_at(P, P->key_mark, FS_ERR_CONFIG, "unknown rule id (%s`fs38 rules` lists them)", hint);
        return fail_at(P, P->key_mark, FS_ERR_CONFIG, "unknown rule id (known: %s)", list);
    }
    if (*seen & (1ULL << r)) return fail_at(P, P->key_mark, FS_ERR_CONFIG, "duplicate rule");
    *seen |= 1ULL << r;
    rule_ctx rx = {(det_rule_id)r, 0};
    yaml_mark_t at = P->key_mark;
    fs_code rc = read_map(P, NULL, rule_key, &rx);
    const cfg_rule *cr = &P->c->rules[r];
    /* every caller would be flagged; max_digits 0 is no upper bound (docs/configuration.md) */
    if (rc == FS_OK && r == R_CLI_INVALID && cr->param[1] > 0 && cr->param[0] > cr->param[1]) {
        snprintf(P->path, sizeof P->path, "rules.%s", id);
        P->path_len = strlen(P->path);
        return fail_at(P, at, FS_ERR_CONFIG, "min_digits (%g) is more than max_digits (%g): every number would be flagged",
                       cr->param[0], cr->param[1]);
    }
    return rc;
}

/* ---- root ---- */

/* business_hours: the days, the hours and the zone they are told in */
const char *const cfg_day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static fs_code day_item(cfg_parser *P, size_t idx, void *ctx) {
    (void)idx;
    (void)ctx;
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    for (unsigned d = 0; d < 7; d++)
        if (sl(P) == 3 && strncasecmp(sv(P), cfg_day_names[d], 3) == 0) {
            P->c->business_hours.days |= (uint8_t)(1u << d);
            return FS_OK;
        }
    return FAIL(P, "'%s': not a day (mon, tue, wed, thu, fri, sat, sun)", sv_show(P));
}

/* "HH:MM", 00:00 to 24:00 (quoted or not: libyaml hands it over as text) */
static fs_code get_clock(cfg_parser *P, uint16_t *minutes) {
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    const char *s = sv(P);
    bool ok = sl(P) == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && s[2] == ':' &&
              isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]);
    unsigned h = ok ? (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0') : 0;
    unsigned m = ok ? (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0') : 0;
    if (!ok || m > 59 || h > 24 || (h == 24 && m)) return FAIL(P, "'%s': a time of day is HH:MM (00:00 to 24:00)", sv_show(P));
    *minutes = (uint16_t)(h * 60 + m);
    return FS_OK;
}

static fs_code hours_key(cfg_parser *P, const char *key, void *ctx) {
    (void)ctx;
    cfg_hours *h = &P->c->business_hours;
    if (!strcmp(key, "timezone")) {
        fs_code rc = get_text(P, h->timezone, sizeof h->timezone, false);
        if (rc) return rc;
        memset(&h->tz, 0, sizeof h->tz);
        fs_err te = {0};
        if (strcmp(h->timezone, "UTC") != 0 && cfg_tz_load(h->timezone, &h->tz, &te) != FS_OK)
            return FAIL(P, "%s", te.msg);
        return FS_OK;
    }
    if (!strcmp(key, "days")) {
        h->days = 0;
        return read_list(P, day_item, NULL);
    }
    return get_clock(P, !strcmp(key, "from") ? &h->from_min : &h->to_min);
}

static const char *const root_keys[] = {
    "organisation", "capture", "limits", "state", "default_trust", "zones",
    "home", "allow_sources", "allow_callers", "high_risk_ranges", "business_hours", "rules", NULL};
static const char *const hours_keys[] = {"timezone", "days", "from", "to", NULL};
static const char *const org_keys[] = {"issuer", "tlp", NULL};
static const char *const capture_keys[] = {"sip_ports", "heuristic", "live_buffer_mb", "hep_ports", "hep_auth_key",
                                           "hep_tls_cert", "hep_tls_key", "hep_tls_client_ca",
                                           "tls_keylog", "esp_sa", "ims_aka_keys", NULL};
static const char *const limits_keys[] = {
    "max_message",   "max_headers",  "max_header_len", "max_uri_len",
    "max_tcp_flows", "max_flow_bytes", "max_tcp_bytes", "tcp_idle_s",
    "max_frag_sets", "max_frag_bytes", "frag_timeout_s", NULL};
static const char *const state_keys[] = {"max_sources", "max_dialogs", "max_incidents",
                                         "ipv6_source_prefix", NULL};
static const char *const home_keys[] = {"prefixes", "domains", NULL};

static fs_code root_key(cfg_parser *P, const char *key, void *ctx) {
    if (!strcmp(key, "organisation")) return read_map(P, org_keys, org_key, NULL);
    if (!strcmp(key, "capture")) return read_map(P, capture_keys, capture_key, NULL);
    if (!strcmp(key, "limits")) return read_map(P, limits_keys, limits_key, NULL);
    if (!strcmp(key, "state")) return read_map(P, state_keys, state_key, NULL);
    if (!strcmp(key, "zones")) return read_map(P, NULL, zones_entry, NULL);
    if (!strcmp(key, "home")) return read_map(P, home_keys, home_key, NULL);
    if (!strcmp(key, "allow_sources")) {
        P->c->nallow = 0;
        return read_list(P, allow_item, NULL);
    }
    if (!strcmp(key, "allow_callers")) {
        P->c->nallow_callers = 0;
        return read_list(P, allow_caller_item, NULL);
    }
    if (!strcmp(key, "high_risk_ranges")) return high_risk_value(P);
    if (!strcmp(key, "business_hours")) {
        P->c->business_hours.set = true;
        P->mark_hours = P->key_mark;
        return read_map(P, hours_keys, hours_key, NULL);
    }
    if (!strcmp(key, "rules")) {
        uint64_t seen = 0;
        return read_map(P, NULL, rules_entry, &seen);
    }
    /* default_trust */
    fs_code rc = want_scalar(P);
    if (rc) return rc;
    int t = trust_parse(sv(P));
    if (t < 0) return FAIL(P, "'%s': must be core, trusted or untrusted", sv_show(P));
    P->c->default_trust = (uint8_t)t;
    return FS_OK;
}

/* Checks that involve more than one key, once everything is read. */
static fs_code check_across(cfg_parser *P) {
    const cfg_hours *h = &P->c->business_hours;
    /* from 24:00 to 00:00 is midnight to midnight, as empty as 09:00 to 09:00
     * (00:00 to 24:00 is the whole day) */
    bool no_hours = h->from_min == h->to_min || (h->from_min == 24 * 60 && h->to_min == 0);
    if (h->set && (!h->days || no_hours)) {
        snprintf(P->path, sizeof P->path, "business_hours");
        P->path_len = strlen(P->path);
        return fail_at(P, P->mark_hours, FS_ERR_CONFIG, "%s", !h->days ? "no days: name at least one (days: [mon, tue, ...])"
                                                             : "from and to are the same time: no hours");
    }
    cap_config *cc = &P->c->capture;
    if (cc->max_flow_bytes < cc->sip.max_message) {
        bool flow = P->set_max_flow_bytes;
        snprintf(P->path, sizeof P->path, "%s", flow ? "limits.max_flow_bytes" : "limits.max_message");
        P->path_len = strlen(P->path);
        return fail_at(P, flow ? P->mark_max_flow_bytes : P->mark_max_message, FS_ERR_CONFIG,
                       "max_flow_bytes (%u) must be at least max_message (%u): a TCP flow buffer "
                       "holds one whole message",
                       cc->max_flow_bytes, cc->sip.max_message);
    }
    /* a flow's buffer grows up to max_flow_bytes inside the max_tcp_bytes
     * budget: below it, a message that fits max_message could never be
     * reassembled (dropped with a run on one worker; --workers gives each
     * worker at least max_flow_bytes, so the same file behaved otherwise) */
    if (cc->max_tcp_bytes < cc->max_flow_bytes) { /* only a max_tcp_bytes written can be (defaults: 256 MiB > 64 MiB) */
        snprintf(P->path, sizeof P->path, "limits.max_tcp_bytes");
        P->path_len = strlen(P->path);
        return fail_at(P, P->mark_max_tcp_bytes, FS_ERR_CONFIG,
                       "max_tcp_bytes (%llu) must be at least max_flow_bytes (%u): all TCP buffers "
                       "together hold at least one whole flow buffer",
                       (unsigned long long)cc->max_tcp_bytes, cc->max_flow_bytes);
    }
    for (uint8_t i = 0; i < cc->nhep_ports; i++)
        for (uint8_t j = 0; j < cc->nports; j++)
            if (cc->hep_ports[i] == cc->sip_ports[j]) {
                /* blame the list the user wrote (both: the HEP one) */
                bool hep = P->set_hep_ports || !P->set_sip_ports;
                snprintf(P->path, sizeof P->path, "%s", hep ? "capture.hep_ports" : "capture.sip_ports");
                P->path_len = strlen(P->path);
                yaml_mark_t m = hep ? (P->set_hep_ports ? P->mark_hep_ports : P->ev.start_mark) : P->mark_sip_ports;
                if (hep)
                    return fail_at(P, m, FS_ERR_CONFIG, "port %u is also in capture.sip_ports", cc->hep_ports[i]);
                return fail_at(P, m, FS_ERR_CONFIG, "port %u is a HEP port (capture.hep_ports%s)",
                               cc->hep_ports[i], P->set_hep_ports ? "" : ", default 9060");
            }
    return FS_OK;
}

/* The whole stream: nothing, or one document whose root is a mapping (or null). */
static fs_code read_stream(cfg_parser *P) {
    fs_code rc;
    if ((rc = next(P))) return rc; /* STREAM-START */
    if ((rc = next(P))) return rc;
    if (P->ev.type == YAML_STREAM_END_EVENT) return FS_OK; /* empty file: defaults */
    if ((rc = next(P))) return rc;                         /* root node */
    if (P->ev.type == YAML_SCALAR_EVENT && !is_null(P))
        return FAIL(P, "the config must be a mapping of keys (organisation:, zones:, ...), found "
                       "a single value");
    if ((rc = read_map(P, root_keys, root_key, NULL))) return rc;
    if ((rc = next(P))) return rc; /* DOCUMENT-END */
    if ((rc = next(P))) return rc;
    if (P->ev.type != YAML_STREAM_END_EVENT)
        return FAIL(P, "only one YAML document is allowed (remove the second '---')");
    return check_across(P);
}

static fs_code load_buffer(fs38_config *c, const char *buf, size_t len, const char *name,
                           const char *base_dir, fs_err *e) {
    if (len > CFG_MAX_FILE_BYTES)
        return fs_fail(e, FS_ERR_LIMIT, "%s: %zu bytes; a config is at most %u bytes", name, len,
                       CFG_MAX_FILE_BYTES);
    cfg_parser *P = calloc(1, sizeof *P);
    fs38_config *tmp = malloc(sizeof *tmp);
    if (!P || !tmp || !yaml_parser_initialize(&P->yp)) {
        free(P);
        free(tmp);
        return fs_fail(e, FS_ERR_NOMEM, "%s: out of memory", name);
    }
    cfg_defaults(tmp);
    P->name = name;
    P->base_dir = base_dir && *base_dir ? base_dir : ".";
    P->c = tmp;
    P->e = e;
    P->buf = buf;
    P->len = len;
    yaml_parser_set_encoding(&P->yp, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&P->yp, (const unsigned char *)buf, len);
    fs_code rc = read_stream(P);
    if (P->have_ev) yaml_event_delete(&P->ev);
    yaml_parser_delete(&P->yp);
    if (rc == FS_OK) {
        cfg_index(tmp);
        *c = *tmp;
    }
    free(tmp);
    free(P);
    return rc;
}

fs_code cfg_load_buffer(fs38_config *c, const char *buf, size_t len, const char *base_dir,
                        fs_err *e) {
    return load_buffer(c, buf, len, "config", base_dir, e);
}

fs_code cfg_load_file(fs38_config *c, const char *path, fs_err *e) {
    char *buf;
    size_t len;
    fs_code rc = read_file(path, CFG_MAX_FILE_BYTES, &buf, &len, e);
    if (rc != FS_OK) return rc;
    char dir[256];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    fs38_config *tmp = malloc(sizeof *tmp);
    if (!tmp) {
        free(buf);
        return fs_fail(e, FS_ERR_NOMEM, "out of memory loading '%s'", path);
    }
    rc = load_buffer(tmp, buf, len, path, dir, e);
    if (rc == FS_OK) {
        snprintf(tmp->source_path, sizeof tmp->source_path, "%s", path);
        *c = *tmp;
    }
    free(tmp);
    free(buf);
    return rc;
}
