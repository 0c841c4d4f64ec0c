/* Folder and archive sources behind one interface. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "source/source_internal.h"
#include "util/fsutil.h"

struct advgnn_source {
    char *path;
    int is_archive;
    uint64_t max_entry_bytes;
    source_index index; /* archives only */
};

/* ---- relative paths ---------------------------------------------------- */

/* Rejects relative paths that could leave the source's root. */
static int check_relpath(advgnn_ctx *ctx, const advgnn_source *src, const char *relpath)
{
    char norm[4096];

    if (relpath[0] == '\0')
        return ADVGNN_OK;
    if (source_normalize_name(ctx, src->path, relpath, norm, sizeof(norm)) != ADVGNN_OK)
        return ADVGNN_ERR_INVALID_ARG;
    return ADVGNN_OK;
}

/* ---- open and close ---------------------------------------------------- */

static int open_archive_with_cache(advgnn_ctx *ctx, advgnn_source *src, const char *cache)
{
    int rc;

    if (cache && source_index_load_cache(ctx, cache, src->path, src->max_entry_bytes, &src->index) == ADVGNN_OK)
        return ADVGNN_OK;

    rc = source_index_build(ctx, src->path, src->max_entry_bytes, &src->index);
    if (rc != ADVGNN_OK)
        return rc;
    advgnn_log(ctx, ADVGNN_LOG_INFO, "archive '%s': indexed %zu entries", src->path, src->index.count);

    /* A cache that cannot be written costs time on the next run, not results. */
    if (cache && source_index_save_cache(ctx, cache, src->path, &src->index) != ADVGNN_OK) {
        advgnn_log(ctx, ADVGNN_LOG_WARN, "%s", advgnn_ctx_error(ctx));
        advgnn_ctx_clear_error(ctx);
    }
    return ADVGNN_OK;
}

static pthread_mutex_t cache_dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache_dir; /* guarded by cache_dir_lock; NULL = no default cache */

int advgnn_source_set_index_cache_dir(const char *dir)
{
    char *copy = dir ? advgnn_strdup(dir) : NULL;

    if (dir && !copy)
        return ADVGNN_ERR_NOMEM;
    pthread_mutex_lock(&cache_dir_lock);
    advgnn_free(cache_dir);
    cache_dir = copy;
    pthread_mutex_unlock(&cache_dir_lock);
    return ADVGNN_OK;
}

/* Returns a new path "<cache dir>/<archive base name>-<FNV-1a of the full
 * path>.index.json", or NULL when no default cache is set. */
static char *default_cache_path(const char *archive)
{
    const char *base = strrchr(archive, '/');
    uint64_t hash = 0xcbf29ce484222325ull;
    char name[512];
    char *path = NULL;

    for (const unsigned char *p = (const unsigned char *)archive; *p; p++)
        hash = (hash ^ *p) * 0x100000001b3ull;
    snprintf(name, sizeof(name), "%.200s-%016llx.index.json", base ? base + 1 : archive, (unsigned long long)hash);

    pthread_mutex_lock(&cache_dir_lock);
    if (cache_dir)
        path = advgnn_fs_join(cache_dir, name);
    pthread_mutex_unlock(&cache_dir_lock);
    return path;
}

static int open_archive(advgnn_ctx *ctx, advgnn_source *src, const advgnn_source_options *options)
{
    char *default_cache = options && options->index_cache ? NULL : default_cache_path(src->path);
    const char *cache = options && options->index_cache ? options->index_cache : default_cache;
    int rc = open_archive_with_cache(ctx, src, cache);

    advgnn_free(default_cache);
    return rc;
}

int advgnn_source_open(advgnn_ctx *ctx, const char *path, const advgnn_source_options *options,
                       advgnn_source **out)
{
    struct stat st;
    advgnn_source *src;
    int rc;

    *out = NULL;
    if (stat(path, &st) != 0)
        return advgnn_failf(ctx, errno == ENOENT ? ADVGNN_ERR_NOT_FOUND : ADVGNN_ERR_IO,
                            "dataset root '%s' not found (%s); check the path or the root option", path,
                            strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "dataset root '%s' is neither a folder nor a file", path);

    src = advgnn_calloc(1, sizeof(*src));
    if (!src || !(src->path = advgnn_strdup(path))) {
        advgnn_free(src);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening '%s'", path);
    }
    src->is_archive = S_ISREG(st.st_mode);
    src->max_entry_bytes = options && options->max_entry_bytes ? options->max_entry_bytes
                                                               : ADVGNN_SOURCE_DEFAULT_MAX_ENTRY_BYTES;

    if (src->is_archive) {
        rc = open_archive(ctx, src, options);
        if (rc != ADVGNN_OK) {
            advgnn_source_close(src);
            return rc;
        }
    }
    *out = src;
    return ADVGNN_OK;
}

