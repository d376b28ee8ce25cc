/*
 * cap_source.c -- where frames come from: capture files, stdin and live
 * interfaces, all through libpcap.
 *
 * Owns: the cap_source handle (the pcap_t, its name for error messages, the
 * frame counter, the file size for progress), opening files (pcap and
 * pcapng, timestamps asked for in microseconds; gzip-compressed ones
 * through cap_gzip.c, known by their first bytes), live capture setup
 * (snaplen, immediate mode, read timeout, BPF), cap_next and cap_break.
 *
 * Live reads: on Linux the pcap read timeout does not start before the
 * first packet, so a quiet interface would block forever. The handle is
 * therefore non-blocking and cap_next polls its descriptor for at most
 * LIVE_TIMEOUT_MS, returning CAP_NEXT_TIMEOUT so the caller can check its
 * stop flag and duration.
 * Must not touch: decoding (cap_decode.c), printing, signals beyond
 * pcap_breakloop.
 *
 * Errors: a file that cannot be opened is FS_ERR_IO, one that is not a
 * capture FS_ERR_FORMAT; a file that breaks in the middle delivers every
 * frame before the break and then CAP_NEXT_ERROR naming the file and the
 * frame number that could not be read.
 *
 * pcapng files libpcap refuses: a file whose interfaces differ in link type
 * or snaplen, or whose sections differ in byte order (`dumpcap -i eth0 -i
 * any`, mergecap, cat of two captures), is read by fs38's own reader
 * (cap_pcapng.c) instead. When the interfaces described before the first
 * packet already differ, or the first is of a link type fs38 does not
 * decode (an 802.11 monitor interface, then Ethernet described after the
 * first packet), it reads the file from the start (cap_png_mixed at open,
 * cap_saw_decodable says afterwards whether any frame could be); when libpcap refuses or breaks on a block later, the own reader
 * takes over right after the last frame libpcap gave, on a second descriptor
 * of the same file (frames before it came from libpcap); where it breaks
 * too, its error is the one reported. Only regular files: stdin
 * and pipes cannot be read twice, and keep libpcap's error with a hint.
 * cap_frame_dlt gives each frame's own link type. --bpf there is compiled
 * once per link type met (pcap_open_dead + pcap_compile) and run with
 * pcap_offline_filter; a link type it does not compile for stops the read
 * with an error naming it.
 */
#include "cap.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIVE_SNAPLEN 262144
#define LIVE_TIMEOUT_MS 100

/* "udp or tcp or sctp", plus IPv6 fragments (whose fixed header says 44, not
 * udp/tcp), the tunnels the decoder opens (GRE 47, IP in IP 4 and 41, ESP 50;
 * VXLAN, Geneve, GTP-U and ESP over UDP are udp) and every MPLS and PPPoE
 * session frame, plus the same
 * behind one or two VLAN tags (PPPoE on a VLAN is how broadband access
 * reaches a BNG). IPv4 fragments pass "udp"/"tcp" already: the
 * protocol field is in every fragment. The vlan parts come last because
 * "vlan" shifts the offsets of what follows it. */
#define BPF_BASE                                                                                            \
    "udp or tcp or sctp or (ip6 and ip6[6] == 44) or ip proto 47 or ip proto 4 or ip proto 41 or "       \
    "ip proto 50 or ip6 proto 47 or ip6 proto 4 or ip6 proto 41 or ip6 proto 50"
#define BPF_ETHER_TUNNELS "ether proto 0x8847 or ether proto 0x8848 or ether proto 0x8864"
#define BPF_DEFAULT                                                                                         \
    BPF_BASE " or " BPF_ETHER_TUNNELS " or (vlan and (" BPF_BASE " or " BPF_ETHER_TUNNELS ")) or (vlan and (" \
             BPF_BASE " or " BPF_ETHER_TUNNELS "))"

#define FILE_BUF_BYTES (256u * 1024u)

/* --bpf compiled for one link type (own reader only). */
typedef struct dlt_filter {
    int dlt;
    struct bpf_program prog;
} dlt_filter;

