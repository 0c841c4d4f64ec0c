/* Plugin loader and registry against real shared objects: one test plugin per
 * ABI case (tests/plugins/), a garbage file made here, duplicates across
 * folders, the search order, lookups, listings and allocation failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "plugin/registry.h"

#define PLUGIN_DIR ADVGNN_TEST_PLUGIN_DIR

/* ---- helpers ----------------------------------------------------------- */

/* Every log line of the context, newline-separated, for checks on warnings. */
static char log_text[65536];

static void capture_log(void *user, advgnn_log_level level, const char *line)
{
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof(log_text) - used, "%d %s\n", (int)level, line);
}

static void plugin_path(char *buf, size_t size, const char *file)
{
    snprintf(buf, size, "%s/%s", PLUGIN_DIR, file);
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, size, f) == size);
    CHECK(fclose(f) == 0);
}

static void copy_file(const char *from, const char *to)
{
    static char data[4 << 20];
    FILE *f = fopen(from, "rb");
    size_t n;

    CHECK(f != NULL);
    if (!f)
        return;
    n = fread(data, 1, sizeof(data), f);
    fclose(f);
    CHECK(n > 0);
    CHECK(n < sizeof(data));
    write_file(to, data, n);
}

/* Loads one test plugin into a fresh registry; returns its status and leaves
 * the context's message in place for the caller's checks. */
static int load_one(advgnn_ctx *ctx, const char *file, advgnn_registry **reg, const advgnn_plugin **plugin)
{
    char path[4096];

    plugin_path(path, sizeof(path), file);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_new(ctx, reg), ADVGNN_OK);
    return advgnn_registry_load_file(*reg, ctx, path, plugin);
}

/* ---- single files ------------------------------------------------------ */

static void test_current_loads(advgnn_ctx *ctx)
{
    advgnn_registry *reg;
    const advgnn_plugin *p = NULL;

    CHECK_INT_EQ(load_one(ctx, "abi_current.so", &reg, &p), ADVGNN_OK);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT_EQ(p->kind, ADVGNN_PLUGIN_SCORER);
        CHECK(strcmp(p->name, "test_current") == 0);
        CHECK(strcmp(p->version, "1.2.3") == 0);
        CHECK_INT_EQ(p->abi_version, ADVGNN_ABI_VERSION);
        CHECK_STR_CONTAINS(p->path, "abi_current.so");
        CHECK(p->options != NULL);
        CHECK(strcmp(p->options[0].name, "k") == 0);
        CHECK(p->fn.scorer.create != NULL);
        CHECK(p->fn.scorer.fit_end != NULL);
        CHECK(p->fn.scorer.score != NULL);
    }
    CHECK_INT_EQ(advgnn_registry_count(reg), 1);
    CHECK(advgnn_registry_at(reg, 0) == p);
    CHECK(advgnn_registry_at(reg, 1) == NULL);
    CHECK(advgnn_registry_find(reg, "test_current", ADVGNN_PLUGIN_SCORER) == p);
    CHECK(advgnn_registry_find(reg, "test_current", ADVGNN_PLUGIN_INVALID) == p);
    CHECK(advgnn_registry_find(reg, "test_current", ADVGNN_PLUGIN_ENCODER) == NULL);
    CHECK_INT_EQ(advgnn_registry_failure_count(reg), 0);

    /* The same file again is the same plugin, not a duplicate. */
    char path[4096];
    const advgnn_plugin *again = NULL;
    plugin_path(path, sizeof(path), "abi_current.so");
    CHECK_INT_EQ(advgnn_registry_load_file(reg, ctx, path, &again), ADVGNN_OK);
    CHECK(again == p);
    CHECK_INT_EQ(advgnn_registry_count(reg), 1);
    advgnn_registry_free(reg);
}