void advgnn_source_close(advgnn_source *src)
{
    if (!src)
        return;
    source_index_free(&src->index);
    advgnn_free(src->path);
    advgnn_free(src);
}

int advgnn_source_is_archive(const advgnn_source *src)
{
    return src->is_archive;
}

const char *advgnn_source_path(const advgnn_source *src)
{
    return src->path;
}

/* ---- stat and list ----------------------------------------------------- */

advgnn_source_entry_type advgnn_source_stat(advgnn_source *src, const char *relpath)
{
    if (relpath[0] == '\0')
        return ADVGNN_SOURCE_ENTRY_DIR;
    if (check_relpath(NULL, src, relpath) != ADVGNN_OK)
        return ADVGNN_SOURCE_ENTRY_NONE;

    if (src->is_archive) {
        source_entry *e = source_index_find(&src->index, relpath);
        return e ? e->type : ADVGNN_SOURCE_ENTRY_NONE;
    }

    char *full = advgnn_fs_join(src->path, relpath);
    advgnn_source_entry_type type = ADVGNN_SOURCE_ENTRY_NONE;
    if (full && advgnn_fs_is_dir(full))
        type = ADVGNN_SOURCE_ENTRY_DIR;
    else if (full && advgnn_fs_is_file(full))
        type = ADVGNN_SOURCE_ENTRY_FILE;
    advgnn_free(full);
    return type;
}

void advgnn_source_free_list(char **names, size_t count)
{
    advgnn_fs_free_list(names, count);
}

static int list_folder(advgnn_source *src, advgnn_ctx *ctx, const char *relpath, advgnn_source_entry_type type,
                       char ***names, size_t *count)
{
    char *dir = relpath[0] ? advgnn_fs_join(src->path, relpath) : advgnn_strdup(src->path);
    int rc;

    if (!dir)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing '%s'", relpath);
    if (type == ADVGNN_SOURCE_ENTRY_FILE)
        rc = advgnn_fs_list_dir(ctx, dir, NULL, names, count);
    else
        rc = advgnn_fs_list_subdirs(ctx, dir, names, count);
    advgnn_free(dir);
    return rc;
}

static int list_archive(advgnn_source *src, advgnn_ctx *ctx, const char *relpath, advgnn_source_entry_type type,
                        char ***names, size_t *count)
{
    size_t plen = strlen(relpath);
    char **out = NULL;
    size_t n = 0;

    if (plen && advgnn_source_stat(src, relpath) != ADVGNN_SOURCE_ENTRY_DIR)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "folder '%s' not found in archive '%s'", relpath, src->path);

    /* A linear scan over every entry finds the children. It is fast enough
     * for archives of tens of thousands of entries, which are listed a few
     * times per run. */
    for (size_t i = 0; i < src->index.count; i++) {
        const source_entry *e = &src->index.entries[i];
        const char *rest;
        if (plen) {
            if (strncmp(e->name, relpath, plen) != 0 || e->name[plen] != '/')
                continue;
            rest = e->name + plen + 1;
        } else {
            rest = e->name;
        }
        if (strchr(rest, '/') || e->type != type)
            continue;

        char **grown = advgnn_realloc(out, (n + 1) * sizeof(*out));
        if (!grown || !(grown[n] = advgnn_strdup(rest))) {
            advgnn_fs_free_list(grown ? grown : out, n);
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing '%s'", relpath);
        }
        out = grown;
        n++;
    }
    *names = out;
    *count = n;
    return ADVGNN_OK;
}

int advgnn_source_list(advgnn_source *src, advgnn_ctx *ctx, const char *relpath, advgnn_source_entry_type type,
                       char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    if (check_relpath(ctx, src, relpath) != ADVGNN_OK)
        return ADVGNN_ERR_INVALID_ARG;
    if (type != ADVGNN_SOURCE_ENTRY_FILE && type != ADVGNN_SOURCE_ENTRY_DIR)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid entry type %d", (int)type);
    return src->is_archive ? list_archive(src, ctx, relpath, type, names, count)
                           : list_folder(src, ctx, relpath, type, names, count);
}

char *advgnn_source_entry_path(const advgnn_source *src, const char *relpath)
{
    size_t la = strlen(src->path), lb = strlen(relpath);
    char *out;

    if (!src->is_archive)
        return advgnn_fs_join(src->path, relpath);
    out = advgnn_malloc(la + 2 + lb + 1);
    if (!out)
        return NULL;
    memcpy(out, src->path, la);
    memcpy(out + la, ADVGNN_SOURCE_ARCHIVE_SEPARATOR, 2);
    memcpy(out + la + 2, relpath, lb + 1);
    return out;
}

