#!/usr/bin/env bash
# make bench: the bench program in the VM, alternating our kernel and the
# stock 6.12 one (same tree, same config, same VM), then the report.
# Usage: bench.sh TREE VM_BUILD STOCK_TREE STOCK_BUILD OUT
set -uo pipefail

tree=$1 kbuild=$2 stock_tree=$3 stock_build=$4 out=$5
vm=$(cd "$(dirname "$0")" && pwd)
rounds=${BENCH_ROUNDS:-2} reps=${BENCH_REPS:-3} max_mb=${BENCH_MAX_MB:-1024}
mkdir -p "$out"
export VM_HUGEPAGES=${VM_HUGEPAGES:-520} VM_MEM=${VM_MEM:-4G}
cmdline="udmabuf.size_limit_mb=1024 bench_reps=$reps bench_max_mb=$max_mb"

ours=() stock=()
for round in $(seq 1 "$rounds"); do
	"$vm/run-vm.sh" "$tree" "$kbuild" "$out" "bench-ours-$round" bench \
		"$cmdline" >/dev/null
	ours+=("$out/bench-ours-$round-console.log")
	"$vm/run-vm.sh" "$stock_tree" "$stock_build" "$out" "bench-stock-$round" \
		bench "$cmdline" >/dev/null
	stock+=("$out/bench-stock-$round-console.log")
done

echo "bench: $(date -u +%F), $(nproc) cores, QEMU under $(cat "$out/accel"), " \
	"$rounds rounds x $reps repetitions"
IFS=,
"$vm/bench-report.py" "$out" "ours=${ours[*]}" "stock=${stock[*]}"
