/* Option sets: defaults, validated user values, typed getters and formatting.
 *
 * A set borrows the plugin's specs (static storage of a loaded plugin) and
 * owns copies of every string and list a user sets, because the caller's
 * memory (a Lua table) is only borrowed for the advgnn_options_set call. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "options/options_internal.h"

/* The value of one option. Getters return the const pointers, which point at
 * the spec's default or at the owned copies below. */
typedef struct option_slot {
    int is_set; /* the user set it */
    int64_t integer;
    double number;
    int boolean;
    const char *string;
    advgnn_number_list numbers;
    advgnn_string_list strings;
    char *owned_string;    /* STRING and ENUM values set by the user */
    double *owned_numbers; /* NUMBER_LIST values set by the user */
    char **owned_strings;  /* STRING_LIST values set by the user, owned_string_count of them */
    size_t owned_string_count;
} option_slot;

struct advgnn_options {
    char *plugin;
    const advgnn_option_spec *specs; /* borrowed; `count` entries */
    size_t count;
    option_slot *slots;              /* one per spec */
};

/* ---- lifetime ---------------------------------------------------------- */

static void slot_release(option_slot *slot)
{
    advgnn_free(slot->owned_string);
    advgnn_free(slot->owned_numbers);
    for (size_t i = 0; i < slot->owned_string_count; i++)
        advgnn_free(slot->owned_strings[i]);
    advgnn_free(slot->owned_strings);
    slot->owned_string = NULL;
    slot->owned_numbers = NULL;
    slot->owned_strings = NULL;
    slot->owned_string_count = 0;
}

static void slot_fill_default(option_slot *slot, const advgnn_option_spec *spec)
{
    slot->integer = spec->def.integer;
    slot->number = spec->def.number;
    slot->boolean = spec->def.boolean;
    if (spec->type == ADVGNN_OPT_STRING || spec->type == ADVGNN_OPT_ENUM)
        slot->string = spec->def.string;
    if (spec->type == ADVGNN_OPT_NUMBER_LIST)
        slot->numbers = spec->def.numbers;
    if (spec->type == ADVGNN_OPT_STRING_LIST)
        slot->strings = spec->def.strings;
}

int advgnn_options_new(advgnn_ctx *ctx, const char *plugin_name, const advgnn_option_spec *specs,
                       advgnn_options **out)
{
    char msg[1024];
    advgnn_options *opts;
    size_t count = 0;
    int rc;

    *out = NULL;
    rc = advgnn_options_check_schema(plugin_name, specs, msg, sizeof(msg));
    if (rc != ADVGNN_OK)
        return advgnn_failf(ctx, rc, "%s", msg);
    while (specs && specs[count].name)
        count++;

    opts = advgnn_calloc(1, sizeof(*opts));
    if (!opts)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating the options of plugin '%s'", plugin_name);
    opts->plugin = advgnn_strdup(plugin_name);
    opts->slots = advgnn_calloc(count ? count : 1, sizeof(*opts->slots));
    if (!opts->plugin || !opts->slots) {
        advgnn_options_free(opts);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating the options of plugin '%s'", plugin_name);
    }

    opts->specs = specs;
    opts->count = count;
    for (size_t i = 0; i < count; i++)
        slot_fill_default(&opts->slots[i], &specs[i]);
    *out = opts;
    return ADVGNN_OK;
}

void advgnn_options_free(advgnn_options *opts)
{
    if (!opts)
        return;
    for (size_t i = 0; opts->slots && i < opts->count; i++)
        slot_release(&opts->slots[i]);
    advgnn_free(opts->slots);
    advgnn_free(opts->plugin);
    advgnn_free(opts);
}

/* ---- lookup ------------------------------------------------------------ */

