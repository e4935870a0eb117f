# OSVDI - a real OpenStack all-in-one in the shared Debian 13 root, as shell
# functions: the AIO test (aio-test.sh) and the devstack plugin
# (devstack/plugin.sh) call the same ones.  Sourced, not run; safe under
# `set -euo pipefail`.
# SPDX-License-Identifier: Apache-2.0
#
# Debian 13's own OpenStack 2025.1 (Nova 31, Placement, Glance, Keystone,
# a Neutron server without agents), RabbitMQ, MariaDB, libvirtd and virtlogd
# run in the root (debian13-root.sh) as plain processes, each as its own
# user, PIDs in $AIO_STATE/pids.  Why plain processes: there is no init in
# the root, and this way every one of them is stopped by its PID.
#
# All of them share one network namespace of their own ($AIO_NETNS, only a
# loopback): the stack listens on the usual ports (3306, 5000, 5672, 8774,
# 8778, 9292, 9696, ...) without colliding with anything on the host, and
# every process it leaves behind (QEMU probes, uwsgi workers) can be found
# by that namespace and stopped.  The host reaches the root's libvirtd only
# by its Unix socket ($AIO_LIBVIRT_URI), which needs no network.
#
# The facts behind each step (traps 1-7) are in the project's notes:
# ../shared/notes/openstack-aio.md.

: "${AIO_HERE:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
: "${AIO_SRC:=$(cd "$AIO_HERE/../.." && pwd)}"
# AIO_ROOT: where the stack's files are.  Unset: the shared Debian 13 root
# (the test).  Set to "" by the devstack plugin: this host itself.
if [ "${AIO_ROOT+set}" != set ]; then
  OSVDI_DEBIAN13_LIB=1 . "$AIO_HERE/debian13-root.sh"
  AIO_ROOT=$D13_ROOT
fi
AIO_NETNS=${AIO_NETNS:-osvdi-aio}
# The management network of the console test (aio_mgmt_net): a /30 of
# RFC 2544's benchmarking range, which no real network routes (TEST-NET-1
# is not safe: this very machine's uplink is on 192.0.2.0/24).
AIO_MGMT_IF=${AIO_MGMT_IF:-osvdi-aio-mgmt}
AIO_MGMT_HOST=${AIO_MGMT_HOST:-198.18.233.1}
AIO_MGMT_PEER=${AIO_MGMT_PEER:-198.18.233.2}
AIO_HTML5_PORT=${AIO_HTML5_PORT:-6082}
# Inside the root (paths as the root's processes see them).
AIO_STATE_IN=/var/lib/osvdi/aio
AIO_STATE=$AIO_ROOT$AIO_STATE_IN
AIO_LOG_IN=/var/log/osvdi-aio
AIO_LOG=$AIO_ROOT$AIO_LOG_IN
AIO_PASSWORD=${AIO_PASSWORD:-osvdi-aio}
AIO_NOVA_PATCHES=${AIO_NOVA_PATCHES:-$AIO_SRC/openstack/nova}
AIO_NOVA_DIST=/usr/lib/python3/dist-packages
AIO_PROVIDER_DIR_IN=/etc/nova/provider_config
AIO_LIBVIRT_URI="qemu:///system?socket=$AIO_ROOT/run/libvirt/libvirt-sock"
# The Placement resource class the launcher's provider config announces.
AIO_RC=CUSTOM_OSVDI_ENCODER_SESSION
# Every wait is on a condition; these are only the bounds.
AIO_WAIT_SERVICE=${AIO_WAIT_SERVICE:-180}
AIO_WAIT_SERVER=${AIO_WAIT_SERVER:-300}

aio_log () { echo "aio: $*" >&2; }
aio_die () { echo "aio: FAIL: $*" >&2; return 1; }

# --- running things in the root ----------------------------------------

# CMD in the root, in the stack's network namespace, as root.
aio_in () {
  nsenter --net="/run/netns/$AIO_NETNS" -- chroot "$AIO_ROOT" \
    /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    HOME=/root "$@"
}

# CMD in the root as USER (its groups too: nova is in group libvirt).
aio_as () {
  local user=$1
  shift
  nsenter --net="/run/netns/$AIO_NETNS" -- chroot "$AIO_ROOT" \
    /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    HOME="$(aio_home "$user")" \
    /usr/bin/setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
}

aio_home () {
  awk -F: -v u="$1" '$1 == u { print $6 }' "$AIO_ROOT/etc/passwd"
}

