/* The tracking journal and its acknowledgement log. Private to core/src/tracking.
 *
 * Files in <run_dir>/tracking/:
 *
 *   journal.jsonl        every record, one JSON object per line, in the order
 *                        logged; "seq" numbers them from 0 (the header) up.
 *   acks-<hash>.jsonl    what one tracking server acknowledged; <hash> is the
 *                        FNV-1a hash of the server URI without credentials, so
 *                        pushing the same run to a second server starts afresh.
 *
 * Journal record types (fields beside "seq" and "type"):
 *   journal   id (32 hex digits), experiment, experiment_tags {key: value}, created (ms)
 *   run       run (caller's key), parent (key or null), name, start (ms), tags {key: value}
 *   param     run, key, value
 *   metric    run, key, value (number or "NaN"/"Infinity"/"-Infinity"), step, ts (ms)
 *   tag       run, key, value
 *   input     run, name, digest, source, context
 *   artifact  run, path (relative to the run folder when inside it), dest (folder in
 *             the run's artifacts, "" = top)
 *   end       run, status ("FINISHED", "FAILED", "KILLED"), ts (ms)
 *
 * Acknowledgement lines: {"target": uri}, {"experiment_id": id},
 * {"run": key, "run_id": id, "artifact_uri": uri}, {"intent": [first, last]}
 * written before a request, {"ack": [first, last]} after the server accepted
 * it (or rejected it for good), {"failed": seq, "http_status": n, "error": msg}.
 * An intent without a later ack marks records that may have reached the server
 * before a crash; a replay checks the server for them before sending. */
#ifndef ADVGNN_TRACKING_JOURNAL_H
#define ADVGNN_TRACKING_JOURNAL_H

#include <stdint.h>
#include <stdio.h>

#include "advgnn/context.h"
#include "util/internal.h"

#define TRK_JOURNAL_FILE "journal.jsonl"
#define TRK_FOLDER "tracking"

/* ---- growable text buffer ------------------------------------------------ */

/* A byte buffer that stays NUL-terminated. After a failed allocation `failed`
 * is set and further appends do nothing, so callers check once at the end. */
typedef struct trk_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} trk_buf;

ADVGNN_INTERNAL void trk_buf_free(trk_buf *buf);
ADVGNN_INTERNAL void trk_buf_append(trk_buf *buf, const char *data, size_t len);
ADVGNN_INTERNAL void trk_buf_puts(trk_buf *buf, const char *text);
ADVGNN_INTERNAL void trk_buf_printf(trk_buf *buf, const char *fmt, ...) ADVGNN_PRINTF(2, 3);
/* Appends `text` as a quoted JSON string; NULL appends null. */
ADVGNN_INTERNAL void trk_buf_json_string(trk_buf *buf, const char *text);
/* Appends a double as a JSON number, or as the string "NaN", "Infinity" or
 * "-Infinity", the protobuf JSON spelling that MLflow parses. */
ADVGNN_INTERNAL void trk_buf_json_double(trk_buf *buf, double value);

/* ---- small helpers -------------------------------------------------------- */

/* Current Unix time in milliseconds. */
ADVGNN_INTERNAL int64_t trk_now_ms(void);

/* 64-bit FNV-1a hash of `len` bytes, continuing from `hash` (start with
 * TRK_FNV_OFFSET). Not cryptographic: names files and detects changed lists. */
#define TRK_FNV_OFFSET 0xcbf29ce484222325ull
ADVGNN_INTERNAL uint64_t trk_fnv1a(uint64_t hash, const void *data, size_t len);

/* Fills `out` with 32 lowercase hex digits from /dev/urandom (or the clock
 * when that fails). */
ADVGNN_INTERNAL void trk_random_id(char out[33]);

/* ---- journal -------------------------------------------------------------- */

typedef struct trk_journal {
    FILE *file;         /* opened for appending */
    char *path;
    uint64_t next_seq;  /* seq of the next record */
    int existed;        /* nonzero: the file had records before this open */
} trk_journal;

