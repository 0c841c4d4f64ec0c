/* Option sets: defaults, every type, ranges, enums, lists, typo hints,
 * required options, schema errors, formatting, getters that abort on a plugin
 * bug, and allocation failures. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "options/options_internal.h"

static const char *const metric_choices[] = {"l2", "cosine", "inner_product", NULL};
static const double default_scales[] = {0.5, 1.0};
static const char *const default_layers[] = {"block2", "block3"};

static const advgnn_option_spec specs[] = {
    {.name = "k", .type = ADVGNN_OPT_INT, .help = "Neighbours averaged per patch.", .def.integer = 1, .min = 0,
     .max = 64, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "sigma", .type = ADVGNN_OPT_NUMBER, .help = "Gaussian smoothing in pixels.", .def.number = 4.0, .min = 0,
     .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "coreset_ratio", .type = ADVGNN_OPT_NUMBER, .help = "Fraction of patches kept.", .def.number = 0.1,
     .min = 0, .max = 1, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "normalize", .type = ADVGNN_OPT_BOOL, .help = "Scales features to unit length.", .def.boolean = 1},
    {.name = "cache_dir", .type = ADVGNN_OPT_STRING, .help = "Folder for cached features."},
    {.name = "metric", .type = ADVGNN_OPT_ENUM, .help = "Distance between patches.", .def.string = "l2",
     .choices = metric_choices},
    {.name = "scales", .type = ADVGNN_OPT_NUMBER_LIST, .help = "Image scales.", .def.numbers = {default_scales, 2},
     .max = 4, .flags = ADVGNN_OPT_HAS_MAX},
    {.name = "layers", .type = ADVGNN_OPT_STRING_LIST, .help = "Feature layers.",
     .def.strings = {default_layers, 2}},
    {.name = "root", .type = ADVGNN_OPT_STRING, .help = "Dataset folder.", .flags = ADVGNN_OPT_REQUIRED},
    {0},
};

/* ---- value builders ---------------------------------------------------- */

static advgnn_value int_value(int64_t v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_INTEGER, .integer = v};
    return value;
}

static advgnn_value number_value(double v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_NUMBER, .number = v};
    return value;
}

static advgnn_value bool_value(int v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_BOOLEAN, .boolean = v};
    return value;
}

static advgnn_value string_value(const char *v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_STRING, .string = v};
    return value;
}

static advgnn_value numbers_value(const double *v, size_t count)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = v, .count = count};
    return value;
}

static advgnn_value strings_value(const char *const *v, size_t count)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_STRING_LIST, .strings = v, .count = count};
    return value;
}

static advgnn_options *new_set(advgnn_ctx *ctx)
{
    advgnn_options *opts = NULL;

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_options_new(ctx, "memory_bank", specs, &opts), ADVGNN_OK);
    return opts;
}

/* Sets one value and expects a failure whose message contains `expected`. */
static void expect_set_error(advgnn_ctx *ctx, advgnn_options *opts, const char *name, advgnn_value value,
                             const char *expected)
{
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_options_set(opts, ctx, name, &value), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), expected);
    advgnn_ctx_clear_error(ctx);
}

static void set_ok(advgnn_ctx *ctx, advgnn_options *opts, const char *name, advgnn_value value)
{
    int rc = advgnn_options_set(opts, ctx, name, &value);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "setting '%s' failed: %s\n", name, advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
}

/* ---- defaults and values ----------------------------------------------- */

