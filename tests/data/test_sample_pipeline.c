/* The background prefetch and the on-disk sample cache, on real MVTec 3D-AD
 * tire images (RGB PNGs with masks) copied to a temporary folder so that
 * tests can change them:
 *
 * - a prefetched split, and a category whose test split is prefetched, hold
 *   the same bytes as a foreground load, on one and several threads;
 * - a warm cache gives the bytes of decoding, for every split;
 * - a changed file time, changed file content, image size or normalization
 *   invalidates the cached samples it affects;
 * - damaged, truncated and foreign cache files are rebuilt with a warning;
 * - a broken image found by the background thread fails with the message of
 *   a foreground load, naming the first broken file in sample order;
 * - cancelling a running prefetch joins its thread. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "data/category_data.h"
#include "data/sample_cache.h"
#include "data/sample_store.h"
#include "util/fsutil.h"

#define TIRE ADVGNN_SHARED_DATA "/mvtec_3d_ad/tire"
#define SIZE 48 /* resized side in pixels; small, so decoding dominates */

/* Train images and test images (type, count) copied from the tire category. */
#define TRAIN_COUNT 4
static const struct {
    const char *type;
    int count;
} test_types[] = {{"good", 2}, {"cut", 2}, {"hole", 2}};

typedef struct fixture {
    advgnn_ctx *ctx;
    char root[256];  /* the copied images */
    char cache[300]; /* the cache folder */
    advgnn_sample_store *store;
    char log[8192]; /* log lines of ctx since the last clear */
} fixture;

/* ---- helpers ------------------------------------------------------------- */

static void keep_line(void *user, advgnn_log_level level, const char *line)
{
    fixture *fx = user;
    size_t used = strlen(fx->log);

    (void)level;
    snprintf(fx->log + used, sizeof(fx->log) - used, "%s\n", line);
}

static int copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t size = 0;
    advgnn_ctx *ctx = advgnn_ctx_new();
    int rc = advgnn_fs_read_file(ctx, from, 64u << 20, &data, &size);

    if (rc == ADVGNN_OK)
        rc = advgnn_fs_write_atomic(ctx, to, data, size);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "copy %s -> %s: %s\n", from, to, advgnn_ctx_error(ctx));
    advgnn_free(data);
    advgnn_ctx_free(ctx);
    return rc;
}

static void add_sample(fixture *fx, advgnn_split split, const char *type, int index, int with_mask)
{
    char name[64], image[512], mask[512];

    snprintf(name, sizeof(name), "%s/%03d.png", type, index);
    snprintf(image, sizeof(image), "%s/%s_%03d.png", fx->root, type, index);
    snprintf(mask, sizeof(mask), "%s/%s_%03d_mask.png", fx->root, type, index);
    int anomalous = split == ADVGNN_SPLIT_TEST && strcmp(type, "good") != 0;
    advgnn_sample_info info = {.category = "tire", .split = split, .anomalous = anomalous,
                               .defect_type = anomalous ? type : "good", .name = name, .image_path = image,
                               .mask_path = with_mask ? mask : NULL, .mask_threshold = 127};
    CHECK_INT_EQ(advgnn_sample_sink_add(fx->store, &info), ADVGNN_OK);
}

/* Copies the images and lists them: train/good, then the test types with
 * masks for the defective ones. */
