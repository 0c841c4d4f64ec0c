/* The VisA dataset (Zou et al., "SPot-the-Difference Self-Supervised
 * Pre-training for Anomaly Detection and Segmentation", ECCV 2022), as in
 * VisA_20220922.tar, split by split_csv/1cls.csv:
 *
 *     object,split,label,image,mask
 *     candle,train,normal,candle/Data/Images/Normal/0000.JPG,
 *     candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png
 *
 * Paths are relative to the folder of split_csv/. Each object is one
 * category. The masks are not binary (each defect has its own value), so any
 * nonzero mask pixel is a defect pixel (mask_threshold 0). The core decodes
 * the entry paths. */
#include <string.h>

#include <advgnn/plugin.h>

#include "layout.h"

#define PLUGIN "visa"

static const advgnn_option_spec visa_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive (VisA_20220922.tar) with split_csv/ and the object folders",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "category", .type = ADVGNN_OPT_STRING_LIST,
     .help = "objects to list, e.g. {\"candle\", \"pcb1\"}; empty lists every object of the split file"},
    {.name = "split_file", .type = ADVGNN_OPT_STRING,
     .help = "split file relative to the dataset folder, with columns object, split, label, image, mask",
     .def.string = "split_csv/1cls.csv"},
    {.name = "validation_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of each object's normal training images held out for validation by a seeded shuffle",
     .def.number = 0.0, .min = 0.0, .max = 0.9, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT, .help = "seed of the shuffle behind validation_ratio", .def.integer = 0,
     .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {0}};

enum { COL_OBJECT, COL_SPLIT, COL_LABEL, COL_IMAGE, COL_MASK, COLUMNS };
static const char *const column_names[COLUMNS] = {"object", "split", "label", "image", "mask"};

/* One row of the split file. */
typedef struct visa_row {
    char *fields[COLUMNS];
    size_t line; /* 1-based line number, for messages */
} visa_row;

typedef struct visa_state {
    advgnn_source *src;
    char *base;      /* folder inside the source with split_csv/ */
    char *csv_path;  /* entry path of the split file, for messages */
    visa_row *rows;
    size_t row_count;
    name_list categories;
    double validation_ratio;
    uint64_t seed;
} visa_state;

static void visa_close(void *opaque)
{
    visa_state *state = opaque;

    if (!state)
        return;
    for (size_t i = 0; i < state->row_count; i++)
        for (int c = 0; c < COLUMNS; c++)
            advgnn_free(state->rows[i].fields[c]);
    advgnn_free(state->rows);
    advgnn_source_close(state->src);
    advgnn_free(state->base);
    advgnn_free(state->csv_path);
    names_free(&state->categories);
    advgnn_free(state);
}

/* ---- the split file --------------------------------------------------------- */

/* Splits one line at commas in place (the published files quote nothing)
 * and strips a trailing '\r'. Returns the number of fields, at most `max`. */
static size_t split_line(char *line, char **fields, size_t max)
{
    size_t count = 0;
    size_t length = strlen(line);

    if (length && line[length - 1] == '\r')
        line[length - 1] = '\0';
    for (char *field = line; count < max;) {
        fields[count++] = field;
        char *comma = strchr(field, ',');
        if (!comma)
            break;
        *comma = '\0';
        field = comma + 1;
    }
    return count;
}

/* Maps each required column to its index in the header; a missing column
 * fails naming the file and the column. */
static int read_header(advgnn_ctx *ctx, const visa_state *state, char *line, int *index)
{
    char *fields[64];
    size_t count = split_line(line, fields, 64);

    for (int c = 0; c < COLUMNS; c++) {
        index[c] = -1;
        for (size_t i = 0; i < count; i++) {
            if (strcmp(fields[i], column_names[c]) == 0)
                index[c] = (int)i;
        }
        if (index[c] < 0)
            return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                                PLUGIN ": split file '%s' has no column '%s'; its header must name object, split, "
                                       "label, image and mask",
                                state->csv_path, column_names[c]);
    }
    return ADVGNN_OK;
}

