/* Dataset sources: a folder, or an archive (.tar, .tar.gz, .tar.xz, .tar.bz2,
 * .zip, .7z) read in place with libarchive, without extracting it to disk.
 *
 * Dataset plugins list folders and read files through a source, so one plugin
 * reads both the extracted dataset and the archive as published. Entry names
 * inside archives are validated when the archive is indexed: absolute paths,
 * ".." components, links, devices and entries larger than the size limit are
 * rejected with a message naming the entry. */
#ifndef ADVGNN_SOURCE_H
#define ADVGNN_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct advgnn_source advgnn_source;

/* Separator between an archive's path and an entry inside it in entry paths,
 * e.g. "/data/mvtec.tar.xz!/bottle/train/good/000.png". */
#define ADVGNN_SOURCE_ARCHIVE_SEPARATOR "!/"

/* Default limit on one archive entry's size: 256 MiB. */
#define ADVGNN_SOURCE_DEFAULT_MAX_ENTRY_BYTES ((uint64_t)256 << 20)

typedef struct advgnn_source_options {
    uint64_t max_entry_bytes;  /* larger entries are rejected; 0 = the default */
    const char *index_cache;   /* file for the archive index (reused while the archive's
                                  size and mtime match); NULL = no cache */
} advgnn_source_options;

/* Sets the folder where archive indexes are cached when advgnn_source_open
 * gets no index_cache of its own: one file per archive, named after the
 * archive and a hash of its path. The experiment runner sets it to the run's
 * folder, so every open of one archive during a run after the first reads the
 * cached index. NULL turns the default cache off. The setting is
 * process-wide; the string is copied. Returns ADVGNN_ERR_NOMEM or ADVGNN_OK. */
int advgnn_source_set_index_cache_dir(const char *dir);

/* Opens a folder or an archive file. An archive is indexed once: a pass over
 * its headers records every entry's name, size and type. `options` may be NULL.
 * Fails with ADVGNN_ERR_NOT_FOUND for a missing path, ADVGNN_ERR_FORMAT for a
 * corrupt or truncated archive or an unsafe entry, naming the path. Free with
 * advgnn_source_close. */
int advgnn_source_open(advgnn_ctx *ctx, const char *path, const advgnn_source_options *options,
                       advgnn_source **out);

/* Closes the source. advgnn_source_close(NULL) does nothing. */
void advgnn_source_close(advgnn_source *src);

/* Returns nonzero when the source is an archive. */
int advgnn_source_is_archive(const advgnn_source *src);

/* Returns the path the source was opened with. Borrowed. */
const char *advgnn_source_path(const advgnn_source *src);

typedef enum advgnn_source_entry_type {
    ADVGNN_SOURCE_ENTRY_NONE = 0,
    ADVGNN_SOURCE_ENTRY_FILE = 1,
    ADVGNN_SOURCE_ENTRY_DIR = 2
} advgnn_source_entry_type;

/* Returns the type of `relpath` ("a/b.png", "" for the root) in the source. */
advgnn_source_entry_type advgnn_source_stat(advgnn_source *src, const char *relpath);

/* Lists the names (not paths) directly inside folder `relpath` whose type is
 * `type`, sorted in byte order. Free with advgnn_source_free_list. A missing
 * folder fails with ADVGNN_ERR_NOT_FOUND naming it. */
int advgnn_source_list(advgnn_source *src, advgnn_ctx *ctx, const char *relpath, advgnn_source_entry_type type,
                       char ***names, size_t *count);
void advgnn_source_free_list(char **names, size_t count);

/* Returns a new string (advgnn_free) that names `relpath` for
 * advgnn_source_read_path and for sample image_path/mask_path: the joined
 * folder path, or "<archive>!/<relpath>". NULL when out of memory. */
char *advgnn_source_entry_path(const advgnn_source *src, const char *relpath);

/* Reads a whole file of the source into *data (advgnn_free; NUL-terminated,
 * the terminator not counted in *size). */
int advgnn_source_read(advgnn_source *src, advgnn_ctx *ctx, const char *relpath, void **data, size_t *size);

/* Reads in one sequential pass the listed entries of an archive into the
 * source's memory, so the following reads of those entries do not each
 * decompress the archive from its start. Does nothing for a folder.
 * advgnn_source_release_cache frees that memory. */
int advgnn_source_prefetch(advgnn_source *src, advgnn_ctx *ctx, const char *const *relpaths, size_t count);
void advgnn_source_release_cache(advgnn_source *src);

/* Reads a file named by a plain path or an entry path with
 * ADVGNN_SOURCE_ARCHIVE_SEPARATOR. Archives stay open in a process-wide table,
 * so repeated reads reuse their index and prefetched entries. */
int advgnn_source_read_path(advgnn_ctx *ctx, const char *path, void **data, size_t *size);

/* Closes the archives of the process-wide table. */
void advgnn_source_close_all(void);

#ifdef __cplusplus
}
#endif
#endif