static void build_dataset(fixture *fx)
{
    char from[512], to[512];

    CHECK_INT_EQ(advgnn_sample_store_new(fx->ctx, "tire", 1, &fx->store), ADVGNN_OK);
    for (int i = 0; i < TRAIN_COUNT; i++) {
        snprintf(from, sizeof(from), TIRE "/train/good/rgb/%03d.png", i);
        snprintf(to, sizeof(to), "%s/train_%03d.png", fx->root, i);
        CHECK_INT_EQ(copy_file(from, to), ADVGNN_OK);
        add_sample(fx, ADVGNN_SPLIT_TRAIN, "train", i, 0);
    }
    for (size_t t = 0; t < sizeof(test_types) / sizeof(test_types[0]); t++) {
        const char *type = test_types[t].type;
        int defective = strcmp(type, "good") != 0;
        for (int i = 0; i < test_types[t].count; i++) {
            snprintf(from, sizeof(from), TIRE "/test/%s/rgb/%03d.png", type, i);
            snprintf(to, sizeof(to), "%s/%s_%03d.png", fx->root, type, i);
            CHECK_INT_EQ(copy_file(from, to), ADVGNN_OK);
            if (defective) {
                snprintf(from, sizeof(from), TIRE "/test/%s/gt/%03d.png", type, i);
                snprintf(to, sizeof(to), "%s/%s_%03d_mask.png", fx->root, type, i);
                CHECK_INT_EQ(copy_file(from, to), ADVGNN_OK);
            }
            add_sample(fx, ADVGNN_SPLIT_TEST, type, i, defective);
        }
    }
    CHECK_INT_EQ(advgnn_sample_store_finish(fx->store, fx->ctx), ADVGNN_OK);
}

static advgnn_sample_loader make_loader(const char *cache_dir, int size, int threads)
{
    advgnn_sample_loader loader = {.dataset_name = "tire", .pp = advgnn_run_preprocess(size, 0),
                                   .threads = threads, .cache_dir = cache_dir};

    advgnn_preprocess_output_size(&loader.pp, size, size, &loader.height, &loader.width);
    return loader;
}

static void split_samples(const fixture *fx, advgnn_split split, const advgnn_sample **samples, size_t *count)
{
    advgnn_sample_store_split(fx->store, 0, split, samples, count);
}

static int load(fixture *fx, const advgnn_sample_loader *loader, advgnn_split split, advgnn_split_data *out)
{
    const advgnn_sample *samples;
    size_t count;

    split_samples(fx, split, &samples, &count);
    advgnn_ctx_clear_error(fx->ctx);
    fx->log[0] = '\0';
    return advgnn_split_data_load(fx->ctx, loader, split, samples, count, out);
}

static int load_prefetched(fixture *fx, const advgnn_sample_loader *loader, advgnn_split split,
                           advgnn_split_data *out)
{
    const advgnn_sample *samples;
    size_t count;
    advgnn_split_prefetch *prefetch = NULL;

    split_samples(fx, split, &samples, &count);
    advgnn_ctx_clear_error(fx->ctx);
    fx->log[0] = '\0';
    int rc = advgnn_split_prefetch_start(fx->ctx, loader, split, samples, count, &prefetch);
    if (rc != ADVGNN_OK)
        return rc;

    /* Let the thread decode a few samples alone, as during training. */
    nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL);
    return advgnn_split_prefetch_finish(prefetch, fx->ctx, out);
}

/* Checks that two loads of one split hold the same bytes. */
static void check_same(const advgnn_split_data *a, const advgnn_split_data *b)
{
    size_t pixels = (size_t)a->height * (size_t)a->width;

    CHECK_INT_EQ(a->count, b->count);
    CHECK_INT_EQ(a->height, b->height);
    CHECK_INT_EQ(a->width, b->width);
    CHECK_INT_EQ(a->missing_masks, b->missing_masks);
    if (a->count != b->count || a->height != b->height || a->width != b->width || !a->images || !b->images)
        return;
    CHECK(memcmp(a->images, b->images, a->count * 3 * pixels * sizeof(float)) == 0);
    CHECK(memcmp(a->labels, b->labels, a->count) == 0);
    CHECK((a->masks == NULL) == (b->masks == NULL));
    if (a->masks && b->masks) {
        CHECK(memcmp(a->masks, b->masks, a->count * pixels) == 0);
        CHECK(memcmp(a->has_mask, b->has_mask, a->count) == 0);
    }
}

