/*
 * cli.h -- what the subcommands of the fs38 command share (src/cli only).
 *
 * The CLI is the only layer that prints: it parses options, calls libfs38,
 * and renders results for people (summaries) and machines (NDJSON, JSON).
 */
#ifndef FS_CLI_H
#define FS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#define FS38_VERSION "0.1.0"

/* Exit codes, documented in --help and docs/operations.md. */
enum { EXIT_DONE = 0, EXIT_EVENTS = 1, EXIT_USAGE = 2 };

int cmd_inspect(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_keygen(int argc, char **argv);  /* cmd_keygen.c */
int cmd_hash_id(int argc, char **argv); /* cmd_hash_id.c */
int cmd_hub(int argc, char **argv);     /* cmd_hub.c */
int cmd_sign(int argc, char **argv);    /* cmd_sign.c */
int cmd_validate(int argc, char **argv); /* cmd_validate.c */
int cmd_share(int argc, char **argv);   /* cmd_share.c */
int cmd_pull(int argc, char **argv);    /* cmd_pull.c */
int cmd_sight(int argc, char **argv);   /* cmd_sight.c */

/* The detection config `fs38 inspect` and `fs38 rules` use (cli_config.c):
 * explicit_path (-c), else $FS38_CONFIG, else FS38_ETC_DIR/fs38.yaml if it
 * is there, else the built-in defaults; "/dev/null" means the defaults on
 * purpose. false: an error was printed, prefixed "fs38 CMD: ". used (may be
 * NULL) receives the file applied, "" for the built-in defaults. */
struct fs38_config;
bool cli_load_config(struct fs38_config *cfg, const char *explicit_path, const char *cmd, char *used,
                     size_t usedlen);

/* One line of f into buf (cap bytes) without its line feed, byte for byte
 * (NUL bytes too: a value cut at one would be another value), its length
 * in *len. A longer line is read to its end, only its first cap bytes kept,
 * and *too_long set: memory stays bounded whatever the input (getline grows
 * its buffer to the longest line, all of /dev/zero). false at the end of
 * the input (cli_input.c). */
bool cli_read_line(FILE *f, char *buf, size_t cap, size_t *len, bool *too_long);

/* After a --help text (or the version) went to stdout: EXIT_DONE when it was
 * written whole, else the reason said on stderr as "PROG: writing to stdout:
 * ..." and EXIT_USAGE (`fs38 inspect --help > /dev/full` is an output error,
 * not 0 with nothing written; a reader that left, EPIPE, is no error)
 * (cli_input.c). */
int cli_stdout_done(const char *prog);

#endif
