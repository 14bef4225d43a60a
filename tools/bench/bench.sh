#!/usr/bin/env bash
# make bench: the bench program in the VM, alternating our kernel and the
# stock 6.12 one (same tree, same config, same VM), then the report.
# Usage: bench.sh TREE VM_BUILD STOCK_TREE STOCK_BUILD OUT
# With BENCH_BASE_TREE and BENCH_BASE_BUILD (our driver at an earlier
# commit, named by BENCH_BASE_NAME), each round boots it too, as the third
# driver "base": the report adds its column and the ratios to it.
# With FLOOR_KERNEL (make profile's build folder) and FLOOR_LIST (the
# pin-floor module's initramfs list), one more boot prints the floor table:
# our driver's phases beside the kernel's own calls, in that kernel.
set -uo pipefail

tree=$1 kbuild=$2 stock_tree=$3 stock_build=$4 out=$5
bench=$(cd "$(dirname "$0")" && pwd)
vm=$(cd "$bench/../vm" && pwd)
rounds=${BENCH_ROUNDS:-2} reps=${BENCH_REPS:-3} max_mb=${BENCH_MAX_MB:-1024}
mkdir -p "$out"
export VM_HUGEPAGES=${VM_HUGEPAGES:-520} VM_MEM=${VM_MEM:-4G}
# BENCH_STABLE=1: guest instructions instead of wall-clock time (see
# run-vm.sh); min, median and max of a shape then agree within 0.1%.
if [ "${BENCH_STABLE:-0}" = 1 ]; then
	export VM_ICOUNT=1
	out=$out-stable
	mkdir -p "$out"
fi
# QEMU setups raise list_limit to 65,536: the bench's largest lists have
# that many items. BENCH_SHAPES=TEXT: only the backings whose names
# contain TEXT (say, shmem-4k-s for the lists of one-page items).
cmdline="udmabuf.size_limit_mb=1024 udmabuf.list_limit=65536"
cmdline+=" bench_reps=$reps bench_max_mb=$max_mb"
[ -n "${BENCH_SHAPES:-}" ] && cmdline+=" bench_shapes=$BENCH_SHAPES"

base_tree=${BENCH_BASE_TREE:-} base_build=${BENCH_BASE_BUILD:-}
ours=() stock=() base=()
start=$(date +%s)
for round in $(seq 1 "$rounds"); do
	"$vm/run-vm.sh" "$tree" "$kbuild" "$out" "bench-ours-$round" bench \
		"$cmdline" >/dev/null
	ours+=("$out/bench-ours-$round-console.log")
	"$vm/run-vm.sh" "$stock_tree" "$stock_build" "$out" "bench-stock-$round" \
		bench "$cmdline" >/dev/null
	stock+=("$out/bench-stock-$round-console.log")
	if [ -n "$base_tree" ] && [ -n "$base_build" ]; then
		"$vm/run-vm.sh" "$base_tree" "$base_build" "$out" \
			"bench-base-$round" bench "$cmdline" >/dev/null
		base+=("$out/bench-base-$round-console.log")
	fi
done

accel=$(cat "$out/accel" 2>/dev/null)
[ "${BENCH_STABLE:-0}" = 1 ] && accel="TCG with -icount shift=0,sleep=off (times are guest instructions / 1000)"
echo "bench: $(date -u +%F), $(nproc) cores, QEMU under $accel," \
	"$rounds rounds x $reps repetitions, $(( $(date +%s) - start )) s of boots"
echo "kernels: $(basename "$kbuild") (ours), $(basename "$stock_build")" \
	"(stock)${base[0]:+, $(basename "$base_build") (base: our driver at ${BENCH_BASE_NAME:-an earlier commit})}"
IFS=,
"$bench/bench-report.py" "$out" "ours=${ours[*]}" "stock=${stock[*]}" \
	${base[0]:+"base=${base[*]}"}
status=$?
unset IFS

if [ -n "${FLOOR_KERNEL:-}" ] && [ -n "${FLOOR_LIST:-}" ]; then
	VM_EXTRA_LIST=$FLOOR_LIST "$vm/run-vm.sh" "$tree" "$FLOOR_KERNEL" \
		"$out" bench-floor profile:floor "$cmdline" >/dev/null
	echo
	echo "floor: our driver beside the kernel's own calls for the same range"
	echo "(one memfd_pin_folios(); a first fault of one vmf_insert_pfn() per"
	echo "page; one unpin_folios()), no driver around them; make profile's"
	echo "kernel, medians of 3; ratio = ours / floor"
	awk -F, '/^FLOOR,/ { printf "  %-24s %-11s ours %9s  floor %9s  %6s\n", $2, $3, $4, $5, $6 }
		/^FLOOR-(SKIP|FAIL)/ { print "  " $0 }' "$out/bench-floor-console.log"
fi
exit $status
