/* Loading one plugin shared object: dlopen, the entry symbol, the ABI checks
 * and the copy of the descriptor and function table that the core keeps.
 *
 * Every failure is described as "<stage>: <reason>" in a caller's buffer, not
 * in a context, so that discovery can record a broken file and go on. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "options/options_internal.h"
#include "plugin/loader.h"

#define PLUGIN_NAME_MAX 64 /* bytes of a plugin name */

/* An empty option schema for plugins that declare none, so that
 * advgnn_plugin.options is never NULL. */
static const advgnn_option_spec no_options[] = {{0}};

static int loader_fail(char *msg, size_t size, int status, const char **stage_out, const char *stage,
                       const char *fmt, ...) ADVGNN_PRINTF(6, 7);

/* Writes "<reason>" into msg, stores the stage and returns `status`. */
static int loader_fail(char *msg, size_t size, int status, const char **stage_out, const char *stage,
                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    *stage_out = stage;
    return status;
}

/* ---- version checks ---------------------------------------------------- */

/* Checks the fields that decide whether the rest of the descriptor can be read
 * at all: the ABI major version, the descriptor's size and the type layout. */
static int check_version(const advgnn_plugin_descriptor *desc, char *msg, size_t size, const char **stage)
{
    unsigned major = ADVGNN_ABI_VERSION_MAJOR(desc->abi_version);
    unsigned minor = ADVGNN_ABI_VERSION_MINOR(desc->abi_version);
    size_t needed = offsetof(advgnn_plugin_descriptor, functions) + sizeof(desc->functions);

    if (major != ADVGNN_ABI_MAJOR)
        return loader_fail(msg, size, ADVGNN_ERR_ABI, stage, "version",
                           "built for plugin ABI %u.%u, this advgnn supports %u.x; rebuild the plugin against "
                           "advgnn %d.%d",
                           major, minor, ADVGNN_ABI_MAJOR, ADVGNN_VERSION_MAJOR, ADVGNN_VERSION_MINOR);

    /* The first three fields are fixed for a major version, so struct_size
     * can be read before it is checked. */
    if (desc->struct_size < needed)
        return loader_fail(msg, size, ADVGNN_ERR_ABI, stage, "version",
                           "descriptor struct_size is %u bytes, but ABI %u needs at least %zu (through 'functions'); "
                           "set .struct_size = sizeof(advgnn_plugin_descriptor)",
                           (unsigned)desc->struct_size, ADVGNN_ABI_MAJOR, needed);

    if (desc->type_fingerprint != ADVGNN_TYPE_FINGERPRINT)
        return loader_fail(msg, size, ADVGNN_ERR_ABI, stage, "version",
                           "type fingerprint 0x%08x does not match this advgnn's 0x%08x (type sizes differ: another "
                           "compiler, architecture or advgnn build); rebuild the plugin against the installed headers",
                           (unsigned)desc->type_fingerprint, (unsigned)ADVGNN_TYPE_FINGERPRINT);
    return ADVGNN_OK;
}

/* ---- function tables --------------------------------------------------- */

/* One required slot of a function table. */
typedef struct required_slot {
    const char *name;
    size_t offset;
} required_slot;

#define SLOT(type, member) {#member, offsetof(type, member)}

static const required_slot encoder_required[] = {
    SLOT(advgnn_encoder_functions, create),
    SLOT(advgnn_encoder_functions, destroy),
    SLOT(advgnn_encoder_functions, feature_shape),
    SLOT(advgnn_encoder_functions, encode),
};

static const required_slot scorer_required[] = {
    SLOT(advgnn_scorer_functions, create),
    SLOT(advgnn_scorer_functions, destroy),
    SLOT(advgnn_scorer_functions, fit_add),
    SLOT(advgnn_scorer_functions, score),
};

static const required_slot dataset_required[] = {
    SLOT(advgnn_dataset_functions, open),
    SLOT(advgnn_dataset_functions, close),
    SLOT(advgnn_dataset_functions, list),
};

/* Copies the plugin's function table into the core's union: at most the size
 * that both sides know, the rest stays zero (absent). Then checks that every
 * required slot is present. */
static int copy_functions(advgnn_plugin *plugin, const void *functions, char *msg, size_t size, const char **stage)
{
    const required_slot *required;
    size_t required_count, core_size;
    uint32_t plugin_size;
    unsigned char *dest = (unsigned char *)&plugin->fn;

    switch (plugin->kind) {
    case ADVGNN_PLUGIN_ENCODER:
        required = encoder_required;
        required_count = ADVGNN_ARRAY_LEN(encoder_required);
        core_size = sizeof(advgnn_encoder_functions);
        break;
    case ADVGNN_PLUGIN_SCORER:
        required = scorer_required;
        required_count = ADVGNN_ARRAY_LEN(scorer_required);
        core_size = sizeof(advgnn_scorer_functions);
        break;
    case ADVGNN_PLUGIN_DATASET:
        required = dataset_required;
        required_count = ADVGNN_ARRAY_LEN(dataset_required);
        core_size = sizeof(advgnn_dataset_functions);
        break;
    default:
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init", "unknown plugin kind %d", (int)plugin->kind);
    }

    /* Every table starts with its uint32_t struct_size. */
    memcpy(&plugin_size, functions, sizeof(plugin_size));
    if (plugin_size < sizeof(uint32_t))
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init",
                           "the %s function table's struct_size is %u; set it to sizeof(advgnn_%s_functions)",
                           advgnn_plugin_kind_name(plugin->kind), (unsigned)plugin_size,
                           advgnn_plugin_kind_name(plugin->kind));
    memset(&plugin->fn, 0, sizeof(plugin->fn));
    memcpy(dest, functions, plugin_size < core_size ? plugin_size : core_size);

    for (size_t i = 0; i < required_count; i++) {
        void *slot;
        memcpy(&slot, dest + required[i].offset, sizeof(slot));
        if (slot)
            continue;
        if (required[i].offset + sizeof(slot) > plugin_size)
            return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init",
                               "required %s function '%s' is missing: the table's struct_size %u ends before it",
                               advgnn_plugin_kind_name(plugin->kind), required[i].name, (unsigned)plugin_size);
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init", "required %s function '%s' is NULL",
                           advgnn_plugin_kind_name(plugin->kind), required[i].name);
    }
    return ADVGNN_OK;
}

