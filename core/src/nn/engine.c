/* The nn engine: oneDNN engine and stream, arenas, parameters, and the steps
 * (primitive + bound arguments) from which every layer is built. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "advgnn/rng.h"
#include "nn/nn_internal.h"

#define NN_ALIGN 64 /* bytes; every carved buffer starts on a cache line */

static size_t align_up(size_t n)
{
    return (n + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
}

/* Grows *items (of `size` bytes each) so that one more fits. */
static int grow(advgnn_ctx *ctx, void **items, size_t *capacity, size_t count, size_t size)
{
    size_t cap = *capacity ? *capacity * 2 : 16;
    void *p;

    if (count < *capacity)
        return ADVGNN_OK;
    p = advgnn_realloc(*items, cap * size);
    if (!p)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory growing an nn list to %zu entries", cap);
    *items = p;
    *capacity = cap;
    return ADVGNN_OK;
}

int nn_check(advgnn_ctx *ctx, dnnl_status_t st, const advgnn_layer *layer, const char *what)
{
    if (st == dnnl_success)
        return ADVGNN_OK;
    return advgnn_failf(ctx, ADVGNN_ERR_BACKEND, "layer %s: oneDNN failed in %s: %s", layer ? layer->name : "(none)",
                        what, dnnl_status2str(st));
}

dnnl_data_type_t nn_dnnl_dtype(advgnn_dtype dtype)
{
    return dtype == ADVGNN_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* ---- bf16 support -------------------------------------------------------- */

/* oneDNN 2.6 has bf16 kernels only for CPUs with AVX-512: native with
 * AVX512_BF16 or AMX, emulated with AVX512_CORE. Below that (AVX2, or
 * ONEDNN_MAX_CPU_ISA=AVX2) every bf16 primitive is "unimplemented". The
 * probe requests the two primitive kinds every bf16 network needs, a 3x3
 * convolution and an eltwise GELU. It runs once per process because oneDNN
 * reads its ISA limit once too. */
static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;
static int bf16_available;

static int probe_primitive(dnnl_engine_t engine, const void *op_desc)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, op_desc, NULL, engine, NULL);

    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success;
}

static void probe_bf16(void)
{
    const dnnl_dims_t src_dims = {1, 16, 8, 8}, w_dims = {16, 16, 3, 3}, strides = {1, 1}, pad = {1, 1};
    dnnl_memory_desc_t src, weights, dst, plain;
    dnnl_convolution_desc_t conv;
    dnnl_eltwise_desc_t gelu;
    dnnl_engine_t engine = NULL;
    int ok;

    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        return;
    ok = dnnl_memory_desc_init_by_tag(&src, 4, src_dims, dnnl_bf16, dnnl_format_tag_any) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(&weights, 4, w_dims, dnnl_bf16, dnnl_format_tag_any) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(&dst, 4, src_dims, dnnl_bf16, dnnl_format_tag_any) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(&plain, 4, src_dims, dnnl_bf16, dnnl_nchw) == dnnl_success;
    ok = ok && dnnl_convolution_forward_desc_init(&conv, dnnl_forward_training, dnnl_convolution_direct, &src,
                                                  &weights, NULL, &dst, strides, pad, pad) == dnnl_success;
    ok = ok && dnnl_eltwise_forward_desc_init(&gelu, dnnl_forward_training, dnnl_eltwise_gelu_erf, &plain, 0.f,
                                              0.f) == dnnl_success;
    bf16_available = ok && probe_primitive(engine, &conv) && probe_primitive(engine, &gelu);
    dnnl_engine_destroy(engine);
}

int advgnn_nn_bf16_supported(void)
{
    pthread_once(&bf16_once, probe_bf16);
    return bf16_available;
}

int nn_check_bf16(advgnn_ctx *ctx, const char *what, const char *name)
{
    if (advgnn_nn_bf16_supported())
        return ADVGNN_OK;
    return advgnn_failf(ctx, ADVGNN_ERR_BACKEND,
                        "%s %s: bf16 needs a CPU with AVX-512 (AVX512_BF16 or AMX for full speed), because oneDNN "
                        "%d.%d has no bf16 kernels below it, and this CPU or ONEDNN_MAX_CPU_ISA offers less; use f32",
                        what, name, DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR);
}

