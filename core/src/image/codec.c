/* Decoding PNG (libspng), JPEG (TurboJPEG) and BMP (stb_image), and PNG
 * encoding. Every size that an attacker controls is checked against the pixel
 * limit before any pixel buffer is allocated. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <spng.h>
#include <stb/stb_image.h>
#include <turbojpeg.h>

#include "advgnn/image.h"
#include "advgnn/source.h"
#include "image/image_internal.h"
#include "util/fsutil.h"

/* Largest encoded file advgnn_image_load_file reads. The pixel limit is the
 * real guard; this one only keeps a stray huge file from being read whole. */
#define MAX_FILE_BYTES ((size_t)512 << 20)

/* libspng keeps ancillary chunks (text, ICC profiles, EXIF) in memory: one
 * chunk may be at most PNG_CHUNK_LIMIT bytes and all of them together at most
 * PNG_CACHE_LIMIT bytes, so a file cannot make the decoder allocate gigabytes
 * outside the pixel buffer. */
#define PNG_CHUNK_LIMIT ((size_t)16 << 20)
#define PNG_CACHE_LIMIT ((size_t)64 << 20)

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* libspng allocates through the context's hook, so tests count its memory and
 * can fail its allocations too. */
static struct spng_alloc spng_allocator = {advgnn_malloc, advgnn_realloc, advgnn_calloc, advgnn_free};

/* Checks the width and height that a file header declares against the pixel
 * limit, before anything of that size is allocated. */
static int check_dimensions(advgnn_ctx *ctx, const char *name, const char *format, uint64_t width,
                            uint64_t height, uint64_t max_pixels)
{
    if (width == 0 || height == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': corrupt %s header: empty image of %llu x %llu pixels",
                            name, format, (unsigned long long)width, (unsigned long long)height);
    if (width > INT_MAX || height > INT_MAX || width * height > max_pixels)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT,
                            "'%s': %s image of %llu x %llu pixels exceeds the limit of %llu pixels; scale the "
                            "file down below the limit (runs resize every image to image_size anyway) or remove it",
                            name, format, (unsigned long long)width, (unsigned long long)height,
                            (unsigned long long)max_pixels);
    return ADVGNN_OK;
}

/* ---- PNG ------------------------------------------------------------------ */

static int spng_failure(advgnn_ctx *ctx, const char *name, int err)
{
    if (err == SPNG_EMEM)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "'%s': out of memory decoding PNG", name);
    if (err == SPNG_EUSER_WIDTH || err == SPNG_EUSER_HEIGHT || err == SPNG_ECHUNK_LIMITS)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "'%s': PNG exceeds a decoder limit (spng: %s)", name,
                            spng_strerror(err));
    return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': truncated or corrupt PNG (spng: %s)", name,
                        spng_strerror(err));
}

/* The spng output format and channel count for a PNG color type. Gray and
 * truecolor keep their channels even with a tRNS chunk; a palette with tRNS
 * becomes RGBA so its transparency survives. */
static void choose_png_format(const struct spng_ihdr *ihdr, int has_trns, int *fmt, int *channels,
                              int *wide)
{
    int sixteen = ihdr->bit_depth == 16;

    *wide = 0;
    switch (ihdr->color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        /* SPNG_FMT_G8 only covers depths up to 8; 16-bit gray is read as is. */
        *fmt = sixteen ? SPNG_FMT_PNG : SPNG_FMT_G8;
        *channels = 1;
        *wide = sixteen;
        break;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
        /* spng 0.7 rejects SPNG_FMT_GA8/GA16 for gray + alpha sources, but the
         * file's own layout is already gray, alpha. */
        *fmt = SPNG_FMT_PNG;
        *channels = 2;
        *wide = sixteen;
        break;
    case SPNG_COLOR_TYPE_INDEXED:
        *fmt = has_trns ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;
        *channels = has_trns ? 4 : 3;
        break;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
        *fmt = SPNG_FMT_RGBA8;
        *channels = 4;
        break;
    default:
        *fmt = SPNG_FMT_RGB8;
        *channels = 3;
        break;
    }
}

/* Decodes `samples` 8-bit samples into `pixels`. 16-bit gray(+alpha) goes
 * through a host-endian 16-bit buffer, and each sample keeps its high byte. */
