/* Helpers shared by the benchmark dataset plugins; see layout.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <advgnn/rng.h>

#include "layout.h"

/* ---- strings ---------------------------------------------------------------- */

void names_free(name_list *list)
{
    advgnn_source_free_list(list->names, list->count);
    list->names = NULL;
    list->count = 0;
}

int names_append(name_list *list, const char *name)
{
    char **grown = advgnn_realloc(list->names, (list->count + 1) * sizeof(char *));

    if (!grown)
        return ADVGNN_ERR_NOMEM;
    list->names = grown;
    list->names[list->count] = advgnn_strdup(name);
    if (!list->names[list->count])
        return ADVGNN_ERR_NOMEM;
    list->count++;
    return ADVGNN_OK;
}

char *layout_join(const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t length = 1;

    for (int i = 0; i < 3; i++)
        length += parts[i] ? strlen(parts[i]) + 1 : 0;
    char *out = advgnn_malloc(length);
    if (!out)
        return NULL;

    out[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (!parts[i] || !parts[i][0])
            continue;
        if (out[0])
            strcat(out, "/");
        strcat(out, parts[i]);
    }
    return out;
}

char *layout_stem(const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t length = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    char *out = advgnn_malloc(length + 1);

    if (out) {
        memcpy(out, name, length);
        out[length] = '\0';
    }
    return out;
}

int layout_has_extension(const char *name, const char *const *extensions)
{
    size_t length = strlen(name);

    for (size_t i = 0; extensions[i]; i++) {
        size_t lx = strlen(extensions[i]);
        if (length > lx && strcasecmp(name + length - lx, extensions[i]) == 0)
            return 1;
    }
    return 0;
}

int layout_copy_strings(advgnn_ctx *ctx, const char *plugin, advgnn_string_list values, name_list *out)
{
    out->names = NULL;
    out->count = 0;
    for (size_t i = 0; i < values.count; i++) {
        if (names_append(out, values.values[i]) != ADVGNN_OK) {
            names_free(out);
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory copying the options", plugin);
        }
    }
    return ADVGNN_OK;
}

/* ---- the source ------------------------------------------------------------- */

int layout_open(advgnn_ctx *ctx, const char *plugin, const char *root, advgnn_source **out)
{
    *out = NULL;
    if (!root || !root[0])
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "%s: option 'root' is empty; set it to the dataset folder or archive", plugin);

    int rc = advgnn_source_open(ctx, root, NULL, out);

    /* A damaged or rejected archive is still the right root, so only a
     * missing or unreadable root gets the advice to change the option. */
    if (rc == ADVGNN_ERR_FORMAT)
        advgnn_error_prefixf(ctx, "%s: root '%s'", plugin, root);
    else if (rc != ADVGNN_OK)
        advgnn_error_prefixf(ctx, "%s: cannot open root '%s' (set 'root' to the dataset folder or archive)", plugin,
                             root);
    return rc;
}

/* Returns the full path of `rel` for messages; never NULL. */
static char *display_path(advgnn_source *src, const char *rel)
{
    char *path = advgnn_source_entry_path(src, rel);
    return path ? path : advgnn_strdup("(out of memory)");
}

int layout_require_dir(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel, const char *role)
{
    if (advgnn_source_stat(src, rel) == ADVGNN_SOURCE_ENTRY_DIR)
        return ADVGNN_OK;

    char *path = display_path(src, rel);
    int rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s: folder '%s' (%s) not found; the layout does not match",
                          plugin, path ? path : rel, role);
    advgnn_free(path);
    return rc;
}

int layout_list(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel,
                advgnn_source_entry_type type, const char *role, name_list *out)
{
    out->names = NULL;
    out->count = 0;
    int rc = layout_require_dir(ctx, plugin, src, rel, role);
    if (rc == ADVGNN_OK)
        rc = advgnn_source_list(src, ctx, rel, type, &out->names, &out->count);
    if (rc != ADVGNN_OK)
        names_free(out);
    return rc;
}

