# OSVDI - shared by scripts/test and scripts/demo. Sourced, not run.
# SPDX-License-Identifier: Apache-2.0

# Debian 12 packages to build the project and run its tests and demo.
OSVDI_PACKAGES="meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev
 libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
 libspice-server-dev libspice-protocol-dev libspice-client-glib-2.0-dev
 gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
 gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
 openssl iproute2 libdrm-dev"
# osvdi-launcher and its tests against a real libvirtd; the micro-VM tests
# (tests/vm/build-modules.sh adds the kernel packages of Debian's current ABI;
# the kernel source follows the release: 6.1 on Debian 12, 6.12 on 13).
# Debian 13's names are the same but for the kernel source; its root gets
# them as the `build` set of tests/openstack/debian13-root.sh.
# The browser test (tests/browser: spice-html5 in headless Chromium through
# websockify, the pipeline in python3-gi) runs in both halves (chromium is
# about 80 MB to download).
# The fuzz step (tests/fuzz/run): clang and its libFuzzer runtime, the
# release's default clang (14 on Debian 12, 19 on 13; the Debian 13 root
# has them in its `build` set too).
case "$(. /etc/os-release && echo "${VERSION_ID:-}")" in
  13) osvdi_linux_source=linux-source-6.12
      OSVDI_FUZZ_PACKAGES="clang libclang-rt-19-dev" ;;
  *) osvdi_linux_source=linux-source-6.1
     OSVDI_FUZZ_PACKAGES="clang libclang-rt-14-dev" ;;
esac
osvdi_browser_packages="chromium spice-html5 websockify python3-gi
 gir1.2-gst-plugins-base-1.0"
OSVDI_LAUNCHER_PACKAGES="libvirt-dev libxml2-dev libvirt-daemon-system
 libvirt-clients python3-libvirt qemu-system-x86 busybox-static kmod cpio
 python3-yaml debootstrap $osvdi_linux_source $osvdi_browser_packages"

osvdi_missing_packages () {
  local p missing=""
  for p in $OSVDI_PACKAGES "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing="$missing $p"
  done
  echo "$missing"
}

# Installs what is missing when run as root; otherwise names it and fails.
osvdi_ensure_packages () {
  local missing
  missing=$(osvdi_missing_packages "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing:$missing"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
  else
    echo "Missing Debian packages:$missing" >&2
    echo "Run as root to install them, or: sudo apt-get install$missing" >&2
    exit 1
  fi
}

# Configures (once) and builds the project in $1 with the meson options that
# follow.
osvdi_build () {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@"
  fi
  meson compile -C "$dir"
}