/* ---- lifetime ---------------------------------------------------------- */

int advgnn_nn_new(advgnn_ctx *ctx, advgnn_nn **out)
{
    advgnn_nn *nn = advgnn_calloc(1, sizeof(*nn));
    int rc;

    *out = NULL;
    if (!nn)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating an nn engine");

    rc = nn_check(ctx, dnnl_engine_create(&nn->engine, dnnl_cpu, 0), NULL, "engine creation");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_stream_create(&nn->stream, nn->engine, dnnl_stream_default_flags), NULL,
                      "stream creation");
    if (rc != ADVGNN_OK) {
        advgnn_nn_free(nn);
        return rc;
    }
    *out = nn;
    return ADVGNN_OK;
}

static void steps_free(nn_steps *steps)
{
    for (int i = 0; i < steps->count; i++) {
        nn_step *s = &steps->items[i];

        for (int a = 0; a < s->nargs; a++)
            dnnl_memory_destroy(s->args[a].memory);
        dnnl_primitive_destroy(s->prim);
    }
    advgnn_free(steps->items);
    memset(steps, 0, sizeof(*steps));
}

static void layer_free(advgnn_layer *layer)
{
    if (layer->ops && layer->ops->destroy)
        layer->ops->destroy(layer);
    steps_free(&layer->fwd);
    steps_free(&layer->fwd_infer);
    steps_free(&layer->bwd_data);
    steps_free(&layer->bwd_weights);
    advgnn_free(layer->name);
    advgnn_free(layer);
}

void advgnn_nn_free(advgnn_nn *nn)
{
    if (!nn)
        return;
    for (size_t i = 0; i < nn->layer_count; i++)
        layer_free(nn->layers[i]);
    for (size_t i = 0; i < nn->param_count; i++) {
        advgnn_free((char *)nn->params[i]->pub.name);
        advgnn_free(nn->params[i]);
    }
    for (size_t i = 0; i < nn->cell_count; i++)
        advgnn_free(nn->cells[i]);
    for (int a = 0; a < ADVGNN_NN_ARENA_COUNT; a++)
        advgnn_aligned_free(nn->arena[a]);
    advgnn_free(nn->layers);
    advgnn_free(nn->params);
    advgnn_free(nn->reservations);
    advgnn_free(nn->cells);
    if (nn->stream)
        dnnl_stream_destroy(nn->stream);
    if (nn->engine)
        dnnl_engine_destroy(nn->engine);
    advgnn_free(nn);
}

/* ---- arenas ------------------------------------------------------------ */

int nn_reserve(advgnn_nn *nn, advgnn_ctx *ctx, advgnn_layer *layer, advgnn_nn_arena arena, size_t bytes,
               void **slot)
{
    nn_reservation *r;
    int rc;

    if (nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "nn: cannot reserve memory after advgnn_nn_commit");
    rc = grow(ctx, (void **)&nn->reservations, &nn->reservation_capacity, nn->reservation_count, sizeof(*r));
    if (rc != ADVGNN_OK)
        return rc;

    r = &nn->reservations[nn->reservation_count++];
    r->arena = arena;
    r->slot = slot;
    *slot = NULL;
    if (arena == ADVGNN_NN_ARENA_SCRATCH) {
        /* Layers run one at a time, so their scratch regions overlap. */
        r->offset = layer->scratch_bytes;
        layer->scratch_bytes += align_up(bytes);
        if (layer->scratch_bytes > nn->arena_used[arena])
            nn->arena_used[arena] = layer->scratch_bytes;
    } else {
        r->offset = nn->arena_used[arena];
        nn->arena_used[arena] += align_up(bytes);
    }
    return ADVGNN_OK;
}

int nn_reserve_tensor(advgnn_nn *nn, advgnn_ctx *ctx, advgnn_layer *layer, advgnn_nn_arena arena, advgnn_tensor *t,
                      advgnn_dtype dtype, int ndim, const int64_t *shape)
{
    *t = advgnn_tensor_view(NULL, dtype, ndim, shape);
    return nn_reserve(nn, ctx, layer, arena, (size_t)advgnn_tensor_numel(t) * advgnn_dtype_size(dtype), &t->data);
}

