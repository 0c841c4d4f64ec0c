/* Times one pass of decoding and preprocessing a dataset category, the
 * runner's load step (one epoch's worth of samples), from its folder and
 * from a .tar.xz of it, without and with the on-disk sample cache.
 *
 * Usage: bench_data CATEGORY_DIR [RUNS [SIZE [THREADS]]]
 * (default 5 runs, 256 x 256, every online core). CATEGORY_DIR has an MVTec
 * AD layout (train/good, test/<type>). The program first writes it as a
 * .tar.xz with libarchive into a temporary folder. For each source and run
 * it closes the process-wide archive table, then times four passes:
 *
 *   cold        decode; the archive is opened and indexed
 *   warm        decode; the archive index is reused, entries decompressed again
 *   cache-cold  decode and write the sample cache (its folder emptied first)
 *   cache-warm  copy every sample from the sample cache
 *
 * It prints the median samples per second of each kind of pass over the
 * runs, with the wall time and the process CPU time of the median pass. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/context.h"
#include "advgnn/source.h"
#include "advgnn/status.h"
#include "data/category_data.h"
#include "data/sample_store.h"
#include "util/fsutil.h"

#define MAX_RUNS 64
#define PASS_KINDS 4

static const char *const pass_names[PASS_KINDS] = {"cold", "warm", "cache-cold", "cache-warm"};

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Adds the files of folder `rel` of the source to the store as samples of
 * defect type `type`, defective unless the type is "good". */
static int add_folder(advgnn_ctx *ctx, advgnn_source *src, advgnn_sample_store *store, const char *rel,
                      advgnn_split split, const char *type)
{
    char **names = NULL;
    size_t count = 0;
    char entry[1024];
    int rc = advgnn_source_list(src, ctx, rel, ADVGNN_SOURCE_ENTRY_FILE, &names, &count);

    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        snprintf(entry, sizeof(entry), "%s/%s", rel, names[i]);
        char *path = advgnn_source_entry_path(src, entry);
        char name[512];
        snprintf(name, sizeof(name), "%s/%s", type, names[i]);
        advgnn_sample_info info = {.category = "bench", .split = split, .anomalous = strcmp(type, "good") != 0,
                                   .defect_type = type, .name = name, .image_path = path};
        rc = path ? advgnn_sample_sink_add(store, &info) : ADVGNN_ERR_NOMEM;
        advgnn_free(path);
    }
    advgnn_source_free_list(names, count);
    return rc;
}

/* Lists train/good and test/<type>/ of the source into a new store. */
static int list_samples(advgnn_ctx *ctx, const char *path, advgnn_sample_store **store)
{
    advgnn_source *src = NULL;
    char **types = NULL;
    size_t type_count = 0;
    char rel[512];

    int rc = advgnn_source_open(ctx, path, NULL, &src);
    if (rc == ADVGNN_OK)
        rc = advgnn_sample_store_new(ctx, "bench", 1, store);
    if (rc == ADVGNN_OK)
        rc = add_folder(ctx, src, *store, "train/good", ADVGNN_SPLIT_TRAIN, "good");
    if (rc == ADVGNN_OK)
        rc = advgnn_source_list(src, ctx, "test", ADVGNN_SOURCE_ENTRY_DIR, &types, &type_count);
    for (size_t t = 0; rc == ADVGNN_OK && t < type_count; t++) {
        snprintf(rel, sizeof(rel), "test/%s", types[t]);
        rc = add_folder(ctx, src, *store, rel, ADVGNN_SPLIT_TEST, types[t]);
    }
    if (rc == ADVGNN_OK)
        rc = advgnn_sample_store_finish(*store, ctx);
    advgnn_source_free_list(types, type_count);
    advgnn_source_close(src);
    return rc;
}

/* Writes the files under folder `rel` of the source into the archive `a`,
 * with paths relative to the source's root. */
static int add_to_archive(advgnn_ctx *ctx, advgnn_source *src, struct archive *a, const char *rel)
{
    char **names = NULL;
    size_t count = 0;
    char child[1024];
    int rc = advgnn_source_list(src, ctx, rel, ADVGNN_SOURCE_ENTRY_DIR, &names, &count);

    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        rc = add_to_archive(ctx, src, a, child);
    }
    advgnn_source_free_list(names, count);
    names = NULL;
    count = 0;
    if (rc == ADVGNN_OK)
        rc = advgnn_source_list(src, ctx, rel, ADVGNN_SOURCE_ENTRY_FILE, &names, &count);
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        void *data = NULL;
        size_t size = 0;
        snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        rc = advgnn_source_read(src, ctx, child, &data, &size);
        struct archive_entry *entry = rc == ADVGNN_OK ? archive_entry_new() : NULL;
        if (entry) {
            archive_entry_set_pathname(entry, child);
            archive_entry_set_size(entry, (la_int64_t)size);
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_perm(entry, 0644);
            if (archive_write_header(a, entry) != ARCHIVE_OK || archive_write_data(a, data, size) != (la_ssize_t)size)
                rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write '%s' to the archive: %s", child,
                                  archive_error_string(a));
            archive_entry_free(entry);
        }
        advgnn_free(data);
    }
    advgnn_source_free_list(names, count);
    return rc;
}