static size_t find_index(const advgnn_options *opts, const char *name)
{
    for (size_t i = 0; i < opts->count; i++)
        if (strcmp(opts->specs[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

const advgnn_option_spec *advgnn_options_find_spec(const advgnn_options *opts, const char *name)
{
    size_t i = find_index(opts, name);
    return i == (size_t)-1 ? NULL : &opts->specs[i];
}

/* ---- validation messages ---------------------------------------------- */

static int option_fail(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, const char *fmt, ...)
    ADVGNN_PRINTF(4, 5);

/* Fails with ADVGNN_ERR_OPTION and "plugin 'p': option 'o' <reason>". */
static int option_fail(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "plugin '%s': option '%s' %s", opts->plugin, spec->name, reason);
}

static const char *type_with_article(advgnn_option_type type)
{
    switch (type) {
    case ADVGNN_OPT_INT: return "an integer";
    case ADVGNN_OPT_NUMBER: return "a number";
    case ADVGNN_OPT_BOOL: return "a boolean";
    case ADVGNN_OPT_STRING: return "a string";
    case ADVGNN_OPT_ENUM: return "a string";
    case ADVGNN_OPT_NUMBER_LIST: return "a list of numbers";
    case ADVGNN_OPT_STRING_LIST: return "a list of strings or one string";
    default: return "an invalid type";
    }
}

/* Describes a user value for a message: its kind, and the value itself when
 * it is a scalar ("string 'abc'", "number 2.5"). */
static void describe_value(const advgnn_value *value, char *buf, size_t size)
{
    char number[32];

    switch (value->kind) {
    case ADVGNN_VALUE_INTEGER:
        snprintf(buf, size, "integer %" PRId64, value->integer);
        break;
    case ADVGNN_VALUE_NUMBER:
        advgnn_format_number(value->number, number, sizeof(number));
        snprintf(buf, size, "number %s", number);
        break;
    case ADVGNN_VALUE_BOOLEAN:
        snprintf(buf, size, "boolean %s", value->boolean ? "true" : "false");
        break;
    case ADVGNN_VALUE_STRING:
        snprintf(buf, size, "string '%.200s'", value->string ? value->string : "");
        break;
    case ADVGNN_VALUE_NUMBER_LIST:
    case ADVGNN_VALUE_STRING_LIST:
        snprintf(buf, size, "%s of %zu elements", advgnn_value_kind_name(value->kind), value->count);
        break;
    default:
        snprintf(buf, size, "an invalid value (kind %d)", (int)value->kind);
        break;
    }
}

static void list_choices(const advgnn_option_spec *spec, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; spec->choices[i] && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "", spec->choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int fail_wrong_type(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec,
                           const advgnn_value *value)
{
    char got[256];

    describe_value(value, got, sizeof(got));
    if (spec->type == ADVGNN_OPT_ENUM) {
        char choices[768];
        list_choices(spec, choices, sizeof(choices));
        return option_fail(opts, ctx, spec, "expects one of %s, got %s", choices, got);
    }
    return option_fail(opts, ctx, spec, "expects %s, got %s", type_with_article(spec->type), got);
}

/* Writes the declared range as "between 0 and 64", "at least 0" or "at most 64". */
static void describe_range(const advgnn_option_spec *spec, char *buf, size_t size)
{
    char lo[32], hi[32];

    advgnn_format_number(spec->min, lo, sizeof(lo));
    advgnn_format_number(spec->max, hi, sizeof(hi));
    if ((spec->flags & ADVGNN_OPT_HAS_MIN) && (spec->flags & ADVGNN_OPT_HAS_MAX))
        snprintf(buf, size, "between %s and %s", lo, hi);
    else if (spec->flags & ADVGNN_OPT_HAS_MIN)
        snprintf(buf, size, "at least %s", lo);
    else
        snprintf(buf, size, "at most %s", hi);
}

/* Checks a number against the declared range; `element` is 0 for a scalar,
 * else the 1-based position in a list. */
static int check_number(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, double value,
                        size_t element)
{
    char where[48] = "";
    char range[96], got[32];

    if (element)
        snprintf(where, sizeof(where), "element %zu ", element);
    if (!isfinite(value))
        return option_fail(opts, ctx, spec, "%smust be a finite number, got %s", where,
                           isnan(value) ? "NaN" : "infinity");

    int below = (spec->flags & ADVGNN_OPT_HAS_MIN) && value < spec->min;
    int above = (spec->flags & ADVGNN_OPT_HAS_MAX) && value > spec->max;
    if (!below && !above)
        return ADVGNN_OK;
    describe_range(spec, range, sizeof(range));
    advgnn_format_number(value, got, sizeof(got));
    return option_fail(opts, ctx, spec, "%smust be %s, got %s", where, range, got);
}

/* ---- setting values ---------------------------------------------------- */

static int set_integer(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, option_slot *slot,
                       const advgnn_value *value)
{
    int64_t result;
    int rc;

    if (value->kind == ADVGNN_VALUE_INTEGER) {
        result = value->integer;
    } else if (value->kind == ADVGNN_VALUE_NUMBER) {
        /* Lua 5.4 keeps 3.0 a float, which is accepted when it is exactly an
         * integer. 2^63 itself is out of int64_t range, hence the strict bound. */
        double v = value->number;
        if (!isfinite(v) || v != floor(v) || v < -9223372036854775808.0 || v >= 9223372036854775808.0) {
            char got[32];
            advgnn_format_number(v, got, sizeof(got));
            return option_fail(opts, ctx, spec, "expects an integer, got number %s", got);
        }
        result = (int64_t)v;
    } else {
        return fail_wrong_type(opts, ctx, spec, value);
    }

    rc = check_number(opts, ctx, spec, (double)result, 0);
    if (rc != ADVGNN_OK)
        return rc;
    slot->integer = result;
    return ADVGNN_OK;
}

static int set_number(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, option_slot *slot,
                      const advgnn_value *value)
{
    double result;
    int rc;

    if (value->kind == ADVGNN_VALUE_INTEGER)
        result = (double)value->integer;
    else if (value->kind == ADVGNN_VALUE_NUMBER)
        result = value->number;
    else
        return fail_wrong_type(opts, ctx, spec, value);

    rc = check_number(opts, ctx, spec, result, 0);
    if (rc != ADVGNN_OK)
        return rc;
    slot->number = result;
    return ADVGNN_OK;
}

static int set_string(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, option_slot *slot,
                      const advgnn_value *value)
{
    char *copy;

    if (value->kind != ADVGNN_VALUE_STRING || !value->string)
        return fail_wrong_type(opts, ctx, spec, value);
    if (spec->type == ADVGNN_OPT_ENUM) {
        int found = 0;
        for (size_t i = 0; spec->choices[i] && !found; i++)
            found = strcmp(spec->choices[i], value->string) == 0;
        if (!found) {
            char choices[768];
            list_choices(spec, choices, sizeof(choices));
            return option_fail(opts, ctx, spec, "must be one of %s, got '%.200s'", choices, value->string);
        }
    }

    copy = advgnn_strdup(value->string);
    if (!copy)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory setting option '%s' of plugin '%s'", spec->name,
                            opts->plugin);
    slot_release(slot);
    slot->owned_string = copy;
    slot->string = copy;
    return ADVGNN_OK;
}

static int set_number_list(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec,
                           option_slot *slot, const advgnn_value *value)
{
    double *copy;
    int rc;

    /* An empty Lua table carries no element type, so an empty list of either
     * kind is an empty list of numbers. */
    int empty = (value->kind == ADVGNN_VALUE_NUMBER_LIST || value->kind == ADVGNN_VALUE_STRING_LIST) &&
                value->count == 0;
    if (value->kind != ADVGNN_VALUE_NUMBER_LIST && !empty)
        return fail_wrong_type(opts, ctx, spec, value);
    for (size_t i = 0; i < value->count; i++) {
        rc = check_number(opts, ctx, spec, value->numbers[i], i + 1);
        if (rc != ADVGNN_OK)
            return rc;
    }

    copy = advgnn_malloc((value->count ? value->count : 1) * sizeof(*copy));
    if (!copy)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory setting option '%s' of plugin '%s'", spec->name,
                            opts->plugin);
    if (value->count)
        memcpy(copy, value->numbers, value->count * sizeof(*copy));
    slot_release(slot);
    slot->owned_numbers = copy;
    slot->numbers.values = copy;
    slot->numbers.count = value->count;
    return ADVGNN_OK;
}

/* Checks element `index` of a string list against the option's choices,
 * suggesting the closest choice for a typo. */
static int check_list_choice(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec, size_t index,
                             const char *item)
{
    char choices[768];
    size_t count = 0;
    const char *closest;

    for (; spec->choices[count]; count++) {
        if (strcmp(spec->choices[count], item) == 0)
            return ADVGNN_OK;
    }
    list_choices(spec, choices, sizeof(choices));
    closest = advgnn_closest_name(item, spec->choices, count);
    if (closest)
        return option_fail(opts, ctx, spec, "element %zu '%.200s' is not one of %s; did you mean '%s'?", index + 1,
                           item, choices, closest);
    return option_fail(opts, ctx, spec, "element %zu '%.200s' is not one of %s", index + 1, item, choices);
}

static int set_string_list(advgnn_options *opts, advgnn_ctx *ctx, const advgnn_option_spec *spec,
                           option_slot *slot, const advgnn_value *value)
{
    const char *const *items;
    size_t count;
    char **copy;

    /* One string is read as a list of one. */
    if (value->kind == ADVGNN_VALUE_STRING && value->string) {
        items = &value->string;
        count = 1;
    } else if (value->kind == ADVGNN_VALUE_STRING_LIST ||
               (value->kind == ADVGNN_VALUE_NUMBER_LIST && value->count == 0)) {
        items = value->strings;
        count = value->count;
    } else {
        return fail_wrong_type(opts, ctx, spec, value);
    }
    for (size_t i = 0; i < count; i++)
        if (!items[i])
            return option_fail(opts, ctx, spec, "element %zu is not a string", i + 1);
    if (spec->choices) {
        for (size_t i = 0; i < count; i++) {
            int rc = check_list_choice(opts, ctx, spec, i, items[i]);
            if (rc != ADVGNN_OK)
                return rc;
        }
    }

    copy = advgnn_calloc(count ? count : 1, sizeof(*copy));
    for (size_t i = 0; copy && i < count; i++) {
        copy[i] = advgnn_strdup(items[i]);
        if (!copy[i]) {
            for (size_t j = 0; j < i; j++)
                advgnn_free(copy[j]);
            advgnn_free(copy);
            copy = NULL;
        }
    }
    if (!copy)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory setting option '%s' of plugin '%s'", spec->name,
                            opts->plugin);

    slot_release(slot);
    slot->owned_strings = copy;
    slot->owned_string_count = count;
    slot->strings.values = (const char *const *)copy;
    slot->strings.count = count;
    return ADVGNN_OK;
}

/* Fails for an unknown option, suggesting the closest declared name or, when
 * none is close, listing the declared ones. */
static int fail_unknown(advgnn_options *opts, advgnn_ctx *ctx, const char *name)
{
    const char *closest = advgnn_options_closest_name(opts->specs, name);
    char known[1024];
    size_t used = 0;

    if (closest)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "plugin '%s': unknown option '%s'; did you mean '%s'?",
                            opts->plugin, name, closest);
    if (opts->count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "plugin '%s': unknown option '%s'; this plugin takes no options",
                            opts->plugin, name);

    known[0] = '\0';
    for (size_t i = 0; i < opts->count && used < sizeof(known); i++) {
        int n = snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", opts->specs[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "plugin '%s': unknown option '%s'; its options are: %s",
                        opts->plugin, name, known);
}

