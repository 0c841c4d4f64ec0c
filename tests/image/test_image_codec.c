/* Decoding real files of every format in the shared data, PNG variants made
 * with libspng at test time, PNG writing, and bad input: truncated, corrupt,
 * not an image, missing, over the pixel limit. Every failure must return one
 * status and a message that names the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spng.h>

#include "advgnn/advgnn.h"
#include "check.h"

#define DATA ADVGNN_SHARED_DATA
#define BOTTLE_PNG DATA "/mvtec_ad/bottle/test/broken_large/000.png"
#define METAL_NUT_MASK DATA "/mvtec_ad/metal_nut/ground_truth/color/000_mask.png"
#define TILE_JPG DATA "/magnetic_tile/MT_Crack/Imgs/exp1_num_249594.jpg"
#define TILE_MASK DATA "/magnetic_tile/MT_Crack/Imgs/exp1_num_249594.png"
#define KOLEKTOR_DIR DATA "/kolektorsdd/kos01"

static char tmpdir[256];

static void temp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static int write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t written = fwrite(data, 1, size, f);
    fclose(f);
    return written == size ? 0 : -1;
}

/* Reads a whole file with stdio (independent of the library's reader). */
static uint8_t *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)len;
    return buf;
}

/* Writes the first `keep` bytes of `src` to the temp file `name`. */
static int write_prefix(const char *src, size_t keep, const char *name, char *path, size_t path_size)
{
    size_t size = 0;
    uint8_t *data = read_bytes(src, &size);
    temp_path(path, path_size, name);
    int rc = data && keep <= size ? write_bytes(path, data, keep) : -1;
    free(data);
    return rc;
}

/* Loads `path` and expects failure with `status` and a message naming the
 * file and containing `reason`. */
static void expect_load_failure(advgnn_ctx *ctx, const char *path, uint64_t max_pixels, int status,
                                const char *reason)
{
    advgnn_image img;

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, max_pixels, &img), status);
    CHECK(img.data == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), path);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), reason);
    printf("expected failure: %s\n", advgnn_ctx_error(ctx));
    advgnn_ctx_clear_error(ctx);
}

static size_t count_nonzero(const advgnn_image *img)
{
    size_t n = 0, count = (size_t)img->width * img->height * img->channels;
    for (size_t i = 0; i < count; i++)
        n += ((const uint8_t *)img->data)[i] != 0;
    return n;
}

/* ---- real files ------------------------------------------------------------ */

static void test_real_png_rgb_and_gray(advgnn_ctx *ctx)
{
    advgnn_image img;

    CHECK_INT_EQ(advgnn_image_load_file(ctx, BOTTLE_PNG, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.width, 900);
    CHECK_INT_EQ(img.height, 900);
    CHECK_INT_EQ(img.channels, 3);
    CHECK(img.type == ADVGNN_PIXEL_U8);
    CHECK(count_nonzero(&img) > 0);
    advgnn_image_release(&img);

    CHECK_INT_EQ(advgnn_image_load_file(ctx, METAL_NUT_MASK, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.width, 700);
    CHECK_INT_EQ(img.channels, 1);
    size_t n = (size_t)img.width * img.height, other = 0;
    for (size_t i = 0; i < n; i++)
        other += ((uint8_t *)img.data)[i] != 0 && ((uint8_t *)img.data)[i] != 255;
    CHECK(count_nonzero(&img) > 0);
    CHECK_INT_EQ(other, 0); /* MVTec masks are 0/255 */
    advgnn_image_release(&img);
}

static void test_real_gray_jpeg_and_mask(advgnn_ctx *ctx)
{
    advgnn_image img, mask;

    CHECK_INT_EQ(advgnn_image_load_file(ctx, TILE_JPG, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.width, 219);
    CHECK_INT_EQ(img.height, 264);
    CHECK_INT_EQ(img.channels, 1);
    CHECK(count_nonzero(&img) > 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, TILE_MASK, 0, &mask), ADVGNN_OK);
    CHECK_INT_EQ(mask.width, img.width);
    CHECK_INT_EQ(mask.height, img.height);
    CHECK_INT_EQ(mask.channels, 1);
    CHECK(count_nonzero(&mask) > 0);
    advgnn_image_release(&img);
    advgnn_image_release(&mask);
}

/* KolektorSDD: each item has 8 parts, exactly one of them defective; the
 * 8-bit palette BMP masks decode as one gray channel. */
static void test_real_kolektor_bmp_masks(advgnn_ctx *ctx)
{
    int defective = 0;

    for (int part = 0; part < 8; part++) {
        char path[512];
        advgnn_image img, mask;
        snprintf(path, sizeof(path), "%s/Part%d.jpg", KOLEKTOR_DIR, part);
        CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
        snprintf(path, sizeof(path), "%s/Part%d_label.bmp", KOLEKTOR_DIR, part);
        CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &mask), ADVGNN_OK);
        CHECK_INT_EQ(img.channels, 1);
        CHECK_INT_EQ(img.width, 500);
        CHECK_INT_EQ(mask.channels, 1);
        CHECK_INT_EQ(mask.width, img.width);
        CHECK_INT_EQ(mask.height, img.height);
        defective += mask.data && count_nonzero(&mask) > 0;
        advgnn_image_release(&img);
        advgnn_image_release(&mask);
    }
    CHECK_INT_EQ(defective, 1);
}

