/*
 * fs_core.c -- slices, errors, arena, addresses and time (see fs_core.h).
 *
 * Plain, obvious code: these helpers are called on cold paths or on short
 * strings; the SIP hot path has its own tight loops.
 */
#include "fs_core.h"
#include "fs_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- slices ------------------------------------------------------------- */

bool fs_str_eq(fs_str a, fs_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool fs_str_eq_cstr(fs_str a, const char *c) {
    size_t n = strlen(c);
    return a.len == n && (n == 0 || memcmp(a.p, c, n) == 0);
}

bool fs_str_ieq(fs_str a, fs_str b) {
    if (a.len != b.len) return false;
    for (uint32_t i = 0; i < a.len; i++)
        if (fs_ascii_lower((unsigned char)a.p[i]) != fs_ascii_lower((unsigned char)b.p[i])) return false;
    return true;
}

bool fs_str_icontains(fs_str hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return true;
    if (hay.len < n) return false;
    unsigned char first = fs_ascii_lower((unsigned char)needle[0]);
    for (uint32_t i = 0; i + n <= hay.len; i++) {
        if (fs_ascii_lower((unsigned char)hay.p[i]) != first) continue; /* cheap reject */
        size_t k = 1;
        while (k < n && fs_ascii_lower((unsigned char)hay.p[i + k]) == fs_ascii_lower((unsigned char)needle[k])) k++;
        if (k == n) return true;
    }
    return false;
}

static bool is_trim_char(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

fs_str fs_str_trim(fs_str s) {
    while (s.len && is_trim_char(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_trim_char(s.p[s.len - 1])) s.len--;
    return s;
}

char *fs_str_copy(fs_str s, char *dst, size_t n) {
    if (n == 0) return dst;
    size_t k = s.len < n - 1 ? s.len : n - 1;
    if (k) memcpy(dst, s.p, k);
    dst[k] = '\0';
    return dst;
}

/* ---- text shown on a terminal ---------------------------------------------- */

/* One UTF-8 character at p (len bytes left): its length, or 0 when invalid
 * (a stray continuation, a cut sequence, an overlong form, a surrogate, above
 * U+10FFFF). */
static size_t utf8_decode(const unsigned char *p, size_t len, uint32_t *cp) {
    unsigned char c = p[0];
    size_t need;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) need = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) need = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) need = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (len < need) return 0;
    for (size_t k = 1; k < need; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        v = v << 6 | (p[k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return need;
}

/* Characters a terminal acts on or shows as nothing, so that text can
 * pretend to be other text. */
static bool cp_deceives(uint32_t v) {
    return v < 0x20 || (v >= 0x7f && v <= 0x9f) || v == 0x061c || (v >= 0x200b && v <= 0x200f) ||
           (v >= 0x2028 && v <= 0x202e) || (v >= 0x2060 && v <= 0x206f) || v == 0xfeff ||
           (v >= 0xfff9 && v <= 0xfffb) || (v >= 0xe0000 && v <= 0xe007f);
}

/* v in one of the n sorted, disjoint ranges r */
static bool cp_in(uint32_t v, const uint32_t (*r)[2], size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v < r[mid][0]) hi = mid;
        else if (v > r[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

/* East Asian Wide and Fullwidth characters (Unicode 14.0.0 EastAsianWidth.txt, W
 * and F, assigned ones, and the CJK blocks and planes whole; as glibc's
 * wcwidth and terminals count them): CJK, Hangul, fullwidth forms, and the
 * emoji and symbols shown as pictures. Generated with Python's unicodedata. */
static const uint32_t wide_ranges[][2] = {
    {0x1100, 0x115f}, {0x231a, 0x231b}, {0x2329, 0x232a}, {0x23e9, 0x23ec}, {0x23f0, 0x23f0},
    {0x23f3, 0x23f3}, {0x25fd, 0x25fe}, {0x2614, 0x2615}, {0x2648, 0x2653}, {0x267f, 0x267f},
    {0x2693, 0x2693}, {0x26a1, 0x26a1}, {0x26aa, 0x26ab}, {0x26bd, 0x26be}, {0x26c4, 0x26c5},
    {0x26ce, 0x26ce}, {0x26d4, 0x26d4}, {0x26ea, 0x26ea}, {0x26f2, 0x26f3}, {0x26f5, 0x26f5},
    {0x26fa, 0x26fa}, {0x26fd, 0x26fd}, {0x2705, 0x2705}, {0x270a, 0x270b}, {0x2728, 0x2728},
    {0x274c, 0x274c}, {0x274e, 0x274e}, {0x2753, 0x2755}, {0x2757, 0x2757}, {0x2795, 0x2797},
    {0x27b0, 0x27b0}, {0x27bf, 0x27bf}, {0x2b1b, 0x2b1c}, {0x2b50, 0x2b50}, {0x2b55, 0x2b55},
    {0x2e80, 0x303e}, {0x3041, 0x4dbf}, {0x4e00, 0xa4cf}, {0xa960, 0xa97c}, {0xac00, 0xd7a3},
    {0xf900, 0xfaff}, {0xfe10, 0xfe19}, {0xfe30, 0xfe52}, {0xfe54, 0xfe66}, {0xfe68, 0xfe6b},
    {0xff00, 0xff60}, {0xffe0, 0xffe6}, {0x16fe0, 0x16fe4}, {0x16ff0, 0x16ff1}, {0x17000, 0x187f7},
    {0x18800, 0x18cd5}, {0x18d00, 0x18d08}, {0x1aff0, 0x1aff3}, {0x1aff5, 0x1affb},
    {0x1affd, 0x1affe}, {0x1b000, 0x1b122}, {0x1b150, 0x1b152}, {0x1b164, 0x1b167},
    {0x1b170, 0x1b2fb}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf}, {0x1f18e, 0x1f18e},
    {0x1f191, 0x1f19a}, {0x1f200, 0x1f202}, {0x1f210, 0x1f23b}, {0x1f240, 0x1f248},
    {0x1f250, 0x1f251}, {0x1f260, 0x1f265}, {0x1f300, 0x1f64f}, {0x1f680, 0x1f6c5},
    {0x1f6cc, 0x1f6cc}, {0x1f6d0, 0x1f6d2}, {0x1f6d5, 0x1f6d7}, {0x1f6dd, 0x1f6df},
    {0x1f6eb, 0x1f6ec}, {0x1f6f4, 0x1f6fc}, {0x1f7e0, 0x1f7eb}, {0x1f7f0, 0x1f7f0},
    {0x1f900, 0x1f9ff}, {0x1fa70, 0x1fa74}, {0x1fa78, 0x1fa7c}, {0x1fa80, 0x1fa86},
    {0x1fa90, 0x1faac}, {0x1fab0, 0x1faba}, {0x1fac0, 0x1fac5}, {0x1fad0, 0x1fad9},
    {0x1fae0, 0x1fae7}, {0x1faf0, 0x1faf6}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd}};

static unsigned cp_columns(uint32_t v) {
    static const uint32_t zero[][2] = {{0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd},
                                       {0x0610, 0x061a}, {0x064b, 0x065f}, {0x1ab0, 0x1aff},
                                       {0x1dc0, 0x1dff}, {0x20d0, 0x20ff}, {0xfe00, 0xfe0f},
                                       {0xfe20, 0xfe2f}};
    if (v < 0x300) return 1;
    if (cp_in(v, zero, sizeof zero / sizeof *zero)) return 0;
    return cp_in(v, wide_ranges, sizeof wide_ranges / sizeof *wide_ranges) ? 2 : 1;
}

void fs_text_printable(char *dst, size_t n, const char *src) {
    const unsigned char *p = (const unsigned char *)src;
    size_t len = strlen(src), o = 0;
    if (n == 0) return;
    for (size_t i = 0; i < len;) {
        uint32_t v;
        size_t k = utf8_decode(p + i, len - i, &v);
        bool bad = k == 0 || cp_deceives(v);
        size_t out = bad ? 1 : k;
        if (o + out >= n) break;
        if (bad) {
            dst[o++] = '?';
        } else {
            memcpy(dst + o, p + i, k);
            o += k;
        }
        i += k ? k : 1;
    }
    dst[o] = '\0';
}

size_t fs_text_columns(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t cols = 0;
    for (size_t i = 0; i < len;) {
        uint32_t v;
        size_t k = utf8_decode(p + i, len - i, &v);
        cols += k ? cp_columns(v) : 1;
        i += k ? k : 1;
    }
    return cols;
}

size_t fs_text_fit(const char *s, size_t cols, size_t *used) {
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, have = 0;
    while (i < len) {
        uint32_t v;
        size_t k = utf8_decode(p + i, len - i, &v);
        unsigned w = k ? cp_columns(v) : 1;
        if (have + w > cols) break; /* a combining mark (w 0) stays with its character */
        have += w;
        i += k ? k : 1;
    }
    if (used) *used = have;
    return i;
}

bool fs_str_to_u64(fs_str s, uint64_t max, uint64_t *out) {
    if (s.len == 0) return false;
    uint64_t v = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9) return false;
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Eight bytes per step (multiply-xorshift), then the splitmix64 finaliser so
 * the low bits are usable as a table index. Not a cryptographic hash: tables
 * keyed with it take a random seed and are bounded, so engineered collisions
 * can only evict within one bucket. */
static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool fs_unhex(const char *s, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

uint64_t fs_hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(n + 1));
    for (; n >= 8; b += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        /* Two multiply rounds per word: with one, flipping a word's top bit
         * (carried through unchanged by the multiply) and fixing the next
         * word collided for every seed; the second multiply's carries make
         * any such difference depend on the state, so on the seed. */
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        h *= 0x94d049bb133111ebULL;
        h ^= h >> 29;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++) w |= (uint64_t)b[i] << (8 * i);
        h = (h ^ w) * 0x94d049bb133111ebULL;
        h ^= h >> 29;
    }
    return fs_mix64(h);
}

/* ---- errors ------------------------------------------------------------- */

fs_code fs_fail(fs_err *e, fs_code code, const char *fmt, ...) {
    if (e) {
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *fs_code_name(fs_code c) {
    switch (c) {
    case FS_OK: return "ok";
    case FS_ERR_USAGE: return "usage error";
    case FS_ERR_IO: return "I/O error";
    case FS_ERR_FORMAT: return "format error";
    case FS_ERR_LIMIT: return "limit reached";
    case FS_ERR_NOMEM: return "out of memory";
    case FS_ERR_CONFIG: return "configuration error";
    case FS_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

/* ---- arena -------------------------------------------------------------- */

void fs_arena_init(fs_arena *a, void *buf, size_t cap) {
    a->base = buf;
    a->cap = cap;
    a->used = 0;
}

void *fs_arena_alloc(fs_arena *a, size_t n) {
    size_t start = (a->used + 7u) & ~(size_t)7u;
    if (start > a->cap || n > a->cap - start) return NULL;
    a->used = start + n;
    return a->base + start;
}

/* ---- addresses ---------------------------------------------------------- */

bool fs_addr_eq(const fs_addr *a, const fs_addr *b) {
    if (a->family != b->family) return false;
    return memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

const char *fs_addr_str(const fs_addr *a, char *buf, size_t n) {
    if (n == 0) return buf;
    buf[0] = '\0';
    if (a->family == 4)
        inet_ntop(AF_INET, a->ip, buf, (socklen_t)n);
    else if (a->family == 6)
        inet_ntop(AF_INET6, a->ip, buf, (socklen_t)n);
    else
        snprintf(buf, n, "-");
    return buf;
}

const char *fs_layer_name(uint8_t kind) {
    static const char *const names[] = {"?", "vlan", "mpls", "pppoe", "gre", "erspan", "ipip", "vxlan", "geneve", "gtpu", "esp", "l2tp"};
    return kind < sizeof names / sizeof *names ? names[kind] : "?";
}

const char *fs_endpoint_str(const fs_endpoint *e, char *buf, size_t n) {
    char ip[FS_ADDR_STRLEN];
    fs_addr_str(&e->addr, ip, sizeof ip);
    if (e->addr.family == 6)
        snprintf(buf, n, "[%s]:%u", ip, e->port);
    else
        snprintf(buf, n, "%s:%u", ip, e->port);
    return buf;
}

const char *fs_listen_parse(const char *spec, bool zero_port, struct sockaddr_storage *ss, socklen_t *sl) {
    const char *colon = strrchr(spec, ':');
    uint64_t port;
    if (!colon || !colon[1]) return "expected ADDR:PORT";
    if (!fs_str_to_u64(fs_str_make(colon + 1, strlen(colon + 1)), 65535, &port))
        return zero_port ? "port must be 0-65535" : "port must be 1-65535";
    if (port == 0 && !zero_port) return "port must be 1-65535";
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    char host[64];
    if (hl >= sizeof host) return "address too long";
    memcpy(host, h, hl);
    host[hl] = '\0';
    fs_addr a;
    if (!fs_addr_parse(hl ? host : "0.0.0.0", &a)) return "not an IPv4/IPv6 address";
    memset(ss, 0, sizeof *ss);
    if (a.family == 4) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        memcpy(&v4->sin_addr, a.ip, 4);
        *sl = sizeof *v4;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        memcpy(&v6->sin6_addr, a.ip, 16);
        *sl = sizeof *v6;
    }
    return NULL;
}

bool fs_addr_parse(const char *s, fs_addr *out) {
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, s, out->ip) == 1) {
        out->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->ip) == 1) {
        out->family = 6;
        return true;
    }
    return false;
}

bool fs_addr_parse_str(fs_str s, fs_addr *out) {
    char tmp[64];
    if (s.len >= 2 && s.p[0] == '[' && s.p[s.len - 1] == ']') {
        s.p++;
        s.len -= 2;
    }
    if (s.len == 0 || s.len >= sizeof tmp) return false;
    fs_str_copy(s, tmp, sizeof tmp);
    return fs_addr_parse(tmp, out);
}

static bool in_v4(const uint8_t *ip, uint8_t a, uint8_t b, int prefix) {
    uint32_t v = (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];
    uint32_t net = (uint32_t)a << 24 | (uint32_t)b << 16;
    uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
    return (v & mask) == (net & mask);
}

bool fs_addr_is_private(const fs_addr *a) {
    if (a->family == 4) {
        const uint8_t *ip = a->ip;
        return in_v4(ip, 10, 0, 8) || in_v4(ip, 172, 16, 12) || in_v4(ip, 192, 168, 16) ||
               in_v4(ip, 100, 64, 10) || in_v4(ip, 127, 0, 8) || in_v4(ip, 169, 254, 16);
    }
    if (a->family == 6) {
        static const uint8_t loop[16] = {[15] = 1};
        if (memcmp(a->ip, loop, 16) == 0) return true;
        if ((a->ip[0] & 0xfe) == 0xfc) return true;                     /* ULA fc00::/7 */
        if (a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80) return true; /* fe80::/10 */
        fs_addr v4 = fs_addr_unmapped(a);
        if (v4.family == 4) return fs_addr_is_private(&v4);
    }
    return false;
}

fs_addr fs_addr_unmapped(const fs_addr *a) {
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (a->family != 6 || memcmp(a->ip, mapped, 12) != 0) return *a;
    fs_addr v4 = {.family = 4};
    memcpy(v4.ip, a->ip + 12, 4);
    return v4;
}

bool fs_cidr_parse(const char *s, fs_cidr *out, fs_err *e) {
    char tmp[64];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof tmp) {
        fs_fail(e, FS_ERR_CONFIG, "'%s' is not an address or network", s);
        return false;
    }
    memcpy(tmp, s, n + 1);
    char *slash = strchr(tmp, '/');
    if (slash) *slash = '\0';
    if (!fs_addr_parse(tmp, &out->net)) {
        fs_fail(e, FS_ERR_CONFIG, "'%s' is not an IPv4/IPv6 address or network", s);
        return false;
    }
    int maxp = out->net.family == 4 ? 32 : 128;
    int prefix = maxp;
    if (slash) {
        uint64_t v;
        const char *p = slash + 1;
        if (!fs_str_to_u64(fs_str_make(p, strlen(p)), (uint64_t)maxp, &v)) {
            fs_fail(e, FS_ERR_CONFIG, "'%s': prefix length must be 0-%d", s, maxp);
            return false;
        }
        prefix = (int)v;
    }
    out->prefix = (uint8_t)prefix;
    /* clear host bits so contains() is a plain masked compare */
    for (int bit = prefix; bit < maxp; bit++) out->net.ip[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return true;
}

bool fs_cidr_contains(const fs_cidr *c, const fs_addr *a) {
    if (c->net.family != a->family) return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (full && memcmp(c->net.ip, a->ip, (size_t)full) != 0) return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rest));
        if ((a->ip[full] & mask) != c->net.ip[full]) return false;
    }
    return true;
}

/* ---- time --------------------------------------------------------------- */

const char *fs_time_rfc3339(uint64_t ts_us, char *buf, size_t n) {
    if (ts_us > FS_TIME_MAX_US) ts_us = FS_TIME_MAX_US; /* a five-digit year is no RFC 3339 */
    time_t secs = (time_t)(ts_us / FS_USEC);
    unsigned ms = (unsigned)((ts_us % FS_USEC) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

int fs_fsync_dir_of(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir) return ENAMETOOLONG;
    if (slash && n == 0) n = 1; /* "/file": the root */
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? n : 1] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return err;
}

uint64_t fs_time_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * FS_USEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t fs_time_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * FS_USEC + (uint64_t)ts.tv_nsec / 1000;
}