static int decode_png_pixels(advgnn_ctx *ctx, spng_ctx *png, const char *name, int fmt, int wide,
                             uint8_t *pixels, size_t samples)
{
    size_t len = 0;
    int err = spng_decoded_image_size(png, fmt, &len);

    if (err)
        return spng_failure(ctx, name, err);
    if (len != samples * (wide ? 2 : 1))
        return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "'%s': spng reports %zu bytes for %zu samples", name, len,
                            samples);
    if (!wide) {
        err = spng_decode_image(png, pixels, len, fmt, SPNG_DECODE_TRNS);
        return err ? spng_failure(ctx, name, err) : ADVGNN_OK;
    }

    uint16_t *wide_pixels = advgnn_malloc(len);
    if (!wide_pixels)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "'%s': out of memory decoding a 16-bit PNG (%zu bytes)", name,
                            len);
    err = spng_decode_image(png, wide_pixels, len, fmt, 0);
    if (!err) {
        for (size_t i = 0; i < samples; i++)
            pixels[i] = (uint8_t)(wide_pixels[i] >> 8);
    }
    advgnn_free(wide_pixels);
    return err ? spng_failure(ctx, name, err) : ADVGNN_OK;
}

static int decode_png(advgnn_ctx *ctx, const void *data, size_t size, const char *name, uint64_t max_pixels,
                      advgnn_image *out)
{
    spng_ctx *png = spng_ctx_new2(&spng_allocator, 0);
    if (!png)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "'%s': out of memory creating the PNG decoder", name);

    /* The dimension limits make spng reject a huge IHDR itself; the product
     * is checked against max_pixels below. */
    uint32_t side_limit = max_pixels < (uint64_t)INT_MAX ? (uint32_t)max_pixels : (uint32_t)INT_MAX;
    int err = spng_set_image_limits(png, side_limit, side_limit);
    if (!err)
        err = spng_set_chunk_limits(png, PNG_CHUNK_LIMIT, PNG_CACHE_LIMIT);
    if (!err)
        err = spng_set_png_buffer(png, data, size);
    if (err) {
        spng_ctx_free(png);
        return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "'%s': cannot set up the PNG decoder (spng: %s)", name,
                            spng_strerror(err));
    }

    struct spng_ihdr ihdr;
    err = spng_get_ihdr(png, &ihdr);
    if (err) {
        spng_ctx_free(png);
        return spng_failure(ctx, name, err);
    }
    int rc = check_dimensions(ctx, name, "PNG", ihdr.width, ihdr.height, max_pixels);
    if (rc != ADVGNN_OK) {
        spng_ctx_free(png);
        return rc;
    }

    struct spng_trns trns;
    int has_trns = spng_get_trns(png, &trns) == 0;
    int fmt, channels, wide;
    choose_png_format(&ihdr, has_trns, &fmt, &channels, &wide);

    advgnn_image img;
    rc = advgnn_image_alloc(ctx, &img, (int)ihdr.width, (int)ihdr.height, channels, ADVGNN_PIXEL_U8);
    if (rc == ADVGNN_OK) {
        size_t samples = (size_t)ihdr.width * ihdr.height * (size_t)channels;
        rc = decode_png_pixels(ctx, png, name, fmt, wide, img.data, samples);
    }

    /* spng stops after the last IDAT chunk. Reading the chunks up to IEND
     * rejects a file cut after its pixel data like any other cut file. */
    if (rc == ADVGNN_OK) {
        int trailer = spng_decode_chunks(png);
        if (trailer)
            rc = spng_failure(ctx, name, trailer);
    }
    spng_ctx_free(png);
    if (rc != ADVGNN_OK) {
        advgnn_image_release(&img);
        return rc;
    }
    *out = img;
    return ADVGNN_OK;
}

/* ---- JPEG ----------------------------------------------------------------- */

static int decode_jpeg(advgnn_ctx *ctx, const void *data, size_t size, const char *name, uint64_t max_pixels,
                       advgnn_image *out)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "'%s': cannot create the JPEG decoder (turbojpeg: %s)", name,
                            tjGetErrorStr2(NULL));

    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsampling, &colorspace) != 0) {
        advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': truncated or corrupt JPEG header (turbojpeg: %s)", name,
                     tjGetErrorStr2(tj));
        tjDestroy(tj);
        return ADVGNN_ERR_FORMAT;
    }
    int rc = check_dimensions(ctx, name, "JPEG", width > 0 ? (uint64_t)width : 0,
                              height > 0 ? (uint64_t)height : 0, max_pixels);
    if (rc == ADVGNN_OK && (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK))
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': CMYK JPEG is not supported; convert it to RGB or gray",
                          name);
    if (rc != ADVGNN_OK) {
        tjDestroy(tj);
        return rc;
    }

    int gray = colorspace == TJCS_GRAY;
    advgnn_image img;
    rc = advgnn_image_alloc(ctx, &img, width, height, gray ? 1 : 3, ADVGNN_PIXEL_U8);
    if (rc != ADVGNN_OK) {
        tjDestroy(tj);
        return rc;
    }

    /* libjpeg only warns about a truncated stream and fills the rest with
     * gray, so TJFLAG_STOPONWARNING turns that warning into a failure and a
     * cut file never passes as a valid image. TJFLAG_LIMITSCANS rejects
     * progressive files with an absurd number of scans, which would otherwise
     * take minutes of CPU for one small file. */
    if (tjDecompress2(tj, data, (unsigned long)size, img.data, width, 0, height, gray ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        const char *kind = tjGetErrorCode(tj) == TJERR_WARNING ? "warning" : "error";
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': truncated or corrupt JPEG (turbojpeg %s: %s)", name, kind,
                          tjGetErrorStr2(tj));
        advgnn_image_release(&img);
    }
    tjDestroy(tj);
    if (rc != ADVGNN_OK)
        return rc;
    *out = img;
    return ADVGNN_OK;
}

