#!/usr/bin/env python3
"""Write the reference fixtures of the image tests into tests/image/golden/.

Each fixture is produced by an independent library (Pillow, scipy, OpenCV) from
a small deterministic input, so the C tests compare advgnn's resize, smoothing
and map upsampling against those libraries instead of against themselves.

File format (".agf", little-endian): the 4 bytes b"AGF1", int32 dtype
(1 = uint8, 2 = float32), int32 height, int32 width, int32 channels, then the
samples in row-major HWC order.

Usage:
    python3 -m venv /tmp/venv-image-goldens
    /tmp/venv-image-goldens/bin/pip install -r scripts/requirements-image-goldens.txt
    /tmp/venv-image-goldens/bin/python scripts/make_image_goldens.py
"""

import json
import pathlib
import struct

import cv2
import numpy as np
import scipy
import scipy.ndimage
from PIL import Image

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "image" / "golden"

# Target sizes (width, height) of the Pillow BILINEAR fixtures: shrinking by
# non-integer factors, shrinking hard, enlarging, and one axis each way.
PIL_SIZES = [(13, 9), (7, 5), (50, 41), (45, 11)]

# Gaussian fixtures: (name, height, width, sigma). The 3 x 5 map is smaller than the
# kernel radius (int(4 * 2 + 0.5) = 8), so the borders reflect more than once.
GAUSS_CASES = [
    ("g20x27_s0.8", 20, 27, 0.8),
    ("g20x27_s2", 20, 27, 2.0),
    ("g20x27_s4.5", 20, 27, 4.5),
    ("g3x5_s2", 3, 5, 2.0),
]

# cv2.resize INTER_LINEAR of float maps: (name, in h, in w, out h, out w).
# Upsampling is what the scorers use; one shrinking case pins the same
# half-pixel formula without antialiasing.
LINEAR_CASES = [
    ("m5x7_to_24x32", 5, 7, 24, 32),
    ("m3x5_to_13x16", 3, 5, 13, 16),
    ("m13x17_to_5x7", 13, 17, 5, 7),
]

# cv2.resize INTER_AREA shrinking (exact fractional-overlap box filter).
AREA_CASES = [
    ("m23x31_to_9x13", 23, 31, 9, 13),
]


def write_agf(name, array):
    """Write a 2-D or 3-D uint8/float32 array as an .agf file."""
    a = np.ascontiguousarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    dtype = {np.dtype(np.uint8): 1, np.dtype(np.float32): 2}[a.dtype]
    header = b"AGF1" + struct.pack("<4i", dtype, a.shape[0], a.shape[1], a.shape[2])
    data = a.astype(a.dtype.newbyteorder("<")).tobytes()
    (OUT / f"{name}.agf").write_bytes(header + data)


def test_image(rng, height, width, channels):
    """Smooth gradients plus noise and a sharp edge: every filter tap matters."""
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 7 + y * 5) % 256
    noise = rng.integers(0, 64, size=(height, width, channels))
    edge = np.where(x > width // 2, 96, 0)
    img = (base[:, :, None] + noise + edge[:, :, None] + np.arange(channels) * 40) % 256
    return img.astype(np.uint8)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261204)
    manifest = {"pillow": [], "gaussian": [], "linear": [], "area": []}

    rgb = test_image(rng, 23, 31, 3)
    gray = test_image(rng, 23, 31, 1)[:, :, 0]
    write_agf("pil_input_rgb", rgb)
    write_agf("pil_input_gray", gray)
    for width, height in PIL_SIZES:
        for tag, arr, mode in (("rgb", rgb, "RGB"), ("gray", gray, "L")):
            out = Image.fromarray(arr, mode).resize((width, height), Image.Resampling.BILINEAR)
            name = f"pil_bilinear_{tag}_{width}x{height}"
            write_agf(name, np.asarray(out))
            manifest["pillow"].append(name)

    for name, height, width, sigma in GAUSS_CASES:
        src = rng.random((height, width), dtype=np.float32)
        out = scipy.ndimage.gaussian_filter(src, sigma, mode="reflect", truncate=4.0)
        write_agf(f"{name}_in", src)
        write_agf(f"{name}_out", out.astype(np.float32))
        manifest["gaussian"].append({"name": name, "sigma": sigma})

    for name, in_h, in_w, out_h, out_w in LINEAR_CASES:
        src = rng.random((in_h, in_w), dtype=np.float32) * 4.0 - 1.0
        out = cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        write_agf(f"{name}_in", src)
        write_agf(f"{name}_out", out)
        manifest["linear"].append(name)

    for name, in_h, in_w, out_h, out_w in AREA_CASES:
        src = rng.random((in_h, in_w), dtype=np.float32)
        out = cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_AREA)
        write_agf(f"{name}_in", src)
        write_agf(f"{name}_out", out)
        manifest["area"].append(name)

    manifest["versions"] = {
        "numpy": np.__version__,
        "pillow": Image.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
