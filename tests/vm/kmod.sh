# OSVDI - kernel modules out of an unpacked Debian kernel, with what they
# need first, for busybox's insmod. Sourced by tests/vm scripts, not run.
# SPDX-License-Identifier: Apache-2.0
#
# Kernels differ in which modules exist and where: 6.1 (Debian 12) has
# virtio and fscache as modules, 6.12 (Debian 13) builds virtio in, merges
# fscache into netfs, compresses with xz and ships /usr/lib/modules. The
# kernel's own modules.dep (made by osvdi_kmod_prepare) says which.

# osvdi_kmod_prepare IMAGE KVER: /lib/modules beside /usr/lib/modules and a
# modules.dep (Debian's package leaves depmod to its maintainer scripts).
osvdi_kmod_prepare () {
  local image=$1 kver=$2
  if [ ! -e "$image/lib" ] && [ -d "$image/usr/lib/modules" ]; then
    ln -s usr/lib "$image/lib"
  fi
  [ -f "$image/lib/modules/$kver/modules.dep" ] || depmod -b "$image" "$kver"
}

# osvdi_kmod_add MODDIR DEST MODULE...: copies each MODULE (a path under
# kernel/, without .ko) and, before it, what modules.dep says it needs, into
# DEST as plain NAME.ko; built-in ones are left out. Appends the names in
# load order to DEST/order.
osvdi_kmod_add () {
  local dir=$1 dest=$2 m f d name
  shift 2
  mkdir -p "$dest"
  touch "$dest/order"
  for m in "$@"; do
    name=$(basename "$m")
    grep -qx "$name" "$dest/order" && continue
    grep -qx "kernel/$m.ko" "$dir/modules.builtin" && continue
    f=$(sed -n "s|^\(kernel/$m\.ko[^:]*\):.*|\1|p" "$dir/modules.dep")
    [ -n "$f" ] || { echo "no module $m in $dir" >&2; return 1; }
    for d in $(sed -n "s|^kernel/$m\.ko[^:]*:||p" "$dir/modules.dep"); do
      d=${d#kernel/}
      osvdi_kmod_add "$dir" "$dest" "${d%%.ko*}" || return 1
    done
    case "$f" in
      *.ko.xz) xz -dc "$dir/$f" > "$dest/$name.ko" ;;
      *.ko.zst) zstd -dcq "$dir/$f" > "$dest/$name.ko" ;;
      *.ko.gz) gzip -dc "$dir/$f" > "$dest/$name.ko" ;;
      *) cp "$dir/$f" "$dest/$name.ko" ;;
    esac
    echo "$name" >> "$dest/order"
  done
}
