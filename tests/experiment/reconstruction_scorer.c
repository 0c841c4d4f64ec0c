/* A scorer plugin for the runner's tests that declares it needs the
 * encoder's reconstruction. The runner must reject it with an encoder that
 * does not reconstruct before calling any of its functions, so each function
 * fails when called. */
#include <advgnn/plugin.h>

static int needs_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config,
                        void **state)
{
    return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "test_needs_reconstruction: create() must not be called");
}

static void needs_destroy(void *state)
{
}

static int needs_fit_add(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "test_needs_reconstruction: fit_add() must not be called");
}

static int needs_score(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps, float *scores)
{
    return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "test_needs_reconstruction: score() must not be called");
}

static const advgnn_scorer_functions needs_functions = {
    .struct_size = sizeof(advgnn_scorer_functions),
    .flags = ADVGNN_SCORER_NEEDS_RECONSTRUCTION,
    .create = needs_create,
    .destroy = needs_destroy,
    .fit_add = needs_fit_add,
    .score = needs_score,
};

static const advgnn_plugin_descriptor needs_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_SCORER,
    .name = "test_needs_reconstruction",
    .version = "1.0.0",
    .description = "a scorer that needs a reconstruction (tests only)",
    .functions = &needs_functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &needs_descriptor;
}