static void test_defaults(advgnn_ctx *ctx)
{
    advgnn_options *opts = new_set(ctx);

    if (!opts)
        return;
    CHECK(strcmp(advgnn_options_plugin(opts), "memory_bank") == 0);
    CHECK_INT_EQ(advgnn_options_count(opts), 9);
    CHECK(strcmp(advgnn_options_spec_at(opts, 1)->name, "sigma") == 0);
    CHECK(advgnn_options_find_spec(opts, "metric") == &specs[5]);
    CHECK(advgnn_options_find_spec(opts, "nope") == NULL);

    CHECK_INT_EQ(advgnn_options_int(opts, "k"), 1);
    CHECK_NEAR(advgnn_options_number(opts, "sigma"), 4.0, 0);
    CHECK_NEAR(advgnn_options_number(opts, "coreset_ratio"), 0.1, 0);
    CHECK_INT_EQ(advgnn_options_bool(opts, "normalize"), 1);
    CHECK(advgnn_options_string(opts, "cache_dir") == NULL);
    CHECK(strcmp(advgnn_options_string(opts, "metric"), "l2") == 0);

    advgnn_number_list scales = advgnn_options_numbers(opts, "scales");
    CHECK_INT_EQ(scales.count, 2);
    CHECK_NEAR(scales.values[1], 1.0, 0);
    advgnn_string_list layers = advgnn_options_strings(opts, "layers");
    CHECK_INT_EQ(layers.count, 2);
    CHECK(strcmp(layers.values[0], "block2") == 0);

    CHECK_INT_EQ(advgnn_options_is_set(opts, "k"), 0);

    /* Only the required option is missing. */
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_options_finish(opts, ctx), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "plugin 'memory_bank': option 'root' is required");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "Dataset folder.");
    advgnn_ctx_clear_error(ctx);
    set_ok(ctx, opts, "root", string_value("/data/mvtec"));
    CHECK_INT_EQ(advgnn_options_finish(opts, ctx), ADVGNN_OK);
    CHECK(strcmp(advgnn_options_string(opts, "root"), "/data/mvtec") == 0);
    advgnn_options_free(opts);
}

static void test_every_type(advgnn_ctx *ctx)
{
    advgnn_options *opts = new_set(ctx);
    char root[64], layer[16];
    double scales[3] = {1, 2, 4};
    const char *layers[2] = {layer, "block4"};

    if (!opts)
        return;

    /* An integer option takes a float with an integral value (Lua's 3.0). */
    set_ok(ctx, opts, "k", int_value(5));
    CHECK_INT_EQ(advgnn_options_int(opts, "k"), 5);
    set_ok(ctx, opts, "k", number_value(3.0));
    CHECK_INT_EQ(advgnn_options_int(opts, "k"), 3);
    CHECK_INT_EQ(advgnn_options_is_set(opts, "k"), 1);

    /* A number option takes an integer. */
    set_ok(ctx, opts, "sigma", int_value(2));
    CHECK_NEAR(advgnn_options_number(opts, "sigma"), 2.0, 0);
    set_ok(ctx, opts, "sigma", number_value(0.25));
    CHECK_NEAR(advgnn_options_number(opts, "sigma"), 0.25, 0);

    set_ok(ctx, opts, "normalize", bool_value(0));
    CHECK_INT_EQ(advgnn_options_bool(opts, "normalize"), 0);
    set_ok(ctx, opts, "metric", string_value("cosine"));
    CHECK(strcmp(advgnn_options_string(opts, "metric"), "cosine") == 0);

    /* Strings and lists are copied: the caller's memory is only borrowed. */
    snprintf(root, sizeof(root), "/data/visa");
    set_ok(ctx, opts, "root", string_value(root));
    memset(root, 'x', sizeof(root) - 1);
    CHECK(strcmp(advgnn_options_string(opts, "root"), "/data/visa") == 0);

    set_ok(ctx, opts, "scales", numbers_value(scales, 3));
    scales[0] = 99;
    advgnn_number_list got_scales = advgnn_options_numbers(opts, "scales");
    CHECK_INT_EQ(got_scales.count, 3);
    CHECK_NEAR(got_scales.values[0], 1, 0);
    CHECK_NEAR(got_scales.values[2], 4, 0);

    snprintf(layer, sizeof(layer), "block1");
    set_ok(ctx, opts, "layers", strings_value(layers, 2));
    layer[0] = 'X';
    advgnn_string_list got_layers = advgnn_options_strings(opts, "layers");
    CHECK_INT_EQ(got_layers.count, 2);
    CHECK(strcmp(got_layers.values[0], "block1") == 0);
    CHECK(strcmp(got_layers.values[1], "block4") == 0);

    /* One string is a list of one; an empty table is an empty list of either kind. */
    set_ok(ctx, opts, "layers", string_value("block9"));
    got_layers = advgnn_options_strings(opts, "layers");
    CHECK_INT_EQ(got_layers.count, 1);
    CHECK(strcmp(got_layers.values[0], "block9") == 0);
    set_ok(ctx, opts, "layers", numbers_value(NULL, 0));
    CHECK_INT_EQ(advgnn_options_strings(opts, "layers").count, 0);
    set_ok(ctx, opts, "scales", strings_value(NULL, 0));
    CHECK_INT_EQ(advgnn_options_numbers(opts, "scales").count, 0);

    /* Setting twice keeps the last value and frees the first (ASan checks). */
    set_ok(ctx, opts, "cache_dir", string_value("/tmp/a"));
    set_ok(ctx, opts, "cache_dir", string_value("/tmp/b"));
    CHECK(strcmp(advgnn_options_string(opts, "cache_dir"), "/tmp/b") == 0);
    CHECK_INT_EQ(advgnn_options_finish(opts, ctx), ADVGNN_OK);
    advgnn_options_free(opts);
}

