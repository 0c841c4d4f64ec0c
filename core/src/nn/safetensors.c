/* Weights files in the safetensors format: an 8-byte little-endian header
 * length, a JSON header {"name": {"dtype", "shape", "data_offsets"}, ...}
 * and the raw little-endian tensor data. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "nn/nn_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes tensors in host byte order and supports little-endian hosts only"
#endif

#define SAFETENSORS_MAX_HEADER (100u << 20) /* bytes; the safetensors library's own limit is 100 MB */

/* ---- save -------------------------------------------------------------- */

static cJSON *build_header(const char *const *metadata, const nn_st_entry *entries, size_t count)
{
    cJSON *root = cJSON_CreateObject(), *meta;
    size_t offset = 0;

    if (!root)
        return NULL;
    meta = cJSON_AddObjectToObject(root, "__metadata__");
    if (!meta || !cJSON_AddStringToObject(meta, "format", "pt"))
        goto fail;
    for (size_t i = 0; metadata && metadata[i] && metadata[i + 1]; i += 2) {
        if (!cJSON_AddStringToObject(meta, metadata[i], metadata[i + 1]))
            goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        const advgnn_tensor *v = entries[i].value;
        size_t bytes = (size_t)advgnn_tensor_numel(v) * sizeof(float);
        double shape[ADVGNN_TENSOR_MAX_DIMS], offsets[2] = {(double)offset, (double)(offset + bytes)};
        cJSON *entry = cJSON_AddObjectToObject(root, entries[i].name);

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

int nn_st_save(advgnn_ctx *ctx, const char *file_kind, const char *path, const char *const *metadata,
               const nn_st_entry *entries, size_t count)
{
    cJSON *header;
    char *json = NULL, *tmp = NULL;
    size_t json_len, padded, tmp_len;
    unsigned char length[8];
    FILE *f = NULL;
    int ok;

    header = build_header(metadata, entries, count);
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
    for (size_t i = 0; ok && i < count; i++) {
        const advgnn_tensor *v = entries[i].value;

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
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write %s %s: %s", file_kind, path, strerror(err));
    }
    cJSON_free(json);
    advgnn_free(tmp);
    return ADVGNN_OK;
}

/* Lists every parameter and buffer of a committed network as a file entry;
 * free the list with advgnn_free. */
static nn_st_entry *param_entries(advgnn_nn *nn, advgnn_ctx *ctx, const char *verb, const char *path)
{
    nn_st_entry *entries;

    if (!nn->committed) {
        advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cannot %s %s: the network is not committed", verb, path);
        return NULL;
    }
    entries = advgnn_calloc(nn->param_count ? nn->param_count : 1, sizeof(*entries));
    if (!entries) {
        advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing the tensors of %s", path);
        return NULL;
    }
    for (size_t i = 0; i < nn->param_count; i++) {
        entries[i].name = nn->params[i]->pub.name;
        entries[i].value = &nn->params[i]->value;
    }
    return entries;
}

int advgnn_nn_save(advgnn_nn *nn, advgnn_ctx *ctx, const char *path)
{
    nn_st_entry *entries = param_entries(nn, ctx, "save", path);
    int rc;

    if (!entries)
        return nn->committed ? ADVGNN_ERR_NOMEM : ADVGNN_ERR_INVALID_ARG;
    rc = nn_st_save(ctx, "weights file", path, NULL, entries, nn->param_count);
    advgnn_free(entries);
    return rc;
}

/* ---- load -------------------------------------------------------------- */

int nn_st_open(advgnn_ctx *ctx, const char *file_kind, const char *target_owner, const char *path, nn_st_file *sf)
{
    unsigned char length[8];
    uint64_t header_len = 0;
    long file_size;
    char *json;

    memset(sf, 0, sizeof(*sf));
    sf->path = path;
    sf->file_kind = file_kind;
    sf->target_owner = target_owner;
    sf->f = fopen(path, "rb");
    if (!sf->f)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open %s %s: %s", file_kind, path, strerror(errno));

    /* fopen succeeds on a folder, whose "size" would read as nonsense below. */
    struct stat st;
    if (fstat(fileno(sf->f), &st) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read %s %s: %s", file_kind, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "%s %s is %s; name a .safetensors file", file_kind, path,
                            S_ISDIR(st.st_mode) ? "a folder" : "not a regular file");
    if (fseek(sf->f, 0, SEEK_END) != 0 || (file_size = ftell(sf->f)) < 0 || fseek(sf->f, 0, SEEK_SET) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read %s %s: %s", file_kind, path, strerror(errno));
    if (fread(length, 1, 8, sf->f) != 8)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "%s %s is not a safetensors file or is truncated: it has %ld bytes, fewer than the "
                            "8-byte header length",
                            file_kind, path, file_size);
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)length[i] << (8 * i);

    /* A length the format cannot have means some other kind of file; a
     * plausible one that runs past the end means a cut-off copy. */
    if (header_len < 2 || header_len > SAFETENSORS_MAX_HEADER)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "%s %s is not a safetensors file: its first 8 bytes give a header length of %llu, "
                            "outside 2 to %u bytes",
                            file_kind, path, (unsigned long long)header_len, SAFETENSORS_MAX_HEADER);
    if (header_len > (uint64_t)file_size - 8)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "%s %s is truncated or not a safetensors file: its header length %llu is more than "
                            "the %ld bytes that follow it",
                            file_kind, path, (unsigned long long)header_len, file_size - 8);

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
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "%s %s: the header is not a JSON object", file_kind, path);
    sf->data_start = 8 + header_len;
    sf->data_size = (uint64_t)file_size - sf->data_start;
    return ADVGNN_OK;
}

