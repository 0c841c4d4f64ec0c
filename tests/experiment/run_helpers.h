/* Helpers shared by the runner's end-to-end tests: temporary folders, test
 * images, option sets and reading the run's output files. */
#ifndef ADVGNN_TEST_RUN_HELPERS_H
#define ADVGNN_TEST_RUN_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "advgnn/advgnn.h"
#include "options/options_internal.h"
#include "plugin/registry.h"

/* Creates a fresh folder under $TMPDIR (or /tmp); returns it (free with
 * advgnn_free) or NULL. */
char *helper_make_temp_dir(const char *prefix);

/* Removes a folder tree. */
void helper_remove_tree(const char *path);

/* Writes a width x height PNG with `channels` channels: a smooth gradient,
 * plus a bright square at (x0, y0) of side `side` when side > 0. */
int helper_write_png(advgnn_ctx *ctx, const char *path, int width, int height, int channels, int x0, int y0,
                     int side);

/* Writes a 1-channel mask PNG: 255 inside the square, 0 elsewhere. */
int helper_write_mask(advgnn_ctx *ctx, const char *path, int width, int height, int x0, int y0, int side);

/* Loads a plugin from the build's plugin folder by file stem, e.g. "synthetic". */
const advgnn_plugin *helper_load_plugin(advgnn_registry *reg, advgnn_ctx *ctx, const char *folder,
                                        const char *stem);

/* Builds a complete option set for a plugin: its defaults, then each of the
 * NULL-ended (name, value text) pairs. A value text is parsed by the option's
 * type: integers, numbers, true or false, strings, comma-separated lists. */
advgnn_options *helper_options(advgnn_ctx *ctx, const advgnn_plugin *plugin, const char *const *pairs);

/* Reads and parses a JSON file, or NULL. */
cJSON *helper_read_json(const char *path);

/* Returns the number of lines of a text file, or -1. */
long helper_count_lines(const char *path);

/* Returns the number of regular files in a folder, or -1. */
long helper_count_files(const char *path);

/* Returns metrics.<label>.<metric> of a category of results.json, or NAN. */
double helper_metric(const cJSON *results, const char *category, const char *label, const char *metric);

#endif
