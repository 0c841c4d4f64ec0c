#!/usr/bin/env python3
"""Generate the golden cases of the metric tests in tests/metrics/golden/.

Each case is one binary file of little-endian float32 scores followed by uint8
labels (0 normal, 1 anomalous) or masks (0 background, 1 defect), and one line
of cases.txt with the expected values:

    binary NAME COUNT FILE AUROC ROC_POINTS F1 THRESHOLD
    pixel NAME IMAGES HEIGHT WIDTH FILE AUROC F1 THRESHOLD LIMITS {LIMIT AUPRO PRO_POINTS}...

A value is "undefined" where the metric is undefined for the case. Scores are
cast to float32 before any metric is computed, because the C library
receives float32 scores.

References: AUROC and the ROC curve from sklearn.metrics.roc_auc_score and
roc_curve, F1-max from sklearn.metrics.precision_recall_curve with anomalib's F1
formula, and AUPRO from the per-region definition below, written for this
script (scipy.ndimage.label with a 3x3 structure for 8-connected regions).

Usage: python scripts/make_metric_goldens.py [--out tests/metrics/golden]
Packages: scripts/requirements-metric-goldens.txt.
"""

import argparse
import pathlib

import numpy as np
from scipy import integrate, ndimage
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

F1_EPSILON = 1e-10  # additive constant of anomalib's F1 formula
AUPRO_LIMITS = (0.3, 0.05, 1.0)


# ---- references ---------------------------------------------------------------


def auroc_reference(scores, labels):
    """Return (AUROC, number of ROC points) or ("undefined", "undefined")."""
    if labels.min() == labels.max():
        return "undefined", "undefined"
    fpr, _, _ = roc_curve(labels, scores, drop_intermediate=False)
    return roc_auc_score(labels, scores), len(fpr)


def f1_reference(scores, labels):
    """Return (F1-max, threshold) with anomalib 2.6's fallback without anomalies."""
    if labels.max() == 0:
        # No anomalous sample: F1 is 0 at every threshold, and the threshold
        # falls back to the maximum score.
        return 0.0, float(scores.max())
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = np.nan_to_num(2 * precision * recall / (precision + recall + F1_EPSILON), nan=0.0)
    best = int(np.argmax(f1))  # first maximum in ascending threshold order
    return float(f1[best]), float(thresholds[best])


def aupro_reference(maps, masks, limit):
    """Return (AUPRO, number of PRO curve points up to the limit) from the definition.

    For every distinct score t, taken as a threshold (a pixel is positive when
    its score is >= t): FPR(t) is the fraction of all background pixels that are
    positive, and PRO(t) is the mean over all 8-connected defect regions of the
    fraction of the region's pixels that are positive. The curve starts at
    (0, 0), is cut at FPR = limit with a linearly interpolated end point, and its
    trapezoid area is divided by the limit.
    """
    structure = np.ones((3, 3), dtype=int)
    region_scores, background = [], []
    for score_map, mask in zip(maps, masks):
        labeled, count = ndimage.label(mask, structure=structure)
        region_scores.extend(np.sort(score_map[labeled == r]) for r in range(1, count + 1))
        background.append(score_map[mask == 0])
    if not region_scores or sum(b.size for b in background) == 0:
        return "undefined", "undefined"

    background = np.sort(np.concatenate(background))
    thresholds = np.unique(maps)[::-1]
    fpr = (background.size - np.searchsorted(background, thresholds, side="left")) / background.size
    overlaps = [(r.size - np.searchsorted(r, thresholds, side="left")) / r.size for r in region_scores]
    pro = np.mean(overlaps, axis=0)
    fpr = np.concatenate([[0.0], fpr])
    pro = np.concatenate([[0.0], pro])

    inside = int(np.count_nonzero(fpr <= limit))  # fpr is nondecreasing, so a prefix
    x, y = list(fpr[:inside]), list(pro[:inside])
    if x[-1] < limit:
        x.append(limit)
        y.append(float(np.interp(limit, fpr[inside - 1 : inside + 1], pro[inside - 1 : inside + 1])))
    return integrate.trapezoid(y, x) / limit, len(x)


# ---- case generators ----------------------------------------------------------------


def binary_cases():
    """Yield (name, scores, labels) for the image-level metrics."""
    rng = np.random.default_rng(20261204)

    labels = (rng.random(200) < 0.3).astype(np.uint8)
    yield "gaussian_200", rng.normal(size=200) + 1.2 * labels, labels

    labels = (rng.random(500) < 0.4).astype(np.uint8)
    yield "ties_rounded_500", np.round(rng.random(500) + 0.3 * labels, 1), labels

    labels = (rng.random(50_000) < 0.1).astype(np.uint8)
    yield "ties_50000", np.round(rng.gamma(2.0, size=50_000) + 0.8 * labels, 2), labels

    labels = np.array([0, 1, 1, 0, 1, 0, 0], dtype=np.uint8)
    yield "all_equal", np.full(7, 0.5), labels

    yield "tiny_two", np.array([0.3, 0.7]), np.array([0, 1], dtype=np.uint8)
    yield "tiny_two_reversed", np.array([0.7, 0.3]), np.array([0, 1], dtype=np.uint8)
    yield "tiny_three_tie", np.array([0.2, 0.2, 0.9]), np.array([1, 0, 1], dtype=np.uint8)

    # Negative scores, signed zeros that tie, and magnitudes near float32 limits.
    scores = np.array([-0.0, 0.0, -3.5, 1e30, -1e30, 2.5e-38, 0.0, -0.0, 7.0])
    yield "signed_zeros_extremes", scores, np.array([1, 0, 0, 1, 0, 1, 1, 0, 0], dtype=np.uint8)

    # Values distinct in float64 that collapse to ties in float32.
    scores = 1.0 + rng.integers(0, 4, size=300) * 1e-9 + rng.integers(0, 3, size=300) * 1e-6
    yield "float32_collapse", scores, (rng.random(300) < 0.5).astype(np.uint8)

    scores = rng.random(40)
    yield "only_normal", scores, np.zeros(40, dtype=np.uint8)
    yield "only_anomalous", scores, np.ones(40, dtype=np.uint8)


