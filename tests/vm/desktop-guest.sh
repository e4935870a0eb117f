#!/usr/bin/env bash
# OSVDI - a small graphical Debian guest for the desktop tests (issue #14):
# Xorg (modesetting on virtio-gpu's DRM driver), jwm, a maximized
# xterm, spice-vdagent, ALSA, root autologin on tty1 (startx) and ttyS0
# (a shell for tests), and osvdi-guest-agent, which prints on ttyS0
#   OSVDI-DESKTOP-READY <w>x<h>   once X is up and the xterm is mapped
#   OSVDI-MODE <w>x<h>            on each later change of the screen size
#   OSVDI-X-EXIT <rc>             if the X session ends (a failed start)
# SPDX-License-Identifier: Apache-2.0
#
#   desktop-guest.sh build DIR      make the image (or reuse the cached one)
#                                   and link disk.raw, vmlinuz, initrd.img
#                                   and info into DIR
#   desktop-guest.sh run DIR [--serial FILE] [--serial-socket SOCKET]
#                            [--qmp SOCKET] [-- QEMU ARGS...]
#                                   boot it under TCG (exec's QEMU: its PID
#                                   is the caller's child); QEMU ARGS are
#                                   the display and anything else; none:
#                                   -display none
#   desktop-guest.sh path           print the cache entry the script makes
#
# Why Debian 12 (bookworm): the guest's release matters little here (both 12
# and 13 have spice-vdagent 0.22.1; D-Bus audio needs QEMU >= 8 on the host,
# not a newer guest); bookworm is this host's release and mirror stanza, and
# its 6.1 kernel with systemd, Xorg and jwm reaches the desktop in ~19 s
# under TCG. DG_SUITE=trixie would need only the kernel module names checked.
#
# The image is Debian 12 (bookworm) from this host's own mirror, made with
# debootstrap and cached outside the clone in OSVDI_DESKTOP_GUEST_CACHE
# (default /var/cache/osvdi/desktop-guest), one folder per hash of the
# release, the package list and the configuration code below: a change to
# any rebuilds, older entries are removed. The disk is a sparse raw ext4
# image booted with snapshot=on: the cached copy never changes.
#
# run's environment: OSVDI_DESKTOP_SERIAL (the serial port's file, default
# DIR/serial.log), OSVDI_DESKTOP_SERIAL_SOCKET (also a Unix socket on the
# port, server, no wait: what a client writes is typed into the root shell
# on ttyS0, everything still logged to the file), OSVDI_DESKTOP_QMP (the QMP socket, default DIR/qmp.sock),
# OSVDI_DESKTOP_AUDIODEV (the -audiodev behind hda-duplex, default
# none,id=osvdisnd; keep id=osvdisnd, e.g. dbus,id=osvdisnd on QEMU >= 8),
# OSVDI_DESKTOP_SMP (2), OSVDI_DESKTOP_MEM (1536 MiB), OSVDI_DESKTOP_APPEND
# (more kernel command line words).
#
# The guest's agent on QEMU's D-Bus display: add
#   -display dbus,p2p=yes -chardev dbus,id=vdagent,name=com.redhat.spice.0
#   -device virtio-serial-pci
#   -device virtserialport,chardev=vdagent,name=com.redhat.spice.0
# (or any chardev, e.g. -chardev socket,id=vdagent,path=P,server=on,wait=off).
# The guest's spice-vdagentd starts when that port appears at boot (udev).
#
# Costs here (2 cores): build ~55 s (debootstrap ~25 s, packages ~25 s),
# disk 819 MiB sparse, ~470 MiB used; boot to OSVDI-DESKTOP-READY ~19 s.
# Mesa's DRI drivers and LLVM are left out (dpkg path-exclude): Xorg runs
# without glamor (AccelMethod none).
#
# Heavy: a build downloads ~230 MB and a boot is a TCG VM; on a shared
# machine run both under `flock /tmp/osvdi-heavy.lock`. Needs root,
# debootstrap and e2fsprogs for build, qemu-system-x86 for run; exits 77
# when they are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

