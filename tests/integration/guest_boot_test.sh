#!/bin/bash
# Boots the Vireo test guest (guest/build.sh output) under QEMU/TCG and checks
# it: serial READY marker, disk write/verify on virtio-scsi and virtio-blk,
# static network + HTTP through slirp, the guest agent (ping, host name,
# interfaces, guest-shutdown) and ACPI power-down (QMP system_powerdown).
#
#   tests/integration/guest_boot_test.sh [GUEST_DIR]   (default: build/guest)
#
# Exit status: 0 pass, 1 fail, 77 skipped (no QEMU or guest image not built).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GUEST=${1:-build/guest}
[ -d "$GUEST" ] || [ "${GUEST#/}" != "$GUEST" ] || GUEST=$REPO/$GUEST
READY_TIMEOUT=${READY_TIMEOUT:-90}
QEMU=${QEMU:-qemu-system-x86_64}
CMDLINE_BASE="console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"

say() { echo "guest_boot_test: $*"; }
fail() {
	echo "guest_boot_test: FAIL: $*" >&2
	if [ -n "${SERIAL:-}" ] && [ -f "$SERIAL" ]; then
		echo "---- last serial console lines ($SERIAL) ----" >&2
		tail -n 40 "$SERIAL" >&2
		echo "----" >&2
	fi
	exit 1
}

command -v "$QEMU" >/dev/null 2>&1 || { say "SKIP: $QEMU not installed"; exit 77; }
command -v python3 >/dev/null 2>&1 || { say "SKIP: python3 not installed"; exit 77; }
for f in vmlinuz initrd.img; do
	[ -s "$GUEST/$f" ] || { say "SKIP: $GUEST/$f missing (run guest/build.sh first)"; exit 77; }
done

T=$(mktemp -d /tmp/vireo-guest-test.XXXXXX)
QPID=
cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null
		sleep 0.5
		kill -9 "$QPID" 2>/dev/null
		wait "$QPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---------------------------------------------------------------- helpers
cat >"$T/qmon.py" <<'EOF'
import json, random, socket, sys, time, urllib.request

def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    return s, s.makefile("rwb")

def send(f, cmd, args=None):
    m = {"execute": cmd}
    if args is not None:
        m["arguments"] = args
    f.write(json.dumps(m).encode() + b"\n")
    f.flush()

def qga(path, cmd, args=None):
    """Run one guest-agent command; prints the JSON return value."""
    s, f = connect(path)
    # guest-sync-delimited flushes stale data; the answer follows a 0xff byte.
    sid = random.randint(1, 2**31 - 1)
    f.write(b"\xff")
    send(f, "guest-sync-delimited", {"id": sid})
    while True:
        line = f.readline()
        if not line:
            sys.exit("agent closed the connection")
        if str(sid).encode() in line:
            break
    send(f, cmd, args)
    if cmd == "guest-shutdown":     # no response on success
        s.settimeout(2)
        try:
            line = f.readline()
            if line and b"error" in line:
                sys.exit("guest-shutdown: " + line.decode())
        except socket.timeout:
            pass
        print("{}")
        return
    r = json.loads(f.readline())
    if "error" in r:
        sys.exit("%s: %s" % (cmd, r["error"]))
    print(json.dumps(r["return"]))

def qmp(path, cmd, args=None):
    s, f = connect(path)
    json.loads(f.readline())                 # greeting
    send(f, "qmp_capabilities")
    json.loads(f.readline())
    send(f, cmd, args)
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
    if "error" in r:
        sys.exit("%s: %s" % (cmd, r["error"]))
    print(json.dumps(r["return"]))

def http(url):
    print(urllib.request.urlopen(url, timeout=10).read().decode())

def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])

if __name__ == "__main__":
    what = sys.argv[1]
    if what == "qga":
        qga(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
    elif what == "qmp":
        qmp(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
    elif what == "http":
        http(sys.argv[2])
    elif what == "freeport":
        freeport()
EOF
py() { timeout 30 python3 "$T/qmon.py" "$@"; }

# start_vm NAME DISKARGS APPEND: starts QEMU in the background (QPID, SERIAL)
start_vm() {
	local name=$1 diskargs=$2 append=$3
	SERIAL=$T/$name-serial.log
	QGA=$T/$name-qga.sock
	QMP=$T/$name-qmp.sock
	HTTP_PORT=$(py freeport) || fail "cannot find a free TCP port"
	# shellcheck disable=SC2086
	"$QEMU" -accel tcg -machine q35 -nodefaults -nographic -m 512 \
		-chardev "file,id=ser0,path=$SERIAL" -serial chardev:ser0 \
		-drive "file=$T/disk.raw,format=raw,if=none,id=disk0" $diskargs \
		-netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$HTTP_PORT-:8080" -device virtio-net-pci,netdev=net0 \
		-chardev "socket,id=qga0,path=$QGA,server=on,wait=off" \
		-device virtio-serial-pci -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
		-device virtio-balloon-pci \
		-qmp "unix:$QMP,server=on,wait=off" \
		-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
		-append "$CMDLINE_BASE $append" \
		</dev/null >"$T/$name-qemu.out" 2>&1 &
	QPID=$!
	T0=$(date +%s.%N)
	say "[$name] started QEMU pid $QPID: $diskargs, append: $CMDLINE_BASE $append"
}
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_serial REGEX TIMEOUT: waits for a console line; fails if QEMU dies
wait_serial() {
	local re=$1 limit=$2 end=$((SECONDS + $2))
	while [ $SECONDS -le $end ]; do
		grep -aEq "$re" "$SERIAL" 2>/dev/null && return 0
		kill -0 "$QPID" 2>/dev/null || fail "QEMU exited while waiting for '$re': $(tail -n 3 "$T"/*-qemu.out)"
		sleep 0.2
	done
	fail "'$re' did not appear on the serial console within ${limit}s"
}
# wait_exit TIMEOUT: waits for QEMU to exit by itself
wait_exit() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -le $end ]; do
		if ! kill -0 "$QPID" 2>/dev/null; then
			wait "$QPID"
			local rc=$?
			QPID=
			[ $rc = 0 ] || fail "QEMU exited with status $rc"
			return 0
		fi
		sleep 0.2
	done
	fail "QEMU did not exit within $1s"
}

