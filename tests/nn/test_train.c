/* Training pieces: losses (values against direct references, gradients by
 * finite differences), optimizer updates against the formulas in double,
 * learning-rate schedules and gradient clipping. */
#include "nn_test.h"

typedef int (*loss_fn)(advgnn_ctx *, const advgnn_tensor *, const advgnn_tensor *, advgnn_tensor *, double *);

static int ssim_unit_range(advgnn_ctx *ctx, const advgnn_tensor *p, const advgnn_tensor *t, advgnn_tensor *g,
                           double *loss)
{
    return advgnn_loss_ssim(ctx, p, t, 1.0, g, loss);
}

/* SSIM straight from its definition: a 2-D 11x11 Gaussian window (sigma 1.5)
 * at every valid position, statistics in double, mean over planes and positions. */
static double reference_ssim(const float *p, const float *t, int planes, int h, int w)
{
    double g[11], sum = 0, total = 0, c1 = 1e-4, c2 = 9e-4;

    for (int i = 0; i < 11; i++)
        sum += g[i] = exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
    for (int i = 0; i < 11; i++)
        g[i] /= sum;
    for (int pl = 0; pl < planes; pl++)
        for (int y = 0; y + 11 <= h; y++)
            for (int x = 0; x + 11 <= w; x++) {
                double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;

                for (int a = 0; a < 11; a++)
                    for (int b = 0; b < 11; b++) {
                        double wgt = g[a] * g[b];
                        double u = p[(pl * h + y + a) * w + x + b], v = t[(pl * h + y + a) * w + x + b];

                        mx += wgt * u;
                        my += wgt * v;
                        sxx += wgt * u * u;
                        syy += wgt * v * v;
                        sxy += wgt * u * v;
                    }
                sxx -= mx * mx;
                syy -= my * my;
                sxy -= mx * my;
                total += (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
            }
    return total / (planes * (h - 10) * (w - 10));
}

static void check_loss_gradient(advgnn_ctx *ctx, loss_fn fn, const char *name, advgnn_tensor *pred,
                                const advgnn_tensor *target, double eps, double tol)
{
    int64_t n = advgnn_tensor_numel(pred), step = n > 200 ? n / 200 : 1;
    advgnn_tensor grad;
    float *p = pred->data;
    double loss, worst = 0;

    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &grad, ADVGNN_DTYPE_F32, pred->ndim, pred->shape));
    NN_CHECK_OK(ctx, fn(ctx, pred, target, &grad, &loss));
    for (int64_t i = 0; i < n; i += step) {
        float saved = p[i];
        double lp, lm, numeric;

        p[i] = (float)(saved + eps);
        NN_CHECK_OK(ctx, fn(ctx, pred, target, NULL, &lp));
        p[i] = (float)(saved - eps);
        NN_CHECK_OK(ctx, fn(ctx, pred, target, NULL, &lm));
        p[i] = saved;
        numeric = (lp - lm) / (2 * eps);
        worst = fmax(worst, fabs(numeric - ((float *)grad.data)[i]));
    }
    printf("gradcheck %-10s loss %.6f max |numeric - analytic| = %.3g\n", name, loss, worst);
    CHECK(worst < tol);
    advgnn_tensor_release(&grad);
}

static void test_losses(advgnn_ctx *ctx)
{
    int64_t shape[4] = {2, 2, 13, 14};
    advgnn_tensor pred, target;
    advgnn_rng rng;
    double loss, mse = 0, l1 = 0, ref;
    int64_t n;

    advgnn_rng_seed(&rng, 80);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &pred, ADVGNN_DTYPE_F32, 4, shape));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &target, ADVGNN_DTYPE_F32, 4, shape));
    n = advgnn_tensor_numel(&pred);
    fill_uniform(&rng, pred.data, n, 0, 1);
    fill_uniform(&rng, target.data, n, 0, 1);
    for (int64_t i = 0; i < n; i++) {
        double d = (double)((float *)pred.data)[i] - ((float *)target.data)[i];

        mse += d * d / (double)n;
        l1 += fabs(d) / (double)n;
    }

    NN_CHECK_OK(ctx, advgnn_loss_mse(ctx, &pred, &target, NULL, &loss));
    CHECK_NEAR(loss, mse, 1e-12);
    NN_CHECK_OK(ctx, advgnn_loss_l1(ctx, &pred, &target, NULL, &loss));
    CHECK_NEAR(loss, l1, 1e-12);
    NN_CHECK_OK(ctx, advgnn_loss_ssim(ctx, &pred, &target, 1.0, NULL, &loss));
    ref = 1.0 - reference_ssim(pred.data, target.data, 4, 13, 14);
    printf("SSIM loss %.10f reference %.10f\n", loss, ref);
    CHECK_NEAR(loss, ref, 1e-10);
    NN_CHECK_OK(ctx, advgnn_loss_ssim(ctx, &pred, &pred, 1.0, NULL, &loss));
    CHECK_NEAR(loss, 0.0, 1e-12);

    check_loss_gradient(ctx, advgnn_loss_mse, "mse", &pred, &target, 1e-3, 1e-6);
    check_loss_gradient(ctx, advgnn_loss_l1, "l1", &pred, &target, 1e-4, 1e-6);
    check_loss_gradient(ctx, ssim_unit_range, "ssim", &pred, &target, 1e-3, 1e-5);

    /* Too small for the 11x11 window, and mismatched shapes. */
    {
        advgnn_tensor small;

        NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &small, ADVGNN_DTYPE_F32, 4, (int64_t[]){1, 1, 10, 20}));
        CHECK_INT_EQ(advgnn_loss_ssim(ctx, &small, &small, 1.0, NULL, &loss), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "at least 11x11");
        advgnn_ctx_clear_error(ctx);
        CHECK_INT_EQ(advgnn_loss_mse(ctx, &small, &pred, NULL, &loss), ADVGNN_ERR_INVALID_ARG);
        advgnn_ctx_clear_error(ctx);
        advgnn_tensor_release(&small);
    }
    advgnn_tensor_release(&pred);
    advgnn_tensor_release(&target);
}

