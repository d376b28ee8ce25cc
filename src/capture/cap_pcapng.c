/*
 * cap_pcapng.c -- fs38's own pcapng reader, for the files libpcap refuses.
 *
 * libpcap reads a pcapng file only while every interface has the link type
 * and snapshot length of the first one, and every section the byte order of
 * the first. `dumpcap -i eth0 -i any` (Ethernet + Linux SLL), mergecap and
 * concatenated captures break that. cap_source.c reads every other file
 * through libpcap and turns to this reader only for those (see there).
 *
 * Owns: the cap_png handle (a FILE it reads but does not own, one growing
 * block buffer capped at CAP_PNG_MAX_BLOCK, the current section's byte order
 * and interface table), cap_png_mixed (the probe of a file's leading
 * interfaces), and turning a packet block into a frame with its interface's
 * link type and a timestamp in microseconds.
 * Must not touch: libpcap (only its DLT_ numbers, pcap/dlt.h), BPF, frame
 * counting and error wording with the file name (cap_source.c), decoding
 * (cap_decode.c).
 *
 * Blocks read: Section Header (either byte order, any number of sections:
 * each starts a new interface table), Interface Description (link type,
 * snaplen, if_tsresol in powers of 10 or 2, if_tsoffset), Enhanced Packet,
 * Simple Packet, and the obsolete Packet Block. Every other block is passed
 * over by its length. Every length is checked before it is used: a block
 * shorter than its header, not a multiple of 4, over CAP_PNG_MAX_BLOCK, whose
 * trailer disagrees, or cut by the end of the file is an error that says what
 * and at which offset; frames before it were delivered. A frame is cut to
 * CAP_PNG_MAX_FRAME, as libpcap cuts it (not to its interface's snaplen,
 * which a writer may give smaller than what it wrote: tshark reads it), and
 * a LINKTYPE_ number in the file becomes the DLT_ number libpcap would give;
 * an NFLOG frame's TLV headers are turned to the reader's byte order, as
 * libpcap turns them.
 */
#include "cap.h"

#include <pcap/dlt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_PB 2u  /* obsolete Packet Block */
#define BT_SPB 3u
#define BT_EPB 6u
#define BOM 0x1A2B3C4Du
#define MAX_IFACES 65536u /* a section describing more is refused */
#define OPT_END 0
#define OPT_TSRESOL 9
#define OPT_TSOFFSET 14

typedef struct png_iface {
    int dlt;
    uint32_t snaplen; /* 0: none given */
    uint8_t tsresol;  /* if_tsresol byte: bit 7 = power of 2, else of 10; default 6 */
    int64_t tsoffset; /* seconds added to every timestamp */
} png_iface;

struct cap_png {
    FILE *f;
    uint64_t off;      /* bytes consumed */
    uint8_t *buf;      /* the current block, header included */
    uint32_t buf_cap;
    bool in_section;   /* an SHB was read */
    bool be;           /* the section is big-endian */
    png_iface *ifs;
    uint32_t nifs, ifs_cap;
    char err[CAP_ERROR_LEN];
};

