#!/usr/bin/env bash
# OSVDI - meson's entry to the micro-VM tests: build the sample drivers for
# Debian's kernel (once per build dir), then run PROGRAM [ARGS] in the VM.
# SPDX-License-Identifier: Apache-2.0
#   vm-test.sh OUTDIR PROGRAM [ARGS...]
set -uo pipefail
here=$(dirname "$(realpath "$0")")
out=$1
shift
# A skip must read as one: meson counts a TAP plan "1..0 # SKIP" as skipped,
# and exit status 77 for a plain (exit-code) test; exit 0 there is a pass.
skip () {
  case " $* " in
    *" --tap "*) echo "1..0 # SKIP $reason"; exit 0 ;;
    *) echo "SKIP: $reason"; exit 77 ;;
  esac
}
if [ "$(id -u)" -ne 0 ]; then
  reason="the micro-VM test needs root (VFIO, apt for the kernel packages)"
  skip "$@"
fi
"$here/build-modules.sh" "$out" > "$out.log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
  reason="cannot build the sample mdev drivers here: $(tail -1 "$out.log")"
  skip "$@"
elif [ $rc -ne 0 ]; then
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
