/*
 * cmd_hash_id.c -- `fs38 hash-id`: pseudonymise subscriber identifiers
 * (MSISDN, IMSI, ICCID) under the community key, and create or rotate the
 * community key file.
 *
 * Thin: options, stdin lines and printing; normalisation, HMAC and the key
 * file are src/exchange/xc_pseudo.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exchange/xc.h"

static void hash_id_usage(FILE *out) {
    fputs("usage: fs38 hash-id --key-file FILE [--kind KIND] [--key-id ID] VALUE... | -\n"
          "       fs38 hash-id --new-key --key-id ID --out FILE\n\n"
          "Prints, per value, the pseudonym a shared event carries instead of a victim's\n"
          "identifier:  <kind>_hmac <key_id> <base64url(HMAC-SHA256(key, normalised value))>\n"
          "Values come from the command line, or one per line from stdin with '-' (blank\n"
          "lines are no values: skipped). The first invalid value stops the run (exit 2),\n"
          "so the Nth output line is the Nth value's.\n\n"
          "  --key-file FILE  the community key file (mode 0600; newest key first)\n"
          "  --kind KIND      msisdn (default: '+' or '00' and 7-15 digits, spaces, dashes,\n"
          "                   dots, parentheses ignored, a trunk prefix written '(0)' left\n"
          "                   out), imsi (15 digits) or iccid (18-20)\n"
          "  --key-id ID      hash under this (older) key instead of the newest\n"
          "  --new-key        add a new random key ID in front of --out FILE (created\n"
          "                   if missing; older keys are kept so old values still match)\n"
          "  --out FILE       the key file --new-key writes\n"
          "  -h, --help       this text\n\n"
          "Exit codes: 0 done, 2 usage, key file or value error.\n",
          out);
}

static int new_key(const char *key_id, const char *out) {
    xc_pseudo_keys ks;
    fs_err e;
    /* (O_NONBLOCK: a FIFO with no writer is refused below, not waited on) */
    int fd = open(out, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT) {
        /* a key file we cannot read is not a missing one: starting afresh
         * would replace it, and every older key with it */
        fprintf(stderr, "fs38 hash-id: community key file %s: %s\n", out, strerror(errno));
        return EXIT_USAGE;
    }
    if (fd >= 0) {
        close(fd);
        if (xc_pseudo_load(out, &ks, &e) != FS_OK) {
            fprintf(stderr, "fs38 hash-id: %s\n", e.msg);
            return EXIT_USAGE;
        }
    } else {
        memset(&ks, 0, sizeof ks);
    }
    int rc = EXIT_DONE;
    if (xc_pseudo_rotate(&ks, key_id, (int64_t)(fs_time_now_us() / 1000), &e) != FS_OK ||
        xc_pseudo_save(out, &ks, &e) != FS_OK) {
        fprintf(stderr, "fs38 hash-id: %s\n", e.msg);
        rc = EXIT_USAGE;
    } else {
        printf("%s\n", key_id);
        fprintf(stderr, "fs38 hash-id: %s: key %s added, %zu key%s kept\n", out, key_id, ks.n,
                ks.n == 1 ? "" : "s");
    }
    xc_pseudo_wipe(&ks);
    return rc;
}

static bool hash_one(const xc_pseudo_key *k, xc_id_kind kind, const char *v, size_t len,
                     const char *where) {
    char out[XC_HMAC_B64_LEN + 1];
    fs_err e;
    if (xc_pseudo_hash(k, kind, v, len, out, sizeof out, &e) != FS_OK) {
        fprintf(stderr, "fs38 hash-id: %s: %s\n", where, e.msg);
        return false;
    }
    printf("%s %s %s\n", xc_id_observable_kind(kind), k->key_id, out);
    return true;
}

