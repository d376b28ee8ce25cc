/*
 * xc_internal.h -- helpers shared by the files of src/exchange only.
 */
#ifndef FS_XC_INTERNAL_H
#define FS_XC_INTERNAL_H

#include "xc.h"

/* Read a whole regular file of at most max bytes into a malloc'd, NUL
 * terminated buffer. what names the file's role in error messages. When
 * secret is true, a file readable or writable by group/others is refused. */
fs_code xc_read_file(const char *path, size_t max, bool secret, const char *what, char **buf,
                     size_t *len, fs_err *e);

/* Write a file with the given mode and fsync it; refuses to overwrite when
 * excl, and then removes the file again when the write fails. Its name is
 * durable once the caller fsyncs the folder (fs_fsync_dir_of). */
fs_code xc_write_file(const char *path, const char *data, size_t len, int mode, bool excl,
                      fs_err *e);

/* Around the parse of a file holding secrets (a signing key, community
 * keys): from begin to end, every block jansson allocates is wiped before
 * it is freed, so no copy of the secret (the lexer's buffers, the tree's
 * strings) is left in freed heap memory. Parse, read what is needed and
 * json_decref the tree between the two calls. It swaps jansson's
 * allocation functions (wrapping the current ones): call it only while no
 * other thread uses jansson -- key files are loaded at start-up. */
void xc_secret_json_begin(void);
void xc_secret_json_end(void);

/* A JSON object member that must be a string; NULL otherwise. */
const char *xc_json_str(const json_t *obj, const char *key);

#endif
