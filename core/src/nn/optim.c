/* Optimizers (SGD with momentum, Adam, AdamW, RMSprop) and learning-rate
 * schedules. The update rules follow PyTorch's torch.optim (2.x) with its
 * defaults for dampening (0) and without Nesterov or AMSGrad. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include "nn/nn_internal.h"

/* One exposed state tensor: a view into the state block. */
typedef struct optim_entry {
    advgnn_optim_state pub; /* pub.value points at `view` */
    advgnn_tensor view;     /* f32, the parameter's shape */
} optim_entry;

struct advgnn_optim {
    advgnn_optim_config config; /* with defaults filled */
    advgnn_nn *nn;
    int64_t step;               /* updates done so far */
    float *state;               /* slots * (sum of trainable sizes) floats, zeroed */
    int slots;                  /* state values per parameter element */
    optim_entry *entries;       /* (entry_count) the slots the update rule uses, named */
    size_t entry_count;
};

/* The state kinds of each slot, in PyTorch's names; NULL marks a slot the
 * configuration leaves unused (SGD or RMSprop without momentum). */
static void slot_names(const advgnn_optim_config *c, const char *names[2])
{
    names[0] = names[1] = NULL;
    switch (c->kind) {
    case ADVGNN_OPTIM_SGD:
        names[0] = c->momentum > 0 ? "momentum_buffer" : NULL;
        break;
    case ADVGNN_OPTIM_RMSPROP:
        names[0] = "square_avg";
        names[1] = c->momentum > 0 ? "momentum_buffer" : NULL;
        break;
    default:
        names[0] = "exp_avg";
        names[1] = "exp_avg_sq";
        break;
    }
}

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

/* Names the used slots of every trainable parameter, "<param>.<kind>", as
 * views into the state block. Slot k of the parameter at element offset o
 * starts at state + k * total + o, as advgnn_optim_step lays it out. */
static int build_entries(advgnn_optim *opt, advgnn_ctx *ctx, size_t total)
{
    advgnn_nn *nn = opt->nn;
    const char *kinds[2];
    size_t offset = 0, capacity = 0;

    slot_names(&opt->config, kinds);
    for (size_t i = 0; i < nn->param_count; i++)
        capacity += nn->params[i]->pub.grad ? 2 : 0;
    opt->entries = advgnn_calloc(capacity ? capacity : 1, sizeof(*opt->entries));
    if (!opt->entries)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "optimizer: out of memory for %zu state entries", capacity);

    for (size_t i = 0; i < nn->param_count; i++) {
        nn_param *param = nn->params[i];

        if (!param->pub.grad)
            continue;
        for (int k = 0; k < 2; k++) {
            optim_entry *e = &opt->entries[opt->entry_count];
            size_t len;
            char *name;

            if (!kinds[k])
                continue;
            len = strlen(param->pub.name) + strlen(kinds[k]) + 2;
            name = advgnn_malloc(len);
            if (!name)
                return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "optimizer: out of memory naming the state of %s",
                                    param->pub.name);
            snprintf(name, len, "%s.%s", param->pub.name, kinds[k]);
            e->view = advgnn_tensor_view(opt->state + (size_t)k * total + offset, ADVGNN_DTYPE_F32,
                                         param->value.ndim, param->value.shape);
            e->pub.name = name;
            e->pub.value = &e->view;
            opt->entry_count++;
        }
        offset += (size_t)advgnn_tensor_numel(&param->value);
    }
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
    rc = build_entries(opt, ctx, total);
    if (rc != ADVGNN_OK) {
        advgnn_optim_free(opt);
        return rc;
    }
    *out = opt;
    return ADVGNN_OK;
}

void advgnn_optim_free(advgnn_optim *opt)
{
    if (!opt)
        return;
    for (size_t i = 0; i < opt->entry_count; i++)
        advgnn_free((char *)opt->entries[i].pub.name);
    advgnn_free(opt->entries);
    advgnn_aligned_free(opt->state);
    advgnn_free(opt);
}

/* ---- update rules ------------------------------------------------------ */

/* The per-step factors of one update, rounded to f32 once per step. */
typedef struct update_factors {
    float lr, weight_decay, momentum;
    float beta1, beta2, rest1, rest2; /* Adam: betas and 1 - betas. RMSprop: alpha, 1 - alpha as beta2, rest2 */
    float step_size, root2, eps;      /* Adam: lr / (1 - beta1^t) and sqrt(1 - beta2^t) */
    float decay;                      /* AdamW: 1 - lr * weight_decay */
    int use_momentum;                 /* SGD and RMSprop: momentum > 0, tested before rounding to f32 */
} update_factors;