/* ---- BMP ------------------------------------------------------------------ */

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Fields of the BMP headers that stb_image does not report. */
typedef struct bmp_header {
    uint32_t pixel_offset; /* bytes from the file start to the pixel array */
    uint32_t bits_per_pixel;
    uint32_t compression;  /* 0 = BI_RGB, 3 = BI_BITFIELDS: uncompressed rows */
} bmp_header;

static int read_bmp_header(const uint8_t *p, size_t size, bmp_header *h)
{
    if (size < 30)
        return 0;
    uint32_t info_size = read_le32(p + 14);
    h->pixel_offset = read_le32(p + 10);
    if (info_size == 12) {
        /* OS/2 BITMAPCOREHEADER: 16-bit fields, never compressed. */
        h->bits_per_pixel = (uint32_t)p[24] | ((uint32_t)p[25] << 8);
        h->compression = 0;
        return 1;
    }
    if (size < 34)
        return 0;
    h->bits_per_pixel = (uint32_t)p[28] | ((uint32_t)p[29] << 8);
    h->compression = read_le32(p + 30);
    return 1;
}

/* stb_image reads zeros past the end of a buffer instead of failing, so a cut
 * BMP would decode as a partly black image. For uncompressed rows the pixel
 * array size is known from the header; check that the file contains all of it. */
static int check_bmp_complete(advgnn_ctx *ctx, const char *name, const bmp_header *h, size_t size, int width,
                              int height)
{
    if (h->compression != 0 && h->compression != 3)
        return ADVGNN_OK; /* NOTE: run-length encoded BMPs are not checked for truncation. */

    uint64_t row_bytes = (((uint64_t)width * h->bits_per_pixel + 31) / 32) * 4;
    uint64_t needed = (uint64_t)h->pixel_offset + row_bytes * (uint64_t)height;
    if (needed > size)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "'%s': truncated BMP: the header needs %llu bytes of pixel data, the file has %zu bytes",
                            name, (unsigned long long)needed, size);
    return ADVGNN_OK;
}

/* Returns nonzero when every RGB pixel has equal samples. */
static int rgb_is_gray(const uint8_t *rgb, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++, rgb += 3) {
        if (rgb[0] != rgb[1] || rgb[1] != rgb[2])
            return 0;
    }
    return 1;
}

static int decode_bmp(advgnn_ctx *ctx, const void *data, size_t size, const char *name, uint64_t max_pixels,
                      advgnn_image *out)
{
    bmp_header header;
    if (size > INT_MAX)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "'%s': BMP file of %zu bytes is larger than 2 GiB", name, size);
    if (!read_bmp_header(data, size, &header))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': truncated BMP header (%zu bytes)", name, size);

    int width = 0, height = 0, channels = 0;
    if (!stbi_info_from_memory(data, (int)size, &width, &height, &channels))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': corrupt or unsupported BMP (stb_image: %s)", name,
                            stbi_failure_reason());
    /* stb_image's info call passes on the header's signed height, which is
     * negative for a top-down BMP (rows stored from the top). Its loader
     * flips such files itself, so only the magnitude matters here. */
    if (height < 0 && height != INT_MIN)
        height = -height;
    int rc = check_dimensions(ctx, name, "BMP", width > 0 ? (uint64_t)width : 0, height > 0 ? (uint64_t)height : 0,
                              max_pixels);
    if (rc == ADVGNN_OK)
        rc = check_bmp_complete(ctx, name, &header, size, width, height);
    if (rc != ADVGNN_OK)
        return rc;

    uint8_t *pixels = stbi_load_from_memory(data, (int)size, &width, &height, &channels, 0);
    if (!pixels)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': truncated or corrupt BMP (stb_image: %s)", name,
                            stbi_failure_reason());

    /* stb_image expands every palette to RGB. A palette BMP whose colors are
     * all gray (the usual 8-bit mask) becomes one channel again, as the file
     * meant it. */
    size_t count = (size_t)width * (size_t)height;
    int gray = header.bits_per_pixel <= 8 && channels == 3 && rgb_is_gray(pixels, count);
    advgnn_image img;
    rc = advgnn_image_alloc(ctx, &img, width, height, gray ? 1 : channels, ADVGNN_PIXEL_U8);
    if (rc == ADVGNN_OK) {
        uint8_t *dst = img.data;
        if (gray) {
            for (size_t i = 0; i < count; i++)
                dst[i] = pixels[3 * i];
        } else {
            memcpy(dst, pixels, count * (size_t)channels);
        }
    }
    stbi_image_free(pixels);
    if (rc != ADVGNN_OK)
        return rc;
    *out = img;
    return ADVGNN_OK;
}

