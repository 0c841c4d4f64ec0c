/* Option schemas: type names, the checks a plugin's declaration must pass at
 * load time, and the closest-name search behind "did you mean" hints. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options/options_internal.h"

#define NAME_MAX_LEN 64 /* bytes of an option name; longer ones are rejected as a schema error */

/* ---- names ------------------------------------------------------------- */

const char *advgnn_option_type_name(advgnn_option_type type)
{
    switch (type) {
    case ADVGNN_OPT_INT: return "integer";
    case ADVGNN_OPT_NUMBER: return "number";
    case ADVGNN_OPT_BOOL: return "boolean";
    case ADVGNN_OPT_STRING: return "string";
    case ADVGNN_OPT_ENUM: return "enum";
    case ADVGNN_OPT_NUMBER_LIST: return "list of numbers";
    case ADVGNN_OPT_STRING_LIST: return "list of strings";
    default: return "invalid";
    }
}

const char *advgnn_value_kind_name(advgnn_value_kind kind)
{
    switch (kind) {
    case ADVGNN_VALUE_INTEGER: return "integer";
    case ADVGNN_VALUE_NUMBER: return "number";
    case ADVGNN_VALUE_BOOLEAN: return "boolean";
    case ADVGNN_VALUE_STRING: return "string";
    case ADVGNN_VALUE_NUMBER_LIST: return "list of numbers";
    case ADVGNN_VALUE_STRING_LIST: return "list of strings";
    default: return "invalid value";
    }
}

void advgnn_format_number(double value, char *buf, size_t size)
{
    int digits = 1;

    /* %.17g always round-trips a double; fewer digits are tried first so
     * that 0.1 prints as "0.1" and not "0.10000000000000001". */
    while (digits < 17) {
        snprintf(buf, size, "%.*g", digits, value);
        if (strtod(buf, NULL) == value || !isfinite(value))
            break;
        digits++;
    }

    /* %g switches to an exponent once the integer part has more digits than
     * the precision. Whole numbers below 1e17 stay in plain notation (100, not 1e+02). */
    if (isfinite(value) && value != 0) {
        int exponent = (int)floor(log10(fabs(value)));
        if (exponent >= digits && exponent < 17)
            digits = exponent + 1;
    }
    snprintf(buf, size, "%.*g", digits, value);
}

/* ---- edit distance ----------------------------------------------------- */

size_t advgnn_edit_distance(const char *a, const char *b)
{
    /* Three rolling rows of the optimal-string-alignment table. Option and
     * plugin names have at most 64 bytes, so longer input is cut there. */
    enum { MAXLEN = 64 };
    size_t rows[3][MAXLEN + 1];
    size_t la = strnlen(a, MAXLEN), lb = strnlen(b, MAXLEN);
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;

    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = prev[j] + 1; /* deletion */
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1; /* insertion */
            if (prev[j - 1] + cost < best)
                best = prev[j - 1] + cost; /* substitution */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1; /* transposition */
            cur[j] = best;
        }
        size_t *spare = prev2;
        prev2 = prev;
        prev = cur;
        cur = spare;
    }
    return prev[lb];
}

/* Returns the largest edit distance still read as a typo of `name`: at most a
 * third of the name (at least one and at most three edits), and never the
 * whole of it. */
static size_t typo_limit(const char *name)
{
    size_t len = strlen(name);
    size_t limit = len / 3;

    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    if (limit >= len)
        limit = len ? len - 1 : 0;
    return limit;
}

const char *advgnn_closest_name(const char *name, const char *const *candidates, size_t count)
{
    size_t limit = typo_limit(name);
    const char *best = NULL;
    size_t best_distance = limit + 1;

    for (size_t i = 0; i < count; i++) {
        size_t d = advgnn_edit_distance(name, candidates[i]);
        if (d < best_distance) {
            best = candidates[i];
            best_distance = d;
        }
    }
    return best;
}

const char *advgnn_options_closest_name(const advgnn_option_spec *specs, const char *name)
{
    size_t limit = typo_limit(name);
    const char *best = NULL;
    size_t best_distance = limit + 1;

    for (size_t i = 0; specs && specs[i].name; i++) {
        size_t d = advgnn_edit_distance(name, specs[i].name);
        if (d < best_distance) {
            best = specs[i].name;
            best_distance = d;
        }
    }
    return best;
}

/* ---- schema checks ----------------------------------------------------- */

static int schema_fail(char *msg, size_t size, const char *plugin, const char *option, const char *fmt, ...)
    ADVGNN_PRINTF(5, 6);