int layout_list_images(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel,
                       const char *const *extensions, const char *role, name_list *out)
{
    name_list files;
    int rc = layout_list(ctx, plugin, src, rel, ADVGNN_SOURCE_ENTRY_FILE, role, &files);
    if (rc != ADVGNN_OK)
        return rc;

    /* Keep the matching names in place; the others are freed. */
    size_t kept = 0;
    for (size_t i = 0; i < files.count; i++) {
        if (files.names[i][0] != '.' && layout_has_extension(files.names[i], extensions))
            files.names[kept++] = files.names[i];
        else
            advgnn_free(files.names[i]);
    }
    files.count = kept;
    *out = files;
    return ADVGNN_OK;
}

int layout_find_base(advgnn_ctx *ctx, const char *plugin, advgnn_source *src,
                     int (*is_base)(advgnn_source *src, const char *rel), const char *expected, char **base)
{
    name_list dirs;

    *base = NULL;
    if (is_base(src, "")) {
        *base = advgnn_strdup("");
        return *base ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    }

    int rc = advgnn_source_list(src, ctx, "", ADVGNN_SOURCE_ENTRY_DIR, &dirs.names, &dirs.count);
    if (rc != ADVGNN_OK)
        return rc;
    size_t matches = 0, match = 0;
    for (size_t i = 0; i < dirs.count; i++) {
        if (is_base(src, dirs.names[i])) {
            matches++;
            match = i;
        }
    }
    if (matches == 1) {
        *base = advgnn_strdup(dirs.names[match]);
        names_free(&dirs);
        return *base ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    }
    names_free(&dirs);
    return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s: root '%s' does not have the expected layout (%s)", plugin,
                        advgnn_source_path(src), expected);
}

int layout_select_categories(advgnn_ctx *ctx, const char *plugin, const name_list *found,
                             advgnn_string_list requested, name_list *selected)
{
    selected->names = NULL;
    selected->count = 0;
    if (requested.count == 0)
        return layout_copy_strings(ctx, plugin, (advgnn_string_list){(const char *const *)found->names, found->count},
                                   selected);

    for (size_t i = 0; i < requested.count; i++) {
        int known = 0;
        for (size_t j = 0; j < found->count && !known; j++)
            known = strcmp(found->names[j], requested.values[i]) == 0;
        if (!known) {
            char names[512] = "";
            for (size_t j = 0; j < found->count; j++) {
                size_t used = strlen(names);
                snprintf(names + used, sizeof(names) - used, "%s%s", j ? ", " : "", found->names[j]);
            }
            names_free(selected);
            return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s: category '%s' not found; the dataset has: %s", plugin,
                                requested.values[i], found->count ? names : "(none)");
        }
        if (names_append(selected, requested.values[i]) != ADVGNN_OK) {
            names_free(selected);
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
        }
    }
    return ADVGNN_OK;
}

/* ---- categories ------------------------------------------------------------- */

/* Returns nonzero when rel/<marker> is a folder. */
static int has_marker(advgnn_source *src, const char *rel, const char *marker)
{
    char *path = layout_join(rel, marker, NULL);
    int found = path && advgnn_source_stat(src, path) == ADVGNN_SOURCE_ENTRY_DIR;

    advgnn_free(path);
    return found;
}

/* Lists the subfolders of `rel` that have the marker into *out. */
static int list_marked(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel, const char *marker,
                       name_list *out)
{
    name_list dirs = {0};
    int rc = advgnn_source_list(src, ctx, rel, ADVGNN_SOURCE_ENTRY_DIR, &dirs.names, &dirs.count);

    out->names = NULL;
    out->count = 0;
    for (size_t i = 0; rc == ADVGNN_OK && i < dirs.count; i++) {
        char *child = layout_join(rel, dirs.names[i], NULL);
        if (!child || (has_marker(src, child, marker) && names_append(out, dirs.names[i]) != ADVGNN_OK))
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
        advgnn_free(child);
    }
    names_free(&dirs);
    if (rc != ADVGNN_OK)
        names_free(out);
    return rc;
}

/* Returns the last component of a path without its extensions (new string). */
static char *name_from_path(const char *path)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;

    char *name = advgnn_malloc(end - start + 1);
    if (name) {
        memcpy(name, path + start, end - start);
        name[end - start] = '\0';
        char *dot = strchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
    }
    return name;
}

void layout_categories_free(layout_categories *categories)
{
    advgnn_free(categories->base);
    names_free(&categories->names);
    categories->base = NULL;
    categories->single = 0;
}