/* ---- validation errors ------------------------------------------------- */

static void test_errors(advgnn_ctx *ctx)
{
    advgnn_options *opts = new_set(ctx);
    const double bad_scales[] = {1, 5};
    const double nan_scales[] = {NAN};
    const char *null_strings[] = {"a", NULL};

    if (!opts)
        return;

    /* Unknown names: a hint for a typo, the list of names otherwise. */
    expect_set_error(ctx, opts, "corset_ratio", number_value(0.1),
                     "plugin 'memory_bank': unknown option 'corset_ratio'; did you mean 'coreset_ratio'?");
    expect_set_error(ctx, opts, "sigam", number_value(1), "unknown option 'sigam'; did you mean 'sigma'?");
    expect_set_error(ctx, opts, "Metric", string_value("l2"), "did you mean 'metric'?");
    expect_set_error(ctx, opts, "batch_size", int_value(1),
                     "unknown option 'batch_size'; its options are: k, sigma, coreset_ratio, normalize, cache_dir, "
                     "metric, scales, layers, root");

    /* Wrong types name the expected type and the value received. */
    expect_set_error(ctx, opts, "sigma", string_value("wide"),
                     "plugin 'memory_bank': option 'sigma' expects a number, got string 'wide'");
    expect_set_error(ctx, opts, "k", number_value(2.5), "option 'k' expects an integer, got number 2.5");
    expect_set_error(ctx, opts, "k", number_value(1e19), "option 'k' expects an integer, got number 1e+19");
    expect_set_error(ctx, opts, "k", bool_value(1), "option 'k' expects an integer, got boolean true");
    expect_set_error(ctx, opts, "normalize", int_value(1), "option 'normalize' expects a boolean, got integer 1");
    expect_set_error(ctx, opts, "root", int_value(3), "option 'root' expects a string, got integer 3");
    expect_set_error(ctx, opts, "scales", number_value(1), "option 'scales' expects a list of numbers, got number 1");
    expect_set_error(ctx, opts, "layers", numbers_value(bad_scales, 2),
                     "option 'layers' expects a list of strings or one string, got list of numbers of 2 elements");
    expect_set_error(ctx, opts, "layers", strings_value(null_strings, 2), "option 'layers' element 2 is not a string");
    expect_set_error(ctx, opts, "metric", int_value(2), "option 'metric' expects one of 'l2', 'cosine', 'inner_product', got integer 2");

    /* Ranges, with both ends, one end, and per list element. */
    expect_set_error(ctx, opts, "k", int_value(100), "plugin 'memory_bank': option 'k' must be between 0 and 64, got 100");
    expect_set_error(ctx, opts, "k", int_value(-1), "option 'k' must be between 0 and 64, got -1");
    expect_set_error(ctx, opts, "sigma", number_value(-0.5), "option 'sigma' must be at least 0, got -0.5");
    expect_set_error(ctx, opts, "coreset_ratio", number_value(1.5), "must be between 0 and 1, got 1.5");
    expect_set_error(ctx, opts, "sigma", number_value(INFINITY), "option 'sigma' must be a finite number, got infinity");
    expect_set_error(ctx, opts, "sigma", number_value(NAN), "must be a finite number, got NaN");
    expect_set_error(ctx, opts, "scales", numbers_value(bad_scales, 2),
                     "option 'scales' element 2 must be at most 4, got 5");
    expect_set_error(ctx, opts, "scales", numbers_value(nan_scales, 1), "element 1 must be a finite number");

    /* Enum choices are listed. */
    expect_set_error(ctx, opts, "metric", string_value("manhattan"),
                     "option 'metric' must be one of 'l2', 'cosine', 'inner_product', got 'manhattan'");

    /* A failed set leaves the previous value. */
    CHECK_INT_EQ(advgnn_options_int(opts, "k"), 1);
    CHECK_INT_EQ(advgnn_options_is_set(opts, "k"), 0);
    CHECK_NEAR(advgnn_options_number(opts, "sigma"), 4.0, 0);
    CHECK(strcmp(advgnn_options_string(opts, "metric"), "l2") == 0);
    CHECK_INT_EQ(advgnn_options_numbers(opts, "scales").count, 2);
    advgnn_options_free(opts);
}