struct cap_source {
    pcap_t *p;           /* NULL while the own reader reads */
    char name[256];
    bool live, is_stdin, failed;
    bool rereadable;     /* a regular pcapng file: the own reader may take over */
    uint64_t resume;     /* rereadable: the offset after libpcap's last frame (own reader's start) */
    volatile sig_atomic_t stop; /* set by cap_break */
    int dlt;             /* the first interface's link type */
    int frame_dlt;       /* the last frame's */
    bool saw_decodable;  /* the own reader met a frame of a link type cap_decode reads */
    cap_png *png;        /* the own reader, reading png_f */
    FILE *png_f;
    char *bpf;           /* files: the --bpf expression, for the own reader */
    dlt_filter *filt;
    unsigned nfilt;
    int fd; /* live: pollable descriptor in non-blocking mode, or -1 */
    uint64_t frames;
    uint64_t size;
    cap_gz *gz;     /* a compressed file or a piped stdin: its reader, else NULL */
    bool gzipped;   /* gz reads gzip (not only a piped stdin's first bytes) */
    char *file_buf; /* stdio buffer of a capture file (freed after pcap_close) */
    /* live: pcap_stats' counters are 32 bits and wrap; summed here */
    uint32_t drop_seen, ifdrop_seen;
    uint64_t drops, ifdrops;
};

const char *cap_default_bpf(void) { return BPF_DEFAULT; }

static cap_source *source_alloc(const char *name, fs_err *e) {
    cap_source *s = calloc(1, sizeof *s);
    if (!s) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory opening %s", name);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    s->fd = -1;
    return s;
}

/* Up to n first bytes of a descriptor, for its magic number: read at
 * offset 0 when it can be (a regular file, stdin redirected from one),
 * else read from it (a pipe: *consumed, they are gone from it). */
