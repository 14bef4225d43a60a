#!/usr/bin/env bash
# Build the VM's userspace and initramfs, boot a kernel under QEMU (KVM when
# it works, TCG otherwise), run the named programs, parse their results.
# Usage: run-vm.sh TREE KBUILD OUT LABEL PROGRAMS [EXTRA_CMDLINE]
#   TREE     kernel tree with the selftests (ours: the overlaid one)
#   KBUILD   the x86_64 build folder holding arch/x86/boot/bzImage
#   OUT      work folder for userspace, initramfs, logs and results
#   LABEL    name of this run in the results (e.g. vm, vm-stock)
#   PROGRAMS comma-separated: demo, udmabuf (the tree's selftest),
#            udmabuf-uapi and udmabuf-mapping (ours), bench, stress,
#            migrate, client, v4l2;
#            name:arg:arg passes arguments; bootcheck (is the VM the
#            machine it should be?) always runs first
# Environment: VM_EXTRA_LIST, a gen_init_cpio list of more files for the
# initramfs (make client's QEMU); VM_QEMU_ARGS, more QEMU options.
set -euo pipefail

tree=$(realpath "$1") kbuild=$(realpath "$2") out=$(realpath -m "$3")
label=$4 progs=$5 extra=${6:-}
repo=$(cd "$(dirname "$0")/../.." && pwd)
# The programs' sources, by job: the harness's own (init, bootcheck, demo),
# stress and migrate, bench and profile, and the clients (QEMU, V4L2).
vm=$repo/tools/vm stress=$repo/tools/stress bench=$repo/tools/bench
client=$repo/tools/client
# Our selftest and its userspace header, shared with the demo and the bench.
self=$repo/tools/testing/selftests/drivers/dma-buf
timeout_s=${VM_TIMEOUT:-900}
mkdir -p "$out/bin"

# UAPI headers of the tree (the same for the stock driver and ours).
if [ ! -f "$out/headers/include/linux/udmabuf.h" ]; then
	make -s -C "$tree" O="$out/hdr-build" ARCH=x86_64 \
		INSTALL_HDR_PATH="$out/headers" headers_install >/dev/null
fi

cflags=(-static -pthread -O2 -Wall -Wextra -Wno-sign-compare -Wno-unused-parameter
	-Wno-clobbered
	-I"$out/headers/include" -I"$self" -I"$tree/tools/testing/selftests"
	-I"$tree/tools/testing/selftests/drivers/dma-buf")
build() { # output source...
	local dst=$out/bin/$1
	shift
	if [ ! -x "$dst" ] || [ -n "$(find "$@" "$self/udmabuf-user.h" -newer "$dst")" ]; then
		# Warnings go to a log (the tree's selftest has a few of its own).
		if ! gcc "${cflags[@]}" -o "$dst" "$@" 2>"$dst.log"; then
			cat "$dst.log" >&2
			return 1
		fi
	fi
}
build init "$vm/init.c"
build bootcheck "$vm/bootcheck.c"
build demo "$vm/demo.c"
if [ -f "$bench/bench.c" ]; then build bench "$bench/bench.c"; fi
build stress "$stress/stress.c"
build migrate "$stress/migrate.c"
build profile "$bench/profile.c"
build udmabuf "$tree/tools/testing/selftests/drivers/dma-buf/udmabuf.c"
build udmabuf-uapi "$self/udmabuf-uapi.c"
build udmabuf-mapping "$self/udmabuf-mapping.c"
build client "$client/client.c"
build v4l2 "$client/v4l2.c"
# make client's QEMU loads it (LD_PRELOAD) to count the items it passes.
shim=$out/bin/udmabuf-shim.so
if [ ! -f "$shim" ] || [ "$client/client-shim.c" -nt "$shim" ]; then
	gcc -shared -fPIC -O2 -Wall -I"$out/headers/include" -o "$shim" \
		"$client/client-shim.c" -ldl
fi

