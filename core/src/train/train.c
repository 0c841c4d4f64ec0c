/* The training loop of trainable encoders (see advgnn/train.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "advgnn/rng.h"
#include "advgnn/train.h"
#include "report/progress.h"
#include "util/fsutil.h"

#define CHECKPOINT_WEIGHTS "checkpoint.safetensors"
#define CHECKPOINT_OPTIMIZER "checkpoint.optimizer.safetensors"
#define CHECKPOINT_STATE "checkpoint.json"
#define CHECKPOINT_MAX_BYTES (16u << 20) /* the JSON has a few numbers per epoch */

/* Everything one run of the loop needs; lives on advgnn_train_run's stack. */
typedef struct loop {
    advgnn_ctx *ctx;
    const advgnn_train_config *config;
    advgnn_nn *nn;
    advgnn_optim *opt;
    const advgnn_image_source *train, *validation;
    advgnn_train_step_fn step;
    void *user;
    int channels, height, width;

    advgnn_rng rng;         /* shuffle generator; its state is saved with each checkpoint */
    size_t *order;          /* (train->count) permutation of the training images */
    advgnn_tensor batch;    /* (batch_size, C, H, W) f32 */
    advgnn_lr_schedule schedule; /* a copy: the plateau state changes */
    advgnn_train_history *history;
    int capacity;           /* entries allocated in the history arrays */
    int64_t step_index;     /* optimizer steps done */
    double best_val;        /* lowest validation loss so far (INFINITY before the first) */
    int bad_epochs;         /* epochs since the last improvement */
    advgnn_progress progress;
    char stage[96];         /* the progress bar's stage text */
} loop;

/* ---- history ------------------------------------------------------------- */

void advgnn_train_history_free(advgnn_train_history *h)
{
    if (!h)
        return;
    advgnn_free(h->train_loss);
    advgnn_free(h->val_loss);
    advgnn_free(h->seconds);
    advgnn_free(h->lr);
    memset(h, 0, sizeof(*h));
}

/* Grows the history arrays to hold at least `need` epochs. */
static int history_reserve(loop *L, int need)
{
    advgnn_train_history *h = L->history;
    double **arrays[4] = {&h->train_loss, &h->val_loss, &h->seconds, &h->lr};

    if (need <= L->capacity)
        return ADVGNN_OK;
    for (int i = 0; i < 4; i++) {
        double *grown = advgnn_realloc(*arrays[i], (size_t)need * sizeof(double));

        if (!grown)
            return advgnn_failf(L->ctx, ADVGNN_ERR_NOMEM, "training: out of memory for the history of %d epochs", need);
        *arrays[i] = grown;
    }
    L->capacity = need;
    return ADVGNN_OK;
}

static int history_append(loop *L, double train_loss, double val_loss, double seconds, double lr)
{
    advgnn_train_history *h = L->history;
    int rc = history_reserve(L, h->epochs + 1);

    if (rc != ADVGNN_OK)
        return rc;
    h->train_loss[h->epochs] = train_loss;
    h->val_loss[h->epochs] = val_loss;
    h->seconds[h->epochs] = seconds;
    h->lr[h->epochs] = lr;
    h->epochs++;
    return ADVGNN_OK;
}

/* Creates a JSON number that reads back as the same double, or null for NaN
 * and infinities, which JSON lacks. cJSON's own printing may drop the last
 * bit (cJSON 1.7.15 keeps 15 digits when they compare equal within
 * DBL_EPSILON), and a resume needs the exact losses and plateau rate. */
static cJSON *number_or_null(double v)
{
    char text[32];

    if (!isfinite(v))
        return cJSON_CreateNull();
    snprintf(text, sizeof(text), "%.17g", v);
    return cJSON_CreateRaw(text);
}

