#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every test tier and print one closing line "N passed, N failed[, N skipped]".
#   tests/run-all.sh [--unit-only|--integration-only] BUILDDIR
# Unit tests are the cmocka programs in BUILDDIR/tests (TAP output); integration tests are
# pytest (tests/sim, tests/fakes, tests/integration) against BUILDDIR/pve-ontap.
# PVE_ONTAP_VALGRIND=1 runs the unit programs under valgrind (the integration fixtures read
# the same variable and wrap the binary).
set -u

mode=all
case "${1:-}" in
--unit-only) mode=unit; shift ;;
--integration-only) mode=integration; shift ;;
esac
builddir=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
case "$builddir" in
/*) bin="$builddir/pve-ontap" ;;
*) bin="$top/$builddir/pve-ontap" ;;
esac

passed=0
failed=0
skipped=0
failed_names=""

if [ "$mode" != integration ]; then
	for t in "$builddir"/tests/test_*; do
		[ -x "$t" ] || continue
		out=$(mktemp)
		if [ "${PVE_ONTAP_VALGRIND:-0}" = 1 ]; then
			CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --leak-check=full \
				--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
				"$t" >"$out" 2>&1
		else
			CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
		fi
		rc=$?
		p=$(grep -c '^ok ' "$out")
		f=$(grep -c '^not ok ' "$out")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			# crashed, or valgrind found errors: count the program as one failure
			f=1
		fi
		if [ "$f" -ne 0 ]; then
			cat "$out"
			failed_names="$failed_names $(basename "$t")"
		fi
		echo "unit: $(basename "$t"): $p passed, $f failed"
		passed=$((passed + p))
		failed=$((failed + f))
		rm -f "$out"
	done
fi

if [ "$mode" != unit ]; then
	xml=$(mktemp)
	# The integration tests mostly wait on simulators and child processes: four workers
	# (python3-pytest-xdist, install/deps.sh) keep two cores busy. PVE_ONTAP_TEST_JOBS=1
	# runs them one after the other.
	jobs=${PVE_ONTAP_TEST_JOBS:-4}
	xdist=""
	if [ "$jobs" -gt 1 ] && /usr/bin/python3 -c "import xdist" 2>/dev/null; then
		xdist="-n $jobs"
	fi
	# shellcheck disable=SC2086
	PVE_ONTAP_BIN="$bin" PVE_ONTAP_BUILDDIR="$builddir" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		$xdist --junitxml="$xml" tests/layers tests/sim tests/fakes tests/integration
	rc=$?
	counts=$(/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0"); sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0)); s += int(su.get("skipped", 0))
    f += int(su.get("failures", 0)) + int(su.get("errors", 0))
print(t - f - s, f, s)
PY
)
	rm -f "$xml"
	# shellcheck disable=SC2086 # three numbers, split on purpose
	set -- $counts
	passed=$((passed + $1))
	failed=$((failed + $2))
	skipped=$((skipped + $3))
	# pytest exit 5 = no tests collected; anything else non-zero without a counted
	# failure (internal error, collection error) must still fail the run
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$2" -eq 0 ]; then
		failed=$((failed + 1))
		failed_names="$failed_names pytest(rc=$rc)"
	fi
fi

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
