#!/bin/sh
# make demo: start two hosts (vireo-hostd) on datastores under the build
# folder and vireo-center (SQLite) managing them: a datacenter, a cluster
# with both hosts, a resource pool, two VMs from the guest image (demo01
# running and serving HTTP); say how to reach everything.
# make demo-stop: power the demo VMs off, stop center and both hosts.
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
PORT_B=${VIREO_DEMO_PORT_B:-8445}
CENTER_PORT=${VIREO_DEMO_CENTER_PORT:-8444}
CENTER=$BUILD/release/src/center/vireo-center
HOSTB_URL="http://127.0.0.1:$PORT_B"
CENTER_URL="http://127.0.0.1:$CENTER_PORT"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits for a daemon's health endpoint; on failure shows its log.
wait_health() { # URL PIDFILE LOG NAME
	i=0
	until curl -s -o /dev/null "$1/api/v1/health"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! alive "$2"; then
			echo "demo: $4 did not start; its log:" >&2
			tail -20 "$3" >&2
			exit 1
		fi
		sleep 0.1
	done
}

if [ "$MODE" = stop ]; then
	if alive "$D/hostb.pid"; then
		VIREO_SERVER=$HOSTB_URL "$VIREO" vm power-off demo02 >/dev/null 2>&1 || true
		kill "$(cat "$D/hostb.pid")" && echo "demo: host demo-b (pid $(cat "$D/hostb.pid")) stopped"
	fi
	if alive "$D/center.pid"; then
		kill "$(cat "$D/center.pid")" && echo "demo: vireo-center (pid $(cat "$D/center.pid")) stopped"
	fi
	rm -f "$D/hostb.pid" "$D/center.pid"
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
	# Each host its own cgroup parent: two hostds on one machine must not share pools' groups.
	setsid "$HOSTD" --state-dir "$D/state" --run-dir "$D/run" --port "$PORT" --host-name demo-a \
		--datastore "demo=$D/datastore" --log-file "$D/hostd.log" --cgroup-parent vireo-demo-a \
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

# The second host, with a VM of its own (powered off: it costs nothing).
mkdir -p "$D/hostb/state" "$D/hostb/run" "$D/datastore-b/guest-image"
cp "$BUILD/guest/vmlinuz" "$BUILD/guest/initrd.img" "$D/datastore-b/guest-image/"
if ! alive "$D/hostb.pid"; then
	if curl -s -o /dev/null "$HOSTB_URL/api/v1/health"; then
		echo "demo: port $PORT_B is already in use; set VIREO_DEMO_PORT_B to another port" >&2
		exit 1
	fi
	setsid "$HOSTD" --state-dir "$D/hostb/state" --run-dir "$D/hostb/run" --port "$PORT_B" \
		--host-name demo-b --datastore "demo-b=$D/datastore-b" --log-file "$D/hostb/hostd.log" \
		--cgroup-parent vireo-demo-b \
		>"$D/hostb/hostd.stderr" 2>&1 </dev/null &
	echo $! >"$D/hostb.pid"
	wait_health "$HOSTB_URL" "$D/hostb.pid" "$D/hostb/hostd.stderr" "the second hostd"
fi
export VIREO_SERVER=$HOSTB_URL
VIREO_PASSWORD=$(cat "$D/hostb/state/initial-admin-password") "$VIREO" login --user admin >/dev/null
if ! "$VIREO" vm info demo02 >/dev/null 2>&1; then
	"$VIREO" vm create demo02 --datastore demo-b --memory 256 --disk 64 \
		--kernel "$D/datastore-b/guest-image/vmlinuz" \
		--initrd "$D/datastore-b/guest-image/initrd.img" \
		--cmdline "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off vireo.hostname=demo02 vireo.shell=1" >/dev/null
fi

# vireo-center on SQLite, managing both hosts.
mkdir -p "$D/center"
if ! alive "$D/center.pid"; then
	if curl -s -o /dev/null "$CENTER_URL/api/v1/health"; then
		echo "demo: port $CENTER_PORT is already in use; set VIREO_DEMO_CENTER_PORT to another port" >&2
		exit 1
	fi
	setsid "$CENTER" --state-dir "$D/center" --port "$CENTER_PORT" --log-file "$D/center/center.log" \
		>"$D/center/center.stderr" 2>&1 </dev/null &
	echo $! >"$D/center.pid"
	wait_health "$CENTER_URL" "$D/center.pid" "$D/center/center.stderr" "vireo-center"
fi
export VIREO_SERVER=$CENTER_URL
VIREO_PASSWORD=$(cat "$D/center/initial-admin-password") "$VIREO" login --user admin >/dev/null
if ! "$VIREO" inventory ls /Demo >/dev/null 2>&1; then
	"$VIREO" inventory create datacenter / Demo >/dev/null
	"$VIREO" inventory create cluster /Demo/host Cluster1 >/dev/null
	"$VIREO" inventory create resource_pool /Demo/host/Cluster1/Resources Pool1 >/dev/null
	VIREO_HOST_PASSWORD=$(cat "$D/state/initial-admin-password") \
		"$VIREO" host add "http://127.0.0.1:$PORT" --parent /Demo/host/Cluster1 >/dev/null
	VIREO_HOST_PASSWORD=$(cat "$D/hostb/state/initial-admin-password") \
		"$VIREO" host add "$HOSTB_URL" --parent /Demo/host/Cluster1 >/dev/null
fi
export VIREO_SERVER="http://127.0.0.1:$PORT"

cat <<MSG

Vireo demo is running.
  vireo-center   $CENTER_URL/   web client; login admin / password in $D/center/initial-admin-password
                 (pid $(cat "$D/center.pid"), log $D/center/center.log, database $D/center/center.db)
                 datacenter Demo, cluster Cluster1 with both hosts, resource pool Pool1
  host demo-b    $HOSTB_URL/api/v1   (pid $(cat "$D/hostb.pid")), VM demo02 (powered off)
  host demo-a    $VIREO_SERVER/api/v1   (pid $(cat "$PIDFILE"), log $D/hostd.log)
  login          admin / password in $D/state/initial-admin-password (each host has its own)
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
  VIREO_SERVER=$CENTER_URL vireo login --user admin   # then, against center:
  vireo host list; vireo vm list; vireo inventory ls /Demo/host/Cluster1
  vireo vm power-on demo02; vireo task list; vireo events
  make demo-stop
MSG