static double number_from(const cJSON *item)
{
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

static cJSON *history_to_json(const advgnn_train_history *h)
{
    cJSON *root = cJSON_CreateObject(), *epochs = cJSON_AddArrayToObject(root, "epochs");

    if (!root || !epochs) {
        cJSON_Delete(root);
        return NULL;
    }
    for (int e = 0; e < h->epochs; e++) {
        cJSON *item = cJSON_CreateObject();

        if (!item || !cJSON_AddItemToArray(epochs, item)) {
            cJSON_Delete(item);
            cJSON_Delete(root);
            return NULL;
        }
        cJSON_AddNumberToObject(item, "epoch", e + 1);
        cJSON_AddItemToObject(item, "train_loss", number_or_null(h->train_loss[e]));
        cJSON_AddItemToObject(item, "val_loss", number_or_null(h->val_loss[e]));
        cJSON_AddNumberToObject(item, "seconds", h->seconds[e]);
        cJSON_AddItemToObject(item, "lr", number_or_null(h->lr[e]));
    }
    cJSON_AddNumberToObject(root, "best_epoch", h->best_epoch);
    cJSON_AddBoolToObject(root, "stopped_early", h->stopped_early);
    cJSON_AddNumberToObject(root, "steps", (double)h->steps);
    return root;
}

static int write_json(advgnn_ctx *ctx, cJSON *root, const char *path)
{
    char *text = root ? cJSON_Print(root) : NULL;
    int rc;

    if (!text)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "training: out of memory writing %s", path);
    rc = advgnn_fs_write_atomic(ctx, path, text, strlen(text));
    cJSON_free(text);
    return rc;
}

int advgnn_train_history_save(advgnn_ctx *ctx, const advgnn_train_history *history, const char *path)
{
    cJSON *root = history_to_json(history);
    int rc = write_json(ctx, root, path);

    cJSON_Delete(root);
    return rc;
}

/* ---- checkpoints --------------------------------------------------------- */

/* RNG words are written as hex strings: JSON numbers hold only 53 bits. */
static int save_checkpoint(loop *L)
{
    const char *dir = L->config->checkpoint_dir;
    char *weights = advgnn_fs_join(dir, CHECKPOINT_WEIGHTS), *state = advgnn_fs_join(dir, CHECKPOINT_STATE);
    char *optimizer = advgnn_fs_join(dir, CHECKPOINT_OPTIMIZER);
    cJSON *root = NULL, *rng;
    int rc = ADVGNN_OK;

    if (!weights || !state || !optimizer)
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_NOMEM, "training: out of memory for checkpoint paths");
    if (rc == ADVGNN_OK)
        rc = advgnn_fs_mkdir_p(L->ctx, dir);

    /* The optimizer state first: its step count then differs from the old
     * checkpoint.json whenever a write is cut short after it, and a resume
     * rejects that mix (load_optimizer). */
    if (rc == ADVGNN_OK)
        rc = advgnn_optim_save(L->opt, L->ctx, optimizer);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_save(L->nn, L->ctx, weights);

    /* The state file last: its presence marks a complete checkpoint. */
    if (rc == ADVGNN_OK) {
        root = history_to_json(L->history);
        rng = root ? cJSON_AddArrayToObject(root, "rng") : NULL;
        for (int i = 0; rng && i < 4; i++) {
            char word[17];

            snprintf(word, sizeof(word), "%016" PRIx64, L->rng.state[i]);
            cJSON_AddItemToArray(rng, cJSON_CreateString(word));
        }
        if (root) {
            cJSON_AddNumberToObject(root, "epoch", L->history->epochs);
            cJSON_AddItemToObject(root, "best_val", number_or_null(L->best_val));
            cJSON_AddNumberToObject(root, "bad_epochs", L->bad_epochs);
            cJSON_AddItemToObject(root, "plateau_best", number_or_null(L->schedule.best));
            cJSON_AddNumberToObject(root, "plateau_bad_count", L->schedule.bad_count);
            cJSON_AddNumberToObject(root, "plateau_observed", L->schedule.observed);
            cJSON_AddItemToObject(root, "plateau_current", number_or_null(L->schedule.current));
        }
        rc = write_json(L->ctx, root, state);
    }
    if (rc == ADVGNN_OK)
        advgnn_log(L->ctx, ADVGNN_LOG_INFO, "%s: checkpoint of epoch %d in %s", L->config->label,
                   L->history->epochs, dir);
    cJSON_Delete(root);
    advgnn_free(weights);
    advgnn_free(state);
    advgnn_free(optimizer);
    return rc;
}

