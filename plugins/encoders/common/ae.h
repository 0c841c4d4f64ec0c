/* Shared code of the trainable autoencoder encoders (cnn_ae, vig). It runs a
 * directed acyclic graph of engine layers, summing gradients where branches
 * meet, and rebuilds the kNN graph before each max-relative layer. It also
 * has the reconstruction loss MSE + lambda * (1 - SSIM), the training options
 * and the assembly of memory-bank features from several stages. Each plugin
 * compiles it from source; it uses only the public SDK. */
#ifndef ADVGNN_PLUGINS_AE_H
#define ADVGNN_PLUGINS_AE_H

#include <stddef.h>
#include <stdint.h>

#include <advgnn/encoder.h>
#include <advgnn/graph.h>
#include <advgnn/nn.h>
#include <advgnn/options.h>
#include <advgnn/train.h>

#define AE_INPUT (-1)    /* a node input that is the network's image batch */
#define AE_MAX_FEATURES 4

/* How ae_backward obtains the gradients of a node's inputs. The PASS
 * routes hand the output gradient on as it is, so in bf16 an f32 one (a sum
 * or the loss gradient) reaches the next layer unrounded, and that layer
 * rounds it once. */
typedef enum ae_grad_route {
    AE_ROUTE_LAYER = 0,      /* the layer's backward writes them */
    AE_ROUTE_PASS = 1,       /* they equal the output gradient and the layer has no parameters (ae_sum): no backward */
    AE_ROUTE_PASS_PARAMS = 2 /* they equal the output gradient, and the backward computes only parameter gradients */
} ae_grad_route;

/* What a node's layer is, as far as inference fusion needs to know. */
typedef enum ae_kind {
    AE_KIND_OTHER = 0,
    AE_KIND_CONV = 1, /* a convolution or a transposed one */
    AE_KIND_BN = 2,
    AE_KIND_ACT = 3
} ae_kind;

/* One layer of the graph. */
typedef struct ae_node {
    advgnn_layer *layer;
    ae_kind kind;
    int fused;           /* an earlier convolution computes this node's output in inference (no forward of its own) */
    int inputs[2];       /* node indices or AE_INPUT */
    int input_count;
    int64_t shape[4];    /* output (N, C, H, W) */
    ae_grad_route route;
    int grad_sources;    /* gradients that reach the output: node inputs fed by it, plus 1 for the network output */

    /* The output gradient of the running ae_backward. With one source it is
     * that source's buffer (no copy), else `grad`. */
    const void *dy;      /* (shape) f32, or bf16 when dy_bf16 */
    int dy_bf16;
    int dy_received;     /* sources summed into `grad` so far */
    float *grad;         /* (shape) f32 sum of the sources, even in bf16. NULL unless grad_sources != 1 */

    /* Max-relative layers: the graph is rebuilt from node `graph_from` before each forward. */
    advgnn_knn_graph *knn;
    int32_t *edges;      /* (N, H*W, k) */
    int graph_from;
    float *bias;         /* (H*W, keys) relative-position term, or NULL; owned */
} ae_node;

typedef struct ae_net {
    advgnn_nn *nn;
    ae_node *nodes;
    int count, capacity;
    int64_t input_shape[4]; /* (batch, 3, H, W) */
    int output;             /* node of the reconstruction */
    int features[AE_MAX_FEATURES]; /* nodes whose maps feed the memory bank */
    int feature_count;
    int feature_pool;       /* odd side of the local average over the feature grid; 1 = none */
    const advgnn_tensor *input; /* borrowed during forward/backward */
    advgnn_tensor grad_out;  /* (input_shape) f32 gradient of the loss */
    advgnn_tensor grad_ssim; /* (input_shape) f32 gradient of the SSIM term */
    double ssim_weight;     /* lambda of MSE + lambda * (1 - SSIM) */
    double ssim_range;      /* SSIM data range L */
    int pos_grid[2];        /* height and width of the position embedding's grid; 0 without one */
    int unfused;            /* set before ae_net_finish: no inference fusion (tests compare both) */

    /* Activation dtype of every layer: ADVGNN_DTYPE_F32 (set by ae_net_new) or
     * ADVGNN_DTYPE_BF16. Set it before the first builder. Parameters stay f32
     * either way. In bf16 the images are rounded to bf16 before the first
     * layer, and the loss, the summed gradients and the memory-bank features
     * stay f32. The buffers below exist only in bf16 (ae_net_finish). */
    advgnn_dtype dtype;
    advgnn_tensor input16;  /* (input_shape) bf16 copy of the images */
    advgnn_tensor pred32;   /* (input_shape) f32 copy of the reconstruction for the loss */
    uint16_t *grad16;       /* bf16 gradient handed to one layer's backward, sized for the largest node */
} ae_net;

/* ---- building ------------------------------------------------------------- */

/* Creates an empty f32 network. Set net->dtype for bf16 before adding layers. */
int ae_net_new(advgnn_ctx *ctx, const int64_t input_shape[4], ae_net *net);
void ae_net_free(ae_net *net);

