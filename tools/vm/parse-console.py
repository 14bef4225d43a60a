#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn a VM console log into per-program TAP counts.

Usage: parse-console.py LOG JSON_OUT LABEL

init fences each program's output with "==== BEGIN name" and
"==== END name exit=N" (or signal=N); run-vm.sh puts the
kernel's console after the programs' output, behind
"==== KERNEL CONSOLE". Inside, TAP result lines
("ok N name", "not ok N name", "... # SKIP") are cases; a program's TAP
plan ("1..N"), if it prints one, must match them. A program that
ends badly without a failed case, or never ends (crash, hang), counts as
one failure. A kernel report anywhere in the log (a WARN, BUG, oops,
KASAN, UBSAN, lockdep, DMA-API debugger, kmemleak, KFENCE, hung task or
RCU stall line...: tools/vm/kernel_reports.py has the list) fails
the case "no kernel report". Writes kunit.py-style JSON for
tools/results/kunit-total.py and prints a short report; exits 1 on any
failure.
"""

import json
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tools/vm
import kernel_reports  # noqa: E402 (tools/vm/kernel_reports.py)

RESULT = re.compile(r"^(not ok|ok) \d+ (.*?)(?:\s+#\s*(SKIP|skip).*)?$")
PLAN = re.compile(r"^1\.\.(\d+)")


def parse(lines):
    groups, current = [], None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("==== BEGIN "):
            current = {"name": line[11:].strip(), "sub_groups": [],
                       "test_cases": [], "end": None, "plan": None}
            groups.append(current)
        elif line.startswith("==== END ") and current:
            current["end"] = line.split()[-1]
            current = None
        elif line.startswith("==== KERNEL CONSOLE"):
            current = None
        elif current is not None and PLAN.match(line):
            current["plan"] = int(PLAN.match(line).group(1))
        elif current is not None:
            m = RESULT.match(line.strip())
            if m and not line.startswith(" "):
                status = "SKIP" if m.group(3) else (
                    "PASS" if m.group(1) == "ok" else "FAIL")
                current["test_cases"].append({"name": m.group(2),
                                              "status": status})
    for g in groups:
        # A TAP plan ("1..N") is kept: fewer or more results fail.
        ran = len(g["test_cases"])
        if g["plan"] is not None and ran != g["plan"]:
            g["test_cases"].append({"name": f"planned {g['plan']} cases, "
                                    f"ran {ran}", "status": "FAIL"})
        failed = any(c["status"] == "FAIL" for c in g["test_cases"])
        if g["end"] != "exit=0" and not failed:
            why = g["end"] or "never ended (crash or timeout)"
            g["test_cases"].append({"name": f"{g['name']} ({why})",
                                    "status": "FAIL"})
    return groups


def main(log, out, label):
    with open(log, errors="replace") as f:
        lines = f.readlines()
    groups = parse(lines)
    done = any(l.startswith("==== VM DONE") for l in lines)
    if not done:
        groups.append({"name": "vm", "sub_groups": [], "test_cases": [
            {"name": "VM reached the end of its programs", "status": "FAIL"}]})
    reports = kernel_reports.scan(lines)
    for line in reports[:10]:
        print(f"{label}: kernel report: {line}")
    # The first report names the case, so a summary of failures shows it.
    groups.append({"name": "kernel", "sub_groups": [], "test_cases": [
        kernel_reports.case(reports)]})
    bad = 0
    for g in groups:
        for c in g["test_cases"]:
            if c["status"] == "FAIL":
                bad += 1
                print(f"{label}: FAILED {g['name']}: {c['name']}")
        n = {s: sum(c["status"] == s for c in g["test_cases"])
             for s in ("PASS", "FAIL", "SKIP")}
        print(f"{label}: {g['name']}: {n['PASS']} passed, {n['FAIL']} failed, "
              f"{n['SKIP']} skipped")
        g.pop("end", None)
        g.pop("plan", None)
    with open(out, "w") as f:
        json.dump({"name": label, "sub_groups": groups, "test_cases": []}, f,
                  indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
