/* results.json, scores.csv text and heatmap PNGs. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "advgnn/status.h"
#include "image/overlay.h"
#include "report/results.h"
#include "util/fsutil.h"

#define HEATMAP_ALPHA 0.5f /* weight of the colormap over the image */
#define TRAIN_HISTORY_FILE "train_history.json"
#define TRAIN_HISTORY_MAX_BYTES (64u << 20) /* a few numbers per epoch; far more than any run needs */

/* ---- JSON ---------------------------------------------------------------- */

static cJSON *number_list_json(advgnn_number_list list)
{
    cJSON *array = cJSON_CreateArray();

    for (size_t i = 0; array && i < list.count; i++) {
        cJSON *item = cJSON_CreateNumber(list.values[i]);
        if (!item || !cJSON_AddItemToArray(array, item)) {
            cJSON_Delete(item);
            cJSON_Delete(array);
            return NULL;
        }
    }
    return array;
}

static cJSON *string_list_json(advgnn_string_list list)
{
    cJSON *array = cJSON_CreateArray();

    for (size_t i = 0; array && i < list.count; i++) {
        cJSON *item = cJSON_CreateString(list.values[i] ? list.values[i] : "");
        if (!item || !cJSON_AddItemToArray(array, item)) {
            cJSON_Delete(item);
            cJSON_Delete(array);
            return NULL;
        }
    }
    return array;
}

/* Returns the option's value as JSON of its declared type. */
static cJSON *option_value_json(const advgnn_options *opts, size_t index, const advgnn_option_spec *spec)
{
    const char *s;
    char text[512];

    switch (spec->type) {
    case ADVGNN_OPT_INT: return cJSON_CreateNumber((double)advgnn_options_int(opts, spec->name));
    case ADVGNN_OPT_NUMBER: return cJSON_CreateNumber(advgnn_options_number(opts, spec->name));
    case ADVGNN_OPT_BOOL: return cJSON_CreateBool(advgnn_options_bool(opts, spec->name));
    case ADVGNN_OPT_STRING:
    case ADVGNN_OPT_ENUM:
        s = advgnn_options_string(opts, spec->name);
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    case ADVGNN_OPT_NUMBER_LIST: return number_list_json(advgnn_options_numbers(opts, spec->name));
    case ADVGNN_OPT_STRING_LIST: return string_list_json(advgnn_options_strings(opts, spec->name));
    default:
        /* A type this core does not know: keep its text form. */
        advgnn_options_format_value(opts, index, text, sizeof(text));
        return cJSON_CreateString(text);
    }
}

cJSON *advgnn_report_options_json(const advgnn_options *opts)
{
    cJSON *object = cJSON_CreateObject();
    size_t count = opts ? advgnn_options_count(opts) : 0;

    for (size_t i = 0; object && i < count; i++) {
        const advgnn_option_spec *spec = advgnn_options_spec_at(opts, i);
        cJSON *value = option_value_json(opts, i, spec);
        if (!value || !cJSON_AddItemToObject(object, spec->name, value)) {
            cJSON_Delete(value);
            cJSON_Delete(object);
            return NULL;
        }
    }
    return object;
}

int advgnn_report_write_json(advgnn_ctx *ctx, const char *path, const cJSON *root)
{
    char *text = cJSON_Print(root);
    int rc;

    if (!text)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory formatting '%s'", path);
    size_t length = strlen(text);
    text[length] = '\n'; /* cJSON_Print leaves no newline; the terminator becomes one */
    rc = advgnn_fs_write_atomic(ctx, path, text, length + 1);
    cJSON_free(text);
    return rc;
}

/* ---- training history ---------------------------------------------------- */

/* Copies the member `key` of `from` to `to` when it is a number or null,
 * the only values the training loop writes for these keys. Returns 0 when
 * out of memory. */
static int copy_number(cJSON *to, const cJSON *from, const char *key)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(from, key);
    cJSON *copy;

    if (!cJSON_IsNumber(value) && !cJSON_IsNull(value))
        return 1;
    copy = cJSON_Duplicate(value, 0);
    if (!copy || !cJSON_AddItemToObject(to, key, copy)) {
        cJSON_Delete(copy);
        return 0;
    }
    return 1;
}

/* Builds the "training" object from a parsed train_history.json, keeping
 * only the keys the training loop writes. Returns NULL when out of memory. */
