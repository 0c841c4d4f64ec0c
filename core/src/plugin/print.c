/* Human-facing views of the registry: the "plugin not found" message of
 * advgnn_registry_require and the listings of `advgnn plugins [NAME]`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "options/options_internal.h"
#include "plugin/registry_internal.h"

static const advgnn_plugin_kind all_kinds[] = {ADVGNN_PLUGIN_ENCODER, ADVGNN_PLUGIN_SCORER, ADVGNN_PLUGIN_DATASET};

/* ---- text buffer ------------------------------------------------------- */

/* A fixed buffer that keeps the text that fits, for messages that end up in
 * the context's ADVGNN_ERROR_MAX bytes anyway. */
typedef struct text {
    char data[ADVGNN_ERROR_MAX];
    size_t length;
} text;

static void text_add(text *t, const char *fmt, ...) ADVGNN_PRINTF(2, 3);

static void text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->length >= sizeof(t->data) - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->data + t->length, sizeof(t->data) - t->length, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->length += (size_t)n < sizeof(t->data) - t->length ? (size_t)n : sizeof(t->data) - t->length - 1;
}

/* ---- require ----------------------------------------------------------- */

/* Returns the loaded plugin name closest to `name` among plugins of `kind`
 * (all kinds for ADVGNN_PLUGIN_INVALID), or NULL. */
static const char *closest_plugin(const advgnn_registry *reg, const char *name, advgnn_plugin_kind kind)
{
    const char *best = NULL;
    size_t best_distance = (size_t)-1;

    for (size_t i = 0; i < reg->count; i++) {
        const advgnn_plugin *plugin = reg->plugins[i];
        if (kind != ADVGNN_PLUGIN_INVALID && plugin->kind != kind)
            continue;
        if (!advgnn_closest_name(name, &plugin->name, 1))
            continue;
        size_t d = advgnn_edit_distance(name, plugin->name);
        if (d < best_distance) {
            best = plugin->name;
            best_distance = d;
        }
    }
    return best;
}

static void add_available(text *t, const advgnn_registry *reg, advgnn_plugin_kind kind)
{
    size_t listed = 0;

    for (size_t i = 0; i < reg->count; i++) {
        if (kind != ADVGNN_PLUGIN_INVALID && reg->plugins[i]->kind != kind)
            continue;
        text_add(t, "%s%s", listed ? ", " : "", reg->plugins[i]->name);
        listed++;
    }
    if (!listed)
        text_add(t, "none");
}

static void add_failures(text *t, const advgnn_registry *reg)
{
    if (!reg->failure_count)
        return;
    text_add(t, "; %zu file(s) failed to load:", reg->failure_count);
    for (size_t i = 0; i < reg->failure_count; i++)
        text_add(t, " [%s: %s: %s]", reg->failures[i]->path, reg->failures[i]->stage, reg->failures[i]->message);
}

/* Returns nonzero when the file name of `path`, without its folder, a "lib"
 * prefix and the ".so" extension, is `name`. */
static int file_stem_is(const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    size_t length = strlen(file);

    if (length > 3 && strcmp(file + length - 3, ".so") == 0)
        length -= 3;
    if (length > 3 && strncmp(file, "lib", 3) == 0 && strncmp(name, "lib", 3) != 0) {
        file += 3;
        length -= 3;
    }
    return strlen(name) == length && strncmp(file, name, length) == 0;
}

/* Returns the failed file whose stem is `name`, or NULL. */
static const advgnn_plugin_failure *failure_named(const advgnn_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->failure_count; i++) {
        if (file_stem_is(reg->failures[i]->path, name))
            return reg->failures[i];
    }
    return NULL;
}

