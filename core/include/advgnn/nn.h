/* The training engine: layers with forward and backward on oneDNN (CPU, f32
 * and bf16), optimizers, learning-rate schedules, losses and safetensors I/O.
 *
 * Life of a network:
 *   1. advgnn_nn_new creates the engine (oneDNN engine and stream).
 *   2. Layers are created with their input shapes (advgnn_nn_conv2d, ...).
 *      Creating a layer builds its oneDNN primitives and reserves the memory it
 *      needs, but allocates no numeric buffer.
 *   3. advgnn_nn_commit sizes one arena per category (parameters, gradients,
 *      activations, scratch) and carves every tensor from them. After commit no
 *      layer can be added, and no layer forward or backward allocates memory.
 *   4. advgnn_nn_init_params fills the parameters from a seed.
 *   5. Each step calls advgnn_layer_forward on the layers in order and
 *      advgnn_layer_backward in reverse order, then an optimizer step.
 *
 * Data layout: activations passed between layers are contiguous (N, C, H, W)
 * tensors of the layer's dtype. Inside a convolution oneDNN picks the memory
 * format (format_tag any), and the reorders between the two are created once,
 * with the layer. NOTE: batch norm, activations, pooling, resize, add,
 * broadcast add and concat run directly on the plain layout. Parameters
 * and gradients are always f32: bf16 layers keep an f32 master copy and
 * convert it for each forward. A linear layer is a 1x1 convolution on (N, C, 1, 1).
 *
 * Gradients: a backward overwrites its layer's input and parameter gradients.
 * When one tensor feeds several layers, the caller adds their input
 * gradients. NOTE: a layer runs once per step, so weights shared between two
 * uses in one step are not supported.
 *
 * Threads: oneDNN and the custom kernels share GCC's OpenMP runtime; the
 * thread count is the context's (advgnn_ctx_set_threads).
 *
 * Ownership: the network owns its layers and every tensor they expose. A
 * pointer returned by an accessor stays valid until advgnn_nn_free. Inputs are
 * borrowed: a tensor passed to forward must keep its data unchanged until the
 * matching backward returns. */
#ifndef ADVGNN_NN_H
#define ADVGNN_NN_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct advgnn_nn advgnn_nn;
typedef struct advgnn_layer advgnn_layer;

typedef enum advgnn_nn_mode {
    ADVGNN_NN_MODE_INVALID = 0,
    ADVGNN_NN_MODE_TRAINING = 1,  /* batch statistics; saves what backward needs */
    ADVGNN_NN_MODE_INFERENCE = 2  /* running statistics; backward is not allowed */
} advgnn_nn_mode;

/* Memory categories, one arena each. */
typedef enum advgnn_nn_arena {
    ADVGNN_NN_ARENA_PARAMS = 0,      /* parameters and buffers (batch-norm statistics) */
    ADVGNN_NN_ARENA_GRADS = 1,       /* gradients of the parameters */
    ADVGNN_NN_ARENA_ACTIVATIONS = 2, /* outputs, input gradients, saved statistics */
    ADVGNN_NN_ARENA_SCRATCH = 3,     /* reorder buffers and oneDNN scratchpads, reused by every layer */
    ADVGNN_NN_ARENA_COUNT = 4
} advgnn_nn_arena;

/* A named parameter or buffer. `grad` is NULL for buffers, which are saved
 * and loaded with the weights but not trained (batch-norm running statistics). */
typedef struct advgnn_nn_param {
    const char *name;     /* "<layer>.<param>", e.g. "enc.conv1.weight" */
    advgnn_tensor *value; /* f32, PyTorch's shape for the same parameter */
    advgnn_tensor *grad;  /* f32, same shape; NULL for buffers */
} advgnn_nn_param;

/* ---- engine ------------------------------------------------------------ */

/* Creates an empty network with a oneDNN CPU engine and stream. Free it with
 * advgnn_nn_free. */
