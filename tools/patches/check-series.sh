#!/usr/bin/env bash
# Check the series make-series.sh wrote. Writes a kunit.py-style JSON with
# one case per check, so the checks count in make test's total.
# Usage: check-series.sh WORK_DIR SERIES_DIR JSON_OUT [--full JOBS]
#   default  git am onto the pristine tree, checkpatch --strict on every
#            patch, the files it creates byte-identical to ours, and the
#            selftests build from the patched tree
#   --full   also build every prefix of the series (UML KUnit config and
#            the x86_64 VM config), then run kunit.py on the last one
set -uo pipefail

work=$(realpath -m "$1") patches=$(realpath -m "$2") json=$3
mode=${4:-} jobs=${5:-2}
repo=$(cd "$(dirname "$0")/../.." && pwd)
series=$repo/tools/patches
git_() { git -C "$work" "$@"; }
cases=()
failed=0
result() { # name PASS|FAIL
	echo "check-patches: $1: $2"
	cases+=("$1=$2")
	[ "$2" = PASS ] || failed=1
}
write_json() {
	python3 - "$json" "${cases[@]}" <<'EOF'
import json, sys
cases = [c.split('=', 1) for c in sys.argv[2:]]
json.dump({'name': 'check-patches', 'sub_groups': [], 'test_cases': [
	{'name': n, 'status': 'PASS' if s == 'PASS' else 'FAIL'}
	for n, s in cases]}, open(sys.argv[1], 'w'), indent=1)
EOF
}
trap write_json EXIT

mapfile -t numbered < <(ls "$patches"/000[1-9]-*.patch "$patches"/00[1-9][0-9]-*.patch 2>/dev/null)
if [ ${#numbered[@]} -eq 0 ]; then
	result series-present FAIL
	exit 1
fi

# 1. git am onto a fresh checkout of the pristine tree.
git_ checkout -q -f --detach base && git_ clean -q -f -d -x
if git_ am -q --whitespace=error-all "${numbered[@]}" >"$work/.git/am.log" 2>&1; then
	result "git-am-${#numbered[@]}-patches" PASS
else
	cat "$work/.git/am.log"
	git_ am --abort 2>/dev/null
	result "git-am-${#numbered[@]}-patches" FAIL
	exit 1
fi

# 2. checkpatch --strict on each patch: no error, warning or check. Its
# SPDX check runs scripts/spdxcheck.py, which needs Debian's python3-ply:
# /usr/bin first, so that no other python3 is taken for it.
for p in "$patches"/*.patch; do
	[ "$(basename "$p")" = 0000-cover-letter.patch ] && continue
	out=$(cd "$work" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl \
		--strict --terse "$p" 2>&1)
	checkpatch_status=$?
	if [ "$checkpatch_status" -ne 0 ] ||
		grep -qE '(ERROR|WARNING|CHECK):|Traceback' <<<"$out"; then
		echo "$out"
		echo "checkpatch exited $checkpatch_status"
		result "checkpatch $(basename "$p")" FAIL
	else
		result "checkpatch $(basename "$p")" PASS
	fi
done

# 3. What the series creates is our files, byte for byte; what it deletes
# is gone.
. "$series/files.sh"
identical=PASS
compare_file() { # add|delete path
	if [ "$1" = delete ] && [ -e "$work/$2" ]; then
		echo "still there: $2"
		identical=FAIL
	elif [ "$1" = add ] && ! cmp -s "$repo/$2" "$work/$2"; then
		echo "differs: $2"
		identical=FAIL
	fi
}
for commit in "$series"/[0-9]*-*/; do
	series_files "$commit" compare_file
done
result files-byte-identical $identical

# 4. The selftests build from the patched tree, against its UAPI headers.
hdr=$work/.git/udmabuf-headers
mkdir -p "$hdr/selftests"
if make -s -C "$work" O="$hdr/build" ARCH=x86_64 INSTALL_HDR_PATH="$hdr" \
	headers_install >"$hdr.log" 2>&1 &&
	make -s -C "$work/tools/testing/selftests/drivers/dma-buf" \
		KHDR_INCLUDES="-isystem $hdr/include" OUTPUT="$hdr/selftests" \
		>>"$hdr.log" 2>&1 &&
	[ -x "$hdr/selftests/udmabuf" ] && [ -x "$hdr/selftests/udmabuf-uapi" ]; then
	result selftests-build PASS
else
	tail -20 "$hdr.log"
	result selftests-build FAIL
fi

[ "$mode" = --full ] || exit $failed

# 5. Every prefix builds: the UML KUnit config and the x86_64 VM config,
# each in a build folder kept between prefixes.
builds=$work/.git/builds
mkdir -p "$builds"
kunit() { # command log options...
	local cmd=$1 log=$2
	shift 2
	(cd "$work" && ./tools/testing/kunit/kunit.py "$cmd" \
		--kunitconfig=drivers/dma-buf/tests --build_dir="$builds/uml" \
		--jobs="$jobs" "$@") >"$log" 2>&1
}
tip=$(git_ rev-parse HEAD)
n=${#numbered[@]}
for ((k = 1; k <= n; k++)); do
	git_ checkout -q -f --detach "$tip~$((n - k))"
	if kunit build "$builds/uml-$k.log"; then
		result "prefix $k/$n builds (UML KUnit)" PASS
	else
		tail -20 "$builds/uml-$k.log"
		result "prefix $k/$n builds (UML KUnit)" FAIL
	fi
	if "$repo/tools/vm/config.sh" "$work" "$builds/x86" \
		"$repo/tools/vm/configs/x86_64-vm.config" >"$builds/x86-$k.log" 2>&1 &&
		make -s -C "$work" O="$builds/x86" ARCH=x86_64 -j"$jobs" bzImage \
			>>"$builds/x86-$k.log" 2>&1; then
		result "prefix $k/$n builds (x86_64 VM)" PASS
	else
		tail -20 "$builds/x86-$k.log"
		result "prefix $k/$n builds (x86_64 VM)" FAIL
	fi
done

# 6. The KUnit suites of the patched tree, by the command the cover letter
# gives: as many cases as make kunit ran, none failing.
kunit run "$builds/uml-run.log" --json="$builds/uml-run.json"
status=$?
ran=$(python3 - "$builds/uml-run.json" "${UML_JSON:-}" <<'EOF'
import json, os, sys
def count(group):
	n, failed = 0, 0
	for c in group.get('test_cases', []):
		n += 1
		failed += c['status'] not in ('PASS', 'SKIP')
	for sub in group.get('sub_groups', []):
		m, f = count(sub)
		n, failed = n + m, failed + f
	return n, failed
cases, failed = count(json.load(open(sys.argv[1])))
ref = sys.argv[2]
ref = count(json.load(open(ref)))[0] if ref and os.path.exists(ref) else '-'
print(cases, failed, ref)
EOF
)
read -r ran_cases ran_failed ref_cases <<<"$ran"
echo "check-patches: kunit.py --kunitconfig=drivers/dma-buf/tests: $ran_cases cases, $ran_failed failed (make kunit: $ref_cases)"
if [ "$status" -eq 0 ] && [ "$ran_failed" = 0 ] &&
	{ [ "$ref_cases" = - ] || [ "$ref_cases" = "$ran_cases" ]; }; then
	result "kunit.py run on the patched tree" PASS
else
	tail -20 "$builds/uml-run.log"
	result "kunit.py run on the patched tree" FAIL
fi
exit $failed
