/*
 * cli_input.c -- reading the lines subcommands take on stdin (sign,
 * hash-id) with bounded memory.
 */
#include <stdio.h>

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