/* Restores the history arrays from a checkpoint's "epochs" list. */
static int load_history(loop *L, const cJSON *epochs, const char *path)
{
    const cJSON *item;
    int rc = ADVGNN_OK;

    cJSON_ArrayForEach(item, epochs)
    {
        if (rc == ADVGNN_OK)
            rc = history_append(L, number_from(cJSON_GetObjectItem(item, "train_loss")),
                                number_from(cJSON_GetObjectItem(item, "val_loss")), 0.0,
                                number_from(cJSON_GetObjectItem(item, "lr")));
    }
    if (rc == ADVGNN_OK && !cJSON_IsArray(epochs))
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s: \"epochs\" must be a list", path);
    return rc;
}

static int load_rng(loop *L, const cJSON *rng, const char *path)
{
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4)
        return advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s: \"rng\" must be a list of 4 hex strings", path);
    for (int i = 0; i < 4; i++) {
        const cJSON *word = cJSON_GetArrayItem(rng, i);
        char *end = NULL;

        if (!cJSON_IsString(word))
            return advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s: rng word %d is not a string", path, i);
        L->rng.state[i] = strtoull(word->valuestring, &end, 16);
        if (!end || *end != '\0' || end == word->valuestring)
            return advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s: rng word %d '%s' is not hexadecimal", path,
                                i, word->valuestring);
    }
    return ADVGNN_OK;
}

/* Loads the optimizer state and checks that it belongs to the same step as
 * checkpoint.json, which a checkpoint interrupted between its files breaks. */
static int load_optimizer(loop *L, const char *path, const char *state, int64_t steps)
{
    int rc;

    if (!advgnn_fs_is_file(path))
        return advgnn_failf(L->ctx, ADVGNN_ERR_NOT_FOUND,
                            "cannot resume: %s does not exist, so the optimizer state is unknown (checkpoints "
                            "written before optimizer state was saved lack it); start the run again",
                            path);
    rc = advgnn_optim_load(L->opt, L->ctx, path);
    if (rc == ADVGNN_OK && advgnn_optim_step_count(L->opt) != steps)
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT,
                          "cannot resume: %s is from optimizer step %" PRId64 " but %s from step %" PRId64
                          "; the checkpoint was interrupted while being written, start the run again",
                          path, advgnn_optim_step_count(L->opt), state, steps);
    return rc;
}

