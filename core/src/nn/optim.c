/* Optimizers (SGD with momentum, Adam, AdamW, RMSprop) and learning-rate
 * schedules. The update rules follow PyTorch's torch.optim (2.x) with its
 * defaults for dampening (0) and without Nesterov or AMSGrad. */
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

struct advgnn_optim {
    advgnn_optim_config config; /* with defaults filled */
    advgnn_nn *nn;
    int64_t step;               /* updates done so far */
    float *state;               /* slots * (sum of trainable sizes) floats, zeroed */
    int slots;                  /* state values per parameter element */
};

static int fill_config(advgnn_ctx *ctx, const advgnn_optim_config *in, advgnn_optim_config *c)
{
    *c = *in;
    c->beta1 = c->beta1 ? c->beta1 : 0.9;
    c->beta2 = c->beta2 ? c->beta2 : 0.999;
    c->alpha = c->alpha ? c->alpha : 0.99;
    c->eps = c->eps ? c->eps : 1e-8;
    if (c->kind < ADVGNN_OPTIM_SGD || c->kind > ADVGNN_OPTIM_RMSPROP)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "optimizer: invalid kind %d", (int)c->kind);
    if (c->momentum < 0 || c->momentum >= 1 || c->beta1 < 0 || c->beta1 >= 1 || c->beta2 < 0 || c->beta2 >= 1 ||
        c->alpha < 0 || c->alpha >= 1 || c->eps <= 0 || c->weight_decay < 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "optimizer: invalid momentum %g, betas (%g, %g), alpha %g, eps %g or weight decay %g "
                            "(momentum and betas in [0, 1), eps > 0, weight decay >= 0)",
                            c->momentum, c->beta1, c->beta2, c->alpha, c->eps, c->weight_decay);
    return ADVGNN_OK;
}

int advgnn_optim_new(advgnn_ctx *ctx, advgnn_nn *nn, const advgnn_optim_config *config, advgnn_optim **out)
{
    advgnn_optim *opt;
    size_t total = 0;
    int rc;

    *out = NULL;
    if (!nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "optimizer: call advgnn_nn_commit first");
    opt = advgnn_calloc(1, sizeof(*opt));
    if (!opt)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "optimizer: out of memory");
    rc = fill_config(ctx, config, &opt->config);
    if (rc != ADVGNN_OK) {
        advgnn_free(opt);
        return rc;
    }
    opt->nn = nn;
    opt->slots = opt->config.kind == ADVGNN_OPTIM_SGD ? 1 : 2;

    /* One block for all state, sized once from the parameter count. */
    for (size_t i = 0; i < nn->param_count; i++) {
        if (nn->params[i]->pub.grad)
            total += (size_t)advgnn_tensor_numel(&nn->params[i]->value);
    }
    opt->state = advgnn_aligned_alloc(total * opt->slots * sizeof(float));
    if (!opt->state) {
        size_t values = total * opt->slots;

        advgnn_free(opt);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "optimizer: out of memory for %zu state values", values);
    }
    memset(opt->state, 0, total * opt->slots * sizeof(float));
    *out = opt;
    return ADVGNN_OK;
}

void advgnn_optim_free(advgnn_optim *opt)
{
    if (!opt)
        return;
    advgnn_aligned_free(opt->state);
    advgnn_free(opt);
}

/* ---- update rules ------------------------------------------------------ */

static void update_sgd(const advgnn_optim_config *c, double lr, float *p, const float *g, float *buf, int64_t n)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i] + (float)c->weight_decay * p[i];

        if (c->momentum > 0) {
            buf[i] = (float)c->momentum * buf[i] + grad;
            grad = buf[i];
        }
        p[i] -= (float)lr * grad;
    }
}