static size_t peek_magic(int fd, uint8_t *b, size_t n, bool *consumed, bool *interrupted) {
    *consumed = *interrupted = false;
    ssize_t r = pread(fd, b, n, 0);
    if (r >= 0 && (lseek(fd, 0, SEEK_CUR) == 0)) return (size_t)r;
    *consumed = true;
    size_t got = 0;
    while (got < n) {
        r = read(fd, b + got, n - got);
        /* EINTR too: a SIGINT/SIGTERM ends the run (cap_gzip.c, take_input) */
        *interrupted = r < 0 && errno == EINTR;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

#define SNAPLEN_CUTS 65535 /* a snapshot length under this is taken to cut nothing (see small_snaplen) */

/* A classic pcap file whose header gives a snapshot length under 65535
 * (dpkt writes 1500): libpcap would cut each longer record to it (tshark
 * reads it whole), so it is read through cap_gzip.c's stream, which hands
 * libpcap the header with none (see cap.h). 65535 and up (most writers)
 * keep the direct path, which costs no copy: a record over 64 KiB is rare
 * there. Only a descriptor whose header can be read again at offset 0
 * (else it goes through that stream anyway). */
static bool small_snaplen(int fd, bool consumed) {
    uint8_t h[24];
    if (consumed || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) return false;
    uint32_t snap;
    if (memcmp(h, "\xa1\xb2", 2) == 0) snap = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
    else if (memcmp(h + 2, "\xb2\xa1", 2) == 0) snap = (uint32_t)h[19] << 24 | (uint32_t)h[18] << 16 | (uint32_t)h[17] << 8 | h[16];
    else return false;
    return snap != 0 && snap < SNAPLEN_CUTS;
}

/* The stream libpcap reads for a file or stdin: the descriptor itself, or
 * through cap_gzip.c when it is gzip-compressed or its first bytes were
 * read from a pipe. NULL with e set. */
static FILE *open_stream(cap_source *s, int fd, fs_err *e) {
    uint8_t magic[4];
    bool consumed, interrupted;
    size_t n = peek_magic(fd, magic, sizeof magic, &consumed, &interrupted);
    if (interrupted) { /* a pipe whose writer has not started: another read would wait for it */
        fs_fail(e, FS_ERR_IO, "%s: interrupted before the capture's first bytes came", s->name);
        return NULL;
    }
    const char *zip = cap_compression(magic, n);
    if (zip && strcmp(zip, "gzip") != 0) {
        fs_fail(e, FS_ERR_FORMAT, "%s: %s-compressed: fs38 reads gzip itself, not %s; decompress it "
                "first (e.g. %s -dc FILE | fs38 inspect -)", s->name, zip, zip, zip);
        return NULL;
    }
    s->gzipped = zip != NULL;
    s->rereadable = !zip && !consumed && s->size && n == 4 && memcmp(magic, "\x0a\x0d\x0d\x0a", 4) == 0;
    FILE *f;
    /* a pcapng the own reader cannot reread (stdin) goes through the stream
     * too: its interfaces' snapshot lengths are handed to libpcap as none,
     * which would cut or refuse a packet longer than one (dpkt's pcapng
     * writer gives 1500), or refuse interfaces that differ in it; a regular
     * file is read by the own reader then (cap_open_file) */
    bool pcapng = n == 4 && memcmp(magic, "\x0a\x0d\x0d\x0a", 4) == 0;
    if (zip || consumed || small_snaplen(fd, consumed) || (pcapng && !s->rereadable)) {
        f = cap_gz_fopen(fd, !s->is_stdin, magic, consumed ? n : 0, zip != NULL, &s->gz);
    } else if (s->is_stdin) {
        f = stdin;
    } else {
        f = fdopen(fd, "rb");
    }
    if (!f) fs_fail(e, FS_ERR_NOMEM, "%s: cannot open: %s", s->name, strerror(errno ? errno : ENOMEM));
    return f;
}

fs_code cap_open_file(const char *path, cap_source **out, fs_err *e) {
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    *out = NULL;
    if (!path || !*path) return fs_fail(e, FS_ERR_USAGE, "no capture file given");
    cap_source *s = source_alloc(strcmp(path, "-") == 0 ? "<stdin>" : path, e);
    if (!s) return FS_ERR_NOMEM;
    int fd = STDIN_FILENO;
    if (strcmp(path, "-") == 0) {
        s->is_stdin = true;
    } else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        int err = errno;
        free(s);
        return fs_fail(e, FS_ERR_IO, "%s: cannot open: %s", path, strerror(err));
    }
    struct stat sb;
    if (!s->is_stdin && fstat(fd, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            close(fd);
            free(s);
            return fs_fail(e, FS_ERR_IO, "%s: is a directory", path);
        }
        if (S_ISREG(sb.st_mode)) s->size = (uint64_t)sb.st_size;
        if (S_ISREG(sb.st_mode) && sb.st_size == 0) { /* libpcap: "truncated dump file; tried to read 4..." */
            close(fd);
            free(s);
            return fs_fail(e, FS_ERR_FORMAT, "%s: empty file (0 bytes), not a capture", path);
        }
    }
    FILE *f = open_stream(s, fd, e);
    if (!f) {
        if (!s->is_stdin) close(fd);
        free(s);
        return e->code;
    }
    /* libpcap reads a file through stdio, record by record: a large buffer
     * (glibc ignores the size unless given the buffer) turns one read() per
     * 4 KiB into one per 256 KiB. Not stdin itself: it outlives the source. */
    if (f != stdin && (s->file_buf = malloc(FILE_BUF_BYTES)))
        setvbuf(f, s->file_buf, _IOFBF, FILE_BUF_BYTES);
    /* Two freads a record, and only the reading thread touches f: once
     * --workers has started threads, stdio would lock f on every one. */
    __fsetlocking(f, FSETLOCKING_BYCALLER);
    /* a pcapng libpcap would refuse, one that may describe a link type
     * fs38 decodes only after a first packet it cannot, or one whose
     * snapshot length libpcap would refuse longer packets with (dpkt's
     * pcapng writer gives 1500; the own reader reads them whole) */
    int first_dlt = -1;
    uint32_t first_snap = 0;
    if (s->rereadable && (cap_png_mixed(f, &first_dlt, &first_snap) ||
                          (first_dlt >= 0 && !cap_dlt_supported(first_dlt)) ||
                          (first_snap && first_snap < SNAPLEN_CUTS))) {
        s->dlt = first_dlt;
        s->png_f = f;
        if (!(s->png = cap_png_new(f))) {
            cap_close(s);
            return fs_fail(e, FS_ERR_NOMEM, "out of memory opening %s", path);
        }
        s->frame_dlt = s->dlt;
        *out = s;
        return FS_OK;
    }
    /* On success the pcap_t owns f (pcap_close closes it, but stdin); on
     * failure f stays ours. */
    s->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!s->p) {
        const char *broke = cap_gz_error(s->gz);
        fs_code rc = fs_fail(e, FS_ERR_FORMAT, "%s: %s%s (%s)", s->name,
                             s->gzipped && !broke ? "gzip-compressed, but what it holds is " : "",
                             broke ? broke : "not a readable pcap or pcapng capture",
                             errbuf[0] ? errbuf : "unknown reason");
        if (f != stdin) fclose(f);
        free(s->file_buf);
        free(s);
        return rc;
    }
    s->dlt = s->frame_dlt = pcap_datalink(s->p);
    *out = s;
    return FS_OK;
}

