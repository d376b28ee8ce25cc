/*
 * fs_core.h -- the small building blocks every libfs38 module shares.
 *
 * Owns: the byte slice (fs_str), the one error type (fs_err), the per-packet
 * arena, network addresses (fs_addr), capture-time helpers and a few string
 * utilities (text made safe and measured for a terminal among them).
 * Must not touch: anything protocol specific; no I/O, no globals.
 *
 * Conventions used across libfs38 (curl/libuv style):
 *   - every public name carries its module prefix (fs_, sip_, cap_, det_, ev_, cfg_);
 *   - functions that can fail return an fs_code and fill an fs_err for the caller
 *     to print; nothing below src/cli prints;
 *   - time is microseconds since the Unix epoch (capture time, not wall clock).
 */
#ifndef FS_CORE_H
#define FS_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- slices ------------------------------------------------------------ */

/* A read-only view into a buffer someone else owns (the packet, the file).
 * Never NUL terminated; p may be NULL when len == 0. */
typedef struct fs_str {
    const char *p;
    uint32_t len;
} fs_str;

#define FS_STR_NULL ((fs_str){NULL, 0})
#define FS_STR_LIT(s) ((fs_str){(s), (uint32_t)(sizeof(s) - 1)})

static inline fs_str fs_str_make(const char *p, size_t len) {
    fs_str s = {p, (uint32_t)len};
    return s;
}
static inline bool fs_str_empty(fs_str s) { return s.len == 0; }
bool fs_str_eq(fs_str a, fs_str b);
bool fs_str_eq_cstr(fs_str a, const char *c);
bool fs_str_ieq(fs_str a, fs_str b);          /* ASCII case-insensitive */
static inline unsigned char fs_ascii_lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}
/* Inline, so that a literal's length is known where it is called and most
 * mismatches (length, first octet) cost no call. */
static inline bool fs_str_ieq_cstr(fs_str a, const char *c) {
    size_t n = strlen(c);
    return a.len == n && fs_str_ieq(a, fs_str_make(c, n));
}
static inline bool fs_str_istarts(fs_str a, const char *prefix) {
    size_t n = strlen(prefix);
    if (a.len < n) return false;
    if (n && fs_ascii_lower((unsigned char)a.p[0]) != fs_ascii_lower((unsigned char)prefix[0])) return false;
    return fs_str_ieq(fs_str_make(a.p, n), fs_str_make(prefix, n));
}
bool fs_str_icontains(fs_str hay, const char *needle);
fs_str fs_str_trim(fs_str s);                 /* strip SP / HTAB / CR / LF both ends */
/* Copy into dst (size n) NUL terminated, truncating; returns dst. */
char *fs_str_copy(fs_str s, char *dst, size_t n);
/* Parse an unsigned decimal; false on empty, non-digit or overflow of max. */
bool fs_str_to_u64(fs_str s, uint64_t max, uint64_t *out);
uint64_t fs_hash_bytes(const void *p, size_t n, uint64_t seed); /* FNV-1a 64 + mix */
/* The 2n hex digits at s (either case) as n bytes into out; false, out
 * unfinished, when one is not a hex digit. */
bool fs_unhex(const char *s, size_t n, uint8_t *out);

/* ---- errors ------------------------------------------------------------ */

typedef enum fs_code {
    FS_OK = 0,
    FS_ERR_USAGE,    /* bad arguments */
    FS_ERR_IO,       /* open/read/write failed */
    FS_ERR_FORMAT,   /* input is not what it claims (pcap, YAML, JSON, HEP ...) */
    FS_ERR_LIMIT,    /* a configured bound was reached */
    FS_ERR_NOMEM,
    FS_ERR_CONFIG,   /* config is well-formed but wrong (unknown key, bad value) */
    FS_ERR_INTERNAL
} fs_code;

typedef struct fs_err {
    fs_code code;
    char msg[1024];
} fs_err;

