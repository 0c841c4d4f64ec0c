/* The plugin registry: discovery across the search folders, duplicates,
 * failures, and lookup by name and kind. */
#define _GNU_SOURCE /* dladdr and Dl_info in glibc's <dlfcn.h> */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options/options_internal.h"
#include "plugin/loader.h"
#include "plugin/registry_internal.h"
#include "util/fsutil.h"

/* Any object of libadvgnn: dladdr on its address finds the library file. */
static const char library_anchor = 0;

/* ---- lifetime ---------------------------------------------------------- */

int advgnn_registry_new(advgnn_ctx *ctx, advgnn_registry **out)
{
    *out = advgnn_calloc(1, sizeof(**out));
    if (!*out)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating the plugin registry");
    return ADVGNN_OK;
}

static void failure_free(advgnn_plugin_failure *failure)
{
    if (!failure)
        return;
    advgnn_free(failure->path);
    advgnn_free(failure->message);
    advgnn_free(failure);
}

void advgnn_registry_free(advgnn_registry *reg)
{
    if (!reg)
        return;

    /* Unload in reverse order of loading, like a stack of dependencies. */
    for (size_t i = reg->count; i > 0; i--)
        advgnn_plugin_close(reg->plugins[i - 1]);
    for (size_t i = 0; i < reg->failure_count; i++)
        failure_free(reg->failures[i]);
    advgnn_free(reg->plugins);
    advgnn_free(reg->failures);
    advgnn_free(reg);
}

/* ---- bookkeeping ------------------------------------------------------- */

/* Grows a pointer array to hold one more element. */
static int reserve_one(void ***items, size_t count, size_t *capacity)
{
    if (count < *capacity)
        return ADVGNN_OK;

    size_t grown_capacity = *capacity ? *capacity * 2 : 16;
    void **grown = advgnn_realloc(*items, grown_capacity * sizeof(**items));
    if (!grown)
        return ADVGNN_ERR_NOMEM;
    *items = grown;
    *capacity = grown_capacity;
    return ADVGNN_OK;
}

static int add_plugin(advgnn_registry *reg, advgnn_plugin *plugin)
{
    void **items = (void **)reg->plugins;
    int rc = reserve_one(&items, reg->count, &reg->plugin_capacity);

    reg->plugins = (advgnn_plugin **)items;
    if (rc != ADVGNN_OK)
        return rc;
    reg->plugins[reg->count++] = plugin;
    return ADVGNN_OK;
}

static int record_failure(advgnn_registry *reg, const char *path, const char *stage, const char *message)
{
    void **items = (void **)reg->failures;
    advgnn_plugin_failure *failure;
    int rc = reserve_one(&items, reg->failure_count, &reg->failure_capacity);

    reg->failures = (advgnn_plugin_failure **)items;
    if (rc != ADVGNN_OK)
        return rc;

    failure = advgnn_calloc(1, sizeof(*failure));
    if (!failure)
        return ADVGNN_ERR_NOMEM;
    failure->path = advgnn_strdup(path);
    failure->message = advgnn_strdup(message);
    failure->stage = stage;
    if (!failure->path || !failure->message) {
        failure_free(failure);
        return ADVGNN_ERR_NOMEM;
    }
    reg->failures[reg->failure_count++] = failure;
    return ADVGNN_OK;
}

/* Returns nonzero when both paths name the same file. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    if (stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return strcmp(a, b) == 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- loading ----------------------------------------------------------- */

int advgnn_registry_load_path(advgnn_registry *reg, advgnn_ctx *ctx, const char *path, int discovering,
                              const advgnn_plugin **out)
{
    char msg[1536];
    const char *stage;
    advgnn_plugin *plugin;
    const advgnn_plugin *existing;
    int rc;

    if (out)
        *out = NULL;

    /* A broken file is recorded. Discovery logs it and goes on. */
    rc = advgnn_plugin_open(path, &plugin, &stage, msg, sizeof(msg));
    if (rc != ADVGNN_OK) {
        if (rc == ADVGNN_ERR_NOMEM || record_failure(reg, path, stage, msg) != ADVGNN_OK)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: %s: out of memory loading the plugin", path, stage);
        if (discovering) {
            advgnn_log(ctx, ADVGNN_LOG_WARN, "%s: %s: %s", path, stage, msg);
            return ADVGNN_OK;
        }
        return advgnn_failf(ctx, rc, "%s: %s: %s", path, stage, msg);
    }

    /* The same file reached twice (one folder on two search paths) is no
     * conflict. Another file with a taken name loses to the first one. */
    existing = advgnn_registry_find(reg, plugin->name, ADVGNN_PLUGIN_INVALID);
    if (existing) {
        int same = same_file(existing->path, plugin->path);
        snprintf(msg, sizeof(msg), "plugin name '%s' is already taken by %s", plugin->name, existing->path);
        advgnn_plugin_close(plugin);
        if (same) {
            if (out)
                *out = existing;
            return ADVGNN_OK;
        }
        if (discovering) {
            advgnn_log(ctx, ADVGNN_LOG_WARN, "%s: ignored: %s, which was found first", path, msg);
            return ADVGNN_OK;
        }
        if (record_failure(reg, path, "init", msg) != ADVGNN_OK)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: init: out of memory loading the plugin", path);
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN, "%s: init: %s", path, msg);
    }

    if (add_plugin(reg, plugin) != ADVGNN_OK) {
        advgnn_plugin_close(plugin);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory registering the plugin", path);
    }
    advgnn_log(ctx, ADVGNN_LOG_DEBUG, "loaded %s plugin '%s' %s from %s", advgnn_plugin_kind_name(plugin->kind),
               plugin->name, plugin->version, plugin->path);
    if (out)
        *out = plugin;
    return ADVGNN_OK;
}

