/* Folder and archive sources: the same listing and bytes from a folder and
 * from .tar, .tar.xz and .zip archives of it (made here with libarchive from
 * real MVTec AD files), and the refusal of unsafe or broken archives. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advgnn/advgnn.h"
#include "advgnn/source.h"
#include "check.h"
#include "util/fsutil.h"

#define BOTTLE ADVGNN_SHARED_DATA "/mvtec_ad/bottle"

static char tmpdir[] = "/tmp/advgnn_source_XXXXXX";

typedef enum { FMT_TAR, FMT_TAR_XZ, FMT_ZIP } test_format;

/* ---- writing archives -------------------------------------------------- */

static struct archive *writer_new(const char *path, test_format fmt)
{
    struct archive *w = archive_write_new();

    if (fmt == FMT_ZIP) {
        archive_write_set_format_zip(w);
    } else {
        archive_write_set_format_pax_restricted(w);
        if (fmt == FMT_TAR_XZ) {
            /* PNG data does not compress further; the fastest preset keeps the test quick. */
            archive_write_add_filter_xz(w);
            archive_write_set_filter_option(w, "xz", "compression-level", "0");
        }
    }
    if (archive_write_open_filename(w, path) != ARCHIVE_OK) {
        fprintf(stderr, "cannot create %s: %s\n", path, archive_error_string(w));
        exit(1);
    }
    return w;
}

static void write_entry(struct archive *w, const char *name, const void *data, size_t size, mode_t type)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)size : 0);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, "train/good/000.png");
    CHECK(archive_write_header(w, e) == ARCHIVE_OK);
    if (type == AE_IFREG && size)
        CHECK(archive_write_data(w, data, size) == (la_ssize_t)size);
    archive_entry_free(e);
}

/* Packs the files of BOTTLE/<sub> for each listed subfolder, under "bottle/". */
static void pack_bottle(advgnn_ctx *ctx, const char *path, test_format fmt)
{
    static const char *subs[] = {"train/good", "test/good", "test/broken_large"};
    struct archive *w = writer_new(path, fmt);

    for (size_t s = 0; s < sizeof(subs) / sizeof(subs[0]); s++) {
        char dir[1024];
        char **names;
        size_t n;

        snprintf(dir, sizeof(dir), "%s/%s", BOTTLE, subs[s]);
        CHECK_INT_EQ(advgnn_fs_list_dir(ctx, dir, NULL, &names, &n), ADVGNN_OK);
        for (size_t i = 0; i < n && i < 2; i++) {
            char file[1200], entry[1200];
            char *data;
            size_t size;
            snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
            snprintf(entry, sizeof(entry), "./bottle/%s/%s", subs[s], names[i]);
            CHECK_INT_EQ(advgnn_fs_read_file(ctx, file, 64 << 20, &data, &size), ADVGNN_OK);
            write_entry(w, entry, data, size, AE_IFREG);
            advgnn_free(data);
        }
        advgnn_fs_free_list(names, n);
    }
    archive_write_close(w);
    archive_write_free(w);
}

/* ---- comparing with the folder ----------------------------------------- */