static void test_older_table_slots_null(advgnn_ctx *ctx)
{
    advgnn_registry *reg;
    const advgnn_plugin *p = NULL;

    /* The plugin's static table sets `load`, but its struct_size ends before it. */
    CHECK_INT_EQ(load_one(ctx, "abi_older_table.so", &reg, &p), ADVGNN_OK);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT_EQ(p->kind, ADVGNN_PLUGIN_DATASET);
        CHECK(p->fn.dataset.open != NULL);
        CHECK(p->fn.dataset.close != NULL);
        CHECK(p->fn.dataset.list != NULL);
        CHECK(p->fn.dataset.load == NULL);
        CHECK(p->options != NULL);
        CHECK(p->options[0].name == NULL);
    }
    advgnn_registry_free(reg);
}

static void test_newer_minor_loads(advgnn_ctx *ctx)
{
    advgnn_registry *reg;
    const advgnn_plugin *p = NULL;

    CHECK_INT_EQ(load_one(ctx, "abi_newer_minor.so", &reg, &p), ADVGNN_OK);
    CHECK(p != NULL);
    if (p) {
        CHECK(p->fn.scorer.score != NULL);
        CHECK(p->fn.scorer.fit_end != NULL);
        CHECK_INT_EQ(ADVGNN_ABI_VERSION_MINOR(p->abi_version), ADVGNN_ABI_MINOR + 1);
    }
    advgnn_registry_free(reg);
}

static void test_missing_optional_null(advgnn_ctx *ctx)
{
    advgnn_registry *reg;
    const advgnn_plugin *p = NULL;

    CHECK_INT_EQ(load_one(ctx, "abi_missing_optional.so", &reg, &p), ADVGNN_OK);
    CHECK(p != NULL);
    if (p) {
        CHECK(p->fn.scorer.fit_end == NULL);
        CHECK(p->fn.scorer.score != NULL);
    }
    advgnn_registry_free(reg);
}

/* Expects a failed load with this status, stage and message fragments. */
static void expect_failure(advgnn_ctx *ctx, const char *file, int status, const char *stage, const char *word1,
                           const char *word2)
{
    advgnn_registry *reg;
    const advgnn_plugin *p = (const advgnn_plugin *)1;
    char prefix[4200];
    const advgnn_plugin_failure *failure;

    CHECK_INT_EQ(load_one(ctx, file, &reg, &p), status);
    CHECK(p == NULL);
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), status);

    /* "<path>: <stage>: <reason>" */
    snprintf(prefix, sizeof(prefix), "%s/%s: %s: ", PLUGIN_DIR, file, stage);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), prefix);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), word1);
    if (word2)
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), word2);

    CHECK_INT_EQ(advgnn_registry_count(reg), 0);
    CHECK_INT_EQ(advgnn_registry_failure_count(reg), 1);
    failure = advgnn_registry_failure_at(reg, 0);
    CHECK(failure != NULL);
    if (failure) {
        CHECK(strcmp(failure->stage, stage) == 0);
        CHECK_STR_CONTAINS(failure->path, file);
        CHECK_STR_CONTAINS(failure->message, word1);
    }
    advgnn_registry_free(reg);
    advgnn_ctx_clear_error(ctx);
}

