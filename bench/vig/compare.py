"""Summarize bench_vig and bench_vig_torch.py rows as a Markdown table.

Reads CSV files of rows "side,mode,preset,threads,batch,size,repetition,
wall_ms_per_image,cpu_ms_per_image" (lines starting with '#' are comments),
groups them by (mode, preset, threads, batch, size), and prints per side the
median wall and CPU milliseconds per image over all repetitions of all files,
with the number of repetitions, and the ratio of each PyTorch median to the
advgnn median (above 1: advgnn is faster), as bench/torch/compare.py does.
"""

import argparse
import csv
import statistics
import sys


def read_rows(paths):
    rows = []
    for path in paths:
        with open(path, newline="") as handle:
            lines = [line for line in handle if line.strip() and not line.startswith("#")]
        rows += list(csv.DictReader(lines))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="CSV outputs of bench_vig and bench_vig_torch.py")
    args = parser.parse_args()

    groups = {}
    for row in read_rows(args.files):
        key = (row["mode"], row["preset"], row["threads"], row["batch"], row["size"])
        side = groups.setdefault(key, {}).setdefault(row["side"], {"wall": [], "cpu": []})
        side["wall"].append(float(row["wall_ms_per_image"]))
        side["cpu"].append(float(row["cpu_ms_per_image"]))
    if not groups:
        sys.exit("compare.py: no rows in " + ", ".join(args.files))

    print("| mode | preset | threads | batch | size | side | repetitions | wall ms/image | CPU ms/image "
          "| side / advgnn, wall | side / advgnn, CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(groups):
        sides = groups[key]
        medians = {name: (statistics.median(v["wall"]), statistics.median(v["cpu"])) for name, v in sides.items()}
        ours = medians.get("advgnn")
        for name in sorted(sides, key=lambda n: (n != "advgnn", n)):
            wall, cpu = medians[name]
            ratio_wall = f"{wall / ours[0]:.2f}" if ours and name != "advgnn" else "-"
            ratio_cpu = f"{cpu / ours[1]:.2f}" if ours and name != "advgnn" else "-"
            print(f"| {' | '.join(key)} | {name} | {len(sides[name]['wall'])} | {wall:.1f} | {cpu:.1f} "
                  f"| {ratio_wall} | {ratio_cpu} |")


if __name__ == "__main__":
    main()
