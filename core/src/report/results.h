/* Files of a run's output folder: results.json, scores.csv and the heatmap
 * PNGs. Every file is written atomically (a temporary file renamed into
 * place), so a reader sees the previous version or the complete new one. Private. */
#ifndef ADVGNN_REPORT_RESULTS_H
#define ADVGNN_REPORT_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "advgnn/context.h"
#include "advgnn/image.h"
#include "advgnn/options.h"
#include "data/sample_store.h"

/* ---- JSON ---------------------------------------------------------------- */

/* Returns an object mapping each option of `opts` to its resolved value as a
 * typed JSON value (integer and number as numbers, bool, string, arrays for
 * lists), or NULL when out of memory. Free with cJSON_Delete. */
cJSON *advgnn_report_options_json(const advgnn_options *opts);

/* Writes `root` as indented JSON to `path`, atomically. */
int advgnn_report_write_json(advgnn_ctx *ctx, const char *path, const cJSON *root);

/* Adds "training" to a category's results object `category`, copied from
 * the per-epoch history that the training loop wrote to
 * <work_dir>/train_history.json (advgnn_train_history_save):
 * {"epochs": [{"epoch", "train_loss", "val_loss", "seconds", "lr"}...],
 *  "best_epoch", "stopped_early", "steps"}, with null for a loss that was not
 * finite or not computed (val_loss without validation images). A history
 * last modified before `trained_since` (seconds since the Unix epoch) is
 * left out, because it is left over from an earlier run in the same folder.
 * An absent history adds nothing, and one that is not valid JSON adds
 * nothing and logs a warning. Fails only when out of memory or when the file
 * exists but cannot be read. */
int advgnn_report_add_training(advgnn_ctx *ctx, cJSON *category, const char *work_dir, int64_t trained_since);

/* ---- scores.csv ---------------------------------------------------------- */

/* A growing text buffer. An allocation failure sets `failed` and drops later
 * appends, so callers check once at the end. */
typedef struct advgnn_text {
    char *data;
    size_t length;
    size_t capacity;
    int failed;
} advgnn_text;

void advgnn_text_appendf(advgnn_text *text, const char *fmt, ...) ADVGNN_PRINTF(2, 3);
/* Appends one CSV field (RFC 4180): quoted when it contains a comma, quote,
 * CR or LF, with quotes doubled. */
void advgnn_text_append_csv_field(advgnn_text *text, const char *field);
void advgnn_text_release(advgnn_text *text);

/* ---- heatmaps ------------------------------------------------------------ */

/* Picks up to `limit` test images for heatmaps (limit < 0: all), writing
 * their indices to `chosen` (room for `count`) and returning how many.
 * Deterministic: defective images first, one defect type after another in
 * turn (types in byte order, names in byte order within a type), then normal
 * images in name order. */
size_t advgnn_report_select_heatmaps(const advgnn_sample *samples, size_t count, long limit, size_t *chosen);

/* Returns a relative path for a sample's heatmap: the sample name with its
 * folders kept, other characters outside [A-Za-z0-9._-] replaced by '_', no
 * component starting with '.', and the extension replaced by ".png". Free
 * with advgnn_free; NULL when out of memory. */
char *advgnn_report_heatmap_file_name(const char *sample_name);

/* Writes the overlay of `map` (H x W) on the preprocessed image `chw`
 * (3 x H x W, normalized with `mean` and `std`, which are undone to get 8-bit
 * pixels), with the mask outlined when `mask` is non-NULL, to `path` as PNG.
 * The colormap spans [vmin, vmax]. */
int advgnn_report_write_heatmap(advgnn_ctx *ctx, const char *path, const float *chw, int height, int width,
                                const float mean[3], const float std[3], const float *map, float vmin, float vmax,
                                const uint8_t *mask);

/* Writes the preprocessed input `input` and the encoder's `reconstruction`
 * (both 3 x H x W, normalized with `mean` and `std`, which are undone and
 * clamped to 8 bits) side by side, input on the left, to `path` as a PNG of
 * 2W x H. The file appears atomically (advgnn_image_save_png). */
int advgnn_report_write_reconstruction(advgnn_ctx *ctx, const char *path, const float *input,
                                       const float *reconstruction, int height, int width, const float mean[3],
                                       const float std[3]);

#endif
