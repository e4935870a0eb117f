#!/usr/bin/env bash
# OSVDI - Debian's current kernel image for test and demo VMs, unpacked
# from its package (no maintainer scripts, nothing installed) into OUTDIR.
# SPDX-License-Identifier: Apache-2.0
#
#   tests/vm/guest-kernel.sh OUTDIR     prints OUTDIR/vmlinuz
# Needs root for apt when the image is not there yet (exit 77 otherwise).
set -euo pipefail
out=$(realpath -m "$1")
mkdir -p "$out"
if [ ! -f "$out/vmlinuz" ]; then
  abi=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*\)-amd64$/\1/p' | head -1)
  [ -n "$abi" ] || { echo "cannot tell Debian's kernel ABI" >&2; exit 1; }
  kver="$abi-amd64"
  if ! (cd "$out" && apt-get download -q "linux-image-$kver" >&2); then
    [ "$(id -u)" -eq 0 ] || { echo "cannot download linux-image-$kver (not root)" >&2; exit 77; }
    apt-get update -q >&2
    (cd "$out" && apt-get download -q "linux-image-$kver" >&2)
  fi
  (cd "$out" && dpkg-deb -x linux-image-"$kver"_*.deb image \
    && cp "image/boot/vmlinuz-$kver" vmlinuz.tmp \
    && rm -f linux-image-"$kver"_*.deb && mv vmlinuz.tmp vmlinuz)
fi
. "$(dirname "$0")/kmod.sh"
osvdi_kmod_prepare "$out/image" "$(ls "$out/image/lib/modules" 2>/dev/null || ls "$out/image/usr/lib/modules")" >&2
echo "$out/vmlinuz"