/* Checks the values of one row. */
static int check_row(advgnn_ctx *ctx, const visa_state *state, const visa_row *row)
{
    const char *split = row->fields[COL_SPLIT], *label = row->fields[COL_LABEL];

    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s' line %zu: split '%s' is not train or test",
                            state->csv_path, row->line, split);
    if (strcmp(label, "normal") != 0 && strcmp(label, "anomaly") != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s' line %zu: label '%s' is not normal or anomaly",
                            state->csv_path, row->line, label);
    if (strcmp(label, "anomaly") == 0 && strcmp(split, "train") == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            PLUGIN ": '%s' line %zu: an anomalous image in the train split; training uses normal "
                                   "images only, so use 1cls.csv",
                            state->csv_path, row->line);
    if (!row->fields[COL_OBJECT][0] || !row->fields[COL_IMAGE][0])
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s' line %zu: empty object or image", state->csv_path,
                            row->line);
    if (strcmp(label, "anomaly") == 0 && !row->fields[COL_MASK][0])
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": '%s' line %zu: anomalous image '%s' has no mask",
                            state->csv_path, row->line, row->fields[COL_IMAGE]);
    return ADVGNN_OK;
}

/* Cuts the next line off *cursor in place and advances it; NULL at the end. */
static char *next_line(char **cursor)
{
    char *line = *cursor;

    if (!line || !*line)
        return NULL;
    char *newline = strchr(line, '\n');
    if (newline) {
        *newline = '\0';
        *cursor = newline + 1;
    } else {
        *cursor = NULL;
    }
    return line;
}

/* Parses the split file into state->rows. Blank lines are skipped but
 * counted, so messages cite the file's own line numbers. */
static int parse_csv(advgnn_ctx *ctx, visa_state *state, char *text)
{
    int index[COLUMNS];
    size_t line_number = 1;
    char *cursor = text;
    char *line = next_line(&cursor);
    int rc = line ? read_header(ctx, state, line, index)
                  : advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": split file '%s' is empty", state->csv_path);

    while (rc == ADVGNN_OK && (line = next_line(&cursor)) != NULL) {
        char *fields[64];
        line_number++;
        if (line[0] == '\0' || (line[0] == '\r' && line[1] == '\0'))
            continue;
        size_t count = split_line(line, fields, 64);

        visa_row *grown = advgnn_realloc(state->rows, (state->row_count + 1) * sizeof(visa_row));
        if (!grown)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        state->rows = grown;
        visa_row *row = &grown[state->row_count++];
        memset(row, 0, sizeof(*row));
        row->line = line_number;
        for (int c = 0; c < COLUMNS; c++) {
            row->fields[c] = advgnn_strdup((size_t)index[c] < count ? fields[index[c]] : "");
            if (!row->fields[c])
                return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        }
        rc = check_row(ctx, state, row);
    }
    return rc;
}

/* ---- opening ---------------------------------------------------------------- */

/* The split_file option reaches has_split_file through this variable because
 * layout_find_base takes a callback without a user pointer. It is per thread,
 * so datasets opened at once on two threads do not see each other's option. */
static _Thread_local const char *split_file_option;

static int has_split_file(advgnn_source *src, const char *rel)
{
    char *path = layout_join(rel, split_file_option, NULL);
    int found = path && advgnn_source_stat(src, path) == ADVGNN_SOURCE_ENTRY_FILE;

    advgnn_free(path);
    return found;
}

/* Lists the objects in first-appearance order and selects the requested ones. */
static int select_objects(advgnn_ctx *ctx, visa_state *state, advgnn_string_list requested)
{
    name_list found = {0};
    int rc = ADVGNN_OK;

    for (size_t i = 0; rc == ADVGNN_OK && i < state->row_count; i++) {
        int known = 0;
        for (size_t j = 0; j < found.count && !known; j++)
            known = strcmp(found.names[j], state->rows[i].fields[COL_OBJECT]) == 0;
        if (!known && names_append(&found, state->rows[i].fields[COL_OBJECT]) != ADVGNN_OK)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    }
    if (rc == ADVGNN_OK)
        rc = layout_select_categories(ctx, PLUGIN, &found, requested, &state->categories);
    names_free(&found);
    return rc;
}

