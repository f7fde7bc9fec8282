#!/bin/bash
# Builds the Vireo test/demo guest image (kernel + initramfs) from Debian
# packages only.
#
#   guest/build.sh [OUTDIR]          (default OUTDIR: <repo>/build/guest)
#
# Outputs:  OUTDIR/vmlinuz  OUTDIR/initrd.img  OUTDIR/cmdline  OUTDIR/manifest.txt
# Packages are fetched with `apt-get download` into a cache directory
# (VIREO_GUEST_CACHE, default OUTDIR/../guest-cache) and reused; when the
# resolved package versions and the files in guest/ are unchanged the build is
# skipped.  Set VIREO_GUEST_FORCE=1 to rebuild anyway.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OUTDIR=${1:-$REPO/build/guest}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=${VIREO_GUEST_CACHE:-$(dirname "$OUTDIR")/guest-cache}
mkdir -p "$CACHE/debs" "$CACHE/extract"
CACHE=$(cd "$CACHE" && pwd)

# Kernel modules wanted in the initramfs (their dependencies are added).
WANT_MODULES="virtio_pci virtio_blk virtio_scsi sd_mod virtio_net virtio_console
virtio_balloon virtio_rng button evdev vmw_pvscsi vmxnet3"
# Root packages; the shared-library packages qemu-guest-agent needs are added.
KERNEL_META=linux-image-cloud-amd64

log() { echo "guest-build: $*"; }
die() { echo "guest-build: ERROR: $*" >&2; exit 1; }

for t in apt-get apt-cache dpkg-deb cpio modinfo readelf sha256sum find sort; do
	command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found (run scripts/install-deps.sh)"
done
if command -v zstd >/dev/null 2>&1; then COMPRESS="zstd -q -T0 -15 -c"
else COMPRESS="gzip -9 -n -c"; fi

# ---------------------------------------------------------------- resolve
# This system has no apt binary cache, so every apt-cache call would re-parse
# the package lists (~0.5 s); keep a private one in the cache dir.
mkdir -p "$CACHE/apt"
APTO=(-o "Dir::Cache::pkgcache=$CACHE/apt/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$CACHE/apt/srcpkgcache.bin")
apt-cache() { command apt-cache "${APTO[@]}" "$@"; }

kdeps=$(apt-cache show --no-all-versions "$KERNEL_META" 2>/dev/null | awk -F': ' '/^Depends:/ {print $2; exit}') ||
	true