static void compare_with_folder(advgnn_ctx *ctx, const char *archive_path)
{
    advgnn_source *folder, *arch;
    char **fnames, **anames;
    size_t fn, an;

    CHECK_INT_EQ(advgnn_source_open(ctx, ADVGNN_SHARED_DATA "/mvtec_ad", NULL, &folder), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_open(ctx, archive_path, NULL, &arch), ADVGNN_OK);
    if (!folder || !arch) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        exit(1);
    }
    CHECK(advgnn_source_is_archive(arch));
    CHECK(!advgnn_source_is_archive(folder));
    CHECK_INT_EQ(advgnn_source_stat(arch, "bottle/train"), ADVGNN_SOURCE_ENTRY_DIR);
    CHECK_INT_EQ(advgnn_source_stat(arch, "bottle/missing"), ADVGNN_SOURCE_ENTRY_NONE);
    CHECK_INT_EQ(advgnn_source_stat(arch, "bottle/../bottle"), ADVGNN_SOURCE_ENTRY_NONE);

    /* Folders inside bottle/test: the archive holds two of the folder's four. */
    CHECK_INT_EQ(advgnn_source_list(arch, ctx, "bottle/test", ADVGNN_SOURCE_ENTRY_DIR, &anames, &an), ADVGNN_OK);
    CHECK_INT_EQ(an, 2);
    if (an == 2) {
        CHECK(strcmp(anames[0], "broken_large") == 0);
        CHECK(strcmp(anames[1], "good") == 0);
    }
    advgnn_source_free_list(anames, an);

    /* Files of train/good: the first two of the folder's, byte for byte. */
    CHECK_INT_EQ(advgnn_source_list(folder, ctx, "bottle/train/good", ADVGNN_SOURCE_ENTRY_FILE, &fnames, &fn), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_list(arch, ctx, "bottle/train/good", ADVGNN_SOURCE_ENTRY_FILE, &anames, &an), ADVGNN_OK);
    CHECK_INT_EQ(an, 2);
    for (size_t i = 0; i < an && i < fn; i++) {
        char rel[512];
        void *a, *f;
        size_t asz, fsz;

        CHECK(strcmp(anames[i], fnames[i]) == 0);
        snprintf(rel, sizeof(rel), "bottle/train/good/%s", anames[i]);
        CHECK_INT_EQ(advgnn_source_read(arch, ctx, rel, &a, &asz), ADVGNN_OK);
        CHECK_INT_EQ(advgnn_source_read(folder, ctx, rel, &f, &fsz), ADVGNN_OK);
        CHECK_INT_EQ(asz, fsz);
        CHECK(a && f && memcmp(a, f, asz) == 0);

        /* The entry path reads the same bytes through the process-wide table. */
        char *entry = advgnn_source_entry_path(arch, rel);
        void *p;
        size_t psz;
        CHECK(entry && strstr(entry, "!/bottle/train/good/"));
        CHECK_INT_EQ(advgnn_source_read_path(ctx, entry, &p, &psz), ADVGNN_OK);
        CHECK_INT_EQ(psz, fsz);
        CHECK(p && memcmp(p, f, fsz) == 0);

        /* Decoding from the archive gives the same pixels as from the folder. */
        advgnn_image ia = {0}, ib = {0};
        CHECK_INT_EQ(advgnn_image_decode(ctx, p, psz, entry, 0, &ia), ADVGNN_OK);
        CHECK_INT_EQ(advgnn_image_decode(ctx, f, fsz, rel, 0, &ib), ADVGNN_OK);
        CHECK(ia.width == ib.width && ia.height == ib.height && ia.channels == ib.channels);
        CHECK(ia.data && ib.data &&
              memcmp(ia.data, ib.data, (size_t)ia.width * (size_t)ia.height * (size_t)ia.channels) == 0);
        /* The core's image loader takes the entry path like a file path. */
        advgnn_image ic = {0};
        CHECK_INT_EQ(advgnn_image_load_file(ctx, entry, 0, &ic), ADVGNN_OK);
        CHECK(ic.width == ib.width && ic.height == ib.height && ic.channels == ib.channels);
        CHECK(ic.data && ib.data &&
              memcmp(ic.data, ib.data, (size_t)ic.width * (size_t)ic.height * (size_t)ic.channels) == 0);
        advgnn_image_release(&ic);
        advgnn_image_release(&ia);
        advgnn_image_release(&ib);
        advgnn_free(entry);
        advgnn_free(p);
        advgnn_free(a);
        advgnn_free(f);
    }
    advgnn_source_free_list(anames, an);
    advgnn_source_free_list(fnames, fn);

    advgnn_source_close(arch);
    advgnn_source_close(folder);
    advgnn_source_close_all();
}

/* ---- unsafe and broken archives ---------------------------------------- */

static void expect_open_error(const char *path, int status, const char *needle)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_source_options opts = {.max_entry_bytes = 1 << 20};
    advgnn_source *src = NULL;

    CHECK_INT_EQ(advgnn_source_open(ctx, path, &opts, &src), status);
    CHECK(src == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), needle);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), path);
    advgnn_ctx_free(ctx);
}

