#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Kernel reports in a kernel log: the one list of what fails a run.

A report is a WARN, BUG, oops, panic, KASAN, UBSAN, lockdep, DMA-API
debugger, kmemleak, KFENCE, list or debug-objects corruption, hung task,
RCU stall, bad page state, bad page table entry or leaked VM_FAULT_OOM
line. What a test fences with "udmabuf-test: expected warning begins" and
"... ends" is its own. In KUnit logs (kunit=True), where the tests inject
allocation failures, two consequences of those are not reports either:
allocation profiling's WARN that it could not allocate a slab's extension
vector (mm/slub.c), and the DMA-API debugger's cacheline tracking turning
itself off.

As a module (tools/vm/parse-console.py): scan(lines, kunit) and
case(reports). As a program, for kunit.py's x86_64 runs:

    kernel_reports.py LOG JSON_OUT NAME

scans LOG (the kernel's output kunit.py keeps as test.log in its build
folder), writes JSON with one case, "no kernel report", for
tools/results/kunit-total.py, prints the first reports and exits 1 on any
(or when LOG is missing or empty).
"""

import json
import re
import sys

REPORT = re.compile(r"WARNING:|BUG:|Oops|Kernel panic|kernel BUG|KASAN|UBSAN|"
                    r"possible circular locking|possible recursive locking|"
                    r"DEBUG_LOCKS_WARN_ON|DMA-API: (?!preallocated|debugging enabled)|"
                    r"kmemleak: .*suspected memory leak|KFENCE: |"
                    r"list_add corruption|list_del corruption|ODEBUG:|"
                    r"blocked for more than|detected stall|"
                    r"Bad page state|bad p[gum4]d|VM_FAULT_OOM leaked")
EXPECTED_BEGINS = "udmabuf-test: expected warning begins"
EXPECTED_ENDS = "udmabuf-test: expected warning ends"
SLAB_EXT = "Failed to create slab extension vector"
SLAB_WARN = re.compile(r"WARNING: .* at mm/slub\.c")
DMA_OFF = "DMA-API: cacheline tracking ENOMEM, dma-debug disabled"


def scan(lines, kunit=False):
    """The report lines of @lines (without their newlines)."""
    lines = [raw.rstrip("\r\n") for raw in lines]
    found, expected = [], False
    for i, line in enumerate(lines):
        if EXPECTED_BEGINS in line:
            expected = True
        elif EXPECTED_ENDS in line:
            expected = False
        if expected or not REPORT.search(line):
            continue
        if kunit and DMA_OFF in line:
            continue
        # x86 prints a WARN's message before its WARNING line, UML after.
        if kunit and SLAB_WARN.search(line) and any(
                SLAB_EXT in near for near in lines[max(i - 1, 0):i + 2]):
            continue
        found.append(line)
    return found


def case(reports):
    """The case "no kernel report"; the first report names a failure."""
    name = "no kernel report"
    if reports:
        name += f" (first of {len(reports)}: {reports[0].strip()[:160]})"
    return {"name": name, "status": "FAIL" if reports else "PASS"}


def main(log, out, label):
    try:
        with open(log, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        lines = []
    reports = scan(lines, kunit=True)
    for line in reports[:10]:
        print(f"{label}: kernel report: {line}")
    result = case(reports)
    if not lines:
        result = {"name": f"no kernel report (no kernel log at {log})",
                  "status": "FAIL"}
    print(f"{label}: {'FAILED ' if result['status'] == 'FAIL' else ''}"
          f"{result['name']}")
    with open(out, "w") as f:
        json.dump({"name": label, "sub_groups": [], "test_cases": [result]},
                  f, indent=1)
    return 1 if result["status"] == "FAIL" else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:4]))