/* Encodes a 24-bit uncompressed BMP of width x height pixels whose pixel
 * (x, y) from the top-left is (40x, 50y, x + y), rows stored bottom-up (the
 * usual positive height) or top-down (a negative height). Returns the size
 * written into buf. */
static size_t make_bmp24(uint8_t *buf, size_t cap, int width, int height, int top_down)
{
    size_t row = ((size_t)width * 3 + 3) / 4 * 4, size = 54 + row * (size_t)height;
    int32_t stored_height = top_down ? -height : height;

    if (size > cap)
        return 0;
    memset(buf, 0, size);
    buf[0] = 'B';
    buf[1] = 'M';
    for (int i = 0; i < 4; i++) {
        buf[2 + i] = (uint8_t)(size >> (8 * i));
        buf[10 + i] = (uint8_t)(54u >> (8 * i));
        buf[14 + i] = (uint8_t)(40u >> (8 * i));
        buf[18 + i] = (uint8_t)((uint32_t)width >> (8 * i));
        buf[22 + i] = (uint8_t)((uint32_t)stored_height >> (8 * i));
    }
    buf[26] = 1;  /* planes */
    buf[28] = 24; /* bits per pixel; compression 0 = BI_RGB */
    for (int y = 0; y < height; y++) {
        uint8_t *r = buf + 54 + row * (size_t)(top_down ? y : height - 1 - y);
        for (int x = 0; x < width; x++) {
            r[3 * x + 0] = (uint8_t)(x + y); /* blue */
            r[3 * x + 1] = (uint8_t)(50 * y);
            r[3 * x + 2] = (uint8_t)(40 * x); /* red */
        }
    }
    return size;
}

/* Bottom-up and top-down BMPs of the same picture decode to the same pixels. */
static void test_bmp_row_orders(advgnn_ctx *ctx)
{
    uint8_t file[256];

    for (int top_down = 0; top_down <= 1; top_down++) {
        advgnn_image img;
        size_t size = make_bmp24(file, sizeof(file), 5, 4, top_down);
        CHECK(size > 0);
        CHECK_INT_EQ(advgnn_image_decode(ctx, file, size, top_down ? "top-down.bmp" : "bottom-up.bmp", 0, &img),
                     ADVGNN_OK);
        if (!img.data)
            continue;
        CHECK_INT_EQ(img.width, 5);
        CHECK_INT_EQ(img.height, 4);
        CHECK_INT_EQ(img.channels, 3);
        const uint8_t *px = img.data;
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 5; x++) {
                const uint8_t *p = px + 3 * (y * 5 + x);
                CHECK(p[0] == 40 * x && p[1] == 50 * y && p[2] == x + y);
            }
        }
        advgnn_image_release(&img);
    }
}

/* ---- PNG variants made with libspng ----------------------------------------- */