# aio_spawn NAME USER CMD...: a service as a plain background process, its
# output in $AIO_LOG/NAME.log, its PID in $AIO_STATE/pids/NAME.  nsenter,
# chroot, env and setpriv each exec the next, so $! is the service itself.
aio_spawn () {
  local name=$1 user=$2 pid
  shift 2
  mkdir -p "$AIO_STATE/pids" "$AIO_LOG"
  # exec: the background job is the service (not a subshell around it).
  if [ "$user" = root ]; then
    exec nsenter --net="/run/netns/$AIO_NETNS" -- chroot "$AIO_ROOT" \
      /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
      HOME=/root "$@" >>"$AIO_LOG/$name.log" 2>&1 </dev/null &
  else
    exec nsenter --net="/run/netns/$AIO_NETNS" -- chroot "$AIO_ROOT" \
      /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
      HOME="$(aio_home "$user")" \
      /usr/bin/setpriv --reuid="$user" --regid="$user" --init-groups -- \
      "$@" >>"$AIO_LOG/$name.log" 2>&1 </dev/null &
  fi
  pid=$!
  echo "$pid" > "$AIO_STATE/pids/$name"
  echo "$name" >> "$AIO_STATE/order"
  aio_log "started $name (PID $pid, as $user)"
}

# True while PID runs (a zombie does not count).
aio_alive () {
  local st
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# aio_stop_pid PID: SIGTERM, then SIGKILL after a bounded wait.
aio_stop_pid () {
  local pid=$1 i
  aio_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do
    aio_alive "$pid" || break
    sleep 0.2                               # polling the condition
  done
  if aio_alive "$pid"; then
    aio_log "PID $pid ignored SIGTERM for 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

aio_stop () {
  local name=$1 f=$AIO_STATE/pids/$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  # A PID file of a run that died may name a reused PID: only a process in
  # the root is ours.
  if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$AIO_ROOT" ]; then
    aio_stop_pid "$pid"
  fi
  rm -f "$f"
}

# Every process still in the stack's network namespace (uwsgi workers, QEMU,
# epmd): found by the namespace, which only the stack's processes are in.
aio_netns_pids () {
  local ns p
  [ -e "/run/netns/$AIO_NETNS" ] || return 0
  ns=$(stat -L -c %i "/run/netns/$AIO_NETNS")
  for p in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
  done
  return 0
}

# Stops every service, newest first, then whatever is left in the namespace.
aio_stop_all () {
  local name p
  if [ -f "$AIO_STATE/order" ]; then
    for name in $(tac "$AIO_STATE/order"); do aio_stop "$name"; done
    rm -f "$AIO_STATE/order"
  fi
  for p in $(aio_netns_pids); do
    aio_alive "$p" || continue
    aio_log "left over in $AIO_NETNS: $p $( (tr '\0' ' ' < "/proc/$p/cmdline") 2>/dev/null | cut -c1-100)"
    aio_stop_pid "$p"
  done
}

# The root mounted, the namespace made (lo up).  Idempotent.
aio_mount () {
  d13_mount
  if [ ! -e "/run/netns/$AIO_NETNS" ]; then
    ip netns add "$AIO_NETNS"
  fi
  ip netns exec "$AIO_NETNS" ip link set lo up
}

# aio_mgmt_net: a management network between this host and the stack's
# namespace, as between a compute host and the controller that runs the
# console proxy: a veth pair, $AIO_MGMT_HOST here, $AIO_MGMT_PEER in the
# namespace.  Deleting the namespace (aio_teardown) deletes the pair.
aio_mgmt_net () {
  local used
  # Never a network this host is already on.
  used=$(ip -o addr show to "$AIO_MGMT_HOST/30" | grep -v " $AIO_MGMT_IF " || true)
  [ -z "$used" ] || { aio_die "the management network $AIO_MGMT_HOST/30 is in use" \
    "here ($used): set AIO_MGMT_HOST and AIO_MGMT_PEER"; return 1; }
  if ! ip link show "$AIO_MGMT_IF" >/dev/null 2>&1; then
    ip link add "$AIO_MGMT_IF" type veth peer name osvdi-mgmt netns "$AIO_NETNS"
  fi
  ip addr replace "$AIO_MGMT_HOST/30" dev "$AIO_MGMT_IF"
  ip link set "$AIO_MGMT_IF" up
  ip netns exec "$AIO_NETNS" ip addr replace "$AIO_MGMT_PEER/30" dev osvdi-mgmt
  ip netns exec "$AIO_NETNS" ip link set osvdi-mgmt up
}

# Stops everything and undoes aio_mount: the one cleanup (trap) there is.
aio_teardown () {
  aio_stop_all || true
  [ -e "/run/netns/$AIO_NETNS" ] && ip netns delete "$AIO_NETNS" || true
  ip link del "$AIO_MGMT_IF" 2>/dev/null || true
  d13_umount || true
}

# aio_wait WHAT SECONDS CMD...: until CMD succeeds (polled once a second).
aio_wait () {
  local what=$1 bound=$2 end
  shift 2
  end=$(( $(date +%s) + bound ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { aio_die "$what: not within $bound s"; return 1; }
    sleep 1                                 # polling the condition
  done
}

aio_port_open () { aio_in bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# --- config files --------------------------------------------------------

# aio_ini FILE < INI: merges the sections and keys of INI into FILE (made
# when missing), keeping the rest of FILE.  Host python3; no interpolation.
aio_ini () {
  python3 -c '
import configparser, os, sys
def parser():
    # DEFAULT is a section like any other here (no inheritance)
    p = configparser.RawConfigParser(strict=False, interpolation=None,
                                     default_section="osvdi-no-defaults")
    p.optionxform = str
    return p
path = sys.argv[1]
cur, new = parser(), parser()
cur.read(path)
new.read_string(sys.stdin.read())
for s in new.sections():
    if not cur.has_section(s):
        cur.add_section(s)
    for k in new.options(s):
        cur.set(s, k, new.get(s, k))
with open(path + ".tmp", "w") as f:
    cur.write(f)
os.replace(path + ".tmp", path)
' "$1"
}

# [keystone_authtoken] (and the like) for service user USER.
aio_auth_ini () {
  cat <<EOF
auth_url = http://127.0.0.1:5000/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $AIO_PASSWORD
region_name = RegionOne
EOF
}

aio_db_url () { echo "mysql+pymysql://osvdi:$AIO_PASSWORD@127.0.0.1/$1"; }
AIO_RABBIT_URL="rabbit://guest:guest@127.0.0.1:5672/"

# --- the Nova patch series ----------------------------------------------

# Which Nova DIST holds: Debian's package version, else (a devstack git
# tree) its commit.
aio_nova_version () {
  local v
  if [ -d "$1/.git" ] || [ -e "$1/.git" ]; then
    git -C "$1" rev-parse HEAD
  elif v=$(chroot "${AIO_ROOT:-/}" dpkg-query -W -f '${Version}' python3-nova 2>/dev/null); then
    echo "$v"
  else
    echo unknown
  fi
}

# The files the series touches (as paths below dist-packages).
aio_nova_series_files () {
  local p
  for p in $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$AIO_NOVA_PATCHES/series"); do
    sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$AIO_NOVA_PATCHES/$p"
  done | sort -u
}

aio_nova_files_hash () {
  local dist=$1 f
  for f in $(aio_nova_series_files); do
    if [ -e "$dist/$f" ]; then sha256sum < "$dist/$f"; else echo "absent $f"; fi
  done | sha256sum | cut -d' ' -f1
}

# Applies openstack/nova/series to DIST (default: the root's dist-packages)
# with patch -p1.  Idempotent: a stamp holds the hash of the patched files,
# so an applied series is recognised and left alone.  Before patching, the
# touched files are saved once per python3-nova version (the pristine copy);
# a package reinstall or upgrade (stock files again, stamp no longer
# matching) is noticed and the series applied again.  Every patch is tried
# on a scratch copy first: nothing is left half-patched.
aio_nova_patch () {
  local dist=${1:-$AIO_ROOT$AIO_NOVA_DIST} ver pristine stamp scratch p f
  ver=$(aio_nova_version "$dist")
  pristine=$AIO_ROOT/var/lib/osvdi/nova-pristine/$ver
  stamp=$AIO_ROOT/var/lib/osvdi/nova-patched
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver $(aio_nova_files_hash "$dist")" ]; then
    aio_log "Nova $ver: the series is applied already"
    return 0
  fi
  if [ -d "$pristine" ]; then
    aio_nova_restore "$dist" "$pristine"
  fi
  scratch=$(mktemp -d -t osvdi-nova-patch.XXXXXX)
  for f in $(aio_nova_series_files); do
    if [ -e "$dist/$f" ]; then
      mkdir -p "$scratch/$(dirname "$f")"
      cp -a "$dist/$f" "$scratch/$f"
    fi
  done
  for p in $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$AIO_NOVA_PATCHES/series"); do
    if ! (cd "$scratch" && patch -p1 -s --forward --batch --fuzz=0 \
          --no-backup-if-mismatch < "$AIO_NOVA_PATCHES/$p") >&2; then
      rm -rf "$scratch"
      aio_die "$p does not apply to python3-nova $ver (stock files in $dist?)"
      return 1
    fi
  done
  if [ ! -d "$pristine" ]; then
    mkdir -p "$pristine.tmp"
    for f in $(aio_nova_series_files); do
      if [ -e "$dist/$f" ]; then
        mkdir -p "$pristine.tmp/$(dirname "$f")"
        cp -a "$dist/$f" "$pristine.tmp/$f"
      else
        echo "$f" >> "$pristine.tmp/.absent"
      fi
    done
    mv "$pristine.tmp" "$pristine"
  fi
  for f in $(aio_nova_series_files); do
    mkdir -p "$dist/$(dirname "$f")"
    cp "$scratch/$f" "$dist/$f.osvdi-tmp"
    chmod 644 "$dist/$f.osvdi-tmp"
    mv "$dist/$f.osvdi-tmp" "$dist/$f"
  done
  rm -rf "$scratch"
  echo "$ver $(aio_nova_files_hash "$dist")" > "$stamp"
  aio_log "Nova $ver: applied $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$AIO_NOVA_PATCHES/series" | tr '\n' ' ')"
}

aio_nova_restore () {
  local dist=$1 pristine=$2 f
  for f in $(aio_nova_series_files); do
    if [ -e "$pristine/$f" ]; then
      cp -a "$pristine/$f" "$dist/$f"
    elif grep -qxF "$f" "$pristine/.absent" 2>/dev/null; then
      rm -f "$dist/$f"
    fi
  done
}

# Puts stock Nova back (the root is shared: nova-unit.sh patches a copy of
# the stock tree and must find it unpatched).
aio_nova_unpatch () {
  local dist=${1:-$AIO_ROOT$AIO_NOVA_DIST} ver pristine
  ver=$(aio_nova_version "$dist")
  pristine=$AIO_ROOT/var/lib/osvdi/nova-pristine/$ver
  [ -f "$AIO_ROOT/var/lib/osvdi/nova-patched" ] || return 0
  [ -d "$pristine" ] && aio_nova_restore "$dist" "$pristine"
  rm -f "$AIO_ROOT/var/lib/osvdi/nova-patched"
  aio_log "Nova $ver: stock again"
}

# --- Nova's options for OSVDI (shared with devstack) ---------------------

# aio_nova_osvdi_conf NOVA_CONF [PROVIDER_DIR]: what patch 0002 and the
# launcher need on a compute host.  Nova's own VNC and SPICE consoles stay
# off for every instance here: QEMU serves one client per D-Bus display,
# and the launcher's SPICE server is the console (0002 adds neither VNC nor
# SPICE graphics to an instance with hw:remote_display=dbus anyway; turning
# them off host-wide just keeps plain instances from getting a QEMU console
# port nobody proxies).
aio_nova_osvdi_conf () {
  aio_ini "$1" <<EOF
[dbus_display]
enabled = True
[compute]
provider_config_location = ${2:-$AIO_PROVIDER_DIR_IN}
[vnc]
enabled = False
[spice]
enabled = False
EOF
}

# aio_provider_config FILE [TOTAL]: the nova-compute provider config with
# the encoder-session inventory.  The launcher prints it when it knows how
# (`osvdi-launcher --write-provider-config`, $AIO_LAUNCHER); TOTAL, when
# given, then replaces the launcher's own figure (the test's "at capacity"
# phase).
aio_provider_config () {
  local file=$1 total=${2:-} launcher=${AIO_LAUNCHER:-}
  mkdir -p "$(dirname "$file")"
  if [ -n "$launcher" ] && "$launcher" --help 2>&1 | grep -q -- --write-provider-config; then
    if [ -n "$total" ]; then
      # The launcher's own override ([placement] total), in a config of
      # its own: the host's launcher.conf stays as it is.
      local conf
      conf=$(mktemp --suffix=.conf)
      printf '[placement]\nresource-class=%s\ntotal=%s\n' "$AIO_RC" "$total" >"$conf"
      "$launcher" --config "$conf" --write-provider-config="$file" || { rm -f "$conf"; return 1; }
      rm -f "$conf"
    else
      "$launcher" --write-provider-config="$file"
    fi
  else
    echo "aio_provider_config: ${launcher:-AIO_LAUNCHER unset}: no" \
      "osvdi-launcher with --write-provider-config" >&2
    return 1
  fi
  chmod 644 "$file"
}

# --- the services ----------------------------------------------------------

AIO_OS_ENV=(OS_AUTH_URL=http://127.0.0.1:5000/v3 OS_IDENTITY_API_VERSION=3
  OS_USERNAME=admin OS_PASSWORD="$AIO_PASSWORD" OS_PROJECT_NAME=admin
  OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
  OS_REGION_NAME=RegionOne)

# The openstack CLI in the root, as admin.
aio_os () { aio_in env "${AIO_OS_ENV[@]}" openstack "$@"; }

aio_http_up () {
  aio_in python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError:
    pass  # it answers: 401/404/300 are fine' "$1"
}

# Trap 7: the host name resolves in the root (getaddrinfo warnings, and
# rabbit@localhost needs localhost).
aio_hosts () {
  local h
  h=$(hostname)
  grep -qw "$h" "$AIO_ROOT/etc/hosts" || echo "127.0.1.1 $h" >> "$AIO_ROOT/etc/hosts"
}

aio_start_mariadb () {
  if [ ! -d "$AIO_ROOT/var/lib/mysql/mysql" ]; then
    aio_in mariadb-install-db --user=mysql --datadir=/var/lib/mysql \
      --skip-test-db >"$AIO_LOG/mariadb-install.log" 2>&1
  fi
  install -d -o "$(aio_uid mysql)" -g "$(aio_gid mysql)" "$AIO_ROOT/run/mysqld"
  aio_spawn mariadb mysql mariadbd --datadir=/var/lib/mysql \
    --socket=/run/mysqld/mysqld.sock --bind-address=127.0.0.1 --port=3306 \
    --skip-name-resolve --innodb-buffer-pool-size=64M --max-connections=300 \
    --pid-file=/run/mysqld/mysqld.pid
  aio_wait "MariaDB answers" "$AIO_WAIT_SERVICE" \
    aio_in mariadb-admin --socket=/run/mysqld/mysqld.sock ping
}

aio_uid () { awk -F: -v u="$1" '$1 == u { print $3 }' "$AIO_ROOT/etc/passwd"; }
aio_gid () { awk -F: -v u="$1" '$1 == u { print $4 }' "$AIO_ROOT/etc/passwd"; }

# Every run starts from empty databases: nothing of an earlier (or broken)
# run can change this one's outcome.
AIO_DATABASES="keystone glance placement neutron nova_api nova nova_cell0"
aio_databases () {
  local db sql=""
  for db in $AIO_DATABASES; do
    sql="$sql DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;"
  done
  sql="$sql CREATE USER IF NOT EXISTS 'osvdi'@'127.0.0.1' IDENTIFIED BY '$AIO_PASSWORD';"
  sql="$sql GRANT ALL PRIVILEGES ON *.* TO 'osvdi'@'127.0.0.1'; FLUSH PRIVILEGES;"
  aio_in mariadb --socket=/run/mysqld/mysqld.sock -e "$sql"
}

aio_start_rabbitmq () {
  local home=/var/lib/rabbitmq
  # A fresh node each run (its database holds queues of the last one).
  rm -rf "$AIO_ROOT$home/mnesia"
  install -d -o "$(aio_uid rabbitmq)" -g "$(aio_gid rabbitmq)" "$AIO_ROOT$home"
  # epmd as a process of ours (rabbit would otherwise start it detached).
  aio_spawn epmd rabbitmq epmd -address 127.0.0.1
  aio_wait "epmd listens" 60 aio_port_open 4369
  aio_spawn rabbitmq rabbitmq env HOME=$home RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_LOGS=- \
    /usr/lib/rabbitmq/bin/rabbitmq-server
  aio_wait "RabbitMQ listens on 5672" "$AIO_WAIT_SERVICE" aio_port_open 5672
}

# aio_uwsgi NAME USER PORT WSGI_FILE: a WSGI service on 127.0.0.1:PORT.
# "Connection: close": uwsgi's http-socket does not keep connections alive,
# and keystoneauth reusing one got "Connection reset by peer" (seen here).
aio_uwsgi () {
  aio_spawn "$1" "$2" uwsgi --plugins python3 --http-socket "127.0.0.1:$3" \
    --wsgi-file "$4" --master --processes 2 --threads 2 --lazy-apps \
    --die-on-term --no-orphans --buffer-size 65535 --enable-threads \
    --add-header "Connection: close"
}

aio_keystone () {
  aio_ini "$AIO_ROOT/etc/keystone/keystone.conf" <<EOF
[DEFAULT]
log_dir = $AIO_LOG_IN
log_file = keystone.log
[database]
connection = $(aio_db_url keystone)
[token]
provider = fernet
EOF
  install -d -m 777 "$AIO_LOG"
  aio_as keystone keystone-manage db_sync >"$AIO_LOG/keystone-manage.log" 2>&1
  aio_in keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
  aio_in keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
  aio_as keystone keystone-manage bootstrap --bootstrap-password "$AIO_PASSWORD" \
    --bootstrap-admin-url http://127.0.0.1:5000/v3/ \
    --bootstrap-internal-url http://127.0.0.1:5000/v3/ \
    --bootstrap-public-url http://127.0.0.1:5000/v3/ \
    --bootstrap-region-id RegionOne
  aio_uwsgi keystone keystone 5000 /usr/bin/keystone-wsgi-public
  aio_wait "Keystone answers" "$AIO_WAIT_SERVICE" aio_http_up http://127.0.0.1:5000/v3
}

# Service users, services and endpoints: one Python process with
# keystoneclient (40 openstack CLI calls took ~50 s here, mostly start-up).
aio_catalog () {
  aio_in env "${AIO_OS_ENV[@]}" python3 -c '
import os
from keystoneauth1 import loading, session
from keystoneclient.v3 import client
auth = loading.get_plugin_loader("password").load_from_options(
    auth_url=os.environ["OS_AUTH_URL"], username="admin",
    password=os.environ["OS_PASSWORD"], project_name="admin",
    user_domain_name="Default", project_domain_name="Default")
ks = client.Client(session=session.Session(auth=auth))
service = ks.projects.create("service", "default")
admin = ks.roles.find(name="admin")
for user in ("glance", "placement", "neutron", "nova"):
    u = ks.users.create(user, domain="default", password=os.environ["OS_PASSWORD"])
    ks.roles.grant(admin, user=u, project=service)
for name, kind, url in (("glance", "image", "http://127.0.0.1:9292"),
                        ("placement", "placement", "http://127.0.0.1:8778"),
                        ("neutron", "network", "http://127.0.0.1:9696"),
                        ("nova", "compute", "http://127.0.0.1:8774/v2.1")):
    svc = ks.services.create(name, type=kind)
    for interface in ("public", "internal", "admin"):
        ks.endpoints.create(svc, url, interface=interface, region="RegionOne")
'
}

aio_glance () {
  { echo "[database]"; echo "connection = $(aio_db_url glance)"
    echo "[keystone_authtoken]"; aio_auth_ini glance
    echo "www_authenticate_uri = http://127.0.0.1:5000"
    cat <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = /var/lib/glance/images/
[paste_deploy]
flavor = keystone
EOF
  } | aio_ini "$AIO_ROOT/etc/glance/glance-api.conf"
  rm -rf "$AIO_ROOT/var/lib/glance/images"
  install -d -o "$(aio_uid glance)" -g "$(aio_gid glance)" "$AIO_ROOT/var/lib/glance/images"
  aio_as glance glance-manage db_sync >"$AIO_LOG/glance-manage.log" 2>&1
  aio_spawn glance glance glance-api --config-file /etc/glance/glance-api.conf
}

aio_placement () {
  { echo "[placement_database]"; echo "connection = $(aio_db_url placement)"
    echo "[api]"; echo "auth_strategy = keystone"
    echo "[keystone_authtoken]"; aio_auth_ini placement
    echo "www_authenticate_uri = http://127.0.0.1:5000"
  } | aio_ini "$AIO_ROOT/etc/placement/placement.conf"
  aio_as placement placement-manage db sync >"$AIO_LOG/placement-manage.log" 2>&1
  aio_uwsgi placement placement 8778 /usr/bin/placement-api
}

aio_neutron () {
  { echo "[DEFAULT]"
    # Trap 1 (neutron-server below): Debian's default plugins are not needed.
    cat <<EOF
core_plugin = ml2
service_plugins = router
transport_url = $AIO_RABBIT_URL
bind_host = 127.0.0.1
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = False
notify_nova_on_port_data_changes = False
[database]
connection = $(aio_db_url neutron)
[oslo_concurrency]
lock_path = /var/lib/neutron/lock
EOF
    echo "[keystone_authtoken]"; aio_auth_ini neutron
    echo "www_authenticate_uri = http://127.0.0.1:5000"
    echo "[nova]"; aio_auth_ini nova
  } | aio_ini "$AIO_ROOT/etc/neutron/neutron.conf"
  # No agents: ports are never bound, so no mechanism driver has to work.
  aio_ini "$AIO_ROOT/etc/neutron/plugins/ml2/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers = openvswitch
extension_drivers = port_security
EOF
  aio_as neutron neutron-db-manage --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade heads \
    >"$AIO_LOG/neutron-db-manage.log" 2>&1
  # Trap 1: GET /v2.0/ports (Nova calls it on server show and delete even
  # with --nic none) reads Port.port_forwardings, a relationship that only
  # exists once SQLAlchemy has configured the mappers with the port
  # forwarding model imported; Neutron's API worker got there first and
  # answered 500 to every ports query (seen here, for minutes, with or
  # without the port_forwarding plugin).  So neutron-server's own main()
  # runs after both, in the process its workers fork from.
  aio_spawn neutron neutron python3 -c 'import sys
from neutron.db.models import port_forwarding  # noqa: F401
from neutron.db import models_v2  # noqa: F401
from sqlalchemy import orm
orm.configure_mappers()
sys.argv[0] = "/usr/bin/neutron-server"
from neutron.cmd.eventlet.server import main
sys.exit(main())' --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
}

# Traps 2 and 3: no mount namespaces for QEMU in a chroot; no polkit or
# D-Bus in the root, so the socket is the gate (group libvirt, nova in it).
aio_libvirt () {
  cat > "$AIO_ROOT/etc/libvirt/libvirtd.conf" <<'EOF'
# written by OSVDI's aio-lib.sh
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0770"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
EOF
  cat > "$AIO_ROOT/etc/libvirt/qemu.conf" <<'EOF'
# written by OSVDI's aio-lib.sh
namespaces = [ ]
EOF
  # Empty databases each run (aio_databases), so no domain of an earlier
  # run may survive either: nova-compute refuses to start on a hypervisor
  # with instances its database does not know (seen here).
  rm -f "$AIO_ROOT"/etc/libvirt/qemu/instance-*.xml \
    "$AIO_ROOT"/var/lib/libvirt/qemu/save/instance-*
  install -d "$AIO_ROOT/run/libvirt"
  aio_spawn virtlogd root virtlogd
  aio_wait "virtlogd answers" 60 aio_in python3 -c 'import socket
socket.socket(socket.AF_UNIX).connect("/run/libvirt/virtlogd-sock")'
  aio_spawn libvirtd root libvirtd
  aio_wait "libvirtd answers" "$AIO_WAIT_SERVICE" aio_in virsh -c qemu:///system version
}

aio_nova_conf () {
  local f=$AIO_ROOT/etc/nova/nova.conf
  { cat <<EOF
[DEFAULT]
transport_url = $AIO_RABBIT_URL
my_ip = 127.0.0.1
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_workers = 1
state_path = /var/lib/nova
instances_path = /var/lib/nova/instances
compute_driver = libvirt.LibvirtDriver
# The busybox guest ignores ACPI: stop would wait 60 s before destroying it
shutdown_timeout = 5
[api]
auth_strategy = keystone
[api_database]
connection = $(aio_db_url nova_api)
[database]
connection = $(aio_db_url nova)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[libvirt]
virt_type = qemu
# The same guest never shuts down on its own: a soft reboot gives up after
# this and reboots hard (Nova's documented fallback; default 120 s)
wait_soft_reboot_seconds = 15
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
EOF
    echo "[keystone_authtoken]"; aio_auth_ini nova
    echo "www_authenticate_uri = http://127.0.0.1:5000"
    echo "[placement]"; aio_auth_ini placement
    echo "[neutron]"; aio_auth_ini neutron
    echo "[service_user]"; aio_auth_ini nova
    echo "send_service_user_token = True"
  } | aio_ini "$f"
  # /usr/bin/nova-compute reads this one too (Debian sets virt_type=kvm
  # there; trap: KVM "emulation failure" here, so TCG).
  aio_ini "$AIO_ROOT/etc/nova/nova-compute.conf" <<EOF
[libvirt]
virt_type = qemu
EOF
  aio_nova_osvdi_conf "$f"
}

# aio_nova_console_conf NOVA_CONF: SPICE consoles on (the compute manager
# refuses every SPICE console otherwise), served by the launcher for D-Bus
# display instances (patch 0004): nova-spicehtml5proxy on the management
# network's controller side, and a base URL for spice-direct (Kerbside's;
# unused here: the test reads the token as a proxy does).
aio_nova_console_conf () {
  aio_ini "$1" <<EOF
[spice]
enabled = True
html5proxy_host = $AIO_MGMT_PEER
html5proxy_port = $AIO_HTML5_PORT
html5proxy_base_url = http://$AIO_MGMT_PEER:$AIO_HTML5_PORT/spice_auto.html
spice_direct_proxy_base_url = http://$AIO_MGMT_PEER:13002/nova
EOF
}

aio_nova () {
  aio_nova_conf
  [ -z "${AIO_CONSOLE:-}" ] || aio_nova_console_conf "$AIO_ROOT/etc/nova/nova.conf"
  rm -rf "$AIO_ROOT/var/lib/nova/instances"
  install -d -o "$(aio_uid nova)" -g "$(aio_gid nova)" \
    "$AIO_ROOT/var/lib/nova/instances" "$AIO_ROOT/var/lib/nova/tmp"
  { aio_as nova nova-manage api_db sync
    aio_as nova nova-manage cell_v2 map_cell0 --database_connection "$(aio_db_url nova_cell0)"
    aio_as nova nova-manage cell_v2 create_cell --name cell1 --verbose
    aio_as nova nova-manage db sync; } >"$AIO_LOG/nova-manage.log" 2>&1
  aio_spawn nova-api nova nova-api --config-file /etc/nova/nova.conf
  aio_spawn nova-conductor nova nova-conductor --config-file /etc/nova/nova.conf
  aio_spawn nova-scheduler nova nova-scheduler --config-file /etc/nova/nova.conf
  aio_start_compute
  if [ -n "${AIO_CONSOLE:-}" ]; then
    aio_spawn nova-spicehtml5proxy nova nova-spicehtml5proxy \
      --config-file /etc/nova/nova.conf
  fi
}

aio_start_compute () {
  aio_spawn nova-compute nova nova-compute --config-file /etc/nova/nova.conf \
    --config-file /etc/nova/nova-compute.conf
}

aio_compute_up () {
  [ "$(aio_os compute service list --service nova-compute -f value -c State -c Status)" = "enabled up" ]
}

# Trap 5: wait until nova-compute reports up and its resource provider
# exists before booting anything (creates fail with NoValidHost before).
# discover_hosts maps the compute *nodes* it finds: run before nova-compute
# made its node record (the service shows "up" earlier), it maps nothing and
# every create fails in the conductor ("Host 'vm' is not mapped to any cell",
# seen once). So it runs until the host is mapped, after the provider exists.
aio_wait_compute () {
  aio_wait "nova-compute up" "$AIO_WAIT_SERVICE" aio_compute_up
  aio_wait "the compute node's resource provider" "$AIO_WAIT_SERVICE" aio_rp_uuid
  aio_wait "the compute host mapped to the cell" "$AIO_WAIT_SERVICE" aio_host_mapped
}

aio_host_mapped () {
  aio_as nova nova-manage cell_v2 discover_hosts --verbose >/dev/null 2>&1
  aio_as nova nova-manage cell_v2 list_hosts 2>/dev/null | grep -q " $(hostname) "
}

aio_rp_uuid () {
  local u
  u=$(aio_os resource provider list -f value -c uuid | head -n1)
  [ -n "$u" ] && echo "$u"
}

# Everything, from a mounted root to a stack that takes servers.
aio_services_up () {
  aio_hosts
  install -d -m 777 "$AIO_LOG"
  mkdir -p "$AIO_STATE/pids"
  : > "$AIO_STATE/order"
  aio_start_mariadb
  aio_databases
  aio_start_rabbitmq
  aio_keystone
  aio_catalog
  aio_glance
  aio_placement
  aio_neutron
  aio_libvirt
  aio_nova
  aio_wait "Glance answers" "$AIO_WAIT_SERVICE" aio_http_up http://127.0.0.1:9292
  aio_wait "Placement answers" "$AIO_WAIT_SERVICE" aio_http_up http://127.0.0.1:8778
  # Trap 1: a fresh Neutron worker may fail its first ports query.
  aio_wait "Neutron lists ports" "$AIO_WAIT_SERVICE" aio_os port list
  aio_wait "nova-api answers" "$AIO_WAIT_SERVICE" aio_http_up http://127.0.0.1:8774
  aio_wait_compute
}

# --- flavors, images, the launcher (shared with devstack) ----------------

# aio_flavor_create NAME [RAM_MB] [DISK_GB] [VCPUS]: a desktop flavor: the
# D-Bus display (patch 0002) and one encoder session from Placement.  Its
# name is the launcher's flavor file's name (NAME.conf).
aio_flavor_create () {
  aio_os flavor create --ram "${2:-384}" --disk "${3:-1}" --vcpus "${4:-1}" \
    --property hw:remote_display=dbus --property "resources:$AIO_RC=1" \
    "$1" >/dev/null
}

# aio_guest_images KERNEL INITRD CMDLINE: uploads the kernel and initramfs
# as AKI/ARI images and a 1 MiB raw root image that boots with them
# (nothing to download; the guest needs no disk).  Prints the image's id.
aio_guest_images () {
  local dir_in=/var/tmp/osvdi-aio-images kid rid
  rm -rf "$AIO_ROOT$dir_in"
  install -d "$AIO_ROOT$dir_in"
  cp "$1" "$AIO_ROOT$dir_in/vmlinuz"
  cp "$2" "$AIO_ROOT$dir_in/initrd"
  truncate -s 1M "$AIO_ROOT$dir_in/root.raw"
  kid=$(aio_os image create --public --disk-format aki --container-format aki \
        --file "$dir_in/vmlinuz" osvdi-guest-kernel -f value -c id)
  rid=$(aio_os image create --public --disk-format ari --container-format ari \
        --file "$dir_in/initrd" osvdi-guest-initrd -f value -c id)
  # hw_video_model=vga: the video card the project's QEMU tests use (VESA
  # framebuffer at vga=0x344, 1024x768x32).
  aio_os image create --public --disk-format raw --container-format bare \
    --file "$dir_in/root.raw" --property kernel_id="$kid" \
    --property ramdisk_id="$rid" --property os_command_line="$3" \
    --property hw_video_model=vga osvdi-guest -f value -c id
  rm -rf "$AIO_ROOT$dir_in"
}

# aio_launcher_conf DIR URI PORT_MIN PORT_MAX RUNNER FLAVOR...: launcher.conf
# and one flavor file per Nova flavor in DIR: QEMU's D-Bus display (the fd
# the launcher gets from virDomainOpenGraphicsFD) -> x264 -> spicesink.
aio_launcher_conf () {
  local dir=$1 uri=$2 pmin=$3 pmax=$4 runner=$5 f
  local state=${AIO_LAUNCHER_STATE:-$dir/state}
  shift 5
  mkdir -p "$dir/flavors.d" "$state"
  cat > "$dir/launcher.conf" <<EOF
[launcher]
connect=$uri
flavors-dir=$dir/flavors.d
state-dir=$state
runner=$runner
[spice]
console=${AIO_LAUNCHER_CONSOLE:-direct}
address=${AIO_LAUNCHER_ADDRESS:-127.0.0.1}
port-min=$pmin
port-max=$pmax
ticket-lifetime=0
[restart]
backoff-initial-ms=500
backoff-max-ms=5000
max-restarts=5
stable-seconds=10
stop-timeout-ms=10000
EOF
  # AIO_ENCODE: what turns the frames into the stream (the default: x264).
  local encode=${AIO_ENCODE:-'videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=600 ! h264parse'}
  for f in "$@"; do
    printf '[flavor]\npipeline=%s ! %s ! %s\n' \
      "vfiodmabufsrc qemu-display-fd=\${QEMU_DISPLAY_FD}${AIO_SOURCE_EXTRA:+ $AIO_SOURCE_EXTRA}" "$encode" \
      'spicesink address=${SPICE_ADDRESS} port=${SPICE_PORT} password-lifetime=${TICKET_LIFETIME}' \
      > "$dir/flavors.d/$f.conf"
  done
}

# aio_launcher_start DIR LAUNCHER: runs it (on the host) with DIR's config,
# its PID in DIR/launcher.pid, until it has reconciled with libvirt.
aio_launcher_start () {
  local dir=$1 exe=$2 before
  before=$(grep -c reconciled "$dir/launcher.log" 2>/dev/null || true)
  "$exe" --config "$dir/launcher.conf" >>"$dir/launcher.log" 2>&1 </dev/null &
  echo $! > "$dir/launcher.pid"
  aio_wait "the launcher reconciled" 60 aio_launcher_reconciled "$dir" "${before:-0}"
}

aio_launcher_reconciled () {
  [ "$(grep -c reconciled "$1/launcher.log" 2>/dev/null || true)" -gt "$2" ]
}

aio_launcher_stop () {
  [ -f "$1/launcher.pid" ] || return 0
  aio_stop_pid "$(cat "$1/launcher.pid")"
  rm -f "$1/launcher.pid"
}
