/* Radix sorts of float score keys and the tie-group walk shared by AUROC, the
 * ROC curve and F1-max.
 *
 * A least-significant-digit radix sort with three 11-bit digits sorts n keys
 * in O(n) time with one scratch array. A pass is skipped when every key has
 * the same digit there, which is common for scores of one magnitude. */
#include <math.h>
#include <string.h>

#include "metrics/sorted_scores.h"

#define RADIX_BITS 11
#define RADIX_BUCKETS (1u << RADIX_BITS)
#define RADIX_PASSES 3 /* 3 * 11 >= 32 bits */

/* ---- radix sorts -------------------------------------------------------- */

/* Counts digit occurrences of all passes in one read of the keys. */
static void histogram_u32(const uint32_t *keys, size_t count, size_t hist[RADIX_PASSES][RADIX_BUCKETS])
{
    memset(hist, 0, sizeof(size_t) * RADIX_PASSES * RADIX_BUCKETS);
    for (size_t i = 0; i < count; i++) {
        uint32_t k = keys[i];

        hist[0][k & (RADIX_BUCKETS - 1)]++;
        hist[1][(k >> RADIX_BITS) & (RADIX_BUCKETS - 1)]++;
        hist[2][k >> (2 * RADIX_BITS)]++;
    }
}

/* Turns counts into start offsets. Returns 0 when one bucket contains all
 * keys, because then the pass would not move anything. */
static int exclusive_prefix(size_t *bucket, size_t count)
{
    size_t sum = 0;

    for (size_t b = 0; b < RADIX_BUCKETS; b++) {
        size_t n = bucket[b];

        if (n == count)
            return 0;
        bucket[b] = sum;
        sum += n;
    }
    return 1;
}

void advgnn_radix_sort_u32(uint32_t *keys, uint32_t *scratch, size_t count)
{
    size_t hist[RADIX_PASSES][RADIX_BUCKETS]; /* 48 KiB on the stack */
    uint32_t *src = keys, *dst = scratch;

    histogram_u32(keys, count, hist);
    for (int pass = 0; pass < RADIX_PASSES; pass++) {
        int shift = pass * RADIX_BITS;

        if (!exclusive_prefix(hist[pass], count))
            continue;
        for (size_t i = 0; i < count; i++) {
            uint32_t k = src[i];

            dst[hist[pass][(k >> shift) & (RADIX_BUCKETS - 1)]++] = k;
        }

        uint32_t *t = src;
        src = dst;
        dst = t;
    }

    /* An odd number of passes left the result in the scratch array. */
    if (src != keys)
        memcpy(keys, src, count * sizeof(*keys));
}

static void histogram_u64_high(const uint64_t *items, size_t count, size_t hist[RADIX_PASSES][RADIX_BUCKETS])
{
    memset(hist, 0, sizeof(size_t) * RADIX_PASSES * RADIX_BUCKETS);
    for (size_t i = 0; i < count; i++) {
        uint32_t k = (uint32_t)(items[i] >> 32);

        hist[0][k & (RADIX_BUCKETS - 1)]++;
        hist[1][(k >> RADIX_BITS) & (RADIX_BUCKETS - 1)]++;
        hist[2][k >> (2 * RADIX_BITS)]++;
    }
}

void advgnn_radix_sort_u64_high(uint64_t *items, uint64_t *scratch, size_t count)
{
    size_t hist[RADIX_PASSES][RADIX_BUCKETS];
    uint64_t *src = items, *dst = scratch;

    histogram_u64_high(items, count, hist);
    for (int pass = 0; pass < RADIX_PASSES; pass++) {
        int shift = 32 + pass * RADIX_BITS;

        if (!exclusive_prefix(hist[pass], count))
            continue;
        for (size_t i = 0; i < count; i++) {
            uint64_t item = src[i];

            dst[hist[pass][(item >> shift) & (RADIX_BUCKETS - 1)]++] = item;
        }

        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != items)
        memcpy(items, src, count * sizeof(*items));
}