static int visa_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    visa_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->validation_ratio = advgnn_options_number(opts, "validation_ratio");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");
    split_file_option = advgnn_options_string(opts, "split_file");

    void *text = NULL;
    size_t size = 0;
    char *csv = NULL;
    int rc = layout_open(ctx, PLUGIN, advgnn_options_string(opts, "root"), &state->src);
    if (rc == ADVGNN_OK)
        rc = layout_find_base(ctx, PLUGIN, state->src, has_split_file, split_file_option, &state->base);
    if (rc == ADVGNN_OK) {
        csv = layout_join(state->base, split_file_option, NULL);
        state->csv_path = csv ? advgnn_source_entry_path(state->src, csv) : NULL;
        if (!state->csv_path)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    }
    if (rc == ADVGNN_OK)
        rc = advgnn_source_read(state->src, ctx, csv, &text, &size);
    if (rc == ADVGNN_OK)
        rc = parse_csv(ctx, state, text);
    if (rc == ADVGNN_OK)
        rc = select_objects(ctx, state, advgnn_options_strings(opts, "category"));
    advgnn_free(text);
    advgnn_free(csv);
    if (rc != ADVGNN_OK) {
        visa_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* ---- listing ---------------------------------------------------------------- */

/* Checks that a path of the split file exists in the source. */
static int require_file(advgnn_ctx *ctx, const visa_state *state, const visa_row *row, const char *rel,
                        const char *column)
{
    if (advgnn_source_stat(state->src, rel) == ADVGNN_SOURCE_ENTRY_FILE)
        return ADVGNN_OK;
    char *path = advgnn_source_entry_path(state->src, rel);
    int rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, PLUGIN ": '%s' line %zu: %s '%s' not found", state->csv_path,
                          row->line, column, path ? path : rel);
    advgnn_free(path);
    return rc;
}

static int list_object(advgnn_ctx *ctx, const visa_state *state, advgnn_sample_sink *sink, const char *object)
{
    size_t train = 0;
    layout_tally tally = {0};
    int rc = ADVGNN_OK;

    for (size_t i = 0; i < state->row_count; i++)
        train += strcmp(state->rows[i].fields[COL_OBJECT], object) == 0 &&
                 strcmp(state->rows[i].fields[COL_SPLIT], "train") == 0;
    advgnn_split *splits = advgnn_calloc(train + 1, sizeof(advgnn_split));
    if (!splits)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    if (train == 0)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, PLUGIN ": '%s' lists no train image of object %s",
                          state->csv_path, object);
    else
        rc = layout_split_normals(ctx, PLUGIN, object, train, 0.0, state->validation_ratio, state->seed, splits);

    for (size_t i = 0, k = 0; rc == ADVGNN_OK && i < state->row_count; i++) {
        const visa_row *row = &state->rows[i];
        if (strcmp(row->fields[COL_OBJECT], object) != 0)
            continue;
        int training = strcmp(row->fields[COL_SPLIT], "train") == 0;
        int anomalous = strcmp(row->fields[COL_LABEL], "anomaly") == 0;
        char *image = layout_join(state->base, row->fields[COL_IMAGE], NULL);
        char *mask = anomalous ? layout_join(state->base, row->fields[COL_MASK], NULL) : NULL;
        if (!image || (anomalous && !mask))
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        if (rc == ADVGNN_OK)
            rc = require_file(ctx, state, row, image, "image");
        if (rc == ADVGNN_OK && mask)
            rc = require_file(ctx, state, row, mask, "mask");
        if (rc == ADVGNN_OK) {
            advgnn_sample_info info = {.category = object, .split = training ? splits[k++] : ADVGNN_SPLIT_TEST,
                                       .anomalous = anomalous, .defect_type = anomalous ? "anomaly" : "good",
                                       .name = row->fields[COL_IMAGE], .mask_threshold = 0, .key = i};
            rc = layout_add_sample(ctx, PLUGIN, state->src, sink, &tally, &info, image, mask);
        }
        advgnn_free(image);
        advgnn_free(mask);
    }
    if (rc == ADVGNN_OK)
        layout_log_tally(ctx, PLUGIN, object, &tally, state->csv_path);
    layout_tally_free(&tally);
    advgnn_free(splits);
    return rc;
}

static int visa_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const visa_state *state = opaque;
    int rc = ADVGNN_OK;

    for (size_t i = 0; rc == ADVGNN_OK && i < state->categories.count; i++)
        rc = list_object(ctx, state, sink, state->categories.names[i]);
    return rc;
}

static const advgnn_dataset_functions visa_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = visa_open,
    .close = visa_close,
    .list = visa_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor visa_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "VisA objects split by split_csv/1cls.csv, from the folder or the archive",
    .options = visa_options,
    .functions = &visa_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &visa_descriptor;
}
