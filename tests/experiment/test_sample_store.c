/* The sample store: copies, stable order, grouping, duplicate and invalid
 * samples, growth of the duplicate index, allocation failures. */
#include <stdio.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "data/sample_store.h"

static advgnn_sample_info make_info(const char *category, advgnn_split split, int anomalous, const char *defect,
                                    const char *name, const char *image)
{
    advgnn_sample_info info;

    memset(&info, 0, sizeof(info));
    info.category = category;
    info.split = split;
    info.anomalous = anomalous;
    info.defect_type = defect;
    info.name = name;
    info.image_path = image;
    info.mask_threshold = 127;
    return info;
}

static void test_sorted_and_grouped(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_sample_store *store = NULL;
    char name[32];
    const advgnn_sample *samples;
    size_t count;

    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "demo", 1, &store), ADVGNN_OK);

    /* Names go through one stack buffer that changes after each add: the
     * store must have copied them. */
    const char *names[] = {"2.png", "10.png", "1.png"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "%s", names[i]);
        advgnn_sample_info info = make_info("a", ADVGNN_SPLIT_TRAIN, 0, NULL, name, "/x/img.png");
        info.key = (uint64_t)i;
        CHECK_INT_EQ(advgnn_sample_sink_add(store, &info), ADVGNN_OK);
    }
    snprintf(name, sizeof(name), "overwritten");
    advgnn_sample_info t1 = make_info("b", ADVGNN_SPLIT_TEST, 1, "crack", "c.png", "/x/c.png");
    t1.mask_path = "/x/c_mask.png";
    advgnn_sample_info t2 = make_info(NULL, ADVGNN_SPLIT_TEST, 0, "good", "g.png", "/x/g.png");
    advgnn_sample_info t3 = make_info("a", ADVGNN_SPLIT_TEST, 0, NULL, "t.png", "/x/t.png");
    advgnn_sample_info v1 = make_info("a", ADVGNN_SPLIT_VALIDATION, 0, "good", "v.png", "/x/v.png");
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &t1), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &t2), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &t3), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &v1), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_finish(store, ctx), ADVGNN_OK);

    CHECK_INT_EQ(advgnn_sample_store_count(store), 7);
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 3);
    CHECK(strcmp(advgnn_sample_store_category(store, 0), "a") == 0);
    CHECK(strcmp(advgnn_sample_store_category(store, 1), "b") == 0);
    CHECK(strcmp(advgnn_sample_store_category(store, 2), ADVGNN_DEFAULT_CATEGORY) == 0);
    CHECK(advgnn_sample_store_category(store, 3) == NULL);
    CHECK_INT_EQ(advgnn_sample_store_find_category(store, "b"), 1);
    CHECK_INT_EQ(advgnn_sample_store_find_category(store, "missing"), -1);

    /* Byte order: "1.png" < "10.png" < "2.png". */
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TRAIN, &samples, &count);
    CHECK_INT_EQ(count, 3);
    if (count == 3) {
        CHECK(strcmp(samples[0].name, "1.png") == 0);
        CHECK(strcmp(samples[1].name, "10.png") == 0);
        CHECK(strcmp(samples[2].name, "2.png") == 0);
        CHECK_INT_EQ(samples[0].key, 2);
        CHECK_INT_EQ(samples[2].key, 0);
        CHECK(strcmp(samples[0].defect_type, "good") == 0);
        CHECK(strcmp(samples[0].image_path, "/x/img.png") == 0);
        CHECK(samples[0].mask_path == NULL);
    }
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_VALIDATION, &samples, &count);
    CHECK_INT_EQ(count, 1);
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
    CHECK_INT_EQ(count, 1);
    advgnn_sample_store_split(store, 1, ADVGNN_SPLIT_TRAIN, &samples, &count);
    CHECK_INT_EQ(count, 0);
    CHECK(samples == NULL);
    advgnn_sample_store_split(store, 1, ADVGNN_SPLIT_TEST, &samples, &count);
    CHECK_INT_EQ(count, 1);
    if (count == 1) {
        CHECK(strcmp(samples[0].mask_path, "/x/c_mask.png") == 0);
        CHECK_INT_EQ(samples[0].anomalous, 1);
        CHECK_INT_EQ(samples[0].mask_threshold, 127);

        advgnn_sample_info back;
        advgnn_sample_to_info(&samples[0], &back);
        CHECK(strcmp(back.category, "b") == 0);
        CHECK(strcmp(back.defect_type, "crack") == 0);
        CHECK_INT_EQ(back.split, ADVGNN_SPLIT_TEST);
    }

    /* Adding after finish is a bug of the caller. */
    CHECK(advgnn_sample_sink_add(store, &t1) != ADVGNN_OK);
    advgnn_sample_store_free(store);
    advgnn_ctx_free(ctx);
}

static void test_duplicate_rejected(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "demo", 1, &store), ADVGNN_OK);
    advgnn_sample_info first = make_info("bottle", ADVGNN_SPLIT_TEST, 0, "good", "000.png", "/d/good/000.png");
    advgnn_sample_info again = make_info("bottle", ADVGNN_SPLIT_TEST, 1, "crack", "000.png", "/d/crack/000.png");
    advgnn_sample_info other_split = make_info("bottle", ADVGNN_SPLIT_TRAIN, 0, "good", "000.png", "/d/t/000.png");
    advgnn_sample_info other_category = make_info("cable", ADVGNN_SPLIT_TEST, 0, "good", "000.png", "/e/000.png");

    CHECK_INT_EQ(advgnn_sample_sink_add(store, &first), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &again), ADVGNN_ERR_PLUGIN);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "duplicate sample name '000.png'");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "category 'bottle'");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "/d/crack/000.png");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "demo");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &other_split), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &other_category), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_finish(store, ctx), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_count(store), 3);
    advgnn_sample_store_free(store);
    advgnn_ctx_free(ctx);
}