/* ---- optimizers -------------------------------------------------------- */

/* One parameter element updated by the textbook rule in double. */
static double reference_update(const advgnn_optim_config *c, double p, const double *grads, int steps, double lr)
{
    double m = 0, v = 0, b = 0, b1 = c->beta1 ? c->beta1 : 0.9, b2 = c->beta2 ? c->beta2 : 0.999;
    double alpha = c->alpha ? c->alpha : 0.99, eps = c->eps ? c->eps : 1e-8;

    for (int t = 1; t <= steps; t++) {
        double g = grads[t - 1];

        switch (c->kind) {
        case ADVGNN_OPTIM_SGD:
            g += c->weight_decay * p;
            b = c->momentum * b + g;
            p -= lr * (c->momentum > 0 ? b : g);
            break;
        case ADVGNN_OPTIM_RMSPROP:
            g += c->weight_decay * p;
            v = alpha * v + (1 - alpha) * g * g;
            b = c->momentum * b + g / (sqrt(v) + eps);
            p -= lr * (c->momentum > 0 ? b : g / (sqrt(v) + eps));
            break;
        default:
            if (c->kind == ADVGNN_OPTIM_ADAMW)
                p *= 1 - lr * c->weight_decay;
            else
                g += c->weight_decay * p;
            m = b1 * m + (1 - b1) * g;
            v = b2 * v + (1 - b2) * g * g;
            p -= lr * (m / (1 - pow(b1, t))) / (sqrt(v / (1 - pow(b2, t))) + eps);
            break;
        }
    }
    return p;
}

static void test_optimizers(advgnn_ctx *ctx)
{
    static const advgnn_optim_config configs[] = {
        {ADVGNN_OPTIM_SGD, 0.9, 0, 0, 0, 0, 0.01},
        {ADVGNN_OPTIM_SGD, 0, 0, 0, 0, 0, 0},
        {ADVGNN_OPTIM_ADAM, 0, 0.8, 0.99, 0, 1e-6, 0.05},
        {ADVGNN_OPTIM_ADAMW, 0, 0, 0, 0, 0, 0.1},
        {ADVGNN_OPTIM_RMSPROP, 0.5, 0, 0, 0.9, 0, 0.01},
        {ADVGNN_OPTIM_RMSPROP, 0, 0, 0, 0, 0, 0},
    };
    static const char *names[] = {"sgd_momentum", "sgd", "adam", "adamw", "rmsprop_momentum", "rmsprop"};
    int64_t shape[4] = {1, 3, 2, 2};
    advgnn_conv2d_desc desc = {.out_channels = 2, .kernel_h = 1, .kernel_w = 1, .bias = 1};

    for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
        advgnn_nn *nn = NULL;
        advgnn_layer *layer = NULL;
        advgnn_optim *opt = NULL;
        const advgnn_nn_param *w;
        float initial[6];
        double grads[6][3], worst = 0;

        NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
        NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "fc", ADVGNN_DTYPE_F32, shape, &desc, &layer));
        NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
        NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, 5));
        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, nn, &configs[c], &opt));
        if (!opt) {
            advgnn_nn_free(nn);
            continue;
        }
        w = advgnn_nn_param_find(nn, "fc.weight");
        memcpy(initial, w->value->data, sizeof(initial));

        /* Three steps with fixed gradients of varying sign and size. */
        for (int t = 0; t < 3; t++) {
            for (int i = 0; i < 6; i++) {
                grads[i][t] = (double)(float)(0.3 * (i - 2.5) * (t + 1) - 0.1 * t);
                ((float *)w->grad->data)[i] = (float)grads[i][t];
            }
            NN_CHECK_OK(ctx, advgnn_optim_step(opt, ctx, 0.05));
        }
        for (int i = 0; i < 6; i++) {
            double g[3] = {grads[i][0], grads[i][1], grads[i][2]};
            double want = reference_update(&configs[c], initial[i], g, 3, 0.05);

            worst = fmax(worst, fabs(want - ((float *)w->value->data)[i]));
        }
        printf("optimizer %-18s max |param - reference| after 3 steps = %.3g\n", names[c], worst);
        /* f32 against double: updates of up to 0.5 per step leave about 1e-6. */
        CHECK(worst < 3e-6);
        advgnn_optim_free(opt);
        advgnn_nn_free(nn);
    }
}

