"""Join bench_nn and bench_layers.py rounds into Markdown comparison tables.

usage: compare.py --advgnn nn-1.csv nn-2.csv ... --torch torch-1.csv ...

Each file contains one round in bench_nn's --csv format:
kind,label,dtype,fwd_ms_wall,fwd_ms_cpu,bwd_ms_wall,bwd_ms_cpu. Lines that
start with '#' are comments. Every time in the tables is the median over the
rounds, and each ratio is torch time / advgnn time of those medians, so a
ratio above 1 means advgnn is faster.
"""

import argparse
import csv
import math
import statistics
import sys

COLUMNS = ("fwd_wall", "fwd_cpu", "bwd_wall", "bwd_cpu")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advgnn", nargs="+", required=True, help="bench_nn --csv outputs, one per round")
    parser.add_argument("--torch", nargs="+", required=True, help="bench_layers.py outputs, one per round")
    return parser.parse_args()


def read_rounds(paths):
    """Return ({(kind, label, dtype): {column: [ms per round]}}, row keys in file order)."""
    samples = {}
    order = []
    for path in paths:
        with open(path, newline="") as f:
            rows = [line for line in f if line.strip() and not line.startswith("#")]
        for row in csv.reader(rows):
            if len(row) != 7:
                raise SystemExit(f"{path}: expected 7 comma-separated fields, got {len(row)} in {row!r}")
            key = tuple(row[:3])
            if key not in samples:
                samples[key] = {column: [] for column in COLUMNS}
                order.append(key)
            for column, text in zip(COLUMNS, row[3:]):
                if text:
                    samples[key][column].append(float(text))
    return samples, order


def median(values):
    return statistics.median(values) if values else math.nan


def ratio(torch_ms, advgnn_ms):
    if math.isnan(torch_ms) or math.isnan(advgnn_ms) or advgnn_ms <= 0:
        return math.nan
    return torch_ms / advgnn_ms


def cell(value, digits=2):
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def layer_table(keys, advgnn, torch, clock):
    lines = [
        f"| layer | dtype | fwd advgnn ms | fwd torch ms | fwd torch/advgnn | "
        f"bwd advgnn ms | bwd torch ms | bwd torch/advgnn |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        cells = [key[1], key[2]]
        for direction in ("fwd", "bwd"):
            a = median(advgnn[key][f"{direction}_{clock}"])
            t = median(torch[key][f"{direction}_{clock}"])
            cells += [cell(a), cell(t), cell(ratio(t, a))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def knn_table(keys, advgnn, torch):
    lines = [
        "| graph | matmul | advgnn ms CPU | torch ms CPU | torch/advgnn CPU | "
        "advgnn ms wall | torch ms wall | torch/advgnn wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        cells = [key[1], key[2]]
        for clock in ("cpu", "wall"):
            a = median(advgnn[key][f"fwd_{clock}"])
            t = median(torch[key][f"fwd_{clock}"])
            cells += [cell(a), cell(t), cell(ratio(t, a))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def geometric_mean(values):
    values = [v for v in values if not math.isnan(v) and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def summary(keys, advgnn, torch):
    """Return lines with the geometric mean CPU-time ratio per dtype and pass."""
    lines = []
    for dtype in ("f32", "bf16"):
        for direction in ("fwd", "bwd"):
            ratios = [
                ratio(median(torch[key][f"{direction}_cpu"]), median(advgnn[key][f"{direction}_cpu"]))
                for key in keys
                if key[2] == dtype
            ]
            lines.append(
                f"- {dtype} {direction}: geometric mean torch/advgnn CPU-time ratio "
                f"{cell(geometric_mean(ratios))} over {len(ratios)} layers"
            )
    return lines


def main():
    args = parse_args()
    advgnn, advgnn_order = read_rounds(args.advgnn)
    torch, _ = read_rounds(args.torch)
    missing = [key for key in advgnn_order if key not in torch]
    if missing:
        raise SystemExit(f"torch results have no rows for {missing}: rerun bench_layers.py without --only")
    layers = [key for key in advgnn_order if key[0] == "layer"]
    graphs = [key for key in advgnn_order if key[0] == "knn"]

    out = [
        f"Medians of {len(args.advgnn)} advgnn rounds and {len(args.torch)} PyTorch rounds. "
        "A ratio above 1 means advgnn is faster.",
        "",
        "CPU time per thread (process CPU time / threads):",
        "",
        *layer_table(layers, advgnn, torch, "cpu"),
        "",
        "Wall-clock time:",
        "",
        *layer_table(layers, advgnn, torch, "wall"),
        "",
        "kNN graph, ms per image (batch of 8):",
        "",
        *knn_table(graphs, advgnn, torch),
        "",
        *summary(layers, advgnn, torch),
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
