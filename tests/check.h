/*
 * check.h -- the tiny test harness every tests/unit/test_*.c uses.
 *
 * CHECK(cond) counts one check; a failure prints file:line and the
 * expression and the run goes on. CHECK_EQ_INT/CHECK_EQ_STR print both
 * values. check_done(name) prints "name: N passed, N failed" and returns
 * the exit status. tests/run.sh adds the lines up.
 */
#ifndef FS_CHECK_H
#define FS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            check_passed++;                                                          \
        } else {                                                                     \
            check_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (cond) {                                                          \
            check_passed++;                                                  \
        } else {                                                             \
            check_failed++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                            \
    do {                                                                              \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);               \
        CHECK_MSG(check_a_ == check_b_, "%lld != %lld", check_a_, check_b_);          \
    } while (0)

/* Compare an fs_str-like (p,len) or C string against a C string. */
#define CHECK_EQ_STR(s, lit)                                                          \
    do {                                                                              \
        const char *check_l_ = (lit);                                                 \
        size_t check_n_ = strlen(check_l_);                                           \
        CHECK_MSG((s).len == check_n_ && memcmp((s).p, check_l_, check_n_) == 0,      \
                  "got '%.*s', want '%s'", (int)(s).len, (s).p ? (s).p : "", check_l_); \
    } while (0)

static inline int check_done(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Read a whole file into a malloc'd, NUL-terminated buffer (test data).
 * NULL on error. */
static inline char *check_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) n = 0;
    char *buf = malloc((size_t)n + 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0'; /* text files can be read as strings; *len excludes it */
        *len = (size_t)n;
    }
    return buf;
}

#endif
