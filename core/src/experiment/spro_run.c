/* sPRO per defect family in experiment runs. */
#include <stdio.h>
#include <string.h>

#include "advgnn/metrics.h"
#include "advgnn/status.h"
#include "experiment/spro_run.h"

#define SPRO_LIMIT_COUNT 5

/* The FPR limits MVTec LOCO AD reports, and their spelling in metric keys. */
static const double spro_limits[SPRO_LIMIT_COUNT] = {0.01, 0.05, 0.1, 0.3, 1.0};
static const char *const spro_limit_names[SPRO_LIMIT_COUNT] = {"0.01", "0.05", "0.1", "0.3", "1.0"};

/* The defect families of MVTec LOCO AD, by the test folder's defect type. */
#define FAMILY_COUNT 2
static const char *const family_types[FAMILY_COUNT] = {"logical_anomalies", "structural_anomalies"};
static const char *const family_names[FAMILY_COUNT] = {"logical", "structural"};

void advgnn_run_defects_free(advgnn_defect_masks *defects, size_t count)
{
    if (!defects)
        return;
    for (size_t i = 0; i < count; i++)
        advgnn_defect_masks_release(&defects[i]);
    advgnn_free(defects);
}

/* Replaces the full-resolution masks of `d` by masks at the map size. */
static int resize_defects(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_defect_masks *d)
{
    size_t in_pixels = (size_t)d->width * (size_t)d->height;
    size_t out_pixels = (size_t)loader->width * (size_t)loader->height;
    int resized_height = loader->pp.resize_height > 0 ? loader->pp.resize_height : d->height;
    int resized_width = loader->pp.resize_width > 0 ? loader->pp.resize_width : d->width;

    /* Saturation areas are in image pixels. One map pixel covers
     * in_pixels / (resized pixels) of them, whatever the crop keeps. */
    double area_ratio = (double)resized_height * (double)resized_width / (double)in_pixels;
    uint8_t *masks = advgnn_malloc(d->count * out_pixels + 1);
    if (!masks)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for %zu defect masks", d->count);

    for (size_t k = 0; k < d->count; k++) {
        advgnn_image mask = {.width = d->width, .height = d->height, .channels = 1, .type = ADVGNN_PIXEL_U8,
                             .data = d->masks + k * in_pixels};
        int rc = advgnn_mask_to_binary(ctx, &mask, 0, &loader->pp, masks + k * out_pixels);
        if (rc != ADVGNN_OK) {
            advgnn_free(masks);
            return rc;
        }
        d->saturation[k] *= area_ratio;
    }
    advgnn_free(d->masks);
    d->masks = masks;
    d->width = loader->width;
    d->height = loader->height;
    return ADVGNN_OK;
}

int advgnn_run_defects_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader, const advgnn_split_data *test,
                            advgnn_defect_masks **out)
{
    int rc = ADVGNN_OK;

    *out = NULL;
    if (!loader->fn || !loader->fn->load_defect_masks)
        return ADVGNN_OK;
    advgnn_defect_masks *defects = advgnn_calloc(test->count + 1, sizeof(*defects));
    if (!defects)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the defect masks of %zu test images",
                            test->count);

    for (size_t i = 0; rc == ADVGNN_OK && i < test->count; i++) {
        const advgnn_sample *s = &test->samples[i];
        advgnn_sample_info info;
        advgnn_sample_to_info(s, &info);
        rc = loader->fn->load_defect_masks(loader->state, ctx, &info, &defects[i]);
        if (rc != ADVGNN_OK && advgnn_ctx_error(ctx)[0] == '\0')
            advgnn_failf(ctx, rc, "dataset '%s' failed to load the defect masks of '%s' (%s)", loader->dataset_name,
                         s->name, advgnn_status_name(rc));
        if (rc == ADVGNN_OK && defects[i].count > 0)
            rc = resize_defects(ctx, loader, &defects[i]);
        if (rc != ADVGNN_OK)
            advgnn_error_prefixf(ctx, "defect masks of test sample '%s'", s->name);
    }
    if (rc != ADVGNN_OK) {
        advgnn_run_defects_free(defects, test->count);
        return rc;
    }
    *out = defects;
    return ADVGNN_OK;
}

/* Records `value`, or the context's message under "undefined" when rc is
 * ADVGNN_ERR_UNDEFINED. */
