#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sum the results of make test's stages into one line CI can read.

Usage: kunit-total.py [--results=DIR] [--tree=TREE] [--make-status=N] STAGE ...

STAGE is NAME[:KIND]: the stage's results are DIR/NAME.json (kunit.py's
--json format, which our other stages write too) and DIR/NAME.exit (its
exit code); KIND says how many cases it must run, counted from the
sources (tools/results/stage_counts.py; TREE holds the tree's own
selftest). The older form NAME=JSON_FILE:EXIT_CODE names both directly
and counts nothing from the sources.

A stage fails with a case of its own when it did not run (no JSON or no
exit code: stages delete theirs before they run), when it exited non-zero
without a failed case counted (a crash, a build error, a timeout), when it
ran no case, and when a group of it ran fewer cases than the sources count
(skips count as run only where tools/results/expected-skips.txt declares
them).
--make-status is the exit code of the make that ran the stages: non-zero
with every stage there is a failure too. --since=SECONDS (the epoch time
the stages began) adds a line of the wall time up to each stage's end,
its builds included, in the order they ended.

Prints a line per stage, each failed case as `FAILED stage.group: case`,
then `total: N passed, N failed[, N skipped]`, and exits 1 when anything
failed.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tools/results
import stage_counts  # noqa: E402 (tools/results/stage_counts.py)


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


def read_exit(path):
    """The exit code recorded in @path, or None."""
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def stage(arg, results, tree, failures):
    """Tally one stage; returns (tally, whether its results were missing)."""
    if "=" in arg.split(":", 1)[0]:
        name, _, rest = arg.partition("=")
        path, _, code = rest.rpartition(":")
        code, kind = code.strip() or None, ""
    else:
        name, _, kind = arg.partition(":")
        path = os.path.join(results, name + ".json")
        code = read_exit(os.path.join(results, name + ".exit"))
    tally = {"passed": 0, "failed": 0, "skipped": 0}
    notes, problems, summary = [], [], ""
    try:
        with open(path) as f:
            root = json.load(f)
    except (OSError, ValueError) as err:
        root = None
        notes.append(f"no results: {err.__class__.__name__}")
    if root is not None:
        count(root, tally, failures, name)
        summary, problems = stage_counts.audit(name, kind, root,
                                               tree=tree)
    missing = root is None or code is None
    if missing:
        problems.append("did not run" if root is None and code is None else
                        "no results" if root is None else
                        "no exit code recorded")
    elif code != "0" and tally["failed"] == 0:
        problems.append(f"exit {code}: crash, build error or timeout")
    for problem in problems:
        tally["failed"] += 1
        failures.append(f"{name}: {problem}")
    if summary:
        notes.insert(0, summary)
    note = "".join(f"; {n}" for n in notes)
    print(f"{name}: {tally['passed']} passed, {tally['failed']} failed, "
          f"{tally['skipped']} skipped{note}")
    return tally, missing


def stage_times(stages, results, since):
    """Print the seconds from the end of the stage before (or @since)."""
    ends = []
    for arg in stages:
        name = arg.split(":", 1)[0].split("=", 1)[0]
        try:
            ends.append((os.path.getmtime(os.path.join(results,
                                                       name + ".exit")),
                         name))
        except OSError:
            pass
    if not ends:
        return
    last, parts = since, []
    for end, name in sorted(ends):
        parts.append(f"{name} {end - last:.0f}")
        last = end
    print(f"time (s, builds included): {', '.join(parts)}; "
          f"all {last - since:.0f}")


def main(args):
    opts = dict(a[2:].split("=", 1) for a in args
                if a.startswith("--") and "=" in a)
    stages = [a for a in args if not a.startswith("--")]
    results = opts.get("results", ".")
    total = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    missing = False
    for arg in stages:
        tally, gone = stage(arg, results, opts.get("tree"), failures)
        missing |= gone
        for key in total:
            total[key] += tally[key]
    if "since" in opts:
        stage_times(stages, results, float(opts["since"]))
    make_status = opts.get("make-status", "0")
    if make_status != "0":
        why = " (the stages it could not run are above)" if missing else ""
        print(f"make: the stages' make exited {make_status}{why}")
        if not missing:
            total["failed"] += 1
            failures.append(f"make: exit {make_status}")
    # The failures again, last, where a log's tail still shows them.
    for failure in failures[:20]:
        print(f"FAILED {failure}")
    if len(failures) > 20:
        print(f"FAILED ... and {len(failures) - 20} more")
    line = f"total: {total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        line += f", {total['skipped']} skipped"
    print(line)
    return 1 if total["failed"] or not stages else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
