"""Reads an optimizer state file written by advgnn with the safetensors
package and writes three back for advgnn to load.

usage: check_optim_state.py STATE EXPECTED KIND STEP OUT WRONG_DTYPE WRONG_KIND

EXPECTED lists one tensor per line: name, ndim, the shape, then every value
as printed by C's %.9g (which round-trips float32 exactly). The script checks
names, dtype, shapes, values and the __metadata__ entries "optimizer" (KIND),
"step" (STEP) and the hyperparameters (Adam's defaults). It then writes OUT with every value v replaced by
v * 2 + 1 in float32 and the step count plus one. WRONG_DTYPE gets the same
tensors, but the first in name order is stored as float64, and WRONG_KIND
the same tensors with optimizer "sgd". Exits 1 on the first mismatch.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def read_expected(path):
    expected = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            ndim = int(fields[1])
            shape = tuple(int(x) for x in fields[2 : 2 + ndim])
            values = np.array([float(x) for x in fields[2 + ndim :]], dtype=np.float32).reshape(shape)
            expected[fields[0]] = values
    return expected


def main():
    state_path, expected_path, kind, step, out_path, wrong_dtype_path, wrong_kind_path = sys.argv[1:8]
    with safe_open(state_path, framework="numpy") as f:
        metadata = f.metadata() or {}
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    expected = read_expected(expected_path)

    if metadata.get("optimizer") != kind or metadata.get("step") != step:
        print(f"metadata {metadata}, expected optimizer {kind} and step {step}")
        return 1
    # The C test uses Adam's defaults.
    hyper = {"momentum": 0.0, "beta1": 0.9, "beta2": 0.999, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0}
    for key, value in hyper.items():
        if float(metadata.get(key, "nan")) != value:
            print(f"metadata {key} is {metadata.get(key)}, expected {value}")
            return 1
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

    changed = {name: (t * np.float32(2) + np.float32(1)).astype(np.float32) for name, t in tensors.items()}
    save_file(changed, out_path, metadata={"format": "pt", "optimizer": kind, "step": str(int(step) + 1)})
    wrong = dict(tensors)
    first = sorted(wrong)[0]
    wrong[first] = wrong[first].astype(np.float64)
    save_file(wrong, wrong_dtype_path, metadata=metadata)
    save_file(tensors, wrong_kind_path, metadata={**metadata, "optimizer": "sgd"})
    print(f"python safetensors read {len(tensors)} {kind} state tensors at step {step} and wrote 3 files "
          f"({first} as F64 in {wrong_dtype_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