static void test_broken_files(advgnn_ctx *ctx, const char *scratch)
{
    char garbage[4096];

    expect_failure(ctx, "abi_newer_major.so", ADVGNN_ERR_ABI, "version", "built for plugin ABI 2.0",
                   "this advgnn supports 1.x; rebuild the plugin against advgnn 0.1");
    expect_failure(ctx, "abi_bad_fingerprint.so", ADVGNN_ERR_ABI, "version", "type fingerprint", "rebuild");
    expect_failure(ctx, "abi_missing_required.so", ADVGNN_ERR_PLUGIN, "init", "required scorer function 'score'",
                   "NULL");
    expect_failure(ctx, "abi_bad_schema.so", ADVGNN_ERR_PLUGIN, "init", "option 'mode'", "'slow'");
    expect_failure(ctx, "abi_no_entry.so", ADVGNN_ERR_PLUGIN, "symbol", "advgnn_plugin_describe", "undefined symbol");
    expect_failure(ctx, "no_such_file.so", ADVGNN_ERR_PLUGIN, "open", "No such file", NULL);
    expect_failure(ctx, "abi_small_descriptor.so", ADVGNN_ERR_ABI, "version", "descriptor struct_size is",
                   "through 'functions'");
    expect_failure(ctx, "abi_empty_table.so", ADVGNN_ERR_PLUGIN, "init", "the scorer function table's struct_size is 0",
                   "sizeof(advgnn_scorer_functions)");
    expect_failure(ctx, "abi_returns_null.so", ADVGNN_ERR_PLUGIN, "init", "advgnn_plugin_describe() returned NULL",
                   NULL);
    expect_failure(ctx, "abi_bad_name.so", ADVGNN_ERR_PLUGIN, "init", "invalid plugin name 'Bad-Name'", "[a-z0-9_]");

    /* A text file named like a shared object: dlerror names the ELF problem. */
    advgnn_registry *reg;
    const advgnn_plugin *p;
    snprintf(garbage, sizeof(garbage), "%s/garbage.so", scratch);
    static char text[4096];
    memset(text, 'x', sizeof(text));
    write_file(garbage, text, sizeof(text));
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_new(ctx, &reg), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_registry_load_file(reg, ctx, garbage, &p), ADVGNN_ERR_PLUGIN);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "garbage.so: open: ");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "ELF");
    CHECK(strstr(strstr(advgnn_ctx_error(ctx), ": open: "), garbage) == NULL); /* the path only once */
    advgnn_registry_free(reg);
    advgnn_ctx_clear_error(ctx);
}

static void test_duplicate_load_file(advgnn_ctx *ctx)
{
    advgnn_registry *reg;
    const advgnn_plugin *first = NULL, *second = NULL;
    char path[4096];

    CHECK_INT_EQ(load_one(ctx, "dup_first.so", &reg, &first), ADVGNN_OK);
    plugin_path(path, sizeof(path), "dup_second.so");
    CHECK_INT_EQ(advgnn_registry_load_file(reg, ctx, path, &second), ADVGNN_ERR_PLUGIN);
    CHECK(second == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "dup_second.so: init: plugin name 'test_duplicate' is already taken by");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "dup_first.so");
    CHECK_INT_EQ(advgnn_registry_count(reg), 1);
    CHECK(advgnn_registry_find(reg, "test_duplicate", ADVGNN_PLUGIN_INVALID) == first);
    advgnn_registry_free(reg);
    advgnn_ctx_clear_error(ctx);
}

/* ---- lookups and listings ---------------------------------------------- */

/* Reads what `print` wrote for one registry_print call. */
static int print_to_text(const advgnn_registry *reg, advgnn_ctx *ctx, const char *name, char *buf, size_t size)
{
    FILE *f = tmpfile();
    size_t n;
    int rc;

    CHECK(f != NULL);
    if (!f)
        return ADVGNN_ERR_IO;
    rc = advgnn_registry_print(reg, ctx, name, f);
    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return rc;
}

