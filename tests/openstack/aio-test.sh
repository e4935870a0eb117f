#!/usr/bin/env bash
# OSVDI - the real OpenStack all-in-one test (meson test openstack-aio).
# SPDX-License-Identifier: Apache-2.0
#
#   aio-test.sh BUILD_DIR
#
# Debian 13's Nova 31 (openstack/nova/series applied), Placement, Glance,
# Keystone, Neutron (server only), RabbitMQ, MariaDB, libvirtd and virtlogd
# run in the shared Debian 13 root (aio-lib.sh).  The launcher from
# BUILD_DIR runs on this host (Debian 12: its GStreamer, its libvirt 9
# client) against the root's libvirtd 11 over its Unix socket: the client
# receives every lifecycle event and virDomainOpenGraphicsFD passes QEMU's
# display fd back across the chroot (a Unix socket is one kernel's).  So the
# project is not built again in the root.  BUILD_DIR may be any build of the
# project: meson passes its own; a non-sanitized one is much faster (the
# launcher's pipelines encode x264 for the whole run), e.g.
#   OSVDI_SANITIZE=0 OSVDI_BUILDDIR=build/h scripts/test openstack-aio
#
#   OSVDI_AIO_PLAN=console aio-test.sh BUILD_DIR   (meson test openstack-console)
#
# Phases, each printed as `phase <name>: <seconds> s`:
#   services  the root (made/extended when needed), the Nova patches, every
#             service up, the guest images, the flavor
#   create    server create -> ACTIVE, one pipeline, a SPICE client sees the
#             guest's picture, keys it types reach the guest's shell
#   hard-reboot, soft-reboot, stop-start, suspend-resume
#             each ends with exactly one pipeline and the picture again
#   placement the encoder-session inventory and the server's allocation;
#             at capacity (total 1) a second server gets NoValidHost
#   delete    server delete -> pipeline, port, .vv and domain gone
# The console plan (users reach the desktop through Nova's console API,
# patch 0004; the launcher in console=proxy mode on a management network, a
# veth pair between this host and the stack's namespace) instead of the
# lifecycle and Placement phases:
#   proxy-mode    the session listens on the management address only, with
#                 no ticket, and says so in the domain's metadata
#   spice-direct  create_console spice-direct at 2.99 and the token's
#                 connection (GET /os-console-auth-tokens), as Kerbside does:
#                 a SPICE client there sees the picture, its keys reach the guest
#   html5         `openstack console url show --spice`: headless Chromium opens
#                 the URL (nova-spicehtml5proxy, spice-html5): the page shows
#                 the guest's picture, keys typed into it reach the guest
#   not-ready     the launcher stopped, a hard reboot: the API answers 409 "not
#                 ready", never a stale port; the launcher back: the new session
#   direct-mode   the launcher in its default mode (a ticket per session): Nova
#                 refuses the console with a clear 400; a SPICE client with no
#                 or a wrong ticket is refused, the .vv ticket works
# Needs root, debootstrap, nsenter and ip; exits 77 with the reason otherwise.
# Run it under `flock /tmp/osvdi-heavy.lock` on shared machines.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: aio-test.sh BUILD_DIR}")
. "$here/aio-lib.sh"

d13_check
for t in nsenter ip python3; do
  command -v $t >/dev/null || d13_skip "$t is not installed"
done
for f in launcher/osvdi-launcher launcher/osvdi-pipeline tests/osvdi-spice-probe \
    tests/osvdi-spice-type gst/libgstosvdi.so; do
  [ -e "$build/$f" ] || d13_skip "$build/$f is not built"
done

FLAVOR=vdi.small
PLAN=${OSVDI_AIO_PLAN:-lifecycle}
case "$PLAN" in
  lifecycle) ;;
  console)
    export AIO_CONSOLE=1
    # A still desktop again every 250 ms: spice-html5 shows a still picture
    # only once later frames follow (vfiodmabufsrc's still-interval).
    export AIO_SOURCE_EXTRA=${AIO_SOURCE_EXTRA:-still-interval=250}
    # The shipped flavors' encoder: spiceencbin, H.264 first. The
    # spice-direct client takes H.264; spice-html5 (VP8 and MJPEG only)
    # makes it switch to VP8 in the same session.
    export AIO_ENCODE=${AIO_ENCODE:-spiceencbin}
    command -v chromium >/dev/null ||
      d13_skip "no chromium (the browser console; Debian's package chromium)" ;;
  *) echo "OSVDI_AIO_PLAN: lifecycle or console, not '$PLAN'" >&2; exit 2 ;;
