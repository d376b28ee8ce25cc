/*
 * cmd_validate.c -- `fs38 validate`: check NDJSON events against the event
 * format 1.0 and name every wrong field (src/exchange xc_event_parse).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "exchange/xc.h"

static const char usage_text[] =
    "usage: fs38 validate [FILE...]      (no FILE or '-': standard input)\n"
    "\n"
    "Checks fs38 events against the event format 1.0 (docs/events.md,\n"
    "docs/event.schema.json) and prints every problem of every invalid event as\n"
    "FILE:LINE: field: problem. An input that is one JSON document (an event file,\n"
    "pretty-printed or not) is one event; otherwise it is NDJSON, one event per line\n"
    "(as `fs38 inspect --json` writes them); blank lines are skipped.\n"
    "\n"
    "Exit codes: 0 every event is valid, 1 some are not, 2 usage, read or write error.\n"
    "\n"
    "Example:\n"
    "  fs38 inspect --json capture.pcap | fs38 validate\n";

/* The most of an input held at once: a line of one event at the limit with
 * its "\r\n". A longer line cannot be an event; it is counted, not kept, so
 * memory stays bounded however long a line or the input is. */
#define VALIDATE_BUF (XC_EVENT_MAX_BYTES + 2)

/* Prints every problem of one event; returns true when it is valid. */
static bool check_event(const char *p, size_t n, const char *name, unsigned long lineno) {
    xc_event ev;
    xc_report r;
    fs_err e = {0};
    xc_report_clear(&r);
    if (xc_event_parse(p, n, &ev, &r, &e) == FS_OK) {
        /* an msisdn_hmac, imsi_hmac or iccid_hmac value is base64url of an
         * HMAC-SHA256 (the format), not the identifier it stands for */
        unsigned bad = xc_event_hmac_values(&ev, &r);
        xc_event_free(&ev);
        if (!bad) return true;
    }
    if (r.n == 0) printf("%s:%lu: %s\n", name, lineno, e.msg);
    for (unsigned i = 0; i < r.n; i++)
        printf("%s:%lu: %s: %s\n", name, lineno, r.items[i].field, r.items[i].problem);
    if (r.dropped) printf("%s:%lu: (%u more problems)\n", name, lineno, r.dropped);
    return false;
}

enum { READ_ERROR = -1, READ_NO_MEMORY = -2 };

enum fill_end { FILL_LINE, FILL_FULL, FILL_END, FILL_ERROR };

/* Appends to buf[*len..cap) up to and including the next '\n' (FILL_LINE),
 * until buf is full (FILL_FULL) or the input ends (FILL_END). Byte by byte
 * (stdio buffers): never waits for input past a line's end, so a live pipe
 * is checked as its events come. */
static enum fill_end fill_line(FILE *f, char *buf, size_t cap, size_t *len) {
    while (*len < cap) {
        int ch = getc(f);
        if (ch == EOF) return ferror(f) ? FILL_ERROR : FILL_END;
        buf[(*len)++] = (char)ch;
        if (ch == '\n') return FILL_LINE;
    }
    return FILL_FULL;
}

static bool is_blank(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return false;
    return true;
}

/* One NDJSON line (without its '\n'), or one of `dropped` bytes too long to
 * be held; returns true when it is valid or blank. */
static bool check_line(const char *p, size_t n, size_t dropped, const char *name, unsigned long lineno,
                       unsigned long *events) {
    if (dropped) {
        (*events)++;
        printf("%s:%lu: $: is %zu bytes, at most %d allowed\n", name, lineno, dropped + n,
               XC_EVENT_MAX_BYTES);
        return false;
    }
    /* trailing blanks go, so a line of spaces and tabs is blank too */
    while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (!n) return true;
    (*events)++;
    return check_event(p, n, name, lineno);
}

/* The line of buf[0..len) holding byte `at` (where the parse of the whole
 * failed) is an unindented JSON object by itself with a schema_version: the
 * next NDJSON event after a first line cut short, not a line inside one
 * pretty-printed event (an observable left without its comma). */
static bool event_line_at(const char *buf, size_t len, int at) {
    if (at <= 0 || (size_t)at > len) return false;
    size_t start = (size_t)at - 1; /* jansson has read the offending token */
    while (start > 0 && buf[start - 1] != '\n') start--;
    const char *nl = memchr(buf + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - buf) : len;
    if (start == 0 || buf[start] != '{') return false;
    json_error_t je;
    json_t *line = json_loadb(buf + start, end - start, 0, &je);
    bool object = json_is_object(line) && json_object_get(line, "schema_version");
    json_decref(line);
    return object;
}

/* A whole input that is one JSON document (an event file, pretty-printed or
 * not) is one event; anything else is NDJSON, one event per line, read as a
 * stream. Returns how many events were invalid, or READ_* (errno tells a
 * read error). */
