/* Private parts of the source module shared by source.c and archive_index.c. */
#ifndef ADVGNN_SOURCE_INTERNAL_H
#define ADVGNN_SOURCE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/source.h"
#include "util/internal.h"

/* One file or folder of an archive. Entries are kept sorted by name. */
typedef struct source_entry {
    char *name;     /* normalized relative path: no leading "./" or "/", no trailing "/" */
    uint64_t size;  /* bytes declared in the header; 0 for folders */
    advgnn_source_entry_type type;
    int wanted;     /* set during a prefetch pass */
    void *data;     /* prefetched content, or NULL */
    size_t data_size;
} source_entry;

typedef struct source_index {
    source_entry *entries;
    size_t count;
    size_t capacity;
} source_index;

/* Checks an archive entry name and writes its normalized form into out
 * (`size` bytes). Fails with ADVGNN_ERR_FORMAT for an absolute path, a ".."
 * component or an empty name after normalization. */
ADVGNN_INTERNAL int source_normalize_name(advgnn_ctx *ctx, const char *archive, const char *name, char *out,
                                          size_t size);

struct archive;

/* Returns a new libarchive reader (archive_read_free) that accepts only the
 * formats datasets ship in: tar (ustar, pax, GNU), zip and 7z, uncompressed or
 * compressed with gzip, bzip2, xz, lzma or zstd; NULL when out of memory.
 * Text formats such as mtree are refused on purpose, since their entries name
 * files elsewhere on this machine that libarchive would read. */
ADVGNN_INTERNAL struct archive *source_reader_new(void);

/* Reads every header of the archive at `path` into the index (folders implied
 * by file paths included), rejecting links, devices and oversized entries. */
ADVGNN_INTERNAL int source_index_build(advgnn_ctx *ctx, const char *path, uint64_t max_entry_bytes,
                                       source_index *index);

/* Loads the index from the cache file when it was written for this archive's
 * current size and mtime; returns ADVGNN_ERR_NOT_FOUND otherwise (no message). */
ADVGNN_INTERNAL int source_index_load_cache(advgnn_ctx *ctx, const char *cache, const char *archive,
                                            uint64_t max_entry_bytes, source_index *index);

/* Writes the index to the cache file atomically. */
ADVGNN_INTERNAL int source_index_save_cache(advgnn_ctx *ctx, const char *cache, const char *archive,
                                            const source_index *index);

/* Returns the entry named `name`, or NULL. The index must be sorted. */
ADVGNN_INTERNAL source_entry *source_index_find(const source_index *index, const char *name);

/* Frees every entry and the array. */
ADVGNN_INTERNAL void source_index_free(source_index *index);

#endif
