#!/bin/sh
# Runs every libFuzzer target of a -Dfuzz=true build for SECONDS each,
# starting from its seed corpus (copied, so the repository is not changed).
set -eu
BUILD=$1
SECONDS_EACH=${2:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
status=0
for fuzzer in "$BUILD"/tests/fuzz/fuzz_*; do
	[ -f "$fuzzer" ] && [ -x "$fuzzer" ] || continue
	name=${fuzzer##*/fuzz_}
	corpus=$(mktemp -d)
	cp -r "$ROOT/tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
	echo "fuzz: $name for $SECONDS_EACH s"
	if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -print_final_stats=0 \
		-artifact_prefix="$BUILD/fuzz-$name-" "$corpus" >"$BUILD/fuzz-$name.log" 2>&1; then
		echo "fuzz: $name FAILED; see $BUILD/fuzz-$name.log"
		tail -30 "$BUILD/fuzz-$name.log"
		status=1
	else
		grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$BUILD/fuzz-$name.log" | tail -1 || true
	fi
	rm -rf "$corpus"
done
exit $status
