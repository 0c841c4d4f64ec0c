/* Fails each allocation of every metric in turn: each failure must return
 * ADVGNN_ERR_NOMEM with a message and leave nothing allocated (the sanitizer
 * build checks for leaks), and the run without failures must still give the
 * unchanged result. */
#include <stdint.h>

#include "advgnn/advgnn.h"
#include "check.h"

enum { IMAGES = 2, HEIGHT = 24, WIDTH = 24, PIXELS = IMAGES * HEIGHT * WIDTH };

static float maps[PIXELS];
static uint8_t masks[PIXELS];

/* Fills maps with distinct scores (so the PRO curve has hundreds of points
 * and its arrays grow several times) and masks with a few regions. */
static void make_input(void)
{
    advgnn_rng rng;

    advgnn_rng_seed(&rng, 11);
    for (size_t i = 0; i < PIXELS; i++)
        maps[i] = (float)advgnn_rng_uniform(&rng);
    for (int y = 3; y < 9; y++)
        for (int x = 4; x < 12; x++)
            masks[y * WIDTH + x] = 1;
    for (int i = 0; i < 5; i++)
        masks[HEIGHT * WIDTH + (15 + i) * WIDTH + 10 + i] = 1;
}

typedef int (*metric_call)(advgnn_ctx *ctx, double *value);

static int call_auroc(advgnn_ctx *ctx, double *value)
{
    return advgnn_metric_auroc(ctx, maps, masks, PIXELS, value);
}

static int call_f1(advgnn_ctx *ctx, double *value)
{
    double threshold;

    return advgnn_metric_f1_max(ctx, maps, masks, PIXELS, value, &threshold);
}

static int call_aupro(advgnn_ctx *ctx, double *value)
{
    return advgnn_metric_aupro(ctx, maps, masks, IMAGES, HEIGHT, WIDTH, 0.3, value);
}

static int call_roc_curve(advgnn_ctx *ctx, double *value)
{
    advgnn_curve curve;
    int rc = advgnn_metric_roc_curve(ctx, maps, masks, PIXELS, &curve);

    *value = (double)curve.count;
    advgnn_curve_release(&curve);
    return rc;
}

static int call_pro_curve(advgnn_ctx *ctx, double *value)
{
    advgnn_curve curve;
    int rc = advgnn_metric_pro_curve(ctx, maps, masks, IMAGES, HEIGHT, WIDTH, 1.0, &curve);

    *value = (double)curve.count;
    advgnn_curve_release(&curve);
    return rc;
}

/* Fails allocation 1, 2, ... of one call until a call succeeds. */
static void check_every_failure(const char *name, metric_call call)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    double expected = -1.0, value = -1.0;
    int failures = 0, rc;

    CHECK_INT_EQ(call(ctx, &expected), ADVGNN_OK);
    for (size_t n = 1; n < 100; n++) {
        advgnn_alloc_fail_after(n);
        rc = call(ctx, &value);
        advgnn_alloc_fail_after(0);
        if (rc == ADVGNN_OK)
            break;
        failures++;
        CHECK_INT_EQ(rc, ADVGNN_ERR_NOMEM);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "out of memory");
        advgnn_ctx_clear_error(ctx);
    }
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK(value == expected);
    CHECK(failures >= 1);
    printf("%s: %d allocation failures handled\n", name, failures);
    advgnn_ctx_free(ctx);
}

int main(void)
{
    make_input();
    check_every_failure("AUROC", call_auroc);
    check_every_failure("F1-max", call_f1);
    check_every_failure("ROC curve", call_roc_curve);
    check_every_failure("AUPRO", call_aupro);
    check_every_failure("PRO curve", call_pro_curve);
    fflush(stdout);
    return CHECK_DONE();
}
