#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""How many cases a stage of make test must run, counted from the sources.

Usage: stage_counts.py [--tree=TREE] STAGE ...

STAGE is NAME[:KIND], as make test names its stages (TEST_STAGES in the
Makefile); prints the cases each stage must run, per group. Kinds:

  kunit    the KUnit suites registered in the *-test.c files under
           drivers/dma-buf/ (its folders below included): one
           case per KUNIT_CASE*(), one per element of the parameter array
           of a KUNIT_CASE_PARAM() (KUNIT_ARRAY_PARAM[_DESC]()), as
           kunit.py's JSON counts them; a group per suite.
  kunit=GLOB  those of the suites whose names match GLOB (kunit.py's
           filter_glob of the stage's run).
  vm=PROGS a boot of tools/vm/run-vm.sh with PROGS (name:arg:arg,...), a
           group per program (its source: our selftests, or NAME.c in a
           folder of tools/): a kselftest harness program one case per
           TEST*() of its fixture times the fixture's FIXTURE_VARIANT_ADD()s,
           filtered by the program's -t/-T/-f/-F/-v/-V/-r options as the
           harness filters; the tree's udmabuf its ksft_set_plan(N); another
           program the TAP plan ("1..N") written in its source, or failing
           that its printf("%sok %d ...") result lines. run-vm.sh adds the
           groups kconfig (one case), bootcheck (one case per check_*()
           of its main, and one more per NUMA node it is told of) and
           parse-console.py the group kernel (one case).
  (none)   no count from the sources; the stage must still run a case.

tools/results/kunit-total.py calls audit() for each stage: a group that
ran (passed + failed + skipped as tools/results/expected-skips.txt
declares) fewer cases than counted fails its stage.
"""

import fnmatch
import glob
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SELFTESTS = "tools/testing/selftests/drivers/dma-buf"
SKIPS = os.path.join(REPO, "tools", "results", "expected-skips.txt")


class CountError(Exception):
    """The sources do not say how many cases a stage runs."""


def strip_c(text):
    """@text without C comments; strings and line breaks kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("\n" * text.count("\n", i, end))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_c(path):
    try:
        with open(path, errors="replace") as f:
            return strip_c(f.read())
    except OSError as err:
        raise CountError(f"cannot read {path}: {err.strerror}") from None


def initializer(text, pattern, what):
    """The top-level elements of the brace initializer after @pattern."""
    m = re.search(pattern + r"\s*=\s*\{", text)
    if not m:
        raise CountError(f"no initializer of {what}")
    depth, start, elems, i = 0, m.end(), [], m.end()
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "#" and text[text.rfind("\n", 0, i) + 1:i].strip() == "":
            raise CountError(f"a preprocessor line inside {what}: "
                             "cases under #if are not counted")
        if c in "({[":
            depth += 1
        elif c in ")]" or (c == "}" and depth):
            depth -= 1
        elif c == "}" or (c == "," and depth == 0):
            elems.append(text[start:i].strip())
            start = i + 1
            if c == "}":
                return [e for e in elems if e]
        i += 1
    raise CountError(f"unterminated initializer of {what}")


def kunit_params(text, gen, path):
    """The parameters @gen (NAME_gen_params) yields, from its array."""
    name = gen[:-len("_gen_params")] if gen.endswith("_gen_params") else None
    m = name and re.search(r"\bKUNIT_ARRAY_PARAM(?:_DESC)?\(\s*" + name +
                           r"\s*,\s*(\w+)", text)
    if not m:
        raise CountError(f"{path}: {gen} is no KUNIT_ARRAY_PARAM[_DESC]()")
    return len(initializer(text, r"\b" + m.group(1) + r"\s*\[[^\]]*\]",
                           f"{path}: {m.group(1)}[]"))


def kunit_counts(repo):
    """{suite: cases} of the suites drivers/dma-buf/**/*-test.c register."""
    counts = {}
    tests = os.path.join(repo, "drivers/dma-buf/**/*-test.c")
    for path in sorted(glob.glob(tests, recursive=True)):
        text, rel = read_c(path), os.path.relpath(path, repo)
        registered = []
        for m in re.finditer(r"\bkunit_test_suites?\(([^)]*)\)", text):
            registered += [s.strip().lstrip("&")
                           for s in m.group(1).split(",")]
        for suite in filter(None, registered):
            fields = " ".join(initializer(
                text, r"\bstruct\s+kunit_suite\s+" + suite + r"\b",
                f"{rel}: {suite}"))
            name = re.search(r'\.name\s*=\s*"([^"]*)"', fields)
            cases = re.search(r"\.test_cases\s*=\s*(\w+)", fields)
            if not name or not cases:
                raise CountError(f"{rel}: {suite} has no .name or .test_cases")
            n = 0
            array = cases.group(1)
            for case in initializer(text, r"\b" + array + r"\s*\[[^\]]*\]",
                                    f"{rel}: {array}[]"):
                m = re.match(r"KUNIT_CASE(_SLOW|_ATTR)?\(", case)
                p = re.match(r"KUNIT_CASE_PARAM(?:_ATTR)?\(\s*\w+\s*,\s*(\w+)",
                             case)
                if m:
                    n += 1
                elif p:
                    n += kunit_params(text, p.group(1), rel)
                elif not re.fullmatch(r"\{\s*\}", case):
                    raise CountError(f"{rel}: cannot count the case {case!r}")
            counts[name.group(1)] = counts.get(name.group(1), 0) + n
    if not counts:
        raise CountError("no KUnit suite in drivers/dma-buf/**/*-test.c")
    return counts


def harness_enabled(opts, fixture, variant, test):
    """kselftest_harness.h's test_enabled() over @opts [(opt, arg)]."""
    positive = False
    for opt, arg in opts:
        positive |= opt.islower()
        key = opt.lower()
        if key == "r":
            if arg == ".".join(x for x in (fixture, variant, test) if x):
                return True
            continue
        name = {"t": test, "f": fixture, "v": variant}.get(key)
        if name is not None and name == arg:
            return opt.islower()
    return not positive


def harness_count(text, args):
    """Cases a kselftest harness program runs with @args, or None."""
    tests = re.findall(r"^\s*(TEST|TEST_SIGNAL|TEST_F|TEST_F_SIGNAL|"
                       r"TEST_F_TIMEOUT)\(\s*(\w+)(?:\s*,\s*(\w+))?", text,
                       re.M)
    if not tests:
        return None
    variants = {}
    for f, v in re.findall(r"^\s*FIXTURE_VARIANT_ADD\(\s*(\w+)\s*,\s*(\w+)",
                           text, re.M):
        variants.setdefault(f, []).append(v)
    opts, i = [], 0
    while i < len(args):
        a = args[i]
        if re.fullmatch(r"-[tTfFvVr]", a) and i + 1 < len(args):
            opts.append((a[1], args[i + 1]))
            i += 2
        elif re.fullmatch(r"-[tTfFvVr].+", a):
            opts.append((a[1], a[2:]))
            i += 1
        else:
            raise CountError(f"harness option {a!r} not understood")
    n = 0
    for macro, first, second in tests:
        fixture, test = ("global", first) if macro in ("TEST", "TEST_SIGNAL") \
            else (first, second)
        for variant in variants.get(fixture, [""]):
            n += harness_enabled(opts, fixture, variant, test)
    return n


def bootcheck_count(repo):
    """bootcheck's cases as run-vm.sh runs it: its checks and its nodes."""
    text = read_c(os.path.join(repo, "tools/vm/bootcheck.c"))
    main = text[text.find("int main("):]
    checks = len(re.findall(r"=\s*check_\w+\(", main))
    with open(os.path.join(repo, "tools/vm/run-vm.sh")) as f:
        sh = f.read()
    nodes = re.search(r"\bvm_nodes=(\d+)", sh)
    if not checks or not nodes or "check_nodes(" not in main:
        raise CountError("tools/vm/bootcheck.c or run-vm.sh: cannot count "
                         "bootcheck's checks or nodes")
    # check_nodes() is one case for the node count, one per node.
    return checks + int(nodes.group(1))


def program_count(name, args, repo, tree):
    """The cases VM program @name runs with @args, from its source."""
    if name == "bootcheck":
        return bootcheck_count(repo)
    # Our selftests, else the one tools/*/NAME.c (tools/vm, tools/stress...).
    candidates = [os.path.join(repo, SELFTESTS, name + ".c")]
    if name == "udmabuf":
        candidates = [os.path.join(tree, SELFTESTS, "udmabuf.c")]
    path = next((p for p in candidates if os.path.exists(p)), None)
    if not path and name != "udmabuf":
        found = sorted(glob.glob(os.path.join(repo, "tools", "*",
                                              glob.escape(name) + ".c")))
        if len(found) > 1:
            raise CountError(f"several sources for the VM program {name}: "
                             f"{', '.join(found)}")
        path = found[0] if found else None
    if not path:
        raise CountError(f"no source for the VM program {name}")
    text = read_c(path)
    n = harness_count(text, args)
    if n is not None:
        return n
    plans = set(re.findall(r"\bksft_set_plan\(\s*(\d+)\s*\)", text))
    # A plan in a string: "1..N\n" after a quote, a space or a "\n".
    plans |= set(re.findall(r'"(?:[^"\\]|\\.)*?(?:(?<=\\n)|(?<=[" ]))'
                            r'1\.\.(\d+)\\n', text))
    if len(plans) > 1:
        raise CountError(f"{name}: several plans in its source: "
                         f"{sorted(plans)}")
    if plans:
        return int(plans.pop())
    results = len(re.findall(r'"%sok %d ', text))
    if results:
        return results
    raise CountError(f"{name}: no plan and no result lines in its source")


def vm_counts(programs, repo, tree):
    """{group: cases} of a run-vm.sh boot of @programs."""
    counts = {"kconfig": 1, "bootcheck": bootcheck_count(repo)}
    for spec in filter(None, programs.split(",")):
        name, *args = spec.split(":")
        counts[name] = counts.get(name, 0) + program_count(name, args, repo,
                                                           tree)
    counts["kernel"] = 1
    return counts


def expected(kind, repo=REPO, tree=None):
    """{group: cases} a stage of @kind runs; {} when its kind counts none."""
    tree = tree or os.path.join(repo, "build", "linux")
    if kind == "kunit":
        return kunit_counts(repo)
    if kind.startswith("kunit="):
        return {suite: n for suite, n in kunit_counts(repo).items()
                if fnmatch.fnmatchcase(suite, kind[6:])}
    if kind.startswith("vm="):
        return vm_counts(kind[3:], repo, tree)
    if kind:
        raise CountError(f"unknown stage kind {kind!r}")
    return {}


def declared_skips(stage, path=SKIPS):
    """[(pattern, reason)] of tools/results/expected-skips.txt for @stage."""
    found = []
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split(None, 2)
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        if stage in fields[0].split(","):
            reason = fields[2].strip() if len(fields) > 2 else ""
            found.append((fields[1], reason))
    return found


def tally(group, skips, path=()):
    """[passed, failed, declared skips, undeclared skip names] of @group."""
    t = [0, 0, 0, []]
    path = path + (group.get("name", ""),)
    for case in group.get("test_cases", []):
        status, names = case.get("status"), path + (case.get("name", ""),)
        if status == "PASS":
            t[0] += 1
        elif status != "SKIP":
            t[1] += 1
        elif any(fnmatch.fnmatchcase(n, p)
                 for p, _ in skips for n in names[1:]):
            t[2] += 1
        else:
            t[3].append(".".join(names[1:]))
    for sub in group.get("sub_groups", []):
        s = tally(sub, skips, path)
        t = [t[0] + s[0], t[1] + s[1], t[2] + s[2], t[3] + s[3]]
    return t


def audit(stage, kind, root, repo=REPO, tree=None):
    """(summary, problems): what @root ran against what @kind expects.

    Each problem is a failure of the stage: a group of the count that ran
    fewer cases than counted (undeclared skips do not count as run), or a
    stage that ran no case at all.
    """
    try:
        want = expected(kind, repo, tree)
    except CountError as err:
        return "", [f"cannot count its cases from the sources: {err}"]
    skips = declared_skips(stage)
    groups = {}
    for g in root.get("sub_groups", []):
        t = tally(g, skips)
        old = groups.get(g.get("name"), [0, 0, 0, []])
        groups[g.get("name")] = [old[k] + t[k] for k in range(4)]
    everything = tally(root, skips)
    problems = []
    if not want:
        if sum(everything[:2]) + everything[2] + len(everything[3]) == 0:
            problems.append("ran no case")
        return "", problems
    ran_total = 0
    for name, n in want.items():
        passed, failed, declared, undeclared = groups.get(name, [0, 0, 0, []])
        ran = passed + failed + declared
        ran_total += min(ran, n)
        if ran < n:
            why = ""
            if undeclared:
                why = (f" ({len(undeclared)} skipped without a line in "
                       f"tools/results/expected-skips.txt: "
                       f"{', '.join(undeclared[:3])}"
                       f"{', ...' if len(undeclared) > 3 else ''})")
            problems.append(f"{name}: ran {ran} of {n} expected cases{why}")
    total = sum(want.values())
    summary = f"{ran_total} of {total} expected cases ran"
    if everything[2]:
        summary += f" ({everything[2]} declared skips)"
    return summary, problems


def main(args):
    tree = None
    for arg in [a for a in args if a.startswith("--tree=")]:
        tree = arg[len("--tree="):]
    status = 0
    for arg in [a for a in args if not a.startswith("--")]:
        name, _, kind = arg.partition(":")
        try:
            want = expected(kind, REPO, tree)
        except CountError as err:
            print(f"{name}: cannot count: {err}")
            status = 1
            continue
        detail = ", ".join(f"{g} {n}" for g, n in want.items())
        print(f"{name}: {sum(want.values())} cases ({detail})" if want else
              f"{name}: not counted from the sources (must run a case)")
        for pattern, reason in declared_skips(name):
            print(f"{name}:   may skip {pattern}: {reason}")
    return status


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main(sys.argv[1:]))
