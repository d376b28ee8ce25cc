/*
 * fuzz_pcapng.c -- libFuzzer harness for fs38's own pcapng reader
 * (cap_pcapng.c) and the source that chooses between it and libpcap.
 *
 * The input is a capture file. It is read twice:
 *   1. by cap_png_mixed and cap_png_next directly, over fmemopen;
 *   2. as a file (a memfd opened by its /proc path) through cap_open_file
 *      and cap_next, so that the choice at open, libpcap refusing a block
 *      later and the own reader taking over after it all run.
 * Every frame goes to a decoder with small limits. Invariants checked (abort
 * = finding): every frame is readable in full and at most CAP_PNG_MAX_FRAME
 * bytes; the reader's offset only grows and stays within the input; a read
 * ends (frames <= input bytes / 12, the smallest block); cap_offset never
 * goes back. A gzip-compressed input (cap_gzip.c) is read as a file and
 * from a pipe; its frames are not bounded by its size. From a pipe, a
 * pcapng goes through cap_gzip.c's stream too.
 */
#include "capture/cap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink_byte;

static void touch(const uint8_t *p, uint32_t n) {
    uint8_t x = 0;
    for (uint32_t i = 0; i < n; i++) x ^= p[i]; /* ASan: all readable */
    sink_byte = x;
}

static void emit(void *user, const cap_payload *p) {
    touch(p->data, p->len);
    (void)user;
}

static cap_decoder *small_decoder(void) {
    cap_config c;
    cap_config_default(&c);
    c.max_tcp_flows = 8;
    c.max_flow_bytes = 4096;
    c.max_tcp_bytes = 32768;
    c.max_frag_sets = 8;
    c.max_frag_bytes = 32768;
    c.sip.max_message = 2048;
    fs_err e;
    cap_decoder *d = cap_decoder_new(&c, emit, NULL, &e);
    if (!d) abort();
    return d;
}

static void direct(const uint8_t *data, size_t size, cap_decoder *d) {
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return;
    int first = -1;
    uint32_t first_snaplen = 0;
    cap_png_mixed(f, &first, &first_snaplen);
    cap_png *r = cap_png_new(f);
    if (!r) abort();
    cap_png_frame fr;
    uint64_t frames = 0, last = 0;
    int rc;
    while ((rc = cap_png_next(r, &fr)) == 1) {
        if (fr.caplen > CAP_PNG_MAX_FRAME || fr.caplen > fr.len) abort();
        touch(fr.data, fr.caplen);
        cap_decode_frame(d, fr.dlt, fr.data, fr.caplen, fr.ts_us, ++frames);
        if (cap_png_offset(r) <= last || cap_png_offset(r) > size || frames > size / 12) abort();
        last = cap_png_offset(r);
    }
    if (rc < 0 && !cap_png_error(r)[0]) abort(); /* an error says what */
    cap_png_free(r);
    fclose(f);
}

/* Every frame of the capture on descriptor fd (size input bytes) through
 * cap_open_file, as `fs38 inspect` reads it; check_offset: the reader's
 * offset only grows (a file's; a pipe's is not checked). */
static void read_source(int fd, const uint8_t *data, size_t size, bool check_offset, cap_decoder *d) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cap_source *src;
    fs_err e;
    bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (cap_open_file(path, &src, &e) != FS_OK) return;
    const uint8_t *frame;
    uint32_t caplen;
    uint64_t ts, frames = 0, last = 0;
    while (cap_next(src, &frame, &caplen, &ts, &e) == CAP_NEXT_FRAME) {
        touch(frame, caplen);
        cap_decode_frame(d, cap_frame_dlt(src), frame, caplen, ts, ++frames);
        if ((check_offset && cap_offset(src) < last) || (!gzip && frames > size / 12 + 1)) abort();
        last = cap_offset(src);
    }
    cap_close(src);
}

static void as_file(const uint8_t *data, size_t size, cap_decoder *d) {
    int fd = memfd_create("fuzz_pcapng", 0);
    if (fd < 0) return;
    if (write(fd, data, size) == (ssize_t)size) read_source(fd, data, size, true, d);
    close(fd);
}

/* The same bytes from a pipe (stdin, `zcat x | fs38 inspect -`): a pcapng
 * there is read through cap_gzip.c's stream, which follows its blocks to
 * hand libpcap each interface's snaplen as 0. */
static void as_pipe(const uint8_t *data, size_t size, cap_decoder *d) {
    int fds[2];
    if (pipe(fds) != 0) return;
    int cap = fcntl(fds[1], F_SETPIPE_SZ, (int)(size < 4096 ? 4096 : size));
    bool whole = cap >= 0 && (size_t)cap >= size && write(fds[1], data, size) == (ssize_t)size;
    close(fds[1]); /* the end of the input */
    if (whole) read_source(fds[0], data, size, false, d);
    close(fds[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cap_decoder *d = small_decoder();
    direct(data, size, d);
    as_file(data, size, d);
    as_pipe(data, size, d);
    cap_decoder_finish(d);
    cap_decoder_free(d);
    return 0;
}