int advgnn_registry_load_file(advgnn_registry *reg, advgnn_ctx *ctx, const char *path, const advgnn_plugin **out)
{
    return advgnn_registry_load_path(reg, ctx, path, 0, out);
}

/* ---- discovery --------------------------------------------------------- */

/* The search folders in order, without repeats. */
typedef struct folder_list {
    char **paths;
    const char **origins; /* static text for log lines: "--plugin-path", ... */
    size_t count;
    size_t capacity;
} folder_list;

static void folder_list_free(folder_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        advgnn_free(list->paths[i]);
    advgnn_free(list->paths);
    advgnn_free(list->origins);
}

static int folder_list_add(folder_list *list, const char *path, size_t length, const char *origin)
{
    char *copy;

    if (length == 0)
        return ADVGNN_OK; /* an empty component of "a::b" */
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 8;
        char **paths = advgnn_realloc(list->paths, capacity * sizeof(*paths));
        if (!paths)
            return ADVGNN_ERR_NOMEM;
        list->paths = paths;
        const char **origins = advgnn_realloc(list->origins, capacity * sizeof(*origins));
        if (!origins)
            return ADVGNN_ERR_NOMEM;
        list->origins = origins;
        list->capacity = capacity;
    }

    copy = advgnn_malloc(length + 1);
    if (!copy)
        return ADVGNN_ERR_NOMEM;
    memcpy(copy, path, length);
    copy[length] = '\0';
    list->paths[list->count] = copy;
    list->origins[list->count] = origin;
    list->count++;
    return ADVGNN_OK;
}

/* Adds each component of a ':'-separated list. */
static int folder_list_add_split(folder_list *list, const char *paths, const char *origin)
{
    const char *start = paths;
    int rc = ADVGNN_OK;

    while (paths && rc == ADVGNN_OK) {
        const char *colon = strchr(start, ':');
        size_t length = colon ? (size_t)(colon - start) : strlen(start);
        rc = folder_list_add(list, start, length, origin);
        if (!colon)
            break;
        start = colon + 1;
    }
    return rc;
}

/* Stores the folder of the loaded libadvgnn.so as a new string in *folder, or
 * NULL when dladdr cannot tell. Fails only when out of memory. */
static int library_folder(char **folder)
{
    Dl_info info;
    char *resolved, *slash;

    *folder = NULL;
    if (!dladdr(&library_anchor, &info) || !info.dli_fname)
        return ADVGNN_OK;
    resolved = realpath(info.dli_fname, NULL);
    if (!resolved)
        return ADVGNN_OK;
    slash = strrchr(resolved, '/');
    if (slash)
        *slash = '\0';
    *folder = advgnn_strdup(resolved);
    free(resolved); /* realpath allocates with malloc */
    return *folder ? ADVGNN_OK : ADVGNN_ERR_NOMEM;
}

/* Returns nonzero when `folder` lies inside the build tree. The build tree's
 * plugin folder is searched only for a library loaded from that tree, so an
 * installed advgnn does not pick up plugins of a stale build. */
static int inside_build_tree(const char *folder)
{
    char build_root[PATH_MAX];
    char *resolved_root;
    char *slash;
    int inside;

    if (!folder)
        return 1; /* dladdr failed: keep the documented order */
    snprintf(build_root, sizeof(build_root), "%s", ADVGNN_BUILD_PLUGIN_DIR);
    slash = strrchr(build_root, '/');
    if (slash)
        *slash = '\0';
    resolved_root = realpath(build_root, NULL);
    if (!resolved_root)
        return 0;
    size_t length = strlen(resolved_root);
    inside = strncmp(folder, resolved_root, length) == 0 && (folder[length] == '/' || folder[length] == '\0');
    free(resolved_root);
    return inside;
}

