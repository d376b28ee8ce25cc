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
    "Exit codes: 0 every event is valid, 1 some are not, 2 usage or read error.\n"
    "\n"
    "Example:\n"
    "  fs38 inspect --json capture.pcap | fs38 validate\n";

#define VALIDATE_MAX_INPUT (256u << 20)

/* Prints every problem of one event; returns true when it is valid. */
static bool check_event(const char *p, size_t n, const char *name, unsigned long lineno) {
    xc_event ev;
    xc_report r;
    fs_err e = {0};
    xc_report_clear(&r);
    if (xc_event_parse(p, n, &ev, &r, &e) == FS_OK) {
        xc_event_free(&ev);
        return true;
    }
    if (r.n == 0) printf("%s:%lu: %s\n", name, lineno, e.msg);
    for (unsigned i = 0; i < r.n; i++)
        printf("%s:%lu: %s: %s\n", name, lineno, r.items[i].field, r.items[i].problem);
    if (r.dropped) printf("%s:%lu: (%u more problems)\n", name, lineno, r.dropped);
    return false;
}

enum { READ_ERROR = -1, READ_TOO_BIG = -2, READ_NO_MEMORY = -3 };

/* A whole input that is one JSON document (an event file, pretty-printed or
 * not) is one event; anything else is NDJSON, one event per line. Returns how
 * many events were invalid, or READ_* (errno tells a read error). */
static long validate_stream(FILE *f, const char *name, unsigned long *events_out) {
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            if (cap >= VALIDATE_MAX_INPUT) {
                free(buf);
                return READ_TOO_BIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return READ_NO_MEMORY;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (!buf) return READ_NO_MEMORY;
    if (ferror(f)) {
        free(buf);
        return READ_ERROR;
    }
    long bad = 0;
    unsigned long events = 0;
    json_error_t je;
    /* one document only if it can be one event: a bigger input is read as
     * lines, each held to the event limit, never parsed whole */
    json_t *whole = len <= XC_EVENT_MAX_BYTES ? json_loadb(buf, len, 0, &je) : NULL;
    if (whole) {
        json_decref(whole);
        events = 1;
        bad = !check_event(buf, len, name, 1);
    } else {
        unsigned long lineno = 0;
        for (size_t pos = 0; pos < len;) {
            const char *nl = memchr(buf + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
            lineno++;
            while (n && (buf[pos + n - 1] == '\r' || buf[pos + n - 1] == ' ')) n--;
            if (n) {
                events++;
                bad += !check_event(buf + pos, n, name, lineno);
            }
            pos = end + 1;
        }
    }
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
            return EXIT_DONE;
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
            if (b == READ_TOO_BIG) fprintf(stderr, "fs38 validate: %s: larger than %u MiB\n", path, VALIDATE_MAX_INPUT >> 20);
            else if (b == READ_NO_MEMORY) fprintf(stderr, "fs38 validate: %s: out of memory\n", path);
            else fprintf(stderr, "fs38 validate: %s: read error: %s\n", path, strerror(err ? err : EIO));
            unreadable++;
            continue;
        }
        bad += b;
        total += lines;
    }
    fprintf(stderr, "fs38 validate: %lu event%s, %ld invalid%s\n", total, total == 1 ? "" : "s", bad,
            unreadable ? ", and an input could not be read" : "");
    if (unreadable) return EXIT_USAGE;
    return bad ? EXIT_EVENTS : EXIT_DONE;
}
