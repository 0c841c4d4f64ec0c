/* Typed option schemas that plugins declare, and the resolved values they read.
 *
 * A plugin declares a static array of advgnn_option_spec ended by an entry whose
 * name is NULL. The core validates a user's Lua table against it (unknown keys,
 * wrong types, out-of-range values are errors naming the script line, the plugin
 * and the option), fills defaults, and hands the plugin an advgnn_options. */
#ifndef ADVGNN_OPTIONS_H
#define ADVGNN_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum advgnn_option_type {
    ADVGNN_OPT_INVALID = 0, /* a zeroed spec is caught */
    ADVGNN_OPT_INT = 1,     /* 64-bit integer; Lua numbers with an integral value */
    ADVGNN_OPT_NUMBER = 2,  /* double */
    ADVGNN_OPT_BOOL = 3,
    ADVGNN_OPT_STRING = 4,
    ADVGNN_OPT_ENUM = 5,       /* one string of `choices` */
    ADVGNN_OPT_NUMBER_LIST = 6, /* Lua sequence of numbers */
    ADVGNN_OPT_STRING_LIST = 7  /* Lua sequence of strings, or one string read as a list of one */
} advgnn_option_type;

/* Flags of an option spec. */
#define ADVGNN_OPT_HAS_MIN 0x1u  /* `min` applies (to the value, or to each list element) */
#define ADVGNN_OPT_HAS_MAX 0x2u  /* `max` applies */
#define ADVGNN_OPT_REQUIRED 0x4u /* no default: the user must set it */

/* A list of numbers. Borrowed from the spec or the option set. */
typedef struct advgnn_number_list {
    const double *values;
    size_t count;
} advgnn_number_list;

/* A list of strings. Borrowed from the spec or the option set. */
typedef struct advgnn_string_list {
    const char *const *values;
    size_t count;
} advgnn_string_list;

/* The default of an option; the member read is the one its type names. */
typedef union advgnn_option_default {
    int64_t integer;
    double number;
    int boolean;
    const char *string; /* STRING and ENUM (must be one of choices) */
    advgnn_number_list numbers;
    advgnn_string_list strings;
} advgnn_option_default;

/* One declared option. All pointers must stay valid while the plugin is loaded
 * (static storage in practice). */
typedef struct advgnn_option_spec {
    const char *name;   /* lowercase snake_case; NULL ends the array */
    advgnn_option_type type;
    const char *help;   /* one sentence: what it sets, and its unit */
    advgnn_option_default def;
    double min;         /* inclusive; see ADVGNN_OPT_HAS_MIN */
    double max;         /* inclusive; see ADVGNN_OPT_HAS_MAX */
    const char *const *choices; /* ENUM: NULL-terminated list of accepted strings. STRING_LIST: NULL, or
                                   such a list that every element must be one of */
    uint32_t flags;
} advgnn_option_spec;

/* A resolved option set: every declared option with the user's value or its
 * default. Owned by the core; plugins only read it, and only during the call
 * that received it, unless they copy the values. */
typedef struct advgnn_options advgnn_options;

/* Getters for a declared option. The type must match the declaration; asking for
 * an undeclared name or the wrong type is a bug and aborts with file:line. */
int64_t advgnn_options_int(const advgnn_options *opts, const char *name);
double advgnn_options_number(const advgnn_options *opts, const char *name);
int advgnn_options_bool(const advgnn_options *opts, const char *name);
/* Returns a borrowed string (STRING or ENUM), valid as long as the option set,
 * or NULL for a STRING option whose default is NULL and that the user did not set. */
const char *advgnn_options_string(const advgnn_options *opts, const char *name);
advgnn_number_list advgnn_options_numbers(const advgnn_options *opts, const char *name);
advgnn_string_list advgnn_options_strings(const advgnn_options *opts, const char *name);

/* Returns nonzero when the user set the option explicitly (not the default). */
int advgnn_options_is_set(const advgnn_options *opts, const char *name);

/* Returns the plugin name the option set was validated for. Borrowed. */
const char *advgnn_options_plugin(const advgnn_options *opts);

/* Returns the number of options and the spec of the i-th, in declaration order. */
size_t advgnn_options_count(const advgnn_options *opts);
const advgnn_option_spec *advgnn_options_spec_at(const advgnn_options *opts, size_t i);

/* Writes the value of the i-th option as text into buf (numbers with the
 * fewest digits, at most 17, that read back exactly, lists as "[1, 2]" and
 * ["a", "b"], booleans as true/false, an unset required option as
 * "(required)"). Returns the length that the full text needs, like snprintf. */
size_t advgnn_options_format_value(const advgnn_options *opts, size_t i, char *buf, size_t size);

/* Returns the printable name of an option type ("integer", "number", ...). */
const char *advgnn_option_type_name(advgnn_option_type type);

#ifdef __cplusplus
}
#endif
#endif
