/* Small real images for the training tests: defect-free Magnetic Tile
 * photographs from ADVGNN_SHARED_DATA, box-filtered to SIDE x SIDE, the gray
 * value copied to three channels and normalized with ImageNet's mean and
 * deviation as the runner's preprocessing does, plus an advgnn_image_source
 * over them. Used by the train, cnn_ae and vig tests. */
#ifndef ADVGNN_TEST_MT_IMAGES_H
#define ADVGNN_TEST_MT_IMAGES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "advgnn/encoder.h"

#define MT_FOLDER ADVGNN_SHARED_DATA "/magnetic_tile/MT_Free/Imgs"

typedef struct mt_images {
    int side;
    size_t count;
    float *data; /* (count, 3, side, side) */
} mt_images;

static int mt_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Decodes a grayscale JPEG and box-filters it into out (3, side, side). */
static int mt_load_one(const char *path, int side, float *out)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    FILE *f = fopen(path, "rb");
    unsigned char *jpeg = NULL, *pixels = NULL;
    long size = 0;
    int w, h, sub, space, ok = 0;
    tjhandle tj = tjInitDecompress();

    if (!f || !tj || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0)
        goto done;
    jpeg = malloc((size_t)size);
    if (!jpeg || fread(jpeg, 1, (size_t)size, f) != (size_t)size)
        goto done;
    if (tjDecompressHeader3(tj, jpeg, (unsigned long)size, &w, &h, &sub, &space) != 0 || w < side || h < side)
        goto done;
    pixels = malloc((size_t)w * h);
    if (!pixels || tjDecompress2(tj, jpeg, (unsigned long)size, pixels, w, 0, h, TJPF_GRAY, 0) != 0)
        goto done;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int y0 = y * h / side, y1 = (y + 1) * h / side, x0 = x * w / side, x1 = (x + 1) * w / side;
            double sum = 0;

            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++)
                    sum += pixels[yy * w + xx];
            for (int c = 0; c < 3; c++)
                out[(size_t)c * side * side + y * side + x] =
                    (float)((sum / ((y1 - y0) * (x1 - x0)) / 255.0 - mean[c]) / std[c]);
        }
    ok = 1;
done:
    if (f)
        fclose(f);
    if (tj)
        tjDestroy(tj);
    free(jpeg);
    free(pixels);
    return ok;
}

/* Loads up to `want` images in name order, skipping the first `skip`.
 * Returns the number loaded (0 when the folder is absent). */
static size_t mt_load(mt_images *m, int side, size_t skip, size_t want)
{
    DIR *d = opendir(MT_FOLDER);
    struct dirent *e;
    char **names = NULL;
    size_t count = 0, capacity = 0;

    m->side = side;
    m->count = 0;
    m->data = malloc(want * 3 * (size_t)side * side * sizeof(float));
    if (!d || !m->data) {
        if (d)
            closedir(d);
        return 0;
    }
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);

        if (len > 4 && strcmp(e->d_name + len - 4, ".jpg") == 0) {
            if (count == capacity) {
                capacity = capacity ? 2 * capacity : 256;
                names = realloc(names, capacity * sizeof(char *));
            }
            names[count++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, count, sizeof(char *), mt_compare_names);
    for (size_t i = skip; i < count && m->count < want; i++) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/%s", MT_FOLDER, names[i]);
        if (mt_load_one(path, side, m->data + m->count * 3 * (size_t)side * side))
            m->count++;
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return m->count;
}

static void mt_free(mt_images *m)
{
    free(m->data);
    m->data = NULL;
}

static int mt_read(void *user, advgnn_ctx *ctx, size_t first, size_t n, float *out)
{
    const mt_images *m = user;
    size_t image = 3 * (size_t)m->side * m->side;

    (void)ctx;
    if (first + n > m->count)
        return ADVGNN_ERR_INVALID_ARG;
    memcpy(out, m->data + first * image, n * image * sizeof(float));
    return ADVGNN_OK;
}

static advgnn_image_source mt_source(mt_images *m)
{
    advgnn_image_source s = {m->count, mt_read, m};

    return s;
}

#endif
