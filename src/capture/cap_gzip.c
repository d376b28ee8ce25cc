/*
 * cap_gzip.c -- compressed capture files: gzip read through zlib, the other
 * compressions named.
 *
 * Owns: recognising a compressed file by its first bytes (cap_compression),
 * and a stdio stream (fopencookie) that hands libpcap the decompressed bytes
 * of a descriptor, or its bytes as they are after a few already read from it
 * (stdin, whose first bytes were read to recognise it and cannot be put
 * back). Captures rotated by `tcpdump -z gzip` or stored compressed are then
 * inspected as they are, from a file or from stdin, as tshark reads them.
 * Must not touch: what the bytes mean (libpcap and cap_source.c read them).
 *
 * Bounded: a 64 KiB input buffer and zlib's 32 KiB window, whatever the
 * ratio; a gzip bomb costs time in proportion to what it holds, like a
 * capture that big, never memory. Several gzip members one after another
 * (cat a.gz b.gz) are read as one stream, as gzip -d does; zero padding
 * after the last member is ignored. Other bytes there (a member whose header
 * is corrupt, data appended) end the read like a truncation, saying where:
 * gzip -d warns of "trailing garbage", and the frames they may hold must not
 * go unmissed. A stream that ends inside a member or whose data is
 * corrupt ends the read: libpcap sees the end of its file or a read error,
 * and cap_gz_error says what broke. A classic pcap's header snapshot length,
 * and a pcapng's in each Interface Description Block, are handed on as 0
 * (see cap.h): cap_source.c sends a file whose header gives a smaller one
 * than libpcap's maximum through here for that.
 */
#include "cap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define GZ_IN_BYTES (64u * 1024u)
#define GZ_PREFIX_MAX 8u
#define PNG_LOOK 16u /* a pcapng block's first bytes, looked at together */

struct cap_gz {
    int fd;
    bool own_fd;
    bool gzip;          /* else the bytes as they are */
    bool input_ended;   /* read() returned 0 */
    bool done;          /* the last member ended (or the stream broke) */
    bool z_live;        /* inflateInit2 succeeded */
    bool hard_error;    /* corrupt data or a read error, not a truncation */
    uint8_t prefix[GZ_PREFIX_MAX];
    size_t nprefix, prefix_at;
    uint64_t consumed;  /* bytes taken from the descriptor, the prefix included */
    uint64_t delivered; /* bytes handed to the reader, up to 20 (the pcap file header's snaplen) */
    uint8_t magic[4];   /* the stream's first bytes */
    /* a pcapng stream: where its blocks are, to hand on each Interface
     * Description Block with snaplen 0 (png_off: not a pcapng, or a block
     * length that makes no sense: libpcap reports it) */
    bool png_off, png_be, png_in; /* png_in: past the stream's first block header */
    bool png_first_be;            /* the first section's byte order */
    uint64_t png_at;              /* stream offset of the block being looked at */
    uint64_t png_order_at;        /* of the first section header of the other byte order, + 1 (0: none) */
    uint32_t png_left;            /* bytes of the current block still to pass */
    uint32_t png_nifs;            /* interfaces described in the section so far */
    uint32_t png_snap0;           /* the snaplen interface 0 of the section was given */
    uint8_t carry[PNG_LOOK];      /* the first bytes of a block not yet handed on */
    size_t ncarry;
    bool carry_seen;              /* they were looked at (a read too small to look ahead) */
    char error[160];
    z_stream z;
    uint8_t in[GZ_IN_BYTES];
};