DG_SUITE=bookworm
DG_CACHE=${OSVDI_DESKTOP_GUEST_CACHE:-/var/cache/osvdi/desktop-guest}
# Everything in the guest, on top of debootstrap's minbase; no recommends.
DG_PACKAGES="systemd systemd-sysv udev dbus libpam-systemd kmod procps
  linux-image-amd64 initramfs-tools
  xserver-xorg-core xserver-xorg-input-libinput xinit xauth x11-xserver-utils
  x11-utils xterm xfonts-base fonts-dejavu-core jwm xclip
  spice-vdagent alsa-utils"

dg_skip () { echo "SKIP: $*" >&2; exit 77; }

# Writes the guest's configuration into the root $1 (before the packages:
# dpkg and initramfs-tools read theirs while installing). Part of the hash.
dg_configure_pre () {
  local r=$1
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$r/etc/apt/apt.conf.d/90osvdi"
  cat > "$r/etc/dpkg/dpkg.cfg.d/90osvdi-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  # Mesa's DRI drivers and the LLVM they need (~160 MB): Xorg runs without
  # glamor (AccelMethod none below), as on any VM without virgl; nothing
  # else here uses GL.
  cat > "$r/etc/dpkg/dpkg.cfg.d/90osvdi-nogl" <<'DPKG'
path-exclude /usr/lib/x86_64-linux-gnu/dri/*
path-exclude /usr/lib/x86_64-linux-gnu/libLLVM*
path-exclude /usr/lib/x86_64-linux-gnu/libz3.so*
DPKG
  # A small initrd: only what mounts /dev/vda.
  mkdir -p "$r/etc/initramfs-tools/conf.d"
  echo MODULES=list > "$r/etc/initramfs-tools/conf.d/osvdi"
  printf '%s\n' virtio_pci virtio_blk crc32c_generic ext4 > "$r/etc/initramfs-tools/modules"
}

# The guest itself, after the packages. Part of the hash.
dg_configure () {
  local r=$1
  rm -f "$r/usr/sbin/policy-rc.d"
  echo osvdi-desktop > "$r/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 osvdi-desktop\n' > "$r/etc/hosts"
  echo '/dev/vda / ext4 rw,noatime 0 1' > "$r/etc/fstab"
  chroot "$r" passwd -d root >/dev/null
  # Autologin as root on tty1 (X) and on ttyS0 (a shell for tests).
  mkdir -p "$r/etc/systemd/system/getty@tty1.service.d" \
    "$r/etc/systemd/system/serial-getty@ttyS0.service.d"
  cat > "$r/etc/systemd/system/getty@tty1.service.d/osvdi.conf" <<'UNIT'
[Service]
Type=simple
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear %I $TERM
UNIT
  cat > "$r/etc/systemd/system/serial-getty@ttyS0.service.d/osvdi.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 - $TERM
UNIT
  # Nothing the tests do not need at boot.
  for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
      e2scrub_all.timer fstrim.timer systemd-timesyncd.service \
      systemd-networkd-wait-online.service; do
    ln -sf /dev/null "$r/etc/systemd/system/$u"
  done
  mkdir -p "$r/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\n' > "$r/etc/systemd/journald.conf.d/osvdi.conf"
  mkdir -p "$r/etc/X11/xorg.conf.d"
  cat > "$r/etc/X11/xorg.conf.d/10-osvdi.conf" <<'XORG'
Section "Device"
    Identifier "virtio-gpu"
    Driver "modesetting"
    Option "AccelMethod" "none"
EndSection
Section "ServerFlags"
    Option "BlankTime" "0"
    Option "StandbyTime" "0"
    Option "SuspendTime" "0"
    Option "OffTime" "0"
EndSection
XORG
  cat > "$r/root/.profile" <<'PROFILE'
# OSVDI: the desktop on tty1; a plain shell elsewhere (ttyS0).
if [ "$(tty)" = /dev/tty1 ] && [ -z "${DISPLAY:-}" ]; then
  startx > /var/log/osvdi-x.log 2>&1
  printf '\r\nOSVDI-X-EXIT %s\r\n' "$?" > /dev/ttyS0
fi
PROFILE
  cat > "$r/root/.xinitrc" <<'XINITRC'
#!/bin/sh
xsetroot -solid '#2e5a88'
exec jwm
XINITRC
  # jwm: a task bar at the bottom, gradient title bars, the xterm maximized,
  # the session's programs once jwm manages the screen.
  cat > "$r/root/.jwmrc" <<'JWMRC'
<?xml version="1.0"?>
<JWM>
  <Tray x="0" y="-1" height="28" autohide="off">
    <TrayButton label="OSVDI">exec:xterm</TrayButton>
    <TaskList maxwidth="256"/>
    <Clock format="%H:%M">xterm</Clock>
  </Tray>
  <WindowStyle>
    <Font>DejaVu Sans-10:bold</Font>
    <Width>4</Width>
    <Height>24</Height>
    <Foreground>#d0d0d0</Foreground>
    <Background>#888a85:#555753</Background>
    <Active>
      <Foreground>#ffffff</Foreground>
      <Background>#729fcf:#204a87</Background>
    </Active>
  </WindowStyle>
  <TrayStyle>
    <Font>DejaVu Sans-10</Font>
    <Foreground>#ffffff</Foreground>
    <Background>#3c3c3c:#1c1c1c</Background>
  </TrayStyle>
  <Desktops width="1" height="1"/>
  <Group>
    <Class>XTerm</Class>
    <Option>maximized</Option>
  </Group>
  <StartupCommand>/usr/local/bin/osvdi-session</StartupCommand>
</JWM>
JWMRC
  # Run by jwm once it manages the screen.
  cat > "$r/usr/local/bin/osvdi-session" <<'SESSION'
#!/bin/sh
# OSVDI: the session's programs, started by jwm once it is up.
xterm -fa 'DejaVu Sans Mono' -fs 11 -T osvdi-xterm -e /bin/bash -l &
# Exits at once when there is no com.redhat.spice.0 port: first let udev
# finish the boot's devices (virtio_console and its ports come late under
# TCG; seen: the agent gone before its port was there).
udevadm settle --timeout=60
spice-vdagent
exec osvdi-guest-agent
SESSION
  cat > "$r/usr/local/bin/osvdi-guest-agent" <<'AGENT'
#!/bin/sh
# OSVDI - tells the host on the serial port when the desktop is up and when
# the screen's size changes: "OSVDI-DESKTOP-READY WxH", then "OSVDI-MODE WxH".
# Runs in the X session (DISPLAY set). OSVDI_AGENT_OUT: where (/dev/ttyS0).
out=${OSVDI_AGENT_OUT:-/dev/ttyS0}
say () { printf '\r\n%s\r\n' "$*" > "$out"; }
mode () {
  xrandr --current | sed -n 's/^Screen 0:.* current \([0-9]*\) x \([0-9]*\),.*/\1x\2/p'
}
# Ready: the xterm is viewable (jwm has mapped it); xwininfo waits for
# nothing, so wait on X's own events: xev reports the root's substructure.
ready=0
for i in $(seq 1 600); do
  xwininfo -root -tree 2>/dev/null | grep -q '"osvdi-xterm"' && {
    xwininfo -name osvdi-xterm 2>/dev/null | grep -q 'Map State: IsViewable' && { ready=1; break; }
  }
  # Returns at the next map/configure on the screen (or after 1 s).
  timeout 1 xev -root -event substructure 2>/dev/null | grep -q -m1 -e MapNotify -e ConfigureNotify || true