int advgnn_registry_require(const advgnn_registry *reg, advgnn_ctx *ctx, const char *name, advgnn_plugin_kind kind,
                            const advgnn_plugin **out)
{
    const char *kind_name = kind == ADVGNN_PLUGIN_INVALID ? "" : advgnn_plugin_kind_name(kind);
    const advgnn_plugin *other;
    const char *closest;
    text t = {.length = 0};

    *out = advgnn_registry_find(reg, name, kind);
    if (*out)
        return ADVGNN_OK;

    /* The name exists, but for another kind of plugin. */
    other = advgnn_registry_find(reg, name, ADVGNN_PLUGIN_INVALID);
    if (other)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "plugin '%s' (%s) is of kind %s, not %s; run 'advgnn plugins' "
                            "to list the plugins of each kind", name, other->path,
                            advgnn_plugin_kind_name(other->kind), kind_name);

    /* A file of that name failed to load: its error names what to fix, while
     * a suggestion would point at an unrelated plugin. */
    const advgnn_plugin_failure *failed = failure_named(reg, name);
    if (failed)
        return advgnn_failf(ctx, strcmp(failed->stage, "version") == 0 ? ADVGNN_ERR_ABI : ADVGNN_ERR_PLUGIN,
                            "plugin '%s' failed to load: %s: %s: %s", name, failed->path, failed->stage,
                            failed->message);

    text_add(&t, "no %s%splugin named '%s'", kind_name, kind_name[0] ? " " : "", name);
    closest = closest_plugin(reg, name, kind);
    if (closest)
        text_add(&t, "; did you mean '%s'?", closest);
    text_add(&t, "%savailable %s%splugins: ", closest ? " " : "; ", kind_name, kind_name[0] ? " " : "");
    add_available(&t, reg, kind);
    add_failures(&t, reg);
    text_add(&t, "; add folders with --plugin-path or ADVGNN_PLUGIN_PATH");
    return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s", t.data);
}

/* ---- print ------------------------------------------------------------- */

static int print_list(const advgnn_registry *reg, FILE *out)
{
    int name_width = 4, version_width = 7;

    for (size_t i = 0; i < reg->count; i++) {
        int n = (int)strlen(reg->plugins[i]->name);
        int v = (int)strlen(reg->plugins[i]->version);
        name_width = n > name_width ? n : name_width;
        version_width = v > version_width ? v : version_width;
    }

    /* Each kind in name order: repeatedly print the smallest name not yet
     * printed, which is quadratic but plugin counts are small. */
    for (size_t k = 0; k < ADVGNN_ARRAY_LEN(all_kinds); k++) {
        const char *previous = NULL;
        size_t listed = 0;

        fprintf(out, "%s%ss:\n", k ? "\n" : "", advgnn_plugin_kind_name(all_kinds[k]));
        for (;;) {
            const advgnn_plugin *next = NULL;
            for (size_t i = 0; i < reg->count; i++) {
                const advgnn_plugin *p = reg->plugins[i];
                if (p->kind != all_kinds[k] || (previous && strcmp(p->name, previous) <= 0))
                    continue;
                if (!next || strcmp(p->name, next->name) < 0)
                    next = p;
            }
            if (!next)
                break;
            fprintf(out, "  %-*s  %-*s  %s\n", name_width, next->name, version_width, next->version,
                    next->description);
            previous = next->name;
            listed++;
        }
        if (!listed)
            fprintf(out, "  (none)\n");
    }

    if (reg->failure_count) {
        fprintf(out, "\nfailed to load:\n");
        for (size_t i = 0; i < reg->failure_count; i++)
            fprintf(out, "  %s: %s: %s\n", reg->failures[i]->path, reg->failures[i]->stage,
                    reg->failures[i]->message);
    }
    return ADVGNN_OK;
}