/* Every rule updates element i from elements i of p, g and the state only,
 * so the updates below split the elements freely across threads and vector
 * lanes. Each element goes through the operations of the scalar rule in
 * the same order, with every product rounded before its sum (the build's
 * -std=c11 implies -ffp-contract=off), so the results do not depend on the
 * thread count or the vector width. */

NN_VECTOR static void sgd_span(const update_factors *f, float *p, const float *g, float *buf, int64_t n)
{
    float lr = f->lr, weight_decay = f->weight_decay, momentum = f->momentum;

    if (f->use_momentum) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float grad = g[i] + weight_decay * p[i];

            buf[i] = momentum * buf[i] + grad;
            p[i] -= lr * buf[i];
        }
        return;
    }
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        p[i] -= lr * (g[i] + weight_decay * p[i]);
}

/* Adam and AdamW on one element, the reference for the vector kernel. */
static inline void adam_element(const update_factors *f, int decoupled, float *p, float grad, float *m, float *v)
{
    if (decoupled)
        *p *= f->decay;
    else
        grad += f->weight_decay * *p;
    *m = f->beta1 * *m + f->rest1 * grad;
    *v = f->beta2 * *v + f->rest2 * grad * grad;
    *p -= f->step_size * *m / (sqrtf(*v) / f->root2 + f->eps);
}

static inline void rmsprop_element(const update_factors *f, float *p, float grad, float *v, float *buf)
{
    float step;

    grad += f->weight_decay * *p;
    *v = f->beta2 * *v + f->rest2 * grad * grad;
    step = grad / (sqrtf(*v) + f->eps);
    if (f->use_momentum) {
        *buf = f->momentum * *buf + step;
        step = *buf;
    }
    *p -= f->lr * step;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define OPTIM_AVX2 1

/* The AVX2 kernels use intrinsics because GCC 12 keeps sqrtf scalar under
 * the default -fmath-errno, and an optimize("no-math-errno") attribute does
 * not change that. target("avx2") leaves FMA off, so every multiply and add
 * rounds as in the scalar rule. */
__attribute__((target("avx2"))) static int64_t adam_avx2(const update_factors *f, int decoupled, float *p,
                                                         const float *g, float *m, float *v, int64_t n)
{
    __m256 beta1 = _mm256_set1_ps(f->beta1), beta2 = _mm256_set1_ps(f->beta2);
    __m256 rest1 = _mm256_set1_ps(f->rest1), rest2 = _mm256_set1_ps(f->rest2);
    __m256 step_size = _mm256_set1_ps(f->step_size), root2 = _mm256_set1_ps(f->root2), eps = _mm256_set1_ps(f->eps);
    __m256 decay = _mm256_set1_ps(f->decay), weight_decay = _mm256_set1_ps(f->weight_decay);
    int64_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m256 param = _mm256_loadu_ps(p + i), grad = _mm256_loadu_ps(g + i), first, second, denom;

        if (decoupled)
            param = _mm256_mul_ps(param, decay);
        else
            grad = _mm256_add_ps(grad, _mm256_mul_ps(weight_decay, param));
        first = _mm256_add_ps(_mm256_mul_ps(beta1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(rest1, grad));
        second = _mm256_add_ps(_mm256_mul_ps(beta2, _mm256_loadu_ps(v + i)),
                               _mm256_mul_ps(_mm256_mul_ps(rest2, grad), grad));
        denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(second), root2), eps);
        param = _mm256_sub_ps(param, _mm256_div_ps(_mm256_mul_ps(step_size, first), denom));
        _mm256_storeu_ps(m + i, first);
        _mm256_storeu_ps(v + i, second);
        _mm256_storeu_ps(p + i, param);
    }
    return i;
}

__attribute__((target("avx2"))) static int64_t rmsprop_avx2(const update_factors *f, float *p, const float *g,
                                                            float *v, float *buf, int64_t n)
{
    __m256 alpha = _mm256_set1_ps(f->beta2), rest = _mm256_set1_ps(f->rest2), eps = _mm256_set1_ps(f->eps);
    __m256 lr = _mm256_set1_ps(f->lr), weight_decay = _mm256_set1_ps(f->weight_decay);
    __m256 momentum = _mm256_set1_ps(f->momentum);
    int use_momentum = f->use_momentum;
    int64_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m256 param = _mm256_loadu_ps(p + i), grad, square, step;

        grad = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(weight_decay, param));
        square = _mm256_add_ps(_mm256_mul_ps(alpha, _mm256_loadu_ps(v + i)),
                               _mm256_mul_ps(_mm256_mul_ps(rest, grad), grad));
        step = _mm256_div_ps(grad, _mm256_add_ps(_mm256_sqrt_ps(square), eps));
        if (use_momentum) {
            step = _mm256_add_ps(_mm256_mul_ps(momentum, _mm256_loadu_ps(buf + i)), step);
            _mm256_storeu_ps(buf + i, step);
        }
        _mm256_storeu_ps(v + i, square);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(param, _mm256_mul_ps(lr, step)));
    }
    return i;
}
#endif