static void test_schedules_and_clipping(advgnn_ctx *ctx)
{
    advgnn_lr_schedule step = {.kind = ADVGNN_LR_STEP, .lr = 0.1, .gamma = 0.5, .step_size = 10};
    advgnn_lr_schedule cosine = {.kind = ADVGNN_LR_COSINE, .lr = 1.0, .warmup_steps = 5, .total_steps = 105};
    advgnn_lr_schedule plateau = {.kind = ADVGNN_LR_PLATEAU, .lr = 1.0, .factor = 0.5, .patience = 2};
    advgnn_lr_schedule constant = {.kind = ADVGNN_LR_CONSTANT, .lr = 0.3};
    int64_t shape[4] = {1, 1, 1, 1};
    advgnn_conv2d_desc desc = {.out_channels = 1, .kernel_h = 1, .kernel_w = 1, .bias = 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *layer = NULL;

    CHECK_NEAR(advgnn_lr_at(&constant, 1000), 0.3, 1e-15);
    CHECK_NEAR(advgnn_lr_at(&step, 9), 0.1, 1e-15);
    CHECK_NEAR(advgnn_lr_at(&step, 25), 0.025, 1e-15);
    CHECK_NEAR(advgnn_lr_at(&cosine, 0), 0.2, 1e-15);
    CHECK_NEAR(advgnn_lr_at(&cosine, 4), 1.0, 1e-15);
    CHECK_NEAR(advgnn_lr_at(&cosine, 5), 1.0, 1e-15);
    CHECK_NEAR(advgnn_lr_at(&cosine, 55), 0.5, 1e-12);
    CHECK_NEAR(advgnn_lr_at(&cosine, 105), 0.0, 1e-12);
    CHECK_NEAR(advgnn_lr_at(&cosine, 500), 0.0, 1e-12);

    /* Improvement resets the count; the third observation without one
     * (more than patience 2) halves the rate. */
    advgnn_lr_observe(&plateau, 1.0);
    advgnn_lr_observe(&plateau, 0.9);
    advgnn_lr_observe(&plateau, 0.95);
    advgnn_lr_observe(&plateau, 0.95);
    CHECK_NEAR(advgnn_lr_at(&plateau, 0), 1.0, 1e-15);
    advgnn_lr_observe(&plateau, 0.95);
    CHECK_NEAR(advgnn_lr_at(&plateau, 0), 0.5, 1e-15);

    /* Gradients (3, 4) have norm 5; clipping to 1 scales them by 1 / 5. */
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "fc", ADVGNN_DTYPE_F32, shape, &desc, &layer));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    if (layer) {
        float *gw = advgnn_layer_param(layer, "weight")->grad->data, *gb = advgnn_layer_param(layer, "bias")->grad->data;

        gw[0] = 3;
        gb[0] = 4;
        CHECK_NEAR(advgnn_nn_clip_grad_norm(nn, 1.0), 5.0, 1e-12);
        CHECK_NEAR(gw[0], 0.6, 1e-6);
        CHECK_NEAR(gb[0], 0.8, 1e-6);
        CHECK_NEAR(advgnn_nn_clip_grad_norm(nn, 10.0), 1.0, 1e-6);
        CHECK_NEAR(gw[0], 0.6, 1e-6);
        advgnn_nn_zero_grads(nn);
        CHECK(gw[0] == 0);
        CHECK(gb[0] == 0);
    }
    advgnn_nn_free(nn);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    advgnn_ctx_set_threads(ctx, 2);
    test_losses(ctx);
    test_optimizers(ctx);
    test_schedules_and_clipping(ctx);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
