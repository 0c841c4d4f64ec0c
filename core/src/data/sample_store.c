/* The sample store: copies of the samples a dataset lists, checked for
 * duplicates with a hash set while the plugin adds them, then sorted. */
#include <stdlib.h>
#include <string.h>

#include "advgnn/status.h"
#include "data/sample_store.h"

/* The samples of one category: for each split, the first index into the
 * sorted array and the count. Indexed by advgnn_split (0 unused). */
typedef struct category_index {
    const char *name; /* borrowed from the first sample */
    size_t first[4];
    size_t count[4];
} category_index;

struct advgnn_sample_sink {
    advgnn_ctx *ctx;
    char *dataset_name;
    int paths_required;
    int finished;

    advgnn_sample *samples;
    size_t count;
    size_t capacity;

    /* Open-addressing hash set of sample indices + 1 (0 = empty slot), keyed
     * by (category, split, name); its size is a power of two, at most half full. */
    size_t *slots;
    size_t slot_count;

    category_index *categories;
    size_t category_count;
};

/* ---- lifetime ---------------------------------------------------------- */

int advgnn_sample_store_new(advgnn_ctx *ctx, const char *dataset_name, int paths_required,
                            advgnn_sample_store **out)
{
    advgnn_sample_store *store = advgnn_calloc(1, sizeof(*store));

    *out = NULL;
    if (!store)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating the sample list of dataset '%s'",
                            dataset_name);
    store->ctx = ctx;
    store->paths_required = paths_required;
    store->dataset_name = advgnn_strdup(dataset_name);
    if (!store->dataset_name) {
        advgnn_free(store);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating the sample list of dataset '%s'",
                            dataset_name);
    }
    *out = store;
    return ADVGNN_OK;
}

static void release_sample(advgnn_sample *s)
{
    advgnn_free(s->category);
    advgnn_free(s->defect_type);
    advgnn_free(s->name);
    advgnn_free(s->image_path);
    advgnn_free(s->mask_path);
}

void advgnn_sample_store_free(advgnn_sample_store *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->count; i++)
        release_sample(&store->samples[i]);
    advgnn_free(store->samples);
    advgnn_free(store->slots);
    advgnn_free(store->categories);
    advgnn_free(store->dataset_name);
    advgnn_free(store);
}

/* ---- duplicate detection ----------------------------------------------- */

/* FNV-1a over category, split and name, with separators so that ("ab", "c")
 * and ("a", "bc") differ. */
static uint64_t sample_hash(const char *category, advgnn_split split, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[2] = {category, name};

    for (int p = 0; p < 2; p++) {
        for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++)
            h = (h ^ *c) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull;
        if (p == 0)
            h = (h ^ (unsigned)split) * 1099511628211ull;
    }
    return h;
}

static int same_key(const advgnn_sample *s, const char *category, advgnn_split split, const char *name)
{
    return s->split == split && strcmp(s->category, category) == 0 && strcmp(s->name, name) == 0;
}

/* Returns the slot holding the key, or the empty slot where it belongs. */
static size_t find_slot(const advgnn_sample_store *store, const char *category, advgnn_split split,
                        const char *name)
{
    size_t mask = store->slot_count - 1;
    size_t i = (size_t)sample_hash(category, split, name) & mask;

    while (store->slots[i] != 0 && !same_key(&store->samples[store->slots[i] - 1], category, split, name))
        i = (i + 1) & mask;
    return i;
}

static int grow_slots(advgnn_sample_store *store)
{
    size_t old_count = store->slot_count;
    size_t *old = store->slots;
    size_t new_count = old_count ? old_count * 2 : 256;

    store->slots = advgnn_calloc(new_count, sizeof(*store->slots));
    if (!store->slots) {
        store->slots = old;
        return ADVGNN_ERR_NOMEM;
    }
    store->slot_count = new_count;

    /* Reinsert every sample; their keys are distinct, so each finds an empty slot. */
    for (size_t i = 0; i < store->count; i++) {
        const advgnn_sample *s = &store->samples[i];
        store->slots[find_slot(store, s->category, s->split, s->name)] = i + 1;
    }
    advgnn_free(old);
    return ADVGNN_OK;
}

/* ---- adding ------------------------------------------------------------ */

