/* Weights files in the safetensors format: an 8-byte little-endian header
 * length, a JSON header {"name": {"dtype", "shape", "data_offsets"}, ...}
 * and the raw little-endian tensor data. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "nn/nn_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes tensors in host byte order and supports little-endian hosts only"
#endif

#define SAFETENSORS_MAX_HEADER (100u << 20) /* bytes; the safetensors library's own limit is 100 MB */

/* ---- save -------------------------------------------------------------- */

static cJSON *build_header(advgnn_nn *nn)
{
    cJSON *root = cJSON_CreateObject(), *meta;
    size_t offset = 0;

    if (!root)
        return NULL;
    meta = cJSON_AddObjectToObject(root, "__metadata__");
    if (!meta || !cJSON_AddStringToObject(meta, "format", "pt"))
        goto fail;
    for (size_t i = 0; i < nn->param_count; i++) {
        const advgnn_tensor *v = &nn->params[i]->value;
        size_t bytes = (size_t)advgnn_tensor_numel(v) * sizeof(float);
        double shape[ADVGNN_TENSOR_MAX_DIMS], offsets[2] = {(double)offset, (double)(offset + bytes)};
        cJSON *entry = cJSON_AddObjectToObject(root, nn->params[i]->pub.name);

        for (int d = 0; d < v->ndim; d++)
            shape[d] = (double)v->shape[d];
        if (!entry || !cJSON_AddStringToObject(entry, "dtype", "F32") ||
            !cJSON_AddItemToObject(entry, "shape", cJSON_CreateDoubleArray(shape, v->ndim)) ||
            !cJSON_AddItemToObject(entry, "data_offsets", cJSON_CreateDoubleArray(offsets, 2)))
            goto fail;
        offset += bytes;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

static int write_all(FILE *f, const void *data, size_t bytes)
{
    return bytes == 0 || fwrite(data, 1, bytes, f) == bytes;
}

int advgnn_nn_save(advgnn_nn *nn, advgnn_ctx *ctx, const char *path)
{
    cJSON *header;
    char *json = NULL, *tmp = NULL;
    size_t json_len, padded, tmp_len;
    unsigned char length[8];
    FILE *f = NULL;
    int ok;

    if (!nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cannot save %s: the network is not committed", path);
    header = build_header(nn);
    json = header ? cJSON_PrintUnformatted(header) : NULL;
    cJSON_Delete(header);
    tmp_len = strlen(path) + 5;
    tmp = advgnn_malloc(tmp_len);
    if (!json || !tmp) {
        cJSON_free(json);
        advgnn_free(tmp);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory writing the header of %s", path);
    }
    snprintf(tmp, tmp_len, "%s.tmp", path);

    /* The header is padded with spaces to a multiple of 8 bytes so that the
     * data starts aligned, as the reference writer does. */
    json_len = strlen(json);
    padded = (json_len + 7) / 8 * 8;
    for (int i = 0; i < 8; i++)
        length[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    f = fopen(tmp, "wb");
    ok = f && write_all(f, length, 8) && write_all(f, json, json_len);
    for (size_t i = json_len; ok && i < padded; i++)
        ok = fputc(' ', f) != EOF;
    for (size_t i = 0; ok && i < nn->param_count; i++) {
        const advgnn_tensor *v = &nn->params[i]->value;

        ok = write_all(f, v->data, (size_t)advgnn_tensor_numel(v) * sizeof(float));
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
        ok = 0;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        int err = errno;

        unlink(tmp);
        cJSON_free(json);
        advgnn_free(tmp);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write weights file %s: %s", path, strerror(err));
    }
    cJSON_free(json);
    advgnn_free(tmp);
    return ADVGNN_OK;
}

/* ---- load -------------------------------------------------------------- */

typedef struct st_file {
    FILE *f;
    const char *path;
    uint64_t data_start, data_size; /* bytes after the header */
    cJSON *header;
} st_file;

static int open_file(advgnn_ctx *ctx, const char *path, st_file *sf)
{
    unsigned char length[8];
    uint64_t header_len = 0;
    long file_size;
    char *json;

    memset(sf, 0, sizeof(*sf));
    sf->path = path;
    sf->f = fopen(path, "rb");
    if (!sf->f)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open weights file %s: %s", path, strerror(errno));
    if (fseek(sf->f, 0, SEEK_END) != 0 || (file_size = ftell(sf->f)) < 0 || fseek(sf->f, 0, SEEK_SET) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read weights file %s: %s", path, strerror(errno));
    if (fread(length, 1, 8, sf->f) != 8)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "weights file %s is shorter than the 8-byte header length", path);
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)length[i] << (8 * i);
    if (header_len < 2 || header_len > SAFETENSORS_MAX_HEADER || header_len > (uint64_t)file_size - 8)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "weights file %s: header length %llu is invalid for a file of %ld bytes", path,
                            (unsigned long long)header_len, file_size);

    json = advgnn_malloc((size_t)header_len + 1);
    if (!json)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading the header of %s", path);
    if (fread(json, 1, (size_t)header_len, sf->f) != header_len) {
        advgnn_free(json);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read the header of %s", path);
    }
    json[header_len] = '\0';
    sf->header = cJSON_Parse(json);
    advgnn_free(json);
    if (!cJSON_IsObject(sf->header))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "weights file %s: the header is not a JSON object", path);
    sf->data_start = 8 + header_len;
    sf->data_size = (uint64_t)file_size - sf->data_start;
    return ADVGNN_OK;
}

/* Checks one header entry against the parameter it loads into and returns
 * its element size and data offset. */
static int check_entry(advgnn_ctx *ctx, const st_file *sf, const nn_param *p, const cJSON *entry, size_t *elem,
                       uint64_t *begin)
{
    const advgnn_tensor *v = &p->value;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    int same_shape = cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == v->ndim;
    double b, e;

    if (!cJSON_IsString(dtype) || (strcmp(dtype->valuestring, "F32") != 0 && strcmp(dtype->valuestring, "BF16") != 0))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "weights file %s: tensor %s has dtype %s, expected F32 or BF16",
                            sf->path, p->pub.name, cJSON_IsString(dtype) ? dtype->valuestring : "(missing)");
    for (int d = 0; same_shape && d < v->ndim; d++) {
        const cJSON *dim = cJSON_GetArrayItem(shape, d);

        same_shape = cJSON_IsNumber(dim) && dim->valuedouble == (double)v->shape[d];
    }
    if (!same_shape) {
        char *text = cJSON_IsArray(shape) ? cJSON_PrintUnformatted(shape) : NULL;

        advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                     "weights file %s: tensor %s has shape %s, the network expects %d dimensions (%lld, ...)",
                     sf->path, p->pub.name, text ? text : "(missing)", v->ndim, (long long)v->shape[0]);
        cJSON_free(text);
        return ADVGNN_ERR_FORMAT;
    }

    *elem = strcmp(dtype->valuestring, "F32") == 0 ? 4 : 2;
    b = cJSON_IsArray(offsets) && cJSON_GetArraySize(offsets) == 2 ? cJSON_GetArrayItem(offsets, 0)->valuedouble : -1;
    e = cJSON_IsArray(offsets) && cJSON_GetArraySize(offsets) == 2 ? cJSON_GetArrayItem(offsets, 1)->valuedouble : -1;
    if (b < 0 || e < b || e > (double)sf->data_size || e - b != (double)advgnn_tensor_numel(v) * (double)*elem)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "weights file %s: tensor %s has data offsets [%.0f, %.0f] that do not fit its shape or "
                            "the %llu data bytes",
                            sf->path, p->pub.name, b, e, (unsigned long long)sf->data_size);
    *begin = (uint64_t)b;
    return ADVGNN_OK;
}

