#!/usr/bin/env bash
# OSVDI - a busybox initramfs for a small desktop VM: Linux's framebuffer
# console with a shell on it (tty1) whose output also goes to the serial
# port, so a test can see what was typed at the console.
# SPDX-License-Identifier: Apache-2.0
#
#   tests/vm/guest-initramfs.sh OUT.cpio.gz [KERNEL_DIR]
# KERNEL_DIR: what guest-kernel.sh made; its PS/2 mouse driver (a module in
# Debian's kernel) then comes along, and the guest reports what its mouse
# does on the serial port ("OSVDI-MOUSE" lines of /dev/input/mice packets).
# The virtio input driver comes too, as /vi.ko, not loaded: `insmod /vi.ko`
# turns a virtio-tablet-pci on (an absolute pointer, as a desktop has).
# Kernel command line words it reads: osvdi.pattern (first fill the
# framebuffer with four quadrants, red green / blue white, 32 bpp),
# osvdi.tablet (load the virtio tablet driver at boot), osvdi.cursor (load
# virtio-gpu's DRM driver and set a hardware cursor with guest-cursor.c at
# 300,200: "OSVDI-CURSOR 300 200" on the serial port).
set -euo pipefail
out=$(realpath -m "$1")
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" setsid true 2>/dev/null \
  || { echo "needs busybox-static (/bin/busybox)" >&2; exit 77; }
work=$(mktemp -d -t osvdi-initramfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/proc" "$work/sys" "$work/dev" "$work/tmp"
cp "$busybox" "$work/bin/busybox"
if [ -n "${2:-}" ]; then
  . "$(dirname "$0")/kmod.sh"
  kmods=$(ls -d "$2"/image/lib/modules/* | head -1)
  osvdi_kmod_add "$kmods" "$work/mod" drivers/virtio/virtio_pci
  osvdi_kmod_add "$kmods" "$work/mod/vi" drivers/virtio/virtio_input
  [ -f "$work/mod/vi/virtio_input.ko" ] && mv "$work/mod/vi/virtio_input.ko" "$work/vi.ko"
  rm -rf "$work/mod/vi"
  osvdi_kmod_add "$kmods" "$work/mod/ps" drivers/input/mouse/psmouse
  [ -f "$work/mod/ps/psmouse.ko" ] && mv "$work/mod/ps/psmouse.ko" "$work/mod/"
  rm -rf "$work/mod/ps"
  osvdi_kmod_add "$kmods" "$work/mod/gpu" drivers/gpu/drm/virtio/virtio-gpu
  # What the first set loads already (virtio on 6.1) is not loaded twice.
  grep -vxF -f "$work/mod/order" "$work/mod/gpu/order" > "$work/mod/gpu/order.t" || true
  mv "$work/mod/gpu/order.t" "$work/mod/gpu/order"
  # The guest's cursor program: static, from this tree (libdrm's headers).
  ${CC:-cc} -static -O2 -Wall -I/usr/include/libdrm \
    -o "$work/bin/guest-cursor" "$(dirname "$0")/guest-cursor.c"
fi
cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /tmp
echo OSVDI-GUEST-UP > /dev/ttyS0
[ -f /mod/order ] && for m in $(cat /mod/order); do insmod /mod/$m.ko; done
# osvdi.tablet on the command line: the virtio tablet from the start.
grep -q osvdi.tablet /proc/cmdline && [ -f /vi.ko ] && insmod /vi.ko
# osvdi.cursor: virtio-gpu's DRM driver, and a hardware cursor on it.
if grep -q osvdi.cursor /proc/cmdline && [ -x /bin/guest-cursor ]; then
  for m in $(cat /mod/gpu/order); do insmod /mod/gpu/$m.ko; done
  /bin/guest-cursor 300 200 > /dev/ttyS0 &
fi
if [ -f /mod/psmouse.ko ] && insmod /mod/psmouse.ko; then
  hexdump -v -e '"OSVDI-MOUSE " 3/1 "%02x " "\n"' /dev/input/mice > /dev/ttyS0 &
fi

# px FILE B G R: one 32-bit pixel, doubled to a 512-pixel run.
px () { printf "\\$2\\$3\\$4\\0" > "$1"; for i in 1 2 3 4 5 6 7 8 9; do cat "$1" "$1" > "$1.t"; mv "$1.t" "$1"; done; }
# rows FILE ROW: ROW repeated 384 times.
rows () { cp "$2" "$1"; for i in 1 2 3 4 5 6 7; do cat "$1" "$1" > "$1.t"; mv "$1.t" "$1"; done; cat "$1" "$1" "$1" > "$1.t"; mv "$1.t" "$1"; }
if grep -q osvdi.pattern /proc/cmdline && [ -e /dev/fb0 ]; then
  cd /tmp
  px r 000 000 377; px g 000 377 000; px b 377 000 000; px w 377 377 377
  cat r g > top; cat b w > bottom
  rows t top; rows u bottom
  echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
  cat t u > /dev/fb0
  echo "OSVDI-PATTERN $(cat /sys/class/graphics/fb0/virtual_size) $(cat /sys/class/graphics/fb0/bits_per_pixel)" > /dev/ttyS0
  rm -f r g b w top bottom t u
  cd /
fi
echo "OSVDI demo VM: a busybox shell. Type away." > /dev/tty1
while true; do
  setsid sh -c 'exec sh -i </dev/tty1 2>&1 | tee /dev/ttyS0 >/dev/tty1'
done
INIT
chmod 755 "$work/init"
(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