static void test_closest_name(void)
{
    const char *const plugins[] = {"memory_bank", "reconstruction", "mvtec_ad", "visa"};

    CHECK(advgnn_options_closest_name(specs, "corset_ratio") == specs[2].name);
    CHECK(advgnn_options_closest_name(specs, "sigma") == specs[1].name);
    CHECK(advgnn_options_closest_name(specs, "x") == NULL);       /* one letter: "k" is no typo of it */
    CHECK(advgnn_options_closest_name(specs, "roots") == specs[8].name);
    CHECK(advgnn_options_closest_name(specs, "threshold") == NULL);
    CHECK(advgnn_options_closest_name(NULL, "k") == NULL);

    CHECK_INT_EQ(advgnn_edit_distance("sigma", "sigam"), 1); /* one transposition */
    CHECK_INT_EQ(advgnn_edit_distance("kitten", "sitting"), 3);
    CHECK_INT_EQ(advgnn_edit_distance("", "abc"), 3);
    CHECK_INT_EQ(advgnn_edit_distance("ca", "abc"), 3); /* optimal string alignment, not full Damerau */
    CHECK(advgnn_closest_name("memorybank", plugins, 4) == plugins[0]);
    CHECK(advgnn_closest_name("mvtec", plugins, 4) == NULL);
    CHECK(advgnn_closest_name("vise", plugins, 4) == plugins[3]);
}

/* ---- schema errors ----------------------------------------------------- */

static void expect_schema_error(advgnn_ctx *ctx, const advgnn_option_spec *bad, const char *expected)
{
    advgnn_options *opts = (advgnn_options *)1;

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_options_new(ctx, "broken", bad, &opts), ADVGNN_ERR_PLUGIN);
    CHECK(opts == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "plugin 'broken'");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), expected);
    advgnn_ctx_clear_error(ctx);
}

