/*
 * cli_config.c -- finding and loading the detection config for the
 * subcommands that read it (inspect, rules): the one place that says which
 * file applies when -c is not given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config/cfg.h"

bool cli_load_config(fs38_config *cfg, const char *explicit_path, const char *cmd, char *used, size_t usedlen) {
    fs_err e = {0};
    cfg_defaults(cfg);
    if (used && usedlen) used[0] = '\0';
    const char *path = explicit_path;
    char etc_path[512];
    if (path && !*path) {
        fprintf(stderr, "fs38 %s: --config: empty path (use -c /dev/null for the built-in defaults)\n", cmd);
        return false;
    }
    if (!path) path = getenv("FS38_CONFIG");
    if (path && !strcmp(path, "/dev/null")) return true; /* the built-in defaults, on purpose */
    if (!path || !*path) {
        snprintf(etc_path, sizeof etc_path, "%s/fs38.yaml", FS38_ETC_DIR);
        /* absent: the built-in defaults. There but unreadable (chmod 600, as
         * a file holding hep_auth_key should be, run by another user), a
         * symlink to a file that is gone, or in a folder the user may not
         * search (which cannot tell absent) is an error below, not a silent
         * run without its zones, lists and key */
        struct stat st;
        if (lstat(etc_path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) return true;
        path = etc_path;
    }
    if (cfg_load_file(cfg, path, &e) != FS_OK) {
        fprintf(stderr, "fs38 %s: config: %s\n", cmd, e.msg);
        return false;
    }
    if (used && usedlen) snprintf(used, usedlen, "%s", path);
    return true;
}