/* Loads weights, optimizer state and loop state from config->resume_from. */
static int load_checkpoint(loop *L)
{
    const char *dir = L->config->resume_from;
    char *weights = advgnn_fs_join(dir, CHECKPOINT_WEIGHTS), *state = advgnn_fs_join(dir, CHECKPOINT_STATE);
    char *optimizer = advgnn_fs_join(dir, CHECKPOINT_OPTIMIZER);
    char *text = NULL;
    size_t size = 0;
    cJSON *root = NULL;
    double steps;
    int rc = ADVGNN_OK, epoch;

    if (!weights || !state || !optimizer)
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_NOMEM, "training: out of memory for checkpoint paths");
    if (rc == ADVGNN_OK && !advgnn_fs_is_dir(dir))
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_NOT_FOUND,
                          "cannot resume: %s is not a folder; name the checkpoint folder of a run, "
                          "<run>/encoder/<category>/checkpoints",
                          dir);
    if (rc == ADVGNN_OK && !advgnn_fs_is_file(state))
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_NOT_FOUND,
                          "cannot resume: %s does not exist (no complete checkpoint in %s)", state, dir);
    if (rc == ADVGNN_OK)
        rc = advgnn_fs_read_file(L->ctx, state, CHECKPOINT_MAX_BYTES, &text, &size);
    if (rc == ADVGNN_OK && !(root = cJSON_Parse(text)))
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s is not valid JSON", state);
    if (rc == ADVGNN_OK)
        rc = load_history(L, cJSON_GetObjectItem(root, "epochs"), state);
    epoch = root ? (int)number_from(cJSON_GetObjectItem(root, "epoch")) : 0;
    if (rc == ADVGNN_OK && epoch != L->history->epochs)
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s: \"epoch\" is %d but %d epochs are listed", state,
                          epoch, L->history->epochs);
    if (rc == ADVGNN_OK)
        rc = load_rng(L, cJSON_GetObjectItem(root, "rng"), state);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_load(L->nn, L->ctx, weights);
    steps = root ? number_from(cJSON_GetObjectItem(root, "steps")) : NAN;
    /* A double represents every count up to 2^53 exactly. */
    if (rc == ADVGNN_OK && !(steps >= 0 && steps <= 0x1p53))
        rc = advgnn_failf(L->ctx, ADVGNN_ERR_FORMAT, "checkpoint %s: \"steps\" must be a count >= 0", state);
    if (rc == ADVGNN_OK)
        rc = load_optimizer(L, optimizer, state, (int64_t)steps);

    if (rc == ADVGNN_OK) {
        double best = number_from(cJSON_GetObjectItem(root, "best_val"));
        double plateau_best = number_from(cJSON_GetObjectItem(root, "plateau_best"));

        L->history->best_epoch = (int)number_from(cJSON_GetObjectItem(root, "best_epoch"));
        L->history->steps = (int64_t)steps;
        L->step_index = L->history->steps;
        L->best_val = isnan(best) ? INFINITY : best;
        L->bad_epochs = (int)number_from(cJSON_GetObjectItem(root, "bad_epochs"));
        L->schedule.best = isnan(plateau_best) ? L->schedule.best : plateau_best;
        L->schedule.bad_count = (int)number_from(cJSON_GetObjectItem(root, "plateau_bad_count"));
        L->schedule.observed = (int)number_from(cJSON_GetObjectItem(root, "plateau_observed"));
        L->schedule.current = number_from(cJSON_GetObjectItem(root, "plateau_current"));
        advgnn_log(L->ctx, ADVGNN_LOG_INFO, "%s: resumed from %s after epoch %d (step %" PRId64 ")", L->config->label,
                   dir, epoch, L->step_index);
    }
    cJSON_Delete(root);
    advgnn_free(text);
    advgnn_free(weights);
    advgnn_free(state);
    advgnn_free(optimizer);
    return rc;
}

/* ---- batches ------------------------------------------------------------- */

/* Fills the batch with the images at order[first..first+n) (indices taken
 * modulo the count, so a short set repeats), one image per read. */
static int read_batch(loop *L, const advgnn_image_source *src, const size_t *order, size_t first, size_t n)
{
    size_t image = (size_t)L->channels * L->height * L->width;
    int rc = ADVGNN_OK;

    for (size_t b = 0; b < n && rc == ADVGNN_OK; b++) {
        size_t pos = (first + b) % src->count, index = order ? order[pos] : pos;

        rc = src->read(src->user, L->ctx, index, 1, (float *)L->batch.data + b * image);
    }
    return rc;
}

static int nonfinite_loss(loop *L, const char *phase, int epoch, int64_t step, double loss)
{
    const char *dir = L->config->checkpoint_dir;

    return advgnn_failf(L->ctx, ADVGNN_ERR_NUMERIC,
                        "%s: %s loss is %g at epoch %d, step %" PRId64 " of the epoch (optimizer step %" PRId64
                        "); training stopped%s%s; lower the learning rate or enable gradient clipping",
                        L->config->label, phase, loss, epoch, step, L->step_index, dir ? ", last good checkpoint in " : "",
                        dir ? dir : "");
}

