#!/usr/bin/env bash
# After a clang UML KUnit run with coverage: profraw -> lcov -> HTML, a
# table per file of ours and one summary line; fails under the floor.
# Usage: coverage.sh TREE BUILD_DIR PROFRAW OUT_DIR FLOOR_FILE JSON_OUT
set -euo pipefail

tree=$(realpath "$1") build=$2 profraw=$3 out=$4 floor=$5 json=$6
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"

llvm-profdata merge -sparse "$profraw" -o "$build/udmabuf.profdata"
ours=()
for f in "$repo"/drivers/dma-buf/udmabuf*.c; do
	case "$f" in *-test.c) continue ;; esac
	ours+=("$tree/drivers/dma-buf/$(basename "$f")")
done
llvm-cov export -format=lcov -instr-profile="$build/udmabuf.profdata" \
	"$build/linux" "${ours[@]}" |
	sed "s|^SF:$tree/|SF:$repo/|" >"$out/lcov.info"
genhtml -q --branch-coverage --title "udmabuf (UML KUnit)" \
	-o "$out/html" "$out/lcov.info" >/dev/null
exec python3 - "$out/lcov.info" "$floor" "$json" <<'PY'
import sys

import json

info, floor_file, json_out = sys.argv[1], sys.argv[2], sys.argv[3]
files, cur = {}, None
for line in open(info):
    key, _, val = line.strip().partition(":")
    if key == "SF":
        cur = files.setdefault(val.split("/drivers/dma-buf/")[-1],
                               dict.fromkeys(("LF", "LH", "FNF", "FNH", "BRF", "BRH"), 0))
    elif key in ("LF", "LH", "FNF", "FNH", "BRF", "BRH"):
        cur[key] += int(val)

def pct(hit, found):
    return 100.0 * hit / found if found else 100.0

print(f"{'file':28} {'lines':>16} {'functions':>12} {'branches':>14}")
tot = dict.fromkeys(("LF", "LH", "FNF", "FNH", "BRF", "BRH"), 0)
for name, c in sorted(files.items()):
    print(f"{name:28} {c['LH']:5}/{c['LF']:<5} {pct(c['LH'], c['LF']):5.1f}% "
          f"{c['FNH']:3}/{c['FNF']:<3} {pct(c['FNH'], c['FNF']):5.1f}% "
          f"{c['BRH']:4}/{c['BRF']:<4} {pct(c['BRH'], c['BRF']):5.1f}%")
    for k in tot:
        tot[k] += c[k]
got = {"lines": pct(tot["LH"], tot["LF"]), "functions": pct(tot["FNH"], tot["FNF"]),
       "branches": pct(tot["BRH"], tot["BRF"])}
print(f"coverage: lines {got['lines']:.1f}% functions {got['functions']:.1f}% "
      f"branches {got['branches']:.1f}%")
bad = []
for line in open(floor_file):
    parts = line.split("#")[0].split()
    if len(parts) == 2 and got[parts[0]] + 1e-9 < float(parts[1]):
        bad.append(f"{parts[0]} {got[parts[0]]:.1f}% < floor {parts[1]}%")
for b in bad:
    print("coverage: below the floor:", b)
with open(json_out, "w") as f:
    json.dump({"name": "coverage", "sub_groups": [], "test_cases": [
        {"name": "coverage floor", "status": "FAIL" if bad else "PASS"}]}, f)
sys.exit(1 if bad else 0)
PY