/* The own reader's filter for link type dlt, compiled the first time it is
 * met. NULL: it does not compile (why says so). */
static dlt_filter *filter_for(cap_source *s, int dlt, char *why, size_t whylen) {
    for (unsigned i = 0; i < s->nfilt; i++)
        if (s->filt[i].dlt == dlt) return &s->filt[i];
    dlt_filter *n = realloc(s->filt, (s->nfilt + 1) * sizeof *n);
    if (!n) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    s->filt = n;
    pcap_t *dead = pcap_open_dead(dlt, CAP_PNG_MAX_FRAME);
    if (!dead) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    dlt_filter *f = &s->filt[s->nfilt];
    f->dlt = dlt;
    int rc = pcap_compile(dead, &f->prog, s->bpf, 1, PCAP_NETMASK_UNKNOWN);
    if (rc != 0) snprintf(why, whylen, "%s", pcap_geterr(dead));
    pcap_close(dead);
    if (rc != 0) return NULL;
    s->nfilt++;
    return f;
}

/* Compile expr for s and install it: 0, else pcap's error (in pcap_geterr). */
static int apply_filter(cap_source *s, const char *expr) {
    struct bpf_program prog;
    if (pcap_compile(s->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) return -1;
    int rc = pcap_setfilter(s->p, &prog);
    pcap_freecode(&prog);
    return rc;
}

fs_code cap_set_filter(cap_source *s, const char *bpf, fs_err *e) {
    char *copy = strdup(bpf);
    if (!copy) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
    free(s->bpf);
    s->bpf = copy;
    for (unsigned i = 0; i < s->nfilt; i++) pcap_freecode(&s->filt[i].prog); /* an earlier filter's */
    s->nfilt = 0;
    if (s->p && s->live) {
        if (apply_filter(s, bpf) != 0)
            return fs_fail(e, FS_ERR_USAGE, "%s: BPF filter '%s': %s", s->name, bpf, pcap_geterr(s->p));
        return FS_OK;
    }
    if (s->p) {
        /* a file through libpcap: compiled for it, but run by cap_next, so
         * that the frames it passes over are counted too (pcap_setfilter
         * would hide them): a break is then named by its frame in the file,
         * and a file whose frames before it all missed the filter was read */
        dlt_filter *n = realloc(s->filt, sizeof *n);
        if (!n) return fs_fail(e, FS_ERR_NOMEM, "out of memory");
        s->filt = n;
        n->dlt = s->dlt;
        if (pcap_compile(s->p, &n->prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0)
            return fs_fail(e, FS_ERR_USAGE, "%s: BPF filter '%s': %s", s->name, bpf, pcap_geterr(s->p));
        s->nfilt = 1;
        return FS_OK;
    }
    /* the own reader: checked on the first interface's link type now, each
     * other one when its first frame comes */
    char why[PCAP_ERRBUF_SIZE];
    if (!filter_for(s, s->dlt, why, sizeof why))
        return fs_fail(e, FS_ERR_USAGE, "%s: BPF filter '%s': %s", s->name, bpf, why);
    return FS_OK;
}

bool cap_filter_suits_a_link(const char *bpf) {
    static const int links[] = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_NULL, DLT_LOOP, DLT_PPP, DLT_C_HDLC,
#ifdef DLT_LINUX_SLL2
                                DLT_LINUX_SLL2,
#endif
                                DLT_NFLOG, DLT_IPV4, DLT_IPV6};
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        pcap_t *p = pcap_open_dead(links[i], 65535);
        struct bpf_program prog;
        bool compiles = p && pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
        if (compiles) pcap_freecode(&prog);
        if (p) pcap_close(p);
        if (compiles) return true;
    }
    return false;
}