/* Writes the range or the choices of an option: "1 to 64", ">= 0", "l2 | cosine", or "-". */
static void format_constraint(const advgnn_option_spec *spec, char *buf, size_t size)
{
    char lo[32], hi[32];
    size_t used = 0;

    advgnn_format_number(spec->min, lo, sizeof(lo));
    advgnn_format_number(spec->max, hi, sizeof(hi));
    if (spec->choices) {
        buf[0] = '\0';
        for (size_t i = 0; spec->choices[i] && used < size; i++) {
            int n = snprintf(buf + used, size - used, "%s%s", i ? " | " : "", spec->choices[i]);
            used += n > 0 ? (size_t)n : 0;
        }
    } else if ((spec->flags & ADVGNN_OPT_HAS_MIN) && (spec->flags & ADVGNN_OPT_HAS_MAX)) {
        snprintf(buf, size, "%s to %s", lo, hi);
    } else if (spec->flags & ADVGNN_OPT_HAS_MIN) {
        snprintf(buf, size, ">= %s", lo);
    } else if (spec->flags & ADVGNN_OPT_HAS_MAX) {
        snprintf(buf, size, "<= %s", hi);
    } else {
        snprintf(buf, size, "-");
    }
}

/* One row of the option table; long cells are cut at the buffer size. */
typedef struct option_row {
    char defaults[256];
    char constraint[256];
} option_row;

static int print_options(const advgnn_plugin *plugin, advgnn_ctx *ctx, FILE *out)
{
    advgnn_options *opts;
    option_row *rows;
    size_t count;
    int widths[4] = {6, 4, 7, 13}; /* the header words: option, type, default, range/choices */
    int rc;

    fprintf(out, "%s %s (%s plugin): %s\nfile: %s\n", plugin->name, plugin->version,
            advgnn_plugin_kind_name(plugin->kind), plugin->description, plugin->path);

    rc = advgnn_options_new(ctx, plugin->name, plugin->options, &opts);
    if (rc != ADVGNN_OK)
        return rc;
    count = advgnn_options_count(opts);
    if (count == 0) {
        fprintf(out, "\nThis plugin takes no options.\n");
        advgnn_options_free(opts);
        return ADVGNN_OK;
    }
    rows = advgnn_calloc(count, sizeof(*rows));
    if (!rows) {
        advgnn_options_free(opts);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory printing the options of plugin '%s'", plugin->name);
    }

    /* Column widths from the longest cell. */
    for (size_t i = 0; i < count; i++) {
        const advgnn_option_spec *spec = advgnn_options_spec_at(opts, i);
        int cells[3];
        advgnn_options_format_value(opts, i, rows[i].defaults, sizeof(rows[i].defaults));
        format_constraint(spec, rows[i].constraint, sizeof(rows[i].constraint));
        cells[0] = (int)strlen(spec->name);
        cells[1] = (int)strlen(advgnn_option_type_name(spec->type));
        cells[2] = (int)strlen(rows[i].defaults);
        for (int c = 0; c < 3; c++)
            widths[c] = cells[c] > widths[c] ? cells[c] : widths[c];
        int w = (int)strlen(rows[i].constraint);
        widths[3] = w > widths[3] ? w : widths[3];
    }

    fprintf(out, "\n%-*s  %-*s  %-*s  %-*s  %s\n", widths[0], "option", widths[1], "type", widths[2], "default",
            widths[3], "range/choices", "help");
    for (size_t i = 0; i < count; i++) {
        const advgnn_option_spec *spec = advgnn_options_spec_at(opts, i);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", widths[0], spec->name, widths[1],
                advgnn_option_type_name(spec->type), widths[2], rows[i].defaults, widths[3], rows[i].constraint,
                spec->help);
    }
    advgnn_free(rows);
    advgnn_options_free(opts);
    return ADVGNN_OK;
}

int advgnn_registry_print(const advgnn_registry *reg, advgnn_ctx *ctx, const char *name, FILE *out)
{
    const advgnn_plugin *plugin;
    int rc;

    if (!name) {
        rc = print_list(reg, out);
    } else {
        rc = advgnn_registry_require(reg, ctx, name, ADVGNN_PLUGIN_INVALID, &plugin);
        if (rc == ADVGNN_OK)
            rc = print_options(plugin, ctx, out);
    }

    if (rc == ADVGNN_OK && (fflush(out) != 0 || ferror(out)))
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write the plugin list: output error");
    return rc;
}