/* ---- entry points --------------------------------------------------------- */

int advgnn_image_decode(advgnn_ctx *ctx, const void *data, size_t size, const char *name, uint64_t max_pixels,
                        advgnn_image *out)
{
    const uint8_t *bytes = data;

    memset(out, 0, sizeof(*out));
    if (!name)
        name = "(buffer)";
    if (!data && size > 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "'%s': NULL data of %zu bytes", name, size);
    if (max_pixels == 0)
        max_pixels = ADVGNN_IMAGE_DEFAULT_MAX_PIXELS;

    if (size >= sizeof(png_signature) && memcmp(bytes, png_signature, sizeof(png_signature)) == 0)
        return decode_png(ctx, data, size, name, max_pixels, out);
    if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
        return decode_jpeg(ctx, data, size, name, max_pixels, out);
    if (size >= 2 && bytes[0] == 'B' && bytes[1] == 'M')
        return decode_bmp(ctx, data, size, name, max_pixels, out);
    if (size == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': empty file, not a PNG, JPEG or BMP file", name);
    return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s': not a PNG, JPEG or BMP file (unknown signature)", name);
}

int advgnn_image_load_file(advgnn_ctx *ctx, const char *path, uint64_t max_pixels, advgnn_image *out)
{
    char *data = NULL;
    size_t size = 0;

    memset(out, 0, sizeof(*out));
    if (advgnn_fs_is_dir(path))
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read '%s': it is a folder, not an image file", path);

    /* "<archive>!/<entry>" names a file inside an archive (see advgnn/source.h). */
    int rc = strstr(path, ADVGNN_SOURCE_ARCHIVE_SEPARATOR)
                 ? advgnn_source_read_path(ctx, path, (void **)&data, &size)
                 : advgnn_fs_read_file(ctx, path, MAX_FILE_BYTES, &data, &size);
    if (rc != ADVGNN_OK)
        return rc;
    rc = advgnn_image_decode(ctx, data, size, path, max_pixels, out);
    advgnn_free(data);
    return rc;
}

static const uint8_t png_color_types[5] = {0, SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
                                           SPNG_COLOR_TYPE_TRUECOLOR, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};

int advgnn_image_save_png(advgnn_ctx *ctx, const char *path, const advgnn_image *img)
{
    if (!advgnn_image_is_valid(img) || img->type != ADVGNN_PIXEL_U8)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cannot write '%s': PNG output needs a non-empty 8-bit image",
                            path);

    spng_ctx *png = spng_ctx_new2(&spng_allocator, SPNG_CTX_ENCODER);
    if (!png)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "'%s': out of memory creating the PNG encoder", path);

    struct spng_ihdr ihdr = {0};
    ihdr.width = (uint32_t)img->width;
    ihdr.height = (uint32_t)img->height;
    ihdr.bit_depth = 8;
    ihdr.color_type = png_color_types[img->channels];
    size_t len = (size_t)img->width * (size_t)img->height * (size_t)img->channels;

    int err = spng_set_option(png, SPNG_ENCODE_TO_BUFFER, 1);
    if (!err)
        err = spng_set_ihdr(png, &ihdr);
    if (!err)
        err = spng_encode_image(png, img->data, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    size_t encoded_size = 0;
    void *encoded = NULL;
    if (!err)
        encoded = spng_get_png_buffer(png, &encoded_size, &err);
    spng_ctx_free(png);
    if (err || !encoded) {
        advgnn_free(encoded);
        return advgnn_failf(ctx, err == SPNG_EMEM ? ADVGNN_ERR_NOMEM : ADVGNN_ERR_INTERNAL,
                            "cannot encode '%s' as PNG (spng: %s)", path, spng_strerror(err));
    }

    /* spng allocated the buffer through spng_allocator, so advgnn_free owns it. */
    int rc = advgnn_fs_write_atomic(ctx, path, encoded, encoded_size);
    advgnn_free(encoded);
    return rc;
}
