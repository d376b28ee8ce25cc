/*
 * cap_source.c -- where frames come from: capture files, stdin and live
 * interfaces, all through libpcap.
 *
 * Owns: the cap_source handle (the pcap_t, its name for error messages, the
 * frame counter, the file size for progress), opening files (pcap and
 * pcapng, timestamps asked for in microseconds), live capture setup
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
 */
#include "cap.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <sys/stat.h>

#define LIVE_SNAPLEN 262144
#define LIVE_TIMEOUT_MS 100
/* The kernel ring a live capture fills while fs38 is busy. In immediate mode
 * (TPACKET_V2) every slot is as big as the snaplen allows (64 KiB on lo), so
 * libpcap's 2 MiB default held 16 packets on lo; packed blocks (TPACKET_V3,
 * handed over when full or after LIVE_TIMEOUT_MS) and 32 MiB hold ~100k
 * SIP messages of 250 bytes (~50k on lo, which rings every packet twice):
 * a stall of fs38 (an fsync, a burst) loses nothing. */
#define LIVE_BUFFER_BYTES (32 << 20)

/* "udp or tcp", plus the same behind one or two VLAN tags, plus IPv6
 * fragments (whose fixed header says 44, not udp/tcp). IPv4 fragments pass
 * "udp"/"tcp" already: the protocol field is in every fragment. The vlan
 * parts come last because "vlan" shifts the offsets of what follows it. */
#define BPF_BASE "udp or tcp or (ip6 and ip6[6] == 44)"
#define BPF_DEFAULT BPF_BASE " or (vlan and (" BPF_BASE ")) or (vlan and (" BPF_BASE "))"

#define FILE_BUF_BYTES (256u * 1024u)

