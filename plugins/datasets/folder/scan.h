/* Folder scanning for the folder dataset: image listings, mask names and
 * paths. Uses only POSIX and the public SDK. */
#ifndef ADVGNN_FOLDER_SCAN_H
#define ADVGNN_FOLDER_SCAN_H

#include <stddef.h>

#include <advgnn/context.h>
#include <advgnn/options.h>

/* A sorted list of file names (owned; free with file_list_free). */
typedef struct file_list {
    char **names;
    size_t count;
} file_list;

void file_list_free(file_list *list);

/* Joins path parts with '/' into a new string (advgnn_free); NULL when out of
 * memory. An empty part is skipped. */
char *path_join(const char *a, const char *b);

/* Returns nonzero when `path` is an existing folder / regular file. */
int is_folder(const char *path);
int is_regular_file(const char *path);

/* Returns nonzero when the file `path` is an archive of a format that the
 * archive-reading dataset plugins take. Either its name ends with .tar,
 * .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2, .zip or .7z, or its first
 * bytes are the signature of one of these formats. */
int is_archive(const char *path);

/* Lists the regular files of `dir` whose names end with one of `extensions`
 * (case-insensitive), sorted in byte order, hidden files skipped. An entry
 * named like an image that is not a readable regular file (a broken link, a
 * folder) is an error naming it. */
int list_images(advgnn_ctx *ctx, const char *dir, advgnn_string_list extensions, file_list *out);

/* Counts and an example name of what drop_masks found in one folder. */
typedef struct mask_scan {
    size_t masks;    /* files removed as masks of other files */
    size_t orphans;  /* files named <stem> + a non-empty suffix + mask_extension
                        whose <stem> image is not in the folder, which stay listed */
    char orphan[256]; /* the first such file's name, cut to fit, or "" when none */
} mask_scan;

/* Removes from `list` every file that is the mask of another file in the
 * list, named <stem of the other file> + one of `suffixes` + mask_extension.
 * Counts the removed files and the files named like a mask of a missing
 * image into `scan`. */
int drop_masks(advgnn_ctx *ctx, file_list *list, const char *const *suffixes, size_t suffix_count,
               const char *mask_extension, mask_scan *scan);

/* Returns a new string with the mask file name of `image_name`:
 * <stem> + suffix + mask_extension; NULL when out of memory. */
char *mask_name(const char *image_name, const char *suffix, const char *mask_extension);

#endif