static void test_unsafe_archives(void)
{
    char path[256];
    static const char payload[] = "not an image";
    struct archive *w;

    snprintf(path, sizeof(path), "%s/dotdot.tar", tmpdir);
    w = writer_new(path, FMT_TAR);
    write_entry(w, "good/../../evil.png", payload, sizeof(payload), AE_IFREG);
    archive_write_close(w);
    archive_write_free(w);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "evil.png");

    snprintf(path, sizeof(path), "%s/absolute.zip", tmpdir);
    w = writer_new(path, FMT_ZIP);
    write_entry(w, "/etc/evil.png", payload, sizeof(payload), AE_IFREG);
    archive_write_close(w);
    archive_write_free(w);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "absolute");

    snprintf(path, sizeof(path), "%s/link.tar", tmpdir);
    w = writer_new(path, FMT_TAR);
    write_entry(w, "train/good/001.png", NULL, 0, AE_IFLNK);
    archive_write_close(w);
    archive_write_free(w);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "link");

    snprintf(path, sizeof(path), "%s/device.tar", tmpdir);
    w = writer_new(path, FMT_TAR);
    write_entry(w, "dev/tty", NULL, 0, AE_IFCHR);
    archive_write_close(w);
    archive_write_free(w);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "device");

    /* An entry larger than the limit of 1 MiB set by expect_open_error. */
    snprintf(path, sizeof(path), "%s/large.tar.xz", tmpdir);
    w = writer_new(path, FMT_TAR_XZ);
    char *big = calloc(1, (2 << 20));
    write_entry(w, "big.bin", big, 2 << 20, AE_IFREG);
    free(big);
    archive_write_close(w);
    archive_write_free(w);
    expect_open_error(path, ADVGNN_ERR_LIMIT, "big.bin");

    /* A path that is a file and also the folder of two other files: the
     * duplicate folder entries are dropped before the clash is found, which
     * once freed a name twice on the error path (found by fuzzing). */
    snprintf(path, sizeof(path), "%s/file-and-folder.tar", tmpdir);
    w = writer_new(path, FMT_TAR);
    write_entry(w, "good/a.png", payload, sizeof(payload), AE_IFREG);
    write_entry(w, "good/b.png", payload, sizeof(payload), AE_IFREG);
    write_entry(w, "good", payload, sizeof(payload), AE_IFREG);
    write_entry(w, "zz/c.png", payload, sizeof(payload), AE_IFREG);
    archive_write_close(w);
    archive_write_free(w);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "both a file and a folder");

    /* An mtree text names files on this machine, which libarchive's mtree
     * reader would open and read; only real archive formats are accepted. */
    char secret[256];
    snprintf(secret, sizeof(secret), "%s/secret.txt", tmpdir);
    FILE *f = fopen(secret, "w");
    CHECK(f != NULL);
    fputs("private\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/spec.mtree", tmpdir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "#mtree\n./good/001.png type=file contents=%s\n", secret);
    fclose(f);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "tar, zip and 7z");
}

static void test_truncated_archive(advgnn_ctx *ctx, const char *full)
{
    char path[256];
    char *data;
    size_t size;

    snprintf(path, sizeof(path), "%s/truncated.tar.xz", tmpdir);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, full, 256 << 20, &data, &size), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, path, data, size / 2), ADVGNN_OK);
    advgnn_free(data);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "truncated");

    /* An empty file is named as such, not as an unrecognized format. */
    snprintf(path, sizeof(path), "%s/empty.tar.xz", tmpdir);
    CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, path, "", 0), ADVGNN_OK);
    expect_open_error(path, ADVGNN_ERR_FORMAT, "is an empty file (0 bytes)");

    expect_open_error("/nonexistent/mvtec.tar.xz", ADVGNN_ERR_NOT_FOUND, "not found");
}

