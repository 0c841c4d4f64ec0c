/* Folder scanning for the folder dataset. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan.h"

void file_list_free(file_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        advgnn_free(list->names[i]);
    advgnn_free(list->names);
    list->names = NULL;
    list->count = 0;
}

char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    while (la > 1 && a[la - 1] == '/')
        la--;
    char *out = advgnn_malloc(la + lb + 2);
    if (!out)
        return NULL;
    memcpy(out, a, la);
    size_t n = la;
    if (la > 0 && lb > 0 && a[la - 1] != '/')
        out[n++] = '/';
    memcpy(out + n, b, lb + 1);
    return out;
}

int is_folder(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with_nocase(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

static int has_extension(const char *name, advgnn_string_list extensions)
{
    for (size_t i = 0; i < extensions.count; i++) {
        if (ends_with_nocase(name, extensions.values[i]))
            return 1;
    }
    return 0;
}

int is_archive(const char *path)
{
    static const char *const suffixes[] = {".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz",
                                           ".tar.bz2", ".tbz2", ".zip", ".7z"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (ends_with_nocase(path, suffixes[i]))
            return 1;
    }

    /* A renamed archive: gzip, xz, bzip2, zip, 7z, then POSIX tar's "ustar"
     * at offset 257. */
    unsigned char head[262] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    if ((n >= 2 && head[0] == 0x1f && head[1] == 0x8b) ||
        (n >= 6 && memcmp(head, "\xfd" "7zXZ\0", 6) == 0) ||
        (n >= 3 && memcmp(head, "BZh", 3) == 0) ||
        (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) ||
        (n >= 6 && memcmp(head, "7z\xbc\xaf\x27\x1c", 6) == 0))
        return 1;
    return n >= 262 && memcmp(head + 257, "ustar", 5) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a copy of `name` to the list, growing it by doubling. */
static int append_name(file_list *list, size_t *capacity, const char *name)
{
    if (list->count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 64;
        char **names = advgnn_realloc(list->names, grown * sizeof(char *));
        if (!names)
            return -1;
        list->names = names;
        *capacity = grown;
    }
    list->names[list->count] = advgnn_strdup(name);
    if (!list->names[list->count])
        return -1;
    list->count++;
    return 0;
}

/* Checks that `path`, named like an image, is a readable regular file. A
 * broken link or a folder named "x.jpg" fails with its name, so users see it. */
static int check_image_entry(advgnn_ctx *ctx, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        struct stat link;
        if (errno == ENOENT && lstat(path, &link) == 0 && S_ISLNK(link.st_mode))
            return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                                "folder: '%s' is a symbolic link whose target is missing; fix or remove the link",
                                path);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "folder: cannot read '%s': %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        return advgnn_failf(ctx, ADVGNN_ERR_IO,
                            "folder: '%s' is a folder, not an image file; rename or move it out of the image folder",
                            path);
    if (!S_ISREG(st.st_mode))
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "folder: '%s' is not a regular file; remove it from the image folder",
                            path);
    if (access(path, R_OK) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "folder: cannot read '%s': %s", path, strerror(errno));
    return ADVGNN_OK;
}

int list_images(advgnn_ctx *ctx, const char *dir, advgnn_string_list extensions, file_list *out)
{
    out->names = NULL;
    out->count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return advgnn_failf(ctx, errno == ENOENT ? ADVGNN_ERR_NOT_FOUND : ADVGNN_ERR_IO,
                            "folder: cannot open folder '%s': %s", dir, strerror(errno));

    size_t capacity = 0;
    int rc = ADVGNN_OK;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.' || !has_extension(entry->d_name, extensions))
            continue;
        char *path = path_join(dir, entry->d_name);
        if (!path) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory listing '%s'", dir);
            break;
        }
        rc = check_image_entry(ctx, path);
        advgnn_free(path);
        if (rc != ADVGNN_OK)
            break;
        if (append_name(out, &capacity, entry->d_name) != 0) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory listing '%s'", dir);
            break;
        }
    }
    closedir(d);
    if (rc != ADVGNN_OK) {
        file_list_free(out);
        return rc;
    }
    if (out->count > 1)
        qsort(out->names, out->count, sizeof(char *), compare_names);
    return ADVGNN_OK;
}

/* Length of the stem of `name` (up to its last '.'; the whole name without one). */
static size_t stem_length(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

/* Returns the length of <stem> when `name` is <stem> + suffix +
 * mask_extension with a non-empty stem, else -1. */
static long mask_stem_length(const char *name, const char *suffix, const char *mask_extension)
{
    size_t len = strlen(name), lx = strlen(mask_extension), lsuffix = strlen(suffix);

    if (len <= lx + lsuffix || strcmp(name + len - lx, mask_extension) != 0)
        return -1;
    size_t stem = len - lx - lsuffix;
    if (strncmp(name + stem, suffix, lsuffix) != 0)
        return -1;
    return (long)stem;
}

/* Returns nonzero when a file of `list` other than list[self] has the stem
 * name[0..stem). */
static int has_stem(const file_list *list, size_t self, const char *name, size_t stem)
{
    for (size_t j = 0; j < list->count; j++) {
        if (j == self)
            continue;
        const char *other = list->names[j];
        if (stem_length(other) == stem && strncmp(other, name, stem) == 0)
            return 1;
    }
    return 0;
}

int drop_masks(advgnn_ctx *ctx, file_list *list, const char *const *suffixes, size_t suffix_count,
               const char *mask_extension, mask_scan *scan)
{
    memset(scan, 0, sizeof(*scan));

    /* Decide for every file against the full list first, then compact, so
     * removing one file never changes the decision for another. */
    char *keep = advgnn_calloc(list->count ? list->count : 1, 1);
    if (!keep)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory matching masks");
    for (size_t i = 0; i < list->count; i++) {
        const char *name = list->names[i];
        int is_mask = 0, named_like_mask = 0;
        for (size_t k = 0; k < suffix_count && !is_mask; k++) {
            long stem = mask_stem_length(name, suffixes[k], mask_extension);
            if (stem < 0)
                continue;
            is_mask = has_stem(list, i, name, (size_t)stem);
            /* With an empty suffix every PNG would look like a mask. */
            named_like_mask |= suffixes[k][0] != '\0';
        }
        keep[i] = !is_mask;
        if (is_mask) {
            scan->masks++;
        } else if (named_like_mask) {
            if (scan->orphans == 0)
                snprintf(scan->orphan, sizeof(scan->orphan), "%s", name);
            scan->orphans++;
        }
    }

    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (keep[i])
            list->names[kept++] = list->names[i];
        else
            advgnn_free(list->names[i]);
    }
    list->count = kept;
    advgnn_free(keep);
    return ADVGNN_OK;
}

char *mask_name(const char *image_name, const char *suffix, const char *mask_extension)
{
    size_t stem = stem_length(image_name), ls = strlen(suffix), lx = strlen(mask_extension);
    char *out = advgnn_malloc(stem + ls + lx + 1);

    if (!out)
        return NULL;
    memcpy(out, image_name, stem);
    memcpy(out + stem, suffix, ls);
    memcpy(out + stem + ls, mask_extension, lx + 1);
    return out;
}