static fs_code live_fail(cap_source *s, fs_code code, fs_err *e, const char *what, int rc) {
    const char *why = rc == PCAP_ERROR || rc == 0 ? pcap_geterr(s->p) : pcap_statustostr(rc);
    if (rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_NO_SUCH_DEVICE) {
        const char *g = pcap_geterr(s->p);
        if (g && *g) why = g;
    }
    fs_fail(e, code, "%s: %s: %s", s->name, what, why);
    pcap_close(s->p);
    free(s);
    return code;
}

/* A loopback interface hands a packet socket each packet twice, as sent and
 * as received. libpcap passes over the sent copy, but only after it took a
 * slot of the ring: half the ring held copies nobody reads, and when it was
 * full both copies counted as dropped (capture.kernel_dropped said 36,640
 * for 18,320 messages lost). The kernel is asked to leave the sent copies
 * out (PACKET_IGNORE_OUTGOING, Linux 4.20; an older one refuses it and
 * nothing changes). Not on "any": that would lose what this host sends
 * on its other interfaces. */
static void loopback_received_only(cap_source *s, const char *iface) {
#ifdef PACKET_IGNORE_OUTGOING
    struct ifreq ifr;
    int fd = pcap_fileno(s->p);
    size_t n = strlen(iface);
    if (fd < 0 || n >= sizeof ifr.ifr_name) return;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, iface, n);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 || !(ifr.ifr_flags & IFF_LOOPBACK)) return;
    int one = 1;
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#else
    (void)s;
    (void)iface;
#endif
}

fs_code cap_open_live(const char *iface, const char *bpf, uint32_t buffer_mb, cap_source **out, fs_err *e) {
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    *out = NULL;
    if (!iface || !*iface) return fs_fail(e, FS_ERR_USAGE, "no interface given");
    cap_source *s = source_alloc(iface, e);
    if (!s) return FS_ERR_NOMEM;
    s->live = true;
    s->p = pcap_create(iface, errbuf);
    if (!s->p) {
        free(s);
        return fs_fail(e, FS_ERR_IO, "%s: cannot capture: %s", iface, errbuf);
    }
    pcap_set_snaplen(s->p, LIVE_SNAPLEN);
    pcap_set_promisc(s->p, 1);
    pcap_set_buffer_size(s->p, (int)(buffer_mb ? buffer_mb : CAP_LIVE_BUFFER_MB) << 20);
    pcap_set_timeout(s->p, LIVE_TIMEOUT_MS); /* a block is handed over at the latest after this */
    int rc = pcap_activate(s->p);
    if (rc < 0) return live_fail(s, FS_ERR_IO, e, "cannot start capture", rc);
    loopback_received_only(s, iface);
    s->dlt = s->frame_dlt = pcap_datalink(s->p);
    s->fd = pcap_get_selectable_fd(s->p);
    if (s->fd >= 0 && pcap_setnonblock(s->p, 1, errbuf) != 0) s->fd = -1;
    if (bpf) {
        if (apply_filter(s, bpf) != 0) return live_fail(s, FS_ERR_USAGE, e, "bad BPF filter", 0);
    } else if (apply_filter(s, BPF_DEFAULT) != 0 && apply_filter(s, BPF_BASE) != 0 && s->dlt != CAP_DLT_NFLOG) {
        /* BPF_BASE: link types without VLAN tags (e.g. "any"); libpcap cannot
         * filter NFLOG, whose group holds what the firewall rule chose */
        return live_fail(s, FS_ERR_INTERNAL, e, "default BPF filter", 0);
    }
    *out = s;
    return FS_OK;
}