static uint32_t rd32(const cap_png *r, const uint8_t *p) {
    return r->be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                 : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint16_t rd16(const cap_png *r, const uint8_t *p) {
    return r->be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static int fail(cap_png *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cap_png *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

cap_png *cap_png_new(FILE *f) {
    cap_png *r = calloc(1, sizeof *r);
    if (r) r->f = f;
    return r;
}

void cap_png_free(cap_png *r) {
    if (!r) return;
    free(r->buf);
    free(r->ifs);
    free(r);
}

const char *cap_png_error(const cap_png *r) { return r->err; }
uint64_t cap_png_offset(const cap_png *r) { return r->off; }

/* Read n bytes at r->buf + at. false: the file ended (or failed) first. */
static bool read_into(cap_png *r, uint32_t at, uint32_t n, uint32_t *got) {
    size_t k = fread(r->buf + at, 1, n, r->f);
    *got = (uint32_t)k;
    return k == n;
}

/* The next whole block into r->buf: 1 (*type, *len set), 0 clean end of
 * file, -1 error. A Section Header Block sets the byte order first: its
 * type reads the same both ways, its length does not. */
static int read_block(cap_png *r, uint32_t *type, uint32_t *len) {
    if (r->buf_cap < 65536) {
        uint8_t *nb = realloc(r->buf, 65536);
        if (!nb) return fail(r, "out of memory");
        r->buf = nb;
        r->buf_cap = 65536;
    }
    uint32_t got;
    if (!read_into(r, 0, 12, &got)) {
        if (got == 0 && !ferror(r->f)) return 0;
        return fail(r, "block at offset %llu cut short: %u of 12 header bytes%s",
                    (unsigned long long)r->off, got, ferror(r->f) ? " (read error)" : "");
    }
    uint32_t t = rd32(r, r->buf);
    if (t == BT_SHB) {
        uint32_t bom_le = (uint32_t)r->buf[11] << 24 | (uint32_t)r->buf[10] << 16 |
                          (uint32_t)r->buf[9] << 8 | r->buf[8];
        if (bom_le == BOM) r->be = false;
        else if (bom_le == 0x4D3C2B1Au) r->be = true;
        else return fail(r, "section header at offset %llu: bad byte-order magic 0x%08x",
                         (unsigned long long)r->off, bom_le);
    } else if (!r->in_section) {
        return fail(r, "offset %llu: block type 0x%x before any section header",
                    (unsigned long long)r->off, t);
    }
    uint32_t l = rd32(r, r->buf + 4);
    if (l < 12 || l % 4 != 0 || (t == BT_SHB && l < 28))
        return fail(r, "block at offset %llu: corrupt length %u", (unsigned long long)r->off, l);
    if (l > CAP_PNG_MAX_BLOCK)
        return fail(r, "block at offset %llu: length %u over the bound of %u bytes",
                    (unsigned long long)r->off, l, CAP_PNG_MAX_BLOCK);
    if (l > r->buf_cap) {
        uint32_t ncap = r->buf_cap;
        while (ncap < l) ncap = ncap > CAP_PNG_MAX_BLOCK / 2 ? CAP_PNG_MAX_BLOCK : ncap * 2;
        uint8_t *nb = realloc(r->buf, ncap);
        if (!nb) return fail(r, "out of memory for a block of %u bytes", l);
        r->buf = nb;
        r->buf_cap = ncap;
    }
    if (!read_into(r, 12, l - 12, &got))
        return fail(r, "block at offset %llu cut short: %u of %u bytes%s", (unsigned long long)r->off,
                    12 + got, l, ferror(r->f) ? " (read error)" : "");
    uint32_t trailer = rd32(r, r->buf + l - 4);
    if (trailer != l)
        return fail(r, "block at offset %llu: length %u, but %u in its trailer",
                    (unsigned long long)r->off, l, trailer);
    r->off += l;
    *type = t;
    *len = l;
    return 1;
}

/* The file's LINKTYPE_ number -> libpcap's DLT_ number: they differ for
 * these four only (libpcap's linktype_to_dlt), e.g. LINKTYPE_RAW 101 is
 * DLT_RAW, 12 on Linux. */
static int to_dlt(uint16_t linktype) {
    switch (linktype) {
    case 100: return DLT_ATM_RFC1483;
    case 101: return DLT_RAW;
    case 102: return DLT_SLIP_BSDOS;
    case 103: return DLT_PPP_BSDOS;
    default: return linktype;
    }
}

static int take_shb(cap_png *r, uint32_t len) {
    uint16_t major = rd16(r, r->buf + 12);
    if (major != 1)
        return fail(r, "section header at offset %llu: version %u (1 is read)",
                    (unsigned long long)(r->off - len), major);
    r->in_section = true;
    r->nifs = 0; /* interface ids are per section */
    return 1;
}

static int take_idb(cap_png *r, uint32_t len) {
    const uint8_t *b = r->buf + 8, *end = r->buf + len - 4;
    if (end - b < 8) return fail(r, "interface description %u: too short", r->nifs);
    if (r->nifs == MAX_IFACES)
        return fail(r, "more than %u interfaces in one section", MAX_IFACES);
    if (r->nifs == r->ifs_cap) {
        uint32_t ncap = r->ifs_cap ? r->ifs_cap * 2 : 8;
        png_iface *n = realloc(r->ifs, ncap * sizeof *n);
        if (!n) return fail(r, "out of memory");
        r->ifs = n;
        r->ifs_cap = ncap;
    }
    png_iface ifc = {.dlt = to_dlt(rd16(r, b)), .snaplen = rd32(r, b + 4), .tsresol = 6};
    for (const uint8_t *o = b + 8; end - o >= 4;) {
        uint16_t code = rd16(r, o), olen = rd16(r, o + 2);
        if (code == OPT_END) break;
        uint32_t padded = (olen + 3u) & ~3u;
        if ((uint32_t)(end - o - 4) < padded)
            return fail(r, "interface description %u: option %u runs past the block", r->nifs, code);
        if (code == OPT_TSRESOL && olen == 1) {
            uint8_t v = o[4], exp = v & 0x7f;
            if ((v & 0x80) ? exp > 63 : exp > 19)
                return fail(r, "interface description %u: if_tsresol 0x%02x out of range", r->nifs, v);
            ifc.tsresol = v;
        } else if (code == OPT_TSOFFSET && olen == 8) {
            uint64_t hi = rd32(r, o + 4), lo = rd32(r, o + 8);
            ifc.tsoffset = (int64_t)(r->be ? hi << 32 | lo : lo << 32 | hi);
        }
        o += 4 + padded;
    }
    r->ifs[r->nifs++] = ifc;
    return 1;
}

/* t in the interface's units since 1970 -> microseconds (0 if before 1970,
 * FS_TIME_MAX_US if after 9999: a corrupt or hostile timestamp must not
 * wrap, nor make events whose times RFC 3339 cannot write). */
static uint64_t to_us(const png_iface *ifc, uint64_t t) {
    const uint64_t max_s = FS_TIME_MAX_US / FS_USEC;
    unsigned exp = ifc->tsresol & 0x7f;
    uint64_t us;
    if (ifc->tsresol & 0x80) {
        uint64_t frac = exp ? t & ((UINT64_C(1) << exp) - 1) : 0;
        uint64_t secs = exp < 64 ? t >> exp : 0;
        unsigned shift = exp;
        if (shift > 44) { /* frac * 10^6 must fit 64 bits */
            frac >>= shift - 44;
            shift = 44;
        }
        if (secs > max_s) return FS_TIME_MAX_US;
        us = secs * FS_USEC + ((frac * FS_USEC) >> shift);
    } else {
        uint64_t scale = 1;
        for (unsigned i = 6; i < exp; i++) scale *= 10;
        for (unsigned i = exp; i < 6; i++) scale *= 10;
        if (exp < 6 && t > FS_TIME_MAX_US / scale) return FS_TIME_MAX_US;
        us = exp >= 6 ? t / scale : t * scale;
    }
    if (us > FS_TIME_MAX_US) us = FS_TIME_MAX_US;
    int64_t off = ifc->tsoffset;
    if (off < 0) {
        uint64_t back_s = (uint64_t)(-(off + 1)) + 1; /* -off without overflow */
        if (back_s > max_s) return 0;
        return us > back_s * FS_USEC ? us - back_s * FS_USEC : 0;
    }
    if ((uint64_t)off > max_s) return FS_TIME_MAX_US;
    us += (uint64_t)off * FS_USEC;
    return us > FS_TIME_MAX_US ? FS_TIME_MAX_US : us;
}

/* An NFLOG frame's TLV lengths and types are in the byte order of the host
 * that captured, which is the section's; libpcap turns them to the
 * reader's when the two differ (swap_nflog_header), and so does this, in
 * place, as far as the frame holds whole TLVs: cap_link_inner reads them
 * in host order. */
static void nflog_to_host(uint8_t *p, uint32_t n) {
    if (n < 4 || p[1] != 0) return; /* no TLVs, or a version not known */
    for (uint32_t o = 4; n - o >= 4;) {
        uint8_t t;
        t = p[o], p[o] = p[o + 1], p[o + 1] = t;
        t = p[o + 2], p[o + 2] = p[o + 3], p[o + 3] = t;
        uint16_t len;
        memcpy(&len, p + o, 2);
        uint32_t padded = ((uint32_t)len + 3) & ~3u;
        if (padded < 4 || padded > n - o) return;
        o += padded;
    }
}

static bool host_is_be(void) { return __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__; }

/* A packet block -> *out. 1, or -1 when the block contradicts itself. */
static int take_packet(cap_png *r, uint32_t type, uint32_t len, cap_png_frame *out) {
    const uint8_t *b = r->buf + 8;
    uint32_t body = len - 12, ifid, caplen, origlen, hdr;
    uint64_t t = 0;
    if (type == BT_SPB) {
        if (body < 4) return fail(r, "simple packet block too short");
        hdr = 4;
        ifid = 0;
        origlen = rd32(r, b);
        caplen = origlen < body - hdr ? origlen : body - hdr;
    } else {
        hdr = 20;
        if (body < hdr) return fail(r, "packet block too short (%u bytes)", len);
        if (type == BT_EPB) {
            ifid = rd32(r, b);
        } else {
            ifid = rd16(r, b);
        }
        t = (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8);
        caplen = rd32(r, b + 12);
        origlen = rd32(r, b + 16);
        if (caplen > body - hdr)
            return fail(r, "packet of %u bytes in a block of %u", caplen, len);
    }
    if (ifid >= r->nifs)
        return fail(r, "packet of interface %u, but %u described in this section", ifid, r->nifs);
    const png_iface *ifc = &r->ifs[ifid];
    /* a simple packet block's data is its packet cut to the snaplen (the
     * rest is padding); an enhanced one says how many bytes it holds, and
     * they are read whole, as tshark reads them, where a writer gave a
     * snaplen smaller than what it wrote (dpkt's 1500) */
    if (type == BT_SPB && ifc->snaplen && caplen > ifc->snaplen) caplen = ifc->snaplen;
    if (caplen > CAP_PNG_MAX_FRAME) caplen = CAP_PNG_MAX_FRAME;
    if (ifc->dlt == CAP_DLT_NFLOG && r->be != host_is_be()) nflog_to_host(r->buf + 8 + hdr, caplen);
    out->data = b + hdr;
    out->caplen = caplen;
    out->len = origlen > caplen ? origlen : caplen;
    out->ts_us = type == BT_SPB ? 0 : to_us(ifc, t);
    out->dlt = ifc->dlt;
    out->ifid = ifid;
    return 1;
}

/* One block: section headers and interface descriptions are taken, a
 * packet block is made *out (when out is not NULL). 1: a block was read,
 * *is_packet says whether it was a packet; 0: end of file; -1: error. */
static int next_block(cap_png *r, cap_png_frame *out, bool *is_packet) {
    uint32_t type = 0, len = 0;
    int rc = read_block(r, &type, &len);
    *is_packet = false;
    if (rc <= 0) return rc;
    switch (type) {
    case BT_SHB:
        return take_shb(r, len);
    case BT_IDB:
        return take_idb(r, len);
    case BT_EPB: case BT_SPB: case BT_PB:
        *is_packet = true;
        return out ? take_packet(r, type, len, out) : 1;
    default:
        return 1;
    }
}

int cap_png_next(cap_png *r, cap_png_frame *out) {
    for (;;) {
        bool is_packet;
        int rc = next_block(r, out, &is_packet);
        if (rc <= 0 || is_packet) return rc;
    }
}

int cap_png_skip_to(cap_png *r, uint64_t to) {
    while (r->off < to) {
        bool is_packet;
        int rc = next_block(r, NULL, &is_packet);
        if (rc < 0) return rc;
        if (rc == 0) break;
    }
    if (r->off != to)
        return fail(r, "cannot resume at offset %llu: blocks end at %llu", (unsigned long long)to,
                    (unsigned long long)r->off);
    return 1;
}

bool cap_png_mixed(FILE *f, int *first_dlt, uint32_t *first_snaplen) {
    cap_png *r = cap_png_new(f);
    bool mixed = false;
    if (r) {
        /* up to the first packet; a broken file is libpcap's to report. The
         * interfaces of every section before it (a section header empties
         * the table): the file's first is libpcap's link type, though an
         * empty section of it comes first (cat of captures) */
        bool is_packet = false, have_first = false;
        png_iface first = {0};
        while (!is_packet && next_block(r, NULL, &is_packet) > 0) {
            if (!r->nifs) continue;
            const png_iface *last = &r->ifs[r->nifs - 1];
            if (!have_first) {
                first = *last;
                have_first = true;
            } else if (last->dlt != first.dlt || last->snaplen != first.snaplen) {
                mixed = true;
            }
        }
        if (have_first && first_dlt) *first_dlt = first.dlt;
        if (have_first && first_snaplen) *first_snaplen = first.snaplen;
        cap_png_free(r);
    }
    clearerr(f);
    fseeko(f, 0, SEEK_SET);
    return mixed;
}