static long validate_stream(FILE *f, const char *name, unsigned long *events_out) {
    char *buf = malloc(VALIDATE_BUF);
    if (!buf) return READ_NO_MEMORY;
    size_t len = 0;
    enum fill_end fe;
    json_error_t je;
    /* the first line is a JSON text cut short: a document spread over lines */
    bool first_unfinished = false;
    /* one document only if it can be one event: read on while the input
     * fits the event limit, unless its first line is a JSON value by itself
     * (NDJSON; a one-line document is the same event read either way) */
    for (bool first = true;;) {
        size_t start = len;
        fe = fill_line(f, buf, VALIDATE_BUF, &len);
        if (fe != FILL_LINE) break;
        if (first && !is_blank(buf + start, len - start)) {
            first = false;
            json_t *line = json_loadb(buf + start, len - start, 0, &je);
            if (line) {
                json_decref(line);
                break;
            }
            first_unfinished = json_error_code(&je) == json_error_premature_end_of_input;
        }
    }
    long bad = 0;
    unsigned long events = 0, lineno = 0;
    bool fits = fe == FILL_END && len <= XC_EVENT_MAX_BYTES;
    json_t *whole = fits ? json_loadb(buf, len, 0, &je) : NULL;
    /* a first line cut short followed by whole events (NDJSON whose first
     * event was truncated) is no document spread over lines: read as one,
     * the next line would be blamed and every later event left unchecked */
    if (whole || (fits && first_unfinished && !event_line_at(buf, len, je.position))) {
        /* one event; when it is no valid JSON (a comma too many in a
         * pretty-printed event file) its error is named at its line, where
         * read as NDJSON every line would be "invalid" and none would say why */
        bad = !check_event(buf, len, name, whole || je.line < 1 ? 1 : (unsigned long)je.line);
        json_decref(whole);
        free(buf);
        *events_out = 1;
        return bad;
    }
    size_t dropped = 0; /* bytes of the current line too long to hold */
    while (fe != FILL_ERROR) {
        size_t pos = 0;
        const char *nl;
        while ((nl = memchr(buf + pos, '\n', len - pos))) {
            size_t n = (size_t)(nl - buf) - pos;
            bad += !check_line(buf + pos, n, dropped, name, ++lineno, &events);
            dropped = 0;
            pos += n + 1;
        }
        memmove(buf, buf + pos, len - pos);
        len -= pos;
        if (fe == FILL_END) break;
        if (len == VALIDATE_BUF) { /* no '\n' in a full buffer: a line too long */
            dropped += len;
            len = 0;
        }
        fe = fill_line(f, buf, VALIDATE_BUF, &len);
    }
    if (fe == FILL_ERROR) {
        free(buf);
        return READ_ERROR;
    }
    if (len || dropped) bad += !check_line(buf, len, dropped, name, ++lineno, &events); /* no '\n' at the end */
    free(buf);
    *events_out = events;
    return bad;
}

int cmd_validate(int argc, char **argv) {
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return cli_stdout_done("fs38 validate");
        }
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    long bad = 0;
    unsigned long total = 0;
    int nargs = argc - optind; /* files after the options ("--" ends them) */
    int nfiles = nargs > 0 ? nargs : 1, unreadable = 0;
    for (int i = 0; i < nfiles; i++) { /* an unreadable input is named; the others are still checked */
        const char *path = nargs > 0 ? argv[optind + i] : "-";
        bool is_stdin = !strcmp(path, "-");
        FILE *f = is_stdin ? stdin : fopen(path, "r");
        struct stat st;
        if (f && !is_stdin && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
            fclose(f);
            f = NULL;
            errno = EISDIR;
        }
        if (!f) {
            fprintf(stderr, "fs38 validate: %s: %s\n", path, strerror(errno));
            unreadable++;
            continue;
        }
        unsigned long lines = 0;
        errno = 0;
        long b = validate_stream(f, is_stdin ? "<stdin>" : path, &lines);
        int err = errno;
        if (!is_stdin) fclose(f);
        if (b < 0) {
            if (b == READ_NO_MEMORY) fprintf(stderr, "fs38 validate: %s: out of memory\n", path);
            else fprintf(stderr, "fs38 validate: %s: read error: %s\n", path, strerror(err ? err : EIO));
            unreadable++;
            continue;
        }
        bad += b;
        total += lines;
    }
    /* the problems go to stdout: a report that could not be written (a full
     * disk) leaves "1, some are not" with nothing naming them */
    int werr = fflush(stdout) != 0 ? errno : 0;
    bool unwritten = werr || ferror(stdout);
    if (unwritten)
        fprintf(stderr, "fs38 validate: writing the problems to stdout: %s\n", werr ? strerror(werr) : "failed");
    fprintf(stderr, "fs38 validate: %lu event%s, %ld invalid%s\n", total, total == 1 ? "" : "s", bad,
            unreadable ? ", and an input could not be read" : "");
    if (unreadable || unwritten) return EXIT_USAGE;
    return bad ? EXIT_EVENTS : EXIT_DONE;
}
