#!/bin/sh
# Runs the whole test suite of a sanitizer build, then the fuzzers of a
# clang -Dfuzz=true build, and prints one closing line "N passed, N failed".
set -u
CHECK=$1
FUZZ=$2
FUZZ_SECONDS=$3
shift 3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "$CHECK" --print-errorlogs "$@"
mstatus=$?
meson test -C "$FUZZ" --suite fuzz --print-errorlogs
fstatus=$?
sh "$ROOT/scripts/run-fuzzers.sh" "$FUZZ" "$FUZZ_SECONDS"
rstatus=$?
# One closing line across all runs, from meson's JSON test logs.
python3 - "$CHECK/meson-logs/testlog.json" "$FUZZ/meson-logs/testlog.json" $rstatus <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:3]:
    try:
        for line in open(path):
            r = json.loads(line)
            res = r.get("result")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
    except OSError:
        failed += 1
if sys.argv[3] != "0":
    failed += 1
else:
    passed += 1  # the fuzzing run
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
[ $mstatus -eq 0 ] && [ $fstatus -eq 0 ] && [ $rstatus -eq 0 ]
