#!/usr/bin/env bash
# OSVDI - our Nova patch series against the Nova it patches: Debian 13's
# python3-nova 31.0.0, in the shared Debian 13 root (debian13-root.sh).
# SPDX-License-Identifier: Apache-2.0
#
#   nova-unit.sh                 apply openstack/nova/series to a copy of the
#                                root's Nova tree, run the touched modules'
#                                unit tests (the new ones among them)
#   OSVDI_NOVA_UNIT_MODE=tests-only nova-unit.sh
#                                the same tests, but every non-test file back
#                                to stock Nova: the new tests must fail
#   OSVDI_NOVA_UNIT_TESTS="mod ..." nova-unit.sh
#                                only these test modules (or test ids)
#
# Each module runs in its own python3 process (Nova's tests register config
# options at run time; one process for all leaks them between modules).
# Needs root and debootstrap; exits 77 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
patches=${OSVDI_NOVA_PATCHES:-$src/openstack/nova}
mode=${OSVDI_NOVA_UNIT_MODE:-patched}
tests=${OSVDI_NOVA_UNIT_TESTS:-"
  nova.tests.unit.virt.libvirt.test_config
  nova.tests.unit.virt.libvirt.test_driver
  nova.tests.unit.api.validation.extra_specs.test_validators
  nova.tests.unit.conf.test_dbus_display
"}

OSVDI_DEBIAN13_LIB=1 . "$here/debian13-root.sh"
d13_check
[ -f "$patches/series" ] || { echo "no series file in $patches" >&2; exit 1; }

t0=$(date +%s)
d13_build
d13_install nova-unit
echo "root ready: $(( $(date +%s) - t0 )) s" >&2

nova_dist=$D13_ROOT/usr/lib/python3/dist-packages/nova
[ -d "$nova_dist/tests/unit" ] || { echo "no Nova unit tests in $nova_dist" >&2; exit 1; }
version=$(d13_chroot dpkg-query -W -f '${Version}' python3-nova)
echo "Nova: python3-nova $version" >&2

# A scratch copy inside the root (the tests import nova from it, not from
# dist-packages: python3 puts the working directory first on sys.path).
work_rel=/var/tmp/osvdi-nova-unit.$$
work=$D13_ROOT$work_rel
cleanup () {
  rm -rf --one-file-system "$work"
  d13_umount
}
trap cleanup EXIT
mkdir -p "$work"
cp -a "$nova_dist" "$work/nova"
find "$work/nova" -name __pycache__ -prune -exec rm -rf {} +

# Every patch must apply cleanly on top of the ones before it: a dry run
# first, so that a patch that does not apply leaves nothing half-applied.
mapfile -t series < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$patches/series")
[ ${#series[@]} -gt 0 ] || { echo "empty series" >&2; exit 1; }
for p in "${series[@]}"; do
  if ! msg=$(cd "$work" && patch -p1 --dry-run --forward --batch --fuzz=0 \
             < "$patches/$p" 2>&1); then
    printf '%s\n' "$msg" >&2
    echo "FAIL: $p does not apply (python3-nova $version)" >&2
    exit 1
  fi
  (cd "$work" && patch -p1 -s --forward --batch --fuzz=0 \
     --no-backup-if-mismatch < "$patches/$p")
  echo "applied $p" >&2
done

if [ "$mode" = tests-only ]; then
  # Put back (or remove) everything the series changed outside nova/tests/.
  for f in $(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "${series[@]/#/$patches/}" | sort -u); do
    case "$f" in nova/tests/*) continue ;; esac
    if [ -e "$D13_ROOT/usr/lib/python3/dist-packages/$f" ]; then
      cp -a "$D13_ROOT/usr/lib/python3/dist-packages/$f" "$work/$f"
    else
      rm -f "$work/$f"
    fi
    echo "tests-only: $f is stock Nova's again" >&2
  done
elif [ "$mode" != patched ]; then
  echo "unknown OSVDI_NOVA_UNIT_MODE '$mode' (patched, tests-only)" >&2
  exit 2
fi

d13_mount
total=0 failed_mods=0
for t in $tests; do
  t1=$(date +%s)
  rc=0
  out=$(d13_chroot env -C "$work_rel" OS_STDOUT_CAPTURE=1 OS_STDERR_CAPTURE=1 \
        OS_LOG_CAPTURE=1 PYTHONDONTWRITEBYTECODE=1 \
        nice -n 10 python3 -m testtools.run "$t" 2>&1) || rc=$?
  ran=$(printf '%s\n' "$out" | sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in.*/\1/p' | tail -n1)
  verdict=$(printf '%s\n' "$out" | grep -E '^(OK|FAILED)' | tail -n1 || true)
  if [ $rc != 0 ] || [ -z "$ran" ] || [ "$ran" = 0 ]; then
    # Failures and errors in full, then the summary.
    printf '%s\n' "$out" | grep -v 'eventlet monkey patching' | tail -n 200
    failed_mods=$((failed_mods + 1))
  fi
  total=$((total + ${ran:-0}))
  echo "$t: ${ran:-0} tests, ${verdict:-no result (exit $rc)}, $(( $(date +%s) - t1 )) s"
done
echo "nova-unit ($mode): $total tests in $(echo $tests | wc -w) modules," \
     "$failed_mods modules failing, $(( $(date +%s) - t0 )) s in all"
[ $failed_mods = 0 ]
