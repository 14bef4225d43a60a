#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sum KUnit results of several runs into one line CI can read.

Usage: kunit-total.py NAME=JSON_FILE:EXIT_CODE ...

Each run's JSON is what `kunit.py run --json=FILE` wrote. A run that
exited non-zero without a failed case counted (a crash, a build error, a
timeout) counts as one failure of its own, so the total never hides it.
Prints a line per run, each failed case as `FAILED run.group: case`,
then `total: N passed, N failed[, N skipped]`, and exits 1 when
anything failed.
"""

import json
import sys


def count(group, tally, failures, where):
    """Tally @group's cases; name each failure by @where and its groups."""
    for case in group.get("test_cases", []):
        status = case.get("status")
        key = {"PASS": "passed", "SKIP": "skipped"}.get(status, "failed")
        tally[key] += 1
        if key == "failed":
            failures.append(f"{where}: {case.get('name')}")
    for sub in group.get("sub_groups", []):
        count(sub, tally, failures, f"{where}.{sub.get('name', '')}")


def main(args):
    total = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    for arg in args:
        name, _, rest = arg.partition("=")
        path, _, code = rest.rpartition(":")
        tally = {"passed": 0, "failed": 0, "skipped": 0}
        note = ""
        try:
            with open(path) as f:
                count(json.load(f), tally, failures, name)
        except (OSError, ValueError) as err:
            note = f" (no results: {err.__class__.__name__})"
        if code != "0" and tally["failed"] == 0:
            tally["failed"] = 1
            note += f" (exit {code}: crash, build error or timeout)"
            failures.append(f"{name}: exit {code}")
        print(f"{name}: {tally['passed']} passed, {tally['failed']} failed, "
              f"{tally['skipped']} skipped{note}")
        for key in total:
            total[key] += tally[key]
    # The failures again, last, where a log's tail still shows them.
    for failure in failures[:20]:
        print(f"FAILED {failure}")
    if len(failures) > 20:
        print(f"FAILED ... and {len(failures) - 20} more")
    line = f"total: {total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        line += f", {total['skipped']} skipped"
    print(line)
    return 1 if total["failed"] or not args else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
