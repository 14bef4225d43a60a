#!/usr/bin/env bash
# make distro: our driver in a kernel of Debian's own 6.12 configuration.
# Takes /boot/config-* of the linux-image-6.12.*-amd64-unsigned package of
# the Debian release this machine runs (downloaded, never installed), turns
# every module off (make mod2noconfig: each =m becomes "is not set", every
# built-in option stays), sets on top only what the VM needs and what cannot
# build without Debian's keys, builds bzImage niced, boots it with
# run-vm.sh (selftests, udmabuf-mapping, a short stress; make client's path
# when its guest kernel is built) and prints the total.
# Usage: distro.sh TREE KBUILD OUT PINNED_VERSION [CLIENT_GUEST_KBUILD]
#   TREE            our overlaid tree (make tree)
#   KBUILD          the build folder (O=); the Debian config is cached in
#                   KBUILD/debian/
#   OUT             run-vm.sh's folder: logs, results, distro.exit
#   PINNED_VERSION  the tree's Debian version: the package of the same
#                   version is taken when the archive has it
# Environment: JOBS (make -j, default 2).
set -euo pipefail

tree=$(realpath "$1") kbuild=$(realpath -m "$2") out=$(realpath -m "$3")
pinned=$4 inner=${5:-}
repo=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${JOBS:-2}
start=$(date +%s)
cache=$kbuild/debian
mkdir -p "$cache" "$out"
rm -f "$out/distro.exit" "$out/distro.json"

# Fail as a stage fails: an exit code and no JSON, summed by kunit-total.py.
fail() {
	echo "distro: $*" >&2
	echo 1 >"$out/distro.exit"
	"$repo/tools/results/kunit-total.py" "distro=$out/distro.json:1" || true
	exit 1
}

# --- a. Debian's config ---------------------------------------------------
# The packages of this release: linux-image-6.12.N+debR-amd64-unsigned.
# shellcheck source=/dev/null
. /etc/os-release
release=${VERSION_ID%%.*}
regex="^linux-image-6\.12\.[0-9]+\+deb${release}-amd64-unsigned\$"
pkg='' ver='' why='' newest='' newest_ver=''
while read -r p; do
	v=$(apt-cache show --no-all-versions "$p" 2>/dev/null |
		sed -n 's/^Version: //p')
	[ -n "$v" ] || continue
	if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest_ver"; then
		newest=$p newest_ver=$v
	fi
	if [ "$v" = "$pinned" ]; then
		pkg=$p ver=$v why="the pinned tree's version"
	elif [ "$why" != "the pinned tree's version" ] &&
	     dpkg --compare-versions "$v" lt "$pinned" &&
	     { [ -z "$pkg" ] || dpkg --compare-versions "$v" gt "$ver"; }; then
		# Else the newest older than the tree.
		pkg=$p ver=$v why="the newest older than the pinned $pinned"
	fi
done < <(apt-cache search --names-only "$regex" | cut -d' ' -f1)
if [ -z "$pkg" ] && [ -n "$newest" ]; then
	pkg=$newest ver=$newest_ver why="the only ones on offer are newer than $pinned"
fi
[ -n "$pkg" ] || fail "no package matches $regex (apt-get update?)"
echo "distro: Debian config of $pkg $ver ($why; newest on offer: $newest $newest_ver)"

