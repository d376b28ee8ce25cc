/*
 * cmd_sign.c -- `fs38 sign`: sign fs38 events as JWS compact (EdDSA).
 *
 * A tool for tests and for operators scripting their own publishers: reads
 * one event per line (NDJSON) on stdin, checks each with the validator,
 * and prints one JWS per line, signed over the exact bytes of the line
 * (never re-serialised). `fs38 share` is the everyday publisher; this is the
 * low-level building block. --raw skips validation (to make hostile test
 * input: a signed event the hub must refuse).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exchange/xc.h"

static void sign_usage(FILE *out) {
    fputs("usage: fs38 sign --signing-key KEY [--raw] < events.ndjson > events.jws\n\n"
          "Signs each input line (one fs38 event JSON) with the Ed25519 key KEY (a .key\n"
          "file from fs38 keygen) and prints the JWS compact form, one per line:\n"
          "header {\"alg\":\"EdDSA\",\"kid\":\"<kid>\",\"typ\":\"fs38-event+jws\"}, payload = the\n"
          "line's exact bytes. Empty lines are skipped. An event whose issuer is not the\n"
          "key's owner is refused: every receiver would reject its signature.\n\n"
          "  --signing-key KEY  the member's secret key file (mode 0600)\n"
          "  --raw              do not validate the events first, nor check that their\n"
          "                     issuer is the key's owner (test input)\n"
          "  -h, --help         this text\n\n"
          "Example:\n"
          "  fs38 sign --signing-key keys/AbC.key < event.json | \\\n"
          "    jq -R -s '{events: split(\"\\n\") | map(select(length > 0))}' | \\\n"
          "    curl --cert m.crt --key m.key --cacert ca.crt --data-binary @- \\\n"
          "         https://hub:8443/v1/events\n\n"
          "Exit codes: 0 all signed, 1 some lines were invalid (named on stderr, not\n"
          "printed), 2 usage, key, input or output error.\n",
          out);
}

/* An event and its CR: longer lines are refused without being held. */
enum { LINE_CAP = XC_EVENT_MAX_BYTES + 1 };

int cmd_sign(int argc, char **argv) {
    static const struct option longopts[] = {{"signing-key", required_argument, NULL, 'k'},
                                             {"raw", no_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *keyfile = NULL;
    bool raw = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'r': raw = true; break;
        case 'h': sign_usage(stdout); return cli_stdout_done("fs38 sign");
        default: sign_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc || !keyfile) {
        fprintf(stderr, "fs38 sign: --signing-key is required and no arguments are taken (see --help)\n");
        return EXIT_USAGE;
    }
    xc_keypair kp;
    fs_err e;
    if (xc_keypair_load(keyfile, &kp, &e) != FS_OK) {
        fprintf(stderr, "fs38 sign: %s\n", e.msg);
        return EXIT_USAGE;
    }
    char *line = malloc(LINE_CAP), *out = malloc(XC_JWS_MAX_BYTES + 1);
    size_t n = 0;
    bool too_long;
    unsigned long lineno = 0, bad = 0;
    /* (NUL bytes kept: --raw signs hostile input) */
    while (line && out && cli_read_line(stdin, line, LINE_CAP, &n, &too_long)) {
        lineno++;
        if (too_long) {
            fprintf(stderr, "fs38 sign: line %lu: longer than %d bytes (an event is at most %d)\n", lineno,
                    LINE_CAP, XC_EVENT_MAX_BYTES);
            bad++;
            continue;
        }
        while (n > 0 && line[n - 1] == '\r') n--;
        if (n == 0) continue;
        if (!raw) {
            xc_event ev;
            if (xc_event_parse(line, n, &ev, NULL, &e) != FS_OK) {
                fprintf(stderr, "fs38 sign: line %lu: %s\n", lineno, e.msg);
                bad++;
                continue;
            }
            /* the spec: issuer must match the signing key's owner; every
             * receiver refuses the JWS otherwise (issuer_mismatch) */
            bool foreign = strcmp(ev.issuer, kp.issuer) != 0;
            if (foreign)
                fprintf(stderr, "fs38 sign: line %lu: issuer '%s' is not the signing key's owner '%s' (kid %s)\n",
                        lineno, ev.issuer, kp.issuer, kp.kid);
            xc_event_free(&ev);
            if (foreign) {
                bad++;
                continue;
            }
        }
        size_t l = xc_jws_sign(line, n, &kp, out, XC_JWS_MAX_BYTES + 1, &e);
        if (!l) {
            fprintf(stderr, "fs38 sign: line %lu: %s\n", lineno, e.msg);
            bad++;
            continue;
        }
        fwrite(out, 1, l, stdout);
        fputc('\n', stdout);
        if (ferror(stdout)) break; /* nothing more can be delivered */
    }
    bool nomem = !line || !out, rderr = ferror(stdin);
    free(line);
    free(out);
    xc_keypair_wipe(&kp);
    if (nomem || rderr) {
        fprintf(stderr, "fs38 sign: %s\n", nomem ? "out of memory" : "reading stdin failed");
        return EXIT_USAGE;
    }
    /* a JWS that never reached stdout is lost: that is no "all signed" */
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || ferror(stdout)) {
        fprintf(stderr, "fs38 sign: writing to stdout: %s\n", err ? strerror(err) : "failed");
        return EXIT_USAGE;
    }
    return bad ? EXIT_EVENTS : EXIT_DONE;
}