static int collect_folders(folder_list *list, const char *cli_paths)
{
    char *lib_folder;
    int rc;

    rc = library_folder(&lib_folder);
    if (rc == ADVGNN_OK)
        rc = folder_list_add_split(list, cli_paths, "--plugin-path");
    if (rc == ADVGNN_OK)
        rc = folder_list_add_split(list, getenv("ADVGNN_PLUGIN_PATH"), "ADVGNN_PLUGIN_PATH");
    if (rc == ADVGNN_OK && inside_build_tree(lib_folder))
        rc = folder_list_add(list, ADVGNN_BUILD_PLUGIN_DIR, strlen(ADVGNN_BUILD_PLUGIN_DIR), "build tree");
    if (rc == ADVGNN_OK)
        rc = folder_list_add(list, ADVGNN_INSTALL_PLUGIN_DIR, strlen(ADVGNN_INSTALL_PLUGIN_DIR), "install prefix");

    /* An install moved to another prefix (cmake --install --prefix) still
     * finds its plugins beside the library. */
    if (rc == ADVGNN_OK && lib_folder) {
        char *beside = advgnn_fs_join(lib_folder, "advgnn/plugins");
        rc = beside ? folder_list_add(list, beside, strlen(beside), "library folder") : ADVGNN_ERR_NOMEM;
        advgnn_free(beside);
    }
    advgnn_free(lib_folder);
    return rc;
}

/* Returns nonzero when an earlier folder of the list is the same folder. */
static int seen_before(const folder_list *list, size_t index)
{
    for (size_t i = 0; i < index; i++)
        if (same_file(list->paths[i], list->paths[index]))
            return 1;
    return 0;
}

/* Loads every *.so of one folder in byte order of the names. */
static int load_folder(advgnn_registry *reg, advgnn_ctx *ctx, const char *folder)
{
    static const char *const extensions[] = {".so", NULL};
    int had_error = advgnn_ctx_error_status(ctx) != ADVGNN_OK;
    char **names;
    size_t count;
    int rc;

    rc = advgnn_fs_list_dir(ctx, folder, extensions, &names, &count);
    if (rc == ADVGNN_ERR_NOMEM)
        return rc;
    if (rc != ADVGNN_OK) {
        /* An unreadable folder is skipped like a broken file. */
        advgnn_log(ctx, ADVGNN_LOG_WARN, "skipping plugin folder: %s", advgnn_ctx_error(ctx));
        if (!had_error)
            advgnn_ctx_clear_error(ctx);
        return ADVGNN_OK;
    }

    for (size_t i = 0; i < count && rc == ADVGNN_OK; i++) {
        char *path = advgnn_fs_join(folder, names[i]);
        if (!path) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing plugins in '%s'", folder);
            break;
        }
        rc = advgnn_registry_load_path(reg, ctx, path, 1, NULL);
        advgnn_free(path);
    }
    advgnn_fs_free_list(names, count);
    return rc;
}

int advgnn_registry_discover(advgnn_registry *reg, advgnn_ctx *ctx, const char *cli_paths)
{
    folder_list list = {0};
    int rc;

    rc = collect_folders(&list, cli_paths);
    if (rc != ADVGNN_OK) {
        folder_list_free(&list);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory collecting the plugin folders");
    }

    for (size_t i = 0; i < list.count && rc == ADVGNN_OK; i++) {
        const char *folder = list.paths[i];
        int user_given = strcmp(list.origins[i], "--plugin-path") == 0 ||
                         strcmp(list.origins[i], "ADVGNN_PLUGIN_PATH") == 0;

        if (!advgnn_fs_is_dir(folder)) {
            /* A folder the user named must exist; the built-in ones are
             * optional (a build tree has no install prefix and vice versa). */
            advgnn_log(ctx, user_given ? ADVGNN_LOG_WARN : ADVGNN_LOG_DEBUG, "plugin folder '%s' (%s) does not exist",
                       folder, list.origins[i]);
            continue;
        }
        if (seen_before(&list, i))
            continue;
        advgnn_log(ctx, ADVGNN_LOG_DEBUG, "searching plugin folder '%s' (%s)", folder, list.origins[i]);
        rc = load_folder(reg, ctx, folder);
    }
    folder_list_free(&list);
    return rc;
}

/* ---- lookup ------------------------------------------------------------ */

const advgnn_plugin *advgnn_registry_find(const advgnn_registry *reg, const char *name, advgnn_plugin_kind kind)
{
    for (size_t i = 0; i < reg->count; i++) {
        const advgnn_plugin *plugin = reg->plugins[i];
        if (strcmp(plugin->name, name) == 0)
            return kind == ADVGNN_PLUGIN_INVALID || plugin->kind == kind ? plugin : NULL;
    }
    return NULL;
}

size_t advgnn_registry_count(const advgnn_registry *reg)
{
    return reg->count;
}

const advgnn_plugin *advgnn_registry_at(const advgnn_registry *reg, size_t index)
{
    return index < reg->count ? reg->plugins[index] : NULL;
}

size_t advgnn_registry_failure_count(const advgnn_registry *reg)
{
    return reg->failure_count;
}

const advgnn_plugin_failure *advgnn_registry_failure_at(const advgnn_registry *reg, size_t index)
{
    return index < reg->failure_count ? reg->failures[index] : NULL;
}
