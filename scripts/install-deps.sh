#!/bin/sh
# Installs every Debian package Vireo needs to build, test and demo, plus
# any packages given as arguments (scripts/install-bench-deps.sh uses that).
# Idempotent: skips apt-get when everything is already installed.
set -eu
PKGS="$*

build-essential pkg-config meson ninja-build clang lld llvm libclang-rt-14-dev
libmicrohttpd-dev libjansson-dev libssl-dev libcrypt-dev libcurl4-openssl-dev libxml2-dev
libseccomp-dev libcap-ng-dev libcmocka-dev libmnl-dev libsqlite3-dev libpq-dev postgresql
qemu-system-x86 qemu-utils
busybox-static cpio xz-utils zstd kmod
curl socat iproute2 procps python3 openssl
chromium nodejs
"
# The browser test drives Chromium with playwright-core (npm); NodeSource's nodejs
# bundles npm and conflicts with Debian's npm package, so only add it when missing.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
# The guest image is built from packages fetched with apt-get download:
# make sure the package lists exist (a fresh machine may have none).
if [ "$(id -u)" = 0 ] && ! apt-cache show --no-all-versions linux-image-cloud-amd64 >/dev/null 2>&1; then
	echo "install-deps: fetching the package lists"
	apt-get update -q
fi
