/* Building and validating option sets. Private to the core.
 *
 * The Lua layer converts each entry of a user's table into an advgnn_value and
 * calls advgnn_options_set; the checks and the messages live here so that every
 * front end reports the same errors. */
#ifndef ADVGNN_OPTIONS_INTERNAL_H
#define ADVGNN_OPTIONS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/options.h"
#include "util/internal.h"

/* The kind of a value as the user wrote it. */
typedef enum advgnn_value_kind {
    ADVGNN_VALUE_INVALID = 0,
    ADVGNN_VALUE_INTEGER = 1,
    ADVGNN_VALUE_NUMBER = 2,
    ADVGNN_VALUE_BOOLEAN = 3,
    ADVGNN_VALUE_STRING = 4,
    ADVGNN_VALUE_NUMBER_LIST = 5,
    ADVGNN_VALUE_STRING_LIST = 6
} advgnn_value_kind;

/* One user value; the member read is the one `kind` names. Borrowed for the call. */
typedef struct advgnn_value {
    advgnn_value_kind kind;
    int64_t integer;
    double number;
    int boolean;
    const char *string;
    const double *numbers;     /* NUMBER_LIST */
    const char *const *strings; /* STRING_LIST */
    size_t count;              /* elements of the list */
} advgnn_value;

/* Returns "integer", "number", "boolean", "string", "list of numbers", ... */
const char *advgnn_value_kind_name(advgnn_value_kind kind);

/* Creates an option set for `plugin_name` with every default filled in. The
 * specs are borrowed and must outlive the set. Fails with ADVGNN_ERR_PLUGIN when
 * the schema itself is malformed (a default outside its range, an enum default
 * not among its choices, a duplicate name), naming the plugin and option. */
int advgnn_options_new(advgnn_ctx *ctx, const char *plugin_name, const advgnn_option_spec *specs,
                       advgnn_options **out);
void advgnn_options_free(advgnn_options *opts);

/* Sets one option from a user value. Errors (ADVGNN_ERR_OPTION) name the plugin
 * and the option: an unknown name, with the closest declared name suggested; a
 * value of the wrong type, with the expected type; a value out of range, with
 * the range; an enum value not among the choices, with the choices. An integer
 * is accepted for a number option, and a number with an integral value for an
 * integer option. */
int advgnn_options_set(advgnn_options *opts, advgnn_ctx *ctx, const char *name, const advgnn_value *value);

/* Checks that every ADVGNN_OPT_REQUIRED option was set. */
int advgnn_options_finish(advgnn_options *opts, advgnn_ctx *ctx);

/* Returns the declared name closest to `name` by edit distance, or NULL when
 * none is close enough to be a plausible typo. Borrowed from the specs. */
const char *advgnn_options_closest_name(const advgnn_option_spec *specs, const char *name);

/* Returns the spec named `name`, or NULL. */
const advgnn_option_spec *advgnn_options_find_spec(const advgnn_options *opts, const char *name);

/* ---- helpers shared by the options and plugin modules ------------------ */

/* Checks a plugin's option schema (see advgnn_options_new for the rules).
 * Returns ADVGNN_OK, or ADVGNN_ERR_PLUGIN with a message naming the plugin and
 * the option written into msg, so the loader can record it without touching a
 * context's error state. */
int advgnn_options_check_schema(const char *plugin_name, const advgnn_option_spec *specs,
                                char *msg, size_t size);

/* Returns nonzero when `name` is 1 to max_length characters of [a-z0-9_], the
 * syntax of plugin and option names. */
int advgnn_valid_name(const char *name, size_t max_length);

/* Returns the restricted Damerau-Levenshtein distance (optimal string
 * alignment: insertions, deletions, substitutions, adjacent transpositions). */
size_t advgnn_edit_distance(const char *a, const char *b);

/* Returns the candidate closest to `name`, or NULL when none is a plausible
 * typo of it. Ties go to the earlier candidate. Borrowed from `candidates`. */
const char *advgnn_closest_name(const char *name, const char *const *candidates, size_t count);

/* Writes a double with the fewest significant digits (up to 17) that read
 * back to the same value, so 0.1 prints as "0.1". */
void advgnn_format_number(double value, char *buf, size_t size);

#endif