/* Returns the output shape of node `from` (or of the input for AE_INPUT).
 * The pointer points into the node list, which adding a node may move, so
 * copy the shape before adding nodes. */
const int64_t *ae_shape(const ae_net *net, int from);

/* Each builder adds one layer fed by node `from` and returns the new node's
 * index in *node. */
int ae_conv(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int out_channels, int kernel, int stride,
            int groups, int *node);
int ae_deconv(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int out_channels, int *node);
int ae_bn(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int *node);
int ae_act(ae_net *net, advgnn_ctx *ctx, const char *name, int from, advgnn_activation kind, int *node);
int ae_avg_pool(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int ratio, int *node);
/* Bilinear resize (half-pixel centers) of node `from` to height x width. */
int ae_resize(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int height, int width, int *node);
int ae_sum(ae_net *net, advgnn_ctx *ctx, const char *name, int a, int b, int *node);
/* conv (kernel, stride), BN and an optional activation (INVALID = none). */
int ae_conv_bn(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int out_channels, int kernel, int stride,
               int groups, advgnn_activation act, int *node);

/* A learnable position embedding (C, H, W) added to node `from` by one
 * engine broadcast add named `name`. Its weight "<name>.weight" keeps the
 * shape (C, H*W, 1, 1) that weights files and scripts/vig_reference.py use,
 * and starts at zero, as ViG's does. */
int ae_pos_embed(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int *node);

/* Max-relative aggregation over the kNN graph of node `from` (keys average-
 * pooled by `ratio`), channels interleaved: (N, 2C, H, W). `bias` is an
 * owned (H*W, keys) array or NULL. */
int ae_max_relative(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int k, int dilation, int ratio,
                    float *bias, int *node);

/* Commits the network, allocates gradients and initializes parameters from
 * `seed`. */
int ae_net_finish(ae_net *net, advgnn_ctx *ctx, uint64_t seed);

/* ---- running -------------------------------------------------------------- */

/* `images` is f32 of input_shape in either precision. */
int ae_forward(ae_net *net, advgnn_ctx *ctx, const advgnn_tensor *images, advgnn_nn_mode mode);

/* Copies `count` values of node `node`'s last output from its offset `first`
 * (in values) into `out` as f32, converting from bf16 when needed. */
void ae_output_f32(const ae_net *net, int node, size_t first, size_t count, float *out);

/* Back-propagates `grad` (f32, shape of the output node) through the last training forward. */
int ae_backward(ae_net *net, advgnn_ctx *ctx, const advgnn_tensor *grad);

/* The advgnn_train_step_fn of an ae_net: reconstruction loss, backward when training. */
int ae_train_step(void *user, advgnn_ctx *ctx, const advgnn_tensor *images, size_t valid, int training, double *loss);

/* ---- options and the encoder functions ------------------------------------ */

