#!/bin/sh
# make demo: start vireo-hostd on a datastore under the build folder,
# create a VM from the guest image, power it on, say how to reach it.
# make demo-stop: power the demo VM off and stop hostd.
set -eu
BUILD=$(cd "${1:-build}" && pwd)
MODE=${2:-start}
D=$BUILD/demo
PORT=${VIREO_DEMO_PORT:-8443}
HTTP_PORT=${VIREO_DEMO_HTTP_PORT:-8080}
HOSTD=$BUILD/release/src/host/vireo-hostd
VIREO=$BUILD/release/src/cli/vireo
export VIREO_SERVER="http://127.0.0.1:$PORT"
PIDFILE=$D/hostd.pid

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

if [ "$MODE" = stop ]; then
	if running; then
		"$VIREO" vm power-off demo01 >/dev/null 2>&1 || true
		kill "$(cat "$PIDFILE")"
		echo "demo: hostd (pid $(cat "$PIDFILE")) stopped"
	else
		echo "demo: hostd is not running"
	fi
	rm -f "$PIDFILE"
	exit 0
fi

mkdir -p "$D/datastore/guest-image" "$D/state" "$D/run"
cp "$BUILD/guest/vmlinuz" "$BUILD/guest/initrd.img" "$D/datastore/guest-image/"
if ! running; then
	if curl -s -o /dev/null "$VIREO_SERVER/api/v1/health"; then
		echo "demo: port $PORT is already in use; set VIREO_DEMO_PORT to another port" >&2
		exit 1
	fi
	setsid "$HOSTD" --state-dir "$D/state" --run-dir "$D/run" --port "$PORT" \
		--datastore "demo=$D/datastore" --log-file "$D/hostd.log" \
		>"$D/hostd.stderr" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	i=0
	until curl -s -o /dev/null "$VIREO_SERVER/api/v1/health"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! running; then
			echo "demo: hostd did not start; its log:" >&2
			tail -20 "$D/hostd.stderr" >&2
			exit 1
		fi
		sleep 0.1
	done
fi
VIREO_PASSWORD=$(cat "$D/state/initial-admin-password") "$VIREO" login --user admin >/dev/null
if ! "$VIREO" vm info demo01 >/dev/null 2>&1; then
	"$VIREO" vm create demo01 --datastore demo --memory 256 --disk 64 \
		--nic "nat,hostfwd=tcp:127.0.0.1:$HTTP_PORT-:80" \
		--kernel "$D/datastore/guest-image/vmlinuz" \
		--initrd "$D/datastore/guest-image/initrd.img" \
		--cmdline "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off vireo.hostname=demo01 vireo.ip=10.0.2.15/24 vireo.gw=10.0.2.2 vireo.http=80 vireo.shell=1" >/dev/null
fi
state=$("$VIREO" --json vm info demo01 | python3 -c 'import json,sys; print(json.load(sys.stdin)["power_state"])')
[ "$state" = poweredOn ] || "$VIREO" vm power-on demo01
printf 'demo: waiting for the guest to boot'
i=0
until "$VIREO" vm console-log demo01 | grep -q VIREO-GUEST-READY; do
	i=$((i + 1))
	[ $i -gt 120 ] && { echo; echo "demo: the guest did not boot; see $D/datastore/demo01/console.log" >&2; exit 1; }
	printf .
	sleep 1
done
echo
cat <<MSG

Vireo demo is running.
  host agent     $VIREO_SERVER/api/v1   (pid $(cat "$PIDFILE"), log $D/hostd.log)
  login          admin / password in $D/state/initial-admin-password
  datastore      demo = $D/datastore
  VM             demo01 (folder $D/datastore/demo01)

Try:
  export VIREO_SERVER=$VIREO_SERVER PATH=$BUILD/release/src/cli:\$PATH
  vireo vm list
  vireo vm info demo01
  vireo vm guest demo01              # the guest agent: hostname, IP addresses
  vireo vm console demo01            # serial console; detach with Ctrl-]
  curl http://127.0.0.1:$HTTP_PORT/          # the guest's web server
  vireo vm suspend demo01 && vireo vm power-on demo01
  curl -H "Authorization: Bearer TOKEN" $VIREO_SERVER/api/v1/vms   # REST (docs/api/hostd.yaml)
  make demo-stop
MSG
