#!/usr/bin/env bash
# OSVDI - the one Debian 13 (trixie) root shared by the Debian 13 and Nova tests.
# SPDX-License-Identifier: Apache-2.0
#
#   debian13-root.sh [build]        make the root if missing or its base set changed
#   debian13-root.sh install SET    add a package set (openstack, nova-unit)
#   debian13-root.sh mount|umount   bind proc, sys, dev, dev/pts, run (idempotent)
#   debian13-root.sh run CMD...     mount, run CMD in the root, always unmount
#   debian13-root.sh path           print the root's path
#
# Other scripts source it (OSVDI_DEBIAN13_LIB=1) and call the d13_* functions.
# The root lives outside the clone: OSVDI_DEBIAN13_ROOT, default
# /var/cache/osvdi/debian13-root.  Exits 77 when it cannot run here.
set -euo pipefail

D13_ROOT=${OSVDI_DEBIAN13_ROOT:-/var/cache/osvdi/debian13-root}
D13_SUITE=trixie
# The base set: what every later user needs before its own set.
D13_BASE_PACKAGES="ca-certificates"
declare -A D13_SETS=(
  [openstack]="nova-api nova-conductor nova-scheduler nova-compute-kvm placement-api
    glance-api keystone neutron-server rabbitmq-server mariadb-server
    qemu-system-modules-spice python3-openstackclient python3-osc-placement"
  # The browser console: nova-spicehtml5proxy and the spice-html5 page it
  # serves (the openstack-console test).
  [console]="nova-consoleproxy spice-html5"
  [nova-unit]="python3-nova python3-stestr python3-oslotest python3-requests-mock
    python3-ddt python3-testtools python3-fixtures python3-testscenarios
    python3-wsgi-intercept python3-flake8"
  [build]="meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    libspice-server-dev libspice-protocol-dev libspice-client-glib-2.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    openssl iproute2 libdrm-dev python3 libvirt-dev libxml2-dev
    libvirt-daemon-system libvirt-clients python3-libvirt qemu-system-x86
    python3-yaml busybox-static kmod cpio xz-utils linux-source-6.12
    linux-headers-amd64 clang libclang-rt-19-dev"
)

d13_skip () { echo "SKIP: $*" >&2; exit 77; }

d13_check () {
  # Inside a root this script made (tests/debian13/run.sh runs the suite
  # there): never a root inside the root.
  [ ! -f /var/lib/osvdi/base.hash ] ||
    d13_skip "runs inside the Debian 13 root; the Debian 12 half runs this against it"
  [ "$(id -u)" = 0 ] || d13_skip "needs root (debootstrap, chroot, mounts)"
  command -v debootstrap >/dev/null || d13_skip "debootstrap is not installed (apt-get install debootstrap)"
}

# The Debian mirror this host's apt already uses: never another host.
d13_mirror () {
  local codename f uri
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    # deb822 stanzas: the URI of the one whose Suites hold the release itself.
    uri=$(awk -v c="$codename" '
      /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) s = 1 }
      END { if (u != "" && s) print u }' "$f" | head -n1)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    uri=$(awk -v c="$codename" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == c) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  return 1
}

d13_is_mounted () { mountpoint -q "$D13_ROOT/$1"; }

# Several scripts use the root at once (the AIO test's services, nova-unit.sh):
# each one that mounts registers its PID, and the mounts go only when the
# last live user unmounts. A lock file keeps mount and umount from racing.
D13_USERS=$D13_ROOT/var/lib/osvdi/mount-users

d13_mount () {
  local m
  mkdir -p "$D13_ROOT"/{proc,sys,dev,run} "$D13_USERS"
  exec {d13_lock}>"$D13_ROOT/var/lib/osvdi/mount.lock"
  flock "$d13_lock"
  touch "$D13_USERS/$$"
  d13_is_mounted proc || mount -t proc proc "$D13_ROOT/proc"
  d13_is_mounted sys || mount --rbind /sys "$D13_ROOT/sys"
  d13_is_mounted sys && mount --make-rslave "$D13_ROOT/sys"
  d13_is_mounted dev || mount --bind /dev "$D13_ROOT/dev"
  mkdir -p "$D13_ROOT/dev/pts"
  d13_is_mounted dev/pts || mount --bind /dev/pts "$D13_ROOT/dev/pts"
  # The root's own /run: its services' sockets must not land on the host's.
  d13_is_mounted run || mount -t tmpfs -o mode=755 tmpfs "$D13_ROOT/run"
  exec {d13_lock}>&-
  for m in proc sys dev/pts dev run; do d13_is_mounted "$m" || return 1; done
}