debcfg=$cache/config-$ver
if [ ! -s "$debcfg" ]; then
	dl=$(mktemp -d "$cache/download.XXXXXX")
	# apt's downloader runs as _apt: let it write there.
	chown _apt "$dl" 2>/dev/null || true
	(cd "$dl" && apt-get download -q=2 "$pkg=$ver") ||
		fail "apt-get download $pkg=$ver failed"
	dpkg-deb --fsys-tarfile "$dl"/*.deb |
		tar -xO --wildcards './boot/config-*' >"$debcfg.new"
	rm -rf "$dl"
	grep -q '^CONFIG_X86_64=y$' "$debcfg.new" ||
		fail "no x86_64 /boot/config-* in $pkg $ver"
	mv "$debcfg.new" "$debcfg"
	echo "distro: cached /boot/config-* of $pkg as $debcfg"
else
	echo "distro: cached $debcfg"
fi

# --- b. The configuration -------------------------------------------------
# On top of Debian's, modules off: only what the VM needs (serial console,
# initramfs, devtmpfs, our driver, hugetlbfs, vgem as the selftests'
# importer; Debian has all but vgem built in already), and what cannot build
# without Debian's keys or only costs build time: key files of our own (the
# kernel's default, a throw-away module signing key made by the build:
# Debian's SECURITY_LOCKDOWN_LSM selects MODULE_SIG, so it stays), no debug
# info (and so no BTF).
wanted=(
	CONFIG_SERIAL_8250=y
	CONFIG_SERIAL_8250_CONSOLE=y
	CONFIG_BLK_DEV_INITRD=y
	CONFIG_RD_GZIP=y
	CONFIG_DEVTMPFS=y
	CONFIG_UDMABUF=y
	CONFIG_HUGETLBFS=y
	CONFIG_DRM=y
	CONFIG_DRM_VGEM=y
	'CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"'
	'CONFIG_SYSTEM_TRUSTED_KEYS=""'
	'CONFIG_SYSTEM_REVOCATION_KEYS=""'
	CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=n
	CONFIG_DEBUG_INFO_DWARF4=n
	CONFIG_DEBUG_INFO_DWARF5=n
	CONFIG_DEBUG_INFO_NONE=y
)
kmake() { nice -n 19 make -s -C "$tree" O="$kbuild" ARCH=x86_64 "$@"; }
# The value of an option in a .config: y, m, a string or number, n if
# "is not set", absent if the file does not name it.
value() {
	sed -n -e "s/^$1=//p" -e "s/^# $1 is not set\$/n/p" "$2" | grep . ||
		echo absent
}

config=$kbuild/.config
[ -f "$config" ] && cp -p "$config" "$kbuild/.config.distro-prev"
cp "$debcfg" "$config"
args=()
for w in "${wanted[@]}"; do
	name=${w%%=*} val=${w#*=}
	case $val in
	y) args+=(--enable "${name#CONFIG_}") ;;
	n) args+=(--disable "${name#CONFIG_}") ;;
	*) args+=(--set-str "${name#CONFIG_}" "$(eval echo "$val")") ;;
	esac
done
# Ours first, so that a module made built-in (DRM) keeps Debian's choices
# under it; then every =m off and the rest resolved.
"$tree/scripts/config" --file "$config" "${args[@]}"
kmake olddefconfig >/dev/null
cp "$config" "$kbuild/.config.distro-ours"
kmake mod2noconfig >/dev/null
kmake olddefconfig >/dev/null
# An unchanged configuration keeps its time stamp: nothing to rebuild.
if [ -f "$kbuild/.config.distro-prev" ]; then
	if cmp -s "$config" "$kbuild/.config.distro-prev"; then
		mv "$kbuild/.config.distro-prev" "$config"
	else
		rm "$kbuild/.config.distro-prev"
	fi
fi

# Each wanted value must have stuck (a string option whose menu is off,
# such as the revocation keys without SYSTEM_REVOCATION_LIST, reads n).
bad=0
for w in "${wanted[@]}"; do
	name=${w%%=*} val=${w#*=}
	got=$(value "$name" "$config")
	[ "$got" = absent ] && got=n
	if [ "$got" != "$val" ] && ! { [ "$val" = '""' ] && [ "$got" = n ]; }; then
		echo "distro: $name is $got, wanted $val" >&2
		bad=1
	fi
done
[ $bad -eq 0 ] || fail "the configuration did not take"

# What changed from Debian's config, in two steps: ours (each option we
# set, and what olddefconfig changed with them), then the modules off.
ours=$kbuild/distro-ours.diff mods=$kbuild/distro-modules-off.diff
"$tree/scripts/diffconfig" "$debcfg" "$kbuild/.config.distro-ours" >"$ours"
"$tree/scripts/diffconfig" "$kbuild/.config.distro-ours" "$config" >"$mods"
rm "$kbuild/.config.distro-ours"
for w in "${wanted[@]}"; do
	name=${w%%=*}
	old=$(value "$name" "$debcfg") new=$(value "$name" "$config")
	if [ "$old" != "$new" ]; then
		echo "distro: set: ${name#CONFIG_} $old -> $new"
	fi
done
keep=$(printf '%s\n' "${wanted[@]}" | sed 's/=.*//; s/^CONFIG_//' |
	paste -sd'|')
