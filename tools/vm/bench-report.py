#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tables, CSV and a plot from the bench program's console output.

Usage: bench-report.py OUT_DIR ours=LOG[,LOG...] stock=LOG[,LOG...]

Prints, per backing, min/median/max of every metric for both drivers, the
spread ((max - min) / median) and the ratio of the medians (ours/stock); writes OUT_DIR/bench.csv (every raw
line) and OUT_DIR/bench.png (mmap+touch time and faults against size).
Measures only: nothing here passes or fails.
"""

import os
import statistics
import subprocess
import sys
from collections import defaultdict

FIELDS = ["create_us", "touch_us", "faults", "release_us", "memfree_kb",
          "slab_kb", "vmalloc_kb", "first_us", "pte_kb"]


def read(paths):
    rows = []
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("BENCH,"):
                    p = line.split(",")
                    rows.append({"backing": p[1], "size_mb": int(p[2]),
                                 "items": int(p[3]), "rep": int(p[4]),
                                 **{k: float(v) for k, v in
                                    zip(FIELDS, p[5:])}})
                elif line.startswith(("BENCH-SKIP", "BENCH-FAIL")):
                    print(f"  {os.path.basename(path)}: {line}")
    return rows


def group(rows):
    g = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for k in FIELDS:
            g[(r["backing"], r["size_mb"], r["items"])][k].append(r[k])
    return g


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}"


def main(out, *specs):
    runs = {}
    for spec in specs:
        name, _, paths = spec.partition("=")
        runs[name] = read([p for p in paths.split(",") if p])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.csv"), "w") as f:
        f.write("driver,backing,size_mb,items,rep," + ",".join(FIELDS) + "\n")
        for name, rows in runs.items():
            for r in rows:
                f.write(",".join([name, r["backing"], str(r["size_mb"]),
                                  str(r["items"]), str(r["rep"])] +
                                 [fmt(r[k]) for k in FIELDS]) + "\n")
    ours, stock = group(runs.get("ours", [])), group(runs.get("stock", []))
    metrics = [("create_us", "create (us)"),
               ("first_us", "mmap+first byte (us)"),
               ("touch_us", "mmap+touch (us)"),
               ("faults", "faults"), ("release_us", "release (us)"),
               ("pte_kb", "page tables of the mapping (KiB)"),
               ("memfree_kb", "MemFree drop at create (KiB)")]
    for backing in sorted({k[0] for k in list(ours) + list(stock)}):
        print(f"\n### {backing}\n")
        print("| size | items | metric | stock min/med/max (spread) "
              "| ours min/med/max (spread) | ours/stock |")
        print("|---|---|---|---|---|---|")
        for key in sorted(k for k in set(ours) | set(stock)
                          if k[0] == backing):
            for m, label in metrics:
                cells = []
                meds = []
                for g in (stock, ours):
                    v = g.get(key, {}).get(m)
                    if v:
                        med = statistics.median(v)
                        meds.append(med)
                        spread = ((max(v) - min(v)) / med * 100 if med
                                  else 0)
                        cells.append(f"{fmt(min(v))} / {fmt(med)} / "
                                     f"{fmt(max(v))} ({spread:.1f}%)")
                    else:
                        meds.append(None)
                        cells.append("-")
                ratio = (f"{meds[1] / meds[0]:.3f}" if None not in meds and
                         meds[0] else "-")
                print(f"| {key[1]} MiB | {key[2]} | {label} | {cells[0]} | "
                      f"{cells[1]} | {ratio} |")
    plot(out, ours, stock)


def plot(out, ours, stock):
    data = os.path.join(out, "plot.dat")
    series = []
    with open(data, "w") as f:
        for name, g in (("stock", stock), ("ours", ours)):
            for backing in sorted({k[0] for k in g}):
                keys = sorted(k for k in g if k[0] == backing and k[2] == 1)
                if not keys:
                    continue
                f.write(f"# {name} {backing}\n")
                for k in keys:
                    f.write(f"{k[1]} {statistics.median(g[k]['touch_us'])} "
                            f"{statistics.median(g[k]['faults'])}\n")
                f.write("\n\n")
                series.append(f"{name} {backing}")
    if not series:
        return
    lines = ", ".join(
        f"'{data}' index {i} using 1:2 with linespoints title '{s}'"
        for i, s in enumerate(series))
    flines = ", ".join(
        f"'{data}' index {i} using 1:($3+1) with linespoints title '{s}'"
        for i, s in enumerate(series))
    script = f"""
set terminal png size 1200,500
set output '{os.path.join(out, "bench.png")}'
set multiplot layout 1,2
set logscale xy
set xlabel 'buffer size (MiB)'
set key left top
set ylabel 'mmap + touch every page (us, median)'
plot {lines}
set ylabel 'minor faults + 1'
plot {flines}
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        print(f"\nplot: {os.path.join(out, 'bench.png')}")
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"\nplot: gnuplot failed: {err}")


if __name__ == "__main__":
    main(*sys.argv[1:])