static void test_index_cache(advgnn_ctx *ctx, const char *archive_path)
{
    char cache[256];
    advgnn_source_options opts = {0};
    advgnn_source *src = NULL;
    char **names;
    size_t n;

    snprintf(cache, sizeof(cache), "%s/index.json", tmpdir);
    opts.index_cache = cache;
    CHECK_INT_EQ(advgnn_source_open(ctx, archive_path, &opts, &src), ADVGNN_OK);
    advgnn_source_close(src);
    CHECK(advgnn_fs_is_file(cache));

    /* The second open reads the cache; the listing must be the same. */
    CHECK_INT_EQ(advgnn_source_open(ctx, archive_path, &opts, &src), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_list(src, ctx, "bottle/test/good", ADVGNN_SOURCE_ENTRY_FILE, &names, &n), ADVGNN_OK);
    CHECK_INT_EQ(n, 2);
    advgnn_source_free_list(names, n);
    advgnn_source_close(src);

    /* A cache naming an unsafe entry is ignored, not trusted. */
    static const char forged[] = "{\"size\":1,\"mtime\":1,\"entries\":[{\"name\":\"../x\",\"size\":1}]}";
    CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, cache, forged, strlen(forged)), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_open(ctx, archive_path, &opts, &src), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_stat(src, "bottle/train/good"), ADVGNN_SOURCE_ENTRY_DIR);
    advgnn_source_close(src);
}

/* With a default cache folder, the second open of an archive reads the index
 * written by the first: a forged entry in the cache file shows up. */
static void test_default_cache_dir(advgnn_ctx *ctx, const char *archive_path)
{
    advgnn_source *src = NULL;
    char **names, **cached;
    size_t n, count;
    char *text;
    size_t size;

    /* A modification time whose seconds as one double print differently at
     * 15 significant digits: the cache once missed such archives. */
    const struct timespec stamp[2] = {{1764800000, 79784}, {1764800000, 79784}};
    CHECK_INT_EQ(utimensat(AT_FDCWD, archive_path, stamp, 0), 0);

    CHECK_INT_EQ(advgnn_source_set_index_cache_dir(tmpdir), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_open(ctx, archive_path, NULL, &src), ADVGNN_OK);
    advgnn_source_close(src);

    CHECK_INT_EQ(advgnn_fs_list_dir(ctx, tmpdir, (const char *const[]){".index.json", NULL}, &cached, &count),
                 ADVGNN_OK);
    CHECK_INT_EQ(count, 1);
    if (count == 1) {
        char *path = advgnn_fs_join(tmpdir, cached[0]);
        CHECK(strstr(cached[0], "bottle.tar.xz-") == cached[0]);
        CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 1 << 20, &text, &size), ADVGNN_OK);

        /* Insert one more entry; the size and mtime fields stay valid. */
        char *at = strstr(text, "\"entries\":[");
        CHECK(at != NULL);
        if (at) {
            char forged[1 << 16];
            size_t head = (size_t)(at - text) + strlen("\"entries\":[");
            snprintf(forged, sizeof(forged), "%.*s{\"name\":\"bottle/cached/x.png\",\"size\":1,\"dir\":false},%s",
                     (int)head, text, text + head);
            CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, path, forged, strlen(forged)), ADVGNN_OK);
        }
        advgnn_free(text);
        advgnn_free(path);
    }
    advgnn_fs_free_list(cached, count);

    CHECK_INT_EQ(advgnn_source_open(ctx, archive_path, NULL, &src), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_source_list(src, ctx, "bottle/cached", ADVGNN_SOURCE_ENTRY_FILE, &names, &n), ADVGNN_OK);
    CHECK_INT_EQ(n, 1);
    advgnn_source_free_list(names, n);
    advgnn_source_close(src);
    CHECK_INT_EQ(advgnn_source_set_index_cache_dir(NULL), ADVGNN_OK);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    static const test_format formats[] = {FMT_TAR, FMT_TAR_XZ, FMT_ZIP};
    static const char *names[] = {"bottle.tar", "bottle.tar.xz", "bottle.zip"};
    char path[256];

    if (!advgnn_fs_is_dir(BOTTLE)) {
        fprintf(stderr, "skipped: %s not found\n", BOTTLE);
        return 77;
    }
    CHECK(mkdtemp(tmpdir) != NULL);

    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        pack_bottle(ctx, path, formats[i]);
        compare_with_folder(ctx, path);
    }
    snprintf(path, sizeof(path), "%s/bottle.tar.xz", tmpdir);
    test_index_cache(ctx, path);
    test_default_cache_dir(ctx, path);
    test_truncated_archive(ctx, path);
    test_unsafe_archives();

    advgnn_ctx_free(ctx);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_DONE();
}