static int hash_stdin(const xc_pseudo_key *k, xc_id_kind kind) {
    char line[254], where[64];
    unsigned long n = 0;
    size_t len;
    bool too_long;
    /* with its length, NUL bytes included: strlen would cut
     * "+4477009<NUL>1234" to a valid shorter number and print its pseudonym */
    while (cli_read_line(stdin, line, sizeof line, &len, &too_long)) {
        n++;
        snprintf(where, sizeof where, "stdin line %lu", n);
        if (too_long) {
            fprintf(stderr, "fs38 hash-id: %s: longer than %zu characters\n", where, sizeof line);
            return EXIT_USAGE;
        }
        fs_str s = fs_str_trim(fs_str_make(line, len));
        if (s.len == 0) continue; /* blank lines are no values */
        if (!hash_one(k, kind, s.p, s.len, where)) return EXIT_USAGE;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "fs38 hash-id: reading stdin failed\n");
        return EXIT_USAGE;
    }
    return EXIT_DONE;
}

int cmd_hash_id(int argc, char **argv) {
    enum { OPT_KEY_FILE = 256, OPT_KIND, OPT_KEY_ID, OPT_NEW_KEY, OPT_OUT };
    static const struct option longopts[] = {{"key-file", required_argument, NULL, OPT_KEY_FILE},
                                             {"kind", required_argument, NULL, OPT_KIND},
                                             {"key-id", required_argument, NULL, OPT_KEY_ID},
                                             {"new-key", no_argument, NULL, OPT_NEW_KEY},
                                             {"out", required_argument, NULL, OPT_OUT},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *key_file = NULL, *key_id = NULL, *out = NULL;
    bool make_key = false;
    xc_id_kind kind = XC_ID_MSISDN;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_KEY_FILE: key_file = optarg; break;
        case OPT_KIND:
            if (!xc_id_kind_parse(optarg, &kind)) {
                fprintf(stderr, "fs38 hash-id: --kind '%s': expected msisdn, imsi or iccid\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_KEY_ID: key_id = optarg; break;
        case OPT_NEW_KEY: make_key = true; break;
        case OPT_OUT: out = optarg; break;
        case 'h': hash_id_usage(stdout); return cli_stdout_done("fs38 hash-id");
        default: hash_id_usage(stderr); return EXIT_USAGE;
        }
    }
    if (make_key) {
        if (!key_id || !out || key_file || optind < argc) {
            fprintf(stderr, "fs38 hash-id: --new-key takes --key-id ID and --out FILE only\n");
            return EXIT_USAGE;
        }
        return new_key(key_id, out);
    }
    if (out) {
        fprintf(stderr, "fs38 hash-id: --out is for --new-key\n");
        return EXIT_USAGE;
    }
    if (!key_file || optind >= argc) {
        fprintf(stderr, "fs38 hash-id: give --key-file FILE and values (or '-' for stdin); see --help\n");
        return EXIT_USAGE;
    }
    xc_pseudo_keys ks;
    fs_err e;
    if (xc_pseudo_load(key_file, &ks, &e) != FS_OK) {
        fprintf(stderr, "fs38 hash-id: %s\n", e.msg);
        return EXIT_USAGE;
    }
    const xc_pseudo_key *k = key_id ? xc_pseudo_find(&ks, key_id) : &ks.keys[0];
    int rc = EXIT_DONE;
    if (!k) {
        fprintf(stderr, "fs38 hash-id: key id '%s' is not in %s\n", key_id, key_file);
        rc = EXIT_USAGE;
    }
    for (int i = optind; rc == EXIT_DONE && i < argc; i++) {
        if (!strcmp(argv[i], "-")) rc = hash_stdin(k, kind);
        else {
            /* which of several values was refused: by place and as given
             * (control characters shown as '?', long ones cut) */
            char where[96], shown[48];
            size_t n = 0;
            for (const char *p = argv[i]; *p && n + 1 < sizeof shown; p++, n++)
                shown[n] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
            shown[n] = '\0';
            snprintf(where, sizeof where, "argument %d '%s%s'", i - optind + 1, shown,
                     argv[i][n] ? "..." : "");
            if (!hash_one(k, kind, argv[i], strlen(argv[i]), where)) rc = EXIT_USAGE;
        }
    }
    xc_pseudo_wipe(&ks);
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || ferror(stdout)) { /* the pseudonyms are lost: say why the exit is 2 */
        fprintf(stderr, "fs38 hash-id: writing to stdout: %s\n", err ? strerror(err) : "failed");
        rc = EXIT_USAGE;
    }
    return rc;
}
