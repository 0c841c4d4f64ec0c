/* The tracking journal without a server: MLflow's key rules, value cuts,
 * journal lines, resuming a journal, repairing a cut last line, the
 * acknowledgement log, and settings read from MLFLOW_* variables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlflow_test.h"
#include "tracking/journal.h"
#include "tracking/http.h"
#include "tracking/keys.h"
#include "tracking/tracker.h"

static void test_keys(void)
{
    static const struct {
        const char *key;
        int valid;
        const char *sanitized;
    } cases[] = {
        {"train/loss", 1, "train/loss"},
        {"a b:c-d.e_f", 1, "a b:c-d.e_f"},
        {"val loss (fused)", 0, "val loss _fused_"},
        {"/leading", 0, "leading"},
        {"trailing/", 0, "trailing"},
        {"a//b", 0, "a/b"},
        {"./a/../b", 0, "a/b"},
        {"..", 0, "_"},
        {"", 0, "_"},
        {"auroc@0.3", 0, "auroc_0.3"},
        {"caf\xc3\xa9", 0, "caf__"},
    };
    char long_key[300];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *sanitized = trk_key_sanitize(cases[i].key);

        CHECK_INT_EQ(trk_key_is_valid(cases[i].key), cases[i].valid);
        CHECK(sanitized != NULL);
        CHECK(sanitized && strcmp(sanitized, cases[i].sanitized) == 0);
        if (sanitized && strcmp(sanitized, cases[i].sanitized) != 0)
            fprintf(stderr, "  sanitize(\"%s\") = \"%s\", expected \"%s\"\n", cases[i].key, sanitized,
                    cases[i].sanitized);
        CHECK(sanitized && trk_key_is_valid(sanitized));
        free(sanitized);
    }

    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    CHECK(!trk_key_is_valid(long_key));
    {
        char *cut = trk_key_sanitize(long_key);

        CHECK(cut != NULL);
        CHECK(cut && strlen(cut) == 250);
        free(cut);
    }
}

static void test_values(void)
{
    char *redacted;

    /* "é" is two bytes; a cut never splits it. */
    CHECK_INT_EQ(trk_utf8_prefix("abc", 10), 3);
    CHECK_INT_EQ(trk_utf8_prefix("ab\xc3\xa9", 3), 2);
    CHECK_INT_EQ(trk_utf8_prefix("ab\xc3\xa9", 4), 4);

    redacted = trk_uri_redact("https://alice:s3cret@mlflow.example:5000/base");
    CHECK_STR_CONTAINS(redacted, "https://mlflow.example:5000/base");
    CHECK(redacted && !strstr(redacted, "s3cret"));
    advgnn_free(redacted);
    redacted = trk_uri_redact("http://127.0.0.1:5000");
    CHECK_STR_CONTAINS(redacted, "http://127.0.0.1:5000");
    advgnn_free(redacted);
}

/* Reads the journal of `run_dir` as an array of parsed lines. */
static cJSON *read_journal(const char *run_dir)
{
    char path[800];
    size_t len;
    char *text;
    cJSON *lines = cJSON_CreateArray();

    snprintf(path, sizeof(path), "%s/tracking/journal.jsonl", run_dir);
    text = mt_read_file(path, &len);
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *record = cJSON_Parse(line);

        CHECK(record != NULL);
        if (record)
            cJSON_AddItemToArray(lines, record);
    }
    free(text);
    return lines;
}

static const char *str_field(const cJSON *record, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, name));
}

