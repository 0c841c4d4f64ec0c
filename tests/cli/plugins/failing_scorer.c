/* A scorer whose fit always fails with ADVGNN_ERR_INVALID_ARG, as a plugin
 * that rejects its data would, so the CLI tests can check the message and
 * hint of a failure inside a run. */
#include <advgnn/plugin.h>

static const advgnn_option_spec options[] = {{0}};

static int failing_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config,
                          void **state)
{
    (void)ctx;
    (void)opts;
    (void)config;
    *state = NULL;
    return ADVGNN_OK;
}

static void failing_destroy(void *state)
{
    (void)state;
}

static int failing_fit_add(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    (void)state;
    (void)batch;
    return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cli_failing_scorer: every batch is rejected");
}

static int failing_score(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps,
                         float *scores)
{
    (void)state;
    (void)batch;
    (void)maps;
    (void)scores;
    return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cli_failing_scorer: scoring is not possible");
}

static const advgnn_scorer_functions functions = {
    .struct_size = sizeof(advgnn_scorer_functions),
    .create = failing_create,
    .destroy = failing_destroy,
    .fit_add = failing_fit_add,
    .score = failing_score,
};

static const advgnn_plugin_descriptor descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_SCORER,
    .name = "cli_failing_scorer",
    .version = "1.0.0",
    .description = "Test scorer whose fit always fails.",
    .options = options,
    .functions = &functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &descriptor;
}
