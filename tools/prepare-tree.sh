#!/usr/bin/env bash
# Unpack the pinned kernel tree (once per version) and lay our driver over it.
# Usage: prepare-tree.sh TREE_DIR VERSION [--stock]
#   --stock  leave the tree untouched: the 6.12 driver, for comparison.
# With KDIR set, TREE_DIR is the user's own tree: it is not unpacked.
set -euo pipefail

tree=$1 version=$2 mode=${3:-ours}
repo=$(cd "$(dirname "$0")/.." && pwd)
tarball=/usr/src/linux-source-6.12.tar.xz
stamp=$tree/.udmabuf-tree-version

if [ -z "${KDIR:-}" ]; then
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$version" ]; then
		echo "prepare-tree: unpacking $tarball ($version) into $tree"
		rm -rf "$tree"
		mkdir -p "$tree"
		tar -C "$tree" --strip-components=1 -xJf "$tarball"
		echo "$version" >"$stamp"
	fi
fi

[ "$mode" = --stock ] && exit 0

# Our files: copied only when they differ, so make sees no needless change.
for f in "$repo"/drivers/dma-buf/*.[ch] "$repo"/drivers/dma-buf/.kunitconfig; do
	install -C -m 0644 "$f" "$tree/drivers/dma-buf/$(basename "$f")"
done
# The module is built from udmabuf-main.c and udmabuf-slices.c (see the
# kbuild patch): the tree's udmabuf.c goes, as the patch series removes it.
rm -f "$tree/drivers/dma-buf/udmabuf.c"

# Our kbuild entries, applied once. A copy of the applied patch is kept in
# the tree, so that a changed patch replaces the old one instead of failing.
patch=$repo/tools/kbuild/udmabuf-kbuild.patch
applied=$tree/.udmabuf-kbuild.patch
if [ -f "$applied" ] && ! cmp -s "$applied" "$patch"; then
	patch -d "$tree" -p1 -R -s <"$applied"
	rm -f "$applied"
fi
if [ ! -f "$applied" ]; then
	patch -d "$tree" -p1 -N -s <"$patch"
	cp "$patch" "$applied"
fi
