/* libFuzzer target: indexing and reading an arbitrary archive must fail
 * cleanly or list entries whose names are safe, never crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "advgnn/advgnn.h"
#include "advgnn/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when `path` is relative and no component is empty, "." or "..".
 * A name such as "...x" is a legal file name, not a parent reference. */
static int name_is_safe(const char *path)
{
    if (path[0] == '/')
        return 0;
    for (const char *c = path;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);

        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (!slash)
            return 1;
        c = slash + 1;
    }
}

/* Lists a folder and reads up to a few of its files, descending two levels. */
static void walk(advgnn_source *src, advgnn_ctx *ctx, const char *dir, int depth)
{
    char **names;
    size_t count;

    if (advgnn_source_list(src, ctx, dir, ADVGNN_SOURCE_ENTRY_FILE, &names, &count) == ADVGNN_OK) {
        for (size_t i = 0; i < count && i < 4; i++) {
            char path[4096];
            void *buf;
            size_t len;
            int n = snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", names[i]);
            if (n < 0 || (size_t)n >= sizeof(path))
                continue; /* longer than any name the index accepts */
            if (!name_is_safe(path))
                __builtin_trap(); /* an unsafe name passed validation */
            if (advgnn_source_read(src, ctx, path, &buf, &len) == ADVGNN_OK)
                advgnn_free(buf);
            advgnn_ctx_clear_error(ctx);
        }
        advgnn_source_free_list(names, count);
    }
    advgnn_ctx_clear_error(ctx);
    if (depth == 0 || advgnn_source_list(src, ctx, dir, ADVGNN_SOURCE_ENTRY_DIR, &names, &count) != ADVGNN_OK)
        return;
    for (size_t i = 0; i < count && i < 4; i++) {
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", names[i]);
        if (n < 0 || (size_t)n >= sizeof(path))
            continue;
        walk(src, ctx, path, depth - 1);
    }
    advgnn_source_free_list(names, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_source_options opts = {.max_entry_bytes = 1 << 20};
    advgnn_source *src = NULL;
    FILE *f;

    if (!ctx)
        return 0;
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    snprintf(path, sizeof(path), "/tmp/advgnn-fuzz-archive-%ld.bin", (long)getpid());
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) {
        if (f)
            fclose(f);
        advgnn_ctx_free(ctx);
        return 0;
    }
    fclose(f);

    if (advgnn_source_open(ctx, path, &opts, &src) == ADVGNN_OK) {
        walk(src, ctx, "", 2);
        advgnn_source_close(src);
    }
    unlink(path);
    advgnn_ctx_free(ctx);
    return 0;
}