truncate -s 64M "$T/disk.raw" || fail "cannot create the disk image"

# ---------------------------------------------------------------- boot 1: virtio-scsi
start_vm scsi "-device virtio-scsi-pci,id=scsi0 -device scsi-hd,bus=scsi0.0,drive=disk0" \
	"vireo.hostname=vireo-test-1 vireo.disktest=sda vireo.ip=10.0.2.15/24 vireo.gw=10.0.2.2 vireo.http=8080"
wait_serial '^VIREO-GUEST-READY' "$READY_TIMEOUT"
say "[scsi] ok: VIREO-GUEST-READY after $(elapsed)s"
wait_serial '^VIREO-DISKTEST-(OK|FAIL)' 60
grep -aq '^VIREO-DISKTEST-OK ' "$SERIAL" || fail "$(grep -a '^VIREO-DISKTEST-FAIL' "$SERIAL")"
SHA=$(grep -a '^VIREO-DISKTEST-OK ' "$SERIAL" | head -n1 | cut -d' ' -f2)
say "[scsi] ok: disk test on sda (virtio-scsi) $SHA"

out=$(py qga "$QGA" guest-ping) || fail "guest-ping failed: $out"
say "[scsi] ok: guest-ping"
out=$(py qga "$QGA" guest-get-host-name) || fail "guest-get-host-name failed: $out"
echo "$out" | grep -q '"host-name": "vireo-test-1"' || fail "unexpected host name: $out"
say "[scsi] ok: guest-get-host-name -> vireo-test-1"
out=$(py qga "$QGA" guest-network-get-interfaces) || fail "guest-network-get-interfaces failed: $out"
echo "$out" | grep -q '"ip-address": "10.0.2.15"' || fail "10.0.2.15 not reported by the agent: $out"
say "[scsi] ok: guest-network-get-interfaces reports 10.0.2.15"
grep -aq '^VIREO-HTTP-LISTENING 10.0.2.15:8080' "$SERIAL" || fail "HTTP server did not start"
out=$(py http "http://127.0.0.1:$HTTP_PORT/") || fail "HTTP request to the guest failed: $out"
echo "$out" | grep -q 'VIREO-GUEST-HTTP-OK' || fail "unexpected HTTP page: $out"
echo "$out" | grep -q 'vireo-test-1' || fail "host name missing from the HTTP page: $out"
say "[scsi] ok: HTTP page from the guest via slirp"

out=$(py qga "$QGA" guest-shutdown) || fail "guest-shutdown failed: $out"
wait_exit 60
grep -aq '^VIREO-GUEST-SHUTDOWN poweroff' "$SERIAL" || fail "no clean shutdown line on the console"
say "[scsi] ok: guest-shutdown -> QEMU exited by itself after $(elapsed)s total"

# ---------------------------------------------------------------- boot 2: virtio-blk
start_vm blk "-device virtio-blk-pci,drive=disk0" "vireo.diskverify=vda"
wait_serial '^VIREO-GUEST-READY' "$READY_TIMEOUT"
say "[blk] ok: VIREO-GUEST-READY after $(elapsed)s"
wait_serial '^VIREO-DISKVERIFY-(OK|FAIL)' 60
grep -aq "^VIREO-DISKVERIFY-OK $SHA" "$SERIAL" || fail "$(grep -a '^VIREO-DISKVERIFY-' "$SERIAL")"
say "[blk] ok: data written in boot 1 verified on vda (virtio-blk)"
out=$(py qga "$QGA" guest-get-host-name) || fail "guest-get-host-name failed: $out"
echo "$out" | grep -q '"host-name": "vireo-guest"' || fail "unexpected default host name: $out"
say "[blk] ok: default host name vireo-guest"
out=$(py qmp "$QMP" system_powerdown) || fail "QMP system_powerdown failed: $out"
wait_exit 60
grep -aq '^VIREO-GUEST-SHUTDOWN poweroff' "$SERIAL" || fail "no clean shutdown line on the console"
say "[blk] ok: ACPI power button (system_powerdown) -> QEMU exited by itself after $(elapsed)s total"

say "PASS"