/* ---- input checks and the split by label ---------------------------------- */

int advgnn_check_scores(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count, const char *item_name)
{
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(scores[i]))
            return advgnn_failf(ctx, ADVGNN_ERR_NUMERIC,
                                "%s %zu has score %g; metrics need finite scores, so check the scorer output",
                                item_name, i, (double)scores[i]);
        if (labels[i] > 1)
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "%s %zu has label %u; labels and masks must be 0 (normal) or 1 (anomalous)", item_name,
                                i, (unsigned)labels[i]);
    }
    return ADVGNN_OK;
}

int advgnn_sorted_scores_build(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count,
                               advgnn_sorted_scores *sorted)
{
    size_t positives = 0, p = 0, n = 0;
    uint32_t *scratch;
    int rc;

    memset(sorted, 0, sizeof(*sorted));
    rc = advgnn_check_scores(ctx, scores, labels, count, "sample");
    if (rc != ADVGNN_OK)
        return rc;
    if (count > SIZE_MAX / (2 * sizeof(uint32_t)))
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "%zu scores are too many to sort in memory", count);
    for (size_t i = 0; i < count; i++)
        positives += labels[i];

    /* One block contains both classes: positives first, then negatives. */
    sorted->positive = advgnn_malloc(count * sizeof(uint32_t));
    if (!sorted->positive)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the sort keys of %zu scores", count);
    sorted->positives = positives;
    sorted->negatives = count - positives;
    sorted->negative = sorted->positive + positives;
    for (size_t i = 0; i < count; i++) {
        if (labels[i])
            sorted->positive[p++] = advgnn_score_key(scores[i]);
        else
            sorted->negative[n++] = advgnn_score_key(scores[i]);
    }

    /* The scratch array serves both sorts, so it needs the larger class. */
    size_t larger = sorted->positives > sorted->negatives ? sorted->positives : sorted->negatives;
    scratch = advgnn_malloc(larger * sizeof(uint32_t));
    if (!scratch) {
        advgnn_sorted_scores_release(sorted);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the sort scratch of %zu scores", larger);
    }
    advgnn_radix_sort_u32(sorted->positive, scratch, sorted->positives);
    advgnn_radix_sort_u32(sorted->negative, scratch, sorted->negatives);
    advgnn_free(scratch);
    return ADVGNN_OK;
}

void advgnn_sorted_scores_release(advgnn_sorted_scores *sorted)
{
    advgnn_free(sorted->positive);
    memset(sorted, 0, sizeof(*sorted));
}

/* ---- tie groups ------------------------------------------------------------ */

void advgnn_tie_walk_init(advgnn_tie_walk *walk, const advgnn_sorted_scores *sorted)
{
    walk->sorted = sorted;
    walk->positive_end = sorted->positives;
    walk->negative_end = sorted->negatives;
}

int advgnn_tie_walk_next(advgnn_tie_walk *walk, advgnn_tie_group *group)
{
    const advgnn_sorted_scores *s = walk->sorted;
    size_t pe = walk->positive_end, ne = walk->negative_end;
    uint32_t key;

    if (pe == 0 && ne == 0)
        return 0;

    /* The group's key is the larger of the two highest unvisited keys. */
    if (pe == 0)
        key = s->negative[ne - 1];
    else if (ne == 0)
        key = s->positive[pe - 1];
    else
        key = s->positive[pe - 1] > s->negative[ne - 1] ? s->positive[pe - 1] : s->negative[ne - 1];

    group->score = advgnn_score_from_key(key);
    group->positives = 0;
    while (pe > 0 && s->positive[pe - 1] == key) {
        pe--;
        group->positives++;
    }
    group->negatives = 0;
    while (ne > 0 && s->negative[ne - 1] == key) {
        ne--;
        group->negatives++;
    }
    group->positives_at_least = s->positives - pe;
    group->negatives_at_least = s->negatives - ne;
    walk->positive_end = pe;
    walk->negative_end = ne;
    return 1;
}
