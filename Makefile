# Vireo — top-level entry points.  See README.md.
#   make            build (release-ish, build/release)
#   make demo       install deps, build, start hostd with a demo VM
#   make check      install deps, build with sanitizers, run every test
#   make bench      run the benchmarks and write BENCHMARKS.md
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS

BUILD      ?= build
FUZZ_SECONDS ?= 20
MESON_TEST_ARGS ?=

.PHONY: all deps build guest check unit fuzz demo demo-stop bench clean

all: build

deps:
	@sh scripts/install-deps.sh
	@sh scripts/setup-host.sh

$(BUILD)/release/build.ninja:
	meson setup $(BUILD)/release -Dbuildtype=debugoptimized -Dtests=false

build: deps $(BUILD)/release/build.ninja
	ninja -C $(BUILD)/release

# A failed download usually means stale package lists: refresh them once and retry.
guest: deps
	bash guest/build.sh $(BUILD)/guest || { apt-get update -q && bash guest/build.sh $(BUILD)/guest; }

$(BUILD)/check/build.ninja:
	meson setup $(BUILD)/check -Db_sanitize=address,undefined -Db_lundef=false

$(BUILD)/fuzz/build.ninja:
	CC=clang meson setup $(BUILD)/fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

# Every test: unit (ASan+UBSan), golden files, fuzz corpus replay, end-to-end
# with real guests; then a clang build (warnings as errors) running each
# libFuzzer target for a short while.  The release build (what `make demo`
# and `make bench` use) is compiled too, as its optimiser warns differently.
check: deps guest $(BUILD)/check/build.ninja $(BUILD)/fuzz/build.ninja $(BUILD)/release/build.ninja
	ninja -C $(BUILD)/check
	ninja -C $(BUILD)/fuzz
	ninja -C $(BUILD)/release
	sh scripts/run-tests.sh $(BUILD)/check $(BUILD)/fuzz $(FUZZ_SECONDS) $(MESON_TEST_ARGS)

unit: deps $(BUILD)/check/build.ninja
	ninja -C $(BUILD)/check
	meson test -C $(BUILD)/check --no-suite integration --print-errorlogs

fuzz: deps $(BUILD)/fuzz/build.ninja
	ninja -C $(BUILD)/fuzz
	sh scripts/run-fuzzers.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

demo: build guest
	sh scripts/demo.sh $(BUILD)

demo-stop:
	sh scripts/demo.sh $(BUILD) stop

bench: build guest
	sh bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)/release $(BUILD)/check $(BUILD)/fuzz $(BUILD)/demo
