#!/usr/bin/env bash
# OSVDI - meson's entry to the micro-VM tests: build the sample drivers for
# Debian's kernel (once per build dir), then run PROGRAM [ARGS] in the VM.
# SPDX-License-Identifier: Apache-2.0
#   vm-test.sh OUTDIR PROGRAM [ARGS...]
set -uo pipefail
here=$(dirname "$(realpath "$0")")
out=$1
shift
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP the micro-VM test needs root (VFIO, apt for the kernel packages)"
  exit 0
fi
if ! "$here/build-modules.sh" "$out" > "$out.log" 2>&1; then
  echo "Bail out! building the sample mdev drivers failed:"
  sed 's/^/# /' "$out.log" | tail -20
  exit 1
fi
script=$(mktemp -t osvdi-vm-test.XXXXXX.sh)
trap 'rm -f "$script"' EXIT
printf 'exec' > "$script"
for a in "$@"; do printf " '%s'" "$a" >> "$script"; done
echo >> "$script"
chmod 644 "$script"
exec "$here/run.sh" "$out" "$script"