/* ---- reading archive entries ------------------------------------------- */

/* Reads the current entry's data, at most `limit` bytes, into a new buffer. */
static int read_entry_data(advgnn_ctx *ctx, struct archive *a, const char *archive, const char *name,
                           uint64_t declared, uint64_t limit, void **data, size_t *size)
{
    size_t cap = declared > 0 ? (size_t)declared + 1 : 65536;
    size_t len = 0;
    char *buf = advgnn_malloc(cap);

    if (!buf)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading '%s' from archive '%s'", name, archive);
    for (;;) {
        if (len + 1 >= cap) {
            size_t ncap = cap * 2;
            char *grown = advgnn_realloc(buf, ncap);
            if (!grown) {
                advgnn_free(buf);
                return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading '%s'", name);
            }
            buf = grown;
            cap = ncap;
        }
        la_ssize_t n = archive_read_data(a, buf + len, cap - len - 1);
        if (n == 0)
            break;
        if (n < 0) {
            advgnn_free(buf);
            return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "archive '%s' is truncated or corrupt in entry '%s': %s",
                                archive, name, archive_error_string(a));
        }
        len += (size_t)n;
        if (len > limit) {
            advgnn_free(buf);
            return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "archive '%s': entry '%s' is larger than the limit of %llu bytes",
                                archive, name, (unsigned long long)limit);
        }
    }
    buf[len] = '\0';
    *data = buf;
    *size = len;
    return ADVGNN_OK;
}

/* One sequential pass over the archive that stores the data of every wanted
 * entry in the index. Compressed archives allow no random access, so this is
 * how reads are batched. */
static int archive_pass(advgnn_source *src, advgnn_ctx *ctx, size_t wanted)
{
    struct archive *a = source_reader_new();
    struct archive_entry *entry;
    size_t found = 0;
    int rc = ADVGNN_OK;

    if (!a)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading archive '%s'", src->path);
    if (archive_read_open_filename(a, src->path, 1 << 16) != ARCHIVE_OK) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open archive '%s': %s", src->path, archive_error_string(a));
        goto done;
    }

    while (found < wanted) {
        char name[4096];
        int r = archive_read_next_header(a, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "archive '%s' is truncated or corrupt: %s", src->path,
                              archive_error_string(a));
            goto done;
        }
        const char *raw = archive_entry_pathname(entry);
        if (!raw || source_normalize_name(NULL, src->path, raw, name, sizeof(name)) != ADVGNN_OK)
            continue;
        source_entry *e = source_index_find(&src->index, name);
        if (!e || !e->wanted || e->data || e->type != ADVGNN_SOURCE_ENTRY_FILE)
            continue;
        rc = read_entry_data(ctx, a, src->path, name, e->size, src->max_entry_bytes, &e->data, &e->data_size);
        if (rc != ADVGNN_OK)
            goto done;
        found++;
    }
    if (found < wanted)
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                          "archive '%s' changed since it was indexed: %zu entries are missing; delete the index "
                          "cache and run again",
                          src->path, wanted - found);

done:
    archive_read_free(a);
    for (size_t i = 0; i < src->index.count; i++)
        src->index.entries[i].wanted = 0;
    return rc;
}

int advgnn_source_prefetch(advgnn_source *src, advgnn_ctx *ctx, const char *const *relpaths, size_t count)
{
    size_t wanted = 0;

    if (!src->is_archive)
        return ADVGNN_OK;
    for (size_t i = 0; i < count; i++) {
        source_entry *e = source_index_find(&src->index, relpaths[i]);
        if (!e || e->type != ADVGNN_SOURCE_ENTRY_FILE)
            return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "'%s' not found in archive '%s'", relpaths[i], src->path);
        if (!e->data && !e->wanted) {
            e->wanted = 1;
            wanted++;
        }
    }
    return wanted ? archive_pass(src, ctx, wanted) : ADVGNN_OK;
}

void advgnn_source_release_cache(advgnn_source *src)
{
    for (size_t i = 0; i < src->index.count; i++) {
        advgnn_free(src->index.entries[i].data);
        src->index.entries[i].data = NULL;
        src->index.entries[i].data_size = 0;
    }
}

/* Declared bytes one automatic prefetch may hold in memory. */
#define SOURCE_SIBLING_BUDGET ((uint64_t)512 << 20)

/* Fetches `target` together with the files of its folder (within a memory
 * budget) in one pass. A dataset reads the images of a split folder one after
 * the other, and each pass over a compressed archive decompresses it from the
 * start. */