/* Sets e (if non-NULL) and returns code, so callers can `return fs_fail(...)`. */
fs_code fs_fail(fs_err *e, fs_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *fs_code_name(fs_code c);

/* ---- arena --------------------------------------------------------------- */

/* Bump allocator over a fixed buffer, reset per packet/request (nginx pools).
 * Allocation never grows the buffer: it returns NULL when full, and the
 * caller treats that as a limit, not a crash. */
typedef struct fs_arena {
    uint8_t *base;
    size_t cap;
    size_t used;
} fs_arena;

void fs_arena_init(fs_arena *a, void *buf, size_t cap);
void *fs_arena_alloc(fs_arena *a, size_t n); /* 8-byte aligned, NULL if full */
static inline void fs_arena_reset(fs_arena *a) { a->used = 0; }

/* ---- addresses ------------------------------------------------------------ */

typedef struct fs_addr {
    uint8_t family; /* 4 or 6; 0 = unset */
    uint8_t ip[16]; /* IPv4 in the first 4 bytes */
} fs_addr;

typedef struct fs_endpoint {
    fs_addr addr;
    uint16_t port;
} fs_endpoint;

bool fs_addr_eq(const fs_addr *a, const fs_addr *b);
/* The splitmix64 finaliser. */
static inline uint64_t fs_mix64(uint64_t h) {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}
/* Called several times per message (inline): one or two words, mixed. */
static inline uint64_t fs_addr_hash(const fs_addr *a, uint64_t seed) {
    uint64_t lo, hi = 0;
    memcpy(&lo, a->ip, 8);
    if (a->family == 4) lo &= 0xffffffffULL;
    else memcpy(&hi, a->ip + 8, 8);
    return fs_mix64((seed ^ a->family) + lo * 0x9e3779b97f4a7c15ULL + fs_mix64(hi ^ seed));
}
/* The network an address counts under when IPv6 sources are grouped by
 * their /prefix6 (state.ipv6_source_prefix): a host holds at least a /64
 * and can send from any address of it. *out is a's network, its bits past
 * prefix6 cleared; the return is the prefix length that applies, 128 when a
 * stands alone (*out = *a): every IPv4 address, prefix6 >= 128, and the IPv6
 * addresses whose /64 names no one host's network -- the first /64 (::1,
 * IPv4-mapped ::ffff:a.b.c.d and -compatible), 64:ff9b::/32 (NAT64/SIIT:
 * IPv4 hosts translated, RFC 6052/8215) and link-local fe80::/10 (every
 * link's hosts share fe80::/64). IPv4 pays one compare. */
static inline uint8_t fs_addr_source_net(const fs_addr *a, uint8_t prefix6, fs_addr *out) {
    *out = *a;
    if (a->family != 6 || prefix6 >= 128) return 128;
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; i++) { /* big-endian words, whatever the host */
        hi = hi << 8 | a->ip[i];
        lo = lo << 8 | a->ip[8 + i];
    }
    if (hi == 0 || hi >> 32 == 0x0064ff9bULL || hi >> 54 == 0x3faULL) return 128;
    if (prefix6 <= 64) {
        hi &= prefix6 ? ~0ULL << (64 - prefix6) : 0;
        lo = 0;
    } else {
        lo &= ~0ULL << (128 - prefix6);
    }
    for (int i = 7; i >= 0; i--) {
        out->ip[i] = (uint8_t)hi;
        out->ip[8 + i] = (uint8_t)lo;
        hi >>= 8;
        lo >>= 8;
    }
    return prefix6;
}
/* "192.0.2.1" / "2001:db8::1"; buf at least FS_ADDR_STRLEN. */
#define FS_ADDR_STRLEN 48
const char *fs_addr_str(const fs_addr *a, char *buf, size_t n);
/* "192.0.2.1:5060" / "[2001:db8::1]:5060" */
const char *fs_endpoint_str(const fs_endpoint *e, char *buf, size_t n);
bool fs_addr_parse(const char *s, fs_addr *out); /* v4 or v6 text */
/* Also accepts a host inside a SIP header (no brackets needed). */
bool fs_addr_parse_str(fs_str s, fs_addr *out);
bool fs_addr_is_private(const fs_addr *a); /* RFC 1918, 6598, loopback, link-local, ULA */
/* a as IPv4 when it is IPv4-mapped (::ffff:a.b.c.d, as a dual-stack socket
 * reports an IPv4 peer), else a itself. */
fs_addr fs_addr_unmapped(const fs_addr *a);

/* ---- encapsulation path ----------------------------------------------------- */

/* A VLAN tag or a tunnel a packet came through on its way to the capture
 * point: the capture layer records them (outermost first), events carry
 * them as evidence.sample's x-encap. */
