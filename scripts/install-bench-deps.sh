#!/bin/sh
# Installs the Debian packages `make bench` needs on top of the build's:
# libvirt (daemon with the QEMU driver, and virsh) as the peer to compare with,
# and wrk, the HTTP load generator of the vireo-center scale bench (f).
set -eu
exec sh "$(dirname "$0")/install-deps.sh" \
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients wrk
