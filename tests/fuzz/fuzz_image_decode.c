/* libFuzzer target: decoding arbitrary bytes as PNG, JPEG or BMP must fail
 * cleanly or produce a consistent image, never crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include "advgnn/advgnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_image img = {0};

    if (!ctx)
        return 0;
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);

    /* A 4-megapixel limit keeps each run fast; larger claims must be rejected
     * before any allocation of that size. */
    if (advgnn_image_decode(ctx, data, size, "fuzz-input", (uint64_t)1 << 22, &img) == ADVGNN_OK) {
        if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 || !img.data)
            __builtin_trap();
        /* Touch the last byte so a short buffer shows up under ASan. */
        volatile uint8_t last = ((const uint8_t *)img.data)[(size_t)img.width * (size_t)img.height *
                                                              (size_t)img.channels - 1];
        (void)last;
    }
    advgnn_image_release(&img);
    advgnn_ctx_free(ctx);
    return 0;
}