grep -vE "^[ +-]($keep) " "$ours" | sed 's/^[ ]*/distro: and olddefconfig: /' ||
	true
count() { grep -cE "$1" "$mods" || true; }
echo "distro: modules off (make mod2noconfig): $(count '^ \w+ m -> n$')" \
	"options m -> n; gone with them: $(count '^-\w+ m$') =m options that" \
	"depend on them and $(count '^-\w+ [^m]') other options of theirs" \
	"($(count '^-\w+ y$') =y: their options and helpers only they select)"
grep -vE '^ \w+ m -> n$|^-\w+ ' "$mods" |
	sed 's/^[ ]*/distro: and olddefconfig: /' || true
echo "distro: every change: $ours, $mods"

# --- c. The build ---------------------------------------------------------
kind=cold
[ -f "$kbuild/vmlinux" ] && kind=incremental
echo "distro: building bzImage in $kbuild ($kind, nice -n 19 make -j$jobs;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg))"
build_start=$(date +%s)
rc=0
TIMEFORMAT='%U %S'
{ time nice -n 19 make -C "$tree" O="$kbuild" ARCH=x86_64 -j"$jobs" \
	bzImage >"$kbuild/build.log" 2>&1; } 2>"$kbuild/build.cpu" || rc=$?
build_s=$(($(date +%s) - build_start))
read -r user sys <"$kbuild/build.cpu" || true
if [ $rc -ne 0 ]; then
	tail -n 40 "$kbuild/build.log" >&2
	fail "build failed after $build_s s (exit $rc); log: $kbuild/build.log"
fi
echo "distro: built in $build_s s ($kind; CPU ${user%.*} s user +" \
	"${sys%.*} s system; load average $(cut -d' ' -f1-3 /proc/loadavg))"

# --- d. The runs ----------------------------------------------------------
progs=udmabuf,udmabuf-uapi
if [ -f "$repo/tools/testing/selftests/drivers/dma-buf/udmabuf-mapping.c" ]; then
	progs+=,udmabuf-mapping
fi
progs+=,stress:1:60:4
run_start=$(date +%s)
rc=0
"$repo/tools/vm/run-vm.sh" "$tree" "$kbuild" "$out" distro "$progs" || rc=$?
echo $rc >"$out/distro.exit"
grep -h '^bootcheck: ' "$out/distro-console.log" | sed 's/^/distro: /' || true
totals=("distro=$out/distro.json:$rc")
if [ -n "$inner" ] && [ -f "$inner/arch/x86/boot/bzImage" ]; then
	rc=0
	"$repo/tools/client/client.sh" "$tree" "$kbuild" "$inner" "$out" \
		distro-client || rc=$?
	echo $rc >"$out/distro-client.exit"
	totals+=("distro-client=$out/distro-client.json:$rc")
else
	echo "distro: client skipped: no client guest kernel" \
		"(${inner:-none given}/arch/x86/boot/bzImage; make client-guest-kernel)"
fi
run_s=$(($(date +%s) - run_start))

# --- e. The total ---------------------------------------------------------
status=0
"$repo/tools/results/kunit-total.py" "${totals[@]}" || status=$?
all_s=$(($(date +%s) - start))
if [ $all_s -le 1200 ]; then fits="fits in"; else fits="does not fit in"; fi
echo "distro: build $build_s s ($kind) + runs $run_s s; $all_s s in all:" \
	"$fits 20 minutes on this $(nproc)-CPU machine"
exit $status