def draw_region(mask, rng):
    """Draw a random ellipse or rectangle into mask."""
    height, width = mask.shape
    cy, cx = rng.integers(0, height), rng.integers(0, width)
    ry, rx = rng.integers(1, max(2, height // 6)), rng.integers(1, max(2, width // 6))
    yy, xx = np.mgrid[0:height, 0:width]
    if rng.random() < 0.5:
        mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = 1
    else:
        mask[(abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)] = 1


def smooth_maps(masks, rng, noise, ties=None):
    """Return anomaly maps: smoothed noise plus a bump over the defects."""
    maps = []
    for mask in masks:
        base = ndimage.gaussian_filter(rng.normal(size=mask.shape), 2.0)
        bump = ndimage.gaussian_filter(mask.astype(float), 1.5)
        score_map = base * noise + 1.5 * bump
        if ties:
            score_map = np.round(score_map * ties) / ties
        maps.append(score_map)
    return np.stack(maps)


def pixel_cases():
    """Yield (name, maps, masks) for the pixel-level metrics and AUPRO."""
    rng = np.random.default_rng(20261205)

    # Hand-drawn regions: two diagonal touches (one region with 8-connectivity,
    # two with 4-connectivity), a single pixel, and an image without defects.
    masks = np.zeros((3, 12, 12), dtype=np.uint8)
    masks[0, 1:4, 1:4] = 1
    masks[0, 4, 4] = 1  # touches (3, 3) diagonally
    masks[0, 8:10, 2:7] = 1
    masks[1, 5, 5] = 1
    masks[1, 6, 6] = 1  # touches (5, 5) diagonally
    masks[1, 0, 11] = 1
    masks[1, 10:12, 0:3] = 1
    yield "hand_regions", rng.random(masks.shape) + 0.4 * masks, masks

    # A checkerboard is one 8-connected region.
    masks = np.zeros((2, 10, 10), dtype=np.uint8)
    masks[0, 2:8, 2:8] = (np.add.outer(np.arange(6), np.arange(6)) % 2 == 0).astype(np.uint8)
    masks[1, 0, 0] = 1
    yield "checkerboard", rng.random(masks.shape) + 0.2 * masks, masks

    # Every score equal: the curve is the straight line from (0, 0) to (1, 1).
    masks = np.zeros((2, 8, 8), dtype=np.uint8)
    masks[0, 2:5, 2:5] = 1
    masks[1, 6:8, 0:2] = 1
    yield "all_equal", np.full(masks.shape, 0.25), masks

    masks = np.zeros((20, 64, 64), dtype=np.uint8)
    for image in range(20):
        if image % 4 == 3:
            continue  # a defect-free image
        for _ in range(rng.integers(1, 4)):
            draw_region(masks[image], rng)
    yield "blobs_20x64x64", smooth_maps(masks, rng, 7.0), masks

    masks = np.zeros((10, 32, 32), dtype=np.uint8)
    for image in range(0, 10, 2):
        for _ in range(rng.integers(1, 5)):
            draw_region(masks[image], rng)
    yield "blobs_ties_10x32x32", smooth_maps(masks, rng, 4.0, ties=8), masks


# ---- output ------------------------------------------------------------------------------


def fmt(value):
    return value if isinstance(value, str) else repr(float(value))


def write_case(out, name, scores, labels):
    scores = np.asarray(scores, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.uint8)
    path = out / f"{name}.bin"
    path.write_bytes(scores.astype("<f4").tobytes() + labels.tobytes())
    return path.name, scores, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "metrics" / "golden"
    parser.add_argument("--out", type=pathlib.Path, default=default_out, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    lines = ["# Generated by scripts/make_metric_goldens.py; do not edit."]
    for name, scores, labels in binary_cases():
        file_name, scores, labels = write_case(args.out, f"binary_{name}", scores, labels)
        auroc, roc_points = auroc_reference(scores, labels)
        f1, threshold = f1_reference(scores, labels)
        lines.append(
            f"binary {name} {scores.size} {file_name} {fmt(auroc)} {roc_points} {fmt(f1)} {fmt(threshold)}"
        )

    for name, maps, masks in pixel_cases():
        file_name, maps_flat, masks_flat = write_case(args.out, f"pixel_{name}", maps.ravel(), masks.ravel())
        maps32 = maps_flat.reshape(maps.shape)
        auroc, _ = auroc_reference(maps_flat, masks_flat)
        f1, threshold = f1_reference(maps_flat, masks_flat)
        fields = [f"pixel {name} {maps.shape[0]} {maps.shape[1]} {maps.shape[2]} {file_name}"]
        fields.append(f"{fmt(auroc)} {fmt(f1)} {fmt(threshold)} {len(AUPRO_LIMITS)}")
        for limit in AUPRO_LIMITS:
            aupro, pro_points = aupro_reference(maps32, masks, limit)
            fields.append(f"{fmt(limit)} {fmt(aupro)} {pro_points}")
        lines.append(" ".join(fields))

    (args.out / "cases.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