/* Returns the one cache file of the folder, or "" when there is not one. */
static void cache_file(const fixture *fx, const advgnn_sample_loader *loader, advgnn_split split, char *path,
                       size_t size)
{
    advgnn_split_data data = {.split = split, .height = loader->height, .width = loader->width};
    split_samples(fx, split, &data.samples, &data.count);
    char *p = advgnn_sample_cache_path(loader, &data);
    snprintf(path, size, "%s", p ? p : "");
    advgnn_free(p);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- prefetch ------------------------------------------------------------ */

static void test_prefetch_matches_foreground(fixture *fx)
{
    for (int threads = 1; threads <= 3; threads += 2) {
        advgnn_sample_loader loader = make_loader(NULL, SIZE, threads);
        advgnn_split_data foreground, background;

        CHECK_INT_EQ(load(fx, &loader, ADVGNN_SPLIT_TEST, &foreground), ADVGNN_OK);
        CHECK_INT_EQ(load_prefetched(fx, &loader, ADVGNN_SPLIT_TEST, &background), ADVGNN_OK);
        check_same(&foreground, &background);
        CHECK(foreground.masks != NULL);
        CHECK_INT_EQ(foreground.missing_masks, 0);
        advgnn_split_data_release(&foreground);
        advgnn_split_data_release(&background);
    }
}

static void test_category_prefetch(fixture *fx)
{
    advgnn_sample_loader loader = make_loader(NULL, SIZE, 2);
    advgnn_category_data plain, prefetched;

    CHECK_INT_EQ(advgnn_category_data_load(fx->ctx, &loader, fx->store, 0, &plain), ADVGNN_OK);
    loader.prefetch = 1;
    CHECK_INT_EQ(advgnn_category_data_load(fx->ctx, &loader, fx->store, 0, &prefetched), ADVGNN_OK);
    CHECK(prefetched.test_prefetch != NULL);
    CHECK_INT_EQ(prefetched.test.count, 0);
    CHECK_INT_EQ(prefetched.test_count, plain.test.count);
    check_same(&plain.train, &prefetched.train);
    CHECK_INT_EQ(advgnn_category_data_wait_test(fx->ctx, &prefetched), ADVGNN_OK);
    CHECK(prefetched.test_prefetch == NULL);
    check_same(&plain.test, &prefetched.test);

    /* A second wait does nothing. */
    CHECK_INT_EQ(advgnn_category_data_wait_test(fx->ctx, &prefetched), ADVGNN_OK);
    advgnn_category_data_release(&plain);
    advgnn_category_data_release(&prefetched);
}

static void test_cancel_joins(fixture *fx)
{
    advgnn_sample_loader loader = make_loader(NULL, SIZE, 2);
    advgnn_category_data data;
    advgnn_split_prefetch *prefetch = NULL;
    const advgnn_sample *samples;
    size_t count;

    /* Cancel at once, and after the thread has started decoding. */
    split_samples(fx, ADVGNN_SPLIT_TEST, &samples, &count);
    CHECK_INT_EQ(advgnn_split_prefetch_start(fx->ctx, &loader, ADVGNN_SPLIT_TEST, samples, count, &prefetch),
                 ADVGNN_OK);
    advgnn_split_prefetch_cancel(prefetch);
    CHECK_INT_EQ(advgnn_split_prefetch_start(fx->ctx, &loader, ADVGNN_SPLIT_TEST, samples, count, &prefetch),
                 ADVGNN_OK);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    advgnn_split_prefetch_cancel(prefetch);
    advgnn_split_prefetch_cancel(NULL);

    /* Releasing a category whose test split is still decoding. */
    loader.prefetch = 1;
    CHECK_INT_EQ(advgnn_category_data_load(fx->ctx, &loader, fx->store, 0, &data), ADVGNN_OK);
    advgnn_category_data_release(&data);
    CHECK(data.test_prefetch == NULL);
}

/* ---- broken images ------------------------------------------------------- */

static void break_file(const char *path)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("not an image", f);
        fclose(f);
    }
}

