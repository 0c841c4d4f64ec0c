/* Report helpers: heatmap choice, heatmap file names, CSV fields, typed
 * option values in JSON. */
#include <string.h>

#include <cjson/cJSON.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "options/options_internal.h"
#include "report/results.h"

static advgnn_sample make_sample(const char *name, int anomalous, const char *defect)
{
    advgnn_sample s;

    memset(&s, 0, sizeof(s));
    s.name = (char *)name;
    s.anomalous = anomalous;
    s.defect_type = (char *)defect;
    s.split = ADVGNN_SPLIT_TEST;
    return s;
}

static void test_heatmap_choice(void)
{
    /* Sorted by name, as the store hands them out. */
    advgnn_sample samples[] = {
        make_sample("a", 1, "crack"), make_sample("b", 0, "good"), make_sample("c", 1, "blob"),
        make_sample("d", 1, "crack"), make_sample("e", 1, "blob"), make_sample("f", 0, "good"),
        make_sample("g", 1, "blob"),
    };
    size_t chosen[7];

    /* Round robin over blob, crack (byte order), names in order within a type. */
    size_t n = advgnn_report_select_heatmaps(samples, 7, 4, chosen);
    CHECK_INT_EQ(n, 4);
    CHECK_INT_EQ(chosen[0], 2); /* c: blob */
    CHECK_INT_EQ(chosen[1], 0); /* a: crack */
    CHECK_INT_EQ(chosen[2], 4); /* e: blob */
    CHECK_INT_EQ(chosen[3], 3); /* d: crack */

    /* Then the last blob, then normal images by name. */
    n = advgnn_report_select_heatmaps(samples, 7, -1, chosen);
    CHECK_INT_EQ(n, 7);
    CHECK_INT_EQ(chosen[4], 6);
    CHECK_INT_EQ(chosen[5], 1);
    CHECK_INT_EQ(chosen[6], 5);

    CHECK_INT_EQ(advgnn_report_select_heatmaps(samples, 7, 0, chosen), 0);
    CHECK_INT_EQ(advgnn_report_select_heatmaps(samples, 7, 100, chosen), 7);
    CHECK_INT_EQ(advgnn_report_select_heatmaps(samples, 1, 3, chosen), 1);
}

static void check_file_name(const char *sample, const char *expected)
{
    char *file = advgnn_report_heatmap_file_name(sample);

    CHECK(file != NULL);
    if (file && strcmp(file, expected) != 0) {
        fprintf(stderr, "heatmap file of '%s': got '%s', expected '%s'\n", sample, file, expected);
        check_failures++;
    }
    advgnn_free(file);
}

static void test_heatmap_file_names(void)
{
    check_file_name("000.png", "000.png");
    check_file_name("broken_large/000.png", "broken_large/000.png");
    check_file_name("exp6_num_258466.jpg", "exp6_num_258466.png");
    check_file_name("dir.v2/name", "dir.v2/name.png");
    check_file_name("../escape", "_./escape.png");
    check_file_name("a//b/.c", "a/_b/_c.png");
    check_file_name("/root", "_root.png");
    check_file_name("a b,c", "a_b_c.png");
    check_file_name(".hidden", "_hidden.png");

    /* Names that differ only in where the folder ends stay apart. */
    check_file_name("d/x_y.jpg", "d/x_y.png");
    check_file_name("d_x/y.jpg", "d_x/y.png");
}

static void test_csv_fields(void)
{
    advgnn_text text = {0};

    advgnn_text_append_csv_field(&text, "plain");
    advgnn_text_appendf(&text, ",");
    advgnn_text_append_csv_field(&text, "a,b");
    advgnn_text_appendf(&text, ",");
    advgnn_text_append_csv_field(&text, "say \"hi\"");
    advgnn_text_appendf(&text, ",%d", 42);
    CHECK(!text.failed);
    CHECK_STR_CONTAINS(text.data, "plain,\"a,b\",\"say \"\"hi\"\"\",42");
    CHECK_INT_EQ(text.length, strlen("plain,\"a,b\",\"say \"\"hi\"\"\",42"));
    advgnn_text_release(&text);
    CHECK(text.data == NULL);
}

