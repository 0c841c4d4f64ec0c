/* The reconstruction images of a run (reconstructions/<category>/). Private
 * to the experiment module. */
#ifndef ADVGNN_EXPERIMENT_RECONSTRUCTIONS_H
#define ADVGNN_EXPERIMENT_RECONSTRUCTIONS_H

#include <stddef.h>

#include "advgnn/encoder.h"
#include "data/category_data.h"
#include "util/internal.h"

/* Writes <output_dir>/reconstructions/<category>/<names[k]> for the test
 * images test->images[chosen[k]], k < count: the input beside the encoder's
 * reconstruction of it, denormalized with pp's mean and std (see
 * advgnn_report_write_reconstruction). The caller passes the heatmaps' choice
 * and file names, so both folders hold the same images under the same names.
 * The encoder must have ADVGNN_ENCODER_RECONSTRUCTS; each image is encoded
 * again on its own. */
ADVGNN_INTERNAL int advgnn_run_write_reconstructions(advgnn_ctx *ctx, const char *output_dir, const char *category,
                                                     const advgnn_encoder_functions *fn, void *encoder,
                                                     const advgnn_split_data *test, const advgnn_preprocess *pp,
                                                     const size_t *chosen, char *const *names, size_t count);

#endif
