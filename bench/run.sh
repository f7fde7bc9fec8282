#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Vireo benchmarks: vireo-hostd vs libvirt vs bare QEMU, clones, snapshots, and
# vireo-center at scale (simulated hosts).  Writes BENCHMARKS.md.
#   sh bench/run.sh BUILD_DIR        (what `make bench` runs)
# Environment overrides:
#   VIREO_HOSTD=PATH        hostd binary (default BUILD_DIR/release/src/host/vireo-hostd)
#   VIREO_CENTER=PATH       center binary (default BUILD_DIR/release/src/center/vireo-center)
#   BENCH_RUNS=N            power-ons per path for (a)/(b) (default 12, at least 10)
#   BENCH_IDLE_VMS=N        VMs for (c) (default 20)
#   BENCH_IDLE_SECONDS=N    idle measuring window for (c) (default 60)
#   BENCH_CLONE_RUNS=N      linked clones timed per disk size for (d) (default 10)
#   BENCH_FULL_CLONE_RUNS=N full clones (and hand-run copies) for (d) (default 3)
#   BENCH_SNAPSHOT_ROUNDS=N snapshot take/revert/delete rounds per peer for (e) (default 10)
#   BENCH_SCALE_HOSTS=N     simulated hosts (20 VMs each) joined to center for (f) (default 1000)
#   BENCH_OUT=FILE          report (default BENCHMARKS.md in the repository)
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/.."
REPO=$(pwd)
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
HOSTD=${VIREO_HOSTD:-$BUILD/release/src/host/vireo-hostd}
CENTER=${VIREO_CENTER:-$BUILD/release/src/center/vireo-center}
GUEST=$BUILD/guest
RUNS=${BENCH_RUNS:-12}
IDLE_VMS=${BENCH_IDLE_VMS:-20}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
CLONE_RUNS=${BENCH_CLONE_RUNS:-10}
FULL_RUNS=${BENCH_FULL_CLONE_RUNS:-3}
SNAP_ROUNDS=${BENCH_SNAPSHOT_ROUNDS:-10}
SCALE_HOSTS=${BENCH_SCALE_HOSTS:-1000}
OUT=${BENCH_OUT:-$REPO/BENCHMARKS.md}
WORK=$BUILD/bench
T0=$(date +%s)

say() { echo "[bench $(date +%H:%M:%S)] $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root (libvirt's qemu:///system and hostd's -runas need it)" >&2
	exit 1
fi
[ -x "$HOSTD" ] || { echo "bench: no hostd binary at $HOSTD (make build, or set VIREO_HOSTD)" >&2; exit 1; }
[ -x "$CENTER" ] || { echo "bench: no center binary at $CENTER (make build, or set VIREO_CENTER)" >&2; exit 1; }
for f in vmlinuz initrd.img; do
	[ -f "$GUEST/$f" ] || { echo "bench: missing $GUEST/$f (make guest)" >&2; exit 1; }
done
sh scripts/install-bench-deps.sh
sh scripts/setup-host.sh
mkdir -p "$WORK"

say "machine facts"
python3 bench/benchlib.py facts "$HOSTD" "$WORK/facts.json"
say "(a)+(b) power-on and boot-to-READY: $RUNS runs per path (~$((RUNS * 12 / 60 + 1)) min)"
python3 bench/poweron.py --hostd "$HOSTD" --guest "$GUEST" --work "$WORK/work" \
	--runs "$RUNS" --out "$WORK/poweron.json"
say "(c) daemons with $IDLE_VMS idle VMs, ${IDLE_SECONDS}s windows (~$((IDLE_SECONDS * 2 / 60 + 5)) min)"
python3 bench/idle20.py --hostd "$HOSTD" --guest "$GUEST" --work "$WORK/work" \
	--vms "$IDLE_VMS" --idle-seconds "$IDLE_SECONDS" --out "$WORK/idle20.json"
say "(d) clones: 2 x $((CLONE_RUNS + 1)) linked clones, $FULL_RUNS full clones of 1 GiB vs qemu-img by hand (~2 min)"
python3 bench/clones.py --hostd "$HOSTD" --guest "$GUEST" --work "$WORK/work" \
	--runs "$CLONE_RUNS" --full-runs "$FULL_RUNS" --out "$WORK/clones.json"
say "(e) snapshots with memory of a running 512 MiB guest: $SNAP_ROUNDS rounds per peer (~2 min)"
python3 bench/snapshots.py --hostd "$HOSTD" --guest "$GUEST" --work "$WORK/work" \
	--rounds "$SNAP_ROUNDS" --out "$WORK/snapshots.json"
say "(f) vireo-center at scale: $SCALE_HOSTS simulated hosts x 20 VMs, list/search latency, 100 clients (~3 min)"
python3 bench/center_scale.py --hostd "$HOSTD" --center "$CENTER" --work "$WORK/scale" \
	--hosts "$SCALE_HOSTS" --vms 20 --clusters 10 --requests 200 --clients 100 --seconds 30 \
	--out "$WORK/center_scale.json"
rm -rf "$WORK/scale"
T1=$(date +%s)
python3 bench/report.py --poweron "$WORK/poweron.json" --idle "$WORK/idle20.json" \
	--clones "$WORK/clones.json" --snapshots "$WORK/snapshots.json" \
	--center-scale "$WORK/center_scale.json" \
	--facts "$WORK/facts.json" --total-seconds $((T1 - T0)) \
	--run-command "${BENCH_RUN_COMMAND:-make bench}" --out "$OUT"
rm -rf "$WORK/work"
say "done in $((T1 - T0)) s; report: $OUT (raw results in $WORK)"