void nn_st_close(nn_st_file *sf)
{
    cJSON_Delete(sf->header);
    if (sf->f)
        fclose(sf->f);
    memset(sf, 0, sizeof(*sf));
}

const char *nn_st_metadata(const nn_st_file *sf, const char *key)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(sf->header, "__metadata__");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(meta, key);

    return cJSON_IsString(value) ? value->valuestring : NULL;
}

/* Writes the shape of `v` as "[d0,d1,...]", the form the header uses. */
static void format_shape(const advgnn_tensor *v, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (int d = 0; d < v->ndim && used < size; d++) {
        int n = snprintf(out + used, size - used, "%s%lld", d ? "," : "[", (long long)v->shape[d]);

        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(out + used, size - used, "]");
}

/* Checks one header entry against the tensor it loads into and returns its
 * element size and data offset. */
static int check_entry(advgnn_ctx *ctx, const nn_st_file *sf, const nn_st_entry *target, const cJSON *entry,
                       size_t *elem, uint64_t *begin)
{
    const advgnn_tensor *v = target->value;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    int same_shape = cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == v->ndim;
    double b, e;

    if (!cJSON_IsString(dtype) || (strcmp(dtype->valuestring, "F32") != 0 && strcmp(dtype->valuestring, "BF16") != 0))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "%s %s: tensor %s has dtype %s, expected F32 or BF16", sf->file_kind,
                            sf->path, target->name, cJSON_IsString(dtype) ? dtype->valuestring : "(missing)");
    for (int d = 0; same_shape && d < v->ndim; d++) {
        const cJSON *dim = cJSON_GetArrayItem(shape, d);

        same_shape = cJSON_IsNumber(dim) && dim->valuedouble == (double)v->shape[d];
    }
    if (!same_shape) {
        char *text = cJSON_IsArray(shape) ? cJSON_PrintUnformatted(shape) : NULL;
        char expected[ADVGNN_TENSOR_MAX_DIMS * 24 + 4];

        /* A well-formed file whose shapes differ is not corrupt: it was
         * written for a network built with other options. */
        format_shape(v, expected, sizeof(expected));
        advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                     "%s %s: tensor %s has shape %s, but the %s expects %s; the file was written for a %s with other "
                     "options",
                     sf->file_kind, sf->path, target->name, text ? text : "(missing)", sf->target_owner, expected,
                     sf->target_owner);
        cJSON_free(text);
        return ADVGNN_ERR_FORMAT;
    }

    *elem = strcmp(dtype->valuestring, "F32") == 0 ? 4 : 2;
    b = cJSON_IsArray(offsets) && cJSON_GetArraySize(offsets) == 2 ? cJSON_GetArrayItem(offsets, 0)->valuedouble : -1;
    e = cJSON_IsArray(offsets) && cJSON_GetArraySize(offsets) == 2 ? cJSON_GetArrayItem(offsets, 1)->valuedouble : -1;
    if (b < 0 || e < b || e > (double)sf->data_size || e - b != (double)advgnn_tensor_numel(v) * (double)*elem)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                            "%s %s: tensor %s has data offsets [%.0f, %.0f] that do not fit its shape or the %llu "
                            "data bytes",
                            sf->file_kind, sf->path, target->name, b, e, (unsigned long long)sf->data_size);
    *begin = (uint64_t)b;
    return ADVGNN_OK;
}