void **nn_cell_new(advgnn_nn *nn, advgnn_ctx *ctx)
{
    void **cell;

    if (grow(ctx, (void **)&nn->cells, &nn->cell_capacity, nn->cell_count, sizeof(*nn->cells)) != ADVGNN_OK)
        return NULL;
    cell = advgnn_calloc(1, sizeof(*cell));
    if (!cell) {
        advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating an nn buffer cell");
        return NULL;
    }
    nn->cells[nn->cell_count++] = cell;
    return cell;
}

/* Reserves the input gradients of layers that need them; called by commit. */
static int reserve_input_grads(advgnn_nn *nn, advgnn_ctx *ctx)
{
    for (size_t i = 0; i < nn->layer_count; i++) {
        advgnn_layer *l = nn->layers[i];

        for (int k = 0; l->input_grad_enabled && k < l->input_count; k++) {
            int rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->input_grad[k], l->dtype, 4,
                                       l->input_shape[k]);
            if (rc != ADVGNN_OK)
                return rc;
        }
    }
    return ADVGNN_OK;
}

int advgnn_nn_commit(advgnn_nn *nn, advgnn_ctx *ctx)
{
    size_t layer_scratch;
    int rc;

    if (nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "nn: advgnn_nn_commit was already called");
    rc = reserve_input_grads(nn, ctx);
    if (rc != ADVGNN_OK)
        return rc;

    /* The scratch arena is [oneDNN scratchpad][largest layer scratch region]. */
    layer_scratch = nn->arena_used[ADVGNN_NN_ARENA_SCRATCH];
    for (int a = 0; a < ADVGNN_NN_ARENA_COUNT; a++) {
        size_t bytes = nn->arena_used[a];

        if (a == ADVGNN_NN_ARENA_SCRATCH)
            bytes = align_up(nn->scratchpad_bytes) + layer_scratch;
        nn->arena_size[a] = bytes;
        nn->arena[a] = advgnn_aligned_alloc(bytes ? bytes : NN_ALIGN);
        if (!nn->arena[a])
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory allocating an nn arena of %zu bytes", bytes);
        memset(nn->arena[a], 0, bytes);
    }

    nn->scratchpad = nn->arena[ADVGNN_NN_ARENA_SCRATCH];
    for (size_t i = 0; i < nn->reservation_count; i++) {
        nn_reservation *r = &nn->reservations[i];
        size_t base = r->arena == ADVGNN_NN_ARENA_SCRATCH ? align_up(nn->scratchpad_bytes) : 0;

        *r->slot = (char *)nn->arena[r->arena] + base + r->offset;
    }
    nn->committed = 1;
    return ADVGNN_OK;
}

size_t advgnn_nn_arena_bytes(const advgnn_nn *nn, advgnn_nn_arena arena)
{
    return arena >= 0 && arena < ADVGNN_NN_ARENA_COUNT ? nn->arena_size[arena] : 0;
}

/* ---- parameters -------------------------------------------------------- */

int nn_param_new(advgnn_layer *layer, advgnn_ctx *ctx, const char *suffix, int ndim, const int64_t *shape,
                 int trainable, nn_init init, double fan_in, nn_param **out)
{
    advgnn_nn *nn = layer->nn;
    size_t len = strlen(layer->name) + strlen(suffix) + 2;
    nn_param *p;
    char *name;
    int rc;

    rc = grow(ctx, (void **)&nn->params, &nn->param_capacity, nn->param_count, sizeof(*nn->params));
    if (rc != ADVGNN_OK)
        return rc;
    p = advgnn_calloc(1, sizeof(*p));
    name = advgnn_malloc(len);
    if (!p || !name) {
        advgnn_free(p);
        advgnn_free(name);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating parameter %s.%s", layer->name, suffix);
    }
    snprintf(name, len, "%s.%s", layer->name, suffix);
    p->pub.name = name;
    p->pub.value = &p->value;
    p->pub.grad = trainable ? &p->grad : NULL;
    p->init = init;
    p->fan_in = fan_in;
    nn->params[nn->param_count++] = p;
    layer->param_count++;

    rc = nn_reserve_tensor(nn, ctx, layer, ADVGNN_NN_ARENA_PARAMS, &p->value, ADVGNN_DTYPE_F32, ndim, shape);
    if (rc == ADVGNN_OK && trainable)
        rc = nn_reserve_tensor(nn, ctx, layer, ADVGNN_NN_ARENA_GRADS, &p->grad, ADVGNN_DTYPE_F32, ndim, shape);
    *out = p;
    return rc;
}