typedef enum fs_layer_kind {
    FS_L_VLAN = 1, /* id: the VLAN id (802.1Q C-tag or 802.1ad S-tag) */
    FS_L_MPLS,     /* id: the bottom-of-stack label (the VPN's or pseudowire's) */
    FS_L_PPPOE,    /* id: the session id */
    FS_L_GRE,      /* id: the key, when it has one; src/dst: the outer addresses */
    FS_L_ERSPAN,   /* id: the session id (types II, III); src/dst as GRE */
    FS_L_IPIP,     /* IPv4 or IPv6 in IP; src/dst */
    FS_L_VXLAN,    /* id: the VNI; src/dst */
    FS_L_GENEVE,   /* id: the VNI; src/dst */
    FS_L_GTPU,     /* id: the TEID; src/dst: the tunnel endpoints (eNodeB/gNB, SGW/UPF) */
    FS_L_ESP,      /* id: the SPI; src/dst: the SA's endpoints (UE and P-CSCF on Gm) */
    FS_L_L2TP      /* id: tunnel id << 16 | session id; src/dst: the LAC and LNS */
} fs_layer_kind;

typedef struct fs_layer {
    uint8_t kind;   /* fs_layer_kind */
    bool has_id;
    uint32_t id;
    fs_addr src, dst; /* family 0 when the layer is not carried in IP */
} fs_layer;

#define FS_MAX_LAYERS 8 /* the outermost ones are kept */
typedef struct fs_encap {
    uint8_t n;
    fs_layer layer[FS_MAX_LAYERS];
} fs_encap;

const char *fs_layer_name(uint8_t kind); /* "vlan", "mpls", ... "l2tp"; "?" */
/* Appends l to the path: its slot, for the caller to add the outer
 * addresses to, or NULL when the path is full (the outermost are kept). */
static inline fs_layer *fs_encap_add(fs_encap *e, const fs_layer *l) {
    if (e->n >= FS_MAX_LAYERS) return NULL;
    e->layer[e->n] = *l;
    return &e->layer[e->n++];
}

typedef struct fs_cidr {
    fs_addr net;
    uint8_t prefix;
} fs_cidr;
bool fs_cidr_parse(const char *s, fs_cidr *out, fs_err *e); /* "10.0.0.0/8", "2001:db8::/32", bare addr */
bool fs_cidr_contains(const fs_cidr *c, const fs_addr *a);

/* ---- text shown on a terminal ------------------------------------------------ */

/* Copy src (NUL terminated) into dst (size n) for a person's terminal: what
 * could drive or deceive it -- controls (C0 with tab, DEL, C1), invalid UTF-8,
 * and the invisible characters that reorder or hide text (bidi embeddings,
 * overrides and isolates, zero-width spaces and joiners, line separators,
 * BOM, tag characters) -- becomes '?'. Truncates at a character boundary. */
void fs_text_printable(char *dst, size_t n, const char *src);
/* Terminal columns the UTF-8 text s[0..len) takes: 2 for East Asian wide and
 * fullwidth characters, 0 for combining marks, 1 for others (and per byte of
 * invalid UTF-8). */
size_t fs_text_columns(const char *s, size_t len);
/* How many bytes of s (NUL terminated) fit in cols columns without splitting
 * a character; *used (if not NULL) gets the columns they take. */
size_t fs_text_fit(const char *s, size_t cols, size_t *used);

/* ---- time ------------------------------------------------------------------ */

#define FS_USEC 1000000ULL
/* The last instant RFC 3339 can write (four-digit years): 9999-12-31T23:59:59.999999Z.
 * Capture times are held to it, far enough below 2^64 that adding a TTL or
 * a window to one cannot wrap. */
#define FS_TIME_MAX_US 253402300799999999ULL
/* RFC 3339 UTC with milliseconds: "2026-11-25T10:41:42.067Z"; buf >= 32.
 * A time past FS_TIME_MAX_US is written as FS_TIME_MAX_US. */
const char *fs_time_rfc3339(uint64_t ts_us, char *buf, size_t n);
uint64_t fs_time_now_us(void); /* wall clock, for `created` only */
/* a clock that only moves forward (CLOCK_MONOTONIC): for how long something
 * took or is due, which a wall clock stepped by NTP or by hand would upset */
uint64_t fs_time_mono_us(void);

/* ---- files ------------------------------------------------------------------ */
/* fsync the folder that holds path, so that a file created or renamed there
 * is on disk too (fsync of the file covers its bytes, not its name).
 * 0 or an errno. */
int fs_fsync_dir_of(const char *path);

#endif
