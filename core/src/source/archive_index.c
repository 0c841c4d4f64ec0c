/* Indexing archives with libarchive: one pass over the headers, entry name
 * validation, implied folders, and the on-disk index cache. */
#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "source/source_internal.h"
#include "util/fsutil.h"

/* An index with more entries than this is treated as hostile (each entry
 * costs memory even when empty). The largest public anomaly-detection archives
 * hold a few tens of thousands of files. */
#define SOURCE_MAX_ENTRIES 4000000u

/* ---- names ------------------------------------------------------------- */

int source_normalize_name(advgnn_ctx *ctx, const char *archive, const char *name, char *out, size_t size)
{
    size_t len;
    const char *p = name;

    if (name[0] == '/' || (name[0] && name[1] == ':'))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "archive '%s': entry '%s' has an absolute path; the archive is rejected", archive,
                            name);

    /* Drop leading "./" components, as tar writes them for "tar -C dir .". */
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    len = strlen(p);
    if (len + 1 > size)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "archive '%s': entry name of %zu bytes is too long", archive,
                            len);
    memcpy(out, p, len + 1);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';

    /* Check each component: "..", empty components and "." are rejected. */
    for (const char *c = out; *c;) {
        const char *slash = strchr(c, '/');
        size_t clen = slash ? (size_t)(slash - c) : strlen(c);

        if ((clen == 2 && c[0] == '.' && c[1] == '.') || (clen == 1 && c[0] == '.') || clen == 0)
            return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                                "archive '%s': entry '%s' contains a '..', '.' or empty path component; the archive is "
                                "rejected",
                                archive, name);
        if (!slash)
            break;
        c = slash + 1;
    }
    return ADVGNN_OK;
}

/* ---- the index array --------------------------------------------------- */

void source_index_free(source_index *index)
{
    for (size_t i = 0; i < index->count; i++) {
        advgnn_free(index->entries[i].name);
        advgnn_free(index->entries[i].data);
    }
    advgnn_free(index->entries);
    memset(index, 0, sizeof(*index));
}

static int index_append(advgnn_ctx *ctx, source_index *index, const char *name, uint64_t size,
                        advgnn_source_entry_type type)
{
    if (index->count >= SOURCE_MAX_ENTRIES)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "archive has more than %u entries", SOURCE_MAX_ENTRIES);
    if (index->count == index->capacity) {
        size_t cap = index->capacity ? index->capacity * 2 : 256;
        source_entry *grown = advgnn_realloc(index->entries, cap * sizeof(*grown));
        if (!grown)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory indexing an archive");
        index->entries = grown;
        index->capacity = cap;
    }

    source_entry *e = &index->entries[index->count];
    memset(e, 0, sizeof(*e));
    e->name = advgnn_strdup(name);
    if (!e->name)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory indexing an archive");
    e->size = size;
    e->type = type;
    index->count++;
    return ADVGNN_OK;
}

static int compare_entries(const void *a, const void *b)
{
    const source_entry *ea = a, *eb = b;
    int c = strcmp(ea->name, eb->name);

    /* Folders sort before files of the same name, so deduplication keeps the
     * folder when an archive lists "a" both ways. */
    return c ? c : (int)eb->type - (int)ea->type;
}

source_entry *source_index_find(const source_index *index, const char *name)
{
    size_t lo = 0, hi = index->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(index->entries[mid].name, name);
        if (c == 0)
            return &index->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Adds every folder implied by the file paths, sorts, and drops duplicates. */
static int index_finish(advgnn_ctx *ctx, const char *archive, source_index *index)
{
    size_t files = index->count;
    char buf[4096];
    size_t out = 0;

    for (size_t i = 0; i < files; i++) {
        size_t len = strlen(index->entries[i].name);
        if (len >= sizeof(buf))
            continue;
        memcpy(buf, index->entries[i].name, len + 1);
        for (char *slash = strrchr(buf, '/'); slash; slash = strrchr(buf, '/')) {
            *slash = '\0';
            int rc = index_append(ctx, index, buf, 0, ADVGNN_SOURCE_ENTRY_DIR);
            if (rc != ADVGNN_OK)
                return rc;
        }
    }
    if (index->count > 1)
        qsort(index->entries, index->count, sizeof(*index->entries), compare_entries);

    /* Invariant: every name pointer is owned by exactly one slot. A slot
     * whose entry was dropped or moved down is cleared, so the error path's
     * source_index_free() can free all `count` slots without a double free. */
    for (size_t i = 0; i < index->count; i++) {
        source_entry *e = &index->entries[i];

        if (out > 0 && strcmp(index->entries[out - 1].name, e->name) == 0) {
            if (index->entries[out - 1].type != e->type)
                return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                                    "archive '%s': '%s' is both a file and a folder; repack the archive so the "
                                    "path names only one of them",
                                    archive, e->name);
            advgnn_free(e->name);
            memset(e, 0, sizeof(*e));
            continue;
        }
        if (out != i) {
            index->entries[out] = *e;
            memset(e, 0, sizeof(*e));
        }
        out++;
    }
    index->count = out;
    return ADVGNN_OK;
}