[ -n "$kdeps" ] || die "apt-cache knows no package '$KERNEL_META' (run 'apt-get update' first)"
KPKG=$(echo "$kdeps" | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' | grep -E '^linux-image-.*-cloud-amd64$' | head -n1)
[ -n "$KPKG" ] || die "cannot find the cloud kernel package in '$KERNEL_META' Depends: $kdeps"
KVER=${KPKG#linux-image-}

# qemu-guest-agent plus its recursive (non-pre-)dependencies: the library packages.
QGA_PKGS=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances --no-pre-depends qemu-guest-agent 2>/dev/null |
	grep -v '^ ' | grep -v '^<' | sort -u) || true
echo "$QGA_PKGS" | grep -qx qemu-guest-agent || die "apt-cache knows no package 'qemu-guest-agent' (run 'apt-get update' first)"

PKGS="$KPKG busybox-static $QGA_PKGS"
declare -A DEB VER
# shellcheck disable=SC2086
while read -r p v; do VER[$p]=$v; done < <(apt-cache show --no-all-versions $PKGS 2>/dev/null |
	awk '/^Package:/ {p=$2} /^Version:/ {print p, $2}')
missing=()
for p in $PKGS; do
	v=${VER[$p]:-}
	[ -n "$v" ] || die "no installable version of package '$p' (run 'apt-get update' first)"
	f=$(ls "$CACHE/debs/${p}_${v//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$f" ]; then missing+=("$p=$v"); fi
	DEB[$p]="${p}_${v//:/%3a}"
done

if [ ${#missing[@]} -gt 0 ]; then
	log "downloading ${#missing[@]} package(s) into $CACHE/debs: ${missing[*]}"
	aptopts=()
	[ "$(id -u)" = 0 ] && aptopts+=(-o APT::Sandbox::User=root)
	(cd "$CACHE/debs" && apt-get -q "${APTO[@]}" "${aptopts[@]}" download "${missing[@]}") ||
		die "apt-get download failed (no network access to the Debian archive, or stale lists: run 'apt-get update')"
fi
debfile() { ls "$CACHE/debs/${DEB[$1]}_"*.deb 2>/dev/null | head -n1; }
for p in $PKGS; do [ -n "$(debfile "$p")" ] || die "package file for $p missing after download"; done

# ---------------------------------------------------------------- up to date?
STAMP=$( {
	for p in $PKGS; do basename "$(debfile "$p")"; done | sort
	echo "modules: $WANT_MODULES"
	echo "compress: $COMPRESS"
	(cd "$HERE" && find init build.sh overlay -type f -print0 | sort -z | xargs -0 sha256sum)
	(cd "$HERE" && find overlay -type l -printf '%p -> %l\n' | sort)
} | sha256sum | cut -d' ' -f1)
if [ "${VIREO_GUEST_FORCE:-0}" != 1 ] && [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/initrd.img" ] &&
	[ "$(cat "$OUTDIR/.stamp" 2>/dev/null)" = "$STAMP" ]; then
	log "up to date: $OUTDIR (kernel $KVER)"
	exit 0
fi

# ---------------------------------------------------------------- extract
extract() { # PKG -> prints extracted tree dir (cached)
	local d="$CACHE/extract/${DEB[$1]}"
	if [ ! -e "$d/.done" ]; then
		rm -rf "$d"; mkdir -p "$d"
		dpkg-deb -x "$(debfile "$1")" "$d" || die "dpkg-deb -x failed for $1"
		touch "$d/.done"
	fi
	echo "$d"
}
KROOT=$(extract "$KPKG")
for p in $PKGS; do extract "$p" >/dev/null; done

WORK="$OUTDIR/.work"
rm -rf "$WORK"
ROOT="$WORK/root"
mkdir -p "$ROOT"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
cd "$ROOT"
mkdir -p bin sbin usr/bin usr/sbin lib lib64 etc proc sys dev run tmp var root mnt
ln -s ../run var/run
ln -s ../tmp var/tmp

# ---------------------------------------------------------------- busybox
BB="$(extract busybox-static)/bin/busybox"
[ -x "$BB" ] || die "busybox binary not found in busybox-static"
cp "$BB" bin/busybox
n=0
for a in $("$BB" --list-full); do
	case "$a" in
	bin/busybox | linuxrc | sbin/init | */poweroff | */reboot | */halt) continue ;;
	esac
	[ -e "$a" ] || [ -L "$a" ] && continue
	case "$a" in
	*/*/*) ln -s ../../bin/busybox "$a" ;;
	bin/*) ln -s busybox "$a" ;;
	*/*) ln -s ../bin/busybox "$a" ;;
	*) die "unexpected applet path $a" ;;
	esac
	n=$((n + 1))
done
log "busybox: $n applet links"

# ---------------------------------------------------------------- modules
MODSRC="$KROOT/lib/modules/$KVER"
[ -d "$MODSRC/kernel" ] || die "no modules in $KPKG"
declare -A MODPATH
while IFS= read -r f; do
	b=$(basename "$f"); b=${b%%.ko*}; MODPATH[${b//-/_}]=$f
done < <(cd "$MODSRC" && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
builtin_mod() { grep -q "/${1}.ko\$" "$MODSRC/modules.builtin" 2>/dev/null ||
	grep -q "/${1//_/-}.ko\$" "$MODSRC/modules.builtin" 2>/dev/null; }
declare -A VISITED
ORDER=()
visit() { # depth-first, dependencies first
	local m=${1//-/_} d
	[ -n "${VISITED[$m]:-}" ] && return 0
	VISITED[$m]=1
	if [ -z "${MODPATH[$m]:-}" ]; then
		builtin_mod "$m" && { log "module $m is built in"; return 0; }
		die "kernel module '$m' not found in $KPKG"
	fi
	for d in $(modinfo -F depends "$MODSRC/${MODPATH[$m]}" | tr ',' ' '); do visit "$d"; done
	ORDER+=("$m")
}
for m in $WANT_MODULES; do visit "$m"; done
mkdir -p "lib/modules/$KVER"
: >"lib/modules/load-order"
for m in "${ORDER[@]}"; do
	src="$MODSRC/${MODPATH[$m]}"
	rel=${MODPATH[$m]%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
	dst="lib/modules/$KVER/$rel"
	mkdir -p "$(dirname "$dst")"
	case "$src" in
	*.ko) cp "$src" "$dst" ;;
	*.ko.xz) xz -dc "$src" >"$dst" ;;
	*.ko.zst) zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$dst" ;;
	esac
	echo "$rel" >>"lib/modules/load-order"
done
cp "$MODSRC/modules.builtin" "$MODSRC/modules.order" "lib/modules/$KVER/" 2>/dev/null || true
if command -v depmod >/dev/null 2>&1; then depmod -b "$ROOT" "$KVER" 2>/dev/null || true; fi
echo "$KVER" >"lib/modules/kernel-release"
log "modules (load order): ${ORDER[*]}"

# ---------------------------------------------------------------- qemu-ga
QGA_TREE=$(extract qemu-guest-agent)
QGA_REL=$(cd "$QGA_TREE" && find . -path "*bin/qemu-ga" -type f 2>/dev/null | sed "s|^\./||" | head -n1)
[ -n "$QGA_REL" ] || die "qemu-ga binary not found in qemu-guest-agent"
mkdir -p "$(dirname "$QGA_REL")"
cp "$QGA_TREE/$QGA_REL" "$QGA_REL"
[ "$QGA_REL" = usr/bin/qemu-ga ] || ln -sf "/$QGA_REL" usr/bin/qemu-ga
LIBDIRS="lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 lib usr/lib"
find_lib() { # SONAME -> "tree relpath"
	local p t d
	for p in $QGA_PKGS; do
		t="$CACHE/extract/${DEB[$p]}"
		for d in $LIBDIRS; do
			if [ -e "$t/$d/$1" ]; then echo "$t $d/$1"; return 0; fi
		done
	done
	return 1
}
copy_elf_deps() { # ELF file in ROOT; copies the closure of its DT_NEEDED
	local lib loc t r
	for lib in $(readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'); do
		loc=$(find_lib "$lib") || die "shared library $lib (needed by ${1#"$ROOT"/}) not found in packages: $QGA_PKGS"
		t=${loc% *}; r=${loc#* }
		[ -e "$ROOT/$r" ] && continue
		mkdir -p "$ROOT/$(dirname "$r")"
		cp -L "$t/$r" "$ROOT/$r"
		copy_elf_deps "$ROOT/$r"
	done
}
copy_elf_deps "$ROOT/$QGA_REL"
INTERP=$(readelf -l "$QGA_REL" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$INTERP" ] || die "cannot read the ELF interpreter of qemu-ga"
if [ ! -e "$ROOT$INTERP" ]; then
	loc=$(find_lib "$(basename "$INTERP")") || die "dynamic loader $INTERP not found"
	mkdir -p "$ROOT$(dirname "$INTERP")"
	if [ -e "$ROOT/${loc#* }" ]; then # already there as libc's dependency
		ln -s "$(dirname "$INTERP" | sed 's|/[^/]*|../|g')${loc#* }" "$ROOT$INTERP"
	else
		cp -L "${loc% *}/${loc#* }" "$ROOT$INTERP"
	fi
fi
log "qemu-ga: $QGA_REL, loader $INTERP, libs: $(cd "$ROOT" && find lib lib64 usr/lib -name '*.so*' ! -path '*/modules/*' -printf '%f\n' | sort -u | tr '\n' ' ')"

# ---------------------------------------------------------------- init + overlay
install -m 0755 "$HERE/init" init
if [ -d "$HERE/overlay" ]; then
	(cd "$HERE/overlay" && find . -mindepth 1 -print0 | cpio -0 -pdm --quiet "$ROOT")
fi
for l in poweroff reboot halt; do ln -sf shutdown "sbin/$l"; done
cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
EOF
echo "vireo-guest" >etc/hostname
echo "$KVER" >etc/vireo-kernel
chmod 0755 init

# Sanity check: qemu-ga runs with only the libraries in the image.
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null 2>&1; then
	chroot "$ROOT" /usr/bin/qemu-ga --version >/dev/null 2>&1 ||
		die "qemu-ga does not run inside the image root (missing libraries?)"
	chroot "$ROOT" /bin/sh -n /init || die "guest/init has a shell syntax error"
fi

# ---------------------------------------------------------------- pack
find . -mindepth 1 -exec touch -h -d @0 {} + 2>/dev/null || true
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio -o -H newc --quiet --owner 0:0 --reproducible >"$WORK/initrd.cpio"
$COMPRESS "$WORK/initrd.cpio" >"$WORK/initrd.img"
cp "$KROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
{
	echo "kernel: $KVER"
	for p in $PKGS; do echo "package: $(basename "$(debfile "$p")")"; done
	echo "modules: ${ORDER[*]}"
	echo "compression: ${COMPRESS%% *}"
} >"$WORK/manifest.txt"
echo "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off" >"$WORK/cmdline"
mv -f "$WORK/vmlinuz" "$OUTDIR/vmlinuz"
mv -f "$WORK/initrd.img" "$OUTDIR/initrd.img"
mv -f "$WORK/manifest.txt" "$OUTDIR/manifest.txt"
mv -f "$WORK/cmdline" "$OUTDIR/cmdline"
echo "$STAMP" >"$OUTDIR/.stamp"
log "built $OUTDIR/vmlinuz ($KVER) and $OUTDIR/initrd.img ($(du -h "$OUTDIR/initrd.img" | cut -f1), ${COMPRESS%% *})"
