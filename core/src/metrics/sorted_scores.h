/* Order-preserving integer keys for float32 scores, radix sorts on them, and the
 * split of (score, label) samples into two sorted key arrays that the AUROC, ROC
 * and F1 code walk from the highest score down. Private to the metrics module. */
#ifndef ADVGNN_METRICS_SORTED_SCORES_H
#define ADVGNN_METRICS_SORTED_SCORES_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "util/internal.h"

/* Maps a finite float to a uint32 whose unsigned order is the float order.
 * -0.0 and +0.0 map to the same key, because they compare equal as floats and
 * must fall in one tie group. */
static inline uint32_t advgnn_score_key(float score)
{
    union {
        float f;
        uint32_t u;
    } bits;

    bits.f = score == 0.0f ? 0.0f : score;
    return (bits.u & 0x80000000u) ? ~bits.u : (bits.u | 0x80000000u);
}

/* Inverts advgnn_score_key. */
static inline float advgnn_score_from_key(uint32_t key)
{
    union {
        float f;
        uint32_t u;
    } bits;

    bits.u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    return bits.f;
}

/* Sorts keys ascending by LSD radix sort. scratch has room for count keys;
 * the result is in keys. */
ADVGNN_INTERNAL void advgnn_radix_sort_u32(uint32_t *keys, uint32_t *scratch, size_t count);

/* Sorts items ascending by their upper 32 bits (a score key), keeping the
 * order of equal keys (stable). scratch has room for count items. */
ADVGNN_INTERNAL void advgnn_radix_sort_u64_high(uint64_t *items, uint64_t *scratch, size_t count);

/* Checks that every score is finite and every label is 0 or 1. On failure the
 * message names `item_name` ("score", "pixel"), the index and the value. */
ADVGNN_INTERNAL int advgnn_check_scores(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count,
                                        const char *item_name);

/* Scores split by label: the keys of the anomalous samples (label 1) and of
 * the normal samples (label 0), each sorted ascending. Both arrays live in one
 * block owned by the struct. */
typedef struct advgnn_sorted_scores {
    uint32_t *positive; /* (positives,) keys of anomalous samples, ascending */
    uint32_t *negative; /* (negatives,) keys of normal samples, ascending */
    size_t positives;
    size_t negatives;
} advgnn_sorted_scores;

/* Checks the input like advgnn_check_scores, then fills *sorted. Uses 4 bytes
 * per sample plus 4 bytes per sample of the larger class while sorting. Free
 * with advgnn_sorted_scores_release, also after a failure. */
ADVGNN_INTERNAL int advgnn_sorted_scores_build(advgnn_ctx *ctx, const float *scores, const uint8_t *labels,
                                               size_t count, advgnn_sorted_scores *sorted);

ADVGNN_INTERNAL void advgnn_sorted_scores_release(advgnn_sorted_scores *sorted);

/* One tie group while walking from the highest score down: the score, how
 * many anomalous and normal samples have it, and the totals at or above it. */
typedef struct advgnn_tie_group {
    float score;
    size_t positives;           /* anomalous samples with this score */
    size_t negatives;           /* normal samples with this score */
    size_t positives_at_least;  /* anomalous samples with score >= this score */
    size_t negatives_at_least;  /* normal samples with score >= this score */
} advgnn_tie_group;

/* Cursor over the tie groups of sorted scores, highest score first. */
typedef struct advgnn_tie_walk {
    const advgnn_sorted_scores *sorted;
    size_t positive_end; /* positive[0, positive_end) are not yet visited */
    size_t negative_end;
} advgnn_tie_walk;

ADVGNN_INTERNAL void advgnn_tie_walk_init(advgnn_tie_walk *walk, const advgnn_sorted_scores *sorted);

/* Fills *group with the next tie group and returns 1, or returns 0 when all
 * samples were visited. */
ADVGNN_INTERNAL int advgnn_tie_walk_next(advgnn_tie_walk *walk, advgnn_tie_group *group);

#endif