static int record(advgnn_ctx *ctx, int rc, double value, const char *label, const char *key, cJSON *metrics,
                  cJSON *undefined)
{
    char full[256];

    if (rc == ADVGNN_OK)
        return cJSON_AddNumberToObject(metrics, key, value)
                   ? ADVGNN_OK
                   : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory recording %s", key);
    if (rc != ADVGNN_ERR_UNDEFINED)
        return rc;
    snprintf(full, sizeof(full), "%s.%s", label, key);
    cJSON *reason = cJSON_AddStringToObject(undefined, full, advgnn_ctx_error(ctx));
    advgnn_ctx_clear_error(ctx);
    return reason ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory recording %s", key);
}

/* sPRO of one family over its images and the good ones. An anomalous image
 * without annotated defects has no sPRO region and is left out. */
static int family_spro(advgnn_ctx *ctx, const advgnn_split_data *test, const advgnn_defect_masks *defects,
                       const float *maps, int height, int width, const char *type, advgnn_spro_image *images,
                       double *auc)
{
    size_t pixels = (size_t)height * (size_t)width;
    size_t n = 0, good = 0, family = 0;

    for (size_t i = 0; i < test->count; i++) {
        const advgnn_sample *s = &test->samples[i];
        int in_family = s->anomalous && strcmp(s->defect_type, type) == 0 && defects[i].count > 0;
        if (s->anomalous && !in_family)
            continue;
        good += !s->anomalous;
        family += in_family;
        images[n++] = (advgnn_spro_image){.map = maps + i * pixels, .height = height, .width = width,
                                          .defects = in_family ? defects[i].masks : NULL,
                                          .saturation = in_family ? defects[i].saturation : NULL,
                                          .defect_count = in_family ? defects[i].count : 0};
    }
    if (family == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED, "no test image of defect type '%s' with defect masks", type);
    if (good == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED, "sPRO of '%s' needs good test images, but there are none",
                            type);
    return advgnn_metric_spro(ctx, images, n, spro_limits, SPRO_LIMIT_COUNT, auc);
}

int advgnn_run_spro_metrics(advgnn_ctx *ctx, const advgnn_split_data *test, const advgnn_defect_masks *defects,
                            const float *maps, int height, int width, const char *label, cJSON *metrics,
                            cJSON *undefined)
{
    double auc[FAMILY_COUNT][SPRO_LIMIT_COUNT] = {{0.0}};
    int defined[FAMILY_COUNT] = {0};
    char key[64];
    int rc = ADVGNN_OK;

    advgnn_spro_image *images = advgnn_calloc(test->count + 1, sizeof(*images));
    if (!images)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for sPRO");

    for (int f = 0; rc == ADVGNN_OK && f < FAMILY_COUNT; f++) {
        int family_rc = family_spro(ctx, test, defects, maps, height, width, family_types[f], images, auc[f]);
        defined[f] = family_rc == ADVGNN_OK;
        if (family_rc != ADVGNN_OK && family_rc != ADVGNN_ERR_UNDEFINED) {
            rc = family_rc;
            break;
        }

        /* record() clears the message, so each undefined key gets a copy. */
        char reason[512];
        snprintf(reason, sizeof(reason), "%s", defined[f] ? "" : advgnn_ctx_error(ctx));
        advgnn_ctx_clear_error(ctx);
        for (int l = 0; rc == ADVGNN_OK && l < SPRO_LIMIT_COUNT; l++) {
            snprintf(key, sizeof(key), "spro_%s_%s", family_names[f], spro_limit_names[l]);
            int key_rc = defined[f] ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED, "%s", reason);
            rc = record(ctx, key_rc, auc[f][l], label, key, metrics, undefined);
        }
    }

    /* The mean over the families, as MVTec LOCO AD reports it. */
    for (int l = 0; rc == ADVGNN_OK && l < SPRO_LIMIT_COUNT; l++) {
        snprintf(key, sizeof(key), "spro_mean_%s", spro_limit_names[l]);
        if (defined[0] && defined[1])
            rc = record(ctx, ADVGNN_OK, 0.5 * (auc[0][l] + auc[1][l]), label, key, metrics, undefined);
        else
            rc = record(ctx,
                        advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                                     "the mean needs the sPRO of both logical and structural anomalies"),
                        0.0, label, key, metrics, undefined);
    }
    advgnn_free(images);
    return rc;
}