static void test_invalid_samples(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "demo", 1, &store), ADVGNN_OK);
    struct {
        advgnn_sample_info info;
        const char *message;
    } cases[] = {
        {make_info("a", ADVGNN_SPLIT_INVALID, 0, "good", "x.png", "/x.png"), "invalid split 0"},
        {make_info("a", ADVGNN_SPLIT_TRAIN, 1, "crack", "x.png", "/x.png"), "defective but listed in the train"},
        {make_info("a", ADVGNN_SPLIT_VALIDATION, 1, "crack", "x.png", "/x.png"), "validation split"},
        {make_info("a", ADVGNN_SPLIT_TEST, 1, NULL, "x.png", "/x.png"), "has no defect_type"},
        {make_info("a", ADVGNN_SPLIT_TEST, 0, "good", "x.png", NULL), "has no image_path"},
        {make_info("a", ADVGNN_SPLIT_TEST, 0, "good", "", "/x.png"), "without a name"},
        {make_info("a/b", ADVGNN_SPLIT_TEST, 0, "good", "x.png", "/x.png"), "invalid category name 'a/b'"},
        {make_info("..", ADVGNN_SPLIT_TEST, 0, "good", "x.png", "/x.png"), "invalid category name '..'"},
        {make_info("a", ADVGNN_SPLIT_TEST, 2, "good", "x.png", "/x.png"), "anomalous = 2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT_EQ(advgnn_sample_sink_add(store, &cases[i].info), ADVGNN_ERR_PLUGIN);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), cases[i].message);
        advgnn_ctx_clear_error(ctx);
    }
    CHECK_INT_EQ(advgnn_sample_store_finish(store, ctx), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_count(store), 0);
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 0);
    advgnn_sample_store_free(store);

    /* A plugin with load() may omit image paths. */
    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "made", 0, &store), ADVGNN_OK);
    advgnn_sample_info made = make_info("a", ADVGNN_SPLIT_TEST, 0, "good", "x", NULL);
    CHECK_INT_EQ(advgnn_sample_sink_add(store, &made), ADVGNN_OK);
    advgnn_sample_store_free(store);
    advgnn_ctx_free(ctx);
}

static void test_many_samples(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_sample_store *store = NULL;
    char name[32];
    const advgnn_sample *samples;
    size_t count;
    enum { N = 3000 };

    /* Enough samples to grow the duplicate index several times. Added in
     * descending order, so sorting has work to do. */
    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "many", 1, &store), ADVGNN_OK);
    for (int i = N - 1; i >= 0; i--) {
        snprintf(name, sizeof(name), "%05d.png", i);
        advgnn_sample_info info = make_info("c", ADVGNN_SPLIT_TRAIN, 0, NULL, name, "/p.png");
        CHECK_INT_EQ(advgnn_sample_sink_add(store, &info), ADVGNN_OK);
    }
    for (int i = 0; i < N; i += 500) {
        snprintf(name, sizeof(name), "%05d.png", i);
        advgnn_sample_info info = make_info("c", ADVGNN_SPLIT_TRAIN, 0, NULL, name, "/p.png");
        CHECK_INT_EQ(advgnn_sample_sink_add(store, &info), ADVGNN_ERR_PLUGIN);
        advgnn_ctx_clear_error(ctx);
    }
    CHECK_INT_EQ(advgnn_sample_store_finish(store, ctx), ADVGNN_OK);
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TRAIN, &samples, &count);
    CHECK_INT_EQ(count, N);
    int ordered = 1;
    for (size_t i = 1; i < count; i++)
        ordered &= strcmp(samples[i - 1].name, samples[i].name) < 0;
    CHECK(ordered);
    advgnn_sample_store_free(store);
    advgnn_ctx_free(ctx);
}

static void test_allocation_failures(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    /* Fail each allocation of a small listing in turn; every failure must
     * return NOMEM and leave a store that frees cleanly (ASan checks leaks). */
    for (size_t fail_at = 1; fail_at < 40; fail_at++) {
        advgnn_sample_store *store = NULL;
        advgnn_alloc_fail_after(fail_at);
        int rc = advgnn_sample_store_new(ctx, "oom", 1, &store);
        for (int i = 0; rc == ADVGNN_OK && i < 3; i++) {
            char name[16];
            snprintf(name, sizeof(name), "%d", i);
            advgnn_sample_info info = make_info("a", ADVGNN_SPLIT_TEST, 1, "crack", name, "/x.png");
            info.mask_path = "/m.png";
            rc = advgnn_sample_sink_add(store, &info);
        }
        if (rc == ADVGNN_OK)
            rc = advgnn_sample_store_finish(store, ctx);
        advgnn_alloc_fail_after(0);
        CHECK(rc == ADVGNN_OK || rc == ADVGNN_ERR_NOMEM);
        advgnn_sample_store_free(store);
        advgnn_ctx_clear_error(ctx);
    }
    advgnn_ctx_free(ctx);
}

int main(void)
{
    test_sorted_and_grouped();
    test_duplicate_rejected();
    test_invalid_samples();
    test_many_samples();
    test_allocation_failures();
    return CHECK_DONE();
}