/* ---- descriptor -------------------------------------------------------- */

/* Copies the descriptor fields the core keeps and checks them. */
static int read_descriptor(advgnn_plugin *plugin, const advgnn_plugin_descriptor *source, char *msg, size_t size,
                           const char **stage)
{
    advgnn_plugin_descriptor desc;
    char schema_msg[1024];
    int rc;

    rc = check_version(source, msg, size, stage);
    if (rc != ADVGNN_OK)
        return rc;

    /* A newer minor version may have appended fields, so only ours are copied. */
    memset(&desc, 0, sizeof(desc));
    memcpy(&desc, source, source->struct_size < sizeof(desc) ? source->struct_size : sizeof(desc));

    if (desc.kind != ADVGNN_PLUGIN_ENCODER && desc.kind != ADVGNN_PLUGIN_SCORER && desc.kind != ADVGNN_PLUGIN_DATASET)
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init",
                           "unknown plugin kind %d; use ADVGNN_PLUGIN_ENCODER, _SCORER or _DATASET", (int)desc.kind);
    if (!desc.name || !advgnn_valid_name(desc.name, PLUGIN_NAME_MAX))
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init",
                           "invalid plugin name '%.80s'; names are 1 to %d characters of [a-z0-9_]",
                           desc.name ? desc.name : "(NULL)", PLUGIN_NAME_MAX);
    if (!desc.functions)
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init", "plugin '%s' has no function table",
                           desc.name);

    rc = advgnn_options_check_schema(desc.name, desc.options, schema_msg, sizeof(schema_msg));
    if (rc != ADVGNN_OK)
        return loader_fail(msg, size, rc, stage, "init", "%s", schema_msg);

    plugin->abi_version = desc.abi_version;
    plugin->kind = desc.kind;
    plugin->name = desc.name;
    plugin->version = desc.version ? desc.version : "";
    plugin->description = desc.description ? desc.description : "";
    plugin->options = desc.options ? desc.options : no_options;
    return copy_functions(plugin, desc.functions, msg, size, stage);
}

/* Returns a dlerror() message without its leading "<path>: ", because glibc
 * starts with the path and the caller's message names it already. */
static const char *without_path(const char *reason, const char *path)
{
    size_t length = strlen(path);

    if (reason && strncmp(reason, path, length) == 0 && strncmp(reason + length, ": ", 2) == 0)
        return reason + length + 2;
    return reason;
}

int advgnn_plugin_open(const char *path, advgnn_plugin **out, const char **stage, char *msg, size_t size)
{
    advgnn_plugin *plugin;
    advgnn_plugin_entry_fn entry;
    const advgnn_plugin_descriptor *desc;
    void *symbol;
    int rc;

    *out = NULL;
    *stage = NULL;
    plugin = advgnn_calloc(1, sizeof(*plugin));
    if (plugin)
        plugin->path = advgnn_strdup(path);
    if (!plugin || !plugin->path) {
        advgnn_plugin_close(plugin);
        return loader_fail(msg, size, ADVGNN_ERR_NOMEM, stage, "open", "out of memory");
    }

    /* RTLD_NOW reports a missing dependency here and not at the first call.
     * RTLD_LOCAL keeps plugins' symbols from resolving against each other. */
    plugin->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!plugin->handle) {
        const char *reason = without_path(dlerror(), path);
        rc = loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "open", "%s", reason ? reason : "dlopen failed");
        advgnn_plugin_close(plugin);
        return rc;
    }

    dlerror();
    symbol = dlsym(plugin->handle, ADVGNN_PLUGIN_ENTRY_SYMBOL);
    if (!symbol) {
        const char *reason = without_path(dlerror(), path);
        rc = loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "symbol",
                         "no entry symbol '%s' (%s); is this an advgnn plugin, and is the symbol exported with "
                         "ADVGNN_PLUGIN_EXPORT?",
                         ADVGNN_PLUGIN_ENTRY_SYMBOL, reason ? reason : "dlsym returned NULL");
        advgnn_plugin_close(plugin);
        return rc;
    }

    /* POSIX requires that dlsym's void * converts back to a function
     * pointer. The memcpy avoids the cast that -Wpedantic reports. */
    memcpy(&entry, &symbol, sizeof(entry));
    desc = entry();
    if (!desc) {
        advgnn_plugin_close(plugin);
        return loader_fail(msg, size, ADVGNN_ERR_PLUGIN, stage, "init", "%s() returned NULL",
                           ADVGNN_PLUGIN_ENTRY_SYMBOL);
    }

    rc = read_descriptor(plugin, desc, msg, size, stage);
    if (rc != ADVGNN_OK) {
        advgnn_plugin_close(plugin);
        return rc;
    }
    *out = plugin;
    return ADVGNN_OK;
}

void advgnn_plugin_close(advgnn_plugin *plugin)
{
    if (!plugin)
        return;
    if (plugin->handle)
        dlclose(plugin->handle);
    advgnn_free(plugin->path);
    advgnn_free(plugin);
}