static int read_entry(advgnn_ctx *ctx, const st_file *sf, nn_param *p, const cJSON *entry)
{
    int64_t n = advgnn_tensor_numel(&p->value);
    uint64_t begin;
    size_t elem;
    int rc = check_entry(ctx, sf, p, entry, &elem, &begin);

    if (rc != ADVGNN_OK)
        return rc;
    if (fseek(sf->f, (long)(sf->data_start + begin), SEEK_SET) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot seek to tensor %s in %s", p->pub.name, sf->path);

    /* BF16 is read into the upper half of the f32 buffer, then widened in place. */
    if (elem == 2) {
        uint16_t *half = (uint16_t *)p->value.data + n;

        if (fread(half, 2, (size_t)n, sf->f) != (size_t)n)
            return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read tensor %s from %s", p->pub.name, sf->path);
        advgnn_bf16_to_f32(half, p->value.data, (size_t)n);
        return ADVGNN_OK;
    }
    if (fread(p->value.data, 4, (size_t)n, sf->f) != (size_t)n)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read tensor %s from %s", p->pub.name, sf->path);
    return ADVGNN_OK;
}

int advgnn_nn_load(advgnn_nn *nn, advgnn_ctx *ctx, const char *path)
{
    st_file sf;
    const cJSON *item, *entries;
    int rc;

    if (!nn->committed)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cannot load %s: the network is not committed", path);
    rc = open_file(ctx, path, &sf);

    /* Every tensor of the file must belong to the network... */
    entries = rc == ADVGNN_OK ? sf.header : NULL;
    cJSON_ArrayForEach(item, entries)
    {
        if (strcmp(item->string, "__metadata__") != 0 && !advgnn_nn_param_find(nn, item->string)) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "weights file %s: unexpected tensor %s (not in the network)",
                              path, item->string);
            break;
        }
    }

    /* ...and every parameter of the network must be in the file with its
     * shape. All entries are checked before the first is read, so a
     * mismatch leaves the parameters unchanged. */
    for (size_t i = 0; rc == ADVGNN_OK && i < nn->param_count; i++) {
        nn_param *p = nn->params[i];
        uint64_t begin;
        size_t elem;

        item = cJSON_GetObjectItemCaseSensitive(sf.header, p->pub.name);
        if (!cJSON_IsObject(item))
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "weights file %s: tensor %s is missing", path, p->pub.name);
        else
            rc = check_entry(ctx, &sf, p, item, &elem, &begin);
    }
    for (size_t i = 0; rc == ADVGNN_OK && i < nn->param_count; i++)
        rc = read_entry(ctx, &sf, nn->params[i], cJSON_GetObjectItemCaseSensitive(sf.header, nn->params[i]->pub.name));
    cJSON_Delete(sf.header);
    if (sf.f)
        fclose(sf.f);
    return rc;
}