static cJSON *training_json(const cJSON *history)
{
    static const char *const epoch_keys[] = {"epoch", "train_loss", "val_loss", "seconds", "lr"};
    cJSON *training = cJSON_CreateObject();
    cJSON *epochs = training ? cJSON_AddArrayToObject(training, "epochs") : NULL;
    const cJSON *epoch;
    int ok = epochs != NULL;

    cJSON_ArrayForEach(epoch, cJSON_GetObjectItemCaseSensitive(history, "epochs"))
    {
        cJSON *item = ok ? cJSON_CreateObject() : NULL;

        if (!item || !cJSON_AddItemToArray(epochs, item)) {
            cJSON_Delete(item);
            ok = 0;
            break;
        }
        for (size_t i = 0; ok && i < sizeof(epoch_keys) / sizeof(epoch_keys[0]); i++)
            ok = copy_number(item, epoch, epoch_keys[i]);
    }
    ok = ok && copy_number(training, history, "best_epoch") && copy_number(training, history, "steps");

    const cJSON *stopped = cJSON_GetObjectItemCaseSensitive(history, "stopped_early");
    if (ok && cJSON_IsBool(stopped))
        ok = cJSON_AddBoolToObject(training, "stopped_early", cJSON_IsTrue(stopped)) != NULL;
    if (!ok) {
        cJSON_Delete(training);
        return NULL;
    }
    return training;
}

