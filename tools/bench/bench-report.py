#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tables, CSV and a plot from the bench program's console output.

Usage: bench-report.py OUT_DIR ours=LOG[,LOG...] stock=LOG[,LOG...]
                        [base=LOG[,LOG...]]

Prints, per backing, min/median/max of every metric for each driver, the
spread ((max - min) / median) and the ratio of the medians (ours/stock;
with base, our driver at an earlier commit, also base/stock and
ours/base); writes OUT_DIR/bench.csv (every raw line) and OUT_DIR/bench.png
(mmap+touch time and faults against size). BENCH-MEMFD lines (the memfd
itself mapped and touched, no udmabuf: the kernel's own huge faults) make
a last table, ours/memfd being the price of our faults over the kernel's.
Measures only: nothing here passes or fails.
"""

import os
import statistics
import subprocess
import sys
from collections import defaultdict

FIELDS = ["create_us", "touch_us", "faults", "release_us", "memfree_kb",
          "slab_kb", "vmalloc_kb", "first_us", "pte_kb", "first_pte_kb"]


def read(paths, memfd_rows=None):
    rows = []
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("BENCH,"):
                    p = line.split(",")
                    rows.append({"backing": p[1], "size_mb": int(p[2]),
                                 "items": int(p[3]), "rep": int(p[4]),
                                 **dict.fromkeys(FIELDS),
                                 **{k: float(v) for k, v in
                                    zip(FIELDS, p[5:])}})
                elif line.startswith("BENCH-MEMFD,") and \
                        memfd_rows is not None:
                    p = line.split(",")
                    memfd_rows[(p[1], int(p[2]))].append(
                        (float(p[4]), float(p[5])))
                elif line.startswith(("BENCH-SKIP", "BENCH-FAIL")):
                    print(f"  {os.path.basename(path)}: {line}")
    return rows


def group(rows):
    g = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for k in FIELDS:
            if r[k] is not None:
                g[(r["backing"], r["size_mb"], r["items"])][k].append(r[k])
    return g


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}"


def main(out, *specs):
    runs, memfd = {}, defaultdict(list)
    for spec in specs:
        name, _, paths = spec.partition("=")
        runs[name] = read([p for p in paths.split(",") if p],
                          memfd if name == "ours" else None)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.csv"), "w") as f:
        f.write("driver,backing,size_mb,items,rep," + ",".join(FIELDS) + "\n")
        for name, rows in runs.items():
            for r in rows:
                f.write(",".join([name, r["backing"], str(r["size_mb"]),
                                  str(r["items"]), str(r["rep"])] +
                                 [fmt(r[k]) if r[k] is not None else ""
                                  for k in FIELDS]) + "\n")
    ours, stock = group(runs.get("ours", [])), group(runs.get("stock", []))
    base = group(runs["base"]) if runs.get("base") else None
    # Columns: the drivers, stock first; then the ratios of their medians.
    drivers = [("stock", stock)] + ([("base", base)] if base else []) + \
        [("ours", ours)]
    ratios = [("ours", "stock")] if not base else \
        [("base", "stock"), ("ours", "stock"), ("ours", "base")]
    metrics = [("create_us", "create (us)"),
               ("first_us", "mmap+first byte (us)"),
               ("touch_us", "mmap+touch (us)"),
               ("faults", "faults"), ("release_us", "release (us)"),
               ("first_pte_kb", "page tables after the first byte (KiB)"),
               ("pte_kb", "page tables after the touch (KiB)"),
               ("memfree_kb", "MemFree drop at create (KiB)")]
    keys = set().union(*(g for _, g in drivers))
    for backing in sorted({k[0] for k in keys}):
        print(f"\n### {backing}\n")
        print("| size | items | metric | " +
              " | ".join(f"{n} min/med/max (spread)" for n, _ in drivers) +
              " | " + " | ".join(f"{a}/{b}" for a, b in ratios) + " |")
        print("|---|---|---|" + "---|" * (len(drivers) + len(ratios)))
        for key in sorted(k for k in keys if k[0] == backing):
            for m, label in metrics:
                cells = []
                meds = {}
                for name, g in drivers:
                    v = g.get(key, {}).get(m)
                    if v:
                        med = statistics.median(v)
                        meds[name] = med
                        spread = ((max(v) - min(v)) / med * 100 if med
                                  else 0)
                        cells.append(f"{fmt(min(v))} / {fmt(med)} / "
                                     f"{fmt(max(v))} ({spread:.1f}%)")
                    else:
                        cells.append("-")
                for a, b in ratios:
                    cells.append(f"{meds[a] / meds[b]:.3f}"
                                 if meds.get(a) is not None and meds.get(b)
                                 else "-")
                print(f"| {key[1]} MiB | {key[2]} | {label} | " +
                      " | ".join(cells) + " |")
    first_byte_table(drivers, ratios)
    memfd_table(memfd, ours)
    plot(out, drivers)


def first_byte_table(drivers, ratios):
    """Per shape: the first byte, a full touch and their page tables."""
    keys = sorted(set().union(*(g for _, g in drivers)))
    names = "/".join(n for n, _ in drivers)

    def med(g, key, m):
        v = g.get(key, {}).get(m)
        return statistics.median(v) if v else None

    def cells(key, m, ratio):
        meds = {n: med(g, key, m) for n, g in drivers}
        out = " / ".join(("-" if v is None else fmt(v) if ratio else
                          f"{v:.0f}") for v in meds.values())
        if ratio:
            out += " (" + ", ".join(
                f"{meds[a] / meds[b]:.3g}" if meds[a] is not None and
                meds[b] else "-" for a, b in ratios) + ")"
        return out

    print(f"\n### first byte and full touch, medians ({names}; ratios "
          + ", ".join(f"{a}/{b}" for a, b in ratios) + ")\n")
    print("| backing | size | items | mmap+first byte | mmap+touch | "
          "faults per full touch | page tables after first byte (KiB) | "
          "page tables after touch (KiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for key in keys:
        print(f"| {key[0]} | {key[1]} MiB | {key[2]} | "
              f"{cells(key, 'first_us', True)} | "
              f"{cells(key, 'touch_us', True)} | "
              f"{cells(key, 'faults', False)} | "
              f"{cells(key, 'first_pte_kb', False)} | "
              f"{cells(key, 'pte_kb', False)} |")


def memfd_table(memfd, ours):
    """mmap+touch of the memfd itself beside ours, medians."""
    if not memfd:
        return
    print("\n### the memfd itself, mapped and touched the same way (ours' "
          "boots)\n")
    print("| backing | size | memfd mmap+touch | faults | ours mmap+touch "
          "| faults | ours/memfd |")
    print("|---|---|---|---|---|---|---|")
    for (backing, size), samples in sorted(memfd.items()):
        touch = statistics.median(t for t, _ in samples)
        faults = statistics.median(f for _, f in samples)
        g = ours.get((backing, size, 1), {})
        our_touch = statistics.median(g["touch_us"]) if g else None
        our_faults = statistics.median(g["faults"]) if g else None
        ratio = f"{our_touch / touch:.3f}" if our_touch and touch else "-"
        print(f"| {backing} | {size} MiB | {fmt(touch)} | {fmt(faults)} | "
              f"{fmt(our_touch) if our_touch else '-'} | "
              f"{fmt(our_faults) if our_faults else '-'} | {ratio} |")


def plot(out, drivers):
    data = os.path.join(out, "plot.dat")
    series = []
    with open(data, "w") as f:
        for name, g in drivers:
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
