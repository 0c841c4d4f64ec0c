/* A dataset plugin for the runner's tests: it lists the samples of a
 * manifest file, one tab-separated line per sample:
 *
 *     category  split  anomalous  defect_type  name  image_path  mask_path
 *
 * split is train, validation or test; mask_path "-" means none. Files are
 * decoded by the core (no load()), so the tests exercise the core's decoding,
 * mask checks and error paths with files they write themselves. */
#include <stdio.h>
#include <string.h>

#include <advgnn/plugin.h>

static const advgnn_option_spec manifest_options[] = {
    {.name = "manifest", .type = ADVGNN_OPT_STRING, .help = "path of the manifest file",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "mask_threshold", .type = ADVGNN_OPT_INT, .help = "a mask pixel above this (0..255) is defective",
     .def.integer = 127},
    {0}};

typedef struct manifest_state {
    char *path;
    int threshold;
} manifest_state;

static int manifest_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state)
{
    manifest_state *s = advgnn_calloc(1, sizeof(*s));

    if (!s)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    s->path = advgnn_strdup(advgnn_options_string(opts, "manifest"));
    s->threshold = (int)advgnn_options_int(opts, "mask_threshold");
    if (!s->path) {
        advgnn_free(s);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    }
    *state = s;
    return ADVGNN_OK;
}

static void manifest_close(void *state)
{
    manifest_state *s = state;

    if (!s)
        return;
    advgnn_free(s->path);
    advgnn_free(s);
}

static advgnn_split parse_split(const char *text)
{
    if (strcmp(text, "train") == 0)
        return ADVGNN_SPLIT_TRAIN;
    if (strcmp(text, "validation") == 0)
        return ADVGNN_SPLIT_VALIDATION;
    if (strcmp(text, "test") == 0)
        return ADVGNN_SPLIT_TEST;
    return ADVGNN_SPLIT_INVALID;
}

static int manifest_list(void *state, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    manifest_state *s = state;
    FILE *f = fopen(s->path, "r");
    char line[4096];
    int rc = ADVGNN_OK;
    int number = 0;

    if (!f)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "cannot open manifest '%s'", s->path);
    while (rc == ADVGNN_OK && fgets(line, sizeof(line), f)) {
        char *fields[7];
        char *save = NULL;
        int n = 0;

        number++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        for (char *tok = strtok_r(line, "\t", &save); tok && n < 7; tok = strtok_r(NULL, "\t", &save))
            fields[n++] = tok;
        if (n != 7) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "%s:%d: expected 7 tab-separated fields, found %d", s->path,
                              number, n);
            break;
        }
        advgnn_sample_info info = {
            .category = fields[0],
            .split = parse_split(fields[1]),
            .anomalous = fields[2][0] == '1',
            .defect_type = fields[3],
            .name = fields[4],
            .image_path = fields[5],
            .mask_path = strcmp(fields[6], "-") == 0 ? NULL : fields[6],
            .mask_threshold = s->threshold,
        };
        rc = advgnn_sample_sink_add(sink, &info);
    }
    fclose(f);
    return rc;
}

static const advgnn_dataset_functions manifest_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = manifest_open,
    .close = manifest_close,
    .list = manifest_list,
};

static const advgnn_plugin_descriptor manifest_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = "test_manifest",
    .version = "1.0.0",
    .description = "samples listed in a tab-separated manifest file (tests only)",
    .options = manifest_options,
    .functions = &manifest_functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &manifest_descriptor;
}