static void test_background_error(fixture *fx)
{
    char first[512], second[512], saved_first[600], saved_second[600];
    advgnn_sample_loader loader = make_loader(NULL, SIZE, 2);
    advgnn_split_data data;
    char foreground_message[2048];

    /* Break hole/001 and cut/001; in sample order (by name) cut comes first. */
    snprintf(first, sizeof(first), "%s/cut_001.png", fx->root);
    snprintf(second, sizeof(second), "%s/hole_001.png", fx->root);
    snprintf(saved_first, sizeof(saved_first), "%s.saved", first);
    snprintf(saved_second, sizeof(saved_second), "%s.saved", second);
    CHECK_INT_EQ(copy_file(first, saved_first), ADVGNN_OK);
    CHECK_INT_EQ(copy_file(second, saved_second), ADVGNN_OK);
    break_file(second);
    break_file(first);

    CHECK(load(fx, &loader, ADVGNN_SPLIT_TEST, &data) != ADVGNN_OK);
    snprintf(foreground_message, sizeof(foreground_message), "%s", advgnn_ctx_error(fx->ctx));
    CHECK_STR_CONTAINS(foreground_message, "cut_001.png");
    CHECK(data.images == NULL);

    for (int threads = 1; threads <= 2; threads++) {
        loader.threads = threads;
        int rc = load_prefetched(fx, &loader, ADVGNN_SPLIT_TEST, &data);
        CHECK_INT_EQ(rc, ADVGNN_ERR_FORMAT);
        CHECK(strcmp(advgnn_ctx_error(fx->ctx), foreground_message) == 0);
        CHECK(data.images == NULL);
    }

    /* Through the category: the message names dataset, category and split. */
    advgnn_category_data category;
    loader.prefetch = 1;
    advgnn_ctx_clear_error(fx->ctx);
    CHECK_INT_EQ(advgnn_category_data_load(fx->ctx, &loader, fx->store, 0, &category), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_category_data_wait_test(fx->ctx, &category), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "dataset 'tire', category 'tire', test split");
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "cut_001.png");
    advgnn_category_data_release(&category);

    CHECK(rename(saved_first, first) == 0);
    CHECK(rename(saved_second, second) == 0);
}

/* ---- the sample cache ---------------------------------------------------- */

static void test_cache_matches_decoding(fixture *fx)
{
    advgnn_sample_loader plain = make_loader(NULL, SIZE, 2);
    advgnn_sample_loader cached = make_loader(fx->cache, SIZE, 2);
    char path[1024];

    for (advgnn_split split = ADVGNN_SPLIT_TRAIN; split <= ADVGNN_SPLIT_TEST; split += 2) {
        advgnn_split_data expected, cold, warm, warm_prefetched;

        CHECK_INT_EQ(load(fx, &plain, split, &expected), ADVGNN_OK);
        cache_file(fx, &cached, split, path, sizeof(path));
        CHECK(file_size(path) < 0);
        CHECK_INT_EQ(load(fx, &cached, split, &cold), ADVGNN_OK);
        CHECK(file_size(path) > 0);
        CHECK_INT_EQ(load(fx, &cached, split, &warm), ADVGNN_OK);
        CHECK_STR_CONTAINS(fx->log, "samples cached");
        char expected_line[64];
        snprintf(expected_line, sizeof(expected_line), "%zu of %zu samples cached", expected.count, expected.count);
        CHECK_STR_CONTAINS(fx->log, expected_line);
        CHECK_INT_EQ(load_prefetched(fx, &cached, split, &warm_prefetched), ADVGNN_OK);
        check_same(&expected, &cold);
        check_same(&expected, &warm);
        check_same(&expected, &warm_prefetched);
        advgnn_split_data_release(&expected);
        advgnn_split_data_release(&cold);
        advgnn_split_data_release(&warm);
        advgnn_split_data_release(&warm_prefetched);
    }
}

