#!/usr/bin/env bash
# Lint our driver files: checkpatch --strict, a W=1 build and sparse, in an
# x86_64 build folder of their own. Writes a kunit.py-style JSON with one
# case per check, so the checks count in the total.
# Usage: lint.sh TREE BUILD_DIR JOBS JSON_OUT
set -uo pipefail

tree=$1 out=$2 jobs=$3 json=$4
repo=$(cd "$(dirname "$0")/../.." && pwd)
# Our files: every C file and header under drivers/dma-buf/ (the driver's
# and its tests', in folders below too) and our selftests.
shopt -s globstar nullglob
ours=("$repo"/drivers/dma-buf/**/*.[ch])
ours=("${ours[@]#"$repo"/}")
selftests=("$repo"/tools/testing/selftests/drivers/dma-buf/udmabuf-*.[ch])
selftests=("${selftests[@]#"$repo"/}")
objs=()
for f in "${ours[@]}"; do
	case "$f" in *.c) objs+=("${f%.c}.o") ;; esac
done
declare -A status

echo "== lint =="
# checkpatch: every file of ours (driver and selftests), strict; any
# ERROR, WARNING or CHECK fails, and so does any exit status but 0 (it
# exits 1 on each of those, and otherwise when it cannot run).
report=$(cd "$repo" && "$tree/scripts/checkpatch.pl" --no-tree --strict \
	--terse -f "${ours[@]}" "${selftests[@]}" 2>&1)
checkpatch_status=$?
if [ "$checkpatch_status" -ne 0 ] ||
	grep -qE 'ERROR|WARNING|CHECK' <<<"$report"; then
	grep -E 'ERROR|WARNING|CHECK' <<<"$report" || tail -5 <<<"$report"
	echo "checkpatch exited $checkpatch_status"
	status[checkpatch]=FAIL
else
	status[checkpatch]=PASS
fi
echo "checkpatch --strict: ${status[checkpatch]}"

# A small x86_64 config with the driver and its tests built in.
mk() { make -C "$tree" O="$out" ARCH=x86_64 -j"$jobs" "$@"; }
if [ ! -f "$out/.config" ]; then
	mkdir -p "$out"
	mk allnoconfig >/dev/null
	"$tree/scripts/config" --file "$out/.config" -e 64BIT -e MMU -e SHMEM \
		-e TMPFS -e MEMFD_CREATE -e SYNC_FILE -e UDMABUF -e KUNIT \
		-e UDMABUF_KUNIT_TEST -e HUGETLBFS
	mk olddefconfig >/dev/null
fi
if ! mk prepare >"$out/prepare.log" 2>&1; then
	tail -20 "$out/prepare.log"
	status[w1]=FAIL
	status[sparse]=FAIL
else
	# A build of our objects whose log must hold no diagnostic of ours.
	check() { # name pattern make-args...
		local name=$1 pattern=$2
		shift 2
		if mk "$@" "${objs[@]}" >"$out/$name.log" 2>&1 &&
			! grep -E "(udmabuf[^ ]*|dma-buf/tests/[^ ]*)\.[ch]:[0-9]+:[0-9]+: $pattern" \
				"$out/$name.log"; then
			status[$name]=PASS
		else
			status[$name]=FAIL
		fi
	}
	# W=1 needs the objects rebuilt; sparse (C=2) checks them regardless.
	rm -f "${objs[@]/#/$out/}"
	check w1 '(warning|error)' W=1
	check sparse '' C=2
fi
echo "W=1 build: ${status[w1]}"
echo "sparse: ${status[sparse]}"

fail=0
cases=""
for c in checkpatch w1 sparse; do
	[ "${status[$c]}" = PASS ] || fail=1
	cases+="${cases:+,}{\"name\": \"$c\", \"status\": \"${status[$c]}\"}"
done
echo "{\"name\": \"lint\", \"sub_groups\": [], \"test_cases\": [$cases]}" >"$json"
exit $fail