/* ---- building from the archive ----------------------------------------- */

struct archive *source_reader_new(void)
{
    struct archive *a = archive_read_new();

    if (!a)
        return NULL;

    /* A filter or format that libarchive was built without reports a warning
     * or failure here. The archive then fails to open with libarchive's own
     * message, which names the missing support. */
    (void)archive_read_support_filter_gzip(a);
    (void)archive_read_support_filter_bzip2(a);
    (void)archive_read_support_filter_xz(a);
    (void)archive_read_support_filter_lzma(a);
    (void)archive_read_support_filter_zstd(a);
    (void)archive_read_support_format_tar(a);
    (void)archive_read_support_format_gnutar(a);
    (void)archive_read_support_format_zip(a);
    (void)archive_read_support_format_7zip(a);
    return a;
}

static int check_entry_type(advgnn_ctx *ctx, const char *archive, struct archive_entry *entry,
                            advgnn_source_entry_type *type)
{
    const char *name = archive_entry_pathname(entry);
    mode_t ft = archive_entry_filetype(entry);

    if (archive_entry_hardlink(entry) || archive_entry_symlink(entry) || ft == AE_IFLNK)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "archive '%s': entry '%s' is a link; links are not read, extract the archive and "
                            "resolve them if they are intended",
                            archive, name ? name : "?");
    if (ft == AE_IFDIR) {
        *type = ADVGNN_SOURCE_ENTRY_DIR;
        return ADVGNN_OK;
    }
    if (ft == AE_IFREG || ft == 0) {
        *type = ADVGNN_SOURCE_ENTRY_FILE;
        return ADVGNN_OK;
    }
    return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                        "archive '%s': entry '%s' is a device, FIFO or socket; only files and folders are read",
                        archive, name ? name : "?");
}

static int add_header(advgnn_ctx *ctx, const char *path, uint64_t max_entry_bytes, struct archive_entry *entry,
                      source_index *index)
{
    char name[4096];
    advgnn_source_entry_type type = ADVGNN_SOURCE_ENTRY_NONE;
    const char *raw = archive_entry_pathname(entry);
    int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    int rc;

    if (!raw)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "archive '%s': entry %zu has no name", path, index->count);
    rc = check_entry_type(ctx, path, entry, &type);
    if (rc == ADVGNN_OK)
        rc = source_normalize_name(ctx, path, raw, name, sizeof(name));
    if (rc != ADVGNN_OK)
        return rc;
    if (size < 0 || (uint64_t)size > max_entry_bytes)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT,
                            "archive '%s': entry '%s' declares %lld bytes, more than the limit of %llu bytes", path,
                            raw, (long long)size, (unsigned long long)max_entry_bytes);
    if (name[0] == '\0')
        return ADVGNN_OK; /* the archive's root folder itself */
    return index_append(ctx, index, name, type == ADVGNN_SOURCE_ENTRY_DIR ? 0 : (uint64_t)size, type);
}

int source_index_build(advgnn_ctx *ctx, const char *path, uint64_t max_entry_bytes, source_index *index)
{
    struct archive *a = source_reader_new();
    struct archive_entry *entry;
    int rc = ADVGNN_OK;

    memset(index, 0, sizeof(*index));
    if (!a)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening archive '%s'", path);

    /* libarchive reports an empty file as "Unrecognized archive format",
     * which hides the likely cause: an interrupted download or copy. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                          "archive '%s' is an empty file (0 bytes); download or copy it again", path);
        goto done;
    }
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                          "cannot open archive '%s': %s; advgnn reads tar, zip and 7z archives (tar compressed with "
                          "gzip, bzip2, xz or zstd) and extracted folders",
                          path, archive_error_string(a));
        goto done;
    }

    for (;;) {
        int r = archive_read_next_header(a, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                              "archive '%s' is truncated or corrupt after %zu entries: %s; download it again", path,
                              index->count, archive_error_string(a));
            goto done;
        }
        rc = add_header(ctx, path, max_entry_bytes, entry, index);
        if (rc != ADVGNN_OK)
            goto done;

        /* Skipping still decompresses the data of compressed archives, which
         * also detects truncation inside the last entry. */
        if (archive_read_data_skip(a) < ARCHIVE_WARN) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "archive '%s' is truncated or corrupt in entry '%s': %s",
                              path, archive_entry_pathname(entry), archive_error_string(a));
            goto done;
        }
    }
    rc = index_finish(ctx, path, index);

done:
    archive_read_free(a);
    if (rc != ADVGNN_OK)
        source_index_free(index);
    return rc;
}

/* ---- cache ------------------------------------------------------------- */

/* The archive's size and modification time. The time stays two integers
 * (seconds, nanoseconds), each exact in a JSON number, because one double of
 * seconds did not survive cJSON's 15-digit printing for about one time in
 * twenty, and the cache was then silently ignored. */