esac
PORT_MIN=${OSVDI_AIO_PORT_MIN:-26900}
PORT_MAX=$((PORT_MIN + 99))
# The guest: Debian's kernel and the busybox initramfs of the QEMU tests
# (osvdi.pattern: four coloured quadrants on a 1024x768 framebuffer, then a
# shell on tty1 whose output also goes to the serial port, i.e. Nova's
# console.log).
CMDLINE="console=tty0 console=ttyS0 quiet loglevel=3 vga=0x344 osvdi.pattern"
PATTERN="384,300,ff0000 768,192,00ff00 256,576,0000ff 768,576,ffffff"

# Without meson's environment: our plugin and the system's.
export GST_PLUGIN_PATH_1_0=${GST_PLUGIN_PATH_1_0:-$build/gst}
export GST_REGISTRY_1_0=${GST_REGISTRY_1_0:-$build/tests/registry-openstack-aio.bin}

# A launcher that an earlier run of this test left behind (stopped before
# its cleanup ran) would watch this run's libvirtd, start a pipeline for
# this run's VM and hold its port (seen once: 'port 26900 already in use').
for pidf in /tmp/osvdi-aio.*/launcher/launcher.pid; do
  [ -f "$pidf" ] || continue
  echo "aio: stopping a launcher an earlier run left: $(dirname "$pidf")" >&2
  aio_launcher_stop "$(dirname "$pidf")"
  rm -rf "$(dirname "$(dirname "$pidf")")"
done
tmp=$(mktemp -d -t osvdi-aio.XXXXXX)
cleanup () {
  local rc=$?
  set +e
  aio_launcher_stop "$tmp/launcher"
  if [ $rc != 0 ] && [ $rc != 77 ]; then
    echo "=== the launcher's log (tail)"; tail -n 60 "$tmp/launcher/launcher.log"
    for l in nova-compute nova-conductor nova-scheduler nova-api libvirtd; do
      [ -f "$AIO_LOG/$l.log" ] || continue
      echo "=== $l (errors, tail)"
      grep -E "ERROR|CRITICAL|Traceback|error :" "$AIO_LOG/$l.log" \
        | grep -v "ethtool ioctl error" | tail -n 20
    done
    echo "(all service logs: $AIO_LOG, kept until the next run)"
  fi 2>/dev/null
  aio_teardown
  aio_nova_unpatch
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

t_phase=0
phase_begin () { t_phase=$(date +%s); echo "== $1"; }
phase_end () { echo "phase $1: $(( $(date +%s) - t_phase )) s"; }

# --- helpers on the host's side -------------------------------------------

# PIDs of the osvdi-pipeline processes serving domain $1.
pipelines () {
  local p a
  for p in /proc/[0-9]*; do
    a=$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null) || continue
    case "$a" in
      *osvdi-pipeline*) ;;
      *) continue ;;
    esac
    [ "$(awk '{ print $3 }' "$p/stat" 2>/dev/null)" = Z ] && continue
    printf '%s\n' "$a" | grep -qxF -- "$1" && echo "${p#/proc/}"
  done
  return 0
}
one_pipeline () { [ "$(pipelines "$1" | wc -l)" = 1 ]; }
no_pipeline () { [ -z "$(pipelines "$1")" ]; }
# One pipeline, and not PID $2 (a fresh session).
new_pipeline () { one_pipeline "$1" && [ "$(pipelines "$1")" != "$2" ]; }

vv_get () { sed -n "s/^$2=//p" "$tmp/launcher/state/$1.vv" 2>/dev/null; }
has_vv () { [ -n "$(vv_get "$1" port)" ]; }
port_listens () { (exec 3<>"/dev/tcp/${SPICE_HOST:-127.0.0.1}/$1") 2>/dev/null; }

server_status () { aio_os server show "$1" -f value -c status; }
status_is () { [ "$(server_status "$1")" = "$2" ]; }

console_log () { echo "$AIO_ROOT/var/lib/nova/instances/$1/console.log"; }
console_has () { grep -qF -- "$2" "$(console_log "$1")" 2>/dev/null; }

# The SPICE client sees the guest's four quadrants.
picture () {
  local port pass
  port=$(vv_get "$1" port)
  pass=$(vv_get "$1" password)
  picture_at "${SPICE_HOST:-127.0.0.1}" "$port" "$pass"
}
# picture_at HOST PORT [TICKET]
picture_at () {
  "$build/tests/osvdi-spice-probe" --host "$1" --port "$2" ${3:+--password "$3"} \
    --seconds 240 $PATTERN
}

# After a lifecycle operation: exactly one pipeline (a fresh one unless
# $3 = same-or-new), its .vv, and the picture; prints the seconds taken.
settled () {
  local id=$1 old=$2 t0=$3
  if [ "${4:-}" = same-or-new ]; then
    aio_wait "$id: one pipeline" 120 one_pipeline "$id"
  else
    aio_wait "$id: a new pipeline (was $old)" 120 new_pipeline "$id" "$old"
  fi
  aio_wait "$id: its .vv" 60 has_vv "$id"
  picture "$id"
  aio_wait "$id: still exactly one pipeline" 30 one_pipeline "$id"
  echo "$id: one pipeline ($(pipelines "$id")), picture after $(( $(date +%s) - t0 )) s"
}