size_t advgnn_nn_param_count(const advgnn_nn *nn)
{
    return nn->param_count;
}

const advgnn_nn_param *advgnn_nn_param_at(const advgnn_nn *nn, size_t index)
{
    return index < nn->param_count ? &nn->params[index]->pub : NULL;
}

const advgnn_nn_param *advgnn_nn_param_find(const advgnn_nn *nn, const char *name)
{
    for (size_t i = 0; i < nn->param_count; i++) {
        if (strcmp(nn->params[i]->pub.name, name) == 0)
            return &nn->params[i]->pub;
    }
    return NULL;
}

int advgnn_nn_init_params(advgnn_nn *nn, advgnn_ctx *ctx, uint64_t seed)
{
    advgnn_rng rng;

    if (!nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "nn: call advgnn_nn_commit before advgnn_nn_init_params");
    advgnn_rng_seed(&rng, seed);

    /* One stream in creation order, so the values depend only on the seed and
     * the architecture. */
    for (size_t i = 0; i < nn->param_count; i++) {
        nn_param *p = nn->params[i];
        float *v = p->value.data;
        int64_t n = advgnn_tensor_numel(&p->value);
        double bound = p->fan_in > 0 ? 1.0 / sqrt(p->fan_in) : 0.0;

        for (int64_t j = 0; j < n; j++) {
            if (p->init == NN_INIT_FAN_IN)
                v[j] = (float)((2.0 * advgnn_rng_uniform(&rng) - 1.0) * bound);
            else
                v[j] = p->init == NN_INIT_ONE ? 1.0f : 0.0f;
        }
    }
    return ADVGNN_OK;
}

void advgnn_nn_zero_grads(advgnn_nn *nn)
{
    for (size_t i = 0; i < nn->param_count; i++) {
        advgnn_tensor *g = nn->params[i]->pub.grad;

        if (g && g->data)
            memset(g->data, 0, (size_t)advgnn_tensor_numel(g) * sizeof(float));
    }
}

double advgnn_nn_clip_grad_norm(advgnn_nn *nn, double max_norm)
{
    double sum = 0.0, norm, scale;

    for (size_t i = 0; i < nn->param_count; i++) {
        const advgnn_tensor *g = nn->params[i]->pub.grad;
        const float *d = g ? g->data : NULL;
        int64_t n = g ? advgnn_tensor_numel(g) : 0;

        for (int64_t j = 0; d && j < n; j++)
            sum += (double)d[j] * d[j];
    }
    norm = sqrt(sum);
    if (!(norm > max_norm) || max_norm <= 0)
        return norm;

    /* PyTorch's clip_grad_norm_ adds 1e-6 to the norm in the same place. */
    scale = max_norm / (norm + 1e-6);
    for (size_t i = 0; i < nn->param_count; i++) {
        advgnn_tensor *g = nn->params[i]->pub.grad;
        float *d = g ? g->data : NULL;
        int64_t n = g ? advgnn_tensor_numel(g) : 0;

        for (int64_t j = 0; d && j < n; j++)
            d[j] = (float)(d[j] * scale);
    }
    return norm;
}

/* ---- memory descriptors and primitives --------------------------------- */

int nn_md_nchw(advgnn_layer *layer, advgnn_ctx *ctx, dnnl_memory_desc_t *md, const int64_t shape[4],
               advgnn_dtype dtype, int any)
{
    dnnl_dims_t dims = {shape[0], shape[1], shape[2], shape[3]};

    return nn_check(ctx, dnnl_memory_desc_init_by_tag(md, 4, dims, nn_dnnl_dtype(dtype), any ? dnnl_format_tag_any : dnnl_nchw),
                    layer, "memory descriptor");
}

int nn_md_vector(advgnn_layer *layer, advgnn_ctx *ctx, dnnl_memory_desc_t *md, int64_t n)
{
    dnnl_dims_t dims = {n};

    return nn_check(ctx, dnnl_memory_desc_init_by_tag(md, 1, dims, dnnl_f32, dnnl_a), layer, "memory descriptor");
}

