#!/usr/bin/env python3
"""Generate the golden cases of the sPRO test in tests/spro/golden/.

sPRO is the saturated per-region overlap of MVTec LOCO AD (Bergmann et al.,
"Beyond Dents and Scratches", IJCV 2022). This script computes it from that
definition, independently of the C code:

- Each annotated defect of an image is a channel with a boolean mask. Its
  saturation area is int(threshold * area) for a relative threshold, else
  min(threshold, area), where area is the channel's pixel count.
- A threshold t predicts the pixels with score > t. At t, a channel's sPRO is
  min(TP / saturation area, 1) and the curve's y is the mean over all
  channels of all images. The FPR is FP / (FP + TN) over the pixels that lie
  in no channel of their image (all pixels of a good image).
- The thresholds are every distinct score of all maps, so the curve starts at
  (0, 0) (t = the maximum score), plus minus infinity, which ends it at
  FPR 1. Counts above t come from np.searchsorted on sorted scores.
- The area up to an FPR limit uses the trapezoid rule on the points with
  FPR <= limit, plus a point interpolated linearly on the limit, and is
  divided by the limit.

Scores are float32, as the C library receives them.

Each case is one binary file (little-endian) with, for every image:
int32 height, int32 width, int32 defects, float32 map[height * width], then
for every defect: float64 saturation threshold, uint8 relative (0/1),
uint8 mask[height * width] (0/1). cases.txt has one line per case:

    NAME FILE IMAGES POINTS LIMITS {LIMIT AUC}...

POINTS is the number of curve points (one per distinct score, plus (0, 0)).

Usage: python scripts/make_spro_goldens.py [--out tests/spro/golden]
Packages: numpy (any 1.x or 2.x).
"""

import argparse
import pathlib
import struct

import numpy as np

LIMITS = (0.01, 0.05, 0.1, 0.3, 1.0)


# ---- reference -----------------------------------------------------------------


def saturation_area(threshold, relative, area):
    """Return the saturation area in pixels of a defect channel."""
    if relative:
        return int(threshold * area)
    return min(threshold, area)


def count_above(sorted_scores, thresholds):
    """Return, for each threshold, how many of the sorted scores exceed it."""
    return len(sorted_scores) - np.searchsorted(sorted_scores, thresholds, side="right")


def spro_curve(images):
    """Return (fpr, spro) arrays of the curve over every distinct score.

    images: list of (map, defects) with map a float32 (H, W) array and
    defects a list of (mask, threshold, relative), mask a bool (H, W) array.
    """
    all_scores = np.concatenate([m.ravel() for m, _ in images])
    distinct = np.unique(all_scores)[::-1]
    thresholds = np.concatenate([distinct, np.array([-np.inf], dtype=np.float32)]).astype(np.float32)

    false_positives = np.zeros(len(thresholds), dtype=np.int64)
    free_pixels = 0
    channel_spros = []
    for score_map, defects in images:
        free = np.ones(score_map.shape, dtype=bool)
        for mask, threshold, relative in defects:
            free &= ~mask
            saturation = saturation_area(threshold, relative, int(mask.sum()))
            true_positives = count_above(np.sort(score_map[mask]), thresholds)
            channel_spros.append(np.minimum(true_positives / saturation, 1.0))
        false_positives += count_above(np.sort(score_map[free]), thresholds)
        free_pixels += int(free.sum())

    fpr = false_positives / free_pixels
    spro = np.mean(np.stack(channel_spros), axis=0)
    return fpr, spro


def area_up_to(fpr, spro, limit):
    """Return the trapezoid area under the curve up to `limit`, divided by it."""
    inside = fpr <= limit
    x = fpr[inside]
    y = spro[inside]
    if x[-1] < limit:
        following = np.argmax(fpr > limit)
        x0, y0, x1, y1 = fpr[following - 1], spro[following - 1], fpr[following], spro[following]
        x = np.append(x, limit)
        y = np.append(y, y0 + (y1 - y0) * (limit - x0) / (x1 - x0))
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0)) / limit


# ---- cases ---------------------------------------------------------------------


def blob_mask(rng, height, width):
    """Return a bool mask of one random ellipse or rectangle (never empty)."""
    rows, cols = np.mgrid[0:height, 0:width]
    center_row, center_col = rng.uniform(0, height), rng.uniform(0, width)
    radius_row, radius_col = rng.uniform(1.5, height / 3), rng.uniform(1.5, width / 3)
    if rng.random() < 0.5:
        mask = ((rows - center_row) / radius_row) ** 2 + ((cols - center_col) / radius_col) ** 2 <= 1.0
    else:
        mask = (np.abs(rows - center_row) <= radius_row) & (np.abs(cols - center_col) <= radius_col)
    if not mask.any():
        mask[int(center_row) % height, int(center_col) % width] = True
    return mask