/* Option specs shared by the trainable encoders, spliced into each plugin's array. */
#define AE_TRAIN_OPTION_SPECS                                                                                       \
    {.name = "epochs", .type = ADVGNN_OPT_INT, .help = "training epochs over the normal images",                  \
     .def.integer = 10, .min = 1, .max = 100000, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},               \
        {.name = "batch_size", .type = ADVGNN_OPT_INT, .help = "images per training step (and per encode pass)", \
         .def.integer = 8, .min = 1, .max = 4096, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},              \
        {.name = "lr", .type = ADVGNN_OPT_NUMBER, .help = "base learning rate", .def.number = 1e-3, .min = 0,      \
         .flags = ADVGNN_OPT_HAS_MIN},                                                                             \
        {.name = "optimizer", .type = ADVGNN_OPT_ENUM, .help = "optimizer of the engine",                         \
         .def.string = "adam", .choices = ae_optimizer_choices},                                                   \
        {.name = "weight_decay", .type = ADVGNN_OPT_NUMBER, .help = "weight decay (L2 for adam, decoupled for adamw)", \
         .def.number = 0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},                                                  \
        {.name = "momentum", .type = ADVGNN_OPT_NUMBER, .help = "momentum of sgd and rmsprop", .def.number = 0.9,  \
         .min = 0, .max = 0.999, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},                               \
        {.name = "schedule", .type = ADVGNN_OPT_ENUM, .help = "learning-rate schedule over all steps",             \
         .def.string = "cosine", .choices = ae_schedule_choices},                                                  \
        {.name = "warmup_epochs", .type = ADVGNN_OPT_INT, .help = "cosine schedule: epochs of linear warm-up",    \
         .def.integer = 1, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},                                                 \
        {.name = "ssim_weight", .type = ADVGNN_OPT_NUMBER, .help = "lambda of the loss MSE + lambda * (1 - SSIM)", \
         .def.number = 0.5, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},                                                \
        {.name = "ssim_range", .type = ADVGNN_OPT_NUMBER,                                                          \
         .help = "data range L of SSIM, in units of the normalized input", .def.number = 4.0, .min = 1e-6,        \
         .flags = ADVGNN_OPT_HAS_MIN},                                                                             \
        {.name = "clip_grad_norm", .type = ADVGNN_OPT_NUMBER, .help = "global gradient norm limit; 0 = none",     \
         .def.number = 5.0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},                                                \
        {.name = "patience", .type = ADVGNN_OPT_INT,                                                               \
         .help = "epochs without validation improvement before stopping; 0 = never", .def.integer = 0, .min = 0, \
         .flags = ADVGNN_OPT_HAS_MIN},                                                                             \
        {.name = "checkpoint_every", .type = ADVGNN_OPT_INT,                                                       \
         .help = "epochs between checkpoints in the run's encoder folder; 0 = only at the end", .def.integer = 0, \
         .min = 0, .flags = ADVGNN_OPT_HAS_MIN},                                                                   \
        {.name = "resume", .type = ADVGNN_OPT_STRING, .help = "checkpoint folder to continue training from",     \
         .def.string = NULL},                                                                                      \
        {.name = "weights", .type = ADVGNN_OPT_STRING,                                                             \
         .help = "safetensors file to load instead of training", .def.string = NULL},                              \
        {.name = "seed", .type = ADVGNN_OPT_INT, .help = "seed of weights and shuffling; -1 = the run's seed",    \
         .def.integer = -1, .min = -1, .flags = ADVGNN_OPT_HAS_MIN},                                               \
        {.name = "precision", .type = ADVGNN_OPT_ENUM,                                                           \
         .help = "layer activations: f32, or bf16 (weights, loss and features stay f32; weights files fit both)", \
         .def.string = "f32", .choices = ae_precision_choices},                                                    \
        {.name = "threads", .type = ADVGNN_OPT_INT, .help = "compute threads; 0 = the run's setting",             \
         .def.integer = 0, .min = 0, .max = 1024, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},              \
    {                                                                                                               \
        .name = "feature_pool", .type = ADVGNN_OPT_INT,                                                            \
        .help = "odd side of the local average over the feature grid; 1 = none", .def.integer = 3, .min = 1,      \
        .max = 15, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX                                                \
    }

extern const char *const ae_optimizer_choices[];
extern const char *const ae_schedule_choices[];
extern const char *const ae_precision_choices[];

/* The state an encoder plugin keeps: the network and its training settings. */
typedef struct ae_encoder {
    ae_net net;
    const char *label;      /* plugin name, static */
    int height, width;      /* input pixels */
    uint64_t seed;
    int threads;
    advgnn_train_config train;
    char *work_dir;         /* owned copy, or NULL */
    char *resume;           /* owned copy, or NULL */
    char *weights;          /* owned copy, or NULL */
    advgnn_train_history history;
} ae_encoder;

/* Checks the shared options that no schema rule states: 'weights' together
 * with 'resume', an even 'feature_pool', and precision bf16 on a CPU without
 * oneDNN's bf16 kernels are ADVGNN_ERR_OPTION with the message in ctx.
 * `label` starts the message. */
int ae_check_options(advgnn_ctx *ctx, const advgnn_options *opts, const char *label);

/* Reads the shared options into `enc` (net not touched), after
 * ae_check_options. */
int ae_encoder_configure(ae_encoder *enc, advgnn_ctx *ctx, const advgnn_options *opts,
                         const advgnn_encoder_config *config, const char *label);
/* Creates the empty network for the configured batch and image size and sets
 * its loss and feature pooling from the shared options. Call it after
 * ae_encoder_configure, which checks those options. */
int ae_encoder_new_net(ae_encoder *enc, advgnn_ctx *ctx, const advgnn_options *opts,
                       const advgnn_encoder_config *config);
/* Loads `weights` when the option is set (after the network is built). */
int ae_encoder_start(ae_encoder *enc, advgnn_ctx *ctx);
/* Loads the weights file `path` given by option `option` into the network. A
 * valid file written for a network with other options fails with
 * ADVGNN_ERR_OPTION naming `option`, the option that likely differs and, for
 * the position embedding, the image size that the file was made for. */
int ae_encoder_load_weights(ae_encoder *enc, advgnn_ctx *ctx, const char *option, const char *path);
void ae_encoder_free(ae_encoder *enc);

/* Implementations of the encoder slots for an ae_encoder state. */
int ae_encoder_feature_shape(void *state, int *channels, int *height, int *width);
int ae_encoder_encode(void *state, advgnn_ctx *ctx, const advgnn_tensor *images, advgnn_tensor *features,
                      advgnn_tensor *reconstruction);
int ae_encoder_train(void *state, advgnn_ctx *ctx, const advgnn_image_source *train,
                     const advgnn_image_source *validation);
int ae_encoder_save(void *state, advgnn_ctx *ctx, const char *path);
int ae_encoder_load(void *state, advgnn_ctx *ctx, const char *path);

#endif