static void test_schema_errors(advgnn_ctx *ctx)
{
    static const char *const choices[] = {"a", "b", NULL};
    static const char *const repeated[] = {"a", "a", NULL};
    static const double out_of_range[] = {1, 20};
    static const char *const null_item[] = {NULL};
    const uint32_t range = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX;

    const advgnn_option_spec default_range[] = {
        {.name = "k", .type = ADVGNN_OPT_INT, .help = "h", .def.integer = 100, .min = 0, .max = 64, .flags = range},
        {0}};
    const advgnn_option_spec enum_default[] = {
        {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "h", .def.string = "c", .choices = choices}, {0}};
    const advgnn_option_spec enum_no_default[] = {
        {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "h", .choices = choices}, {0}};
    const advgnn_option_spec enum_no_choices[] = {
        {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "h", .def.string = "a"}, {0}};
    const advgnn_option_spec enum_repeated[] = {
        {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "h", .def.string = "a", .choices = repeated}, {0}};
    const advgnn_option_spec duplicate[] = {
        {.name = "k", .type = ADVGNN_OPT_INT, .help = "h"}, {.name = "k", .type = ADVGNN_OPT_INT, .help = "h"}, {0}};
    const advgnn_option_spec bad_name[] = {{.name = "Sigma", .type = ADVGNN_OPT_NUMBER, .help = "h"}, {0}};
    const advgnn_option_spec digit_name[] = {{.name = "2d", .type = ADVGNN_OPT_NUMBER, .help = "h"}, {0}};
    const advgnn_option_spec zero_type[] = {{.name = "k", .help = "h"}, {0}};
    const advgnn_option_spec no_help[] = {{.name = "k", .type = ADVGNN_OPT_INT}, {0}};
    const advgnn_option_spec min_above_max[] = {
        {.name = "k", .type = ADVGNN_OPT_INT, .help = "h", .min = 5, .max = 1, .flags = range}, {0}};
    const advgnn_option_spec range_on_string[] = {
        {.name = "s", .type = ADVGNN_OPT_STRING, .help = "h", .flags = ADVGNN_OPT_HAS_MIN}, {0}};
    const advgnn_option_spec unknown_flag[] = {{.name = "k", .type = ADVGNN_OPT_INT, .help = "h", .flags = 0x80}, {0}};
    const advgnn_option_spec choices_on_int[] = {
        {.name = "k", .type = ADVGNN_OPT_INT, .help = "h", .choices = choices}, {0}};
    const advgnn_option_spec list_range[] = {
        {.name = "l", .type = ADVGNN_OPT_NUMBER_LIST, .help = "h", .def.numbers = {out_of_range, 2}, .max = 10,
         .flags = ADVGNN_OPT_HAS_MAX},
        {0}};
    const advgnn_option_spec list_no_values[] = {
        {.name = "l", .type = ADVGNN_OPT_NUMBER_LIST, .help = "h", .def.numbers = {NULL, 3}}, {0}};
    const advgnn_option_spec strings_null_item[] = {
        {.name = "l", .type = ADVGNN_OPT_STRING_LIST, .help = "h", .def.strings = {null_item, 1}}, {0}};
    const advgnn_option_spec bool_two[] = {{.name = "b", .type = ADVGNN_OPT_BOOL, .help = "h", .def.boolean = 2}, {0}};
    const advgnn_option_spec nan_default[] = {
        {.name = "x", .type = ADVGNN_OPT_NUMBER, .help = "h", .def.number = NAN}, {0}};

    expect_schema_error(ctx, default_range, "option 'k': invalid declaration: the default 100 is outside the declared range");
    expect_schema_error(ctx, enum_default, "option 'mode': invalid declaration: the default 'c' is not among the choices");
    expect_schema_error(ctx, enum_no_default, "an enum needs a default or the REQUIRED flag");
    expect_schema_error(ctx, enum_no_choices, "an enum needs a NULL-terminated, non-empty choices list");
    expect_schema_error(ctx, enum_repeated, "choice 'a' is listed twice");
    expect_schema_error(ctx, duplicate, "option 'k': invalid declaration: the name is declared twice");
    expect_schema_error(ctx, bad_name, "option 1 has the name 'Sigma'");
    expect_schema_error(ctx, digit_name, "option 1 has the name '2d'");
    expect_schema_error(ctx, zero_type, "unknown type 0");
    expect_schema_error(ctx, no_help, "help text is missing");
    expect_schema_error(ctx, min_above_max, "min 5 is greater than max 1");
    expect_schema_error(ctx, range_on_string, "a range applies only to integer, number and list of numbers options");
    expect_schema_error(ctx, unknown_flag, "unknown flags 0x80");
    expect_schema_error(ctx, choices_on_int, "choices apply only to enum and string list options");
    expect_schema_error(ctx, list_range, "a default element 20 is outside the declared range");
    expect_schema_error(ctx, list_no_values, "the default list has 3 elements but no values");
    expect_schema_error(ctx, strings_null_item, "default element 1 is NULL");
    expect_schema_error(ctx, bool_two, "a boolean default must be 0 or 1");
    expect_schema_error(ctx, nan_default, "the default is not finite");

    /* A REQUIRED enum needs no default, and no specs at all is fine. */
    const advgnn_option_spec required_enum[] = {
        {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "h", .choices = choices, .flags = ADVGNN_OPT_REQUIRED},
        {0}};
    advgnn_options *opts = NULL;
    CHECK_INT_EQ(advgnn_options_new(ctx, "fine", required_enum, &opts), ADVGNN_OK);
    advgnn_options_free(opts);
    CHECK_INT_EQ(advgnn_options_new(ctx, "fine", NULL, &opts), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_options_count(opts), 0);
    CHECK_INT_EQ(advgnn_options_finish(opts, ctx), ADVGNN_OK);
    expect_set_error(ctx, opts, "k", int_value(1), "plugin 'fine': unknown option 'k'; this plugin takes no options");
    advgnn_options_free(opts);
}