done
[ "$ready" = 1 ] || say "OSVDI-DESKTOP-FAILED no xterm window"
# Randr events first, then the first size: no change falls in between.
xev -root -event randr 2>/dev/null | {
  last=$(mode)
  say "OSVDI-DESKTOP-READY $last"
  while read -r line; do
    case "$line" in
      RRScreenChangeNotify*)
        m=$(mode)
        [ -n "$m" ] && [ "$m" != "$last" ] && { last=$m; say "OSVDI-MODE $m"; } ;;
    esac
  done
}
AGENT
  chmod 755 "$r/usr/local/bin/osvdi-session" "$r/usr/local/bin/osvdi-guest-agent"
}

dg_hash () {
  { echo "$DG_SUITE"; echo $DG_PACKAGES; declare -f dg_configure_pre dg_configure dg_prune; } |
    sha256sum | cut -c1-16
}

# Keeps the kernel modules a desktop VM can use (virtio, DRM, sound, input,
# HID, USB, 9p, filesystems' helpers) and what they need: ~300 MB less.
dg_prune () {
  local r=$1 kver=$2 d keep
  d=$r/lib/modules/$kver
  keep=$(mktemp)
  # Wanted modules, then their dependencies from modules.dep.
  sed 's/:.*//' "$d/modules.dep" | grep -E '^kernel/(drivers/(virtio|block/virtio_blk|char|gpu/drm/(virtio|tiny)|input|hid|usb|net/virtio_net)|sound/(core|pci/hda|usb)|net/9p|fs/(ext4|autofs|9p|fuse|isofs|fat|nls)|crypto|lib)(/|\.ko)' > "$keep" || true
  awk -F': *' 'NR == FNR { k[$1] = 1; next } ($1 in k) { print $1; n = split($2, a, " "); for (i = 1; i <= n; i++) print a[i] }' \
    "$keep" "$d/modules.dep" | sort -u > "$keep.all"
  (cd "$d" && find kernel -name '*.ko*' | sort) > "$keep.have"
  comm -23 "$keep.have" "$keep.all" | (cd "$d" && xargs -r rm -f)
  find "$d/kernel" -type d -empty -delete
  rm -rf "$r/usr/lib/firmware" "$r/lib/firmware"
  chroot "$r" depmod "$kver"
  rm -f "$keep" "$keep.all" "$keep.have"
  for m in virtio_blk ext4 virtio-gpu virtio_console snd-hda-intel snd-hda-codec-generic usbhid; do
    chroot "$r" modinfo -k "$kver" -F filename "$m" >/dev/null ||
      { echo "desktop-guest: module $m is missing after pruning" >&2; return 1; }
  done
}

