/* Private structures of the nn engine, shared by the layer files and by the
 * graph module's max-relative aggregation layer. */
#ifndef ADVGNN_NN_INTERNAL_H
#define ADVGNN_NN_INTERNAL_H

#include <stdio.h>

#include <oneapi/dnnl/dnnl.h>

#include "advgnn/nn.h"
#include "util/internal.h"

/* Compiles a hot loop of the engine's own kernels for AVX-512, AVX2 and the
 * baseline x86-64, picked at load time, because the library is built without
 * -march. Loops inside carry `#pragma omp simd` so GCC vectorizes them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NN_VECTOR __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_VECTOR
#endif

/* Widens one bf16 value to f32 (exact). */
static inline float nn_bf16_load(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};

    return v.f;
}

/* Rounds one f32 value to bf16, to nearest with ties to even, as
 * advgnn_f32_to_bf16 does (NaN stays a quiet NaN). Written without branches
 * so that loops calling it vectorize. */
static inline uint16_t nn_bf16_round(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {f};
    uint32_t rounded = (v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (v.u >> 16) | 0x40u;

    return (uint16_t)((v.u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

/* Element accessors for kernels written once for both storage types:
 * NN_LOAD_*(p, i) reads element i of p as f32, NN_STORE_*(p, i, v) writes the
 * f32 value v there (bf16 rounds to nearest even). */
#define NN_LOAD_F32(p, i) ((p)[i])
#define NN_STORE_F32(p, i, v) ((p)[i] = (v))
#define NN_LOAD_BF16(p, i) nn_bf16_load((p)[i])
#define NN_STORE_BF16(p, i, v) ((p)[i] = nn_bf16_round(v))

#define NN_MAX_ARGS 12   /* execution arguments of one primitive */
#define NN_MAX_INPUTS 8  /* inputs of one layer (concat is the widest) */

/* One primitive with its execution arguments. Each memory object is created
 * without a buffer, and `slots[i]` is where the data pointer lives at
 * execution time: a tensor's data field, a borrowed input, a scratch buffer. */
typedef struct nn_step {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[NN_MAX_ARGS];
    void **slots[NN_MAX_ARGS];
} nn_step;

/* An ordered list of steps run as one unit (a forward, a backward-data pass). */
typedef struct nn_steps {
    nn_step *items;
    int count, capacity;
} nn_steps;

typedef enum nn_init {
    NN_INIT_ZERO = 0,
    NN_INIT_ONE = 1,
    NN_INIT_FAN_IN = 2 /* uniform in +-1/sqrt(fan_in) */
} nn_init;

typedef struct nn_param {
    advgnn_nn_param pub;   /* name, value, grad as the public API exposes them */
    advgnn_tensor value;   /* f32, carved from the parameter arena */
    advgnn_tensor grad;    /* f32, carved from the gradient arena; empty for buffers */
    nn_init init;
    double fan_in;
} nn_param;

typedef struct nn_layer_ops {
    /* Optional: replaces "run fwd (or fwd_infer in inference)". */
    int (*forward)(advgnn_layer *layer, advgnn_ctx *ctx, advgnn_nn_mode mode);
    /* Optional: replaces "run bwd_data when input gradients are enabled, then bwd_weights". */
    int (*backward)(advgnn_layer *layer, advgnn_ctx *ctx);
    /* Optional: frees what the layer allocated beyond the base. */
    void (*destroy)(advgnn_layer *layer);
} nn_layer_ops;

struct advgnn_layer {
    advgnn_nn *nn;
    const nn_layer_ops *ops;
    char *name;
    advgnn_dtype dtype;
    int input_count;
    int64_t input_shape[NN_MAX_INPUTS][4];
    void *input_data[NN_MAX_INPUTS];     /* borrowed inputs of the last forward */
    void *grad_output_data;              /* borrowed gradient of the running backward */
    advgnn_tensor output;                /* (N, C, H, W), activation arena */
    advgnn_tensor input_grad[NN_MAX_INPUTS]; /* input shapes; carved only when enabled */
    int input_grad_enabled;
    int trained;                         /* the last forward ran in training mode */
    size_t first_param, param_count;     /* range in the network's parameter list */
    size_t scratch_bytes;                /* this layer's share of the scratch arena */
    nn_steps fwd, fwd_infer, bwd_data, bwd_weights;
};

typedef struct nn_reservation {
    advgnn_nn_arena arena;
    size_t offset; /* within the arena; scratch offsets are relative to the layer scratch region */
    void **slot;   /* receives the address at commit */
} nn_reservation;

struct advgnn_nn {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int committed;

    advgnn_layer **layers;
    size_t layer_count, layer_capacity;

    nn_param **params;
    size_t param_count, param_capacity;

    nn_reservation *reservations;
    size_t reservation_count, reservation_capacity;
    size_t arena_used[ADVGNN_NN_ARENA_COUNT];  /* bytes reserved so far (scratch: the largest layer) */
    void *arena[ADVGNN_NN_ARENA_COUNT];
    size_t arena_size[ADVGNN_NN_ARENA_COUNT];

    /* oneDNN scratchpads of all primitives share the start of the scratch
     * arena, because steps run one at a time. */
    size_t scratchpad_bytes;
    void *scratchpad;

    void ***cells; /* heap cells that hold the addresses of internal buffers */
    size_t cell_count, cell_capacity;
};

/* ---- engine helpers (engine.c) ----------------------------------------- */

/* Turns a oneDNN status into ADVGNN_ERR_BACKEND with `what` and the layer name. */
ADVGNN_INTERNAL int nn_check(advgnn_ctx *ctx, dnnl_status_t st, const advgnn_layer *layer, const char *what);

/* Checks that oneDNN runs bf16 on this CPU and returns ADVGNN_OK if so.
 * Otherwise returns ADVGNN_ERR_BACKEND with a message that names `what` and
 * `name` ("layer", "enc.conv1") and requests f32. */
ADVGNN_INTERNAL int nn_check_bf16(advgnn_ctx *ctx, const char *what, const char *name);

/* Allocates a zeroed layer of `size` bytes (a struct that starts with
 * advgnn_layer), checks the dtype and input shapes and adds it to the network. */
ADVGNN_INTERNAL int nn_layer_new(advgnn_nn *nn, advgnn_ctx *ctx, size_t size, const nn_layer_ops *ops,
                                 const char *name, advgnn_dtype dtype, int input_count,
                                 const int64_t (*input_shapes)[4], advgnn_layer **out);

/* Reserves `bytes` of an arena; *slot receives the address at commit. Scratch
 * reservations belong to `layer` and overlap those of other layers. */
ADVGNN_INTERNAL int nn_reserve(advgnn_nn *nn, advgnn_ctx *ctx, advgnn_layer *layer, advgnn_nn_arena arena,
                               size_t bytes, void **slot);

/* Describes `t` as a contiguous tensor and reserves its data in `arena`. */
ADVGNN_INTERNAL int nn_reserve_tensor(advgnn_nn *nn, advgnn_ctx *ctx, advgnn_layer *layer, advgnn_nn_arena arena,
                                      advgnn_tensor *t, advgnn_dtype dtype, int ndim, const int64_t *shape);

/* Returns a new heap cell for a buffer address (NULL on failure). */
ADVGNN_INTERNAL void **nn_cell_new(advgnn_nn *nn, advgnn_ctx *ctx);

/* Adds a parameter (with a gradient when `trainable`) named "<layer>.<suffix>". */
ADVGNN_INTERNAL int nn_param_new(advgnn_layer *layer, advgnn_ctx *ctx, const char *suffix, int ndim,
                                 const int64_t *shape, int trainable, nn_init init, double fan_in, nn_param **out);

/* Creates the primitive of `pd` as a new step of `steps` and binds its
 * scratchpad. *index receives the step's position. */
ADVGNN_INTERNAL int nn_step_add(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps, dnnl_primitive_desc_t pd,
                                int *index);

/* Adds execution argument `arg` described by `md` to step `index`, read from *slot. */
ADVGNN_INTERNAL int nn_step_arg(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps, int index, int arg,
                                const dnnl_memory_desc_t *md, void **slot);

/* Connects user memory (plain layout, *user_slot) with the layout a primitive
 * chose. When they differ, it reserves a buffer of the primitive's layout in
 * `arena` and appends a reorder to `steps`. An input is reordered from user
 * to buffer, an output from buffer to user, so for an output the caller
 * passes a list that runs after the primitive. *prim_slot receives the slot
 * the primitive uses. */
ADVGNN_INTERNAL int nn_connect(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps, const dnnl_memory_desc_t *user_md,
                               const dnnl_memory_desc_t *prim_md, void **user_slot, int is_output,
                               advgnn_nn_arena arena, void ***prim_slot);

/* Appends the steps of `from` to `to` (moving them). */
ADVGNN_INTERNAL int nn_steps_append(advgnn_ctx *ctx, nn_steps *to, nn_steps *from);

/* Runs the steps in order and waits for the stream. */
ADVGNN_INTERNAL int nn_steps_run(advgnn_layer *layer, advgnn_ctx *ctx, nn_steps *steps);

/* Creates a primitive descriptor with a user-managed scratchpad. */
ADVGNN_INTERNAL int nn_pd_create(advgnn_layer *layer, advgnn_ctx *ctx, dnnl_primitive_desc_t *pd, const void *op_desc,
                                 const_dnnl_primitive_desc_t hint, const char *what);

/* Describes a plain (N, C, H, W) tensor of `dtype` (format_tag any when `any`). */
ADVGNN_INTERNAL int nn_md_nchw(advgnn_layer *layer, advgnn_ctx *ctx, dnnl_memory_desc_t *md, const int64_t shape[4],
                               advgnn_dtype dtype, int any);

/* Describes a 1-D f32 vector of `n` values. */
ADVGNN_INTERNAL int nn_md_vector(advgnn_layer *layer, advgnn_ctx *ctx, dnnl_memory_desc_t *md, int64_t n);

ADVGNN_INTERNAL dnnl_data_type_t nn_dnnl_dtype(advgnn_dtype dtype);

/* Checks that `inputs` match the creation shapes and dtype of the layer. */
ADVGNN_INTERNAL int nn_check_inputs(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *const *inputs);

ADVGNN_INTERNAL int nn_check_tensor(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *t, advgnn_dtype dtype,
                                    const int64_t shape[4], const char *what);

/* ---- inference fusion (conv.c, norm.c, elementwise.c) ------------------ */

/* Returns 1 and the oneDNN eltwise algorithm when `layer` is an activation
 * layer, else 0. */
ADVGNN_INTERNAL int nn_activation_algorithm(const advgnn_layer *layer, dnnl_alg_kind_t *algorithm);

ADVGNN_INTERNAL int nn_is_batch_norm(const advgnn_layer *layer);

/* Returns 1 when `layer` is a batch norm, after writing its inference form
 * y = x * scale[c] + shift[c] (running statistics) to the two arrays of C
 * values and marking the layer as not trained. Returns 0 for another layer. */
ADVGNN_INTERNAL int nn_norm_inference_affine(advgnn_layer *layer, float *scale, float *shift);

/* ---- affine + activation of fused kernels (activation_kernel.c) -------- */

/* Returns nonzero for the activations nn_affine_activation_f32 applies: GELU
 * (erf form), ReLU, and dnnl_alg_kind_undef for none. */
ADVGNN_INTERNAL int nn_affine_activation_supported(dnnl_alg_kind_t alg);

/* y[i] = act(y[i] * scale + shift) for i < n, in place, with AVX2 where the
 * CPU has it. GELU is within 2e-7 * max(1, |x|) of the exact erf form (see
 * the file). */
ADVGNN_INTERNAL void nn_affine_activation_f32(float *y, int64_t n, float scale, float shift, dnnl_alg_kind_t alg);

/* ---- 3x3 convolution with few output channels (conv3x3_narrow.c) ------- */

#define NN_NARROW_MAX_OUT 4 /* output channels the kernel takes */

/* Returns nonzero when nn_conv3x3_narrow_f32 takes `out_channels`. */
ADVGNN_INTERNAL int nn_conv3x3_narrow_supported(int64_t out_channels);

/* y (images, cout, h, w) = bias + the 3x3 convolution of stride 1 and
 * padding 1 of x (images, cin, h, w) with weights (cout, cin, 3, 3), all
 * plain f32; bias may be NULL. cout is 1 .. NN_NARROW_MAX_OUT. Runs on an
 * OpenMP team of its own. Returns 0, or -1 when a thread's staging buffer
 * (up to 192 KB, more for thousands of input channels) could not be
 * allocated. y is then incomplete. */
ADVGNN_INTERNAL int nn_conv3x3_narrow_f32(const float *x, int64_t images, int64_t cin, int64_t h, int64_t w,
                                           const float *weights, const float *bias, int cout, float *y);

/* ---- safetensors files (safetensors.c) --------------------------------- */

struct cJSON;

/* A named f32 tensor written to or read from a safetensors file. Both
 * pointers are borrowed. */
typedef struct nn_st_entry {
    const char *name;
    advgnn_tensor *value; /* contiguous f32 */
} nn_st_entry;

/* An open safetensors file with its parsed header, freed by nn_st_close. */
typedef struct nn_st_file {
    FILE *f;
    const char *path;
    const char *file_kind;    /* the file in messages, e.g. "weights file" */
    const char *target_owner; /* the owner of the targets in messages, e.g. "network" */
    uint64_t data_start, data_size; /* bytes after the header */
    struct cJSON *header;
} nn_st_file;

/* Writes `entries` as F32 tensors and the string pairs of `metadata` (key,
 * value, ..., NULL; may be NULL) to `path`, through a temporary file and a
 * rename, so the file is either complete or absent. `file_kind` names the
 * file in messages. */
ADVGNN_INTERNAL int nn_st_save(advgnn_ctx *ctx, const char *file_kind, const char *path,
                               const char *const *metadata, const nn_st_entry *entries, size_t count);

/* Opens `path` and parses its header. Call nn_st_close afterwards, on
 * failure too. */
ADVGNN_INTERNAL int nn_st_open(advgnn_ctx *ctx, const char *file_kind, const char *target_owner, const char *path,
                               nn_st_file *sf);
ADVGNN_INTERNAL void nn_st_close(nn_st_file *sf);

/* Returns the string value of `key` in the header's __metadata__, or NULL. */
ADVGNN_INTERNAL const char *nn_st_metadata(const nn_st_file *sf, const char *key);

/* Reads every entry from the file. The file must contain exactly these names
 * with dtype F32 (or BF16, widened) and the entries' shapes. A mismatch is
 * an error that names the tensor and leaves every target unchanged. */
ADVGNN_INTERNAL int nn_st_read(advgnn_ctx *ctx, nn_st_file *sf, const nn_st_entry *entries, size_t count);

#endif
