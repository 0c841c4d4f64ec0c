/* Parsing defects_config.json with cJSON. */
#include <math.h>
#include <string.h>

#include <cJSON.h>

#include "defects_config.h"

#define PLUGIN "mvtec_loco"

void defects_config_free(defects_config *config)
{
    for (size_t i = 0; i < config->count; i++)
        advgnn_free(config->entries[i].name);
    advgnn_free(config->entries);
    config->entries = NULL;
    config->count = 0;
}

const defect_config *defects_config_find(const defects_config *config, int pixel_value)
{
    for (size_t i = 0; i < config->count; i++) {
        if (config->entries[i].pixel_value == pixel_value)
            return &config->entries[i];
    }
    return NULL;
}

/* Fails naming the file, the entry and the field with the expected type. */
static int field_error(advgnn_ctx *ctx, const char *path, size_t index, const char *field, const char *expected)
{
    return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                        PLUGIN ": '%s': entry %zu: field '%s' is missing or not %s; fix the file or restore the "
                               "published one",
                        path, index, field, expected);
}

/* Reads one object of the list into *entry. */
static int parse_entry(advgnn_ctx *ctx, const char *path, size_t index, const cJSON *item, defect_config *entry)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "defect_name");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, "pixel_value");
    const cJSON *threshold = cJSON_GetObjectItemCaseSensitive(item, "saturation_threshold");
    const cJSON *relative = cJSON_GetObjectItemCaseSensitive(item, "relative_saturation");

    if (!cJSON_IsObject(item))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s': entry %zu is not an object", path, index);
    if (!cJSON_IsString(name))
        return field_error(ctx, path, index, "defect_name", "a string");
    if (!cJSON_IsNumber(value) || value->valuedouble != floor(value->valuedouble) || value->valuedouble < 1 ||
        value->valuedouble > 255)
        return field_error(ctx, path, index, "pixel_value", "an integer from 1 to 255");
    if (!cJSON_IsNumber(threshold) || !isfinite(threshold->valuedouble) || threshold->valuedouble <= 0)
        return field_error(ctx, path, index, "saturation_threshold", "a number > 0");
    if (!cJSON_IsBool(relative))
        return field_error(ctx, path, index, "relative_saturation", "a boolean");
    if (cJSON_IsTrue(relative) && threshold->valuedouble > 1.0)
        return field_error(ctx, path, index, "saturation_threshold", "a fraction in (0, 1] with relative_saturation");

    entry->name = advgnn_strdup(name->valuestring);
    entry->pixel_value = (int)value->valuedouble;
    entry->saturation_threshold = threshold->valuedouble;
    entry->relative = cJSON_IsTrue(relative);
    return entry->name ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
}

/* Fails for text that is not valid JSON, naming the line and column (both
 * from 1) of the byte at `error`, where the parser stopped. */
static int syntax_error(advgnn_ctx *ctx, const char *path, const char *text, const char *error)
{
    size_t line = 1, column = 1;

    for (const char *p = text; error && p < error && *p; p++) {
        column++;
        if (*p == '\n') {
            line++;
            column = 1;
        }
    }
    return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                        PLUGIN ": '%s' is not valid JSON: error at line %zu, column %zu; fix the file or restore the "
                               "published one",
                        path, line, column);
}

int defects_config_parse(advgnn_ctx *ctx, const char *path, const char *text, defects_config *out)
{
    /* Requiring the end of the text after the value rejects trailing
     * garbage, which cJSON_Parse ignores. */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    int rc = ADVGNN_OK;

    out->entries = NULL;
    out->count = 0;
    if (!root)
        return syntax_error(ctx, path, text, end);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s' is not a JSON list of defect entries", path);
    }

    size_t count = (size_t)cJSON_GetArraySize(root);
    out->entries = advgnn_calloc(count ? count : 1, sizeof(defect_config));
    if (!out->entries)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        defect_config entry = {0};
        rc = parse_entry(ctx, path, i, cJSON_GetArrayItem(root, (int)i), &entry);
        if (rc == ADVGNN_OK && defects_config_find(out, entry.pixel_value)) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s': entry %zu repeats pixel_value %d", path, i,
                              entry.pixel_value);
        }
        if (rc == ADVGNN_OK)
            out->entries[out->count++] = entry;
        else
            advgnn_free(entry.name);
    }
    cJSON_Delete(root);
    if (rc != ADVGNN_OK)
        defects_config_free(out);
    return rc;
}