dg_mount () {
  local r=$1
  mount -t proc proc "$r/proc"
  mount --bind /dev "$r/dev"
  mount --bind /dev/pts "$r/dev/pts"
  mount -t tmpfs tmpfs "$r/run"
}
dg_umount () {
  local r=$1 m
  for m in run dev/pts dev proc; do
    mountpoint -q "$r/$m" && { umount "$r/$m" 2>/dev/null || umount -l "$r/$m"; }
  done
  return 0
}

dg_build () {
  local dir=$1 hash entry tmp root mirror t0 t1 t2 kver size rc=0
  [ "$(id -u)" = 0 ] || dg_skip "needs root (debootstrap, chroot)"
  command -v debootstrap >/dev/null || dg_skip "debootstrap is not installed"
  command -v mkfs.ext4 >/dev/null || dg_skip "mkfs.ext4 (e2fsprogs) is not installed"
  hash=$(dg_hash)
  entry=$DG_CACHE/$hash
  mkdir -p "$DG_CACHE" "$dir"
  exec {lk}>"$DG_CACHE/.lock"
  flock "$lk"
  if [ ! -f "$entry/done" ]; then
    OSVDI_DEBIAN13_LIB=1 . "$here/../openstack/debian13-root.sh"
    mirror=$(d13_mirror) || { echo "no Debian mirror in /etc/apt/sources.list(.d)" >&2; return 1; }
    tmp=$DG_CACHE/.build-$hash
    root=$tmp/root
    if [ -d "$tmp" ]; then dg_umount "$root"; rm -rf --one-file-system "$tmp"; fi
    mkdir -p "$root"
    t0=$(date +%s)
    echo "desktop-guest: debootstrap $DG_SUITE from $mirror" >&2
    nice -n 10 debootstrap --variant=minbase "$DG_SUITE" "$root" "$mirror" > "$tmp/debootstrap.log" 2>&1 ||
      { tail -20 "$tmp/debootstrap.log" >&2; return 1; }
    t1=$(date +%s)
    dg_configure_pre "$root"
    dg_mount "$root"
    trap 'dg_umount "$root"' EXIT
    { chroot "$root" env LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      nice -n 10 chroot "$root" env LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $DG_PACKAGES; } > "$tmp/apt.log" 2>&1 || rc=$?
    chroot "$root" apt-get clean || true
    dg_umount "$root"
    trap - EXIT
    [ $rc = 0 ] || { tail -30 "$tmp/apt.log" >&2; return $rc; }
    t2=$(date +%s)
    kver=$(ls "$root/lib/modules" | head -1)
    dg_prune "$root" "$kver"
    dg_configure "$root"
    chroot "$root" update-initramfs -u -k "$kver" > "$tmp/initramfs.log" 2>&1 ||
      { tail -20 "$tmp/initramfs.log" >&2; return 1; }
    mkdir -p "$tmp/out"
    cp "$root/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
    cp "$root/boot/initrd.img-$kver" "$tmp/out/initrd.img"
    rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin \
      "$root/var/log/"*.log "$root/tmp/"*
    # The filesystem: the root's size and a quarter more, at least 256 MiB free.
    size=$(du -sm --one-file-system "$root" | cut -f1)
    size=$(( size + size / 4 + 256 ))
    mkfs.ext4 -q -F -L osvdi-desktop -m 0 -d "$root" "$tmp/out/disk.raw" "${size}M"
    cat > "$tmp/out/info" <<INFO
suite=$DG_SUITE
kernel=$kver
hash=$hash
debootstrap_s=$(( t1 - t0 ))
install_s=$(( t2 - t1 ))
build_s=$(( $(date +%s) - t0 ))
disk_apparent_mib=$size
disk_used_mib=$(( $(du -k "$tmp/out/disk.raw" | cut -f1) / 1024 ))
root_mib=$(du -sm --one-file-system "$root" | cut -f1)
INFO
    rm -rf --one-file-system "$root"
    # Older entries go: one image at a time.
    find "$DG_CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" ! -name ".build-$hash" \
      -exec rm -rf --one-file-system {} +
    rm -rf "$entry"
    mv "$tmp/out" "$entry"
    mv "$tmp"/*.log "$entry/" 2>/dev/null || true
    rmdir "$tmp"
    touch "$entry/done"
    echo "desktop-guest: built in $(( $(date +%s) - t0 )) s: $(tr '\n' ' ' < "$entry/info")" >&2
  fi
  exec {lk}>&-
  for f in disk.raw vmlinuz initrd.img info; do ln -sfn "$entry/$f" "$dir/$f"; done
}

dg_run () {
  local dir=$1 serial qmp sersock
  shift
  serial=${OSVDI_DESKTOP_SERIAL:-$dir/serial.log}
  sersock=${OSVDI_DESKTOP_SERIAL_SOCKET:-}
  qmp=${OSVDI_DESKTOP_QMP:-$dir/qmp.sock}
  while [ $# -gt 0 ]; do
    case "$1" in
      --serial) serial=$2; shift 2 ;;
      --serial-socket) sersock=$2; shift 2 ;;
      --qmp) qmp=$2; shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  command -v qemu-system-x86_64 >/dev/null || dg_skip "qemu-system-x86_64 is not installed"
  [ -f "$dir/disk.raw" ] || { echo "no image in $dir: run '$0 build $dir' first" >&2; exit 1; }
  [ $# -gt 0 ] || set -- -display none
  rm -f "$qmp"
  local sargs=(-serial "file:$serial")
  if [ -n "$sersock" ]; then
    rm -f "$sersock"
    sargs=(-chardev "socket,id=serial0,path=$sersock,server=on,wait=off,logfile=$serial,logappend=on"
           -serial chardev:serial0)
  fi
  exec qemu-system-x86_64 -name osvdi-desktop -accel tcg -cpu max \
    -smp "${OSVDI_DESKTOP_SMP:-2}" -m "${OSVDI_DESKTOP_MEM:-1536}" \
    -nodefaults -no-user-config -no-reboot \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0,115200 quiet panic=-1 ${OSVDI_DESKTOP_APPEND:-}" \
    -drive "file=$dir/disk.raw,format=raw,if=virtio,snapshot=on,cache=unsafe" \
    -device virtio-vga \
    -audiodev "${OSVDI_DESKTOP_AUDIODEV:-none,id=osvdisnd}" \
    -device intel-hda -device hda-duplex,audiodev=osvdisnd \
    -device virtio-rng-pci \
    "${sargs[@]}" \
    -qmp "unix:$qmp,server=on,wait=off" \
    "$@"
}

case "${1:-}" in
  build) [ $# -ge 2 ] || { echo "usage: $0 build DIR" >&2; exit 2; }
         dg_build "$(realpath -m "$2")" ;;
  run) [ $# -ge 2 ] || { echo "usage: $0 run DIR [--serial F] [--serial-socket S] [--qmp S] [-- QEMU ARGS]" >&2; exit 2; }
       d=$(realpath -m "$2"); shift 2; dg_run "$d" "$@" ;;
  path) echo "$DG_CACHE/$(dg_hash)" ;;
  *) echo "usage: $0 build DIR | run DIR [--serial FILE] [--serial-socket S] [--qmp SOCKET] [-- QEMU ARGS...] | path" >&2
     exit 2 ;;
esac
