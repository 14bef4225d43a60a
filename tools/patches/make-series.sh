#!/usr/bin/env bash
# Make our driver a git format-patch series against the pinned 6.12 tree.
# Usage: make-series.sh WORK_DIR OUT_DIR VERSION
#   WORK_DIR  a throw-away git repository of the pristine tree (made once)
#   OUT_DIR   where the series goes (cleared first)
#   VERSION   the pinned package version, named in the base commit
# PATCH_AUTHOR="Name <mail>" signs the commits (default: a placeholder).
#
# Each folder NN-name/ here is one commit: "message" (subject, blank line,
# body), "files" (repository files the commit adds, "delete PATH" for
# files it removes) and "tree.patch" (its edits of the tree's own files).
# The series is generated from these and from the repository's files,
# never edited by hand; prepare-tree.sh lays the same over our build tree.
set -euo pipefail

work=$(realpath -m "$1") out=$(realpath -m "$2") version=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)
series=$repo/tools/patches
tarball=/usr/src/linux-source-6.12.tar.xz
author=${PATCH_AUTHOR:-Udmabuf Developer <udmabuf-dev@example.org>}
name=${author% <*} mail=${author##*<} mail=${mail%>}

git_() { git -C "$work" "$@"; }
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$mail
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$mail
# Fixed dates: the same repository commit gives the same series.
date=$(git -C "$repo" log -1 --format=%cI 2>/dev/null || echo 2026-01-01T00:00:00Z)
export GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date

# The pristine tree, imported once per version.
stamp=$work/.git/udmabuf-base-version
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$version" ]; then
	echo "patches: importing $tarball ($version) into $work"
	rm -rf "$work"
	mkdir -p "$work"
	tar -C "$work" --strip-components=1 -xJf "$tarball"
	git_ init -q
	git_ config core.autocrlf false
	git_ add -A -f .
	GIT_AUTHOR_NAME="Debian" GIT_AUTHOR_EMAIL="debian-kernel@lists.debian.org" \
	GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z \
		git_ commit -q -m "Linux $(make -s -C "$work" kernelversion) (Debian linux-source-6.12 $version)"
	git_ tag -f base >/dev/null
	echo "$version" >"$stamp"
fi

# One commit per folder, on a branch that starts at the base each time.
git_ checkout -q -f -B series base
git_ clean -q -f -d -x
. "$series/files.sh"
commit_file() { # add|delete path
	if [ "$1" = delete ]; then
		git_ rm -q "$2"
	else
		install -D -m 0644 "$repo/$2" "$work/$2"
	fi
}
for commit in "$series"/[0-9]*-*/; do
	series_files "$commit" commit_file
	git_ apply --whitespace=error-all "$commit/tree.patch"
	git_ add -A -f .
	{ cat "$commit/message"; printf '\nSigned-off-by: %s\n' "$author"; } |
		git_ commit -q -F -
done

rm -rf "$out"
mkdir -p "$out"
git_ format-patch -q --cover-letter -o "$out" base..series

# The cover letter: our text in place of git's placeholders, then the
# people and lists the series goes to.
cover=$out/0000-cover-letter.patch
subject=$(head -1 "$series/cover-letter")
python3 - "$cover" "$subject" "$series/cover-letter" <<'EOF'
import sys
path, subject, text = sys.argv[1], sys.argv[2], sys.argv[3]
body = open(text).read().split('\n', 2)[2].rstrip('\n')
s = open(path).read()
s = s.replace('*** SUBJECT HERE ***', subject, 1)
s = s.replace('*** BLURB HERE ***', body, 1)
open(path, 'w').write(s)
EOF
{
	echo
	echo "scripts/get_maintainer.pl for the series:"
	echo
	(cd "$work" && ./scripts/get_maintainer.pl --no-git --no-git-fallback \
		--no-rolestats "$out"/000[1-9]-*.patch)
} >"$out/get_maintainer.txt"
python3 - "$cover" "$out/get_maintainer.txt" <<'EOF'
import sys
path, extra = sys.argv[1], sys.argv[2]
s = open(path).read()
# After the shortlog and diffstat, before git's "-- " signature.
head, sep, sig = s.rpartition('\n-- \n')
s = head + '\n' + open(extra).read().rstrip('\n') + '\n' + sep + sig
open(path, 'w').write(s)
EOF
rm "$out/get_maintainer.txt"

echo "patches: $(ls "$out"/*.patch | wc -l) files in $out"
git_ log --reverse --format='  %s' base..series
