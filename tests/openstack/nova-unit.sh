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
# The last line gives the counts: ran, passed, failed, skipped.
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

# The AIO test (aio-lib.sh) patches the root's Nova in place and keeps the
# files it touched as they came from the package: stock Nova is the
# package's tree with those put back.
pristine=$D13_ROOT/var/lib/osvdi/nova-pristine/$version
stock_file () {  # stock_file nova/x.py: stock Nova's copy, or nothing
  if [ -f "$D13_ROOT/var/lib/osvdi/nova-patched" ] && [ -d "$pristine" ]; then
    if [ -e "$pristine/$1" ]; then echo "$pristine/$1"; return; fi
    grep -qxF "$1" "$pristine/.absent" 2>/dev/null && return
  elif [ -f "$D13_ROOT/var/lib/osvdi/nova-patched" ]; then
    echo "the root's Nova is patched and $pristine is missing" >&2
    exit 1
  fi
  [ -e "$D13_ROOT/usr/lib/python3/dist-packages/$1" ] &&
    echo "$D13_ROOT/usr/lib/python3/dist-packages/$1"
  return 0
}
changed=$(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' \
  $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e "s|^|$patches/|" "$patches/series") | sort -u)
for f in $changed; do
  s=$(stock_file "$f")
  if [ -n "$s" ]; then cp -a "$s" "$work/$f"; else rm -f "$work/$f"; fi
done

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
  for f in $changed; do
    case "$f" in nova/tests/*) continue ;; esac
    s=$(stock_file "$f")
    if [ -n "$s" ]; then cp -a "$s" "$work/$f"; else rm -f "$work/$f"; fi
    echo "tests-only: $f is stock Nova's again" >&2
  done
elif [ "$mode" != patched ]; then
  echo "unknown OSVDI_NOVA_UNIT_MODE '$mode' (patched, tests-only)" >&2
  exit 2
fi

# One module per process, run through testtools' text result (what
# `python3 -m testtools.run` prints) and then one machine-readable line with
# the counts, which testtools' own summary lacks (it has no skip count and
# lumps errors in with failures).
runner='
import sys, unittest
import testtools
suite = unittest.TestLoader().loadTestsFromNames(sys.argv[1:])
result = testtools.TextTestResult(sys.stdout)
result.startTestRun()
try:
    suite.run(result)
finally:
    result.stopTestRun()
bad = result.failures + result.errors
for case, _ in bad:
    print("osvdi-failed:", case.id())
for case in result.unexpectedSuccesses:
    print("osvdi-failed:", case.id(), "(unexpected success)")
failed = len(bad) + len(result.unexpectedSuccesses)
skipped = len(result.skipped) + len(result.expectedFailures)
print("osvdi-counts: ran=%d passed=%d failed=%d skipped=%d" % (
    result.testsRun, result.testsRun - failed - skipped, failed, skipped))
sys.exit(0 if result.wasSuccessful() else 1)
'

d13_mount
ran_all=0 passed_all=0 failed_all=0 skipped_all=0 failed_mods=0 failed_ids=()
for t in $tests; do
  t1=$(date +%s)
  rc=0
  out=$(d13_chroot env -C "$work_rel" OS_STDOUT_CAPTURE=1 OS_STDERR_CAPTURE=1 \
        OS_LOG_CAPTURE=1 PYTHONDONTWRITEBYTECODE=1 \
        nice -n 10 python3 -c "$runner" "$t" 2>&1) || rc=$?
  counts=$(printf '%s\n' "$out" | sed -n 's/^osvdi-counts: ran=\([0-9]*\) passed=\([0-9]*\) failed=\([0-9]*\) skipped=\([0-9]*\)$/\1 \2 \3 \4/p' | tail -n1)
  ran=0 passed=0 failed=0 skipped=0
  [ -z "$counts" ] || read -r ran passed failed skipped <<< "$counts"
  if [ $rc != 0 ] || [ -z "$counts" ] || [ "$ran" = 0 ] || [ "$failed" != 0 ]; then
    # The failures' and errors' tracebacks (the end of them if many).
    printf '%s\n' "$out" | grep -v -e 'eventlet monkey patching' -e '^osvdi-' \
      | tail -n 300
    failed_mods=$((failed_mods + 1))
    mapfile -t -O ${#failed_ids[@]} failed_ids < <(printf '%s\n' "$out" |
      sed -n 's/^osvdi-failed: //p')
    [ -n "$counts" ] || failed_ids+=("$t (no result, exit $rc)")
  fi
  ran_all=$((ran_all + ran)) passed_all=$((passed_all + passed))
  failed_all=$((failed_all + failed)) skipped_all=$((skipped_all + skipped))
  echo "$t: ran $ran, passed $passed, failed $failed, skipped $skipped," \
       "$(( $(date +%s) - t1 )) s$([ -n "$counts" ] || echo " (no result, exit $rc)")"
done
if [ ${#failed_ids[@]} -gt 0 ]; then
  echo "failing tests (${#failed_ids[@]}):"
  printf '  %s\n' "${failed_ids[@]}"
fi
echo "nova-unit ($mode): ran $ran_all, passed $passed_all, failed $failed_all," \
     "skipped $skipped_all; $(echo $tests | wc -w) modules, $failed_mods failing;" \
     "$(( $(date +%s) - t0 )) s"
[ $failed_mods = 0 ]