int nn_pd_create(advgnn_layer *layer, advgnn_ctx *ctx, dnnl_primitive_desc_t *pd, const void *op_desc,
                 const_dnnl_primitive_desc_t hint, const char *what)
{
    dnnl_primitive_attr_t attr = NULL;
    int rc;

    *pd = NULL;
    rc = nn_check(ctx, dnnl_primitive_attr_create(&attr), layer, what);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), layer, what);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_primitive_desc_create(pd, op_desc, attr, layer->nn->engine, hint), layer, what);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

int nn_step_add(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps, dnnl_primitive_desc_t pd, int *index)
{
    advgnn_nn *nn = layer->nn;
    const dnnl_memory_desc_t *scratch_md;
    size_t cap = (size_t)steps->capacity;
    nn_step *s;
    int rc;

    rc = grow(ctx, (void **)&steps->items, &cap, (size_t)steps->count, sizeof(*steps->items));
    if (rc != ADVGNN_OK)
        return rc;
    steps->capacity = (int)cap;
    s = &steps->items[steps->count];
    memset(s, 0, sizeof(*s));
    rc = nn_check(ctx, dnnl_primitive_create(&s->prim, pd), layer, "primitive creation");
    if (rc != ADVGNN_OK)
        return rc;
    *index = steps->count++;

    scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (scratch_md && dnnl_memory_desc_get_size(scratch_md) > 0) {
        size_t bytes = dnnl_memory_desc_get_size(scratch_md);

        if (bytes > nn->scratchpad_bytes)
            nn->scratchpad_bytes = bytes;
        return nn_step_arg(layer, ctx, steps, *index, DNNL_ARG_SCRATCHPAD, scratch_md, &nn->scratchpad);
    }
    return ADVGNN_OK;
}

int nn_step_arg(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps, int index, int arg,
                const dnnl_memory_desc_t *md, void **slot)
{
    nn_step *s = &steps->items[index];
    dnnl_memory_t mem;
    int rc;

    ADVGNN_ASSERT(s->nargs < NN_MAX_ARGS);
    rc = nn_check(ctx, dnnl_memory_create(&mem, md, layer->nn->engine, DNNL_MEMORY_NONE), layer, "memory creation");
    if (rc != ADVGNN_OK)
        return rc;
    s->args[s->nargs].arg = arg;
    s->args[s->nargs].memory = mem;
    s->slots[s->nargs] = slot;
    s->nargs++;
    return ADVGNN_OK;
}