static void test_require_and_print(advgnn_ctx *ctx, const advgnn_registry *reg)
{
    const advgnn_plugin *p = NULL;
    static char out[65536];

    /* A typo gets a suggestion, the list of that kind and the failed files. */
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_require(reg, ctx, "test_curent", ADVGNN_PLUGIN_SCORER, &p), ADVGNN_ERR_NOT_FOUND);
    CHECK(p == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "no scorer plugin named 'test_curent'; did you mean 'test_current'?");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "available scorer plugins: ");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "test_duplicate");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "failed to load");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "abi_newer_major.so: version: ");

    /* The name of a file that failed to load repeats its error, not a
     * suggestion of another plugin. */
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_require(reg, ctx, "abi_newer_major", ADVGNN_PLUGIN_ENCODER, &p), ADVGNN_ERR_ABI);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "plugin 'abi_newer_major' failed to load: ");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "abi_newer_major.so: version: built for plugin ABI 2.0");
    CHECK(strstr(advgnn_ctx_error(ctx), "did you mean") == NULL);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_require(reg, ctx, "abi_missing_required", ADVGNN_PLUGIN_SCORER, &p),
                 ADVGNN_ERR_PLUGIN);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "abi_missing_required.so: init: ");

    /* A name far from every plugin gets no suggestion. */
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_require(reg, ctx, "zzzzzzzz", ADVGNN_PLUGIN_SCORER, &p), ADVGNN_ERR_NOT_FOUND);
    CHECK(strstr(advgnn_ctx_error(ctx), "did you mean") == NULL);

    /* The right name for the wrong kind gets a message naming its kind. */
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_require(reg, ctx, "test_current", ADVGNN_PLUGIN_DATASET, &p), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "'test_current'");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "is of kind scorer, not dataset");

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_require(reg, ctx, "test_older_table", ADVGNN_PLUGIN_DATASET, &p), ADVGNN_OK);
    CHECK(p != NULL);
    if (p)
        CHECK_INT_EQ(p->kind, ADVGNN_PLUGIN_DATASET);

    /* The listing groups by kind and ends with the failures. */
    CHECK_INT_EQ(print_to_text(reg, ctx, NULL, out, sizeof(out)), ADVGNN_OK);
    CHECK_STR_CONTAINS(out, "encoders:\n");
    CHECK_STR_CONTAINS(out, "scorers:\n");
    CHECK_STR_CONTAINS(out, "datasets:\n");
    CHECK_STR_CONTAINS(out, "test_current");
    CHECK_STR_CONTAINS(out, "1.2.3");
    CHECK_STR_CONTAINS(out, "Scorer built for the current ABI.");
    CHECK_STR_CONTAINS(out, "failed to load:\n");
    CHECK_STR_CONTAINS(out, "abi_no_entry.so: symbol: ");
    char *scorers = strstr(out, "scorers:"), *datasets = strstr(out, "datasets:");
    char *older = strstr(out, "test_older_table");
    CHECK(scorers != NULL);
    CHECK(datasets != NULL);
    CHECK(older != NULL);
    CHECK(older > datasets);
    CHECK(scorers != NULL && strstr(scorers, "test_current") < datasets);

    /* Names are sorted within a kind, whatever the load order. */
    char *current = strstr(out, "test_current"), *duplicate = strstr(out, "test_duplicate");
    char *optional = strstr(out, "test_missing_optional"), *minor = strstr(out, "test_newer_minor");
    CHECK(current != NULL);
    CHECK(duplicate != NULL);
    CHECK(optional != NULL);
    CHECK(minor != NULL);
    CHECK(current < duplicate);
    CHECK(duplicate < optional);
    CHECK(optional < minor);

    /* One plugin's options as a table. */
    CHECK_INT_EQ(print_to_text(reg, ctx, "test_current", out, sizeof(out)), ADVGNN_OK);
    CHECK_STR_CONTAINS(out, "test_current 1.2.3 (scorer plugin)");
    CHECK_STR_CONTAINS(out, "option");
    CHECK_STR_CONTAINS(out, "range/choices");
    CHECK_STR_CONTAINS(out, "help");
    CHECK_STR_CONTAINS(out, "integer");
    CHECK_STR_CONTAINS(out, "1 to 64");
    CHECK_STR_CONTAINS(out, ">= 0");
    CHECK_STR_CONTAINS(out, "l2 | cosine");
    CHECK_STR_CONTAINS(out, "[1, 2.5]");
    CHECK_STR_CONTAINS(out, "[\"a\", \"b\"]");
    CHECK_STR_CONTAINS(out, "(required)");
    CHECK_STR_CONTAINS(out, "Neighbours averaged per patch.");
    CHECK_STR_CONTAINS(out, "list of numbers");

    CHECK_INT_EQ(print_to_text(reg, ctx, "test_missing_optional", out, sizeof(out)), ADVGNN_OK);
    CHECK_STR_CONTAINS(out, "This plugin takes no options.");

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(print_to_text(reg, ctx, "test_curent", out, sizeof(out)), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "did you mean 'test_current'?");
    advgnn_ctx_clear_error(ctx);
}

