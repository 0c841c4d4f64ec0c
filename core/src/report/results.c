/* results.json, scores.csv text and heatmap PNGs. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/status.h"
#include "image/overlay.h"
#include "report/results.h"
#include "util/fsutil.h"

#define HEATMAP_ALPHA 0.5f /* weight of the colormap over the image */

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
