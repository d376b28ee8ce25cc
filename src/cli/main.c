/*
 * main.c -- the fs38 command: dispatch to a subcommand.
 *
 * Owns: the top-level usage text and the subcommand table. Each subcommand
 * lives in its own cmd_*.c file, parses its own options and prints; the work
 * itself is done by libfs38.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../exchange/xc.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"inspect", cmd_inspect, "find SIP attacks and fraud in captures, live traffic or HEP"},
    {"rules", cmd_rules, "list the rule catalogue (ids, severities, thresholds)"},
    {"keygen", cmd_keygen, "make an Ed25519 key pair for signing shared events"},
    {"hash-id", cmd_hash_id, "pseudonymise MSISDN/IMSI/ICCID under the community key"},
    {"hub", cmd_hub, "run the exchange hub (HTTPS, mutual TLS) operators share events through"},
    {"validate", cmd_validate, "check NDJSON events against the event format, naming every wrong field"},
    {"sign", cmd_sign, "sign NDJSON events as JWS, one per line (tests and scripts)"},
    {"share", cmd_share, "publish inspect's events to a hub (policy filter, signed)"},
    {"pull", cmd_pull, "keep a local cache of the indicators partners shared"},
    {"sight", cmd_sight, "report a sighting or false positive of a shared event"},
};

static void usage(FILE *out) {
    fprintf(out,
            "fs38 %s -- SIP network security toolkit (GSMA FS.38)\n\n"
            "usage: fs38 COMMAND [options]\n\ncommands:\n",
            FS38_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "version", "print the version");
    fprintf(out, "\n'fs38 COMMAND --help' explains a command. Exit codes: 0 done, 1 events at or\n"
                 "above --fail-on were raised, 2 usage, input or output error.\n");
}

/* A standard descriptor the caller closed (`fs38 inspect --json x.pcap >&-`)
 * would be taken by the next file opened, and what was meant for stdout
 * would land in it: events twice in --events FILE, the summary in
 * --stats-json, log lines in a hub's TLS socket. /dev/null, opened read-only,
 * holds the place: writing to it fails (EBADF) as it would on the closed one. */
static void hold_std_fds(void) {
    for (int fd = 0; fd <= 2; fd++) /* in order: open takes the lowest free descriptor, fd */
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF && open("/dev/null", O_RDONLY) < 0) return;
}

int main(int argc, char **argv) {
    hold_std_fds();
    xc_jmem_install(); /* before any thread: parsed events live in arenas (xc_jmem.c) */
    if (sodium_init() < 0) {
        fprintf(stderr, "fs38: libsodium failed to initialise\n");
        return 2;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return cli_stdout_done("fs38");
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("fs38 %s\n", FS38_VERSION);
        return cli_stdout_done("fs38");
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(cmd, commands[i].name) != 0) continue;
        /* getopt names the program from argv[0] in its own messages */
        char prog[64];
        snprintf(prog, sizeof prog, "fs38 %s", cmd);
        argv[1] = prog;
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "fs38: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
