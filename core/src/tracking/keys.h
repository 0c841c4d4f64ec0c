/* MLflow's rules for keys and values, applied before a record is journaled,
 * and the facts about a script's folder (git commit). Private to core/src/tracking. */
#ifndef ADVGNN_TRACKING_KEYS_H
#define ADVGNN_TRACKING_KEYS_H

#include <stddef.h>

#include "util/internal.h"

/* Limits of MLflow 3.x servers (mlflow/utils/validation.py). Longer param and
 * tag values are cut here, because servers started with
 * MLFLOW_TRUNCATE_LONG_VALUES=false reject them. */
#define TRK_MAX_KEY_LENGTH 250
#define TRK_MAX_PARAM_VALUE_LENGTH 6000
#define TRK_MAX_TAG_VALUE_LENGTH 8000
#define TRK_MAX_DATASET_NAME_LENGTH 500
#define TRK_MAX_DIGEST_LENGTH 36

/* Returns nonzero when MLflow accepts `key` as a metric, param or tag key:
 * 1 to 250 characters from [A-Za-z0-9_ .:/-], already normalized as a POSIX
 * path (no "//", no "." or ".." segment, no leading or trailing '/'). */
ADVGNN_INTERNAL int trk_key_is_valid(const char *key);

/* Returns a new string (advgnn_free) that MLflow accepts, made from `key`:
 * each rejected byte becomes '_', empty and dot segments are dropped, and the
 * result is cut to 250 bytes. An empty result becomes "_". NULL when out of memory. */
ADVGNN_INTERNAL char *trk_key_sanitize(const char *key);

/* Returns the length of the longest prefix of `value` of at most `max` bytes
 * that ends on a UTF-8 character boundary. Counting bytes is conservative:
 * MLflow counts characters, and a character is at least one byte. */
ADVGNN_INTERNAL size_t trk_utf8_prefix(const char *value, size_t max);

/* Git facts of the folder containing `path` (the script), found by reading
 * .git files directly. `commit` receives 40 hex digits and `branch` the branch
 * name (empty when HEAD is detached). Returns 0 when there is no repository. */
ADVGNN_INTERNAL int trk_git_info(const char *path, char commit[41], char branch[256]);

#endif
