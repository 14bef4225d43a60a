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

# Every option we asked for must have survived olddefconfig.
missing=0
while read -r line; do
	case "$line" in CONFIG_*) ;; *) continue ;; esac
	[ "$mode" = --stock ] && [ "$line" = CONFIG_UDMABUF_KUNIT_TEST=y ] && continue
	if ! grep -qxF "$line" "$out/.config"; then
		echo "config: $line did not stick" >&2
		missing=1
	fi
done <"$fragment"
[ $missing -eq 0 ] || exit 1
cp "$fragment" "$stamp"
