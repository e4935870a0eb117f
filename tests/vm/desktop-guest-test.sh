#!/usr/bin/env bash
# OSVDI - the desktop guest's smoke test: build (or reuse) the image, boot
# it under TCG with -display none, wait for OSVDI-DESKTOP-READY on the
# serial port, check a QMP screendump is the desktop (jwm over a
# maximized xterm, many colours), and that the guest's spice-vdagent
# announced itself on a com.redhat.spice.0 port (a socket chardev here);
# then QMP quit.
# SPDX-License-Identifier: Apache-2.0
#
#   tests/vm/desktop-guest-test.sh          (meson test desktop-guest)
# OSVDI_DESKTOP_DIR: where build links the image (default: a temp dir);
# OSVDI_DESKTOP_BOOT_TIMEOUT: seconds to the ready line (default 420).
# Exits 77 when not root, without debootstrap, qemu-system-x86_64 or
# python3. In the Debian 13 root (tests/debian13/run.sh) the image the
# Debian 12 half made is bind-mounted from the host's cache: the same guest
# boots on QEMU 10.
# Heavy: on a shared machine run it under `flock /tmp/osvdi-heavy.lock`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
skip () { echo "SKIP: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
host=$here/desktop-guest-host.py

work=$(mktemp -d -t osvdi-desktop.XXXXXX)
qpid="" apid=""
cleanup () {
  [ -z "$apid" ] || kill "$apid" 2>/dev/null || true
  [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail () {
  echo "FAIL: $*" >&2
  if [ -s "$work/serial.log" ]; then
    echo "-- the guest's serial port, last 60 lines:" >&2
    tail -n 60 "$work/serial.log" | tr -d '\r' >&2
  fi
  exit 1
}
now () { date +%s.%N; }
secs () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

dir=${OSVDI_DESKTOP_DIR:-$work/guest}
t0=$(now)
"$here/desktop-guest.sh" build "$dir" || { rc=$?; [ $rc = 77 ] && exit 77; fail "build failed ($rc)"; }
t1=$(now)
echo "image: $(secs "$t0" "$t1") s to build or reuse; $(tr '\n' ' ' < "$dir/info")"

: > "$work/serial.log"
t2=$(now)
"$here/desktop-guest.sh" run "$dir" --serial "$work/serial.log" --serial-socket "$work/serial.sock" \
  --qmp "$work/qmp.sock" -- \
  -display none \
  -chardev "socket,id=vdagent,path=$work/vdagent.sock,server=on,wait=off" \
  -device virtio-serial-pci \
  -device virtserialport,chardev=vdagent,name=com.redhat.spice.0 &
qpid=$!
timeout=${OSVDI_DESKTOP_BOOT_TIMEOUT:-420}
# The agent's host end, connected before the guest opens its port.
mkfifo "$work/resize"
python3 "$host" vdagent "$work/vdagent.sock" "$timeout" "$work/resize" \
  > "$work/vdagent.log" 2>&1 &
apid=$!

# The ready line, a failure line, or QEMU gone.
line=$(python3 "$host" wait-serial "$work/serial.log" "$qpid" "$timeout" \
  'OSVDI-DESKTOP-READY [0-9]+x[0-9]+|OSVDI-DESKTOP-FAILED.*|OSVDI-X-EXIT.*|Kernel panic.*') || true
t3=$(now)
case "$line" in
  OSVDI-DESKTOP-READY*) ;;
  "") kill -0 "$qpid" 2>/dev/null && fail "no OSVDI-DESKTOP-READY in $timeout s"
      fail "QEMU exited before OSVDI-DESKTOP-READY" ;;
  *) fail "the guest said: $line" ;;
esac
mode=${line#OSVDI-DESKTOP-READY }
echo "boot: OSVDI-DESKTOP-READY $mode $(secs "$t2" "$t3") s after QEMU started (TCG)"

python3 "$host" qmp "$work/qmp.sock" screendump "{\"filename\": \"$work/screen.ppm\"}" >/dev/null ||
  fail "QMP screendump"
[ -z "${OSVDI_DESKTOP_SCREENSHOT:-}" ] || cp "$work/screen.ppm" "$OSVDI_DESKTOP_SCREENSHOT"
python3 "$host" check-desktop "$work/screen.ppm" "$mode" || fail "the screendump is not the desktop"

# spice-vdagent came up on the port: its announce arrived at the host end.
if ! python3 "$host" wait-serial "$work/vdagent.log" "$apid" 60 'VD_AGENT_ANNOUNCE_CAPABILITIES.*'; then
  cat "$work/vdagent.log"
  # The guest's side of it, from its root shell on ttyS0.
  python3 "$host" type "$work/serial.sock" 'ls -l /dev/virtio-ports; pgrep -a spice-vdagent; systemctl --no-pager status spice-vdagentd.socket spice-vdagentd.service | grep -E "Active|Main"; journalctl -b --no-pager | grep -i vdagent | tail -n 15; echo OSVDI-DIAG-DONE' || true
  python3 "$host" wait-serial "$work/serial.log" "$qpid" 30 '^OSVDI-DIAG-DONE' >/dev/null || true
  fail "no VD_AGENT_ANNOUNCE_CAPABILITIES from the guest's spice-vdagent"
fi

# A client's resize: VD_AGENT_MONITORS_CONFIG to the agent, which sets the
# mode with RandR; the guest's agent line tells the new size.
t4=$(now)
timeout 30 sh -c "echo 1024x768 > '$work/resize'" || fail "the vdagent helper took no resize"
python3 "$host" wait-serial "$work/serial.log" "$qpid" 120 'OSVDI-MODE [0-9]+x[0-9]+' > "$work/mode" ||
  { cat "$work/vdagent.log"; fail "no OSVDI-MODE after VD_AGENT_MONITORS_CONFIG 1024x768"; }
t5=$(now)
[ "$(cat "$work/mode")" = "OSVDI-MODE 1024x768" ] || fail "the guest said $(cat "$work/mode"), not 1024x768"
echo "resize: $(cat "$work/mode") $(secs "$t4" "$t5") s after VD_AGENT_MONITORS_CONFIG"
# The next picture is the new size; jwm lays the desktop out again (its
# events come after the mode's: screendumps are checked, for at most 30 s,
# until one is).
ok=0 end=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -le $end ]; do
  python3 "$host" qmp "$work/qmp.sock" screendump "{\"filename\": \"$work/screen2.ppm\"}" >/dev/null ||
    fail "QMP screendump"
  python3 "$host" check-desktop "$work/screen2.ppm" 1024x768 > "$work/check2" && { ok=1; break; }
done
cat "$work/check2"
[ -z "${OSVDI_DESKTOP_SCREENSHOT:-}" ] || cp "$work/screen2.ppm" "${OSVDI_DESKTOP_SCREENSHOT%.ppm}-1024x768.ppm"
[ $ok = 1 ] || fail "the screendump after the resize is not the desktop at 1024x768"
wait "$apid" || fail "the vdagent helper failed"
apid=""
cat "$work/vdagent.log"

python3 "$host" qmp "$work/qmp.sock" quit >/dev/null || fail "QMP quit"
timeout 30 tail --pid="$qpid" -f /dev/null || fail "QEMU still running 30 s after quit"
wait "$qpid" 2>/dev/null || true
qpid=""
echo "desktop-guest: ok (build $(secs "$t0" "$t1") s, desktop $(secs "$t2" "$t3") s)"
