/* The on-disk cache of decoded and preprocessed samples. Private.
 *
 * One file per dataset, category, split and preprocessing contains every sample
 * of the split as the loader produces it: the normalized image floats and,
 * for the test split, the binary mask and its has_mask flag. A later run with
 * the same settings copies them back instead of decoding the images again.
 *
 * The file name carries a hash of the settings (dataset, category, split,
 * output size, preprocessing, pixel limit), and the file repeats them in its
 * header. Each sample has a key: the hash of its name, label, mask threshold,
 * and the path, size and modification time (ns) of its image and mask files.
 * For an archive entry the archive file's size and time count. A sample
 * whose key changed is decoded again. Each sample also has a checksum over
 * its bytes, and the header and index have their own checksums, so a
 * truncated or damaged file is never trusted. Such a file is rebuilt with a
 * warning.
 *
 * Samples that a dataset plugin's load() makes are not cached, because no
 * file shows when they change.
 *
 * NOTE: a file rewritten with the same size and modification time is not
 * noticed (a copy that keeps the time stamp, or a file system with coarse
 * time stamps). Nothing removes cache files of old settings, so delete the
 * folder to reclaim the space (12 * H * W bytes per image). */
#ifndef ADVGNN_DATA_SAMPLE_CACHE_H
#define ADVGNN_DATA_SAMPLE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "data/category_data.h"
#include "util/internal.h"

/* Copies the cached samples of `out` (allocated, with samples, count, height
 * and width set) from the cache file of loader->cache_dir into out->images,
 * out->masks and out->has_mask, and sets cached[i] = 1 for each one copied.
 * *rebuild is set when the file must be written again after decoding, because
 * it is missing, invalid, or lists other samples. A missing file is skipped
 * silently, and other problems with the file are logged as warnings. Neither
 * fails the load. The call fails only when out of memory. */
ADVGNN_INTERNAL int advgnn_sample_cache_read(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                                             advgnn_split_data *out, uint8_t *cached, int *rebuild);

/* Writes every sample of `data` to its cache file, through a temporary file
 * and a rename, so readers get the old file or the complete new one. A
 * failure is logged as a warning naming the file, and the run goes on. */
ADVGNN_INTERNAL void advgnn_sample_cache_write(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                                               const advgnn_split_data *data);

/* Returns nonzero when the split's samples can be cached: a cache folder is
 * set and the pixels come from files, not from the plugin's load(). */
ADVGNN_INTERNAL int advgnn_sample_cache_enabled(const advgnn_sample_loader *loader);

/* Returns the path of the cache file of `data` (advgnn_free), or NULL when
 * out of memory. Exported for tests. */
char *advgnn_sample_cache_path(const advgnn_sample_loader *loader, const advgnn_split_data *data);

#endif
