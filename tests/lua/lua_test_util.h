/* Helpers of the Lua runner tests: a temporary folder for scripts, a registry
 * with the ABI test plugins, and a call that runs a script and keeps its
 * message. Included by one test file each, so everything is static. */
#ifndef ADVGNN_LUA_TEST_UTIL_H
#define ADVGNN_LUA_TEST_UTIL_H

/* nftw is an X/Open extension; this header must come before any other. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advgnn/context.h"
#include "check.h"
#include "lua/lua_runner.h"
#include "plugin/registry.h"

static char test_dir[64];
static char test_message[ADVGNN_ERROR_MAX];
static advgnn_ctx *test_ctx;
static advgnn_registry *test_reg;

/* Results tables go nowhere in these tests unless a test clears quiet. */
static advgnn_run_settings test_settings = {.quiet = 1};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_test_dir(void)
{
    if (test_dir[0])
        nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates the temporary folder and the context. Short paths keep Lua's
 * "file:line" positions (cut to 60 characters) whole. */
static void test_setup(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/advgnn-lua-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    test_ctx = advgnn_ctx_new();
    if (!test_ctx || advgnn_registry_new(test_ctx, &test_reg) != ADVGNN_OK) {
        fprintf(stderr, "cannot create the context or registry\n");
        exit(1);
    }
}

static void test_teardown(void)
{
    advgnn_registry_free(test_reg);
    advgnn_ctx_free(test_ctx);
    remove_test_dir();
}

/* Loads one shared object of the ABI test plugins; the test stops when it
 * is missing, since every later check depends on it. */
static void load_test_plugin(const char *file) __attribute__((unused));
static void load_test_plugin(const char *file)
{
    char path[512];

    snprintf(path, sizeof path, "%s/%s", ADVGNN_TEST_PLUGIN_DIR, file);
    if (advgnn_registry_load_file(test_reg, test_ctx, path, NULL) != ADVGNN_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, advgnn_ctx_error(test_ctx));
        exit(1);
    }
}

/* Writes `text` to <test_dir>/<name> and returns the path (static buffer). */
static const char *write_script(const char *name, const char *text)
{
    static char path[256];
    FILE *file;

    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    file = fopen(path, "w");
    if (!file || fputs(text, file) == EOF || fclose(file) != 0) {
        perror(path);
        exit(1);
    }
    return path;
}

/* Writes and runs a script; the error message lands in test_message. */
static int run_script_args(const char *name, const char *text, int argc, char *const *args)
{
    const char *path = write_script(name, text);
    int rc;

    advgnn_ctx_clear_error(test_ctx);
    rc = advgnn_lua_run_file(test_ctx, test_reg, path, argc, args, &test_settings);
    snprintf(test_message, sizeof test_message, "%s", advgnn_ctx_error(test_ctx));
    return rc;
}

static int run_script(const char *name, const char *text)
{
    return run_script_args(name, text, 0, NULL);
}

#endif