static int schema_fail(char *msg, size_t size, const char *plugin, const char *option, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (option)
        snprintf(msg, size, "plugin '%s': option '%s': invalid declaration: %s", plugin, option, reason);
    else
        snprintf(msg, size, "plugin '%s': invalid option declaration: %s", plugin, reason);
    return ADVGNN_ERR_PLUGIN;
}

int advgnn_valid_name(const char *name, size_t max_length)
{
    size_t length = strnlen(name, max_length + 1);

    if (length == 0 || length > max_length)
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int has_range(advgnn_option_type type)
{
    return type == ADVGNN_OPT_INT || type == ADVGNN_OPT_NUMBER || type == ADVGNN_OPT_NUMBER_LIST;
}

/* Checks that a number lies in the declared range. */
static int in_range(const advgnn_option_spec *spec, double value)
{
    if ((spec->flags & ADVGNN_OPT_HAS_MIN) && value < spec->min)
        return 0;
    if ((spec->flags & ADVGNN_OPT_HAS_MAX) && value > spec->max)
        return 0;
    return 1;
}

static int check_range(const advgnn_option_spec *spec, const char *plugin, char *msg, size_t size)
{
    uint32_t bounds = spec->flags & (ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX);

    if (bounds && !has_range(spec->type))
        return schema_fail(msg, size, plugin, spec->name, "a range applies only to integer, number and list of numbers options, not %s",
                           advgnn_option_type_name(spec->type));
    if ((bounds & ADVGNN_OPT_HAS_MIN) && isnan(spec->min))
        return schema_fail(msg, size, plugin, spec->name, "min is NaN");
    if ((bounds & ADVGNN_OPT_HAS_MAX) && isnan(spec->max))
        return schema_fail(msg, size, plugin, spec->name, "max is NaN");
    if (bounds == (ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX) && spec->min > spec->max) {
        char lo[32], hi[32];
        advgnn_format_number(spec->min, lo, sizeof(lo));
        advgnn_format_number(spec->max, hi, sizeof(hi));
        return schema_fail(msg, size, plugin, spec->name, "min %s is greater than max %s", lo, hi);
    }
    return ADVGNN_OK;
}

/* Checks the choices of an enum (required) or a string list (optional: each
 * element must then be one of them). */
static int check_choices(const advgnn_option_spec *spec, const char *plugin, char *msg, size_t size)
{
    if (spec->type != ADVGNN_OPT_ENUM && spec->type != ADVGNN_OPT_STRING_LIST) {
        if (spec->choices)
            return schema_fail(msg, size, plugin, spec->name,
                               "choices apply only to enum and string list options, not %s",
                               advgnn_option_type_name(spec->type));
        return ADVGNN_OK;
    }
    if (spec->type == ADVGNN_OPT_STRING_LIST && !spec->choices)
        return ADVGNN_OK;

    if (!spec->choices || !spec->choices[0])
        return schema_fail(msg, size, plugin, spec->name, "%s needs a NULL-terminated, non-empty choices list",
                           spec->type == ADVGNN_OPT_ENUM ? "an enum" : "a string list with choices");
    for (size_t i = 0; spec->choices[i]; i++) {
        if (spec->choices[i][0] == '\0')
            return schema_fail(msg, size, plugin, spec->name, "choice %zu is an empty string", i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->choices[i], spec->choices[j]) == 0)
                return schema_fail(msg, size, plugin, spec->name, "choice '%s' is listed twice", spec->choices[i]);
    }
    return ADVGNN_OK;
}

static int is_choice(const advgnn_option_spec *spec, const char *value)
{
    for (size_t i = 0; spec->choices[i]; i++)
        if (strcmp(spec->choices[i], value) == 0)
            return 1;
    return 0;
}

static int check_default_number(const advgnn_option_spec *spec, const char *plugin, double value, const char *what,
                                char *msg, size_t size)
{
    char text[32];

    if (!isfinite(value))
        return schema_fail(msg, size, plugin, spec->name, "%s is not finite", what);
    if (!in_range(spec, value)) {
        advgnn_format_number(value, text, sizeof(text));
        return schema_fail(msg, size, plugin, spec->name, "%s %s is outside the declared range", what, text);
    }
    return ADVGNN_OK;
}