int advgnn_options_set(advgnn_options *opts, advgnn_ctx *ctx, const char *name, const advgnn_value *value)
{
    size_t index = find_index(opts, name);
    const advgnn_option_spec *spec;
    option_slot *slot;
    int rc;

    if (index == (size_t)-1)
        return fail_unknown(opts, ctx, name);
    spec = &opts->specs[index];
    slot = &opts->slots[index];

    switch (spec->type) {
    case ADVGNN_OPT_INT:
        rc = set_integer(opts, ctx, spec, slot, value);
        break;
    case ADVGNN_OPT_NUMBER:
        rc = set_number(opts, ctx, spec, slot, value);
        break;
    case ADVGNN_OPT_BOOL:
        if (value->kind != ADVGNN_VALUE_BOOLEAN)
            return fail_wrong_type(opts, ctx, spec, value);
        slot->boolean = value->boolean ? 1 : 0;
        rc = ADVGNN_OK;
        break;
    case ADVGNN_OPT_STRING:
    case ADVGNN_OPT_ENUM:
        rc = set_string(opts, ctx, spec, slot, value);
        break;
    case ADVGNN_OPT_NUMBER_LIST:
        rc = set_number_list(opts, ctx, spec, slot, value);
        break;
    case ADVGNN_OPT_STRING_LIST:
        rc = set_string_list(opts, ctx, spec, slot, value);
        break;
    default:
        /* advgnn_options_new checked the schema. */
        return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "plugin '%s': option '%s' has an invalid type", opts->plugin,
                            name);
    }

    if (rc == ADVGNN_OK)
        slot->is_set = 1;
    return rc;
}