/* One epoch over the shuffled training images; stores the mean loss. */
static int train_epoch(loop *L, int epoch, double *mean_loss, double *last_lr)
{
    size_t count = L->train->count, bs = (size_t)L->config->batch_size;
    size_t steps = count >= bs ? count / bs : 1;
    double sum = 0.0;
    int rc = ADVGNN_OK;

    /* A fresh permutation from the generator's current state, so the state
     * saved at the end of an epoch is all a resume needs. */
    for (size_t i = 0; i < count; i++)
        L->order[i] = i;
    advgnn_rng_shuffle(&L->rng, L->order, count, sizeof(size_t));

    for (size_t s = 0; s < steps && rc == ADVGNN_OK; s++) {
        double loss = 0.0, lr = advgnn_lr_at(&L->schedule, L->step_index);

        if (advgnn_interrupted())
            return advgnn_failf(L->ctx, ADVGNN_ERR_INTERRUPTED, "%s: training interrupted at epoch %d, step %zu",
                                L->config->label, epoch, s + 1);
        rc = read_batch(L, L->train, L->order, s * bs, bs);
        if (rc == ADVGNN_OK)
            rc = L->step(L->user, L->ctx, &L->batch, bs, 1, &loss);
        if (rc == ADVGNN_OK && !isfinite(loss))
            return nonfinite_loss(L, "training", epoch, (int64_t)s + 1, loss);
        if (rc == ADVGNN_OK && L->config->clip_grad_norm > 0)
            advgnn_nn_clip_grad_norm(L->nn, L->config->clip_grad_norm);
        if (rc == ADVGNN_OK)
            rc = advgnn_optim_step(L->opt, L->ctx, lr);
        if (rc == ADVGNN_OK) {
            /* Per-step series for the run's tracking; no-op without a sink. */
            advgnn_log_metric(L->ctx, "train/step_loss", loss, (long long)L->step_index);
            advgnn_log_metric(L->ctx, "train/step_lr", lr, (long long)L->step_index);
        }
        L->step_index++;
        sum += loss;
        *last_lr = lr;
        if (L->progress.bar) {
            snprintf(L->stage, sizeof(L->stage), "epoch %d/%d loss %.5f", epoch, L->config->epochs, loss);
            L->progress.stage = L->stage;
            advgnn_progress_update(&L->progress, (s + 1) * bs);
        }
    }
    *mean_loss = sum / (double)steps;
    return rc;
}

/* Mean loss over every validation image, in inference mode. */
static int validate(loop *L, int epoch, double *mean_loss)
{
    size_t count = L->validation ? L->validation->count : 0, bs = (size_t)L->config->batch_size;
    double sum = 0.0;
    int rc = ADVGNN_OK;

    *mean_loss = NAN;
    if (count == 0)
        return ADVGNN_OK;
    for (size_t first = 0; first < count && rc == ADVGNN_OK; first += bs) {
        size_t valid = count - first < bs ? count - first : bs;
        double loss = 0.0;

        rc = read_batch(L, L->validation, NULL, first, bs);
        if (rc == ADVGNN_OK)
            rc = L->step(L->user, L->ctx, &L->batch, valid, 0, &loss);
        if (rc == ADVGNN_OK && !isfinite(loss))
            return nonfinite_loss(L, "validation", epoch, (int64_t)(first / bs) + 1, loss);
        sum += loss * (double)valid;
    }
    *mean_loss = sum / (double)count;
    return rc;
}

/* Updates the best loss and the early-stopping count; returns nonzero to stop. */
static int early_stop(loop *L, int epoch, double val_loss)
{
    if (isnan(val_loss))
        return 0;
    advgnn_lr_observe(&L->schedule, val_loss);
    if (val_loss < L->best_val - L->config->min_delta) {
        L->best_val = val_loss;
        L->history->best_epoch = epoch;
        L->bad_epochs = 0;
        return 0;
    }
    L->bad_epochs++;
    return L->config->patience > 0 && L->bad_epochs >= L->config->patience;
}

/* ---- the loop ------------------------------------------------------------ */

static int check_config(advgnn_ctx *ctx, const advgnn_train_config *c, const advgnn_image_source *train, int channels,
                        int height, int width)
{
    if (c->epochs < 1 || c->batch_size < 1 || c->checkpoint_every < 0 || c->patience < 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "training: invalid epochs %d, batch size %d, checkpoint interval %d or patience %d",
                            c->epochs, c->batch_size, c->checkpoint_every, c->patience);
    if (!train || train->count == 0 || !train->read)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "training: no training images");
    if (channels < 1 || height < 1 || width < 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "training: invalid image shape %d x %d x %d", channels,
                            height, width);
    return ADVGNN_OK;
}

