/*
 * fuzz_keylog.c -- libFuzzer harness for the TLS key log reader (cap_tls.c).
 *
 * The input is the key log file. It is written to a memory file
 * (memfd_create) and loaded through its /proc path, both as a capture
 * file is (everything read, the last line without its newline too) and as
 * a live capture follows it (half the input first, then the rest appended:
 * the reader goes on from where it stopped). Invariants (abort = finding):
 * the reader never fails on content, counts no more sessions or bad lines
 * than the input has lines, and reads the same sessions either way.
 *
 *   ./fuzz_keylog -max_total_time=60 fuzz/corpus/keylog
 */
#include "capture/cap.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cap_tls_keys *load(int fd, const char *path, const uint8_t *data, size_t size, bool follow) {
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) abort();
    size_t first = follow ? size / 2 : size;
    if (first && write(fd, data, first) != (ssize_t)first) abort();
    cap_tls_keys *k = NULL;
    fs_err e;
    if (cap_tls_keys_open(path, follow, &k, &e) != FS_OK) abort();
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fs38-keylog", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    cap_tls_keys_summary whole, live;
    cap_tls_keys *k = load(fd, path, data, size, false);
    cap_tls_keys_info(k, &whole);
    cap_tls_keys_free(k);
    if (whole.sessions > lines || whole.bad_lines > lines) abort();
    if (whole.bad_lines && (whole.first_bad_line < 1 || (size_t)whole.first_bad_line > lines)) abort();
    /* followed: half of it, then the rest appended and read on */
    k = load(fd, path, data, size, true);
    cap_tls_keys_info(k, &live);
    if (live.sessions > whole.sessions) abort();
    size_t first = size / 2;
    if (size > first && write(fd, data + first, size - first) != (ssize_t)(size - first)) abort();
    cap_tls_keys_refresh(k);
    cap_tls_keys_info(k, &live);
    cap_tls_keys_free(k);
    /* the same, but for a last line without its newline (still being written) */
    bool ends_line = size == 0 || data[size - 1] == '\n';
    if (live.sessions > whole.sessions || live.bad_lines > whole.bad_lines) abort();
    if (ends_line && (live.sessions != whole.sessions || live.bad_lines != whole.bad_lines)) abort();
    return 0;
}
