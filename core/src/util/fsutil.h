/* File-system helpers of the core: folders, whole-file reads and atomic writes.
 * Not installed; the CLI may use them. */
#ifndef ADVGNN_UTIL_FSUTIL_H
#define ADVGNN_UTIL_FSUTIL_H

#include <stddef.h>

#include "advgnn/context.h"

/* Creates a folder and its missing parents (mode 0755). Succeeds when it exists. */
int advgnn_fs_mkdir_p(advgnn_ctx *ctx, const char *path);

/* Reads a whole file into a new NUL-terminated buffer (*data, freed with
 * advgnn_free) of *size bytes (terminator not counted). Files larger than
 * max_size fail with ADVGNN_ERR_LIMIT. */
int advgnn_fs_read_file(advgnn_ctx *ctx, const char *path, size_t max_size, char **data, size_t *size);

/* Writes `size` bytes to `path` through a temporary file in the same folder,
 * fsync and rename, so readers see the old file or the complete new one. */
int advgnn_fs_write_atomic(advgnn_ctx *ctx, const char *path, const void *data, size_t size);

/* Returns nonzero when `path` is an existing folder / regular file. */
int advgnn_fs_is_dir(const char *path);
int advgnn_fs_is_file(const char *path);

/* Joins two path parts with one '/' into a new string (advgnn_free), or NULL. */
char *advgnn_fs_join(const char *a, const char *b);

/* Lists the regular files of a folder whose names end with one of the
 * NULL-terminated `extensions` (case-insensitive, e.g. ".png"; NULL = all),
 * sorted by name in byte order. *names is an array of *count strings; free it
 * with advgnn_fs_free_list. */
int advgnn_fs_list_dir(advgnn_ctx *ctx, const char *dir, const char *const *extensions, char ***names,
                       size_t *count);
void advgnn_fs_free_list(char **names, size_t count);

/* Lists the subfolders of a folder (hidden ones excluded), sorted by name. */
int advgnn_fs_list_subdirs(advgnn_ctx *ctx, const char *dir, char ***names, size_t *count);

#endif