def random_saturation(rng):
    """Return (threshold, relative) like the entries of defects_config.json."""
    if rng.random() < 0.5:
        return float(rng.choice([0.05, 0.3, 0.5, 1.0])), True
    return int(rng.choice([3, 20, 60, 5000])), False


def random_images(rng, sizes, good, max_defects, quantum=None):
    """Return images with random blob defects; the first `good` have none."""
    images = []
    for index, (height, width) in enumerate(sizes):
        score_map = rng.normal(0.0, 1.0, (height, width))
        defects = []
        if index >= good:
            for _ in range(rng.integers(1, max_defects + 1)):
                mask = blob_mask(rng, height, width)
                score_map[mask] += rng.uniform(0.0, 2.5)
                threshold, relative = random_saturation(rng)
                defects.append((mask, threshold, relative))
        if quantum is not None:
            score_map = np.round(score_map / quantum) * quantum
        images.append((score_map.astype(np.float32), defects))
    return images


def hand_case():
    """Two 4 x 6 images: one with two overlapping defects, one good."""
    first = np.array(
        [
            [0.1, 0.2, 0.9, 0.9, 0.3, 0.1],
            [0.2, 0.8, 0.9, 0.7, 0.3, 0.2],
            [0.1, 0.6, 0.5, 0.4, 0.2, 0.1],
            [0.0, 0.1, 0.2, 0.6, 0.1, 0.0],
        ],
        dtype=np.float32,
    )
    defect_a = np.zeros((4, 6), dtype=bool)
    defect_a[0:2, 1:4] = True
    defect_b = np.zeros((4, 6), dtype=bool)
    defect_b[1:3, 2:4] = True
    good = np.array(
        [
            [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
            [0.7, 0.1, 0.1, 0.1, 0.1, 0.1],
            [0.0, 0.0, 0.9, 0.0, 0.0, 0.0],
        ],
        dtype=np.float32,
    )
    return [(first, [(defect_a, 4, False), (defect_b, 0.5, True)]), (good, [])]


def with_positive_saturation(images):
    """Replace a saturation that rounds to 0 pixels, where sPRO is undefined, by 100%."""
    return [
        (
            score_map,
            [
                (mask, threshold, relative)
                if saturation_area(threshold, relative, int(mask.sum())) > 0
                else (mask, 1.0, True)
                for mask, threshold, relative in defects
            ],
        )
        for score_map, defects in images
    ]


def build_cases():
    """Return a list of (name, images)."""
    rng = np.random.default_rng(20261204)
    cases = [("hand_two_images", hand_case())]
    cases.append(("random_blobs", random_images(rng, [(24, 32)] * 8, good=3, max_defects=3)))
    cases.append(("quantized_ties", random_images(rng, [(20, 20)] * 6, good=2, max_defects=2, quantum=0.25)))
    cases.append(("mixed_sizes", random_images(rng, [(10, 14), (20, 9), (16, 16), (7, 30)], good=1, max_defects=3)))

    # Small absolute and relative thresholds saturate early; a fractional
    # absolute threshold saturates partway through a pixel.
    small = random_images(rng, [(18, 22)] * 5, good=2, max_defects=2)
    fractions = [(5, False), (0.1, True), (12.5, False), (2.75, False)]
    small = [
        (score_map, [(mask,) + fractions[(i + k) % len(fractions)] for k, (mask, _, _) in enumerate(defects)])
        for i, (score_map, defects) in enumerate(small)
    ]
    cases.append(("small_saturation", small))

    # Every pixel a defect in one image, none in the others; all scores equal.
    flat_defect = np.ones((5, 5), dtype=bool)
    cases.append(
        (
            "all_equal_scores",
            [
                (np.full((5, 5), 0.5, dtype=np.float32), [(flat_defect, 10, False)]),
                (np.full((5, 5), 0.5, dtype=np.float32), []),
            ],
        )
    )
    return [(name, with_positive_saturation(images)) for name, images in cases]


# ---- output --------------------------------------------------------------------


def write_case(path, images):
    with open(path, "wb") as out:
        for score_map, defects in images:
            height, width = score_map.shape
            out.write(struct.pack("<iii", height, width, len(defects)))
            out.write(score_map.astype("<f4").tobytes())
            for mask, threshold, relative in defects:
                out.write(struct.pack("<dB", float(threshold), 1 if relative else 0))
                out.write(mask.astype(np.uint8).tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/spro/golden", help="output folder")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    lines = ["# Generated by scripts/make_spro_goldens.py; do not edit."]
    for name, images in build_cases():
        file_name = f"{name}.bin"
        write_case(out / file_name, images)
        fpr, spro = spro_curve(images)
        values = " ".join(f"{limit!r} {area_up_to(fpr, spro, limit)!r}" for limit in LIMITS)
        lines.append(f"{name} {file_name} {len(images)} {len(fpr)} {len(LIMITS)} {values}")
    (out / "cases.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
