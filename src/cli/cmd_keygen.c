/*
 * cmd_keygen.c -- `fs38 keygen`: a member's Ed25519 signing key pair.
 *
 * Thin: options and printing only; the work is xc_keypair_generate and
 * xc_keypair_save (src/exchange). The secret never reaches stdout or stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "exchange/xc.h"

static void keygen_usage(FILE *out) {
    fputs("usage: fs38 keygen --issuer ISSUER --out DIR\n\n"
          "Generates an Ed25519 key pair for signing shared events and prints its key id\n"
          "(kid: base64url of the first 16 bytes of SHA-256 of the public key).\n"
          "Writes DIR/<kid>.key (the secret, mode 0600: issuer, kid, alg, public and\n"
          "secret key) and DIR/<kid>.pub (the member entry to add to the trust registry's\n"
          "\"members\" array). DIR is created (mode 0700) if missing; existing files are\n"
          "never overwritten.\n\n"
          "  --issuer ISSUER  who signs: org:<MCC>-<MNC> (3-digit MCC, 2-3 digit MNC,\n"
          "                   e.g. org:234-15) or org:<name> with name [a-z0-9._-]{1,64}\n"
          "                   (a name of digits and '-' alone must be an MCC-MNC)\n"
          "  --out DIR        where the key files go\n"
          "  -h, --help       this text\n\n"
          "Exit codes: 0 key written, 2 usage or I/O error.\n",
          out);
}

int cmd_keygen(int argc, char **argv) {
    static const struct option longopts[] = {{"issuer", required_argument, NULL, 'I'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *issuer = NULL, *dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'I': issuer = optarg; break;
        case 'o': dir = optarg; break;
        case 'h': keygen_usage(stdout); return cli_stdout_done("fs38 keygen");
        default: keygen_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 keygen: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!issuer || !dir) {
        fprintf(stderr, "fs38 keygen: --issuer and --out are required (see fs38 keygen --help)\n");
        return EXIT_USAGE;
    }
    xc_keypair kp;
    fs_err e;
    if (xc_keypair_generate(issuer, &kp, &e) != FS_OK || xc_keypair_save(&kp, dir, &e) != FS_OK) {
        xc_keypair_wipe(&kp);
        fprintf(stderr, "fs38 keygen: %s\n", e.msg);
        return EXIT_USAGE;
    }
    printf("%s\n", kp.kid);
    fprintf(stderr, "fs38 keygen: %s: wrote %s/%s.key (secret, keep it) and %s/%s.pub (for the trust registry)\n",
            kp.issuer, dir, kp.kid, dir, kp.kid);
    xc_keypair_wipe(&kp);
    /* a script takes the kid from stdout (KID=$(fs38 keygen ...)): one that
     * could not be written leaves it empty, not done */
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || ferror(stdout)) {
        fprintf(stderr, "fs38 keygen: writing the key id to stdout: %s (the key files are written)\n",
                err ? strerror(err) : "failed");
        return EXIT_USAGE;
    }
    return EXIT_DONE;
}