int nn_connect(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps, const dnnl_memory_desc_t *user_md,
               const dnnl_memory_desc_t *prim_md, void **user_slot, int is_output, advgnn_nn_arena arena,
               void ***prim_slot)
{
    advgnn_nn *nn = layer->nn;
    dnnl_primitive_desc_t pd = NULL;
    void **buffer;
    int index, rc;

    if (dnnl_memory_desc_equal(user_md, prim_md)) {
        *prim_slot = user_slot;
        return ADVGNN_OK;
    }

    buffer = nn_cell_new(nn, ctx);
    if (!buffer)
        return ADVGNN_ERR_NOMEM;
    rc = nn_reserve(nn, ctx, layer, arena, dnnl_memory_desc_get_size(prim_md), buffer);
    if (rc != ADVGNN_OK)
        return rc;

    if (is_output)
        rc = nn_check(ctx, dnnl_reorder_primitive_desc_create(&pd, prim_md, nn->engine, user_md, nn->engine, NULL),
                      layer, "reorder creation");
    else
        rc = nn_check(ctx, dnnl_reorder_primitive_desc_create(&pd, user_md, nn->engine, prim_md, nn->engine, NULL),
                      layer, "reorder creation");
    if (rc == ADVGNN_OK)
        rc = nn_step_add(layer, ctx, steps, pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(layer, ctx, steps, index, DNNL_ARG_FROM, is_output ? prim_md : user_md,
                         is_output ? buffer : user_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(layer, ctx, steps, index, DNNL_ARG_TO, is_output ? user_md : prim_md,
                         is_output ? user_slot : buffer);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    *prim_slot = buffer;
    return rc;
}

int nn_steps_append(advgnn_ctx *ctx, nn_steps *to, nn_steps *from)
{
    for (int i = 0; i < from->count; i++) {
        size_t cap = (size_t)to->capacity;
        int rc = grow(ctx, (void **)&to->items, &cap, (size_t)to->count, sizeof(*to->items));

        if (rc != ADVGNN_OK)
            return rc;
        to->capacity = (int)cap;
        to->items[to->count++] = from->items[i];
    }
    from->count = 0;
    return ADVGNN_OK;
}

int nn_steps_run(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps)
{
    advgnn_nn *nn = layer->nn;
    int rc = ADVGNN_OK;

    for (int i = 0; i < steps->count && rc == ADVGNN_OK; i++) {
        nn_step *s = &steps->items[i];

        for (int a = 0; a < s->nargs && rc == ADVGNN_OK; a++)
            rc = nn_check(ctx, dnnl_memory_set_data_handle(s->args[a].memory, *s->slots[a]), layer, "binding memory");
        if (rc == ADVGNN_OK)
            rc = nn_check(ctx, dnnl_primitive_execute(s->prim, nn->stream, s->nargs, s->args), layer, "execution");
    }
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_stream_wait(nn->stream), layer, "stream wait");
    return rc;
}

/* ---- layers ------------------------------------------------------------ */

int nn_layer_new(advgnn_nn *nn, advgnn_ctx *ctx, size_t size, const nn_layer_ops *ops, const char *name,
                 advgnn_dtype dtype, int input_count, const int64_t (*input_shapes)[4], advgnn_layer **out)
{
    advgnn_layer *layer;
    int rc;

    *out = NULL;
    if (nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "nn: cannot add layer %s after advgnn_nn_commit",
                            name ? name : "(null)");
    if (!name || !*name)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "nn: a layer needs a non-empty name");
    if (dtype != ADVGNN_DTYPE_F32 && dtype != ADVGNN_DTYPE_BF16)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: dtype %d is not f32 or bf16", name, (int)dtype);
    if (dtype == ADVGNN_DTYPE_BF16 && (rc = nn_check_bf16(ctx, "layer", name)) != ADVGNN_OK)
        return rc;
    if (input_count < 1 || input_count > NN_MAX_INPUTS)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: %d inputs (1 to %d are supported)", name,
                            input_count, NN_MAX_INPUTS);
    for (int k = 0; k < input_count; k++) {
        for (int d = 0; d < 4; d++) {
            if (input_shapes[k][d] <= 0 || input_shapes[k][d] > INT32_MAX)
                return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: input %d has invalid dimension %d: %lld",
                                    name, k, d, (long long)input_shapes[k][d]);
        }
    }

    rc = grow(ctx, (void **)&nn->layers, &nn->layer_capacity, nn->layer_count, sizeof(*nn->layers));
    if (rc != ADVGNN_OK)
        return rc;
    layer = advgnn_calloc(1, size);
    if (!layer || !(layer->name = advgnn_strdup(name))) {
        advgnn_free(layer);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating layer %s", name);
    }
    layer->nn = nn;
    layer->ops = ops;
    layer->dtype = dtype;
    layer->input_count = input_count;
    layer->input_grad_enabled = 1;
    layer->first_param = nn->param_count;
    memcpy(layer->input_shape, input_shapes, (size_t)input_count * sizeof(input_shapes[0]));
    nn->layers[nn->layer_count++] = layer;
    *out = layer;
    return ADVGNN_OK;
}

int nn_check_tensor(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *t, advgnn_dtype dtype,
                    const int64_t shape[4], const char *what)
{
    if (!t || !t->data)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: %s is missing", layer->name, what);
    if (t->dtype != dtype || t->ndim != 4 || !advgnn_tensor_is_contiguous(t) || t->shape[0] != shape[0] ||
        t->shape[1] != shape[1] || t->shape[2] != shape[2] || t->shape[3] != shape[3])
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: %s must be a contiguous %s tensor of shape (%lld, %lld, %lld, %lld)",
                            layer->name, what, dtype == ADVGNN_DTYPE_BF16 ? "bf16" : "f32", (long long)shape[0],
                            (long long)shape[1], (long long)shape[2], (long long)shape[3]);
    return ADVGNN_OK;
}