/* ---- discovery --------------------------------------------------------- */

/* Returns the recorded failure of a file whose path ends with `file`. */
static const advgnn_plugin_failure *failure_of(const advgnn_registry *reg, const char *file)
{
    for (size_t i = 0; i < advgnn_registry_failure_count(reg); i++) {
        const advgnn_plugin_failure *f = advgnn_registry_failure_at(reg, i);
        size_t n = strlen(f->path), m = strlen(file);
        if (n >= m && strcmp(f->path + n - m, file) == 0)
            return f;
    }
    return NULL;
}

static void expect_failed_stage(const advgnn_registry *reg, const char *file, const char *stage)
{
    const advgnn_plugin_failure *f = failure_of(reg, file);

    CHECK(f != NULL);
    if (f)
        CHECK(strcmp(f->stage, stage) == 0);
    else
        fprintf(stderr, "  no failure recorded for %s\n", file);
}

static void test_discover(advgnn_ctx *ctx, const char *cli_dir, const char *env_dir)
{
    advgnn_registry *reg;
    const advgnn_plugin *p;
    char cli_paths[8192], copy[4096], source[4096];

    /* The environment folder contains a second copy of test_current: the
     * --plugin-path folder comes first, so the copy loses. */
    plugin_path(source, sizeof(source), "abi_current.so");
    snprintf(copy, sizeof(copy), "%s/copy_of_current.so", env_dir);
    copy_file(source, copy);
    CHECK(setenv("ADVGNN_PLUGIN_PATH", env_dir, 1) == 0);
    snprintf(cli_paths, sizeof(cli_paths), "%s::/nonexistent-advgnn-plugin-folder:%s", cli_dir, PLUGIN_DIR);

    log_text[0] = '\0';
    advgnn_ctx_set_log_sink(ctx, capture_log, NULL);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_registry_new(ctx, &reg), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_registry_discover(reg, ctx, cli_paths), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), ADVGNN_OK);
    advgnn_ctx_set_log_sink(ctx, NULL, NULL);

    /* Good plugins, with the first of each name winning. */
    p = advgnn_registry_find(reg, "test_current", ADVGNN_PLUGIN_SCORER);
    CHECK(p != NULL);
    if (p)
        CHECK_STR_CONTAINS(p->path, PLUGIN_DIR "/abi_current.so");
    p = advgnn_registry_find(reg, "test_duplicate", ADVGNN_PLUGIN_SCORER);
    CHECK(p != NULL);
    if (p)
        CHECK_STR_CONTAINS(p->path, "dup_first.so");
    CHECK(advgnn_registry_find(reg, "test_older_table", ADVGNN_PLUGIN_DATASET) != NULL);
    CHECK(advgnn_registry_find(reg, "test_missing_optional", ADVGNN_PLUGIN_SCORER) != NULL);
    CHECK(advgnn_registry_find(reg, "test_newer_minor", ADVGNN_PLUGIN_SCORER) != NULL);

    /* Broken files are recorded with their stage. */
    expect_failed_stage(reg, "garbage.so", "open");
    expect_failed_stage(reg, "abi_no_entry.so", "symbol");
    expect_failed_stage(reg, "abi_newer_major.so", "version");
    expect_failed_stage(reg, "abi_bad_fingerprint.so", "version");
    expect_failed_stage(reg, "abi_missing_required.so", "init");
    expect_failed_stage(reg, "abi_bad_schema.so", "init");
    expect_failed_stage(reg, "abi_small_descriptor.so", "version");
    expect_failed_stage(reg, "abi_empty_table.so", "init");
    expect_failed_stage(reg, "abi_returns_null.so", "init");
    expect_failed_stage(reg, "abi_bad_name.so", "init");
    CHECK(failure_of(reg, "dup_second.so") == NULL);

    /* Warnings name both files of a duplicate, and the missing folder. */
    CHECK_STR_CONTAINS(log_text, "dup_second.so: ignored: plugin name 'test_duplicate' is already taken by");
    CHECK_STR_CONTAINS(log_text, "dup_first.so, which was found first");
    CHECK_STR_CONTAINS(log_text, "copy_of_current.so: ignored: plugin name 'test_current'");
    CHECK_STR_CONTAINS(log_text, "'/nonexistent-advgnn-plugin-folder' (--plugin-path) does not exist");
    CHECK_STR_CONTAINS(log_text, "abi_newer_major.so: version: built for plugin ABI 2.0");

    test_require_and_print(ctx, reg);
    advgnn_registry_free(reg);
    unsetenv("ADVGNN_PLUGIN_PATH");
}

