#!/usr/bin/env bash
# OSVDI - run a script inside a QEMU micro-VM with Debian's kernel, the
# sample mdev display drivers loaded and this host's root mounted read-only
# at / (9p, chroot), so host binaries and the build tree run unchanged.
# SPDX-License-Identifier: Apache-2.0
#
#   tests/vm/run.sh OUTDIR SCRIPT [ARGS...]
# OUTDIR is what build-modules.sh made. Exits with SCRIPT's exit code.
set -euo pipefail
out=$(realpath "$1")
script=$(realpath "$2")
shift 2
. "$(dirname "$0")/kmod.sh"
kver=$(ls "$out/image/lib/modules")
mods="$out/image/lib/modules/$kver"
work=$(mktemp -d -t osvdi-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/initrd/bin" "$work/initrd/mod" "$work/initrd/proc" \
  "$work/initrd/sys" "$work/initrd/dev" "$work/initrd/host"
cp /bin/busybox "$work/initrd/bin/busybox"
osvdi_kmod_add "$mods" "$work/initrd/mod" drivers/virtio/virtio_pci \
  net/9p/9pnet_virtio fs/9p/9p virt/lib/irqbypass drivers/vfio/vfio \
  drivers/vfio/vfio_iommu_type1 drivers/vfio/mdev/mdev
cp "$out/mbochs.ko" "$out/mdpy.ko" "$out/mtty.ko" "$work/initrd/mod/"
printf '%s\n' mbochs mdpy mtty >> "$work/initrd/mod/order"
# OSVDI_VM_PORT=P forwards 127.0.0.1:P on the host to port 5900 in the VM.
net="" netup=""
if [ -n "${OSVDI_VM_PORT:-}" ]; then
  osvdi_kmod_add "$mods" "$work/initrd/mod" drivers/net/virtio_net
  net="-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$OSVDI_VM_PORT-:5900 -device virtio-net-pci,netdev=n0"
  netup="ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0"
fi

order=$(tr '\n' ' ' < "$work/initrd/mod/order")
args=""
for a in "$@"; do args="$args '$a'"; done
cat > "$work/initrd/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $order; do insmod /mod/\$m.ko || echo "OSVDI-VM: insmod \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /host
$netup
mount --bind /dev /host/dev
mount --bind /sys /host/sys
mount --bind /proc /host/proc
mount -t tmpfs tmpfs /host/run

echo OSVDI-VM-START
mkdir -p /host/run/tmp
chroot /host /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/run/tmp TMPDIR=/run/tmp TEMP=/run/tmp \
  OSVDI_IN_VM=1 $(env | grep -E '^(GST_|OSVDI_|G_|CK_|ASAN_|LSAN_|UBSAN_)' | sed "s/^/'/; s/\$/'/" | tr '\n' ' ') \
  /bin/sh '$script' $args
echo "OSVDI-VM-EXIT \$?"
poweroff -f
INIT
chmod +x "$work/initrd/init"
(cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

accel=tcg
# A hung guest must not hang the test suite.
timeout "${OSVDI_VM_TIMEOUT:-300}" qemu-system-x86_64 -accel $accel -cpu max -smp 2 -m 2048 -nodefaults \
  -display none -no-reboot -serial stdio -kernel "$out/vmlinuz" \
  -initrd "$work/initrd.gz" -append "console=ttyS0 quiet panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap $net \
  | tee "$work/console.log" | sed -n '/OSVDI-VM-START/,/OSVDI-VM-EXIT/p' \
  | grep -v -e '^OSVDI-VM-' -e '^\[ *[0-9.]*\]' || true
rc=$(sed -n 's/.*OSVDI-VM-EXIT \([0-9]*\).*/\1/p' "$work/console.log" | tail -1)
if [ -z "$rc" ]; then
  echo "the micro-VM did not finish the script; its console:" >&2
  tail -30 "$work/console.log" >&2
  exit 1
fi
exit "$rc"