char *layout_category_dir(const layout_categories *categories, const char *category)
{
    return categories->single ? advgnn_strdup(categories->base) : layout_join(categories->base, category, NULL);
}

/* Looks for the categories in `rel`: rel itself, or its marked subfolders. */
static int categories_in(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel,
                         const char *marker, layout_categories *out, name_list *found)
{
    found->names = NULL;
    found->count = 0;
    if (has_marker(src, rel, marker)) {
        char *name = name_from_path(rel[0] ? rel : advgnn_source_path(src));
        int rc = name && names_append(found, name) == ADVGNN_OK ? ADVGNN_OK : ADVGNN_ERR_NOMEM;
        advgnn_free(name);
        out->single = 1;
        return rc == ADVGNN_OK ? rc : advgnn_failf(ctx, rc, "%s: out of memory", plugin);
    }
    out->single = 0;
    return list_marked(ctx, plugin, src, rel, marker, found);
}

int layout_find_categories(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *marker,
                           const char *expected, advgnn_string_list requested, layout_categories *out)
{
    name_list found = {0}, dirs = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = categories_in(ctx, plugin, src, "", marker, out, &found);

    /* An archive often wraps the dataset in one folder. */
    if (rc == ADVGNN_OK && found.count == 0)
        rc = advgnn_source_list(src, ctx, "", ADVGNN_SOURCE_ENTRY_DIR, &dirs.names, &dirs.count);
    if (rc == ADVGNN_OK && found.count == 0 && dirs.count == 1) {
        out->base = advgnn_strdup(dirs.names[0]);
        rc = out->base ? categories_in(ctx, plugin, src, out->base, marker, out, &found)
                       : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    } else if (rc == ADVGNN_OK) {
        out->base = advgnn_strdup("");
        if (!out->base)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    }
    if (rc == ADVGNN_OK && found.count == 0)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s: no category found in root '%s'; expected %s", plugin,
                          advgnn_source_path(src), expected);
    if (rc == ADVGNN_OK)
        rc = layout_select_categories(ctx, plugin, &found, requested, &out->names);
    names_free(&found);
    names_free(&dirs);
    if (rc != ADVGNN_OK)
        layout_categories_free(out);
    return rc;
}

/* ---- splits ----------------------------------------------------------------- */

size_t layout_ratio_count(double ratio, size_t count)
{
    return (size_t)floor(ratio * (double)count + 0.5);
}

int layout_split_normals(advgnn_ctx *ctx, const char *plugin, const char *where, size_t count, double test_ratio,
                         double validation_ratio, uint64_t seed, advgnn_split *splits)
{
    size_t test = layout_ratio_count(test_ratio, count);
    size_t validation = layout_ratio_count(validation_ratio, count - test);

    if (test + validation >= count)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "%s: no normal image is left for training in '%s' (%zu images, test_normal_ratio %g, "
                            "validation_ratio %g); lower the ratios",
                            plugin, where, count, test_ratio, validation_ratio);

    size_t *order = advgnn_malloc(count * sizeof(size_t));
    if (!order)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    for (size_t i = 0; i < count; i++)
        order[i] = i;
    advgnn_rng rng;
    advgnn_rng_seed(&rng, seed);
    advgnn_rng_shuffle(&rng, order, count, sizeof(size_t));

    for (size_t k = 0; k < count; k++)
        splits[order[k]] = k < test ? ADVGNN_SPLIT_TEST
                                    : k < test + validation ? ADVGNN_SPLIT_VALIDATION : ADVGNN_SPLIT_TRAIN;
    advgnn_free(order);
    return ADVGNN_OK;
}

/* ---- samples and counts ----------------------------------------------------- */

void layout_tally_free(layout_tally *tally)
{
    for (size_t i = 0; i < tally->count; i++)
        advgnn_free(tally->rows[i].type);
    advgnn_free(tally->rows);
    tally->rows = NULL;
    tally->count = 0;
}

static int tally_count(layout_tally *tally, advgnn_split split, const char *type)
{
    for (size_t i = 0; i < tally->count; i++) {
        if (tally->rows[i].split == split && strcmp(tally->rows[i].type, type) == 0) {
            tally->rows[i].count++;
            return ADVGNN_OK;
        }
    }

    struct tally_row *grown = advgnn_realloc(tally->rows, (tally->count + 1) * sizeof(*grown));
    if (!grown)
        return ADVGNN_ERR_NOMEM;
    tally->rows = grown;
    grown[tally->count].split = split;
    grown[tally->count].count = 1;
    grown[tally->count].type = advgnn_strdup(type);
    if (!grown[tally->count].type)
        return ADVGNN_ERR_NOMEM;
    tally->count++;
    return ADVGNN_OK;
}