# initramfs from our own static binaries, packed by the tree's gen_init_cpio.
list=$out/initramfs.list
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	for d in bin proc sys tmp; do echo "dir /$d 0755 0 0"; done
	echo "file /init $out/bin/init 0755 0 0"
	for p in bootcheck demo bench udmabuf udmabuf-uapi udmabuf-mapping stress \
		migrate profile client v4l2; do
		if [ -x "$out/bin/$p" ]; then
			echo "file /bin/$p $out/bin/$p 0755 0 0"
		fi
	done
	if [ -n "${VM_EXTRA_LIST:-}" ]; then cat "$VM_EXTRA_LIST"; fi
} >"$list"
"$kbuild/usr/gen_init_cpio" "$list" | gzip -1 >"$out/initramfs.cpio.gz"

kernel=$kbuild/arch/x86/boot/bzImage
# The machine users run: 4 CPUs in two NUMA nodes (QEMU's ACPI SRAT), each
# node a socket of 2 cores (a node splitting a socket, i.e. its last-level
# cache, is a WARN in the guest) with half of VM_MEM (G or M; MiB without).
mem=${VM_MEM:-6G}
case $mem in
*[Gg]) mem_mib=$((${mem%[Gg]} * 1024)) ;;
*[Mm]) mem_mib=${mem%[Mm]} ;;
*) mem_mib=$mem ;;
esac
vm_cpus=4 vm_nodes=2 node_mib=$((mem_mib / 2))
# The kernel's console is the first serial port, the programs' output the
# second (init writes there): a kernel line printed while a program writes
# cannot land inside one of its lines (seen in a v4l2 boot: the PS/2 mouse's
# "input: ImExPS/2 ..." inside "==== BEGIN v4l2"). VM_QEMU_ARGS's serial
# ports come after them.
# QEMU makes that file only once the machine is up: none of an earlier
# boot's may pass for this one's (it is deleted before each boot, and once
# read into the console log).
programs_log=$out/$label-programs.log
rm -f "$programs_log"
qemu=(qemu-system-x86_64 -nodefaults -nographic -no-reboot -serial stdio
	-serial "file:$programs_log"
	-m "${mem_mib}M" -smp "$vm_cpus,sockets=$vm_nodes,cores=2,threads=1"
	-object "memory-backend-ram,id=node0,size=${node_mib}M"
	-object "memory-backend-ram,id=node1,size=$((mem_mib - node_mib))M"
	-numa "node,nodeid=0,cpus=0-1,memdev=node0"
	-numa "node,nodeid=1,cpus=2-3,memdev=node1"
	-kernel "$kernel" -initrd "$out/initramfs.cpio.gz")
# shellcheck disable=SC2206 # VM_QEMU_ARGS is a list of words
qemu+=(${VM_QEMU_ARGS:-})
cmdline="console=ttyS0 panic=-1 kunit.enable=0 hugepages=${VM_HUGEPAGES:-1100} hugetlb_free_vmemmap=on"
# The guest finds no HPET or PM timer to calibrate its TSC against and
# falls back to jiffies (4 ms steps). QEMU's guest TSC runs at the host's
# rate: tell the guest that rate, so clock_gettime() has real resolution.
host_mhz=$(awk -F': ' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
if [ -n "$host_mhz" ] && grep -qw constant_tsc /proc/cpuinfo; then
	cmdline+=" tsc_early_khz=$(awk -v m="$host_mhz" 'BEGIN { printf "%d", m * 1000 }') tsc=reliable"
fi

# KVM only when a short boot under it reaches init and back (seen here:
# /dev/kvm present but guests failing, each probe costing 30 s); otherwise
# TCG. One probe per make run (UDMABUF_RUN_ID), reused by its later boots.
# VM_ICOUNT=1 (BENCH_STABLE=1): TCG with the guest clock counting guest
# instructions (-icount shift=0,sleep=off), for timings that do not move
# with the host's load; they ignore cache and TLB costs. -icount runs the
# vCPUs in turn on one host thread; otherwise TCG gives each vCPU a thread.
mode=TCG
if [ "${VM_ICOUNT:-0}" = 1 ]; then
	mode=TCG-icount
elif [ "${VM_ACCEL:-auto}" = tcg ] || [ ! -w /dev/kvm ]; then
	mode=TCG
elif [ -n "${UDMABUF_RUN_ID:-}" ] && [ -f "$out/accel.run" ] &&
     [ "$(cat "$out/accel.run")" = "$UDMABUF_RUN_ID" ]; then
	mode=$(cat "$out/accel")
elif timeout 30 "${qemu[@]}" -accel kvm -cpu host \
	-append "$cmdline udmabuf_vm=none" </dev/null >/dev/null 2>&1 &&
	grep -q '==== VM DONE' "$programs_log"; then
	mode=KVM
fi
case $mode in
KVM) accel=(-accel kvm -cpu host) ;;
TCG-icount)
	# The guest TSC then counts virtual nanoseconds: one per instruction.
	accel=(-accel tcg -icount shift=0,sleep=off)
	cmdline=$(sed -E 's/tsc_early_khz=[0-9]+/tsc_early_khz=1000000/' <<<"$cmdline")
	;;