const char *cap_compression(const uint8_t *b, size_t n) {
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return "gzip";
    if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return "zstd";
    if (n >= 4 && b[0] == 0xfd && b[1] == '7' && b[2] == 'z' && b[3] == 'X') return "xz";
    if (n >= 3 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h') return "bzip2";
    if (n >= 4 && b[0] == 0x04 && b[1] == 0x22 && b[2] == 0x4d && b[3] == 0x18) return "lz4";
    return NULL;
}

/* Up to n bytes into buf: the prefix first, then the descriptor. 0 at the
 * end, -1 (errno set) on a read error. A read a signal interrupted is not
 * tried again: fs38 inspect's SIGINT/SIGTERM come without SA_RESTART to end
 * the run, and a pipe whose writer is idle (`tail -f cap | fs38 inspect -`)
 * would otherwise hold it until the writer writes or closes (SIGHUP and
 * SIGUSR1 restart the read themselves). */
static ssize_t take_input(cap_gz *g, uint8_t *buf, size_t n) {
    if (g->prefix_at < g->nprefix) {
        size_t k = g->nprefix - g->prefix_at;
        if (k > n) k = n;
        memcpy(buf, g->prefix + g->prefix_at, k);
        g->prefix_at += k;
        return (ssize_t)k;
    }
    ssize_t r = read(g->fd, buf, n);
    if (r > 0) g->consumed += (uint64_t)r;
    return r;
}

/* Ends the stream with what broke; hard: corrupt data or a read error
 * (libpcap gets a read error), else a truncation (libpcap gets the end of
 * its file, and cap_source.c reports the truncation). */
static void stop_with(cap_gz *g, bool hard, const char *what) {
    snprintf(g->error, sizeof g->error, "gzip: %s (after %llu compressed bytes)", what,
             (unsigned long long)g->consumed);
    g->hard_error = hard;
    g->done = true;
}

/* The member that ended is followed by another one (a concatenation): true
 * once the next member's header is there; false at the real end. */
static bool next_member(cap_gz *g) {
    /* until both magic bytes are here: a pipe may hand over the first one
     * alone, and one byte is not the end of the input */
    if (g->z.avail_in < 2 && !g->input_ended) {
        memmove(g->in, g->z.next_in, g->z.avail_in);
        g->z.next_in = g->in;
    }
    while (g->z.avail_in < 2 && !g->input_ended) {
        ssize_t r = take_input(g, g->in + g->z.avail_in, GZ_IN_BYTES - g->z.avail_in);
        if (r <= 0) g->input_ended = true;
        else g->z.avail_in += (uInt)r;
    }
    if (g->z.avail_in < 2 || g->z.next_in[0] != 0x1f || g->z.next_in[1] != 0x8b) return false;
    return inflateReset(&g->z) == Z_OK;
}

/* After the last member: true when nothing but zero bytes (padding) follow,
 * read to the end of the input; false at the first other byte. */
static bool only_zeros_follow(cap_gz *g) {
    for (;;) {
        for (uInt i = 0; i < g->z.avail_in; i++)
            if (g->z.next_in[i]) return false;
        g->z.avail_in = 0;
        if (g->input_ended) return true;
        ssize_t r = take_input(g, g->in, GZ_IN_BYTES);
        if (r <= 0) g->input_ended = true; /* a read error here loses no frame */
        else {
            g->z.next_in = g->in;
            g->z.avail_in = (uInt)r;
        }
    }
}

static ssize_t inflate_some(cap_gz *g, char *buf, size_t n) {
    g->z.next_out = (Bytef *)buf;
    g->z.avail_out = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    while (g->z.avail_out > 0 && !g->done) {
        if (g->z.avail_in == 0 && !g->input_ended) {
            ssize_t r = take_input(g, g->in, GZ_IN_BYTES);
            if (r < 0) {
                stop_with(g, true, strerror(errno));
                break;
            }
            g->input_ended = r == 0;
            g->z.next_in = g->in;
            g->z.avail_in = (uInt)r;
        }
        if (g->z.avail_in == 0 && g->input_ended) { /* inside a member */
            stop_with(g, false, "the compressed data ends early: a truncated file");
            break;
        }
        int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            if (next_member(g)) continue;
            uint64_t end = g->consumed - g->z.avail_in; /* where the last member ended */
            if (only_zeros_follow(g)) {
                g->done = true;
            } else { /* like a truncation: libpcap sees the end of its file */
                snprintf(g->error, sizeof g->error,
                         "gzip: the bytes after the last member (at compressed byte %llu) are not gzip: "
                         "a corrupt member, or data appended",
                         (unsigned long long)end);
                g->done = true;
            }
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            stop_with(g, true, g->z.msg ? g->z.msg : "corrupt compressed data");
        }
    }
    size_t made = n - g->z.avail_out;
    if (made == 0 && g->hard_error) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)made; /* what came before the damage, then the error */
}