int advgnn_options_finish(advgnn_options *opts, advgnn_ctx *ctx)
{
    for (size_t i = 0; i < opts->count; i++) {
        const advgnn_option_spec *spec = &opts->specs[i];
        if ((spec->flags & ADVGNN_OPT_REQUIRED) && !opts->slots[i].is_set)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "plugin '%s': option '%s' is required (%s: %s)", opts->plugin,
                                spec->name, advgnn_option_type_name(spec->type), spec->help);
    }
    return ADVGNN_OK;
}

/* ---- getters ----------------------------------------------------------- */

/* Returns the slot of a declared option of type `type` (STRING also accepts
 * ENUM), or aborts: reading an undeclared option or with the wrong type is a
 * bug of the plugin, and so is reading a REQUIRED option never set. */
static const option_slot *slot_for(const advgnn_options *opts, const char *name, advgnn_option_type type)
{
    char what[256];
    size_t index;
    const advgnn_option_spec *spec;

    ADVGNN_ASSERT(opts != NULL && name != NULL);
    index = find_index(opts, name);
    if (index == (size_t)-1) {
        snprintf(what, sizeof(what), "plugin '%s' read option '%.64s', which it does not declare", opts->plugin, name);
        advgnn_assert_fail(what, __FILE__, __LINE__);
    }

    spec = &opts->specs[index];
    int matches = spec->type == type || (type == ADVGNN_OPT_STRING && spec->type == ADVGNN_OPT_ENUM);
    if (!matches) {
        snprintf(what, sizeof(what), "plugin '%s' read option '%s' as %s, but declares it as %s", opts->plugin, name,
                 advgnn_option_type_name(type), advgnn_option_type_name(spec->type));
        advgnn_assert_fail(what, __FILE__, __LINE__);
    }
    if ((spec->flags & ADVGNN_OPT_REQUIRED) && !opts->slots[index].is_set) {
        snprintf(what, sizeof(what), "plugin '%s' read required option '%s' before it was set", opts->plugin, name);
        advgnn_assert_fail(what, __FILE__, __LINE__);
    }
    return &opts->slots[index];
}

