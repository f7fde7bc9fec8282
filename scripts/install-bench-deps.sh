#!/bin/sh
# Installs the Debian packages `make bench` needs on top of scripts/install-deps.sh:
# libvirt (daemon with the QEMU driver, and virsh) as the peer to compare with.
# Idempotent: skips apt-get when everything is already installed.
set -eu
PKGS="
libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
qemu-system-x86 python3 procps
"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-bench-deps: missing packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "install-bench-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