int advgnn_nn_new(advgnn_ctx *ctx, advgnn_nn **out);

/* Reports whether oneDNN runs bf16 layers on this CPU: 1 if so, else 0.
 * oneDNN 2.6 needs AVX-512 for bf16, and is fast with AVX512_BF16 or AMX.
 * On AVX2-only CPUs, or with ONEDNN_MAX_CPU_ISA below AVX512_CORE, creating
 * a bf16 layer fails with ADVGNN_ERR_BACKEND and a message that requests
 * f32. The probe runs once per process and is thread-safe. */
int advgnn_nn_bf16_supported(void);

/* Frees the network, its layers and arenas. advgnn_nn_free(NULL) does nothing. */
void advgnn_nn_free(advgnn_nn *nn);

/* Allocates the arenas and binds every tensor of every layer. Call once, after
 * the last layer is created. Parameters and gradients start at zero. */
int advgnn_nn_commit(advgnn_nn *nn, advgnn_ctx *ctx);

/* Returns the size in bytes of one arena (0 before commit). */
size_t advgnn_nn_arena_bytes(const advgnn_nn *nn, advgnn_nn_arena arena);

/* Initializes parameters from `seed`: convolution weights and biases uniform
 * in +-1/sqrt(fan_in) (PyTorch's default), batch-norm scale 1, shift 0, running
 * mean 0, running variance 1. The same seed gives the same values. */
int advgnn_nn_init_params(advgnn_nn *nn, advgnn_ctx *ctx, uint64_t seed);

/* Parameters and buffers of every layer, in creation order. */
size_t advgnn_nn_param_count(const advgnn_nn *nn);
const advgnn_nn_param *advgnn_nn_param_at(const advgnn_nn *nn, size_t index);
/* Returns the parameter named `name`, or NULL. */
const advgnn_nn_param *advgnn_nn_param_find(const advgnn_nn *nn, const char *name);

/* Sets every gradient to zero. */
void advgnn_nn_zero_grads(advgnn_nn *nn);

/* ---- layers ------------------------------------------------------------ */

/* Runs the layer on `inputs` (advgnn_layer_input_count of them, each
 * contiguous (N, C, H, W) of the layer's dtype and creation shape). The output
 * is advgnn_layer_output. */
int advgnn_layer_forward(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *const *inputs,
                         advgnn_nn_mode mode);

/* Convenience for layers with one input. */
int advgnn_layer_forward1(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *input, advgnn_nn_mode mode);

/* Back-propagates `grad_output` (shape and dtype of the output) through the
 * last training-mode forward. Writes the input gradients (advgnn_layer_input_grad)
 * and overwrites the parameter gradients of this layer (no accumulation). */
int advgnn_layer_backward(advgnn_layer *layer, advgnn_ctx *ctx, const advgnn_tensor *grad_output);

/* Disables the gradient of the inputs, which the first layer of a network
 * does not need. Call before advgnn_nn_commit. */
void advgnn_layer_set_input_grad(advgnn_layer *layer, int enabled);

const char *advgnn_layer_name(const advgnn_layer *layer);
int advgnn_layer_input_count(const advgnn_layer *layer);
const advgnn_tensor *advgnn_layer_output(const advgnn_layer *layer);
/* Returns the gradient of input `index`, or NULL when disabled. */
const advgnn_tensor *advgnn_layer_input_grad(const advgnn_layer *layer, int index);
/* Returns this layer's parameter `name` ("weight", "bias", "running_mean"), or NULL. */
const advgnn_nn_param *advgnn_layer_param(const advgnn_layer *layer, const char *name);

/* Convolution (PyTorch's Conv2d). Weight (C_out, C_in / groups, KH, KW), bias (C_out). */
typedef struct advgnn_conv2d_desc {
    int out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;     /* 0 means 1 */
    int pad_h, pad_w;           /* zero padding on both sides */
    int dilation_h, dilation_w; /* 0 means 1 (PyTorch's dilation, not oneDNN's dilation - 1) */
    int groups;                 /* 0 means 1; must divide both channel counts */
    int bias;                   /* nonzero: add a bias */
    int output_pad_h, output_pad_w; /* transposed convolution only: extra rows and columns at the end */
} advgnn_conv2d_desc;