static int validate_info(advgnn_sample_store *store, const advgnn_sample_info *info, const char *category)
{
    advgnn_ctx *ctx = store->ctx;
    const char *ds = store->dataset_name;
    const char *name = info->name ? info->name : "(null)";

    if (!info->name || !info->name[0])
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN, "dataset '%s' listed a sample of category '%s' without a name",
                            ds, category);
    if (info->split != ADVGNN_SPLIT_TRAIN && info->split != ADVGNN_SPLIT_VALIDATION &&
        info->split != ADVGNN_SPLIT_TEST)
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN, "dataset '%s': sample '%s' of category '%s' has invalid split %d",
                            ds, name, category, (int)info->split);
    if (info->anomalous != 0 && info->anomalous != 1)
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN,
                            "dataset '%s': sample '%s' of category '%s' has anomalous = %d, expected 0 or 1", ds, name,
                            category, info->anomalous);
    if (info->anomalous && info->split != ADVGNN_SPLIT_TEST)
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN,
                            "dataset '%s': sample '%s' of category '%s' is defective but listed in the %s split, "
                            "which holds normal images only",
                            ds, name, category, advgnn_split_name(info->split));
    if (info->anomalous && (!info->defect_type || !info->defect_type[0]))
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN,
                            "dataset '%s': defective sample '%s' of category '%s' has no defect_type", ds, name,
                            category);
    if (store->paths_required && (!info->image_path || !info->image_path[0]))
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN,
                            "dataset '%s': sample '%s' of category '%s' has no image_path, and the plugin has no "
                            "load() to make its pixels",
                            ds, name, category);

    /* The category becomes a folder name of the heatmaps. */
    if (strchr(category, '/') || category[0] == '.')
        return advgnn_failf(ctx, ADVGNN_ERR_PLUGIN,
                            "dataset '%s': invalid category name '%s' (it must not contain '/' or start with '.')",
                            ds, category);
    return ADVGNN_OK;
}

static char *copy_or_null(const char *s)
{
    return s && s[0] ? advgnn_strdup(s) : NULL;
}

static int copy_info(advgnn_sample *s, const advgnn_sample_info *info, const char *category)
{
    const char *defect = info->defect_type && info->defect_type[0] ? info->defect_type : "good";

    memset(s, 0, sizeof(*s));
    s->split = info->split;
    s->anomalous = info->anomalous;
    s->mask_threshold = info->mask_threshold;
    s->key = info->key;
    s->category = advgnn_strdup(category);
    s->defect_type = advgnn_strdup(defect);
    s->name = advgnn_strdup(info->name);
    s->image_path = copy_or_null(info->image_path);
    s->mask_path = copy_or_null(info->mask_path);

    if (!s->category || !s->defect_type || !s->name || (info->image_path && info->image_path[0] && !s->image_path) ||
        (info->mask_path && info->mask_path[0] && !s->mask_path)) {
        release_sample(s);
        return ADVGNN_ERR_NOMEM;
    }
    return ADVGNN_OK;
}

int advgnn_sample_sink_add(advgnn_sample_sink *store, const advgnn_sample_info *info)
{
    const char *category;
    size_t slot;
    int rc;

    if (!store || !info)
        return ADVGNN_ERR_INVALID_ARG;
    if (store->finished)
        return advgnn_failf(store->ctx, ADVGNN_ERR_INTERNAL, "dataset '%s' added a sample after list() returned",
                            store->dataset_name);
    category = info->category && info->category[0] ? info->category : ADVGNN_DEFAULT_CATEGORY;
    rc = validate_info(store, info, category);
    if (rc != ADVGNN_OK)
        return rc;

    /* Keep the hash set at most half full. */
    if (2 * (store->count + 1) > store->slot_count && grow_slots(store) != ADVGNN_OK)
        return advgnn_failf(store->ctx, ADVGNN_ERR_NOMEM, "out of memory listing dataset '%s'", store->dataset_name);
    slot = find_slot(store, category, info->split, info->name);
    if (store->slots[slot] != 0) {
        const advgnn_sample *old = &store->samples[store->slots[slot] - 1];
        return advgnn_failf(store->ctx, ADVGNN_ERR_PLUGIN,
                            "dataset '%s': duplicate sample name '%s' in category '%s', split %s (files '%s' and '%s')",
                            store->dataset_name, info->name, category, advgnn_split_name(info->split),
                            old->image_path ? old->image_path : "(none)",
                            info->image_path ? info->image_path : "(none)");
    }

    if (store->count == store->capacity) {
        size_t cap = store->capacity ? store->capacity * 2 : 64;
        advgnn_sample *grown = advgnn_realloc(store->samples, cap * sizeof(*grown));
        if (!grown)
            return advgnn_failf(store->ctx, ADVGNN_ERR_NOMEM, "out of memory listing dataset '%s'",
                                store->dataset_name);
        store->samples = grown;
        store->capacity = cap;
    }
    if (copy_info(&store->samples[store->count], info, category) != ADVGNN_OK)
        return advgnn_failf(store->ctx, ADVGNN_ERR_NOMEM, "out of memory listing dataset '%s'", store->dataset_name);
    store->slots[slot] = ++store->count;
    return ADVGNN_OK;
}