/* ---- formatting and names ---------------------------------------------- */

static void expect_format(const advgnn_options *opts, const char *name, const char *expected)
{
    char buf[256];
    size_t index = (size_t)(advgnn_options_find_spec(opts, name) - advgnn_options_spec_at(opts, 0));
    size_t length = advgnn_options_format_value(opts, index, buf, sizeof(buf));

    CHECK_INT_EQ(length, strlen(expected));
    if (strcmp(buf, expected) != 0) {
        fprintf(stderr, "format of '%s': got \"%s\", expected \"%s\"\n", name, buf, expected);
        CHECK(0);
    }
}

static void test_format(advgnn_ctx *ctx)
{
    advgnn_options *opts = new_set(ctx);
    const double scales[] = {0.1, 1e-7, 3};
    char small[6];

    if (!opts)
        return;
    expect_format(opts, "k", "1");
    expect_format(opts, "coreset_ratio", "0.1");
    expect_format(opts, "normalize", "true");
    expect_format(opts, "cache_dir", "(none)");
    expect_format(opts, "metric", "l2");
    expect_format(opts, "scales", "[0.5, 1]");
    expect_format(opts, "layers", "[\"block2\", \"block3\"]");
    expect_format(opts, "root", "(required)");

    set_ok(ctx, opts, "k", int_value(-64 + 64));
    set_ok(ctx, opts, "sigma", number_value(1.0 / 3.0));
    set_ok(ctx, opts, "normalize", bool_value(0));
    set_ok(ctx, opts, "scales", numbers_value(scales, 3));
    set_ok(ctx, opts, "root", string_value("/data"));
    expect_format(opts, "k", "0");
    expect_format(opts, "sigma", "0.3333333333333333"); /* 16 digits read back exactly */
    expect_format(opts, "normalize", "false");
    expect_format(opts, "scales", "[0.1, 1e-07, 3]");
    expect_format(opts, "root", "/data");

    /* Like snprintf: cut to the buffer, return the full length. */
    CHECK_INT_EQ(advgnn_options_format_value(opts, 6, small, sizeof(small)), strlen("[0.1, 1e-07, 3]"));
    CHECK(strcmp(small, "[0.1,") == 0);
    CHECK_INT_EQ(advgnn_options_format_value(opts, 6, NULL, 0), strlen("[0.1, 1e-07, 3]"));
    advgnn_options_free(opts);

    /* Numbers: the fewest digits that read back, plain notation for whole numbers. */
    const struct {
        double value;
        const char *text;
    } numbers[] = {{100, "100"}, {0.1, "0.1"}, {-2.5, "-2.5"}, {12345678, "12345678"}, {1e20, "1e+20"},
                   {1e-7, "1e-07"}, {0, "0"}, {0.1 + 0.2, "0.30000000000000004"}, {INFINITY, "inf"}};
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        char text[32];
        advgnn_format_number(numbers[i].value, text, sizeof(text));
        if (strcmp(text, numbers[i].text) != 0) {
            fprintf(stderr, "format_number: got \"%s\", expected \"%s\"\n", text, numbers[i].text);
            CHECK(0);
        }
    }

    CHECK(strcmp(advgnn_option_type_name(ADVGNN_OPT_INT), "integer") == 0);
    CHECK(strcmp(advgnn_option_type_name(ADVGNN_OPT_STRING_LIST), "list of strings") == 0);
    CHECK(strcmp(advgnn_option_type_name((advgnn_option_type)99), "invalid") == 0);
    CHECK(strcmp(advgnn_value_kind_name(ADVGNN_VALUE_NUMBER_LIST), "list of numbers") == 0);
    CHECK(strcmp(advgnn_value_kind_name(ADVGNN_VALUE_INVALID), "invalid value") == 0);
}

