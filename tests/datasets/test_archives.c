/* The same dataset read from its folder and from archives of it. Real
 * category folders of the shared data are packed here into .tar.xz and .zip
 * with libarchive. The samples listed from an archive (split, type, name, and
 * the bytes of each image and mask read through advgnn_source_read_path)
 * must equal those listed from the folder. mvtec_loco also decodes its masks through
 * load(), and kolektor decodes its labels while listing. */
#include <archive.h>
#include <archive_entry.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include "advgnn/source.h"
#include "dataset_harness.h"
#include "layout_builder.h"

static advgnn_ctx *ctx;
static struct archive *writer;
static size_t source_prefix; /* length of the folder path above the packed folder */

/* ---- packing ---------------------------------------------------------------- */

static int add_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F)
        return 0;

    FILE *f = fopen(path, "rb");
    char *data = malloc((size_t)st->st_size + 1);
    size_t size = f && data ? fread(data, 1, (size_t)st->st_size, f) : 0;
    if (f)
        fclose(f);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path + source_prefix);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    CHECK(archive_write_header(writer, e) == ARCHIVE_OK);
    CHECK(archive_write_data(writer, data, size) == (la_ssize_t)size);
    archive_entry_free(e);
    free(data);
    return 0;
}

/* Packs parent/<folder> into `archive_path` with entries named <folder>/... */
static void pack(const char *parent, const char *folder, const char *archive_path, int zip)
{
    char path[1024];

    writer = archive_write_new();
    if (zip) {
        archive_write_set_format_zip(writer);
    } else {
        archive_write_set_format_pax_restricted(writer);
        archive_write_add_filter_xz(writer);
        /* PNG and JPEG data do not compress further; the fastest preset keeps the test quick. */
        archive_write_set_filter_option(writer, "xz", "compression-level", "0");
    }
    if (archive_write_open_filename(writer, archive_path) != ARCHIVE_OK) {
        fprintf(stderr, "cannot create %s: %s\n", archive_path, archive_error_string(writer));
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s", parent, folder);
    source_prefix = strlen(parent) + 1;
    CHECK(nftw(path, add_file, 16, FTW_PHYS) == 0);
    CHECK(archive_write_close(writer) == ARCHIVE_OK);
    archive_write_free(writer);
}

/* ---- comparing -------------------------------------------------------------- */

static void read_bytes(const char *path, void **data, size_t *size)
{
    int rc = advgnn_source_read_path(ctx, path, data, size);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
}

/* Checks that an archive entry path names the same file as the folder path. */
static void check_same_file(const char *folder_path, const char *archive_path)
{
    void *a = NULL, *b = NULL;
    size_t a_size = 0, b_size = 0;

    CHECK(strstr(archive_path, ADVGNN_SOURCE_ARCHIVE_SEPARATOR) != NULL);
    read_bytes(folder_path, &a, &a_size);
    read_bytes(archive_path, &b, &b_size);
    CHECK_INT_EQ(a_size, b_size);
    CHECK(a != NULL);
    CHECK(b != NULL);
    CHECK(a && b && a_size == b_size && memcmp(a, b, a_size) == 0); /* the same bytes */
    advgnn_free(a);
    advgnn_free(b);
}

/* Compares two listings sample by sample; returns the number compared. */
static size_t compare_stores(const advgnn_sample_store *folder, const advgnn_sample_store *archive)
{
    static const advgnn_split splits[] = {ADVGNN_SPLIT_TRAIN, ADVGNN_SPLIT_VALIDATION, ADVGNN_SPLIT_TEST};
    size_t compared = 0;

    CHECK_INT_EQ(advgnn_sample_store_count(folder), advgnn_sample_store_count(archive));
    CHECK_INT_EQ(advgnn_sample_store_category_count(folder), advgnn_sample_store_category_count(archive));
    for (size_t c = 0; c < advgnn_sample_store_category_count(folder); c++) {
        for (size_t s = 0; s < 3; s++) {
            const advgnn_sample *a, *b;
            size_t na, nb;
            advgnn_sample_store_split(folder, c, splits[s], &a, &na);
            advgnn_sample_store_split(archive, c, splits[s], &b, &nb);
            CHECK_INT_EQ(na, nb);
            for (size_t i = 0; i < na && i < nb; i++) {
                CHECK(strcmp(a[i].name, b[i].name) == 0);
                CHECK(strcmp(a[i].defect_type, b[i].defect_type) == 0);
                CHECK_INT_EQ(a[i].anomalous, b[i].anomalous);
                CHECK_INT_EQ(a[i].mask_threshold, b[i].mask_threshold);
                check_same_file(a[i].image_path, b[i].image_path);
                CHECK((a[i].mask_path == NULL) == (b[i].mask_path == NULL));
                if (a[i].mask_path && b[i].mask_path)
                    check_same_file(a[i].mask_path, b[i].mask_path);
                compared++;
            }
        }
    }
    return compared;
}

/* Lists the dataset from `folder_root` and from an archive of it. */
static void compare_dataset(const char *plugin, const char *folder_root, const char *archive_root,
                            const test_option *extra, size_t extra_count, size_t expected)
{
    test_dataset ds;
    test_option options[4] = {OPT_STRING("root", folder_root)};
    advgnn_sample_store *from_folder = NULL, *from_archive = NULL;

    if (!test_dataset_load(&ds, plugin)) {
        check_failures++;
        return;
    }
    for (size_t i = 0; i < extra_count; i++)
        options[1 + i] = extra[i];
    CHECK_INT_EQ(test_dataset_list(ctx, &ds, options, 1 + extra_count, &from_folder), ADVGNN_OK);
    options[0].string = archive_root;
    int rc = test_dataset_list(ctx, &ds, options, 1 + extra_count, &from_archive);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s on %s: %s\n", plugin, archive_root, advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (from_folder && from_archive)
        CHECK_INT_EQ(compare_stores(from_folder, from_archive), expected);
    advgnn_sample_store_free(from_folder);
    advgnn_sample_store_free(from_archive);
    dlclose(ds.handle);
}

/* load() of mvtec_loco gives the same pixels and union mask from both. */
static void compare_loco_load(const char *folder_root, const char *archive_root)
{
    test_dataset ds;
    const char *roots[2] = {folder_root, archive_root};
    advgnn_image images[2] = {{0}}, masks[2] = {{0}};

    if (!test_dataset_load(&ds, "mvtec_loco")) {
        check_failures++;
        return;
    }
    for (int r = 0; r < 2; r++) {
        advgnn_options *opts = harness_options(ctx, ds.desc);
        advgnn_value root = {.kind = ADVGNN_VALUE_STRING, .string = roots[r]};
        advgnn_sample_info info = {.category = "juice_bottle", .split = ADVGNN_SPLIT_TEST, .anomalous = 1,
                                   .defect_type = "logical_anomalies", .name = "test/logical_anomalies/003.png"};
        void *state = NULL;

        CHECK_INT_EQ(advgnn_options_set(opts, ctx, "root", &root), ADVGNN_OK);
        CHECK_INT_EQ(ds.fn->open(ctx, opts, &state), ADVGNN_OK);
        if (state)
            CHECK_INT_EQ(ds.fn->load(state, ctx, &info, &images[r], &masks[r]), ADVGNN_OK);
        if (state)
            ds.fn->close(state);
        advgnn_options_free(opts);
    }
    size_t image_bytes = (size_t)images[0].width * images[0].height * images[0].channels;
    size_t mask_bytes = (size_t)masks[0].width * masks[0].height * masks[0].channels;
    CHECK(image_bytes > 0);
    CHECK(mask_bytes > 0);
    CHECK(images[1].data != NULL);
    CHECK(masks[1].data != NULL);
    CHECK(images[1].data && memcmp(images[0].data, images[1].data, image_bytes) == 0); /* the same pixels */
    CHECK(masks[1].data && memcmp(masks[0].data, masks[1].data, mask_bytes) == 0);
    for (int r = 0; r < 2; r++) {
        advgnn_image_release(&images[r]);
        advgnn_image_release(&masks[r]);
    }
    dlclose(ds.handle);
}

/* A training folder without PNG images inside an archive is named by its
 * entry path, "<archive>!/<folder>", as every other message names members. */
static void check_empty_train_message(const char *dir)
{
    char folder[256], archive[256], expected[512];
    test_dataset ds;

    snprintf(folder, sizeof(folder), "%s/empty_train", dir);
    builder_write_text(folder, "bottle/train/good/notes.txt", "not an image");
    builder_copy(ADVGNN_SHARED_DATA "/mvtec_ad/bottle/test/good/000.png", folder, "bottle/test/good/000.png");
    snprintf(archive, sizeof(archive), "%s/empty_train.tar.xz", dir);
    pack(folder, "bottle", archive, 0);

    CHECK(test_dataset_load(&ds, "mvtec_ad"));
    if (!ds.desc)
        return;
    test_option options[] = {OPT_STRING("root", archive)};
    snprintf(expected, sizeof(expected), "no PNG images in '%s!/bottle/train/good'", archive);
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_NOT_FOUND, expected);
    dlclose(ds.handle);
}