/* Encodes a PNG with libspng directly; plte/trns may be NULL. */
static int spng_write(const char *path, uint32_t width, uint32_t height, uint8_t color_type, uint8_t bit_depth,
                      const void *pixels, size_t len, struct spng_plte *plte, struct spng_trns *trns)
{
    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    struct spng_ihdr ihdr = {width, height, bit_depth, color_type, 0, 0, 0};
    int err = spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
    if (!err)
        err = spng_set_ihdr(enc, &ihdr);
    if (!err && plte)
        err = spng_set_plte(enc, plte);
    if (!err && trns)
        err = spng_set_trns(enc, trns);
    if (!err)
        err = spng_encode_image(enc, pixels, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    size_t size = 0;
    void *png = err ? NULL : spng_get_png_buffer(enc, &size, &err);
    spng_ctx_free(enc);
    if (err || !png) {
        fprintf(stderr, "spng cannot encode %s: %s\n", path, spng_strerror(err));
        free(png);
        return -1;
    }
    int rc = write_bytes(path, png, size);
    free(png);
    return rc;
}

static void test_png_16bit_gray_and_rgb(advgnn_ctx *ctx)
{
    enum { W = 5, H = 3 };
    uint16_t gray[W * H], rgb[W * H * 3];
    char path[512];
    advgnn_image img;

    /* High and low bytes differ, so a byte-order mistake shows. */
    for (int i = 0; i < W * H; i++)
        gray[i] = (uint16_t)((i * 17) << 8 | (255 - i));
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (uint16_t)((i * 5) << 8 | 0x7f);

    temp_path(path, sizeof(path), "gray16.png");
    CHECK(spng_write(path, W, H, SPNG_COLOR_TYPE_GRAYSCALE, 16, gray, sizeof(gray), NULL, NULL) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 1);
    for (int i = 0; img.data && i < W * H; i++)
        CHECK_INT_EQ(((uint8_t *)img.data)[i], i * 17);
    advgnn_image_release(&img);

    temp_path(path, sizeof(path), "rgb16.png");
    CHECK(spng_write(path, W, H, SPNG_COLOR_TYPE_TRUECOLOR, 16, rgb, sizeof(rgb), NULL, NULL) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 3);
    for (int i = 0; img.data && i < W * H * 3; i++)
        CHECK_INT_EQ(((uint8_t *)img.data)[i], i * 5);
    advgnn_image_release(&img);
}

static void test_png_gray_alpha_8_and_16(advgnn_ctx *ctx)
{
    enum { W = 4, H = 4 };
    uint8_t ga8[W * H * 2];
    uint16_t ga16[W * H * 2];
    char path[512];
    advgnn_image img;

    for (int i = 0; i < W * H; i++) {
        ga8[2 * i] = (uint8_t)(i * 10);
        ga8[2 * i + 1] = (uint8_t)(255 - i);
        ga16[2 * i] = (uint16_t)((i * 10) << 8 | 0x55);
        ga16[2 * i + 1] = (uint16_t)((200 - i) << 8 | 0xaa);
    }

    temp_path(path, sizeof(path), "ga8.png");
    CHECK(spng_write(path, W, H, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 8, ga8, sizeof(ga8), NULL, NULL) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 2);
    CHECK(img.data && memcmp(img.data, ga8, sizeof(ga8)) == 0);
    advgnn_image_release(&img);

    temp_path(path, sizeof(path), "ga16.png");
    CHECK(spng_write(path, W, H, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 16, ga16, sizeof(ga16), NULL, NULL) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 2);
    for (int i = 0; img.data && i < W * H; i++) {
        CHECK_INT_EQ(((uint8_t *)img.data)[2 * i], i * 10);
        CHECK_INT_EQ(((uint8_t *)img.data)[2 * i + 1], 200 - i);
    }
    advgnn_image_release(&img);
}

static void test_png_palette_and_low_depth(advgnn_ctx *ctx)
{
    enum { W = 8, H = 2 };
    struct spng_plte plte = {0};
    struct spng_trns trns = {0};
    uint8_t indices[W * H];
    char path[512];
    advgnn_image img;

    plte.n_entries = 4;
    for (int e = 0; e < 4; e++) {
        plte.entries[e].red = (uint8_t)(e * 60);
        plte.entries[e].green = (uint8_t)(255 - e * 50);
        plte.entries[e].blue = (uint8_t)(e * 7);
    }
    for (int i = 0; i < W * H; i++)
        indices[i] = (uint8_t)(i % 4);

    temp_path(path, sizeof(path), "palette.png");
    CHECK(spng_write(path, W, H, SPNG_COLOR_TYPE_INDEXED, 8, indices, sizeof(indices), &plte, NULL) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 3);
    for (int i = 0; img.data && i < W * H; i++) {
        const uint8_t *p = (uint8_t *)img.data + 3 * i;
        CHECK_INT_EQ(p[0], (i % 4) * 60);
        CHECK_INT_EQ(p[1], 255 - (i % 4) * 50);
        CHECK_INT_EQ(p[2], (i % 4) * 7);
    }
    advgnn_image_release(&img);

    /* A palette with transparency keeps its alpha as a fourth channel. */
    trns.n_type3_entries = 4;
    for (int e = 0; e < 4; e++)
        trns.type3_alpha[e] = (uint8_t)(255 - e * 80);
    temp_path(path, sizeof(path), "palette_trns.png");
    CHECK(spng_write(path, W, H, SPNG_COLOR_TYPE_INDEXED, 8, indices, sizeof(indices), &plte, &trns) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 4);
    for (int i = 0; img.data && i < W * H; i++)
        CHECK_INT_EQ(((uint8_t *)img.data)[4 * i + 3], 255 - (i % 4) * 80);
    advgnn_image_release(&img);

    /* 1-bit gray: each byte packs 8 pixels; 0b10110000 then 0b01010101. */
    uint8_t bits[2] = {0xb0, 0x55};
    temp_path(path, sizeof(path), "gray1.png");
    CHECK(spng_write(path, 8, 2, SPNG_COLOR_TYPE_GRAYSCALE, 1, bits, sizeof(bits), NULL, NULL) == 0);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &img), ADVGNN_OK);
    CHECK_INT_EQ(img.channels, 1);
    static const uint8_t expected[16] = {255, 0, 255, 255, 0, 0, 0, 0, 0, 255, 0, 255, 0, 255, 0, 255};
    CHECK(img.data && memcmp(img.data, expected, sizeof(expected)) == 0);
    advgnn_image_release(&img);
}

