#!/usr/bin/env bash
# Install what the build and tests need from Debian, and the pinned kernel
# tree package. Usage: install-deps.sh PKG VERSION [extra packages...]
set -euo pipefail

pkg=$1 version=$2
shift 2
wanted=(build-essential flex bison bc libelf-dev libssl-dev python3 perl
	xz-utils patch sparse git python3-ply python3-git "$@")

missing=()
for p in "${wanted[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
[ "$have" = "$version" ] || missing+=("$pkg=$version")

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root or install them" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
if ! apt-cache madison "$pkg" | awk '{print $3}' | grep -qxF "$version"; then
	echo "install-deps: $pkg $version is no longer served; versions on offer:" >&2
	apt-cache madison "$pkg" | awk '{print "  " $3}' >&2
	echo "install-deps: change KERNEL_PKG_VERSION in tools/build/kernel-version.mk" >&2
	exit 1
fi
apt-get install -y -qq --no-install-recommends --allow-downgrades \
	"${missing[@]}" >/dev/null
