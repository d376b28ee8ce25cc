/*
 * test_cli_config.c -- which config the subcommands load when -c is not
 * given (src/cli/cli_config.c, compiled in here with FS38_ETC_DIR pointing
 * at a temporary folder): FS38_ETC_DIR/fs38.yaml when it is there, the
 * built-in defaults when it is not, and an error when it is there but cannot
 * be read (never a silent run on the defaults).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "config/cfg.h"

static char etc_dir[64];
#undef FS38_ETC_DIR
#define FS38_ETC_DIR etc_dir
#include "../../src/cli/cli_config.c"

static fs38_config g_cfg; /* big: not on the stack */

/* cli_load_config's answer as another user than root (root reads any file):
 * 1 loaded, 0 refused, -1 could not tell. */
static int load_as_user(void) {
    if (geteuid() != 0) return -1; /* the owner reads its own 0600 file: only root can test this */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        int devnull = open("/dev/null", O_WRONLY); /* the expected error message */
        if (devnull >= 0) dup2(devnull, 2);
        _exit(cli_load_config(&g_cfg, NULL, "test", NULL, 0) ? 1 : 0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) > 1) return -1;
    return WEXITSTATUS(st);
}

int main(void) {
    unsetenv("FS38_CONFIG");
    snprintf(etc_dir, sizeof etc_dir, "/tmp/fs38-etc-XXXXXX");
    CHECK(mkdtemp(etc_dir) != NULL);
    CHECK(chmod(etc_dir, 0755) == 0);
    char path[128], used[256];
    snprintf(path, sizeof path, "%s/fs38.yaml", etc_dir);

    /* none there: the built-in defaults */
    CHECK(cli_load_config(&g_cfg, NULL, "test", used, sizeof used));
    CHECK(used[0] == '\0' && g_cfg.max_sources == 65536);

    /* there: applied */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("state: {max_sources: 1234}\n", f);
        fclose(f);
    }
    CHECK(cli_load_config(&g_cfg, NULL, "test", used, sizeof used));
    CHECK_MSG(!strcmp(used, path) && g_cfg.max_sources == 1234, "used '%s', max_sources %u", used,
              g_cfg.max_sources);

    /* there but unreadable (chmod 600 by its owner, fs38 run by someone
     * else): refused, not the defaults without a word */
    CHECK(chmod(path, 0600) == 0);
    int r = load_as_user();
    CHECK_MSG(r == 0, "an unreadable %s: %s", path, r == 1 ? "the defaults were used" : "could not test");

    /* a symlink to a file that is gone (a config management link whose
     * target was not deployed): there, so refused, not the defaults */
    unlink(path);
    CHECK(symlink("/nonexistent/fs38-site.yaml", path) == 0);
    CHECK_MSG(!cli_load_config(&g_cfg, NULL, "test", used, sizeof used),
              "a dangling %s gave the built-in defaults", path);
    unlink(path);

    /* a config in a folder the user may not search (etc 0700, fs38 run by
     * another user): it cannot be told absent, so refused, not the defaults */
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("state: {max_sources: 1234}\n", f);
        fclose(f);
    }
    CHECK(chmod(path, 0644) == 0 && chmod(etc_dir, 0700) == 0);
    r = load_as_user();
    CHECK_MSG(r == 0 || r == -1, "%s in a folder closed to the user: the defaults were used", path);
    CHECK(chmod(etc_dir, 0755) == 0);

    unlink(path);
    rmdir(etc_dir);
    return check_done("test_cli_config");
}