# --- phase 1: the root and the stack ----------------------------------------
phase_begin services
d13_build
d13_install openstack
[ "$PLAN" != console ] || d13_install console
aio_mount
aio_stop_all                 # whatever a killed earlier run left running
[ "$PLAN" != console ] || aio_mgmt_net
aio_nova_patch
kernel=$("$here/../vm/guest-kernel.sh" "$build/tests/vm")
initrd=$("$here/../vm/guest-initramfs.sh" "$build/tests/osvdi-guest.cpio.gz" "$build/tests/vm")
AIO_LAUNCHER=$build/launcher/osvdi-launcher \
  aio_provider_config "$AIO_ROOT$AIO_PROVIDER_DIR_IN/osvdi.yaml" 2
aio_services_up
image=$(aio_guest_images "$kernel" "$initrd" "$CMDLINE")
aio_flavor_create "$FLAVOR"
rp=$(aio_rp_uuid)
echo "Nova $(chroot "$AIO_ROOT" dpkg-query -W -f '${Version}' python3-nova)," \
  "image $image, resource provider $rp"
phase_end services

# --- phase 2: create ----------------------------------------------------------
phase_begin create
if [ "$PLAN" = console ]; then
  export AIO_LAUNCHER_CONSOLE=proxy AIO_LAUNCHER_ADDRESS=$AIO_MGMT_HOST
  SPICE_HOST=$AIO_MGMT_HOST
fi
aio_launcher_conf "$tmp/launcher" "$AIO_LIBVIRT_URI" "$PORT_MIN" "$PORT_MAX" \
  "$build/launcher/osvdi-pipeline" "$FLAVOR"
aio_launcher_start "$tmp/launcher" "$build/launcher/osvdi-launcher"
t0=$(date +%s)
aio_os server create --flavor "$FLAVOR" --image osvdi-guest --nic none --wait \
  osvdi-aio-1 >/dev/null