/* A pcap_next_ex error that means what 0 means elsewhere: libpcap's NFLOG
 * reader reports a non-blocking socket with nothing ready (its recv's
 * EAGAIN) as one. */
static int nflog_nothing_yet(const cap_source *s, int rc) {
    return s->live && s->dlt == CAP_DLT_NFLOG && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : rc;
}

/* One pcap_next_ex; on a live non-blocking handle with nothing ready, wait
 * up to LIVE_TIMEOUT_MS for the descriptor and try once more. */
static int next_ex(cap_source *s, struct pcap_pkthdr **h, const u_char **data) {
    int rc = pcap_next_ex(s->p, h, data);
    if (rc == PCAP_ERROR) rc = nflog_nothing_yet(s, rc);
    if (rc != 0 || !s->live || s->fd < 0 || s->stop) return rc;
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    if (poll(&pfd, 1, LIVE_TIMEOUT_MS) <= 0 || s->stop) return 0;
    rc = pcap_next_ex(s->p, h, data);
    return rc == PCAP_ERROR ? nflog_nothing_yet(s, rc) : rc;
}

/* libpcap's error says the file is one the own reader reads. */
static bool refused_mix(const char *why) {
    return strstr(why, "of the first interface") || strstr(why, "sections with different byte orders");
}

/* libpcap refused or broke on a block after its last frame: the own reader
 * takes over on a second descriptor of the file, at s->resume (the blocks
 * between, a new section header or interface description among them, are
 * the own reader's to read). A section header of the other byte order is
 * read by libpcap 1.10 with the old one: its length then makes "block size
 * ... > maximum", or, when it is a multiple of 256, a block of up to 16 MiB
 * that is cut short or whose trailer disagrees; libpcap has by then read
 * past the section header, so the block it was reading cannot tell where to
 * resume. false: it could not (why says so). */
static bool take_over(cap_source *s, char *why, size_t whylen) {
    FILE *old = pcap_file(s->p);
    int fd = old ? dup(fileno(old)) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        snprintf(why, whylen, "cannot reopen the file: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return false;
    }
    pcap_t *p = s->p;
    s->p = NULL; /* cap_break (a signal) must not see it closed */
    pcap_close(p); /* the old FILE and its buffer are done with */
    if (s->file_buf) setvbuf(f, s->file_buf, _IOFBF, FILE_BUF_BYTES);
    __fsetlocking(f, FSETLOCKING_BYCALLER);
    s->png_f = f;
    if (fseeko(f, 0, SEEK_SET) != 0 || !(s->png = cap_png_new(f))) {
        snprintf(why, whylen, "cannot reread the file");
        return false;
    }
    if (cap_png_skip_to(s->png, s->resume) < 0) {
        snprintf(why, whylen, "%s", cap_png_error(s->png));
        return false;
    }
    return true;
}

