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
 * and cap_gz_error says what broke. A classic pcap's header snapshot length
 * is handed on as 0 (see cap.h): cap_source.c sends a file whose header
 * gives a smaller one than libpcap's maximum through here for that.
 */
#include "cap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define GZ_IN_BYTES (64u * 1024u)
#define GZ_PREFIX_MAX 8u

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
static void unclip_snaplen(cap_gz *g, char *buf, size_t n) {
    for (size_t i = 0; i < n && g->delivered < 20; i++, g->delivered++) {
        if (g->delivered < 4) g->magic[g->delivered] = (uint8_t)buf[i];
        else if (g->delivered >= 16 && classic_pcap(g->magic)) buf[i] = 0;
    }
}

static ssize_t cookie_read(void *c, char *buf, size_t n) {
    cap_gz *g = c;
    ssize_t r = g->gzip ? inflate_some(g, buf, n) : take_input(g, (uint8_t *)buf, n);
    if (r > 0) unclip_snaplen(g, buf, (size_t)r);
    return r;
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
