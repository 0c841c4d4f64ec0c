/* The dataset plugin interface: a dataset lists its samples, and either names
 * the files the core decodes or produces the pixels itself. */
#ifndef ADVGNN_DATASET_H
#define ADVGNN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/image.h"
#include "advgnn/options.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum advgnn_split {
    ADVGNN_SPLIT_INVALID = 0,
    ADVGNN_SPLIT_TRAIN = 1,      /* normal images only */
    ADVGNN_SPLIT_VALIDATION = 2, /* held-out normal images (fusion statistics, validation loss) */
    ADVGNN_SPLIT_TEST = 3        /* normal and defective images */
} advgnn_split;

/* Returns "train", "validation", "test" or "invalid". */
const char *advgnn_split_name(advgnn_split split);

/* One sample as a dataset plugin describes it. The core copies every string,
 * so the plugin may pass stack buffers. */
typedef struct advgnn_sample_info {
    const char *category;    /* e.g. "bottle"; NULL or "" means "default" */
    advgnn_split split;
    int anomalous;           /* 0 normal, 1 defective */
    const char *defect_type; /* "good" for normal samples */
    const char *name;        /* unique within category and split, e.g. "broken_large/000.png" */
    const char *image_path;  /* file the core decodes; NULL when the plugin's load() makes the pixels */
    const char *mask_path;   /* defect mask file, or NULL (normal sample, or no mask published) */
    int mask_threshold;      /* a mask pixel > this (0..255 scale) is defective */
    uint64_t key;            /* the plugin's own handle, passed back to load() */
} advgnn_sample_info;

/* Collects samples during list(). Owned by the core. */
typedef struct advgnn_sample_sink advgnn_sample_sink;

/* Adds one sample. Fails on a duplicate name within a category and split, or
 * on an invalid split. */
int advgnn_sample_sink_add(advgnn_sample_sink *sink, const advgnn_sample_info *info);

/* The per-defect ground truth of one sample, for sPRO (MVTec LOCO AD): one
 * mask per annotated defect, and each defect's saturation area. */
typedef struct advgnn_defect_masks {
    int width;          /* pixels, equal to the sample's image */
    int height;
    size_t count;       /* annotated defects; 0 for a normal sample */
    uint8_t *masks;     /* (count, height, width) 0/1; advgnn_malloc */
    double *saturation; /* (count) saturation area of each defect, pixels; advgnn_malloc */
} advgnn_defect_masks;

/* Frees the masks and saturation areas and resets *masks to empty. */
static inline void advgnn_defect_masks_release(advgnn_defect_masks *masks)
{
    advgnn_free(masks->masks);
    advgnn_free(masks->saturation);
    masks->masks = NULL;
    masks->saturation = NULL;
    masks->count = 0;
    masks->width = 0;
    masks->height = 0;
}

/* Function table of a dataset plugin. Slots only grow at the end. */
typedef struct advgnn_dataset_functions {
    uint32_t struct_size; /* sizeof(advgnn_dataset_functions) as the plugin was built */

    /* Required. Opens the dataset described by the validated options; stores the
     * plugin's state in *state. A missing root folder or a layout that does not
     * match fails with a message naming the path. */
    int (*open)(advgnn_ctx *ctx, const advgnn_options *opts, void **state);

    /* Required. Frees the state; called once, also after a failed list(). */
    void (*close)(void *state);

    /* Required. Adds every sample to the sink. */
    int (*list)(void *state, advgnn_ctx *ctx, advgnn_sample_sink *sink);

    /* Optional. Produces the 8-bit image and, for a defective sample, its mask
     * (empty when none). NULL: the core decodes info->image_path and
     * info->mask_path. */
    int (*load)(void *state, advgnn_ctx *ctx, const advgnn_sample_info *info, advgnn_image *image,
                advgnn_image *mask);

    /* Optional. Fills *out with the per-defect ground truth of a test sample
     * at its image's resolution; the caller frees it with
     * advgnn_defect_masks_release. A normal sample gets count 0. NULL: the
     * dataset has no per-defect annotation, so sPRO is not computed. */
    int (*load_defect_masks)(void *state, advgnn_ctx *ctx, const advgnn_sample_info *info,
                             advgnn_defect_masks *out);
} advgnn_dataset_functions;

#ifdef __cplusplus
}
#endif
#endif