static void adam_span(const update_factors *f, int decoupled, int avx2, float *p, const float *g, float *m, float *v,
                      int64_t n)
{
    int64_t i = 0;

#ifdef OPTIM_AVX2
    if (avx2)
        i = adam_avx2(f, decoupled, p, g, m, v, n);
#endif
    for (; i < n; i++)
        adam_element(f, decoupled, p + i, g[i], m + i, v + i);
}

static void rmsprop_span(const update_factors *f, int avx2, float *p, const float *g, float *v, float *buf, int64_t n)
{
    int64_t i = 0;

#ifdef OPTIM_AVX2
    if (avx2)
        i = rmsprop_avx2(f, p, g, v, buf, n);
#endif
    for (; i < n; i++)
        rmsprop_element(f, p + i, g[i], v + i, buf + i);
}

static void update_factors_set(const advgnn_optim_config *c, double lr, int64_t step, update_factors *f)
{
    double correction1 = 1.0 - pow(c->beta1, (double)step), correction2 = 1.0 - pow(c->beta2, (double)step);

    memset(f, 0, sizeof(*f));
    f->lr = (float)lr;
    f->weight_decay = (float)c->weight_decay;
    f->momentum = (float)c->momentum;
    f->use_momentum = c->momentum > 0;
    f->eps = (float)c->eps;
    if (c->kind == ADVGNN_OPTIM_RMSPROP) {
        f->beta2 = (float)c->alpha;
        f->rest2 = (float)(1.0 - c->alpha);
        return;
    }

    /* 1 - beta and the decay factor are rounded once from double, as
     * torch.optim does: 1.0f - 0.999f is 4.7e-5 larger than 0.001f. */
    f->beta1 = (float)c->beta1;
    f->beta2 = (float)c->beta2;
    f->rest1 = (float)(1.0 - c->beta1);
    f->rest2 = (float)(1.0 - c->beta2);
    f->step_size = (float)(lr / correction1);
    f->root2 = (float)sqrt(correction2);
    f->decay = (float)(1.0 - lr * c->weight_decay);
}

/* Updates elements [lo, hi) of the trainable parameters, counted in the
 * order of the state block, with the rule of the optimizer's kind. */
static void update_range(advgnn_optim *opt, const update_factors *f, size_t total, size_t lo, size_t hi, int avx2)
{
    advgnn_nn *nn = opt->nn;
    size_t offset = 0;

    for (size_t i = 0; i < nn->param_count && offset < hi; i++) {
        nn_param *param = nn->params[i];
        size_t n, from, to;
        float *p, *first, *second;
        const float *g;

        if (!param->pub.grad)
            continue;
        n = (size_t)advgnn_tensor_numel(&param->value);
        from = lo > offset ? lo - offset : 0;
        to = hi < offset + n ? hi - offset : n;
        if (from < to) {
            p = (float *)param->value.data + from;
            g = (const float *)param->grad.data + from;
            first = opt->state + offset + from;
            second = opt->state + total + offset + from;
            switch (opt->config.kind) {
            case ADVGNN_OPTIM_SGD: sgd_span(f, p, g, first, (int64_t)(to - from)); break;
            case ADVGNN_OPTIM_RMSPROP: rmsprop_span(f, avx2, p, g, first, second, (int64_t)(to - from)); break;
            default:
                adam_span(f, opt->config.kind == ADVGNN_OPTIM_ADAMW, avx2, p, g, first, second, (int64_t)(to - from));
                break;
            }
        }
        offset += n;
    }
}

int advgnn_optim_step(advgnn_optim *opt, advgnn_ctx *ctx, double lr)
{
    advgnn_nn *nn = opt->nn;
    update_factors factors;
    size_t total = 0;
    int avx2 = 0;

    if (!(lr >= 0) || !isfinite(lr))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "optimizer: invalid learning rate %g", lr);
    for (size_t i = 0; i < nn->param_count; i++) {
        if (nn->params[i]->pub.grad)
            total += (size_t)advgnn_tensor_numel(&nn->params[i]->value);
    }
    opt->step++;
    update_factors_set(&opt->config, lr, opt->step, &factors);
#ifdef OPTIM_AVX2
    avx2 = __builtin_cpu_supports("avx2");
