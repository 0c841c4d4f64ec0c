/* Folders, whole-file reads and atomic writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advgnn/status.h"
#include "util/fsutil.h"

int advgnn_fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int advgnn_fs_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *advgnn_fs_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *out = advgnn_malloc(la + (size_t)slash + lb + 1);

    if (!out)
        return NULL;
    memcpy(out, a, la);
    if (slash)
        out[la] = '/';
    memcpy(out + la + slash, b, lb + 1);
    return out;
}

int advgnn_fs_mkdir_p(advgnn_ctx *ctx, const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid folder path '%s'", path);
    memcpy(buf, path, len + 1);

    /* Create each prefix that ends at a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
        buf[i] = saved;
    }
    if (!advgnn_fs_is_dir(path))
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "'%s' exists and is not a folder", path);
    return ADVGNN_OK;
}

int advgnn_fs_read_file(advgnn_ctx *ctx, const char *path, size_t max_size, char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    *data = NULL;
    *size = 0;
    if (!f)
        return advgnn_failf(ctx, errno == ENOENT ? ADVGNN_ERR_NOT_FOUND : ADVGNN_ERR_IO, "cannot open '%s': %s",
                            path, strerror(errno));

    /* fopen succeeds on a folder, and ftell then reports a huge size. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read '%s': not a regular file", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read '%s': not a seekable file", path);
    }
    if ((size_t)len > max_size) {
        fclose(f);
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "'%s' is %ld bytes, more than the limit of %zu bytes", path,
                            len, max_size);
    }

    buf = advgnn_malloc((size_t)len + 1);
    if (!buf) {
        fclose(f);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading '%s' (%ld bytes)", path, len);
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        int err = ferror(f) ? errno : EIO;
        fclose(f);
        advgnn_free(buf);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read '%s': %s", path, strerror(err));
    }
    fclose(f);
    buf[len] = '\0';
    *data = buf;
    *size = (size_t)len;
    return ADVGNN_OK;
}

int advgnn_fs_write_atomic(advgnn_ctx *ctx, const char *path, const void *data, size_t size)
{
    char tmp[4096];
    const unsigned char *p = data;
    size_t done = 0;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "path too long: '%s'", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));

    while (done < size) {
        ssize_t n = write(fd, p + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write '%s': %s", path, strerror(err));
        }
        done += (size_t)n;
    }

    if (fsync(fd) != 0 || close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(err));
    }
    return ADVGNN_OK;
}

static int has_extension(const char *name, const char *const *extensions)
{
    size_t len = strlen(name);

    if (!extensions)
        return 1;
    for (size_t i = 0; extensions[i]; i++) {
        size_t el = strlen(extensions[i]);
        if (len >= el && strcasecmp(name + len - el, extensions[i]) == 0)
            return 1;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void advgnn_fs_free_list(char **names, size_t count)
{
    if (!names)
        return;
    for (size_t i = 0; i < count; i++)
        advgnn_free(names[i]);
    advgnn_free(names);
}

/* Lists the files (with one of the extensions) or the subfolders of `dir`, sorted by name. */
static int list_entries(advgnn_ctx *ctx, const char *dir, const char *const *extensions, int want_dirs,
                        char ***names, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    char **list = NULL;
    size_t n = 0, cap = 0;

    *names = NULL;
    *count = 0;
    if (!d)
        return advgnn_failf(ctx, errno == ENOENT ? ADVGNN_ERR_NOT_FOUND : ADVGNN_ERR_IO,
                            "cannot open folder '%s': %s", dir, strerror(errno));

    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.' || (!want_dirs && !has_extension(ent->d_name, extensions)))
            continue;
        char *full = advgnn_fs_join(dir, ent->d_name);
        int keep = full && (want_dirs ? advgnn_fs_is_dir(full) : advgnn_fs_is_file(full));
        advgnn_free(full);
        if (!keep)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = advgnn_realloc(list, ncap * sizeof(*list));
            if (!grown)
                goto nomem;
            list = grown;
            cap = ncap;
        }
        list[n] = advgnn_strdup(ent->d_name);
        if (!list[n])
            goto nomem;
        n++;
    }
    closedir(d);

    if (n > 0)
        qsort(list, n, sizeof(*list), compare_names);
    *names = list;
    *count = n;
    return ADVGNN_OK;

nomem:
    closedir(d);
    advgnn_fs_free_list(list, n);
    return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing folder '%s'", dir);
}

int advgnn_fs_list_dir(advgnn_ctx *ctx, const char *dir, const char *const *extensions, char ***names,
                       size_t *count)
{
    return list_entries(ctx, dir, extensions, 0, names, count);
}

int advgnn_fs_list_subdirs(advgnn_ctx *ctx, const char *dir, char ***names, size_t *count)
{
    return list_entries(ctx, dir, NULL, 1, names, count);
}
