#!/usr/bin/env bash
# Make an x86_64 .config from tinyconfig plus our fragment, unless the build
# folder already has one made from the same fragment.
# Usage: config.sh TREE BUILD_DIR FRAGMENT [--stock]
#   --stock  the untouched tree has no KUnit option for udmabuf: allow that.
set -euo pipefail

tree=$(realpath "$1") out=$(realpath -m "$2") fragment=$(realpath "$3") mode=${4:-ours}
stamp=$out/.udmabuf-fragment

mkdir -p "$out"
if [ -f "$out/.config" ] && cmp -s "$stamp" "$fragment"; then
	exit 0
fi

echo "config: tinyconfig + $(basename "$fragment") in $out"
make -s -C "$tree" O="$out" ARCH=x86_64 tinyconfig >/dev/null
"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"$fragment" >/dev/null
make -s -C "$tree" O="$out" ARCH=x86_64 olddefconfig >/dev/null

# Every option we asked for must have survived olddefconfig: its last
# line in the fragment wins (a fragment laid over another turns options
# off with "# CONFIG_X is not set"), and an option turned off must not be
# set to anything.
declare -A want=()
order=()
while read -r line; do
	case "$line" in
	CONFIG_*=*) opt=${line%%=*} ;;
	"# CONFIG_"*" is not set") opt=${line#\# } opt=${opt%% *} ;;
	*) continue ;;
	esac
	[ -n "${want[$opt]+set}" ] || order+=("$opt")
	want[$opt]=$line
done <"$fragment"
missing=0
for opt in "${order[@]}"; do
	line=${want[$opt]}
	[ "$mode" = --stock ] && [ "$opt" = CONFIG_UDMABUF_KUNIT_TEST ] && continue
	case "$line" in
	'#'*) ! grep -q "^$opt=" "$out/.config" ;;
	*) grep -qxF "$line" "$out/.config" ;;
	esac || {
		echo "config: $line did not stick" >&2
		missing=1
	}
done
[ $missing -eq 0 ] || exit 1
cp "$fragment" "$stamp"