int64_t advgnn_options_int(const advgnn_options *opts, const char *name)
{
    return slot_for(opts, name, ADVGNN_OPT_INT)->integer;
}

double advgnn_options_number(const advgnn_options *opts, const char *name)
{
    return slot_for(opts, name, ADVGNN_OPT_NUMBER)->number;
}

int advgnn_options_bool(const advgnn_options *opts, const char *name)
{
    return slot_for(opts, name, ADVGNN_OPT_BOOL)->boolean;
}

const char *advgnn_options_string(const advgnn_options *opts, const char *name)
{
    return slot_for(opts, name, ADVGNN_OPT_STRING)->string;
}

advgnn_number_list advgnn_options_numbers(const advgnn_options *opts, const char *name)
{
    return slot_for(opts, name, ADVGNN_OPT_NUMBER_LIST)->numbers;
}

advgnn_string_list advgnn_options_strings(const advgnn_options *opts, const char *name)
{
    return slot_for(opts, name, ADVGNN_OPT_STRING_LIST)->strings;
}

int advgnn_options_is_set(const advgnn_options *opts, const char *name)
{
    size_t index;

    ADVGNN_ASSERT(opts != NULL && name != NULL);
    index = find_index(opts, name);
    if (index == (size_t)-1) {
        char what[256];
        snprintf(what, sizeof(what), "plugin '%s' asked about option '%.64s', which it does not declare", opts->plugin,
                 name);
        advgnn_assert_fail(what, __FILE__, __LINE__);
    }
    return opts->slots[index].is_set;
}