static cap_next_status png_next(cap_source *s, const uint8_t **frame, uint32_t *caplen, uint64_t *ts_us,
                                fs_err *e) {
    for (;;) {
        cap_png_frame fr;
        int rc = cap_png_next(s->png, &fr);
        if (rc > 0) { /* read, whether or not --bpf passes it */
            s->frames++;
            if (!s->saw_decodable && cap_dlt_supported(fr.dlt)) s->saw_decodable = true;
        }
        if (rc == 0) return CAP_NEXT_END;
        if (rc < 0) {
            s->failed = true;
            fs_fail(e, FS_ERR_FORMAT, "%s: frame %llu: %s", s->name, (unsigned long long)s->frames + 1,
                    cap_png_error(s->png));
            return CAP_NEXT_ERROR;
        }
        if (s->bpf) {
            char why[PCAP_ERRBUF_SIZE];
            const dlt_filter *f = filter_for(s, fr.dlt, why, sizeof why);
            if (!f) {
                s->failed = true;
                fs_fail(e, FS_ERR_USAGE, "%s: frame %llu: BPF filter '%s' does not compile for link type %d (%s) "
                        "of interface %u: %s", s->name, (unsigned long long)s->frames, s->bpf, fr.dlt,
                        cap_dlt_name(fr.dlt), fr.ifid, why);
                return CAP_NEXT_ERROR;
            }
            struct pcap_pkthdr h = {.caplen = fr.caplen, .len = fr.len};
            if (!pcap_offline_filter(&f->prog, &h, fr.data)) continue;
        }
        s->frame_dlt = fr.dlt;
        *frame = fr.data;
        *caplen = fr.caplen;
        *ts_us = fr.ts_us;
        return CAP_NEXT_FRAME;
    }
}

/* A frame's time in microseconds. A pcap file stores the seconds as an
 * unsigned 32-bit number (up to 2106), which libpcap hands over through a
 * signed 32-bit field: from 2038-01-19 on they arrive negative. */
static uint64_t frame_time(const struct pcap_pkthdr *h) {
    int64_t sec = (int64_t)h->ts.tv_sec;
    if (sec < 0 && sec >= INT32_MIN) sec += (int64_t)1 << 32;
    if (sec < 0 || h->ts.tv_usec < 0) return 0; /* garbage */
    /* after 9999 (a pcapng's 64-bit stamps): held to the last RFC 3339 instant */
    if ((uint64_t)sec >= FS_TIME_MAX_US / FS_USEC) return FS_TIME_MAX_US;
    return (uint64_t)sec * FS_USEC + (uint64_t)h->ts.tv_usec;
}

cap_next_status cap_next(cap_source *s, const uint8_t **frame, uint32_t *caplen, uint64_t *ts_us,
                         fs_err *e) {
    if (s->failed || s->stop) return CAP_NEXT_END;
    if (s->png) return png_next(s, frame, caplen, ts_us, e);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = next_ex(s, &h, &data)) == 1) {
        s->frames++;
        if (s->rereadable) { /* a block boundary: where the own reader would take over */
            off_t at = ftello(pcap_file(s->p));
            if (at >= 0) s->resume = (uint64_t)at;
        }
        if (s->nfilt && !pcap_offline_filter(&s->filt[0].prog, h, data)) continue; /* a file's --bpf */
        *frame = data;
        *caplen = h->caplen;
        *ts_us = frame_time(h);
        return CAP_NEXT_FRAME;
    }
    if (rc == 0) return s->stop ? CAP_NEXT_END : CAP_NEXT_TIMEOUT;
    const char *gz_broke = cap_gz_error(s->gz);
    if (rc == PCAP_ERROR_BREAK && !gz_broke) return CAP_NEXT_END;
    char pcap_why[PCAP_ERRBUF_SIZE], why[PCAP_ERRBUF_SIZE] = "";
    /* a compressed stream that broke: what broke it, not what libpcap made
     * of the short read (a truncation at a record's end is a clean end to it) */
    snprintf(pcap_why, sizeof pcap_why, "%s", gz_broke ? gz_broke : pcap_geterr(s->p));
    bool mix = refused_mix(pcap_why);
    uint64_t order_at;
    if (!mix && !gz_broke && cap_gz_order_changes(s->gz, &order_at)) {
        /* libpcap read the section of the other byte order with the old
         * one (see take_over): its error is about a length it misread */
        char was[PCAP_ERRBUF_SIZE];
        snprintf(was, sizeof was, "%s", pcap_why);
        snprintf(pcap_why, sizeof pcap_why, "sections with different byte orders (the other from pcapng byte "
                 "%llu; libpcap: %.150s)", (unsigned long long)order_at, was);
        mix = true;
    }
    if (!s->live && s->rereadable) {
        /* the own reader reads on from libpcap's last frame; if it breaks
         * too, its error says where (it reads a section of either byte
         * order as it is, where libpcap may misread the length of one) */
        if (take_over(s, why, sizeof why)) return png_next(s, frame, caplen, ts_us, e);
        if (!mix) {
            why[0] = '\0';
        } else {
            snprintf(pcap_why + strlen(pcap_why), sizeof pcap_why - strlen(pcap_why),
                     "; fs38's own reader could not take over");
        }
    } else if (!s->live && mix) {
        snprintf(why, sizeof why, "fs38 reads such a pcapng only from an uncompressed regular file: "
                 "save the input%s to a file and inspect that", s->gzipped ? ", decompressed," : "");
    }
    s->failed = true;
    fs_fail(e, s->live ? FS_ERR_IO : FS_ERR_FORMAT, "%s: frame %llu: %s%s%s", s->name,
            (unsigned long long)s->frames + 1, pcap_why, why[0] ? ": " : "", why);
    return CAP_NEXT_ERROR;
}