/* Checks the default of an option that is not REQUIRED. */
static int check_default(const advgnn_option_spec *spec, const char *plugin, char *msg, size_t size)
{
    const advgnn_option_default *def = &spec->def;
    int rc = ADVGNN_OK;

    switch (spec->type) {
    case ADVGNN_OPT_INT:
        return check_default_number(spec, plugin, (double)def->integer, "the default", msg, size);
    case ADVGNN_OPT_NUMBER:
        return check_default_number(spec, plugin, def->number, "the default", msg, size);
    case ADVGNN_OPT_BOOL:
        if (def->boolean != 0 && def->boolean != 1)
            return schema_fail(msg, size, plugin, spec->name, "a boolean default must be 0 or 1, not %d", def->boolean);
        return ADVGNN_OK;
    case ADVGNN_OPT_STRING:
        return ADVGNN_OK; /* NULL is allowed: the getter then returns NULL */
    case ADVGNN_OPT_ENUM:
        if (!def->string)
            return schema_fail(msg, size, plugin, spec->name, "an enum needs a default or the REQUIRED flag");
        if (!is_choice(spec, def->string))
            return schema_fail(msg, size, plugin, spec->name, "the default '%s' is not among the choices", def->string);
        return ADVGNN_OK;
    case ADVGNN_OPT_NUMBER_LIST:
        if (def->numbers.count && !def->numbers.values)
            return schema_fail(msg, size, plugin, spec->name, "the default list has %zu elements but no values",
                               def->numbers.count);
        for (size_t i = 0; i < def->numbers.count && rc == ADVGNN_OK; i++)
            rc = check_default_number(spec, plugin, def->numbers.values[i], "a default element", msg, size);
        return rc;
    case ADVGNN_OPT_STRING_LIST:
        if (def->strings.count && !def->strings.values)
            return schema_fail(msg, size, plugin, spec->name, "the default list has %zu elements but no values",
                               def->strings.count);
        for (size_t i = 0; i < def->strings.count; i++) {
            if (!def->strings.values[i])
                return schema_fail(msg, size, plugin, spec->name, "default element %zu is NULL", i + 1);
            if (spec->choices && !is_choice(spec, def->strings.values[i]))
                return schema_fail(msg, size, plugin, spec->name, "default element '%s' is not among the choices",
                                   def->strings.values[i]);
        }
        return ADVGNN_OK;
    default:
        return schema_fail(msg, size, plugin, spec->name, "unknown type %d", (int)spec->type);
    }
}

static int check_spec(const advgnn_option_spec *specs, size_t index, const char *plugin, char *msg, size_t size)
{
    const advgnn_option_spec *spec = &specs[index];
    const uint32_t known = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX | ADVGNN_OPT_REQUIRED;
    int rc;

    /* Name: syntax and uniqueness. */
    if (!advgnn_valid_name(spec->name, NAME_MAX_LEN) || spec->name[0] < 'a' || spec->name[0] > 'z')
        return schema_fail(msg, size, plugin, NULL,
                           "option %zu has the name '%.80s'; names are 1 to %d characters of [a-z0-9_] starting with a letter",
                           index + 1, spec->name, NAME_MAX_LEN);
    for (size_t j = 0; j < index; j++)
        if (strcmp(specs[j].name, spec->name) == 0)
            return schema_fail(msg, size, plugin, spec->name, "the name is declared twice");

    /* Type, help and flags. */
    if (spec->type < ADVGNN_OPT_INT || spec->type > ADVGNN_OPT_STRING_LIST)
        return schema_fail(msg, size, plugin, spec->name, "unknown type %d", (int)spec->type);
    if (!spec->help || spec->help[0] == '\0')
        return schema_fail(msg, size, plugin, spec->name, "help text is missing");
    if (spec->flags & ~known)
        return schema_fail(msg, size, plugin, spec->name, "unknown flags 0x%x", (unsigned)(spec->flags & ~known));

    /* Range, choices, then the default against both. */
    rc = check_range(spec, plugin, msg, size);
    if (rc == ADVGNN_OK)
        rc = check_choices(spec, plugin, msg, size);
    if (rc == ADVGNN_OK && !(spec->flags & ADVGNN_OPT_REQUIRED))
        rc = check_default(spec, plugin, msg, size);
    return rc;
}

int advgnn_options_check_schema(const char *plugin_name, const advgnn_option_spec *specs, char *msg, size_t size)
{
    const size_t max_options = 1024; /* guards against a schema missing its NULL terminator */
    int rc;

    if (size)
        msg[0] = '\0';
    if (!specs)
        return ADVGNN_OK;
    for (size_t i = 0; specs[i].name; i++) {
        if (i == max_options)
            return schema_fail(msg, size, plugin_name, NULL,
                               "more than %zu options; is the array missing its terminating entry with name NULL?",
                               max_options);
        rc = check_spec(specs, i, plugin_name, msg, size);
        if (rc != ADVGNN_OK)
            return rc;
    }
    return ADVGNN_OK;
}
