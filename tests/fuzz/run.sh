#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the libFuzzer targets tests/fuzz/fuzz_<target>.c with clang (fuzzer, ASan, UBSan)
# into build-fuzz/ and run each for a bounded time, starting from its seed corpus
# tests/fuzz/corpus/<target>/ (new inputs go to build-fuzz/corpus/<target>/, the seeds stay
# as committed). Fails when any target crashes, leaks, times out on an input or runs out
# of memory; the input is kept as build-fuzz/crash/<target>-<kind>-<sha1>.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s, every target)
#
# To replay one input: build-fuzz/fuzz_<target> <file>.
set -eu

cd "$(dirname "$0")/../.."

seconds=${1:-30}
[ $# -gt 0 ] && shift
case "$seconds" in
'' | *[!0-9]*)
	echo "run.sh: seconds must be a number, got '$seconds'" >&2
	exit 2
	;;
esac

out=build-fuzz
clang=${CLANG:-clang}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
mkdir -p "$out/crash" "$out/corpus"

# clang's libFuzzer runtime is a separate Debian package (libclang-rt-<major>-dev).
probe_fuzzer() {
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$out/probe.c"
	"$clang" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" >/dev/null 2>&1
}
if ! probe_fuzzer; then
	major=$("$clang" -dumpversion | cut -d. -f1)
	pkg="libclang-rt-$major-dev"
	echo "run.sh: clang cannot link libFuzzer; installing $pkg" >&2
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "run.sh: not root and no sudo: apt-get install $pkg" >&2
			exit 1
		fi
		sudo=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "$pkg"
	if ! probe_fuzzer; then
		echo "run.sh: clang -fsanitize=fuzzer still fails after installing $pkg" >&2
		exit 1
	fi
fi

# Every object but cli/main.o, through the Makefile's own rules (same flags, -Werror).
make -s BUILDDIR="$out" CC="$clang" \
	CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $san" "$out/libpveontap.a"

if [ $# -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		t=${f#tests/fuzz/fuzz_}
		set -- "$@" "${t%.c}"
	done
fi

for t in "$@"; do
	echo "fuzz: building $t"
	# shellcheck disable=SC2086 # $san is a list of flags
	"$clang" -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer $san \
		-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror \
		-Itests/fuzz -Ilib -Ipolicies -Ihooks -Iwatcher -Icli \
		-o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" "$out/libpveontap.a" -lyaml -linotifytools
done

# Run target $1 for $seconds; returns non-zero on a finding.
run_target() {
	t=$1
	seeds=tests/fuzz/corpus/$t
	work=$out/corpus/$t
	log=$out/$t.log
	mkdir -p "$work"
	set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/crash/$t-"
	if [ -f "tests/fuzz/$t.dict" ]; then
		set -- "$@" -dict="tests/fuzz/$t.dict"
	fi
	set -- "$@" "$work"
	if [ -d "$seeds" ]; then
		set -- "$@" "$seeds"
	fi
	echo "fuzz: running $t for ${seconds}s (log $log)"
	# stdin from /dev/null: a mutated path such as /dev/stdin must not block a target.
	if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$out/fuzz_$t" "$@" </dev/null >"$log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" |
			sed "s/^/fuzz: $t: /"
		return 0
	fi
	echo "fuzz: $t FAILED:" >&2
	if ! grep -q -E '^==[0-9]+==ERROR|runtime error|Test unit written' "$log"; then
		tail -5 "$log" >&2
		return 1
	fi
	grep -E -A30 '^==[0-9]+==ERROR|runtime error|^SUMMARY|Test unit written' "$log" |
		head -60 >&2
	return 1
}

failed=""
for t in "$@"; do
	run_target "$t" || failed="$failed $t"
done

if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed (inputs in $out/crash/)" >&2
	exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a finding"