int advgnn_report_add_training(advgnn_ctx *ctx, cJSON *category, const char *work_dir, int64_t trained_since)
{
    char *path = advgnn_fs_join(work_dir, TRAIN_HISTORY_FILE);
    char *text = NULL;
    size_t size = 0;
    cJSON *history = NULL, *training = NULL;
    struct stat st;
    int rc = ADVGNN_OK;

    if (!path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the training history path");

    /* An encoder that does not use the training loop writes no history. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        advgnn_free(path);
        return ADVGNN_OK;
    }
    if ((int64_t)st.st_mtime < trained_since) {
        advgnn_log(ctx, ADVGNN_LOG_WARN,
                   "%s predates this run's training, so results.json gets no per-epoch losses; remove it or "
                   "use a new output folder",
                   path);
        advgnn_free(path);
        return ADVGNN_OK;
    }

    rc = advgnn_fs_read_file(ctx, path, TRAIN_HISTORY_MAX_BYTES, &text, &size);
    if (rc == ADVGNN_OK) {
        history = cJSON_ParseWithLength(text, size);
        if (!history || !cJSON_IsObject(history))
            advgnn_log(ctx, ADVGNN_LOG_WARN, "%s is not a JSON object; results.json gets no per-epoch losses", path);
        else if (!(training = training_json(history)) || !cJSON_AddItemToObject(category, "training", training)) {
            cJSON_Delete(training);
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory copying %s into the results", path);
        }
    }

    cJSON_Delete(history);
    advgnn_free(text);
    advgnn_free(path);
    return rc;
}

/* ---- text ---------------------------------------------------------------- */

static int reserve(advgnn_text *text, size_t extra)
{
    if (text->failed)
        return 0;
    if (text->length + extra + 1 <= text->capacity)
        return 1;

    size_t cap = text->capacity ? text->capacity : 4096;
    while (cap < text->length + extra + 1)
        cap *= 2;
    char *grown = advgnn_realloc(text->data, cap);
    if (!grown) {
        text->failed = 1;
        return 0;
    }
    text->data = grown;
    text->capacity = cap;
    return 1;
}

void advgnn_text_appendf(advgnn_text *text, const char *fmt, ...)
{
    va_list ap;
    int needed;

    va_start(ap, fmt);
    needed = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (needed < 0 || !reserve(text, (size_t)needed)) {
        text->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text->data + text->length, (size_t)needed + 1, fmt, ap);
    va_end(ap);
    text->length += (size_t)needed;
}

void advgnn_text_append_csv_field(advgnn_text *text, const char *field)
{
    size_t length = strlen(field);

    if (strpbrk(field, ",\"\r\n") == NULL) {
        advgnn_text_appendf(text, "%s", field);
        return;
    }
    if (!reserve(text, 2 * length + 2))
        return;
    text->data[text->length++] = '"';
    for (size_t i = 0; i < length; i++) {
        if (field[i] == '"')
            text->data[text->length++] = '"';
        text->data[text->length++] = field[i];
    }
    text->data[text->length++] = '"';
    text->data[text->length] = '\0';
}

void advgnn_text_release(advgnn_text *text)
{
    advgnn_free(text->data);
    memset(text, 0, sizeof(*text));
}

/* ---- heatmaps ------------------------------------------------------------ */

size_t advgnn_report_select_heatmaps(const advgnn_sample *samples, size_t count, long limit, size_t *chosen)
{
    size_t max = limit < 0 ? count : (size_t)limit < count ? (size_t)limit : count;
    size_t n = 0;
    unsigned char *taken;

    if (max == 0)
        return 0;
    taken = advgnn_calloc(count, 1);
    if (!taken) {
        /* Without room to track choices, fall back to the first images. */
        for (n = 0; n < max; n++)
            chosen[n] = n;
        return n;
    }

    /* Round robin over defect types: each pass takes, for every defect type
     * in byte order, its first image not yet taken. */
    for (int progress = 1; progress && n < max;) {
        const char *last_type = NULL;
        progress = 0;
        for (;;) {
            /* The next defect type after last_type in byte order. */
            const char *type = NULL;
            for (size_t i = 0; i < count; i++) {
                const char *t = samples[i].defect_type;
                if (!samples[i].anomalous || taken[i] || (last_type && strcmp(t, last_type) <= 0))
                    continue;
                if (!type || strcmp(t, type) < 0)
                    type = t;
            }
            if (!type || n >= max)
                break;

            /* Samples are sorted by name, so the first match is the type's next image. */
            for (size_t i = 0; i < count; i++) {
                if (samples[i].anomalous && !taken[i] && strcmp(samples[i].defect_type, type) == 0) {
                    taken[i] = 1;
                    chosen[n++] = i;
                    progress = 1;
                    break;
                }
            }
            last_type = type;
        }
    }

    /* Then normal images in name order. */
    for (size_t i = 0; i < count && n < max; i++) {
        if (!samples[i].anomalous && !taken[i]) {
            taken[i] = 1;
            chosen[n++] = i;
        }
    }
    advgnn_free(taken);
    return n;
}

char *advgnn_report_heatmap_file_name(const char *sample_name)
{
    size_t length = strlen(sample_name);
    const char *dot = strrchr(sample_name, '.');
    const char *slash = strrchr(sample_name, '/');
    char *out;

    /* Drop an extension of the last path component only. */
    if (dot && (!slash || dot > slash) && dot != sample_name && dot[-1] != '/')
        length = (size_t)(dot - sample_name);
    out = advgnn_malloc(length + 5);
    if (!out)
        return NULL;

    /* Folders of the sample name stay folders, so "d/x_y" and "d_x/y" do not
     * meet in one file. Other characters outside [A-Za-z0-9._-] become '_'. */
    for (size_t i = 0; i < length; i++) {
        char c = sample_name[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '/';
        out[i] = plain ? c : '_';
    }

    /* No empty component, and none that starts with '.', so a name cannot
     * make a hidden file, refer to a parent folder, or start at the root. */
    for (size_t i = 0; i < length; i++) {
        int starts = i == 0 || out[i - 1] == '/';
        if (starts && (out[i] == '.' || out[i] == '/'))
            out[i] = '_';
    }
    if (length > 0 && out[length - 1] == '/')
        out[length - 1] = '_';
    memcpy(out + length, ".png", 5);
    return out;
}

/* Undoes the normalization of a planar 3-channel image into 8-bit RGB. */
static int denormalize(advgnn_ctx *ctx, const float *chw, int height, int width, const float mean[3],
                       const float std[3], advgnn_image *out)
{
    size_t pixels = (size_t)height * (size_t)width;
    int rc = advgnn_image_alloc(ctx, out, width, height, 3, ADVGNN_PIXEL_U8);

    if (rc != ADVGNN_OK)
        return rc;
    uint8_t *dst = out->data;
    for (size_t c = 0; c < 3; c++) {
        for (size_t i = 0; i < pixels; i++) {
            float v = (chw[c * pixels + i] * std[c] + mean[c]) * 255.0f;
            if (v < 0.0f)
                v = 0.0f;
            if (v > 255.0f)
                v = 255.0f;
            dst[i * 3 + c] = (uint8_t)lrintf(v);
        }
    }
    return ADVGNN_OK;
}

int advgnn_report_write_heatmap(advgnn_ctx *ctx, const char *path, const float *chw, int height, int width,
                                const float mean[3], const float std[3], const float *map, float vmin, float vmax,
                                const uint8_t *mask)
{
    advgnn_image image = {0};
    advgnn_image overlay = {0};
    int rc;

    rc = denormalize(ctx, chw, height, width, mean, std, &image);
    if (rc == ADVGNN_OK)
        rc = advgnn_overlay_heatmap(ctx, &image, map, vmin, vmax, HEATMAP_ALPHA, mask, 1, &overlay);
    if (rc == ADVGNN_OK)
        rc = advgnn_image_save_png(ctx, path, &overlay);
    advgnn_image_release(&image);
    advgnn_image_release(&overlay);
    return rc;
}
