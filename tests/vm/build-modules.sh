#!/usr/bin/env bash
# OSVDI - build the kernel's sample VFIO mdev drivers (mbochs: dmabuf
# planes, mdpy: a region plane, mtty: no display) for Debian's kernel ABI, out of tree,
# into OUTDIR, with the matching vmlinuz. Nothing of the kernel's is
# committed: the sources come from Debian's linux-source-X.Y of that ABI
# (6.1 on Debian 12, 6.12 on 13) at build time.
# SPDX-License-Identifier: Apache-2.0
#
#   tests/vm/build-modules.sh OUTDIR
# Prints the kernel ABI on success. Needs root for apt (or the packages).
set -euo pipefail
out=$(realpath -m "$1")
mkdir -p "$out"

abi=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*\)-amd64$/\1/p' | head -1)
[ -n "$abi" ] || { echo "cannot tell Debian's kernel ABI" >&2; exit 1; }
kver="$abi-amd64"
# 6.1.0-28 -> 6.1, 6.12.117+deb13 -> 6.12: the source package of that kernel.
srcver=$(echo "$abi" | cut -d. -f1,2)
pkgs="linux-headers-$kver linux-source-$srcver qemu-system-x86 busybox-static kmod cpio"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "missing packages:$missing" >&2; exit 77; }
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

# The kernel image, unpacked without running its maintainer scripts.
if [ ! -f "$out/vmlinuz" ]; then
  (cd "$out" && apt-get download -q "linux-image-$kver" >&2 \
    && dpkg-deb -x linux-image-"$kver"_*.deb image \
    && cp "image/boot/vmlinuz-$kver" vmlinuz \
    && rm -f linux-image-"$kver"_*.deb)
fi
. "$(dirname "$0")/kmod.sh"
osvdi_kmod_prepare "$out/image" "$kver"

# Only the samples, then a scripted edit: export the dmabuf read-write, as
# GVT-g does (stock mbochs exports read-only, so userspace mmap fails).
if [ ! -f "$out/mtty.ko" ]; then
  src="$out/src"
  rm -rf "$src" && mkdir -p "$src"
  tar -xJf "/usr/src/linux-source-$srcver.tar.xz" -C "$src" --strip-components=3 \
    --wildcards "linux-source-$srcver/samples/vfio-mdev/*"
  sed -i 's/^\(\s*\)exp_info.ops = &mbochs_dmabuf_ops;/\1exp_info.flags = O_RDWR;\n&/' "$src/mbochs.c"
  grep -q 'exp_info.flags = O_RDWR;' "$src/mbochs.c" || { echo "mbochs edit failed" >&2; exit 1; }
  printf 'obj-m += mbochs.o mdpy.o mtty.o\n' > "$src/Kbuild"
  make -s -C "/usr/src/linux-headers-$kver" M="$src" modules >&2
  cp "$src/mbochs.ko" "$src/mdpy.ko" "$src/mtty.ko" "$out/"
  rm -rf "$src"
fi
echo "$kver"
