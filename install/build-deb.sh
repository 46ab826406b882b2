#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the Debian package (make deb): installs the packaging tools that are missing
# (apt, only those), builds a binary package in a copy of the tree (so 'debian/rules clean'
# never touches the developer's build/), moves the .deb to build/ and runs lintian, which
# must report no error.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build"

TOOLS="debhelper dpkg-dev fakeroot lintian build-essential libcurl4-openssl-dev
libjsmn-dev libinotifytools0-dev libyaml-dev libssl-dev"

# shellcheck disable=SC2086 # a list of package names
"$top/install/deps.sh" $TOOLS

work=$(mktemp -d "${TMPDIR:-/tmp}/pve-ontap-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
src="$work/pve-ontap"
mkdir -p "$src"

# The sources as checked out (tracked and new files, not ignored ones, no build output).
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# files deleted but not yet committed are listed too: tar skips them
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
else
	(cd "$top" && tar --exclude=./build --exclude=./build-clang --exclude=./build-san \
		--exclude=./build-fuzz --exclude=./pve-ontap --exclude=./.git -cf - .) |
		tar -xf - -C "$src"
fi
rm -rf "$src/build" "$src/build-clang" "$src/build-san" "$src/build-fuzz" "$src/pve-ontap"

echo "build-deb: dpkg-buildpackage in $src" >&2
(cd "$src" && dpkg-buildpackage -us -uc -b)

mkdir -p "$out"
rm -f "$out"/pve-ontap_*.deb "$out"/pve-ontap-dbgsym_*.deb
for f in "$work"/*.deb; do
	mv "$f" "$out/"
done

# errors fail the build, warnings are shown
echo "build-deb: lintian" >&2
lintian --fail-on error --tag-display-limit 0 "$out"/pve-ontap_*.deb
ls -l "$out"/pve-ontap*.deb
echo "build-deb: built $(basename "$(ls "$out"/pve-ontap_*.deb)")" >&2