static void test_journal_only(const char *dir)
{
    char run_dir[700];
    char path[800];
    char long_value[6100];
    advgnn_ctx *ctx = advgnn_ctx_new();
    mt_log log = {0};
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_tracker *t = NULL;
    cJSON *lines;
    const cJSON *record;
    long seq = 0;
    FILE *file;

    advgnn_ctx_set_log_sink(ctx, mt_log_sink, &log);
    unsetenv("MLFLOW_TRACKING_URI");
    snprintf(run_dir, sizeof(run_dir), "%s/journal-only", dir);
    config.run_dir = run_dir;
    config.experiment = "offline";
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    if (!t)
        return;

    /* 5999 ASCII bytes and a two-byte character: cut to 5999 bytes. */
    memset(long_value, 'v', 5999);
    memcpy(long_value + 5999, "\xc3\xa9", 3);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, "offline run", NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "main", "long", long_value), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "m(1)", NAN, 3, 1234), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "m(1)", -INFINITY, 4, 1235), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "plain", 0.1, 5, 1236), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_pending(t), 0);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, &summary), ADVGNN_OK);
    /* Header, run, param, 3 metrics, and for the run left open the
     * advgnn.error tag and an end record with FAILED. */
    CHECK_INT_EQ(summary.journaled, 8);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_STR_CONTAINS(log.text, "'m(1)' is not accepted by MLflow; logging it as 'm_1_'");
    CHECK_STR_CONTAINS(log.text, "value of 'long' is longer than MLflow accepts");

    lines = read_journal(run_dir);
    CHECK_INT_EQ(cJSON_GetArraySize(lines), 8);
    cJSON_ArrayForEach(record, lines)
    {
        CHECK_INT_EQ((long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(record, "seq")), seq);
        seq++;
    }
    record = cJSON_GetArrayItem(lines, 0);
    CHECK_STR_CONTAINS(str_field(record, "type"), "journal");
    CHECK_STR_CONTAINS(str_field(record, "experiment"), "offline");
    CHECK_INT_EQ(strlen(str_field(record, "id")), 32);
    CHECK_INT_EQ(strlen(str_field(cJSON_GetArrayItem(lines, 2), "value")), 5999);
    CHECK_STR_CONTAINS(str_field(cJSON_GetArrayItem(lines, 3), "key"), "m_1_");
    CHECK_STR_CONTAINS(str_field(cJSON_GetArrayItem(lines, 3), "value"), "NaN");
    CHECK_STR_CONTAINS(str_field(cJSON_GetArrayItem(lines, 4), "value"), "-Infinity");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lines, 5), "value")), 0.1, 0);
    CHECK_STR_CONTAINS(str_field(cJSON_GetArrayItem(lines, 6), "key"), "advgnn.error");
    CHECK_STR_CONTAINS(str_field(cJSON_GetArrayItem(lines, 7), "status"), "FAILED");
    cJSON_Delete(lines);

    /* A cut last line (a crash mid-write) is removed when the journal reopens,
     * numbering continues, and a started key continues its run. */
    snprintf(path, sizeof(path), "%s/tracking/journal.jsonl", run_dir);
    file = fopen(path, "a");
    CHECK(file != NULL);
    if (file) {
        fputs("{\"seq\":8,\"type\":\"met", file);
        fclose(file);
    }
    t = NULL;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "plain", 0.2, 6, 1237), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.journaled, 2);
    lines = read_journal(run_dir);
    CHECK_INT_EQ(cJSON_GetArraySize(lines), 10);
    CHECK_INT_EQ((long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lines, 8), "seq")), 8);
    CHECK_STR_CONTAINS(str_field(cJSON_GetArrayItem(lines, 9), "status"), "FINISHED");
    cJSON_Delete(lines);

    /* Open runs end child first, with the given status and error. */
    t = NULL;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "category/a", "main", "a", NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_open_runs(t, ADVGNN_RUN_STATUS_KILLED, "stopped"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, &summary), ADVGNN_OK);
    lines = read_journal(run_dir);
    record = cJSON_GetArrayItem(lines, cJSON_GetArraySize(lines) - 3);
    CHECK_STR_CONTAINS(str_field(record, "run"), "category/a");
    CHECK_STR_CONTAINS(str_field(record, "status"), "KILLED");
    record = cJSON_GetArrayItem(lines, cJSON_GetArraySize(lines) - 1);
    CHECK_STR_CONTAINS(str_field(record, "run"), "main");
    CHECK_STR_CONTAINS(str_field(record, "status"), "KILLED");
    cJSON_Delete(lines);

    /* Misuse. */
    t = NULL;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "nope", "x", 1, 0, 0), ADVGNN_ERR_INVALID_ARG);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "child", "missing-parent", NULL, NULL), ADVGNN_ERR_INVALID_ARG);
    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "main", "/nonexistent/file", NULL), ADVGNN_ERR_NOT_FOUND);
    CHECK_INT_EQ(advgnn_tracker_log_input(t, "main", "d", "0123456789012345678901234567890123456789", "/x", NULL),
                 ADVGNN_ERR_INVALID_ARG);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, NULL), ADVGNN_OK);

    mt_log_free(&log);
    advgnn_ctx_free(ctx);
}