const char *cap_dlt_name(int dlt) {
    const char *name = pcap_datalink_val_to_name(dlt);
    return name ? name : "unknown";
}

int cap_datalink(const cap_source *s) { return s->dlt; }
int cap_frame_dlt(const cap_source *s) { return s->frame_dlt; }
bool cap_mixed(const cap_source *s) { return s->png != NULL; }

bool cap_saw_decodable(const cap_source *s) { return s->png ? s->saw_decodable : cap_dlt_supported(s->dlt); }
uint64_t cap_frames_read(const cap_source *s) { return s->frames; }

uint64_t cap_offset(const cap_source *s) {
    if (s->live) return 0;
    /* compressed bytes, as the size is; a piped stdin's too (the progress
     * line said "0.0 MB" for `zcat day.pcap.gz | fs38 inspect -` however much
     * it had read) */
    if (s->gz) return cap_gz_consumed(s->gz);
    if (s->png) return cap_png_offset(s->png);
    if (!s->p) return 0;
    FILE *f = pcap_file(s->p);
    if (!f) return 0;
    off_t off = ftello(f);
    return off > 0 ? (uint64_t)off : 0;
}

uint64_t cap_size(const cap_source *s) { return s->size; }

/* Async-signal-safe: a flag and pcap_breakloop (which only sets a flag and,
 * on Linux, writes to an eventfd). */
void cap_break(cap_source *s) {
    if (!s) return;
    s->stop = 1;
    if (s->p) pcap_breakloop(s->p);
}

bool cap_live_drops(cap_source *s, uint64_t *kernel, uint64_t *iface) {
    struct pcap_stat ps;
    if (!s || !s->live || pcap_stats(s->p, &ps) != 0) return false;
    s->drops += (uint32_t)(ps.ps_drop - s->drop_seen); /* modulo 2^32: a wrap since the last call */
    s->ifdrops += (uint32_t)(ps.ps_ifdrop - s->ifdrop_seen);
    s->drop_seen = ps.ps_drop;
    s->ifdrop_seen = ps.ps_ifdrop;
    *kernel = s->drops;
    *iface = s->ifdrops;
    return true;
}

void cap_close(cap_source *s) {
    if (!s) return;
    if (s->p) pcap_close(s->p); /* closes the FILE too (libpcap leaves stdin open) */
    cap_png_free(s->png);
    if (s->png_f) fclose(s->png_f);
    for (unsigned i = 0; i < s->nfilt; i++) pcap_freecode(&s->filt[i].prog);
    free(s->filt);
    free(s->bpf);
    free(s->file_buf);
    free(s);
}