static void test_png_save_round_trip(advgnn_ctx *ctx)
{
    char path[512];

    for (int channels = 1; channels <= 4; channels++) {
        advgnn_image img, back;
        CHECK_INT_EQ(advgnn_image_alloc(ctx, &img, 7, 5, channels, ADVGNN_PIXEL_U8), ADVGNN_OK);
        for (int i = 0; i < 7 * 5 * channels; i++)
            ((uint8_t *)img.data)[i] = (uint8_t)(i * 37 + channels);
        snprintf(path, sizeof(path), "%s/saved_%d.png", tmpdir, channels);
        CHECK_INT_EQ(advgnn_image_save_png(ctx, path, &img), ADVGNN_OK);
        CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &back), ADVGNN_OK);
        CHECK_INT_EQ(back.channels, channels);
        CHECK_INT_EQ(back.width, 7);
        CHECK(back.data && memcmp(back.data, img.data, (size_t)7 * 5 * channels) == 0);
        advgnn_image_release(&img);
        advgnn_image_release(&back);
    }
}

/* ---- bad input -------------------------------------------------------------- */

static uint32_t crc32_png(const uint8_t *data, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A PNG signature and a valid IHDR chunk declaring width x height 8-bit RGB,
 * with no pixel data at all. */
static size_t make_png_header(uint8_t *buf, uint32_t width, uint32_t height)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, signature, 8);
    put_be32(buf + 8, 13);
    memcpy(buf + 12, "IHDR", 4);
    put_be32(buf + 16, width);
    put_be32(buf + 20, height);
    buf[24] = 8; /* bit depth */
    buf[25] = 2; /* truecolor */
    buf[26] = buf[27] = buf[28] = 0;
    put_be32(buf + 29, crc32_png(buf + 12, 17));
    return 33;
}