/* The classic pcap magic numbers (micro- and nanosecond, either byte order,
 * and Kuznetzov's patched format). */
static bool classic_pcap(const uint8_t *m) {
    static const uint8_t magics[][4] = {{0xa1, 0xb2, 0xc3, 0xd4}, {0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
                                        {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0xcd, 0x34}, {0x34, 0xcd, 0xb2, 0xa1}};
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (memcmp(m, magics[i], 4) == 0) return true;
    return false;
}

/* A classic pcap's header snaplen (bytes 16-19, 0 in either byte order)
 * made 0, so that libpcap does not cut records longer than it. */
static void unclip_classic(cap_gz *g, char *buf, size_t n) {
    for (size_t i = 0; i < n && g->delivered < 20; i++, g->delivered++) {
        if (g->delivered < 4) g->magic[g->delivered] = (uint8_t)buf[i];
        else if (g->delivered >= 16 && classic_pcap(g->magic)) buf[i] = 0;
    }
}

#define PNG_IDB 1u
#define PNG_SPB 3u

static uint32_t png_u32(const cap_gz *g, const uint8_t *p) {
    return g->png_be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                     : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void png_put32(const cap_gz *g, uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(g->png_be ? v >> (24 - 8 * i) : v >> (8 * i));
}

/* A pcapng's blocks as they pass, each one's first PNG_LOOK bytes looked at
 * together: an Interface Description Block's snaplen (bytes 12-15) made 0,
 * and a Simple Packet Block's packet length (bytes 8-11, the bytes it holds
 * being as many, at most the snaplen of interface 0) made no more than that
 * snaplen, so that libpcap still reads only what the block holds. Returns
 * how many of the n bytes can be handed on: the rest (fewer than PNG_LOOK)
 * is the start of a block, to be looked at once more bytes came (at_end:
 * none will). */
static size_t unclip_pcapng(cap_gz *g, uint8_t *p, size_t n, bool at_end) {
    size_t i = 0;
    while (i < n && !g->png_off) {
        if (g->png_left) {
            size_t k = n - i < g->png_left ? n - i : g->png_left;
            i += k;
            g->png_left -= (uint32_t)k;
            continue;
        }
        if (n - i < PNG_LOOK && !at_end) return i;
        uint8_t *h = p + i;
        if (n - i < 12) {
            g->png_off = true; /* cut short: libpcap says so */
            break;
        }
        bool shb = memcmp(h, "\x0a\x0d\x0d\x0a", 4) == 0;
        if (shb && memcmp(h + 8, "\x4d\x3c\x2b\x1a", 4) == 0) g->png_be = false;
        else if (shb && memcmp(h + 8, "\x1a\x2b\x3c\x4d", 4) == 0) g->png_be = true;
        else if (shb || !g->png_in) { /* a corrupt section header, or not a pcapng */
            g->png_off = true;
            break;
        }
        if (!g->png_in) g->png_first_be = g->png_be;
        else if (shb && g->png_be != g->png_first_be && !g->png_order_at) g->png_order_at = g->png_at + 1;
        g->png_in = true;
        uint32_t type = png_u32(g, h), len = png_u32(g, h + 4);
        if (len < 12 || len % 4 != 0) {
            g->png_off = true;
            break;
        }
        if (shb) g->png_nifs = g->png_snap0 = 0;
        if (type == PNG_IDB && len >= 20 && n - i >= 16) {
            if (g->png_nifs++ == 0) g->png_snap0 = png_u32(g, h + 12);
            memset(h + 12, 0, 4);
        } else if (type == PNG_SPB && len >= 16 && n - i >= 12 && g->png_snap0 &&
                   png_u32(g, h + 8) > g->png_snap0) {
            png_put32(g, h + 8, g->png_snap0);
        }
        g->png_left = len;
        g->png_at += len;
    }
    return n;
}

static ssize_t raw_read(cap_gz *g, uint8_t *buf, size_t n) {
    return g->gzip ? inflate_some(g, (char *)buf, n) : take_input(g, buf, n);
}

static ssize_t cookie_read(void *c, char *buf, size_t n) {
    cap_gz *g = c;
    if (n < 2 * PNG_LOOK) { /* a small read (an unbuffered stream): a block's first bytes gathered apart */
        if (!g->ncarry && !g->png_off && g->png_left == 0) {
            ssize_t r = 0;
            while (g->ncarry < PNG_LOOK && (r = raw_read(g, g->carry + g->ncarry, PNG_LOOK - g->ncarry)) > 0)
                g->ncarry += (size_t)r;
            if (r < 0 && !g->ncarry) return -1;
            unclip_pcapng(g, g->carry, g->ncarry, true); /* all of them: fewer only at the end */
            g->carry_seen = true;
        }
        ssize_t r;
        if (g->ncarry) { /* held back and looked at: handed on as far as it fits */
            r = (ssize_t)(g->ncarry < n ? g->ncarry : n);
            memcpy(buf, g->carry, (size_t)r);
            memmove(g->carry, g->carry + r, g->ncarry - (size_t)r);
            g->ncarry -= (size_t)r;
            g->carry_seen = g->ncarry > 0;
        } else { /* inside a block: up to its end */
            r = raw_read(g, (uint8_t *)buf, !g->png_off && g->png_left < n ? g->png_left : n);
            if (r > 0) unclip_pcapng(g, (uint8_t *)buf, (size_t)r, false);
        }
        if (r > 0) unclip_classic(g, buf, (size_t)r);
        return r;
    }
    /* what was held back first: a block's start, looked at with what follows
     * (unless the path above looked at it already) */
    size_t have = g->ncarry, seen = g->carry_seen ? have : 0;
    memcpy(buf, g->carry, have);
    g->ncarry = 0;
    g->carry_seen = false;
    for (;;) {
        ssize_t r = raw_read(g, (uint8_t *)buf + have, n - have);
        if (r < 0 && have == 0) return -1;
        bool at_end = r <= 0; /* an error after held-back bytes: they first, then the error again */
        size_t got = have + (r > 0 ? (size_t)r : 0);
        size_t give = seen + unclip_pcapng(g, (uint8_t *)buf + seen, got - seen, at_end);
        if (give > 0 || at_end) {
            g->ncarry = got - give;
            memcpy(g->carry, buf + give, g->ncarry);
            unclip_classic(g, buf, give);
            return (ssize_t)give;
        }
        have = got; /* a block's first bytes only: read on */
    }
}

static int cookie_close(void *c) {
    cap_gz *g = c;
    if (g->z_live) inflateEnd(&g->z);
    int rc = g->own_fd ? close(g->fd) : 0;
    free(g);
    return rc;
}

FILE *cap_gz_fopen(int fd, bool own_fd, const uint8_t *prefix, size_t nprefix, bool gzip, cap_gz **out) {
    *out = NULL;
    if (nprefix > GZ_PREFIX_MAX) return NULL;
    cap_gz *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->fd = fd;
    g->gzip = gzip;
    memcpy(g->prefix, prefix, nprefix);
    g->nprefix = nprefix;
    g->consumed = nprefix;
    /* 15 + 16: a gzip wrapper (not zlib's, not raw deflate) */
    if (gzip && inflateInit2(&g->z, 15 + 16) != Z_OK) {
        free(g);
        return NULL;
    }
    g->z_live = gzip;
    cookie_io_functions_t io = {.read = cookie_read, .close = cookie_close};
    FILE *f = fopencookie(g, "rb", io);
    if (!f) {
        if (g->z_live) inflateEnd(&g->z);
        free(g);
        return NULL;
    }
    g->own_fd = own_fd; /* only now: on failure the caller still owns fd */
    *out = g;
    return f;
}

uint64_t cap_gz_consumed(const cap_gz *g) { return g ? g->consumed : 0; }

const char *cap_gz_error(const cap_gz *g) { return g && g->error[0] ? g->error : NULL; }

bool cap_gz_order_changes(const cap_gz *g, uint64_t *at) {
    if (!g || !g->png_order_at) return false;
    *at = g->png_order_at - 1;
    return true;
}
