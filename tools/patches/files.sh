# SPDX-License-Identifier: GPL-2.0
# Sourced by prepare-tree.sh, make-series.sh and check-series.sh: the one
# reader of a commit folder's "files" list.
#
# series_files COMMIT_DIR FN: calls "FN add PATH" for each repository file
# the commit adds and "FN delete PATH" for each file it deletes.
series_files() {
	local line
	while read -r line; do
		case "$line" in
		'' | '#'*) ;;
		'delete '*) "$2" delete "${line#delete }" ;;
		*) "$2" add "$line" ;;
		esac
	done <"$1/files"
}