#endif

    /* One parallel region for all parameters: each thread takes an equal
     * share of the elements, which may start or end inside a tensor. */
#pragma omp parallel
    {
        size_t share = total, lo = 0;

#ifdef _OPENMP
        share = (total + (size_t)omp_get_num_threads() - 1) / (size_t)omp_get_num_threads();
        lo = share * (size_t)omp_get_thread_num();
#endif
        if (lo < total)
            update_range(opt, &factors, total, lo, lo + share < total ? lo + share : total, avx2);
    }
    return ADVGNN_OK;
}

/* ---- state --------------------------------------------------------------- */

#define OPTIM_META_KIND "optimizer"
#define OPTIM_META_STEP "step"

size_t advgnn_optim_state_count(const advgnn_optim *opt)
{
    return opt->entry_count;
}

const advgnn_optim_state *advgnn_optim_state_at(const advgnn_optim *opt, size_t index)
{
    return index < opt->entry_count ? &opt->entries[index].pub : NULL;
}

const advgnn_optim_state *advgnn_optim_state_find(const advgnn_optim *opt, const char *name)
{
    for (size_t i = 0; i < opt->entry_count; i++) {
        if (strcmp(opt->entries[i].pub.name, name) == 0)
            return &opt->entries[i].pub;
    }
    return NULL;
}

static int same_shape(const advgnn_tensor *a, const advgnn_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] != b->shape[d])
            return 0;
    }
    return 1;
}

/* Formats a shape as "[2,3,1,1]" for messages; truncated to fit `size`. */
static const char *shape_text(const advgnn_tensor *t, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "[");

    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    if (used < size)
        snprintf(out + used, size - used, "]");
    return out;
}

int advgnn_optim_state_set(advgnn_optim *opt, advgnn_ctx *ctx, const char *name, const advgnn_tensor *src)
{
    const advgnn_optim_state *entry = advgnn_optim_state_find(opt, name);
    char have[96], given[96];

    if (!entry)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "optimizer: no state tensor %s in this %s optimizer (see advgnn_optim_state_at for the "
                            "names)",
                            name, advgnn_optim_kind_name(opt->config.kind));
    if (src->dtype != ADVGNN_DTYPE_F32 || !advgnn_tensor_is_contiguous(src))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "optimizer: state tensor %s must be set from contiguous f32 data", name);
    if (!same_shape(src, entry->value))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "optimizer: state tensor %s has shape %s, the value given %s",
                            name, shape_text(entry->value, have, sizeof(have)), shape_text(src, given, sizeof(given)));
    memcpy(entry->value->data, src->data, (size_t)advgnn_tensor_numel(src) * sizeof(float));
    return ADVGNN_OK;
}

advgnn_optim_kind advgnn_optim_get_kind(const advgnn_optim *opt)
{
    return opt->config.kind;
}

const char *advgnn_optim_kind_name(advgnn_optim_kind kind)
{
    switch (kind) {
    case ADVGNN_OPTIM_SGD: return "sgd";
    case ADVGNN_OPTIM_ADAM: return "adam";
    case ADVGNN_OPTIM_ADAMW: return "adamw";
    case ADVGNN_OPTIM_RMSPROP: return "rmsprop";
    default: return "invalid";
    }
}

int64_t advgnn_optim_step_count(const advgnn_optim *opt)
{
    return opt->step;
}

int advgnn_optim_set_step_count(advgnn_optim *opt, advgnn_ctx *ctx, int64_t steps)
{
    if (steps < 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "optimizer: invalid step count %" PRId64 " (must be >= 0)",
                            steps);
    opt->step = steps;
    return ADVGNN_OK;
}

/* The state entries as safetensors entries (borrowed names and tensors). */
static nn_st_entry *file_entries(advgnn_optim *opt, advgnn_ctx *ctx, const char *path)
{
    nn_st_entry *entries = advgnn_calloc(opt->entry_count ? opt->entry_count : 1, sizeof(*entries));

    if (!entries) {
        advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the optimizer state of %s", path);
        return NULL;
    }
    for (size_t i = 0; i < opt->entry_count; i++) {
        entries[i].name = opt->entries[i].pub.name;
        entries[i].value = &opt->entries[i].view;
    }
    return entries;
}

/* Hyperparameters written beside the state, in the order of `hyper_values`. */
static const char *const hyper_names[] = {"momentum", "beta1", "beta2", "alpha", "eps", "weight_decay"};
#define HYPER_COUNT (sizeof(hyper_names) / sizeof(hyper_names[0]))