static int write_archive(advgnn_ctx *ctx, const char *dir, const char *out)
{
    advgnn_source *src = NULL;
    struct archive *a = archive_write_new();
    int rc = a ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");

    if (rc == ADVGNN_OK && (archive_write_add_filter_xz(a) != ARCHIVE_OK ||
                            archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
                            archive_write_open_filename(a, out) != ARCHIVE_OK))
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot create '%s': %s", out, archive_error_string(a));
    if (rc == ADVGNN_OK)
        rc = advgnn_source_open(ctx, dir, NULL, &src);
    if (rc == ADVGNN_OK)
        rc = add_to_archive(ctx, src, a, "");
    if (a && archive_write_close(a) != ARCHIVE_OK && rc == ADVGNN_OK)
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot finish '%s': %s", out, archive_error_string(a));
    if (a)
        archive_write_free(a);
    advgnn_source_close(src);
    return rc;
}

/* Removes the cache files of the folder (the program made it and writes
 * nothing else there). */
static void empty_cache(const char *cache_dir)
{
    char **names = NULL;
    size_t count = 0;
    advgnn_ctx *ctx = advgnn_ctx_new();

    if (ctx && advgnn_fs_list_dir(ctx, cache_dir, NULL, &names, &count) == ADVGNN_OK) {
        for (size_t i = 0; i < count; i++) {
            char *path = advgnn_fs_join(cache_dir, names[i]);
            if (path)
                unlink(path);
            advgnn_free(path);
        }
        advgnn_fs_free_list(names, count);
    }
    advgnn_ctx_free(ctx);
}

/* Loads every split of the store once, through the sample cache in
 * `cache_dir` unless it is NULL; *wall and *cpu get the seconds. */
static int one_pass(advgnn_ctx *ctx, const advgnn_sample_store *store, int size, int threads, const char *cache_dir,
                    double *wall, double *cpu)
{
    advgnn_sample_loader loader = {.dataset_name = "bench", .pp = advgnn_run_preprocess(size, 0), .threads = threads,
                                   .cache_dir = cache_dir};
    advgnn_category_data data;

    advgnn_preprocess_output_size(&loader.pp, size, size, &loader.height, &loader.width);
    double start = clock_seconds(CLOCK_MONOTONIC), start_cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    int rc = advgnn_category_data_load(ctx, &loader, store, 0, &data);
    *wall = clock_seconds(CLOCK_MONOTONIC) - start;
    *cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - start_cpu;
    if (rc == ADVGNN_OK)
        advgnn_category_data_release(&data);
    return rc;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Index of the median of `n` values (the lower one for even n). */
static int median_index(const double *values, int n)
{
    double sorted[MAX_RUNS];

    memcpy(sorted, values, (size_t)n * sizeof(double));
    qsort(sorted, (size_t)n, sizeof(double), compare_doubles);
    for (int i = 0; i < n; i++)
        if (values[i] == sorted[(n - 1) / 2])
            return i;
    return 0;
}

/* Times `runs` passes of each kind over one source and prints them. */
static int bench_source(advgnn_ctx *ctx, const char *label, const char *path, const char *cache_dir, int runs,
                        int size, int threads)
{
    double wall[PASS_KINDS][MAX_RUNS], cpu[PASS_KINDS][MAX_RUNS];
    advgnn_sample_store *store = NULL;
    int rc = list_samples(ctx, path, &store);
    size_t samples = store ? advgnn_sample_store_count(store) : 0;

    for (int r = 0; rc == ADVGNN_OK && r < runs; r++) {
        advgnn_source_close_all();
        empty_cache(cache_dir);
        for (int pass = 0; rc == ADVGNN_OK && pass < PASS_KINDS; pass++)
            rc = one_pass(ctx, store, size, threads, pass >= 2 ? cache_dir : NULL, &wall[pass][r], &cpu[pass][r]);
    }
    for (int pass = 0; rc == ADVGNN_OK && pass < PASS_KINDS; pass++) {
        int m = median_index(wall[pass], runs);
        printf("%-7s %-10s %zu samples: %.1f samples/s (wall %.3f s, CPU %.3f s)\n", label, pass_names[pass],
               samples, (double)samples / wall[pass][m], wall[pass][m], cpu[pass][m]);
    }
    empty_cache(cache_dir);
    advgnn_sample_store_free(store);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_data CATEGORY_DIR [RUNS [SIZE [THREADS]]]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    int size = argc > 3 ? atoi(argv[3]) : 256;
    int threads = argc > 4 ? atoi(argv[4]) : 0;
    if (runs < 1 || runs > MAX_RUNS || size < 8) {
        fprintf(stderr, "bench_data: RUNS must be 1..%d and SIZE at least 8\n", MAX_RUNS);
        return 2;
    }
    advgnn_ctx *ctx = advgnn_ctx_new();
    char dir[] = "/tmp/bench-data-XXXXXX";
    char archive[sizeof(dir) + 32];
    char cache_dir[sizeof(dir) + 32];
    if (!ctx || !mkdtemp(dir)) {
        fprintf(stderr, "bench_data: cannot create a temporary folder\n");
        return 1;
    }
    snprintf(archive, sizeof(archive), "%s/category.tar.xz", dir);
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", dir);
    /* The category has defective images without masks, which the loader warns about on every pass. */
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    if (threads > 0)
        advgnn_ctx_set_threads(ctx, threads);
    printf("%d runs, %d x %d, %d threads\n", runs, size, size, advgnn_ctx_threads(ctx));

    int rc = write_archive(ctx, argv[1], archive);
    if (rc == ADVGNN_OK)
        rc = bench_source(ctx, "folder", argv[1], cache_dir, runs, size, threads);
    if (rc == ADVGNN_OK)
        rc = bench_source(ctx, "tar.xz", archive, cache_dir, runs, size, threads);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "bench_data: %s\n", advgnn_ctx_error(ctx));

    advgnn_source_close_all();
    unlink(archive);
    rmdir(cache_dir);
    rmdir(dir);
    advgnn_ctx_free(ctx);
    return rc == ADVGNN_OK ? 0 : 1;
}
