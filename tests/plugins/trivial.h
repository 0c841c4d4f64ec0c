/* Function bodies shared by the ABI test plugins. They do nothing useful: the
 * tests only check how the loader reads the descriptors and tables. */
#ifndef ADVGNN_TEST_TRIVIAL_H
#define ADVGNN_TEST_TRIVIAL_H

#include <advgnn/plugin.h>

static inline int scorer_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config,
                         void **state)
{
    *state = NULL;
    return ADVGNN_OK;
}

static inline void scorer_destroy(void *state)
{
}

static inline int scorer_fit_add(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    return ADVGNN_OK;
}

static inline int scorer_fit_end(void *state, advgnn_ctx *ctx)
{
    return ADVGNN_OK;
}

static inline int scorer_score(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps, float *scores)
{
    return ADVGNN_OK;
}

#endif