/* Loads the test split through the cache and checks it against decoding;
 * `hits` is the expected number of samples copied from the cache. */
static void check_cached_load(fixture *fx, const advgnn_sample_loader *loader, size_t hits)
{
    advgnn_sample_loader plain = *loader;
    advgnn_split_data expected, got;
    char line[64];

    plain.cache_dir = NULL;
    CHECK_INT_EQ(load(fx, &plain, ADVGNN_SPLIT_TEST, &expected), ADVGNN_OK);
    CHECK_INT_EQ(load(fx, loader, ADVGNN_SPLIT_TEST, &got), ADVGNN_OK);
    snprintf(line, sizeof(line), "%zu of %zu samples cached", hits, expected.count);
    if (hits > 0)
        CHECK_STR_CONTAINS(fx->log, line);
    check_same(&expected, &got);
    advgnn_split_data_release(&expected);
    advgnn_split_data_release(&got);
}

static void test_cache_invalidation(fixture *fx)
{
    advgnn_sample_loader loader = make_loader(fx->cache, SIZE, 2);
    char image[512], other[512], path[1024];
    size_t count = 0;
    const advgnn_sample *samples;

    split_samples(fx, ADVGNN_SPLIT_TEST, &samples, &count);
    check_cached_load(fx, &loader, count); /* warm from the previous test */

    /* A new modification time of one image: that sample only is decoded. */
    snprintf(image, sizeof(image), "%s/good_000.png", fx->root);
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 123}};
    CHECK(utimensat(AT_FDCWD, image, times, 0) == 0);
    check_cached_load(fx, &loader, count - 1);
    check_cached_load(fx, &loader, count); /* rewritten */

    /* New content of the same name (and the same time stamp): decoded again,
     * never the stale pixels. */
    snprintf(other, sizeof(other), TIRE "/test/good/rgb/002.png");
    CHECK_INT_EQ(copy_file(other, image), ADVGNN_OK);
    CHECK(utimensat(AT_FDCWD, image, times, 0) == 0);
    if (file_size(image) != file_size(TIRE "/test/good/rgb/000.png"))
        check_cached_load(fx, &loader, count - 1);

    /* A changed mask file of a defective sample. */
    snprintf(image, sizeof(image), "%s/cut_000_mask.png", fx->root);
    CHECK_INT_EQ(copy_file(TIRE "/test/cut/gt/001.png", image), ADVGNN_OK);
    check_cached_load(fx, &loader, count - 1);

    /* Another image size or normalization: another file, decoded afresh. */
    advgnn_sample_loader bigger = make_loader(fx->cache, SIZE + 8, 2);
    char first[1024];
    cache_file(fx, &loader, ADVGNN_SPLIT_TEST, first, sizeof(first));
    cache_file(fx, &bigger, ADVGNN_SPLIT_TEST, path, sizeof(path));
    CHECK(strcmp(first, path) != 0);
    CHECK(file_size(path) < 0);
    check_cached_load(fx, &bigger, 0);
    CHECK(file_size(path) > 0);

    advgnn_sample_loader normalized = loader;
    normalized.pp.mean[1] = 0.5f;
    cache_file(fx, &normalized, ADVGNN_SPLIT_TEST, path, sizeof(path));
    CHECK(strcmp(first, path) != 0);
    check_cached_load(fx, &normalized, 0);
    check_cached_load(fx, &loader, count); /* the first file is still valid */
}

/* Overwrites `length` bytes of a file at `offset` with 0x5a. */
static void damage(const char *path, long offset, size_t length)
{
    unsigned char bytes[64];
    FILE *f = fopen(path, "r+b");

    CHECK(f != NULL);
    if (!f)
        return;
    memset(bytes, 0x5a, sizeof(bytes));
    CHECK(fseek(f, offset, SEEK_SET) == 0);
    CHECK(fwrite(bytes, 1, length, f) == length);
    fclose(f);
}

