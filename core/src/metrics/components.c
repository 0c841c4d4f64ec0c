/* 8-connected component labeling by breadth-first flood fill: each pixel
 * enters the queue at most once, so one mask costs O(height * width). */
#include <string.h>

#include "metrics/components.h"

uint32_t advgnn_label_components(const uint8_t *mask, int height, int width, uint32_t *labels, uint32_t *queue)
{
    size_t pixels = (size_t)height * (size_t)width;
    uint32_t components = 0;

    memset(labels, 0, pixels * sizeof(*labels));
    for (size_t start = 0; start < pixels; start++) {
        size_t head = 0, tail = 0;

        if (!mask[start] || labels[start])
            continue;

        /* Flood the new component from its first pixel in raster order. */
        components++;
        labels[start] = components;
        queue[tail++] = (uint32_t)start;
        while (head < tail) {
            uint32_t p = queue[head++];
            int y = (int)(p / (uint32_t)width), x = (int)(p % (uint32_t)width);

            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int ny = y + dy, nx = x + dx;
                    size_t q;

                    if (ny < 0 || ny >= height || nx < 0 || nx >= width)
                        continue;
                    q = (size_t)ny * (size_t)width + (size_t)nx;
                    if (mask[q] && !labels[q]) {
                        labels[q] = components;
                        queue[tail++] = (uint32_t)q;
                    }
                }
            }
        }
    }
    return components;
}
