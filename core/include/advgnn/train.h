/* The training loop shared by trainable encoder plugins: epochs over the
 * normal training images with a seeded shuffle, the engine's optimizer and
 * learning-rate schedule, validation loss per epoch, early stopping,
 * detection of a non-finite loss, checkpoints and resume.
 *
 * The plugin owns the network and its loss: it passes a step callback that
 * runs the forward pass on a batch, computes the loss and, when training, the
 * backward pass (filling the gradients). The loop does the rest.
 *
 * Checkpoints are three files in `checkpoint_dir`:
 * checkpoint.optimizer.safetensors (the optimizer's moments and step count,
 * from advgnn_optim_save), checkpoint.safetensors (every parameter and
 * buffer, from advgnn_nn_save) and checkpoint.json (epoch, optimizer step,
 * shuffle RNG state, early-stopping and plateau state, the losses so far).
 * They are written in this order, each through a temporary file. A resume
 * checks that the optimizer's step count equals the JSON's, so it rejects a
 * folder where writing a checkpoint stopped before the JSON. A resume
 * restores all three, so with the same seed, thread count and machine it ends
 * with the same weights, bit for bit, as a run without the interruption, for
 * every optimizer. */
#ifndef ADVGNN_TRAIN_H
#define ADVGNN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/encoder.h"
#include "advgnn/nn.h"
#include "advgnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs one batch. `images` is (batch_size, C, H, W) f32. Only the first
 * `valid` images are real, and the loss must cover only them: validation pads
 * its last batch by repeating images, while training batches are always full. With
 * `training` nonzero: forward in training mode, loss, backward (gradients of
 * every parameter overwritten); else forward in inference mode and loss only.
 * Stores the mean loss over the valid images in *loss. */
typedef int (*advgnn_train_step_fn)(void *user, advgnn_ctx *ctx, const advgnn_tensor *images, size_t valid,
                                    int training, double *loss);

typedef struct advgnn_train_config {
    int epochs;         /* total epochs, counting those done before a resume; >= 1 */
    int batch_size;     /* images per step; the network's batch dimension */
    uint64_t seed;      /* seeds the shuffle of the training images */
    advgnn_optim_config optim;
    advgnn_lr_schedule schedule; /* steps counted from 0 over all epochs; plateau observes validation loss */
    double clip_grad_norm;       /* 0: no clipping */
    int patience;       /* epochs without a validation improvement before stopping; 0: never stop early */
    double min_delta;   /* improvement below best - min_delta counts */
    int checkpoint_every; /* epochs between checkpoints; 0: only at the end */
    const char *checkpoint_dir; /* folder for checkpoints, created if missing; NULL: none. Borrowed */
    const char *resume_from;    /* folder of a checkpoint to continue from, or NULL. Borrowed */
    int progress;       /* nonzero: a progress bar on stderr when it is a terminal */
    const char *label;  /* names the model in log lines, e.g. "cnn_ae"; borrowed */
} advgnn_train_config;

/* Per-epoch results. Arrays have `epochs` entries; free with advgnn_train_history_free. */
typedef struct advgnn_train_history {
    int epochs;          /* epochs completed, those before a resume included */
    double *train_loss;  /* mean training loss of each epoch */
    double *val_loss;    /* mean validation loss of each epoch; NAN without validation images */
    double *seconds;     /* wall-clock seconds of each epoch (0 for epochs read from a checkpoint) */
    double *lr;          /* learning rate at the last step of each epoch */
    int best_epoch;      /* 1-based epoch with the lowest validation loss; 0 without validation */
    int stopped_early;   /* nonzero when early stopping ended the run */
    int64_t steps;       /* optimizer steps done */
} advgnn_train_history;

/* Trains `nn` (committed, parameters initialized) with `step`. `train` must
 * hold at least one image; `validation` may be NULL or empty. *history is
 * overwritten, so free a history used before. Images are read
 * as (channels, height, width). On success *history contains the per-epoch
 * losses. A NaN or infinite loss stops the run with ADVGNN_ERR_NUMERIC and a
 * message naming the epoch and step; the last checkpoint on disk is the last
 * good one. On failure *history still contains the epochs completed. */
int advgnn_train_run(advgnn_ctx *ctx, advgnn_nn *nn, const advgnn_train_config *config,
                     const advgnn_image_source *train, const advgnn_image_source *validation, int channels,
                     int height, int width, advgnn_train_step_fn step, void *user, advgnn_train_history *history);

/* Frees the arrays of a history and zeroes it. Safe on a zeroed history. */
void advgnn_train_history_free(advgnn_train_history *history);

/* Writes a history as JSON ({"epochs": [{"epoch", "train_loss", "val_loss",
 * "seconds", "lr"}...], "best_epoch", "stopped_early"}) to `path`, atomically. */
int advgnn_train_history_save(advgnn_ctx *ctx, const advgnn_train_history *history, const char *path);

#ifdef __cplusplus
}
#endif
#endif