id=$(aio_os server show osvdi-aio-1 -f value -c id)
echo "server $id ACTIVE after $(( $(date +%s) - t0 )) s"
xml=$(aio_in virsh -c qemu:///system dumpxml "$id")
grep -q "<graphics type='dbus' p2p='yes'/>" <<< "$xml" \
  || aio_die "the domain has no D-Bus display: $(grep -A2 '<graphics' <<< "$xml")"
! grep -qE "<graphics type='(vnc|spice)'" <<< "$xml" \
  || aio_die "the domain still has Nova's own VNC/SPICE graphics"
aio_wait "$id: the launcher starts one pipeline" 120 one_pipeline "$id"
aio_wait "$id: its .vv" 60 has_vv "$id"
# The launcher publishes the session in the domain's metadata too.
osvdi_meta () {
  aio_in virsh -c qemu:///system metadata "$id" "https://opendev.org/osvdi/xmlns/libvirt/1.0" \
    | grep -q "$(vv_get "$id" port)"
}
aio_wait "$id: the session in the domain's OSVDI metadata" 60 osvdi_meta
picture "$id"
echo "$id: picture after $(( $(date +%s) - t0 )) s"
aio_wait "$id: the guest's shell prompt on its serial port" 120 console_has "$id" "# "
"$build/tests/osvdi-spice-type" --host "${SPICE_HOST:-127.0.0.1}" --port "$(vv_get "$id" port)" \
  --password "$(vv_get "$id" password)" 'expr 4000 - 3\n'
aio_wait "$id: what the client typed reached the guest (3997 on its serial port)" \
  60 console_has "$id" 3997
phase_end create

if [ "$PLAN" = console ]; then
  . "$here/aio-console.sh"
  aio_console_phases
else
# --- phase 3: lifecycle -------------------------------------------------------
phase_begin hard-reboot
old=$(pipelines "$id"); t0=$(date +%s)
aio_os server reboot --hard --wait "$id" >/dev/null
settled "$id" "$old" "$t0"
phase_end hard-reboot

phase_begin soft-reboot
old=$(pipelines "$id"); t0=$(date +%s)
aio_os server reboot --soft --wait "$id" >/dev/null
settled "$id" "$old" "$t0" same-or-new
if grep -q "Instance soft rebooted successfully" "$AIO_LOG/nova-compute.log"; then
  echo "soft reboot: the guest shut down, Nova started it again from the same XML"
else
  echo "soft reboot: the guest ignores ACPI, so Nova fell back to a hard reboot" \
    "after [libvirt] wait_soft_reboot_seconds"
fi
phase_end soft-reboot

phase_begin stop-start
old=$(pipelines "$id"); t0=$(date +%s)
aio_os server stop "$id"
aio_wait "$id: SHUTOFF" "$AIO_WAIT_SERVER" status_is "$id" SHUTOFF
aio_wait "$id: no pipeline while it is off" 60 no_pipeline "$id"
aio_os server start "$id"
aio_wait "$id: ACTIVE" "$AIO_WAIT_SERVER" status_is "$id" ACTIVE
settled "$id" "$old" "$t0"
phase_end stop-start

phase_begin suspend-resume
old=$(pipelines "$id"); t0=$(date +%s)
aio_os server suspend "$id"
aio_wait "$id: SUSPENDED" "$AIO_WAIT_SERVER" status_is "$id" SUSPENDED
aio_wait "$id: no pipeline while it is suspended" 60 no_pipeline "$id"
aio_os server resume "$id"
aio_wait "$id: ACTIVE" "$AIO_WAIT_SERVER" status_is "$id" ACTIVE
settled "$id" "$old" "$t0"
phase_end suspend-resume

# --- phase 4: Placement -------------------------------------------------------
phase_begin placement
inv_total () {
  aio_os resource provider inventory show "$rp" "$AIO_RC" -f value -c total
}
aio_os resource provider inventory list "$rp"
[ "$(inv_total)" = 2 ] || aio_die "$AIO_RC total is '$(inv_total)', not 2"
used=$(aio_os resource provider usage show "$rp" -f value | awk -v rc="$AIO_RC" '$1 == rc { print $2 }')
[ "$used" = 1 ] || aio_die "$AIO_RC usage is '$used', not 1"
alloc=$(aio_os resource provider allocation show "$id" -f json)
python3 -c 'import json, sys
a = json.loads(sys.argv[1])
n = sum(r["resources"].get(sys.argv[2], 0) for r in a)
sys.exit(0 if n == 1 else "allocation of %s: %s" % (sys.argv[2], a))' "$alloc" "$AIO_RC"
echo "$id holds 1 $AIO_RC of 2"
# At capacity: total 1 (nova-compute reads its provider config at start).
AIO_LAUNCHER=$build/launcher/osvdi-launcher \
  aio_provider_config "$AIO_ROOT$AIO_PROVIDER_DIR_IN/osvdi.yaml" 1
aio_stop nova-compute
aio_start_compute
aio_wait_compute
total_is_1 () { [ "$(inv_total)" = 1 ]; }
aio_wait "$AIO_RC total 1" 120 total_is_1
rc=0
aio_os server create --flavor "$FLAVOR" --image osvdi-guest --nic none --wait \
  osvdi-aio-2 >/dev/null 2>&1 || rc=$?
[ $rc != 0 ] || aio_die "a second server was placed beyond the encoder sessions"
id2=$(aio_os server show osvdi-aio-2 -f value -c id)
fault=$(aio_os server show osvdi-aio-2 -f json)
status_is "$id2" ERROR || aio_die "osvdi-aio-2: $(server_status "$id2"), not ERROR"
# The API's fault (when the CLI shows it) or the conductor's log says why.
if ! grep -q "No valid host" <<< "$fault"; then
  grep -F "[instance: $id2]" "$AIO_LOG/nova-conductor.log" | grep -q "NoValidHost\|No valid host" \
    || aio_die "osvdi-aio-2 failed, but not with NoValidHost: $fault"
fi
echo "osvdi-aio-2 ($id2): ERROR, No valid host was found (1 of 1 $AIO_RC in use)"
aio_os server delete --wait osvdi-aio-2
one_pipeline "$id" || aio_die "$id: not one pipeline after the nova-compute restart"
phase_end placement
fi

# --- phase 5: delete ----------------------------------------------------------
phase_begin delete
port=$(vv_get "$id" port)
t0=$(date +%s)
aio_os server delete --wait "$id"
echo "deleted in $(( $(date +%s) - t0 )) s"
aio_wait "$id: pipeline gone" 60 no_pipeline "$id"
vv_gone () { [ ! -e "$tmp/launcher/state/$id.vv" ]; }
aio_wait "$id: .vv gone" 60 vv_gone
port_free () { ! port_listens "$port"; }
aio_wait "port $port free" 60 port_free
domain_gone () { ! aio_in virsh -c qemu:///system dominfo "$id"; }
aio_wait "$id: the domain (and its OSVDI metadata) gone" 60 domain_gone
phase_end delete

aio_launcher_stop "$tmp/launcher"
aio_teardown
aio_nova_unpatch
echo "root: $(du -sh --one-file-system "$AIO_ROOT" | cut -f1)"
echo "PASS: openstack-$([ "$PLAN" = console ] && echo console || echo aio)"