static void test_truncated_files(advgnn_ctx *ctx)
{
    char path[512];
    struct stat st;

    CHECK(stat(BOTTLE_PNG, &st) == 0);
    CHECK(write_prefix(BOTTLE_PNG, (size_t)st.st_size / 2, "cut.png", path, sizeof(path)) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "truncated or corrupt PNG");

    CHECK(stat(TILE_JPG, &st) == 0);
    CHECK(write_prefix(TILE_JPG, (size_t)st.st_size * 6 / 10, "cut.jpg", path, sizeof(path)) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "truncated or corrupt JPEG");

    /* Cut inside the JPEG header (before the frame header is complete). */
    CHECK(write_prefix(TILE_JPG, 40, "cut_header.jpg", path, sizeof(path)) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "JPEG");

    snprintf(path, sizeof(path), "%s/Part0_label.bmp", KOLEKTOR_DIR);
    CHECK(stat(path, &st) == 0);
    char cut[512];
    CHECK(write_prefix(path, (size_t)st.st_size - 1000, "cut.bmp", cut, sizeof(cut)) == 0);
    expect_load_failure(ctx, cut, 0, ADVGNN_ERR_FORMAT, "truncated BMP");
}

static void test_corrupt_headers(advgnn_ctx *ctx)
{
    uint8_t buf[64];
    char path[512];

    /* A valid IHDR with one flipped byte: the CRC no longer matches. */
    size_t n = make_png_header(buf, 10, 10);
    buf[18] ^= 0x40;
    temp_path(path, sizeof(path), "bad_crc.png");
    CHECK(write_bytes(path, buf, n) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "truncated or corrupt PNG");

    /* A JPEG start marker followed by noise. */
    static const uint8_t jpeg_noise[] = {0xff, 0xd8, 0xff, 0x00, 0x13, 0x37, 0x42, 0x99, 0x01, 0x02, 0x03, 0x04};
    temp_path(path, sizeof(path), "noise.jpg");
    CHECK(write_bytes(path, jpeg_noise, sizeof(jpeg_noise)) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "corrupt JPEG");

    /* "BM" and a header too short to hold the BMP info header. */
    static const uint8_t bmp_short[] = {'B', 'M', 0, 0, 0, 0, 0, 0};
    temp_path(path, sizeof(path), "short.bmp");
    CHECK(write_bytes(path, bmp_short, sizeof(bmp_short)) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "BMP");
}

static void test_not_an_image_missing_empty(advgnn_ctx *ctx)
{
    char path[512];
    static const char text[] = "name,label\nfoo.png,1\n";

    temp_path(path, sizeof(path), "labels.png");
    CHECK(write_bytes(path, text, sizeof(text) - 1) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "not a PNG, JPEG or BMP file");

    temp_path(path, sizeof(path), "empty.jpg");
    CHECK(write_bytes(path, "", 0) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_FORMAT, "empty file");

    temp_path(path, sizeof(path), "does_not_exist.png");
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_NOT_FOUND, "cannot open");

    /* A sparse file of 513 MiB that starts like a PNG is over the file size
     * limit, checked before anything is read. */
    temp_path(path, sizeof(path), "sparse.png");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
        fclose(f);
    }
    CHECK(truncate(path, (off_t)513 << 20) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_LIMIT, "more than the limit");
    CHECK(unlink(path) == 0);

    /* A folder is not a file either. */
    expect_load_failure(ctx, tmpdir, 0, ADVGNN_ERR_IO, "cannot read");
}

static void test_pixel_limit(advgnn_ctx *ctx)
{
    uint8_t buf[64];
    char path[512];

    /* 100000 x 100000 = 10^10 pixels, far above the default 2^28. */
    size_t n = make_png_header(buf, 100000, 100000);
    temp_path(path, sizeof(path), "huge.png");
    CHECK(write_bytes(path, buf, n) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_LIMIT, "exceeds");

    /* 20000 x 20000 passes spng's side limit but not the product. */
    n = make_png_header(buf, 20000, 20000);
    temp_path(path, sizeof(path), "big.png");
    CHECK(write_bytes(path, buf, n) == 0);
    expect_load_failure(ctx, path, 0, ADVGNN_ERR_LIMIT, "exceeds the limit");

    /* Real files of each format against a small caller limit. */
    expect_load_failure(ctx, BOTTLE_PNG, 1000, ADVGNN_ERR_LIMIT, "exceeds the limit of 1000 pixels");
    expect_load_failure(ctx, TILE_JPG, 1000, ADVGNN_ERR_LIMIT, "exceeds the limit of 1000 pixels");
    snprintf(path, sizeof(path), "%s/Part0_label.bmp", KOLEKTOR_DIR);
    expect_load_failure(ctx, path, 1000, ADVGNN_ERR_LIMIT, "exceeds the limit of 1000 pixels");

    /* At exactly the limit the image loads. */
    advgnn_image img;
    CHECK_INT_EQ(advgnn_image_load_file(ctx, TILE_JPG, 219 * 264, &img), ADVGNN_OK);
    advgnn_image_release(&img);
}