*) accel=(-accel "tcg,thread=multi") ;;
esac
if [ "$mode" != TCG-icount ]; then
	echo "$mode" >"$out/accel"
	echo "${UDMABUF_RUN_ID:-}" >"$out/accel.run"
fi

# What no file in the guest shows (per-VMA locks, SLUB) is checked in the
# kernel's .config, with the rest of the machine: a case of the results,
# fenced as init fences a program, at the head of the console log.
log=$out/$label-console.log
kconfig_bad=()
for opt in SMP PREEMPT_DYNAMIC PER_VMA_LOCK X86_PAT MEMCG NUMA SLUB \
	USERFAULTFD KSM LRU_GEN TRANSPARENT_HUGEPAGE_ALWAYS; do
	grep -qx "CONFIG_$opt=y" "$kbuild/.config" ||
		kconfig_bad+=("lacks CONFIG_$opt=y")
done
if grep -qx CONFIG_SLUB_TINY=y "$kbuild/.config"; then
	kconfig_bad+=("has CONFIG_SLUB_TINY=y")
fi
{
	echo "==== BEGIN kconfig"
	if [ ${#kconfig_bad[@]} -eq 0 ]; then
		echo "ok 1 kernel config: SMP PREEMPT_DYNAMIC PER_VMA_LOCK X86_PAT MEMCG NUMA SLUB (not SLUB_TINY) USERFAULTFD KSM LRU_GEN THP_ALWAYS"
		echo "==== END kconfig exit=0"
	else
		printf -v bad '%s, ' "${kconfig_bad[@]}"
		echo "not ok 1 kernel config: ${bad%, }"
		echo "==== END kconfig exit=1"
	fi
} | tee "$log" | sed -n "s/^\(not \)\{0,1\}ok 1 /vm: $label: /p"

# bootcheck runs first: is this that machine (CPUs, nodes, preemption
# model, PAT, memcg, KSM, LRU_GEN, userfaultfd, THP)?
progs="bootcheck:-c:$vm_cpus:-n:$vm_nodes,$progs"
echo "vm: booting $label under $mode: $progs"
start=$(date +%s)
rm -f "$programs_log"
timeout "$timeout_s" "${qemu[@]}" "${accel[@]}" \
	-append "$cmdline udmabuf_vm=$progs $extra" </dev/null \
	>"$out/$label-kernel.log" 2>&1 || true
# The console log: the programs' output, then the kernel's.
{
	if [ -s "$programs_log" ]; then
		cat "$programs_log"
		# A line a killed QEMU cut short ends here.
		[ -z "$(tail -c 1 "$programs_log")" ] || echo
	fi
	echo "==== KERNEL CONSOLE"
	cat "$out/$label-kernel.log"
} >>"$log"
rm -f "$programs_log" "$out/$label-kernel.log"
echo "vm: $label finished in $(( $(date +%s) - start )) s under $mode; console: $log"
exec "$vm/parse-console.py" "$log" "$out/$label.json" "$label"
