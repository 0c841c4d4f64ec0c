/* Builds dataset layouts in temporary folders from real image files: copies
 * a file to a relative path (creating its folders), writes text files, and
 * removes the tree afterwards. A failure exits the test, because every later
 * check would depend on the missing file. */
#ifndef ADVGNN_TEST_LAYOUT_BUILDER_H
#define ADVGNN_TEST_LAYOUT_BUILDER_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Creates every folder of `path` up to its last '/'. */
static inline void builder_mkdirs(const char *path)
{
    char buf[4096];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        /* An existing folder is fine; a real failure shows when the file is written. */
        (void)mkdir(buf, 0755);
        *p = '/';
    }
}

/* Creates the folders of dir/rel; rel ends with '/' to create it too. */
static inline void builder_mkdirs_of(const char *dir, const char *rel)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    builder_mkdirs(path);
}

static inline void builder_write(const char *dir, const char *rel, const void *data, size_t size)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    builder_mkdirs(path);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "layout builder: cannot write %s\n", path);
        exit(1);
    }
}

static inline void builder_write_text(const char *dir, const char *rel, const char *text)
{
    builder_write(dir, rel, text, strlen(text));
}

/* Copies the file `source` to dir/rel. */
static inline void builder_copy(const char *source, const char *dir, const char *rel)
{
    FILE *f = fopen(source, "rb");
    char *data = NULL;
    long size = -1;

    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)size + 1);
        if (data && fread(data, 1, (size_t)size, f) != (size_t)size)
            size = -1;
    }
    if (f)
        fclose(f);
    if (!data || size < 0) {
        fprintf(stderr, "layout builder: cannot read %s\n", source);
        exit(1);
    }
    builder_write(dir, rel, data, (size_t)size);
    free(data);
}

static inline int builder_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the folder and everything below it. */
static inline void builder_remove(const char *dir)
{
    nftw(dir, builder_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