int nn_check_inputs(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *const *inputs)
{
    for (int k = 0; k < layer->input_count; k++) {
        char what[32];
        int rc;

        snprintf(what, sizeof(what), "input %d", k);
        rc = nn_check_tensor(layer, ctx, inputs ? inputs[k] : NULL, layer->dtype, layer->input_shape[k], what);
        if (rc != ADVGNN_OK)
            return rc;
    }
    return ADVGNN_OK;
}

int advgnn_layer_forward(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *const *inputs,
                         advgnn_nn_mode mode)
{
    int rc;

    if (!layer->nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: call advgnn_nn_commit before forward", layer->name);
    if (mode != ADVGNN_NN_MODE_TRAINING && mode != ADVGNN_NN_MODE_INFERENCE)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: invalid mode %d", layer->name, (int)mode);
    rc = nn_check_inputs(layer, ctx, inputs);
    if (rc != ADVGNN_OK)
        return rc;

    for (int k = 0; k < layer->input_count; k++)
        layer->input_data[k] = inputs[k]->data;
    layer->trained = 0;
    if (layer->ops->forward)
        rc = layer->ops->forward(layer, ctx, mode);
    else if (mode == ADVGNN_NN_MODE_INFERENCE && layer->fwd_infer.count > 0)
        rc = nn_steps_run(layer, ctx, &layer->fwd_infer);
    else
        rc = nn_steps_run(layer, ctx, &layer->fwd);
    layer->trained = rc == ADVGNN_OK && mode == ADVGNN_NN_MODE_TRAINING;
    return rc;
}

int advgnn_layer_forward1(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *input, advgnn_nn_mode mode)
{
    const advgnn_tensor *inputs[1] = {input};

    return advgnn_layer_forward(layer, ctx, inputs, mode);
}

int advgnn_layer_backward(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *grad_output)
{
    int rc;

    if (!layer->trained)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: backward needs a preceding forward in training mode", layer->name);
    rc = nn_check_tensor(layer, ctx, grad_output, layer->dtype, layer->output.shape, "output gradient");
    if (rc != ADVGNN_OK)
        return rc;

    layer->grad_output_data = grad_output->data;
    if (layer->ops->backward)
        return layer->ops->backward(layer, ctx);
    if (layer->input_grad_enabled && layer->bwd_data.count > 0)
        rc = nn_steps_run(layer, ctx, &layer->bwd_data);
    if (rc == ADVGNN_OK && layer->bwd_weights.count > 0)
        rc = nn_steps_run(layer, ctx, &layer->bwd_weights);
    return rc;
}

void advgnn_layer_set_input_grad(advgnn_layer *layer, int enabled)
{
    if (!layer->nn->committed)
        layer->input_grad_enabled = enabled != 0;
}

const char *advgnn_layer_name(const advgnn_layer *layer)
{
    return layer->name;
}

int advgnn_layer_input_count(const advgnn_layer *layer)
{
    return layer->input_count;
}

const advgnn_tensor *advgnn_layer_output(const advgnn_layer *layer)
{
    return &layer->output;
}

const advgnn_tensor *advgnn_layer_input_grad(const advgnn_layer *layer, int index)
{
    if (index < 0 || index >= layer->input_count || !layer->input_grad_enabled)
        return NULL;
    return &layer->input_grad[index];
}

const advgnn_nn_param *advgnn_layer_param(const advgnn_layer *layer, const char *name)
{
    size_t prefix = strlen(layer->name);

    for (size_t i = 0; i < layer->param_count; i++) {
        const advgnn_nn_param *p = &layer->nn->params[layer->first_param + i]->pub;

        if (strcmp(p->name + prefix + 1, name) == 0)
            return p;
    }
    return NULL;
}

/* ---- bf16 -------------------------------------------------------------- */

void advgnn_f32_to_bf16(const float *src, uint16_t *dst, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;

        memcpy(&bits, &src[i], sizeof(bits));
        if ((bits & 0x7fffffffu) > 0x7f800000u) {
            dst[i] = (uint16_t)((bits >> 16) | 0x40u); /* keep NaN a quiet NaN */
            continue;
        }
        bits += 0x7fffu + ((bits >> 16) & 1u); /* round to nearest, ties to even */
        dst[i] = (uint16_t)(bits >> 16);
    }
}

void advgnn_bf16_to_f32(const uint16_t *src, float *dst, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;

        memcpy(&dst[i], &bits, sizeof(bits));
    }
}