/* ---- getters that abort ------------------------------------------------ */

/* Runs one getter misuse in a child process and checks that it aborts with a
 * message naming the plugin and the option. */
static void expect_abort(advgnn_ctx *ctx, int misuse, const char *expected)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    char output[2048] = "";
    ssize_t n, total = 0;

    CHECK(pipe(fds) == 0);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        advgnn_options *opts = NULL;
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        if (advgnn_options_new(ctx, "memory_bank", specs, &opts) != ADVGNN_OK)
            _exit(3);
        if (misuse == 0)
            (void)advgnn_options_int(opts, "kk");
        else if (misuse == 1)
            (void)advgnn_options_int(opts, "sigma");
        else if (misuse == 2)
            (void)advgnn_options_string(opts, "root");
        else
            (void)advgnn_options_is_set(opts, "nope");
        _exit(0); /* reached only when the getter did not abort */
    }

    close(fds[1]);
    while ((n = read(fds[0], output + total, sizeof(output) - 1 - (size_t)total)) > 0)
        total += n;
    output[total] = '\0';
    close(fds[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status))
        CHECK_INT_EQ(WTERMSIG(status), SIGABRT);
    CHECK_STR_CONTAINS(output, "options.c:");
    CHECK_STR_CONTAINS(output, expected);
}

static void test_getter_aborts(advgnn_ctx *ctx)
{
    expect_abort(ctx, 0, "plugin 'memory_bank' read option 'kk', which it does not declare");
    expect_abort(ctx, 1, "plugin 'memory_bank' read option 'sigma' as integer, but declares it as number");
    expect_abort(ctx, 2, "plugin 'memory_bank' read required option 'root' before it was set");
    expect_abort(ctx, 3, "option 'nope', which it does not declare");
}

/* ---- allocation failures ----------------------------------------------- */

/* Builds a full set with every allocation failing in turn: each run ends in
 * ADVGNN_OK or ADVGNN_ERR_NOMEM, and ASan checks that nothing leaks. */
