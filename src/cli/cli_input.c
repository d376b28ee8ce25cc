/*
 * cli_input.c -- reading the lines subcommands take on stdin (sign,
 * hash-id) with bounded memory; checking that a help text reached stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

bool cli_read_line(FILE *f, char *buf, size_t cap, size_t *len, bool *too_long) {
    size_t n = 0;
    int ch;
    *too_long = false;
    while ((ch = getc_unlocked(f)) != EOF && ch != '\n') {
        if (n < cap) buf[n++] = (char)ch;
        else *too_long = true;
    }
    *len = n;
    return ch != EOF || n > 0;
}

int cli_stdout_done(const char *prog) {
    int err = fflush(stdout) != 0 ? errno : 0;
    if (!err && !ferror(stdout)) return EXIT_DONE;
    if (err == EPIPE) return EXIT_DONE; /* `| head -3`: the reader had what it wanted */
    fprintf(stderr, "%s: writing to stdout: %s\n", prog, err ? strerror(err) : "failed");
    return EXIT_USAGE;
}
