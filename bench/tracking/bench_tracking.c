/* Tracking throughput and training overhead against a real MLflow server.
 *
 * usage: bench_tracking URI [metrics] [steps]
 *
 * 1. Throughput: logs `metrics` points (default 100000) into one run as fast
 *    as possible and waits until the server acknowledged all of them. Prints
 *    the cost of one log call and the delivered points per second, journal
 *    included. bench/tracking/bench_mlflow.py measures MLflow's Python client
 *    on the same server for comparison.
 * 2. Overhead: a training loop of `steps` steps (default 400) of about 5 ms of
 *    arithmetic each runs twice, without a tracker and with 10 metrics logged
 *    per step while the delivery thread sends them. Prints both wall-clock
 *    times and the difference in percent. The loop's own CPU time is printed
 *    too: on a machine shared with other jobs the wall time is noisy, and the
 *    delivery thread competes with other processes for the same cores. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/advgnn.h"
#include "tracking/tracker.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static advgnn_tracker *open_tracker(advgnn_ctx *ctx, const char *uri, const char *dir, const char *name)
{
    advgnn_tracker_config config = {0};
    advgnn_tracker *t = NULL;
    char run_dir[1024];
    char experiment[128];

    snprintf(run_dir, sizeof(run_dir), "%s/%s", dir, name);
    snprintf(experiment, sizeof(experiment), "bench-tracking-%d", (int)getpid());
    config.uri = uri;
    config.experiment = experiment;
    config.run_dir = run_dir;
    if (advgnn_tracker_open(ctx, &config, &t) != ADVGNN_OK ||
        advgnn_tracker_start_run(t, "main", NULL, name, NULL) != ADVGNN_OK) {
        fprintf(stderr, "bench_tracking: %s\n", advgnn_ctx_error(ctx));
        exit(1);
    }
    return t;
}

static void throughput(advgnn_ctx *ctx, const char *uri, const char *dir, long metrics)
{
    advgnn_tracker_summary summary;
    advgnn_tracker *t = open_tracker(ctx, uri, dir, "throughput");
    double start = clock_s(CLOCK_MONOTONIC);
    double logged;
    double done;

    /* Ten keys, as a training loop logs several values per step. */
    for (long i = 0; i < metrics; i++) {
        char key[32];

        snprintf(key, sizeof(key), "train/metric_%ld", i % 10);
        advgnn_tracker_log_metric(t, "main", key, sin((double)i), i / 10, 0);
    }
    logged = clock_s(CLOCK_MONOTONIC);
    advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL);
    advgnn_tracker_close(t, 600000, &summary);
    done = clock_s(CLOCK_MONOTONIC);

    printf("| C tracker | %ld | %.2f | %.0f | %.0f | %zu |\n", metrics, done - start,
           1e9 * (logged - start) / (double)metrics, (double)metrics / (done - start), summary.pending);
}

/* About 5 ms of floating-point work that the compiler cannot remove. */
static double work_step(double seed)
{
    double acc = seed;

    for (int i = 0; i < 1200000; i++)
        acc = acc * 0.9999999 + 1e-7 * (double)(i & 7);
    return acc;
}

static void overhead(advgnn_ctx *ctx, const char *uri, const char *dir, int steps)
{
    advgnn_tracker_summary summary;
    advgnn_tracker *t;
    double sink = 0;
    double wall[2];
    double cpu[2];

    for (int with = 0; with < 2; with++) {
        double start = clock_s(CLOCK_MONOTONIC);
        double start_cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);

        t = with ? open_tracker(ctx, uri, dir, "overhead") : NULL;
        for (int step = 0; step < steps; step++) {
            sink += work_step(sink + step);
            for (int k = 0; t && k < 10; k++) {
                char key[32];

                snprintf(key, sizeof(key), "loss/part_%d", k);
                advgnn_tracker_log_metric(t, "main", key, sink * 1e-9 + k, step, 0);
            }
        }
        wall[with] = clock_s(CLOCK_MONOTONIC) - start;
        cpu[with] = clock_s(CLOCK_THREAD_CPUTIME_ID) - start_cpu;
        if (t) {
            advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL);
            advgnn_tracker_close(t, 600000, &summary);
        }
    }
    printf("\n| loop | steps | wall s | loop CPU s |\n|---|---|---|---|\n");
    printf("| no tracking | %d | %.3f | %.3f |\n", steps, wall[0], cpu[0]);
    printf("| 10 metrics per step | %d | %.3f | %.3f |\n", steps, wall[1], cpu[1]);
    printf("\noverhead: %+.2f%% wall, %+.2f%% loop CPU (checksum %g)\n", 100 * (wall[1] / wall[0] - 1),
           100 * (cpu[1] / cpu[0] - 1), sink);
}

int main(int argc, char **argv)
{
    const char *uri = argc > 1 ? argv[1] : NULL;
    long metrics = argc > 2 ? atol(argv[2]) : 100000;
    int steps = argc > 3 ? atoi(argv[3]) : 400;
    char dir[] = "/tmp/bench-tracking-XXXXXX";
    advgnn_ctx *ctx = advgnn_ctx_new();

    if (!uri || !mkdtemp(dir)) {
        fprintf(stderr, "usage: bench_tracking URI [metrics] [steps]\n");
        return 2;
    }
    printf("| client | points | seconds | ns per log call | points/s delivered | pending |\n");
    printf("|---|---|---|---|---|---|\n");
    throughput(ctx, uri, dir, metrics);
    overhead(ctx, uri, dir, steps);
    printf("\nrun folders: %s\n", dir);
    advgnn_ctx_free(ctx);
    return 0;
}
