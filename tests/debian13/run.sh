#!/usr/bin/env bash
# OSVDI - build and test the project inside the shared Debian 13 root.
# SPDX-License-Identifier: Apache-2.0
#
#   tests/debian13/run.sh [meson test names]   (scripts/test with OSVDI_DISTRO=debian13)
#   tests/debian13/run.sh --run CMD [ARGS...]   any command, in the checkout in the root
# Makes the root if missing (tests/openstack/debian13-root.sh), adds its
# `build` package set, binds this checkout into it at the same path and runs
# scripts/test there as root, in a build dir of its own (OSVDI_D13_BUILDDIR,
# default build/d13-asan, or build/d13 with OSVDI_SANITIZE=0).
# The `openstack` suite is left out there (OSVDI_NO_SUITE): the Debian 12
# half already runs it against this root's Nova 31.
# Exits 77 when the root cannot be had (not root, no debootstrap).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
OSVDI_DEBIAN13_LIB=1 . "$src/tests/openstack/debian13-root.sh"
d13_check

# The root is shared (the OpenStack tests run services in it): every user
# registers its PID under the mount lock and the mounts go with the last
# live user. Newer debian13-root.sh does that itself (D13_USERS); for an
# older one the same protocol is kept here, around its own mount functions.
if [ -z "${D13_USERS:-}" ]; then
  users=$D13_ROOT/var/lib/osvdi/mount-users
  eval "d13_mount_once () $(declare -f d13_mount | sed 1d)"
  eval "d13_umount_all () $(declare -f d13_umount | sed 1d)"
  d13_mount () {
    mkdir -p "$users"
    exec {lk}>"$D13_ROOT/var/lib/osvdi/mount.lock"
    flock "$lk"
    touch "$users/$$"
    d13_mount_once
    exec {lk}>&-
  }
  d13_umount () {
    local u
    [ -d "$users" ] || return 0
    exec {lk}>"$D13_ROOT/var/lib/osvdi/mount.lock"
    flock "$lk"
    rm -f "$users/$$"
    for u in "$users"/*; do
      [ -e "$u" ] || continue
      if kill -0 "${u##*/}" 2>/dev/null; then
        echo "debian13: root still used by PID ${u##*/}, mounts kept" >&2
        exec {lk}>&-
        return 0
      fi
      rm -f "$u"
    done
    d13_umount_all
    exec {lk}>&-
  }
fi

t0=$(date +%s)
d13_install build
echo "debian13: root ready in $(( $(date +%s) - t0 )) s ($(du -sh --one-file-system "$D13_ROOT" | cut -f1))" >&2

if [ "${OSVDI_SANITIZE:-1}" != 0 ]; then
  builddir=${OSVDI_D13_BUILDDIR:-build/d13-asan}
else
  builddir=${OSVDI_D13_BUILDDIR:-build/d13}
fi
inner=$D13_ROOT$src
d13_mount
trap d13_umount EXIT
mkdir -p "$inner" "$D13_ROOT$D13_ROOT"
if [ "${1:-}" = --run ]; then
  shift
else
  set -- scripts/test "$@"
  # The openstack suite is Debian 13's by nature: the Debian 12 half runs
  # it against this very root (its Nova 31, libvirtd 11, QEMU 10), and in
  # here it would have to make a root inside the root.
  echo "debian13: the openstack suite (openstack-nova-unit, openstack-aio) is left" \
    "out here: it runs Debian 13's Nova 31 in this same root from the Debian 12 half" \
    "(OSVDI_DISTRO=debian12 scripts/test openstack-nova-unit openstack-aio)" >&2
fi
# The checkout goes in at the same path, in a mount namespace of this run's
# own: several runs at once each see it, and it goes when the run ends. The
# root shows itself at its host path too (not recursively): a test that
# chroots into the root by that path (launcher-ProviderConfigTest's Nova
# loader) finds the same root from inside.
rc=0
# The desktop guest's image cache too (tests/vm/desktop-guest.sh): the
# Debian 12 half's image boots here on QEMU 10 instead of a second build.
mkdir -p /var/cache/osvdi/desktop-guest "$D13_ROOT/var/cache/osvdi/desktop-guest"
unshare --mount --propagation slave -- bash -c '
  mount --bind "$1" "$2$1" && mount --bind "$2" "$2$2" &&
  mount --bind /var/cache/osvdi/desktop-guest "$2/var/cache/osvdi/desktop-guest" &&
  root=$2 && shift 2 &&
  exec env LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"' \
  osvdi-d13 "$src" "$D13_ROOT" \
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
  TERM="${TERM:-dumb}" OSVDI_DISTRO=native OSVDI_BUILDDIR="$builddir" \
  OSVDI_NO_SUITE=openstack \
  OSVDI_SANITIZE="${OSVDI_SANITIZE:-1}" ${OSVDI_TEST_ORDER:+OSVDI_TEST_ORDER=$OSVDI_TEST_ORDER} \
  bash -c 'cd "$1" && shift && exec "$@"' osvdi-d13 "$src" "$@" || rc=$?
exit $rc