static void test_decode_buffer_name(advgnn_ctx *ctx)
{
    advgnn_image img;

    CHECK_INT_EQ(advgnn_image_decode(ctx, "GIF89a", 6, "upload #3", 0, &img), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "'upload #3': not a PNG, JPEG or BMP file");
    advgnn_ctx_clear_error(ctx);
}

/* Decodes each file cut at 64 lengths and with 64 seeded single-byte
 * changes. A changed byte in pixel data may still decode, but no attempt may
 * crash or read out of bounds (checked under ASan), and each failure names
 * the buffer. */
static void test_cut_and_changed_bytes(advgnn_ctx *ctx)
{
    const char *files[] = {TILE_MASK, TILE_JPG, KOLEKTOR_DIR "/Part0_label.bmp", METAL_NUT_MASK};
    uint64_t state = 0x9e3779b97f4a7c15u;

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t size = 0;
        uint8_t *data = read_bytes(files[f], &size);
        CHECK(data != NULL);
        if (!data)
            continue;
        int failures = 0;
        for (int k = 0; k < 128; k++) {
            size_t len = size;
            uint8_t *copy = malloc(size);
            CHECK(copy != NULL);
            if (!copy)
                break;
            memcpy(copy, data, size);
            if (k < 64) {
                len = size * (size_t)k / 64; /* cut */
            } else {
                state = state * 6364136223846793005u + 1442695040888963407u;
                size_t at = (size_t)(state >> 33) % size;
                copy[at] ^= (uint8_t)(1u + (state >> 20) % 255u); /* change one byte */
            }

            advgnn_image img;
            int rc = advgnn_image_decode(ctx, copy, len, "fuzzed", 0, &img);
            if (rc != ADVGNN_OK) {
                failures++;
                CHECK(img.data == NULL);
                CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "'fuzzed'");
            }
            advgnn_image_release(&img);
            advgnn_ctx_clear_error(ctx);
            free(copy);
        }
        /* Every cut file fails; only changed bytes may decode. */
        CHECK(failures >= 64);
        printf("%s: %d of 128 damaged copies rejected\n", files[f], failures);
        free(data);
    }
}

/* Fails each allocation of a PNG decode in turn: every failure must come back
 * as a status, without a leak (checked under ASan) or a crash. */
static void test_png_allocation_failures(advgnn_ctx *ctx)
{
    int failures = 0;

    for (size_t n = 1; n < 64; n++) {
        advgnn_image img;
        advgnn_alloc_fail_after(n);
        int rc = advgnn_image_load_file(ctx, TILE_MASK, 0, &img);
        size_t used = advgnn_alloc_fail_after(0);
        advgnn_ctx_clear_error(ctx);
        if (rc == ADVGNN_OK) {
            advgnn_image_release(&img);
            if (used < n)
                break; /* every allocation succeeded: all earlier ones were tried */
            continue;
        }
        CHECK(img.data == NULL);
        failures++;
    }
    CHECK(failures > 0);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    CHECK(ctx != NULL);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/advgnn_image_codec_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);

    if (access(BOTTLE_PNG, R_OK) != 0) {
        printf("skipping: shared data not found at %s\n", DATA);
        advgnn_ctx_free(ctx);
        return 77;
    }
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);

    test_real_png_rgb_and_gray(ctx);
    test_real_gray_jpeg_and_mask(ctx);
    test_real_kolektor_bmp_masks(ctx);
    test_bmp_row_orders(ctx);
    test_png_16bit_gray_and_rgb(ctx);
    test_png_gray_alpha_8_and_16(ctx);
    test_png_palette_and_low_depth(ctx);
    test_png_save_round_trip(ctx);
    test_truncated_files(ctx);
    test_corrupt_headers(ctx);
    test_not_an_image_missing_empty(ctx);
    test_pixel_limit(ctx);
    test_decode_buffer_name(ctx);
    test_cut_and_changed_bytes(ctx);
    test_png_allocation_failures(ctx);
    if (check_failures)
        fprintf(stderr, "last error: %s\n", advgnn_ctx_error(ctx));

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