static void update_adam(const advgnn_optim_config *c, double lr, int64_t step, float *p, const float *g, float *m,
                        float *v, int64_t n)
{
    double correction1 = 1.0 - pow(c->beta1, (double)step), correction2 = 1.0 - pow(c->beta2, (double)step);
    float b1 = (float)c->beta1, b2 = (float)c->beta2, step_size = (float)(lr / correction1);
    float root2 = (float)sqrt(correction2), eps = (float)c->eps;
    int decoupled = c->kind == ADVGNN_OPTIM_ADAMW;

#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i];

        if (decoupled)
            p[i] *= 1.0f - (float)(lr * c->weight_decay);
        else
            grad += (float)c->weight_decay * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * grad;
        v[i] = b2 * v[i] + (1.0f - b2) * grad * grad;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / root2 + eps);
    }
}

static void update_rmsprop(const advgnn_optim_config *c, double lr, float *p, const float *g, float *v, float *buf,
                           int64_t n)
{
    float alpha = (float)c->alpha, eps = (float)c->eps;

#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i] + (float)c->weight_decay * p[i], step;

        v[i] = alpha * v[i] + (1.0f - alpha) * grad * grad;
        step = grad / (sqrtf(v[i]) + eps);
        if (c->momentum > 0) {
            buf[i] = (float)c->momentum * buf[i] + step;
            step = buf[i];
        }
        p[i] -= (float)lr * step;
    }
}

int advgnn_optim_step(advgnn_optim *opt, advgnn_ctx *ctx, double lr)
{
    advgnn_nn *nn = opt->nn;
    size_t offset = 0, total = 0;

    if (!(lr >= 0) || !isfinite(lr))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "optimizer: invalid learning rate %g", lr);
    for (size_t i = 0; i < nn->param_count; i++) {
        if (nn->params[i]->pub.grad)
            total += (size_t)advgnn_tensor_numel(&nn->params[i]->value);
    }
    opt->step++;

    for (size_t i = 0; i < nn->param_count; i++) {
        nn_param *param = nn->params[i];
        int64_t n = advgnn_tensor_numel(&param->value);
        float *p = param->value.data, *first = opt->state + offset, *second = opt->state + total + offset;
        const float *g = param->grad.data;

        if (!param->pub.grad)
            continue;
        switch (opt->config.kind) {
        case ADVGNN_OPTIM_SGD: update_sgd(&opt->config, lr, p, g, first, n); break;
        case ADVGNN_OPTIM_RMSPROP: update_rmsprop(&opt->config, lr, p, g, first, second, n); break;
        default: update_adam(&opt->config, lr, opt->step, p, g, first, second, n); break;
        }
        offset += (size_t)n;
    }
    return ADVGNN_OK;
}

/* ---- learning-rate schedules ------------------------------------------- */

double advgnn_lr_at(const advgnn_lr_schedule *s, int64_t step)
{
    switch (s->kind) {
    case ADVGNN_LR_STEP:
        return s->step_size > 0 ? s->lr * pow(s->gamma, (double)(step / s->step_size)) : s->lr;
    case ADVGNN_LR_COSINE: {
        double progress;

        if (step < s->warmup_steps)
            return s->lr * (double)(step + 1) / s->warmup_steps;
        progress = s->total_steps > s->warmup_steps
                       ? (double)(step - s->warmup_steps) / (s->total_steps - s->warmup_steps)
                       : 1.0;
        progress = progress > 1.0 ? 1.0 : progress;
        return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
    }
    case ADVGNN_LR_PLATEAU:
        return s->observed ? s->current : s->lr;
    default:
        return s->lr;
    }
}

/* PyTorch's ReduceLROnPlateau in "min" mode with a relative threshold: a loss
 * below best * (1 - threshold) is an improvement, and more than `patience`
 * observations without one multiply the rate by `factor`. */
void advgnn_lr_observe(advgnn_lr_schedule *s, double loss)
{
    double threshold = s->threshold ? s->threshold : 1e-4, factor = s->factor ? s->factor : 0.1;

    if (s->kind != ADVGNN_LR_PLATEAU)
        return;
    if (!s->observed) {
        s->observed = 1;
        s->current = s->lr;
        s->best = loss;
        s->bad_count = 0;
        return;
    }
    if (loss < s->best * (1.0 - threshold)) {
        s->best = loss;
        s->bad_count = 0;
        return;
    }
    if (++s->bad_count > s->patience) {
        s->current = fmax(s->current * factor, s->min_lr);
        s->bad_count = 0;
    }
}
