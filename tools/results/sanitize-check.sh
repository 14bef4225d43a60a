#!/usr/bin/env bash
# Any sanitizer or debug-check report in a kernel log fails the run.
# Usage: sanitize-check.sh KERNEL_LOG JSON_OUT
set -uo pipefail

log=$1 json=$2
patterns='BUG: KASAN|UBSAN:|BUG:|WARNING:|INFO: possible|possible recursive locking|circular locking|DEBUG_LOCKS_WARN_ON|list_add corruption|list_del corruption|ODEBUG:|Kernel panic|kernel BUG|DMA-API:|kmemleak: .*suspected memory leak|KFENCE: '
if [ ! -s "$log" ]; then
	echo "sanitize: no kernel log at $log"
	status=FAIL
# From the first KTAP line: what UML itself reports while booting (a
# virt-pci warning with no virtio device configured) is not ours.
# Allocation profiling WARNs when it cannot allocate its own per-slab
# vector. The tests' fault injection makes exactly that happen, so that
# warning (the WARNING line and the message after it) is theirs.
# The DMA-API debugger's two lines at boot are not reports, nor is it
# turning itself off when the tests' fault injection fails its own
# allocation (the cases that check DMA mappings run before those that
# inject failures).
# A test that makes the driver warn on purpose (a state no user can reach)
# fences the warning with "udmabuf-test: expected warning begins/ends".
elif sed -n '/KTAP version/,$p' "$log" |
	sed '/udmabuf-test: expected warning begins/,/udmabuf-test: expected warning ends/d' |
	awk '/^WARNING: .* at mm\/slub\.c/ { held = $0; next }
	     held != "" { if ($0 !~ /Failed to create slab extension vector/)
				print held "\n" $0
			  held = ""; next }
	     { print }' |
	grep -vE 'DMA-API: (preallocated|debugging enabled|cacheline tracking ENOMEM, dma-debug disabled)' |
	grep -E "$patterns"; then
	echo "sanitize: reports above (full log: $log)"
	status=FAIL
else
	echo "sanitize: no KASAN, UBSAN, lockdep, DEBUG_VM, list, sg or DMA-API report"
	status=PASS
fi
echo "{\"name\": \"sanitize\", \"sub_groups\": [], \"test_cases\": [{\"name\": \"no sanitizer report\", \"status\": \"$status\"}]}" >"$json"
[ "$status" = PASS ]