/* Creates a convolution for inputs of `input_shape` (N, C, H, W). `name`
 * prefixes its parameter names; it is copied. */
int advgnn_nn_conv2d(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                     const int64_t input_shape[4], const advgnn_conv2d_desc *desc, advgnn_layer **out);

/* Transposed convolution (PyTorch's ConvTranspose2d). Weight (C_in, C_out / groups,
 * KH, KW). Output size (H - 1) * stride - 2 * pad + dilation * (K - 1) + output_pad + 1. */
int advgnn_nn_conv_transpose2d(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                               const int64_t input_shape[4], const advgnn_conv2d_desc *desc, advgnn_layer **out);

/* Batch normalization over (N, H, W) per channel, with scale ("weight") and
 * shift ("bias"). Training uses batch statistics and updates the running ones:
 * running = (1 - momentum) * running + momentum * batch, with the unbiased
 * variance, as PyTorch does. Inference uses the running statistics. */
int advgnn_nn_batch_norm(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                         const int64_t input_shape[4], double epsilon, double momentum, advgnn_layer **out);

typedef enum advgnn_activation {
    ADVGNN_ACTIVATION_INVALID = 0,
    ADVGNN_ACTIVATION_RELU = 1,
    ADVGNN_ACTIVATION_GELU = 2,  /* exact form x * Phi(x), PyTorch's default */
    ADVGNN_ACTIVATION_TANH = 3,
    ADVGNN_ACTIVATION_SIGMOID = 4
} advgnn_activation;

int advgnn_nn_activation(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                         const int64_t input_shape[4], advgnn_activation kind, advgnn_layer **out);

/* Fuses a convolution -> batch norm (-> activation) chain into one oneDNN
 * convolution for inference-mode forwards. `norm` reads the output of
 * `conv`, and `act` (NULL for none) reads the output of `norm`. The batch
 * norm, with its running statistics, is folded into the weights and bias,
 * and the activation runs as a post-op. A transposed convolution that runs
 * as a matmul and a scatter-add (f32, ungrouped, undilated) instead applies
 * the batch norm, and a ReLU, to each output plane as it finishes. Call it
 * before advgnn_nn_commit.
 *
 * *fused receives how many of the layers after `conv` were fused:
 *   2: `norm` and `act`;
 *   1: `norm` only, because no activation was given, oneDNN would run the
 *      post-op slowly for this convolution, or the transposed convolution's
 *      activation is not a ReLU;
 *   0: nothing changed, for a bf16 convolution, a transposed one on
 *      oneDNN's kernels, one fused already, or a combination without a
 *      oneDNN kernel.
 *
 * After a fusion, an inference forward of `conv` writes the result of the
 * last fused layer into that layer's output. The outputs of `conv` and of
 * the other fused layer stay unwritten, so the caller must not run the
 * fused layers' inference forwards. The fold reads the current
 * parameters at each inference forward. Training forwards and backwards are
 * unchanged.
 *
 * Fails with ADVGNN_ERR_INVALID_ARG when the layers are not a convolution, a
 * batch norm and an activation of one uncommitted network whose shapes
 * chain, and with ADVGNN_ERR_NOMEM or ADVGNN_ERR_BACKEND while building. */
int advgnn_nn_fuse_inference(advgnn_layer *conv, advgnn_ctx *ctx, advgnn_layer *norm, advgnn_layer *act,
                             int *fused);

typedef enum advgnn_pool_kind {
    ADVGNN_POOL_INVALID = 0,
    ADVGNN_POOL_MAX = 1,
    ADVGNN_POOL_AVG = 2 /* padded cells count in the divisor (PyTorch's count_include_pad=True) */
} advgnn_pool_kind;

