/* defects_config.json of an MVTec LOCO AD category: for each defect kind,
 * the pixel value its ground-truth masks carry and its saturation threshold. */
#ifndef ADVGNN_MVTEC_LOCO_DEFECTS_CONFIG_H
#define ADVGNN_MVTEC_LOCO_DEFECTS_CONFIG_H

#include <stddef.h>

#include <advgnn/context.h>

typedef struct defect_config {
    char *name;
    int pixel_value;             /* 1..255 */
    double saturation_threshold; /* pixels, or a fraction of the defect's area when relative */
    int relative;
} defect_config;

typedef struct defects_config {
    defect_config *entries;
    size_t count;
} defects_config;

/* Parses the JSON text of `path` (used in messages). The file must be a list
 * of objects with defect_name (string), pixel_value (integer 1..255),
 * saturation_threshold (number, in (0, 1] when relative) and
 * relative_saturation (boolean). A field of another type fails naming the
 * file, the entry and the field. Pixel values must be unique. */
int defects_config_parse(advgnn_ctx *ctx, const char *path, const char *text, defects_config *out);

void defects_config_free(defects_config *config);

/* Returns the entry with this pixel value, or NULL. */
const defect_config *defects_config_find(const defects_config *config, int pixel_value);

#endif