static void test_allocation_failures(advgnn_ctx *ctx)
{
    const double scales[] = {1, 2};
    const char *const layers[] = {"a", "b", "c"};
    int completed = 0;
    size_t n;

    for (n = 1; n < 200 && !completed; n++) {
        advgnn_options *opts = NULL;
        advgnn_value values[4] = {string_value("/data"), string_value("cosine"), numbers_value(scales, 2),
                                  strings_value(layers, 3)};
        const char *names[4] = {"root", "metric", "scales", "layers"};
        int rc;

        advgnn_ctx_clear_error(ctx);
        advgnn_alloc_fail_after(n);
        rc = advgnn_options_new(ctx, "memory_bank", specs, &opts);
        for (int i = 0; i < 4 && rc == ADVGNN_OK; i++)
            rc = advgnn_options_set(opts, ctx, names[i], &values[i]);
        if (rc == ADVGNN_OK)
            rc = advgnn_options_finish(opts, ctx);
        advgnn_alloc_fail_after(0);

        CHECK(rc == ADVGNN_OK || rc == ADVGNN_ERR_NOMEM);
        if (rc == ADVGNN_ERR_NOMEM) {
            CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "out of memory");
            CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "memory_bank");
        }
        completed = rc == ADVGNN_OK;
        if (completed) {
            CHECK(strcmp(advgnn_options_string(opts, "root"), "/data") == 0);
            CHECK_INT_EQ(advgnn_options_strings(opts, "layers").count, 3);
        }
        advgnn_options_free(opts);
    }
    CHECK(completed);
    CHECK(n > 8); /* new + four sets allocate at least eight blocks */
    advgnn_ctx_clear_error(ctx);
}

/* A string list with choices checks each element when it is set, names the
 * element, lists the choices and suggests the closest one. */
static void test_string_list_choices(advgnn_ctx *ctx)
{
    static const char *const kinds[] = {"checker", "stripes", "dots", NULL};
    static const char *const default_kinds[] = {"checker", "dots"};
    static const char *const typo[] = {"dots", "checkers"};
    static const char *const unrelated[] = {"zzzzzzzzzz"};
    static const char *const valid[] = {"stripes"};
    static const char *const bad_default[] = {"waves"};
    const advgnn_option_spec list_specs[] = {
        {.name = "kinds", .type = ADVGNN_OPT_STRING_LIST, .help = "h", .def.strings = {default_kinds, 2},
         .choices = kinds},
        {0}};
    const advgnn_option_spec default_outside[] = {
        {.name = "kinds", .type = ADVGNN_OPT_STRING_LIST, .help = "h", .def.strings = {bad_default, 1},
         .choices = kinds},
        {0}};
    advgnn_options *opts = NULL;

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_options_new(ctx, "synthetic", list_specs, &opts), ADVGNN_OK);
    if (!opts)
        return;
    expect_set_error(ctx, opts, "kinds", strings_value(typo, 2),
                     "option 'kinds' element 2 'checkers' is not one of 'checker', 'stripes', 'dots'");
    expect_set_error(ctx, opts, "kinds", strings_value(typo, 2), "did you mean 'checker'?");
    expect_set_error(ctx, opts, "kinds", string_value("strips"), "element 1 'strips' is not one of");
    advgnn_ctx_clear_error(ctx);
    advgnn_value far = strings_value(unrelated, 1);
    CHECK_INT_EQ(advgnn_options_set(opts, ctx, "kinds", &far), ADVGNN_ERR_OPTION);
    CHECK(strstr(advgnn_ctx_error(ctx), "did you mean") == NULL);

    /* A failed set keeps the default; a valid element is accepted. */
    CHECK_INT_EQ(advgnn_options_strings(opts, "kinds").count, 2);
    advgnn_ctx_clear_error(ctx);
    advgnn_value ok = strings_value(valid, 1);
    CHECK_INT_EQ(advgnn_options_set(opts, ctx, "kinds", &ok), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_options_strings(opts, "kinds").count, 1);
    advgnn_options_free(opts);

    expect_schema_error(ctx, default_outside, "default element 'waves' is not among the choices");
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    if (!ctx)
        return 1;
    test_defaults(ctx);
    test_every_type(ctx);
    test_errors(ctx);
    test_closest_name();
    test_schema_errors(ctx);
    test_string_list_choices(ctx);
    test_format(ctx);
    test_getter_aborts(ctx);
    test_allocation_failures(ctx);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
