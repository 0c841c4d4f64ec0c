/* The on-disk cache of decoded and preprocessed samples.
 *
 * File layout, in the host's byte order (the header records it):
 *
 *   header   (64 bytes)  magic "ADVGNNSC", version, byte-order mark, settings
 *                        key, sample count, height, width, has_masks, index
 *                        checksum, header checksum
 *   index    (count * 24 bytes) per sample: key, checksum, label, has_mask
 *   blocks   (count * block bytes) per sample: 3 * H * W floats, then H * W
 *                        mask bytes when has_masks
 *
 * Checksums are 64-bit FNV-1a, applied to 64-bit words for the sample blocks
 * so that checking a warm cache stays cheap. They detect damage and
 * truncation, not tampering. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advgnn/source.h"
#include "advgnn/status.h"
#include "data/sample_cache.h"
#include "util/fsutil.h"

#define CACHE_MAGIC "ADVGNNSC"
#define CACHE_VERSION 1u
#define CACHE_BYTE_ORDER 0x01020304u
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

typedef struct cache_header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order;
    uint64_t settings_key;
    uint64_t count;
    uint32_t height; /* pixels */
    uint32_t width;
    uint32_t has_masks;
    uint32_t reserved;
    uint64_t index_checksum;
    uint64_t header_checksum; /* of the bytes before this field */
} cache_header;

typedef struct cache_record {
    uint64_t key;
    uint64_t checksum; /* of the sample's block and its has_mask byte */
    uint8_t label;
    uint8_t has_mask;
    uint8_t reserved[6];
} cache_record;

_Static_assert(sizeof(cache_header) == 64, "cache header layout");
_Static_assert(sizeof(cache_record) == 24, "cache record layout");

/* ---- hashing ------------------------------------------------------------- */

