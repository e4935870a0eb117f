#!/usr/bin/env bash
# OSVDI - the guest's display, captured by vfiodmabufsrc inside the micro-VM
# and served by spicesink there, seen by a real SPICE client outside the VM
# through QEMU's user-network port forward.
# SPDX-License-Identifier: Apache-2.0
#   spice-through-vm.sh OUTDIR GUEST_PROGRAM PROBE_PROGRAM
set -uo pipefail
here=$(dirname "$(realpath "$0")")
out=$1 guest=$2 probe=$3
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the micro-VM test needs root"
  exit 77
fi
"$here/build-modules.sh" "$out" > "$out.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -20 "$out.log"
  [ $rc -eq 77 ] && echo "SKIP: cannot build the sample mdev drivers here"
  exit $rc
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
script="$out/guest-spice.sh"
printf "exec '%s' 150\n" "$guest" > "$script"
OSVDI_VM_PORT=$port OSVDI_VM_TIMEOUT=200 "$here/run.sh" "$out" "$script" > "$out/vm-console.log" 2>&1 &
vm=$!
# Four quadrants: red, green / blue, white.
"$probe" --port "$port" --seconds 180 256,192,ff0000 768,192,00ff00 \
  256,576,0000ff 768,576,ffffff
rc=$?
kill "$vm" 2>/dev/null
pkill -f "hostfwd=tcp:127.0.0.1:$port-" 2>/dev/null
wait "$vm" 2>/dev/null
if [ $rc -ne 0 ]; then
  echo "---- VM console ----"
  tail -30 "$out/vm-console.log"
fi
exit $rc