int layout_add_sample(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, advgnn_sample_sink *sink,
                      layout_tally *tally, const advgnn_sample_info *info, const char *image_rel,
                      const char *mask_rel)
{
    advgnn_sample_info copy = *info;
    char *image_path = advgnn_source_entry_path(src, image_rel);
    char *mask_path = mask_rel ? advgnn_source_entry_path(src, mask_rel) : NULL;
    int rc;

    if (!image_path || (mask_rel && !mask_path)) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    } else {
        copy.image_path = image_path;
        copy.mask_path = mask_path;
        rc = advgnn_sample_sink_add(sink, &copy);
    }
    if (rc == ADVGNN_OK && tally_count(tally, info->split, info->defect_type) != ADVGNN_OK)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", plugin);
    advgnn_free(image_path);
    advgnn_free(mask_path);
    return rc;
}

int layout_fail_missing_mask(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *image_rel,
                             const char *mask_rel, const char *hint)
{
    char *image_path = display_path(src, image_rel);
    char *mask_path = display_path(src, mask_rel);
    int rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s: defect image '%s' has no mask '%s'; %s", plugin,
                          image_path ? image_path : image_rel, mask_path ? mask_path : mask_rel, hint);

    advgnn_free(image_path);
    advgnn_free(mask_path);
    return rc;
}

int layout_finish_category(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *category,
                           const char *dir, const layout_tally *tally, int rc)
{
    if (rc != ADVGNN_OK) {
        advgnn_error_prefixf(ctx, "category %s", category);
        return rc;
    }

    char *where = display_path(src, dir);
    layout_log_tally(ctx, plugin, category, tally, where ? where : dir);
    advgnn_free(where);
    return rc;
}

size_t layout_tally_split(const layout_tally *tally, advgnn_split split)
{
    size_t total = 0;

    for (size_t i = 0; i < tally->count; i++)
        total += tally->rows[i].split == split ? tally->rows[i].count : 0;
    return total;
}

void layout_log_tally(advgnn_ctx *ctx, const char *plugin, const char *category, const layout_tally *tally,
                      const char *root)
{
    static const advgnn_split splits[] = {ADVGNN_SPLIT_TRAIN, ADVGNN_SPLIT_VALIDATION, ADVGNN_SPLIT_TEST};
    char line[1024] = "";
    size_t used = 0;

    for (size_t s = 0; s < 3; s++) {
        int first = 1;

        used += (size_t)snprintf(line + used, used < sizeof(line) ? sizeof(line) - used : 0, "%s%s %zu",
                                 s ? "; " : "", advgnn_split_name(splits[s]), layout_tally_split(tally, splits[s]));
        for (size_t i = 0; i < tally->count; i++) {
            if (tally->rows[i].split != splits[s] || used >= sizeof(line))
                continue;
            used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s %zu", first ? " (" : ", ",
                                     tally->rows[i].type, tally->rows[i].count);
            first = 0;
        }
        if (!first && used < sizeof(line))
            used += (size_t)snprintf(line + used, sizeof(line) - used, ")");
    }
    advgnn_log(ctx, ADVGNN_LOG_INFO, "%s: category %s: %s from '%s'", plugin, category, line, root);
}

int layout_open_categories(advgnn_ctx *ctx, const char *plugin, const advgnn_options *opts, const char *marker,
                           const char *expected, advgnn_source **src, layout_categories *categories)
{
    int rc = layout_open(ctx, plugin, advgnn_options_string(opts, "root"), src);

    if (rc == ADVGNN_OK)
        rc = layout_find_categories(ctx, plugin, *src, marker, expected, advgnn_options_strings(opts, "category"),
                                    categories);
    if (rc != ADVGNN_OK) {
        advgnn_source_close(*src);
        *src = NULL;
    }
    return rc;
}

void layout_close_categories(advgnn_source *src, layout_categories *categories)
{
    advgnn_source_close(src);
    layout_categories_free(categories);
}