static uint64_t fnv_bytes(uint64_t hash, const void *data, size_t size)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < size; i++) {
        hash ^= p[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

/* FNV-1a over 64-bit words, then the tail bytes. */
static uint64_t fnv_words(uint64_t hash, const void *data, size_t size)
{
    const unsigned char *p = data;
    size_t words = size / 8;

    for (size_t i = 0; i < words; i++) {
        uint64_t word;
        memcpy(&word, p + 8 * i, 8);
        hash ^= word;
        hash *= FNV_PRIME;
    }
    return fnv_bytes(hash, p + 8 * words, size - 8 * words);
}

/* Hashes a string with its terminator, so ("ab", "c") and ("a", "bc") differ;
 * NULL hashes as a single 0xff byte. */
static uint64_t fnv_string(uint64_t hash, const char *s)
{
    if (!s)
        return fnv_bytes(hash, "\xff", 1);
    return fnv_bytes(hash, s, strlen(s) + 1);
}

/* Hashes the path, size and modification time of a sample's file. For an
 * archive entry the archive file is stat'ed. A missing file hashes as such,
 * so that the key differs from any file that exists. */
static uint64_t fnv_file(uint64_t hash, const char *path)
{
    char file[4096];
    const char *separator;
    struct stat st;
    int64_t fields[3] = {-1, -1, -1};

    hash = fnv_string(hash, path);
    if (!path)
        return hash;
    separator = strstr(path, ADVGNN_SOURCE_ARCHIVE_SEPARATOR);
    size_t length = separator ? (size_t)(separator - path) : strlen(path);
    if (length >= sizeof(file))
        return hash;
    memcpy(file, path, length);
    file[length] = '\0';
    if (stat(file, &st) == 0) {
        fields[0] = (int64_t)st.st_size;
        fields[1] = (int64_t)st.st_mtim.tv_sec;
        fields[2] = (int64_t)st.st_mtim.tv_nsec;
    }
    return fnv_bytes(hash, fields, sizeof(fields));
}

/* The key of the settings that shape every sample of a split. */
static uint64_t settings_key(const advgnn_sample_loader *loader, const advgnn_split_data *data)
{
    const advgnn_preprocess *pp = &loader->pp;
    int32_t ints[9] = {(int32_t)CACHE_VERSION, (int32_t)data->split, data->height, data->width, pp->resize_height,
                       pp->resize_width, pp->crop_height, pp->crop_width, pp->channels};
    uint64_t hash = FNV_OFFSET;

    hash = fnv_string(hash, loader->dataset_name);
    hash = fnv_string(hash, data->count > 0 ? data->samples[0].category : "");
    hash = fnv_bytes(hash, ints, sizeof(ints));
    hash = fnv_bytes(hash, pp->mean, sizeof(pp->mean));
    hash = fnv_bytes(hash, pp->std, sizeof(pp->std));
    return fnv_bytes(hash, &loader->max_pixels, sizeof(loader->max_pixels));
}

static uint64_t sample_key(const advgnn_sample *s)
{
    int32_t ints[2] = {s->anomalous, s->mask_threshold};
    uint64_t hash = FNV_OFFSET;

    hash = fnv_string(hash, s->name);
    hash = fnv_bytes(hash, ints, sizeof(ints));
    hash = fnv_file(hash, s->image_path);
    return fnv_file(hash, s->mask_path);
}

static size_t image_bytes(const advgnn_split_data *data)
{
    return 3 * (size_t)data->height * (size_t)data->width * sizeof(float);
}

static size_t mask_bytes(const advgnn_split_data *data)
{
    return data->masks ? (size_t)data->height * (size_t)data->width : 0;
}

/* Returns the checksum of sample i as stored in `data`. */
static uint64_t block_checksum(const advgnn_split_data *data, size_t i)
{
    const unsigned char *image = (const unsigned char *)data->images + i * image_bytes(data);
    uint64_t hash = fnv_words(FNV_OFFSET, image, image_bytes(data));

    if (data->masks) {
        hash = fnv_words(hash, data->masks + i * mask_bytes(data), mask_bytes(data));
        hash = fnv_bytes(hash, &data->has_mask[i], 1);
    }
    return hash;
}

/* ---- file name ----------------------------------------------------------- */

int advgnn_sample_cache_enabled(const advgnn_sample_loader *loader)
{
    return loader->cache_dir && loader->cache_dir[0] && !(loader->fn && loader->fn->load);
}

char *advgnn_sample_cache_path(const advgnn_sample_loader *loader, const advgnn_split_data *data)
{
    char name[256];

    /* The dataset name is a plugin name (letters, digits, '_'); the category
     * may hold any byte, so it enters the name only through the hash. */
    snprintf(name, sizeof(name), "%s-%s-%016" PRIx64 ".samples", loader->dataset_name,
             advgnn_split_name(data->split), settings_key(loader, data));
    return advgnn_fs_join(loader->cache_dir, name);
}

/* ---- reading ------------------------------------------------------------- */

/* Reads exactly `size` bytes at `offset`. Returns 0 on a short read or an error. */
static int read_at(int fd, void *buffer, size_t size, uint64_t offset)
{
    unsigned char *p = buffer;

    while (size > 0) {
        ssize_t n = pread(fd, p, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 1;
}

/* Checks the header against the split's settings. Returns NULL when it
 * matches, else the reason for the warning. */
static const char *check_header(const cache_header *h, uint64_t key, const advgnn_split_data *data, uint64_t file_size)
{
    if (memcmp(h->magic, CACHE_MAGIC, 8) != 0)
        return "it is not a sample cache file";
    if (h->version != CACHE_VERSION || h->byte_order != CACHE_BYTE_ORDER)
        return "it has another format version or byte order";
    if (h->header_checksum != fnv_bytes(FNV_OFFSET, h, offsetof(cache_header, header_checksum)))
        return "its header checksum does not match";
    if (h->settings_key != key || h->height != (uint32_t)data->height || h->width != (uint32_t)data->width ||
        h->has_masks != (data->masks != NULL))
        return "it was written with other settings";

    size_t block = image_bytes(data) + mask_bytes(data);
    if (h->count > (UINT64_MAX - sizeof(*h)) / (sizeof(cache_record) + block) ||
        file_size != sizeof(*h) + h->count * (sizeof(cache_record) + block))
        return "its size does not match its sample count (truncated?)";
    return NULL;
}

/* Reads and checks the index. Returns NULL on success, else the reason. */
static const char *read_index(int fd, const cache_header *h, cache_record **records)
{
    size_t count = (size_t)h->count;

    *records = advgnn_calloc(count ? count : 1, sizeof(**records));
    if (!*records)
        return NULL;
    if (!read_at(fd, *records, count * sizeof(**records), sizeof(*h)))
        return "its index cannot be read";
    if (fnv_bytes(FNV_OFFSET, *records, count * sizeof(**records)) != h->index_checksum)
        return "its index checksum does not match";
    return NULL;
}

/* Finds the record of `key`, trying position `hint` first because an
 * unchanged split lists its samples in the same order. */
static long find_record(const cache_record *records, size_t count, uint64_t key, size_t hint)
{
    if (hint < count && records[hint].key == key)
        return (long)hint;
    for (size_t j = 0; j < count; j++)
        if (records[j].key == key)
            return (long)j;
    return -1;
}

/* Copies the samples whose key has a record and whose block checksum
 * matches. Returns the number of damaged blocks. */
static size_t copy_samples(int fd, const cache_header *h, const cache_record *records, advgnn_split_data *out,
                           uint8_t *cached)
{
    size_t block = image_bytes(out) + mask_bytes(out);
    uint64_t blocks_offset = sizeof(*h) + h->count * sizeof(cache_record);
    size_t damaged = 0;

    for (size_t i = 0; i < out->count; i++) {
        long j = find_record(records, (size_t)h->count, sample_key(&out->samples[i]), i);
        if (j < 0 || records[j].label != (uint8_t)out->samples[i].anomalous)
            continue;

        uint64_t offset = blocks_offset + (uint64_t)j * block;
        unsigned char *image = (unsigned char *)out->images + i * image_bytes(out);
        int ok = read_at(fd, image, image_bytes(out), offset);
        if (ok && out->masks) {
            ok = read_at(fd, out->masks + i * mask_bytes(out), mask_bytes(out), offset + image_bytes(out));
            out->has_mask[i] = records[j].has_mask;
        }
        if (ok && block_checksum(out, i) == records[j].checksum) {
            cached[i] = 1;
            continue;
        }

        /* The decoder writes a mask only where the sample has one, so the
         * damaged bytes must not stay behind. */
        damaged++;
        if (out->masks) {
            memset(out->masks + i * mask_bytes(out), 0, mask_bytes(out));
            out->has_mask[i] = 0;
        }
    }
    return damaged;
}

int advgnn_sample_cache_read(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out,
                             uint8_t *cached, int *rebuild)
{
    cache_header header;
    cache_record *records = NULL;
    const char *problem = NULL;
    struct stat st;
    int rc = ADVGNN_OK;

    *rebuild = 1;
    char *path = advgnn_sample_cache_path(loader, out);
    if (!path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            advgnn_log(ctx, ADVGNN_LOG_WARN, "cannot open the sample cache file '%s': %s; decoding the images",
                       path, strerror(errno));
        advgnn_free(path);
        return ADVGNN_OK;
    }

    if (fstat(fd, &st) != 0 || !read_at(fd, &header, sizeof(header), 0))
        problem = "its header cannot be read (truncated?)";
    if (!problem)
        problem = check_header(&header, settings_key(loader, out), out, (uint64_t)st.st_size);
    if (!problem) {
        problem = read_index(fd, &header, &records);
        if (!records)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading the sample cache file '%s'", path);
    }

    if (rc == ADVGNN_OK && !problem) {
        size_t damaged = copy_samples(fd, &header, records, out, cached);
        size_t hits = 0;
        for (size_t i = 0; i < out->count; i++)
            hits += cached[i];
        if (damaged > 0)
            advgnn_log(ctx, ADVGNN_LOG_WARN,
                       "sample cache file '%s': %zu sample(s) fail their checksum; decoding them again and "
                       "rewriting the file",
                       path, damaged);
        *rebuild = hits != out->count || header.count != out->count;
        advgnn_log(ctx, ADVGNN_LOG_DEBUG, "sample cache file '%s': %zu of %zu samples cached", path, hits,
                   out->count);
    } else if (rc == ADVGNN_OK) {
        advgnn_log(ctx, ADVGNN_LOG_WARN, "sample cache file '%s' is invalid because %s; decoding the images and "
                   "rewriting it", path, problem);
    }

    close(fd);
    advgnn_free(records);
    advgnn_free(path);
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t size)
{
    const unsigned char *p = data;

    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        size -= (size_t)n;
    }
    return 1;
}

/* Writes header, index and blocks to `fd`. Returns 0 with errno set on failure. */
static int write_file(int fd, const advgnn_sample_loader *loader, const advgnn_split_data *data,
                      const cache_record *records)
{
    cache_header header;

    memset(&header, 0, sizeof(header));
    memcpy(header.magic, CACHE_MAGIC, 8);
    header.version = CACHE_VERSION;
    header.byte_order = CACHE_BYTE_ORDER;
    header.settings_key = settings_key(loader, data);
    header.count = data->count;
    header.height = (uint32_t)data->height;
    header.width = (uint32_t)data->width;
    header.has_masks = data->masks != NULL;
    header.index_checksum = fnv_bytes(FNV_OFFSET, records, data->count * sizeof(*records));
    header.header_checksum = fnv_bytes(FNV_OFFSET, &header, offsetof(cache_header, header_checksum));

    if (!write_all(fd, &header, sizeof(header)) || !write_all(fd, records, data->count * sizeof(*records)))
        return 0;
    for (size_t i = 0; i < data->count; i++) {
        if (!write_all(fd, (const unsigned char *)data->images + i * image_bytes(data), image_bytes(data)))
            return 0;
        if (data->masks && !write_all(fd, data->masks + i * mask_bytes(data), mask_bytes(data)))
            return 0;
    }
    return 1;
}

void advgnn_sample_cache_write(advgnn_ctx *ctx, const advgnn_sample_loader *loader, const advgnn_split_data *data)
{
    char *path = advgnn_sample_cache_path(loader, data);
    char *tmp = path ? advgnn_malloc(strlen(path) + 32) : NULL;
    cache_record *records = advgnn_calloc(data->count ? data->count : 1, sizeof(*records));
    const char *failed = NULL;
    int err = 0;

    if (!path || !tmp || !records) {
        advgnn_log(ctx, ADVGNN_LOG_WARN, "out of memory writing the sample cache of the %s split; it is not saved",
                   advgnn_split_name(data->split));
        goto done;
    }
    for (size_t i = 0; i < data->count; i++) {
        records[i].key = sample_key(&data->samples[i]);
        records[i].checksum = block_checksum(data, i);
        records[i].label = (uint8_t)data->samples[i].anomalous;
        records[i].has_mask = data->has_mask ? data->has_mask[i] : 0;
    }

    /* The folder may be shared by runs; the pid keeps their temporary
     * files apart. No fsync: a file cut short by a crash fails its checks
     * on the next read and is rebuilt. */
    if (advgnn_fs_mkdir_p(ctx, loader->cache_dir) != ADVGNN_OK) {
        advgnn_log(ctx, ADVGNN_LOG_WARN, "sample cache not saved: %s", advgnn_ctx_error(ctx));
        advgnn_ctx_clear_error(ctx);
        goto done;
    }
    snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        failed = "create";
        err = errno;
    } else {
        int ok = write_file(fd, loader, data, records);
        err = errno;
        if (close(fd) != 0 && ok) {
            ok = 0;
            err = errno;
        }
        if (!ok)
            failed = "write";
        else if (rename(tmp, path) != 0) {
            failed = "rename";
            err = errno;
        }
        if (failed)
            unlink(tmp);
    }
    if (failed)
        advgnn_log(ctx, ADVGNN_LOG_WARN, "cannot %s the sample cache file '%s': %s; the next run decodes again",
                   failed, failed[0] == 'r' ? path : tmp, strerror(err));

done:
    advgnn_free(records);
    advgnn_free(tmp);
    advgnn_free(path);
}