int main(void)
{
    char dir[] = "/tmp/advgnn_dataset_archives_XXXXXX";
    char tar_xz[256], zip[256], kolektor_folder[256], kolektor_zip[256];

    if (!test_have_shared_data()) {
        fprintf(stderr, "skipped: no shared data at %s\n", ADVGNN_SHARED_DATA);
        return 77;
    }
    ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    if (!mkdtemp(dir))
        return 1;

    /* juice_bottle: 8 train, 2 validation and 4 test images. A zip reads
     * each entry on its own; the 13 MB of a .tar.xz would be decompressed
     * again for every file read, so the .tar.xz case uses the smaller
     * KolektorSDD items below. */
    snprintf(zip, sizeof(zip), "%s/mvtec_loco.zip", dir);
    pack(ADVGNN_SHARED_DATA "/mvtec_loco", "juice_bottle", zip, 1);
    compare_dataset("mvtec_loco", ADVGNN_SHARED_DATA "/mvtec_loco", zip, NULL, 0, 14);
    compare_loco_load(ADVGNN_SHARED_DATA "/mvtec_loco", zip);

    /* Two KolektorSDD items in a zip with a folder around them, as
     * downloads often are. */
    snprintf(kolektor_folder, sizeof(kolektor_folder), "%s/KolektorSDD", dir);
    for (int item = 1; item <= 2; item++) {
        for (int part = 0; part < 8; part++) {
            char source[512], rel[64];
            snprintf(source, sizeof(source), ADVGNN_SHARED_DATA "/kolektorsdd/kos%02d/Part%d.jpg", item, part);
            snprintf(rel, sizeof(rel), "kos%02d/Part%d.jpg", item, part);
            builder_copy(source, kolektor_folder, rel);
            snprintf(source, sizeof(source), ADVGNN_SHARED_DATA "/kolektorsdd/kos%02d/Part%d_label.bmp", item, part);
            snprintf(rel, sizeof(rel), "kos%02d/Part%d_label.bmp", item, part);
            builder_copy(source, kolektor_folder, rel);
        }
    }
    snprintf(kolektor_zip, sizeof(kolektor_zip), "%s/KolektorSDD.zip", dir);
    snprintf(tar_xz, sizeof(tar_xz), "%s/KolektorSDD.tar.xz", dir);
    pack(dir, "KolektorSDD", kolektor_zip, 1);
    pack(dir, "KolektorSDD", tar_xz, 0);
    compare_dataset("kolektor", kolektor_folder, kolektor_zip, NULL, 0, 16);
    compare_dataset("kolektor", kolektor_folder, tar_xz, NULL, 0, 16);

    check_empty_train_message(dir);

    advgnn_source_close_all();
    builder_remove(dir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
