#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian packages needed to build and test pve-ontap, only those missing.
# Quick (one dpkg-query) when everything is present. debhelper builds the maintainer scripts
# tests/integration/test_maintscripts.py runs; systemd gives systemd-analyze (the unit's
# security score); groff and lintian check the manual page.
#   install/deps.sh            the build and test packages
#   install/deps.sh PKG...     those packages instead (install/build-deb.sh)
set -eu

PKGS="build-essential clang pkg-config libcurl4-openssl-dev libjsmn-dev libinotifytools0-dev
libyaml-dev libssl-dev libcmocka-dev python3 python3-pytest python3-pytest-xdist python3-yaml
openssl valgrind debhelper lintian groff systemd"
[ $# -gt 0 ] && PKGS="$*"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: missing packages and not root: apt-get install$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