/* ---- allocation failures ----------------------------------------------- */

/* Fails each allocation of discovery and of a listing in turn: every run must
 * end with ADVGNN_OK or ADVGNN_ERR_NOMEM and leak nothing (checked by ASan). */
static void test_allocation_failures(advgnn_ctx *ctx, const char *cli_dir)
{
    char cli_paths[8192];
    int completed = 0;
    size_t n;

    snprintf(cli_paths, sizeof(cli_paths), "%s:%s", cli_dir, PLUGIN_DIR);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    for (n = 1; n < 2000 && !completed; n++) {
        advgnn_registry *reg = NULL;
        FILE *sink = tmpfile();
        int rc;

        advgnn_ctx_clear_error(ctx);
        advgnn_alloc_fail_after(n);
        rc = advgnn_registry_new(ctx, &reg);
        if (rc == ADVGNN_OK)
            rc = advgnn_registry_discover(reg, ctx, cli_paths);
        if (rc == ADVGNN_OK)
            rc = advgnn_registry_print(reg, ctx, "test_current", sink);
        advgnn_alloc_fail_after(0);

        if (rc != ADVGNN_OK && rc != ADVGNN_ERR_NOMEM)
            fprintf(stderr, "allocation %zu: unexpected status %d: %s\n", n, rc, advgnn_ctx_error(ctx));
        CHECK(rc == ADVGNN_OK || rc == ADVGNN_ERR_NOMEM);
        completed = rc == ADVGNN_OK;
        advgnn_registry_free(reg);
        fclose(sink);
    }
    CHECK(completed);
    CHECK(n > 10); /* discovery allocates; a run that never failed tests nothing */
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_INFO);
    advgnn_ctx_clear_error(ctx);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    char cli_dir[] = "/tmp/advgnn-plugin-test-XXXXXX";
    char env_dir[] = "/tmp/advgnn-plugin-env-XXXXXX";
    char path[4096];

    if (!ctx || !mkdtemp(cli_dir) || !mkdtemp(env_dir)) {
        fprintf(stderr, "cannot set up the test folders\n");
        return 1;
    }

    test_current_loads(ctx);
    test_older_table_slots_null(ctx);
    test_newer_minor_loads(ctx);
    test_missing_optional_null(ctx);
    test_broken_files(ctx, cli_dir);
    test_duplicate_load_file(ctx);
    test_discover(ctx, cli_dir, env_dir);
    test_allocation_failures(ctx, cli_dir);

    /* Clean up the scratch folders. */
    snprintf(path, sizeof(path), "%s/garbage.so", cli_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/copy_of_current.so", env_dir);
    unlink(path);
    rmdir(cli_dir);
    rmdir(env_dir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
