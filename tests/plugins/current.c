/* A scorer built for the current ABI, with every slot and one option of
 * each type, as a well-formed plugin should be. */
#include "trivial.h"

static const char *const metric_choices[] = {"l2", "cosine", NULL};
static const double default_sigmas[] = {1.0, 2.5};
static const char *const default_tags[] = {"a", "b"};

static const advgnn_option_spec options[] = {
    {.name = "k", .type = ADVGNN_OPT_INT, .help = "Neighbours averaged per patch.", .def.integer = 1, .min = 1,
     .max = 64, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "sigma", .type = ADVGNN_OPT_NUMBER, .help = "Gaussian smoothing in pixels.", .def.number = 4.0,
     .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "metric", .type = ADVGNN_OPT_ENUM, .help = "Distance between patches.", .def.string = "l2",
     .choices = metric_choices},
    {.name = "sigmas", .type = ADVGNN_OPT_NUMBER_LIST, .help = "Scales in pixels.",
     .def.numbers = {default_sigmas, 2}},
    {.name = "tags", .type = ADVGNN_OPT_STRING_LIST, .help = "Free-form labels.", .def.strings = {default_tags, 2}},
    {.name = "verbose", .type = ADVGNN_OPT_BOOL, .help = "Logs every batch.", .def.boolean = 0},
    {.name = "root", .type = ADVGNN_OPT_STRING, .help = "Dataset folder.", .flags = ADVGNN_OPT_REQUIRED},
    {0},
};

static const advgnn_scorer_functions functions = {
    .struct_size = sizeof(advgnn_scorer_functions),
    .create = scorer_create,
    .destroy = scorer_destroy,
    .fit_add = scorer_fit_add,
    .fit_end = scorer_fit_end,
    .score = scorer_score,
};

static const advgnn_plugin_descriptor descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_SCORER,
    .name = "test_current",
    .version = "1.2.3",
    .description = "Scorer built for the current ABI.",
    .options = options,
    .functions = &functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &descriptor;
}
