"""Reads a weights file written by advgnn with the safetensors package and
writes one back for advgnn to load.

usage: check_safetensors.py WEIGHTS EXPECTED OUT WRONG_DTYPE

EXPECTED lists one tensor per line: name, ndim, the shape, then every value
as printed by C's %.9g (which round-trips float32 exactly). The script checks
names, dtype, shapes and values. It then writes OUT with every value v
replaced by v * 2 + 1 in float32. WRONG_DTYPE gets the same tensors, but the
first in name order is stored as float64. Exits 1 on the first mismatch.
"""
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def main():
    weights, expected_path, out_path, wrong_path = sys.argv[1:5]
    tensors = load_file(weights)
    expected = {}
    with open(expected_path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            ndim = int(fields[1])
            shape = tuple(int(x) for x in fields[2 : 2 + ndim])
            values = np.array([float(x) for x in fields[2 + ndim :]], dtype=np.float32).reshape(shape)
            expected[fields[0]] = values

    if sorted(tensors) != sorted(expected):
        print(f"tensor names differ: file {sorted(tensors)}, expected {sorted(expected)}")
        return 1
    for name, want in expected.items():
        got = tensors[name]
        if got.dtype != np.float32 or got.shape != want.shape:
            print(f"{name}: dtype {got.dtype} shape {got.shape}, expected float32 {want.shape}")
            return 1
        if not np.array_equal(got, want):
            print(f"{name}: values differ, max difference {np.max(np.abs(got - want))}")
            return 1

    save_file({name: (t * np.float32(2) + np.float32(1)).astype(np.float32) for name, t in tensors.items()}, out_path)
    wrong = dict(tensors)
    first = sorted(wrong)[0]
    wrong[first] = wrong[first].astype(np.float64)
    save_file(wrong, wrong_path)
    print(f"python safetensors read {len(tensors)} tensors and wrote {out_path} and {wrong_path} ({first} as F64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