static void test_acks(const char *dir)
{
    char acks_dir[700];
    advgnn_ctx *ctx = advgnn_ctx_new();
    trk_acks acks;

    snprintf(acks_dir, sizeof(acks_dir), "%s/acks", dir);
    CHECK_INT_EQ(trk_acks_open(ctx, acks_dir, "http://127.0.0.1:1", &acks), ADVGNN_OK);
    CHECK_INT_EQ(trk_acks_write_ack(ctx, &acks, 0, 4), ADVGNN_OK);
    CHECK_INT_EQ(trk_acks_write_ack(ctx, &acks, 10, 12), ADVGNN_OK);
    CHECK_INT_EQ(trk_acks_write_ack(ctx, &acks, 5, 9), ADVGNN_OK);
    CHECK_INT_EQ(acks.done_count, 1);
    CHECK_INT_EQ(trk_acks_write_intent(ctx, &acks, 13, 15), ADVGNN_OK);
    CHECK_INT_EQ(trk_acks_write_run(ctx, &acks, "main", "abc123", "mlflow-artifacts:/1/abc123/artifacts"), ADVGNN_OK);
    CHECK_INT_EQ(trk_acks_write_experiment(ctx, &acks, "7"), ADVGNN_OK);
    trk_acks_close(&acks);

    /* Reloaded: merged ranges, the open intent, the run and experiment. */
    CHECK_INT_EQ(trk_acks_open(ctx, acks_dir, "http://127.0.0.1:1", &acks), ADVGNN_OK);
    for (uint64_t s = 0; s <= 12; s++)
        CHECK(trk_acks_is_done(&acks, s));
    CHECK(!trk_acks_is_done(&acks, 13));
    CHECK(trk_acks_in_open_intent(&acks, 14));
    CHECK(!trk_acks_in_open_intent(&acks, 16));
    CHECK(trk_acks_find_run(&acks, "main") != NULL);
    CHECK_STR_CONTAINS(trk_acks_find_run(&acks, "main") ? trk_acks_find_run(&acks, "main")->run_id : NULL, "abc123");
    CHECK_STR_CONTAINS(acks.experiment_id, "7");
    CHECK_INT_EQ(trk_acks_write_ack(ctx, &acks, 13, 15), ADVGNN_OK);
    trk_acks_close(&acks);

    CHECK_INT_EQ(trk_acks_open(ctx, acks_dir, "http://127.0.0.1:1", &acks), ADVGNN_OK);
    CHECK(!trk_acks_in_open_intent(&acks, 14));
    trk_acks_close(&acks);

    /* Another server starts from nothing. */
    CHECK_INT_EQ(trk_acks_open(ctx, acks_dir, "http://127.0.0.1:2", &acks), ADVGNN_OK);
    CHECK(!trk_acks_is_done(&acks, 0));
    trk_acks_close(&acks);
    advgnn_ctx_free(ctx);
}

static void test_settings(const char *dir)
{
    char run_dir[700];
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_tracker_config config = {0};
    advgnn_tracker *t = NULL;

    snprintf(run_dir, sizeof(run_dir), "%s/settings", dir);
    config.run_dir = run_dir;
    config.uri = "http://127.0.0.1:9";

    setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "12", 1);
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "MLFLOW_HTTP_REQUEST_MAX_RETRIES=12");
    unsetenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES");
    advgnn_ctx_clear_error(ctx);

    setenv("MLFLOW_TRACKING_INSECURE_TLS", "maybe", 1);
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "MLFLOW_TRACKING_INSECURE_TLS");
    advgnn_ctx_clear_error(ctx);

    setenv("MLFLOW_TRACKING_INSECURE_TLS", "true", 1);
    setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", "/etc/ssl/certs/ca-certificates.crt", 1);
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "unset one of them");
    unsetenv("MLFLOW_TRACKING_INSECURE_TLS");
    unsetenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    advgnn_ctx_clear_error(ctx);

    config.uri = "file:///tmp/mlruns";
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "http://");
    CHECK(t == NULL);
    advgnn_ctx_free(ctx);
}

static void test_digest(void)
{
    const char *a[] = {"ab", "c"};
    const char *b[] = {"a", "bc"};
    char da[17];
    char db[17];

    advgnn_tracker_digest(a, 2, da);
    advgnn_tracker_digest(b, 2, db);
    CHECK_INT_EQ(strlen(da), 16);
    CHECK(strcmp(da, db) != 0);
}

int main(void)
{
    char dir[512];

    CHECK(mt_temp_dir("advgnn-journal", dir, sizeof(dir)));
    test_keys();
    test_values();
    test_journal_only(dir);
    test_acks(dir);
    test_settings(dir);
    test_digest();
    if (!check_failures)
        mt_remove_tree(dir);
    return CHECK_DONE();
}