static int prefetch_with_siblings(advgnn_source *src, advgnn_ctx *ctx, source_entry *target)
{
    const char *slash = strrchr(target->name, '/');
    size_t dlen = slash ? (size_t)(slash - target->name) : 0;
    uint64_t budget = target->size;
    size_t wanted = 1;

    target->wanted = 1;
    for (size_t i = 0; i < src->index.count; i++) {
        source_entry *e = &src->index.entries[i];
        const char *rest = e->name + (dlen ? dlen + 1 : 0);
        if (e == target || e->data || e->type != ADVGNN_SOURCE_ENTRY_FILE || budget + e->size > SOURCE_SIBLING_BUDGET)
            continue;
        if ((dlen && (strncmp(e->name, target->name, dlen) != 0 || e->name[dlen] != '/')) || strchr(rest, '/'))
            continue;
        e->wanted = 1;
        budget += e->size;
        wanted++;
    }
    return archive_pass(src, ctx, wanted);
}

int advgnn_source_read(advgnn_source *src, advgnn_ctx *ctx, const char *relpath, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (check_relpath(ctx, src, relpath) != ADVGNN_OK)
        return ADVGNN_ERR_INVALID_ARG;

    if (!src->is_archive) {
        char *full = advgnn_fs_join(src->path, relpath);
        int rc;
        if (!full)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading '%s'", relpath);
        rc = advgnn_fs_read_file(ctx, full, (size_t)src->max_entry_bytes, (char **)data, size);
        advgnn_free(full);
        return rc;
    }

    source_entry *e = source_index_find(&src->index, relpath);
    if (!e || e->type != ADVGNN_SOURCE_ENTRY_FILE)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "'%s' not found in archive '%s'", relpath, src->path);
    if (!e->data) {
        int rc = prefetch_with_siblings(src, ctx, e);
        if (rc != ADVGNN_OK)
            return rc;
    }

    /* The entry's bytes move to the caller: a dataset reads each file once per
     * run, and the cache only bridges the gap between a pass and the reads. */
    char *copy = advgnn_realloc(e->data, e->data_size + 1);
    if (!copy)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading '%s'", relpath);
    copy[e->data_size] = '\0';
    *data = copy;
    *size = e->data_size;
    e->data = NULL;
    e->data_size = 0;
    return ADVGNN_OK;
}

/* ---- process-wide table for entry paths -------------------------------- */

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static advgnn_source **open_archives; /* guarded by open_lock */
static size_t open_count;

static int find_or_open(advgnn_ctx *ctx, const char *archive, advgnn_source **out)
{
    for (size_t i = 0; i < open_count; i++) {
        if (strcmp(open_archives[i]->path, archive) == 0) {
            *out = open_archives[i];
            return ADVGNN_OK;
        }
    }

    advgnn_source **grown = advgnn_realloc(open_archives, (open_count + 1) * sizeof(*grown));
    if (!grown)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening archive '%s'", archive);
    open_archives = grown;
    int rc = advgnn_source_open(ctx, archive, NULL, out);
    if (rc != ADVGNN_OK)
        return rc;
    if (!advgnn_source_is_archive(*out)) {
        advgnn_source_close(*out);
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "'%s' is not an archive file", archive);
    }
    open_archives[open_count++] = *out;
    return ADVGNN_OK;
}

int advgnn_source_read_path(advgnn_ctx *ctx, const char *path, void **data, size_t *size)
{
    const char *sep = strstr(path, ADVGNN_SOURCE_ARCHIVE_SEPARATOR);
    advgnn_source *src;
    char archive[4096];
    int rc;

    *data = NULL;
    *size = 0;
    if (!sep)
        return advgnn_fs_read_file(ctx, path, (size_t)ADVGNN_SOURCE_DEFAULT_MAX_ENTRY_BYTES, (char **)data, size);
    if ((size_t)(sep - path) >= sizeof(archive))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "archive path too long in '%s'", path);
    memcpy(archive, path, (size_t)(sep - path));
    archive[sep - path] = '\0';

    pthread_mutex_lock(&open_lock);
    rc = find_or_open(ctx, archive, &src);
    if (rc == ADVGNN_OK)
        rc = advgnn_source_read(src, ctx, sep + 2, data, size);
    pthread_mutex_unlock(&open_lock);
    return rc;
}

void advgnn_source_close_all(void)
{
    pthread_mutex_lock(&open_lock);
    for (size_t i = 0; i < open_count; i++)
        advgnn_source_close(open_archives[i]);
    advgnn_free(open_archives);
    open_archives = NULL;
    open_count = 0;
    pthread_mutex_unlock(&open_lock);
}
