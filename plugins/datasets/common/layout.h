/* Helpers shared by the dataset plugins of published benchmarks (mvtec_ad,
 * mvtec_loco, mvtec_3d_ad, visa, btad, kolektor, magnetic_tile). They walk a
 * dataset layout through an advgnn_source, so one plugin reads the extracted
 * folder and the archive alike. They also choose categories, split normal
 * images by a seeded shuffle and count the samples that each plugin logs.
 *
 * Each plugin compiles this file into its own shared object; the helpers use
 * only the public SDK. Every failure message starts with the plugin's name. */
#ifndef ADVGNN_DATASETS_LAYOUT_H
#define ADVGNN_DATASETS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include <advgnn/dataset.h>
#include <advgnn/source.h>

/* A list of owned strings. */
typedef struct name_list {
    char **names;
    size_t count;
} name_list;

void names_free(name_list *list);

/* Appends a copy of `name`; returns ADVGNN_ERR_NOMEM without a message. */
int names_append(name_list *list, const char *name);

/* Joins relative path parts with '/', skipping empty parts, into a new string
 * (advgnn_free); NULL when out of memory. `c` may be NULL. */
char *layout_join(const char *a, const char *b, const char *c);

/* Returns the part of `name` before its last '.', as a new string. */
char *layout_stem(const char *name);

/* Returns nonzero when `name` ends with one of the NULL-terminated
 * `extensions` (compared without case). */
int layout_has_extension(const char *name, const char *const *extensions);

/* Opens `root` (a folder or an archive) as a source, failing with a message
 * that names the root and the option.
 * NOTE: the plugins list entry paths and never call advgnn_source_prefetch.
 * Reading an entry of an archive root fetches its whole folder in one pass
 * (up to 512 MiB), so a split costs one pass per folder, and each pass
 * decompresses the archive from its start up to that folder. */
int layout_open(advgnn_ctx *ctx, const char *plugin, const char *root, advgnn_source **out);

/* Lists the names of type `type` directly inside `rel`. A missing folder
 * fails with ADVGNN_ERR_NOT_FOUND naming its full path and `role`, the
 * folder's role in the layout (e.g. "the training images"). */
int layout_list(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel,
                advgnn_source_entry_type type, const char *role, name_list *out);

/* Lists the files of `rel` with one of `extensions`, hidden files skipped. */
int layout_list_images(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel,
                       const char *const *extensions, const char *role, name_list *out);

/* Fails with ADVGNN_ERR_NOT_FOUND, naming the full path and `role`, unless
 * `rel` is a folder of the source. */
int layout_require_dir(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *rel, const char *role);

/* Finds the folder that contains the dataset: the source's root when
 * `is_base` accepts it, else its only subfolder that `is_base` accepts,
 * because published archives often wrap the dataset in one folder. *base is
 * a new string ("" for the root). Fails naming the root and `expected`, a
 * description of the layout. */
int layout_find_base(advgnn_ctx *ctx, const char *plugin, advgnn_source *src,
                     int (*is_base)(advgnn_source *src, const char *rel), const char *expected, char **base);

/* Chooses categories: all of `found` when `requested` is empty, else the
 * requested ones in their order. An unknown name fails listing `found`. */
int layout_select_categories(advgnn_ctx *ctx, const char *plugin, const name_list *found,
                             advgnn_string_list requested, name_list *selected);

/* The categories of a dataset whose category folders each contain a
 * `marker` folder (e.g. "test"). */
typedef struct layout_categories {
    char *base;      /* folder inside the source with the category folders, or the one category folder */
    int single;      /* nonzero when `base` is itself a category (named after the root) */
    name_list names; /* selected categories, in the order requested or listed */
} layout_categories;

/* Finds the categories: `root` may contain category folders, be one category
 * folder (named after its last path component without extension), or wrap
 * either in one folder. Then selects them as layout_select_categories does.
 * Fails naming the root and `expected` when none is found. */
int layout_find_categories(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *marker,
                           const char *expected, advgnn_string_list requested, layout_categories *out);

void layout_categories_free(layout_categories *categories);

/* Opens the `root` option's folder or archive into *src and selects the
 * categories that the `category` option selects, as layout_find_categories
 * does. On failure *src is closed and NULL. */
int layout_open_categories(advgnn_ctx *ctx, const char *plugin, const advgnn_options *opts, const char *marker,
                           const char *expected, advgnn_source **src, layout_categories *categories);

/* Closes what layout_open_categories opened. It is safe on a partly opened state. */
void layout_close_categories(advgnn_source *src, layout_categories *categories);

/* Returns the folder of `category` inside the source (new string). */
char *layout_category_dir(const layout_categories *categories, const char *category);

/* Copies a string list option. */
int layout_copy_strings(advgnn_ctx *ctx, const char *plugin, advgnn_string_list values, name_list *out);

/* Number of `count` items for a ratio, rounded half up. */
size_t layout_ratio_count(double ratio, size_t count);

/* Assigns each of `count` normal images (in sorted order) a split by a seeded
 * shuffle: the first test_ratio of the shuffled order go to test, the next
 * validation_ratio of the rest to validation, the others to train. Fails when
 * no image is left for training, naming `where`. splits has count entries. */
int layout_split_normals(advgnn_ctx *ctx, const char *plugin, const char *where, size_t count, double test_ratio,
                         double validation_ratio, uint64_t seed, advgnn_split *splits);

/* Sample counts per split and defect type of one category, for the log. */
typedef struct layout_tally {
    struct tally_row {
        advgnn_split split;
        char *type;
        size_t count;
    } *rows;
    size_t count;
} layout_tally;

void layout_tally_free(layout_tally *tally);

/* Adds one sample and counts it. image_rel and mask_rel (NULL when none) are
 * paths inside the source; they become entry paths. */
int layout_add_sample(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, advgnn_sample_sink *sink,
                      layout_tally *tally, const advgnn_sample_info *info, const char *image_rel,
                      const char *mask_rel);

/* Fails with ADVGNN_ERR_NOT_FOUND naming the defect image and its expected
 * mask by their full paths, followed by `hint` (what to do). */
int layout_fail_missing_mask(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *image_rel,
                             const char *mask_rel, const char *hint);

/* Ends the listing of one category: logs its tally with the full path of
 * `dir` when rc is ADVGNN_OK, else prefixes the error with the category.
 * Returns rc. */
int layout_finish_category(advgnn_ctx *ctx, const char *plugin, advgnn_source *src, const char *category,
                           const char *dir, const layout_tally *tally, int rc);

/* Returns the number of samples counted for `split` (all types). */
size_t layout_tally_split(const layout_tally *tally, advgnn_split split);

/* Logs at info: "<plugin>: category <c>: train N (good N); validation ...;
 * test N (good N, <type> N, ...) from '<root>'". */
void layout_log_tally(advgnn_ctx *ctx, const char *plugin, const char *category, const layout_tally *tally,
                      const char *root);

#endif