static void hyper_values(const advgnn_optim_config *c, double values[HYPER_COUNT])
{
    values[0] = c->momentum;
    values[1] = c->beta1;
    values[2] = c->beta2;
    values[3] = c->alpha;
    values[4] = c->eps;
    values[5] = c->weight_decay;
}

int advgnn_optim_save(advgnn_optim *opt, advgnn_ctx *ctx, const char *path)
{
    char step[24], hyper_text[HYPER_COUNT][32];
    const char *metadata[2 * (2 + HYPER_COUNT) + 1];
    double values[HYPER_COUNT];
    nn_st_entry *entries = file_entries(opt, ctx, path);
    size_t used = 0;
    int rc;

    if (!entries)
        return ADVGNN_ERR_NOMEM;

    /* Key and value pairs; %.17g reads back as the same double. */
    snprintf(step, sizeof(step), "%" PRId64, opt->step);
    metadata[used++] = OPTIM_META_KIND;
    metadata[used++] = advgnn_optim_kind_name(opt->config.kind);
    metadata[used++] = OPTIM_META_STEP;
    metadata[used++] = step;
    hyper_values(&opt->config, values);
    for (size_t i = 0; i < HYPER_COUNT; i++) {
        snprintf(hyper_text[i], sizeof(hyper_text[i]), "%.17g", values[i]);
        metadata[used++] = hyper_names[i];
        metadata[used++] = hyper_text[i];
    }
    metadata[used] = NULL;

    rc = nn_st_save(ctx, "optimizer state file", path, metadata, entries, opt->entry_count);
    advgnn_free(entries);
    return rc;
}

/* Logs a warning for each hyperparameter of the file that differs from the
 * optimizer's: a resume with other settings is allowed, but it no longer
 * continues the run that wrote the file. */
static void warn_changed_hyperparameters(const advgnn_optim *opt, advgnn_ctx *ctx, const nn_st_file *sf)
{
    double values[HYPER_COUNT];

    hyper_values(&opt->config, values);
    for (size_t i = 0; i < HYPER_COUNT; i++) {
        const char *text = nn_st_metadata(sf, hyper_names[i]);
        char *end = NULL;
        double saved = text ? strtod(text, &end) : values[i];

        if (text && end != text && *end == '\0' && saved != values[i])
            advgnn_log(ctx, ADVGNN_LOG_WARN,
                       "optimizer state file %s was written with %s %g, this optimizer uses %g; training continues "
                       "with %g",
                       sf->path, hyper_names[i], saved, values[i], values[i]);
    }
}

/* Checks the kind and parses the step count of an opened state file. */
static int read_metadata(advgnn_optim *opt, advgnn_ctx *ctx, const nn_st_file *sf, int64_t *step)
{
    const char *kind = nn_st_metadata(sf, OPTIM_META_KIND), *text = nn_st_metadata(sf, OPTIM_META_STEP);
    const char *expected = advgnn_optim_kind_name(opt->config.kind);
    char *end = NULL;
    long long value;

    if (!kind)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "optimizer state file %s: __metadata__ has no \"%s\" entry; write the file with "
                            "advgnn_optim_save",
                            sf->path, OPTIM_META_KIND);
    if (strcmp(kind, expected) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "optimizer state file %s holds %s state, but the optimizer is %s; resume with the "
                            "optimizer that wrote it",
                            sf->path, kind, expected);
    errno = 0;
    value = text ? strtoll(text, &end, 10) : -1;
    if (!text || errno != 0 || end == text || *end != '\0' || value < 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "optimizer state file %s: __metadata__ \"%s\" is %s%s%s, expected a step count >= 0",
                            sf->path, OPTIM_META_STEP, text ? "'" : "", text ? text : "missing", text ? "'" : "");
    *step = (int64_t)value;
    return ADVGNN_OK;
}

int advgnn_optim_load(advgnn_optim *opt, advgnn_ctx *ctx, const char *path)
{
    nn_st_entry *entries = file_entries(opt, ctx, path);
    nn_st_file sf;
    int64_t step = 0;
    int rc;

    if (!entries)
        return ADVGNN_ERR_NOMEM;
    rc = nn_st_open(ctx, "optimizer state file", "optimizer", path, &sf);
    if (rc == ADVGNN_OK)
        rc = read_metadata(opt, ctx, &sf, &step);
    if (rc == ADVGNN_OK)
        rc = nn_st_read(ctx, &sf, entries, opt->entry_count);

    /* The step count changes only with the tensors, after every check passed. */
    if (rc == ADVGNN_OK) {
        opt->step = step;
        warn_changed_hyperparameters(opt, ctx, &sf);
    }
    nn_st_close(&sf);
    advgnn_free(entries);
    return rc;
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