/* ---- sorting and lookup ------------------------------------------------ */

static int compare_samples(const void *pa, const void *pb)
{
    const advgnn_sample *a = pa;
    const advgnn_sample *b = pb;
    int c = strcmp(a->category, b->category);

    if (c != 0)
        return c;
    if (a->split != b->split)
        return a->split < b->split ? -1 : 1;
    return strcmp(a->name, b->name);
}

int advgnn_sample_store_finish(advgnn_sample_store *store, advgnn_ctx *ctx)
{
    size_t n = 0;

    if (store->finished)
        return ADVGNN_OK;
    if (store->count > 0)
        qsort(store->samples, store->count, sizeof(*store->samples), compare_samples);

    /* The hash set indexes the unsorted order; it is not needed any more. */
    advgnn_free(store->slots);
    store->slots = NULL;
    store->slot_count = 0;

    /* One index entry per run of equal category names. */
    store->categories = advgnn_calloc(store->count ? store->count : 1, sizeof(*store->categories));
    if (!store->categories)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory indexing dataset '%s'", store->dataset_name);
    for (size_t i = 0; i < store->count; i++) {
        const advgnn_sample *s = &store->samples[i];
        if (n == 0 || strcmp(store->categories[n - 1].name, s->category) != 0)
            store->categories[n++].name = s->category;
        category_index *c = &store->categories[n - 1];
        if (c->count[s->split] == 0)
            c->first[s->split] = i;
        c->count[s->split]++;
    }
    store->category_count = n;
    store->finished = 1;
    return ADVGNN_OK;
}

size_t advgnn_sample_store_count(const advgnn_sample_store *store)
{
    return store->count;
}

size_t advgnn_sample_store_category_count(const advgnn_sample_store *store)
{
    return store->category_count;
}

const char *advgnn_sample_store_category(const advgnn_sample_store *store, size_t index)
{
    return index < store->category_count ? store->categories[index].name : NULL;
}

long advgnn_sample_store_find_category(const advgnn_sample_store *store, const char *name)
{
    for (size_t i = 0; i < store->category_count; i++)
        if (strcmp(store->categories[i].name, name) == 0)
            return (long)i;
    return -1;
}

void advgnn_sample_store_split(const advgnn_sample_store *store, size_t category, advgnn_split split,
                               const advgnn_sample **samples, size_t *count)
{
    *samples = NULL;
    *count = 0;
    if (category >= store->category_count || split < ADVGNN_SPLIT_TRAIN || split > ADVGNN_SPLIT_TEST)
        return;
    const category_index *c = &store->categories[category];
    if (c->count[split] == 0)
        return;
    *samples = &store->samples[c->first[split]];
    *count = c->count[split];
}

void advgnn_sample_to_info(const advgnn_sample *sample, advgnn_sample_info *info)
{
    memset(info, 0, sizeof(*info));
    info->category = sample->category;
    info->split = sample->split;
    info->anomalous = sample->anomalous;
    info->defect_type = sample->defect_type;
    info->name = sample->name;
    info->image_path = sample->image_path;
    info->mask_path = sample->mask_path;
    info->mask_threshold = sample->mask_threshold;
    info->key = sample->key;
}