static int archive_stamp(const char *archive, double *size, double *mtime_sec, double *mtime_nsec)
{
    struct stat st;

    if (stat(archive, &st) != 0)
        return -1;
    *size = (double)st.st_size;
    *mtime_sec = (double)st.st_mtim.tv_sec;
    *mtime_nsec = (double)st.st_mtim.tv_nsec;
    return 0;
}

int source_index_load_cache(advgnn_ctx *ctx, const char *cache, const char *archive, uint64_t max_entry_bytes,
                            source_index *index)
{
    advgnn_ctx *quiet = advgnn_ctx_new();
    char *text = NULL;
    size_t len;
    double size, mtime_sec, mtime_nsec;
    cJSON *root = NULL;
    int rc = ADVGNN_ERR_NOT_FOUND;

    memset(index, 0, sizeof(*index));
    if (!quiet)
        return ADVGNN_ERR_NOT_FOUND;
    if (archive_stamp(archive, &size, &mtime_sec, &mtime_nsec) != 0 ||
        advgnn_fs_read_file(quiet, cache, (size_t)1 << 30, &text, &len) != ADVGNN_OK)
        goto done;
    root = cJSON_Parse(text);
    if (!root)
        goto done;

    cJSON *jsize = cJSON_GetObjectItemCaseSensitive(root, "size");
    cJSON *jsec = cJSON_GetObjectItemCaseSensitive(root, "mtime_sec");
    cJSON *jnsec = cJSON_GetObjectItemCaseSensitive(root, "mtime_nsec");
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
    if (!cJSON_IsNumber(jsize) || !cJSON_IsNumber(jsec) || !cJSON_IsNumber(jnsec) || !cJSON_IsArray(entries) ||
        jsize->valuedouble != size || jsec->valuedouble != mtime_sec || jnsec->valuedouble != mtime_nsec)
        goto done;

    /* A cache file is input like any other: names are validated again. */
    const cJSON *item;
    cJSON_ArrayForEach(item, entries)
    {
        cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        cJSON *bytes = cJSON_GetObjectItemCaseSensitive(item, "size");
        cJSON *dir = cJSON_GetObjectItemCaseSensitive(item, "dir");
        char norm[4096];
        if (!cJSON_IsString(name) || !cJSON_IsNumber(bytes) || bytes->valuedouble < 0 ||
            bytes->valuedouble > (double)max_entry_bytes ||
            source_normalize_name(quiet, archive, name->valuestring, norm, sizeof(norm)) != ADVGNN_OK ||
            strcmp(norm, name->valuestring) != 0 || norm[0] == '\0')
            goto done;
        if (index_append(quiet, index, norm, (uint64_t)bytes->valuedouble,
                         cJSON_IsTrue(dir) ? ADVGNN_SOURCE_ENTRY_DIR : ADVGNN_SOURCE_ENTRY_FILE) != ADVGNN_OK)
            goto done;
    }
    if (index_finish(quiet, archive, index) != ADVGNN_OK)
        goto done;
    rc = ADVGNN_OK;
    advgnn_log(ctx, ADVGNN_LOG_DEBUG, "archive '%s': index read from '%s' (%zu entries)", archive, cache,
               index->count);

done:
    if (rc != ADVGNN_OK)
        source_index_free(index);
    cJSON_Delete(root);
    advgnn_free(text);
    advgnn_ctx_free(quiet);
    return rc;
}

int source_index_save_cache(advgnn_ctx *ctx, const char *cache, const char *archive, const source_index *index)
{
    double size, mtime_sec, mtime_nsec;
    cJSON *root = cJSON_CreateObject();
    cJSON *entries = root ? cJSON_AddArrayToObject(root, "entries") : NULL;
    char *text = NULL;
    int rc;

    if (!entries || archive_stamp(archive, &size, &mtime_sec, &mtime_nsec) != 0) {
        cJSON_Delete(root);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write the index cache of archive '%s'", archive);
    }
    cJSON_AddStringToObject(root, "archive", archive);
    cJSON_AddNumberToObject(root, "size", size);
    cJSON_AddNumberToObject(root, "mtime_sec", mtime_sec);
    cJSON_AddNumberToObject(root, "mtime_nsec", mtime_nsec);
    for (size_t i = 0; i < index->count; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(entries, e)) {
            cJSON_Delete(e);
            cJSON_Delete(root);
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory writing an archive index");
        }
        cJSON_AddStringToObject(e, "name", index->entries[i].name);
        cJSON_AddNumberToObject(e, "size", (double)index->entries[i].size);
        cJSON_AddBoolToObject(e, "dir", index->entries[i].type == ADVGNN_SOURCE_ENTRY_DIR);
    }

    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory writing an archive index");
    rc = advgnn_fs_write_atomic(ctx, cache, text, strlen(text));
    cJSON_free(text);
    return rc;
}
