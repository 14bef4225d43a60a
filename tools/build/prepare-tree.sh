#!/usr/bin/env bash
# Unpack the pinned kernel tree (once per version) and lay our driver over it.
# Usage: prepare-tree.sh TREE_DIR VERSION [--stock]
#   --stock  leave the tree untouched: the 6.12 driver, for comparison.
# With KDIR set, TREE_DIR is the user's own tree: it is not unpacked.
set -euo pipefail

tree=$1 version=$2 mode=${3:-ours}
repo=$(cd "$(dirname "$0")/../.." && pwd)
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

# The tree is made what our patch series makes it (tools/patches/, one
# folder per commit): each commit's files copied or deleted, and its edits of
# the tree's own files (tree.patch) applied in order.
series=$repo/tools/patches
commits=("$series"/[0-9]*-*/)

# Files: copied only when they differ, so make sees no needless change.
. "$series/files.sh"
lay_file() { # add|delete path
	if [ "$1" = delete ]; then
		rm -f "$tree/$2"
	else
		install -C -D -m 0644 "$repo/$2" "$tree/$2"
	fi
}
for commit in "${commits[@]}"; do
	series_files "$commit" lay_file
done

# Edits: applied once. Copies of the applied patches are kept in the tree,
# so that changed patches replace the old ones (reverted last to first)
# instead of failing.
applied=$tree/.udmabuf-series
current=$(cat "${commits[@]/%/tree.patch}")
if [ -d "$applied" ] && [ "$(cat "$applied"/*.patch)" != "$current" ]; then
	for old in $(ls -r "$applied"/*.patch); do
		patch -d "$tree" -p1 -R -s <"$old"
	done
	rm -rf "$applied"
fi
if [ ! -d "$applied" ]; then
	mkdir -p "$applied.new"
	for commit in "${commits[@]}"; do
		name=$(basename "$commit")
		patch -d "$tree" -p1 -N -s <"$commit/tree.patch"
		cp "$commit/tree.patch" "$applied.new/$name.patch"
	done
	mv "$applied.new" "$applied"
fi