static void test_corrupt_cache(fixture *fx)
{
    advgnn_sample_loader loader = make_loader(fx->cache, SIZE, 2);
    size_t count = 0;
    const advgnn_sample *samples;
    char path[1024];

    split_samples(fx, ADVGNN_SPLIT_TEST, &samples, &count);
    cache_file(fx, &loader, ADVGNN_SPLIT_TEST, path, sizeof(path));
    check_cached_load(fx, &loader, count);
    long size = file_size(path);

    /* A damaged pixel block: its sample is decoded again with a warning. */
    damage(path, size - 100, 8);
    check_cached_load(fx, &loader, count - 1);
    CHECK_STR_CONTAINS(fx->log, "1 sample(s) fail their checksum");
    check_cached_load(fx, &loader, count);

    /* A truncated file and a damaged header: rebuilt. */
    CHECK(truncate(path, size - 1) == 0);
    check_cached_load(fx, &loader, 0);
    CHECK_STR_CONTAINS(fx->log, "is invalid because its size does not match");
    CHECK_INT_EQ(file_size(path), size);
    check_cached_load(fx, &loader, count);

    damage(path, 20, 4);
    check_cached_load(fx, &loader, 0);
    CHECK_STR_CONTAINS(fx->log, "header checksum");
    damage(path, 70, 4); /* the index */
    check_cached_load(fx, &loader, 0);
    CHECK_STR_CONTAINS(fx->log, "index checksum");

    /* A file that is not a cache at all, and an empty one. */
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("something else entirely, long enough to fill a whole header of sixty-four bytes", f);
        fclose(f);
    }
    check_cached_load(fx, &loader, 0);
    CHECK_STR_CONTAINS(fx->log, "not a sample cache file");
    CHECK(truncate(path, 0) == 0);
    check_cached_load(fx, &loader, 0);
    CHECK_STR_CONTAINS(fx->log, "header cannot be read");
    check_cached_load(fx, &loader, count);

    /* A cache folder that cannot be created: a warning, the load succeeds. */
    char blocked[512];
    snprintf(blocked, sizeof(blocked), "%s/blocked", fx->root);
    FILE *b = fopen(blocked, "w");
    if (b)
        fclose(b);
    advgnn_sample_loader unwritable = make_loader(blocked, SIZE, 2);
    check_cached_load(fx, &unwritable, 0);
    CHECK_STR_CONTAINS(fx->log, "sample cache not saved");
}

int main(void)
{
    fixture fx = {0};
    const char *tmp = getenv("TMPDIR");

    if (!advgnn_fs_is_dir(TIRE)) {
        fprintf(stderr, "skipped: %s is missing\n", TIRE);
        return 0;
    }
    fx.ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(fx.ctx, ADVGNN_LOG_DEBUG);
    advgnn_ctx_set_log_sink(fx.ctx, keep_line, &fx);
    snprintf(fx.root, sizeof(fx.root), "%s/advgnn-pipeline-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(fx.root) != NULL);
    snprintf(fx.cache, sizeof(fx.cache), "%s/cache", fx.root);
    build_dataset(&fx);

    if (check_failures == 0) {
        test_prefetch_matches_foreground(&fx);
        test_category_prefetch(&fx);
        test_cancel_joins(&fx);
        test_background_error(&fx);
        test_cache_matches_decoding(&fx);
        test_cache_invalidation(&fx);
        test_corrupt_cache(&fx);
    }

    advgnn_sample_store_free(fx.store);
    advgnn_ctx_free(fx.ctx);
    char command[600];
    snprintf(command, sizeof(command), "rm -rf '%s'", fx.root);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", fx.root);
    return CHECK_DONE();
}