/* Opens <dir>/journal.jsonl for appending, creating `dir`. An existing journal
 * continues its numbering; a partial last line (a crash mid-write) is cut off. */
ADVGNN_INTERNAL int trk_journal_open(advgnn_ctx *ctx, const char *dir, trk_journal *journal);

/* Appends one line (`line` contains no newline). Buffered: durable only after
 * trk_journal_sync. */
ADVGNN_INTERNAL int trk_journal_append(advgnn_ctx *ctx, trk_journal *journal, const char *line, size_t len);

/* Flushes the buffer and fsyncs the file. */
ADVGNN_INTERNAL int trk_journal_sync(advgnn_ctx *ctx, trk_journal *journal);

/* Closes the file (without fsync). Safe on a zeroed or closed journal. */
ADVGNN_INTERNAL void trk_journal_close(trk_journal *journal);

/* Calls `visit` for each complete line of the journal at `path`, in order.
 * `line` is NUL-terminated and valid during the call. A nonzero return from
 * `visit` stops the walk and is returned. */
ADVGNN_INTERNAL int trk_journal_read(advgnn_ctx *ctx, const char *path,
                                     int (*visit)(void *user, char *line, size_t len), void *user);

/* ---- acknowledgement log -------------------------------------------------- */

typedef struct trk_range {
    uint64_t first;
    uint64_t last; /* inclusive */
} trk_range;

typedef struct trk_run_entry {
    char *key;
    char *run_id;
    char *artifact_uri;
} trk_run_entry;

typedef struct trk_acks {
    int fd;                  /* append-only; -1 when closed */
    char *path;
    trk_range *done;         /* sorted, disjoint, merged */
    size_t done_count;
    size_t done_cap;
    trk_range *intents;      /* intents without an ack, from the file as loaded */
    size_t intent_count;
    trk_run_entry *runs;
    size_t run_count;
    char *experiment_id;     /* NULL until known */
    size_t failed_count;     /* {"failed"} lines, loaded and written */
} trk_acks;

/* Opens (creating) the acknowledgement log for the server `display_uri` (a URI
 * without credentials) in `dir` and loads its state. */
ADVGNN_INTERNAL int trk_acks_open(advgnn_ctx *ctx, const char *dir, const char *display_uri, trk_acks *acks);
ADVGNN_INTERNAL void trk_acks_close(trk_acks *acks);

ADVGNN_INTERNAL int trk_acks_is_done(const trk_acks *acks, uint64_t seq);
/* Nonzero when `seq` lies in an intent that was never acknowledged. */
ADVGNN_INTERNAL int trk_acks_in_open_intent(const trk_acks *acks, uint64_t seq);
ADVGNN_INTERNAL const trk_run_entry *trk_acks_find_run(const trk_acks *acks, const char *key);

/* Each writer appends one line; acks, runs and the experiment id are fsync'd
 * because they decide what a replay sends. Intents are written without fsync:
 * they survive a killed process, and after a power loss the server dedupes
 * repeated metrics and run creation searches by the run's key tag anyway. */
/* Marks the log as the one of a live run's own server, so that `advgnn
 * sync` without a URI finds that server even when it never responded. */
ADVGNN_INTERNAL int trk_acks_write_live_run(advgnn_ctx *ctx, trk_acks *acks);
ADVGNN_INTERNAL int trk_acks_write_intent(advgnn_ctx *ctx, trk_acks *acks, uint64_t first, uint64_t last);
ADVGNN_INTERNAL int trk_acks_write_ack(advgnn_ctx *ctx, trk_acks *acks, uint64_t first, uint64_t last);
ADVGNN_INTERNAL int trk_acks_write_failed(advgnn_ctx *ctx, trk_acks *acks, uint64_t seq, long http_status,
                                          const char *message);
ADVGNN_INTERNAL int trk_acks_write_run(advgnn_ctx *ctx, trk_acks *acks, const char *key, const char *run_id,
                                       const char *artifact_uri);
ADVGNN_INTERNAL int trk_acks_write_experiment(advgnn_ctx *ctx, trk_acks *acks, const char *experiment_id);

#endif