static int loop_epochs(loop *L)
{
    const advgnn_train_config *c = L->config;
    int rc = ADVGNN_OK;

    for (int epoch = L->history->epochs + 1; epoch <= c->epochs && rc == ADVGNN_OK; epoch++) {
        double start = advgnn_now_seconds(), train_loss = NAN, val_loss = NAN, lr = 0.0, seconds;
        int stop;

        if (L->progress.bar) {
            snprintf(L->stage, sizeof(L->stage), "epoch %d/%d", epoch, c->epochs);
            advgnn_progress_begin(&L->progress, L->stage, c->label, L->train->count);
        }
        rc = train_epoch(L, epoch, &train_loss, &lr);
        if (L->progress.bar)
            advgnn_progress_end(&L->progress);
        if (rc == ADVGNN_OK)
            rc = validate(L, epoch, &val_loss);
        if (rc != ADVGNN_OK)
            break;
        seconds = advgnn_now_seconds() - start;
        rc = history_append(L, train_loss, val_loss, seconds, lr);
        L->history->steps = L->step_index;
        /* Without validation images val_loss is NaN, which the line leaves out. */
        char validation_text[96] = "";
        if (!isnan(val_loss))
            snprintf(validation_text, sizeof(validation_text), " validation loss %.6f", val_loss);
        advgnn_log(L->ctx, ADVGNN_LOG_INFO, "%s: epoch %d/%d train loss %.6f%s lr %.3g %.1f s (%.1f img/s)", c->label,
                   epoch, c->epochs, train_loss, validation_text, lr, seconds,
                   seconds > 0 ? (double)L->train->count / seconds : 0.0);
        stop = early_stop(L, epoch, val_loss);
        if (stop) {
            L->history->stopped_early = 1;
            advgnn_log(L->ctx, ADVGNN_LOG_INFO, "%s: early stop after epoch %d (no improvement for %d epochs)",
                       c->label, epoch, L->bad_epochs);
        }
        if (rc == ADVGNN_OK && c->checkpoint_dir &&
            (stop || epoch == c->epochs || (c->checkpoint_every > 0 && epoch % c->checkpoint_every == 0)))
            rc = save_checkpoint(L);
        if (stop)
            break;
    }
    return rc;
}

int advgnn_train_run(advgnn_ctx *ctx, advgnn_nn *nn, const advgnn_train_config *config,
                     const advgnn_image_source *train, const advgnn_image_source *validation, int channels,
                     int height, int width, advgnn_train_step_fn step, void *user, advgnn_train_history *history)
{
    int64_t shape[4] = {config->batch_size, channels, height, width};
    advgnn_train_config c = *config;
    loop L = {.ctx = ctx, .config = &c, .nn = nn, .train = train, .validation = validation, .step = step,
              .user = user, .channels = channels, .height = height, .width = width, .schedule = config->schedule,
              .history = history, .best_val = INFINITY};
    int rc;

    memset(history, 0, sizeof(*history));
    rc = check_config(ctx, config, train, channels, height, width);
    if (rc != ADVGNN_OK)
        return rc;
    c.label = c.label ? c.label : "model";
    advgnn_rng_seed(&L.rng, config->seed);
    advgnn_progress_init(&L.progress, ctx, config->progress);

    L.order = advgnn_calloc(train->count, sizeof(size_t));
    if (!L.order)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "training: out of memory for %zu image indices", train->count);
    rc = advgnn_tensor_alloc(ctx, &L.batch, ADVGNN_DTYPE_F32, 4, shape);
    if (rc == ADVGNN_OK)
        rc = advgnn_optim_new(ctx, nn, &config->optim, &L.opt);
    if (rc == ADVGNN_OK && config->resume_from)
        rc = load_checkpoint(&L);
    if (rc == ADVGNN_OK)
        rc = loop_epochs(&L);

    advgnn_optim_free(L.opt);
    advgnn_tensor_release(&L.batch);
    advgnn_free(L.order);
    return rc;
}