typedef struct advgnn_pool_desc {
    advgnn_pool_kind kind;
    int kernel_h, kernel_w;
    int stride_h, stride_w; /* 0 means the kernel size */
    int pad_h, pad_w;
} advgnn_pool_desc;

int advgnn_nn_pool2d(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                     const int64_t input_shape[4], const advgnn_pool_desc *desc, advgnn_layer **out);

typedef enum advgnn_nn_resize_kind {
    ADVGNN_NN_RESIZE_INVALID = 0,
    ADVGNN_NN_RESIZE_NEAREST = 1,
    ADVGNN_NN_RESIZE_BILINEAR = 2 /* half-pixel centers (PyTorch's align_corners=False) */
} advgnn_nn_resize_kind;

int advgnn_nn_resize(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                     const int64_t input_shape[4], int out_h, int out_w, advgnn_nn_resize_kind kind,
                     advgnn_layer **out);

/* Elementwise sum of two inputs of the same shape. */
int advgnn_nn_add(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                  const int64_t input_shape[4], advgnn_layer **out);

/* Adds one learned tensor P of C*H*W values to every image of inputs of
 * `input_shape` (N, C, H, W): y[n] = x[n] + P, as PyTorch's
 * `x + weight.reshape(1, C, H, W)` does. P is the trainable f32 parameter
 * "<name>.weight" of shape `weight_shape`, any 4-D shape with C*H*W values
 * in (C, H, W) order (a position embedding keeps its (C, H*W, 1, 1) file
 * shape this way). It starts at zero, also after advgnn_nn_init_params.
 * Backward: dx = dy, and dP = dy[0] + ... + dy[N-1] summed in f32 in that
 * order. A bf16 layer reads P in f32 and rounds each output once. The
 * network owns the layer. Fails with ADVGNN_ERR_INVALID_ARG when the weight
 * shape has another count of values (nothing is added to the network then),
 * and like every layer on an invalid input shape, after commit, or for bf16
 * on a CPU without bf16 support (ADVGNN_ERR_BACKEND). */
int advgnn_nn_broadcast_add(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                            const int64_t input_shape[4], const int64_t weight_shape[4], advgnn_layer **out);

/* Concatenation along channels of `count` inputs with equal N, H, W. */
int advgnn_nn_concat(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype, int count,
                     const int64_t (*input_shapes)[4], advgnn_layer **out);

/* ---- bf16 -------------------------------------------------------------- */

/* Converts with round-to-nearest-even (NaN stays NaN). */
void advgnn_f32_to_bf16(const float *src, uint16_t *dst, size_t count);
void advgnn_bf16_to_f32(const uint16_t *src, float *dst, size_t count);

/* ---- optimizers -------------------------------------------------------- */

typedef enum advgnn_optim_kind {
    ADVGNN_OPTIM_INVALID = 0,
    ADVGNN_OPTIM_SGD = 1,     /* momentum buffer b = momentum * b + g; p -= lr * b */
    ADVGNN_OPTIM_ADAM = 2,    /* weight decay added to the gradient (L2) */
    ADVGNN_OPTIM_ADAMW = 3,   /* decoupled weight decay: p -= lr * wd * p */
    ADVGNN_OPTIM_RMSPROP = 4  /* v = alpha * v + (1 - alpha) * g^2; p -= lr * g / (sqrt(v) + eps) */
} advgnn_optim_kind;

typedef struct advgnn_optim_config {
    advgnn_optim_kind kind;
    double momentum;     /* SGD and RMSprop */
    double beta1, beta2; /* Adam, AdamW; 0 means 0.9 and 0.999 */
    double alpha;        /* RMSprop smoothing; 0 means 0.99 */
    double eps;          /* 0 means 1e-8 */
    double weight_decay;
} advgnn_optim_config;

typedef struct advgnn_optim advgnn_optim;

/* Creates an optimizer for every trainable parameter of a committed network.
 * Its state is one block sized from the parameter count. */