struct cap_source {
    pcap_t *p;
    char name[256];
    bool live, is_stdin, failed;
    volatile sig_atomic_t stop; /* set by cap_break */
    int dlt;
    int fd; /* live: pollable descriptor in non-blocking mode, or -1 */
    uint64_t frames;
    uint64_t size;
    char *file_buf; /* stdio buffer of a capture file (freed after pcap_close) */
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

fs_code cap_open_file(const char *path, cap_source **out, fs_err *e) {
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    *out = NULL;
    if (!path || !*path) return fs_fail(e, FS_ERR_USAGE, "no capture file given");
    cap_source *s = source_alloc(strcmp(path, "-") == 0 ? "<stdin>" : path, e);
    if (!s) return FS_ERR_NOMEM;
    FILE *f;
    if (strcmp(path, "-") == 0) {
        s->is_stdin = true;
        f = stdin;
    } else {
        f = fopen(path, "rb");
        if (!f) {
            int err = errno;
            free(s);
            return fs_fail(e, FS_ERR_IO, "%s: cannot open: %s", path, strerror(err));
        }
        struct stat sb;
        if (fstat(fileno(f), &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                fclose(f);
                free(s);
                return fs_fail(e, FS_ERR_IO, "%s: is a directory", path);
            }
            if (S_ISREG(sb.st_mode)) s->size = (uint64_t)sb.st_size;
        }
    }
    /* libpcap reads a file through stdio, record by record: a large buffer
     * (glibc ignores the size unless given the buffer) turns one read() per
     * 4 KiB into one per 256 KiB. Not stdin: it outlives the source. */
    if (!s->is_stdin && (s->file_buf = malloc(FILE_BUF_BYTES)))
        setvbuf(f, s->file_buf, _IOFBF, FILE_BUF_BYTES);
    /* Two freads a record, and only the reading thread touches f: once
     * --workers has started threads, stdio would lock f on every one. */
    __fsetlocking(f, FSETLOCKING_BYCALLER);
    /* On success the pcap_t owns f (pcap_close closes it); on failure f
     * stays ours. */
    s->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!s->p) {
        if (!s->is_stdin) fclose(f);
        fs_code rc = fs_fail(e, FS_ERR_FORMAT, "%s: not a readable pcap or pcapng capture (%s)",
                             s->name, errbuf[0] ? errbuf : "unknown reason");
        free(s->file_buf);
        free(s);
        return rc;
    }
    s->dlt = pcap_datalink(s->p);
    *out = s;
    return FS_OK;
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
    if (apply_filter(s, bpf) != 0)
        return fs_fail(e, FS_ERR_USAGE, "%s: BPF filter '%s': %s", s->name, bpf, pcap_geterr(s->p));
    return FS_OK;
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

fs_code cap_open_live(const char *iface, const char *bpf, cap_source **out, fs_err *e) {
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
    pcap_set_buffer_size(s->p, LIVE_BUFFER_BYTES);
    pcap_set_timeout(s->p, LIVE_TIMEOUT_MS); /* a block is handed over at the latest after this */
    int rc = pcap_activate(s->p);
    if (rc < 0) return live_fail(s, FS_ERR_IO, e, "cannot start capture", rc);
    s->dlt = pcap_datalink(s->p);
    s->fd = pcap_get_selectable_fd(s->p);
    if (s->fd >= 0 && pcap_setnonblock(s->p, 1, errbuf) != 0) s->fd = -1;
    if (bpf) {
        if (apply_filter(s, bpf) != 0) return live_fail(s, FS_ERR_USAGE, e, "bad BPF filter", 0);
    } else if (apply_filter(s, BPF_DEFAULT) != 0 && apply_filter(s, BPF_BASE) != 0) {
        /* BPF_BASE: link types without VLAN tags (e.g. "any") */
        return live_fail(s, FS_ERR_INTERNAL, e, "default BPF filter", 0);
    }
    *out = s;
    return FS_OK;
}

/* One pcap_next_ex; on a live non-blocking handle with nothing ready, wait
 * up to LIVE_TIMEOUT_MS for the descriptor and try once more. */
static int next_ex(cap_source *s, struct pcap_pkthdr **h, const u_char **data) {
    int rc = pcap_next_ex(s->p, h, data);
    if (rc != 0 || !s->live || s->fd < 0 || s->stop) return rc;
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    if (poll(&pfd, 1, LIVE_TIMEOUT_MS) <= 0 || s->stop) return 0;
    return pcap_next_ex(s->p, h, data);
}

cap_next_status cap_next(cap_source *s, const uint8_t **frame, uint32_t *caplen, uint64_t *ts_us,
                         fs_err *e) {
    if (s->failed || s->stop) return CAP_NEXT_END;
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = next_ex(s, &h, &data);
    if (rc == 1) {
        s->frames++;
        *frame = data;
        *caplen = h->caplen;
        *ts_us = h->ts.tv_sec < 0 ? 0 /* garbage */
                                  : (uint64_t)h->ts.tv_sec * FS_USEC + (uint64_t)h->ts.tv_usec;
        return CAP_NEXT_FRAME;
    }
    if (rc == 0) return s->stop ? CAP_NEXT_END : CAP_NEXT_TIMEOUT;
    if (rc == PCAP_ERROR_BREAK) return CAP_NEXT_END;
    s->failed = true;
    fs_fail(e, s->live ? FS_ERR_IO : FS_ERR_FORMAT, "%s: frame %llu: %s", s->name,
            (unsigned long long)s->frames + 1, pcap_geterr(s->p));
    return CAP_NEXT_ERROR;
}

const char *cap_dlt_name(int dlt) {
    const char *name = pcap_datalink_val_to_name(dlt);
    return name ? name : "unknown";
}

int cap_datalink(const cap_source *s) { return s->dlt; }
uint64_t cap_frames_read(const cap_source *s) { return s->frames; }

uint64_t cap_offset(const cap_source *s) {
    if (s->live || s->is_stdin) return 0;
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
    *kernel = ps.ps_drop;
    *iface = ps.ps_ifdrop;
    return true;
}

void cap_close(cap_source *s) {
    if (!s) return;
    if (s->p) pcap_close(s->p); /* closes the FILE too (libpcap leaves stdin open) */
    free(s->file_buf);
    free(s);
}
