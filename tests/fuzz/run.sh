#!/bin/sh
# Builds the libFuzzer drivers (ASan + UBSan) into build/fuzz/ and runs each for FUZZ_SECONDS
# on a copy of its seed corpus. Exits non-zero when any driver crashes, naming the input.
#   tests/fuzz/run.sh [DRIVER...]      default: every tests/fuzz/fuzz_*.c
#   FUZZ_SECONDS=20 FUZZ_CC=clang
set -u
cd "$(dirname "$0")/../.." || exit 2

secs=${FUZZ_SECONDS:-20}
cc=${FUZZ_CC:-clang}
out=build/fuzz
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS
pure="server/http_parse.c server/http_response.c server/uri.c server/range.c server/httpdate.c server/mime.c
	server/jsonesc.c"
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-D_GNU_SOURCE -std=c11 -Wall -Wextra -Iserver"

# Longest input per driver: a whole head buffer for the parser, a request line for the rest.
max_len() {
	case $1 in
	fuzz_http_parse) echo 17000 ;;
	fuzz_uri) echo 9000 ;;
	*) echo 512 ;;
	esac
}

# Whether $cc can link a libFuzzer binary (Debian: clang and libclang-rt-14-dev).
can_fuzz() {
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' >"$out/probe.c"
	# shellcheck disable=SC2086
	"$cc" $flags -o "$out/probe" "$out/probe.c" >/dev/null 2>&1
}

mkdir -p "$out" || exit 2
if ! can_fuzz; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		echo "fuzz: installing clang and libclang-rt-14-dev"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			clang libclang-rt-14-dev; } >/dev/null || exit 2
	fi
	can_fuzz || {
		echo "fuzz: $cc cannot build libFuzzer binaries; run: sudo apt-get install clang libclang-rt-14-dev" >&2
		exit 2
	}
fi

# shellcheck disable=SC2046
[ $# -gt 0 ] || set -- $(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
status=0
for d in "$@"; do
	bin=$out/$d
	corpus=$out/corpus-$d
	crashes=$out/crashes-$d
	log=$out/$d.log
	# shellcheck disable=SC2086
	"$cc" $flags -o "$bin" "tests/fuzz/$d.c" $pure || { status=1; continue; }
	rm -rf "$crashes"
	mkdir -p "$corpus" "$crashes" || exit 2
	cp tests/fuzz/corpus/"$d"/* "$corpus"/ 2>/dev/null
	echo "fuzz: $d for ${secs}s"
	"$bin" -max_total_time="$secs" -max_len="$(max_len "$d")" -timeout=10 \
		-artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" >"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log"
	found=$(ls -A "$crashes")
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		status=1
		grep -E 'ERROR: |invariant failed|runtime error' "$log" | head -n 5
		for f in "$crashes"/*; do
			[ -e "$f" ] && echo "fuzz: $d crashed on $f (replay: $bin $f; full log: $log)"
		done
		[ -n "$found" ] || echo "fuzz: $d exited $rc without an artifact; see $log"
	fi
done
exit $status
