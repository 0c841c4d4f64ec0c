/* Loads a bundled plugin's shared object from the build tree and builds its
 * option sets, for tests that call a plugin's functions through its
 * descriptor, as the core does. Used by the synthetic, patch_stats and
 * memory_bank tests. */
#ifndef ADVGNN_TEST_PLUGIN_HARNESS_H
#define ADVGNN_TEST_PLUGIN_HARNESS_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "advgnn/context.h"
#include "advgnn/plugin.h"
#include "options/options_internal.h"

/* Opens <build>/plugins/<name>.so and returns its descriptor, or NULL after
 * printing why. The caller closes *handle with dlclose. */
static inline const advgnn_plugin_descriptor *harness_load(const char *name, void **handle)
{
    char path[1024];
    advgnn_plugin_entry_fn entry;

    snprintf(path, sizeof(path), "%s/%s.so", ADVGNN_BUILD_PLUGIN_DIR, name);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*handle) {
        fprintf(stderr, "harness: cannot open %s: %s\n", path, dlerror());
        return NULL;
    }
    /* POSIX allows converting the object pointer from dlsym to a function
     * pointer; memcpy avoids the pedantic ISO C warning. */
    void *symbol = dlsym(*handle, ADVGNN_PLUGIN_ENTRY_SYMBOL);
    if (!symbol) {
        fprintf(stderr, "harness: %s has no symbol %s\n", path, ADVGNN_PLUGIN_ENTRY_SYMBOL);
        return NULL;
    }
    memcpy(&entry, &symbol, sizeof(entry));
    return entry();
}

/* Creates the plugin's option set with every default; NULL after printing the
 * context's error. */
static inline advgnn_options *harness_options(advgnn_ctx *ctx, const advgnn_plugin_descriptor *desc)
{
    advgnn_options *opts = NULL;

    if (advgnn_options_new(ctx, desc->name, desc->options, &opts) != ADVGNN_OK) {
        fprintf(stderr, "harness: options of %s: %s\n", desc->name, advgnn_ctx_error(ctx));
        return NULL;
    }
    return opts;
}

static inline int harness_set_int(advgnn_options *opts, advgnn_ctx *ctx, const char *name, int64_t v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_INTEGER, .integer = v};

    return advgnn_options_set(opts, ctx, name, &value);
}

static inline int harness_set_number(advgnn_options *opts, advgnn_ctx *ctx, const char *name, double v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_NUMBER, .number = v};

    return advgnn_options_set(opts, ctx, name, &value);
}

static inline int harness_set_bool(advgnn_options *opts, advgnn_ctx *ctx, const char *name, int v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_BOOLEAN, .boolean = v};

    return advgnn_options_set(opts, ctx, name, &value);
}

static inline int harness_set_string(advgnn_options *opts, advgnn_ctx *ctx, const char *name, const char *v)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_STRING, .string = v};

    return advgnn_options_set(opts, ctx, name, &value);
}

static inline int harness_set_strings(advgnn_options *opts, advgnn_ctx *ctx, const char *name, const char *const *v,
                               size_t count)
{
    advgnn_value value = {.kind = ADVGNN_VALUE_STRING_LIST, .strings = v, .count = count};

    return advgnn_options_set(opts, ctx, name, &value);
}

#endif
