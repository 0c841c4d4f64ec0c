/* Reconstruction images: each chosen test image encoded again to get its
 * reconstruction, written beside the input. */
#include <string.h>

#include "advgnn/status.h"
#include "experiment/reconstructions.h"
#include "report/results.h"
#include "util/fsutil.h"

/* Creates the folder that contains `path` (sample names keep their folders). */
static int make_parent(advgnn_ctx *ctx, char *path)
{
    char *slash = strrchr(path, '/');
    int rc;

    if (!slash)
        return ADVGNN_OK;
    *slash = '\0';
    rc = advgnn_fs_mkdir_p(ctx, path);
    *slash = '/';
    return rc;
}

int advgnn_run_write_reconstructions(advgnn_ctx *ctx, const char *output_dir, const char *category,
                                     const advgnn_encoder_functions *fn, void *encoder,
                                     const advgnn_split_data *test, const advgnn_preprocess *pp,
                                     const size_t *chosen, char *const *names, size_t count)
{
    size_t pixels = (size_t)test->height * (size_t)test->width;
    advgnn_tensor features = {0}, reconstruction = {0};
    int channels = 0, height = 0, width = 0;
    char *root = NULL, *folder = NULL;
    int rc;

    if (count == 0 || !(fn->flags & ADVGNN_ENCODER_RECONSTRUCTS))
        return ADVGNN_OK;

    /* Buffers for one image: the run's batch buffers are sized for a batch,
     * but a few chosen images are not contiguous in the split. */
    rc = fn->feature_shape(encoder, &channels, &height, &width);
    int64_t feature_shape[4] = {1, channels, height, width};
    int64_t image_shape[4] = {1, 3, test->height, test->width};
    if (rc == ADVGNN_OK)
        rc = advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, feature_shape);
    if (rc == ADVGNN_OK)
        rc = advgnn_tensor_alloc(ctx, &reconstruction, ADVGNN_DTYPE_F32, 4, image_shape);
    if (rc == ADVGNN_OK) {
        root = advgnn_fs_join(output_dir, "reconstructions");
        folder = root ? advgnn_fs_join(root, category) : NULL;
        rc = folder ? advgnn_fs_mkdir_p(ctx, folder) : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    }

    for (size_t k = 0; rc == ADVGNN_OK && k < count; k++) {
        float *input = test->images + chosen[k] * 3 * pixels;
        advgnn_tensor image = advgnn_tensor_view(input, ADVGNN_DTYPE_F32, 4, image_shape);
        char *path = advgnn_fs_join(folder, names[k]);

        if (!path) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
            break;
        }
        rc = fn->encode(encoder, ctx, &image, &features, &reconstruction);
        if (rc != ADVGNN_OK)
            advgnn_error_prefixf(ctx, "encoding test image '%s' for its reconstruction", test->samples[chosen[k]].name);
        if (rc == ADVGNN_OK)
            rc = make_parent(ctx, path);
        if (rc == ADVGNN_OK)
            rc = advgnn_report_write_reconstruction(ctx, path, input, reconstruction.data, test->height, test->width,
                                                    pp->mean, pp->std);
        advgnn_free(path);
    }

    advgnn_tensor_release(&features);
    advgnn_tensor_release(&reconstruction);
    advgnn_free(root);
    advgnn_free(folder);
    return rc;
}