/* Checks that json.<key> is the number `expected`. */
static void check_json_number(const cJSON *json, const char *key, double expected)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);

    if (!cJSON_IsNumber(item) || item->valuedouble != expected) {
        fprintf(stderr, "option %s: expected the number %g\n", key, expected);
        check_failures++;
    }
}

/* Checks that `item` is the string `expected`. */
static void check_json_string(const cJSON *item, const char *what, const char *expected)
{
    if (!cJSON_IsString(item) || strcmp(item->valuestring, expected) != 0) {
        fprintf(stderr, "%s: expected the string \"%s\"\n", what, expected);
        check_failures++;
    }
}

static void test_options_json(void)
{
    static const double weights[] = {0.5, 2};
    static const char *const names[] = {"x", "y", NULL};
    static const char *const modes[] = {"fast", "exact", NULL};
    static const advgnn_option_spec specs[] = {
        {.name = "k", .type = ADVGNN_OPT_INT, .help = "neighbours", .def.integer = 9},
        {.name = "ratio", .type = ADVGNN_OPT_NUMBER, .help = "fraction", .def.number = 0.25},
        {.name = "flag", .type = ADVGNN_OPT_BOOL, .help = "switch", .def.boolean = 1},
        {.name = "root", .type = ADVGNN_OPT_STRING, .help = "folder", .def.string = "/data"},
        {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "search", .def.string = "exact", .choices = modes},
        {.name = "weights", .type = ADVGNN_OPT_NUMBER_LIST, .help = "w", .def.numbers = {weights, 2}},
        {.name = "names", .type = ADVGNN_OPT_STRING_LIST, .help = "n", .def.strings = {names, 2}},
        {.name = NULL},
    };
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_options *opts = NULL;

    CHECK_INT_EQ(advgnn_options_new(ctx, "demo", specs, &opts), ADVGNN_OK);
    if (!opts) {
        fprintf(stderr, "options: %s\n", advgnn_ctx_error(ctx));
        check_failures++;
        advgnn_ctx_free(ctx);
        return;
    }
    advgnn_value k = {.kind = ADVGNN_VALUE_INTEGER, .integer = 3};
    CHECK_INT_EQ(advgnn_options_set(opts, ctx, "k", &k), ADVGNN_OK);

    cJSON *json = advgnn_report_options_json(opts);
    CHECK(json != NULL);
    check_json_number(json, "k", 3.0);
    check_json_number(json, "ratio", 0.25);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "flag")));
    check_json_string(cJSON_GetObjectItemCaseSensitive(json, "root"), "root", "/data");
    check_json_string(cJSON_GetObjectItemCaseSensitive(json, "mode"), "mode", "exact");

    const cJSON *weights_json = cJSON_GetObjectItemCaseSensitive(json, "weights");
    CHECK(cJSON_IsArray(weights_json));
    CHECK_INT_EQ(cJSON_GetArraySize(weights_json), 2);
    const cJSON *second = cJSON_GetArrayItem(weights_json, 1);
    CHECK(cJSON_IsNumber(second));
    CHECK_NEAR(cJSON_IsNumber(second) ? second->valuedouble : NAN, 2.0, 0.0);

    const cJSON *names_json = cJSON_GetObjectItemCaseSensitive(json, "names");
    CHECK(cJSON_IsArray(names_json));
    CHECK_INT_EQ(cJSON_GetArraySize(names_json), 2);
    check_json_string(cJSON_GetArrayItem(names_json, 0), "names[0]", "x");
    CHECK_INT_EQ(cJSON_GetArraySize(json), 7);

    cJSON_Delete(json);
    advgnn_options_free(opts);
    advgnn_ctx_free(ctx);
}

int main(void)
{
    test_heatmap_choice();
    test_heatmap_file_names();
    test_csv_fields();
    test_options_json();
    return CHECK_DONE();
}