const char *advgnn_options_plugin(const advgnn_options *opts)
{
    return opts->plugin;
}

size_t advgnn_options_count(const advgnn_options *opts)
{
    return opts->count;
}

const advgnn_option_spec *advgnn_options_spec_at(const advgnn_options *opts, size_t i)
{
    ADVGNN_ASSERT(i < opts->count);
    return &opts->specs[i];
}

/* ---- formatting -------------------------------------------------------- */

/* Appends to a snprintf-style buffer and counts the full length even when the
 * buffer is too small. */
static void append(char *buf, size_t size, size_t *len, const char *text)
{
    size_t n = strlen(text);

    if (*len < size) {
        size_t room = size - *len - 1;
        size_t copy = n < room ? n : room;
        memcpy(buf + *len, text, copy);
        buf[*len + copy] = '\0';
    }
    *len += n;
}

size_t advgnn_options_format_value(const advgnn_options *opts, size_t i, char *buf, size_t size)
{
    const advgnn_option_spec *spec = advgnn_options_spec_at(opts, i);
    const option_slot *slot = &opts->slots[i];
    char scalar[48];
    size_t len = 0;

    if (size)
        buf[0] = '\0';
    if ((spec->flags & ADVGNN_OPT_REQUIRED) && !slot->is_set) {
        append(buf, size, &len, "(required)");
        return len;
    }

    switch (spec->type) {
    case ADVGNN_OPT_INT:
        snprintf(scalar, sizeof(scalar), "%" PRId64, slot->integer);
        append(buf, size, &len, scalar);
        break;
    case ADVGNN_OPT_NUMBER:
        advgnn_format_number(slot->number, scalar, sizeof(scalar));
        append(buf, size, &len, scalar);
        break;
    case ADVGNN_OPT_BOOL:
        append(buf, size, &len, slot->boolean ? "true" : "false");
        break;
    case ADVGNN_OPT_STRING:
    case ADVGNN_OPT_ENUM:
        append(buf, size, &len, slot->string ? slot->string : "(none)");
        break;
    case ADVGNN_OPT_NUMBER_LIST:
        append(buf, size, &len, "[");
        for (size_t k = 0; k < slot->numbers.count; k++) {
            advgnn_format_number(slot->numbers.values[k], scalar, sizeof(scalar));
            append(buf, size, &len, k ? ", " : "");
            append(buf, size, &len, scalar);
        }
        append(buf, size, &len, "]");
        break;
    case ADVGNN_OPT_STRING_LIST:
        append(buf, size, &len, "[");
        for (size_t k = 0; k < slot->strings.count; k++) {
            append(buf, size, &len, k ? ", \"" : "\"");
            append(buf, size, &len, slot->strings.values[k]);
            append(buf, size, &len, "\"");
        }
        append(buf, size, &len, "]");
        break;
    default:
        break;
    }
    return len;
}
