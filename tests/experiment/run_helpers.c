/* Helpers shared by the runner's end-to-end tests. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run_helpers.h"
#include "util/fsutil.h"

char *helper_make_temp_dir(const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", prefix);
    if (!mkdtemp(path))
        return NULL;
    return advgnn_strdup(path);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void helper_remove_tree(const char *path)
{
    if (path)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int helper_write_png(advgnn_ctx *ctx, const char *path, int width, int height, int channels, int x0, int y0,
                     int side)
{
    advgnn_image img = {0};
    int rc = advgnn_image_alloc(ctx, &img, width, height, channels, ADVGNN_PIXEL_U8);

    if (rc != ADVGNN_OK)
        return rc;
    uint8_t *p = img.data;
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int inside = side > 0 && x >= x0 && x < x0 + side && y >= y0 && y < y0 + side;
            for (int c = 0; c < channels; c++)
                p[((size_t)y * width + x) * channels + c] = inside ? 250 : (uint8_t)(60 + (x + y + 7 * c) % 40);
        }
    }
    rc = advgnn_image_save_png(ctx, path, &img);
    advgnn_image_release(&img);
    return rc;
}

int helper_write_mask(advgnn_ctx *ctx, const char *path, int width, int height, int x0, int y0, int side)
{
    advgnn_image img = {0};
    int rc = advgnn_image_alloc(ctx, &img, width, height, 1, ADVGNN_PIXEL_U8);

    if (rc != ADVGNN_OK)
        return rc;
    uint8_t *p = img.data;
    for (int y = y0; y < y0 + side && y < height; y++)
        for (int x = x0; x < x0 + side && x < width; x++)
            p[(size_t)y * width + x] = 255;
    rc = advgnn_image_save_png(ctx, path, &img);
    advgnn_image_release(&img);
    return rc;
}

const advgnn_plugin *helper_load_plugin(advgnn_registry *reg, advgnn_ctx *ctx, const char *folder,
                                        const char *stem)
{
    char path[4096];
    const advgnn_plugin *plugin = NULL;

    snprintf(path, sizeof(path), "%s/%s.so", folder, stem);
    if (advgnn_registry_load_file(reg, ctx, path, &plugin) != ADVGNN_OK) {
        fprintf(stderr, "cannot load plugin %s: %s\n", path, advgnn_ctx_error(ctx));
        return NULL;
    }
    return plugin;
}

/* Splits "a,b,c" into at most 16 parts stored in `storage`. */
static size_t split_list(const char *text, char storage[16][256], const char **parts)
{
    size_t n = 0;
    const char *start = text;

    while (n < 16) {
        const char *comma = strchr(start, ',');
        size_t len = comma ? (size_t)(comma - start) : strlen(start);
        if (len > 255)
            len = 255;
        memcpy(storage[n], start, len);
        storage[n][len] = '\0';
        parts[n] = storage[n];
        n++;
        if (!comma)
            break;
        start = comma + 1;
    }
    return n;
}

static int set_option(advgnn_options *opts, advgnn_ctx *ctx, const char *name, const char *text)
{
    const advgnn_option_spec *spec = advgnn_options_find_spec(opts, name);
    advgnn_value value;
    char storage[16][256];
    const char *parts[16];
    double numbers[16];

    memset(&value, 0, sizeof(value));
    if (!spec)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "test sets unknown option '%s'", name);
    switch (spec->type) {
    case ADVGNN_OPT_INT:
        value.kind = ADVGNN_VALUE_INTEGER;
        value.integer = strtoll(text, NULL, 10);
        break;
    case ADVGNN_OPT_NUMBER:
        value.kind = ADVGNN_VALUE_NUMBER;
        value.number = strtod(text, NULL);
        break;
    case ADVGNN_OPT_BOOL:
        value.kind = ADVGNN_VALUE_BOOLEAN;
        value.boolean = strcmp(text, "true") == 0;
        break;
    case ADVGNN_OPT_NUMBER_LIST:
        value.kind = ADVGNN_VALUE_NUMBER_LIST;
        value.count = split_list(text, storage, parts);
        for (size_t i = 0; i < value.count; i++)
            numbers[i] = strtod(parts[i], NULL);
        value.numbers = numbers;
        break;
    case ADVGNN_OPT_STRING_LIST:
        value.kind = ADVGNN_VALUE_STRING_LIST;
        value.count = split_list(text, storage, parts);
        value.strings = parts;
        break;
    default:
        value.kind = ADVGNN_VALUE_STRING;
        value.string = text;
        break;
    }
    return advgnn_options_set(opts, ctx, name, &value);
}

advgnn_options *helper_options(advgnn_ctx *ctx, const advgnn_plugin *plugin, const char *const *pairs)
{
    advgnn_options *opts = NULL;
    int rc = advgnn_options_new(ctx, plugin->name, plugin->options, &opts);

    for (size_t i = 0; rc == ADVGNN_OK && pairs && pairs[i]; i += 2)
        rc = set_option(opts, ctx, pairs[i], pairs[i + 1]);
    if (rc == ADVGNN_OK)
        rc = advgnn_options_finish(opts, ctx);
    if (rc != ADVGNN_OK) {
        fprintf(stderr, "options of %s: %s\n", plugin->name, advgnn_ctx_error(ctx));
        advgnn_options_free(opts);
        return NULL;
    }
    return opts;
}

cJSON *helper_read_json(const char *path)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    char *text = NULL;
    size_t size = 0;
    cJSON *json = NULL;

    if (ctx && advgnn_fs_read_file(ctx, path, 64u << 20, &text, &size) == ADVGNN_OK)
        json = cJSON_Parse(text);
    advgnn_free(text);
    advgnn_ctx_free(ctx);
    return json;
}

long helper_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long lines = 0;
    int c;

    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    return lines;
}

long helper_count_files(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *ent;
    long n = 0;

    if (!d)
        return -1;
    while ((ent = readdir(d)) != NULL)
        n += ent->d_name[0] != '.';
    closedir(d);
    return n;
}

double helper_metric(const cJSON *results, const char *category, const char *label, const char *metric)
{
    const cJSON *categories = cJSON_GetObjectItemCaseSensitive(results, "categories");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(categories, category);
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(c, "metrics");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(metrics, label);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(values, metric);

    return cJSON_IsNumber(value) ? value->valuedouble : NAN;
}