# OSVDI_D13_FORCE_UMOUNT=1: unmount whoever else still uses the root.
d13_umount () {
  local m u
  [ -d "$D13_ROOT" ] || return 0
  mkdir -p "$D13_USERS"
  exec {d13_lock}>"$D13_ROOT/var/lib/osvdi/mount.lock"
  flock "$d13_lock"
  rm -f "$D13_USERS/$$"
  if [ "${OSVDI_D13_FORCE_UMOUNT:-0}" != 1 ]; then
    for u in "$D13_USERS"/*; do
      [ -e "$u" ] || continue
      if kill -0 "${u##*/}" 2>/dev/null; then
        echo "debian13-root: still used by PID ${u##*/}, mounts kept" >&2
        exec {d13_lock}>&-
        return 0
      fi
      rm -f "$u"
    done
  fi
  for m in run dev/pts dev sys proc; do
    if d13_is_mounted "$m"; then
      umount -R "$D13_ROOT/$m" 2>/dev/null || umount -R -l "$D13_ROOT/$m"
    fi
  done
  exec {d13_lock}>&-
}

d13_chroot () {
  LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$D13_ROOT" "$@"
}

d13_hash () { printf '%s\n' "$D13_SUITE" "$1" $2 | sha256sum | cut -d' ' -f1; }

d13_prepare () {
  # Nothing starts by itself; tests start each service as a plain process.
  printf '#!/bin/sh\nexit 101\n' > "$D13_ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$D13_ROOT/usr/sbin/policy-rc.d"
  cat > "$D13_ROOT/etc/apt/apt.conf.d/90osvdi" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
  cat > "$D13_ROOT/etc/dpkg/dpkg.cfg.d/90osvdi-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  # Every "configure the database / rabbit / keystone for me" question: no.
  d13_chroot debconf-set-selections <<'DEBCONF'
keystone keystone/configure_db boolean false
keystone keystone/register-endpoint boolean false
keystone keystone/create-admin-tenant boolean false
glance-common glance/configure_db boolean false
glance-api glance/register-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-api nova/register-endpoint boolean false
placement-common placement/configure_db boolean false
placement-api placement/register-endpoint boolean false
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-server neutron/register-endpoint boolean false
mariadb-server mariadb-server/postrm_remove_databases boolean false
DEBCONF
}

d13_build () {
  local mirror hash stamp t0
  mirror=$(d13_mirror) || { echo "no Debian mirror found in /etc/apt/sources.list(.d)" >&2; return 1; }
  hash=$(d13_hash "$mirror" "$D13_BASE_PACKAGES")
  stamp="$D13_ROOT/var/lib/osvdi/base.hash"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    return 0
  fi
  OSVDI_D13_FORCE_UMOUNT=1 d13_umount
  rm -rf --one-file-system "$D13_ROOT"
  mkdir -p "$D13_ROOT"
  t0=$(date +%s)
  nice -n 10 debootstrap --variant=minbase --include="${D13_BASE_PACKAGES// /,}" \
    "$D13_SUITE" "$D13_ROOT" "$mirror"
  echo "debootstrap: $(( $(date +%s) - t0 )) s from $mirror" >&2
  d13_prepare
  mkdir -p "$(dirname "$stamp")"
  echo "$hash" > "$stamp"
}

# Adds the set SET (re-run only when the set's package list changed).
d13_install () {
  local set=$1 pkgs hash stamp t0 rc=0
  pkgs=${D13_SETS[$set]:-}
  [ -n "$pkgs" ] || { echo "unknown package set '$set' (${!D13_SETS[*]})" >&2; return 2; }
  d13_build
  hash=$(d13_hash "" "$pkgs")
  stamp="$D13_ROOT/var/lib/osvdi/set-$set.hash"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && return 0
  t0=$(date +%s)
  d13_mount
  trap d13_umount EXIT
  d13_chroot apt-get update -q || rc=$?
  [ $rc = 0 ] && { nice -n 10 chroot "$D13_ROOT" env LC_ALL=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs || rc=$?; }
  d13_chroot apt-get clean || true
  d13_umount
  trap - EXIT
  [ $rc = 0 ] || return $rc
  echo "$hash" > "$stamp"
  echo "install $set: $(( $(date +%s) - t0 )) s" >&2
}

d13_run () {
  local rc=0
  d13_mount
  trap d13_umount EXIT
  d13_chroot "$@" || rc=$?
  d13_umount
  trap - EXIT
  return $rc
}

if [ "${OSVDI_DEBIAN13_LIB:-0}" = 1 ]; then
  return 0 2>/dev/null || true
fi

d13_check
case "${1:-build}" in
  build) d13_build ;;
  install) shift; for s in "$@"; do d13_install "$s"; done ;;
  mount) d13_mount ;;
  umount) d13_umount ;;
  run) shift; d13_build; d13_run "$@" ;;
  path) echo "$D13_ROOT" ;;
  size) du -sh --one-file-system "$D13_ROOT" ;;
  *) echo "usage: $0 [build|install SET...|mount|umount|run CMD...|path|size]" >&2; exit 2 ;;
esac