int advgnn_optim_new(advgnn_ctx *ctx, advgnn_nn *nn, const advgnn_optim_config *config, advgnn_optim **out);
void advgnn_optim_free(advgnn_optim *opt);

/* Applies one update with learning rate `lr` from the current gradients. */
int advgnn_optim_step(advgnn_optim *opt, advgnn_ctx *ctx, double lr);

/* ---- optimizer state --------------------------------------------------- */

/* One state tensor of an optimizer, named like the per-parameter entries of
 * PyTorch's optimizer state_dict, prefixed with the parameter name:
 *   SGD with momentum  "<param>.momentum_buffer"
 *   Adam, AdamW        "<param>.exp_avg", "<param>.exp_avg_sq"
 *   RMSprop            "<param>.square_avg", plus "<param>.momentum_buffer"
 *                      when momentum > 0
 * Plain SGD (momentum 0) has no state tensor. The step count, which PyTorch
 * keeps per parameter, is one number here (advgnn_optim_step_count). */
typedef struct advgnn_optim_state {
    const char *name;     /* e.g. "enc.conv1.weight.exp_avg" */
    advgnn_tensor *value; /* f32, the parameter's shape; zero before the first step */
} advgnn_optim_state;

/* State tensors in the order of the network's parameters, the kinds of one
 * parameter in the order listed above. The optimizer owns every entry, name
 * and tensor: they stay valid until advgnn_optim_free, and writing into
 * `value->data` changes the state that the next step uses. */
size_t advgnn_optim_state_count(const advgnn_optim *opt);
/* Returns entry `index`, or NULL when index >= advgnn_optim_state_count. */
const advgnn_optim_state *advgnn_optim_state_at(const advgnn_optim *opt, size_t index);
/* Returns the entry named `name`, or NULL. */
const advgnn_optim_state *advgnn_optim_state_find(const advgnn_optim *opt, const char *name);

/* Copies `src` (contiguous f32 of the entry's shape) into the state tensor
 * `name`. An unknown name, another dtype or another shape is an
 * ADVGNN_ERR_INVALID_ARG that names the tensor, and leaves the state unchanged. */
int advgnn_optim_state_set(advgnn_optim *opt, advgnn_ctx *ctx, const char *name, const advgnn_tensor *src);

/* Returns the kind of the optimizer. */
advgnn_optim_kind advgnn_optim_get_kind(const advgnn_optim *opt);
/* Returns the lowercase name of a kind ("sgd", "adam", "adamw", "rmsprop"),
 * or "invalid". The string is static. */
const char *advgnn_optim_kind_name(advgnn_optim_kind kind);

/* Returns the number of updates done so far, from which Adam and AdamW
 * derive their bias corrections. */
int64_t advgnn_optim_step_count(const advgnn_optim *opt);
/* Sets the update count. A negative count is an ADVGNN_ERR_INVALID_ARG. */
int advgnn_optim_set_step_count(advgnn_optim *opt, advgnn_ctx *ctx, int64_t steps);

/* Writes every state tensor as an F32 tensor of a safetensors file, with the
 * kind ("optimizer"), the step count ("step") and the hyperparameters
 * ("momentum", "beta1", "beta2", "alpha", "eps", "weight_decay", defaults
 * filled) as decimal strings in its __metadata__. Written to a temporary
 * name and renamed, like weights. */
int advgnn_optim_save(advgnn_optim *opt, advgnn_ctx *ctx, const char *path);

/* Reads a file written by advgnn_optim_save into the state and the step
 * count. The file's kind must equal the optimizer's (a checkpoint of Adam
 * loaded into SGD is an error naming both kinds), and it must contain
 * exactly the optimizer's state tensors, each F32 (or BF16, widened) with the
 * parameter's shape. Every mismatch is an ADVGNN_ERR_FORMAT that names the
 * file and the tensor, and leaves the state and step count unchanged. A
 * hyperparameter that differs from the file's is not an error: it is logged
 * as a warning, and the optimizer keeps its own value. */