static int read_entry(advgnn_ctx *ctx, const nn_st_file *sf, const nn_st_entry *target, const cJSON *entry)
{
    int64_t n = advgnn_tensor_numel(target->value);
    float *data = target->value->data;
    uint64_t begin;
    size_t elem;
    int rc = check_entry(ctx, sf, target, entry, &elem, &begin);

    if (rc != ADVGNN_OK)
        return rc;
    if (fseek(sf->f, (long)(sf->data_start + begin), SEEK_SET) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot seek to tensor %s in %s", target->name, sf->path);

    /* BF16 is read into the upper half of the f32 buffer, then widened in place. */
    if (elem == 2) {
        uint16_t *half = (uint16_t *)data + n;

        if (fread(half, 2, (size_t)n, sf->f) != (size_t)n)
            return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read tensor %s from %s", target->name, sf->path);
        advgnn_bf16_to_f32(half, data, (size_t)n);
        return ADVGNN_OK;
    }
    if (fread(data, 4, (size_t)n, sf->f) != (size_t)n)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read tensor %s from %s", target->name, sf->path);
    return ADVGNN_OK;
}

static int has_entry(const nn_st_entry *entries, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(entries[i].name, name) == 0)
            return 1;
    }
    return 0;
}

int nn_st_read(advgnn_ctx *ctx, nn_st_file *sf, const nn_st_entry *entries, size_t count)
{
    const cJSON *item;
    int rc = ADVGNN_OK;

    /* Every tensor of the file must have a target... */
    cJSON_ArrayForEach(item, sf->header)
    {
        if (strcmp(item->string, "__metadata__") != 0 && !has_entry(entries, count, item->string))
            return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                                "%s %s: unexpected tensor %s (not in the %s); the file was written for a %s with "
                                "other options",
                                sf->file_kind, sf->path, item->string, sf->target_owner, sf->target_owner);
    }

    /* ...and every target must be in the file with its shape. All entries
     * are checked before the first is read, so a mismatch leaves the targets
     * unchanged. */
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        uint64_t begin;
        size_t elem;

        item = cJSON_GetObjectItemCaseSensitive(sf->header, entries[i].name);
        if (!cJSON_IsObject(item))
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                              "%s %s: tensor %s is missing; the file was written for a %s with other options",
                              sf->file_kind, sf->path, entries[i].name, sf->target_owner);
        else
            rc = check_entry(ctx, sf, &entries[i], item, &elem, &begin);
    }
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++)
        rc = read_entry(ctx, sf, &entries[i], cJSON_GetObjectItemCaseSensitive(sf->header, entries[i].name));
    return rc;
}

int advgnn_nn_load(advgnn_nn *nn, advgnn_ctx *ctx, const char *path)
{
    nn_st_entry *entries = param_entries(nn, ctx, "load", path);
    nn_st_file sf;
    int rc;

    if (!entries)
        return nn->committed ? ADVGNN_ERR_NOMEM : ADVGNN_ERR_INVALID_ARG;
    rc = nn_st_open(ctx, "weights file", "network", path, &sf);
    if (rc == ADVGNN_OK)
        rc = nn_st_read(ctx, &sf, entries, nn->param_count);
    nn_st_close(&sf);
    advgnn_free(entries);
    return rc;
}
