/*
 * test_text.c -- text shown on a terminal (fs_core.c): what a packet put in
 * a User-Agent or a Warning must not drive or deceive the operator's
 * terminal, and the summary's columns must be counted as a terminal counts.
 */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "core/fs_core.h"

static void printable(const char *in, const char *want) {
    char out[64];
    fs_text_printable(out, sizeof out, in);
    CHECK_MSG(!strcmp(out, want), "'%s' gave '%s', want '%s'", in, out, want);
}

static void test_printable(void) {
    printable("friendly-scanner 1.0", "friendly-scanner 1.0");
    printable("caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97", "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97"); /* kept */
    printable("a\x1b[2Jb", "a?[2Jb");                  /* ESC: CSI */
    printable("a\x1b]8;;http://x\x07" "b", "a?]8;;http://x?b"); /* OSC 8 hyperlink, BEL */
    printable("tab\there\r\n", "tab?here??");
    printable("a\x7f" "b", "a?b");
    printable("a\xc2\x9b" "2Jb", "a?2Jb");              /* C1 CSI as UTF-8 */
    printable("a\xc2\x85" "b", "a?b");                  /* C1 NEL: a line break to some terminals */
    printable("x\xe2\x80\xae" "cba", "x?cba");          /* U+202E right-to-left override */
    printable("x\xe2\x81\xa6" "y\xe2\x81\xa9", "x?y?"); /* U+2066/2069 isolates */
    printable("x\xe2\x80\x8b" "y", "x?y");              /* U+200B zero-width space */
    printable("x\xe2\x80\xa8" "y", "x?y");              /* U+2028 line separator */
    printable("\xef\xbb\xbfx", "?x");                   /* BOM */
    printable("x\xf3\xa0\x80\x81" "y", "x?y");          /* U+E0001 tag: invisible text */
    printable("a\xff\xfe" "b", "a??b");                 /* invalid UTF-8 */
    printable("a\xc0\xaf" "b", "a??b");                 /* overlong "/" */
    printable("a\xe0\x80\xaf" "b", "a???b");            /* overlong, three bytes */
    printable("a\xed\xa0\x80" "b", "a???b");            /* a surrogate */
    printable("a\xf4\x90\x80\x80" "b", "a????b");       /* above U+10FFFF */
    printable("a\xe6\xbc", "a??");                      /* cut sequence at the end */
    char small[5];
    fs_text_printable(small, sizeof small, "ab\xe6\xbc\xa2");
    CHECK(!strcmp(small, "ab")); /* truncated at a character, never inside one */
    fs_text_printable(small, sizeof small, "\x1b\x1b\x1b\x1b\x1b\x1b");
    CHECK(!strcmp(small, "????"));
}

static void test_columns(void) {
    CHECK_EQ_INT(fs_text_columns("abc", 3), 3);
    CHECK_EQ_INT(fs_text_columns("caf\xc3\xa9", 5), 4);                 /* e-acute: 1 column, 2 bytes */
    CHECK_EQ_INT(fs_text_columns("e\xcc\x81", 3), 1);                   /* e + combining acute */
    CHECK_EQ_INT(fs_text_columns("\xe6\xbc\xa2\xe5\xad\x97", 6), 4);    /* two CJK: 2 columns each */
    CHECK_EQ_INT(fs_text_columns("\xef\xbc\xa1", 3), 2);                /* fullwidth A */
    CHECK_EQ_INT(fs_text_columns("\xf0\x9f\x98\x80", 4), 2);            /* emoji */
    CHECK_EQ_INT(fs_text_columns("\xf0\x9f\x9a\x80", 4), 2);            /* U+1F680 rocket: wide too */
    CHECK_EQ_INT(fs_text_columns("\xe2\x98\x94\xe2\x8c\x9a", 6), 4);    /* U+2614 umbrella, U+231A watch */
    CHECK_EQ_INT(fs_text_columns("\xf0\x9f\xa9\xb0", 4), 2);            /* U+1FA70 ballet shoes */
    CHECK_EQ_INT(fs_text_columns("\xe2\x98\x83\xe2\x8c\x9c", 6), 2);    /* U+2603 snowman, U+231C: narrow */
    CHECK_EQ_INT(fs_text_columns("\xff" "a", 2), 2);                    /* invalid: a column per byte */

    size_t used;
    CHECK_EQ_INT(fs_text_fit("abcdef", 4, &used), 4);
    CHECK_EQ_INT(used, 4);
    CHECK_EQ_INT(fs_text_fit("ab", 10, &used), 2);
    CHECK_EQ_INT(used, 2);
    /* "a" + CJK (2 columns) in 2 columns: the CJK does not fit, and is not cut */
    CHECK_EQ_INT(fs_text_fit("a\xe6\xbc\xa2" "b", 2, &used), 1);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(fs_text_fit("a\xe6\xbc\xa2" "b", 3, &used), 4);
    CHECK_EQ_INT(used, 3);
    /* a combining mark stays with its letter */
    CHECK_EQ_INT(fs_text_fit("e\xcc\x81x", 1, &used), 3);
    CHECK_EQ_INT(fs_text_fit("\xc3\xa9\xc3\xa9", 1, NULL), 2);
}

int main(void) {
    test_printable();
    test_columns();
    return check_done("test_text");
}