int advgnn_optim_load(advgnn_optim *opt, advgnn_ctx *ctx, const char *path);

/* Scales all gradients so that their global L2 norm is at most `max_norm`
 * and returns the norm before scaling. The norm is summed in a fixed order,
 * so it is the same on every run. */
double advgnn_nn_clip_grad_norm(advgnn_nn *nn, double max_norm);

/* ---- learning-rate schedules ------------------------------------------- */

typedef enum advgnn_lr_kind {
    ADVGNN_LR_INVALID = 0,
    ADVGNN_LR_CONSTANT = 1,
    ADVGNN_LR_STEP = 2,      /* lr * gamma^(step / step_size) */
    ADVGNN_LR_COSINE = 3,    /* linear warm-up, then cosine from lr to min_lr at total_steps */
    ADVGNN_LR_PLATEAU = 4    /* lr * factor after `patience` observations without improvement */
} advgnn_lr_kind;

typedef struct advgnn_lr_schedule {
    advgnn_lr_kind kind;
    double lr;          /* base learning rate */
    double min_lr;      /* cosine floor and plateau floor */
    double gamma;       /* step decay factor */
    int step_size;      /* steps between step decays */
    int warmup_steps;   /* cosine: steps of linear warm-up from 0 */
    int total_steps;    /* cosine: steps until min_lr */
    double factor;      /* plateau: multiplier on each reduction; 0 means 0.1 */
    int patience;       /* plateau: observations without improvement before a reduction */
    double threshold;   /* plateau: relative improvement that counts (0 means 1e-4) */
    /* State of the plateau schedule, set by advgnn_lr_observe; zero-initialize. */
    double best;
    int bad_count;
    int observed;
    double current;
} advgnn_lr_schedule;

/* Returns the learning rate for step `step` (counted from 0). */
double advgnn_lr_at(const advgnn_lr_schedule *sched, int64_t step);

/* Reports a validation loss to a plateau schedule (no effect on others). */
void advgnn_lr_observe(advgnn_lr_schedule *sched, double loss);

/* ---- losses ------------------------------------------------------------ */

/* Each loss compares `pred` with `target` (f32, same shape), stores the mean
 * loss in *loss and, when `grad` is non-NULL, d loss / d pred into `grad`
 * (f32, same shape). */
int advgnn_loss_mse(advgnn_ctx *ctx, const advgnn_tensor *pred, const advgnn_tensor *target, advgnn_tensor *grad,
                    double *loss);
int advgnn_loss_l1(advgnn_ctx *ctx, const advgnn_tensor *pred, const advgnn_tensor *target, advgnn_tensor *grad,
                   double *loss);
/* 1 - mean SSIM over channels and valid window positions, with an 11 x 11
 * Gaussian window of sigma 1.5, C1 = (0.01 L)^2, C2 = (0.03 L)^2 and L =
 * `data_range`; images must be at least 11 x 11. */
int advgnn_loss_ssim(advgnn_ctx *ctx, const advgnn_tensor *pred, const advgnn_tensor *target, double data_range,
                     advgnn_tensor *grad, double *loss);

/* ---- weights files ----------------------------------------------------- */

/* Writes every parameter and buffer as an F32 tensor of a safetensors file
 * (8-byte header length, JSON header, little-endian data). The file is written
 * to a temporary name and renamed, so it is either complete or absent. */
int advgnn_nn_save(advgnn_nn *nn, advgnn_ctx *ctx, const char *path);

/* Reads a safetensors file into the parameters and buffers. Every name of the
 * network must be in the file with dtype F32 (or BF16, widened) and the same
 * shape, and the file must contain no other tensor. A mismatch is an error
 * that names the tensor and leaves the parameters unchanged. */
int advgnn_nn_load(advgnn_nn *nn, advgnn_ctx *ctx, const char *path);

#ifdef __cplusplus
}
#endif
#endif
