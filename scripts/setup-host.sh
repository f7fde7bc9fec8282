#!/bin/sh
# Host set-up that the Debian packages do not do: the unprivileged user
# QEMU runs as (hostd starts QEMU with -runas vireo-qemu when it exists).
set -eu
if [ "$(id -u)" = 0 ] && ! getent passwd vireo-qemu >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin vireo-qemu
	echo "setup-host: created the system user vireo-qemu"
fi
