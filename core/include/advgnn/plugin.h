/* The plugin ABI: what a plugin shared object exports.
 *
 * A plugin exports one symbol, ADVGNN_PLUGIN_ENTRY_SYMBOL, a function that
 * returns a pointer to a static descriptor:
 *
 *     static const advgnn_plugin_descriptor desc = {
 *         .abi_version = ADVGNN_ABI_VERSION,
 *         .struct_size = sizeof(advgnn_plugin_descriptor),
 *         .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
 *         .kind = ADVGNN_PLUGIN_SCORER,
 *         .name = "my_scorer", ...
 *         .functions = &my_functions,  // advgnn_scorer_functions
 *     };
 *     ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void) { return &desc; }
 *
 * The core refuses another ABI major version, copies at most the size it knows
 * of the descriptor and of the function table, and treats a slot beyond the
 * plugin's struct_size as absent. */
#ifndef ADVGNN_PLUGIN_H
#define ADVGNN_PLUGIN_H

#include <stdint.h>

#include "advgnn/dataset.h"
#include "advgnn/encoder.h"
#include "advgnn/options.h"
#include "advgnn/scorer.h"
#include "advgnn/tensor.h"
#include "advgnn/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum advgnn_plugin_kind {
    ADVGNN_PLUGIN_INVALID = 0,
    ADVGNN_PLUGIN_ENCODER = 1, /* functions: advgnn_encoder_functions */
    ADVGNN_PLUGIN_SCORER = 2,  /* functions: advgnn_scorer_functions */
    ADVGNN_PLUGIN_DATASET = 3  /* functions: advgnn_dataset_functions */
} advgnn_plugin_kind;

/* Returns "encoder", "scorer", "dataset" or "invalid". */
const char *advgnn_plugin_kind_name(advgnn_plugin_kind kind);

/* Sizes of the types a plugin shares with the core, folded into one number, so
 * a plugin built with different type layouts (another compiler setting, a
 * mixed build) is caught even when the ABI version matches. */
#define ADVGNN_TYPE_FINGERPRINT                                                                  \
    ((uint32_t)(sizeof(void *) | (sizeof(long) << 4) | (sizeof(advgnn_option_spec) << 8) |      \
                (sizeof(advgnn_tensor) << 16) | (sizeof(advgnn_sample_info) << 24)))

typedef struct advgnn_plugin_descriptor {
    uint32_t abi_version;      /* ADVGNN_ABI_VERSION the plugin was built with */
    uint32_t struct_size;      /* sizeof(advgnn_plugin_descriptor) the plugin was built with */
    uint32_t type_fingerprint; /* ADVGNN_TYPE_FINGERPRINT */
    advgnn_plugin_kind kind;
    const char *name;          /* unique among plugins of all kinds; [a-z0-9_] */
    const char *version;       /* the plugin's own version, e.g. "1.2.0" */
    const char *description;   /* one line */
    const advgnn_option_spec *options; /* ended by an entry with name NULL; NULL = none */
    const void *functions;     /* the kind's function table; starts with its struct_size */
} advgnn_plugin_descriptor;

typedef const advgnn_plugin_descriptor *(*advgnn_plugin_entry_fn)(void);

#define ADVGNN_PLUGIN_ENTRY_SYMBOL "advgnn_plugin_describe"

#if defined(__GNUC__) || defined(__clang__)
#define ADVGNN_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define ADVGNN_PLUGIN_EXPORT
#endif

/* The entry point that each plugin defines, declared here so that a plugin
 * compiles cleanly with -Wmissing-prototypes. The core never defines it. */
ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

#ifdef __cplusplus
}
#endif
#endif
