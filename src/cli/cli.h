/*
 * cli.h -- what the subcommands of the fs38 command share (src/cli only).
 *
 * The CLI is the only layer that prints: it parses options, calls libfs38,
 * and renders results for people (summaries) and machines (NDJSON, JSON).
 */
#ifndef FS_CLI_H
#define FS_CLI_H

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

#endif
