/* The kolektor and magnetic_tile plugins on the real files of the shared
 * data: normal and defective counts, the seeded split of the normal images
 * (deterministic for a seed, different for another), and a missing label. */
#include <stdio.h>
#include <unistd.h>

#include "dataset_harness.h"
#include "layout_builder.h"

#define KOLEKTOR ADVGNN_SHARED_DATA "/kolektorsdd"
#define TILES ADVGNN_SHARED_DATA "/magnetic_tile"

static advgnn_ctx *ctx;
static test_dataset kolektor, tiles;

/* Returns the name of the first normal test sample, which the seeded split picks. */
static const char *first_normal_test(const advgnn_sample_store *store, const char *category)
{
    const advgnn_sample *samples;
    size_t count;

    advgnn_sample_store_split(store, (size_t)advgnn_sample_store_find_category(store, category), ADVGNN_SPLIT_TEST,
                              &samples, &count);
    for (size_t i = 0; i < count; i++) {
        if (!samples[i].anomalous)
            return samples[i].name;
    }
    return "";
}

/* Six items of eight parts, one defective part each: 42 normal parts, of
 * which round(0.2 * 42) = 8 go to test and round(0.25 * 34) = 9 to validation. */
static void test_kolektor_counts(void)
{
    test_option options[] = {OPT_STRING("root", KOLEKTOR), OPT_NUMBER("validation_ratio", 0.25), OPT_INT("seed", 1)};
    test_option other_seed[] = {OPT_STRING("root", KOLEKTOR), OPT_NUMBER("validation_ratio", 0.25),
                                OPT_INT("seed", 2)};
    advgnn_sample_store *store = NULL, *again = NULL, *other = NULL;

    CHECK_INT_EQ(test_dataset_list(ctx, &kolektor, options, 3, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(test_count(store, "kolektorsdd", ADVGNN_SPLIT_TEST, "defect"), 6);
    CHECK_INT_EQ(test_count(store, "kolektorsdd", ADVGNN_SPLIT_TEST, "good"), 8);
    CHECK_INT_EQ(test_count(store, "kolektorsdd", ADVGNN_SPLIT_VALIDATION, "good"), 9);
    CHECK_INT_EQ(test_count(store, "kolektorsdd", ADVGNN_SPLIT_TRAIN, "good"), 25);
    CHECK_INT_EQ(test_count_masks(store, "kolektorsdd", ADVGNN_SPLIT_TEST), 6);

    CHECK_INT_EQ(test_dataset_list(ctx, &kolektor, options, 3, &again), ADVGNN_OK);
    CHECK_INT_EQ(test_dataset_list(ctx, &kolektor, other_seed, 3, &other), ADVGNN_OK);
    if (again && other) {
        CHECK(strcmp(first_normal_test(store, "kolektorsdd"), first_normal_test(again, "kolektorsdd")) == 0);
        CHECK(strcmp(first_normal_test(store, "kolektorsdd"), first_normal_test(other, "kolektorsdd")) != 0);
    }
    advgnn_sample_store_free(store);
    advgnn_sample_store_free(again);
    advgnn_sample_store_free(other);
}

static void test_kolektor_missing_label(void)
{
    char dir[] = "/tmp/advgnn_kolektor_XXXXXX";
    test_option options[] = {OPT_STRING("root", dir)};

    CHECK(mkdtemp(dir) != NULL);
    builder_copy(KOLEKTOR "/kos01/Part0.jpg", dir, "kos01/Part0.jpg");
    builder_copy(KOLEKTOR "/kos01/Part0_label.bmp", dir, "kos01/Part0_label.bmp");
    builder_copy(KOLEKTOR "/kos01/Part1.jpg", dir, "kos01/Part1.jpg");
    test_expect_failure(ctx, &kolektor, options, 1, ADVGNN_ERR_NOT_FOUND,
                        "kos01/Part1.jpg' has no label 'kos01/Part1_label.bmp'");
    builder_remove(dir);
}

/* 952 defect-free images: round(0.2 * 952) = 190 to test, round(0.1 * 762)
 * = 76 to validation. */
static void test_magnetic_tile_counts(void)
{
    test_option options[] = {OPT_STRING("root", TILES), OPT_NUMBER("validation_ratio", 0.1)};
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(test_dataset_list(ctx, &tiles, options, 2, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "good"), 190);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_VALIDATION, "good"), 76);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TRAIN, "good"), 686);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "blowhole"), 115);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "break"), 85);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "crack"), 57);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "fray"), 32);
    CHECK_INT_EQ(test_count(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "uneven"), 103);
    CHECK_INT_EQ(test_count_masks(store, "magnetic_tile", ADVGNN_SPLIT_TEST), 392);

    const advgnn_sample *s = test_find(store, "magnetic_tile", ADVGNN_SPLIT_TEST, "MT_Crack/exp1_num_249594.jpg");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT_EQ(s->mask_threshold, 127);
        CHECK_STR_CONTAINS(s->mask_path, "MT_Crack/Imgs/exp1_num_249594.png");
    }
    advgnn_sample_store_free(store);
}

static void test_magnetic_tile_missing_mask(void)
{
    char dir[] = "/tmp/advgnn_magnetic_tile_XXXXXX";
    test_option options[] = {OPT_STRING("root", dir), OPT_NUMBER("test_normal_ratio", 0.5)};

    CHECK(mkdtemp(dir) != NULL);
    builder_copy(TILES "/MT_Free/Imgs/exp0_num_743.jpg", dir, "MT_Free/Imgs/a.jpg");
    builder_copy(TILES "/MT_Free/Imgs/exp0_num_743.jpg", dir, "MT_Free/Imgs/b.jpg");
    builder_copy(TILES "/MT_Free/Imgs/exp0_num_743.jpg", dir, "MT_Blowhole/Imgs/c.jpg");
    test_expect_failure(ctx, &tiles, options, 2, ADVGNN_ERR_NOT_FOUND, "MT_Blowhole/Imgs/c.jpg' has no mask '");
    test_expect_failure(ctx, &tiles, options, 2, ADVGNN_ERR_NOT_FOUND, "MT_Blowhole/Imgs/c.png'; every defect image");
    builder_remove(dir);
}

int main(void)
{
    if (!test_have_shared_data()) {
        fprintf(stderr, "skipped: no shared data at %s\n", ADVGNN_SHARED_DATA);
        return 77;
    }
    ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    if (!test_dataset_load(&kolektor, "kolektor") || !test_dataset_load(&tiles, "magnetic_tile"))
        return 1;

    test_kolektor_counts();
    test_kolektor_missing_label();
    test_magnetic_tile_counts();
    test_magnetic_tile_missing_mask();
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
