#!/usr/bin/env bash
# make client: boot our VM with Debian's qemu-system-x86_64 in its
# initramfs and run tools/client/client.c there, which starts QEMU as the
# host of a small inner guest (virtio-gpu-pci,blob=true, memfd guest RAM) and
# checks QMP's screendump against the pattern the inner guest drew.
# Usage: client.sh TREE KBUILD INNER_KBUILD OUT LABEL
#   KBUILD        the outer (VM) kernel's build folder
#   INNER_KBUILD  the inner guest's kernel (x86_64-client-guest.config)
# Leaves the screendumps as OUT/LABEL-frame{0,1}.png; exits non-zero on a
# failure.
set -euo pipefail

tree=$1 kbuild=$2 inner=$(realpath "$3") out=$(realpath -m "$4") label=$5
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
qemu=/usr/bin/qemu-system-x86_64
modules=/usr/lib/x86_64-linux-gnu/qemu
extra=$out/$label-extra.list
screen=$out/$label-screendumps.ppm
rm -f "$screen" "$out/$label"-frame*.p?m "$out/$label"-frame*.png

# The inner guest's initramfs: its init alone, with the tree's DRM UAPI.
mkdir -p "$out/bin"
if [ ! -f "$out/headers/include/drm/drm_mode.h" ]; then
	make -s -C "$tree" O="$out/hdr-build" ARCH=x86_64 \
		INSTALL_HDR_PATH="$out/headers" headers_install >/dev/null
fi
gcc -static -O2 -Wall -Wextra -I"$out/headers/include" \
	-I"$repo/tools/client" -o "$out/bin/client-guest-init" \
	"$repo/tools/client/client-guest-init.c"
printf '%s\n' "dir /dev 0755 0 0" "nod /dev/console 0600 0 0 c 5 1" \
	"dir /proc 0755 0 0" "dir /sys 0755 0 0" \
	"file /init $out/bin/client-guest-init 0755 0 0" >"$out/client-guest.list"
"$inner/usr/gen_init_cpio" "$out/client-guest.list" | gzip -1 \
	>"$out/client-guest.cpio.gz"

# QEMU as Debian installs it: the binary, the modules it loads for TCG and
# virtio-gpu, the libraries ldd names (at the same paths) and its firmware.
files=("$qemu" "$modules/accel-tcg-x86_64.so"
	"$modules/hw-display-virtio-gpu.so" "$modules/hw-display-virtio-gpu-pci.so"
	/usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin
	/usr/share/qemu/kvmvapic.bin)
mapfile -t libs < <(ldd "${files[@]:0:4}" 2>/dev/null |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }
	     $1 ~ /^\// && $2 ~ /^\(0x/ { print $1 }' | sort -u)
files+=("${libs[@]}")
{
	for f in "${files[@]}" /client/x; do
		d=$(dirname "$f")
		while [ "$d" != / ]; do echo "$d"; d=$(dirname "$d"); done
	done | sort -u | while read -r d; do echo "dir $d 0755 0 0"; done
	for f in "${files[@]}"; do
		echo "file $f $(realpath "$f") 0755 0 0"
	done
	echo "file /client/bzImage $inner/arch/x86/boot/bzImage 0644 0 0"
	echo "file /client/initramfs.cpio.gz $out/client-guest.cpio.gz 0644 0 0"
	echo "file /client/udmabuf-shim.so $out/bin/udmabuf-shim.so 0755 0 0"
} >"$extra"

status=0
VM_EXTRA_LIST=$extra VM_QEMU_ARGS="-serial file:$screen" \
	"$repo/tools/vm/run-vm.sh" "$tree" "$kbuild" "$out" "$label" client ||
	status=$?
log=$out/$label-console.log
# Both frames' PPMs came out one after the other: split them, keep PNGs.
if [ -s "$screen" ] &&
   pnmsplit "$screen" "$out/$label-frame%d.ppm" 2>/dev/null; then
	for f in "$out/$label"-frame*.ppm; do
		pnmtopng "$f" >"${f%.ppm}.png" 2>/dev/null &&
			echo "client: screendump ${f%.ppm}.png"
	done
fi
grep -E '^client: (qemu|run took)' "$log" || true
exit $status
